//! Link the `p1ge0n` binary with packed relative relocations (DT_RELR)
//! where the toolchain and C library support them.
//!
//! Why: a one-shot `echo x | p1ge0n send` is mostly process start-up, and
//! most of that is the dynamic loader applying ~11,000 relative relocations
//! to a position-independent binary (BENCHMARKS.md, one-shot). DT_RELR
//! packs them into a bitmap the loader walks in a fraction of the time.
//! It needs glibc 2.36 (which understands DT_RELR) and a linker that has
//! `-z pack-relative-relocs` (binutils 2.38, lld 15): both are probed here,
//! and without them the binary is linked as before. Only the binary gets
//! the flag (`rustc-link-arg-bins`), so proc-macro crates and the test
//! binaries link as usual.
//!
//! A binary linked this way needs glibc 2.36 or later to start: build on
//! (or for) the machine that runs it, or set `P1GE0N_NO_RELR=1` for a
//! binary to copy to older systems.

use std::{env, process::Command};

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    for var in ["P1GE0N_NO_RELR", "CC", "RUSTC_LINKER"] {
        println!("cargo:rerun-if-env-changed={var}");
    }
    let linux_gnu = env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux")
        && env::var("CARGO_CFG_TARGET_ENV").as_deref() == Ok("gnu");
    // The probes look at this machine: only meaningful when building for it.
    let native = env::var("HOST").ok() == env::var("TARGET").ok();
    if !linux_gnu || !native || env::var_os("P1GE0N_NO_RELR").is_some() {
        return;
    }
    if glibc_has_relr() && linker_has_relr() {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}

/// glibc 2.36 or later on the build machine (where the binary is run, for
/// `cargo install` and `cargo build`).
fn glibc_has_relr() -> bool {
    let Ok(out) = Command::new("getconf").arg("GNU_LIBC_VERSION").output() else {
        return false;
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let Some(version) = text.trim().strip_prefix("glibc ") else {
        return false;
    };
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (major, minor) >= (2, 36)
}

/// The C compiler rustc links with accepts the flag: link an empty program
/// (old GNU ld only warns about a `-z` keyword it does not know, hence
/// `--fatal-warnings`).
fn linker_has_relr() -> bool {
    let Ok(dir) = env::var("OUT_DIR") else {
        return false;
    };
    let source = format!("{dir}/relr_probe.c");
    if std::fs::write(&source, "int main(void) { return 0; }\n").is_err() {
        return false;
    }
    let cc = env::var("RUSTC_LINKER")
        .or_else(|_| env::var("CC"))
        .unwrap_or_else(|_| "cc".to_string());
    Command::new(cc)
        .args([
            &source,
            "-o",
            &format!("{dir}/relr_probe"),
            "-Wl,-z,pack-relative-relocs",
            "-Wl,--fatal-warnings",
        ])
        .output()
        .is_ok_and(|out| out.status.success())
}
