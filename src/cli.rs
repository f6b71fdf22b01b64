//! The command line, as clap derive types and nothing else.
//!
//! This is the contract users and scripts rely on (the README and the man
//! pages document every flag): the shape lives here, the behaviour in `src/cmd/`. Values that are
//! pure syntax (addresses, durations, framing, formats) are parsed by typed
//! value parsers so that a typo is a usage error (status 2) before any socket
//! is opened. Payloads are kept as text here because their meaning depends on
//! `-x/--hex`; the subcommands parse them before connecting. Every argument
//! that takes an address (`serial:PATH` included) says so with
//! `value_hint = ValueHint::Hostname`: the completion scripts (`docs.rs`)
//! find them by it and offer the serial lines after `serial:`.

use std::{ffi::OsStr, path::PathBuf};

use clap::{
    builder::{PossibleValue, TypedValueParser},
    error::ErrorKind,
    Args, Parser, Subcommand, ValueHint,
};
use clap_complete::Shell;

use crate::{
    decode::Protocol,
    display::Format,
    frame::FrameSpec,
    net::{Cidr, ListenAddr, Target},
    payload::Eol,
    units::{ByteSize, Dur, Speed},
};

const PAYLOAD_HELP: &str = "\
Payload syntax:
  Text with escapes: \\r \\n \\t \\0 \\\\ \\e \\xHH; any other escape is an error.
  With -x/--hex: hex bytes, separated by spaces, ':' or ',' with optional 0x
  prefixes (02 31 32 03, 02:31:32:03, 0x02,0x31); an odd digit count is an error.
  @FILE sends the file's bytes as they are.";

const FRAME_LONG_HELP: &str = "\
How the byte stream splits into messages:
  raw              whatever one read returns
  line             ends at LF (a CR before it stays part of the message)
  crlf, cr         ends at CR LF / CR
  delim=PAYLOAD    any delimiter in payload syntax, e.g. delim=\\x03
  stx-etx          from 0x02 to 0x03 inclusive (bytes outside are skipped)
  fixed=N          N bytes
  len=W[,offset=K][,includes-header][,header=H]
                   length-prefixed; W is u8, u16be, u16le, u32be or u32le,
                   at byte K; the length counts what follows the field, or
                   the whole frame (includes-header), or what follows an
                   H-byte header (header=H);
                   TPKT/ISO-on-TCP is len=u16be,offset=2,includes-header,
                   EtherNet/IP len=u16le,offset=2,header=24
  mbap             Modbus/TCP: the same as len=u16be,offset=4
  modbus-rtu       Modbus RTU (serial lines, RTU over TCP): ends where the
                   function code and byte count say (requests and answers
                   differ), else at 3.5 character times of silence (1.75 ms
                   above 19200 baud; 20 ms off a serial line); a frame of
                   known length waits at least 50 ms for its missing bytes;
                   bytes before a frame with a good CRC are a frame of
                   their own; a bad CRC is shown by --decode modbus-rtu
  gap:DUR          whatever arrives until the line is silent for DUR
Messages keep their delimiters and headers, so echoes are byte-exact.";

const FORMAT_LONG_HELP: &str = "\
How traffic is printed on stdout:
  text     one line per message: UTC time, #connection, peer, direction
           (recv/sent; proxy: client>server/server>client), length, payload
           with non-printable bytes escaped
  hex      the same line with the payload as hex
  hexdump  the same line, then the payload like hexdump -C
  json     JSON Lines in the capture schema (t, conn, peer, event, from,
           len, hex, text)
  raw      the bytes as received, nothing else";

#[derive(Debug, Parser)]
#[command(
    name = "p1ge0n",
    version,
    about = "A netcat-style socket toolkit for automation engineers",
    long_about = "A netcat-style socket toolkit for automation engineers. `listen` is the \
                  server PLCs and robots talk to: it shows every message and echoes it, \
                  answers with a fixed reply, or plays a device simulated by --rules. `send` \
                  is the one-shot client for scripts and CI, with exit statuses to branch on. \
                  `repl` is an interactive session with a device. `replay` resends a recorded \
                  conversation (capture, pcap or script) and checks every reply, or with \
                  --serve plays its server side. `proxy` sits between two devices (an HMI \
                  and a PLC), forwards both ways and shows and records every message.",
    after_help = crate::exit::status_help(),
    propagate_version = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// A subcommand's arguments, built only when that subcommand runs.
///
/// clap's derive builds every subcommand's arguments (a few hundred `Arg`s
/// with their help text) before it looks at the command line; that was about
/// a tenth of a one-shot `send`'s start-up. Wrapped in `Deferred`, a
/// subcommand's arguments are added through `Command::defer`, which clap runs
/// when it parses that subcommand or renders its help, so `send` builds only
/// `send`. Help, errors, man pages and completions are unchanged (clap builds
/// every deferred part before it renders them; `docs` calls `build()`).
#[derive(Debug)]
pub struct Deferred<T>(pub T);

impl<T: Args> Args for Deferred<T> {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        cmd.defer(|cmd| keep_variant_texts(cmd, T::augment_args))
    }
    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        cmd.defer(|cmd| keep_variant_texts(cmd, T::augment_args_for_update))
    }
    fn group_id() -> Option<clap::Id> {
        T::group_id()
    }
}

/// Add a subcommand's arguments, keeping the texts its `Command` variant set.
///
/// The derive applies a variant's doc comment (about) and attributes after
/// the arguments, so they win over the doc comments of flattened argument
/// groups. A deferred part runs later than that, so restore them.
fn keep_variant_texts(
    cmd: clap::Command,
    augment: fn(clap::Command) -> clap::Command,
) -> clap::Command {
    let about = cmd.get_about().cloned();
    let long_about = cmd.get_long_about().cloned();
    let after_long_help = cmd.get_after_long_help().cloned();
    let cmd = augment(cmd);
    let cmd = match about {
        Some(text) => cmd.about(text),
        None => cmd.about(None::<&str>),
    };
    let cmd = match long_about {
        Some(text) => cmd.long_about(text),
        None => cmd.long_about(None::<&str>),
    };
    match after_long_help {
        Some(text) => cmd.after_long_help(text),
        None => cmd,
    }
}

impl<T: clap::FromArgMatches> clap::FromArgMatches for Deferred<T> {
    fn from_arg_matches(matches: &clap::ArgMatches) -> Result<Self, clap::Error> {
        T::from_arg_matches(matches).map(Deferred)
    }
    fn from_arg_matches_mut(matches: &mut clap::ArgMatches) -> Result<Self, clap::Error> {
        T::from_arg_matches_mut(matches).map(Deferred)
    }
    fn update_from_arg_matches(&mut self, matches: &clap::ArgMatches) -> Result<(), clap::Error> {
        self.0.update_from_arg_matches(matches)
    }
    fn update_from_arg_matches_mut(
        &mut self,
        matches: &mut clap::ArgMatches,
    ) -> Result<(), clap::Error> {
        self.0.update_from_arg_matches_mut(matches)
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// TCP/UDP echo server: accepts many clients, prints and echoes each message
    #[command(after_long_help = LISTEN_EXAMPLES)]
    Listen(Deferred<ListenArgs>),
    /// One-shot client: connect, send, wait for the reply, print it, exit with a meaningful status
    #[command(after_long_help = SEND_EXAMPLES)]
    Send(Deferred<SendArgs>),
    /// Interactive client session with line editing, history and live incoming data
    #[command(after_long_help = REPL_EXAMPLES)]
    Repl(Deferred<ReplArgs>),
    /// Resend the client side of a capture, pcap or script, with its timing, and check the replies
    #[command(after_long_help = REPLAY_EXAMPLES)]
    Replay(Deferred<ReplayArgs>),
    /// Sit between a client and a server (an HMI and a PLC): forward both ways, show and record every message
    #[command(after_long_help = PROXY_EXAMPLES)]
    Proxy(Deferred<ProxyArgs>),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell)
    #[command(after_long_help = COMPLETIONS_EXAMPLES)]
    Completions {
        /// The shell to complete for: bash, zsh, fish, elvish or powershell
        #[arg(hide_possible_values = true)]
        shell: Shell,
    },
    /// Regenerate completions/ and man/ under DIR (for maintainers)
    #[command(hide = true)]
    Generate {
        /// The repository root
        #[arg(default_value = ".")]
        dir: PathBuf,
    },
}

const REPL_EXAMPLES: &str = "\
Examples:
  p1ge0n repl 127.0.0.1:9000                       type lines, see replies as they arrive
  p1ge0n repl plc:502 -x --eol none                talk hex to a Modbus device
  p1ge0n repl robot:3000 --frame line --reconnect  keep the session across robot restarts
  p1ge0n repl serial:/dev/ttyUSB0,19200,8E1        a Modbus RTU line (:request modbus ...)
  printf 'a\\nb\\n' | p1ge0n repl 127.0.0.1:9000    scripted: send each line, print replies

Commands: :help :hex BYTES :mode text|hex :eol EOL :format FORMAT :frame SPEC
          :decode PROTO :request PROTO REQUEST :reconnect :capture FILE :quit
:request builds a protocol request (as send --request does: MBAP on TCP, Modbus
RTU on serial:), numbered per connection, and switches to its --decode and
--frame if none was chosen.
A line starting with ':' is a command (\\x3a sends a ':'); :hex sends its bytes without
the end of line. Up/Down recall history, Tab completes commands and values, Ctrl-C
clears the line, Ctrl-D quits.

Without a terminal (stdin or stdout not a tty) each line is sent as it is read; after
the last one, replies are awaited like send's: one --frame per line, else --idle of
silence, at most -w. Exit status: 0 at the end of input, 2 for a bad line (named with
its column; not sent), 3 if it cannot connect, 4 if nothing arrived within -w after the
last line, 1 if the connection is lost before a line is sent (--reconnect: reconnect,
for up to --connect-timeout).";

const REPLAY_EXAMPLES: &str = "\
Examples:
  p1ge0n replay session.jsonl 127.0.0.1:9000 --verify        replay a capture, check every reply
  p1ge0n replay plc.pcapng 127.0.0.1:502 --verify            replay a Wireshark capture, exit 5 on a difference
  p1ge0n replay plc.pcapng --list                            list the flows in a pcap
  p1ge0n replay plc.pcap 127.0.0.1:502 --flow 2 --speed 10   one flow, ten times faster
  p1ge0n replay test.script 127.0.0.1:9000 --no-delay        a hand-written script, no pauses
  p1ge0n replay plc.pcap --serve 5020 --verify               stand in for the PLC: answer as it did
  p1ge0n replay plc.jsonl 127.0.0.1:502 --verify --junit report.xml   a CI check with a JUnit report

Script files: '> PAYLOAD' send, '< PAYLOAD' expected reply, '+DUR' pause, '#' comment.

--serve listens (the first stderr line is `listening on ADDR (tcp)`) and plays each
flow to the next client that connects: it waits for each captured client message
(its byte count, or its frames with --frame, at most -w), checks it with --verify,
then sends the captured server messages with their timing (--speed, --no-delay).
In a script, '>' lines are what the client must send and '<' lines the answers.
A client that closes early or sends something else ends only its flow (and fails
--verify). Exit 0 after the last flow (--loop N times the file; 0 serves until
interrupted), 5 if --verify saw a difference.";

const PROXY_EXAMPLES: &str = "\
Examples:
  p1ge0n proxy 5020 plc:502 --frame len=u16be,offset=4 -f hex   watch an HMI talk Modbus to a PLC
  p1ge0n proxy 127.0.0.1:0 plc:502 --capture plc.jsonl -q      record both directions for replay
  p1ge0n proxy 5020 plc:502 --share --frame len=u16be,offset=4  several HMIs, one PLC connection
  p1ge0n proxy -u 9000 device:9000                             UDP: one upstream socket per client

Bytes are forwarded the moment they arrive, both ways; --frame only splits each
direction into messages for display and capture. A half-close is passed on once
everything before it was delivered; a reset on one side resets the other. An
unreachable TARGET closes only that client.

--share sends every client's messages over ONE upstream connection, in arrival
order: each message is forwarded, and the server's next message (by --frame) goes
back to its client. A reply that takes longer than -w closes that client, and the
upstream connection is opened afresh for the next message (so a late reply can
never reach the wrong client); a dropped upstream is re-opened the same way.

Exit status: 0 after --once or --count, 130 on SIGINT, 143 on SIGTERM,
1 when the port cannot be bound, 2 for bad arguments.";

const COMPLETIONS_EXAMPLES: &str = "\
Examples:
  p1ge0n completions bash > ~/.local/share/bash-completion/completions/p1ge0n
  p1ge0n completions zsh > ~/.zfunc/_p1ge0n
  p1ge0n completions fish > ~/.config/fish/completions/p1ge0n.fish";

/// Parses a value with its `FromStr`, reporting the parser's message (which
/// names the column), and offers fixed names for help and shell completion.
#[derive(Clone)]
pub struct Offering<T> {
    names: &'static [&'static str],
    parse: fn(&str) -> Result<T, String>,
}

impl<T: Clone + Send + Sync + 'static> TypedValueParser for Offering<T> {
    type Value = T;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<T, clap::Error> {
        let name = arg.map_or_else(|| "value".to_string(), |a| a.to_string());
        let text = value.to_str().ok_or_else(|| {
            clap::Error::raw(
                ErrorKind::InvalidUtf8,
                format!("invalid value for '{name}': not valid UTF-8\n"),
            )
            .with_cmd(cmd)
        })?;
        (self.parse)(text).map_err(|reason| {
            clap::Error::raw(
                ErrorKind::ValueValidation,
                format!("invalid value '{text}' for '{name}': {reason}\n"),
            )
            .with_cmd(cmd)
        })
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        Some(Box::new(self.names.iter().map(|n| PossibleValue::new(*n))))
    }
}

/// `--frame` values: parsed by `FrameSpec`, completed from its names.
pub fn frame_parser() -> Offering<FrameSpec> {
    Offering {
        names: FRAME_COMPLETIONS,
        parse: |s| s.parse::<FrameSpec>().map_err(|e| e.to_string()),
    }
}

/// `-f/--format` values.
pub fn format_parser() -> Offering<Format> {
    Offering {
        names: Format::NAMES,
        parse: |s| s.parse::<Format>(),
    }
}

/// What shell completion offers for `--frame` (the full grammar is in the help).
const FRAME_COMPLETIONS: &[&str] = &[
    "raw",
    "mbap",
    "line",
    "crlf",
    "cr",
    "stx-etx",
    "delim=",
    "fixed=",
    "len=u8",
    "len=u16be",
    "len=u16le",
    "len=u32be",
    "len=u32le",
    "len=u16be,offset=2,includes-header",
    "modbus-rtu",
    "gap:5ms",
];

const LISTEN_EXAMPLES: &str = "\
Examples:
  p1ge0n listen 9000                        echo server on all interfaces
  p1ge0n listen 127.0.0.1:0                 pick a free port (read it from stderr)
  p1ge0n listen 9000 --frame stx-etx -f hex print STX/ETX telegrams as hex
  p1ge0n listen 9000 --reply 'ACK\\r\\n'      answer every message with ACK
  p1ge0n listen 9000 -u                     UDP echo
  p1ge0n listen 9000 --allow 10.0.0.0/8     only accept clients from 10/8

Exit status: 0 after --once or --count, 130 on SIGINT, 143 on SIGTERM,
1 when the port cannot be bound, 2 for bad arguments.";

const SEND_EXAMPLES: &str = "\
Examples:
  p1ge0n send localhost:9000 'hello\\n'                   send, print the reply
  p1ge0n send -x plc:502 '00 01 00 00 00 06 01 03 00 00 00 01'  Modbus request as hex
  p1ge0n send host:9000 PING --expect PONG -w 2s         CI check (exit 5 on mismatch)
  p1ge0n send --retry 30s host:9000 'status\\n'           wait for a booting server
  printf '\\x02hi\\x03' | p1ge0n send host:9000            stream stdin, then half-close
  p1ge0n send host:9000 'a\\n' 'b\\n' --frame line -f text  two exchanges, shown as text

Exit status: 0 ok, 1 runtime error, 2 bad input (nothing sent), 3 could not connect,
4 no reply within -w, 5 reply did not match --expect.";

/// Framing options shared by every subcommand.
#[derive(Debug, Args)]
pub struct FrameArgs {
    /// How the byte stream splits into messages (raw, line, crlf, cr, delim=P, stx-etx, fixed=N, len=...)
    #[arg(long, value_name = "SPEC", long_help = FRAME_LONG_HELP, value_parser = frame_parser(), hide_possible_values = true)]
    pub frame: Option<FrameSpec>,

    /// Largest message a framing may produce; a larger one drops that connection
    #[arg(long, value_name = "SIZE", default_value = "1MiB")]
    pub max_frame: ByteSize,
}

/// How long a client waits for a reply (send, repl, replay).
#[derive(Debug, Args)]
pub struct WaitArgs {
    /// Give up waiting for a reply after DUR (exit 4); 0 waits forever
    #[arg(short = 'w', long, value_name = "DUR", default_value = "10s")]
    pub timeout: Dur,
}

/// When a reply is complete (send, repl).
#[derive(Debug, Args)]
pub struct ReplyArgs {
    /// A reply is complete after this much silence following its first byte
    #[arg(long, value_name = "DUR", default_value = "250ms", long_help = REPLY_RULES)]
    pub idle: Dur,

    #[command(flatten)]
    pub wait: WaitArgs,
}

/// How a client connects (send, repl, replay, proxy's upstream).
#[derive(Debug, Args)]
pub struct ConnectArgs {
    /// Give up connecting after DUR (exit 3); 0 waits as long as the system does
    #[arg(long, value_name = "DUR", default_value = "10s")]
    pub connect_timeout: Dur,

    /// Connect from this local address, like nc -s/-p: IP, IP:PORT or [IPV6]:PORT
    #[arg(long, value_name = "ADDR[:PORT]")]
    pub source: Option<crate::net::SourceAddr>,

    #[command(flatten)]
    pub keepalive: KeepaliveArgs,

    #[command(flatten)]
    pub tls: TlsClientArgs,
}

/// `--tls` and its options: the client side of TLS (send, repl, replay,
/// proxy's upstream).
#[derive(Debug, Args)]
pub struct TlsClientArgs {
    /// Speak TLS: verify the server against --ca, else the system's CAs
    #[arg(long)]
    pub tls: bool,

    /// With --tls: trust the CA certificates in FILE (PEM) instead of the system's
    #[arg(long, value_name = "FILE", requires = "tls")]
    pub ca: Option<PathBuf>,

    /// With --tls: do not check the server's certificate (a warning says so)
    #[arg(long, requires = "tls", conflicts_with = "ca")]
    pub insecure: bool,

    /// With --tls: accept exactly the server certificate with this SHA-256 fingerprint, as listen --tls-self-signed prints it
    #[arg(long, value_name = "SHA256:HEX", requires = "tls", conflicts_with_all = ["ca", "insecure"])]
    pub pin: Option<crate::net::tls::Pin>,

    /// With --tls: the server name to ask for and check (default: the target's host)
    #[arg(long, value_name = "NAME", requires = "tls")]
    pub sni: Option<String>,

    /// With --tls: present this client certificate (PEM); needs --key
    #[arg(long, value_name = "FILE", requires_all = ["tls", "key"])]
    pub cert: Option<PathBuf>,

    /// The private key (PEM) of --cert
    #[arg(long, value_name = "FILE", requires = "cert")]
    pub key: Option<PathBuf>,
}

/// The server side of TLS (listen, proxy's client side, replay --serve).
#[derive(Debug, Args)]
pub struct TlsServerArgs {
    /// Serve TLS with this certificate chain (PEM); needs --tls-key
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// The private key (PEM) of --tls-cert
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Serve TLS with a certificate made now for localhost, 127.0.0.1 and ::1 (SHA-256 fingerprint on stderr)
    #[arg(long, conflicts_with = "tls_cert")]
    pub tls_self_signed: bool,

    /// With TLS: require client certificates signed by a CA in FILE (PEM)
    #[arg(long, value_name = "FILE")]
    pub client_ca: Option<PathBuf>,

    /// With TLS: drop a client that has not finished its handshake after DUR
    #[arg(long, value_name = "DUR", default_value = "10s", value_parser = handshake_timeout_parser)]
    pub handshake_timeout: Dur,
}

/// `--handshake-timeout`: 0 would let a silent client hold its
/// connection forever, which is what the limit is for.
fn handshake_timeout_parser(s: &str) -> Result<Dur, String> {
    let d: Dur = s.parse()?;
    if d.0.is_zero() {
        return Err(
            "must be more than 0 (a client that never shakes hands would stay forever)".into(),
        );
    }
    Ok(d)
}

/// `--keepalive DUR` (every TCP connection p1ge0n opens or accepts).
#[derive(Debug, Args)]
pub struct KeepaliveArgs {
    /// Probe an idle TCP connection after DUR (whole seconds, at least 1s); see below
    #[arg(long, value_name = "DUR", value_parser = keepalive_parser, long_help = KEEPALIVE_LONG_HELP)]
    pub keepalive: Option<Dur>,
}

const KEEPALIVE_LONG_HELP: &str = "\
Turn on TCP keepalive: after DUR without traffic the kernel sends a probe,
then one every DUR; after 3 unanswered probes the connection fails (a PLC
that lost power is noticed in about 4 x DUR instead of never). Whole
seconds, at least 1s. proxy: both the client's and the upstream connection.";

const ON_CONNECT_LONG_HELP: &str = "\
Send this payload first on every TCP connection, including each
reconnection (repl --reconnect, :reconnect, send --repeat): a login or
preamble a device wants before anything else. Payload syntax as for
messages (escapes, hex with -x, @FILE), sent exactly as given: no --eol.
Its reply is awaited by the same rule as a message's reply (send; piped
repl) and it is shown and captured like any message; --expect does not
apply to it. Not with -u.";

/// `--keepalive`: the kernel counts keepalive time in whole seconds.
fn keepalive_parser(s: &str) -> Result<Dur, String> {
    let d: Dur = s.parse()?;
    if d.0 < std::time::Duration::from_secs(1) {
        return Err("keepalive must be at least 1s (the kernel counts whole seconds)".into());
    }
    if d.0.subsec_nanos() != 0 {
        return Err(format!("keepalive must be whole seconds, not {d}"));
    }
    if d.0.as_secs() > 32_767 {
        return Err("keepalive must be at most 32767s (the kernel's limit)".into());
    }
    Ok(d)
}

/// What traffic is shown on stdout (every subcommand).
#[derive(Debug, Args)]
pub struct OutputArgs {
    /// Show traffic as text, hex, hexdump, json or raw [default: raw for send, text for the others, none with replay --verify]
    #[arg(short, long, value_name = "FORMAT", long_help = FORMAT_LONG_HELP, value_parser = format_parser(), hide_possible_values = true)]
    pub format: Option<Format>,

    /// Print no traffic records (connection events, errors and --verify results still print)
    #[arg(short, long)]
    pub quiet: bool,

    #[arg(long, value_name = "PROTO", default_value = "none", help = crate::decode::short_help(), long_help = crate::decode::long_help(), value_parser = decode_parser(), hide_possible_values = true)]
    pub decode: Protocol,
}

/// `--decode` values.
pub fn decode_parser() -> Offering<Protocol> {
    Offering {
        names: Protocol::names(),
        parse: |s| s.parse::<Protocol>(),
    }
}

/// What every server (listen, proxy) takes besides its address.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Exit when the first client disconnects
    #[arg(long)]
    pub once: bool,

    /// Exit after N messages (proxy: counting both directions)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,

    /// Serve at most N clients at once; more are closed at accept
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_conns: Option<u64>,

    /// Close a connection after DUR without data (from the client; plain proxy: either way)
    #[arg(long, value_name = "DUR")]
    pub idle_timeout: Option<Dur>,

    /// Accept only clients from this network (repeatable); e.g. 10.0.0.0/8, ::1
    #[arg(long, value_name = "CIDR")]
    pub allow: Vec<Cidr>,

    /// Refuse clients from this network (repeatable); deny wins over allow
    #[arg(long, value_name = "CIDR")]
    pub deny: Vec<Cidr>,
}

/// `--capture FILE` and `--pcap FILE` (listen, send, repl, replay, proxy).
#[derive(Debug, Args)]
pub struct CaptureArgs {
    /// Record every event as JSON Lines in FILE (created mode 0600), for replay
    #[arg(long, value_name = "FILE", long_help = CAPTURE_LONG_HELP)]
    pub capture: Option<PathBuf>,

    /// Also record the traffic as a pcapng file (mode 0600) that Wireshark and replay open
    #[arg(long, value_name = "FILE", long_help = PCAP_LONG_HELP)]
    pub pcap: Option<PathBuf>,
}

const PCAP_LONG_HELP: &str = "\
Also record the traffic as a pcapng file (created mode 0600, written as it
happens) that Wireshark, tshark and `p1ge0n replay` open. p1ge0n sees socket
bytes, not packets, so each connection is written as the raw IP packets that
would carry them: a TCP handshake, segments of at most 65,000 bytes with
consistent sequence and acknowledgement numbers, FIN at the close (RST after an
error), real timestamps; UDP datagrams as UDP. An unspecified listening
address is written as the loopback address of the client's IP family.";

#[derive(Debug, Args)]
#[command(after_help = crate::exit::status_help())]
pub struct ListenArgs {
    /// Address to listen on: PORT, :PORT, HOST:PORT, [IPV6]:PORT (port 0 picks a free one), unix:PATH, or serial:PATH[,BAUD[,FORMAT]] to answer on a serial line (default 9600,8N1; e.g. serial:/dev/ttyUSB0,19200,8E1)
    #[arg(value_name = "[HOST:]PORT", value_hint = ValueHint::Hostname)]
    pub addr: ListenAddr,

    /// Serve UDP: answer each datagram to its sender
    #[arg(short, long, conflicts_with_all = ["once", "max_conns", "idle_timeout", "frame", "tls_cert", "tls_self_signed"])]
    pub udp: bool,

    /// With -u: join the multicast GROUP (on the interface with address IFADDR; IPv6: @IFNAME or @INDEX); repeatable
    #[arg(long, value_name = "GROUP[@IFADDR]", requires = "udp")]
    pub join: Vec<crate::net::Group>,

    /// Only print; do not echo
    #[arg(long, conflicts_with = "reply")]
    pub no_echo: bool,

    /// Answer by the rules in FILE (TOML): the first matching rule replies; see RULES below
    #[arg(long, value_name = "FILE", conflicts_with_all = ["reply", "no_echo"], long_help = RULES_LONG_HELP)]
    pub rules: Option<PathBuf>,

    /// Answer every message with this payload instead of echoing it
    #[arg(long, value_name = "PAYLOAD", long_help = concat!(
        "Answer every message with this payload instead of echoing it.\n\n",
        "Payload syntax: text with escapes \\r \\n \\t \\0 \\\\ \\e \\xHH, or hex with -x."
    ))]
    #[arg(value_parser = clap::value_parser!(std::ffi::OsString))]
    pub reply: Option<std::ffi::OsString>,

    /// Payloads (--reply) are hex bytes
    #[arg(short = 'x', long)]
    pub hex: bool,

    /// Hand each connection to CMD (run by /bin/sh -c): the client's bytes on its stdin, its stdout back; see PROGRAMS below
    #[arg(long, value_name = "CMD", value_parser = program_arg, conflicts_with_all = ["exec_each", "rules", "reply", "no_echo", "udp"], long_help = EXEC_LONG_HELP)]
    pub exec: Option<crate::program::Program>,

    /// Run CMD once per message (by --frame; with -u per datagram): the message on stdin, its stdout is the reply
    #[arg(long, value_name = "CMD", value_parser = program_arg, conflicts_with_all = ["rules", "reply", "no_echo"])]
    pub exec_each: Option<crate::program::Program>,

    /// At most N programs of --exec-each (and rules' exec) at once; more messages wait
    #[arg(long, value_name = "N", default_value_t = 32, value_parser = clap::value_parser!(u64).range(1..=4096))]
    pub exec_max: u64,

    /// Stop a program not done in DUR (and its process group): per message default 10s; per connection (--exec) none
    #[arg(long, value_name = "DUR")]
    pub exec_timeout: Option<Dur>,

    #[command(flatten)]
    pub frame: FrameArgs,

    #[command(flatten)]
    pub output: OutputArgs,

    #[command(flatten)]
    pub serve: ServeArgs,

    #[command(flatten)]
    pub keepalive: KeepaliveArgs,

    #[command(flatten)]
    pub tls: TlsServerArgs,

    #[command(flatten)]
    pub capture: CaptureArgs,
}

/// `proxy --gateway PROTO`: a protocol whose TCP and serial forms the
/// proxy converts between.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Gateway {
    /// Modbus/TCP (MBAP) and Modbus RTU
    Modbus,
}

#[derive(Debug, Args)]
#[command(after_help = crate::exit::status_help())]
pub struct ProxyArgs {
    /// Address to listen on: PORT, :PORT, HOST:PORT, [IPV6]:PORT (port 0 picks a free one), unix:PATH, or serial:PATH[,BAUD[,FORMAT]] to answer on a serial line (default 9600,8N1; e.g. serial:/dev/ttyUSB0,19200,8E1)
    #[arg(value_name = "[HOST:]PORT", value_hint = ValueHint::Hostname)]
    pub addr: ListenAddr,

    /// The server each client is connected to: HOST:PORT, [IPV6]:PORT, unix:PATH or serial:PATH[,BAUD[,FORMAT]] (a device on a serial line)
    #[arg(value_name = "TARGET", value_hint = ValueHint::Hostname)]
    pub target: Target,

    /// Proxy UDP: each client address gets its own upstream socket (dropped after --idle-timeout, default 60s)
    #[arg(short, long, conflicts_with_all = ["once", "max_conns", "share", "frame", "tls", "tls_cert", "tls_self_signed"])]
    pub udp: bool,

    /// All clients share ONE upstream connection, one message at a time (needs --frame)
    #[arg(long)]
    pub share: bool,

    #[command(flatten)]
    pub frame: FrameArgs,

    #[command(flatten)]
    pub output: OutputArgs,

    #[command(flatten)]
    pub serve: ServeArgs,

    #[command(flatten)]
    pub connect: ConnectArgs,

    #[command(flatten)]
    pub tls_server: TlsServerArgs,

    /// With --share: how long a reply may take (default 10s); a later one closes only the waiting client. With --gateway: how long a device may take to answer (default 1s)
    #[arg(short = 'w', long, value_name = "DUR")]
    pub timeout: Option<Dur>,

    /// modbus: Modbus/TCP on one side, Modbus RTU on the other (TCP clients and a serial TARGET, RTU over TCP to a TCP TARGET, or an RTU master on a serial LISTEN and a Modbus/TCP TARGET); one request on the line at a time
    #[arg(long, value_name = "PROTO", conflicts_with_all = ["udp", "share", "frame"], hide_possible_values = true)]
    pub gateway: Option<Gateway>,

    /// With --gateway: how many times a request is sent again after no reply or a bad CRC (then exception 0x0B)
    #[arg(long, value_name = "N", default_value = "0")]
    pub retries: u32,

    /// With --gateway: a pause after a broadcast (unit 0) and between requests
    #[arg(long, value_name = "DUR", default_value = "0s")]
    pub turnaround: Dur,

    /// Misbehave on purpose, reproducibly: [to-server:|to-client:]KIND=VALUE with KIND delay=DUR[~JITTER], drop=P%, corrupt=P%, duplicate=P%, reset=P%, reset-after=N, stall-after=N, bandwidth=RATE (9600bit/s), modbus-exception=P%:CODE; repeatable. All but delay and bandwidth act on whole messages and need --frame. Each fault is recorded
    #[arg(long, value_name = "SPEC")]
    pub fault: Vec<crate::fault::FaultSpec>,

    /// The seed of --fault's dice: the same seed and the same traffic give the same faults (default: a new seed, printed on stderr)
    #[arg(long, value_name = "N", requires = "fault")]
    pub fault_seed: Option<u64>,

    #[command(flatten)]
    pub capture: CaptureArgs,
}

#[derive(Debug, Args)]
#[command(after_help = crate::exit::status_help())]
pub struct ReplArgs {
    /// Server to connect to: HOST:PORT, [IPV6]:PORT, unix:PATH or serial:PATH[,BAUD[,FORMAT]] (a serial line: default 9600,8N1; e.g. serial:/dev/ttyUSB0,19200,8E1)
    #[arg(value_name = "HOST:PORT", value_hint = ValueHint::Hostname)]
    pub target: Target,

    /// Start in hex mode: each line is hex bytes
    #[arg(short = 'x', long)]
    pub hex: bool,

    /// Terminator appended to each line: none, lf, crlf, cr or a payload [default: lf; none with -x]
    #[arg(long, value_name = "EOL")]
    pub eol: Option<Eol>,

    #[command(flatten)]
    pub frame: FrameArgs,

    #[command(flatten)]
    pub output: OutputArgs,

    /// History file (default: $XDG_STATE_HOME/p1ge0n/history, else ~/.local/state/p1ge0n/history)
    #[arg(long, value_name = "FILE")]
    pub history: Option<PathBuf>,

    /// Reconnect automatically, with backoff, when the connection is lost
    #[arg(long)]
    pub reconnect: bool,

    /// Send this payload first on every connection and reconnection (e.g. a login); see below
    #[arg(long, value_name = "PAYLOAD", value_parser = clap::value_parser!(std::ffi::OsString), long_help = ON_CONNECT_LONG_HELP)]
    pub on_connect: Option<std::ffi::OsString>,

    #[command(flatten)]
    pub reply: ReplyArgs,

    #[command(flatten)]
    pub connect: ConnectArgs,

    #[command(flatten)]
    pub capture: CaptureArgs,
}

#[derive(Debug, Args)]
#[command(after_help = crate::exit::status_help())]
pub struct ReplayArgs {
    /// A capture (JSON Lines), pcap or pcapng file, or a script
    #[arg(value_name = "FILE")]
    pub file: PathBuf,

    /// Server to replay to: HOST:PORT, unix:PATH or serial:PATH[,BAUD[,FORMAT]] (not needed with --list); with --serve, where to listen: [HOST:]PORT, unix:PATH or serial:PATH[,...]
    #[arg(value_name = "HOST:PORT", required_unless_present = "list", value_hint = ValueHint::Hostname)]
    pub target: Option<String>,

    /// Play the server side instead: listen, and answer each client as the captured server did
    #[arg(long, conflicts_with_all = ["list", "interval", "connect_timeout"])]
    pub serve: bool,

    /// Compare every reply (with --serve: every client message) with the captured one; exit 5 on any difference
    #[arg(long)]
    pub verify: bool,

    /// Write a JUnit XML report of the checked messages to FILE (for CI dashboards)
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,

    /// List the flows in the file and exit
    #[arg(long)]
    pub list: bool,

    /// Replay only flow N (see --list); repeatable
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub flow: Vec<u64>,

    /// Play the captured timing X times faster
    #[arg(long, value_name = "X", conflicts_with_all = ["no_delay", "interval"])]
    pub speed: Option<Speed>,

    /// Send each message as soon as the previous reply is in
    #[arg(long, conflicts_with = "interval")]
    pub no_delay: bool,

    /// A fixed pause between messages instead of the captured timing
    #[arg(long, value_name = "DUR")]
    pub interval: Option<Dur>,

    /// Replay (or serve) the whole file N times; 0: until interrupted
    #[arg(long = "loop", value_name = "N", default_value_t = 1)]
    pub loop_count: u64,

    /// Script payloads are hex bytes
    #[arg(short = 'x', long)]
    pub hex: bool,

    #[command(flatten)]
    pub frame: FrameArgs,

    #[command(flatten)]
    pub wait: WaitArgs,

    #[command(flatten)]
    pub connect: ConnectArgs,

    #[command(flatten)]
    pub tls_server: TlsServerArgs,

    #[command(flatten)]
    pub output: OutputArgs,

    #[command(flatten)]
    pub capture: CaptureArgs,
}

#[derive(Debug, Args)]
#[command(after_help = crate::exit::status_help())]
pub struct SendArgs {
    /// Server to connect to: HOST:PORT, [IPV6]:PORT, unix:PATH or serial:PATH[,BAUD[,FORMAT]] (a serial line: default 9600,8N1; e.g. serial:/dev/ttyUSB0,19200,8E1)
    #[arg(value_name = "HOST:PORT", value_hint = ValueHint::Hostname)]
    pub target: Target,

    /// Messages to send, one exchange each; none: stream stdin
    #[arg(value_name = "PAYLOAD", long_help = PAYLOAD_HELP, value_parser = clap::value_parser!(std::ffi::OsString))]
    pub payloads: Vec<std::ffi::OsString>,

    /// Payloads and --expect are hex bytes
    #[arg(short = 'x', long)]
    pub hex: bool,

    /// Send a protocol request built for you, e.g. 'enip list-identity' (repeatable, in place of PAYLOAD); see REQUESTS below
    #[arg(long, value_name = "'PROTO REQUEST'", conflicts_with_all = ["payloads", "exec", "udp"], long_help = crate::decode::requests_help())]
    pub request: Vec<String>,

    /// Terminator appended to each payload: none, lf, crlf, cr or a payload
    #[arg(long, value_name = "EOL", default_value = "none")]
    pub eol: Eol,

    #[command(flatten)]
    pub frame: FrameArgs,

    /// With --frame: how many frames make one reply
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    pub replies: u64,

    #[command(flatten)]
    pub reply: ReplyArgs,

    /// Send without waiting for replies
    #[arg(long, conflicts_with_all = ["expect", "replies"])]
    pub no_reply: bool,

    /// Send this payload first on every connection and reconnection (e.g. a login); see below
    #[arg(long, value_name = "PAYLOAD", conflicts_with = "udp", value_parser = clap::value_parser!(std::ffi::OsString), long_help = ON_CONNECT_LONG_HELP)]
    pub on_connect: Option<std::ffi::OsString>,

    /// The reply must equal this payload, else exit 5 (repeatable: one per message, or one for all)
    #[arg(long, value_name = "PAYLOAD", value_parser = clap::value_parser!(std::ffi::OsString))]
    pub expect: Vec<std::ffi::OsString>,

    /// Write a JUnit XML report of the --expect checks to FILE (for CI dashboards)
    #[arg(long, value_name = "FILE", requires = "expect")]
    pub junit: Option<PathBuf>,

    #[command(flatten)]
    pub connect: ConnectArgs,

    /// Keep trying to connect for up to DUR (for servers still booting)
    #[arg(long, value_name = "DUR")]
    pub retry: Option<Dur>,

    /// Repeat the whole exchange N times on fresh connections (0: until interrupted)
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub repeat: u64,

    /// Start a repeat every DUR (from the start of one exchange to the start of the next)
    #[arg(long, value_name = "DUR", default_value = "1s")]
    pub interval: Dur,

    /// With --repeat: go on after a failed cycle; at the end say how many failed and exit with the first failure's status
    #[arg(long)]
    pub keep_going: bool,

    /// With --repeat: poll over one connection, kept open between cycles (opened again, with --on-connect, only when it drops), instead of a new connection per cycle
    #[arg(long, conflicts_with = "udp")]
    pub persistent: bool,

    /// Use UDP: each payload is one datagram, each reply one datagram
    #[arg(short, long, conflicts_with_all = ["frame", "tls"])]
    pub udp: bool,

    /// Connect, then hand the connection to CMD (run by /bin/sh -c): its stdout to the server, the server's bytes to its stdin; exit with its status
    #[arg(long, value_name = "CMD", value_parser = program_arg, conflicts_with_all = ["payloads", "udp", "expect", "on_connect", "repeat", "no_reply", "persistent"])]
    pub exec: Option<crate::program::Program>,

    /// With -u: allow sending to a broadcast address (replies are taken from any address)
    #[arg(long, requires = "udp")]
    pub broadcast: bool,

    /// With -u: the IP time-to-live (multicast: hop limit) of the datagrams, 1-255
    #[arg(long, value_name = "N", requires = "udp", value_parser = clap::value_parser!(u32).range(1..=255))]
    pub ttl: Option<u32>,

    #[command(flatten)]
    pub output: OutputArgs,

    #[command(flatten)]
    pub capture: CaptureArgs,
}

const RULES_LONG_HELP: &str = "\
Answer by the rules in FILE, a TOML file: each message (by --frame) is matched
against the rules in order, and the first match answers; no match: `default`.

  default = \"echo\"                  # echo | none | close
  [[rule]]
  name = \"status\"                   # optional, named in the log
  match = 'STATUS?\\r\\n'             # exact; or prefix, contains,
                                     # regex (bytes, whole message), hex ('?? 00 01')
  reply = 'RUNNING #{{counter}}\\r\\n' # or reply-hex; $1..$9 regex groups,
                                     # {{req}}; {{req[A..B]}}: bytes A up to,
                                     # not including, B; {{len16}}: the count of
                                     # reply bytes after it, big-endian u16;
                                     # {{crc16}}: Modbus RTU CRC of the bytes
                                     # before it, low byte first
  # exec = 'python3 device.py'      # instead of reply: the message on
                                     # its stdin, its stdout is the reply
  delay = \"20ms\"
  close = true                       # close after the reply

Strings are payload syntax; write them in single quotes so TOML leaves the
backslashes alone. A regex is a bytes regex: `.` is any byte but LF, \\d \\w
\\s are ASCII (no Unicode classes). Hex wildcards need no spaces ('????0000').
A file with no [[rule]] is allowed, with a warning. A file that does not
parse, a rule with no or several matchers, a bad regex or a {{req[A..B]}}
with A > B exits 2 with FILE:LINE before the socket is bound. A request
shorter than a {{req[A..B]}} range is logged and not answered; the
connection carries on. Each answered message's log line on stderr names its
rule (not with -q).";

/// `--exec CMD`, `--exec-each CMD`: a command line, not empty.
fn program_arg(text: &str) -> Result<crate::program::Program, String> {
    crate::program::Program::parse("CMD", text)
}

const EXEC_LONG_HELP: &str = "\
Hand each connection to CMD, one child per connection, run by /bin/sh -c CMD
(a CMD without shell syntax is run directly): the client's bytes go to its
stdin, its stdout goes back to the client, and both directions are shown,
captured and decoded as for any connection. The client's end of input closes
the child's stdin; the child's exit closes the connection after its last
byte. Its stderr goes to ours, each line prefixed with #CONN. A child and its
process group get SIGTERM, then SIGKILL, when the connection or the server
ends; none is left behind.

PROGRAMS: --exec-each CMD runs CMD once per message instead (by --frame, or
per datagram with -u): the message on stdin, then end of input; everything
on stdout until it exits is the reply (none: no reply), cut at --max-frame.
A connection's messages are answered in order; at most --exec-max children
run at once. --exec-timeout DUR (default 10s per message) stops a child and
its group; the connection goes on. The environment names the peer, never
the bytes: P1GE0N_PEER, P1GE0N_LOCAL, P1GE0N_TRANSPORT (tcp, udp, tls, unix, serial),
P1GE0N_CONN and, per message, P1GE0N_MESSAGE (its index on the connection).
A non-zero exit is logged with its status.";

const CAPTURE_LONG_HELP: &str = "\
Record every event as JSON Lines in FILE (created with mode 0600), written
as it happens so an interrupted run loses nothing. The first line is a
header ({\"p1ge0n\":\"capture\",\"version\":1,\"started\":...,\"transport\":...,
\"local\":...,\"side\":...}); then one object per open, data, close or error
event with t (seconds since started), conn, peer, event, and for data: from
(client or server), len, hex (authoritative) and text. `p1ge0n replay` reads it.";

const REPLY_RULES: &str = "\
A reply is complete after this much silence following its first byte.

When is a reply complete? In order of precedence:
  1. --frame SPEC: after the expected frames (one per message)
  2. the peer closes the connection
  3. --idle DUR of silence after the first byte (default 250ms)
-w/--timeout bounds the whole wait: exit 4 when nothing arrived.";
