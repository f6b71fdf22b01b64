//! `p1ge0n proxy`: sit between a client and a server (an HMI and a PLC),
//! forward both ways, show and record every message.
//!
//! A server subcommand (`server.rs` does the accepting, limits, counters,
//! signals and outputs) whose handler connects each client to TARGET and
//! hands both to `relay`, which forwards bytes the moment they arrive, one
//! bounded buffer per direction, so a slow reader slows the writer on the
//! other side. `--frame` only splits
//! each direction into messages for display and capture: forwarding never
//! waits for a frame. Half-closes pass through; a reset on one side resets
//! the other. `--share` puts every client on ONE upstream connection, one
//! framed message at a time (`share.rs`); `-u` gives each UDP client its
//! own upstream socket (`udp.rs`).

mod faulty;
mod gateway;
mod share;
mod udp;

use std::{
    sync::{Arc, OnceLock},
    time::Duration,
};

use anyhow::Result;
use tokio::net::UdpSocket;

use super::{
    inputs,
    server::{self, plural, Handler, Options, RelayRecording, Server},
};
use crate::{
    cli::ProxyArgs,
    exit::{self, ExitCode},
    fault::Faults,
    frame::FrameSpec,
    net::{self, ConnectOptions, Stream, Target},
    record::{Event, Peer, Role, Side},
    relay::{self, Ending},
};

/// proxy's own configuration.
pub struct Proxy {
    target: Target,
    connect: ConnectOptions,
    /// How clients' messages are framed.
    frame: FrameSpec,
    /// How the server's are (a gateway's two sides differ: MBAP and RTU).
    upstream_frame: FrameSpec,
    max_frame: usize,
    /// `--share`, `--gateway`: how long a reply may take.
    reply_timeout: Option<Duration>,
    /// `--share`, or `--gateway` (which shares the one line).
    share: bool,
    /// `--gateway modbus`: which side is RTU, `--retries`, `--turnaround`.
    gateway: Option<(gateway::Direction, u32, Duration)>,
    /// The one upstream connection's queue (`--share`), started with the
    /// first client.
    shared: OnceLock<share::Queue>,
    /// `--fault`: what to break, and the seed.
    faults: Option<Faults>,
}

pub fn run(args: ProxyArgs) -> Result<ExitCode> {
    inputs::check_framing(&args.frame)?;
    if args.share && inputs::framing(&args.frame, args.output.decode).is_none() {
        return Err(exit::usage(
            "--share needs --frame: replies are matched to clients message by message, \
             so both directions must be split into messages",
        ));
    }
    let gateway = match args.gateway {
        None => None,
        Some(crate::cli::Gateway::Modbus) => {
            let direction = match (&args.addr, &args.target) {
                (net::ListenAddr::Serial(_), Target::Serial(_)) => {
                    return Err(exit::usage(
                        "--gateway modbus: one side must be Modbus/TCP (both are serial lines)",
                    ))
                }
                (net::ListenAddr::Serial(_), _) => gateway::Direction::FromRtu,
                _ => gateway::Direction::ToRtu,
            };
            Some((direction, args.retries, args.turnaround.0))
        }
    };
    if gateway.is_none() && (args.retries != 0 || !args.turnaround.0.is_zero()) {
        return Err(exit::usage("--retries and --turnaround are for --gateway"));
    }
    let (frame, upstream_frame) = match gateway {
        Some((gateway::Direction::ToRtu, ..)) => (FrameSpec::mbap(), FrameSpec::ModbusRtu),
        Some((gateway::Direction::FromRtu, ..)) => (FrameSpec::ModbusRtu, FrameSpec::mbap()),
        None => {
            let frame = inputs::framing(&args.frame, args.output.decode).unwrap_or_default();
            (frame.clone(), frame)
        }
    };
    let faults = match args.fault.is_empty() {
        true => None,
        false => {
            let framed = match gateway {
                Some(_) => Some(&frame),
                None => inputs::framing(&args.frame, args.output.decode)
                    .is_some()
                    .then_some(&frame),
            };
            let seed = args.fault_seed.unwrap_or_else(new_seed);
            let faults =
                Faults::new(args.fault.clone(), seed, framed, args.udp).map_err(exit::usage)?;
            Some(faults)
        }
    };
    let default_wait = if gateway.is_some() { "1s" } else { "10s" };
    let wait = args
        .timeout
        .unwrap_or_else(|| default_wait.parse().expect("a valid duration"));
    let proxy = Proxy {
        target: args.target,
        connect: args.connect.options(None)?,
        frame,
        upstream_frame,
        max_frame: args.frame.max_frame.0,
        reply_timeout: wait.bound(),
        share: args.share || gateway.is_some(),
        gateway,
        shared: OnceLock::new(),
        faults,
    };
    let mut options = Options::new(
        args.addr,
        args.udp,
        Role::Proxy,
        args.serve,
        &args.connect.keepalive,
        args.output,
        args.capture,
    );
    options.tls = args.tls_server.server()?;
    options.counts_faults = proxy.faults.is_some();
    if let (Some(faults), None) = (&proxy.faults, args.fault_seed) {
        let seed = faults.seed;
        options.notes.push(format!(
            "fault seed {seed} (--fault-seed {seed} repeats these faults)"
        ));
    }
    server::run(options, proxy)
}

impl Handler for Proxy {
    async fn stream(server: Arc<Server<Self>>, stream: Stream, peer: Peer, id: u64) {
        crate::say!("#{id} {peer} connected");
        if server.handler.share {
            // Boxed apart, as the faulted relay is: a plain relay's
            // wake-ups do not reserve this path's stack.
            server::boxed_future(|| share::serve_client(&server, stream, peer, id)).await;
        } else {
            relay_client(&server, stream, peer, id).await;
        }
    }

    async fn udp(server: Arc<Server<Self>>, socket: UdpSocket) -> Result<ExitCode> {
        udp::serve(server, socket).await
    }
}

/// Connect the client to TARGET and relay both ways until both sides have
/// closed, one side failed, or the connection sat idle for `--idle-timeout`.
async fn relay_client(server: &Server<Proxy>, client: Stream, peer: Peer, id: u64) {
    let proxy = &server.handler;
    let mut recorder = server.recorder(id, peer);
    server.event(&mut recorder, Event::Open).await;
    // Boxed apart (`server::boxed_future`): connecting (a TLS handshake,
    // say) takes more room than the relay that follows.
    let connecting = server::boxed_future(|| net::connect(&proxy.target, &proxy.connect));
    let upstream = match connecting.await {
        Ok(upstream) => upstream,
        Err(e) => {
            let reason = format!("upstream {}: {e:#}", proxy.target);
            crate::say!("#{id} {peer} {reason}; closing the client");
            server.event(&mut recorder, Event::Error(&reason)).await;
            return;
        }
    };
    if let Ok(addr) = upstream.peer() {
        crate::say!("#{id} {peer} connected to {addr}");
    }
    let (ending, totals, recording) = match &proxy.faults {
        None => {
            let recording = RelayRecording::new(server, recorder, &proxy.frame, proxy.max_frame);
            let (ending, totals) = relay::relay(
                &recording,
                client.into_split(),
                upstream.into_split(),
                server.options.idle_timeout,
                None,
            )
            .await;
            (ending, totals, recording)
        }
        Some(faults) => {
            // The faulted relay hands over whole messages, as delivered:
            // each is one record.
            let recording = RelayRecording::new(server, recorder, &FrameSpec::Raw, proxy.max_frame);
            // Boxed apart (`server::boxed_future`): the faulted relay's
            // future is about 9 KiB, which every plain connection would
            // otherwise carry and reserve stack for on each wake-up.
            let faulted = server::boxed_future(|| {
                faulty::relay(
                    &recording,
                    faults,
                    id,
                    &proxy.frame,
                    proxy.max_frame,
                    client.into_split(),
                    upstream.into_split(),
                    server.options.idle_timeout,
                )
            });
            let (ending, totals) = faulted.await;
            (ending, totals, recording)
        }
    };
    let line = match (&ending, ending.failure()) {
        (Ending::Idle(limit), _) => {
            format!("idle for {}, closing", humantime::format_duration(*limit))
        }
        (_, Some(reason)) => format!("{reason}; reset the other side"),
        _ => "closed".to_string(),
    };
    crate::say!(
        "#{id} {peer} {line} ({} client>server, {} server>client)",
        plural(totals.to_server, "byte"),
        plural(totals.to_client, "byte"),
    );
    let mut recorder = recording.recorder.lock().await;
    let event = match ending.failure() {
        Some(reason) => Event::Error(reason),
        None => Event::Close,
    };
    server.event(&mut recorder, event).await;
}

/// A seed for `--fault` when none is given: the clock and the process id,
/// so two proxies started together differ.
fn new_seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    (nanos ^ (u64::from(std::process::id()) << 32)) % 1_000_000_000
}

impl faulty::FaultWatch for RelayRecording<'_, Proxy> {
    fn received(&self, from: Side, n: usize) {
        relay::Watch::counted(self, from, n);
    }

    async fn delivered(&self, from: Side, bytes: &[u8], eof: bool) -> Result<(), String> {
        use relay::Watch;
        match self.observes() {
            true => self.forwarded(from, bytes, eof).await,
            false => Ok(()),
        }
    }

    async fn injected(&self, from: Side, outcome: &crate::fault::Outcome) {
        if self.server.count_faults(outcome) {
            let mut recorder = self.recorder.lock().await;
            self.server
                .record_faults(&mut recorder, from, outcome)
                .await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The size of what `make` returns (a future, without running it).
    fn size_of_output<A, R>(_make: impl FnOnce(A) -> R) -> usize {
        std::mem::size_of::<R>()
    }

    /// A plain relay's connection task stays small: the rare paths (the
    /// faulted relay, the shared line, connecting) are boxed apart. It was
    /// 11.9 KiB, most of it the faulted relay's (9.5 KiB then), which every
    /// connection carried and reserved stack for on each wake-up.
    #[test]
    fn a_plain_connections_future_leaves_the_rare_paths_boxed() {
        let handler = size_of_output(|(s, st, p): (Arc<Server<Proxy>>, Stream, Peer)| {
            <Proxy as Handler>::stream(s, st, p, 1)
        });
        assert!(
            handler < 4096,
            "a proxy connection's future is {handler} bytes"
        );
    }
}
