//! The documentation surface: committed completions and man pages match what
//! the CLI model generates, the man pages lint clean, and the completion
//! scripts work in real shells; docs/ARCHITECTURE.md names every source
//! module and TESTING.md every end-to-end test module.

use std::process::Command;

use crate::util::{bin, code, have, p1ge0n, repo, show, skipped, stdout_of, term::Term};

const REGENERATE: &str = "cargo run -- generate .";

#[test]
fn committed_completions_and_man_pages_match_the_cli() {
    let mut stale = Vec::new();
    for (path, fresh) in p1ge0n::docs::generated_files() {
        let committed = std::fs::read(repo().join(&path)).unwrap_or_default();
        if committed != fresh {
            stale.push(path.display().to_string());
        }
    }
    assert!(
        stale.is_empty(),
        "out of date: {}; regenerate with `{REGENERATE}` and commit",
        stale.join(", ")
    );
}

#[test]
fn completions_subcommand_prints_the_committed_script() {
    let out = assert_cmd::Command::new(bin())
        .args(["completions", "bash"])
        .timeout(std::time::Duration::from_secs(10))
        .output()
        .unwrap();
    assert!(out.status.success());
    let committed = std::fs::read(repo().join("completions/p1ge0n.bash")).unwrap();
    assert_eq!(out.stdout, committed);
}

/// Run a shell snippet in the repository root; returns stdout, panics with
/// stderr on failure.
fn shell(program: &str, args: &[&str]) -> String {
    let out = Command::new("timeout")
        .arg("20")
        .arg(program)
        .args(args)
        .current_dir(repo())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn man_pages_lint_clean_and_render_exit_status_and_examples() {
    assert!(
        have("mandoc"),
        "mandoc is required (Debian package mandoc; .ci/run installs it)"
    );
    for (name, _) in p1ge0n::docs::man_pages() {
        let page = repo().join("man").join(&name);
        let out = Command::new("mandoc")
            .args(["-Tlint", "-Wwarning"])
            .arg(&page)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "mandoc -Tlint {name}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let text = shell("mandoc", &["-Tutf8", "man/p1ge0n-send.1"]);
    // mandoc renders bold with backspaces on a terminal device; strip them.
    let plain: String = {
        let mut s = String::new();
        for c in text.chars() {
            if c == '\u{8}' {
                s.pop();
            } else {
                s.push(c);
            }
        }
        s
    };
    for needle in [
        "EXIT STATUS",
        "EXAMPLES",
        "could not connect",
        "--expect PONG",
        "SEE ALSO",
    ] {
        assert!(
            plain.contains(needle),
            "p1ge0n-send.1 lacks {needle:?}:\n{plain}"
        );
    }
}

#[test]
fn bash_completes_subcommands_and_frame_values() {
    let complete = |line: &str| {
        let script = format!(
            r#"source completions/p1ge0n.bash
COMP_LINE='{line}'; COMP_POINT=${{#COMP_LINE}}
read -ra COMP_WORDS <<< "$COMP_LINE"
[[ "$COMP_LINE" == *' ' ]] && COMP_WORDS+=('')
COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 ))
_p1ge0n p1ge0n "${{COMP_WORDS[COMP_CWORD]}}" "${{COMP_WORDS[COMP_CWORD-1]}}"
printf '%s\n' "${{COMPREPLY[@]}}""#
        );
        shell("bash", &["--norc", "-c", &script])
    };
    let subs = complete("p1ge0n ");
    for sub in ["listen", "send", "completions"] {
        assert!(subs.lines().any(|l| l == sub), "no {sub} in {subs:?}");
    }
    assert_eq!(complete("p1ge0n li").trim(), "listen");
    let frames = complete("p1ge0n listen --frame ");
    for value in ["raw", "line", "stx-etx", "len=u16be"] {
        assert!(
            frames.lines().any(|l| l == value),
            "no {value} in {frames:?}"
        );
    }
    let formats = complete("p1ge0n send -f hex");
    assert!(formats.lines().any(|l| l == "hexdump"), "{formats:?}");
}

/// `/dev/tty*` on this machine (any Linux has some), as `serial:` addresses.
fn serial_lines() -> Vec<String> {
    let mut lines: Vec<String> = std::fs::read_dir("/dev")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|name| name.starts_with("tty"))
        .map(|name| format!("serial:/dev/{name}"))
        .collect();
    lines.sort();
    assert!(!lines.is_empty(), "no /dev/tty* on this machine");
    lines
}

/// Bash offers the serial lines after `serial:` wherever an address goes,
/// and nowhere else: with the words split at blanks, and split at the
/// colon too as bash does by default (COMP_WORDBREAKS has `:`; then bash
/// replaces only what follows the colon).
#[test]
fn bash_completes_serial_lines_where_an_address_goes() {
    // COMP_WORDS and the current word ($2) as bash makes them, with the
    // colon a word of its own when it breaks words.
    let complete = |line: &str, colon_breaks: bool| {
        let script = format!(
            r#"source completions/p1ge0n.bash
COMP_LINE='{line}'; COMP_POINT=${{#COMP_LINE}}
read -ra blank <<< "$COMP_LINE"
COMP_WORDS=()
for w in "${{blank[@]}}"; do
    if {colon_breaks} && [[ $w == *:* ]]; then
        COMP_WORDS+=("${{w%%:*}}" ':')
        [[ -n ${{w#*:}} ]] && COMP_WORDS+=("${{w#*:}}")
    else
        COMP_WORDS+=("$w")
    fi
done
COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 ))
cur=${{COMP_WORDS[COMP_CWORD]}}; [[ $cur == : ]] && cur=''
_p1ge0n p1ge0n "$cur" "${{COMP_WORDS[COMP_CWORD-1]}}"
printf '%s\n' "${{COMPREPLY[@]}}""#
        );
        let out = shell("bash", &["--norc", "-c", &script]);
        let mut offered: Vec<String> = out.lines().map(String::from).collect();
        offered.sort();
        offered
    };
    let lines = serial_lines();
    for line in [
        "p1ge0n send serial:",
        "p1ge0n send -w 2s --frame=line serial:/dev/tty",
        "p1ge0n repl -x serial:",
        "p1ge0n replay capture.jsonl serial:",
        "p1ge0n listen serial:",
        "p1ge0n proxy serial:",
        "p1ge0n proxy 502 --gateway modbus serial:",
    ] {
        let wanted: Vec<String> = lines
            .iter()
            .filter(|l| l.starts_with(line.rsplit(' ').next().unwrap()))
            .cloned()
            .collect();
        assert!(!wanted.is_empty());
        assert_eq!(complete(line, false), wanted, "{line}");
        let wanted_after_colon: Vec<String> =
            wanted.iter().map(|l| l["serial:".len()..].into()).collect();
        assert_eq!(
            complete(line, true),
            wanted_after_colon,
            "{line} (split at ':')"
        );
    }
    // Not an address: an option's value, a payload, replay's FILE.
    for line in [
        "p1ge0n send -w serial:",
        "p1ge0n send 127.0.0.1:9000 serial:",
        "p1ge0n replay serial:",
        "p1ge0n completions serial:",
    ] {
        let offered = complete(line, false);
        assert!(
            !offered.iter().any(|o| o.starts_with("serial:/dev/tty")),
            "{line}: {offered:?}"
        );
    }
    // The completion function called as is, COMP_WORDS alone.
    let out = shell(
        "bash",
        &[
            "--norc",
            "-c",
            "source completions/p1ge0n.bash; COMP_WORDS=(p1ge0n send serial:/dev/tty); \
             COMP_CWORD=2; _p1ge0n; printf '%s\n' \"${COMPREPLY[@]}\"",
        ],
    );
    let offered: Vec<&str> = out.lines().collect();
    assert!(offered.contains(&"serial:/dev/tty"), "{offered:?}");
    assert_eq!(offered.len(), lines.len(), "{offered:?}");
}

/// The same in real shells at a terminal (tmux): bash with its own word
/// splitting, and zsh (whose `send` completion was refused whole before:
/// the quotes in `--request <'PROTO REQUEST'>` broke clap_complete's spec,
/// "invalid argument: REQUEST:_default").
#[test]
fn bash_and_zsh_complete_serial_lines_at_a_terminal() {
    let test = "docs::bash_and_zsh_complete_serial_lines_at_a_terminal";
    let home = tempfile::tempdir().unwrap();
    let script = |shell: &str| repo().join("completions").join(shell);
    let mut shells = vec![(
        "exec bash --norc --noprofile -i".to_string(),
        format!("source {}", script("p1ge0n.bash").display()),
    )];
    if !skipped("zsh", test) {
        assert!(
            have("zsh"),
            "{test}: zsh is not installed (scripts/test installs it; P1GE0N_SKIP=zsh skips this part)"
        );
        shells.push((
            "exec zsh -f -i".to_string(),
            format!(
                "autoload -U compinit && compinit -u && source {}",
                script("_p1ge0n").display()
            ),
        ));
    }
    for (start, load) in shells {
        let term = Term::start_shell(home.path(), &start);
        term.line(&load);
        term.line("echo loaded");
        term.wait_for("\nloaded");
        // Tab inserts what all of /dev/tty* share (before: the files here).
        for line in ["p1ge0n send -w 2s serial:", "p1ge0n proxy 502 serial:"] {
            term.type_text(line);
            term.keys(&["Tab"]);
            term.wait_until(&format!("{start}: {line}/dev/tty"), |t| {
                t.prompt_line().contains(&format!("{line}/dev/tty"))
            });
            term.keys(&["C-u"]);
        }
        assert!(
            !term.transcript().contains("invalid argument"),
            "{start}:\n{}",
            term.transcript()
        );
    }
}

#[test]
fn zsh_and_fish_scripts_load() {
    let test = "docs::zsh_and_fish_scripts_load";
    if !skipped("zsh", test) {
        assert!(
            have("zsh"),
            "{test}: zsh is not installed (scripts/test installs it; P1GE0N_SKIP=zsh skips this part)"
        );
        shell("zsh", &["-n", "completions/_p1ge0n"]);
        shell(
            "zsh",
            &[
                "-c",
                "autoload -U compinit && compinit -u && source completions/_p1ge0n",
            ],
        );
    }
    if !skipped("fish", test) {
        assert!(
            have("fish"),
            "{test}: fish is not installed (scripts/test installs it; P1GE0N_SKIP=fish skips this part)"
        );
        let out = shell(
            "fish",
            &[
                "--no-config",
                "-c",
                "source completions/p1ge0n.fish; complete -C 'p1ge0n li'",
            ],
        );
        assert!(out.starts_with("listen"), "{out:?}");
        // The serial lines right after `serial:`, where an address goes
        // (fish completes paths after a colon by itself, but from the
        // current directory).
        let out = shell(
            "fish",
            &[
                "--no-config",
                "-c",
                "source completions/p1ge0n.fish; complete -C 'p1ge0n proxy 502 serial:'",
            ],
        );
        let mut offered: Vec<&str> = out.lines().collect();
        offered.sort();
        assert_eq!(offered, serial_lines(), "{out:?}");
    }
}

/// What `doc` does not name: each of `names` must appear in it between
/// backticks, as a whole path (`` `relay.rs` ``, `` `net/addr.rs` ``) or as
/// the start of one (`` `tests/it/util/` `` in `` `tests/it/util/mod.rs` ``).
fn unnamed(doc: &str, names: &[String]) -> Vec<String> {
    names
        .iter()
        .filter(|name| {
            let whole = format!("`{name}`");
            let start = format!("`{name}");
            !(doc.contains(&whole) || (name.ends_with('/') && doc.contains(&start)))
        })
        .cloned()
        .collect()
}

/// Every file and directory under `dir`, as paths relative to `root`
/// (directories with a trailing `/`), sorted.
fn tree(root: &std::path::Path, dir: &std::path::Path, out: &mut Vec<String>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        let relative = path.strip_prefix(root).unwrap().display().to_string();
        if path.is_dir() {
            out.push(format!("{relative}/"));
            tree(root, &path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(relative);
        }
    }
}

/// The rule: docs/ARCHITECTURE.md names every module of `src/` by its path
/// relative to `src/`, between backticks: each file (`` `relay.rs` ``,
/// `` `net/addr.rs` ``, `` `cmd/repl/session.rs` ``; `main.rs` and `lib.rs`
/// too) and each directory (`` `net/` ``, `` `cmd/repl/` ``). The module
/// table lists them all; a new file fails here until it has its row.
#[test]
fn architecture_names_every_source_module() {
    let src = repo().join("src");
    let mut modules = Vec::new();
    tree(&src, &src, &mut modules);
    assert!(modules.len() > 40, "{modules:?}");
    let doc = std::fs::read_to_string(repo().join("docs/ARCHITECTURE.md")).unwrap();
    // The check must fail for a module nobody documented.
    assert_eq!(
        unnamed(&doc, &["nowhere.rs".into(), "nowhere/".into()]),
        ["nowhere.rs", "nowhere/"]
    );
    let missing = unnamed(&doc, &modules);
    assert!(
        missing.is_empty(),
        "docs/ARCHITECTURE.md does not name (as `PATH` relative to src/): {}",
        missing.join(", ")
    );
}

/// The `mod NAME;` lines of a module file.
fn mods(path: &str) -> Vec<String> {
    std::fs::read_to_string(repo().join(path))
        .unwrap()
        .lines()
        .filter_map(|line| {
            let name = line.trim().strip_prefix("mod ")?.strip_suffix(';')?;
            Some(name.to_string())
        })
        .collect()
}

/// The rule: TESTING.md names every module of the end-to-end test binary
/// (the `mod` lines of `tests/it/main.rs` and `tests/it/serial/mod.rs`) by
/// its path from the repository root, between backticks:
/// `` `tests/it/NAME.rs` `` for a file, `` `tests/it/NAME/` `` (or a path
/// starting so) for a directory.
#[test]
fn testing_names_every_test_module() {
    let mut modules = Vec::new();
    for (dir, list) in [
        ("tests/it", "tests/it/main.rs"),
        ("tests/it/serial", "tests/it/serial/mod.rs"),
    ] {
        for name in mods(list) {
            let file = format!("{dir}/{name}.rs");
            modules.push(if repo().join(&file).is_file() {
                file
            } else {
                format!("{dir}/{name}/")
            });
        }
    }
    assert!(modules.len() > 30, "{modules:?}");
    let doc = std::fs::read_to_string(repo().join("TESTING.md")).unwrap();
    let missing = unnamed(&doc, &modules);
    assert!(
        missing.is_empty(),
        "TESTING.md does not name (as `PATH` from the repository root): {}",
        missing.join(", ")
    );
}

/// Help says what each command does and nothing it refuses (issue 26,
/// trap 11): the top-level help describes every subcommand, `repl --help`
/// lists `:decode` among its commands and never mentions `--replies`,
/// which repl rejects.
#[test]
fn help_describes_every_subcommand_and_only_what_it_takes() {
    // Words, not lines: the help is wrapped to the terminal's width.
    let top = stdout_of(&p1ge0n(&["--help"]))
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    for phrase in [
        "`listen` is the server",
        "--rules",
        "`send` is the one-shot client",
        "`repl` is an interactive session",
        "`replay` resends a recorded",
        "--serve",
        "`proxy` sits between two devices",
    ] {
        assert!(
            top.contains(phrase),
            "top-level --help lacks {phrase:?}:\n{top}"
        );
    }
    let repl = stdout_of(&p1ge0n(&["repl", "--help"]));
    assert!(!repl.contains("--replies"), "{repl}");
    assert!(repl.contains(":decode PROTO"), "{repl}");
    let refused = p1ge0n(&["repl", "127.0.0.1:9", "--replies", "2"]);
    assert_eq!(code(&refused), 2, "{}", show(&refused));
}
