//! The capture (JSON Lines) and script readers behind `replay FILE`: any
//! file content must be read into flows or rejected with a line number,
//! never panic.
//!
//! The bytes are taken as UTF-8 lossily (`replay` reads the file as text).
//!
//! Properties checked:
//! - capture: on Ok, writing the header back and reading it again gives the
//!   same header line (a header p1ge0n wrote is one it can read); every data
//!   message of a flow is from client or server with the flow's addresses set;
//! - script (text and hex mode): on Ok, there is at least one client message
//!   (the reader's own rule) and message times never go backwards;
//! - errors carry a line number of at least 1.
#![no_main]

use libfuzzer_sys::fuzz_target;
use p1ge0n::capture::{read_capture, read_script};
use p1ge0n::schema::write_header;
use p1ge0n::record::Side;
use p1ge0n::payload::PayloadMode;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);

    match read_capture(&text) {
        Ok((header, flows)) => {
            let mut line = Vec::new();
            write_header(&mut line, &header);
            let line = String::from_utf8(line).unwrap();
            let (again, none) = read_capture(&line).expect("written header reads back");
            assert!(none.is_empty());
            let mut line2 = Vec::new();
            write_header(&mut line2, &again);
            assert_eq!(line.as_bytes(), &line2[..]);
            for flow in &flows {
                assert!(flow.client.is_some() && flow.server.is_some());
                let _ = (
                    flow.start(),
                    flow.totals(Side::Client),
                    flow.totals(Side::Server),
                );
            }
        }
        Err(e) => assert!(e.line >= 1, "{e}"),
    }

    for mode in [PayloadMode::Text, PayloadMode::Hex] {
        match read_script(&text, mode) {
            Ok(flow) => {
                assert!(flow.messages.iter().any(|m| m.from == Side::Client));
                assert!(flow.messages.windows(2).all(|w| w[0].at <= w[1].at));
                let _ = flow.totals(Side::Client);
            }
            Err(e) => assert!(e.line >= 1, "{e}"),
        }
    }
});
