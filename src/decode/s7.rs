//! S7comm over ISO-on-TCP: TPKT, the COTP PDU (CR, CC, DT, DR, DC), and in
//! DT the S7 header (job, ack, ack_data, userdata) with setup
//! communication, read var and write var (items, data, return codes).

use serde_json::json;

use super::{u16_at, u8_at, Fields, Malformed};
use crate::record::Side;

fn cotp_name(kind: u8) -> Option<&'static str> {
    Some(match kind {
        0xe0 => "CR",
        0xd0 => "CC",
        0xf0 => "DT",
        0x80 => "DR",
        0xc0 => "DC",
        _ => return None,
    })
}

fn rosctr_name(rosctr: u8) -> &'static str {
    match rosctr {
        1 => "job",
        2 => "ack",
        3 => "ack_data",
        7 => "userdata",
        _ => "unknown",
    }
}

pub fn function_name(code: u8) -> &'static str {
    match code {
        0xf0 => "setup communication",
        0x04 => "read var",
        0x05 => "write var",
        _ => "unknown function",
    }
}

fn area_name(area: u8) -> &'static str {
    match area {
        0x81 => "I",
        0x82 => "Q",
        0x83 => "M",
        0x84 => "DB",
        0x1c => "C",
        0x1d => "T",
        _ => "?",
    }
}

fn return_code_name(code: u8) -> &'static str {
    match code {
        0xff => "success",
        0x01 => "hardware fault",
        0x03 => "accessing the object not allowed",
        0x05 => "address out of range",
        0x06 => "data type not supported",
        0x07 => "data type inconsistent",
        0x0a => "object does not exist",
        0x00 => "reserved",
        _ => "unknown return code",
    }
}

/// `--decode auto`: TPKT version 3, then its reserved 0.
pub fn looks_like(message: &[u8]) -> bool {
    message.starts_with(&[3, 0])
}

/// Decode one TPKT frame sent by `from` (the direction only names it; S7
/// says itself whether it is a job or an answer).
pub fn decode(frame: &[u8], _from: Side, fields: &mut Fields) -> Result<String, Malformed> {
    if frame.len() < 7 {
        return Err(Malformed(format!(
            "{} bytes, shorter than TPKT and COTP",
            frame.len()
        )));
    }
    if frame[0] != 3 {
        return Err(Malformed(format!("TPKT version {}, not 3", frame[0])));
    }
    let length = u16_at(frame, 2, "TPKT length")? as usize;
    if length != frame.len() {
        return Err(Malformed(format!(
            "TPKT length {length}, but the frame is {} bytes",
            frame.len()
        )));
    }
    let li = frame[4] as usize;
    let kind = frame[5] & 0xf0;
    let cotp = cotp_name(kind)
        .ok_or_else(|| Malformed(format!("COTP PDU type 0x{:02x} unknown", frame[5])))?;
    fields.set("cotp", cotp);
    let payload = frame
        .get(5 + li..)
        .ok_or_else(|| Malformed(format!("COTP length {li} runs past the frame")))?;
    if kind != 0xf0 || payload.is_empty() {
        return Ok(format!("s7 COTP {cotp}"));
    }
    let summary = s7(payload, fields)?;
    Ok(format!("s7 {cotp} {summary}"))
}

/// The S7 PDU inside a COTP DT.
fn s7(pdu: &[u8], f: &mut Fields) -> Result<String, Malformed> {
    if pdu[0] != 0x32 {
        return Err(Malformed(format!(
            "S7 protocol id 0x{:02x}, not 0x32",
            pdu[0]
        )));
    }
    let rosctr = u8_at(pdu, 1, "ROSCTR")?;
    let pdu_ref = u16_at(pdu, 4, "PDU reference")?;
    let param_len = u16_at(pdu, 6, "parameter length")? as usize;
    let data_len = u16_at(pdu, 8, "data length")? as usize;
    let mut header = 10;
    f.set("rosctr", rosctr_name(rosctr));
    f.set("pdu_ref", pdu_ref);
    let mut error = String::new();
    if rosctr == 2 || rosctr == 3 {
        let (class, code) = (
            u8_at(pdu, 10, "error class")?,
            u8_at(pdu, 11, "error code")?,
        );
        f.set("error_class", class);
        f.set("error_code", code);
        if class != 0 || code != 0 {
            error = format!(" error 0x{class:02x}{code:02x}");
        }
        header = 12;
    }
    let params = pdu
        .get(header..header + param_len)
        .ok_or_else(|| Malformed(format!("parameter length {param_len} runs past the PDU")))?;
    let data = pdu
        .get(header + param_len..header + param_len + data_len)
        .ok_or_else(|| Malformed(format!("data length {data_len} runs past the PDU")))?;
    let head = format!("{} ", rosctr_name(rosctr));
    if rosctr == 7 || params.is_empty() {
        return Ok(format!("{head}pdu_ref={pdu_ref}{error}").replace("  ", " "));
    }
    let function = params[0];
    f.set("function", function);
    f.set("function_name", function_name(function));
    let detail = match function {
        0xf0 => {
            let pdu_length = u16_at(params, 6, "PDU length")?;
            f.set("pdu_length", pdu_length);
            format!(" pdu {pdu_length}")
        }
        0x04 | 0x05 => var(rosctr, function, params, data, f)?,
        _ => String::new(),
    };
    Ok(format!(
        "{head}{} pdu_ref={pdu_ref}{detail}{error}",
        function_name(function)
    ))
}

/// Read var / write var: the items of a job, the data or return codes of
/// an answer.
fn var(
    rosctr: u8,
    function: u8,
    params: &[u8],
    data: &[u8],
    f: &mut Fields,
) -> Result<String, Malformed> {
    let count = u8_at(params, 1, "item count")? as usize;
    let mut items = Vec::new();
    let mut text = Vec::new();
    if rosctr == 1 {
        for i in 0..count {
            let at = 2 + i * 12;
            let spec = params
                .get(at..at + 12)
                .ok_or_else(|| Malformed(format!("item {} runs past the parameters", i + 1)))?;
            let length = u16::from_be_bytes([spec[4], spec[5]]);
            let db = u16::from_be_bytes([spec[6], spec[7]]);
            let area = spec[8];
            let address = u32::from_be_bytes([0, spec[9], spec[10], spec[11]]);
            let start = address >> 3;
            items.push(json!({"area": area_name(area), "db": db, "start": start,
                              "bit": address & 7, "length": length, "transport_size": spec[3]}));
            text.push(match area {
                0x84 => format!("DB{db}.DBB{start} len {length}"),
                _ => format!("{}{start} len {length}", area_name(area)),
            });
        }
    } else {
        let mut at = 0;
        for i in 0..count {
            let code = u8_at(data, at, "return code")?;
            let mut item = json!({"return_code": code, "return_code_name": return_code_name(code)});
            if function == 0x04 {
                let size = u8_at(data, at + 1, "transport size")?;
                let raw = u16_at(data, at + 2, "data length")? as usize;
                // Lengths are in bits for the bit/byte/word transport sizes.
                let bytes = if matches!(size, 3..=5) {
                    raw.div_ceil(8)
                } else {
                    raw
                };
                item["length"] = json!(bytes);
                text.push(format!("{} {bytes} bytes", return_code_name(code)));
                at += 4 + bytes;
                if bytes % 2 == 1 && i + 1 < count {
                    at += 1;
                }
            } else {
                text.push(return_code_name(code).to_string());
                at += 1;
            }
            items.push(item);
        }
    }
    f.set("items", items);
    Ok(format!(" {}", text.join(", ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The decoder with its JSON fields (and the same summary without).
    fn decode(frame: &[u8], from: Side) -> Result<crate::decode::Decoded, Malformed> {
        crate::decode::decode_checked(super::decode, frame, from)
    }

    fn hex(s: &str) -> Vec<u8> {
        crate::payload::parse_hex(s).unwrap()
    }

    fn summary(frame: &str) -> String {
        decode(&hex(frame), Side::Client).unwrap().summary
    }

    #[test]
    fn a_python_snap7_session() {
        assert_eq!(
            summary("03 00 00 16 11 e0 00 00 00 01 00 c1 02 01 00 c2 02 01 01 c0 01 0a"),
            "s7 COTP CR"
        );
        assert_eq!(
            summary("03 00 00 19 02 f0 80 32 01 00 00 00 01 00 08 00 00 f0 00 00 01 00 01 01 e0"),
            "s7 DT job setup communication pdu_ref=1 pdu 480"
        );
        let read = "03 00 00 1f 02 f0 80 32 01 00 00 00 02 00 0e 00 00 04 01 12 0a 10 02 00 10 00 01 84 00 00 00";
        assert_eq!(
            summary(read),
            "s7 DT job read var pdu_ref=2 DB1.DBB0 len 16"
        );
        let d = decode(&hex(read), Side::Client).unwrap();
        assert_eq!(
            d.fields["items"][0],
            json!({"area": "DB", "db": 1, "start": 0, "bit": 0, "length": 16, "transport_size": 2})
        );
        // The answer: ack_data, one item, 16 bytes (length in bits: 128).
        let answer = "03 00 00 29 02 f0 80 32 03 00 00 00 02 00 02 00 14 00 00 04 01 ff 04 00 80 \
                      01 04 07 0a 0d 10 13 16 19 1c 1f 22 25 28 2b 2e";
        assert_eq!(
            summary(answer),
            "s7 DT ack_data read var pdu_ref=2 success 16 bytes"
        );
        assert_eq!(summary("03 00 00 0c 06 80 00 01 00 01 00 00"), "s7 COTP DR");
    }

    #[test]
    fn errors_and_malformed_frames() {
        let answer = "03 00 00 19 02 f0 80 32 03 00 00 00 02 00 02 00 04 00 00 04 01 0a 00 00 00";
        assert_eq!(
            summary(answer),
            "s7 DT ack_data read var pdu_ref=2 object does not exist 0 bytes"
        );
        let why = |f: &str| decode(&hex(f), Side::Client).unwrap_err().0;
        assert!(why("03 00").contains("shorter than TPKT"));
        assert!(why("04 00 00 07 02 f0 80").contains("TPKT version 4"));
        assert!(why("03 00 00 09 02 f0 80").contains("TPKT length 9"));
        assert!(why("03 00 00 08 02 f0 80 33").contains("not 0x32"));
        assert!(why("03 00 00 07 02 10 80").contains("COTP PDU type 0x10"));
    }
}
