//! The repl's command language: what a typed line means (a payload to
//! send, or a `:` command), what `:help` says, and what Tab offers. Pure:
//! both the terminal and the piped session interpret lines here.

use std::path::PathBuf;

use clap::builder::TypedValueParser;

use crate::{
    cli,
    cmd::inputs,
    decode::Protocol,
    display::Format,
    frame::FrameSpec,
    payload::{self, Eol, PayloadMode},
};

/// The `:` commands: name, argument, help. One table serves `:help`, tab
/// completion and the parser.
const COMMANDS: &[(&str, &str, &str)] = &[
    ("help", "", "this list, and the current settings"),
    (
        "hex",
        "BYTES",
        "send exactly these hex bytes (no end of line), in any mode",
    ),
    (
        "mode",
        "text|hex",
        "how lines are read: text with escapes, or hex",
    ),
    (
        "eol",
        "none|lf|crlf|cr|PAYLOAD",
        "end of line appended to each line",
    ),
    (
        "format",
        "text|hex|hexdump|json|raw",
        "how traffic is shown",
    ),
    (
        "frame",
        "SPEC",
        "how incoming bytes split into messages (raw, line, stx-etx, ...)",
    ),
    (
        "decode",
        "PROTO",
        "say what each message means (the framing stays as it is)",
    ),
    (
        "request",
        "PROTO REQUEST",
        "send a request built for you, e.g. :request modbus read-holding count=10",
    ),
    (
        "reconnect",
        "",
        "close the connection (if any) and connect again",
    ),
    (
        "capture",
        "FILE",
        "record the session as a JSON Lines capture",
    ),
    ("quit", "", "end the session (also :q, Ctrl-D)"),
];

/// What `:` commands change; everything else is fixed by the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub mode: PayloadMode,
    pub eol: Eol,
    pub format: Format,
    pub frame: FrameSpec,
    pub decode: Protocol,
}

impl Settings {
    pub fn prompt(&self) -> String {
        format!("{}> ", self.mode.name())
    }
}

/// What one input line asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Action {
    /// Bytes for the peer: a payload line with its end of line, or `:hex`.
    Send(Vec<u8>),
    Set(Setting),
    /// Something to tell the user (`:help`, a setting's current value).
    Say(String),
    Reconnect,
    Capture(PathBuf),
    /// `:request PROTO WORDS`: checked here, built (numbered, in its
    /// serial form on a serial line) when sent.
    Request(String),
    Quit,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Setting {
    Mode(PayloadMode),
    Eol(Eol),
    Format(Format),
    Frame(FrameSpec),
    Decode(Protocol),
}

/// Interpret one line. `what` names it in errors ("line" at the prompt,
/// "line 3" from a pipe); errors name the column in the line as typed.
pub fn interpret(line: &str, settings: &Settings, what: &str) -> Result<Action, String> {
    let Some(command) = line.strip_prefix(':') else {
        let mut bytes = inputs::parse_payload_arg(what, line, settings.mode)
            .map_err(|e| format!("{e:#}; not sent"))?;
        bytes.extend_from_slice(settings.eol.bytes());
        return Ok(Action::Send(bytes));
    };
    let name_end = command.find(char::is_whitespace).unwrap_or(command.len());
    let (name, rest) = command.split_at(name_end);
    let arg = rest.trim();
    // Columns in argument errors count from the start of the line, so they
    // point where the user typed.
    let arg_start = 1 + name_end + (rest.len() - rest.trim_start().len());
    let shift = line[..arg_start].chars().count();
    let bad = |reason: String| format!("{what} '{line}': {reason}");
    let no_argument = |action: Action| {
        if arg.is_empty() {
            Ok(action)
        } else {
            Err(bad(format!("':{name}' takes no argument")))
        }
    };
    match name {
        "help" => Ok(Action::Say(help(settings))),
        "hex" if arg.is_empty() => Err(bad("':hex' needs bytes, e.g. :hex 02 41 03".into())),
        // Exactly the bytes given: `:hex` is the escape hatch for a
        // telegram that must not get the line's end of line.
        "hex" => payload::parse_hex(arg)
            .map(Action::Send)
            .map_err(|e| bad(format!("{}; not sent", e.shifted(shift)))),
        "mode" => match arg {
            "" => Ok(Action::Say(format!("mode: {}", settings.mode.name()))),
            "text" => Ok(Action::Set(Setting::Mode(PayloadMode::Text))),
            "hex" => Ok(Action::Set(Setting::Mode(PayloadMode::Hex))),
            other => Err(bad(format!("unknown mode '{other}' (text or hex)"))),
        },
        "eol" if arg.is_empty() => Ok(Action::Say(format!("eol: {}", settings.eol))),
        "eol" => arg
            .parse::<Eol>()
            .map(|eol| Action::Set(Setting::Eol(eol)))
            .map_err(|e| bad(e.shifted(shift).to_string())),
        "format" if arg.is_empty() => Ok(Action::Say(format!("format: {}", settings.format))),
        "format" => arg
            .parse::<Format>()
            .map(|f| Action::Set(Setting::Format(f)))
            .map_err(bad),
        "frame" if arg.is_empty() => Ok(Action::Say(format!("frame: {}", settings.frame))),
        "frame" => arg
            .parse::<FrameSpec>()
            .map(|f| Action::Set(Setting::Frame(f)))
            .map_err(|e| bad(format!("at column {}: {}", e.column + shift, e.reason))),
        "decode" if arg.is_empty() => Ok(Action::Say(format!("decode: {}", settings.decode))),
        "decode" => arg
            .parse::<Protocol>()
            .map(|p| Action::Set(Setting::Decode(p)))
            .map_err(bad),
        "request" if arg.is_empty() => Err(bad(
            "':request' needs a protocol and a request, e.g. :request modbus read-holding count=10"
                .into(),
        )),
        "request" => crate::decode::build_request(arg, &Default::default())
            .map(|_| Action::Request(arg.to_string()))
            .map_err(|e| bad(format!("{e}; not sent"))),
        "reconnect" => no_argument(Action::Reconnect),
        "capture" if arg.is_empty() => Err(bad("':capture' needs a file name".into())),
        "capture" => Ok(Action::Capture(PathBuf::from(arg))),
        "quit" | "q" => no_argument(Action::Quit),
        _ => Err(bad(
            "unknown command; :help lists the commands (write \\x3a to send a line starting with ':')"
                .into(),
        )),
    }
}

fn help(settings: &Settings) -> String {
    let usages: Vec<String> = COMMANDS
        .iter()
        .map(|(name, arg, _)| match *arg {
            // The protocols of decode::DECODERS, then auto and none.
            "PROTO" => {
                let mut names: Vec<&str> = Protocol::names()[1..].to_vec();
                names.push("none");
                format!(":{name} {}", names.join("|"))
            }
            _ => format!(":{name} {arg}"),
        })
        .collect();
    let width = usages.iter().map(String::len).max().unwrap_or(0);
    let mut text = String::from("Commands:\n");
    for (usage, (.., what)) in usages.iter().zip(COMMANDS) {
        text.push_str(&format!("  {usage:<width$}  {what}\n"));
    }
    text.push_str(
        "Any other line is sent: text with escapes \\r \\n \\t \\0 \\\\ \\e \\xHH (hex bytes in\n\
         hex mode), then the end of line; @FILE sends a file. Write \\x3a to send a\n\
         line that starts with ':'.\n\
         Keys: Up/Down history, Tab completes, Ctrl-C clears the line, Ctrl-D quits.\n",
    );
    text.push_str(&format!(
        "Now: mode {}, eol {}, format {}, frame {}, decode {}",
        settings.mode.name(),
        settings.eol,
        settings.format,
        settings.frame,
        settings.decode
    ));
    text
}

/// What Tab offers for the text before the cursor.
#[derive(Debug, PartialEq, Eq)]
pub enum Completion {
    /// Replace from byte `start` to the cursor with one of these.
    Words(usize, Vec<Candidate>),
    /// A file name (`:capture`).
    Files,
    Nothing,
}

/// rustyline's `Pair`, comparable in tests.
#[derive(Debug, PartialEq, Eq)]
pub struct Candidate {
    pub display: String,
    pub replacement: String,
}

/// Command names after a leading `:`, then each command's values. The
/// values come from where they are defined (the format and frame parsers,
/// `Eol`'s own spelling) so completion cannot offer what the parser refuses.
pub fn completions(before_cursor: &str) -> Completion {
    let Some(command) = before_cursor.strip_prefix(':') else {
        return Completion::Nothing;
    };
    let Some(name_end) = command.find(char::is_whitespace) else {
        let names = COMMANDS
            .iter()
            .filter(|(name, ..)| name.starts_with(command))
            .map(|(name, arg, _)| Candidate {
                display: format!(":{name}"),
                // A space after a command that takes a value, so the next
                // Tab goes straight to the values.
                replacement: format!(":{name}{}", if arg.is_empty() { "" } else { " " }),
            })
            .collect();
        return Completion::Words(0, names);
    };
    let name = &command[..name_end];
    let rest = &command[name_end..];
    let value = rest.trim_start();
    let start = before_cursor.len() - value.len();
    let values: Vec<String> = match name {
        "mode" => vec!["text".into(), "hex".into()],
        "eol" => [Eol::None, Eol::Lf, Eol::Crlf, Eol::Cr]
            .iter()
            .map(ToString::to_string)
            .collect(),
        "format" => names_of(&cli::format_parser()),
        "frame" => names_of(&cli::frame_parser()),
        "decode" => names_of(&cli::decode_parser()),
        "capture" => return Completion::Files,
        _ => return Completion::Nothing,
    };
    let pairs = values
        .into_iter()
        .filter(|v| v.starts_with(value))
        .map(|v| Candidate {
            display: v.clone(),
            replacement: v,
        })
        .collect();
    Completion::Words(start, pairs)
}

fn names_of<P: TypedValueParser>(parser: &P) -> Vec<String> {
    parser
        .possible_values()
        .map(|values| values.map(|v| v.get_name().to_string()).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings {
            mode: PayloadMode::Text,
            eol: Eol::Lf,
            format: Format::Text,
            frame: FrameSpec::Raw,
            decode: Protocol::None,
        }
    }

    fn run(line: &str) -> Result<Action, String> {
        interpret(line, &settings(), "line")
    }

    #[test]
    fn a_line_is_a_payload_with_the_end_of_line() {
        assert_eq!(run("a\\x02b"), Ok(Action::Send(b"a\x02b\n".to_vec())));
        assert_eq!(run(""), Ok(Action::Send(b"\n".to_vec())));
        let hex = Settings {
            mode: PayloadMode::Hex,
            eol: Eol::Crlf,
            ..settings()
        };
        assert_eq!(
            interpret("02 41", &hex, "line"),
            Ok(Action::Send(b"\x02A\r\n".to_vec()))
        );
    }

    #[test]
    fn a_bad_payload_names_the_column_and_is_not_sent() {
        let err = run("ab\\q").unwrap_err();
        assert!(err.contains("at column 3"), "{err}");
        assert!(err.ends_with("not sent"), "{err}");
        let err = interpret("ok\n\\x4", &settings(), "line 7").unwrap_err();
        assert!(err.starts_with("line 7 "), "{err}");
    }

    #[test]
    fn hex_sends_exactly_its_bytes() {
        assert_eq!(run(":hex 02 41 03"), Ok(Action::Send(vec![2, 0x41, 3])));
        // The column points into the line as typed.
        let err = run(":hex  02 4g").unwrap_err();
        assert!(err.contains("at column 11"), "{err}");
        assert!(run(":hex").is_err());
    }

    #[test]
    fn settings_commands() {
        assert_eq!(
            run(":mode hex"),
            Ok(Action::Set(Setting::Mode(PayloadMode::Hex)))
        );
        assert_eq!(run(":mode"), Ok(Action::Say("mode: text".into())));
        assert_eq!(run(":eol crlf"), Ok(Action::Set(Setting::Eol(Eol::Crlf))));
        assert_eq!(
            run(":eol \\x03"),
            Ok(Action::Set(Setting::Eol(Eol::Custom(vec![3]))))
        );
        assert!(run(":eol \\q").unwrap_err().contains("at column 6"));
        assert_eq!(
            run(":format hexdump"),
            Ok(Action::Set(Setting::Format(Format::Hexdump)))
        );
        assert_eq!(
            run(":frame stx-etx"),
            Ok(Action::Set(Setting::Frame(FrameSpec::StxEtx)))
        );
        assert_eq!(run(":frame"), Ok(Action::Say("frame: raw".into())));
        assert!(run(":frame fixed=x").unwrap_err().contains("at column"));
        assert!(run(":mode binary").is_err());
    }

    #[test]
    fn other_commands() {
        assert_eq!(run(":reconnect"), Ok(Action::Reconnect));
        assert_eq!(run(":quit"), Ok(Action::Quit));
        assert_eq!(run(":q"), Ok(Action::Quit));
        assert!(run(":quit now").is_err());
        assert_eq!(
            run(":capture s.jsonl"),
            Ok(Action::Capture(PathBuf::from("s.jsonl")))
        );
        let Ok(Action::Say(help)) = run(":help") else {
            panic!()
        };
        for (name, ..) in COMMANDS {
            assert!(help.contains(&format!(":{name}")), "{help}");
        }
        let err = run(":bogus").unwrap_err();
        assert!(err.contains("unknown command"), "{err}");
        assert!(run(":").unwrap_err().contains("unknown command"));
    }

    fn words(before: &str) -> (usize, Vec<String>) {
        match completions(before) {
            Completion::Words(start, pairs) => {
                (start, pairs.into_iter().map(|p| p.replacement).collect())
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn completes_command_names_and_values() {
        assert_eq!(words(":mo"), (0, vec![":mode ".to_string()]));
        assert_eq!(
            words(":rec").1,
            vec![":reconnect".to_string()],
            "no space after a command without argument"
        );
        assert_eq!(words(":req").1, vec![":request ".to_string()]);
        assert_eq!(words(":").1.len(), COMMANDS.len());
        assert_eq!(words(":mode h"), (6, vec!["hex".to_string()]));
        assert_eq!(words(":eol  c"), (6, vec!["crlf".into(), "cr".into()]));
        assert_eq!(words(":format hexd").1, vec!["hexdump".to_string()]);
        assert!(words(":frame ").1.contains(&"stx-etx".to_string()));
        assert_eq!(completions(":capture ses"), Completion::Files);
        assert_eq!(completions("hello"), Completion::Nothing);
        assert_eq!(completions(":hex 02"), Completion::Nothing);
    }

    #[test]
    fn completed_values_parse() {
        for (command, _) in [(":mode ", 0), (":eol ", 0), (":format ", 0), (":frame ", 0)] {
            for value in words(command).1 {
                // Prefix forms like `delim=` need more; the rest must parse.
                if value.ends_with('=') {
                    continue;
                }
                let line = format!("{command}{value}");
                assert!(run(&line).is_ok(), "{line}: {:?}", run(&line));
            }
        }
    }
}
