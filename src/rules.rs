//! `listen --rules FILE`: a device simulator's rules, parsed and matched.
//!
//! A TOML file lists rules; each framed message is matched against them in
//! order and the first match answers (`default` says what happens to a
//! message no rule matches). Everything here is pure: the file's text in,
//! an answer per message out, so every matcher and template is tested
//! without sockets, and the parser is fuzzed. A rules file is checked whole
//! before the server binds its socket: any problem is `FILE:LINE` and the
//! reason (exit 2).
//!
//! ```toml
//! default = "echo"                      # echo | none | close
//! [[rule]]
//! name = "status"                       # optional, shown in the log
//! match = 'STATUS?\r\n'                 # exact; also prefix, contains, regex, hex
//! reply = 'RUNNING #{{counter}}\r\n'    # or reply-hex; $1..$9, {{req}}, {{req[A..B]}}
//! delay = "20ms"
//! close = false
//! ```
//!
//! Strings are payload syntax (`\r \n \t \0 \\ \e \xHH`); in TOML, write
//! them in single quotes ('...') so that TOML leaves the backslashes to us.

use std::{
    ops::Range,
    sync::atomic::{AtomicU64, Ordering::Relaxed},
    time::Duration,
};

use regex::bytes::{Regex, RegexBuilder};
use serde::Deserialize;
use toml::Spanned;

use crate::payload;

/// What happens to a message no rule matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fallback {
    Echo,
    Nothing,
    Close,
}

/// A rules file, checked.
#[derive(Debug)]
pub struct Rules {
    rules: Vec<Rule>,
    fallback: Fallback,
}

/// One rule.
#[derive(Debug)]
pub struct Rule {
    /// 1-based, in file order.
    pub number: usize,
    pub name: Option<String>,
    matcher: Matcher,
    reply: Option<Template>,
    /// `exec = "CMD"`: the matched message goes to CMD's stdin, and its
    /// stdout is the reply (instead of `reply`).
    pub exec: Option<crate::program::Program>,
    pub delay: Option<Duration>,
    pub close: bool,
    hits: AtomicU64,
}

impl Rule {
    /// `rule 2 ("status")`, for log lines.
    pub fn label(&self) -> String {
        match &self.name {
            Some(name) => format!("rule {} ({name})", self.number),
            None => format!("rule {}", self.number),
        }
    }
}

#[derive(Debug)]
enum Matcher {
    Exact(Vec<u8>),
    Prefix(Vec<u8>),
    Contains(Vec<u8>),
    Regex(Regex),
    /// Each byte, or `None` for `??`.
    Hex(Vec<Option<u8>>),
}

/// A reply with placeholders.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Template(Vec<Piece>);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Bytes(Vec<u8>),
    /// `$1`..`$9`: a regex group (empty when it did not take part).
    Group(usize),
    /// `{{counter}}`: this rule's hit count, in decimal.
    Counter,
    /// `{{req}}` (`None`) or `{{req[A..B]}}`: bytes A up to, not
    /// including, B (as Rust ranges read).
    Req(Option<Range<usize>>),
    /// `{{len16}}`: how many reply bytes follow it, big-endian u16 (an
    /// MBAP length, counted for you).
    Len16,
    /// `{{crc16}}`: the CRC-16/MODBUS of the reply bytes before it, low
    /// byte first (an RTU frame's end).
    Crc16,
}

/// How one message is answered.
#[derive(Debug, PartialEq, Eq)]
pub struct Answer<'r> {
    /// The rule that matched (`None`: the default applied).
    pub rule: Option<&'r Rule>,
    /// The bytes to send back (may be empty), or why the reply could not
    /// be built (a request shorter than a `{{req[A..B]}}` range).
    pub reply: Result<Vec<u8>, String>,
    /// The rule's program, which answers instead (`reply` is then empty).
    pub exec: Option<&'r crate::program::Program>,
    pub delay: Option<Duration>,
    /// Close the connection after the reply.
    pub close: bool,
}

impl PartialEq for Rule {
    fn eq(&self, other: &Rule) -> bool {
        self.number == other.number
    }
}

impl Eq for Rule {}

/// Where a rules file is wrong: 1-based line, and the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RulesError {
    pub line: usize,
    pub reason: String,
}

impl std::fmt::Display for RulesError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.reason)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDef {
    default: Option<Spanned<String>>,
    #[serde(default)]
    rule: Vec<Spanned<RuleDef>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RuleDef {
    name: Option<String>,
    #[serde(rename = "match")]
    exact: Option<Spanned<String>>,
    prefix: Option<Spanned<String>>,
    contains: Option<Spanned<String>>,
    regex: Option<Spanned<String>>,
    hex: Option<Spanned<String>>,
    reply: Option<Spanned<String>>,
    reply_hex: Option<Spanned<String>>,
    exec: Option<Spanned<String>>,
    delay: Option<Spanned<String>>,
    #[serde(default)]
    close: bool,
}

/// 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

impl Rules {
    /// Parse and check a whole rules file.
    pub fn parse(text: &str) -> Result<Rules, RulesError> {
        if let Some(line) = text.lines().position(|l| l.trim() == "[rule]") {
            return Err(RulesError {
                line: line + 1,
                reason: "write [[rule]] (one per rule), not [rule]".into(),
            });
        }
        let file: FileDef = toml::from_str(text).map_err(|e| {
            let mut reason = e.message().trim().to_string();
            if reason.contains("escape") {
                reason.push_str(
                    "; in a double-quoted TOML string a backslash starts a TOML escape: \
                     write payloads in single quotes (match = 'A\\r\\n')",
                );
            }
            RulesError {
                line: e.span().map_or(1, |s| line_of(text, s.start)),
                reason,
            }
        })?;
        let at = |span: Range<usize>, reason: String| RulesError {
            line: line_of(text, span.start),
            reason,
        };
        let fallback = match &file.default {
            None => Fallback::Echo,
            Some(d) => match d.get_ref().as_str() {
                "echo" => Fallback::Echo,
                "none" => Fallback::Nothing,
                "close" => Fallback::Close,
                other => {
                    return Err(at(
                        d.span(),
                        format!("default '{other}': expected echo, none or close"),
                    ))
                }
            },
        };
        let mut rules = Vec::with_capacity(file.rule.len());
        for (i, def) in file.rule.into_iter().enumerate() {
            let span = def.span();
            rules.push(rule(i + 1, def.into_inner(), span, &at)?);
        }
        Ok(Rules { rules, fallback })
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// What a message no rule matches gets: `echo`, `none` or `close`.
    pub fn fallback_name(&self) -> &'static str {
        match self.fallback {
            Fallback::Echo => "echo",
            Fallback::Nothing => "none",
            Fallback::Close => "close",
        }
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The programs the rules run (`exec`), to check before serving.
    pub fn programs(&self) -> impl Iterator<Item = &crate::program::Program> {
        self.rules.iter().filter_map(|r| r.exec.as_ref())
    }

    /// Answer one message: the first rule that matches, else the default.
    pub fn answer(&self, message: &[u8]) -> Answer<'_> {
        for rule in &self.rules {
            let groups = match &rule.matcher {
                Matcher::Regex(re) => match re.captures(message) {
                    Some(caps) => Some(caps),
                    None => continue,
                },
                other if other.matches(message) => None,
                _ => continue,
            };
            let hit = rule.hits.fetch_add(1, Relaxed) + 1;
            let reply = match &rule.reply {
                Some(template) => template.render(message, groups.as_ref(), hit),
                None => Ok(Vec::new()),
            };
            return Answer {
                rule: Some(rule),
                reply,
                exec: rule.exec.as_ref(),
                delay: rule.delay,
                close: rule.close,
            };
        }
        Answer {
            rule: None,
            reply: Ok(match self.fallback {
                Fallback::Echo => message.to_vec(),
                Fallback::Nothing | Fallback::Close => Vec::new(),
            }),
            exec: None,
            delay: None,
            close: self.fallback == Fallback::Close,
        }
    }
}

/// Check one `[[rule]]`.
fn rule(
    number: usize,
    def: RuleDef,
    span: Range<usize>,
    at: &impl Fn(Range<usize>, String) -> RulesError,
) -> Result<Rule, RulesError> {
    let matchers = [
        ("match", &def.exact),
        ("prefix", &def.prefix),
        ("contains", &def.contains),
        ("regex", &def.regex),
        ("hex", &def.hex),
    ];
    let given: Vec<&str> = matchers
        .iter()
        .filter(|(_, v)| v.is_some())
        .map(|(k, _)| *k)
        .collect();
    if given.len() != 1 {
        let reason = if given.is_empty() {
            format!(
                "rule {number} has no matcher: give one of match, prefix, contains, regex or hex"
            )
        } else {
            format!(
                "rule {number} has several matchers ({}): give exactly one",
                given.join(", ")
            )
        };
        return Err(at(span, reason));
    }
    let matcher = matcher(&def, at)?;
    let groups = match &matcher {
        Matcher::Regex(re) => re.captures_len() - 1,
        _ => 0,
    };
    let reply = match (&def.reply, &def.reply_hex) {
        (Some(_), Some(_)) => {
            return Err(at(
                span,
                format!("rule {number} has both reply and reply-hex"),
            ))
        }
        (Some(t), None) => Some(
            Template::parse(t.get_ref(), false, groups)
                .map_err(|e| at(t.span(), format!("reply: {e}")))?,
        ),
        (None, Some(t)) => Some(
            Template::parse(t.get_ref(), true, groups)
                .map_err(|e| at(t.span(), format!("reply-hex: {e}")))?,
        ),
        (None, None) => None,
    };
    let exec = match (&def.exec, reply.is_some()) {
        (Some(_), true) => {
            return Err(at(
                span,
                format!("rule {number} has both a reply and exec: give one"),
            ))
        }
        (Some(cmd), false) => Some(
            crate::program::Program::parse("exec", cmd.get_ref()).map_err(|e| at(cmd.span(), e))?,
        ),
        (None, _) => None,
    };
    let delay = def
        .delay
        .as_ref()
        .map(|d| {
            crate::units::parse_duration(d.get_ref())
                .map_err(|e| at(d.span(), format!("delay '{}': {e}", d.get_ref())))
        })
        .transpose()?;
    Ok(Rule {
        number,
        name: def.name,
        matcher,
        reply,
        exec,
        delay,
        close: def.close,
        hits: AtomicU64::new(0),
    })
}

/// The one matcher of a rule (checked to be exactly one by the caller).
fn matcher(
    def: &RuleDef,
    at: &impl Fn(Range<usize>, String) -> RulesError,
) -> Result<Matcher, RulesError> {
    let payload = |value: &Spanned<String>, key: &str| {
        payload::parse_text(value.get_ref())
            .map_err(|e| at(value.span(), format!("{key} '{}': {e}", value.get_ref())))
    };
    Ok(if let Some(v) = &def.exact {
        Matcher::Exact(payload(v, "match")?)
    } else if let Some(v) = &def.prefix {
        Matcher::Prefix(payload(v, "prefix")?)
    } else if let Some(v) = &def.contains {
        Matcher::Contains(payload(v, "contains")?)
    } else if let Some(v) = &def.regex {
        // Byte semantics, as for the messages it matches: `.` is any byte
        // but LF (also \xff, which a Unicode-mode `.` never matches), `\d`
        // `\w` `\s` are ASCII classes, and a non-ASCII literal matches its
        // UTF-8 bytes. Unicode classes (`\p{..}`, `(?u)`) are refused: the
        // binary carries no Unicode tables (they were most of its
        // relocated data, paid at every start; BENCHMARKS.md, One-shot).
        let build = |pattern: &str| RegexBuilder::new(pattern).unicode(false).build();
        let re = build(&format!("^(?:{})$", v.get_ref())).map_err(|e| {
            // Say what is wrong with the user's regex, not with the
            // whole-message wrapper around it.
            let e = build(v.get_ref()).err().unwrap_or(e);
            at(v.span(), format!("regex '{}': {e}", v.get_ref()))
        })?;
        Matcher::Regex(re)
    } else {
        let v = def.hex.as_ref().expect("one matcher is given");
        Matcher::Hex(hex_pattern(v.get_ref()).map_err(|e| at(v.span(), format!("hex: {e}")))?)
    })
}

impl Matcher {
    /// Whether the whole message matches (regex is handled by the caller,
    /// which needs its groups).
    fn matches(&self, message: &[u8]) -> bool {
        match self {
            Matcher::Exact(b) => message == b.as_slice(),
            Matcher::Prefix(b) => message.starts_with(b),
            Matcher::Contains(b) => b.is_empty() || memchr::memmem::find(message, b).is_some(),
            Matcher::Regex(re) => re.is_match(message),
            Matcher::Hex(pattern) => {
                pattern.len() == message.len()
                    && pattern
                        .iter()
                        .zip(message)
                        .all(|(p, b)| p.is_none_or(|p| p == *b))
            }
        }
    }
}

/// `?? 00 01 ??`: hex bytes and `??` wildcards, separated by spaces, ':'
/// or ','; `0x` prefixes are allowed and a token may hold several bytes
/// (`0001`).
fn hex_pattern(text: &str) -> Result<Vec<Option<u8>>, String> {
    let mut out = Vec::new();
    for token in text
        .split(|c: char| c.is_whitespace() || c == ':' || c == ',')
        .filter(|t| !t.is_empty())
    {
        if token == "??" {
            out.push(None);
            continue;
        }
        // Wildcards need no spaces: `????0000` is two wildcards and two
        // zero bytes, pair by pair.
        if token.contains('?') {
            let pairs = token.as_bytes().chunks(2);
            if token.len() % 2 != 0 {
                return Err(format!("'{token}': an odd number of hex digits and '?'"));
            }
            for pair in pairs {
                match pair {
                    b"??" => out.push(None),
                    _ => {
                        let text = std::str::from_utf8(pair).unwrap_or("");
                        let byte = payload::parse_hex(text).map_err(|_| {
                            format!("'{token}': '{text}' is neither a hex byte nor '??'")
                        })?;
                        out.extend(byte.into_iter().map(Some));
                    }
                }
            }
            continue;
        }
        let bytes = payload::parse_hex(token).map_err(|e| format!("'{token}': {}", e.reason))?;
        out.extend(bytes.into_iter().map(Some));
    }
    if out.is_empty() {
        return Err("empty pattern".into());
    }
    Ok(out)
}

impl Template {
    /// Split `text` into literal bytes (payload syntax, or hex) and
    /// placeholders; `groups` is how many groups the rule's regex has.
    fn parse(text: &str, hex: bool, groups: usize) -> Result<Template, String> {
        let mut pieces = Vec::new();
        let mut literal = String::new();
        let mut rest = text;
        let flush = |literal: &mut String, pieces: &mut Vec<Piece>| -> Result<(), String> {
            if literal.is_empty() {
                return Ok(());
            }
            let bytes = if hex {
                if literal.trim().is_empty() {
                    Vec::new()
                } else {
                    payload::parse_hex(literal).map_err(|e| format!("'{literal}': {e}"))?
                }
            } else {
                payload::parse_text(literal).map_err(|e| format!("'{literal}': {e}"))?
            };
            literal.clear();
            if !bytes.is_empty() {
                pieces.push(Piece::Bytes(bytes));
            }
            Ok(())
        };
        while let Some(c) = rest.chars().next() {
            if let Some(after) = rest.strip_prefix("{{") {
                let end = after
                    .find("}}")
                    .ok_or_else(|| format!("'{{{{' without '}}}}' in '{text}'"))?;
                flush(&mut literal, &mut pieces)?;
                pieces.push(placeholder(&after[..end])?);
                rest = &after[end + 2..];
                continue;
            }
            let mut chars = rest.chars();
            chars.next();
            if c == '$' {
                if let Some(d) = chars.next().and_then(|d| d.to_digit(10)) {
                    let n = d as usize;
                    if n == 0 || n > groups {
                        return Err(match groups {
                            0 => format!("${n}: only a regex rule has groups"),
                            _ => format!("${n}: the regex has {groups} group(s)"),
                        });
                    }
                    flush(&mut literal, &mut pieces)?;
                    pieces.push(Piece::Group(n));
                    rest = &rest[2..];
                    continue;
                }
            }
            literal.push(c);
            rest = &rest[c.len_utf8()..];
        }
        flush(&mut literal, &mut pieces)?;
        Ok(Template(pieces))
    }

    fn render(
        &self,
        request: &[u8],
        groups: Option<&regex::bytes::Captures<'_>>,
        hit: u64,
    ) -> Result<Vec<u8>, String> {
        let mut out = Vec::new();
        let mut lengths = Vec::new();
        let mut crcs = Vec::new();
        for piece in &self.0 {
            match piece {
                Piece::Len16 => {
                    lengths.push(out.len());
                    out.extend_from_slice(&[0, 0]);
                }
                Piece::Crc16 => {
                    crcs.push(out.len());
                    out.extend_from_slice(&[0, 0]);
                }
                Piece::Bytes(b) => out.extend_from_slice(b),
                Piece::Group(n) => {
                    if let Some(m) = groups.and_then(|c| c.get(*n)) {
                        out.extend_from_slice(m.as_bytes());
                    }
                }
                Piece::Counter => out.extend_from_slice(hit.to_string().as_bytes()),
                Piece::Req(None) => out.extend_from_slice(request),
                Piece::Req(Some(range)) => {
                    let bytes = request.get(range.clone()).ok_or_else(|| {
                        format!(
                            "the request is {} bytes; {{{{req[{}..{}]}}}} needs {}",
                            request.len(),
                            range.start,
                            range.end,
                            range.end
                        )
                    })?;
                    out.extend_from_slice(bytes);
                }
            }
        }
        for at in lengths {
            let after = out.len() - at - 2;
            let length = u16::try_from(after)
                .map_err(|_| format!("{{{{len16}}}}: {after} bytes follow it, more than 65535"))?;
            out[at..at + 2].copy_from_slice(&length.to_be_bytes());
        }
        // After the lengths: a CRC covers them.
        for at in crcs {
            let crc = crate::rtu::crc16(&out[..at]);
            out[at..at + 2].copy_from_slice(&crc.to_le_bytes());
        }
        Ok(out)
    }
}

/// `counter`, `req`, `req[A..B]`, `len16`, `crc16`.
fn placeholder(inside: &str) -> Result<Piece, String> {
    let inside = inside.trim();
    match inside {
        "counter" => return Ok(Piece::Counter),
        "req" => return Ok(Piece::Req(None)),
        "len16" => return Ok(Piece::Len16),
        "crc16" => return Ok(Piece::Crc16),
        _ => {}
    }
    let range = inside
        .strip_prefix("req[")
        .and_then(|r| r.strip_suffix(']'))
        .ok_or_else(|| {
            format!(
                "unknown placeholder '{{{{{inside}}}}}' (counter, req, req[A..B], len16 or crc16)"
            )
        })?;
    let (a, b) = range
        .split_once("..")
        .ok_or_else(|| format!("'{{{{{inside}}}}}': expected req[A..B]"))?;
    let number = |s: &str| {
        s.trim()
            .parse::<usize>()
            .map_err(|_| format!("'{{{{{inside}}}}}': '{s}' is not a number"))
    };
    let (a, b) = (number(a)?, number(b)?);
    if a > b {
        return Err(format!("'{{{{{inside}}}}}': {a} > {b}"));
    }
    Ok(Piece::Req(Some(a..b)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn rules(text: &str) -> Rules {
        Rules::parse(text).unwrap_or_else(|e| panic!("{e}"))
    }

    fn err(text: &str) -> RulesError {
        Rules::parse(text).unwrap_err()
    }

    fn reply(rules: &Rules, message: &[u8]) -> (Option<usize>, Result<Vec<u8>, String>) {
        let a = rules.answer(message);
        (a.rule.map(|r| r.number), a.reply)
    }

    const DEVICE: &str = r#"
default = "none"
[[rule]]
name = "status"
match = 'STATUS?\r\n'
reply = 'RUNNING\r\n'
[[rule]]
prefix = "SET "
reply = 'ACK\r\n'
delay = "20ms"
[[rule]]
regex = '^GET (\d+)\r\n$'
reply = 'VAL $1 #{{counter}}\r\n'
[[rule]]
hex = "?? ?? 00 00 00 06 01 03 ?? ?? ?? ??"
reply-hex = "{{req[0..2]}} 00 00 00 05 01 03 02 00 2a"
[[rule]]
contains = "BYE"
reply = 'bye\r\n'
close = true
[[rule]]
match = "SILENT"
"#;

    #[test]
    fn a_rule_may_answer_with_a_program() {
        let r = rules(
            "[[rule]]\nprefix = 'R'\nexec = 'python3 device.py'\n[[rule]]\nmatch = 'x'\nreply = 'y'\n",
        );
        let a = r.answer(b"READ");
        assert_eq!(a.exec.map(|p| p.line.as_str()), Some("python3 device.py"));
        assert_eq!(a.reply, Ok(Vec::new()));
        assert_eq!(r.answer(b"x").exec, None);
        let both = Rules::parse("[[rule]]\nmatch = 'x'\nreply = 'y'\nexec = 'cat'\n").unwrap_err();
        assert_eq!(both.line, 1);
        assert!(
            both.reason.contains("both a reply and exec"),
            "{}",
            both.reason
        );
        let empty = Rules::parse("[[rule]]\nmatch = 'x'\nexec = ''\n").unwrap_err();
        assert_eq!(empty.line, 3);
        assert!(
            empty.reason.contains("exec: the command is empty"),
            "{}",
            empty.reason
        );
    }

    #[test]
    fn first_match_wins_with_each_matcher() {
        let r = rules(DEVICE);
        assert_eq!(r.len(), 6);
        assert_eq!(
            reply(&r, b"STATUS?\r\n"),
            (Some(1), Ok(b"RUNNING\r\n".to_vec()))
        );
        let set = r.answer(b"SET X=1\r\n");
        assert_eq!(set.rule.unwrap().number, 2);
        assert_eq!(set.delay, Some(Duration::from_millis(20)));
        assert_eq!(
            reply(&r, b"GET 42\r\n"),
            (Some(3), Ok(b"VAL 42 #1\r\n".to_vec()))
        );
        assert_eq!(
            reply(&r, b"GET 7\r\n"),
            (Some(3), Ok(b"VAL 7 #2\r\n".to_vec()))
        );
        let modbus = [0x12, 0x34, 0, 0, 0, 6, 1, 3, 0, 0, 0, 1];
        assert_eq!(
            reply(&r, &modbus),
            (Some(4), Ok(vec![0x12, 0x34, 0, 0, 0, 5, 1, 3, 2, 0, 0x2a]))
        );
        let bye = r.answer(b"good BYE now");
        assert_eq!((bye.rule.unwrap().number, bye.close), (5, true));
        assert_eq!(reply(&r, b"SILENT"), (Some(6), Ok(Vec::new())));
        // No match: the default (none here).
        assert_eq!(reply(&r, b"GET x\r\n"), (None, Ok(Vec::new())));
        assert_eq!(r.answer(b"x").rule, None);
        assert_eq!(r.rules[0].label(), "rule 1 (status)");
        assert_eq!(r.rules[1].label(), "rule 2");
    }

    #[test]
    fn defaults() {
        let echo = rules("");
        assert_eq!(reply(&echo, b"hi"), (None, Ok(b"hi".to_vec())));
        let close = rules("default = \"close\"");
        let a = close.answer(b"hi");
        assert_eq!((a.reply, a.close), (Ok(Vec::new()), true));
        assert!(err("default = \"loud\"")
            .reason
            .contains("expected echo, none or close"));
    }

    #[test]
    fn requests_shorter_than_a_range_get_an_error_not_a_panic() {
        let r = rules("[[rule]]\nprefix = \"A\"\nreply = '{{req[1..4]}}'\n");
        assert_eq!(reply(&r, b"ABCDE").1, Ok(b"BCD".to_vec()));
        let short = reply(&r, b"AB").1.unwrap_err();
        assert!(
            short.contains("the request is 2 bytes; {{req[1..4]}} needs 4"),
            "{short}"
        );
        let whole = rules("[[rule]]\nprefix = \"A\"\nreply = '<{{req}}>'\n");
        assert_eq!(reply(&whole, b"AB").1, Ok(b"<AB>".to_vec()));
    }

    #[test]
    fn bad_files_name_the_line() {
        let e = err("[[rule]]\nreply = 'x'\n");
        assert_eq!(e.line, 1);
        assert!(e.reason.contains("rule 1 has no matcher"), "{e}");
        let e = err("\n[[rule]]\nmatch = 'a'\nprefix = 'b'\n");
        assert!(e.reason.contains("several matchers (match, prefix)"), "{e}");
        let e = err("[[rule]]\nmatch = 'a'\n\n[[rule]]\nregex = '('\n");
        assert_eq!(e.line, 5, "{e}");
        assert!(e.reason.starts_with("regex '('"), "{e}");
        let e = err("[[rule]]\nmatch = 'a'\nreply = '{{req[3..1]}}'\n");
        assert_eq!(e.line, 3);
        assert!(e.reason.contains("3 > 1"), "{e}");
        let e = err("[[rule]]\nmatch = 'a\\q'\n");
        assert_eq!(e.line, 2);
        assert!(e.reason.contains("unknown escape"), "{e}");
        let e = err("[[rule]]\nmatch = 'a'\nreplay = 'b'\n");
        assert!(e.reason.contains("unknown field `replay`"), "{e}");
        assert_eq!(e.line, 3, "{e}");
        let e = err("[[rule]]\nmatch = 'a'\nreply = '$1'\n");
        assert!(e.reason.contains("only a regex rule has groups"), "{e}");
        let e = err("[[rule]]\nregex = '(a)'\nreply = '$2'\n");
        assert!(e.reason.contains("1 group(s)"), "{e}");
        let e = err("[[rule]]\nhex = '01 zz'\n");
        assert!(e.reason.starts_with("hex: 'zz'"), "{e}");
        let e = err("[[rule]]\nmatch = 'a'\ndelay = 'soon'\n");
        assert!(e.reason.starts_with("delay 'soon'"), "{e}");
        let e = err("[[rule]]\nmatch = 'a'\nreply = 'x'\nreply-hex = '00'\n");
        assert!(e.reason.contains("both reply and reply-hex"), "{e}");
        let e = err("[[rule]\n");
        assert_eq!(e.line, 1);
        let e = err("[[rule]]\nmatch = 'a'\nreply = '{{count}}'\n");
        assert!(e.reason.contains("unknown placeholder '{{count}}'"), "{e}");
    }

    #[test]
    fn regex_matches_the_whole_message() {
        let r = rules("[[rule]]\nregex = 'ab'\nreply = 'y'\n");
        assert_eq!(reply(&r, b"ab").0, Some(1));
        assert_eq!(reply(&r, b"xab").0, None);
        assert_eq!(reply(&r, b"abx").0, None);
        // Bytes, not text: invalid UTF-8 is matched too.
        let r = rules("[[rule]]\nregex = '(?-u)\\xff.'\nreply = 'y'\n");
        assert_eq!(reply(&r, b"\xff\x00").0, Some(1));
    }

    /// `{{len16}}` counts the reply bytes after it; `{{req[A..B]}}` is A
    /// up to, not including, B (issue 26, trap 10).
    /// `{{crc16}}` ends an RTU reply with the CRC of what precedes it.
    #[test]
    fn crc16_ends_an_rtu_reply() {
        let r = rules(
            "[[rule]]\nhex = '01 03 ?? ?? ?? ?? ?? ??'\nreply-hex = '{{req[0..2]}} 04 00 2a 00 2b {{crc16}}'\n",
        );
        let request = crate::payload::parse_hex("01 03 00 00 00 02 c4 0b").unwrap();
        let (_, reply) = self::reply(&r, &request);
        assert_eq!(
            reply.unwrap(),
            crate::payload::parse_hex("01 03 04 00 2a 00 2b 9b e4").unwrap()
        );
    }

    #[test]
    fn len16_counts_what_follows_and_ranges_exclude_their_end() {
        let r = rules(
            "[[rule]]\nhex = '?? ?? 00 00 00 06 01 03 ?? ?? ?? ??'\nreply-hex = '{{req[0..2]}} 00 00 {{len16}} 01 03 02 00 2a'\n",
        );
        let (_, reply) = self::reply(&r, &[0, 7, 0, 0, 0, 6, 1, 3, 0, 0, 0, 1]);
        assert_eq!(reply.unwrap(), [0, 7, 0, 0, 0, 5, 1, 3, 2, 0, 0x2a]);
    }

    /// Errors that say how to fix the file (issue 26, trap 10).
    #[test]
    fn rules_errors_say_the_fix() {
        let e = err("[rule]\nmatch = 'a'\n");
        assert_eq!(e.line, 1);
        assert!(e.reason.contains("write [[rule]] (one per rule)"), "{e}");
        let e = err("[[rule]]\nmatch = \"A\\q\"\n");
        assert!(e.reason.contains("single quotes"), "{e}");
        let e = err("[[rule]]\nregex = 'a(b'\n");
        assert!(!e.reason.contains("^(?:"), "the wrapper leaks: {e}");
        assert!(e.reason.contains("a(b"), "{e}");
        // Wildcards without spaces.
        let r = rules("[[rule]]\nhex = '????0000'\nreply = 'y'\n");
        assert_eq!(reply(&r, &[9, 9, 0, 0]).0, Some(1));
        assert_eq!(reply(&r, &[9, 9, 0, 1]).0, None);
        let e = err("[[rule]]\nhex = '???0'\n");
        assert!(e.reason.contains("'??'") || e.reason.contains("odd"), "{e}");
    }

    /// Rules regexes have byte semantics without asking: `.` is any byte
    /// but LF, `\d` is ASCII digits, a non-ASCII literal is its UTF-8
    /// bytes; Unicode classes are refused with the spot and the regex.
    #[test]
    fn regexes_match_bytes_and_refuse_unicode_classes() {
        let r = rules("[[rule]]\nregex = '\\x02.*\\x03'\nreply = 'y'\n");
        assert_eq!(reply(&r, b"\x02\xff\xfe\x00\x03").0, Some(1));
        let r = rules("[[rule]]\nregex = 'T=(\\d+)'\nreply = '$1'\n");
        assert_eq!(reply(&r, b"T=42").0, Some(1));
        assert_eq!(
            reply(&r, "T=\u{0664}".as_bytes()).0,
            None,
            "Arabic-Indic digit"
        );
        let r = rules("[[rule]]\nregex = 'caf\u{e9}'\nreply = 'y'\n");
        assert_eq!(reply(&r, "caf\u{e9}".as_bytes()).0, Some(1));
        let e = err("[[rule]]\nregex = '\\p{Greek}+'\n");
        assert_eq!(e.line, 2, "{e}");
        assert!(e.reason.starts_with("regex '\\p{Greek}+'"), "{e}");
    }

    #[test]
    fn templates_in_hex_and_text() {
        assert_eq!(
            Template::parse("{{req[0..2]}} 00 2a", true, 0),
            Ok(Template(vec![
                Piece::Req(Some(0..2)),
                Piece::Bytes(vec![0, 0x2a])
            ]))
        );
        assert_eq!(
            Template::parse("a$1b{{counter}}", false, 1),
            Ok(Template(vec![
                Piece::Bytes(b"a".to_vec()),
                Piece::Group(1),
                Piece::Bytes(b"b".to_vec()),
                Piece::Counter
            ]))
        );
        // A '$' not followed by a digit is a literal.
        assert_eq!(
            Template::parse("$x", false, 0),
            Ok(Template(vec![Piece::Bytes(b"$x".to_vec())]))
        );
    }

    proptest! {
        #[test]
        fn parsing_never_panics(text in ".{0,300}") {
            let _ = Rules::parse(&text);
        }

        #[test]
        fn answering_never_panics(message in proptest::collection::vec(any::<u8>(), 0..40)) {
            let r = rules(DEVICE);
            let a = r.answer(&message);
            if a.rule.is_none() {
                prop_assert_eq!(a.reply, Ok(Vec::new()));
            }
        }

        #[test]
        fn exact_rules_answer_exactly_their_message(
            message in "[a-zA-Z0-9 ]{1,20}",
            other in "[a-zA-Z0-9 ]{1,20}",
        ) {
            let r = rules(&format!("[[rule]]\nmatch = '{message}'\nreply = 'yes'\n"));
            prop_assert_eq!(reply(&r, message.as_bytes()).0, Some(1));
            if other != message {
                prop_assert_eq!(reply(&r, other.as_bytes()).0, None);
            }
        }
    }
}
