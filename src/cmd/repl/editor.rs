//! The terminal side of the repl: rustyline's editor on its own thread
//! (completion, history), and the printer thread that shows incoming data
//! above the prompt without corrupting the line being typed.

use std::{
    borrow::Cow,
    ffi::OsString,
    io::Write,
    path::{Path, PathBuf},
    sync::mpsc as std_mpsc,
    thread,
    time::Duration,
};

use anyhow::{Context as _, Result};
use rustyline::{
    completion::{Completer, FilenameCompleter, Pair},
    error::ReadlineError,
    highlight::Highlighter,
    hint::Hinter,
    history::FileHistory,
    validate::Validator,
    Editor, ExternalPrinter, Helper,
};
use tokio::sync::{mpsc, oneshot};

use super::commands::{completions, Completion};

/// How many lines the history file keeps (rustyline's default of 100 is an
/// afternoon; a device console is used for weeks).
pub const HISTORY_LEN: usize = 5000;

/// How long the editor waits for the output a line caused before showing the
/// next prompt. Normally it is there in microseconds; the bound only matters
/// in the rare case where the printer waits for the editor (see
/// [`spawn_printer`]), where a late record beats a hung prompt.
const DRAIN_WAIT: Duration = Duration::from_millis(500);

/// From the editor thread to the session.
pub enum Request {
    Line {
        text: String,
        reply: oneshot::Sender<Reply>,
        /// Signalled once the output this line caused has been printed, so
        /// the next prompt is drawn after it, not through it.
        drained: std_mpsc::SyncSender<()>,
    },
    /// Something the editor wants shown (history trouble).
    Note(String),
    /// Ctrl-D, or the terminal failed (the error).
    End(Option<String>),
}

pub struct Reply {
    pub prompt: String,
    pub quit: bool,
}

/// rustyline's hooks: completion only (no hints, colours or validation).
#[derive(Default)]
pub struct ReplHelper {
    files: FilenameCompleter,
}

impl Completer for ReplHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        ctx: &rustyline::Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        match completions(&line[..pos]) {
            Completion::Words(start, words) => Ok((
                start,
                words
                    .into_iter()
                    .map(|w| Pair {
                        display: w.display,
                        replacement: w.replacement,
                    })
                    .collect(),
            )),
            Completion::Files => self.files.complete(line, pos, ctx),
            Completion::Nothing => Ok((pos, Vec::new())),
        }
    }
}

impl Hinter for ReplHelper {
    type Hint = String;
}

impl Highlighter for ReplHelper {
    fn highlight<'l>(&self, line: &'l str, _pos: usize) -> Cow<'l, str> {
        Cow::Borrowed(line)
    }
}

impl Validator for ReplHelper {}

impl Helper for ReplHelper {}

/// `--history`, else `$XDG_STATE_HOME/p1ge0n/history`, else
/// `~/.local/state/p1ge0n/history`. The XDG spec says relative paths in
/// these variables are to be ignored; so is an empty one.
pub fn history_path(
    explicit: Option<PathBuf>,
    xdg_state_home: Option<OsString>,
    home: Option<OsString>,
) -> Option<PathBuf> {
    if explicit.is_some() {
        return explicit;
    }
    let absolute = |p: &PathBuf| p.is_absolute();
    let state = xdg_state_home
        .map(PathBuf::from)
        .filter(absolute)
        .or_else(|| {
            home.map(|h| PathBuf::from(h).join(".local").join("state"))
                .filter(absolute)
        })?;
    Some(state.join("p1ge0n").join("history"))
}

/// Load the history file (a missing one is fine) and make sure its
/// directory exists, so the first line can be saved.
pub fn prepare_history(editor: &mut Editor<ReplHelper, FileHistory>, path: &Path) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    match editor.load_history(path) {
        Ok(()) => Ok(()),
        Err(ReadlineError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// The editor thread: read a line, save it to the history file at once (a
/// killed session loses nothing), hand it to the session, wait for its
/// answer and the output it caused, repeat.
pub fn run_editor(
    mut editor: Editor<ReplHelper, FileHistory>,
    history: Option<PathBuf>,
    mut prompt: String,
    started: std_mpsc::Receiver<()>,
    requests: mpsc::UnboundedSender<Request>,
) {
    let _ = started.recv_timeout(DRAIN_WAIT);
    let mut history_ok = true;
    loop {
        let text = match editor.readline(&prompt) {
            Ok(text) => text,
            // Ctrl-C: rustyline has dropped the line; start a fresh one.
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => {
                let _ = requests.send(Request::End(None));
                return;
            }
            Err(e) => {
                let _ = requests.send(Request::End(Some(e.to_string())));
                return;
            }
        };
        // Bad lines too: recalling one to fix it is the point.
        if !text.trim().is_empty() && editor.add_history_entry(text.as_str()).unwrap_or(false) {
            if let (Some(path), true) = (&history, history_ok) {
                if let Err(e) = editor.append_history(path) {
                    history_ok = false;
                    let _ = requests.send(Request::Note(format!(
                        "history {}: {e}; lines are no longer saved",
                        path.display()
                    )));
                }
            }
        }
        let (reply_tx, reply_rx) = oneshot::channel();
        let (drained_tx, drained_rx) = std_mpsc::sync_channel(1);
        let request = Request::Line {
            text,
            reply: reply_tx,
            drained: drained_tx,
        };
        if requests.send(request).is_err() {
            return;
        }
        let Ok(reply) = reply_rx.blocking_recv() else {
            return;
        };
        if reply.quit {
            return;
        }
        let _ = drained_rx.recv_timeout(DRAIN_WAIT);
        prompt = reply.prompt;
    }
}

/// Messages for the printer thread.
pub enum Print {
    Text(String),
    /// Signals once everything queued before it has been printed.
    Barrier(std_mpsc::SyncSender<()>),
}

/// Where the session's output goes.
pub enum Output {
    /// At a terminal: through the printer thread, above the prompt.
    Terminal(std_mpsc::Sender<Print>),
    /// Records on stdout, notes (connection events, messages) on stderr.
    Stdio,
}

impl Output {
    pub fn records(&self, bytes: &[u8]) {
        match self {
            // The printer takes text. Every format but raw is ASCII or JSON
            // (UTF-8) already; raw bytes on a terminal are shown as the
            // terminal would show them anyway, invalid UTF-8 as U+FFFD.
            Output::Terminal(tx) => {
                let _ = tx.send(Print::Text(String::from_utf8_lossy(bytes).into_owned()));
            }
            Output::Stdio => {
                let mut out = std::io::stdout().lock();
                let _ = out.write_all(bytes).and_then(|()| out.flush());
            }
        }
    }

    pub fn note(&self, text: &str) {
        match self {
            Output::Terminal(tx) => {
                let _ = tx.send(Print::Text(format!("{text}\n")));
            }
            Output::Stdio => crate::say!("{text}"),
        }
    }

    pub fn barrier(&self, done: std_mpsc::SyncSender<()>) {
        match self {
            Output::Terminal(tx) => {
                if let Err(std_mpsc::SendError(Print::Barrier(done))) =
                    tx.send(Print::Barrier(done))
                {
                    let _ = done.try_send(());
                }
            }
            Output::Stdio => {
                let _ = done.try_send(());
            }
        }
    }
}

/// The thread that owns the `ExternalPrinter`.
///
/// `ExternalPrinter::print` writes straight to the terminal between
/// `readline` calls, but during one it queues the text for the editor in a
/// one-slot channel and waits for room. So it can block until the editor
/// is back in `readline`; on its own thread that is harmless. Queued texts
/// are joined into one print: each print redraws the prompt, and a chatty
/// device should not cost a redraw per record.
pub fn spawn_printer<P: ExternalPrinter + Send + 'static>(
    mut printer: P,
) -> (std_mpsc::Sender<Print>, thread::JoinHandle<()>) {
    let (tx, rx) = std_mpsc::channel::<Print>();
    let handle = thread::Builder::new()
        .name("printer".into())
        .spawn(move || {
            let mut next = rx.recv().ok();
            while let Some(msg) = next.take() {
                match msg {
                    Print::Text(mut text) => {
                        loop {
                            match rx.try_recv() {
                                Ok(Print::Text(more)) => text.push_str(&more),
                                Ok(barrier) => {
                                    next = Some(barrier);
                                    break;
                                }
                                Err(_) => break,
                            }
                        }
                        let _ = printer.print(text);
                    }
                    Print::Barrier(done) => {
                        let _ = done.try_send(());
                    }
                }
                if next.is_none() {
                    next = rx.recv().ok();
                }
            }
        })
        .expect("spawn the printer thread");
    (tx, handle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;

    #[test]
    fn history_goes_to_the_state_directory() {
        let os = |s: &str| Some(OsString::from(s));
        assert_eq!(
            history_path(None, os("/state"), os("/home/u")),
            Some(PathBuf::from("/state/p1ge0n/history"))
        );
        assert_eq!(
            history_path(None, None, os("/home/u")),
            Some(PathBuf::from("/home/u/.local/state/p1ge0n/history"))
        );
        // Relative or empty XDG values are ignored, as the spec says.
        assert_eq!(
            history_path(None, os("rel"), os("/home/u")),
            Some(PathBuf::from("/home/u/.local/state/p1ge0n/history"))
        );
        assert_eq!(
            history_path(None, os(""), os("/home/u")),
            Some(PathBuf::from("/home/u/.local/state/p1ge0n/history"))
        );
        assert_eq!(
            history_path(Some("h".into()), os("/state"), None),
            Some(PathBuf::from("h"))
        );
        assert_eq!(history_path(None, None, None), None);
    }
}
