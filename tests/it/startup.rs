//! Process start-up (`src/startup.rs`, `build.rs`): what std's runtime did
//! before `main` still happens, and the binary stays as cheap to start as
//! BENCHMARKS.md ("One-shot") measured.

use std::process::Command;

use crate::util::*;

/// A closed stdin reads as empty input, exactly as `</dev/null` does:
/// descriptors 0-2 are reopened on /dev/null before anything else runs, as
/// std's runtime did. (Without that, the runtime's epoll descriptor became
/// descriptor 0 and `send` failed with "reading stdin: Invalid argument".)
#[test]
fn a_closed_stdin_reads_like_dev_null() {
    let socat = Socat::echo();
    let run = |redirect: &str| {
        Command::new("sh")
            .args([
                "-c",
                &format!("exec {redirect} && exec \"$0\" send \"$1\" -w 200ms"),
            ])
            .arg(bin())
            .arg(socat.target())
            .output()
            .unwrap()
    };
    let closed = run("0<&-");
    let null = run("0</dev/null");
    assert_eq!(
        code(&closed),
        code(&null),
        "{}\n{}",
        show(&closed),
        show(&null)
    );
    assert_eq!(closed.stdout, null.stdout);
    assert_eq!(stderr_of(&closed), stderr_of(&null));
}

/// The binary needs libc and nothing else: no libm
/// (`startup::pow`), no libgcc_s (`build.rs` links the unwinder), and it is
/// not position-independent unless built with `P1GE0N_PIE=1`. A dependency
/// that brings one back costs every run about 0.05-0.09 ms (BENCHMARKS.md).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[test]
fn the_binary_needs_only_libc() {
    if !have("readelf") {
        panic!("readelf (binutils) is needed; scripts/test installs it");
    }
    let out = Command::new("readelf")
        .args(["-d", "-h", "-W"])
        .arg(bin())
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", show(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    let needed: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("(NEEDED)"))
        .filter_map(|l| l.split('[').nth(1)?.split(']').next())
        .collect();
    // The loader itself may be named too (debug builds call __tls_get_addr);
    // it is mapped either way, as the interpreter.
    let extra: Vec<&&str> = needed
        .iter()
        .filter(|n| **n != "libc.so.6" && !n.starts_with("ld-linux"))
        .collect();
    assert!(extra.is_empty(), "needs {extra:?} besides libc:\n{text}");
    assert!(needed.contains(&"libc.so.6"), "{text}");
    let pie = std::env::var_os("P1GE0N_PIE").is_some_and(|v| !v.is_empty() && v != "0");
    if !pie {
        assert!(
            text.lines()
                .any(|l| l.trim_start().starts_with("Type:") && l.contains("EXEC")),
            "not linked with -no-pie:\n{text}"
        );
    }
}
