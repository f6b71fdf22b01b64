//! `p1ge0n listen` against real clients: Python sockets, nc, plain TCP.

use std::{io::Write, thread, time::Duration};

use crate::util::*;

/// Acceptance 1: a classic Python client (socket, connect, sendall, recv,
/// close) gets its message back byte for byte, and listen prints one record
/// with the client's address, the direction and the length.
#[test]
fn python_client_gets_its_message_echoed_and_listen_prints_it() {
    let server = Listen::start(&["127.0.0.1:0"]);
    assert_eq!(server.transport(), "tcp");
    let run = py_client(server.addr(), b"HELLO\r\n", 7);
    assert_eq!(run.data, b"HELLO\r\n", "echo differs: {run:?}");
    assert_eq!(run.end, "count");

    let lines = server.wait_stdout_lines(1, SOON);
    assert_eq!(
        lines.len(),
        1,
        "one message, one record:\n{}",
        server.dump()
    );
    let rec = record(&lines[0]);
    assert_eq!(rec.conn, 1);
    assert_eq!(rec.peer, run.local, "the peer is the client's address");
    assert_eq!(rec.dir, "recv");
    assert_eq!(rec.len, 7);
    assert_eq!(rec.payload, "HELLO\\r\\n");
    // The whole line, exactly as documented.
    assert_eq!(
        lines[0],
        format!("{} #1 {} recv 7 HELLO\\r\\n", rec.time, run.local)
    );
    let stderr = server.wait_stderr_contains("closed by peer", SOON);
    assert!(
        stderr.contains(&format!("#1 {} connected", run.local)),
        "{stderr}"
    );
}

/// Binary payloads are printed escaped (never lossy) and echoed unchanged.
#[test]
fn binary_payload_is_escaped_in_the_record_and_echoed_unchanged() {
    let server = Listen::start(&["127.0.0.1:0"]);
    let payload = b"a\x00\x01\t\x1b\\\xff\xc3\xa9z";
    let run = py_client(server.addr(), payload, payload.len());
    assert_eq!(run.data, payload);
    let lines = server.wait_stdout_lines(1, SOON);
    let rec = record(&lines[0]);
    assert_eq!(rec.len, payload.len());
    assert_eq!(rec.payload, r"a\0\x01\t\e\\\xff\xc3\xa9z");
    assert_eq!(rec.payload, escape(payload));
}

/// Acceptance 3: `printf 'hello' | nc -N 127.0.0.1 PORT` prints `hello`:
/// nc half-closes after stdin, listen finishes echoing, then closes.
#[test]
fn nc_with_half_close_gets_hello_back() {
    let server = Listen::start(&["127.0.0.1:0"]);
    let out = assert_cmd::Command::new("nc")
        .args(["-N", "127.0.0.1", &server.port().to_string()])
        .write_stdin("hello")
        .timeout(ONE_SHOT)
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", show(&out));
    assert_eq!(out.stdout, b"hello", "{}", show(&out));
    server.wait_stdout_contains(" recv 5 hello", SOON);
    server.wait_stderr_contains("closed by peer", SOON);
}

/// Stream `data` into `stream` from a second thread while reading the echo
/// here; returns what came back (bounded by the stream's timeouts).
pub(crate) fn echo_through(stream: &mut std::net::TcpStream, data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut writer = stream.try_clone().unwrap();
    let sent = data.to_vec();
    let feeder = std::thread::spawn(move || writer.write_all(&sent).unwrap());
    let echoed = read_n(stream, data.len());
    feeder.join().unwrap();
    echoed
}

/// A bulk stream (8 MB through `nc -N`, so listen reads 256 KiB at a time)
/// comes back byte for byte, and the connection's log line counts every
/// byte both ways.
#[test]
fn a_bulk_stream_is_echoed_byte_for_byte() {
    let server = Listen::start(&["127.0.0.1:0", "-q"]);
    let data: Vec<u8> = (0..8_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let out = assert_cmd::Command::new("nc")
        .args(["-N", "127.0.0.1", &server.port().to_string()])
        .write_stdin(data.clone())
        .timeout(ONE_SHOT)
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", show(&out));
    assert!(
        out.stdout == data,
        "the echo differs ({} bytes back)",
        out.stdout.len()
    );
    server.wait_stderr_contains(" messages, 8000000 bytes in, 8000000 bytes out)", SOON);
}

/// Line framing across large reads: 40,000 lines of 100 bytes arrive in
/// reads that split lines anywhere; every line is answered once and in
/// order, and after the burst a single line on the same connection is
/// still answered on its own.
#[test]
fn lines_of_a_bulk_stream_are_each_answered_then_small_ones_too() {
    let server = Listen::start(&["127.0.0.1:0", "-q", "--frame", "line"]);
    let mut data = Vec::with_capacity(4_000_000);
    for i in 0..40_000u32 {
        data.extend_from_slice(format!("{i:>99}\n").as_bytes());
    }
    let mut stream = connect(server.addr());
    let echoed = echo_through(&mut stream, &data);
    assert!(echoed == data, "the echo differs");
    assert_eq!(echo_through(&mut stream, b"ping\n"), b"ping\n");
    drop(stream);
    server.wait_stderr_contains("closed by peer (40001 messages, ", SOON);
}

/// Acceptance 7: `--allow 127.0.0.2/32` refuses 127.0.0.1: the client sees
/// its connection closed without a byte, listen logs the refusal; a client
/// from 127.0.0.2 is served (so the refusal is the rule's doing).
#[test]
fn allow_refuses_clients_outside_the_network() {
    let server = Listen::start(&["127.0.0.1:0", "--allow", "127.0.0.2/32"]);

    let refused = py_client_from(Some("127.0.0.1"), server.addr(), b"", 0);
    assert_eq!(refused.end, "eof", "recv must return b'': {refused:?}");
    assert!(refused.data.is_empty(), "{refused:?}");
    let stderr = server.wait_stderr_contains("not in any --allow network", SOON);
    assert!(
        stderr.contains(&format!(
            "refused {}: not in any --allow network",
            refused.local
        )),
        "{stderr}"
    );

    // Sending first changes nothing: no data comes back.
    let refused = py_client_from(Some("127.0.0.1"), server.addr(), b"let me in", 0);
    assert!(refused.data.is_empty(), "{refused:?}");
    assert!(
        refused.end == "eof" || refused.end == "reset",
        "{refused:?}"
    );

    let allowed = py_client_from(Some("127.0.0.2"), server.addr(), b"ping", 4);
    assert_eq!(allowed.data, b"ping", "{allowed:?}\n{}", server.dump());
    let lines = server.wait_stdout_lines(1, SOON);
    assert_eq!(
        lines.len(),
        1,
        "refused clients leave no records:\n{}",
        server.dump()
    );
    let rec = record(&lines[0]);
    assert!(rec.peer.starts_with("127.0.0.2:"), "{rec:?}");
    assert_eq!(rec.conn, 1, "refused clients get no connection number");
}

/// An oversized frame drops that client only; another client connected at
/// the same time keeps being served.
#[test]
fn oversized_frame_drops_only_that_client() {
    let server = Listen::start(&["127.0.0.1:0", "--frame", "len=u16be", "--max-frame", "100"]);
    let mut good = server.connect();
    good.write_all(b"\x00\x03abc").unwrap();
    assert_eq!(read_n(&mut good, 5), b"\x00\x03abc");

    let mut bad = server.connect();
    server.wait_stderr_contains("#2 ", SOON);
    // The header announces 5000 bytes; a few of them follow.
    let mut oversized = b"\x13\x88".to_vec();
    oversized.extend_from_slice(&[b'x'; 50]);
    bad.write_all(&oversized).unwrap();
    let (data, end) = read_to_end(&mut bad);
    assert!(data.is_empty(), "no echo for an oversized frame: {data:?}");
    assert_ne!(
        end,
        End::TimedOut,
        "the connection must be closed\n{}",
        server.dump()
    );
    // 5000 announced + 2 header bytes (frames keep their headers).
    let stderr = server.wait_stderr_contains("exceeds", SOON);
    let line = stderr.lines().find(|l| l.contains("exceeds")).unwrap();
    assert!(line.starts_with("#2 "), "{line}");
    assert!(line.contains("500"), "{line}");
    assert!(line.contains("--max-frame"), "{line}");

    good.write_all(b"\x00\x02hi").unwrap();
    assert_eq!(read_n(&mut good, 4), b"\x00\x02hi");
    let mut third = server.connect();
    third.write_all(b"\x00\x01!").unwrap();
    assert_eq!(read_n(&mut third, 3), b"\x00\x01!");
    let first_errors = server
        .stderr()
        .lines()
        .filter(|l| l.starts_with("#1 ") && l.contains("error"))
        .count();
    assert_eq!(first_errors, 0, "{}", server.dump());
}

/// `--once` keeps serving while the first client is connected and exits 0
/// when it leaves.
#[test]
fn once_exits_zero_after_the_first_client_leaves() {
    let mut server = Listen::start(&["127.0.0.1:0", "--once"]);
    let mut client = server.connect();
    client.write_all(b"one").unwrap();
    assert_eq!(read_n(&mut client, 3), b"one");
    thread::sleep(Duration::from_millis(100));
    assert!(
        server.running(),
        "exited while the client was still connected"
    );
    client.write_all(b"two").unwrap();
    assert_eq!(read_n(&mut client, 3), b"two");
    drop(client);
    assert_eq!(server.wait_code(SOON), 0, "{}", server.dump());
    assert_eq!(records(&server.stdout()).len(), 2, "{}", server.dump());
}

/// `--count 3` exits 0 after the third message (and answers all three).
#[test]
fn count_exits_zero_after_three_messages() {
    let mut server = Listen::start(&["127.0.0.1:0", "--frame", "line", "--count", "3"]);
    let mut client = server.connect();
    for msg in [&b"a\n"[..], b"bb\n"] {
        client.write_all(msg).unwrap();
        assert_eq!(read_n(&mut client, msg.len()), msg);
    }
    thread::sleep(Duration::from_millis(100));
    assert!(
        server.running(),
        "exited after two messages\n{}",
        server.dump()
    );
    client.write_all(b"ccc\n").unwrap();
    assert_eq!(read_n(&mut client, 4), b"ccc\n");
    assert_eq!(server.wait_code(SOON), 0, "{}", server.dump());
    let recs = records(&server.stdout());
    let payloads: Vec<_> = recs.iter().map(|r| r.payload.as_str()).collect();
    assert_eq!(payloads, ["a\\n", "bb\\n", "ccc\\n"]);
}

/// `--reply 'ACK\n'` answers every message with ACK instead of an echo.
#[test]
fn reply_answers_every_message_with_the_payload() {
    let server = Listen::start(&["127.0.0.1:0", "--frame", "line", "--reply", "ACK\\n"]);
    let mut client = server.connect();
    let (data, end) = exchange_and_close(&mut client, b"one\ntwo\nthree\n");
    assert_eq!(String::from_utf8_lossy(&data), "ACK\nACK\nACK\n");
    assert_eq!(end, End::Eof);
    // Each message and the reply it got (issue 26, bug 5: the replies were
    // only in --capture).
    let lines = server.wait_stdout_lines(6, SOON);
    let records: Vec<&str> = lines
        .iter()
        .map(|l| {
            l.split_once(" recv ")
                .or(l.split_once(" sent "))
                .map_or("", |(_, r)| r)
        })
        .collect();
    assert_eq!(
        records,
        [
            "4 one\\n",
            "4 ACK\\n",
            "4 two\\n",
            "4 ACK\\n",
            "6 three\\n",
            "4 ACK\\n"
        ],
        "{}",
        server.dump()
    );
    assert_eq!(
        lines.iter().filter(|l| l.contains(" sent 4 ACK")).count(),
        3,
        "{}",
        server.dump()
    );
}

/// What listen answers is shown, decoded, whenever it is not the plain
/// echo; JSON records always carry both directions (issue 26, bug 5).
#[test]
fn answers_other_than_the_echo_are_shown_and_json_has_both_directions() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("device.toml");
    std::fs::write(
        &rules,
        "[[rule]]\nhex = '?? ?? 00 00 00 06 01 03 ?? ?? ?? ??'\nreply-hex = '{{req[0..2]}} 00 00 00 05 01 03 02 00 2a'\n",
    )
    .unwrap();
    let server = Listen::start(&[
        "127.0.0.1:0",
        "--rules",
        rules.to_str().unwrap(),
        "--decode",
        "modbus",
    ]);
    let mut client = server.connect();
    client
        .write_all(&unhex("000700000006010300000001"))
        .unwrap();
    assert_eq!(read_n(&mut client, 11), unhex("000700000005010302002a"));
    let shown = server.wait_stdout_contains("response 1 value: 42", SOON);
    assert!(shown.contains(" sent 11 "), "{}", server.dump());

    let echo = Listen::start(&["127.0.0.1:0", "-f", "json"]);
    let mut client = echo.connect();
    client.write_all(b"hi").unwrap();
    assert_eq!(read_n(&mut client, 2), b"hi");
    drop(client);
    let text = echo.wait_stdout_contains("\"event\":\"close\"", SOON);
    let froms: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("\"event\":\"data\""))
        .map(|l| {
            if l.contains("\"from\":\"client\"") {
                "client"
            } else {
                "server"
            }
        })
        .collect();
    assert_eq!(froms, ["client", "server"], "{text}");
}

/// `--no-echo` prints what arrives and answers nothing.
#[test]
fn no_echo_answers_nothing_but_prints() {
    let server = Listen::start(&["127.0.0.1:0", "--no-echo"]);
    let mut client = server.connect();
    client.write_all(b"hello").unwrap();
    server.wait_stdout_contains(" recv 5 hello", SOON);
    let (data, end) = exchange_and_close(&mut client, b"");
    assert!(data.is_empty(), "--no-echo answered {data:?}");
    assert_eq!(end, End::Eof);
}

/// SIGINT: exit 130 and a summary line with the totals on stderr.
#[test]
fn sigint_exits_130_with_a_summary() {
    let mut server = Listen::start(&["127.0.0.1:0"]);
    for _ in 0..2 {
        let mut client = server.connect();
        let (data, _) = exchange_and_close(&mut client, b"hello");
        assert_eq!(data, b"hello");
    }
    server.wait_stdout_lines(2, SOON);
    server.interrupt();
    assert_eq!(server.wait_code(SOON), 130, "{}", server.dump());
    let stderr = server.stderr();
    let summary = stderr
        .lines()
        .find(|l| l.starts_with("summary: "))
        .unwrap_or_else(|| panic!("no summary line:\n{stderr}"));
    assert!(
        summary.starts_with("summary: 2 connections, 2 messages, "),
        "{summary}"
    );
    assert!(summary.contains("10 bytes"), "{summary}");
}

/// `-f json`: every line is a JSON object in the capture schema.
#[test]
fn json_lines_carry_the_capture_schema() {
    let server = Listen::start(&["127.0.0.1:0", "-f", "json"]);
    let run = py_client(server.addr(), b"HELLO\r\n", 7);
    assert_eq!(run.data, b"HELLO\r\n");
    server.wait_stderr_contains("closed by peer", SOON);
    // The close event follows the close log line closely.
    let wait_close = || server.stdout().contains("\"close\"");
    assert!(
        wait_until(SOON, wait_close),
        "no close event\n{}",
        server.dump()
    );

    let objects: Vec<serde_json::Value> = server
        .stdout()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l:?}")))
        .collect();
    let events: Vec<&serde_json::Value> = objects
        .iter()
        .filter(|o| o.get("p1ge0n").is_none()) // an optional header
        .collect();
    for o in &events {
        assert!(o.is_object(), "{o}");
        for key in ["t", "conn", "peer", "event"] {
            assert!(o.get(key).is_some(), "missing {key:?} in {o}");
        }
        assert!(o["t"].as_f64().is_some_and(|t| t >= 0.0), "{o}");
        assert_eq!(o["conn"], 1, "{o}");
        assert_eq!(o["peer"], run.local.as_str(), "{o}");
    }
    let kinds: Vec<&str> = events
        .iter()
        .map(|o| o["event"].as_str().unwrap())
        .collect();
    // Both directions: the message and its echo (issue 26, bug 5).
    assert_eq!(
        kinds,
        ["open", "data", "data", "close"],
        "{}",
        server.dump()
    );
    for (data, from) in [(events[1], "client"), (events[2], "server")] {
        assert_eq!(data["from"], from, "{data}");
        assert_eq!(data["len"], 7, "{data}");
        assert_eq!(data["hex"], "48454c4c4f0d0a", "{data}");
        assert_eq!(data["text"], "HELLO\r\n", "{data}");
    }
}

/// A binary that cannot bind (port taken) says so and exits 1.
#[test]
fn port_in_use_is_a_runtime_error() {
    let first = Listen::start(&["127.0.0.1:0"]);
    let out = p1ge0n(&["listen", &first.target()]);
    assert_eq!(code(&out), 1, "{}", show(&out));
    assert!(stderr_of(&out).contains("in use"), "{}", show(&out));
}

/// `--max-conns 1`: a second client while the first is connected is closed
/// at accept without data and logged; the first keeps being served, and once
/// it leaves a new client is served again.
#[test]
fn max_conns_closes_extra_clients_and_keeps_serving() {
    let server = Listen::start(&["127.0.0.1:0", "--max-conns", "1"]);
    let mut first = connect(server.addr());
    first.write_all(b"one").unwrap();
    assert_eq!(read_n(&mut first, 3), b"one");

    let mut second = connect(server.addr());
    let (data, end) = read_to_end(&mut second);
    assert!(data.is_empty(), "the extra client got {data:?}");
    assert_ne!(end, End::TimedOut, "the extra client was not closed");
    server.wait_stderr_contains("--max-conns 1 reached", SOON);

    first.write_all(b"two").unwrap();
    assert_eq!(read_n(&mut first, 3), b"two");
    drop(first);
    server.wait_stderr_contains("#1 ", SOON);
    server.wait_stderr_contains("closed by peer", SOON);
    let run = py_client(server.addr(), b"three", 5);
    assert_eq!(run.data, b"three");
}

/// `--deny` wins over `--allow`, and is enforced before any byte is echoed.
#[test]
fn deny_refuses_a_matching_client() {
    let server = Listen::start(&[
        "127.0.0.1:0",
        "--allow",
        "127.0.0.0/8",
        "--deny",
        "127.0.0.1",
    ]);
    let mut s = connect(server.addr());
    let _ = s.write_all(b"secret");
    let (data, end) = read_to_end(&mut s);
    assert!(data.is_empty(), "denied client got {data:?}");
    assert_ne!(end, End::TimedOut);
    server.wait_stderr_contains("matches --deny 127.0.0.1/32", SOON);
    assert!(
        server.stdout().is_empty(),
        "nothing may be printed for a denied client"
    );
}

/// SIGTERM stops the server with status 143 and the summary line.
#[test]
fn sigterm_prints_the_summary_and_exits_143() {
    let mut server = Listen::start(&["127.0.0.1:0"]);
    let run = py_client(server.addr(), b"abc", 3);
    assert_eq!(run.data, b"abc");
    server.wait_stderr_contains("closed by peer", SOON);
    let status = std::process::Command::new("kill")
        .args(["-TERM", &server.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(server.wait_code(SOON), 143, "{}", server.dump());
    let stderr = server.stderr();
    assert!(
        stderr.contains(
            "summary: 1 connection, 1 message, 3 bytes received, 3 bytes sent, 0 refused"
        ),
        "{stderr}"
    );
}

/// Bound to all interfaces with no allow list: a warning (after the
/// listening line, which scripts read first).
#[test]
fn warns_when_open_to_all_interfaces() {
    let server = Listen::start(&["0"]);
    let stderr = server.wait_stderr_contains("warning: listening on all interfaces", SOON);
    assert!(stderr.starts_with("listening on "), "{stderr}");
    let local = std::net::SocketAddr::from(([127, 0, 0, 1], server.port()));
    let run = py_client(local, b"v4 via dual stack", 17);
    assert_eq!(run.data, b"v4 via dual stack");
}
