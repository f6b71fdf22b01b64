//! `--decode enip` and `--decode iec104` with real peers: cpppo's
//! EtherNet/IP Logix simulator and client, c104's IEC 60870-5-104 server
//! and client, each through `p1ge0n proxy --decode PROTO -f json --pcap F`;
//! p1ge0n's JSON is compared message by message with tshark's dissection
//! of the proxy's pcapng.

use std::{process::Command, time::Duration};

use serde_json::Value;

use crate::util::*;

/// `p1ge0n proxy 127.0.0.1:0 TARGET --decode PROTO -f json --pcap PCAP --once`.
fn proxy(target: &str, protocol: &str, pcap: &str) -> Listen {
    let mut cmd = Command::new(bin());
    cmd.args(["proxy", "127.0.0.1:0", target, "--decode", protocol])
        .args(["-f", "json", "--pcap", pcap, "--once"]);
    Listen::spawn_with(cmd)
}

/// The proxy's decoded data records, once it has exited (`--once`).
fn decoded_records(px: &mut Listen) -> Vec<(String, Value)> {
    assert_eq!(px.wait_code(Duration::from_secs(10)), 0, "{}", px.dump());
    px.stdout()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v["event"] == "data")
        .map(|v| {
            (
                v["from"].as_str().unwrap().to_string(),
                v["decoded"].clone(),
            )
        })
        .collect()
}

/// tshark's `fields` for each packet of `pcap` that `filter` keeps, with
/// the server on `port` dissected as `dissector`: (from, one list of
/// values per field; several occurrences in one packet are in order).
fn tshark(
    pcap: &str,
    port: u16,
    dissector: &str,
    filter: &str,
    fields: &[&str],
) -> Vec<(String, Vec<Vec<String>>)> {
    assert!(have("tshark"), "tshark is needed: scripts/test installs it");
    let mut args: Vec<String> = ["-r", pcap, "-d", &format!("tcp.port=={port},{dissector}")]
        .map(String::from)
        .to_vec();
    args.extend(
        [
            "-Y",
            filter,
            "-T",
            "fields",
            "-E",
            "separator=|",
            "-e",
            "tcp.srcport",
        ]
        .map(String::from),
    );
    for f in fields {
        args.extend(["-e".to_string(), f.to_string()]);
    }
    let out = Command::new("tshark").args(&args).output().unwrap();
    assert!(out.status.success(), "tshark {args:?}: {}", show(&out));
    stdout_of(&out)
        .lines()
        .map(|line| {
            let cells: Vec<&str> = line.split('|').collect();
            let from = if cells[0] == port.to_string() {
                "server"
            } else {
                "client"
            };
            let values = cells[1..]
                .iter()
                .map(|c| {
                    c.split(',')
                        .filter(|v| !v.is_empty())
                        .map(String::from)
                        .collect()
                })
                .collect();
            (from.to_string(), values)
        })
        .collect()
}

fn number(text: &str) -> u64 {
    match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).unwrap(),
        None => text.parse().unwrap(),
    }
}

fn numbers(values: &[String]) -> Vec<u64> {
    values.iter().map(|v| number(v)).collect()
}

/// cpppo's client writes and reads Logix tags of cpppo's simulator
/// through the proxy: each message's encapsulation command, session and
/// status, and the CIP services (Unconnected Send and the Read/Write Tag
/// inside, replies with the reply bit), general statuses and tag names
/// are tshark's; the values (which tshark leaves undissected) are what
/// cpppo's client printed.
#[test]
fn enip_through_the_proxy_matches_tshark_and_cpppo() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("enip.pcapng").to_str().unwrap().to_string();
    let plc = PyServer::start("enip_server.py", &["SCADA=INT[10]", "TEMP=REAL"]);
    let mut px = proxy(&plc.target(), "enip", &pcap);
    let client = assert_cmd::Command::new("python3")
        .args(["-m", "cpppo.server.enip.client", "-p", "-a", &px.target()])
        .args(["SCADA[1]=(INT)99", "SCADA[0-1]", "TEMP=(REAL)23.5", "TEMP"])
        .timeout(Duration::from_secs(20))
        .output()
        .unwrap();
    assert!(
        client.status.success(),
        "cpppo's client (scripts/test installs cpppo): {}",
        show(&client)
    );
    let printed = stdout_of(&client);
    assert!(printed.contains("== [0, 99]: 'OK'"), "{printed}");
    assert!(
        printed.contains("TEMP              == [23.5]: 'OK'"),
        "{printed}"
    );
    let ours = decoded_records(&mut px);
    let theirs = tshark(
        &pcap,
        px.port(),
        "enip",
        "enip",
        &[
            "enip.command",
            "enip.session",
            "enip.status",
            "cip.sc",
            "cip.service",
            "cip.genstat",
            "cip.symbol",
        ],
    );
    assert_eq!(
        ours.len(),
        theirs.len(),
        "ours {ours:#?}\ntshark {theirs:#?}"
    );
    assert!(ours.len() >= 10, "{ours:#?}");
    let (mut tags, mut values) = (Vec::new(), Vec::new());
    for ((from, d), (t_from, t)) in ours.iter().zip(&theirs) {
        assert_eq!(from, t_from);
        assert_eq!(d["decoder"], "enip", "{d}");
        assert!(d.get("malformed").is_none(), "{d}");
        assert_eq!(d["command"], number(&t[0][0]), "{d}");
        assert_eq!(d["session"], number(&t[1][0]), "{d}");
        assert_eq!(d["status"], number(&t[2][0]), "{d}");
        let cip = &d["cip"];
        if cip.is_null() {
            assert!(t[3].is_empty(), "{d} vs {t:?}");
            continue;
        }
        // Services: the outer one, then the embedded one (Unconnected Send).
        let mut services = vec![cip["service"].as_u64().unwrap()];
        if let Some(inner) = cip.get("embedded") {
            services.push(inner["service"].as_u64().unwrap());
            let tag = inner["path"]["tag"].as_str().unwrap();
            assert_eq!(t[6], [tag.split('[').next().unwrap()], "{d}");
            tags.push(tag.to_string());
            if let Some(v) = inner.get("values") {
                values.push(v.clone());
            }
        }
        assert_eq!(services, numbers(&t[3]), "{d}");
        let with_reply_bit: Vec<u64> = services
            .iter()
            .map(|s| s | if cip["reply"] == true { 0x80 } else { 0 })
            .collect();
        assert_eq!(with_reply_bit, numbers(&t[4]), "{d}");
        if cip["reply"] == true {
            assert_eq!(cip["general_status"], number(&t[5][0]), "{d}");
            if let Some(v) = cip.get("values") {
                values.push(v.clone());
            }
        }
    }
    assert_eq!(tags, ["SCADA[1]", "SCADA[0]", "TEMP", "TEMP"], "{ours:#?}");
    for expected in [
        serde_json::json!([99]),
        serde_json::json!([0, 99]),
        serde_json::json!([23.5]),
    ] {
        assert!(values.contains(&expected), "{expected} not in {values:?}");
    }
    crate::pcap_out::assert_clean(&pcap);
}

/// c104's client (STARTDT, general interrogation, clock sync, a read, a
/// single command and a float setpoint) talks to c104's server through the
/// proxy: each APDU's format, N(S) and N(R), U function, and each ASDU's
/// type id, cause, common address, originator, objects' addresses and
/// float values are tshark's.
#[test]
#[ignore = "c104 2.2.1 is flaky here (about 1 run in 10: a command left unconfirmed or a connection left muted, also without the proxy); run with --ignored"]
fn iec104_through_the_proxy_matches_tshark() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir
        .path()
        .join("iec104.pcapng")
        .to_str()
        .unwrap()
        .to_string();
    let rtu = PyServer::start("iec104_server.py", &[]);
    let mut px = proxy(&rtu.target(), "iec104", &pcap);
    let client = python("iec104_client.py", &[px.port().to_string()]);
    assert!(
        stdout_of(&client).contains("read 1001 23.5"),
        "{}",
        show(&client)
    );
    let ours = decoded_records(&mut px);
    let (ioas, objects, floats) = iec104_matches_tshark(&ours, &pcap, px.port());
    for ioa in [100, 1001, 1002, 5000, 5001] {
        assert!(ioas.contains(&ioa), "{ioa} not in {ioas:?}");
    }
    let _ = objects;
    assert!(
        floats.contains(&23.5) && floats.contains(&12.5),
        "{floats:?}"
    );
}

/// Our iec104 JSON records against tshark's `iec60870_104` and
/// `iec60870_asdu` fields on the pcapng the proxy wrote (server on
/// `port`): formats, U functions, sequence numbers, type ids, causes,
/// common and originator addresses, information object addresses and
/// floats, APDU by APDU; and no malformed packet. Returns the IOAs, the
/// objects and the floats for the caller's own checks.
fn iec104_matches_tshark(
    ours: &[(String, Value)],
    pcap: &str,
    port: u16,
) -> (Vec<u64>, Vec<Value>, Vec<f64>) {
    let (pcap, px_port) = (pcap.to_string(), port);
    let theirs = tshark(
        &pcap,
        px_port,
        "iec60870_104",
        "iec60870_104",
        &[
            "iec60870_104.type",
            "iec60870_104.utype",
            "iec60870_104.tx",
            "iec60870_104.rx",
            "iec60870_asdu.typeid",
            "iec60870_asdu.causetx",
            "iec60870_asdu.addr",
            "iec60870_asdu.oa",
            "iec60870_asdu.ioa",
            "iec60870_asdu.float",
        ],
    );
    // tshark puts the APDUs of one segment in one packet: compare the
    // sequences of values, APDU by APDU, object by object.
    let flat =
        |i: usize| -> Vec<String> { theirs.iter().flat_map(|(_, t)| t[i].clone()).collect() };
    let formats: Vec<u64> = ours
        .iter()
        .map(|(_, d)| match d["format"].as_str() {
            Some("I") => 0,
            Some("S") => 1,
            Some("U") => 3,
            other => panic!("format {other:?} in {d}"),
        })
        .collect();
    assert!(
        ours.iter()
            .all(|(_, d)| d["decoder"] == "iec104" && d.get("malformed").is_none()),
        "{ours:#?}"
    );
    assert_eq!(formats, numbers(&flat(0)), "{ours:#?}");
    let u: Vec<String> = ours
        .iter()
        .filter_map(|(_, d)| d["u_function"].as_str().map(String::from))
        .collect();
    assert!(
        u.contains(&"STARTDT act".to_string()) && u.contains(&"STARTDT con".to_string()),
        "{u:?}"
    );
    assert_eq!(u.len(), flat(1).len());
    let field =
        |key: &str| -> Vec<u64> { ours.iter().filter_map(|(_, d)| d[key].as_u64()).collect() };
    assert_eq!(field("send_seq"), numbers(&flat(2)));
    assert_eq!(field("recv_seq"), numbers(&flat(3)));
    let asdus: Vec<&Value> = ours.iter().filter_map(|(_, d)| d.get("asdu")).collect();
    assert!(asdus.len() >= 6, "{asdus:#?}");
    let asdu = |key: &str| -> Vec<u64> { asdus.iter().map(|a| a[key].as_u64().unwrap()).collect() };
    assert_eq!(asdu("type_id"), numbers(&flat(4)));
    assert_eq!(asdu("cot"), numbers(&flat(5)));
    assert_eq!(asdu("common_address"), numbers(&flat(6)));
    assert_eq!(asdu("originator"), numbers(&flat(7)));
    let objects: Vec<&Value> = asdus
        .iter()
        .flat_map(|a| a["objects"].as_array().into_iter().flatten())
        .collect();
    let ioas: Vec<u64> = objects.iter().map(|o| o["ioa"].as_u64().unwrap()).collect();
    assert_eq!(ioas, numbers(&flat(8)));
    let floats: Vec<f64> = objects
        .iter()
        .filter_map(|o| {
            o["value"]
                .as_f64()
                .filter(|_| o.get("float").is_some() || o["value"].is_f64())
        })
        .collect();
    let tshark_floats: Vec<f64> = flat(9).iter().map(|v| v.parse().unwrap()).collect();
    assert_eq!(floats, tshark_floats, "{objects:#?}");
    crate::pcap_out::assert_clean(&pcap);
    (ioas, objects.into_iter().cloned().collect(), floats)
}

/// The same comparison without c104's timing: `tests/fixtures/iec104.pcap`
/// replayed (client side by `replay`, station side by `replay --serve`)
/// through `proxy --decode iec104 --pcap`, so that it runs every time.
#[test]
fn iec104_replayed_through_the_proxy_matches_tshark() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir
        .path()
        .join("iec104.pcapng")
        .to_str()
        .unwrap()
        .to_string();
    let fixture = fixture("iec104.pcap");
    let mut serve = Command::new(bin());
    serve.args(["replay", "--serve", &fixture, "127.0.0.1:0", "-q"]);
    let station = Listen::spawn_with(serve);
    let mut px = proxy(&station.target(), "iec104", &pcap);
    let out = replay(&[&fixture, &px.target(), "--no-delay"]);
    assert_eq!(code(&out), 0, "{}", show(&out));
    let ours = decoded_records(&mut px);
    let (ioas, _, _) = iec104_matches_tshark(&ours, &pcap, px.port());
    assert!(!ioas.is_empty(), "{ours:#?}");
}

/// `send --request 'enip list-identity'` asks cpppo's simulator what it is:
/// the request is built, framed and decoded without a byte typed, and the
/// identity comes back decoded.
#[test]
fn a_built_request_asks_a_device_what_it_is() {
    let plc = PyServer::start("enip_server.py", &["SCADA=INT[10]"]);
    let out = p1ge0n(&[
        "send",
        &plc.target(),
        "--request",
        "enip list-identity",
        "--request",
        "enip register-session",
        "-f",
        "text",
    ]);
    assert_eq!(code(&out), 0, "{}", show(&out));
    let shown = stdout_of(&out);
    assert!(shown.contains("enip ListIdentity request"), "{shown}");
    assert!(shown.contains("enip ListIdentity reply vendor="), "{shown}");
    assert!(
        shown.contains("enip RegisterSession reply session=0x"),
        "{shown}"
    );
}

/// The server port of each flow of `file`, in flow order (`replay --list`).
fn server_ports(file: &str) -> Vec<u16> {
    let out = replay(&[file, "--list"]);
    assert_eq!(code(&out), 0, "{}", show(&out));
    stdout_of(&out)
        .lines()
        .map(|line| {
            line.split(" -> ")
                .nth(1)
                .and_then(|rest| rest.split(',').next())
                .and_then(|addr| addr.rsplit(':').next())
                .and_then(|p| p.parse().ok())
                .unwrap_or_else(|| panic!("no server port in {line}"))
        })
        .collect()
}

/// tshark, told what each flow of `file` carries (`protocols`, one per
/// flow, in flow order: modbus, s7, enip or iec104), dissects every data
/// packet as that protocol, down to its header fields (not as undissected
/// data), and calls none malformed (`tshark -V` never says "Malformed").
fn assert_tshark_reads(file: &str, protocols: &[&str]) {
    assert!(have("tshark"), "tshark is needed: scripts/test installs it");
    let ports = server_ports(file);
    assert_eq!(ports.len(), protocols.len(), "{file}: flows {ports:?}");
    let mut args: Vec<String> = vec!["-r".into(), file.into()];
    // Each flow's server port, and the header field its protocol's packets have.
    let mut field_of = std::collections::HashMap::new();
    for (port, protocol) in ports.iter().zip(protocols) {
        let (option, value, field) = match *protocol {
            "modbus" => ("-o", format!("mbtcp.tcp.port:{port}"), "mbtcp.trans_id"),
            "s7" => ("-d", format!("tcp.port=={port},tpkt"), "cotp.type"),
            "enip" => ("-d", format!("tcp.port=={port},enip"), "enip.command"),
            "iec104" => (
                "-d",
                format!("tcp.port=={port},iec60870_104"),
                "iec60870_104.type",
            ),
            other => panic!("no dissector for {other}"),
        };
        args.extend([option.to_string(), value]);
        field_of.insert(port.to_string(), field);
    }
    let run = |extra: &[&str]| {
        let out = Command::new("tshark")
            .args(&args)
            .args(extra)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "tshark {args:?} {extra:?}: {}",
            show(&out)
        );
        stdout_of(&out)
    };
    let verbose = run(&["-V"]);
    assert!(!verbose.is_empty(), "{file} holds no packets");
    assert!(!verbose.contains("Malformed"), "{file}: {verbose}");
    let fields: Vec<&str> = field_of.values().copied().collect();
    let mut extra = vec!["-Y", "tcp.len > 0", "-T", "fields", "-E", "separator=|"];
    for field in ["tcp.srcport", "tcp.dstport"].iter().chain(&fields) {
        extra.extend(["-e", field]);
    }
    let packets = run(&extra);
    let mut seen = std::collections::HashSet::new();
    for line in packets.lines() {
        let cells: Vec<&str> = line.split('|').collect();
        let port = [cells[0], cells[1]]
            .into_iter()
            .find(|p| field_of.contains_key(*p))
            .unwrap_or_else(|| panic!("{file}: a packet of no flow: {line}"));
        let field = field_of[port];
        let at = 2 + fields.iter().position(|f| *f == field).unwrap();
        assert!(!cells[at].is_empty(), "{file}: no {field} in {line}");
        seen.insert(port);
    }
    assert_eq!(seen.len(), ports.len(), "{file}: {packets}");
}

/// The EtherNet/IP, IEC 60870-5-104 and mixed captures
/// (tests/fixtures/make_decode_captures.sh) are what tshark reads them as:
/// each data packet its flow's protocol, none malformed.
#[test]
fn decode_fixtures_are_clean_for_tshark() {
    assert_tshark_reads(&fixture("enip.pcap"), &["enip"]);
    assert_tshark_reads(&fixture("iec104.pcap"), &["iec104"]);
    assert_tshark_reads(&fixture("mixed.pcap"), &["modbus", "s7", "enip", "iec104"]);
}

/// What one decoded message is, in a few words: the function or command,
/// request or answer, and for CIP the services, for IEC-104 the frame
/// format with its U function, type and cause, or N(R).
fn gist(d: &Value) -> String {
    let s = |v: &Value| v.as_str().unwrap_or("?").to_string();
    match d["decoder"].as_str() {
        Some("modbus") => format!("{} {}", s(&d["function_name"]), s(&d["kind"])),
        Some("s7") => match d.get("rosctr") {
            Some(rosctr) => format!("DT {} {}", s(rosctr), s(&d["function_name"])),
            None => s(&d["cotp"]),
        },
        Some("enip") => {
            let mut services = Vec::new();
            let mut cip = d.get("cip");
            while let Some(service) = cip {
                services.push(s(&service["service_name"]));
                cip = service.get("embedded");
            }
            let gist = format!("{} {}", s(&d["command_name"]), s(&d["kind"]));
            match services.is_empty() {
                true => gist,
                false => format!("{gist} {}", services.join("/")),
            }
        }
        Some("iec104") => match d["format"].as_str() {
            Some("U") => format!("U {}", s(&d["u_function"])),
            Some("S") => format!("S N(R)={}", d["recv_seq"]),
            _ => format!(
                "I {} {}",
                s(&d["asdu"]["type_name"]),
                s(&d["asdu"]["cot_name"])
            ),
        },
        _ => format!("? {d}"),
    }
}

/// `--decode auto` on a capture of four plant protocols, one flow each
/// (tests/fixtures/mixed.pcap: pymodbus, python-snap7 and cpppo sessions
/// and a scripted IEC-104 one), replayed against `replay --serve` of the
/// same file: every message, both ways, is read by the decoder its bytes
/// call for, and says what the capture holds.
#[test]
fn decode_auto_picks_each_protocol_in_a_mixed_capture() {
    const EXPECTED: &[(&str, &str, &str)] = &[
        ("client", "modbus", "read holding registers request"),
        ("server", "modbus", "read holding registers response"),
        ("client", "modbus", "write single register request"),
        ("server", "modbus", "write single register response"),
        ("client", "modbus", "read holding registers request"),
        ("server", "modbus", "read holding registers response"),
        ("client", "modbus", "write multiple registers request"),
        ("server", "modbus", "write multiple registers response"),
        ("client", "modbus", "read holding registers request"),
        ("server", "modbus", "read holding registers response"),
        ("client", "modbus", "read coils request"),
        ("server", "modbus", "read coils response"),
        ("client", "modbus", "read input registers request"),
        ("server", "modbus", "read input registers response"),
        ("client", "modbus", "read holding registers request"),
        ("server", "modbus", "read holding registers exception"),
        ("client", "s7", "CR"),
        ("server", "s7", "CC"),
        ("client", "s7", "DT job setup communication"),
        ("server", "s7", "DT ack_data setup communication"),
        ("client", "s7", "DT job read var"),
        ("server", "s7", "DT ack_data read var"),
        ("client", "s7", "DR"),
        ("server", "s7", "DC"),
        ("client", "enip", "RegisterSession request"),
        ("server", "enip", "RegisterSession reply"),
        ("client", "enip", "ListIdentity request"),
        ("server", "enip", "ListIdentity reply"),
        (
            "client",
            "enip",
            "SendRRData request Unconnected_Send/Write Tag",
        ),
        ("server", "enip", "SendRRData reply Write Tag"),
        (
            "client",
            "enip",
            "SendRRData request Unconnected_Send/Read Tag",
        ),
        ("server", "enip", "SendRRData reply Read Tag"),
        ("client", "iec104", "U STARTDT act"),
        ("server", "iec104", "U STARTDT con"),
        ("client", "iec104", "I C_IC_NA_1 act"),
        ("server", "iec104", "I C_IC_NA_1 actcon"),
        ("client", "iec104", "S N(R)=1"),
        ("server", "iec104", "I M_SP_NA_1 inrogen"),
        ("client", "iec104", "S N(R)=2"),
        ("server", "iec104", "I M_ME_NC_1 inrogen"),
        ("client", "iec104", "S N(R)=3"),
        ("server", "iec104", "I C_IC_NA_1 actterm"),
        ("client", "iec104", "S N(R)=4"),
        ("server", "iec104", "I M_ME_NC_1 spont"),
        ("client", "iec104", "S N(R)=5"),
        ("server", "iec104", "I M_SP_NA_1 spont"),
        ("client", "iec104", "U TESTFR act"),
        ("server", "iec104", "U TESTFR con"),
        ("client", "iec104", "S N(R)=6"),
    ];
    let file = fixture("mixed.pcap");
    let mut server = crate::serve::serve(&file, &["--no-delay"]);
    let out = replay(&[
        &file,
        &server.target(),
        "-f",
        "json",
        "--decode",
        "auto",
        "--no-delay",
    ]);
    assert_eq!(code(&out), 0, "{}", show(&out));
    assert_eq!(server.wait_code(SOON), 0, "{}", server.dump());
    let records: Vec<Value> = stdout_of(&out)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v["event"] == "data")
        .collect();
    let ours: Vec<(String, String, String)> = records
        .iter()
        .map(|v| {
            let d = &v["decoded"];
            assert!(d.get("malformed").is_none(), "{v}");
            (
                v["from"].as_str().unwrap_or("?").to_string(),
                d["decoder"].as_str().unwrap_or("?").to_string(),
                gist(d),
            )
        })
        .collect();
    let expected: Vec<(String, String, String)> = EXPECTED
        .iter()
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
        .collect();
    for (i, (ours, theirs)) in ours.iter().zip(&expected).enumerate() {
        assert_eq!(ours, theirs, "message {}: {}", i + 1, records[i]);
    }
    assert_eq!(ours.len(), expected.len(), "{ours:#?}");
    // Each flow is one connection, and one protocol.
    let conns: Vec<u64> = records
        .iter()
        .map(|v| v["conn"].as_u64().unwrap())
        .collect();
    let flow_of = |decoder: &str| match decoder {
        "modbus" => 1,
        "s7" => 2,
        "enip" => 3,
        _ => 4,
    };
    let flows: Vec<u64> = expected.iter().map(|(_, d, _)| flow_of(d)).collect();
    assert_eq!(conns, flows);
}
