//! Process start-up and end, kept lean.
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
//! - [`exit`] leaves through [`std::process::exit`], which flushes stdout;
//! - a panic on the main thread still ends the process with status 101, as
//!   std's `main` does (`main.rs` catches it).
//!
//! What is given up: a stack overflow on the main thread dies by SIGSEGV
//! without std's "has overflowed its stack" line, and the main thread's
//! panic message names it `<unnamed>`. `std::env::args` still works (glibc
//! passes them to std's initialiser).
//!
//! Also here: [`pow`]. tokio's multi-thread scheduler calls `pow` once per
//! batch of tasks (`listen`, `proxy`) and is the only user of libm in the
//! binary. Defining it here (the pure-Rust `libm` crate, a port of musl's)
//! means the dynamic loader no longer maps and relocates `libm.so.6`, about
//! 0.05 ms of every run of every subcommand.

/// Open descriptors 0, 1 and 2 on `/dev/null` if they are closed, as std's
/// runtime does before `main`.
pub fn init() {
    let mut fds = [0, 1, 2].map(|fd| libc::pollfd {
        fd,
        events: 0,
        revents: 0,
    });
    // SAFETY: `fds` is a valid array of 3 pollfd for the whole call.
    let polled = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 0) };
    if polled < 0 {
        return;
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

/// End the process with `status` after flushing stdout (std's clean-up).
pub fn exit(status: u8) -> ! {
    std::process::exit(i32::from(status))
}

/// `pow(3)` for the one caller in the binary (tokio's scheduler statistics),
/// so that the binary does not need libm (see the module docs).
///
/// # Safety
/// Pure arithmetic on its arguments; it is `unsafe` only because a
/// `#[no_mangle]` symbol can be called from C.
#[unsafe(no_mangle)]
pub extern "C" fn pow(x: f64, y: f64) -> f64 {
    libm::pow(x, y)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pow_matches_the_float_methods() {
        for (x, y) in [
            (2.0, 10.0),
            (0.9, 7.0),
            (1.0 - 0.1, 0.5),
            (10.0, -3.0),
            (0.0, 0.0),
        ] {
            let expected: f64 = f64::powf(x, y);
            assert!(
                (pow(x, y) - expected).abs() <= expected.abs() * 1e-15,
                "{x}^{y}"
            );
        }
        assert!(pow(-1.0, 0.5).is_nan());
    }
}
