//! The end-to-end tests, built as one test binary (the layout ripgrep, fd
//! and xh use): one module per subject, sharing the fixtures in `util`.
//! One binary links once instead of once per file, and the modules share
//! helpers without `#![allow(dead_code)]`.
//!
//! Run one subject with `cargo test --test it replay::`, one test with
//! `cargo test --test it replay::timing -- --nocapture`.
//!
//! Tests that measure wall time or resources (CPU, memory) live in
//! `serial` and are run on their own, one at a time (see `serial/mod.rs`
//! and `scripts/test`).

// Tests and benches are not the product: they may print with eprintln!
// (clippy.toml forbids it only so that p1ge0n's own lines go through say!).
#![allow(clippy::disallowed_macros)]

mod util;

mod architecture;
mod bad_input;
mod captures_compat;
mod connection;
mod decode;
mod decode_plant;
mod docs;
mod exec;
mod exit_status;
mod fault_injection;
mod faults;
mod framing;
mod listen;
mod load;
mod multicast;
mod pcap_out;
mod proxy;
mod readme;
mod recorder;
mod repl;
mod replay;
mod replay_pcap;
mod rtu;
mod rules;
mod security;
mod send;
mod serial;
mod serve;
mod startup;
mod tls;
mod unix;
