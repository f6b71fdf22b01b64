//! UDP: the client's socket ([`Datagram`], `send -u` with `--source`,
//! `--broadcast`, `--ttl`) and multicast groups a server joins
//! (`--join GROUP[@IFADDR]`).
//!
//! It exists because datagrams follow other rules than streams: a socket
//! to a unicast address is connected, one to a multicast group or a
//! broadcast address is not, and a refusal surfaces on the next receive.
//! Binding a server's UDP socket is with the other listeners, in `bind.rs`.

use std::{
    fmt, io,
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    str::FromStr,
};

use anyhow::Result;
use tokio::net::UdpSocket;

use super::{
    addr::{HostPort, SourceAddr, Target},
    connect::{local_end, resolve},
    error::{join_error, option_error, source_error, udp_connect_error},
};

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
    if options.broadcast {
        socket
            .set_broadcast(true)
            .map_err(|e| option_error("--broadcast", &e))?;
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
        result.map_err(|e| option_error("--ttl", &e))?;
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
        result.map_err(|e| join_error(group, socket.local_addr(), &e))?;
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
            Err(e) => last = Some(udp_connect_error(target, &e)),
        }
    }
    Err(last.expect("resolve returns at least one address"))
}
