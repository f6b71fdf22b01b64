//! Section 7, proxy: relays in front of the same `listen -q` echo server
//! (rate, added latency, bulk), then many connections held open through
//! `p1ge0n proxy` and its memory. Its own file so that what it measures can
//! be read without the harness around it.
//!
//! The relays: `p1ge0n proxy -q`; the bare tokio proxy (this bench
//! re-executed as tokio's `examples/proxy.rs`, `tokio_proxy_server` in the
//! harness): the ceiling a tokio relay reaches without anything p1ge0n does,
//! so a loss to it is p1ge0n's own cost; socat and ncat, what people use.
//! Then a framed pair, message rate only: `proxy -q --frame line`, and the
//! same with `--fault delay=0ms` (a fault that changes nothing, so the
//! difference is what the fault machinery costs per message; run only when
//! this p1ge0n's `proxy --help` mentions `--fault`). Measured as the user
//! runs them: with `-q` and no capture, a framed proxy may not frame at all.

use std::{
    net::SocketAddr,
    path::Path,
    process::{Command, Stdio},
    time::Duration,
};

use anyhow::{anyhow, bail, Context, Result};
use tokio::runtime::Runtime;

use crate::{
    harness::{
        bin, bulk_round, group_cpu_secs, help_mentions, interleaved_latency, rate_round, rotation,
        scale_run, Config, Peer, Server, Window, LINE, MB, TOKIO_PROXY_ROLE,
    },
    host::have,
    report::{median, middle_half, percentile, print_table, ratio, si, thousands, versus, Targets},
};

/// Sets of relays started afresh for the latency turns of each round. One
/// copy of a relay adds latency that differs from another copy of the same
/// program by up to 14% for the whole life of the process (where its
/// threads and pages landed): 20 fresh pairs of tokio proxies measured
/// 0.86x to 1.12x of each other, where the slices of one pair's turns have
/// a middle half within 2-3%. A ratio of two relays therefore needs many
/// processes, not longer turns through one; and each set has a second
/// tokio proxy, whose mean with the first is the reference and whose ratio
/// to it is the run's resolution.
const LATENCY_SETS: usize = 4;

/// A relay in front of the same echo server.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Relay {
    P1ge0n,
    TokioProxy,
    Socat,
    Ncat,
    /// `proxy -q --frame line`: message rate only.
    Framed,
    /// The same with `--fault delay=0ms`: message rate only.
    Faulted,
}

impl Relay {
    fn label(self) -> &'static str {
        match self {
            Relay::P1ge0n => "p1ge0n proxy -q",
            Relay::TokioProxy => "bare tokio proxy",
            Relay::Socat => "socat TCP-LISTEN,fork TCP:",
            Relay::Ncat => "ncat -k --sh-exec ncat",
            Relay::Framed => "p1ge0n proxy -q --frame line",
            Relay::Faulted => "  ... --fault delay=0ms",
        }
    }

    fn tool(self) -> &'static str {
        match self {
            Relay::P1ge0n | Relay::Framed | Relay::Faulted => bin(),
            Relay::TokioProxy => "this bench",
            Relay::Socat => "socat",
            Relay::Ncat => "ncat",
        }
    }

    fn available(self) -> bool {
        self == Relay::TokioProxy || have(self.tool())
    }

    /// Whether latency and bulk are measured too (not for the framed pair).
    fn full(self) -> bool {
        !matches!(self, Relay::Framed | Relay::Faulted)
    }

    fn start(self, upstream: SocketAddr, max_conns: usize) -> Result<Server> {
        match self {
            Relay::P1ge0n | Relay::Framed | Relay::Faulted => {
                let mut cmd = Command::new(bin());
                cmd.args(["proxy", "-q", "127.0.0.1:0", &upstream.to_string()]);
                if self != Relay::P1ge0n {
                    cmd.args(["--frame", "line"]);
                }
                if self == Relay::Faulted {
                    cmd.args(["--fault", "delay=0ms"]);
                }
                Server::launch_and_parse(cmd, Stdio::null(), None)
            }
            Relay::TokioProxy => {
                let mut cmd = Command::new(std::env::current_exe()?);
                cmd.env(TOKIO_PROXY_ROLE, upstream.to_string());
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
    /// The relay's CPU time (all its processes) per message of the rate
    /// round, in microseconds: what the rate comes down to once the cores
    /// are saturated, and much steadier than the rate itself.
    cpu_us: Vec<f64>,
    p50_us: Vec<f64>,
    /// p50 minus the direct p50 of the same turns.
    added_us: Vec<f64>,
    bulk: Vec<f64>,
}

pub fn section(
    cfg: &Config,
    rt: &Runtime,
    dir: &Path,
    nofile: u64,
    targets: &mut Targets,
) -> Result<()> {
    let has_fault = help_mentions(&["proxy"], "--fault");
    let relays: Vec<Relay> = [
        Relay::P1ge0n,
        Relay::TokioProxy,
        Relay::Socat,
        Relay::Ncat,
        Relay::Framed,
        Relay::Faulted,
    ]
    .into_iter()
    .filter(|r| r.available() && (*r != Relay::Faulted || has_fault))
    .collect();
    let dur = Duration::from_secs_f64(cfg.rate_secs);
    let total = cfg.bulk_mb * 1_000_000;
    println!(
        "\n## 7. Proxy: each relay in front of the same `p1ge0n listen -q` echo server; {} clients \
         x {LINE}-byte lines, 1 client taking turns between the relays and the echo server \
         (latency; {LATENCY_SETS} sets of relays started afresh per round, each with a 2nd tokio \
         proxy), 1 stream of {} MB (the framed pair: the {} clients only); {} rounds",
        cfg.clients, cfg.bulk_mb, cfg.clients, cfg.rounds
    );
    if !has_fault {
        println!("--fault delay=0ms skipped: this p1ge0n has no --fault");
    }
    let upstream = Server::start(Peer::Quiet, dir, 20_000)?;
    let mut results: Vec<RelayRound> = relays.iter().map(|_| RelayRound::default()).collect();
    let mut direct_p50 = Vec::new();
    // The second tokio proxy's added latency, one per latency set.
    let mut tokio_copy_added = Vec::new();
    for round in 0..cfg.rounds {
        // Every relay of the round runs at once: the latency turns go
        // through all of them together.
        let servers = relays
            .iter()
            .map(|relay| relay.start(upstream.addr, cfg.clients + 8))
            .collect::<Result<Vec<_>>>()?;
        for i in rotation(round, relays.len()) {
            let cpu_before = group_cpu_secs(servers[i].pid());
            let many = rt
                .block_on(rate_round(servers[i].addr, cfg.clients, dur))
                .with_context(|| format!("{} rate round {}", relays[i].label(), round + 1))?;
            let cpu = group_cpu_secs(servers[i].pid()) - cpu_before;
            results[i].rate.push(many.msgs as f64 / many.secs);
            results[i].cpu_us.push(cpu * 1e6 / many.msgs.max(1) as f64);
        }
        // The added latency: one client taking turns between the echo
        // server itself and each relay in front of it (harness,
        // `interleaved_latency`), so each relay's p50 and the direct one
        // come from the same moments; in LATENCY_SETS sets of relays
        // started afresh, with a second copy of the tokio proxy in each.
        let full: Vec<usize> = (0..relays.len()).filter(|&i| relays[i].full()).collect();
        for set in 0..LATENCY_SETS {
            let fresh = full
                .iter()
                .map(|&i| relays[i].start(upstream.addr, 8))
                .collect::<Result<Vec<_>>>()?;
            let copy = Relay::TokioProxy.start(upstream.addr, 8)?;
            let mut addrs = vec![upstream.addr];
            addrs.extend(fresh.iter().map(|server| server.addr));
            addrs.push(copy.addr);
            let mut lat = interleaved_latency(&addrs, dur / LATENCY_SETS as u32)
                .with_context(|| format!("latency turns, round {} set {}", round + 1, set + 1))?;
            if lat.iter().any(Vec::is_empty) {
                bail!(
                    "latency set {} of round {}: too short for turns past the warm-up \
                     (raise P1GE0N_BENCH_SECS)",
                    set + 1,
                    round + 1
                );
            }
            let p50_us = |lat: &mut Vec<u64>| {
                lat.sort_unstable();
                percentile(lat, 50.0) as f64 / 1e3
            };
            let direct = p50_us(&mut lat[0]);
            direct_p50.push(direct);
            for (k, &i) in full.iter().enumerate() {
                let p50 = p50_us(&mut lat[k + 1]);
                results[i].p50_us.push(p50);
                results[i].added_us.push(p50 - direct);
            }
            let copy_added = p50_us(lat.last_mut().expect("the copy's turns")) - direct;
            tokio_copy_added.push(copy_added);
        }
        for i in rotation(round, relays.len()) {
            if !relays[i].full() {
                continue;
            }
            let limit = Duration::from_secs(10 + cfg.bulk_mb);
            let bulk = rt
                .block_on(async {
                    tokio::time::timeout(limit, bulk_round(servers[i].addr, total, Window::Stream))
                        .await
                })
                .unwrap_or_else(|_| Err(anyhow!("over {limit:?}")));
            results[i]
                .bulk
                .push(bulk.map_or(f64::NAN, |secs| total as f64 / MB / secs));
        }
        drop(servers);
        let sets = round * LATENCY_SETS..(round + 1) * LATENCY_SETS;
        let this_round = |v: &Vec<f64>| median(v.get(sets.clone()).unwrap_or_default());
        println!(
            "  round {} direct p50 {:.1} us; 2nd tokio proxy added {:.1} us (medians of {LATENCY_SETS} latency sets)",
            round + 1,
            this_round(&direct_p50),
            this_round(&tokio_copy_added),
        );
        for (relay, r) in relays.iter().zip(&results) {
            let rate = si(*r.rate.last().unwrap());
            match relay.full() {
                true => println!(
                    "  round {} {:<28} {:>9} msgs/s  {:.2} us CPU/msg  p50 {:>5.1} us (+{:.1})  {:>6.0} MB/s",
                    round + 1,
                    relay.label(),
                    rate,
                    r.cpu_us.last().unwrap(),
                    this_round(&r.p50_us),
                    this_round(&r.added_us),
                    r.bulk.last().unwrap()
                ),
                false => println!(
                    "  round {} {:<28} {:>9} msgs/s  {:.2} us CPU/msg",
                    round + 1,
                    relay.label(),
                    rate,
                    r.cpu_us.last().unwrap()
                ),
            }
        }
    }
    let direct = median(&direct_p50);
    // The median of one relay's figure (NaN when that relay did not run).
    let of = |relay: Relay, f: fn(&RelayRound) -> &Vec<f64>| {
        relays
            .iter()
            .position(|&r| r == relay)
            .map_or(f64::NAN, |i| median(f(&results[i])))
    };
    // The median over rounds (latency: over sets) of figure `f` of the
    // relay at `a` over that of the relay at `b`, each ratio from the same
    // moments.
    let per_round = |a: usize, b: usize, f: fn(&RelayRound) -> &Vec<f64>| {
        let ratios: Vec<f64> = f(&results[a])
            .iter()
            .zip(f(&results[b]))
            .map(|(a, b)| a / b)
            .collect();
        median(&ratios)
    };
    let index = |relay: Relay| relays.iter().position(|&r| r == relay);
    // `relay`'s added latency over the one at `i`'s, per latency set
    // (higher: the one at `i` adds less).
    let added_vs = |relay: Relay, i: usize| {
        index(relay).map_or(f64::NAN, |j| per_round(j, i, |r| &r.added_us))
    };
    // The bare tokio proxy's added latency in each latency set: the mean
    // of its two copies there, since one copy of a program differs from
    // another by several percent for its whole life.
    let tokio_reference: Vec<f64> = index(Relay::TokioProxy).map_or(Vec::new(), |j| {
        results[j]
            .added_us
            .iter()
            .zip(&tokio_copy_added)
            .map(|(a, b)| (a + b) / 2.0)
            .collect()
    });
    // Per set, that reference over the added latency of the relay at `i`
    // (higher: the one at `i` adds less).
    let vs_tokio_reference = |i: usize| -> Vec<f64> {
        tokio_reference
            .iter()
            .zip(&results[i].added_us)
            .map(|(t, a)| t / a)
            .collect()
    };
    // How finely this run tells two relays apart: the tokio proxy against
    // its own second copy, set by set.
    let tokio_vs_copy: Vec<f64> = index(Relay::TokioProxy).map_or(Vec::new(), |j| {
        tokio_copy_added
            .iter()
            .zip(&results[j].added_us)
            .map(|(copy, first)| copy / first)
            .collect()
    });
    // The CPU per message of the relay at `i` over `relay`'s (lower: the
    // one at `i` spends less).
    let cpu_vs =
        |relay: Relay, i: usize| index(relay).map_or(f64::NAN, |j| per_round(i, j, |r| &r.cpu_us));
    let (socat_rate, socat_bulk) = (of(Relay::Socat, |r| &r.rate), of(Relay::Socat, |r| &r.bulk));
    let (tokio_rate, tokio_bulk) = (
        of(Relay::TokioProxy, |r| &r.rate),
        of(Relay::TokioProxy, |r| &r.bulk),
    );
    let tokio_added = median(&tokio_reference);
    let socat_added = of(Relay::Socat, |r| &r.added_us);
    let mut rows = Vec::new();
    for (i, relay) in relays.iter().enumerate() {
        let r = &results[i];
        let (rate, p50, bulk) = (median(&r.rate), median(&r.p50_us), median(&r.bulk));
        let added = median(&r.added_us);
        let lat_vs_tokio = median(&vs_tokio_reference(i));
        let cpu = median(&r.cpu_us);
        let cpu_vs_tokio = cpu_vs(Relay::TokioProxy, i);
        let shown = |v: f64, text: String| if v.is_finite() { text } else { "-".into() };
        rows.push(vec![
            relay.label().to_string(),
            thousands(rate as u64),
            ratio(rate, tokio_rate),
            ratio(rate, socat_rate),
            shown(cpu, format!("{cpu:.2}")),
            // Lower is better: this one's CPU per message over tokio's.
            shown(cpu_vs_tokio, format!("{cpu_vs_tokio:.2}x")),
            shown(p50, format!("{p50:.1}")),
            shown(added, format!("{added:.1}")),
            // Lower is better: the tokio proxy's added latency over this one's.
            shown(lat_vs_tokio, format!("{lat_vs_tokio:.2}x")),
            shown(bulk, format!("{bulk:.0}")),
            ratio(bulk, tokio_bulk),
            ratio(bulk, socat_bulk),
        ]);
        if *relay == Relay::P1ge0n {
            let lat_vs_socat = added_vs(Relay::Socat, i);
            targets.add(
                "proxy >= 1.0x bare tokio proxy msgs/s",
                versus(rate, tokio_rate, "msgs/s"),
                tokio_rate.is_finite().then_some(rate >= tokio_rate),
            );
            targets.add(
                "proxy bulk >= 1.0x bare tokio proxy MB/s",
                versus(bulk, tokio_bulk, "MB/s"),
                tokio_bulk.is_finite().then_some(bulk >= tokio_bulk),
            );
            targets.add(
                "proxy added p50 latency <= bare tokio proxy's",
                format!(
                    "{added:.1} us vs {tokio_added:.1} us; median per-set ratio {lat_vs_tokio:.3}x \
                     (tokio's / p1ge0n's, interleaved turns; middle half {}; tokio against \
                     its 2nd copy: {:.3}x, middle half {})",
                    middle_half(&vs_tokio_reference(i)),
                    median(&tokio_vs_copy),
                    middle_half(&tokio_vs_copy),
                ),
                lat_vs_tokio.is_finite().then_some(lat_vs_tokio >= 1.0),
            );
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
                format!(
                    "{added:.1} us vs {socat_added:.1} us; median per-set ratio {lat_vs_socat:.3}x \
                     (socat's / p1ge0n's)"
                ),
                lat_vs_socat
                    .is_finite()
                    .then_some(lat_vs_socat >= 1.0 / 1.2),
            );
        }
    }
    print_table(
        &format!(
            "proxy (medians; CPU us/msg = the relay's CPU time (all its processes) per message \
             of the rate round; CPU vs tokio = the median over rounds of this one's / tokio's, \
             lower is better; direct p50 to the echo server {direct:.1} us; added = p50 - direct \
             of the same latency turns; lat vs tokio = the median over latency sets of tokio's \
             added (the mean of its two copies) / this one's, higher is better)"
        ),
        &[
            "relay",
            "msgs/s",
            "vs tokio",
            "vs socat",
            "CPU us/msg",
            "CPU vs tokio",
            "p50 us",
            "added us",
            "lat vs tokio",
            "MB/s",
            "vs tokio",
            "vs socat",
        ],
        &rows,
    );
    let (framed, faulted) = (
        of(Relay::Framed, |r| &r.rate),
        of(Relay::Faulted, |r| &r.rate),
    );
    targets.add(
        "proxy --frame line --fault delay=0ms >= 0.8x --frame line msgs/s",
        if has_fault {
            versus(faulted, framed, "msgs/s")
        } else {
            "skipped: this p1ge0n has no --fault".into()
        },
        (faulted.is_finite() && framed.is_finite()).then_some(faulted >= 0.8 * framed),
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
