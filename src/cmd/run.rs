//! Running a command to its end: the client runtime, and Ctrl-C or
//! SIGTERM turned into [`ExitCode::Interrupted`] or
//! [`ExitCode::Terminated`] once output and capture are flushed (every
//! subcommand; `repl` at a terminal leaves Ctrl-C to the line editor).
//! `process::exit_status` then dies by that signal, so shell loops stop.

use std::future::Future;

use anyhow::Result;
use tokio::signal::unix::{signal, Signal, SignalKind};

use crate::exit::ExitCode;

/// The runtime for a client (send, replay, repl): one connection at a time,
/// so a single thread, which also starts fastest.
pub fn client_runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

/// SIGINT and SIGTERM, caught from the moment this is made: a server makes
/// it before it binds, so a signal sent right after its `listening on`
/// line is never missed.
pub struct Signals {
    interrupt: Signal,
    terminate: Signal,
}

impl Signals {
    pub fn install() -> Result<Signals> {
        Ok(Signals {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }
}

/// `work` until it completes or SIGINT (Ctrl-C) or SIGTERM arrives; then
/// `on_interrupt` tidies up (a progress line, say) and the outcome is
/// [`ExitCode::Interrupted`] or [`ExitCode::Terminated`]. Dropping `work`
/// closes its sockets; observers have written every event already.
pub async fn until_interrupted(
    work: impl Future<Output = Result<ExitCode>>,
    on_interrupt: impl FnOnce(),
) -> Result<ExitCode> {
    until_signalled(Signals::install()?, work, on_interrupt).await
}

/// [`until_interrupted`] with signals caught earlier.
pub async fn until_signalled(
    mut signals: Signals,
    work: impl Future<Output = Result<ExitCode>>,
    on_interrupt: impl FnOnce(),
) -> Result<ExitCode> {
    tokio::select! {
        outcome = work => outcome,
        _ = signals.interrupt.recv() => {
            on_interrupt();
            Ok(ExitCode::Interrupted)
        }
        _ = signals.terminate.recv() => {
            on_interrupt();
            Ok(ExitCode::Terminated)
        }
    }
}
