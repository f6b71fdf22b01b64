//! The stdout sink for servers: many connections, one ordered stream.
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
    pub fn spawn() -> (Sink, Writer) {
        let (tx, mut rx) = mpsc::channel::<Msg>(1024);
        let handle = std::thread::Builder::new()
            .name("stdout".into())
            .spawn(move || {
                let stdout = std::io::stdout();
                let mut out = stdout.lock();
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
            .expect("spawn the stdout thread");
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
