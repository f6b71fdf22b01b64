//! The import graph of `src/`, read from the source (docs/ARCHITECTURE.md,
//! "The rule"): the core (payload syntax, framing, replies, records, the
//! output formats, captures, pcap, decoders, rules, JUnit, units, exit
//! statuses) uses nothing that does I/O, and no two modules lean on each
//! other.
//!
//! Each top-level module's files (`src/NAME.rs`, or every file under
//! `src/NAME/`) are read with comments (`//`, `///`, `//!`, `/* */`) and
//! the contents of string and character literals removed; what is left is
//! scanned for `crate::NAME` (and each name at the top level of a
//! `crate::{...}` group, nested groups included) and for the identifier
//! `tokio`. `super::` paths stay inside a module's own directory and are
//! not counted. Test code (`#[cfg(test)]`) counts like the rest: the core
//! is tested without sockets too.
//!
//! `cargo test --test it architecture:: -- --nocapture` prints the graph.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::util::repo;

/// The core: bytes, values and instants in, bytes and decisions out.
const CORE: &[&str] = &[
    "append", "capture", "decode", "display", "exit", "fault", "flow", "frame", "junit", "payload",
    "pcap", "pcapng", "program", "record", "reply", "rules", "rtu", "schema", "units",
];

/// Everything else: the shells that do I/O (net, exchange, output, relay,
/// stdin, process, docs) and what sits on top (cli, cmd). The core may use
/// none of them, nor tokio.
const NOT_CORE: &[&str] = &[
    "cli", "cmd", "docs", "exchange", "exec", "net", "output", "process", "relay", "say", "stdin",
];

/// On top: the command line (`cli`), what is generated from it (`docs`)
/// and the subcommands (`cmd`) may use anything, so they are left out of
/// the cycle check.
const ON_TOP: &[&str] = &["cli", "cmd", "docs"];

/// The top-level modules declared in `src/lib.rs` (`pub mod NAME;`).
fn crate_modules() -> Vec<String> {
    let lib = std::fs::read_to_string(repo().join("src/lib.rs")).unwrap();
    strip(&lib)
        .lines()
        .filter_map(|line| {
            let rest = line.trim().strip_prefix("pub mod ")?;
            Some(rest.strip_suffix(';')?.trim().to_string())
        })
        .collect()
}

/// Every `.rs` file of a top-level module: `src/NAME.rs`, or all files
/// under `src/NAME/`.
fn module_files(name: &str) -> Vec<std::path::PathBuf> {
    let file = repo().join("src").join(format!("{name}.rs"));
    if file.is_file() {
        return vec![file];
    }
    let mut files = Vec::new();
    collect_rs(&repo().join("src").join(name), &mut files);
    assert!(
        !files.is_empty(),
        "module {name}: no src/{name}.rs nor src/{name}/"
    );
    files
}

fn collect_rs(dir: &Path, files: &mut Vec<std::path::PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            collect_rs(&path, files);
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
}

/// Rust source without comments and without the contents of string and
/// character literals (so neither a doc comment nor a message that says
/// `crate::net` or `tokio` counts as a use). Lifetimes (`'a`) are kept.
fn strip(source: &str) -> String {
    let c: Vec<char> = source.chars().collect();
    let mut out = String::with_capacity(source.len());
    let mut i = 0;
    while i < c.len() {
        let at = |k: usize| c.get(k).copied().unwrap_or('\0');
        if c[i] == '/' && at(i + 1) == '/' {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if c[i] == '/' && at(i + 1) == '*' {
            let mut depth = 0;
            while i < c.len() {
                if c[i] == '/' && at(i + 1) == '*' {
                    depth += 1;
                    i += 2;
                } else if c[i] == '*' && at(i + 1) == '/' {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            out.push(' ');
        } else if c[i] == 'r'
            && (at(i + 1) == '"' || (at(i + 1) == '#' && matches!(at(i + 2), '"' | '#')))
            && (!is_ident(at(i.wrapping_sub(1)))
                || (at(i.wrapping_sub(1)) == 'b' && !is_ident(at(i.wrapping_sub(2)))))
        {
            // r"...", r#"..."#, br"...": ends at the quote followed by as
            // many #.
            let mut hashes = 0;
            i += 1;
            while at(i) == '#' {
                hashes += 1;
                i += 1;
            }
            i += 1;
            while i < c.len() {
                if c[i] == '"' && (1..=hashes).all(|k| at(i + k) == '#') {
                    i += 1 + hashes;
                    break;
                }
                i += 1;
            }
            out.push_str("\"\"");
        } else if c[i] == '"' {
            i += 1;
            while i < c.len() && c[i] != '"' {
                i += if c[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else if c[i] == '\'' && at(i + 1) == '\\' {
            // '\n', '\x41', '\u{1F600}', '\''
            i += 2;
            while i < c.len() && c[i] != '\'' {
                i += 1;
            }
            i += 1;
            out.push_str("' '");
        } else if c[i] == '\'' && at(i + 2) == '\'' {
            i += 3;
            out.push_str("' '");
        } else {
            out.push(c[i]);
            i += 1;
        }
    }
    out
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The leading identifier of `text` (after whitespace).
fn ident(text: &str) -> &str {
    let text = text.trim_start();
    let end = text.find(|c: char| !is_ident(c)).unwrap_or(text.len());
    &text[..end]
}

/// What stripped source uses: the top-level modules it names through
/// `crate::`, and whether it names `tokio`.
fn references(code: &str) -> (BTreeSet<String>, bool) {
    let mut names = BTreeSet::new();
    let mut from = 0;
    while let Some(found) = code[from..].find("crate") {
        let start = from + found;
        from = start + "crate".len();
        let before = code[..start].chars().next_back().unwrap_or(' ');
        if is_ident(before) {
            continue;
        }
        let rest = code[from..].trim_start();
        let Some(rest) = rest.strip_prefix("::") else {
            continue;
        };
        let rest = rest.trim_start();
        if let Some(group) = rest.strip_prefix('{') {
            names.extend(group_names(group));
        } else {
            names.insert(ident(rest).to_string());
        }
    }
    names.retain(|n| !n.is_empty() && n != "self");
    let tokio = code.match_indices("tokio").any(|(at, _)| {
        let before = code[..at].chars().next_back().unwrap_or(' ');
        let after = code[at + "tokio".len()..].chars().next().unwrap_or(' ');
        !is_ident(before) && !is_ident(after)
    });
    (names, tokio)
}

/// The names at the top level of a `{...}` group whose opening brace has
/// been consumed: `a::{b, c}, d}` gives `a` and `d`.
fn group_names(group: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut depth = 1;
    let mut item_start = true;
    for (at, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            ',' if depth == 1 => item_start = true,
            c if depth == 1 && item_start && is_ident(c) => {
                names.push(ident(&group[at..]).to_string());
                item_start = false;
            }
            _ => {}
        }
    }
    names
}

/// Each top-level module: the other top-level modules it uses, and
/// whether it uses tokio.
fn graph() -> BTreeMap<String, (BTreeSet<String>, bool)> {
    crate_modules()
        .into_iter()
        .map(|name| {
            let mut deps = BTreeSet::new();
            let mut tokio = false;
            for file in module_files(&name) {
                let source = std::fs::read_to_string(&file).unwrap();
                let (names, uses_tokio) = references(&strip(&source));
                deps.extend(names);
                tokio |= uses_tokio;
            }
            deps.remove(&name);
            (name, (deps, tokio))
        })
        .collect()
}

fn print(graph: &BTreeMap<String, (BTreeSet<String>, bool)>) {
    println!("the import graph of src/ (crate:: uses; + tokio):");
    for (name, (deps, tokio)) in graph {
        let layer = if CORE.contains(&name.as_str()) {
            "core"
        } else {
            "    "
        };
        let mut line: Vec<&str> = deps.iter().map(String::as_str).collect();
        if *tokio {
            line.push("+tokio");
        }
        println!("  {layer} {name:<9} -> {}", line.join(", "));
    }
}

#[test]
fn every_module_is_core_or_not() {
    let modules: BTreeSet<String> = crate_modules().into_iter().collect();
    let placed: BTreeSet<String> = CORE.iter().chain(NOT_CORE).map(|s| s.to_string()).collect();
    assert_eq!(
        modules, placed,
        "src/lib.rs's modules and this test's CORE + NOT_CORE differ: place a new module \
         (and name it in docs/ARCHITECTURE.md)"
    );
}

#[test]
fn the_core_uses_no_shell_and_no_tokio() {
    let graph = graph();
    print(&graph);
    let mut wrong = Vec::new();
    for name in CORE {
        let (deps, tokio) = &graph[*name];
        for dep in deps.iter().filter(|d| NOT_CORE.contains(&d.as_str())) {
            wrong.push(format!("{name} -> {dep}"));
        }
        if *tokio {
            wrong.push(format!("{name} -> tokio"));
        }
    }
    assert!(
        wrong.is_empty(),
        "the core reaches out: {}",
        wrong.join("; ")
    );
}

#[test]
fn no_two_modules_use_each_other() {
    let graph = graph();
    let mut cycles = Vec::new();
    for (name, (deps, _)) in &graph {
        if ON_TOP.contains(&name.as_str()) {
            continue;
        }
        for dep in deps {
            let back = graph.get(dep).is_some_and(|(d, _)| d.contains(name));
            if name < dep && back && !ON_TOP.contains(&dep.as_str()) {
                cycles.push(format!("{name} <-> {dep}"));
            }
        }
    }
    assert!(
        cycles.is_empty(),
        "modules that use each other: {}",
        cycles.join("; ")
    );
}

/// The scanner itself: nested groups, comments and literals.
#[test]
fn the_scanner_reads_groups_and_skips_comments_and_literals() {
    let code = r##"
        //! uses crate::net in a doc comment
        use crate::{
            a::{b, c::{d, e}},
            f,
            g::h as i,
        };
        use crate::j::k;
        /* crate::block */ fn x() -> &'static str { let _ = crate::l::m(); "crate::str tokio" }
        let c = '"'; let _ = crate::n; let r = r#"crate::raw "# ;
        #[tokio::test] async fn t() {}
    "##;
    let (names, tokio) = references(&strip(code));
    let expected: BTreeSet<String> = ["a", "f", "g", "j", "l", "n"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(names, expected);
    assert!(tokio);
    let (_, tokio) = references(&strip("// tokio\nlet s = \"tokio\"; let tokio_x = 1;"));
    assert!(!tokio);
}
