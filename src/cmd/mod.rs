//! One module per subcommand, each a composition of the shared core
//! (payload, frame, reply, record, display, capture) and the shells around
//! it (net, exchange, output, stdin); see `docs/ARCHITECTURE.md`. Two
//! submodules hold what every subcommand does before and after its work:
//! `inputs` (validating what clap cannot) and `run` (running until done or
//! interrupted).

pub mod inputs;
pub mod listen;
pub mod proxy;
pub mod repl;
pub mod replay;
pub mod run;
pub mod send;
pub mod server;
