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
    sync::atomic::{AtomicU64, Ordering::Relaxed},
    time::Duration,
};

use bytes::BytesMut;
use tokio::{io::AsyncReadExt, time::Instant};

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
        let micros = self.origin.elapsed().as_micros() as u64;
        self.last.fetch_max(micros, Relaxed);
    }

    /// When the last activity was.
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
    /// `from` sent `bytes`, which were forwarded already (`eof`: then it
    /// closed its side; `bytes` is empty). An `Err` ends this direction
    /// with that reason, and the other side is reset.
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
    // Without a timeout nothing asks when the pair last moved: no clock
    // read per message.
    let touched = idle_timeout.map(|_| &idle);
    let (to_server, to_client) = (AtomicU64::new(0), AtomicU64::new(0));
    let both = async {
        let up = pump(watch, touched, &to_server, client.0, server.1, Side::Client);
        let down = pump(watch, touched, &to_client, server.0, client.1, Side::Server);
        tokio::pin!(up, down);
        let (mut client_flow, mut server_flow) = (None, None);
        loop {
            tokio::select! {
                flow = &mut up, if client_flow.is_none() => client_flow = Some(flow),
                flow = &mut down, if server_flow.is_none() => server_flow = Some(flow),
            }
            let leader_done = match ends_with {
                Some(Side::Client) => client_flow.is_some(),
                Some(Side::Server) => server_flow.is_some(),
                None => false,
            };
            if leader_done || (client_flow.is_some() && server_flow.is_some()) {
                break (
                    client_flow.unwrap_or(Flow::Closed),
                    server_flow.unwrap_or(Flow::Closed),
                );
            }
        }
    };
    let ending = match idle_timeout {
        Some(limit) => tokio::select! {
            flows = both => Ending::Flows(flows.0, flows.1),
            _ = idle.expired(limit) => Ending::Idle(limit),
        },
        None => {
            let flows = both.await;
            Ending::Flows(flows.0, flows.1)
        }
    };
    let totals = Totals {
        to_server: to_server.load(Relaxed),
        to_client: to_client.load(Relaxed),
    };
    (ending, totals)
}

/// Forward everything `from` sends to `to`, telling the watch, until `from`
/// closes (then close `to`'s sending side) or something fails (then reset
/// `to`, so the other side learns it too).
///
/// The buffer lives only while a read is being forwarded: an idle
/// connection holds none, so memory follows the traffic in flight, not the
/// number of connections. It comes from, and goes back to, a few spare
/// buffers per thread ([`spare_buffer`]), so a busy relay does not
/// allocate and free 64 KiB per message.
async fn pump<W: Watch>(
    watch: &W,
    idle: Option<&Idle>,
    counter: &AtomicU64,
    mut from: ReadHalf,
    mut to: WriteHalf,
    side: Side,
) -> Flow {
    use tokio::io::AsyncWriteExt;
    let other = match side {
        Side::Client => "server",
        Side::Server => "client",
    };
    loop {
        // One poll per wake-up: a spare buffer is taken for the read and
        // given back at once when nothing is there, so a connection that
        // waits holds none. A short read tells tokio the socket is
        // drained, which saves the read that would only say "would block".
        let (read, buf) = std::future::poll_fn(|cx| {
            let mut buf = spare_buffer();
            let polled = std::pin::pin!(from.read_buf(&mut buf)).poll(cx);
            match polled {
                std::task::Poll::Pending => {
                    give_back(buf);
                    std::task::Poll::Pending
                }
                std::task::Poll::Ready(read) => std::task::Poll::Ready((read, buf)),
            }
        })
        .await;
        let n = match read {
            Ok(0) => {
                touch(idle);
                if let Err(reason) = watch.forwarded(side, &[], true).await {
                    return reset(to, reason);
                }
                // Everything before the FIN was written: pass it on.
                let _ = to.shutdown().await;
                return Flow::Closed;
            }
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                give_back(buf);
                continue;
            }
            Err(e) => return reset(to, format!("{}: {}", side.as_str(), net::describe_io(&e))),
        };
        touch(idle);
        if let Err(e) = to.send(&buf).await {
            return reset(to, format!("{other}: {}", net::describe_io(&e)));
        }
        touch(idle);
        counter.fetch_add(n as u64, Relaxed);
        let forwarded = watch.forwarded(side, &buf, false).await;
        give_back(buf);
        if let Err(reason) = forwarded {
            return reset(to, reason);
        }
    }
}

fn touch(idle: Option<&Idle>) {
    if let Some(idle) = idle {
        idle.touch();
    }
}

/// How many spare relay buffers a thread keeps (at most 512 KiB a thread,
/// whatever the number of connections).
const SPARE_BUFFERS: usize = 8;

thread_local! {
    static SPARE: std::cell::RefCell<Vec<BytesMut>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// A relay buffer: a spare one of this thread's, or a new one.
fn spare_buffer() -> BytesMut {
    SPARE
        .with(|spare| spare.borrow_mut().pop())
        .unwrap_or_else(|| BytesMut::with_capacity(RELAY_BUFFER))
}

/// Keep `buf` for the next read on this thread, if there is room and it
/// is whole (a buffer the watch kept a piece of is let go).
fn give_back(mut buf: BytesMut) {
    buf.clear();
    if buf.capacity() < RELAY_BUFFER {
        return;
    }
    SPARE.with(|spare| {
        let mut spare = spare.borrow_mut();
        if spare.len() < SPARE_BUFFERS {
            spare.push(buf);
        }
    });
}

/// One direction failed: reset the connection `to` belongs to, and wake
/// the other direction (which reads from it) with an end of stream.
fn reset(to: WriteHalf, reason: String) -> Flow {
    to.reset();
    Flow::Failed(reason)
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
