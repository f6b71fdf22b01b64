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
use clap::{CommandFactory, ValueHint};
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

/// The completion script for one shell: clap_complete's, and for bash, zsh
/// and fish the serial lines after `serial:` (`serial_lines`).
pub fn completion(shell: Shell) -> Vec<u8> {
    let mut cmd = cli::Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, BIN, &mut out);
    let mut script = String::from_utf8(out).expect("clap_complete writes UTF-8");
    if shell == Shell::Zsh {
        script = zsh_quoted_value_names(script);
    }
    serial_lines(shell, script).into_bytes()
}

/// clap_complete writes an option's value name into zsh's single-quoted
/// `_arguments` spec as it is: `send --request <'PROTO REQUEST'>` ended
/// the quoting early, and zsh refused the whole spec ("invalid argument:
/// REQUEST:_default"), so nothing after `p1ge0n send` completed. Its
/// quotes are written `'\''`, as clap_complete does for help texts.
fn zsh_quoted_value_names(mut script: String) -> String {
    let mut top = cli::Cli::command();
    top.build();
    let mut names: Vec<String> = Vec::new();
    for sub in top.get_subcommands() {
        for opt in sub.get_opts() {
            let first = opt.get_value_names().and_then(|n| n.first());
            if let Some(name) = first.filter(|n| n.contains('\'')) {
                if !names.contains(&name.to_string()) {
                    names.push(name.to_string());
                }
            }
        }
    }
    for name in names {
        let raw = format!("]:{name}:");
        assert!(
            script.contains(&raw),
            "clap_complete's zsh script no longer writes {raw:?} as it is: drop this fix"
        );
        script = script.replace(&raw, &format!("]:{}:", name.replace('\'', r"'\''")));
    }
    script
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
        crate::say!("wrote {}", path.display());
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

/// Where a subcommand takes an address: the 1-based positions of its
/// address arguments (those `cli.rs` marks `ValueHint::Hostname`), and its
/// options that take a value (the word after one is that value, not a
/// positional).
struct AddressSlots {
    subcommand: String,
    positions: Vec<usize>,
    valued: Vec<String>,
}

fn address_slots() -> Vec<AddressSlots> {
    let mut top = cli::Cli::command();
    top.build();
    top.get_subcommands()
        .filter_map(|sub| {
            let positions: Vec<usize> = (sub.get_positionals().enumerate())
                .filter(|(_, arg)| arg.get_value_hint() == ValueHint::Hostname)
                .map(|(i, _)| i + 1)
                .collect();
            if positions.is_empty() {
                return None;
            }
            let mut valued = Vec::new();
            for opt in sub.get_opts() {
                let shorts = opt.get_short_and_visible_aliases().unwrap_or_default();
                valued.extend(shorts.iter().map(|c| format!("-{c}")));
                let longs = opt.get_long_and_visible_aliases().unwrap_or_default();
                valued.extend(longs.iter().map(|l| format!("--{l}")));
            }
            Some(AddressSlots {
                subcommand: sub.get_name().to_string(),
                positions,
                valued,
            })
        })
        .collect()
}

/// clap_complete's static scripts complete what clap knows: fixed values,
/// files, host names. An address is `serial:PATH` too, and the paths worth
/// offering are the serial lines, `/dev/tty*`: a few lines of shell per
/// script add them after `serial:`, wherever an address goes (send, repl
/// and replay targets, listen's address, proxy's LISTEN and TARGET). Kept
/// here, so that `generate` keeps them; each edit of clap's text is checked,
/// so a clap_complete whose output changed fails loudly at generation
/// (`tests/it/docs.rs`) instead of dropping the completion.
fn serial_lines(shell: Shell, script: String) -> String {
    let slots = address_slots();
    match shell {
        Shell::Bash => {
            // clap's function becomes _p1ge0n_clap; _p1ge0n, which
            // `complete -F` names, asks it unless the word is a serial line.
            let clap = format!("_{BIN}() {{\n");
            assert!(
                script.starts_with(&clap),
                "clap_complete's bash script no longer starts with {clap:?}"
            );
            let script = script.replacen(&clap, &format!("_{BIN}_clap() {{\n"), 1);
            format!("{script}{}", bash_serial_lines(&slots))
        }
        Shell::Zsh => {
            // The address arguments' action: _hosts (ValueHint::Hostname)
            // becomes ours, defined before the script's last lines run it.
            let hosts = ":_hosts' \\\n";
            let marked: usize = slots.iter().map(|s| s.positions.len()).sum();
            assert_eq!(
                script.matches(hosts).count(),
                marked,
                "clap_complete's zsh script no longer says {hosts:?} once per address argument"
            );
            let script = script.replace(hosts, &format!(":_{BIN}_address' \\\n"));
            let tail = format!("if [ \"$funcstack[1]\" = \"_{BIN}\" ]; then");
            let at = script
                .rfind(&tail)
                .unwrap_or_else(|| panic!("clap_complete's zsh script no longer has {tail:?}"));
            format!("{}{}{}", &script[..at], ZSH_SERIAL_LINES, &script[at..])
        }
        Shell::Fish => format!("{script}{}", fish_serial_lines(&slots)),
        _ => script,
    }
}

/// The bash functions: `_p1ge0n` and the position test, from the model.
fn bash_serial_lines(slots: &[AddressSlots]) -> String {
    let mut cases = String::new();
    for slot in slots {
        let positions: Vec<String> = slot.positions.iter().map(|p| p.to_string()).collect();
        cases.push_str(&format!(
            "        {})\n            addresses=' {} '\n            valued=' {} '\n            ;;\n",
            slot.subcommand,
            positions.join(" "),
            slot.valued.join(" ")
        ));
    }
    BASH_SERIAL_LINES.replace("{cases}", &cases)
}

/// The fish functions and the completion line, from the model.
fn fish_serial_lines(slots: &[AddressSlots]) -> String {
    let mut cases = String::new();
    for slot in slots {
        let positions: Vec<String> = slot.positions.iter().map(|p| p.to_string()).collect();
        cases.push_str(&format!(
            "        case {}\n            set addresses {}\n            set valued {}\n",
            slot.subcommand,
            positions.join(" "),
            slot.valued.join(" ")
        ));
    }
    FISH_SERIAL_LINES.replace("{cases}", &cases)
}

const BASH_SERIAL_LINES: &str = r#"
# Added by `p1ge0n generate` (src/docs.rs): after `serial:`, wherever an
# address goes, the serial lines (/dev/tty*); anything else is clap's
# completion, _p1ge0n_clap.
_p1ge0n() {
    local -a words
    local line word
    if [[ -n ${COMP_LINE-} ]]; then
        # The line up to the cursor, split at blanks only: bash splits
        # `serial:/dev/tty` at the colon (COMP_WORDBREAKS).
        line=${COMP_LINE:0:COMP_POINT}
        read -ra words <<< "$line"
        [[ -z $line || $line == *[[:blank:]] ]] && words+=("")
    else
        words=("${COMP_WORDS[@]:0:COMP_CWORD+1}")
    fi
    word=${words[${#words[@]}-1]}
    if [[ $word == serial:* ]] && _p1ge0n_address_at "${words[@]}"; then
        # bash replaces only its own current word ($2): after the colon
        # when the colon breaks words, the whole word otherwise.
        local cur=${2-$word} before="" tty candidate
        [[ $word == *"$cur" ]] && before=${word%"$cur"}
        COMPREPLY=()
        for tty in /dev/tty*; do
            candidate=serial:$tty
            [[ -e $tty && $candidate == "$word"* ]] && COMPREPLY+=("${candidate#"$before"}")
        done
        return 0
    fi
    _p1ge0n_clap "$@"
}

# Whether the last of the words (p1ge0n, its subcommand, ...) is an
# address: which positional argument it is, given the options that take a
# value.
_p1ge0n_address_at() {
    local -a w=("$@")
    local last=$((${#w[@]} - 1)) i=1 n=0 dashdash=0 addresses valued
    while ((i < last)) && [[ ${w[i]} == -* ]]; do ((i++)); done
    ((i < last)) || return 1
    case ${w[i]} in
{cases}        *)
            return 1
            ;;
    esac
    for ((i++; i < last; i++)); do
        if ((dashdash)); then
            ((n++))
        elif [[ ${w[i]} == -- ]]; then
            dashdash=1
        elif [[ ${w[i]} == -?* && ${w[i]} != --*=* ]]; then
            [[ $valued == *" ${w[i]} "* ]] && ((i++))
        elif [[ ${w[i]} != --*=* ]]; then
            ((n++))
        fi
    done
    # An option right before the word takes it as its value.
    ((i == last)) && [[ $addresses == *" $((n + 1)) "* ]]
}
"#;

const ZSH_SERIAL_LINES: &str = r#"# Added by `p1ge0n generate` (src/docs.rs): after `serial:`, wherever an
# address goes, the serial lines (/dev/tty*).
(( $+functions[_p1ge0n_address] )) ||
_p1ge0n_address() {
    if compset -P 'serial:'; then
        local -a expl lines
        lines=(/dev/tty*(N))
        _wanted serial-lines expl 'serial line' compadd -a lines
    else
        _default
    fi
}

"#;

const FISH_SERIAL_LINES: &str = r#"
# Added by `p1ge0n generate` (src/docs.rs): after `serial:`, wherever an
# address goes, the serial lines (/dev/tty*). Whether the token is an
# address: which positional argument it is, given the options that take a
# value.
function __fish_p1ge0n_serial_address
    string match -q -- 'serial:*' (commandline -ct); or return 1
    set -l words (commandline -opc)
    set -l i 2
    while test $i -le (count $words); and string match -q -- '-*' $words[$i]
        set i (math $i + 1)
    end
    test $i -le (count $words); or return 1
    set -l addresses
    set -l valued
    switch $words[$i]
{cases}        case '*'
            return 1
    end
    set -l n 0
    set -l dashdash 0
    set -l value 0
    set i (math $i + 1)
    while test $i -le (count $words)
        set -l w $words[$i]
        set i (math $i + 1)
        if test $value = 1
            set value 0
        else if test $dashdash = 1
            set n (math $n + 1)
        else if test "$w" = --
            set dashdash 1
        else if string match -qr -- '^-.' $w
            # An option; its value is the next word, unless --option=value.
            if contains -- $w $valued
                set value 1
            end
        else
            set n (math $n + 1)
        end
    end
    # An option right before the token takes it as its value.
    test $value = 0; and contains -- (math $n + 1) $addresses
end

complete -c p1ge0n -n __fish_p1ge0n_serial_address -f -a '(for tty in /dev/tty*; echo serial:$tty; end)'
"#;

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
