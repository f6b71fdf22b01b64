//! `p1ge0n repl` (in progress).

use anyhow::Result;

use crate::{
    cli::ReplArgs,
    exit::{self, ExitCode},
};

pub fn run(_args: ReplArgs) -> Result<ExitCode> {
    Err(exit::usage("repl is not implemented yet"))
}
