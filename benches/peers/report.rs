//! What the bench prints: medians and percentiles of the rounds, ratios
//! against a baseline, number formats, the aligned tables, and the targets
//! that end the run in one table (BENCHMARKS.md copies it). Sections compute
//! figures and hand them here, so every table looks the same.

/// Median of the finite values (failed rounds are NaN and left out).
pub fn median(values: &[f64]) -> f64 {
    let mut v: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Nearest-rank percentile of sorted values.
pub fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The middle half of some ratios (their 25th to 75th percentile), as
/// `0.97x-1.02x`; `-` when there are none.
pub fn middle_half(values: &[f64]) -> String {
    let mut v: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if v.is_empty() {
        return "-".into();
    }
    v.sort_by(f64::total_cmp);
    let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
    format!("{:.3}x-{:.3}x", at(0.25), at(0.75))
}

/// A measured figure against its baseline, for the targets table:
/// `1,838 vs 514 MB/s = 3.58x`.
pub fn versus(ours: f64, theirs: f64, unit: &str) -> String {
    let show = |v: f64| {
        if !v.is_finite() {
            "-".to_string()
        } else if v >= 1000.0 {
            thousands(v.round() as u64)
        } else {
            format!("{v:.1}")
        }
    };
    format!(
        "{} vs {} {unit} = {}",
        show(ours),
        show(theirs),
        ratio(ours, theirs)
    )
}

pub fn ratio(a: f64, b: f64) -> String {
    if a.is_finite() && b.is_finite() && b > 0.0 {
        format!("{:.2}x", a / b)
    } else {
        "-".into()
    }
}

pub fn si(v: f64) -> String {
    if !v.is_finite() {
        "-".into()
    } else if v >= 1e6 {
        format!("{:.2}M", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub fn mb_kb(kb: u64) -> String {
    format!("{:.1}", kb as f64 / 1024.0)
}

pub fn print_table(title: &str, header: &[&str], rows: &[Vec<String>]) {
    let mut width: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            width[i] = width[i].max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, cell) in cells.iter().enumerate() {
            let pad = width[i] - cell.chars().count();
            if i == 0 {
                s.push_str(cell);
                s.push_str(&" ".repeat(pad));
            } else {
                s.push_str("  ");
                s.push_str(&" ".repeat(pad));
                s.push_str(cell);
            }
        }
        println!("{}", s.trim_end());
    };
    println!("\n{title}");
    line(header.to_vec());
    line(
        width
            .iter()
            .map(|w| "-".repeat(*w))
            .collect::<Vec<_>>()
            .iter()
            .map(String::as_str)
            .collect(),
    );
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}

/// Target verdicts for the closing summary.
pub struct Targets(pub Vec<[String; 3]>);

impl Targets {
    pub fn add(&mut self, target: &str, measured: String, met: Option<bool>) {
        let verdict = match met {
            Some(true) => "met",
            Some(false) => "MISSED",
            None => "n/a",
        };
        self.0.push([target.into(), measured, verdict.into()]);
    }
}
