//! The repl fed from a pipe: each stdin line is applied as if typed, and
//! after the last one the replies are awaited by `send`'s rules
//! (`reply.rs`): with `--frame`, one reply frame per line sent; without,
//! `--idle` of silence after a byte that arrived since the last line was
//! sent; either way the peer closing ends it, and `-w` after the end of
//! input bounds the wait (exit 4 when nothing arrived in time).

use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use tokio::sync::mpsc;

use super::{
    commands::{interpret, Action, Setting},
    editor::Output,
    first_connect,
    session::{Applied, NetEvent, Seen, Session},
};
use crate::{
    cli::ReplArgs,
    exchange::{self, Waited},
    exit::{self, ExitCode},
    frame::FrameSpec,
    net::{ConnectOptions, Stream},
    reply::{End, Rule, Until, Verdict, Wait},
};

pub async fn run(
    args: ReplArgs,
    on_connect: Option<Vec<u8>>,
    connect: ConnectOptions,
) -> Result<ExitCode> {
    let (events_tx, mut events) = mpsc::channel(64);
    let mut session = Session::new(
        &args,
        on_connect,
        connect.clone(),
        Output::Stdio,
        events_tx,
        false,
    );
    if let Some(path) = &args.capture.capture {
        session.start_capture(path)?;
    }
    if let Some(path) = &args.capture.pcap {
        session.start_pcap(path)?;
    }
    let Some(stream) = first_connect(&args, &connect).await? else {
        return Ok(ExitCode::Interrupted);
    };
    let logged_in = session.install(stream);
    let outcome = crate::cmd::run::until_interrupted(
        piped_loop(&mut session, &mut events, &args, logged_in),
        || {},
    )
    .await;
    // Whatever ended the session (even a bad line), what was sent before it
    // leaves the socket buffer before we exit.
    session.close().await;
    let code = outcome?;
    session.check_outputs()?;
    Ok(code)
}

/// The reply rule for the whole session: frames are counted per line sent.
fn rule(session: &Session, args: &ReplArgs) -> Rule {
    let until = if session.settings.frame == FrameSpec::Raw {
        Until::Silence
    } else {
        Until::Frames(0)
    };
    Rule {
        until,
        idle: args.reply.idle.0,
        timeout: args.reply.wait.timeout(),
    }
}

/// Where a piped session stands.
struct Piped<'a> {
    args: &'a ReplArgs,
    /// Lines read so far (errors name them).
    number: usize,
    /// Lines sent so far.
    sent: usize,
    wait: Wait,
    input_done: bool,
    /// How the connection was lost, for the error if a line comes next.
    lost: Option<String>,
    /// `--reconnect`: since when we have been trying, and the line that
    /// waits for the connection.
    reconnecting_since: Option<Instant>,
    held: Option<Vec<u8>>,
}

impl Piped<'_> {
    /// A fresh wait for the replies still due (after `:frame` or a
    /// reconnection): one frame per line sent.
    fn rewait(&mut self, session: &Session) {
        self.wait = Wait::new(rule(session, self.args));
        for _ in 0..self.sent {
            self.wait.expect_another();
        }
    }

    fn end_of_input(&mut self) {
        self.input_done = true;
        self.wait.begin(Instant::now());
    }

    fn sent_one(&mut self) {
        self.sent += 1;
        self.wait.expect_another();
    }

    /// One stdin line, applied as if typed.
    fn on_line(&mut self, session: &mut Session, line: std::io::Result<Vec<u8>>) -> Result<()> {
        self.number += 1;
        let what = format!("line {}", self.number);
        let line = line.context("reading stdin")?;
        let text = String::from_utf8(line)
            .map_err(|_| exit::usage(format!("{what}: not valid UTF-8; not sent")))?;
        let action = interpret(&text, &session.settings, &what).map_err(exit::usage)?;
        match action {
            Action::Send(bytes) if !session.is_connected() => {
                if !self.args.reconnect {
                    let how = self.lost.take().unwrap_or_default();
                    return Err(exit::error(
                        ExitCode::Failure,
                        format!("{what} not sent: the connection is gone ({how})"),
                    ));
                }
                // Sent once the connection is back.
                self.held = Some(bytes);
                self.reconnecting_since.get_or_insert_with(Instant::now);
                session.redial(Duration::ZERO);
            }
            // The rest of the input is not read; replies are still awaited
            // as at its end.
            Action::Quit => self.end_of_input(),
            action => {
                let new_frame = matches!(action, Action::Set(Setting::Frame(_)));
                if session.apply(action).map_err(|e| e.context(what))? == Applied::Sent {
                    self.sent_one();
                }
                if new_frame {
                    self.rewait(session);
                }
                if session.is_dialing() {
                    self.reconnecting_since.get_or_insert_with(Instant::now);
                }
            }
        }
        Ok(())
    }

    /// A connection attempt ended: carry on with the held line, retry
    /// (`--reconnect`, for up to `--connect-timeout`), or fail (exit 3).
    fn on_dialed(&mut self, session: &mut Session, result: Result<Stream>) -> Result<()> {
        match result {
            Ok(stream) => {
                if session.install(stream) {
                    // The --on-connect login's reply is due like a line's.
                    self.sent += 1;
                }
                self.reconnecting_since = None;
                self.rewait(session);
                if let Some(bytes) = self.held.take() {
                    if session.send(bytes) {
                        self.sent_one();
                    }
                }
                Ok(())
            }
            Err(e) => {
                let started = self.reconnecting_since.unwrap_or_else(Instant::now);
                let window = self.args.connect.connect_timeout.0;
                if !self.args.reconnect || started.elapsed() >= window {
                    return Err(e);
                }
                let pause = session.backoff.pause();
                session.redial(pause);
                Ok(())
            }
        }
    }

    /// Whether the session is over, or until when to wait.
    fn verdict(&self, session: &Session) -> Verdict {
        if !self.input_done || session.is_dialing() {
            return Verdict::Wait;
        }
        if self.sent == 0 {
            return Verdict::Done(End::Complete);
        }
        self.wait.verdict()
    }

    /// `-w` ran out: exit 4 if nothing arrived after the last line, as
    /// `send` does; else a note.
    fn finish(&self, session: &mut Session, end: End) -> Result<ExitCode> {
        if end == End::TimedOut {
            let waited =
                humantime::format_duration(self.args.reply.wait.timeout().unwrap_or_default());
            if !self.wait.got_any() {
                return Err(exit::error(
                    ExitCode::Timeout,
                    format!("no reply to the last line within {waited}"),
                ));
            }
            session.note(&format!(
                "no complete reply to the last line within {waited}"
            ));
        }
        Ok(ExitCode::Success)
    }
}

/// What the piped session waited for.
enum Next {
    /// A script line (`None`: the end of the script).
    Line(Option<std::io::Result<Vec<u8>>>),
    Event(NetEvent),
    Dialed(Result<Stream>),
}

async fn piped_loop(
    session: &mut Session,
    events: &mut mpsc::Receiver<NetEvent>,
    args: &ReplArgs,
    logged_in: bool,
) -> Result<ExitCode> {
    let mut lines = crate::stdin::lines();
    let mut piped = Piped {
        args,
        number: 0,
        sent: 0,
        wait: Wait::new(rule(session, args)),
        input_done: false,
        lost: None,
        reconnecting_since: None,
        held: None,
    };
    if logged_in {
        piped.sent_one();
    }
    let end = loop {
        session.check_outputs()?;
        let verdict = piped.verdict(session);
        let reading = !piped.input_done && piped.held.is_none() && !session.is_dialing();
        let dialing = session.is_dialing();
        let next = async {
            tokio::select! {
                line = lines.recv(), if reading => Next::Line(line),
                Some(event) = events.recv() => Next::Event(event),
                result = session.dialed(), if dialing => Next::Dialed(result),
            }
        };
        match exchange::within(verdict, next).await {
            Waited::Over(end) => break end,
            Waited::Got(Next::Line(Some(line))) => piped.on_line(session, line)?,
            Waited::Got(Next::Line(None)) => piped.end_of_input(),
            Waited::Got(Next::Event(event)) => {
                match session.on_event(event) {
                    Seen::Data { frames } => piped.wait.received(Instant::now(), 0, frames),
                    Seen::Lost(how) => {
                        piped.wait.peer_closed();
                        session.note(&how);
                        piped.lost = Some(how);
                    }
                    Seen::Stale => {}
                }
                session.flush();
            }
            Waited::Got(Next::Dialed(result)) => piped.on_dialed(session, result)?,
        }
    };
    session.check_outputs()?;
    piped.finish(session, end)
}
