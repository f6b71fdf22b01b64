//! Section 7, proxy: `p1ge0n proxy`, socat and ncat relays in front of the
//! same `listen -q` echo server (rate, added latency, bulk), then many
//! connections held open through `p1ge0n proxy` and its memory. Its own file
//! so that what it measures can be read without the harness around it.

use std::{
    net::SocketAddr,
    path::Path,
    process::{Command, Stdio},
    time::Duration,
};

use anyhow::{anyhow, Context, Result};
use tokio::runtime::Runtime;

use crate::{
    harness::{
        bin, bulk_round, rate_round, rotation, scale_run, Config, Peer, Server, Window, LINE, MB,
    },
    host::have,
    report::{median, percentile, print_table, ratio, si, thousands, versus, Targets},
};

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

pub fn section(
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
        for i in rotation(round, relays.len()) {
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
