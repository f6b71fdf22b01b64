//! `p1ge0n replay` end to end: captures made by `listen --capture`, scripts
//! and damaged files, replayed against real servers on loopback.

use std::{thread, time::Duration};

use crate::util::*;

/// Record a session: `listen --capture` driven by `send`, then stop listen.
fn record_session(dir: &std::path::Path) -> std::path::PathBuf {
    let capture = dir.join("c.jsonl");
    let mut server = Listen::capturing_lines(&capture);
    let out = send_cmd()
        .args([
            &server.target(),
            "HELLO\\r\\n",
            "STATUS?\\n",
            "\\x02BIN\\xff\\n",
            "--frame",
            "line",
        ])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", show(&out));
    server.wait_stderr_contains("closed by peer", SOON);
    server.interrupt();
    assert_eq!(server.wait_code(SOON), 130);
    capture
}

/// Acceptance 1: a capture made by listen replays against a fresh listen and
/// verifies; the same bytes reach the new server.
#[test]
fn listen_capture_replays_and_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let capture = record_session(dir.path());
    let text = std::fs::read_to_string(&capture).unwrap();
    assert!(
        text.starts_with("{\"p1ge0n\":\"capture\",\"version\":1,"),
        "{text}"
    );
    assert_eq!(
        text.lines()
            .filter(|l| l.contains("\"from\":\"client\""))
            .count(),
        3,
        "{text}"
    );
    assert_eq!(
        text.lines()
            .filter(|l| l.contains("\"from\":\"server\""))
            .count(),
        3,
        "{text}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&capture).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "captures hold plant traffic: owner-only");
    }

    let fresh = Listen::start(&["127.0.0.1:0", "--frame", "line"]);
    let out = replay(&[capture.to_str().unwrap(), &fresh.target(), "--verify"]);
    assert_eq!(code(&out), 0, "{}", show(&out));
    assert_eq!(
        stdout_of(&out),
        "flow 1 message 1: ok (7 bytes)\nflow 1 message 2: ok (8 bytes)\nflow 1 message 3: ok (6 bytes)\nverify: 3 ok, 0 differ\n"
    );
    let lines = fresh.wait_stdout_lines(3, SOON);
    let payloads: Vec<String> = lines.iter().map(|l| record(l).payload).collect();
    assert_eq!(payloads, ["HELLO\\r\\n", "STATUS?\\n", "\\x02BIN\\xff\\n"]);
}

/// Acceptance 1, second half: one edited reply byte makes --verify exit 5
/// and name the message, with a hexdump of both sides.
#[test]
fn an_edited_reply_byte_fails_verification() {
    let dir = tempfile::tempdir().unwrap();
    let capture = record_session(dir.path());
    let text = std::fs::read_to_string(&capture).unwrap();
    // The server's answer to STATUS? ("5354415455533f0a") becomes STATUS!
    let mut edited = String::new();
    let mut changed = 0;
    for line in text.lines() {
        if line.contains("\"from\":\"server\"") && line.contains("5354415455533f0a") {
            edited.push_str(&line.replace("5354415455533f0a", "535441545553210a"));
            changed += 1;
        } else {
            edited.push_str(line);
        }
        edited.push('\n');
    }
    assert_eq!(changed, 1);
    let edited_path = dir.path().join("edited.jsonl");
    std::fs::write(&edited_path, edited).unwrap();

    let fresh = Listen::start(&["127.0.0.1:0", "--frame", "line"]);
    let out = replay(&[edited_path.to_str().unwrap(), &fresh.target(), "--verify"]);
    assert_eq!(code(&out), 5, "{}", show(&out));
    let stdout = stdout_of(&out);
    assert!(stdout.contains("flow 1 message 1: ok"), "{stdout}");
    assert!(stdout.contains("flow 1 message 2: differs"), "{stdout}");
    assert!(
        stdout.contains("|STATUS!.|"),
        "expected side as hexdump: {stdout}"
    );
    assert!(
        stdout.contains("|STATUS?.|"),
        "received side as hexdump: {stdout}"
    );
    assert!(stdout.contains("first difference at byte 6"), "{stdout}");
    assert!(stdout.contains("flow 1 message 3: ok"), "{stdout}");
    assert!(stdout.ends_with("verify: 2 ok, 1 differs\n"), "{stdout}");
}

/// A hand-written script: sends, expected replies, pauses, comments, with
/// traffic shown as text.
#[test]
fn script_replays_with_records() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("login.script");
    std::fs::write(&script, "# login sequence\n> USER plc\\r\\n\n< USER plc\\r\\n\n+30ms\n> \\x02Q\\x03\n< \\x02Q\\x03\n").unwrap();
    let server = Listen::start(&["127.0.0.1:0", "-q"]);
    let out = replay(&[
        script.to_str().unwrap(),
        &server.target(),
        "--verify",
        "-f",
        "text",
    ]);
    assert_eq!(code(&out), 0, "{}", show(&out));
    let stdout = stdout_of(&out);
    assert!(stdout.contains(" sent 10 USER plc\\r\\n\n"), "{stdout}");
    assert!(stdout.contains(" recv 3 \\x02Q\\x03\n"), "{stdout}");
    assert!(stdout.contains("verify: 2 ok, 0 differ"), "{stdout}");
}

/// `--list` prints the flows with their addresses and totals; `--flow`
/// beyond them is a usage error.
#[test]
fn list_and_flow_selection() {
    let dir = tempfile::tempdir().unwrap();
    let capture = record_session(dir.path());
    let out = replay(&[capture.to_str().unwrap(), "--list"]);
    assert_eq!(code(&out), 0, "{}", show(&out));
    let stdout = stdout_of(&out);
    assert!(stdout.starts_with("flow 1: tcp 127.0.0.1:"), "{stdout}");
    assert!(
        stdout.contains("client 3 messages 21 bytes, server 3 messages 21 bytes"),
        "{stdout}"
    );
    let out = replay(&[capture.to_str().unwrap(), "127.0.0.1:9", "--flow", "2"]);
    assert_fails(&out, 2, "has 1 flow (see --list)");
}

/// Acceptance 5: damaged files exit 2 with the location, and the server
/// receives nothing.
#[test]
fn bad_files_are_rejected_before_anything_is_sent() {
    let dir = tempfile::tempdir().unwrap();
    let good_header = format!("{CAPTURE_HEADER}\n");
    let good_event = "{\"t\":0.1,\"conn\":1,\"peer\":\"127.0.0.1:5000\",\"event\":\"data\",\"from\":\"client\",\"len\":2,\"hex\":\"6869\",\"text\":\"hi\"}\n";
    let bad_hex = "{\"t\":0.2,\"conn\":1,\"peer\":\"127.0.0.1:5000\",\"event\":\"data\",\"from\":\"client\",\"len\":2,\"hex\":\"68zz\",\"text\":\"h?\"}\n";
    // A pcap file header (LE, microseconds, Ethernet) and a packet header
    // announcing 60 bytes, followed by only 10.
    let mut truncated_pcap = vec![
        0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 1, 0, 0, 0,
    ];
    truncated_pcap.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 60, 0, 0, 0, 60, 0, 0, 0]);
    truncated_pcap.extend_from_slice(&[0u8; 10]);
    let cases: Vec<(&str, Vec<u8>, Vec<&str>)> = vec![
        (
            "bad-hex.jsonl",
            format!("{good_header}{good_event}{bad_hex}").into_bytes(),
            vec!["bad-hex.jsonl:3:", "bad \"hex\""],
        ),
        (
            "unknown.script",
            b"> hello\n< hello\n? what\n".to_vec(),
            vec!["unknown.script:3:1:", "unknown directive '?'"],
        ),
        (
            "escape.script",
            b"> ok\n> bad \\q\n".to_vec(),
            vec!["escape.script:2:7:", "unknown escape '\\q'"],
        ),
        (
            "truncated.pcap",
            truncated_pcap,
            vec!["truncated.pcap:", "packet 1"],
        ),
        ("empty.jsonl", Vec::new(), vec!["empty file"]),
    ];
    for (name, bytes, needles) in cases {
        let server = PyServer::start("silent_server.py", &[]);
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let out = replay(&[path.to_str().unwrap(), &server.target(), "--verify"]);
        assert_eq!(code(&out), 2, "{name}: {}", show(&out));
        let stderr = stderr_of(&out);
        for needle in needles {
            assert!(stderr.contains(needle), "{name}: no {needle:?} in {stderr}");
        }
        thread::sleep(Duration::from_millis(100));
        assert!(
            server.log().is_empty(),
            "{name}: the server was contacted: {:?}",
            server.log()
        );
    }
}

/// A server that never answers: exit 4 naming the message.
#[test]
fn a_silent_server_times_out() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("s.script");
    std::fs::write(&script, "> ping\n< pong\n").unwrap();
    let server = PyServer::start("silent_server.py", &[]);
    let out = replay(&[script.to_str().unwrap(), &server.target(), "-w", "300ms"]);
    assert_fails(&out, 4, "flow 1 message 1: no complete reply within 300ms");
}

/// A long replay shows a progress line on a terminal (and clears it), and
/// never in pipes.
#[test]
fn progress_only_on_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("slow.script");
    let mut text = String::new();
    for i in 0..8 {
        text.push_str(&format!("> m{i}\\n\n< m{i}\\n\n+250ms\n"));
    }
    std::fs::write(&script, text).unwrap();
    let server = Listen::start(&["127.0.0.1:0", "-q"]);

    let term = crate::util::term::Term::start(
        dir.path(),
        &[
            "replay",
            script.to_str().unwrap(),
            &server.target(),
            "--verify",
        ],
    );
    term.wait_for("replaying flow 1 (1 in all): message");
    term.wait_within(Duration::from_secs(10), "the replay to end", |t| {
        t.screen().contains("[exit 0]")
    });
    let screen = term.screen();
    assert!(screen.contains("verify: 8 ok, 0 differ"), "{screen}");
    assert!(
        !screen.contains("replaying flow"),
        "progress line not cleared:\n{screen}"
    );

    let out = replay(&[script.to_str().unwrap(), &server.target(), "--verify"]);
    assert_eq!(code(&out), 0, "{}", show(&out));
    assert!(
        out.stderr.is_empty(),
        "nothing on a piped stderr: {}",
        show(&out)
    );
}

/// A script of hex lines replayed without `-x` sends the digits as text,
/// and the device stays silent: the timeout asks "did you mean -x?"
/// (issue 26, trap 13); a text script gets no such hint, and with `-x` the
/// same script plays.
#[test]
fn a_hex_script_without_x_asks_did_you_mean_x() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("modbus.txt");
    std::fs::write(&script, "> 41 42 0a\n< 41 42 0a\n").unwrap();
    let script = script.to_str().unwrap();
    let silent = PyServer::start("silent_server.py", &[]);
    let out = p1ge0n(&["replay", script, &silent.target(), "-w", "300ms"]);
    assert_fails(&out, 4, "did you mean -x?");

    let text = dir.path().join("text.txt");
    std::fs::write(&text, "> hello\\n\n< hello\\n\n").unwrap();
    let out = p1ge0n(&[
        "replay",
        text.to_str().unwrap(),
        &silent.target(),
        "-w",
        "300ms",
    ]);
    assert_eq!(code(&out), 4, "{}", show(&out));
    assert!(!stderr_of(&out).contains("-x"), "{}", show(&out));

    let echo = Listen::start(&["127.0.0.1:0", "-q"]);
    let out = p1ge0n(&[
        "replay",
        script,
        &echo.target(),
        "-x",
        "--verify",
        "--no-delay",
    ]);
    assert_eq!(code(&out), 0, "{}", show(&out));
}
