//! `proxy --fault`: the relay that misbehaves on purpose.
//!
//! The plain relay (`relay.rs`) forwards bytes the moment they arrive and
//! frames them only to record them. Faults act on whole messages, so here
//! each direction frames first (by `--frame`; raw: each chunk is a
//! message), asks the direction's dice (`fault::DirectionFaults`) what to
//! do with each message, records every fault it injects, and hands what is
//! to be delivered to a writer that holds it until its time, in order, and
//! paces it for `bandwidth=`. The writer is its own future beside the
//! reader (one queue between them), so a held message never delays the
//! reading of the next one: a delay counts from each message's arrival.
//! Both are polled by one future ([`Passing`]) that polls them again while
//! either moves the queue, so no waker passes between them: a wake-up of
//! the task from inside itself would have tokio queue it again and rouse
//! an idle worker thread to steal it, once per message.
//!
//! Both write halves are shared by the two directions: a Modbus exception
//! goes back to the sender, and a reset takes both connections down at
//! once. The records show what was delivered (a corrupted message as it
//! went out, a duplicate twice, a dropped one not at all), so a capture
//! taken with faults shows what each side really saw. Without `--fault`
//! none of this runs: the plain relay is untouched.

use std::{
    collections::VecDeque,
    future::{poll_fn, Future},
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use bytes::{Bytes, BytesMut};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    sync::Mutex,
    time::Instant,
};

use crate::{
    cmd::server::boxed_future,
    fault::{transmit_time, DirectionFaults, Fate, Faults, Outcome},
    frame::{Decoder, FrameSpec},
    net::{self, ReadHalf, WriteHalf},
    record::Side,
    relay::{Ending, Flow, Idle, Totals, RELAY_BUFFER},
};

/// What a faulted relay tells its owner: the bytes received (for the
/// summary's counts, as they arrived), the delivered bytes (as a relay's
/// `Watch`, each call one message) and each injected fault.
pub trait FaultWatch: Sync {
    fn received(&self, from: Side, n: usize);

    fn delivered(
        &self,
        from: Side,
        bytes: &[u8],
        eof: bool,
    ) -> impl std::future::Future<Output = Result<(), String>> + Send;

    fn injected(
        &self,
        from: Side,
        outcome: &Outcome,
    ) -> impl std::future::Future<Output = ()> + Send;
}

/// How many decided messages may wait for their time in one direction
/// before its reader stops reading: bounds what a delay holds (32
/// messages of at most `--max-frame` each, 2 MiB at the default), and
/// slows the sender as a slow line would.
const HELD: usize = 32;

/// A message's way from a direction's reader to its writer.
enum Item {
    /// Write `bytes` at `at`, `times` times; tell the watch when
    /// `recorded` (not the bytes between stx-etx frames, which the plain
    /// relay's records skip too).
    Deliver {
        at: Instant,
        bytes: Bytes,
        times: u8,
        recorded: bool,
    },
    /// Write `answer` back to the sender (a Modbus exception) in place of
    /// `request`, which is recorded as sent (the client did send it) and
    /// goes no further.
    Answer { request: Bytes, answer: Vec<u8> },
    /// Reset both sides.
    Reset,
    /// The sender closed its side: pass it on.
    Closed,
    /// The sender failed (the reason): reset the other side.
    Failed(String),
}

/// The two connections' write halves, shared by both directions; `None`
/// once reset.
struct Halves {
    client: Mutex<Option<WriteHalf>>,
    server: Mutex<Option<WriteHalf>>,
}

impl Halves {
    fn toward(&self, side: Side) -> &Mutex<Option<WriteHalf>> {
        match side {
            Side::Client => &self.client,
            Side::Server => &self.server,
        }
    }

    /// Reset both connections (each peer sees a reset, not an end).
    async fn reset_both(&self) {
        for half in [&self.client, &self.server] {
            if let Some(half) = half.lock().await.take() {
                half.reset();
            }
        }
    }
}

/// Relay with faults between a client's halves and a server's until both
/// directions have ended, or nothing moved for `idle_timeout`.
#[allow(clippy::too_many_arguments)]
pub async fn relay<W: FaultWatch>(
    watch: &W,
    faults: &Faults,
    conn: u64,
    frame: &FrameSpec,
    max_frame: usize,
    client: (ReadHalf, WriteHalf),
    server: (ReadHalf, WriteHalf),
    idle_timeout: Option<Duration>,
) -> (Ending, Totals) {
    let idle = Idle::new();
    // Touched only when something waits for it to expire.
    let touched = idle_timeout.map(|_| &idle);
    let halves = Arc::new(Halves {
        client: Mutex::new(Some(client.1)),
        server: Mutex::new(Some(server.1)),
    });
    let direction = |side: Side| Direction {
        side,
        faults: faults.direction(conn, side),
        decoder: (*frame != FrameSpec::Raw)
            .then(|| Decoder::new(frame.clone(), max_frame).reading(side)),
    };
    // Each direction boxed apart (`server::boxed_future`): built in this
    // poll, they made it reserve 14 KiB of stack on every wake-up.
    let up = boxed_future(|| direction(Side::Client).run(watch, touched, &halves, client.0));
    let down = boxed_future(|| direction(Side::Server).run(watch, touched, &halves, server.0));
    let both = async { tokio::join!(up, down) };
    let ((client_flow, to_server), (server_flow, to_client)) = match idle_timeout {
        Some(limit) => tokio::select! {
            flows = both => flows,
            // Both connections close (as the plain relay's do) when the
            // halves go.
            _ = idle.expired(limit) => return (Ending::Idle(limit), Totals::default()),
        },
        None => both.await,
    };
    (
        Ending::Flows(client_flow, server_flow),
        Totals {
            to_server,
            to_client,
        },
    )
}

/// One direction: what `side` sends, toward the other side.
struct Direction {
    side: Side,
    faults: Option<DirectionFaults>,
    /// `None`: raw, each chunk is a message.
    decoder: Option<Decoder>,
}

impl Direction {
    async fn run<W: FaultWatch>(
        mut self,
        watch: &W,
        idle: Option<&Idle>,
        halves: &Halves,
        from: ReadHalf,
    ) -> (Flow, u64) {
        let queue = Queue::default();
        let bandwidth = self.faults.as_ref().and_then(DirectionFaults::bandwidth);
        let side = self.side;
        let read = std::pin::pin!(self.read(watch, idle, from, Sender(&queue)));
        let write = std::pin::pin!(write(
            watch,
            idle,
            halves,
            side,
            bandwidth,
            Receiver(&queue)
        ));
        let (read_flow, (write_flow, bytes)) = Passing::new(&queue, read, write).await;
        // A fault the reader decided (a reset) or a failure the writer met
        // says more than the other half's end.
        let flow = match (read_flow, write_flow) {
            (Flow::Failed(reason), _) | (_, Flow::Failed(reason)) => Flow::Failed(reason),
            _ => Flow::Closed,
        };
        (flow, bytes)
    }

    /// Read, frame, decide; queue what is to be delivered.
    async fn read<W: FaultWatch>(
        &mut self,
        watch: &W,
        idle: Option<&Idle>,
        mut from: ReadHalf,
        tx: Sender<'_>,
    ) -> Flow {
        let mut at = Instant::now();
        loop {
            // Raw: a buffer for this read only (it becomes the message), so
            // an idle connection holds none, as in the plain relay.
            let mut buf = BytesMut::new();
            let read = match &mut self.decoder {
                Some(decoder) => from.read_buf(decoder.buffer_mut()).await,
                None => {
                    from.readable().await;
                    buf.reserve(RELAY_BUFFER);
                    from.read_buf(&mut buf).await
                }
            };
            if let Some(idle) = idle {
                idle.touch();
            }
            let n = match read {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(e) => {
                    let reason = format!("{}: {}", self.side.as_str(), net::describe_io(&e));
                    let _ = tx.send(Item::Failed(reason.clone())).await;
                    return Flow::Failed(reason);
                }
            };
            let eof = n == 0;
            watch.received(self.side, n);
            let arrived = Instant::now();
            let mut queued = false;
            // Raw: the chunk read is the one message.
            let mut chunk = (!eof).then(|| buf.freeze());
            loop {
                // Each message as it is framed, decided and queued before the
                // next is cut: nothing is collected. A piece that is not a
                // whole message (bytes between stx-etx frames, what is left
                // of a frame when the sender closes, unless silence ends
                // this framing's frames) passes on as it came,
                // in its place: faults act on messages, and a truncated
                // request is not one to answer.
                let piece = match &mut self.decoder {
                    None => chunk.take().map(Piece::Message),
                    Some(decoder) => match decoder.take_between() {
                        Some(between) => Some(Piece::Between(between)),
                        None => match decoder.next_frame() {
                            Ok(Some(frame)) => Some(Piece::Message(frame)),
                            // Where silence ends messages, the end of the
                            // stream ends one too.
                            Ok(None) if eof && decoder.ends_by_silence() => {
                                decoder.finish().map(Piece::Message)
                            }
                            Ok(None) if eof => decoder.finish().map(Piece::CutShort),
                            Ok(None) => None,
                            Err(e) => {
                                let reason = format!("{} messages: {e}", self.side.as_str());
                                let _ = tx.send(Item::Failed(reason.clone())).await;
                                return Flow::Failed(reason);
                            }
                        },
                    },
                };
                let decided = match piece {
                    None => break,
                    Some(Piece::Message(message)) => {
                        self.decide(watch, message, arrived, &mut at).await
                    }
                    // A stalled direction passes nothing on at all.
                    Some(Piece::Between(_) | Piece::CutShort(_))
                        if self.faults.as_ref().is_some_and(DirectionFaults::stalled) =>
                    {
                        None
                    }
                    Some(Piece::Between(bytes)) => {
                        Some(deliver(bytes, arrived, Duration::ZERO, &mut at, 1, false))
                    }
                    Some(Piece::CutShort(bytes)) => {
                        Some(deliver(bytes, arrived, Duration::ZERO, &mut at, 1, true))
                    }
                };
                let item = match decided {
                    Some(Item::Reset) => {
                        let _ = tx.send(Item::Reset).await;
                        return Flow::Failed(format!(
                            "fault: reset ({} message)",
                            self.side.as_str()
                        ));
                    }
                    Some(item) => item,
                    None => continue,
                };
                if let (Some(idle), Item::Deliver { at, .. }) = (idle, &item) {
                    // A held message is activity until it is delivered: the
                    // connection is not idle while the proxy holds it.
                    idle.busy_until(*at);
                }
                if tx.send(item).await.is_err() {
                    // The writer is gone: the other side failed.
                    return Flow::Closed;
                }
                queued = true;
            }
            if eof {
                let _ = tx.send(Item::Closed).await;
                return Flow::Closed;
            }
            if queued && self.decoder.is_some() {
                // What was just queued are slices of the decoder's buffer,
                // and the next read reserves room in it: once the writer
                // has sent and dropped them, the buffer is the reader's
                // alone and is reused where it is; still shared, the
                // reserve would allocate a new one (and `split_to` its
                // shared header): two allocations per message.
                WriterFirst(false).await;
            }
        }
    }

    /// What becomes of one message; `at` is when the last one is due, so
    /// that order is kept whatever the jitter.
    async fn decide<W: FaultWatch>(
        &mut self,
        watch: &W,
        message: Bytes,
        arrived: Instant,
        at: &mut Instant,
    ) -> Option<Item> {
        let Some(faults) = self.faults.as_mut().filter(|f| f.decides()) else {
            return Some(deliver(message, arrived, Duration::ZERO, at, 1, true));
        };
        let outcome = faults.decide(&message);
        watch.injected(self.side, &outcome).await;
        match outcome.fate {
            Fate::Forward(times) => {
                let bytes = outcome.apply(message);
                Some(deliver(bytes, arrived, outcome.hold, at, times, true))
            }
            Fate::Drop | Fate::Stall => None,
            Fate::Reset => Some(Item::Reset),
            // Its own bytes, not a slice pinning the reader's buffer while
            // it waits behind a held message (see `deliver`).
            Fate::Answer(answer) => Some(Item::Answer {
                request: Bytes::copy_from_slice(&message),
                answer,
            }),
        }
    }
}

/// What a direction's reader cuts from the stream.
enum Piece {
    /// A whole message: the faults decide what becomes of it.
    Message(Bytes),
    /// Bytes between stx-etx frames: passed on as they came, unrecorded.
    Between(Bytes),
    /// What is left of a message when the sender closed: passed on as it
    /// came (a truncated request is not one to answer), and recorded.
    CutShort(Bytes),
}

/// `bytes`, which `arrived`, to be delivered `times` times once held for
/// `hold`, or after what came before them if that is later (`at`: when the
/// last one is due, moved to this one's time), so order is kept whatever
/// the delays.
fn deliver(
    bytes: Bytes,
    arrived: Instant,
    hold: Duration,
    at: &mut Instant,
    times: u8,
    recorded: bool,
) -> Item {
    *at = (*at).max(arrived + hold);
    // A frame is a slice of the reader's buffer: waiting in the queue (held,
    // or behind a held message), it would pin that buffer and every next
    // read would need a new one (twice the plain proxy's memory under the
    // soak's load). One that waits gets its own bytes.
    let bytes = match *at > arrived {
        true => Bytes::copy_from_slice(&bytes),
        false => bytes,
    };
    Item::Deliver {
        at: *at,
        bytes,
        times,
        recorded,
    }
}

/// Deliver what the reader queued, each at its time, paced to `bandwidth`
/// bits a second when set: (how it ended, bytes delivered).
async fn write<W: FaultWatch>(
    watch: &W,
    idle: Option<&Idle>,
    halves: &Halves,
    side: Side,
    bandwidth: Option<u64>,
    rx: Receiver<'_>,
) -> (Flow, u64) {
    let other = match side {
        Side::Client => Side::Server,
        Side::Server => Side::Client,
    };
    let mut sent = 0u64;
    // When the paced line is free again.
    let mut free = Instant::now();
    while let Some(item) = rx.recv().await {
        match item {
            Item::Deliver {
                at,
                bytes,
                times,
                recorded,
            } => {
                if at > Instant::now() {
                    tokio::time::sleep_until(at).await;
                }
                for _ in 0..times {
                    let written = match bandwidth {
                        Some(bits) => paced(halves.toward(other), &bytes, bits, &mut free).await,
                        None => send(halves.toward(other), &bytes).await,
                    };
                    if let Err(reason) = written {
                        halves.reset_both().await;
                        return (Flow::Failed(reason), sent);
                    }
                    if let Some(idle) = idle {
                        idle.touch();
                    }
                    sent += bytes.len() as u64;
                    if !recorded {
                        continue;
                    }
                    if let Err(reason) = watch.delivered(side, &bytes, false).await {
                        halves.reset_both().await;
                        return (Flow::Failed(reason), sent);
                    }
                }
            }
            Item::Answer { request, answer } => {
                let seen = match watch.delivered(side, &request, false).await {
                    Ok(()) if send(halves.toward(side), &answer).await.is_ok() => {
                        watch.delivered(other, &answer, false).await
                    }
                    seen => seen,
                };
                if let Err(reason) = seen {
                    halves.reset_both().await;
                    return (Flow::Failed(reason), sent);
                }
            }
            Item::Reset => {
                halves.reset_both().await;
                return (Flow::Closed, sent);
            }
            Item::Closed => {
                let _ = watch.delivered(side, &[], true).await;
                if let Some(half) = halves.toward(other).lock().await.as_mut() {
                    let _ = half.shutdown().await;
                }
                return (Flow::Closed, sent);
            }
            Item::Failed(reason) => {
                if let Some(half) = halves.toward(other).lock().await.take() {
                    half.reset();
                }
                return (Flow::Failed(reason), sent);
            }
        }
    }
    (Flow::Closed, sent)
}

/// The items between a direction's reader and its writer: at most
/// [`HELD`] waiting. Both ends only ever run inside [`Passing`], which
/// polls them again whenever the queue moved, so waiting for room or for an
/// item registers no waker.
#[derive(Default)]
struct Queue {
    state: std::sync::Mutex<QueueState>,
}

#[derive(Default)]
struct QueueState {
    items: VecDeque<Item>,
    /// Pushes, pops and ends so far: [`Passing`] polls again while it grows.
    moves: u64,
    reader_gone: bool,
    writer_gone: bool,
}

impl Queue {
    fn state(&self) -> std::sync::MutexGuard<'_, QueueState> {
        // Nothing panics while holding it; a poisoned queue is still whole.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn moves(&self) -> u64 {
        self.state().moves
    }

    /// One end is gone (`end` names which flag): the other learns it when
    /// [`Passing`] polls it again.
    fn gone(&self, end: fn(&mut QueueState) -> &mut bool) {
        let mut state = self.state();
        *end(&mut state) = true;
        state.moves += 1;
    }
}

/// The reader's end; dropping it tells the writer no more items come.
struct Sender<'q>(&'q Queue);

impl Sender<'_> {
    /// Queue `item` once there is room; `Err` if the writer is gone.
    async fn send(&self, item: Item) -> Result<(), ()> {
        let mut item = Some(item);
        poll_fn(|_| {
            let mut state = self.0.state();
            if state.writer_gone {
                return Poll::Ready(Err(()));
            }
            if state.items.len() >= HELD {
                return Poll::Pending;
            }
            state.items.extend(item.take());
            state.moves += 1;
            Poll::Ready(Ok(()))
        })
        .await
    }
}

impl Drop for Sender<'_> {
    fn drop(&mut self) {
        self.0.gone(|state| &mut state.reader_gone);
    }
}

/// The writer's end; dropping it tells the reader to stop.
struct Receiver<'q>(&'q Queue);

impl Receiver<'_> {
    /// The next item; `None` once the queue is empty and the reader gone.
    async fn recv(&self) -> Option<Item> {
        poll_fn(|_| {
            let mut state = self.0.state();
            match state.items.pop_front() {
                Some(item) => {
                    state.moves += 1;
                    Poll::Ready(Some(item))
                }
                None if state.reader_gone => Poll::Ready(None),
                None => Poll::Pending,
            }
        })
        .await
    }
}

impl Drop for Receiver<'_> {
    fn drop(&mut self) {
        self.0.gone(|state| &mut state.writer_gone);
    }
}

/// Pending once, with no waker, then ready: the reader lets the writer
/// run before it reads on. Await it only right after queueing an item:
/// the queue moved in this round, so [`Passing`] polls again (the writer
/// first, then the reader, which then goes on).
struct WriterFirst(bool);

impl Future for WriterFirst {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        Poll::Pending
    }
}

/// A direction's reader and writer polled together until both are done:
/// after each round, again if the queue between them moved (the one may now
/// go on where it waited for the other); otherwise they wait for their
/// sockets and timers, which wake the task.
struct Passing<'a, R: Future, W: Future> {
    queue: &'a Queue,
    reader: Pin<&'a mut R>,
    writer: Pin<&'a mut W>,
    read: Option<R::Output>,
    written: Option<W::Output>,
}

impl<'a, R: Future, W: Future> Passing<'a, R, W> {
    fn new(queue: &'a Queue, reader: Pin<&'a mut R>, writer: Pin<&'a mut W>) -> Self {
        Passing {
            queue,
            reader,
            writer,
            read: None,
            written: None,
        }
    }
}

impl<R: Future, W: Future> Future for Passing<'_, R, W>
where
    R::Output: Unpin,
    W::Output: Unpin,
{
    type Output = (R::Output, W::Output);

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        loop {
            let before = this.queue.moves();
            if this.read.is_none() {
                if let Poll::Ready(out) = this.reader.as_mut().poll(cx) {
                    this.read = Some(out);
                }
            }
            if this.written.is_none() {
                if let Poll::Ready(out) = this.writer.as_mut().poll(cx) {
                    this.written = Some(out);
                }
            }
            if this.read.is_some() && this.written.is_some() {
                let read = this.read.take().expect("checked");
                let written = this.written.take().expect("checked");
                return Poll::Ready((read, written));
            }
            if this.queue.moves() == before {
                return Poll::Pending;
            }
        }
    }
}

/// Write all of `bytes` to a shared half.
async fn send(half: &Mutex<Option<WriteHalf>>, bytes: &[u8]) -> Result<(), String> {
    match half.lock().await.as_mut() {
        Some(half) => half
            .send(bytes)
            .await
            .map_err(|e| net::describe_io(&e).to_string()),
        None => Err("reset".into()),
    }
}

/// [`paced_send`] to a shared half.
async fn paced(
    half: &Mutex<Option<WriteHalf>>,
    bytes: &[u8],
    bits: u64,
    free: &mut Instant,
) -> Result<(), String> {
    for (due, piece) in pieces_on_the_line(bytes, bits, free) {
        // The half is shared (an exception or a reset from the other
        // direction takes it): held only to send, not while the line
        // carries the piece.
        tokio::time::sleep_until(due).await;
        send(half, piece).await?;
    }
    Ok(())
}

/// Write `bytes` as a line of `bits` a second would carry them: in pieces
/// of at most 20 ms worth, each once the line has carried all of it (a
/// 12-byte request at 9600 bit/s arrives 10 ms after it was sent), from
/// when the line is free (`free`, kept between messages, so back-to-back
/// messages queue as on a real line).
pub async fn paced_send(
    half: &mut WriteHalf,
    bytes: &[u8],
    bits: u64,
    free: &mut Instant,
) -> std::io::Result<()> {
    for (due, piece) in pieces_on_the_line(bytes, bits, free) {
        tokio::time::sleep_until(due).await;
        half.send(piece).await?;
    }
    Ok(())
}

/// `bytes` cut in pieces of at most 20 ms worth at `bits` a second, each
/// with when the line has carried it, from `free` (moved past each).
fn pieces_on_the_line<'b>(
    bytes: &'b [u8],
    bits: u64,
    free: &'b mut Instant,
) -> impl Iterator<Item = (Instant, &'b [u8])> + 'b {
    let piece = ((bits / 8 / 50) as usize).max(1);
    *free = (*free).max(Instant::now());
    bytes.chunks(piece).map(move |chunk| {
        *free += transmit_time(chunk.len(), bits);
        (*free, chunk)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
    use std::task::{Wake, Waker};

    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Relaxed);
        }
    }

    /// A reader that queues more than the queue holds and a writer that
    /// takes them all: passed through in one poll, with no wake-up of the
    /// task (the tokio channel this replaced woke it once per message).
    #[test]
    fn reader_and_writer_pass_items_without_waking_the_task() {
        let queue = Queue::default();
        let read = std::pin::pin!(async {
            let tx = Sender(&queue);
            for n in 0..HELD * 3 {
                let answer = vec![n as u8];
                let request = Bytes::new();
                tx.send(Item::Answer { request, answer }).await.unwrap();
            }
        });
        let write = std::pin::pin!(async {
            let rx = Receiver(&queue);
            let mut got = Vec::new();
            while let Some(Item::Answer { answer: bytes, .. }) = rx.recv().await {
                got.extend(bytes);
            }
            got
        });
        let mut passing = std::pin::pin!(Passing::new(&queue, read, write));
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let mut cx = Context::from_waker(&waker);
        let Poll::Ready(((), got)) = passing.as_mut().poll(&mut cx) else {
            panic!("both ends should be done after one poll");
        };
        let expected: Vec<u8> = (0..HELD * 3).map(|n| n as u8).collect();
        assert_eq!(got, expected);
        assert_eq!(count.0.load(Relaxed), 0);
    }

    /// `WriterFirst`: what the reader queued is written (and dropped)
    /// before the reader reads on, within the same poll.
    #[test]
    fn the_writer_runs_before_the_reader_reads_on() {
        let queue = Queue::default();
        let log = std::sync::Mutex::new(Vec::new());
        let read = std::pin::pin!(async {
            let tx = Sender(&queue);
            tx.send(Item::Reset).await.unwrap();
            log.lock().unwrap().push("queued");
            WriterFirst(false).await;
            log.lock().unwrap().push("read on");
        });
        let write = std::pin::pin!(async {
            let rx = Receiver(&queue);
            while rx.recv().await.is_some() {
                log.lock().unwrap().push("written");
            }
        });
        let mut passing = std::pin::pin!(Passing::new(&queue, read, write));
        let mut cx = Context::from_waker(Waker::noop());
        assert!(passing.as_mut().poll(&mut cx).is_ready());
        assert_eq!(*log.lock().unwrap(), ["queued", "written", "read on"]);
    }

    /// The writer gone (its side failed): the reader's next send fails
    /// instead of waiting for room forever.
    #[test]
    fn a_reader_learns_the_writer_is_gone() {
        let queue = Queue::default();
        drop(Receiver(&queue));
        let tx = Sender(&queue);
        let mut send = std::pin::pin!(tx.send(Item::Reset));
        let waker = Waker::noop();
        let mut cx = Context::from_waker(waker);
        assert_eq!(send.as_mut().poll(&mut cx), Poll::Ready(Err(())));
    }
}
