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
