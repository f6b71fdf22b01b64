//! What happened on a connection, as every output sees it.
//!
//! Subcommands describe traffic once, as [`Event`]s stamped with a [`Meta`]
//! (time, connection number, peer), and hand them to an [`Observer`]. The
//! observers (stdout records, the capture file, the pcapng file) turn
//! events into their own output; a subcommand never knows which ones are
//! listening. This is ripgrep's `Sink` idea: one producer, many printers.
//! See `docs/ARCHITECTURE.md` for the data flow.
//!
//! Everything here is pure: no sockets, no files.

use std::{
    net::SocketAddr,
    time::{Duration, Instant, SystemTime},
};

/// Which end of a connection sent some bytes (the capture's `"from"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Client,
    Server,
}

impl Side {
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Client => "client",
            Side::Server => "server",
        }
    }
}

/// The part p1ge0n plays in a session: the client (send, repl, replay),
/// the server (listen), or the man in the middle (proxy). It decides how a
/// sender reads from p1ge0n's point of view ("sent", "recv", or
/// "client>server" for a proxy), and is the capture header's `"side"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Client,
    Server,
    Proxy,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Client => "client",
            Role::Server => "server",
            Role::Proxy => "proxy",
        }
    }

    /// The bytes `from` sent, seen from this role: ours were sent, the
    /// other side's received, and a proxy forwards them one way or the
    /// other. Deriving it (instead of passing both) means a record cannot
    /// say "the server sent it" and "we received it" at once when we are
    /// the server.
    pub fn direction(self, from: Side) -> Direction {
        match (self, from) {
            (Role::Proxy, Side::Client) => Direction::ToServer,
            (Role::Proxy, Side::Server) => Direction::ToClient,
            (Role::Client, Side::Client) | (Role::Server, Side::Server) => Direction::Sent,
            _ => Direction::Recv,
        }
    }

    /// Who sent bytes that went in `dir` for this role.
    pub fn sender(self, dir: Direction) -> Side {
        match (self, dir) {
            (_, Direction::ToServer)
            | (Role::Client, Direction::Sent)
            | (Role::Server, Direction::Recv) => Side::Client,
            _ => Side::Server,
        }
    }
}

/// Which way the bytes went, as text records say it: p1ge0n received them
/// or sent them, or (proxy) forwarded them to the server or to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Recv,
    Sent,
    ToServer,
    ToClient,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Recv => "recv",
            Direction::Sent => "sent",
            Direction::ToServer => "client>server",
            Direction::ToClient => "server>client",
        }
    }
}

/// Who is at the other end of a connection: an IP endpoint, or a Unix
/// socket. Peers on a Unix socket have no address of their own (clients
/// are unnamed), so they show as the socket's path, `unix:PATH`. The path
/// is one per process (the listening or target path), made `'static` once
/// when the address is parsed, so `Peer` stays `Copy` like a `SocketAddr`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Peer {
    Ip(SocketAddr),
    Unix(&'static str),
    /// A serial line, by its device path: the line is the peer.
    Serial(&'static str),
}

impl Peer {
    /// The IP endpoint, for what only IP can carry (pcapng, `--allow`).
    pub fn ip(self) -> Option<SocketAddr> {
        match self {
            Peer::Ip(addr) => Some(addr),
            Peer::Unix(_) | Peer::Serial(_) => None,
        }
    }
}

/// The name of a path-like endpoint (a Unix socket's path), kept for the
/// rest of the program so that [`Peer`] stays `Copy`. Paths are interned:
/// a process names a handful of them (the listening or target path, a
/// capture's header), and parsing the same path again (a repl reconnecting,
/// a capture read twice) reuses the kept one, so memory never grows with
/// traffic. Every kept path stays reachable from here.
pub fn intern_path(path: &str) -> &'static str {
    static PATHS: std::sync::Mutex<Vec<&'static str>> = std::sync::Mutex::new(Vec::new());
    let mut paths = PATHS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(kept) = paths.iter().find(|p| **p == path) {
        return kept;
    }
    let kept: &'static str = Box::leak(path.to_owned().into_boxed_str());
    paths.push(kept);
    kept
}

impl From<SocketAddr> for Peer {
    fn from(addr: SocketAddr) -> Peer {
        Peer::Ip(addr)
    }
}

/// `IP:PORT`, `[IPV6]:PORT` or `unix:PATH` (the path is kept for the rest
/// of the program: parse peers once, not per record).
impl std::str::FromStr for Peer {
    type Err = std::net::AddrParseError;

    fn from_str(s: &str) -> Result<Peer, Self::Err> {
        if let Some(path) = s.strip_prefix("unix:") {
            return Ok(Peer::Unix(intern_path(path)));
        }
        if let Some(path) = s.strip_prefix("serial:") {
            return Ok(Peer::Serial(intern_path(path)));
        }
        s.parse().map(Peer::Ip)
    }
}

impl std::fmt::Display for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Peer::Ip(addr) => addr.fmt(f),
            Peer::Unix(path) => write!(f, "unix:{path}"),
            Peer::Serial(path) => write!(f, "serial:{path}"),
        }
    }
}

/// Per-record context. `elapsed` (since the session started) feeds the
/// JSON `t`, `wall` the human clock; both come from one [`Clock`] reading so
/// that a record's two timestamps describe the same instant.
#[derive(Debug, Clone, Copy)]
pub struct Meta {
    pub elapsed: Duration,
    pub wall: SystemTime,
    pub conn: u64,
    pub peer: Peer,
}

impl Meta {
    /// A `Meta` without clock readings, for paths that will not show it.
    pub fn unstamped(conn: u64, peer: impl Into<Peer>) -> Meta {
        Meta {
            elapsed: Duration::ZERO,
            wall: SystemTime::UNIX_EPOCH,
            conn,
            peer: peer.into(),
        }
    }
}

/// One thing that happened on a connection.
#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    Open,
    Data {
        from: Side,
        bytes: &'a [u8],
    },
    /// `proxy --fault` did something to message `number` (from 1) that
    /// `from` sent: `kind` (drop, corrupt, duplicate, delay, reset, stall,
    /// modbus-exception), `detail` (which bit, how long; may be empty).
    Fault {
        from: Side,
        number: u64,
        kind: &'a str,
        detail: &'a str,
    },
    Close,
    Error(&'a str),
}

/// The session's start, on both clocks; it stamps every record.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    pub started: Instant,
    pub started_wall: SystemTime,
}

impl Clock {
    pub fn start() -> Clock {
        Clock {
            started: Instant::now(),
            started_wall: SystemTime::now(),
        }
    }

    /// Stamps for something happening now.
    pub fn now(&self, conn: u64, peer: impl Into<Peer>) -> Meta {
        Meta {
            elapsed: self.started.elapsed(),
            wall: SystemTime::now(),
            conn,
            peer: peer.into(),
        }
    }

    /// Stamps for something that happened at `at` (a reply shown once
    /// complete is stamped with when its bytes came in).
    pub fn at(&self, at: Instant, conn: u64, peer: impl Into<Peer>) -> Meta {
        let age = at.elapsed();
        Meta {
            elapsed: self.started.elapsed().saturating_sub(age),
            wall: SystemTime::now() - age,
            conn,
            peer: peer.into(),
        }
    }
}

/// The transport a session or flow used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Tcp,
    Udp,
    /// A Unix domain stream socket: a byte stream like TCP.
    Unix,
    /// A serial line: a byte stream with no connection to open or close.
    Serial,
}

impl Transport {
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Tcp => "tcp",
            Transport::Udp => "udp",
            Transport::Unix => "unix",
            Transport::Serial => "serial",
        }
    }
}

/// An output could not be written (a full disk, a closed pipe): which one
/// and why. Clients stop with it (exit 1); servers say it once, stop
/// writing that output and keep serving.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputError {
    /// What was being written, as the user named it: `capture FILE`,
    /// `--pcap FILE`, `stdout`.
    pub output: String,
    /// The reason, in words (the OS error).
    pub reason: String,
}

impl std::fmt::Display for OutputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "writing {}: {}", self.output, self.reason)
    }
}

impl std::error::Error for OutputError {}

/// Anything that watches traffic: stdout records, the capture file, the
/// pcapng file, and whatever comes next. Observers are fed in order, from
/// one task per connection; they decide themselves what to keep. A failed
/// write is an error, never silently dropped.
pub trait Observer {
    /// A connection (or the server's socket) is up: its transport and our
    /// local address. A capture writes its header from the first one.
    fn start(&mut self, _transport: Transport, _local: Peer) -> Result<(), OutputError> {
        Ok(())
    }

    /// One event.
    fn record(&mut self, meta: &Meta, event: Event<'_>) -> Result<(), OutputError>;
}

/// Turns events into the bytes of one output (stdout records, capture
/// lines), appending to a buffer; where the bytes go is the observer's
/// business (`output::Observed`, in the shell).
pub trait Render {
    /// See [`Observer::start`].
    fn start(&mut self, _out: &mut Vec<u8>, _transport: Transport, _local: Peer) {}

    fn render(&mut self, out: &mut Vec<u8>, meta: &Meta, event: Event<'_>);
}

/// An observer that may be absent (`-q`, no `--capture`).
impl<O: Observer> Observer for Option<O> {
    fn start(&mut self, transport: Transport, local: Peer) -> Result<(), OutputError> {
        match self {
            Some(o) => o.start(transport, local),
            None => Ok(()),
        }
    }

    fn record(&mut self, meta: &Meta, event: Event<'_>) -> Result<(), OutputError> {
        match self {
            Some(o) => o.record(meta, event),
            None => Ok(()),
        }
    }
}

impl<O: Observer + ?Sized> Observer for Box<O> {
    fn start(&mut self, transport: Transport, local: Peer) -> Result<(), OutputError> {
        (**self).start(transport, local)
    }

    fn record(&mut self, meta: &Meta, event: Event<'_>) -> Result<(), OutputError> {
        (**self).record(meta, event)
    }
}

/// One connection's recording, the same for every subcommand: it stamps
/// each event with the session's clock, the connection's number and its
/// peer, and hands it to the outputs (stdout records, capture, pcapng:
/// `output::Outputs`). Subcommands say what happened (opened, data from a
/// side, closed, an error); the recorder says when and on which connection.
#[derive(Debug)]
pub struct Recorder<O> {
    pub clock: Clock,
    /// The connection number shown as `#N` and in the capture's `conn`.
    pub conn: u64,
    pub peer: Peer,
    pub outputs: O,
}

impl<O: Observer> Recorder<O> {
    pub fn new(clock: Clock, conn: u64, peer: Peer, outputs: O) -> Recorder<O> {
        Recorder {
            clock,
            conn,
            peer,
            outputs,
        }
    }

    /// A connection is up: remember its peer, start the outputs (a
    /// capture's header, a pcapng interface) and record `open`.
    pub fn opened(
        &mut self,
        transport: Transport,
        local: Peer,
        peer: Peer,
    ) -> Result<(), OutputError> {
        self.peer = peer;
        self.outputs.start(transport, local)?;
        self.event(Event::Open)
    }

    /// Stamps for something happening now on this connection.
    pub fn meta(&self) -> Meta {
        self.clock.now(self.conn, self.peer)
    }

    /// Something happening now.
    pub fn event(&mut self, event: Event<'_>) -> Result<(), OutputError> {
        let meta = self.clock.now(self.conn, self.peer);
        self.outputs.record(&meta, event)
    }

    /// Bytes `from` one side, now.
    pub fn data(&mut self, from: Side, bytes: &[u8]) -> Result<(), OutputError> {
        self.event(Event::Data { from, bytes })
    }

    /// Bytes that arrived at `at` (a reply shown once complete is stamped
    /// with when its bytes came in).
    pub fn data_at(&mut self, from: Side, bytes: &[u8], at: Instant) -> Result<(), OutputError> {
        let meta = self.clock.at(at, self.conn, self.peer);
        self.outputs.record(&meta, Event::Data { from, bytes })
    }

    pub fn error(&mut self, reason: &str) -> Result<(), OutputError> {
        self.event(Event::Error(reason))
    }

    pub fn closed(&mut self) -> Result<(), OutputError> {
        self.event(Event::Close)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_see_directions_consistently() {
        for role in [Role::Client, Role::Server, Role::Proxy] {
            for from in [Side::Client, Side::Server] {
                assert_eq!(role.sender(role.direction(from)), from);
            }
        }
        assert_eq!(
            Role::Proxy.direction(Side::Client).as_str(),
            "client>server"
        );
        assert_eq!(
            Role::Proxy.direction(Side::Server).as_str(),
            "server>client"
        );
        assert_eq!(Role::Server.direction(Side::Client), Direction::Recv);
        assert_eq!(Role::Client.direction(Side::Client), Direction::Sent);
    }

    /// Keeps what it saw, as text; fails after `fail_after` events.
    #[derive(Default)]
    struct Log {
        seen: Vec<String>,
        fail_after: Option<usize>,
    }

    impl Observer for Log {
        fn start(&mut self, transport: Transport, local: Peer) -> Result<(), OutputError> {
            self.seen
                .push(format!("start {} {local}", transport.as_str()));
            Ok(())
        }
        fn record(&mut self, meta: &Meta, event: Event<'_>) -> Result<(), OutputError> {
            if self.fail_after.is_some_and(|n| self.seen.len() >= n) {
                return Err(OutputError {
                    output: "capture c.jsonl".into(),
                    reason: "No space left on device".into(),
                });
            }
            self.seen
                .push(format!("#{} {} {event:?}", meta.conn, meta.peer));
            Ok(())
        }
    }

    #[test]
    fn a_recorder_stamps_its_connection_and_peer_and_starts_the_outputs() {
        let local: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let peer: SocketAddr = "127.0.0.1:2".parse().unwrap();
        let mut recorder = Recorder::new(Clock::start(), 3, Peer::Ip(local), Log::default());
        recorder
            .opened(Transport::Udp, local.into(), peer.into())
            .unwrap();
        recorder.data(Side::Server, b"x").unwrap();
        recorder.closed().unwrap();
        assert_eq!(
            recorder.outputs.seen,
            [
                "start udp 127.0.0.1:1",
                "#3 127.0.0.1:2 Open",
                "#3 127.0.0.1:2 Data { from: Server, bytes: [120] }",
                "#3 127.0.0.1:2 Close",
            ]
        );
        let mut absent: Recorder<Option<Log>> =
            Recorder::new(Clock::start(), 1, Peer::Ip(peer), None);
        assert!(absent.data(Side::Client, b"y").is_ok());
    }

    #[test]
    fn a_failed_write_reaches_the_caller_with_the_output_named() {
        let peer: SocketAddr = "127.0.0.1:2".parse().unwrap();
        let log = Log {
            fail_after: Some(1),
            ..Log::default()
        };
        let mut recorder = Recorder::new(Clock::start(), 1, Peer::Ip(peer), log);
        recorder.data(Side::Client, b"a").unwrap();
        let err = recorder.data(Side::Client, b"b").unwrap_err();
        assert_eq!(
            err.to_string(),
            "writing capture c.jsonl: No space left on device"
        );
    }

    #[test]
    fn stamps_for_the_past_are_earlier() {
        let clock = Clock::start();
        let peer: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let then = Instant::now();
        std::thread::sleep(Duration::from_millis(5));
        let past = clock.at(then, 1, peer);
        let now = clock.now(1, peer);
        assert!(past.elapsed < now.elapsed);
        assert!(past.wall < now.wall);
    }
}
