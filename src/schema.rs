//! The capture schema's writer: the header line and one JSON object per
//! event, keys in the documented order. One writer for every place the
//! schema appears: `--capture` files (`capture.rs`) and `-f json` records
//! (`display.rs`), so the two can never drift apart. Pure: bytes appended
//! to a buffer.

use std::time::SystemTime;

use crate::{
    append::{hex_into, push_peer, push_u64, put_digits},
    record::{Event, Meta, Peer, Role, Side, Transport},
};

/// The first line of a capture file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub started: SystemTime,
    pub transport: Transport,
    pub local: Peer,
    /// Which side recorded it: `listen` is the server, `send`/`repl` the client.
    pub side: Role,
}

pub const FORMAT_VERSION: u64 = 1;

/// Append the header line, keys in the documented order.
pub fn write_header(out: &mut Vec<u8>, header: &Header) {
    let quoted = |text: &str| serde_json::Value::from(text).to_string();
    let line = format!(
        "{{\"p1ge0n\":\"capture\",\"version\":{FORMAT_VERSION},\"started\":{},\"transport\":{},\"local\":{},\"side\":{}}}\n",
        quoted(&humantime::format_rfc3339_micros(header.started).to_string()),
        quoted(header.transport.as_str()),
        quoted(&header.local.to_string()),
        quoted(header.side.as_str()),
    );
    out.extend_from_slice(line.as_bytes());
}

/// Append one connection-event line of the schema (open, close, error).
/// Data events go through [`write_data_line`].
pub fn write_event_line(out: &mut Vec<u8>, meta: &Meta, event: Event<'_>) {
    if let Event::Data { from, bytes } = event {
        return write_data_line(out, meta, from, bytes);
    }
    json_prefix(out, meta);
    match event {
        Event::Open => out.extend_from_slice(b"open\"}\n"),
        Event::Close => out.extend_from_slice(b"close\"}\n"),
        Event::Error(reason) => {
            out.extend_from_slice(b"error\",\"reason\":\"");
            json_str_into(out, reason);
            out.extend_from_slice(b"\"}\n");
        }
        Event::Fault {
            from,
            number,
            kind,
            detail,
        } => {
            out.extend_from_slice(b"fault\",\"fault\":\"");
            json_str_into(out, kind);
            out.extend_from_slice(b"\",\"from\":\"");
            out.extend_from_slice(from.as_str().as_bytes());
            out.extend_from_slice(b"\",\"message\":");
            push_u64(out, number);
            if !detail.is_empty() {
                out.extend_from_slice(b",\"detail\":\"");
                json_str_into(out, detail);
                out.push(b'"');
            }
            out.extend_from_slice(b"}\n");
        }
        Event::Data { .. } => unreachable!("written above"),
    }
}

/// Append one data line of the schema: `from` sent `data`.
pub fn write_data_line(out: &mut Vec<u8>, meta: &Meta, from: Side, data: &[u8]) {
    // hex is exactly 2x and the text escaper sizes for its worst case of 6x;
    // reserving both up front keeps a large record to a single allocation.
    out.reserve(160 + data.len() * 8);
    json_prefix(out, meta);
    out.extend_from_slice(b"data\",\"from\":\"");
    out.extend_from_slice(from.as_str().as_bytes());
    out.extend_from_slice(b"\",\"len\":");
    push_u64(out, data.len() as u64);
    out.extend_from_slice(b",\"hex\":\"");
    hex_into(out, data);
    out.extend_from_slice(b"\",\"text\":\"");
    json_lossy_into(out, data);
    out.extend_from_slice(b"\"}\n");
}

/// Everything up to and including the opening quote of the `event` value,
/// so the key order `t, conn, peer, event` is fixed in one place.
fn json_prefix(out: &mut Vec<u8>, meta: &Meta) {
    out.extend_from_slice(b"{\"t\":");
    push_u64(out, meta.elapsed.as_secs());
    let mut frac = *b".000000";
    put_digits(&mut frac[1..], u64::from(meta.elapsed.subsec_micros()));
    out.extend_from_slice(&frac);
    out.extend_from_slice(b",\"conn\":");
    push_u64(out, meta.conn);
    // A socket address's Display never contains characters JSON would need
    // escaped (IPv6 scope ids are numeric), so it goes in verbatim; a Unix
    // socket path may, so it is escaped.
    out.extend_from_slice(b",\"peer\":\"");
    match meta.peer {
        Peer::Ip(_) => push_peer(out, &meta.peer),
        Peer::Unix(path) => {
            out.extend_from_slice(b"unix:");
            json_str_into(out, path);
        }
        Peer::Serial(path) => {
            out.extend_from_slice(b"serial:");
            json_str_into(out, path);
        }
    }
    out.extend_from_slice(b"\",\"event\":\"");
}

/// Escape `s` as the inside of a JSON string.
fn json_str_into(out: &mut Vec<u8>, s: &str) {
    // Valid UTF-8 passes through the lossy path unchanged.
    json_lossy_into(out, s.as_bytes());
}

/// Same result as escaping `String::from_utf8_lossy(data)`, without the
/// intermediate `String`. Decoded by hand through `JSON_BYTES` rather than
/// with `utf8_chunks` and per-run copies: binary payloads produce a chunk or
/// an escape every few bytes, which made JSON several times slower on such
/// traffic. Output is sized for the worst case (every byte a 6-byte
/// `\u00XX`) and filled by index, then trimmed.
pub(crate) fn json_lossy_into(out: &mut Vec<u8>, data: &[u8]) {
    const REPLACEMENT: &[u8; 3] = b"\xef\xbf\xbd";
    let start = out.len();
    out.resize(start + data.len() * 6, 0);
    let dst = &mut out[start..];
    let mut pos = 0;
    let mut i = 0;
    while i < data.len() {
        let b = data[i] as usize;
        let n = JSON_BYTES.1[b] as usize;
        if n != 0 {
            dst[pos..pos + 6].copy_from_slice(&JSON_BYTES.0[b]);
            pos += n;
            i += 1;
            continue;
        }
        let (len, valid) = utf8_sequence(&data[i..]);
        if valid {
            dst[pos..pos + len].copy_from_slice(&data[i..i + len]);
            pos += len;
        } else {
            dst[pos..pos + 3].copy_from_slice(REPLACEMENT);
            pos += 3;
        }
        i += len;
    }
    out.truncate(start + pos);
}

/// For a sequence starting with a non-ASCII byte: its length and whether it
/// is valid UTF-8. If invalid, the length is that of its "maximal subpart"
/// (at least 1 byte), which is exactly what `from_utf8_lossy` replaces with
/// one U+FFFD (the Unicode-recommended practice std follows).
fn utf8_sequence(s: &[u8]) -> (usize, bool) {
    // The second byte's range is what rules out overlongs, surrogates and
    // code points above U+10FFFF; later bytes are plain continuations.
    let (continuations, lo, hi) = match s[0] {
        0xc2..=0xdf => (1, 0x80, 0xbf),
        0xe0 => (2, 0xa0, 0xbf),
        0xe1..=0xec | 0xee..=0xef => (2, 0x80, 0xbf),
        0xed => (2, 0x80, 0x9f),
        0xf0 => (3, 0x90, 0xbf),
        0xf1..=0xf3 => (3, 0x80, 0xbf),
        0xf4 => (3, 0x80, 0x8f),
        _ => return (1, false),
    };
    for k in 1..=continuations {
        let (lo, hi) = if k == 1 { (lo, hi) } else { (0x80, 0xbf) };
        match s.get(k) {
            Some(&c) if (lo..=hi).contains(&c) => {}
            _ => return (k, false),
        }
    }
    (continuations + 1, true)
}

/// How each byte appears inside a JSON string, padded to 6 bytes, with its
/// real length; length 0 marks a UTF-8 lead byte that needs decoding. Only
/// what JSON requires is escaped (`"`, `\`, C0 controls): DEL stays raw,
/// which is valid and more readable. Bytes that can never start a valid
/// UTF-8 sequence map straight to U+FFFD, as `from_utf8_lossy` does.
static JSON_BYTES: ([[u8; 6]; 256], [u8; 256]) = {
    let hex = b"0123456789abcdef";
    let mut seq = [[0u8; 6]; 256];
    let mut len = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        let (s, n): ([u8; 6], u8) = match b {
            0x08 => (*b"\\b    ", 2),
            0x09 => (*b"\\t    ", 2),
            0x0a => (*b"\\n    ", 2),
            0x0c => (*b"\\f    ", 2),
            0x0d => (*b"\\r    ", 2),
            0x00..=0x1f => ([b'\\', b'u', b'0', b'0', hex[i >> 4], hex[i & 0xf]], 6),
            b'"' => (*b"\\\"    ", 2),
            b'\\' => (*b"\\\\    ", 2),
            0x20..=0x7f => ([b, 0, 0, 0, 0, 0], 1),
            0xc2..=0xf4 => ([0; 6], 0),
            _ => ([0xef, 0xbf, 0xbd, 0, 0, 0], 3),
        };
        seq[i] = s;
        len[i] = n;
        i += 1;
    }
    (seq, len)
};
