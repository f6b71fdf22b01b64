//! Shell completions and man pages, generated from the same clap model that
//! parses the command line, so the documentation cannot describe flags that
//! do not exist.
//!
//! The generated files are committed (`completions/`, `man/`) because users
//! and packagers install them without building; `tests/it/docs.rs` regenerates
//! everything in memory and fails when the committed copies drift. The
//! sections clap does not produce (EXIT STATUS, EXAMPLES, FILES, SEE ALSO)
//! are written here from the same help texts `--help` shows. No dates are
//! written, so the output is reproducible.

use std::{
    io::Write,
    path::{Path, PathBuf},
};

use anyhow::{Context, Result};
use clap::CommandFactory;
use clap_complete::{Generator, Shell};
use clap_mangen::{
    roff::{bold, roman, Roff},
    Man,
};

use crate::{cli, exit::ExitCode};

const BIN: &str = "p1ge0n";

/// The date in the man pages' title line: fixed (not the build time) so the
/// pages are reproducible; bump it with each release.
const MAN_DATE: &str = "2026-11-25";

/// Every shell we ship a completion script for.
pub const SHELLS: [Shell; 5] = [
    Shell::Bash,
    Shell::Zsh,
    Shell::Fish,
    Shell::Elvish,
    Shell::PowerShell,
];

/// The completion script for one shell.
pub fn completion(shell: Shell) -> Vec<u8> {
    let mut cmd = cli::Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, BIN, &mut out);
    out
}

/// `p1ge0n completions SHELL`.
pub fn print_completion(shell: Shell) -> Result<ExitCode> {
    std::io::stdout().write_all(&completion(shell))?;
    Ok(ExitCode::Success)
}

/// Every generated file, as (path relative to the repository root, bytes).
pub fn generated_files() -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    for shell in SHELLS {
        files.push((
            Path::new("completions").join(shell.file_name(BIN)),
            completion(shell),
        ));
    }
    for (name, page) in man_pages() {
        files.push((Path::new("man").join(name), page));
    }
    files
}

/// `p1ge0n generate DIR`: write completions/ and man/ under DIR.
pub fn write_all(dir: &Path) -> Result<ExitCode> {
    for (path, bytes) in generated_files() {
        let path = dir.join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    Ok(ExitCode::Success)
}

/// The man pages: `p1ge0n.1` and one per visible subcommand.
pub fn man_pages() -> Vec<(String, Vec<u8>)> {
    let mut top = cli::Cli::command().disable_help_subcommand(true);
    top.build();
    let mut pages = vec![(format!("{BIN}.1"), render_page(&top, true))];
    for sub in top.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("{BIN}-{}.1", sub.get_name());
        pages.push((name, render_page(sub, false)));
    }
    pages
}

fn render_page(cmd: &clap::Command, is_top: bool) -> Vec<u8> {
    let man = Man::new(cmd.clone());
    let mut out = Vec::new();
    // clap_mangen drops an empty date from .TH, shifting the fields; write
    // the title line ourselves, with an explicitly empty date (reproducible).
    let title = cmd.get_display_name().unwrap_or_else(|| cmd.get_name());
    let _ = writeln!(
        out,
        ".TH {} 1 \"{MAN_DATE}\" \"{BIN} {}\" \"p1ge0n manual\"",
        title.to_uppercase(),
        env!("CARGO_PKG_VERSION")
    );
    // Writing into a Vec cannot fail.
    let _ = man.render_name_section(&mut out);
    let _ = man.render_synopsis_section(&mut out);
    let _ = man.render_description_section(&mut out);
    if cmd.get_arguments().any(|a| !a.is_hide_set()) {
        let _ = man.render_options_section(&mut out);
    }
    if is_top {
        let _ = man.render_subcommands_section(&mut out);
    }
    let mut roff = Roff::new();
    exit_status_section(&mut roff);
    examples_section(&mut roff, cmd, is_top);
    notes_section(&mut roff, cmd);
    files_section(&mut roff, cmd.get_name());
    see_also_section(&mut roff, cmd.get_name(), is_top);
    let _ = roff.to_writer(&mut out);
    if is_top {
        let _ = man.render_version_section(&mut out);
    }
    // The roff crate writes a literal backslash as `\\`, which groff takes
    // but mandoc flags; `\(rs` is the portable spelling.
    String::from_utf8_lossy(&out)
        .replace("\\\\", "\\(rs")
        .into_bytes()
}

/// Rows of an indented two-column block ("  KEY   text"), as the help texts
/// in `cli.rs` write them: split at the first run of two or more spaces.
fn rows(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|line| line.strip_prefix("  "))
        .filter(|line| !line.starts_with(' '))
        .map(|line| match line.find("  ") {
            Some(i) => (line[..i].to_string(), line[i..].trim().to_string()),
            None => (line.trim().to_string(), String::new()),
        })
        .collect()
}

fn exit_status_section(roff: &mut Roff) {
    roff.control("SH", ["EXIT STATUS"]);
    for code in ExitCode::ALL {
        roff.control("TP", [])
            .text([bold((code as u8).to_string())])
            .text([roman(code.meaning())]);
    }
}

fn examples_section(roff: &mut Roff, cmd: &clap::Command, is_top: bool) {
    let mut examples = Vec::new();
    if is_top {
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            let help = sub
                .get_after_long_help()
                .map(|h| h.to_string())
                .unwrap_or_default();
            examples.extend(
                rows(&help)
                    .into_iter()
                    .filter(|(c, _)| c.contains(BIN))
                    .take(2),
            );
        }
    } else {
        let help = cmd
            .get_after_long_help()
            .map(|h| h.to_string())
            .unwrap_or_default();
        examples.extend(rows(&help).into_iter().filter(|(c, _)| c.contains(BIN)));
    }
    if examples.is_empty() {
        return;
    }
    roff.control("SH", ["EXAMPLES"]);
    for (command, what) in examples {
        roff.control("TP", []).text([bold(command)]);
        if !what.is_empty() {
            roff.text([roman(what)]);
        }
    }
}

/// Paragraphs of the subcommand's long help that are neither examples nor
/// the exit-status summary (e.g. repl's command list, replay's script syntax).
fn notes_section(roff: &mut Roff, cmd: &clap::Command) {
    let help = cmd
        .get_after_long_help()
        .map(|h| h.to_string())
        .unwrap_or_default();
    let notes: Vec<String> = help
        .split("\n\n")
        .filter(|p| !p.starts_with("Examples:") && !p.starts_with("Exit status"))
        .map(|p| p.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|p| !p.is_empty())
        .collect();
    if notes.is_empty() {
        return;
    }
    roff.control("SH", ["NOTES"]);
    for (i, note) in notes.into_iter().enumerate() {
        if i > 0 {
            roff.control("PP", []);
        }
        roff.text([roman(note)]);
    }
}

fn files_section(roff: &mut Roff, name: &str) {
    const CAPTURE: &str = "--capture FILE writes JSON Lines (mode 0600): a header line \
        {\"p1ge0n\":\"capture\",\"version\":1,\"started\":...,\"transport\":...,\"local\":...,\"side\":...} \
        then one object per event with t, conn, peer, event (open, data, close, error) and, \
        for data, from (client or server), len, hex and text. p1ge0n-replay(1) reads it. \
        --pcap FILE writes the same traffic as a pcapng file (mode 0600) that Wireshark and \
        p1ge0n-replay(1) open.";
    roff.control("SH", ["FILES"]);
    let text = match name {
        "listen" => {
            format!("--rules FILE is a TOML file of rules (see --rules in OPTIONS). {CAPTURE}")
        }
        "proxy" => format!(
            "{CAPTURE} A proxy's capture has \"side\":\"proxy\" and both directions of every \
             connection; replay it against the real server."
        ),
        "send" => format!("@FILE payloads are read verbatim from the named file. {CAPTURE}"),
        "repl" => format!(
            "History is kept in $XDG_STATE_HOME/p1ge0n/history (default \
             ~/.local/state/p1ge0n/history), or the file given with --history. {CAPTURE}"
        ),
        "replay" => "FILE is a pcap or pcapng file (recognised by its magic bytes), a p1ge0n \
            capture (first line {\"p1ge0n\":\"capture\",...}), or a script: '> PAYLOAD' sends, \
            '< PAYLOAD' is the expected reply, '+DUR' pauses, '#' starts a comment. --junit FILE \
            writes a JUnit XML report: one test case per checked message."
            .to_string(),
        "completions" => {
            "Completion scripts are also shipped in the completions/ directory of the source tree."
                .to_string()
        }
        _ => format!(
            "History: $XDG_STATE_HOME/p1ge0n/history (repl). Captures: JSON Lines written by \
             --capture and read by replay. {CAPTURE}"
        ),
    };
    roff.text([roman(text)]);
}

fn see_also_section(roff: &mut Roff, name: &str, is_top: bool) {
    roff.control("SH", ["SEE ALSO"]);
    let top = cli::Cli::command();
    let mut refs: Vec<String> = top
        .get_subcommands()
        .filter(|sub| !sub.is_hide_set())
        .map(|sub| sub.get_name())
        .filter(|sub| is_top || *sub != name)
        .map(|sub| format!("{BIN}-{sub}(1)"))
        .collect();
    if !is_top {
        refs.insert(0, format!("{BIN}(1)"));
    }
    refs.extend(["nc(1)", "socat(1)", "ncat(1)", "hexdump(1)"].map(String::from));
    roff.text([roman(refs.join(", "))]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_split_at_the_column_gap() {
        let r =
            rows("Examples:\n  p1ge0n listen 9000      echo server\n  3    could not connect\n");
        assert_eq!(r[0], ("p1ge0n listen 9000".into(), "echo server".into()));
        assert_eq!(r[1], ("3".into(), "could not connect".into()));
    }

    #[test]
    fn every_page_has_the_hand_written_sections() {
        for (name, page) in man_pages() {
            let page = String::from_utf8(page).unwrap();
            for section in ["EXIT STATUS", "EXAMPLES", "FILES", "SEE ALSO"] {
                assert!(
                    page.contains(&format!(".SH \"{section}\""))
                        || page.contains(&format!(".SH {section}")),
                    "{name} lacks {section}"
                );
            }
        }
    }
}
