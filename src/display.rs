//! Rendering of traffic records for `-f/--format` on stdout.
//!
//! Every byte p1ge0n moves can be echoed to stdout, which puts this module on
//! the hot path right behind the socket: it has to keep up with a busy
//! loopback link and must stay well ahead of `hexdump -C` (the tool people
//! would otherwise pipe into). So everything here appends into a
//! caller-owned `Vec<u8>` that the caller reuses and flushes in one write,
//! bytes are rendered through lookup tables, and nothing is allocated or
//! `format!`ed per byte or per line.
//!
//! The module is pure (no I/O) so that the exact bytes of each format can be
//! pinned down by tests, and so that the same code serves stdout records,
//! the repl's terminal and `send --expect` / `replay --verify` mismatch
//! reports (`hexdump_into`). The `json` format is the capture schema, which
//! lives in `capture.rs`.

use std::{
    fmt,
    str::FromStr,
    time::{SystemTime, UNIX_EPOCH},
};

use crate::{
    append::{push_peer, push_u64, put_digits, HEX_PAIRS},
    payload::escape_into,
    record::{Direction, Event, Meta, Render, Role, Side},
};

/// How `-f/--format` renders traffic on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    #[default]
    Text,
    Hex,
    Hexdump,
    Json,
    Raw,
}

impl Format {
    /// Indexed by discriminant, so keep it in declaration order.
    pub const NAMES: &'static [&'static str] = &["text", "hex", "hexdump", "json", "raw"];
    const ALL: [Format; 5] = [
        Format::Text,
        Format::Hex,
        Format::Hexdump,
        Format::Json,
        Format::Raw,
    ];

    pub fn name(self) -> &'static str {
        Self::NAMES[self as usize]
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|f| f.name() == s)
            .ok_or_else(|| format!("unknown format '{s}' (expected {})", Self::NAMES.join(", ")))
    }
}

/// The `hexdump -C` right-hand column: printable ASCII as is, else '.'.
static ASCII_COLUMN: [u8; 256] = {
    let mut table = [b'.'; 256];
    let mut i = 0x20;
    while i <= 0x7e {
        table[i] = i as u8;
        i += 1;
    }
    table
};

/// Bytes in one full `hexdump -C` line including the newline: 8 offset
/// digits, 2 spaces, 16 "xx " groups plus the mid-line space, a space, then
/// `|` + 16 chars + `|` and `\n`.
const HEXDUMP_LINE_LEN: usize = 79;
/// Column of the opening `|`; fixed, which is what aligns short last lines.
const HEXDUMP_ASCII_BAR: usize = 60;

/// Whether record headers carry terminal colours. The caller decides
/// (stdout is a terminal and `NO_COLOR` is unset); payloads are never
/// coloured, so copying a record still gives the exact escaped bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Plain,
    Color,
}

/// Renders records in one `-f` format, for one role: the role turns "who
/// sent it" into `recv`/`sent`, so no caller can pair them wrongly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Renderer {
    pub format: Format,
    pub style: Style,
    pub role: Role,
}

impl Renderer {
    pub fn new(format: Format, style: Style, role: Role) -> Renderer {
        Renderer {
            format,
            style,
            role,
        }
    }

    /// Append one event: data in every format; connection events only in
    /// JSON (the other formats show traffic, and stderr tells the rest).
    pub fn event(&self, out: &mut Vec<u8>, meta: &Meta, event: Event<'_>) {
        match event {
            Event::Data { from, bytes } => self.data(out, meta, from, bytes),
            _ if self.format == Format::Json => crate::schema::write_event_line(out, meta, event),
            Event::Fault {
                from,
                number,
                kind,
                detail,
            } if self.format != Format::Raw => self.fault(out, meta, from, number, kind, detail),
            _ => {}
        }
    }

    /// Append one fault record (text, hex, hexdump):
    /// `TIME #CONN PEER fault drop client>server #12`, then the detail in
    /// parentheses when there is one.
    fn fault(
        &self,
        out: &mut Vec<u8>,
        meta: &Meta,
        from: Side,
        number: u64,
        kind: &str,
        detail: &str,
    ) {
        let (dim, loud, reset): (&[u8], &[u8], &[u8]) = match self.style {
            Style::Plain => (b"", b"", b""),
            Style::Color => (b"\x1b[2m", b"\x1b[31m", b"\x1b[0m"),
        };
        write_who_and_when(out, dim, reset, meta);
        out.extend_from_slice(loud);
        out.extend_from_slice(b"fault ");
        out.extend_from_slice(kind.as_bytes());
        out.extend_from_slice(reset);
        out.push(b' ');
        out.extend_from_slice(self.role.direction(from).as_str().as_bytes());
        out.extend_from_slice(b" #");
        push_u64(out, number);
        if !detail.is_empty() {
            out.extend_from_slice(b" (");
            out.extend_from_slice(detail.as_bytes());
            out.push(b')');
        }
        out.push(b'\n');
    }

    /// Append one data record: `from` sent `data`.
    pub fn data(&self, out: &mut Vec<u8>, meta: &Meta, from: Side, data: &[u8]) {
        let dir = self.role.direction(from);
        let style = self.style;
        let write_header = |out: &mut Vec<u8>, meta: &Meta, dir: Direction, len: usize| {
            write_header(out, style, meta, dir, len)
        };
        match self.format {
            Format::Text => {
                // Escaping can grow the payload up to 4x; reserving the common
                // 1x plus header is enough to avoid most regrowth without
                // over-committing memory for large records.
                out.reserve(64 + data.len());
                write_header(out, meta, dir, data.len());
                if !data.is_empty() {
                    out.push(b' ');
                    escape_into(out, data);
                }
                out.push(b'\n');
            }
            Format::Hex => {
                out.reserve(64 + data.len() * 3);
                write_header(out, meta, dir, data.len());
                if !data.is_empty() {
                    out.push(b' ');
                    hex_spaced_into(out, data);
                }
                out.push(b'\n');
            }
            Format::Hexdump => {
                out.reserve(64 + data.len().div_ceil(16) * HEXDUMP_LINE_LEN);
                write_header(out, meta, dir, data.len());
                out.push(b'\n');
                hexdump_into(out, data);
            }
            Format::Json => crate::schema::write_data_line(out, meta, from, data),
            Format::Raw => out.extend_from_slice(data),
        }
    }
}

/// Stdout records: what a subcommand shows of the events it sees.
#[derive(Debug, Clone, Copy)]
pub struct Records {
    pub renderer: Renderer,
    /// Show the data we sent, not only what the peer sent (`listen` shows
    /// what clients send, not its echo; clients' `raw` output is the peer's
    /// bytes only, so it can be piped onwards).
    pub ours: bool,
    /// Show connection events (only the JSON format has them).
    pub events: bool,
    /// `--decode`: a protocol summary with each data record.
    pub decode: crate::decode::Protocol,
}

impl Records {
    /// What a client (send, repl, replay) shows: both directions, except
    /// in `raw`, which is the peer's bytes only so it can be piped onwards.
    /// No connection events (see [`Records::with_events`]).
    pub fn client(format: Format, style: Style, decode: crate::decode::Protocol) -> Records {
        Records {
            renderer: Renderer::new(format, style, Role::Client),
            ours: format != Format::Raw,
            events: false,
            decode,
        }
    }

    /// What a server shows: `listen` shows what clients send, not its
    /// echo; a proxy shows both directions. JSON carries connection events.
    pub fn server(
        format: Format,
        style: Style,
        role: Role,
        decode: crate::decode::Protocol,
    ) -> Records {
        Records {
            renderer: Renderer::new(format, style, role),
            ours: role == Role::Proxy,
            events: true,
            decode,
        }
    }

    /// Show connection events too (only the JSON format has them).
    pub fn with_events(self) -> Records {
        Records {
            events: true,
            ..self
        }
    }
}

impl Render for Records {
    fn render(&mut self, out: &mut Vec<u8>, meta: &Meta, event: Event<'_>) {
        match event {
            Event::Data { from, .. }
                if !self.ours && self.renderer.role.direction(from) == Direction::Sent => {}
            Event::Data { from, bytes } => {
                let start = out.len();
                self.renderer.event(out, meta, event);
                annotate(out, start, self.renderer.format, self.decode, bytes, from);
            }
            // Faults show in every format: they are what the proxy did.
            Event::Fault { .. } => self.renderer.event(out, meta, event),
            _ if self.events => self.renderer.event(out, meta, event),
            _ => {}
        }
    }
}

/// Add what `--decode` finds in `bytes` to the record that starts at
/// `start`: an indented line after the record's header line (text, hex,
/// hexdump; only the summary is built), or a `"decoded"` object (JSON). Raw
/// output stays the bytes alone, and nothing is decoded for it.
fn annotate(
    out: &mut Vec<u8>,
    start: usize,
    format: Format,
    protocol: crate::decode::Protocol,
    bytes: &[u8],
    from: Side,
) {
    match format {
        Format::Raw => {}
        Format::Json => {
            // The line ends `}\n`: reopen it for one more key.
            let Some(decoded) = crate::decode::decode(protocol, bytes, from) else {
                return;
            };
            if out.ends_with(b"}\n") {
                out.truncate(out.len() - 2);
                out.extend_from_slice(b",\"decoded\":");
                out.extend_from_slice(decoded.fields.to_string().as_bytes());
                out.extend_from_slice(b"}\n");
            }
        }
        Format::Text | Format::Hex | Format::Hexdump => {
            let Some(summary) = crate::decode::summary(protocol, bytes, from) else {
                return;
            };
            let header_end = out[start..]
                .iter()
                .position(|&b| b == b'\n')
                .map_or(out.len(), |i| start + i + 1);
            let mut line = Vec::with_capacity(summary.len() + 5);
            line.extend_from_slice(b"    ");
            line.extend_from_slice(summary.as_bytes());
            line.push(b'\n');
            out.splice(header_end..header_end, line);
        }
    }
}

/// Append a comparison of an expected and a received payload: both as
/// `hexdump -C` lines, then where they first differ (used by `send --expect`
/// and `replay --verify`, so a mismatch reads the same everywhere).
pub fn mismatch_into(out: &mut Vec<u8>, expected: &[u8], received: &[u8]) {
    out.extend_from_slice(format!("expected ({} bytes):\n", expected.len()).as_bytes());
    hexdump_into(out, expected);
    out.extend_from_slice(format!("received ({} bytes):\n", received.len()).as_bytes());
    hexdump_into(out, received);
    let first = received
        .iter()
        .zip(expected)
        .position(|(a, b)| a != b)
        .unwrap_or(expected.len().min(received.len()));
    out.extend_from_slice(format!("first difference at byte {first}\n").as_bytes());
}

/// Append the bytes as `hexdump -C` lines (used by write_data and by
/// `send --expect` mismatch reports).
///
/// Two deliberate differences from `hexdump -C`: repeated lines are never
/// squeezed into `*` (a record is short and every line should be greppable
/// by offset), and there is no trailing total-offset line (callers print the
/// length elsewhere). An empty slice appends nothing.
pub fn hexdump_into(out: &mut Vec<u8>, data: &[u8]) {
    out.reserve(data.len().div_ceil(16) * HEXDUMP_LINE_LEN);
    let mut chunks = data.chunks_exact(16);
    let mut offset = 0usize;
    for chunk in &mut chunks {
        hexdump_line(out, offset, chunk);
        offset += 16;
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        hexdump_line(out, offset, rest);
    }
}

/// UTC wall clock as HH:MM:SS.ffffff.
pub fn clock_into(out: &mut Vec<u8>, wall: SystemTime) {
    const DAY_SECS: u64 = 86_400;
    let (day_secs, micros) = match wall.duration_since(UNIX_EPOCH) {
        Ok(d) => (d.as_secs() % DAY_SECS, u64::from(d.subsec_micros())),
        Err(before) => {
            // Only reachable with a badly set clock; floor to the microsecond
            // so the clock still reads "just before midnight", not "00:00".
            let d = before.duration();
            let back = d.as_micros() + u128::from(d.subsec_nanos() % 1000 != 0);
            let day_us = u128::from(DAY_SECS) * 1_000_000;
            let us = (day_us - back % day_us) % day_us;
            ((us / 1_000_000) as u64, (us % 1_000_000) as u64)
        }
    };
    let mut buf = *b"00:00:00.000000";
    put_digits(&mut buf[0..2], day_secs / 3600);
    put_digits(&mut buf[3..5], day_secs / 60 % 60);
    put_digits(&mut buf[6..8], day_secs % 60);
    put_digits(&mut buf[9..15], micros);
    out.extend_from_slice(&buf);
}

/// `{clock} #{conn} {peer} {dir} {len}` — shared by text, hex and hexdump.
fn write_header(out: &mut Vec<u8>, style: Style, meta: &Meta, dir: Direction, len: usize) {
    // Dim time, green "recv" (and what goes to the client), cyan "sent"
    // (and what goes to the server); the rest plain.
    let (dim, direction, reset): (&[u8], &[u8], &[u8]) = match (style, dir) {
        (Style::Plain, _) => (b"", b"", b""),
        (Style::Color, Direction::Recv | Direction::ToClient) => {
            (b"\x1b[2m", b"\x1b[32m", b"\x1b[0m")
        }
        (Style::Color, Direction::Sent | Direction::ToServer) => {
            (b"\x1b[2m", b"\x1b[36m", b"\x1b[0m")
        }
    };
    write_who_and_when(out, dim, reset, meta);
    out.extend_from_slice(direction);
    out.extend_from_slice(dir.as_str().as_bytes());
    out.extend_from_slice(reset);
    out.push(b' ');
    push_u64(out, len as u64);
}

/// What starts every text record: `TIME #CONN PEER ` (the time dimmed).
fn write_who_and_when(out: &mut Vec<u8>, dim: &[u8], reset: &[u8], meta: &Meta) {
    out.extend_from_slice(dim);
    clock_into(out, meta.wall);
    out.extend_from_slice(reset);
    out.extend_from_slice(b" #");
    push_u64(out, meta.conn);
    out.push(b' ');
    push_peer(out, &meta.peer);
    out.push(b' ');
}

/// Lowercase hex bytes separated by single spaces, no trailing space.
fn hex_spaced_into(out: &mut Vec<u8>, data: &[u8]) {
    let start = out.len();
    out.resize(start + data.len() * 3, b' ');
    for (dst, &b) in out[start..].chunks_exact_mut(3).zip(data) {
        dst[..2].copy_from_slice(&HEX_PAIRS[b as usize]);
    }
    // Each group was written as "xx "; drop the last group's separator.
    out.pop();
}

/// One `hexdump -C` line for up to 16 bytes at `offset`.
#[inline(always)]
fn hexdump_line(out: &mut Vec<u8>, offset: usize, chunk: &[u8]) {
    debug_assert!(!chunk.is_empty() && chunk.len() <= 16);
    // Starting from an all-space template makes the padding of a short last
    // line free: it is simply the part of the hex column left untouched.
    let mut line = [b' '; HEXDUMP_LINE_LEN];
    // hexdump widens the offset past 8 digits rather than wrapping; only
    // reachable for inputs over 4 GiB, so it stays off the fast path.
    let high = offset as u64 >> 32;
    if high != 0 {
        push_hex_min(out, high);
    }
    for (i, b) in (offset as u32).to_be_bytes().into_iter().enumerate() {
        line[2 * i..2 * i + 2].copy_from_slice(&HEX_PAIRS[b as usize]);
    }
    for (i, &b) in chunk.iter().enumerate() {
        let at = 10 + 3 * i + usize::from(i >= 8);
        line[at..at + 2].copy_from_slice(&HEX_PAIRS[b as usize]);
        line[HEXDUMP_ASCII_BAR + 1 + i] = ASCII_COLUMN[b as usize];
    }
    line[HEXDUMP_ASCII_BAR] = b'|';
    let end = HEXDUMP_ASCII_BAR + 1 + chunk.len();
    line[end] = b'|';
    line[end + 1] = b'\n';
    out.extend_from_slice(&line[..end + 2]);
}

fn push_hex_min(out: &mut Vec<u8>, n: u64) {
    let digits = (64 - n.leading_zeros()).div_ceil(4).max(1);
    for shift in (0..digits).rev() {
        out.push(b"0123456789abcdef"[(n >> (shift * 4)) as usize & 0xf]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{json_lossy_into, write_event_line as write_event_json};
    use proptest::prelude::*;
    use std::{net::SocketAddr, time::Duration};

    /// The records of a server (listen), whose pairs of sender and
    /// direction the tests below use.
    fn write_data_styled(
        out: &mut Vec<u8>,
        format: Format,
        style: Style,
        meta: &Meta,
        from: Side,
        dir: Direction,
        data: &[u8],
    ) {
        assert_eq!(Role::Server.direction(from), dir);
        Renderer::new(format, style, Role::Server).data(out, meta, from, data);
    }

    fn write_data(
        out: &mut Vec<u8>,
        format: Format,
        meta: &Meta,
        from: Side,
        dir: Direction,
        data: &[u8],
    ) {
        write_data_styled(out, format, Style::Plain, meta, from, dir, data);
    }
    use std::net::{Ipv4Addr, SocketAddrV4};

    /// 2025-11-25 14:20:33.123456 UTC.
    fn wall() -> SystemTime {
        UNIX_EPOCH + Duration::new(1_764_080_433, 123_456_000)
    }

    fn meta(peer: &str) -> Meta {
        Meta {
            elapsed: Duration::from_micros(12_345),
            wall: wall(),
            conn: 1,
            peer: peer.parse().unwrap(),
        }
    }

    fn render(format: Format, peer: &str, dir: Direction, data: &[u8]) -> String {
        let mut out = Vec::new();
        let from = Role::Server.sender(dir);
        write_data(&mut out, format, &meta(peer), from, dir, data);
        String::from_utf8(out).unwrap()
    }

    fn hexdump(data: &[u8]) -> String {
        let mut out = Vec::new();
        hexdump_into(&mut out, data);
        String::from_utf8(out).unwrap()
    }

    fn event(ev: Event<'_>) -> String {
        let mut out = Vec::new();
        write_event_json(&mut out, &meta("10.0.0.5:49152"), ev);
        String::from_utf8(out).unwrap()
    }

    /// The bytes hexdump -C was run on to obtain the expected lines below.
    const B20: &[u8] = b"\x00\x01HELLO, world!\r\n\x7f\x80\xff";

    #[test]
    fn format_names_round_trip() {
        for (f, name) in Format::ALL.into_iter().zip(Format::NAMES) {
            assert_eq!(f.name(), *name);
            assert_eq!(f.to_string(), *name);
            assert_eq!(name.parse::<Format>(), Ok(f));
        }
        assert_eq!(Format::default(), Format::Text);
    }

    #[test]
    fn unknown_format_message() {
        assert_eq!(
            "x".parse::<Format>(),
            Err("unknown format 'x' (expected text, hex, hexdump, json, raw)".to_string())
        );
    }

    #[test]
    fn text_line() {
        assert_eq!(
            render(
                Format::Text,
                "127.0.0.1:49152",
                Direction::Recv,
                b"HELLO\r\n"
            ),
            "14:20:33.123456 #1 127.0.0.1:49152 recv 7 HELLO\\r\\n\n"
        );
    }

    #[test]
    fn text_escapes_non_printables() {
        assert_eq!(
            render(
                Format::Text,
                "127.0.0.1:1",
                Direction::Sent,
                b"a\\b\x00\x1b\t\x7f\xff "
            ),
            "14:20:33.123456 #1 127.0.0.1:1 sent 9 a\\\\b\\0\\e\\t\\x7f\\xff \n"
        );
    }

    #[test]
    fn hex_line() {
        assert_eq!(
            render(
                Format::Hex,
                "127.0.0.1:49152",
                Direction::Recv,
                b"HELLO\r\n"
            ),
            "14:20:33.123456 #1 127.0.0.1:49152 recv 7 48 45 4c 4c 4f 0d 0a\n"
        );
    }

    #[test]
    fn empty_payload_ends_after_length() {
        for f in [Format::Text, Format::Hex, Format::Hexdump] {
            assert_eq!(
                render(f, "127.0.0.1:49152", Direction::Sent, b""),
                "14:20:33.123456 #1 127.0.0.1:49152 sent 0\n",
                "{f}"
            );
        }
        assert_eq!(render(Format::Raw, "127.0.0.1:1", Direction::Recv, b""), "");
        assert_eq!(hexdump(b""), "");
    }

    #[test]
    fn ipv6_peer() {
        assert_eq!(
            render(Format::Text, "[::1]:5000", Direction::Recv, b"hi"),
            "14:20:33.123456 #1 [::1]:5000 recv 2 hi\n"
        );
        let mut out = Vec::new();
        write_event_json(&mut out, &meta("[fe80::1%3]:5000"), Event::Open);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"t\":0.012345,\"conn\":1,\"peer\":\"[fe80::1%3]:5000\",\"event\":\"open\"}\n"
        );
    }

    #[test]
    fn hexdump_matches_hexdump_c() {
        // Lines copied from `hexdump -C` on B20 (its final offset line dropped).
        assert_eq!(
            render(Format::Hexdump, "127.0.0.1:49152", Direction::Recv, B20),
            "14:20:33.123456 #1 127.0.0.1:49152 recv 20\n\
             00000000  00 01 48 45 4c 4c 4f 2c  20 77 6f 72 6c 64 21 0d  |..HELLO, world!.|\n\
             00000010  0a 7f 80 ff                                       |....|\n"
        );
    }

    #[test]
    fn hexdump_short_lines_align_like_hexdump_c() {
        // From `head -c N b20.bin | hexdump -C`.
        let cases: [(usize, &str); 5] = [
            (
                3,
                "00000000  00 01 48                                          |..H|\n",
            ),
            (
                8,
                "00000000  00 01 48 45 4c 4c 4f 2c                           |..HELLO,|\n",
            ),
            (
                9,
                "00000000  00 01 48 45 4c 4c 4f 2c  20                       |..HELLO, |\n",
            ),
            (
                16,
                "00000000  00 01 48 45 4c 4c 4f 2c  20 77 6f 72 6c 64 21 0d  |..HELLO, world!.|\n",
            ),
            (
                17,
                "00000000  00 01 48 45 4c 4c 4f 2c  20 77 6f 72 6c 64 21 0d  |..HELLO, world!.|\n\
                  00000010  0a                                                |.|\n",
            ),
        ];
        for (n, want) in cases {
            assert_eq!(hexdump(&B20[..n]), want, "{n} bytes");
        }
    }

    #[test]
    fn hexdump_does_not_squeeze_repeats() {
        assert_eq!(hexdump(&[0; 48]).lines().count(), 3);
    }

    #[test]
    fn hexdump_offset_widens_past_4gib() {
        let mut out = Vec::new();
        hexdump_line(&mut out, 0x1_0000_0010, b"A");
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "100000010  41                                                |A|\n"
        );
    }

    #[test]
    fn fault_records_in_text_and_json() {
        let fault = Event::Fault {
            from: Side::Client,
            number: 12,
            kind: "drop",
            detail: "",
        };
        let records = |format| {
            let mut r = Records::server(format, Style::Plain, Role::Proxy, Default::default());
            let mut out = Vec::new();
            r.render(&mut out, &meta("10.0.0.5:49152"), fault);
            String::from_utf8(out).unwrap()
        };
        assert_eq!(
            records(Format::Text),
            "14:20:33.123456 #1 10.0.0.5:49152 fault drop client>server #12\n"
        );
        assert_eq!(records(Format::Hex), records(Format::Text));
        assert_eq!(records(Format::Raw), "");
        assert_eq!(
            records(Format::Json),
            "{\"t\":0.012345,\"conn\":1,\"peer\":\"10.0.0.5:49152\",\"event\":\"fault\",\
             \"fault\":\"drop\",\"from\":\"client\",\"message\":12}\n"
        );
        let mut out = Vec::new();
        let corrupt = Event::Fault {
            from: Side::Server,
            number: 3,
            kind: "corrupt",
            detail: "bit 5",
        };
        Records::client(Format::Text, Style::Plain, Default::default()).render(
            &mut out,
            &meta("10.0.0.5:49152"),
            corrupt,
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "14:20:33.123456 #1 10.0.0.5:49152 fault corrupt recv #3 (bit 5)\n"
        );
    }

    #[test]
    fn json_data_line() {
        let mut out = Vec::new();
        let m = meta("10.0.0.5:49152");
        write_data(
            &mut out,
            Format::Json,
            &m,
            Side::Client,
            Direction::Recv,
            b"HELLO\r\n",
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"t\":0.012345,\"conn\":1,\"peer\":\"10.0.0.5:49152\",\"event\":\"data\",\
             \"from\":\"client\",\"len\":7,\"hex\":\"48454c4c4f0d0a\",\"text\":\"HELLO\\r\\n\"}\n"
        );
    }

    #[test]
    fn json_t_has_six_decimals() {
        let mut m = meta("10.0.0.5:1");
        m.elapsed = Duration::new(3725, 999_999_999);
        m.conn = 42;
        let mut out = Vec::new();
        write_data(
            &mut out,
            Format::Json,
            &m,
            Side::Server,
            Direction::Sent,
            b"",
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"t\":3725.999999,\"conn\":42,\"peer\":\"10.0.0.5:1\",\"event\":\"data\",\
             \"from\":\"server\",\"len\":0,\"hex\":\"\",\"text\":\"\"}\n"
        );
    }

    #[test]
    fn json_events() {
        let head = "{\"t\":0.012345,\"conn\":1,\"peer\":\"10.0.0.5:49152\",\"event\":";
        assert_eq!(event(Event::Open), format!("{head}\"open\"}}\n"));
        assert_eq!(event(Event::Close), format!("{head}\"close\"}}\n"));
        assert_eq!(
            event(Event::Error("connection reset \"by peer\"\n")),
            format!("{head}\"error\",\"reason\":\"connection reset \\\"by peer\\\"\\n\"}}\n")
        );
        let v: serde_json::Value =
            serde_json::from_str(&event(Event::Error("a\\b\u{1}\u{7f}é"))).unwrap();
        assert_eq!(v["reason"], "a\\b\u{1}\u{7f}é");
    }

    #[test]
    fn json_escaping() {
        let data = b"q\"b\\c\x01\x08\x0c\x1f\x7f\xff\xc3\xa9\xe2\x82";
        let mut out = Vec::new();
        write_data(
            &mut out,
            Format::Json,
            &meta("10.0.0.5:1"),
            Side::Client,
            Direction::Recv,
            data,
        );
        let line = String::from_utf8(out).unwrap();
        assert!(line
            .ends_with(",\"text\":\"q\\\"b\\\\c\\u0001\\b\\f\\u001f\u{7f}\u{fffd}é\u{fffd}\"}\n"));
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["text"], String::from_utf8_lossy(data).as_ref());
        assert_eq!(v["hex"], "7122625c6301080c1f7fffc3a9e282");
    }

    #[test]
    fn raw_is_verbatim() {
        let mut out = vec![b'x'];
        write_data(
            &mut out,
            Format::Raw,
            &meta("10.0.0.5:1"),
            Side::Client,
            Direction::Recv,
            B20,
        );
        assert_eq!(&out[1..], B20);
    }

    #[test]
    fn appends_without_clobbering() {
        let mut out = b"prev\n".to_vec();
        for f in Format::ALL {
            let before = out.len();
            write_data(
                &mut out,
                f,
                &meta("10.0.0.5:1"),
                Side::Client,
                Direction::Recv,
                b"ab",
            );
            assert!(out.len() > before);
        }
        assert!(out.starts_with(b"prev\n"));
    }

    #[test]
    fn clock_known_times() {
        let clock = |t: SystemTime| {
            let mut out = Vec::new();
            clock_into(&mut out, t);
            String::from_utf8(out).unwrap()
        };
        assert_eq!(clock(wall()), "14:20:33.123456");
        assert_eq!(clock(UNIX_EPOCH), "00:00:00.000000");
        assert_eq!(
            clock(UNIX_EPOCH + Duration::new(86_399, 999_999_999)),
            "23:59:59.999999"
        );
        assert_eq!(
            clock(UNIX_EPOCH - Duration::from_micros(1)),
            "23:59:59.999999"
        );
        assert_eq!(
            clock(UNIX_EPOCH - Duration::from_nanos(1)),
            "23:59:59.999999"
        );
        assert_eq!(
            clock(UNIX_EPOCH - Duration::from_secs(86_400)),
            "00:00:00.000000"
        );
    }

    #[test]
    fn peer_v4_matches_display() {
        for addr in [
            SocketAddrV4::new(Ipv4Addr::new(0, 0, 0, 0), 0),
            SocketAddrV4::new(Ipv4Addr::new(255, 255, 255, 255), 65535),
            SocketAddrV4::new(Ipv4Addr::new(10, 0, 100, 9), 8080),
        ] {
            let mut out = Vec::new();
            push_peer(&mut out, &crate::record::Peer::Ip(SocketAddr::V4(addr)));
            assert_eq!(String::from_utf8(out).unwrap(), addr.to_string());
        }
    }

    fn decode_hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    proptest! {
        #[test]
        fn json_parses_and_hex_round_trips(
            data in proptest::collection::vec(any::<u8>(), 0..300),
            conn in any::<u64>(),
            micros in any::<u64>(),
            v6 in any::<bool>(),
        ) {
            let mut m = meta(if v6 { "[2001:db8::7]:443" } else { "192.168.1.20:443" });
            m.conn = conn;
            m.elapsed = Duration::from_micros(micros);
            let mut out = Vec::new();
            write_data(&mut out, Format::Json, &m, Side::Server, Direction::Sent, &data);
            prop_assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), 1);
            prop_assert_eq!(out.last(), Some(&b'\n'));
            let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
            let hex = v["hex"].as_str().unwrap();
            prop_assert!(!hex.bytes().any(|b| b.is_ascii_uppercase()));
            prop_assert_eq!(decode_hex(hex), data.clone());
            prop_assert_eq!(v["len"].as_u64(), Some(data.len() as u64));
            prop_assert_eq!(v["conn"].as_u64(), Some(conn));
            prop_assert_eq!(v["from"].as_str(), Some("server"));
            prop_assert_eq!(v["text"].as_str().unwrap(), String::from_utf8_lossy(&data));
        }

        #[test]
        fn json_text_matches_lossy_on_utf8_edges(
            data in proptest::collection::vec(
                prop_oneof![
                    Just(0x00u8), Just(b'"'), Just(b'\\'), Just(b'a'), Just(0x7f),
                    Just(0x80), Just(0x8f), Just(0x90), Just(0x9f), Just(0xa0), Just(0xbf),
                    Just(0xc0), Just(0xc1), Just(0xc2), Just(0xdf), Just(0xe0), Just(0xe1),
                    Just(0xed), Just(0xee), Just(0xef), Just(0xf0), Just(0xf1), Just(0xf4),
                    Just(0xf5), Just(0xff),
                ],
                0..40,
            ),
        ) {
            let mut out = Vec::new();
            json_lossy_into(&mut out, &data);
            let quoted = [b"\"".as_slice(), &out, b"\""].concat();
            let parsed: String = serde_json::from_slice(&quoted).unwrap();
            prop_assert_eq!(parsed, String::from_utf8_lossy(&data));
        }

        #[test]
        fn json_event_reason_parses(reason in any::<String>()) {
            let line = event(Event::Error(&reason));
            let v: serde_json::Value = serde_json::from_str(&line).unwrap();
            prop_assert_eq!(v["reason"].as_str(), Some(reason.as_str()));
            prop_assert_eq!(v["event"].as_str(), Some("error"));
        }

        #[test]
        fn hexdump_line_count_and_shape(data in proptest::collection::vec(any::<u8>(), 0..200)) {
            let dump = hexdump(&data);
            let lines: Vec<&str> = dump.lines().collect();
            prop_assert_eq!(lines.len(), data.len().div_ceil(16));
            for (i, (line, chunk)) in lines.iter().zip(data.chunks(16)).enumerate() {
                prop_assert_eq!(&line[..8], format!("{:08x}", i * 16));
                prop_assert_eq!(line.len(), 62 + chunk.len());
                prop_assert_eq!(line.as_bytes()[HEXDUMP_ASCII_BAR], b'|');
                prop_assert!(line.ends_with('|'));
            }
        }

        #[test]
        fn text_has_no_raw_control_bytes(data in proptest::collection::vec(any::<u8>(), 0..300)) {
            let mut out = Vec::new();
            write_data(&mut out, Format::Text, &meta("10.0.0.5:1"), Side::Client, Direction::Recv, &data);
            let (last, body) = out.split_last().unwrap();
            prop_assert_eq!(*last, b'\n');
            prop_assert!(body.iter().all(|&b| (0x20..=0x7e).contains(&b)));
        }

        #[test]
        fn hex_is_spaced_pairs(data in proptest::collection::vec(any::<u8>(), 1..100)) {
            let line = render(Format::Hex, "10.0.0.5:1", Direction::Recv, &data);
            let payload = line.trim_end_matches('\n').splitn(6, ' ').nth(5).unwrap();
            let bytes: Vec<u8> = payload.split(' ').map(|p| u8::from_str_radix(p, 16).unwrap()).collect();
            prop_assert_eq!(bytes, data);
        }

        #[test]
        fn clock_matches_humantime(secs in 0u64..253_402_300_800, micros in 0u32..1_000_000) {
            let t = UNIX_EPOCH + Duration::new(secs, micros * 1000 + 999);
            let mut out = Vec::new();
            clock_into(&mut out, t);
            let reference = humantime::format_rfc3339_micros(t).to_string();
            prop_assert_eq!(std::str::from_utf8(&out).unwrap(), &reference[11..26]);
        }
    }

    /// `cargo test --release -- --ignored --nocapture bench_formats`
    #[test]
    #[ignore]
    fn bench_formats() {
        const TOTAL: usize = 50_000_000;
        const RECORD: usize = 64 * 1024;
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let data: Vec<u8> = (0..TOTAL)
            .map(|_| {
                // xorshift64*: cheap, non-compressible enough for this purpose.
                state ^= state >> 12;
                state ^= state << 25;
                state ^= state >> 27;
                (state.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8
            })
            .collect();
        let m = meta("127.0.0.1:49152");
        let mut out = Vec::with_capacity(RECORD * 5);
        for f in Format::ALL {
            let start = std::time::Instant::now();
            let mut produced = 0usize;
            for chunk in data.chunks(RECORD) {
                out.clear();
                write_data(&mut out, f, &m, Side::Client, Direction::Recv, chunk);
                produced += out.len();
            }
            let secs = start.elapsed().as_secs_f64();
            println!(
                "{:8} {:8.0} MB/s in ({:.0} MB out)",
                f.name(),
                TOTAL as f64 / secs / 1e6,
                produced as f64 / 1e6
            );
            std::hint::black_box(&out);
        }
    }

    #[test]
    fn colour_touches_only_the_header() {
        let meta = Meta {
            elapsed: Duration::ZERO,
            wall: UNIX_EPOCH + Duration::from_micros(1_764_080_433_123_456),
            conn: 1,
            peer: "127.0.0.1:49152".parse().unwrap(),
        };
        let mut out = Vec::new();
        write_data_styled(
            &mut out,
            Format::Text,
            Style::Color,
            &meta,
            Side::Client,
            Direction::Recv,
            b"HI\n",
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "\x1b[2m14:20:33.123456\x1b[0m #1 127.0.0.1:49152 \x1b[32mrecv\x1b[0m 3 HI\\n\n"
        );
        let mut json = Vec::new();
        write_data_styled(
            &mut json,
            Format::Json,
            Style::Color,
            &meta,
            Side::Client,
            Direction::Recv,
            b"x",
        );
        assert!(!json.contains(&0x1b));
    }
}
