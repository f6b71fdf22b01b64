//! A real terminal for tests: the binary in a tmux pane on a private tmux
//! server, driven with send-keys and read with capture-pane.
//!
//! Each terminal runs its own tmux server on a private socket (`-L` with a
//! unique name, under a temporary `TMUX_TMPDIR`), with HOME and
//! XDG_STATE_HOME in a temporary directory so history never touches the real
//! home; the server is killed when the fixture is dropped. The command in
//! the pane is followed by `echo "[exit $?]"` and a long sleep, so the exit
//! status can be read off the screen after the program ends.

use std::{
    path::{Path, PathBuf},
    sync::atomic::{AtomicUsize, Ordering},
    time::Duration,
};

use tempfile::TempDir;

use super::*;

static TERMINALS: AtomicUsize = AtomicUsize::new(0);

/// `p1ge0n ARGS...` in a 120x30 tmux pane.
pub struct Term {
    socket: String,
    tmpdir: TempDir,
    home: PathBuf,
}

pub fn quote(arg: &str) -> String {
    format!("'{}'", arg.replace('\'', r"'\''"))
}

impl Term {
    /// Start in `home` (HOME; XDG_STATE_HOME is `home/state`).
    pub fn start(home: &Path, args: &[&str]) -> Term {
        Term::start_with_env(home, &[], args)
    }

    /// [`Term::start`] with extra environment variables for the program.
    pub fn start_with_env(home: &Path, env: &[(&str, &str)], args: &[&str]) -> Term {
        let mut command = String::new();
        for (name, value) in env {
            command.push_str(&format!("{name}={} ", quote(value)));
        }
        command.push_str(&quote(bin().to_str().unwrap()));
        for arg in args {
            command.push(' ');
            command.push_str(&quote(arg));
        }
        Term::launch(home, command)
    }

    /// A bash script (e.g. a loop that runs p1ge0n) in the pane, as a user
    /// would type it; `$P1GE0N` in it is the binary under test.
    pub fn start_shell(home: &Path, script: &str) -> Term {
        // Ctrl-C reaches the whole foreground process group: the pane's own
        // shell catches it (a handler, which bash does not inherit) so the
        // pane stays up to show how the script ended.
        let command = format!(
            "trap 'true' INT; P1GE0N={} bash -c {}",
            quote(bin().to_str().unwrap()),
            quote(script)
        );
        Term::launch(home, command)
    }

    /// Run `command` in a fresh pane, followed by its exit status.
    fn launch(home: &Path, mut command: String) -> Term {
        let term = Term {
            socket: format!(
                "p1ge0n-{}-{}",
                std::process::id(),
                TERMINALS.fetch_add(1, Ordering::Relaxed)
            ),
            tmpdir: TempDir::new().unwrap(),
            home: home.to_path_buf(),
        };
        command.push_str("; echo \"[exit $?]\"; sleep 600");
        term.tmux(&[
            "new-session",
            "-d",
            "-x",
            "120",
            "-y",
            "30",
            "-s",
            "t",
            &command,
        ]);
        term
    }

    pub fn tmux(&self, args: &[&str]) -> String {
        let out = assert_cmd::Command::new("tmux")
            .args(["-L", &self.socket, "-f", "/dev/null"])
            .args(args)
            .env_remove("TMUX")
            .env("TMUX_TMPDIR", self.tmpdir.path())
            .env("HOME", &self.home)
            .env("XDG_STATE_HOME", self.home.join("state"))
            .env("TERM", "xterm")
            .timeout(SOON)
            .output()
            .unwrap_or_else(|e| {
                panic!("tmux is needed for these tests (apt-get install tmux): {e}")
            });
        assert!(out.status.success(), "tmux {args:?}: {}", show(&out));
        stdout_of(&out)
    }

    /// Type text literally (no key names).
    pub fn type_text(&self, text: &str) {
        self.tmux(&["send-keys", "-t", "t", "-l", text]);
    }

    /// Press keys by tmux name: Enter, Up, Tab, C-c, C-d.
    pub fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "t"];
        args.extend_from_slice(keys);
        self.tmux(&args);
    }

    /// Type a line and press Enter.
    pub fn line(&self, text: &str) {
        self.type_text(text);
        self.keys(&["Enter"]);
    }

    /// The visible screen.
    pub fn screen(&self) -> String {
        self.tmux(&["capture-pane", "-p", "-t", "t"])
    }

    /// The visible screen with its colour escape sequences.
    pub fn screen_with_escapes(&self) -> String {
        self.tmux(&["capture-pane", "-p", "-e", "-t", "t"])
    }

    /// Everything printed so far, scrolled off or not.
    pub fn transcript(&self) -> String {
        self.tmux(&["capture-pane", "-p", "-J", "-S", "-", "-t", "t"])
    }

    /// The last non-empty line on the screen: the prompt and what is typed.
    pub fn prompt_line(&self) -> String {
        let screen = self.screen();
        screen
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or_default()
            .trim_end()
            .to_string()
    }

    pub fn wait_until(&self, what: &str, cond: impl FnMut(&Term) -> bool) {
        self.wait_within(SOON, what, cond);
    }

    pub fn wait_within(&self, timeout: Duration, what: &str, mut cond: impl FnMut(&Term) -> bool) {
        if !wait_until(timeout, || cond(self)) {
            panic!(
                "{what}: not within {timeout:?}\n--- screen ---\n{}",
                self.transcript()
            );
        }
    }

    pub fn wait_for(&self, needle: &str) {
        self.wait_until(&format!("{needle:?} on screen"), |t| {
            t.transcript().contains(needle)
        });
    }

    pub fn wait_prompt(&self, expected: &str) {
        self.wait_until(&format!("prompt line {expected:?}"), |t| {
            t.prompt_line() == expected
        });
    }

    pub fn count(&self, needle: &str) -> usize {
        self.transcript().matches(needle).count()
    }

    /// Ctrl-D, then the exit status the shell printed.
    pub fn quit(&self) -> String {
        self.keys(&["C-d"]);
        self.wait_for("[exit ");
        let t = self.transcript();
        let at = t.find("[exit ").unwrap();
        t[at..].lines().next().unwrap().to_string()
    }
}

impl Drop for Term {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .env("TMUX_TMPDIR", self.tmpdir.path())
            .status();
    }
}
