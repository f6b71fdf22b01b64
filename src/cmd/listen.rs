//! `p1ge0n listen`: the echo server PLCs and robots connect to.
//!
//! A server subcommand (`server.rs` accepts, limits, counts and stops); its
//! per-connection tasks are a thin shell around the core: bytes go into a `frame::Decoder`, each frame is counted, recorded
//! through the shared observers (stdout records, `--capture`; batched per
//! read into `output::Sink`s) and answered (echo, `--reply` or nothing). Everything a client
//! can do wrong (garbage, oversized frames, resets, stalling) ends only that
//! client's task; the server itself stops only on `--once`, `--count` or a
//! signal.

use std::{
    net::SocketAddr,
    sync::{atomic::Ordering::Relaxed, Arc},
    time::Duration,
};

use anyhow::Result;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpStream, UdpSocket},
};

use super::{
    inputs,
    server::{self, plural, ConnObserver, Handler, Options, Server},
};
use crate::{
    cli::ListenArgs,
    exit::ExitCode,
    frame::{Decoder, FrameSpec},
    net,
    record::{Event, Meta, Observer, Role, Side},
};

/// What the server answers to each message.
#[derive(Debug, Clone)]
enum Answer {
    Echo,
    Reply(Vec<u8>),
    Nothing,
}

impl Answer {
    /// What to send back for one message.
    fn to<'a>(&'a self, message: &'a [u8]) -> &'a [u8] {
        match self {
            Answer::Echo => message,
            Answer::Reply(reply) => reply,
            Answer::Nothing => &[],
        }
    }
}

/// listen's own configuration: how it answers, and how it frames.
struct Listen {
    answer: Answer,
    frame: FrameSpec,
    max_frame: usize,
}

pub fn run(args: ListenArgs) -> Result<ExitCode> {
    inputs::check_framing(&args.frame)?;
    let answer = match (&args.reply, args.no_echo) {
        (Some(text), _) => Answer::Reply(inputs::parse_payload_os(
            "--reply",
            text,
            inputs::mode(args.hex),
        )?),
        (None, true) => Answer::Nothing,
        (None, false) => Answer::Echo,
    };
    let listen = Listen {
        answer,
        frame: args.frame.frame.unwrap_or_default(),
        max_frame: args.frame.max_frame.0,
    };
    let options = Options::new(
        args.addr,
        args.udp,
        Role::Server,
        args.serve,
        args.output,
        args.capture.capture,
    );
    server::run(options, listen)
}

impl Handler for Listen {
    async fn tcp(server: Arc<Server<Self>>, stream: TcpStream, peer: SocketAddr, id: u64) {
        serve_connection(&server, stream, peer, id).await;
    }

    async fn udp(server: Arc<Server<Self>>, socket: UdpSocket) -> Result<ExitCode> {
        udp_loop(&server, socket).await
    }
}

/// One message and our answer to it; TCP and UDP record alike.
fn record(observer: &mut ConnObserver, meta: &Meta, message: &[u8], answered: &[u8]) {
    observer.record(
        meta,
        Event::Data {
            from: Side::Client,
            bytes: message,
        },
    );
    if !answered.is_empty() {
        observer.record(
            meta,
            Event::Data {
                from: Side::Server,
                bytes: answered,
            },
        );
    }
}

/// How a connection ended, for the log line.
enum Ending {
    PeerClosed,
    Idle(Duration),
    Error(String),
    CountReached,
}

/// One connection's state between reads.
struct ConnTask {
    id: u64,
    peer: SocketAddr,
    decoder: Decoder,
    observer: ConnObserver,
    /// Answers to several messages of one read, gathered into one write.
    answer: Vec<u8>,
    messages: u64,
    bytes_in: u64,
    bytes_out: u64,
}

/// What the frames of one read came to.
struct Answered {
    /// The common case, one echoed message per read: written straight from
    /// the receive buffer (no copy). Otherwise the answer is in `answer`.
    echo_only: Option<bytes::Bytes>,
    count_reached: bool,
    frame_error: Option<String>,
}

impl ConnTask {
    /// Frame, count, record and answer what the last read brought; at end
    /// of stream an incomplete frame is still what the client sent, so it
    /// is answered too.
    fn answer_frames(&mut self, server: &Server<Listen>, at_eof: bool) -> Answered {
        let config = &server.handler;
        // Clock reads only when something will show them.
        let meta = if server.observes() {
            server.meta(self.id, self.peer)
        } else {
            Meta::unstamped(self.id, self.peer)
        };
        let mut done = Answered {
            echo_only: None,
            count_reached: false,
            frame_error: None,
        };
        let mut uncounted = 0u64;
        loop {
            let frame = match self.decoder.next_frame() {
                Ok(Some(frame)) => frame,
                Ok(None) if at_eof => match self.decoder.finish() {
                    Some(rest) => rest,
                    None => break,
                },
                Ok(None) => break,
                Err(e) => {
                    done.frame_error = Some(e.to_string());
                    break;
                }
            };
            // Without --count, messages are tallied once per read rather than
            // with a shared atomic per message.
            let last = if server.options.count.is_some() {
                let (admitted, last) = server.admit_message();
                if !admitted {
                    done.count_reached = true;
                    break;
                }
                last
            } else {
                uncounted += 1;
                false
            };
            self.messages += 1;
            let answered = config.answer.to(&frame);
            record(&mut self.observer, &meta, &frame, answered);
            if matches!(config.answer, Answer::Echo)
                && self.answer.is_empty()
                && done.echo_only.is_none()
            {
                done.echo_only = Some(frame);
            } else {
                if let Some(first) = done.echo_only.take() {
                    self.answer.extend_from_slice(&first);
                }
                self.answer.extend_from_slice(answered);
            }
            if last {
                done.count_reached = true;
                break;
            }
        }
        if uncounted > 0 {
            server.stats.messages.fetch_add(uncounted, Relaxed);
        }
        done
    }

    /// The connection's last log line.
    fn log_ending(&self, ending: &Ending) {
        let (id, peer) = (self.id, self.peer);
        if self.decoder.skipped() > 0 {
            eprintln!(
                "#{id} {peer} skipped {} bytes outside frames",
                self.decoder.skipped()
            );
        }
        let totals = format!(
            "{}, {} in, {} out",
            plural(self.messages, "message"),
            plural(self.bytes_in, "byte"),
            plural(self.bytes_out, "byte")
        );
        match ending {
            Ending::PeerClosed => eprintln!("#{id} {peer} closed by peer ({totals})"),
            Ending::Idle(limit) => eprintln!(
                "#{id} {peer} idle for {}, closing ({totals})",
                humantime::format_duration(*limit)
            ),
            Ending::Error(reason) => {
                eprintln!("#{id} {peer} error: {reason}; connection closed ({totals})")
            }
            Ending::CountReached => eprintln!("#{id} {peer} --count reached, closing ({totals})"),
        }
    }
}

async fn serve_connection(server: &Server<Listen>, stream: TcpStream, peer: SocketAddr, id: u64) {
    let _ = stream.set_nodelay(true);
    eprintln!("#{id} {peer} connected");
    let config = &server.handler;
    let mut conn = ConnTask {
        id,
        peer,
        decoder: Decoder::new(config.frame.clone(), config.max_frame),
        observer: server.observer(),
        answer: Vec::new(),
        messages: 0,
        bytes_in: 0,
        bytes_out: 0,
    };
    server
        .event(&mut conn.observer, &server.meta(id, peer), Event::Open)
        .await;
    let (mut reader, mut writer) = stream.into_split();
    let ending = loop {
        let read = reader.read_buf(conn.decoder.buffer_mut());
        let read = match server.options.idle_timeout {
            Some(limit) => match tokio::time::timeout(limit, read).await {
                Ok(result) => result,
                Err(_) => break Ending::Idle(limit),
            },
            None => read.await,
        };
        let at_eof = match read {
            Ok(0) => true,
            Ok(n) => {
                conn.bytes_in += n as u64;
                server.stats.bytes_in.fetch_add(n as u64, Relaxed);
                false
            }
            Err(e) => break Ending::Error(net::describe_io(&e)),
        };
        let done = conn.answer_frames(server, at_eof);
        server.deliver(&mut conn.observer).await;
        let out: &[u8] = match &done.echo_only {
            Some(frame) => frame,
            None => &conn.answer,
        };
        if !out.is_empty() {
            if let Err(e) = writer.write_all(out).await {
                break Ending::Error(net::describe_io(&e));
            }
            conn.bytes_out += out.len() as u64;
            server.stats.bytes_out.fetch_add(out.len() as u64, Relaxed);
        }
        conn.answer.clear();
        if let Some(reason) = done.frame_error {
            break Ending::Error(reason);
        }
        if done.count_reached {
            break Ending::CountReached;
        }
        if at_eof {
            // Half-close handled: everything received has been answered;
            // now close our side too.
            let _ = writer.shutdown().await;
            break Ending::PeerClosed;
        }
    };
    conn.log_ending(&ending);
    let event = match &ending {
        Ending::Error(reason) => Event::Error(reason),
        _ => Event::Close,
    };
    server
        .event(&mut conn.observer, &server.meta(id, peer), event)
        .await;
    if matches!(ending, Ending::CountReached) {
        let _ = writer.shutdown().await;
        server.finish(ExitCode::Success);
    }
}

/// UDP: each datagram is one message, answered to its sender. Peers get a
/// connection number the first time they are seen, so records read the same
/// as for TCP.
async fn udp_loop(server: &Server<Listen>, socket: UdpSocket) -> Result<ExitCode> {
    const MAX_PEERS: usize = 65_536;
    let config = &server.handler;
    let mut peers: std::collections::HashMap<SocketAddr, u64> = Default::default();
    let mut next_id = 0u64;
    let mut buf = vec![0u8; 65_536];
    let mut observer = server.observer();
    loop {
        let (n, peer) = server.recv_admitted(&socket, &mut buf).await;
        if peers.len() >= MAX_PEERS && !peers.contains_key(&peer) {
            peers.clear();
        }
        let id = *peers.entry(peer).or_insert_with(|| {
            next_id += 1;
            server.stats.connections.fetch_add(1, Relaxed);
            eprintln!("#{next_id} {peer} first datagram");
            next_id
        });
        let data = &buf[..n];
        server.stats.bytes_in.fetch_add(n as u64, Relaxed);
        let (admitted, last) = server.admit_message();
        if !admitted {
            return Ok(ExitCode::Success);
        }
        let meta = server.meta(id, peer);
        let answer = config.answer.to(data);
        record(&mut observer, &meta, data, answer);
        server.deliver(&mut observer).await;
        if !matches!(config.answer, Answer::Nothing) {
            match socket.send_to(answer, peer).await {
                Ok(sent) => {
                    server.stats.bytes_out.fetch_add(sent as u64, Relaxed);
                }
                Err(e) => eprintln!("#{id} {peer} send error: {}", net::describe_io(&e)),
            }
        }
        if last {
            return Ok(ExitCode::Success);
        }
    }
}
