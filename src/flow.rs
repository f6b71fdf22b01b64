//! A conversation as `replay` plays it: flows (one connection, or one
//! UDP address pair) of messages, each from one side at one time. Captures
//! and scripts (`capture.rs`) and pcap files (`pcap.rs`) are read into
//! these; `replay`, `replay --serve` and `--list` use them. Pure data.

use std::{net::SocketAddr, time::Duration};

use crate::record::{Side, Transport};

/// One message of a conversation: what one side sent in one go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// When it was sent, since the start of the file (first packet or the
    /// capture's `started`).
    pub at: Duration,
    pub from: Side,
    pub data: Vec<u8>,
}

/// One connection (TCP) or one client/server address pair (UDP).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flow {
    pub transport: Transport,
    /// The client's and server's addresses when the file records them
    /// (scripts do not).
    pub client: Option<SocketAddr>,
    pub server: Option<SocketAddr>,
    /// In the order they were sent.
    pub messages: Vec<Message>,
}

impl Flow {
    /// When the flow's first message was sent.
    pub fn start(&self) -> Duration {
        self.messages.first().map_or(Duration::ZERO, |m| m.at)
    }

    /// Messages and bytes sent by one side, for `--list`.
    pub fn totals(&self, from: Side) -> (usize, usize) {
        self.messages
            .iter()
            .filter(|m| m.from == from)
            .fold((0, 0), |(n, b), m| (n + 1, b + m.data.len()))
    }
}
