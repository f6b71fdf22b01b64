//! What every server subcommand (`listen`, `proxy`, `replay --serve`) shares: binding, the
//! `listening on` line, `--allow`/`--deny`, `--max-conns`, `--once`,
//! `--count`, the counters and the summary, SIGINT/SIGTERM, and the
//! recorder each connection records into (stdout records, `--capture` and
//! `--pcap`, each batched into one ordered output by an `output::Sink`).
//!
//! A server subcommand is a [`Handler`]: what to do with one accepted
//! stream connection, and with the UDP socket. Everything around that is
//! here, once, in four steps: [`run`] validates the options, binds the
//! socket, announces it (the `listening on` line and the notes after it)
//! and serves until `--once`, `--count`, a signal or an error.

use std::{
    future::Future,
    net::SocketAddr,
    path::PathBuf,
    pin::Pin,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering::Relaxed},
        Arc, OnceLock,
    },
    time::Duration,
};

use anyhow::Result;
use tokio::{net::UdpSocket, sync::watch};

pub use crate::units::plural;

use crate::{
    capture::CaptureLines,
    cli::ServeArgs,
    display::{Format, Records},
    exit::ExitCode,
    frame::{Decoder, FrameSpec},
    net::{self, tls, AccessList, ListenAddr, Listener, Stream},
    output::{Held, HeldRecorder, Observed, Outputs, Sink, SinkFailure, Writer},
    pcapng::PcapRender,
    record::{Clock, Event, Observer, Peer, Recorder, Role, Side, Transport},
};

/// What a server subcommand does with its clients.
pub trait Handler: Send + Sync + Sized + 'static {
    /// Serve one accepted, admitted stream connection (TCP, TLS, or a
    /// Unix socket) until it ends.
    fn stream(
        server: Arc<Server<Self>>,
        stream: Stream,
        peer: Peer,
        id: u64,
    ) -> impl Future<Output = ()> + Send;

    /// Serve datagrams on the bound UDP socket until the server stops.
    fn udp(
        server: Arc<Server<Self>>,
        socket: UdpSocket,
    ) -> impl Future<Output = Result<ExitCode>> + Send;
}

/// The options every server has, validated.
pub struct Options {
    pub addr: ListenAddr,
    pub udp: bool,
    pub role: Role,
    pub format: Format,
    pub quiet: bool,
    pub decode: crate::decode::Protocol,
    pub once: bool,
    pub count: Option<u64>,
    pub max_conns: Option<u64>,
    pub idle_timeout: Option<Duration>,
    /// `--keepalive` on every accepted connection.
    pub keepalive: Option<Duration>,
    /// `--tls-cert/--tls-key` or `--tls-self-signed`: every accepted
    /// connection shakes hands first; and a self-signed certificate's
    /// fingerprint, for the log.
    pub tls: Option<(tls::Server, Option<String>)>,
    /// `--join`: multicast groups the UDP socket joins.
    pub join: Vec<net::Group>,
    pub access: AccessList,
    pub capture: Option<PathBuf>,
    pub pcap: Option<PathBuf>,
    /// Stdout records show what the server sends too (a proxy's other
    /// direction; listen's answers when they are not the echo). JSON
    /// records always show both directions.
    pub shows_answers: bool,
    /// Warnings for stderr, after the `listening on` line (which scripts
    /// read first).
    pub notes: Vec<String>,
    /// `proxy --fault`: count the faults for the summary line.
    pub counts_faults: bool,
}

impl Options {
    pub fn new(
        addr: ListenAddr,
        udp: bool,
        role: Role,
        serve: ServeArgs,
        keepalive: &crate::cli::KeepaliveArgs,
        output: crate::cli::OutputArgs,
        capture: crate::cli::CaptureArgs,
    ) -> Options {
        Options {
            addr,
            udp,
            role,
            format: output.format.unwrap_or(Format::Text),
            quiet: output.quiet,
            decode: output.decode,
            once: serve.once,
            count: serve.count,
            max_conns: serve.max_conns,
            idle_timeout: serve.idle_timeout.map(|d| d.0),
            keepalive: keepalive.keepalive.map(|d| d.0),
            tls: None,
            join: Vec::new(),
            access: AccessList {
                allow: serve.allow,
                deny: serve.deny,
            },
            capture: capture.capture,
            pcap: capture.pcap,
            shows_answers: role == Role::Proxy,
            notes: Vec::new(),
            counts_faults: false,
        }
    }
}

/// Server-wide counters for the summary line and for `--count`.
#[derive(Default)]
pub struct Stats {
    pub connections: AtomicU64,
    pub refused: AtomicU64,
    pub active: AtomicU64,
    /// When free memory last went back to the system (ms since start).
    pub last_release_ms: AtomicU64,
    pub messages: AtomicU64,
    /// Bytes were relayed without being framed into messages (`proxy -q`,
    /// `listen -q --exec`: nothing records or counts them), so the summary
    /// says the messages were not counted instead of showing 0.
    pub messages_uncounted: AtomicBool,
    pub bytes_in: AtomicU64,
    pub bytes_out: AtomicU64,
    /// `proxy --fault`: faults injected; `None` without `--fault`.
    pub faults: Option<AtomicU64>,
}

/// Shared by the accept loop and every connection task.
pub struct Server<H> {
    pub options: Options,
    /// The subcommand's own configuration.
    pub handler: H,
    pub stats: Stats,
    sink: Sink,
    /// Stdout records (none with `-q`).
    records: Option<Records>,
    /// `--capture`: JSON Lines of every event, both directions, and the
    /// lines' renderer (its header already written).
    capture: Option<(Sink, CaptureLines)>,
    /// `--pcap`: the pcapng file, and each connection's renderer, made
    /// once the socket is bound (its header written, its address known).
    pcap: Option<(Sink, OnceLock<PcapRender>)>,
    clock: Clock,
    /// Set once by whoever decides the server is done (`--once`, `--count`).
    stop: watch::Sender<Option<ExitCode>>,
}

impl<H> Server<H> {
    pub fn shows_records(&self) -> bool {
        self.records.is_some()
    }

    /// The next datagram from an admitted sender: its length and the
    /// sender. Receive errors (ICMP errors from earlier answers surface
    /// here) and refused senders are logged and skipped: they are about one
    /// peer, never a reason to stop serving.
    pub async fn recv_admitted(&self, socket: &UdpSocket, buf: &mut [u8]) -> (usize, SocketAddr) {
        loop {
            let (n, peer) = match socket.recv_from(buf).await {
                Ok(received) => received,
                Err(e) => {
                    crate::say!("receive error: {}", net::describe_io(&e));
                    continue;
                }
            };
            let peer = net::canonical(peer);
            match self.options.access.check(peer.ip()) {
                Ok(()) => return (n, peer),
                Err(why) => {
                    crate::say!("refused datagram from {peer}: {why}");
                    self.stats.refused.fetch_add(1, Relaxed);
                }
            }
        }
    }

    /// Text for stdout in order with the traffic records (e.g. `replay
    /// --serve`'s verdicts).
    pub async fn write_stdout(&self, text: &[u8]) {
        self.sink.write(text).await;
    }

    /// Whether anything records traffic (stdout records, a capture, pcapng).
    pub fn observes(&self) -> bool {
        self.records.is_some() || self.capture.is_some() || self.pcap.is_some()
    }

    /// Whether messages must be framed: to be recorded, or counted.
    pub fn observes_or_counts(&self) -> bool {
        self.observes() || self.options.count.is_some()
    }

    /// A fresh recorder for one connection (or, for UDP, one sender).
    pub fn recorder(&self, conn: u64, peer: impl Into<Peer>) -> HeldRecorder {
        let outputs = Outputs {
            records: self.records.map(|r| Observed::new(r, Held)),
            capture: self
                .capture
                .as_ref()
                .map(|(_, lines)| Observed::new(lines.clone(), Held)),
            pcap: self
                .pcap
                .as_ref()
                .and_then(|(_, template)| template.get())
                .map(|template| Observed::new(template.clone(), Held)),
        };
        Recorder::new(self.clock, conn, peer.into(), outputs)
    }

    /// Hand what `recorder` rendered to the stdout, capture and pcapng
    /// sinks.
    pub async fn deliver(&self, recorder: &mut HeldRecorder) {
        let outputs = &mut recorder.outputs;
        if let Some(records) = &mut outputs.records {
            flush(&self.sink, records.pending()).await;
        }
        if let (Some(lines), Some((sink, _))) = (&mut outputs.capture, &self.capture) {
            flush(sink, lines.pending()).await;
        }
        if let (Some(packets), Some((sink, _))) = (&mut outputs.pcap, &self.pcap) {
            flush(sink, packets.pending()).await;
        }
    }

    /// A connection event, recorded now and delivered at once.
    pub async fn event(&self, recorder: &mut HeldRecorder, event: Event<'_>) {
        recorder.hold(event);
        self.deliver(recorder).await;
    }

    /// `--fault` dealt `outcome` to a message: count its faults for the
    /// summary. True when they are also to be recorded (something
    /// observes), which takes the connection's recorder: then
    /// [`Server::record_faults`]. Every fault shell (the faulted relay,
    /// `--share`, UDP) counts and records here; a message without a fault,
    /// or with no one observing, costs one add and takes no lock.
    pub fn count_faults(&self, outcome: &crate::fault::Outcome) -> bool {
        if let Some(count) = &self.stats.faults {
            count.fetch_add(outcome.injected.len() as u64, Relaxed);
        }
        !outcome.injected.is_empty() && self.observes()
    }

    /// Record each of `outcome`'s faults (on a message `from` sent) and
    /// deliver the records, after [`Server::count_faults`] said to.
    pub async fn record_faults(
        &self,
        recorder: &mut HeldRecorder,
        from: Side,
        outcome: &crate::fault::Outcome,
    ) {
        for fault in outcome.injected.iter() {
            if self.options.format == Format::Raw {
                // Raw stdout is the bytes alone: a fault is said on stderr,
                // with the connection's other lines.
                let detail = fault.detail.to_string();
                crate::say!(
                    "#{} {} fault {} {} #{}{}",
                    recorder.conn,
                    recorder.peer,
                    fault.kind,
                    self.options.role.direction(from).as_str(),
                    outcome.number,
                    match detail.is_empty() {
                        true => String::new(),
                        false => format!(" ({detail})"),
                    }
                );
            }
            recorder.hold(Event::Fault {
                from,
                number: outcome.number,
                kind: fault.kind,
                detail: &fault.detail.to_string(),
            });
        }
        self.deliver(recorder).await;
    }

    /// Count one message: (admitted, last). Not admitted once `--count`
    /// is already reached (the message is ignored); last when this message
    /// reaches it.
    pub fn admit_message(&self) -> (bool, bool) {
        let n = self.stats.messages.fetch_add(1, Relaxed) + 1;
        match self.options.count {
            Some(limit) if n > limit => (false, false),
            Some(limit) => (true, n == limit),
            None => (true, false),
        }
    }

    /// A connection is gone. When it was the last one, what the allocator
    /// holds free goes back to the system (at most once a second), so a
    /// server's memory after a burst is what it needs, not what the burst
    /// needed (issue 26, bug 4).
    pub fn connection_ended(&self) {
        if self.stats.active.fetch_sub(1, Relaxed) == 1 {
            let now = self.clock.started.elapsed().as_millis() as u64;
            let last = self.stats.last_release_ms.load(Relaxed);
            if now.saturating_sub(last) >= 1000
                && self
                    .stats
                    .last_release_ms
                    .compare_exchange(last, now, Relaxed, Relaxed)
                    .is_ok()
            {
                crate::process::release_free_memory();
            }
        }
    }

    pub fn finish(&self, code: ExitCode) {
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

/// What a relayed connection records (proxy, `listen --exec`): each
/// direction framed (by `--frame`; raw: each read) into messages, counted
/// for `--count` and the summary, and recorded.
pub struct RelayRecording<'a, H: Handler> {
    pub server: &'a Server<H>,
    pub recorder: tokio::sync::Mutex<HeldRecorder>,
    /// One decoder per direction (client's, server's), only when something
    /// records or counts: without them a forwarded chunk costs one add.
    decoders: Option<[std::sync::Mutex<Decoder>; 2]>,
}

impl<'a, H: Handler> RelayRecording<'a, H> {
    pub fn new(
        server: &'a Server<H>,
        recorder: HeldRecorder,
        frame: &FrameSpec,
        max_frame: usize,
    ) -> Self {
        if !server.observes_or_counts() {
            server.stats.messages_uncounted.store(true, Relaxed);
        }
        RelayRecording {
            server,
            recorder: tokio::sync::Mutex::new(recorder),
            decoders: server.observes_or_counts().then(|| {
                [Side::Client, Side::Server].map(|side| {
                    std::sync::Mutex::new(Decoder::new(frame.clone(), max_frame).reading(side))
                })
            }),
        }
    }
}

impl<H: Handler> crate::relay::Watch for RelayRecording<'_, H> {
    fn counted(&self, from: Side, n: usize) {
        let total = match from {
            Side::Client => &self.server.stats.bytes_in,
            Side::Server => &self.server.stats.bytes_out,
        };
        total.fetch_add(n as u64, Relaxed);
    }

    fn observes(&self) -> bool {
        self.decoders.is_some()
    }

    async fn forwarded(&self, from: Side, bytes: &[u8], eof: bool) -> Result<(), String> {
        let Some(decoders) = &self.decoders else {
            return Ok(());
        };
        let mut recorder = self.recorder.lock().await;
        let ended = {
            let index = match from {
                Side::Client => 0,
                Side::Server => 1,
            };
            let mut decoder = decoders[index].lock().unwrap_or_else(|e| e.into_inner());
            decoder.push(bytes);
            let meta = recorder.meta();
            loop {
                let message = match decoder.next_frame() {
                    Ok(Some(frame)) => frame,
                    Ok(None) if eof => match decoder.finish() {
                        Some(rest) => rest,
                        None => break Ok(()),
                    },
                    Ok(None) => break Ok(()),
                    Err(e) => break Err(format!("{} messages: {e}", from.as_str())),
                };
                let (admitted, last) = self.server.admit_message();
                if admitted {
                    recorder.hold_with(
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
        };
        self.server.deliver(&mut recorder).await;
        ended
    }
}

/// Hand a batch to its sink and empty it.
async fn flush(sink: &Sink, batch: &mut Vec<u8>) {
    if !batch.is_empty() {
        sink.write(batch).await;
        batch.clear();
        // One large message (a 64 KiB frame is 128 KiB of hex in a
        // capture) must not stay with its connection for good.
        if batch.capacity() > HELD_BATCH_KEPT {
            *batch = Vec::new();
        }
    }
}

/// The largest rendering buffer a connection keeps between reads.
const HELD_BATCH_KEPT: usize = 64 * 1024;

/// A future on the heap, polled through `dyn`.
pub type BoxedFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Build a future made by `make` on the heap, in a frame of its own.
///
/// Why: an `async fn`'s poll reserves stack for every state it can be in,
/// and what it calls without `dyn` is inlined into it. A connection's task
/// that could also do a TLS handshake, a faulted relay or a shared line
/// reserved 20 KiB on each wake-up, probed page by page: cache lines a
/// plain relay paid for on every message. Behind `dyn`, built here and not
/// in the caller, a rare path's room is taken only when it runs.
#[inline(never)]
pub fn boxed_future<'a, T, F>(make: impl FnOnce() -> F) -> BoxedFuture<'a, T>
where
    F: Future<Output = T> + Send + 'a,
{
    Box::pin(make())
}

/// Run a server until `--once`, `--count`, a signal, or a fatal error;
/// then print the summary. A server that ends by itself after one of its
/// outputs failed exits 1 (the failure was said when it happened, and the
/// summary repeats it); one stopped by a signal dies by it as always.
pub fn run<H: Handler>(options: Options, handler: H) -> Result<ExitCode> {
    validate(&options)?;
    crate::process::raise_fd_limit();
    crate::process::tune_allocator_for_servers();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let clock = Clock::start();
    let mut writers: Vec<Writer> = Vec::new();
    let capture = match &options.capture {
        Some(path) => {
            let (sink, writer) = Sink::spawn_file(
                crate::output::create_capture(path)?,
                format!("capture {}", path.display()),
                clock.started,
            );
            writers.push(writer);
            Some((sink, CaptureLines::new(options.role, &clock)))
        }
        None => None,
    };
    let pcap = match &options.pcap {
        Some(path) => {
            let (sink, writer) = Sink::spawn_file(
                crate::output::create_file(path, "--pcap")?,
                format!("--pcap {}", path.display()),
                clock.started,
            );
            writers.push(writer);
            Some((sink, OnceLock::new()))
        }
        None => None,
    };
    let (sink, writer) = Sink::spawn(clock.started);
    writers.push(writer);
    let (stop, stopped) = watch::channel(None);
    let records = (!options.quiet).then(|| Records {
        ours: options.shows_answers || options.format == Format::Json,
        ..Records::server(
            options.format,
            crate::output::stdout_style(),
            options.role,
            options.decode,
        )
    });
    let stats = Stats {
        faults: options.counts_faults.then(AtomicU64::default),
        ..Stats::default()
    };
    let server = Arc::new(Server {
        options,
        handler,
        stats,
        sink,
        records,
        capture,
        pcap,
        clock,
        stop,
    });
    let outcome = runtime.block_on(async {
        let signals = super::run::Signals::install()?;
        let bound = bind(&server.options).await?;
        announce(&server, &bound).await;
        let outcome = serve(server.clone(), bound, signals, stopped).await;
        // Programs (--exec) still running are stopped, with what they
        // started, before the server is gone.
        crate::exec::stop_all().await;
        outcome
    });
    // Connection tasks may be mid-write; stop them, then flush what they queued.
    runtime.shutdown_timeout(Duration::from_millis(100));
    let failures: Vec<SinkFailure> = writers.into_iter().filter_map(Writer::finish).collect();
    let code = outcome?;
    print_summary(&server.stats, server.options.count, &failures);
    let ended_by_itself = !matches!(code, ExitCode::Interrupted | ExitCode::Terminated);
    if ended_by_itself && code == ExitCode::Success && !failures.is_empty() {
        return Ok(ExitCode::Failure);
    }
    Ok(code)
}

fn print_summary(stats: &Stats, count: Option<u64>, failures: &[SinkFailure]) {
    let messages = stats.messages.load(Relaxed).min(count.unwrap_or(u64::MAX));
    let mut incomplete = String::new();
    for failure in failures {
        incomplete.push_str(&format!("; {failure}"));
    }
    let faults = match &stats.faults {
        Some(n) => format!(", {} injected", plural(n.load(Relaxed), "fault")),
        None => String::new(),
    };
    let messages = match stats.messages_uncounted.load(Relaxed) {
        true if messages == 0 => "messages not counted (-q)".to_string(),
        _ => plural(messages, "message"),
    };
    crate::say!(
        "summary: {}, {messages}, {} received, {} sent, {} refused{faults}{incomplete}",
        plural(stats.connections.load(Relaxed), "connection"),
        plural(stats.bytes_in.load(Relaxed), "byte"),
        plural(stats.bytes_out.load(Relaxed), "byte"),
        stats.refused.load(Relaxed),
    );
}

/// Options that contradict the address, refused before anything is bound.
fn validate(config: &Options) -> Result<()> {
    let (path, whose) = match &config.addr {
        ListenAddr::Ip(_) => return Ok(()),
        ListenAddr::Unix(path) => (path.to_string(), "a Unix socket's clients have"),
        ListenAddr::Serial(line) => (line.to_string(), "a serial line has"),
    };
    if !config.access.is_open() {
        return Err(crate::exit::usage(format!(
            "--allow/--deny do not apply to {path}: {whose} no IP address to check"
        )));
    }
    if config.tls.is_some() {
        return Err(crate::exit::usage(format!(
            "TLS (--tls-cert, --tls-self-signed) is for TCP, not {path}"
        )));
    }
    Ok(())
}

/// The bound socket: a stream listener or a UDP socket, with its address.
pub struct Bound {
    socket: BoundSocket,
    local: Peer,
    transport: Transport,
    /// A note for after the `listening on` line (a stale socket replaced).
    note: Option<String>,
}

enum BoundSocket {
    Stream(Listener),
    Udp(UdpSocket),
}

async fn bind(config: &Options) -> Result<Bound> {
    if config.udp {
        let socket = net::bind_udp(&config.addr).await?;
        net::join_groups(&socket, &config.join)?;
        Ok(Bound {
            local: Peer::Ip(socket.local_addr()?),
            transport: Transport::Udp,
            socket: BoundSocket::Udp(socket),
            note: None,
        })
    } else {
        let (listener, note) = net::bind_stream(&config.addr).await?;
        Ok(Bound {
            local: listener.local()?,
            transport: listener.transport(),
            socket: BoundSocket::Stream(listener),
            note,
        })
    }
}

/// The `listening on` line (always the first on stderr: scripts read the
/// port from it), the notes after it, and the outputs' headers.
async fn announce<H>(server: &Server<H>, bound: &Bound) {
    let config = &server.options;
    let (local, transport) = (bound.local, bound.transport);
    let shown = match (&config.tls, transport) {
        (Some(_), _) => "tls",
        (None, transport) => transport.as_str(),
    };
    crate::say!("listening on {local} ({shown})");
    if let Some(note) = &bound.note {
        crate::say!("{note}");
    }
    for note in &config.notes {
        crate::say!("{note}");
    }
    if let Some((_, Some(fingerprint))) = &config.tls {
        crate::say!(
            "tls: self-signed certificate for localhost, 127.0.0.1 and ::1, SHA-256 fingerprint {fingerprint}"
        );
    }
    for group in &config.join {
        crate::say!("joined the multicast group {group}");
    }
    if let Some((sink, lines)) = &server.capture {
        let mut header = Observed::new(lines.clone(), Held);
        let _ = header.start(transport, local);
        sink.write(header.pending()).await;
    }
    if let Some((sink, template)) = &server.pcap {
        let mut header = Observed::new(PcapRender::new(config.role), Held);
        let _ = header.start(transport, local);
        sink.write(header.pending()).await;
        let _ = template.set(header.render_mut().clone());
    }
    let everywhere = matches!(local, Peer::Ip(addr) if addr.ip().is_unspecified());
    if everywhere && config.access.allow.is_empty() {
        crate::say!(
            "warning: listening on all interfaces without --allow: any host that can reach this machine may connect"
        );
    }
}

/// Serve until the work ends, a handler says the server is done, or a
/// signal arrives (`run::until_interrupted`).
async fn serve<H: Handler>(
    server: Arc<Server<H>>,
    bound: Bound,
    signals: super::run::Signals,
    mut stopped: watch::Receiver<Option<ExitCode>>,
) -> Result<ExitCode> {
    let work = async {
        let done = async {
            match bound.socket {
                BoundSocket::Stream(listener) => accept_loop(&server, listener).await,
                BoundSocket::Udp(socket) => H::udp(server.clone(), socket).await,
            }
        };
        tokio::select! {
            result = done => result,
            code = stopped.wait_for(|code| code.is_some()) => {
                Ok(code.ok().and_then(|c| *c).unwrap_or(ExitCode::Success))
            }
        }
    };
    super::run::until_signalled(signals, work, || {}).await
}

async fn accept_loop<H: Handler>(server: &Arc<Server<H>>, listener: Listener) -> Result<ExitCode> {
    let mut next_id = 0u64;
    let mut failing = false;
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => {
                if failing {
                    crate::say!("accepting again");
                    failing = false;
                }
                accepted
            }
            Err(e) => {
                // Out of descriptors (or a client that reset before we
                // accepted): say so once, back off briefly so we never spin,
                // and keep serving; the connection waits in the backlog.
                if !failing {
                    crate::say!(
                        "accept failed: {}; retrying every 50ms",
                        net::describe_io(&e)
                    );
                    failing = true;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        if let Peer::Ip(addr) = peer {
            if let Err(why) = server.options.access.check(addr.ip()) {
                // Closed before a single byte is read or written.
                crate::say!("refused {peer}: {why}");
                server.stats.refused.fetch_add(1, Relaxed);
                drop(stream);
                continue;
            }
        }
        if let Some(max) = server.options.max_conns {
            if server.stats.active.load(Relaxed) >= max {
                crate::say!("refused {peer}: --max-conns {max} reached");
                server.stats.refused.fetch_add(1, Relaxed);
                drop(stream);
                continue;
            }
        }
        if let Some(tcp) = stream.tcp() {
            let _ = tcp.set_nodelay(true);
            if let Err(e) = net::set_keepalive(tcp, server.options.keepalive) {
                crate::say!("--keepalive on {peer}: {}", net::describe_io(&e));
            }
        }
        next_id += 1;
        let id = next_id;
        server.stats.active.fetch_add(1, Relaxed);
        let server = server.clone();
        tokio::spawn(async move {
            // The handshake runs in the connection's own task: a client
            // that stalls or fails it holds up nobody else. It is boxed
            // (rustls's state is large) so that the task does not keep its
            // room once it is done.
            let stream = match (&server.options.tls, stream) {
                (Some((tls, _)), Stream::Tcp(tcp)) => {
                    let handshake = boxed_future(|| async move {
                        let tls = tls.accept(tcp).await?;
                        Ok::<_, String>(Stream::Tls(Box::new(tls)))
                    });
                    match handshake.await {
                        Ok(stream) => stream,
                        Err(why) => {
                            crate::say!("tls: handshake with {peer} failed: {why}");
                            server.stats.refused.fetch_add(1, Relaxed);
                            server.connection_ended();
                            return;
                        }
                    }
                }
                (_, stream) => stream,
            };
            server.stats.connections.fetch_add(1, Relaxed);
            // Boxed apart (see `boxed_future`): the task's own poll, which
            // runs on every wake-up, stays small.
            boxed_future(|| H::stream(server.clone(), stream, peer, id)).await;
            server.connection_ended();
            if server.options.once {
                server.finish(ExitCode::Success);
            }
        });
    }
}
