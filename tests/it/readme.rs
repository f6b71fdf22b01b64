//! The README's examples work as written.
//!
//! Blocks fenced ```` ```sh ```` run against a real `p1ge0n listen` echo
//! server (its address replaces `127.0.0.1:9000`) and must exit 0; blocks
//! fenced ```` ```sh server ```` start a server, which must print its
//! `listening on` line (they run on a free loopback port for one second).
//! Blocks fenced ```` ```sh enip ```` and ```` ```sh iec104 ```` run
//! against a real device (cpppo's EtherNet/IP simulator, a c104 IEC-104
//! server, on a free port replacing `127.0.0.1:44818` or `127.0.0.1:2404`)
//! and must print exactly the output shown under them, times aside; a
//! ```` ```sh serial ```` block brings its own line (a socat pty pair) and
//! device, and is held to its output the same way.
//! ```` ```sh setup ```` blocks (build, install) are not run here.

use std::process::{Command, Stdio};

use crate::util::{bin, repo, Listen, PyServer};

/// (info string, body) of every fenced block.
fn blocks(markdown: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut current: Option<(String, String)> = None;
    for line in markdown.lines() {
        match (&mut current, line.strip_prefix("```")) {
            (None, Some(info)) => current = Some((info.trim().to_string(), String::new())),
            (Some(_), Some(_)) => out.push(current.take().unwrap()),
            (Some((_, body)), None) => {
                body.push_str(line);
                body.push('\n');
            }
            (None, None) => {}
        }
    }
    out
}

/// Run a README block in a fresh temporary directory (examples may write
/// files, such as captures).
fn run_bash(script: &str, secs: u32) -> std::process::Output {
    let work = tempfile::tempdir().unwrap();
    let binary = bin();
    let dir = binary.parent().unwrap();
    let path = format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    Command::new("timeout")
        .arg(secs.to_string())
        .args(["bash", "-o", "pipefail", "-c", script])
        .env("PATH", path)
        .current_dir(work.path())
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// The output the README shows for each fenced block: the indented lines
/// (indent removed) that follow the block after its prose, up to the next
/// unindented line; empty when another block or a heading comes first.
/// (info string, body, shown output), as [`blocks`].
fn blocks_with_output(markdown: &str) -> Vec<(String, String, String)> {
    let lines: Vec<&str> = markdown.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let Some(info) = lines[i].strip_prefix("```") else {
            i += 1;
            continue;
        };
        let mut body = String::new();
        i += 1;
        while i < lines.len() && !lines[i].starts_with("```") {
            body.push_str(lines[i]);
            body.push('\n');
            i += 1;
        }
        i += 1; // the closing fence
        let mut j = i;
        while j < lines.len()
            && !lines[j].starts_with("    ")
            && !lines[j].starts_with("```")
            && !lines[j].starts_with('#')
        {
            j += 1;
        }
        let mut shown = String::new();
        while let Some(line) = lines.get(j).and_then(|l| l.strip_prefix("    ")) {
            shown.push_str(line);
            shown.push('\n');
            j += 1;
        }
        out.push((info.trim().to_string(), body, shown));
    }
    out
}

/// Records' times (`HH:MM:SS.ffffff` at the start of a line) as `TIME`.
fn without_times(text: &str) -> String {
    text.lines()
        .map(|line| {
            let b = line.as_bytes();
            let is_time = b.len() >= 15
                && b[..15].iter().enumerate().all(|(k, c)| match k {
                    2 | 5 => *c == b':',
                    8 => *c == b'.',
                    _ => c.is_ascii_digit(),
                });
            match is_time {
                true => format!("TIME{}\n", &line[15..]),
                false => format!("{line}\n"),
            }
        })
        .collect()
}

fn readme() -> String {
    std::fs::read_to_string(repo().join("README.md")).unwrap()
}

#[test]
fn client_examples_run_against_a_real_server() {
    let server = Listen::start(&["127.0.0.1:0", "-q"]);
    assert_eq!(server.transport(), "tcp");
    let addr = server.target();
    let examples: Vec<_> = blocks(&readme())
        .into_iter()
        .filter(|(info, _)| info == "sh")
        .collect();
    assert!(examples.len() >= 3, "the README lost its examples");
    for (_, body) in examples {
        let script = body.replace("127.0.0.1:9000", &addr);
        let out = run_bash(&script, 30);
        assert!(
            out.status.success(),
            "README example failed ({:?}):\n{body}\nstdout: {}\nstderr: {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn server_examples_start_listening() {
    let examples: Vec<_> = blocks(&readme())
        .into_iter()
        .filter(|(info, _)| info == "sh server")
        .collect();
    assert!(!examples.is_empty());
    for (_, body) in examples {
        // A free loopback port instead of 9000, which may be taken.
        let script = body
            .replace("0.0.0.0:9000", "127.0.0.1:0")
            .replace("listen 9000", "listen 127.0.0.1:0")
            .replace("proxy 5020", "proxy 127.0.0.1:0");
        let out = run_bash(&script, 1);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(124),
            "{body} exited early: {stderr}"
        );
        assert!(
            stderr.starts_with("listening on 127.0.0.1:"),
            "{body}: {stderr}"
        );
    }
}

/// The device examples: each runs against its real device on a free
/// port, exits 0 and prints, line for line, the output the README shows
/// under it (times aside; the device's real address shown as the README's).
#[test]
fn device_examples_print_what_the_readme_shows() {
    let mut ran = Vec::new();
    for (info, body, shown) in blocks_with_output(&readme()) {
        // The device the block talks to, and the address in the README that
        // stands for it; a `sh serial` block brings its own line (a socat
        // pty pair) and device.
        let (device, address) = match info.as_str() {
            "sh enip" => (
                Some(PyServer::start("enip_server.py", &["SCADA=INT[10]"])),
                "127.0.0.1:44818",
            ),
            "sh iec104" => (
                Some(PyServer::start("iec104_server.py", &[])),
                "127.0.0.1:2404",
            ),
            "sh serial" | "sh faults" => (None, ""),
            _ => continue,
        };
        let real = device.as_ref().map(PyServer::target).unwrap_or_default();
        assert!(body.contains(address), "{info}: {body}");
        assert!(!shown.is_empty(), "{info}: the README shows no output");
        let out = run_bash(&body.replace(address, &real), 30);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "README example failed ({:?}):\n{body}\nstdout: {stdout}\nstderr: {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = match device {
            Some(_) => stdout.replace(&real, address),
            None => stdout.to_string(),
        };
        assert_eq!(
            without_times(&stdout),
            without_times(&shown),
            "{info}: {body}"
        );
        ran.push(info);
    }
    assert_eq!(
        ran,
        [
            "sh enip",
            "sh iec104",
            "sh serial",
            "sh serial",
            "sh faults"
        ],
        "the README lost an example"
    );
}

#[test]
fn readme_test_command_is_what_ci_runs() {
    let ci = std::fs::read_to_string(repo().join(".ci/run")).unwrap();
    let setup: Vec<_> = blocks(&readme())
        .into_iter()
        .filter(|(info, _)| info == "sh setup")
        .collect();
    let test_command = setup
        .iter()
        .flat_map(|(_, body)| body.lines())
        .find(|line| line.starts_with("scripts/test"))
        .expect("README names scripts/test as the test command");
    assert!(
        ci.lines().any(|l| l.trim() == test_command),
        "{test_command} not in .ci/run"
    );
    // And that script runs the whole suite: with arguments, passing them
    // on; without (as CI calls it), the suite without the serial group,
    // then the serial group one test at a time (TESTING.md).
    let script = std::fs::read_to_string(repo().join("scripts/test")).unwrap();
    for run in [
        "cargo test --locked \"$@\" || status=$?",
        "cargo test --locked -- --skip serial:: || status=$?",
        "cargo test --locked --test it serial:: -- --test-threads=1 || status=$?",
    ] {
        assert!(
            script.lines().any(|l| l.trim() == run),
            "scripts/test does not run {run}"
        );
    }
}
