//! From `replay.rs`: replay keeping a captured schedule, measured to the
//! millisecond.

use std::time::Duration;

use crate::util::*;

/// Acceptance 4: 200 messages captured 20 ms apart arrive on the server's
/// schedule. Arrival times are taken from listen's own JSON records; the
/// deviation from the captured schedule is printed (run with --nocapture)
/// and bounded loosely so a busy CI machine does not flake.
#[test]
fn timing_follows_the_captured_schedule() {
    const N: usize = 200;
    const GAP: f64 = 0.020;
    let dir = tempfile::tempdir().unwrap();
    let mut text = format!("{CAPTURE_HEADER}\n");
    for i in 0..N {
        let payload = format!("m{i:03}\n");
        text.push_str(&format!(
            "{{\"t\":{:.6},\"conn\":1,\"peer\":\"127.0.0.1:5000\",\"event\":\"data\",\"from\":\"client\",\"len\":{},\"hex\":\"{}\"}}\n",
            1.0 + i as f64 * GAP,
            payload.len(),
            hex(payload.as_bytes())
        ));
    }
    let path = dir.path().join("timed.jsonl");
    std::fs::write(&path, text).unwrap();
    let server = Listen::start(&["127.0.0.1:0", "--frame", "line", "--no-echo", "-f", "json"]);
    let out = replay(&[path.to_str().unwrap(), &server.target()]);
    assert_eq!(code(&out), 0, "{}", show(&out));
    let lines = server.wait_stdout_lines(N + 1, Duration::from_secs(10));
    let arrivals: Vec<f64> = lines
        .iter()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["event"] == "data")
        .map(|v| v["t"].as_f64().unwrap())
        .collect();
    assert_eq!(arrivals.len(), N);
    let mut deviations: Vec<f64> = arrivals
        .iter()
        .enumerate()
        .map(|(i, t)| ((t - arrivals[0]) - i as f64 * GAP).abs() * 1000.0)
        .collect();
    deviations.sort_by(f64::total_cmp);
    let median = deviations[N / 2];
    let p99 = deviations[N * 99 / 100];
    println!(
        "timing: median deviation {median:.3} ms, p99 {p99:.3} ms over {N} messages 20 ms apart"
    );
    assert!(median < 5.0, "median deviation {median:.3} ms");
    assert!(p99 < 50.0, "p99 deviation {p99:.3} ms");
}
