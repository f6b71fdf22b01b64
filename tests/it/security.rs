//! Access control and untrusted strings: `--allow`/`--deny` hold for IPv4,
//! IPv6 and IPv4-mapped IPv6 peers before any byte is read, and no payload,
//! path or peer string is ever interpreted.

use std::{net::SocketAddr, time::Duration};

use crate::util::*;

/// A client that must be refused: no data back, connection closed, and the
/// refusal logged; returns listen's stderr.
fn assert_refused(server: &Listen, addr: SocketAddr) -> String {
    let mut s = connect(addr);
    let _ = std::io::Write::write_all(&mut s, b"let me in\n");
    let (data, end) = read_to_end(&mut s);
    assert!(data.is_empty(), "refused client got {data:?}");
    assert_ne!(end, End::TimedOut, "refused client was left hanging");
    // Wait for the whole log line, not just its first word.
    let logged = || {
        server
            .stderr()
            .split_inclusive('\n')
            .any(|line| line.starts_with("refused ") && line.ends_with('\n'))
    };
    assert!(
        wait_until(SOON, logged),
        "no refusal logged: {}",
        server.stderr()
    );
    let stderr = server.stderr();
    assert!(
        server.stdout().is_empty(),
        "nothing may be printed: {}",
        server.stdout()
    );
    stderr
}

/// IPv4 clients reach a dual-stack wildcard socket as ::ffff:a.b.c.d; the
/// rules match them as the IPv4 address they are.
#[test]
fn ipv4_mapped_peers_are_matched_as_ipv4() {
    let test = "security::ipv4_mapped_peers_are_matched_as_ipv4";
    if skipped("ipv6", test) {
        return;
    }
    if let Some(e) = ipv6_unavailable() {
        panic!("{test} needs IPv6 loopback and cannot bind [::1]: {e} (P1GE0N_SKIP=ipv6 skips it)");
    }
    let server = Listen::start(&["0", "--deny", "127.0.0.1"]);
    assert!(
        server.addr().is_ipv6(),
        "a bare port binds the dual-stack wildcard"
    );
    let v4 = SocketAddr::from(([127, 0, 0, 1], server.port()));
    let stderr = assert_refused(&server, v4);
    assert!(
        stderr.contains("refused 127.0.0.1:"),
        "shown as IPv4: {stderr}"
    );
    assert!(stderr.contains("matches --deny 127.0.0.1/32"), "{stderr}");

    let server = Listen::start(&["0", "--allow", "127.0.0.1/32"]);
    let run = py_client(
        SocketAddr::from(([127, 0, 0, 1], server.port())),
        b"mapped ok",
        9,
    );
    assert_eq!(run.data, b"mapped ok");
    assert!(
        !server
            .stderr()
            .contains("warning: listening on all interfaces"),
        "an allow list silences the warning"
    );
}

/// IPv6 peers against IPv4 and IPv6 rules.
#[test]
fn ipv6_peers_follow_the_rules() {
    let test = "security::ipv6_peers_follow_the_rules";
    if skipped("ipv6", test) {
        return;
    }
    if let Some(e) = ipv6_unavailable() {
        panic!("{test} needs IPv6 loopback and cannot bind [::1]: {e} (P1GE0N_SKIP=ipv6 skips it)");
    }
    let server = Listen::start(&["[::1]:0", "--allow", "127.0.0.0/8"]);
    let stderr = assert_refused(&server, server.addr());
    assert!(stderr.contains("refused [::1]:"), "{stderr}");
    assert!(stderr.contains("not in any --allow network"), "{stderr}");

    let server = Listen::start(&["[::1]:0", "--allow", "::1/128"]);
    let run = py_client(server.addr(), b"v6 ok", 5);
    assert_eq!(run.data, b"v6 ok");
}

/// Payloads, paths and peers that look like format strings or shell code
/// are bytes and names, nothing more.
#[test]
fn untrusted_strings_are_never_interpreted() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("pwned");
    let evil_payload = format!(
        "%s%n%x{{}}{{0}}$(touch {})`touch {}`\\n",
        marker.display(),
        marker.display()
    );
    let server = Listen::start(&["127.0.0.1:0", "--frame", "line"]);
    let out = send_cmd()
        .args([&server.target(), &evil_payload, "--frame", "line"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", show(&out));
    let expected = format!(
        "%s%n%x{{}}{{0}}$(touch {})`touch {}`\n",
        marker.display(),
        marker.display()
    );
    assert_eq!(stdout_of(&out), expected);
    server.wait_stdout_contains("%s%n%x{}{0}$(touch", SOON);

    // A capture path with shell metacharacters is just a file name.
    let odd = dir.path().join("$(touch pwned);`id`.jsonl");
    let out = send_cmd()
        .args([
            &server.target(),
            "x\\n",
            "--frame",
            "line",
            "--capture",
            odd.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", show(&out));
    assert!(
        odd.exists(),
        "the capture is written under its literal name"
    );
    let out = replay(&[odd.to_str().unwrap(), "--list"]);
    assert_eq!(code(&out), 0, "{}", show(&out));
    std::thread::sleep(Duration::from_millis(100));
    assert!(!marker.exists(), "something was executed");
    assert!(!dir.path().join("pwned").exists());
}
