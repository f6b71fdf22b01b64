//! Link the `p1ge0n` binary as a position-dependent executable on Linux.
//!
//! Why: a one-shot `echo x | p1ge0n send` is mostly process start-up
//! (BENCHMARKS.md, "One-shot"). A position-independent executable carries
//! about 11,000 relative relocations that the dynamic loader applies on
//! every start, writing (and so copying) every page of `.data.rel.ro`: 53
//! page faults and about 0.14 ms per run here. Linked with `-no-pie` the
//! addresses are fixed at link time and those pages are read-only file
//! pages again. The cost: the binary's own code is not placed at a random
//! address (ASLR still applies to libraries, stack and heap).
//!
//! Only the binary gets the flag (`rustc-link-arg-bins`): tests, benches
//! and proc-macros link as before. Packagers who want a PIE build with
//! `P1GE0N_PIE=1 cargo build --release`.
fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=P1GE0N_PIE");
    let linux = std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux");
    let pie = std::env::var_os("P1GE0N_PIE").is_some_and(|v| !v.is_empty() && v != "0");
    if linux && !pie {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
    let gnu = std::env::var("CARGO_CFG_TARGET_ENV").as_deref() == Ok("gnu");
    if linux && gnu {
        println!("cargo:rustc-link-lib=static:-bundle=gcc_eh");
    }
}
