//! `p1ge0n listen`: the echo server PLCs and robots connect to.
//!
//! The accept loop and the per-connection tasks are a thin shell around the
//! core: bytes go into a `frame::Decoder`, each frame is counted, formatted by
//! `display` and answered (echo, `--reply` or nothing). Everything a client
//! can do wrong (garbage, oversized frames, resets, stalling) ends only that
//! client's task; the server itself stops only on `--once`, `--count` or a
//! signal.

use std::{
    net::SocketAddr,
    sync::{
        atomic::{AtomicU64, Ordering::Relaxed},
        Arc,
    },
    time::{Duration, Instant, SystemTime},
};

use anyhow::Result;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpStream, UdpSocket},
    signal::unix::{signal, SignalKind},
    sync::watch,
};

use crate::{
    capture::{self, Transport},
    cli::ListenArgs,
    display::{self, Direction, Event, Format, Meta, Side},
    exit::ExitCode,
    frame::{Decoder, FrameSpec},
    net::{self, AccessList, ListenAddr},
    output::Sink,
};

/// What the server answers to each message.
#[derive(Debug, Clone)]
enum Answer {
    Echo,
    Reply(Vec<u8>),
    Nothing,
}

impl Answer {
    /// What to send back for one message.
    fn to<'a>(&'a self, message: &'a [u8]) -> &'a [u8] {
        match self {
            Answer::Echo => message,
            Answer::Reply(reply) => reply,
            Answer::Nothing => &[],
        }
    }
}

/// Everything a connection task needs, parsed and validated up front.
struct Config {
    addr: ListenAddr,
    udp: bool,
    answer: Answer,
    frame: FrameSpec,
    max_frame: usize,
    format: Format,
    quiet: bool,
    once: bool,
    count: Option<u64>,
    max_conns: Option<u64>,
    idle_timeout: Option<Duration>,
    access: AccessList,
    capture: Option<std::path::PathBuf>,
}

impl Config {
    fn new(args: ListenArgs) -> Result<Config> {
        let answer = match (&args.reply, args.no_echo) {
            (Some(text), _) => Answer::Reply(super::parse_payload_os(
                "--reply",
                text,
                super::mode(args.hex),
            )?),
            (None, true) => Answer::Nothing,
            (None, false) => Answer::Echo,
        };
        Ok(Config {
            addr: args.addr,
            udp: args.udp,
            answer,
            frame: args.frame.frame.unwrap_or_default(),
            max_frame: args.frame.max_frame.0,
            format: args.format,
            quiet: args.quiet,
            once: args.once,
            count: args.count,
            max_conns: args.max_conns,
            idle_timeout: args.idle_timeout.map(|d| d.0),
            access: AccessList {
                allow: args.allow,
                deny: args.deny,
            },
            capture: args.capture,
        })
    }
}

/// Server-wide counters for the summary line and for `--count`.
#[derive(Default)]
struct Stats {
    connections: AtomicU64,
    refused: AtomicU64,
    active: AtomicU64,
    messages: AtomicU64,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
}

/// Shared by the accept loop and every connection task.
struct Server {
    config: Config,
    stats: Stats,
    sink: Sink,
    /// Colour for stdout records (a terminal without NO_COLOR).
    style: display::Style,
    /// `--capture`: JSON Lines of every event, both directions.
    capture: Option<Sink>,
    started: Instant,
    started_wall: SystemTime,
    /// Set once by whoever decides the server is done (`--once`, `--count`).
    stop: watch::Sender<Option<ExitCode>>,
}

impl Server {
    fn meta(&self, conn: u64, peer: SocketAddr) -> Meta {
        Meta {
            elapsed: self.started.elapsed(),
            wall: SystemTime::now(),
            conn,
            peer,
        }
    }

    fn shows_records(&self) -> bool {
        !self.config.quiet
    }

    /// Format one message (and our answer) for stdout and the capture, into
    /// the caller's buffers; TCP and UDP record alike.
    fn record(
        &self,
        meta: &Meta,
        message: &[u8],
        answered: &[u8],
        records: &mut Vec<u8>,
        captured: &mut Vec<u8>,
    ) {
        if self.shows_records() {
            display::write_data_styled(
                records,
                self.config.format,
                self.style,
                meta,
                Side::Client,
                Direction::Recv,
                message,
            );
        }
        if self.capture.is_some() {
            display::write_data(
                captured,
                Format::Json,
                meta,
                Side::Client,
                Direction::Recv,
                message,
            );
            if !answered.is_empty() {
                display::write_data(
                    captured,
                    Format::Json,
                    meta,
                    Side::Server,
                    Direction::Sent,
                    answered,
                );
            }
        }
    }

    /// JSON output carries connection events too, so a `-f json` log is a
    /// complete capture of what happened.
    async fn event(&self, conn: u64, peer: SocketAddr, event: Event<'_>) {
        let meta = self.meta(conn, peer);
        if self.shows_records() && self.config.format == Format::Json {
            let mut buf = Vec::with_capacity(128);
            display::write_event_json(&mut buf, &meta, event);
            self.sink.write(&buf).await;
        }
        // The capture file always carries connection events.
        if let Some(capture) = &self.capture {
            let mut buf = Vec::with_capacity(128);
            display::write_event_json(&mut buf, &meta, event);
            capture.write(&buf).await;
        }
    }

    /// Count one message; false when `--count` is already reached and the
    /// message must be ignored.
    fn admit_message(&self) -> (bool, bool) {
        let n = self.stats.messages.fetch_add(1, Relaxed) + 1;
        match self.config.count {
            Some(limit) if n > limit => (false, false),
            Some(limit) => (true, n == limit),
            None => (true, false),
        }
    }

    fn finish(&self, code: ExitCode) {
        self.stop.send_if_modified(|current| {
            if current.is_none() {
                *current = Some(code);
                true
            } else {
                false
            }
        });
    }
}

pub fn run(args: ListenArgs) -> Result<ExitCode> {
    super::check_framing(&args.frame)?;
    let config = Config::new(args)?;
    net::raise_fd_limit();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let (capture, capture_writer) = match &config.capture {
        Some(path) => {
            let (sink, writer) = Sink::spawn_file(crate::output::create_capture(path)?);
            (Some(sink), Some(writer))
        }
        None => (None, None),
    };
    let (sink, writer) = Sink::spawn();
    let (stop, stopped) = watch::channel(None);
    let server = Arc::new(Server {
        config,
        stats: Stats::default(),
        sink,
        style: crate::output::stdout_style(),
        capture,
        started: Instant::now(),
        started_wall: SystemTime::now(),
        stop,
    });
    let outcome = runtime.block_on(serve(server.clone(), stopped));
    // Connection tasks may be mid-write; stop them, then flush what they queued.
    runtime.shutdown_timeout(Duration::from_millis(100));
    writer.finish();
    if let Some(writer) = capture_writer {
        writer.finish();
    }
    let code = outcome?;
    let stats = &server.stats;
    let messages = stats
        .messages
        .load(Relaxed)
        .min(server.config.count.unwrap_or(u64::MAX));
    eprintln!(
        "summary: {}, {}, {} received, {} sent, {} refused",
        plural(stats.connections.load(Relaxed), "connection"),
        plural(messages, "message"),
        plural(stats.bytes_in.load(Relaxed), "byte"),
        plural(stats.bytes_out.load(Relaxed), "byte"),
        stats.refused.load(Relaxed),
    );
    Ok(code)
}

async fn serve(
    server: Arc<Server>,
    mut stopped: watch::Receiver<Option<ExitCode>>,
) -> Result<ExitCode> {
    let mut sigint = signal(SignalKind::interrupt())?;
    let mut sigterm = signal(SignalKind::terminate())?;
    let config = &server.config;
    let transport = if config.udp { "udp" } else { "tcp" };
    let (listener, udp) = if config.udp {
        (None, Some(net::bind_udp(&config.addr).await?))
    } else {
        (Some(net::bind_tcp(&config.addr).await?), None)
    };
    let local = match (&listener, &udp) {
        (Some(l), _) => l.local_addr()?,
        (_, Some(u)) => u.local_addr()?,
        _ => unreachable!("one of the two sockets is bound"),
    };
    // Scripts read this line for the port: it is always the first on stderr.
    eprintln!("listening on {local} ({transport})");
    if let Some(capture) = &server.capture {
        let mut header = Vec::new();
        capture::write_header(
            &mut header,
            &capture::Header {
                started: server.started_wall,
                transport: if config.udp {
                    Transport::Udp
                } else {
                    Transport::Tcp
                },
                local,
                side: Side::Server,
            },
        );
        capture.write(&header).await;
    }
    if local.ip().is_unspecified() && config.access.allow.is_empty() {
        eprintln!(
            "warning: listening on all interfaces without --allow: any host that can reach this machine may connect"
        );
    }

    let work = async {
        match (listener, udp) {
            (Some(listener), _) => accept_loop(&server, listener).await,
            (_, Some(socket)) => udp_loop(&server, socket).await,
            _ => unreachable!(),
        }
    };
    tokio::select! {
        result = work => result,
        code = stopped.wait_for(|code| code.is_some()) => Ok(code.ok().and_then(|c| *c).unwrap_or(ExitCode::Success)),
        _ = sigint.recv() => Ok(ExitCode::Interrupted),
        _ = sigterm.recv() => Ok(ExitCode::Terminated),
    }
}

async fn accept_loop(server: &Arc<Server>, listener: tokio::net::TcpListener) -> Result<ExitCode> {
    let mut next_id = 0u64;
    let mut failing = false;
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => {
                if failing {
                    eprintln!("accepting again");
                    failing = false;
                }
                accepted
            }
            Err(e) => {
                // Out of descriptors (or a client that reset before we
                // accepted): say so once, back off briefly so we never spin,
                // and keep serving; the connection waits in the backlog.
                if !failing {
                    eprintln!(
                        "accept failed: {}; retrying every 50ms",
                        net::describe_io(&e)
                    );
                    failing = true;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let peer = net::canonical(peer);
        if let Err(why) = server.config.access.check(peer.ip()) {
            // Closed before a single byte is read or written.
            eprintln!("refused {peer}: {why}");
            server.stats.refused.fetch_add(1, Relaxed);
            drop(stream);
            continue;
        }
        if let Some(max) = server.config.max_conns {
            if server.stats.active.load(Relaxed) >= max {
                eprintln!("refused {peer}: --max-conns {max} reached");
                server.stats.refused.fetch_add(1, Relaxed);
                drop(stream);
                continue;
            }
        }
        next_id += 1;
        server.stats.connections.fetch_add(1, Relaxed);
        server.stats.active.fetch_add(1, Relaxed);
        let server = server.clone();
        tokio::spawn(async move {
            serve_connection(&server, stream, peer, next_id).await;
            server.stats.active.fetch_sub(1, Relaxed);
            if server.config.once {
                server.finish(ExitCode::Success);
            }
        });
    }
}

/// How a connection ended, for the log line.
enum Ending {
    PeerClosed,
    Idle(Duration),
    Error(String),
    CountReached,
}

async fn serve_connection(server: &Server, stream: TcpStream, peer: SocketAddr, id: u64) {
    let _ = stream.set_nodelay(true);
    eprintln!("#{id} {peer} connected");
    server.event(id, peer, Event::Open).await;
    let (mut reader, mut writer) = stream.into_split();
    let config = &server.config;
    let mut decoder = Decoder::new(config.frame.clone(), config.max_frame);
    let mut records = Vec::new();
    let mut captured = Vec::new();
    let mut answer = Vec::new();
    let (mut messages, mut bytes_in, mut bytes_out) = (0u64, 0u64, 0u64);

    let ending = loop {
        let read = reader.read_buf(decoder.buffer_mut());
        let read = match config.idle_timeout {
            Some(limit) => match tokio::time::timeout(limit, read).await {
                Ok(result) => result,
                Err(_) => break Ending::Idle(limit),
            },
            None => read.await,
        };
        let at_eof = match read {
            Ok(0) => true,
            Ok(n) => {
                bytes_in += n as u64;
                server.stats.bytes_in.fetch_add(n as u64, Relaxed);
                false
            }
            Err(e) => break Ending::Error(net::describe_io(&e)),
        };

        // Clock reads only when something will show them.
        let meta = if server.shows_records() || server.capture.is_some() {
            server.meta(id, peer)
        } else {
            Meta::unstamped(id, peer)
        };
        let mut count_reached = false;
        let mut frame_error = None;
        let mut uncounted = 0u64;
        let mut echo_only: Option<bytes::Bytes> = None;
        loop {
            let frame = match decoder.next_frame() {
                Ok(Some(frame)) => frame,
                // At end of stream an incomplete frame is still what the
                // client sent: finish echoing it before closing.
                Ok(None) if at_eof => match decoder.finish() {
                    Some(rest) => rest,
                    None => break,
                },
                Ok(None) => break,
                Err(e) => {
                    frame_error = Some(e.to_string());
                    break;
                }
            };
            // Without --count, messages are tallied once per read rather than
            // with a shared atomic per message.
            let last = if server.config.count.is_some() {
                let (admitted, last) = server.admit_message();
                if !admitted {
                    count_reached = true;
                    break;
                }
                last
            } else {
                uncounted += 1;
                false
            };
            messages += 1;
            let answered = config.answer.to(&frame);
            server.record(&meta, &frame, answered, &mut records, &mut captured);
            // The common echo case, one message per read, is written
            // straight from the receive buffer; only several answers in one
            // read are gathered (and copied) into one write.
            if matches!(config.answer, Answer::Echo) && answer.is_empty() && echo_only.is_none() {
                echo_only = Some(frame);
            } else {
                if let Some(first) = echo_only.take() {
                    answer.extend_from_slice(&first);
                }
                answer.extend_from_slice(answered);
            }
            if last {
                count_reached = true;
                break;
            }
        }
        if uncounted > 0 {
            server.stats.messages.fetch_add(uncounted, Relaxed);
        }
        if !records.is_empty() {
            server.sink.write(&records).await;
            records.clear();
        }
        if let Some(capture) = &server.capture {
            if !captured.is_empty() {
                capture.write(&captured).await;
                captured.clear();
            }
        }
        let out: &[u8] = match &echo_only {
            Some(frame) => frame,
            None => &answer,
        };
        if !out.is_empty() {
            if let Err(e) = writer.write_all(out).await {
                break Ending::Error(net::describe_io(&e));
            }
            bytes_out += out.len() as u64;
            server.stats.bytes_out.fetch_add(out.len() as u64, Relaxed);
        }
        answer.clear();
        if let Some(reason) = frame_error {
            break Ending::Error(reason);
        }
        if count_reached {
            break Ending::CountReached;
        }
        if at_eof {
            // Half-close handled: everything received has been answered;
            // now close our side too.
            let _ = writer.shutdown().await;
            break Ending::PeerClosed;
        }
    };

    if decoder.skipped() > 0 {
        eprintln!(
            "#{id} {peer} skipped {} bytes outside frames",
            decoder.skipped()
        );
    }
    let totals = format!(
        "{}, {} in, {} out",
        plural(messages, "message"),
        plural(bytes_in, "byte"),
        plural(bytes_out, "byte")
    );
    match &ending {
        Ending::PeerClosed => eprintln!("#{id} {peer} closed by peer ({totals})"),
        Ending::Idle(limit) => eprintln!(
            "#{id} {peer} idle for {}, closing ({totals})",
            humantime::format_duration(*limit)
        ),
        Ending::Error(reason) => {
            eprintln!("#{id} {peer} error: {reason}; connection closed ({totals})")
        }
        Ending::CountReached => eprintln!("#{id} {peer} --count reached, closing ({totals})"),
    }
    match &ending {
        Ending::Error(reason) => server.event(id, peer, Event::Error(reason)).await,
        _ => server.event(id, peer, Event::Close).await,
    }
    if matches!(ending, Ending::CountReached) {
        let _ = writer.shutdown().await;
        server.finish(ExitCode::Success);
    }
}

/// UDP: each datagram is one message, answered to its sender. Peers get a
/// connection number the first time they are seen, so records read the same
/// as for TCP.
async fn udp_loop(server: &Arc<Server>, socket: UdpSocket) -> Result<ExitCode> {
    const MAX_PEERS: usize = 65_536;
    let config = &server.config;
    let mut peers: std::collections::HashMap<SocketAddr, u64> = Default::default();
    let mut next_id = 0u64;
    let mut buf = vec![0u8; 65_536];
    let mut records = Vec::new();
    let mut captured = Vec::new();
    loop {
        let (n, peer) = match socket.recv_from(&mut buf).await {
            Ok(received) => received,
            Err(e) => {
                // ICMP errors from earlier answers surface here; they are
                // about one peer, never a reason to stop serving.
                eprintln!("receive error: {}", net::describe_io(&e));
                continue;
            }
        };
        let peer = net::canonical(peer);
        if let Err(why) = config.access.check(peer.ip()) {
            eprintln!("refused datagram from {peer}: {why}");
            server.stats.refused.fetch_add(1, Relaxed);
            continue;
        }
        if peers.len() >= MAX_PEERS && !peers.contains_key(&peer) {
            peers.clear();
        }
        let id = *peers.entry(peer).or_insert_with(|| {
            next_id += 1;
            server.stats.connections.fetch_add(1, Relaxed);
            eprintln!("#{next_id} {peer} first datagram");
            next_id
        });
        let data = &buf[..n];
        server.stats.bytes_in.fetch_add(n as u64, Relaxed);
        let (admitted, last) = server.admit_message();
        if !admitted {
            return Ok(ExitCode::Success);
        }
        let meta = server.meta(id, peer);
        let answer = config.answer.to(data);
        server.record(&meta, data, answer, &mut records, &mut captured);
        server.sink.write(&records).await;
        records.clear();
        if let Some(capture) = &server.capture {
            capture.write(&captured).await;
            captured.clear();
        }
        if !matches!(config.answer, Answer::Nothing) {
            match socket.send_to(answer, peer).await {
                Ok(sent) => {
                    server.stats.bytes_out.fetch_add(sent as u64, Relaxed);
                }
                Err(e) => eprintln!("#{id} {peer} send error: {}", net::describe_io(&e)),
            }
        }
        if last {
            return Ok(ExitCode::Success);
        }
    }
}

/// "1 message", "2 messages".
fn plural(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}
