//! `replay --serve`: p1ge0n stands in for the server of a capture, judged
//! by real clients (pymodbus), and `--junit` reports judged by junitparser.

use std::process::Command;

use crate::util::*;

/// `p1ge0n replay FILE --serve 127.0.0.1:0 ARGS...`, listening.
pub(crate) fn serve(file: &str, args: &[&str]) -> Listen {
    let mut cmd = Command::new(bin());
    cmd.args(["replay", file, "--serve", "127.0.0.1:0"])
        .args(args);
    Listen::spawn_with(cmd)
}

fn modbus_client(port: u16, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["--port".to_string(), port.to_string()];
    args.extend(extra.iter().map(|s| s.to_string()));
    std::process::Command::new("python3")
        .arg(peer_script("modbus_client.py"))
        .args(&args)
        .output()
        .unwrap()
}

/// JUnit judged by junitparser: "tests=N failures=F passed=P" and the
/// failed cases.
fn junit(path: &std::path::Path) -> String {
    stdout_of(&python(
        "junit_check.py",
        &["--file".into(), path.to_str().unwrap().into()],
    ))
}

/// the server side of a real Modbus capture answers a live
/// pymodbus client running the same session; its own checks pass, the
/// verification is all ok, and the server exits 0 after the flow.
#[test]
fn serving_a_modbus_capture_to_a_live_client() {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("serve.xml");
    let mut server = serve(
        &fixture("modbus.pcap"),
        &[
            "--verify",
            "--frame",
            "len=u16be,offset=4",
            "--junit",
            report.to_str().unwrap(),
        ],
    );
    let out = modbus_client(server.port(), &[]);
    assert_eq!(code(&out), 0, "the client's checks: {}", show(&out));
    assert_eq!(server.wait_code(SOON), 0, "{}", server.dump());
    let stdout = server.stdout();
    assert_eq!(stdout.matches(": ok (").count(), 8, "{stdout}");
    assert!(stdout.ends_with("verify: 8 ok, 0 differ\n"), "{stdout}");
    assert_eq!(junit(&report), "tests=8 failures=0 passed=8\n");
}

/// the same client with one request changed: --verify names it,
/// the flow ends, and the server exits 5.
#[test]
fn a_client_off_the_script_fails_verification() {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("serve.xml");
    let mut server = serve(
        &fixture("modbus.pcap"),
        &[
            "--verify",
            "--frame",
            "len=u16be,offset=4",
            "-w",
            "2s",
            "--junit",
            report.to_str().unwrap(),
        ],
    );
    let out = modbus_client(server.port(), &["--alter", "3", "--timeout", "2"]);
    assert_ne!(code(&out), 0, "the client cannot pass: {}", show(&out));
    assert_eq!(server.wait_code(SOON), 5, "{}", server.dump());
    let stdout = server.stdout();
    assert!(stdout.contains("flow 1 message 3: differs"), "{stdout}");
    assert!(stdout.contains("first difference at byte"), "{stdout}");
    assert!(
        server
            .stderr()
            .contains("message 3 differs from the capture"),
        "{}",
        server.dump()
    );
    assert_eq!(
        junit(&report),
        "tests=3 failures=1 passed=2\nfailed flow 1 message 3: reply differs\n"
    );
}

/// A hand-written script: '>' lines are what the client must send, '<'
/// lines the server's answers; served twice with --loop 2.
#[test]
fn serving_a_script() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("plc.script");
    std::fs::write(&script, "< HELLO\\n\n> STATUS?\\n\n< RUNNING\\n\n").unwrap();
    let mut server = serve(script.to_str().unwrap(), &["--loop", "2", "--no-delay"]);
    for _ in 0..2 {
        let mut client = server.connect();
        let (got, _) = exchange_and_close(&mut client, b"STATUS?\n");
        assert_eq!(got, b"HELLO\nRUNNING\n");
    }
    assert_eq!(server.wait_code(SOON), 0, "{}", server.dump());
}

/// A client that leaves early ends only its flow, reported; the next
/// client gets the next flow.
#[test]
fn a_client_leaving_early_ends_only_its_flow() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("plc.script");
    std::fs::write(&script, "> A\\n\n< a\\n\n> B\\n\n< b\\n\n").unwrap();
    let server = serve(script.to_str().unwrap(), &["--loop", "0", "--no-delay"]);
    {
        let mut first = server.connect();
        use std::io::Write;
        first.write_all(b"A\n").unwrap();
        assert_eq!(read_n(&mut first, 2), b"a\n");
    }
    server.wait_stderr_contains("closed the connection before message 2", SOON);
    let mut second = server.connect();
    let (got, _) = exchange_and_close(&mut second, b"A\nB\n");
    assert_eq!(got, b"a\nb\n");
}

/// JUnit from a client `replay --verify`, passing and failing,
/// and from `send --expect`, judged by junitparser.
#[test]
fn junit_reports_for_replay_and_send() {
    let dir = tempfile::tempdir().unwrap();
    let echo = Listen::start(&["127.0.0.1:0", "-q"]);
    // Replay `script` with --verify into a JUnit file: (exit code, report).
    let verify = |name: &str, script: &str| {
        let path = dir.path().join(format!("{name}.script"));
        std::fs::write(&path, script).unwrap();
        let xml = dir.path().join(format!("{name}.xml"));
        let out = replay(&[
            path.to_str().unwrap(),
            &echo.target(),
            "--verify",
            "--no-delay",
            "--junit",
            xml.to_str().unwrap(),
        ]);
        (code(&out), show(&out), junit(&xml))
    };
    let (status, shown, report) = verify("pass", "> ONE\\n\n< ONE\\n\n> TWO\\n\n< TWO\\n\n");
    assert_eq!(status, 0, "{shown}");
    assert_eq!(report, "tests=2 failures=0 passed=2\n");

    let (status, shown, report) = verify("fail", "> ONE\\n\n< ONE\\n\n> TWO\\n\n< 2WO\\n\n");
    assert_eq!(status, 5, "{shown}");
    assert_eq!(
        report,
        "tests=2 failures=1 passed=1\nfailed flow 1 message 2: reply differs\n"
    );

    let sent = dir.path().join("send.xml");
    let out = send_cmd()
        .args([
            &echo.target(),
            "a\\n",
            "b\\n",
            "--frame",
            "line",
            "--expect",
            "a\\n",
            "--expect",
            "c\\n",
            "--junit",
            sent.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(code(&out), 5, "{}", show(&out));
    assert_eq!(
        junit(&sent),
        "tests=2 failures=1 passed=1\nfailed message 2: reply differs\n"
    );
    let xml = std::fs::read_to_string(&sent).unwrap();
    assert!(xml.contains("expected (2 bytes):"), "{xml}");
}

/// an S7 capture of our own (python-snap7's client and server,
/// tcpdump on lo: tests/fixtures/make_decode_captures.sh) served back to
/// python-snap7's client, framed by TPKT: its read returns the captured
/// data, and --verify finds every client message as captured.
#[test]
fn serving_an_s7_capture_to_python_snap7() {
    let mut server = serve(
        &fixture("s7.pcap"),
        &["--verify", "--frame", "len=u16be,offset=2,includes-header"],
    );
    let out = python(
        "s7_client.py",
        &["--port".into(), server.port().to_string()],
    );
    assert_eq!(
        stdout_of(&out),
        "read 0104070a0d101316191c1f2225282b2e\n",
        "{}",
        show(&out)
    );
    assert_eq!(server.wait_code(SOON), 0, "{}", server.dump());
    assert!(
        server.stdout().ends_with("verify: 4 ok, 0 differ\n"),
        "{}",
        server.dump()
    );
}
