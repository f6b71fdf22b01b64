//! Serial lines: `serial:PATH[,BAUD[,FORMAT][,rs485]]`, a port the kernel
//! calls a tty (`/dev/ttyUSB0`, `/dev/ttyS1`, a pty), as one more stream
//! transport. A client (`send`, `repl`, `replay`, `proxy`'s upstream) opens
//! the port as it would connect; a server (`listen`, `replay --serve`,
//! `proxy`'s listening side) has one "connection", the line, and opens it
//! again when it comes back after failing (a USB adapter pulled out).
//!
//! It exists so that a serial port is an address like any other: the
//! parser here is pure and unit-tested; opening applies what a line needs
//! and reports what goes wrong in words (a missing device, the `dialout`
//! group, a busy port, a baud rate the port refuses).
//!
//! Opening: exclusively (`TIOCEXCL`, so a second p1ge0n or a getty cannot
//! share the line; `flock`, which root does not bypass, for a second
//! p1ge0n run as root; and a process-wide set of open paths, because one
//! process may hold both), raw (no echo, no line discipline, `CLOCAL` so that
//! modem lines do not matter), at the asked speed and format, then stale
//! input flushed. The settings themselves are the `serial2` crate's (it
//! sets any baud rate through `termios2` and knows the kernel's RS-485
//! mode); the descriptor is driven here through tokio's `AsyncFd`, because
//! `serial2-tokio` does not give the descriptor out for `TIOCEXCL`.

use std::{
    collections::HashSet,
    fmt, io,
    os::fd::AsRawFd,
    pin::Pin,
    sync::{Arc, Mutex},
    task::{ready, Context, Poll},
};

use anyhow::Result;
use serial2::{CharSize, Parity, StopBits};
use tokio::io::{unix::AsyncFd, AsyncRead, AsyncWrite, ReadBuf};

use crate::exit;

/// A serial port and how to speak on it: `serial:PATH[,BAUD[,FORMAT]]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SerialAddr {
    /// The device, kept for the program's life (see [`crate::record::Peer`]).
    pub path: &'static str,
    pub baud: u32,
    /// Data bits per character: 5 to 8.
    pub data_bits: u8,
    /// `N`, `E` or `O`.
    pub parity: char,
    /// 1 or 2.
    pub stop_bits: u8,
    /// The kernel's RS-485 mode (RTS drives the transmitter).
    pub rs485: bool,
}

/// The defaults of an address that gives only the path.
pub const DEFAULT_BAUD: u32 = 9600;

impl SerialAddr {
    /// `text` without its `serial:` prefix; columns in errors count from
    /// the start of the whole address.
    pub fn parse(text: &str) -> Result<SerialAddr, String> {
        const PREFIX: usize = "serial:".len();
        let mut addr = SerialAddr {
            path: "",
            baud: DEFAULT_BAUD,
            data_bits: 8,
            parity: 'N',
            stop_bits: 1,
            rs485: false,
        };
        let mut column = PREFIX + 1;
        let mut parts = text.split(',');
        let path = parts.next().unwrap_or("");
        if path.is_empty() {
            return Err(format!(
                "at column {column}: missing device after 'serial:' (e.g. serial:/dev/ttyUSB0)"
            ));
        }
        if path.contains('\0') {
            return Err(format!(
                "at column {column}: a device path cannot contain NUL"
            ));
        }
        column += path.chars().count() + 1;
        let mut saw = (false, false);
        for (i, part) in parts.enumerate() {
            let at = column;
            column += part.chars().count() + 1;
            if part.eq_ignore_ascii_case("rs485") {
                addr.rs485 = true;
                continue;
            }
            if part.is_empty() {
                return Err(format!(
                    "at column {at}: empty setting (expected serial:PATH[,BAUD[,FORMAT]])"
                ));
            }
            if part.bytes().all(|b| b.is_ascii_digit()) {
                if saw.0 || i > 0 {
                    return Err(format!(
                        "at column {at}: the baud rate comes first, right after the path"
                    ));
                }
                saw.0 = true;
                addr.baud = match part.parse::<u32>() {
                    Ok(b) if (50..=4_000_000).contains(&b) => b,
                    _ => {
                        return Err(format!(
                            "at column {at}: baud rate {part} is out of range (50-4000000)"
                        ))
                    }
                };
                continue;
            }
            if saw.1 {
                return Err(format!(
                    "at column {at}: '{part}' is not a setting (expected serial:PATH[,BAUD[,FORMAT]][,rs485])"
                ));
            }
            saw.1 = true;
            let format = parse_format(part)
                .map_err(|(offset, why)| format!("at column {}: {why}", at + offset))?;
            (addr.data_bits, addr.parity, addr.stop_bits) = format;
        }
        addr.path = crate::record::intern_path(path);
        Ok(addr)
    }

    /// `8N1`.
    pub fn format(&self) -> String {
        format!("{}{}{}", self.data_bits, self.parity, self.stop_bits)
    }

    /// The silence that ends a Modbus RTU frame: 3.5 character times, and
    /// a fixed 1.75 ms above 19200 baud (Modbus over serial line, 2.5.1.1).
    pub fn rtu_gap(&self) -> std::time::Duration {
        if self.baud > 19200 {
            std::time::Duration::from_micros(1750)
        } else {
            std::time::Duration::from_micros(self.char_micros() * 7 / 2)
        }
    }

    /// The time one character takes on the line, in microseconds: start
    /// bit, data bits, parity bit, stop bits.
    pub fn char_micros(&self) -> u64 {
        let bits = 1
            + u64::from(self.data_bits)
            + u64::from(self.parity != 'N')
            + u64::from(self.stop_bits);
        (bits * 1_000_000).div_ceil(u64::from(self.baud))
    }
}

/// `8N1`, `7E2`: data bits, parity, stop bits; the error's offset into it.
fn parse_format(text: &str) -> Result<(u8, char, u8), (usize, String)> {
    let chars: Vec<char> = text.chars().collect();
    let [data, parity, stop] = chars[..] else {
        return Err((
            0,
            format!(
                "'{text}' is not a format: data bits 5-8, parity N/E/O, stop bits 1/2 (e.g. 8N1)"
            ),
        ));
    };
    let data = match data {
        '5'..='8' => data as u8 - b'0',
        _ => return Err((0, format!("{data} data bits: a port sends 5 to 8"))),
    };
    let parity = match parity.to_ascii_uppercase() {
        p @ ('N' | 'E' | 'O') => p,
        _ => return Err((1, format!("parity '{parity}': expected N, E or O"))),
    };
    let stop = match stop {
        '1' | '2' => stop as u8 - b'0',
        _ => return Err((2, format!("{stop} stop bits: expected 1 or 2"))),
    };
    Ok((data, parity, stop))
}

impl fmt::Display for SerialAddr {
    /// `serial:PATH,BAUD,FORMAT`: what the address means, defaults included.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "serial:{},{},{}", self.path, self.baud, self.format())?;
        if self.rs485 {
            f.write_str(",rs485")?;
        }
        Ok(())
    }
}

/// The paths this process has open: root ignores `TIOCEXCL`, and a second
/// open of one line in one process (two proxy clients, a server re-opening
/// early) would interleave its bytes.
static OPEN: Mutex<Option<HashSet<&'static str>>> = Mutex::new(None);

/// Holds `path` in [`OPEN`] while a port on it lives.
#[derive(Debug)]
struct Claim(&'static str);

impl Claim {
    fn take(path: &'static str) -> Option<Claim> {
        let mut open = OPEN.lock().unwrap_or_else(|e| e.into_inner());
        // Not `then_some(Claim(..))`: a Claim made and dropped here would
        // lock OPEN again (a deadlock) and free the path it never held.
        if open.get_or_insert_with(HashSet::new).insert(path) {
            Some(Claim(path))
        } else {
            None
        }
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        let mut open = OPEN.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(open) = open.as_mut() {
            open.remove(self.0);
        }
    }
}

/// An open serial port, both ways; [`SerialPort::into_split`] gives its
/// halves (two descriptors of the one open file).
#[derive(Debug)]
pub struct SerialPort {
    io: AsyncFd<serial2::SerialPort>,
    /// Shared by the halves: the path is free again when both are gone.
    claim: Arc<Claim>,
}

/// Open `addr` as the module docs say. Errors exit with status 2 and name
/// the device and what to do; nothing has been sent.
pub fn open(addr: &SerialAddr) -> Result<SerialPort> {
    let claim = Claim::take(addr.path).ok_or_else(|| busy(addr))?;
    let mut port = serial2::SerialPort::open(addr.path, serial2::KeepSettings)
        .map_err(|e| open_error(addr, &e))?;
    // Another process's lock (root ignores TIOCEXCL, not flock).
    // SAFETY: flock on an open descriptor.
    if unsafe { libc::flock(port.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        return Err(busy(addr));
    }
    // SAFETY: TIOCEXCL takes no argument; the descriptor is open.
    if unsafe { libc::ioctl(port.as_raw_fd(), libc::TIOCEXCL) } != 0 {
        let e = io::Error::last_os_error();
        return Err(exit::usage(format!(
            "{addr}: cannot take the port for ourselves (TIOCEXCL): {e}"
        )));
    }
    configure(addr, &mut port)?;
    if addr.rs485 {
        set_rs485(addr, &port)?;
    }
    port.discard_input_buffer()
        .map_err(|e| exit::usage(format!("{addr}: cannot flush stale input: {e}")))?;
    let io = watch(port).map_err(|e| exit::usage(format!("{addr}: {e}")))?;
    Ok(SerialPort {
        io,
        claim: Arc::new(claim),
    })
}

/// Raw mode and the speed, then the format, each checked: the port reads
/// back what it took, so an error says which setting it refused.
fn configure(addr: &SerialAddr, port: &mut serial2::SerialPort) -> Result<()> {
    let mut s = port
        .get_configuration()
        .map_err(|e| exit::usage(format!("{addr}: cannot read the port's settings: {e}")))?;
    s.set_raw();
    s.as_termios_mut().c_cflag |= libc::CLOCAL | libc::CREAD;
    s.set_baud_rate(addr.baud)
        .and_then(|()| port.set_configuration(&s))
        .map_err(|_| exit::usage(format!("{addr}: the port refuses baud {}", addr.baud)))?;
    s.set_char_size(match addr.data_bits {
        5 => CharSize::Bits5,
        6 => CharSize::Bits6,
        7 => CharSize::Bits7,
        _ => CharSize::Bits8,
    });
    s.set_parity(match addr.parity {
        'E' => Parity::Even,
        'O' => Parity::Odd,
        _ => Parity::None,
    });
    s.set_stop_bits(if addr.stop_bits == 2 {
        StopBits::Two
    } else {
        StopBits::One
    });
    port.set_configuration(&s).map_err(|_| {
        exit::usage(format!(
            "{addr}: the port refuses format {} (a pty takes only 8 data bits, no parity)",
            addr.format()
        ))
    })
}

#[cfg(target_os = "linux")]
fn set_rs485(addr: &SerialAddr, port: &serial2::SerialPort) -> Result<()> {
    port.set_rs4xx_mode(serial2::rs4xx::Rs485Config::new())
        .map_err(|e| {
            exit::usage(format!(
                "{addr}: the port refuses RS-485 mode: {e} (only RS-485 capable UARTs have it; a pty never does)"
            ))
        })
}

#[cfg(not(target_os = "linux"))]
fn set_rs485(addr: &SerialAddr, _port: &serial2::SerialPort) -> Result<()> {
    Err(exit::usage(format!(
        "{addr}: RS-485 mode is only set on Linux"
    )))
}

fn busy(addr: &SerialAddr) -> anyhow::Error {
    exit::usage(format!(
        "{}: the port is busy: another program (or another connection of this one) has it open",
        addr.path
    ))
}

/// Why `open` failed, in words: status 2, the device named.
fn open_error(addr: &SerialAddr, e: &io::Error) -> anyhow::Error {
    let path = addr.path;
    match e.raw_os_error() {
        Some(libc::ENOENT) | Some(libc::ENODEV) | Some(libc::ENXIO) => exit::usage(format!(
            "{path}: no such serial device (is it plugged in? ls /dev/tty*)"
        )),
        Some(libc::EACCES) | Some(libc::EPERM) => exit::usage(format!(
            "{path}: permission denied: add yourself to the 'dialout' group (sudo usermod -aG dialout $USER, then log in again)"
        )),
        Some(libc::EBUSY) => busy(addr),
        Some(libc::ENOTTY) => exit::usage(format!("{path}: not a serial port (not a tty)")),
        Some(libc::EINVAL) => exit::usage(format!(
            "{addr}: the port refuses these settings (baud {}, format {}): {e}",
            addr.baud,
            addr.format()
        )),
        _ => exit::usage(format!("{path}: cannot open the serial port: {e}")),
    }
}

/// Register an open port with tokio's reactor.
fn watch(port: serial2::SerialPort) -> io::Result<AsyncFd<serial2::SerialPort>> {
    // SAFETY: `serial2::SerialPort` owns its descriptor, returns that one
    // from every `as_raw_fd`, and closes it only when dropped, which the
    // `AsyncFd` that owns it does last.
    unsafe { AsyncFd::register(port) }.map_err(io::Error::from)
}

impl SerialPort {
    /// Two halves, each on its own descriptor of the one open port.
    pub fn into_split(self) -> io::Result<(SerialPort, SerialPort)> {
        let writer = SerialPort {
            io: watch(self.io.get_ref().try_clone()?)?,
            claim: self.claim.clone(),
        };
        Ok((self, writer))
    }
}

/// A line that failed or hung up: carried inside the `io::Error` so that
/// [`is_line_failure`] knows it by type, not by its words.
#[derive(Debug)]
struct LineFailed;

impl fmt::Display for LineFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the serial line failed (device gone?)")
    }
}

impl std::error::Error for LineFailed {}

fn line_failed() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, LineFailed)
}

/// Whether `e` is a serial line that failed (status 3, as a lost
/// connection; `net::read_error`).
pub fn is_line_failure(e: &io::Error) -> bool {
    e.get_ref().is_some_and(|inner| inner.is::<LineFailed>())
}

/// A line that fails (a USB adapter pulled out gives EIO) ends the session
/// as a lost connection (status 3), not as a quiet end.
fn line_error(e: io::Error) -> io::Error {
    match e.raw_os_error() {
        Some(libc::EIO) | Some(libc::ENODEV) | Some(libc::ENXIO) => line_failed(),
        _ => e,
    }
}

impl AsyncRead for SerialPort {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            let mut guard = ready!(this.io.poll_read_ready_mut(cx))?;
            let unfilled = buf.initialize_unfilled();
            // read(2) itself: serial2's `Read` waits (poll) for its own
            // timeout, which would block the runtime.
            match guard.try_io(|inner| {
                // SAFETY: the buffer is valid for its length; the
                // descriptor is open while `inner` lives.
                let n = unsafe {
                    libc::read(
                        inner.get_ref().as_raw_fd(),
                        unfilled.as_mut_ptr().cast(),
                        unfilled.len(),
                    )
                };
                usize::try_from(n).map_err(|_| io::Error::last_os_error())
            }) {
                // A tty reads 0 bytes only once hung up (the device or the
                // pty's other end gone): a line has no end of stream.
                Ok(Ok(0)) if !unfilled.is_empty() => return Poll::Ready(Err(line_failed())),
                Ok(Ok(n)) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Ok(Err(e)) => return Poll::Ready(Err(line_error(e))),
                Err(_would_block) => continue,
            }
        }
    }
}

impl AsyncWrite for SerialPort {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        loop {
            let mut guard = ready!(this.io.poll_write_ready_mut(cx))?;
            match guard.try_io(|inner| {
                // SAFETY: as for read(2) above.
                let n = unsafe {
                    libc::write(inner.get_ref().as_raw_fd(), buf.as_ptr().cast(), buf.len())
                };
                usize::try_from(n).map_err(|_| io::Error::last_os_error())
            }) {
                Ok(result) => return Poll::Ready(result.map_err(line_error)),
                Err(_would_block) => continue,
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // A line has no end of stream to send.
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<SerialAddr, String> {
        SerialAddr::parse(s.strip_prefix("serial:").unwrap())
    }

    #[test]
    fn defaults_and_settings() {
        let a = parse("serial:/dev/ttyUSB0").unwrap();
        assert_eq!(
            (a.path, a.baud, a.format().as_str(), a.rs485),
            ("/dev/ttyUSB0", 9600, "8N1", false)
        );
        assert_eq!(a.to_string(), "serial:/dev/ttyUSB0,9600,8N1");
        let a = parse("serial:/dev/ttyS1,19200,8e1").unwrap();
        assert_eq!((a.baud, a.format().as_str()), (19200, "8E1"));
        let a = parse("serial:/tmp/a,115200,7O2,rs485").unwrap();
        assert_eq!(a.to_string(), "serial:/tmp/a,115200,7O2,rs485");
        let a = parse("serial:/dev/ttyS0,8N1").unwrap();
        assert_eq!((a.baud, a.format().as_str()), (9600, "8N1"));
    }

    #[test]
    fn mistakes_name_their_column() {
        let cases = [
            ("serial:", "at column 8: missing device"),
            (
                "serial:/dev/x,0",
                "at column 15: baud rate 0 is out of range",
            ),
            ("serial:/dev/x,9600,9N1", "at column 20: 9 data bits"),
            ("serial:/dev/x,9600,8X1", "at column 21: parity 'X'"),
            ("serial:/dev/x,9600,8N3", "at column 22: 3 stop bits"),
            (
                "serial:/dev/x,9600,8N1,extra",
                "at column 24: 'extra' is not a setting",
            ),
            ("serial:/dev/x,fast", "at column 15: 'fast' is not a format"),
            ("serial:/dev/x,,8N1", "at column 15: empty setting"),
            (
                "serial:/dev/x,8N1,9600",
                "at column 19: the baud rate comes first",
            ),
        ];
        for (text, want) in cases {
            let got = parse(text).unwrap_err();
            assert!(got.starts_with(want), "{text}: {got}");
        }
    }

    /// A second claim of a held path fails without freeing it (it once
    /// deadlocked: the refused claim was made and dropped under the lock).
    #[test]
    fn a_path_is_claimed_once() {
        let first = Claim::take("/claim/test").unwrap();
        assert!(Claim::take("/claim/test").is_none());
        assert!(Claim::take("/claim/test").is_none());
        drop(first);
        assert!(Claim::take("/claim/test").is_some());
    }

    #[test]
    fn a_character_takes_its_bits() {
        let a = parse("serial:/x,9600,8N1").unwrap();
        assert_eq!(a.char_micros(), 1042);
        let a = parse("serial:/x,19200,8E1").unwrap();
        assert_eq!(a.char_micros(), 573);
    }
}
