//! Output sinks for servers: many connections, one ordered stream (stdout,
//! or a capture file).
//!
//! Connection tasks format records into their own buffers and hand them to a
//! dedicated writer thread over a bounded channel. The thread writes whatever
//! has queued up in one go and flushes only when the queue is empty, so a
//! busy server makes few large writes while a quiet one shows every record at
//! once. The bound gives back-pressure instead of unbounded memory when
//! stdout is slower than the network.

use std::{io::Write, thread::JoinHandle};

use tokio::sync::mpsc;

/// Records (already formatted) queued for stdout.
#[derive(Clone)]
pub struct Sink {
    tx: mpsc::Sender<Msg>,
}

/// Owns the writer thread; [`Writer::finish`] waits until everything queued
/// so far has been written and flushed.
pub struct Writer {
    tx: mpsc::Sender<Msg>,
    handle: JoinHandle<()>,
}

enum Msg {
    Data(Vec<u8>),
    /// Write what came before, then stop: connection tasks may still hold
    /// senders at shutdown, so "all senders dropped" cannot be the signal.
    Stop,
}

impl Sink {
    /// A sink writing to stdout.
    pub fn spawn() -> (Sink, Writer) {
        Sink::spawn_to("stdout", Box::new(std::io::stdout()))
    }

    /// A sink writing to a capture file: each batch is one `write` to the
    /// file, so an interrupted run loses nothing already written.
    pub fn spawn_file(file: std::fs::File) -> (Sink, Writer) {
        Sink::spawn_to("capture", Box::new(file))
    }

    fn spawn_to(name: &str, mut out: Box<dyn Write + Send>) -> (Sink, Writer) {
        let (tx, mut rx) = mpsc::channel::<Msg>(1024);
        let handle = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                let mut ok = true;
                while let Some(first) = rx.blocking_recv() {
                    let mut next = Some(first);
                    while let Some(msg) = next.take() {
                        match msg {
                            // stdout gone (full disk, ...): keep draining so
                            // servers never block on us, but stop writing.
                            Msg::Data(buf) => ok = ok && out.write_all(&buf).is_ok(),
                            Msg::Stop => {
                                let _ = out.flush();
                                return;
                            }
                        }
                        next = rx.try_recv().ok();
                    }
                    ok = ok && out.flush().is_ok();
                }
            })
            .expect("spawn the output thread");
        (Sink { tx: tx.clone() }, Writer { tx, handle })
    }

    /// Queue a formatted buffer; waits when stdout is behind.
    pub async fn write(&self, buf: Vec<u8>) {
        if !buf.is_empty() {
            let _ = self.tx.send(Msg::Data(buf)).await;
        }
    }
}

impl Writer {
    /// Wait until every record queued so far is written and flushed.
    pub fn finish(self) {
        if self.tx.blocking_send(Msg::Stop).is_ok() {
            let _ = self.handle.join();
        }
    }
}

/// Create a capture file readable only by its owner (captures hold plant
/// traffic), truncating an old one.
pub fn create_capture(path: &std::path::Path) -> anyhow::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| {
            crate::exit::usage(format!(
                "cannot create capture file '{}': {e}",
                path.display()
            ))
        })
}

/// A capture file for the clients (`send`, `repl`): few events, written
/// synchronously, one `write` per event so an interrupted run loses nothing.
pub struct CaptureLog {
    file: std::sync::Mutex<(std::fs::File, bool)>,
    started: std::time::Instant,
    started_wall: std::time::SystemTime,
}

impl CaptureLog {
    pub fn create(path: &std::path::Path) -> anyhow::Result<std::sync::Arc<CaptureLog>> {
        Ok(std::sync::Arc::new(CaptureLog {
            file: std::sync::Mutex::new((create_capture(path)?, false)),
            started: std::time::Instant::now(),
            started_wall: std::time::SystemTime::now(),
        }))
    }

    fn append(&self, header: impl FnOnce(std::time::SystemTime) -> Option<Vec<u8>>, line: &[u8]) {
        let mut guard = self.file.lock().unwrap_or_else(|e| e.into_inner());
        let (file, header_written) = &mut *guard;
        if !*header_written {
            if let Some(bytes) = header(self.started_wall) {
                let _ = file.write_all(&bytes);
                *header_written = true;
            }
        }
        if !line.is_empty() {
            let _ = file.write_all(line);
        }
    }

    /// Stamps for an event that happened `age` ago.
    fn meta(
        &self,
        conn: u64,
        peer: std::net::SocketAddr,
        age: std::time::Duration,
    ) -> crate::display::Meta {
        crate::display::Meta {
            elapsed: self.started.elapsed().saturating_sub(age),
            wall: std::time::SystemTime::now() - age,
            conn,
            peer,
        }
    }

    /// Write the header (once, with the first connection's local address).
    pub fn start(&self, transport: crate::capture::Transport, local: std::net::SocketAddr) {
        self.append(
            |started| {
                let mut out = Vec::new();
                crate::capture::write_header(
                    &mut out,
                    &crate::capture::Header {
                        started,
                        transport,
                        local,
                        side: crate::display::Side::Client,
                    },
                );
                Some(out)
            },
            &[],
        );
    }

    pub fn event(&self, conn: u64, peer: std::net::SocketAddr, event: crate::display::Event<'_>) {
        let mut line = Vec::with_capacity(96);
        crate::display::write_event_json(
            &mut line,
            &self.meta(conn, peer, std::time::Duration::ZERO),
            event,
        );
        self.append(|_| None, &line);
    }

    /// Bytes we sent (`from` client) or received (`from` server), `age` ago.
    pub fn data(
        &self,
        conn: u64,
        peer: std::net::SocketAddr,
        dir: crate::display::Direction,
        data: &[u8],
        age: std::time::Duration,
    ) {
        use crate::display::{Direction, Format, Side};
        let from = match dir {
            Direction::Sent => Side::Client,
            Direction::Recv => Side::Server,
        };
        let mut line = Vec::with_capacity(64 + data.len() * 3);
        crate::display::write_data(
            &mut line,
            Format::Json,
            &self.meta(conn, peer, age),
            from,
            dir,
            data,
        );
        self.append(|_| None, &line);
    }
}
