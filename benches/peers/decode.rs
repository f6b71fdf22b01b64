//! Section 8, decoding: a Modbus-shaped load (64-byte MBAP requests)
//! against `listen -f text` and `listen --decode modbus`, records to a
//! file; the same for an EtherNet/IP-shaped load (64-byte SendRRData with a
//! Logix Read Tag) and an IEC-104-shaped one (60-byte I frames of six
//! `M_ME_NC_1` floats). Its own file so that what it measures, and its
//! clients, can be read without the harness around it.

use std::{fs, net::SocketAddr, path::Path, time::Duration};

use anyhow::{anyhow, bail, Context, Result};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    runtime::Runtime,
    task::JoinSet,
};

use crate::{
    harness::{rotation, Config, Peer, Server, LINE},
    report::{median, print_table, ratio, si, thousands, versus, Targets},
};

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

/// A 64-byte EtherNet/IP SendRRData: an unconnected Logix Read Tag of an
/// 18-character tag, session = client, sender context = sequence number.
fn enip_message(id: usize, seq: u64) -> Vec<u8> {
    let mut m = vec![0x6f, 0x00, 40, 0x00];
    m.extend((id as u32).to_le_bytes());
    m.extend([0; 4]);
    m.extend(seq.to_le_bytes());
    m.extend([0; 4]);
    m.extend([0, 0, 0, 0, 0, 0, 2, 0]);
    m.extend([0, 0, 0, 0, 0xb2, 0, 24, 0]);
    m.extend([0x4c, 10, 0x91, 18]);
    m.extend(format!("SCADA_TAG_{:08}", id % 100_000_000).as_bytes());
    m.extend([1, 0]);
    debug_assert_eq!(m.len(), 64);
    m
}

/// A 60-byte IEC-104 I frame: N(S) = sequence number, six `M_ME_NC_1`
/// objects (IOA from the client, a float, QDS 0), cause spontaneous.
fn iec104_message(id: usize, seq: u64) -> Vec<u8> {
    let ns = ((seq as u16) & 0x7fff) << 1;
    let mut m = vec![0x68, 58];
    m.extend(ns.to_le_bytes());
    m.extend([0, 0]);
    m.extend([13, 6, 3, 0, 1, 0]);
    for k in 0..6u32 {
        let ioa = (id as u32 * 8 + k) & 0xff_ffff;
        m.extend(&ioa.to_le_bytes()[..3]);
        m.extend((seq as f32 + k as f32).to_le_bytes());
        m.push(0);
    }
    debug_assert_eq!(m.len(), 60);
    m
}

/// `clients` connections each sending one `message(client, seq)` at a time
/// and checking its echo, for `dur`: messages per second.
async fn shaped_round(
    addr: SocketAddr,
    clients: usize,
    dur: Duration,
    message: fn(usize, u64) -> Vec<u8>,
) -> Result<f64> {
    let start = tokio::time::Instant::now() + Duration::from_millis(50);
    let deadline = start + dur;
    let mut set = JoinSet::new();
    for id in 0..clients {
        set.spawn(async move {
            let mut s = TcpStream::connect(addr).await?;
            s.set_nodelay(true)?;
            let mut back = message(id, 0);
            let mut seq = 0u64;
            tokio::time::sleep_until(start).await;
            while tokio::time::Instant::now() < deadline {
                let m = message(id, seq);
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

/// One load: the protocol, the text server (framing only) and the decoding
/// one, the message shape, and the share of the text rate decoding must
/// keep.
struct Load {
    name: &'static str,
    text: Peer,
    decoded: Peer,
    message: fn(usize, u64) -> Vec<u8>,
    target: f64,
}

pub fn section(cfg: &Config, rt: &Runtime, dir: &Path, targets: &mut Targets) -> Result<()> {
    let dur = Duration::from_secs_f64(cfg.rate_secs);
    println!(
        "\n## 8. Decoding: {} clients x Modbus/TCP (64 bytes), EtherNet/IP (64) and IEC-104 (60) messages, 1 in flight each, records to a file, {:.1} s x {} rounds",
        cfg.clients, cfg.rate_secs, cfg.rounds
    );
    let loads = [
        Load {
            name: "modbus",
            text: Peer::ModbusText,
            decoded: Peer::ModbusDecoded,
            message: |id, seq| modbus_message(id, seq).to_vec(),
            target: 0.8,
        },
        Load {
            name: "enip",
            text: Peer::EnipText,
            decoded: Peer::EnipDecoded,
            message: enip_message,
            target: 0.85,
        },
        Load {
            name: "iec104",
            text: Peer::Iec104Text,
            decoded: Peer::Iec104Decoded,
            message: iec104_message,
            target: 0.85,
        },
    ];
    for load in &loads {
        let peers = [load.text, load.decoded];
        let mut rates = vec![Vec::new(); 2];
        for round in 0..cfg.rounds {
            for i in rotation(round, 2) {
                let server = Server::start(peers[i], dir, cfg.clients)?;
                let rate = rt
                    .block_on(shaped_round(server.addr, cfg.clients, dur, load.message))
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
            &format!("{}-shaped load (medians)", load.name),
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
            &format!(
                "listen --decode {} >= {}x listen -f text msgs/s",
                load.name, load.target
            ),
            versus(decoded, plain, "msgs/s"),
            Some(decoded >= load.target * plain),
        );
    }
    Ok(())
}
