//! `p1ge0n replay` (in progress).

use anyhow::Result;

use crate::{
    cli::ReplayArgs,
    exit::{self, ExitCode},
};

pub fn run(_args: ReplayArgs) -> Result<ExitCode> {
    Err(exit::usage("replay is not implemented yet"))
}
