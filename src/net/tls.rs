//! TLS for both ends (rustls with the ring provider): the client side of
//! `--tls` (send, repl, replay, proxy upstream) and the server side of
//! `--tls-cert/--tls-key` or `--tls-self-signed` (listen, proxy, replay
//! --serve). Configurations are built once, from the command line, before
//! any socket opens, so bad PEM files and mismatched keys are usage errors
//! (status 2); the handshake itself happens per connection, and its
//! failures are described here in the words a user looks for ("unknown
//! CA", "name mismatch", "expired", "no shared protocol").
//!
//! Why rustls and ring: a pure-Rust stack with no system OpenSSL to match
//! (our tests judge it against OpenSSL's own tools), and ring builds with
//! nothing but a C compiler.

use std::{io, path::Path, sync::Arc, time::Duration};

use anyhow::Result;
use rustls::{
    client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
    crypto::CryptoProvider,
    pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer, ServerName, UnixTime},
    server::WebPkiClientVerifier,
    sign::CertifiedKey,
    AlertDescription, CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore,
    ServerConfig, SignatureScheme,
};
use tokio::net::TcpStream;
use tokio_rustls::{TlsAcceptor, TlsConnector, TlsStream};

use crate::exit::{self, ExitCode};

use super::HostPort;

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// `--flag FILE` names the spot in every error about a file.
fn read_file(flag: &str, path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| {
        exit::usage(format!(
            "{flag} {}: cannot read it: {}",
            path.display(),
            super::describe_io(&e)
        ))
    })
}

fn certificates(flag: &str, path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let pem = read_file(flag, path)?;
    let certs: Vec<_> = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<_, _>>()
        .map_err(|e| exit::usage(format!("{flag} {}: bad PEM: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(exit::usage(format!(
            "{flag} {}: no certificate in it (expected PEM: -----BEGIN CERTIFICATE-----)",
            path.display()
        )));
    }
    Ok(certs)
}

fn private_key(flag: &str, path: &Path) -> Result<PrivateKeyDer<'static>> {
    let pem = read_file(flag, path)?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| {
        let why = match e {
            rustls::pki_types::pem::Error::NoItemsFound => {
                "no private key in it (expected PEM: -----BEGIN PRIVATE KEY-----)".to_string()
            }
            other => format!("bad PEM: {other}"),
        };
        exit::usage(format!("{flag} {}: {why}", path.display()))
    })
}

fn roots(flag: &str, path: &Path) -> Result<RootCertStore> {
    let mut roots = RootCertStore::empty();
    for cert in certificates(flag, path)? {
        roots.add(cert).map_err(|e| {
            exit::usage(format!(
                "{flag} {}: not a usable CA certificate: {e}",
                path.display()
            ))
        })?;
    }
    Ok(roots)
}

/// A certificate chain and its key, checked to belong together.
fn identity(
    (cert_flag, cert): (&str, &Path),
    (key_flag, key): (&str, &Path),
    provider: &CryptoProvider,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)> {
    let chain = certificates(cert_flag, cert)?;
    let key_der = private_key(key_flag, key)?;
    CertifiedKey::from_der(chain.clone(), key_der.clone_key(), provider).map_err(|e| {
        let why = match e {
            rustls::Error::InconsistentKeys(_) => format!(
                "does not match the certificate in {cert_flag} {}",
                cert.display()
            ),
            other => format!("unusable key: {other}"),
        };
        exit::usage(format!("{key_flag} {}: {why}", key.display()))
    })?;
    Ok((chain, key_der))
}

/// `--pin SHA256:HEX`: the SHA-256 fingerprint of the one server
/// certificate to accept, in the form `listen --tls-self-signed` prints
/// (`AA:BB:...`; the `SHA256:` prefix and the colons are optional).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pin(pub [u8; 32]);

impl std::str::FromStr for Pin {
    type Err = String;

    fn from_str(text: &str) -> Result<Pin, String> {
        let lower = text.to_ascii_lowercase();
        let hex_part = ["sha256:", "sha-256:"]
            .iter()
            .find_map(|prefix| lower.strip_prefix(prefix))
            .unwrap_or(&lower);
        let digits: String = hex_part.chars().filter(|c| *c != ':').collect();
        let bytes = hex::decode(&digits).map_err(|_| {
            format!("'{text}': expected SHA256: and 64 hex digits (pairs may be separated by ':')")
        })?;
        let pin: [u8; 32] = bytes.try_into().map_err(|b: Vec<u8>| {
            format!(
                "'{text}': a SHA-256 fingerprint is 32 bytes, not {}",
                b.len()
            )
        })?;
        Ok(Pin(pin))
    }
}

impl std::fmt::Display for Pin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hex: Vec<String> = self.0.iter().map(|b| format!("{b:02X}")).collect();
        write!(f, "SHA256:{}", hex.join(":"))
    }
}

/// What `--tls` on a client asks for.
pub struct ClientOptions<'a> {
    pub ca: Option<&'a Path>,
    pub insecure: bool,
    /// `--pin`: accept exactly this certificate.
    pub pin: Option<Pin>,
    pub sni: Option<&'a str>,
    pub cert: Option<(&'a Path, &'a Path)>,
}

/// The client side of TLS, ready to connect.
pub struct Client {
    connector: TlsConnector,
    sni: Option<ServerName<'static>>,
    timeout: Option<Duration>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("tls::Client")
            .field("sni", &self.sni)
            .finish()
    }
}

impl Client {
    /// Build the configuration: verify against `--ca`, or the system's
    /// store, or (`--insecure`) not at all. `timeout` bounds the handshake.
    pub fn new(options: ClientOptions<'_>, timeout: Option<Duration>) -> Result<Client> {
        let provider = provider();
        let sni = options
            .sni
            .map(|name| {
                ServerName::try_from(name.to_string()).map_err(|_| {
                    exit::usage(format!("--sni '{name}': not a DNS name or IP address"))
                })
            })
            .transpose()?;
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| exit::usage(format!("--tls: {e}")))?;
        let builder = if let Some(pin) = options.pin {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(ServerCheck {
                    trust: Trust::Pin(pin),
                    signatures: AcceptAnyServer(provider.clone()),
                }))
        } else if options.insecure {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAnyServer(provider.clone())))
        } else {
            match options.ca {
                Some(path) => {
                    let pinned = certificates("--ca", path)?;
                    let roots = Arc::new(roots("--ca", path)?);
                    let webpki = rustls::client::WebPkiServerVerifier::builder_with_provider(
                        roots,
                        provider.clone(),
                    )
                    .build()
                    .map_err(|e| exit::usage(format!("--ca {}: {e}", path.display())))?;
                    builder
                        .dangerous()
                        .with_custom_certificate_verifier(Arc::new(ServerCheck {
                            trust: Trust::CaOrPinned { webpki, pinned },
                            signatures: AcceptAnyServer(provider.clone()),
                        }))
                }
                None => builder.with_root_certificates(system_roots()?),
            }
        };
        let config = match options.cert {
            Some((cert, key)) => {
                let (chain, key) = identity(("--cert", cert), ("--key", key), &provider)?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| exit::usage(format!("--cert/--key: {e}")))?
            }
            None => builder.with_no_client_auth(),
        };
        let mut config = config;
        // One connection per run: nothing to resume, and unread session
        // tickets would make our close a reset.
        config.resumption = rustls::client::Resumption::disabled();
        Ok(Client {
            connector: TlsConnector::from(Arc::new(config)),
            sni,
            timeout,
        })
    }

    /// Shake hands over `tcp`, connected to `host`; the name checked is
    /// `--sni`, else the host as given (an IP address is checked against
    /// the certificate's IP addresses). Failure is status 3.
    pub async fn connect(&self, tcp: TcpStream, host: &HostPort) -> Result<TlsStream<TcpStream>> {
        let name = match &self.sni {
            Some(name) => name.clone(),
            None => ServerName::try_from(host.host.clone()).map_err(|_| {
                exit::usage(format!(
                    "--tls: '{}' is not a DNS name or IP address to verify; give --sni",
                    host.host
                ))
            })?,
        };
        let peer = tcp.peer_addr().map(super::canonical);
        let handshake = self.connector.connect(name, tcp);
        let result = match self.timeout {
            Some(t) => tokio::time::timeout(t, handshake)
                .await
                .unwrap_or_else(|_| {
                    Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("timed out after {}", humantime::format_duration(t)),
                    ))
                }),
            None => handshake.await,
        };
        let shown = match peer {
            Ok(addr) => addr.to_string(),
            Err(_) => host.to_string(),
        };
        result.map(TlsStream::Client).map_err(|e| {
            exit::error(
                ExitCode::Connect,
                format!(
                    "TLS handshake with {shown} failed: {}",
                    failure(&e, Side::Server)
                ),
            )
        })
    }
}

fn system_roots() -> Result<RootCertStore> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    roots.add_parsable_certificates(found.certs);
    if roots.is_empty() {
        return Err(exit::usage(
            "--tls: no CA certificates in the system store; give --ca FILE (or --insecure)",
        ));
    }
    Ok(roots)
}

/// `--insecure`: every certificate is accepted; the handshake's signatures
/// are still checked (they prove the peer holds the key it showed). Public
/// for the chaos tool, which loads a self-signed server.
#[derive(Debug)]
pub struct AcceptAnyServer(pub Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyServer {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// How a client trusts the server's certificate, beyond the handshake's
/// signatures (which always prove the server holds its key).
#[derive(Debug)]
enum Trust {
    /// `--pin`: exactly the certificate with that fingerprint, whatever
    /// signed it and whatever names it carries (an SSH-style pin).
    Pin(Pin),
    /// `--ca FILE`: a certificate signed by one of FILE's certificates, as
    /// any TLS client checks it; or one that *is* one of them, byte for
    /// byte: a self-signed device certificate pinned by giving it as
    /// `--ca`. OpenSSL 3 marks the certificate every tutorial's `openssl
    /// req -x509` makes `CA:TRUE`, which webpki refuses as a server's own
    /// (`CaUsedAsEndEntity`); `openssl s_client -CAfile`, curl and socat
    /// accept it. A pinned certificate must still be valid now and name
    /// the server asked for.
    CaOrPinned {
        webpki: Arc<rustls::client::WebPkiServerVerifier>,
        pinned: Vec<CertificateDer<'static>>,
    },
}

/// The server-certificate check of `--pin` and `--ca`; the signatures are
/// checked as `--insecure` checks them ([`AcceptAnyServer`]), with the
/// provider's algorithms, which is what webpki's verifier does too.
#[derive(Debug)]
struct ServerCheck {
    trust: Trust,
    signatures: AcceptAnyServer,
}

impl ServerCertVerifier for ServerCheck {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match &self.trust {
            Trust::Pin(pin) => {
                let digest = ring::digest::digest(&ring::digest::SHA256, end_entity.as_ref());
                if digest.as_ref() == pin.0 {
                    return Ok(ServerCertVerified::assertion());
                }
                Err(rustls::Error::General(format!(
                    "pin mismatch: the server's certificate is SHA256:{}, not --pin {pin}",
                    fingerprint(end_entity.as_ref()),
                )))
            }
            Trust::CaOrPinned { webpki, pinned } => {
                let verdict = webpki.verify_server_cert(
                    end_entity,
                    intermediates,
                    server_name,
                    ocsp_response,
                    now,
                );
                let is_pinned = pinned.iter().any(|c| c.as_ref() == end_entity.as_ref());
                match verdict {
                    Err(_) if is_pinned => {
                        check_validity(end_entity, now)?;
                        webpki::EndEntityCert::try_from(end_entity)
                            .and_then(|cert| cert.verify_is_valid_for_subject_name(server_name))
                            .map_err(|_| {
                                rustls::Error::InvalidCertificate(CertificateError::NotValidForName)
                            })?;
                        Ok(ServerCertVerified::assertion())
                    }
                    verdict => verdict,
                }
            }
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.signatures.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.signatures.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.signatures.supported_verify_schemes()
    }
}

/// A pinned certificate's validity period against `now`.
fn check_validity(cert: &CertificateDer<'_>, now: UnixTime) -> Result<(), rustls::Error> {
    let bad = || rustls::Error::InvalidCertificate(CertificateError::BadEncoding);
    let (not_before, not_after) = validity(cert.as_ref()).ok_or_else(bad)?;
    let now = now.as_secs() as i64;
    if now < not_before {
        return Err(rustls::Error::InvalidCertificate(
            CertificateError::NotValidYet,
        ));
    }
    if now > not_after {
        return Err(rustls::Error::InvalidCertificate(CertificateError::Expired));
    }
    Ok(())
}

/// One DER element: (tag, contents, the rest after it).
fn der_element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (first as usize, rest)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | b as usize);
        (len, &rest[n..])
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

/// notBefore and notAfter of an X.509 certificate, in Unix seconds:
/// Certificate { tbsCertificate { [0] version?, serial, signature,
/// issuer, validity { notBefore, notAfter }, ... }, ... }.
fn validity(der: &[u8]) -> Option<(i64, i64)> {
    let (_, certificate, _) = der_element(der)?;
    let (_, tbs, _) = der_element(certificate)?;
    let mut rest = tbs;
    if rest.first() == Some(&0xa0) {
        rest = der_element(rest)?.2;
    }
    for _ in 0..3 {
        rest = der_element(rest)?.2; // serial, signature, issuer
    }
    let (_, validity, _) = der_element(rest)?;
    let (tag_before, before, rest) = der_element(validity)?;
    let (tag_after, after, _) = der_element(rest)?;
    Some((asn1_time(tag_before, before)?, asn1_time(tag_after, after)?))
}

/// UTCTime (`YYMMDDHHMMSSZ`, 0x17) or GeneralizedTime (`YYYYMMDDHHMMSSZ`,
/// 0x18) in Unix seconds.
fn asn1_time(tag: u8, text: &[u8]) -> Option<i64> {
    let text = std::str::from_utf8(text).ok()?.strip_suffix('Z')?;
    let (year, rest) = match tag {
        0x17 if text.len() == 12 => {
            let yy: i64 = text[..2].parse().ok()?;
            (if yy < 50 { 2000 + yy } else { 1900 + yy }, &text[2..])
        }
        0x18 if text.len() == 14 => (text[..4].parse().ok()?, &text[4..]),
        _ => return None,
    };
    let field = |i: usize| rest.get(i..i + 2)?.parse::<i64>().ok();
    let (month, day) = (field(0)?, field(2)?);
    let (hour, minute, second) = (field(4)?, field(6)?, field(8)?);
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hour * 3_600 + minute * 60 + second)
}

/// What a server subcommand's TLS flags ask for.
pub struct ServerOptions<'a> {
    /// `--tls-cert/--tls-key`; `None` with `self_signed`.
    pub cert: Option<(&'a Path, &'a Path)>,
    pub self_signed: bool,
    pub client_ca: Option<&'a Path>,
    /// `--handshake-timeout`: how long a client may take to shake hands.
    pub handshake_timeout: Duration,
}

/// The server side of TLS, ready to accept.
#[derive(Clone)]
pub struct Server {
    acceptor: TlsAcceptor,
    handshake_timeout: Duration,
}

impl Server {
    /// Build the configuration. With `--tls-self-signed` the certificate is
    /// made now and its SHA-256 fingerprint returned, for the user to
    /// compare with what a client shows.
    pub fn new(options: ServerOptions<'_>) -> Result<(Server, Option<String>)> {
        let provider = provider();
        let (chain, key, fingerprint) = match options.cert {
            Some((cert, key)) => {
                let (chain, key) = identity(("--tls-cert", cert), ("--tls-key", key), &provider)?;
                (chain, key, None)
            }
            None => {
                let made = rcgen::generate_simple_self_signed(vec![
                    "localhost".to_string(),
                    "127.0.0.1".to_string(),
                    "::1".to_string(),
                ])
                .map_err(|e| exit::error(ExitCode::Failure, format!("--tls-self-signed: {e}")))?;
                let der = made.cert.der().clone();
                let fingerprint = fingerprint(&der);
                let key = PrivateKeyDer::Pkcs8(made.signing_key.serialize_der().into());
                (vec![der], key, Some(fingerprint))
            }
        };
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| exit::usage(format!("--tls-cert: {e}")))?;
        let builder = match options.client_ca {
            Some(path) => {
                let verifier = WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots("--client-ca", path)?),
                    provider,
                )
                .build()
                .map_err(|e| exit::usage(format!("--client-ca {}: {e}", path.display())))?;
                builder.with_client_cert_verifier(verifier)
            }
            None => builder.with_no_client_auth(),
        };
        let mut config = builder
            .with_single_cert(chain, key)
            .map_err(|e| exit::usage(format!("--tls-cert/--tls-key: {e}")))?;
        // Devices and one-shot clients do not resume sessions; tickets
        // would only cost every handshake two more records.
        config.send_tls13_tickets = 0;
        Ok((
            Server {
                acceptor: TlsAcceptor::from(Arc::new(config)),
                handshake_timeout: options.handshake_timeout,
            },
            fingerprint,
        ))
    }

    /// Shake hands with a client, for at most `--handshake-timeout` (a
    /// client that never finishes holds no task or descriptor after it).
    /// The error is the reason, for the server's log.
    pub async fn accept(&self, tcp: TcpStream) -> Result<TlsStream<TcpStream>, String> {
        match tokio::time::timeout(self.handshake_timeout, self.acceptor.accept(tcp)).await {
            Ok(Ok(stream)) => Ok(TlsStream::Server(stream)),
            Ok(Err(e)) => Err(failure(&e, Side::Client)),
            Err(_) => Err(format!(
                "no handshake within {} (--handshake-timeout)",
                humantime::format_duration(self.handshake_timeout)
            )),
        }
    }
}

/// `AB:CD:...`, as `openssl x509 -noout -fingerprint -sha256` prints it.
pub fn fingerprint(der: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, der);
    digest
        .as_ref()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// A TLS failure reported by a read or write after the handshake (with
/// TLS 1.3 a server rejects a client certificate only then): the reason,
/// worded as for a failed handshake, or `None` for a plain I/O error.
pub fn late_failure(e: &io::Error) -> Option<String> {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        .map(|_| failure(e, Side::Server))
}

/// `DnsName("plc")` / `IpAddress(10.0.0.1)` (rustls' text for a
/// certificate's names) as `plc` / `10.0.0.1`.
fn san(text: &str) -> String {
    let inner = text
        .split_once('(')
        .and_then(|(_, rest)| rest.strip_suffix(')'))
        .unwrap_or(text);
    inner.trim_matches('"').to_string()
}

/// Which end of the handshake the other party is.
#[derive(Clone, Copy)]
enum Side {
    Server,
    Client,
}

/// Why a handshake failed, from this end's point of view, led by the words
/// a user looks for.
fn failure(e: &io::Error, peer: Side) -> String {
    use rustls::Error as E;
    let who = match peer {
        Side::Server => "server",
        Side::Client => "client",
    };
    let Some(error) = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    else {
        return match e.kind() {
            io::ErrorKind::UnexpectedEof | io::ErrorKind::ConnectionReset => format!(
                "the {who} does not speak TLS (it closed the connection during the handshake)"
            ),
            _ => super::describe_io(e),
        };
    };
    match error {
        E::InvalidCertificate(cert) => match cert {
            CertificateError::UnknownIssuer => format!(
                "unknown CA: the {who}'s certificate is not signed by a trusted CA{}",
                match peer {
                    Side::Server => " (--ca)",
                    Side::Client => " (--client-ca)",
                }
            ),
            CertificateError::NotValidForNameContext {
                expected,
                presented,
            } => {
                let expected = match expected {
                    ServerName::DnsName(name) => name.as_ref().to_string(),
                    ServerName::IpAddress(ip) => std::net::IpAddr::from(*ip).to_string(),
                    other => format!("{other:?}"),
                };
                let presented: Vec<String> = presented.iter().map(|p| san(p)).collect();
                format!(
                    "name mismatch: the {who}'s certificate is for {}, not {expected} (--sni names the server to expect)",
                    presented.join(", ")
                )
            }
            CertificateError::NotValidForName => {
                format!("name mismatch: the {who}'s certificate is not valid for the name asked for (--sni)")
            }
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                format!("expired: the {who}'s certificate has expired")
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                format!("not yet valid: the {who}'s certificate is not valid yet")
            }
            CertificateError::BadSignature => format!(
                "bad signature: the {who}'s certificate is not signed by the certificate in {}",
                match peer {
                    Side::Server => "--ca",
                    Side::Client => "--client-ca",
                }
            ),
            CertificateError::Other(other)
                if matches!(
                    other.0.downcast_ref::<webpki::Error>(),
                    Some(webpki::Error::CaUsedAsEndEntity)
                ) =>
            {
                format!(
                    "the {who}'s certificate is a CA certificate (CA:TRUE), not one of its own; give that very certificate as {} to trust it",
                    match peer {
                        Side::Server => "--ca",
                        Side::Client => "--client-ca",
                    }
                )
            }
            other => format!("bad certificate from the {who}: {other}"),
        },
        E::AlertReceived(alert) => match alert {
            AlertDescription::HandshakeFailure
            | AlertDescription::ProtocolVersion
            | AlertDescription::InsufficientSecurity
            | AlertDescription::NoApplicationProtocol => {
                format!("no shared protocol: the {who} sent the alert {alert:?}")
            }
            AlertDescription::UnknownCA => {
                format!("unknown CA: the {who} does not trust our certificate")
            }
            AlertDescription::CertificateRequired => {
                format!("certificate required: the {who} wants a client certificate (--cert/--key)")
            }
            AlertDescription::BadCertificate
            | AlertDescription::CertificateUnknown
            | AlertDescription::CertificateExpired
            | AlertDescription::CertificateRevoked
            | AlertDescription::UnsupportedCertificate => {
                format!("bad certificate: the {who} rejected our certificate ({alert:?})")
            }
            other => format!("the {who} sent the alert {other:?}"),
        },
        E::PeerIncompatible(why) => format!("no shared protocol with the {who}: {why:?}"),
        E::NoCertificatesPresented => {
            format!("certificate required: the {who} sent no certificate")
        }
        E::InvalidMessage(_)
        | E::InappropriateMessage { .. }
        | E::InappropriateHandshakeMessage { .. }
        | E::PeerMisbehaved(_) => format!("the {who} does not speak TLS ({error})"),
        E::General(why) => why.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_read_as_the_server_prints_them() {
        let printed = fingerprint(b"a certificate");
        let pin: Pin = format!("SHA256:{printed}").parse().unwrap();
        assert_eq!(pin.to_string(), format!("SHA256:{printed}"));
        let bare: Pin = printed.replace(':', "").to_lowercase().parse().unwrap();
        assert_eq!(bare, pin);
        assert!("SHA256:AB:CD"
            .parse::<Pin>()
            .unwrap_err()
            .contains("32 bytes, not 2"));
        assert!("SHA256:XY"
            .parse::<Pin>()
            .unwrap_err()
            .contains("64 hex digits"));
    }

    #[test]
    fn asn1_times_in_unix_seconds() {
        assert_eq!(asn1_time(0x17, b"200102000000Z"), Some(1_577_923_200));
        assert_eq!(asn1_time(0x17, b"491231000000Z"), Some(2_524_521_600));
        assert_eq!(asn1_time(0x18, b"20510101000000Z"), Some(2_556_144_000));
        assert_eq!(asn1_time(0x17, b"500101000000Z"), Some(-631_152_000));
        assert_eq!(asn1_time(0x17, b"2001020000Z"), None);
        assert_eq!(asn1_time(0x05, b"200102000000Z"), None);
    }

    /// The validity period read from a real certificate (rcgen writes
    /// UTCTime before 2050 and GeneralizedTime from 2050 on).
    #[test]
    fn validity_of_a_certificate() {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["localhost".into()]).unwrap();
        params.not_before = rcgen::date_time_ymd(2020, 1, 2);
        params.not_after = rcgen::date_time_ymd(2051, 1, 1);
        let cert = params.self_signed(&key).unwrap();
        assert_eq!(
            validity(cert.der().as_ref()),
            Some((1_577_923_200, 2_556_144_000))
        );
        let now = |secs| UnixTime::since_unix_epoch(Duration::from_secs(secs));
        assert!(check_validity(cert.der(), now(1_600_000_000)).is_ok());
        assert!(check_validity(cert.der(), now(1_500_000_000)).is_err());
        assert!(check_validity(cert.der(), now(2_600_000_000)).is_err());
        assert_eq!(validity(&[0x30, 0x03, 0x02]), None);
    }
}
