//! The repl at a terminal: the editor thread asks, the session answers.

use std::{sync::mpsc as std_mpsc, thread};

use anyhow::Result;
use rustyline::{history::FileHistory, CompletionType, Config, Editor};
use tokio::sync::mpsc;

use super::{
    commands::interpret,
    editor::{
        history_path, prepare_history, run_editor, spawn_printer, Output, ReplHelper, Reply,
        Request, HISTORY_LEN,
    },
    first_connect,
    session::{Applied, NetEvent, Seen, Session},
};
use crate::{
    cli::ReplArgs,
    exit::{self, ExitCode},
    net::ConnectOptions,
};

/// The session at a terminal: until Ctrl-D, `:quit` or a terminal error.
pub fn run(
    runtime: &tokio::runtime::Runtime,
    args: ReplArgs,
    on_connect: Option<Vec<u8>>,
    connect: ConnectOptions,
) -> Result<ExitCode> {
    let (events_tx, events_rx) = mpsc::channel(64);
    let Some(stream) = runtime.block_on(first_connect(&args, &connect))? else {
        return Ok(ExitCode::Interrupted);
    };

    let config = Config::builder()
        .max_history_size(HISTORY_LEN)?
        .history_ignore_dups(true)?
        .auto_add_history(false)
        .completion_type(CompletionType::List)
        .build();
    let mut editor: Editor<ReplHelper, FileHistory> = Editor::with_config(config)?;
    editor.set_helper(Some(ReplHelper::default()));

    let history = history_path(
        args.history.clone(),
        std::env::var_os("XDG_STATE_HOME"),
        std::env::var_os("HOME"),
    );
    let mut startup_notes = Vec::new();
    match &history {
        Some(path) => {
            if let Err(e) = prepare_history(&mut editor, path) {
                startup_notes.push(format!(
                    "history {}: {e}; this session's lines are not saved",
                    path.display()
                ));
            }
        }
        None => startup_notes.push(
            "no history file: neither XDG_STATE_HOME nor HOME is set (use --history FILE)".into(),
        ),
    }

    // Without an external printer (a terminal rustyline does not drive, e.g.
    // TERM=dumb) rustyline reads plain lines, and plain writes are fine.
    let (out, printer) = match editor.create_external_printer() {
        Ok(printer) => {
            let (tx, handle) = spawn_printer(printer);
            (Output::Terminal(tx), Some(handle))
        }
        Err(_) => (Output::Stdio, None),
    };
    let auto = args.reconnect;
    let (requests_tx, requests_rx) = mpsc::unbounded_channel();
    let code = runtime.block_on(async {
        let mut session = Session::new(&args, on_connect, connect, out, events_tx, true);
        if let Some(path) = &args.capture.capture {
            session.start_capture(path)?;
        }
        if let Some(path) = &args.capture.pcap {
            session.start_pcap(path)?;
        }
        session.install(stream);
        session.note(":help lists the commands, Ctrl-D quits");
        for note in &startup_notes {
            session.note(note);
        }
        let (started_tx, started_rx) = std_mpsc::sync_channel(1);
        session.out.barrier(started_tx);
        let prompt = session.settings.prompt();
        let editor_thread = thread::Builder::new()
            .name("editor".into())
            .spawn(move || run_editor(editor, history, prompt, started_rx, requests_tx))
            .expect("spawn the editor thread");
        let code = interactive_loop(&mut session, requests_rx, events_rx, auto).await;
        session.close().await;
        // The editor has returned or is returning (it asked to end, or got
        // `quit`); joining it restores the terminal before we exit.
        let _ = tokio::task::spawn_blocking(move || editor_thread.join()).await;
        code
    });
    if let Some(printer) = printer {
        // The session (and with it the last sender) is gone: the thread
        // prints what is queued and ends.
        let _ = printer.join();
    }
    code
}

/// A typed line: a bad one is explained, the rest applied.
fn on_line(session: &mut Session, text: &str) -> Applied {
    match interpret(text, &session.settings, "line") {
        Err(message) => {
            session.note(&message);
            Applied::Done
        }
        Ok(action) => session.apply(action).unwrap_or_else(|e| {
            session.note(&format!("{e:#}"));
            Applied::Done
        }),
    }
}

async fn interactive_loop(
    session: &mut Session,
    mut requests: mpsc::UnboundedReceiver<Request>,
    mut events: mpsc::Receiver<NetEvent>,
    auto: bool,
) -> Result<ExitCode> {
    // Repeated identical failures while reconnecting are shown once.
    let mut last_failure: Option<String> = None;
    loop {
        tokio::select! {
            request = requests.recv() => match request {
                None | Some(Request::End(None)) => return Ok(ExitCode::Success),
                Some(Request::End(Some(error))) => {
                    return Err(exit::error(ExitCode::Failure, format!("terminal: {error}")));
                }
                Some(Request::Note(text)) => session.note(&text),
                Some(Request::Line { text, reply, drained }) => {
                    let quit = on_line(session, &text) == Applied::Quit;
                    if session.is_dialing() {
                        last_failure = None;
                    }
                    session.flush();
                    session.check_outputs()?;
                    session.out.barrier(drained);
                    let _ = reply.send(Reply { prompt: session.settings.prompt(), quit });
                    if quit {
                        return Ok(ExitCode::Success);
                    }
                }
            },
            Some(event) = events.recv() => {
                let mut seen = session.on_event(event);
                // Take whatever else has arrived, so a burst is one print.
                while matches!(seen, Seen::Data { .. } | Seen::Stale) {
                    match events.try_recv() {
                        Ok(event) => seen = session.on_event(event),
                        Err(_) => break,
                    }
                }
                if let Seen::Lost(how) = seen {
                    if auto {
                        session.note(&format!("{how}; reconnecting"));
                        session.backoff.reset();
                        let pause = session.backoff.pause();
                        session.redial(pause);
                        last_failure = None;
                    } else {
                        session.note(&format!("{how}; :reconnect connects again"));
                    }
                }
                session.flush();
                session.check_outputs()?;
            }
            result = session.dialed(), if session.is_dialing() => match result {
                Ok(stream) => {
                    session.install(stream);
                    last_failure = None;
                }
                Err(e) if auto => {
                    let why = format!("{e:#}");
                    if last_failure.as_deref() != Some(why.as_str()) {
                        session.note(&format!("{why}; still trying (--reconnect)"));
                        last_failure = Some(why);
                    }
                    let pause = session.backoff.pause();
                    session.redial(pause);
                }
                Err(e) => session.note(&format!("{e:#}; :reconnect tries again")),
            },
            // Ctrl-C belongs to the line editor (it clears the line); a
            // SIGINT from elsewhere must not end the process while rustyline
            // holds the terminal in raw mode.
            _ = tokio::signal::ctrl_c() => {}
        }
    }
}
