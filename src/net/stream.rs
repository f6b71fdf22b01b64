//! One byte-stream type for every stream transport: TCP, TLS over TCP,
//! Unix domain sockets and serial lines. Subcommands read and write a [`Stream`] (or its
//! two halves) and never name the transport; the transport is chosen once,
//! where the connection is made ([`super::connect()`]) or accepted
//! ([`Listener::accept`], plus [`super::tls::Server::accept`]).
//!
//! Why an enum and not `Box<dyn AsyncRead + AsyncWrite>`: the plain TCP
//! halves stay tokio's owned halves (no lock between reader and writer, the
//! hot path of `listen` and `proxy`), and the few socket-level things a
//! subcommand needs (readiness, reset) dispatch per variant here.

use std::{
    future::Future,
    io,
    os::fd::{AsRawFd, BorrowedFd, RawFd},
    pin::Pin,
    task::{Context, Poll, Waker},
    time::Duration,
};

use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{tcp, unix, TcpListener, TcpStream, UnixListener, UnixStream},
};
use tokio_rustls::TlsStream;

use crate::record::{Peer, Transport};

use super::{
    serial::{self, SerialAddr, SerialPort},
    UnixPath,
};

/// A connected byte stream.
pub enum Stream {
    Tcp(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
    /// A Unix stream socket, and the path it was reached or accepted on
    /// (its peer shows as that path).
    Unix(UnixStream, UnixPath),
    /// An open serial port, and its address (its peer shows as the line).
    Serial(SerialPort, SerialAddr),
}

impl Stream {
    /// Who is at the other end.
    pub fn peer(&self) -> io::Result<Peer> {
        Ok(match self {
            Stream::Tcp(s) => Peer::Ip(super::canonical(s.peer_addr()?)),
            Stream::Tls(s) => Peer::Ip(super::canonical(s.get_ref().0.peer_addr()?)),
            Stream::Unix(_, path) => Peer::Unix(path.0),
            Stream::Serial(_, line) => Peer::Serial(line.path),
        })
    }

    /// Our end: the local address, or the socket's path.
    pub fn local(&self) -> io::Result<Peer> {
        Ok(match self {
            Stream::Tcp(s) => Peer::Ip(super::canonical(s.local_addr()?)),
            Stream::Tls(s) => Peer::Ip(super::canonical(s.get_ref().0.local_addr()?)),
            Stream::Unix(_, path) => Peer::Unix(path.0),
            Stream::Serial(_, line) => Peer::Serial(line.path),
        })
    }

    /// What records and captures call this transport: TLS carries TCP
    /// (records hold the bytes inside TLS).
    pub fn transport(&self) -> Transport {
        match self {
            Stream::Tcp(_) | Stream::Tls(_) => Transport::Tcp,
            Stream::Unix(..) => Transport::Unix,
            Stream::Serial(..) => Transport::Serial,
        }
    }

    /// The transport as a program's environment names it
    /// (`P1GE0N_TRANSPORT`): `tcp`, `tls`, `unix` or `serial`.
    pub fn name(&self) -> &'static str {
        match self {
            Stream::Tcp(_) => "tcp",
            Stream::Tls(_) => "tls",
            Stream::Unix(..) => "unix",
            Stream::Serial(..) => "serial",
        }
    }

    /// The TCP socket underneath, for socket options (`--keepalive`).
    pub fn tcp(&self) -> Option<&TcpStream> {
        match self {
            Stream::Tcp(s) => Some(s),
            Stream::Tls(s) => Some(s.get_ref().0),
            Stream::Unix(..) | Stream::Serial(..) => None,
        }
    }

    /// The serial line's address, for what depends on its speed (the
    /// silence that ends a Modbus RTU frame).
    pub fn serial(&self) -> Option<&SerialAddr> {
        match self {
            Stream::Serial(_, line) => Some(line),
            _ => None,
        }
    }

    pub fn into_split(self) -> (ReadHalf, WriteHalf) {
        match self {
            Stream::Tcp(s) => {
                let (r, w) = s.into_split();
                (ReadHalf::Tcp(r), WriteHalf::Tcp(w))
            }
            Stream::Tls(s) => {
                let fd = s.get_ref().0.as_raw_fd();
                let (r, w) = tokio::io::split(*s);
                (ReadHalf::Tls(r), WriteHalf::Tls(w, fd))
            }
            Stream::Unix(s, _) => {
                let (r, w) = s.into_split();
                (ReadHalf::Unix(r), WriteHalf::Unix(w))
            }
            Stream::Serial(port, _) => match port.into_split() {
                Ok((r, w)) => (ReadHalf::Serial(r), WriteHalf::Serial(w)),
                // Out of descriptors: the halves fail on first use, as a
                // dead line would.
                Err(e) => (ReadHalf::Failed(Some(e)), WriteHalf::Pipe(None)),
            },
        }
    }
}

/// The reading half of a [`Stream`], or of a program's pipes (its stdout:
/// `exec.rs`), so that the relay and the exchanges move a child's bytes as
/// they move a socket's.
pub enum ReadHalf {
    Tcp(tcp::OwnedReadHalf),
    Tls(tokio::io::ReadHalf<TlsStream<TcpStream>>),
    Unix(unix::OwnedReadHalf),
    Pipe(tokio::process::ChildStdout),
    Serial(SerialPort),
    /// A stream that could not be split: its error, once.
    Failed(Option<io::Error>),
}

/// The writing half of a [`Stream`]. The TLS half keeps the socket's
/// descriptor (valid while either half lives) for [`WriteHalf::reset`].
/// A program's stdin is closed (its end of input) by a shutdown.
pub enum WriteHalf {
    Tcp(tcp::OwnedWriteHalf),
    Tls(tokio::io::WriteHalf<TlsStream<TcpStream>>, RawFd),
    Unix(unix::OwnedWriteHalf),
    Pipe(Option<tokio::process::ChildStdin>),
    Serial(SerialPort),
}

impl ReadHalf {
    /// Wait until a read would not block ([`ReadHalf::poll_read_ready`]);
    /// an error is left for the read that follows.
    pub async fn readable(&self) {
        std::future::poll_fn(|cx| self.poll_read_ready(cx)).await
    }

    /// Poll until a read would not block, without reading: the relay takes
    /// a buffer only then. TLS, pipes and lines cannot tell without reading
    /// (a readable socket may hold only part of a record), so they are
    /// ready at once and the read that follows waits. An error is left for
    /// that read to report.
    pub fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<()> {
        let ready = match self {
            ReadHalf::Tcp(r) => r.as_ref().poll_read_ready(cx),
            ReadHalf::Unix(r) => r.as_ref().poll_read_ready(cx),
            ReadHalf::Tls(_) | ReadHalf::Pipe(_) | ReadHalf::Serial(_) | ReadHalf::Failed(_) => {
                return Poll::Ready(())
            }
        };
        ready.map(|_| ())
    }

    /// Read what is already there into `buf`'s spare capacity, without
    /// waiting (`WouldBlock` when nothing is); `None` for TLS, whose records
    /// make "already there" a guess.
    pub fn try_read_buf(&mut self, buf: &mut bytes::BytesMut) -> Option<io::Result<usize>> {
        match self {
            ReadHalf::Tcp(r) => Some(r.try_read_buf(buf)),
            ReadHalf::Unix(r) => Some(r.try_read_buf(buf)),
            ReadHalf::Tls(_) | ReadHalf::Pipe(_) | ReadHalf::Serial(_) | ReadHalf::Failed(_) => {
                None
            }
        }
    }

    /// Read what is already there without waiting: `WouldBlock` when
    /// nothing is. TCP and Unix read the socket directly; TLS polls once
    /// outside tokio's task budget (which could otherwise say "would
    /// block" with bytes waiting).
    pub fn try_read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            ReadHalf::Tcp(r) => return r.try_read(buf),
            ReadHalf::Unix(r) => return r.try_read(buf),
            ReadHalf::Tls(_) | ReadHalf::Pipe(_) | ReadHalf::Serial(_) | ReadHalf::Failed(_) => {}
        }
        let mut cx = Context::from_waker(Waker::noop());
        let mut buf = ReadBuf::new(buf);
        let poll = tokio::task::unconstrained(std::future::poll_fn(|cx| {
            Pin::new(&mut *self).poll_read(cx, &mut buf)
        }));
        match std::pin::pin!(poll).poll(&mut cx) {
            Poll::Ready(Ok(())) => Ok(buf.filled().len()),
            Poll::Ready(Err(e)) => Err(e),
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
        }
    }
}

impl WriteHalf {
    /// Write all of `bytes` and make sure they leave: TLS holds a partly
    /// written record until flushed (TCP and Unix flush as a no-op).
    pub async fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        use tokio::io::AsyncWriteExt;
        self.write_all(bytes).await?;
        if self.flushes() {
            self.flush().await?;
        }
        Ok(())
    }

    /// Whether written bytes can wait in this half until it is flushed
    /// (a TLS record). The others' flush is a no-op, or worse for a line:
    /// it waits until the bytes are on the wire.
    pub fn flushes(&self) -> bool {
        matches!(self, WriteHalf::Tls(..))
    }

    /// End the connection abruptly: TCP (and TLS) with a reset (linger 0),
    /// a Unix socket (which has no reset) by shutting it down both ways.
    /// The connection's read half wakes with an end of stream. No FIN is
    /// sent first: the peer sees the failure, not a clean end.
    pub fn reset(self) {
        match self {
            WriteHalf::Tcp(w) => {
                abort(socket2::SockRef::from(w.as_ref()));
                w.forget();
            }
            WriteHalf::Tls(w, fd) => {
                // SAFETY: `fd` belongs to the TLS stream, which `w` (one of
                // its two halves) keeps open until it is dropped below.
                let fd = unsafe { BorrowedFd::borrow_raw(fd) };
                abort(socket2::SockRef::from(&fd));
                drop(w);
            }
            WriteHalf::Unix(w) => {
                let _ = socket2::SockRef::from(w.as_ref()).shutdown(std::net::Shutdown::Both);
                w.forget();
            }
            // A pipe has no reset: closing it is the end of input.
            WriteHalf::Pipe(w) => drop(w),
            // Nor has a line: the port is let go.
            WriteHalf::Serial(w) => drop(w),
        }
    }
}

fn abort(socket: socket2::SockRef<'_>) {
    let _ = socket.set_linger(Some(Duration::ZERO));
    let _ = socket.shutdown(std::net::Shutdown::Read);
}

/// A TLS peer that closes its TCP connection without a `close_notify`
/// (most devices, `nc`, a killed client) ends the stream, as it would on
/// TCP; rustls reports it as an unexpected end.
fn clean_end(poll: Poll<io::Result<()>>) -> Poll<io::Result<()>> {
    match poll {
        Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::UnexpectedEof => Poll::Ready(Ok(())),
        other => other,
    }
}

impl AsyncRead for ReadHalf {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ReadHalf::Tcp(r) => Pin::new(r).poll_read(cx, buf),
            ReadHalf::Tls(r) => clean_end(Pin::new(r).poll_read(cx, buf)),
            ReadHalf::Unix(r) => Pin::new(r).poll_read(cx, buf),
            ReadHalf::Pipe(r) => Pin::new(r).poll_read(cx, buf),
            ReadHalf::Serial(r) => Pin::new(r).poll_read(cx, buf),
            ReadHalf::Failed(e) => Poll::Ready(match e.take() {
                Some(e) => Err(e),
                None => Ok(()),
            }),
        }
    }
}

macro_rules! each_writer {
    ($value:expr, $w:ident => $body:expr, $closed:expr) => {
        match $value {
            WriteHalf::Tcp($w) => $body,
            WriteHalf::Tls($w, _) => $body,
            WriteHalf::Unix($w) => $body,
            WriteHalf::Serial($w) => $body,
            WriteHalf::Pipe(Some($w)) => $body,
            WriteHalf::Pipe(None) => $closed,
        }
    };
}

/// Writing to a program's stdin after closing it.
fn closed_pipe<T>() -> Poll<io::Result<T>> {
    Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()))
}

impl AsyncWrite for WriteHalf {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        each_writer!(self.get_mut(), w => Pin::new(w).poll_write(cx, buf), closed_pipe())
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        each_writer!(self.get_mut(), w => Pin::new(w).poll_write_vectored(cx, bufs), closed_pipe())
    }

    fn is_write_vectored(&self) -> bool {
        each_writer!(self, w => w.is_write_vectored(), false)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        each_writer!(self.get_mut(), w => Pin::new(w).poll_flush(cx), Poll::Ready(Ok(())))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            // The program sees the end of its input when the pipe closes.
            WriteHalf::Pipe(w) => {
                *w = None;
                Poll::Ready(Ok(()))
            }
            other => each_writer!(other, w => Pin::new(w).poll_shutdown(cx), Poll::Ready(Ok(()))),
        }
    }
}

/// A bound stream listener: TCP, or a Unix socket whose file it removes
/// when dropped (the server is done with it), if the file there is still
/// the one it bound (device and inode): never another server's.
pub enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener, UnixPath, Option<(u64, u64)>),
    Serial(SerialLine),
}

/// A server's serial line: one "connection" at a time, the line itself.
/// It is opened when the server starts (so that a missing device or a busy
/// port stops it there, with status 2) and opened again, every half second,
/// once the line in use has ended or failed (a USB adapter plugged back in).
pub struct SerialLine {
    addr: SerialAddr,
    opened: std::sync::Mutex<Option<SerialPort>>,
}

impl SerialLine {
    /// How often a server tries to open its line again.
    const REOPEN: Duration = Duration::from_millis(500);

    async fn accept(&self) -> SerialPort {
        if let Some(port) = self.opened.lock().unwrap_or_else(|e| e.into_inner()).take() {
            return port;
        }
        loop {
            tokio::time::sleep(Self::REOPEN).await;
            // Busy while the last connection still holds the line.
            if let Ok(port) = serial::open(&self.addr) {
                return port;
            }
        }
    }
}

/// Device and inode of the file at `path`.
pub(super) fn file_id(path: &str) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::symlink_metadata(path)
        .ok()
        .map(|m| (m.dev(), m.ino()))
}

impl Listener {
    /// A server's serial line, opened now.
    pub fn serial(addr: SerialAddr) -> anyhow::Result<Listener> {
        let port = serial::open(&addr)?;
        Ok(Listener::Serial(SerialLine {
            addr,
            opened: std::sync::Mutex::new(Some(port)),
        }))
    }

    /// The next connection and its peer, as accept(2) gave them (plain:
    /// TLS, when asked for, is the caller's next step, so that a slow
    /// handshake never holds up the accept loop).
    pub async fn accept(&self) -> io::Result<(Stream, Peer)> {
        match self {
            Listener::Tcp(l) => {
                let (stream, addr) = l.accept().await?;
                Ok((Stream::Tcp(stream), Peer::Ip(super::canonical(addr))))
            }
            Listener::Unix(l, path, _) => {
                let (stream, _) = l.accept().await?;
                Ok((Stream::Unix(stream, *path), Peer::Unix(path.0)))
            }
            Listener::Serial(line) => {
                let port = line.accept().await;
                Ok((
                    Stream::Serial(port, line.addr),
                    Peer::Serial(line.addr.path),
                ))
            }
        }
    }

    /// Where it listens.
    pub fn local(&self) -> io::Result<Peer> {
        Ok(match self {
            Listener::Tcp(l) => Peer::Ip(l.local_addr()?),
            Listener::Unix(_, path, _) => Peer::Unix(path.0),
            Listener::Serial(line) => Peer::Serial(line.addr.path),
        })
    }

    pub fn transport(&self) -> Transport {
        match self {
            Listener::Tcp(_) => Transport::Tcp,
            Listener::Unix(..) => Transport::Unix,
            Listener::Serial(_) => Transport::Serial,
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let Listener::Unix(_, path, Some(bound)) = self {
            if file_id(path.0) == Some(*bound) {
                let _ = std::fs::remove_file(path.0);
            }
        }
    }
}
