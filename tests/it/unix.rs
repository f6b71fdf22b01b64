//! Unix domain stream sockets (`unix:PATH`) end to end: `listen`, `send`,
//! piped `repl`, `replay` (client and `--serve`) and `proxy` (both sides)
//! against socat and OpenBSD nc (`nc -U`) on sockets in a temporary
//! directory; the socket file's life cycle (a stale file is replaced, a live
//! server's is not, a regular file is left alone, our own file goes when we
//! exit). Bad `unix:` arguments are in the bad-input catalogue
//! (`bad_input.rs`, category "unix sockets").
//!
//! The records' peer for a unix socket is `unix:PATH` (there is no IP
//! address), so they are matched as text here: `util::record` parses only
//! IP peers.

use std::{
    os::unix::net::UnixListener,
    path::{Path, PathBuf},
    process::{Command, Output},
};

use tempfile::TempDir;

use crate::util::*;

/// `unix:PATH`, as every subcommand takes it.
fn unix(path: &Path) -> String {
    format!("unix:{}", path.display())
}

/// `p1ge0n ARGS...` that listens on the unix socket `path` (listen, proxy,
/// replay --serve): its first stderr line must be exactly
/// `listening on unix:PATH (unix)`.
fn start_on(path: &Path, args: &[&str]) -> Proc {
    let mut cmd = Command::new(bin());
    cmd.args(args);
    let proc = Proc::spawn(cmd);
    let stderr = proc.wait_stderr_contains("listening on ", STARTUP);
    assert_eq!(
        stderr.lines().next().unwrap_or_default(),
        format!("listening on {} (unix)", unix(path)),
        "{}",
        proc.dump()
    );
    proc
}

/// `p1ge0n listen unix:PATH ARGS...`, listening.
fn listen_on(path: &Path, args: &[&str]) -> Proc {
    let target = unix(path);
    start_on(path, &[&["listen", target.as_str()], args].concat())
}

/// `socat UNIX-LISTEN:PATH,fork PIPE`: an echo server from another vendor,
/// listening once its `listening on` notice is out.
fn socat_echo(path: &Path) -> Proc {
    let mut cmd = Command::new("socat");
    cmd.args([
        "-d",
        "-d",
        &format!("UNIX-LISTEN:{},fork", path.display()),
        "PIPE",
    ]);
    let proc = Proc::spawn(cmd);
    proc.wait_stderr_contains("listening on AF=1 ", STARTUP);
    proc
}

/// `socat - UNIX-CONNECT:PATH` with `input` on stdin. At stdin's end socat
/// half-closes the socket and waits (up to -t 5 s) for the server to close;
/// a server that closes after its answer ends it at once.
fn socat_client(path: &Path, input: &[u8]) -> Output {
    assert_cmd::Command::new("socat")
        .args(["-t", "5", "-", &format!("UNIX-CONNECT:{}", path.display())])
        .write_stdin(input.to_vec())
        .timeout(ONE_SHOT)
        .output()
        .expect("run socat")
}

/// socat's exchange succeeded and `input` came back, byte for byte.
fn assert_socat_echo(path: &Path, input: &[u8]) {
    let out = socat_client(path, input);
    assert_eq!(code(&out), 0, "{}", show(&out));
    assert_eq!(out.stdout, input, "{}", show(&out));
}

/// Whether anything (socket, file, dangling link) is at `path`.
fn present(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok()
}

fn sock(dir: &TempDir, name: &str) -> PathBuf {
    dir.path().join(name)
}

/// socat and `nc -U` reach `listen unix:PATH` and get their bytes back;
/// listen names each connection by the socket's path.
#[test]
fn listen_unix_reached_by_socat_and_nc_u() {
    let dir = tempfile::tempdir().unwrap();
    let path = sock(&dir, "echo.sock");
    let server = listen_on(&path, &[]);
    let peer = unix(&path);

    assert_socat_echo(&path, b"hello\n");
    server.wait_stderr_contains("closed by peer", SOON);
    assert!(
        server.stderr().contains(&format!("#1 {peer} connected")),
        "{}",
        server.dump()
    );
    server.wait_stdout_contains(&format!("#1 {peer} recv 6 hello\\n"), SOON);

    // OpenBSD nc: -U for a unix socket, -N to shut down after stdin's end.
    let out = assert_cmd::Command::new("nc")
        .args(["-N", "-U", path.to_str().unwrap()])
        .write_stdin("hello\n")
        .timeout(ONE_SHOT)
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", show(&out));
    assert_eq!(out.stdout, b"hello\n", "{}", show(&out));
    server.wait_stderr_contains(&format!("#2 {peer} connected"), SOON);
    server.wait_stdout_contains(&format!("#2 {peer} recv 6 hello\\n"), SOON);
}

/// The clients reach socat's unix echo: `send`, piped `repl` (raw and as
/// records), `replay` of a script and of a capture recorded by
/// `listen unix:... --capture`, each with --verify.
#[test]
fn send_repl_replay_reach_socat_unix_listen() {
    let dir = tempfile::tempdir().unwrap();
    let path = sock(&dir, "s.sock");
    let _echo = socat_echo(&path);
    let target = unix(&path);

    let out = send_cmd().args([target.as_str(), "ping"]).output().unwrap();
    assert_eq!(code(&out), 0, "{}", show(&out));
    assert_eq!(out.stdout, b"ping", "{}", show(&out));

    let repl = |args: &[&str]| {
        assert_cmd::Command::new(bin())
            .args(["repl", &target])
            .args(args)
            .write_stdin("hi\n")
            .timeout(ONE_SHOT)
            .output()
            .unwrap()
    };
    let out = repl(&["-f", "raw"]);
    assert_eq!(code(&out), 0, "{}", show(&out));
    assert_eq!(out.stdout, b"hi\n", "{}", show(&out));
    let out = repl(&[]);
    assert_eq!(code(&out), 0, "{}", show(&out));
    let stdout = stdout_of(&out);
    assert!(stdout.contains(" sent 3 hi\\n\n"), "{}", show(&out));
    assert!(
        stdout.contains(&format!(" {target} recv 3 hi\\n\n")),
        "{}",
        show(&out)
    );

    let script = dir.path().join("ping.script");
    std::fs::write(&script, "> ping\\n\n< ping\\n\n").unwrap();
    let out = replay(&[script.to_str().unwrap(), &target, "--verify"]);
    assert_eq!(code(&out), 0, "{}", show(&out));
    assert!(
        stdout_of(&out).ends_with("verify: 1 ok, 0 differ\n"),
        "{}",
        show(&out)
    );

    // A capture made on a unix socket names the path as the peer and
    // replays against another unix server.
    let capture = dir.path().join("c.jsonl");
    let recorder = sock(&dir, "rec.sock");
    let mut server = listen_on(
        &recorder,
        &[
            "--frame",
            "line",
            "-q",
            "--capture",
            capture.to_str().unwrap(),
        ],
    );
    let out = send_cmd()
        .args([
            "--frame",
            "line",
            &unix(&recorder),
            "HELLO\\n",
            "STATUS?\\n",
        ])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", show(&out));
    assert_eq!(out.stdout, b"HELLO\nSTATUS?\n", "{}", show(&out));
    server.wait_stderr_contains("closed by peer", SOON);
    server.interrupt();
    assert_eq!(server.wait_code(SOON), 130, "{}", server.dump());
    let text = std::fs::read_to_string(&capture).unwrap();
    assert!(
        text.contains(&format!("\"peer\":\"{}\"", unix(&recorder))),
        "{text}"
    );
    let out = replay(&[
        capture.to_str().unwrap(),
        &target,
        "--verify",
        "--frame",
        "line",
    ]);
    assert_eq!(code(&out), 0, "{}", show(&out));
    assert!(
        stdout_of(&out).ends_with("verify: 2 ok, 0 differ\n"),
        "{}",
        show(&out)
    );
}

/// `replay --serve unix:PATH` plays a script's server side to socat.
#[test]
fn replay_serve_on_a_unix_socket() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("plc.script");
    std::fs::write(&script, "< HELLO\\n\n> STATUS?\\n\n< RUNNING\\n\n").unwrap();
    let path = sock(&dir, "serve.sock");
    let target = unix(&path);
    let mut server = start_on(
        &path,
        &[
            "replay",
            script.to_str().unwrap(),
            "--serve",
            &target,
            "--no-delay",
        ],
    );
    let out = socat_client(&path, b"STATUS?\n");
    assert_eq!(code(&out), 0, "{}", show(&out));
    assert_eq!(out.stdout, b"HELLO\nRUNNING\n", "{}", show(&out));
    assert_eq!(server.wait_code(SOON), 0, "{}", server.dump());
}

/// A socket file nobody answers on (left by a server that died) is
/// replaced; a live server's socket is not touched (exit 1, and it keeps
/// answering); a regular file at the path is left as it was (exit 1).
#[test]
fn listen_unix_removes_stale_socket_and_refuses_live_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = sock(&dir, "stale.sock");
    // Binding creates the file; dropping the listener closes the socket but
    // leaves the file behind, as a crashed server does.
    drop(UnixListener::bind(&path).unwrap());
    assert!(present(&path), "the stale socket file should stay");

    let _server = listen_on(&path, &[]);
    assert_socat_echo(&path, b"after the stale one\n");

    let out = p1ge0n(&["listen", &unix(&path)]);
    assert_fails(&out, 1, "another program is listening");
    assert!(
        stderr_of(&out).contains(&format!("cannot listen on {}", unix(&path))),
        "{}",
        show(&out)
    );
    assert!(!stderr_of(&out).contains("listening on"), "{}", show(&out));
    assert_socat_echo(&path, b"still mine\n");

    let file = dir.path().join("notes.txt");
    std::fs::write(&file, "keep me\n").unwrap();
    let out = p1ge0n(&["listen", &unix(&file)]);
    assert_eq!(code(&out), 1, "{}", show(&out));
    assert!(!stderr_of(&out).contains("listening on"), "{}", show(&out));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "keep me\n");
}

/// listen removes its own socket file when it ends: Ctrl-C (130), SIGTERM
/// (143), and `--once` after its client (0).
#[test]
fn listen_unix_removes_its_file_on_exit() {
    let dir = tempfile::tempdir().unwrap();

    let path = sock(&dir, "int.sock");
    let mut server = listen_on(&path, &[]);
    assert_socat_echo(&path, b"one\n");
    assert!(present(&path));
    server.interrupt();
    assert_eq!(server.wait_code(SOON), 130, "{}", server.dump());
    assert!(!present(&path), "the socket file outlived Ctrl-C");

    let path = sock(&dir, "term.sock");
    let mut server = listen_on(&path, &[]);
    let killed = Command::new("kill")
        .args(["-TERM", &server.pid().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    assert_eq!(server.wait_code(SOON), 143, "{}", server.dump());
    assert!(!present(&path), "the socket file outlived SIGTERM");

    let path = sock(&dir, "once.sock");
    let mut server = listen_on(&path, &["--once"]);
    assert_socat_echo(&path, b"only\n");
    assert_eq!(server.wait_code(SOON), 0, "{}", server.dump());
    assert!(!present(&path), "the socket file outlived --once");
}

/// `proxy unix:PATH TCP_TARGET`: socat on the unix side reaches a TCP echo
/// server through the proxy, which names the client by the path.
#[test]
fn proxy_unix_to_tcp() {
    let dir = tempfile::tempdir().unwrap();
    let upstream = Listen::start(&["127.0.0.1:0"]);
    let path = sock(&dir, "p.sock");
    let px = start_on(&path, &["proxy", &unix(&path), &upstream.target()]);
    assert_socat_echo(&path, b"through the proxy\n");
    px.wait_stderr_contains(&format!("#1 {} connected", unix(&path)), SOON);
    upstream.wait_stdout_contains(" recv 18 through the proxy\\n", SOON);
}

/// `proxy 127.0.0.1:0 unix:PATH`: nc over TCP reaches socat's unix echo
/// through the proxy.
#[test]
fn proxy_tcp_to_unix() {
    let dir = tempfile::tempdir().unwrap();
    let path = sock(&dir, "upstream.sock");
    let _echo = socat_echo(&path);
    let mut cmd = Command::new(bin());
    cmd.args(["proxy", "127.0.0.1:0", &unix(&path), "-q"]);
    let px = Listen::spawn_with(cmd);
    assert_eq!(px.transport(), "tcp");
    let out = assert_cmd::Command::new("nc")
        .args(["-N", "127.0.0.1", &px.port().to_string()])
        .write_stdin("to the unix side\n")
        .timeout(ONE_SHOT)
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", show(&out));
    assert_eq!(out.stdout, b"to the unix side\n", "{}", show(&out));
}
