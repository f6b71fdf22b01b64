//! Payload syntax (`--send`, `--eol`, `delim=`, script lines): any string
//! given to `parse_text` / `parse_hex` must return Ok or Err, never panic.
//!
//! Properties checked:
//! - text: on Ok, `escape(bytes)` is ASCII and parses back to the same bytes;
//!   a string without a backslash is its own UTF-8 bytes.
//! - hex: on Ok, at most one byte per two input bytes, and the bytes written
//!   back as `0xHH` tokens parse to the same bytes.
//! - both: an error's column lies within the input (1 ..= chars + 1).
//! - `escape` of the raw fuzzer bytes (any bytes, not only UTF-8) is lossless.
#![no_main]

use libfuzzer_sys::fuzz_target;
use p1ge0n::payload::{escape, parse_hex, parse_text};

/// The longest valid UTF-8 prefix, so no input is wasted on a UTF-8 check.
fn utf8_prefix(data: &[u8]) -> &str {
    match std::str::from_utf8(data) {
        Ok(s) => s,
        Err(e) => std::str::from_utf8(&data[..e.valid_up_to()]).unwrap(),
    }
}

fuzz_target!(|data: &[u8]| {
    let input = utf8_prefix(data);
    let columns = input.chars().count() + 1;

    match parse_text(input) {
        Ok(bytes) => {
            let escaped = escape(&bytes);
            assert!(escaped.is_ascii());
            assert_eq!(
                parse_text(&escaped).as_deref(),
                Ok(&bytes[..]),
                "{escaped:?}"
            );
            if !input.contains('\\') {
                assert_eq!(bytes, input.as_bytes());
            }
        }
        Err(e) => assert!((1..=columns).contains(&e.column), "{input:?}: {e}"),
    }

    match parse_hex(input) {
        Ok(bytes) => {
            assert!(bytes.len() <= input.len() / 2);
            let written: Vec<String> = bytes.iter().map(|b| format!("0x{b:02X}")).collect();
            assert_eq!(parse_hex(&written.join(", ")), Ok(bytes));
        }
        Err(e) => assert!((1..=columns).contains(&e.column), "{input:?}: {e}"),
    }

    // escape is documented as never lossy for *any* bytes.
    let escaped = escape(data);
    assert_eq!(parse_text(&escaped).as_deref(), Ok(data));
});
