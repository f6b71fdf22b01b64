//! The chaos load tool (`scripts/soak` drives it; `cargo bench --bench chaos
//! -- --help`): a random mix of well-behaved and hostile clients against
//! one server on loopback, for a fixed time.
//!
//! Kinds of client, picked at random per connection:
//! - `good`: a few messages, each reply checked byte for byte (echo, or the
//!   mode's known answers); any wrong byte fails the run. With `--big N`
//!   (echo mode), one good client in four sends lines of N/2 to N bytes:
//!   messages near the server's `--max-frame`, which is what makes an
//!   allocator keep memory (issue 26, bug 4).
//! - `reset`: half a message, then SO_LINGER 0 and close (a reset).
//! - `slow`: pushes up to 1 MiB without reading a byte, then resets.
//! - `garbage`: random bytes, then an oversized frame (no end of line).
//! - `idle`: connects and says nothing until the server drops it (or the
//!   tool gives up after `--idle-wait`).
//! - `tls-stall` and `tls-abort` (with `--tls`): TCP without a handshake,
//!   and half a ClientHello then a close. With `--tls` the other hostile
//!   kinds shake hands first and misbehave inside TLS.
//!
//! `--mode modbus` drives a Modbus TCP-to-RTU gateway (`proxy --gateway
//! modbus`, `--max-frame` given as `--max-frame`) in front of the soak's
//! RTU device (`scripts/soak`'s rules: a read of N holding registers at A
//! answers A, N, A, N, ...; a write of N registers at A answers A and N;
//! any unit but 0). Good clients send read-holding and write-registers
//! requests (random unit, address and count, one in four as large as
//! `--max-frame` allows, transaction ids counting up from a random one) and
//! check every reply byte for byte. The hostile kinds become Modbus ones:
//! `reset` sends part of a request, or whole requests, then resets before
//! the reply; `slow` pipelines large reads and never reads a reply;
//! `garbage` sends frames that are not Modbus requests (a protocol id other
//! than 0, or fewer than 2 bytes after the header), each of which must be
//! answered with exactly exception 0x0A (the transaction id, the unit and
//! the function | 0x80 of the frame), then an MBAP length over
//! `--max-frame`, after which the gateway must close without another byte;
//! or random bytes and an oversized length, unchecked; `half` (this mode
//! only) sends part of a request and waits: nothing may come back before
//! the gateway drops it for being idle. A wrong answer to a hostile client
//! fails the run like a good client's.
//!
//! `--faults` (echo mode) is for a server that deals faults on purpose
//! (`proxy --frame line --fault drop=... --fault reset=...`): a good client
//! then sends all its lines, half-closes, and reads the echoes until the end
//! of the stream, matching each by its content (`c=ID s=SEQ `, so after a
//! lost line the next echo is still recognised): an echo that is not one
//! of its lines, or that comes out of order or twice, is a wrong byte as
//! ever, but a missing echo or a reset is not judged here. Each good client
//! connects from a port of `--good-ports` (never one the kernel hands out,
//! so only good clients use them) and writes what it saw to `--report`:
//! one JSON line, `{"id":..,"port":..,"k":..,"lines":..,"sent":..,"got":[..],
//! "end":"eof"|"reset"|"stalled"}` (`k`: the how-manieth connection from
//! that port, as the server's records count them; `got`: the line numbers
//! whose echo came; `reason`: the error that ended it, if any), for the
//! reader of the server's fault records to judge (`scripts/soak
//! proxy-faults`).
//!
//! It prints the counts per kind and exits 1 if any well-behaved client
//! saw a wrong byte or lost its connection (`--faults`: stalled with no
//! answer for 10 s, or could not connect), or a hostile client got a wrong
//! answer, 0 otherwise. Every wait is bounded.

// Tests and benches are not the product: they may print with eprintln!
// (clippy.toml forbids it only so that p1ge0n's own lines go through say!).
#![allow(clippy::disallowed_macros)]

use std::{
    io::Write as _,
    net::{Ipv4Addr, SocketAddr, SocketAddrV4},
    ops::RangeInclusive,
    sync::{
        atomic::{AtomicU32, AtomicU64, Ordering::Relaxed},
        mpsc, Arc,
    },
    time::{Duration, Instant},
};

use anyhow::{anyhow, bail, Context, Result};
use p1ge0n::net::tls::AcceptAnyServer;
use rustls::pki_types::ServerName;
use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt},
    net::TcpStream,
};

/// What the good clients say and expect back.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    /// Each line comes back as sent (listen, proxy, proxy --share, TLS).
    Echo,
    /// `GET n\n` is answered `VALUE n\n` (the soak's rules file).
    Rules,
    /// The soak's served script: `STATUS?\n` > `RUNNING\n`, `READ 1\n` >
    /// `VALUE 1\n`, then the flow ends.
    Serve,
    /// Modbus/TCP through `proxy --gateway modbus` to the soak's RTU device.
    Modbus,
}

struct Args {
    target: SocketAddr,
    mode: Mode,
    seconds: f64,
    clients: usize,
    tls: bool,
    /// How long an idle client waits for the server to drop it.
    idle_wait: Duration,
    seed: u64,
    /// Echo mode: the longest line (with its LF) a big good client sends.
    big: usize,
    /// Modbus mode: the gateway's `--max-frame` (the largest MBAP frame it
    /// takes; 260, a whole Modbus/TCP ADU, by default).
    max_frame: usize,
    /// Echo mode: the server deals faults; good clients report, and a
    /// missing echo or a reset is left to the report's reader.
    faults: bool,
    /// `--faults`: where the good clients' reports go (a file or a pipe).
    report: Option<std::path::PathBuf>,
    /// `--faults`: the local ports good clients connect from.
    good_ports: RangeInclusive<u16>,
}

const HELP: &str = "\
chaos --target IP:PORT [--mode echo|rules|serve|modbus] [--seconds S] [--clients N]
      [--tls] [--idle-wait S] [--seed N] [--big BYTES] [--max-frame BYTES]
      [--faults --report FILE [--good-ports LO-HI]]";

fn parse_args() -> Result<Args> {
    let mut args = Args {
        target: "127.0.0.1:0".parse()?,
        mode: Mode::Echo,
        seconds: 10.0,
        clients: 32,
        tls: false,
        idle_wait: Duration::from_secs(15),
        seed: std::process::id() as u64,
        big: 0,
        max_frame: 260,
        faults: false,
        report: None,
        good_ports: 20_000..=32_767,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or_else(|| anyhow!("{arg} needs a value"));
        match arg.as_str() {
            // `cargo bench` passes this to every bench binary.
            "--bench" => {}
            "--target" => args.target = value()?.parse().context("--target")?,
            "--mode" => {
                args.mode = match value()?.as_str() {
                    "echo" => Mode::Echo,
                    "rules" => Mode::Rules,
                    "serve" => Mode::Serve,
                    "modbus" => Mode::Modbus,
                    other => bail!("--mode {other}: expected echo, rules, serve or modbus"),
                }
            }
            "--seconds" => args.seconds = value()?.parse().context("--seconds")?,
            "--clients" => args.clients = value()?.parse().context("--clients")?,
            "--tls" => args.tls = true,
            "--idle-wait" => args.idle_wait = Duration::from_secs_f64(value()?.parse()?),
            "--seed" => args.seed = value()?.parse().context("--seed")?,
            "--big" => args.big = value()?.parse().context("--big")?,
            "--max-frame" => args.max_frame = value()?.parse().context("--max-frame")?,
            "--faults" => args.faults = true,
            "--report" => args.report = Some(value()?.into()),
            "--good-ports" => {
                let v = value()?;
                let (lo, hi) = v
                    .split_once('-')
                    .ok_or_else(|| anyhow!("--good-ports {v}: expected LO-HI"))?;
                let (lo, hi): (u16, u16) = (lo.parse()?, hi.parse()?);
                if lo == 0 || hi < lo {
                    bail!("--good-ports {v}: expected 1 <= LO <= HI");
                }
                args.good_ports = lo..=hi;
            }
            "-h" | "--help" => {
                println!("{HELP}");
                std::process::exit(0);
            }
            other => bail!("unknown argument {other}\n{HELP}"),
        }
    }
    if args.target.port() == 0 {
        bail!("--target IP:PORT is required\n{HELP}");
    }
    if args.faults && (args.mode != Mode::Echo || args.tls || args.report.is_none()) {
        bail!("--faults needs --mode echo, no --tls, and --report FILE");
    }
    if args.mode == Mode::Modbus
        && !(MBAP_HEADER + 3..=usize::from(u16::MAX)).contains(&args.max_frame)
    {
        bail!(
            "--max-frame {}: expected 9 to 65535 in modbus mode",
            args.max_frame
        );
    }
    Ok(args)
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Good,
    Reset,
    Slow,
    Garbage,
    Idle,
    TlsStall,
    TlsAbort,
    /// Modbus mode: part of a request, then silence.
    Half,
}

const KINDS: [Kind; 8] = [
    Kind::Good,
    Kind::Reset,
    Kind::Slow,
    Kind::Garbage,
    Kind::Idle,
    Kind::TlsStall,
    Kind::TlsAbort,
    Kind::Half,
];

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Good => "good",
            Kind::Reset => "reset",
            Kind::Slow => "slow",
            Kind::Garbage => "garbage",
            Kind::Idle => "idle",
            Kind::TlsStall => "tls-stall",
            Kind::TlsAbort => "tls-abort",
            Kind::Half => "half",
        }
    }
}

/// Per kind: clients run, and how their ends went.
#[derive(Default)]
struct Counts {
    run: [AtomicU64; 8],
    /// Good clients: messages whose reply was checked and right.
    checked: AtomicU64,
    /// Good clients: a wrong byte (fails the run).
    wrong: AtomicU64,
    /// Good clients: lost the connection or timed out (fails the run).
    lost: AtomicU64,
    /// Good clients: the longest wait for a reply, in microseconds.
    slowest_us: AtomicU64,
    /// Idle and TLS-stall clients the server dropped (vs gave up on).
    dropped_by_server: AtomicU64,
    gave_up: AtomicU64,
    /// Modbus mode: hostile clients' answers checked (an exception 0x0A,
    /// silence then a close) and found right, or wrong (fails the run).
    hostile_checked: AtomicU64,
    hostile_wrong: AtomicU64,
    /// `--faults`: good clients that missed an echo or lost their
    /// connection, left to the report's reader; echoes they missed.
    cut_short: AtomicU64,
    missing: AtomicU64,
}

/// A wrong answer to a hostile client (counted in `hostile_wrong`): shown
/// like a good client's problems.
#[derive(Debug)]
struct WrongAnswer(String);

impl std::fmt::Display for WrongAnswer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for WrongAnswer {}

/// xorshift64*: reproducible with `--seed`, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn connector() -> tokio_rustls::TlsConnector {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .dangerous()
        // The chaos is about load, not trust (the TLS tests check that).
        .with_custom_certificate_verifier(Arc::new(AcceptAnyServer(provider)))
        .with_no_client_auth();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

struct Ctx {
    args: Args,
    counts: Counts,
    tls: Option<tokio_rustls::TlsConnector>,
    deadline: Instant,
    /// `--faults`: the reports, to the thread that writes them.
    report: Option<mpsc::Sender<String>>,
    /// `--faults`: the next good port to try, and how many connections
    /// each good port has made (its `k`).
    next_port: AtomicU32,
    port_uses: Vec<AtomicU32>,
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

const STEP: Duration = Duration::from_secs(10);

async fn bounded<T>(what: &str, f: impl std::future::Future<Output = Result<T>>) -> Result<T> {
    tokio::time::timeout(STEP, f)
        .await
        .map_err(|_| anyhow!("{what}: no answer within {STEP:?}"))?
}

async fn open(ctx: &Ctx) -> Result<Box<dyn Io>> {
    let tcp = raw(ctx).await?;
    wrap(ctx, tcp).await
}

/// Shake hands when the server speaks TLS: the hostile kinds misbehave
/// inside TLS too, where the server's framing and limits apply.
async fn wrap(ctx: &Ctx, tcp: TcpStream) -> Result<Box<dyn Io>> {
    tcp.set_nodelay(true)?;
    match &ctx.tls {
        Some(tls) => {
            let name = ServerName::try_from("localhost")?;
            let stream = bounded("handshake", async { Ok(tls.connect(name, tcp).await?) }).await?;
            Ok(Box::new(stream))
        }
        None => Ok(Box::new(tcp)),
    }
}

/// The exchanges of one good client: (request, expected reply).
fn conversation(args: &Args, id: u64, rng: &mut Rng) -> Vec<(Vec<u8>, Vec<u8>)> {
    let max = args.big;
    let big = max > 64 && rng.below(4) == 0;
    match args.mode {
        Mode::Echo => (0..1 + rng.below(if big { 6 } else { 20 }))
            .map(|seq| {
                let len = if big {
                    max / 2 + rng.below((max / 2) as u64) as usize - 1
                } else {
                    8 + rng.below(120) as usize
                };
                let mut line = format!("c={id} s={seq} ").into_bytes();
                while line.len() < len {
                    line.push(b'a' + rng.below(26) as u8);
                }
                line.push(b'\n');
                (line.clone(), line)
            })
            .collect(),
        Mode::Rules => (0..1 + rng.below(20))
            .map(|_| {
                let n = rng.below(1_000_000);
                (
                    format!("GET {n}\n").into_bytes(),
                    format!("VALUE {n}\n").into_bytes(),
                )
            })
            .collect(),
        Mode::Serve => vec![
            (b"STATUS?\n".to_vec(), b"RUNNING\n".to_vec()),
            (b"READ 1\n".to_vec(), b"VALUE 1\n".to_vec()),
        ],
        Mode::Modbus => {
            let first = rng.next() as u16;
            (0..1 + rng.below(20))
                .map(|i| modbus_exchange(first.wrapping_add(i as u16), args.max_frame, rng))
                .collect()
        }
    }
}

/// The MBAP header: transaction id, protocol id 0, length.
const MBAP_HEADER: usize = 6;

/// Modbus mode: the longest a good client waits for a reply. The gateway
/// puts one request on the line at a time, in arrival order, and takes a
/// client's next request only once its reply is back, so a request waits
/// behind at most one request of each other client: with the soak's 100
/// clients and a round trip of 0.2 ms on a pty pair, the slowest reply in
/// a soak took 16 to 280 ms (with `all` and builds sharing the machine).
/// But a request the device does not answer holds the
/// line for the gateway's whole `-w`, and the soak shares its machine with
/// builds; 30 s keeps a queue that is merely long from counting as a lost
/// client, while a gateway that stops answering still fails the run.
const MODBUS_REPLY_WAIT: Duration = Duration::from_secs(30);

/// `unit` and `pdu` as a Modbus/TCP frame with transaction `tid`.
fn mbap(tid: u16, unit: u8, pdu: &[u8]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(MBAP_HEADER + 1 + pdu.len());
    frame.extend(tid.to_be_bytes());
    frame.extend([0, 0]);
    frame.extend(((pdu.len() + 1) as u16).to_be_bytes());
    frame.push(unit);
    frame.extend_from_slice(pdu);
    frame
}

/// A good client's Modbus/TCP request and the reply the soak's RTU device
/// gives to it through a correct gateway: read holding registers (3 in 4)
/// or write multiple registers, any unit but broadcast, one in four as
/// large as the gateway's `--max-frame` allows (a read's reply, a write's
/// request; at most 125 and 123 registers, the Modbus limits).
fn modbus_exchange(tid: u16, max: usize, rng: &mut Rng) -> (Vec<u8>, Vec<u8>) {
    let unit = 1 + rng.below(247) as u8;
    let largest = rng.below(4) == 0;
    let count = |most: usize, rng: &mut Rng| {
        if largest {
            most.max(1)
        } else {
            1 + rng.below(most.max(1) as u64) as usize
        }
    };
    if rng.below(4) == 0 {
        // Header, unit, function, address, count, byte count: 13 bytes.
        let n = count((max.saturating_sub(13) / 2).min(123), rng);
        let addr = rng.below(65_537 - n as u64) as u16;
        let mut pdu = vec![0x10];
        pdu.extend(addr.to_be_bytes());
        pdu.extend((n as u16).to_be_bytes());
        pdu.push((2 * n) as u8);
        for _ in 0..n {
            pdu.extend((rng.next() as u16).to_be_bytes());
        }
        (mbap(tid, unit, &pdu), mbap(tid, unit, &pdu[..5]))
    } else {
        // The reply: header, unit, function, byte count: 9 bytes.
        let n = count((max.saturating_sub(9) / 2).min(125), rng);
        let addr = rng.below(65_537 - n as u64) as u16;
        let mut request = vec![0x03];
        request.extend(addr.to_be_bytes());
        request.extend((n as u16).to_be_bytes());
        let mut reply = vec![0x03, (2 * n) as u8];
        for i in 0..n {
            let value = if i % 2 == 0 { addr } else { n as u16 };
            reply.extend(value.to_be_bytes());
        }
        (mbap(tid, unit, &request), mbap(tid, unit, &reply))
    }
}

/// A frame the gateway must refuse with exception 0x0A without putting
/// anything on the line, and that exception: a protocol id other than 0
/// with any body that fits `max`, or protocol 0 with fewer than a unit and
/// a function after the header (then the exception says unit 0 or the
/// unit sent, and function 0x80).
fn junk_frame(max: usize, rng: &mut Rng) -> (Vec<u8>, Vec<u8>) {
    let mut frame = (rng.next() as u16).to_be_bytes().to_vec();
    if rng.below(4) == 0 {
        let body = rng.below(2) as usize;
        frame.extend([0, 0, 0, body as u8]);
        frame.extend((0..body).map(|_| rng.next() as u8));
    } else {
        let protocol = 1 + rng.below(u64::from(u16::MAX)) as u16;
        let body = 2 + rng.below((max - MBAP_HEADER - 1) as u64) as usize;
        frame.extend(protocol.to_be_bytes());
        frame.extend((body as u16).to_be_bytes());
        frame.extend((0..body).map(|_| rng.next() as u8));
    }
    let byte = |i: usize| frame.get(i).copied().unwrap_or(0);
    let exception = vec![byte(0), byte(1), 0, 0, 0, 3, byte(6), byte(7) | 0x80, 0x0a];
    (frame, exception)
}

/// Read what comes until the server closes, for at most `limit`: `Ok(true)`
/// closed with nothing sent, `Ok(false)` still open and silent, `Err` with
/// the bytes it sent.
async fn silent_until_closed(
    s: &mut (impl AsyncRead + Unpin),
    limit: Duration,
) -> std::result::Result<bool, Vec<u8>> {
    let mut buf = [0u8; 512];
    let mut got = Vec::new();
    let until = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(until, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) if got.is_empty() => return Ok(false),
            Err(_) => break,
        }
    }
    if got.is_empty() {
        Ok(true)
    } else {
        Err(got)
    }
}

/// Count a hostile client's wrong answer and say what it was.
fn wrong_answer(ctx: &Ctx, what: String) -> anyhow::Error {
    ctx.counts.hostile_wrong.fetch_add(1, Relaxed);
    WrongAnswer(what).into()
}

/// Up to 32 bytes as hex, and how many more there are.
fn hex(bytes: &[u8]) -> String {
    let shown: String = bytes.iter().take(32).map(|b| format!("{b:02x}")).collect();
    match bytes.len() {
        0..=32 => shown,
        n => format!("{shown}... ({n} bytes)"),
    }
}

/// Where `got` first differs from `expected`.
fn first_difference(expected: &[u8], got: &[u8]) -> usize {
    expected
        .iter()
        .zip(got)
        .position(|(e, g)| e != g)
        .unwrap_or(expected.len().min(got.len()))
}

/// The Modbus kinds of hostile client (see the module's header).
async fn hostile_modbus(ctx: &Ctx, kind: Kind, rng: &mut Rng) -> Result<()> {
    let max = ctx.args.max_frame;
    let mut s = raw(ctx).await?;
    s.set_nodelay(true)?;
    match kind {
        Kind::Reset => {
            will_reset(&s);
            let (request, _) = modbus_exchange(rng.next() as u16, max, rng);
            if rng.below(2) == 0 {
                let cut = 1 + rng.below(request.len() as u64 - 1) as usize;
                s.write_all(&request[..cut]).await?;
            } else {
                // Whole requests, gone before their replies.
                for _ in 0..1 + rng.below(3) {
                    s.write_all(&request).await?;
                }
            }
            tokio::time::sleep(Duration::from_millis(rng.below(50))).await;
        }
        Kind::Slow => {
            will_reset(&s);
            // The largest reads, back to back, and never a reply read.
            let mut chunk = Vec::new();
            while chunk.len() < 16 * 1024 {
                let tid = rng.next() as u16;
                chunk.extend(mbap(tid, 1, &[0x03, 0, 0, 0, 125]));
            }
            let mut sent = 0;
            while sent < 1 << 20 {
                let push = s.write_all(&chunk);
                match tokio::time::timeout(Duration::from_millis(500), push).await {
                    Ok(Ok(())) => sent += chunk.len(),
                    _ => break,
                }
            }
        }
        Kind::Garbage if rng.below(2) == 0 => {
            // Random bytes, then a length over --max-frame: unchecked.
            will_reset(&s);
            let mut junk = vec![0u8; 64 + rng.below(4096) as usize];
            junk.iter_mut().for_each(|b| *b = rng.next() as u8);
            let _ = s.write_all(&junk).await;
            let _ = s.write_all(&[0, 1, 0, 0, 0xff, 0xff]).await;
            closed_by_server(&mut s, Duration::from_secs(2)).await;
        }
        Kind::Garbage => {
            for _ in 0..1 + rng.below(5) {
                let (frame, exception) = junk_frame(max, rng);
                s.write_all(&frame).await?;
                match tokio::time::timeout(MODBUS_REPLY_WAIT, read_mbap(&mut s)).await {
                    Ok(Ok(reply)) if reply == exception => {
                        ctx.counts.hostile_checked.fetch_add(1, Relaxed);
                    }
                    Ok(Ok(reply)) => {
                        return Err(wrong_answer(
                            ctx,
                            format!(
                                "garbage {}: expected exception {}, got {}",
                                hex(&frame),
                                hex(&exception),
                                hex(&reply)
                            ),
                        ))
                    }
                    Ok(Err(e)) => {
                        return Err(wrong_answer(
                            ctx,
                            format!("garbage {}: no exception 0x0A, {e}", hex(&frame)),
                        ))
                    }
                    Err(_) => {
                        return Err(wrong_answer(
                            ctx,
                            format!(
                                "garbage {}: no exception 0x0A within {MODBUS_REPLY_WAIT:?}",
                                hex(&frame)
                            ),
                        ))
                    }
                }
            }
            // An MBAP length that takes the frame past --max-frame: the
            // gateway drops the client at once, and answers nothing.
            let length = (max - MBAP_HEADER + 1) as u64;
            let length = length + rng.below(u64::from(u16::MAX) - length + 1);
            let mut header = (rng.next() as u16).to_be_bytes().to_vec();
            header.extend([0, 0]);
            header.extend((length as u16).to_be_bytes());
            s.write_all(&header).await?;
            let _ = s.write_all(&[1, 3, 0, 0, 0, 1]).await;
            match silent_until_closed(&mut s, ctx.args.idle_wait).await {
                Ok(true) => {
                    ctx.counts.hostile_checked.fetch_add(1, Relaxed);
                }
                Ok(false) => {
                    return Err(wrong_answer(
                        ctx,
                        format!(
                            "oversized {}: still open after {:?}",
                            hex(&header),
                            ctx.args.idle_wait
                        ),
                    ))
                }
                Err(got) => {
                    return Err(wrong_answer(
                        ctx,
                        format!("oversized {}: answered {}", hex(&header), hex(&got)),
                    ))
                }
            }
        }
        Kind::Idle => sit_idle(ctx, &mut s).await,
        Kind::Half => {
            let (request, _) = modbus_exchange(rng.next() as u16, max, rng);
            let cut = 1 + rng.below(request.len() as u64 - 1) as usize;
            s.write_all(&request[..cut]).await?;
            match silent_until_closed(&mut s, ctx.args.idle_wait).await {
                Ok(true) => {
                    ctx.counts.dropped_by_server.fetch_add(1, Relaxed);
                    ctx.counts.hostile_checked.fetch_add(1, Relaxed);
                }
                Ok(false) => {
                    ctx.counts.gave_up.fetch_add(1, Relaxed);
                }
                Err(got) => {
                    return Err(wrong_answer(
                        ctx,
                        format!(
                            "half a request {}: answered {}",
                            hex(&request[..cut]),
                            hex(&got)
                        ),
                    ))
                }
            }
        }
        other => unreachable!("{other:?} is not a Modbus kind"),
    }
    Ok(())
}

async fn good(ctx: &Ctx, id: u64, rng: &mut Rng) -> Result<()> {
    let mut s = open(ctx).await?;
    for (request, expected) in conversation(&ctx.args, id, rng) {
        s.write_all(&request).await?;
        s.flush().await?;
        let asked = Instant::now();
        let reply = if ctx.args.mode == Mode::Modbus {
            tokio::time::timeout(MODBUS_REPLY_WAIT, read_mbap(&mut s))
                .await
                .map_err(|_| anyhow!("reply: no answer within {MODBUS_REPLY_WAIT:?}"))??
        } else {
            let mut reply = vec![0u8; expected.len()];
            bounded("reply", async { Ok(s.read_exact(&mut reply).await?) }).await?;
            reply
        };
        let waited = asked.elapsed().as_micros() as u64;
        ctx.counts.slowest_us.fetch_max(waited, Relaxed);
        if reply != expected {
            ctx.counts.wrong.fetch_add(1, Relaxed);
            if ctx.args.mode == Mode::Modbus {
                let at = first_difference(&expected, &reply);
                bail!(
                    "client {id}: sent {}, expected {}, got {}; first difference at byte {at}: {}",
                    hex(&request),
                    hex(&expected),
                    hex(&reply),
                    hex(&reply[at.min(reply.len())..])
                );
            }
            bail!(
                "client {id}: sent {:?}, expected {:?}, got {:?}",
                String::from_utf8_lossy(&request),
                String::from_utf8_lossy(&expected),
                String::from_utf8_lossy(&reply)
            );
        }
        ctx.counts.checked.fetch_add(1, Relaxed);
    }
    let _ = s.shutdown().await;
    Ok(())
}

/// `--faults`: connect from the next port of `--good-ports` that is free
/// (one in use, or still in TIME_WAIT toward the target, is skipped):
/// (stream, port, k), `k` the how-manieth connection from that port.
async fn good_port_connect(ctx: &Ctx) -> Result<(TcpStream, u16, u32)> {
    let ports = &ctx.args.good_ports;
    let span = u32::from(*ports.end() - *ports.start()) + 1;
    let mut skipped = None;
    for _ in 0..span.min(1000) {
        let port = *ports.start() + (ctx.next_port.fetch_add(1, Relaxed) % span) as u16;
        let socket = tokio::net::TcpSocket::new_v4()?;
        socket.set_reuseaddr(true)?;
        if let Err(e) = socket.bind(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port).into()) {
            skipped = Some(e);
            continue;
        }
        match tokio::time::timeout(STEP, socket.connect(ctx.args.target)).await {
            Ok(Ok(tcp)) => {
                let uses = &ctx.port_uses[usize::from(port - *ports.start())];
                return Ok((tcp, port, uses.fetch_add(1, Relaxed) + 1));
            }
            Ok(Err(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::AddrInUse | std::io::ErrorKind::AddrNotAvailable
                ) =>
            {
                skipped = Some(e)
            }
            Ok(Err(e)) => return Err(anyhow!("connect from port {port}: {e}")),
            Err(_) => bail!("connect from port {port}: no answer within {STEP:?}"),
        }
    }
    bail!("no free port in --good-ports {ports:?} (last: {skipped:?})")
}

/// How a faulted good client's stream ended.
enum End {
    /// The server closed after the last echo it had to give.
    Eof,
    /// An error (a reset) on reading or writing: the reason.
    Reset(String),
    /// Nothing moved for `STEP`.
    Stalled(String),
    /// An echo that is none of its lines, or out of order: what came.
    Wrong(String),
}

/// `--faults`: a good client sends all its lines, half-closes, and reads
/// the echoes to the end of the stream, recognising each by its content
/// (`c=ID s=SEQ `): a line the fault proxy dropped (either way) is simply
/// missing, and the next echo is still known. Whether each missing echo
/// and a reset were dealt on purpose is for the reader of the report (with
/// the proxy's fault records) to say; a wrong or reordered echo, and a
/// stall, fail here.
async fn good_faulted(ctx: &Ctx, id: u64, rng: &mut Rng) -> Result<()> {
    let lines: Vec<Vec<u8>> = conversation(&ctx.args, id, rng)
        .into_iter()
        .map(|(line, _)| line)
        .collect();
    let (tcp, port, k) = good_port_connect(ctx).await?;
    tcp.set_nodelay(true)?;
    let (mut from, mut to) = tcp.into_split();
    // When each line was written: an echo's wait counts from it.
    let written = std::sync::Mutex::new(vec![None; lines.len()]);
    let write = async {
        for (sent, line) in lines.iter().enumerate() {
            match tokio::time::timeout(STEP, to.write_all(line)).await {
                Ok(Ok(())) => written.lock().unwrap()[sent] = Some(Instant::now()),
                Ok(Err(e)) => return (sent, Some(End::Reset(format!("write: {e}")))),
                Err(_) => {
                    let why = format!("write: nothing taken for {STEP:?}");
                    return (sent, Some(End::Stalled(why)));
                }
            }
        }
        // The half-close: once the proxy has passed it on, the server
        // closes, and the proxy closes toward us after the last echo.
        let _ = to.shutdown().await;
        (lines.len(), None)
    };
    let read = read_echoes(ctx, id, &lines, &written, &mut from);
    let ((sent, write_end), (got, read_end)) = tokio::join!(write, read);
    let end = match (read_end, write_end) {
        (wrong @ End::Wrong(_), _) => wrong,
        (reset @ End::Reset(_), _) | (_, Some(reset @ End::Reset(_))) => reset,
        (stalled @ End::Stalled(_), _) | (_, Some(stalled @ End::Stalled(_))) => stalled,
        (End::Eof, _) => End::Eof,
    };
    let (name, reason) = match &end {
        End::Eof => ("eof", ""),
        End::Reset(why) => ("reset", why.as_str()),
        End::Stalled(why) => ("stalled", why.as_str()),
        End::Wrong(why) => ("wrong", why.as_str()),
    };
    if let Some(report) = &ctx.report {
        let line = serde_json::json!({
            "id": id, "port": port, "k": k, "lines": lines.len(), "sent": sent,
            "got": got, "end": name, "reason": reason,
        });
        let _ = report.send(line.to_string());
    }
    ctx.counts.checked.fetch_add(got.len() as u64, Relaxed);
    if got.len() < lines.len() || !matches!(end, End::Eof) {
        ctx.counts.cut_short.fetch_add(1, Relaxed);
        ctx.counts
            .missing
            .fetch_add((lines.len() - got.len()) as u64, Relaxed);
    }
    match end {
        End::Wrong(why) => {
            ctx.counts.wrong.fetch_add(1, Relaxed);
            bail!("client {id} (port {port}): {why}")
        }
        End::Stalled(why) => bail!("client {id} (port {port}): {why}"),
        End::Eof | End::Reset(_) => Ok(()),
    }
}

/// Read `lines`' echoes until the stream ends: the line numbers that came,
/// in order, and how it ended. Each echo's wait since its line was
/// `written` goes to the slowest reply.
async fn read_echoes(
    ctx: &Ctx,
    id: u64,
    lines: &[Vec<u8>],
    written: &std::sync::Mutex<Vec<Option<Instant>>>,
    from: &mut (impl AsyncRead + Unpin),
) -> (Vec<usize>, End) {
    let longest = lines.iter().map(Vec::len).max().unwrap_or(0);
    let prefix = format!("c={id} s=");
    let mut got: Vec<usize> = Vec::new();
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    let mut scanned = 0;
    loop {
        while let Some(at) = buf[scanned..].iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = buf.drain(..=scanned + at).collect();
            scanned = 0;
            let seq = line
                .strip_prefix(prefix.as_bytes())
                .and_then(|rest| rest.split(|&b| b == b' ').next())
                .and_then(|n| std::str::from_utf8(n).ok()?.parse::<usize>().ok());
            let after = got.last().is_none_or(|&last| seq > Some(last));
            match seq {
                Some(s) if s < lines.len() && after && line == lines[s] => {
                    if let Some(at) = written.lock().unwrap()[s] {
                        let waited = at.elapsed().as_micros() as u64;
                        ctx.counts.slowest_us.fetch_max(waited, Relaxed);
                    }
                    got.push(s)
                }
                _ => {
                    let shown = String::from_utf8_lossy(&line[..line.len().min(80)]).into_owned();
                    let why = match seq {
                        Some(s) if s < lines.len() && !after => {
                            format!("echo of line {s} after line {:?}: {shown:?}", got.last())
                        }
                        Some(s) if s < lines.len() => format!(
                            "echo of line {s} differs at byte {}: {shown:?}",
                            first_difference(&lines[s], &line)
                        ),
                        _ => format!("an echo that is none of its lines: {shown:?}"),
                    };
                    return (got, End::Wrong(why));
                }
            }
        }
        scanned = buf.len();
        if buf.len() > longest {
            let why = format!(
                "{} bytes without an end of line, longer than any line sent",
                buf.len()
            );
            return (got, End::Wrong(why));
        }
        match tokio::time::timeout(STEP, from.read(&mut chunk)).await {
            Ok(Ok(0)) if buf.is_empty() => return (got, End::Eof),
            Ok(Ok(0)) => {
                let why = format!("the stream ended inside a line ({} bytes)", buf.len());
                return (got, End::Wrong(why));
            }
            Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
            Ok(Err(e)) => return (got, End::Reset(format!("read: {e}"))),
            Err(_) => {
                let why = format!("read: nothing for {STEP:?} after {} echoes", got.len());
                return (got, End::Stalled(why));
            }
        }
    }
}

/// One MBAP frame, whatever its length says (a wrong answer of another
/// length is seen as wrong at once, not as a wait for bytes).
async fn read_mbap(s: &mut (impl AsyncRead + Unpin)) -> Result<Vec<u8>> {
    let mut frame = vec![0u8; MBAP_HEADER];
    s.read_exact(&mut frame).await?;
    let length = usize::from(u16::from_be_bytes([frame[4], frame[5]]));
    frame.resize(MBAP_HEADER + length, 0);
    s.read_exact(&mut frame[MBAP_HEADER..]).await?;
    Ok(frame)
}

async fn raw(ctx: &Ctx) -> Result<TcpStream> {
    bounded("connect", async {
        Ok(TcpStream::connect(ctx.args.target).await?)
    })
    .await
}

/// Closing this socket will reset the connection (SO_LINGER 0), even when
/// TLS owns it by then.
fn will_reset(tcp: &TcpStream) {
    let _ = socket2::SockRef::from(tcp).set_linger(Some(Duration::ZERO));
}

/// Read until the server closes, for at most `limit`: whether it did.
async fn closed_by_server(s: &mut (impl AsyncRead + Unpin), limit: Duration) -> bool {
    let mut buf = [0u8; 4096];
    let until = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(until, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
            Err(_) => return false,
        }
    }
}

/// Say nothing until the server drops us (counted), or give up after
/// `--idle-wait`.
async fn sit_idle(ctx: &Ctx, s: &mut (impl AsyncRead + Unpin)) {
    if closed_by_server(s, ctx.args.idle_wait).await {
        ctx.counts.dropped_by_server.fetch_add(1, Relaxed);
    } else {
        ctx.counts.gave_up.fetch_add(1, Relaxed);
    }
}

async fn hostile(ctx: &Ctx, kind: Kind, rng: &mut Rng) -> Result<()> {
    let tcp = raw(ctx).await?;
    match kind {
        Kind::TlsStall => {
            sit_idle(ctx, &mut { tcp }).await;
            return Ok(());
        }
        Kind::TlsAbort => {
            let mut tcp = tcp;
            // The start of a TLS 1.3 ClientHello record, then nothing more.
            tcp.write_all(&[
                0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03,
            ])
            .await?;
            tokio::time::sleep(Duration::from_millis(rng.below(100))).await;
            if rng.below(2) == 0 {
                will_reset(&tcp);
            }
            return Ok(());
        }
        Kind::Reset | Kind::Slow | Kind::Garbage => will_reset(&tcp),
        Kind::Idle => {}
        Kind::Good => unreachable!("good clients are not hostile"),
        Kind::Half => unreachable!("half is a Modbus kind"),
    }
    let mut s = wrap(ctx, tcp).await?;
    match kind {
        Kind::Reset => {
            s.write_all(b"half a mess").await?;
            s.flush().await?;
            tokio::time::sleep(Duration::from_millis(rng.below(50))).await;
        }
        Kind::Slow => {
            let chunk = vec![b'x'; 16 * 1024];
            let mut sent = 0;
            while sent < 1 << 20 {
                let push = async {
                    s.write_all(&chunk).await?;
                    s.flush().await
                };
                match tokio::time::timeout(Duration::from_millis(500), push).await {
                    Ok(Ok(())) => sent += chunk.len(),
                    _ => break,
                }
            }
        }
        Kind::Garbage => {
            let mut junk = vec![0u8; 64 + rng.below(4096) as usize];
            junk.iter_mut().for_each(|b| *b = rng.next() as u8);
            let _ = s.write_all(&junk).await;
            // An oversized frame: no end of line for 256 KiB.
            let oversized = async {
                s.write_all(&vec![b'G'; 256 * 1024]).await?;
                s.flush().await
            };
            let _ = tokio::time::timeout(Duration::from_secs(2), oversized).await;
            closed_by_server(&mut s, Duration::from_secs(2)).await;
        }
        Kind::Idle => sit_idle(ctx, &mut s).await,
        _ => unreachable!("handled above"),
    }
    Ok(())
}

/// The hostile kinds that apply to the server at hand.
fn hostile_kinds(args: &Args) -> &'static [Kind] {
    if args.mode == Mode::Modbus {
        &[
            Kind::Reset,
            Kind::Slow,
            Kind::Garbage,
            Kind::Idle,
            Kind::Half,
        ]
    } else if args.tls {
        &KINDS[1..7]
    } else {
        &KINDS[1..5]
    }
}

fn pick(ctx: &Ctx, rng: &mut Rng) -> Kind {
    // Half good; the rest spread over the hostile kinds that apply.
    let hostile = hostile_kinds(&ctx.args);
    if rng.below(2) == 0 {
        Kind::Good
    } else {
        hostile[rng.below(hostile.len() as u64) as usize]
    }
}

async fn worker(ctx: Arc<Ctx>, worker: u64) -> Vec<String> {
    let mut rng = Rng(ctx.args.seed ^ (worker + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let mut problems = Vec::new();
    let mut n = 0u64;
    while Instant::now() < ctx.deadline {
        let kind = pick(&ctx, &mut rng);
        ctx.counts.run[kind as usize].fetch_add(1, Relaxed);
        n += 1;
        let id = worker * 1_000_000 + n;
        let result = match kind {
            Kind::Good if ctx.args.faults => good_faulted(&ctx, id, &mut rng).await,
            Kind::Good => good(&ctx, id, &mut rng).await,
            other if ctx.args.mode == Mode::Modbus => hostile_modbus(&ctx, other, &mut rng).await,
            other => hostile(&ctx, other, &mut rng).await,
        };
        if let Err(e) = result {
            if kind == Kind::Good {
                ctx.counts.lost.fetch_add(1, Relaxed);
                if problems.len() < 5 {
                    problems.push(format!("good client: {e:#}"));
                }
            } else if e.downcast_ref::<WrongAnswer>().is_some() && problems.len() < 5 {
                problems.push(format!("{} client: {e:#}", kind.name()));
            }
        }
    }
    problems
}

fn main() {
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("chaos: {e:#}");
            std::process::exit(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    // --report: one thread writes the reports (to a pipe that may be slow
    // to read), so no client waits on it.
    let (report, report_writer) = match args.report.clone() {
        Some(path) => {
            let (tx, rx) = mpsc::channel::<String>();
            let writer = std::thread::spawn(move || -> std::io::Result<()> {
                let file = std::fs::OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(true)
                    .open(&path)?;
                let mut out = std::io::BufWriter::new(file);
                // An empty line: the clients are done.
                for line in rx.iter().take_while(|l| !l.is_empty()) {
                    out.write_all(line.as_bytes())?;
                    out.write_all(b"\n")?;
                }
                out.flush()
            });
            (Some(tx), Some(writer))
        }
        None => (None, None),
    };
    let good_ports = args.good_ports.clone();
    let ctx = Arc::new(Ctx {
        deadline: Instant::now() + Duration::from_secs_f64(args.seconds),
        tls: args.tls.then(connector),
        counts: Counts::default(),
        report,
        next_port: AtomicU32::new(0),
        port_uses: if args.faults {
            good_ports.map(|_| AtomicU32::new(0)).collect()
        } else {
            Vec::new()
        },
        args,
    });
    let started = Instant::now();
    let problems: Vec<String> = runtime.block_on(async {
        let mut set = tokio::task::JoinSet::new();
        for w in 0..ctx.args.clients as u64 {
            set.spawn(worker(ctx.clone(), w));
        }
        let mut all = Vec::new();
        while let Some(joined) = set.join_next().await {
            all.extend(joined.unwrap_or_else(|e| vec![format!("worker panicked: {e}")]));
        }
        all
    });
    let mut report_failed = None;
    if let (Some(report), Some(writer)) = (&ctx.report, report_writer) {
        let _ = report.send(String::new());
        match writer.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => report_failed = Some(format!("--report: {e}")),
            Err(_) => report_failed = Some("--report: the writer panicked".into()),
        }
    }
    let c = &ctx.counts;
    let kinds: Vec<String> = std::iter::once(&Kind::Good)
        .chain(hostile_kinds(&ctx.args))
        .map(|k| format!("{}={}", k.name(), c.run[*k as usize].load(Relaxed)))
        .collect();
    let hostile = if ctx.args.mode == Mode::Modbus {
        format!(
            "; hostile answers checked={} wrong={}",
            c.hostile_checked.load(Relaxed),
            c.hostile_wrong.load(Relaxed)
        )
    } else if ctx.args.faults {
        format!(
            "; good clients cut short={} (echoes missing={}), left to the fault records",
            c.cut_short.load(Relaxed),
            c.missing.load(Relaxed)
        )
    } else {
        String::new()
    };
    println!(
        "chaos: {:.0} s, {} workers: {}; good messages checked={} wrong={} lost={} slowest reply={:.1} ms; idle/stall dropped by server={} gave up={}{hostile}",
        started.elapsed().as_secs_f64(),
        ctx.args.clients,
        kinds.join(" "),
        c.checked.load(Relaxed),
        c.wrong.load(Relaxed),
        c.lost.load(Relaxed),
        c.slowest_us.load(Relaxed) as f64 / 1000.0,
        c.dropped_by_server.load(Relaxed),
        c.gave_up.load(Relaxed),
    );
    // A few of each worker's problems, at most 20 in all.
    for p in problems.iter().take(20) {
        println!("chaos: {p}");
    }
    if problems.len() > 20 {
        println!("chaos: ... and {} more problems", problems.len() - 20);
    }
    if let Some(why) = &report_failed {
        println!("chaos: {why}");
    }
    let panicked = problems.iter().any(|p| p.starts_with("worker panicked"));
    let failed = report_failed.is_some()
        || c.wrong.load(Relaxed) > 0
        || c.lost.load(Relaxed) > 0
        || c.hostile_wrong.load(Relaxed) > 0
        || panicked;
    std::process::exit(i32::from(failed));
}
