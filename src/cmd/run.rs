//! Running a command to its end: the client runtime, and Ctrl-C or
//! SIGTERM turned into [`ExitCode::Interrupted`] or
//! [`ExitCode::Terminated`] once output and capture are flushed (every
//! subcommand; `repl` at a terminal leaves Ctrl-C to the line editor).
//! `process::exit_status` then dies by that signal, so shell loops stop.

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
