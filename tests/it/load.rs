//! Acceptance 6: many concurrent clients, every echo exact.

use std::time::Duration;

use crate::util::*;

/// 200 concurrent Python clients x 100 messages of 64 bytes, each echo
/// checked byte for byte by the client; listen prints every message and its
/// summary counts them all.
#[test]
fn two_hundred_clients_a_hundred_messages_each() {
    const CLIENTS: usize = 200;
    const MESSAGES: usize = 100;
    const SIZE: usize = 64;
    let mut server = Listen::start(&["127.0.0.1:0", "--frame", "line"]);
    let out = load_client(server.port(), CLIENTS, MESSAGES);
    let summary = stdout_of(&out);
    let total = CLIENTS * MESSAGES;
    assert!(
        summary.starts_with(&format!(
            "clients={CLIENTS} messages={total} ok={total} mismatches=0 errors=0 "
        )),
        "{summary}"
    );

    server.wait_stdout_lines(total, Duration::from_secs(20));
    server.interrupt();
    assert_eq!(server.wait_code(SOON), 130, "{}", server.stderr());
    let recs = records(&server.stdout());
    assert_eq!(recs.len(), total);
    assert!(recs.iter().all(|r| r.len == SIZE && r.dir == "recv"));
    let stderr = server.stderr();
    let line = stderr
        .lines()
        .find(|l| l.starts_with("summary: "))
        .unwrap_or_else(|| panic!("no summary:\n{stderr}"));
    let bytes = total * SIZE;
    assert_eq!(
        line,
        format!(
            "summary: {CLIENTS} connections, {total} messages, {bytes} bytes received, {bytes} bytes sent, 0 refused"
        )
    );
}
