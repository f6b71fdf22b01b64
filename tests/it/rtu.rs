//! Serial lines and Modbus RTU (issue 22): `serial:` addresses on socat pty
//! pairs, judged by pymodbus's RTU server and client and by mbpoll
//! (libmodbus); `--frame modbus-rtu` against junk, fragments and bad CRCs;
//! `--request modbus` as MBAP and as RTU; RTU over TCP; a serial capture
//! replayed.

use std::{
    io::Write,
    process::Command,
    thread,
    time::{Duration, Instant},
};

use serde_json::Value;

use crate::util::*;

/// `p1ge0n listen ARGS` on a serial line, once it says it listens there.
fn listen_line(args: &[&str]) -> Proc {
    let mut cmd = Command::new(bin());
    cmd.arg("listen").args(args);
    let proc = Proc::spawn(cmd);
    let first = proc.wait_stderr_contains("listening on", STARTUP);
    assert!(
        first.contains("listening on serial:") && first.contains("(serial)"),
        "{}",
        proc.dump()
    );
    proc
}

/// The JSON records on `stdout` that carry data, as (from, hex, decoded).
fn data_records(stdout: &str) -> Vec<(String, String, Value)> {
    stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["event"] == "data")
        .map(|v| {
            (
                v["from"].as_str().unwrap_or_default().to_string(),
                v["hex"].as_str().unwrap_or_default().to_string(),
                v["decoded"].clone(),
            )
        })
        .collect()
}

#[test]
fn send_reads_registers_from_pymodbus_on_a_serial_line() {
    let line = PtyPair::new();
    let _server = rtu_server(&line.b);
    // Text (the default for --request): the registers decoded.
    let out = p1ge0n(&[
        "send",
        &line.addr_a(""),
        "--request",
        "modbus read-holding addr=0 count=5",
    ]);
    assert_eq!(code(&out), 0, "{}", show(&out));
    let shown = stdout_of(&out);
    assert!(
        shown.contains(
            "modbus-rtu unit=1 read holding registers (3) response 5 values: 0 7 14 21 28 crc ok"
        ),
        "{shown}"
    );
    // A write, then a read of what it wrote, over one connection; JSON
    // values are numbers.
    let out = p1ge0n(&[
        "send",
        &line.addr_a(",9600,8N1"),
        "--request",
        "modbus write-registers addr=60 values=1,2,65535",
        "--request",
        "modbus read-holding addr=60 count=3",
        "-f",
        "json",
    ]);
    assert_eq!(code(&out), 0, "{}", show(&out));
    let records = data_records(&stdout_of(&out));
    let write = "0110003c00030600010002ffff";
    let written = "0110003c0003";
    assert_eq!(
        records[0].1,
        format!("{write}{}", crc_hex(write)),
        "{records:?}"
    );
    assert_eq!(
        records[1].1,
        format!("{written}{}", crc_hex(written)),
        "{records:?}"
    );
    let reply = &records[3].2;
    assert_eq!(
        reply["values"],
        serde_json::json!([1, 2, 65535]),
        "{records:?}"
    );
    assert_eq!(reply["crc_ok"], true);
}

/// The CRC of a hex string's bytes, as hex on the wire (low byte first),
/// computed here independently of p1ge0n.
fn crc_hex(hex_text: &str) -> String {
    let mut crc: u16 = 0xffff;
    for b in unhex(hex_text) {
        crc ^= u16::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xa001
            } else {
                crc >> 1
            };
        }
    }
    hex(&crc.to_le_bytes())
}

/// A device on a line from a TOML file: `{{crc16}}` ends each answer, and
/// two independent RTU masters (pymodbus, mbpoll on libmodbus) read it.
#[test]
fn listen_on_a_line_answers_pymodbus_and_mbpoll_by_rules() {
    let line = PtyPair::new();
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("device.toml");
    std::fs::write(
        &rules,
        "default = 'none'\n\
         [[rule]]\n\
         name = 'two registers at 0'\n\
         hex = '01 03 00 00 00 02 ?? ??'\n\
         reply-hex = '01 03 04 00 2a 00 2b {{crc16}}'\n",
    )
    .unwrap();
    let mut device = listen_line(&[
        &line.addr_b(""),
        "--frame",
        "modbus-rtu",
        "--rules",
        rules.to_str().unwrap(),
        "--decode",
        "modbus-rtu",
        "-f",
        "text",
    ]);
    let out = python(
        "modbus_rtu_client.py",
        &[
            "--serial".into(),
            line.a.clone(),
            "--count".into(),
            "2".into(),
        ],
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "[42, 43]");
    let out = Command::new("timeout")
        .args([
            "10", "mbpoll", "-m", "rtu", "-b", "9600", "-P", "none", "-a", "1",
        ])
        .args(["-t", "4", "-r", "1", "-c", "2", "-1", "-o", "2", &line.a])
        .output()
        .expect("mbpoll (scripts/test installs it)");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "mbpoll: {said}\n{}", stderr_of(&out));
    assert!(
        said.contains("[1]: \t42") || said.contains("[1]:\t42") || said.contains("[1]: 42"),
        "{said}"
    );
    assert!(said.contains("43"), "{said}");
    let log = device.wait_stdout_contains("crc ok", SOON);
    assert!(
        log.contains("modbus-rtu unit=1 read holding registers (3) request addr=0 qty=2 crc ok"),
        "{log}"
    );
    device.interrupt();
    device.wait_exit(SOON);
}

/// What a listening decoder makes of bytes written onto the line by
/// hand: junk before a frame, a frame in two pieces, a bad CRC, and a
/// function code with no known length (ended by silence).
#[test]
fn rtu_framing_on_a_line_copes_with_junk_fragments_and_bad_crcs() {
    let line = PtyPair::new();
    let mut device = listen_line(&[
        &line.addr_b(""),
        "--frame",
        "modbus-rtu",
        "--decode",
        "modbus-rtu",
        "-f",
        "json",
        "--reply",
        "",
    ]);
    let good = "01030000000ac5cd";
    let mut port = std::fs::OpenOptions::new()
        .write(true)
        .open(&line.a)
        .unwrap();
    let mut write = |hex_text: &str, pause_ms: u64| {
        port.write_all(&unhex(hex_text)).unwrap();
        port.flush().unwrap();
        thread::sleep(Duration::from_millis(pause_ms));
    };
    write(&format!("ff00{good}"), 200);
    write("01030000", 10);
    write("000ac5cd", 200);
    write("01030000000ac5ce", 200);
    write("01410102", 200);
    let stdout = device.wait_stdout_lines(5, SOON).join("\n");
    let frames: Vec<(String, Value)> = data_records(&stdout)
        .into_iter()
        .map(|(_, h, d)| (h, d))
        .collect();
    let hexes: Vec<&str> = frames.iter().map(|(h, _)| h.as_str()).collect();
    assert_eq!(
        hexes,
        ["ff00", good, good, "01030000000ac5ce", "01410102"],
        "{stdout}"
    );
    assert_eq!(frames[1].1["crc_ok"], true);
    assert_eq!(frames[2].1["crc_ok"], true);
    assert_eq!(frames[3].1["crc_ok"], false);
    assert_eq!(frames[3].1["crc_expected"], "c5cd");
    device.interrupt();
    device.wait_exit(SOON);
}

/// Modbus RTU over TCP (a serial device server): pymodbus's TCP server
/// with its RTU framer, read with `--frame modbus-rtu`.
#[test]
fn rtu_over_tcp() {
    let server = PyServer::start("modbus_rtu_server.py", &["--tcp"]);
    let out = p1ge0n(&[
        "send",
        &server.target(),
        "--frame",
        "modbus-rtu",
        "--request",
        "modbus read-input addr=0 count=2",
    ]);
    assert_eq!(code(&out), 0, "{}", show(&out));
    let shown = stdout_of(&out);
    assert!(
        shown.contains("modbus-rtu unit=1 read input registers (4) request addr=0 qty=2 crc ok"),
        "{shown}"
    );
    assert!(shown.contains("2 values: 1000 1001 crc ok"), "{shown}");
}

/// A capture of a serial session replays, with --verify, to a fresh RTU
/// server on another line.
#[test]
fn a_serial_capture_replays_to_a_fresh_server() {
    let dir = tempfile::tempdir().unwrap();
    let capture = dir.path().join("line.jsonl");
    {
        let line = PtyPair::new();
        let _server = rtu_server(&line.b);
        let out = p1ge0n(&[
            "send",
            &line.addr_a(""),
            "--request",
            "modbus read-holding addr=10 count=4",
            "--request",
            "modbus read-coils addr=0 count=8",
            "--capture",
            capture.to_str().unwrap(),
        ]);
        assert_eq!(code(&out), 0, "{}", show(&out));
    }
    let text = std::fs::read_to_string(&capture).unwrap();
    assert!(
        text.lines()
            .next()
            .unwrap()
            .contains("\"transport\":\"serial\""),
        "{text}"
    );
    let line = PtyPair::new();
    let _server = rtu_server(&line.b);
    let out = replay(&[
        capture.to_str().unwrap(),
        &line.addr_a(""),
        "--verify",
        "--frame",
        "modbus-rtu",
        "--no-delay",
    ]);
    assert_eq!(code(&out), 0, "{}", show(&out));
}

/// Nothing answers on the line: the reply timeout is status 4.
#[test]
fn a_silent_line_times_out() {
    let line = PtyPair::new();
    let started = Instant::now();
    let out = p1ge0n(&[
        "send",
        &line.addr_a(""),
        "--request",
        "modbus read-holding",
        "-w",
        "300ms",
    ]);
    assert_eq!(code(&out), 4, "{}", show(&out));
    assert!(stderr_of(&out).contains("no reply"), "{}", show(&out));
    assert!(started.elapsed() < Duration::from_secs(5));
}

/// A line that goes away mid-session (socat killed: the pty hangs up, as a
/// pulled USB adapter does) ends the session with status 3.
#[test]
fn a_pulled_line_is_status_3() {
    let line = PtyPair::new();
    let mut cmd = Command::new(bin());
    cmd.args(["send", &line.addr_a(""), "x", "-w", "10s"]);
    let mut client = Proc::spawn(cmd);
    thread::sleep(Duration::from_millis(300));
    drop(line);
    assert_eq!(client.wait_code(SOON), 3, "{}", client.dump());
    assert!(
        client.stderr().contains("serial line failed"),
        "{}",
        client.dump()
    );
}

/// A second opener of a line in use is refused (status 2, "busy"), and the
/// first keeps it.
#[test]
fn a_line_in_use_is_busy() {
    let line = PtyPair::new();
    let mut first = listen_line(&[&line.addr_b("")]);
    let out = p1ge0n(&["send", &line.addr_b(""), "x"]);
    assert_eq!(code(&out), 2, "{}", show(&out));
    assert!(stderr_of(&out).contains("busy"), "{}", show(&out));
    let out = p1ge0n(&["send", &line.addr_a(""), "hello", "-w", "2s"]);
    assert_eq!(code(&out), 0, "{}", show(&out));
    assert_eq!(stdout_of(&out), "hello");
    first.interrupt();
    first.wait_exit(SOON);
}

/// `:request` in a piped repl: built as RTU on the line, numbered, and the
/// protocol's framing and decoding switched on.
#[test]
fn repl_requests_on_a_line() {
    let line = PtyPair::new();
    let _server = rtu_server(&line.b);
    // One request a run: a piped repl sends its lines, then awaits the
    // replies, and an RTU device answers one request at a time.
    let ask = |line_text: &str| {
        assert_cmd::Command::new(bin())
            .args(["repl", &line.addr_a(""), "-w", "2s"])
            .write_stdin(line_text)
            .timeout(ONE_SHOT)
            .output()
            .unwrap()
    };
    let out = ask(":request modbus read-holding addr=1 count=3\n");
    assert_eq!(code(&out), 0, "{}", show(&out));
    let shown = stdout_of(&out);
    assert!(
        shown.contains(
            "modbus-rtu unit=1 read holding registers (3) response 3 values: 7 14 21 crc ok"
        ),
        "{shown}"
    );
    let out = ask(":request modbus read-input count=1\n");
    assert_eq!(code(&out), 0, "{}", show(&out));
    assert!(
        stdout_of(&out).contains("1 value: 1000 crc ok"),
        "{}",
        show(&out)
    );
    let out = assert_cmd::Command::new(bin())
        .args(["repl", &line.addr_a("")])
        .write_stdin(":request modbus read-holding count=200\n")
        .timeout(ONE_SHOT)
        .output()
        .unwrap();
    assert_eq!(code(&out), 2, "{}", show(&out));
    assert!(stderr_of(&out).contains("at most 125"), "{}", show(&out));
}

/// What mbpoll (libmodbus) in TCP mode reads once from 127.0.0.1:`port`,
/// unit 1: two registers of type `table` (4 holding, 3 input) from
/// reference `from` (counted from 1, as mbpoll does).
fn mbpoll_tcp(port: &str, table: &str, from: &str) -> String {
    let out = Command::new("timeout")
        .args([
            "10", "mbpoll", "-m", "tcp", "-p", port, "-a", "1", "-t", table,
        ])
        .args(["-r", from, "-c", "2", "-1", "-o", "2", "127.0.0.1"])
        .output()
        .expect("mbpoll (scripts/test installs it)");
    let said = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "mbpoll: {said}\n{}", stderr_of(&out));
    said
}

/// `p1ge0n proxy 127.0.0.1:0 TARGET --gateway modbus EXTRA...`, listening.
fn gateway_to(target: &str, extra: &[&str]) -> Listen {
    let mut cmd = Command::new(bin());
    cmd.args(["proxy", "127.0.0.1:0", target, "--gateway", "modbus"])
        .args(extra);
    Listen::spawn_with(cmd)
}

/// `proxy LISTEN serial:... --gateway modbus`: the usual gateway, judged by
/// pymodbus's TCP client (its own checks: the registers, and exception 2
/// for a read past the end) and by mbpoll in TCP mode, several clients at
/// once, each with its own answers.
#[test]
fn the_gateway_serves_tcp_clients_from_an_rtu_device() {
    let line = PtyPair::new();
    let _device = rtu_server(&line.b);
    let mut gateway = gateway_to(&line.addr_a(""), &["-q"]);
    let port = gateway.port().to_string();
    let clients: Vec<_> = (0..4)
        .map(|k| {
            let port = port.clone();
            thread::spawn(move || {
                let addr = (k * 10).to_string();
                python(
                    "modbus_check_registers.py",
                    &[
                        "--port".into(),
                        port,
                        "--addr".into(),
                        addr,
                        "--count".into(),
                        "4".into(),
                        "--base".into(),
                        "0".into(),
                        "--step".into(),
                        "7".into(),
                    ],
                )
            })
        })
        .collect();
    for client in clients {
        let out = client.join().unwrap();
        assert_eq!(stdout_of(&out).trim(), "ok", "{}", show(&out));
    }
    let said = mbpoll_tcp(&port, "4", "3");
    // Registers 3 and 4 (mbpoll counts from 1): addresses 2 and 3.
    assert!(said.contains("14") && said.contains("21"), "{said}");
    gateway.interrupt();
    gateway.wait_exit(SOON);
}

/// A device that does not answer: the client gets exception 0x0B after
/// `-w` and the retries; a broadcast (unit 0) gets nothing back.
#[test]
fn the_gateway_answers_0x0b_for_a_silent_device() {
    let line = PtyPair::new();
    let mut gateway = gateway_to(&line.addr_a(""), &["-w", "200ms", "--retries", "1", "-q"]);
    let started = Instant::now();
    let out = p1ge0n(&[
        "send",
        &gateway.target(),
        "--request",
        "modbus read-holding unit=5 addr=0 count=2",
        "-w",
        "3s",
    ]);
    assert_eq!(code(&out), 0, "{}", show(&out));
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "{:?}",
        started.elapsed()
    );
    let shown = stdout_of(&out);
    assert!(
        shown.contains(
            "modbus tid=1 unit=5 exception 0x83: gateway target device failed to respond (11)"
        ),
        "{shown}"
    );
    let log = gateway.wait_stderr_contains("retrying", SOON);
    assert!(log.contains("no reply within 200ms"), "{log}");
    gateway.interrupt();
    gateway.wait_exit(SOON);
}

/// The reverse gateway: an RTU master on a serial line (pymodbus's RTU
/// client) reads a Modbus/TCP server (pymodbus's) through the gateway.
#[test]
fn the_reverse_gateway_serves_an_rtu_master_from_a_tcp_server() {
    let line = PtyPair::new();
    let server = PyServer::start("modbus_server.py", &[]);
    let mut cmd = Command::new(bin());
    cmd.args([
        "proxy",
        &line.addr_b(""),
        &server.target(),
        "--gateway",
        "modbus",
        "-q",
    ]);
    let proc = Proc::spawn(cmd);
    proc.wait_stderr_contains("listening on serial:", STARTUP);
    let out = python(
        "modbus_rtu_client.py",
        &[
            "--serial".into(),
            line.a.clone(),
            "--addr".into(),
            "2".into(),
            "--count".into(),
            "3".into(),
        ],
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "[14, 21, 28]");
    let out = python(
        "modbus_rtu_client.py",
        &[
            "--serial".into(),
            line.a.clone(),
            "--addr".into(),
            "40".into(),
            "--write".into(),
            "5,6".into(),
            "--count".into(),
            "2".into(),
        ],
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "[5, 6]");
    proc.interrupt();
}

/// The gateway to a serial device server (Modbus RTU over TCP): mbpoll in
/// TCP mode reads pymodbus's RTU-over-TCP server through it.
#[test]
fn the_gateway_reaches_rtu_over_tcp() {
    let device = PyServer::start("modbus_rtu_server.py", &["--tcp"]);
    let mut gateway = gateway_to(&device.target(), &["-q"]);
    let said = mbpoll_tcp(&gateway.port().to_string(), "3", "1");
    assert!(said.contains("1000") && said.contains("1001"), "{said}");
    gateway.interrupt();
    gateway.wait_exit(SOON);
}

/// A device that answers too late: the client gets 0x0B, and the late
/// answer, still on the line when the next request comes, is dropped
/// rather than taken for the next request's answer (same unit, same
/// function, other registers).
#[test]
fn a_late_answer_never_answers_the_next_request() {
    let line = PtyPair::new();
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("slow.toml");
    std::fs::write(
        &rules,
        "default = 'none'\n\
         [[rule]]\n\
         hex = '01 03 00 00 00 01 ?? ??'\n\
         reply-hex = '01 03 02 00 2a {{crc16}}'\n\
         delay = '300ms'\n\
         [[rule]]\n\
         hex = '01 03 00 05 00 01 ?? ??'\n\
         reply-hex = '01 03 02 00 07 {{crc16}}'\n",
    )
    .unwrap();
    let _device = listen_line(&[
        &line.addr_b(""),
        "--frame",
        "modbus-rtu",
        "--rules",
        rules.to_str().unwrap(),
        "-q",
    ]);
    let mut gateway = gateway_to(&line.addr_a(""), &["-w", "150ms", "-q"]);
    let ask = |addr: &str| {
        p1ge0n(&[
            "send",
            &gateway.target(),
            "--request",
            &format!("modbus read-holding addr={addr} count=1"),
            "-w",
            "2s",
        ])
    };
    let out = ask("0");
    assert!(stdout_of(&out).contains("(11)"), "{}", show(&out));
    thread::sleep(Duration::from_millis(400));
    let out = ask("5");
    assert_eq!(code(&out), 0, "{}", show(&out));
    assert!(
        stdout_of(&out).contains("response 1 value: 7"),
        "the late answer (42) was taken: {}",
        show(&out)
    );
    let log = gateway.wait_stderr_contains("dropped", SOON);
    assert!(log.contains("unasked") || log.contains("stale"), "{log}");
    gateway.interrupt();
    gateway.wait_exit(SOON);
}

/// The gateway's display and capture show both sides: each client's MBAP
/// request and answer (connection #1) and, as connection #0, the RTU frame
/// the gateway put on the line and the device's reply, with their CRCs.
/// Either side's flow replays: the line's to a fresh RTU device, the
/// client's through a fresh gateway, each with `--verify`.
#[test]
fn the_gateway_records_both_sides_and_either_replays() {
    let dir = tempfile::tempdir().unwrap();
    let capture = dir.path().join("gateway.jsonl");
    {
        let line = PtyPair::new();
        let _device = rtu_server(&line.b);
        let mut gateway = gateway_to(
            &line.addr_a(""),
            &["-f", "json", "--capture", capture.to_str().unwrap()],
        );
        let out = p1ge0n(&[
            "send",
            &gateway.target(),
            "--request",
            "modbus read-holding addr=10 count=2",
        ]);
        assert_eq!(code(&out), 0, "{}", show(&out));
        gateway.interrupt();
        gateway.wait_exit(SOON);
        let stdout = gateway.proc.stdout();
        let records: Vec<(u64, String, String)> = stdout
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v["event"] == "data")
            .map(|v| {
                (
                    v["conn"].as_u64().unwrap(),
                    v["from"].as_str().unwrap().to_string(),
                    v["hex"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        // The device holds 7 x address: 70 and 77.
        let request = "0103000a0002";
        let reply = "0103040046004d";
        let want = vec![
            (1, "client".into(), format!("000100000006{request}")),
            (0, "client".into(), format!("{request}{}", crc_hex(request))),
            (0, "server".into(), format!("{reply}{}", crc_hex(reply))),
            (1, "server".into(), format!("000100000007{reply}")),
        ];
        assert_eq!(records, want, "{stdout}");
        let line_open = stdout
            .lines()
            .find(|l| l.contains("\"conn\":0") && l.contains("\"open\""))
            .unwrap_or_else(|| panic!("no open for the line: {stdout}"));
        assert!(
            line_open.contains(&format!("serial:{}", line.a)),
            "{line_open}"
        );
    }
    let list = replay(&[capture.to_str().unwrap(), "--list"]);
    let list = stdout_of(&list);
    let flow_of = |conn_peer: &str| -> String {
        let line = list
            .lines()
            .find(|l| l.contains(conn_peer))
            .unwrap_or_else(|| panic!("no flow for {conn_peer}: {list}"));
        line.trim_start_matches("flow ")
            .split(':')
            .next()
            .unwrap()
            .to_string()
    };
    let line_flow = flow_of(": serial - -> -");
    let client_flow = flow_of(": tcp 127.0.0.1:");
    // The line's side, to a fresh device.
    let line = PtyPair::new();
    let _device = rtu_server(&line.b);
    let out = replay(&[
        capture.to_str().unwrap(),
        &line.addr_a(""),
        "--flow",
        &line_flow,
        "--verify",
        "--frame",
        "modbus-rtu",
        "--no-delay",
    ]);
    assert_eq!(code(&out), 0, "{}", show(&out));
    drop(_device);
    // The client's side, through a fresh gateway to a fresh device.
    let line = PtyPair::new();
    let _device = rtu_server(&line.b);
    let mut gateway = gateway_to(&line.addr_a(""), &["-q"]);
    let out = replay(&[
        capture.to_str().unwrap(),
        &gateway.target(),
        "--flow",
        &client_flow,
        "--verify",
        "--frame",
        "mbap",
        "--no-delay",
    ]);
    assert_eq!(code(&out), 0, "{}", show(&out));
    gateway.interrupt();
    gateway.wait_exit(SOON);
}

/// `repl --reconnect` on a line: the cable pulled mid-session (socat
/// killed) is shown, and once the line is back (a new pair at the same
/// paths) the repl opens it again by itself; the device, `listen` on the
/// other end, reopens its end too, and the session carries on.
#[test]
fn repl_reconnect_reopens_a_line_that_comes_back() {
    let mut line = PtyPair::new();
    let _device = listen_line(&[&line.addr_b(""), "--frame", "line", "-q"]);
    let home = tempfile::TempDir::new().unwrap();
    let term =
        crate::util::term::Term::start(home.path(), &["repl", &line.addr_a(""), "--reconnect"]);
    term.wait_for("#1 serial:");
    term.line("one");
    term.wait_for("recv 4 one\\n");
    line.pull();
    term.wait_for("reconnecting");
    line.plug();
    // The retry interval doubles up to 5 s; the next try may be that far off.
    term.wait_within(SOON * 3, "#2 serial:", |t| {
        t.transcript().contains("#2 serial:")
    });
    // The device reopens its end every 0.5 s.
    let mut echoed = false;
    for _ in 0..20 {
        term.line("back");
        if wait_until(Duration::from_millis(700), || {
            term.transcript().contains("recv 5 back")
        }) {
            echoed = true;
            break;
        }
    }
    assert!(echoed, "{}", term.transcript());
}
