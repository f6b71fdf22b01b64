//! `p1ge0n replay` of real packet captures: Modbus/TCP exchanges recorded
//! with tcpdump on loopback (see tests/fixtures/README.md), replayed against
//! a fresh pymodbus server of the same kind.

use crate::util::*;

fn modbus_server() -> PyServer {
    PyServer::start("modbus_server.py", &["--lifetime", "60"])
}

/// Acceptance 2: pcap and pcapng, all flows, verified against a fresh server.
#[test]
fn pcap_and_pcapng_replay_and_verify() {
    for (file, flows) in [
        ("modbus.pcap", 1),
        ("modbus-2flows.pcap", 2),
        ("modbus-2flows.pcapng", 2),
    ] {
        let server = modbus_server();
        let out = replay(&[&fixture(file), &server.target(), "--verify"]);
        assert_eq!(code(&out), 0, "{file}: {}", show(&out));
        let stdout = stdout_of(&out);
        assert!(
            stdout.ends_with(&format!("verify: {} ok, 0 differ\n", 8 * flows)),
            "{file}: {stdout}"
        );
        assert!(
            stdout.contains(&format!("flow {flows} message 8: ok")),
            "{file}: {stdout}"
        );
    }
}

/// Acceptance 2: a two-flow capture replayed flow by flow.
#[test]
fn two_flow_capture_replays_flow_by_flow() {
    let file = fixture("modbus-2flows.pcapng");
    let out = replay(&[&file, "--list"]);
    assert_eq!(code(&out), 0, "{}", show(&out));
    let list = stdout_of(&out);
    let lines: Vec<&str> = list.lines().collect();
    assert_eq!(lines.len(), 2, "{list}");
    for (i, line) in lines.iter().enumerate() {
        assert!(
            line.starts_with(&format!("flow {}: tcp 127.0.0.1:", i + 1)),
            "{line}"
        );
        assert!(
            line.contains("client 8 messages 103 bytes, server 8 messages 116 bytes"),
            "{line}"
        );
    }
    for flow in ["1", "2"] {
        let server = modbus_server();
        let out = replay(&[&file, &server.target(), "--verify", "--flow", flow]);
        assert_eq!(code(&out), 0, "flow {flow}: {}", show(&out));
        let stdout = stdout_of(&out);
        assert!(
            stdout.starts_with(&format!("flow {flow} message 1: ok")),
            "{stdout}"
        );
        assert!(stdout.ends_with("verify: 8 ok, 0 differ\n"), "{stdout}");
    }
}

/// Acceptance 3: a retransmitted and an out-of-order segment still yield
/// the right client byte stream (documented in tests/fixtures/README.md).
#[test]
fn reassembly_handles_retransmission_and_reordering() {
    const CLIENT_STREAM: &str = "00010000000601030000000a0002000000060106003204d200030000000601030032000100040000000d0110003c0003060001000200030005000000060103003c0003000600000006010100000010000700000006010400000004000800000006010300630002";
    let server = modbus_server();
    let out = replay(&[
        &fixture("modbus-reassembly.pcap"),
        &server.target(),
        "--verify",
        "-f",
        "json",
    ]);
    assert_eq!(code(&out), 0, "{}", show(&out));
    let stdout = stdout_of(&out);
    let sent: String = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["from"] == "client")
        .map(|v| v["hex"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(sent, CLIENT_STREAM);
    assert!(stdout.ends_with("verify: 8 ok, 0 differ\n"), "{stdout}");
}
