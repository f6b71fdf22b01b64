//! Modbus RTU's wire format: the CRC-16/MODBUS ([`crc16`], low byte first
//! on the wire), where a frame ends ([`frame_len`], which depends on who
//! sends it: a request and its answer differ), and the conversion to and
//! from MBAP. It exists apart from the `modbus-rtu` decoder
//! (`decode/modbus_rtu.rs`) because the framer (`--frame modbus-rtu`,
//! `frame.rs`), the request builder and the rules' `{{crc16}}` need the
//! same rules without decoding anything.

use crate::record::Side;

/// CRC-16/MODBUS (poly 0xA001 reflected, init 0xFFFF) of `bytes`.
pub fn crc16(bytes: &[u8]) -> u16 {
    static TABLE: [u16; 256] = {
        let mut table = [0u16; 256];
        let mut i = 0;
        while i < 256 {
            let mut crc = i as u16;
            let mut bit = 0;
            while bit < 8 {
                crc = if crc & 1 != 0 {
                    (crc >> 1) ^ 0xA001
                } else {
                    crc >> 1
                };
                bit += 1;
            }
            table[i] = crc;
            i += 1;
        }
        table
    };
    bytes.iter().fold(0xFFFF, |crc, &b| {
        (crc >> 8) ^ TABLE[usize::from((crc ^ u16::from(b)) & 0xFF)]
    })
}

/// `bytes` with their CRC appended (low byte first): an RTU frame.
pub fn with_crc(mut bytes: Vec<u8>) -> Vec<u8> {
    let crc = crc16(&bytes);
    bytes.extend(crc.to_le_bytes());
    bytes
}

/// Whether the last two bytes of `frame` are the CRC of the rest.
pub fn crc_ok(frame: &[u8]) -> bool {
    frame.len() >= 4 && {
        let (body, crc) = frame.split_at(frame.len() - 2);
        crc16(body).to_le_bytes() == crc
    }
}

/// The longest RTU frame: unit, 253 bytes of PDU, CRC.
pub const MAX_FRAME: usize = 256;

/// How long the RTU frame at the front of `buf` is, as `from` sends it:
/// `Some(Ok(n))` when its function code says (enough bytes may not be in
/// yet); `Some(Err(need))` when `need` bytes must arrive before it can
/// tell; `None` when the function code does not say (the frame then ends
/// at a silence on the line).
pub fn frame_len(buf: &[u8], from: Side) -> Option<Result<usize, usize>> {
    let Some(&code) = buf.get(1) else {
        return Some(Err(2));
    };
    // A count byte at `at`: the frame is `fixed` bytes plus the count.
    let counted = |at: usize, fixed: usize| match buf.get(at) {
        Some(&n) => Some(Ok(fixed + usize::from(n))),
        None => Some(Err(at + 1)),
    };
    match from {
        Side::Client => match code {
            1..=6 | 8 => Some(Ok(8)),
            7 | 11 | 12 | 17 => Some(Ok(4)),
            15 | 16 => counted(6, 9),
            20 | 21 => counted(2, 5),
            22 => Some(Ok(10)),
            23 => counted(10, 13),
            24 => Some(Ok(6)),
            _ => None,
        },
        Side::Server => match code {
            c if c & 0x80 != 0 => Some(Ok(5)),
            1..=4 | 12 | 17 | 20 | 21 | 23 => counted(2, 5),
            5 | 6 | 8 | 11 | 15 | 16 => Some(Ok(8)),
            7 => Some(Ok(5)),
            22 => Some(Ok(10)),
            24 => match buf.get(2..4) {
                Some(n) => Some(Ok(6 + usize::from(u16::from_be_bytes([n[0], n[1]])))),
                None => Some(Err(4)),
            },
            _ => None,
        },
    }
}

/// An MBAP frame (Modbus/TCP) as an RTU frame: header off, CRC on; the
/// transaction id, for the answer. `None` when `mbap` is not one frame.
pub fn from_mbap(mbap: &[u8]) -> Option<(u16, Vec<u8>)> {
    if mbap.len() < 8 || mbap[2..4] != [0, 0] {
        return None;
    }
    let length = usize::from(u16::from_be_bytes([mbap[4], mbap[5]]));
    if length != mbap.len() - 6 {
        return None;
    }
    let tid = u16::from_be_bytes([mbap[0], mbap[1]]);
    Some((tid, with_crc(mbap[6..].to_vec())))
}

/// An RTU frame (CRC checked by the caller) as an MBAP frame with `tid`.
pub fn to_mbap(tid: u16, rtu: &[u8]) -> Vec<u8> {
    let body = &rtu[..rtu.len().saturating_sub(2)];
    let mut out = Vec::with_capacity(body.len() + 6);
    out.extend(tid.to_be_bytes());
    out.extend([0, 0]);
    out.extend((body.len() as u16).to_be_bytes());
    out.extend_from_slice(body);
    out
}
