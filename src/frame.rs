//! Message framing: how a TCP byte stream splits into messages.
//!
//! TCP delivers a stream, not messages. One `read` may return half a
//! message, three messages, or two and a half, depending on Nagle, MTUs
//! and timing. Tools that treat "one read = one message" work on a quiet
//! LAN and then break in production, which is exactly where automation
//! engineers end up debugging PLCs and gateways. `--frame SPEC` makes the
//! message boundary explicit: `listen` prints and echoes per frame, and
//! `send` knows when a reply is complete.
//!
//! This module is deliberately pure (bytes in, frames out) so it can be
//! tested exhaustively without sockets. [`Decoder`] owns the receive
//! buffer, so a socket can read straight into it via
//! [`Decoder::buffer_mut`], and frames come out as zero-copy slices of that
//! buffer. Frames are returned exactly as they were on the wire, delimiters
//! and headers included, so echoing them back is byte-exact.
//!
//! Every framing enforces a maximum frame size, detected as early as the
//! framing allows, because a peer that never sends the delimiter (or sends
//! a bogus length header) must not be able to make us buffer without bound.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use memchr::memmem;

use crate::payload::{escape, parse_text, PayloadError};
use crate::record::Side;
use crate::rtu;

/// Default for `--max-frame`: large enough for any sane industrial
/// protocol message, small enough that a misbehaving peer can't hurt.
pub const DEFAULT_MAX_FRAME: usize = 1024 * 1024;

const STX: u8 = 0x02;
const ETX: u8 = 0x03;

/// Spare capacity kept for `read_buf` callers; matches a typical socket read.
const READ_RESERVE: usize = 8 * 1024;

const EXPECTED_FRAMINGS: &str =
    "raw, line, crlf, cr, delim=, stx-etx, fixed=N, len=..., mbap, modbus-rtu, gap:DUR";

/// The silence that ends a Modbus RTU frame whose function code does not
/// say its length, when the bytes do not come from a serial line (RTU over
/// TCP): a serial line's decoder is told its own ([`Decoder::silence`]).
pub const RTU_GAP_OFF_LINE: Duration = Duration::from_millis(20);

/// The least a Modbus RTU frame of known length waits for its missing
/// bytes before what came is taken as a (truncated) frame.
pub const RTU_INCOMPLETE: Duration = Duration::from_millis(50);
const EXPECTED_WIDTHS: &str = "u8, u16be, u16le, u32be, u32le";
const EXPECTED_LEN_OPTIONS: &str = "offset=K, includes-header, header=H";

/// Width and byte order of a length prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LenWidth {
    U8,
    U16Be,
    U16Le,
    U32Be,
    U32Le,
}

impl LenWidth {
    const ALL: [LenWidth; 5] = [
        LenWidth::U8,
        LenWidth::U16Be,
        LenWidth::U16Le,
        LenWidth::U32Be,
        LenWidth::U32Le,
    ];

    fn name(self) -> &'static str {
        match self {
            LenWidth::U8 => "u8",
            LenWidth::U16Be => "u16be",
            LenWidth::U16Le => "u16le",
            LenWidth::U32Be => "u32be",
            LenWidth::U32Le => "u32le",
        }
    }

    fn size(self) -> usize {
        match self {
            LenWidth::U8 => 1,
            LenWidth::U16Be | LenWidth::U16Le => 2,
            LenWidth::U32Be | LenWidth::U32Le => 4,
        }
    }

    /// `field` is exactly `self.size()` bytes.
    fn read(self, field: &[u8]) -> u64 {
        match self {
            LenWidth::U8 => u64::from(field[0]),
            LenWidth::U16Be => u64::from(u16::from_be_bytes([field[0], field[1]])),
            LenWidth::U16Le => u64::from(u16::from_le_bytes([field[0], field[1]])),
            LenWidth::U32Be => {
                u64::from(u32::from_be_bytes([field[0], field[1], field[2], field[3]]))
            }
            LenWidth::U32Le => {
                u64::from(u32::from_le_bytes([field[0], field[1], field[2], field[3]]))
            }
        }
    }
}

/// How a byte stream splits into messages (`--frame SPEC`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum FrameSpec {
    /// Whatever one read returns.
    #[default]
    Raw,
    /// Ends at LF, LF included (a preceding CR stays in the message).
    Line,
    /// Ends at CR LF.
    Crlf,
    /// Ends at CR.
    Cr,
    /// Ends at an arbitrary non-empty delimiter.
    Delim(Vec<u8>),
    /// From STX (0x02) to ETX (0x03) inclusive; bytes between frames are skipped.
    StxEtx,
    /// Exactly N bytes.
    Fixed(usize),
    /// Length-prefixed; the length field sits `offset` bytes into the frame.
    /// The header is `header` bytes when given (EtherNet/IP's 24, its
    /// length at offset 2), else it ends with the length field; the frame
    /// is the header plus the length, or the length alone with
    /// `includes_header`.
    Len {
        width: LenWidth,
        offset: usize,
        includes_header: bool,
        header: Option<usize>,
    },
    /// Modbus RTU: a frame ends where its function code and byte count say
    /// (which differ for requests and responses: the decoder knows who
    /// sends, [`Decoder::reading`]), or at a silence on the line when they
    /// do not say. A frame whose CRC fails is still a frame (decoding shows
    /// it as bad); bytes before a good frame are a frame of their own.
    ModbusRtu,
    /// Whatever arrives until the line is silent for this long.
    Gap(Duration),
}

impl FrameSpec {
    /// Modbus/TCP's MBAP header: the length at byte 4 counts what follows
    /// it (`--frame mbap`).
    pub fn mbap() -> FrameSpec {
        FrameSpec::Len {
            width: LenWidth::U16Be,
            offset: 4,
            includes_header: false,
            header: None,
        }
    }

    /// Spec prefixes, for help text and shell completion.
    pub const NAMES: &'static [&'static str] = &[
        "raw",
        "line",
        "crlf",
        "cr",
        "delim=",
        "stx-etx",
        "fixed=",
        "len=",
        "mbap",
        "modbus-rtu",
        "gap:",
    ];

    /// The fewest bytes a complete frame can have (0 when a frame may be
    /// empty or is whatever a read returns).
    pub fn smallest_frame(&self) -> usize {
        match self {
            FrameSpec::Fixed(n) => *n,
            FrameSpec::Len {
                width,
                offset,
                header,
                ..
            } => header.unwrap_or_else(|| offset.saturating_add(width.size())),
            FrameSpec::Delim(d) => d.len(),
            _ => 0,
        }
    }

    /// How many frames `bytes` hold under this spec (an incomplete tail
    /// counts as one): how many frames `replay` waits for when a captured
    /// reply was these bytes.
    pub fn count_frames(&self, max_frame: usize, bytes: &[u8]) -> usize {
        let mut decoder = Decoder::new(self.clone(), max_frame);
        decoder.push(bytes);
        let mut n = 0;
        while let Ok(Some(_)) = decoder.next_frame() {
            n += 1;
        }
        n + usize::from(decoder.finish().is_some())
    }
}

impl fmt::Display for FrameSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameSpec::Raw => f.write_str("raw"),
            FrameSpec::Line => f.write_str("line"),
            FrameSpec::Crlf => f.write_str("crlf"),
            FrameSpec::Cr => f.write_str("cr"),
            FrameSpec::Delim(delim) => write!(f, "delim={}", escape(delim)),
            FrameSpec::StxEtx => f.write_str("stx-etx"),
            FrameSpec::Fixed(n) => write!(f, "fixed={n}"),
            FrameSpec::Len {
                width,
                offset,
                includes_header,
                header,
            } => {
                write!(f, "len={}", width.name())?;
                // offset=0 is the default; omitting it keeps the canonical
                // form as short as what people actually type.
                if *offset != 0 {
                    write!(f, ",offset={offset}")?;
                }
                if *includes_header {
                    f.write_str(",includes-header")?;
                }
                if let Some(header) = header {
                    write!(f, ",header={header}")?;
                }
                Ok(())
            }
            FrameSpec::ModbusRtu => f.write_str("modbus-rtu"),
            // One unit, so that the spec parses back (`1s 500ms` would not).
            FrameSpec::Gap(d) if d.subsec_nanos() % 1_000_000 == 0 => {
                write!(f, "gap:{}ms", d.as_millis())
            }
            FrameSpec::Gap(d) => write!(f, "gap:{}us", d.as_micros()),
        }
    }
}

/// A `--frame` spec that doesn't parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameSpecError {
    /// 1-based column (in characters) within the spec text.
    pub column: usize,
    pub reason: String,
}

impl FrameSpecError {
    fn new(column: usize, reason: impl Into<String>) -> Self {
        FrameSpecError {
            column,
            reason: reason.into(),
        }
    }
}

impl fmt::Display for FrameSpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at column {}: {}", self.column, self.reason)
    }
}

impl std::error::Error for FrameSpecError {}

/// Column (1-based, in characters) of byte index `at` in `s`.
fn column_of(s: &str, at: usize) -> usize {
    s[..at].chars().count() + 1
}

/// Plain decimal digits only: `usize::from_str` would also take `+5`,
/// which Display never produces and would break the round trip guarantee.
fn parse_number(text: &str, column: usize, missing: &str) -> Result<usize, FrameSpecError> {
    if text.is_empty() {
        return Err(FrameSpecError::new(column, missing));
    }
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(FrameSpecError::new(
            column,
            format!("'{text}' is not a number"),
        ));
    }
    text.parse()
        .map_err(|_| FrameSpecError::new(column, format!("'{text}' is too large")))
}

impl FromStr for FrameSpec {
    type Err = FrameSpecError;

    fn from_str(spec: &str) -> Result<Self, Self::Err> {
        if spec.is_empty() {
            return Err(FrameSpecError::new(
                1,
                format!("no framing given (expected {EXPECTED_FRAMINGS})"),
            ));
        }
        if let Some(value) = spec.strip_prefix("gap:") {
            // Whole microseconds (finer means nothing on a line), up to an
            // hour: so that the spec prints back exactly.
            return match crate::units::parse_duration(value) {
                Ok(d) if d > Duration::from_secs(3600) => {
                    Err(FrameSpecError::new(5, "gap: a silence of at most 1h"))
                }
                Ok(d) if d.as_micros() > 0 => {
                    Ok(FrameSpec::Gap(Duration::from_micros(d.as_micros() as u64)))
                }
                Ok(_) => Err(FrameSpecError::new(
                    5,
                    "gap: needs a silence of at least 1us",
                )),
                Err(e) => Err(FrameSpecError::new(5, e)),
            };
        }
        let (name, value) = match spec.split_once('=') {
            Some((name, value)) => (name, Some(value)),
            None => (spec, None),
        };
        // For every known name (all ASCII) the value starts at this column.
        let value_column = name.len() + 2;
        match (name, value) {
            ("raw", None) => Ok(FrameSpec::Raw),
            ("line", None) => Ok(FrameSpec::Line),
            ("crlf", None) => Ok(FrameSpec::Crlf),
            ("cr", None) => Ok(FrameSpec::Cr),
            ("stx-etx", None) => Ok(FrameSpec::StxEtx),
            // Modbus/TCP's MBAP header: a name for the length spec it is.
            ("mbap", None) => Ok(FrameSpec::mbap()),
            ("modbus-rtu", None) => Ok(FrameSpec::ModbusRtu),
            ("gap", None) => Err(FrameSpecError::new(
                4,
                "'gap' needs a duration (gap:DUR, e.g. gap:5ms)",
            )),
            ("raw" | "line" | "crlf" | "cr" | "stx-etx" | "mbap" | "modbus-rtu", Some(_)) => Err(
                FrameSpecError::new(name.len() + 1, format!("'{name}' takes no value")),
            ),
            ("delim", Some(value)) => parse_delim(value, value_column),
            ("fixed", Some(value)) => {
                let n = parse_number(value, value_column, "fixed= needs a size of at least 1")?;
                if n == 0 {
                    return Err(FrameSpecError::new(
                        value_column,
                        "fixed= needs a size of at least 1",
                    ));
                }
                Ok(FrameSpec::Fixed(n))
            }
            ("len", Some(_)) => parse_len(spec, name.len() + 1),
            ("delim" | "fixed" | "len", None) => {
                let hint = match name {
                    "delim" => "delim=PAYLOAD",
                    "fixed" => "fixed=N",
                    _ => "len=WIDTH[,offset=K][,includes-header][,header=H]",
                };
                Err(FrameSpecError::new(
                    name.len() + 1,
                    format!("'{name}' needs a value ({hint})"),
                ))
            }
            _ => Err(FrameSpecError::new(
                1,
                format!("unknown framing '{name}' (expected {EXPECTED_FRAMINGS})"),
            )),
        }
    }
}

fn parse_delim(value: &str, value_column: usize) -> Result<FrameSpec, FrameSpecError> {
    let empty = || FrameSpecError::new(value_column, "delim= needs a non-empty delimiter");
    if value.is_empty() {
        return Err(empty());
    }
    let delim = parse_text(value).map_err(|e: PayloadError| {
        let e = e.shifted(value_column - 1);
        FrameSpecError::new(e.column, e.reason)
    })?;
    if delim.is_empty() {
        return Err(empty());
    }
    Ok(FrameSpec::Delim(delim))
}

/// `start` is the byte index in `spec` just past `len=`.
fn parse_len(spec: &str, start: usize) -> Result<FrameSpec, FrameSpecError> {
    let mut parts = Vec::new();
    let mut at = start;
    for part in spec[start..].split(',') {
        parts.push((at, part));
        at += part.len() + 1;
    }
    let (width_at, width_text) = parts[0];
    let width_column = column_of(spec, width_at);
    if width_text.is_empty() {
        return Err(FrameSpecError::new(
            width_column,
            format!("len= needs a length width (expected {EXPECTED_WIDTHS})"),
        ));
    }
    let width = LenWidth::ALL
        .into_iter()
        .find(|w| w.name() == width_text)
        .ok_or_else(|| {
            FrameSpecError::new(
                width_column,
                format!("unknown length width '{width_text}' (expected {EXPECTED_WIDTHS})"),
            )
        })?;

    let mut offset = None;
    let mut includes_header = None;
    let mut header = None;
    for &(part_at, part) in &parts[1..] {
        let column = column_of(spec, part_at);
        let (key, value) = match part.split_once('=') {
            Some((key, value)) => (key, Some(value)),
            None => (part, None),
        };
        match (key, value) {
            ("", None) => {
                return Err(FrameSpecError::new(
                    column,
                    format!("empty len= option (expected {EXPECTED_LEN_OPTIONS})"),
                ))
            }
            ("offset", Some(value)) => {
                if offset.is_some() {
                    return Err(FrameSpecError::new(column, "offset= given twice"));
                }
                let value_column = column + key.len() + 1;
                let k = parse_number(value, value_column, "offset= needs a number")?;
                // The header size (offset + width) must be representable.
                if k.checked_add(width.size()).is_none() {
                    return Err(FrameSpecError::new(
                        value_column,
                        format!("'{value}' is too large"),
                    ));
                }
                offset = Some(k);
            }
            ("offset", None) => {
                return Err(FrameSpecError::new(
                    column,
                    "'offset' needs a value (offset=K)",
                ))
            }
            ("includes-header", None) => {
                if includes_header.is_some() {
                    return Err(FrameSpecError::new(column, "includes-header given twice"));
                }
                includes_header = Some(column);
            }
            ("header", Some(value)) => {
                if header.is_some() {
                    return Err(FrameSpecError::new(column, "header= given twice"));
                }
                let value_column = column + key.len() + 1;
                let h = parse_number(value, value_column, "header= needs a size in bytes")?;
                header = Some((h, column, value_column));
            }
            ("header", None) => {
                return Err(FrameSpecError::new(
                    column,
                    "'header' needs a value (header=H, the header's size in bytes)",
                ))
            }
            ("includes-header", Some(_)) => {
                return Err(FrameSpecError::new(
                    column + key.len(),
                    "'includes-header' takes no value",
                ))
            }
            _ => {
                return Err(FrameSpecError::new(
                    column,
                    format!("unknown len= option '{key}' (expected {EXPECTED_LEN_OPTIONS})"),
                ))
            }
        }
    }
    let offset = offset.unwrap_or(0);
    if let Some((h, column, value_column)) = header {
        if let Some(other) = includes_header {
            return Err(FrameSpecError::new(
                column.max(other),
                "header= and includes-header exclude each other (header=H: the length counts the bytes after the header)",
            ));
        }
        let field_end = offset + width.size();
        if h < field_end {
            return Err(FrameSpecError::new(
                value_column,
                format!(
                    "header={h} ends before the length field (offset {offset} + {} bytes)",
                    width.size()
                ),
            ));
        }
    }
    Ok(FrameSpec::Len {
        width,
        offset,
        includes_header: includes_header.is_some(),
        header: header.map(|(h, ..)| h),
    })
}

/// Why a connection's stream can't be framed; the caller drops that connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    /// The frame is (or will be at least) `size` bytes, more than `max`.
    TooLarge { size: u64, max: usize },
    /// With `includes-header`, the length field is smaller than the header itself.
    LengthBelowHeader { length: u64, header: usize },
}

fn plural(n: u64) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            FrameError::TooLarge { size, max } => write!(
                f,
                "frame of {size} byte{} exceeds the maximum frame size of {max} byte{} (--max-frame)",
                plural(size),
                plural(max as u64)
            ),
            FrameError::LengthBelowHeader { length, header } => write!(
                f,
                "length field says {length} byte{} but the header alone is {header} byte{}",
                plural(length),
                plural(header as u64)
            ),
        }
    }
}

impl std::error::Error for FrameError {}

/// The spec compiled into what the hot path needs.
#[derive(Debug, Clone)]
enum Matcher {
    Raw,
    /// Single-byte delimiters get plain memchr, the fastest search there is.
    Byte(u8),
    /// Boxed: a Finder is ~300 bytes and one decoder lives per connection.
    Seq(Box<memmem::Finder<'static>>),
    StxEtx,
    Fixed(usize),
    Len {
        width: LenWidth,
        offset: usize,
        header: usize,
        includes_header: bool,
    },
    ModbusRtu,
    Gap,
}

impl Matcher {
    fn new(spec: &FrameSpec) -> Self {
        let delim = |bytes: &[u8]| match bytes {
            [b] => Matcher::Byte(*b),
            _ => Matcher::Seq(Box::new(memmem::Finder::new(bytes).into_owned())),
        };
        match spec {
            FrameSpec::Raw => Matcher::Raw,
            FrameSpec::Line => Matcher::Byte(b'\n'),
            FrameSpec::Crlf => delim(b"\r\n"),
            FrameSpec::Cr => Matcher::Byte(b'\r'),
            // Empty delimiters and fixed=0 can't come from FromStr; treating
            // them as raw beats returning empty frames forever.
            FrameSpec::Delim(d) if d.is_empty() => Matcher::Raw,
            FrameSpec::Fixed(0) => Matcher::Raw,
            FrameSpec::Delim(d) => delim(d),
            FrameSpec::StxEtx => Matcher::StxEtx,
            FrameSpec::Fixed(n) => Matcher::Fixed(*n),
            FrameSpec::Len {
                width,
                offset,
                includes_header,
                header,
            } => Matcher::Len {
                width: *width,
                offset: *offset,
                header: header.unwrap_or_else(|| offset.saturating_add(width.size())),
                includes_header: *includes_header,
            },
            FrameSpec::ModbusRtu => Matcher::ModbusRtu,
            FrameSpec::Gap(_) => Matcher::Gap,
        }
    }
}

/// The silence a spec ends frames with, before the line says its own.
fn spec_silence(spec: &FrameSpec) -> Option<Duration> {
    match spec {
        FrameSpec::Gap(d) => Some(*d),
        FrameSpec::ModbusRtu => Some(RTU_GAP_OFF_LINE),
        _ => None,
    }
}

/// Streaming frame decoder for one connection.
///
/// Feed it with [`push`](Decoder::push) or by reading into
/// [`buffer_mut`](Decoder::buffer_mut), then drain
/// [`next_frame`](Decoder::next_frame) until it returns `Ok(None)`.
#[derive(Debug)]
pub struct Decoder {
    spec: FrameSpec,
    matcher: Matcher,
    max_frame: usize,
    buf: BytesMut,
    /// `buf` was made larger than a normal read needs (a bulk stream).
    grown: bool,
    /// Bytes at the front of `buf` already known not to complete a frame,
    /// so a frame trickling in byte by byte is scanned once, not O(n^2).
    /// For stx-etx, non-zero also means "inside a frame" (buf[0] is STX).
    scan: usize,
    skipped: u64,
    /// Once the stream is unframeable, it stays that way.
    error: Option<FrameError>,
    /// Who sends what this decoder reads (Modbus RTU frames differ).
    from: Side,
    /// The silence that ends a frame (`gap:`, and Modbus RTU frames whose
    /// length is not known).
    silence: Option<Duration>,
    /// The line was silent that long: what is buffered is a frame.
    released: bool,
}

impl Decoder {
    pub fn new(spec: FrameSpec, max_frame: usize) -> Self {
        let silence = spec_silence(&spec);
        Decoder {
            matcher: Matcher::new(&spec),
            spec,
            max_frame,
            buf: BytesMut::with_capacity(READ_RESERVE),
            grown: false,
            scan: 0,
            skipped: 0,
            error: None,
            from: Side::Server,
            silence,
            released: false,
        }
    }

    /// Read what `from` sends (a server reads requests, a client answers;
    /// the default is answers). Only Modbus RTU framing cares.
    pub fn reading(mut self, from: Side) -> Self {
        self.from = from;
        self
    }

    /// The silence that ends a Modbus RTU frame on this line: 3.5
    /// character times, or 1.75 ms above 19200 baud (the Modbus serial
    /// line specification). `gap:DUR` keeps its own.
    pub fn silence(mut self, rtu_gap: Duration) -> Self {
        if matches!(self.matcher, Matcher::ModbusRtu) {
            self.silence = Some(rtu_gap);
        }
        self
    }

    /// How long to wait for more bytes before [`Decoder::release`]: some
    /// when bytes are buffered and the framing ends frames by silence.
    ///
    /// A Modbus RTU frame whose length is known but not all in waits at
    /// least [`RTU_INCOMPLETE`]: USB serial adapters deliver in bursts (an
    /// FTDI chip's latency timer is 16 ms), so a pause inside a frame is
    /// the adapter, not the sender.
    pub fn gap(&self) -> Option<Duration> {
        let silence = self.silence.filter(|_| !self.buf.is_empty())?;
        if matches!(self.matcher, Matcher::ModbusRtu) {
            if let Some(Ok(n)) = rtu::frame_len(&self.buf, self.from) {
                if n > self.buf.len() && n <= rtu::MAX_FRAME + 16 {
                    return Some(silence.max(RTU_INCOMPLETE));
                }
            }
        }
        Some(silence)
    }

    /// The line was silent for [`Decoder::gap`]: what is buffered is a
    /// frame, the next [`Decoder::next_frame`] returns it.
    pub fn release(&mut self) {
        self.released = !self.buf.is_empty();
    }

    pub fn spec(&self) -> &FrameSpec {
        &self.spec
    }

    /// Append received bytes.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The receive buffer, so a socket can read straight into it (tokio
    /// `read_buf`) without a copy; `next_frame` copes with bytes appended
    /// here. Only append: the decoder remembers how far it has scanned.
    /// Keeps at least 8 KiB of spare capacity so `read_buf` never does a
    /// tiny read.
    pub fn buffer_mut(&mut self) -> &mut BytesMut {
        self.buffer_with_spare(READ_RESERVE)
    }

    /// [`buffer_mut`](Decoder::buffer_mut) with at least `spare` bytes of
    /// spare capacity: a server reading a bulk stream asks for more, so
    /// that one read (one system call) moves more.
    pub fn buffer_with_spare(&mut self, spare: usize) -> &mut BytesMut {
        if self.buf.capacity() - self.buf.len() < spare {
            self.buf.reserve(spare);
        }
        self.grown |= spare > READ_RESERVE;
        &mut self.buf
    }

    /// Give back a buffer that [`buffer_with_spare`](Decoder::buffer_with_spare)
    /// made large, once nothing is buffered, so that a connection that
    /// streamed in bulk and then sits idle holds no more than any other.
    /// (The buffer's `capacity()` is only what is left after the last frame
    /// was split off; the allocation behind it may be far larger, so this
    /// goes by what was asked for, not by `capacity()`.)
    pub fn shrink_if_grown(&mut self) {
        if self.grown && self.buf.is_empty() {
            self.buf = BytesMut::with_capacity(READ_RESERVE);
            self.scan = 0;
            self.grown = false;
        }
    }

    /// The first `n` buffered bytes, taken whole regardless of framing
    /// (`replay` waiting for a captured byte count). `n` must not exceed
    /// [`buffered`](Decoder::buffered).
    pub fn take_front(&mut self, n: usize) -> Bytes {
        self.scan = 0;
        self.buf.split_to(n).freeze()
    }

    /// Next complete frame, exactly as on the wire; `Ok(None)` means more
    /// bytes are needed. After an `Err` the decoder is poisoned and keeps
    /// returning the same error.
    pub fn next_frame(&mut self) -> Result<Option<Bytes>, FrameError> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        // buffer_mut hands out the buffer; if a caller shrank it, forget
        // what we knew rather than index out of bounds.
        self.scan = self.scan.min(self.buf.len());
        match self.frame_len() {
            Ok(Some(n)) => {
                self.scan = 0;
                self.released = false;
                Ok(Some(self.buf.split_to(n).freeze()))
            }
            Ok(None) => Ok(None),
            Err(e) => {
                self.error = Some(e.clone());
                Err(e)
            }
        }
    }

    /// Length of the complete frame at the front of the buffer, if any.
    fn frame_len(&mut self) -> Result<Option<usize>, FrameError> {
        let max = self.max_frame;
        let len = self.buf.len();
        let too_large = |size: usize| FrameError::TooLarge {
            size: size as u64,
            max,
        };
        let delimited = |end: usize| {
            if end > max {
                Err(too_large(end))
            } else {
                Ok(Some(end))
            }
        };
        // No delimiter yet: the frame is longer than what's buffered.
        let unterminated = |len: usize| {
            if len > max {
                Err(too_large(len))
            } else {
                Ok(None)
            }
        };
        match &self.matcher {
            Matcher::Raw => Ok((len > 0).then_some(len)),
            Matcher::Byte(b) => match memchr::memchr(*b, &self.buf[self.scan..]) {
                Some(i) => delimited(self.scan + i + 1),
                None => {
                    self.scan = len;
                    unterminated(len)
                }
            },
            Matcher::Seq(finder) => {
                let d = finder.needle().len();
                match finder.find(&self.buf[self.scan..]) {
                    Some(i) => delimited(self.scan + i + d),
                    None => {
                        // A delimiter may straddle the end of what we have.
                        self.scan = len.saturating_sub(d - 1);
                        unterminated(len)
                    }
                }
            }
            Matcher::StxEtx => {
                if self.scan == 0 && !self.skip_to_stx() {
                    return Ok(None);
                }
                match memchr::memchr(ETX, &self.buf[self.scan..]) {
                    Some(i) => delimited(self.scan + i + 1),
                    None => {
                        self.scan = self.buf.len();
                        unterminated(self.buf.len())
                    }
                }
            }
            &Matcher::Fixed(n) => {
                if len == 0 {
                    Ok(None)
                } else if n > max {
                    Err(too_large(n))
                } else if len >= n {
                    Ok(Some(n))
                } else {
                    self.buf.reserve(n - len);
                    Ok(None)
                }
            }
            &Matcher::Len {
                width,
                offset,
                header,
                includes_header,
            } => self.length_prefixed(width, offset, header, includes_header),
            Matcher::ModbusRtu => self.rtu_frame_len(),
            Matcher::Gap => {
                if self.released && len > 0 {
                    delimited(len)
                } else {
                    unterminated(len)
                }
            }
        }
    }

    /// The Modbus RTU frame at the front: as long as its function code
    /// says, once in; or, after a silence, whatever is buffered (a frame of
    /// unknown length, or a truncated one). A frame whose CRC fails, with a
    /// good frame starting later in the buffer, ends where that one starts
    /// (junk between frames comes out as its own bad frame).
    fn rtu_frame_len(&mut self) -> Result<Option<usize>, FrameError> {
        let len = self.buf.len();
        if len == 0 {
            return Ok(None);
        }
        let max = self.max_frame;
        let cut = |n: usize| {
            if n > max {
                Err(FrameError::TooLarge {
                    size: n as u64,
                    max,
                })
            } else {
                Ok(Some(n))
            }
        };
        // Longer than any RTU frame: a line that never pauses cannot make
        // us buffer without bound.
        const LONGEST: usize = rtu::MAX_FRAME + 16;
        let known = match rtu::frame_len(&self.buf, self.from) {
            Some(Ok(n)) if n <= LONGEST => Some(n),
            _ => None,
        };
        let from = self.from;
        // Where a complete frame with a good CRC starts after the front.
        let good_frame_at = |buf: &[u8]| {
            (1..buf.len().min(2 * rtu::MAX_FRAME)).find(|&p| {
                let rest = &buf[p..];
                matches!(rtu::frame_len(rest, from),
                    Some(Ok(m)) if m <= rest.len() && rtu::crc_ok(&rest[..m]))
            })
        };
        match known {
            Some(n) if len >= n => {
                if rtu::crc_ok(&self.buf[..n]) {
                    return cut(n);
                }
                cut(good_frame_at(&self.buf).unwrap_or(n))
            }
            None if len >= 4 => match good_frame_at(&self.buf) {
                Some(p) => cut(p),
                None if self.released || len >= LONGEST => cut(len),
                None if len > max => cut(len),
                None => Ok(None),
            },
            _ if self.released || len >= LONGEST || len > max => cut(len),
            _ => Ok(None),
        }
    }

    /// The frame length under `len=...`, once its header is in.
    fn length_prefixed(
        &mut self,
        width: LenWidth,
        offset: usize,
        header: usize,
        includes_header: bool,
    ) -> Result<Option<usize>, FrameError> {
        let (max, len) = (self.max_frame, self.buf.len());
        if len == 0 {
            return Ok(None);
        }
        // Even an empty body wouldn't fit: no need to wait for the header.
        if header > max {
            return Err(FrameError::TooLarge {
                size: header as u64,
                max,
            });
        }
        if len < header {
            return Ok(None);
        }
        let length = width.read(&self.buf[offset..header]);
        let total = if includes_header {
            if length < header as u64 {
                return Err(FrameError::LengthBelowHeader { length, header });
            }
            length
        } else {
            header as u64 + length
        };
        if total > max as u64 {
            return Err(FrameError::TooLarge { size: total, max });
        }
        let total = total as usize;
        if len >= total {
            Ok(Some(total))
        } else {
            // Bounded by max_frame, so a hostile header can't make us
            // allocate more than the caller allowed.
            self.buf.reserve(total - len);
            Ok(None)
        }
    }

    /// Drops bytes before the next STX, counting them as skipped. Returns
    /// whether a frame is now open at the front of the buffer.
    fn skip_to_stx(&mut self) -> bool {
        match memchr::memchr(STX, &self.buf) {
            Some(i) => {
                self.buf.advance(i);
                self.skipped += i as u64;
                self.scan = 1;
                true
            }
            None => {
                self.skipped += self.buf.len() as u64;
                self.buf.clear();
                false
            }
        }
    }

    /// stx-etx: the bytes buffered before the next frame's STX (all of
    /// them when no STX has come), taken out instead of being skipped by
    /// [`Decoder::next_frame`]; `None` for other framings, inside a frame,
    /// or when the buffer starts with STX. A relay that acts on whole
    /// messages passes these on as they came.
    pub fn take_between(&mut self) -> Option<Bytes> {
        if !matches!(self.matcher, Matcher::StxEtx) || self.scan != 0 || self.error.is_some() {
            return None;
        }
        let end = memchr::memchr(STX, &self.buf).unwrap_or(self.buf.len());
        (end > 0).then(|| self.buf.split_to(end).freeze())
    }

    /// End of stream: the incomplete frame still buffered, if any. Empties
    /// the buffer. Drain `next_frame` first: whatever is buffered comes back
    /// as one piece. Returns `None` once poisoned, since the stream was
    /// unframeable anyway.
    pub fn finish(&mut self) -> Option<Bytes> {
        self.scan = self.scan.min(self.buf.len());
        if self.error.is_some() {
            self.buf.clear();
            self.scan = 0;
            return None;
        }
        if matches!(self.matcher, Matcher::StxEtx) && self.scan == 0 {
            self.skip_to_stx();
        }
        self.scan = 0;
        (!self.buf.is_empty()).then(|| self.buf.split().freeze())
    }

    /// Whether silence ends this framing's messages (`gap:`, Modbus RTU):
    /// then the end of the stream ends one too, and what
    /// [`Decoder::finish`] returns is a whole message. Otherwise it is a
    /// message cut short.
    pub fn ends_by_silence(&self) -> bool {
        self.silence.is_some()
    }

    /// Bytes received but not yet returned as a frame.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Bytes dropped between frames (stx-etx only).
    pub fn skipped(&self) -> u64 {
        self.skipped
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use proptest::sample::{select, Index};

    fn spec(text: &str) -> FrameSpec {
        text.parse()
            .unwrap_or_else(|e| panic!("{text:?} should parse: {e}"))
    }

    fn spec_err(text: &str) -> FrameSpecError {
        match text.parse::<FrameSpec>() {
            Ok(s) => panic!("{text:?} should not parse, got {s:?}"),
            Err(e) => e,
        }
    }

    /// Drains every complete frame; panics on empty frames, which would
    /// make callers spin forever.
    fn drain(d: &mut Decoder) -> Result<Vec<Vec<u8>>, FrameError> {
        let mut out = Vec::new();
        while let Some(f) = d.next_frame()? {
            assert!(!f.is_empty(), "empty frame");
            out.push(f.to_vec());
        }
        Ok(out)
    }

    fn decoder(text: &str) -> Decoder {
        Decoder::new(spec(text), DEFAULT_MAX_FRAME)
    }

    /// The three delivery patterns every framing must survive.
    fn assert_frames(text: &str, frames: &[&[u8]]) {
        let wire: Vec<u8> = frames.concat();

        let mut d = decoder(text);
        d.push(&wire);
        assert_eq!(
            drain(&mut d).unwrap(),
            frames,
            "{text}: three frames in one push"
        );
        assert_eq!(d.buffered(), 0);

        let first = frames[0];
        assert!(first.len() >= 3, "test frames need at least 3 bytes");
        let (a, rest) = first.split_at(1);
        let (b, c) = rest.split_at(rest.len() / 2);
        let mut d = decoder(text);
        for part in [a, b] {
            d.push(part);
            assert_eq!(
                drain(&mut d).unwrap(),
                Vec::<Vec<u8>>::new(),
                "{text}: partial"
            );
        }
        d.push(c);
        assert_eq!(
            drain(&mut d).unwrap(),
            [first],
            "{text}: split across three pushes"
        );

        let mut d = decoder(text);
        let mut got = Vec::new();
        for &byte in &wire {
            d.push(&[byte]);
            got.extend(drain(&mut d).unwrap());
        }
        assert_eq!(got, frames, "{text}: byte at a time");
        assert_eq!(d.finish(), None);
    }

    // ---- FrameSpec parsing and Display ----

    fn rtu(from: Side) -> Decoder {
        Decoder::new(FrameSpec::ModbusRtu, 1 << 20).reading(from)
    }

    fn hex(s: &str) -> Vec<u8> {
        crate::payload::parse_hex(s).unwrap()
    }

    fn frames(d: &mut Decoder) -> Vec<Vec<u8>> {
        std::iter::from_fn(|| d.next_frame().unwrap().map(|f| f.to_vec())).collect()
    }

    #[test]
    fn modbus_rtu_frames_end_where_their_function_says() {
        let mut d = rtu(Side::Client);
        // A request split across reads, then two at once.
        d.push(&hex("01 03 00"));
        assert!(frames(&mut d).is_empty());
        assert_eq!(d.gap(), Some(RTU_INCOMPLETE));
        d.push(&hex("00 00 0a c5 cd 01 03 00 00 00 0a c5 cd"));
        assert_eq!(frames(&mut d), vec![hex("01 03 00 00 00 0a c5 cd"); 2]);
        assert_eq!(d.gap(), None);
        // Responses are read by their byte count.
        let mut d = rtu(Side::Server);
        d.push(&hex("01 03 04 00 2a 00 2b"));
        assert!(frames(&mut d).is_empty());
        d.push(&hex("9b e4 01 83 02 c0 f1"));
        assert_eq!(
            frames(&mut d),
            vec![hex("01 03 04 00 2a 00 2b 9b e4"), hex("01 83 02 c0 f1")]
        );
    }

    #[test]
    fn modbus_rtu_junk_and_bad_crcs_are_frames_of_their_own() {
        let mut d = rtu(Side::Client);
        // Junk before a good request: the junk is one frame, the request
        // the next.
        d.push(&hex("ff 00 01 03 00 00 00 0a c5 cd"));
        assert_eq!(
            frames(&mut d),
            vec![hex("ff 00"), hex("01 03 00 00 00 0a c5 cd")]
        );
        // A bad CRC and nothing good after it: the frame, as long as its
        // function says.
        d.push(&hex("01 03 00 00 00 0a c5 ce"));
        assert_eq!(frames(&mut d), vec![hex("01 03 00 00 00 0a c5 ce")]);
    }

    #[test]
    fn modbus_rtu_unknown_functions_and_truncated_frames_end_at_a_silence() {
        let mut d = rtu(Side::Client).silence(Duration::from_micros(1750));
        d.push(&hex("01 2b 0e 01 00 70 77"));
        assert!(frames(&mut d).is_empty());
        assert_eq!(d.gap(), Some(Duration::from_micros(1750)));
        d.release();
        assert_eq!(frames(&mut d), vec![hex("01 2b 0e 01 00 70 77")]);
        d.push(&hex("01 03 00"));
        d.release();
        assert_eq!(frames(&mut d), vec![hex("01 03 00")]);
        assert_eq!(d.gap(), None);
    }

    #[test]
    fn gap_framing_takes_what_came_before_the_silence() {
        let spec: FrameSpec = "gap:5ms".parse().unwrap();
        assert_eq!(spec, FrameSpec::Gap(Duration::from_millis(5)));
        assert_eq!(spec.to_string(), "gap:5ms");
        let mut d = Decoder::new(spec, 8);
        d.push(b"abc");
        assert!(frames(&mut d).is_empty());
        d.release();
        d.push(b"de");
        assert_eq!(frames(&mut d), vec![b"abcde".to_vec()]);
        d.push(b"0123456789");
        assert!(matches!(d.next_frame(), Err(FrameError::TooLarge { .. })));
        assert!("gap:"
            .parse::<FrameSpec>()
            .unwrap_err()
            .to_string()
            .contains("column 5"));
        assert!("gap:0s".parse::<FrameSpec>().is_err());
        assert!("modbus-rtu=1".parse::<FrameSpec>().is_err());
    }

    #[test]
    fn parses_and_displays_every_kind() {
        let cases: Vec<(&str, FrameSpec)> = vec![
            ("raw", FrameSpec::Raw),
            ("line", FrameSpec::Line),
            ("crlf", FrameSpec::Crlf),
            ("cr", FrameSpec::Cr),
            ("stx-etx", FrameSpec::StxEtx),
            ("delim=\\x03", FrameSpec::Delim(vec![0x03])),
            ("delim=\\r\\n", FrameSpec::Delim(b"\r\n".to_vec())),
            ("delim=END", FrameSpec::Delim(b"END".to_vec())),
            ("fixed=1", FrameSpec::Fixed(1)),
            ("fixed=512", FrameSpec::Fixed(512)),
            (
                "len=u8",
                FrameSpec::Len {
                    width: LenWidth::U8,
                    offset: 0,
                    includes_header: false,
                    header: None,
                },
            ),
            (
                "len=u16le,offset=1",
                FrameSpec::Len {
                    width: LenWidth::U16Le,
                    offset: 1,
                    includes_header: false,
                    header: None,
                },
            ),
            (
                "len=u16be,offset=2,includes-header",
                FrameSpec::Len {
                    width: LenWidth::U16Be,
                    offset: 2,
                    includes_header: true,
                    header: None,
                },
            ),
            (
                "len=u32be,includes-header",
                FrameSpec::Len {
                    width: LenWidth::U32Be,
                    offset: 0,
                    includes_header: true,
                    header: None,
                },
            ),
            (
                "len=u16le,offset=2,header=24",
                FrameSpec::Len {
                    width: LenWidth::U16Le,
                    offset: 2,
                    includes_header: false,
                    header: Some(24),
                },
            ),
            (
                "len=u32le",
                FrameSpec::Len {
                    width: LenWidth::U32Le,
                    offset: 0,
                    includes_header: false,
                    header: None,
                },
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(spec(text), expected, "{text}");
            assert_eq!(expected.to_string(), text, "canonical form of {text}");
        }
    }

    #[test]
    fn len_options_in_any_order_display_canonically() {
        let s = spec("len=u32le,includes-header,offset=3");
        assert_eq!(s, spec("len=u32le,offset=3,includes-header"));
        assert_eq!(s.to_string(), "len=u32le,offset=3,includes-header");
        assert_eq!(spec("len=u16be,offset=0").to_string(), "len=u16be");
        assert_eq!(spec("fixed=007"), FrameSpec::Fixed(7));
    }

    #[test]
    fn default_is_raw_and_names_are_all_known() {
        assert_eq!(FrameSpec::default(), FrameSpec::Raw);
        for name in FrameSpec::NAMES {
            if let Err(e) = name.parse::<FrameSpec>() {
                assert!(!e.reason.contains("unknown framing"), "{name}: {e}");
            }
        }
    }

    #[test]
    fn parse_errors_point_at_the_problem() {
        let cases: &[(&str, usize, &[&str])] = &[
            (
                "lien",
                1,
                &[
                    "unknown framing 'lien'",
                    "raw, line, crlf, cr, delim=, stx-etx, fixed=N, len=...",
                ],
            ),
            ("", 1, &["no framing"]),
            ("foo=bar", 1, &["unknown framing 'foo'"]),
            ("fixed=0", 7, &["fixed= needs a size of at least 1"]),
            ("fixed=", 7, &["fixed= needs a size of at least 1"]),
            ("fixed=abc", 7, &["'abc' is not a number"]),
            ("fixed=+5", 7, &["'+5' is not a number"]),
            ("fixed=99999999999999999999999", 7, &["too large"]),
            ("fixed", 6, &["'fixed' needs a value"]),
            ("len", 4, &["'len' needs a value"]),
            ("delim", 6, &["'delim' needs a value"]),
            ("raw=1", 4, &["'raw' takes no value"]),
            ("line=x", 5, &["'line' takes no value"]),
            (
                "len=u24",
                5,
                &[
                    "unknown length width 'u24'",
                    "u8, u16be, u16le, u32be, u32le",
                ],
            ),
            ("len=", 5, &["len= needs a length width"]),
            (
                "len=u16be,offst=2",
                11,
                &["unknown len= option 'offst'", "offset=K, includes-header"],
            ),
            ("len=u8,öffset=1", 8, &["unknown len= option 'öffset'"]),
            ("len=u8,,includes-header", 8, &["empty len= option"]),
            ("len=u8,", 8, &["empty len= option"]),
            ("len=u8,offset=1,offset=2", 17, &["offset= given twice"]),
            (
                "len=u8,includes-header,includes-header",
                24,
                &["includes-header given twice"],
            ),
            (
                "len=u8,includes-header=yes",
                23,
                &["'includes-header' takes no value"],
            ),
            ("len=u8,offset=x", 15, &["'x' is not a number"]),
            ("len=u8,offset=", 15, &["offset= needs a number"]),
            ("len=u8,offset", 8, &["'offset' needs a value"]),
            ("len=u32be,offset=18446744073709551614", 18, &["too large"]),
            ("delim=", 7, &["delim= needs a non-empty delimiter"]),
            ("len=u16le,offset=2,header=", 27, &["header= needs a size"]),
            ("len=u16le,offset=2,header=x", 27, &["'x' is not a number"]),
            ("len=u16le,offset=2,header", 20, &["'header' needs a value"]),
            (
                "len=u16le,offset=2,header=3",
                27,
                &["header=3 ends before the length field (offset 2 + 2 bytes)"],
            ),
            ("len=u8,header=4,header=5", 17, &["header= given twice"]),
            (
                "len=u8,header=4,includes-header",
                17,
                &["header= and includes-header exclude each other"],
            ),
            (
                "len=u8,includes-header,header=4",
                24,
                &["header= and includes-header exclude each other"],
            ),
        ];
        for &(text, column, words) in cases {
            let e = spec_err(text);
            assert_eq!(e.column, column, "{text}: {e}");
            for w in words {
                assert!(e.reason.contains(w), "{text}: {e:?} should mention {w:?}");
            }
        }
    }

    #[test]
    fn len_with_a_fixed_header_counts_the_bytes_after_it() {
        // EtherNet/IP: a 24-byte header, its length (u16 LE) at offset 2
        // counting what follows the header.
        let enip = spec("len=u16le,offset=2,header=24");
        assert_eq!(enip.smallest_frame(), 24);
        let mut register = vec![0x65, 0, 4, 0];
        register.extend([0; 20]);
        register.extend([1, 0, 0, 0]);
        let mut list_identity = vec![0x63, 0, 0, 0];
        list_identity.extend([0; 20]);
        let mut stream = register.clone();
        stream.extend(&list_identity);
        stream.extend(&register[..10]);
        let got = run(&enip, DEFAULT_MAX_FRAME, &[&stream]);
        assert_eq!(got.frames, [register.clone(), list_identity]);
        assert_eq!(got.rest.as_deref(), Some(&register[..10]));
        assert_eq!(got.error, None);
        // A header over --max-frame is refused before it is complete.
        let small = run(&enip, 20, &[&register[..4]]);
        assert!(small.error.is_some(), "{small:?}");
    }

    #[test]
    fn delim_payload_errors_are_shifted_into_the_spec() {
        let e = spec_err("delim=\\q");
        let inner = parse_text("\\q").unwrap_err();
        assert_eq!(e.column, 7);
        assert_eq!(e.reason, inner.reason);
        assert_eq!(spec_err("delim=ab\\xZZ").column, 9);
    }

    #[test]
    fn error_display_formats() {
        assert_eq!(
            spec_err("lien").to_string(),
            "at column 1: unknown framing 'lien' (expected raw, line, crlf, cr, delim=, stx-etx, fixed=N, len=..., mbap, modbus-rtu, gap:DUR)"
        );
        assert_eq!(
            spec_err("len=u24").to_string(),
            "at column 5: unknown length width 'u24' (expected u8, u16be, u16le, u32be, u32le)"
        );
        assert_eq!(
            spec_err("len=u16be,offst=2").to_string(),
            "at column 11: unknown len= option 'offst' (expected offset=K, includes-header, header=H)"
        );
        assert_eq!(
            FrameError::TooLarge {
                size: 2_000_000,
                max: 1_048_576
            }
            .to_string(),
            "frame of 2000000 bytes exceeds the maximum frame size of 1048576 bytes (--max-frame)"
        );
        assert_eq!(
            FrameError::LengthBelowHeader {
                length: 1,
                header: 4
            }
            .to_string(),
            "length field says 1 byte but the header alone is 4 bytes"
        );
    }

    // ---- Decoding ----

    #[test]
    fn raw_returns_whatever_is_buffered() {
        let mut d = decoder("raw");
        assert_eq!(d.next_frame(), Ok(None));
        d.push(b"abc");
        assert_eq!(drain(&mut d).unwrap(), [b"abc"]);
        d.push(b"d");
        d.push(b"ef");
        assert_eq!(drain(&mut d).unwrap(), [b"def"]);
        d.buffer_mut().extend_from_slice(b"gh");
        assert_eq!(drain(&mut d).unwrap(), [b"gh"]);
        assert_eq!(d.finish(), None);
    }

    #[test]
    fn line_keeps_cr_and_lf() {
        assert_frames("line", &[b"one\r\n", b"two\n", b"\n", b"three\n"]);
    }

    #[test]
    fn crlf_needs_both() {
        assert_frames("crlf", &[b"a\nb\rc\r\n", b"\r\r\n", b"xyz\r\n"]);
    }

    #[test]
    fn cr_ends_at_cr() {
        assert_frames("cr", &[b"abc\r", b"\nde\r", b"f\r"]);
    }

    #[test]
    fn delim_single_and_multi_byte() {
        assert_frames("delim=\\x03", &[b"ab\x03", b"\x02c\x03", b"\x03"]);
        assert_frames("delim=END", &[b"xxEND", b"ENEEND", b"EENEND"]);
        // A self-overlapping delimiter ends at its first occurrence.
        assert_frames("delim=aab", &[b"aaab", b"xaab", b"aab"]);
    }

    #[test]
    fn stx_etx_with_stx_inside() {
        assert_frames("stx-etx", &[b"\x02ab\x03", b"\x02\x02c\x03", b"\x02\x03"]);
    }

    #[test]
    fn stx_etx_junk_between_frames_can_be_taken_out() {
        let mut d = decoder("stx-etx");
        d.push(b"xx\x02AB\x03yy\x02C");
        assert_eq!(d.take_between().as_deref(), Some(&b"xx"[..]));
        assert_eq!(d.take_between(), None);
        assert_eq!(d.next_frame().unwrap().as_deref(), Some(&b"\x02AB\x03"[..]));
        assert_eq!(d.take_between().as_deref(), Some(&b"yy"[..]));
        assert_eq!(d.next_frame().unwrap(), None);
        // Inside a frame: nothing is between.
        assert_eq!(d.take_between(), None);
        d.push(b"D\x03z");
        assert_eq!(d.next_frame().unwrap().as_deref(), Some(&b"\x02CD\x03"[..]));
        assert_eq!(d.take_between().as_deref(), Some(&b"z"[..]));
        assert_eq!(d.skipped(), 0);
        // Other framings have nothing between their frames.
        let mut line = decoder("line");
        line.push(b"ab");
        assert_eq!(line.take_between(), None);
    }

    #[test]
    fn stx_etx_skips_junk_between_frames() {
        let mut d = decoder("stx-etx");
        d.push(b"junk\x02a\x03\r\n\x02b");
        assert_eq!(drain(&mut d).unwrap(), [b"\x02a\x03"]);
        // Draining already dropped the CR LF after the first frame.
        assert_eq!(d.skipped(), 6);
        d.push(b"\x03zz");
        assert_eq!(drain(&mut d).unwrap(), [b"\x02b\x03"]);
        assert_eq!(d.skipped(), 8);
        assert_eq!(d.buffered(), 0);
        // Trailing bytes never preceded by an STX are not a frame.
        d.push(b"tail");
        assert_eq!(d.finish(), None);
        assert_eq!(d.skipped(), 12);
        d.push(b"x\x02partial");
        assert_eq!(d.finish().as_deref(), Some(&b"\x02partial"[..]));
        assert_eq!(d.skipped(), 13);
    }

    #[test]
    fn fixed_size() {
        assert_frames("fixed=4", &[b"abcd", b"\n\n\n\n", b"\x02\x03\x00x"]);
    }

    #[test]
    fn tpkt() {
        let frame: &[u8] = &[0x03, 0x00, 0x00, 0x07, 0xaa, 0xbb, 0xcc];
        let other: &[u8] = &[0x03, 0x00, 0x00, 0x05, 0x01];
        let empty: &[u8] = &[0x03, 0x00, 0x00, 0x04];
        assert_frames("len=u16be,offset=2,includes-header", &[frame, other, empty]);
    }

    #[test]
    fn every_length_width() {
        assert_frames("len=u8", &[b"\x03abc", b"\x00", b"\x01\x00"]);
        assert_frames("len=u8,includes-header", &[b"\x03ab", b"\x01", b"\x02z"]);
        assert_frames("len=u16le", &[b"\x02\x00ab", b"\x00\x00", b"\x01\x00\xff"]);
        assert_frames("len=u16be", &[b"\x00\x02ab", b"\x00\x00", b"\x00\x01\xff"]);
        assert_frames(
            "len=u32be",
            &[b"\x00\x00\x00\x02ab", b"\0\0\0\0", b"\0\0\0\x01x"],
        );
        assert_frames(
            "len=u32le",
            &[b"\x02\x00\x00\x00ab", b"\0\0\0\0", b"\x01\0\0\0x"],
        );
        assert_frames(
            "len=u32le,offset=1,includes-header",
            &[b"T\x07\0\0\0ab", b"U\x05\0\0\0", b"V\x06\0\0\0!"],
        );
        let mut big = vec![0x01, 0x00];
        big.extend(std::iter::repeat_n(b'x', 256));
        assert_frames("len=u16be", &[&big, b"\0\0", b"\0\x01y"]);
    }

    #[test]
    fn len_header_announcing_too_much_fails_before_the_body() {
        let mut d = Decoder::new(spec("len=u32be"), 1000);
        d.push(&[0x00, 0x00]);
        assert_eq!(d.next_frame(), Ok(None));
        d.push(&[0x03, 0xe6]); // 998 + 4 header = 1002
        let err = FrameError::TooLarge {
            size: 1002,
            max: 1000,
        };
        assert_eq!(d.next_frame(), Err(err.clone()));
        // Poisoned: even more data doesn't revive it.
        d.push(b"more");
        assert_eq!(d.next_frame(), Err(err));
        assert_eq!(d.finish(), None);
        assert_eq!(d.buffered(), 0);

        let mut d = Decoder::new(spec("len=u16be,offset=2,includes-header"), 1000);
        d.push(&[0x03, 0x00, 0x03, 0xe9]);
        assert_eq!(
            d.next_frame(),
            Err(FrameError::TooLarge {
                size: 1001,
                max: 1000
            })
        );

        // A header that alone exceeds the maximum fails on the first byte.
        let mut d = Decoder::new(spec("len=u32be,offset=10"), 8);
        assert_eq!(d.next_frame(), Ok(None));
        d.push(b"x");
        assert_eq!(
            d.next_frame(),
            Err(FrameError::TooLarge { size: 14, max: 8 })
        );
    }

    #[test]
    fn len_within_max_reserves_the_body() {
        let mut d = Decoder::new(spec("len=u16be"), 100_000);
        d.push(&[0xff, 0x00]);
        assert_eq!(d.next_frame(), Ok(None));
        assert!(d.buffer_mut().capacity() >= 0xff02);
    }

    #[test]
    fn length_below_header() {
        let mut d = decoder("len=u16be,offset=2,includes-header");
        d.push(&[0x03, 0x00, 0x00, 0x03, 0xff]);
        let err = FrameError::LengthBelowHeader {
            length: 3,
            header: 4,
        };
        assert_eq!(d.next_frame(), Err(err.clone()));
        assert_eq!(d.next_frame(), Err(err));
    }

    #[test]
    fn fixed_larger_than_max() {
        let mut d = Decoder::new(spec("fixed=10"), 9);
        assert_eq!(d.next_frame(), Ok(None));
        d.push(b"a");
        assert_eq!(
            d.next_frame(),
            Err(FrameError::TooLarge { size: 10, max: 9 })
        );
    }

    #[test]
    fn missing_delimiter_past_max() {
        for text in ["line", "crlf", "delim=END", "stx-etx"] {
            let mut d = Decoder::new(spec(text), 8);
            d.push(b"\x0212345678");
            assert_eq!(
                d.next_frame(),
                Err(FrameError::TooLarge { size: 9, max: 8 }),
                "{text}"
            );
        }
        // Exactly max bytes without a delimiter is still fine...
        let mut d = Decoder::new(spec("line"), 8);
        d.push(b"12345678");
        assert_eq!(d.next_frame(), Ok(None));
        // ...but a delimited frame longer than max is not.
        let mut d = Decoder::new(spec("line"), 8);
        d.push(b"ok\n12345678\n");
        assert_eq!(d.next_frame().unwrap().as_deref(), Some(&b"ok\n"[..]));
        assert_eq!(
            d.next_frame(),
            Err(FrameError::TooLarge { size: 9, max: 8 })
        );
        // Junk before STX does not count towards the frame.
        let mut d = Decoder::new(spec("stx-etx"), 4);
        d.push(b"junkjunkjunk\x02ab\x03");
        assert_eq!(drain(&mut d).unwrap(), [b"\x02ab\x03"]);
    }

    #[test]
    fn finish_returns_the_partial_frame() {
        let cases: &[(&str, &[u8], &[u8])] = &[
            ("line", b"a\nbc", b"bc"),
            ("crlf", b"a\r\nb\r", b"b\r"),
            ("delim=END", b"xEND\x01EN", b"\x01EN"),
            ("fixed=3", b"abcde", b"de"),
            ("len=u8", b"\x01a\x05bc", b"\x05bc"),
            (
                "len=u16be,offset=2,includes-header",
                b"\x03\x00",
                b"\x03\x00",
            ),
            ("stx-etx", b"\x02a\x03zz\x02b", b"\x02b"),
        ];
        for &(text, wire, rest) in cases {
            let mut d = decoder(text);
            d.push(wire);
            drain(&mut d).unwrap();
            assert_eq!(d.finish().as_deref(), Some(rest), "{text}");
            assert_eq!(d.buffered(), 0, "{text}");
            assert_eq!(d.finish(), None, "{text}");
        }
    }

    #[test]
    fn scan_position_is_kept_between_calls() {
        let mut d = decoder("line");
        d.push(b"abc");
        assert_eq!(d.next_frame(), Ok(None));
        assert_eq!(d.scan, 3);
        // A multi-byte delimiter may straddle the end of the buffer.
        let mut d = decoder("delim=END");
        d.push(b"xxEN");
        assert_eq!(d.next_frame(), Ok(None));
        assert_eq!(d.scan, 2);
        d.push(b"D");
        assert_eq!(drain(&mut d).unwrap(), [b"xxEND"]);
        assert_eq!(d.scan, 0);
    }

    #[test]
    fn a_large_buffer_is_given_back_once_empty() {
        let mut d = decoder("line");
        // Nearly fill a 64 KiB offer, leaving a partial line: the view's
        // capacity after the split is small, the allocation is not.
        let mut bytes = vec![b'x'; 60_000];
        bytes[49_999] = b'\n';
        d.buffer_with_spare(64 * 1024).extend_from_slice(&bytes);
        assert_eq!(d.next_frame().unwrap().unwrap().len(), 50_000);
        d.shrink_if_grown();
        assert_eq!(d.buffered(), 10_000, "a partial frame is kept");
        d.buffer_mut().extend_from_slice(b"\n");
        assert_eq!(d.next_frame().unwrap().unwrap().len(), 10_001);
        d.shrink_if_grown();
        assert!(d.buffer_mut().capacity() <= READ_RESERVE + 64);
        d.buffer_mut().extend_from_slice(b"ab\n");
        assert_eq!(&d.next_frame().unwrap().unwrap()[..], b"ab\n");
        // Never grown: nothing to give back, the same buffer stays.
        let before = d.buffer_mut().as_ptr();
        d.shrink_if_grown();
        assert_eq!(d.buffer_mut().as_ptr(), before);
    }

    #[test]
    fn bytes_appended_through_buffer_mut_are_framed() {
        let mut d = decoder("line");
        assert!(d.buffer_mut().capacity() - d.buffered() >= READ_RESERVE);
        d.buffer_mut().extend_from_slice(b"he");
        assert_eq!(d.next_frame(), Ok(None));
        d.buffer_mut().extend_from_slice(b"llo\nwor");
        assert_eq!(drain(&mut d).unwrap(), [b"hello\n"]);
        // Callers may only append; one shrinking the buffer behind our back
        // loses framing but must not make us panic.
        d.buffer_mut().clear();
        assert_eq!(d.next_frame(), Ok(None));
        d.buffer_mut().extend_from_slice(b"x\n");
        assert_eq!(drain(&mut d).unwrap(), [b"x\n"]);
    }

    #[test]
    fn frames_are_zero_copy_slices_of_the_buffer() {
        let mut d = decoder("line");
        d.push(b"a\nbb\n");
        let first = d.next_frame().unwrap().unwrap();
        let second = d.next_frame().unwrap().unwrap();
        assert_eq!(first.as_ptr().wrapping_add(first.len()), second.as_ptr());
    }

    #[test]
    fn degenerate_specs_do_not_loop() {
        for s in [FrameSpec::Fixed(0), FrameSpec::Delim(Vec::new())] {
            let mut d = Decoder::new(s, 100);
            d.push(b"abc");
            assert_eq!(drain(&mut d).unwrap(), [b"abc"]);
        }
    }

    // ---- Property tests ----

    /// Bytes that are special to some framing, so generated streams
    /// actually contain frame boundaries.
    fn interesting_byte() -> impl Strategy<Value = u8> {
        prop_oneof![
            3 => select(vec![0x02, 0x03, b'\r', b'\n', b'E', b'N', b'D', b'a']),
            1 => any::<u8>(),
        ]
    }

    fn arb_width() -> impl Strategy<Value = LenWidth> {
        select(LenWidth::ALL.to_vec())
    }

    fn arb_spec() -> impl Strategy<Value = FrameSpec> {
        prop_oneof![
            Just(FrameSpec::Raw),
            Just(FrameSpec::Line),
            Just(FrameSpec::Crlf),
            Just(FrameSpec::Cr),
            Just(FrameSpec::StxEtx),
            prop::collection::vec(interesting_byte(), 1..4).prop_map(FrameSpec::Delim),
            (1usize..12).prop_map(FrameSpec::Fixed),
            (
                arb_width(),
                0usize..4,
                any::<bool>(),
                prop::option::of(0usize..4)
            )
                .prop_map(|(width, offset, includes_header, extra)| FrameSpec::Len {
                    width,
                    offset,
                    includes_header: includes_header && extra.is_none(),
                    header: extra.map(|e| offset + width.size() + e),
                }),
        ]
    }

    /// Anything FromStr could produce, for the round trip.
    fn arb_parseable_spec() -> impl Strategy<Value = FrameSpec> {
        prop_oneof![
            arb_spec(),
            prop::collection::vec(any::<u8>(), 1..8).prop_map(FrameSpec::Delim),
            (1usize..).prop_map(FrameSpec::Fixed),
            (arb_width(), 0usize..usize::MAX - 4, any::<bool>()).prop_map(
                |(width, offset, includes_header)| FrameSpec::Len {
                    width,
                    offset,
                    includes_header,
                    header: None,
                }
            ),
            Just(FrameSpec::ModbusRtu),
            (1u64..100_000).prop_map(|us| FrameSpec::Gap(Duration::from_micros(us))),
            (arb_width(), 0usize..1 << 40, 0usize..1 << 40).prop_map(|(width, offset, extra)| {
                FrameSpec::Len {
                    width,
                    offset,
                    includes_header: false,
                    header: Some(offset + width.size() + extra),
                }
            }),
        ]
    }

    fn encode_len(width: LenWidth, value: u64) -> Vec<u8> {
        let bytes = value.to_be_bytes();
        let mut field = bytes[8 - width.size()..].to_vec();
        if matches!(width, LenWidth::U16Le | LenWidth::U32Le) {
            field.reverse();
        }
        field
    }

    /// A stream for `spec`: valid length-prefixed frames (cut off at a
    /// random point) for len=, arbitrary bytes for everything else.
    fn arb_stream(spec: &FrameSpec) -> BoxedStrategy<Vec<u8>> {
        match *spec {
            FrameSpec::Len {
                width,
                offset,
                includes_header,
                header,
            } => (
                prop::collection::vec(
                    (
                        prop::collection::vec(any::<u8>(), offset),
                        prop::collection::vec(
                            any::<u8>(),
                            header.map_or(0, |h| h - offset - width.size()),
                        ),
                        prop::collection::vec(interesting_byte(), 0..40),
                    ),
                    0..6,
                ),
                any::<Index>(),
            )
                .prop_map(move |(frames, cut)| {
                    let mut wire = Vec::new();
                    for (prefix, after, body) in frames {
                        let header = offset + width.size() + after.len();
                        let value = body.len() + if includes_header { header } else { 0 };
                        wire.extend(prefix);
                        wire.extend(encode_len(width, value as u64));
                        wire.extend(after);
                        wire.extend(body);
                    }
                    let keep = cut.index(wire.len() + 1);
                    wire.truncate(keep);
                    wire
                })
                .boxed(),
            _ => prop::collection::vec(interesting_byte(), 0..300).boxed(),
        }
    }

    fn arb_case() -> impl Strategy<Value = (FrameSpec, Vec<u8>, Vec<Index>)> {
        arb_spec().prop_flat_map(|spec| {
            let stream = arb_stream(&spec);
            (
                Just(spec),
                stream,
                prop::collection::vec(any::<Index>(), 0..12),
            )
        })
    }

    fn chunk<'a>(stream: &'a [u8], cuts: &[Index]) -> Vec<&'a [u8]> {
        let mut at: Vec<usize> = cuts.iter().map(|c| c.index(stream.len() + 1)).collect();
        at.push(0);
        at.push(stream.len());
        at.sort_unstable();
        at.windows(2).map(|w| &stream[w[0]..w[1]]).collect()
    }

    #[derive(Debug, PartialEq)]
    struct Outcome {
        frames: Vec<Vec<u8>>,
        error: Option<FrameError>,
        rest: Option<Vec<u8>>,
        skipped: u64,
    }

    /// Feeds chunks alternately through push and buffer_mut, draining after each.
    fn run(spec: &FrameSpec, max: usize, chunks: &[&[u8]]) -> Outcome {
        let mut d = Decoder::new(spec.clone(), max);
        let mut frames = Vec::new();
        for (i, chunk) in chunks.iter().enumerate() {
            if i % 2 == 0 {
                d.push(chunk);
            } else {
                d.buffer_mut().extend_from_slice(chunk);
            }
            loop {
                match d.next_frame() {
                    Ok(Some(f)) => {
                        assert!(!f.is_empty(), "empty frame");
                        // Raw has no message boundary to enforce a limit on.
                        assert!(f.len() <= max || *spec == FrameSpec::Raw, "frame over max");
                        frames.push(f.to_vec());
                    }
                    Ok(None) => break,
                    Err(e) => {
                        assert_eq!(d.next_frame(), Err(e.clone()), "not poisoned");
                        let rest = d.finish().map(|b| b.to_vec());
                        return Outcome {
                            frames,
                            error: Some(e),
                            rest,
                            skipped: d.skipped(),
                        };
                    }
                }
            }
        }
        let rest = d.finish().map(|b| b.to_vec());
        assert_eq!(d.buffered(), 0);
        Outcome {
            frames,
            error: None,
            rest,
            skipped: d.skipped(),
        }
    }

    /// Deliberately naive whole-stream model to compare the decoder against.
    fn reference(spec: &FrameSpec, mut rest: &[u8]) -> (Vec<Vec<u8>>, Vec<u8>, u64) {
        let mut frames = Vec::new();
        let mut skipped = 0u64;
        let delim: Option<&[u8]> = match spec {
            FrameSpec::Line => Some(b"\n"),
            FrameSpec::Crlf => Some(b"\r\n"),
            FrameSpec::Cr => Some(b"\r"),
            FrameSpec::Delim(d) => Some(d),
            _ => None,
        };
        let mut take = |rest: &mut &[u8], n: usize| {
            frames.push(rest[..n].to_vec());
            *rest = &rest[n..];
        };
        if let Some(d) = delim {
            while let Some(i) = rest.windows(d.len()).position(|w| w == d) {
                take(&mut rest, i + d.len());
            }
        } else {
            match *spec {
                FrameSpec::StxEtx => loop {
                    let Some(start) = rest.iter().position(|&b| b == STX) else {
                        skipped += rest.len() as u64;
                        rest = &[];
                        break;
                    };
                    skipped += start as u64;
                    rest = &rest[start..];
                    match rest[1..].iter().position(|&b| b == ETX) {
                        Some(i) => take(&mut rest, i + 2),
                        None => break,
                    }
                },
                FrameSpec::Fixed(n) => {
                    while rest.len() >= n {
                        take(&mut rest, n);
                    }
                }
                FrameSpec::Len {
                    width,
                    offset,
                    includes_header,
                    header,
                } => loop {
                    let field_end = offset + width.size();
                    let header = header.unwrap_or(field_end);
                    if rest.len() < header {
                        break;
                    }
                    let mut field = rest[offset..field_end].to_vec();
                    if matches!(width, LenWidth::U16Le | LenWidth::U32Le) {
                        field.reverse();
                    }
                    let value = field.iter().fold(0usize, |acc, &b| acc << 8 | b as usize);
                    let total = if includes_header {
                        value
                    } else {
                        header + value
                    };
                    if rest.len() < total {
                        break;
                    }
                    take(&mut rest, total);
                },
                _ => unreachable!("raw has no reference model"),
            }
        }
        (frames, rest.to_vec(), skipped)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1024))]

        #[test]
        fn any_chunking_yields_the_same_frames((spec, stream, cuts) in arb_case()) {
            let chunks = chunk(&stream, &cuts);
            let got = run(&spec, DEFAULT_MAX_FRAME, &chunks);
            prop_assert_eq!(&got.error, &None);
            let rest = got.rest.clone().unwrap_or_default();
            if spec == FrameSpec::Raw {
                let expected: Vec<Vec<u8>> =
                    chunks.iter().filter(|c| !c.is_empty()).map(|c| c.to_vec()).collect();
                prop_assert_eq!(&got.frames, &expected);
                prop_assert!(rest.is_empty());
            } else {
                let (frames, expected_rest, skipped) = reference(&spec, &stream);
                prop_assert_eq!(&got.frames, &frames);
                prop_assert_eq!(&rest, &expected_rest);
                prop_assert_eq!(got.skipped, skipped);
                // Byte-at-a-time too, the worst case for the scan position.
                let bytes: Vec<&[u8]> = stream.chunks(1).collect();
                let bytewise = run(&spec, DEFAULT_MAX_FRAME, &bytes);
                prop_assert_eq!(&bytewise, &got);
            }
            // Nothing is lost or invented.
            let total: usize = got.frames.iter().map(Vec::len).sum::<usize>() + rest.len();
            prop_assert_eq!(total as u64 + got.skipped, stream.len() as u64);
            if spec != FrameSpec::StxEtx {
                let mut joined = got.frames.concat();
                joined.extend(&rest);
                prop_assert_eq!(joined, stream);
            }
        }

        #[test]
        fn errors_do_not_depend_on_chunking(
            spec in arb_spec(),
            stream in prop::collection::vec(interesting_byte(), 0..200),
            cuts in prop::collection::vec(any::<Index>(), 0..12),
            max in 0usize..24,
        ) {
            let whole = run(&spec, max, &[&stream]);
            let chunked = run(&spec, max, &chunk(&stream, &cuts));
            if spec == FrameSpec::Raw {
                prop_assert!(chunked.error.is_none());
                prop_assert_eq!(chunked.frames.concat(), stream);
            } else {
                prop_assert_eq!(&chunked.frames, &whole.frames);
                prop_assert_eq!(chunked.error.is_some(), whole.error.is_some());
            }
        }

        #[test]
        fn decoder_never_panics(
            spec in prop_oneof![
                arb_parseable_spec(),
                Just(FrameSpec::Fixed(0)),
                Just(FrameSpec::Delim(Vec::new())),
                (arb_width(), select(vec![usize::MAX, usize::MAX - 1, 1 << 40]), any::<bool>())
                    .prop_map(|(width, offset, includes_header)| FrameSpec::Len { width, offset, includes_header, header: None }),
            ],
            stream in prop::collection::vec(any::<u8>(), 0..300),
            cuts in prop::collection::vec(any::<Index>(), 0..12),
            max in select(vec![0usize, 1, 2, 5, 64, 4096, DEFAULT_MAX_FRAME]),
        ) {
            let chunks = chunk(&stream, &cuts);
            let mut d = Decoder::new(spec, max);
            for c in chunks {
                d.push(c);
                for _ in 0..=stream.len() {
                    match d.next_frame() {
                        Ok(Some(f)) => prop_assert!(!f.is_empty()),
                        _ => break,
                    }
                }
            }
            d.finish();
            prop_assert_eq!(d.buffered(), 0);
        }

        #[test]
        fn display_round_trips(spec in arb_parseable_spec()) {
            let text = spec.to_string();
            prop_assert_eq!(text.parse::<FrameSpec>(), Ok(spec), "{}", text);
        }

        #[test]
        fn from_str_never_panics(
            text in prop_oneof![
                any::<String>(),
                prop::collection::vec(
                    select(vec![
                        "len=", "delim=", "fixed=", "u8", "u16be", "u32le", ",", "=", "offset=",
                        "includes-header", "\\", "\\x", "0", "9", "99999999999999999999", "é", "",
                        "raw", "stx-etx", "-",
                    ]),
                    0..8,
                ).prop_map(|parts| parts.concat()),
            ]
        ) {
            match text.parse::<FrameSpec>() {
                Ok(spec) => prop_assert_eq!(spec.to_string().parse::<FrameSpec>(), Ok(spec)),
                Err(e) => prop_assert!(e.column >= 1 && e.column <= text.chars().count() + 1, "{:?}: {}", text, e),
            }
        }
    }
}
