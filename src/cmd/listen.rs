//! `p1ge0n listen`: the echo server PLCs and robots connect to.
//!
//! The accept loop and the per-connection tasks are a thin shell around the
//! core: bytes go into a `frame::Decoder`, each frame is counted, recorded
//! through the shared observers (stdout records, `--capture`; batched per
//! read into `output::Sink`s) and answered (echo, `--reply` or nothing). Everything a client
//! can do wrong (garbage, oversized frames, resets, stalling) ends only that
//! client's task; the server itself stops only on `--once`, `--count` or a
//! signal.

use std::{
    net::SocketAddr,
    sync::{
        atomic::{AtomicU64, Ordering::Relaxed},
        Arc,
    },
    time::Duration,
};

use anyhow::Result;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpStream, UdpSocket},
    signal::unix::{signal, SignalKind},
    sync::watch,
};

use super::inputs;
use crate::{
    capture::CaptureLines,
    cli::ListenArgs,
    display::{Format, Records, Renderer},
    exit::ExitCode,
    frame::{Decoder, FrameSpec},
    net::{self, AccessList, ListenAddr},
    output::{Held, Observed, Sink},
    record::{Clock, Event, Meta, Observer, Role, Side, Tee, Transport},
};

/// What one connection task records into, delivered to the server's sinks
/// once per read.
type ConnObserver = Tee<Option<Observed<Records, Held>>, Option<Observed<CaptureLines, Held>>>;

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
        inputs::check_framing(&args.frame)?;
        let answer = match (&args.reply, args.no_echo) {
            (Some(text), _) => Answer::Reply(inputs::parse_payload_os(
                "--reply",
                text,
                inputs::mode(args.hex),
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
            format: args.output.format.unwrap_or(Format::Text),
            quiet: args.output.quiet,
            once: args.once,
            count: args.count,
            max_conns: args.max_conns,
            idle_timeout: args.idle_timeout.map(|d| d.0),
            access: AccessList {
                allow: args.allow,
                deny: args.deny,
            },
            capture: args.capture.capture,
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
    /// Stdout records (none with `-q`).
    records: Option<Records>,
    /// `--capture`: JSON Lines of every event, both directions, and the
    /// lines' renderer (its header already written).
    capture: Option<(Sink, CaptureLines)>,
    clock: Clock,
    /// Set once by whoever decides the server is done (`--once`, `--count`).
    stop: watch::Sender<Option<ExitCode>>,
}

impl Server {
    fn meta(&self, conn: u64, peer: SocketAddr) -> Meta {
        self.clock.now(conn, peer)
    }

    fn shows_records(&self) -> bool {
        self.records.is_some()
    }

    /// A fresh observer for one connection task.
    fn observer(&self) -> ConnObserver {
        Tee(
            self.records.map(|r| Observed::new(r, Held)),
            self.capture
                .as_ref()
                .map(|(_, lines)| Observed::new(lines.clone(), Held)),
        )
    }

    /// Hand what `observer` rendered to the stdout and capture sinks.
    async fn deliver(&self, observer: &mut ConnObserver) {
        if let Some(records) = &mut observer.0 {
            let batch = records.pending();
            if !batch.is_empty() {
                self.sink.write(batch).await;
                batch.clear();
            }
        }
        if let (Some(captured), Some((sink, _))) = (&mut observer.1, &self.capture) {
            let batch = captured.pending();
            if !batch.is_empty() {
                sink.write(batch).await;
                batch.clear();
            }
        }
    }

    /// One message and our answer to it; TCP and UDP record alike.
    fn record(&self, observer: &mut ConnObserver, meta: &Meta, message: &[u8], answered: &[u8]) {
        observer.record(
            meta,
            Event::Data {
                from: Side::Client,
                bytes: message,
            },
        );
        if !answered.is_empty() {
            observer.record(
                meta,
                Event::Data {
                    from: Side::Server,
                    bytes: answered,
                },
            );
        }
    }

    /// A connection event, recorded and delivered at once.
    async fn event(&self, observer: &mut ConnObserver, meta: &Meta, event: Event<'_>) {
        observer.record(meta, event);
        self.deliver(observer).await;
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
    let config = Config::new(args)?;
    net::raise_fd_limit();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let clock = Clock::start();
    let (capture, capture_writer) = match &config.capture {
        Some(path) => {
            let (sink, writer) = Sink::spawn_file(crate::output::create_capture(path)?);
            let lines = CaptureLines::new(Role::Server, &clock);
            (Some((sink, lines)), Some(writer))
        }
        None => (None, None),
    };
    let (sink, writer) = Sink::spawn();
    let (stop, stopped) = watch::channel(None);
    let records = (!config.quiet).then(|| Records {
        renderer: Renderer::new(config.format, crate::output::stdout_style(), Role::Server),
        ours: false,
        events: true,
    });
    let server = Arc::new(Server {
        config,
        stats: Stats::default(),
        sink,
        records,
        capture,
        clock,
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
    if let Some((sink, lines)) = &server.capture {
        let transport = if config.udp {
            Transport::Udp
        } else {
            Transport::Tcp
        };
        let mut header = Observed::new(lines.clone(), Held);
        header.start(transport, local);
        sink.write(header.pending()).await;
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

/// One connection's state between reads.
struct ConnTask {
    id: u64,
    peer: SocketAddr,
    decoder: Decoder,
    observer: ConnObserver,
    /// Answers to several messages of one read, gathered into one write.
    answer: Vec<u8>,
    messages: u64,
    bytes_in: u64,
    bytes_out: u64,
}

/// What the frames of one read came to.
struct Answered {
    /// The common case, one echoed message per read: written straight from
    /// the receive buffer (no copy). Otherwise the answer is in `answer`.
    echo_only: Option<bytes::Bytes>,
    count_reached: bool,
    frame_error: Option<String>,
}

impl ConnTask {
    /// Frame, count, record and answer what the last read brought; at end
    /// of stream an incomplete frame is still what the client sent, so it
    /// is answered too.
    fn answer_frames(&mut self, server: &Server, at_eof: bool) -> Answered {
        let config = &server.config;
        // Clock reads only when something will show them.
        let meta = if server.shows_records() || server.capture.is_some() {
            server.meta(self.id, self.peer)
        } else {
            Meta::unstamped(self.id, self.peer)
        };
        let mut done = Answered {
            echo_only: None,
            count_reached: false,
            frame_error: None,
        };
        let mut uncounted = 0u64;
        loop {
            let frame = match self.decoder.next_frame() {
                Ok(Some(frame)) => frame,
                Ok(None) if at_eof => match self.decoder.finish() {
                    Some(rest) => rest,
                    None => break,
                },
                Ok(None) => break,
                Err(e) => {
                    done.frame_error = Some(e.to_string());
                    break;
                }
            };
            // Without --count, messages are tallied once per read rather than
            // with a shared atomic per message.
            let last = if config.count.is_some() {
                let (admitted, last) = server.admit_message();
                if !admitted {
                    done.count_reached = true;
                    break;
                }
                last
            } else {
                uncounted += 1;
                false
            };
            self.messages += 1;
            let answered = config.answer.to(&frame);
            server.record(&mut self.observer, &meta, &frame, answered);
            if matches!(config.answer, Answer::Echo)
                && self.answer.is_empty()
                && done.echo_only.is_none()
            {
                done.echo_only = Some(frame);
            } else {
                if let Some(first) = done.echo_only.take() {
                    self.answer.extend_from_slice(&first);
                }
                self.answer.extend_from_slice(answered);
            }
            if last {
                done.count_reached = true;
                break;
            }
        }
        if uncounted > 0 {
            server.stats.messages.fetch_add(uncounted, Relaxed);
        }
        done
    }

    /// The connection's last log line.
    fn log_ending(&self, ending: &Ending) {
        let (id, peer) = (self.id, self.peer);
        if self.decoder.skipped() > 0 {
            eprintln!(
                "#{id} {peer} skipped {} bytes outside frames",
                self.decoder.skipped()
            );
        }
        let totals = format!(
            "{}, {} in, {} out",
            plural(self.messages, "message"),
            plural(self.bytes_in, "byte"),
            plural(self.bytes_out, "byte")
        );
        match ending {
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
    }
}

async fn serve_connection(server: &Server, stream: TcpStream, peer: SocketAddr, id: u64) {
    let _ = stream.set_nodelay(true);
    eprintln!("#{id} {peer} connected");
    let config = &server.config;
    let mut conn = ConnTask {
        id,
        peer,
        decoder: Decoder::new(config.frame.clone(), config.max_frame),
        observer: server.observer(),
        answer: Vec::new(),
        messages: 0,
        bytes_in: 0,
        bytes_out: 0,
    };
    server
        .event(&mut conn.observer, &server.meta(id, peer), Event::Open)
        .await;
    let (mut reader, mut writer) = stream.into_split();
    let ending = loop {
        let read = reader.read_buf(conn.decoder.buffer_mut());
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
                conn.bytes_in += n as u64;
                server.stats.bytes_in.fetch_add(n as u64, Relaxed);
                false
            }
            Err(e) => break Ending::Error(net::describe_io(&e)),
        };
        let done = conn.answer_frames(server, at_eof);
        server.deliver(&mut conn.observer).await;
        let out: &[u8] = match &done.echo_only {
            Some(frame) => frame,
            None => &conn.answer,
        };
        if !out.is_empty() {
            if let Err(e) = writer.write_all(out).await {
                break Ending::Error(net::describe_io(&e));
            }
            conn.bytes_out += out.len() as u64;
            server.stats.bytes_out.fetch_add(out.len() as u64, Relaxed);
        }
        conn.answer.clear();
        if let Some(reason) = done.frame_error {
            break Ending::Error(reason);
        }
        if done.count_reached {
            break Ending::CountReached;
        }
        if at_eof {
            // Half-close handled: everything received has been answered;
            // now close our side too.
            let _ = writer.shutdown().await;
            break Ending::PeerClosed;
        }
    };
    conn.log_ending(&ending);
    let event = match &ending {
        Ending::Error(reason) => Event::Error(reason),
        _ => Event::Close,
    };
    server
        .event(&mut conn.observer, &server.meta(id, peer), event)
        .await;
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
    let mut observer = server.observer();
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
        server.record(&mut observer, &meta, data, answer);
        server.deliver(&mut observer).await;
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
