//! Connection options every client and server shares: `--source` (bind the
//! client side, like `nc -s/-p`) and `--keepalive` (TCP keepalive, judged by
//! the kernel's own view of the socket in `ss -o`).

use std::{io::Write, process::Command, time::Duration};

use tempfile::TempDir;

use crate::util::{term::Term, *};

/// `ss -Htno state established FILTER`: one line per socket, with its timer.
fn sockets(filter: &str) -> String {
    let out = Command::new("ss")
        .args(["-Htno", "state", "established", filter])
        .output()
        .expect("ss runs (iproute2; scripts/test installs it)");
    assert!(out.status.success(), "ss failed: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn has_keepalive_timer(line: &str) -> bool {
    line.contains("timer:(keepalive,")
}

/// The client connects from the address `--source` names: the server sees
/// it as the peer (TCP and UDP), with the port when one is given.
#[test]
fn source_sets_the_address_the_server_sees() {
    let server = Listen::start(&["127.0.0.1:0"]);
    let out = send_cmd()
        .args(["--source", "127.0.0.2", &server.target(), "hi"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", show(&out));
    assert_eq!(out.stdout, b"hi");
    server.wait_stderr_contains("127.0.0.2:", Duration::from_secs(5));
    assert!(
        server.stderr().contains("#1 127.0.0.2:"),
        "{}",
        server.dump()
    );

    let port = free_port();
    let source = format!("127.0.0.3:{port}");
    let out = send_cmd()
        .args(["--source", &source, &server.target(), "again"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", show(&out));
    server.wait_stderr_contains(&format!("#2 {source} connected"), Duration::from_secs(5));

    let udp = Listen::start(&["-u", "127.0.0.1:0"]);
    let out = send_cmd()
        .args(["-u", "--source", "127.0.0.4", &udp.target(), "dgram"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", show(&out));
    assert_eq!(out.stdout, b"dgram");
    udp.wait_stderr_contains("127.0.0.4:", Duration::from_secs(5));
}

/// A source the machine does not have, or of the other IP family, fails
/// the connection (exit 3) with the reason, and nothing reaches the server.
#[test]
fn an_unusable_source_is_a_connect_error() {
    let server = Listen::start(&["127.0.0.1:0"]);
    let out = send_cmd()
        .args(["--source", "192.0.2.1", &server.target(), "x"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 3, "{}", show(&out));
    let err = stderr_of(&out);
    assert!(
        err.contains("cannot connect from --source 192.0.2.1"),
        "{err}"
    );

    let out = send_cmd()
        .args(["--source", "::1", &server.target(), "x"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 3, "{}", show(&out));
    let err = stderr_of(&out);
    assert!(err.contains("--source ::1 is IPv6"), "{err}");
    assert!(err.contains("is IPv4"), "{err}");

    // UDP says the same.
    let out = send_cmd()
        .args(["-u", "--source", "::1", &server.target(), "x"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 3, "{}", show(&out));
    assert!(
        stderr_of(&out).contains("--source ::1 is IPv6"),
        "{}",
        show(&out)
    );

    std::thread::sleep(Duration::from_millis(200));
    assert!(!server.stderr().contains("connected"), "{}", server.dump());
}

/// Bad values are usage errors (exit 2) that name the problem.
#[test]
fn bad_source_and_keepalive_values_exit_2() {
    let server = Listen::start(&["127.0.0.1:0"]);
    for (flag, value, words) in [
        ("--source", "localhost", "'localhost' is not an IP address"),
        ("--source", "127.0.0.1:99999", "out of range"),
        ("--keepalive", "500ms", "at least 1s"),
        ("--keepalive", "1.5s", "whole seconds"),
        ("--keepalive", "soon", "--keepalive"),
    ] {
        let out = send_cmd()
            .args([flag, value, &server.target(), "x"])
            .output()
            .unwrap();
        assert_eq!(code(&out), 2, "{flag} {value}: {}", show(&out));
        let err = stderr_of(&out);
        assert!(err.contains(words), "{flag} {value}: {err}");
    }
    std::thread::sleep(Duration::from_millis(200));
    assert!(!server.stderr().contains("connected"), "{}", server.dump());
}

/// `send --keepalive` turns on the kernel's keepalive timer on the client
/// socket; the server's end of the same connection (no --keepalive) has none.
#[test]
fn keepalive_arms_the_client_socket() {
    let server = Listen::start(&["127.0.0.1:0", "--no-echo"]);
    let port = server.port();
    let mut cmd = Command::new(bin());
    cmd.args([
        "send",
        "--keepalive",
        "2s",
        "-w",
        "20s",
        &server.target(),
        "ping",
    ]);
    let _client = Proc::spawn(cmd);
    let client_side = format!("( dport = :{port} )");
    assert!(
        wait_until(Duration::from_secs(5), || has_keepalive_timer(&sockets(
            &client_side
        ))),
        "no keepalive timer on the client socket: {:?}",
        sockets(&client_side)
    );
    let server_side = sockets(&format!("( sport = :{port} )"));
    assert!(!server_side.is_empty(), "server socket not found");
    assert!(!has_keepalive_timer(&server_side), "{server_side}");
}

/// `listen --keepalive` arms every accepted connection; a listen without it
/// does not.
#[test]
fn keepalive_arms_accepted_connections() {
    let server = Listen::start(&["127.0.0.1:0", "--keepalive", "9s"]);
    let _conn = server.connect();
    let server_side = format!("( sport = :{} )", server.port());
    assert!(
        wait_until(Duration::from_secs(5), || has_keepalive_timer(&sockets(
            &server_side
        ))),
        "no keepalive timer on the accepted socket: {:?}",
        sockets(&server_side)
    );

    let plain = Listen::start(&["127.0.0.1:0"]);
    let _conn = plain.connect();
    let plain_side = format!("( sport = :{} )", plain.port());
    assert!(
        wait_until(Duration::from_secs(5), || !sockets(&plain_side).is_empty()),
        "accepted socket not found"
    );
    assert!(!has_keepalive_timer(&sockets(&plain_side)));
}

/// `proxy --keepalive` arms both of its sockets: the client's it accepted
/// and the one it opened to TARGET; `proxy --source` connects from there.
#[test]
fn proxy_keepalive_and_source_apply_to_both_sides() {
    let device = Listen::start(&["127.0.0.1:0"]);
    let mut cmd = Command::new(bin());
    cmd.args([
        "proxy",
        "127.0.0.1:0",
        &device.target(),
        "--keepalive",
        "4s",
        "--source",
        "127.0.0.5",
    ]);
    let proxy = Listen::spawn_with(cmd);
    let mut conn = proxy.connect();
    conn.write_all(b"through\n").unwrap();
    assert_eq!(read_n(&mut conn, 8), b"through\n", "{}", proxy.dump());
    device.wait_stderr_contains("127.0.0.5:", Duration::from_secs(5));
    let accepted = sockets(&format!("( sport = :{} )", proxy.port()));
    assert!(has_keepalive_timer(&accepted), "{accepted}");
    let upstream = sockets(&format!("( dport = :{} )", device.port()));
    assert!(has_keepalive_timer(&upstream), "{upstream}");
}

/// `send --on-connect` sends the login first on every connection (each
/// `--repeat` round) and waits for its reply by the same rule; the reply is
/// printed like any other, and `--expect` judges only the messages.
#[test]
fn send_logs_in_first_on_every_connection() {
    let server = Listen::start(&["127.0.0.1:0", "--frame", "line"]);
    let out = send_cmd()
        .args([
            "--on-connect",
            "LOGIN x\\r\\n",
            "--frame",
            "line",
            "--expect",
            "READ\\n",
            "--repeat",
            "2",
            "--interval",
            "10ms",
            &server.target(),
            "READ\\n",
        ])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", show(&out));
    assert_eq!(
        out.stdout,
        b"LOGIN x\r\nREAD\nLOGIN x\r\nREAD\n",
        "{}",
        show(&out)
    );
    server.wait_stdout_lines(4, SOON);
    assert_eq!(
        received_by(&server),
        ["LOGIN x\\r\\n", "READ\\n", "LOGIN x\\r\\n", "READ\\n"],
        "{}",
        server.dump()
    );
}

/// A login the server never answers is exit 4 naming --on-connect, and
/// the message after it is not sent.
#[test]
fn an_unanswered_login_times_out_before_any_message() {
    let server = Listen::start(&["127.0.0.1:0", "--no-echo"]);
    let out = send_cmd()
        .args([
            "--on-connect",
            "LOGIN\\n",
            "-w",
            "300ms",
            &server.target(),
            "READ\\n",
        ])
        .output()
        .unwrap();
    assert_eq!(code(&out), 4, "{}", show(&out));
    assert!(
        stderr_of(&out).contains("no reply to --on-connect"),
        "{}",
        show(&out)
    );
    server.wait_stdout_lines(1, SOON);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(received_by(&server), ["LOGIN\\n"], "{}", server.dump());
}

/// A bad or empty login, or one with -u, is a usage error and nothing is
/// sent.
#[test]
fn bad_on_connect_values_exit_2() {
    let server = Listen::start(&["127.0.0.1:0"]);
    for (args, words) in [
        (vec!["--on-connect", "\\xZZ"], "--on-connect"),
        (vec!["--on-connect", ""], "empty payload"),
        (vec!["-x", "--on-connect", "0g"], "--on-connect"),
        (vec!["-u", "--on-connect", "hi"], "--udp"),
    ] {
        let out = send_cmd()
            .args(&args)
            .args([&server.target(), "00"])
            .output()
            .unwrap();
        assert_eq!(code(&out), 2, "{args:?}: {}", show(&out));
        assert!(stderr_of(&out).contains(words), "{args:?}: {}", show(&out));
        let out = assert_cmd::Command::new(bin())
            .arg("repl")
            .args(&args)
            .arg(server.target())
            .write_stdin("00\n")
            .timeout(ONE_SHOT)
            .output()
            .unwrap();
        if args.contains(&"-u") {
            continue; // repl has no -u
        }
        assert_eq!(code(&out), 2, "repl {args:?}: {}", show(&out));
        assert!(
            stderr_of(&out).contains(words),
            "repl {args:?}: {}",
            show(&out)
        );
    }
    std::thread::sleep(Duration::from_millis(200));
    assert!(!server.stderr().contains("connected"), "{}", server.dump());
}

/// Piped repl: the login goes first, and its reply is awaited with the
/// lines' (one frame each with --frame): both replies are printed.
#[test]
fn piped_repl_logs_in_first_and_awaits_its_reply() {
    let server = Listen::start(&["127.0.0.1:0", "-q"]);
    let out = assert_cmd::Command::new(bin())
        .args(["repl", &server.target(), "--frame", "line", "-f", "hex"])
        .args(["--on-connect", "LOGIN x\\n"])
        .write_stdin("a\n")
        .timeout(ONE_SHOT)
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", show(&out));
    // Lines go out as they are read (as in any piped repl); the login is
    // first, and its reply is one of those awaited.
    let recs = records(&stdout_of(&out));
    let of = |dir: &str| -> Vec<String> {
        recs.iter()
            .filter(|r| r.dir == dir)
            .map(|r| r.payload.clone())
            .collect()
    };
    let login = "4c 4f 47 49 4e 20 78 0a";
    assert_eq!(of("sent"), [login, "61 0a"], "{}", show(&out));
    assert_eq!(of("recv"), [login, "61 0a"], "{}", show(&out));
}

/// Must show: `repl --reconnect --on-connect 'LOGIN x\r\n'` logs in again
/// after the server restarts; each server sees the login first.
///
/// The second server listens on the first one's port, as a restarted
/// device would (listen binds with SO_REUSEADDR; see repl.rs).
#[test]
fn repl_logs_in_again_after_a_server_restart() {
    let server = Listen::start(&["127.0.0.1:0"]);
    let target = server.target();
    let home = TempDir::new().unwrap();
    let term = Term::start(
        home.path(),
        &[
            "repl",
            &target,
            "--reconnect",
            "--on-connect",
            "LOGIN x\\r\\n",
        ],
    );
    term.wait_for(&format!("#1 {target} connected"));
    term.wait_for("recv 9 LOGIN x\\r\\n");
    term.line("one");
    term.wait_for("recv 4 one\\n");
    server.wait_stdout_contains("one", SOON);
    assert_eq!(
        received_by(&server),
        ["LOGIN x\\r\\n", "one\\n"],
        "{}",
        server.dump()
    );
    drop(server);
    term.wait_for("closed by peer; reconnecting");
    let server = Listen::start(&[&target]);
    let back = format!("#2 {target} connected");
    term.wait_within(SOON * 3, &back, |t| t.transcript().contains(&back));
    server.wait_stdout_contains("LOGIN", SOON);
    term.line("two");
    server.wait_stdout_contains("two", SOON);
    assert_eq!(
        received_by(&server),
        ["LOGIN x\\r\\n", "two\\n"],
        "{}",
        server.dump()
    );
}

/// Streaming stdin: the login goes first and its reply is printed before
/// the stream's.
#[test]
fn send_logs_in_before_streaming_stdin() {
    let server = Listen::start(&["127.0.0.1:0", "-q"]);
    let out = send_cmd()
        .args([
            "--on-connect",
            "LOGIN\\n",
            "--frame",
            "line",
            &server.target(),
        ])
        .write_stdin("a\nb\n")
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", show(&out));
    assert_eq!(out.stdout, b"LOGIN\na\nb\n", "{}", show(&out));
}
