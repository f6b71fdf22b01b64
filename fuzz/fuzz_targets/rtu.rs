//! Modbus RTU framing fed remote bytes: a serial line carries whatever a
//! broken device, a noisy cable or a hostile peer sends, so the framer must
//! never panic, never invent or lose a byte, never return an empty frame or
//! one over `--max-frame`, and always release what it holds after a
//! silence.
//!
//! Input layout:
//!   byte 0          who sends (even: the client's requests, odd: answers)
//!   byte 1          which max_frame (MAX_FRAMES)
//!   byte 2          n = number of chunk-size bytes (0..=15)
//!   next n bytes    chunk sizes, used cyclically: low 7 bits = size, high
//!                   bit = a silence (`release`) after the chunk
//!   the rest        the bytes on the line
#![no_main]

use libfuzzer_sys::fuzz_target;
use p1ge0n::{
    frame::{Decoder, FrameSpec},
    record::Side,
};

const MAX_FRAMES: &[usize] = &[1, 4, 8, 255, 256, 300, 65_535];

fuzz_target!(|data: &[u8]| {
    let [who, m, n, rest @ ..] = data else {
        return;
    };
    let from = if who % 2 == 0 { Side::Client } else { Side::Server };
    let max = MAX_FRAMES[*m as usize % MAX_FRAMES.len()];
    let n = (*n as usize % 16).min(rest.len());
    let (sizes, stream) = rest.split_at(n);
    let mut d = Decoder::new(FrameSpec::ModbusRtu, max).reading(from);
    let mut frames: Vec<Vec<u8>> = Vec::new();
    let mut left = stream;
    let mut failed = false;
    let mut drain = |d: &mut Decoder, frames: &mut Vec<Vec<u8>>| -> bool {
        loop {
            match d.next_frame() {
                Ok(Some(f)) => {
                    assert!(!f.is_empty(), "empty frame");
                    assert!(f.len() <= max, "frame of {} over {max}", f.len());
                    frames.push(f.to_vec());
                }
                Ok(None) => return false,
                Err(_) => return true,
            }
        }
    };
    for &b in sizes.iter().chain(std::iter::once(&0x7f)).cycle() {
        if left.is_empty() || failed {
            break;
        }
        let (chunk, after) = left.split_at(((b & 0x7f) as usize).max(1).min(left.len()));
        left = after;
        d.push(chunk);
        failed = drain(&mut d, &mut frames);
        if b & 0x80 != 0 && !failed {
            d.release();
            let held = d.buffered();
            failed = drain(&mut d, &mut frames);
            // A silence releases everything that was held, unless too large.
            assert!(failed || d.buffered() == 0 || held > max, "held after a silence");
        }
    }
    if failed {
        return;
    }
    let rest = d.finish().map(|b| b.to_vec());
    let mut joined = frames.concat();
    joined.extend(rest.iter().flatten());
    assert_eq!(joined, &stream[..stream.len() - left.len()], "frames do not rebuild the line");
});
