//! Where observed traffic goes: the observers that deliver rendered records
//! to stdout or a capture file, and, for servers, the sinks that merge many
//! connections into one ordered stream.
//!
//! Connection tasks format records into their own reusable buffers and
//! append them to one shared buffer; a dedicated writer thread swaps that
//! buffer out and writes it in one go. The writer is woken only when the
//! shared buffer goes from empty to non-empty, so a busy server makes few
//! large writes (and few wake-ups) while a quiet one shows every record at
//! once. Past a bound, tasks wait for the writer: back-pressure instead of
//! unbounded memory when stdout is slower than the network.

use std::{
    io::Write,
    sync::{Arc, Condvar, Mutex, MutexGuard},
    thread::JoinHandle,
};

use tokio::sync::Notify;

use crate::{
    capture::CaptureLines,
    display::Records,
    record::{Clock, Event, Meta, Observer, Peer, Render, Role, Transport},
};

/// How much may wait for the writer before tasks are held back.
const PENDING_LIMIT: usize = 4 << 20;

#[derive(Default)]
struct State {
    pending: Vec<u8>,
    /// Write what is pending, then stop.
    stop: bool,
    /// The output failed (closed pipe, full disk): discard from now on, so
    /// servers never block on a dead stdout.
    broken: bool,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    /// Wakes the writer thread.
    work: Condvar,
    /// Wakes tasks waiting for room.
    room: Notify,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Formatted records queued for one output.
#[derive(Clone)]
pub struct Sink {
    shared: Arc<Shared>,
}

/// Owns the writer thread; [`Writer::finish`] waits until everything queued
/// so far has been written and flushed.
pub struct Writer {
    shared: Arc<Shared>,
    handle: JoinHandle<()>,
}

impl Sink {
    /// A sink writing to stdout.
    pub fn spawn() -> (Sink, Writer) {
        Sink::spawn_to("stdout", Box::new(std::io::stdout()))
    }

    /// A sink writing to a file (`--capture`, `--pcap`). Records are
    /// appended whole and written as soon as the writer wakes, so an
    /// interrupted run loses nothing already handed over.
    pub fn spawn_file(file: std::fs::File) -> (Sink, Writer) {
        Sink::spawn_to("file", Box::new(file))
    }

    fn spawn_to(name: &str, mut out: Box<dyn Write + Send>) -> (Sink, Writer) {
        let shared = Arc::new(Shared::default());
        let thread_shared = shared.clone();
        let handle = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                let shared = thread_shared;
                let mut batch = Vec::new();
                loop {
                    {
                        let mut state = shared.lock();
                        while state.pending.is_empty() && !state.stop {
                            state = shared.work.wait(state).unwrap_or_else(|e| e.into_inner());
                        }
                        if state.pending.is_empty() {
                            break;
                        }
                        std::mem::swap(&mut state.pending, &mut batch);
                    }
                    shared.room.notify_waiters();
                    if out.write_all(&batch).and_then(|()| out.flush()).is_err() {
                        shared.lock().broken = true;
                    }
                    batch.clear();
                }
                let _ = out.flush();
            })
            .expect("spawn the output thread");
        (
            Sink {
                shared: shared.clone(),
            },
            Writer { shared, handle },
        )
    }

    /// Append formatted records; waits while the writer is far behind.
    pub async fn write(&self, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        loop {
            let room = self.shared.room.notified();
            tokio::pin!(room);
            room.as_mut().enable();
            {
                let mut state = self.shared.lock();
                if state.broken {
                    return;
                }
                if state.pending.is_empty() || state.pending.len() + data.len() <= PENDING_LIMIT {
                    let was_empty = state.pending.is_empty();
                    state.pending.extend_from_slice(data);
                    drop(state);
                    if was_empty {
                        self.shared.work.notify_one();
                    }
                    return;
                }
            }
            room.await;
        }
    }
}

impl Writer {
    /// Wait until every record queued so far is written and flushed.
    pub fn finish(self) {
        self.shared.lock().stop = true;
        self.shared.work.notify_one();
        let _ = self.handle.join();
    }
}

/// How records on stdout are styled: colour only on a terminal, and never
/// when `NO_COLOR` is set to anything non-empty (no-color.org).
pub fn stdout_style() -> crate::display::Style {
    use std::io::IsTerminal;
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    if std::io::stdout().is_terminal() && !no_color {
        crate::display::Style::Color
    } else {
        crate::display::Style::Plain
    }
}

/// Create a capture file readable only by its owner (captures hold plant
/// traffic), truncating an old one.
pub fn create_capture(path: &std::path::Path) -> anyhow::Result<std::fs::File> {
    create_file(path, "capture")
}

/// Create a file of recorded traffic (`what`: "capture", "--pcap") with
/// mode 0600, truncating an old one; failing is bad input (exit 2).
pub fn create_file(path: &std::path::Path, what: &str) -> anyhow::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| {
            crate::exit::usage(format!(
                "cannot create {what} file '{}': {e}",
                path.display()
            ))
        })
}

/// Where an observer's bytes go once rendered.
pub trait Deliver {
    /// Take what `buf` holds (and clear it), or leave it for the owner.
    fn deliver(&mut self, buf: &mut Vec<u8>);
}

/// Straight to stdout, flushed: clients show each record as it happens.
pub struct Stdout;

impl Deliver for Stdout {
    fn deliver(&mut self, buf: &mut Vec<u8>) {
        if buf.is_empty() {
            return;
        }
        let mut stdout = std::io::stdout().lock();
        let _ = stdout.write_all(buf).and_then(|()| stdout.flush());
        buf.clear();
    }
}

/// Straight to a file, one `write` per event, so an interrupted run loses
/// nothing (client captures: few events).
impl Deliver for std::fs::File {
    fn deliver(&mut self, buf: &mut Vec<u8>) {
        if !buf.is_empty() {
            let _ = self.write_all(buf);
            buf.clear();
        }
    }
}

/// Kept for the owner, who hands the batch to a [`Sink`] once per read
/// (servers: many connections, one ordered output).
pub struct Held;

impl Deliver for Held {
    fn deliver(&mut self, _buf: &mut Vec<u8>) {}
}

/// An observer: a [`Render`] for what to write, a [`Deliver`] for where.
pub struct Observed<R, D> {
    render: R,
    buf: Vec<u8>,
    out: D,
}

impl<R: Render, D: Deliver> Observed<R, D> {
    pub fn new(render: R, out: D) -> Self {
        Observed {
            render,
            buf: Vec::new(),
            out,
        }
    }

    /// What was rendered and not yet delivered (the [`Held`] batch).
    pub fn pending(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }

    pub fn render_mut(&mut self) -> &mut R {
        &mut self.render
    }
}

impl<R: Render, D: Deliver> Observer for Observed<R, D> {
    fn start(&mut self, transport: Transport, local: Peer) {
        self.render.start(&mut self.buf, transport, local);
        self.out.deliver(&mut self.buf);
    }

    fn record(&mut self, meta: &Meta, event: Event<'_>) {
        self.render.render(&mut self.buf, meta, event);
        self.out.deliver(&mut self.buf);
    }
}

/// Stdout records of a client session (send, replay, piped repl).
pub type StdoutRecords = Observed<Records, Stdout>;

/// A client's `--capture` file.
pub type CaptureFile = Observed<CaptureLines, std::fs::File>;

/// A client's `--pcap` file.
pub type PcapFile = Observed<crate::pcapng::PcapRender, std::fs::File>;

/// Open `--pcap FILE` for a client session.
pub fn client_pcap(path: &std::path::Path) -> anyhow::Result<PcapFile> {
    Ok(Observed::new(
        crate::pcapng::PcapRender::new(Role::Client),
        create_file(path, "--pcap")?,
    ))
}

/// Open `--capture FILE` for a client session whose clock is `clock`.
pub fn client_capture(path: &std::path::Path, clock: &Clock) -> anyhow::Result<CaptureFile> {
    Ok(Observed::new(
        CaptureLines::new(Role::Client, clock),
        create_capture(path)?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer the test can read back, slow enough that records pile up.
    #[derive(Clone, Default)]
    struct Slow(Arc<Mutex<Vec<u8>>>);

    impl Write for Slow {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            std::thread::sleep(std::time::Duration::from_micros(200));
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn every_record_arrives_whole_and_in_order_per_task() {
        let out = Slow::default();
        let (sink, writer) = Sink::spawn_to("test", Box::new(out.clone()));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap();
        runtime.block_on(async {
            let tasks: Vec<_> = (0..8)
                .map(|task| {
                    let sink = sink.clone();
                    tokio::spawn(async move {
                        for n in 0..500 {
                            // Large records exercise the back-pressure bound.
                            let filler = "x".repeat(if n % 50 == 0 { 100_000 } else { 10 });
                            sink.write(format!("task {task} record {n} {filler}\n").as_bytes())
                                .await;
                        }
                    })
                })
                .collect();
            for task in tasks {
                task.await.unwrap();
            }
        });
        writer.finish();
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        for task in 0..8 {
            let numbers: Vec<usize> = text
                .lines()
                .filter(|l| l.starts_with(&format!("task {task} ")))
                .map(|l| l.split(' ').nth(3).unwrap().parse().unwrap())
                .collect();
            assert_eq!(numbers, (0..500).collect::<Vec<_>>(), "task {task}");
        }
        assert_eq!(text.lines().count(), 8 * 500);
    }

    #[test]
    fn a_broken_output_never_blocks_writers() {
        struct Broken;
        impl Write for Broken {
            fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
                Err(std::io::Error::from(std::io::ErrorKind::BrokenPipe))
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let (sink, writer) = Sink::spawn_to("test", Box::new(Broken));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(async {
            for _ in 0..200 {
                sink.write(&[b'x'; 100_000]).await;
            }
        });
        writer.finish();
    }
}
