//! From `serve.rs`: RSS of a server after 25,000 failed clients.

use crate::serve::serve;
use crate::util::*;

/// Regression (found by `scripts/soak serve`): without `--verify` or
/// `--junit` there is no report, so a server left serving `--loop 0` keeps
/// nothing per client that hangs up. It used to keep a failed check for
/// every one of them: about 120 bytes each, 5 MB in 30 minutes of soak.
/// 25,000 clients that reset at once must leave RSS within 1 MB.
#[test]
fn serving_forever_keeps_nothing_per_failed_client() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("plc.script");
    std::fs::write(&script, "> STATUS?\\n\n< RUNNING\\n\n").unwrap();
    let server = serve(script.to_str().unwrap(), &["--loop", "0", "-q"]);
    let pid = server.pid();
    let mut served = 0;
    // In batches, each one finished before the next: memory held by many
    // connections at once is not what this test is about.
    let mut reset_clients = |n: usize| {
        for _ in 0..n / 250 {
            for _ in 0..250 {
                // A reset: no TIME_WAIT left behind, 25,000 times over.
                let client = std::net::TcpStream::connect(server.addr()).unwrap();
                socket2::SockRef::from(&client)
                    .set_linger(Some(std::time::Duration::ZERO))
                    .unwrap();
            }
            served += 250;
            assert!(
                wait_until(SOON, || server.stderr().matches("; closing").count()
                    >= served),
                "{}",
                server.dump()
            );
        }
    };
    // Warm up: the runtime's and the allocator's first growth.
    reset_clients(2_000);
    let before = status_kb(pid, "VmRSS:");
    reset_clients(25_000);
    let after = status_kb(pid, "VmRSS:");
    assert!(
        after <= before + 1024,
        "RSS grew from {before} KiB to {after} KiB over 25,000 failed clients"
    );
}
