//! Checked messages, and their JUnit XML report (`--junit FILE` on
//! `replay` and `send --expect`) for CI dashboards.
//!
//! Every subcommand that compares a reply with what it expected records the
//! outcome here, once: the `ok`/`differs` lines `replay --verify` prints,
//! the final `verify:` tally and the JUnit file all come from the same
//! [`Suite`]. No I/O: the caller writes the file.

use std::{
    fmt::Write as _,
    time::{Duration, SystemTime},
};

use crate::display;

/// One checked message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Case {
    /// e.g. `flow 1 message 2`, `message 3`.
    pub name: String,
    /// From sending the request to the reply being complete.
    pub time: Duration,
    /// Why it failed: the expected and received hexdumps, or an error.
    pub failure: Option<Failure>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// One line: "reply differs", "no reply within 2s", ...
    pub message: String,
    /// The details (hexdumps).
    pub text: String,
}

/// The checks of one run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suite {
    /// The replayed file, or `p1ge0n send HOST:PORT`.
    pub name: String,
    pub started: SystemTime,
    pub cases: Vec<Case>,
}

impl Suite {
    pub fn new(name: impl Into<String>) -> Suite {
        Suite {
            name: name.into(),
            started: SystemTime::now(),
            cases: Vec::new(),
        }
    }

    /// Compare a reply with the expected bytes and keep the outcome; returns
    /// the report `replay --verify` prints (`NAME: ok (N bytes)`, or
    /// `NAME: differs` and both hexdumps).
    pub fn check(
        &mut self,
        name: String,
        time: Duration,
        expected: &[u8],
        received: &[u8],
    ) -> String {
        self.check_decoded(name, time, expected, received, &[])
    }

    /// [`check`](Suite::check), with what a decoder says differs
    /// (`decode::differences`) under the hexdumps, one `decoded:` line each.
    pub fn check_decoded(
        &mut self,
        name: String,
        time: Duration,
        expected: &[u8],
        received: &[u8],
        decoded: &[String],
    ) -> String {
        let (report, failure) = if expected == received {
            (format!("{name}: ok ({} bytes)\n", received.len()), None)
        } else {
            let mut diff = Vec::new();
            display::mismatch_into(&mut diff, expected, received);
            for line in decoded {
                diff.extend_from_slice(format!("decoded: {line}\n").as_bytes());
            }
            let diff = String::from_utf8_lossy(&diff).into_owned();
            let failure = Failure {
                message: "reply differs".into(),
                text: diff.clone(),
            };
            (format!("{name}: differs\n{diff}"), Some(failure))
        };
        self.cases.push(Case {
            name,
            time,
            failure,
        });
        report
    }

    /// A check that could not be made (no reply, the peer went away).
    pub fn fail(&mut self, name: String, time: Duration, why: &str) {
        self.cases.push(Case {
            name,
            time,
            failure: Some(Failure {
                message: why.lines().next().unwrap_or_default().to_string(),
                text: why.to_string(),
            }),
        });
    }

    pub fn failures(&self) -> usize {
        self.cases.iter().filter(|c| c.failure.is_some()).count()
    }

    pub fn passed(&self) -> usize {
        self.cases.len() - self.failures()
    }

    /// `verify: N ok, M differ(s)`.
    pub fn summary(&self) -> String {
        let differs = self.failures();
        format!(
            "verify: {} ok, {differs} differ{}",
            self.passed(),
            if differs == 1 { "s" } else { "" }
        )
    }

    /// The JUnit XML report: one `<testsuite>`, one `<testcase>` per check.
    pub fn to_xml(&self) -> String {
        let total: Duration = self.cases.iter().map(|c| c.time).sum();
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let _ = writeln!(
            out,
            "<testsuites name=\"p1ge0n\" tests=\"{}\" failures=\"{}\" errors=\"0\" time=\"{:.6}\">",
            self.cases.len(),
            self.failures(),
            total.as_secs_f64()
        );
        let name = escape(&self.name);
        let _ = writeln!(
            out,
            "  <testsuite name=\"{name}\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"0\" time=\"{:.6}\" timestamp=\"{}\">",
            self.cases.len(),
            self.failures(),
            total.as_secs_f64(),
            humantime::format_rfc3339_seconds(self.started)
        );
        for case in &self.cases {
            let _ = write!(
                out,
                "    <testcase name=\"{}\" classname=\"{name}\" time=\"{:.6}\"",
                escape(&case.name),
                case.time.as_secs_f64()
            );
            match &case.failure {
                None => out.push_str("/>\n"),
                Some(f) => {
                    let _ = writeln!(
                        out,
                        ">\n      <failure message=\"{}\" type=\"mismatch\">{}</failure>\n    </testcase>",
                        escape(&f.message),
                        escape(&f.text)
                    );
                }
            }
        }
        out.push_str("  </testsuite>\n</testsuites>\n");
        out
    }
}

/// Text as XML character data or attribute value: the five entities, and
/// characters XML 1.0 cannot carry at all replaced by U+FFFD.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn suite() -> Suite {
        let mut s = Suite::new("plc <1>.jsonl");
        s.started = SystemTime::UNIX_EPOCH + Duration::from_secs(1_764_075_600);
        let ok = s.check(
            "flow 1 message 1".into(),
            Duration::from_millis(2),
            b"AB",
            b"AB",
        );
        assert_eq!(ok, "flow 1 message 1: ok (2 bytes)\n");
        let bad = s.check(
            "flow 1 message 2".into(),
            Duration::from_millis(3),
            b"AB",
            b"AC",
        );
        assert!(
            bad.starts_with("flow 1 message 2: differs\nexpected (2 bytes):\n"),
            "{bad}"
        );
        assert!(bad.ends_with("first difference at byte 1\n"), "{bad}");
        s.fail(
            "flow 2 message 1".into(),
            Duration::ZERO,
            "no reply within 1s",
        );
        s
    }

    #[test]
    fn tallies() {
        let s = suite();
        assert_eq!((s.passed(), s.failures()), (1, 2));
        assert_eq!(s.summary(), "verify: 1 ok, 2 differ");
        let mut one = Suite::new("x");
        one.check("m".into(), Duration::ZERO, b"a", b"b");
        assert_eq!(one.summary(), "verify: 0 ok, 1 differs");
    }

    #[test]
    fn xml_report() {
        let xml = suite().to_xml();
        assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"p1ge0n\" tests=\"3\" failures=\"2\""), "{xml}");
        assert!(xml.contains("<testsuite name=\"plc &lt;1&gt;.jsonl\" tests=\"3\" failures=\"2\" errors=\"0\" skipped=\"0\" time=\"0.005000\" timestamp=\"2025-11-25T13:00:00Z\">"), "{xml}");
        assert!(xml.contains("<testcase name=\"flow 1 message 1\" classname=\"plc &lt;1&gt;.jsonl\" time=\"0.002000\"/>"), "{xml}");
        assert!(xml.contains("<failure message=\"reply differs\" type=\"mismatch\">expected (2 bytes):\n00000000  41 42"), "{xml}");
        assert!(
            xml.contains("<failure message=\"no reply within 1s\""),
            "{xml}"
        );
        assert!(xml.ends_with("  </testsuite>\n</testsuites>\n"));
    }

    proptest! {
        /// Whatever the names and bytes, the report is well-formed enough
        /// that every tag opened is closed and no raw markup leaks in.
        #[test]
        fn names_never_break_the_xml(name in ".{0,40}", a in proptest::collection::vec(any::<u8>(), 0..40), b in proptest::collection::vec(any::<u8>(), 0..40)) {
            let mut s = Suite::new(name.clone());
            s.check(name.clone(), Duration::ZERO, &a, &b);
            s.fail(name, Duration::ZERO, "why <not> & \u{1}");
            let xml = s.to_xml();
            prop_assert_eq!(xml.matches("<testcase ").count(), 2);
            prop_assert_eq!(xml.matches("<failure ").count(), xml.matches("</failure>").count());
            for c in xml.chars() {
                prop_assert!(c == '\n' || c == '\t' || c == '\r' || (c as u32) >= 0x20);
            }
        }
    }
}
