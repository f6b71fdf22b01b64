//! Section 5, the display formatter: the library's text and hexdump
//! renderers over pseudo-random data against `hexdump -C`. The only section
//! that calls the library instead of running the binary, hence its own
//! imports.

use std::{
    fs::{self, File},
    io::Write,
    net::SocketAddr,
    path::Path,
    process::{Command, Stdio},
    thread,
    time::{Duration, Instant, SystemTime},
};

use anyhow::{bail, Result};
use p1ge0n::{
    display::{Format, Renderer, Style},
    record::{Meta, Role, Side},
};

use crate::{
    harness::{Config, CHUNK, MB},
    host::have,
    report::{median, print_table, ratio, Targets},
};

fn random_bytes(len: usize) -> Vec<u8> {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        // xorshift64*
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        out.extend_from_slice(&state.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(len);
    out
}

fn format_all(data: &[u8], format: Format, sink: &mut File) -> Result<f64> {
    let peer: SocketAddr = ([127, 0, 0, 1], 40_000).into();
    let started = Instant::now();
    let mut out = Vec::with_capacity(CHUNK * 6);
    for chunk in data.chunks(CHUNK) {
        let meta = Meta {
            elapsed: started.elapsed(),
            wall: SystemTime::now(),
            conn: 1,
            peer: peer.into(),
        };
        out.clear();
        Renderer::new(format, Style::Plain, Role::Server).data(
            &mut out,
            &meta,
            Side::Client,
            chunk,
        );
        sink.write_all(&out)?;
    }
    Ok(started.elapsed().as_secs_f64())
}

pub fn section(cfg: &Config, dir: &Path, targets: &mut Targets) -> Result<()> {
    let len = cfg.display_mb * 1_000_000;
    println!(
        "\n## 5. Display formatter: {} MB pseudo-random data in {} KiB records, output to /dev/null, {} rounds",
        cfg.display_mb,
        CHUNK / 1024,
        cfg.rounds
    );
    let data = random_bytes(len);
    let path = dir.join("random.bin");
    fs::write(&path, &data)?;
    let mut devnull = fs::OpenOptions::new().write(true).open("/dev/null")?;
    let has_hexdump = have("hexdump");
    let (mut text, mut hexd, mut tool) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..cfg.rounds {
        text.push(len as f64 / MB / format_all(&data, Format::Text, &mut devnull)?);
        hexd.push(len as f64 / MB / format_all(&data, Format::Hexdump, &mut devnull)?);
        if has_hexdump {
            let t0 = Instant::now();
            let mut child = Command::new("hexdump")
                .arg("-C")
                .arg(&path)
                .stdout(Stdio::from(devnull.try_clone()?))
                .spawn()?;
            let dog = Instant::now() + Duration::from_secs(120);
            let status = loop {
                if let Some(status) = child.try_wait()? {
                    break status;
                }
                if Instant::now() >= dog {
                    let _ = child.kill();
                    let _ = child.wait();
                    bail!("hexdump -C took over 120 s");
                }
                thread::sleep(Duration::from_millis(1));
            };
            if !status.success() {
                bail!("hexdump -C: {status}");
            }
            tool.push(len as f64 / MB / t0.elapsed().as_secs_f64());
        }
    }
    let _ = fs::remove_file(&path);
    let base = median(&tool);
    let rows: Vec<Vec<String>> = [
        ("p1ge0n text (library)", &text),
        ("p1ge0n hexdump (library)", &hexd),
        ("hexdump -C", &tool),
    ]
    .into_iter()
    .filter(|(_, v)| !v.is_empty())
    .map(|(name, v)| {
        vec![
            name.to_string(),
            format!("{:.0}", median(v)),
            v.iter()
                .map(|s| format!("{s:.0}"))
                .collect::<Vec<_>>()
                .join(" "),
            ratio(median(v), base),
        ]
    })
    .collect();
    print_table(
        "display formatting, MB/s of input",
        &["formatter", "MB/s", "rounds", "vs hexdump -C"],
        &rows,
    );
    let (t, h) = (median(&text), median(&hexd));
    targets.add(
        "text and hexdump >= 2x hexdump -C",
        format!("text {}, hexdump {}", ratio(t, base), ratio(h, base)),
        base.is_finite()
            .then_some(t >= 2.0 * base && h >= 2.0 * base),
    );
    Ok(())
}
