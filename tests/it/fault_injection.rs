//! `proxy --fault` (issue 24): faults dealt on purpose, judged by the
//! clients that suffer them (pymodbus's own checks, a socket's reset), by
//! the server that never sees what was not passed on, and by the fault
//! records; the same seed deals the same faults.

use std::{
    io::{Read, Write},
    net::TcpStream,
    time::{Duration, Instant},
};

use serde_json::Value;

use crate::{proxy::proxy, util::*};

/// The JSON lines `modbus_fault_client.py` printed, one per read.
fn reads(port: u16, extra: &[&str]) -> Vec<Value> {
    let mut args = vec!["--port".to_string(), port.to_string()];
    args.extend(extra.iter().map(|s| s.to_string()));
    let out = python("modbus_fault_client.py", &args);
    stdout_of(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The fault records of a proxy's JSON stdout, without their times and the
/// client's port (a new connection's own).
fn fault_records(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["event"] == "fault")
        .map(|mut v| {
            v.as_object_mut().unwrap().remove("t");
            v.as_object_mut().unwrap().remove("peer");
            v.to_string()
        })
        .collect()
}

fn stop(mut proxy: Listen) -> (String, String) {
    proxy.interrupt();
    proxy.wait_exit(SOON);
    (proxy.proc.stdout(), proxy.proc.stderr())
}

/// `to-client:delay=200ms`: every answer comes at least 200 ms after its
/// request, and pymodbus's reads still return the server's registers.
#[test]
fn a_delay_holds_every_answer() {
    let server = PyServer::start("modbus_server.py", &[]);
    let proxy = proxy(&[
        "127.0.0.1:0",
        &server.target(),
        "--frame",
        "mbap",
        "--fault",
        "to-client:delay=200ms",
        "-q",
    ]);
    let got = reads(proxy.port(), &["--addr", "10", "--reads", "3"]);
    assert_eq!(got.len(), 3);
    for read in &got {
        assert_eq!(read["registers"], serde_json::json!([70, 77]), "{got:?}");
        let ms = read["ms"].as_f64().unwrap();
        assert!((200.0..600.0).contains(&ms), "{got:?}");
    }
    let (_, stderr) = stop(proxy);
    assert!(stderr.contains("3 faults injected"), "{stderr}");
    assert!(stderr.contains("fault seed "), "no seed printed: {stderr}");
}

/// `drop=100%`: no answer, the client times out. `corrupt=100%` on RTU
/// over TCP: pymodbus finds every answer's CRC bad.
#[test]
fn drop_times_out_and_corrupt_breaks_the_crc() {
    let server = PyServer::start("modbus_server.py", &[]);
    let dropping = proxy(&[
        "127.0.0.1:0",
        &server.target(),
        "--frame",
        "mbap",
        "--fault",
        "drop=100%",
        "-f",
        "json",
    ]);
    let got = reads(dropping.port(), &["--reads", "1", "--timeout", "0.5"]);
    assert!(
        got[0]["error"].as_str().unwrap().contains("No response"),
        "{got:?}"
    );
    let (stdout, _) = stop(dropping);
    assert!(
        stdout.contains(r#""fault":"drop","from":"client","message":1"#),
        "{stdout}"
    );
    assert!(!stdout.contains(r#""event":"data""#), "{stdout}");

    let rtu = PyServer::start("modbus_rtu_server.py", &["--tcp"]);
    let dir = tempfile::tempdir().unwrap();
    let capture = dir.path().join("corrupt.jsonl");
    let corrupting = proxy(&[
        "127.0.0.1:0",
        &rtu.target(),
        "--frame",
        "modbus-rtu",
        "--fault",
        "to-client:corrupt=100%",
        "--fault-seed",
        "5",
        "-q",
        "--capture",
        capture.to_str().unwrap(),
    ]);
    let got = reads(
        corrupting.port(),
        &["--rtu", "--reads", "3", "--timeout", "0.5"],
    );
    assert_eq!(got.len(), 3);
    for read in &got {
        assert!(
            read.get("registers").is_none(),
            "a corrupt answer passed: {got:?}"
        );
    }
    let (_, stderr) = stop(corrupting);
    assert!(
        !stderr.contains("fault seed "),
        "seed given, yet printed: {stderr}"
    );
    assert!(stderr.contains("3 faults injected"), "{stderr}");
    // The capture has each fault, and shows the answers as the client got
    // them: every one with its CRC broken by exactly the recorded bit.
    let text = std::fs::read_to_string(&capture).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let faults: Vec<&Value> = lines.iter().filter(|v| v["event"] == "fault").collect();
    let answers: Vec<Vec<u8>> = lines
        .iter()
        .filter(|v| v["event"] == "data" && v["from"] == "server")
        .map(|v| unhex(v["hex"].as_str().unwrap()))
        .collect();
    assert_eq!((faults.len(), answers.len()), (3, 3), "{text}");
    for (fault, answer) in faults.iter().zip(&answers) {
        assert_eq!(fault["fault"], "corrupt", "{text}");
        let bit: usize = fault["detail"].as_str().unwrap()[4..].parse().unwrap();
        let mut original = answer.clone();
        original[bit / 8] ^= 1 << (bit % 8);
        assert!(
            rtu_crc_ok(&original),
            "flipping bit {bit} back does not restore {answer:02x?}"
        );
        assert!(!rtu_crc_ok(answer), "{answer:02x?}");
    }
}

/// CRC-16/MODBUS of `body`, as an RTU frame carries it (low byte first).
fn rtu_crc(body: &[u8]) -> [u8; 2] {
    let mut sum: u16 = 0xffff;
    for &b in body {
        sum ^= u16::from(b);
        for _ in 0..8 {
            sum = if sum & 1 != 0 {
                (sum >> 1) ^ 0xa001
            } else {
                sum >> 1
            };
        }
    }
    sum.to_le_bytes()
}

/// Whether a whole RTU frame's last two bytes are its CRC.
fn rtu_crc_ok(frame: &[u8]) -> bool {
    let (body, crc) = frame.split_at(frame.len() - 2);
    rtu_crc(body) == crc
}

/// `body` with its CRC: a whole RTU frame.
fn with_crc(body: &[u8]) -> Vec<u8> {
    [body, &rtu_crc(body)].concat()
}

/// `modbus-exception=100%:6`: pymodbus sees exception 6 (server device
/// busy) for every request, and the server never sees one.
#[test]
fn a_modbus_exception_answers_without_the_server() {
    let device = Listen::start(&["127.0.0.1:0", "--frame", "mbap", "-f", "json"]);
    let proxy = proxy(&[
        "127.0.0.1:0",
        &device.target(),
        "--frame",
        "mbap",
        "--fault",
        "modbus-exception=100%:6",
        "-f",
        "json",
    ]);
    let got = reads(proxy.port(), &["--reads", "3"]);
    assert_eq!(got.len(), 3);
    for read in &got {
        assert_eq!(read["exception"], 6, "{got:?}");
    }
    let (stdout, _) = stop(proxy);
    assert_eq!(
        stdout.matches(r#""fault":"modbus-exception""#).count(),
        3,
        "{stdout}"
    );
    // What the client got is recorded as the answer it saw, after the
    // request it sent (so the capture of that exchange is whole).
    assert_eq!(
        stdout.matches(r#""from":"server","len":9"#).count(),
        3,
        "{stdout}"
    );
    assert_eq!(
        stdout
            .matches(r#""event":"data","from":"client","len":12"#)
            .count(),
        3,
        "{stdout}"
    );
    let (device_out, _) = stop(device);
    assert!(
        !device_out.contains(r#""event":"data""#),
        "the server saw a request: {device_out}"
    );
}

/// `reset-after=5`: the 5th message resets both sides. The server saw 4
/// messages and then a reset; the client reads a reset, not an end.
#[test]
fn reset_after_resets_both_sides() {
    let server = Listen::start(&["127.0.0.1:0", "--frame", "line", "-f", "json"]);
    let proxy = proxy(&[
        "127.0.0.1:0",
        &server.target(),
        "--frame",
        "line",
        "--fault",
        "to-server:reset-after=5",
        "-q",
    ]);
    let mut client = TcpStream::connect(proxy.target()).unwrap();
    client.set_read_timeout(Some(SOON)).unwrap();
    for n in 1..=4 {
        let line = format!("message {n}\n");
        client.write_all(line.as_bytes()).unwrap();
        let mut echo = vec![0; line.len()];
        client.read_exact(&mut echo).unwrap();
        assert_eq!(echo, line.as_bytes());
    }
    client.write_all(b"message 5\n").unwrap();
    let mut rest = [0u8; 64];
    let err = client
        .read(&mut rest)
        .expect_err("an end of stream, not a reset");
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset, "{err}");
    let (server_out, _) = {
        assert!(wait_until(SOON, || server
            .proc
            .stdout()
            .contains(r#""event":"error""#)));
        stop(server)
    };
    let seen: Vec<&str> = server_out
        .lines()
        .filter(|l| l.contains(r#""event":"data","from":"client""#))
        .collect();
    assert_eq!(seen.len(), 4, "{server_out}");
    assert!(server_out.contains("reset"), "{server_out}");
    let (_, stderr) = stop(proxy);
    assert!(stderr.contains("fault: reset"), "{stderr}");
}

/// `stall-after=2`: two messages pass, then nothing, and the connection
/// stays open (a hung device).
#[test]
fn stall_after_keeps_the_connection_open() {
    let server = Listen::start(&["127.0.0.1:0", "--frame", "line", "-q"]);
    let proxy = proxy(&[
        "127.0.0.1:0",
        &server.target(),
        "--frame",
        "line",
        "--fault",
        "to-client:stall-after=2",
        "-q",
    ]);
    let mut client = TcpStream::connect(proxy.target()).unwrap();
    client
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    client.write_all(b"a\nb\nc\n").unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 16];
    let end = loop {
        match client.read(&mut buf) {
            Ok(0) => break "eof".to_string(),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => break format!("{:?}", e.kind()),
        }
    };
    assert_eq!(got, b"a\nb\n");
    assert!(end == "WouldBlock" || end == "TimedOut", "{end}");
    // Still open: more goes up (the server echoes), nothing comes back.
    client.write_all(b"d\n").unwrap();
    let err = client.read(&mut buf).expect_err("nothing may come back");
    assert!(
        matches!(
            err.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
        "{err}"
    );
    let (_, stderr) = stop(proxy);
    // The echoes of c and d, each swallowed.
    assert!(stderr.contains("2 faults injected"), "{stderr}");
}

/// The same seed over the same traffic deals the same faults, message for
/// message; another seed deals others.
#[test]
fn the_same_seed_deals_the_same_faults() {
    let server = Listen::start(&["127.0.0.1:0", "--frame", "line", "-q"]);
    let lines: String = (0..60).map(|n| format!("line {n:03}\n")).collect();
    let run = |seed: &str| {
        let proxy = proxy(&[
            "127.0.0.1:0",
            &server.target(),
            "--frame",
            "line",
            "--fault",
            "drop=20%",
            "--fault",
            "corrupt=20%",
            "--fault",
            "duplicate=20%",
            "--fault",
            "to-client:delay=1ms~1ms",
            "--fault-seed",
            seed,
            "-f",
            "json",
        ]);
        // Everything, then a half-close, then read until the server's end
        // has come through: every message has been dealt with by then.
        let mut client = TcpStream::connect(proxy.target()).unwrap();
        client.set_read_timeout(Some(SOON)).unwrap();
        client.write_all(lines.as_bytes()).unwrap();
        client.shutdown(std::net::Shutdown::Write).unwrap();
        let mut echoed = Vec::new();
        client.read_to_end(&mut echoed).unwrap();
        assert!(!echoed.is_empty());
        let (stdout, _) = stop(proxy);
        // Each direction's records in order; how the two directions
        // interleave is up to the scheduler, not the dice.
        let mut records = fault_records(&stdout);
        records.sort_by_key(|r| r.contains(r#""from":"server""#));
        records
    };
    let first = run("42");
    assert!(first.len() > 30, "{first:?}");
    for kind in ["drop", "corrupt", "duplicate", "delay"] {
        assert!(
            first
                .iter()
                .any(|r| r.contains(&format!(r#""fault":"{kind}""#))),
            "no {kind}: {first:?}"
        );
    }
    assert_eq!(first, run("42"));
    assert_ne!(first, run("43"));
}

/// `bandwidth=9600bit/s` (raw bytes, no --frame): 1,200 bytes take about
/// a second, measured by the client.
#[test]
fn bandwidth_paces_the_bytes() {
    let server = Listen::start(&["127.0.0.1:0", "-q"]);
    let proxy = proxy(&[
        "127.0.0.1:0",
        &server.target(),
        "--fault",
        "to-server:bandwidth=9600bit/s",
        "-q",
    ]);
    let mut client = TcpStream::connect(proxy.target()).unwrap();
    client.set_read_timeout(Some(SOON)).unwrap();
    let payload = vec![b'x'; 1200];
    let start = Instant::now();
    client.write_all(&payload).unwrap();
    let mut echo = vec![0u8; 1200];
    client.read_exact(&mut echo).unwrap();
    let took = start.elapsed();
    assert_eq!(echo, payload);
    assert!(
        took >= Duration::from_millis(850) && took <= Duration::from_millis(1150),
        "1200 bytes at 9600 bit/s took {took:?}"
    );
    stop(proxy);
}

/// Faults on a shared upstream connection (`--share`) and through the
/// Modbus gateway: a delay still holds each answer, an exception still
/// answers without the device, judged by pymodbus.
#[test]
fn faults_with_share_and_the_gateway() {
    let server = PyServer::start("modbus_server.py", &[]);
    let shared = proxy(&[
        "127.0.0.1:0",
        &server.target(),
        "--share",
        "--frame",
        "mbap",
        "--fault",
        "to-client:delay=200ms",
        "-q",
    ]);
    for read in reads(shared.port(), &["--addr", "10", "--reads", "2"]) {
        assert_eq!(read["registers"], serde_json::json!([70, 77]), "{read}");
        assert!(read["ms"].as_f64().unwrap() >= 200.0, "{read}");
    }
    let (_, stderr) = stop(shared);
    assert!(stderr.contains("2 faults injected"), "{stderr}");

    let line = PtyPair::new();
    let _device = rtu_server(&line.b);
    let gateway = proxy(&[
        "127.0.0.1:0",
        &line.addr_a(""),
        "--gateway",
        "modbus",
        "--fault",
        "modbus-exception=100%:6",
        "-f",
        "json",
    ]);
    let got = reads(gateway.port(), &["--reads", "2"]);
    for read in &got {
        assert_eq!(read["exception"], 6, "{got:?}");
    }
    let (stdout, _) = stop(gateway);
    assert_eq!(
        stdout.matches(r#""fault":"modbus-exception""#).count(),
        2,
        "{stdout}"
    );
    // Nothing went on the line (it was never even opened).
    assert!(!stdout.contains(r#""conn":0"#), "{stdout}");
}

/// UDP: each datagram is a message. Duplicated on the way up and held on
/// the way back, an echo comes back twice, each at least 200 ms later.
#[test]
fn faults_on_udp_datagrams() {
    let server = Listen::start(&["-u", "127.0.0.1:0", "-q"]);
    let proxy = proxy(&[
        "-u",
        "127.0.0.1:0",
        &server.target(),
        "--fault",
        "to-server:duplicate=100%",
        "--fault",
        "to-client:delay=200ms",
        "-q",
    ]);
    let client = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    client.set_read_timeout(Some(SOON)).unwrap();
    let start = Instant::now();
    client.send_to(b"ping", proxy.target()).unwrap();
    let mut buf = [0u8; 64];
    for _ in 0..2 {
        let n = client.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"ping");
        assert!(
            start.elapsed() >= Duration::from_millis(200),
            "{:?}",
            start.elapsed()
        );
    }
    let (_, stderr) = stop(proxy);
    // One duplicate, two delays.
    assert!(stderr.contains("3 faults injected"), "{stderr}");
}

/// Pieces that are not whole messages pass on as they came, in their
/// place: the bytes between stx-etx frames (they were lost, and not
/// counted), and what is left of a frame when the sender closes (a
/// truncated MBAP request was answered with an exception). Faults act on
/// whole messages only.
#[test]
fn pieces_that_are_not_messages_pass_on_as_they_came() {
    let server = Listen::start(&["127.0.0.1:0", "-q"]);
    let stx = proxy(&[
        "127.0.0.1:0",
        &server.target(),
        "--frame",
        "stx-etx",
        "--fault",
        "delay=10ms",
        "-f",
        "json",
    ]);
    let sent = b"xx\x02AB\x03yy\x02CD\x03x";
    let (echo, end) = exchange_and_close(&mut stx.connect(), sent);
    assert_eq!(echo, sent, "{:?}", String::from_utf8_lossy(&echo));
    assert_eq!(end, End::Eof);
    let (stdout, stderr) = stop(stx);
    assert!(stderr.contains("13 bytes received"), "{stderr}");
    // Recorded as without --fault: the two frames each way, not the bytes
    // between them.
    for from in ["client", "server"] {
        let data = format!(r#""event":"data","from":"{from}","len":4"#);
        assert_eq!(stdout.matches(&data).count(), 2, "{stdout}");
        let any = format!(r#""event":"data","from":"{from}""#);
        assert_eq!(stdout.matches(&any).count(), 2, "{stdout}");
    }

    let mbap = proxy(&[
        "127.0.0.1:0",
        &server.target(),
        "--frame",
        "mbap",
        "--fault",
        "modbus-exception=100%:6",
        "-f",
        "json",
    ]);
    let truncated = [0, 5, 0, 0, 0, 6, 1, 3, 0, 0];
    let (echo, end) = exchange_and_close(&mut mbap.connect(), &truncated);
    assert_eq!(echo, truncated);
    assert_eq!(end, End::Eof);
    let (stdout, _) = stop(mbap);
    assert!(fault_records(&stdout).is_empty(), "{stdout}");

    // A last line without its newline is not a message to drop: it goes
    // to the server and its echo comes back; the whole line was dropped.
    let lines = proxy(&[
        "127.0.0.1:0",
        &server.target(),
        "--frame",
        "line",
        "--fault",
        "drop=100%",
        "-f",
        "json",
    ]);
    let (echo, end) = exchange_and_close(&mut lines.connect(), b"whole\nlast");
    assert_eq!((echo.as_slice(), end), (&b"last"[..], End::Eof));
    let (stdout, _) = stop(lines);
    let faults = fault_records(&stdout);
    assert_eq!(faults.len(), 1, "{faults:?}");
    assert!(
        faults[0].contains(r#""fault":"drop","from":"client","message":1"#),
        "{faults:?}"
    );
}

/// After `stall-after`, nothing more goes that way: not even the bytes
/// between stx-etx frames, which pass on unfaulted before.
#[test]
fn a_stalled_direction_passes_nothing_on() {
    let server = Listen::start(&["127.0.0.1:0", "-q"]);
    let proxy = proxy(&[
        "127.0.0.1:0",
        &server.target(),
        "--frame",
        "stx-etx",
        "--fault",
        "to-server:stall-after=1",
        "-q",
    ]);
    let mut client = proxy.connect();
    client
        .set_read_timeout(Some(Duration::from_millis(700)))
        .unwrap();
    client.write_all(b"x\x02A\x03").unwrap();
    assert_eq!(read_n(&mut client, 4), b"x\x02A\x03");
    client.write_all(b"zz\x02B\x03yy").unwrap();
    let (rest, end) = read_to_end(&mut client);
    assert_eq!((rest.as_slice(), end), (&b""[..], End::TimedOut));
    stop(proxy);
}

/// A Modbus RTU broadcast (address 0) is never answered by a device, so
/// `modbus-exception` passes it on; a request to a unit gets its exception.
#[test]
fn an_rtu_broadcast_gets_no_exception() {
    let server = Listen::start(&["127.0.0.1:0", "-q"]);
    let proxy = proxy(&[
        "127.0.0.1:0",
        &server.target(),
        "--frame",
        "modbus-rtu",
        "--fault",
        "modbus-exception=100%:4",
        "-f",
        "json",
    ]);
    let mut client = proxy.connect();
    // Write single register 1 = 5, to everyone: forwarded, and the echo
    // server sends it back.
    let broadcast = with_crc(&[0, 6, 0, 1, 0, 5]);
    client.write_all(&broadcast).unwrap();
    assert_eq!(read_n(&mut client, broadcast.len()), broadcast);
    // The same to unit 1: the exception, with its CRC.
    client.write_all(&with_crc(&[1, 6, 0, 1, 0, 5])).unwrap();
    assert_eq!(read_n(&mut client, 5), with_crc(&[1, 0x86, 4]));
    let (stdout, _) = stop(proxy);
    assert_eq!(fault_records(&stdout).len(), 1, "{stdout}");
}

/// A message held longer than `--idle-timeout` is still delivered: the
/// connection is not idle while the proxy holds it (it was closed, and
/// the message silently lost).
#[test]
fn a_delay_longer_than_the_idle_timeout_is_delivered() {
    let server = Listen::start(&["127.0.0.1:0", "--frame", "line", "-q"]);
    let proxy = proxy(&[
        "127.0.0.1:0",
        &server.target(),
        "--frame",
        "line",
        "--idle-timeout",
        "500ms",
        "--fault",
        "to-server:delay=1200ms",
        "-q",
    ]);
    let mut client = proxy.connect();
    let start = Instant::now();
    client.write_all(b"held\n").unwrap();
    assert_eq!(read_n(&mut client, 5), b"held\n");
    assert!(start.elapsed() >= Duration::from_millis(1200));
    // Then idle: closed after the timeout.
    let (rest, end) = read_to_end(&mut client);
    assert_eq!((rest.as_slice(), end), (&b""[..], End::Eof));
    stop(proxy);
}

/// With `-f raw` stdout is the bytes alone, so each fault is said on
/// stderr; and the summary counts the bytes as they arrived, before the
/// faults (it said `0 bytes received` after a drop).
#[test]
fn raw_output_says_faults_on_stderr_and_the_summary_counts_what_arrived() {
    let server = Listen::start(&["127.0.0.1:0", "--frame", "line", "-q"]);
    let proxy = proxy(&[
        "127.0.0.1:0",
        &server.target(),
        "--frame",
        "line",
        "--fault",
        "to-server:drop=100%",
        "--fault-seed",
        "1",
        "-f",
        "raw",
    ]);
    let (echo, end) = exchange_and_close(&mut proxy.connect(), b"abc\n");
    assert_eq!((echo.as_slice(), end), (&b""[..], End::Eof));
    let (stdout, stderr) = stop(proxy);
    assert_eq!(stdout, "");
    assert!(stderr.contains("fault drop client>server #1\n"), "{stderr}");
    assert!(stderr.contains("4 bytes received"), "{stderr}");
    assert!(stderr.contains("1 fault injected"), "{stderr}");
}

/// `bandwidth=` delays even a short message by its time on the line: 12
/// bytes at 9600 bit/s take 10 ms (they went out at once).
#[test]
fn bandwidth_holds_a_short_message_for_its_time_on_the_line() {
    let server = Listen::start(&["127.0.0.1:0", "-q"]);
    let proxy = proxy(&[
        "127.0.0.1:0",
        &server.target(),
        "--fault",
        "to-server:bandwidth=9600bit/s",
        "-q",
    ]);
    let mut client = proxy.connect();
    for _ in 0..3 {
        let start = Instant::now();
        client.write_all(b"0123456789\r\n").unwrap();
        assert_eq!(read_n(&mut client, 12), b"0123456789\r\n");
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(10), "{took:?}");
    }
    stop(proxy);
}
