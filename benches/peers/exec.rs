//! Section 10, programs as devices: what a child per connection and a
//! child per message cost. Connections per second with `listen --exec cat`
//! against `ncat -l -k --sh-exec cat` and `socat TCP-LISTEN,fork
//! SYSTEM:cat` (50 clients in parallel, each: connect, one 64-byte line,
//! read it back, close); messages per second with `--exec-each cat` (8
//! clients, one line in flight each) against the floor: the same number of
//! threads each doing a bare fork+exec of `/bin/cat` per 64-byte message
//! (spawn, write, read back, wait), which no server can beat.

use std::{
    io::{Read, Write},
    net::SocketAddr,
    path::Path,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{anyhow, bail, Result};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    runtime::Runtime,
    task::JoinSet,
};

use crate::{
    harness::{rate_round, rotation, Config, Peer, Server, LINE},
    report::{median, print_table, ratio, si, Targets},
};

/// Clients opening connections in parallel.
const CONNECTORS: usize = 50;
/// Clients (and floor threads) for the per-message rate.
const MESSAGE_CLIENTS: usize = 8;

/// One round of connect, echo one line, close, from `clients` tasks for
/// `dur`: connections per second.
async fn connection_round(addr: SocketAddr, clients: usize, dur: Duration) -> Result<f64> {
    let started = tokio::time::Instant::now();
    let deadline = started + dur;
    let mut set = JoinSet::new();
    for id in 0..clients {
        set.spawn(async move {
            let mut line = [b'a' + (id % 26) as u8; LINE];
            line[LINE - 1] = b'\n';
            let mut back = [0u8; LINE];
            let mut done = 0u64;
            while tokio::time::Instant::now() < deadline {
                let once = async {
                    let mut s = TcpStream::connect(addr).await?;
                    s.set_nodelay(true)?;
                    s.write_all(&line).await?;
                    s.read_exact(&mut back).await?;
                    Ok::<_, anyhow::Error>(())
                };
                tokio::time::timeout(Duration::from_secs(5), once)
                    .await
                    .map_err(|_| anyhow!("connect + echo to {addr} over 5 s"))??;
                if back != line {
                    bail!("client {id}: the echo differs");
                }
                done += 1;
            }
            Ok::<_, anyhow::Error>(done)
        });
    }
    let mut total = 0u64;
    while let Some(joined) = set.join_next().await {
        total += joined??;
    }
    Ok(total as f64 / started.elapsed().as_secs_f64())
}

/// The floor: `threads` threads, each spawning `/bin/cat` per 64-byte
/// message (write, close, read back, wait) for `dur`: messages per second.
fn fork_exec_floor(threads: usize, dur: Duration) -> Result<f64> {
    let started = Instant::now();
    let deadline = started + dur;
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            std::thread::spawn(move || -> Result<u64> {
                let line = [b'x'; LINE];
                let mut n = 0u64;
                while Instant::now() < deadline {
                    let mut child = Command::new("/bin/cat")
                        .stdin(Stdio::piped())
                        .stdout(Stdio::piped())
                        .stderr(Stdio::null())
                        .spawn()?;
                    child.stdin.take().expect("piped").write_all(&line)?;
                    let mut back = Vec::with_capacity(LINE);
                    child.stdout.take().expect("piped").read_to_end(&mut back)?;
                    child.wait()?;
                    if back != line {
                        bail!("cat echoed {} bytes", back.len());
                    }
                    n += 1;
                }
                Ok(n)
            })
        })
        .collect();
    let mut total = 0u64;
    for h in handles {
        total += h.join().map_err(|_| anyhow!("a floor thread panicked"))??;
    }
    Ok(total as f64 / started.elapsed().as_secs_f64())
}

pub fn section(cfg: &Config, rt: &Runtime, dir: &Path, targets: &mut Targets) -> Result<()> {
    let dur = Duration::from_secs_f64(cfg.rate_secs);
    let peers: Vec<Peer> = [Peer::ExecCat, Peer::NcatShExec, Peer::SocatSystem]
        .into_iter()
        .filter(|p| p.available())
        .collect();
    println!(
        "\n## 10. Programs: connections per second with a program per connection ({CONNECTORS} clients: connect, one {LINE}-byte line, read it back, close), {:.1} s per server x {} rounds",
        cfg.rate_secs, cfg.rounds
    );
    let mut rates: Vec<Vec<f64>> = vec![Vec::new(); peers.len()];
    for round in 0..cfg.rounds {
        for i in rotation(round, peers.len()) {
            let server = Server::start(peers[i], dir, CONNECTORS)?;
            let r = rt.block_on(connection_round(server.addr, CONNECTORS, dur));
            let tail = server.tail();
            drop(server);
            let r = r.map_err(|e| anyhow!("{}: {e:#}{tail}", peers[i].label()))?;
            println!(
                "  round {} {:<42} {:>8.0} conn/s",
                round + 1,
                peers[i].label(),
                r
            );
            rates[i].push(r);
        }
    }
    let med = |p: Peer| {
        peers
            .iter()
            .position(|&q| q == p)
            .map_or(f64::NAN, |i| median(&rates[i]))
    };
    let (ours, ncat, socat) = (
        med(Peer::ExecCat),
        med(Peer::NcatShExec),
        med(Peer::SocatSystem),
    );
    let rows: Vec<Vec<String>> = peers
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let m = median(&rates[i]);
            let each: Vec<String> = rates[i].iter().map(|r| format!("{r:.0}")).collect();
            vec![
                p.label().to_string(),
                format!("{m:.0}"),
                each.join(" "),
                ratio(m, ncat),
                ratio(m, socat),
            ]
        })
        .collect();
    print_table(
        "connections per second with a program per connection (higher is better)",
        &["server", "conn/s", "rounds", "vs ncat", "vs socat"],
        &rows,
    );
    targets.add(
        "--exec cat conn/s >= 1.5x ncat --sh-exec",
        format!("{ours:.0} vs {ncat:.0} = {}", ratio(ours, ncat)),
        ncat.is_finite().then_some(ours >= 1.5 * ncat),
    );
    targets.add(
        "--exec cat conn/s >= 1.0x socat SYSTEM:cat",
        format!("{ours:.0} vs {socat:.0} = {}", ratio(ours, socat)),
        socat.is_finite().then_some(ours >= socat),
    );

    println!(
        "\n## 10b. Programs: messages per second with a program per message ({MESSAGE_CLIENTS} clients, one line in flight each) against {MESSAGE_CLIENTS} threads of bare fork+exec of /bin/cat"
    );
    let (mut each, mut floor) = (Vec::new(), Vec::new());
    for round in 0..cfg.rounds {
        let mut turns = [0, 1];
        if round % 2 == 1 {
            turns.reverse();
        }
        for turn in turns {
            if turn == 0 {
                let server = Server::start(Peer::ExecEachCat, dir, MESSAGE_CLIENTS)?;
                let r = rt.block_on(rate_round(server.addr, MESSAGE_CLIENTS, dur));
                let tail = server.tail();
                drop(server);
                let r = r.map_err(|e| anyhow!("--exec-each cat: {e:#}{tail}"))?;
                each.push(r.msgs as f64 / r.secs);
            } else {
                floor.push(fork_exec_floor(MESSAGE_CLIENTS, dur)?);
            }
        }
        println!(
            "  round {} --exec-each cat {:>8.0} msg/s, fork+exec floor {:>8.0} msg/s",
            round + 1,
            each.last().unwrap_or(&f64::NAN),
            floor.last().unwrap_or(&f64::NAN)
        );
    }
    let (e, f) = (median(&each), median(&floor));
    print_table(
        "messages per second with a program per message (higher is better)",
        &["", "msg/s", "vs floor"],
        &[
            vec![Peer::ExecEachCat.label().into(), si(e), ratio(e, f)],
            vec!["bare fork+exec of /bin/cat".into(), si(f), "1.00x".into()],
        ],
    );
    targets.add(
        "--exec-each cat msg/s within 1.5x of the fork+exec floor",
        format!("{e:.0} vs {f:.0} = {}", ratio(e, f)),
        Some(e * 1.5 >= f),
    );
    Ok(())
}
