//! Fixtures for the end-to-end tests: the real `p1ge0n` binary and real peers
//! (socat, nc, Python scripts in `tests/peers/`) over real loopback sockets.
//!
//! Rules every fixture follows:
//! - ports come from binding port 0 and reading the port the process prints
//!   (p1ge0n: first stderr line; socat: its `listening on` notice; Python
//!   servers: first stdout line), never from a hard-coded number;
//! - every wait is bounded, and a timeout is a panic that shows what the
//!   process printed so far;
//! - every spawned process is killed when its fixture is dropped, so a
//!   failing test never leaves servers behind.

pub mod term;

// `have` and `status_kb` are shared with the peer benchmark, which includes
// the same file.
#[path = "../../common/host.rs"]
mod host;
pub use host::{have, status_kb};

use std::{
    io::{Read, Write},
    net::{Shutdown, SocketAddr, TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Output, Stdio},
    sync::{Arc, Mutex},
    thread::{self, JoinHandle},
    time::{Duration, Instant},
};

/// How long a server may take to print its listening line.
pub const STARTUP: Duration = Duration::from_secs(10);
/// The usual bound for "this should happen promptly".
pub const SOON: Duration = Duration::from_secs(5);
/// Bound for one-shot commands (`p1ge0n send`, nc, Python clients).
pub const ONE_SHOT: Duration = Duration::from_secs(20);

/// The binary under test.
pub fn bin() -> PathBuf {
    assert_cmd::cargo::cargo_bin("p1ge0n")
}

/// The repository root, where `README.md` and `tests/` are.
pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `tests/fixtures/NAME`, as a path argument.
pub fn fixture(name: &str) -> String {
    let path = repo().join("tests/fixtures").join(name);
    path.to_str().unwrap().to_string()
}

/// `tests/peers/NAME`.
pub fn peer_script(name: &str) -> PathBuf {
    repo().join("tests/peers").join(name)
}

/// Why `[::1]` cannot be bound here (some containers have no IPv6), or
/// `None` when it can.
pub fn ipv6_unavailable() -> Option<std::io::Error> {
    TcpListener::bind("[::1]:0").err()
}

/// A one-shot `p1ge0n send ...`, bounded by [`ONE_SHOT`].
pub fn send_cmd() -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::new(bin());
    cmd.arg("send").timeout(ONE_SHOT);
    cmd
}

/// A one-shot `p1ge0n ARGS...` (any subcommand), bounded by [`ONE_SHOT`].
pub fn p1ge0n(args: &[&str]) -> Output {
    assert_cmd::Command::new(bin())
        .args(args)
        .timeout(ONE_SHOT)
        .output()
        .expect("run p1ge0n")
}

/// A one-shot `p1ge0n replay ARGS...`, bounded by [`ONE_SHOT`].
pub fn replay(args: &[&str]) -> Output {
    p1ge0n(&[&["replay"], args].concat())
}

/// Whether `name` is listed in `P1GE0N_SKIP` (comma-separated names:
/// `ipv6`, `netns`, `zsh`, `fish`), so that `test` (its full name, e.g.
/// `send::ipv6_loopback`) is skipped. A skip says `skipped: TEST
/// (P1GE0N_SKIP=...)` on stderr and is recorded as the file
/// `target/test-skips/NAME-TEST`, which `scripts/test` counts and lists
/// after cargo: a skip never passes silently. A test whose peer is missing
/// and whose name is not listed must fail, saying why.
pub fn skipped(name: &str, test: &str) -> bool {
    let list = std::env::var("P1GE0N_SKIP").unwrap_or_default();
    if !list.split(',').any(|listed| listed.trim() == name) {
        return false;
    }
    let note = format!("skipped: {test} (P1GE0N_SKIP={list})");
    eprintln!("{note}");
    let dir = repo().join("target/test-skips");
    std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::write(dir.join(format!("{name}-{test}")), note + "\n"))
        .unwrap_or_else(|e| panic!("cannot record the skip in {}: {e}", dir.display()));
    true
}

/// A valid capture header line (no newline), for captures built by hand.
pub const CAPTURE_HEADER: &str = r#"{"p1ge0n":"capture","version":1,"started":"2026-11-25T13:00:00.000000Z","transport":"tcp","local":"127.0.0.1:9000","side":"server"}"#;

/// A port that was free a moment ago: bind port 0, read the port, close.
///
/// Only for the two cases that need a port with nothing on it (a refused
/// connection, and `send --retry` against a server that starts later); the
/// port could in theory be taken by someone else in between, which on a
/// test machine's loopback is vanishingly unlikely.
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().unwrap().port()
}

/// Poll `cond` every few milliseconds until it holds or `timeout` passes.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(5));
    }
}

pub type Buf = Arc<Mutex<Vec<u8>>>;

/// Copy everything a pipe yields into a shared buffer, on its own thread.
fn collect<R: Read + Send + 'static>(mut pipe: R) -> (Buf, JoinHandle<()>) {
    let buf: Buf = Arc::default();
    let sink = buf.clone();
    let handle = thread::spawn(move || {
        let mut chunk = [0u8; 64 * 1024];
        loop {
            match pipe.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => sink.lock().unwrap().extend_from_slice(&chunk[..n]),
            }
        }
    });
    (buf, handle)
}

fn text(buf: &Buf) -> String {
    String::from_utf8_lossy(&buf.lock().unwrap()).into_owned()
}

/// A spawned process whose stdout and stderr are collected in the
/// background; killed on drop.
pub struct Proc {
    name: String,
    child: Child,
    out: Buf,
    err: Buf,
    readers: Vec<JoinHandle<()>>,
    status: Option<ExitStatus>,
}

impl Proc {
    pub fn spawn(mut cmd: Command) -> Proc {
        cmd.stdin(Stdio::null());
        Proc::start(cmd)
    }

    /// Like [`Proc::spawn`], with a pipe to its stdin (an interactive peer
    /// such as `openssl s_client`, fed while the test watches its output).
    pub fn spawn_piped(mut cmd: Command) -> (Proc, ChildStdin) {
        cmd.stdin(Stdio::piped());
        let mut proc = Proc::start(cmd);
        let stdin = proc.child.stdin.take().unwrap();
        (proc, stdin)
    }

    fn start(mut cmd: Command) -> Proc {
        let name = format!("{cmd:?}");
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {name}: {e}"));
        let stdout: ChildStdout = child.stdout.take().unwrap();
        let (out, h1) = collect(stdout);
        let (err, h2) = collect(child.stderr.take().unwrap());
        Proc {
            name,
            child,
            out,
            err,
            readers: vec![h1, h2],
            status: None,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn stdout(&self) -> String {
        text(&self.out)
    }

    pub fn stderr(&self) -> String {
        text(&self.err)
    }

    /// What the process printed so far, for panic messages.
    pub fn dump(&self) -> String {
        format!(
            "{}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.name,
            self.stdout(),
            self.stderr()
        )
    }

    fn wait_for(&self, what: &str, buf: &Buf, needle: &str, timeout: Duration) -> String {
        // The line holding the needle must be complete: a process writing a
        // log line may be caught half-way through it.
        let complete = || {
            let t = text(buf);
            t.find(needle).is_some_and(|at| t[at..].contains('\n'))
        };
        if wait_until(timeout, complete) {
            text(buf)
        } else {
            panic!(
                "no {what} containing {needle:?} within {timeout:?}\n{}",
                self.dump()
            )
        }
    }

    /// Wait until stdout contains `needle`; returns all of stdout so far.
    pub fn wait_stdout_contains(&self, needle: &str, timeout: Duration) -> String {
        self.wait_for("stdout", &self.out, needle, timeout)
    }

    /// Wait until stderr contains `needle`; returns all of stderr so far.
    pub fn wait_stderr_contains(&self, needle: &str, timeout: Duration) -> String {
        self.wait_for("stderr", &self.err, needle, timeout)
    }

    /// Wait until stdout has at least `n` complete lines; returns them.
    pub fn wait_stdout_lines(&self, n: usize, timeout: Duration) -> Vec<String> {
        let count = || text(&self.out).matches('\n').count();
        if !wait_until(timeout, || count() >= n) {
            panic!(
                "stdout has {} lines, not {n}, after {timeout:?}\n{}",
                count(),
                self.dump()
            );
        }
        self.stdout().lines().map(str::to_owned).collect()
    }

    /// Send SIGINT, as Ctrl-C in a terminal would.
    pub fn interrupt(&self) {
        let ok = Command::new("kill")
            .args(["-INT", &self.pid().to_string()])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(ok, "kill -INT {} failed", self.pid());
    }

    /// Whether the process is still running.
    pub fn running(&mut self) -> bool {
        if self.status.is_some() {
            return false;
        }
        match self.child.try_wait() {
            Ok(Some(status)) => {
                self.status = Some(status);
                self.join_readers();
                false
            }
            _ => true,
        }
    }

    /// Wait for the process to exit (panics after `timeout`); afterwards
    /// stdout and stderr are complete.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        if !wait_until(timeout, || !self.running()) {
            panic!("still running after {timeout:?}\n{}", self.dump());
        }
        self.status.unwrap()
    }

    /// Exit code after [`Proc::wait_exit`]; panics if killed by a signal.
    pub fn wait_code(&mut self, timeout: Duration) -> i32 {
        use std::os::unix::process::ExitStatusExt;
        let status = self.wait_exit(timeout);
        // Interrupted commands die by their signal (so shell loops stop);
        // a shell reports that as 128 + the signal number, and so do we.
        status
            .code()
            .or_else(|| status.signal().map(|s| 128 + s))
            .unwrap_or_else(|| panic!("no exit status: {status:?}\n{}", self.dump()))
    }

    fn join_readers(&mut self) {
        // The pipes close when the process exits; bounded anyway in case a
        // grandchild inherited them.
        let readers = std::mem::take(&mut self.readers);
        let done = wait_until(SOON, || readers.iter().all(JoinHandle::is_finished));
        if done {
            for r in readers {
                let _ = r.join();
            }
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.status.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `p1ge0n listen ARGS...` with the address it really listens on.
pub struct Listen {
    pub proc: Proc,
    addr: SocketAddr,
    transport: String,
}

impl std::ops::Deref for Listen {
    type Target = Proc;
    fn deref(&self) -> &Proc {
        &self.proc
    }
}

impl std::ops::DerefMut for Listen {
    fn deref_mut(&mut self) -> &mut Proc {
        &mut self.proc
    }
}

/// A server's first stderr line, `listening on ADDR (TRANSPORT)`: the
/// address and the transport (tcp, udp, tls, ...).
pub fn listening_on(line: &str) -> Option<(SocketAddr, String)> {
    let (addr, transport) = line.strip_prefix("listening on ")?.split_once(' ')?;
    let transport = transport.trim_end().strip_prefix('(')?.strip_suffix(')')?;
    Some((addr.parse().ok()?, transport.to_string()))
}

impl Listen {
    /// Start `p1ge0n listen ARGS...` and read `listening on ADDR (tcp|udp)`
    /// from the first stderr line; panics when it does not come.
    pub fn start(args: &[&str]) -> Listen {
        Listen::try_start(args).unwrap_or_else(|e| panic!("{e}"))
    }

    /// A quiet line-framed echo server on a free loopback port that
    /// records everything to the capture file `capture`.
    pub fn capturing_lines(capture: &Path) -> Listen {
        Listen::start(&[
            "127.0.0.1:0",
            "--frame",
            "line",
            "-q",
            "--capture",
            capture.to_str().unwrap(),
        ])
    }

    /// Like [`Listen::start`], but a server that exits before listening is
    /// an `Err` with what it printed (for tests that may skip).
    pub fn try_start(args: &[&str]) -> Result<Listen, String> {
        let mut cmd = Command::new(bin());
        cmd.arg("listen").args(args);
        Listen::try_spawn_with(cmd)
    }

    /// Start listen through a wrapper command (e.g. `prlimit ... p1ge0n listen ...`).
    pub fn spawn_with(cmd: Command) -> Listen {
        Listen::try_spawn_with(cmd).unwrap_or_else(|e| panic!("{e}"))
    }

    fn try_spawn_with(cmd: Command) -> Result<Listen, String> {
        let mut proc = Proc::spawn(cmd);
        let has_line = |p: &Proc| p.stderr().contains('\n');
        if !wait_until(STARTUP, || has_line(&proc) || !proc.running()) {
            return Err(format!(
                "no listening line within {STARTUP:?}\n{}",
                proc.dump()
            ));
        }
        if !has_line(&proc) {
            return Err(format!("exited before listening\n{}", proc.dump()));
        }
        let stderr = proc.stderr();
        let first = stderr.lines().next().unwrap_or_default();
        match listening_on(first) {
            Some((addr, transport)) => Ok(Listen {
                proc,
                addr,
                transport,
            }),
            None => Err(format!(
                "first stderr line is not `listening on ADDR:PORT (tcp|udp)`: {first:?}\n{}",
                proc.dump()
            )),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The address as `send` takes it.
    pub fn target(&self) -> String {
        self.addr.to_string()
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `tcp` or `udp`, as printed on the listening line.
    pub fn transport(&self) -> &str {
        &self.transport
    }

    /// A plain TCP connection to the server with read/write timeouts.
    pub fn connect(&self) -> TcpStream {
        connect(self.addr)
    }
}

/// `socat TCP-LISTEN:0,...,fork PIPE`: an echo server from another vendor.
pub struct Socat {
    /// Held only to be killed when the fixture is dropped.
    _proc: Proc,
    addr: SocketAddr,
}

impl Socat {
    pub fn echo() -> Socat {
        let mut cmd = Command::new("socat");
        cmd.args([
            "-d",
            "-d",
            "TCP-LISTEN:0,bind=127.0.0.1,reuseaddr,fork",
            "PIPE",
        ]);
        let proc = Proc::spawn(cmd);
        // e.g. `2026/11/25 14:26:40 socat[9201] N listening on AF=2 127.0.0.1:43665`
        let stderr = proc.wait_stderr_contains("listening on AF=2 ", STARTUP);
        let addr = stderr
            .lines()
            .find_map(|l| l.split_once("listening on AF=2 "))
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("cannot parse socat's address\n{}", proc.dump()));
        Socat { _proc: proc, addr }
    }

    pub fn target(&self) -> String {
        self.addr.to_string()
    }
}

/// A Python server from `tests/peers/`: binds port 0, prints the port on its
/// first stdout line.
pub struct PyServer {
    pub proc: Proc,
    addr: SocketAddr,
}

impl PyServer {
    pub fn start(script: &str, args: &[&str]) -> PyServer {
        Self::start_on("127.0.0.1", script, args)
    }

    pub fn start_on(host: &str, script: &str, args: &[&str]) -> PyServer {
        let mut cmd = Command::new("python3");
        cmd.arg("-u").arg(peer_script(script)).args(args);
        if script == "echo_server.py" {
            cmd.args(["--host", host]);
        }
        let proc = Proc::spawn(cmd);
        let has_line = || proc.stdout().contains('\n');
        assert!(
            wait_until(STARTUP, has_line),
            "{script} printed no port\n{}",
            proc.dump()
        );
        let port: u16 = proc
            .stdout()
            .lines()
            .next()
            .and_then(|l| l.trim().parse().ok())
            .unwrap_or_else(|| panic!("{script}: first line is not a port\n{}", proc.dump()));
        let ip = host.parse().expect("host is an IP address");
        PyServer {
            proc,
            addr: SocketAddr::new(ip, port),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn target(&self) -> String {
        self.addr.to_string()
    }

    /// The server's log after the port line.
    pub fn log(&self) -> Vec<String> {
        self.proc
            .stdout()
            .lines()
            .skip(1)
            .map(str::to_owned)
            .collect()
    }
}

/// Run a Python peer script to completion (bounded by [`ONE_SHOT`]).
pub fn python(script: &str, args: &[String]) -> Output {
    let output = assert_cmd::Command::new("python3")
        .arg(peer_script(script))
        .args(args)
        .timeout(ONE_SHOT)
        .output()
        .expect("run python3");
    assert!(
        output.status.success(),
        "{script} {args:?} failed: {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// What `tests/peers/client.py` saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientRun {
    /// The client's own address, as the server sees it.
    pub local: String,
    pub data: Vec<u8>,
    /// `count`, `eof`, `reset` or `timeout`.
    pub end: String,
}

/// The classic Python client: connect, sendall `payload`, recv until
/// `expect` bytes (0: until the peer closes), close.
pub fn py_client(addr: SocketAddr, payload: &[u8], expect: usize) -> ClientRun {
    py_client_from(None, addr, payload, expect)
}

/// [`py_client`] from a chosen source address (`bind`).
pub fn py_client_from(
    bind: Option<&str>,
    addr: SocketAddr,
    payload: &[u8],
    expect: usize,
) -> ClientRun {
    let mut args = vec![
        "--host".to_string(),
        addr.ip().to_string(),
        "--port".to_string(),
        addr.port().to_string(),
        "--send-hex".to_string(),
        hex(payload),
        "--expect".to_string(),
        expect.to_string(),
        "--timeout".to_string(),
        "5".to_string(),
    ];
    if let Some(bind) = bind {
        args.extend(["--bind".to_string(), bind.to_string()]);
    }
    let out = python("client.py", &args);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let field = |key: &str| {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .unwrap_or_else(|| panic!("client.py printed no {key}: {stdout}"))
            .to_string()
    };
    ClientRun {
        local: field("local="),
        data: unhex(&field("data=")),
        end: field("end="),
    }
}

/// A TCP connection with 5 s read/write timeouts.
pub fn connect(addr: SocketAddr) -> TcpStream {
    let s =
        TcpStream::connect_timeout(&addr, SOON).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    s.set_read_timeout(Some(SOON)).unwrap();
    s.set_write_timeout(Some(SOON)).unwrap();
    s.set_nodelay(true).unwrap();
    s
}

/// Read exactly `n` bytes (bounded by the stream's read timeout).
pub fn read_n(s: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    let mut got = 0;
    while got < n {
        match s.read(&mut buf[got..]) {
            Ok(0) => panic!(
                "peer closed after {got} of {n} bytes: {:?}",
                String::from_utf8_lossy(&buf[..got])
            ),
            Ok(k) => got += k,
            Err(e) => panic!(
                "reading {n} bytes: {e} after {got}: {:?}",
                String::from_utf8_lossy(&buf[..got])
            ),
        }
    }
    buf
}

/// How reading until the end went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    Eof,
    Reset,
    TimedOut,
}

/// Read until the peer closes (or resets, or the read timeout passes).
pub fn read_to_end(s: &mut TcpStream) -> (Vec<u8>, End) {
    let mut data = Vec::new();
    let mut chunk = [0u8; 65536];
    loop {
        match s.read(&mut chunk) {
            Ok(0) => return (data, End::Eof),
            Ok(n) => data.extend_from_slice(&chunk[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return (data, End::TimedOut)
            }
            Err(_) => return (data, End::Reset),
        }
    }
}

/// Send `data`, half-close, and read everything until the server closes.
pub fn exchange_and_close(s: &mut TcpStream, data: &[u8]) -> (Vec<u8>, End) {
    s.write_all(data).unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    read_to_end(s)
}

/// Lowercase hex, no separators.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn unhex(s: &str) -> Vec<u8> {
    let s = s.trim();
    assert!(s.len().is_multiple_of(2), "odd hex {s:?}");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap_or_else(|_| panic!("bad hex {s:?}")))
        .collect()
}

/// The display escaping the product contract names: printable ASCII as is
/// (backslash doubled), `\r \n \t \0 \e`, every other byte `\xHH`.
pub fn escape(bytes: &[u8]) -> String {
    let mut out = String::new();
    for &b in bytes {
        match b {
            b'\r' => out.push_str("\\r"),
            b'\n' => out.push_str("\\n"),
            b'\t' => out.push_str("\\t"),
            0 => out.push_str("\\0"),
            0x1b => out.push_str("\\e"),
            b'\\' => out.push_str("\\\\"),
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out
}

/// One `-f text` record: `HH:MM:SS.ffffff #CONN PEER DIR LEN PAYLOAD`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub time: String,
    pub conn: u64,
    pub peer: String,
    pub dir: String,
    pub len: usize,
    pub payload: String,
}

/// Parse a text record; panics (showing the line) when it does not have
/// the documented shape.
pub fn record(line: &str) -> Record {
    let fail = |why: &str| -> ! { panic!("not a text record ({why}): {line:?}") };
    let mut parts = line.splitn(6, ' ');
    let mut next = |what: &str| parts.next().unwrap_or_else(|| fail(what)).to_string();
    let time = next("time");
    let conn = next("#conn");
    let peer = next("peer");
    let dir = next("direction");
    let len = next("length");
    let payload = parts.next().unwrap_or("").to_string();
    let t = time.as_bytes();
    let time_ok = t.len() == 15
        && t.iter().enumerate().all(|(i, c)| match i {
            2 | 5 => *c == b':',
            8 => *c == b'.',
            _ => c.is_ascii_digit(),
        });
    if !time_ok {
        fail("time is not HH:MM:SS.ffffff");
    }
    let conn = conn
        .strip_prefix('#')
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| fail("#conn"));
    if peer.parse::<SocketAddr>().is_err() {
        fail("peer is not an address");
    }
    let len = len.parse().unwrap_or_else(|_| fail("length"));
    Record {
        time,
        conn,
        peer,
        dir,
        len,
        payload,
    }
}

/// Every stdout line of a process as a text record.
pub fn records(stdout: &str) -> Vec<Record> {
    stdout.lines().map(record).collect()
}

/// The text records `p1ge0n listen` printed for what it received.
pub fn received_by(server: &Listen) -> Vec<String> {
    records(&server.stdout())
        .into_iter()
        .filter(|r| r.dir == "recv")
        .map(|r| r.payload)
        .collect()
}

pub fn stderr_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn stdout_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Panic message helper for one-shot outputs.
pub fn show(out: &Output) -> String {
    format!(
        "status {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status,
        stdout_of(out),
        stderr_of(out)
    )
}

/// The exit code of a one-shot run (panics if it was killed, e.g. by the
/// [`ONE_SHOT`] timeout).
pub fn code(out: &Output) -> i32 {
    out.status
        .code()
        .unwrap_or_else(|| panic!("killed (timeout?)\n{}", show(out)))
}

/// Run `tests/peers/load_client.py`: `clients` concurrent connections to
/// 127.0.0.1:`port`, `messages` 64-byte lines each, every echo checked.
/// Returns its output (summary line on stdout).
pub fn load_client(port: u16, clients: usize, messages: usize) -> Output {
    let args: Vec<String> = [
        "--port".to_string(),
        port.to_string(),
        "--clients".into(),
        clients.to_string(),
        "--messages".into(),
        messages.to_string(),
        "--size".into(),
        "64".into(),
        "--timeout".into(),
        "60".into(),
    ]
    .into();
    python("load_client.py", &args)
}

/// 50 clients that push 100 MB each to `port` for 2 s and never read
/// (`tests/peers/flood_client.py`): its summary line, and the process,
/// which holds the connections open until the [`Flood`] is dropped.
pub fn flood(port: u16) -> (String, Flood) {
    use std::io::BufRead;
    let mut flood = Command::new("python3")
        .arg(peer_script("flood_client.py"))
        .args([
            "--port",
            &port.to_string(),
            "--clients",
            "50",
            "--bytes",
            "100000000",
            "--seconds",
            "2",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(flood.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    (line.trim().to_string(), Flood(flood))
}

/// The flood client, stopped (connections closed) when dropped.
pub struct Flood(std::process::Child);

impl Drop for Flood {
    fn drop(&mut self) {
        drop(self.0.stdin.take());
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Peak resident memory of a process so far (VmHWM), in kB.
pub fn peak_rss_kb(pid: u32) -> u64 {
    status_kb(pid, "VmHWM:")
}

/// The run exited with `status` and its stderr says `needle`.
pub fn assert_fails(out: &Output, status: i32, needle: &str) {
    assert_eq!(code(out), status, "{}", show(out));
    assert!(
        stderr_of(out).contains(needle),
        "stderr lacks {needle:?}\n{}",
        show(out)
    );
}

/// A serial line for the tests: a socat pty pair, `a` and `b` the two ends
/// (symlinks in a temporary directory), raw, no echo. Dropped: socat is
/// killed and the links go with the directory.
pub struct PtyPair {
    _proc: Proc,
    _dir: tempfile::TempDir,
    pub a: String,
    pub b: String,
}

impl PtyPair {
    pub fn new() -> PtyPair {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("A").display().to_string();
        let b = dir.path().join("B").display().to_string();
        PtyPair {
            _proc: PtyPair::socat(&a, &b),
            _dir: dir,
            a,
            b,
        }
    }

    fn socat(a: &str, b: &str) -> Proc {
        let mut cmd = Command::new("socat");
        cmd.args([
            "-d",
            "-d",
            &format!("pty,raw,echo=0,link={a}"),
            &format!("pty,raw,echo=0,link={b}"),
        ]);
        let proc = Proc::spawn(cmd);
        // socat says "starting data transfer loop" once both ends exist.
        proc.wait_stderr_contains("starting data transfer loop", STARTUP);
        proc
    }

    /// The cable pulled: socat gone, and both ends with it.
    pub fn pull(&mut self) {
        self._proc = Proc::spawn(Command::new("true"));
        assert!(
            wait_until(SOON, || !Path::new(&self.a).exists()),
            "{} still there",
            self.a
        );
    }

    /// Plugged back: a new pair at the same paths.
    pub fn plug(&mut self) {
        self._proc = PtyPair::socat(&self.a, &self.b);
    }

    /// `serial:` and end A, with `settings` (`,9600,8N1`) appended.
    pub fn addr_a(&self, settings: &str) -> String {
        format!("serial:{}{settings}", self.a)
    }

    pub fn addr_b(&self, settings: &str) -> String {
        format!("serial:{}{settings}", self.b)
    }
}

/// `tests/peers/modbus_rtu_server.py --serial PATH`: pymodbus's RTU server
/// on one end of a line, once it says `ready`.
pub fn rtu_server(path: &str) -> Proc {
    let mut cmd = Command::new("python3");
    cmd.arg("-u")
        .arg(peer_script("modbus_rtu_server.py"))
        .args(["--serial", path]);
    let proc = Proc::spawn(cmd);
    proc.wait_stdout_contains("ready", STARTUP);
    proc
}
