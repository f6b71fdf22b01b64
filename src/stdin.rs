//! Stdin for the clients, read one way: `send` streams its chunks, the
//! piped `repl` splits them into lines, UDP `send` collects them into one
//! datagram.
//!
//! tokio's own stdin hands every read to its blocking pool (a thread hop
//! per read), which dominates a one-shot `echo hello | p1ge0n send`.
//! Instead: a pipe or socket is read non-blocking through the runtime's
//! poller (no thread at all), and anything else (a file, a terminal) gets
//! one plain reader thread.

use tokio::sync::mpsc;

/// Stdin as a stream of chunks, in order, ending at end of input (an error
/// is the last item). Must be called inside the runtime.
pub fn chunks() -> mpsc::Receiver<std::io::Result<Vec<u8>>> {
    let (tx, rx) = mpsc::channel(4);
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
async fn read_pollable_stdin(tx: &mpsc::Sender<std::io::Result<Vec<u8>>>) -> std::io::Result<()> {
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

/// All of stdin (UDP `send`: one datagram).
pub async fn read_all() -> std::io::Result<Vec<u8>> {
    let mut chunks = chunks();
    let mut data = Vec::new();
    while let Some(chunk) = chunks.recv().await {
        data.extend_from_slice(&chunk?);
    }
    Ok(data)
}

/// Stdin lines without their LF or CRLF (a script edited on Windows means
/// the same as one edited on Linux), as bytes: UTF-8 is checked by the
/// caller so that its error can name the line. A last line without LF
/// counts.
pub fn lines() -> mpsc::Receiver<std::io::Result<Vec<u8>>> {
    let (tx, rx) = mpsc::channel(16);
    let mut chunks = chunks();
    tokio::spawn(async move {
        let mut pending = Vec::new();
        while let Some(chunk) = chunks.recv().await {
            let chunk = match chunk {
                Ok(chunk) => chunk,
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                    return;
                }
            };
            pending.extend_from_slice(&chunk);
            let mut start = 0;
            while let Some(end) = memchr::memchr(b'\n', &pending[start..]) {
                let line = strip_line_end(&pending[start..start + end]).to_vec();
                start += end + 1;
                if tx.send(Ok(line)).await.is_err() {
                    return;
                }
            }
            pending.drain(..start);
        }
        if !pending.is_empty() {
            let _ = tx.send(Ok(pending)).await;
        }
    });
    rx
}

fn strip_line_end(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}
