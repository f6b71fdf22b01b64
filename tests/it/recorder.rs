//! The one recorder every subcommand shares (`record::Recorder`,
//! `output::Outputs`): a failed write to an output is an error, never a
//! silently truncated file; and `replay` records like the other clients
//! (`--capture`, `--pcap`).

use std::{
    io::{Read, Write},
    process::Command,
    time::Duration,
};

use crate::pcap_out::{assert_clean, tshark};
use crate::util::*;

/// `/dev/full` accepts the open and fails every write with ENOSPC: the
/// full disk a capture meets in the field.
const FULL: &str = "/dev/full";

/// A client stops at the first failed write: exit 1, naming the file and
/// the reason. Before, the capture was silently empty and send exited 0.
#[test]
fn send_says_a_capture_it_cannot_write_and_exits_1() {
    let server = Listen::start(&["127.0.0.1:0", "-q"]);
    let out = p1ge0n(&["send", &server.target(), "hello", "--capture", FULL]);
    assert_eq!(code(&out), 1, "{}", show(&out));
    let err = stderr_of(&out);
    assert!(
        err.contains("writing capture /dev/full: No space left on device"),
        "{err}"
    );
    let out = p1ge0n(&["send", &server.target(), "hello", "--pcap", FULL]);
    assert_eq!(code(&out), 1, "{}", show(&out));
    assert!(
        stderr_of(&out).contains("writing --pcap /dev/full: No space left on device"),
        "{}",
        show(&out)
    );
}

/// replay and the piped repl stop the same way.
#[test]
fn replay_and_repl_say_a_capture_they_cannot_write_and_exit_1() {
    let server = Listen::start(&["127.0.0.1:0", "-q", "--frame", "line"]);
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("s.txt");
    std::fs::write(&script, "> ping\\n\n< ping\\n\n").unwrap();
    let out = p1ge0n(&[
        "replay",
        script.to_str().unwrap(),
        &server.target(),
        "--capture",
        FULL,
    ]);
    assert_eq!(code(&out), 1, "{}", show(&out));
    assert!(
        stderr_of(&out).contains("writing capture /dev/full: No space left on device"),
        "{}",
        show(&out)
    );

    let mut repl = Command::new(bin());
    repl.args(["repl", &server.target(), "--capture", FULL, "-w", "1s"]);
    repl.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = repl.spawn().unwrap();
    child.stdin.take().unwrap().write_all(b"ping\n").unwrap();
    let out = wait_output(child, Duration::from_secs(10));
    assert_eq!(code(&out), 1, "{}", show(&out));
    assert!(
        stderr_of(&out).contains("writing capture /dev/full: No space left on device"),
        "{}",
        show(&out)
    );
}

/// A server keeps serving: `listen --once` echoes its one client, says
/// once that the capture cannot be written, names it again in the summary,
/// and exits 1 because it ended by itself with an incomplete capture.
#[test]
fn listen_once_serves_its_client_says_so_once_and_exits_1() {
    let mut server = Listen::start(&["127.0.0.1:0", "--once", "-q", "--capture", FULL]);
    let mut client = server.connect();
    client.write_all(b"one\n").unwrap();
    assert_eq!(read_n(&mut client, 4), b"one\n");
    client.write_all(b"two\n").unwrap();
    assert_eq!(read_n(&mut client, 4), b"two\n");
    drop(client);
    assert_eq!(
        server.wait_code(Duration::from_secs(10)),
        1,
        "{}",
        server.dump()
    );
    let err = server.stderr();
    let said = err
        .lines()
        .filter(|l| l.contains("writing capture /dev/full: No space left on device"))
        .count();
    assert_eq!(said, 1, "said once:\n{err}");
    let summary = err
        .lines()
        .find(|l| l.starts_with("summary: "))
        .unwrap_or_else(|| panic!("no summary:\n{err}"));
    assert!(
        summary.contains("capture /dev/full incomplete from t="),
        "{summary}"
    );
}

/// `proxy` the same way, for its `--pcap`: it relays, and exits 1 after
/// `--once` because the file is incomplete.
#[test]
fn proxy_once_relays_with_a_pcap_it_cannot_write_and_exits_1() {
    let upstream = Socat::echo();
    let mut cmd = Command::new(bin());
    cmd.args([
        "proxy",
        "127.0.0.1:0",
        &upstream.target(),
        "--once",
        "-q",
        "--pcap",
        FULL,
    ]);
    let mut proxy = Listen::spawn_with(cmd);
    let mut client = proxy.connect();
    client.write_all(b"through\n").unwrap();
    assert_eq!(read_n(&mut client, 8), b"through\n");
    drop(client);
    assert_eq!(
        proxy.wait_code(Duration::from_secs(10)),
        1,
        "{}",
        proxy.dump()
    );
    assert!(
        proxy
            .stderr()
            .contains("writing --pcap /dev/full: No space left on device"),
        "{}",
        proxy.dump()
    );
}

/// `replay --capture` writes what it sent and got; replaying that capture
/// plays the same conversation (`--verify` finds every reply equal), and
/// `replay --pcap` writes a pcapng tshark reads without a malformed packet,
/// whose TCP stream is the same bytes.
#[test]
fn replay_records_a_capture_that_replays_and_a_pcap_tshark_reads() {
    assert!(have("tshark"), "tshark is needed: scripts/test installs it");
    let server = Listen::start(&["127.0.0.1:0", "-q", "--frame", "line"]);
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("s.txt");
    std::fs::write(
        &script,
        "> STATUS?\\r\\n\n< STATUS?\\r\\n\n> SET 1\\n\n< SET 1\\n\n",
    )
    .unwrap();
    let capture = dir.path().join("replayed.jsonl");
    let pcap = dir.path().join("replayed.pcapng");
    let out = p1ge0n(&[
        "replay",
        script.to_str().unwrap(),
        &server.target(),
        "--verify",
        "--capture",
        capture.to_str().unwrap(),
        "--pcap",
        pcap.to_str().unwrap(),
    ]);
    assert_eq!(code(&out), 0, "{}", show(&out));

    let lines = std::fs::read_to_string(&capture).unwrap();
    let data: Vec<serde_json::Value> = lines
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|v: &serde_json::Value| v["event"] == "data")
        .collect();
    let seen: Vec<(String, String)> = data
        .iter()
        .map(|v| {
            (
                v["from"].as_str().unwrap().to_string(),
                v["hex"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let hex = |s: &[u8]| s.iter().map(|b| format!("{b:02x}")).collect::<String>();
    assert_eq!(
        seen,
        [
            ("client".to_string(), hex(b"STATUS?\r\n")),
            ("server".to_string(), hex(b"STATUS?\r\n")),
            ("client".to_string(), hex(b"SET 1\n")),
            ("server".to_string(), hex(b"SET 1\n")),
        ]
    );
    assert!(lines.starts_with("{\"p1ge0n\":\"capture\""), "{lines}");

    let again = p1ge0n(&[
        "replay",
        capture.to_str().unwrap(),
        &server.target(),
        "--verify",
        "--no-delay",
    ]);
    assert_eq!(code(&again), 0, "{}", show(&again));
    let verdicts = stdout_of(&again);
    assert_eq!(
        verdicts.lines().filter(|l| l.contains(": ok (")).count(),
        2,
        "{verdicts}"
    );

    let file = pcap.to_str().unwrap();
    assert_clean(file);
    let payloads = tshark(&[
        "-r",
        file,
        "-Y",
        "tcp.len > 0",
        "-T",
        "fields",
        "-e",
        "tcp.payload",
    ]);
    let payloads: Vec<String> = payloads.lines().map(|l| l.replace(':', "")).collect();
    assert_eq!(
        payloads,
        [
            hex(b"STATUS?\r\n"),
            hex(b"STATUS?\r\n"),
            hex(b"SET 1\n"),
            hex(b"SET 1\n")
        ]
    );
}

/// Wait for a child with a bound; kill it if it overstays.
fn wait_output(mut child: std::process::Child, limit: Duration) -> std::process::Output {
    let start = std::time::Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("the child did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_end(&mut stdout)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_end(&mut stderr)
        .unwrap();
    std::process::Output {
        status: child.wait().unwrap(),
        stdout,
        stderr,
    }
}
