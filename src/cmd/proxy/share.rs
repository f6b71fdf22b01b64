//! `proxy --share`: every client's messages over ONE upstream connection,
//! for devices that accept only one.
//!
//! Clients put each framed message on one queue, in arrival order; a single
//! task owns the upstream connection, forwards one message, reads the
//! server's next message by the same `--frame` (the shared reply rules of
//! `reply.rs`, bounded by `-w`) and hands it back to that client. A reply
//! that does not come in time fails only that client, and the connection is
//! dropped so that a late reply can never reach the next client; a dropped
//! or closed upstream is opened again for the next message.

use std::{
    sync::{atomic::Ordering::Relaxed, Arc, Weak},
    time::{Duration, Instant},
};

use bytes::Bytes;
use tokio::{
    io::AsyncWriteExt,
    sync::{mpsc, oneshot},
};

use super::{gateway::Gateway, Proxy};
use crate::{
    cmd::server::Server,
    exchange,
    exit::ExitCode,
    fault::{transmit_time, DirectionFaults, Fate},
    frame::{Decoder, FrameSpec},
    net::{self, ConnectOptions, ReadHalf, Stream, Target, WriteHalf},
    output::HeldRecorder,
    record::{Event, Peer, Side},
    relay::Idle,
    reply::{End, Rule, Until, Wait},
};

/// How many messages may wait for the upstream connection before clients
/// are held back.
const QUEUE: usize = 1024;

/// A message for the upstream connection and where its reply goes.
struct Job {
    request: Bytes,
    reply: oneshot::Sender<Result<Bytes, String>>,
}

/// The queue in front of the one upstream connection.
#[derive(Clone)]
pub struct Queue(mpsc::Sender<Job>);

impl Queue {
    /// Start the task that owns the upstream connection.
    pub fn start(server: &Arc<Server<Proxy>>) -> Queue {
        let proxy = &server.handler;
        let (tx, rx) = mpsc::channel(QUEUE);
        let upstream = UpstreamConfig {
            target: proxy.target.clone(),
            connect: proxy.connect.clone(),
            frame: proxy.upstream_frame.clone(),
            max_frame: proxy.max_frame,
            timeout: proxy.reply_timeout,
            // A gateway's two sides differ (MBAP and RTU), so its line is
            // recorded too; a shared connection carries the clients' own
            // bytes, which are recorded already.
            records_line: (proxy.gateway.is_some() && server.observes())
                .then(|| Arc::downgrade(server)),
        };
        let gateway = proxy
            .gateway
            .map(|(direction, retries, turnaround)| Gateway::new(direction, retries, turnaround));
        tokio::spawn(run_upstream(upstream, gateway, rx));
        Queue(tx)
    }

    /// Forward one message and wait for the server's reply to it.
    async fn ask(&self, request: Bytes) -> Result<Bytes, String> {
        let (reply, answer) = oneshot::channel();
        self.0
            .send(Job { request, reply })
            .await
            .map_err(|_| "the shared upstream connection is gone".to_string())?;
        answer
            .await
            .unwrap_or_else(|_| Err("the shared upstream connection is gone".to_string()))
    }
}

pub(super) struct UpstreamConfig {
    target: Target,
    connect: ConnectOptions,
    frame: FrameSpec,
    max_frame: usize,
    pub(super) timeout: Option<Duration>,
    /// Where the upstream side is recorded, as its own connection
    /// ([`LINE_CONN`]), when it is (`--gateway`, and something observes).
    /// Weak: the server owns the queue that owns this.
    records_line: Option<Weak<Server<Proxy>>>,
}

/// The connection number the records give the upstream side of a gateway
/// (the line): clients count from 1. A capture's reader knows it too.
use crate::capture::GATEWAY_LINE_CONN as LINE_CONN;

/// The open upstream connection.
pub(super) struct Upstream {
    pub(super) reader: ReadHalf,
    pub(super) writer: WriteHalf,
    pub(super) decoder: Decoder,
    pub(super) closed: bool,
    /// Its records (`--gateway`): what went out on it and what came back.
    pub(super) line: Option<LineRecording>,
}

/// The records of the upstream side, connection [`LINE_CONN`]: every
/// frame written on it and every frame read from it, the dropped ones too,
/// so that the display shows both sides of a gateway and a capture of
/// either side replays (`replay --flow`).
pub(super) struct LineRecording {
    server: Arc<Server<Proxy>>,
    recorder: HeldRecorder,
}

impl LineRecording {
    /// `from` (Client: the gateway's request; Server: the device's reply)
    /// went by on the line.
    pub(super) async fn data(&mut self, from: Side, bytes: &[u8]) {
        self.recorder.hold(Event::Data { from, bytes });
        self.server.deliver(&mut self.recorder).await;
    }

    /// The line is gone (`why`), or closed.
    pub(super) async fn ended(mut self, why: Option<&str>) {
        let event = why.map_or(Event::Close, Event::Error);
        self.server.event(&mut self.recorder, event).await;
    }
}

impl Upstream {
    /// A frame went by on it: recorded, when the line is.
    pub(super) async fn record(&mut self, from: Side, bytes: &[u8]) {
        if let Some(line) = &mut self.line {
            line.data(from, bytes).await;
        }
    }
}

/// Drop the upstream connection, recording why (`None`: closed).
pub(super) async fn drop_upstream(upstream: &mut Option<Upstream>, why: Option<&str>) {
    if let Some(line) = upstream.take().and_then(|up| up.line) {
        line.ended(why).await;
    }
}

async fn run_upstream(
    config: UpstreamConfig,
    mut gateway: Option<Gateway>,
    mut jobs: mpsc::Receiver<Job>,
) {
    let mut upstream: Option<Upstream> = None;
    while let Some(job) = jobs.recv().await {
        let result = match &mut gateway {
            Some(gateway) => gateway.exchange(&config, &mut upstream, &job.request).await,
            None => exchange_one(&config, &mut upstream, &job.request).await,
        };
        if let Err(why) = &result {
            // Whatever is still on its way belongs to this message: never
            // let it reach the next client.
            drop_upstream(&mut upstream, Some(why)).await;
        }
        let _ = job.reply.send(result);
    }
}

/// Forward one message and read one reply, opening the connection first if
/// there is none or the server closed it since the last message.
async fn exchange_one(
    config: &UpstreamConfig,
    upstream: &mut Option<Upstream>,
    request: &[u8],
) -> Result<Bytes, String> {
    match ask_once(config, upstream, request).await {
        // The server closed the connection we reused, and its FIN was not
        // in yet when we looked (`went_away`): the request went nowhere,
        // so it goes once more, over a new connection.
        Err(Retry) => {
            crate::say!("share: the server closed the shared connection; opening a new one");
            *upstream = None;
            ask_once(config, upstream, request)
                .await
                .map_err(|Retry| "the server closed the shared connection before replying".into())
                .and_then(|reply| reply)
        }
        Ok(reply) => reply,
    }
}

/// A reused connection turned out to be closed before any reply byte.
struct Retry;

async fn ask_once(
    config: &UpstreamConfig,
    upstream: &mut Option<Upstream>,
    request: &[u8],
) -> Result<Result<Bytes, String>, Retry> {
    if upstream.as_mut().is_some_and(went_away) {
        crate::say!("share: the server closed the shared connection; opening a new one");
        *upstream = None;
    }
    let reused = upstream.is_some();
    if upstream.is_none() {
        match open(config).await {
            Ok(up) => *upstream = Some(up),
            Err(e) => return Ok(Err(e)),
        }
    }
    ask_on(config, upstream, request, reused).await
}

async fn ask_on(
    config: &UpstreamConfig,
    upstream: &mut Option<Upstream>,
    request: &[u8],
    reused: bool,
) -> Result<Result<Bytes, String>, Retry> {
    let up = upstream.as_mut().expect("opened above");
    if let Err(e) = up.writer.send(request).await {
        if reused {
            return Err(Retry);
        }
        return Ok(Err(format!("upstream: {}", net::describe_io(&e))));
    }
    let rule = Rule {
        until: Until::Frames(1),
        idle: Duration::ZERO,
        timeout: config.timeout,
    };
    let mut wait = Wait::starting(rule, Instant::now());
    let read = exchange::read_reply(&mut up.reader, &mut up.decoder, &mut wait, &mut up.closed);
    let (reply, end) = match read.await {
        Ok(done) => done,
        Err(_) if reused && !wait.got_any() => return Err(Retry),
        Err(e) => return Ok(Err(format!("upstream: {e:#}"))),
    };
    Ok(match end {
        End::Complete => Ok(reply
            .parts
            .into_iter()
            .next()
            .map(|(b, _)| b)
            .unwrap_or_default()),
        End::PeerClosed if reused && reply.is_empty() && up.decoder.buffered() == 0 => {
            return Err(Retry)
        }
        End::PeerClosed => Err("the server closed the shared connection before replying".into()),
        End::TimedOut => Err(format!(
            "no reply within {}",
            humantime::format_duration(config.timeout.unwrap_or_default())
        )),
    })
}

pub(super) async fn open(config: &UpstreamConfig) -> Result<Upstream, String> {
    let stream = net::connect(&config.target, &config.connect)
        .await
        .map_err(|e| format!("upstream {}: {e:#}", config.target))?;
    if let Ok(addr) = stream.peer() {
        crate::say!("share: connected to {addr}");
    }
    let decoder = crate::exchange::decoder_for(&stream, config.frame.clone(), config.max_frame);
    let line = match config.records_line.as_ref().and_then(Weak::upgrade) {
        Some(server) => {
            let peer = stream.peer().unwrap_or(Peer::Ip(([0, 0, 0, 0], 0).into()));
            let mut recorder = server.recorder(LINE_CONN, peer);
            server.event(&mut recorder, Event::Open).await;
            Some(LineRecording { server, recorder })
        }
        None => None,
    };
    let (reader, writer) = stream.into_split();
    Ok(Upstream {
        reader,
        writer,
        decoder,
        closed: false,
        line,
    })
}

/// Whether the server closed (or reset) the idle connection since the last
/// reply. Bytes it sent unasked are answers to nobody: dropped, and logged.
pub(super) fn went_away(up: &mut Upstream) -> bool {
    if up.closed {
        return true;
    }
    let mut scrap = [0u8; 4096];
    loop {
        match up.reader.try_read(&mut scrap) {
            Ok(0) => return true,
            Ok(n) => crate::say!("share: dropped {n} bytes the server sent unasked"),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return false,
            Err(_) => return true,
        }
    }
}

/// One client of a shared proxy: each message it sends waits its turn on
/// the queue, and the reply goes back before its next message is taken.
pub async fn serve_client(server: &Arc<Server<Proxy>>, stream: Stream, peer: Peer, id: u64) {
    let proxy = &server.handler;
    let queue = proxy.shared.get_or_init(|| Queue::start(server)).clone();
    let mut recorder = server.recorder(id, peer);
    server.event(&mut recorder, Event::Open).await;
    let mut client = SharedClient {
        server: server.as_ref(),
        recorder,
        idle: Idle::new(),
        queue,
        decoder: crate::exchange::decoder_for(&stream, proxy.frame.clone(), proxy.max_frame)
            .reading(Side::Client),
        faults: proxy.faults.as_ref().map(|faults| ClientFaults {
            to_server: faults.direction(id, Side::Client),
            to_client: faults.direction(id, Side::Server),
            free: [Instant::now().into(); 2],
            reset: false,
        }),
    };
    let (mut reader, mut writer) = stream.into_split();
    let ending = client.run(&mut reader, &mut writer).await;
    let event = match &ending {
        Ok(()) => {
            let _ = writer.shutdown().await;
            crate::say!("#{id} {peer} closed");
            Event::Close
        }
        Err(reason) => {
            if client.faults.as_ref().is_some_and(|f| f.reset) {
                writer.reset();
            }
            crate::say!("#{id} {peer} {reason}; closing the client");
            Event::Error(reason)
        }
    };
    server.event(&mut client.recorder, event).await;
}

struct SharedClient<'a> {
    server: &'a Server<Proxy>,
    recorder: HeldRecorder,
    idle: Idle,
    queue: Queue,
    decoder: Decoder,
    /// `--fault`: this client's dice.
    faults: Option<ClientFaults>,
}

/// `--fault` on a shared proxy (and a gateway): the faults of one client's
/// requests (to-server, before they queue) and of the answers it gets
/// (to-client). A reset resets this client only: the upstream connection
/// is everyone's.
struct ClientFaults {
    to_server: Option<DirectionFaults>,
    to_client: Option<DirectionFaults>,
    /// When each paced direction is free again (`bandwidth=`).
    free: [tokio::time::Instant; 2],
    /// A fault reset the client: reset it rather than close it.
    reset: bool,
}

/// What the faults say of one message of a shared client.
enum Dealt {
    /// Pass it on this many times (its bytes may have been corrupted).
    Pass(Bytes, u8),
    /// Not passed on (dropped, stalled).
    Gone,
    /// Answer the client with these bytes instead.
    Answer(Bytes),
    /// Reset the client.
    Reset,
}

impl SharedClient<'_> {
    /// Until the client closes (Ok) or something fails (the reason).
    async fn run(&mut self, reader: &mut ReadHalf, writer: &mut WriteHalf) -> Result<(), String> {
        loop {
            let read = crate::exchange::read_framed(reader, &mut self.decoder);
            let read =
                match self.server.options.idle_timeout {
                    Some(limit) => self.idle.bound(limit, read).await.map_err(|limit| {
                        format!("idle for {}", humantime::format_duration(limit))
                    })?,
                    None => read.await,
                };
            let eof = match read {
                Ok(Some(0)) => true,
                Ok(Some(n)) => {
                    // The summary counts what arrived, before any fault and
                    // whatever becomes of it (as the plain and the faulted
                    // relay do): a dropped request, a duplicate once, the
                    // rest of a message cut short.
                    self.server.stats.bytes_in.fetch_add(n as u64, Relaxed);
                    false
                }
                Ok(None) => false,
                Err(e) => return Err(net::describe_io(&e)),
            };
            while let Some(message) = self.next_message(eof)? {
                self.forward(message, writer).await?;
            }
            if eof {
                return Ok(());
            }
        }
    }

    fn next_message(&mut self, eof: bool) -> Result<Option<Bytes>, String> {
        match self.decoder.next_frame() {
            Ok(Some(frame)) => Ok(Some(frame)),
            Ok(None) if eof && self.decoder.ends_by_silence() => Ok(self.decoder.finish()),
            Ok(None) if eof => {
                // A message cut short by the client's close never goes on
                // the shared line: the device would take the next client's
                // request as its rest, and answer nobody right.
                if let Some(rest) = self.decoder.finish() {
                    crate::say!(
                        "#{} {} closed in the middle of a message: {} not sent to the shared line",
                        self.recorder.conn,
                        self.recorder.peer,
                        crate::units::plural(rest.len() as u64, "byte"),
                    );
                }
                Ok(None)
            }
            Ok(None) => Ok(None),
            Err(e) => Err(format!("client messages: {e}")),
        }
    }

    /// One message to the server and its reply back to the client.
    async fn forward(&mut self, message: Bytes, writer: &mut WriteHalf) -> Result<(), String> {
        let (message, times) = match self.deal(Side::Client, message.clone()).await {
            Dealt::Pass(message, times) => (message, times),
            Dealt::Gone => return Ok(()),
            Dealt::Answer(answer) => {
                // The request as the client sent it, then the answer it got.
                self.record(Side::Client, &message).await;
                return self.answer(&answer, writer).await;
            }
            Dealt::Reset => return Err(self.reset(Side::Client)),
        };
        for _ in 0..times {
            self.record(Side::Client, &message).await;
            let reply = self.queue.ask(message.clone()).await?;
            self.server
                .stats
                .bytes_out
                .fetch_add(reply.len() as u64, Relaxed);
            // Waiting for a reply is not idleness: the clock starts again
            // when it comes (a busy line or a slow device would otherwise
            // drop the client as idle right after answering it).
            self.idle.touch();
            if reply.is_empty() {
                // A gateway's broadcast, or a request it dropped: no answer.
                continue;
            }
            let (reply, times) = match self.deal(Side::Server, reply).await {
                Dealt::Pass(reply, times) => (reply, times),
                Dealt::Gone | Dealt::Answer(_) => continue,
                Dealt::Reset => return Err(self.reset(Side::Server)),
            };
            for _ in 0..times {
                self.answer(&reply, writer).await?;
            }
        }
        Ok(())
    }

    /// Send `reply` to the client (paced by `to-client:bandwidth=`) and
    /// record it.
    async fn answer(&mut self, reply: &[u8], writer: &mut WriteHalf) -> Result<(), String> {
        let paced = self.faults.as_mut().and_then(|f| {
            let bits = f.to_client.as_ref()?.bandwidth()?;
            Some((bits, &mut f.free[1]))
        });
        let sent = match paced {
            Some((bits, free)) => super::faulty::paced_send(writer, reply, bits, free).await,
            None => writer.send(reply).await,
        };
        sent.map_err(|e| format!("client: {}", net::describe_io(&e)))?;
        self.idle.touch();
        self.record(Side::Server, reply).await;
        Ok(())
    }

    /// The fault reset the client (`from` sent the message it struck).
    fn reset(&mut self, from: Side) -> String {
        if let Some(faults) = &mut self.faults {
            faults.reset = true;
        }
        format!("fault: reset ({} message)", from.as_str())
    }

    /// What `--fault` does to one message `from` sent: the dice, the
    /// records of what they dealt, the delay and (to-server) the pacing.
    async fn deal(&mut self, from: Side, message: Bytes) -> Dealt {
        let Some(faults) = &mut self.faults else {
            return Dealt::Pass(message, 1);
        };
        let index = usize::from(from == Side::Server);
        let dice = match from {
            Side::Client => &mut faults.to_server,
            Side::Server => &mut faults.to_client,
        };
        let Some(dice) = dice else {
            return Dealt::Pass(message, 1);
        };
        let arrived = tokio::time::Instant::now();
        let bandwidth = dice.bandwidth();
        let outcome = dice.decides().then(|| dice.decide(&message));
        if from == Side::Client {
            if let Some(bits) = bandwidth {
                // The request crosses a slow line before it queues.
                let free = &mut faults.free[index];
                *free = (*free).max(arrived) + transmit_time(message.len(), bits);
                tokio::time::sleep_until(*free).await;
            }
        }
        let Some(outcome) = outcome else {
            return Dealt::Pass(message, 1);
        };
        if self.server.count_faults(&outcome) {
            self.server
                .record_faults(&mut self.recorder, from, &outcome)
                .await;
        }
        match outcome.fate {
            Fate::Forward(times) => {
                tokio::time::sleep_until(arrived + outcome.hold).await;
                Dealt::Pass(outcome.apply(message), times)
            }
            Fate::Drop | Fate::Stall => Dealt::Gone,
            Fate::Reset => Dealt::Reset,
            Fate::Answer(answer) => Dealt::Answer(Bytes::from(answer)),
        }
    }

    async fn record(&mut self, from: Side, bytes: &[u8]) {
        let (admitted, last) = self.server.admit_message();
        if admitted {
            self.recorder.hold(Event::Data { from, bytes });
        }
        if last || !admitted {
            self.server.finish(ExitCode::Success);
        }
        self.server.deliver(&mut self.recorder).await;
    }
}
