//! p1ge0n: parse the command line, run one subcommand, map the outcome to
//! an exit status. Nothing else lives here.
//!
//! On Linux with glibc the binary is `#![no_main]`: glibc calls the C `main`
//! below directly, skipping std's runtime set-up, because a one-shot `send`
//! is mostly start-up (`startup` says what that set-up did and what is
//! kept). Elsewhere std's `main` runs as usual: std fills `std::env::args`
//! itself only with glibc.
#![cfg_attr(all(target_os = "linux", target_env = "gnu"), no_main)]

use clap::Parser;
use p1ge0n::{cli, cmd, docs, exit};

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[unsafe(no_mangle)]
extern "C" fn main(_argc: libc::c_int, _argv: *const *const libc::c_char) -> libc::c_int {
    p1ge0n::startup::init();
    // A panic has printed its message by now; end like std's `main` does.
    let code = std::panic::catch_unwind(run).unwrap_or(101);
    // std's clean-up (stdout flushed) runs here, as after std's `main`.
    std::process::exit(i32::from(code))
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(run())
}

fn run() -> u8 {
    // Behave like other Unix filters when stdout goes away (`| head`): die
    // quietly on SIGPIPE instead of reporting "broken pipe". Sockets are
    // unaffected: Rust writes to them with MSG_NOSIGNAL.
    // SAFETY: setting a signal's disposition before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
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
            eprintln!("p1ge0n: {err:#}");
            exit::classify(&err)
        }
    };
    cmd::run::exit(code)
}
