//! Modbus RTU: the serial line's form of Modbus, unit id and PDU followed
//! by a CRC-16/MODBUS (low byte first), with no header that says how long a
//! frame is. Here are the pieces every part of p1ge0n that speaks RTU
//! shares: the CRC ([`crc16`]), where a frame ends ([`frame_len`], which
//! depends on who sends it: a request and its response differ), the
//! decoder row (`--decode modbus-rtu`: the Modbus/TCP decoder's fields plus
//! `crc`), and the conversion to and from MBAP (the gateway).

use super::{modbus, Fields, Malformed};
#[cfg(test)]
use crate::rtu::{crc_ok, frame_len, from_mbap, to_mbap, with_crc};
use crate::{record::Side, rtu::crc16};

/// `--decode auto`: a frame whose last two bytes are the CRC of the rest
/// (one chance in 65536 for other bytes). When the bytes also make a
/// well-formed MBAP header, the RTU reading wins only if its function code
/// says the frame is exactly this long (a read of 2 registers at address 0,
/// `01 03 00 00 00 02 c4 0b`, is both); otherwise Modbus/TCP does. A frame
/// with a bad CRC is left to Modbus/TCP (and shows as malformed there):
/// give `--decode modbus-rtu` to see which CRC it lacks.
pub fn looks_like(message: &[u8]) -> bool {
    crate::rtu::crc_ok(message)
        && (!super::mbap_shaped(message)
            || [Side::Client, Side::Server]
                .into_iter()
                .any(|side| crate::rtu::frame_len(message, side) == Some(Ok(message.len()))))
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
