//! One module per subcommand, each a composition of the shared core
//! (payload, frame, reply, record, display, capture, flow, ...) and the
//! shells around it (net, exchange, relay, output, stdin); see
//! `docs/ARCHITECTURE.md`. Shared submodules hold what several subcommands
//! do around their own work: `inputs` (validating what clap cannot), `run`
//! (running until done or interrupted) and `server` (everything a server
//! does besides serving a connection, for `listen`, `proxy` and `replay
//! --serve`).

pub mod inputs;
pub mod listen;
pub mod proxy;
pub mod repl;
pub mod replay;
pub mod run;
pub mod send;
pub mod server;
