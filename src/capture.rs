//! Conversations as files: the capture format (JSON Lines) that `listen`,
//! `send` and `repl` write, the hand-written script format, and the model
//! both (and pcap files, in `pcap.rs`) are read into for `replay`.
//!
//! Everything here is pure: it turns bytes into flows and events into lines.
//! Files are opened by the subcommands. The lines themselves are written by
//! `schema.rs` (shared with `-f json`); flows are `flow.rs`'s.

use std::{
    net::SocketAddr,
    time::{Duration, SystemTime},
};

use crate::flow::{Flow, Message};
use crate::schema::{write_header, Header, FORMAT_VERSION};
use crate::{
    record::{Event, Meta, Peer, Render, Role, Side, Transport},
    schema::write_event_line,
};

/// Where a capture or script is malformed: 1-based line (and column, for
/// payload syntax errors).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileError {
    pub line: usize,
    pub column: Option<usize>,
    pub reason: String,
}

impl std::fmt::Display for FileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.column {
            Some(column) => write!(f, "line {}, column {column}: {}", self.line, self.reason),
            None => write!(f, "line {}: {}", self.line, self.reason),
        }
    }
}

impl std::error::Error for FileError {}

fn line_error(line: usize, reason: impl Into<String>) -> FileError {
    FileError {
        line,
        column: None,
        reason: reason.into(),
    }
}

/// The lines of one capture file: the header (once, from the first
/// connection's or the server socket's address), then one line per event.
/// `t` counts from the moment the capture began, which for `repl
/// :capture` is mid-session.
#[derive(Debug, Clone)]
pub struct CaptureLines {
    role: Role,
    started: SystemTime,
    /// How long after the session clock's start the capture began.
    offset: Duration,
    header_written: bool,
}

impl CaptureLines {
    /// A capture beginning now, in a session whose clock is `clock`.
    pub fn new(role: Role, clock: &crate::record::Clock) -> CaptureLines {
        CaptureLines {
            role,
            started: SystemTime::now(),
            offset: clock.started.elapsed(),
            header_written: false,
        }
    }
}

impl Render for CaptureLines {
    fn start(&mut self, out: &mut Vec<u8>, transport: Transport, local: Peer) {
        if std::mem::replace(&mut self.header_written, true) {
            return;
        }
        let header = Header {
            started: self.started,
            transport,
            local,
            side: self.role,
        };
        write_header(out, &header);
    }

    fn render(&mut self, out: &mut Vec<u8>, meta: &Meta, event: Event<'_>) {
        let meta = Meta {
            elapsed: meta.elapsed.saturating_sub(self.offset),
            ..*meta
        };
        write_event_line(out, &meta, event);
    }
}

/// Whether a file looks like a capture: its first non-blank line is a JSON
/// object naming itself a p1ge0n capture.
pub fn is_capture(text: &str) -> bool {
    text.lines()
        .find(|l| !l.trim().is_empty())
        .is_some_and(|l| l.trim_start().starts_with('{') && l.contains("\"p1ge0n\""))
}

fn field<'a>(
    obj: &'a serde_json::Map<String, serde_json::Value>,
    key: &str,
    line: usize,
) -> Result<&'a serde_json::Value, FileError> {
    obj.get(key)
        .ok_or_else(|| line_error(line, format!("missing \"{key}\"")))
}

fn string_field<'a>(
    obj: &'a serde_json::Map<String, serde_json::Value>,
    key: &str,
    line: usize,
) -> Result<&'a str, FileError> {
    field(obj, key, line)?
        .as_str()
        .ok_or_else(|| line_error(line, format!("\"{key}\" must be a string")))
}

/// An address field: `IP:PORT`, or `unix:PATH` (no IP address: `None`).
/// The connection number a proxy's capture gives a gateway's own side of
/// the line (clients count from 1).
pub const GATEWAY_LINE_CONN: u64 = 0;

/// What a peer's address says of its transport (`serial:`, `unix:`), else
/// the file's.
fn peer_transport(obj: &serde_json::Map<String, serde_json::Value>, file: Transport) -> Transport {
    match obj.get("peer").and_then(|v| v.as_str()) {
        Some(text) if text.starts_with("serial:") => Transport::Serial,
        Some(text) if text.starts_with("unix:") => Transport::Unix,
        _ => file,
    }
}

fn addr_field(
    obj: &serde_json::Map<String, serde_json::Value>,
    key: &str,
    line: usize,
) -> Result<Option<SocketAddr>, FileError> {
    let text = string_field(obj, key, line)?;
    if text.starts_with("unix:") || text.starts_with("serial:") {
        return Ok(None);
    }
    text.parse()
        .map(Some)
        .map_err(|_| line_error(line, format!("\"{key}\": '{text}' is not an address")))
}

fn parse_header(text: &str, line: usize) -> Result<Header, FileError> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| line_error(line, format!("not JSON: {e}")))?;
    let obj = value
        .as_object()
        .ok_or_else(|| line_error(line, "the header must be a JSON object"))?;
    if obj.get("p1ge0n").and_then(|v| v.as_str()) != Some("capture") {
        return Err(line_error(
            line,
            "not a p1ge0n capture header (\"p1ge0n\":\"capture\")",
        ));
    }
    let version = field(obj, "version", line)?
        .as_u64()
        .ok_or_else(|| line_error(line, "\"version\" must be a number"))?;
    if version != FORMAT_VERSION {
        return Err(line_error(
            line,
            format!("capture version {version} is not supported (this p1ge0n reads version {FORMAT_VERSION})"),
        ));
    }
    let started_text = string_field(obj, "started", line)?;
    let started = humantime::parse_rfc3339(started_text)
        .map_err(|e| line_error(line, format!("\"started\": {e}")))?;
    let transport = match string_field(obj, "transport", line)? {
        "tcp" => Transport::Tcp,
        "udp" => Transport::Udp,
        "unix" => Transport::Unix,
        "serial" => Transport::Serial,
        other => {
            return Err(line_error(
                line,
                format!("unknown transport '{other}' (expected tcp, udp, unix or serial)"),
            ))
        }
    };
    let local = match addr_field(obj, "local", line)? {
        Some(addr) => Peer::Ip(addr),
        // Once per file: the header's path lives as long as the program.
        None => {
            let text = string_field(obj, "local", line)?;
            text.parse()
                .map_err(|_| line_error(line, format!("\"local\": '{text}' is not an address")))?
        }
    };
    let side = match obj.get("side").and_then(|v| v.as_str()) {
        None | Some("server") => Role::Server,
        Some("client") => Role::Client,
        Some("proxy") => Role::Proxy,
        Some(other) => {
            return Err(line_error(
                line,
                format!("unknown side '{other}' (expected client, server or proxy)"),
            ))
        }
    };
    Ok(Header {
        started,
        transport,
        local,
        side,
    })
}

/// Read a capture into one flow per connection number, in order of first
/// appearance. Every line is checked (hex, lengths, times, sides) so that a
/// damaged file is rejected before anything is sent.
pub fn read_capture(text: &str) -> Result<(Header, Vec<Flow>), FileError> {
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let (index, first) = lines.next().ok_or_else(|| line_error(1, "empty file"))?;
    let header = parse_header(first, index + 1)?;
    let mut flows: Vec<(u64, Flow)> = Vec::new();
    for (index, text) in lines {
        let line = index + 1;
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| line_error(line, format!("not JSON: {e}")))?;
        let obj = value
            .as_object()
            .ok_or_else(|| line_error(line, "an event must be a JSON object"))?;
        let t = field(obj, "t", line)?
            .as_f64()
            .filter(|t| t.is_finite() && *t >= 0.0)
            .ok_or_else(|| line_error(line, "\"t\" must be a number of seconds, 0 or more"))?;
        let conn = field(obj, "conn", line)?
            .as_u64()
            .ok_or_else(|| line_error(line, "\"conn\" must be a whole number"))?;
        let peer = addr_field(obj, "peer", line)?;
        let flow = match flows.iter().position(|(c, _)| *c == conn) {
            Some(i) => &mut flows[i].1,
            None => {
                let mut transport = header.transport;
                let (client, server) = match header.side {
                    // A gateway's own side of the line (`proxy --gateway`):
                    // the proxy is its client, and the line its server.
                    Role::Proxy if conn == GATEWAY_LINE_CONN => {
                        transport = peer_transport(obj, header.transport);
                        (None, peer)
                    }
                    // A proxy's local address is where clients connected.
                    Role::Server | Role::Proxy => (peer, header.local.ip()),
                    Role::Client => (header.local.ip(), peer),
                };
                flows.push((
                    conn,
                    Flow {
                        transport,
                        client,
                        server,
                        messages: Vec::new(),
                    },
                ));
                &mut flows.last_mut().expect("just pushed").1
            }
        };
        match string_field(obj, "event", line)? {
            "open" | "close" | "error" | "fault" => {}
            "data" => {
                let from = match string_field(obj, "from", line)? {
                    "client" => Side::Client,
                    "server" => Side::Server,
                    other => {
                        return Err(line_error(
                            line,
                            format!("\"from\": '{other}' is neither client nor server"),
                        ))
                    }
                };
                let hex_text = string_field(obj, "hex", line)?;
                let data = hex::decode(hex_text)
                    .map_err(|e| line_error(line, format!("bad \"hex\": {e}")))?;
                if let Some(len) = obj.get("len") {
                    if len.as_u64() != Some(data.len() as u64) {
                        return Err(line_error(
                            line,
                            format!("\"len\" is {len} but \"hex\" holds {} bytes", data.len()),
                        ));
                    }
                }
                let at = Duration::try_from_secs_f64(t)
                    .ok()
                    .filter(|d| *d <= crate::units::MAX_DURATION)
                    .ok_or_else(|| {
                        line_error(line, format!("\"t\": {t} seconds is out of range"))
                    })?;
                flow.messages.push(Message { at, from, data });
            }
            other => {
                return Err(line_error(
                    line,
                    format!("unknown event '{other}' (expected open, data, close, error)"),
                ))
            }
        }
    }
    Ok((header, flows.into_iter().map(|(_, f)| f).collect()))
}

/// Read a hand-written script: `> PAYLOAD` sends, `< PAYLOAD` is the
/// expected reply, `+DUR` pauses, `#` starts a comment line, blank lines are
/// ignored. After `>`/`<` one space is optional; the rest of the line is the
/// payload (`mode` says text or hex).
pub fn read_script(text: &str, mode: crate::payload::PayloadMode) -> Result<Flow, FileError> {
    let mut at = Duration::ZERO;
    let mut messages = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let indent = raw.len() - raw.trim_start().len();
        let body = raw.trim_start();
        let Some(directive) = body.chars().next() else {
            continue;
        };
        match directive {
            '#' => {}
            '>' | '<' => {
                let rest = &body[1..];
                let (payload, skipped) = match rest.strip_prefix(' ') {
                    Some(p) => (p, 2),
                    None => (rest, 1),
                };
                let data = crate::payload::parse(payload, mode).map_err(|e| FileError {
                    line,
                    column: Some(raw[..indent].chars().count() + skipped + e.column),
                    reason: e.reason,
                })?;
                let from = if directive == '>' { Side::Client } else { Side::Server };
                messages.push(Message { at, from, data });
            }
            '+' => {
                let pause = crate::units::parse_duration_at(&body[1..]).map_err(|(column, reason)| {
                    FileError {
                        line,
                        // The duration starts after the indent and the '+'.
                        column: column.map(|c| raw[..indent].chars().count() + 1 + c),
                        reason: format!("bad pause '{}': {reason}", body.trim_end()),
                    }
                })?;
                at = at
                    .checked_add(pause)
                    .filter(|d| *d <= crate::units::MAX_DURATION)
                    .ok_or_else(|| line_error(line, "the pauses add up to more than 3650 days"))?;
            }
            other => {
                return Err(FileError {
                    line,
                    column: Some(indent + 1),
                    reason: format!(
                        "unknown directive '{other}' (expected '> PAYLOAD', '< PAYLOAD', '+DUR' or '# comment')"
                    ),
                })
            }
        }
    }
    if !messages.iter().any(|m| m.from == Side::Client) {
        return Err(line_error(
            text.lines().count().max(1),
            "the script sends nothing (no '> PAYLOAD' line)",
        ));
    }
    Ok(Flow {
        transport: Transport::Tcp,
        client: None,
        server: None,
        messages,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payload::PayloadMode;
    use crate::schema::write_data_line;
    use proptest::prelude::*;
    use std::time::SystemTime;

    fn header() -> Header {
        Header {
            started: SystemTime::UNIX_EPOCH + Duration::from_secs(1_764_075_600),
            transport: Transport::Tcp,
            local: "0.0.0.0:9000".parse().unwrap(),
            side: Role::Server,
        }
    }

    #[test]
    fn a_gateways_line_is_its_own_serial_flow() {
        let text = concat!(
            r#"{"p1ge0n":"capture","version":1,"started":"2026-12-06T16:27:30Z","transport":"tcp","local":"127.0.0.1:502","side":"proxy"}"#,
            "\n",
            r#"{"t":0.1,"conn":1,"peer":"127.0.0.1:40000","event":"data","from":"client","len":1,"hex":"01"}"#,
            "\n",
            r#"{"t":0.2,"conn":0,"peer":"serial:/dev/ttyUSB0","event":"data","from":"client","len":1,"hex":"02"}"#,
            "\n",
        );
        let (_, flows) = read_capture(text).unwrap();
        assert_eq!(flows[0].transport, Transport::Tcp);
        assert_eq!(flows[0].client, Some("127.0.0.1:40000".parse().unwrap()));
        assert_eq!(flows[1].transport, Transport::Serial);
        assert_eq!((flows[1].client, flows[1].server), (None, None));
        assert_eq!(flows[1].messages[0].data, [2]);
    }

    fn sample() -> String {
        let mut out = Vec::new();
        write_header(&mut out, &header());
        let meta = |t: f64, conn| Meta {
            elapsed: Duration::from_secs_f64(t),
            wall: SystemTime::now(),
            conn,
            peer: "10.0.0.5:49152".parse().unwrap(),
        };
        write_event_line(&mut out, &meta(0.001, 1), Event::Open);
        write_data_line(&mut out, &meta(0.012345, 1), Side::Client, b"HELLO\r\n");
        write_data_line(&mut out, &meta(0.0125, 1), Side::Server, b"HELLO\r\n");
        write_event_line(&mut out, &meta(0.02, 2), Event::Open);
        write_data_line(&mut out, &meta(0.021, 2), Side::Client, &[0, 255]);
        write_event_line(&mut out, &meta(0.03, 1), Event::Close);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn header_is_the_documented_line() {
        let mut out = Vec::new();
        write_header(&mut out, &header());
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"p1ge0n\":\"capture\",\"version\":1,\"started\":\"2025-11-25T13:00:00.000000Z\",\"transport\":\"tcp\",\"local\":\"0.0.0.0:9000\",\"side\":\"server\"}\n"
        );
    }

    #[test]
    fn what_we_write_we_read() {
        let text = sample();
        assert!(is_capture(&text));
        let (h, flows) = read_capture(&text).unwrap();
        assert_eq!(h, header());
        assert_eq!(flows.len(), 2);
        assert_eq!(flows[0].client, Some("10.0.0.5:49152".parse().unwrap()));
        assert_eq!(flows[0].messages.len(), 2);
        assert_eq!(flows[0].messages[0].from, Side::Client);
        assert_eq!(flows[0].messages[0].data, b"HELLO\r\n");
        assert_eq!(flows[0].messages[0].at, Duration::from_micros(12345));
        assert_eq!(flows[0].messages[1].from, Side::Server);
        assert_eq!(flows[1].messages[0].data, vec![0, 255]);
        assert_eq!(flows[0].totals(Side::Client), (1, 7));
    }

    #[test]
    fn damaged_captures_name_the_line() {
        let good = sample();
        let lines: Vec<&str> = good.lines().collect();
        let with = |n: usize, replacement: &str| {
            let mut l = lines.clone();
            l[n] = replacement;
            read_capture(&l.join("\n")).unwrap_err().to_string()
        };
        let bad_hex = lines[2].replace("48454c4c4f0d0a", "48454c4c4f0d0");
        assert!(
            with(2, &bad_hex).starts_with("line 3: bad \"hex\""),
            "{}",
            with(2, &bad_hex)
        );
        let bad_len = lines[2].replace("\"len\":7", "\"len\":8");
        assert!(with(2, &bad_len).starts_with("line 3: \"len\" is 8"));
        assert!(with(3, "{\"t\":1").starts_with("line 4: not JSON"));
        let bad_from = lines[2].replace("\"from\":\"client\"", "\"from\":\"robot\"");
        assert!(with(2, &bad_from).contains("line 3: \"from\": 'robot'"));
        let bad_event = lines[1].replace("open", "opened");
        assert!(with(1, &bad_event).contains("line 2: unknown event 'opened'"));
        let bad_t = lines[2].replace("\"t\":0.012345", "\"t\":-1");
        assert!(with(2, &bad_t).starts_with("line 3: \"t\""));
        let v2 = lines[0].replace("\"version\":1", "\"version\":2");
        assert!(with(0, &v2).contains("line 1: capture version 2 is not supported"));
        assert!(read_capture("")
            .unwrap_err()
            .to_string()
            .contains("empty file"));
    }

    #[test]
    fn scripts() {
        let flow = read_script(
            "# login\n> USER x\\r\\n\n< OK\\r\\n\n+50ms\n>PING\n\n  < PONG\n",
            PayloadMode::Text,
        )
        .unwrap();
        let m = &flow.messages;
        assert_eq!(m.len(), 4);
        assert_eq!(
            (m[0].from, m[0].data.as_slice(), m[0].at),
            (Side::Client, &b"USER x\r\n"[..], Duration::ZERO)
        );
        assert_eq!(
            (m[1].from, m[1].data.as_slice()),
            (Side::Server, &b"OK\r\n"[..])
        );
        assert_eq!(
            (m[2].data.as_slice(), m[2].at),
            (&b"PING"[..], Duration::from_millis(50))
        );
        assert_eq!(m[3].data, b"PONG");
        let hex = read_script("> 02 41 03\n< 06\n", PayloadMode::Hex).unwrap();
        assert_eq!(hex.messages[0].data, vec![2, 0x41, 3]);
    }

    #[test]
    fn bad_scripts_name_line_and_column() {
        let err = |s: &str| read_script(s, PayloadMode::Text).unwrap_err().to_string();
        assert_eq!(
            err("> ok\n! nope\n"),
            "line 2, column 1: unknown directive '!' (expected '> PAYLOAD', '< PAYLOAD', '+DUR' or '# comment')"
        );
        assert!(
            err("> ok\n>  bad \\q\n").starts_with("line 2, column 8: unknown escape '\\q'"),
            "{}",
            err("> ok\n>  bad \\q\n")
        );
        assert!(
            err("> ok\n+5x\n").starts_with("line 2, column 3: bad pause '+5x': unknown unit 'x'")
        );
        assert!(err("# only a comment\n").contains("sends nothing"));
    }

    proptest! {
        #[test]
        fn readers_never_panic(text in ".{0,200}") {
            let _ = read_capture(&text);
            let _ = read_script(&text, PayloadMode::Text);
            let _ = read_script(&text, PayloadMode::Hex);
        }

        #[test]
        fn capture_round_trips_any_bytes(chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 1..10)) {
            let mut out = Vec::new();
            write_header(&mut out, &header());
            for (i, chunk) in chunks.iter().enumerate() {
                let meta = Meta { elapsed: Duration::from_millis(i as u64), wall: SystemTime::now(), conn: 1, peer: "[::1]:5".parse().unwrap() };
                let from = if i % 2 == 0 { Side::Client } else { Side::Server };
                write_data_line(&mut out, &meta, from, chunk);
            }
            let (_, flows) = read_capture(std::str::from_utf8(&out).unwrap()).unwrap();
            let read: Vec<Vec<u8>> = flows[0].messages.iter().map(|m| m.data.clone()).collect();
            prop_assert_eq!(read, chunks);
        }
    }
}
