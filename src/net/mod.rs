//! Addresses, access lists, and the socket set-up every subcommand shares,
//! one file per concern:
//!
//! - `addr.rs`: address syntax ([`Target`], [`ListenAddr`], [`SourceAddr`])
//!   and the one table of address schemes, [`SCHEMES`] (`unix:PATH`, then
//!   the `HOST:PORT` fallback);
//! - `access.rs`: `--allow` / `--deny` ([`Cidr`], [`AccessList`]);
//! - `connect.rs`: client connections ([`connect()`]: TCP, TLS, Unix, serial;
//!   `--source`, `--keepalive`, `--retry`) and the [`Backoff`] between
//!   attempts;
//! - `udp.rs`: UDP clients ([`Datagram`]) and multicast groups ([`Group`]);
//! - `serial.rs`: serial lines (`serial:PATH[,BAUD[,FORMAT]]`): opening a
//!   port exclusively and raw, and reading and writing it under tokio;
//! - `bind.rs`: servers' sockets ([`bind_stream`], [`bind_udp`]);
//! - `stream.rs`: the one byte-stream type ([`Stream`], [`Listener`]);
//! - `tls.rs`: TLS configuration, handshakes and their failures;
//! - `error.rs`: socket failures in words and their exit statuses.
//!
//! Parsing is pure and tested without sockets; the rest is the thin shell
//! that turns addresses into connected or bound sockets and classifies
//! failures into the exit statuses of the README (refused, unreachable,
//! unresolved and connect timeouts are all "could not connect", status 3).
//!
//! A new transport (`serial:PATH[,BAUD[,FORMAT]]` was the last) touches: one new
//! file in `net/` (its address type and parser, how it connects and, if it
//! can, listens), one row in [`SCHEMES`], and at most one new variant in
//! the stream type ([`Stream`], `net/stream.rs`) and in
//! [`crate::record::Peer`]. The row's parsers return the new variant of
//! [`Target`] (and of [`ListenAddr`], if it listens); the compiler then
//! names each `match` on those that needs an arm ([`connect()`],
//! [`bind_stream`], their `Display`).
//!
//! Code outside `net/` names things through the re-exports below, not the
//! files, so moving a function between these files changes no caller.

mod access;
mod addr;
mod bind;
mod connect;
mod error;
pub mod serial;
pub mod stream;
pub mod tls;
mod udp;

pub use access::{AccessList, Cidr, Refusal};
pub use addr::{
    canonical, BindAddr, HostPort, ListenAddr, Scheme, SourceAddr, Target, UnixPath, SCHEMES,
    UNIX_PATH_MAX,
};
pub use bind::{bind_stream, bind_udp};
pub use connect::{connect, resolve, set_keepalive, Backoff, ConnectOptions};
pub use error::{describe_io, is_refused, read_error, udp_error};
pub use stream::{Listener, ReadHalf, Stream, WriteHalf};
pub use udp::{connect_udp, join_groups, open_udp, Datagram, Group, GroupInterface, UdpOptions};
