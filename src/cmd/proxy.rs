//! `p1ge0n proxy`: sit between a client and a server (an HMI and a PLC),
//! forward both ways, show and record every message.
//!
//! A server subcommand (`server.rs` does the accepting, limits, counters,
//! signals and observers) whose handler connects each client to TARGET and
//! relays bytes the moment they arrive, one bounded buffer per direction, so
//! a slow reader slows the writer on the other side. `--frame` only splits
//! each direction into messages for display and capture: forwarding never
//! waits for a frame. Half-closes pass through; a reset on one side resets
//! the other. `--share` puts every client on ONE upstream connection, one
//! framed message at a time (`share.rs`); `-u` gives each UDP client its
//! own upstream socket (`udp.rs`).

mod share;
mod udp;

use std::{
    sync::{
        atomic::{AtomicU64, Ordering::Relaxed},
        Arc, OnceLock,
    },
    time::Duration,
};

use anyhow::Result;
use bytes::BytesMut;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::UdpSocket,
    sync::Mutex,
};

use super::{
    inputs,
    server::{self, plural, ConnObserver, Handler, Options, Server},
};
use crate::{
    cli::ProxyArgs,
    exit::{self, ExitCode},
    frame::{Decoder, FrameSpec},
    net::{self, ConnectOptions, ReadHalf, Stream, Target, WriteHalf},
    record::{Event, Observer, Peer, Role, Side},
};

/// How much one direction reads before it must be written on: the bound on
/// what the proxy holds per direction.
const RELAY_BUFFER: usize = 64 * 1024;

/// proxy's own configuration.
pub struct Proxy {
    target: Target,
    connect: ConnectOptions,
    frame: FrameSpec,
    max_frame: usize,
    /// `--share`: how long a reply may take.
    reply_timeout: Option<Duration>,
    share: bool,
    /// The one upstream connection's queue (`--share`), started with the
    /// first client.
    shared: OnceLock<share::Queue>,
}

pub fn run(args: ProxyArgs) -> Result<ExitCode> {
    inputs::check_framing(&args.frame)?;
    if args.share && inputs::framing(&args.frame, args.output.decode).is_none() {
        return Err(exit::usage(
            "--share needs --frame: replies are matched to clients message by message, \
             so both directions must be split into messages",
        ));
    }
    let proxy = Proxy {
        target: args.target,
        connect: args.connect.options(None)?,
        frame: inputs::framing(&args.frame, args.output.decode).unwrap_or_default(),
        max_frame: args.frame.max_frame.0,
        reply_timeout: args.timeout.bound(),
        share: args.share,
        shared: OnceLock::new(),
    };
    let mut options = Options::new(
        args.addr,
        args.udp,
        Role::Proxy,
        args.serve,
        &args.connect.keepalive,
        args.output,
        args.capture,
    );
    options.tls = args.tls_server.server()?;
    server::run(options, proxy)
}

impl Handler for Proxy {
    async fn stream(server: Arc<Server<Self>>, stream: Stream, peer: Peer, id: u64) {
        eprintln!("#{id} {peer} connected");
        if server.handler.share {
            share::serve_client(&server, stream, peer, id).await;
        } else {
            relay_client(&server, stream, peer, id).await;
        }
    }

    async fn udp(server: Arc<Server<Self>>, socket: UdpSocket) -> Result<ExitCode> {
        udp::serve(server, socket).await
    }
}

/// One proxied connection: what both directions share.
struct Relay<'a> {
    server: &'a Server<Proxy>,
    id: u64,
    peer: Peer,
    observer: Mutex<ConnObserver>,
    /// Bytes forwarded client>server and server>client.
    up: AtomicU64,
    down: AtomicU64,
}

/// How one direction ended.
#[derive(Debug)]
enum Flow {
    /// The sender closed its side (or the other direction failed and shut
    /// this one down); the close was passed on.
    Closed,
    /// This direction failed (reset, write error, framing); the reason.
    Failed(String),
}

impl Relay<'_> {
    /// Record what `from` sent in one read: each complete message (by
    /// `--frame`; raw: the read) as one record, counted for `--count`.
    async fn record(
        &self,
        decoder: &mut Option<Decoder>,
        from: Side,
        bytes: &[u8],
        eof: bool,
    ) -> Result<(), String> {
        let Some(decoder) = decoder else {
            return Ok(());
        };
        decoder.push(bytes);
        let mut observer = self.observer.lock().await;
        let meta = self.server.meta(self.id, self.peer);
        loop {
            let message = match decoder.next_frame() {
                Ok(Some(frame)) => frame,
                Ok(None) if eof => match decoder.finish() {
                    Some(rest) => rest,
                    None => break,
                },
                Ok(None) => break,
                Err(e) => return Err(format!("{} messages: {e}", from.as_str())),
            };
            let (admitted, last) = self.server.admit_message();
            if admitted {
                observer.record(
                    &meta,
                    Event::Data {
                        from,
                        bytes: &message,
                    },
                );
            }
            if last || !admitted {
                self.server.finish(ExitCode::Success);
            }
        }
        self.server.deliver(&mut observer).await;
        Ok(())
    }

    /// Forward everything `from` sends to `to`, recording it, until `from`
    /// closes (then close `to`'s sending side) or something fails (then
    /// reset `to`, so the other side learns it too).
    ///
    /// The buffer lives only while a read is being forwarded: an idle
    /// connection holds none, so memory follows the traffic in flight, not
    /// the number of connections.
    async fn pump(&self, mut from: ReadHalf, mut to: WriteHalf, side: Side) -> Flow {
        let mut decoder = self.server.observes_or_counts().then(|| {
            Decoder::new(
                self.server.handler.frame.clone(),
                self.server.handler.max_frame,
            )
        });
        let (counter, total) = match side {
            Side::Client => (&self.up, &self.server.stats.bytes_in),
            Side::Server => (&self.down, &self.server.stats.bytes_out),
        };
        let other = match side {
            Side::Client => "server",
            Side::Server => "client",
        };
        loop {
            if let Err(e) = from.readable().await {
                return reset(to, format!("{}: {}", side.as_str(), net::describe_io(&e)));
            }
            let mut buf = BytesMut::with_capacity(RELAY_BUFFER);
            // Readable now, so this read completes at once; unlike a
            // try_read, a short read tells tokio the socket is drained, which
            // saves the read that would only say "would block".
            let n = match from.read_buf(&mut buf).await {
                Ok(0) => {
                    if let Err(reason) = self.record(&mut decoder, side, &[], true).await {
                        return reset(to, reason);
                    }
                    // Everything before the FIN was written: pass it on.
                    let _ = to.shutdown().await;
                    return Flow::Closed;
                }
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(e) => return reset(to, format!("{}: {}", side.as_str(), net::describe_io(&e))),
            };
            if let Err(e) = to.send(&buf).await {
                return reset(to, format!("{other}: {}", net::describe_io(&e)));
            }
            counter.fetch_add(n as u64, Relaxed);
            total.fetch_add(n as u64, Relaxed);
            if let Err(reason) = self.record(&mut decoder, side, &buf, false).await {
                return reset(to, reason);
            }
        }
    }
}

/// One direction failed: reset the connection `to` belongs to, and wake
/// the other direction (which reads from it) with an end of stream.
fn reset(to: WriteHalf, reason: String) -> Flow {
    to.reset();
    Flow::Failed(reason)
}

/// Connect the client to TARGET and relay both ways until both sides have
/// closed, one side failed, or the connection sat idle for `--idle-timeout`.
async fn relay_client(server: &Server<Proxy>, client: Stream, peer: Peer, id: u64) {
    let proxy = &server.handler;
    let mut observer = server.observer();
    server
        .event(&mut observer, &server.meta(id, peer), Event::Open)
        .await;
    let upstream = match net::connect(&proxy.target, &proxy.connect).await {
        Ok(upstream) => upstream,
        Err(e) => {
            let reason = format!("upstream {}: {e:#}", proxy.target);
            eprintln!("#{id} {peer} {reason}; closing the client");
            server
                .event(&mut observer, &server.meta(id, peer), Event::Error(&reason))
                .await;
            return;
        }
    };
    let upstream_addr = upstream.peer();
    if let Ok(addr) = upstream_addr {
        eprintln!("#{id} {peer} connected to {addr}");
    }
    let relay = Relay {
        server,
        id,
        peer,
        observer: Mutex::new(observer),
        up: AtomicU64::new(0),
        down: AtomicU64::new(0),
    };
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = upstream.into_split();
    let both = async {
        tokio::join!(
            relay.pump(client_read, server_write, Side::Client),
            relay.pump(server_read, client_write, Side::Server),
        )
    };
    let ending = match server.options.idle_timeout {
        Some(limit) => tokio::select! {
            flows = both => Ending::Flows(flows.0, flows.1),
            _ = idle(&relay, limit) => Ending::Idle(limit),
        },
        None => {
            let flows = both.await;
            Ending::Flows(flows.0, flows.1)
        }
    };
    finish(&relay, ending).await;
}

/// How a relayed connection ended.
enum Ending {
    Flows(Flow, Flow),
    Idle(Duration),
}

/// Wait until no byte has moved either way on this connection for `limit`.
async fn idle(relay: &Relay<'_>, limit: Duration) {
    let moved = || relay.up.load(Relaxed) + relay.down.load(Relaxed);
    let mut last = moved();
    loop {
        tokio::time::sleep(limit).await;
        let now = moved();
        if now == last {
            return;
        }
        last = now;
    }
}

/// Log how the connection ended and record it.
async fn finish(relay: &Relay<'_>, ending: Ending) {
    let (id, peer, server) = (relay.id, relay.peer, relay.server);
    let (line, error) = match &ending {
        Ending::Idle(limit) => (
            format!("idle for {}, closing", humantime::format_duration(*limit)),
            None,
        ),
        Ending::Flows(Flow::Failed(reason), _) | Ending::Flows(_, Flow::Failed(reason)) => (
            format!("{reason}; reset the other side"),
            Some(reason.clone()),
        ),
        Ending::Flows(..) => ("closed".to_string(), None),
    };
    eprintln!(
        "#{id} {peer} {line} ({} client>server, {} server>client)",
        plural(relay.up.load(Relaxed), "byte"),
        plural(relay.down.load(Relaxed), "byte"),
    );
    let mut observer = relay.observer.lock().await;
    let meta = server.meta(id, peer);
    let event = match &error {
        Some(reason) => Event::Error(reason),
        None => Event::Close,
    };
    server.event(&mut observer, &meta, event).await;
}
