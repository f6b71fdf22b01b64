//! One client exchange over any transport: read a reply by a `reply.rs`
//! rule, datagrams or stream.
//!
//! `send` and `replay` are compositions of these pieces (the piped `repl`
//! reads through its session's reader task, but waits by the same
//! `reply.rs` rules and reconnects with the same [`net::Backoff`]):
//! they decide what to send and what a reply must look like; the reading,
//! framing, waiting and deadline handling happen here, once. Transports are
//! anything that reads (`AsyncRead`) or a connected UDP socket, so a new
//! transport (Unix, TLS) plugs in without touching the subcommands. See
//! `docs/ARCHITECTURE.md`.

use std::time::Instant;

use anyhow::Result;
use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::{
    frame::{Decoder, FrameError},
    net,
    reply::{End, Until, Verdict, Wait},
};

/// A reply as it arrived: frames (with `--frame`), read chunks (without),
/// or the exact captured byte count (`replay`), each with when it came in.
#[derive(Debug, Default)]
pub struct Reply {
    pub parts: Vec<(Bytes, Instant)>,
}

impl Reply {
    pub fn bytes(&self) -> Vec<u8> {
        self.parts
            .iter()
            .flat_map(|(b, _)| b.iter().copied())
            .collect()
    }

    pub fn len(&self) -> usize {
        self.parts.iter().map(|(b, _)| b.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.parts.is_empty()
    }
}

/// Move what the decoder already holds into the reply, as far as the rule
/// wants it: frames up to the count, the whole buffer as one chunk without
/// framing, or exactly the byte count. Bytes beyond the reply stay in the
/// decoder for the next one.
pub fn take_ready(
    decoder: &mut Decoder,
    wait: &mut Wait,
    reply: &mut Reply,
) -> Result<(), FrameError> {
    let now = Instant::now();
    match wait.rule().until {
        Until::Frames(n) => {
            while wait.frames() < n {
                let Some(frame) = decoder.next_frame()? else {
                    break;
                };
                wait.received(now, frame.len(), 1);
                reply.parts.push((frame, now));
            }
        }
        Until::Silence => {
            if let Some(chunk) = decoder.next_frame()? {
                wait.received(now, chunk.len(), 1);
                reply.parts.push((chunk, now));
            }
        }
        Until::Bytes(n) => {
            if reply.is_empty() && decoder.buffered() >= n {
                wait.received(now, n, 0);
                reply.parts.push((decoder.take_front(n), now));
            }
        }
    }
    Ok(())
}

/// Every complete frame the decoder holds, counted as frames of the
/// reply (`send` streaming stdin records all of them as they come).
pub fn take_all(
    decoder: &mut Decoder,
    wait: &mut Wait,
    reply: &mut Reply,
) -> Result<(), FrameError> {
    let now = Instant::now();
    while let Some(frame) = decoder.next_frame()? {
        wait.received(now, 0, 1);
        reply.parts.push((frame, now));
    }
    Ok(())
}

/// What waiting on a reply gave: the wait is over (how), or the awaited
/// thing happened first.
#[derive(Debug)]
pub enum Waited<T> {
    Over(End),
    Got(T),
}

/// The one wait driver: await `next` (a read, a datagram, a line from a
/// script: whatever the caller waits on) within the deadline `verdict` sets
/// (`Wait::verdict`). A wait that is already over never polls `next`.
/// send, replay and the piped repl all wait through this, so a reply's
/// deadline is enforced in one place.
pub async fn within<T>(verdict: Verdict, next: impl std::future::Future<Output = T>) -> Waited<T> {
    match verdict {
        Verdict::Done(end) => Waited::Over(end),
        Verdict::WaitUntil(at, end) => {
            match tokio::time::timeout_at(tokio::time::Instant::from_std(at), next).await {
                Ok(got) => Waited::Got(got),
                Err(_) => Waited::Over(end),
            }
        }
        Verdict::Wait => Waited::Got(next.await),
    }
}

/// A decoder for what `stream` carries: on a serial line, Modbus RTU
/// frames of unknown length end at the line's own silence (3.5 character
/// times).
pub fn decoder_for(stream: &net::Stream, spec: crate::frame::FrameSpec, max: usize) -> Decoder {
    let decoder = Decoder::new(spec, max);
    match stream.serial() {
        Some(line) => decoder.silence(line.rtu_gap()),
        None => decoder,
    }
}

/// Read from `reader` into `decoder`: `Ok(Some(n))` for `n` bytes (0 at
/// the end of the stream), `Ok(None)` when the framing ends frames by
/// silence (`gap:`, Modbus RTU) and the line was silent that long with
/// bytes waiting: the decoder then holds them as a frame. Every reader of
/// a framed stream (`send`, `replay`, `listen`, `proxy --share`, `replay
/// --serve`) reads through here, so silence ends frames everywhere.
pub async fn read_framed<R: AsyncRead + Unpin>(
    reader: &mut R,
    decoder: &mut Decoder,
) -> std::io::Result<Option<usize>> {
    match decoder.gap() {
        None => reader.read_buf(decoder.buffer_mut()).await.map(Some),
        Some(gap) => match tokio::time::timeout(gap, reader.read_buf(decoder.buffer_mut())).await {
            Ok(read) => read.map(Some),
            Err(_silent) => {
                decoder.release();
                Ok(None)
            }
        },
    }
}

/// Read one reply from a stream by `wait`'s rule. `peer_closed` is set when
/// the peer closes (and stays set: the next exchange on this connection
/// must know). A read error is a runtime error (status 1); the caller adds
/// which reply it was.
pub async fn read_reply<R: AsyncRead + Unpin>(
    reader: &mut R,
    decoder: &mut Decoder,
    wait: &mut Wait,
    peer_closed: &mut bool,
) -> Result<(Reply, End)> {
    let mut reply = Reply::default();
    if *peer_closed {
        wait.peer_closed();
    }
    loop {
        take_ready(decoder, wait, &mut reply).map_err(|e| anyhow::anyhow!("reply: {e}"))?;
        let result = match within(wait.verdict(), read_framed(reader, decoder)).await {
            Waited::Over(end) => return Ok((reply, end)),
            Waited::Got(result) => result,
        };
        match result {
            Ok(None) => {}
            Ok(Some(0)) => {
                *peer_closed = true;
                wait.peer_closed();
            }
            Ok(_) => {}
            Err(e) => return Err(net::read_error(&e)),
        }
    }
}

/// Receive datagrams on a connected UDP socket by `wait`'s rule (each
/// datagram one frame), handing each to `on_datagram` as it arrives.
pub async fn recv_datagrams(
    socket: &net::Datagram,
    wait: &mut Wait,
    mut on_datagram: impl FnMut(&[u8], std::net::SocketAddr),
) -> std::io::Result<End> {
    let mut buf = vec![0u8; 65_536];
    loop {
        let (n, from) = match within(wait.verdict(), socket.recv(&mut buf)).await {
            Waited::Over(end) => return Ok(end),
            Waited::Got(result) => result?,
        };
        wait.received(Instant::now(), n, 1);
        on_datagram(&buf[..n], from);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{frame::FrameSpec, reply::Rule};
    use std::time::Duration;

    fn rule(until: Until) -> Rule {
        Rule {
            until,
            idle: Duration::from_millis(250),
            timeout: None,
        }
    }

    #[test]
    fn frames_beyond_the_reply_stay_for_the_next() {
        let mut decoder = Decoder::new(FrameSpec::Line, 1 << 20);
        decoder.push(b"a\nb\nc");
        let mut wait = Wait::starting(rule(Until::Frames(1)), Instant::now());
        let mut reply = Reply::default();
        take_ready(&mut decoder, &mut wait, &mut reply).unwrap();
        assert_eq!(reply.bytes(), b"a\n");
        assert_eq!(wait.verdict(), Verdict::Done(End::Complete));
        assert_eq!(decoder.buffered(), 3);
    }

    #[test]
    fn a_byte_count_takes_exactly_that_many() {
        let mut decoder = Decoder::new(FrameSpec::Raw, 1 << 20);
        decoder.push(b"abc");
        let mut wait = Wait::starting(rule(Until::Bytes(4)), Instant::now());
        let mut reply = Reply::default();
        take_ready(&mut decoder, &mut wait, &mut reply).unwrap();
        assert!(reply.is_empty());
        decoder.push(b"def");
        take_ready(&mut decoder, &mut wait, &mut reply).unwrap();
        assert_eq!(reply.bytes(), b"abcd");
        assert_eq!(decoder.buffered(), 2);
        assert_eq!(wait.verdict(), Verdict::Done(End::Complete));
    }

    #[test]
    fn unframed_replies_come_in_read_chunks() {
        let mut decoder = Decoder::new(FrameSpec::Raw, 1 << 20);
        decoder.push(b"xy");
        let mut wait = Wait::starting(rule(Until::Silence), Instant::now());
        let mut reply = Reply::default();
        take_ready(&mut decoder, &mut wait, &mut reply).unwrap();
        decoder.push(b"z");
        take_ready(&mut decoder, &mut wait, &mut reply).unwrap();
        assert_eq!(reply.parts.len(), 2);
        assert_eq!(reply.bytes(), b"xyz");
        assert!(wait.got_any());
    }
}
