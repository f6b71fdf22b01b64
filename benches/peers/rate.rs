//! Section 1, message rate: 100 clients, 64-byte lines, one in flight each,
//! against every p1ge0n listen flavour (quiet, text to a file, 20 rules,
//! pcap) and socat and ncat; checks that the text display wrote a record
//! line per echoed message. Its own file so that what it measures can be
//! read without the harness around it.

use std::{
    fs::{self, File},
    io::Read,
    path::Path,
    time::Duration,
};

use anyhow::{Context, Result};
use tokio::runtime::Runtime;

use crate::{
    harness::{rate_round, rotation, Config, Peer, Server, LINE},
    report::{median, percentile, print_table, ratio, si, thousands, versus, Targets},
};

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

pub fn section(cfg: &Config, rt: &Runtime, dir: &Path, targets: &mut Targets) -> Result<()> {
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
        for i in rotation(round, peers.len()) {
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
