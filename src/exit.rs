//! Exit statuses and error classification.
//!
//! Scripts branch on our exit status, so it is part of the product contract
//! (README, "Exit status"). Every failure is an `anyhow::Error`; the ones
//! whose status is not "runtime error" carry an [`Exit`] so that `main` can
//! map any error to exactly one status without string matching.

use std::fmt;

/// The process exit status. [`ExitCode::ALL`] and [`ExitCode::meaning`] are
/// the one table: `--help`, the man pages' EXIT STATUS and (checked by a
/// test below) the README's table come from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    /// Every exchange completed (and matched, where asked).
    Success = 0,
    /// Runtime error: I/O, connection reset mid-exchange, ...
    Failure = 1,
    /// Usage or input error: bad flag, payload, address, file; nothing was sent.
    Usage = 2,
    /// Could not connect: refused, unreachable, name not resolved, connect timeout.
    Connect = 3,
    /// Timed out waiting for a reply.
    Timeout = 4,
    /// A reply did not match `--expect` or the captured one (`replay --verify`).
    Mismatch = 5,
    /// Interrupted by SIGINT, after flushing output.
    Interrupted = 130,
    /// Terminated by SIGTERM, after flushing output.
    Terminated = 143,
}

impl ExitCode {
    pub const ALL: [ExitCode; 8] = [
        ExitCode::Success,
        ExitCode::Failure,
        ExitCode::Usage,
        ExitCode::Connect,
        ExitCode::Timeout,
        ExitCode::Mismatch,
        ExitCode::Interrupted,
        ExitCode::Terminated,
    ];

    /// What the status means, as `--help`, the man pages and the README say.
    pub fn meaning(self) -> &'static str {
        match self {
            ExitCode::Success => "success: every exchange completed (and matched, where asked)",
            ExitCode::Failure => {
                "runtime error (I/O, connection reset mid-exchange, port in use, ...)"
            }
            ExitCode::Usage => {
                "usage or input error: bad flag, payload, address, file; nothing was sent"
            }
            ExitCode::Connect => {
                "could not connect: refused, unreachable, name not resolved, connect timeout"
            }
            ExitCode::Timeout => "timed out waiting for a reply",
            ExitCode::Mismatch => {
                "a reply did not match --expect or the captured reply (replay --verify)"
            }
            ExitCode::Interrupted => {
                "interrupted (SIGINT) after flushing output; p1ge0n then dies by the signal, so shell loops stop"
            }
            ExitCode::Terminated => "terminated (SIGTERM) after flushing output",
        }
    }
}

/// The exit-status table as `--help` shows it: a constant, so building a
/// subcommand's `Command` formats nothing (a one-shot `send` builds two).
/// `the_help_table_is_the_status_table` holds it to [`ExitCode::meaning`].
pub const STATUS_HELP: &str = concat!(
    "Exit status:",
    "\n  0    success: every exchange completed (and matched, where asked)",
    "\n  1    runtime error (I/O, connection reset mid-exchange, port in use, ...)",
    "\n  2    usage or input error: bad flag, payload, address, file; nothing was sent",
    "\n  3    could not connect: refused, unreachable, name not resolved, connect timeout",
    "\n  4    timed out waiting for a reply",
    "\n  5    a reply did not match --expect or the captured reply (replay --verify)",
    "\n  130  interrupted (SIGINT) after flushing output; p1ge0n then dies by the signal, so shell loops stop",
    "\n  143  terminated (SIGTERM) after flushing output",
);

/// The exit-status table as `--help` shows it.
pub fn status_help() -> &'static str {
    STATUS_HELP
}

/// An error that knows its exit status.
#[derive(Debug)]
pub struct Exit {
    pub code: ExitCode,
    pub message: String,
}

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Exit {}

/// An error with the given status.
pub fn error(code: ExitCode, message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Exit {
        code,
        message: message.into(),
    })
}

/// A usage or input error (exit 2): raised before anything is sent.
pub fn usage(message: impl Into<String>) -> anyhow::Error {
    error(ExitCode::Usage, message)
}

/// `send --exec`: the program's own exit status, which becomes ours (it is
/// the program's verdict on the session, not one of p1ge0n's statuses).
/// `main` exits with it and prints nothing: the program said its piece.
#[derive(Debug)]
pub struct PassThrough(pub u8);

impl std::fmt::Display for PassThrough {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the program exited with status {}", self.0)
    }
}

impl std::error::Error for PassThrough {}

/// The status an error maps to: the first [`Exit`] in its chain, else 1.
pub fn classify(err: &anyhow::Error) -> ExitCode {
    err.chain()
        .find_map(|cause| cause.downcast_ref::<Exit>())
        .map_or(ExitCode::Failure, |exit| exit.code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn classify_finds_the_status_through_context() {
        let err = Err::<(), _>(usage("bad hex"))
            .context("payload 1")
            .unwrap_err();
        assert_eq!(classify(&err), ExitCode::Usage);
        assert_eq!(format!("{err:#}"), "payload 1: bad hex");
    }

    #[test]
    fn plain_errors_are_runtime_failures() {
        let err = anyhow::anyhow!("disk full");
        assert_eq!(classify(&err), ExitCode::Failure);
    }

    /// The README's table says what [`ExitCode::meaning`] says (markdown
    /// backticks aside), row for row.
    #[test]
    fn the_readme_table_is_this_table() {
        let readme = include_str!("../README.md");
        let table = readme
            .split("### Exit status")
            .nth(1)
            .expect("README has an Exit status section");
        let rows: Vec<(String, String)> = table
            .lines()
            .skip_while(|l| !l.starts_with("| code"))
            .skip(2)
            .take_while(|l| l.starts_with('|'))
            .map(|l| {
                let cells: Vec<&str> = l.trim_matches('|').split('|').map(str::trim).collect();
                (cells[0].to_string(), cells[1].replace('`', ""))
            })
            .collect();
        let expected: Vec<(String, String)> = ExitCode::ALL
            .iter()
            .map(|c| ((*c as u8).to_string(), c.meaning().to_string()))
            .collect();
        assert_eq!(rows, expected);
    }

    #[test]
    fn the_help_table_is_the_status_table() {
        let mut text = String::from("Exit status:");
        for code in ExitCode::ALL {
            text.push_str(&format!("\n  {:<4} {}", code as u8, code.meaning()));
        }
        assert_eq!(STATUS_HELP, text);
    }

    #[test]
    fn help_lists_every_status() {
        let help = status_help();
        for code in ExitCode::ALL {
            assert!(help.contains(&format!("  {:<4} {}", code as u8, code.meaning())));
        }
    }

    #[test]
    fn statuses_match_the_contract() {
        let codes = [
            (ExitCode::Success, 0),
            (ExitCode::Failure, 1),
            (ExitCode::Usage, 2),
            (ExitCode::Connect, 3),
            (ExitCode::Timeout, 4),
            (ExitCode::Mismatch, 5),
            (ExitCode::Interrupted, 130),
            (ExitCode::Terminated, 143),
        ];
        for (code, n) in codes {
            assert_eq!(code as u8, n);
        }
    }
}
