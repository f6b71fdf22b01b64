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
use bytes::Bytes;
use tokio::{
    net::UdpSocket,
    sync::{mpsc, Mutex},
    task::JoinHandle,
    time::Instant,
};

use super::Proxy;
use crate::{
    cmd::server::Server,
    exit::ExitCode,
    fault::{transmit_time, DirectionFaults, Fate},
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
    /// The client's last datagram, or a datagram held for later (either
    /// way): the socket is not idle before it.
    activity: Arc<Idle>,
    /// Carries the server's replies back to the client.
    replies: JoinHandle<()>,
    /// `--fault`: the dice of the client's datagrams, and the task that
    /// delivers them to the server each at its time.
    faulted: Option<(DirectionFaults, Deliveries)>,
}

/// `--fault` on UDP: a datagram is a message. What the dice let through
/// goes to a task per client and direction that sends each datagram at its
/// time, in order, paced by `bandwidth=`; a Modbus exception goes straight
/// back to the client.
struct Deliveries {
    queue: mpsc::Sender<(Instant, Bytes, u8)>,
    task: JoinHandle<()>,
    /// When the last datagram is due (order is kept whatever the jitter).
    due: Instant,
}

/// Where a delivery task sends: the server (the client's upstream socket)
/// or the client (from the listening socket).
#[derive(Clone)]
enum Toward {
    Server(Arc<UdpSocket>),
    Client(Arc<UdpSocket>, SocketAddr),
}

impl Toward {
    async fn send(&self, datagram: &[u8]) -> std::io::Result<usize> {
        match self {
            Toward::Server(socket) => socket.send(datagram).await,
            Toward::Client(socket, peer) => socket.send_to(datagram, *peer).await,
        }
    }
}

impl Deliveries {
    #[allow(clippy::too_many_arguments)]
    fn start(
        server: Arc<Server<Proxy>>,
        recorder: Arc<Mutex<HeldRecorder>>,
        toward: Toward,
        from: Side,
        bandwidth: Option<u64>,
        id: u64,
        peer: SocketAddr,
    ) -> Deliveries {
        let (queue, mut rx) = mpsc::channel::<(Instant, Bytes, u8)>(256);
        let task = tokio::spawn(async move {
            let mut free = Instant::now();
            while let Some((at, datagram, times)) = rx.recv().await {
                tokio::time::sleep_until(at).await;
                for _ in 0..times {
                    if let Some(bits) = bandwidth {
                        free = free.max(Instant::now()) + transmit_time(datagram.len(), bits);
                        tokio::time::sleep_until(free).await;
                    }
                    if let Err(e) = toward.send(&datagram).await {
                        crate::say!("#{id} {peer} send error: {}", net::describe_io(&e));
                    }
                    if record(&server, &recorder, id, peer, from, &datagram).await {
                        return;
                    }
                }
            }
        });
        Deliveries {
            queue,
            task,
            due: Instant::now(),
        }
    }
}

/// What the dice say of one datagram `from` sent: the records of what they
/// dealt, then the datagram queued for its time, dropped, or answered.
async fn deal(
    server: &Server<Proxy>,
    recorder: &Mutex<HeldRecorder>,
    socket: &UdpSocket,
    (dice, deliveries): &mut (DirectionFaults, Deliveries),
    (id, peer, activity): (u64, SocketAddr, &Idle),
    from: Side,
    datagram: &[u8],
) {
    let arrived = Instant::now();
    let mut bytes = Bytes::copy_from_slice(datagram);
    let (fate, hold) = if dice.decides() {
        let outcome = dice.decide(&bytes);
        bytes = outcome.apply(bytes);
        if server.count_faults(&outcome) {
            let mut recorder = recorder.lock().await;
            (recorder.conn, recorder.peer) = (id, Peer::Ip(peer));
            server.record_faults(&mut recorder, from, &outcome).await;
        }
        (outcome.fate, outcome.hold)
    } else {
        (Fate::Forward(1), Duration::ZERO)
    };
    match fate {
        Fate::Forward(times) => {
            deliveries.due = deliveries.due.max(arrived + hold);
            // A held datagram keeps the client's socket until it is sent.
            activity.busy_until(deliveries.due);
            let _ = deliveries.queue.send((deliveries.due, bytes, times)).await;
        }
        Fate::Answer(answer) => {
            // The request as the client sent it, then the answer it got.
            record(server, recorder, id, peer, from, datagram).await;
            if let Err(e) = socket.send_to(&answer, peer).await {
                crate::say!("#{id} {peer} send error: {}", net::describe_io(&e));
            }
            record(server, recorder, id, peer, Side::Server, &answer).await;
        }
        Fate::Drop | Fate::Stall | Fate::Reset => {}
    }
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
                        crate::say!(
                            "#{next_id} {peer} upstream {}: {e:#}",
                            server.handler.target
                        );
                        continue;
                    }
                }
            }
        };
        client.activity.touch();
        // Counted as it arrived, whatever the faults make of it.
        server.stats.bytes_in.fetch_add(n as u64, Relaxed);
        let datagram = &buf[..n];
        if let Some(faulted) = &mut client.faulted {
            let whose = (client.id, peer, &*client.activity);
            deal(
                &server,
                &recorder,
                &socket,
                faulted,
                whose,
                Side::Client,
                datagram,
            )
            .await;
            continue;
        }
        if let Err(e) = client.upstream.send(datagram).await {
            crate::say!("#{} {peer} upstream: {}", client.id, net::describe_io(&e));
        }
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
    crate::say!(
        "#{id} {peer} first datagram; upstream socket {}",
        upstream.local_addr()?
    );
    let faults = server.handler.faults.as_ref();
    let deliveries = |toward: Toward, from: Side, dice: &DirectionFaults| {
        Deliveries::start(
            server.clone(),
            recorder.clone(),
            toward,
            from,
            dice.bandwidth(),
            id,
            peer,
        )
    };
    let to_client = faults
        .and_then(|f| f.direction(id, Side::Server))
        .map(|dice| {
            let d = deliveries(Toward::Client(socket.clone(), peer), Side::Server, &dice);
            (dice, d)
        });
    let faulted = faults
        .and_then(|f| f.direction(id, Side::Client))
        .map(|dice| {
            let d = deliveries(Toward::Server(upstream.clone()), Side::Client, &dice);
            (dice, d)
        });
    let activity = Arc::new(Idle::new());
    let replies = tokio::spawn(carry_replies(
        server.clone(),
        socket.clone(),
        upstream.clone(),
        recorder.clone(),
        (id, peer, activity.clone()),
        to_client,
    ));
    Ok(Client {
        id,
        upstream,
        activity,
        replies,
        faulted,
    })
}

async fn carry_replies(
    server: Arc<Server<Proxy>>,
    socket: Arc<UdpSocket>,
    upstream: Arc<UdpSocket>,
    recorder: Arc<Mutex<HeldRecorder>>,
    (id, peer, activity): (u64, SocketAddr, Arc<Idle>),
    mut faulted: Option<(DirectionFaults, Deliveries)>,
) {
    let mut buf = vec![0u8; 65_536];
    loop {
        let n = match upstream.recv(&mut buf).await {
            Ok(n) => n,
            Err(e) => {
                // ICMP errors (the server's port closed) are about this
                // client's upstream only.
                crate::say!("#{id} {peer} upstream: {}", net::describe_io(&e));
                continue;
            }
        };
        // Counted as it arrived, whatever the faults make of it.
        server.stats.bytes_out.fetch_add(n as u64, Relaxed);
        let datagram = &buf[..n];
        if let Some(faulted) = &mut faulted {
            let whose = (id, peer, &*activity);
            deal(
                &server,
                &recorder,
                &socket,
                faulted,
                whose,
                Side::Server,
                datagram,
            )
            .await;
            continue;
        }
        if let Err(e) = socket.send_to(datagram, peer).await {
            crate::say!("#{id} {peer} send error: {}", net::describe_io(&e));
        }
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
        if let Some((_, deliveries)) = &client.faulted {
            deliveries.task.abort();
        }
        crate::say!(
            "#{} {peer} idle for {}, upstream socket dropped",
            client.id,
            humantime::format_duration(idle)
        );
        false
    });
}
