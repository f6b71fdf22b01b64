//! Modbus RTU: the serial line's form of Modbus, unit id and PDU followed
//! by a CRC-16/MODBUS (low byte first), with no header that says how long a
//! frame is. Here are the pieces every part of p1ge0n that speaks RTU
//! shares: the CRC ([`crc16`]), where a frame ends ([`frame_len`], which
//! depends on who sends it: a request and its response differ), the
//! decoder row (`--decode modbus-rtu`: the Modbus/TCP decoder's fields plus
//! `crc`), and the conversion to and from MBAP (the gateway).

use super::{modbus, Fields, Malformed};
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

/// `--decode auto`: a frame whose last two bytes are the CRC of the rest
/// (one chance in 65536 for other bytes), and not also a well-formed MBAP
/// header. A frame with a bad CRC is left to Modbus/TCP (and shows as
/// malformed there): give `--decode modbus-rtu` to see which CRC it lacks.
pub fn looks_like(message: &[u8]) -> bool {
    crc_ok(message) && !super::mbap_shaped(message)
}

/// `--decode modbus-rtu`: unit, function and the fields `--decode modbus`
/// gives, plus `crc: ok|bad (expected XXXX)`.
pub fn decode(frame: &[u8], from: Side, f: &mut Fields) -> Result<String, Malformed> {
    if frame.len() < 4 {
        return Err(Malformed(format!(
            "{} bytes, shorter than a unit, a function code and a CRC",
            frame.len()
        )));
    }
    let (body, crc) = frame.split_at(frame.len() - 2);
    let got = u16::from_le_bytes([crc[0], crc[1]]);
    let want = crc16(body);
    let detail = modbus::pdu(body[0], &body[1..], from, f)?;
    // As on the wire, low byte first.
    let [want_lo, want_hi] = want.to_le_bytes();
    f.set("crc", format!("{:02x}{:02x}", crc[0], crc[1]));
    let crc_text = if got == want {
        f.set("crc_ok", true);
        "crc ok".to_string()
    } else {
        f.set("crc_ok", false);
        f.set("crc_expected", format!("{want_lo:02x}{want_hi:02x}"));
        format!(
            "crc bad (expected {want_lo:02x} {want_hi:02x}, got {:02x} {:02x})",
            crc[0], crc[1]
        )
    };
    Ok(format!("modbus-rtu unit={} {detail} {crc_text}", body[0]))
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn hex(s: &str) -> Vec<u8> {
        crate::payload::parse_hex(s).unwrap()
    }

    /// The decoder with its JSON fields (and the same summary without).
    fn decode(frame: &[u8], from: Side) -> Result<crate::decode::Decoded, Malformed> {
        crate::decode::decode_checked(super::decode, frame, from)
    }

    #[test]
    fn crc_of_the_specifications_example() {
        // Modbus over serial line, 6.2.2: 01 03 00 00 00 0A -> CRC C5 CD.
        assert_eq!(crc16(&hex("01 03 00 00 00 0a")).to_le_bytes(), [0xc5, 0xcd]);
        assert_eq!(
            with_crc(hex("01 03 00 00 00 0a")),
            hex("01 03 00 00 00 0a c5 cd")
        );
        assert!(crc_ok(&hex("01 03 00 00 00 0a c5 cd")));
        assert!(!crc_ok(&hex("01 03 00 00 00 0a c5 ce")));
    }

    #[test]
    fn lengths_by_function_and_side() {
        let c = Side::Client;
        let s = Side::Server;
        assert_eq!(frame_len(&hex("01"), c), Some(Err(2)));
        assert_eq!(frame_len(&hex("01 03"), c), Some(Ok(8)));
        assert_eq!(frame_len(&hex("01 03"), s), Some(Err(3)));
        assert_eq!(frame_len(&hex("01 03 14"), s), Some(Ok(25)));
        assert_eq!(frame_len(&hex("01 10 00 0a 00 03"), c), Some(Err(7)));
        assert_eq!(frame_len(&hex("01 10 00 0a 00 03 06"), c), Some(Ok(15)));
        assert_eq!(frame_len(&hex("01 10"), s), Some(Ok(8)));
        assert_eq!(frame_len(&hex("01 83"), s), Some(Ok(5)));
        assert_eq!(frame_len(&hex("01 2b"), c), None);
        assert_eq!(frame_len(&hex("01 41"), s), None);
    }

    #[test]
    fn decoded_with_its_crc() {
        let d = decode(&hex("01 03 00 00 00 0a c5 cd"), Side::Client).unwrap();
        assert_eq!(
            d.summary,
            "modbus-rtu unit=1 read holding registers (3) request addr=0 qty=10 crc ok"
        );
        assert_eq!(d.fields["address"], 0);
        assert_eq!(d.fields["crc_ok"], true);
        let d = decode(&hex("01 03 04 00 2a 00 2b 00 00"), Side::Server).unwrap();
        assert!(
            d.summary
                .ends_with("response 2 values: 42 43 crc bad (expected 9b e4, got 00 00)"),
            "{}",
            d.summary
        );
        assert_eq!(d.fields["values"], serde_json::json!([42, 43]));
        assert_eq!(d.fields["crc_expected"], "9be4");
        let d = decode(&hex("01 83 02 c0 f1"), Side::Server).unwrap();
        assert!(d.summary.contains("exception"), "{}", d.summary);
    }

    #[test]
    fn mbap_and_back() {
        let (tid, rtu) = from_mbap(&hex("00 07 00 00 00 06 01 03 00 00 00 0a")).unwrap();
        assert_eq!((tid, rtu), (7, hex("01 03 00 00 00 0a c5 cd")));
        assert_eq!(
            to_mbap(7, &hex("01 03 04 00 2a 00 2b 9b e4")),
            hex("00 07 00 00 00 07 01 03 04 00 2a 00 2b")
        );
        assert_eq!(from_mbap(&hex("00 07 00 00 00 09 01 03")), None);
    }

    proptest! {
        #[test]
        fn frames_with_their_crc_check(body in proptest::collection::vec(any::<u8>(), 2..40)) {
            prop_assert!(crc_ok(&with_crc(body.clone())));
        }
    }
}
