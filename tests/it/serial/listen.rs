//! From `listen.rs`: RSS after a bulk stream, and how long an idle client
//! is kept.

use std::{io::Write, thread, time::Duration};

use crate::listen::echo_through;
use crate::util::*;

/// After a bulk stream the big buffers are given back: 64 connections that
/// each streamed 2 MB and then sit idle leave listen's memory within a few
/// MB of where it started (256 KiB kept per connection would be 16 MB).
#[test]
fn idle_connections_give_back_their_bulk_buffers() {
    let server = Listen::start(&["127.0.0.1:0", "-q", "--frame", "line"]);
    let pid = server.pid();
    let mut data = Vec::new();
    for i in 0..20_000u32 {
        data.extend_from_slice(format!("{i:>99}\n").as_bytes());
    }
    let mut warm = connect(server.addr());
    assert!(echo_through(&mut warm, &data) == data);
    let before = status_kb(pid, "VmRSS:");
    let mut idle = Vec::new();
    for _ in 0..64 {
        let mut stream = connect(server.addr());
        assert!(echo_through(&mut stream, &data) == data);
        idle.push(stream);
    }
    std::thread::sleep(std::time::Duration::from_millis(200));
    let after = status_kb(pid, "VmRSS:");
    assert!(
        after < before + 6 * 1024,
        "RSS went from {before} kB to {after} kB with 64 idle connections"
    );
    // They are still served.
    for stream in &mut idle {
        assert_eq!(echo_through(stream, b"ok\n"), b"ok\n");
    }
}

/// `--idle-timeout 300ms` drops a silent client and logs why; an active
/// client is unaffected.
#[test]
fn idle_timeout_drops_silent_clients() {
    let server = Listen::start(&["127.0.0.1:0", "--idle-timeout", "300ms"]);
    let mut idle = connect(server.addr());
    let started = std::time::Instant::now();
    let (data, end) = read_to_end(&mut idle);
    assert!(data.is_empty());
    assert_eq!(end, End::Eof, "the idle client should see a clean close");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(250),
        "closed too early: {waited:?}"
    );
    assert!(
        waited < Duration::from_secs(4),
        "closed too late: {waited:?}"
    );
    server.wait_stderr_contains("idle for 300ms, closing", SOON);

    let mut busy = connect(server.addr());
    for _ in 0..4 {
        thread::sleep(Duration::from_millis(150));
        busy.write_all(b"ping").unwrap();
        assert_eq!(read_n(&mut busy, 4), b"ping");
    }
}
