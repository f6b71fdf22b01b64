//! Bytes between any two connections, both ways: the proxy's core, and the
//! one place that knows how a relayed pair ends.
//!
//! [`relay`] forwards what each side sends to the other the moment it
//! arrives (one bounded buffer per direction, so a slow reader slows the
//! writer on the other side), tells a [`Watch`] what went by (the proxy
//! frames, counts and records it), passes a half-close on after every byte
//! before it, turns a failure on one side into a reset of the other, and
//! ends the pair after `--idle-timeout` of silence both ways. It takes any
//! [`ReadHalf`]/[`WriteHalf`], so a new transport (serial, a child's pipes)
//! relays without a line here.
//!
//! [`Idle`] is the one idle timeout of every server (listen, proxy,
//! `--share`, proxy UDP): a deadline that moves with activity and fires
//! when it is reached, not on the next poll.

use std::{
    future::Future,
    pin::Pin,
    sync::atomic::{AtomicU64, Ordering::Relaxed},
    task::{ready, Context, Poll},
    time::Duration,
};

use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    time::Instant,
};

use crate::{
    net::{self, ReadHalf, WriteHalf},
    record::Side,
};

/// How much one direction reads before it must be written on: the bound on
/// what a relay holds per direction.
pub const RELAY_BUFFER: usize = 64 * 1024;

/// When something last happened, for an idle timeout shared by tasks (both
/// directions of a relay, say). Touching it is one clock read and one
/// atomic store.
#[derive(Debug)]
pub struct Idle {
    origin: Instant,
    /// Microseconds from `origin` to the last activity.
    last: AtomicU64,
}

impl Default for Idle {
    fn default() -> Idle {
        Idle::new()
    }
}

impl Idle {
    /// Activity now.
    pub fn new() -> Idle {
        Idle {
            origin: Instant::now(),
            last: AtomicU64::new(0),
        }
    }

    /// Something happened now.
    pub fn touch(&self) {
        self.busy_until(Instant::now());
    }

    /// Something is under way until `until` (a message held for then):
    /// nothing is idle before it.
    pub fn busy_until(&self, until: Instant) {
        let micros = until.saturating_duration_since(self.origin).as_micros() as u64;
        self.last.fetch_max(micros, Relaxed);
    }

    /// When the last activity was (or will be: see [`Idle::busy_until`]).
    pub fn last(&self) -> Instant {
        self.origin + Duration::from_micros(self.last.load(Relaxed))
    }

    /// Whether nothing happened for `limit` (a sweep's question).
    pub fn is_idle(&self, limit: Duration) -> bool {
        self.last().elapsed() >= limit
    }

    /// Completes once nothing has happened for `limit`: it sleeps until the
    /// deadline the last activity set, and again if activity moved it. It
    /// fires at the deadline (timer resolution aside), not up to a whole
    /// `limit` later.
    pub async fn expired(&self, limit: Duration) {
        loop {
            let deadline = self.last() + limit;
            if Instant::now() >= deadline {
                return;
            }
            tokio::time::sleep_until(deadline).await;
        }
    }
}

impl Idle {
    /// `work` (a read, say), unless nothing happened for `limit` first
    /// (`Err(limit)`); its completion is activity. Without a limit the
    /// caller awaits `work` itself: no clock read and no extra future per
    /// read (listen's echo path).
    pub async fn bound<T>(
        &self,
        limit: Duration,
        work: impl Future<Output = T>,
    ) -> Result<T, Duration> {
        let done = tokio::select! {
            done = work => done,
            _ = self.expired(limit) => return Err(limit),
        };
        self.touch();
        Ok(done)
    }
}

/// What a relay's owner learns about the bytes going by.
pub trait Watch: Sync {
    /// `from` sent `n` bytes, which were forwarded already: called for
    /// every chunk, whether or not anything observes (the summary's byte
    /// counts).
    fn counted(&self, _from: Side, _n: usize) {}

    /// Whether [`Watch::forwarded`] must see the bytes (something records,
    /// decodes or frames them). When nothing does, a chunk costs the relay
    /// one call of [`Watch::counted`] and no future.
    fn observes(&self) -> bool {
        true
    }

    /// `from` sent `bytes`, which were forwarded and counted already
    /// (`eof`: then it closed its side; `bytes` is empty). An `Err` ends
    /// this direction with that reason, and the other side is reset.
    fn forwarded(
        &self,
        from: Side,
        bytes: &[u8],
        eof: bool,
    ) -> impl Future<Output = Result<(), String>> + Send;
}

/// How one direction ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Flow {
    /// The sender closed its side (or the other direction failed and shut
    /// this one down); the close was passed on.
    Closed,
    /// This direction failed (reset, write error, framing); the reason.
    Failed(String),
}

/// How a relayed pair ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Ending {
    /// Both directions ended: client>server, then server>client.
    Flows(Flow, Flow),
    /// Nothing moved either way for this long.
    Idle(Duration),
}

impl Ending {
    /// The failure that ended the pair, if one did.
    pub fn failure(&self) -> Option<&str> {
        match self {
            Ending::Flows(Flow::Failed(reason), _) | Ending::Flows(_, Flow::Failed(reason)) => {
                Some(reason)
            }
            _ => None,
        }
    }
}

/// Bytes forwarded each way.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Totals {
    pub to_server: u64,
    pub to_client: u64,
}

/// Relay between a client's halves and a server's until both directions
/// have ended, or the direction from `ends_with` has (a program that
/// closed its output is done: `--exec`, `send --exec`; the other
/// direction is dropped and counts as closed), or nothing moved for
/// `idle_timeout`.
pub async fn relay<W: Watch>(
    watch: &W,
    client: (ReadHalf, WriteHalf),
    server: (ReadHalf, WriteHalf),
    idle_timeout: Option<Duration>,
    ends_with: Option<Side>,
) -> (Ending, Totals) {
    let idle = Idle::new();
    let mut pair = Pair {
        watch,
        // Without a timeout nothing asks when the pair last moved: no
        // clock read per message.
        idle: idle_timeout.map(|_| &idle),
        pumps: [
            Pump::new(client.0, server.1, Side::Client),
            Pump::new(server.0, client.1, Side::Server),
        ],
        flows: [None, None],
        ends_with,
    };
    let ending = match idle_timeout {
        Some(limit) => tokio::select! {
            (up, down) = &mut pair => Ending::Flows(up, down),
            _ = idle.expired(limit) => Ending::Idle(limit),
        },
        None => {
            let (up, down) = (&mut pair).await;
            Ending::Flows(up, down)
        }
    };
    let totals = Totals {
        to_server: pair.pumps[0].forwarded,
        to_client: pair.pumps[1].forwarded,
    };
    (ending, totals)
}

/// Both directions of a relay as one future, polled by hand as tokio's
/// `copy_bidirectional` is: a wake-up polls each unfinished direction once,
/// client>server first, with no task, channel or `select!` between them.
/// (Polling the direction that did not move last first, where an answer
/// comes from, measured 4% worse added latency, interleaved: so not.) It
/// ends when both
/// directions have, or the one `ends_with` names has.
struct Pair<'w, W> {
    watch: &'w W,
    idle: Option<&'w Idle>,
    /// client>server, server>client.
    pumps: [Pump<'w>; 2],
    flows: [Option<Flow>; 2],
    ends_with: Option<Side>,
}

impl<W: Watch> Future for Pair<'_, W> {
    type Output = (Flow, Flow);

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<(Flow, Flow)> {
        let this = self.get_mut();
        for (pump, flow) in this.pumps.iter_mut().zip(&mut this.flows) {
            if flow.is_none() {
                if let Poll::Ready(ended) = pump.poll(cx, this.watch, this.idle) {
                    *flow = Some(ended);
                }
            }
        }
        let leader_done = match this.ends_with {
            Some(Side::Client) => this.flows[0].is_some(),
            Some(Side::Server) => this.flows[1].is_some(),
            None => false,
        };
        if leader_done || this.flows.iter().all(Option::is_some) {
            let [up, down] = std::mem::take(&mut this.flows).map(|f| f.unwrap_or(Flow::Closed));
            return Poll::Ready((up, down));
        }
        Poll::Pending
    }
}

/// The watch looking at a chunk (or at the end): it owns the buffer, which
/// comes back with the answer.
type Watching<'w> = Pin<Box<dyn Future<Output = (Result<(), String>, Buffer)> + Send + 'w>>;

/// Where one direction is.
enum Step<'w> {
    /// Waiting for bytes, holding no buffer.
    Reading,
    /// Passing `buf[written..len]` on.
    Writing {
        buf: Buffer,
        len: usize,
        written: usize,
    },
    /// The watch is looking at what went by (`eof`: at the end).
    Watching { watching: Watching<'w>, eof: bool },
    /// The sender closed: passing the close on.
    Closing,
}

/// One direction: forward everything `from` sends to `to`, telling the
/// watch, until `from` closes (then close `to`'s sending side) or
/// something fails (then reset `to`, so the other side learns it too).
///
/// The buffer lives only while a read is being forwarded: an idle
/// connection holds none, so memory follows the traffic in flight, not the
/// number of connections. It is taken only once the socket says it is
/// readable, from a few spare buffers per thread ([`spare_buffer`]), so a
/// busy relay neither allocates per message nor moves a buffer on a
/// wake-up that was for the other direction.
struct Pump<'w> {
    from: ReadHalf,
    /// `None` once closed or reset.
    to: Option<WriteHalf>,
    side: Side,
    /// Bytes passed on.
    forwarded: u64,
    step: Step<'w>,
}

impl<'w> Pump<'w> {
    fn new(from: ReadHalf, to: WriteHalf, side: Side) -> Pump<'w> {
        Pump {
            from,
            to: Some(to),
            side,
            forwarded: 0,
            step: Step::Reading,
        }
    }

    /// Move on as far as the sockets allow: `Ready` once this direction
    /// has ended.
    fn poll<W: Watch>(
        &mut self,
        cx: &mut Context<'_>,
        watch: &'w W,
        idle: Option<&Idle>,
    ) -> Poll<Flow> {
        let side = self.side;
        loop {
            let Some(to) = self.to.as_mut() else {
                return Poll::Ready(Flow::Closed);
            };
            match &mut self.step {
                Step::Reading => {
                    // Readiness first: a wake-up for the other direction
                    // costs this one no buffer.
                    ready!(self.from.poll_read_ready(cx));
                    let mut buf = spare_buffer();
                    let mut read = ReadBuf::new(&mut buf);
                    match Pin::new(&mut self.from).poll_read(cx, &mut read) {
                        Poll::Pending => {
                            give_back(buf);
                            return Poll::Pending;
                        }
                        Poll::Ready(Err(e)) if e.kind() == std::io::ErrorKind::WouldBlock => {
                            give_back(buf);
                        }
                        Poll::Ready(Err(e)) => {
                            give_back(buf);
                            let reason = format!("{}: {}", side.as_str(), net::describe_io(&e));
                            return Poll::Ready(self.reset(reason));
                        }
                        Poll::Ready(Ok(())) => {
                            let len = read.filled().len();
                            touch(idle);
                            self.step = match len {
                                0 if watch.observes() => Step::Watching {
                                    watching: watching(watch, side, buf, 0, true),
                                    eof: true,
                                },
                                0 => {
                                    give_back(buf);
                                    Step::Closing
                                }
                                len => Step::Writing {
                                    buf,
                                    len,
                                    written: 0,
                                },
                            };
                        }
                    }
                }
                Step::Writing { buf, len, written } => {
                    while *written < *len {
                        match Pin::new(&mut *to).poll_write(cx, &buf[*written..*len]) {
                            Poll::Pending => return Poll::Pending,
                            Poll::Ready(Ok(0)) => {
                                let e = std::io::Error::from(std::io::ErrorKind::WriteZero);
                                return Poll::Ready(self.write_failed(&e));
                            }
                            Poll::Ready(Ok(n)) => *written += n,
                            Poll::Ready(Err(e)) => return Poll::Ready(self.write_failed(&e)),
                        }
                    }
                    if to.flushes() {
                        if let Err(e) = ready!(Pin::new(&mut *to).poll_flush(cx)) {
                            return Poll::Ready(self.write_failed(&e));
                        }
                    }
                    let len = *len;
                    touch(idle);
                    self.forwarded += len as u64;
                    watch.counted(side, len);
                    let Step::Writing { buf, .. } =
                        std::mem::replace(&mut self.step, Step::Reading)
                    else {
                        unreachable!("this arm is Writing")
                    };
                    if watch.observes() {
                        self.step = Step::Watching {
                            watching: watching(watch, side, buf, len, false),
                            eof: false,
                        };
                    } else {
                        give_back(buf);
                    }
                }
                Step::Watching { watching, eof } => {
                    let (seen, buf) = ready!(watching.as_mut().poll(cx));
                    give_back(buf);
                    if let Err(reason) = seen {
                        return Poll::Ready(self.reset(reason));
                    }
                    self.step = match eof {
                        true => Step::Closing,
                        false => Step::Reading,
                    };
                }
                Step::Closing => {
                    // Everything before the FIN was written: pass it on.
                    let _ = ready!(Pin::new(&mut *to).poll_shutdown(cx));
                    self.to = None;
                    return Poll::Ready(Flow::Closed);
                }
            }
        }
    }

    fn write_failed(&mut self, e: &std::io::Error) -> Flow {
        let other = match self.side {
            Side::Client => "server",
            Side::Server => "client",
        };
        self.reset(format!("{other}: {}", net::describe_io(e)))
    }

    /// This direction failed: reset the connection `to` belongs to, and
    /// wake the other direction (which reads from it) with an end of
    /// stream.
    fn reset(&mut self, reason: String) -> Flow {
        if let Some(to) = self.to.take() {
            to.reset();
        }
        Flow::Failed(reason)
    }
}

/// The watch's look at `buf[..len]`, owning the buffer until it is done.
fn watching<'w, W: Watch>(
    watch: &'w W,
    side: Side,
    buf: Buffer,
    len: usize,
    eof: bool,
) -> Watching<'w> {
    Box::pin(async move {
        let seen = watch.forwarded(side, &buf[..len], eof).await;
        (seen, buf)
    })
}

fn touch(idle: Option<&Idle>) {
    if let Some(idle) = idle {
        idle.touch();
    }
}

/// A relay buffer: [`RELAY_BUFFER`] bytes, zeroed once when it is made
/// and reused as it is (a read fills the front), so no read pays for
/// initialising it and no `unsafe` is needed to read into it.
type Buffer = Vec<u8>;

/// How many spare relay buffers a thread keeps (at most 512 KiB a thread,
/// whatever the number of connections).
const SPARE_BUFFERS: usize = 8;

thread_local! {
    static SPARE: std::cell::RefCell<Vec<Buffer>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// A relay buffer: a spare one of this thread's, or a new one.
fn spare_buffer() -> Buffer {
    SPARE
        .with(|spare| spare.borrow_mut().pop())
        .unwrap_or_else(|| vec![0; RELAY_BUFFER])
}

/// Keep `buf` for the next read on this thread, if there is room and it
/// is a whole relay buffer.
fn give_back(buf: Buffer) {
    if buf.len() != RELAY_BUFFER {
        return;
    }
    SPARE.with(|spare| {
        let mut spare = spare.borrow_mut();
        if spare.len() < SPARE_BUFFERS {
            spare.push(buf);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn idle_fires_at_the_deadline_that_activity_moved() {
        let idle = Idle::new();
        let limit = Duration::from_secs(1);
        let start = Instant::now();
        tokio::time::sleep(Duration::from_millis(600)).await;
        idle.touch();
        idle.expired(limit).await;
        let waited = start.elapsed();
        // Deadline: last activity (600 ms) + 1 s, within a timer tick.
        assert!(
            waited >= Duration::from_millis(1600) && waited < Duration::from_millis(1610),
            "{waited:?}"
        );
        assert!(idle.is_idle(limit));
    }

    #[tokio::test(start_paused = true)]
    async fn idle_waits_for_what_is_under_way() {
        let idle = Idle::new();
        let start = Instant::now();
        idle.busy_until(start + Duration::from_secs(2));
        assert!(!idle.is_idle(Duration::from_millis(500)));
        idle.expired(Duration::from_millis(500)).await;
        let waited = start.elapsed();
        assert!(
            waited >= Duration::from_millis(2500) && waited < Duration::from_millis(2510),
            "{waited:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn idle_without_activity_fires_after_the_limit() {
        let idle = Idle::new();
        let start = Instant::now();
        idle.expired(Duration::from_millis(250)).await;
        let waited = start.elapsed();
        assert!(
            waited >= Duration::from_millis(250) && waited < Duration::from_millis(260),
            "{waited:?}"
        );
    }
}
