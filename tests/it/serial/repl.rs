//! From `repl.rs`: piped input ending after `--idle`, well before `-w`.

use std::time::Duration;

use crate::repl::{records_of, repl_piped};
use crate::util::*;

/// Piped input ends after the last reply by the `--idle` rule, not by `-w`.
#[test]
fn piped_input_ends_after_the_idle_silence() {
    let server = Listen::start(&["127.0.0.1:0", "-q"]);
    let started = std::time::Instant::now();
    let out = repl_piped(&server.target(), &["--idle", "100ms", "-w", "15s"], "x\n");
    assert_eq!(code(&out), 0, "{}", show(&out));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(records_of(&out, "recv"), ["x\\n"]);

    // No reply at all: -w bounds the wait, and like send that is exit 4.
    let silent = PyServer::start("silent_server.py", &[]);
    let out = repl_piped(&silent.target(), &["-w", "300ms"], "x\n");
    assert_fails(&out, 4, "no reply to the last line within 300ms");
}
