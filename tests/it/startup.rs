//! Process start-up (`src/process.rs`, std's `main`): what std's runtime
//! does before `main` happens, and the binary is built as distributions
//! expect (a PIE, no start-up tricks).

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

/// The binary is an ordinary position-independent executable (DESIGN.md,
/// "Build policy"): `readelf -h` says `DYN`, so its own code and data load
/// at a random address like every other program a distribution ships.
#[cfg(target_os = "linux")]
#[test]
fn the_binary_is_a_pie() {
    if !have("readelf") {
        panic!("readelf (binutils) is needed; scripts/test installs it");
    }
    let out = Command::new("readelf")
        .args(["-h", "-d", "-W"])
        .arg(bin())
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", show(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines()
            .any(|l| l.trim_start().starts_with("Type:") && l.contains("DYN")),
        "not a PIE:\n{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.contains("(FLAGS_1)") && l.contains("PIE")),
        "no PIE flag in the dynamic section:\n{text}"
    );
}
