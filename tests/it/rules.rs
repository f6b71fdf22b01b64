//! `listen --rules`: a device simulated by rules, checked by real clients
//! (pymodbus, Python sockets, `p1ge0n send`).

use std::{
    io::{Read, Write},
    net::TcpStream,
};

use crate::util::*;

/// `p1ge0n listen 127.0.0.1:0 --rules FILE ARGS...` with `rules` written to
/// a temporary FILE (kept alive by the returned directory).
pub(crate) fn device(rules: &str, args: &[&str]) -> (Listen, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("device.toml");
    std::fs::write(&path, rules).unwrap();
    let mut all = vec!["127.0.0.1:0", "--rules", path.to_str().unwrap()];
    all.extend_from_slice(args);
    (Listen::start(&all), dir)
}

/// Send one line and read one line back (bounded).
pub(crate) fn ask(s: &mut TcpStream, line: &str) -> String {
    s.write_all(line.as_bytes()).unwrap();
    read_line(s)
}

fn read_line(s: &mut TcpStream) -> String {
    s.set_read_timeout(Some(SOON)).unwrap();
    let mut got = Vec::new();
    let mut byte = [0u8; 1];
    while !got.ends_with(b"\n") {
        match s.read(&mut byte) {
            Ok(1) => got.push(byte[0]),
            other => panic!("after {:?}: {other:?}", String::from_utf8_lossy(&got)),
        }
    }
    String::from_utf8(got).unwrap()
}

const MODBUS_DEVICE: &str = r#"
default = "none"
[[rule]]
name = "read holding register 0"
hex = "?? ?? 00 00 00 06 01 03 00 00 00 01"
reply-hex = "{{req[0..2]}} 00 00 00 05 01 03 02 00 2a"
[[rule]]
name = "write single register"
hex = "?? ?? 00 00 00 06 01 06 ?? ?? ?? ??"
reply-hex = "{{req}}"
"#;

/// pymodbus reads register 0 (the rule encodes 42, copying the
/// transaction id with {{req[0..2]}}) and writes a register (the rule
/// echoes the request, as the spec requires); pymodbus accepts both.
#[test]
fn pymodbus_reads_and_writes_a_simulated_device() {
    let (device, _dir) = device(MODBUS_DEVICE, &["--frame", "len=u16be,offset=4"]);
    let out = python(
        "modbus_read_write.py",
        &[
            "--port".into(),
            device.port().to_string(),
            "--expect".into(),
            "42".into(),
        ],
    );
    assert_eq!(stdout_of(&out), "read 42\nwrite ok\n", "{}", show(&out));
    let log = device.wait_stderr_contains("rule 2 (write single register)", SOON);
    assert!(
        log.contains("rule 1 (read holding register 0): 11 bytes reply"),
        "{log}"
    );
}

pub(crate) const LINE_DEVICE: &str = r#"
default = "echo"
[[rule]]
name = "status"
match = 'STATUS?\n'
reply = 'RUNNING #{{counter}}\n'
[[rule]]
prefix = "SET "
reply = 'ACK\n'
[[rule]]
contains = "PING"
reply = 'PONG\n'
[[rule]]
regex = 'GET (\d+)\n'
reply = 'VAL $1\n'
[[rule]]
match = 'SLOW\n'
reply = 'slow\n'
delay = "200ms"
[[rule]]
match = 'BYE\n'
reply = 'bye\n'
close = true
[[rule]]
prefix = "SHORT"
reply = '{{req[0..20]}}'
"#;

/// the default in each of its modes.
#[test]
fn the_default_for_unmatched_messages() {
    let rules = |default: &str| {
        format!("default = \"{default}\"\n[[rule]]\nmatch = 'A\\n'\nreply = 'a\\n'\n")
    };
    let (echo, _d1) = device(&rules("echo"), &["--frame", "line"]);
    let mut s = echo.connect();
    assert_eq!(ask(&mut s, "A\n"), "a\n");
    assert_eq!(ask(&mut s, "B\n"), "B\n");

    let (none, _d2) = device(&rules("none"), &["--frame", "line"]);
    let mut s = none.connect();
    s.write_all(b"B\n").unwrap();
    assert_eq!(ask(&mut s, "A\n"), "a\n", "B got no answer, A did");

    let (close, _d3) = device(&rules("close"), &["--frame", "line"]);
    let mut s = close.connect();
    assert_eq!(ask(&mut s, "A\n"), "a\n");
    s.write_all(b"B\n").unwrap();
    let (rest, end) = read_to_end(&mut s);
    assert!(rest.is_empty() && end == End::Eof, "{rest:?} {end:?}");
}

/// Rules work over UDP too: each datagram is one message.
#[test]
fn rules_over_udp() {
    let (device, _dir) = device(LINE_DEVICE, &["-u"]);
    let out = send_cmd()
        .args(["-u", &device.target(), "GET 7\\n"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", show(&out));
    assert_eq!(out.stdout, b"VAL 7\n");
}

/// A bad rules file is refused before binding: FILE:LINE and the reason.
#[test]
fn bad_rules_files_exit_2_naming_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("[[rule]]\nreply = 'x'\n", ":1:", "rule 1 has no matcher"),
        (
            "\n[[rule]]\nmatch = 'a'\nprefix = 'b'\n",
            ":2:",
            "several matchers",
        ),
        (
            "[[rule]]\nmatch = 'a'\n\n[[rule]]\nregex = '('\n",
            ":5:",
            "regex '('",
        ),
        (
            "[[rule]]\nmatch = 'a'\nreply = '{{req[3..1]}}'\n",
            ":3:",
            "3 > 1",
        ),
        ("[[rule]\n", ":1:", "rules.toml"),
    ];
    let path = dir.path().join("rules.toml");
    for (text, line, reason) in cases {
        std::fs::write(&path, text).unwrap();
        let port = free_port().to_string();
        let out = p1ge0n(&["listen", &port, "--rules", path.to_str().unwrap()]);
        assert_fails(&out, 2, &format!("rules.toml{line}"));
        assert!(stderr_of(&out).contains(reason), "{}", show(&out));
        assert!(!stderr_of(&out).contains("listening"), "{}", show(&out));
    }
    let out = p1ge0n(&["listen", "0", "--rules", "x.toml", "--reply", "A"]);
    assert_fails(&out, 2, "cannot be used with");
    let out = p1ge0n(&["listen", "0", "--rules", "missing.toml"]);
    assert_fails(&out, 2, "cannot read 'missing.toml'");
}

/// A rules file without rules is allowed, but said (issue 26, trap 10):
/// after the listening line, so scripts still read the port first.
#[test]
fn an_empty_rules_file_warns_that_every_message_gets_the_default() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("empty.toml");
    std::fs::write(&rules, "default = \"none\"\n").unwrap();
    let server = Listen::start(&["127.0.0.1:0", "--rules", rules.to_str().unwrap()]);
    let err = server.wait_stderr_contains("has no [[rule]]", SOON);
    assert!(
        err.contains("every message gets the default (none)"),
        "{}",
        server.dump()
    );
}
