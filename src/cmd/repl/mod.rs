//! `p1ge0n repl`: the session an engineer keeps open next to a PLC or robot
//! to talk to it by hand, and the same session fed from a pipe for scripts.
//!
//! Every line is a payload in the shared syntax (or hex in hex mode) with
//! `--eol` appended; lines starting with `:` are commands. Incoming data is
//! decoded with the shared `--frame` decoder and shown with the shared
//! `-f` formats, the moment it arrives.
//!
//! Shape (`docs/ARCHITECTURE.md`: "rustyline runs on its own thread"):
//!
//! ```text
//!  editor thread ──Request──▶ session task ──Vec<u8>──▶ writer task ──▶ socket
//!  (rustyline)   ◀──Reply───  (tokio)      ◀─NetEvent── reader task ◀──
//!                                 │
//!                                 └──Print──▶ printer thread ──▶ ExternalPrinter
//! ```
//!
//! * The **session task** owns all state that `:` commands change (mode,
//!   eol, format, frame) and the connection, so every decision is made in one
//!   place, in order. It never blocks on the terminal or the socket.
//! * The **reader task** only moves bytes; decoding happens in the session
//!   because `:frame` and `:format` change it mid-stream.
//! * The **writer task** is fed by a channel so a large `@FILE` payload to a
//!   server that echoes never deadlocks against our reading.
//! * The **printer thread** owns rustyline's `ExternalPrinter`, which prints
//!   above the prompt without corrupting the half-typed line. Its `print` can
//!   block until the editor is back in `readline`, so the session hands text
//!   to this thread instead of calling it.
//!
//! Without a terminal (stdin or stdout not a tty) there is no editor: stdin
//! lines feed the same session and the end of input ends it by `send`'s
//! reply rules (`reply.rs`).
//!
//! Modules: `commands` (the line language, pure), `editor` (rustyline, the
//! printer thread, history), `session` (the connection and the state
//! commands change), `terminal` and `piped` (the two loops).

mod commands;
mod editor;
mod piped;
mod session;
mod terminal;

use std::io::IsTerminal;

use anyhow::Result;

use super::inputs;
use crate::{
    cli::ReplArgs,
    exit::ExitCode,
    net::{self, ConnectOptions, Stream},
};

pub fn run(args: ReplArgs) -> Result<ExitCode> {
    inputs::check_framing(&args.frame)?;
    let on_connect = inputs::on_connect(args.on_connect.as_deref(), args.hex)?;
    let connect = args.connect.options(None)?;
    // A capture file that cannot be created is bad input: fail before
    // connecting (the session opens it again, truncating this empty file).
    if let Some(path) = &args.capture.capture {
        crate::output::create_capture(path)?;
    }
    // Line editing needs both ends on a terminal (the printer writes to
    // stdout); anything else is a script, even a terminal piped to `tee`.
    let interactive = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    // One connection at a time: a single-threaded runtime suffices; the
    // editor and printer have their own threads.
    let runtime = super::run::client_runtime()?;
    let outcome = if interactive {
        terminal::run(&runtime, args, on_connect, connect)
    } else {
        runtime.block_on(piped::run(args, on_connect, connect))
    };
    // The stdin reader (`stdin.rs`) may still wait for input nobody will
    // send; do not wait for it.
    runtime.shutdown_background();
    outcome
}

/// Connect, or exit 3; Ctrl-C while waiting exits 130.
pub(super) async fn first_connect(
    args: &ReplArgs,
    connect: &ConnectOptions,
) -> Result<Option<Stream>> {
    tokio::select! {
        stream = net::connect(&args.target, connect) => stream.map(Some),
        _ = tokio::signal::ctrl_c() => Ok(None),
    }
}
