//! `p1ge0n repl`: the session an engineer keeps open next to a PLC or robot
//! to talk to it by hand, and the same session fed from a pipe for scripts.
//!
//! Every line is a payload in the shared syntax (or hex in hex mode) with
//! `--eol` appended; lines starting with `:` are commands. Incoming data is
//! decoded with the shared `--frame` decoder and shown with the shared
//! `-f` formats, the moment it arrives.
//!
//! Shape (DESIGN.md: "rustyline runs on its own thread"):
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
//! reply rules (see [`Tally`]).

use std::{
    borrow::Cow,
    ffi::OsString,
    future::Future,
    io::{IsTerminal, Write},
    net::SocketAddr,
    path::{Path, PathBuf},
    pin::Pin,
    sync::mpsc as std_mpsc,
    thread,
    time::{Duration, Instant, SystemTime},
};

use anyhow::{Context as _, Result};
use bytes::{Bytes, BytesMut};
use clap::builder::TypedValueParser;
use rustyline::{
    completion::{Completer, FilenameCompleter, Pair},
    error::ReadlineError,
    highlight::Highlighter,
    hint::Hinter,
    history::FileHistory,
    validate::Validator,
    CompletionType, Config, Editor, ExternalPrinter, Helper,
};
use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt},
    net::{
        tcp::{OwnedReadHalf, OwnedWriteHalf},
        TcpStream,
    },
    sync::{mpsc, oneshot},
    task::JoinHandle,
    time::Instant as TokioInstant,
};

use crate::{
    capture::Transport,
    cli::{self, ReplArgs},
    display::{self, Direction, Event, Format, Meta, Side},
    exit::{self, ExitCode},
    frame::{Decoder, FrameSpec},
    net::{self, ConnectOptions, Target},
    output::CaptureLog,
    payload::{self, Eol, PayloadMode},
};

/// How many lines the history file keeps (rustyline's default of 100 is an
/// afternoon; a device console is used for weeks).
const HISTORY_LEN: usize = 5000;

/// How long the editor waits for the output a line caused before showing the
/// next prompt. Normally it is there in microseconds; the bound only matters
/// in the rare case where the printer waits for the editor (see
/// [`spawn_printer`]), where a late record beats a hung prompt.
const DRAIN_WAIT: Duration = Duration::from_millis(500);

/// `--reconnect` backoff: first retry soon (a robot restarting its server
/// task), then back off so an unplugged device does not spin.
const BACKOFF_FIRST: Duration = Duration::from_millis(250);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// The `:` commands: name, argument, help. One table serves `:help`, tab
/// completion and the parser.
const COMMANDS: &[(&str, &str, &str)] = &[
    ("help", "", "this list, and the current settings"),
    (
        "hex",
        "BYTES",
        "send exactly these hex bytes (no end of line), in any mode",
    ),
    (
        "mode",
        "text|hex",
        "how lines are read: text with escapes, or hex",
    ),
    (
        "eol",
        "none|lf|crlf|cr|PAYLOAD",
        "end of line appended to each line",
    ),
    (
        "format",
        "text|hex|hexdump|json|raw",
        "how traffic is shown",
    ),
    (
        "frame",
        "SPEC",
        "how incoming bytes split into messages (raw, line, stx-etx, ...)",
    ),
    (
        "reconnect",
        "",
        "close the connection (if any) and connect again",
    ),
    (
        "capture",
        "FILE",
        "record the session as a JSON Lines capture",
    ),
    ("quit", "", "end the session (also :q, Ctrl-D)"),
];

// ---------------------------------------------------------------------------
// Lines and commands (pure)

/// What `:` commands change; everything else is fixed by the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Settings {
    mode: PayloadMode,
    eol: Eol,
    format: Format,
    frame: FrameSpec,
}

impl Settings {
    fn prompt(&self) -> String {
        format!("{}> ", self.mode.name())
    }
}

/// What one input line asks for.
#[derive(Debug, PartialEq, Eq)]
enum Action {
    /// Bytes for the peer: a payload line with its end of line, or `:hex`.
    Send(Vec<u8>),
    Set(Setting),
    /// Something to tell the user (`:help`, a setting's current value).
    Say(String),
    Reconnect,
    Capture(PathBuf),
    Quit,
}

#[derive(Debug, PartialEq, Eq)]
enum Setting {
    Mode(PayloadMode),
    Eol(Eol),
    Format(Format),
    Frame(FrameSpec),
}

/// Interpret one line. `what` names it in errors ("line" at the prompt,
/// "line 3" from a pipe); errors name the column in the line as typed.
fn interpret(line: &str, settings: &Settings, what: &str) -> Result<Action, String> {
    let Some(command) = line.strip_prefix(':') else {
        let mut bytes = super::parse_payload_arg(what, line, settings.mode)
            .map_err(|e| format!("{e:#}; not sent"))?;
        bytes.extend_from_slice(settings.eol.bytes());
        return Ok(Action::Send(bytes));
    };
    let name_end = command.find(char::is_whitespace).unwrap_or(command.len());
    let (name, rest) = command.split_at(name_end);
    let arg = rest.trim();
    // Columns in argument errors count from the start of the line, so they
    // point where the user typed.
    let arg_start = 1 + name_end + (rest.len() - rest.trim_start().len());
    let shift = line[..arg_start].chars().count();
    let bad = |reason: String| format!("{what} '{line}': {reason}");
    let no_argument = |action: Action| {
        if arg.is_empty() {
            Ok(action)
        } else {
            Err(bad(format!("':{name}' takes no argument")))
        }
    };
    match name {
        "help" => Ok(Action::Say(help(settings))),
        "hex" if arg.is_empty() => Err(bad("':hex' needs bytes, e.g. :hex 02 41 03".into())),
        // Exactly the bytes given: `:hex` is the escape hatch for a
        // telegram that must not get the line's end of line.
        "hex" => payload::parse_hex(arg)
            .map(Action::Send)
            .map_err(|e| bad(format!("{}; not sent", e.shifted(shift)))),
        "mode" => match arg {
            "" => Ok(Action::Say(format!("mode: {}", settings.mode.name()))),
            "text" => Ok(Action::Set(Setting::Mode(PayloadMode::Text))),
            "hex" => Ok(Action::Set(Setting::Mode(PayloadMode::Hex))),
            other => Err(bad(format!("unknown mode '{other}' (text or hex)"))),
        },
        "eol" if arg.is_empty() => Ok(Action::Say(format!("eol: {}", settings.eol))),
        "eol" => arg
            .parse::<Eol>()
            .map(|eol| Action::Set(Setting::Eol(eol)))
            .map_err(|e| bad(e.shifted(shift).to_string())),
        "format" if arg.is_empty() => Ok(Action::Say(format!("format: {}", settings.format))),
        "format" => arg
            .parse::<Format>()
            .map(|f| Action::Set(Setting::Format(f)))
            .map_err(bad),
        "frame" if arg.is_empty() => Ok(Action::Say(format!("frame: {}", settings.frame))),
        "frame" => arg
            .parse::<FrameSpec>()
            .map(|f| Action::Set(Setting::Frame(f)))
            .map_err(|e| bad(format!("at column {}: {}", e.column + shift, e.reason))),
        "reconnect" => no_argument(Action::Reconnect),
        "capture" if arg.is_empty() => Err(bad("':capture' needs a file name".into())),
        "capture" => Ok(Action::Capture(PathBuf::from(arg))),
        "quit" | "q" => no_argument(Action::Quit),
        _ => Err(bad(
            "unknown command; :help lists the commands (write \\x3a to send a line starting with ':')"
                .into(),
        )),
    }
}

fn help(settings: &Settings) -> String {
    let usages: Vec<String> = COMMANDS
        .iter()
        .map(|(name, arg, _)| format!(":{name} {arg}"))
        .collect();
    let width = usages.iter().map(String::len).max().unwrap_or(0);
    let mut text = String::from("Commands:\n");
    for (usage, (.., what)) in usages.iter().zip(COMMANDS) {
        text.push_str(&format!("  {usage:<width$}  {what}\n"));
    }
    text.push_str(
        "Any other line is sent: text with escapes \\r \\n \\t \\0 \\\\ \\e \\xHH (hex bytes in\n\
         hex mode), then the end of line; @FILE sends a file. Write \\x3a to send a\n\
         line that starts with ':'.\n\
         Keys: Up/Down history, Tab completes, Ctrl-C clears the line, Ctrl-D quits.\n",
    );
    text.push_str(&format!(
        "Now: mode {}, eol {}, format {}, frame {}",
        settings.mode.name(),
        settings.eol,
        settings.format,
        settings.frame
    ));
    text
}

/// What Tab offers for the text before the cursor.
#[derive(Debug, PartialEq, Eq)]
enum Completion {
    /// Replace from byte `start` to the cursor with one of these.
    Words(usize, Vec<Candidate>),
    /// A file name (`:capture`).
    Files,
    Nothing,
}

/// rustyline's `Pair`, comparable in tests.
#[derive(Debug, PartialEq, Eq)]
struct Candidate {
    display: String,
    replacement: String,
}

/// Command names after a leading `:`, then each command's values. The
/// values come from where they are defined (the format and frame parsers,
/// `Eol`'s own spelling) so completion cannot offer what the parser refuses.
fn completions(before_cursor: &str) -> Completion {
    let Some(command) = before_cursor.strip_prefix(':') else {
        return Completion::Nothing;
    };
    let Some(name_end) = command.find(char::is_whitespace) else {
        let names = COMMANDS
            .iter()
            .filter(|(name, ..)| name.starts_with(command))
            .map(|(name, arg, _)| Candidate {
                display: format!(":{name}"),
                // A space after a command that takes a value, so the next
                // Tab goes straight to the values.
                replacement: format!(":{name}{}", if arg.is_empty() { "" } else { " " }),
            })
            .collect();
        return Completion::Words(0, names);
    };
    let name = &command[..name_end];
    let rest = &command[name_end..];
    let value = rest.trim_start();
    let start = before_cursor.len() - value.len();
    let values: Vec<String> = match name {
        "mode" => vec!["text".into(), "hex".into()],
        "eol" => [Eol::None, Eol::Lf, Eol::Crlf, Eol::Cr]
            .iter()
            .map(ToString::to_string)
            .collect(),
        "format" => names_of(&cli::format_parser()),
        "frame" => names_of(&cli::frame_parser()),
        "capture" => return Completion::Files,
        _ => return Completion::Nothing,
    };
    let pairs = values
        .into_iter()
        .filter(|v| v.starts_with(value))
        .map(|v| Candidate {
            display: v.clone(),
            replacement: v,
        })
        .collect();
    Completion::Words(start, pairs)
}

fn names_of<P: TypedValueParser>(parser: &P) -> Vec<String> {
    parser
        .possible_values()
        .map(|values| values.map(|v| v.get_name().to_string()).collect())
        .unwrap_or_default()
}

/// rustyline's hooks: completion only (no hints, colours or validation).
#[derive(Default)]
struct ReplHelper {
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
fn history_path(
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

// ---------------------------------------------------------------------------
// Capture hook

/// `--capture FILE` / `:capture FILE`: every event of the session passes
/// through here in order, with the same `Meta` (time, connection number,
/// peer) the display uses: opens, closes, errors, and the data each side
/// sent (`Side::Client` is what we sent).
trait Recorder: Send {
    /// A connection is up; `local` is our end (the capture header's).
    fn start(&mut self, local: SocketAddr);
    fn data(&mut self, meta: &Meta, from: Side, bytes: &[u8]);
    fn event(&mut self, meta: &Meta, event: Event<'_>);
}

/// The capture file shared with `send` (`output::CaptureLog`).
struct CaptureRecorder(std::sync::Arc<CaptureLog>);

impl Recorder for CaptureRecorder {
    fn start(&mut self, local: SocketAddr) {
        self.0.start(Transport::Tcp, net::canonical(local));
    }

    fn data(&mut self, meta: &Meta, from: Side, bytes: &[u8]) {
        let dir = match from {
            Side::Client => Direction::Sent,
            Side::Server => Direction::Recv,
        };
        self.0
            .data(meta.conn, meta.peer, dir, bytes, std::time::Duration::ZERO);
    }

    fn event(&mut self, meta: &Meta, event: Event<'_>) {
        self.0.event(meta.conn, meta.peer, event);
    }
}

fn recorder_for(path: &std::path::Path) -> Result<Box<dyn Recorder>> {
    Ok(Box::new(CaptureRecorder(CaptureLog::create(path)?)))
}

// ---------------------------------------------------------------------------
// Output

/// Messages for the printer thread.
enum Print {
    Text(String),
    /// Signals once everything queued before it has been printed.
    Barrier(std_mpsc::SyncSender<()>),
}

/// Where the session's output goes.
enum Output {
    /// At a terminal: through the printer thread, above the prompt.
    Terminal(std_mpsc::Sender<Print>),
    /// Records on stdout, notes (connection events, messages) on stderr.
    Stdio,
}

impl Output {
    fn records(&self, bytes: &[u8]) {
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

    fn note(&self, text: &str) {
        match self {
            Output::Terminal(tx) => {
                let _ = tx.send(Print::Text(format!("{text}\n")));
            }
            Output::Stdio => eprintln!("{text}"),
        }
    }

    fn barrier(&self, done: std_mpsc::SyncSender<()>) {
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
fn spawn_printer<P: ExternalPrinter + Send + 'static>(
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

// ---------------------------------------------------------------------------
// The connection

/// What the reader and writer tasks report, tagged with their connection so
/// that news from a connection already replaced is ignored.
enum NetEvent {
    Data {
        conn: u64,
        bytes: Bytes,
    },
    /// `None`: the peer closed the connection; else the error.
    Closed {
        conn: u64,
        error: Option<String>,
    },
}

struct Conn {
    id: u64,
    peer: SocketAddr,
    tx: mpsc::UnboundedSender<Vec<u8>>,
    reader: JoinHandle<()>,
    writer: JoinHandle<()>,
}

async fn read_loop(conn: u64, mut reader: OwnedReadHalf, events: mpsc::Sender<NetEvent>) {
    let mut buf = BytesMut::new();
    loop {
        buf.reserve(64 * 1024);
        let event = match reader.read_buf(&mut buf).await {
            Ok(0) => NetEvent::Closed { conn, error: None },
            Ok(_) => NetEvent::Data {
                conn,
                bytes: buf.split().freeze(),
            },
            Err(e) => NetEvent::Closed {
                conn,
                error: Some(net::describe_io(&e)),
            },
        };
        let last = matches!(event, NetEvent::Closed { .. });
        // A bounded channel: a device flooding faster than the terminal
        // shows it is slowed by TCP instead of filling our memory.
        if events.send(event).await.is_err() || last {
            return;
        }
    }
}

/// Unbounded input: lines are typed (or piped) and small; what matters is
/// that the session never waits on a peer that does not read.
async fn write_loop(
    conn: u64,
    mut writer: OwnedWriteHalf,
    mut rx: mpsc::UnboundedReceiver<Vec<u8>>,
    events: mpsc::Sender<NetEvent>,
) {
    while let Some(bytes) = rx.recv().await {
        if let Err(e) = writer.write_all(&bytes).await {
            let error = Some(format!("sending: {}", net::describe_io(&e)));
            let _ = events.send(NetEvent::Closed { conn, error }).await;
            return;
        }
    }
    // The session let go (quit or reconnect): a clean close.
    let _ = writer.shutdown().await;
}

/// How a connection ended.
enum Ending {
    PeerClosed,
    Error(String),
    /// `:reconnect` or the end of the session.
    Ours,
}

/// What an event meant to the session.
enum Seen {
    Data {
        frames: usize,
    },
    /// The connection is gone; the text says how.
    Lost(String),
    /// From a connection already replaced.
    Stale,
}

// ---------------------------------------------------------------------------
// The session

struct Session {
    /// Colour for records (a terminal without NO_COLOR).
    style: display::Style,
    target: Target,
    connect: ConnectOptions,
    settings: Settings,
    max_frame: usize,
    decoder: Decoder,
    conn: Option<Conn>,
    /// Connections made so far; the current one's number is shown as `#N`.
    conns: u64,
    started: Instant,
    events: mpsc::Sender<NetEvent>,
    out: Output,
    /// Records not yet handed to `out`, so a burst is one write.
    pending: Vec<u8>,
    /// Announce the first connection (at a terminal); piped sessions stay
    /// quiet on success, like `send`.
    announce_first: bool,
    /// `--capture` / `:capture`.
    recorder: Option<Box<dyn Recorder>>,
    /// Our end of the current connection, for a capture started mid-session.
    local: Option<SocketAddr>,
}

impl Session {
    fn new(args: &ReplArgs, out: Output, events: mpsc::Sender<NetEvent>, announce: bool) -> Self {
        let settings = Settings {
            mode: super::mode(args.hex),
            eol: args.eol.clone(),
            format: args.format,
            frame: args.frame.frame.clone().unwrap_or_default(),
        };
        Session {
            style: crate::output::stdout_style(),
            target: args.target.clone(),
            connect: connect_options(args),
            decoder: Decoder::new(settings.frame.clone(), args.frame.max_frame.0),
            settings,
            max_frame: args.frame.max_frame.0,
            conn: None,
            conns: 0,
            started: Instant::now(),
            events,
            out,
            pending: Vec::new(),
            announce_first: announce,
            recorder: None,
            local: None,
        }
    }

    /// Start (or switch) the capture file; a connection already up is
    /// recorded from here on.
    fn start_capture(&mut self, path: &std::path::Path) -> Result<()> {
        let mut recorder = recorder_for(path)?;
        if let (Some(local), Some(conn)) = (self.local, &self.conn) {
            recorder.start(local);
            let meta = self.meta(conn);
            recorder.event(&meta, Event::Open);
        }
        self.recorder = Some(recorder);
        Ok(())
    }

    fn meta(&self, conn: &Conn) -> Meta {
        Meta {
            elapsed: self.started.elapsed(),
            wall: SystemTime::now(),
            conn: conn.id,
            peer: conn.peer,
        }
    }

    fn install(&mut self, stream: TcpStream) {
        let peer = stream
            .peer_addr()
            .map(net::canonical)
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
        self.local = stream.local_addr().ok();
        if let (Some(recorder), Some(local)) = (&mut self.recorder, self.local) {
            recorder.start(local);
        }
        self.conns += 1;
        let id = self.conns;
        let (reader, writer) = stream.into_split();
        let (tx, rx) = mpsc::unbounded_channel();
        let conn = Conn {
            id,
            peer,
            tx,
            reader: tokio::spawn(read_loop(id, reader, self.events.clone())),
            writer: tokio::spawn(write_loop(id, writer, rx, self.events.clone())),
        };
        self.decoder = Decoder::new(self.settings.frame.clone(), self.max_frame);
        let meta = self.meta(&conn);
        self.conn = Some(conn);
        self.event(&meta, Event::Open);
        if id > 1 || self.announce_first {
            self.note(&format!("#{id} {peer} connected"));
        }
    }

    /// A lifecycle event: a JSON record in `-f json`, and the recorder.
    fn event(&mut self, meta: &Meta, event: Event<'_>) {
        if self.settings.format == Format::Json {
            display::write_event_json(&mut self.pending, meta, event);
        }
        if let Some(recorder) = &mut self.recorder {
            recorder.event(meta, event);
        }
    }

    /// Queue bytes for the peer; `false` when there is no connection.
    fn send(&mut self, bytes: Vec<u8>) -> bool {
        let Some(conn) = &self.conn else {
            return false;
        };
        if bytes.is_empty() {
            return true;
        }
        let meta = self.meta(conn);
        // Raw output is the peer's bytes only, as with `send`.
        if self.settings.format != Format::Raw {
            display::write_data_styled(
                &mut self.pending,
                self.settings.format,
                self.style,
                &meta,
                Side::Client,
                Direction::Sent,
                &bytes,
            );
        }
        if let Some(recorder) = &mut self.recorder {
            recorder.data(&meta, Side::Client, &bytes);
        }
        // If the writer is gone, its `Closed` event is already on the way.
        let _ = conn.tx.send(bytes);
        self.flush();
        true
    }

    fn on_event(&mut self, event: NetEvent) -> Seen {
        let current = self.conn.as_ref().map(|c| c.id);
        match event {
            NetEvent::Data { conn, bytes } if Some(conn) == current => {
                self.decoder.push(&bytes);
                let mut frames = 0;
                loop {
                    match self.decoder.next_frame() {
                        Ok(Some(frame)) => {
                            self.received(&frame);
                            frames += 1;
                        }
                        Ok(None) => break,
                        // Too large a frame: an error for this connection only.
                        Err(e) => return Seen::Lost(self.drop_conn(Ending::Error(e.to_string()))),
                    }
                }
                Seen::Data { frames }
            }
            NetEvent::Closed { conn, error } if Some(conn) == current => {
                let ending = error.map_or(Ending::PeerClosed, Ending::Error);
                Seen::Lost(self.drop_conn(ending))
            }
            _ => Seen::Stale,
        }
    }

    fn received(&mut self, frame: &[u8]) {
        let Some(conn) = &self.conn else { return };
        let meta = self.meta(conn);
        self.show_received(&meta, frame);
    }

    fn show_received(&mut self, meta: &Meta, frame: &[u8]) {
        display::write_data_styled(
            &mut self.pending,
            self.settings.format,
            self.style,
            meta,
            Side::Server,
            Direction::Recv,
            frame,
        );
        if let Some(recorder) = &mut self.recorder {
            recorder.data(meta, Side::Server, frame);
        }
    }

    /// Forget the connection: show what was still buffered (an incomplete
    /// message is still what the peer sent), stop its tasks (the writer
    /// finishes what was queued, then closes), and say how it ended.
    fn drop_conn(&mut self, ending: Ending) -> String {
        let Some(conn) = self.conn.take() else {
            return String::new();
        };
        conn.reader.abort();
        let meta = self.meta(&conn);
        if let Some(rest) = self.decoder.finish() {
            self.show_received(&meta, &rest);
        }
        let (id, peer) = (conn.id, conn.peer);
        match ending {
            Ending::PeerClosed => {
                self.event(&meta, Event::Close);
                format!("#{id} {peer} closed by peer")
            }
            Ending::Error(reason) => {
                self.event(&meta, Event::Error(&reason));
                format!("#{id} {peer} error: {reason}; connection closed")
            }
            Ending::Ours => {
                self.event(&meta, Event::Close);
                format!("#{id} {peer} closed")
            }
        }
    }

    /// End of session: let the writer send what is queued (bounded), close.
    async fn close(&mut self) {
        if let Some(conn) = self.conn.take() {
            let meta = self.meta(&conn);
            let Conn {
                tx, reader, writer, ..
            } = conn;
            drop(tx);
            let _ = tokio::time::timeout(Duration::from_secs(2), writer).await;
            reader.abort();
            if let Some(rest) = self.decoder.finish() {
                self.show_received(&meta, &rest);
            }
            self.event(&meta, Event::Close);
        }
        self.flush();
    }

    fn set(&mut self, setting: Setting) -> String {
        match setting {
            Setting::Mode(mode) => {
                self.settings.mode = mode;
                format!("mode: {}", mode.name())
            }
            Setting::Eol(eol) => {
                self.settings.eol = eol;
                format!("eol: {}", self.settings.eol)
            }
            Setting::Format(format) => {
                self.settings.format = format;
                format!("format: {format}")
            }
            Setting::Frame(spec) => {
                // Bytes of a message still incomplete are kept and framed by
                // the new rule.
                let buffered = self.decoder.buffer_mut().split();
                self.decoder = Decoder::new(spec.clone(), self.max_frame);
                self.decoder.push(&buffered);
                self.settings.frame = spec;
                format!("frame: {}", self.settings.frame)
            }
        }
    }

    fn note(&mut self, text: &str) {
        self.flush();
        self.out.note(text);
    }

    fn flush(&mut self) {
        if !self.pending.is_empty() {
            self.out.records(&self.pending);
            self.pending.clear();
        }
    }
}

type Dial = Pin<Box<dyn Future<Output = Result<TcpStream>> + Send>>;

fn dial(target: Target, opts: ConnectOptions, delay: Duration) -> Dial {
    Box::pin(async move {
        tokio::time::sleep(delay).await;
        net::connect_tcp(&target, opts).await
    })
}

// ---------------------------------------------------------------------------
// Entry point

pub fn run(args: ReplArgs) -> Result<ExitCode> {
    super::check_framing(&args.frame)?;
    // A capture file that cannot be created is bad input: fail before
    // connecting (the session opens it again, truncating this empty file).
    if let Some(path) = &args.capture {
        crate::output::create_capture(path)?;
    }
    // Line editing needs both ends on a terminal (the printer writes to
    // stdout); anything else is a script, even a terminal piped to `tee`.
    let interactive = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    // One connection at a time: a single-threaded runtime suffices; the
    // editor and printer have their own threads.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let outcome = if interactive {
        run_interactive(&runtime, args)
    } else {
        runtime.block_on(run_piped(args))
    };
    // A read of stdin may still be pending in tokio's blocking pool; do not
    // wait for input nobody will send.
    runtime.shutdown_background();
    outcome
}

/// One attempt per connect, bounded by `--connect-timeout` (0: no bound);
/// retrying is the caller's decision.
fn connect_options(args: &ReplArgs) -> ConnectOptions {
    let timeout = args.connect_timeout.0;
    ConnectOptions {
        timeout: (!timeout.is_zero()).then_some(timeout),
        retry_for: None,
    }
}

/// Connect, or exit 3; Ctrl-C while waiting exits 130.
async fn first_connect(args: &ReplArgs) -> Result<Option<TcpStream>> {
    tokio::select! {
        stream = net::connect_tcp(&args.target, connect_options(args)) => stream.map(Some),
        _ = tokio::signal::ctrl_c() => Ok(None),
    }
}

// ---------------------------------------------------------------------------
// At a terminal

/// From the editor thread to the session.
enum Request {
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

struct Reply {
    prompt: String,
    quit: bool,
}

fn run_interactive(runtime: &tokio::runtime::Runtime, args: ReplArgs) -> Result<ExitCode> {
    let (events_tx, events_rx) = mpsc::channel(64);
    let Some(stream) = runtime.block_on(first_connect(&args))? else {
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
        let mut session = Session::new(&args, out, events_tx, true);
        if let Some(path) = &args.capture {
            session.start_capture(path)?;
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

/// Load the history file (a missing one is fine) and make sure its
/// directory exists, so the first line can be saved.
fn prepare_history(editor: &mut Editor<ReplHelper, FileHistory>, path: &Path) -> Result<()> {
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
fn run_editor(
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

async fn interactive_loop(
    session: &mut Session,
    mut requests: mpsc::UnboundedReceiver<Request>,
    mut events: mpsc::Receiver<NetEvent>,
    auto: bool,
) -> Result<ExitCode> {
    let mut dialing: Option<Dial> = None;
    let mut backoff = BACKOFF_FIRST;
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
                    let mut quit = false;
                    match interpret(&text, &session.settings, "line") {
                        Err(message) => session.note(&message),
                        Ok(Action::Send(bytes)) => {
                            if !session.send(bytes) {
                                session.note(if dialing.is_some() {
                                    "not connected yet (connecting); not sent"
                                } else {
                                    "not connected (:reconnect connects again); not sent"
                                });
                            }
                        }
                        Ok(Action::Set(setting)) => {
                            let text = session.set(setting);
                            session.note(&text);
                        }
                        Ok(Action::Say(text)) => session.note(&text),
                        Ok(Action::Reconnect) => {
                            let closed = session.drop_conn(Ending::Ours);
                            if !closed.is_empty() {
                                session.note(&closed);
                            }
                            session.note(&format!("connecting to {}", session.target));
                            dialing = Some(dial(session.target.clone(), session.connect, Duration::ZERO));
                            backoff = BACKOFF_FIRST;
                            last_failure = None;
                        }
                        Ok(Action::Capture(path)) => match session.start_capture(&path) {
                            Ok(()) => session.note(&format!("capturing to {}", path.display())),
                            Err(e) => session.note(&format!("{e:#}")),
                        },
                        Ok(Action::Quit) => quit = true,
                    }
                    session.flush();
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
                        dialing = Some(dial(session.target.clone(), session.connect, BACKOFF_FIRST));
                        backoff = BACKOFF_FIRST;
                        last_failure = None;
                    } else {
                        session.note(&format!("{how}; :reconnect connects again"));
                    }
                }
                session.flush();
            }
            result = async { dialing.as_mut().expect("guarded").await }, if dialing.is_some() => {
                dialing = None;
                match result {
                    Ok(stream) => {
                        session.install(stream);
                        backoff = BACKOFF_FIRST;
                        last_failure = None;
                    }
                    Err(e) if auto => {
                        let why = format!("{e:#}");
                        backoff = (backoff * 2).min(BACKOFF_MAX);
                        if last_failure.as_deref() != Some(why.as_str()) {
                            session.note(&format!("{why}; still trying (--reconnect)"));
                            last_failure = Some(why);
                        }
                        dialing = Some(dial(session.target.clone(), session.connect, backoff));
                    }
                    Err(e) => session.note(&format!("{e:#}; :reconnect tries again")),
                }
            }
            // Ctrl-C belongs to the line editor (it clears the line); a
            // SIGINT from elsewhere must not end the process while rustyline
            // holds the terminal in raw mode.
            _ = tokio::signal::ctrl_c() => {}
        }
    }
}

// ---------------------------------------------------------------------------
// From a pipe

/// When a piped session is over: `send`'s reply rules, applied after the
/// last line. Lines are sent as they are read, like lines typed quickly, so
/// the rules look at the whole session: with `--frame`, one reply frame per
/// message sent; without, `--idle` of silence after a byte that arrived
/// since the last message was sent; either way, the peer closing ends it,
/// and `-w` after the end of input bounds the wait.
#[derive(Debug, Default)]
struct Tally {
    sent: usize,
    frames: usize,
    /// The last byte received since the last message was sent.
    reply_byte: Option<TokioInstant>,
    closed: bool,
}

#[derive(Debug, PartialEq, Eq)]
enum End {
    Now,
    /// Complete at this time unless more data moves it.
    At(TokioInstant),
    /// Give up (no complete reply) at this time.
    GiveUpAt(TokioInstant),
    Never,
}

impl Tally {
    fn sent(&mut self) {
        self.sent += 1;
        self.reply_byte = None;
    }

    fn received(&mut self, frames: usize, at: TokioInstant) {
        self.frames += frames;
        if self.sent > 0 {
            self.reply_byte = Some(at);
        }
    }

    fn end(
        &self,
        input_done: TokioInstant,
        framed: bool,
        idle: Duration,
        timeout: Option<Duration>,
    ) -> End {
        if self.sent == 0 || self.closed || (framed && self.frames >= self.sent) {
            return End::Now;
        }
        let idle_end = match (framed, self.reply_byte) {
            (false, Some(at)) => Some(at.max(input_done) + idle),
            _ => None,
        };
        let deadline = timeout.map(|t| input_done + t);
        match (idle_end, deadline) {
            (Some(i), Some(d)) if d < i => End::GiveUpAt(d),
            (Some(i), _) => End::At(i),
            (None, Some(d)) => End::GiveUpAt(d),
            (None, None) => End::Never,
        }
    }
}

/// Stdin lines, without their LF or CRLF (a script edited on Windows means
/// the same as one edited on Linux), as bytes: UTF-8 is checked by the
/// session so the error can name the line.
fn stdin_lines() -> mpsc::Receiver<std::io::Result<Vec<u8>>> {
    let (tx, rx) = mpsc::channel(16);
    tokio::spawn(async move {
        let mut stdin = tokio::io::BufReader::new(tokio::io::stdin());
        loop {
            let mut line = Vec::new();
            match stdin.read_until(b'\n', &mut line).await {
                Ok(0) => return,
                Ok(_) => {
                    if line.ends_with(b"\n") {
                        line.pop();
                        if line.ends_with(b"\r") {
                            line.pop();
                        }
                    }
                    if tx.send(Ok(line)).await.is_err() {
                        return;
                    }
                }
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                    return;
                }
            }
        }
    });
    rx
}

async fn run_piped(args: ReplArgs) -> Result<ExitCode> {
    let (events_tx, mut events) = mpsc::channel(64);
    let mut session = Session::new(&args, Output::Stdio, events_tx, false);
    if let Some(path) = &args.capture {
        session.start_capture(path)?;
    }
    let Some(stream) = first_connect(&args).await? else {
        return Ok(ExitCode::Interrupted);
    };
    session.install(stream);
    let outcome = piped_loop(&mut session, &mut events, &args).await;
    // Whatever ended the session (even a bad line), what was sent before it
    // leaves the socket buffer before we exit.
    session.close().await;
    outcome
}

async fn piped_loop(
    session: &mut Session,
    events: &mut mpsc::Receiver<NetEvent>,
    args: &ReplArgs,
) -> Result<ExitCode> {
    let nonzero = |d: Duration| (!d.is_zero()).then_some(d);
    let (idle, timeout) = (args.idle.0, nonzero(args.timeout.0));
    // With --reconnect a script waits for the device to come back, for up
    // to --connect-timeout; without, a lost connection fails the next send.
    let redial = ConnectOptions {
        timeout: session.connect.timeout,
        retry_for: args.reconnect.then_some(args.connect_timeout.0),
    };

    let mut lines = stdin_lines();
    let mut number = 0usize;
    let mut tally = Tally::default();
    let mut input_done: Option<TokioInstant> = None;
    let mut lost: Option<String> = None;
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        let mut wake = None;
        if let Some(done) = input_done {
            let framed = session.settings.frame != FrameSpec::Raw;
            match tally.end(done, framed, idle, timeout) {
                End::Now => break,
                End::At(at) => wake = Some((at, false)),
                End::GiveUpAt(at) => wake = Some((at, true)),
                End::Never => {}
            }
        }
        tokio::select! {
            line = lines.recv(), if input_done.is_none() => {
                let Some(line) = line else {
                    input_done = Some(TokioInstant::now());
                    continue;
                };
                number += 1;
                let what = format!("line {number}");
                let line = line.context("reading stdin")?;
                let text = String::from_utf8(line)
                    .map_err(|_| exit::usage(format!("{what}: not valid UTF-8; not sent")))?;
                match interpret(&text, &session.settings, &what).map_err(exit::usage)? {
                    Action::Send(bytes) => {
                        if session.conn.is_none() {
                            if !args.reconnect {
                                let how = lost.take().unwrap_or_default();
                                return Err(exit::error(
                                    ExitCode::Failure,
                                    format!("{what} not sent: the connection is gone ({how})"),
                                ));
                            }
                            let stream = net::connect_tcp(&session.target, redial).await?;
                            session.install(stream);
                            tally.closed = false;
                        }
                        session.send(bytes);
                        tally.sent();
                    }
                    Action::Set(setting) => {
                        session.set(setting);
                    }
                    Action::Say(text) => session.note(&text),
                    Action::Reconnect => {
                        let closed = session.drop_conn(Ending::Ours);
                        session.flush();
                        if !closed.is_empty() {
                            session.note(&closed);
                        }
                        let stream = net::connect_tcp(&session.target, redial).await?;
                        session.install(stream);
                        tally.closed = false;
                    }
                    Action::Capture(path) => {
                        if let Err(e) = session.start_capture(&path) {
                            return Err(e.context(what.clone()));
                        }
                    }
                    // The rest of the input is not read; replies are still
                    // awaited as at its end.
                    Action::Quit => input_done = Some(TokioInstant::now()),
                }
            }
            Some(event) = events.recv() => {
                match session.on_event(event) {
                    Seen::Data { frames } => tally.received(frames, TokioInstant::now()),
                    Seen::Lost(how) => {
                        tally.closed = true;
                        session.note(&how);
                        lost = Some(how);
                    }
                    Seen::Stale => {}
                }
                session.flush();
            }
            _ = tokio::time::sleep_until(wake.map_or_else(TokioInstant::now, |(at, _)| at)), if wake.is_some() => {
                if let Some((_, true)) = wake {
                    let waited = humantime::format_duration(timeout.unwrap_or_default());
                    session.note(&format!("no complete reply to the last line within {waited}"));
                }
                break;
            }
            _ = &mut ctrl_c => return Ok(ExitCode::Interrupted),
        }
    }
    Ok(ExitCode::Success)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings {
            mode: PayloadMode::Text,
            eol: Eol::Lf,
            format: Format::Text,
            frame: FrameSpec::Raw,
        }
    }

    fn run(line: &str) -> Result<Action, String> {
        interpret(line, &settings(), "line")
    }

    #[test]
    fn a_line_is_a_payload_with_the_end_of_line() {
        assert_eq!(run("a\\x02b"), Ok(Action::Send(b"a\x02b\n".to_vec())));
        assert_eq!(run(""), Ok(Action::Send(b"\n".to_vec())));
        let hex = Settings {
            mode: PayloadMode::Hex,
            eol: Eol::Crlf,
            ..settings()
        };
        assert_eq!(
            interpret("02 41", &hex, "line"),
            Ok(Action::Send(b"\x02A\r\n".to_vec()))
        );
    }

    #[test]
    fn a_bad_payload_names_the_column_and_is_not_sent() {
        let err = run("ab\\q").unwrap_err();
        assert!(err.contains("at column 3"), "{err}");
        assert!(err.ends_with("not sent"), "{err}");
        let err = interpret("ok\n\\x4", &settings(), "line 7").unwrap_err();
        assert!(err.starts_with("line 7 "), "{err}");
    }

    #[test]
    fn hex_sends_exactly_its_bytes() {
        assert_eq!(run(":hex 02 41 03"), Ok(Action::Send(vec![2, 0x41, 3])));
        // The column points into the line as typed.
        let err = run(":hex  02 4g").unwrap_err();
        assert!(err.contains("at column 11"), "{err}");
        assert!(run(":hex").is_err());
    }

    #[test]
    fn settings_commands() {
        assert_eq!(
            run(":mode hex"),
            Ok(Action::Set(Setting::Mode(PayloadMode::Hex)))
        );
        assert_eq!(run(":mode"), Ok(Action::Say("mode: text".into())));
        assert_eq!(run(":eol crlf"), Ok(Action::Set(Setting::Eol(Eol::Crlf))));
        assert_eq!(
            run(":eol \\x03"),
            Ok(Action::Set(Setting::Eol(Eol::Custom(vec![3]))))
        );
        assert!(run(":eol \\q").unwrap_err().contains("at column 6"));
        assert_eq!(
            run(":format hexdump"),
            Ok(Action::Set(Setting::Format(Format::Hexdump)))
        );
        assert_eq!(
            run(":frame stx-etx"),
            Ok(Action::Set(Setting::Frame(FrameSpec::StxEtx)))
        );
        assert_eq!(run(":frame"), Ok(Action::Say("frame: raw".into())));
        assert!(run(":frame fixed=x").unwrap_err().contains("at column"));
        assert!(run(":mode binary").is_err());
    }

    #[test]
    fn other_commands() {
        assert_eq!(run(":reconnect"), Ok(Action::Reconnect));
        assert_eq!(run(":quit"), Ok(Action::Quit));
        assert_eq!(run(":q"), Ok(Action::Quit));
        assert!(run(":quit now").is_err());
        assert_eq!(
            run(":capture s.jsonl"),
            Ok(Action::Capture(PathBuf::from("s.jsonl")))
        );
        let Ok(Action::Say(help)) = run(":help") else {
            panic!()
        };
        for (name, ..) in COMMANDS {
            assert!(help.contains(&format!(":{name}")), "{help}");
        }
        let err = run(":bogus").unwrap_err();
        assert!(err.contains("unknown command"), "{err}");
        assert!(run(":").unwrap_err().contains("unknown command"));
    }

    fn words(before: &str) -> (usize, Vec<String>) {
        match completions(before) {
            Completion::Words(start, pairs) => {
                (start, pairs.into_iter().map(|p| p.replacement).collect())
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn completes_command_names_and_values() {
        assert_eq!(words(":mo"), (0, vec![":mode ".to_string()]));
        assert_eq!(
            words(":re").1,
            vec![":reconnect".to_string()],
            "no space after a command without argument"
        );
        assert_eq!(words(":").1.len(), COMMANDS.len());
        assert_eq!(words(":mode h"), (6, vec!["hex".to_string()]));
        assert_eq!(words(":eol  c"), (6, vec!["crlf".into(), "cr".into()]));
        assert_eq!(words(":format hexd").1, vec!["hexdump".to_string()]);
        assert!(words(":frame ").1.contains(&"stx-etx".to_string()));
        assert_eq!(completions(":capture ses"), Completion::Files);
        assert_eq!(completions("hello"), Completion::Nothing);
        assert_eq!(completions(":hex 02"), Completion::Nothing);
    }

    #[test]
    fn completed_values_parse() {
        for (command, _) in [(":mode ", 0), (":eol ", 0), (":format ", 0), (":frame ", 0)] {
            for value in words(command).1 {
                // Prefix forms like `delim=` need more; the rest must parse.
                if value.ends_with('=') {
                    continue;
                }
                let line = format!("{command}{value}");
                assert!(run(&line).is_ok(), "{line}: {:?}", run(&line));
            }
        }
    }

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

    #[test]
    fn piped_sessions_end_by_the_reply_rules() {
        let t0 = TokioInstant::now();
        let ms = Duration::from_millis;
        let idle = ms(250);
        let w = Some(ms(10_000));
        let mut tally = Tally::default();
        assert_eq!(tally.end(t0, false, idle, w), End::Now, "nothing sent");
        tally.sent();
        assert_eq!(
            tally.end(t0, false, idle, w),
            End::GiveUpAt(t0 + ms(10_000))
        );
        assert_eq!(tally.end(t0, false, idle, None), End::Never);
        // A reply byte before the end of input: idle counts from the end.
        tally.received(1, t0 - ms(100));
        assert_eq!(tally.end(t0, false, idle, w), End::At(t0 + idle));
        tally.received(1, t0 + ms(50));
        assert_eq!(tally.end(t0, false, idle, w), End::At(t0 + ms(300)));
        // A new message waits for a byte after it.
        tally.sent();
        assert_eq!(
            tally.end(t0, false, idle, w),
            End::GiveUpAt(t0 + ms(10_000))
        );
        // Framed: one frame per message sent (2 sent, 2 frames so far).
        assert_eq!(tally.end(t0, true, idle, w), End::Now);
        tally.sent();
        assert_eq!(tally.end(t0, true, idle, w), End::GiveUpAt(t0 + ms(10_000)));
        tally.closed = true;
        assert_eq!(tally.end(t0, true, idle, w), End::Now);
    }
}
