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
/// Arguments arrive as raw OS strings so that one that is not UTF-8 gets an
/// error naming it, not clap's anonymous one.
pub fn parse_payload_os(
    what: &str,
    arg: &std::ffi::OsStr,
    mode: payload::PayloadMode,
) -> Result<Vec<u8>> {
    use std::os::unix::ffi::OsStrExt;
    if let Some(path) = arg.as_bytes().strip_prefix(b"@") {
        let path = std::path::Path::new(std::ffi::OsStr::from_bytes(path));
        return std::fs::read(path)
            .map_err(|e| exit::usage(format!("{what}: cannot read '{}': {e}", path.display())));
    }
    let text = arg.to_str().ok_or_else(|| {
        exit::usage(format!(
            "{what} '{}': not valid UTF-8 (write such bytes as \\xHH escapes, or use -x)",
            arg.to_string_lossy()
        ))
    })?;
    parse_payload_arg(what, text, mode)
}

/// [`parse_payload_os`] for text that is already UTF-8 (repl lines).
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

/// `--frame` against `--max-frame`: a framing whose smallest possible
/// message is already over the limit could never complete one, so it is a
/// usage error up front rather than a dropped connection later.
pub fn check_framing(args: &crate::cli::FrameArgs) -> Result<()> {
    use crate::frame::{FrameSpec, LenWidth};
    let max = args.max_frame.0;
    let smallest = match &args.frame {
        Some(FrameSpec::Fixed(n)) => *n,
        Some(FrameSpec::Len { width, offset, .. }) => {
            let width = match width {
                LenWidth::U8 => 1,
                LenWidth::U16Be | LenWidth::U16Le => 2,
                LenWidth::U32Be | LenWidth::U32Le => 4,
            };
            offset.saturating_add(width)
        }
        Some(FrameSpec::Delim(d)) => d.len(),
        _ => 0,
    };
    if smallest > max {
        let spec = args
            .frame
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default();
        return Err(exit::usage(format!(
            "--frame {spec}: its smallest message ({smallest} bytes) is larger than --max-frame {max}"
        )));
    }
    Ok(())
}
