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

/// Ignore SIGPIPE from now on: servers that write to programs' pipes
/// (`--exec`, `--exec-each`) get an error from a write to a program that
/// has exited, never a signal that would end every connection. (Sockets
/// never raise it; stdout then fails with an error the output reports.)
pub fn ignore_sigpipe() {
    // SAFETY: setting a signal's disposition; no handler runs.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
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

/// The size from which an allocation gets pages of its own, returned to the
/// system when freed (and past which the heap top is trimmed).
const ALLOCATOR_OWN_PAGES_FROM: i32 = 1 << 20;

/// Make a long-running server give memory back (issue 26, bug 4). glibc's
/// malloc raises its mmap threshold each time a large block is freed, up to
/// 32 MiB: after the first burst, the output's multi-MiB batches and every
/// large message come from the heap, which keeps what it once held. Pinned
/// at 1 MiB, those get pages of their own and give them back. Measured with
/// `scripts/soak MODE 1 --capture` (100 hostile clients, lines up to 64 KiB;
/// BENCHMARKS.md, "Memory under hostile load"): RSS under load falls from
/// 39 to 11 MB (listen) and 65 to 32 MB (proxy). 128 KiB gave the same
/// memory but cost a third of the bulk rate with a 128 KiB window (the
/// 256 KiB bulk buffer, given back each time the socket drains, became an
/// mmap and 64 page faults per drain); at 1 MiB the bulk rate is unchanged.
/// This is glibc's own documented tuning (`mallopt`, the same as
/// `GLIBC_TUNABLES=glibc.malloc.mmap_threshold=1048576`), not a link trick.
/// Other C libraries (musl) need none. Servers call it before their runtime
/// starts; one-shot clients skip it.
pub fn tune_allocator_for_servers() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets malloc parameters; it is called before the
    // server's runtime spawns its threads.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, ALLOCATOR_OWN_PAGES_FROM);
        libc::mallopt(libc::M_TRIM_THRESHOLD, ALLOCATOR_OWN_PAGES_FROM);
    }
}

/// Give the memory the allocator holds free back to the system: glibc keeps
/// freed pages inside its heaps (a 64 KiB relay buffer freed between two
/// live blocks cannot be trimmed from the top); `malloc_trim` returns every
/// whole free page. Servers call it when their last connection closes (at
/// most once a second): after the same soak, RSS is 7.5 MB (listen) and
/// 8.5 MB (proxy) instead of 23 and 28 MB.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks and trims the allocator's own heaps.
    unsafe {
        libc::malloc_trim(0);
    }
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
