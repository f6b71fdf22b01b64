//! Appending numbers, hex and socket addresses to byte buffers without
//! allocating: the primitives that both the stdout records (`display`) and
//! the capture schema (`capture`) are built from, on the hot path of every
//! message.

use std::{io::Write as _, net::SocketAddr};

use crate::record::Peer;

pub(crate) static HEX_PAIRS: [[u8; 2]; 256] = {
    let digits = b"0123456789abcdef";
    let mut table = [[0u8; 2]; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = [digits[i >> 4], digits[i & 0xf]];
        i += 1;
    }
    table
};

/// Contiguous lowercase hex. Sizing the output first and filling it by index
/// avoids a capacity check per byte.
pub(crate) fn hex_into(out: &mut Vec<u8>, data: &[u8]) {
    let start = out.len();
    out.resize(start + data.len() * 2, 0);
    for (dst, &b) in out[start..].chunks_exact_mut(2).zip(data) {
        dst.copy_from_slice(&HEX_PAIRS[b as usize]);
    }
}

/// IPv4 (the common case) is rendered by hand; IPv6 goes through std so
/// that `::` compression, mapped addresses and scope ids match
/// `SocketAddr`'s Display exactly.
pub(crate) fn push_peer(out: &mut Vec<u8>, peer: &Peer) {
    let peer = match peer {
        Peer::Ip(addr) => addr,
        Peer::Unix(path) => {
            out.extend_from_slice(b"unix:");
            out.extend_from_slice(path.as_bytes());
            return;
        }
        Peer::Serial(path) => {
            out.extend_from_slice(b"serial:");
            out.extend_from_slice(path.as_bytes());
            return;
        }
    };
    match peer {
        SocketAddr::V4(v4) => {
            let [a, b, c, d] = v4.ip().octets();
            push_u64(out, a.into());
            out.push(b'.');
            push_u64(out, b.into());
            out.push(b'.');
            push_u64(out, c.into());
            out.push(b'.');
            push_u64(out, d.into());
            out.push(b':');
            push_u64(out, v4.port().into());
        }
        SocketAddr::V6(_) => {
            // io::Write for Vec<u8> cannot fail.
            let _ = write!(out, "{peer}");
        }
    }
}

pub(crate) fn push_u64(out: &mut Vec<u8>, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

/// Fill `dst` with the low `dst.len()` decimal digits of `n`, zero-padded.
pub(crate) fn put_digits(dst: &mut [u8], mut n: u64) {
    for d in dst.iter_mut().rev() {
        *d = b'0' + (n % 10) as u8;
        n /= 10;
    }
}
