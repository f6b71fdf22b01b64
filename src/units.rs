//! Durations and byte sizes as users type them on the command line.
//!
//! Every timeout flag (`-w`, `--idle`, `--retry`, ...) and the `+DUR`
//! pauses of replay scripts share one syntax, so it lives here rather than in
//! each parser. A bare number means seconds, as in `nc -w 5`; otherwise
//! a number with a unit (`250ms`, `1.5s`, `2m`, `1h 30m`).

use std::{fmt, str::FromStr, time::Duration};

/// A duration given on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Dur(pub Duration);

impl FromStr for Dur {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_duration(s).map(Dur)
    }
}

impl Dur {
    /// A bound where `0` means "no bound" (`-w 0`, `--connect-timeout 0`).
    pub fn bound(self) -> Option<Duration> {
        (!self.0.is_zero()).then_some(self.0)
    }
}

impl fmt::Display for Dur {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_duration(self.0))
    }
}

const UNITS: &str = "ms, s, m, h (also us, ns, d)";

/// Seconds per unit, for the units people write in timeouts.
fn unit_scale(unit: &str) -> Option<f64> {
    Some(match unit {
        "ns" => 1e-9,
        "us" | "µs" => 1e-6,
        "ms" => 1e-3,
        "s" | "sec" | "secs" | "second" | "seconds" => 1.0,
        "m" | "min" | "mins" | "minute" | "minutes" => 60.0,
        "h" | "hr" | "hrs" | "hour" | "hours" => 3600.0,
        "d" | "day" | "days" => 86_400.0,
        _ => return None,
    })
}

/// The longest duration accepted anywhere (timeouts, pauses, intervals):
/// far beyond any real use, and small enough that adding it to "now" can
/// never overflow a clock.
pub const MAX_DURATION: Duration = Duration::from_secs(10 * 365 * 86_400);

/// Parse `5`, `0.5`, `250ms`, `1.5s`, `2m`, `1h30m`, `1h 30m`. Errors name
/// the 1-based column, like every other parser of user input here.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    parse_duration_at(s).map_err(|(column, reason)| match column {
        Some(column) => format!("at column {column}: {reason}"),
        None => reason,
    })
}

/// [`parse_duration`] with the error's column apart from its reason, for
/// callers that place the duration inside a longer line (`+DUR` in scripts).
pub fn parse_duration_at(s: &str) -> Result<Duration, (Option<usize>, String)> {
    let located = |column: usize, reason: String| (Some(column), reason);
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    let skip_space = |i: &mut usize| {
        while *i < chars.len() && chars[*i].is_whitespace() {
            *i += 1;
        }
    };
    skip_space(&mut i);
    if i == chars.len() {
        return Err((None, "empty duration (examples: 5, 250ms, 1.5s, 2m)".into()));
    }
    let mut total = 0f64;
    let mut groups = 0;
    while i < chars.len() {
        let number_start = i;
        while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
            i += 1;
        }
        let number: String = chars[number_start..i].iter().collect();
        if number.is_empty() {
            return Err(located(
                i + 1,
                format!(
                    "expected a number, found '{}' (examples: 5, 250ms, 1.5s)",
                    chars[i]
                ),
            ));
        }
        let value: f64 = number
            .parse()
            .map_err(|_| located(number_start + 1, format!("'{number}' is not a number")))?;
        skip_space(&mut i);
        let unit_start = i;
        while i < chars.len() && chars[i].is_alphabetic() {
            i += 1;
        }
        let unit: String = chars[unit_start..i].iter().collect();
        groups += 1;
        if unit.is_empty() {
            // A bare number is seconds, as in `nc -w 5`; only on its own.
            skip_space(&mut i);
            if groups > 1 || i < chars.len() {
                let column = if i < chars.len() {
                    i + 1
                } else {
                    unit_start + 1
                };
                return Err(located(column, format!("expected a unit ({UNITS})")));
            }
            total += value;
            break;
        }
        let scale = unit_scale(&unit).ok_or_else(|| {
            located(
                unit_start + 1,
                format!("unknown unit '{unit}' (expected {UNITS})"),
            )
        })?;
        total += value * scale;
        skip_space(&mut i);
    }
    match Duration::try_from_secs_f64(total) {
        Ok(d) if d <= MAX_DURATION => Ok(d),
        _ => Err((
            None,
            format!("'{}' is too long (at most 3650 days)", s.trim()),
        )),
    }
}

/// A replay speed factor (`--speed 2` plays twice as fast): a finite
/// number above zero.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Speed(pub f64);

impl FromStr for Speed {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let value: f64 = s
            .trim()
            .parse()
            .map_err(|_| format!("'{s}' is not a number (examples: 2, 0.5)"))?;
        // Bounded so that scaling any accepted pause stays a valid duration.
        if (0.001..=1_000_000.0).contains(&value) {
            Ok(Speed(value))
        } else {
            Err(format!(
                "speed must be between 0.001 and 1000000, not '{s}'"
            ))
        }
    }
}

/// A byte count such as `--max-frame 1MiB`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteSize(pub usize);

impl FromStr for ByteSize {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let trimmed = s.trim();
        let split = trimmed
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(trimmed.len());
        let (number, unit) = trimmed.split_at(split);
        if number.is_empty() {
            return Err(format!(
                "'{trimmed}' does not start with a number (examples: 4096, 64KiB, 1MiB)"
            ));
        }
        let value: usize = number
            .parse()
            .map_err(|_| format!("'{number}' is too large"))?;
        let scale: usize = match unit.trim() {
            "" | "B" => 1,
            "k" | "K" | "KiB" | "kB" => 1 << 10,
            "M" | "MiB" | "MB" => 1 << 20,
            "G" | "GiB" | "GB" => 1 << 30,
            other => {
                return Err(format!(
                    "at column {}: unknown unit '{other}' (expected B, KiB, MiB, GiB)",
                    trimmed[..split].chars().count() + 1
                ))
            }
        };
        let bytes = value
            .checked_mul(scale)
            .ok_or_else(|| format!("'{trimmed}' is too large"))?;
        if bytes == 0 {
            return Err("a size must be at least 1 byte".into());
        }
        Ok(ByteSize(bytes))
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// "1 message", "2 messages": a count with its noun, for every line a
/// user reads (summaries, decoded records).
pub fn plural(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn durations_users_type() {
        let ms = Duration::from_millis;
        assert_eq!(parse_duration("5"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("0.25"), Ok(ms(250)));
        assert_eq!(parse_duration("250ms"), Ok(ms(250)));
        assert_eq!(parse_duration("1.5s"), Ok(ms(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h 30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration(" 2 s "), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration(" 2 s "), Ok(Duration::from_secs(2)));
    }

    #[test]
    fn bad_durations_say_why() {
        let err = |s: &str| parse_duration(s).unwrap_err();
        assert!(err("").contains("empty"));
        assert_eq!(
            err("5x"),
            "at column 2: unknown unit 'x' (expected ms, s, m, h (also us, ns, d))"
        );
        assert!(err("1.5q").starts_with("at column 4: unknown unit 'q'"));
        assert!(err("1..5").starts_with("at column 1: '1..5' is not a number"));
        assert!(err("abc").starts_with("at column 1: expected a number, found 'a'"));
        assert!(err("-1").starts_with("at column 1: expected a number"));
        assert!(err("1h 5").starts_with("at column 5: expected a unit"));
        assert!(err("5 5").starts_with("at column 3: expected a unit"));
    }

    #[test]
    fn sizes() {
        assert_eq!("4096".parse(), Ok(ByteSize(4096)));
        assert_eq!("64KiB".parse(), Ok(ByteSize(65536)));
        assert_eq!("1MiB".parse(), Ok(ByteSize(1 << 20)));
        assert!("0".parse::<ByteSize>().unwrap_err().contains("at least 1"));
        assert!("MiB".parse::<ByteSize>().unwrap_err().contains("number"));
        assert!("3XB"
            .parse::<ByteSize>()
            .unwrap_err()
            .contains("unknown unit"));
    }

    proptest! {
        #[test]
        fn duration_parser_never_panics(s in ".{0,20}") {
            let _ = parse_duration(&s);
        }

        #[test]
        fn whole_milliseconds_round_trip(n in 0u64..10_000_000) {
            prop_assert_eq!(parse_duration(&format!("{n}ms")), Ok(Duration::from_millis(n)));
        }
    }
}
