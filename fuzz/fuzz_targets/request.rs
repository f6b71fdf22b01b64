//! `--request 'PROTO WORDS...'` parsed from arbitrary text: a request built
//! from a typo must be an error naming the word, never a panic; and what
//! does build is a well-formed message of its protocol (a Modbus request
//! decodes without a `malformed` note, as MBAP and as RTU with a good CRC),
//! except a raw `fc=N data=HEX`, whose PDU is whatever the user typed (its
//! RTU form still has a good CRC).
#![no_main]

use libfuzzer_sys::fuzz_target;
use p1ge0n::{
    decode::{build_request, decode, RequestContext},
    record::Side,
};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for serial in [false, true] {
        let at = RequestContext {
            sequence: 7,
            serial,
        };
        let Ok((protocol, bytes)) = build_request(text, &at) else {
            continue;
        };
        let d = decode(protocol, &bytes, Side::Client).expect("a protocol decodes");
        if protocol.name() == "modbus-rtu" {
            assert!(p1ge0n::rtu::crc_ok(&bytes), "{bytes:02x?}");
        }
        if text.contains("fc=") {
            continue;
        }
        assert!(
            d.fields.get("malformed").is_none(),
            "{text:?} built {bytes:02x?}: {}",
            d.summary
        );
        if protocol.name() == "modbus-rtu" {
            assert!(d.summary.ends_with("crc ok"), "{}", d.summary);
        }
    }
});
