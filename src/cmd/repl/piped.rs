//! The repl fed from a pipe: each stdin line is applied as if typed, and
//! after the last one the replies are awaited by `send`'s rules
//! (`reply.rs`): with `--frame`, one reply frame per line sent; without,
//! `--idle` of silence after a byte that arrived since the last line was
//! sent; either way the peer closing ends it, and `-w` after the end of
//! input bounds the wait (exit 4 when nothing arrived in time).

use std::time::Instant;

use anyhow::{Context as _, Result};
use tokio::sync::mpsc;

use super::{
    commands::{interpret, Action},
    editor::Output,
    first_connect,
    session::{Applied, NetEvent, Seen, Session},
};
use crate::{
    cli::ReplArgs,
    exchange,
    exit::{self, ExitCode},
    frame::FrameSpec,
    reply::{End, Rule, Until, Verdict, Wait},
};

pub async fn run(args: ReplArgs) -> Result<ExitCode> {
    let (events_tx, mut events) = mpsc::channel(64);
    let mut session = Session::new(&args, Output::Stdio, events_tx, false);
    if let Some(path) = &args.capture.capture {
        session.start_capture(path)?;
    }
    let Some(stream) = first_connect(&args).await? else {
        return Ok(ExitCode::Interrupted);
    };
    session.install(stream);
    let outcome = piped_loop(&mut session, &mut events, &args).await;
    // Whatever ended the session (even a bad line), what was sent before it
    // leaves the socket buffer before we exit.
    session.close().await;
    outcome
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

async fn piped_loop(
    session: &mut Session,
    events: &mut mpsc::Receiver<NetEvent>,
    args: &ReplArgs,
) -> Result<ExitCode> {
    let mut lines = crate::stdin::lines();
    let mut number = 0usize;
    let mut sent = 0usize;
    let mut wait = Wait::new(rule(session, args));
    let mut input_done = false;
    let mut lost: Option<String> = None;
    // With --reconnect a script waits for the device to come back, for up
    // to --connect-timeout; without, a lost connection fails the next send.
    let mut reconnecting_since: Option<Instant> = None;
    let mut held: Option<(String, Vec<u8>)> = None;
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    let end = loop {
        let mut wake = None;
        if input_done && !session.is_dialing() {
            match wait.verdict() {
                _ if sent == 0 => break End::Complete,
                Verdict::Done(end) => break end,
                Verdict::WaitUntil(at, end) => wake = Some((at, end)),
                Verdict::Wait => {}
            }
        }
        tokio::select! {
            line = lines.recv(), if !input_done && held.is_none() && !session.is_dialing() => {
                let Some(line) = line else {
                    input_done = true;
                    wait.begin(Instant::now());
                    continue;
                };
                number += 1;
                let what = format!("line {number}");
                let line = line.context("reading stdin")?;
                let text = String::from_utf8(line)
                    .map_err(|_| exit::usage(format!("{what}: not valid UTF-8; not sent")))?;
                let action = interpret(&text, &session.settings, &what).map_err(exit::usage)?;
                if let (Action::Send(bytes), false) = (&action, session.is_connected()) {
                    if !args.reconnect {
                        let how = lost.take().unwrap_or_default();
                        return Err(exit::error(
                            ExitCode::Failure,
                            format!("{what} not sent: the connection is gone ({how})"),
                        ));
                    }
                    // Sent once the connection is back.
                    held = Some((what, bytes.clone()));
                    reconnecting_since.get_or_insert_with(Instant::now);
                    session.redial(std::time::Duration::ZERO);
                    continue;
                }
                if let Action::Quit = action {
                    // The rest of the input is not read; replies are still
                    // awaited as at its end.
                    input_done = true;
                    wait.begin(Instant::now());
                    continue;
                }
                let setting_frame = matches!(action, Action::Set(super::commands::Setting::Frame(_)));
                match session.apply(action).map_err(|e| e.context(what.clone()))? {
                    Applied::Sent => {
                        sent += 1;
                        wait.expect_another();
                    }
                    Applied::NotSent | Applied::Done | Applied::Quit => {}
                }
                if setting_frame {
                    // A new framing changes how the replies still due are counted.
                    let mut next = Wait::new(rule(session, args));
                    for _ in 0..sent {
                        next.expect_another();
                    }
                    wait = next;
                }
                if session.is_dialing() {
                    reconnecting_since.get_or_insert_with(Instant::now);
                }
            }
            Some(event) = events.recv() => {
                match session.on_event(event) {
                    Seen::Data { frames } => wait.received(Instant::now(), 0, frames),
                    Seen::Lost(how) => {
                        wait.peer_closed();
                        session.note(&how);
                        lost = Some(how);
                    }
                    Seen::Stale => {}
                }
                session.flush();
            }
            result = session.dialed(), if session.is_dialing() => match result {
                Ok(stream) => {
                    session.install(stream);
                    reconnecting_since = None;
                    wait = Wait::new(rule(session, args));
                    for _ in 0..sent {
                        wait.expect_another();
                    }
                    if let Some((_, bytes)) = held.take() {
                        if session.send(bytes) {
                            sent += 1;
                            wait.expect_another();
                        }
                    }
                }
                Err(e) => {
                    let started = reconnecting_since.unwrap_or_else(Instant::now);
                    let window = args.connect.connect_timeout.0;
                    if !args.reconnect || started.elapsed() >= window {
                        return Err(e);
                    }
                    let pause = session.backoff.pause();
                    session.redial(pause);
                }
            },
            _ = exchange::sleep_until(wake.map(|(at, _)| at)), if wake.is_some() => {
                break wake.map_or(End::TimedOut, |(_, end)| end);
            }
            _ = &mut ctrl_c => return Ok(ExitCode::Interrupted),
        }
    };
    if end == End::TimedOut {
        let waited = humantime::format_duration(args.reply.wait.timeout().unwrap_or_default());
        if !wait.got_any() {
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
