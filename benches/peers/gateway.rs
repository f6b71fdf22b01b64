//! Section 11, gateway: Modbus/TCP clients reading holding registers from
//! an RTU device through `p1ge0n proxy --gateway modbus` and through mbusd
//! (the C gateway people use for this), on the same kind of serial line
//! (a socat pty pair, fresh per gateway per round) and the same device
//! (`rtu.rs`). Requests per second and the latency of a request, with 1
//! client and with 8 (each one request in flight; every reply checked byte
//! for byte); "added" is a request's p50 through the gateway minus the p50
//! of an RTU master straight on the line (no gateway, same device).
//!
//! Why these settings. Both gateways are quiet (`-q`; mbusd `-v 0`, no log
//! file) at 115200 baud, with no retries and a 1 s reply timeout (mbusd
//! `-N 0 -W 1000`, p1ge0n's defaults). mbusd pauses between requests (`-R`,
//! default 100 ms) and refuses less than 1 ms, so it runs at `-R 1`: its
//! rate has a ceiling under 1,000 requests/s, and the row `--turnaround
//! 1ms` shows p1ge0n held to the same pause. mbusd also waits two character
//! times (busy) before each request it writes.
//!
//! mbusd is `P1GE0N_MBUSD` (a path), else built from the source tree
//! `P1GE0N_MBUSD_SRC` into `target/bench-peers/mbusd` (its C files with
//! `cc`, the defines its CMakeLists sets by default, `-O2`: no cmake
//! needed), else `mbusd` on PATH; without one the section says "skipped: no
//! mbusd" and measures p1ge0n alone. BENCHMARKS.md says how to get it.

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, SystemTime},
};

use anyhow::{bail, Context, Result};
use tokio::runtime::Runtime;

use crate::{
    harness::{bin, output_within, rotation, target_dir, Config, Server},
    host::have,
    report::{median, percentile, print_table, ratio, thousands, versus, Targets},
    rtu::{device_on, mbap_round, rtu_direct_round, Line, BAUD},
};

/// Concurrent Modbus/TCP clients of each load.
const LOADS: [usize; 2] = [1, 8];

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Gateway {
    P1ge0n,
    /// p1ge0n held to mbusd's least pause between requests.
    P1ge0nPaced,
    Mbusd,
}

impl Gateway {
    fn label(self) -> &'static str {
        match self {
            Gateway::P1ge0n => "p1ge0n proxy -q --gateway modbus",
            Gateway::P1ge0nPaced => "p1ge0n ... --turnaround 1ms",
            Gateway::Mbusd => "mbusd -R 1",
        }
    }

    fn start(self, line: &Line, mbusd: Option<&str>) -> Result<Server> {
        match self {
            Gateway::P1ge0n | Gateway::P1ge0nPaced => {
                let mut cmd = Command::new(bin());
                cmd.args(["proxy", "-q", "127.0.0.1:0"])
                    .arg(format!("serial:{},{BAUD}", line.a))
                    .args(["--gateway", "modbus"]);
                if self == Gateway::P1ge0nPaced {
                    cmd.args(["--turnaround", "1ms"]);
                }
                Server::launch_and_parse(cmd, std::process::Stdio::null(), None)
            }
            Gateway::Mbusd => {
                let mbusd = mbusd.expect("mbusd is only listed when found");
                Server::on_free_port(|port| {
                    let mut cmd = Command::new(mbusd);
                    // Foreground, no log file, errors only; the line; the
                    // port; no retries, 1 s reply wait, least pause.
                    cmd.args(["-d", "-L", "-", "-v", "0", "-p", &line.a])
                        .args(["-s", &BAUD.to_string(), "-m", "8N1"])
                        .args(["-A", "127.0.0.1", "-P", &port.to_string()])
                        .args(["-N", "0", "-W", "1000", "-R", "1"]);
                    cmd
                })
            }
        }
    }
}

/// What one gateway did under one load, per round.
#[derive(Default, Clone)]
struct LoadRounds {
    rate: Vec<f64>,
    p50_us: Vec<f64>,
}

pub fn section(cfg: &Config, rt: &Runtime, dir: &Path, targets: &mut Targets) -> Result<()> {
    println!(
        "\n## 11. Gateway: Modbus/TCP read-holding (unit 1, 10 registers) through each gateway to \
         one RTU device on a socat pty pair at {BAUD} baud; 1 and 8 clients, one request in \
         flight each, {} s each; {} rounds",
        cfg.rate_secs, cfg.rounds
    );
    if !have("socat") {
        println!("skipped: no socat (the serial line is a socat pty pair)");
        return Ok(());
    }
    let mbusd = find_mbusd();
    let mut gateways = vec![Gateway::P1ge0n, Gateway::P1ge0nPaced];
    match &mbusd {
        Some(path) => {
            println!("mbusd: {path}");
            gateways.push(Gateway::Mbusd);
        }
        None => println!("skipped: no mbusd (see BENCHMARKS.md); p1ge0n measured alone"),
    }
    let dur = Duration::from_secs_f64(cfg.rate_secs);
    let mut results = vec![vec![LoadRounds::default(); LOADS.len()]; gateways.len()];
    let mut direct_p50 = Vec::new();
    for round in 0..cfg.rounds {
        {
            let line = Line::new(dir)?;
            let _device = device_on(&line)?;
            let direct = rtu_direct_round(&line, dur)?;
            let mut lat = direct.lat_ns;
            lat.sort_unstable();
            direct_p50.push(percentile(&lat, 50.0) as f64 / 1e3);
            println!(
                "  round {} {:<34} {:>7.0} req/s  p50 {:>7.1} us",
                round + 1,
                "direct RTU master, no gateway",
                direct.requests as f64 / direct.secs,
                direct_p50.last().unwrap()
            );
        }
        for i in rotation(round, gateways.len()) {
            let gateway = gateways[i];
            let line = Line::new(dir)?;
            let device = device_on(&line)?;
            let server = gateway.start(&line, mbusd.as_deref())?;
            let mut shown = Vec::new();
            for (l, &clients) in LOADS.iter().enumerate() {
                let r = rt
                    .block_on(mbap_round(server.addr, clients, dur))
                    .with_context(|| {
                        format!(
                            "{}, {clients} clients, round {}{}",
                            gateway.label(),
                            round + 1,
                            server.tail()
                        )
                    })?;
                let mut lat = r.lat_ns;
                lat.sort_unstable();
                let rate = r.requests as f64 / r.secs;
                let p50 = percentile(&lat, 50.0) as f64 / 1e3;
                results[i][l].rate.push(rate);
                results[i][l].p50_us.push(p50);
                shown.push(format!("{clients}: {rate:>6.0} req/s p50 {p50:>7.1} us"));
            }
            drop(server);
            drop(device);
            drop(line);
            println!(
                "  round {} {:<34} {}",
                round + 1,
                gateway.label(),
                shown.join("   ")
            );
        }
    }
    let direct = median(&direct_p50);
    let of = |g: Gateway, l: usize, f: fn(&LoadRounds) -> &Vec<f64>| {
        gateways
            .iter()
            .position(|&x| x == g)
            .map_or(f64::NAN, |i| median(f(&results[i][l])))
    };
    let mut rows = Vec::new();
    for (i, gateway) in gateways.iter().enumerate() {
        let mut row = vec![gateway.label().to_string()];
        for (l, _) in LOADS.iter().enumerate() {
            let rate = median(&results[i][l].rate);
            let p50 = median(&results[i][l].p50_us);
            row.push(thousands(rate as u64));
            row.push(ratio(rate, of(Gateway::Mbusd, l, |r| &r.rate)));
            row.push(format!("{p50:.1}"));
            if l == 0 {
                row.push(format!("{:.1}", p50 - direct));
            }
        }
        rows.push(row);
    }
    print_table(
        &format!(
            "gateway (medians; direct RTU master on the line, no gateway: p50 {direct:.1} us; \
             added = p50 - direct)"
        ),
        &[
            "gateway",
            "1 client req/s",
            "vs mbusd",
            "p50 us",
            "added us",
            "8 clients req/s",
            "vs mbusd",
            "p50 us",
        ],
        &rows,
    );
    for (l, &clients) in LOADS.iter().enumerate() {
        let ours = of(Gateway::P1ge0n, l, |r| &r.rate);
        let theirs = of(Gateway::Mbusd, l, |r| &r.rate);
        let who = if clients == 1 { "client" } else { "clients" };
        targets.add(
            &format!("gateway >= 1.0x mbusd requests/s ({clients} {who})"),
            versus(ours, theirs, "req/s"),
            theirs.is_finite().then_some(ours >= theirs),
        );
    }
    let ours = of(Gateway::P1ge0n, 0, |r| &r.p50_us) - direct;
    let theirs = of(Gateway::Mbusd, 0, |r| &r.p50_us) - direct;
    targets.add(
        "gateway added p50 latency <= mbusd's (1 client)",
        format!(
            "{ours:.1} us vs {} us",
            if theirs.is_finite() {
                format!("{theirs:.1}")
            } else {
                "-".into()
            }
        ),
        theirs.is_finite().then_some(ours <= theirs),
    );
    Ok(())
}

/// mbusd to compare with: `P1GE0N_MBUSD`, else built from
/// `P1GE0N_MBUSD_SRC`, else `mbusd` on PATH; None (and why) otherwise.
fn find_mbusd() -> Option<String> {
    if let Ok(path) = std::env::var("P1GE0N_MBUSD") {
        if have(&path) {
            return Some(path);
        }
        println!("note: P1GE0N_MBUSD={path} is not an executable");
    }
    if let Ok(src) = std::env::var("P1GE0N_MBUSD_SRC") {
        match build_mbusd(Path::new(&src)) {
            Ok(path) => return Some(path.display().to_string()),
            Err(e) => println!("note: building mbusd from P1GE0N_MBUSD_SRC={src} failed: {e:#}"),
        }
    }
    have("mbusd").then(|| "mbusd".to_string())
}

/// Build mbusd from its source tree `src` into `target/bench-peers/mbusd`
/// (again only when a source file is newer): its C files compiled with
/// `cc` (or `$CC`) and the defines its CMakeLists.txt sets by default on
/// Linux (TRXCTL, LOG and DEBUG on; cfmakeraw, cfsetspeed, localtime found),
/// at `-O2`, CMake's Release level (a plain `cmake ..` build, as its README
/// shows, has no optimisation at all). RS-485 ioctls (`-S`) are left out:
/// a pty has none.
fn build_mbusd(src: &Path) -> Result<PathBuf> {
    let files = std::fs::read_dir(src.join("src"))
        .with_context(|| format!("read {}", src.join("src").display()))?;
    let mut sources = Vec::new();
    let mut newest = SystemTime::UNIX_EPOCH;
    for entry in files {
        let path = entry?.path();
        match path.extension().and_then(|e| e.to_str()) {
            Some("c") => sources.push(path.clone()),
            Some("h") => {}
            _ => continue,
        }
        newest = newest.max(path.metadata()?.modified()?);
    }
    if sources.is_empty() {
        bail!("no src/*.c (is this mbusd's source tree?)");
    }
    sources.sort();
    let out_dir = target_dir().join("bench-peers");
    let out = out_dir.join("mbusd");
    if out
        .metadata()
        .and_then(|m| m.modified())
        .is_ok_and(|built| built >= newest)
    {
        return Ok(out);
    }
    std::fs::create_dir_all(&out_dir)?;
    // `project(mbusd VERSION 0.5.3 ...)`, for its -h.
    let version = std::fs::read_to_string(src.join("CMakeLists.txt"))
        .ok()
        .and_then(|text| {
            let at = text.find("project(mbusd VERSION ")? + "project(mbusd VERSION ".len();
            text[at..].split_whitespace().next().map(str::to_string)
        })
        .unwrap_or_else(|| "unknown".into());
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    println!("building mbusd {version} from {} with {cc}", src.display());
    let mut cmd = Command::new(&cc);
    cmd.args(["-O2", "-fno-builtin-log", "-DPACKAGE=\"mbusd\""])
        .arg(format!("-DVERSION=\"{version}\""))
        .args(["-DTRXCTL", "-DLOG", "-DDEBUG"])
        .args(["-DHAVE_CFMAKERAW", "-DHAVE_CFSETSPEED", "-DHRDATE"])
        .arg("-o")
        .arg(&out)
        .args(&sources);
    let built = output_within(cmd, Duration::from_secs(300))?;
    if !built.status.success() {
        bail!(
            "{cc}: {}: {}",
            built.status,
            String::from_utf8_lossy(&built.stderr)
        );
    }
    Ok(out)
}
