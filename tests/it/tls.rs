//! TLS end to end, judged by OpenSSL's and socat's own TLS stacks: `--tls`
//! clients (send, repl, replay, proxy's upstream) against `openssl s_server`
//! and socat's `OPENSSL-LISTEN`, and TLS servers (listen, proxy, replay
//! --serve) reached by `openssl s_client` and socat's `OPENSSL` client.
//!
//! Every test makes its own certificates with the `openssl` command line in
//! a temporary directory ([`Pki`]): a CA, a server certificate for
//! localhost and 127.0.0.1, the same certificate expired, a client
//! certificate, and an unrelated second CA.

use std::{
    io::Write,
    net::SocketAddr,
    process::{ChildStdin, Command, Output},
};

use tempfile::TempDir;

use crate::util::*;

// --- certificates ------------------------------------------------------------

/// The certificates of one test, made by `openssl` in a temporary directory:
///
/// - `ca.pem`/`ca.key`: the CA every test trusts (`--ca`, `--client-ca`);
/// - `server.pem`/`server.key`: CN=localhost, SAN DNS:localhost and
///   IP:127.0.0.1, signed by the CA;
/// - `expired.pem`: the same name and key, valid for one day in 2020;
/// - `client.pem`/`client.key`: a client certificate signed by the CA;
/// - `other-ca.pem`: a CA that signed none of them.
struct Pki {
    dir: TempDir,
}

/// P-256 keys: fast to make, and every TLS stack here speaks ECDSA.
const NEW_KEY: &str = "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes";
const CA_EXT: &str =
    "-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign";
const SERVER_EXT: &str = "subjectAltName=DNS:localhost,IP:127.0.0.1\n\
    basicConstraints=critical,CA:FALSE\n\
    keyUsage=critical,digitalSignature\n\
    extendedKeyUsage=serverAuth\n";
const CLIENT_EXT: &str = "basicConstraints=critical,CA:FALSE\n\
    keyUsage=critical,digitalSignature\n\
    extendedKeyUsage=clientAuth\n";
/// A minimal `openssl ca` setup. OpenSSL 3.0's `x509 -req` can only date a
/// certificate from now (`-days`; `-days -1` gives notAfter before
/// notBefore, which is a malformed certificate rather than an expired one),
/// so the expired certificate is issued by `openssl ca -startdate -enddate`.
const CA_CNF: &str = "[ca]\ndefault_ca = ca_default\n\
    [ca_default]\ndatabase = index.txt\nnew_certs_dir = .\nserial = serial\n\
    default_md = sha256\npolicy = policy_any\n\
    [policy_any]\ncommonName = supplied\n";

impl Pki {
    fn new() -> Pki {
        let pki = Pki {
            dir: tempfile::tempdir().unwrap(),
        };
        for (name, text) in [
            ("server.ext", SERVER_EXT),
            ("client.ext", CLIENT_EXT),
            ("ca.cnf", CA_CNF),
            ("index.txt", ""),
            ("serial", "04\n"),
        ] {
            std::fs::write(pki.dir.path().join(name), text).unwrap();
        }
        for (name, cn) in [("ca", "p1ge0n-test-CA"), ("other-ca", "p1ge0n-other-CA")] {
            pki.openssl(&format!(
                "req -x509 {NEW_KEY} -keyout {name}.key -out {name}.pem -days 30 -subj /CN={cn} {CA_EXT}"
            ));
        }
        for (name, cn, serial) in [
            ("server", "localhost", 2),
            ("client", "p1ge0n-test-client", 3),
        ] {
            pki.openssl(&format!(
                "req {NEW_KEY} -keyout {name}.key -out {name}.csr -subj /CN={cn}"
            ));
            pki.openssl(&format!(
                "x509 -req -in {name}.csr -CA ca.pem -CAkey ca.key -set_serial {serial} \
                 -days 30 -extfile {name}.ext -out {name}.pem"
            ));
        }
        pki.openssl(
            "ca -batch -config ca.cnf -cert ca.pem -keyfile ca.key -in server.csr \
             -startdate 20200101000000Z -enddate 20200102000000Z -extfile server.ext \
             -notext -out expired.pem",
        );
        pki
    }

    /// `openssl ARGS` in the directory (no argument holds a space).
    fn openssl(&self, args: &str) {
        let out = assert_cmd::Command::new("openssl")
            .args(args.split_whitespace())
            .current_dir(self.dir.path())
            .timeout(ONE_SHOT)
            .output()
            .expect("run openssl (scripts/test installs it)");
        assert!(out.status.success(), "openssl {args}\n{}", show(&out));
    }

    /// A file of the PKI, as an argument.
    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).to_str().unwrap().to_string()
    }
}

// --- peers -------------------------------------------------------------------

/// A TLS server that is not p1ge0n (`openssl s_server`, socat) on a free
/// loopback port; killed when dropped.
struct Peer {
    proc: Proc,
    addr: SocketAddr,
}

impl Peer {
    /// `openssl s_server` with server.pem and `args` (`-rev`: answer each
    /// line reversed). It prints `ACCEPT 127.0.0.1:PORT` once it listens.
    fn s_server(pki: &Pki, args: &[&str]) -> Peer {
        let mut cmd = Command::new("openssl");
        cmd.args(["s_server", "-accept", "127.0.0.1:0"])
            .args(["-cert", &pki.path("server.pem")])
            .args(["-key", &pki.path("server.key")])
            .args(args);
        let proc = Proc::spawn(cmd);
        let stdout = proc.wait_stdout_contains("ACCEPT ", STARTUP);
        let addr: SocketAddr = stdout
            .lines()
            .find_map(|l| l.strip_prefix("ACCEPT "))
            .and_then(|a| a.trim().parse().ok())
            .unwrap_or_else(|| panic!("cannot parse s_server's address\n{}", proc.dump()));
        Peer { proc, addr }
    }

    /// socat's `OPENSSL-LISTEN` on `ip`, presenting `cert` (with
    /// server.key; no client certificate asked for), a process per client,
    /// each relaying to `to`.
    fn socat(pki: &Pki, ip: &str, cert: &str, extra: &[&str], to: &str) -> Peer {
        let listen = format!(
            "OPENSSL-LISTEN:0,bind={ip},reuseaddr,fork,cert={},key={},verify=0",
            pki.path(cert),
            pki.path("server.key")
        );
        let mut cmd = Command::new("socat");
        cmd.args(["-d", "-d"])
            .args(extra)
            .args([listen.as_str(), to]);
        let proc = Proc::spawn(cmd);
        // e.g. `2026/12/01 15:28:35 socat[14838] N listening on AF=2 127.0.0.1:34307`
        let stderr = proc.wait_stderr_contains("listening on AF=2 ", STARTUP);
        let addr: SocketAddr = stderr
            .lines()
            .find_map(|l| l.split_once("listening on AF=2 "))
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("cannot parse socat's address\n{}", proc.dump()));
        Peer { proc, addr }
    }

    /// A TLS echo server: socat's OPENSSL-LISTEN to PIPE.
    fn tls_echo(pki: &Pki) -> Peer {
        Peer::socat(pki, "127.0.0.1", "server.pem", &[], "PIPE")
    }

    /// A TLS server on `ip` presenting `cert` that answers nothing and puts
    /// every byte its clients send on its stdout (`socat -u ... STDOUT`).
    fn sink(pki: &Pki, ip: &str, cert: &str) -> Peer {
        Peer::socat(pki, ip, cert, &["-u"], "STDOUT")
    }

    fn target(&self) -> String {
        self.addr.to_string()
    }

    /// What the peer printed, both streams.
    fn said(&self) -> String {
        format!("{}{}", self.proc.stdout(), self.proc.stderr())
    }

    /// Wait until the peer printed `needle` on stdout or stderr.
    fn wait_said(&self, needle: &str) {
        assert!(
            wait_until(SOON, || self.said().contains(needle)),
            "the peer never said {needle:?}\n{}",
            self.proc.dump()
        );
    }
}

/// `openssl s_client` to `addr`, verifying the server against ca.pem and
/// 127.0.0.1 (-verify_ip), stdout carrying only the application data
/// (-quiet), closing at the end of its stdin (-no_ign_eof). The test holds
/// its stdin: what it writes is sent; dropping it ends the session.
fn s_client(pki: &Pki, addr: SocketAddr, extra: &[&str]) -> (Proc, ChildStdin) {
    let mut cmd = Command::new("openssl");
    cmd.args(["s_client", "-connect", &addr.to_string()])
        .args(["-CAfile", &pki.path("ca.pem"), "-verify_return_error"])
        .args(["-verify_ip", "127.0.0.1", "-quiet", "-no_ign_eof"])
        .args(extra);
    Proc::spawn_piped(cmd)
}

/// `p1ge0n listen 127.0.0.1:0 --tls-cert server.pem --tls-key server.key ARGS`.
fn tls_listen(pki: &Pki, extra: &[&str]) -> Listen {
    let (cert, key) = (pki.path("server.pem"), pki.path("server.key"));
    let mut args: Vec<&str> = vec!["127.0.0.1:0", "--tls-cert", &cert, "--tls-key", &key];
    args.extend_from_slice(extra);
    let server = Listen::start(&args);
    assert_eq!(server.transport(), "tls", "{}", server.dump());
    server
}

/// `p1ge0n proxy ARGS...`, listening.
fn proxy(args: &[&str]) -> Listen {
    let mut cmd = Command::new(bin());
    cmd.arg("proxy").args(args);
    Listen::spawn_with(cmd)
}

/// `p1ge0n send --tls --ca PKI/CA ARGS...`.
fn send_tls(pki: &Pki, ca: &str, args: &[&str]) -> Output {
    send_cmd()
        .args(["--tls", "--ca", &pki.path(ca)])
        .args(args)
        .output()
        .unwrap()
}

/// The client gave up as the contract says: status 3 and
/// `TLS handshake with TARGET failed: REASON...` on stderr.
fn assert_refused(out: &Output, target: &str, reason: &str) {
    assert_eq!(code(out), 3, "{}", show(out));
    let message = format!("TLS handshake with {target} failed: {reason}");
    assert!(
        stderr_of(out).contains(&message),
        "stderr lacks {message:?}\n{}",
        show(out)
    );
}

/// `send --no-reply` of `control\n` over TLS with `args` reaches `sink`,
/// and it is the only thing the sink ever received: what a refused client
/// sent before would be in front of it.
fn assert_only_control_arrives(sink: &Peer, args: &[&str]) {
    let out = send_cmd()
        .arg("--tls")
        .args(args)
        .args(["--no-reply", &sink.target(), "control\\n"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", show(&out));
    sink.proc.wait_stdout_contains("control\n", SOON);
    assert_eq!(sink.proc.stdout(), "control\n", "{}", sink.proc.dump());
}

// --- clients -------------------------------------------------------------------

/// `send --tls --ca` gets OpenSSL's answer (s_server -rev: each line
/// reversed) byte for byte, to an IP address (checked against the
/// certificate's IP SAN, no SNI sent: RFC 6066 has no IP names), with
/// `--sni localhost` (sent, and checked), and to `localhost:PORT` (the host
/// is the name sent and checked).
#[test]
fn send_tls_gets_reply_from_openssl_s_server() {
    let pki = Pki::new();
    let (cert, key) = (pki.path("server.pem"), pki.path("server.key"));
    // -servername makes s_server look at the SNI; -msg prints what it saw.
    let server = Peer::s_server(
        &pki,
        &[
            "-rev",
            "-servername",
            "localhost",
            "-cert2",
            &cert,
            "-key2",
            &key,
            "-msg",
        ],
    );
    let sni_seen = || {
        server
            .said()
            .matches("Hostname in TLS extension: \"localhost\"")
            .count()
    };

    let out = send_tls(
        &pki,
        "ca.pem",
        &["--frame", "line", &server.target(), "hello\\n"],
    );
    assert_eq!(code(&out), 0, "{}", show(&out));
    assert_eq!(out.stdout, b"olleh\n", "{}", show(&out));
    assert_eq!(sni_seen(), 0, "an IP address is not sent as SNI");

    let out = send_tls(
        &pki,
        "ca.pem",
        &[
            "--sni",
            "localhost",
            "--frame",
            "line",
            &server.target(),
            "abc\\n",
        ],
    );
    assert_eq!(code(&out), 0, "{}", show(&out));
    assert_eq!(out.stdout, b"cba\n", "{}", show(&out));
    assert!(
        wait_until(SOON, || sni_seen() == 1),
        "s_server saw no SNI localhost\n{}",
        server.proc.dump()
    );

    let by_name = format!("localhost:{}", server.addr.port());
    let out = send_tls(&pki, "ca.pem", &["--frame", "line", &by_name, "plc 1\\n"]);
    assert_eq!(code(&out), 0, "{}", show(&out));
    assert_eq!(out.stdout, b"1 clp\n", "{}", show(&out));
    assert!(
        wait_until(SOON, || sni_seen() == 2),
        "the host was not sent as SNI\n{}",
        server.proc.dump()
    );
}

/// A server whose certificate no `--ca` CA signed: status 3, "unknown CA",
/// and the payload never reaches the server (the control sent afterwards
/// with the right CA is all it received).
#[test]
fn send_tls_wrong_ca_exits_3_unknown_ca() {
    let pki = Pki::new();
    let sink = Peer::sink(&pki, "127.0.0.1", "server.pem");
    let out = send_tls(&pki, "other-ca.pem", &[&sink.target(), "secret\\n"]);
    assert_refused(&out, &sink.target(), "unknown CA");
    assert!(out.stdout.is_empty(), "{}", show(&out));
    assert_only_control_arrives(&sink, &["--ca", &pki.path("ca.pem")]);
}

/// A certificate not valid for the name asked for is "name mismatch",
/// status 3: `--sni plc.example`, and an IP address the certificate does
/// not carry (127.0.0.2; it names 127.0.0.1). Nothing reaches the server.
#[test]
fn send_tls_name_mismatch_exits_3() {
    let pki = Pki::new();
    let ca = pki.path("ca.pem");
    let sink = Peer::sink(&pki, "127.0.0.1", "server.pem");
    let out = send_tls(
        &pki,
        "ca.pem",
        &["--sni", "plc.example", &sink.target(), "secret\\n"],
    );
    assert_refused(&out, &sink.target(), "name mismatch");
    assert_only_control_arrives(&sink, &["--ca", &ca]);

    let other_ip = Peer::sink(&pki, "127.0.0.2", "server.pem");
    let out = send_tls(&pki, "ca.pem", &[&other_ip.target(), "secret\\n"]);
    assert_refused(&out, &other_ip.target(), "name mismatch");
    // The name the certificate does carry is accepted at that address.
    assert_only_control_arrives(&other_ip, &["--ca", &ca, "--sni", "localhost"]);
}

/// An expired certificate (valid for one day in 2020) is "expired",
/// status 3, and nothing is sent; `--insecure` then gets through, so the
/// date was the only fault.
#[test]
fn send_tls_expired_exits_3() {
    let pki = Pki::new();
    let sink = Peer::sink(&pki, "127.0.0.1", "expired.pem");
    let out = send_tls(&pki, "ca.pem", &[&sink.target(), "secret\\n"]);
    assert_refused(&out, &sink.target(), "expired");
    assert_only_control_arrives(&sink, &["--insecure"]);
}

/// Plain TCP servers are "the server does not speak TLS", status 3,
/// whether they echo the ClientHello back (which looks like TLS), answer
/// with HTTP, or close the connection.
#[test]
fn send_tls_to_plain_tcp_server_exits_3() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("close.toml");
    std::fs::write(
        &rules,
        "default = \"close\"\n[[rule]]\nmatch = 'never'\nreply = 'x'\n",
    )
    .unwrap();
    let echo = Listen::start(&["127.0.0.1:0", "-q"]);
    let socat = Socat::echo();
    let http = Listen::start(&[
        "127.0.0.1:0",
        "-q",
        "--reply",
        "HTTP/1.0 400 Bad Request\\r\\n\\r\\n",
    ]);
    let closer = Listen::start(&["127.0.0.1:0", "-q", "--rules", rules.to_str().unwrap()]);
    for (what, target) in [
        ("p1ge0n listen (echo)", echo.target()),
        ("socat (echo)", socat.target()),
        ("an HTTP answer", http.target()),
        ("a server that closes", closer.target()),
    ] {
        let out = send_tls(&pki, "ca.pem", &[&target, "x"]);
        assert_eq!(code(&out), 3, "{what}: {}", show(&out));
        let message = format!("TLS handshake with {target} failed: the server does not speak TLS");
        assert!(
            stderr_of(&out).contains(&message),
            "{what}: stderr lacks {message:?}\n{}",
            show(&out)
        );
    }
}

/// Client certificates against `s_server -Verify 1`: with `--cert/--key`
/// the server sees our certificate and answers; without, it refuses us and
/// send exits 3 naming the certificate.
#[test]
fn send_tls_client_auth_against_s_server_verify() {
    let pki = Pki::new();
    let ca = pki.path("ca.pem");
    let server = Peer::s_server(
        &pki,
        &[
            "-Verify",
            "1",
            "-CAfile",
            &ca,
            "-verify_return_error",
            "-rev",
        ],
    );
    let (cert, key) = (pki.path("client.pem"), pki.path("client.key"));
    let out = send_tls(
        &pki,
        "ca.pem",
        &[
            "--cert",
            &cert,
            "--key",
            &key,
            "--frame",
            "line",
            &server.target(),
            "hello\\n",
        ],
    );
    assert_eq!(code(&out), 0, "{}", show(&out));
    assert_eq!(out.stdout, b"olleh\n", "{}", show(&out));
    server.wait_said("Peer certificate: CN = p1ge0n-test-client");

    let out = send_tls(
        &pki,
        "ca.pem",
        &["--frame", "line", &server.target(), "hello\\n"],
    );
    // TLS 1.3: the client's side of the handshake is over before the
    // server judges its (missing) certificate; the refusal arrives as an
    // alert after it, and is still status 3 with the contract's reason.
    assert_eq!(code(&out), 3, "{}", show(&out));
    assert!(
        stderr_of(&out).contains("certificate required"),
        "{}",
        show(&out)
    );
    assert!(out.stdout.is_empty(), "{}", show(&out));
    server.wait_said("peer did not return a certificate");
}

// --- servers -------------------------------------------------------------------

/// `listen --tls-cert/--tls-key` says `(tls)` and echoes to OpenSSL's
/// client (which checks the chain and the IP) and to socat's (which checks
/// the chain and the name), byte for byte; the records show the plaintext.
#[test]
fn listen_tls_echoes_to_openssl_s_client() {
    let pki = Pki::new();
    let server = tls_listen(&pki, &[]);
    let (mut client, mut input) = s_client(&pki, server.addr(), &[]);
    input.write_all(b"ping\n").unwrap();
    client.wait_stdout_contains("ping\n", SOON);
    drop(input);
    assert_eq!(client.wait_code(SOON), 0, "{}", client.dump());
    assert_eq!(client.stdout(), "ping\n", "{}", client.dump());
    server.wait_stdout_contains("ping\\n", SOON);
    assert_eq!(received_by(&server), ["ping\\n"], "{}", server.dump());

    let data: Vec<u8> = (0..=255u8).collect();
    let socat_client = format!(
        "OPENSSL:127.0.0.1:{},cafile={},commonname=localhost",
        server.port(),
        pki.path("ca.pem")
    );
    let out = assert_cmd::Command::new("socat")
        .args(["-t", "5", "-", &socat_client])
        .write_stdin(data.clone())
        .timeout(ONE_SHOT)
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", show(&out));
    assert!(
        out.stdout == data,
        "socat got {} of 256 bytes back: {}",
        out.stdout.len(),
        escape(&out.stdout)
    );
}

/// `listen --tls-self-signed`: the fingerprint it prints is the one
/// OpenSSL computes from the certificate it is served, which names
/// localhost, 127.0.0.1 and ::1; `send --tls --insecure` gets its echo with
/// the warning, and without --insecure the certificate is refused.
#[test]
fn listen_tls_self_signed_with_send_insecure() {
    let pki = Pki::new();
    let server = Listen::start(&["127.0.0.1:0", "--tls-self-signed"]);
    assert_eq!(server.transport(), "tls", "{}", server.dump());
    let stderr = server.wait_stderr_contains("SHA-256 fingerprint ", SOON);
    let ours = stderr
        .lines()
        .filter(|l| l.starts_with("tls: self-signed certificate"))
        .find_map(|l| l.split_once("SHA-256 fingerprint "))
        .map(|(_, fp)| fp.trim().to_string())
        .unwrap_or_else(|| panic!("no `tls: self-signed certificate` line\n{}", server.dump()));
    let groups: Vec<&str> = ours.split(':').collect();
    assert!(
        groups.len() == 32
            && groups
                .iter()
                .all(|g| g.len() == 2 && g.chars().all(|c| matches!(c, '0'..='9' | 'A'..='F'))),
        "not 32 uppercase hex bytes joined by ':': {ours}"
    );

    let shown = assert_cmd::Command::new("openssl")
        .args(["s_client", "-connect", &server.target()])
        .write_stdin("")
        .timeout(ONE_SHOT)
        .output()
        .unwrap();
    let x509 = assert_cmd::Command::new("openssl")
        .args([
            "x509",
            "-noout",
            "-fingerprint",
            "-sha256",
            "-ext",
            "subjectAltName",
        ])
        .write_stdin(shown.stdout.clone())
        .timeout(ONE_SHOT)
        .output()
        .unwrap();
    assert_eq!(code(&x509), 0, "{}\n{}", show(&shown), show(&x509));
    let openssl_says = stdout_of(&x509);
    // `sha256 Fingerprint=AB:CD:...` (OpenSSL 1.1 wrote `SHA256`)
    let theirs = openssl_says
        .lines()
        .find_map(|l| l.split_once("Fingerprint="))
        .map(|(_, fp)| fp.trim().to_string())
        .unwrap_or_else(|| panic!("{openssl_says}"));
    assert_eq!(ours, theirs, "{openssl_says}");
    for name in [
        "DNS:localhost",
        "IP Address:127.0.0.1",
        "IP Address:0:0:0:0:0:0:0:1",
    ] {
        assert!(openssl_says.contains(name), "no {name}: {openssl_says}");
    }

    let out = send_cmd()
        .args(["--tls", "--insecure", &server.target(), "x"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", show(&out));
    assert_eq!(out.stdout, b"x", "{}", show(&out));
    assert!(
        stderr_of(&out).contains("warning: --insecure: the server's certificate is not checked"),
        "{}",
        show(&out)
    );

    let out = send_tls(&pki, "ca.pem", &[&server.target(), "x"]);
    assert_refused(&out, &server.target(), "unknown CA");
}

/// A plain TCP client speaking HTTP to a TLS listener is dropped at once
/// (at most a TLS alert comes back) and logged; a TLS session open before
/// it carries on, and a new TLS client is served after it.
#[test]
fn plain_client_to_tls_listener_is_dropped_others_unaffected() {
    let pki = Pki::new();
    let mut server = tls_listen(&pki, &[]);
    let (mut first, mut input) = s_client(&pki, server.addr(), &[]);
    input.write_all(b"one\n").unwrap();
    first.wait_stdout_contains("one\n", SOON);

    let mut plain = server.connect();
    let local = plain.local_addr().unwrap();
    plain.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    let (got, end) = read_to_end(&mut plain);
    assert_ne!(end, End::TimedOut, "the plain client was not dropped");
    assert!(
        got.is_empty() || (got.len() == 7 && got[0] == 0x15),
        "more than a TLS alert came back: {}",
        escape(&got)
    );
    server.wait_stderr_contains(&format!("tls: handshake with {local} failed: "), SOON);

    input.write_all(b"two\n").unwrap();
    first.wait_stdout_contains("two\n", SOON);
    let out = send_tls(&pki, "ca.pem", &[&server.target(), "after\\n"]);
    assert_eq!(code(&out), 0, "{}", show(&out));
    assert_eq!(out.stdout, b"after\n", "{}", show(&out));
    drop(input);
    assert_eq!(first.wait_code(SOON), 0, "{}", first.dump());
    assert_eq!(first.stdout(), "one\ntwo\n", "{}", first.dump());
    assert!(server.running(), "{}", server.dump());
    assert!(
        !server.stdout().contains("GET"),
        "the plain bytes were shown as data\n{}",
        server.dump()
    );
}

/// `listen --client-ca`: a client certificate signed by that CA is served
/// (p1ge0n's client and OpenSSL's), a client without one is refused with
/// status 3 naming the certificate, its data is never shown, and the
/// server carries on.
#[test]
fn listen_client_ca_requires_client_certificate() {
    let pki = Pki::new();
    let mut server = tls_listen(&pki, &["--client-ca", &pki.path("ca.pem")]);
    let (cert, key) = (pki.path("client.pem"), pki.path("client.key"));
    let out = send_tls(
        &pki,
        "ca.pem",
        &["--cert", &cert, "--key", &key, &server.target(), "hello\\n"],
    );
    assert_eq!(code(&out), 0, "{}", show(&out));
    assert_eq!(out.stdout, b"hello\n", "{}", show(&out));

    let out = send_tls(&pki, "ca.pem", &[&server.target(), "anonymous\\n"]);
    assert_eq!(code(&out), 3, "{}", show(&out));
    assert!(
        stderr_of(&out).contains("certificate required"),
        "{}",
        show(&out)
    );
    server.wait_stderr_contains("failed: certificate required", SOON);
    assert!(
        server.stderr().contains("tls: handshake with 127.0.0.1:"),
        "{}",
        server.dump()
    );

    let (mut client, mut input) = s_client(&pki, server.addr(), &["-cert", &cert, "-key", &key]);
    input.write_all(b"ping\n").unwrap();
    client.wait_stdout_contains("ping\n", SOON);
    drop(input);
    assert_eq!(client.wait_code(SOON), 0, "{}", client.dump());
    assert!(server.running(), "{}", server.dump());
    server.wait_stdout_contains("ping\\n", SOON);
    assert!(
        !server.stdout().contains("anonymous"),
        "a refused client's data was shown\n{}",
        server.dump()
    );
}

// --- proxy, replay, repl -------------------------------------------------------

/// `proxy --tls-cert/--tls-key` in front of a plain server (socat):
/// TLS clients get the server's answers, the records show the plaintext.
#[test]
fn proxy_terminates_tls_to_plain_server() {
    let pki = Pki::new();
    let device = Socat::echo();
    let (cert, key) = (pki.path("server.pem"), pki.path("server.key"));
    let px = proxy(&[
        "127.0.0.1:0",
        "--tls-cert",
        &cert,
        "--tls-key",
        &key,
        &device.target(),
    ]);
    assert_eq!(px.transport(), "tls", "{}", px.dump());
    let out = send_tls(&pki, "ca.pem", &[&px.target(), "hello\\n"]);
    assert_eq!(code(&out), 0, "{}", show(&out));
    assert_eq!(out.stdout, b"hello\n", "{}", show(&out));
    px.wait_stdout_contains("server>client 6 hello\\n", SOON);
    assert!(
        px.stdout().contains("client>server 6 hello\\n"),
        "{}",
        px.dump()
    );

    let (mut client, mut input) = s_client(&pki, px.addr(), &[]);
    input.write_all(b"from openssl\n").unwrap();
    client.wait_stdout_contains("from openssl\n", SOON);
    drop(input);
    assert_eq!(client.wait_code(SOON), 0, "{}", client.dump());
}

/// `proxy --tls --ca` to a TLS server (socat): plain clients get its
/// answers. With a CA that did not sign the server's certificate, the
/// client is closed, the proxy says why and keeps serving.
#[test]
fn proxy_originates_tls_to_tls_server() {
    let pki = Pki::new();
    let device = Peer::tls_echo(&pki);
    let px = proxy(&[
        "127.0.0.1:0",
        "--tls",
        "--ca",
        &pki.path("ca.pem"),
        &device.target(),
    ]);
    assert_eq!(px.transport(), "tcp", "{}", px.dump());
    let out = send_cmd()
        .args([&px.target(), "hello\\n"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", show(&out));
    assert_eq!(out.stdout, b"hello\n", "{}", show(&out));
    px.wait_stdout_contains("server>client 6 hello\\n", SOON);

    let mut untrusting = proxy(&[
        "127.0.0.1:0",
        "--tls",
        "--ca",
        &pki.path("other-ca.pem"),
        &device.target(),
    ]);
    let mut client = untrusting.connect();
    let (got, end) = read_to_end(&mut client);
    assert!(
        got.is_empty() && end != End::TimedOut,
        "{end:?} {}\n{}",
        escape(&got),
        untrusting.dump()
    );
    untrusting.wait_stderr_contains("unknown CA", SOON);
    assert!(untrusting.running(), "{}", untrusting.dump());
}

/// `replay --tls --ca` verifies a script against a TLS echo server
/// (socat), and `replay --serve --tls-cert` plays a script's server side
/// to OpenSSL's client, exiting 0 after the flow.
#[test]
fn replay_tls_and_serve_tls() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("echo.script");
    std::fs::write(
        &script,
        "> HELLO\\n\n< HELLO\\n\n> STATUS?\\n\n< STATUS?\\n\n",
    )
    .unwrap();
    let device = Peer::tls_echo(&pki);
    let ca = pki.path("ca.pem");
    let out = replay(&[
        script.to_str().unwrap(),
        &device.target(),
        "--tls",
        "--ca",
        &ca,
        "--verify",
        "--no-delay",
    ]);
    assert_eq!(code(&out), 0, "{}", show(&out));
    let stdout = stdout_of(&out);
    assert!(
        stdout.contains("flow 1 message 2: ok (8 bytes)"),
        "{stdout}"
    );
    assert!(stdout.ends_with("verify: 2 ok, 0 differ\n"), "{stdout}");

    let out = replay(&[
        script.to_str().unwrap(),
        &device.target(),
        "--tls",
        "--ca",
        &pki.path("other-ca.pem"),
        "--no-delay",
    ]);
    assert_refused(&out, &device.target(), "unknown CA");

    let served = dir.path().join("plc.script");
    std::fs::write(&served, "> STATUS?\\n\n< RUNNING\\n\n").unwrap();
    let (cert, key) = (pki.path("server.pem"), pki.path("server.key"));
    let mut cmd = Command::new(bin());
    cmd.args(["replay", served.to_str().unwrap(), "--serve", "127.0.0.1:0"])
        .args(["--no-delay", "--tls-cert", &cert, "--tls-key", &key]);
    let mut server = Listen::spawn_with(cmd);
    assert_eq!(server.transport(), "tls", "{}", server.dump());
    let (mut client, mut input) = s_client(&pki, server.addr(), &[]);
    input.write_all(b"STATUS?\n").unwrap();
    client.wait_stdout_contains("RUNNING\n", SOON);
    drop(input);
    // Its status depends on who closes first; what it received does not.
    let _ = client.wait_exit(SOON);
    assert_eq!(client.stdout(), "RUNNING\n", "{}", client.dump());
    assert_eq!(server.wait_code(SOON), 0, "{}", server.dump());
}

/// Piped `repl --tls --ca`: the line goes out over TLS and the echo comes
/// back; a server the CA did not sign is status 3, as for send.
#[test]
fn repl_tls_piped() {
    let pki = Pki::new();
    let server = tls_listen(&pki, &["-q"]);
    let repl = |ca: &str| {
        assert_cmd::Command::new(bin())
            .args(["repl", &server.target(), "--tls", "--ca", &pki.path(ca)])
            .args(["-f", "raw"])
            .write_stdin("hi\n")
            .timeout(ONE_SHOT)
            .output()
            .unwrap()
    };
    let out = repl("ca.pem");
    assert_eq!(code(&out), 0, "{}", show(&out));
    assert_eq!(out.stdout, b"hi\n", "{}", show(&out));

    let out = repl("other-ca.pem");
    assert_refused(&out, &server.target(), "unknown CA");
}

/// How many descriptors process `pid` has open.
fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

/// `--handshake-timeout`: clients that connect and never finish the
/// handshake (one silent, one stopping half-way through a ClientHello) are
/// dropped after the limit, logged, counted as refused, and hold no
/// descriptor afterwards; a good client meanwhile is served.
#[test]
fn stalled_handshakes_are_dropped_after_the_handshake_timeout() {
    let pki = Pki::new();
    let mut server = tls_listen(&pki, &["--handshake-timeout", "1s"]);
    let pid = server.pid();
    let baseline = open_fds(pid);
    let started = std::time::Instant::now();
    let mut silent = server.connect();
    let mut halfway = server.connect();
    halfway
        .write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc])
        .unwrap();
    let out = send_tls(&pki, "ca.pem", &[&server.target(), "served\\n"]);
    assert_eq!(code(&out), 0, "{}", show(&out));
    assert_eq!(out.stdout, b"served\n", "{}", show(&out));
    for client in [&mut silent, &mut halfway] {
        let (got, end) = read_to_end(client);
        assert_ne!(end, End::TimedOut, "a stalled client was not dropped");
        assert!(got.is_empty() || got[0] == 0x15, "{}", escape(&got));
    }
    let waited = started.elapsed();
    assert!(
        waited >= std::time::Duration::from_millis(900),
        "dropped before the limit: {waited:?}"
    );
    // Both lines: the two timeouts fire together, and the second line may
    // still be on its way when the first is seen.
    let logged = || {
        server
            .stderr()
            .matches("no handshake within 1s (--handshake-timeout)")
            .count()
    };
    assert!(wait_until(SOON, || logged() >= 2), "{}", server.dump());
    assert_eq!(logged(), 2, "{}", server.dump());
    drop((silent, halfway));
    assert!(
        wait_until(SOON, || open_fds(pid) <= baseline),
        "descriptors {} after, {baseline} before\n{}",
        open_fds(pid),
        server.dump()
    );
    server.interrupt();
    assert_eq!(server.wait_code(SOON), 130, "{}", server.dump());
    assert!(
        server.stderr().contains("2 refused"),
        "stalled handshakes count as refused\n{}",
        server.dump()
    );
}

/// The self-signed certificate every tutorial makes, which OpenSSL 3 marks
/// `CA:TRUE`, is trusted when given as `--ca` (pinned byte for byte), as
/// `openssl s_client -CAfile`, curl and socat trust it (issue 26, bug 2);
/// its name is still checked, and an unrelated certificate in `--ca` is
/// refused in words, not a `Debug` dump.
#[test]
fn the_self_signed_certificate_everyone_makes_is_trusted_as_ca() {
    let dir = tempfile::tempdir().unwrap();
    let (key, cert) = (dir.path().join("k.pem"), dir.path().join("c.pem"));
    let made = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .args([
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ])
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", show(&made));
    let (key, cert) = (key.to_str().unwrap(), cert.to_str().unwrap());
    let server = Listen::start(&["127.0.0.1:0", "-q", "--tls-cert", cert, "--tls-key", key]);
    let out = p1ge0n(&["send", "--tls", "--ca", cert, &server.target(), "pinned"]);
    assert_eq!(code(&out), 0, "{}", show(&out));
    assert_eq!(out.stdout, b"pinned");

    let out = p1ge0n(&[
        "send",
        "--tls",
        "--ca",
        cert,
        "--sni",
        "plc.example",
        &server.target(),
        "x",
    ]);
    assert_fails(&out, 3, "name mismatch");

    let other = Pki::new();
    let out = p1ge0n(&[
        "send",
        "--tls",
        "--ca",
        &other.path("ca.pem"),
        &server.target(),
        "x",
    ]);
    assert_eq!(code(&out), 3, "{}", show(&out));
    let err = stderr_of(&out);
    assert!(
        !err.contains("Other(") && !err.contains("OtherError"),
        "{err}"
    );
}

/// `--pin` takes the fingerprint `listen --tls-self-signed` prints, so a
/// self-signed server is reachable without `--insecure` (issue 26, bug 3);
/// another fingerprint is refused with both named, and a malformed one is
/// bad input.
#[test]
fn pin_accepts_exactly_the_printed_fingerprint() {
    let server = Listen::start(&["127.0.0.1:0", "-q", "--tls-self-signed"]);
    let err = server.wait_stderr_contains("SHA-256 fingerprint ", SOON);
    let printed = err
        .lines()
        .find_map(|l| l.split_once("SHA-256 fingerprint ").map(|(_, f)| f.trim()))
        .unwrap()
        .to_string();
    let pin = format!("SHA256:{printed}");
    let out = p1ge0n(&["send", "--tls", "--pin", &pin, &server.target(), "pinned"]);
    assert_eq!(code(&out), 0, "{}", show(&out));
    assert_eq!(out.stdout, b"pinned");

    let wrong = format!("SHA256:{}", "00:".repeat(31) + "00");
    let out = p1ge0n(&["send", "--tls", "--pin", &wrong, &server.target(), "x"]);
    assert_fails(&out, 3, "pin mismatch");
    assert!(stderr_of(&out).contains(&printed), "{}", show(&out));

    let out = p1ge0n(&["send", "--tls", "--pin", "SHA256:12", &server.target(), "x"]);
    assert_fails(&out, 2, "32 bytes");
}
