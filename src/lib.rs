//! p1ge0n as a library: the I/O-free core (payload syntax, framing, display,
//! units, addresses, exit statuses) and the subcommands built on it. The
//! binary in `main.rs` only parses the command line and dispatches; benches
//! and tests reach the core through this crate root.

pub mod append;
pub mod capture;
pub mod cli;
pub mod cmd;
pub mod display;
pub mod docs;
pub mod exchange;
pub mod exit;
pub mod frame;
pub mod net;
pub mod output;
pub mod payload;
pub mod pcap;
pub mod record;
pub mod reply;
pub mod stdin;
pub mod units;
