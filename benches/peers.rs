//! Side-by-side benchmark of p1ge0n against socat, ncat, nc and hexdump
//! (results and targets in BENCHMARKS.md).
//!
//! `cargo bench --bench peers` builds the release binary and compares, in
//! one run and on 127.0.0.1 only:
//!
//! 1. message rate: 100 clients, 64-byte lines, one in flight each;
//! 2. bulk stream: one client, 64 KiB writes with a concurrent reader;
//! 3. scale: thousands of connections held open, server memory;
//! 4. one-shot: `echo hello | CLIENT` wall time against one echo server,
//!    and a Modbus read over a serial line against the same over TCP;
//! 5. the display formatter (library) against `hexdump -C`;
//! 6. binary size and idle RSS;
//! 7. proxy: p1ge0n, a bare tokio proxy, socat and ncat relays in front of
//!    one echo server, and `--frame line` with and without `--fault`;
//! 8. decoding: a Modbus-shaped load, text records against `--decode`;
//! 9. TLS: echo rate and one-shot handshakes;
//! 10. programs: connections per second with `--exec cat` against ncat
//!     `--sh-exec cat` and socat `SYSTEM:cat`, and messages per second with
//!     `--exec-each cat` against a bare fork+exec of `/bin/cat`;
//! 11. gateway: Modbus/TCP to an RTU device on a pty line through
//!     `proxy --gateway modbus` and through mbusd.
//!
//! Servers alternate within each round (the order rotates per round) so that
//! drift from other load hits all of them alike; tables show the median of
//! the rounds and the ratio to socat. Every loop is bounded in count and in
//! time, and every server is killed with its process group when done.
//!
//! This file only lists the modules and runs the chosen sections in order.
//! In `benches/peers/`: `harness.rs` (knobs, servers, load clients),
//! `report.rs` (statistics, tables, targets), `rtu.rs` (the serial line,
//! RTU device and Modbus clients of sections 4 and 11) and one file per
//! section. The bench binary is also three of the peers it measures: run
//! with one of the `*_ROLE` variables set, it is the bare tokio echo, the
//! bare tokio proxy or the RTU device instead.
//! `have` and `status_kb` come from `tests/common/host.rs`, shared with the
//! end-to-end tests. (A crate root's `mod x;` looks beside it, in
//! `benches/`, hence the `#[path]`s.)
//!
//! Environment (all optional):
//!   P1GE0N_BENCH_QUICK=1        smoke run in seconds (small counts, 1 round)
//!   P1GE0N_BENCH_ROUNDS=N       rounds per comparison (default 5)
//!   P1GE0N_BENCH_SECS=S         message-rate duration per server per round (3)
//!   P1GE0N_BENCH_BULK_MB=N      bulk volume per server per round in MB (256)
//!   P1GE0N_BENCH_CONNS=N        scale: connections to p1ge0n (10000)
//!   P1GE0N_BENCH_PEER_CONNS=N   scale: cap for socat/ncat (1000)
//!   P1GE0N_BENCH_RUNS=N         one-shot runs per client (200)
//!   P1GE0N_BENCH_DISPLAY_MB=N   formatter volume in MB (50)
//!   P1GE0N_BENCH_ONLY=a,b       sections: rate,bulk,scale,oneshot,display,size,proxy,decode,tls,exec,gateway
//!   P1GE0N_BENCH_BIN=PATH       the p1ge0n to measure (default: this build's)
//!   P1GE0N_MBUSD=PATH           gateway: the mbusd to compare with (else `mbusd` on PATH)
//!   P1GE0N_MBUSD_SRC=DIR        gateway: build mbusd from this source tree (BENCHMARKS.md)
//!
//! MB is 10^6 bytes throughout.

// The bench is not the product: its own progress lines and its re-executed
// peers (tokio echo and proxy) may use eprintln! (clippy.toml forbids it
// only so that p1ge0n's lines go through say!).
#![allow(clippy::disallowed_macros)]

use std::{
    thread,
    time::{Duration, Instant},
};

use anyhow::Result;

#[path = "peers/harness.rs"]
mod harness;
#[path = "../tests/common/host.rs"]
mod host;
#[path = "peers/report.rs"]
mod report;

#[path = "peers/bulk.rs"]
mod bulk;
#[path = "peers/decode.rs"]
mod decode;
#[path = "peers/display.rs"]
mod display;
#[path = "peers/exec.rs"]
mod exec;
#[path = "peers/gateway.rs"]
mod gateway;
#[path = "peers/oneshot.rs"]
mod oneshot;
#[path = "peers/proxy.rs"]
mod proxy;
#[path = "peers/rate.rs"]
mod rate;
#[path = "peers/rtu.rs"]
mod rtu;
#[path = "peers/scale.rs"]
mod scale;
#[path = "peers/size.rs"]
mod size;
#[path = "peers/tls.rs"]
mod tls;

use harness::{
    bin, machine, raise_nofile, tokio_echo_server, tokio_proxy_server, Config, TOKIO_ECHO_ROLE,
    TOKIO_PROXY_ROLE,
};
use report::{print_table, Targets};

fn main() {
    if std::env::var_os(TOKIO_ECHO_ROLE).is_some() {
        tokio_echo_server();
    }
    if let Ok(upstream) = std::env::var(TOKIO_PROXY_ROLE) {
        tokio_proxy_server(upstream);
    }
    if let Ok(spec) = std::env::var(rtu::RTU_SERVER_ROLE) {
        rtu::rtu_server(&spec);
    }
    // SAFETY: prctl on ourselves.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1) };
    let cfg = Config::from_env();
    let nofile = raise_nofile();
    println!(
        "p1ge0n peer benchmark{} — {}; RLIMIT_NOFILE {nofile}; binary {}",
        if cfg.quick { " (QUICK)" } else { "" },
        machine(),
        bin()
    );
    println!("note: load generator and servers share the same cores");
    let dir = match tempfile::Builder::new().prefix("p1ge0n-bench").tempdir() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("cannot create a temp dir: {e}");
            std::process::exit(1);
        }
    };
    // Explicit worker count, so TOKIO_WORKER_THREADS (which tokio reads)
    // can be set for the p1ge0n servers without changing the load generator.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(thread::available_parallelism().map_or(2, |n| n.get()))
        .enable_all()
        .build()
        .expect("tokio runtime");
    let started = Instant::now();
    let mut targets = Targets(Vec::new());
    let mut failed = Vec::new();
    // Each section is evaluated just before `run` is called, so the time
    // since the previous call is that section's.
    let mut last = Instant::now();
    let mut run = |name: &str, result: Result<()>| {
        if let Err(e) = result {
            println!("\n{name} FAILED: {e:#}");
            failed.push(name.to_string());
        }
        println!("({name}: {:.1} s)", last.elapsed().as_secs_f64());
        last = Instant::now();
    };
    if cfg.wants("rate") {
        run("rate", rate::section(&cfg, &rt, dir.path(), &mut targets));
    }
    if cfg.wants("bulk") {
        run("bulk", bulk::section(&cfg, &rt, dir.path(), &mut targets));
    }
    if cfg.wants("scale") {
        run(
            "scale",
            scale::section(&cfg, &rt, dir.path(), nofile, &mut targets),
        );
    }
    if cfg.wants("oneshot") {
        run("oneshot", oneshot::section(&cfg, dir.path(), &mut targets));
    }
    if cfg.wants("display") {
        run("display", display::section(&cfg, dir.path(), &mut targets));
    }
    if cfg.wants("size") {
        run("size", size::section(dir.path()));
    }
    if cfg.wants("decode") {
        run(
            "decode",
            decode::section(&cfg, &rt, dir.path(), &mut targets),
        );
    }
    if cfg.wants("proxy") {
        run(
            "proxy",
            proxy::section(&cfg, &rt, dir.path(), nofile, &mut targets),
        );
    }
    if cfg.wants("tls") {
        run("tls", tls::section(&cfg, &rt, dir.path(), &mut targets));
    }
    if cfg.wants("exec") {
        run("exec", exec::section(&cfg, &rt, dir.path(), &mut targets));
    }
    if cfg.wants("gateway") {
        run(
            "gateway",
            gateway::section(&cfg, &rt, dir.path(), &mut targets),
        );
    }
    let rows: Vec<Vec<String>> = targets.0.iter().map(|r| r.to_vec()).collect();
    if !rows.is_empty() {
        // Every headline figure of the run, against its baseline, in one
        // table (BENCHMARKS.md copies it).
        print_table(
            "## Targets (every figure of this run against its baseline)",
            &["target", "measured", "verdict"],
            &rows,
        );
    }
    println!("\ntotal {:.0} s", started.elapsed().as_secs_f64());
    rt.shutdown_timeout(Duration::from_secs(1));
    drop(dir);
    if !failed.is_empty() {
        println!("failed sections: {}", failed.join(", "));
        std::process::exit(1);
    }
}
