//! Section 6, binary size (as built and stripped) and idle RSS after the
//! listening line, p1ge0n against a socat listener. Its own file so that
//! what it measures can be read without the harness around it.

use std::{fs, path::Path, process::Command, thread, time::Duration};

use anyhow::Result;

use crate::{
    harness::{bin, Peer, Server},
    host::{have, status_kb},
    report::{mb_kb, print_table},
};

pub fn section(dir: &Path) -> Result<()> {
    println!("\n## 6. Binary size and idle RSS");
    let size = fs::metadata(bin())?.len();
    let copy = dir.join("p1ge0n-stripped");
    fs::copy(bin(), &copy)?;
    let stripped = match Command::new("strip").arg(&copy).status() {
        Ok(s) if s.success() => Some(fs::metadata(&copy)?.len()),
        _ => None,
    };
    let server = Server::start(Peer::Quiet, dir, 4)?;
    thread::sleep(Duration::from_millis(200));
    let rss = status_kb(server.pid() as u32, "VmRSS:");
    let hwm = status_kb(server.pid() as u32, "VmHWM:");
    drop(server);
    let mut rows = vec![vec![
        "p1ge0n (release)".into(),
        format!("{:.2}", size as f64 / 1024.0 / 1024.0),
        stripped
            .map(|s| format!("{:.2}", s as f64 / 1024.0 / 1024.0))
            .unwrap_or_else(|| "-".into()),
        format!("{} / {}", mb_kb(rss), mb_kb(hwm)),
    ]];
    if have("socat") {
        let server = Server::start(Peer::Socat, dir, 4)?;
        thread::sleep(Duration::from_millis(200));
        let rss = status_kb(server.pid() as u32, "VmRSS:");
        let hwm = status_kb(server.pid() as u32, "VmHWM:");
        drop(server);
        rows.push(vec![
            "socat (listener)".into(),
            "-".into(),
            "-".into(),
            format!("{} / {}", mb_kb(rss), mb_kb(hwm)),
        ]);
    }
    print_table(
        "size (MiB) and idle RSS after the listening line (MiB)",
        &["binary", "size", "stripped", "idle RSS / HWM"],
        &rows,
    );
    Ok(())
}
