//! Access lists for servers (`--allow` / `--deny`): CIDR networks and the
//! check of a peer's address against them.
//!
//! It exists apart from the address syntax because it answers a different
//! question (may this peer talk to us?, not where do we connect) and is
//! pure: the accept loops call [`AccessList::check`] and log the
//! [`Refusal`].

use std::{fmt, net::IpAddr, str::FromStr};

use ipnet::IpNet;

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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

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
        fn cidr_parser_never_panics(s in ".{0,30}") {
            let _ = s.parse::<Cidr>();
        }
    }
}
