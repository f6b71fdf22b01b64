//! Command-line values that need more than clap's syntax check: payloads
//! (whose meaning depends on `-x`, and which may name a file) and framing
//! limits. Everything here runs before a socket is opened, so bad input
//! exits 2 with nothing sent.

use anyhow::Result;

use std::time::Duration;

use crate::{
    cli::{ConnectArgs, FrameArgs, TlsServerArgs, WaitArgs},
    exit,
    net::{tls, ConnectOptions},
    payload,
};

impl WaitArgs {
    /// `-w`: the bound on a reply wait (`0`: none).
    pub fn timeout(&self) -> Option<Duration> {
        self.timeout.bound()
    }
}

impl ConnectArgs {
    /// How to connect, retrying for up to `retry_for` (`send --retry`,
    /// `repl --reconnect` from a pipe).
    /// `--tls` loads its certificates here, so a bad file is status 2.
    pub fn options(&self, retry_for: Option<Duration>) -> Result<ConnectOptions> {
        let timeout = self.connect_timeout.bound();
        let tls = if self.tls.tls {
            if self.tls.insecure {
                crate::say!("warning: --insecure: the server's certificate is not checked");
            }
            let options = tls::ClientOptions {
                ca: self.tls.ca.as_deref(),
                insecure: self.tls.insecure,
                pin: self.tls.pin,
                sni: self.tls.sni.as_deref(),
                cert: self.tls.cert.as_deref().zip(self.tls.key.as_deref()),
            };
            Some(std::sync::Arc::new(tls::Client::new(options, timeout)?))
        } else {
            None
        };
        Ok(ConnectOptions {
            timeout,
            retry_for,
            source: self.source,
            keepalive: self.keepalive.keepalive.map(|d| d.0),
            tls,
        })
    }
}

impl TlsServerArgs {
    /// The server side of TLS, when asked for; `--client-ca` alone is an
    /// error. The second value is a self-signed certificate's fingerprint.
    pub fn server(&self) -> Result<Option<(tls::Server, Option<String>)>> {
        let cert = self.tls_cert.as_deref().zip(self.tls_key.as_deref());
        if cert.is_none() && !self.tls_self_signed {
            if self.client_ca.is_some() {
                return Err(exit::usage(
                    "--client-ca needs TLS: give --tls-cert/--tls-key or --tls-self-signed",
                ));
            }
            return Ok(None);
        }
        tls::Server::new(tls::ServerOptions {
            cert,
            self_signed: self.tls_self_signed,
            client_ca: self.client_ca.as_deref(),
            handshake_timeout: self.handshake_timeout.0,
        })
        .map(Some)
    }
}

/// `--on-connect PAYLOAD` (send, repl): sent exactly as given, no `--eol`.
pub fn on_connect(arg: Option<&std::ffi::OsStr>, hex: bool) -> Result<Option<Vec<u8>>> {
    let Some(text) = arg else { return Ok(None) };
    let login = parse_payload_os("--on-connect", text, mode(hex))?;
    if login.is_empty() {
        return Err(exit::usage("--on-connect: empty payload (nothing to send)"));
    }
    Ok(Some(login))
}

/// Parse a payload given on the command line (`what` names it in errors, e.g.
/// "payload 2" or "--expect"). Arguments arrive as raw OS strings so that
/// one that is not UTF-8 gets an error naming it, not clap's anonymous one;
/// only an `@FILE` path may be any bytes.
pub fn parse_payload_os(
    what: &str,
    arg: &std::ffi::OsStr,
    mode: payload::PayloadMode,
) -> Result<Vec<u8>> {
    use std::os::unix::ffi::OsStrExt;
    match (arg.to_str(), arg.as_bytes().strip_prefix(b"@")) {
        (Some(text), _) => parse_payload_arg(what, text, mode),
        (None, Some(path)) => read_payload_file(
            what,
            std::path::Path::new(std::ffi::OsStr::from_bytes(path)),
        ),
        (None, None) => Err(exit::usage(format!(
            "{what} '{}': not valid UTF-8 (write such bytes as \\xHH escapes, or use -x)",
            arg.to_string_lossy()
        ))),
    }
}

/// Parse a payload in text (a command-line argument, a repl line); `@FILE`
/// reads the file's bytes verbatim.
pub fn parse_payload_arg(what: &str, text: &str, mode: payload::PayloadMode) -> Result<Vec<u8>> {
    match text.strip_prefix('@') {
        Some(path) => read_payload_file(what, std::path::Path::new(path)),
        None => {
            payload::parse(text, mode).map_err(|e| exit::usage(format!("{what} '{text}': {e}")))
        }
    }
}

fn read_payload_file(what: &str, path: &std::path::Path) -> Result<Vec<u8>> {
    std::fs::read(path)
        .map_err(|e| exit::usage(format!("{what}: cannot read '{}': {e}", path.display())))
}

/// The payload mode for `-x/--hex`.
pub fn mode(hex: bool) -> payload::PayloadMode {
    if hex {
        payload::PayloadMode::Hex
    } else {
        payload::PayloadMode::Text
    }
}

/// Whether `--request`/`:request` go out in their serial form (Modbus RTU
/// with its CRC): on a serial line, or with `--frame modbus-rtu` (RTU over
/// TCP). `send` and the repl ask here.
pub fn requests_are_serial(
    target: &crate::net::Target,
    frame: Option<&crate::frame::FrameSpec>,
) -> bool {
    matches!(target, crate::net::Target::Serial(_))
        || frame == Some(&crate::frame::FrameSpec::ModbusRtu)
}

/// The framing in effect: `--frame`, else the one `--decode` implies
/// (Modbus/TCP's MBAP length, S7's TPKT length).
pub fn framing(
    frame: &FrameArgs,
    decode: crate::decode::Protocol,
) -> Option<crate::frame::FrameSpec> {
    frame.frame.clone().or_else(|| decode.framing())
}

/// `--rules FILE`, read and checked whole: any problem is `FILE:LINE:
/// reason`, exit 2, before a socket is bound.
pub fn read_rules(path: &std::path::Path) -> Result<crate::rules::Rules> {
    let name = path.display();
    let text = std::fs::read_to_string(path)
        .map_err(|e| exit::usage(format!("--rules: cannot read '{name}': {e}")))?;
    crate::rules::Rules::parse(&text)
        .map_err(|e| exit::usage(format!("{name}:{}: {}", e.line, e.reason)))
}

/// `--frame` against `--max-frame`: a framing whose smallest possible
/// message is already over the limit could never complete one, so it is a
/// usage error up front rather than a dropped connection later.
pub fn check_framing(args: &FrameArgs) -> Result<()> {
    let max = args.max_frame.0;
    let Some(spec) = &args.frame else {
        return Ok(());
    };
    let smallest = spec.smallest_frame();
    if smallest > max {
        return Err(exit::usage(format!(
            "--frame {spec}: its smallest message ({smallest} bytes) is larger than --max-frame {max}"
        )));
    }
    Ok(())
}
