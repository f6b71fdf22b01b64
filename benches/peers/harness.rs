//! The bench's machinery, shared by every section: the environment knobs,
//! the servers under test as child processes, the load clients that drive
//! them, and the one-shot client runner. A section file only says what it
//! measures and prints; how a server is started, found and killed, and how
//! a load is generated and checked, lives here once.
//!
//! Servers: each runs in its own process group, dies with the bench
//! (PR_SET_PDEATHSIG) and is killed as a group when done (or on panic, by
//! `Drop`); the bench is a child subreaper (set in `main`) so forked
//! socat/ncat children are reaped here.
//!
//! Ports come from binding port 0 (p1ge0n, socat and the bench's own peers
//! report theirs on stderr). ncat and mbusd cannot, so the bench binds a
//! port-0 listener, notes the port, closes it and starts the server on it
//! ([`Server::on_free_port`]): another process can take the port in
//! between; the server then exits and the bench retries (3 times). ncat
//! also gets `-m` above the connection count, as its default cap is 100.
//!
//! Children that do not listen (a socat pty pair, an RTU device on a line)
//! are ready once they say so on stderr ([`Server::launch_until`]); they
//! are killed the same way.
//!
//! Rounds: within each round the servers take turns in an order that
//! rotates per round ([`rotation`]), so that drift from other load hits all
//! of them alike. Every loop is bounded in count and in time.

use std::{
    collections::VecDeque,
    fs::{self, File},
    io::{self, BufRead, BufReader, Read, Write},
    net::{SocketAddr, TcpListener as StdListener, TcpStream as StdStream},
    os::unix::process::CommandExt,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    str::FromStr,
    sync::{mpsc, Arc, Mutex},
    thread,
    time::{Duration, Instant},
};

use anyhow::{anyhow, bail, Context, Result};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    task::JoinSet,
};

use crate::host::{have, kb_field};

// ----------------------------------------------------- binary and knobs

/// The p1ge0n under test: the binary named by `P1GE0N_BENCH_BIN`, or else
/// the binary users get, built here with a plain `cargo build --release` in
/// its own target directory (`target/bench-user`).
///
/// Not the binary cargo builds for this bench (`CARGO_BIN_EXE_p1ge0n`):
/// for a bench, cargo unifies the package's features with those of its
/// dev-dependencies (proptest turns on regex-syntax's Unicode tables),
/// so that binary carries twice the relocated data of the real one and
/// starts measurably slower (BENCHMARKS.md, One-shot).
pub fn bin() -> &'static str {
    static BIN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    BIN.get_or_init(|| {
        if let Ok(bin) = std::env::var("P1GE0N_BENCH_BIN") {
            return bin;
        }
        let root = env!("CARGO_MANIFEST_DIR");
        let target = target_dir().join("bench-user").display().to_string();
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        eprintln!("building the binary users get: cargo build --release (in {target})");
        let status = std::process::Command::new(cargo)
            .args(["build", "--release", "--locked", "--bin", "p1ge0n"])
            .arg("--target-dir")
            .arg(&target)
            .current_dir(root)
            .status()
            .expect("run cargo build");
        assert!(status.success(), "cargo build --release failed");
        format!("{target}/release/p1ge0n")
    })
}

/// Cargo's target directory (`CARGO_TARGET_DIR`, else `target/`): where the
/// bench builds what it measures.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"))
}

pub const LINE: usize = 64;
pub const CHUNK: usize = 64 * 1024;
pub const MB: f64 = 1e6;

/// The environment knobs (listed in `benches/peers.rs`), read once.
pub struct Config {
    pub quick: bool,
    pub rounds: usize,
    pub rate_secs: f64,
    pub clients: usize,
    pub bulk_mb: u64,
    pub scale_conns: usize,
    pub peer_conns: usize,
    pub oneshot_runs: usize,
    pub display_mb: usize,
    pub only: Vec<String>,
}

fn env_or<T: FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

impl Config {
    pub fn from_env() -> Config {
        let quick = std::env::var("P1GE0N_BENCH_QUICK").is_ok_and(|v| v != "0" && !v.is_empty());
        let pick = |full: usize, fast: usize| if quick { fast } else { full };
        let mut only: Vec<String> = std::env::var("P1GE0N_BENCH_ONLY")
            .unwrap_or_default()
            .split(',')
            .map(|s| s.trim().to_lowercase())
            .filter(|s| !s.is_empty())
            .collect();
        // `cargo bench --bench peers -- rate scale` also selects sections.
        only.extend(
            std::env::args()
                .skip(1)
                .filter(|a| !a.starts_with('-'))
                .map(|a| a.to_lowercase()),
        );
        Config {
            quick,
            rounds: env_or("P1GE0N_BENCH_ROUNDS", pick(5, 1)).clamp(1, 50),
            rate_secs: env_or::<f64>("P1GE0N_BENCH_SECS", if quick { 0.5 } else { 3.0 })
                .clamp(0.1, 60.0),
            clients: 100,
            bulk_mb: env_or("P1GE0N_BENCH_BULK_MB", pick(256, 16) as u64).clamp(1, 4096),
            scale_conns: env_or("P1GE0N_BENCH_CONNS", pick(10_000, 500)).clamp(1, 60_000),
            peer_conns: env_or("P1GE0N_BENCH_PEER_CONNS", pick(1_000, 100)).clamp(1, 5_000),
            oneshot_runs: env_or("P1GE0N_BENCH_RUNS", pick(200, 10)).clamp(1, 10_000),
            display_mb: env_or("P1GE0N_BENCH_DISPLAY_MB", pick(50, 5)).clamp(1, 2_000),
            only,
        }
    }

    pub fn wants(&self, section: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|s| s == section)
    }
}

/// The order in which `n` servers (or clients) take their turns in round
/// `round`: `round, round + 1, ...` modulo `n`, so each goes first in turn.
pub fn rotation(round: usize, n: usize) -> impl Iterator<Item = usize> {
    (0..n).map(move |k| (k + round) % n)
}

// --------------------------------------------------------------- servers

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Peer {
    Quiet,
    Text,
    /// `listen -q --rules` with 20 rules, the last one answering.
    Rules,
    /// `listen -q --pcap FILE`.
    Pcap,
    /// `listen -f text` (>file) of MBAP-framed messages, and the same with
    /// `--decode modbus`: the Modbus-shaped load of section 8.
    ModbusText,
    ModbusDecoded,
    Socat,
    Ncat,
    /// The bench binary itself as a bare tokio echo server (see
    /// [`tokio_echo_server`]): the ceiling a tokio program reaches without
    /// anything p1ge0n does.
    TokioEcho,
    /// Section 10: a program per connection (`--exec cat`), and ncat's and
    /// socat's equivalents; a program per message (`--exec-each cat`).
    ExecCat,
    NcatShExec,
    SocatSystem,
    ExecEachCat,
    /// Section 8: `listen -f text` of EtherNet/IP- and IEC-104-framed
    /// messages, and the same with `--decode enip|iec104`.
    EnipText,
    EnipDecoded,
    Iec104Text,
    Iec104Decoded,
}

impl Peer {
    pub fn label(self) -> &'static str {
        match self {
            Peer::Quiet => "p1ge0n listen -q",
            Peer::Text => "p1ge0n listen --frame line >file",
            Peer::Rules => "p1ge0n listen -q --rules (20)",
            Peer::Pcap => "p1ge0n listen -q --pcap FILE",
            Peer::ModbusText => "p1ge0n listen -f text (MBAP) >file",
            Peer::ModbusDecoded => "p1ge0n listen --decode modbus >file",
            Peer::Socat => "socat fork PIPE",
            Peer::Ncat => "ncat -k --exec /bin/cat",
            Peer::TokioEcho => "bare tokio echo (64 KiB reads)",
            Peer::ExecCat => "p1ge0n listen -q --exec cat",
            Peer::NcatShExec => "ncat -l -k --sh-exec cat",
            Peer::SocatSystem => "socat TCP-LISTEN,fork SYSTEM:cat",
            Peer::ExecEachCat => "p1ge0n listen -q --frame line --exec-each cat",
            Peer::EnipText => "p1ge0n listen -f text (ENIP) >file",
            Peer::EnipDecoded => "p1ge0n listen --decode enip >file",
            Peer::Iec104Text => "p1ge0n listen -f text (104) >file",
            Peer::Iec104Decoded => "p1ge0n listen --decode iec104 >file",
        }
    }

    pub fn tool(self) -> &'static str {
        match self {
            Peer::Quiet
            | Peer::Text
            | Peer::Rules
            | Peer::Pcap
            | Peer::ModbusText
            | Peer::ModbusDecoded
            | Peer::ExecCat
            | Peer::ExecEachCat
            | Peer::EnipText
            | Peer::EnipDecoded
            | Peer::Iec104Text
            | Peer::Iec104Decoded => bin(),
            Peer::Socat | Peer::SocatSystem => "socat",
            Peer::Ncat | Peer::NcatShExec => "ncat",
            Peer::TokioEcho => "this bench",
        }
    }

    /// Whether this peer can run here (the tokio echo is this bench).
    pub fn available(self) -> bool {
        self == Peer::TokioEcho || have(self.tool())
    }
}

/// 19 rules the benchmark's lines never match (exact, prefix, contains,
/// hex and regexes among them), then one that echoes them, so every
/// message is checked against all twenty and the echo stays verifiable.
fn twenty_rules() -> String {
    let mut text = String::from("default = \"none\"\n");
    for i in 0..19 {
        let matcher = match i % 5 {
            0 => format!("match = 'STATUS {i}?\\n'"),
            1 => format!("prefix = 'SET {i} '"),
            2 => format!("contains = 'NEVER{i}'"),
            3 => format!("regex = 'GET (\\d+) {i}\\n'"),
            _ => format!("hex = '?? ?? 00 00 00 06 01 {i:02x} ?? ?? ?? ??'"),
        };
        text.push_str(&format!("[[rule]]\n{matcher}\nreply = 'no'\n"));
    }
    text.push_str("[[rule]]\nregex = '(c=|conn )\\d+ .*\\n'\nreply = '{{req}}'\n");
    text
}

/// A server child in its own process group; killed with its whole group on
/// drop.
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    log: Arc<Mutex<VecDeque<String>>>,
    pub stdout_path: Option<PathBuf>,
}

impl Server {
    pub fn start(peer: Peer, dir: &Path, max_conns: usize) -> Result<Server> {
        match peer {
            Peer::Quiet => {
                let mut cmd = Command::new(bin());
                cmd.args(["listen", "-q", "127.0.0.1:0"]);
                Server::launch_and_parse(cmd, Stdio::null(), None)
            }
            Peer::Text => {
                let path = unique_path(dir, "records", "txt");
                let file = File::create(&path).context("create the records file")?;
                let mut cmd = Command::new(bin());
                cmd.args(["listen", "127.0.0.1:0", "--frame", "line"]);
                Server::launch_and_parse(cmd, Stdio::from(file), Some(path))
            }
            Peer::Rules => {
                let path = unique_path(dir, "rules", "toml");
                fs::write(&path, twenty_rules()).context("write the rules file")?;
                let mut cmd = Command::new(bin());
                cmd.args(["listen", "-q", "127.0.0.1:0", "--frame", "line", "--rules"])
                    .arg(&path);
                Server::launch_and_parse(cmd, Stdio::null(), None)
            }
            Peer::Pcap => {
                let path = unique_path(dir, "packets", "pcapng");
                let mut cmd = Command::new(bin());
                cmd.args(["listen", "-q", "127.0.0.1:0", "--pcap"])
                    .arg(&path);
                Server::launch_and_parse(cmd, Stdio::null(), None)
            }
            Peer::ModbusText
            | Peer::ModbusDecoded
            | Peer::EnipText
            | Peer::EnipDecoded
            | Peer::Iec104Text
            | Peer::Iec104Decoded => {
                let path = unique_path(dir, "records", "txt");
                let file = File::create(&path).context("create the records file")?;
                let mut cmd = Command::new(bin());
                cmd.args(["listen", "127.0.0.1:0", "-f", "text"]);
                cmd.args(match peer {
                    Peer::ModbusDecoded => ["--decode", "modbus"],
                    Peer::EnipDecoded => ["--decode", "enip"],
                    Peer::Iec104Decoded => ["--decode", "iec104"],
                    Peer::EnipText => ["--frame", "len=u16le,offset=2,header=24"],
                    Peer::Iec104Text => ["--frame", "len=u8,offset=1"],
                    _ => ["--frame", "len=u16be,offset=4"],
                });
                Server::launch_and_parse(cmd, Stdio::from(file), Some(path))
            }
            Peer::Socat => {
                let mut cmd = Command::new("socat");
                cmd.args([
                    "-d",
                    "-d",
                    "TCP-LISTEN:0,bind=127.0.0.1,reuseaddr,fork",
                    "PIPE",
                ]);
                Server::launch_and_parse(cmd, Stdio::null(), None)
            }
            Peer::Ncat => Server::ncat(max_conns, &["--exec", "/bin/cat"]),
            Peer::NcatShExec => Server::ncat(max_conns, &["--sh-exec", "cat"]),
            Peer::ExecCat => {
                let mut cmd = Command::new(bin());
                cmd.args(["listen", "-q", "127.0.0.1:0", "--exec", "cat"]);
                Server::launch_and_parse(cmd, Stdio::null(), None)
            }
            Peer::ExecEachCat => {
                let mut cmd = Command::new(bin());
                cmd.args(["listen", "-q", "127.0.0.1:0", "--frame", "line"])
                    .args(["--exec-each", "cat"]);
                Server::launch_and_parse(cmd, Stdio::null(), None)
            }
            Peer::SocatSystem => {
                let mut cmd = Command::new("socat");
                cmd.args([
                    "-d",
                    "-d",
                    "TCP-LISTEN:0,bind=127.0.0.1,reuseaddr,fork,backlog=128",
                    "SYSTEM:cat",
                ]);
                Server::launch_and_parse(cmd, Stdio::null(), None)
            }
            Peer::TokioEcho => {
                let mut cmd = Command::new(std::env::current_exe()?);
                cmd.env(TOKIO_ECHO_ROLE, "1");
                Server::launch_and_parse(cmd, Stdio::null(), None)
            }
        }
    }

    /// `ncat -l -k` running `program` (`--exec ...` or `--sh-exec ...`).
    ///
    /// ncat cannot bind port 0 and report it: see [`Server::on_free_port`].
    pub fn ncat(max_conns: usize, program: &[&str]) -> Result<Server> {
        Server::on_free_port(|port| {
            let mut cmd = Command::new("ncat");
            cmd.args(["-l", "127.0.0.1", &port.to_string(), "-k"])
                // ncat's default --max-conns is 100; raise it so the cap is
                // ours, not ncat's.
                .args(["-m", &(max_conns + 16).to_string()])
                .args(program);
            cmd
        })
    }

    /// A server that cannot bind port 0 and say which port it got (ncat,
    /// mbusd): `command` for a port the kernel just handed out and the
    /// bench released, then wait until it accepts. Another process may take
    /// the port in between (a race); the server then fails to bind and
    /// exits, and this retries with a fresh port (3 times).
    pub fn on_free_port(command: impl Fn(u16) -> Command) -> Result<Server> {
        let mut last = anyhow!("the server did not start");
        for _ in 0..3 {
            let port = free_port()?;
            let addr: SocketAddr = ([127, 0, 0, 1], port).into();
            let (mut server, _) =
                Server::launch(command(port), Stdio::null(), None, addr, LISTENING)?;
            match server.wait_connectable(Duration::from_secs(5)) {
                Ok(()) => return Ok(server),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// A child that is ready once it writes a stderr line containing
    /// `marker` (a socat pty pair, an RTU device on a line); it has no
    /// address (`addr` stays 127.0.0.1:0).
    pub fn launch_until(cmd: Command, marker: &'static str) -> Result<Server> {
        let name = format!("{:?}", cmd.get_program());
        let (server, rx) =
            Server::launch(cmd, Stdio::null(), None, ([127, 0, 0, 1], 0).into(), marker)?;
        rx.recv_timeout(Duration::from_secs(10))
            .map_err(|_| anyhow!("{name}: no {marker:?} line within 10 s{}", server.tail()))?;
        Ok(server)
    }

    /// Spawn with stderr drained; returns the server (address still to be
    /// filled in when it is 0) and the channel that gets the first stderr
    /// line containing `marker` ("listening on", for servers).
    fn launch(
        mut cmd: Command,
        stdout: Stdio,
        stdout_path: Option<PathBuf>,
        addr: SocketAddr,
        marker: &'static str,
    ) -> Result<(Server, mpsc::Receiver<String>)> {
        cmd.stdin(Stdio::null())
            .stdout(stdout)
            .stderr(Stdio::piped());
        let mut child = spawn_in_group(&mut cmd)?;
        let stderr = child.stderr.take().expect("stderr is piped");
        let log = Arc::new(Mutex::new(VecDeque::new()));
        let (tx, rx) = mpsc::channel();
        drain(stderr, log.clone(), tx, marker);
        let server = Server {
            child,
            addr,
            log,
            stdout_path,
        };
        Ok((server, rx))
    }

    /// Start, then read the address from the first "listening on" stderr
    /// line (p1ge0n: `listening on 127.0.0.1:P (tcp)`; socat -d -d:
    /// `... N listening on AF=2 127.0.0.1:P`).
    pub fn launch_and_parse(
        cmd: Command,
        stdout: Stdio,
        stdout_path: Option<PathBuf>,
    ) -> Result<Server> {
        let name = format!("{:?}", cmd.get_program());
        let (mut server, rx) = Server::launch(
            cmd,
            stdout,
            stdout_path,
            ([127, 0, 0, 1], 0).into(),
            LISTENING,
        )?;
        let line = rx.recv_timeout(Duration::from_secs(10)).map_err(|_| {
            anyhow!(
                "{name}: no 'listening on' line within 10 s{}",
                server.tail()
            )
        })?;
        server.addr = parse_listening(&line)
            .ok_or_else(|| anyhow!("{name}: cannot parse an address from {line:?}"))?;
        Ok(server)
    }

    fn wait_connectable(&mut self, limit: Duration) -> Result<()> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                bail!("server exited early ({status}){}", self.tail());
            }
            if StdStream::connect_timeout(&self.addr, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            thread::sleep(Duration::from_millis(20));
        }
        bail!(
            "{} not accepting within {limit:?}{}",
            self.addr,
            self.tail()
        )
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub fn tail(&self) -> String {
        let log = self.log.lock().unwrap();
        if log.is_empty() {
            String::new()
        } else {
            let lines: Vec<&str> = log.iter().map(String::as_str).collect();
            format!("; stderr tail: {}", lines.join(" | "))
        }
    }

    /// SIGTERM the leader (p1ge0n flushes stdout and exits 143), wait up to
    /// `grace`, then kill the group.
    pub fn terminate(mut self, grace: Duration) {
        unsafe { libc::kill(self.pid(), libc::SIGTERM) };
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            thread::sleep(Duration::from_millis(5));
        }
        self.kill();
    }

    fn kill(&mut self) {
        let pgid = self.pid();
        unsafe { libc::kill(-pgid, libc::SIGKILL) };
        let _ = self.child.wait();
        reap_group(pgid);
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

fn spawn_in_group(cmd: &mut Command) -> Result<Child> {
    cmd.process_group(0);
    // SAFETY: prctl is async-signal-safe; nothing else runs in the child
    // before exec.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.spawn()
        .with_context(|| format!("spawn {:?}", cmd.get_program()))
}

/// Reap the (now reparented, since we are a subreaper) members of a killed
/// process group; bounded at 5 s.
fn reap_group(pgid: i32) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut status = 0;
        let r = unsafe { libc::waitpid(-pgid, &mut status, libc::WNOHANG) };
        if r > 0 {
            continue;
        }
        if r < 0 || Instant::now() >= deadline {
            return;
        }
        // r == 0: members still exiting. If none of the group is left as our
        // child waitpid returns ECHILD above, so this only waits for dying ones.
        thread::sleep(Duration::from_millis(2));
    }
}

/// What a server writes on stderr once it listens (p1ge0n, socat -d -d,
/// this bench's own peers).
const LISTENING: &str = "listening on";

/// Keep reading a server's stderr so it never blocks on a full pipe; the
/// first line containing `marker` is forwarded, the last lines kept for
/// errors.
fn drain(
    stderr: std::process::ChildStderr,
    log: Arc<Mutex<VecDeque<String>>>,
    tx: mpsc::Sender<String>,
    marker: &'static str,
) {
    thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if line.contains(marker) {
                if let Some(tx) = tx.take() {
                    let _ = tx.send(line.clone());
                }
            }
            let mut log = log.lock().unwrap();
            if log.len() >= 8 {
                log.pop_front();
            }
            log.push_back(line);
        }
    });
}

fn parse_listening(line: &str) -> Option<SocketAddr> {
    let rest = &line[line.find("listening on")? + "listening on".len()..];
    rest.split_whitespace().find_map(|t| t.parse().ok())
}

/// A port the kernel hands out for 127.0.0.1 now (bound, read, released):
/// for a server that cannot bind port 0 itself. Another process may take it
/// before the server binds it; see [`Server::on_free_port`].
pub fn free_port() -> Result<u16> {
    Ok(StdListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A fresh path in `dir`: `STEM-N.EXT`, N counting up in this process.
pub fn unique_path(dir: &Path, stem: &str, ext: &str) -> PathBuf {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    dir.join(format!(
        "{stem}-{}.{ext}",
        N.fetch_add(1, Ordering::Relaxed)
    ))
}

// ---------------------------------------------------------------- /proc

#[derive(Default, Clone, Copy)]
pub struct Mem {
    pub processes: usize,
    pub rss_kb: u64,
    pub hwm_kb: u64,
    pub pss_kb: u64,
}

/// The fields of `/proc/PID/stat` after the parenthesised command name:
/// state, ppid, pgrp, ..., utime at 11, stime, cutime, cstime.
fn stat_fields(pid: i32) -> Option<Vec<String>> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    Some(
        stat[stat.rfind(')')? + 1..]
            .split_whitespace()
            .map(str::to_string)
            .collect(),
    )
}

/// Every process in a process group (read from /proc; one that exits
/// meanwhile may or may not be in it).
fn group_members(pgid: i32) -> Vec<i32> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| stat_fields(pid).and_then(|f| f.get(2)?.parse::<i32>().ok()) == Some(pgid))
        .collect()
}

/// Memory of every process in a process group: RSS double-counts pages the
/// forked children share, PSS splits them fairly. A member that exits while
/// the group is read counts as 0.
pub fn group_mem(pgid: i32) -> Mem {
    let mut mem = Mem::default();
    for pid in group_members(pgid) {
        mem.processes += 1;
        if let Ok(text) = fs::read_to_string(format!("/proc/{pid}/status")) {
            mem.rss_kb += kb_field(&text, "VmRSS:").unwrap_or(0);
            mem.hwm_kb += kb_field(&text, "VmHWM:").unwrap_or(0);
        }
        if let Ok(text) = fs::read_to_string(format!("/proc/{pid}/smaps_rollup")) {
            mem.pss_kb += kb_field(&text, "Pss:").unwrap_or(0);
        }
    }
    mem
}

/// CPU time, in seconds, that every process of a process group has used
/// (user and system), with the children they have already reaped (socat's
/// forks): read before and after a round, the difference is what the
/// server spent on it. Clock-tick resolution (10 ms).
pub fn group_cpu_secs(pgid: i32) -> f64 {
    // SAFETY: sysconf only reads a constant.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let total: u64 = group_members(pgid)
        .into_iter()
        .filter_map(stat_fields)
        .map(|fields| {
            fields
                .get(11..15)
                .into_iter()
                .flatten()
                .filter_map(|f| f.parse::<u64>().ok())
                .sum::<u64>()
        })
        .sum();
    total as f64 / ticks
}

/// The open-file limit, raised to its hard maximum (the same call listen
/// makes at start-up).
pub fn raise_nofile() -> u64 {
    p1ge0n::process::raise_fd_limit().unwrap_or(1024)
}

pub fn machine() -> String {
    let cpu = fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = thread::available_parallelism().map_or(0, |n| n.get());
    format!("{cores} cores, {cpu}")
}

// -------------------------------------------------- the tokio echo peer

/// Set in the environment of a copy of this bench that is to be the bare
/// tokio echo server ([`Peer::TokioEcho`]).
pub const TOKIO_ECHO_ROLE: &str = "P1GE0N_BENCH_TOKIO_ECHO";

/// The bare tokio echo: the textbook accept loop and read/write_all task
/// (tokio's `examples/echo.rs`), with 64 KiB reads (tokio's example uses
/// 1 KiB, which would be an unfair ceiling) and the default multi-thread
/// runtime, as `listen` has. No framing, no counters, no log lines.
pub fn tokio_echo_server() -> ! {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let result: std::io::Result<()> = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        eprintln!("listening on {} (tcp)", listener.local_addr()?);
        loop {
            let (mut socket, _) = listener.accept().await?;
            socket.set_nodelay(true)?;
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                loop {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            if socket.write_all(&buf[..n]).await.is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        }
    });
    eprintln!("tokio echo: {result:?}");
    std::process::exit(1)
}

/// Set in the environment of a copy of this bench that is to be the bare
/// tokio proxy (section 7); its value is the upstream address.
pub const TOKIO_PROXY_ROLE: &str = "P1GE0N_BENCH_TOKIO_PROXY";

/// The bare tokio proxy: tokio's `examples/proxy.rs` (an accept loop; per
/// connection, connect upstream and `copy_bidirectional`), the ceiling a
/// tokio relay reaches without anything p1ge0n does. Two departures, both
/// to match what `p1ge0n proxy` has, so the ceiling is not an unfair one:
/// 64 KiB buffers per direction (`copy_bidirectional_with_sizes`; the
/// example's 8 KiB default would cap the bulk stream) and TCP_NODELAY on
/// both sockets (as the tokio echo sets on its own). No framing, counters
/// or log lines.
pub fn tokio_proxy_server(upstream: String) -> ! {
    const BUFFER: usize = 64 * 1024;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let result: std::io::Result<()> = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        eprintln!("listening on {} (tcp)", listener.local_addr()?);
        loop {
            let (mut inbound, _) = listener.accept().await?;
            let upstream = upstream.clone();
            tokio::spawn(async move {
                let Ok(mut outbound) = TcpStream::connect(&upstream).await else {
                    return;
                };
                let _ = inbound.set_nodelay(true);
                let _ = outbound.set_nodelay(true);
                let _ = tokio::io::copy_bidirectional_with_sizes(
                    &mut inbound,
                    &mut outbound,
                    BUFFER,
                    BUFFER,
                )
                .await;
            });
        }
    });
    eprintln!("tokio proxy: {result:?}");
    std::process::exit(1)
}

// ---------------------------------------------------------- latency

/// One blocking client per address, taking turns: each turn sends one
/// `LINE`-byte line to every address, in an order shuffled afresh, and
/// waits for its echo before the next. Returns each address's round trips
/// (ns). Turns interleave the relays finely, so a drift of the machine
/// (another process, the CPU's clock, where the scheduler put a thread)
/// falls on all of them alike: a ratio of two columns is then the relays'
/// own difference, where rounds run one relay after another compared
/// moments as much as relays. The order is shuffled because the relay that
/// goes right after another finds the caches and cores as that one left
/// them.
pub fn interleaved_latency(addrs: &[SocketAddr], dur: Duration) -> Result<Vec<Vec<u64>>> {
    let mut streams = Vec::with_capacity(addrs.len());
    for addr in addrs {
        let s = StdStream::connect_timeout(addr, Duration::from_secs(5))
            .with_context(|| format!("connect to {addr}"))?;
        s.set_nodelay(true)?;
        s.set_read_timeout(Some(Duration::from_secs(5)))?;
        streams.push(s);
    }
    let mut line = [b'l'; LINE];
    line[LINE - 1] = b'\n';
    let mut echo = [0u8; LINE];
    let mut lat: Vec<Vec<u64>> = addrs.iter().map(|_| Vec::new()).collect();
    let mut order: Vec<usize> = (0..addrs.len()).collect();
    // xorshift64: a fixed sequence, so two runs shuffle alike.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let started = Instant::now();
    let mut turn = 0u64;
    while started.elapsed() < dur {
        for i in (1..order.len()).rev() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            order.swap(i, (x % (i as u64 + 1)) as usize);
        }
        for &i in &order {
            let t = Instant::now();
            streams[i].write_all(&line)?;
            streams[i]
                .read_exact(&mut echo)
                .with_context(|| format!("echo from {}", addrs[i]))?;
            // The first turns warm the connections up.
            if turn >= 100 {
                lat[i].push(t.elapsed().as_nanos() as u64);
            }
            if echo != line {
                bail!("{} echoed other bytes", addrs[i]);
            }
        }
        turn += 1;
    }
    Ok(lat)
}

// ---------------------------------------------------------- load clients

pub struct RateRound {
    pub msgs: u64,
    pub secs: f64,
    pub lat_ns: Vec<u64>,
}

pub async fn rate_round(addr: SocketAddr, clients: usize, dur: Duration) -> Result<RateRound> {
    let connect = || async move {
        let s = TcpStream::connect(addr).await?;
        s.set_nodelay(true)?;
        Ok(s)
    };
    rate_round_with(&addr.to_string(), clients, dur, connect).await
}

/// The message-rate round over any stream `connect` opens (TCP, TLS).
pub async fn rate_round_with<S, F, Fut>(
    addr: &str,
    clients: usize,
    dur: Duration,
    connect: F,
) -> Result<RateRound>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<S>>,
{
    // One by one, each echoing once before the next connects: socat listens
    // with a backlog of 5 and forks per accept, so a burst of connects
    // overflows its accept queue and stalls in SYN retransmits (1 s, 3 s).
    let mut streams = Vec::with_capacity(clients);
    for id in 0..clients {
        let open = async {
            let mut s = connect().await?;
            scale_echo(&mut s, id, 0).await?;
            Ok::<_, anyhow::Error>(s)
        };
        let s = tokio::time::timeout(Duration::from_secs(5), open)
            .await
            .map_err(|_| anyhow!("connect + first echo to {addr} over 5 s"))??;
        streams.push(s);
    }
    let start = tokio::time::Instant::now() + Duration::from_millis(20);
    let deadline = start + dur;
    let mut set = JoinSet::new();
    for (id, s) in streams.into_iter().enumerate() {
        set.spawn(rate_client(id, s, start, deadline));
    }
    let (msgs, secs, lat_ns) = gather(
        set,
        start,
        deadline + Duration::from_secs(10),
        "clients still waiting for echoes 10 s after the deadline",
    )
    .await?;
    Ok(RateRound { msgs, secs, lat_ns })
}

/// What a load client reports: how many round trips, their latencies
/// (ns), and when it finished.
pub type ClientRun = Result<(u64, Vec<u64>, tokio::time::Instant)>;

/// Wait for every load client of a round, each bounded by `watchdog`
/// (else `late`): (round trips, seconds from `start` to the last client's
/// end, every latency).
pub async fn gather(
    mut set: JoinSet<ClientRun>,
    start: tokio::time::Instant,
    watchdog: tokio::time::Instant,
    late: &str,
) -> Result<(u64, f64, Vec<u64>)> {
    let (mut total, mut lat_ns, mut last_end) = (0, Vec::new(), start);
    loop {
        let next = tokio::time::timeout_at(watchdog, set.join_next())
            .await
            .map_err(|_| anyhow!("{late}"))?;
        let Some(joined) = next else { break };
        let (n, lat, end) = joined??;
        total += n;
        lat_ns.extend(lat);
        last_end = last_end.max(end);
    }
    Ok((total, (last_end - start).as_secs_f64(), lat_ns))
}

async fn rate_client<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    id: usize,
    mut s: S,
    start: tokio::time::Instant,
    deadline: tokio::time::Instant,
) -> Result<(u64, Vec<u64>, tokio::time::Instant)> {
    // "c=00042 s=<16 hex digits> " then filler, LF: unique per message.
    let mut line = [b'a' + (id % 26) as u8; LINE];
    line[..2].copy_from_slice(b"c=");
    line[2..7].copy_from_slice(format!("{:05}", id % 100_000).as_bytes());
    line[7..10].copy_from_slice(b" s=");
    line[26] = b' ';
    line[LINE - 1] = b'\n';
    let mut back = [0u8; LINE];
    let mut lat = Vec::with_capacity(1 << 14);
    let mut seq = 0u64;
    tokio::time::sleep_until(start).await;
    while tokio::time::Instant::now() < deadline {
        hex::encode_to_slice(seq.to_be_bytes(), &mut line[10..26]).expect("16 digits");
        let t0 = Instant::now();
        s.write_all(&line).await?;
        s.read_exact(&mut back).await?;
        lat.push(t0.elapsed().as_nanos() as u64);
        if back != line {
            bail!(
                "client {id}: echo #{seq} differs: sent {:?}, got {:?}",
                String::from_utf8_lossy(&line),
                String::from_utf8_lossy(&back)
            );
        }
        seq += 1;
    }
    Ok((seq, lat, tokio::time::Instant::now()))
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

/// How far the writer may run ahead of the echo: unbounded (a plain
/// stream), or at most WINDOW bytes not yet echoed.
#[derive(Clone, Copy, PartialEq)]
pub enum Window {
    Stream,
    Bounded,
}

/// Small enough that `ncat --exec cat` cannot deadlock (its relay blocks
/// writing to cat while cat blocks writing back once both 64 KiB pipes are
/// full), large enough to keep Nagle from stalling the tail of each chunk.
const WINDOW: u64 = 2 * CHUNK as u64;

const STALL: Duration = Duration::from_secs(3);

pub async fn bulk_round(addr: SocketAddr, total: u64, window: Window) -> Result<f64> {
    let s = tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(addr))
        .await
        .map_err(|_| anyhow!("connect to {addr} timed out"))??;
    s.set_nodelay(true)?;
    let (mut r, mut w) = s.into_split();
    let pat = Arc::new(pattern(CHUNK + 251));
    let (progress, mut echoed) = tokio::sync::watch::channel(0u64);
    let t0 = Instant::now();
    let source = pat.clone();
    let writer = tokio::spawn(async move {
        let mut sent = 0u64;
        while sent < total {
            let n = (total - sent).min(CHUNK as u64) as usize;
            if window == Window::Bounded {
                echoed
                    .wait_for(|&got| sent + n as u64 - got <= WINDOW)
                    .await?;
            }
            let phase = (sent % 251) as usize;
            w.write_all(&source[phase..phase + n]).await?;
            sent += n as u64;
        }
        Ok::<_, anyhow::Error>(w)
    });
    let mut buf = vec![0u8; CHUNK];
    let mut got = 0u64;
    let read = async {
        while got < total {
            let n = match tokio::time::timeout(STALL, r.read(&mut buf)).await {
                Ok(n) => n?,
                Err(_) => {
                    bail!("stalled: nothing echoed for {STALL:?} after {got} of {total} bytes")
                }
            };
            if n == 0 {
                bail!("EOF after {got} of {total} bytes");
            }
            let phase = (got % 251) as usize;
            if buf[..n] != pat[phase..phase + n] {
                bail!("echo corrupted within bytes {got}..{}", got + n as u64);
            }
            got += n as u64;
            if window == Window::Bounded {
                let _ = progress.send(got);
            }
        }
        Ok(())
    };
    if let Err(e) = read.await {
        writer.abort();
        return Err(e);
    }
    let secs = t0.elapsed().as_secs_f64();
    // Half-close only after the whole echo is back: ncat --exec tears the
    // connection down on client EOF before relaying what cat still holds.
    let mut w = writer.await??;
    w.shutdown().await?;
    Ok(secs)
}

pub struct ScaleResult {
    pub opened: usize,
    pub echoed: usize,
    pub open_secs: f64,
    pub echo_secs: f64,
    pub mem: Mem,
    pub first_error: Option<String>,
}

/// One verified round trip of a 64-byte line naming the connection.
async fn scale_echo<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    s: &mut S,
    id: usize,
    k: usize,
) -> Result<()> {
    let mut line = [b'.'; LINE];
    let head = format!("conn {id:06} msg {k} ");
    line[..head.len()].copy_from_slice(head.as_bytes());
    line[LINE - 1] = b'\n';
    let mut back = [0u8; LINE];
    s.write_all(&line).await?;
    s.read_exact(&mut back).await?;
    if back != line {
        bail!("conn {id}: echo {k} differs");
    }
    Ok(())
}

pub async fn scale_run(addr: SocketAddr, n: usize, pgid: i32) -> ScaleResult {
    const MSGS: usize = 3;
    // Connections are opened a few at a time, each echoing once before the
    // next batch: socat listens with a backlog of 5, and connects that
    // overflow an accept queue stall for a minute in SYN-ACK retransmits.
    const PARALLEL: usize = 4;
    let open_deadline =
        tokio::time::Instant::now() + Duration::from_secs(10) + Duration::from_millis(3 * n as u64);
    let mut first_error = None;
    let mut streams = Vec::with_capacity(n);
    let mut failed = 0usize;
    let t0 = Instant::now();
    while streams.len() + failed < n && tokio::time::Instant::now() < open_deadline {
        let batch = (n - streams.len() - failed).min(PARALLEL);
        let mut set = JoinSet::new();
        for j in 0..batch {
            let id = streams.len() + failed + j;
            set.spawn(async move {
                let once = async {
                    let mut s = TcpStream::connect(addr).await?;
                    s.set_nodelay(true)?;
                    scale_echo(&mut s, id, 0).await?;
                    Ok::<_, anyhow::Error>(s)
                };
                tokio::time::timeout(Duration::from_secs(5), once)
                    .await
                    .map_err(|_| anyhow!("connect + first echo over 5 s"))?
            });
        }
        while let Some(joined) = set.join_next().await {
            match joined.map_err(anyhow::Error::from).and_then(|r| r) {
                Ok(s) => streams.push(s),
                Err(e) => {
                    failed += 1;
                    first_error.get_or_insert_with(|| format!("open: {e:#}"));
                }
            }
        }
        if failed > n / 10 + 10 {
            break;
        }
    }
    let opened = streams.len();
    let open_secs = t0.elapsed().as_secs_f64();

    // Then every held connection echoes the remaining messages at once.
    let t1 = Instant::now();
    let echo_deadline =
        tokio::time::Instant::now() + Duration::from_secs(10) + Duration::from_millis(n as u64);
    let mut set = JoinSet::new();
    for (id, mut s) in streams.into_iter().enumerate() {
        set.spawn(async move {
            for k in 1..MSGS {
                scale_echo(&mut s, id, k).await?;
            }
            Ok(s)
        });
    }
    let mut held = Vec::with_capacity(opened);
    loop {
        match tokio::time::timeout_at(echo_deadline, set.join_next()).await {
            Err(_) => {
                first_error.get_or_insert_with(|| "echo phase timed out".into());
                break;
            }
            Ok(None) => break,
            Ok(Some(joined)) => match joined.map_err(anyhow::Error::from).and_then(|r| r) {
                Ok(s) => held.push(s),
                Err(e) => {
                    first_error.get_or_insert_with(|| format!("echo: {e:#}"));
                }
            },
        }
    }
    let echo_secs = t1.elapsed().as_secs_f64();
    // Measured while every connection that echoed is still open.
    let mem = group_mem(pgid);
    let echoed = held.len();
    drop(held);
    ScaleResult {
        opened,
        echoed,
        open_secs,
        echo_secs,
        mem,
        first_error,
    }
}

// ------------------------------------------------------ one-shot clients

/// Kills a client that overruns its deadline, so every run is bounded.
#[derive(Clone)]
pub struct Watchdog(Arc<Mutex<Option<(i32, Instant)>>>);

impl Watchdog {
    pub fn start() -> Watchdog {
        let dog = Watchdog(Arc::new(Mutex::new(None)));
        let weak = Arc::downgrade(&dog.0);
        thread::spawn(move || {
            while let Some(slot) = weak.upgrade() {
                {
                    let mut slot = slot.lock().unwrap();
                    if let Some((pid, deadline)) = *slot {
                        if Instant::now() >= deadline {
                            // Not yet reaped (see run_client), so the pid is ours.
                            unsafe { libc::kill(pid, libc::SIGKILL) };
                            *slot = None;
                        }
                    }
                }
                drop(slot);
                thread::sleep(Duration::from_millis(50));
            }
        });
        dog
    }

    fn arm(&self, pid: i32, limit: Duration) {
        *self.0.lock().unwrap() = Some((pid, Instant::now() + limit));
    }

    fn disarm(&self) {
        *self.0.lock().unwrap() = None;
    }
}

pub fn run_client(argv: &[String], dog: &Watchdog) -> Result<Duration> {
    run_client_faults(argv, dog).map(|(took, _)| took)
}

/// Minor page faults of the children reaped so far.
fn children_faults() -> u64 {
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage fills the struct we own.
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) };
    usage.ru_minflt as u64
}

/// Like [`run_client`], with the client's minor page faults (the pages
/// the loader and the program touch: start-up cost a wall time hides).
pub fn run_client_faults(argv: &[String], dog: &Watchdog) -> Result<(Duration, u64)> {
    let ran = run_timed(argv, b"hello\n", dog)?;
    if !ran.status.success() || ran.stdout != b"hello\n" {
        bail!("{}", ran.describe(argv));
    }
    Ok((ran.took, ran.faults))
}

/// One timed run of a one-shot client: spawn to exit, and what it did.
pub struct Ran {
    pub took: Duration,
    /// Minor page faults.
    pub faults: u64,
    pub status: std::process::ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl Ran {
    /// For an error: the command, its status and what it wrote.
    pub fn describe(&self, argv: &[String]) -> String {
        format!(
            "{}: {}, stdout {:?}, stderr {:?}",
            argv.join(" "),
            self.status,
            String::from_utf8_lossy(&self.stdout),
            String::from_utf8_lossy(&self.stderr)
        )
    }
}

/// Run `argv` with `input` on its stdin (then closed), killed by the
/// watchdog after 10 s; the time is taken from spawn to exit, before the
/// output is read.
pub fn run_timed(argv: &[String], input: &[u8], dog: &Watchdog) -> Result<Ran> {
    let t0 = Instant::now();
    let mut child = Command::new(&argv[0])
        .args(&argv[1..])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("spawn {}", argv[0]))?;
    dog.arm(child.id() as i32, Duration::from_secs(10));
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let wrote = if input.is_empty() {
        Ok(())
    } else {
        stdin.write_all(input)
    };
    drop(stdin);
    // Wait for the exit without reaping, so the watchdog can never hit a
    // recycled pid; then disarm and reap.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    unsafe {
        libc::waitid(
            libc::P_PID,
            child.id(),
            &mut info,
            libc::WEXITED | libc::WNOWAIT,
        )
    };
    let took = t0.elapsed();
    dog.disarm();
    let faults_before = children_faults();
    let status = child.wait()?;
    let faults = children_faults() - faults_before;
    let mut out = Vec::new();
    let mut err = Vec::new();
    child.stdout.take().expect("piped").read_to_end(&mut out)?;
    child.stderr.take().expect("piped").read_to_end(&mut err)?;
    wrote.context("write stdin")?;
    Ok(Ran {
        took,
        faults,
        status,
        stdout: out,
        stderr: err,
    })
}

/// Whether `bin() ARGS --help` mentions `word` (an option this p1ge0n may
/// not have yet).
pub fn help_mentions(args: &[&str], word: &str) -> bool {
    let mut cmd = Command::new(bin());
    cmd.args(args).arg("--help");
    output_within(cmd, Duration::from_secs(5))
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).contains(word))
}

/// Run `cmd` to its end (stdin empty, stdout and stderr collected), killed
/// after `limit`: for a helper command (a compiler, a `--help`).
pub fn output_within(mut cmd: Command, limit: Duration) -> Result<std::process::Output> {
    let name = format!("{:?}", cmd.get_program());
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("spawn {name}"))?;
    let collect = |mut pipe: Box<dyn Read + Send>| {
        thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            bytes
        })
    };
    let out = collect(Box::new(child.stdout.take().expect("stdout is piped")));
    let err = collect(Box::new(child.stderr.take().expect("stderr is piped")));
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!("{name} still running after {limit:?}; killed");
        }
        thread::sleep(Duration::from_millis(10));
    };
    Ok(std::process::Output {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    })
}
