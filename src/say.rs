//! The process's own lines on stderr: connection events, warnings, the
//! summary, errors. Each goes out whole, in one `write(2)`, and a line that
//! cannot be written is dropped.
//!
//! Why not std's `eprintln!`: stderr is unbuffered, so it writes every
//! piece of its format separately (a "connected" line was 14 writes, about
//! 60% of a short connection's system calls in `listen -q`), lines of
//! several processes sharing one pipe could interleave mid-line, and it
//! panics when stderr fails. A server started with `--exec` ignores
//! SIGPIPE, so once its stderr reader had gone (`2>&1 | head -1`) every
//! connection's first line panicked and reset that connection. A
//! diagnostic that has nowhere to go is not worth a connection.
//! `clippy.toml` forbids `eprintln!` and `eprint!` in the crate, so this
//! stays the one way to stderr.

use std::{
    fmt,
    io::{self, Write},
};

/// Write one line to stderr, formatted like `eprintln!`, in one write.
#[macro_export]
macro_rules! say {
    () => {
        $crate::say::line(format_args!(""))
    };
    ($($arg:tt)*) => {
        $crate::say::line(format_args!($($arg)*))
    };
}

/// `args` and a newline to stderr, in one write; dropped if stderr fails.
pub fn line(args: fmt::Arguments<'_>) {
    let _ = write_whole(&mut io::stderr().lock(), args, true);
}

/// `args` to stderr without a newline (a progress line redrawn in place),
/// in one write; dropped if stderr fails.
pub fn text(args: fmt::Arguments<'_>) {
    let _ = write_whole(&mut io::stderr().lock(), args, false);
}

/// Format `args` (and a newline if `newline`), then hand it to `out` in one
/// `write_all`.
pub fn write_whole(
    out: &mut impl Write,
    args: fmt::Arguments<'_>,
    newline: bool,
) -> io::Result<()> {
    let mut whole = Vec::with_capacity(128);
    whole.write_fmt(args)?;
    if newline {
        whole.push(b'\n');
    }
    out.write_all(&whole)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records each write it is given.
    #[derive(Default)]
    struct Writes(Vec<Vec<u8>>);

    impl Write for Writes {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.push(buf.to_vec());
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_line_with_arguments_is_one_write() {
        let mut out = Writes::default();
        let (id, peer) = (7, "127.0.0.1:4000");
        write_whole(&mut out, format_args!("#{id} {peer} connected"), true).unwrap();
        assert_eq!(out.0, vec![b"#7 127.0.0.1:4000 connected\n".to_vec()]);
    }

    #[test]
    fn text_has_no_newline() {
        let mut out = Writes::default();
        write_whole(&mut out, format_args!("\r{}/{}", 3, 9), false).unwrap();
        assert_eq!(out.0, vec![b"\r3/9".to_vec()]);
    }

    #[test]
    fn a_failing_stderr_is_an_error_not_a_panic() {
        struct Closed;
        impl Write for Closed {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::Error::from(io::ErrorKind::BrokenPipe))
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let err = write_whole(&mut Closed, format_args!("x"), true).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
    }
}
