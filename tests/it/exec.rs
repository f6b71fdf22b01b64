//! Programs as devices (issue 23): `listen --exec`, `--exec-each` and
//! `send --exec`, with real programs (sh, tr, cat, Python) and real clients
//! (pymodbus, nc, p1ge0n send); the children are checked with `ps`.

use std::{
    io::{Read, Write},
    path::Path,
    process::Command,
    time::{Duration, Instant},
};

use crate::util::*;

/// A shell script in `dir`, executable.
fn script(dir: &Path, name: &str, body: &str) -> String {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path.to_str().unwrap().to_string()
}

/// The children of `pid` as (pid, state) pairs, from `ps --ppid`.
fn children(pid: u32) -> Vec<(u32, String)> {
    let out = Command::new("ps")
        .args(["--ppid", &pid.to_string(), "-o", "pid=,stat="])
        .output()
        .expect("run ps");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let mut parts = l.split_whitespace();
            Some((parts.next()?.parse().ok()?, parts.next()?.to_string()))
        })
        .collect()
}

/// The processes of process group `group` (zombies included).
fn group_members(group: u32) -> Vec<String> {
    let out = Command::new("ps")
        .args(["-e", "-o", "pgid=,pid=,stat=,args="])
        .output()
        .expect("run ps");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.split_whitespace().next() == Some(&group.to_string()))
        .map(str::to_string)
        .collect()
}

/// A Modbus device as a Python script, one request per run under
/// `--exec-each` with MBAP framing: pymodbus's client checks the values it
/// reads and an exception, and `--decode modbus` shows the traffic.
#[test]
fn a_python_script_is_a_modbus_device_per_message() {
    let device = format!("python3 {}", peer_script("modbus_exec_device.py").display());
    let mut server = Listen::start(&[
        "127.0.0.1:0",
        "--frame",
        "mbap",
        "--exec-each",
        &device,
        "--decode",
        "modbus",
    ]);
    let out = python(
        "modbus_check_registers.py",
        &[
            "--port".into(),
            server.port().to_string(),
            "--addr".into(),
            "10".into(),
            "--count".into(),
            "4".into(),
        ],
    );
    assert_eq!(stdout_of(&out).trim(), "ok");
    let shown = server.wait_stdout_contains("exception", Duration::from_secs(5));
    assert!(
        shown.contains("read holding registers (3) request addr=10 qty=4"),
        "{shown}"
    );
    assert!(
        shown.contains("read holding registers (3) response 4 values: 110 111 112 113"),
        "{shown}"
    );
    assert!(shown.contains("illegal data address"), "{shown}");
    server.interrupt();
    assert_eq!(server.wait_code(Duration::from_secs(10)), 130);
}

/// A line device as a shell one-liner, per connection: nc and p1ge0n send
/// (which half-closes at the end of its input) get the text upper-cased,
/// and the server shows both directions.
#[test]
fn a_one_liner_serves_each_connection() {
    let mut server = Listen::start(&["127.0.0.1:0", "--exec", "tr a-z A-Z"]);
    let mut nc = Command::new("nc")
        .args(["-N", "127.0.0.1", &server.port().to_string()])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run nc (netcat-openbsd)");
    nc.stdin.take().unwrap().write_all(b"hello\nplc\n").unwrap();
    let mut got = String::new();
    nc.stdout.take().unwrap().read_to_string(&mut got).unwrap();
    assert!(nc.wait().unwrap().success());
    assert_eq!(got, "HELLO\nPLC\n");

    let out = send_cmd()
        .arg(server.target())
        .write_stdin("abc\n")
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", show(&out));
    assert_eq!(stdout_of(&out), "ABC\n");
    let shown = server.wait_stdout_contains("sent 4 ABC\\n", Duration::from_secs(5));
    assert!(shown.contains("recv 10 hello\\nplc\\n"), "{shown}");
    assert!(shown.contains("sent 10 HELLO\\nPLC\\n"), "{shown}");
    server.interrupt();
    server.wait_exit(Duration::from_secs(10));
}

/// The environment names the peer and the message, never the bytes; the
/// program's stderr comes out prefixed with the connection number; a
/// failing program is logged with its status and the connection goes on.
#[test]
fn programs_see_who_is_asking_and_failures_are_logged() {
    let dir = tempfile::tempdir().unwrap();
    let device = script(
        dir.path(),
        "device.sh",
        "read line\n\
         echo \"$line from $P1GE0N_PEER via $P1GE0N_TRANSPORT conn=$P1GE0N_CONN msg=$P1GE0N_MESSAGE\"\n\
         echo \"said $line\" >&2\n\
         [ \"$line\" = fail ] && exit 3\n\
         exit 0\n",
    );
    let mut server = Listen::start(&["127.0.0.1:0", "--frame", "line", "--exec-each", &device]);
    let out = p1ge0n(&[
        "send",
        &server.target(),
        "--frame",
        "line",
        "fail\\n",
        "ok\\n",
        "-f",
        "json",
    ]);
    assert_eq!(code(&out), 0, "{}", show(&out));
    let replies: Vec<String> = stdout_of(&out)
        .lines()
        .filter_map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (v["from"] == "server").then(|| v["text"].as_str().unwrap().to_string())
        })
        .collect();
    assert_eq!(replies.len(), 2, "{}", show(&out));
    let me = replies[0]
        .split(" from ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap();
    assert!(me.starts_with("127.0.0.1:"), "{replies:?}");
    assert_eq!(replies[0], format!("fail from {me} via tcp conn=1 msg=1\n"));
    assert_eq!(replies[1], format!("ok from {me} via tcp conn=1 msg=2\n"));
    let log = server.wait_stderr_contains("said ok", Duration::from_secs(5));
    assert!(log.contains("#1 said fail"), "{log}");
    assert!(
        log.contains("message 1: the program exited with status 3"),
        "{log}"
    );
    server.interrupt();
    server.wait_exit(Duration::from_secs(10));
}

/// A program that hangs is stopped at `--exec-timeout` (its message gets
/// no answer) while another connection is answered meanwhile; one that
/// floods stdout is cut at `--max-frame`, and the server stays small.
#[test]
fn hanging_and_flooding_programs_are_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let device = script(
        dir.path(),
        "device.sh",
        "read line\n\
         case \"$line\" in\n\
           hang) sleep 100 ;;\n\
           flood) yes ;;\n\
           *) echo \"fine $line\" ;;\n\
         esac\n",
    );
    let mut server = Listen::start(&[
        "127.0.0.1:0",
        "--frame",
        "line",
        "--max-frame",
        "4KiB",
        "--exec-each",
        &device,
        "--exec-timeout",
        "1s",
        "-q",
    ]);
    let target = server.target();
    let started = Instant::now();
    let hung = std::thread::spawn({
        let target = target.clone();
        move || p1ge0n(&["send", &target, "--frame", "line", "-w", "3s", "hang\\n"])
    });
    std::thread::sleep(Duration::from_millis(200));
    let out = p1ge0n(&["send", &target, "--frame", "line", "x\\n"]);
    assert_eq!(stdout_of(&out), "fine x\n", "{}", show(&out));
    assert!(
        started.elapsed() < Duration::from_millis(900),
        "answered while the other program hung"
    );
    let out = hung.join().unwrap();
    assert_eq!(
        code(&out),
        4,
        "no answer from a stopped program: {}",
        show(&out)
    );
    let log = server.wait_stderr_contains("not done after 1s", Duration::from_secs(5));
    assert!(log.contains("stopped it and its process group"), "{log}");

    let out = p1ge0n(&["send", &target, "flood\\n", "--idle", "500ms"]);
    assert_eq!(code(&out), 0, "{}", show(&out));
    assert_eq!(stdout_of(&out).len(), 4096, "cut at --max-frame");
    let log = server.wait_stderr_contains("cut there", Duration::from_secs(5));
    assert!(
        log.contains("replied more than --max-frame (4096 bytes)"),
        "{log}"
    );
    let rss = peak_rss_kb(server.pid());
    assert!(rss < 50_000, "RSS {rss} KiB after a flood");
    let zombies: Vec<_> = children(server.pid())
        .into_iter()
        .filter(|(_, state)| state.starts_with('Z'))
        .collect();
    assert!(zombies.is_empty(), "{zombies:?}");
    server.interrupt();
    server.wait_exit(Duration::from_secs(10));
}

/// Every child is waited for: after 500 connections and 5,000 messages no
/// zombie is left; and on SIGTERM the per-connection programs, and what
/// they started in the background, are stopped before p1ge0n exits.
#[test]
fn children_are_reaped_and_stopped_with_the_server() {
    let mut server = Listen::start(&["127.0.0.1:0", "--frame", "line", "--exec-each", "cat", "-q"]);
    let out = python(
        "load_client.py",
        &[
            "--port".into(),
            server.port().to_string(),
            "--clients".into(),
            "500".into(),
            "--messages".into(),
            "10".into(),
        ],
    );
    assert!(stdout_of(&out).contains(" ok=5000 "), "{}", show(&out));
    let pid = server.pid();
    assert!(
        wait_until(Duration::from_secs(5), || children(pid).is_empty()),
        "children left: {:?}",
        children(pid)
    );
    server.interrupt();
    server.wait_exit(Duration::from_secs(10));

    let dir = tempfile::tempdir().unwrap();
    let device = script(dir.path(), "device.sh", "sleep 1000 &\nexec cat\n");
    let mut server = Listen::start(&["127.0.0.1:0", "--exec", &device]);
    let mut client = server.connect();
    client.write_all(b"ping\n").unwrap();
    let mut echoed = [0u8; 5];
    client.read_exact(&mut echoed).unwrap();
    assert_eq!(&echoed, b"ping\n");
    let pid = server.pid();
    let child = children(pid)
        .first()
        .map(|c| c.0)
        .expect("the program runs");
    assert!(
        wait_until(Duration::from_secs(5), || group_members(child).len() == 2),
        "{:?}",
        group_members(child)
    );
    // SAFETY: signalling the server this test started.
    unsafe { libc::kill(pid as i32, libc::SIGTERM) };
    assert_eq!(server.wait_code(Duration::from_secs(10)), 143);
    assert!(
        wait_until(Duration::from_secs(5), || group_members(child).is_empty()),
        "left running after SIGTERM: {:?}",
        group_members(child)
    );
}

/// `--exec-each` per datagram: each reply goes to its sender.
#[test]
fn udp_runs_the_program_per_datagram() {
    let mut server = Listen::start(&["127.0.0.1:0", "-u", "--exec-each", "tr a-z A-Z"]);
    let out = p1ge0n(&["send", "-u", &server.target(), "one\\n", "two\\n"]);
    assert_eq!(code(&out), 0, "{}", show(&out));
    assert_eq!(stdout_of(&out), "ONE\nTWO\n");
    server.interrupt();
    server.wait_exit(Duration::from_secs(10));
}

/// `send --exec`: a script logs in, checks the answer and exits 0; its
/// status is send's; a program that cannot start is exit 2 before
/// anything is sent.
#[test]
fn send_hands_the_connection_to_a_script() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("login.toml");
    std::fs::write(
        &rules,
        "[[rule]]\nmatch = 'LOGIN admin\\n'\nreply = 'OK\\n'\n[[rule]]\nprefix = 'LOGIN'\nreply = 'DENIED\\n'\n",
    )
    .unwrap();
    let server = Listen::start(&[
        "127.0.0.1:0",
        "--frame",
        "line",
        "--rules",
        rules.to_str().unwrap(),
    ]);
    let login = |user: &str| {
        let body =
            format!("echo LOGIN {user}\nread answer\n[ \"$answer\" = OK ] && exit 0\nexit 7\n");
        let program = script(dir.path(), &format!("login-{user}.sh"), &body);
        p1ge0n(&["send", &server.target(), "--exec", &program, "-f", "text"])
    };
    let out = login("admin");
    assert_eq!(code(&out), 0, "{}", show(&out));
    let shown = stdout_of(&out);
    assert!(shown.contains("sent 12 LOGIN admin\\n"), "{shown}");
    assert!(shown.contains("recv 3 OK\\n"), "{shown}");
    let out = login("bob");
    assert_eq!(code(&out), 7, "{}", show(&out));

    let out = p1ge0n(&["send", &server.target(), "--exec", "no-such-program-p1ge0n"]);
    assert_fails(&out, 2, "cannot start 'no-such-program-p1ge0n': not found");
    server.interrupt();
    let log = server.wait_stderr_contains("summary", Duration::from_secs(10));
    assert_eq!(log.matches("connected").count(), 2, "{log}");
}

/// Rules and programs mix in one file: a rule's `exec` answers its
/// messages with the program's stdout, the other rules with their replies,
/// over TCP and UDP.
#[test]
fn a_rule_can_answer_with_a_program() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("mixed.toml");
    std::fs::write(
        &rules,
        "default = 'none'\n\
         [[rule]]\nprefix = 'CALC '\nexec = 'sed -u s/CALC/RESULT/'\n\
         [[rule]]\nmatch = 'PING\\n'\nreply = 'PONG\\n'\n",
    )
    .unwrap();
    let rules = rules.to_str().unwrap();
    let server = Listen::start(&["127.0.0.1:0", "--frame", "line", "--rules", rules]);
    let out = p1ge0n(&[
        "send",
        &server.target(),
        "--frame",
        "line",
        "CALC 1+1\\n",
        "PING\\n",
    ]);
    assert_eq!(code(&out), 0, "{}", show(&out));
    assert_eq!(stdout_of(&out), "RESULT 1+1\nPONG\n");
    let log = server.wait_stderr_contains("to 'sed -u s/CALC/RESULT/'", Duration::from_secs(5));
    assert!(log.contains("rule 1: to 'sed"), "{log}");

    let udp = Listen::start(&["127.0.0.1:0", "-u", "--rules", rules]);
    let out = p1ge0n(&["send", "-u", &udp.target(), "CALC 2\\n"]);
    assert_eq!(code(&out), 0, "{}", show(&out));
    assert_eq!(stdout_of(&out), "RESULT 2\n");
}

/// A server with `--exec` ignores SIGPIPE (a program that exits must not
/// end the server), so once whatever read its stderr has gone
/// (`2>&1 | head -1`, a log collector that died), each connection line
/// failed to write. That used to panic the connection's task and reset
/// the connection; a diagnostic with nowhere to go is now dropped, and the
/// clients are served.
#[test]
fn a_server_whose_stderr_reader_is_gone_keeps_serving() {
    use std::io::BufRead;
    let mut child = Command::new(bin())
        .args(["listen", "127.0.0.1:0", "--exec", "cat"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run p1ge0n listen");
    let mut first = String::new();
    std::io::BufReader::new(child.stderr.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    // The reader (and the only read end of the pipe) is dropped here.
    let (addr, _) = listening_on(&first).unwrap_or_else(|| panic!("first stderr line: {first:?}"));
    for message in ["first\n", "second\n"] {
        let (got, end) = exchange_and_close(&mut connect(addr), message.as_bytes());
        assert_eq!(
            end,
            End::Eof,
            "{message:?} after {:?}",
            String::from_utf8_lossy(&got)
        );
        assert_eq!(String::from_utf8_lossy(&got), message);
    }
    assert!(child.try_wait().unwrap().is_none(), "the server exited");
    child.kill().unwrap();
    child.wait().unwrap();
}
