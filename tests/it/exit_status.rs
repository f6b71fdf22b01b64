//! Acceptance 5: every exit status of `send` provoked for real, with the
//! message a user sees checked.

use std::{
    thread,
    time::{Duration, Instant},
};

use crate::util::*;

/// Assert that the silent server saw no connection at all, then prove that
/// its log would have shown one (so this check can fail).
fn assert_nothing_reached(server: &PyServer) {
    thread::sleep(Duration::from_millis(200));
    assert!(
        server.log().is_empty(),
        "the server was contacted: {:?}",
        server.log()
    );
    let out = send_cmd()
        .args([&server.target(), "probe", "--no-reply"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", show(&out));
    server.proc.wait_stdout_contains("recv 5 70726f6265", SOON);
}

/// Run `send ARGS` (the target is filled in for `{}`), expect status 2 and
/// every `needle` in stderr, and check nothing reached the server.
fn usage_error(args: &[&str], needles: &[&str]) {
    let server = PyServer::start("silent_server.py", &[]);
    let target = server.target();
    let args: Vec<&str> = args
        .iter()
        .map(|a| if *a == "{}" { target.as_str() } else { a })
        .collect();
    let out = send_cmd().args(&args).output().unwrap();
    assert_eq!(code(&out), 2, "send {args:?}\n{}", show(&out));
    assert!(out.stdout.is_empty(), "{}", show(&out));
    let stderr = stderr_of(&out);
    for needle in needles {
        assert!(
            stderr.contains(needle),
            "send {args:?}: stderr lacks {needle:?}\n{}",
            show(&out)
        );
    }
    assert_nothing_reached(&server);
}

#[test]
fn status_0_when_the_reply_matches_expect() {
    let socat = Socat::echo();
    let out = send_cmd()
        .args([&socat.target(), "PING\\r\\n", "--expect", "PING\\r\\n"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", show(&out));
    assert_eq!(out.stdout, b"PING\r\n");
}

#[test]
fn status_2_for_an_odd_hex_payload_and_nothing_is_sent() {
    usage_error(
        &["-x", "{}", "0x2"],
        &["odd number of hex digits", "column"],
    );
}

#[test]
fn status_2_when_any_later_payload_is_bad_and_nothing_is_sent() {
    usage_error(
        &["{}", "fine", "bad\\q"],
        &["payload 2", "at column 4", "unknown escape"],
    );
}

#[test]
fn status_2_for_a_bad_frame_spec_names_the_column() {
    usage_error(
        &["{}", "x", "--frame", "len=u17be"],
        &["--frame", "at column 5", "u17be"],
    );
}

#[test]
fn status_2_for_a_bad_address_names_the_column() {
    let out = send_cmd().args(["127.0.0.1:99999", "x"]).output().unwrap();
    assert_eq!(code(&out), 2, "{}", show(&out));
    let stderr = stderr_of(&out);
    assert!(stderr.contains("at column 11"), "{stderr}");
    assert!(stderr.contains("out of range"), "{stderr}");

    let out = send_cmd().args(["::1:80", "x"]).output().unwrap();
    assert_eq!(code(&out), 2, "{}", show(&out));
    assert!(stderr_of(&out).contains("brackets"), "{}", show(&out));
}

#[test]
fn status_2_for_a_bad_duration_names_the_column() {
    usage_error(&["{}", "x", "-w", "5x"], &["--timeout", "5x", "column"]);
}

#[test]
fn status_2_for_listen_with_a_bad_frame_spec() {
    let out = p1ge0n(&["listen", "127.0.0.1:0", "--frame", "fixed=0"]);
    assert_eq!(code(&out), 2, "{}", show(&out));
    let stderr = stderr_of(&out);
    assert!(stderr.contains("--frame"), "{stderr}");
    assert!(stderr.contains("at column 7"), "{stderr}");
    assert!(!stderr.contains("listening on"), "{stderr}");
}

#[test]
fn status_3_when_the_connection_is_refused() {
    // A port with nothing listening: bound to 0 and closed again.
    let port = free_port();
    let out = send_cmd()
        .args([&format!("127.0.0.1:{port}"), "hello"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 3, "{}", show(&out));
    assert!(stderr_of(&out).contains("refused"), "{}", show(&out));
    assert!(out.stdout.is_empty());
}

#[test]
fn status_3_when_retrying_gives_up() {
    let port = free_port();
    let started = Instant::now();
    let out = send_cmd()
        .args(["--retry", "300ms", &format!("127.0.0.1:{port}"), "hello"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 3, "{}", show(&out));
    assert!(started.elapsed() >= Duration::from_millis(300));
    let stderr = stderr_of(&out);
    assert!(stderr.contains("refused"), "{stderr}");
    assert!(stderr.contains("retrying"), "{stderr}");
}

#[test]
fn status_4_after_streaming_stdin_to_a_silent_server() {
    let server = PyServer::start("silent_server.py", &[]);
    let out = send_cmd()
        .args(["-w", "500ms", &server.target()])
        .write_stdin("hi")
        .output()
        .unwrap();
    assert_eq!(code(&out), 4, "{}", show(&out));
    assert!(stderr_of(&out).contains("no reply"), "{}", show(&out));
    // stdin went out, then the half-close.
    let log = server.proc.wait_stdout_contains("eof", SOON);
    assert!(log.contains("recv 2 6869\neof"), "{log}");
}

#[test]
fn status_5_when_the_reply_does_not_match_expect() {
    let socat = Socat::echo();
    let out = send_cmd()
        .args([&socat.target(), "hello", "--expect", "world"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 5, "{}", show(&out));
    assert_eq!(out.stdout, b"hello", "the reply is still printed");
    let stderr = stderr_of(&out);
    assert!(stderr.contains("did not match"), "{stderr}");
    let hexdump_line = |hex: &str, ascii: &str| {
        stderr
            .lines()
            .any(|l| l.starts_with("00000000  ") && l.contains(hex) && l.ends_with(ascii))
    };
    assert!(
        hexdump_line("77 6f 72 6c 64", "|world|"),
        "no hexdump of the expected bytes:\n{stderr}"
    );
    assert!(
        hexdump_line("68 65 6c 6c 6f", "|hello|"),
        "no hexdump of the received bytes:\n{stderr}"
    );
    let expected_at = stderr.find("|world|").unwrap();
    let received_at = stderr.find("|hello|").unwrap();
    assert!(
        expected_at < received_at,
        "expected first, then received:\n{stderr}"
    );
}

#[test]
fn status_3_when_nothing_listens_on_the_udp_port() {
    // A UDP port with nothing bound: bound to 0 and closed again.
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = send_cmd()
        .args(["-u", "-w", "2s", &format!("127.0.0.1:{port}"), "hi"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 3, "{}", show(&out));
    assert!(stderr_of(&out).contains("refused"), "{}", show(&out));
}

#[test]
fn status_2_for_listen_with_a_bad_reply_payload_before_binding() {
    let out = p1ge0n(&["listen", "127.0.0.1:0", "--reply", "ACK\\q"]);
    assert_eq!(code(&out), 2, "{}", show(&out));
    let stderr = stderr_of(&out);
    assert!(stderr.contains("--reply"), "{stderr}");
    assert!(stderr.contains("at column 4"), "{stderr}");
    assert!(!stderr.contains("listening on"), "{stderr}");
}

/// Ctrl-C stops a shell loop at once: p1ge0n dies by SIGINT (after
/// flushing), so bash stops the loop instead of running the next
/// iteration, and the status the shell reports is still 130. A real SIGINT
/// from a real terminal (tmux), while `send --retry` waits for a server
/// that never comes.
#[test]
fn ctrl_c_stops_a_shell_loop() {
    let home = tempfile::TempDir::new().unwrap();
    let port = free_port();
    let script = format!(
        "echo started; for i in 1 2 3; do \"$P1GE0N\" send --retry 30s 127.0.0.1:{port} x; \
         echo \"iteration $i ended with $?\"; done; echo loop-finished"
    );
    let term = crate::util::term::Term::start_shell(home.path(), &script);
    term.wait_for("started");
    // Let the first send get going (it retries for 30 s; nothing listens).
    std::thread::sleep(Duration::from_millis(500));
    term.keys(&["C-c"]);
    term.wait_for("[exit 130]");
    let screen = term.screen();
    assert!(!screen.contains("iteration"), "the loop went on:\n{screen}");
    assert!(!screen.contains("loop-finished"), "{screen}");
}

/// The same from a script's point of view: a client interrupted by SIGINT
/// or SIGTERM is reported as killed by that signal (what bash's
/// `WIFSIGNALED` test sees), not as an ordinary exit with status 130/143.
#[test]
fn signals_kill_clients_by_the_signal() {
    use std::os::unix::process::ExitStatusExt;
    let silent = PyServer::start("silent_server.py", &[]);
    let port = free_port();
    let unreachable = format!("127.0.0.1:{port}");
    // A script whose reply never comes: replay waits for it.
    let dir = tempfile::TempDir::new().unwrap();
    let script = dir.path().join("wait.script");
    std::fs::write(&script, "> x\n< y\n").unwrap();
    let script = script.to_str().unwrap();
    let target = silent.target();
    let cases: [(&[&str], i32); 4] = [
        (&["send", "--retry", "30s", &unreachable, "x"], libc::SIGINT),
        (
            &["send", "--retry", "30s", &unreachable, "x"],
            libc::SIGTERM,
        ),
        (&["send", "-w", "30s", &target, "x"], libc::SIGTERM),
        (&["replay", "-w", "30s", script, &target], libc::SIGINT),
    ];
    for (args, signal) in cases {
        let mut child = std::process::Command::new(bin())
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(300));
        // SAFETY: signalling our own child.
        unsafe { libc::kill(child.id() as i32, signal) };
        let deadline = std::time::Instant::now() + SOON;
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{args:?} ignored signal {signal}"
            );
            std::thread::sleep(Duration::from_millis(10));
        };
        assert_eq!(status.signal(), Some(signal), "{args:?}: {status:?}");
    }
}
