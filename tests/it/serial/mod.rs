//! The serial group: tests whose assertions depend on wall time or on the
//! machine's load (a delay measured by the clock, replay's schedule to the
//! millisecond, CPU ticks, RSS and peak memory). Run alongside the rest of
//! the suite they measure the other tests as much as p1ge0n, so
//! `scripts/test` (without arguments, as `.ci/run` calls it) runs the suite
//! with `--skip serial::` first, then this group alone with
//! `--test-threads=1`. Their assertions are the ones they had in their own
//! modules; each submodule is named after the module a test came from, so
//! `cargo test --test it listen::` still runs listen's, with the rest.
//!
//! Run the group as scripts/test does:
//! `cargo test --locked --test it serial:: -- --test-threads=1`.

mod exit_status;
mod faults;
mod listen;
mod proxy;
mod repl;
mod replay;
mod rules;
mod serve;
