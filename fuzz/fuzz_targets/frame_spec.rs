//! `--frame SPEC`: any string given to `FrameSpec::from_str` must return Ok
//! or Err, never panic.
//!
//! Properties checked:
//! - on Ok, Display round-trips (`spec.to_string().parse() == Ok(spec)`), and
//!   a decoder built from the spec frames the input's own bytes without
//!   panicking (this reaches odd delimiters and huge offsets/sizes that the
//!   frame_decoder target's fixed list of specs does not);
//! - on Err, the column lies within the input (1 ..= chars + 1).
#![no_main]

use libfuzzer_sys::fuzz_target;
use p1ge0n::frame::{Decoder, FrameSpec};

fn utf8_prefix(data: &[u8]) -> &str {
    match std::str::from_utf8(data) {
        Ok(s) => s,
        Err(e) => std::str::from_utf8(&data[..e.valid_up_to()]).unwrap(),
    }
}

fuzz_target!(|data: &[u8]| {
    let input = utf8_prefix(data);
    match input.parse::<FrameSpec>() {
        Ok(spec) => {
            let text = spec.to_string();
            assert_eq!(
                text.parse::<FrameSpec>().as_ref(),
                Ok(&spec),
                "{input:?} -> {text:?}"
            );

            for max in [0, 3, 64] {
                let mut d = Decoder::new(spec.clone(), max);
                d.push(data);
                // Every frame is non-empty, so this bounds the loop.
                for _ in 0..=data.len() {
                    match d.next_frame() {
                        Ok(Some(f)) => assert!(!f.is_empty()),
                        _ => break,
                    }
                }
                d.finish();
                assert_eq!(d.buffered(), 0);
            }
        }
        Err(e) => {
            let columns = input.chars().count() + 1;
            assert!((1..=columns).contains(&e.column), "{input:?}: {e}");
        }
    }
});
