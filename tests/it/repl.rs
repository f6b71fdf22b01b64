//! `p1ge0n repl` as a user sees it: the real binary in a pseudo-terminal
//! (tmux) against real servers (`p1ge0n listen`, Python peers), and piped.
//!
//! Each terminal test runs its own tmux server on a private socket (`-L`
//! with a unique name, under a temporary `TMUX_TMPDIR`), with HOME and
//! XDG_STATE_HOME in a temporary directory so history never touches the
//! real home; the server is killed when the fixture is dropped. The command
//! in the pane is followed by `echo "[exit $?]"` and a long sleep, so the
//! exit status can be read off the screen after the repl ends.

use tempfile::TempDir;

use crate::util::{term::Term, *};

/// Must show 1: a typed line is echoed on screen; `:hex` sends exactly its
/// bytes; Up recalls the previous line and Enter resends it; the history is
/// written where XDG_STATE_HOME says and read back by the next session.
#[test]
fn typed_lines_hex_and_history_recall() {
    let server = Listen::start(&["127.0.0.1:0"]);
    let home = TempDir::new().unwrap();
    let term = Term::start(home.path(), &["repl", &server.target()]);
    term.wait_for("#1 127.0.0.1:");
    term.wait_prompt("text>");

    term.line("hello");
    term.wait_for("recv 6 hello\\n");
    server.wait_stdout_contains("hello\\n", SOON);

    term.keys(&["Up"]);
    term.wait_prompt("text> hello");
    term.keys(&["Enter"]);
    term.wait_until("a second echo", |t| t.count("recv 6 hello\\n") == 2);

    term.line(":hex 02 41 03");
    server.wait_stdout_contains("\\x02A\\x03", SOON);
    assert_eq!(
        received_by(&server),
        ["hello\\n", "hello\\n", "\\x02A\\x03"],
        "{}",
        server.dump()
    );
    term.wait_for("recv 3 \\x02A\\x03");
    assert_eq!(term.quit(), "[exit 0]");

    let history = home.path().join("state/p1ge0n/history");
    let saved =
        std::fs::read_to_string(&history).unwrap_or_else(|e| panic!("{}: {e}", history.display()));
    let lines: Vec<&str> = saved.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(lines, ["hello", ":hex 02 41 03"], "{saved}");

    // A new session starts with the old history.
    let again = Term::start(home.path(), &["repl", &server.target()]);
    again.wait_prompt("text>");
    again.keys(&["Up"]);
    again.wait_prompt("text> :hex 02 41 03");
}

/// Switching framing releases what the old rule held (issue 26, bug 8):
/// under `--frame line` the echo of `:hex 02 41 03` has no LF and waits;
/// `:frame raw` shows it at once, as its own record, instead of merging it
/// with the next reply.
#[test]
fn switching_framing_releases_what_the_old_rule_held() {
    let server = Listen::start(&["127.0.0.1:0"]);
    let home = TempDir::new().unwrap();
    let term = Term::start(home.path(), &["repl", &server.target(), "--frame", "line"]);
    term.wait_prompt("text>");
    term.line(":hex 02 41 03");
    server.wait_stdout_contains("\\x02A\\x03", SOON);
    // The echo is back by now, held: no LF ends it.
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(term.count("recv 3"), 0, "{}", term.transcript());
    term.line(":frame raw");
    term.wait_for("recv 3 \\x02A\\x03");
    term.wait_for("frame: raw");
    term.line("x");
    term.wait_for("recv 2 x\\n");
    assert_eq!(term.quit(), "[exit 0]");
}

/// Must show 2: data arriving every 100 ms while the user types appears
/// above the prompt, and the half-typed line stays intact: on screen, and
/// byte for byte at the server once Enter is pressed.
#[test]
fn incoming_data_does_not_disturb_the_half_typed_line() {
    let server = PyServer::start("chatty_server.py", &["--interval", "0.1"]);
    let home = TempDir::new().unwrap();
    let term = Term::start(home.path(), &["repl", &server.target()]);
    term.wait_for("recv 7 tick 3\\n");
    term.type_text("half typed");
    term.wait_prompt("text> half typed");
    let ticks = |t: &Term| t.count(" tick ");
    let before = ticks(&term);
    term.wait_until("five more ticks with the line intact", |t| {
        ticks(t) >= before + 5 && t.prompt_line() == "text> half typed"
    });
    let screen = term.screen();
    assert_eq!(
        screen.matches("half typed").count(),
        1,
        "the typed text appears once, on the prompt line:\n{screen}"
    );
    for line in screen.lines().filter(|l| l.contains("tick")) {
        let r = record(line);
        assert!(r.payload.starts_with("tick ") && r.dir == "recv", "{line}");
    }
    term.keys(&["Enter"]);
    let typed = format!("recv 11 {}", hex(b"half typed\n"));
    server.proc.wait_stdout_contains(&typed, SOON);
    assert_eq!(term.quit(), "[exit 0]");
}

/// Must show 3: the server going away is shown at once; a server back on
/// the same port and `:reconnect` restore the session.
///
/// The second server listens on the first one's port because that is the
/// situation under test (a device restarting at its fixed address). The
/// port was ours a moment ago and `listen` binds with SO_REUSEADDR, so the
/// TIME_WAIT left by the kill does not get in the way; another process
/// taking the port in between is the only (unlikely) way this can flake.
#[test]
fn a_lost_connection_is_shown_and_reconnect_restores_it() {
    let server = Listen::start(&["127.0.0.1:0"]);
    let target = server.target();
    let home = TempDir::new().unwrap();
    let term = Term::start(home.path(), &["repl", &target]);
    term.line("one");
    term.wait_for("recv 4 one\\n");

    drop(server);
    term.wait_for("#1 127.0.0.1:");
    term.wait_for("closed by peer; :reconnect connects again");
    term.line("lost");
    term.wait_for("not connected (:reconnect connects again); not sent");

    let server = Listen::start(&[&target]);
    term.line(":reconnect");
    term.wait_for(&format!("#2 {target} connected"));
    term.line("two");
    term.wait_for(&format!("#2 {target} recv 4 two\\n"));
    // listen prints through its own writer thread: the record may trail
    // the echo.
    server.wait_stdout_contains("two", SOON);
    assert_eq!(received_by(&server), ["two\\n"], "{}", server.dump());
    assert_eq!(term.quit(), "[exit 0]");
}

/// `--reconnect` does the same by itself, retrying with backoff until the
/// server is back.
#[test]
fn reconnect_flag_restores_the_session_by_itself() {
    let server = Listen::start(&["127.0.0.1:0"]);
    let target = server.target();
    let home = TempDir::new().unwrap();
    let term = Term::start(home.path(), &["repl", &target, "--reconnect"]);
    term.wait_for(&format!("#1 {target} connected"));
    drop(server);
    term.wait_for("closed by peer; reconnecting");
    term.wait_for("connection refused; still trying (--reconnect)");
    let server = Listen::start(&[&target]);
    // The retry interval doubles up to 5 s; the next try may be that far off.
    let back = format!("#2 {target} connected");
    term.wait_within(SOON * 3, &back, |t| t.transcript().contains(&back));
    term.line("back");
    term.wait_for("#2 127.0.0.1:");
    term.wait_for("recv 5 back\\n");
    server.wait_stdout_contains("back", SOON);
    assert_eq!(received_by(&server), ["back\\n"], "{}", server.dump());
}

/// An unknown command and a bad payload are explained and send nothing:
/// the server's first bytes are the next good line. `--history FILE`
/// replaces the default location.
#[test]
fn unknown_commands_and_bad_payloads_send_nothing() {
    let server = PyServer::start("silent_server.py", &[]);
    let home = TempDir::new().unwrap();
    let history = home.path().join("my-history");
    let term = Term::start(
        home.path(),
        &[
            "repl",
            &server.target(),
            "--history",
            history.to_str().unwrap(),
        ],
    );
    term.wait_prompt("text>");
    term.line(":bogus");
    term.wait_for("line ':bogus': unknown command; :help lists the commands");
    term.line("ab\\q");
    term.wait_for("at column 3: unknown escape '\\q'");
    term.wait_for("; not sent");
    term.line(":mode hex");
    term.wait_prompt("hex>");
    term.line("02 4");
    term.wait_for("odd number of hex digits");
    term.line("6f 6b");
    server
        .proc
        .wait_stdout_contains(&format!("recv 3 {}", hex(b"ok\n")), SOON);
    assert_eq!(
        server.log(),
        ["accepted".to_string(), format!("recv 3 {}", hex(b"ok\n"))]
    );
    assert_eq!(term.quit(), "[exit 0]");
    let saved = std::fs::read_to_string(&history).unwrap();
    assert!(
        saved.contains(":bogus\n") && saved.contains("6f 6b\n"),
        "{saved}"
    );
    assert!(
        !home.path().join("state").exists(),
        "--history replaces the default"
    );
}

/// Tab completes command names, then their values.
#[test]
fn tab_completes_commands_and_values() {
    let server = Listen::start(&["127.0.0.1:0"]);
    let home = TempDir::new().unwrap();
    let term = Term::start(home.path(), &["repl", &server.target()]);
    term.wait_prompt("text>");
    term.type_text(":mo");
    term.keys(&["Tab"]);
    term.wait_prompt("text> :mode");
    term.type_text("h");
    term.keys(&["Tab"]);
    term.wait_prompt("text> :mode hex");
    term.keys(&["Enter"]);
    term.wait_prompt("hex>");
    term.line("41 42");
    term.wait_for("recv 3 AB\\n");
    // Ambiguous: the choices are listed.
    term.type_text(":f");
    term.keys(&["Tab", "Tab"]);
    term.wait_for(":format");
    term.wait_for(":frame");
}

pub(crate) fn repl_piped(target: &str, args: &[&str], stdin: &str) -> std::process::Output {
    assert_cmd::Command::new(bin())
        .arg("repl")
        .arg(target)
        .args(args)
        .write_stdin(stdin)
        .timeout(ONE_SHOT)
        .output()
        .unwrap()
}

/// Must show 4: piped lines are sent, both echoes printed, exit 0.
#[test]
fn piped_lines_print_both_echoes_and_exit_0() {
    let server = Listen::start(&["127.0.0.1:0", "-q"]);
    let out = repl_piped(&server.target(), &[], "a\nb\n");
    assert_eq!(code(&out), 0, "{}", show(&out));
    let records = records(&stdout_of(&out));
    let sent: Vec<_> = records.iter().filter(|r| r.dir == "sent").collect();
    assert_eq!(sent.len(), 2, "{}", show(&out));
    assert_eq!(
        (sent[0].payload.as_str(), sent[1].payload.as_str()),
        ("a\\n", "b\\n")
    );
    // Without --frame the echo may come back in one piece or two.
    let echoed: String = records
        .iter()
        .filter(|r| r.dir == "recv")
        .map(|r| r.payload.as_str())
        .collect();
    assert_eq!(echoed, "a\\nb\\n", "{}", show(&out));

    // With --frame line each echo is its own record.
    let out = repl_piped(&server.target(), &["--frame", "line"], "a\nb\n");
    assert_eq!(code(&out), 0, "{}", show(&out));
    let recv: Vec<_> = records_of(&out, "recv");
    assert_eq!(recv, ["a\\n", "b\\n"], "{}", show(&out));

    // Raw output is the peer's bytes only; commands work in scripts too.
    let out = repl_piped(
        &server.target(),
        &["-f", "raw"],
        "a\n:eol crlf\n:hex 02 03\nb\n",
    );
    assert_eq!(code(&out), 0, "{}", show(&out));
    assert_eq!(out.stdout, b"a\n\x02\x03b\r\n", "{}", show(&out));
}

pub(crate) fn records_of(out: &std::process::Output, dir: &str) -> Vec<String> {
    records(&stdout_of(out))
        .into_iter()
        .filter(|r| r.dir == dir)
        .map(|r| r.payload)
        .collect()
}

/// A bad line exits 2 naming its line and column, after the lines before
/// it were sent and before it is.
#[test]
fn piped_bad_payload_exits_2_before_sending_it() {
    let server = PyServer::start("silent_server.py", &[]);
    let out = repl_piped(&server.target(), &[], "a\nb\\q\nc\n");
    assert_eq!(code(&out), 2, "{}", show(&out));
    let err = stderr_of(&out);
    assert!(err.contains("line 2 'b\\q': at column 2"), "{err}");
    server.proc.wait_stdout_contains("eof", SOON);
    assert_eq!(
        server.log(),
        [
            "accepted".to_string(),
            format!("recv 2 {}", hex(b"a\n")),
            "eof".into()
        ],
    );

    let out = repl_piped(&server.target(), &[], ":frob\nc\n");
    assert_fails(&out, 2, "line 1 ':frob': unknown command");
}

/// Nothing listening: exit 3, as for `send`.
#[test]
fn piped_exits_3_when_it_cannot_connect() {
    let out = repl_piped(&format!("127.0.0.1:{}", free_port()), &[], "a\n");
    assert_fails(&out, 3, "connection refused");
}

/// `--capture FILE` and `:capture FILE` record the session (both
/// directions) in the capture format, and `replay --verify` accepts it.
#[test]
fn capture_records_the_session_for_replay() {
    let dir = tempfile::tempdir().unwrap();
    let server = Listen::start(&["127.0.0.1:0", "-q", "--frame", "line"]);
    let first = dir.path().join("flag.jsonl");
    let out = repl_piped(
        &server.target(),
        &["--capture", first.to_str().unwrap(), "--frame", "line"],
        "one\n",
    );
    assert_eq!(code(&out), 0, "{}", show(&out));
    let text = std::fs::read_to_string(&first).unwrap();
    assert!(text.contains("\"side\":\"client\""), "{text}");
    assert!(
        text.contains("\"from\":\"client\",\"len\":4,\"hex\":\"6f6e650a\""),
        "{text}"
    );
    assert!(
        text.contains("\"from\":\"server\",\"len\":4,\"hex\":\"6f6e650a\""),
        "{text}"
    );

    let second = dir.path().join("command.jsonl");
    let script = format!(":capture {}\ntwo\n", second.display());
    let out = repl_piped(&server.target(), &["--frame", "line"], &script);
    assert_eq!(code(&out), 0, "{}", show(&out));
    let replayed = replay(&[second.to_str().unwrap(), &server.target(), "--verify"]);
    assert_eq!(code(&replayed), 0, "{}", show(&replayed));
    assert!(
        stdout_of(&replayed).ends_with("verify: 1 ok, 0 differ\n"),
        "{}",
        show(&replayed)
    );

    let out = repl_piped(
        &server.target(),
        &["--capture", "/nonexistent/dir/x.jsonl"],
        "a\n",
    );
    assert_fails(&out, 2, "cannot create capture file");
}

/// `-x` lines are the exact bytes meant (issue 26, trap 9): `41 42 0a`
/// sends `AB\n`, not `AB\n\n`; an explicit `--eol` still applies, and
/// text mode keeps its LF.
#[test]
fn hex_lines_get_no_terminator_unless_asked() {
    let server = PyServer::start("silent_server.py", &[]);
    let runs: [(&[&str], &str, &[u8]); 3] = [
        (&["-x"], "41 42 0a\n", b"AB\n"),
        (&["-x", "--eol", "crlf"], "41 42\n", b"AB\r\n"),
        (&[], "AB\n", b"AB\n"),
    ];
    for (args, line, sent) in runs {
        let mut all = vec!["-w", "200ms"];
        all.extend_from_slice(args);
        let out = repl_piped(&server.target(), &all, line);
        let expected = format!("recv {} {}", sent.len(), hex(sent));
        let log = server.proc.wait_stdout_contains(&expected, SOON);
        assert!(log.contains(&expected), "{args:?}: {log}\n{}", show(&out));
    }
    // Nothing else reached the server: exactly one message per run.
    let recvs = server
        .log()
        .iter()
        .filter(|l| l.starts_with("recv "))
        .count();
    assert_eq!(recvs, 3, "{:?}", server.log());
}
