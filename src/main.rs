//! p1ge0n: parse the command line, run one subcommand, map the outcome to
//! an exit status. Nothing else lives here; how the process starts and ends
//! is `process`'s business.

use clap::Parser;
use p1ge0n::{cli, cmd, docs, exit, process};

fn main() -> std::process::ExitCode {
    process::init();
    let cli = cli::Cli::parse();
    let outcome = match cli.command {
        cli::Command::Listen(args) => cmd::listen::run(args.0),
        cli::Command::Send(args) => cmd::send::run(args.0),
        cli::Command::Repl(args) => cmd::repl::run(args.0),
        cli::Command::Replay(args) => cmd::replay::run(args.0),
        cli::Command::Proxy(args) => cmd::proxy::run(args.0),
        cli::Command::Completions { shell } => docs::print_completion(shell),
        cli::Command::Generate { dir } => docs::write_all(&dir),
    };
    let code = match outcome {
        Ok(code) => code,
        Err(err) => {
            if let Some(exit::PassThrough(status)) = err.downcast_ref() {
                return std::process::ExitCode::from(*status);
            }
            p1ge0n::say!("p1ge0n: {err:#}");
            exit::classify(&err)
        }
    };
    std::process::ExitCode::from(process::exit_status(code))
}
