//! `p1ge0n listen`: the echo server PLCs and robots connect to.
//!
//! A server subcommand (`server.rs` accepts, limits, counts and stops); its
//! per-connection tasks are a thin shell around the core: bytes go into a
//! `frame::Decoder`, each frame is counted, recorded through the shared
//! observers (stdout records, `--capture`; batched per read into
//! `output::Sink`s) and answered (echo, `--reply`, nothing, or by the
//! first matching rule of `--rules`, `rules.rs`). Everything a client
//! can do wrong (garbage, oversized frames, resets, stalling) ends only that
//! client's task; the server itself stops only on `--once`, `--count` or a
//! signal.

use std::{
    borrow::Cow,
    net::SocketAddr,
    sync::{atomic::Ordering::Relaxed, Arc},
    time::Duration,
};

use anyhow::Result;
use tokio::{io::AsyncWriteExt, net::UdpSocket};

use super::{
    inputs,
    server::{self, plural, Handler, Options, RelayRecording, Server},
};
use crate::{
    cli::ListenArgs,
    exec::{self, ChildEnv, Ended, Once},
    exit::ExitCode,
    frame::{Decoder, FrameSpec},
    net::{self, ReadHalf, Stream, WriteHalf},
    output::HeldRecorder,
    program::Program,
    record::{Event, Meta, Peer, Role, Side},
    rules::Rules,
};

/// What the server answers to each message.
#[derive(Debug)]
enum Answer {
    Echo,
    Reply(Vec<u8>),
    Nothing,
    /// `--rules FILE`: the first matching rule, else the file's default.
    Rules(Rules),
    /// `--exec CMD`: a program per connection (`exec_connection`).
    Exec(Program),
    /// `--exec-each CMD`: a program per message (`ConnTask::run_program`).
    ExecEach(Program),
}

/// One message's answer, worked out: the bytes, and (rules) what to do
/// around sending them.
struct Reply<'a> {
    bytes: Cow<'a, [u8]>,
    /// A rule's `exec`: its program answers instead of `bytes`.
    program: Option<&'a Program>,
    delay: Option<Duration>,
    close: bool,
}

impl Answer {
    /// What to send back for one message; `who` names the connection in
    /// log lines (`#3 127.0.0.1:5000`), `log` whether rule lines are shown.
    fn to<'a>(&'a self, message: &'a [u8], who: &dyn std::fmt::Display, log: bool) -> Reply<'a> {
        let bytes = match self {
            Answer::Echo => Cow::Borrowed(message),
            Answer::Reply(reply) => Cow::Borrowed(reply.as_slice()),
            Answer::Nothing => Cow::Borrowed(&[][..]),
            Answer::Rules(rules) => return rule_reply(rules, message, who, log),
            // Answered by their programs, never from here.
            Answer::Exec(_) | Answer::ExecEach(_) => Cow::Borrowed(&[][..]),
        };
        Reply {
            bytes,
            program: None,
            delay: None,
            close: false,
        }
    }
}

/// Answer by the rules, saying which rule answered (unless `-q`) and why a
/// reply could not be built (always: that message goes unanswered, the
/// connection carries on).
fn rule_reply<'a>(
    rules: &'a Rules,
    message: &[u8],
    who: &dyn std::fmt::Display,
    log: bool,
) -> Reply<'a> {
    let answer = rules.answer(message);
    let label = answer
        .rule
        .map_or_else(|| "default".to_string(), |r| r.label());
    let bytes = match answer.reply {
        _ if answer.exec.is_some() => {
            if log {
                let close = if answer.close { ", then close" } else { "" };
                let program = answer.exec.map_or("", |p| p.line.as_str());
                crate::say!("{who} {label}: to '{program}'{close}");
            }
            Vec::new()
        }
        Ok(bytes) => {
            if log {
                let close = if answer.close { ", then close" } else { "" };
                crate::say!(
                    "{who} {label}: {} reply{close}",
                    plural(bytes.len() as u64, "byte")
                );
            }
            bytes
        }
        Err(reason) => {
            crate::say!("{who} {label}: {reason}; not answered");
            Vec::new()
        }
    };
    Reply {
        bytes: Cow::Owned(bytes),
        program: answer.exec,
        delay: answer.delay,
        close: answer.close,
    }
}

/// listen's own configuration: how it answers, and how it frames.
struct Listen {
    answer: Answer,
    frame: FrameSpec,
    max_frame: usize,
    /// Programs: how long one may take (per message: 10s unless set), and
    /// how many per-message programs may run at once (`--exec-max`).
    exec_timeout: Option<Duration>,
    exec_slots: tokio::sync::Semaphore,
}

/// A per-message program's time when `--exec-timeout` is not given.
const EXEC_EACH_TIMEOUT: Duration = Duration::from_secs(10);

pub fn run(args: ListenArgs) -> Result<ExitCode> {
    inputs::check_framing(&args.frame)?;
    let rules_path = args.rules.clone();
    let answer = match (&args.reply, args.no_echo, &args.rules) {
        _ if args.exec.is_some() => Answer::Exec(args.exec.clone().expect("checked")),
        _ if args.exec_each.is_some() => Answer::ExecEach(args.exec_each.clone().expect("checked")),
        (_, _, Some(path)) => Answer::Rules(inputs::read_rules(path)?),
        (Some(text), _, _) => Answer::Reply(inputs::parse_payload_os(
            "--reply",
            text,
            inputs::mode(args.hex),
        )?),
        (None, true, _) => Answer::Nothing,
        (None, false, _) => Answer::Echo,
    };
    let listen = Listen {
        answer,
        frame: inputs::framing(&args.frame, args.output.decode).unwrap_or_default(),
        max_frame: args.frame.max_frame.0,
        exec_timeout: args.exec_timeout.map(|d| d.0),
        exec_slots: tokio::sync::Semaphore::new(args.exec_max as usize),
    };
    if matches!(listen.answer, Answer::ExecEach(_)) && !args.udp && listen.frame == FrameSpec::Raw {
        return Err(crate::exit::usage(
            "--exec-each runs its program once per message: give --frame (or --decode PROTO) so that TCP bytes make messages",
        ));
    }
    let programs: Vec<&Program> = match &listen.answer {
        Answer::Exec(program) | Answer::ExecEach(program) => vec![program],
        Answer::Rules(rules) => rules.programs().collect(),
        _ => Vec::new(),
    };
    for program in &programs {
        exec::check_startable(program).map_err(|e| crate::exit::usage(e.to_string()))?;
    }
    if !programs.is_empty() {
        // A program that exits without reading its input must not take
        // the server down with SIGPIPE.
        crate::process::ignore_sigpipe();
    }
    let mut options = Options::new(
        args.addr,
        args.udp,
        Role::Server,
        args.serve,
        &args.keepalive,
        args.output,
        args.capture,
    );
    options.tls = args.tls.server()?;
    options.join = args.join;
    // The echo is what the client sent, shown once; any other answer
    // (--reply, --rules) is shown as sent, decoded with --decode.
    options.shows_answers = !matches!(listen.answer, Answer::Echo);
    if let (Answer::Rules(rules), Some(path)) = (&listen.answer, &rules_path) {
        if rules.is_empty() {
            options.notes.push(format!(
                "warning: {} has no [[rule]]: every message gets the default ({})",
                path.display(),
                rules.fallback_name()
            ));
        }
    }
    server::run(options, listen)
}

impl Handler for Listen {
    async fn stream(server: Arc<Server<Self>>, stream: Stream, peer: Peer, id: u64) {
        match &server.handler.answer {
            Answer::Exec(program) => exec_connection(&server, program, stream, peer, id).await,
            _ => serve_connection(&server, stream, peer, id).await,
        }
    }

    async fn udp(server: Arc<Server<Self>>, socket: UdpSocket) -> Result<ExitCode> {
        udp_loop(&server, Arc::new(socket)).await
    }
}

/// One message and our answer to it; TCP and UDP record alike.
fn record(recorder: &mut HeldRecorder, meta: &Meta, message: &[u8], answered: &[u8]) {
    recorder.hold_with(
        meta,
        Event::Data {
            from: Side::Client,
            bytes: message,
        },
    );
    if !answered.is_empty() {
        recorder.hold_with(
            meta,
            Event::Data {
                from: Side::Server,
                bytes: answered,
            },
        );
    }
}

/// How a connection ended, for the log line.
enum Ending {
    PeerClosed,
    Idle(Duration),
    Error(String),
    CountReached,
    RuleClosed,
}

/// The read size while a connection streams in bulk...
const BULK_READ: usize = 256 * 1024;
/// ...which a read this large starts or continues (a normal read is
/// offered 8 KiB; protocol messages are smaller).
const BULK_AFTER: usize = 8 * 1024;

/// One connection's state between reads.
struct ConnTask {
    id: u64,
    peer: Peer,
    decoder: Decoder,
    recorder: HeldRecorder,
    /// Answers to several messages of one read, gathered into one write.
    answer: Vec<u8>,
    /// Our end and the transport's name, for a program's environment.
    local: Option<Peer>,
    transport: &'static str,
    messages: u64,
    bytes_in: u64,
    bytes_out: u64,
}

/// What the frames of one read came to.
struct Answered {
    /// The common case, one echoed message per read: written straight from
    /// the receive buffer (no copy). Otherwise the answer is in `answer`.
    echo_only: Option<bytes::Bytes>,
    count_reached: bool,
    frame_error: Option<String>,
    /// A rule said to wait before this reply: it is sent after what is
    /// gathered so far, and the frames after it wait their turn.
    delayed: Option<(Duration, Vec<u8>)>,
    /// A rule said to close the connection after its reply.
    close: bool,
    /// `--exec-each` or a rule's `exec`: this message goes to that
    /// program (after the rule's delay); the frames after it wait their
    /// turn.
    program_input: Option<(Program, Option<Duration>, bytes::Bytes)>,
}

impl ConnTask {
    /// Frame, count, record and answer what the last read brought; at end
    /// of stream an incomplete frame is still what the client sent, so it
    /// is answered too.
    fn answer_frames(&mut self, server: &Server<Listen>, at_eof: bool) -> Answered {
        let config = &server.handler;
        // Clock reads only when something will show them.
        let meta = if server.observes() {
            self.recorder.meta()
        } else {
            Meta::unstamped(self.id, self.peer)
        };
        let mut done = Answered {
            echo_only: None,
            count_reached: false,
            frame_error: None,
            delayed: None,
            close: false,
            program_input: None,
        };
        // Named only in rule log lines: no allocation on the echo path.
        let who = match config.answer {
            Answer::Rules(_) => format!("#{} {}", self.id, self.peer),
            _ => String::new(),
        };
        let log = !server.options.quiet;
        let mut uncounted = 0u64;
        loop {
            let frame = match self.decoder.next_frame() {
                Ok(Some(frame)) => frame,
                Ok(None) if at_eof => match self.decoder.finish() {
                    Some(rest) => rest,
                    None => break,
                },
                Ok(None) => break,
                Err(e) => {
                    done.frame_error = Some(e.to_string());
                    break;
                }
            };
            // Without --count, messages are tallied once per read rather than
            // with a shared atomic per message.
            let last = if server.options.count.is_some() {
                let (admitted, last) = server.admit_message();
                if !admitted {
                    done.count_reached = true;
                    break;
                }
                last
            } else {
                uncounted += 1;
                false
            };
            self.messages += 1;
            if let Answer::ExecEach(program) = &config.answer {
                record(&mut self.recorder, &meta, &frame, &[]);
                done.program_input = Some((program.clone(), None, frame));
                done.count_reached = last;
                break;
            }
            let reply = config.answer.to(&frame, &who, log);
            if let Some(program) = reply.program.cloned() {
                let (delay, close) = (reply.delay, reply.close);
                drop(reply);
                record(&mut self.recorder, &meta, &frame, &[]);
                done.program_input = Some((program, delay, frame));
                done.count_reached = last;
                done.close = close;
                break;
            }
            let answered: &[u8] = &reply.bytes;
            record(&mut self.recorder, &meta, &frame, answered);
            let close = reply.close;
            if let Some(delay) = reply.delay {
                done.delayed = Some((delay, answered.to_vec()));
                done.close = close;
                break;
            }
            if matches!(config.answer, Answer::Echo)
                && self.answer.is_empty()
                && done.echo_only.is_none()
            {
                done.echo_only = Some(frame);
            } else {
                if let Some(first) = done.echo_only.take() {
                    self.answer.extend_from_slice(&first);
                }
                self.answer.extend_from_slice(answered);
            }
            if close {
                done.close = true;
                break;
            }
            if last {
                done.count_reached = true;
                break;
            }
        }
        if uncounted > 0 {
            server.stats.messages.fetch_add(uncounted, Relaxed);
        }
        done
    }

    /// Answer everything the last read brought, waiting out rule delays on
    /// the way; `Some` when the connection is to end.
    async fn answer_read(
        &mut self,
        server: &Server<Listen>,
        writer: &mut WriteHalf,
        at_eof: bool,
    ) -> Option<Ending> {
        loop {
            let done = self.answer_frames(server, at_eof);
            server.deliver(&mut self.recorder).await;
            let out: &[u8] = match &done.echo_only {
                Some(frame) => frame,
                None => &self.answer,
            };
            if let Err(e) = write_out(server, writer, out, &mut self.bytes_out).await {
                return Some(e);
            }
            self.answer.clear();
            if let Some(reason) = done.frame_error {
                return Some(Ending::Error(reason));
            }
            if let Some((program, delay, message)) = done.program_input {
                if let Some(delay) = delay {
                    tokio::time::sleep(delay).await;
                }
                let reply = self.run_program(server, &program, &message).await;
                if let Err(e) = write_out(server, writer, &reply, &mut self.bytes_out).await {
                    return Some(e);
                }
                if done.count_reached {
                    return Some(Ending::CountReached);
                }
                if done.close {
                    let _ = writer.shutdown().await;
                    return Some(Ending::RuleClosed);
                }
                // Frames after this one may be buffered already.
                continue;
            }
            if done.count_reached {
                return Some(Ending::CountReached);
            }
            if let Some((delay, reply)) = done.delayed {
                tokio::time::sleep(delay).await;
                if let Err(e) = write_out(server, writer, &reply, &mut self.bytes_out).await {
                    return Some(e);
                }
                if !done.close {
                    // Frames after the delayed one may be buffered already.
                    continue;
                }
            }
            if done.close {
                let _ = writer.shutdown().await;
                return Some(Ending::RuleClosed);
            }
            return None;
        }
    }

    /// `--exec-each`: run the program for one message (waiting for a slot
    /// of `--exec-max`), record and return its reply, and log how it ended
    /// when that is worth saying.
    async fn run_program(
        &mut self,
        server: &Server<Listen>,
        program: &Program,
        message: &[u8],
    ) -> Vec<u8> {
        let env = ChildEnv {
            peer: self.peer,
            local: self.local,
            transport: self.transport,
            conn: self.id,
            message: Some(self.messages),
        };
        let once = run_each(server, program, &env, message).await;
        if !once.reply.is_empty() {
            self.recorder.hold(Event::Data {
                from: Side::Server,
                bytes: &once.reply,
            });
            server.deliver(&mut self.recorder).await;
        }
        log_program_end(self.id, self.peer, self.messages, &once.ended);
        once.reply
    }

    /// Give back what a bulk stream made large (the receive buffer, the
    /// gathered answers) once it is empty.
    fn shrink(&mut self) {
        self.decoder.shrink_if_grown();
        if self.answer.is_empty() && self.answer.capacity() > 16 * 1024 {
            self.answer = Vec::new();
        }
    }

    /// The connection's last log line.
    fn log_ending(&self, ending: &Ending) {
        let (id, peer) = (self.id, self.peer);
        if self.decoder.skipped() > 0 {
            crate::say!(
                "#{id} {peer} skipped {} bytes outside frames",
                self.decoder.skipped()
            );
        }
        let totals = format!(
            "{}, {} in, {} out",
            plural(self.messages, "message"),
            plural(self.bytes_in, "byte"),
            plural(self.bytes_out, "byte")
        );
        match ending {
            Ending::PeerClosed => crate::say!("#{id} {peer} closed by peer ({totals})"),
            Ending::Idle(limit) => crate::say!(
                "#{id} {peer} idle for {}, closing ({totals})",
                humantime::format_duration(*limit)
            ),
            Ending::Error(reason) => {
                crate::say!("#{id} {peer} error: {reason}; connection closed ({totals})")
            }
            Ending::CountReached => crate::say!("#{id} {peer} --count reached, closing ({totals})"),
            Ending::RuleClosed => crate::say!("#{id} {peer} closed by a rule ({totals})"),
        }
    }
}

/// Write an answer (nothing when empty), counting its bytes.
async fn write_out(
    server: &Server<Listen>,
    writer: &mut WriteHalf,
    out: &[u8],
    bytes_out: &mut u64,
) -> Result<(), Ending> {
    if out.is_empty() {
        return Ok(());
    }
    writer
        .send(out)
        .await
        .map_err(|e| Ending::Error(net::describe_io(&e)))?;
    *bytes_out += out.len() as u64;
    server.stats.bytes_out.fetch_add(out.len() as u64, Relaxed);
    Ok(())
}

/// Run `--exec-each`'s program for one message, once a slot of
/// `--exec-max` is free.
async fn run_each(
    server: &Server<Listen>,
    program: &Program,
    env: &ChildEnv,
    message: &[u8],
) -> Once {
    let config = &server.handler;
    let _slot = config.exec_slots.acquire().await;
    exec::run_once(
        program,
        env,
        message,
        config.exec_timeout.unwrap_or(EXEC_EACH_TIMEOUT),
        config.max_frame,
    )
    .await
}

/// Say how a per-message program ended, unless it simply succeeded.
fn log_program_end(id: u64, peer: impl std::fmt::Display, message: u64, ended: &Ended) {
    let what = match ended {
        Ended::Exited(status) if status.success() => return,
        Ended::Exited(status) => exec::describe(status),
        Ended::TimedOut(limit) => format!(
            "not done after {}: stopped it and its process group",
            humantime::format_duration(*limit)
        ),
        Ended::Cut(limit) => format!(
            "replied more than --max-frame ({}): the reply is cut there and the program stopped",
            plural(*limit as u64, "byte")
        ),
        Ended::NotStarted(e) => format!("{e}; not answered"),
    };
    crate::say!("#{id} {peer} message {message}: the program {what}");
}

/// `--exec CMD`: one program per connection, relayed both ways and
/// recorded like any connection; the connection ends when the program
/// closes its stdout (or exits), and the program (and its process group)
/// is stopped when the connection ends first.
async fn exec_connection(
    server: &Server<Listen>,
    program: &Program,
    stream: Stream,
    peer: Peer,
    id: u64,
) {
    crate::say!("#{id} {peer} connected");
    let config = &server.handler;
    let mut recorder = server.recorder(id, peer);
    server.event(&mut recorder, Event::Open).await;
    let env = ChildEnv {
        peer,
        local: stream.local().ok(),
        transport: stream.name(),
        conn: id,
        message: None,
    };
    let (mut running, stdin, stdout) = match exec::spawn(program, &env) {
        Ok(started) => started,
        Err(e) => {
            let reason = e.to_string();
            crate::say!("#{id} {peer} {reason}; closing");
            server.event(&mut recorder, Event::Error(&reason)).await;
            return;
        }
    };
    let recording = RelayRecording::new(server, recorder, &config.frame, config.max_frame);
    // The program's output ending ends the connection (after its last byte).
    let relayed = crate::relay::relay(
        &recording,
        stream.into_split(),
        (stdout, stdin),
        server.options.idle_timeout,
        Some(Side::Server),
    );
    let relayed = match config.exec_timeout {
        Some(limit) => tokio::time::timeout(limit, relayed).await.ok(),
        None => Some(relayed.await),
    };
    let (line, failure) = match &relayed {
        None => (
            format!(
                "the program took longer than --exec-timeout {}; stopped it",
                humantime::format_duration(config.exec_timeout.unwrap_or_default())
            ),
            None,
        ),
        Some((crate::relay::Ending::Idle(limit), _)) => (
            format!("idle for {}, closing", humantime::format_duration(*limit)),
            None,
        ),
        Some((ending, _)) => match ending.failure() {
            Some(reason) => (format!("{reason}; closing"), Some(reason.to_string())),
            None => ("closed".to_string(), None),
        },
    };
    // A program whose output ended gets a moment to exit by itself.
    let status = match tokio::time::timeout(exec::GRACE, running.wait()).await {
        Ok(Ok(status)) => Some(status),
        _ => running.stop().await,
    };
    let totals = relayed.map(|(_, totals)| {
        format!(
            " ({} to the program, {} from it)",
            plural(totals.to_server, "byte"),
            plural(totals.to_client, "byte")
        )
    });
    crate::say!("#{id} {peer} {line}{}", totals.unwrap_or_default());
    if let Some(status) = status.filter(|s| !s.success()) {
        crate::say!("#{id} {peer} the program {}", exec::describe(&status));
    }
    let mut recorder = recording.recorder.lock().await;
    let event = match &failure {
        Some(reason) => Event::Error(reason),
        None => Event::Close,
    };
    server.event(&mut recorder, event).await;
}

/// A bulk read of what is already queued, into 256 KiB of room; `None`
/// when nothing is (or the transport cannot tell: TLS), to wait instead.
fn read_queued(reader: &mut ReadHalf, decoder: &mut Decoder) -> Option<std::io::Result<usize>> {
    match reader.try_read_buf(decoder.buffer_with_spare(BULK_READ))? {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => None,
        result => Some(result),
    }
}

async fn serve_connection(server: &Server<Listen>, stream: Stream, peer: Peer, id: u64) {
    crate::say!("#{id} {peer} connected");
    let config = &server.handler;
    let (local, transport) = match config.answer {
        // Only programs see them (and our address costs a system call).
        Answer::ExecEach(_) => (stream.local().ok(), stream.name()),
        Answer::Rules(ref rules) if rules.programs().next().is_some() => {
            (stream.local().ok(), stream.name())
        }
        _ => (None, ""),
    };
    let mut conn = ConnTask {
        id,
        peer,
        decoder: crate::exchange::decoder_for(&stream, config.frame.clone(), config.max_frame)
            .reading(Side::Client),
        recorder: server.recorder(id, peer),
        answer: Vec::new(),
        local,
        transport,
        messages: 0,
        bytes_in: 0,
        bytes_out: 0,
    };
    server.event(&mut conn.recorder, Event::Open).await;
    let (mut reader, mut writer) = stream.into_split();
    // Bulk: a read of 8 KiB or more (all the room a normal read gets) means
    // a stream is pouring in. Then read 256 KiB at a time, without waiting,
    // for as long as bytes are already there (a quarter of the system calls
    // of a 64 KiB echo loop; BENCHMARKS.md, bulk), and give the big buffers
    // back as soon as the socket has nothing queued, so an idle connection
    // holds 8 KiB. Only where the read size cannot show: with raw framing a
    // message is one read, so a raw stream that is recorded, counted or
    // answered by rules keeps its 8 KiB reads.
    let bulk_allowed = config.frame != FrameSpec::Raw
        || (matches!(config.answer, Answer::Echo) && !server.observes_or_counts());
    let mut bulk = false;
    let idle = crate::relay::Idle::new();
    let ending = loop {
        let queued = match bulk {
            true => read_queued(&mut reader, &mut conn.decoder),
            false => None,
        };
        let read = match queued {
            Some(result) => result.map(Some),
            None => {
                if bulk {
                    bulk = false;
                    conn.shrink();
                }
                let read = crate::exchange::read_framed(&mut reader, &mut conn.decoder);
                match server.options.idle_timeout {
                    Some(limit) => match idle.bound(limit, read).await {
                        Ok(result) => result,
                        Err(limit) => break Ending::Idle(limit),
                    },
                    None => read.await,
                }
            }
        };
        let at_eof = match read {
            // A silence ended a frame: answer it.
            Ok(None) => false,
            Ok(Some(0)) => true,
            Ok(Some(n)) => {
                conn.bytes_in += n as u64;
                server.stats.bytes_in.fetch_add(n as u64, Relaxed);
                bulk = bulk_allowed && n >= BULK_AFTER;
                false
            }
            Err(e) => break Ending::Error(net::describe_io(&e)),
        };
        if let Some(ending) = conn.answer_read(server, &mut writer, at_eof).await {
            break ending;
        }
        if !bulk {
            conn.shrink();
        }
        if at_eof {
            // Half-close handled: everything received has been answered;
            // now close our side too.
            let _ = writer.shutdown().await;
            break Ending::PeerClosed;
        }
    };
    conn.log_ending(&ending);
    let event = match &ending {
        Ending::Error(reason) => Event::Error(reason),
        _ => Event::Close,
    };
    server.event(&mut conn.recorder, event).await;
    if matches!(ending, Ending::CountReached) {
        let _ = writer.shutdown().await;
        server.finish(ExitCode::Success);
    }
}

/// The peer of a UDP recorder before its first datagram (each datagram
/// sets its sender's).
fn peer_placeholder() -> Peer {
    Peer::Ip(([0, 0, 0, 0], 0).into())
}

async fn send_datagram(
    server: &Server<Listen>,
    socket: &UdpSocket,
    bytes: &[u8],
    id: u64,
    peer: SocketAddr,
) {
    match socket.send_to(bytes, peer).await {
        Ok(sent) => {
            server.stats.bytes_out.fetch_add(sent as u64, Relaxed);
        }
        Err(e) => crate::say!("#{id} {peer} send error: {}", net::describe_io(&e)),
    }
}

/// A datagram answered by a program (`--exec-each`, a rule's `exec`): it
/// runs on its own task, so a slow one holds up no other sender, and its
/// reply goes out when it is done.
fn program_for_datagram(
    server: &Arc<Server<Listen>>,
    socket: &Arc<UdpSocket>,
    program: Program,
    delay: Option<Duration>,
    data: &[u8],
    id: u64,
    peer: SocketAddr,
) {
    let (server, socket, message) = (server.clone(), socket.clone(), data.to_vec());
    let local = socket.local_addr().ok();
    let number = server.stats.messages.load(Relaxed);
    tokio::spawn(async move {
        if let Some(delay) = delay {
            tokio::time::sleep(delay).await;
        }
        let env = ChildEnv {
            peer: Peer::Ip(peer),
            local: local.map(Peer::Ip),
            transport: "udp",
            conn: id,
            message: Some(number),
        };
        let once = run_each(&server, &program, &env, &message).await;
        if !once.reply.is_empty() {
            let mut recorder = server.recorder(id, Peer::Ip(peer));
            server
                .event(
                    &mut recorder,
                    Event::Data {
                        from: Side::Server,
                        bytes: &once.reply,
                    },
                )
                .await;
            send_datagram(&server, &socket, &once.reply, id, peer).await;
        }
        log_program_end(id, peer, number, &once.ended);
    });
}

/// UDP: each datagram is one message, answered to its sender. Peers get a
/// connection number the first time they are seen, so records read the same
/// as for TCP.
async fn udp_loop(server: &Arc<Server<Listen>>, socket: Arc<UdpSocket>) -> Result<ExitCode> {
    const MAX_PEERS: usize = 65_536;
    let config = &server.handler;
    let mut peers: std::collections::HashMap<SocketAddr, u64> = Default::default();
    let mut next_id = 0u64;
    let mut buf = vec![0u8; 65_536];
    let mut recorder = server.recorder(0, peer_placeholder());
    loop {
        let (n, peer) = server.recv_admitted(&socket, &mut buf).await;
        if peers.len() >= MAX_PEERS && !peers.contains_key(&peer) {
            peers.clear();
        }
        let id = *peers.entry(peer).or_insert_with(|| {
            next_id += 1;
            server.stats.connections.fetch_add(1, Relaxed);
            crate::say!("#{next_id} {peer} first datagram");
            next_id
        });
        let data = &buf[..n];
        server.stats.bytes_in.fetch_add(n as u64, Relaxed);
        let (admitted, last) = server.admit_message();
        if !admitted {
            return Ok(ExitCode::Success);
        }
        (recorder.conn, recorder.peer) = (id, Peer::Ip(peer));
        let meta = recorder.meta();
        if let Answer::ExecEach(program) = &config.answer {
            record(&mut recorder, &meta, data, &[]);
            server.deliver(&mut recorder).await;
            program_for_datagram(server, &socket, program.clone(), None, data, id, peer);
            if last {
                return Ok(ExitCode::Success);
            }
            continue;
        }
        let reply = config
            .answer
            .to(data, &format!("#{id} {peer}"), !server.options.quiet);
        record(&mut recorder, &meta, data, &reply.bytes);
        if let Some(program) = reply.program {
            server.deliver(&mut recorder).await;
            program_for_datagram(
                server,
                &socket,
                program.clone(),
                reply.delay,
                data,
                id,
                peer,
            );
            if last {
                return Ok(ExitCode::Success);
            }
            continue;
        }
        server.deliver(&mut recorder).await;
        let silent = match config.answer {
            Answer::Nothing => true,
            Answer::Rules(_) => reply.bytes.is_empty(),
            _ => false,
        };
        if !silent {
            match reply.delay {
                // A delayed answer must not hold up the other senders.
                Some(delay) => {
                    let (socket, server) = (socket.clone(), server.clone());
                    let bytes = reply.bytes.into_owned();
                    tokio::spawn(async move {
                        tokio::time::sleep(delay).await;
                        send_datagram(&server, &socket, &bytes, id, peer).await;
                    });
                }
                None => send_datagram(server, &socket, &reply.bytes, id, peer).await,
            }
        }
        if last {
            return Ok(ExitCode::Success);
        }
    }
}
