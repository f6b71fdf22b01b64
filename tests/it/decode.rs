//! `--decode`: what p1ge0n says the bytes mean, compared field by field
//! with what tshark's dissectors say of the same capture; and hostile bytes
//! that must never take a decoding server down.

use std::collections::HashMap;

use crate::util::*;

/// The server port of a capture's only flow, from `replay --list`.
fn server_port(file: &str) -> u16 {
    let out = replay(&[file, "--list"]);
    let list = stdout_of(&out);
    list.split(" -> ")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .and_then(|addr| addr.rsplit(':').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no server port in {list}"))
}

/// tshark's fields for every dissected message of `file`, one map per
/// message, in capture order, with `from` (client or server).
fn tshark(
    file: &str,
    decode_as: &[&str],
    filter: &str,
    fields: &[&str],
) -> Vec<HashMap<String, String>> {
    assert!(have("tshark"), "tshark is needed: scripts/test installs it");
    let port = server_port(file).to_string();
    let mut args: Vec<String> = vec!["-r".into(), file.into()];
    args.extend(decode_as.iter().map(|a| a.replace("PORT", &port)));
    args.extend(["-Y".into(), filter.into(), "-T".into(), "fields".into()]);
    args.extend(["-e".into(), "tcp.srcport".into()]);
    for f in fields {
        args.extend(["-e".into(), f.to_string()]);
    }
    args.extend(["-E".into(), "separator=|".into()]);
    let out = std::process::Command::new("tshark")
        .args(&args)
        .output()
        .unwrap();
    assert!(out.status.success(), "tshark {args:?}: {}", show(&out));
    stdout_of(&out)
        .lines()
        .map(|line| {
            let cells: Vec<&str> = line.split('|').collect();
            let mut row = HashMap::new();
            let from = if cells[0] == port { "server" } else { "client" };
            row.insert("from".to_string(), from.to_string());
            for (f, v) in fields.iter().zip(&cells[1..]) {
                if !v.is_empty() {
                    row.insert(f.to_string(), v.to_string());
                }
            }
            row
        })
        .collect()
}

/// p1ge0n's JSON data records of a replay of `file` against `target`,
/// decoded: (from, the "decoded" object).
fn decoded(file: &str, target: &str, protocol: &str) -> Vec<(String, serde_json::Value)> {
    let out = replay(&[
        file,
        target,
        "-f",
        "json",
        "--decode",
        protocol,
        "--no-delay",
    ]);
    assert_eq!(code(&out), 0, "{}", show(&out));
    stdout_of(&out)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["event"] == "data")
        .map(|v| {
            (
                v["from"].as_str().unwrap().to_string(),
                v["decoded"].clone(),
            )
        })
        .collect()
}

fn number(text: &str) -> u64 {
    match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).unwrap(),
        None => text.parse().unwrap(),
    }
}

/// Every message of a real pymodbus session (function codes 1-6, 15, 16,
/// 23 and two exceptions) decodes to what tshark says: transaction, unit,
/// function, address, quantity (words or bits), exception code, register
/// values.
#[test]
fn modbus_decoding_matches_tshark() {
    let file = fixture("modbus-functions.pcap");
    let fields = [
        "mbtcp.trans_id",
        "mbtcp.unit_id",
        "modbus.func_code",
        "modbus.reference_num",
        "modbus.word_cnt",
        "modbus.bit_cnt",
        "modbus.exception_code",
        "modbus.regval_uint16",
    ];
    let theirs = tshark(&file, &["-o", "mbtcp.tcp.port:PORT"], "mbtcp", &fields);
    assert_eq!(theirs.len(), 22, "{theirs:?}");
    let server = PyServer::start("modbus_server.py", &["--lifetime", "60"]);
    let ours = decoded(&file, &server.target(), "modbus");
    assert_eq!(ours.len(), theirs.len());
    let mut exceptions = 0;
    for (i, (t, (from, d))) in theirs.iter().zip(&ours).enumerate() {
        let at = format!("message {} ({from}): {d}", i + 1);
        assert_eq!(&t["from"], from, "{at}");
        assert_eq!(
            d["transaction"].as_u64(),
            Some(number(&t["mbtcp.trans_id"])),
            "{at}"
        );
        assert_eq!(
            d["unit"].as_u64(),
            Some(number(&t["mbtcp.unit_id"])),
            "{at}"
        );
        assert_eq!(
            d["function"].as_u64(),
            Some(number(&t["modbus.func_code"])),
            "{at}"
        );
        if let Some(address) = t.get("modbus.reference_num") {
            assert_eq!(d["address"].as_u64(), Some(number(address)), "{at}");
        }
        for count in ["modbus.word_cnt", "modbus.bit_cnt"] {
            if let Some(q) = t.get(count) {
                assert_eq!(d["quantity"].as_u64(), Some(number(q)), "{at}");
            }
        }
        if let Some(code) = t.get("modbus.exception_code") {
            exceptions += 1;
            assert_eq!(d["kind"], "exception", "{at}");
            assert_eq!(d["exception"].as_u64(), Some(number(code)), "{at}");
        }
        if let Some(values) = t.get("modbus.regval_uint16") {
            let theirs: Vec<u64> = values.split(',').map(number).collect();
            let ours: Vec<u64> = d["values"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_u64().unwrap())
                .collect();
            assert_eq!(ours, theirs, "{at}");
        }
    }
    assert_eq!(exceptions, 2);
}

/// An S7 session of python-snap7's (connect, setup communication, read
/// DB1, disconnect) decodes to what tshark's cotp and s7comm dissectors
/// say.
#[test]
fn s7_decoding_matches_tshark() {
    let file = fixture("s7.pcap");
    let fields = [
        "cotp.type",
        "s7comm.header.rosctr",
        "s7comm.header.pduref",
        "s7comm.param.func",
        "s7comm.param.item.area",
        "s7comm.param.item.db",
        "s7comm.param.item.address.byte",
        "s7comm.param.item.length",
        "s7comm.data.returncode",
        "s7comm.param.pdu_length",
    ];
    let theirs = tshark(&file, &["-d", "tcp.port==PORT,tpkt"], "cotp", &fields);
    assert_eq!(theirs.len(), 8, "{theirs:?}");
    let plc = PyServer::start("s7_server.py", &["--lifetime", "60"]);
    let ours = decoded(&file, &plc.target(), "s7");
    assert_eq!(ours.len(), theirs.len());
    let cotp = HashMap::from([
        ("0x0e", "CR"),
        ("0x0d", "CC"),
        ("0x0f", "DT"),
        ("0x08", "DR"),
        ("0x0c", "DC"),
    ]);
    let rosctr = HashMap::from([
        ("1", "job"),
        ("2", "ack"),
        ("3", "ack_data"),
        ("7", "userdata"),
    ]);
    let area = HashMap::from([("0x84", "DB"), ("0x81", "I"), ("0x82", "Q"), ("0x83", "M")]);
    for (i, (t, (from, d))) in theirs.iter().zip(&ours).enumerate() {
        let at = format!("message {} ({from}): {d}", i + 1);
        assert_eq!(&t["from"], from, "{at}");
        assert_eq!(d["cotp"], cotp[t["cotp.type"].as_str()], "{at}");
        if let Some(r) = t.get("s7comm.header.rosctr") {
            assert_eq!(d["rosctr"], rosctr[r.as_str()], "{at}");
            assert_eq!(
                d["pdu_ref"].as_u64(),
                Some(number(&t["s7comm.header.pduref"])),
                "{at}"
            );
        }
        if let Some(f) = t.get("s7comm.param.func") {
            assert_eq!(d["function"].as_u64(), Some(number(f)), "{at}");
        }
        if let Some(n) = t.get("s7comm.param.pdu_length") {
            assert_eq!(d["pdu_length"].as_u64(), Some(number(n)), "{at}");
        }
        let item = &d["items"][0];
        if let Some(a) = t.get("s7comm.param.item.area") {
            assert_eq!(item["area"], area[a.as_str()], "{at}");
            assert_eq!(
                item["db"].as_u64(),
                Some(number(&t["s7comm.param.item.db"])),
                "{at}"
            );
            assert_eq!(
                item["start"].as_u64(),
                Some(number(&t["s7comm.param.item.address.byte"])),
                "{at}"
            );
            assert_eq!(
                item["length"].as_u64(),
                Some(number(&t["s7comm.param.item.length"])),
                "{at}"
            );
        }
        if let Some(rc) = t.get("s7comm.data.returncode") {
            assert_eq!(item["return_code"].as_u64(), Some(number(rc)), "{at}");
        }
    }
}

/// Hostile bytes through `listen --decode auto`: every malformed message is
/// shown with its reason, nothing panics, and the server keeps serving.
#[test]
fn hostile_messages_keep_a_decoding_server_up() {
    let server = Listen::start(&[
        "127.0.0.1:0",
        "--decode",
        "auto",
        "--frame",
        "line",
        "-f",
        "json",
    ]);
    let hostile: [&[u8]; 6] = [
        b"\x03\x00\x00\x05\n",
        b"\x00\x01\x00\x00\xff\xff\x01\x03\n",
        b"\x03\x00\x00\x0b\x02\xf0\x80\x32\x07\x00\n",
        b"\n",
        b"\x00\x00\x00\x00\x00\x02\x01\x83\n",
        b"\x03\x00\x00\x1f\x02\xf0\x80\x32\x01\x00\x00\x00\x02\x00\x0e\x00\x00\x04\x09\n",
    ];
    for bytes in hostile {
        let mut s = server.connect();
        let (echo, _) = exchange_and_close(&mut s, bytes);
        assert_eq!(echo, bytes);
    }
    let records = server.wait_stdout_lines(hostile.len() * 3, SOON);
    let malformed = records
        .iter()
        .filter(|l| l.contains("\"malformed\""))
        .count();
    assert!(malformed >= 4, "{records:#?}");
    let run = py_client(server.addr(), b"still here\n", 11);
    assert_eq!(run.data, b"still here\n");
    assert!(!server.stderr().contains("panicked"), "{}", server.dump());
}

/// A reply that differs from the capture is shown decoded too (issue 26,
/// trap 13): against a real pymodbus device (holding register i = 7i),
/// a script that expects register 6 to be 43 (it is 42) says so by
/// address, under the hexdumps; `send --expect` reads the same.
#[test]
fn a_differing_modbus_reply_names_the_register() {
    let plc = PyServer::start("modbus_server.py", &["--lifetime", "60"]);
    let request = "00 01 00 00 00 06 01 03 00 05 00 03";
    let expected = "00 01 00 00 00 09 01 03 06 00 23 00 2b 00 31";
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("yesterday.txt");
    std::fs::write(&script, format!("> {request}\n< {expected}\n")).unwrap();
    let out = p1ge0n(&[
        "replay",
        script.to_str().unwrap(),
        &plc.target(),
        "-x",
        "--verify",
        "--decode",
        "modbus",
        "--no-delay",
    ]);
    assert_eq!(code(&out), 5, "{}", show(&out));
    let stdout = stdout_of(&out);
    assert!(
        stdout.contains("first difference at byte 12\ndecoded: register 6: 42, expected 43\n"),
        "{stdout}"
    );

    let out = p1ge0n(&[
        "send",
        &plc.target(),
        "-x",
        "--decode",
        "modbus",
        "--expect",
        expected,
        request,
    ]);
    assert_eq!(code(&out), 5, "{}", show(&out));
    assert!(
        stderr_of(&out).contains("decoded: register 6: 42, expected 43"),
        "{}",
        show(&out)
    );
}
