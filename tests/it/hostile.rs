//! Hostile plugins run through the real binary with `waybill plugins run`:
//! `plugins/hostile` (one misbehaviour per config `mode`), `plugins/hostile-fs`
//! and `plugins/hostile-net`, built by `plugins/build.sh`. Each run must end
//! with the error naming what the plugin ran into, in bounded time, with
//! bounded captured output and no output file left behind, and the host
//! must exit normally (status 0 or 1, never a panic or a signal).

use std::path::Path;
use std::time::{Duration, Instant};

use crate::plugins::{Run, component, context, run};

/// More fuel than any run here can burn before its wall-time limit, so that
/// the clock is what stops it.
const ENDLESS_FUEL: &str = "1000000000000000";
/// The default limits (`Limits::default()`) the error messages name.
const MEMORY_BYTES_MAX: u64 = 128 << 20;
const OUTPUT_BYTES_MAX: u64 = 256 << 20;
const CAPTURE_BYTES_MAX: usize = 64 << 10;
/// Slack for a loaded 2-core machine: between the wall-time limit and the
/// wall time the host reports, and between that and the process ending
/// (compiling the component is not counted: the CLI reports it).
const REPORT_SLACK: Duration = Duration::from_secs(3);
const PROCESS_SLACK: Duration = Duration::from_secs(15);

/// A finished `waybill plugins run`, with how long the process took.
struct Hostile {
    run: Run,
    elapsed: Duration,
}

impl Hostile {
    /// Runs the component `name` (`hostile`, `hostile_fs`, ...) with `config`.
    fn run(name: &str, config: &str, files: &[&Path], extra: &[&str]) -> Self {
        let wasm = component(name);
        let started = Instant::now();
        let run = run(&wasm, &context(1, config), files, extra);
        let hostile = Self {
            run,
            elapsed: started.elapsed(),
        };
        assert!(
            !hostile.run.stderr().contains("panicked"),
            "the host panicked:\n{}",
            hostile.run.stderr()
        );
        hostile
    }

    /// Exit status 0; the host is fine.
    fn ok(&self) -> &Self {
        self.run.ok();
        self
    }

    /// Exit status 1 and `what` in the host's stderr.
    fn failed(&self, what: &str) -> &Self {
        self.run.failed(what);
        self
    }

    fn stdout(&self) -> String {
        self.run.stdout()
    }

    /// The value of the item labelled `label`.
    fn item(&self, label: &str) -> String {
        let items = self.run.items();
        items
            .iter()
            .find(|(l, _)| l == label)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("no item {label:?} in {items:?}"))
    }

    /// A captured section the CLI prints (`log`, `stdout`, `stderr`): its
    /// lines without the two-space indent, each ending in `\n`.
    fn captured(&self, section: &str) -> String {
        self.stdout()
            .lines()
            .skip_while(|l| *l != format!("{section}:"))
            .skip(1)
            .take_while(|l| l.starts_with("  "))
            .map(|l| format!("{}\n", &l[2..]))
            .collect()
    }

    /// The number after `label` in the CLI's output, e.g. `wall time: 1012.5 ms`.
    fn number(&self, label: &str) -> f64 {
        let stdout = self.stdout();
        let rest = stdout
            .split_once(label)
            .unwrap_or_else(|| panic!("no {label:?} in:\n{stdout}"))
            .1;
        let number: String = rest
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.')
            .collect();
        number.parse().unwrap()
    }

    /// The run's wall time as the host measured it (instantiation + call).
    fn wall_time(&self) -> Duration {
        Duration::from_secs_f64(self.number("wall time: ") / 1000.0)
    }

    /// The process took at most `budget` (the expected run time) plus the
    /// slack, not counting the compilation the CLI reports.
    fn ended_within(&self, budget: Duration) -> &Self {
        let compiling = Duration::from_millis(self.number(" compiled in ") as u64);
        let running = self.elapsed.saturating_sub(compiling);
        assert!(
            self.wall_time() <= budget + REPORT_SLACK,
            "the host reports a wall time of {:?}, expected at most {budget:?} + {REPORT_SLACK:?}",
            self.wall_time()
        );
        assert!(
            running <= budget + PROCESS_SLACK,
            "the process ran {running:?} besides compiling, expected at most {budget:?} + {PROCESS_SLACK:?}"
        );
        self
    }

    /// No output file was left behind.
    fn no_outputs(&self) -> &Self {
        let left: Vec<_> = std::fs::read_dir(self.run.out_dir())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert!(left.is_empty(), "outputs left behind: {left:?}");
        self
    }
}

fn hostile(config: &str, extra: &[&str]) -> Hostile {
    Hostile::run("hostile", config, &[], extra)
}

/// 64-bit FNV-1a, as `plugins/hostile` computes it.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[test]
fn an_endless_loop_is_stopped_by_the_clock() {
    let r = hostile(
        r#"{"mode": "loop"}"#,
        &["--fuel-max", ENDLESS_FUEL, "--wall-time-ms-max", "1000"],
    );
    r.failed("run failed [timeout]: wall-time limit reached: the run took more than 1000 ms")
        .ended_within(Duration::from_millis(1000))
        .no_outputs();
    assert!(
        r.wall_time() >= Duration::from_millis(1000),
        "{}",
        r.stdout()
    );
}

#[test]
fn an_endless_loop_of_host_calls_is_stopped_by_the_clock() {
    let r = hostile(
        r#"{"mode": "busy-wait"}"#,
        &["--fuel-max", ENDLESS_FUEL, "--wall-time-ms-max", "500"],
    );
    r.failed("run failed [timeout]: wall-time limit reached: the run took more than 500 ms")
        .ended_within(Duration::from_millis(500));
    assert!(
        r.wall_time() >= Duration::from_millis(500),
        "{}",
        r.stdout()
    );
}

#[test]
fn a_fuel_burner_runs_out_of_fuel() {
    // Finite: a short burn completes with the digest a native one gives.
    let short = hostile(r#"{"mode": "fuel-burner", "rounds": 1000}"#, &[]);
    short.ok();
    let mut expected = Vec::new();
    for round in 0..1000_u64 {
        expected.extend_from_slice(&round.to_le_bytes());
    }
    assert_eq!(short.item("Digest"), format!("{:016x}", fnv1a(&expected)));

    // The default burn needs ~10^12 fuel; with a minute of wall time,
    // fuel is what stops it, and all of it was used.
    let long = hostile(
        r#"{"mode": "fuel-burner"}"#,
        &["--fuel-max", "100000000", "--wall-time-ms-max", "60000"],
    );
    long.failed(
        "run failed [out_of_fuel]: fuel limit reached: the run used more than 100000000 fuel",
    )
    .ended_within(Duration::from_secs(5));
    assert_eq!(long.number("fuel used: "), 100_000_000.0);
}

#[test]
fn a_memory_bomb_hits_the_memory_limit() {
    let r = hostile(r#"{"mode": "memory-bomb"}"#, &[]);
    r.failed(&format!(
        "run failed [memory_limit]: memory limit reached: the plugin asked for more than {MEMORY_BYTES_MAX} bytes of memory"
    ))
    .ended_within(Duration::from_secs(2));
    let peak = r.number("peak memory: ") as u64;
    assert!(
        peak <= MEMORY_BYTES_MAX && peak > MEMORY_BYTES_MAX / 2,
        "peak memory {peak}"
    );
    // The guest's allocator said why it aborted, on its (captured) stderr.
    assert!(
        r.captured("stderr").contains("memory allocation of"),
        "{}",
        r.stdout()
    );
}

#[test]
fn a_1_gib_output_hits_the_output_limit_and_leaves_no_file() {
    // The plugin ignores every refusal and returns ok; the host still fails
    // the run. A minute of wall time: the limit must be what stops it.
    let r = hostile(
        r#"{"mode": "big-output", "bytes": 1073741824}"#,
        &["--wall-time-ms-max", "60000"],
    );
    r.failed(&format!(
        "run failed [output_limit]: output limit reached: more than {OUTPUT_BYTES_MAX} output bytes"
    ))
    .no_outputs()
    .ended_within(Duration::from_secs(20));
}

#[test]
fn a_panic_is_a_trap_with_the_message_in_the_captured_stderr() {
    let message = "hostile plugin gives up: ⚠ on purpose";
    let r = hostile(
        &format!(r#"{{"mode": "panic", "message": "{message}"}}"#),
        &[],
    );
    r.failed("run failed [trap]: the plugin trapped")
        .failed("unreachable")
        .ended_within(Duration::from_secs(1));
    let stderr = r.captured("stderr");
    assert!(stderr.contains("panicked at"), "{}", r.stdout());
    assert!(stderr.contains(message), "{}", r.stdout());
}

/// The `read-past-end` answers for a source holding `data`.
fn read_probes(data: &[u8]) -> Hostile {
    let work = tempfile::tempdir().unwrap();
    let source = work.path().join("source.bin");
    std::fs::write(&source, data).unwrap();
    let r = Hostile::run("hostile", r#"{"mode": "read-past-end"}"#, &[&source], &[]);
    r.ok();
    assert_eq!(r.item("size"), data.len().to_string());
    r
}

/// `ok <n> bytes fnv1a <hex>` for exactly `bytes`.
fn chunk(bytes: &[u8]) -> String {
    format!("ok {} bytes fnv1a {:016x}", bytes.len(), fnv1a(bytes))
}

#[test]
fn reads_at_or_past_the_end_get_an_empty_chunk_or_out_of_range() {
    // The contract: a read at the end returns an empty chunk, one past it is
    // `out-of-range`, and a `len` above the host's chunk limit (at least
    // 64 KiB) returns fewer bytes, all of them the file's own.
    let data: Vec<u8> = (0..3_u32 << 20).map(|i| (i * 7 % 251) as u8).collect();
    let r = read_probes(&data);
    assert_eq!(r.item("nothing at 0"), chunk(&[]));
    assert_eq!(r.item("at the end"), chunk(&[]));
    for probe in ["one past the end", "far past the end"] {
        let answer = r.item(probe);
        assert!(
            answer.starts_with("error out-of-range: ") && answer.contains("past the end"),
            "{probe}: {answer}"
        );
    }
    let whole = r.item("everything from 0");
    let n: usize = whole
        .strip_prefix("ok ")
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("everything from 0: {whole}"));
    assert!((64 << 10..=data.len()).contains(&n), "{whole}");
    assert_eq!(whole, chunk(&data[..n]), "not the file's first {n} bytes");
    assert_eq!(
        r.item("everything from 10 before the end"),
        chunk(&data[data.len() - 10..])
    );

    // An empty file: offset 0 is its end.
    let r = read_probes(&[]);
    assert_eq!(r.item("at the end"), chunk(&[]));
    assert_eq!(r.item("everything from 0"), chunk(&[]));
    assert!(
        r.item("one past the end")
            .starts_with("error out-of-range: ")
    );
}

#[test]
fn a_read_probe_without_a_source_is_the_plugins_error() {
    hostile(r#"{"mode": "read-past-end"}"#, &[])
        .failed("run failed [plugin_error]: the plugin failed (invalid-source): read-past-end needs a source file");
}

#[test]
fn stdout_stderr_and_log_floods_are_captured_bounded() {
    let flood = 8 << 20;
    let r = hostile(
        &format!(r#"{{"mode": "stdout-flood", "bytes": {flood}}}"#),
        &[],
    );
    r.ok().ended_within(Duration::from_secs(2));
    for stream in ["stdout", "stderr"] {
        let captured = r.captured(stream);
        assert!(
            captured.len() > CAPTURE_BYTES_MAX / 2 && captured.len() <= CAPTURE_BYTES_MAX + 1,
            "captured {stream}: {} bytes",
            captured.len()
        );
        assert!(
            captured.starts_with("flood flood"),
            "{stream}: {captured:.80}"
        );
        // The plugin saw its stream close instead of writing 8 MiB.
        let accepted = r.item(stream);
        let bytes: usize = accepted.split(' ').next().unwrap().parse().unwrap();
        assert!(bytes <= CAPTURE_BYTES_MAX, "{stream}: {accepted}");
        assert!(accepted.contains("then: "), "{stream}: {accepted}");
    }
    let log = r.captured("log");
    assert!(
        log.len() <= CAPTURE_BYTES_MAX * 2,
        "log: {} bytes",
        log.len()
    );
    assert!(
        log.contains("log lines dropped: the log is limited to 65536 bytes"),
        "{log:.200}"
    );
    let sent = r.item("log");
    assert!(
        sent.split(' ').next().unwrap().parse::<u64>().unwrap() >= flood,
        "log: {sent}"
    );
    // Everything the CLI printed, for 24 MiB flooded.
    assert!(r.stdout().len() < 512 << 10, "{} bytes", r.stdout().len());
}

#[test]
fn too_many_items_are_refused() {
    hostile(r#"{"mode": "many-items"}"#, &[])
        .failed("run failed [too_many_items]: too many items: the plugin returned 100000, at most 1000 allowed")
        .ended_within(Duration::from_secs(2));
}

#[test]
fn output_names_with_path_parts_are_refused() {
    let r = hostile(r#"{"mode": "bad-output-name"}"#, &[]);
    r.failed("run failed [plugin_error]: the plugin failed (host): invalid-argument: output name \"../../etc/passwd\": want a plain file name")
        .no_outputs();
    // Every name the plugin tried was refused, none created.
    let log = r.captured("log");
    let answers: Vec<&str> = log.lines().collect();
    assert_eq!(answers.len(), 11, "{log}");
    for answer in &answers {
        assert!(
            answer.starts_with("info: ")
                && answer.contains(": refused: host call failed: invalid argument: output name "),
            "{answer}"
        );
    }
    assert!(answers[0].starts_with(r#"info: "../../etc/passwd": refused"#));
    assert!(!std::env::temp_dir().join("etc/passwd").exists());
}

/// A component the host must refuse at load because it imports
/// `interface`: it really does import it, and it is refused before it
/// runs.
fn refused_at_load(name: &str, interface: &str) -> Hostile {
    let bytes = std::fs::read(component(name)).unwrap();
    assert!(
        bytes
            .windows(interface.len())
            .any(|w| w == interface.as_bytes()),
        "{name} does not import {interface}: the test plugin is not hostile"
    );
    let r = Hostile::run(name, "{}", &[], &[]);
    r.failed("invalid plugin: the component imports `wasi:")
        .failed("which the host does not offer")
        .no_outputs();
    assert!(
        !r.stdout().contains("compiled in") && !r.stdout().contains("items:"),
        "{}",
        r.stdout()
    );
    r
}

#[test]
fn a_plugin_using_std_fs_is_refused_at_load() {
    refused_at_load("hostile_fs", "wasi:filesystem/types@");
    assert!(!Path::new("/tmp/waybill-hostile-fs").exists());
}

#[test]
fn a_plugin_using_std_net_is_refused_at_load() {
    refused_at_load("hostile_net", "wasi:sockets/tcp@");
}

#[test]
fn the_refusal_of_std_fs_names_wasi_filesystem() {
    refused_at_load("hostile_fs", "wasi:filesystem/types@").failed("`wasi:filesystem/");
}

#[test]
fn the_refusal_of_std_net_names_wasi_sockets() {
    refused_at_load("hostile_net", "wasi:sockets/tcp@").failed("`wasi:sockets/");
}
