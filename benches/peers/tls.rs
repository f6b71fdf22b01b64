//! Section 9, TLS: the message rate through `listen --tls-cert` against
//! `socat OPENSSL-LISTEN:...,fork PIPE` (100 clients, 64-byte lines, the
//! same load generator as section 1, speaking TLS 1.3 through rustls), and
//! one-shot handshakes per second: `p1ge0n send --tls` against `socat -
//! OPENSSL:` and `openssl s_client`, all three verifying the same CA.
//!
//! The certificates are made by `openssl req` in the bench's temp dir: a CA
//! and a server certificate for localhost / 127.0.0.1 signed by it.

use std::{path::Path, process::Command, sync::Arc, time::Duration};

use anyhow::{bail, Context, Result};
use rustls::pki_types::{pem::PemObject, CertificateDer, ServerName};
use tokio::{net::TcpStream, runtime::Runtime};

use crate::{
    harness::{bin, rate_round_with, rotation, run_client, Config, Server, Watchdog},
    host::have,
    report::{median, print_table, ratio, si, thousands, versus, Targets},
};

struct Pki {
    ca: String,
    cert: String,
    key: String,
}

fn openssl(dir: &Path, args: &[&str]) -> Result<()> {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .context("run openssl")?;
    if !out.status.success() {
        bail!(
            "openssl {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

fn make_pki(dir: &Path) -> Result<Pki> {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    let mut ca = vec!["req", "-x509"];
    ca.extend(ec);
    ca.extend([
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=bench CA",
    ]);
    openssl(dir, &ca)?;
    let mut csr = vec!["req"];
    csr.extend(ec);
    csr.extend([
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=localhost",
    ]);
    openssl(dir, &csr)?;
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n",
    )?;
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "server.ext",
        ],
    )?;
    let path = |name: &str| dir.join(name).display().to_string();
    Ok(Pki {
        ca: path("ca.pem"),
        cert: path("server.pem"),
        key: path("server.key"),
    })
}

fn connector(ca: &str) -> Result<tokio_rustls::TlsConnector> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca)? {
        roots.add(cert?)?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

fn start_server(label: &str, pki: &Pki, rules: Option<&Path>) -> Result<Server> {
    let cmd = if label == "socat" {
        let mut cmd = Command::new("socat");
        cmd.args([
            "-d",
            "-d",
            &format!(
                "OPENSSL-LISTEN:0,bind=127.0.0.1,reuseaddr,fork,cert={},key={},verify=0",
                pki.cert, pki.key
            ),
            "PIPE",
        ]);
        cmd
    } else {
        let mut cmd = Command::new(bin());
        cmd.args([
            "listen",
            "-q",
            "127.0.0.1:0",
            "--tls-cert",
            &pki.cert,
            "--tls-key",
            &pki.key,
        ]);
        if let Some(rules) = rules {
            cmd.args(["--frame", "line", "--rules"]).arg(rules);
        }
        cmd
    };
    Server::launch_and_parse(cmd, std::process::Stdio::null(), None)
}

pub fn section(cfg: &Config, rt: &Runtime, dir: &Path, targets: &mut Targets) -> Result<()> {
    if !have("openssl") {
        println!("note: openssl not installed, TLS section skipped");
        return Ok(());
    }
    let pki = make_pki(dir)?;
    let tls = connector(&pki.ca)?;
    let mut servers = vec!["p1ge0n listen --tls-cert -q"];
    if have("socat") {
        servers.push("socat");
    }
    let dur = Duration::from_secs_f64(cfg.rate_secs);
    println!(
        "\n## 9. TLS echo: {} clients, 64-byte lines over TLS 1.3, {:.1} s per server x {} rounds",
        cfg.clients, cfg.rate_secs, cfg.rounds
    );
    let mut rates: Vec<Vec<f64>> = vec![Vec::new(); servers.len()];
    for round in 0..cfg.rounds {
        for i in rotation(round, servers.len()) {
            let label = servers[i];
            let server = start_server(label, &pki, None)?;
            let addr = server.addr;
            let connect = || {
                let tls = tls.clone();
                async move {
                    let tcp = TcpStream::connect(addr).await?;
                    tcp.set_nodelay(true)?;
                    let name = ServerName::try_from("localhost")?;
                    Ok(tls.connect(name, tcp).await?)
                }
            };
            let r = rt
                .block_on(rate_round_with(
                    &addr.to_string(),
                    cfg.clients,
                    dur,
                    connect,
                ))
                .with_context(|| format!("{label} round {}", round + 1))?;
            drop(server);
            let rate = r.msgs as f64 / r.secs;
            println!("  round {} {:<34} {:>9} msgs/s", round + 1, label, si(rate));
            rates[i].push(rate);
        }
    }
    let socat = servers
        .iter()
        .position(|&s| s == "socat")
        .map_or(f64::NAN, |i| median(&rates[i]));
    let rows: Vec<Vec<String>> = servers
        .iter()
        .enumerate()
        .map(|(i, label)| {
            let med = median(&rates[i]);
            vec![
                label.to_string(),
                thousands(med as u64),
                rates[i]
                    .iter()
                    .map(|r| si(*r))
                    .collect::<Vec<_>>()
                    .join(" "),
                ratio(med, socat),
            ]
        })
        .collect();
    print_table(
        "TLS message rate (median of rounds)",
        &["server", "msgs/s", "rounds", "vs socat"],
        &rows,
    );
    let ours = median(&rates[0]);
    targets.add(
        "TLS listen >= 1.5x socat OPENSSL-LISTEN msgs/s",
        versus(ours, socat, "msgs/s"),
        socat.is_finite().then_some(ours >= 1.5 * socat),
    );
    handshakes(cfg, dir, &pki, targets)
}

/// One-shot clients against one `listen --tls-cert --rules` server that
/// echoes a line and closes, so every client ends the same way (s_client
/// waits for the server's close).
fn handshakes(cfg: &Config, dir: &Path, pki: &Pki, targets: &mut Targets) -> Result<()> {
    let rules = dir.join("echo-close.toml");
    std::fs::write(
        &rules,
        "default = \"close\"\n[[rule]]\nregex = '(?s).*'\nreply = '{{req}}'\nclose = true\n",
    )?;
    let server = start_server("p1ge0n", pki, Some(&rules))?;
    let target = server.addr.to_string();
    let mut clients: Vec<(&str, Vec<String>)> = vec![(
        "p1ge0n send --tls",
        [bin(), "send", "--tls", "--ca", &pki.ca, &target]
            .map(String::from)
            .to_vec(),
    )];
    if have("socat") {
        clients.push((
            "socat - OPENSSL:",
            vec![
                "socat".into(),
                "-".into(),
                format!("OPENSSL:{target},cafile={},commonname=localhost", pki.ca),
            ],
        ));
    }
    clients.push((
        "openssl s_client",
        [
            "openssl",
            "s_client",
            "-connect",
            &target,
            "-CAfile",
            &pki.ca,
            "-verify_return_error",
            "-quiet",
        ]
        .map(String::from)
        .to_vec(),
    ));
    let runs = (cfg.oneshot_runs / 2).max(5);
    println!(
        "\n## 9b. TLS one-shot: echo hello | CLIENT (handshake, echo, close), {runs} runs each, interleaved"
    );
    let dog = Watchdog::start();
    for (_, argv) in &clients {
        run_client(argv, &dog)?;
    }
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); clients.len()];
    for run in 0..runs {
        for i in rotation(run, clients.len()) {
            times[i].push(run_client(&clients[i].1, &dog)?.as_secs_f64() * 1e3);
        }
    }
    drop(server);
    let per_second: Vec<f64> = times.iter().map(|t| 1e3 / median(t)).collect();
    let rows: Vec<Vec<String>> = clients
        .iter()
        .enumerate()
        .map(|(i, (name, _))| {
            vec![
                name.to_string(),
                format!("{:.2}", median(&times[i])),
                format!("{:.0}", per_second[i]),
                ratio(per_second[i], per_second[1.min(clients.len() - 1)]),
                ratio(per_second[i], per_second[clients.len() - 1]),
            ]
        })
        .collect();
    print_table(
        "TLS one-shot: median ms per run and handshakes/s (higher is better)",
        &[
            "client",
            "median ms",
            "handshakes/s",
            "vs socat",
            "vs s_client",
        ],
        &rows,
    );
    let last = clients.len() - 1;
    targets.add(
        "send --tls handshakes/s vs openssl s_client",
        versus(per_second[0], per_second[last], "handshakes/s"),
        None,
    );
    Ok(())
}
