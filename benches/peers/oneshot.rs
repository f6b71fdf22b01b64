//! Section 4, one-shot: `echo hello | CLIENT` wall time and page faults
//! for `p1ge0n send`, `nc -N` and `socat -` against one `listen -q` server.
//! Then a Modbus read through a serial line against the same read over TCP
//! (issue 22: "the serial path adds no copies beyond the TCP path"): `send
//! serial:A --request 'modbus read-holding ...'` against `send 127.0.0.1:P
//! --frame modbus-rtu --request ...` (RTU over TCP), to the same device
//! code (`rtu.rs`) on end B of a socat pty pair and listening on TCP; the
//! pty adds socat's copy between its two ends, which the serial side pays
//! and the TCP side does not. Its own file so that what it measures can be
//! read without the harness around it.

use std::{
    path::Path,
    time::{Duration, Instant},
};

use anyhow::{bail, Result};

use crate::{
    harness::{
        bin, rotation, run_client, run_client_faults, run_timed, Config, Peer, Server, Watchdog,
    },
    host::have,
    report::{median, print_table, ratio, Targets},
    rtu::{device_on, device_on_tcp, shown_values, Line},
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
    serial_against_tcp(cfg, dir, targets)
}

/// The request both clients send.
const REQUEST: &str = "modbus read-holding unit=1 addr=0 count=10";

/// `send serial:` against `send --frame modbus-rtu` over TCP, interleaved,
/// each run's exit status 0 and its decoded registers checked.
fn serial_against_tcp(cfg: &Config, dir: &Path, targets: &mut Targets) -> Result<()> {
    println!(
        "\n## 4b. One-shot Modbus RTU: `send --request '{REQUEST}'` on a serial line (socat pty \
         pair) against RTU over TCP, the same device code on both; {} runs each, interleaved",
        cfg.oneshot_runs
    );
    if !have("socat") {
        println!("skipped: no socat (the serial line is a socat pty pair)");
        return Ok(());
    }
    let line = Line::new(dir)?;
    let _on_line = device_on(&line)?;
    let on_tcp = device_on_tcp()?;
    let clients: [(&str, Vec<String>); 2] = [
        (
            "p1ge0n send serial:A",
            vec![
                bin().into(),
                "send".into(),
                format!("serial:{}", line.a),
                "--request".into(),
                REQUEST.into(),
            ],
        ),
        (
            "p1ge0n send --frame modbus-rtu (TCP)",
            vec![
                bin().into(),
                "send".into(),
                on_tcp.addr.to_string(),
                "--frame".into(),
                "modbus-rtu".into(),
                "--request".into(),
                REQUEST.into(),
            ],
        ),
    ];
    let expected = shown_values(0);
    let dog = Watchdog::start();
    let run = |argv: &[String]| {
        let ran = run_timed(argv, b"", &dog)?;
        let out = String::from_utf8_lossy(&ran.stdout);
        if !ran.status.success() || !out.contains(&expected) || !out.contains("crc ok") {
            bail!("{} (wanted {expected:?}, crc ok)", ran.describe(argv));
        }
        Ok((ran.took.as_secs_f64() * 1e3, ran.faults as f64))
    };
    for (_, argv) in &clients {
        for _ in 0..3 {
            run(argv)?;
        }
    }
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); clients.len()];
    let mut faults: Vec<Vec<f64>> = vec![Vec::new(); clients.len()];
    let phase_deadline = Instant::now() + Duration::from_secs(120);
    for k in 0..cfg.oneshot_runs {
        if Instant::now() >= phase_deadline {
            println!("note: stopped after {k} runs (120 s phase limit)");
            break;
        }
        for i in rotation(k, clients.len()) {
            let (ms, touched) = run(&clients[i].1)?;
            times[i].push(ms);
            faults[i].push(touched);
        }
    }
    drop(on_tcp);
    let tcp = median(&times[1]);
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
            ratio(m, tcp),
            format!("{:.0}", median(&faults[i])),
        ]);
    }
    print_table(
        "one-shot Modbus read, wall time ms (spawn to exit, exit 0 and registers checked)",
        &["client", "median", "min", "p90", "vs TCP", "page faults"],
        &rows,
    );
    let serial = median(&times[0]);
    targets.add(
        "send serial: <= 1.2x send RTU over TCP (wall time)",
        format!("{serial:.2} vs {tcp:.2} ms = {}", ratio(serial, tcp)),
        tcp.is_finite().then_some(serial <= 1.2 * tcp),
    );
    Ok(())
}
