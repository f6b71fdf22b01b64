//! p1ge0n as a library: the I/O-free core (payload syntax, framing, reply
//! rules, records, display, captures, pcap, `--rules` files, JUnit reports,
//! units, exit statuses, Modbus RTU's wire format), the thin
//! I/O shells around it, and the subcommands built on both
//! (`docs/ARCHITECTURE.md`). The
//! binary in `main.rs` only parses the command line and dispatches; benches
//! and tests reach the core through this crate root.

pub mod append;
pub mod capture;
pub mod cli;
pub mod cmd;
pub mod decode;
pub mod display;
pub mod docs;
pub mod exchange;
pub mod exec;
pub mod exit;
pub mod fault;
pub mod flow;
pub mod frame;
pub mod junit;
pub mod net;
pub mod output;
pub mod payload;
pub mod pcap;
pub mod pcapng;
pub mod process;
pub mod program;
pub mod record;
pub mod relay;
pub mod reply;
pub mod rtu;
pub mod rules;
pub mod say;
pub mod schema;
pub mod stdin;
pub mod units;
