//! `proxy --fault`: the faults a proxy injects on purpose, and the one
//! decision per message that says what happens to it.
//!
//! An HMI or a SCADA driver must survive a slow PLC, a lost reply, a
//! garbled frame, a reset and a Modbus exception; the proxy sits on the
//! line and frames every message already, so it can misbehave on purpose,
//! the same way every time for a given seed, and record what it did.
//!
//! This module is pure (no sockets, no clocks): it parses the `--fault`
//! specs, checks them against the framing, and for each message a
//! direction carries rolls its dice ([`DirectionFaults::decide`]) and says
//! what to do: forward it (once or twice, held for a delay, one bit
//! flipped), drop it, swallow it (a stalled direction), reset both sides,
//! or answer the sender with a Modbus exception. The shells (the relay,
//! `--share`, UDP) do what they are told and record every fault.
//!
//! Reproducible: the dice are a SplitMix64 stream per connection and
//! direction, seeded from `--fault-seed`, the connection number and the
//! direction, so the same seed and the same traffic give the same faults,
//! message for message. The generator is fixed here by its algorithm
//! (Vigna's SplitMix64), not borrowed from a crate whose streams may change
//! between versions: a seed in a bug report must replay the same faults
//! with the next p1ge0n too.

use std::{fmt, str::FromStr, time::Duration};

use crate::{frame::FrameSpec, record::Side, rtu};

/// One `--fault SPEC`: which direction, and what.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultSpec {
    /// `to-server:` (the client's messages), `to-client:`, or both.
    pub only: Option<Side>,
    pub kind: Kind,
}

/// A chance in percent, 0 to 100.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Percent(pub f64);

/// What a fault does.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// Hold each message (each chunk, unframed) for `base` ± `jitter`.
    Delay {
        base: Duration,
        jitter: Duration,
    },
    Drop(Percent),
    /// Flip one random bit.
    Corrupt(Percent),
    Duplicate(Percent),
    /// Reset both sides instead of passing the message on.
    Reset(Percent),
    /// Reset both sides on the Nth message.
    ResetAfter(u64),
    /// Forward N messages, then nothing more (the connection stays open).
    StallAfter(u64),
    /// Pace the bytes to this many bits a second.
    Bandwidth(u64),
    /// Answer a Modbus request with exception `code`, not forwarding it.
    ModbusException(Percent, u8),
}

impl Kind {
    pub fn name(&self) -> &'static str {
        match self {
            Kind::Delay { .. } => "delay",
            Kind::Drop(_) => "drop",
            Kind::Corrupt(_) => "corrupt",
            Kind::Duplicate(_) => "duplicate",
            Kind::Reset(_) => "reset",
            Kind::ResetAfter(_) => "reset-after",
            Kind::StallAfter(_) => "stall-after",
            Kind::Bandwidth(_) => "bandwidth",
            Kind::ModbusException(..) => "modbus-exception",
        }
    }

    /// Whether it acts on whole messages, so the bytes must be framed
    /// (delay and bandwidth act on whatever arrives).
    pub fn needs_frame(&self) -> bool {
        !matches!(self, Kind::Delay { .. } | Kind::Bandwidth(_))
    }

    /// Whether it ends or freezes a connection (not for UDP, which has
    /// none).
    pub fn needs_connection(&self) -> bool {
        matches!(self, Kind::Reset(_) | Kind::ResetAfter(_))
    }
}

const KINDS: &str = "delay=DUR[~JITTER], drop=P%, corrupt=P%, duplicate=P%, reset=P%, \
                     reset-after=N, stall-after=N, bandwidth=RATE, modbus-exception=P%:CODE";

impl FromStr for FaultSpec {
    type Err = String;

    /// `[to-server:|to-client:]KIND=VALUE`; errors name the column.
    fn from_str(s: &str) -> Result<FaultSpec, String> {
        let (only, body, offset) = if let Some(rest) = s.strip_prefix("to-server:") {
            (Some(Side::Client), rest, 10)
        } else if let Some(rest) = s.strip_prefix("to-client:") {
            (Some(Side::Server), rest, 10)
        } else {
            (None, s, 0)
        };
        let at = |column: usize, reason: String| format!("at column {}: {reason}", offset + column);
        let Some((name, value)) = body.split_once('=') else {
            return Err(at(
                1,
                format!("expected KIND=VALUE, one of: {KINDS} (optionally after to-server: or to-client:)"),
            ));
        };
        let value_at = name.len() + 2;
        let bad = |reason: String| at(value_at, reason);
        let kind = match name {
            "delay" => {
                let (base, jitter) = match value.split_once('~') {
                    Some((base, jitter)) => (base, Some(jitter)),
                    None => (value, None),
                };
                let base = duration(base).map_err(|e| bad(format!("delay: {e}")))?;
                let jitter = match jitter {
                    Some(j) => duration(j).map_err(|e| {
                        at(
                            value_at + value.find('~').unwrap_or(0) + 1,
                            format!("jitter: {e}"),
                        )
                    })?,
                    None => Duration::ZERO,
                };
                Kind::Delay { base, jitter }
            }
            "drop" => Kind::Drop(percent(value).map_err(bad)?),
            "corrupt" => Kind::Corrupt(percent(value).map_err(bad)?),
            "duplicate" => Kind::Duplicate(percent(value).map_err(bad)?),
            "reset" => Kind::Reset(percent(value).map_err(bad)?),
            "reset-after" => Kind::ResetAfter(count(value).map_err(bad)?),
            "stall-after" => Kind::StallAfter(count(value).map_err(bad)?),
            "bandwidth" => Kind::Bandwidth(rate(value).map_err(bad)?),
            "modbus-exception" => {
                let Some((chance, code)) = value.split_once(':') else {
                    return Err(bad(
                        "expected P%:CODE (a chance and an exception code, e.g. 100%:6)".into(),
                    ));
                };
                let chance = percent(chance).map_err(&bad)?;
                let code = parse_code(code)
                    .map_err(|e| at(value_at + value.find(':').unwrap_or(0) + 1, e))?;
                Kind::ModbusException(chance, code)
            }
            other => return Err(at(1, format!("unknown fault '{other}' (expected {KINDS})"))),
        };
        if only == Some(Side::Server) && matches!(kind, Kind::ModbusException(..)) {
            return Err(at(
                1,
                "modbus-exception answers requests: it acts on to-server messages only".into(),
            ));
        }
        Ok(FaultSpec { only, kind })
    }
}

fn duration(s: &str) -> Result<Duration, String> {
    let too_long = || format!("'{s}' is more than 1h, the longest a fault holds a message");
    // Longer than any duration at all (3650 days) is longer than 1h too.
    let d = crate::units::parse_duration(s).map_err(|e| match e.contains("too long") {
        true => too_long(),
        false => e,
    })?;
    if d > Duration::from_secs(3600) {
        return Err(too_long());
    }
    Ok(d)
}

fn percent(s: &str) -> Result<Percent, String> {
    let Some(number) = s.strip_suffix('%') else {
        return Err(format!(
            "'{s}' is not a percentage (write it as 5% or 0.5%)"
        ));
    };
    match number.parse::<f64>() {
        Ok(p) if (0.0..=100.0).contains(&p) => Ok(Percent(p)),
        Ok(_) => Err(format!("'{s}' is outside 0% to 100%")),
        Err(_) => Err(format!(
            "'{s}' is not a percentage (write it as 5% or 0.5%)"
        )),
    }
}

fn count(s: &str) -> Result<u64, String> {
    match s.parse::<u64>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!("'{s}' is not a message count (1 or more)")),
    }
}

fn parse_code(s: &str) -> Result<u8, String> {
    let n = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u8::from_str_radix(hex, 16),
        None => s.parse::<u8>(),
    };
    match n {
        Ok(code) if (1..0x80).contains(&code) => Ok(code),
        _ => Err(format!(
            "'{s}' is not an exception code (1 to 127, e.g. 6 or 0x0B)"
        )),
    }
}

/// `9600bit/s`, `9600bps`, `64kbit/s`, `1Mbit/s`, `1200B/s` (bytes): bits a
/// second.
fn rate(s: &str) -> Result<u64, String> {
    let lower = s.to_ascii_lowercase();
    let split = lower
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(lower.len());
    let (number, unit) = lower.split_at(split);
    let bytes_unit = s[split..].starts_with(['B']) || s[split..].contains("B/");
    let number: f64 = number
        .parse()
        .map_err(|_| format!("'{s}' is not a rate (e.g. 9600bit/s, 64kbit/s, 1200B/s)"))?;
    let (scale, per) = match unit.trim() {
        "bit/s" | "bps" | "b/s" if !bytes_unit => (1.0, 1.0),
        "kbit/s" | "kbps" | "kb/s" if !bytes_unit => (1e3, 1.0),
        "mbit/s" | "mbps" | "mb/s" if !bytes_unit => (1e6, 1.0),
        "gbit/s" | "gbps" | "gb/s" if !bytes_unit => (1e9, 1.0),
        "b/s" => (1.0, 8.0),
        "kb/s" => (1e3, 8.0),
        "mb/s" => (1e6, 8.0),
        "gb/s" => (1e9, 8.0),
        _ => {
            return Err(format!(
                "'{s}': unknown rate unit (bit/s, kbit/s, Mbit/s, Gbit/s, bps, or B/s, kB/s, \
                 MB/s, GB/s for bytes)"
            ))
        }
    };
    let bits = number * scale * per;
    if !(1.0..=1e12).contains(&bits) {
        return Err(format!("'{s}' is outside 1bit/s to 1000Gbit/s"));
    }
    Ok(bits as u64)
}

impl fmt::Display for FaultSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.only {
            Some(Side::Client) => write!(f, "to-server:")?,
            Some(Side::Server) => write!(f, "to-client:")?,
            None => {}
        }
        let d = |d: &Duration| humantime::format_duration(*d).to_string();
        match &self.kind {
            Kind::Delay { base, jitter } if jitter.is_zero() => write!(f, "delay={}", d(base)),
            Kind::Delay { base, jitter } => write!(f, "delay={}~{}", d(base), d(jitter)),
            Kind::Drop(p) | Kind::Corrupt(p) | Kind::Duplicate(p) | Kind::Reset(p) => {
                write!(f, "{}={}%", self.kind.name(), p.0)
            }
            Kind::ResetAfter(n) | Kind::StallAfter(n) => write!(f, "{}={n}", self.kind.name()),
            Kind::Bandwidth(bits) => write!(f, "bandwidth={bits}bit/s"),
            Kind::ModbusException(p, code) => write!(f, "modbus-exception={}%:{code}", p.0),
        }
    }
}

/// Which Modbus form requests have, for `modbus-exception`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModbusForm {
    Mbap,
    Rtu,
}

/// Every `--fault` of a proxy, and its seed.
#[derive(Debug, Clone)]
pub struct Faults {
    pub specs: Vec<FaultSpec>,
    pub seed: u64,
    /// How `modbus-exception` answers (from the framing).
    modbus: Option<ModbusForm>,
}

impl Faults {
    /// Check the specs against the proxy's framing (`None`: raw) and
    /// transport: message-level kinds need messages (`--frame`, or UDP's
    /// datagrams), `modbus-exception` Modbus framing, resets a connection.
    pub fn new(
        specs: Vec<FaultSpec>,
        seed: u64,
        frame: Option<&FrameSpec>,
        udp: bool,
    ) -> Result<Faults, String> {
        let mut modbus = None;
        for spec in &specs {
            if spec.kind.needs_frame() && frame.is_none() && !udp {
                return Err(format!(
                    "--fault {spec}: {} acts on whole messages, which needs --frame \
                     (only delay and bandwidth work on raw bytes)",
                    spec.kind.name()
                ));
            }
            if udp && spec.kind.needs_connection() {
                return Err(format!(
                    "--fault {spec}: UDP has no connection to reset (-u takes delay, drop, \
                     corrupt, duplicate, stall-after, bandwidth and modbus-exception)"
                ));
            }
            if let Kind::ModbusException(..) = spec.kind {
                modbus = Some(match frame {
                    Some(FrameSpec::ModbusRtu) => ModbusForm::Rtu,
                    Some(f) if *f == FrameSpec::mbap() => ModbusForm::Mbap,
                    _ if udp => {
                        return Err(format!(
                            "--fault {spec}: Modbus exceptions need to know the requests' form \
                             (with -u: --decode modbus for MBAP datagrams, --decode modbus-rtu \
                             for RTU ones)"
                        ))
                    }
                    _ => {
                        return Err(format!(
                            "--fault {spec}: Modbus exceptions need Modbus framing \
                             (--frame mbap or --frame modbus-rtu, or --decode modbus)"
                        ))
                    }
                });
            }
        }
        Ok(Faults {
            specs,
            seed,
            modbus,
        })
    }

    /// The faults one direction of connection `conn` carries (`from`
    /// sends), each direction with its own dice; `None` when none apply.
    pub fn direction(&self, conn: u64, from: Side) -> Option<DirectionFaults> {
        let kinds: Vec<Kind> = self
            .specs
            .iter()
            .filter(|s| s.only.is_none_or(|only| only == from))
            .filter(|s| !(from == Side::Server && matches!(s.kind, Kind::ModbusException(..))))
            .map(|s| s.kind.clone())
            .collect();
        if kinds.is_empty() {
            return None;
        }
        let side = match from {
            Side::Client => 1,
            Side::Server => 2,
        };
        let mut mix = SplitMix64(self.seed);
        let stream = mix.next() ^ conn.wrapping_mul(0xA076_1D64_78BD_642F) ^ side;
        Some(DirectionFaults {
            bandwidth: kinds.iter().find_map(|k| match k {
                Kind::Bandwidth(bits) => Some(*bits),
                _ => None,
            }),
            kinds,
            dice: SplitMix64(stream),
            messages: 0,
            modbus: self.modbus,
        })
    }
}

/// Vigna's SplitMix64: a tiny generator with a fixed, documented stream.
#[derive(Debug, Clone)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// True with chance `p`.
    fn roll(&mut self, p: Percent) -> bool {
        // 53 bits of the draw as a fraction in [0, 1).
        let x = (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        x * 100.0 < p.0
    }

    /// A value in [0, n).
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }
}

/// One direction's faults and dice.
#[derive(Debug, Clone)]
pub struct DirectionFaults {
    kinds: Vec<Kind>,
    dice: SplitMix64,
    /// Messages decided so far.
    messages: u64,
    modbus: Option<ModbusForm>,
    bandwidth: Option<u64>,
}

/// What happens to one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fate {
    /// Forward it this many times (2: duplicated).
    Forward(u8),
    /// Not forwarded.
    Drop,
    /// Not forwarded: the direction is stalled.
    Stall,
    /// Reset both sides instead.
    Reset,
    /// Not forwarded; these bytes go back to the sender (an exception).
    Answer(Vec<u8>),
}

/// One fault injected, for the records: its kind and what it did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Injected {
    pub kind: &'static str,
    pub detail: Detail,
}

/// What a fault did, said in a record (`bit 5`, `1s 200ms`): kept as a
/// value and written only when a record is made, so that deciding a
/// message under `-q` formats and allocates nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail {
    None,
    /// `stall-after=N`.
    After(u64),
    /// `reset-after=N`.
    Message(u64),
    /// `modbus-exception`: the code answered.
    Code(u8),
    /// `corrupt`: the bit flipped.
    Bit(usize),
    /// `delay`: how long the message was held.
    Held(Duration),
}

impl std::fmt::Display for Detail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Detail::None => Ok(()),
            Detail::After(n) => write!(f, "after {n}"),
            Detail::Message(n) => write!(f, "message {n}"),
            Detail::Code(code) => write!(f, "code {code}"),
            Detail::Bit(bit) => write!(f, "bit {bit}"),
            Detail::Held(hold) => write!(f, "{}", humantime::format_duration(*hold)),
        }
    }
}

/// The faults one message was dealt: at most three (a fault that stops
/// the message is the only one; one that lets it through can come with
/// `corrupt`, `duplicate` and `delay`), kept inline: no allocation per
/// message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Injections {
    faults: [Option<Injected>; 3],
}

impl Injections {
    fn push(&mut self, fault: Injected) {
        if let Some(slot) = self.faults.iter_mut().find(|slot| slot.is_none()) {
            *slot = Some(fault);
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = &Injected> {
        self.faults.iter().map_while(Option::as_ref)
    }

    pub fn len(&self) -> usize {
        self.iter().count()
    }

    pub fn is_empty(&self) -> bool {
        self.faults[0].is_none()
    }
}

/// The decision for one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The message's number in its direction, from 1.
    pub number: u64,
    pub fate: Fate,
    /// How long to hold it, from when it arrived.
    pub hold: Duration,
    /// `corrupt`: the bit to flip ([`Outcome::apply`]).
    pub flip: Option<usize>,
    pub injected: Injections,
}

impl Outcome {
    /// The message as it is to go out: a copy with its bit flipped when
    /// `corrupt` struck, else the message itself (no copy).
    pub fn apply(&self, message: bytes::Bytes) -> bytes::Bytes {
        match self.flip {
            Some(bit) => {
                let mut bytes = message.to_vec();
                bytes[bit / 8] ^= 1 << (bit % 8);
                bytes.into()
            }
            None => message,
        }
    }
}

impl DirectionFaults {
    /// `bandwidth=`: bits a second, if paced.
    pub fn bandwidth(&self) -> Option<u64> {
        self.bandwidth
    }

    /// Whether anything but pacing applies (without it, a raw relay need
    /// not stop to decide).
    pub fn decides(&self) -> bool {
        self.kinds.iter().any(|k| !matches!(k, Kind::Bandwidth(_)))
    }

    /// Whether a `stall-after=N` has seen its N messages: nothing more
    /// goes this way, not even bytes that are not a message.
    pub fn stalled(&self) -> bool {
        self.kinds
            .iter()
            .any(|k| matches!(k, Kind::StallAfter(n) if self.messages >= *n))
    }

    /// Roll the dice for the next message and say what to do with it (a
    /// bit `corrupt` flips is [`Outcome::flip`]). Every chance is rolled
    /// for every message, whatever the others said, so one fault never
    /// shifts another's sequence.
    pub fn decide(&mut self, message: &[u8]) -> Outcome {
        self.messages += 1;
        let number = self.messages;
        let mut fate = Fate::Forward(1);
        let mut hold = Duration::ZERO;
        let mut injected = Injections::default();
        let mut flip = None;
        let mut note = |fate: &mut Fate, new: Fate, kind: &'static str, detail: Detail| {
            // The first fault that stops the message wins.
            if matches!(fate, Fate::Forward(_)) {
                *fate = new;
                injected.push(Injected { kind, detail });
            }
        };
        for kind in &self.kinds {
            match kind {
                Kind::StallAfter(n) if number > *n => {
                    note(&mut fate, Fate::Stall, "stall", Detail::After(*n))
                }
                Kind::ResetAfter(n) if number == *n => {
                    note(&mut fate, Fate::Reset, "reset", Detail::Message(*n))
                }
                Kind::Reset(p) => {
                    if self.dice.roll(*p) {
                        note(&mut fate, Fate::Reset, "reset", Detail::None);
                    }
                }
                Kind::Drop(p) => {
                    if self.dice.roll(*p) {
                        note(&mut fate, Fate::Drop, "drop", Detail::None);
                    }
                }
                Kind::ModbusException(p, code) => {
                    let hit = self.dice.roll(*p);
                    if hit {
                        if let Some(answer) = self.modbus.and_then(|f| exception(f, message, *code))
                        {
                            note(
                                &mut fate,
                                Fate::Answer(answer),
                                "modbus-exception",
                                Detail::Code(*code),
                            );
                        }
                    }
                }
                Kind::Corrupt(p) => {
                    let hit = self.dice.roll(*p);
                    let bit = self.dice.below(message.len() as u64 * 8);
                    if hit && !message.is_empty() {
                        flip = Some(bit as usize);
                    }
                }
                Kind::Duplicate(p) => {
                    if self.dice.roll(*p) {
                        if let Fate::Forward(times) = &mut fate {
                            *times = 2;
                        }
                    }
                }
                Kind::Delay { base, jitter } => {
                    let offset = self.dice.below(jitter.as_micros() as u64 * 2 + 1);
                    let micros =
                        base.as_micros() as i128 + offset as i128 - jitter.as_micros() as i128;
                    hold = hold.max(Duration::from_micros(micros.max(0) as u64));
                }
                Kind::StallAfter(_) | Kind::ResetAfter(_) | Kind::Bandwidth(_) => {}
            }
        }
        if let Fate::Forward(times) = fate {
            if let Some(bit) = flip {
                injected.push(Injected {
                    kind: "corrupt",
                    detail: Detail::Bit(bit),
                });
            }
            if times == 2 {
                injected.push(Injected {
                    kind: "duplicate",
                    detail: Detail::None,
                });
            }
            if self.kinds.iter().any(|k| matches!(k, Kind::Delay { .. })) {
                injected.push(Injected {
                    kind: "delay",
                    detail: Detail::Held(hold),
                });
            }
        }
        let flip = flip.filter(|_| matches!(fate, Fate::Forward(_)));
        Outcome {
            number,
            fate,
            hold,
            flip,
            injected,
        }
    }
}

/// The exception `code` answering `request` in its form; `None` when the
/// message is not a request of that form (an MBAP header whose protocol or
/// length does not fit it, an RTU frame with a bad CRC), or one that no
/// device answers (an RTU broadcast, to address 0).
pub fn exception(form: ModbusForm, request: &[u8], code: u8) -> Option<Vec<u8>> {
    match form {
        ModbusForm::Mbap => {
            if request.len() < 8
                || request[2..4] != [0, 0]
                || usize::from(u16::from_be_bytes([request[4], request[5]])) != request.len() - 6
            {
                return None;
            }
            Some(vec![
                request[0],
                request[1],
                0,
                0,
                0,
                3,
                request[6],
                request[7] | 0x80,
                code,
            ])
        }
        ModbusForm::Rtu => {
            if request.len() < 4 || !rtu::crc_ok(request) || request[0] == 0 {
                return None;
            }
            Some(rtu::with_crc(vec![request[0], request[1] | 0x80, code]))
        }
    }
}

/// How long `bytes` take at `bits_per_sec`.
pub fn transmit_time(bytes: usize, bits_per_sec: u64) -> Duration {
    Duration::from_secs_f64(bytes as f64 * 8.0 / bits_per_sec as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn spec(s: &str) -> FaultSpec {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn specs_parse_and_print_back() {
        for s in [
            "delay=200ms",
            "to-client:delay=200ms~50ms",
            "drop=5%",
            "to-server:corrupt=0.5%",
            "duplicate=100%",
            "reset=1%",
            "reset-after=5",
            "stall-after=3",
            "bandwidth=9600bit/s",
            "modbus-exception=100%:6",
        ] {
            assert_eq!(spec(s).to_string(), s);
        }
        assert_eq!(spec("bandwidth=1200B/s").kind, Kind::Bandwidth(9600));
        assert_eq!(spec("bandwidth=64kbit/s").kind, Kind::Bandwidth(64_000));
        assert_eq!(
            spec("bandwidth=1Gbit/s").kind,
            Kind::Bandwidth(1_000_000_000)
        );
        assert_eq!(
            spec("modbus-exception=50%:0x0B").kind,
            Kind::ModbusException(Percent(50.0), 11)
        );
    }

    #[test]
    fn bad_specs_say_where_and_why() {
        for (s, want) in [
            ("drop=150%", "at column 6: '150%' is outside 0% to 100%"),
            ("drop=5", "at column 6: '5' is not a percentage"),
            ("explode=5%", "at column 1: unknown fault 'explode'"),
            ("to-server:nothing", "at column 11: expected KIND=VALUE"),
            ("reset-after=0", "at column 13: '0' is not a message count"),
            ("delay=fast", "at column 7: delay:"),
            ("delay=1s~x", "at column 10: jitter:"),
            ("bandwidth=9600", "at column 11: '9600': unknown rate unit"),
            ("bandwidth=1001Gbit/s", "outside 1bit/s to 1000Gbit/s"),
            ("delay=2h", "at column 7: delay: '2h' is more than 1h"),
            (
                "delay=10000d",
                "at column 7: delay: '10000d' is more than 1h",
            ),
            ("modbus-exception=100%", "expected P%:CODE"),
            (
                "modbus-exception=100%:0",
                "at column 23: '0' is not an exception code",
            ),
            ("to-client:modbus-exception=1%:6", "to-server messages only"),
        ] {
            let err = s.parse::<FaultSpec>().unwrap_err();
            assert!(err.contains(want), "{s}: {err}");
        }
    }

    #[test]
    fn message_kinds_need_a_frame_and_resets_a_connection() {
        let line = FrameSpec::Line;
        let err = Faults::new(vec![spec("drop=5%")], 1, None, false).unwrap_err();
        assert!(err.contains("needs --frame"), "{err}");
        assert!(Faults::new(vec![spec("delay=1ms")], 1, None, false).is_ok());
        assert!(Faults::new(vec![spec("drop=5%")], 1, Some(&line), false).is_ok());
        assert!(Faults::new(vec![spec("drop=5%")], 1, None, true).is_ok());
        let err = Faults::new(vec![spec("reset=5%")], 1, None, true).unwrap_err();
        assert!(err.contains("UDP has no connection"), "{err}");
        let err =
            Faults::new(vec![spec("modbus-exception=5%:6")], 1, Some(&line), false).unwrap_err();
        assert!(err.contains("Modbus framing"), "{err}");
    }

    fn run(specs: &[&str], seed: u64, messages: usize) -> Vec<Outcome> {
        let faults = Faults::new(
            specs.iter().map(|s| spec(s)).collect(),
            seed,
            Some(&FrameSpec::mbap()),
            false,
        )
        .unwrap();
        let mut d = faults.direction(1, Side::Client).unwrap();
        (0..messages)
            .map(|i| {
                let m = vec![0, i as u8, 0, 0, 0, 6, 1, 3, 0, 0, 0, 1];
                d.decide(&m)
            })
            .collect()
    }

    #[test]
    fn the_same_seed_gives_the_same_faults_and_another_seed_others() {
        let specs = ["drop=30%", "corrupt=20%", "duplicate=10%", "delay=5ms~5ms"];
        assert_eq!(run(&specs, 7, 200), run(&specs, 7, 200));
        assert_ne!(run(&specs, 7, 200), run(&specs, 8, 200));
        let dropped = run(&specs, 7, 1000)
            .iter()
            .filter(|o| o.fate == Fate::Drop)
            .count();
        assert!((220..380).contains(&dropped), "{dropped} of 1000 at 30%");
    }

    #[test]
    fn counts_and_certainties() {
        let out = run(&["reset-after=5"], 1, 6);
        assert_eq!(out[3].fate, Fate::Forward(1));
        assert_eq!(out[4].fate, Fate::Reset);
        let out = run(&["stall-after=2"], 1, 4);
        assert_eq!(out[1].fate, Fate::Forward(1));
        assert_eq!(out[2].fate, Fate::Stall);
        let faults = Faults::new(
            vec![spec("stall-after=2")],
            1,
            Some(&FrameSpec::Line),
            false,
        );
        let mut dice = faults.unwrap().direction(1, Side::Client).unwrap();
        dice.decide(b"1\n");
        assert!(!dice.stalled());
        dice.decide(b"2\n");
        assert!(dice.stalled(), "after its 2 messages");
        assert_eq!(out[3].fate, Fate::Stall);
        let out = run(&["modbus-exception=100%:6"], 1, 1);
        assert_eq!(
            out[0].fate,
            Fate::Answer(vec![0, 0, 0, 0, 0, 3, 1, 0x83, 6])
        );
        let out = run(&["drop=0%", "duplicate=100%"], 1, 1);
        assert_eq!(out[0].fate, Fate::Forward(2));
        let out = run(&["delay=200ms"], 1, 1);
        assert_eq!(out[0].hold, Duration::from_millis(200));
        assert_eq!(out[0].injected.iter().next().unwrap().kind, "delay");
    }

    #[test]
    fn corrupt_flips_exactly_one_bit() {
        let faults =
            Faults::new(vec![spec("corrupt=100%")], 3, Some(&FrameSpec::Line), false).unwrap();
        let mut d = faults.direction(1, Side::Server).unwrap();
        for _ in 0..100 {
            let m = b"hello world\n";
            let out = d.decide(m);
            let sent = out.apply(bytes::Bytes::from_static(m));
            let flipped: u32 = sent
                .iter()
                .zip(b"hello world\n")
                .map(|(a, b)| (a ^ b).count_ones())
                .sum();
            assert_eq!(flipped, 1, "{out:?}");
        }
    }

    #[test]
    fn rtu_exceptions_carry_a_good_crc() {
        let request = rtu::with_crc(vec![1, 3, 0, 0, 0, 1]);
        let answer = exception(ModbusForm::Rtu, &request, 6).unwrap();
        assert_eq!(answer, rtu::with_crc(vec![1, 0x83, 6]));
        assert!(rtu::crc_ok(&answer));
        assert_eq!(exception(ModbusForm::Rtu, &[1, 3, 0, 0], 6), None);
        // A broadcast (address 0) is never answered by a device.
        let broadcast = rtu::with_crc(vec![0, 6, 0, 1, 0, 5]);
        assert_eq!(exception(ModbusForm::Rtu, &broadcast, 4), None);
    }

    #[test]
    fn mbap_exceptions_answer_only_a_whole_request() {
        let request = [0, 5, 0, 0, 0, 6, 1, 3, 0, 0, 0, 1];
        assert_eq!(
            exception(ModbusForm::Mbap, &request, 6),
            Some(vec![0, 5, 0, 0, 0, 3, 1, 0x83, 6])
        );
        // Truncated, or longer than its header says, or not Modbus at all.
        for other in [
            &request[..10],
            &[&request[..], &[0]].concat(),
            b"AB\0\0\0\x06ABCDE",
        ] {
            assert_eq!(exception(ModbusForm::Mbap, other, 6), None, "{other:?}");
        }
    }

    #[test]
    fn udp_exceptions_need_the_requests_form() {
        let err = Faults::new(vec![spec("modbus-exception=100%:6")], 1, None, true).unwrap_err();
        assert!(err.contains("--decode modbus"), "{err}");
        let rtu = Faults::new(
            vec![spec("modbus-exception=100%:6")],
            1,
            Some(&FrameSpec::ModbusRtu),
            true,
        );
        assert!(rtu.is_ok());
    }

    proptest! {
        #[test]
        fn any_spec_text_parses_or_errs_and_prints_back(s in "(to-server:|to-client:)?[a-z-]{0,16}=[0-9a-zA-Z.%:~/]{0,12}") {
            if let Ok(spec) = s.parse::<FaultSpec>() {
                let again: FaultSpec = spec.to_string().parse().unwrap();
                prop_assert_eq!(spec.to_string(), again.to_string());
            }
        }

        #[test]
        fn decide_never_panics(len in 0usize..300, seed in any::<u64>()) {
            let faults = Faults::new(
                ["drop=10%", "corrupt=50%", "duplicate=10%", "delay=1ms~1ms", "modbus-exception=20%:4", "stall-after=50"]
                    .iter().map(|s| spec(s)).collect(),
                seed, Some(&FrameSpec::mbap()), false).unwrap();
            let mut d = faults.direction(2, Side::Client).unwrap();
            let m = vec![0u8; len];
            for _ in 0..60 { d.decide(&m); }
        }
    }
}
