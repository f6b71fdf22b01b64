//! pcap and pcapng files -> TCP/UDP flows -> client/server messages, for
//! `replay`.
//!
//! Field bugs usually arrive as a Wireshark or tcpdump capture rather than as
//! one of our own JSON Lines captures. This module reads such a file into the
//! same [`Flow`] model, so `replay` can resend the client side and compare the
//! server side. It is pure: the caller reads the file, everything here works
//! on the bytes.
//!
//! The containers are parsed by `pcap-file` and the network and transport
//! headers by `etherparse`. What is left here is choosing the link layer,
//! reassembling TCP, and deciding what one message is:
//!
//! - **Messages.** Consecutive payload bytes from one side form one message;
//!   it ends when the other side sends payload. A request split over several
//!   segments, even 100 ms apart, is one message as long as no reply comes
//!   between them, so a request/response protocol yields alternating client
//!   and server messages. Pure ACKs carry nothing and split nothing. Finer
//!   splitting is `replay --frame`'s job: segment boundaries are the sender's
//!   TCP stack's choice, not the application's. Each UDP datagram is one
//!   message (empty datagrams included).
//! - **Times.** `Message::at` is relative to the file's first packet (of any
//!   kind). It is the time of the packet that delivered the message's first
//!   bytes in stream order: for an in-order stream the first segment, after a
//!   loss the retransmission that filled the gap.
//! - **Client and server.** The sender of the SYN (the receiver of the SYN-ACK
//!   if the SYN is missing). When the capture started mid-connection and has
//!   no handshake, the side with the higher port is the client, since clients
//!   use ephemeral ports; with equal ports, the sender of the first packet.
//!   For UDP, the sender of the first datagram.
//! - **Reassembly.** Per direction by sequence number (wrapping arithmetic).
//!   The stream starts after the SYN or, without one, at the first segment
//!   carrying data. Retransmitted bytes (whole or partial overlaps) are
//!   dropped; out-of-order segments wait until the gap before them fills. A
//!   gap that never fills (lost from the capture) is skipped at the end of the
//!   flow, and the bytes after it are still delivered in order: replaying what
//!   was captured beats replaying nothing.
//! - **Flows.** TCP flows are keyed by the 4-tuple; a SYN with a new initial
//!   sequence number starts a new flow (the port reused after FIN or RST). A
//!   tuple's first packet that is neither a SYN nor carries data (the last
//!   ACKs of a connection older than the capture) starts nothing. FIN ends a
//!   direction once every byte before it has arrived; RST ends the sender's
//!   direction at once (its payload is a diagnostic, not stream data). Flows
//!   that carried no payload (a handshake and a close) are still listed. UDP
//!   flows are keyed by the unordered address pair. Flows come in the order of
//!   their first packet.
//! - **Skipped without error:** non-IP frames, IP packets that are neither
//!   TCP nor UDP (ICMP, IGMP, ...) even when malformed, and IP fragments:
//!   there is no IP reassembly, so a fragmented UDP datagram is missing from
//!   its flow (loopback's 64 KiB MTU makes this rare where it matters).
//! - **Errors,** with the 1-based packet number: a cut-short or malformed
//!   container, zero or implausible captured lengths, an unsupported link
//!   type, malformed IP/TCP/UDP headers, and packets the capture's snapshot
//!   length cut short. A file cut exactly at a record boundary is a valid,
//!   shorter file: neither format records a packet count. Checksums are not
//!   verified: with checksum offload, captured outgoing packets routinely
//!   carry wrong ones.

use std::{
    collections::{BTreeMap, HashMap},
    fmt,
    net::{IpAddr, SocketAddr},
    time::Duration,
};

use etherparse::{
    err::{packet::SliceError, Layer},
    EtherType, NetSlice, SlicedPacket, TransportSlice,
};
use pcap_file::{
    pcap::PcapParser,
    pcapng::{
        blocks::{
            interface_description::InterfaceDescriptionOption, ENHANCED_PACKET_BLOCK, PACKET_BLOCK,
            SIMPLE_PACKET_BLOCK,
        },
        Block, PcapNgParser,
    },
    DataLink, Endianness, TsResolution,
};

use crate::{
    flow::{Flow, Message},
    record::{Side, Transport},
};

/// Where a packet-capture file is malformed: the 1-based packet number when
/// known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PcapError {
    pub packet: Option<usize>,
    pub reason: String,
}

impl PcapError {
    fn file(reason: impl Into<String>) -> Self {
        PcapError {
            packet: None,
            reason: reason.into(),
        }
    }

    fn packet(number: usize, reason: impl Into<String>) -> Self {
        PcapError {
            packet: Some(number),
            reason: reason.into(),
        }
    }
}

impl fmt::Display for PcapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.packet {
            Some(n) => write!(f, "packet {n}: {}", self.reason),
            None => f.write_str(&self.reason),
        }
    }
}

impl std::error::Error for PcapError {}

const PCAP_MAGICS: [[u8; 4]; 4] = [
    [0xa1, 0xb2, 0xc3, 0xd4], // microseconds, big-endian
    [0xd4, 0xc3, 0xb2, 0xa1], // microseconds, little-endian
    [0xa1, 0xb2, 0x3c, 0x4d], // nanoseconds, big-endian
    [0x4d, 0x3c, 0xb2, 0xa1], // nanoseconds, little-endian
];
/// The section header block type; a palindrome, so byte order does not matter.
const PCAPNG_MAGIC: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];
const PCAPNG_BYTE_ORDER: [[u8; 4]; 2] = [[0x1a, 0x2b, 0x3c, 0x4d], [0x4d, 0x3c, 0x2b, 0x1a]];

/// The largest captured length accepted: tcpdump's and Wireshark's maximum
/// snapshot length. Anything above it is a corrupt length field.
const MAX_CAPTURED: usize = 262_144;

const SUPPORTED_LINKS: &str = "Ethernet, Linux cooked SLL/SLL2, raw IP, loopback/null";

/// True when `bytes` start with a pcap (either byte order, µs or ns) or pcapng
/// magic.
pub fn is_pcap(bytes: &[u8]) -> bool {
    let Some(start) = bytes.first_chunk::<4>() else {
        return false;
    };
    if PCAP_MAGICS.contains(start) {
        return true;
    }
    // "\n\r\r\n" could begin a text file, so pcapng also needs its byte-order
    // magic; a file too short to hold it is still claimed, so that it is
    // reported as a truncated capture rather than parsed as a script.
    *start == PCAPNG_MAGIC
        && bytes
            .get(8..12)
            .is_none_or(|bom| PCAPNG_BYTE_ORDER.iter().any(|m| m == bom))
}

/// All TCP and UDP flows in the file, in order of their first packet. Message
/// times (`Message::at`) are relative to the file's first packet.
pub fn read_flows(bytes: &[u8]) -> Result<Vec<Flow>, PcapError> {
    // A file cut inside its magic is still recognisably a capture.
    let mut magics = PCAP_MAGICS.iter().chain([&PCAPNG_MAGIC]);
    if (1..4).contains(&bytes.len()) && magics.any(|m| m.starts_with(bytes)) {
        return Err(PcapError::file("truncated file header"));
    }
    if !is_pcap(bytes) {
        return Err(PcapError::file("not a pcap or pcapng file"));
    }
    let mut flows = Flows::default();
    if bytes.starts_with(&PCAPNG_MAGIC) {
        read_pcapng(bytes, &mut flows)?;
    } else {
        read_pcap(bytes, &mut flows)?;
    }
    Ok(flows.finish())
}

/// The link layers we can find IP in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Link {
    Ethernet,
    /// Linux cooked capture v1 (`tcpdump -i any` before libpcap 1.10).
    Sll,
    /// Linux cooked capture v2 (`tcpdump -i any` since libpcap 1.10).
    Sll2,
    RawIp,
    /// BSD loopback: a 4-byte address family, in the writer's byte order for
    /// NULL and in network order for LOOP.
    Null,
}

impl Link {
    fn from_datalink(datalink: DataLink) -> Result<Link, String> {
        match datalink {
            DataLink::ETHERNET => Ok(Link::Ethernet),
            DataLink::LINUX_SLL => Ok(Link::Sll),
            DataLink::LINUX_SLL2 => Ok(Link::Sll2),
            DataLink::RAW | DataLink::IPV4 | DataLink::IPV6 => Ok(Link::RawIp),
            DataLink::NULL | DataLink::LOOP => Ok(Link::Null),
            other => Err(format!(
                "unsupported link type {} (supported: {SUPPORTED_LINKS})",
                u32::from(other)
            )),
        }
    }
}

/// One captured packet, as the containers hand it over.
struct Frame<'a> {
    number: usize,
    time: Duration,
    link: Link,
    data: &'a [u8],
    original_len: u32,
}

fn check_captured_len(len: usize) -> Result<(), String> {
    if len == 0 {
        Err("captured length is 0".into())
    } else if len > MAX_CAPTURED {
        Err(format!(
            "captured length {len} is larger than any capture tool writes ({MAX_CAPTURED})"
        ))
    } else {
        Ok(())
    }
}

fn read_pcap(bytes: &[u8], flows: &mut Flows) -> Result<(), PcapError> {
    let (mut rest, parser) = PcapParser::new(bytes).map_err(|e| match e {
        pcap_file::PcapError::IncompleteBuffer => PcapError::file("truncated file header"),
        other => PcapError::file(format!("invalid file header: {other}")),
    })?;
    let header = parser.header();
    let link = Link::from_datalink(header.datalink).map_err(PcapError::file)?;
    let mut number = 0;
    while !rest.is_empty() {
        number += 1;
        // The slice parser only fails for lack of bytes, and says no more; the
        // record's length field tells a cut-off file from a corrupt length.
        let (next, raw) = parser.next_raw_packet(rest).map_err(|_| {
            let reason = match record_len(rest, header.endianness) {
                None => "truncated packet header".to_string(),
                Some(len) => check_captured_len(len).err().unwrap_or_else(|| {
                    format!(
                        "truncated packet data (the record holds {len} bytes, the file ends after {})",
                        rest.len() - 16
                    )
                }),
            };
            PcapError::packet(number, reason)
        })?;
        check_captured_len(raw.data.len()).map_err(|r| PcapError::packet(number, r))?;
        // Lenient about a fraction out of range: Duration carries it over.
        let nanos = match header.ts_resolution {
            TsResolution::MicroSecond => u64::from(raw.ts_frac) * 1000,
            TsResolution::NanoSecond => u64::from(raw.ts_frac),
        };
        flows.frame(Frame {
            number,
            time: Duration::from_secs(raw.ts_sec.into()) + Duration::from_nanos(nanos),
            link,
            data: &raw.data,
            original_len: raw.orig_len,
        })?;
        rest = next;
    }
    Ok(())
}

/// The captured-length field of a pcap packet record, for error messages;
/// `None` if the record header itself is incomplete.
fn record_len(record: &[u8], endianness: Endianness) -> Option<usize> {
    if record.len() < 16 {
        return None;
    }
    let field: [u8; 4] = record[8..12].try_into().ok()?;
    let len = match endianness {
        Endianness::Big => u32::from_be_bytes(field),
        Endianness::Little => u32::from_le_bytes(field),
    };
    usize::try_from(len).ok()
}

fn read_pcapng(bytes: &[u8], flows: &mut Flows) -> Result<(), PcapError> {
    let (mut rest, mut parser) = PcapNgParser::new(bytes).map_err(|e| match e {
        pcap_file::PcapError::IncompleteBuffer => PcapError::file("truncated file header"),
        other => PcapError::file(format!("invalid file header: {other}")),
    })?;
    let mut number = 0;
    // Simple packet blocks carry no timestamp; they inherit the last one.
    let mut last_time = Duration::ZERO;
    while !rest.is_empty() {
        // Errors in any block are reported against the packet being read:
        // non-packet blocks have no number of their own.
        let current = number + 1;
        let block_error = |e: pcap_file::PcapError| {
            let reason = match e {
                pcap_file::PcapError::IncompleteBuffer => "truncated block".to_string(),
                pcap_file::PcapError::InvalidField(field) => format!("invalid block: {field}"),
                other => format!("invalid block: {other}"),
            };
            PcapError::packet(current, reason)
        };
        let (next, raw) = parser.next_raw_block(rest).map_err(block_error)?;
        if !matches!(
            raw.type_,
            ENHANCED_PACKET_BLOCK | SIMPLE_PACKET_BLOCK | PACKET_BLOCK
        ) {
            // The parser keeps track of section headers and interface
            // descriptions itself. Statistics, name resolution and custom
            // blocks are of no use here, so they are never decoded, and a
            // quirk in one cannot fail the file.
            rest = next;
            continue;
        }
        // Packet blocks leave no state in the parser, so decoding the same
        // bytes again is safe.
        let (_, block) = parser.next_block(rest).map_err(block_error)?;
        rest = next;
        let (interface, ticks, data, original_len) = match &block {
            Block::EnhancedPacket(b) => (
                b.interface_id,
                // pcap-file stores the raw tick count as nanoseconds whatever
                // the interface's resolution; it is scaled below.
                Some(u64::try_from(b.timestamp.as_nanos()).unwrap_or(u64::MAX)),
                &b.data[..],
                b.original_len,
            ),
            Block::Packet(b) => (
                u32::from(b.interface_id),
                Some(b.timestamp),
                &b.data[..],
                b.original_len,
            ),
            Block::SimplePacket(b) => (0, None, &b.data[..], b.original_len),
            _ => continue,
        };
        number = current;
        let fail = |reason: String| PcapError::packet(number, reason);
        let idb = parser
            .interfaces()
            .get(interface as usize)
            .ok_or_else(|| fail(format!("refers to undescribed interface {interface}")))?;
        let link = Link::from_datalink(idb.linktype).map_err(fail)?;
        let data = if ticks.is_none() {
            // A simple packet block's body is padded to 32 bits and has no
            // captured length: the packet is the original length, cut to the
            // interface's snapshot length (0 means none).
            let snaplen = match idb.snaplen {
                0 => u32::MAX,
                n => n,
            };
            &data[..data.len().min(original_len.min(snaplen) as usize)]
        } else {
            data
        };
        check_captured_len(data.len()).map_err(fail)?;
        if let Some(ticks) = ticks {
            last_time = interface_time(ticks, &idb.options);
        }
        flows.frame(Frame {
            number,
            time: last_time,
            link,
            data,
            original_len,
        })?;
    }
    Ok(())
}

/// A pcapng timestamp in the units its interface declares (`if_tsresol`,
/// default microseconds), shifted by the interface's `if_tsoffset`.
fn interface_time(ticks: u64, options: &[InterfaceDescriptionOption]) -> Duration {
    let mut resolution = 6;
    let mut offset = 0i64;
    for option in options {
        match option {
            InterfaceDescriptionOption::IfTsResol(r) => resolution = *r,
            // Signed in the specification, unsigned in pcap-file.
            InterfaceDescriptionOption::IfTsOffset(o) => offset = *o as i64,
            _ => {}
        }
    }
    // u128 holds ticks times 10^9, so only the divisions can lose anything.
    let ticks = u128::from(ticks);
    let nanos = if resolution & 0x80 == 0 {
        let exponent = u32::from(resolution);
        if exponent <= 9 {
            ticks * 10u128.pow(9 - exponent)
        } else {
            10u128
                .checked_pow(exponent - 9)
                .map_or(0, |divisor| ticks / divisor)
        }
    } else {
        (ticks * 1_000_000_000) >> u32::from(resolution & 0x7f)
    };
    // At most ticks seconds, so the seconds fit in a u64.
    let time = Duration::new(
        (nanos / 1_000_000_000) as u64,
        (nanos % 1_000_000_000) as u32,
    );
    let shift = Duration::from_secs(offset.unsigned_abs());
    let shifted = if offset >= 0 {
        time.checked_add(shift)
    } else {
        time.checked_sub(shift)
    };
    shifted.unwrap_or(time)
}

/// Slices a frame down to its transport layer. `Ok(None)` for frames that
/// carry no IP at all.
fn slice(link: Link, data: &[u8]) -> Result<Option<SlicedPacket<'_>>, String> {
    let sliced = match link {
        Link::Ethernet => SlicedPacket::from_ethernet(data),
        Link::RawIp => SlicedPacket::from_ip(data),
        // etherparse has no SLL2, and its SLL parser rejects ARPHRD_LOOPBACK,
        // which is exactly what `tcpdump -i any` records for loopback traffic.
        // Both cooked headers are fixed-size and only their protocol field (an
        // EtherType) matters, so it is read here and the rest left to
        // etherparse.
        Link::Sll | Link::Sll2 => {
            let (header_len, protocol_at) = if link == Link::Sll { (16, 14) } else { (20, 0) };
            let (Some(&[hi, lo]), Some(rest)) = (
                data.get(protocol_at..protocol_at + 2),
                data.get(header_len..),
            ) else {
                return Err("truncated Linux cooked capture header".into());
            };
            SlicedPacket::from_ether_type(EtherType(u16::from_be_bytes([hi, lo])), rest)
        }
        Link::Null => {
            let Some(family) = data.first_chunk::<4>() else {
                return Err("truncated loopback header".into());
            };
            // AF_INET is 2 everywhere; AF_INET6 is 24, 28 or 30 depending on
            // the BSD. The byte order is the capturing machine's, so try both.
            let is_ip = |f: u32| matches!(f, 2 | 24 | 28 | 30);
            if !is_ip(u32::from_le_bytes(*family)) && !is_ip(u32::from_be_bytes(*family)) {
                return Ok(None);
            }
            SlicedPacket::from_ip(&data[4..])
        }
    };
    match sliced {
        Ok(packet) => Ok(Some(packet)),
        Err(e) if damage_is_elsewhere(&e) => Ok(None),
        Err(e) => Err(e.to_string()),
    }
}

/// Whether a slicing error lies in a protocol we skip anyway.
fn damage_is_elsewhere(e: &SliceError) -> bool {
    let SliceError::Len(len) = e else {
        return false;
    };
    matches!(
        len.layer,
        Layer::Icmpv4
            | Layer::Icmpv4Timestamp
            | Layer::Icmpv4TimestampReply
            | Layer::Icmpv6
            | Layer::Igmp
            | Layer::Arp
            | Layer::MacsecHeader
            | Layer::MacsecPacket
    )
}

/// What reassembly needs from a TCP header.
struct Segment<'a> {
    seq: u32,
    syn: bool,
    ack: bool,
    fin: bool,
    rst: bool,
    payload: &'a [u8],
}

/// All flows seen so far and the state of the TCP connections among them.
#[derive(Default)]
struct Flows {
    /// The first packet's time, which message times are relative to.
    origin: Option<Duration>,
    flows: Vec<Flow>,
    /// Keyed by the address pair in sorted order, so both directions find it.
    tcp: HashMap<(SocketAddr, SocketAddr), Connection>,
    udp: HashMap<(SocketAddr, SocketAddr), usize>,
}

fn pair(a: SocketAddr, b: SocketAddr) -> (SocketAddr, SocketAddr) {
    if a <= b {
        (a, b)
    } else {
        (b, a)
    }
}

impl Flows {
    fn frame(&mut self, frame: Frame) -> Result<(), PcapError> {
        let origin = *self.origin.get_or_insert(frame.time);
        let at = frame.time.saturating_sub(origin);
        let packet = match slice(frame.link, frame.data) {
            Ok(Some(packet)) => packet,
            Ok(None) => return Ok(()),
            Err(reason) => {
                // A snapshot length too small shows up as headers claiming
                // more bytes than were captured; say so instead.
                let captured = frame.data.len();
                let original = frame.original_len as usize;
                let reason = if captured < original {
                    format!(
                        "only {captured} of {original} bytes were captured (snapshot \
                         length too small; capture with `tcpdump -s 0`)"
                    )
                } else {
                    reason
                };
                return Err(PcapError::packet(frame.number, reason));
            }
        };
        let (src, dst): (IpAddr, IpAddr) = match &packet.net {
            Some(NetSlice::Ipv4(ip)) => (
                ip.header().source_addr().into(),
                ip.header().destination_addr().into(),
            ),
            Some(NetSlice::Ipv6(ip)) => (
                ip.header().source_addr().into(),
                ip.header().destination_addr().into(),
            ),
            _ => return Ok(()),
        };
        // Fragments and protocols other than TCP and UDP have no transport
        // slice, or one we do not want.
        match &packet.transport {
            Some(TransportSlice::Tcp(tcp)) => self.tcp(
                at,
                SocketAddr::new(src, tcp.source_port()),
                SocketAddr::new(dst, tcp.destination_port()),
                &Segment {
                    seq: tcp.sequence_number(),
                    syn: tcp.syn(),
                    ack: tcp.ack(),
                    fin: tcp.fin(),
                    rst: tcp.rst(),
                    payload: tcp.payload(),
                },
            ),
            Some(TransportSlice::Udp(udp)) => self.udp(
                at,
                SocketAddr::new(src, udp.source_port()),
                SocketAddr::new(dst, udp.destination_port()),
                udp.payload(),
            ),
            _ => {}
        }
        Ok(())
    }

    fn tcp(&mut self, at: Duration, src: SocketAddr, dst: SocketAddr, segment: &Segment) {
        let key = pair(src, dst);
        let opening = segment.syn && !segment.ack;
        let starts_flow = match self.tcp.get(&key) {
            None => !segment.rst && (segment.syn || !segment.payload.is_empty()),
            // A retransmitted SYN has the same initial sequence number.
            Some(connection) => opening && connection.client_isn != Some(segment.seq),
        };
        if starts_flow {
            if let Some(old) = self.tcp.remove(&key) {
                old.finish(&mut self.flows);
            }
            let client = if opening {
                src
            } else if segment.syn {
                dst
            } else if src.port() != dst.port() {
                if src.port() > dst.port() {
                    src
                } else {
                    dst
                }
            } else {
                src
            };
            let server = if client == src { dst } else { src };
            self.flows.push(Flow {
                transport: Transport::Tcp,
                client: Some(client),
                server: Some(server),
                messages: Vec::new(),
            });
            let connection = Connection {
                flow: self.flows.len() - 1,
                client,
                client_isn: opening.then_some(segment.seq),
                streams: Default::default(),
            };
            self.tcp.insert(key, connection);
        }
        let Some(connection) = self.tcp.get_mut(&key) else {
            return;
        };
        let flow = &mut self.flows[connection.flow];
        let side = if src == connection.client {
            Side::Client
        } else {
            Side::Server
        };
        connection.streams[stream_index(side)]
            .segment(segment, at, &mut |at, bytes| append(flow, side, at, bytes));
    }

    fn udp(&mut self, at: Duration, src: SocketAddr, dst: SocketAddr, payload: &[u8]) {
        let flows = &mut self.flows;
        let index = *self.udp.entry(pair(src, dst)).or_insert_with(|| {
            flows.push(Flow {
                transport: Transport::Udp,
                client: Some(src),
                server: Some(dst),
                messages: Vec::new(),
            });
            flows.len() - 1
        });
        let flow = &mut self.flows[index];
        let from = if flow.client == Some(src) {
            Side::Client
        } else {
            Side::Server
        };
        flow.messages.push(Message {
            at,
            from,
            data: payload.to_vec(),
        });
    }

    fn finish(mut self) -> Vec<Flow> {
        for (_, connection) in self.tcp.drain() {
            connection.finish(&mut self.flows);
        }
        self.flows
    }
}

/// Adds bytes to the flow: to the last message when the same side sent it,
/// as a new message otherwise.
fn append(flow: &mut Flow, from: Side, at: Duration, bytes: &[u8]) {
    if bytes.is_empty() {
        return;
    }
    match flow.messages.last_mut() {
        Some(last) if last.from == from => last.data.extend_from_slice(bytes),
        _ => flow.messages.push(Message {
            at,
            from,
            data: bytes.to_vec(),
        }),
    }
}

/// One TCP connection: its flow's index and a stream per direction.
struct Connection {
    flow: usize,
    client: SocketAddr,
    /// From the client's SYN; tells a retransmitted SYN from a new connection.
    client_isn: Option<u32>,
    /// Client to server, then server to client (see [`stream_index`]).
    streams: [Stream; 2],
}

fn stream_index(side: Side) -> usize {
    match side {
        Side::Client => 0,
        Side::Server => 1,
    }
}

impl Connection {
    /// Delivers what is still waiting behind gaps, in capture order across
    /// both directions.
    fn finish(mut self, flows: &mut [Flow]) {
        let flow = &mut flows[self.flow];
        let client = self.streams[stream_index(Side::Client)].flush();
        let server = self.streams[stream_index(Side::Server)].flush();
        let mut client = client.into_iter().peekable();
        let mut server = server.into_iter().peekable();
        loop {
            let from = match (client.peek(), server.peek()) {
                (Some(c), Some(s)) if s.0 < c.0 => Side::Server,
                (Some(_), _) => Side::Client,
                (None, Some(_)) => Side::Server,
                (None, None) => break,
            };
            let next = match from {
                Side::Client => client.next(),
                Side::Server => server.next(),
            };
            if let Some((at, bytes)) = next {
                append(flow, from, at, &bytes);
            }
        }
    }
}

/// One direction of a TCP connection, reassembled.
///
/// Positions are stream offsets in a u64 (0 is the first byte after the SYN),
/// so only the distance between a segment and the next expected byte is
/// computed modulo 2^32, and streams over 4 GiB keep working.
#[derive(Default)]
struct Stream {
    /// The sequence number of offset 0, once known.
    base: Option<u32>,
    /// Bytes delivered in order so far: the offset of the next expected byte.
    delivered: u64,
    /// Segments beyond a gap, by offset, with their capture times.
    pending: BTreeMap<u64, (Duration, Vec<u8>)>,
    /// The offset of the FIN, once seen.
    fin: Option<u64>,
    closed: bool,
}

impl Stream {
    fn segment(
        &mut self,
        segment: &Segment,
        at: Duration,
        deliver: &mut dyn FnMut(Duration, &[u8]),
    ) {
        if self.closed {
            return;
        }
        if segment.rst {
            for (at, bytes) in self.flush() {
                deliver(at, &bytes);
            }
            return;
        }
        // The SYN occupies one sequence number; data on a SYN (TCP Fast Open)
        // follows it.
        let first = if segment.syn {
            segment.seq.wrapping_add(1)
        } else {
            segment.seq
        };
        let base = match self.base {
            Some(base) => base,
            None if segment.syn || !segment.payload.is_empty() => *self.base.insert(first),
            None => {
                // A FIN on a stream that never carried anything ends it.
                self.closed = segment.fin;
                return;
            }
        };
        let next = base.wrapping_add(self.delivered as u32);
        // A signed 32-bit distance: segments up to 2 GiB behind or ahead.
        let start = self.delivered as i64 + i64::from(first.wrapping_sub(next) as i32);
        let end = start + segment.payload.len() as i64;
        if segment.fin && self.fin.is_none() {
            self.fin = Some(end.max(0) as u64);
        }
        let delivered = self.delivered as i64;
        if end > delivered {
            if start <= delivered {
                // Whatever overlaps delivered bytes is a retransmission.
                deliver(at, &segment.payload[(delivered - start) as usize..]);
                self.delivered = end as u64;
                self.drain(at, deliver);
            } else {
                let waiting = self.pending.entry(start as u64).or_default();
                if segment.payload.len() > waiting.1.len() {
                    *waiting = (at, segment.payload.to_vec());
                }
            }
        }
        if self.fin.is_some_and(|fin| self.delivered >= fin) {
            self.closed = true;
        }
    }

    /// Delivers pending segments the stream has now reached.
    fn drain(&mut self, at: Duration, deliver: &mut dyn FnMut(Duration, &[u8])) {
        while let Some(entry) = self.pending.first_entry() {
            let start = *entry.key();
            if start > self.delivered {
                break;
            }
            let (_, bytes) = entry.remove();
            let end = start + bytes.len() as u64;
            if end > self.delivered {
                deliver(at, &bytes[(self.delivered - start) as usize..]);
                self.delivered = end;
            }
        }
    }

    /// Ends the stream: pending segments in order, gaps skipped, each with
    /// its own capture time.
    fn flush(&mut self) -> Vec<(Duration, Vec<u8>)> {
        self.closed = true;
        let mut chunks = Vec::new();
        for (start, (at, mut bytes)) in std::mem::take(&mut self.pending) {
            let end = start + bytes.len() as u64;
            if end > self.delivered {
                bytes.drain(..self.delivered.saturating_sub(start) as usize);
                chunks.push((at, bytes));
                self.delivered = end;
            }
        }
        chunks
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use etherparse::{IpHeaders, PacketBuilder, PacketBuilderStep};
    use pcap_file::{
        pcap::{PcapHeader, PcapPacket, PcapWriter},
        pcapng::{
            blocks::{
                enhanced_packet::EnhancedPacketBlock,
                interface_description::InterfaceDescriptionBlock, simple_packet::SimplePacketBlock,
            },
            PcapNgBlock, PcapNgWriter,
        },
    };
    use proptest::{collection::vec, prelude::*};
    use std::borrow::Cow;

    use Side::{Client as C, Server as S};

    type Packets = Vec<(Duration, Vec<u8>)>;

    /// Captures start at a realistic epoch time, so relative times are tested.
    const EPOCH: Duration = Duration::from_secs(1_700_000_000);

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn ip(src: SocketAddr, dst: SocketAddr) -> PacketBuilderStep<IpHeaders> {
        let eth = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);
        match (src.ip(), dst.ip()) {
            (IpAddr::V4(s), IpAddr::V4(d)) => eth.ipv4(s.octets(), d.octets(), 64),
            (IpAddr::V6(s), IpAddr::V6(d)) => eth.ipv6(s.octets(), d.octets(), 64),
            _ => panic!("mixed address families"),
        }
    }

    /// An Ethernet frame with a TCP segment; `flags` holds S, F, R, P.
    fn tcp_frame(
        src: SocketAddr,
        dst: SocketAddr,
        seq: u32,
        ack: Option<u32>,
        flags: &str,
        payload: &[u8],
    ) -> Vec<u8> {
        let mut b = ip(src, dst).tcp(src.port(), dst.port(), seq, 65535);
        for flag in flags.chars() {
            b = match flag {
                'S' => b.syn(),
                'F' => b.fin(),
                'R' => b.rst(),
                'P' => b.psh(),
                _ => panic!("flag {flag}"),
            };
        }
        if let Some(ack) = ack {
            b = b.ack(ack);
        }
        let mut frame = Vec::new();
        b.write(&mut frame, payload).unwrap();
        frame
    }

    fn udp_frame(src: SocketAddr, dst: SocketAddr, payload: &[u8]) -> Vec<u8> {
        let mut frame = Vec::new();
        ip(src, dst)
            .udp(src.port(), dst.port())
            .write(&mut frame, payload)
            .unwrap();
        frame
    }

    /// Builds a TCP conversation, keeping sequence numbers and a clock that
    /// advances 1 ms per packet.
    struct Conversation {
        client: SocketAddr,
        server: SocketAddr,
        /// Next sequence number of the client and of the server.
        seq: [u32; 2],
        time: Duration,
        packets: Packets,
    }

    impl Conversation {
        fn new(client: &str, server: &str) -> Self {
            Conversation {
                client: addr(client),
                server: addr(server),
                seq: [1000, 5000],
                time: EPOCH,
                packets: Vec::new(),
            }
        }

        fn ends(&self, from: Side) -> (SocketAddr, SocketAddr, usize) {
            match from {
                C => (self.client, self.server, 0),
                S => (self.server, self.client, 1),
            }
        }

        fn push(&mut self, frame: Vec<u8>) {
            self.packets.push((self.time, frame));
            self.time += Duration::from_millis(1);
        }

        /// A segment at an explicit sequence number; nothing is advanced.
        fn segment(&mut self, from: Side, seq: u32, flags: &str, payload: &[u8]) {
            let (src, dst, i) = self.ends(from);
            let ack = self.seq[1 - i];
            self.push(tcp_frame(src, dst, seq, Some(ack), flags, payload));
        }

        fn handshake(&mut self) {
            let [c, s] = self.seq;
            self.push(tcp_frame(self.client, self.server, c, None, "S", b""));
            self.push(tcp_frame(
                self.server,
                self.client,
                s,
                Some(c + 1),
                "S",
                b"",
            ));
            self.seq = [c + 1, s + 1];
            self.segment(C, c + 1, "", b"");
        }

        fn send(&mut self, from: Side, payload: &[u8]) {
            let i = self.ends(from).2;
            self.segment(from, self.seq[i], "P", payload);
            self.seq[i] = self.seq[i].wrapping_add(payload.len() as u32);
        }

        fn ack(&mut self, from: Side) {
            let i = self.ends(from).2;
            self.segment(from, self.seq[i], "", b"");
        }

        fn fin(&mut self, from: Side) {
            let i = self.ends(from).2;
            self.segment(from, self.seq[i], "F", b"");
            self.seq[i] = self.seq[i].wrapping_add(1);
        }

        fn close(&mut self) {
            self.fin(C);
            self.fin(S);
            self.ack(C);
        }
    }

    fn pcap_with(
        datalink: DataLink,
        ts_resolution: TsResolution,
        endianness: Endianness,
        packets: &[(Duration, Vec<u8>)],
    ) -> Vec<u8> {
        let header = PcapHeader {
            datalink,
            ts_resolution,
            endianness,
            snaplen: MAX_CAPTURED as u32,
            ..Default::default()
        };
        let mut writer = PcapWriter::with_header(Vec::new(), header).unwrap();
        for (time, data) in packets {
            let packet = PcapPacket::new(*time, data.len() as u32, data);
            writer.write_packet(&packet).unwrap();
        }
        writer.into_writer()
    }

    fn pcap(packets: &[(Duration, Vec<u8>)]) -> Vec<u8> {
        pcap_with(
            DataLink::ETHERNET,
            TsResolution::MicroSecond,
            Endianness::Little,
            packets,
        )
    }

    fn messages(flow: &Flow) -> Vec<(Side, String)> {
        flow.messages
            .iter()
            .map(|m| (m.from, String::from_utf8_lossy(&m.data).into_owned()))
            .collect()
    }

    fn expect(pairs: &[(Side, &str)]) -> Vec<(Side, String)> {
        pairs.iter().map(|(s, d)| (*s, d.to_string())).collect()
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Handshake, two request/response rounds, close.
    fn modbus_like() -> Conversation {
        let mut t = Conversation::new("10.0.0.1:50000", "10.0.0.2:502");
        t.handshake();
        t.send(C, b"read\r\n");
        t.ack(S);
        t.send(S, b"value 1\r\n");
        t.ack(C);
        t.send(C, b"write 2\r\n");
        t.send(S, b"ok\r\n");
        t.close();
        t
    }

    #[test]
    fn request_response_with_handshake() {
        let t = modbus_like();
        let flows = read_flows(&pcap(&t.packets)).unwrap();
        assert_eq!(flows.len(), 1);
        let flow = &flows[0];
        assert_eq!(flow.transport, Transport::Tcp);
        assert_eq!(flow.client, Some(addr("10.0.0.1:50000")));
        assert_eq!(flow.server, Some(addr("10.0.0.2:502")));
        assert_eq!(
            messages(flow),
            expect(&[
                (C, "read\r\n"),
                (S, "value 1\r\n"),
                (C, "write 2\r\n"),
                (S, "ok\r\n")
            ])
        );
        // Packets 4, 6, 8 and 9 carry the data, 1 ms apart from packet 1.
        let times: Vec<_> = flow.messages.iter().map(|m| m.at).collect();
        assert_eq!(times, [ms(3), ms(5), ms(7), ms(8)]);
        assert_eq!(flow.totals(C), (2, 15));
    }

    #[test]
    fn ipv6_and_big_endian() {
        let mut t = Conversation::new("[fd00::1]:40000", "[fd00::2]:80");
        t.handshake();
        t.send(C, b"GET");
        t.send(S, b"200");
        let file = pcap_with(
            DataLink::ETHERNET,
            TsResolution::MicroSecond,
            Endianness::Big,
            &t.packets,
        );
        let flows = read_flows(&file).unwrap();
        assert_eq!(flows[0].client, Some(addr("[fd00::1]:40000")));
        assert_eq!(messages(&flows[0]), expect(&[(C, "GET"), (S, "200")]));
    }

    #[test]
    fn segments_of_one_request_form_one_message() {
        let mut t = Conversation::new("10.0.0.1:50000", "10.0.0.2:502");
        t.handshake();
        t.send(C, b"first half, ");
        t.ack(S);
        t.time += ms(100);
        t.send(C, b"second half");
        t.send(S, b"reply");
        let flows = read_flows(&pcap(&t.packets)).unwrap();
        assert_eq!(
            messages(&flows[0]),
            expect(&[(C, "first half, second half"), (S, "reply")])
        );
        assert_eq!(flows[0].messages[0].at, ms(3));
    }

    #[test]
    fn missing_handshake_client_is_the_higher_port() {
        let mut t = Conversation::new("10.0.0.1:50000", "10.0.0.2:502");
        // The capture starts with the server's reply to an unseen request.
        t.send(S, b"late reply");
        t.send(C, b"next request");
        t.send(S, b"next reply");
        let flows = read_flows(&pcap(&t.packets)).unwrap();
        assert_eq!(flows[0].client, Some(addr("10.0.0.1:50000")));
        assert_eq!(flows[0].server, Some(addr("10.0.0.2:502")));
        assert_eq!(
            messages(&flows[0]),
            expect(&[(S, "late reply"), (C, "next request"), (S, "next reply")])
        );
    }

    #[test]
    fn missing_handshake_equal_ports_client_is_the_first_sender() {
        let mut t = Conversation::new("10.0.0.2:4000", "10.0.0.1:4000");
        t.send(C, b"hello");
        t.send(S, b"hi");
        let flows = read_flows(&pcap(&t.packets)).unwrap();
        assert_eq!(flows[0].client, Some(addr("10.0.0.2:4000")));
        assert_eq!(messages(&flows[0]), expect(&[(C, "hello"), (S, "hi")]));
    }

    #[test]
    fn missing_syn_client_is_the_syn_ack_receiver() {
        let mut t = modbus_like();
        t.packets.remove(0);
        let flows = read_flows(&pcap(&t.packets)).unwrap();
        assert_eq!(flows[0].client, Some(addr("10.0.0.1:50000")));
        assert_eq!(flows[0].messages.len(), 4);
    }

    #[test]
    fn trailing_acks_of_an_older_connection_start_no_flow() {
        let mut t = Conversation::new("10.0.0.1:50000", "10.0.0.2:502");
        t.ack(C);
        t.fin(S);
        t.ack(C);
        assert!(read_flows(&pcap(&t.packets)).unwrap().is_empty());
    }

    #[test]
    fn retransmissions_are_dropped() {
        let mut t = Conversation::new("10.0.0.1:50000", "10.0.0.2:502");
        t.handshake();
        let isn = t.seq[0];
        t.send(C, b"hello");
        t.segment(C, isn, "P", b"hello"); // identical
        t.segment(C, isn + 2, "P", b"llo world"); // partial overlap
        t.seq[0] = isn + 11;
        t.send(S, b"reply");
        // Retransmitted after the reply: old bytes, not a new message.
        t.segment(C, isn, "P", b"hello world");
        t.segment(C, isn + 6, "P", b"wor");
        t.send(C, b"!");
        let flows = read_flows(&pcap(&t.packets)).unwrap();
        assert_eq!(
            messages(&flows[0]),
            expect(&[(C, "hello world"), (S, "reply"), (C, "!")])
        );
    }

    #[test]
    fn out_of_order_segments_wait_for_the_gap() {
        let mut t = Conversation::new("10.0.0.1:50000", "10.0.0.2:502");
        t.handshake();
        let isn = t.seq[0];
        t.segment(C, isn + 10, "P", b"three");
        t.segment(C, isn + 5, "P", b"two, ");
        t.segment(C, isn, "P", b"one, ");
        t.seq[0] = isn + 15;
        t.send(S, b"reply");
        let flows = read_flows(&pcap(&t.packets)).unwrap();
        assert_eq!(
            messages(&flows[0]),
            expect(&[(C, "one, two, three"), (S, "reply")])
        );
        // The packet that filled the gap delivered the message.
        assert_eq!(flows[0].messages[0].at, ms(5));
    }

    #[test]
    fn a_gap_that_never_fills_is_skipped_at_the_end() {
        let mut t = Conversation::new("10.0.0.1:50000", "10.0.0.2:502");
        t.handshake();
        let isn = t.seq[0];
        t.segment(C, isn, "P", b"aaa");
        t.segment(C, isn + 6, "P", b"ccc"); // "bbb" was never captured
        t.segment(C, isn + 9, "FP", b"ddd");
        let flows = read_flows(&pcap(&t.packets)).unwrap();
        assert_eq!(messages(&flows[0]), expect(&[(C, "aaacccddd")]));
    }

    #[test]
    fn sequence_numbers_wrap() {
        let mut t = Conversation::new("10.0.0.1:50000", "10.0.0.2:502");
        t.seq[0] = u32::MAX - 4;
        t.handshake();
        let isn = t.seq[0];
        t.segment(C, isn.wrapping_add(8), "P", b"89abcdef");
        t.segment(C, isn, "P", b"01234567");
        t.segment(C, isn.wrapping_add(2), "P", b"234");
        let flows = read_flows(&pcap(&t.packets)).unwrap();
        assert_eq!(messages(&flows[0]), expect(&[(C, "0123456789abcdef")]));
    }

    #[test]
    fn reset_ends_the_direction_and_carries_no_data() {
        let mut t = Conversation::new("10.0.0.1:50000", "10.0.0.2:502");
        t.handshake();
        t.send(C, b"bad request");
        let s = t.seq[1];
        t.segment(S, s, "R", b"reset reason text");
        t.segment(S, s, "P", b"after reset");
        let flows = read_flows(&pcap(&t.packets)).unwrap();
        assert_eq!(messages(&flows[0]), expect(&[(C, "bad request")]));
    }

    #[test]
    fn two_flows_in_order_of_their_first_packet() {
        let mut a = Conversation::new("10.0.0.1:50001", "10.0.0.2:502");
        let mut b = Conversation::new("10.0.0.1:50002", "10.0.0.2:502");
        a.handshake();
        b.handshake();
        b.send(C, b"b request");
        a.send(C, b"a request");
        b.send(S, b"b reply");
        a.send(S, b"a reply");
        let mut packets: Packets = Vec::new();
        for (i, (_, frame)) in a.packets.iter().enumerate() {
            packets.push((EPOCH + ms(2 * i as u64), frame.clone()));
            packets.push((EPOCH + ms(2 * i as u64 + 1), b.packets[i].1.clone()));
        }
        let flows = read_flows(&pcap(&packets)).unwrap();
        assert_eq!(flows.len(), 2);
        assert_eq!(flows[0].client, Some(addr("10.0.0.1:50001")));
        assert_eq!(
            messages(&flows[0]),
            expect(&[(C, "a request"), (S, "a reply")])
        );
        assert_eq!(flows[1].client, Some(addr("10.0.0.1:50002")));
        assert_eq!(
            messages(&flows[1]),
            expect(&[(C, "b request"), (S, "b reply")])
        );
    }

    #[test]
    fn a_new_syn_on_a_finished_tuple_starts_a_new_flow() {
        let mut t = modbus_like();
        // A retransmitted SYN of the old connection changes nothing.
        t.packets.push((t.time, t.packets[0].1.clone()));
        t.seq = [90_000, 70_000];
        t.handshake();
        t.packets
            .push((t.time, t.packets[t.packets.len() - 3].1.clone()));
        t.send(C, b"second connection");
        t.send(S, b"yes");
        let flows = read_flows(&pcap(&t.packets)).unwrap();
        assert_eq!(flows.len(), 2);
        assert_eq!(flows[0].messages.len(), 4);
        assert_eq!(
            messages(&flows[1]),
            expect(&[(C, "second connection"), (S, "yes")])
        );
        assert_eq!(flows[1].client, flows[0].client);
    }

    #[test]
    fn udp_datagrams_are_messages() {
        let (client, server) = (addr("10.0.0.1:40000"), addr("10.0.0.2:161"));
        let other = addr("10.0.0.3:40001");
        let packets: Packets = [
            udp_frame(client, server, b"get"),
            udp_frame(server, client, b"value"),
            udp_frame(other, server, b"get"),
            udp_frame(client, server, b"get"),
            udp_frame(client, server, b"get"),
            udp_frame(client, server, b""),
        ]
        .into_iter()
        .enumerate()
        .map(|(i, frame)| (EPOCH + ms(10 * i as u64), frame))
        .collect();
        let flows = read_flows(&pcap(&packets)).unwrap();
        assert_eq!(flows.len(), 2);
        assert_eq!(flows[0].transport, Transport::Udp);
        assert_eq!(flows[0].client, Some(client));
        assert_eq!(flows[0].server, Some(server));
        // Each datagram is a message, even from the same side, even empty.
        assert_eq!(
            messages(&flows[0]),
            expect(&[(C, "get"), (S, "value"), (C, "get"), (C, "get"), (C, "")])
        );
        assert_eq!(flows[0].messages[2].at, ms(30));
        assert_eq!(flows[1].client, Some(other));
        assert_eq!(flows[1].start(), ms(20));
    }

    #[test]
    fn other_packets_and_fragments_are_skipped() {
        let (client, server) = (addr("10.0.0.1:40000"), addr("10.0.0.2:161"));
        let mut arp = vec![0xff; 12];
        arp.extend([0x08, 0x06]);
        arp.extend([0, 1, 8, 0, 6, 4, 0, 1]);
        arp.extend([0; 20]);
        let mut ping = Vec::new();
        PacketBuilder::ethernet2([2; 6], [3; 6])
            .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .icmpv4_echo_request(1, 1)
            .write(&mut ping, b"ping")
            .unwrap();
        // A truncated ICMP message is ICMP's problem, not ours.
        let mut bad_ping = ping.clone();
        bad_ping.truncate(14 + 20 + 4);
        bad_ping[17] = 24; // IPv4 total length
        let mut fragment = udp_frame(client, server, b"first fragment");
        fragment[14 + 6] |= 0x20; // more fragments
        let ipx = {
            let mut f = udp_frame(client, server, b"x");
            f[12..14].copy_from_slice(&[0x81, 0x37]);
            f
        };
        let packets: Packets = [
            arp,
            ping,
            bad_ping,
            fragment,
            ipx,
            udp_frame(client, server, b"ok"),
        ]
        .into_iter()
        .enumerate()
        .map(|(i, frame)| (EPOCH + ms(i as u64), frame))
        .collect();
        let flows = read_flows(&pcap(&packets)).unwrap();
        assert_eq!(flows.len(), 1);
        assert_eq!(messages(&flows[0]), expect(&[(C, "ok")]));
        // Times count from the first packet, even one that was skipped.
        assert_eq!(flows[0].start(), ms(5));
    }

    #[test]
    fn malformed_headers_are_errors_with_the_packet_number() {
        let t = modbus_like();
        let mut packets = t.packets.clone();
        packets[3].1[14 + 20 + 12] = 0x40; // TCP data offset 4 words
        let err = read_flows(&pcap(&packets)).unwrap_err();
        assert_eq!(err.packet, Some(4), "{err}");
        assert!(err.to_string().starts_with("packet 4: "), "{err}");

        let mut packets = t.packets.clone();
        packets[1].1[14] = 0x44; // IPv4 header length 4 words
        let err = read_flows(&pcap(&packets)).unwrap_err();
        assert_eq!(err.packet, Some(2), "{err}");

        let mut packets = t.packets.clone();
        packets[3].1.truncate(14 + 20 + 10); // inside the TCP header
        packets[3].1[17] = 30; // IPv4 total length agrees
        let err = read_flows(&pcap(&packets)).unwrap_err();
        assert_eq!(err.packet, Some(4), "{err}");
    }

    #[test]
    fn snapshot_length_truncation_is_explained() {
        let t = modbus_like();
        let mut file = pcap(&t.packets[..3]);
        let frame = &t.packets[3].1;
        let packet = PcapPacket::new(t.packets[3].0, frame.len() as u32, &frame[..40]);
        let mut writer = PcapWriter::with_header(
            Vec::new(),
            PcapHeader {
                datalink: DataLink::ETHERNET,
                endianness: Endianness::Little,
                ..Default::default()
            },
        )
        .unwrap();
        writer.write_packet(&packet).unwrap();
        file.extend_from_slice(&writer.into_writer()[24..]);
        let err = read_flows(&file).unwrap_err();
        assert_eq!(err.packet, Some(4));
        assert!(err.reason.contains("only 40 of 60 bytes"), "{err}");
    }

    /// The same conversation over another link layer: every frame rebuilt
    /// from its IP packet.
    fn relinked(link: DataLink, header: impl Fn(&[u8]) -> Vec<u8>) -> Vec<u8> {
        let mut t = modbus_like();
        t.packets.push((
            t.time,
            udp_frame(addr("10.0.0.1:40000"), addr("10.0.0.2:161"), b"udp"),
        ));
        let packets: Packets = t
            .packets
            .iter()
            .map(|(time, frame)| {
                let ip = &frame[14..];
                let mut out = header(ip);
                out.extend_from_slice(ip);
                (*time, out)
            })
            .collect();
        pcap_with(
            link,
            TsResolution::MicroSecond,
            Endianness::Little,
            &packets,
        )
    }

    fn assert_modbus_like(file: &[u8]) {
        let flows = read_flows(file).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(flows.len(), 2, "{flows:?}");
        assert_eq!(flows[0].client, Some(addr("10.0.0.1:50000")));
        assert_eq!(
            messages(&flows[0]),
            expect(&[
                (C, "read\r\n"),
                (S, "value 1\r\n"),
                (C, "write 2\r\n"),
                (S, "ok\r\n")
            ])
        );
        assert_eq!(messages(&flows[1]), expect(&[(C, "udp")]));
    }

    #[test]
    fn link_types() {
        let ethertype = |ip: &[u8]| {
            if ip[0] >> 4 == 4 {
                [0x08, 0x00]
            } else {
                [0x86, 0xdd]
            }
        };
        // Linux cooked v1 as `tcpdump -i any` writes it for loopback
        // (ARPHRD_LOOPBACK, which etherparse's SLL parser rejects).
        let sll = relinked(DataLink::LINUX_SLL, |ip| {
            let mut h = vec![0, 0, 0x03, 0x04, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0];
            h.extend(ethertype(ip));
            h
        });
        assert_modbus_like(&sll);
        let sll2 = relinked(DataLink::LINUX_SLL2, |ip| {
            let mut h = ethertype(ip).to_vec();
            h.extend([0, 0, 0, 0, 0, 1, 0x03, 0x04, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0]);
            h
        });
        assert_modbus_like(&sll2);
        for link in [DataLink::RAW, DataLink::IPV4] {
            assert_modbus_like(&relinked(link, |_| Vec::new()));
        }
        // The address family in either byte order (NULL), network order (LOOP).
        assert_modbus_like(&relinked(DataLink::NULL, |_| 2u32.to_le_bytes().to_vec()));
        assert_modbus_like(&relinked(DataLink::NULL, |_| 2u32.to_be_bytes().to_vec()));
        assert_modbus_like(&relinked(DataLink::LOOP, |_| 2u32.to_be_bytes().to_vec()));
        // 802.1Q VLAN tag inside Ethernet.
        assert_modbus_like(&relinked(DataLink::ETHERNET, |ip| {
            let mut h = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x81, 0x00, 0x00, 0x0a];
            h.extend(ethertype(ip));
            h
        }));
        // A null-link frame of another family is skipped.
        let other = relinked(DataLink::NULL, |_| 7u32.to_le_bytes().to_vec());
        assert!(read_flows(&other).unwrap().is_empty());
    }

    #[test]
    fn raw_ipv6_link_type() {
        let mut t = Conversation::new("[::1]:40000", "[::1]:8080");
        t.handshake();
        t.send(C, b"ping");
        t.send(S, b"pong");
        let packets: Packets = t
            .packets
            .iter()
            .map(|(time, f)| (*time, f[14..].to_vec()))
            .collect();
        for link in [DataLink::IPV6, DataLink::RAW] {
            let file = pcap_with(
                link,
                TsResolution::MicroSecond,
                Endianness::Little,
                &packets,
            );
            let flows = read_flows(&file).unwrap();
            assert_eq!(flows[0].server, Some(addr("[::1]:8080")));
            assert_eq!(messages(&flows[0]), expect(&[(C, "ping"), (S, "pong")]));
        }
        let null = packets
            .iter()
            .map(|(time, ip)| (*time, [&30u32.to_le_bytes()[..], ip].concat()))
            .collect::<Packets>();
        let file = pcap_with(
            DataLink::NULL,
            TsResolution::MicroSecond,
            Endianness::Big,
            &null,
        );
        assert_eq!(read_flows(&file).unwrap()[0].messages.len(), 2);
    }

    #[test]
    fn nanosecond_pcap() {
        let mut t = modbus_like();
        for (i, (time, _)) in t.packets.iter_mut().enumerate() {
            *time = EPOCH + Duration::from_nanos(1_500 * i as u64 + 7);
        }
        for endianness in [Endianness::Little, Endianness::Big] {
            let file = pcap_with(
                DataLink::ETHERNET,
                TsResolution::NanoSecond,
                endianness,
                &t.packets,
            );
            assert!(is_pcap(&file));
            let flows = read_flows(&file).unwrap();
            let times: Vec<_> = flows[0].messages.iter().map(|m| m.at.as_nanos()).collect();
            assert_eq!(times, [4_500, 7_500, 10_500, 12_000]);
        }
    }

    fn interface(
        linktype: DataLink,
        options: Vec<InterfaceDescriptionOption<'static>>,
    ) -> Block<'static> {
        InterfaceDescriptionBlock {
            linktype,
            snaplen: 0,
            options,
        }
        .into_block()
    }

    fn enhanced(interface_id: u32, ticks: u64, data: &[u8]) -> Block<'_> {
        EnhancedPacketBlock {
            interface_id,
            // pcap-file writes this as a raw tick count.
            timestamp: Duration::from_nanos(ticks),
            original_len: data.len() as u32,
            data: Cow::Borrowed(data),
            options: vec![],
        }
        .into_block()
    }

    /// Interface 0: Ethernet in microseconds (the default) with the TCP
    /// conversation; interface 1: raw IP in nanoseconds with UDP; a simple
    /// packet block (no timestamp) at the end.
    fn two_interfaces(endianness: Endianness) -> Vec<u8> {
        let t = modbus_like();
        let (client, server) = (addr("10.0.0.1:40000"), addr("10.0.0.2:161"));
        let mut w = PcapNgWriter::with_endianness(Vec::new(), endianness).unwrap();
        w.write_block(&interface(DataLink::ETHERNET, vec![]))
            .unwrap();
        w.write_block(&interface(
            DataLink::RAW,
            vec![InterfaceDescriptionOption::IfTsResol(9)],
        ))
        .unwrap();
        let udp = udp_frame(client, server, b"query");
        let reply = udp_frame(server, client, b"answer");
        for (i, (time, frame)) in t.packets.iter().enumerate() {
            w.write_block(&enhanced(0, time.as_micros() as u64, frame))
                .unwrap();
            if i == 4 {
                let at = (*time + Duration::from_micros(500)).as_nanos() as u64;
                w.write_block(&enhanced(1, at, &udp[14..])).unwrap();
                w.write_block(&enhanced(1, at + 1, &reply[14..])).unwrap();
            }
        }
        let late = udp_frame(client, server, b"late");
        let simple = SimplePacketBlock {
            original_len: late.len() as u32,
            data: Cow::Borrowed(&late),
        };
        w.write_block(&simple.into_block()).unwrap();
        w.into_inner()
    }

    #[test]
    fn pcapng_with_two_interfaces() {
        for endianness in [Endianness::Little, Endianness::Big] {
            let file = two_interfaces(endianness);
            assert!(is_pcap(&file));
            let flows = read_flows(&file).unwrap();
            assert_eq!(flows.len(), 2, "{flows:?}");
            assert_eq!(flows[0].transport, Transport::Tcp);
            assert_eq!(flows[0].messages.len(), 4);
            assert_eq!(flows[0].messages[1].at, ms(5));
            assert_eq!(flows[1].transport, Transport::Udp);
            assert_eq!(
                messages(&flows[1]),
                expect(&[(C, "query"), (S, "answer"), (C, "late")])
            );
            assert_eq!(flows[1].messages[0].at, Duration::from_micros(4_500));
            assert_eq!(flows[1].messages[1].at, Duration::from_nanos(4_500_001));
            // The simple packet block has the last timestamp seen.
            assert_eq!(flows[1].messages[2].at, ms(11));
        }
    }

    #[test]
    fn pcapng_other_blocks_are_not_decoded() {
        use pcap_file::pcapng::{blocks::packet::PacketBlock, RawBlock};
        let (client, server) = (addr("10.0.0.1:40000"), addr("10.0.0.2:161"));
        let query = udp_frame(client, server, b"query");
        let mut w = PcapNgWriter::new(Vec::new()).unwrap();
        w.write_block(&interface(DataLink::ETHERNET, vec![]))
            .unwrap();
        // A name resolution block whose name is not UTF-8, which pcap-file
        // refuses to decode, and a block type nobody knows.
        let mut body = vec![];
        for word in [[1u16, 6], [0, 0]] {
            let [a, b] = word.map(|v| {
                if cfg!(target_endian = "little") {
                    v.to_le_bytes()
                } else {
                    v.to_be_bytes()
                }
            });
            body.extend(a);
            body.extend(b);
            if word[0] == 1 {
                body.extend([10, 0, 0, 1, 0xff, 0, 0, 0]);
            }
        }
        for (type_, body) in [(4, body), (0x0bad, vec![1, 2, 3, 4])] {
            let len = 12 + body.len() as u32;
            let raw = RawBlock {
                type_,
                initial_len: len,
                body: Cow::Owned(body),
                trailer_len: len,
            };
            w.write_raw_block(&raw).unwrap();
        }
        // The obsolete packet block.
        let packet = PacketBlock {
            interface_id: 0,
            drop_count: 0,
            timestamp: 7_000,
            captured_len: query.len() as u32,
            original_len: query.len() as u32,
            data: Cow::Borrowed(&query),
            options: vec![],
        };
        w.write_block(&packet.into_block()).unwrap();
        w.write_block(&enhanced(0, 9_000, &udp_frame(server, client, b"answer")))
            .unwrap();
        let flows = read_flows(&w.into_inner()).unwrap();
        assert_eq!(messages(&flows[0]), expect(&[(C, "query"), (S, "answer")]));
        assert_eq!(flows[0].messages[1].at, ms(2));
    }

    #[test]
    fn pcapng_timestamp_resolutions() {
        use InterfaceDescriptionOption::{IfTsOffset, IfTsResol};
        assert_eq!(interface_time(1_500, &[]), Duration::from_micros(1_500));
        assert_eq!(interface_time(5, &[IfTsResol(0)]), Duration::from_secs(5));
        assert_eq!(interface_time(3, &[IfTsResol(9)]), Duration::from_nanos(3));
        assert_eq!(
            interface_time(3_000, &[IfTsResol(12)]),
            Duration::from_nanos(3)
        );
        assert_eq!(
            interface_time(1 << 20, &[IfTsResol(0x80 | 10)]),
            Duration::from_secs(1024)
        );
        assert_eq!(
            interface_time(2, &[IfTsResol(0), IfTsOffset(100)]),
            Duration::from_secs(102)
        );
        assert_eq!(
            interface_time(u64::MAX, &[IfTsResol(0)]),
            Duration::from_secs(u64::MAX)
        );
        assert_eq!(interface_time(u64::MAX, &[IfTsResol(127)]), Duration::ZERO);
        assert_eq!(interface_time(u64::MAX, &[IfTsResol(0xff)]), Duration::ZERO);
    }

    #[test]
    fn pcapng_errors() {
        // An unsupported link type is an error at its first packet.
        let frame = udp_frame(addr("10.0.0.1:1"), addr("10.0.0.2:2"), b"x");
        let mut w = PcapNgWriter::new(Vec::new()).unwrap();
        w.write_block(&interface(DataLink::ETHERNET, vec![]))
            .unwrap();
        w.write_block(&interface(DataLink::from(147), vec![]))
            .unwrap();
        w.write_block(&enhanced(0, 1, &frame)).unwrap();
        w.write_block(&enhanced(1, 2, &frame)).unwrap();
        let err = read_flows(&w.into_inner()).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("packet 2: unsupported link type 147 (supported: {SUPPORTED_LINKS})")
        );

        let mut w = PcapNgWriter::new(Vec::new()).unwrap();
        w.write_block(&interface(DataLink::ETHERNET, vec![]))
            .unwrap();
        w.write_block(&enhanced(0, 1, &frame)).unwrap();
        w.write_block(&enhanced(0, 2, &[])).unwrap();
        let err = read_flows(&w.into_inner()).unwrap_err();
        assert_eq!(err.to_string(), "packet 2: captured length is 0");

        // A packet on an interface nobody described.
        let mut w = PcapNgWriter::new(Vec::new()).unwrap();
        w.write_block(&interface(DataLink::ETHERNET, vec![]))
            .unwrap();
        let mut file = w.into_inner();
        let mut other = PcapNgWriter::new(Vec::new()).unwrap();
        for _ in 0..4 {
            other
                .write_block(&interface(DataLink::ETHERNET, vec![]))
                .unwrap();
        }
        other.write_block(&enhanced(3, 1, &frame)).unwrap();
        let other = other.into_inner();
        let epb_len = 32 + frame.len().next_multiple_of(4);
        file.extend_from_slice(&other[other.len() - epb_len..]);
        let err = read_flows(&file).unwrap_err();
        assert_eq!(err.packet, Some(1), "{err}");
        assert!(err.reason.contains("interface 3"), "{err}");

        // A huge captured length inside an enhanced packet block.
        let mut file = two_interfaces(Endianness::Little);
        let first_epb = 28 + 20 + 20 + 12;
        file[first_epb + 20..first_epb + 24].copy_from_slice(&u32::MAX.to_le_bytes());
        let err = read_flows(&file).unwrap_err();
        assert_eq!(err.packet, Some(1), "{err}");
    }

    #[test]
    fn zero_and_huge_captured_lengths() {
        let t = modbus_like();
        let file = pcap(&t.packets);
        // Packet 2's record starts after the header and packet 1.
        let second = 24 + 16 + t.packets[0].1.len();
        for (len, reason) in [
            (0u32, "captured length is 0".to_string()),
            (
                u32::MAX,
                format!(
                    "captured length {} is larger than any capture tool writes ({MAX_CAPTURED})",
                    u32::MAX
                ),
            ),
            (
                MAX_CAPTURED as u32 + 1,
                format!(
                    "captured length {} is larger than any capture tool writes ({MAX_CAPTURED})",
                    MAX_CAPTURED + 1
                ),
            ),
        ] {
            let mut bad = file.clone();
            bad[second + 8..second + 12].copy_from_slice(&len.to_le_bytes());
            assert_eq!(read_flows(&bad), Err(PcapError::packet(2, reason)));
        }
        // A huge length that the file could satisfy is refused all the same.
        let mut big = file.clone();
        big[second + 8..second + 12].copy_from_slice(&(MAX_CAPTURED as u32 + 4).to_le_bytes());
        big.resize(big.len() + MAX_CAPTURED + 4, 0);
        assert_eq!(read_flows(&big).unwrap_err().packet, Some(2));
    }

    #[test]
    fn truncation_at_every_offset_is_an_error() {
        let t = modbus_like();
        let file = pcap(&t.packets);
        let mut boundaries = vec![24];
        for (_, frame) in &t.packets {
            boundaries.push(boundaries.last().unwrap() + 16 + frame.len());
        }
        assert_eq!(*boundaries.last().unwrap(), file.len());
        for cut in 1..file.len() {
            let result = read_flows(&file[..cut]);
            if let Some(n) = boundaries.iter().position(|&b| b == cut) {
                // A cut between records is a valid, shorter capture.
                assert!(result.is_ok(), "cut at {cut}: {result:?}, {n} packets");
                continue;
            }
            let err = result.unwrap_err();
            match boundaries.iter().position(|&b| b > cut) {
                Some(0) => assert_eq!(
                    err,
                    PcapError::file("truncated file header"),
                    "cut at {cut}"
                ),
                Some(n) => assert_eq!(err.packet, Some(n), "cut at {cut}: {err}"),
                None => unreachable!(),
            }
            assert!(err.to_string().contains("truncated"), "cut at {cut}: {err}");
        }
    }

    #[test]
    fn pcapng_truncation_at_every_offset_is_an_error() {
        let file = two_interfaces(Endianness::Little);
        // Block boundaries, from the block lengths.
        let mut boundaries = vec![];
        let mut at = 0;
        while at < file.len() {
            at += u32::from_le_bytes(file[at + 4..at + 8].try_into().unwrap()) as usize;
            boundaries.push(at);
        }
        // Section header, two interfaces, then packets.
        let packet_of = |end: usize| {
            boundaries
                .iter()
                .position(|&b| b >= end)
                .unwrap()
                .saturating_sub(2)
        };
        for cut in 1..file.len() {
            let result = read_flows(&file[..cut]);
            if boundaries.contains(&cut) {
                assert!(result.is_ok(), "cut at {cut}: {result:?}");
                continue;
            }
            let err = result.unwrap_err();
            if cut < boundaries[0] {
                assert_eq!(
                    err,
                    PcapError::file("truncated file header"),
                    "cut at {cut}"
                );
            } else {
                assert_eq!(
                    err.packet,
                    Some(packet_of(cut).max(1)),
                    "cut at {cut}: {err}"
                );
            }
        }
    }

    #[test]
    fn unsupported_link_type() {
        let t = modbus_like();
        let file = pcap_with(
            DataLink::from(147),
            TsResolution::MicroSecond,
            Endianness::Little,
            &t.packets,
        );
        let err = read_flows(&file).unwrap_err();
        assert_eq!(err.packet, None);
        assert_eq!(
            err.to_string(),
            "unsupported link type 147 (supported: Ethernet, Linux cooked SLL/SLL2, raw IP, loopback/null)"
        );
    }

    #[test]
    fn not_a_pcap() {
        for bytes in [
            &b""[..],
            b"> hello\\r\\n\n< world\n",
            b"{\"type\":\"start\"}\n",
            b"\n\r\r\nnot really pcapng",
            b"\xd4\xc3\xb2\xa0 almost",
        ] {
            assert!(!is_pcap(bytes), "{bytes:?}");
            assert_eq!(
                read_flows(bytes),
                Err(PcapError::file("not a pcap or pcapng file"))
            );
        }
        for magic in PCAP_MAGICS.iter().chain([&PCAPNG_MAGIC]) {
            assert!(is_pcap(magic));
            assert_eq!(
                read_flows(magic),
                Err(PcapError::file("truncated file header"))
            );
            assert_eq!(
                read_flows(&magic[..2]),
                Err(PcapError::file("truncated file header"))
            );
        }
        let err = PcapError::packet(12, "truncated TCP header");
        assert_eq!(err.to_string(), "packet 12: truncated TCP header");
    }

    #[test]
    fn empty_capture_has_no_flows() {
        assert_eq!(read_flows(&pcap(&[])), Ok(vec![]));
        let w = PcapNgWriter::new(Vec::new()).unwrap();
        assert_eq!(read_flows(&w.into_inner()), Ok(vec![]));
    }

    /// A small capture mixing TCP and UDP, for mutation.
    fn sample() -> Vec<u8> {
        let mut t = modbus_like();
        t.packets.push((
            t.time,
            udp_frame(addr("10.0.0.1:40000"), addr("10.0.0.2:161"), b"udp"),
        ));
        pcap(&t.packets)
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(
            prefix in prop_oneof![
                Just(vec![]),
                Just(PCAP_MAGICS[1].to_vec()),
                Just(sample()[..24].to_vec()),
                Just(two_interfaces(Endianness::Little)[..68].to_vec()),
            ],
            bytes in vec(any::<u8>(), 0..600),
        ) {
            let input = [prefix, bytes].concat();
            let _ = is_pcap(&input);
            let _ = read_flows(&input);
        }

        #[test]
        fn mutated_captures_never_panic(
            pcapng in any::<bool>(),
            edits in vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
            cut in any::<prop::sample::Index>(),
            truncate in any::<bool>(),
        ) {
            let mut file = if pcapng { two_interfaces(Endianness::Big) } else { sample() };
            for (at, byte) in edits {
                let at = at.index(file.len());
                file[at] = byte;
            }
            if truncate {
                file.truncate(cut.index(file.len()));
            }
            let _ = read_flows(&file);
        }

        #[test]
        fn reassembly_recovers_the_stream(
            (data, isn, ranges) in (vec(any::<u8>(), 1..3000), any::<u32>())
                .prop_flat_map(|(data, isn)| {
                    let n = data.len();
                    (Just(data), Just(isn), vec(0..=n, 0..20), vec((0..n, 1..300usize), 0..10))
                })
                .prop_flat_map(|(data, isn, mut cuts, repeats)| {
                    cuts.extend([0, data.len()]);
                    cuts.sort_unstable();
                    cuts.dedup();
                    let mut ranges: Vec<(usize, usize)> = cuts.windows(2).map(|w| (w[0], w[1])).collect();
                    ranges.extend(repeats.into_iter().map(|(at, len)| (at, (at + len).min(data.len()))));
                    (Just(data), Just(isn), Just(ranges).prop_shuffle())
                }),
        ) {
            let mut t = Conversation::new("10.0.0.1:50000", "10.0.0.2:502");
            t.seq[0] = isn;
            t.handshake();
            let first = t.seq[0];
            for (start, end) in ranges {
                t.segment(C, first.wrapping_add(start as u32), "P", &data[start..end]);
            }
            t.seq[0] = first.wrapping_add(data.len() as u32);
            t.close();
            let flows = read_flows(&pcap(&t.packets)).unwrap();
            prop_assert_eq!(flows.len(), 1);
            prop_assert_eq!(flows[0].messages.len(), 1);
            prop_assert_eq!(&flows[0].messages[0].data, &data);
        }
    }
}
