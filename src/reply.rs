//! When is a reply complete? One answer for every client: `send` (each
//! message, and the reply after streaming stdin), `repl` from a pipe, and
//! `replay` (the captured byte or frame count).
//!
//! A [`Wait`] is told what arrives (bytes, frames, the peer closing) and
//! when the wait began; [`Wait::verdict`] says whether the reply is done,
//! or until when to wait and how the wait ends if nothing more arrives by
//! then. It never reads a clock or a socket itself, so every rule is
//! tested here with made-up instants (see `docs/ARCHITECTURE.md`).
//!
//! The rules, in order of precedence (README, `send`; `send --help`):
//! 1. the count is reached: `--frame` frames (`--replies N`), or, for
//!    replay without `--frame`, the captured byte count;
//! 2. the peer closed the connection;
//! 3. without a count: `--idle` of silence after the first byte;
//! 4. `-w`: the whole wait is bounded; it ends timed out.

use std::time::{Duration, Instant};

/// What completes a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Until {
    /// This many frames (`--frame`, `--replies`; datagrams over UDP).
    Frames(usize),
    /// This many bytes (replay without `--frame`).
    Bytes(usize),
    /// Silence: `idle` after the last byte.
    Silence,
}

/// A reply-completion rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub until: Until,
    /// Silence that ends an [`Until::Silence`] reply.
    pub idle: Duration,
    /// `-w`: the longest the whole wait may take (`None`: forever).
    pub timeout: Option<Duration>,
}

/// How a wait ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    Complete,
    /// The peer closed the connection before the count was reached.
    PeerClosed,
    /// `-w` ran out before the reply was complete.
    TimedOut,
}

/// What to do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Done(End),
    /// Keep reading; if nothing arrives by this instant, the wait ends so.
    WaitUntil(Instant, End),
    /// Keep reading, without a deadline.
    Wait,
}

/// One wait for a reply.
#[derive(Debug, Clone)]
pub struct Wait {
    rule: Rule,
    /// When the wait began (`None`: not yet, e.g. stdin is still being
    /// uploaded; until then only a count or the peer closing end it).
    since: Option<Instant>,
    frames: usize,
    bytes: usize,
    /// The last byte that belongs to this reply.
    last_byte: Option<Instant>,
    closed: bool,
}

impl Wait {
    /// A wait that has not begun yet (see [`Wait::begin`]).
    pub fn new(rule: Rule) -> Wait {
        Wait {
            rule,
            since: None,
            frames: 0,
            bytes: 0,
            last_byte: None,
            closed: false,
        }
    }

    /// A wait beginning at `now`: a message was just sent.
    pub fn starting(rule: Rule, now: Instant) -> Wait {
        let mut wait = Wait::new(rule);
        wait.begin(now);
        wait
    }

    /// The wait begins (the end of the input); `-w` counts from here, and
    /// silence from here or the last byte, whichever is later.
    pub fn begin(&mut self, now: Instant) {
        self.since.get_or_insert(now);
    }

    pub fn rule(&self) -> &Rule {
        &self.rule
    }

    /// `bytes` arrived at `at`, completing `frames` frames.
    pub fn received(&mut self, at: Instant, bytes: usize, frames: usize) {
        self.bytes += bytes;
        self.frames += frames;
        if bytes > 0 || frames > 0 {
            self.last_byte = Some(at);
        }
    }

    /// Another message was sent on the same wait (a piped repl sends lines
    /// as it reads them): one more frame is due, and silence only counts
    /// after a byte that came after it.
    pub fn expect_another(&mut self) {
        if let Until::Frames(n) = &mut self.rule.until {
            *n += 1;
        }
        self.last_byte = None;
    }

    /// The peer closed the connection.
    pub fn peer_closed(&mut self) {
        self.closed = true;
    }

    /// Whether any byte of the reply arrived.
    pub fn got_any(&self) -> bool {
        self.last_byte.is_some()
    }

    pub fn frames(&self) -> usize {
        self.frames
    }

    pub fn verdict(&self) -> Verdict {
        let counted = match self.rule.until {
            Until::Frames(n) => self.frames >= n,
            Until::Bytes(n) => self.bytes >= n,
            Until::Silence => false,
        };
        if counted {
            return Verdict::Done(End::Complete);
        }
        if self.closed {
            return Verdict::Done(End::PeerClosed);
        }
        let Some(since) = self.since else {
            return Verdict::Wait;
        };
        let silence_ends = match (self.rule.until, self.last_byte) {
            (Until::Silence, Some(at)) => Some(at.max(since) + self.rule.idle),
            _ => None,
        };
        let deadline = self.rule.timeout.map(|t| since + t);
        match (silence_ends, deadline) {
            (Some(quiet), Some(deadline)) if deadline < quiet => {
                Verdict::WaitUntil(deadline, End::TimedOut)
            }
            (Some(quiet), _) => Verdict::WaitUntil(quiet, End::Complete),
            (None, Some(deadline)) => Verdict::WaitUntil(deadline, End::TimedOut),
            (None, None) => Verdict::Wait,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MS: Duration = Duration::from_millis(1);

    fn rule(until: Until, timeout: Option<u64>) -> Rule {
        Rule {
            until,
            idle: 250 * MS,
            timeout: timeout.map(Duration::from_millis),
        }
    }

    #[test]
    fn frames_complete_by_count_and_the_deadline_bounds_them() {
        let t0 = Instant::now();
        let mut wait = Wait::starting(rule(Until::Frames(2), Some(1000)), t0);
        assert_eq!(
            wait.verdict(),
            Verdict::WaitUntil(t0 + 1000 * MS, End::TimedOut)
        );
        wait.received(t0 + MS, 5, 1);
        // Framed replies never end by silence.
        assert_eq!(
            wait.verdict(),
            Verdict::WaitUntil(t0 + 1000 * MS, End::TimedOut)
        );
        assert!(wait.got_any());
        wait.received(t0 + 2 * MS, 5, 1);
        assert_eq!(wait.verdict(), Verdict::Done(End::Complete));
    }

    #[test]
    fn silence_after_the_first_byte_completes_an_unframed_reply() {
        let t0 = Instant::now();
        let mut wait = Wait::starting(rule(Until::Silence, Some(10_000)), t0);
        assert_eq!(
            wait.verdict(),
            Verdict::WaitUntil(t0 + 10_000 * MS, End::TimedOut)
        );
        wait.received(t0 + 100 * MS, 3, 1);
        assert_eq!(
            wait.verdict(),
            Verdict::WaitUntil(t0 + 350 * MS, End::Complete)
        );
        // Without -w, still complete by silence; nothing at all waits on.
        let mut forever = Wait::starting(rule(Until::Silence, None), t0);
        assert_eq!(forever.verdict(), Verdict::Wait);
        forever.received(t0, 1, 1);
        assert_eq!(
            forever.verdict(),
            Verdict::WaitUntil(t0 + 250 * MS, End::Complete)
        );
    }

    #[test]
    fn the_deadline_wins_when_it_comes_before_the_silence() {
        let t0 = Instant::now();
        let mut wait = Wait::starting(rule(Until::Silence, Some(300)), t0);
        wait.received(t0 + 200 * MS, 1, 1);
        assert_eq!(
            wait.verdict(),
            Verdict::WaitUntil(t0 + 300 * MS, End::TimedOut)
        );
    }

    #[test]
    fn the_peer_closing_ends_any_wait_short_of_the_count() {
        let t0 = Instant::now();
        for until in [Until::Frames(1), Until::Bytes(4), Until::Silence] {
            let mut wait = Wait::starting(rule(until, Some(1000)), t0);
            wait.peer_closed();
            assert_eq!(wait.verdict(), Verdict::Done(End::PeerClosed), "{until:?}");
        }
        // A count already reached is complete, closed or not.
        let mut wait = Wait::starting(rule(Until::Bytes(2), None), t0);
        wait.received(t0, 2, 0);
        wait.peer_closed();
        assert_eq!(wait.verdict(), Verdict::Done(End::Complete));
    }

    #[test]
    fn bytes_complete_at_the_count() {
        let t0 = Instant::now();
        let mut wait = Wait::starting(rule(Until::Bytes(7), Some(50)), t0);
        wait.received(t0, 6, 0);
        assert_eq!(
            wait.verdict(),
            Verdict::WaitUntil(t0 + 50 * MS, End::TimedOut)
        );
        wait.received(t0, 1, 0);
        assert_eq!(wait.verdict(), Verdict::Done(End::Complete));
    }

    #[test]
    fn before_it_begins_only_a_count_or_a_close_ends_it() {
        // send streaming stdin: replies while uploading do not start -w.
        let t0 = Instant::now();
        let mut wait = Wait::new(rule(Until::Silence, Some(100)));
        wait.received(t0, 10, 1);
        assert_eq!(wait.verdict(), Verdict::Wait);
        // Silence counts from the end of the input when the byte came first.
        wait.begin(t0 + 1000 * MS);
        assert_eq!(
            wait.verdict(),
            Verdict::WaitUntil(t0 + 1100 * MS, End::TimedOut)
        );
        let mut wait = Wait::new(rule(Until::Silence, Some(10_000)));
        wait.received(t0, 10, 1);
        wait.begin(t0 + 1000 * MS);
        assert_eq!(
            wait.verdict(),
            Verdict::WaitUntil(t0 + 1250 * MS, End::Complete)
        );
    }

    #[test]
    fn a_piped_repl_waits_for_one_frame_per_line() {
        let t0 = Instant::now();
        let mut wait = Wait::new(rule(Until::Frames(0), Some(10_000)));
        assert_eq!(wait.verdict(), Verdict::Done(End::Complete), "nothing sent");
        wait.expect_another();
        wait.received(t0, 2, 1);
        wait.expect_another();
        wait.begin(t0);
        assert_eq!(
            wait.verdict(),
            Verdict::WaitUntil(t0 + 10_000 * MS, End::TimedOut)
        );
        wait.received(t0, 2, 1);
        assert_eq!(wait.verdict(), Verdict::Done(End::Complete));
        // Unframed: a new line waits for a byte after it.
        let mut wait = Wait::new(rule(Until::Silence, Some(10_000)));
        wait.received(t0, 1, 1);
        wait.expect_another();
        assert!(!wait.got_any());
        wait.begin(t0);
        assert_eq!(
            wait.verdict(),
            Verdict::WaitUntil(t0 + 10_000 * MS, End::TimedOut)
        );
    }

    fn until() -> impl Strategy<Value = Until> {
        prop_oneof![
            (0usize..4).prop_map(Until::Frames),
            (0usize..64).prop_map(Until::Bytes),
            Just(Until::Silence),
        ]
    }

    proptest! {
        /// Whatever arrives, in whatever order: a reached count is always
        /// complete, a wait never ends before it began or after its
        /// deadline, and an unframed wait never waits forever once a byte
        /// arrived.
        #[test]
        fn verdicts_respect_the_rule(
            until in until(),
            timeout in proptest::option::of(0u64..5000),
            arrivals in proptest::collection::vec((0u64..6000, 0usize..20, 0usize..3), 0..12),
            closed in any::<bool>(),
            begin_at in 0u64..6000,
        ) {
            let t0 = Instant::now();
            let r = rule(until, timeout);
            let mut wait = Wait::new(r);
            let (mut bytes, mut frames) = (0, 0);
            for (at, b, f) in &arrivals {
                wait.received(t0 + Duration::from_millis(*at), *b, *f);
                bytes += b;
                frames += f;
            }
            if closed {
                wait.peer_closed();
            }
            prop_assert!(matches!(wait.verdict(), Verdict::Done(_) | Verdict::Wait));
            wait.begin(t0 + Duration::from_millis(begin_at));
            let since = t0 + Duration::from_millis(begin_at);
            let reached = match until {
                Until::Frames(n) => frames >= n,
                Until::Bytes(n) => bytes >= n,
                Until::Silence => false,
            };
            match wait.verdict() {
                Verdict::Done(End::Complete) => prop_assert!(reached),
                Verdict::Done(End::PeerClosed) => prop_assert!(closed && !reached),
                Verdict::Done(End::TimedOut) => prop_assert!(false, "timeouts are announced"),
                Verdict::WaitUntil(at, end) => {
                    prop_assert!(!reached && !closed);
                    prop_assert!(at >= since);
                    if let Some(t) = timeout {
                        prop_assert!(at <= since + Duration::from_millis(t));
                    }
                    if end == End::Complete {
                        prop_assert_eq!(until, Until::Silence);
                        prop_assert!(wait.got_any());
                    }
                }
                Verdict::Wait => {
                    prop_assert!(timeout.is_none());
                    prop_assert!(until != Until::Silence || !wait.got_any());
                }
            }
        }
    }
}
