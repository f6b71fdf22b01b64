//! One module per subcommand; each is a composition of the shared core
//! (payload, frame, display, net) with its own socket loop.

pub mod listen;
pub mod repl;
pub mod replay;
pub mod send;

use anyhow::Result;

use crate::{exit, payload};

/// Parse a payload given on the command line (`what` names it in errors, e.g.
/// "payload 2" or "--expect"); `@FILE` reads the file's bytes verbatim.
pub fn parse_payload_arg(what: &str, text: &str, mode: payload::PayloadMode) -> Result<Vec<u8>> {
    if let Some(path) = text.strip_prefix('@') {
        return std::fs::read(path)
            .map_err(|e| exit::usage(format!("{what}: cannot read '{path}': {e}")));
    }
    payload::parse(text, mode).map_err(|e| exit::usage(format!("{what} '{text}': {e}")))
}

/// The payload mode for `-x/--hex`.
pub fn mode(hex: bool) -> payload::PayloadMode {
    if hex {
        payload::PayloadMode::Hex
    } else {
        payload::PayloadMode::Text
    }
}
