//! From `exit_status.rs`: how long `-w` waits for a silent server.

use std::time::{Duration, Instant};

use crate::util::*;

#[test]
fn status_4_when_the_server_stays_silent() {
    let server = PyServer::start("silent_server.py", &[]);
    let started = Instant::now();
    let out = send_cmd()
        .args(["-w", "500ms", &server.target(), "anyone?"])
        .output()
        .unwrap();
    let took = started.elapsed();
    assert_eq!(code(&out), 4, "{}", show(&out));
    assert!(stderr_of(&out).contains("no reply"), "{}", show(&out));
    assert!(took >= Duration::from_millis(500), "gave up after {took:?}");
    assert!(took < Duration::from_secs(5), "took {took:?} for -w 500ms");
    // The message did go out.
    server
        .proc
        .wait_stdout_contains(&format!("recv 7 {}", hex(b"anyone?")), SOON);
}
