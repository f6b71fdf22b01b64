//! `--decode`: the Modbus/TCP and S7 decoders get a peer's bytes, so any
//! message, from either side, must decode or say why not, never panic; a
//! summary is one line and the JSON fields an object.
#![no_main]

use libfuzzer_sys::fuzz_target;
use p1ge0n::{
    decode::{decode, Protocol},
    record::Side,
};

fuzz_target!(|data: &[u8]| {
    for from in [Side::Client, Side::Server] {
        for protocol in [Protocol::Modbus, Protocol::S7, Protocol::Auto] {
            let d = decode(protocol, data, from).expect("a protocol decodes");
            assert!(!d.summary.contains('\n'));
            assert!(d.fields.is_object());
        }
    }
});
