//! Side-by-side benchmark of p1ge0n against socat, ncat, nc and hexdump
//! (results and targets in BENCHMARKS.md).
//!
//! `cargo bench --bench peers` builds the release binary and compares, in
//! one run and on 127.0.0.1 only:
//!
//! 1. message rate: 100 clients, 64-byte lines, one in flight each;
//! 2. bulk stream: one client, 64 KiB writes with a concurrent reader;
//! 3. scale: thousands of connections held open, server memory;
//! 4. one-shot: `echo hello | CLIENT` wall time against one echo server;
//! 5. the display formatter (library) against `hexdump -C`;
//! 6. binary size and idle RSS.
//!
//! Servers alternate within each round (the order rotates per round) so that
//! drift from other load hits all of them alike; tables show the median of
//! the rounds and the ratio to socat. Every loop is bounded in count and in
//! time. Each server runs in its own process group, dies with the bench
//! (PR_SET_PDEATHSIG) and is killed as a group when done (or on panic, by
//! `Drop`); the bench is a child subreaper so forked socat/ncat children are
//! reaped here.
//!
//! Ports come from binding port 0 (p1ge0n and socat report theirs on
//! stderr). ncat cannot, so the bench binds a port-0 listener, notes the
//! port, closes it and starts ncat on it: another process can take the port
//! in between; ncat then exits and the bench retries (3 times). ncat also
//! gets `-m` above the connection count, as its default cap is 100.
//!
//! Environment (all optional):
//!   P1GE0N_BENCH_QUICK=1        smoke run in seconds (small counts, 1 round)
//!   P1GE0N_BENCH_ROUNDS=N       rounds per comparison (default 5)
//!   P1GE0N_BENCH_SECS=S         message-rate duration per server per round (3)
//!   P1GE0N_BENCH_BULK_MB=N      bulk volume per server per round in MB (256)
//!   P1GE0N_BENCH_CONNS=N        scale: connections to p1ge0n (10000)
//!   P1GE0N_BENCH_PEER_CONNS=N   scale: cap for socat/ncat (1000)
//!   P1GE0N_BENCH_RUNS=N         one-shot runs per client (200)
//!   P1GE0N_BENCH_DISPLAY_MB=N   formatter volume in MB (50)
//!   P1GE0N_BENCH_ONLY=a,b       sections: rate,bulk,scale,oneshot,display,size,proxy,decode,tls
//!
//! MB is 10^6 bytes throughout.

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
    time::{Duration, Instant, SystemTime},
};

#[path = "peers/tls.rs"]
mod tls;

use anyhow::{anyhow, bail, Context, Result};
use p1ge0n::{
    display::{Format, Renderer, Style},
    record::{Meta, Role, Side},
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    runtime::Runtime,
    task::JoinSet,
};

/// The p1ge0n under test: the bench profile's build, or the binary named
/// by `P1GE0N_BENCH_BIN` (e.g. a statically linked build, see BENCHMARKS.md).
fn bin() -> &'static str {
    static BIN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    BIN.get_or_init(|| {
        std::env::var("P1GE0N_BENCH_BIN")
            .unwrap_or_else(|_| env!("CARGO_BIN_EXE_p1ge0n").to_string())
    })
}
const LINE: usize = 64;
const CHUNK: usize = 64 * 1024;
const MB: f64 = 1e6;

// ---------------------------------------------------------------- config

struct Config {
    quick: bool,
    rounds: usize,
    rate_secs: f64,
    clients: usize,
    bulk_mb: u64,
    scale_conns: usize,
    peer_conns: usize,
    oneshot_runs: usize,
    display_mb: usize,
    only: Vec<String>,
}

fn env_or<T: FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

impl Config {
    fn from_env() -> Config {
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

    fn wants(&self, section: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|s| s == section)
    }
}

// --------------------------------------------------------------- servers

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Peer {
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
}

impl Peer {
    fn label(self) -> &'static str {
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
        }
    }

    fn tool(self) -> &'static str {
        match self {
            Peer::Quiet
            | Peer::Text
            | Peer::Rules
            | Peer::Pcap
            | Peer::ModbusText
            | Peer::ModbusDecoded => bin(),
            Peer::Socat => "socat",
            Peer::Ncat => "ncat",
            Peer::TokioEcho => "this bench",
        }
    }

    /// Whether this peer can run here (the tokio echo is this bench).
    fn available(self) -> bool {
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

fn have(tool: &str) -> bool {
    if tool.contains('/') {
        return Path::new(tool).exists();
    }
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(tool).is_file()))
}

/// A server child in its own process group; killed with its whole group on
/// drop.
struct Server {
    child: Child,
    addr: SocketAddr,
    log: Arc<Mutex<VecDeque<String>>>,
    stdout_path: Option<PathBuf>,
}

impl Server {
    fn start(peer: Peer, dir: &Path, max_conns: usize) -> Result<Server> {
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
            Peer::ModbusText | Peer::ModbusDecoded => {
                let path = unique_path(dir, "records", "txt");
                let file = File::create(&path).context("create the records file")?;
                let mut cmd = Command::new(bin());
                cmd.args(["listen", "127.0.0.1:0", "-f", "text"]);
                if peer == Peer::ModbusDecoded {
                    cmd.args(["--decode", "modbus"]);
                } else {
                    cmd.args(["--frame", "len=u16be,offset=4"]);
                }
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
            Peer::TokioEcho => {
                let mut cmd = Command::new(std::env::current_exe()?);
                cmd.env(TOKIO_ECHO_ROLE, "1");
                Server::launch_and_parse(cmd, Stdio::null(), None)
            }
        }
    }

    /// `ncat -l -k` running `program` (`--exec ...` or `--sh-exec ...`).
    ///
    /// ncat cannot bind port 0 and report it, so take a free port from the
    /// kernel, release it and hand it to ncat. Another process may grab it
    /// in between (a race); ncat then fails to bind and exits, and we retry
    /// with a fresh port.
    fn ncat(max_conns: usize, program: &[&str]) -> Result<Server> {
        let mut last = anyhow!("ncat did not start");
        for _ in 0..3 {
            let port = StdListener::bind("127.0.0.1:0")?.local_addr()?.port();
            let mut cmd = Command::new("ncat");
            cmd.args(["-l", "127.0.0.1", &port.to_string(), "-k"])
                // ncat's default --max-conns is 100; raise it so the cap is
                // ours, not ncat's.
                .args(["-m", &(max_conns + 16).to_string()])
                .args(program);
            let addr: SocketAddr = ([127, 0, 0, 1], port).into();
            let (mut server, _) = Server::launch(cmd, Stdio::null(), None, addr)?;
            match server.wait_connectable(Duration::from_secs(5)) {
                Ok(()) => return Ok(server),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// Spawn with stderr drained; returns the server (address still to be
    /// filled in when it is 0) and the channel that gets the first
    /// "listening on" line.
    fn launch(
        mut cmd: Command,
        stdout: Stdio,
        stdout_path: Option<PathBuf>,
        addr: SocketAddr,
    ) -> Result<(Server, mpsc::Receiver<String>)> {
        cmd.stdin(Stdio::null())
            .stdout(stdout)
            .stderr(Stdio::piped());
        let mut child = spawn_in_group(&mut cmd)?;
        let stderr = child.stderr.take().expect("stderr is piped");
        let log = Arc::new(Mutex::new(VecDeque::new()));
        let (tx, rx) = mpsc::channel();
        drain(stderr, log.clone(), tx);
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
    fn launch_and_parse(
        cmd: Command,
        stdout: Stdio,
        stdout_path: Option<PathBuf>,
    ) -> Result<Server> {
        let name = format!("{:?}", cmd.get_program());
        let (mut server, rx) =
            Server::launch(cmd, stdout, stdout_path, ([127, 0, 0, 1], 0).into())?;
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

    fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    fn tail(&self) -> String {
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
    fn terminate(mut self, grace: Duration) {
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

/// Keep reading a server's stderr so it never blocks on a full pipe; the
/// first "listening on" line is forwarded, the last lines kept for errors.
fn drain(
    stderr: std::process::ChildStderr,
    log: Arc<Mutex<VecDeque<String>>>,
    tx: mpsc::Sender<String>,
) {
    thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if line.contains("listening on") {
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

fn unique_path(dir: &Path, stem: &str, ext: &str) -> PathBuf {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    dir.join(format!(
        "{stem}-{}.{ext}",
        N.fetch_add(1, Ordering::Relaxed)
    ))
}

// ---------------------------------------------------------------- /proc

#[derive(Default, Clone, Copy)]
struct Mem {
    processes: usize,
    rss_kb: u64,
    hwm_kb: u64,
    pss_kb: u64,
}

fn status_kb(pid: i32, key: &str) -> Option<u64> {
    let text = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    kb_field(&text, key)
}

fn kb_field(text: &str, key: &str) -> Option<u64> {
    text.lines()
        .find(|l| l.starts_with(key))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn pgrp_of(pid: i32) -> Option<i32> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised comm: state ppid pgrp ...
    stat[stat.rfind(')')? + 1..]
        .split_whitespace()
        .nth(2)?
        .parse()
        .ok()
}

/// Memory of every process in a process group: RSS double-counts pages the
/// forked children share, PSS splits them fairly.
fn group_mem(pgid: i32) -> Mem {
    let mut mem = Mem::default();
    let Ok(dir) = fs::read_dir("/proc") else {
        return mem;
    };
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        if pgrp_of(pid) != Some(pgid) {
            continue;
        }
        mem.processes += 1;
        mem.rss_kb += status_kb(pid, "VmRSS:").unwrap_or(0);
        mem.hwm_kb += status_kb(pid, "VmHWM:").unwrap_or(0);
        if let Ok(text) = fs::read_to_string(format!("/proc/{pid}/smaps_rollup")) {
            mem.pss_kb += kb_field(&text, "Pss:").unwrap_or(0);
        }
    }
    mem
}

// ------------------------------------------------------------ statistics

/// Median of the finite values (failed rounds are NaN and left out).
fn median(values: &[f64]) -> f64 {
    let mut v: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// A measured figure against its baseline, for the targets table:
/// `1,838 vs 514 MB/s = 3.58x`.
fn versus(ours: f64, theirs: f64, unit: &str) -> String {
    let show = |v: f64| {
        if !v.is_finite() {
            "-".to_string()
        } else if v >= 1000.0 {
            thousands(v.round() as u64)
        } else {
            format!("{v:.1}")
        }
    };
    format!(
        "{} vs {} {unit} = {}",
        show(ours),
        show(theirs),
        ratio(ours, theirs)
    )
}

fn ratio(a: f64, b: f64) -> String {
    if a.is_finite() && b.is_finite() && b > 0.0 {
        format!("{:.2}x", a / b)
    } else {
        "-".into()
    }
}

fn si(v: f64) -> String {
    if !v.is_finite() {
        "-".into()
    } else if v >= 1e6 {
        format!("{:.2}M", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn mb_kb(kb: u64) -> String {
    format!("{:.1}", kb as f64 / 1024.0)
}

fn print_table(title: &str, header: &[&str], rows: &[Vec<String>]) {
    let mut width: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            width[i] = width[i].max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, cell) in cells.iter().enumerate() {
            let pad = width[i] - cell.chars().count();
            if i == 0 {
                s.push_str(cell);
                s.push_str(&" ".repeat(pad));
            } else {
                s.push_str("  ");
                s.push_str(&" ".repeat(pad));
                s.push_str(cell);
            }
        }
        println!("{}", s.trim_end());
    };
    println!("\n{title}");
    line(header.to_vec());
    line(
        width
            .iter()
            .map(|w| "-".repeat(*w))
            .collect::<Vec<_>>()
            .iter()
            .map(String::as_str)
            .collect(),
    );
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}

/// Target verdicts for the closing summary.
struct Targets(Vec<[String; 3]>);

impl Targets {
    fn add(&mut self, target: &str, measured: String, met: Option<bool>) {
        let verdict = match met {
            Some(true) => "met",
            Some(false) => "MISSED",
            None => "n/a",
        };
        self.0.push([target.into(), measured, verdict.into()]);
    }
}

// ------------------------------------------------------- 1. message rate

struct RateRound {
    msgs: u64,
    secs: f64,
    lat_ns: Vec<u64>,
}

async fn rate_round(addr: SocketAddr, clients: usize, dur: Duration) -> Result<RateRound> {
    let connect = || async move {
        let s = TcpStream::connect(addr).await?;
        s.set_nodelay(true)?;
        Ok(s)
    };
    rate_round_with(&addr.to_string(), clients, dur, connect).await
}

/// The message-rate round over any stream `connect` opens (TCP, TLS).
async fn rate_round_with<S, F, Fut>(
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
    let watchdog = deadline + Duration::from_secs(10);
    let mut round = RateRound {
        msgs: 0,
        secs: 0.0,
        lat_ns: Vec::new(),
    };
    let mut last_end = start;
    loop {
        let next = tokio::time::timeout_at(watchdog, set.join_next())
            .await
            .map_err(|_| anyhow!("clients still waiting for echoes 10 s after the deadline"))?;
        let Some(joined) = next else { break };
        let (n, lat, end) = joined??;
        round.msgs += n;
        round.lat_ns.extend(lat);
        last_end = last_end.max(end);
    }
    round.secs = (last_end - start).as_secs_f64();
    Ok(round)
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

fn count_lines(path: &Path) -> Result<u64> {
    let mut file = File::open(path)?;
    let mut buf = vec![0u8; 1 << 20];
    let mut lines = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            return Ok(lines);
        }
        lines += buf[..n].iter().filter(|&&b| b == b'\n').count() as u64;
    }
}

fn section_rate(cfg: &Config, rt: &Runtime, dir: &Path, targets: &mut Targets) -> Result<()> {
    let peers: Vec<Peer> = [
        Peer::Quiet,
        Peer::Text,
        Peer::Rules,
        Peer::Pcap,
        Peer::Socat,
        Peer::Ncat,
    ]
    .into_iter()
    .filter(|p| p.available())
    .collect();
    let dur = Duration::from_secs_f64(cfg.rate_secs);
    println!(
        "\n## 1. Message rate: {} clients, {LINE}-byte lines, 1 in flight each, {:.1} s per server x {} rounds",
        cfg.clients, cfg.rate_secs, cfg.rounds
    );
    let mut rates: Vec<Vec<f64>> = vec![Vec::new(); peers.len()];
    let mut lats: Vec<Vec<u64>> = vec![Vec::new(); peers.len()];
    let mut records = (0u64, 0u64);
    for round in 0..cfg.rounds {
        for k in 0..peers.len() {
            let i = (k + round) % peers.len();
            let peer = peers[i];
            let server = Server::start(peer, dir, cfg.clients)?;
            let r = rt
                .block_on(rate_round(server.addr, cfg.clients, dur))
                .with_context(|| format!("{} round {}", peer.label(), round + 1))?;
            if let Some(path) = server.stdout_path.clone() {
                server.terminate(Duration::from_secs(5));
                records.0 += count_lines(&path)?;
                // Each client's warm-up echo is recorded too.
                records.1 += r.msgs + cfg.clients as u64;
                let _ = fs::remove_file(&path);
            } else {
                drop(server);
            }
            let rate = r.msgs as f64 / r.secs;
            println!(
                "  round {} {:<34} {:>9} msgs/s",
                round + 1,
                peer.label(),
                si(rate)
            );
            rates[i].push(rate);
            lats[i].extend(r.lat_ns);
        }
    }
    let socat = peers
        .iter()
        .position(|&p| p == Peer::Socat)
        .map(|i| median(&rates[i]))
        .unwrap_or(f64::NAN);
    let mut rows = Vec::new();
    for (i, peer) in peers.iter().enumerate() {
        lats[i].sort_unstable();
        let med = median(&rates[i]);
        rows.push(vec![
            peer.label().to_string(),
            thousands(med as u64),
            rates[i]
                .iter()
                .map(|r| si(*r))
                .collect::<Vec<_>>()
                .join(" "),
            format!("{:.0}", percentile(&lats[i], 50.0) as f64 / 1e3),
            format!("{:.0}", percentile(&lats[i], 99.0) as f64 / 1e3),
            ratio(med, socat),
        ]);
        match peer {
            Peer::Quiet => targets.add(
                "listen -q >= 2.0x socat msgs/s",
                versus(med, socat, "msgs/s"),
                socat.is_finite().then_some(med >= 2.0 * socat),
            ),
            Peer::Text => targets.add(
                "text display to file >= 1.0x socat msgs/s",
                versus(med, socat, "msgs/s"),
                socat.is_finite().then_some(med >= socat),
            ),
            Peer::Rules | Peer::Pcap => {
                let quiet = peers
                    .iter()
                    .position(|&p| p == Peer::Quiet)
                    .map_or(f64::NAN, |q| median(&rates[q]));
                let (name, floor) = match peer {
                    Peer::Rules => ("listen --rules (20) >= 0.8x listen -q msgs/s", 0.8),
                    _ => ("listen -q --pcap >= 0.75x listen -q msgs/s", 0.75),
                };
                targets.add(
                    name,
                    versus(med, quiet, "msgs/s"),
                    quiet.is_finite().then_some(med >= floor * quiet),
                );
            }
            _ => {}
        }
    }
    print_table(
        "message rate (median of rounds; latency pooled over rounds)",
        &["server", "msgs/s", "rounds", "p50 us", "p99 us", "vs socat"],
        &rows,
    );
    if records.1 > 0 {
        println!(
            "text display: {} record lines written for {} echoed messages (incl. warm-up){}",
            thousands(records.0),
            thousands(records.1),
            if records.0 == records.1 {
                " (all)"
            } else {
                " (MISMATCH)"
            }
        );
    }
    for peer in [Peer::Socat, Peer::Ncat] {
        if !peers.contains(&peer) {
            println!("note: {} not installed, skipped", peer.tool());
        }
    }
    Ok(())
}

// --------------------------------------------------------- 2. bulk stream

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

/// How far the writer may run ahead of the echo: unbounded (a plain
/// stream), or at most WINDOW bytes not yet echoed.
#[derive(Clone, Copy, PartialEq)]
enum Window {
    Stream,
    Bounded,
}

/// Small enough that `ncat --exec cat` cannot deadlock (its relay blocks
/// writing to cat while cat blocks writing back once both 64 KiB pipes are
/// full), large enough to keep Nagle from stalling the tail of each chunk.
const WINDOW: u64 = 2 * CHUNK as u64;

const STALL: Duration = Duration::from_secs(3);

async fn bulk_round(addr: SocketAddr, total: u64, window: Window) -> Result<f64> {
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

fn section_bulk(cfg: &Config, rt: &Runtime, dir: &Path, targets: &mut Targets) -> Result<()> {
    let peers: Vec<Peer> = [Peer::Quiet, Peer::TokioEcho, Peer::Socat, Peer::Ncat]
        .into_iter()
        .filter(|p| p.available())
        .collect();
    let total = cfg.bulk_mb * 1_000_000;
    println!(
        "\n## 2. Bulk: 1 client, {} KiB writes + concurrent reader, {} MB per server x {} rounds; \
         stream = writer never waits, 128K win = at most 128 KiB not yet echoed",
        CHUNK / 1024,
        cfg.bulk_mb,
        cfg.rounds
    );
    // Bounded: at least 1 MB/s overall, and no 3 s without progress.
    let limit = Duration::from_secs(10 + cfg.bulk_mb);
    let modes = [(Window::Stream, "stream"), (Window::Bounded, "128K win")];
    // speeds[mode][peer]; a failed round counts as NaN and is reported.
    let mut speeds = vec![vec![Vec::new(); peers.len()]; modes.len()];
    let mut notes = Vec::new();
    for round in 0..cfg.rounds {
        for (m, (window, mode)) in modes.iter().enumerate() {
            for k in 0..peers.len() {
                let i = (k + round) % peers.len();
                let server = Server::start(peers[i], dir, 4)?;
                let result = rt
                    .block_on(async {
                        tokio::time::timeout(limit, bulk_round(server.addr, total, *window)).await
                    })
                    .unwrap_or_else(|_| Err(anyhow!("over {limit:?}")));
                drop(server);
                let speed = match result {
                    Ok(secs) => total as f64 / MB / secs,
                    Err(e) => {
                        let note = format!("{} ({mode}): {e:#}", peers[i].label());
                        if peers[i] == Peer::Quiet {
                            bail!(note);
                        }
                        notes.push(format!("round {}: {note}", round + 1));
                        f64::NAN
                    }
                };
                let shown = if speed.is_finite() {
                    format!("{speed:.0}")
                } else {
                    "fail".into()
                };
                println!(
                    "  round {} {:<8} {:<30} {:>7} MB/s",
                    round + 1,
                    mode,
                    peers[i].label(),
                    shown
                );
                speeds[m][i].push(speed);
            }
        }
    }
    let fmt = |v: f64| {
        if v.is_finite() {
            format!("{v:.0}")
        } else {
            "fail".into()
        }
    };
    let mut rows = Vec::new();
    let mut socat = [f64::NAN; 2];
    for (m, _) in modes.iter().enumerate() {
        if let Some(i) = peers.iter().position(|&p| p == Peer::Socat) {
            socat[m] = median(&speeds[m][i]);
        }
    }
    for (i, peer) in peers.iter().enumerate() {
        let mut row = vec![peer.label().to_string()];
        for (m, _) in modes.iter().enumerate() {
            let med = median(&speeds[m][i]);
            row.push(fmt(med));
            row.push(
                speeds[m][i]
                    .iter()
                    .map(|s| fmt(*s))
                    .collect::<Vec<_>>()
                    .join(" "),
            );
            row.push(ratio(med, socat[m]));
        }
        rows.push(row);
        if *peer == Peer::Quiet {
            let med = median(&speeds[0][i]);
            targets.add(
                "bulk >= 1.6x socat MB/s (stream)",
                versus(med, socat[0], "MB/s"),
                socat[0].is_finite().then_some(med >= 1.6 * socat[0]),
            );
            if let Some(t) = peers.iter().position(|&p| p == Peer::TokioEcho) {
                let tokio = median(&speeds[0][t]);
                targets.add(
                    "bulk >= 1.0x bare tokio echo (stream)",
                    versus(med, tokio, "MB/s"),
                    tokio.is_finite().then_some(med >= tokio),
                );
            }
        }
    }
    print_table(
        "bulk MB/s (echo verified byte for byte; medians over the rounds that completed)",
        &[
            "server", "stream", "rounds", "vs socat", "128K win", "rounds", "vs socat",
        ],
        &rows,
    );
    if !notes.is_empty() {
        println!(
            "note: a stall is the relay deadlocking on itself: it blocks writing into a full \
             pipe that only it (or cat, blocked writing back) drains; timing-dependent"
        );
    }
    for note in notes {
        println!("note: {note}");
    }
    Ok(())
}

// ---------------------------------------------------------------- 3. scale

struct ScaleResult {
    opened: usize,
    echoed: usize,
    open_secs: f64,
    echo_secs: f64,
    mem: Mem,
    first_error: Option<String>,
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

async fn scale_run(addr: SocketAddr, n: usize, pgid: i32) -> ScaleResult {
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

/// The open-file limit, raised to its hard maximum (the same call listen
/// makes at start-up).
fn raise_nofile() -> u64 {
    p1ge0n::process::raise_fd_limit().unwrap_or(1024)
}

fn section_scale(
    cfg: &Config,
    rt: &Runtime,
    dir: &Path,
    nofile: u64,
    targets: &mut Targets,
) -> Result<()> {
    const RESERVE: u64 = 256;
    println!(
        "\n## 3. Scale: {} connections to p1ge0n, {} to socat/ncat (capped: they fork a process per connection), 3 echoes each, held open",
        cfg.scale_conns, cfg.peer_conns
    );
    let fit = nofile.saturating_sub(RESERVE) as usize;
    if fit < 100 {
        println!("note: RLIMIT_NOFILE is {nofile}; too low for the scale test, skipped");
        targets.add(
            "10k connections, RSS < 100 MB",
            "skipped (fd limit)".into(),
            None,
        );
        return Ok(());
    }
    let mut plan: Vec<(Peer, usize)> = vec![(Peer::Quiet, cfg.scale_conns.min(fit))];
    if cfg.scale_conns > fit {
        println!(
            "note: RLIMIT_NOFILE hard limit {nofile} allows {fit} connections, not {}",
            cfg.scale_conns
        );
    }
    for peer in [Peer::Socat, Peer::Ncat] {
        if peer.available() {
            plan.push((peer, cfg.peer_conns.min(fit)));
        }
    }
    let mut rows = Vec::new();
    for (peer, n) in plan {
        let server = Server::start(peer, dir, n)?;
        thread::sleep(Duration::from_millis(100));
        let idle = group_mem(server.pid());
        let r = rt.block_on(scale_run(server.addr, n, server.pid()));
        let tail = server.tail();
        drop(server);
        let per_conn = if r.echoed > 0 {
            format!(
                "{:.1}",
                r.mem.pss_kb.saturating_sub(idle.pss_kb) as f64 / r.echoed as f64
            )
        } else {
            "-".into()
        };
        rows.push(vec![
            peer.label().to_string(),
            thousands(n as u64),
            thousands(r.opened as u64),
            thousands(r.echoed as u64),
            thousands(r.mem.processes as u64),
            mb_kb(r.mem.rss_kb),
            mb_kb(r.mem.pss_kb),
            mb_kb(r.mem.hwm_kb),
            per_conn,
            format!("{:.1}/{:.1}", r.open_secs, r.echo_secs),
        ]);
        if let Some(e) = &r.first_error {
            println!("  {}: first error: {e}{tail}", peer.label());
        }
        if peer == Peer::Quiet {
            let full = n >= 10_000 && r.echoed == n;
            let rss_mb = r.mem.rss_kb as f64 / 1024.0;
            targets.add(
                "10k connections, RSS < 100 MB",
                format!(
                    "{} of {} echoed, RSS {rss_mb:.1} MB (HWM {:.1})",
                    thousands(r.echoed as u64),
                    thousands(n as u64),
                    r.mem.hwm_kb as f64 / 1024.0
                ),
                (n >= 10_000).then_some(full && rss_mb < 100.0),
            );
        }
    }
    print_table(
        "scale (memory measured with all echoed connections open; RSS summed over the process group double-counts shared pages, PSS does not)",
        &[
            "server",
            "wanted",
            "opened",
            "echoed ok",
            "procs",
            "RSS MB",
            "PSS MB",
            "HWM MB",
            "PSS KB/conn",
            "open/echo s",
        ],
        &rows,
    );
    Ok(())
}

// ------------------------------------------------------------- 4. one-shot

/// Kills a client that overruns its deadline, so every run is bounded.
#[derive(Clone)]
struct Watchdog(Arc<Mutex<Option<(i32, Instant)>>>);

impl Watchdog {
    fn start() -> Watchdog {
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

fn run_client(argv: &[String], dog: &Watchdog) -> Result<Duration> {
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
fn run_client_faults(argv: &[String], dog: &Watchdog) -> Result<(Duration, u64)> {
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
    let wrote = stdin.write_all(b"hello\n");
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
    if !status.success() || out != b"hello\n" {
        bail!(
            "{}: {status}, stdout {:?}, stderr {:?}",
            argv.join(" "),
            String::from_utf8_lossy(&out),
            String::from_utf8_lossy(&err)
        );
    }
    Ok((took, faults))
}

fn section_oneshot(cfg: &Config, dir: &Path, targets: &mut Targets) -> Result<()> {
    let server = Server::start(Peer::Quiet, dir, 4)?;
    let target = server.addr.to_string();
    let port = server.addr.port().to_string();
    println!(
        "\n## 4. One-shot: echo hello | CLIENT against one `p1ge0n listen -q` server, {} runs each, interleaved",
        cfg.oneshot_runs
    );
    let mut clients: Vec<(&str, Vec<String>)> = vec![(
        "p1ge0n send",
        vec![bin().into(), "send".into(), target.clone()],
    )];
    if have("nc") {
        clients.push((
            "nc -N",
            vec!["nc".into(), "-N".into(), "127.0.0.1".into(), port.clone()],
        ));
    }
    if have("socat") {
        clients.push((
            "socat - TCP:",
            vec!["socat".into(), "-".into(), format!("TCP:{target}")],
        ));
    }
    let dog = Watchdog::start();
    for (_, argv) in &clients {
        for _ in 0..3 {
            run_client(argv, &dog)?;
        }
    }
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); clients.len()];
    let mut faults: Vec<Vec<f64>> = vec![Vec::new(); clients.len()];
    let phase_deadline = Instant::now() + Duration::from_secs(120);
    for run in 0..cfg.oneshot_runs {
        if Instant::now() >= phase_deadline {
            println!("note: stopped after {run} runs (120 s phase limit)");
            break;
        }
        for k in 0..clients.len() {
            let i = (k + run) % clients.len();
            let (took, touched) = run_client_faults(&clients[i].1, &dog)?;
            times[i].push(took.as_secs_f64() * 1e3);
            faults[i].push(touched as f64);
        }
    }
    drop(server);
    let med = |name: &str| {
        clients
            .iter()
            .position(|c| c.0 == name)
            .map(|i| median(&times[i]))
            .unwrap_or(f64::NAN)
    };
    let (nc, socat) = (med("nc -N"), med("socat - TCP:"));
    let mut rows = Vec::new();
    for (i, (name, _)) in clients.iter().enumerate() {
        let mut sorted = times[i].clone();
        sorted.sort_by(f64::total_cmp);
        let m = median(&sorted);
        rows.push(vec![
            name.to_string(),
            format!("{m:.2}"),
            format!("{:.2}", sorted.first().copied().unwrap_or(f64::NAN)),
            format!(
                "{:.2}",
                sorted[(sorted.len() * 9 / 10).min(sorted.len() - 1)]
            ),
            ratio(m, nc),
            ratio(m, socat),
            format!("{:.0}", median(&faults[i])),
        ]);
    }
    print_table(
        "one-shot wall time, ms (spawn to exit, reply verified; lower is better)",
        &[
            "client",
            "median",
            "min",
            "p90",
            "vs nc -N",
            "vs socat",
            "page faults",
        ],
        &rows,
    );
    let send = med("p1ge0n send");
    targets.add(
        "send wall time <= nc -N",
        format!("{send:.2} vs {nc:.2} ms = {}", ratio(send, nc)),
        nc.is_finite().then_some(send <= nc),
    );
    if have("hyperfine") {
        println!(
            "reproduce with hyperfine (after `{} listen -q 127.0.0.1:9999 &`):",
            bin()
        );
        let mut cmd = format!("hyperfine -w 20 -r {}", cfg.oneshot_runs);
        cmd += &format!(" 'echo hello | {} send 127.0.0.1:9999'", bin());
        cmd += " 'echo hello | nc -N 127.0.0.1 9999'";
        cmd += " 'echo hello | socat - TCP:127.0.0.1:9999'";
        println!("  {cmd}");
    }
    Ok(())
}

// ------------------------------------------------------------ 5. display

fn random_bytes(len: usize) -> Vec<u8> {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        // xorshift64*
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        out.extend_from_slice(&state.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(len);
    out
}

fn format_all(data: &[u8], format: Format, sink: &mut File) -> Result<f64> {
    let peer: SocketAddr = ([127, 0, 0, 1], 40_000).into();
    let started = Instant::now();
    let mut out = Vec::with_capacity(CHUNK * 6);
    for chunk in data.chunks(CHUNK) {
        let meta = Meta {
            elapsed: started.elapsed(),
            wall: SystemTime::now(),
            conn: 1,
            peer: peer.into(),
        };
        out.clear();
        Renderer::new(format, Style::Plain, Role::Server).data(
            &mut out,
            &meta,
            Side::Client,
            chunk,
        );
        sink.write_all(&out)?;
    }
    Ok(started.elapsed().as_secs_f64())
}

fn section_display(cfg: &Config, dir: &Path, targets: &mut Targets) -> Result<()> {
    let len = cfg.display_mb * 1_000_000;
    println!(
        "\n## 5. Display formatter: {} MB pseudo-random data in {} KiB records, output to /dev/null, {} rounds",
        cfg.display_mb,
        CHUNK / 1024,
        cfg.rounds
    );
    let data = random_bytes(len);
    let path = dir.join("random.bin");
    fs::write(&path, &data)?;
    let mut devnull = fs::OpenOptions::new().write(true).open("/dev/null")?;
    let has_hexdump = have("hexdump");
    let (mut text, mut hexd, mut tool) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..cfg.rounds {
        text.push(len as f64 / MB / format_all(&data, Format::Text, &mut devnull)?);
        hexd.push(len as f64 / MB / format_all(&data, Format::Hexdump, &mut devnull)?);
        if has_hexdump {
            let t0 = Instant::now();
            let mut child = Command::new("hexdump")
                .arg("-C")
                .arg(&path)
                .stdout(Stdio::from(devnull.try_clone()?))
                .spawn()?;
            let dog = Instant::now() + Duration::from_secs(120);
            let status = loop {
                if let Some(status) = child.try_wait()? {
                    break status;
                }
                if Instant::now() >= dog {
                    let _ = child.kill();
                    let _ = child.wait();
                    bail!("hexdump -C took over 120 s");
                }
                thread::sleep(Duration::from_millis(1));
            };
            if !status.success() {
                bail!("hexdump -C: {status}");
            }
            tool.push(len as f64 / MB / t0.elapsed().as_secs_f64());
        }
    }
    let _ = fs::remove_file(&path);
    let base = median(&tool);
    let rows: Vec<Vec<String>> = [
        ("p1ge0n text (library)", &text),
        ("p1ge0n hexdump (library)", &hexd),
        ("hexdump -C", &tool),
    ]
    .into_iter()
    .filter(|(_, v)| !v.is_empty())
    .map(|(name, v)| {
        vec![
            name.to_string(),
            format!("{:.0}", median(v)),
            v.iter()
                .map(|s| format!("{s:.0}"))
                .collect::<Vec<_>>()
                .join(" "),
            ratio(median(v), base),
        ]
    })
    .collect();
    print_table(
        "display formatting, MB/s of input",
        &["formatter", "MB/s", "rounds", "vs hexdump -C"],
        &rows,
    );
    let (t, h) = (median(&text), median(&hexd));
    targets.add(
        "text and hexdump >= 2x hexdump -C",
        format!("text {}, hexdump {}", ratio(t, base), ratio(h, base)),
        base.is_finite()
            .then_some(t >= 2.0 * base && h >= 2.0 * base),
    );
    Ok(())
}

// ------------------------------------------------------- 6. size and RSS

fn section_size(dir: &Path) -> Result<()> {
    println!("\n## 6. Binary size and idle RSS");
    let size = fs::metadata(bin())?.len();
    let copy = dir.join("p1ge0n-stripped");
    fs::copy(bin(), &copy)?;
    let stripped = match Command::new("strip").arg(&copy).status() {
        Ok(s) if s.success() => Some(fs::metadata(&copy)?.len()),
        _ => None,
    };
    let server = Server::start(Peer::Quiet, dir, 4)?;
    thread::sleep(Duration::from_millis(200));
    let rss = status_kb(server.pid(), "VmRSS:").unwrap_or(0);
    let hwm = status_kb(server.pid(), "VmHWM:").unwrap_or(0);
    drop(server);
    let mut rows = vec![vec![
        "p1ge0n (release)".into(),
        format!("{:.2}", size as f64 / 1024.0 / 1024.0),
        stripped
            .map(|s| format!("{:.2}", s as f64 / 1024.0 / 1024.0))
            .unwrap_or_else(|| "-".into()),
        format!("{} / {}", mb_kb(rss), mb_kb(hwm)),
    ]];
    if have("socat") {
        let server = Server::start(Peer::Socat, dir, 4)?;
        thread::sleep(Duration::from_millis(200));
        let rss = status_kb(server.pid(), "VmRSS:").unwrap_or(0);
        let hwm = status_kb(server.pid(), "VmHWM:").unwrap_or(0);
        drop(server);
        rows.push(vec![
            "socat (listener)".into(),
            "-".into(),
            "-".into(),
            format!("{} / {}", mb_kb(rss), mb_kb(hwm)),
        ]);
    }
    print_table(
        "size (MiB) and idle RSS after the listening line (MiB)",
        &["binary", "size", "stripped", "idle RSS / HWM"],
        &rows,
    );
    Ok(())
}

// ------------------------------------------------------------------ main

fn machine() -> String {
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

// ---------------------------------------------------------------- 7. proxy

/// A relay in front of the same echo server.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Relay {
    P1ge0n,
    Socat,
    Ncat,
}

impl Relay {
    fn label(self) -> &'static str {
        match self {
            Relay::P1ge0n => "p1ge0n proxy -q",
            Relay::Socat => "socat TCP-LISTEN,fork TCP:",
            Relay::Ncat => "ncat -k --sh-exec ncat",
        }
    }

    fn tool(self) -> &'static str {
        match self {
            Relay::P1ge0n => bin(),
            Relay::Socat => "socat",
            Relay::Ncat => "ncat",
        }
    }

    fn start(self, upstream: SocketAddr, max_conns: usize) -> Result<Server> {
        match self {
            Relay::P1ge0n => {
                let mut cmd = Command::new(bin());
                cmd.args(["proxy", "-q", "127.0.0.1:0", &upstream.to_string()]);
                Server::launch_and_parse(cmd, Stdio::null(), None)
            }
            Relay::Socat => {
                let mut cmd = Command::new("socat");
                cmd.args([
                    "-d",
                    "-d",
                    "TCP-LISTEN:0,bind=127.0.0.1,reuseaddr,fork",
                    &format!("TCP:{upstream}"),
                ]);
                Server::launch_and_parse(cmd, Stdio::null(), None)
            }
            Relay::Ncat => Server::ncat(
                max_conns,
                &[
                    "--sh-exec",
                    &format!("ncat {} {}", upstream.ip(), upstream.port()),
                ],
            ),
        }
    }
}

/// What one relay did in one round.
#[derive(Default)]
struct RelayRound {
    rate: Vec<f64>,
    p50_us: Vec<f64>,
    bulk: Vec<f64>,
}

fn section_proxy(
    cfg: &Config,
    rt: &Runtime,
    dir: &Path,
    nofile: u64,
    targets: &mut Targets,
) -> Result<()> {
    let relays: Vec<Relay> = [Relay::P1ge0n, Relay::Socat, Relay::Ncat]
        .into_iter()
        .filter(|r| have(r.tool()))
        .collect();
    let dur = Duration::from_secs_f64(cfg.rate_secs);
    let total = cfg.bulk_mb * 1_000_000;
    println!(
        "\n## 7. Proxy: each relay in front of the same `p1ge0n listen -q` echo server; {} clients \
         x {LINE}-byte lines, 1 client polling, 1 stream of {} MB; {} rounds",
        cfg.clients, cfg.bulk_mb, cfg.rounds
    );
    let upstream = Server::start(Peer::Quiet, dir, 20_000)?;
    let mut results: Vec<RelayRound> = relays.iter().map(|_| RelayRound::default()).collect();
    let mut direct_p50 = Vec::new();
    for round in 0..cfg.rounds {
        let direct = rt.block_on(rate_round(upstream.addr, 1, dur))?;
        let mut lat = direct.lat_ns;
        lat.sort_unstable();
        direct_p50.push(percentile(&lat, 50.0) as f64 / 1e3);
        for k in 0..relays.len() {
            let i = (k + round) % relays.len();
            let relay = relays[i];
            let server = relay.start(upstream.addr, cfg.clients + 8)?;
            let many = rt
                .block_on(rate_round(server.addr, cfg.clients, dur))
                .with_context(|| format!("{} rate round {}", relay.label(), round + 1))?;
            let one = rt.block_on(rate_round(server.addr, 1, dur))?;
            let limit = Duration::from_secs(10 + cfg.bulk_mb);
            let bulk = rt
                .block_on(async {
                    tokio::time::timeout(limit, bulk_round(server.addr, total, Window::Stream))
                        .await
                })
                .unwrap_or_else(|_| Err(anyhow!("over {limit:?}")));
            drop(server);
            let mut lat = one.lat_ns;
            lat.sort_unstable();
            let r = &mut results[i];
            r.rate.push(many.msgs as f64 / many.secs);
            r.p50_us.push(percentile(&lat, 50.0) as f64 / 1e3);
            r.bulk
                .push(bulk.map_or(f64::NAN, |secs| total as f64 / MB / secs));
            println!(
                "  round {} {:<28} {:>9} msgs/s  p50 {:>5.1} us  {:>6.0} MB/s",
                round + 1,
                relay.label(),
                si(*r.rate.last().unwrap()),
                r.p50_us.last().unwrap(),
                r.bulk.last().unwrap()
            );
        }
    }
    let direct = median(&direct_p50);
    let socat = relays.iter().position(|&r| r == Relay::Socat);
    let of_socat =
        |f: fn(&RelayRound) -> &Vec<f64>| socat.map_or(f64::NAN, |i| median(f(&results[i])));
    let (socat_rate, socat_bulk) = (of_socat(|r| &r.rate), of_socat(|r| &r.bulk));
    let socat_added = of_socat(|r| &r.p50_us) - direct;
    let mut rows = Vec::new();
    for (i, relay) in relays.iter().enumerate() {
        let r = &results[i];
        let (rate, p50, bulk) = (median(&r.rate), median(&r.p50_us), median(&r.bulk));
        let added = p50 - direct;
        rows.push(vec![
            relay.label().to_string(),
            thousands(rate as u64),
            ratio(rate, socat_rate),
            format!("{p50:.1}"),
            format!("{added:.1}"),
            format!("{bulk:.0}"),
            ratio(bulk, socat_bulk),
        ]);
        if *relay == Relay::P1ge0n {
            targets.add(
                "proxy >= 2.0x socat msgs/s",
                versus(rate, socat_rate, "msgs/s"),
                socat_rate.is_finite().then_some(rate >= 2.0 * socat_rate),
            );
            targets.add(
                "proxy bulk >= 1.5x socat MB/s",
                versus(bulk, socat_bulk, "MB/s"),
                socat_bulk.is_finite().then_some(bulk >= 1.5 * socat_bulk),
            );
            targets.add(
                "proxy added latency <= 1.2x socat's",
                format!("{added:.1} us vs {socat_added:.1} us"),
                socat_added
                    .is_finite()
                    .then_some(added <= 1.2 * socat_added),
            );
        }
    }
    print_table(
        &format!("proxy (medians; direct p50 to the echo server {direct:.1} us)"),
        &[
            "relay", "msgs/s", "vs socat", "p50 us", "added us", "MB/s", "vs socat",
        ],
        &rows,
    );
    proxy_scale(cfg, rt, &upstream, nofile, targets)
}

/// Many connections held open through `p1ge0n proxy`: its memory. Each
/// proxied connection takes two descriptors in the proxy.
fn proxy_scale(
    cfg: &Config,
    rt: &Runtime,
    upstream: &Server,
    nofile: u64,
    targets: &mut Targets,
) -> Result<()> {
    let fit = (nofile.saturating_sub(256) / 2) as usize;
    let n = cfg.scale_conns.min(fit);
    if n < cfg.scale_conns {
        println!(
            "note: RLIMIT_NOFILE {nofile} allows {n} proxied connections (2 descriptors each), not {}",
            cfg.scale_conns
        );
    }
    let server = Relay::P1ge0n.start(upstream.addr, n)?;
    let r = rt.block_on(scale_run(server.addr, n, server.pid()));
    let rss_mb = r.mem.rss_kb as f64 / 1024.0;
    println!(
        "proxy scale: {} of {} connections echoed through the proxy, RSS {rss_mb:.1} MB (HWM {:.1} MB){}",
        thousands(r.echoed as u64),
        thousands(n as u64),
        r.mem.hwm_kb as f64 / 1024.0,
        r.first_error.map(|e| format!("; first error: {e}")).unwrap_or_default()
    );
    targets.add(
        "proxied connections, RSS < 150 MB",
        format!("{} connections, {rss_mb:.1} MB", thousands(r.echoed as u64)),
        Some(r.echoed == n && rss_mb < 150.0),
    );
    Ok(())
}

// ------------------------------------------------------ 8. Modbus decoding

/// A 64-byte Modbus/TCP request (write multiple registers, 25 registers),
/// unique per client and sequence number so that an echo can be checked.
fn modbus_message(id: usize, seq: u64) -> [u8; LINE] {
    let mut m = [0u8; LINE];
    m[..2].copy_from_slice(&(seq as u16).to_be_bytes());
    m[4..6].copy_from_slice(&58u16.to_be_bytes());
    m[6] = 1;
    m[7] = 16;
    m[8..10].copy_from_slice(&(id as u16).to_be_bytes());
    m[10..12].copy_from_slice(&25u16.to_be_bytes());
    m[12] = 50;
    m[13..21].copy_from_slice(&seq.to_be_bytes());
    m[21..29].copy_from_slice(&(id as u64).to_be_bytes());
    m
}

/// `clients` connections each sending one Modbus request at a time and
/// checking its echo, for `dur`: messages per second.
async fn modbus_round(addr: SocketAddr, clients: usize, dur: Duration) -> Result<f64> {
    let start = tokio::time::Instant::now() + Duration::from_millis(50);
    let deadline = start + dur;
    let mut set = JoinSet::new();
    for id in 0..clients {
        set.spawn(async move {
            let mut s = TcpStream::connect(addr).await?;
            s.set_nodelay(true)?;
            let mut back = [0u8; LINE];
            let mut seq = 0u64;
            tokio::time::sleep_until(start).await;
            while tokio::time::Instant::now() < deadline {
                let m = modbus_message(id, seq);
                s.write_all(&m).await?;
                s.read_exact(&mut back).await?;
                if back != m {
                    bail!("client {id}: echo #{seq} differs");
                }
                seq += 1;
            }
            Ok::<_, anyhow::Error>(seq)
        });
    }
    let mut total = 0u64;
    while let Some(done) =
        tokio::time::timeout_at(deadline + Duration::from_secs(10), set.join_next())
            .await
            .map_err(|_| anyhow!("clients still waiting 10 s after the deadline"))?
    {
        total += done??;
    }
    Ok(total as f64 / dur.as_secs_f64())
}

fn section_decode(cfg: &Config, rt: &Runtime, dir: &Path, targets: &mut Targets) -> Result<()> {
    let peers = [Peer::ModbusText, Peer::ModbusDecoded];
    let dur = Duration::from_secs_f64(cfg.rate_secs);
    println!(
        "\n## 8. Decoding: {} clients x 64-byte Modbus/TCP requests, 1 in flight each, records to a file, {:.1} s x {} rounds",
        cfg.clients, cfg.rate_secs, cfg.rounds
    );
    let mut rates = vec![Vec::new(); peers.len()];
    for round in 0..cfg.rounds {
        for k in 0..peers.len() {
            let i = (k + round) % peers.len();
            let server = Server::start(peers[i], dir, cfg.clients)?;
            let rate = rt
                .block_on(modbus_round(server.addr, cfg.clients, dur))
                .with_context(|| format!("{} round {}", peers[i].label(), round + 1))?;
            if let Some(path) = server.stdout_path.clone() {
                server.terminate(Duration::from_secs(5));
                let _ = fs::remove_file(&path);
            }
            println!(
                "  round {} {:<40} {:>9} msgs/s",
                round + 1,
                peers[i].label(),
                si(rate)
            );
            rates[i].push(rate);
        }
    }
    let (plain, decoded) = (median(&rates[0]), median(&rates[1]));
    print_table(
        "Modbus-shaped load (medians)",
        &["server", "msgs/s", "vs plain text"],
        &[
            vec![
                peers[0].label().into(),
                thousands(plain as u64),
                "1.00x".into(),
            ],
            vec![
                peers[1].label().into(),
                thousands(decoded as u64),
                ratio(decoded, plain),
            ],
        ],
    );
    targets.add(
        "listen --decode modbus >= 0.8x listen -f text msgs/s",
        versus(decoded, plain, "msgs/s"),
        Some(decoded >= 0.8 * plain),
    );
    Ok(())
}

/// Set in the environment of a copy of this bench that is to be the bare
/// tokio echo server ([`Peer::TokioEcho`]).
const TOKIO_ECHO_ROLE: &str = "P1GE0N_BENCH_TOKIO_ECHO";

/// The bare tokio echo: the textbook accept loop and read/write_all task
/// (tokio's `examples/echo.rs`), with 64 KiB reads (tokio's example uses
/// 1 KiB, which would be an unfair ceiling) and the default multi-thread
/// runtime, as `listen` has. No framing, no counters, no log lines.
fn tokio_echo_server() -> ! {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
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

fn main() {
    if std::env::var_os(TOKIO_ECHO_ROLE).is_some() {
        tokio_echo_server();
    }
    // SAFETY: prctl on ourselves.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1) };
    let cfg = Config::from_env();
    let nofile = raise_nofile();
    println!(
        "p1ge0n peer benchmark{} — {}; RLIMIT_NOFILE {nofile}; binary {}",
        if cfg.quick { " (QUICK)" } else { "" },
        machine(),
        bin()
    );
    println!("note: load generator and servers share the same cores");
    let dir = match tempfile::Builder::new().prefix("p1ge0n-bench").tempdir() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("cannot create a temp dir: {e}");
            std::process::exit(1);
        }
    };
    // Explicit worker count, so TOKIO_WORKER_THREADS (which tokio reads)
    // can be set for the p1ge0n servers without changing the load generator.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(thread::available_parallelism().map_or(2, |n| n.get()))
        .enable_all()
        .build()
        .expect("tokio runtime");
    let started = Instant::now();
    let mut targets = Targets(Vec::new());
    let mut failed = Vec::new();
    // Each section is evaluated just before `run` is called, so the time
    // since the previous call is that section's.
    let mut last = Instant::now();
    let mut run = |name: &str, result: Result<()>| {
        if let Err(e) = result {
            println!("\n{name} FAILED: {e:#}");
            failed.push(name.to_string());
        }
        println!("({name}: {:.1} s)", last.elapsed().as_secs_f64());
        last = Instant::now();
    };
    if cfg.wants("rate") {
        run("rate", section_rate(&cfg, &rt, dir.path(), &mut targets));
    }
    if cfg.wants("bulk") {
        run("bulk", section_bulk(&cfg, &rt, dir.path(), &mut targets));
    }
    if cfg.wants("scale") {
        run(
            "scale",
            section_scale(&cfg, &rt, dir.path(), nofile, &mut targets),
        );
    }
    if cfg.wants("oneshot") {
        run("oneshot", section_oneshot(&cfg, dir.path(), &mut targets));
    }
    if cfg.wants("display") {
        run("display", section_display(&cfg, dir.path(), &mut targets));
    }
    if cfg.wants("size") {
        run("size", section_size(dir.path()));
    }
    if cfg.wants("decode") {
        run(
            "decode",
            section_decode(&cfg, &rt, dir.path(), &mut targets),
        );
    }
    if cfg.wants("proxy") {
        run(
            "proxy",
            section_proxy(&cfg, &rt, dir.path(), nofile, &mut targets),
        );
    }
    if cfg.wants("tls") {
        run("tls", tls::section(&cfg, &rt, dir.path(), &mut targets));
    }
    let rows: Vec<Vec<String>> = targets.0.iter().map(|r| r.to_vec()).collect();
    if !rows.is_empty() {
        // Every headline figure of the run, against its baseline, in one
        // table (BENCHMARKS.md copies it).
        print_table(
            "## Targets (every figure of this run against its baseline)",
            &["target", "measured", "verdict"],
            &rows,
        );
    }
    println!("\ntotal {:.0} s", started.elapsed().as_secs_f64());
    rt.shutdown_timeout(Duration::from_secs(1));
    drop(dir);
    if !failed.is_empty() {
        println!("failed sections: {}", failed.join(", "));
        std::process::exit(1);
    }
}
