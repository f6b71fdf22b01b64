//! `replay --serve`: stand in for the server of a recorded conversation.
//!
//! A server subcommand (`cmd/server.rs` accepts, counts and stops) whose
//! handler plays one captured flow to each client that connects, in order:
//! it waits for each captured client message (its byte count, or its frames
//! with `--frame`, bounded by `-w`, read by the shared `exchange.rs` and
//! `reply.rs`), checks it with `--verify`, and answers with the captured
//! server messages on the captured schedule (`--speed`, `--no-delay`).
//! Verdicts and `--junit` go through the same `junit::Suite` as a client
//! replay's.

use std::{
    sync::{
        atomic::{AtomicU64, Ordering::SeqCst},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use anyhow::Result;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::UdpSocket,
};

use super::{record_format, sleep_precisely_until, timing, write_junit, Timing};
use crate::{
    cli::ReplayArgs,
    cmd::server::{self, Handler, Options, Server},
    display::Format,
    exchange,
    exit::{self, ExitCode},
    flow::{Flow, Message},
    frame::{Decoder, FrameSpec},
    junit,
    net::{AccessList, ListenAddr, ReadHalf, Stream, WriteHalf},
    output::HeldRecorder,
    record::{Event, Peer, Role, Side, Transport},
    reply::{End, Rule, Until, Wait},
};

/// The server side of the file, and what the flows played so far found.
struct Serve {
    flows: Vec<(usize, Flow)>,
    /// How many times the file is served; 0: until interrupted.
    loops: u64,
    timing: Timing,
    verify: bool,
    /// Compare client messages with the capture: `--verify` or `--junit`.
    checks: bool,
    frame: Option<FrameSpec>,
    max_frame: usize,
    timeout: Option<Duration>,
    /// Flows handed to clients, and flows finished.
    started: AtomicU64,
    finished: AtomicU64,
    suite: Arc<Mutex<junit::Suite>>,
}

pub fn run(args: ReplayArgs, addr: ListenAddr, flows: Vec<(usize, Flow)>) -> Result<ExitCode> {
    if let Some((n, _)) = flows.iter().find(|(_, f)| f.transport == Transport::Udp) {
        return Err(exit::usage(format!(
            "--serve plays TCP flows; flow {n} of {} is UDP",
            args.file.display()
        )));
    }
    let suite = Arc::new(Mutex::new(junit::Suite::new(
        args.file.display().to_string(),
    )));
    let format = record_format(&args);
    let serve = Serve {
        flows,
        loops: args.loop_count,
        timing: timing(&args),
        verify: args.verify,
        checks: args.verify || args.junit.is_some(),
        frame: super::super::inputs::framing(&args.frame, args.output.decode),
        max_frame: args.frame.max_frame.0,
        timeout: args.wait.timeout(),
        started: AtomicU64::new(0),
        finished: AtomicU64::new(0),
        suite: suite.clone(),
    };
    let options = Options {
        addr,
        udp: false,
        role: Role::Server,
        format: format.unwrap_or(Format::Text),
        quiet: format.is_none(),
        decode: args.output.decode,
        once: false,
        count: None,
        max_conns: None,
        idle_timeout: None,
        keepalive: args.connect.keepalive.keepalive.map(|d| d.0),
        tls: args.tls_server.server()?,
        join: Vec::new(),
        access: AccessList::default(),
        capture: args.capture.capture.clone(),
        pcap: args.capture.pcap.clone(),
        // It plays the captured server: what it answers is what to see.
        shows_answers: true,
        notes: Vec::new(),
        counts_faults: false,
    };
    let code = server::run(options, serve)?;
    let suite = suite.lock().unwrap_or_else(|e| e.into_inner());
    if args.verify {
        println!("{}", suite.summary());
    }
    write_junit(args.junit.as_deref(), &suite)?;
    Ok(code)
}

impl Handler for Serve {
    async fn stream(server: Arc<Server<Self>>, stream: Stream, peer: Peer, id: u64) {
        let serve = &server.handler;
        let k = serve.started.fetch_add(1, SeqCst);
        let total = serve.loops * serve.flows.len() as u64;
        if serve.loops != 0 && k >= total {
            crate::say!("#{id} {peer} connected after the last flow was served; closing");
            return;
        }
        let (number, flow) = &serve.flows[(k % serve.flows.len() as u64) as usize];
        crate::say!("#{id} {peer} connected; playing flow {number}");
        let mut recorder = server.recorder(id, peer);
        server.event(&mut recorder, Event::Open).await;
        let mut player = Player {
            server: &server,
            number: *number,
            recorder,
        };
        let outcome = player.play(stream, flow).await;
        let event = match &outcome {
            Ok(()) => {
                crate::say!("#{id} {peer} flow {number} played");
                Event::Close
            }
            Err(reason) => {
                crate::say!("#{id} {peer} flow {number}: {reason}; closing");
                Event::Error(reason)
            }
        };
        server.event(&mut player.recorder, event).await;
        let done = serve.finished.fetch_add(1, SeqCst) + 1;
        if serve.loops != 0 && done == total {
            let failures = serve.suite.lock().map_or(0, |s| s.failures());
            server.finish(if serve.checks && failures > 0 {
                ExitCode::Mismatch
            } else {
                ExitCode::Success
            });
        }
    }

    async fn udp(_server: Arc<Server<Self>>, _socket: UdpSocket) -> Result<ExitCode> {
        unreachable!("--serve binds TCP only")
    }
}

/// One captured client message and the server's answers to it.
struct Step<'a> {
    index: usize,
    expect: &'a Message,
    answers: Vec<&'a Message>,
}

/// The server messages sent before the first client message (a greeting),
/// and the steps.
fn script(flow: &Flow) -> (Vec<&Message>, Vec<Step<'_>>) {
    let mut greeting = Vec::new();
    let mut steps: Vec<Step> = Vec::new();
    for message in &flow.messages {
        match (message.from, steps.last_mut()) {
            (Side::Client, _) => steps.push(Step {
                index: steps.len() + 1,
                expect: message,
                answers: Vec::new(),
            }),
            (Side::Server, Some(step)) => step.answers.push(message),
            (Side::Server, None) => greeting.push(message),
        }
    }
    (greeting, steps)
}

/// Plays one flow to one client.
struct Player<'a> {
    server: &'a Server<Serve>,
    number: usize,
    recorder: HeldRecorder,
}

impl Player<'_> {
    async fn play(&mut self, stream: Stream, flow: &Flow) -> Result<(), String> {
        let serve = &self.server.handler;
        let mut decoder = crate::exchange::decoder_for(
            &stream,
            serve.frame.clone().unwrap_or_default(),
            serve.max_frame,
        )
        .reading(Side::Client);
        let (mut reader, mut writer) = stream.into_split();
        let mut closed = false;
        let (greeting, steps) = script(flow);
        let started = Instant::now();
        for message in greeting {
            let offset = message.at.saturating_sub(flow.start());
            self.answer(&mut writer, message, started, offset).await?;
        }
        for step in &steps {
            let name = format!("flow {} message {}", self.number, step.index);
            let asked = Instant::now();
            let received = self
                .await_message(&mut reader, &mut decoder, &mut closed, step)
                .await
                .inspect_err(|why| {
                    // Only a report keeps cases: without --verify/--junit a
                    // server left serving (--loop 0) would keep one for
                    // every client that hung up, for ever (found by
                    // scripts/soak serve: +5 MB in 30 minutes).
                    if serve.checks {
                        let mut suite = serve.suite.lock().unwrap_or_else(|e| e.into_inner());
                        suite.fail(name.clone(), asked.elapsed(), why);
                    }
                })?;
            self.record(Side::Client, &received).await;
            if serve.checks {
                let decoded = match received == step.expect.data {
                    true => Vec::new(),
                    false => crate::decode::differences(
                        self.server.options.decode,
                        Side::Client,
                        &step.expect.data,
                        &received,
                        None,
                    ),
                };
                let report = serve
                    .suite
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .check_decoded(
                        name,
                        asked.elapsed(),
                        &step.expect.data,
                        &received,
                        &decoded,
                    );
                if serve.verify {
                    self.server.write_stdout(report.as_bytes()).await;
                }
                if received != step.expect.data {
                    return Err(format!("message {} differs from the capture", step.index));
                }
            }
            let got_at = Instant::now();
            for message in &step.answers {
                let offset = message.at.saturating_sub(step.expect.at);
                self.answer(&mut writer, message, got_at, offset).await?;
            }
        }
        // Done: close our side as the captured server did, and let the
        // client see it before the socket goes.
        let _ = writer.shutdown().await;
        let mut sink = [0u8; 4096];
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            while let Ok(n) = reader.read(&mut sink).await {
                if n == 0 {
                    break;
                }
            }
        })
        .await;
        Ok(())
    }

    /// Wait for the captured client message: its byte count, or its frames
    /// with `--frame`, bounded by `-w`.
    async fn await_message(
        &self,
        reader: &mut ReadHalf,
        decoder: &mut Decoder,
        closed: &mut bool,
        step: &Step<'_>,
    ) -> Result<Vec<u8>, String> {
        let serve = &self.server.handler;
        let want = &step.expect.data;
        let until = match &serve.frame {
            Some(spec) => Until::Frames(spec.count_frames(serve.max_frame, want)),
            None => Until::Bytes(want.len()),
        };
        let rule = Rule {
            until,
            idle: Duration::ZERO,
            timeout: serve.timeout,
        };
        let mut wait = Wait::starting(rule, Instant::now());
        let (got, end) = exchange::read_reply(reader, decoder, &mut wait, closed)
            .await
            .map_err(|e| format!("message {}: {e:#}", step.index))?;
        let have = got.len() + decoder.buffered();
        match end {
            End::Complete => Ok(got.bytes()),
            End::PeerClosed => Err(format!(
                "the client closed the connection before message {} ({have} of {} bytes)",
                step.index,
                want.len()
            )),
            End::TimedOut => Err(format!(
                "no message {} within {} ({have} of {} bytes)",
                step.index,
                humantime::format_duration(serve.timeout.unwrap_or_default()),
                want.len()
            )),
        }
    }

    /// Send one captured server message `offset` after `base` (scaled by
    /// `--speed`; at once with `--no-delay`).
    async fn answer(
        &mut self,
        writer: &mut WriteHalf,
        message: &Message,
        base: Instant,
        offset: Duration,
    ) -> Result<(), String> {
        let due = match self.server.handler.timing {
            Timing::Captured(speed) => {
                base + Duration::try_from_secs_f64(offset.as_secs_f64() / speed)
                    .unwrap_or(crate::units::MAX_DURATION)
            }
            Timing::Interval(_) | Timing::NoDelay => Instant::now(),
        };
        sleep_precisely_until(due).await;
        writer
            .send(&message.data)
            .await
            .map_err(|e| format!("sending: {}", crate::net::describe_io(&e)))?;
        self.record(Side::Server, &message.data).await;
        Ok(())
    }

    async fn record(&mut self, from: Side, bytes: &[u8]) {
        let stats = &self.server.stats;
        match from {
            Side::Client => {
                stats.messages.fetch_add(1, SeqCst);
                stats.bytes_in.fetch_add(bytes.len() as u64, SeqCst)
            }
            Side::Server => stats.bytes_out.fetch_add(bytes.len() as u64, SeqCst),
        };
        self.recorder.hold(Event::Data { from, bytes });
        self.server.deliver(&mut self.recorder).await;
    }
}
