//! `p1ge0n proxy` between real clients and real servers: pymodbus on both
//! ends, nc, a one-connection device, a thousand clients, UDP.

use std::{collections::HashMap, net::SocketAddr, process::Command, thread, time::Duration};

use crate::util::*;

/// `p1ge0n proxy ARGS...`, started and listening (its first stderr line).
pub(crate) fn proxy(args: &[&str]) -> Listen {
    let mut cmd = Command::new(bin());
    cmd.arg("proxy").args(args);
    Listen::spawn_with(cmd)
}

/// The JSON records of a proxy's stdout that carry data: (from, bytes).
fn data_records(stdout: &str) -> Vec<(String, Vec<u8>)> {
    stdout
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["event"] == "data")
        .map(|v| {
            (
                v["from"].as_str().unwrap().to_string(),
                unhex(v["hex"].as_str().unwrap()),
            )
        })
        .collect()
}

/// a real Modbus/TCP client and server (pymodbus) through the
/// proxy. The client's own checks pass; the proxy's JSON shows every
/// request and response whole (MBAP length, transaction ids in order,
/// function codes as sent and answered); the capture replays against a
/// fresh server with --verify.
#[test]
fn modbus_through_the_proxy_and_its_capture_replays() {
    let dir = tempfile::tempdir().unwrap();
    let capture = dir.path().join("modbus.jsonl");
    let plc = PyServer::start("modbus_server.py", &["--lifetime", "60"]);
    let mut px = proxy(&[
        "127.0.0.1:0",
        &plc.target(),
        "--frame",
        "len=u16be,offset=4",
        "-f",
        "json",
        "--capture",
        capture.to_str().unwrap(),
    ]);
    let port = px.port().to_string();
    python("modbus_client.py", &["--port".into(), port]);
    px.wait_stderr_contains("closed (", SOON);
    px.interrupt();
    assert_eq!(px.wait_code(SOON), 130, "{}", px.dump());

    let records = data_records(&px.stdout());
    let requests: Vec<&Vec<u8>> = records
        .iter()
        .filter(|r| r.0 == "client")
        .map(|r| &r.1)
        .collect();
    let responses: Vec<&Vec<u8>> = records
        .iter()
        .filter(|r| r.0 == "server")
        .map(|r| &r.1)
        .collect();
    assert_eq!(requests.len(), 8, "{}", px.stdout());
    assert_eq!(responses.len(), 8, "{}", px.stdout());
    let functions = [3u8, 6, 3, 16, 3, 1, 4, 3];
    for (i, (request, response)) in requests.iter().zip(&responses).enumerate() {
        for adu in [request, response] {
            let length = u16::from_be_bytes([adu[4], adu[5]]) as usize;
            assert_eq!(adu.len(), 6 + length, "a whole MBAP frame: {}", hex(adu));
            assert_eq!(u16::from_be_bytes([adu[0], adu[1]]) as usize, i + 1, "tid");
            assert_eq!(adu[6], 1, "unit id");
        }
        assert_eq!(request[7], functions[i], "request {}", i + 1);
        let answered = if i == 7 { 0x83 } else { functions[i] };
        assert_eq!(response[7], answered, "response {}", i + 1);
    }

    let fresh = PyServer::start("modbus_server.py", &["--lifetime", "60"]);
    let out = replay(&[
        capture.to_str().unwrap(),
        &fresh.target(),
        "--verify",
        "--no-delay",
        "--frame",
        "len=u16be,offset=4",
    ]);
    assert_eq!(code(&out), 0, "{}", show(&out));
    assert!(
        stdout_of(&out).contains("verify: 8 ok, 0 differ"),
        "{}",
        show(&out)
    );
}

/// half-close passes through both ways: `nc -N` gets its echo
/// through the proxy and exits by itself, also against a server that
/// closes first.
#[test]
fn half_close_passes_through() {
    if !have("nc") {
        panic!("nc (netcat-openbsd) is needed: scripts/test installs it");
    }
    let server = Listen::start(&["127.0.0.1:0", "-q"]);
    let px = proxy(&["127.0.0.1:0", &server.target(), "-q"]);
    let nc = |input: &str| {
        assert_cmd::Command::new("nc")
            .args(["-N", "127.0.0.1", &px.port().to_string()])
            .write_stdin(input)
            .timeout(ONE_SHOT)
            .output()
            .unwrap()
    };
    let out = nc("hello");
    assert_eq!(code(&out), 0, "{}", show(&out));
    assert_eq!(out.stdout, b"hello");

    // The server answers the first line and closes before the client does.
    let closing = PyServer::start("closing_server.py", &["--mode", "close-after-first"]);
    let px2 = proxy(&["127.0.0.1:0", &closing.target(), "-q"]);
    let out = assert_cmd::Command::new("nc")
        .args(["-N", "127.0.0.1", &px2.port().to_string()])
        .write_stdin("first\n")
        .timeout(ONE_SHOT)
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", show(&out));
    assert_eq!(out.stdout, b"first\n");
    px2.wait_stderr_contains(
        "closed (6 bytes client>server, 6 bytes server>client)",
        SOON,
    );
}

/// bytes before a half-close all arrive, and the
/// server's answer after it still comes back.
#[test]
fn every_byte_before_the_close_is_delivered() {
    let server = Listen::start(&["127.0.0.1:0", "-q"]);
    let px = proxy(&["127.0.0.1:0", &server.target(), "-q"]);
    let mut client = px.connect();
    let payload: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let (echo, end) = exchange_and_close(&mut client, &payload);
    assert_eq!(end, End::Eof);
    assert!(
        echo == payload,
        "{} of {} bytes came back",
        echo.len(),
        payload.len()
    );
}

/// the upstream refuses; that client is closed and logged, the
/// proxy keeps serving, and once the server is up the next client is
/// served.
#[test]
fn an_unreachable_target_closes_only_that_client() {
    let port = free_port();
    let target = format!("127.0.0.1:{port}");
    let mut px = proxy(&["127.0.0.1:0", &target, "-q", "--connect-timeout", "2s"]);
    let mut first = px.connect();
    let (got, end) = read_to_end(&mut first);
    assert!(got.is_empty() && end != End::TimedOut, "{end:?}");
    let log = px.wait_stderr_contains("closing the client", SOON);
    assert!(log.contains(&format!("upstream {target}")), "{log}");
    assert!(log.contains("refused"), "{log}");
    assert!(px.running(), "the proxy exited:\n{}", px.dump());

    let server = Listen::start(&[&target, "-q"]);
    let mut second = px.connect();
    let (echo, _) = exchange_and_close(&mut second, b"after\n");
    assert_eq!(echo, b"after\n");
    drop(server);
    assert!(px.running(), "{}", px.dump());
}

/// a reset on one side resets the other.
#[test]
fn a_reset_on_one_side_resets_the_other() {
    let resetter = PyServer::start("closing_server.py", &["--mode", "reset"]);
    let px = proxy(&["127.0.0.1:0", &resetter.target(), "-q"]);
    let mut client = px.connect();
    use std::io::Write;
    client.write_all(b"hello\n").unwrap();
    let (_, end) = read_to_end(&mut client);
    assert_eq!(end, End::Reset, "{}", px.dump());
    px.wait_stderr_contains("reset the other side", SOON);
}

/// --share, five concurrent clients, twenty requests each, one
/// device that accepts one connection: everyone gets exactly their own
/// answers, and the device saw one connection.
#[test]
fn share_puts_every_client_on_one_upstream_connection() {
    let device = PyServer::start("one_conn_server.py", &[]);
    let px = proxy(&[
        "127.0.0.1:0",
        &device.target(),
        "--share",
        "--frame",
        "line",
        "-q",
    ]);
    let port = px.port().to_string();
    let clients: Vec<_> = (0..5)
        .map(|id| {
            let args = vec![
                "--port".to_string(),
                port.clone(),
                "--id".to_string(),
                id.to_string(),
                "--count".to_string(),
                "20".to_string(),
            ];
            thread::spawn(move || python("line_client.py", &args))
        })
        .collect();
    for client in clients {
        let out = client.join().unwrap();
        assert_eq!(stdout_of(&out).trim(), "ok 20", "{}", show(&out));
    }
    assert_eq!(device.log(), ["conn"], "the device saw one connection");
    drop(px);
    device.proc.wait_stdout_contains("lines 100", SOON);
}

/// --share: a client that closes in the middle of a message (10 bytes of a
/// 12-byte MBAP request) does not put them on the shared line, where the
/// device would take the next client's request as their rest: that client
/// waited for an answer that never came.
#[test]
fn share_keeps_a_message_cut_short_off_the_shared_line() {
    use std::io::Write;
    let device = Listen::start(&["127.0.0.1:0", "--frame", "mbap", "-q"]);
    let px = proxy(&[
        "127.0.0.1:0",
        &device.target(),
        "--share",
        "--frame",
        "mbap",
        "-q",
    ]);
    let (answer, end) = exchange_and_close(&mut px.connect(), &[0, 5, 0, 0, 0, 6, 1, 3, 0, 0]);
    assert_eq!((answer.as_slice(), end), (&b""[..], End::Eof));
    px.wait_stderr_contains(
        "closed in the middle of a message: 10 bytes not sent to the shared line",
        SOON,
    );
    let mut next = px.connect();
    let request = [0, 7, 0, 0, 0, 6, 1, 3, 0, 0, 0, 1];
    next.write_all(&request).unwrap();
    assert_eq!(read_n(&mut next, request.len()), request);
}

/// --share: a reply that never comes closes only the waiting client; the
/// next client is served on a fresh upstream connection.
#[test]
fn share_times_out_only_the_waiting_client() {
    let silent = PyServer::start("silent_server.py", &[]);
    let px = proxy(&[
        "127.0.0.1:0",
        &silent.target(),
        "--share",
        "--frame",
        "line",
        "-q",
        "-w",
        "300ms",
    ]);
    let mut client = px.connect();
    use std::io::Write;
    client.write_all(b"anyone?\n").unwrap();
    let (got, end) = read_to_end(&mut client);
    assert!(got.is_empty(), "{}", escape(&got));
    assert_eq!(end, End::Eof);
    px.wait_stderr_contains("no reply within 300ms; closing the client", SOON);
}

/// --share without --frame is refused before anything is bound.
#[test]
fn bad_proxy_arguments_exit_2_before_binding() {
    let port = free_port().to_string();
    let addr = format!("127.0.0.1:{port}");
    let cases: [(&[&str], &str); 4] = [
        (&[&addr, "127.0.0.1:1", "--share"], "--share needs --frame"),
        (&[&addr, "127.0.0.1"], "at column 10"),
        (&[&addr, "127.0.0.1:1", "--frame", "len=u17"], "len=u17"),
        (&[&addr, "127.0.0.1:1", "-u", "--share"], "--share"),
    ];
    for (args, needle) in cases {
        let mut all = vec!["proxy"];
        all.extend_from_slice(args);
        let out = p1ge0n(&all);
        assert_fails(&out, 2, needle);
        // Nothing was bound: the port is still free.
        std::net::TcpListener::bind(&addr).expect("the port is still free");
    }
}

/// 1,000 concurrent clients through the proxy to `listen`: every
/// byte echoed exactly (the load client checks), and the capture holds each
/// client's bytes exactly once in each direction.
#[test]
fn a_thousand_clients_through_the_proxy() {
    const CLIENTS: usize = 1000;
    const MESSAGES: usize = 10;
    let dir = tempfile::tempdir().unwrap();
    let capture = dir.path().join("proxy.jsonl");
    let server = Listen::start(&["127.0.0.1:0", "-q"]);
    let mut px = proxy(&[
        "127.0.0.1:0",
        &server.target(),
        "--frame",
        "line",
        "-q",
        "--capture",
        capture.to_str().unwrap(),
    ]);
    let out = load_client(px.port(), CLIENTS, MESSAGES);
    let total = CLIENTS * MESSAGES;
    assert!(
        stdout_of(&out).starts_with(&format!(
            "clients={CLIENTS} messages={total} ok={total} mismatches=0 errors=0 "
        )),
        "{}",
        show(&out)
    );
    assert!(wait_until(Duration::from_secs(20), || px
        .stderr()
        .matches(" closed (")
        .count()
        >= CLIENTS));
    px.interrupt();
    assert_eq!(px.wait_code(SOON), 130);
    let text = std::fs::read_to_string(&capture).unwrap();
    let mut by_side: HashMap<(u64, String), Vec<u8>> = HashMap::new();
    for (i, line) in text.lines().enumerate().skip(1) {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("line {}: {e}", i + 1));
        if v["event"] == "data" {
            by_side
                .entry((
                    v["conn"].as_u64().unwrap(),
                    v["from"].as_str().unwrap().into(),
                ))
                .or_default()
                .extend(unhex(v["hex"].as_str().unwrap()));
        }
    }
    assert_eq!(by_side.len(), 2 * CLIENTS);
    for conn in 1..=CLIENTS as u64 {
        let sent = &by_side[&(conn, "client".to_string())];
        assert_eq!(sent.len(), MESSAGES * 64, "conn {conn}");
        assert_eq!(sent, &by_side[&(conn, "server".to_string())], "conn {conn}");
    }
}

/// SIGINT under load: the summary is printed, the capture parses
/// to its last line, and the proxy dies by SIGINT (a shell sees 130).
#[test]
fn sigint_under_load_leaves_a_whole_capture() {
    let dir = tempfile::tempdir().unwrap();
    let capture = dir.path().join("c.jsonl");
    let server = Listen::start(&["127.0.0.1:0", "-q"]);
    let mut px = proxy(&[
        "127.0.0.1:0",
        &server.target(),
        "--frame",
        "line",
        "-q",
        "--capture",
        capture.to_str().unwrap(),
    ]);
    let mut load = Command::new("python3")
        .arg(peer_script("load_client.py"))
        .args([
            "--port",
            &px.port().to_string(),
            "--clients",
            "50",
            "--messages",
            "100000",
            "--size",
            "64",
            "--timeout",
            "20",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    assert!(wait_until(SOON, || std::fs::metadata(&capture)
        .map(|m| m.len() > 100_000)
        .unwrap_or(false)));
    px.interrupt();
    let status = px.wait_exit(SOON);
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(libc::SIGINT), "{}", px.dump());
    let _ = load.kill();
    let _ = load.wait();
    assert!(px.stderr().contains("summary: "), "{}", px.dump());
    let text = std::fs::read_to_string(&capture).unwrap();
    assert!(text.ends_with('\n'));
    for (i, line) in text.lines().enumerate() {
        serde_json::from_str::<serde_json::Value>(line)
            .unwrap_or_else(|e| panic!("line {}: {e}: {line}", i + 1));
    }
}

/// UDP through `proxy -u` to `listen -u`: each client gets its own
/// answer, two at once included.
#[test]
fn udp_clients_each_get_their_own_answers() {
    let server = Listen::start(&["127.0.0.1:0", "-u", "-q"]);
    let px = proxy(&["127.0.0.1:0", &server.target(), "-u", "-f", "text"]);
    assert_eq!(px.transport(), "udp");
    let out = send_cmd()
        .args(["-u", &px.target(), "ping"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", show(&out));
    assert_eq!(out.stdout, b"ping");

    let sockets: Vec<std::net::UdpSocket> = (0..2)
        .map(|_| std::net::UdpSocket::bind("127.0.0.1:0").unwrap())
        .collect();
    let proxy_addr: SocketAddr = px.addr();
    for (i, s) in sockets.iter().enumerate() {
        s.set_read_timeout(Some(SOON)).unwrap();
        s.send_to(format!("client {i}").as_bytes(), proxy_addr)
            .unwrap();
    }
    for (i, s) in sockets.iter().enumerate() {
        let mut buf = [0u8; 64];
        let (n, from) = s.recv_from(&mut buf).unwrap();
        assert_eq!(from, proxy_addr);
        assert_eq!(&buf[..n], format!("client {i}").as_bytes());
    }
    let records = px.wait_stdout_lines(6, SOON);
    assert!(
        records
            .iter()
            .any(|l| l.contains("client>server 8 client 1"))
            && records
                .iter()
                .any(|l| l.contains("server>client 8 client 1")),
        "{records:?}"
    );
}

/// --share: when the server closes the shared connection, the next message
/// goes over a new one.
#[test]
fn share_reopens_a_closed_upstream_for_the_next_message() {
    let closing = PyServer::start("closing_server.py", &["--mode", "close-after-first"]);
    let px = proxy(&[
        "127.0.0.1:0",
        &closing.target(),
        "--share",
        "--frame",
        "line",
        "-q",
    ]);
    for word in ["one\n", "two\n"] {
        let mut client = px.connect();
        let (echo, _) = exchange_and_close(&mut client, word.as_bytes());
        assert_eq!(echo, word.as_bytes(), "{}", px.dump());
    }
    px.wait_stderr_contains("opening a new one", SOON);
    // The server's log reaches us through a reader thread: wait for it
    // (bounded) rather than read it at once (flaky on a busy machine).
    let conns = || closing.log().iter().filter(|l| *l == "conn").count();
    wait_until(SOON, || conns() >= 2);
    assert_eq!(conns(), 2, "{:?}", closing.log());
}

/// -u: a client's upstream socket is dropped after --idle-timeout.
#[test]
fn udp_upstream_sockets_are_dropped_when_idle() {
    let server = Listen::start(&["127.0.0.1:0", "-u", "-q"]);
    let px = proxy(&[
        "127.0.0.1:0",
        &server.target(),
        "-u",
        "-q",
        "--idle-timeout",
        "300ms",
    ]);
    let out = send_cmd()
        .args(["-u", &px.target(), "ping"])
        .output()
        .unwrap();
    assert_eq!(out.stdout, b"ping", "{}", show(&out));
    px.wait_stderr_contains("idle for 300ms, upstream socket dropped", SOON);
}

/// `--share`: a client waiting for a slow reply is not idle. Its reply
/// takes longer than `--idle-timeout`, and its next message must still be
/// served (it was dropped as idle the moment the reply was written; found
/// by the gateway soak, where a busy line made clients wait).
#[test]
fn share_a_client_waiting_for_its_reply_is_not_idle() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("slow.toml");
    std::fs::write(
        &rules,
        "[[rule]]\nmatch = 'slow\\n'\nreply = 'late\\n'\ndelay = '1500ms'\n",
    )
    .unwrap();
    let device = Listen::start(&[
        "127.0.0.1:0",
        "--frame",
        "line",
        "--rules",
        rules.to_str().unwrap(),
        "-q",
    ]);
    let proxy = proxy(&[
        "127.0.0.1:0",
        &device.target(),
        "--share",
        "--frame",
        "line",
        "--idle-timeout",
        "1s",
        "-q",
    ]);
    let mut client = std::net::TcpStream::connect(proxy.target()).unwrap();
    client.set_read_timeout(Some(SOON)).unwrap();
    use std::io::{Read, Write};
    client.write_all(b"slow\n").unwrap();
    let mut reply = [0u8; 5];
    client.read_exact(&mut reply).unwrap();
    assert_eq!(&reply, b"late\n");
    client.write_all(b"again\n").unwrap();
    let mut echo = [0u8; 6];
    client
        .read_exact(&mut echo)
        .unwrap_or_else(|e| panic!("dropped after a slow reply: {e}\n{}", proxy.proc.dump()));
    assert_eq!(&echo, b"again\n");
}

/// `proxy -q` frames nothing (nothing records or counts), so it cannot say
/// how many messages went by: the summary says they were not counted, not
/// "0 messages" after 4 lines each way. Without -q the same traffic counts.
#[test]
fn a_quiet_proxys_summary_does_not_claim_zero_messages() {
    let server = Listen::start(&["127.0.0.1:0", "-q"]);
    for (quiet, expected) in [
        (true, "summary: 1 connection, messages not counted (-q), 8 bytes received, 8 bytes sent, 0 refused"),
        (false, "summary: 1 connection, 8 messages, 8 bytes received, 8 bytes sent, 0 refused"),
    ] {
        let mut args = vec!["127.0.0.1:0", "--frame", "line"];
        let target = server.target();
        args.push(&target);
        if quiet {
            args.push("-q");
        }
        let mut px = proxy(&args);
        let out = send_cmd()
            .arg(px.target())
            .write_stdin("a\nb\nc\nd\n")
            .output()
            .unwrap();
        assert_eq!(code(&out), 0, "{}", show(&out));
        assert_eq!(stdout_of(&out), "a\nb\nc\nd\n");
        px.wait_stderr_contains("closed (8 bytes client>server", SOON);
        px.interrupt();
        px.wait_exit(SOON);
        let stderr = px.stderr();
        let summary = stderr.lines().find(|l| l.starts_with("summary: "));
        assert_eq!(summary, Some(expected), "{}", px.dump());
    }
}
