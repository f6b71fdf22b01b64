//! Client connections: resolve a [`Target`], connect to it over TCP (with
//! TLS when asked) or a Unix socket, from `--source`, with `--timeout`,
//! `--keepalive` and `--retry`, and the [`Backoff`] between attempts.
//!
//! It exists so that every client (`send`, `repl`, `replay`, `proxy`'s
//! upstream) connects the same way, and so that the back-off that paces
//! `--retry` here and `repl --reconnect` lives with the connecting, not
//! with the request-and-reply code built on top of it.

use std::{
    io,
    net::{IpAddr, SocketAddr},
    time::Duration,
};

use anyhow::Result;
use tokio::net::TcpStream;

use crate::exit::{self, ExitCode};

use super::{
    addr::{HostPort, SourceAddr, Target, UnixPath},
    error::{connect_error, connect_timeout, option_error, source_error},
    serial,
    stream::Stream,
    tls,
};

/// Resolve a target; failure is "could not connect" (status 3).
pub async fn resolve(target: &HostPort) -> Result<Vec<SocketAddr>> {
    // An address literal needs no lookup; tokio's lookup_host would still
    // hand it to a blocking thread, which costs a one-shot `send` its
    // start-up time.
    if let Ok(ip) = target.host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, target.port)]);
    }
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((target.host.as_str(), target.port))
        .await
        .map_err(|e| {
            exit::error(
                ExitCode::Connect,
                format!("could not resolve '{}': {e}", target.host),
            )
        })?
        .collect();
    if addrs.is_empty() {
        return Err(exit::error(
            ExitCode::Connect,
            format!("could not resolve '{}': no addresses", target.host),
        ));
    }
    Ok(addrs)
}

/// How to connect: a timeout per attempt and, with `--retry`, how long to
/// keep trying (a server still booting in CI refuses at first).
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    pub timeout: Option<Duration>,
    pub retry_for: Option<Duration>,
    /// `--source`: the local address to connect from.
    pub source: Option<SourceAddr>,
    /// `--keepalive`: probe an idle connection after this long.
    pub keepalive: Option<Duration>,
    /// `--tls`: speak TLS over the TCP connection.
    pub tls: Option<std::sync::Arc<tls::Client>>,
}

/// Turn on TCP keepalive (`--keepalive`): first probe after `idle`, then
/// one every `idle`; three unanswered probes fail the connection.
pub fn set_keepalive(stream: &TcpStream, idle: Option<Duration>) -> io::Result<()> {
    let Some(idle) = idle else { return Ok(()) };
    let keepalive = socket2::TcpKeepalive::new()
        .with_time(idle)
        .with_interval(idle)
        .with_retries(3);
    socket2::SockRef::from(stream).set_tcp_keepalive(&keepalive)
}

/// The `--source` address to bind for a connection to `addr`, checked
/// against its IP family (TCP and UDP alike).
pub(super) fn local_end(
    addr: SocketAddr,
    source: Option<SourceAddr>,
) -> Result<Option<SocketAddr>> {
    let Some(source) = source else {
        return Ok(None);
    };
    if source.0.is_ipv4() == addr.is_ipv4() {
        return Ok(Some(source.0));
    }
    let family = |a: SocketAddr| if a.is_ipv4() { "IPv4" } else { "IPv6" };
    Err(exit::error(
        ExitCode::Connect,
        format!(
            "could not connect to {addr}: --source {source} is {} but {addr} is {}",
            family(source.0),
            family(addr)
        ),
    ))
}

/// A socket for connecting to `addr`, bound to `--source` when given.
fn client_socket(addr: SocketAddr, source: Option<SourceAddr>) -> Result<tokio::net::TcpSocket> {
    let socket = match addr {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4(),
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6(),
    }
    .map_err(|e| exit::error(ExitCode::Failure, format!("cannot open a socket: {e}")))?;
    if let Some(local) = local_end(addr, source)? {
        if local.port() != 0 {
            // A fixed source port is reused run after run (nc -p): a
            // previous connection's TIME_WAIT must not block it.
            socket.set_reuseaddr(true).ok();
        }
        socket.bind(local).map_err(|e| source_error(local, &e))?;
    }
    Ok(socket)
}

async fn connect_once(target: &HostPort, opts: &ConnectOptions) -> Result<TcpStream> {
    let addrs = resolve(target).await?;
    let mut last: Option<anyhow::Error> = None;
    for addr in addrs {
        let socket = match client_socket(addr, opts.source) {
            Ok(socket) => socket,
            Err(e) => {
                last = Some(e);
                continue;
            }
        };
        let attempt = socket.connect(addr);
        let result = match opts.timeout {
            Some(t) => match tokio::time::timeout(t, attempt).await {
                Ok(r) => r,
                Err(_) => {
                    last = Some(connect_timeout(addr, t));
                    continue;
                }
            },
            None => attempt.await,
        };
        match result {
            Ok(stream) => {
                stream.set_nodelay(true).ok();
                set_keepalive(&stream, opts.keepalive)
                    .map_err(|e| option_error("--keepalive", &e))?;
                return Ok(stream);
            }
            Err(e) => last = Some(connect_error(addr, &e)),
        }
    }
    Err(last.expect("resolve returns at least one address"))
}

/// Connect to `target` over whatever it names: TCP (with TLS when
/// `opts.tls` says so), a Unix socket, or a serial line (opened). `--retry` retries the connection,
/// never a TLS handshake: a certificate does not get better by asking again.
pub async fn connect(target: &Target, opts: &ConnectOptions) -> Result<Stream> {
    match target {
        Target::Host(host) => {
            let tcp = retrying(opts.retry_for, || connect_once(host, opts)).await?;
            match &opts.tls {
                Some(tls) => Ok(Stream::Tls(Box::new(tls.connect(tcp, host).await?))),
                None => Ok(Stream::Tcp(tcp)),
            }
        }
        Target::Unix(path) => {
            if opts.source.is_some() {
                return Err(exit::usage(format!("--source does not apply to {path}")));
            }
            if opts.tls.is_some() {
                return Err(exit::usage(format!("--tls does not apply to {path}")));
            }
            let stream = retrying(opts.retry_for, || connect_unix(*path, opts.timeout)).await?;
            Ok(Stream::Unix(stream, *path))
        }
        Target::Serial(line) => {
            if opts.source.is_some() {
                return Err(exit::usage(format!("--source does not apply to {line}")));
            }
            if opts.tls.is_some() {
                return Err(exit::usage(format!("--tls does not apply to {line}")));
            }
            let port = retrying(opts.retry_for, || async { serial::open(line) }).await?;
            Ok(Stream::Serial(port, *line))
        }
    }
}

async fn connect_unix(path: UnixPath, timeout: Option<Duration>) -> Result<tokio::net::UnixStream> {
    let attempt = tokio::net::UnixStream::connect(path.0);
    let result = match timeout {
        Some(t) => tokio::time::timeout(t, attempt).await.unwrap_or_else(|_| {
            Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("timed out after {}", humantime::format_duration(t)),
            ))
        }),
        None => attempt.await,
    };
    result.map_err(|e| connect_error(path, &e))
}

/// Run `attempt` until it succeeds, for up to `retry_for` (with back-off),
/// or once when there is no `--retry`.
async fn retrying<T, F, Fut>(retry_for: Option<Duration>, mut attempt: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    let deadline = retry_for.map(|d| tokio::time::Instant::now() + d);
    let mut backoff = Backoff::RETRY;
    loop {
        match attempt().await {
            Ok(done) => return Ok(done),
            Err(e) => {
                let Some(deadline) = deadline else {
                    return Err(e);
                };
                let now = tokio::time::Instant::now();
                if now >= deadline {
                    let retry = humantime::format_duration(retry_for.unwrap_or_default());
                    return Err(e.context(format!("gave up after retrying for {retry}")));
                }
                tokio::time::sleep(backoff.pause().min(deadline - now)).await;
            }
        }
    }
}

/// How long to wait between connection attempts: short at first (a server
/// booting in CI, a robot restarting its server task), doubling up to a
/// ceiling so that an unplugged device is not hammered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    first: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    /// `send --retry`: a CI job waits for a server that is seconds away.
    pub const RETRY: Backoff = Backoff::new(Duration::from_millis(20), Duration::from_millis(500));
    /// `repl --reconnect`: a device that went away may be gone for minutes.
    pub const RECONNECT: Backoff = Backoff::new(Duration::from_millis(250), Duration::from_secs(5));

    pub const fn new(first: Duration, max: Duration) -> Backoff {
        Backoff {
            first,
            max,
            next: first,
        }
    }

    /// The pause before the next attempt; each call doubles the next one.
    pub fn pause(&mut self) -> Duration {
        let pause = self.next;
        self.next = (self.next * 2).min(self.max);
        pause
    }

    /// A connection succeeded (or the user asked again): start over.
    pub fn reset(&mut self) {
        self.next = self.first;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_its_ceiling_and_resets() {
        let mut b = Backoff::RECONNECT;
        let pauses: Vec<u64> = (0..7).map(|_| b.pause().as_millis() as u64).collect();
        assert_eq!(pauses, [250, 500, 1000, 2000, 4000, 5000, 5000]);
        b.reset();
        assert_eq!(b.pause(), Duration::from_millis(250));
        let mut r = Backoff::RETRY;
        let pauses: Vec<u64> = (0..7).map(|_| r.pause().as_millis() as u64).collect();
        assert_eq!(pauses, [20, 40, 80, 160, 320, 500, 500]);
    }
}
