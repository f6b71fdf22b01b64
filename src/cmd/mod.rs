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

/// Stdin as a stream of chunks, read on a plain thread. tokio's own stdin
/// hands every read to its blocking pool (a thread hop per read), which
/// dominates a one-shot `echo hello | p1ge0n send`; one reader thread that
/// blocks in `read` is both simpler and faster. The thread is not joined: at
/// exit it may still be waiting for input nobody will send.
pub fn stdin_chunks() -> tokio::sync::mpsc::Receiver<std::io::Result<Vec<u8>>> {
    use std::io::Read;
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    std::thread::Builder::new()
        .name("stdin".into())
        .spawn(move || {
            let mut stdin = std::io::stdin().lock();
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let chunk = match stdin.read(&mut buf) {
                    Ok(0) => return,
                    Ok(n) => Ok(buf[..n].to_vec()),
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => Err(e),
                };
                let failed = chunk.is_err();
                if tx.blocking_send(chunk).is_err() || failed {
                    return;
                }
            }
        })
        .expect("spawn the stdin thread");
    rx
}
