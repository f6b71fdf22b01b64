//! Section 2, bulk stream: one client, 64 KiB writes and a concurrent
//! reader, as a plain stream and with a 128 KiB window, against `listen -q`,
//! the bare tokio echo (the ceiling), socat and ncat. Its own file so that
//! what it measures can be read without the harness around it.

use std::{path::Path, time::Duration};

use anyhow::{anyhow, bail, Result};
use tokio::runtime::Runtime;

use crate::{
    harness::{bulk_round, rotation, Config, Peer, Server, Window, CHUNK, MB},
    report::{median, print_table, ratio, versus, Targets},
};

pub fn section(cfg: &Config, rt: &Runtime, dir: &Path, targets: &mut Targets) -> Result<()> {
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
            for i in rotation(round, peers.len()) {
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
