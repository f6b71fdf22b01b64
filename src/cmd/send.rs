//! `p1ge0n send`: the one-shot client for shell scripts and CI.
//!
//! All payloads and `--expect` values are parsed before connecting, so bad
//! input exits 2 with nothing sent. Each payload is one exchange on one
//! connection: send it, then wait for the reply by the first rule that
//! applies (a complete `--frame`, the peer closing, `--idle` silence after the
//! first byte), bounded by `-w`. Without payloads, stdin is streamed and the
//! same rules decide when the reply after the half-close is complete.

use std::{
    io::Write,
    net::SocketAddr,
    path::PathBuf,
    sync::Arc,
    time::{Duration, Instant, SystemTime},
};

use anyhow::{Context, Result};
use bytes::Bytes;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{tcp::OwnedReadHalf, TcpStream},
    time::{sleep_until, timeout_at, Instant as TokioInstant},
};

use crate::{
    capture::Transport,
    cli::SendArgs,
    display::{self, Direction, Event, Format, Meta},
    exit::{self, ExitCode},
    frame::{Decoder, FrameSpec},
    net::{self, ConnectOptions, Target},
    output::CaptureLog,
};

/// The exchange to run, fully validated.
struct Plan {
    target: Target,
    messages: Vec<Vec<u8>>,
    expects: Vec<Vec<u8>>,
    frame: Option<FrameSpec>,
    max_frame: usize,
    replies: usize,
    idle: Duration,
    timeout: Option<Duration>,
    no_reply: bool,
    connect: ConnectOptions,
    repeat: u64,
    interval: Duration,
    udp: bool,
    format: Format,
    quiet: bool,
    capture: Option<PathBuf>,
}

impl Plan {
    fn new(args: SendArgs) -> Result<Plan> {
        let mode = super::mode(args.hex);
        let mut messages = Vec::with_capacity(args.payloads.len());
        for (i, text) in args.payloads.iter().enumerate() {
            let mut bytes = super::parse_payload_os(&format!("payload {}", i + 1), text, mode)?;
            bytes.extend_from_slice(args.eol.bytes());
            messages.push(bytes);
        }
        let expects = args
            .expect
            .iter()
            .map(|text| super::parse_payload_os("--expect", text, mode))
            .collect::<Result<Vec<_>>>()?;
        let exchanges = messages.len().max(1);
        if expects.len() > 1 && expects.len() != exchanges {
            return Err(exit::usage(format!(
                "{} --expect values for {exchanges} messages: give one for all, or one per message",
                expects.len()
            )));
        }
        let nonzero = |d: Duration| (!d.is_zero()).then_some(d);
        Ok(Plan {
            target: args.target,
            messages,
            expects,
            frame: args.frame.frame,
            max_frame: args.frame.max_frame.0,
            replies: args.replies as usize,
            idle: args.idle.0,
            timeout: nonzero(args.timeout.0),
            no_reply: args.no_reply,
            connect: ConnectOptions {
                timeout: nonzero(args.connect_timeout.0),
                retry_for: args.retry.map(|d| d.0),
            },
            repeat: args.repeat,
            interval: args.interval.0,
            udp: args.udp,
            format: args.format,
            quiet: args.quiet,
            capture: args.capture,
        })
    }

    fn expected(&self, index: usize) -> Option<&[u8]> {
        match self.expects.len() {
            0 => None,
            1 => Some(&self.expects[0]),
            _ => self.expects.get(index).map(Vec::as_slice),
        }
    }

    fn deadline(&self) -> Option<TokioInstant> {
        self.timeout.map(|t| TokioInstant::now() + t)
    }
}

pub fn run(args: SendArgs) -> Result<ExitCode> {
    super::check_framing(&args.frame)?;
    let plan = Plan::new(args)?;
    // One connection at a time: a single-threaded runtime starts fastest.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        tokio::select! {
            outcome = run_all(&plan) => outcome,
            _ = tokio::signal::ctrl_c() => {
                let _ = std::io::stdout().flush();
                Ok(ExitCode::Interrupted)
            }
        }
    })
}

async fn run_all(plan: &Plan) -> Result<ExitCode> {
    let capture = plan
        .capture
        .as_deref()
        .map(CaptureLog::create)
        .transpose()?;
    let mut round = 0u64;
    loop {
        round += 1;
        let mut out = Printer::new(plan, capture.clone(), round);
        let code = if plan.udp {
            exchange_udp(plan, &mut out).await?
        } else if plan.messages.is_empty() {
            stream_stdin(plan, &mut out).await?
        } else {
            exchange_tcp(plan, &mut out).await?
        };
        out.closed();
        if code != ExitCode::Success || (plan.repeat != 0 && round >= plan.repeat) {
            return Ok(code);
        }
        tokio::time::sleep(plan.interval).await;
    }
}

/// Shows traffic on stdout as the user asked, straight away, and records it
/// in the `--capture` file. Cloned into the stdin upload task.
#[derive(Clone)]
struct Printer {
    format: Format,
    style: display::Style,
    quiet: bool,
    capture: Option<Arc<CaptureLog>>,
    started: Instant,
    conn: u64,
    peer: SocketAddr,
}

impl Printer {
    fn new(plan: &Plan, capture: Option<Arc<CaptureLog>>, conn: u64) -> Self {
        Printer {
            format: plan.format,
            style: crate::output::stdout_style(),
            quiet: plan.quiet,
            capture,
            started: Instant::now(),
            conn,
            peer: SocketAddr::from(([0, 0, 0, 0], 0)),
        }
    }

    /// A connection is up: remember the peer, open the capture.
    fn connected(&mut self, transport: Transport, local: SocketAddr, peer: SocketAddr) {
        self.peer = net::canonical(peer);
        if let Some(capture) = &self.capture {
            capture.start(transport, net::canonical(local));
            capture.event(self.conn, self.peer, Event::Open);
        }
    }

    fn closed(&self) {
        if let Some(capture) = &self.capture {
            capture.event(self.conn, self.peer, Event::Close);
        }
    }

    fn record(&self, dir: Direction, data: &[u8]) {
        self.record_at(dir, data, Instant::now());
    }

    /// A record for bytes that arrived at `at` (replies are shown once
    /// complete, but stamped with when they came in).
    fn record_at(&self, dir: Direction, data: &[u8], at: Instant) {
        let age = at.elapsed();
        if let Some(capture) = &self.capture {
            capture.data(self.conn, self.peer, dir, data, age);
        }
        // Raw output is the reply bytes only, so it can be piped onwards.
        if self.quiet || (self.format == Format::Raw && dir == Direction::Sent) {
            return;
        }
        let meta = Meta {
            elapsed: self.started.elapsed().saturating_sub(age),
            wall: SystemTime::now() - age,
            conn: self.conn,
            peer: self.peer,
        };
        crate::output::print_client_record(self.format, self.style, &meta, dir, data);
    }
}

/// How waiting for one reply ended.
enum ReplyEnd {
    Complete,
    PeerClosed,
    TimedOut,
}

struct Reply {
    /// Frames (with --frame) or read chunks, in order.
    parts: Vec<Bytes>,
    /// When each part arrived (its last byte), for records and captures.
    arrived: Vec<Instant>,
    /// Bytes of an incomplete frame still buffered when the wait ended.
    partial: usize,
    end: ReplyEnd,
}

impl Reply {
    fn bytes(&self) -> Vec<u8> {
        self.parts.concat()
    }

    fn len(&self) -> usize {
        self.parts.iter().map(Bytes::len).sum()
    }
}

/// Read one reply by the completion rules. With `--frame` the decoder keeps
/// any bytes beyond the reply for the next exchange.
async fn read_reply(
    plan: &Plan,
    reader: &mut OwnedReadHalf,
    decoder: &mut Decoder,
    peer_closed: &mut bool,
) -> Result<Reply> {
    let deadline = plan.deadline();
    let mut parts = Vec::new();
    let mut arrived = Vec::new();
    let mut last_byte: Option<TokioInstant> = None;
    loop {
        if plan.frame.is_some() {
            while parts.len() < plan.replies {
                match decoder
                    .next_frame()
                    .map_err(|e| anyhow::anyhow!("reply: {e}"))?
                {
                    Some(frame) => {
                        parts.push(frame);
                        arrived.push(Instant::now());
                    }
                    None => break,
                }
            }
            if parts.len() >= plan.replies {
                return Ok(Reply {
                    parts,
                    arrived,
                    partial: 0,
                    end: ReplyEnd::Complete,
                });
            }
        } else if let Some(chunk) = decoder
            .next_frame()
            .map_err(|e| anyhow::anyhow!("reply: {e}"))?
        {
            // Raw framing: every read is one chunk of the reply.
            parts.push(chunk);
            arrived.push(Instant::now());
            last_byte = Some(TokioInstant::now());
        }
        if *peer_closed {
            let partial = decoder.buffered();
            return Ok(Reply {
                parts,
                arrived,
                partial,
                end: ReplyEnd::PeerClosed,
            });
        }
        // Silence after the first byte ends an unframed reply; the overall
        // deadline bounds everything.
        let idle_end = match (&plan.frame, last_byte) {
            (None, Some(at)) => Some(at + plan.idle),
            _ => None,
        };
        let wake = match (idle_end, deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let read = reader.read_buf(decoder.buffer_mut());
        let result = match wake {
            Some(at) => match timeout_at(at, read).await {
                Ok(result) => result,
                Err(_) => {
                    let end = if parts.is_empty() {
                        ReplyEnd::TimedOut
                    } else {
                        ReplyEnd::Complete
                    };
                    let partial = decoder.buffered();
                    return Ok(Reply {
                        parts,
                        arrived,
                        partial,
                        end,
                    });
                }
            },
            None => read.await,
        };
        match result {
            Ok(0) => *peer_closed = true,
            Ok(_) => {}
            Err(e) => {
                return Err(exit::error(
                    ExitCode::Failure,
                    format!("reading the reply: {}", net::describe_io(&e)),
                ))
            }
        }
    }
}

fn timeout_error(plan: &Plan, index: usize, reply: &Reply) -> anyhow::Error {
    let waited = humantime::format_duration(plan.timeout.unwrap_or_default());
    let detail = if reply.partial > 0 {
        format!(" (got {} bytes of an incomplete frame)", reply.partial)
    } else {
        String::new()
    };
    exit::error(
        ExitCode::Timeout,
        format!("no reply to message {} within {waited}{detail}", index + 1),
    )
}

/// Compare with `--expect`; a mismatch is reported on stderr as two hexdumps.
fn check_expect(plan: &Plan, index: usize, received: &[u8]) -> bool {
    let Some(expected) = plan.expected(index) else {
        return true;
    };
    if expected == received {
        return true;
    }
    let mut report = Vec::new();
    let _ = writeln!(
        report,
        "p1ge0n: reply to message {} did not match --expect",
        index + 1
    );
    display::mismatch_into(&mut report, expected, received);
    let _ = std::io::stderr().write_all(&report);
    false
}

async fn exchange_tcp(plan: &Plan, out: &mut Printer) -> Result<ExitCode> {
    let stream = net::connect_tcp(&plan.target, plan.connect).await?;
    out.connected(Transport::Tcp, stream.local_addr()?, stream.peer_addr()?);
    let (mut reader, mut writer) = stream.into_split();
    let mut decoder = Decoder::new(plan.frame.clone().unwrap_or_default(), plan.max_frame);
    let mut peer_closed = false;
    let mut matched = true;
    for (index, message) in plan.messages.iter().enumerate() {
        if peer_closed {
            return Err(exit::error(
                ExitCode::Failure,
                format!(
                    "the server closed the connection after message {index}; {} more not sent",
                    plan.messages.len() - index
                ),
            ));
        }
        writer.write_all(message).await.map_err(|e| {
            exit::error(
                ExitCode::Failure,
                format!("sending message {}: {}", index + 1, net::describe_io(&e)),
            )
        })?;
        out.record(Direction::Sent, message);
        if plan.no_reply {
            continue;
        }
        let reply = read_reply(plan, &mut reader, &mut decoder, &mut peer_closed).await?;
        for (part, at) in reply.parts.iter().zip(&reply.arrived) {
            out.record_at(Direction::Recv, part, *at);
        }
        match reply.end {
            ReplyEnd::TimedOut => return Err(timeout_error(plan, index, &reply)),
            ReplyEnd::PeerClosed if plan.frame.is_some() => {
                return Err(exit::error(
                    ExitCode::Failure,
                    format!(
                        "the server closed the connection before a complete reply to message {} ({} bytes received)",
                        index + 1,
                        reply.len() + reply.partial
                    ),
                ))
            }
            _ => {}
        }
        matched &= check_expect(plan, index, &reply.bytes());
    }
    let _ = writer.shutdown().await;
    Ok(if matched {
        ExitCode::Success
    } else {
        ExitCode::Mismatch
    })
}

/// No payload arguments: copy stdin to the server while printing what comes
/// back, half-close at end of input, then wait for the rest of the reply.
async fn stream_stdin(plan: &Plan, out: &mut Printer) -> Result<ExitCode> {
    let stream: TcpStream = net::connect_tcp(&plan.target, plan.connect).await?;
    out.connected(Transport::Tcp, stream.local_addr()?, stream.peer_addr()?);
    let (mut reader, mut writer) = stream.into_split();
    let upload_out = out.clone();

    // Uploading runs as its own task so that a server echoing a large
    // stream never deadlocks against us: we keep reading while it reads.
    let mut stdin = super::stdin_chunks();
    let upload = tokio::spawn(async move {
        while let Some(chunk) = stdin.recv().await {
            let chunk = chunk.context("reading stdin")?;
            writer.write_all(&chunk).await.map_err(|e| {
                exit::error(
                    ExitCode::Failure,
                    format!("sending stdin: {}", net::describe_io(&e)),
                )
            })?;
            upload_out.record(Direction::Sent, &chunk);
        }
        // Half-close: tell the server we are done, keep reading its reply.
        let _ = writer.shutdown().await;
        anyhow::Ok(writer)
    });
    tokio::pin!(upload);

    let mut decoder = Decoder::new(plan.frame.clone().unwrap_or_default(), plan.max_frame);
    let mut received = Vec::new();
    let keep = plan.expected(0).is_some();
    let mut frames = 0usize;
    let mut uploading = true;
    let mut upload_done_at: Option<TokioInstant> = None;
    let mut last_byte: Option<TokioInstant> = None;
    let mut _writer = None;
    let end = loop {
        // Until stdin ends we wait like nc; afterwards the reply rules apply.
        let wake = upload_done_at.map(|done| {
            let deadline = plan.timeout.map(|t| done + t);
            match (plan.frame.is_none(), last_byte) {
                (true, Some(at)) => {
                    let idle_end = at.max(done) + plan.idle;
                    deadline.map_or(idle_end, |d| d.min(idle_end))
                }
                _ => deadline
                    .unwrap_or_else(|| TokioInstant::now() + Duration::from_secs(86_400 * 365)),
            }
        });
        tokio::select! {
            result = &mut upload, if uploading => {
                uploading = false;
                _writer = Some(result.context("stdin task")??);
                upload_done_at = Some(TokioInstant::now());
            }
            result = reader.read_buf(decoder.buffer_mut()) => {
                match result {
                    Ok(0) => break ReplyEnd::PeerClosed,
                    Ok(_) => last_byte = Some(TokioInstant::now()),
                    Err(e) => return Err(exit::error(ExitCode::Failure, format!("reading the reply: {}", net::describe_io(&e)))),
                }
                while let Some(frame) = decoder.next_frame().map_err(|e| anyhow::anyhow!("reply: {e}"))? {
                    out.record(Direction::Recv, &frame);
                    if keep {
                        received.extend_from_slice(&frame);
                    }
                    frames += 1;
                }
                if plan.frame.is_some() && frames >= plan.replies {
                    break ReplyEnd::Complete;
                }
            }
            _ = sleep_until(wake.unwrap_or_else(TokioInstant::now)), if wake.is_some() => {
                break if last_byte.is_some() { ReplyEnd::Complete } else { ReplyEnd::TimedOut };
            }
        }
    };
    if let Some(rest) = decoder.finish() {
        out.record(Direction::Recv, &rest);
        if keep {
            received.extend_from_slice(&rest);
        }
    }
    if uploading {
        // The server finished first (closed or replied in full); whatever of
        // stdin is left is not sent.
        upload.abort();
    }
    if matches!(end, ReplyEnd::TimedOut) {
        let waited = humantime::format_duration(plan.timeout.unwrap_or_default());
        return Err(exit::error(
            ExitCode::Timeout,
            format!("no reply within {waited} after the end of stdin"),
        ));
    }
    Ok(if check_expect(plan, 0, &received) {
        ExitCode::Success
    } else {
        ExitCode::Mismatch
    })
}

/// UDP: each payload is one datagram; each reply is `--replies` datagrams.
async fn exchange_udp(plan: &Plan, out: &mut Printer) -> Result<ExitCode> {
    let socket = net::connect_udp(&plan.target).await?;
    out.connected(Transport::Udp, socket.local_addr()?, socket.peer_addr()?);
    let messages = if plan.messages.is_empty() {
        let mut data = Vec::new();
        // Nothing else runs on this thread yet: a plain blocking read.
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut data).context("reading stdin")?;
        vec![data]
    } else {
        plan.messages.clone()
    };
    let mut buf = vec![0u8; 65_536];
    let mut matched = true;
    for (index, message) in messages.iter().enumerate() {
        socket
            .send(message)
            .await
            .map_err(|e| net::udp_error(&plan.target, &e))?;
        out.record(Direction::Sent, message);
        if plan.no_reply {
            continue;
        }
        let deadline = plan.deadline();
        let mut reply = Vec::new();
        for _ in 0..plan.replies {
            let received = match deadline {
                Some(at) => timeout_at(at, socket.recv(&mut buf)).await,
                None => Ok(socket.recv(&mut buf).await),
            };
            match received {
                Ok(Ok(n)) => {
                    out.record(Direction::Recv, &buf[..n]);
                    reply.extend_from_slice(&buf[..n]);
                }
                Ok(Err(e)) => return Err(net::udp_error(&plan.target, &e)),
                Err(_) => {
                    let partial = Reply {
                        parts: vec![],
                        arrived: vec![],
                        partial: 0,
                        end: ReplyEnd::TimedOut,
                    };
                    return Err(timeout_error(plan, index, &partial));
                }
            }
        }
        matched &= check_expect(plan, index, &reply);
    }
    Ok(if matched {
        ExitCode::Success
    } else {
        ExitCode::Mismatch
    })
}
