//! `p1ge0n send` against real servers: socat, a Python echo server, and
//! `p1ge0n listen` itself (TCP, UDP, IPv6).

use std::{thread, time::Duration};

use crate::util::*;

fn all_bytes() -> Vec<u8> {
    (0..=255u8).collect()
}

/// Acceptance 2: the exact reply from socat, printed raw on stdout.
#[test]
fn prints_the_exact_reply_from_socat() {
    let socat = Socat::echo();
    let out = send_cmd()
        .args([&socat.target(), "hello\\r\\n"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", show(&out));
    assert_eq!(out.stdout, b"hello\r\n", "{}", show(&out));
}

/// Acceptance 2: the exact reply from a Python echo server, binary payload.
#[test]
fn prints_the_exact_reply_from_a_python_echo_server() {
    let server = PyServer::start("echo_server.py", &[]);
    let out = send_cmd()
        .args(["-x", &server.target(), "00 01 02 ff fe 0d 0a 1b 5c"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", show(&out));
    assert_eq!(
        out.stdout,
        b"\x00\x01\x02\xff\xfe\r\n\x1b\\",
        "{}",
        show(&out)
    );
}

fn stdin_round_trip(target: &str, data: &[u8]) {
    let out = send_cmd().arg(target).write_stdin(data).output().unwrap();
    assert_eq!(code(&out), 0, "{}", show(&out));
    assert!(
        out.stdout == data,
        "stdin did not round-trip: sent {} bytes, got {} bytes\n{}",
        data.len(),
        out.stdout.len(),
        show(&out)
    );
}

/// Acceptance 2: all 256 byte values piped through stdin come back
/// unchanged (stream stdin, half-close, read until the server closes).
#[test]
fn stdin_with_all_byte_values_round_trips_through_socat() {
    let socat = Socat::echo();
    stdin_round_trip(&socat.target(), &all_bytes());
}

#[test]
fn stdin_with_all_byte_values_round_trips_through_python() {
    let server = PyServer::start("echo_server.py", &[]);
    stdin_round_trip(&server.target(), &all_bytes());
}

#[test]
fn stdin_with_all_byte_values_round_trips_through_listen() {
    let server = Listen::start(&["127.0.0.1:0"]);
    stdin_round_trip(&server.target(), &all_bytes());
    server.wait_stderr_contains("closed by peer", SOON);
}

/// A stream larger than the socket buffers must not deadlock: send keeps
/// reading the echo while it uploads.
#[test]
fn one_mebibyte_of_stdin_round_trips() {
    let data: Vec<u8> = all_bytes().into_iter().cycle().take(1 << 20).collect();
    let server = PyServer::start("echo_server.py", &[]);
    stdin_round_trip(&server.target(), &data);
    let server = Listen::start(&["127.0.0.1:0", "-q"]);
    stdin_round_trip(&server.target(), &data);
}

/// Several payloads with `--frame line`: several exchanges, one connection.
#[test]
fn several_payloads_are_several_exchanges_on_one_connection() {
    let server = Listen::start(&["127.0.0.1:0", "--frame", "line"]);
    let out = send_cmd()
        .args([
            &server.target(),
            "one\\n",
            "two\\n",
            "three\\n",
            "--frame",
            "line",
        ])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", show(&out));
    assert_eq!(stdout_of(&out), "one\ntwo\nthree\n", "{}", show(&out));

    let stderr = server.wait_stderr_contains("closed by peer", SOON);
    assert_eq!(stderr.matches(" connected").count(), 1, "{stderr}");
    // Records go through listen's output thread: wait for them.
    let recs = records(&server.wait_stdout_lines(3, SOON).join("\n"));
    let seen: Vec<(u64, &str)> = recs.iter().map(|r| (r.conn, r.payload.as_str())).collect();
    assert_eq!(seen, [(1, "one\\n"), (1, "two\\n"), (1, "three\\n")]);
}

/// `-f text` on send shows each message sent and each reply received.
#[test]
fn text_format_shows_sent_and_received_records() {
    let server = Listen::start(&["127.0.0.1:0", "--frame", "line"]);
    let out = send_cmd()
        .args([
            &server.target(),
            "one\\n",
            "two\\n",
            "--frame",
            "line",
            "-f",
            "text",
        ])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", show(&out));
    let recs = records(&stdout_of(&out));
    let seen: Vec<(&str, usize, &str)> = recs
        .iter()
        .map(|r| (r.dir.as_str(), r.len, r.payload.as_str()))
        .collect();
    assert_eq!(
        seen,
        [
            ("sent", 4, "one\\n"),
            ("recv", 4, "one\\n"),
            ("sent", 4, "two\\n"),
            ("recv", 4, "two\\n")
        ],
        "{}",
        show(&out)
    );
    for r in &recs {
        assert_eq!(r.peer, server.target(), "{r:?}");
    }
}

/// `--retry 3s` succeeds against a server that starts 500 ms later.
///
/// This is the one place where a port is chosen before its server exists
/// (bind port 0, close, reuse the number): the point of the test is that
/// nothing listens there at first. The gap is a few hundred milliseconds on
/// loopback, so another program grabbing the port is not a realistic risk.
#[test]
fn retry_connects_to_a_server_that_starts_later() {
    let port = free_port();
    let target = format!("127.0.0.1:{port}");
    let mut cmd = std::process::Command::new(bin());
    cmd.args(["send", "--retry", "3s", &target, "hello"]);
    let mut send = Proc::spawn(cmd);
    thread::sleep(Duration::from_millis(500));
    assert!(
        send.running(),
        "send gave up before the server started\n{}",
        send.dump()
    );
    let server = Listen::start(&[&target]);
    assert_eq!(server.port(), port);
    assert_eq!(send.wait_code(SOON), 0, "{}", send.dump());
    assert_eq!(send.stdout(), "hello", "{}", send.dump());
    server.wait_stdout_contains(" recv 5 hello", SOON);
}

/// Acceptance 6: UDP on both sides.
#[test]
fn udp_echo_with_u_on_both_sides() {
    let server = Listen::start(&["-u", "127.0.0.1:0"]);
    assert_eq!(server.transport(), "udp");
    assert_eq!(
        server.stderr().lines().next().unwrap(),
        format!("listening on 127.0.0.1:{} (udp)", server.port())
    );
    let out = send_cmd()
        .args(["-u", &server.target(), "ping\\n"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", show(&out));
    assert_eq!(out.stdout, b"ping\n", "{}", show(&out));
    let lines = server.wait_stdout_lines(1, SOON);
    let rec = record(&lines[0]);
    assert_eq!(
        (rec.dir.as_str(), rec.len, rec.payload.as_str()),
        ("recv", 5, "ping\\n")
    );
    assert!(rec.peer.starts_with("127.0.0.1:"), "{rec:?}");
}

/// Acceptance 6: IPv6 loopback. Where ::1 cannot be bound the test fails
/// saying so, unless `P1GE0N_SKIP=ipv6` skips it.
#[test]
fn ipv6_loopback() {
    let test = "send::ipv6_loopback";
    if skipped("ipv6", test) {
        return;
    }
    if let Some(e) = ipv6_unavailable() {
        panic!(
            "{test} needs IPv6 loopback and cannot bind [::1]:0: {e} (P1GE0N_SKIP=ipv6 skips it)"
        );
    }
    let server = Listen::start(&["[::1]:0"]);
    assert_eq!(
        server.stderr().lines().next().unwrap(),
        format!("listening on [::1]:{} (tcp)", server.port())
    );
    let out = send_cmd()
        .args([&server.target(), "hello over v6"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", show(&out));
    assert_eq!(stdout_of(&out), "hello over v6", "{}", show(&out));
    let lines = server.wait_stdout_lines(1, SOON);
    let rec = record(&lines[0]);
    assert!(rec.peer.starts_with("[::1]:"), "{rec:?}");
    assert_eq!(rec.payload, "hello over v6");
}

/// Stdin that is a regular file (`send ADDR < file`) is streamed as well as
/// a pipe is (it is read differently: a file cannot be polled).
#[test]
fn stdin_from_a_regular_file_round_trips() {
    let server = Listen::start(&["127.0.0.1:0", "-q"]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("payload.bin");
    let data: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&path, &data).unwrap();
    // assert_cmd would replace stdin; `timeout` bounds the run instead.
    let out = std::process::Command::new("timeout")
        .arg("20")
        .arg(bin())
        .args(["send", &server.target()])
        .stdin(std::fs::File::open(&path).unwrap())
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", show(&out));
    assert!(
        out.stdout == data,
        "the echo differs ({} bytes back)",
        out.stdout.len()
    );
}

/// On a terminal the record headers are coloured (payloads never are);
/// `NO_COLOR` turns colour off, and a pipe never gets any.
#[test]
fn colour_only_on_a_terminal_and_never_with_no_color() {
    let server = Listen::start(&["127.0.0.1:0", "-q"]);
    let home = tempfile::tempdir().unwrap();
    let args = ["send", &server.target(), "hi\\n", "-f", "text"];
    let coloured = crate::util::term::Term::start(home.path(), &args);
    coloured.wait_for("[exit 0]");
    let screen = coloured.screen_with_escapes();
    let recv_line = screen
        .lines()
        .find(|l| l.contains("recv"))
        .unwrap_or_else(|| panic!("{screen}"));
    assert!(
        recv_line.contains('\u{1b}'),
        "no colour on a terminal: {recv_line:?}"
    );
    assert!(
        recv_line.ends_with(" 3 hi\\n"),
        "the payload is never coloured: {recv_line:?}"
    );

    let plain = crate::util::term::Term::start_with_env(home.path(), &[("NO_COLOR", "1")], &args);
    plain.wait_for("[exit 0]");
    let screen = plain.screen_with_escapes();
    assert!(screen.contains(" recv 3 hi\\n"), "{screen}");
    assert!(
        !screen.contains('\u{1b}'),
        "colour despite NO_COLOR: {screen:?}"
    );

    let piped = send_cmd().args(&args[1..]).output().unwrap();
    assert!(
        !piped.stdout.contains(&0x1b),
        "colour in a pipe: {}",
        show(&piped)
    );
}

/// A server that closes without a byte gave no reply (issue 26, bug 1):
/// exit 1 with the reason, in every format, and with or without --frame
/// (before, the plain case printed nothing and exited 0). `--no-reply`
/// does not wait for one, so it still succeeds.
#[test]
fn a_close_without_a_byte_is_no_reply() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("close.toml");
    std::fs::write(
        &rules,
        "default = \"close\"\n[[rule]]\nmatch = 'never'\nreply = 'x'\n",
    )
    .unwrap();
    let server = Listen::start(&["127.0.0.1:0", "-q", "--rules", rules.to_str().unwrap()]);
    let target = server.target();
    for extra in [&[][..], &["-f", "json"], &["--frame", "line"]] {
        let mut args = vec!["send", target.as_str(), "x"];
        args.extend_from_slice(extra);
        let out = p1ge0n(&args);
        assert_eq!(code(&out), 1, "{extra:?}: {}", show(&out));
        let err = stderr_of(&out);
        assert!(err.contains("closed the connection"), "{extra:?}: {err}");
    }
    let out = p1ge0n(&["send", &server.target(), "x"]);
    assert!(
        stderr_of(&out).contains("the server closed the connection without replying to message 1"),
        "{}",
        show(&out)
    );
    let out = p1ge0n(&["send", &server.target(), "x", "--no-reply"]);
    assert_eq!(code(&out), 0, "{}", show(&out));
}

/// `send -f json` and `replay -f json` carry open, close and error events
/// like listen's, repl's and proxy's (issue 26, bug 6): a refused
/// connection or a timeout leaves a JSON record saying so.
#[test]
fn json_records_carry_connection_events() {
    let events = |out: &std::process::Output| -> Vec<(String, String)> {
        stdout_of(out)
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                let what = match v["event"].as_str().unwrap() {
                    "data" => v["from"].as_str().unwrap().to_string(),
                    "error" => v["reason"].as_str().unwrap().to_string(),
                    _ => String::new(),
                };
                (v["event"].as_str().unwrap().to_string(), what)
            })
            .collect()
    };
    let echo = Listen::start(&["127.0.0.1:0", "-q"]);
    let out = p1ge0n(&["send", &echo.target(), "hi", "-f", "json"]);
    assert_eq!(code(&out), 0, "{}", show(&out));
    let kinds: Vec<String> = events(&out).into_iter().map(|(e, _)| e).collect();
    assert_eq!(kinds, ["open", "data", "data", "close"], "{}", show(&out));

    let port = free_port();
    let out = p1ge0n(&["send", &format!("127.0.0.1:{port}"), "hi", "-f", "json"]);
    assert_eq!(code(&out), 3, "{}", show(&out));
    let seen = events(&out);
    assert_eq!(seen.len(), 1, "{}", show(&out));
    assert_eq!(seen[0].0, "error");
    assert!(seen[0].1.contains("refused"), "{seen:?}");
    assert!(
        stdout_of(&out).contains(&format!("\"peer\":\"127.0.0.1:{port}\"")),
        "{}",
        show(&out)
    );

    let silent = PyServer::start("silent_server.py", &[]);
    let out = p1ge0n(&["send", &silent.target(), "hi", "-f", "json", "-w", "200ms"]);
    assert_eq!(code(&out), 4, "{}", show(&out));
    let seen = events(&out);
    let kinds: Vec<&str> = seen.iter().map(|(e, _)| e.as_str()).collect();
    assert_eq!(kinds, ["open", "data", "error"], "{}", show(&out));
    assert!(seen[2].1.contains("no reply"), "{seen:?}");

    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("s.txt");
    std::fs::write(&script, "> hi\n< hi\n").unwrap();
    let out = p1ge0n(&[
        "replay",
        script.to_str().unwrap(),
        &echo.target(),
        "-f",
        "json",
    ]);
    assert_eq!(code(&out), 0, "{}", show(&out));
    let kinds: Vec<String> = events(&out).into_iter().map(|(e, _)| e).collect();
    assert_eq!(kinds, ["open", "data", "data", "close"], "{}", show(&out));
}

/// Polling (issue 26, trap 12): a failed cycle is named as the cycle, and
/// `--keep-going` goes on to the end, says how many cycles failed and exits
/// with the first failure's status. Each device answers N1, N2, N3.
#[test]
fn polling_names_the_failed_cycle_and_keep_going_counts_them() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("counter.toml");
    std::fs::write(&rules, "[[rule]]\nmatch = 'x'\nreply = 'N{{counter}}'\n").unwrap();
    let poll = |extra: &[&str]| {
        let server = Listen::start(&["127.0.0.1:0", "-q", "--rules", rules.to_str().unwrap()]);
        let target = server.target();
        let mut args = vec![
            "send",
            "--repeat",
            "3",
            "--interval",
            "10ms",
            "--expect",
            "N1",
        ];
        args.extend_from_slice(extra);
        args.extend_from_slice(&[target.as_str(), "x"]);
        p1ge0n(&args)
    };
    let out = poll(&[]);
    assert_eq!(code(&out), 5, "{}", show(&out));
    let err = stderr_of(&out);
    assert!(
        err.contains("reply to cycle 2 message 1 did not match --expect"),
        "{err}"
    );
    assert!(!err.contains("cycle 3"), "it stopped at cycle 2: {err}");

    let out = poll(&["--keep-going"]);
    assert_eq!(code(&out), 5, "{}", show(&out));
    let err = stderr_of(&out);
    assert!(
        err.contains("reply to cycle 3 message 1 did not match"),
        "{err}"
    );
    assert!(err.contains("2 of 3 cycles failed"), "{err}");
}

/// Polling over one connection (issue 26, trap 12): `--persistent` opens
/// one connection for every cycle (one `open`, one `close`, the server sees
/// one client); a device that closes after each answer gets a new
/// connection per cycle, and no cycle fails for it.
#[test]
fn persistent_polls_over_one_connection_and_reopens_a_dropped_one() {
    let events = |out: &std::process::Output| -> Vec<String> {
        stdout_of(out)
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                let event = v["event"].as_str().unwrap().to_string();
                match v["from"].as_str() {
                    Some(from) => format!("{event} {from} #{}", v["conn"]),
                    None => format!("{event} #{}", v["conn"]),
                }
            })
            .collect()
    };
    let echo = Listen::start(&["127.0.0.1:0", "--frame", "line"]);
    let out = p1ge0n(&[
        "send",
        &echo.target(),
        "--frame",
        "line",
        "--repeat",
        "3",
        "--interval",
        "20ms",
        "--persistent",
        "--expect",
        "ping\\n",
        "-f",
        "json",
        "ping\\n",
    ]);
    assert_eq!(code(&out), 0, "{}", show(&out));
    let mut expected = vec!["open #1".to_string()];
    for _ in 0..3 {
        expected.push("data client #1".into());
        expected.push("data server #1".into());
    }
    expected.push("close #1".into());
    assert_eq!(events(&out), expected, "{}", show(&out));
    let log = echo.wait_stderr_contains("closed by peer", Duration::from_secs(5));
    assert_eq!(log.matches("connected").count(), 1, "{log}");
    assert!(log.contains("3 messages"), "{log}");

    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("once.toml");
    std::fs::write(
        &rules,
        "[[rule]]\nmatch = 'ping'\nreply = 'pong'\nclose = true\n",
    )
    .unwrap();
    let closing = Listen::start(&["127.0.0.1:0", "--rules", rules.to_str().unwrap()]);
    let out = p1ge0n(&[
        "send",
        &closing.target(),
        "--repeat",
        "3",
        "--interval",
        "200ms",
        "--persistent",
        "--expect",
        "pong",
        "-f",
        "json",
        "ping",
    ]);
    assert_eq!(code(&out), 0, "{}", show(&out));
    let seen = events(&out);
    let opens: Vec<&String> = seen.iter().filter(|e| e.starts_with("open")).collect();
    assert_eq!(opens, ["open #1", "open #2", "open #3"], "{}", show(&out));

    let out = p1ge0n(&["send", &echo.target(), "--persistent", "--repeat", "2"]);
    assert_eq!(code(&out), 2, "{}", show(&out));
    assert!(stderr_of(&out).contains("--persistent"), "{}", show(&out));
}
