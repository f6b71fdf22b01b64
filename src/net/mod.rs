//! Addresses, access lists, and the socket set-up every subcommand shares.
//!
//! Parsing (`Target`, `ListenAddr`, `Cidr`, `AccessList`) is pure and tested
//! without sockets; the async functions below are the thin shell that turns
//! them into connected or bound sockets and classifies failures into the
//! exit statuses of the README (refused, unreachable, unresolved and connect
//! timeouts are all "could not connect", status 3).

use std::{
    fmt, io,
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    str::FromStr,
    time::Duration,
};

use anyhow::Result;
use ipnet::IpNet;
use tokio::net::{TcpListener, TcpStream, UdpSocket};

use crate::exit::{self, ExitCode};

pub mod stream;
pub mod tls;

pub use stream::{Listener, ReadHalf, Stream, WriteHalf};

/// Where a client connects: `HOST:PORT`, `[IPV6]:PORT` or `unix:PATH`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Host(HostPort),
    Unix(UnixPath),
}

/// `HOST:PORT` or `[IPV6]:PORT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPort {
    pub host: String,
    pub port: u16,
}

/// Where a server binds: `PORT`, `:PORT`, `HOST:PORT`, `[IPV6]:PORT` or
/// `unix:PATH`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenAddr {
    Ip(BindAddr),
    Unix(UnixPath),
}

/// An IP address to bind: no host means all interfaces; port 0 picks a
/// free port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindAddr {
    pub host: Option<String>,
    pub port: u16,
}

/// The path of a Unix domain socket, from `unix:PATH`. Parsed once per
/// process and kept for its lifetime (see [`crate::record::Peer`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UnixPath(pub &'static str);

/// `sun_path` holds 108 bytes, the last one the terminating NUL.
pub const UNIX_PATH_MAX: usize = 107;

impl UnixPath {
    /// `text` without its `unix:` prefix.
    fn parse(path: &str) -> Result<UnixPath, String> {
        if path.is_empty() {
            return Err("at column 6: missing path after 'unix:'".into());
        }
        if path.contains('\0') {
            return Err("at column 6: a Unix socket path cannot contain NUL".into());
        }
        if path.len() > UNIX_PATH_MAX {
            return Err(format!(
                "at column 6: the path is {} bytes, too long for a Unix socket (at most {UNIX_PATH_MAX})",
                path.len()
            ));
        }
        Ok(UnixPath(crate::record::intern_path(path)))
    }
}

impl fmt::Display for UnixPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unix:{}", self.0)
    }
}

/// Split `HOST:PORT` / `[V6]:PORT`; returns the host (without brackets) and
/// the port text with the 1-based column where the port starts.
fn split_host_port(s: &str) -> Result<(&str, &str, usize), String> {
    if let Some(rest) = s.strip_prefix('[') {
        let close = rest
            .find(']')
            .ok_or_else(|| "at column 1: '[' without a closing ']'".to_string())?;
        let host = &rest[..close];
        let after = &rest[close + 1..];
        let port = after
            .strip_prefix(':')
            .ok_or_else(|| format!("at column {}: expected ':PORT' after ']'", close + 3))?;
        if host.parse::<Ipv6Addr>().is_err() {
            return Err(format!("at column 2: '{host}' is not an IPv6 address"));
        }
        return Ok((host, port, close + 4));
    }
    let colon = s.rfind(':').ok_or_else(|| {
        format!(
            "at column {}: missing ':PORT' (expected HOST:PORT)",
            s.chars().count() + 1
        )
    })?;
    let host = &s[..colon];
    if host.contains(':') {
        return Err(format!(
            "at column 1: an IPv6 address needs brackets, e.g. [{host}]:{}",
            &s[colon + 1..]
        ));
    }
    Ok((host, &s[colon + 1..], colon + 2))
}

fn parse_port(text: &str, column: usize, allow_zero: bool) -> Result<u16, String> {
    if text.is_empty() {
        return Err(format!("at column {column}: missing port number"));
    }
    if let Some((i, c)) = text.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        return Err(format!(
            "at column {}: '{c}' in port '{text}' is not a digit",
            column + text[..i].chars().count()
        ));
    }
    match text.parse::<u32>() {
        Ok(0) if !allow_zero => Err(format!("at column {column}: port 0 cannot be connected to")),
        Ok(p) if p <= 65535 => Ok(p as u16),
        _ => Err(format!(
            "at column {column}: port {text} is out of range (0-65535)"
        )),
    }
}

impl FromStr for Target {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(path) = s.strip_prefix("unix:") {
            return UnixPath::parse(path).map(Target::Unix);
        }
        s.parse().map(Target::Host)
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Host(host) => host.fmt(f),
            Target::Unix(path) => path.fmt(f),
        }
    }
}

impl Target {
    /// The host and port, or an error naming `what` needs them (UDP, TLS).
    pub fn host_port(&self, what: &str) -> Result<&HostPort> {
        match self {
            Target::Host(host) => Ok(host),
            Target::Unix(path) => Err(exit::usage(format!("{what} needs HOST:PORT, not {path}"))),
        }
    }
}

impl FromStr for HostPort {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (host, port, column) = split_host_port(s)?;
        if host.is_empty() {
            return Err("at column 1: missing host (expected HOST:PORT)".into());
        }
        let port = parse_port(port, column, false)?;
        Ok(HostPort {
            host: host.to_string(),
            port,
        })
    }
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

impl FromStr for ListenAddr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(path) = s.strip_prefix("unix:") {
            return UnixPath::parse(path).map(ListenAddr::Unix);
        }
        s.parse().map(ListenAddr::Ip)
    }
}

impl ListenAddr {
    /// The IP address to bind, or an error naming `what` needs one.
    pub fn ip(&self, what: &str) -> Result<&BindAddr> {
        match self {
            ListenAddr::Ip(addr) => Ok(addr),
            ListenAddr::Unix(path) => Err(exit::usage(format!(
                "{what} needs an IP address to listen on, not {path}"
            ))),
        }
    }
}

impl fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListenAddr::Ip(addr) => match &addr.host {
                Some(host) if host.contains(':') => write!(f, "[{host}]:{}", addr.port),
                Some(host) => write!(f, "{host}:{}", addr.port),
                None => write!(f, ":{}", addr.port),
            },
            ListenAddr::Unix(path) => path.fmt(f),
        }
    }
}

impl FromStr for BindAddr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() {
            return Err("empty address (expected PORT, :PORT or HOST:PORT)".into());
        }
        if s.bytes().all(|b| b.is_ascii_digit()) {
            return Ok(BindAddr {
                host: None,
                port: parse_port(s, 1, true)?,
            });
        }
        if let Some(port) = s.strip_prefix(':') {
            return Ok(BindAddr {
                host: None,
                port: parse_port(port, 2, true)?,
            });
        }
        let (host, port, column) = split_host_port(s)?;
        let port = parse_port(port, column, true)?;
        Ok(BindAddr {
            host: (!host.is_empty()).then(|| host.to_string()),
            port,
        })
    }
}

/// Where a client connects from (`--source`): `IP`, `IP:PORT` or
/// `[IPV6]:PORT`; no port (or port 0) lets the system pick one. An address,
/// not a name: it must be one of this machine's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceAddr(pub SocketAddr);

impl FromStr for SourceAddr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Ok(ip) = s.parse::<IpAddr>() {
            return Ok(SourceAddr(SocketAddr::new(ip, 0)));
        }
        let (host, port, column) = split_host_port(s).map_err(|e| {
            if s.contains(':') || s.is_empty() {
                e
            } else {
                format!("at column 1: '{s}' is not an IP address (expected IP or IP:PORT)")
            }
        })?;
        let port = parse_port(port, column, true)?;
        let ip = host.parse::<IpAddr>().map_err(|_| {
            format!("at column 1: '{host}' is not an IP address (expected IP or IP:PORT)")
        })?;
        Ok(SourceAddr(SocketAddr::new(ip, port)))
    }
}

impl fmt::Display for SourceAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.port() {
            0 => write!(f, "{}", self.0.ip()),
            _ => write!(f, "{}", self.0),
        }
    }
}

/// An IPv4-mapped IPv6 peer (`::ffff:1.2.3.4`, what a dual-stack socket
/// reports for IPv4 clients) shown and filtered as the IPv4 address it is.
pub fn canonical(addr: SocketAddr) -> SocketAddr {
    SocketAddr::new(addr.ip().to_canonical(), addr.port())
}

/// A network for `--allow` / `--deny`: `10.0.0.0/8`, `::1/128`, or a bare
/// address meaning just that host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr(pub IpNet);

impl FromStr for Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Ok(ip) = s.parse::<IpAddr>() {
            return Ok(Cidr(IpNet::from(ip)));
        }
        let Some(slash) = s.find('/') else {
            return Err(format!(
                "at column 1: '{s}' is not an IP address or CIDR network"
            ));
        };
        let (addr, prefix) = (&s[..slash], &s[slash + 1..]);
        let ip: IpAddr = addr
            .parse()
            .map_err(|_| format!("at column 1: '{addr}' is not an IP address"))?;
        let max = if ip.is_ipv4() { 32 } else { 128 };
        let column = slash + 2;
        let len: u8 = prefix.parse().ok().filter(|n| *n <= max).ok_or_else(|| {
            format!("at column {column}: prefix length '{prefix}' must be 0-{max}")
        })?;
        IpNet::new(ip, len)
            .map(|net| Cidr(net.trunc()))
            .map_err(|e| format!("at column {column}: {e}"))
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// `--allow` / `--deny`: a deny match always refuses; when any allow rule
/// exists, a peer must match one.
#[derive(Debug, Clone, Default)]
pub struct AccessList {
    pub allow: Vec<Cidr>,
    pub deny: Vec<Cidr>,
}

/// Why a peer was refused, for the log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Denied(Cidr),
    NotAllowed,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Denied(net) => write!(f, "matches --deny {net}"),
            Refusal::NotAllowed => f.write_str("not in any --allow network"),
        }
    }
}

impl AccessList {
    pub fn is_open(&self) -> bool {
        self.allow.is_empty() && self.deny.is_empty()
    }

    pub fn check(&self, ip: IpAddr) -> Result<(), Refusal> {
        let ip = ip.to_canonical();
        if let Some(net) = self.deny.iter().find(|n| n.0.contains(&ip)) {
            return Err(Refusal::Denied(*net));
        }
        if self.allow.is_empty() || self.allow.iter().any(|n| n.0.contains(&ip)) {
            Ok(())
        } else {
            Err(Refusal::NotAllowed)
        }
    }
}

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
fn local_end(addr: SocketAddr, source: Option<SourceAddr>) -> Result<Option<SocketAddr>> {
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

/// Binding the `--source` address failed (not this machine's, in use).
fn source_error(local: SocketAddr, e: &io::Error) -> anyhow::Error {
    exit::error(
        ExitCode::Connect,
        format!(
            "cannot connect from --source {}: {}",
            SourceAddr(local),
            describe_io(e)
        ),
    )
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
                    last = Some(exit::error(
                        ExitCode::Connect,
                        format!(
                            "could not connect to {addr}: timed out after {}",
                            humantime::format_duration(t)
                        ),
                    ));
                    continue;
                }
            },
            None => attempt.await,
        };
        match result {
            Ok(stream) => {
                stream.set_nodelay(true).ok();
                set_keepalive(&stream, opts.keepalive).map_err(|e| {
                    exit::error(
                        ExitCode::Failure,
                        format!("--keepalive: {}", describe_io(&e)),
                    )
                })?;
                return Ok(stream);
            }
            Err(e) => {
                last = Some(exit::error(
                    ExitCode::Connect,
                    format!("could not connect to {addr}: {}", describe_io(&e)),
                ))
            }
        }
    }
    Err(last.expect("resolve returns at least one address"))
}

/// Connect to `target` over whatever it names: TCP (with TLS when
/// `opts.tls` says so) or a Unix socket. `--retry` retries the connection,
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
    result.map_err(|e| {
        exit::error(
            ExitCode::Connect,
            format!("could not connect to {path}: {}", describe_io(&e)),
        )
    })
}

/// Run `attempt` until it succeeds, for up to `retry_for` (with back-off),
/// or once when there is no `--retry`.
async fn retrying<T, F, Fut>(retry_for: Option<Duration>, mut attempt: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    let deadline = retry_for.map(|d| tokio::time::Instant::now() + d);
    let mut backoff = crate::exchange::Backoff::RETRY;
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

/// `send -u` options beyond `--source`: `--broadcast` and `--ttl`.
#[derive(Debug, Clone, Copy, Default)]
pub struct UdpOptions {
    pub source: Option<SourceAddr>,
    pub broadcast: bool,
    pub ttl: Option<u32>,
}

/// A UDP socket and where its datagrams go. To a unicast address it is
/// connected (the kernel drops datagrams from anyone else, and ICMP errors
/// surface); to a multicast group or with `--broadcast` it is not, because
/// the devices that answer do so from their own unicast addresses.
pub struct Datagram {
    pub socket: UdpSocket,
    /// Where datagrams go when the socket is not connected.
    to: Option<SocketAddr>,
}

impl Datagram {
    pub fn connected(socket: UdpSocket) -> Datagram {
        Datagram { socket, to: None }
    }

    pub async fn send(&self, data: &[u8]) -> io::Result<usize> {
        match self.to {
            None => self.socket.send(data).await,
            Some(to) => self.socket.send_to(data, to).await,
        }
    }

    /// The next datagram and who sent it: the peer (connected), or
    /// whichever device answered (multicast, broadcast).
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.socket.recv_from(buf).await
    }

    /// The address datagrams go to.
    pub fn peer(&self) -> io::Result<SocketAddr> {
        match self.to {
            None => self.socket.peer_addr(),
            Some(to) => Ok(to),
        }
    }
}

/// `send -u`: a socket for `target` with `--source`, `--broadcast` and
/// `--ttl` applied (see [`Datagram`] for when it is connected).
pub async fn open_udp(target: &Target, options: UdpOptions) -> Result<Datagram> {
    let host = target.host_port("UDP (-u)")?;
    let one_to_many = |addr: SocketAddr| options.broadcast || addr.ip().is_multicast();
    let addrs = resolve(host).await?;
    let Some(&addr) = addrs.iter().find(|a| one_to_many(**a)) else {
        let socket = connect_first(host, &addrs, options.source).await?;
        set_udp_options(&socket, options)?;
        return Ok(Datagram::connected(socket));
    };
    let socket = udp_socket_for(addr, options.source).await?;
    set_udp_options(&socket, options)?;
    Ok(Datagram {
        socket,
        to: Some(addr),
    })
}

fn set_udp_options(socket: &UdpSocket, options: UdpOptions) -> Result<()> {
    let fail = |flag: &str, e: io::Error| {
        exit::error(ExitCode::Failure, format!("{flag}: {}", describe_io(&e)))
    };
    if options.broadcast {
        socket
            .set_broadcast(true)
            .map_err(|e| fail("--broadcast", e))?;
    }
    if let Some(ttl) = options.ttl {
        let sock = socket2::SockRef::from(socket);
        let result = if socket.local_addr().is_ok_and(|a| a.is_ipv6()) {
            sock.set_unicast_hops_v6(ttl)
                .and_then(|()| sock.set_multicast_hops_v6(ttl))
        } else {
            sock.set_ttl(ttl)
                .and_then(|()| sock.set_multicast_ttl_v4(ttl))
        };
        result.map_err(|e| fail("--ttl", e))?;
    }
    Ok(())
}

/// `--join GROUP[@IFADDR]`: a multicast group, and the interface to join
/// it on (IPv4: the interface's address; IPv6: its name or index).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub addr: IpAddr,
    /// IPv4: the interface address (unspecified: the kernel picks);
    /// IPv6: the interface index (0: the kernel picks).
    pub interface: GroupInterface,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupInterface {
    Any,
    V4(Ipv4Addr),
    Index(u32),
}

impl FromStr for Group {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (group, interface) = match s.split_once('@') {
            Some((group, interface)) => (group, Some(interface)),
            None => (s, None),
        };
        let addr: IpAddr = group
            .parse()
            .map_err(|_| format!("at column 1: '{group}' is not an IP address"))?;
        if !addr.is_multicast() {
            return Err(format!(
                "at column 1: '{group}' is not a multicast address (IPv4 224.0.0.0/4, IPv6 ff00::/8)"
            ));
        }
        let column = group.chars().count() + 2;
        let interface = match (addr, interface) {
            (_, None) => GroupInterface::Any,
            (IpAddr::V4(_), Some(text)) => GroupInterface::V4(text.parse().map_err(|_| {
                format!("at column {column}: '{text}' is not an IPv4 address (the interface's address to join on)")
            })?),
            (IpAddr::V6(_), Some(text)) => match text.parse::<u32>() {
                Ok(index) => GroupInterface::Index(index),
                Err(_) => GroupInterface::Index(interface_index(text).ok_or_else(|| {
                    format!("at column {column}: no network interface is called '{text}'")
                })?),
            },
        };
        Ok(Group { addr, interface })
    }
}

impl fmt::Display for Group {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.interface {
            GroupInterface::Any => write!(f, "{}", self.addr),
            GroupInterface::V4(ip) => write!(f, "{}@{ip}", self.addr),
            GroupInterface::Index(i) => write!(f, "{}@{i}", self.addr),
        }
    }
}

fn interface_index(name: &str) -> Option<u32> {
    let name = std::ffi::CString::new(name).ok()?;
    // SAFETY: a valid NUL-terminated string; the call only reads it.
    let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
    (index != 0).then_some(index)
}

/// Join `groups` on a bound server socket. Failure is status 1, naming
/// the group.
pub fn join_groups(socket: &UdpSocket, groups: &[Group]) -> Result<()> {
    for group in groups {
        let result = match (group.addr, group.interface) {
            (IpAddr::V4(g), GroupInterface::V4(i)) => socket.join_multicast_v4(g, i),
            (IpAddr::V4(g), _) => socket.join_multicast_v4(g, Ipv4Addr::UNSPECIFIED),
            (IpAddr::V6(g), GroupInterface::Index(i)) => socket.join_multicast_v6(&g, i),
            (IpAddr::V6(g), _) => socket.join_multicast_v6(&g, 0),
        };
        result.map_err(|e| {
            let no_route = e.raw_os_error() == Some(libc::ENODEV);
            let hint = match (group.addr, socket.local_addr()) {
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
                    describe_io(&e)
                ),
            )
        })?;
    }
    Ok(())
}

pub async fn connect_udp(target: &Target, source: Option<SourceAddr>) -> Result<UdpSocket> {
    let host = target.host_port("UDP (-u)")?;
    connect_first(host, &resolve(host).await?, source).await
}

/// A UDP socket where datagrams to `addr` leave from: `--source`, else
/// the wildcard address of `addr`'s family.
async fn udp_socket_for(addr: SocketAddr, source: Option<SourceAddr>) -> Result<UdpSocket> {
    let local = match local_end(addr, source)? {
        Some(local) => local,
        None if addr.is_ipv4() => (Ipv4Addr::UNSPECIFIED, 0).into(),
        None => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    UdpSocket::bind(local).await.map_err(|e| match source {
        Some(_) => source_error(local, &e),
        None => e.into(),
    })
}

/// Connect a UDP socket to the first of `addrs` (resolved from `target`)
/// that takes it.
async fn connect_first(
    target: &HostPort,
    addrs: &[SocketAddr],
    source: Option<SourceAddr>,
) -> Result<UdpSocket> {
    let mut last = None;
    for &addr in addrs {
        let socket = match udp_socket_for(addr, source).await {
            Ok(socket) => socket,
            Err(e) => {
                last = Some(e);
                continue;
            }
        };
        match socket.connect(addr).await {
            Ok(()) => return Ok(socket),
            Err(e) => {
                let hint = match e.kind() {
                    io::ErrorKind::PermissionDenied => " (a broadcast address needs --broadcast)",
                    _ => "",
                };
                last = Some(exit::error(
                    ExitCode::Connect,
                    format!("could not connect to {target}: {}{hint}", describe_io(&e)),
                ))
            }
        }
    }
    Err(last.expect("resolve returns at least one address"))
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

fn bind_error(addr: SocketAddr, e: io::Error) -> anyhow::Error {
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

/// Bind a stream listener: TCP, or a Unix socket. The note, if any, is
/// for the log after the `listening on` line (which scripts read first).
pub async fn bind_stream(addr: &ListenAddr) -> Result<(Listener, Option<String>)> {
    match addr {
        ListenAddr::Ip(addr) => bind_tcp(addr).await.map(|l| (Listener::Tcp(l), None)),
        ListenAddr::Unix(path) => bind_unix(*path),
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

/// A failed read on a connection: a TLS failure the peer reported late
/// (TLS 1.3 servers reject a client certificate after the handshake) is
/// "could not connect" (status 3) with its reason; anything else is a
/// runtime error (status 1).
pub fn read_error(e: &io::Error) -> anyhow::Error {
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn source_addresses_users_type() {
        let ok = |s: &str| s.parse::<SourceAddr>().unwrap().0;
        assert_eq!(ok("127.0.0.2"), "127.0.0.2:0".parse().unwrap());
        assert_eq!(ok("10.0.0.5:4000"), "10.0.0.5:4000".parse().unwrap());
        assert_eq!(ok("::1"), "[::1]:0".parse().unwrap());
        assert_eq!(ok("[fe80::1]:502"), "[fe80::1]:502".parse().unwrap());
        assert_eq!(ok("[::1]:0").to_string(), "[::1]:0");
        assert_eq!(
            "127.0.0.2".parse::<SourceAddr>().unwrap().to_string(),
            "127.0.0.2"
        );
        let err = |s: &str| s.parse::<SourceAddr>().unwrap_err();
        assert!(err("localhost").contains("'localhost' is not an IP address"));
        assert!(err("plc.local:502").contains("'plc.local' is not an IP address"));
        assert!(err("127.0.0.1:70000").contains("out of range"));
        assert!(err("127.0.0.1:x").contains("not a digit"));
        assert!(err("[::1").contains("without a closing"));
        assert!(err("").contains("not an IP address") || err("").contains("column"));
    }

    #[test]
    fn targets() {
        assert_eq!(
            "localhost:9000".parse::<Target>(),
            Ok(Target::Host(HostPort {
                host: "localhost".into(),
                port: 9000
            }))
        );
        assert_eq!(
            "[::1]:502".parse::<Target>(),
            Ok(Target::Host(HostPort {
                host: "::1".into(),
                port: 502
            }))
        );
        assert_eq!(
            "[::1]:502".parse::<Target>().unwrap().to_string(),
            "[::1]:502"
        );
    }

    #[test]
    fn bad_targets_name_the_spot() {
        let err = |s: &str| s.parse::<Target>().unwrap_err();
        assert!(err("localhost").contains("at column 10: missing ':PORT'"));
        assert!(err("host:99999").contains("at column 6: port 99999 is out of range"));
        assert!(err("host:9x").contains("at column 7: 'x'"));
        assert!(err("host:").contains("at column 6: missing port"));
        assert!(err(":80").contains("missing host"));
        assert!(err("host:0").contains("port 0"));
        assert!(err("::1:80").contains("needs brackets"));
        assert!(err("[::1:80").contains("closing ']'"));
        assert!(err("[nope]:80").contains("not an IPv6 address"));
        assert!(err("[::1]80").contains("expected ':PORT'"));
    }

    #[test]
    fn listen_addresses() {
        let la = |s: &str| s.parse::<ListenAddr>();
        assert_eq!(
            la("9000"),
            Ok(ListenAddr::Ip(BindAddr {
                host: None,
                port: 9000
            }))
        );
        assert_eq!(
            la(":0"),
            Ok(ListenAddr::Ip(BindAddr {
                host: None,
                port: 0
            }))
        );
        assert_eq!(
            la("127.0.0.1:0"),
            Ok(ListenAddr::Ip(BindAddr {
                host: Some("127.0.0.1".into()),
                port: 0
            }))
        );
        assert_eq!(
            la("[::1]:7"),
            Ok(ListenAddr::Ip(BindAddr {
                host: Some("::1".into()),
                port: 7
            }))
        );
        assert!(la("70000").unwrap_err().contains("out of range"));
        assert!(la("").unwrap_err().contains("empty"));
        assert!(la("host:").unwrap_err().contains("missing port"));
    }

    #[test]
    fn unix_paths() {
        assert_eq!(
            "unix:/tmp/plc.sock".parse::<Target>(),
            Ok(Target::Unix(UnixPath("/tmp/plc.sock")))
        );
        assert_eq!(
            "unix:/tmp/plc.sock"
                .parse::<ListenAddr>()
                .unwrap()
                .to_string(),
            "unix:/tmp/plc.sock"
        );
        assert!("unix:"
            .parse::<Target>()
            .unwrap_err()
            .contains("missing path"));
        let long = format!("unix:/{}", "x".repeat(UNIX_PATH_MAX));
        let err = long.parse::<ListenAddr>().unwrap_err();
        assert!(err.contains("108 bytes, too long"), "{err}");
        let longest = format!("unix:/{}", "x".repeat(UNIX_PATH_MAX - 1));
        assert!(longest.parse::<Target>().is_ok());
    }

    #[test]
    fn cidrs_and_access_lists() {
        let c = |s: &str| s.parse::<Cidr>().unwrap();
        let acl = AccessList {
            allow: vec![c("127.0.0.2/32")],
            deny: vec![],
        };
        assert_eq!(acl.check("127.0.0.2".parse().unwrap()), Ok(()));
        assert_eq!(
            acl.check("127.0.0.1".parse().unwrap()),
            Err(Refusal::NotAllowed)
        );
        // An IPv4 client seen through a dual-stack socket is still matched.
        assert_eq!(acl.check("::ffff:127.0.0.2".parse().unwrap()), Ok(()));
        let acl = AccessList {
            allow: vec![c("10.0.0.0/8")],
            deny: vec![c("10.1.0.0/16")],
        };
        assert_eq!(acl.check("10.2.3.4".parse().unwrap()), Ok(()));
        assert_eq!(
            acl.check("10.1.3.4".parse().unwrap()),
            Err(Refusal::Denied(c("10.1.0.0/16")))
        );
        assert_eq!(c("::1").to_string(), "::1/128");
        assert_eq!(c("10.1.2.3/8").to_string(), "10.0.0.0/8");
        assert!("10.0.0.0/33"
            .parse::<Cidr>()
            .unwrap_err()
            .contains("at column 10"));
        assert!("nope/8".parse::<Cidr>().unwrap_err().contains("not an IP"));
        assert!("nope".parse::<Cidr>().unwrap_err().contains("not an IP"));
    }

    proptest! {
        #[test]
        fn address_parsers_never_panic(s in ".{0,30}") {
            let _ = s.parse::<Target>();
            let _ = s.parse::<ListenAddr>();
            let _ = s.parse::<SourceAddr>();
            let _ = s.parse::<Cidr>();
        }

        #[test]
        fn v4_targets_round_trip(a: [u8; 4], port in 1u16..) {
            let text = format!("{}.{}.{}.{}:{port}", a[0], a[1], a[2], a[3]);
            let t: Target = text.parse().unwrap();
            prop_assert_eq!(t.to_string(), text);
        }
    }
}
