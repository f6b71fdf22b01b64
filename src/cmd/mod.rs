//! One module per subcommand; each is a composition of the shared core
//! (payload, frame, display, net) with its own socket loop.

pub mod listen;
pub mod repl;
pub mod replay;
pub mod send;

use anyhow::Result;

use crate::{exit, payload};

/// Parse a payload given on the command line (`what` names it in errors, e.g.
/// "payload 2" or "--expect"). Arguments arrive as raw OS strings so that
/// one that is not UTF-8 gets an error naming it, not clap's anonymous one;
/// only an `@FILE` path may be any bytes.
pub fn parse_payload_os(
    what: &str,
    arg: &std::ffi::OsStr,
    mode: payload::PayloadMode,
) -> Result<Vec<u8>> {
    use std::os::unix::ffi::OsStrExt;
    match (arg.to_str(), arg.as_bytes().strip_prefix(b"@")) {
        (Some(text), _) => parse_payload_arg(what, text, mode),
        (None, Some(path)) => read_payload_file(
            what,
            std::path::Path::new(std::ffi::OsStr::from_bytes(path)),
        ),
        (None, None) => Err(exit::usage(format!(
            "{what} '{}': not valid UTF-8 (write such bytes as \\xHH escapes, or use -x)",
            arg.to_string_lossy()
        ))),
    }
}

/// Parse a payload in text (a command-line argument, a repl line); `@FILE`
/// reads the file's bytes verbatim.
pub fn parse_payload_arg(what: &str, text: &str, mode: payload::PayloadMode) -> Result<Vec<u8>> {
    match text.strip_prefix('@') {
        Some(path) => read_payload_file(what, std::path::Path::new(path)),
        None => {
            payload::parse(text, mode).map_err(|e| exit::usage(format!("{what} '{text}': {e}")))
        }
    }
}

fn read_payload_file(what: &str, path: &std::path::Path) -> Result<Vec<u8>> {
    std::fs::read(path)
        .map_err(|e| exit::usage(format!("{what}: cannot read '{}': {e}", path.display())))
}

/// The payload mode for `-x/--hex`.
pub fn mode(hex: bool) -> payload::PayloadMode {
    if hex {
        payload::PayloadMode::Hex
    } else {
        payload::PayloadMode::Text
    }
}

/// Stdin as a stream of chunks. tokio's own stdin hands every read to its
/// blocking pool (a thread hop per read), which dominates a one-shot
/// `echo hello | p1ge0n send`. Instead: a pipe or socket is read
/// non-blocking through the runtime's poller (no thread at all), and
/// anything else (a file, a terminal) gets one plain reader thread. Must be
/// called inside the runtime.
pub fn stdin_chunks() -> tokio::sync::mpsc::Receiver<std::io::Result<Vec<u8>>> {
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    match stdin_kind() {
        StdinKind::Pollable => {
            tokio::spawn(async move {
                let result = read_pollable_stdin(&tx).await;
                if let Err(e) = result {
                    let _ = tx.send(Err(e)).await;
                }
            });
        }
        StdinKind::Other => {
            std::thread::Builder::new()
                .name("stdin".into())
                .spawn(move || {
                    use std::io::Read;
                    let mut stdin = std::io::stdin().lock();
                    let mut buf = vec![0u8; 64 * 1024];
                    loop {
                        let chunk = match stdin.read(&mut buf) {
                            Ok(0) => return,
                            Ok(n) => Ok(buf[..n].to_vec()),
                            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                            Err(e) => Err(e),
                        };
                        let failed = chunk.is_err();
                        if tx.blocking_send(chunk).is_err() || failed {
                            return;
                        }
                    }
                })
                .expect("spawn the stdin thread");
        }
    }
    rx
}

enum StdinKind {
    /// A pipe or socket: epoll can watch it.
    Pollable,
    /// A file (epoll refuses it), a terminal, anything else.
    Other,
}

fn stdin_kind() -> StdinKind {
    // SAFETY: fstat only fills the struct we pass.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    if unsafe { libc::fstat(libc::STDIN_FILENO, &mut st) } != 0 {
        return StdinKind::Other;
    }
    match st.st_mode & libc::S_IFMT {
        libc::S_IFIFO | libc::S_IFSOCK => StdinKind::Pollable,
        _ => StdinKind::Other,
    }
}

/// Read a pipe/socket stdin through the poller. Its O_NONBLOCK flag is set
/// for the duration and restored at the end (the flag belongs to the open
/// file, which a parent may share).
async fn read_pollable_stdin(
    tx: &tokio::sync::mpsc::Sender<std::io::Result<Vec<u8>>>,
) -> std::io::Result<()> {
    use tokio::io::{unix::AsyncFd, Interest};
    struct Fd {
        original_flags: libc::c_int,
    }
    impl std::os::fd::AsRawFd for Fd {
        fn as_raw_fd(&self) -> std::os::fd::RawFd {
            libc::STDIN_FILENO
        }
    }
    impl Drop for Fd {
        fn drop(&mut self) {
            // SAFETY: restoring the flags read below on our own stdin.
            unsafe { libc::fcntl(libc::STDIN_FILENO, libc::F_SETFL, self.original_flags) };
        }
    }
    // SAFETY: F_GETFL/F_SETFL on stdin, which stays open for the process.
    let original_flags = unsafe { libc::fcntl(libc::STDIN_FILENO, libc::F_GETFL) };
    if original_flags < 0
        || unsafe {
            libc::fcntl(
                libc::STDIN_FILENO,
                libc::F_SETFL,
                original_flags | libc::O_NONBLOCK,
            )
        } < 0
    {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: stdin (fd 0) stays open, and refers to the same pipe, for the
    // whole life of the process and so of this AsyncFd.
    let fd = unsafe { AsyncFd::register_with_interest(Fd { original_flags }, Interest::READABLE) }
        .map_err(std::io::Error::from)?;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let mut guard = fd.readable().await?;
        // SAFETY: reading into our own buffer from stdin.
        let n = unsafe { libc::read(libc::STDIN_FILENO, buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            match e.kind() {
                std::io::ErrorKind::WouldBlock => {
                    guard.clear_ready();
                    continue;
                }
                std::io::ErrorKind::Interrupted => continue,
                _ => return Err(e),
            }
        }
        if n == 0 {
            return Ok(());
        }
        if tx.send(Ok(buf[..n as usize].to_vec())).await.is_err() {
            return Ok(());
        }
    }
}

/// `--frame` against `--max-frame`: a framing whose smallest possible
/// message is already over the limit could never complete one, so it is a
/// usage error up front rather than a dropped connection later.
pub fn check_framing(args: &crate::cli::FrameArgs) -> Result<()> {
    use crate::frame::{FrameSpec, LenWidth};
    let max = args.max_frame.0;
    let smallest = match &args.frame {
        Some(FrameSpec::Fixed(n)) => *n,
        Some(FrameSpec::Len { width, offset, .. }) => {
            let width = match width {
                LenWidth::U8 => 1,
                LenWidth::U16Be | LenWidth::U16Le => 2,
                LenWidth::U32Be | LenWidth::U32Le => 4,
            };
            offset.saturating_add(width)
        }
        Some(FrameSpec::Delim(d)) => d.len(),
        _ => 0,
    };
    if smallest > max {
        let spec = args
            .frame
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default();
        return Err(exit::usage(format!(
            "--frame {spec}: its smallest message ({smallest} bytes) is larger than --max-frame {max}"
        )));
    }
    Ok(())
}
