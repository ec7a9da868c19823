//! What the benchmarks share: starting the real `waybill serve` and saying
//! what else ran on the machine. Included by each bench with `mod support;`
//! (a folder, so cargo does not take it for a bench of its own).

use std::fs::{self, File};
use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// A `waybill serve` that printed its listening line.
pub struct Started {
    pub child: Child,
    /// `http://127.0.0.1:<port>`, no trailing slash.
    pub base: String,
    /// The admin key, printed on a data dir's first start only.
    pub key: Option<String>,
}

/// Starts `bin serve` on port 0 with `data` and `extra` flags, stderr to
/// `stderr_path`, no `WAYBILL_*` variables from this environment; waits up
/// to `timeout` for its listening line. Its stdout keeps being drained, so
/// the server never blocks on it.
pub fn spawn_serve(
    bin: &str,
    data: &Path,
    stderr_path: &Path,
    extra: &[&str],
    timeout: Duration,
) -> Started {
    let log = File::create(stderr_path).expect("creating the server log");
    let mut cmd = Command::new(bin);
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(data)
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log));
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("WAYBILL_") {
            cmd.env_remove(name);
        }
    }
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("spawning {bin}: {e}"));
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel::<String>();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + timeout;
    let mut key = None;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = match rx.recv_timeout(left) {
            Ok(line) => line,
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "waybill serve did not print its listening line: {e}\n{}",
                    fs::read_to_string(stderr_path).unwrap_or_default()
                )
            }
        };
        if let Some(k) = line.trim().strip_prefix("admin API key: ") {
            key = Some(k.trim().to_owned());
        }
        if let Some(url) = line.trim().strip_prefix("waybill listening on ") {
            return Started {
                child,
                base: url.trim().trim_end_matches('/').to_owned(),
                key,
            };
        }
    }
}

/// `/proc/loadavg`'s three load averages, to show what else ran.
pub fn load_average() -> String {
    fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|_| "?".to_owned())
}

/// CPU time (user + system, all threads) a process has used so far, from
/// `/proc/<pid>/stat`; zero where that cannot be read.
pub fn cpu_time(pid: &str) -> Duration {
    /// Linux reports these fields in USER_HZ ticks, 100 per second on every
    /// architecture's user ABI.
    const TICKS_PER_SEC: u64 = 100;
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return Duration::ZERO;
    };
    // After the `(comm)` field, which may contain spaces: state is field 3,
    // utime and stime are fields 14 and 15.
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return Duration::ZERO;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Duration::from_millis((ticks(11) + ticks(12)) * 1000 / TICKS_PER_SEC)
}
