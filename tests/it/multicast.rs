//! UDP multicast (`listen --join`), broadcast (`send --broadcast`) and
//! `send --ttl` across a real link: each test makes its own pair of network
//! namespaces joined by a veth pair (A sends, B serves) and removes them
//! when it ends, so datagrams really leave one network stack and arrive at
//! another, and the groups, addresses and ports are private to the test.
//! Peers: socat (UDP4-/UDP6-DATAGRAM, which takes answers from any
//! address), `p1ge0n send`, and `tests/peers/ttl_echo.py` (reports the TTL
//! or hop limit every datagram arrived with).
//!
//! This needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN) and iproute2's `ip`.
//! Without them the tests fail, saying so; `P1GE0N_SKIP=netns` skips them
//! on such machines (each skip is counted and listed by `scripts/test`).
//! The IPv6 parts need IPv6 (`[::1]` can be bound) and fail without it,
//! unless `P1GE0N_SKIP=ipv6` skips them.
//! Bad `--join`, `--broadcast` and `--ttl` arguments are in the bad-input
//! catalogue (`bad_input.rs`, category "multicast and broadcast").

use std::{
    process::{Command, Output},
    sync::atomic::{AtomicU32, Ordering},
};

use crate::util::*;

/// Which namespace of a [`NetnsPair`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    /// The sender's: `vA`, 10.77.N.1/24, fd77:0:0:N::1/64.
    A,
    /// The server's: `vB`, 10.77.N.2/24, fd77:0:0:N::2/64.
    B,
}

/// Where IPv4 multicast goes (see [`NetnsPair`]).
const MULTICAST_V4: &str = "224.0.0.0/4";

/// Pairs made by this process, for unique names.
static PAIRS: AtomicU32 = AtomicU32::new(0);

/// Two fresh network namespaces joined by a veth pair, `vA` in A and `vB`
/// in B (interface names are per namespace, so every pair can use the same
/// two). Both namespaces, and with them the veth pair, are deleted on drop.
///
/// Namespace names hold the process id and a counter, so parallel tests and
/// parallel test runs never collide. N (the third octet of the IPv4
/// subnet, the fourth group of the IPv6 one) comes from the counter too;
/// the subnets are private to the pair anyway, but distinct ones make
/// logs of parallel tests easier to tell apart.
///
/// Each side has a route for 224.0.0.0/4 on its veth end: a fresh namespace
/// has no default route, and without one an IPv4 multicast datagram has no
/// way out (A) and a join that names no interface fails with ENODEV (B).
/// IPv6 multicast (ff00::/8) is routed to every up interface by the kernel
/// itself. Duplicate address detection is off on both veth ends and the
/// IPv6 addresses are `nodad`, so link-local and fd77:: addresses are usable
/// at once instead of after a second or two of DAD.
struct NetnsPair {
    names: [String; 2],
    n: u32,
    /// Whether this machine has IPv6 (`[::1]` can be bound); without it
    /// the pair is IPv4 only and the IPv6 checks fail (see
    /// [`NetnsPair::has_ipv6`]).
    ipv6: bool,
}

/// Run `ip ARGS...` (bounded); its stderr when it fails.
fn ip(args: &[&str]) -> Result<(), String> {
    let out = assert_cmd::Command::new("ip")
        .args(args)
        .timeout(ONE_SHOT)
        .output()
        .map_err(|e| format!("cannot run ip: {e} (iproute2 is needed)"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`ip {}` failed ({:?}): {}",
            args.join(" "),
            out.status,
            stderr_of(&out).trim_end()
        ))
    }
}

impl NetnsPair {
    /// The pair, set up; `None` when `P1GE0N_SKIP` names `netns` (the
    /// skip of `test` is recorded, see [`skipped`]). Panics, saying why,
    /// when the namespaces cannot be made.
    fn create(test: &str) -> Option<NetnsPair> {
        if skipped("netns", test) {
            return None;
        }
        let k = PAIRS.fetch_add(1, Ordering::Relaxed);
        let tag = format!("p1ge0n-{}-{k}", std::process::id());
        // Made before the first namespace, so a failure half-way through
        // still removes what was made.
        let pair = NetnsPair {
            names: [format!("{tag}-a"), format!("{tag}-b")],
            n: k % 250 + 1,
            ipv6: ipv6_unavailable().is_none(),
        };
        let (a, b) = (pair.name(Side::A), pair.name(Side::B));
        // Namespaces of these names can only be left over from a run that
        // was killed before its cleanup and had the same process id.
        pair.delete();
        if let Err(why) = ip(&["netns", "add", a]) {
            panic!(
                "{test} needs network namespaces, and `ip netns add` failed: {why}\n\
                 (it needs root, or CAP_SYS_ADMIN and CAP_NET_ADMIN; P1GE0N_SKIP=netns skips the multicast tests)"
            );
        }
        pair.setup()
            .unwrap_or_else(|why| panic!("{test}: setting up {a} and {b}: {why}"));
        Some(pair)
    }

    fn setup(&self) -> Result<(), String> {
        let (a, b, n) = (self.name(Side::A), self.name(Side::B), self.n);
        ip(&["netns", "add", b])?;
        ip(&[
            "link", "add", "vA", "netns", a, "type", "veth", "peer", "name", "vB", "netns", b,
        ])?;
        for side in [Side::A, Side::B] {
            let (ns, dev, host) = (self.name(side), self.dev(side), self.host(side));
            let v4 = format!("10.77.{n}.{host}/24");
            ip(&["-n", ns, "addr", "add", &v4, "brd", "+", "dev", dev])?;
            if self.ipv6 {
                let dad = format!("echo 0 > /proc/sys/net/ipv6/conf/{dev}/accept_dad");
                ip(&["netns", "exec", ns, "sh", "-c", &dad])?;
                let v6 = format!("fd77:0:0:{n}::{host}/64");
                ip(&["-n", ns, "addr", "add", &v6, "nodad", "dev", dev])?;
            }
            ip(&["-n", ns, "link", "set", "lo", "up"])?;
            ip(&["-n", ns, "link", "set", dev, "up"])?;
            ip(&["-n", ns, "route", "add", MULTICAST_V4, "dev", dev])?;
        }
        Ok(())
    }

    /// Delete both namespaces; deleting a namespace deletes its end of the
    /// veth pair, and the other end with it. Errors (a namespace that was
    /// never made) do not matter.
    fn delete(&self) {
        for name in &self.names {
            let _ = ip(&["netns", "del", name]);
        }
    }

    /// `ip -n NAMESPACE ARGS...`, which must succeed.
    fn ip_in(&self, side: Side, args: &[&str]) {
        let all = [&["-n", self.name(side)], args].concat();
        ip(&all).unwrap_or_else(|why| panic!("{why}"));
    }

    fn name(&self, side: Side) -> &str {
        match side {
            Side::A => &self.names[0],
            Side::B => &self.names[1],
        }
    }

    fn dev(&self, side: Side) -> &'static str {
        match side {
            Side::A => "vA",
            Side::B => "vB",
        }
    }

    fn host(&self, side: Side) -> u32 {
        match side {
            Side::A => 1,
            Side::B => 2,
        }
    }

    /// The side's IPv4 address, e.g. `10.77.3.1`.
    fn v4(&self, side: Side) -> String {
        format!("10.77.{}.{}", self.n, self.host(side))
    }

    /// The side's IPv6 (ULA) address, e.g. `fd77:0:0:3::1`, as Rust and
    /// Python print it.
    fn v6(&self, side: Side) -> String {
        format!("fd77:0:0:{}::{}", self.n, self.host(side))
    }

    /// The subnet's broadcast address, `10.77.N.255`.
    fn broadcast(&self) -> String {
        format!("10.77.{}.255", self.n)
    }

    /// Whether the IPv6 checks of `test` run: false when `P1GE0N_SKIP`
    /// names `ipv6` (recorded, see [`skipped`]); panics, saying why, when
    /// this machine has no IPv6.
    fn has_ipv6(&self, test: &str) -> bool {
        if skipped("ipv6", test) {
            return false;
        }
        assert!(
            self.ipv6,
            "{test}: its IPv6 part needs IPv6, and [::1] cannot be bound on this machine (P1GE0N_SKIP=ipv6 skips it)"
        );
        true
    }

    /// The index of the side's veth end, as `ip -o link` shows it.
    fn index(&self, side: Side) -> u32 {
        let out = assert_cmd::Command::new("ip")
            .args(["-n", self.name(side), "-o", "link", "show", self.dev(side)])
            .timeout(ONE_SHOT)
            .output()
            .unwrap();
        let text = stdout_of(&out);
        text.split(':')
            .next()
            .and_then(|i| i.trim().parse().ok())
            .unwrap_or_else(|| panic!("no interface index in {text:?}\n{}", show(&out)))
    }

    /// `PROGRAM ARGS...` run in the side's namespace (`ip netns exec`
    /// execs it, so the process is the program itself: its pid and signals
    /// are the program's).
    fn cmd(&self, side: Side, program: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", self.name(side), program])
            .args(args);
        cmd
    }

    /// A one-shot `PROGRAM ARGS...` in the side's namespace, bounded by
    /// [`ONE_SHOT`], with `stdin` (none when empty).
    fn run(&self, side: Side, program: &str, args: &[&str], stdin: &[u8]) -> Output {
        let mut cmd = assert_cmd::Command::from_std(self.cmd(side, program, args));
        if !stdin.is_empty() {
            cmd.write_stdin(stdin.to_vec());
        }
        cmd.timeout(ONE_SHOT).output().unwrap()
    }

    /// `p1ge0n listen ARGS...` in B, listening.
    fn listen(&self, args: &[&str]) -> Listen {
        let bin = bin();
        let mut cmd = self.cmd(Side::B, bin.to_str().unwrap(), &["listen"]);
        cmd.args(args);
        Listen::spawn_with(cmd)
    }

    /// `p1ge0n send ARGS...` in A.
    fn send(&self, args: &[&str]) -> Output {
        let bin = bin();
        let mut all = vec!["send"];
        all.extend_from_slice(args);
        self.run(Side::A, bin.to_str().unwrap(), &all, b"")
    }

    /// `socat -t 2 - ADDRESS` in A with `input` on stdin: sends it as one
    /// datagram and prints whatever comes back within 2 s after stdin's
    /// end (UDP has no end of its own, so socat always waits the 2 s).
    /// UDP4-/UDP6-DATAGRAM addresses take datagrams from any sender.
    fn socat(&self, address: &str, input: &[u8]) -> Output {
        self.run(Side::A, "socat", &["-t", "2", "-", address], input)
    }

    /// `tests/peers/ttl_echo.py ARGS...` in B, with the port it printed.
    fn ttl_echo(&self, args: &[&str]) -> (Proc, u16) {
        let script = peer_script("ttl_echo.py");
        let mut all = vec!["-u", script.to_str().unwrap()];
        all.extend_from_slice(args);
        let proc = Proc::spawn(self.cmd(Side::B, "python3", &all));
        let line = proc.wait_stdout_lines(1, STARTUP).remove(0);
        let port = line
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("ttl_echo.py printed no port\n{}", proc.dump()));
        (proc, port)
    }
}

impl Drop for NetnsPair {
    fn drop(&mut self) {
        self.delete();
    }
}

/// `send` got exactly `want` back and exited 0.
fn assert_answered(out: &Output, want: &[u8]) {
    assert_eq!(code(out), 0, "{}", show(out));
    assert_eq!(out.stdout, want, "{}", show(out));
}

/// `listen -u --join GROUP 0.0.0.0:PORT` in B receives what socat and
/// `p1ge0n send` in A send to the group, sees A's address as the sender,
/// and its echoes (from B's own unicast address) reach both. A datagram to a
/// group it did not join never arrives.
#[test]
fn listen_join_receives_multicast_from_socat_and_send() {
    let Some(net) =
        NetnsPair::create("multicast::listen_join_receives_multicast_from_socat_and_send")
    else {
        return;
    };
    let server = net.listen(&["-u", "--join", "239.77.0.1", "0.0.0.0:0"]);
    assert_eq!(server.transport(), "udp");
    let group = format!("239.77.0.1:{}", server.port());

    let out = net.socat(&format!("UDP4-DATAGRAM:{group}"), b"hello\n");
    assert_answered(&out, b"hello\n");
    let out = net.send(&["-u", "-w", "2s", &group, "hello"]);
    assert_answered(&out, b"hello");
    // Records say who answered: the device's own address, not the group.
    let out = net.send(&["-u", "-w", "2s", "-f", "text", &group, "who"]);
    assert_eq!(code(&out), 0, "{}", show(&out));
    let b = net.v4(Side::B);
    let text = stdout_of(&out);
    assert!(
        text.contains(&format!("{b}:{} recv 3 who", server.port())),
        "{}",
        show(&out)
    );

    let a = net.v4(Side::A);
    server.wait_stderr_contains(&format!("#1 {a}:"), SOON);
    server.wait_stderr_contains(&format!("#2 {a}:"), SOON);
    server.wait_stdout_lines(3, SOON);
    assert_eq!(
        received_by(&server),
        ["hello\\n", "hello", "who"],
        "{}",
        server.dump()
    );

    let stray = format!("239.77.0.9:{}", server.port());
    let out = net.send(&["-u", "-w", "1s", &stray, "stray"]);
    assert_eq!(code(&out), 4, "no group member, no answer: {}", show(&out));
    assert_eq!(received_by(&server).len(), 3, "{}", server.dump());
}

/// `--join GROUP@IFADDR` joins on the interface with that address, even
/// where no route says where multicast goes (B's route is removed first:
/// there a plain `--join GROUP` fails with status 1, naming the group and
/// hinting at `@IFADDR`). Bound to the group address itself, listen still
/// answers from B's unicast address.
#[test]
fn listen_join_with_interface_address() {
    let Some(net) = NetnsPair::create("multicast::listen_join_with_interface_address") else {
        return;
    };
    net.ip_in(Side::B, &["route", "del", MULTICAST_V4, "dev", "vB"]);
    let bin = bin();
    let out = net.run(
        Side::B,
        bin.to_str().unwrap(),
        &["listen", "-u", "--join", "239.77.0.2", "0.0.0.0:0"],
        b"",
    );
    assert_eq!(code(&out), 1, "{}", show(&out));
    let stderr = stderr_of(&out);
    assert!(stderr.contains("239.77.0.2"), "{}", show(&out));
    assert!(stderr.contains("@IFADDR"), "{}", show(&out));
    assert!(!stderr.contains("listening on"), "{}", show(&out));

    let join = format!("239.77.0.2@{}", net.v4(Side::B));
    let server = net.listen(&["-u", "--join", &join, "239.77.0.2:0"]);
    assert_eq!(server.addr().ip().to_string(), "239.77.0.2");
    let group = format!("239.77.0.2:{}", server.port());

    let out = net.send(&["-u", "-w", "2s", &group, "on vB"]);
    assert_answered(&out, b"on vB");
    let out = net.socat(&format!("UDP4-DATAGRAM:{group}"), b"socat\n");
    assert_answered(&out, b"socat\n");
    server.wait_stdout_lines(2, SOON);
    assert_eq!(
        received_by(&server),
        ["on vB", "socat\\n"],
        "{}",
        server.dump()
    );
    assert!(
        server
            .stderr()
            .contains(&format!("#1 {}:", net.v4(Side::A))),
        "{}",
        server.dump()
    );
}

/// IPv6: one listen joins a link-local-scope group by interface name
/// (`ff12::77@vB`) and a global-scope one by index (`ff1e::77@INDEX`).
/// socat and `p1ge0n send` reach the first (their datagrams come from A's
/// link-local address, so the echo goes back to `fe80::...%vB`), and send
/// reaches the second from A's fd77:: address.
///
/// `p1ge0n send` has no way to name an interface (no `%scope` in targets);
/// it does not need one: it sends unconnected (`sendto`) to a group, and
/// the kernel's ff00::/8 route on vA, the only multicast interface in A,
/// picks the way out.
#[test]
fn ipv6_multicast_by_interface_name_and_index() {
    let test = "multicast::ipv6_multicast_by_interface_name_and_index";
    let Some(net) = NetnsPair::create(test) else {
        return;
    };
    if !net.has_ipv6(test) {
        return;
    }
    let by_index = format!("ff1e::77@{}", net.index(Side::B));
    let server = net.listen(&["-u", "--join", "ff12::77@vB", "--join", &by_index, "[::]:0"]);
    let port = server.port();

    let out = net.socat(&format!("UDP6-DATAGRAM:[ff12::77]:{port}"), b"link\n");
    assert_answered(&out, b"link\n");
    server.wait_stderr_contains("#1 [fe80::", SOON);

    let out = net.send(&["-u", "-w", "2s", &format!("[ff12::77]:{port}"), "send link"]);
    assert_answered(&out, b"send link");
    server.wait_stderr_contains("#2 [fe80::", SOON);

    let out = net.send(&["-u", "-w", "2s", &format!("[ff1e::77]:{port}"), "global"]);
    assert_answered(&out, b"global");
    server.wait_stderr_contains(&format!("#3 [{}]:", net.v6(Side::A)), SOON);

    server.wait_stdout_lines(3, SOON);
    assert_eq!(
        received_by(&server),
        ["link\\n", "send link", "global"],
        "{}",
        server.dump()
    );
}

/// `send -u --broadcast` to the subnet's broadcast address reaches a plain
/// `listen -u 0.0.0.0:PORT` (no join needed) and takes its answer from B's
/// unicast address; socat's broadcast reaches it too. Without --broadcast
/// the kernel refuses (EACCES, already at connect) and the error says to
/// add --broadcast; nothing is sent.
#[test]
fn broadcast_reaches_a_plain_udp_listener() {
    let Some(net) = NetnsPair::create("multicast::broadcast_reaches_a_plain_udp_listener") else {
        return;
    };
    let server = net.listen(&["-u", "0.0.0.0:0"]);
    let to = format!("{}:{}", net.broadcast(), server.port());

    let out = net.send(&["-u", "--broadcast", "-w", "2s", &to, "ping"]);
    assert_answered(&out, b"ping");
    server.wait_stderr_contains(&format!("#1 {}:", net.v4(Side::A)), SOON);

    let out = net.socat(&format!("UDP4-DATAGRAM:{to},broadcast"), b"socat\n");
    assert_answered(&out, b"socat\n");

    let out = net.send(&["-u", "-w", "2s", &to, "ping"]);
    assert_ne!(code(&out), 0, "{}", show(&out));
    assert!(out.stdout.is_empty(), "{}", show(&out));
    assert!(stderr_of(&out).contains("--broadcast"), "{}", show(&out));

    server.wait_stdout_lines(2, SOON);
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert_eq!(
        received_by(&server),
        ["ping", "socat\\n"],
        "{}",
        server.dump()
    );
}

/// `send -u --ttl N` sets the TTL (IPv4) or hop limit (IPv6) the datagrams
/// carry, to a group (IP_MULTICAST_TTL / IPV6_MULTICAST_HOPS) and to a
/// unicast address (IP_TTL / IPV6_UNICAST_HOPS), as `ttl_echo.py` in B
/// reads them off each datagram; `--ttl 1` still crosses the veth (the
/// receiver is on-link). Without --ttl a multicast datagram has the
/// kernel's default of 1, so 7 cannot be a coincidence.
#[test]
fn ttl_sets_the_hops_the_datagrams_carry() {
    let Some(net) = NetnsPair::create("multicast::ttl_sets_the_hops_the_datagrams_carry") else {
        return;
    };
    let (v4, port) = net.ttl_echo(&["--join", "239.77.0.1", "--iface", &net.v4(Side::B)]);
    let a = net.v4(Side::A);
    let group = format!("239.77.0.1:{port}");
    let unicast = format!("{}:{port}", net.v4(Side::B));
    for (ttl, to, payload) in [
        ("1", &group, "one"),
        ("7", &group, "seven"),
        ("9", &unicast, "nine"),
    ] {
        let out = net.send(&["-u", "--ttl", ttl, "-w", "2s", to, payload]);
        assert_answered(&out, payload.as_bytes());
        let line = format!("recv {ttl} {a} {}", hex(payload.as_bytes()));
        v4.wait_stdout_contains(&line, SOON);
    }

    if !net.has_ipv6("multicast::ttl_sets_the_hops_the_datagrams_carry") {
        return;
    }
    let index = net.index(Side::B).to_string();
    let (v6, port) = net.ttl_echo(&["--host", "::", "--join", "ff1e::77", "--iface", &index]);
    let a = net.v6(Side::A);
    let group = format!("[ff1e::77]:{port}");
    let unicast = format!("[{}]:{port}", net.v6(Side::B));
    for (ttl, to, payload) in [("5", &group, "five"), ("6", &unicast, "six")] {
        let out = net.send(&["-u", "--ttl", ttl, "-w", "2s", to, payload]);
        assert_answered(&out, payload.as_bytes());
        let line = format!("recv {ttl} {a} {}", hex(payload.as_bytes()));
        v6.wait_stdout_contains(&line, SOON);
    }
}
