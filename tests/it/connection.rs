//! Connection options every client and server shares: `--source` (bind the
//! client side, like `nc -s/-p`) and `--keepalive` (TCP keepalive, judged by
//! the kernel's own view of the socket in `ss -o`).

use std::{io::Write, process::Command, time::Duration};

use crate::util::*;

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
