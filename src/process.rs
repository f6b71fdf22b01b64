//! The process around a subcommand: how it starts (SIGPIPE), what it may
//! open (the descriptor limit) and how it ends (dying by the signal that
//! stopped it). One place, so that every subcommand starts and ends alike.
//!
//! The binary is an ordinary position-independent executable started by
//! std's `main` (DESIGN.md, "Build policy"): std's runtime already reopens
//! descriptors 0-2 on `/dev/null` when the caller closed them (so a socket
//! never becomes stdout), installs the stack-overflow guard and captures
//! argv; nothing here repeats that.

use crate::exit::ExitCode;

/// Behave like other Unix filters when stdout goes away (`| head`): die
/// quietly on SIGPIPE instead of reporting "broken pipe". Sockets are
/// unaffected: Rust writes to them with MSG_NOSIGNAL. Call first in `main`,
/// before any thread exists.
pub fn init() {
    // SAFETY: setting a signal's disposition before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Raise the open-file limit to its hard maximum, so that thousands of
/// connections work without the user running `ulimit -n` first. Failure is
/// harmless: we keep the limit we were given. Returns the limit in force.
pub fn raise_fd_limit() -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return None;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                return Some(raised.rlim_cur);
            }
        }
    }
    Some(limit.rlim_cur)
}

/// The process's end. A shell loop such as `for i in 1 2 3; do p1ge0n send
/// ...; done` stops at Ctrl-C only if the command it ran was killed by
/// SIGINT (bash checks `WIFSIGNALED`); exiting with status 130 is not
/// enough. So, like fd, a command that caught SIGINT or SIGTERM (and has
/// flushed its output and capture by now) re-raises it with its default
/// action. A caller that reads the exit status still sees 130 or 143.
/// Every other outcome returns the status to exit with.
pub fn exit_status(code: ExitCode) -> u8 {
    use std::io::Write;
    let signal = match code {
        ExitCode::Interrupted => libc::SIGINT,
        ExitCode::Terminated => libc::SIGTERM,
        _ => return code as u8,
    };
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    // SAFETY: restoring the default action and raising a signal at our own
    // process; nothing else runs by now (runtimes are shut down).
    unsafe {
        libc::signal(signal, libc::SIG_DFL);
        libc::raise(signal);
    }
    // Only reached if the signal is blocked by our parent's mask.
    code as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fd_limit_is_at_its_hard_maximum_after_raising() {
        let raised = raise_fd_limit().expect("getrlimit works");
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes the struct we pass.
        assert_eq!(
            unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) },
            0
        );
        assert_eq!(raised, limit.rlim_cur);
        assert_eq!(limit.rlim_cur, limit.rlim_max);
    }

    #[test]
    fn plain_outcomes_exit_with_their_status() {
        assert_eq!(exit_status(ExitCode::Success), 0);
        assert_eq!(exit_status(ExitCode::Mismatch), 5);
    }
}
