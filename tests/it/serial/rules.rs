//! From `rules.rs`: the line device, whose `delay` rule is timed by the
//! wall clock.

use std::{
    io::Write,
    time::{Duration, Instant},
};

use crate::rules::{ask, device, LINE_DEVICE};
use crate::util::*;

/// each matcher, the counter across messages (and connections),
/// first match wins, a measured delay, close = true, and the echo default.
#[test]
fn a_line_device_simulated_by_rules() {
    let (device, _dir) = device(LINE_DEVICE, &["--frame", "line"]);
    let mut s = device.connect();
    assert_eq!(ask(&mut s, "STATUS?\n"), "RUNNING #1\n");
    assert_eq!(ask(&mut s, "STATUS?\n"), "RUNNING #2\n");
    assert_eq!(ask(&mut s, "SET speed=3\n"), "ACK\n");
    assert_eq!(ask(&mut s, "is there a PING here\n"), "PONG\n");
    // "SET PING": prefix comes first, so it wins.
    assert_eq!(ask(&mut s, "SET PING\n"), "ACK\n");
    assert_eq!(ask(&mut s, "GET 42\n"), "VAL 42\n");
    assert_eq!(ask(&mut s, "anything else\n"), "anything else\n");
    let started = Instant::now();
    assert_eq!(ask(&mut s, "SLOW\n"), "slow\n");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(200) && took < Duration::from_millis(1000),
        "delay 200ms took {took:?}"
    );
    // A request too short for its {{req[..]}} range: logged, unanswered,
    // and the connection carries on.
    s.write_all(b"SHORT\n").unwrap();
    device.wait_stderr_contains("needs 20; not answered", SOON);
    assert_eq!(ask(&mut s, "STATUS?\n"), "RUNNING #3\n");
    assert_eq!(ask(&mut s, "BYE\n"), "bye\n");
    let (rest, end) = read_to_end(&mut s);
    assert!(rest.is_empty() && end == End::Eof, "{rest:?} {end:?}");
    device.wait_stderr_contains("closed by a rule", SOON);
    // The counter is the rule's, across connections.
    let mut again = device.connect();
    assert_eq!(ask(&mut again, "STATUS?\n"), "RUNNING #4\n");
}
