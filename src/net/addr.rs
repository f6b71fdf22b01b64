//! Address syntax: where a client connects ([`Target`]), where a server
//! listens ([`ListenAddr`]), `--source` ([`SourceAddr`]), and the one table
//! of address schemes ([`SCHEMES`]) both of the first two parse through.
//!
//! It exists so that an address is parsed in one place, without sockets
//! (every function here is pure and unit-tested), and so that a new
//! transport's address syntax is one row in [`SCHEMES`], not a new `if` in
//! each parser. Error messages name the 1-based column of the mistake.

use std::{
    fmt,
    net::{IpAddr, Ipv6Addr, SocketAddr},
    str::FromStr,
};

use anyhow::Result;

use crate::exit;

use super::serial::SerialAddr;

/// Where a client connects: `HOST:PORT`, `[IPV6]:PORT`, `unix:PATH` or
/// `serial:PATH[,BAUD[,FORMAT]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Host(HostPort),
    Unix(UnixPath),
    Serial(SerialAddr),
}

/// `HOST:PORT` or `[IPV6]:PORT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPort {
    pub host: String,
    pub port: u16,
}

/// Where a server binds: `PORT`, `:PORT`, `HOST:PORT`, `[IPV6]:PORT`,
/// `unix:PATH`, or the serial line it answers on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenAddr {
    Ip(BindAddr),
    Unix(UnixPath),
    Serial(SerialAddr),
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

/// One address scheme: what starts its addresses and how the rest parses
/// as a client [`Target`] and as a [`ListenAddr`].
///
/// A parser gets the text after `prefix`; the columns in its error messages
/// count from the start of the whole address, prefix included.
pub struct Scheme {
    /// What an address of this scheme starts with (`unix:`); empty for the
    /// `HOST:PORT` fallback, which takes whatever no other row claimed.
    pub prefix: &'static str,
    /// How an address of this scheme is written (`unix:PATH`).
    pub syntax: &'static str,
    pub parse_target: fn(&str) -> Result<Target, String>,
    pub parse_listen: fn(&str) -> Result<ListenAddr, String>,
}

/// Every address scheme, tried in order: the first row whose prefix starts
/// the address parses it. The `HOST:PORT` row has no prefix and comes last.
pub static SCHEMES: &[Scheme] = &[
    Scheme {
        prefix: "unix:",
        syntax: "unix:PATH",
        parse_target: |path| UnixPath::parse(path).map(Target::Unix),
        parse_listen: |path| UnixPath::parse(path).map(ListenAddr::Unix),
    },
    Scheme {
        prefix: "serial:",
        syntax: "serial:PATH[,BAUD[,FORMAT]]",
        parse_target: |rest| SerialAddr::parse(rest).map(Target::Serial),
        parse_listen: |rest| SerialAddr::parse(rest).map(ListenAddr::Serial),
    },
    Scheme {
        prefix: "",
        syntax: "HOST:PORT",
        parse_target: |s| s.parse().map(Target::Host),
        parse_listen: |s| s.parse().map(ListenAddr::Ip),
    },
];

/// The scheme of `text`, and `text` without its prefix.
fn scheme_of(text: &str) -> (&'static Scheme, &str) {
    SCHEMES
        .iter()
        .find_map(|scheme| Some((scheme, text.strip_prefix(scheme.prefix)?)))
        .expect("the HOST:PORT row has no prefix and matches any address")
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
        let (scheme, rest) = scheme_of(s);
        (scheme.parse_target)(rest)
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Host(host) => host.fmt(f),
            Target::Unix(path) => path.fmt(f),
            Target::Serial(line) => line.fmt(f),
        }
    }
}

impl Target {
    /// The host and port, or an error naming `what` needs them (UDP, TLS).
    pub fn host_port(&self, what: &str) -> Result<&HostPort> {
        match self {
            Target::Host(host) => Ok(host),
            Target::Unix(path) => Err(exit::usage(format!("{what} needs HOST:PORT, not {path}"))),
            Target::Serial(line) => Err(exit::usage(format!("{what} needs HOST:PORT, not {line}"))),
        }
    }

    /// The peer a record names before a connection says who answered: an
    /// IP literal's address or the socket's path; `None` for a host name
    /// (resolved only by connecting).
    pub fn peer(&self) -> Option<crate::record::Peer> {
        match self {
            Target::Host(host) => {
                let ip: IpAddr = host.host.parse().ok()?;
                Some(crate::record::Peer::Ip(canonical(SocketAddr::new(
                    ip, host.port,
                ))))
            }
            Target::Unix(path) => Some(crate::record::Peer::Unix(path.0)),
            Target::Serial(line) => Some(crate::record::Peer::Serial(line.path)),
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
        let (scheme, rest) = scheme_of(s);
        (scheme.parse_listen)(rest)
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
            ListenAddr::Serial(line) => Err(exit::usage(format!(
                "{what} needs an IP address to listen on, not {line}"
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
            ListenAddr::Serial(line) => line.fmt(f),
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
    fn every_address_finds_its_scheme() {
        let (last, rows) = SCHEMES.split_last().unwrap();
        assert_eq!(last.prefix, "", "the HOST:PORT fallback comes last");
        assert!(rows.iter().all(|row| !row.prefix.is_empty()));
        assert_eq!(scheme_of("unix:/tmp/x").0.syntax, "unix:PATH");
        assert_eq!(scheme_of("unix:/tmp/x").1, "/tmp/x");
        assert_eq!(scheme_of("plc:502").0.syntax, "HOST:PORT");
        assert_eq!(scheme_of("").0.syntax, "HOST:PORT");
    }

    proptest! {
        #[test]
        fn address_parsers_never_panic(s in ".{0,30}") {
            let _ = s.parse::<Target>();
            let _ = s.parse::<ListenAddr>();
            let _ = s.parse::<SourceAddr>();
        }

        #[test]
        fn v4_targets_round_trip(a: [u8; 4], port in 1u16..) {
            let text = format!("{}.{}.{}.{}:{port}", a[0], a[1], a[2], a[3]);
            let t: Target = text.parse().unwrap();
            prop_assert_eq!(t.to_string(), text);
        }
    }
}
