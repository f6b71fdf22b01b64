//! Section 4, one-shot: `echo hello | CLIENT` wall time and page faults
//! for `p1ge0n send`, `nc -N` and `socat -` against one `listen -q` server.
//! Its own file so that what it measures can be read without the harness
//! around it.

use std::{
    path::Path,
    time::{Duration, Instant},
};

use anyhow::Result;

use crate::{
    harness::{bin, rotation, run_client, run_client_faults, Config, Peer, Server, Watchdog},
    host::have,
    report::{median, print_table, ratio, Targets},
};

pub fn section(cfg: &Config, dir: &Path, targets: &mut Targets) -> Result<()> {
    let server = Server::start(Peer::Quiet, dir, 4)?;
    let target = server.addr.to_string();
    let port = server.addr.port().to_string();
    println!(
        "\n## 4. One-shot: echo hello | CLIENT against one `p1ge0n listen -q` server, {} runs each, interleaved",
        cfg.oneshot_runs
    );
    let mut clients: Vec<(&str, Vec<String>)> = vec![(
        "p1ge0n send",
        vec![bin().into(), "send".into(), target.clone()],
    )];
    if have("nc") {
        clients.push((
            "nc -N",
            vec!["nc".into(), "-N".into(), "127.0.0.1".into(), port.clone()],
        ));
    }
    if have("socat") {
        clients.push((
            "socat - TCP:",
            vec!["socat".into(), "-".into(), format!("TCP:{target}")],
        ));
    }
    let dog = Watchdog::start();
    for (_, argv) in &clients {
        for _ in 0..3 {
            run_client(argv, &dog)?;
        }
    }
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); clients.len()];
    let mut faults: Vec<Vec<f64>> = vec![Vec::new(); clients.len()];
    let phase_deadline = Instant::now() + Duration::from_secs(120);
    for run in 0..cfg.oneshot_runs {
        if Instant::now() >= phase_deadline {
            println!("note: stopped after {run} runs (120 s phase limit)");
            break;
        }
        for i in rotation(run, clients.len()) {
            let (took, touched) = run_client_faults(&clients[i].1, &dog)?;
            times[i].push(took.as_secs_f64() * 1e3);
            faults[i].push(touched as f64);
        }
    }
    drop(server);
    let med = |name: &str| {
        clients
            .iter()
            .position(|c| c.0 == name)
            .map(|i| median(&times[i]))
            .unwrap_or(f64::NAN)
    };
    let (nc, socat) = (med("nc -N"), med("socat - TCP:"));
    let mut rows = Vec::new();
    for (i, (name, _)) in clients.iter().enumerate() {
        let mut sorted = times[i].clone();
        sorted.sort_by(f64::total_cmp);
        let m = median(&sorted);
        rows.push(vec![
            name.to_string(),
            format!("{m:.2}"),
            format!("{:.2}", sorted.first().copied().unwrap_or(f64::NAN)),
            format!(
                "{:.2}",
                sorted[(sorted.len() * 9 / 10).min(sorted.len() - 1)]
            ),
            ratio(m, nc),
            ratio(m, socat),
            format!("{:.0}", median(&faults[i])),
        ]);
    }
    print_table(
        "one-shot wall time, ms (spawn to exit, reply verified; lower is better)",
        &[
            "client",
            "median",
            "min",
            "p90",
            "vs nc -N",
            "vs socat",
            "page faults",
        ],
        &rows,
    );
    let send = med("p1ge0n send");
    targets.add(
        "send wall time <= nc -N",
        format!("{send:.2} vs {nc:.2} ms = {}", ratio(send, nc)),
        nc.is_finite().then_some(send <= nc),
    );
    if have("hyperfine") {
        println!(
            "reproduce with hyperfine (after `{} listen -q 127.0.0.1:9999 &`):",
            bin()
        );
        let mut cmd = format!("hyperfine -w 20 -r {}", cfg.oneshot_runs);
        cmd += &format!(" 'echo hello | {} send 127.0.0.1:9999'", bin());
        cmd += " 'echo hello | nc -N 127.0.0.1 9999'";
        cmd += " 'echo hello | socat - TCP:127.0.0.1:9999'";
        println!("  {cmd}");
    }
    Ok(())
}
