//! Servers' sockets: bind a TCP or Unix stream [`Listener`] (replacing a
//! Unix socket file its dead server left behind) or a UDP socket.
//!
//! It exists so that every server binds the same way: the wildcard is
//! dual-stack, TCP gets a deep accept backlog, and a failure names the
//! address with what usually causes it.

use std::{
    io,
    net::{Ipv4Addr, Ipv6Addr, SocketAddr},
};

use anyhow::Result;
use tokio::net::{TcpListener, UdpSocket};

use crate::exit::{self, ExitCode};

use super::{
    addr::{BindAddr, ListenAddr, UnixPath},
    error::{bind_error, describe_io},
    stream::{self, Listener},
};

/// Bind a stream listener: TCP, or a Unix socket. The note, if any, is
/// for the log after the `listening on` line (which scripts read first).
pub async fn bind_stream(addr: &ListenAddr) -> Result<(Listener, Option<String>)> {
    match addr {
        ListenAddr::Ip(addr) => bind_tcp(addr).await.map(|l| (Listener::Tcp(l), None)),
        ListenAddr::Unix(path) => bind_unix(*path),
        ListenAddr::Serial(line) => Ok((Listener::serial(*line)?, None)),
    }
}

/// Bind a Unix socket at `path`. A socket file already there is removed
/// only when no server listens on it (left by one that died); a live
/// server, or a file that is not a socket, is an error and stays as it is.
///
/// Liveness is read from the kernel's table of Unix sockets
/// (`/proc/net/unix`) rather than by connecting: a connection would be a
/// client to a live server (and end one running `--once`). Connecting is
/// the fallback where that table is not readable, or names the socket by
/// another spelling of its path.
fn bind_unix(path: UnixPath) -> Result<(Listener, Option<String>)> {
    use std::os::unix::fs::FileTypeExt;
    let fail =
        |why: String| exit::error(ExitCode::Failure, format!("cannot listen on {path}: {why}"));
    let bound = |listener: tokio::net::UnixListener| {
        Listener::Unix(listener, path, stream::file_id(path.0))
    };
    match tokio::net::UnixListener::bind(path.0) {
        Ok(listener) => return Ok((bound(listener), None)),
        Err(e) if e.kind() != io::ErrorKind::AddrInUse => return Err(fail(describe_io(&e))),
        Err(_) => {}
    }
    let is_socket = std::fs::symlink_metadata(path.0).is_ok_and(|m| m.file_type().is_socket());
    if !is_socket {
        return Err(fail(
            "a file that is not a socket is there (p1ge0n leaves it alone)".into(),
        ));
    }
    let live = "another program is listening there".to_string();
    match unix_listening(path.0) {
        Some(true) => return Err(fail(live)),
        Some(false) => {}
        None => match std::os::unix::net::UnixStream::connect(path.0) {
            Ok(_) => return Err(fail(live)),
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {}
            Err(e) => return Err(fail(describe_io(&e))),
        },
    }
    std::fs::remove_file(path.0).map_err(|e| fail(describe_io(&e)))?;
    let note = format!("replaced the stale socket {path} (no server was listening on it)");
    tokio::net::UnixListener::bind(path.0)
        .map(|listener| (bound(listener), Some(note)))
        .map_err(|e| fail(describe_io(&e)))
}

/// Whether a listening Unix socket is bound to `path`, by the kernel's
/// table (`None`: the table cannot be read).
fn unix_listening(path: &str) -> Option<bool> {
    let table = std::fs::read_to_string("/proc/net/unix").ok()?;
    let absolute = std::path::absolute(path).ok();
    let listening = table.lines().skip(1).any(|line| {
        // Num RefCount Protocol Flags Type St Inode Path; Flags has
        // __SO_ACCEPTCON (0x10000) for a listening socket.
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (Some(flags), Some(bound)) = (fields.get(3), fields.get(7)) else {
            return false;
        };
        let accepting = u32::from_str_radix(flags, 16).is_ok_and(|f| f & 0x10000 != 0);
        let same = *bound == path || absolute.as_deref() == Some(std::path::Path::new(bound));
        accepting && same
    });
    Some(listening)
}

/// Bind a TCP listener with a deep accept backlog (hundreds of PLC
/// simulators may connect at once).
async fn bind_tcp(addr: &BindAddr) -> Result<TcpListener> {
    let mut last = None;
    for candidate in bind_addrs(addr).await? {
        match new_socket(candidate, socket2::Type::STREAM).and_then(|s| {
            s.listen(4096)?;
            TcpListener::from_std(s.into())
        }) {
            Ok(listener) => return Ok(listener),
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => return Err(bind_error(candidate, e)),
            Err(e) => last = Some(bind_error(candidate, e)),
        }
    }
    Err(last.unwrap_or_else(|| exit::usage("no address to listen on")))
}

/// Bind a UDP socket (dual-stack for the wildcard, like TCP).
pub async fn bind_udp(addr: &ListenAddr) -> Result<UdpSocket> {
    let mut last = None;
    for candidate in bind_addrs(addr.ip("UDP (-u)")?).await? {
        match new_socket(candidate, socket2::Type::DGRAM)
            .and_then(|s| UdpSocket::from_std(s.into()))
        {
            Ok(socket) => return Ok(socket),
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => return Err(bind_error(candidate, e)),
            Err(e) => last = Some(bind_error(candidate, e)),
        }
    }
    Err(last.unwrap_or_else(|| exit::usage("no address to listen on")))
}

/// The addresses `listen` binds: the named host's, or with no host the
/// IPv6 wildcard in dual-stack mode (IPv4 clients too), falling back to
/// 0.0.0.0 where IPv6 is unavailable.
async fn bind_addrs(addr: &BindAddr) -> Result<Vec<SocketAddr>> {
    match &addr.host {
        None => Ok(vec![
            (Ipv6Addr::UNSPECIFIED, addr.port).into(),
            (Ipv4Addr::UNSPECIFIED, addr.port).into(),
        ]),
        Some(host) => {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), addr.port))
                .await
                .map_err(|e| exit::usage(format!("cannot listen on '{host}': {e}")))?
                .collect();
            Ok(addrs)
        }
    }
}

fn new_socket(addr: SocketAddr, kind: socket2::Type) -> io::Result<socket2::Socket> {
    use socket2::{Domain, Socket};
    let socket = Socket::new(Domain::for_address(addr), kind, None)?;
    if addr.is_ipv6() {
        // Dual-stack only for the wildcard: a named IPv6 address is meant literally.
        let v6only = !addr.ip().is_unspecified();
        socket.set_only_v6(v6only)?;
    }
    if kind == socket2::Type::STREAM {
        socket.set_reuse_address(true)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    Ok(socket)
}
