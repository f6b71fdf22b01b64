//! Capture files stay byte-compatible: each scenario below records a
//! session with `--capture` and compares the file, normalized, with the
//! golden copy in `tests/fixtures/golden/` that the binary of commit
//! ae492f5 wrote (see the README there). Any change in field order, names,
//! escaping, number formats, event sequence or payload text fails.
//!
//! Normalization touches only what differs from run to run, and only when
//! it has the expected shape (anything else is left as is, so the diff
//! shows it):
//! - `"started":"YYYY-MM-DDTHH:MM:SS.ffffffZ"` becomes
//!   `"started":"2000-01-01T00:00:00.000000Z"`;
//! - `"t":SECONDS.ffffff` (six decimals) becomes `"t":0.000000`;
//! - the port of every `"local"` and `"peer"` address becomes `PORT1`,
//!   `PORT2`, ... numbered by first appearance in the file, so which
//!   address is which still has to match.
//!
//! Fields are found textually at JSON key positions (`{"key":` or
//! `,"key":`), which a payload's `text` cannot imitate: inside a JSON string
//! every `"` is escaped. The rest of each line is compared byte for byte.
//!
//! The scenarios are deterministic: both sides frame their messages (or use
//! UDP datagrams), every payload is one write, and in `repl_piped` the
//! server's `fixed=4` frame holds both lines, so its echo can only come
//! after both were sent.
//!
//! `CAPTURES_COMPAT_BIN=FILE` runs every p1ge0n of the scenarios (servers
//! and clients) from FILE instead of the binary under test;
//! `CAPTURES_COMPAT_WRITE=1` writes the golden files instead of comparing
//! (`tests/fixtures/golden/make.sh BINARY` sets both).

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use crate::util::*;

/// The p1ge0n that runs the scenarios.
fn binary() -> PathBuf {
    std::env::var_os("CAPTURES_COMPAT_BIN").map_or_else(bin, PathBuf::from)
}

fn golden(name: &str) -> PathBuf {
    repo()
        .join("tests/fixtures/golden")
        .join(format!("{name}.jsonl"))
}

fn listen(args: &[&str]) -> Listen {
    let mut cmd = Command::new(binary());
    cmd.arg("listen").args(args);
    Listen::spawn_with(cmd)
}

/// A one-shot `p1ge0n ARGS...` with `stdin`; must exit 0.
fn run(args: &[&str], stdin: Option<&[u8]>) {
    let mut cmd = assert_cmd::Command::new(binary());
    cmd.args(args).timeout(ONE_SHOT);
    if let Some(stdin) = stdin {
        cmd.write_stdin(stdin.to_vec());
    }
    let out = cmd.output().expect("run p1ge0n");
    assert_eq!(code(&out), 0, "p1ge0n {args:?}\n{}", show(&out));
}

/// A one-shot client `p1ge0n ARGS... --capture FILE` (see [`run`]) whose
/// capture must match the golden file `name`.
fn client_capture(name: &str, args: &[&str], stdin: Option<&[u8]>) {
    let dir = tempfile::tempdir().unwrap();
    let capture = dir.path().join("c.jsonl");
    let mut args = args.to_vec();
    args.extend(["--capture", capture.to_str().unwrap()]);
    run(&args, stdin);
    check(name, &std::fs::read_to_string(&capture).unwrap());
}

/// Wait until a capture file has stopped growing for a while (a server
/// writes its events as they happen; a stopped client is finished anyway).
fn settled(path: &Path) -> String {
    let size = || std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let mut last = (size(), std::time::Instant::now());
    let still = || {
        let now = size();
        if now != last.0 {
            last = (now, std::time::Instant::now());
        }
        now > 0 && last.1.elapsed() >= Duration::from_millis(300)
    };
    assert!(wait_until(SOON, still), "{} keeps changing", path.display());
    std::fs::read_to_string(path).unwrap()
}

/// Stop a listen that captured, once its capture has settled; the whole
/// capture, including anything written on the way out.
fn stop(mut server: Listen, capture: &Path) -> String {
    settled(capture);
    server.interrupt();
    assert_eq!(server.wait_code(SOON), 130, "{}", server.dump());
    std::fs::read_to_string(capture).unwrap()
}

// --- normalization -------------------------------------------------------------

/// Where the value of `key` is in `line`: (start, end) byte offsets, for a
/// key at a JSON key position; strings include their quotes.
fn value_at(line: &str, key: &str, from: usize) -> Option<(usize, usize)> {
    let needle = format!("\"{key}\":");
    let mut search = from;
    loop {
        let at = search + line[search..].find(&needle)?;
        let start = at + needle.len();
        if at > 0 && matches!(line.as_bytes()[at - 1], b'{' | b',') {
            let rest = &line[start..];
            let len = if let Some(body) = rest.strip_prefix('"') {
                body.find('"')? + 2
            } else {
                rest.find([',', '}']).unwrap_or(rest.len())
            };
            return Some((start, start + len));
        }
        search = start;
    }
}

/// Replace every value of `key` in `line` by what `f` makes of it (`None`:
/// leave it).
fn replace_values(line: &str, key: &str, mut f: impl FnMut(&str) -> Option<String>) -> String {
    let mut line = line.to_string();
    let mut from = 0;
    while let Some((start, end)) = value_at(&line, key, from) {
        match f(&line[start..end]) {
            Some(new) => {
                line.replace_range(start..end, &new);
                from = start + new.len();
            }
            None => from = end,
        }
    }
    line
}

/// Whether `text` has the shape of `pattern`, where `9` stands for any
/// ASCII digit and every other character for itself.
fn shaped(text: &str, pattern: &str) -> bool {
    text.len() == pattern.len()
        && text.bytes().zip(pattern.bytes()).all(|(c, p)| match p {
            b'9' => c.is_ascii_digit(),
            _ => c == p,
        })
}

/// The capture with its run-dependent values replaced (module docs).
fn normalize(capture: &str) -> String {
    let mut ports: Vec<u16> = Vec::new();
    let mut out = String::new();
    for line in capture.split_inclusive('\n') {
        let line = replace_values(line, "started", |v| {
            shaped(v, "\"9999-99-99T99:99:99.999999Z\"")
                .then(|| "\"2000-01-01T00:00:00.000000Z\"".to_string())
        });
        let line = replace_values(&line, "t", |v| {
            let (whole, fraction) = v.split_once('.')?;
            let ok = !whole.is_empty()
                && whole.bytes().all(|c| c.is_ascii_digit())
                && shaped(fraction, "999999");
            ok.then(|| "0.000000".to_string())
        });
        let mut line = line;
        for key in ["local", "peer"] {
            line = replace_values(&line, key, |v| {
                let addr: SocketAddr = v.strip_prefix('"')?.strip_suffix('"')?.parse().ok()?;
                let n = match ports.iter().position(|&p| p == addr.port()) {
                    Some(i) => i + 1,
                    None => {
                        ports.push(addr.port());
                        ports.len()
                    }
                };
                let ip = match addr {
                    SocketAddr::V4(a) => a.ip().to_string(),
                    SocketAddr::V6(a) => format!("[{}]", a.ip()),
                };
                Some(format!("\"{ip}:PORT{n}\""))
            });
        }
        out.push_str(&line);
    }
    out
}

/// A line diff (longest common subsequence): `-` golden, `+` this run.
fn diff(expected: &str, actual: &str) -> String {
    let a: Vec<&str> = expected.lines().collect();
    let b: Vec<&str> = actual.lines().collect();
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, String::new());
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            out.push_str(&format!("  {}\n", a[i]));
            (i, j) = (i + 1, j + 1);
        } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            out.push_str(&format!("- {}\n", a[i]));
            i += 1;
        } else {
            out.push_str(&format!("+ {}\n", b[j]));
            j += 1;
        }
    }
    if expected.ends_with('\n') != actual.ends_with('\n') {
        out.push_str("(the files differ in their final newline)\n");
    }
    out
}

/// Compare the normalized capture with its golden file, or write it.
fn check(name: &str, capture: &str) {
    let normalized = normalize(capture);
    let path = golden(name);
    if std::env::var_os("CAPTURES_COMPAT_WRITE").is_some() {
        std::fs::write(&path, &normalized).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (tests/fixtures/golden/make.sh)", path.display()));
    assert!(
        normalized == expected,
        "{name}: the capture differs from {} (- golden, + this binary):\n{}\n--- raw capture ---\n{capture}",
        path.display(),
        diff(&expected, &normalized)
    );
}

// --- the scenarios -------------------------------------------------------------

/// `send` with three framed messages over TCP: text that needs JSON
/// escapes (NUL, ESC, quote, backslash, tab, CR, DEL), invalid UTF-8 and a
/// multi-byte character.
#[test]
fn send_tcp() {
    let server = listen(&["127.0.0.1:0", "--frame", "line", "-q"]);
    client_capture(
        "send_tcp",
        &[
            "send",
            &server.target(),
            "HELLO\\r\\n",
            "STATUS?\\n",
            "\\0\\xff\\e\"\\\\\\xc3\\xa9\\t\\r\\x7f\\n",
            "--frame",
            "line",
        ],
        None,
    );
}

/// `send` streaming stdin (one write), half-closing, reading the echo.
#[test]
fn send_stdin() {
    let server = listen(&["127.0.0.1:0", "--frame", "line", "-q"]);
    client_capture(
        "send_stdin",
        &["send", &server.target(), "--frame", "line"],
        Some(b"stream\x00\xff data\n"),
    );
}

/// `send -u`: two datagrams, two replies.
#[test]
fn send_udp() {
    let server = listen(&["-u", "127.0.0.1:0", "-q"]);
    client_capture(
        "send_udp",
        &["send", "-u", &server.target(), "ping\\n", "pong\\n"],
        None,
    );
}

/// `printf 'a\nb\n' | repl ADDR --frame line --capture FILE` against a
/// server whose frames are 4 bytes: both lines go out before the echo.
#[test]
fn repl_piped() {
    let server = listen(&["127.0.0.1:0", "--frame", "fixed=4", "-q"]);
    client_capture(
        "repl_piped",
        &["repl", &server.target(), "--frame", "line"],
        Some(b"a\nb\n"),
    );
}

/// `listen --capture` (the server side) for two client sessions, one
/// after the other.
#[test]
fn listen_tcp() {
    let dir = tempfile::tempdir().unwrap();
    let capture = dir.path().join("c.jsonl");
    let path = capture.to_str().unwrap();
    let server = listen(&["127.0.0.1:0", "--frame", "line", "-q", "--capture", path]);
    let target = server.target();
    run(
        &["send", &target, "one\\n", "two\\n", "--frame", "line"],
        None,
    );
    run(
        &["send", &target, "\\x02BIN\\xff\\n", "--frame", "line"],
        None,
    );
    assert!(
        wait_until(SOON, || server.stderr().matches("closed by peer").count()
            == 2),
        "{}",
        server.dump()
    );
    check("listen_tcp", &stop(server, &capture));
}

/// `listen -u --capture`: datagrams from one client.
#[test]
fn listen_udp() {
    let dir = tempfile::tempdir().unwrap();
    let capture = dir.path().join("c.jsonl");
    let path = capture.to_str().unwrap();
    let server = listen(&["-u", "127.0.0.1:0", "-q", "--capture", path]);
    run(&["send", "-u", &server.target(), "x\\n", "y\\n"], None);
    check("listen_udp", &stop(server, &capture));
}

// --- the normalizer itself ---------------------------------------------------------

#[test]
fn normalizer_replaces_only_run_dependent_values() {
    let capture = concat!(
        r#"{"p1ge0n":"capture","version":1,"started":"2026-12-01T12:57:51.141939Z","transport":"tcp","local":"127.0.0.1:41276","side":"client"}"#,
        "\n",
        r#"{"t":12.000057,"conn":1,"peer":"127.0.0.1:35779","event":"open"}"#,
        "\n",
        r#"{"t":0.000223,"conn":1,"peer":"127.0.0.1:35779","event":"data","from":"client","len":17,"hex":"00","text":"\"t\":1,\"peer\":\"1.2.3.4:5\""}"#,
        "\n",
        r#"{"t":0.25,"conn":2,"peer":"[::1]:41276","event":"close"}"#,
        "\n",
    );
    let expected = concat!(
        r#"{"p1ge0n":"capture","version":1,"started":"2000-01-01T00:00:00.000000Z","transport":"tcp","local":"127.0.0.1:PORT1","side":"client"}"#,
        "\n",
        r#"{"t":0.000000,"conn":1,"peer":"127.0.0.1:PORT2","event":"open"}"#,
        "\n",
        r#"{"t":0.000000,"conn":1,"peer":"127.0.0.1:PORT2","event":"data","from":"client","len":17,"hex":"00","text":"\"t\":1,\"peer\":\"1.2.3.4:5\""}"#,
        "\n",
        // Three decimals are not the shape: left for the diff to show.
        r#"{"t":0.25,"conn":2,"peer":"[::1]:PORT1","event":"close"}"#,
        "\n",
    );
    assert_eq!(normalize(capture), expected);
    let d = diff("a\nb\nc\n", "a\nc\nd\n");
    assert_eq!(d, "  a\n- b\n  c\n+ d\n");
    assert_eq!(diff("x\n", "y\n"), "- x\n+ y\n");
}
