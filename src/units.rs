//! Durations and byte sizes as users type them on the command line.
//!
//! Every timeout flag (`-w`, `--idle`, `--retry`, ...) and, later, the `+DUR`
//! pauses of replay scripts share one syntax, so it lives here rather than in
//! each parser. A bare number means seconds, as in `nc -w 5`; otherwise
//! humantime's units (`250ms`, `1.5s`, `2m`, `1h 30m`).

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

impl fmt::Display for Dur {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_duration(self.0))
    }
}

/// Parse `5`, `0.5`, `250ms`, `1.5s`, `2m`, `1h30m`. Errors name what is wrong.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let trimmed = s.trim();
    if trimmed.is_empty() {
        return Err("empty duration (examples: 5, 250ms, 1.5s, 2m)".into());
    }
    // A bare number is seconds; Duration::try_from_secs_f64 rejects NaN,
    // infinities and negatives for us.
    if trimmed.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        let secs: f64 = trimmed
            .parse()
            .map_err(|_| format!("'{trimmed}' is not a number of seconds"))?;
        return Duration::try_from_secs_f64(secs)
            .map_err(|_| format!("'{trimmed}' is out of range"));
    }
    // humantime does not take fractions ("1.5s"); handle a single fractional
    // number with a unit ourselves and leave the rest to humantime.
    if let Some(split) = trimmed.find(|c: char| !(c.is_ascii_digit() || c == '.')) {
        let (number, unit) = trimmed.split_at(split);
        if number.contains('.') {
            let value: f64 = number
                .parse()
                .map_err(|_| format!("'{number}' is not a number"))?;
            let scale = match unit.trim() {
                "ms" => 1e-3,
                "s" | "sec" | "secs" => 1.0,
                "m" | "min" | "mins" => 60.0,
                "h" | "hr" | "hrs" => 3600.0,
                other => {
                    return Err(format!(
                        "unknown unit '{other}' after '{number}' (expected ms, s, m, h)"
                    ))
                }
            };
            return Duration::try_from_secs_f64(value * scale)
                .map_err(|_| format!("'{trimmed}' is out of range"));
        }
    }
    humantime::parse_duration(trimmed).map_err(|e| format!("'{trimmed}': {e}"))
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
                    "unknown unit '{other}' (expected B, KiB, MiB, GiB)"
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
    }

    #[test]
    fn bad_durations_say_why() {
        assert!(parse_duration("").unwrap_err().contains("empty"));
        assert!(parse_duration("5x").unwrap_err().contains("5x"));
        assert!(parse_duration("1.5q")
            .unwrap_err()
            .contains("unknown unit 'q'"));
        assert!(parse_duration("1..5").unwrap_err().contains("not a number"));
        assert!(parse_duration("-1").is_err());
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
