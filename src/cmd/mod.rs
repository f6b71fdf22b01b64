//! One module per subcommand, each a composition of the shared core
//! (payload, frame, reply, record, display, capture) and the shells around
//! it (net, exchange, output, stdin); see `docs/ARCHITECTURE.md`. The two
//! helpers here are what every subcommand does before and after its work:
//! validating inputs, and running until done or interrupted.

pub mod inputs;
pub mod listen;
pub mod repl;
pub mod replay;
pub mod run;
pub mod send;
