//! Modbus/TCP: the MBAP header and the PDU of function codes 1-6, 15, 16
//! and 23, requests and responses, and exception responses.

use super::{u16_at, u8_at, Fields, Malformed};
use crate::{record::Side, units::plural};

/// The MBAP header (7 bytes) of a Modbus/TCP frame.
const MBAP: usize = 7;

pub fn function_name(code: u8) -> Option<&'static str> {
    Some(match code {
        1 => "read coils",
        2 => "read discrete inputs",
        3 => "read holding registers",
        4 => "read input registers",
        5 => "write single coil",
        6 => "write single register",
        15 => "write multiple coils",
        16 => "write multiple registers",
        23 => "read/write multiple registers",
        _ => return None,
    })
}

pub fn exception_name(code: u8) -> &'static str {
    match code {
        1 => "illegal function",
        2 => "illegal data address",
        3 => "illegal data value",
        4 => "server device failure",
        5 => "acknowledge",
        6 => "server device busy",
        8 => "memory parity error",
        0x0a => "gateway path unavailable",
        0x0b => "gateway target device failed to respond",
        _ => "unknown exception",
    }
}

/// The values after a byte count at `at`, which end the PDU: registers
/// (u16) or coils (bits). A count that disagrees with what follows, more
/// or fewer bytes, is malformed (a request echoed back is not a response
/// with 0 values).
fn counted(pdu: &[u8], at: usize) -> Result<&[u8], Malformed> {
    let count = u8_at(pdu, at, "byte count")? as usize;
    let follow = pdu.len().saturating_sub(at + 1);
    if follow != count {
        let verb = if follow == 1 { "follows" } else { "follow" };
        return Err(Malformed(format!(
            "byte count {count}, but {} {verb}",
            plural(follow as u64, "byte")
        )));
    }
    Ok(&pdu[at + 1..])
}

fn registers(bytes: &[u8]) -> Result<Vec<u16>, Malformed> {
    if !bytes.len().is_multiple_of(2) {
        return Err(Malformed(format!(
            "{} bytes of registers (an odd count)",
            bytes.len()
        )));
    }
    Ok(bytes
        .chunks_exact(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]))
        .collect())
}

fn bits(bytes: &[u8], quantity: Option<u16>) -> Vec<u8> {
    let all = bytes.iter().flat_map(|b| (0..8).map(move |i| (b >> i) & 1));
    match quantity {
        Some(q) => all.take(q as usize).collect(),
        None => all.collect(),
    }
}

/// Decode one Modbus/TCP frame (MBAP and PDU) sent by `from`.
pub fn decode(frame: &[u8], from: Side, fields: &mut Fields) -> Result<String, Malformed> {
    if frame.len() < MBAP + 1 {
        return Err(Malformed(format!(
            "{} bytes, shorter than an MBAP header and a function code",
            frame.len()
        )));
    }
    let transaction = u16_at(frame, 0, "transaction id")?;
    let protocol = u16_at(frame, 2, "protocol id")?;
    let length = u16_at(frame, 4, "length")?;
    let unit = frame[6];
    if protocol != 0 {
        return Err(Malformed(format!("protocol id {protocol}, not 0 (Modbus)")));
    }
    if length as usize != frame.len() - 6 {
        return Err(Malformed(format!(
            "MBAP length {length}, but {} bytes follow it",
            frame.len() - 6
        )));
    }
    fields.set("transaction", transaction);
    fields.set("protocol", protocol);
    fields.set("length", length);
    let detail = pdu(unit, &frame[MBAP..], from, fields)?;
    Ok(format!("modbus tid={transaction} unit={unit} {detail}"))
}

/// The unit and PDU (function code and data) of a Modbus message, as MBAP
/// and RTU frames both carry them: `fields` gets `unit` and the function's
/// fields; the text is what follows `unit=N` in the summary.
pub(crate) fn pdu(
    unit: u8,
    pdu: &[u8],
    from: Side,
    fields: &mut Fields,
) -> Result<String, Malformed> {
    let code = u8_at(pdu, 0, "function code")?;
    fields.set("unit", unit);
    if from == Side::Server && code & 0x80 != 0 {
        let function = code & 0x7f;
        let exception = u8_at(pdu, 1, "exception code")?;
        let name = exception_name(exception);
        fields.set("function", function);
        if let Some(n) = function_name(function) {
            fields.set("function_name", n);
        }
        fields.set("kind", "exception");
        fields.set("exception", exception);
        fields.set("exception_name", name);
        return Ok(format!("exception 0x{code:02x}: {name} ({exception})"));
    }
    let name = function_name(code).map_or_else(|| format!("function {code}"), String::from);
    fields.set("function", code);
    fields.set("function_name", name.as_str());
    let kind = if from == Side::Client {
        "request"
    } else {
        "response"
    };
    fields.set("kind", kind);
    let detail = match from {
        Side::Client => request(code, pdu, fields)?,
        Side::Server => response(code, pdu, fields)?,
    };
    Ok(format!("{name} ({code}) {kind}{detail}"))
}

/// `: v1 v2 ...` with at most 10 values, then an ellipsis; nothing for none.
fn shown<T: std::fmt::Display>(values: &[T]) -> String {
    if values.is_empty() {
        return String::new();
    }
    let mut text: Vec<String> = values.iter().take(10).map(ToString::to_string).collect();
    if values.len() > 10 {
        text.push("…".into());
    }
    format!(": {}", text.join(" "))
}

fn request(code: u8, pdu: &[u8], f: &mut Fields) -> Result<String, Malformed> {
    match code {
        1..=4 => address_and_quantity(pdu, f),
        5 | 6 => address_and_value(code, pdu, f),
        15 | 16 => {
            let (address, quantity) = (u16_at(pdu, 1, "address")?, u16_at(pdu, 3, "quantity")?);
            let data = counted(pdu, 5)?;
            f.set("address", address);
            f.set("quantity", quantity);
            let shown_values = if code == 15 {
                let b = bits(data, Some(quantity));
                f.set("values", &b[..]);
                shown(&b)
            } else {
                let r = registers(data)?;
                f.set("values", &r[..]);
                shown(&r)
            };
            Ok(format!(
                " addr={address} qty={quantity} values{shown_values}"
            ))
        }
        23 => {
            let read = (
                u16_at(pdu, 1, "read address")?,
                u16_at(pdu, 3, "read quantity")?,
            );
            let write = (
                u16_at(pdu, 5, "write address")?,
                u16_at(pdu, 7, "write quantity")?,
            );
            let values = registers(counted(pdu, 9)?)?;
            f.set("address", read.0);
            f.set("quantity", read.1);
            f.set("write_address", write.0);
            f.set("write_quantity", write.1);
            f.set("values", &values[..]);
            Ok(format!(
                " read addr={} qty={} write addr={} qty={} values{}",
                read.0,
                read.1,
                write.0,
                write.1,
                shown(&values)
            ))
        }
        _ => Ok(String::new()),
    }
}

fn response(code: u8, pdu: &[u8], f: &mut Fields) -> Result<String, Malformed> {
    match code {
        1 | 2 => {
            let b = bits(counted(pdu, 1)?, None);
            let text = format!(" {}{}", plural(b.len() as u64, "bit"), shown(&b));
            f.set("values", b);
            Ok(text)
        }
        3 | 4 | 23 => {
            let r = registers(counted(pdu, 1)?)?;
            let text = format!(" {}{}", plural(r.len() as u64, "value"), shown(&r));
            f.set("values", r);
            Ok(text)
        }
        5 | 6 => address_and_value(code, pdu, f),
        15 | 16 => address_and_quantity(pdu, f),
        _ => Ok(String::new()),
    }
}

/// `addr=A value=V` (write single coil or register, request or echo).
fn address_and_value(code: u8, pdu: &[u8], f: &mut Fields) -> Result<String, Malformed> {
    let (address, value) = (u16_at(pdu, 1, "address")?, u16_at(pdu, 3, "value")?);
    f.set("address", address);
    f.set("values", [single(code, value)]);
    Ok(format!(" addr={address} value={}", single(code, value)))
}

/// `addr=A qty=Q` (a read request, or a multiple write's answer).
fn address_and_quantity(pdu: &[u8], f: &mut Fields) -> Result<String, Malformed> {
    let (address, quantity) = (u16_at(pdu, 1, "address")?, u16_at(pdu, 3, "quantity")?);
    f.set("address", address);
    f.set("quantity", quantity);
    Ok(format!(" addr={address} qty={quantity}"))
}

/// A single coil's value reads 1/0 (0xFF00/0x0000), a register's as is.
fn single(code: u8, value: u16) -> u16 {
    match (code, value) {
        (5, 0xff00) => 1,
        (5, _) => 0,
        _ => value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The decoder with its JSON fields (and the same summary without).
    fn decode(frame: &[u8], from: Side) -> Result<crate::decode::Decoded, Malformed> {
        crate::decode::decode_checked(super::decode, frame, from)
    }

    fn hex(s: &str) -> Vec<u8> {
        crate::payload::parse_hex(s).unwrap()
    }

    fn summary(frame: &str, from: Side) -> String {
        decode(&hex(frame), from).unwrap().summary
    }

    #[test]
    fn requests_and_responses() {
        assert_eq!(
            summary("00 07 00 00 00 06 01 03 00 00 00 0a", Side::Client),
            "modbus tid=7 unit=1 read holding registers (3) request addr=0 qty=10"
        );
        let values = "00 07 00 00 00 17 01 03 14 00 00 00 03 00 06 00 09 00 0c 00 0f 00 12 00 15 00 18 00 1b";
        assert_eq!(
            summary(values, Side::Server),
            "modbus tid=7 unit=1 read holding registers (3) response 10 values: 0 3 6 9 12 15 18 21 24 27"
        );
        assert_eq!(
            summary("00 08 00 00 00 03 01 83 02", Side::Server),
            "modbus tid=8 unit=1 exception 0x83: illegal data address (2)"
        );
        assert_eq!(
            summary("00 01 00 00 00 06 01 05 00 0a ff 00", Side::Client),
            "modbus tid=1 unit=1 write single coil (5) request addr=10 value=1"
        );
        assert_eq!(
            summary("00 01 00 00 00 09 01 0f 00 00 00 0a 02 cd 01", Side::Client),
            "modbus tid=1 unit=1 write multiple coils (15) request addr=0 qty=10 values: 1 0 1 1 0 0 1 1 1 0"
        );
        assert_eq!(
            summary(
                "00 02 00 00 00 0b 01 10 00 3c 00 02 04 00 01 00 02",
                Side::Client
            ),
            "modbus tid=2 unit=1 write multiple registers (16) request addr=60 qty=2 values: 1 2"
        );
        assert_eq!(
            summary("00 02 00 00 00 04 01 01 01 05", Side::Server),
            "modbus tid=2 unit=1 read coils (1) response 8 bits: 1 0 1 0 0 0 0 0"
        );
        let rw = "00 03 00 00 00 0f 01 17 00 01 00 02 00 0a 00 02 04 00 05 00 06";
        assert_eq!(
            summary(rw, Side::Client),
            "modbus tid=3 unit=1 read/write multiple registers (23) request read addr=1 qty=2 write addr=10 qty=2 values: 5 6"
        );
    }

    #[test]
    fn one_is_singular() {
        assert_eq!(
            summary("00 01 00 00 00 05 01 03 02 00 2a", Side::Server),
            "modbus tid=1 unit=1 read holding registers (3) response 1 value: 42"
        );
        assert_eq!(
            summary("00 01 00 00 00 04 01 01 01 01", Side::Server),
            "modbus tid=1 unit=1 read coils (1) response 8 bits: 1 0 0 0 0 0 0 0"
        );
    }

    #[test]
    fn json_fields() {
        let d = decode(&hex("00 07 00 00 00 06 01 03 00 00 00 0a"), Side::Client).unwrap();
        assert_eq!(
            d.fields,
            json!({"transaction": 7, "protocol": 0, "length": 6, "unit": 1, "function": 3,
                   "function_name": "read holding registers", "kind": "request",
                   "address": 0, "quantity": 10})
        );
        let e = decode(&hex("00 08 00 00 00 03 01 83 02"), Side::Server).unwrap();
        assert_eq!(e.fields["exception"], 2);
        assert_eq!(e.fields["function"], 3);
        assert_eq!(e.fields["kind"], "exception");
    }

    #[test]
    fn malformed_frames_say_why() {
        let why = |f: &str, from| decode(&hex(f), from).unwrap_err().0;
        assert!(why("00 01", Side::Client).contains("shorter than an MBAP header"));
        assert!(why("00 01 00 05 00 02 01 03", Side::Client).contains("protocol id 5"));
        assert!(why("00 01 00 00 00 09 01 03 00 00", Side::Client).contains("MBAP length 9"));
        assert_eq!(
            why("00 01 00 00 00 04 01 03 05 00", Side::Server),
            "byte count 5, but 1 byte follows"
        );
        // A read request echoed back, read as a response (README's example
        // against the echo server): not "0 values".
        assert_eq!(
            why("00 07 00 00 00 06 01 03 00 00 00 0a", Side::Server),
            "byte count 0, but 3 bytes follow"
        );
        assert!(
            why("00 01 00 00 00 03 01 03 00", Side::Client).contains("too short for the address")
        );
    }
}
