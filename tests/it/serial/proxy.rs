//! From `proxy.rs`: the proxy's peak memory under a flood.

use crate::proxy::proxy;
use crate::util::*;

/// Back-pressure: 50 clients push 100 MB each through the proxy to an
/// echo server and never read. The proxy forwards only what the other side
/// takes, so its memory stays flat, and it still serves a new client.
#[test]
fn flooding_clients_do_not_grow_the_proxy() {
    let server = Listen::start(&["127.0.0.1:0", "-q"]);
    let px = proxy(&["127.0.0.1:0", &server.target(), "-q"]);
    let (line, _flood) = flood(px.port());
    let hwm = peak_rss_kb(px.pid());
    println!("proxy flood: {line} ; proxy VmHWM {hwm} kB");
    assert!(line.starts_with("clients=50 sent="), "{line}");
    assert!(
        hwm < 100 * 1024,
        "the proxy peaked at {hwm} kB under the flood"
    );
    let run = py_client(px.addr(), b"still here", 10);
    assert_eq!(run.data, b"still here");
}

/// `--idle-timeout 1s` closes a proxied pair 1.0 to 1.2 s after its last
/// byte, each time: the deadline moves with the traffic and fires when it
/// is reached. (The proxy used to poll its byte counters once per limit,
/// so a client went anywhere between 1 and 2 s.)
#[test]
fn idle_timeout_closes_a_proxied_client_within_a_tenth_of_the_limit() {
    use std::io::{Read, Write};
    let server = Socat::echo();
    let px = proxy(&["127.0.0.1:0", &server.target(), "--idle-timeout", "1s"]);
    for round in 0..3 {
        let mut client = px.connect();
        client
            .set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        // Some traffic first, at varying points of the first second, so a
        // timer that ignores activity would show.
        std::thread::sleep(std::time::Duration::from_millis(150 * round));
        // The proxy's last activity is after this instant (it forwards the
        // line and the echo), so the close comes at least 1 s after it.
        let last = std::time::Instant::now();
        client.write_all(b"ping\n").unwrap();
        assert_eq!(read_n(&mut client, 5), b"ping\n");
        let mut rest = Vec::new();
        let n = client.read_to_end(&mut rest).unwrap_or(0);
        let waited = last.elapsed();
        assert_eq!(n, 0, "nothing more arrives: {rest:?}");
        assert!(
            waited >= std::time::Duration::from_millis(1000)
                && waited <= std::time::Duration::from_millis(1200),
            "round {round}: closed {waited:?} after the last write\n{}",
            px.dump()
        );
    }
    assert!(
        px.stderr().contains("idle for 1s, closing"),
        "{}",
        px.dump()
    );
}
