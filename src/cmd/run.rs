//! Running a command to its end: the client runtime, Ctrl-C, and dying by
//! the signal that stopped us.
//!
//! A shell loop such as `for i in 1 2 3; do p1ge0n send ...; done` stops at
//! Ctrl-C only if the command it ran was killed by SIGINT (bash checks
//! `WIFSIGNALED`); exiting with status 130 is not enough. So, like fd, a
//! command that caught SIGINT (every subcommand; `repl` at a terminal leaves
//! Ctrl-C to the line editor) or SIGTERM first flushes its output and
//! capture, then re-raises the signal with its default action. A caller
//! that reads the exit status still sees 130 or 143.

use std::future::Future;

use anyhow::Result;

use crate::exit::ExitCode;

/// The runtime for a client (send, replay, repl): one connection at a time,
/// so a single thread, which also starts fastest.
pub fn client_runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

/// `work` until it completes or SIGINT (Ctrl-C) or SIGTERM arrives; then
/// `on_interrupt` tidies up (a progress line, say) and the outcome is
/// [`ExitCode::Interrupted`] or [`ExitCode::Terminated`]. Dropping `work`
/// closes its sockets; observers have written every event already.
pub async fn until_interrupted(
    work: impl Future<Output = Result<ExitCode>>,
    on_interrupt: impl FnOnce(),
) -> Result<ExitCode> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut sigterm = signal(SignalKind::terminate())?;
    tokio::select! {
        outcome = work => outcome,
        _ = tokio::signal::ctrl_c() => {
            on_interrupt();
            Ok(ExitCode::Interrupted)
        }
        _ = sigterm.recv() => {
            on_interrupt();
            Ok(ExitCode::Terminated)
        }
    }
}

/// The process's end: interrupted commands die by their signal (after
/// everything was flushed), the rest return the status to exit with.
pub fn exit(code: ExitCode) -> u8 {
    use std::io::Write;
    let signal = match code {
        ExitCode::Interrupted => libc::SIGINT,
        ExitCode::Terminated => libc::SIGTERM,
        _ => return code as u8,
    };
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    // SAFETY: restoring the default action and raising a signal at our own
    // process; nothing else runs by now (runtimes are shut down).
    unsafe {
        libc::signal(signal, libc::SIG_DFL);
        libc::raise(signal);
    }
    // Only reached if the signal is blocked by our parent's mask.
    code as u8
}
