//! `listen --rules FILE`: any file text given to `Rules::parse` must return
//! Ok or Err, never panic; the rules of a file that parses must answer any
//! message without panicking (a short request for a `{{req[A..B]}}` range
//! is an `Err` reply, not a panic).
//!
//! Input layout: the first byte splits the data into the file text (UTF-8
//! prefix) and a message to answer.
#![no_main]

use libfuzzer_sys::fuzz_target;
use p1ge0n::rules::Rules;

fn utf8_prefix(data: &[u8]) -> &str {
    match std::str::from_utf8(data) {
        Ok(s) => s,
        Err(e) => std::str::from_utf8(&data[..e.valid_up_to()]).unwrap(),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&split, rest)) = data.split_first() else {
        return;
    };
    let cut = (split as usize).min(rest.len());
    let (file, message) = rest.split_at(rest.len() - cut);
    match Rules::parse(utf8_prefix(file)) {
        Ok(rules) => {
            for _ in 0..2 {
                let answer = rules.answer(message);
                if answer.rule.is_none() {
                    assert!(answer.reply.is_ok());
                }
            }
        }
        Err(e) => assert!(e.line >= 1),
    }
});
