//! p1ge0n: parse the command line, run one subcommand, map the outcome to
//! an exit status. Nothing else lives here.

use clap::Parser;
use p1ge0n::{cli, cmd, docs, exit};

fn main() -> std::process::ExitCode {
    // Behave like other Unix filters when stdout goes away (`| head`): die
    // quietly on SIGPIPE instead of reporting "broken pipe". Sockets are
    // unaffected: Rust writes to them with MSG_NOSIGNAL.
    #[cfg(unix)]
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = cli::Cli::parse();
    let outcome = match cli.command {
        cli::Command::Listen(args) => cmd::listen::run(args),
        cli::Command::Send(args) => cmd::send::run(args),
        cli::Command::Repl(args) => cmd::repl::run(args),
        cli::Command::Replay(args) => cmd::replay::run(args),
        cli::Command::Proxy(args) => cmd::proxy::run(args),
        cli::Command::Completions { shell } => docs::print_completion(shell),
        cli::Command::Generate { dir } => docs::write_all(&dir),
    };
    let code = match outcome {
        Ok(code) => code,
        Err(err) => {
            eprintln!("p1ge0n: {err:#}");
            exit::classify(&err)
        }
    };
    cmd::run::exit(code)
}
