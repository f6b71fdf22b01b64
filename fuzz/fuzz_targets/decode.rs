//! `--decode`: every decoder of the table (`decode::DECODERS`) and `auto`
//! get a peer's bytes, so any message, from either side, must decode or say
//! why not, never panic; a summary is one line (the same whether or not the
//! JSON fields are built) and the JSON fields an object.
#![no_main]

use libfuzzer_sys::fuzz_target;
use p1ge0n::{
    decode::{decode, summary, Protocol, DECODERS},
    record::Side,
};

fuzz_target!(|data: &[u8]| {
    for from in [Side::Client, Side::Server] {
        for protocol in DECODERS.iter().map(Protocol::One).chain([Protocol::Auto]) {
            let d = decode(protocol, data, from).expect("a protocol decodes");
            assert!(!d.summary.contains('\n'));
            assert!(d.fields.is_object());
            // Text records build the summary alone: it must not differ.
            assert_eq!(summary(protocol, data, from), Some(d.summary));
        }
    }
});
