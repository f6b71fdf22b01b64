//! Facts about this host that both the end-to-end tests and the peer
//! benchmark need: whether a tool is installed, and a process's memory from
//! `/proc`. The test binary (`tests/it/util/mod.rs`) and the bench
//! (`benches/peers.rs`) are separate crates, so each includes this one file
//! with `#[path = "..."] mod host;` instead of keeping a copy; it uses only
//! std.

use std::{os::unix::fs::PermissionsExt, path::Path};

/// Whether `tool` is installed: an executable file of that name in a `PATH`
/// directory (what `command -v` finds, shell builtins aside), or, when
/// `tool` contains a `/`, that file itself.
pub fn have(tool: &str) -> bool {
    let executable = |path: &Path| {
        path.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if tool.contains('/') {
        return executable(Path::new(tool));
    }
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| executable(&dir.join(tool))))
}

/// A kB field of `/proc/PID/status` (`VmRSS:`, `VmHWM:`); 0 if the field is
/// absent (a zombie has no `VmRSS:`). Panics if the process is gone: a
/// figure for a process that is not there would be a wrong one.
pub fn status_kb(pid: u32, field: &str) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| panic!("read /proc/{pid}/status: {e}"));
    kb_field(&text, field).unwrap_or(0)
}

/// The number after `key` in a `/proc` text of `Key: N kB` lines (`status`,
/// `smaps_rollup`).
pub fn kb_field(text: &str, key: &str) -> Option<u64> {
    text.lines()
        .find(|l| l.starts_with(key))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}
