//! `p1ge0n send`: the one-shot client for shell scripts and CI.
//!
//! All payloads and `--expect` values are parsed before connecting, so bad
//! input exits 2 with nothing sent. Each payload is one exchange on one
//! connection: send it, then wait for the reply by the shared rules of
//! `reply.rs`, bounded by `-w`. Without payloads, stdin is streamed and the
//! same rules decide when the reply after the half-close is complete.
//! Traffic goes to the shared recorder (stdout records, `--capture`,
//! `--pcap`); a failed write to any of them ends the run with status 1.

use std::{
    cell::RefCell,
    io::Write,
    path::PathBuf,
    time::{Duration, Instant},
};

use anyhow::{Context, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::inputs;
use crate::{
    cli::SendArgs,
    display::{self, Format, Records},
    exchange::{self, Reply, Waited},
    exit::{self, ExitCode},
    frame::{Decoder, FrameSpec},
    junit,
    net::{self, ConnectOptions, ReadHalf, Target, UdpOptions, WriteHalf},
    output::{self, ClientRecorder},
    record::{OutputError, Peer, Recorder, Side, Transport},
    reply::{End, Rule, Until, Wait},
};

/// The exchange to run, fully validated.
struct Plan {
    target: Target,
    messages: Vec<Vec<u8>>,
    /// `--on-connect`: sent first on every connection.
    on_connect: Option<Vec<u8>>,
    expects: Vec<Vec<u8>>,
    frame: Option<FrameSpec>,
    max_frame: usize,
    replies: usize,
    idle: Duration,
    timeout: Option<Duration>,
    no_reply: bool,
    connect: ConnectOptions,
    /// `-u`: `--source`, `--broadcast`, `--ttl`.
    udp_options: UdpOptions,
    repeat: u64,
    /// `--keep-going`: a failed cycle does not end the run.
    keep_going: bool,
    /// `--persistent`: the cycles share one connection.
    persistent: bool,
    /// `--exec CMD`: the connection is handed to this program.
    exec: Option<crate::program::Program>,
    interval: Duration,
    udp: bool,
    format: Format,
    decode: crate::decode::Protocol,
    quiet: bool,
    capture: Option<PathBuf>,
    pcap: Option<PathBuf>,
    /// `--junit FILE`, and every `--expect` check so far (the one piece of
    /// the plan that changes; the runtime has one thread).
    junit: Option<PathBuf>,
    checks: RefCell<junit::Suite>,
}

impl Plan {
    fn new(args: SendArgs) -> Result<Plan> {
        inputs::check_framing(&args.frame)?;
        let mode = inputs::mode(args.hex);
        let mut messages = Vec::with_capacity(args.payloads.len());
        for (i, text) in args.payloads.iter().enumerate() {
            let mut bytes = inputs::parse_payload_os(&format!("payload {}", i + 1), text, mode)?;
            bytes.extend_from_slice(args.eol.bytes());
            messages.push(bytes);
        }
        // --request: built bytes, and the protocol they imply for --decode
        // (and so --frame) when those are not given.
        // Requests go out in their serial form (Modbus RTU) on a serial
        // line or with --frame modbus-rtu, numbered from 1 on each
        // connection (each connection sends the same messages).
        let mut decode = args.output.decode;
        let serial = inputs::requests_are_serial(&args.target, args.frame.frame.as_ref());
        for (i, spec) in args.request.iter().enumerate() {
            let at = crate::decode::RequestContext {
                sequence: u16::try_from(i + 1).unwrap_or(u16::MAX),
                serial,
            };
            let (protocol, bytes) = crate::decode::build_request(spec, &at)
                .map_err(|e| exit::usage(format!("--request {} '{spec}': {e}", i + 1)))?;
            if decode == crate::decode::Protocol::None {
                decode = protocol;
            }
            messages.push(bytes);
        }
        let expects = args
            .expect
            .iter()
            .map(|text| inputs::parse_payload_os("--expect", text, mode))
            .collect::<Result<Vec<_>>>()?;
        if args.persistent && messages.is_empty() && args.exec.is_none() {
            return Err(exit::usage(
                "--persistent polls with PAYLOADs over one connection; without any, stdin is streamed once",
            ));
        }
        let exchanges = messages.len().max(1);
        if expects.len() > 1 && expects.len() != exchanges {
            return Err(exit::usage(format!(
                "{} --expect values for {exchanges} messages: give one for all, or one per message",
                expects.len()
            )));
        }
        Ok(Plan {
            target: args.target.clone(),
            messages,
            on_connect: inputs::on_connect(args.on_connect.as_deref(), args.hex)?,
            expects,
            frame: inputs::framing(&args.frame, decode),
            max_frame: args.frame.max_frame.0,
            replies: args.replies as usize,
            idle: args.reply.idle.0,
            timeout: args.reply.wait.timeout(),
            no_reply: args.no_reply,
            connect: args.connect.options(args.retry.map(|d| d.0))?,
            udp_options: UdpOptions {
                source: args.connect.source,
                broadcast: args.broadcast,
                ttl: args.ttl,
            },
            repeat: args.repeat,
            keep_going: args.keep_going,
            persistent: args.persistent,
            exec: args.exec,
            interval: args.interval.0,
            udp: args.udp,
            // A built request is shown decoded unless -f says otherwise.
            format: args.output.format.unwrap_or(if args.request.is_empty() {
                Format::Raw
            } else {
                Format::Text
            }),
            decode,
            quiet: args.output.quiet,
            capture: args.capture.capture,
            pcap: args.capture.pcap,
            junit: args.junit,
            checks: RefCell::new(junit::Suite::new(format!("p1ge0n send {}", args.target))),
        })
    }

    /// The session's recorder: stdout records (JSON ones carry open,
    /// close and error events, as listen's do), `--capture`, `--pcap`.
    fn recorder(&self) -> Result<ClientRecorder> {
        let records = (!self.quiet).then(|| {
            Records::client(self.format, output::stdout_style(), self.decode).with_events()
        });
        Recorder::client(
            records,
            self.capture.as_deref(),
            self.pcap.as_deref(),
            self.target.peer(),
        )
    }

    /// How a message is named in reports: `message 2`, or with --repeat
    /// `cycle 3 message 2`.
    fn name(&self, round: u64, index: usize) -> String {
        match self.repeat {
            1 => format!("message {}", index + 1),
            _ => format!("cycle {round} message {}", index + 1),
        }
    }

    fn expected(&self, index: usize) -> Option<&[u8]> {
        match self.expects.len() {
            0 => None,
            1 => Some(&self.expects[0]),
            _ => self.expects.get(index).map(Vec::as_slice),
        }
    }

    /// What completes one reply.
    fn rule(&self) -> Rule {
        let until = match (self.udp, &self.frame) {
            (true, _) | (false, Some(_)) => Until::Frames(self.replies),
            (false, None) => Until::Silence,
        };
        Rule {
            until,
            idle: self.idle,
            timeout: self.timeout,
        }
    }
}

pub fn run(args: SendArgs) -> Result<ExitCode> {
    let plan = Plan::new(args)?;
    super::run::client_runtime()?.block_on(super::run::until_interrupted(run_all(&plan), || {
        let _ = std::io::stdout().flush();
    }))
}

async fn run_all(plan: &Plan) -> Result<ExitCode> {
    if let Some(program) = &plan.exec {
        return exec_session(plan, program).await;
    }
    let outcome = run_rounds(plan).await;
    if let Err(e) = &outcome {
        let mut checks = plan.checks.borrow_mut();
        if !plan.expects.is_empty() {
            let per_cycle = plan.messages.len().max(1);
            let cycle = (checks.cases.len() / per_cycle + 1) as u64;
            let next = checks.cases.len() % per_cycle;
            checks.fail(plan.name(cycle, next), Duration::ZERO, &format!("{e:#}"));
        }
    }
    if let Some(path) = &plan.junit {
        std::fs::write(path, plan.checks.borrow().to_xml()).map_err(|e| {
            exit::error(
                ExitCode::Failure,
                format!("--junit {}: {e}", path.display()),
            )
        })?;
    }
    outcome
}

async fn run_rounds(plan: &Plan) -> Result<ExitCode> {
    let mut conn = plan.recorder()?;
    let mut round = 0u64;
    // --keep-going: how many cycles failed, and the first one's status.
    let (mut failures, mut first_failure) = (0u64, None);
    // --repeat is a period, like `ping -i` or a PLC's scan: from the start
    // of one exchange to the start of the next. A late exchange starts the
    // next one at once; missed periods are not made up.
    let mut next_start = tokio::time::Instant::now();
    // --persistent: the connection the next cycle goes on.
    let mut kept: Option<Link> = None;
    loop {
        round += 1;
        let outcome = if plan.udp {
            conn.conn = round;
            exchange_udp(plan, &mut conn).await
        } else if plan.messages.is_empty() {
            conn.conn = round;
            stream_stdin(plan, &mut conn).await
        } else {
            exchange_tcp(plan, &mut conn, round, &mut kept).await
        };
        let last = plan.repeat != 0 && round >= plan.repeat;
        let code = match outcome {
            Ok(code) => {
                match kept.take() {
                    Some(link) if !last => kept = Some(link),
                    Some(mut link) => {
                        let _ = link.writer.shutdown().await;
                        conn.closed()?;
                    }
                    None => conn.closed()?,
                }
                code
            }
            Err(e) => {
                // A failed cycle's connection is not reused.
                kept = None;
                let e = conn.failed(e);
                let written = e.downcast_ref::<crate::record::OutputError>().is_none();
                if !(plan.keep_going && written) {
                    return Err(e);
                }
                // Said now, counted, and the next cycle runs.
                crate::say!("p1ge0n: cycle {round}: {e:#}");
                if !plan.expects.is_empty() {
                    let name = format!("cycle {round}");
                    plan.checks
                        .borrow_mut()
                        .fail(name, Duration::ZERO, &format!("{e:#}"));
                }
                exit::classify(&e)
            }
        };
        if code != ExitCode::Success {
            if !plan.keep_going {
                return Ok(code);
            }
            failures += 1;
            first_failure.get_or_insert(code);
        }
        if last {
            if failures > 0 {
                crate::say!(
                    "p1ge0n: {failures} of {} failed",
                    crate::units::plural(round, "cycle")
                );
            }
            return Ok(first_failure.unwrap_or(code));
        }
        next_start += plan.interval;
        let now = tokio::time::Instant::now();
        if next_start < now {
            next_start = now;
        }
        tokio::time::sleep_until(next_start).await;
    }
}

/// The relay's watch for `send --exec`: records both directions (the
/// program's bytes as ours).
struct ProgramWatch {
    recorder: tokio::sync::Mutex<ClientRecorder>,
}

impl crate::relay::Watch for ProgramWatch {
    async fn forwarded(&self, from: Side, bytes: &[u8], _eof: bool) -> Result<(), String> {
        if !bytes.is_empty() {
            let mut recorder = self.recorder.lock().await;
            recorder.data(from, bytes).map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}

/// `send --exec CMD`: connect, then relay between the connection and the
/// program (its stdout to the server, the server's bytes to its stdin),
/// recorded as any session; the exit status is the program's.
async fn exec_session(plan: &Plan, program: &crate::program::Program) -> Result<ExitCode> {
    crate::exec::check_startable(program).map_err(|e| exit::usage(format!("--exec: {e}")))?;
    let mut conn = plan.recorder()?;
    conn.conn = 1;
    let stream = match net::connect(&plan.target, &plan.connect).await {
        Ok(stream) => stream,
        Err(e) => return Err(conn.failed(e)),
    };
    let (local, peer) = (stream.local()?, stream.peer()?);
    conn.opened(stream.transport(), local, peer)?;
    let env = crate::exec::ChildEnv {
        peer,
        local: Some(local),
        transport: stream.name(),
        conn: 1,
        message: None,
    };
    crate::process::ignore_sigpipe();
    let (mut running, stdin, stdout) = crate::exec::spawn(program, &env)
        .map_err(|e| conn.failed(exit::usage(format!("--exec: {e}"))))?;
    let watch = ProgramWatch {
        recorder: tokio::sync::Mutex::new(conn),
    };
    // The program is the client side; its output ending ends the session.
    let (ending, _) = crate::relay::relay(
        &watch,
        (stdout, stdin),
        stream.into_split(),
        None,
        Some(Side::Client),
    )
    .await;
    let failure = ending.failure().map(String::from);
    let status = match tokio::time::timeout(crate::exec::GRACE * 20, running.wait()).await {
        Ok(Ok(status)) => Some(status),
        _ => running.stop().await,
    };
    let mut conn = watch.recorder.into_inner();
    match &failure {
        Some(reason) => conn.error(reason)?,
        None => conn.closed()?,
    }
    use std::os::unix::process::ExitStatusExt;
    match status.map(|s| (s.code(), s.signal())) {
        Some((Some(0), _)) => Ok(ExitCode::Success),
        Some((Some(code), _)) => Err(exit::PassThrough(code as u8).into()),
        Some((None, Some(signal))) => Err(exit::PassThrough(128 + signal as u8).into()),
        _ => Err(exit::error(
            ExitCode::Failure,
            "the program could not be waited for",
        )),
    }
}

/// Record a reply's parts, each stamped with when it came in.
fn record_reply(conn: &mut ClientRecorder, reply: &Reply) -> Result<(), OutputError> {
    for (part, at) in &reply.parts {
        conn.data_at(Side::Server, part, *at)?;
    }
    Ok(())
}

fn timeout_error(plan: &Plan, what: &str, partial: usize) -> anyhow::Error {
    let waited = humantime::format_duration(plan.timeout.unwrap_or_default());
    let detail = if partial > 0 {
        format!(" (got {partial} bytes of an incomplete frame)")
    } else {
        String::new()
    };
    exit::error(
        ExitCode::Timeout,
        format!("no reply {what} within {waited}{detail}"),
    )
}

/// Compare with `--expect`; a mismatch is reported on stderr as two
/// hexdumps. `took` (send to reply) is the check's time in `--junit`.
fn check_expect(plan: &Plan, round: u64, index: usize, received: &[u8], took: Duration) -> bool {
    let Some(expected) = plan.expected(index) else {
        return true;
    };
    let name = plan.name(round, index);
    let decoded = match expected == received {
        true => Vec::new(),
        false => crate::decode::differences(
            plan.decode,
            Side::Server,
            expected,
            received,
            plan.messages.get(index).map(Vec::as_slice),
        ),
    };
    plan.checks
        .borrow_mut()
        .check_decoded(name.clone(), took, expected, received, &decoded);
    if expected == received {
        return true;
    }
    let mut report = Vec::new();
    let _ = writeln!(report, "p1ge0n: reply to {name} did not match --expect");
    display::mismatch_into(&mut report, expected, received);
    for line in &decoded {
        let _ = writeln!(report, "decoded: {line}");
    }
    let _ = std::io::stderr().write_all(&report);
    false
}

fn verdict(matched: bool) -> ExitCode {
    if matched {
        ExitCode::Success
    } else {
        ExitCode::Mismatch
    }
}

/// A TCP connection ready for messages: connected, recorded, and logged
/// in with `--on-connect`. One decoder serves the login's reply and the
/// messages', so bytes after the login's reply in the same read are kept.
struct Link {
    reader: ReadHalf,
    writer: WriteHalf,
    decoder: Decoder,
    peer_closed: bool,
}

async fn open(plan: &Plan, conn: &mut ClientRecorder) -> Result<Link> {
    let stream = net::connect(&plan.target, &plan.connect).await?;
    conn.opened(stream.transport(), stream.local()?, stream.peer()?)?;
    let decoder = exchange::decoder_for(
        &stream,
        plan.frame.clone().unwrap_or_default(),
        plan.max_frame,
    );
    let (reader, writer) = stream.into_split();
    let mut link = Link {
        reader,
        writer,
        decoder,
        peer_closed: false,
    };
    if let Some(login) = &plan.on_connect {
        log_in(plan, conn, login, &mut link).await?;
    }
    Ok(link)
}

/// `--persistent`: the kept connection, unless the server closed it while
/// we waited between cycles (then it is recorded as closed and dropped, and
/// the cycle opens a new one). Bytes the server sent unasked in between are
/// shown and recorded, and are not taken as the next reply.
fn still_open(conn: &mut ClientRecorder, kept: &mut Option<Link>) -> Result<Option<Link>> {
    let Some(mut link) = kept.take() else {
        return Ok(None);
    };
    let mut unasked = [0u8; 8192];
    loop {
        if link.peer_closed {
            conn.closed()?;
            return Ok(None);
        }
        match link.reader.try_read(&mut unasked) {
            Ok(0) => link.peer_closed = true,
            Ok(n) => conn.data(Side::Server, &unasked[..n])?,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(Some(link)),
            Err(e) => {
                conn.error(&net::describe_io(&e))?;
                return Ok(None);
            }
        }
    }
}

/// One cycle of messages over TCP (TLS, Unix): on a new connection, or
/// with `--persistent` on the one kept from the cycle before (left in
/// `kept` for the next).
async fn exchange_tcp(
    plan: &Plan,
    conn: &mut ClientRecorder,
    round: u64,
    kept: &mut Option<Link>,
) -> Result<ExitCode> {
    let link = match still_open(conn, kept)? {
        Some(link) => link,
        None => {
            conn.conn += 1;
            open(plan, conn).await?
        }
    };
    let link = kept.insert(link);
    let Link {
        reader,
        writer,
        decoder,
        peer_closed,
    } = link;
    let mut matched = true;
    for (index, message) in plan.messages.iter().enumerate() {
        if *peer_closed {
            return Err(exit::error(
                ExitCode::Failure,
                format!(
                    "the server closed the connection after message {index}; {} more not sent",
                    plan.messages.len() - index
                ),
            ));
        }
        writer.send(message).await.map_err(|e| {
            exit::error(
                ExitCode::Failure,
                format!("sending message {}: {}", index + 1, net::describe_io(&e)),
            )
        })?;
        conn.data(Side::Client, message)?;
        if plan.no_reply {
            continue;
        }
        let asked = Instant::now();
        let mut wait = Wait::starting(plan.rule(), asked);
        let (reply, end) = exchange::read_reply(reader, decoder, &mut wait, peer_closed)
            .await
            .map_err(|e| e.context(format!("reading the reply to message {}", index + 1)))?;
        record_reply(conn, &reply)?;
        check_end(
            plan,
            &format!("message {}", index + 1),
            &reply,
            end,
            decoder.buffered(),
        )?;
        matched &= check_expect(plan, round, index, &reply.bytes(), asked.elapsed());
    }
    if !plan.persistent {
        let _ = writer.shutdown().await;
        *kept = None;
    }
    Ok(verdict(matched))
}

/// `--on-connect`: send the login first and await its reply by the same
/// rule as a message's (shown and captured like one; no `--expect`).
async fn log_in(
    plan: &Plan,
    conn: &mut ClientRecorder,
    login: &[u8],
    link: &mut Link,
) -> Result<()> {
    link.writer.send(login).await.map_err(|e| {
        exit::error(
            ExitCode::Failure,
            format!("sending --on-connect: {}", net::describe_io(&e)),
        )
    })?;
    conn.data(Side::Client, login)?;
    if plan.no_reply {
        return Ok(());
    }
    let mut wait = Wait::starting(plan.rule(), Instant::now());
    let (reply, end) = exchange::read_reply(
        &mut link.reader,
        &mut link.decoder,
        &mut wait,
        &mut link.peer_closed,
    )
    .await
    .map_err(|e| e.context("reading the reply to --on-connect"))?;
    record_reply(conn, &reply)?;
    check_end(plan, "--on-connect", &reply, end, link.decoder.buffered())?;
    if link.peer_closed && !plan.messages.is_empty() {
        return Err(exit::error(
            ExitCode::Failure,
            "the server closed the connection after --on-connect; no message sent",
        ));
    }
    Ok(())
}

/// A reply that ended without completing: nothing within `-w` is exit 4
/// (what did arrive in time counts as the reply), a framed reply cut short
/// by the server closing is exit 1.
fn check_end(plan: &Plan, what: &str, reply: &Reply, end: End, partial: usize) -> Result<()> {
    match end {
        End::TimedOut if reply.is_empty() => {
            Err(timeout_error(plan, &format!("to {what}"), partial))
        }
        // A close with nothing before it is no reply: a CI check against a
        // device that drops the connection must not pass (--no-reply does
        // not wait, so it never gets here).
        End::PeerClosed if reply.is_empty() && partial == 0 => Err(exit::error(
            ExitCode::Failure,
            format!("the server closed the connection without replying to {what}"),
        )),
        End::PeerClosed if plan.frame.is_some() => Err(exit::error(
            ExitCode::Failure,
            format!(
                "the server closed the connection before a complete reply to {what} ({} bytes received)",
                reply.len() + partial
            ),
        )),
        _ => Ok(()),
    }
}

/// No payload arguments: copy stdin to the server while printing what comes
/// back, half-close at end of input, then wait for the rest of the reply.
async fn stream_stdin(plan: &Plan, conn: &mut ClientRecorder) -> Result<ExitCode> {
    let Link {
        mut reader,
        mut writer,
        mut decoder,
        ..
    } = open(plan, conn).await?;

    // Uploading runs as its own task so that a server echoing a large
    // stream never deadlocks against us: we keep reading while it reads.
    // It hands back each chunk it sent, to be recorded in order.
    let (sent_tx, mut sent) = tokio::sync::mpsc::unbounded_channel::<Vec<u8>>();
    let mut stdin = crate::stdin::chunks();
    let upload = tokio::spawn(async move {
        while let Some(chunk) = stdin.recv().await {
            let chunk = chunk.context("reading stdin")?;
            writer.send(&chunk).await.map_err(|e| {
                exit::error(
                    ExitCode::Failure,
                    format!("sending stdin: {}", net::describe_io(&e)),
                )
            })?;
            let _ = sent_tx.send(chunk);
        }
        // Half-close: tell the server we are done, keep reading its reply.
        let _ = writer.shutdown().await;
        anyhow::Ok(writer)
    });
    let (received, end) =
        receive_while_uploading(plan, conn, &mut reader, &mut decoder, upload, &mut sent).await?;
    if end == End::TimedOut && received.is_none() {
        return Err(timeout_error(plan, "after the end of stdin", 0));
    }
    Ok(verdict(check_expect(
        plan,
        conn.conn,
        0,
        &received.unwrap_or_default(),
        Duration::ZERO,
    )))
}

/// What happened while stdin uploads and the reply comes in.
enum Upload {
    /// stdin bytes went out (to record).
    Sent(Vec<u8>),
    /// The upload ended (stdin closed, the socket half-closed).
    Done(Result<Result<WriteHalf>, tokio::task::JoinError>),
    /// A read of the reply.
    Read(std::io::Result<usize>),
}

/// Read and record the reply while stdin uploads; the reply rules start at
/// the end of stdin (until then we wait like nc). Returns the reply's bytes
/// (`None` if nothing arrived) and how the wait ended.
async fn receive_while_uploading(
    plan: &Plan,
    conn: &mut ClientRecorder,
    reader: &mut ReadHalf,
    decoder: &mut Decoder,
    upload: tokio::task::JoinHandle<Result<WriteHalf>>,
    sent: &mut tokio::sync::mpsc::UnboundedReceiver<Vec<u8>>,
) -> Result<(Option<Vec<u8>>, End)> {
    tokio::pin!(upload);
    let mut wait = Wait::new(plan.rule());
    let mut reply = Reply::default();
    let mut received = Vec::new();
    let mut uploading = true;
    let mut _writer = None;
    let end = loop {
        while let Ok(chunk) = sent.try_recv() {
            conn.data(Side::Client, &chunk)?;
        }
        for (part, at) in reply.parts.drain(..) {
            conn.data_at(Side::Server, &part, at)?;
            received.extend_from_slice(&part);
        }
        let next = async {
            tokio::select! {
                Some(chunk) = sent.recv() => Upload::Sent(chunk),
                result = &mut upload, if uploading => Upload::Done(result),
                result = reader.read_buf(decoder.buffer_mut()) => Upload::Read(result),
            }
        };
        match exchange::within(wait.verdict(), next).await {
            Waited::Over(end) => break end,
            Waited::Got(Upload::Sent(chunk)) => conn.data(Side::Client, &chunk)?,
            Waited::Got(Upload::Done(result)) => {
                uploading = false;
                _writer = Some(result.context("stdin task")??);
                wait.begin(Instant::now());
            }
            Waited::Got(Upload::Read(result)) => {
                match result {
                    Ok(0) => wait.peer_closed(),
                    Ok(n) => wait.received(Instant::now(), n, 0),
                    Err(e) => return Err(net::read_error(&e).context("reading the reply")),
                }
                exchange::take_all(decoder, &mut wait, &mut reply)
                    .map_err(|e| anyhow::anyhow!("reply: {e}"))?;
            }
        }
    };
    while let Ok(chunk) = sent.try_recv() {
        conn.data(Side::Client, &chunk)?;
    }
    for (part, at) in reply.parts.drain(..) {
        conn.data_at(Side::Server, &part, at)?;
        received.extend_from_slice(&part);
    }
    if let Some(rest) = decoder.finish() {
        conn.data_at(Side::Server, &rest, Instant::now())?;
        received.extend_from_slice(&rest);
    }
    if uploading {
        // The server finished first (closed or replied in full); whatever of
        // stdin is left is not sent.
        upload.abort();
    }
    Ok((wait.got_any().then_some(received), end))
}

/// UDP: each payload is one datagram; each reply is `--replies` datagrams.
async fn exchange_udp(plan: &Plan, conn: &mut ClientRecorder) -> Result<ExitCode> {
    let socket = net::open_udp(&plan.target, plan.udp_options).await?;
    let local = net::canonical(socket.socket.local_addr()?);
    let peer = net::canonical(socket.peer()?);
    conn.opened(Transport::Udp, local.into(), peer.into())?;
    let messages = if plan.messages.is_empty() {
        vec![crate::stdin::read_all().await.context("reading stdin")?]
    } else {
        plan.messages.clone()
    };
    let mut matched = true;
    for (index, message) in messages.iter().enumerate() {
        socket
            .send(message)
            .await
            .map_err(|e| net::udp_error(&plan.target, &e))?;
        conn.data(Side::Client, message)?;
        if plan.no_reply {
            continue;
        }
        let asked = Instant::now();
        let mut wait = Wait::starting(plan.rule(), asked);
        let mut reply = Vec::new();
        let mut unwritten = None;
        let end = exchange::recv_datagrams(&socket, &mut wait, |datagram, from| {
            // To a group or a broadcast address, replies come from the
            // devices' own addresses: record who answered.
            conn.peer = Peer::Ip(net::canonical(from));
            if let Err(e) = conn.data_at(Side::Server, datagram, Instant::now()) {
                unwritten.get_or_insert(e);
            }
            reply.extend_from_slice(datagram);
        })
        .await
        .map_err(|e| net::udp_error(&plan.target, &e))?;
        if let Some(e) = unwritten {
            return Err(e.into());
        }
        if end != End::Complete {
            return Err(timeout_error(plan, &format!("to message {}", index + 1), 0));
        }
        matched &= check_expect(plan, conn.conn, index, &reply, asked.elapsed());
    }
    Ok(verdict(matched))
}
