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
//! It prints the counts per kind and exits 1 if any well-behaved client
//! saw a wrong byte or lost its connection, 0 otherwise. Every wait is
//! bounded.

use std::{
    net::SocketAddr,
    sync::{
        atomic::{AtomicU64, Ordering::Relaxed},
        Arc,
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
}

const HELP: &str = "\
chaos --target IP:PORT [--mode echo|rules|serve] [--seconds S] [--clients N]
      [--tls] [--idle-wait S] [--seed N] [--big BYTES]";

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
                    other => bail!("--mode {other}: expected echo, rules or serve"),
                }
            }
            "--seconds" => args.seconds = value()?.parse().context("--seconds")?,
            "--clients" => args.clients = value()?.parse().context("--clients")?,
            "--tls" => args.tls = true,
            "--idle-wait" => args.idle_wait = Duration::from_secs_f64(value()?.parse()?),
            "--seed" => args.seed = value()?.parse().context("--seed")?,
            "--big" => args.big = value()?.parse().context("--big")?,
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
}

const KINDS: [Kind; 7] = [
    Kind::Good,
    Kind::Reset,
    Kind::Slow,
    Kind::Garbage,
    Kind::Idle,
    Kind::TlsStall,
    Kind::TlsAbort,
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
        }
    }
}

/// Per kind: clients run, and how their ends went.
#[derive(Default)]
struct Counts {
    run: [AtomicU64; 7],
    /// Good clients: messages whose reply was checked and right.
    checked: AtomicU64,
    /// Good clients: a wrong byte (fails the run).
    wrong: AtomicU64,
    /// Good clients: lost the connection or timed out (fails the run).
    lost: AtomicU64,
    /// Idle and TLS-stall clients the server dropped (vs gave up on).
    dropped_by_server: AtomicU64,
    gave_up: AtomicU64,
}

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
fn conversation(mode: Mode, max: usize, id: u64, rng: &mut Rng) -> Vec<(Vec<u8>, Vec<u8>)> {
    let big = max > 64 && rng.below(4) == 0;
    match mode {
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
    }
}

async fn good(ctx: &Ctx, id: u64, rng: &mut Rng) -> Result<()> {
    let mut s = open(ctx).await?;
    for (request, expected) in conversation(ctx.args.mode, ctx.args.big, id, rng) {
        s.write_all(&request).await?;
        s.flush().await?;
        let mut reply = vec![0u8; expected.len()];
        bounded("reply", async { Ok(s.read_exact(&mut reply).await?) }).await?;
        if reply != expected {
            ctx.counts.wrong.fetch_add(1, Relaxed);
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

fn pick(ctx: &Ctx, rng: &mut Rng) -> Kind {
    // Half good; the rest spread over the hostile kinds that apply.
    let hostile: &[Kind] = if ctx.args.tls {
        &KINDS[1..]
    } else {
        &KINDS[1..5]
    };
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
            Kind::Good => good(&ctx, id, &mut rng).await,
            other => hostile(&ctx, other, &mut rng).await,
        };
        if let Err(e) = result {
            if kind == Kind::Good {
                ctx.counts.lost.fetch_add(1, Relaxed);
                if problems.len() < 5 {
                    problems.push(format!("{e:#}"));
                }
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
    let ctx = Arc::new(Ctx {
        deadline: Instant::now() + Duration::from_secs_f64(args.seconds),
        tls: args.tls.then(connector),
        counts: Counts::default(),
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
    let c = &ctx.counts;
    let kinds: Vec<String> = KINDS
        .iter()
        .map(|k| format!("{}={}", k.name(), c.run[*k as usize].load(Relaxed)))
        .collect();
    println!(
        "chaos: {:.0} s, {} workers: {}; good messages checked={} wrong={} lost={}; idle/stall dropped by server={} gave up={}",
        started.elapsed().as_secs_f64(),
        ctx.args.clients,
        kinds.join(" "),
        c.checked.load(Relaxed),
        c.wrong.load(Relaxed),
        c.lost.load(Relaxed),
        c.dropped_by_server.load(Relaxed),
        c.gave_up.load(Relaxed),
    );
    for p in &problems {
        println!("chaos: good client: {p}");
    }
    let panicked = problems.iter().any(|p| p.starts_with("worker panicked"));
    let failed = c.wrong.load(Relaxed) > 0 || c.lost.load(Relaxed) > 0 || panicked;
    std::process::exit(i32::from(failed));
}
