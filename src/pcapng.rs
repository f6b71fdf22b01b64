//! `--pcap FILE`: what p1ge0n recorded, as a pcapng file Wireshark opens.
//!
//! p1ge0n sees the bytes of its sockets, not packets, so this renders each
//! connection as the packets that would have carried them: raw IPv4/IPv6
//! (link type RAW) with TCP headers whose sequence and acknowledgement
//! numbers are consistent, a three-way handshake at open, segments of at
//! most 65,000 bytes, FIN (or RST on an error) at close; UDP datagrams as
//! UDP. Timestamps are the real ones. Follow TCP Stream and the protocol
//! dissectors then show exactly the bytes that crossed the socket, and
//! `replay` reads the file back. Pure: a [`Render`] like the capture's;
//! the observer writes the bytes.

use std::{
    collections::HashMap,
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    time::{SystemTime, UNIX_EPOCH},
};

use etherparse::PacketBuilder;

use crate::record::{Event, Meta, Peer, Render, Role, Side, Transport};

/// The largest TCP payload per synthesized segment.
const SEGMENT: usize = 65_000;
/// The link type of raw IP packets (no link-layer header).
const LINKTYPE_RAW: u16 = 101;

/// One connection's addresses and next sequence numbers.
#[derive(Debug, Clone)]
struct Tcp {
    client: SocketAddr,
    server: SocketAddr,
    client_seq: u32,
    server_seq: u32,
}

/// Renders events as pcapng blocks.
#[derive(Debug, Clone)]
pub struct PcapRender {
    role: Role,
    transport: Transport,
    /// Our end: the listening address (servers) or the connection's local
    /// address (clients).
    local: Option<SocketAddr>,
    header_written: bool,
    conns: HashMap<u64, Tcp>,
}

impl PcapRender {
    pub fn new(role: Role) -> PcapRender {
        PcapRender {
            role,
            transport: Transport::Tcp,
            local: None,
            header_written: false,
            conns: HashMap::new(),
        }
    }

    /// The client and server of connection `meta.conn`: the peer is the
    /// client of a server (listen, proxy) and the server of a client.
    ///
    /// A Unix socket has no IP addresses to put in a packet: its
    /// connections are written as TCP over IPv4 loopback, our end port 0
    /// and the peer at 127.0.0.2 with a port made from the connection
    /// number, so that Wireshark still tells the connections apart.
    fn endpoints(&self, meta: &Meta) -> (SocketAddr, SocketAddr) {
        let peer = meta.peer.ip().unwrap_or_else(|| {
            let port = 1024 + (meta.conn % 64_000) as u16;
            SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)), port)
        });
        let local = concrete(self.local, peer);
        match self.role {
            Role::Client => (local, peer),
            Role::Server | Role::Proxy => (peer, local),
        }
    }
}

/// Our address as a packet can carry it: an unspecified listening address
/// (`[::]`, `0.0.0.0`) becomes the loopback of the peer's family, and the
/// family follows the peer's (a dual-stack socket serves IPv4 clients).
fn concrete(local: Option<SocketAddr>, peer: SocketAddr) -> SocketAddr {
    let port = local.map_or(0, |l| l.port());
    let ip = match (local.map(|l| l.ip()), peer.ip()) {
        (Some(ip), p) if !ip.is_unspecified() && ip.is_ipv4() == p.is_ipv4() => ip,
        (_, IpAddr::V4(_)) => IpAddr::V4(Ipv4Addr::LOCALHOST),
        (_, IpAddr::V6(_)) => IpAddr::V6(Ipv6Addr::LOCALHOST),
    };
    SocketAddr::new(ip, port)
}

/// A builder from `src` to `dst` (the same IP family: see [`concrete`]).
fn ip(src: SocketAddr, dst: SocketAddr) -> etherparse::PacketBuilderStep<etherparse::IpHeaders> {
    match (src.ip(), dst.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => PacketBuilder::ipv4(s.octets(), d.octets(), 64),
        (s, d) => PacketBuilder::ipv6(v6(s).octets(), v6(d).octets(), 64),
    }
}

fn v6(ip: IpAddr) -> Ipv6Addr {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    }
}

#[derive(Clone, Copy)]
enum Flags {
    Syn,
    SynAck,
    Ack,
    PshAck,
    FinAck,
    Rst,
}

/// Where one TCP segment goes: from `src` (sequence `seq`) to `dst`
/// (acknowledging `ack`).
struct Segment {
    src: SocketAddr,
    dst: SocketAddr,
    seq: u32,
    ack: u32,
    flags: Flags,
}

fn seg(src: SocketAddr, dst: SocketAddr, seq: u32, ack: u32, flags: Flags) -> Segment {
    Segment {
        src,
        dst,
        seq,
        ack,
        flags,
    }
}

/// Append one TCP segment as an Enhanced Packet Block, the IP packet built
/// in place (no copy per packet: this runs for every message).
fn tcp(out: &mut Vec<u8>, wall: SystemTime, s: Segment, payload: &[u8]) {
    let mut b = ip(s.src, s.dst).tcp(s.src.port(), s.dst.port(), s.seq, 65_535);
    b = match s.flags {
        Flags::Syn => b.syn(),
        Flags::SynAck => b.syn().ack(s.ack),
        Flags::Ack => b.ack(s.ack),
        Flags::PshAck => b.psh().ack(s.ack),
        Flags::FinAck => b.fin().ack(s.ack),
        Flags::Rst => b.rst().ack(s.ack),
    };
    // Writing into a Vec cannot fail; sizes are bounded by SEGMENT.
    write_epb(out, wall, |out| {
        let _ = b.write(out, payload);
    });
}

fn udp(out: &mut Vec<u8>, wall: SystemTime, src: SocketAddr, dst: SocketAddr, payload: &[u8]) {
    let b = ip(src, dst).udp(src.port(), dst.port());
    write_epb(out, wall, |out| {
        let _ = b.write(out, payload);
    });
}

/// Initial sequence numbers: fixed per side, so files are reproducible.
const CLIENT_ISN: u32 = 1_000;
const SERVER_ISN: u32 = 5_000;

impl Render for PcapRender {
    fn start(&mut self, out: &mut Vec<u8>, transport: Transport, local: Peer) {
        self.transport = transport;
        self.local = local.ip();
        if !std::mem::replace(&mut self.header_written, true) {
            write_header(out);
        }
    }

    fn render(&mut self, out: &mut Vec<u8>, meta: &Meta, event: Event<'_>) {
        let (client, server) = self.endpoints(meta);
        let w = meta.wall;
        if self.transport == Transport::Udp {
            if let Event::Data { from, bytes } = event {
                let (src, dst) = match from {
                    Side::Client => (client, server),
                    Side::Server => (server, client),
                };
                for chunk in bytes
                    .chunks(SEGMENT)
                    .chain(bytes.is_empty().then_some(&[][..]))
                {
                    udp(out, w, src, dst, chunk);
                }
            }
            return;
        }
        match event {
            Event::Open => {
                let (c, s) = (CLIENT_ISN, SERVER_ISN);
                tcp(out, w, seg(client, server, c, 0, Flags::Syn), &[]);
                tcp(out, w, seg(server, client, s, c + 1, Flags::SynAck), &[]);
                tcp(out, w, seg(client, server, c + 1, s + 1, Flags::Ack), &[]);
                let t = Tcp {
                    client,
                    server,
                    client_seq: c + 1,
                    server_seq: s + 1,
                };
                self.conns.insert(meta.conn, t);
            }
            Event::Data { from, bytes } => {
                let Some(t) = self.conns.get_mut(&meta.conn) else {
                    return;
                };
                for chunk in bytes.chunks(SEGMENT) {
                    let n = chunk.len() as u32;
                    let (src, dst, seq, ack) = match from {
                        Side::Client => (t.client, t.server, &mut t.client_seq, t.server_seq),
                        Side::Server => (t.server, t.client, &mut t.server_seq, t.client_seq),
                    };
                    tcp(out, w, seg(src, dst, *seq, ack, Flags::PshAck), chunk);
                    *seq = seq.wrapping_add(n);
                }
            }
            Event::Close => {
                let Some(t) = self.conns.remove(&meta.conn) else {
                    return;
                };
                let (c, s) = (t.client_seq, t.server_seq);
                tcp(out, w, seg(t.client, t.server, c, s, Flags::FinAck), &[]);
                tcp(
                    out,
                    w,
                    seg(t.server, t.client, s, c + 1, Flags::FinAck),
                    &[],
                );
                tcp(
                    out,
                    w,
                    seg(t.client, t.server, c + 1, s + 1, Flags::Ack),
                    &[],
                );
            }
            // A packet trace has no place for what a proxy did on purpose;
            // the packets it delivered (or did not) show it.
            Event::Fault { .. } => {}
            Event::Error(_) => {
                let Some(t) = self.conns.remove(&meta.conn) else {
                    return;
                };
                let (c, s) = (t.client_seq, t.server_seq);
                tcp(out, w, seg(t.client, t.server, c, s, Flags::Rst), &[]);
            }
        }
    }
}

/// Append a 32-bit little-endian value.
fn u32le(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// The Section Header Block and one Interface Description Block (raw IP,
/// microsecond timestamps, the pcapng default).
fn write_header(out: &mut Vec<u8>) {
    // SHB: type, length, byte-order magic, version 1.0, section length
    // unknown (-1), length again.
    u32le(out, 0x0a0d_0d0a);
    u32le(out, 28);
    u32le(out, 0x1a2b_3c4d);
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&(-1i64).to_le_bytes());
    u32le(out, 28);
    // IDB: type, length, link type, reserved, snap length, length again.
    u32le(out, 1);
    u32le(out, 20);
    out.extend_from_slice(&LINKTYPE_RAW.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    u32le(out, 0);
    u32le(out, 20);
}

/// One Enhanced Packet Block on interface 0, its packet written in place
/// by `packet`; the lengths are filled in afterwards.
fn write_epb(out: &mut Vec<u8>, wall: SystemTime, packet: impl FnOnce(&mut Vec<u8>)) {
    let micros = wall
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64);
    let start = out.len();
    u32le(out, 6);
    u32le(out, 0); // block length, below
    u32le(out, 0);
    u32le(out, (micros >> 32) as u32);
    u32le(out, micros as u32);
    u32le(out, 0); // captured length, below
    u32le(out, 0); // original length, below
    let data = out.len();
    packet(out);
    let len = out.len() - data;
    out.resize(data + len.div_ceil(4) * 4, 0);
    let total = (out.len() - start + 4) as u32;
    u32le(out, total);
    out[start + 4..start + 8].copy_from_slice(&total.to_le_bytes());
    out[start + 20..start + 24].copy_from_slice(&(len as u32).to_le_bytes());
    out[start + 24..start + 28].copy_from_slice(&(len as u32).to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn meta(conn: u64, peer: &str) -> Meta {
        Meta {
            elapsed: Duration::ZERO,
            wall: UNIX_EPOCH + Duration::from_secs(1_764_075_600),
            conn,
            peer: peer.parse().unwrap(),
        }
    }

    /// What we write, our own pcap reader reads back as the same
    /// conversation: one flow, the client's and the server's messages.
    #[test]
    fn a_written_session_reads_back() {
        let mut r = PcapRender::new(Role::Server);
        let mut out = Vec::new();
        r.start(&mut out, Transport::Tcp, "[::]:9000".parse().unwrap());
        let m = meta(1, "127.0.0.1:40000");
        r.render(&mut out, &m, Event::Open);
        r.render(
            &mut out,
            &m,
            Event::Data {
                from: Side::Client,
                bytes: b"PING\r\n",
            },
        );
        r.render(
            &mut out,
            &m,
            Event::Data {
                from: Side::Server,
                bytes: b"PONG\r\n",
            },
        );
        let big = vec![7u8; 150_000];
        r.render(
            &mut out,
            &m,
            Event::Data {
                from: Side::Client,
                bytes: &big,
            },
        );
        r.render(&mut out, &m, Event::Close);
        assert!(crate::pcap::is_pcap(&out));
        let flows = crate::pcap::read_flows(&out).unwrap();
        assert_eq!(flows.len(), 1);
        let f = &flows[0];
        assert_eq!(f.client, Some("127.0.0.1:40000".parse().unwrap()));
        assert_eq!(f.server, Some("127.0.0.1:9000".parse().unwrap()));
        let client: Vec<u8> = f
            .messages
            .iter()
            .filter(|m| m.from == Side::Client)
            .flat_map(|m| m.data.clone())
            .collect();
        let server: Vec<u8> = f
            .messages
            .iter()
            .filter(|m| m.from == Side::Server)
            .flat_map(|m| m.data.clone())
            .collect();
        assert_eq!(client.len(), 6 + 150_000);
        assert!(client.starts_with(b"PING\r\n"));
        assert_eq!(server, b"PONG\r\n");
    }

    #[test]
    fn udp_datagrams_read_back() {
        let mut r = PcapRender::new(Role::Client);
        let mut out = Vec::new();
        r.start(&mut out, Transport::Udp, "[::1]:5555".parse().unwrap());
        let m = meta(1, "[::1]:9000");
        r.render(
            &mut out,
            &m,
            Event::Data {
                from: Side::Client,
                bytes: b"ask",
            },
        );
        r.render(
            &mut out,
            &m,
            Event::Data {
                from: Side::Server,
                bytes: b"answer",
            },
        );
        let flows = crate::pcap::read_flows(&out).unwrap();
        assert_eq!(flows.len(), 1);
        assert_eq!(flows[0].transport, Transport::Udp);
        assert_eq!(flows[0].messages.len(), 2);
        assert_eq!(flows[0].messages[1].data, b"answer");
    }
}
