//! `--decode PROTO`: what the bytes of a message mean, in one line (text,
//! hex and hexdump records) and as a `"decoded"` object (JSON records).
//!
//! Decoders are pure functions of one framed message and who sent it (a
//! client sends requests, a server answers). A message that does not parse
//! as the protocol is still shown raw, with a `malformed: REASON` note:
//! decoding never fails a command. Modbus/TCP and S7comm (ISO-on-TCP) are
//! here; `auto` picks by the message's first bytes.

pub mod modbus;
pub mod s7;

use std::{fmt, str::FromStr};

use serde_json::{json, Value};

use crate::{frame::FrameSpec, record::Side};

/// Which protocol `--decode` reads messages as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Protocol {
    #[default]
    None,
    Modbus,
    S7,
    /// Modbus or S7, by the message's first bytes.
    Auto,
}

impl Protocol {
    pub const NAMES: &'static [&'static str] = &["none", "modbus", "s7", "auto"];

    /// The framing a protocol implies when `--frame` is not given: MBAP's
    /// length field for Modbus/TCP, TPKT's for S7 (ISO-on-TCP).
    pub fn framing(self) -> Option<FrameSpec> {
        let spec = match self {
            Protocol::Modbus => "len=u16be,offset=4",
            Protocol::S7 => "len=u16be,offset=2,includes-header",
            Protocol::None | Protocol::Auto => return None,
        };
        Some(spec.parse().expect("a valid built-in spec"))
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::None => "none",
            Protocol::Modbus => "modbus",
            Protocol::S7 => "s7",
            Protocol::Auto => "auto",
        })
    }
}

impl FromStr for Protocol {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "none" => Ok(Protocol::None),
            "modbus" => Ok(Protocol::Modbus),
            "s7" => Ok(Protocol::S7),
            "auto" => Ok(Protocol::Auto),
            _ => Err(format!(
                "unknown protocol '{s}' (expected {})",
                Protocol::NAMES.join(", ")
            )),
        }
    }
}

/// Big-endian u16 at `at`, or why not.
pub(crate) fn u16_at(b: &[u8], at: usize, what: &str) -> Result<u16, Malformed> {
    match b.get(at..at + 2) {
        Some(s) => Ok(u16::from_be_bytes([s[0], s[1]])),
        None => Err(Malformed(format!("too short for the {what}"))),
    }
}

pub(crate) fn u8_at(b: &[u8], at: usize, what: &str) -> Result<u8, Malformed> {
    b.get(at)
        .copied()
        .ok_or_else(|| Malformed(format!("too short for the {what}")))
}

/// Why a message is not what the protocol says it should be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed(pub String);

/// A decoded message.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    /// One line, e.g. `modbus tid=7 unit=1 read holding registers (3)
    /// request addr=0 qty=10`.
    pub summary: String,
    /// The `"decoded"` object of JSON records.
    pub fields: Value,
}

/// Decode one message `from` sent; `None` with `--decode none`. A message
/// that does not parse gives its reason, never an error.
pub fn decode(protocol: Protocol, message: &[u8], from: Side) -> Option<Decoded> {
    let (name, result) = match protocol {
        Protocol::None => return None,
        Protocol::Modbus => ("modbus", modbus::decode(message, from)),
        Protocol::S7 => ("s7", s7::decode(message, from)),
        Protocol::Auto => match message.first() {
            // TPKT version 3, then a reserved 0.
            Some(3) if message.get(1) == Some(&0) => ("s7", s7::decode(message, from)),
            _ => ("modbus", modbus::decode(message, from)),
        },
    };
    Some(match result {
        Ok(mut decoded) => {
            if let Value::Object(fields) = &mut decoded.fields {
                fields.insert("decoder".into(), json!(name));
            }
            decoded
        }
        Err(Malformed(reason)) => Decoded {
            summary: format!("{name} malformed: {reason}"),
            fields: json!({"decoder": name, "malformed": reason}),
        },
    })
}

/// What differs between an expected and a received message, as a decoder
/// reads them, one line each: `register 105: 16, expected 15`,
/// `exception: 2, expected none`. `request` is the message the reply
/// answers, when known: a read's reply carries no address, its request
/// does, so registers are named by their addresses. Empty with `--decode
/// none`, when both decode alike, or when either is malformed (the
/// hexdumps say it all then). `replay --verify` and `send --expect` print
/// these under their hexdumps (issue 26, trap 13).
pub fn differences(
    protocol: Protocol,
    from: Side,
    expected: &[u8],
    received: &[u8],
    request: Option<&[u8]>,
) -> Vec<String> {
    let (Some(want), Some(got)) = (
        decode(protocol, expected, from),
        decode(protocol, received, from),
    ) else {
        return Vec::new();
    };
    let (Value::Object(want), Value::Object(got)) = (want.fields, got.fields) else {
        return Vec::new();
    };
    if want.contains_key("malformed") || got.contains_key("malformed") {
        return Vec::new();
    }
    let asked = request
        .and_then(|r| decode(protocol, r, Side::Client))
        .map(|d| d.fields);
    let base = want
        .get("address")
        .or_else(|| asked.as_ref().and_then(|a| a.get("address")))
        .and_then(Value::as_u64);
    let unit = element_name(&want);
    let mut lines = Vec::new();
    let mut keys: Vec<&String> = want.keys().collect();
    keys.extend(got.keys().filter(|k| !want.contains_key(*k)));
    for key in keys {
        let (w, g) = (want.get(key), got.get(key));
        if w == g || key == "function_name" || key == "exception_name" {
            continue;
        }
        match (w, g) {
            (Some(Value::Array(w)), Some(Value::Array(g))) if key == "values" => {
                if w.len() != g.len() {
                    lines.push(format!("{key}: {} received, expected {}", g.len(), w.len()));
                }
                for (i, (w, g)) in w.iter().zip(g).enumerate() {
                    if w != g {
                        let at = base.map_or(i as u64, |b| b + i as u64);
                        lines.push(format!("{unit} {at}: {}, expected {}", plain(g), plain(w)));
                    }
                }
            }
            _ => lines.push(format!(
                "{key}: {}, expected {}",
                g.map_or("none".into(), plain),
                w.map_or("none".into(), plain)
            )),
        }
    }
    lines
}

/// What one of a message's `values` is, for [`differences`].
fn element_name(fields: &serde_json::Map<String, Value>) -> &'static str {
    match fields.get("function").and_then(Value::as_u64) {
        Some(1 | 5 | 15) => "coil",
        Some(2) => "input",
        Some(3 | 4 | 6 | 16 | 23) => "register",
        _ => "value",
    }
}

/// A JSON value as a user reads it: strings without their quotes.
fn plain(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn names_and_framing() {
        for name in Protocol::NAMES {
            assert_eq!(name.parse::<Protocol>().unwrap().to_string(), *name);
        }
        assert!("mqtt"
            .parse::<Protocol>()
            .unwrap_err()
            .contains("unknown protocol 'mqtt'"));
        assert_eq!(
            Protocol::Modbus.framing().unwrap().to_string(),
            "len=u16be,offset=4"
        );
        assert_eq!(
            Protocol::S7.framing().unwrap().to_string(),
            "len=u16be,offset=2,includes-header"
        );
        assert_eq!(Protocol::Auto.framing(), None);
    }

    #[test]
    fn differences_name_registers_by_address() {
        // Read 3 holding registers from 100; the device answers 7 16 9
        // where 7 15 9 was expected.
        let request = [0, 1, 0, 0, 0, 6, 1, 3, 0, 100, 0, 3];
        let expected = [0, 1, 0, 0, 0, 9, 1, 3, 6, 0, 7, 0, 15, 0, 9];
        let received = [0, 1, 0, 0, 0, 9, 1, 3, 6, 0, 7, 0, 16, 0, 9];
        assert_eq!(
            differences(
                Protocol::Modbus,
                Side::Server,
                &expected,
                &received,
                Some(&request)
            ),
            ["register 101: 16, expected 15"]
        );
        // Without the request, by position.
        assert_eq!(
            differences(Protocol::Modbus, Side::Server, &expected, &received, None),
            ["register 1: 16, expected 15"]
        );
        // An exception instead of the values: the fields that differ.
        let exception = [0, 1, 0, 0, 0, 3, 1, 0x83, 2];
        let lines = differences(Protocol::Modbus, Side::Server, &expected, &exception, None);
        assert!(
            lines.contains(&"kind: exception, expected response".to_string()),
            "{lines:?}"
        );
        assert!(
            lines.contains(&"exception: 2, expected none".to_string()),
            "{lines:?}"
        );
        // Alike, malformed, or not decoding: nothing to add.
        assert!(differences(Protocol::Modbus, Side::Server, &expected, &expected, None).is_empty());
        assert!(differences(Protocol::Modbus, Side::Server, &expected, b"junk", None).is_empty());
        assert!(differences(Protocol::None, Side::Server, &expected, &received, None).is_empty());
    }

    #[test]
    fn malformed_is_a_note_not_an_error() {
        let d = decode(Protocol::Modbus, b"hello", Side::Client).unwrap();
        assert!(
            d.summary.starts_with("modbus malformed: 5 bytes"),
            "{}",
            d.summary
        );
        assert_eq!(d.fields["decoder"], "modbus");
        assert!(d.fields["malformed"].is_string());
        assert_eq!(decode(Protocol::None, b"x", Side::Client), None);
        let s7 = decode(Protocol::Auto, &[3, 0, 0, 7, 2, 0xf0, 0x80], Side::Client).unwrap();
        assert_eq!(s7.summary, "s7 COTP DT");
    }

    proptest! {
        #[test]
        fn any_bytes_decode_without_panicking(
            bytes in proptest::collection::vec(any::<u8>(), 0..80),
            server in any::<bool>(),
        ) {
            let from = if server { Side::Server } else { Side::Client };
            for p in [Protocol::Modbus, Protocol::S7, Protocol::Auto] {
                let d = decode(p, &bytes, from).unwrap();
                prop_assert!(!d.summary.contains('\n'));
                prop_assert!(d.fields.is_object());
            }
        }

        /// Any well-formed MBAP frame decodes (perhaps with an unknown
        /// function), never as malformed for its header.
        #[test]
        fn well_formed_mbap_headers(tid in any::<u16>(), unit in any::<u8>(), pdu in proptest::collection::vec(any::<u8>(), 1..40)) {
            let mut frame = tid.to_be_bytes().to_vec();
            frame.extend([0, 0]);
            frame.extend(((pdu.len() + 1) as u16).to_be_bytes());
            frame.push(unit);
            frame.extend(&pdu);
            let d = decode(Protocol::Modbus, &frame, Side::Client).unwrap();
            let tid_text = format!("tid={tid}");
            prop_assert!(d.summary.contains(&tid_text) || d.summary.contains("malformed: too short") || d.summary.contains("malformed: byte count") || d.summary.contains("odd count"), "{}", d.summary);
        }
    }
}
