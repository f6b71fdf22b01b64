//! Socket failures in words, and the exit status each one means.
//!
//! It exists so that one failure reads the same from every subcommand:
//! "could not connect" (status 3) for refused, unreachable, unresolved and
//! timed-out connections, a runtime error (status 1) for the rest, and
//! I/O errors without Rust's "(os error N)" where the kind already says it.
//! The other files in `net/` build their errors here.

use std::{
    fmt, io,
    net::{IpAddr, SocketAddr},
    time::Duration,
};

use crate::exit::{self, ExitCode};

use super::{
    addr::{SourceAddr, Target},
    tls,
    udp::Group,
};

/// An I/O error in words a user recognises, without Rust's "(os error N)" noise
/// where the kind already says it.
pub fn describe_io(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => "connection refused".into(),
        io::ErrorKind::ConnectionReset => "connection reset by peer".into(),
        io::ErrorKind::BrokenPipe => "connection closed by peer (broken pipe)".into(),
        io::ErrorKind::AddrInUse => "address already in use".into(),
        io::ErrorKind::TimedOut => "timed out".into(),
        _ => e.to_string(),
    }
}

/// A connection to `to` failed: "could not connect" (status 3).
pub(super) fn connect_error(to: impl fmt::Display, e: &io::Error) -> anyhow::Error {
    exit::error(
        ExitCode::Connect,
        format!("could not connect to {to}: {}", describe_io(e)),
    )
}

/// A connection attempt to `to` took longer than `--timeout` allows.
pub(super) fn connect_timeout(to: SocketAddr, timeout: Duration) -> anyhow::Error {
    exit::error(
        ExitCode::Connect,
        format!(
            "could not connect to {to}: timed out after {}",
            humantime::format_duration(timeout)
        ),
    )
}

/// Connecting a UDP socket to `target` failed; the kernel refuses a
/// broadcast address without `--broadcast`.
pub(super) fn udp_connect_error(target: impl fmt::Display, e: &io::Error) -> anyhow::Error {
    let hint = match e.kind() {
        io::ErrorKind::PermissionDenied => " (a broadcast address needs --broadcast)",
        _ => "",
    };
    exit::error(
        ExitCode::Connect,
        format!("could not connect to {target}: {}{hint}", describe_io(e)),
    )
}

/// Binding the `--source` address failed (not this machine's, in use).
pub(super) fn source_error(local: SocketAddr, e: &io::Error) -> anyhow::Error {
    exit::error(
        ExitCode::Connect,
        format!(
            "cannot connect from --source {}: {}",
            SourceAddr(local),
            describe_io(e)
        ),
    )
}

/// Setting a socket option from the command line (`--keepalive`,
/// `--broadcast`, `--ttl`) failed: a runtime error naming the flag.
pub(super) fn option_error(flag: &str, e: &io::Error) -> anyhow::Error {
    exit::error(ExitCode::Failure, format!("{flag}: {}", describe_io(e)))
}

/// Binding a listening socket to `addr` failed, with what usually causes it.
pub(super) fn bind_error(addr: SocketAddr, e: io::Error) -> anyhow::Error {
    let hint = match e.kind() {
        io::ErrorKind::AddrInUse => {
            " (another program is listening there; pick another port or stop it)"
        }
        io::ErrorKind::PermissionDenied => " (ports below 1024 need privileges)",
        io::ErrorKind::AddrNotAvailable => " (no local interface has that address)",
        _ => "",
    };
    exit::error(
        ExitCode::Failure,
        format!("cannot listen on {addr}: {}{hint}", describe_io(&e)),
    )
}

/// Joining a multicast group failed (status 1), naming the group, with a
/// hint when the kernel needs an interface named or the listening socket
/// (bound at `local`) is of the other IP family.
pub(super) fn join_error(
    group: &Group,
    local: io::Result<SocketAddr>,
    e: &io::Error,
) -> anyhow::Error {
    let no_route = e.raw_os_error() == Some(libc::ENODEV);
    let hint = match (group.addr, local) {
        _ if no_route => " (no route says which interface to use: name it, GROUP@IFADDR)",
        (IpAddr::V4(_), Ok(local)) if local.is_ipv6() => {
            " (an IPv4 group needs an IPv4 address to listen on, e.g. 0.0.0.0:PORT)"
        }
        (IpAddr::V6(_), Ok(local)) if local.is_ipv4() => {
            " (an IPv6 group needs an IPv6 address to listen on, e.g. [::]:PORT)"
        }
        _ => "",
    };
    exit::error(
        ExitCode::Failure,
        format!(
            "cannot join the multicast group {group}: {}{hint}",
            describe_io(e)
        ),
    )
}

/// A UDP send or receive error: "refused" is ICMP port unreachable
/// reported back, i.e. nothing listens there (status 3); anything else is a
/// runtime error.
pub fn udp_error(target: &Target, e: &io::Error) -> anyhow::Error {
    if e.kind() == io::ErrorKind::PermissionDenied {
        exit::error(
            ExitCode::Failure,
            format!(
                "{target}: {} (sending to a broadcast address needs --broadcast)",
                describe_io(e)
            ),
        )
    } else if is_refused(e) {
        exit::error(
            ExitCode::Connect,
            format!(
                "could not reach {target}: connection refused (nothing listening on that UDP port)"
            ),
        )
    } else {
        exit::error(ExitCode::Failure, format!("{target}: {}", describe_io(e)))
    }
}

/// A failed read on a connection: a serial line that failed (status 3, as
/// a lost connection), a TLS failure the peer reported late
/// (TLS 1.3 servers reject a client certificate after the handshake) is
/// "could not connect" (status 3) with its reason; anything else is a
/// runtime error (status 1).
pub fn read_error(e: &io::Error) -> anyhow::Error {
    if super::serial::is_line_failure(e) {
        return exit::error(ExitCode::Connect, e.to_string());
    }
    match tls::late_failure(e) {
        Some(reason) => exit::error(ExitCode::Connect, format!("TLS: {reason}")),
        None => exit::error(ExitCode::Failure, describe_io(e)),
    }
}

/// Whether an I/O error on a socket means the peer refused us (ICMP port
/// unreachable on UDP surfaces this way on the next receive).
pub fn is_refused(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::ConnectionRefused
}
