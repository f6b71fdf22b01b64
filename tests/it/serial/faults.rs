//! From `faults.rs`: memory under a flood and CPU time while out of
//! descriptors.

use std::{
    net::TcpStream,
    process::Command,
    thread,
    time::{Duration, Instant},
};

use crate::util::*;

/// Resident memory figures of a process, in kB: (VmRSS, VmHWM).
fn memory_kb(pid: u32) -> (u64, u64) {
    (status_kb(pid, "VmRSS:"), peak_rss_kb(pid))
}

/// CPU time used by a process so far, in clock ticks (user + system).
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after_name = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // Fields 14 and 15 of stat; after the name they are at 11 and 12.
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

/// 50 clients pushing 100 MB each without ever reading their echoes:
/// TCP back-pressure keeps listen's memory bounded, and it keeps serving.
#[test]
fn flooding_clients_do_not_grow_memory() {
    let server = Listen::start(&["127.0.0.1:0", "-q"]);
    let (line, _flood) = flood(server.port());
    let (rss, hwm) = memory_kb(server.pid());
    println!("flood: {line} ; listen VmRSS {rss} kB, peak VmHWM {hwm} kB");
    assert!(line.starts_with("clients=50 sent="), "{line}");
    assert!(
        hwm < 150 * 1024,
        "listen peaked at {hwm} kB under the flood"
    );
    // Still serving while the flooders hang on.
    let run = py_client(server.addr(), b"still here", 10);
    assert_eq!(run.data, b"still here");
}

/// Out of file descriptors: accept errors are reported once, do not spin
/// the CPU, and service resumes when descriptors free up.
#[test]
fn descriptor_exhaustion_neither_spins_nor_crashes() {
    let mut cmd = Command::new("prlimit");
    cmd.args([
        "--nofile=32:32",
        bin().to_str().unwrap(),
        "listen",
        "127.0.0.1:0",
    ]);
    let server = Listen::spawn_with(cmd);
    let held: Vec<TcpStream> = (0..60).map(|_| connect(server.addr())).collect();
    server.wait_stderr_contains("accept failed: Too many open files", SOON);
    let before = cpu_ticks(server.pid());
    let started = Instant::now();
    thread::sleep(Duration::from_secs(1));
    let used = cpu_ticks(server.pid()) - before;
    let ticks_per_second = 100; // USER_HZ on Linux
    println!(
        "fd exhaustion: {used} ticks of CPU in {:?}",
        started.elapsed()
    );
    assert!(
        used < ticks_per_second / 4,
        "listen used {used} ticks in 1 s while out of descriptors"
    );
    assert_eq!(
        server.stderr().matches("accept failed").count(),
        1,
        "{}",
        server.stderr()
    );
    drop(held);
    let run = py_client(server.addr(), b"back", 4);
    assert_eq!(run.data, b"back");
    server.wait_stderr_contains("accepting again", SOON);
}
