//! Acceptance 4: `listen --frame SPEC` never assumes one read = one message.
//!
//! A Python client writes three messages in ONE write, then a fourth split
//! over three writes 50 ms apart. listen must print exactly four records and
//! echo four messages: the first three at once, nothing while the fourth is
//! incomplete (a partial frame must not be echoed), the fourth when its last
//! piece arrives.

use crate::util::*;

/// `pieces` are the three writes of the fourth message.
fn check_framing(spec: &str, first_three: [&[u8]; 3], pieces: [&[u8]; 3]) {
    let server = Listen::start(&["127.0.0.1:0", "--frame", spec]);
    let burst: Vec<u8> = first_three.concat();
    let fourth: Vec<u8> = pieces.concat();
    let step = |bytes: &[u8], expect: usize| format!("{}:{expect}", hex(bytes));
    let args = vec![
        "--port".to_string(),
        server.port().to_string(),
        "--step".into(),
        step(&burst, burst.len()),
        "--step".into(),
        step(pieces[0], 0),
        "--step".into(),
        step(pieces[1], 0),
        "--step".into(),
        step(pieces[2], fourth.len()),
        "--delay".into(),
        "0.05".into(),
    ];
    let out = python("chunk_client.py", &args);
    let got = stdout_of(&out);
    let expected = format!(
        "step 0 {}\nstep 1 \nstep 2 \nstep 3 {}\nfinal \nend=eof\n",
        hex(&burst),
        hex(&fourth)
    );
    assert_eq!(
        got,
        expected,
        "--frame {spec}: echoes per write differ (hex)\n{}",
        server.dump()
    );

    server.wait_stderr_contains("closed by peer", SOON);
    let lines = server.wait_stdout_lines(4, SOON);
    let recs: Vec<Record> = lines.iter().map(|l| record(l)).collect();
    let want: Vec<&[u8]> = vec![first_three[0], first_three[1], first_three[2], &fourth];
    assert_eq!(
        recs.len(),
        4,
        "--frame {spec}: four records\n{}",
        server.dump()
    );
    for (rec, msg) in recs.iter().zip(&want) {
        assert_eq!(rec.conn, 1);
        assert_eq!(rec.dir, "recv");
        assert_eq!(
            (rec.len, rec.payload.as_str()),
            (msg.len(), escape(msg).as_str()),
            "--frame {spec}\n{}",
            server.dump()
        );
    }
}

#[test]
fn stx_etx_frames() {
    check_framing(
        "stx-etx",
        [b"\x02A1\x03", b"\x02B22\x03", b"\x02C333\x03"],
        [b"\x02HEL", b"LO WO", b"RLD\x03"],
    );
}

#[test]
fn line_frames() {
    check_framing(
        "line",
        [b"one\n", b"two\r\n", b"three\n"],
        [b"split ", b"over three ", b"writes\n"],
    );
}

#[test]
fn fixed_frames() {
    check_framing(
        "fixed=5",
        [b"AAAAA", b"B\x00B\x01B", b"CCCCC"],
        [b"DD", b"DD", b"D"],
    );
}

#[test]
fn u16be_length_prefixed_frames() {
    check_framing(
        "len=u16be",
        [b"\x00\x03abc", b"\x00\x01\xff", b"\x00\x05hello"],
        [b"\x00", b"\x0a01234", b"56789"],
    );
}
