//! Where observed traffic goes: the observers that deliver rendered records
//! to stdout or a capture file, and, for servers, the sinks that merge many
//! connections into one ordered stream.
//!
//! Connection tasks format records into their own reusable buffers and
//! append them to one shared buffer; a dedicated writer thread swaps that
//! buffer out and writes it in one go. The writer is woken only when it is
//! parked (nothing was pending), so a quiet server shows every record at
//! once. After each write it lingers ([`LINGER`]) before taking the next
//! batch, so a busy server makes about a thousand writes and wake-ups a
//! second, not one per record. Past a bound, tasks wait for the writer:
//! back-pressure instead of unbounded memory when stdout is slower than the
//! network.

use std::{
    io::Write,
    sync::{Arc, Condvar, Mutex, MutexGuard},
    thread::JoinHandle,
};

use tokio::sync::Notify;

use crate::{
    capture::CaptureLines,
    display::Records,
    pcapng::PcapRender,
    record::{Clock, Event, Meta, Observer, OutputError, Peer, Recorder, Render, Role, Transport},
};

/// How much may wait for the writer before tasks are held back.
const PENDING_LIMIT: usize = 4 << 20;

/// The largest batch the writer keeps between writes.
const BATCH_KEPT: usize = 256 << 10;

/// How long the writer waits after a write before it takes the next batch.
/// Without it, on a busy server the writer drained each record as it came:
/// `listen -q --pcap` made 0.76 writes and 0.77 extra context switches per
/// echoed message (`strace -f -c`, `perf stat`), and ran at 0.74x the
/// rate of `listen -q`. A record arriving during the linger waits at most
/// this long; one arriving while the writer is parked goes out at once.
pub const LINGER: std::time::Duration = std::time::Duration::from_millis(1);

#[derive(Default)]
struct State {
    pending: Vec<u8>,
    /// Write what is pending, then stop.
    stop: bool,
    /// The writer waits for `work`: the next append must wake it. While it
    /// writes or lingers, appends only queue (no wake-up, no system call).
    parked: bool,
    /// The output failed (closed pipe, full disk): discard from now on, so
    /// servers never block on a dead output, and say so once.
    failure: Option<SinkFailure>,
}

/// An output a server stopped writing: what failed, and when (seconds
/// since the server started), so the summary can say from where the file
/// is incomplete.
#[derive(Debug, Clone)]
pub struct SinkFailure {
    pub error: OutputError,
    pub after: std::time::Duration,
}

impl std::fmt::Display for SinkFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} incomplete from t={:.3}s ({})",
            self.error.output,
            self.after.as_secs_f64(),
            self.error.reason
        )
    }
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
    pub fn spawn(started: std::time::Instant) -> (Sink, Writer) {
        Sink::spawn_to("stdout".into(), started, Box::new(std::io::stdout()))
    }

    /// A sink writing to a file (`--capture`, `--pcap`), named as the user
    /// named it (`capture FILE`) for errors. Records are appended whole and
    /// written as soon as the writer wakes, so an interrupted run loses
    /// nothing already handed over.
    pub fn spawn_file(
        file: std::fs::File,
        name: String,
        started: std::time::Instant,
    ) -> (Sink, Writer) {
        Sink::spawn_to(name, started, Box::new(file))
    }

    fn spawn_to(
        name: String,
        started: std::time::Instant,
        mut out: Box<dyn Write + Send>,
    ) -> (Sink, Writer) {
        let shared = Arc::new(Shared::default());
        let thread_shared = shared.clone();
        let handle = std::thread::Builder::new()
            .name("output".into())
            .spawn(move || {
                let shared = thread_shared;
                let mut batch = Vec::new();
                // Say once that the output failed, stop writing it, and keep
                // the server serving (the summary repeats it).
                let fail = |e: std::io::Error| {
                    let mut state = shared.lock();
                    if state.failure.is_none() {
                        let failure = SinkFailure {
                            error: OutputError {
                                output: name.clone(),
                                reason: describe_write_error(&e),
                            },
                            after: started.elapsed(),
                        };
                        crate::say!(
                            "p1ge0n: {}; not writing it any more (it is incomplete from t={:.3}s)",
                            failure.error,
                            failure.after.as_secs_f64()
                        );
                        state.failure = Some(failure);
                        state.pending = Vec::new();
                        // Tasks held back by the bound would otherwise wait
                        // for a batch the writer never takes again.
                        shared.room.notify_waiters();
                    }
                };
                loop {
                    {
                        let mut state = shared.lock();
                        while state.pending.is_empty() && !state.stop {
                            state.parked = true;
                            state = shared.work.wait(state).unwrap_or_else(|e| e.into_inner());
                        }
                        state.parked = false;
                        if state.pending.is_empty() {
                            break;
                        }
                        std::mem::swap(&mut state.pending, &mut batch);
                    }
                    shared.room.notify_waiters();
                    if let Err(e) = out.write_all(&batch).and_then(|()| out.flush()) {
                        fail(e);
                    }
                    batch.clear();
                    // A burst's batch (up to PENDING_LIMIT) goes back once
                    // written; a quiet server's stays small.
                    if batch.capacity() > BATCH_KEPT {
                        batch = Vec::new();
                    }
                    if !shared.lock().stop {
                        std::thread::sleep(LINGER);
                    }
                }
                if let Err(e) = out.flush() {
                    fail(e);
                }
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
                if state.failure.is_some() {
                    return;
                }
                if state.pending.is_empty() || state.pending.len() + data.len() <= PENDING_LIMIT {
                    state.pending.extend_from_slice(data);
                    let parked = std::mem::take(&mut state.parked);
                    drop(state);
                    if parked {
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
    /// Wait until every record queued so far is written and flushed; the
    /// failure, if writing stopped early.
    pub fn finish(self) -> Option<SinkFailure> {
        self.shared.lock().stop = true;
        self.shared.work.notify_one();
        let _ = self.handle.join();
        self.shared.lock().failure.clone()
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
    fn deliver(&mut self, buf: &mut Vec<u8>) -> std::io::Result<()>;

    /// The output as the user named it, for errors: `stdout`,
    /// `capture FILE`, `--pcap FILE`.
    fn name(&self) -> &str;
}

/// Straight to stdout, flushed: clients show each record as it happens.
pub struct Stdout;

impl Deliver for Stdout {
    fn deliver(&mut self, buf: &mut Vec<u8>) -> std::io::Result<()> {
        if buf.is_empty() {
            return Ok(());
        }
        let mut stdout = std::io::stdout().lock();
        let written = stdout.write_all(buf).and_then(|()| stdout.flush());
        buf.clear();
        written
    }

    fn name(&self) -> &str {
        "stdout"
    }
}

/// Straight to a file, one `write` per event, so an interrupted run loses
/// nothing (client captures: few events).
pub struct FileOut {
    file: std::fs::File,
    name: String,
}

impl Deliver for FileOut {
    fn deliver(&mut self, buf: &mut Vec<u8>) -> std::io::Result<()> {
        if buf.is_empty() {
            return Ok(());
        }
        let written = self.file.write_all(buf);
        buf.clear();
        written
    }

    fn name(&self) -> &str {
        &self.name
    }
}

/// Kept for the owner, who hands the batch to a [`Sink`] once per read
/// (servers: many connections, one ordered output; the sink reports its
/// own write errors).
pub struct Held;

impl Deliver for Held {
    fn deliver(&mut self, _buf: &mut Vec<u8>) -> std::io::Result<()> {
        Ok(())
    }

    fn name(&self) -> &str {
        "held records"
    }
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

    fn deliver(&mut self) -> Result<(), OutputError> {
        self.out.deliver(&mut self.buf).map_err(|e| OutputError {
            output: self.out.name().to_string(),
            reason: describe_write_error(&e),
        })
    }
}

/// A write error in words: the OS's message without Rust's "(os error N)".
fn describe_write_error(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

impl<R: Render, D: Deliver> Observer for Observed<R, D> {
    fn start(&mut self, transport: Transport, local: Peer) -> Result<(), OutputError> {
        self.render.start(&mut self.buf, transport, local);
        self.deliver()
    }

    fn record(&mut self, meta: &Meta, event: Event<'_>) -> Result<(), OutputError> {
        self.render.render(&mut self.buf, meta, event);
        self.deliver()
    }
}

/// Every output a session records into, one named field each (not nested
/// tees): stdout records, the `--capture` file, the `--pcap` file. `D` is
/// where rendered bytes go: straight out for a client ([`Direct`]), held
/// for the server's sinks ([`Held`]). A new output is one more field here
/// and one line in each method.
pub struct Outputs<D> {
    pub records: Option<Observed<Records, D>>,
    pub capture: Option<Observed<CaptureLines, D>>,
    pub pcap: Option<Observed<PcapRender, D>>,
}

impl<D: Deliver> Observer for Outputs<D> {
    fn start(&mut self, transport: Transport, local: Peer) -> Result<(), OutputError> {
        self.records.start(transport, local)?;
        self.capture.start(transport, local)?;
        self.pcap.start(transport, local)
    }

    fn record(&mut self, meta: &Meta, event: Event<'_>) -> Result<(), OutputError> {
        self.records.record(meta, event)?;
        self.capture.record(meta, event)?;
        self.pcap.record(meta, event)
    }
}

/// A server connection's outputs: rendered and held, then handed to the
/// server's sinks once per read (`cmd::server::Server::deliver`).
pub type HeldOutputs = Outputs<Held>;

/// A server connection's recorder.
pub type HeldRecorder = Recorder<HeldOutputs>;

impl Recorder<HeldOutputs> {
    /// Record an event now. Held outputs cannot fail here: the server's
    /// sinks write them and report their own errors.
    pub fn hold(&mut self, event: Event<'_>) {
        let _ = self.event(event);
    }

    /// Record an event with stamps taken earlier (one reading for all the
    /// messages of a read).
    pub fn hold_with(&mut self, meta: &Meta, event: Event<'_>) {
        let _ = self.outputs.record(meta, event);
    }
}

/// A client's outputs go straight out: stdout, or their own file; or, for
/// the repl's records, to the owner, who prints them above the prompt.
pub enum Direct {
    Stdout(Stdout),
    File(FileOut),
    Held(Held),
}

impl Deliver for Direct {
    fn deliver(&mut self, buf: &mut Vec<u8>) -> std::io::Result<()> {
        match self {
            Direct::Stdout(out) => out.deliver(buf),
            Direct::File(out) => out.deliver(buf),
            Direct::Held(out) => out.deliver(buf),
        }
    }

    fn name(&self) -> &str {
        match self {
            Direct::Stdout(out) => out.name(),
            Direct::File(out) => out.name(),
            Direct::Held(out) => out.name(),
        }
    }
}

/// A client session's outputs (send, repl, replay).
pub type ClientOutputs = Outputs<Direct>;

/// A client session's recorder.
pub type ClientRecorder = Recorder<ClientOutputs>;

impl Outputs<Direct> {
    /// Stdout records (none when `records` is `None`: `-q`), and the
    /// `--capture` and `--pcap` files when asked, created now (mode 0600;
    /// failing is bad input, exit 2, before anything is sent).
    pub fn client(
        records: Option<Records>,
        capture: Option<&std::path::Path>,
        pcap: Option<&std::path::Path>,
        clock: &Clock,
    ) -> anyhow::Result<ClientOutputs> {
        Ok(Outputs {
            records: records.map(|r| Observed::new(r, Direct::Stdout(Stdout))),
            capture: capture
                .map(|path| client_capture(path, clock))
                .transpose()?,
            pcap: pcap.map(client_pcap).transpose()?,
        })
    }
}

impl Recorder<ClientOutputs> {
    /// A client session's recorder (send, replay): its clock starts now,
    /// its outputs are opened ([`Outputs::client`]), and its connection
    /// number and peer are set as connections come.
    /// `peer` is who records name until a connection says who answered
    /// (a refused connection's error names it).
    pub fn client(
        records: Option<Records>,
        capture: Option<&std::path::Path>,
        pcap: Option<&std::path::Path>,
        peer: Option<Peer>,
    ) -> anyhow::Result<ClientRecorder> {
        let clock = Clock::start();
        let outputs = Outputs::client(records, capture, pcap, &clock)?;
        let peer = peer.unwrap_or(Peer::Ip(([0, 0, 0, 0], 0).into()));
        Ok(Recorder::new(clock, 0, peer, outputs))
    }

    /// A session ends with `err`: record it as the connection's `error`
    /// event (JSON records and captures say why, even for a refused
    /// connection or a timeout), then hand it back.
    pub fn failed(&mut self, err: anyhow::Error) -> anyhow::Error {
        if err.downcast_ref::<OutputError>().is_none() {
            let _ = self.error(&format!("{err:#}"));
        }
        err
    }
}

/// Open `--pcap FILE` for a client session.
pub fn client_pcap(path: &std::path::Path) -> anyhow::Result<Observed<PcapRender, Direct>> {
    Ok(Observed::new(
        PcapRender::new(Role::Client),
        Direct::File(FileOut {
            file: create_file(path, "--pcap")?,
            name: format!("--pcap {}", path.display()),
        }),
    ))
}

/// Open `--capture FILE` for a client session whose clock is `clock`.
pub fn client_capture(
    path: &std::path::Path,
    clock: &Clock,
) -> anyhow::Result<Observed<CaptureLines, Direct>> {
    Ok(Observed::new(
        CaptureLines::new(Role::Client, clock),
        Direct::File(FileOut {
            file: create_capture(path)?,
            name: format!("capture {}", path.display()),
        }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer the test can read back: how many writes it was given and
    /// their bytes. `slow` makes each write take 200 us, so that records
    /// pile up.
    #[derive(Clone, Default)]
    struct Recorded {
        slow: bool,
        seen: Arc<Mutex<(usize, Vec<u8>)>>,
    }

    impl Write for Recorded {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if self.slow {
                std::thread::sleep(std::time::Duration::from_micros(200));
            }
            let mut seen = self.seen.lock().unwrap();
            seen.0 += 1;
            seen.1.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Recorded {
        /// A sink writing to this.
        fn sink(&self) -> (Sink, Writer) {
            Sink::spawn_to(
                "test".into(),
                std::time::Instant::now(),
                Box::new(self.clone()),
            )
        }

        fn writes(&self) -> usize {
            self.seen.lock().unwrap().0
        }

        fn bytes(&self) -> Vec<u8> {
            self.seen.lock().unwrap().1.clone()
        }
    }

    #[test]
    fn every_record_arrives_whole_and_in_order_per_task() {
        let out = Recorded {
            slow: true,
            ..Recorded::default()
        };
        let (sink, writer) = out.sink();
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
        let text = String::from_utf8(out.bytes()).unwrap();
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

    /// An output whose every write fails (a closed pipe), after `delay`.
    struct Broken {
        delay: std::time::Duration,
    }

    impl Write for Broken {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            std::thread::sleep(self.delay);
            Err(std::io::Error::from(std::io::ErrorKind::BrokenPipe))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Broken {
        /// A sink writing to this, named as a capture file.
        fn sink(delay: std::time::Duration) -> (Sink, Writer) {
            Sink::spawn_to(
                "capture c.jsonl".into(),
                std::time::Instant::now(),
                Box::new(Broken { delay }),
            )
        }
    }

    #[test]
    fn a_broken_output_never_blocks_writers() {
        let (sink, writer) = Broken::sink(std::time::Duration::ZERO);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(async {
            for _ in 0..200 {
                sink.write(&[b'x'; 100_000]).await;
            }
        });
        let failure = writer.finish().expect("the failure is reported");
        assert_eq!(failure.error.output, "capture c.jsonl");
        assert!(
            failure
                .to_string()
                .starts_with("capture c.jsonl incomplete from t="),
            "{failure}"
        );
    }

    /// Records arriving every 100 us or so (a busy server) are written in
    /// batches, about one a `LINGER`, not one each: before the linger the
    /// writer drained each record as it came, one write per record.
    #[test]
    fn a_steady_stream_of_records_is_written_in_batches() {
        let out = Recorded::default();
        let (sink, writer) = out.sink();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let started = std::time::Instant::now();
        let records = 500;
        runtime.block_on(async {
            for i in 0..records {
                sink.write(format!("{i}\n").as_bytes()).await;
                std::thread::sleep(std::time::Duration::from_micros(100));
            }
        });
        let elapsed = started.elapsed();
        assert!(writer.finish().is_none());
        let (writes, bytes) = (out.writes(), out.bytes());
        let expected: String = (0..records).map(|i| format!("{i}\n")).collect();
        assert_eq!(String::from_utf8(bytes).unwrap(), expected);
        // One batch per linger, and one for what came during the last.
        let bound = (elapsed.as_secs_f64() / LINGER.as_secs_f64()).ceil() as usize + 2;
        assert!(
            writes <= bound,
            "{writes} writes for {records} records over {elapsed:?} (at most {bound})"
        );
    }

    /// A record to a parked writer wakes it: appends skip the wake-up only
    /// while the writer is busy or lingering.
    #[test]
    fn a_record_to_a_parked_writer_wakes_it() {
        let out = Recorded::default();
        let (sink, writer) = out.sink();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        // Let the writer park.
        std::thread::sleep(LINGER * 5);
        let started = std::time::Instant::now();
        runtime.block_on(sink.write(b"one\n"));
        let deadline = started + std::time::Duration::from_secs(5);
        while out.writes() == 0 && std::time::Instant::now() < deadline {
            std::thread::yield_now();
        }
        let waited = started.elapsed();
        assert_eq!(out.bytes(), b"one\n");
        assert!(waited < std::time::Duration::from_secs(1), "{waited:?}");
        assert!(writer.finish().is_none());
    }

    /// A task held back by the bound while the write in progress fails is
    /// let go: it used to wait for room from a writer that would never take
    /// another batch, holding its connection's recorder until shutdown.
    #[test]
    fn a_task_held_back_when_the_output_fails_is_let_go() {
        let (sink, writer) = Broken::sink(std::time::Duration::from_millis(100));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let done = runtime.block_on(async {
            // 10 MB: more than twice the bound, so the task is held back
            // while the writer is inside its (failing) write.
            let all = async {
                for _ in 0..100 {
                    sink.write(&[b'x'; 100_000]).await;
                }
            };
            tokio::time::timeout(std::time::Duration::from_secs(5), all).await
        });
        assert!(done.is_ok(), "the task still waits for room after 5 s");
        assert!(writer.finish().is_some());
    }
}
