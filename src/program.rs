//! A program the user names to play the device (`listen --exec CMD`,
//! `--exec-each CMD`, a rule's `exec = "CMD"`, `send --exec CMD`): what
//! CMD means, decided once when the command line or rules file is read.
//!
//! CMD is a shell command line, as for `ncat --sh-exec` and inetd: it runs
//! as `/bin/sh -c CMD`. A CMD with no shell syntax at all (no quotes,
//! pipes, redirections, variables, globs...) means the same run directly,
//! so it is split on blanks and started without a shell: one exec instead
//! of two, which is what a program started per message pays for most.
//! Starting it (`exec.rs`) is I/O; this part is pure and unit-tested.

use std::fmt;

/// The environment variables a program is given (never the message bytes).
pub const ENV_PEER: &str = "P1GE0N_PEER";
pub const ENV_LOCAL: &str = "P1GE0N_LOCAL";
pub const ENV_TRANSPORT: &str = "P1GE0N_TRANSPORT";
pub const ENV_CONN: &str = "P1GE0N_CONN";
pub const ENV_MESSAGE: &str = "P1GE0N_MESSAGE";

/// A command to run per connection or per message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Program {
    /// CMD as the user wrote it (named in log lines).
    pub line: String,
    /// CMD split into a program and its arguments when it has no shell
    /// syntax; `None`: run by `/bin/sh -c`.
    pub argv: Option<Vec<String>>,
}

/// Characters that mean something to `/bin/sh` beyond separating words.
const SHELL_SYNTAX: &[char] = &[
    '|', '&', ';', '<', '>', '(', ')', '$', '`', '\\', '"', '\'', '*', '?', '[', ']', '#', '~',
    '=', '%', '{', '}', '!', '\n',
];

impl Program {
    /// Read CMD; an empty (or all-blank) one is an error naming `what`
    /// (`--exec`, `rule 2`).
    pub fn parse(what: &str, line: &str) -> Result<Program, String> {
        if line.trim().is_empty() {
            return Err(format!("{what}: the command is empty"));
        }
        let argv = (!line.contains(SHELL_SYNTAX))
            .then(|| line.split_whitespace().map(String::from).collect());
        Ok(Program {
            line: line.to_string(),
            argv,
        })
    }

    /// The program started and its arguments: direct, or `/bin/sh -c CMD`.
    pub fn command_line(&self) -> (&str, Vec<&str>) {
        match &self.argv {
            Some(argv) => (&argv[0], argv[1..].iter().map(String::as_str).collect()),
            None => ("/bin/sh", vec!["-c", &self.line]),
        }
    }
}

impl fmt::Display for Program {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn plain_commands_run_directly_and_the_rest_by_the_shell() {
        let cat = Program::parse("--exec", "cat").unwrap();
        assert_eq!(cat.command_line(), ("cat", vec![]));
        let tr = Program::parse("--exec", "  tr  a-z A-Z ").unwrap();
        assert_eq!(tr.command_line(), ("tr", vec!["a-z", "A-Z"]));
        for shell in [
            "tr a-z A-Z | rev",
            "echo $P1GE0N_PEER",
            "python3 -c 'print(1)'",
            "sleep 1000 & cat",
            "cat > /dev/null",
            "X=1 cat",
        ] {
            let p = Program::parse("--exec", shell).unwrap();
            assert_eq!(p.command_line(), ("/bin/sh", vec!["-c", shell]), "{shell}");
        }
        assert_eq!(
            Program::parse("--exec-each", " ").unwrap_err(),
            "--exec-each: the command is empty"
        );
        assert_eq!(
            Program::parse("rule 2", "").unwrap_err(),
            "rule 2: the command is empty"
        );
    }

    proptest! {
        #[test]
        fn any_command_line_parses_or_is_empty(line in ".{0,40}") {
            match Program::parse("--exec", &line) {
                Ok(p) => {
                    let (program, _) = p.command_line();
                    prop_assert!(!program.is_empty());
                }
                Err(e) => prop_assert!(line.trim().is_empty(), "{e}"),
            }
        }
    }
}
