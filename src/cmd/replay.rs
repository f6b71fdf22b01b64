//! `p1ge0n replay`: resend the client side of a recorded conversation to a
//! live server, with its timing, and check the replies.
//!
//! The file (a capture, a pcap/pcapng or a script) is read and validated in
//! full before a socket is opened, so a damaged file exits 2 with its line or
//! packet number and the server receives nothing. Each flow is replayed on
//! its own connection over an ordinary socket (no root, works on loopback):
//! every client message is sent on the captured schedule (or `--speed`,
//! `--interval`, `--no-delay`), and before the next one we wait for the
//! captured reply's bytes (or frames, with `--frame`), bounded by `-w`.

mod serve;

use std::{
    io::{IsTerminal, Write},
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use anyhow::Result;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::inputs;
use crate::{
    capture,
    cli::ReplayArgs,
    display::{Format, Records},
    exchange,
    exit::{self, ExitCode},
    flow::Flow,
    frame::{Decoder, FrameSpec},
    junit,
    net::{self, ConnectOptions, ReadHalf, Target},
    output::{self, ClientRecorder},
    pcap,
    record::{OutputError, Peer, Recorder, Side, Transport},
    reply::{End, Rule, Until, Wait},
};

/// How sends are spaced.
#[derive(Debug, Clone, Copy)]
enum Timing {
    /// The captured schedule, divided by the speed factor.
    Captured(f64),
    /// A fixed pause after each reply.
    Interval(Duration),
    /// As fast as replies allow.
    NoDelay,
}

struct Plan {
    target: Target,
    flows: Vec<(usize, Flow)>,
    timing: Timing,
    verify: bool,
    /// `--junit FILE`, and the suite's name (the replayed file).
    junit: Option<PathBuf>,
    suite: String,
    /// 0: until interrupted.
    loops: u64,
    frame: Option<FrameSpec>,
    max_frame: usize,
    timeout: Option<Duration>,
    connect: ConnectOptions,
    /// Traffic records on stdout, if any.
    format: Option<Format>,
    decode: crate::decode::Protocol,
    /// Added to a timeout: a script of hex lines read as text.
    hint: String,
    /// `--capture FILE` and `--pcap FILE`: what this replay sent and got.
    capture: Option<PathBuf>,
    pcap: Option<PathBuf>,
}

pub fn run(args: ReplayArgs) -> Result<ExitCode> {
    inputs::check_framing(&args.frame)?;
    let (flows, looks_hex) = load(&args.file, inputs::mode(args.hex))?;
    if args.list {
        print_list(&flows);
        return Ok(ExitCode::Success);
    }
    let address = args
        .target
        .clone()
        .expect("clap requires an address without --list");
    let selected = select_flows(&args, flows)?;
    if args.serve {
        let addr = parse_address(&address, "[HOST:]PORT")?;
        return serve::run(args, addr, selected);
    }
    let target = parse_address(&address, "HOST:PORT")?;
    let timing = timing(&args);
    let format = record_format(&args);
    let plan = Plan {
        target,
        flows: selected,
        timing,
        verify: args.verify,
        junit: args.junit,
        suite: args.file.display().to_string(),
        loops: args.loop_count,
        frame: inputs::framing(&args.frame, args.output.decode),
        max_frame: args.frame.max_frame.0,
        timeout: args.wait.timeout(),
        connect: args.connect.options(None)?,
        format,
        decode: args.output.decode,
        hint: if looks_hex {
            format!(
                "; every line of {} also reads as hex: did you mean -x?",
                args.file.display()
            )
        } else {
            String::new()
        },
        capture: args.capture.capture,
        pcap: args.capture.pcap,
    };
    super::run::client_runtime()?.block_on(super::run::until_interrupted(replay_all(&plan), || {
        Progress::clear();
        let _ = std::io::stdout().flush();
    }))
}

/// `--flow N...`, or every flow, numbered from 1.
fn select_flows(args: &ReplayArgs, flows: Vec<Flow>) -> Result<Vec<(usize, Flow)>> {
    if args.flow.is_empty() {
        return Ok(flows
            .into_iter()
            .enumerate()
            .map(|(i, f)| (i + 1, f))
            .collect());
    }
    let mut selected = Vec::new();
    for &n in &args.flow {
        let flow = flows.get(n as usize - 1).ok_or_else(|| {
            exit::usage(format!(
                "--flow {n}: {} has {} flow{} (see --list)",
                args.file.display(),
                flows.len(),
                if flows.len() == 1 { "" } else { "s" }
            ))
        })?;
        selected.push((n as usize, flow.clone()));
    }
    Ok(selected)
}

/// The address argument, as a client target (`HOST:PORT`) or, with
/// `--serve`, a listening address (`[HOST:]PORT`); `what` names it in the
/// error, as clap would.
fn parse_address<T: std::str::FromStr<Err = String>>(text: &str, what: &str) -> Result<T> {
    text.parse()
        .map_err(|reason| exit::usage(format!("invalid value '{text}' for '<{what}>': {reason}")))
}

fn timing(args: &ReplayArgs) -> Timing {
    match (args.speed, args.interval, args.no_delay) {
        (_, _, true) => Timing::NoDelay,
        (_, Some(interval), _) => Timing::Interval(interval.0),
        (Some(speed), _, _) => Timing::Captured(speed.0),
        _ => Timing::Captured(1.0),
    }
}

/// With --verify the report is the output; traffic records only when asked.
fn record_format(args: &ReplayArgs) -> Option<Format> {
    match (args.output.format, args.output.quiet, args.verify) {
        (_, true, _) => None,
        (Some(f), _, _) => Some(f),
        (None, _, true) => None,
        (None, _, false) => Some(Format::Text),
    }
}

/// Write `--junit FILE`; a failure to write is a runtime error (1).
fn write_junit(path: Option<&Path>, suite: &junit::Suite) -> Result<()> {
    let Some(path) = path else {
        return Ok(());
    };
    std::fs::write(path, suite.to_xml()).map_err(|e| {
        exit::error(
            ExitCode::Failure,
            format!("--junit {}: {e}", path.display()),
        )
    })
}

/// Read and validate the whole file; every problem is a usage error (2)
/// naming the file and the line or packet.
/// A script's flows, and whether it also reads as hex: typed without `-x`,
/// a script of hex lines sends the hex digits as text, and the device
/// never answers (the timeout then asks "did you mean -x?").
fn load(path: &Path, mode: crate::payload::PayloadMode) -> Result<(Vec<Flow>, bool)> {
    let name = path.display();
    let bytes =
        std::fs::read(path).map_err(|e| exit::usage(format!("cannot read '{name}': {e}")))?;
    if bytes.is_empty() {
        return Err(exit::usage(format!("{name}: empty file")));
    }
    let mut looks_hex = false;
    let flows = if pcap::is_pcap(&bytes) {
        pcap::read_flows(&bytes).map_err(|e| exit::usage(format!("{name}: {e}")))?
    } else {
        let text = std::str::from_utf8(&bytes).map_err(|e| {
            let line = bytes[..e.valid_up_to()]
                .iter()
                .filter(|b| **b == b'\n')
                .count()
                + 1;
            exit::usage(format!(
                "{name}:{line}: not UTF-8 text, nor a pcap or pcapng file"
            ))
        })?;
        if capture::is_capture(text) {
            capture::read_capture(text)
                .map_err(|e| located(&name, &e))?
                .1
        } else {
            let hex = crate::payload::PayloadMode::Hex;
            looks_hex = mode != hex && capture::read_script(text, hex).is_ok();
            vec![capture::read_script(text, mode).map_err(|e| located(&name, &e))?]
        }
    };
    let flows: Vec<Flow> = flows
        .into_iter()
        .filter(|f| f.messages.iter().any(|m| m.from == Side::Client))
        .collect();
    if flows.is_empty() {
        return Err(exit::usage(format!(
            "{name}: no flow in the file sends anything from the client side"
        )));
    }
    Ok((flows, looks_hex))
}

/// `FILE:LINE[:COLUMN]: reason`, as compilers and editors expect.
fn located(name: &impl std::fmt::Display, e: &capture::FileError) -> anyhow::Error {
    match e.column {
        Some(column) => exit::usage(format!("{name}:{}:{column}: {}", e.line, e.reason)),
        None => exit::usage(format!("{name}:{}: {}", e.line, e.reason)),
    }
}

fn print_list(flows: &[Flow]) {
    let mut out = String::new();
    for (i, flow) in flows.iter().enumerate() {
        let addr =
            |a: Option<std::net::SocketAddr>| a.map_or_else(|| "-".to_string(), |a| a.to_string());
        let (cn, cb) = flow.totals(Side::Client);
        let (sn, sb) = flow.totals(Side::Server);
        let span = flow
            .messages
            .last()
            .map_or(Duration::ZERO, |m| m.at.saturating_sub(flow.start()));
        out.push_str(&format!(
            "flow {}: {} {} -> {}, client {cn} messages {cb} bytes, server {sn} messages {sb} bytes, {:.3}s\n",
            i + 1,
            flow.transport.as_str(),
            addr(flow.client),
            addr(flow.server),
            span.as_secs_f64()
        ));
    }
    print!("{out}");
}

async fn replay_all(plan: &Plan) -> Result<ExitCode> {
    let mut suite = junit::Suite::new(plan.suite.clone());
    let mut progress = Progress::new(plan);
    let records = plan.format.map(|format| Records {
        // Both directions, in every format (raw too).
        ours: true,
        ..Records::client(format, output::stdout_style(), plan.decode).with_events()
    });
    let mut recorder = Recorder::client(
        records,
        plan.capture.as_deref(),
        plan.pcap.as_deref(),
        plan.target.peer(),
    )?;
    let mut round = 0u64;
    while plan.loops == 0 || round < plan.loops {
        round += 1;
        for (number, flow) in &plan.flows {
            // Each connection is one `conn` of the capture, so replaying
            // the capture plays the same connections.
            recorder.conn += 1;
            let mut report = Report {
                plan,
                flow: *number,
                recorder: &mut recorder,
            };
            let result = match flow.transport {
                Transport::Tcp | Transport::Unix | Transport::Serial => {
                    replay_tcp(plan, *number, flow, &mut report, &mut suite, &mut progress).await
                }
                Transport::Udp => {
                    replay_udp(plan, *number, flow, &mut report, &mut suite, &mut progress).await
                }
            };
            if let Err(e) = result {
                let e = recorder.failed(e);
                Progress::clear();
                suite.fail(format!("flow {number}"), Duration::ZERO, &format!("{e:#}"));
                write_junit(plan.junit.as_deref(), &suite)?;
                return Err(e);
            }
        }
    }
    Progress::clear();
    if plan.verify {
        println!("{}", suite.summary());
    }
    write_junit(plan.junit.as_deref(), &suite)?;
    Ok(if suite.failures() > 0 {
        ExitCode::Mismatch
    } else {
        ExitCode::Success
    })
}

/// One client message and the reply captured after it.
struct Step<'a> {
    index: usize,
    at: Duration,
    data: &'a [u8],
    reply: Vec<u8>,
    reply_messages: usize,
}

fn steps(flow: &Flow) -> Vec<Step<'_>> {
    let mut steps: Vec<Step> = Vec::new();
    for message in &flow.messages {
        match message.from {
            Side::Client => steps.push(Step {
                index: steps.len() + 1,
                at: message.at,
                data: &message.data,
                reply: Vec::new(),
                reply_messages: 0,
            }),
            // A server greeting before the first request is not waited for:
            // the live server sends its own.
            Side::Server => {
                if let Some(step) = steps.last_mut() {
                    step.reply.extend_from_slice(&message.data);
                    step.reply_messages += 1;
                }
            }
        }
    }
    steps
}

/// Sleep until `target` with sub-millisecond accuracy. The runtime's timer
/// has millisecond granularity (and may wake a tick late), so it only covers
/// the bulk of a pause; the last few milliseconds are a plain thread sleep
/// (tens of microseconds accurate) and a short spin. Blocking here is fine:
/// the reply we waited for is in and nothing else runs on this thread.
async fn sleep_precisely_until(target: Instant) {
    const COARSE: Duration = Duration::from_millis(3);
    const SPIN: Duration = Duration::from_micros(150);
    let now = Instant::now();
    if target <= now {
        return;
    }
    if target - now > COARSE {
        tokio::time::sleep(target - now - COARSE).await;
    }
    let now = Instant::now();
    if target > now + SPIN {
        std::thread::sleep(target - now - SPIN);
    }
    while Instant::now() < target {
        std::hint::spin_loop();
    }
}

/// When each step of a flow is due: on the captured schedule from the
/// flow's start, or a pause after the last reply.
struct Schedule {
    flow_start: Instant,
    first_at: Duration,
    last_reply: Instant,
}

impl Schedule {
    fn new(flow: &Flow) -> Schedule {
        let now = Instant::now();
        Schedule {
            flow_start: now,
            first_at: flow.start(),
            last_reply: now,
        }
    }

    /// A reply is in: `--interval` counts from here.
    fn replied(&mut self) {
        self.last_reply = Instant::now();
    }

    async fn until_due(&self, plan: &Plan, step: &Step<'_>) {
        sleep_precisely_until(self.due(plan, step)).await;
    }

    fn due(&self, plan: &Plan, step: &Step) -> Instant {
        // Inputs are bounded (durations, speed), but a schedule must never be
        // able to overflow the clock: saturate to "much later" instead.
        let later = |base: Instant, offset: Duration| {
            base.checked_add(offset)
                .unwrap_or_else(|| Instant::now() + crate::units::MAX_DURATION)
        };
        match plan.timing {
            Timing::Captured(speed) => {
                let offset = step.at.saturating_sub(self.first_at).as_secs_f64() / speed;
                let offset =
                    Duration::try_from_secs_f64(offset).unwrap_or(crate::units::MAX_DURATION);
                later(self.flow_start, offset)
            }
            Timing::Interval(pause) if step.index > 1 => later(self.last_reply, pause),
            Timing::Interval(_) | Timing::NoDelay => Instant::now(),
        }
    }
}

/// Records one replayed flow (stdout when asked, `--capture`, `--pcap`)
/// and checks its replies.
struct Report<'a> {
    plan: &'a Plan,
    flow: usize,
    recorder: &'a mut ClientRecorder,
}

impl Report<'_> {
    fn record(&mut self, from: Side, bytes: &[u8]) -> Result<(), OutputError> {
        self.recorder.data(from, bytes)
    }

    /// Check a reply (`--verify`, `--junit`); `--verify` prints the outcome.
    fn verify(&self, suite: &mut junit::Suite, step: &Step, received: &[u8], took: Duration) {
        if !self.plan.verify && self.plan.junit.is_none() {
            return;
        }
        let name = format!("flow {} message {}", self.flow, step.index);
        let decoded = match step.reply == received {
            true => Vec::new(),
            false => crate::decode::differences(
                self.plan.decode,
                Side::Server,
                &step.reply,
                received,
                Some(step.data),
            ),
        };
        let report = suite.check_decoded(name, took, &step.reply, received, &decoded);
        if self.plan.verify {
            Progress::clear();
            let mut stdout = std::io::stdout().lock();
            let _ = stdout
                .write_all(report.as_bytes())
                .and_then(|()| stdout.flush());
        }
    }
}

/// Read a reply: the captured byte count, or with `--frame` as many frames
/// as the captured reply holds. Extra bytes stay buffered for the next reply.
async fn read_reply(
    plan: &Plan,
    reader: &mut ReadHalf,
    decoder: &mut Decoder,
    step: &Step<'_>,
    flow: usize,
) -> Result<Vec<u8>> {
    let until = match &plan.frame {
        Some(spec) => Until::Frames(spec.count_frames(plan.max_frame, &step.reply)),
        None => Until::Bytes(step.reply.len()),
    };
    let rule = Rule {
        until,
        idle: Duration::ZERO,
        timeout: plan.timeout,
    };
    let mut wait = Wait::starting(rule, Instant::now());
    let mut closed = false;
    let (reply, end) = exchange::read_reply(reader, decoder, &mut wait, &mut closed)
        .await
        .map_err(|e| e.context(format!("flow {flow} message {}", step.index)))?;
    match end {
        End::Complete => Ok(reply.bytes()),
        End::PeerClosed => Err(exit::error(
            ExitCode::Failure,
            format!(
                "flow {flow} message {}: the server closed the connection before the reply was complete",
                step.index
            ),
        )),
        End::TimedOut => Err(exit::error(
            ExitCode::Timeout,
            format!(
                "flow {flow} message {}: no complete reply within {} (expected {} bytes, got {}){}",
                step.index,
                humantime::format_duration(plan.timeout.unwrap_or_default()),
                step.reply.len(),
                decoder.buffered() + reply.len(),
                plan.hint
            ),
        )),
    }
}

async fn replay_tcp(
    plan: &Plan,
    number: usize,
    flow: &Flow,
    report: &mut Report<'_>,
    suite: &mut junit::Suite,
    progress: &mut Progress,
) -> Result<()> {
    let stream = net::connect(&plan.target, &plan.connect).await?;
    report
        .recorder
        .opened(stream.transport(), stream.local()?, stream.peer()?)?;
    let mut decoder = crate::exchange::decoder_for(
        &stream,
        plan.frame.clone().unwrap_or_default(),
        plan.max_frame,
    );
    let (mut reader, mut writer) = stream.into_split();
    let steps = steps(flow);
    let mut schedule = Schedule::new(flow);
    for step in &steps {
        schedule.until_due(plan, step).await;
        writer.send(step.data).await.map_err(|e| {
            exit::error(
                ExitCode::Failure,
                format!(
                    "flow {number} message {}: sending: {}",
                    step.index,
                    net::describe_io(&e)
                ),
            )
        })?;
        report.record(Side::Client, step.data)?;
        progress.show(number, step.index, steps.len());
        if step.reply.is_empty() {
            continue;
        }
        let asked = Instant::now();
        let received = read_reply(plan, &mut reader, &mut decoder, step, number).await?;
        schedule.replied();
        report.record(Side::Server, &received)?;
        report.verify(suite, step, &received, asked.elapsed());
        progress.redraw();
    }
    let _ = writer.shutdown().await;
    // Let the server see our close before the next flow starts.
    let mut sink = [0u8; 4096];
    let _ = tokio::time::timeout(Duration::from_millis(200), async {
        while let Ok(n) = reader.read(&mut sink).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
    report.recorder.closed()?;
    Ok(())
}

async fn replay_udp(
    plan: &Plan,
    number: usize,
    flow: &Flow,
    report: &mut Report<'_>,
    suite: &mut junit::Suite,
    progress: &mut Progress,
) -> Result<()> {
    let socket =
        net::Datagram::connected(net::connect_udp(&plan.target, plan.connect.source).await?);
    let peer = Peer::Ip(net::canonical(socket.peer()?));
    let local = Peer::Ip(socket.socket.local_addr()?);
    report.recorder.opened(Transport::Udp, local, peer)?;
    let steps = steps(flow);
    let mut schedule = Schedule::new(flow);
    for step in &steps {
        schedule.until_due(plan, step).await;
        socket
            .send(step.data)
            .await
            .map_err(|e| net::udp_error(&plan.target, &e))?;
        report.record(Side::Client, step.data)?;
        progress.show(number, step.index, steps.len());
        if step.reply_messages == 0 {
            continue;
        }
        let rule = Rule {
            until: Until::Frames(step.reply_messages),
            idle: Duration::ZERO,
            timeout: plan.timeout,
        };
        let asked = Instant::now();
        let mut wait = Wait::starting(rule, asked);
        let mut received = Vec::new();
        let mut unwritten = None;
        let end = exchange::recv_datagrams(&socket, &mut wait, |datagram, _| {
            if let Err(e) = report.record(Side::Server, datagram) {
                unwritten.get_or_insert(e);
            }
            received.extend_from_slice(datagram);
        })
        .await
        .map_err(|e| net::udp_error(&plan.target, &e))?;
        if let Some(e) = unwritten {
            return Err(e.into());
        }
        if end != End::Complete {
            return Err(exit::error(
                ExitCode::Timeout,
                format!(
                    "flow {number} message {}: no reply datagram within {}{}",
                    step.index,
                    humantime::format_duration(plan.timeout.unwrap_or_default()),
                    plan.hint
                ),
            ));
        }
        schedule.replied();
        report.verify(suite, step, &received, asked.elapsed());
        progress.redraw();
    }
    report.recorder.closed()?;
    Ok(())
}

/// A one-line progress indicator on stderr, only when stderr is a terminal
/// (never in pipes or CI logs), redrawn at most ten times a second.
struct Progress {
    enabled: bool,
    flows: usize,
    last: Option<Instant>,
    /// What the line says now, for redrawing it after a report line.
    state: (usize, usize, usize),
}

impl Progress {
    fn new(plan: &Plan) -> Progress {
        Progress {
            enabled: std::io::stderr().is_terminal(),
            flows: plan.flows.len(),
            last: None,
            state: (0, 0, 0),
        }
    }

    fn show(&mut self, flow: usize, message: usize, messages: usize) {
        self.state = (flow, message, messages);
        if !self.enabled
            || self
                .last
                .is_some_and(|t| t.elapsed() < Duration::from_millis(100))
        {
            return;
        }
        self.draw();
    }

    /// Draw the line again now (a report line printed over it).
    fn redraw(&mut self) {
        if self.enabled && self.state.0 > 0 {
            self.draw();
        }
    }

    fn draw(&mut self) {
        self.last = Some(Instant::now());
        let (flow, message, messages) = self.state;
        crate::say::text(format_args!(
            "\r\x1b[2Kreplaying flow {flow} ({} in all): message {message}/{messages}",
            self.flows
        ));
    }

    fn clear() {
        if std::io::stderr().is_terminal() {
            crate::say::text(format_args!("\r\x1b[2K"));
        }
    }
}
