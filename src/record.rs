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
}

impl Peer {
    /// The IP endpoint, for what only IP can carry (pcapng, `--allow`).
    pub fn ip(self) -> Option<SocketAddr> {
        match self {
            Peer::Ip(addr) => Some(addr),
            Peer::Unix(_) => None,
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
        match s.strip_prefix("unix:") {
            Some(path) => Ok(Peer::Unix(intern_path(path))),
            None => s.parse().map(Peer::Ip),
        }
    }
}

impl std::fmt::Display for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Peer::Ip(addr) => addr.fmt(f),
            Peer::Unix(path) => write!(f, "unix:{path}"),
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
    Data { from: Side, bytes: &'a [u8] },
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
}

impl Transport {
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Tcp => "tcp",
            Transport::Udp => "udp",
            Transport::Unix => "unix",
        }
    }
}

/// Anything that watches traffic: stdout records, the capture file, and
/// whatever comes next. Observers are fed in order, from one task per
/// connection; they decide themselves what to keep.
pub trait Observer {
    /// A connection (or the server's socket) is up: its transport and our
    /// local address. A capture writes its header from the first one.
    fn start(&mut self, _transport: Transport, _local: Peer) {}

    /// One event.
    fn record(&mut self, meta: &Meta, event: Event<'_>);
}

/// Turns events into the bytes of one output (stdout records, capture
/// lines), appending to a buffer; where the bytes go is the observer's
/// business ([`crate::output::Observed`]).
pub trait Render {
    /// See [`Observer::start`].
    fn start(&mut self, _out: &mut Vec<u8>, _transport: Transport, _local: Peer) {}

    fn render(&mut self, out: &mut Vec<u8>, meta: &Meta, event: Event<'_>);
}

/// Two observers fed the same events, in order.
pub struct Tee<A, B>(pub A, pub B);

impl<A: Observer, B: Observer> Observer for Tee<A, B> {
    fn start(&mut self, transport: Transport, local: Peer) {
        self.0.start(transport, local);
        self.1.start(transport, local);
    }

    fn record(&mut self, meta: &Meta, event: Event<'_>) {
        self.0.record(meta, event);
        self.1.record(meta, event);
    }
}

/// An observer that may be absent (`-q`, no `--capture`).
impl<O: Observer> Observer for Option<O> {
    fn start(&mut self, transport: Transport, local: Peer) {
        if let Some(o) = self {
            o.start(transport, local);
        }
    }

    fn record(&mut self, meta: &Meta, event: Event<'_>) {
        if let Some(o) = self {
            o.record(meta, event);
        }
    }
}

impl<O: Observer + ?Sized> Observer for Box<O> {
    fn start(&mut self, transport: Transport, local: Peer) {
        (**self).start(transport, local);
    }

    fn record(&mut self, meta: &Meta, event: Event<'_>) {
        (**self).record(meta, event);
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

    /// Keeps what it saw, as text.
    #[derive(Default)]
    struct Log(Vec<String>);

    impl Observer for Log {
        fn start(&mut self, transport: Transport, local: Peer) {
            self.0.push(format!("start {} {local}", transport.as_str()));
        }
        fn record(&mut self, meta: &Meta, event: Event<'_>) {
            self.0.push(format!("#{} {event:?}", meta.conn));
        }
    }

    #[test]
    fn a_tee_feeds_both_in_order_and_none_feeds_nothing() {
        let peer: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let mut tee = Tee(Log::default(), Some(Log::default()));
        let mut absent: Option<Log> = None;
        for o in [&mut tee as &mut dyn Observer, &mut absent] {
            o.start(Transport::Udp, peer.into());
            o.record(&Meta::unstamped(3, peer), Event::Open);
            o.record(
                &Meta::unstamped(3, peer),
                Event::Data {
                    from: Side::Server,
                    bytes: b"x",
                },
            );
        }
        assert_eq!(tee.0 .0, tee.1.as_ref().unwrap().0);
        assert_eq!(tee.0 .0.len(), 3);
        assert!(tee.0 .0[0].starts_with("start udp"));
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
