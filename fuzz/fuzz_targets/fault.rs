//! `proxy --fault SPEC` parsing and the dice fed remote bytes: a spec comes
//! from the command line, the messages from whoever is on the line, so
//! neither may panic. A spec that parses prints back as text that parses
//! to the same spec; a message's fate is forwarded, dropped, stalled,
//! reset or answered, and a corrupted message differs from the original
//! in exactly one bit.
//!
//! Input layout: the spec text up to the first 0x00 byte (several specs
//! separated by `;`), then the seed's 8 bytes, then messages, each a length
//! byte and that many bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use p1ge0n::{
    fault::{Fate, FaultSpec, Faults},
    frame::FrameSpec,
    record::Side,
};

fuzz_target!(|data: &[u8]| {
    let split = data.iter().position(|&b| b == 0).unwrap_or(data.len());
    let (text, rest) = data.split_at(split);
    let Ok(text) = std::str::from_utf8(text) else {
        return;
    };
    let mut specs = Vec::new();
    for part in text.split(';') {
        if let Ok(spec) = part.parse::<FaultSpec>() {
            let again: FaultSpec = spec
                .to_string()
                .parse()
                .unwrap_or_else(|e| panic!("{spec} does not parse back: {e}"));
            assert_eq!(again.to_string(), spec.to_string());
            specs.push(spec);
        }
    }
    let rest = rest.get(1..).unwrap_or_default();
    let (seed, messages) = match rest.split_first_chunk::<8>() {
        Some((seed, messages)) => (u64::from_le_bytes(*seed), messages),
        None => (0, rest),
    };
    for frame in [FrameSpec::mbap(), FrameSpec::ModbusRtu, FrameSpec::Line] {
        let Ok(faults) = Faults::new(specs.clone(), seed, Some(&frame), false) else {
            continue;
        };
        for side in [Side::Client, Side::Server] {
            let Some(mut dice) = faults.direction(3, side) else {
                continue;
            };
            let mut left = messages;
            while let Some((&len, more)) = left.split_first() {
                let len = (len as usize).min(more.len());
                let (message, after) = more.split_at(len);
                left = after;
                let outcome = dice.decide(message);
                let sent = outcome.apply(message.to_vec().into());
                let flipped: u32 = sent
                    .iter()
                    .zip(message)
                    .map(|(a, b)| (a ^ b).count_ones())
                    .sum();
                let corrupted = outcome.injected.iter().any(|f| f.kind == "corrupt");
                assert_eq!(flipped, u32::from(corrupted), "{outcome:?}");
                if let Fate::Answer(answer) = &outcome.fate {
                    assert!(answer.len() == 9 || answer.len() == 5, "{answer:?}");
                }
            }
        }
    }
});
