//! The repl session: the connection (reader and writer tasks), the state
//! that `:` commands change, and what is shown and captured. Both the
//! terminal loop and the piped loop apply every action through
//! [`Session::apply`], so a command means the same in both.

use std::{future::Future, path::Path, pin::Pin, time::Duration};

use anyhow::Result;
use bytes::{Bytes, BytesMut};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    sync::mpsc,
    task::JoinHandle,
};

use super::{
    commands::{Action, Setting, Settings},
    editor::Output,
};
use crate::{
    cli::ReplArgs,
    cmd::inputs,
    decode::Protocol,
    display::{Format, Records},
    frame::{Decoder, FrameSpec},
    net::{self, Backoff, ConnectOptions, ReadHalf, Stream, Target, WriteHalf},
    output::{self, ClientRecorder, Direct, Held, Observed, Outputs},
    payload::Eol,
    record::{Clock, Event, Observer, OutputError, Peer, Recorder, Side, Transport},
};

/// What the reader and writer tasks report, tagged with their connection so
/// that news from a connection already replaced is ignored.
pub enum NetEvent {
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
    peer: Peer,
    tx: mpsc::UnboundedSender<Vec<u8>>,
    reader: JoinHandle<()>,
    writer: JoinHandle<()>,
}

async fn read_loop(conn: u64, mut reader: ReadHalf, events: mpsc::Sender<NetEvent>) {
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
    mut writer: WriteHalf,
    mut rx: mpsc::UnboundedReceiver<Vec<u8>>,
    events: mpsc::Sender<NetEvent>,
) {
    while let Some(bytes) = rx.recv().await {
        if let Err(e) = writer.send(&bytes).await {
            let error = Some(format!("sending: {}", net::describe_io(&e)));
            let _ = events.send(NetEvent::Closed { conn, error }).await;
            return;
        }
    }
    // The session let go (quit or reconnect): a clean close.
    let _ = writer.shutdown().await;
}

/// How a connection ended.
pub enum Ending {
    PeerClosed,
    Error(String),
    /// `:reconnect` or the end of the session.
    Ours,
}

/// What an event meant to the session.
pub enum Seen {
    Data {
        frames: usize,
    },
    /// The connection is gone; the text says how.
    Lost(String),
    /// From a connection already replaced.
    Stale,
}

/// A connection attempt under way (`:reconnect`, `--reconnect`).
type Dial = Pin<Box<dyn Future<Output = Result<Stream>> + Send>>;

fn dial(target: Target, opts: ConnectOptions, delay: Duration) -> Dial {
    Box::pin(async move {
        tokio::time::sleep(delay).await;
        net::connect(&target, &opts).await
    })
}

/// What applying one line did, for the loop to act on.
#[derive(Debug, PartialEq, Eq)]
pub enum Applied {
    Done,
    /// Bytes were handed to the connection.
    Sent,
    /// There is no connection to send on (the note says so).
    NotSent,
    Quit,
}

pub struct Session {
    pub target: Target,
    connect: ConnectOptions,
    /// `--on-connect`: sent first on every connection.
    on_connect: Option<Vec<u8>>,
    pub settings: Settings,
    max_frame: usize,
    decoder: Decoder,
    conn: Option<Conn>,
    /// Connections made so far; the current one's number is shown as `#N`.
    conns: u64,
    events: mpsc::Sender<NetEvent>,
    pub out: Output,
    /// Stdout records (held until [`Session::flush`], so a burst is one
    /// write), `--capture` / `:capture` and `--pcap`.
    recorder: ClientRecorder,
    /// The first output that could not be written; the session ends with
    /// it ([`Session::check_outputs`]).
    output_failure: Option<OutputError>,
    /// Announce the first connection (at a terminal); piped sessions stay
    /// quiet on success, like `send`.
    announce_first: bool,
    /// Our end of the current connection, for a capture started mid-session.
    local: Option<Peer>,
    /// The current connection's transport (TCP, or a Unix socket).
    transport: Transport,
    /// A connection attempt under way, and the pause before the next one.
    dialing: Option<Dial>,
    pub backoff: Backoff,
    /// `:request`s sent on the current connection (Modbus/TCP transaction
    /// ids count them).
    requests: u16,
}

impl Session {
    pub fn new(
        args: &ReplArgs,
        on_connect: Option<Vec<u8>>,
        connect: ConnectOptions,
        out: Output,
        events: mpsc::Sender<NetEvent>,
        announce: bool,
    ) -> Self {
        let settings = Settings {
            mode: inputs::mode(args.hex),
            // Hex lines are the exact bytes meant: no terminator unless asked.
            eol: args
                .eol
                .clone()
                .unwrap_or(if args.hex { Eol::None } else { Eol::Lf }),
            format: args.output.format.unwrap_or(Format::Text),
            frame: inputs::framing(&args.frame, args.output.decode).unwrap_or_default(),
            decode: args.output.decode,
        };
        Session {
            target: args.target.clone(),
            connect,
            on_connect,
            decoder: Decoder::new(settings.frame.clone(), args.frame.max_frame.0),
            recorder: Recorder::new(
                Clock::start(),
                0,
                Peer::Ip(([0, 0, 0, 0], 0).into()),
                Outputs {
                    records: Some(Observed::new(
                        records_for(settings.format, settings.decode),
                        Direct::Held(Held),
                    )),
                    capture: None,
                    pcap: None,
                },
            ),
            output_failure: None,
            settings,
            max_frame: args.frame.max_frame.0,
            conn: None,
            conns: 0,
            events,
            out,
            announce_first: announce,
            local: None,
            transport: Transport::Tcp,
            dialing: None,
            backoff: Backoff::RECONNECT,
            requests: 0,
        }
    }

    /// Start (or switch) the capture file; a connection already up is
    /// recorded from here on.
    pub fn start_capture(&mut self, path: &Path) -> Result<()> {
        let mut capture = output::client_capture(path, &self.recorder.clock)?;
        if let (Some(local), Some(_)) = (self.local, &self.conn) {
            capture.start(self.transport, local)?;
            capture.record(&self.recorder.meta(), Event::Open)?;
        }
        self.recorder.outputs.capture = Some(capture);
        Ok(())
    }

    /// `--pcap FILE`: connections from here on are recorded as pcapng.
    pub fn start_pcap(&mut self, path: &Path) -> Result<()> {
        self.recorder.outputs.pcap = Some(output::client_pcap(path)?);
        Ok(())
    }

    /// Stdout records, the capture and the pcapng file see the event, on
    /// the current (or last) connection.
    fn observe(&mut self, event: Event<'_>) {
        if let Err(e) = self.recorder.event(event) {
            self.output_failure.get_or_insert(e);
        }
    }

    /// Ends the session (exit 1) once an output could not be written.
    pub fn check_outputs(&mut self) -> Result<(), OutputError> {
        match self.output_failure.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Take a new connection; `true` when the `--on-connect` login was sent
    /// on it (a reply is due).
    pub fn install(&mut self, stream: Stream) -> bool {
        let peer = stream
            .peer()
            .unwrap_or_else(|_| Peer::Ip(([0, 0, 0, 0], 0).into()));
        self.transport = stream.transport();
        self.local = stream.local().ok();
        if let Some(local) = self.local {
            let outputs = &mut self.recorder.outputs;
            let started = (outputs.capture.start(self.transport, local))
                .and_then(|()| outputs.pcap.start(self.transport, local));
            if let Err(e) = started {
                self.output_failure.get_or_insert(e);
            }
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
        self.requests = 0;
        (self.recorder.conn, self.recorder.peer) = (id, peer);
        self.conn = Some(conn);
        self.observe(Event::Open);
        self.backoff.reset();
        if id > 1 || self.announce_first {
            self.note(&format!("#{id} {peer} connected"));
        }
        match self.on_connect.clone() {
            Some(login) => self.send(login),
            None => false,
        }
    }

    pub fn is_connected(&self) -> bool {
        self.conn.is_some()
    }

    /// Queue bytes for the peer; `false` when there is no connection.
    pub fn send(&mut self, bytes: Vec<u8>) -> bool {
        if self.conn.is_none() {
            return false;
        }
        if bytes.is_empty() {
            return true;
        }
        self.observe(Event::Data {
            from: Side::Client,
            bytes: &bytes,
        });
        // If the writer is gone, its `Closed` event is already on the way.
        if let Some(conn) = &self.conn {
            let _ = conn.tx.send(bytes);
        }
        self.flush();
        true
    }

    /// Apply one interpreted line: the same in both loops.
    pub fn apply(&mut self, action: Action) -> Result<Applied> {
        match action {
            Action::Send(bytes) => {
                if self.send(bytes) {
                    return Ok(Applied::Sent);
                }
                self.note(if self.dialing.is_some() {
                    "not connected yet (connecting); not sent"
                } else {
                    "not connected (:reconnect connects again); not sent"
                });
                return Ok(Applied::NotSent);
            }
            Action::Set(setting) => {
                let text = self.set(setting);
                self.note(&text);
            }
            Action::Say(text) => self.note(&text),
            Action::Reconnect => {
                let closed = self.drop_conn(Ending::Ours);
                if !closed.is_empty() {
                    self.note(&closed);
                }
                self.note(&format!("connecting to {}", self.target));
                self.backoff.reset();
                self.redial(Duration::ZERO);
            }
            Action::Request(spec) => {
                let at = crate::decode::RequestContext {
                    sequence: self.requests.wrapping_add(1),
                    serial: inputs::requests_are_serial(&self.target, Some(&self.settings.frame)),
                };
                let (protocol, bytes) = match crate::decode::build_request(&spec, &at) {
                    Ok(built) => built,
                    Err(e) => {
                        self.note(&format!("request '{spec}': {e}; not sent"));
                        return Ok(Applied::NotSent);
                    }
                };
                // Like `send --request`: the protocol's decoding and framing
                // unless they were chosen.
                if self.settings.decode == Protocol::None {
                    let text = self.set(Setting::Decode(protocol));
                    self.note(&text);
                    if self.settings.frame == FrameSpec::Raw {
                        if let Some(spec) = protocol.framing() {
                            let text = self.set(Setting::Frame(spec));
                            self.note(&text);
                        }
                    }
                }
                let applied = self.apply(Action::Send(bytes))?;
                if applied == Applied::Sent {
                    self.requests = self.requests.wrapping_add(1);
                }
                return Ok(applied);
            }
            Action::Capture(path) => {
                self.start_capture(&path)?;
                self.note(&format!("capturing to {}", path.display()));
            }
            Action::Quit => return Ok(Applied::Quit),
        }
        Ok(Applied::Done)
    }

    /// Start connecting again after `delay`.
    pub fn redial(&mut self, delay: Duration) {
        self.dialing = Some(dial(self.target.clone(), self.connect.clone(), delay));
    }

    pub fn is_dialing(&self) -> bool {
        self.dialing.is_some()
    }

    /// The connection attempt under way finishing (never, without one).
    pub async fn dialed(&mut self) -> Result<Stream> {
        let result = match &mut self.dialing {
            Some(dial) => dial.await,
            None => std::future::pending().await,
        };
        self.dialing = None;
        result
    }

    pub fn on_event(&mut self, event: NetEvent) -> Seen {
        let current = self.conn.as_ref().map(|c| c.id);
        match event {
            NetEvent::Data { conn, bytes } if Some(conn) == current => {
                self.decoder.push(&bytes);
                match self.release_frames() {
                    Ok(frames) => Seen::Data { frames },
                    // Too large a frame: an error for this connection only.
                    Err(e) => Seen::Lost(self.drop_conn(Ending::Error(e))),
                }
            }
            NetEvent::Closed { conn, error } if Some(conn) == current => {
                let ending = error.map_or(Ending::PeerClosed, Ending::Error);
                Seen::Lost(self.drop_conn(ending))
            }
            _ => Seen::Stale,
        }
    }

    /// Show every frame the decoder holds complete; how many.
    fn release_frames(&mut self) -> Result<usize, String> {
        let mut frames = 0;
        while let Some(frame) = self.decoder.next_frame().map_err(|e| e.to_string())? {
            self.received(&frame);
            frames += 1;
        }
        Ok(frames)
    }

    fn received(&mut self, frame: &[u8]) {
        if self.conn.is_some() {
            self.show_received(frame);
        }
    }

    fn show_received(&mut self, frame: &[u8]) {
        self.observe(Event::Data {
            from: Side::Server,
            bytes: frame,
        });
    }

    /// Forget the connection: show what was still buffered (an incomplete
    /// message is still what the peer sent), stop its tasks (the writer
    /// finishes what was queued, then closes), and say how it ended.
    pub fn drop_conn(&mut self, ending: Ending) -> String {
        let Some(conn) = self.conn.take() else {
            return String::new();
        };
        conn.reader.abort();
        if let Some(rest) = self.decoder.finish() {
            self.show_received(&rest);
        }
        let (id, peer) = (conn.id, conn.peer);
        match ending {
            Ending::PeerClosed => {
                self.observe(Event::Close);
                format!("#{id} {peer} closed by peer")
            }
            Ending::Error(reason) => {
                self.observe(Event::Error(&reason));
                format!("#{id} {peer} error: {reason}; connection closed")
            }
            Ending::Ours => {
                self.observe(Event::Close);
                format!("#{id} {peer} closed")
            }
        }
    }

    /// End of session: let the writer send what is queued (bounded), close.
    pub async fn close(&mut self) {
        if let Some(conn) = self.conn.take() {
            let Conn {
                tx, reader, writer, ..
            } = conn;
            drop(tx);
            let _ = tokio::time::timeout(Duration::from_secs(2), writer).await;
            reader.abort();
            if let Some(rest) = self.decoder.finish() {
                self.show_received(&rest);
            }
            self.observe(Event::Close);
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
                self.set_records(records_for(format, self.settings.decode));
                format!("format: {format}")
            }
            Setting::Decode(protocol) => {
                self.settings.decode = protocol;
                self.set_records(records_for(self.settings.format, protocol));
                format!("decode: {protocol}")
            }
            Setting::Frame(spec) => {
                // Bytes of a message still incomplete are kept and framed by
                // the new rule.
                let buffered = self.decoder.buffer_mut().split();
                self.decoder = Decoder::new(spec.clone(), self.max_frame);
                self.decoder.push(&buffered);
                self.settings.frame = spec;
                // What the new rule completes is shown now, not merged
                // with the next reply (`:frame raw` releases it all).
                let note = match self.release_frames() {
                    Ok(_) => String::new(),
                    Err(e) => format!("; {}", self.drop_conn(Ending::Error(e))),
                };
                format!("frame: {}{note}", self.settings.frame)
            }
        }
    }

    pub fn note(&mut self, text: &str) {
        self.flush();
        self.out.note(text);
    }

    pub fn flush(&mut self) {
        if let Some(records) = &mut self.recorder.outputs.records {
            let pending = records.pending();
            if !pending.is_empty() {
                self.out.records(pending);
                pending.clear();
            }
        }
    }

    fn set_records(&mut self, records: Records) {
        if let Some(observed) = &mut self.recorder.outputs.records {
            *observed.render_mut() = records;
        }
    }
}

/// Stdout records in `format`: raw output is the peer's bytes only, as
/// with `send`; JSON carries connection events too.
fn records_for(format: Format, decode: crate::decode::Protocol) -> Records {
    Records::client(format, output::stdout_style(), decode).with_events()
}
