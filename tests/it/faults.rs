//! Faults and load: misbehaving peers, resource exhaustion, interruption.
//! Nothing may crash `listen`, lose data, or spin the CPU.

use std::{
    collections::HashMap,
    io::Write,
    process::{Command, Stdio},
    thread,
    time::Duration,
};

use crate::util::*;

fn message(client: usize, n: usize) -> Vec<u8> {
    let head = format!("client {client:05} message {n:05} ");
    let mut line = head.into_bytes();
    line.resize(63, b'x');
    line.push(b'\n');
    line
}

/// 1,000 concurrent clients: every byte echoed exactly (checked by the
/// clients) and present exactly once in the capture, which parses line by
/// line.
#[test]
fn nothing_lost_under_a_thousand_clients() {
    const CLIENTS: usize = 1000;
    const MESSAGES: usize = 10;
    let dir = tempfile::tempdir().unwrap();
    let capture = dir.path().join("load.jsonl");
    let mut server = Listen::capturing_lines(&capture);
    let out = load_client(server.port(), CLIENTS, MESSAGES);
    let total = CLIENTS * MESSAGES;
    assert!(
        stdout_of(&out).starts_with(&format!(
            "clients={CLIENTS} messages={total} ok={total} mismatches=0 errors=0 "
        )),
        "{}",
        show(&out)
    );
    server.wait_stderr_contains(&format!("#{CLIENTS} "), SOON);
    assert!(wait_until(Duration::from_secs(20), || server
        .stderr()
        .matches("closed by peer")
        .count()
        >= CLIENTS));
    server.interrupt();
    assert_eq!(server.wait_code(SOON), 130);

    let text = std::fs::read_to_string(&capture).unwrap();
    assert!(text.ends_with('\n'), "the last line is complete");
    let mut from_client: HashMap<u64, Vec<u8>> = HashMap::new();
    let mut from_server: HashMap<u64, Vec<u8>> = HashMap::new();
    for (i, line) in text.lines().enumerate().skip(1) {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("line {}: {e}: {line}", i + 1));
        if v["event"] != "data" {
            continue;
        }
        let conn = v["conn"].as_u64().unwrap();
        let bytes = unhex(v["hex"].as_str().unwrap());
        let side = if v["from"] == "client" {
            &mut from_client
        } else {
            &mut from_server
        };
        side.entry(conn).or_default().extend_from_slice(&bytes);
    }
    let mut captured: Vec<Vec<u8>> = from_client.values().cloned().collect();
    captured.sort();
    let mut sent: Vec<Vec<u8>> = (0..CLIENTS)
        .map(|c| (0..MESSAGES).flat_map(|n| message(c, n)).collect())
        .collect();
    sent.sort();
    assert_eq!(captured.len(), CLIENTS);
    assert!(
        captured == sent,
        "the capture does not hold exactly what the clients sent"
    );
    assert_eq!(from_client, from_server, "every message echoed, once");
}

/// SIGINT and SIGTERM in the middle of a load: the capture is whole (every
/// line parses, none half-written) and the summary is printed.
#[test]
fn interrupting_under_load_leaves_a_whole_capture() {
    for signal in ["-INT", "-TERM"] {
        let dir = tempfile::tempdir().unwrap();
        let capture = dir.path().join("c.jsonl");
        let mut server = Listen::capturing_lines(&capture);
        let mut load = Command::new("python3")
            .arg(peer_script("load_client.py"))
            .args([
                "--port",
                &server.port().to_string(),
                "--clients",
                "100",
                "--messages",
                "100000",
                "--size",
                "64",
                "--timeout",
                "30",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        assert!(wait_until(Duration::from_secs(10), || std::fs::metadata(
            &capture
        )
        .map(|m| m.len() > 200_000)
        .unwrap_or(false)));
        Command::new("kill")
            .args([signal, &server.pid().to_string()])
            .status()
            .unwrap();
        let status = server.wait_code(SOON);
        let _ = load.kill();
        let _ = load.wait();
        assert_eq!(status, if signal == "-INT" { 130 } else { 143 });
        assert!(server.stderr().contains("summary: "), "{}", server.stderr());
        let text = std::fs::read_to_string(&capture).unwrap();
        assert!(text.ends_with('\n'), "{signal}: half-written last line");
        for (i, line) in text.lines().enumerate() {
            serde_json::from_str::<serde_json::Value>(line)
                .unwrap_or_else(|e| panic!("{signal}: line {}: {e}", i + 1));
        }
        // And replay accepts it as a whole.
        let out = replay(&[capture.to_str().unwrap(), "--list"]);
        assert_eq!(code(&out), 0, "{}", show(&out));
    }
}

/// A client that resets in the middle of a message loses only its own
/// connection.
#[test]
fn a_peer_resetting_mid_message_affects_only_itself() {
    let server = Listen::start(&["127.0.0.1:0", "--frame", "line"]);
    let mut other = connect(server.addr());
    other.write_all(b"before\n").unwrap();
    assert_eq!(read_n(&mut other, 7), b"before\n");

    let resetter =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    resetter.connect(&server.addr().into()).unwrap();
    resetter.send(b"half a mess").unwrap();
    thread::sleep(Duration::from_millis(100));
    resetter.set_linger(Some(Duration::ZERO)).unwrap();
    drop(resetter);
    server.wait_stderr_contains("#2 ", SOON);
    let stderr = server.wait_stderr_contains("connection reset by peer", SOON);
    assert!(stderr.contains("#2 127.0.0.1:"), "{stderr}");

    other.write_all(b"after\n").unwrap();
    assert_eq!(read_n(&mut other, 6), b"after\n");
}

/// `send` against a server that closes or resets mid-exchange: status 1
/// with the message named.
#[test]
fn send_reports_a_server_closing_or_resetting() {
    let server = PyServer::start("closing_server.py", &["--mode", "close-after-first"]);
    let out = send_cmd()
        .args([&server.target(), "one\\n", "two\\n", "--frame", "line"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 1, "{}", show(&out));
    assert_eq!(out.stdout, b"one\n", "the first reply still reaches stdout");
    assert!(stderr_of(&out).contains("message 2"), "{}", show(&out));

    let server = PyServer::start("closing_server.py", &["--mode", "reset"]);
    let out = send_cmd()
        .args([&server.target(), "hello\\n"])
        .output()
        .unwrap();
    assert_fails(&out, 1, "connection reset by peer");

    // A clean close with no answer is no reply, framed or not (issue 26,
    // bug 1: the unframed case used to exit 0).
    let server = PyServer::start("closing_server.py", &["--mode", "close-silently"]);
    for frame in [&["--frame", "line"][..], &[]] {
        let out = send_cmd()
            .args([&server.target(), "hello\\n"])
            .args(frame)
            .output()
            .unwrap();
        assert_fails(
            &out,
            1,
            "the server closed the connection without replying to message 1",
        );
    }
}

/// `replay` against a server that closes after the first exchange.
#[test]
fn replay_reports_a_server_closing() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("three.script");
    std::fs::write(
        &script,
        "> one\\n\n< one\\n\n> two\\n\n< two\\n\n> three\\n\n< three\\n\n",
    )
    .unwrap();
    let server = PyServer::start("closing_server.py", &["--mode", "close-after-first"]);
    let out = replay(&[script.to_str().unwrap(), &server.target(), "--verify"]);
    assert_eq!(code(&out), 1, "{}", show(&out));
    assert!(
        stdout_of(&out).contains("flow 1 message 1: ok"),
        "{}",
        show(&out)
    );
    assert!(
        stderr_of(&out).contains("flow 1 message 2"),
        "{}",
        show(&out)
    );
}
