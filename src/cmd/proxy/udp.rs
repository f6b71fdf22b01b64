//! `proxy -u`: each client address gets its own upstream UDP socket, so the
//! server's replies can be told apart and sent back to the right client.
//! A client's socket is dropped after `--idle-timeout` (default 60s)
//! without a datagram from that client.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{atomic::Ordering::Relaxed, Arc},
    time::Duration,
};

use anyhow::Result;
use tokio::{net::UdpSocket, sync::Mutex, task::JoinHandle};

use super::Proxy;
use crate::{
    cmd::server::Server,
    exit::ExitCode,
    net,
    output::HeldRecorder,
    record::{Event, Peer, Side},
    relay::Idle,
};

/// How long a client's upstream socket lives without a datagram from it,
/// when `--idle-timeout` is not given.
const DEFAULT_IDLE: Duration = Duration::from_secs(60);

/// One client address and its upstream socket.
struct Client {
    id: u64,
    upstream: Arc<UdpSocket>,
    /// The client's last datagram.
    activity: Idle,
    /// Carries the server's replies back to the client.
    replies: JoinHandle<()>,
}

pub async fn serve(server: Arc<Server<Proxy>>, socket: UdpSocket) -> Result<ExitCode> {
    let socket = Arc::new(socket);
    let idle = server.options.idle_timeout.unwrap_or(DEFAULT_IDLE);
    let recorder = Arc::new(Mutex::new(
        server.recorder(0, Peer::Ip(([0, 0, 0, 0], 0).into())),
    ));
    let mut clients: HashMap<SocketAddr, Client> = HashMap::new();
    let mut next_id = 0u64;
    let mut buf = vec![0u8; 65_536];
    // Swept ten times per limit (at most once per second, at least every
    // 10 ms), so an idle socket goes within a tenth of the limit.
    let mut sweep =
        tokio::time::interval((idle / 10).clamp(Duration::from_millis(10), Duration::from_secs(1)));
    loop {
        let (n, peer) = tokio::select! {
            received = server.recv_admitted(&socket, &mut buf) => received,
            _ = sweep.tick() => {
                drop_idle(&mut clients, idle);
                continue;
            }
        };
        let client = match clients.entry(peer) {
            std::collections::hash_map::Entry::Occupied(entry) => entry.into_mut(),
            std::collections::hash_map::Entry::Vacant(entry) => {
                next_id += 1;
                match open(&server, &socket, &recorder, peer, next_id).await {
                    Ok(client) => entry.insert(client),
                    Err(e) => {
                        eprintln!(
                            "#{next_id} {peer} upstream {}: {e:#}",
                            server.handler.target
                        );
                        continue;
                    }
                }
            }
        };
        client.activity.touch();
        let datagram = &buf[..n];
        if let Err(e) = client.upstream.send(datagram).await {
            eprintln!("#{} {peer} upstream: {}", client.id, net::describe_io(&e));
        }
        server.stats.bytes_in.fetch_add(n as u64, Relaxed);
        if record(&server, &recorder, client.id, peer, Side::Client, datagram).await {
            return Ok(ExitCode::Success);
        }
    }
}

/// A new client: its own upstream socket, and a task for the replies.
async fn open(
    server: &Arc<Server<Proxy>>,
    socket: &Arc<UdpSocket>,
    recorder: &Arc<Mutex<HeldRecorder>>,
    peer: SocketAddr,
    id: u64,
) -> Result<Client> {
    let upstream =
        Arc::new(net::connect_udp(&server.handler.target, server.handler.connect.source).await?);
    server.stats.connections.fetch_add(1, Relaxed);
    eprintln!(
        "#{id} {peer} first datagram; upstream socket {}",
        upstream.local_addr()?
    );
    let replies = tokio::spawn(carry_replies(
        server.clone(),
        socket.clone(),
        upstream.clone(),
        recorder.clone(),
        peer,
        id,
    ));
    Ok(Client {
        id,
        upstream,
        activity: Idle::new(),
        replies,
    })
}

async fn carry_replies(
    server: Arc<Server<Proxy>>,
    socket: Arc<UdpSocket>,
    upstream: Arc<UdpSocket>,
    recorder: Arc<Mutex<HeldRecorder>>,
    peer: SocketAddr,
    id: u64,
) {
    let mut buf = vec![0u8; 65_536];
    loop {
        let n = match upstream.recv(&mut buf).await {
            Ok(n) => n,
            Err(e) => {
                // ICMP errors (the server's port closed) are about this
                // client's upstream only.
                eprintln!("#{id} {peer} upstream: {}", net::describe_io(&e));
                continue;
            }
        };
        let datagram = &buf[..n];
        if let Err(e) = socket.send_to(datagram, peer).await {
            eprintln!("#{id} {peer} send error: {}", net::describe_io(&e));
        }
        server.stats.bytes_out.fetch_add(n as u64, Relaxed);
        if record(&server, &recorder, id, peer, Side::Server, datagram).await {
            return;
        }
    }
}

/// Record one datagram; true once `--count` is reached.
async fn record(
    server: &Server<Proxy>,
    recorder: &Mutex<HeldRecorder>,
    id: u64,
    peer: SocketAddr,
    from: Side,
    bytes: &[u8],
) -> bool {
    let (admitted, last) = server.admit_message();
    if admitted {
        let mut recorder = recorder.lock().await;
        (recorder.conn, recorder.peer) = (id, Peer::Ip(peer));
        recorder.hold(Event::Data { from, bytes });
        server.deliver(&mut recorder).await;
    }
    if last || !admitted {
        server.finish(ExitCode::Success);
        return true;
    }
    false
}

fn drop_idle(clients: &mut HashMap<SocketAddr, Client>, idle: Duration) {
    clients.retain(|peer, client| {
        if !client.activity.is_idle(idle) {
            return true;
        }
        client.replies.abort();
        eprintln!(
            "#{} {peer} idle for {}, upstream socket dropped",
            client.id,
            humantime::format_duration(idle)
        );
        false
    });
}
