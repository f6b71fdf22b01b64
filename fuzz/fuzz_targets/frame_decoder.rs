//! The frame decoder fed remote bytes: what a hostile or broken peer sends
//! must never panic the decoder, make it invent or lose bytes, or let a frame
//! exceed `--max-frame`.
//!
//! Input layout (all choices are taken modulo the list lengths):
//!   byte 0          which spec (SPECS)
//!   byte 1          which max_frame (MAX_FRAMES)
//!   byte 2          n = number of chunk-size bytes (0..=15)
//!   next n bytes    chunk sizes, used cyclically: low 7 bits = size (0 is an
//!                   empty read), high bit = append through `buffer_mut`
//!                   (the socket path) instead of `push`
//!   the rest        the byte stream from the peer
//!
//! Properties checked:
//! - frames are non-empty and at most max_frame bytes (raw excepted: it has
//!   no boundary to enforce a limit on);
//! - after an error the decoder stays poisoned and `finish` returns None;
//! - frames + finish + skipped never exceed the input; without an error they
//!   account for it exactly, and (except stx-etx, which drops bytes between
//!   frames) concatenate back to the input;
//! - stx-etx frames start with STX and end with ETX;
//! - the outcome does not depend on the chunking: the whole stream pushed at
//!   once gives the same frames and the same error-or-not (and the same rest
//!   and skipped count when there is no error); raw excepted;
//! - read as the faulted proxy reads (`take_between` before each frame),
//!   the pieces rebuild the stream exactly, stx-etx included, and nothing
//!   is skipped.
#![no_main]

use libfuzzer_sys::fuzz_target;
use p1ge0n::frame::{Decoder, FrameSpec, DEFAULT_MAX_FRAME};

const SPECS: &[&str] = &[
    "raw",
    "line",
    "crlf",
    "cr",
    "delim=\\r\\n",
    "delim=END",
    "stx-etx",
    "fixed=7",
    "len=u8",
    "len=u16be,offset=2,includes-header",
    "len=u32le",
    "len=u16le,offset=1",
    "len=u32be,includes-header",
    "len=u16le,offset=2,header=24",
];

const MAX_FRAMES: &[usize] = &[
    0,
    1,
    2,
    6,
    7,
    8,
    16,
    255,
    256,
    4096,
    65_535,
    DEFAULT_MAX_FRAME,
];

#[derive(Debug, PartialEq)]
struct Outcome {
    frames: Vec<Vec<u8>>,
    error: bool,
    rest: Option<Vec<u8>>,
    skipped: u64,
}

/// Drains every complete frame; returns whether the decoder failed.
fn drain(d: &mut Decoder, spec: &FrameSpec, max: usize, frames: &mut Vec<Vec<u8>>) -> bool {
    loop {
        match d.next_frame() {
            Ok(Some(f)) => {
                assert!(!f.is_empty(), "empty frame");
                assert!(
                    f.len() <= max || *spec == FrameSpec::Raw,
                    "frame of {} bytes over max_frame {max}",
                    f.len()
                );
                frames.push(f.to_vec());
            }
            Ok(None) => return false,
            Err(e) => {
                assert_eq!(d.next_frame(), Err(e), "not poisoned");
                return true;
            }
        }
    }
}

/// Feeds `chunks` (bool: through buffer_mut), draining after each.
fn run(spec: &FrameSpec, max: usize, chunks: &[(&[u8], bool)]) -> Outcome {
    let mut d = Decoder::new(spec.clone(), max);
    let mut frames = Vec::new();
    let mut error = false;
    for &(chunk, via_buffer) in chunks {
        if via_buffer {
            d.buffer_mut().extend_from_slice(chunk);
        } else {
            d.push(chunk);
        }
        if drain(&mut d, spec, max, &mut frames) {
            error = true;
            break;
        }
    }
    if error {
        // A caller that keeps reading into a poisoned decoder gets nothing.
        d.push(b"\x02\x03\n\r\n");
        assert!(d.next_frame().is_err(), "not poisoned after more input");
    }
    let rest = d.finish().map(|b| b.to_vec());
    assert_eq!(d.buffered(), 0, "finish left bytes buffered");
    if error {
        assert_eq!(rest, None, "finish after an error returned bytes");
    }
    Outcome {
        frames,
        error,
        rest,
        skipped: d.skipped(),
    }
}

/// Feeds `chunks` as the faulted proxy reads: the bytes between frames
/// taken out before each frame. Returns every piece in order, and whether
/// the decoder failed.
fn run_keeping(spec: &FrameSpec, max: usize, chunks: &[(&[u8], bool)]) -> (Vec<u8>, bool) {
    let mut d = Decoder::new(spec.clone(), max);
    let mut pieces = Vec::new();
    for &(chunk, via_buffer) in chunks {
        if via_buffer {
            d.buffer_mut().extend_from_slice(chunk);
        } else {
            d.push(chunk);
        }
        loop {
            if let Some(between) = d.take_between() {
                assert!(!between.is_empty(), "an empty piece between frames");
                assert_ne!(between[0], 0x02, "a frame's STX taken as between");
                pieces.extend_from_slice(&between);
                continue;
            }
            match d.next_frame() {
                Ok(Some(f)) => pieces.extend_from_slice(&f),
                Ok(None) => break,
                Err(_) => return (pieces, true),
            }
        }
    }
    pieces.extend(d.finish().iter().flatten());
    assert_eq!(d.skipped(), 0, "skipped bytes while they were taken out");
    (pieces, false)
}

fuzz_target!(|data: &[u8]| {
    let [s, m, n, rest @ ..] = data else {
        return;
    };
    let spec: FrameSpec = SPECS[*s as usize % SPECS.len()].parse().unwrap();
    let max = MAX_FRAMES[*m as usize % MAX_FRAMES.len()];
    let n = (*n as usize % 16).min(rest.len());
    let (sizes, stream) = rest.split_at(n);

    let mut chunks: Vec<(&[u8], bool)> = Vec::new();
    if sizes.iter().all(|b| b & 0x7f == 0) {
        chunks.push((stream, sizes.first().is_some_and(|b| b & 0x80 != 0)));
    } else {
        let mut left = stream;
        for &b in sizes.iter().cycle() {
            if left.is_empty() {
                break;
            }
            let (chunk, after) = left.split_at(((b & 0x7f) as usize).min(left.len()));
            chunks.push((chunk, b & 0x80 != 0));
            left = after;
        }
    }

    let got = run(&spec, max, &chunks);
    let framed: usize = got.frames.iter().map(Vec::len).sum();
    let rest_len = got.rest.as_ref().map_or(0, Vec::len);
    let accounted = (framed + rest_len) as u64 + got.skipped;
    assert!(accounted <= stream.len() as u64, "decoder invented bytes");
    if !got.error {
        assert_eq!(accounted, stream.len() as u64, "decoder lost bytes");
        if spec != FrameSpec::StxEtx {
            let mut joined = got.frames.concat();
            joined.extend(got.rest.iter().flatten());
            assert_eq!(joined, stream, "frames do not rebuild the stream");
        }
    }
    if spec == FrameSpec::StxEtx {
        for f in &got.frames {
            assert!(
                f.len() >= 2 && f[0] == 0x02 && f[f.len() - 1] == 0x03,
                "{f:?}"
            );
        }
    } else {
        assert_eq!(got.skipped, 0, "only stx-etx skips bytes");
    }

    let (pieces, failed) = run_keeping(&spec, max, &chunks);
    assert_eq!(failed, got.error, "taking the bytes between changed the error");
    if !failed {
        assert_eq!(pieces, stream, "the pieces do not rebuild the stream");
    }

    if spec != FrameSpec::Raw {
        let whole = run(&spec, max, &[(stream, false)]);
        assert_eq!(got.frames, whole.frames, "frames depend on the chunking");
        assert_eq!(got.error, whole.error, "error depends on the chunking");
        if !got.error {
            assert_eq!(got, whole, "rest/skipped depend on the chunking");
        }
    }
});
