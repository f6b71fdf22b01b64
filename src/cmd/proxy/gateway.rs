//! `proxy LISTEN TARGET --gateway modbus`: Modbus/TCP (MBAP) on one side,
//! Modbus RTU on the other, what mbusd does, with p1ge0n's display and
//! capture.
//!
//! It is `--share` with a conversion: clients' requests queue in arrival
//! order in front of the one line (`share.rs` owns the queue and the
//! clients), and this module does one request's round trip on the RTU
//! side. Directions:
//! - TCP clients, RTU TARGET (a serial line, or RTU over TCP to a serial
//!   device server): MBAP off and CRC on, and back, keeping the
//!   transaction id; a reply must match the request's unit and function
//!   (or be its exception), anything else on the line is dropped and
//!   logged; no reply in `-w` (after `--retries`), or only bad CRCs, is
//!   exception 0x0B for the client; a request that is not one MBAP frame,
//!   or a line that cannot be opened, exception 0x0A; unit 0 is a
//!   broadcast: sent, and nothing awaited or returned.
//! - a serial LISTEN (an RTU master on the line) and a Modbus/TCP TARGET:
//!   each RTU request with a good CRC goes out as MBAP (transaction ids
//!   counting up), the reply comes back with its CRC; a request with a bad
//!   CRC is dropped, as a device would; no reply is exception 0x0B.
//!
//! `--turnaround DUR` pauses after a broadcast and between requests. Before
//! each request, whatever came unasked (a late answer to a request that
//! timed out) is dropped and logged, so it can never answer the next one.

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::share::{drop_upstream, open, went_away, Upstream, UpstreamConfig};
use crate::{
    exchange,
    record::Side,
    reply::{End, Rule, Until, Wait},
    rtu,
};

/// Which side speaks RTU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// TCP clients, an RTU target.
    ToRtu,
    /// An RTU master on a serial LISTEN, a Modbus/TCP target.
    FromRtu,
}

/// The gateway's settings and state (one task owns it: the queue's).
#[derive(Debug)]
pub struct Gateway {
    pub direction: Direction,
    pub retries: u32,
    pub turnaround: Duration,
    /// When the last request's round trip ended, for `--turnaround`.
    last: Option<Instant>,
    /// Transaction ids for the Modbus/TCP target (`FromRtu`).
    next_tid: u16,
}

impl Gateway {
    pub fn new(direction: Direction, retries: u32, turnaround: Duration) -> Gateway {
        Gateway {
            direction,
            retries,
            turnaround,
            last: None,
            next_tid: 1,
        }
    }

    /// One client request through the gateway: the bytes for the client
    /// (empty: nothing to send back).
    pub async fn exchange(
        &mut self,
        config: &UpstreamConfig,
        upstream: &mut Option<Upstream>,
        request: &[u8],
    ) -> Result<Bytes, String> {
        if let Some(last) = self.last {
            let since = last.elapsed();
            if since < self.turnaround {
                pause(self.turnaround - since).await;
            }
        }
        let answer = match self.direction {
            Direction::ToRtu => self.ask_the_line(config, upstream, request).await,
            Direction::FromRtu => self.ask_the_server(config, upstream, request).await,
        };
        self.last = Some(Instant::now());
        answer
    }

    /// A client's MBAP request as RTU on the line, and the reply back.
    async fn ask_the_line(
        &mut self,
        config: &UpstreamConfig,
        upstream: &mut Option<Upstream>,
        request: &[u8],
    ) -> Result<Bytes, String> {
        let Some((tid, frame)) = rtu::from_mbap(request) else {
            crate::say!("gateway: not one MBAP frame; answered 0x0A");
            return Ok(mbap_exception(request, 0x0a));
        };
        let (unit, function) = (frame[0], frame[1]);
        for attempt in 0..=self.retries {
            let up = match send_request(config, upstream, &frame).await {
                Ok(up) => up,
                Err(Unsent::CannotOpen(e)) => {
                    crate::say!("gateway: {e}; answered 0x0A");
                    return Ok(mbap_exception(request, 0x0a));
                }
                Err(Unsent::WriteFailed) => continue,
            };
            if unit == 0 {
                // Broadcast: no device answers.
                return Ok(Bytes::new());
            }
            match await_reply(config, up, unit, function).await {
                Awaited::Reply(reply) => return Ok(Bytes::from(rtu::to_mbap(tid, &reply))),
                Awaited::Failed(why) => {
                    let again = if attempt < self.retries {
                        "; retrying"
                    } else {
                        ""
                    };
                    crate::say!("gateway: unit {unit} function {function}: {why}{again}");
                }
                Awaited::Gone(why) => {
                    crate::say!("gateway: {why}");
                    drop_upstream(upstream, Some(&why)).await;
                }
            }
        }
        Ok(mbap_exception(request, 0x0b))
    }

    /// An RTU request from the line as MBAP to the server, and back.
    async fn ask_the_server(
        &mut self,
        config: &UpstreamConfig,
        upstream: &mut Option<Upstream>,
        request: &[u8],
    ) -> Result<Bytes, String> {
        if request.len() < 4 || !rtu::crc_ok(request) {
            crate::say!(
                "gateway: dropped {} bytes from the line: not a request with a good CRC",
                request.len()
            );
            return Ok(Bytes::new());
        }
        let (unit, function) = (request[0], request[1]);
        let tid = self.next_tid;
        self.next_tid = self.next_tid.wrapping_add(1);
        let mbap = rtu::to_mbap(tid, request);
        for _ in 0..=self.retries {
            let up = match send_request(config, upstream, &mbap).await {
                Ok(up) => up,
                Err(Unsent::CannotOpen(e)) => {
                    crate::say!("gateway: {e}");
                    break;
                }
                Err(Unsent::WriteFailed) => continue,
            };
            if unit == 0 {
                return Ok(Bytes::new());
            }
            match await_mbap(config, up, tid).await {
                Ok(reply) => match rtu::from_mbap(&reply) {
                    Some((_, frame)) => return Ok(Bytes::from(frame)),
                    None => crate::say!("gateway: the server's reply is not one MBAP frame"),
                },
                Err(why) => {
                    crate::say!("gateway: {why}");
                    drop_upstream(upstream, Some(&why)).await;
                }
            }
        }
        Ok(Bytes::from(rtu::with_crc(vec![
            unit,
            function | 0x80,
            0x0b,
        ])))
    }
}

/// Wait `d`, to the microsecond: tokio's timers tick in whole
/// milliseconds, so a 1 ms turnaround slept on one took up to 2.3 ms (the
/// bench's gateway section); a short pause sleeps on a blocking-pool
/// thread instead, as precise as the system's own sleep.
async fn pause(d: Duration) {
    if d >= Duration::from_millis(20) {
        tokio::time::sleep(d).await;
    } else {
        let _ = tokio::task::spawn_blocking(move || std::thread::sleep(d)).await;
    }
}

/// Why a request did not go out.
enum Unsent {
    /// The line or server cannot be opened.
    CannotOpen(String),
    /// Writing failed (the connection is dropped; a retry opens a new one).
    WriteFailed,
}

/// Write `request` on the upstream, opened first if it is not (or went
/// away since the last request), with whatever came unasked since then
/// dropped and logged: a late answer to an earlier request must never
/// answer this one.
async fn send_request<'a>(
    config: &UpstreamConfig,
    upstream: &'a mut Option<Upstream>,
    request: &[u8],
) -> Result<&'a mut Upstream, Unsent> {
    if upstream.as_mut().is_some_and(went_away) {
        crate::say!("gateway: the other side went away; opening it again");
        drop_upstream(upstream, Some("the other side went away")).await;
    }
    if upstream.is_none() {
        *upstream = Some(open(config).await.map_err(Unsent::CannotOpen)?);
    }
    let up = upstream.as_mut().expect("opened above");
    if let Some(stale) = up.decoder.finish() {
        crate::say!("gateway: dropped {} stale bytes", stale.len());
        up.record(Side::Server, &stale).await;
    }
    if let Err(e) = up.writer.send(request).await {
        let why = format!("writing the request: {e}");
        crate::say!("gateway: {why}");
        drop_upstream(upstream, Some(&why)).await;
        return Err(Unsent::WriteFailed);
    }
    up.record(Side::Client, request).await;
    Ok(upstream.as_mut().expect("written above"))
}

enum Awaited {
    /// A reply to the request, its CRC good.
    Reply(Bytes),
    /// No good reply in time (the connection may serve the next request).
    Failed(String),
    /// The line or connection is gone.
    Gone(String),
}

/// Read RTU frames until one answers `unit` and `function` with a good
/// CRC, for `-w` in all; frames that answer something else are dropped.
async fn await_reply(
    config: &UpstreamConfig,
    up: &mut Upstream,
    unit: u8,
    function: u8,
) -> Awaited {
    let deadline = config.timeout.map(|t| Instant::now() + t);
    let mut bad_crc = false;
    loop {
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        if left == Some(Duration::ZERO) {
            break;
        }
        let frame = match read_frame(up, left).await {
            Ok(Some(frame)) => frame,
            Ok(None) => break,
            Err(why) => return Awaited::Gone(why),
        };
        if !rtu::crc_ok(&frame) {
            crate::say!(
                "gateway: dropped a reply with a bad CRC ({} bytes)",
                frame.len()
            );
            bad_crc = true;
            continue;
        }
        if frame[0] == unit && (frame[1] == function || frame[1] == function | 0x80) {
            return Awaited::Reply(frame);
        }
        crate::say!(
            "gateway: dropped a frame from unit {} function {} (waiting for unit {unit} function {function})",
            frame[0], frame[1]
        );
    }
    Awaited::Failed(if bad_crc {
        "only replies with bad CRCs".into()
    } else {
        format!(
            "no reply within {}",
            humantime::format_duration(config.timeout.unwrap_or_default())
        )
    })
}

/// The MBAP reply with transaction id `tid`, within `-w`.
async fn await_mbap(config: &UpstreamConfig, up: &mut Upstream, tid: u16) -> Result<Bytes, String> {
    let deadline = config.timeout.map(|t| Instant::now() + t);
    loop {
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        if left == Some(Duration::ZERO) {
            break;
        }
        match read_frame(up, left).await? {
            Some(frame) if frame.len() >= 2 && frame[..2] == tid.to_be_bytes() => return Ok(frame),
            Some(frame) => crate::say!(
                "gateway: dropped a reply to another transaction ({} bytes)",
                frame.len()
            ),
            None => break,
        }
    }
    Err(format!(
        "no reply within {}",
        humantime::format_duration(config.timeout.unwrap_or_default())
    ))
}

/// One frame by the upstream's framing within `left`: `None` on time out;
/// the reason when the line or connection is gone.
async fn read_frame(up: &mut Upstream, left: Option<Duration>) -> Result<Option<Bytes>, String> {
    let rule = Rule {
        until: Until::Frames(1),
        idle: Duration::ZERO,
        timeout: left,
    };
    let mut wait = Wait::starting(rule, Instant::now());
    let (reply, end) =
        exchange::read_reply(&mut up.reader, &mut up.decoder, &mut wait, &mut up.closed)
            .await
            .map_err(|e| format!("upstream: {e:#}"))?;
    match end {
        End::Complete => {
            let frame = reply.parts.into_iter().next().map(|(b, _)| b);
            if let Some(frame) = &frame {
                up.record(Side::Server, frame).await;
            }
            Ok(frame)
        }
        End::TimedOut => Ok(None),
        End::PeerClosed => Err("upstream closed".into()),
    }
}

/// The Modbus/TCP exception `code` answering `request` (an MBAP frame, or
/// at least its first 8 bytes; shorter: transaction 0, unit 0, function 0).
fn mbap_exception(request: &[u8], code: u8) -> Bytes {
    let byte = |i: usize| request.get(i).copied().unwrap_or(0);
    Bytes::from(vec![
        byte(0),
        byte(1),
        0,
        0,
        0,
        3,
        byte(6),
        byte(7) | 0x80,
        code,
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exceptions_keep_the_transaction_and_unit() {
        let request = [0, 9, 0, 0, 0, 6, 17, 3, 0, 0, 0, 1];
        assert_eq!(
            &mbap_exception(&request, 0x0b)[..],
            [0, 9, 0, 0, 0, 3, 17, 0x83, 0x0b]
        );
        assert_eq!(
            &mbap_exception(&[1], 0x0a)[..],
            [1, 0, 0, 0, 0, 3, 0, 0x80, 0x0a]
        );
    }
}
