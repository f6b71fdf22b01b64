//! Payload syntax: how a user writes bytes on the command line, and how we
//! show bytes back to them.
//!
//! A socket toolkit constantly needs bytes that a shell makes awkward to type:
//! STX/ETX framing, CRLF terminators, NULs, binary handshakes. Rather than have
//! every flag (`--eol`, `--reply`, `--expect`, `delim=...`, ...) invent its own quoting, they
//! all go through this module, so one syntax is learned once:
//!
//! * **text** (the default): the string's own UTF-8 bytes, plus a small set of
//!   C-like escapes (`\r \n \t \0 \\ \e \xHH`).
//! * **hex**: pairs of hex digits with optional `0x` prefixes and free
//!   separators, so dumps pasted from Wireshark, `xxd` or C source just work.
//!
//! The reverse direction, [`escape`], prints arbitrary bytes in the text syntax.
//! It is used when logging traffic, so it must be lossless (anything it prints
//! can be pasted back as a payload) and fast enough for busy connections.
//!
//! Errors carry a 1-based *character* column rather than a byte offset because
//! they are shown under the user's input in a terminal, where a multi-byte
//! character occupies one column.
//!
//! Everything here is pure: no I/O, no allocation beyond the returned values.

use std::fmt;
use std::str::FromStr;

/// How a payload argument is to be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PayloadMode {
    /// UTF-8 text with backslash escapes; see [`parse_text`].
    #[default]
    Text,
    /// Hex digit pairs with separators; see [`parse_hex`].
    Hex,
}

impl PayloadMode {
    /// The name users type (`:mode text|hex`).
    pub fn name(self) -> &'static str {
        match self {
            PayloadMode::Text => "text",
            PayloadMode::Hex => "hex",
        }
    }
}

/// A syntax error in a payload; `column` is the 1-based character column in
/// the input where the problem starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayloadError {
    pub column: usize,
    pub reason: String,
}

impl PayloadError {
    fn new(column: usize, reason: impl Into<String>) -> Self {
        PayloadError {
            column,
            reason: reason.into(),
        }
    }

    /// Moves the column right by `by`, for when the payload was cut out of a
    /// larger argument (e.g. the `...` in `delim=...`) and the error should
    /// point into the argument as the user typed it.
    pub fn shifted(self, by: usize) -> Self {
        PayloadError {
            // Saturating: a nonsensical shift must not turn an error report
            // into a panic.
            column: self.column.saturating_add(by),
            reason: self.reason,
        }
    }
}

impl fmt::Display for PayloadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at column {}: {}", self.column, self.reason)
    }
}

impl std::error::Error for PayloadError {}

/// The 1-based character column of byte offset `byte` in `input`.
///
/// Only called on the error path, so the linear scan costs nothing in the
/// common case and keeps the parsers working on plain byte offsets.
fn column_at(input: &str, byte: usize) -> usize {
    input[..byte].chars().count() + 1
}

/// Parses a payload written in text syntax.
///
/// Characters stand for their UTF-8 bytes. A backslash starts one of the
/// escapes `\r \n \t \0 \\ \e` or `\xHH` (exactly two hex digits, either
/// case). Anything else after a backslash is an error rather than being taken
/// literally: a typo such as `\R` silently sending two bytes is worse than a
/// clear message. The empty string is the empty payload.
pub fn parse_text(input: &str) -> Result<Vec<u8>, PayloadError> {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        // Copy the run up to the next backslash in one go. Scanning bytes is
        // sound for UTF-8: 0x5c never occurs inside a multi-byte character.
        let run_end = bytes[i..]
            .iter()
            .position(|&b| b == b'\\')
            .map_or(bytes.len(), |p| i + p);
        out.extend_from_slice(&bytes[i..run_end]);
        i = run_end;
        if i == bytes.len() {
            break;
        }

        let backslash = i;
        let Some(&code) = bytes.get(i + 1) else {
            return Err(PayloadError::new(
                column_at(input, backslash),
                "lone '\\' at end of payload",
            ));
        };
        let simple = match code {
            b'r' => Some(b'\r'),
            b'n' => Some(b'\n'),
            b't' => Some(b'\t'),
            b'0' => Some(0),
            b'\\' => Some(b'\\'),
            b'e' => Some(0x1b),
            _ => None,
        };
        if let Some(b) = simple {
            out.push(b);
            i += 2;
            continue;
        }
        if code == b'x' {
            let hi = bytes.get(i + 2).copied().and_then(hex_value);
            let lo = bytes.get(i + 3).copied().and_then(hex_value);
            match (hi, lo) {
                (Some(hi), Some(lo)) => {
                    out.push(hi << 4 | lo);
                    i += 4;
                    continue;
                }
                _ => {
                    return Err(PayloadError::new(
                        column_at(input, backslash),
                        "'\\x' needs two hex digits",
                    ))
                }
            }
        }

        // Unknown escape. `code` may be the first byte of a multi-byte
        // character, so name the whole character, not the byte.
        let c = input[i + 1..].chars().next().unwrap_or('?');
        let named = if c.is_control() {
            // A raw control character would garble the message (or the
            // terminal), so describe it instead of printing it.
            format!("'\\' followed by U+{:04X}", c as u32)
        } else {
            format!("'\\{c}'")
        };
        return Err(PayloadError::new(
            column_at(input, backslash),
            format!("unknown escape {named} (known: \\r \\n \\t \\0 \\\\ \\e \\xHH)"),
        ));
    }
    Ok(out)
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn is_hex_separator(c: char) -> bool {
    c.is_whitespace() || c == ':' || c == ','
}

/// Parses a payload written in hex syntax.
///
/// Bytes are pairs of hex digits. Whitespace, `:` and `,` separate tokens and
/// may appear anywhere between bytes; each token may carry a `0x`/`0X` prefix,
/// and within a token digits simply pair up (`023132` is three bytes). This
/// accepts the common dump formats as pasted, without a format switch.
///
/// A token with an odd number of digits is an error rather than being
/// zero-padded: whether `0x2` means `02` or a truncated `2?` is a guess, and
/// a wrong guess puts a wrong byte on the wire.
pub fn parse_hex(input: &str) -> Result<Vec<u8>, PayloadError> {
    let mut out = Vec::with_capacity(input.len() / 2);
    // (byte offset, column) of the token being collected, if any.
    let mut token: Option<(usize, usize)> = None;
    let mut column = 0;
    for (i, c) in input.char_indices() {
        column += 1;
        if is_hex_separator(c) {
            if let Some((start, start_col)) = token.take() {
                parse_hex_token(&input[start..i], start_col, &mut out)?;
            }
        } else if token.is_none() {
            token = Some((i, column));
        }
    }
    if let Some((start, start_col)) = token {
        parse_hex_token(&input[start..], start_col, &mut out)?;
    }
    Ok(out)
}

/// Decodes one separator-free token starting at `column`, appending to `out`.
fn parse_hex_token(token: &str, column: usize, out: &mut Vec<u8>) -> Result<(), PayloadError> {
    let (prefix, digits) = match token.get(..2) {
        Some(p @ ("0x" | "0X")) => (p, &token[2..]),
        _ => ("", token),
    };
    if !prefix.is_empty() && digits.is_empty() {
        return Err(PayloadError::new(
            column,
            format!("no digits after '{prefix}'"),
        ));
    }

    // A bad character is reported before an odd count: in `0x2g` the `g` is
    // the real mistake, and the count is meaningless until it is fixed.
    let mut high: Option<u8> = None;
    for (k, c) in digits.chars().enumerate() {
        let Some(v) = u8::try_from(c).ok().and_then(hex_value) else {
            return Err(PayloadError::new(
                column + prefix.len() + k,
                format!("'{}' is not a hex digit", c.escape_debug()),
            ));
        };
        match high.take() {
            Some(h) => out.push(h << 4 | v),
            None => high = Some(v),
        }
    }
    if high.is_some() {
        return Err(PayloadError::new(
            column,
            format!("odd number of hex digits in '{token}'"),
        ));
    }
    Ok(())
}

/// Parses `input` in the given syntax.
pub fn parse(input: &str, mode: PayloadMode) -> Result<Vec<u8>, PayloadError> {
    match mode {
        PayloadMode::Text => parse_text(input),
        PayloadMode::Hex => parse_hex(input),
    }
}

/// The terminator appended to each sent message (`--eol none|lf|crlf|cr|<payload>`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Eol {
    #[default]
    None,
    Lf,
    Crlf,
    Cr,
    Custom(Vec<u8>),
}

impl Eol {
    /// The bytes appended to each message.
    pub fn bytes(&self) -> &[u8] {
        match self {
            Eol::None => b"",
            Eol::Lf => b"\n",
            Eol::Crlf => b"\r\n",
            Eol::Cr => b"\r",
            Eol::Custom(bytes) => bytes,
        }
    }
}

impl FromStr for Eol {
    type Err = PayloadError;

    /// Accepts the keywords `none`, `lf`, `crlf`, `cr` (ASCII
    /// case-insensitive); anything else is a text payload, so `--eol '\x03'`
    /// works. A custom payload spelling a standard terminator (`'\r\n'`) is
    /// normalised to its keyword, so equal terminators compare equal.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        for (name, eol) in [
            ("none", Eol::None),
            ("lf", Eol::Lf),
            ("crlf", Eol::Crlf),
            ("cr", Eol::Cr),
        ] {
            if s.eq_ignore_ascii_case(name) {
                return Ok(eol);
            }
        }
        // Empty would otherwise parse as an empty payload, i.e. silently mean
        // "none"; an empty argument is more likely a quoting accident.
        if s.is_empty() {
            return Err(PayloadError::new(1, "empty --eol; use 'none'"));
        }
        Ok(match parse_text(s)?.as_slice() {
            b"\n" => Eol::Lf,
            b"\r\n" => Eol::Crlf,
            b"\r" => Eol::Cr,
            other => Eol::Custom(other.to_vec()),
        })
    }
}

impl fmt::Display for Eol {
    /// Prints a form that [`FromStr`] reads back to the same bytes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Eol::None => f.write_str("none"),
            Eol::Lf => f.write_str("lf"),
            Eol::Crlf => f.write_str("crlf"),
            Eol::Cr => f.write_str("cr"),
            // Empty custom bytes behave exactly like no terminator.
            Eol::Custom(bytes) if bytes.is_empty() => f.write_str("none"),
            Eol::Custom(bytes) => {
                let text = escape(bytes);
                let is_keyword = ["none", "lf", "crlf", "cr"]
                    .iter()
                    .any(|k| text.eq_ignore_ascii_case(k));
                if is_keyword {
                    // Custom bytes that spell a keyword (e.g. the two letters
                    // "lf") would read back as that keyword; escaping the
                    // first letter keeps the round trip exact.
                    write!(f, "\\x{:02x}{}", bytes[0], &text[1..])
                } else {
                    f.write_str(&text)
                }
            }
        }
    }
}

/// The escape form of every byte, left-aligned and zero-padded to 4 bytes,
/// and the form's real length. Built at compile time so the hot loop is a
/// table load and a fixed-size copy.
const ESCAPES: ([[u8; 4]; 256], [u8; 256]) = build_escape_tables();

const fn build_escape_tables() -> ([[u8; 4]; 256], [u8; 256]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut forms = [[0u8; 4]; 256];
    let mut lens = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let byte = b as u8;
        let (form, len) = match byte {
            b'\\' => ([b'\\', b'\\', 0, 0], 2),
            b'\r' => ([b'\\', b'r', 0, 0], 2),
            b'\n' => ([b'\\', b'n', 0, 0], 2),
            b'\t' => ([b'\\', b't', 0, 0], 2),
            0 => ([b'\\', b'0', 0, 0], 2),
            0x1b => ([b'\\', b'e', 0, 0], 2),
            0x20..=0x7e => ([byte, 0, 0, 0], 1),
            _ => (
                [
                    b'\\',
                    b'x',
                    HEX[(byte >> 4) as usize],
                    HEX[(byte & 15) as usize],
                ],
                4,
            ),
        };
        forms[b] = form;
        lens[b] = len;
        b += 1;
    }
    (forms, lens)
}

/// Append `bytes` to `out` in payload text syntax, for display: printable
/// ASCII 0x20..=0x7e as is except backslash, which becomes `\\`; 0x0d `\r`,
/// 0x0a `\n`, 0x09 `\t`, 0x00 `\0`, 0x1b `\e`; every other byte `\xHH`
/// (lowercase hex). Never lossy: `parse_text(escape(b)) == b` for all `b`.
pub fn escape_into(out: &mut Vec<u8>, bytes: &[u8]) {
    // This runs on every logged line of a busy connection. Two regimes:
    // mostly-printable text is copied run by run with `extend_from_slice`,
    // and binary data goes through a branch-free table loop into a stack
    // buffer, so no per-byte capacity checks or formatting happen either way.
    const CHUNK: usize = 256;
    let (forms, lens) = &ESCAPES;
    let mut buf = [0u8; CHUNK * 4];
    let mut rest = bytes;
    while !rest.is_empty() {
        let plain = rest
            .iter()
            .position(|&b| lens[b as usize] != 1)
            .unwrap_or(rest.len());
        // Short runs are cheaper to push through the table loop than to pay
        // a separate `extend_from_slice` call for.
        if plain >= 16 || plain == rest.len() {
            out.extend_from_slice(&rest[..plain]);
            rest = &rest[plain..];
            continue;
        }
        let take = rest.len().min(CHUNK);
        let mut len = 0;
        for &b in &rest[..take] {
            // Always copy 4 bytes and advance by the real length: cheaper
            // than branching on the escape width.
            buf[len..len + 4].copy_from_slice(&forms[b as usize]);
            len += lens[b as usize] as usize;
        }
        out.extend_from_slice(&buf[..len]);
        rest = &rest[take..];
    }
}

/// [`escape_into`] into a fresh `String`.
pub fn escape(bytes: &[u8]) -> String {
    let mut out = Vec::with_capacity(bytes.len());
    escape_into(&mut out, bytes);
    // The escaped form is pure ASCII by construction; the check is a cheap
    // safety net rather than `unsafe`.
    String::from_utf8(out).expect("escaped payload is ASCII")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn err(r: Result<Vec<u8>, PayloadError>) -> PayloadError {
        r.expect_err("expected a payload error")
    }

    // ---- text ----

    #[test]
    fn text_plain_and_empty() {
        assert_eq!(parse_text("").unwrap(), b"");
        assert_eq!(parse_text("hello").unwrap(), b"hello");
        assert_eq!(parse_text("é€").unwrap(), "é€".as_bytes());
    }

    #[test]
    fn text_every_escape() {
        assert_eq!(parse_text(r"\r").unwrap(), b"\r");
        assert_eq!(parse_text(r"\n").unwrap(), b"\n");
        assert_eq!(parse_text(r"\t").unwrap(), b"\t");
        assert_eq!(parse_text(r"\0").unwrap(), b"\0");
        assert_eq!(parse_text(r"\\").unwrap(), b"\\");
        assert_eq!(parse_text(r"\e").unwrap(), b"\x1b");
        assert_eq!(
            parse_text(r"\x00\x7f\xFF\xaB").unwrap(),
            b"\x00\x7f\xff\xab"
        );
        assert_eq!(
            parse_text(r"GET /\r\n\x02é\x03").unwrap(),
            b"GET /\r\n\x02\xc3\xa9\x03"
        );
        // `\x` takes exactly two digits; a third is a literal character.
        assert_eq!(parse_text(r"\x414").unwrap(), b"A4");
    }

    #[test]
    fn text_unknown_escape() {
        let e = err(parse_text(r"abc\q"));
        assert_eq!(e.column, 4);
        assert_eq!(
            e.to_string(),
            r"at column 4: unknown escape '\q' (known: \r \n \t \0 \\ \e \xHH)"
        );
        // Uppercase variants are not aliases.
        assert_eq!(err(parse_text(r"\R")).column, 1);
        // Columns count characters, not bytes.
        let e = err(parse_text(r"éé\é"));
        assert_eq!(e.column, 3);
        assert!(e.reason.contains(r"'\é'"), "{}", e.reason);
        // A control character is described, not printed raw.
        let e = err(parse_text("a\\\n"));
        assert_eq!(e.column, 2);
        assert!(e.reason.contains("U+000A"), "{}", e.reason);
    }

    #[test]
    fn text_short_hex_escape() {
        for input in [r"\x", r"\x4", r"\x4g", r"\xg4"] {
            let e = err(parse_text(input));
            assert_eq!(e.column, 1, "{input}");
            assert_eq!(e.reason, r"'\x' needs two hex digits");
        }
        let e = err(parse_text(r"ab\x1"));
        assert_eq!(e.to_string(), r"at column 3: '\x' needs two hex digits");
        // A multi-byte character right after `\x` must not be split.
        assert_eq!(err(parse_text("\\x€")).column, 1);
    }

    #[test]
    fn text_lone_backslash() {
        let e = err(parse_text("ab\\"));
        assert_eq!(e.to_string(), r"at column 3: lone '\' at end of payload");
        assert_eq!(err(parse_text("\\")).column, 1);
        // An escaped backslash followed by a lone one.
        assert_eq!(err(parse_text(r"€\\\")).column, 4);
    }

    // ---- hex ----

    #[test]
    fn hex_examples() {
        let want = [2u8, 0x31, 0x32, 3];
        assert_eq!(parse_hex("02 31 32 03").unwrap(), want);
        assert_eq!(parse_hex("02:31:32:03").unwrap(), want);
        assert_eq!(parse_hex("0x02,0x31").unwrap(), [2, 0x31]);
        assert_eq!(parse_hex("  0A0b\t0c  ").unwrap(), [0x0a, 0x0b, 0x0c]);
        assert_eq!(parse_hex("").unwrap(), b"");
        assert_eq!(parse_hex(" \t\n:,").unwrap(), b"");
        assert_eq!(parse_hex("023132").unwrap(), [2, 0x31, 0x32]);
        assert_eq!(parse_hex("0x0203").unwrap(), [2, 3]);
        assert_eq!(parse_hex("0XfF, ,:0x00").unwrap(), [0xff, 0]);
    }

    #[test]
    fn hex_odd_digits() {
        let e = err(parse_hex("02 0x2"));
        assert_eq!(
            e.to_string(),
            "at column 4: odd number of hex digits in '0x2'"
        );
        let e = err(parse_hex("abc"));
        assert_eq!(e.column, 1);
        assert!(e.reason.contains("odd number") && e.reason.contains("'abc'"));
        assert_eq!(err(parse_hex("00:1")).column, 4);
    }

    #[test]
    fn hex_bad_digit() {
        let e = err(parse_hex("02 3g"));
        assert_eq!(e.to_string(), "at column 5: 'g' is not a hex digit");
        // The bad character wins over the odd count, and the column accounts
        // for the prefix.
        assert_eq!(
            err(parse_hex("0x2g")).to_string(),
            "at column 4: 'g' is not a hex digit"
        );
        // A second `0x` inside a token is not a prefix.
        assert_eq!(err(parse_hex("0x0x12")).column, 4);
        assert_eq!(err(parse_hex("00x1")).column, 3);
        let e = err(parse_hex("é ü"));
        assert_eq!((e.column, e.reason.as_str()), (1, "'é' is not a hex digit"));
        assert_eq!(err(parse_hex("ab;cd")).reason, "';' is not a hex digit");
    }

    #[test]
    fn hex_bare_prefix() {
        let e = err(parse_hex("01 0x"));
        assert_eq!(e.to_string(), "at column 4: no digits after '0x'");
        assert_eq!(err(parse_hex("0X,01")).reason, "no digits after '0X'");
    }

    #[test]
    fn parse_dispatches_on_mode() {
        assert_eq!(parse("41", PayloadMode::Text).unwrap(), b"41");
        assert_eq!(parse("41", PayloadMode::Hex).unwrap(), b"A");
        assert_eq!(PayloadMode::default(), PayloadMode::Text);
    }

    #[test]
    fn error_shift_and_display() {
        let e = err(parse_text(r"\q")).shifted(6);
        assert_eq!(e.column, 7);
        assert!(e.to_string().starts_with("at column 7: unknown escape"));
        assert_eq!(
            PayloadError::new(usize::MAX, "x").shifted(1).column,
            usize::MAX
        );
        let _: &dyn std::error::Error = &e;
    }

    // ---- Eol ----

    #[test]
    fn eol_keywords() {
        assert_eq!("none".parse::<Eol>().unwrap(), Eol::None);
        assert_eq!("LF".parse::<Eol>().unwrap(), Eol::Lf);
        assert_eq!("CrLf".parse::<Eol>().unwrap(), Eol::Crlf);
        assert_eq!("cr".parse::<Eol>().unwrap(), Eol::Cr);
        assert_eq!(Eol::default(), Eol::None);
        assert_eq!(Eol::None.bytes(), b"");
        assert_eq!(Eol::Lf.bytes(), b"\n");
        assert_eq!(Eol::Crlf.bytes(), b"\r\n");
        assert_eq!(Eol::Cr.bytes(), b"\r");
        for (eol, s) in [
            (Eol::None, "none"),
            (Eol::Lf, "lf"),
            (Eol::Crlf, "crlf"),
            (Eol::Cr, "cr"),
        ] {
            assert_eq!(eol.to_string(), s);
        }
    }

    #[test]
    fn eol_custom() {
        let eol: Eol = r"\x03".parse().unwrap();
        assert_eq!(eol, Eol::Custom(vec![3]));
        assert_eq!(eol.bytes(), [3]);
        assert_eq!(eol.to_string(), r"\x03");
        assert_eq!(r"\r\n".parse::<Eol>().unwrap(), Eol::Crlf);
        assert_eq!(r"\n".parse::<Eol>().unwrap(), Eol::Lf);
        assert_eq!(";".parse::<Eol>().unwrap(), Eol::Custom(b";".to_vec()));
        // Bytes spelling a keyword must not display as that keyword.
        let lf_letters = Eol::Custom(b"lf".to_vec());
        assert_eq!(lf_letters.to_string(), r"\x6cf");
        assert_eq!(lf_letters.to_string().parse::<Eol>().unwrap(), lf_letters);
        assert_eq!(Eol::Custom(vec![]).to_string(), "none");
    }

    #[test]
    fn eol_errors() {
        let e = "".parse::<Eol>().unwrap_err();
        assert_eq!(e.to_string(), "at column 1: empty --eol; use 'none'");
        let e = r"ab\z".parse::<Eol>().unwrap_err();
        assert_eq!(e.column, 3);
        assert!(e.reason.contains("unknown escape"));
    }

    // ---- escape ----

    #[test]
    fn escape_every_form() {
        assert_eq!(escape(b""), "");
        assert_eq!(escape(b"hi there ~"), "hi there ~");
        assert_eq!(escape(b"\\"), r"\\");
        assert_eq!(escape(b"\r\n\t\0\x1b"), r"\r\n\t\0\e");
        assert_eq!(escape(b"\x01\x7f\x80\xff\x0b"), r"\x01\x7f\x80\xff\x0b");
        assert_eq!(escape("é".as_bytes()), r"\xc3\xa9");
        let mut out = b"pre:".to_vec();
        escape_into(&mut out, b"a\nb");
        assert_eq!(out, br"pre:a\nb");
    }

    #[test]
    fn escape_long_mixed_input_crosses_chunks() {
        // Exercise the run fast path, the table loop and chunk boundaries.
        let mut input = Vec::new();
        let mut want = String::new();
        for i in 0..2000u32 {
            let b = (i * 37 % 256) as u8;
            input.push(b);
            want.push_str(&escape(&[b]));
            if i % 100 == 0 {
                input.extend_from_slice(b"a long plain run of printable text");
                want.push_str("a long plain run of printable text");
            }
        }
        assert_eq!(escape(&input), want);
    }

    /// Rough throughput check: `cargo test --release -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn escape_throughput() {
        const SIZE: usize = 50 * 1024 * 1024;
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let random: Vec<u8> = (0..SIZE)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 32) as u8
            })
            .collect();
        let text: Vec<u8> = b"GET /index.html HTTP/1.1\r\nHost: example.org\r\n\r\n"
            .iter()
            .copied()
            .cycle()
            .take(SIZE)
            .collect();
        for (name, data) in [("random", &random), ("text", &text)] {
            let mut out = Vec::with_capacity(SIZE * 4);
            let start = std::time::Instant::now();
            escape_into(&mut out, data);
            let secs = start.elapsed().as_secs_f64();
            let mbps = SIZE as f64 / 1e6 / secs;
            println!(
                "escape_into {name}: {mbps:.0} MB/s ({} bytes out)",
                out.len()
            );
            std::hint::black_box(&out);
        }
    }

    // ---- properties ----

    /// Spaced hex encoder with the variations a user might paste: random
    /// separators, optional `0x` prefixes, random case and several bytes per
    /// token.
    fn encode_hex(bytes: &[u8], seps: &[u8], prefix: bool, upper: bool, group: usize) -> String {
        let mut s = String::new();
        for (n, chunk) in bytes.chunks(group.max(1)).enumerate() {
            if n > 0 || seps[0].is_multiple_of(2) {
                s.push(match seps[n % seps.len()] % 5 {
                    0 => ' ',
                    1 => ':',
                    2 => ',',
                    3 => '\t',
                    _ => '\n',
                });
            }
            if prefix {
                s.push_str(if upper { "0X" } else { "0x" });
            }
            for b in chunk {
                if upper {
                    s.push_str(&format!("{b:02X}"));
                } else {
                    s.push_str(&format!("{b:02x}"));
                }
            }
        }
        s
    }

    fn check_column(input: &str, r: Result<Vec<u8>, PayloadError>) -> Result<(), TestCaseError> {
        if let Err(e) = r {
            let max = input.chars().count() + 1;
            prop_assert!(
                (1..=max).contains(&e.column),
                "column {} out of 1..={} for {:?}: {}",
                e.column,
                max,
                input,
                e
            );
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn prop_escape_roundtrips(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let escaped = escape(&bytes);
            prop_assert!(escaped.is_ascii());
            prop_assert_eq!(parse_text(&escaped).unwrap(), bytes);
        }

        #[test]
        fn prop_escape_keeps_plain_text(s in "[ -\\[\\]-~]{0,100}") {
            prop_assert_eq!(escape(s.as_bytes()), s);
        }

        #[test]
        fn prop_hex_roundtrips(
            bytes in proptest::collection::vec(any::<u8>(), 0..200),
            seps in proptest::collection::vec(any::<u8>(), 1..8),
            prefix in any::<bool>(),
            upper in any::<bool>(),
            group in 1usize..5,
        ) {
            let encoded = encode_hex(&bytes, &seps, prefix, upper, group);
            prop_assert_eq!(parse_hex(&encoded).unwrap(), bytes);
        }

        #[test]
        fn prop_text_never_panics(s in any::<String>()) {
            check_column(&s, parse_text(&s))?;
        }

        #[test]
        fn prop_text_never_panics_escape_heavy(s in "[\\\\xXrnte0-9a-fA-Fqé€ ]{0,24}") {
            check_column(&s, parse_text(&s))?;
        }

        #[test]
        fn prop_hex_never_panics(s in any::<String>()) {
            check_column(&s, parse_hex(&s))?;
        }

        #[test]
        fn prop_hex_never_panics_hex_heavy(s in "[0-9a-fA-FxXg :,\t\né]{0,32}") {
            check_column(&s, parse_hex(&s))?;
        }

        #[test]
        fn prop_eol_display_roundtrips(bytes in proptest::collection::vec(any::<u8>(), 1..16)) {
            let eol = Eol::Custom(bytes.clone());
            let back: Eol = eol.to_string().parse().unwrap();
            prop_assert_eq!(back.bytes(), &bytes[..]);
        }

        #[test]
        fn prop_eol_parse_never_panics(s in any::<String>()) {
            if let Err(e) = s.parse::<Eol>() {
                prop_assert!((1..=s.chars().count() + 1).contains(&e.column));
            }
        }
    }
}
