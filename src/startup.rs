//! Process start-up and end, kept lean (Linux with glibc; elsewhere std's
//! runtime runs as usual and this module is empty).
//!
//! A one-shot `echo x | p1ge0n send HOST:PORT` in a CI loop is mostly
//! process start-up, and issue 15 asks it to be no slower than `nc -N`
//! (BENCHMARKS.md, "One-shot"). So the binary is `#![no_main]`: glibc calls
//! `main.rs`'s C `main` directly, without std's runtime set-up. That set-up
//! reads `/proc/self/maps` (glibc's `pthread_getattr_np`, for the main
//! thread's stack guard) and maps an alternate signal stack, about 0.08 ms
//! per run here. What it did that matters is kept:
//!
//! - [`init`]: stdin, stdout and stderr are reopened on `/dev/null` when the
//!   caller closed them, so a socket never becomes descriptor 1 and prints
//!   never reach a peer;
//! - `main` leaves through [`std::process::exit`], which flushes stdout;
//! - a panic on the main thread still ends the process with status 101, as
//!   std's `main` does (`main.rs` catches it).
//!
//! What is given up: a stack overflow (on any thread: std installs its
//! guard handler only from its runtime set-up) dies by SIGSEGV without
//! std's "has overflowed its stack" line, and the main thread's panic
//! message names it `<unnamed>`. `std::env::args` still works: glibc passes
//! them to std's initialiser, which is why this is for glibc only.
//!
//! Also here: [`pow`]. tokio's multi-thread scheduler calls `pow` once per
//! batch of tasks (`listen`, `proxy`) and is the only user of libm in the
//! binary. Defining it here (the pure-Rust `libm` crate, a port of musl's)
//! means the dynamic loader no longer maps and relocates `libm.so.6`, about
//! 0.05 ms of every run of every subcommand. It replaces `pow` (and so
//! `f64::powf`) in everything that links this crate: tests and benches too.

/// Open descriptors 0, 1 and 2 on `/dev/null` if they are closed, as std's
/// runtime does before `main` (on Linux, where poll reports a closed
/// descriptor as POLLNVAL).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn init() {
    let mut fds = [0, 1, 2].map(|fd| libc::pollfd {
        fd,
        events: 0,
        revents: 0,
    });
    // SAFETY: `fds` is a valid array of 3 pollfd for the whole call.
    loop {
        let polled = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 0) };
        if polled >= 0 {
            break;
        }
        if std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            // Out of memory for poll's table: too early to say anything.
            return;
        }
    }
    for pfd in fds.iter().filter(|p| p.revents & libc::POLLNVAL != 0) {
        // SAFETY: a C string literal; open returns the lowest free
        // descriptor, which is the closed one (lower ones are open).
        let fd = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR) };
        if fd != pfd.fd {
            // Nothing sensible to print to; std aborts here too.
            std::process::abort();
        }
    }
}

/// `pow(3)` for the one caller in the binary (tokio's scheduler statistics),
/// so that the binary does not need libm (see the module docs).
///
/// # Safety
/// Pure arithmetic on its arguments; it is `unsafe` only because a
/// `#[no_mangle]` symbol can be called from C.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[unsafe(no_mangle)]
pub extern "C" fn pow(x: f64, y: f64) -> f64 {
    libm::pow(x, y)
}

#[cfg(all(test, target_os = "linux", target_env = "gnu"))]
mod tests {
    use super::*;

    /// Against known values (not `f64::powf`, which is this same symbol in
    /// the test binary).
    #[test]
    fn pow_gives_known_values() {
        assert_eq!(pow(2.0, 10.0), 1024.0);
        assert_eq!(pow(10.0, -3.0), 0.001);
        assert_eq!(pow(9.0, 0.5), 3.0);
        assert_eq!(pow(0.0, 0.0), 1.0);
        assert_eq!(pow(-2.0, 3.0), -8.0);
        // tokio's use: 1 - (1 - alpha)^n, alpha = 0.1.
        assert!((pow(0.9, 7.0) - 0.478_296_9).abs() < 1e-15);
        assert!((pow(0.9, 0.5) - 0.948_683_298_050_513_8).abs() < 1e-15);
        assert!(pow(-1.0, 0.5).is_nan());
        assert_eq!(pow(2.0, 1024.0), f64::INFINITY);
    }

    /// The unwinder is linked statically (build.rs, `libgcc_eh.a`, this
    /// test binary included): a panic still unwinds and is caught, and a
    /// panicking tokio task is contained in its task, as a panicking
    /// connection task of `listen` must be.
    #[test]
    fn panics_unwind_with_the_static_unwinder() {
        let caught = std::panic::catch_unwind(|| panic!("on purpose"));
        assert!(caught.is_err());
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .build()
            .unwrap();
        let joined =
            rt.block_on(async { tokio::spawn(async { panic!("in a task, on purpose") }).await });
        assert!(joined.unwrap_err().is_panic());
        assert_eq!(rt.block_on(async { 2 + 2 }), 4, "the runtime survives");
    }
}
