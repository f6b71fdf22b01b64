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

/// The requests `--request 'modbus ...'` builds (the words after `modbus`).
pub const REQUESTS: &[&str] = &[
    "read-coils",
    "read-discrete",
    "read-holding",
    "read-input",
    "write-coil",
    "write-register",
    "write-coils",
    "write-registers",
    "fc=N data=HEX",
];

/// `--request 'modbus FUNCTION KEY=VALUE ...'`: an MBAP frame (transaction
/// id `at.sequence`), or on a serial line an RTU frame with its CRC. The
/// keys: `unit=` (default 1; 0 and 248-255 allowed), `addr=` (default 0),
/// `count=` (reads, default 1), `value=` (write-coil 0|1, write-register),
/// `values=` (write-coils, write-registers: comma-separated), and for any
/// other function `fc=` with `data=` (hex). Numbers are decimal or 0x hex.
pub fn build(words: &[&str], at: &super::RequestContext) -> Result<Vec<u8>, String> {
    let (unit, pdu) = request_pdu(words)?;
    let mut frame = Vec::with_capacity(pdu.len() + 8);
    if at.serial {
        frame.push(unit);
        frame.extend_from_slice(&pdu);
        return Ok(crate::rtu::with_crc(frame));
    }
    frame.extend(at.sequence.to_be_bytes());
    frame.extend([0, 0]);
    frame.extend(((pdu.len() + 1) as u16).to_be_bytes());
    frame.push(unit);
    frame.extend_from_slice(&pdu);
    Ok(frame)
}

/// A number, decimal or `0x` hex, within `range`.
fn request_number(
    word: &str,
    value: &str,
    range: std::ops::RangeInclusive<i64>,
) -> Result<i64, String> {
    let parsed = match value
        .strip_prefix("0x")
        .or_else(|| value.strip_prefix("0X"))
    {
        Some(hex) => i64::from_str_radix(hex, 16).ok(),
        None => value.parse::<i64>().ok(),
    };
    match parsed {
        Some(n) if range.contains(&n) => Ok(n),
        _ => Err(format!(
            "'{word}': expected a number {}-{}",
            range.start(),
            range.end()
        )),
    }
}

/// The unit id and PDU a request's words ask for.
fn request_pdu(words: &[&str]) -> Result<(u8, Vec<u8>), String> {
    let expected = REQUESTS.join(", ");
    let Some((&first, rest)) = words.split_first() else {
        return Err(format!("a modbus request is needed (expected {expected})"));
    };
    // `fc=N` may come first, in place of a function's name.
    let (function, keys): (&str, Vec<&str>) = if first.contains('=') {
        ("", words.to_vec())
    } else {
        (first, rest.to_vec())
    };
    let code: Option<u8> = match function {
        "" => None,
        "read-coils" => Some(1),
        "read-discrete" => Some(2),
        "read-holding" => Some(3),
        "read-input" => Some(4),
        "write-coil" => Some(5),
        "write-register" => Some(6),
        "write-coils" => Some(15),
        "write-registers" => Some(16),
        other => {
            return Err(format!(
                "unknown modbus request '{other}' (expected {expected})"
            ))
        }
    };
    let allowed: &[&str] = match code {
        None => &["unit", "fc", "data"],
        Some(1..=4) => &["unit", "addr", "count"],
        Some(5 | 6) => &["unit", "addr", "value"],
        _ => &["unit", "addr", "values"],
    };
    let mut unit = 1u8;
    let mut addr = 0u16;
    let mut count: Option<i64> = None;
    let mut value: Option<&str> = None;
    let mut values: Option<&str> = None;
    let mut fc: Option<u8> = None;
    let mut data: Vec<u8> = Vec::new();
    for word in keys {
        let Some((key, v)) = word.split_once('=') else {
            return Err(format!(
                "'{word}': expected KEY=VALUE ({})",
                keys_hint(allowed)
            ));
        };
        if !allowed.contains(&key) {
            let what = if function.is_empty() { "fc=" } else { function };
            return Err(format!("'{word}': {what} takes {}", keys_hint(allowed)));
        }
        match key {
            "unit" => unit = request_number(word, v, 0..=255)? as u8,
            "addr" => addr = request_number(word, v, 0..=65535)? as u16,
            "count" => count = Some(request_number(word, v, 1..=65535)?),
            "value" => value = Some(v),
            "values" => values = Some(v),
            "fc" => fc = Some(request_number(word, v, 1..=127)? as u8),
            _ => {
                data =
                    crate::payload::parse_hex(v).map_err(|e| format!("'{word}': not hex: {e}"))?;
            }
        }
    }
    let mut pdu = Vec::new();
    let Some(code) = code else {
        let fc = fc.ok_or("fc=N is needed: the function code (1-127), with data=HEX")?;
        pdu.push(fc);
        pdu.extend(data);
        if pdu.len() > 253 {
            return Err(format!(
                "data= is {} bytes; a PDU holds at most 252 after its function code",
                pdu.len() - 1
            ));
        }
        return Ok((unit, pdu));
    };
    pdu.push(code);
    pdu.extend(addr.to_be_bytes());
    match code {
        1..=4 => {
            let most = if code <= 2 { 2000 } else { 125 };
            let count = count.unwrap_or(1);
            if count > most {
                return Err(format!(
                    "count={count}: {function} reads at most {most} at a time"
                ));
            }
            pdu.extend((count as u16).to_be_bytes());
        }
        5 => {
            let v = value.ok_or("write-coil needs value=0 or value=1")?;
            pdu.extend(match v {
                "0" => [0x00, 0x00],
                "1" => [0xff, 0x00],
                _ => return Err(format!("'value={v}': a coil is 0 or 1")),
            });
        }
        6 => {
            let v = value.ok_or("write-register needs value=N (0-65535, or -32768-32767)")?;
            let n = request_number(&format!("value={v}"), v, -32768..=65535)?;
            pdu.extend((n as u16).to_be_bytes());
        }
        15 => {
            let list = values.ok_or("write-coils needs values=0,1,...")?;
            let bits: Vec<bool> = list
                .split(',')
                .map(|b| match b.trim() {
                    "0" => Ok(false),
                    "1" => Ok(true),
                    other => Err(format!("'values={list}': '{other}' is not a coil (0 or 1)")),
                })
                .collect::<Result<_, _>>()?;
            if bits.len() > 1968 {
                return Err(format!(
                    "values=: {} coils, at most 1968 at a time",
                    bits.len()
                ));
            }
            pdu.extend((bits.len() as u16).to_be_bytes());
            let bytes: Vec<u8> = bits
                .chunks(8)
                .map(|c| {
                    c.iter()
                        .enumerate()
                        .fold(0u8, |b, (i, &on)| b | (u8::from(on) << i))
                })
                .collect();
            pdu.push(bytes.len() as u8);
            pdu.extend(bytes);
        }
        _ => {
            let list = values.ok_or("write-registers needs values=N,N,...")?;
            let regs = list
                .split(',')
                .map(|v| request_number(&format!("values={list}"), v.trim(), -32768..=65535))
                .collect::<Result<Vec<_>, _>>()?;
            if regs.len() > 123 {
                return Err(format!(
                    "values=: {} registers, at most 123 at a time",
                    regs.len()
                ));
            }
            pdu.extend((regs.len() as u16).to_be_bytes());
            pdu.push((regs.len() * 2) as u8);
            for r in regs {
                pdu.extend((r as u16).to_be_bytes());
            }
        }
    }
    Ok((unit, pdu))
}

fn keys_hint(allowed: &[&str]) -> String {
    let keys: Vec<String> = allowed.iter().map(|k| format!("{k}=")).collect();
    keys.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The decoder with its JSON fields (and the same summary without).
    fn decode(frame: &[u8], from: Side) -> Result<crate::decode::Decoded, Malformed> {
        crate::decode::decode_checked(super::decode, frame, from)
    }

    #[test]
    fn requests_as_mbap_and_rtu() {
        let tcp = |words: &[&str], sequence| {
            build(
                words,
                &crate::decode::RequestContext {
                    sequence,
                    serial: false,
                },
            )
            .unwrap()
        };
        let rtu = |words: &[&str]| {
            build(
                words,
                &crate::decode::RequestContext {
                    sequence: 9,
                    serial: true,
                },
            )
            .unwrap()
        };
        assert_eq!(
            tcp(&["read-holding", "unit=1", "addr=0", "count=10"], 7),
            hex("00 07 00 00 00 06 01 03 00 00 00 0a")
        );
        assert_eq!(
            rtu(&["read-holding", "addr=0", "count=10"]),
            hex("01 03 00 00 00 0a c5 cd")
        );
        assert_eq!(
            tcp(&["write-registers", "addr=10", "values=1,2,3"], 1),
            hex("00 01 00 00 00 0d 01 10 00 0a 00 03 06 00 01 00 02 00 03")
        );
        assert_eq!(
            tcp(
                &["write-coils", "addr=0x13", "values=1,0,1,1,0,0,1,1,1,0"],
                1
            ),
            hex("00 01 00 00 00 09 01 0f 00 13 00 0a 02 cd 01")
        );
        assert_eq!(
            tcp(&["write-coil", "addr=172", "value=1"], 1),
            hex("00 01 00 00 00 06 01 05 00 ac ff 00")
        );
        assert_eq!(
            tcp(&["write-register", "value=-1", "unit=255"], 1),
            hex("00 01 00 00 00 06 ff 06 00 00 ff ff")
        );
        assert_eq!(
            tcp(&["fc=0x2B", "data=0E0100"], 1),
            hex("00 01 00 00 00 05 01 2b 0e 01 00")
        );
        assert_eq!(
            tcp(&["read-coils", "unit=0"], 1),
            hex("00 01 00 00 00 06 00 01 00 00 00 01")
        );
    }

    #[test]
    fn bad_requests_name_the_word() {
        let err = |words: &[&str]| build(words, &Default::default()).unwrap_err();
        assert!(err(&["read-holdings"]).contains("unknown modbus request 'read-holdings'"));
        assert!(err(&["read-holding", "count=126"]).contains("at most 125"));
        assert!(err(&["read-holding", "addr=70000"])
            .contains("'addr=70000': expected a number 0-65535"));
        assert!(err(&["read-holding", "value=1"])
            .contains("'value=1': read-holding takes unit=, addr=, count="));
        assert!(err(&["write-coil", "value=2"]).contains("a coil is 0 or 1"));
        assert!(err(&["write-registers"]).contains("needs values="));
        assert!(err(&["write-registers", "values=1,x"]).contains("'values=1,x'"));
        assert!(err(&["fc=200"]).contains("1-127"));
        assert!(err(&["data=0e"]).contains("fc=N is needed"));
        assert!(err(&["fc=43", "data=zz"]).contains("not hex"));
        assert!(err(&["read-holding", "unit"]).contains("expected KEY=VALUE"));
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
