//! `--decode PROTO`: what the bytes of a message mean, in one line (text,
//! hex and hexdump records) and as a `"decoded"` object (JSON records).
//!
//! Decoders are pure functions of one framed message and who sent it (a
//! client sends requests, a server answers). A message that does not parse
//! as the protocol is still shown raw, with a `malformed: REASON` note:
//! decoding never fails a command. Modbus/TCP and S7comm (ISO-on-TCP) are
//! here; `auto` picks by the message's first bytes.

pub mod enip;
pub mod iec104;
pub mod modbus;
pub mod modbus_rtu;
pub mod s7;

use std::{fmt, str::FromStr, sync::OnceLock};

use serde_json::{json, Map, Value};

use crate::{frame::FrameSpec, record::Side};

/// One protocol `--decode` reads: a row of [`DECODERS`]. Adding a protocol
/// is its module in `src/decode/` plus one row; `--decode`'s values, help,
/// completions, the man pages and the fuzz target's list follow the table.
#[derive(Debug)]
pub struct Decoder {
    /// The `--decode` value (and the `"decoder"` field of JSON records).
    pub name: &'static str,
    /// What it reads, for `--help` (wrapped there).
    pub about: &'static str,
    /// The `--frame` spec it implies when `--frame` is not given.
    pub framing: &'static str,
    /// `--decode auto`: whether a message's first bytes say it is this
    /// protocol (unambiguously); `None` for the fallback, the first row.
    pub looks_like: Option<fn(&[u8]) -> bool>,
    /// What `--request 'NAME ...'` builds, if the protocol builds requests.
    pub requests: Option<Requests>,
    /// The decoder: one framed message and who sent it to its summary line,
    /// filling `fields` (which only records when JSON is wanted).
    pub decode: fn(&[u8], Side, &mut Fields) -> Result<String, Malformed>,
}

/// The requests a protocol builds for `--request 'NAME WORD...'`.
#[derive(Debug)]
pub struct Requests {
    /// The first words it accepts, for help and errors.
    pub names: &'static [&'static str],
    /// The words after the protocol's name to the bytes to send, or why not.
    pub build: fn(&[&str], &RequestContext) -> Result<Vec<u8>, String>,
    /// The row whose framing and decoding a request takes when it goes out
    /// on a serial line or with `--frame modbus-rtu` (Modbus RTU).
    pub serial_form: Option<&'static str>,
    /// The arguments the requests take, for `--request`'s help.
    pub arguments: &'static str,
}

/// Where a built request goes: what numbers it and how it is framed.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestContext {
    /// The request's number on its connection, from 1 (Modbus/TCP's
    /// transaction id).
    pub sequence: u16,
    /// On a serial line or with `--frame modbus-rtu`: the protocol's serial
    /// form (RTU, with its CRC) rather than its TCP form (MBAP).
    pub serial: bool,
}

/// The protocols, in the order `--help` lists them. The first row is
/// `--decode auto`'s fallback.
pub static DECODERS: &[Decoder] = &[
    Decoder {
        name: "modbus",
        about: "Modbus/TCP: MBAP, function codes 1-6, 15, 16, 23, exceptions",
        framing: "len=u16be,offset=4",
        looks_like: None,
        requests: Some(Requests {
            names: modbus::REQUESTS,
            build: modbus::build,
            serial_form: Some("modbus-rtu"),
            arguments: "unit=N (default 1) addr=N (default 0) count=N (reads, default 1) value=N (write-coil 0|1, write-register) values=N,N,... (write-coils, write-registers); fc=N data=HEX for any other function. Numbers are decimal or 0x hex. MBAP on TCP, RTU with its CRC on serial: or with --frame modbus-rtu",
        }),
        decode: modbus::decode,
    },
    Decoder {
        name: "modbus-rtu",
        about: "Modbus RTU (serial lines, RTU over TCP): unit, function, the fields --decode modbus gives, CRC ok or bad",
        framing: "modbus-rtu",
        looks_like: Some(modbus_rtu::looks_like),
        requests: None,
        decode: modbus_rtu::decode,
    },
    Decoder {
        name: "s7",
        about: "S7comm over ISO-on-TCP: TPKT, COTP, setup, read and write var",
        framing: "len=u16be,offset=2,includes-header",
        looks_like: Some(s7::looks_like),
        requests: None,
        decode: s7::decode,
    },
    Decoder {
        name: "enip",
        about: "EtherNet/IP with CIP: encapsulation, CPF items, CIP services, paths and statuses, Logix Read/Write Tag, Multiple Service Packet, ListIdentity replies",
        framing: "len=u16le,offset=2,header=24",
        looks_like: Some(enip::looks_like),
        requests: Some(Requests {
            names: enip::REQUESTS,
            build: enip::request,
            serial_form: None,
            arguments: "",
        }),
        decode: enip::decode,
    },
    Decoder {
        name: "iec104",
        about: "IEC 60870-5-104: APCI (I, S, U), ASDU type, cause, common address, information objects with values, quality, times",
        framing: "len=u8,offset=1",
        looks_like: Some(iec104::looks_like),
        requests: Some(Requests {
            names: iec104::REQUESTS,
            build: iec104::request,
            serial_form: None,
            arguments: "interrogation: ca=N (the common address) [qoi=20..36]",
        }),
        decode: iec104::decode,
    },
];

/// A well-formed MBAP header: protocol 0 and a length that counts exactly
/// the bytes after it. Rows other than Modbus/TCP (`auto`'s fallback)
/// leave such messages to it in their `looks_like`.
pub(crate) fn mbap_shaped(message: &[u8]) -> bool {
    message.len() > 7
        && message[2..4] == [0, 0]
        && usize::from(u16::from_be_bytes([message[4], message[5]])) == message.len() - 6
}

/// Which protocol `--decode` reads messages as.
#[derive(Debug, Clone, Copy, Default)]
pub enum Protocol {
    #[default]
    None,
    /// One row of [`DECODERS`].
    One(&'static Decoder),
    /// Each message by its first bytes: the row whose `looks_like` says so,
    /// else the first row.
    Auto,
}

impl PartialEq for Protocol {
    fn eq(&self, other: &Self) -> bool {
        self.name() == other.name()
    }
}

impl Eq for Protocol {}

impl Protocol {
    /// `none`, each row's name, `auto`: what `--decode` accepts.
    pub fn names() -> &'static [&'static str] {
        static NAMES: OnceLock<Vec<&'static str>> = OnceLock::new();
        NAMES.get_or_init(|| {
            let mut names = vec!["none"];
            names.extend(DECODERS.iter().map(|d| d.name));
            names.push("auto");
            names
        })
    }

    /// The row named `name`.
    pub fn named(name: &str) -> Option<Protocol> {
        DECODERS.iter().find(|d| d.name == name).map(Protocol::One)
    }

    pub fn name(&self) -> &'static str {
        match self {
            Protocol::None => "none",
            Protocol::One(d) => d.name,
            Protocol::Auto => "auto",
        }
    }

    /// The framing a protocol implies when `--frame` is not given (its
    /// row's `framing`: MBAP's length field for Modbus/TCP, TPKT's for S7).
    pub fn framing(self) -> Option<FrameSpec> {
        match self {
            Protocol::One(d) => Some(d.framing.parse().expect("a valid built-in spec")),
            Protocol::None | Protocol::Auto => None,
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Protocol {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "none" => Ok(Protocol::None),
            "auto" => Ok(Protocol::Auto),
            _ => Protocol::named(s).ok_or_else(|| {
                format!(
                    "unknown protocol '{s}' (expected {})",
                    Protocol::names().join(", ")
                )
            }),
        }
    }
}

/// `--request 'PROTO WORD...'`: the bytes of a protocol request, and the
/// protocol (whose framing and decoder the request implies), built by the
/// row's [`Requests`]; or why not, naming the bad word.
pub fn build_request(spec: &str, at: &RequestContext) -> Result<(Protocol, Vec<u8>), String> {
    let words: Vec<&str> = spec.split_whitespace().collect();
    let builders: Vec<&str> = DECODERS
        .iter()
        .filter(|d| d.requests.is_some())
        .map(|d| d.name)
        .collect();
    let Some((&name, rest)) = words.split_first() else {
        return Err(format!(
            "empty: give a protocol and a request, e.g. 'enip list-identity' (protocols: {})",
            builders.join(", ")
        ));
    };
    let row = DECODERS.iter().find(|d| d.name == name);
    let Some((row, requests)) = row.and_then(|d| d.requests.as_ref().map(|r| (d, r))) else {
        return Err(format!(
            "no requests for '{name}' (protocols with requests: {})",
            builders.join(", ")
        ));
    };
    if rest.is_empty() {
        return Err(format!(
            "{name}: which request? ({})",
            requests.names.join(", ")
        ));
    }
    let bytes = (requests.build)(rest, at)?;
    let row = match requests.serial_form.and_then(Protocol::named) {
        Some(serial) if at.serial => serial,
        _ => Protocol::One(row),
    };
    Ok((row, bytes))
}

/// `--request`'s long help, from the table.
pub fn requests_help() -> String {
    let mut help = String::from(
        "Send a protocol request built for you instead of typing its bytes\n\
         (repeatable, in place of PAYLOAD; one exchange each). It implies the\n\
         protocol's --frame and --decode (and -f text) unless they are given, so\n\
         the reply is shown decoded.\n\nREQUESTS:\n",
    );
    for d in DECODERS {
        let Some(r) = &d.requests else { continue };
        help.push_str(&help_entry(d.name, &r.names.join(" | ")));
        if !r.arguments.is_empty() {
            help.push_str(&help_entry("", r.arguments));
        }
    }
    help.push_str("\nA request that does not parse exits 2 naming the word, before connecting.");
    help
}

/// `--decode`'s one-line help, from the table.
pub fn short_help() -> String {
    let mut names: Vec<&str> = DECODERS.iter().map(|d| d.name).collect();
    names.extend(["auto", "none"]);
    format!(
        "Say what each message means: {} (each protocol implies its framing)",
        or_list(&names)
    )
}

/// `--decode`'s long help, from the table.
pub fn long_help() -> String {
    let mut help = String::from(
        "Say what each message means: a one-line summary under each text, hex or\n\
         hexdump record, and a \"decoded\" object in each JSON record.\n",
    );
    for d in DECODERS {
        let mut line = format!("  {:<8}", d.name);
        for word in d.about.split(' ') {
            if line.len() + 1 + word.len() > 76 {
                help.push_str(&line);
                help.push('\n');
                line = " ".repeat(10);
            }
            line.push(' ');
            line.push_str(word);
        }
        help.push_str(&format!(
            "{line}\n           implies --frame {}\n",
            d.framing
        ));
    }
    let detected: Vec<&str> = DECODERS
        .iter()
        .filter(|d| d.looks_like.is_some())
        .map(|d| d.name)
        .collect();
    help.push_str(&help_entry(
        "auto",
        &format!(
            "{} by each message's first bytes, else {} (give --frame)",
            or_list(&detected),
            DECODERS[0].name
        ),
    ));
    help.push_str(
        "  none     no decoding (the default)\n\
         A message sent by the client is a request, one sent by the server an answer.\n\
         A message that does not parse is still shown, with a `malformed: REASON` note;\n\
         decoding never fails a command.",
    );
    help
}

/// `  NAME     TEXT`, TEXT wrapped at 76 columns under itself.
fn help_entry(name: &str, text: &str) -> String {
    let mut entry = String::new();
    let mut line = format!("  {name:<8}");
    for word in text.split(' ') {
        if line.len() + 1 + word.len() > 76 {
            entry.push_str(&line);
            entry.push('\n');
            line = " ".repeat(10);
        }
        line.push(' ');
        line.push_str(word);
    }
    entry.push_str(&line);
    entry.push('\n');
    entry
}

/// `a, b or c`.
fn or_list(names: &[&str]) -> String {
    match names {
        [] => String::new(),
        [one] => one.to_string(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
    }
}

/// The row `--decode auto` reads `message` as.
pub fn detect(message: &[u8]) -> &'static Decoder {
    DECODERS
        .iter()
        .find(|d| d.looks_like.is_some_and(|looks| looks(message)))
        .unwrap_or(&DECODERS[0])
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

/// The `"decoded"` object a decoder fills, or nothing at all when only the
/// summary line is wanted (text records): then `set` neither allocates a key
/// nor converts a value, which is most of a decoder's cost (issue 25's
/// bench). Nested objects are `Fields` of the same kind ([`Fields::nested`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Fields(Option<Map<String, Value>>);

impl Fields {
    /// Fields that record (`true`) or ignore everything set.
    pub fn new(wanted: bool) -> Fields {
        Fields(wanted.then(Map::new))
    }

    /// An empty object of the same kind, to nest under a key.
    pub fn nested(&self) -> Fields {
        Fields::new(self.wanted())
    }

    /// Whether anything set is kept.
    pub fn wanted(&self) -> bool {
        self.0.is_some()
    }

    /// Set `key` to `value` (converted only when kept).
    pub fn set(&mut self, key: &str, value: impl Into<Value>) {
        if let Some(map) = &mut self.0 {
            map.insert(key.to_string(), value.into());
        }
    }

    /// Set `key` to what `value` computes, computed only when kept.
    pub fn set_with(&mut self, key: &str, value: impl FnOnce() -> Value) {
        if let Some(map) = &mut self.0 {
            map.insert(key.to_string(), value());
        }
    }

    /// The value at `key`, if kept.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.as_ref().and_then(|map| map.get(key))
    }

    /// The object, or `null` when nothing was kept.
    pub fn into_value(self) -> Value {
        self.0.map_or(Value::Null, Value::Object)
    }
}

impl From<Fields> for Value {
    fn from(fields: Fields) -> Value {
        fields.into_value()
    }
}

/// A row's decoder with its JSON fields, for the decoders' unit tests; it
/// also checks that the summary is the same when the fields are not built.
#[cfg(test)]
pub(crate) fn decode_checked(
    decoder: fn(&[u8], Side, &mut Fields) -> Result<String, Malformed>,
    frame: &[u8],
    from: Side,
) -> Result<Decoded, Malformed> {
    let alone = decoder(frame, from, &mut Fields::new(false));
    let mut fields = Fields::new(true);
    let summary = decoder(frame, from, &mut fields);
    assert_eq!(alone, summary, "the summary depends on building the fields");
    Ok(Decoded {
        summary: summary?,
        fields: fields.into_value(),
    })
}

/// The timing probes' loop (`cargo test --release --lib timing --
/// --ignored --nocapture`): how long `protocol`'s summary of `message`
/// takes, printed with the summary itself.
#[cfg(test)]
pub(crate) fn probe_summary(protocol: &str, message: &[u8]) {
    let p = Protocol::named(protocol).unwrap();
    let n = 200_000;
    let start = std::time::Instant::now();
    let mut total = 0;
    for _ in 0..n {
        total += summary(p, message, Side::Client).unwrap().len();
    }
    println!("{:?} per summary ({total} bytes)", start.elapsed() / n);
    println!("{}", summary(p, message, Side::Client).unwrap());
}

/// Decode one message `from` sent; `None` with `--decode none`. A message
/// that does not parse gives its reason, never an error.
pub fn decode(protocol: Protocol, message: &[u8], from: Side) -> Option<Decoded> {
    decode_as(protocol, message, from, true)
}

/// Only the summary line of [`decode`], for text records: the JSON fields
/// are not built.
pub fn summary(protocol: Protocol, message: &[u8], from: Side) -> Option<String> {
    decode_as(protocol, message, from, false).map(|d| d.summary)
}

fn decode_as(protocol: Protocol, message: &[u8], from: Side, fields: bool) -> Option<Decoded> {
    let decoder = match protocol {
        Protocol::None => return None,
        Protocol::One(d) => d,
        Protocol::Auto => detect(message),
    };
    let name = decoder.name;
    let mut f = Fields::new(fields);
    Some(match (decoder.decode)(message, from, &mut f) {
        Ok(summary) => {
            f.set("decoder", name);
            Decoded {
                summary,
                fields: f.into_value(),
            }
        }
        Err(Malformed(reason)) => Decoded {
            summary: format!("{name} malformed: {reason}"),
            fields: if fields {
                json!({"decoder": name, "malformed": reason})
            } else {
                Value::Null
            },
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

    fn modbus() -> Protocol {
        Protocol::named("modbus").unwrap()
    }

    fn s7() -> Protocol {
        Protocol::named("s7").unwrap()
    }

    #[test]
    fn names_and_framing() {
        for name in Protocol::names() {
            assert_eq!(name.parse::<Protocol>().unwrap().to_string(), *name);
        }
        assert!("mqtt"
            .parse::<Protocol>()
            .unwrap_err()
            .contains("unknown protocol 'mqtt'"));
        assert_eq!(
            modbus().framing().unwrap().to_string(),
            "len=u16be,offset=4"
        );
        assert_eq!(
            s7().framing().unwrap().to_string(),
            "len=u16be,offset=2,includes-header"
        );
        assert_eq!(Protocol::Auto.framing(), None);
    }

    #[test]
    fn auto_picks_by_the_first_bytes() {
        let name =
            |m: &[u8]| decode(Protocol::Auto, m, Side::Client).unwrap().fields["decoder"].clone();
        // ListIdentity: command 0x63, length 0, a 24-byte header.
        let mut list_identity = vec![0x63, 0, 0, 0];
        list_identity.extend([0; 20]);
        assert_eq!(name(&list_identity), "enip");
        // The same with a length that does not count the rest: Modbus.
        list_identity.push(0);
        assert_eq!(name(&list_identity), "modbus");
        // 104: STARTDT act, an S frame, an I frame with an interrogation.
        assert_eq!(name(&[0x68, 4, 7, 0, 0, 0]), "iec104");
        assert_eq!(name(&[0x68, 4, 1, 0, 4, 0]), "iec104");
        let interrogation = [0x68, 14, 0, 0, 0, 0, 100, 1, 6, 0, 1, 0, 0, 0, 0, 20];
        assert_eq!(name(&interrogation), "iec104");
        // An unknown U function, a wrong length: Modbus.
        assert_eq!(name(&[0x68, 4, 0x0f, 0, 0, 0]), "modbus");
        assert_eq!(name(&[0x68, 5, 7, 0, 0, 0]), "modbus");
        // A Modbus request whose transaction id starts with 0x68 and whose
        // bytes also make a 104 I frame stays Modbus.
        assert_eq!(name(&[0x68, 10, 0, 0, 0, 6, 1, 3, 0, 0, 0, 10]), "modbus");
        assert_eq!(name(&[3, 0, 0, 7, 2, 0xf0, 0x80]), "s7");
        assert_eq!(name(&[0, 1, 0, 0, 0, 6, 1, 3, 0, 0, 0, 10]), "modbus");
        // An RTU read of 2 registers at 0 is also MBAP-shaped (transaction
        // 0x0103, length 2): its good CRC and its length make it RTU.
        assert_eq!(
            name(&[1, 3, 0, 0, 0, 2, 0xc4, 0x0b]),
            "modbus-rtu",
            "the gateway's line"
        );
    }

    #[test]
    fn the_table_feeds_names_help_and_framing() {
        assert_eq!(
            Protocol::names(),
            [
                "none",
                "modbus",
                "modbus-rtu",
                "s7",
                "enip",
                "iec104",
                "auto"
            ]
        );
        for d in DECODERS {
            let spec: FrameSpec = d.framing.parse().unwrap();
            assert_eq!(spec.to_string(), d.framing, "{}", d.name);
            assert!(
                long_help().contains(&format!("  {:<8} ", d.name)),
                "{}",
                d.name
            );
            assert!(short_help().contains(d.name));
        }
        assert!(
            long_help().lines().all(|l| l.len() <= 80),
            "{}",
            long_help()
        );
        assert_eq!(
            Protocol::named("enip")
                .unwrap()
                .framing()
                .unwrap()
                .to_string(),
            "len=u16le,offset=2,header=24"
        );
        assert_eq!(
            Protocol::named("iec104")
                .unwrap()
                .framing()
                .unwrap()
                .to_string(),
            "len=u8,offset=1"
        );
    }

    #[test]
    fn requests_are_built_by_their_row() {
        let (protocol, bytes) = build_request("iec104 startdt-act", &Default::default()).unwrap();
        assert_eq!(protocol.name(), "iec104");
        assert_eq!(bytes, [0x68, 0x04, 0x07, 0, 0, 0]);
        let (protocol, bytes) = build_request("enip  list-identity", &Default::default()).unwrap();
        assert_eq!(protocol.name(), "enip");
        assert_eq!(&bytes[..4], &[0x63, 0, 0, 0]);
        assert_eq!(bytes.len(), 24);
        let err = |spec: &str| build_request(spec, &Default::default()).unwrap_err();
        assert!(err("").starts_with("empty"), "{}", err(""));
        assert!(
            err("mqtt x").contains("no requests for 'mqtt'"),
            "{}",
            err("mqtt x")
        );
        assert!(
            err("s7 x").contains("protocols with requests: modbus, enip, iec104"),
            "{}",
            err("s7 x")
        );
        assert!(err("enip").contains("which request?"), "{}", err("enip"));
        // Modbus goes out as RTU on a serial line, decoded as such.
        let serial = RequestContext {
            sequence: 3,
            serial: true,
        };
        let (protocol, bytes) = build_request("modbus read-holding count=10", &serial).unwrap();
        assert_eq!(protocol.name(), "modbus-rtu");
        assert_eq!(bytes, [1, 3, 0, 0, 0, 10, 0xc5, 0xcd]);
        let (protocol, bytes) = build_request(
            "modbus read-holding count=10",
            &RequestContext {
                serial: false,
                ..serial
            },
        )
        .unwrap();
        assert_eq!(protocol.name(), "modbus");
        assert_eq!(bytes[..2], [0, 3]);
        assert!(
            err("enip foo").contains("unknown enip request 'foo'"),
            "{}",
            err("enip foo")
        );
        assert!(
            err("iec104 interrogation ca=70000").contains("ca=70000"),
            "{}",
            err("iec104 interrogation ca=70000")
        );
    }

    #[test]
    fn differences_name_registers_by_address() {
        // Read 3 holding registers from 100; the device answers 7 16 9
        // where 7 15 9 was expected.
        let request = [0, 1, 0, 0, 0, 6, 1, 3, 0, 100, 0, 3];
        let expected = [0, 1, 0, 0, 0, 9, 1, 3, 6, 0, 7, 0, 15, 0, 9];
        let received = [0, 1, 0, 0, 0, 9, 1, 3, 6, 0, 7, 0, 16, 0, 9];
        assert_eq!(
            differences(modbus(), Side::Server, &expected, &received, Some(&request)),
            ["register 101: 16, expected 15"]
        );
        // Without the request, by position.
        assert_eq!(
            differences(modbus(), Side::Server, &expected, &received, None),
            ["register 1: 16, expected 15"]
        );
        // An exception instead of the values: the fields that differ.
        let exception = [0, 1, 0, 0, 0, 3, 1, 0x83, 2];
        let lines = differences(modbus(), Side::Server, &expected, &exception, None);
        assert!(
            lines.contains(&"kind: exception, expected response".to_string()),
            "{lines:?}"
        );
        assert!(
            lines.contains(&"exception: 2, expected none".to_string()),
            "{lines:?}"
        );
        // Alike, malformed, or not decoding: nothing to add.
        assert!(differences(modbus(), Side::Server, &expected, &expected, None).is_empty());
        assert!(differences(modbus(), Side::Server, &expected, b"junk", None).is_empty());
        assert!(differences(Protocol::None, Side::Server, &expected, &received, None).is_empty());
    }

    #[test]
    fn malformed_is_a_note_not_an_error() {
        let d = decode(modbus(), b"hello", Side::Client).unwrap();
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
            for p in DECODERS.iter().map(Protocol::One).chain([Protocol::Auto]) {
                let d = decode(p, &bytes, from).unwrap();
                prop_assert!(!d.summary.contains('\n'));
                prop_assert!(d.fields.is_object());
                // Text records build the summary alone: it must not differ.
                prop_assert_eq!(summary(p, &bytes, from), Some(d.summary));
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
            let d = decode(modbus(), &frame, Side::Client).unwrap();
            let tid_text = format!("tid={tid}");
            prop_assert!(d.summary.contains(&tid_text) || d.summary.contains("malformed: too short") || d.summary.contains("malformed: byte count") || d.summary.contains("odd count"), "{}", d.summary);
        }
    }
}
