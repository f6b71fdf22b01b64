//! The Modbus RTU machinery of the gateway section (11) and the serial
//! one-shot (section 4): a serial line, a device on it, and the clients
//! that read registers through a gateway or off the line itself.
//!
//! - The line: a socat pty pair (`socat -d -d pty,raw,echo=0,link=A
//!   pty,raw,echo=0,link=B`), what the end-to-end tests use; what is
//!   written on end A is read on end B and back. A fresh pair per server
//!   per round, so nothing one server left on a line meets the next.
//! - The device: this bench binary re-executed as an RTU server
//!   ([`rtu_server`]), on end B of a line or listening on TCP (RTU over
//!   TCP). It answers read-holding-registers (function 3) with
//!   [`register`]'s values and a CRC-16/MODBUS, and frames requests by
//!   their function code's length, so it takes no time of its own to see
//!   that a request ended; the same code serves every gateway, so they
//!   differ only in themselves. Its own process, so that its time is not the
//!   load generator's.
//! - The clients: Modbus/TCP (MBAP) read-holding requests from K
//!   concurrent connections, one in flight each ([`mbap_round`]), and an RTU
//!   master straight on end A with no gateway ([`rtu_direct_round`]): what
//!   the line and the device cost alone. Every reply is checked byte for
//!   byte against the one [`register`] makes; a wrong one ends the run
//!   with an error.

use std::{
    fs::{File, OpenOptions},
    io::{self, Read, Write},
    net::{SocketAddr, TcpListener as StdListener},
    os::{fd::AsRawFd, unix::fs::OpenOptionsExt},
    path::Path,
    process::Command,
    thread,
    time::{Duration, Instant},
};

use anyhow::{anyhow, bail, Context, Result};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    task::JoinSet,
};

use crate::harness::{unique_path, Server};

/// The unit every request goes to.
pub const UNIT: u8 = 1;
/// Registers per request: `read-holding unit=1 addr=0 count=10`.
pub const COUNT: u16 = 10;
/// The line speed given to the gateways (a pty ignores it; the gateways'
/// timers and silences scale with it).
pub const BAUD: u32 = 115_200;
/// How long a reply may take before the run fails (the gateways answer
/// 0x0B after 1 s).
const REPLY_LIMIT: Duration = Duration::from_secs(5);

/// Set in the environment of a copy of this bench that is to be the RTU
/// device: `serial:PATH` (end B of a line) or `tcp` (RTU over TCP on a
/// port of its choosing, said on stderr as `listening on ADDR`).
pub const RTU_SERVER_ROLE: &str = "P1GE0N_BENCH_RTU_SERVER";

/// What the device says on stderr once it has its end of the line open.
const DEVICE_READY: &str = "rtu device ready";

/// Holding register `addr`'s value: deterministic, and different for
/// neighbours (the end-to-end tests' pymodbus device has the same).
pub fn register(addr: u16) -> u16 {
    addr.wrapping_mul(7)
}

/// CRC-16/MODBUS (reflected 0x8005, start 0xFFFF); on the wire low byte
/// first.
pub fn crc16(bytes: &[u8]) -> u16 {
    let mut crc: u16 = 0xffff;
    for &b in bytes {
        crc ^= u16::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xa001
            } else {
                crc >> 1
            };
        }
    }
    crc
}

fn with_crc(mut frame: Vec<u8>) -> Vec<u8> {
    let crc = crc16(&frame);
    frame.extend_from_slice(&crc.to_le_bytes());
    frame
}

/// The PDU of a read-holding-registers request.
fn request_pdu(unit: u8, addr: u16, count: u16) -> Vec<u8> {
    let mut pdu = vec![unit, 3];
    pdu.extend_from_slice(&addr.to_be_bytes());
    pdu.extend_from_slice(&count.to_be_bytes());
    pdu
}

/// The PDU of its answer: unit, 3, byte count, the registers.
fn reply_pdu(unit: u8, addr: u16, count: u16) -> Vec<u8> {
    let mut pdu = vec![unit, 3, (2 * count) as u8];
    for k in 0..count {
        pdu.extend_from_slice(&register(addr.wrapping_add(k)).to_be_bytes());
    }
    pdu
}

fn mbap(tid: u16, pdu: &[u8]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(6 + pdu.len());
    frame.extend_from_slice(&tid.to_be_bytes());
    frame.extend_from_slice(&[0, 0]);
    frame.extend_from_slice(&(pdu.len() as u16).to_be_bytes());
    frame.extend_from_slice(pdu);
    frame
}

/// The register values of `read-holding addr=ADDR count=COUNT` as
/// `p1ge0n send` shows them (`values: 0 7 14 ...`).
pub fn shown_values(addr: u16) -> String {
    let values: Vec<String> = (0..COUNT)
        .map(|k| register(addr.wrapping_add(k)).to_string())
        .collect();
    format!("values: {}", values.join(" "))
}

// ------------------------------------------------------------ the device

/// The RTU device (this bench re-executed with [`RTU_SERVER_ROLE`]).
pub fn rtu_server(spec: &str) -> ! {
    let result = match spec.strip_prefix("serial:") {
        Some(path) => serve_line(path),
        None => serve_tcp(),
    };
    eprintln!("rtu device: {result:?}");
    std::process::exit(1)
}

fn serve_line(path: &str) -> io::Result<()> {
    let line = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY)
        .open(path)?;
    // SAFETY: tcflush on a descriptor we own; stale input is dropped.
    unsafe { libc::tcflush(line.as_raw_fd(), libc::TCIOFLUSH) };
    eprintln!("{DEVICE_READY} on {path}");
    answer(&line, &line)
}

fn serve_tcp() -> io::Result<()> {
    let listener = StdListener::bind("127.0.0.1:0")?;
    eprintln!("listening on {} (tcp)", listener.local_addr()?);
    for stream in listener.incoming() {
        let stream = stream?;
        stream.set_nodelay(true)?;
        thread::spawn(move || answer(&stream, &stream));
    }
    Ok(())
}

/// Read requests and answer them until the other side closes. A request
/// ends where its function code says (8 bytes for function 3); anything
/// else on the line (another function, a bad CRC) is logged and dropped,
/// as a device would, so the gateway times out and the run fails.
fn answer(mut from: impl Read, mut to: impl Write) -> io::Result<()> {
    let mut pending: Vec<u8> = Vec::with_capacity(256);
    let mut chunk = [0u8; 256];
    loop {
        let n = from.read(&mut chunk)?;
        if n == 0 {
            return Ok(());
        }
        pending.extend_from_slice(&chunk[..n]);
        while pending.len() >= 2 {
            if pending[1] != 3 {
                eprintln!("rtu device: dropped {pending:02x?}: not function 3");
                pending.clear();
                break;
            }
            if pending.len() < 8 {
                break;
            }
            let request: Vec<u8> = pending.drain(..8).collect();
            if crc16(&request[..6]).to_le_bytes() != request[6..] {
                eprintln!("rtu device: dropped {request:02x?}: bad CRC");
                continue;
            }
            let unit = request[0];
            let addr = u16::from_be_bytes([request[2], request[3]]);
            let count = u16::from_be_bytes([request[4], request[5]]);
            let reply = if !(1..=125).contains(&count) {
                vec![unit, 0x83, 3]
            } else if u32::from(addr) + u32::from(count) > 0x1_0000 {
                vec![unit, 0x83, 2]
            } else {
                reply_pdu(unit, addr, count)
            };
            to.write_all(&with_crc(reply))?;
        }
    }
}

// ------------------------------------------------------ lines and devices

/// A socat pty pair: what goes into end A comes out of end B and back.
pub struct Line {
    pub a: String,
    pub b: String,
    _socat: Server,
}

impl Line {
    pub fn new(dir: &Path) -> Result<Line> {
        let a = unique_path(dir, "line", "a").display().to_string();
        let b = unique_path(dir, "line", "b").display().to_string();
        let mut cmd = Command::new("socat");
        cmd.args([
            "-d",
            "-d",
            &format!("pty,raw,echo=0,link={a}"),
            &format!("pty,raw,echo=0,link={b}"),
        ]);
        // socat says this once both ends exist.
        let socat =
            Server::launch_until(cmd, "starting data transfer loop").context("socat pty pair")?;
        Ok(Line {
            a,
            b,
            _socat: socat,
        })
    }
}

/// The RTU device on end B of `line`, once it has the line open.
pub fn device_on(line: &Line) -> Result<Server> {
    let mut cmd = Command::new(std::env::current_exe()?);
    cmd.env(RTU_SERVER_ROLE, format!("serial:{}", line.b));
    Server::launch_until(cmd, DEVICE_READY)
}

/// The RTU device listening on TCP (RTU over TCP).
pub fn device_on_tcp() -> Result<Server> {
    let mut cmd = Command::new(std::env::current_exe()?);
    cmd.env(RTU_SERVER_ROLE, "tcp");
    Server::launch_and_parse(cmd, std::process::Stdio::null(), None)
}

// --------------------------------------------------------------- clients

/// What one load did: requests answered, over how long, and each one's
/// round trip.
pub struct ModbusRound {
    pub requests: u64,
    pub secs: f64,
    pub lat_ns: Vec<u64>,
}

/// Client `id`'s `seq`th request's first register: spread over 0..2000 so
/// consecutive replies differ.
fn request_addr(id: usize, seq: u64) -> u16 {
    ((id as u64 * 131 + seq * 7) % 2000) as u16
}

/// `clients` Modbus/TCP connections to a gateway at `addr`, each with one
/// read-holding request in flight, for `dur`; each reply checked byte for
/// byte.
pub async fn mbap_round(addr: SocketAddr, clients: usize, dur: Duration) -> Result<ModbusRound> {
    // One by one: a gateway may accept slowly (mbusd's select loop).
    let mut streams = Vec::with_capacity(clients);
    for _ in 0..clients {
        let s = tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(addr))
            .await
            .map_err(|_| anyhow!("connect to {addr} over 5 s"))??;
        s.set_nodelay(true)?;
        streams.push(s);
    }
    let start = tokio::time::Instant::now() + Duration::from_millis(20);
    let deadline = start + dur;
    let mut set = JoinSet::new();
    for (id, s) in streams.into_iter().enumerate() {
        set.spawn(mbap_client(id, s, start, deadline));
    }
    let (requests, secs, lat_ns) = crate::harness::gather(
        set,
        start,
        deadline + REPLY_LIMIT + Duration::from_secs(5),
        "clients still waiting for replies after the deadline",
    )
    .await?;
    Ok(ModbusRound {
        requests,
        secs,
        lat_ns,
    })
}

async fn mbap_client(
    id: usize,
    mut s: TcpStream,
    start: tokio::time::Instant,
    deadline: tokio::time::Instant,
) -> Result<(u64, Vec<u64>, tokio::time::Instant)> {
    let mut lat = Vec::with_capacity(1 << 12);
    let mut back = vec![0u8; 260];
    let mut seq = 0u64;
    tokio::time::sleep_until(start).await;
    while tokio::time::Instant::now() < deadline {
        let tid = seq as u16;
        let addr = request_addr(id, seq);
        let request = mbap(tid, &request_pdu(UNIT, addr, COUNT));
        let expected = mbap(tid, &reply_pdu(UNIT, addr, COUNT));
        let t0 = Instant::now();
        s.write_all(&request).await?;
        let got = tokio::time::timeout(REPLY_LIMIT, async {
            s.read_exact(&mut back[..7]).await?;
            let len = usize::from(u16::from_be_bytes([back[4], back[5]]));
            let end = (6 + len).clamp(7, back.len());
            s.read_exact(&mut back[7..end]).await?;
            Ok::<_, anyhow::Error>(end)
        })
        .await
        .map_err(|_| anyhow!("client {id}: no reply to request #{seq} in {REPLY_LIMIT:?}"))??;
        lat.push(t0.elapsed().as_nanos() as u64);
        if back[..got] != expected[..] {
            bail!(
                "client {id}: reply #{seq} to {request:02x?} is {:02x?}, not {expected:02x?}",
                &back[..got]
            );
        }
        seq += 1;
    }
    Ok((seq, lat, tokio::time::Instant::now()))
}

/// An RTU master on end A of `line` with no gateway: one request in flight,
/// for `dur`; each reply checked byte for byte. Blocking, every read bounded
/// by `poll`.
pub fn rtu_direct_round(line: &Line, dur: Duration) -> Result<ModbusRound> {
    let mut port: File = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY)
        .open(&line.a)
        .with_context(|| format!("open {}", line.a))?;
    // SAFETY: tcflush on a descriptor we own.
    unsafe { libc::tcflush(port.as_raw_fd(), libc::TCIOFLUSH) };
    let mut lat = Vec::with_capacity(1 << 12);
    let mut back = vec![0u8; 260];
    let started = Instant::now();
    let deadline = started + dur;
    let mut seq = 0u64;
    while Instant::now() < deadline {
        let addr = request_addr(0, seq);
        let request = with_crc(request_pdu(UNIT, addr, COUNT));
        let expected = with_crc(reply_pdu(UNIT, addr, COUNT));
        let t0 = Instant::now();
        port.write_all(&request)?;
        let mut got = 0;
        while got < expected.len() {
            let mut fd = libc::pollfd {
                fd: port.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one pollfd we own.
            let ready = unsafe { libc::poll(&mut fd, 1, REPLY_LIMIT.as_millis() as i32) };
            if ready <= 0 {
                bail!("direct: no reply to request #{seq} in {REPLY_LIMIT:?}");
            }
            let n = port.read(&mut back[got..expected.len()])?;
            if n == 0 {
                bail!("direct: the line closed");
            }
            got += n;
        }
        lat.push(t0.elapsed().as_nanos() as u64);
        if back[..got] != expected[..] {
            bail!(
                "direct: reply #{seq} is {:02x?}, not {expected:02x?}",
                &back[..got]
            );
        }
        seq += 1;
    }
    Ok(ModbusRound {
        requests: seq,
        secs: started.elapsed().as_secs_f64(),
        lat_ns: lat,
    })
}
