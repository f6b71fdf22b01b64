//! Section 3, scale: thousands of connections held open against `listen
//! -q` (hundreds against socat and ncat, which fork per connection), and
//! the server's memory with all of them open. Its own file so that what it
//! measures can be read without the harness around it.

use std::{path::Path, thread, time::Duration};

use anyhow::Result;
use tokio::runtime::Runtime;

use crate::{
    harness::{group_mem, scale_run, Config, Peer, Server},
    report::{mb_kb, print_table, thousands, Targets},
};

pub fn section(
    cfg: &Config,
    rt: &Runtime,
    dir: &Path,
    nofile: u64,
    targets: &mut Targets,
) -> Result<()> {
    const RESERVE: u64 = 256;
    println!(
        "\n## 3. Scale: {} connections to p1ge0n, {} to socat/ncat (capped: they fork a process per connection), 3 echoes each, held open",
        cfg.scale_conns, cfg.peer_conns
    );
    let fit = nofile.saturating_sub(RESERVE) as usize;
    if fit < 100 {
        println!("note: RLIMIT_NOFILE is {nofile}; too low for the scale test, skipped");
        targets.add(
            "10k connections, RSS < 100 MB",
            "skipped (fd limit)".into(),
            None,
        );
        return Ok(());
    }
    let mut plan: Vec<(Peer, usize)> = vec![(Peer::Quiet, cfg.scale_conns.min(fit))];
    if cfg.scale_conns > fit {
        println!(
            "note: RLIMIT_NOFILE hard limit {nofile} allows {fit} connections, not {}",
            cfg.scale_conns
        );
    }
    for peer in [Peer::Socat, Peer::Ncat] {
        if peer.available() {
            plan.push((peer, cfg.peer_conns.min(fit)));
        }
    }
    let mut rows = Vec::new();
    for (peer, n) in plan {
        let server = Server::start(peer, dir, n)?;
        thread::sleep(Duration::from_millis(100));
        let idle = group_mem(server.pid());
        let r = rt.block_on(scale_run(server.addr, n, server.pid()));
        let tail = server.tail();
        drop(server);
        let per_conn = if r.echoed > 0 {
            format!(
                "{:.1}",
                r.mem.pss_kb.saturating_sub(idle.pss_kb) as f64 / r.echoed as f64
            )
        } else {
            "-".into()
        };
        rows.push(vec![
            peer.label().to_string(),
            thousands(n as u64),
            thousands(r.opened as u64),
            thousands(r.echoed as u64),
            thousands(r.mem.processes as u64),
            mb_kb(r.mem.rss_kb),
            mb_kb(r.mem.pss_kb),
            mb_kb(r.mem.hwm_kb),
            per_conn,
            format!("{:.1}/{:.1}", r.open_secs, r.echo_secs),
        ]);
        if let Some(e) = &r.first_error {
            println!("  {}: first error: {e}{tail}", peer.label());
        }
        if peer == Peer::Quiet {
            let full = n >= 10_000 && r.echoed == n;
            let rss_mb = r.mem.rss_kb as f64 / 1024.0;
            targets.add(
                "10k connections, RSS < 100 MB",
                format!(
                    "{} of {} echoed, RSS {rss_mb:.1} MB (HWM {:.1})",
                    thousands(r.echoed as u64),
                    thousands(n as u64),
                    r.mem.hwm_kb as f64 / 1024.0
                ),
                (n >= 10_000).then_some(full && rss_mb < 100.0),
            );
        }
    }
    print_table(
        "scale (memory measured with all echoed connections open; RSS summed over the process group double-counts shared pages, PSS does not)",
        &[
            "server",
            "wanted",
            "opened",
            "echoed ok",
            "procs",
            "RSS MB",
            "PSS MB",
            "HWM MB",
            "PSS KB/conn",
            "open/echo s",
        ],
        &rows,
    );
    Ok(())
}
