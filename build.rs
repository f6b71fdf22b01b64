//! Two link settings for Linux with glibc, both for start-up time: a
//! one-shot `echo x | p1ge0n send` is mostly process start-up (BENCHMARKS.md,
//! "One-shot"). Neither applies to a static build (`+crt-static` in
//! RUSTFLAGS) or to other targets. `scripts/build-static.sh` passes
//! `+crt-static` to `cargo rustc` after `--`, which this script cannot
//! see, so it sets `P1GE0N_PIE=1`.
//!
//! - The `p1ge0n` binary is linked `-no-pie` (only the binary:
//!   `rustc-link-arg-bins`). A position-independent executable carries
//!   about 11,000 relative relocations that the dynamic loader applies on
//!   every start, writing (and so copying) every page of `.data.rel.ro`: 53
//!   page faults and about 0.14 ms per run here. Linked `-no-pie`, addresses
//!   are fixed at link time and those pages stay read-only file pages. The
//!   cost: the binary's own code and data are not placed at a random
//!   address (ASLR still applies to libraries, stack and heap). Packagers
//!   who want a PIE build with `P1GE0N_PIE=1 cargo build --release`.
//! - The unwinder is linked statically (`libgcc_eh.a`, which gcc installs
//!   with itself) instead of loading `libgcc_s.so.1`, whose constructor runs
//!   CPUID many times, about 0.085 ms per run in a VM. This one applies to
//!   everything that links the library: the binary, tests and benches.
fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=P1GE0N_PIE");
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    let glibc = var("CARGO_CFG_TARGET_OS") == "linux" && var("CARGO_CFG_TARGET_ENV") == "gnu";
    let static_crt = var("CARGO_CFG_TARGET_FEATURE")
        .split(',')
        .any(|f| f == "crt-static");
    if !glibc || static_crt {
        return;
    }
    let pie = std::env::var_os("P1GE0N_PIE").is_some_and(|v| !v.is_empty() && v != "0");
    if !pie {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
    println!("cargo:rustc-link-lib=static:-bundle=gcc_eh");
}
