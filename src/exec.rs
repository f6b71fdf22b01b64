//! Programs as devices: starting the user's program (`program::Program`)
//! per connection or per message, and making sure none outlives its use.
//!
//! Every child runs in a process group of its own, so that what it starts
//! (a pipeline, `sleep 1000 &`) is stopped with it: SIGTERM to the group,
//! then SIGKILL after a short grace. Every child is waited for (no zombies):
//! by its owner, or when its owner is dropped. [`stop_all`] stops whatever
//! still runs when a server ends, and returns once they are gone. The
//! child's stderr goes to ours, each line prefixed with the connection
//! number. Its stdin and stdout are a [`WriteHalf`] and a [`ReadHalf`], so
//! the relay moves its bytes as it moves a socket's.

use std::{
    collections::BTreeSet,
    process::{ExitStatus, Stdio},
    sync::Mutex,
    time::Duration,
};

use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt},
    process::{Child, Command},
};

use crate::{
    net::{ReadHalf, WriteHalf},
    program::{self, Program},
    record::Peer,
};

/// How long a child has between SIGTERM and SIGKILL.
pub const GRACE: Duration = Duration::from_millis(500);

/// The process groups of children not yet waited for.
static LIVE: Mutex<BTreeSet<i32>> = Mutex::new(BTreeSet::new());

fn live() -> std::sync::MutexGuard<'static, BTreeSet<i32>> {
    LIVE.lock().unwrap_or_else(|e| e.into_inner())
}

/// Who the program talks to, in its environment (never the message bytes).
pub struct ChildEnv {
    pub peer: Peer,
    pub local: Option<Peer>,
    /// `tcp`, `udp`, `tls`, `unix`.
    pub transport: &'static str,
    pub conn: u64,
    /// `--exec-each`: the message's index on its connection (from 1).
    pub message: Option<u64>,
}

/// A started program; its process group is stopped when it is dropped
/// unwaited.
pub struct Running {
    child: Child,
    /// Its pid, which is also its process group's id.
    group: i32,
    reaped: bool,
}

/// A program could not be started: not found, not executable.
#[derive(Debug)]
pub struct StartError {
    pub program: String,
    pub reason: String,
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot start '{}': {}", self.program, self.reason)
    }
}

/// Start `program` with its stdin and stdout piped to us and its stderr
/// copied to ours, each line prefixed with `#CONN`.
pub fn spawn(
    program: &Program,
    env: &ChildEnv,
) -> Result<(Running, WriteHalf, ReadHalf), StartError> {
    let (path, args) = program.command_line();
    let mut command = Command::new(path);
    command
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .env(program::ENV_PEER, env.peer.to_string())
        .env(program::ENV_TRANSPORT, env.transport)
        .env(program::ENV_CONN, env.conn.to_string());
    if let Some(local) = &env.local {
        command.env(program::ENV_LOCAL, local.to_string());
    }
    match env.message {
        Some(n) => command.env(program::ENV_MESSAGE, n.to_string()),
        None => command.env_remove(program::ENV_MESSAGE),
    };
    let mut child = command.spawn().map_err(|e| StartError {
        program: program.line.clone(),
        reason: start_failure(&e),
    })?;
    let group = child.id().map_or(0, |id| id as i32);
    live().insert(group);
    let stdin = child.stdin.take().expect("piped stdin");
    let stdout = child.stdout.take().expect("piped stdout");
    if let Some(stderr) = child.stderr.take() {
        let conn = env.conn;
        tokio::spawn(async move {
            // Lines of at most 4 KiB: a program that never ends a line
            // cannot make us buffer without bound.
            let mut lines = tokio::io::BufReader::new(stderr);
            let mut line = Vec::new();
            loop {
                line.clear();
                match (&mut lines).take(4096).read_until(b'\n', &mut line).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        let text = String::from_utf8_lossy(&line);
                        crate::say!("#{conn} {}", text.trim_end_matches(['\n', '\r']));
                    }
                }
            }
        });
    }
    Ok((
        Running {
            child,
            group,
            reaped: false,
        },
        WriteHalf::Pipe(Some(stdin)),
        ReadHalf::Pipe(stdout),
    ))
}

/// Why a program did not start, in words.
fn start_failure(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "not found".into(),
        std::io::ErrorKind::PermissionDenied => "not executable (permission denied)".into(),
        _ => crate::net::describe_io(e),
    }
}

/// Whether a program run without a shell can start: found (on `PATH`, or
/// at its path) and executable. Checked once before a server binds or a
/// client connects, so a typo is exit 2 at once, not an error per
/// connection. A shell command line is the shell's to judge, per run.
pub fn check_startable(program: &Program) -> Result<(), StartError> {
    use std::os::unix::fs::PermissionsExt;
    let Some(argv) = &program.argv else {
        return Ok(());
    };
    let name = &argv[0];
    let executable = |path: &std::path::Path| {
        std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    let fail = |reason: &str| StartError {
        program: program.line.clone(),
        reason: reason.to_string(),
    };
    if name.contains('/') {
        let path = std::path::Path::new(name);
        return match (path.exists(), executable(path)) {
            (false, _) => Err(fail("not found")),
            (true, false) => Err(fail("not executable")),
            (true, true) => Ok(()),
        };
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    if std::env::split_paths(&path).any(|dir| executable(&dir.join(name))) {
        Ok(())
    } else {
        Err(fail("not found on PATH"))
    }
}

impl Running {
    /// Wait for the program to end by itself.
    pub async fn wait(&mut self) -> std::io::Result<ExitStatus> {
        let status = self.child.wait().await;
        if status.is_ok() {
            self.reaped();
        }
        status
    }

    /// Stop the program and what it started: SIGTERM to its group, SIGKILL
    /// after [`GRACE`]; then wait for it. The group is signalled before the
    /// leader is waited for, so its id cannot have been reused.
    pub async fn stop(&mut self) -> Option<ExitStatus> {
        if let Ok(Some(status)) = self.child.try_wait() {
            // Already gone; what it left in its group goes too.
            signal_group(self.group, libc::SIGKILL);
            self.reaped();
            return Some(status);
        }
        signal_group(self.group, libc::SIGTERM);
        let status = match tokio::time::timeout(GRACE, self.child.wait()).await {
            Ok(status) => status.ok(),
            Err(_) => {
                signal_group(self.group, libc::SIGKILL);
                self.child.wait().await.ok()
            }
        };
        signal_group(self.group, libc::SIGKILL);
        self.reaped();
        status
    }

    fn reaped(&mut self) {
        self.reaped = true;
        live().remove(&self.group);
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if !self.reaped {
            // The leader is not waited for yet, so the group id is still
            // ours; tokio kills and reaps the leader (kill_on_drop).
            signal_group(self.group, libc::SIGKILL);
            live().remove(&self.group);
        }
    }
}

fn signal_group(group: i32, signal: i32) {
    if group > 0 {
        // SAFETY: kill(2) with a negative pid signals that process group.
        unsafe {
            libc::kill(-group, signal);
        }
    }
}

/// A program's exit status in words: `exited with status 3`,
/// `killed by signal 9`.
pub fn describe(status: &ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with status {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        _ => "ended".to_string(),
    }
}

/// How a program run for one message ended.
#[derive(Debug)]
pub enum Ended {
    Exited(ExitStatus),
    /// Not done within the time allowed: stopped.
    TimedOut(Duration),
    /// Wrote more than allowed: its reply was cut at the limit and it was
    /// stopped.
    Cut(usize),
    NotStarted(StartError),
}

/// One message's program run: its reply (stdout, at most the limit) and
/// how it ended.
pub struct Once {
    pub reply: Vec<u8>,
    pub ended: Ended,
}

/// Run `program` for one message: `input` on its stdin, then end of input;
/// everything on its stdout until it exits is the reply, cut at
/// `max_reply` bytes. Stopped after `limit`.
pub async fn run_once(
    program: &Program,
    env: &ChildEnv,
    input: &[u8],
    limit: Duration,
    max_reply: usize,
) -> Once {
    let (mut running, mut stdin, mut stdout) = match spawn(program, env) {
        Ok(started) => started,
        Err(e) => {
            return Once {
                reply: Vec::new(),
                ended: Ended::NotStarted(e),
            }
        }
    };
    let mut reply = Vec::new();
    let work = async {
        let write = async {
            // A program that exits without reading has closed its stdin:
            // not an error of ours.
            let _ = stdin.write_all(input).await;
            let _ = stdin.shutdown().await;
            drop(stdin);
        };
        let read = async {
            let mut limited = (&mut stdout).take(max_reply as u64 + 1);
            let _ = limited.read_to_end(&mut reply).await;
        };
        tokio::join!(write, read);
    };
    let ended = match tokio::time::timeout(limit, work).await {
        Err(_) => {
            running.stop().await;
            Ended::TimedOut(limit)
        }
        Ok(()) if reply.len() > max_reply => {
            reply.truncate(max_reply);
            running.stop().await;
            Ended::Cut(max_reply)
        }
        Ok(()) => {
            // Its stdout is closed; it has what is left of the limit to exit.
            match tokio::time::timeout(limit, running.wait()).await {
                Ok(Ok(status)) => Ended::Exited(status),
                _ => {
                    running.stop().await;
                    Ended::TimedOut(limit)
                }
            }
        }
    };
    Once { reply, ended }
}

/// Stop every program still running (a server is ending): SIGTERM to each
/// group, SIGKILL to those left after [`GRACE`], and return once their
/// owners have waited for them (bounded: a task that no longer runs is
/// dropped with the runtime, which kills and reaps its child).
pub async fn stop_all() {
    let groups: Vec<i32> = live().iter().copied().collect();
    if groups.is_empty() {
        return;
    }
    for &group in &groups {
        signal_group(group, libc::SIGTERM);
    }
    let deadline = tokio::time::Instant::now() + GRACE;
    while !live().is_empty() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let left: Vec<i32> = live().iter().copied().collect();
    for group in left {
        signal_group(group, libc::SIGKILL);
    }
    let deadline = tokio::time::Instant::now() + GRACE;
    while !live().is_empty() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
