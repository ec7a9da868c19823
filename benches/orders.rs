//! Benchmark: paid orders per second, bulk prepare and database size, end to end over HTTP against the release binary.
//!
//! Run with `cargo bench --bench orders`. It spawns the real `waybill serve`
//! (the binary cargo builds for this bench) on port 0 with a fresh data dir
//! under `target/tmp`, and drives it the way a shop would:
//!
//! - **disk fsync/s** (baseline): 4 KiB write + `sync_data` in a loop, on
//!   the same file system as the data dir, probed before each client level
//!   and after the last (shared disks drift). Every order commit is
//!   durable, so without group commit orders/s could not exceed it.
//! - **(a) paid orders/s**: C clients (1, 8, 32, 64), each with its own
//!   keep-alive connection, looping create order + record payment (one
//!   standard line) for a fixed time; orders/s and p50/p99 of the pair.
//! - **(c) database size**: a fresh server gets exactly 10,000 paid orders,
//!   is stopped with SIGTERM, and `waybill.redb` is measured.
//! - **(b) bulk prepare**: on a third fresh server, 1,000 paid
//!   personalized orders each get an item, then one
//!   `POST /api/v1/shipments/prepare` names all 1,000 shipments.
//!
//! Non-2xx answers and transport errors are counted and printed, never
//! hidden. `cargo test --benches` (no `--bench` flag) runs a tiny smoke
//! version instead.

use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::Barrier;
use tokio::task::JoinSet;

#[allow(dead_code)] // each bench uses what it needs
mod support;
use support::{cpu_time, load_average};

/// The release binary cargo builds for this bench target.
const BIN: &str = env!("CARGO_BIN_EXE_waybill");
/// `target/tmp`: on the project's disk, unlike a `/tmp` that may be tmpfs.
const TARGET_TMPDIR: &str = env!("CARGO_TARGET_TMPDIR");

const START_TIMEOUT: Duration = Duration::from_secs(30);
const STOP_TIMEOUT: Duration = Duration::from_secs(30);
const HTTP_TIMEOUT: Duration = Duration::from_secs(60);

/// The sizes of a full run; `cargo test --benches` uses [`Plan::SMOKE`].
struct Plan {
    /// One fsync probe before each client level and one after the last.
    fsync_time: Duration,
    clients: &'static [usize],
    phase_time: Duration,
    /// Paid orders in the database whose size (c) reports.
    size_orders: u64,
    size_clients: usize,
    size_time_max: Duration,
    bulk_shipments: usize,
}

impl Plan {
    const FULL: Plan = Plan {
        fsync_time: Duration::from_secs(1),
        clients: &[1, 8, 32, 64],
        phase_time: Duration::from_secs(5),
        size_orders: 10_000,
        size_clients: 32,
        size_time_max: Duration::from_secs(90),
        bulk_shipments: 1_000,
    };
    const SMOKE: Plan = Plan {
        fsync_time: Duration::from_millis(100),
        clients: &[1, 4],
        phase_time: Duration::from_millis(300),
        size_orders: 50,
        size_clients: 4,
        size_time_max: Duration::from_secs(10),
        bulk_shipments: 10,
    };
}

fn main() {
    let smoke = !std::env::args().any(|arg| arg == "--bench");
    let plan = if smoke { &Plan::SMOKE } else { &Plan::FULL };
    fs::create_dir_all(TARGET_TMPDIR).expect("creating target/tmp");
    let scratch = tempfile::Builder::new()
        .prefix("waybill-bench-")
        .tempdir_in(TARGET_TMPDIR)
        .expect("creating a temp dir");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("building the client runtime");
    println!("waybill orders benchmark: {BIN}");
    println!("scratch: {}", scratch.path().display());
    let load_start = load_average();

    let mut failures = Failures::default();

    // (a): one server; a disk fsync probe before each level and after the last.
    let data = scratch.path().join("data-a");
    let server = Server::start(&data, &scratch.path().join("a.stderr.log"));
    runtime.block_on(setup_products(&server.api()));
    let next = Arc::new(AtomicU64::new(0));
    let paid = Arc::new(AtomicU64::new(0));
    let mut probes = vec![fsync_rate(scratch.path(), plan.fsync_time)];
    println!("disk: {:.0} fsync/s (4 KiB write + sync_data)", probes[0]);
    let mut levels = Vec::new();
    for &clients in plan.clients {
        let (mut level, server_cpu, client_cpu) = with_cpu(&server, || {
            runtime.block_on(paid_orders(
                &server,
                clients,
                Until::Elapsed(plan.phase_time),
                &next,
                &paid,
            ))
        });
        level.cpu = Some((server_cpu, client_cpu));
        let probe = fsync_rate(scratch.path(), plan.fsync_time);
        // The disk's rate around this level: the probes just before and after.
        let fsync = (probes[probes.len() - 1] + probe) / 2.0;
        probes.push(probe);
        println!(
            "(a) C={clients:<3} {:>8.0} orders/s  p50 {:>7.1} ms  p99 {:>7.1} ms  ({} orders, {} failed); disk then {probe:.0} fsync/s",
            level.per_sec(),
            ms(level.p(50)),
            ms(level.p(99)),
            level.latencies.len(),
            level.failures.total()
        );
        failures.merge(&level.failures);
        levels.push((clients, level, fsync));
    }
    let a_paid = paid.load(Ordering::Relaxed);
    let a_log = server.stderr_path.clone();
    server.stop();
    let a_db_bytes = db_size(&data);

    // (c): a fresh server holding exactly `size_orders` paid orders.
    let data = scratch.path().join("data-c");
    let server = Server::start(&data, &scratch.path().join("c.stderr.log"));
    runtime.block_on(setup_products(&server.api()));
    let c_paid = Arc::new(AtomicU64::new(0));
    let c_level = runtime.block_on(paid_orders(
        &server,
        plan.size_clients,
        Until::Count(plan.size_orders, plan.size_time_max),
        &Arc::new(AtomicU64::new(0)),
        &c_paid,
    ));
    failures.merge(&c_level.failures);
    let c_paid = c_paid.load(Ordering::Relaxed);
    let c_log = server.stderr_path.clone();
    let stop_time = server.stop();
    let c_db_bytes = db_size(&data);
    println!(
        "(c) {c_paid} paid orders: waybill.redb is {}; SIGTERM to exit {:.2} s",
        mib(c_db_bytes),
        stop_time.as_secs_f64()
    );

    // (b): a fresh server, so the database holds only what the bulk needs.
    let server = Server::start(
        &scratch.path().join("data-b"),
        &scratch.path().join("b.stderr.log"),
    );
    let bulk = runtime.block_on(bulk_prepare(&server, plan.bulk_shipments));
    failures.merge(&bulk.failures);
    let b_log = server.stderr_path.clone();
    server.stop();

    let mut sorted_probes = probes.clone();
    sorted_probes.sort_by(f64::total_cmp);
    let fsync_median = sorted_probes[sorted_probes.len() / 2];

    let load_end = load_average();
    println!();
    println!("== Summary ({} cores) ==", available_cores());
    println!(
        "load average (1/5/15 min) at start: {load_start}; at end: {load_end} (other work on the machine skews everything)"
    );
    println!();
    println!(
        "{:<36} {:>9} {:>8} {:>8} {:>7} {:>9} {:>9}",
        "measure", "per sec", "p50 ms", "p99 ms", "count", "fsync/s", "vs fsync"
    );
    println!(
        "{:<36} {:>9.0} {:>8} {:>8} {:>7} {:>9.0} {:>8.2}×",
        "disk fsync (4 KiB + sync_data), med",
        fsync_median,
        "-",
        "-",
        probes.len(),
        fsync_median,
        1.0
    );
    for (clients, level, fsync) in &levels {
        println!(
            "{:<36} {:>9.0} {:>8.1} {:>8.1} {:>7} {:>9.0} {:>8.2}×",
            format!("(a) paid orders, C={clients}"),
            level.per_sec(),
            ms(level.p(50)),
            ms(level.p(99)),
            level.latencies.len(),
            fsync,
            level.per_sec() / fsync
        );
    }
    println!(
        "{:<36} {:>9.0} {:>8.1} {:>8.1} {:>7} {:>9} {:>9}",
        format!("(c) paid orders, C={}", plan.size_clients),
        c_level.per_sec(),
        ms(c_level.p(50)),
        ms(c_level.p(99)),
        c_level.latencies.len(),
        "-",
        "-"
    );
    println!(
        "{:<36} {:>9.0} {:>8} {:>8} {:>7} {:>9} {:>9}",
        "(b) setup: create+pay, C=32",
        bulk.setup_orders_per_sec,
        "-",
        "-",
        bulk.shipments,
        "-",
        "-"
    );
    println!(
        "{:<36} {:>9.0} {:>8} {:>8} {:>7} {:>9} {:>9}",
        "(b) setup: add item, C=32", bulk.items_per_sec, "-", "-", bulk.shipments, "-", "-"
    );
    println!(
        "{:<36} {:>9.0} {:>8.1} {:>8} {:>7} {:>9} {:>9}",
        format!("(b) bulk prepare, {} in 1 request", bulk.shipments),
        bulk.shipments as f64 / bulk.prepare_time.as_secs_f64(),
        ms(bulk.prepare_time),
        "-",
        bulk.prepared,
        "-",
        "-"
    );
    println!();
    println!(
        "disk fsync/s probes (before C={:?}, then after the last): {}",
        plan.clients,
        probes
            .iter()
            .map(|p| format!("{p:.0}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    for (clients, level, _) in &levels {
        println!("(a) C={clients:<3} {}", level.cpu_text());
    }
    if let Some((clients, best, fsync)) = levels
        .iter()
        .max_by(|a, b| a.1.per_sec().total_cmp(&b.1.per_sec()))
    {
        println!(
            "best: {:.0} paid orders/s at C={clients} = {:.2}× the disk's fsync/s; each order is 2 durable writes (create, pay), so {:.2}× in commits",
            best.per_sec(),
            best.per_sec() / fsync,
            2.0 * best.per_sec() / fsync
        );
    }
    println!(
        "(c) waybill.redb: {} for {c_paid} paid orders = {:.0} bytes/order = {} per 10,000 paid orders",
        mib(c_db_bytes),
        c_db_bytes as f64 / c_paid as f64,
        mib((c_db_bytes as f64 * 10_000.0 / c_paid as f64) as u64)
    );
    println!(
        "    (after (a): {} for {a_paid} paid orders = {:.0} bytes/order)",
        mib(a_db_bytes),
        a_db_bytes as f64 / a_paid as f64
    );
    println!(
        "(b) bulk prepare: {} prepared of {} in {:.1} ms (HTTP {})",
        bulk.prepared,
        bulk.shipments,
        ms(bulk.prepare_time),
        bulk.prepare_status
    );
    println!();
    if failures.total() == 0 {
        println!("failures: none (every answer 2xx, every bulk result prepared)");
    } else {
        println!("failures: {}", failures.total());
        for (what, count) in &failures.counts {
            println!("  {count:>7} × {what}");
        }
        if let Some(first) = &failures.first {
            println!("  first: {first}");
        }
    }
    for (name, log, paid) in [
        ("a", &a_log, a_paid),
        ("c", &c_log, c_paid),
        ("b", &b_log, bulk.prepared as u64),
    ] {
        let (lines, mails, warnings) = log_summary(log);
        println!(
            "server log ({name}): {lines} lines, {mails} buyer mails written for {paid} deliveries by SIGTERM, {} WARN/ERROR lines",
            warnings.len()
        );
        for line in warnings.iter().take(3) {
            println!("  {line}");
        }
    }
    if smoke {
        assert_eq!(failures.total(), 0, "smoke run saw failures");
        assert_eq!(bulk.prepared, bulk.shipments);
    }
}

/// CPU used by the server and by this process (the clients) during `f`.
fn with_cpu<T>(server: &Server, f: impl FnOnce() -> T) -> (T, Duration, Duration) {
    let pid = server.pid();
    let (server_before, client_before) = (cpu_time(&pid), cpu_time("self"));
    let value = f();
    (
        value,
        cpu_time(&pid).saturating_sub(server_before),
        cpu_time("self").saturating_sub(client_before),
    )
}

fn db_size(data: &Path) -> u64 {
    fs::metadata(data.join("waybill.redb"))
        .expect("waybill.redb exists after a run")
        .len()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn mib(bytes: u64) -> String {
    format!("{:.2} MiB", bytes as f64 / (1024.0 * 1024.0))
}

fn available_cores() -> usize {
    thread::available_parallelism().map_or(1, |n| n.get())
}

/// Overwrites 4 KiB blocks of a preallocated 4 MiB file, `sync_data` after
/// each, for `run_for`; returns syncs per second.
fn fsync_rate(dir: &Path, run_for: Duration) -> f64 {
    const BLOCK: u64 = 4096;
    const FILE_BYTES: u64 = 4 << 20;
    let path = dir.join("fsync-probe");
    let file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(&path)
        .expect("creating the fsync probe");
    let block = vec![0x5au8; BLOCK as usize];
    for offset in (0..FILE_BYTES).step_by(BLOCK as usize) {
        file.write_all_at(&block, offset).expect("writing");
    }
    file.sync_all().expect("syncing");
    let start = Instant::now();
    let mut syncs = 0u64;
    let mut offset = 0;
    while start.elapsed() < run_for {
        file.write_all_at(&block, offset).expect("writing");
        file.sync_data().expect("sync_data");
        syncs += 1;
        offset = (offset + BLOCK) % FILE_BYTES;
    }
    let rate = syncs as f64 / start.elapsed().as_secs_f64();
    drop(file);
    let _ = fs::remove_file(path);
    rate
}

/// The log's line count, how many buyer e-mails it holds (without SMTP
/// the server writes them there) and its WARN/ERROR lines.
fn log_summary(path: &Path) -> (usize, usize, Vec<String>) {
    let text = fs::read_to_string(path).unwrap_or_default();
    let mails = text
        .matches("no --smtp-url configured, so written here")
        .count();
    let warnings = text
        .lines()
        .filter(|line| line.contains("WARN") || line.contains("ERROR"))
        .map(str::to_owned)
        .collect();
    (text.lines().count(), mails, warnings)
}

/// One `waybill serve` process; killed on drop if not stopped.
struct Server {
    child: Option<Child>,
    base: String,
    key: String,
    stderr_path: PathBuf,
}

impl Server {
    fn start(data: &Path, stderr_path: &Path) -> Server {
        let started = support::spawn_serve(BIN, data, stderr_path, &[], START_TIMEOUT);
        let server = Server {
            child: Some(started.child),
            base: started.base,
            key: started.key.unwrap_or_default(),
            stderr_path: stderr_path.to_owned(),
        };
        assert!(!server.key.is_empty(), "no admin API key was printed");
        server
    }

    /// A client with its own connection pool (one keep-alive connection when used sequentially).
    fn api(&self) -> Api {
        let client = reqwest::Client::builder()
            .no_proxy()
            .pool_max_idle_per_host(1)
            .timeout(HTTP_TIMEOUT)
            .build()
            .expect("building the HTTP client");
        Api {
            client,
            base: format!("{}/api/v1", self.base),
            auth: format!("Bearer {}", self.key),
        }
    }

    fn pid(&self) -> String {
        self.child.as_ref().map_or(0, Child::id).to_string()
    }

    /// SIGTERM, then waits for the exit; returns how long that took.
    fn stop(mut self) -> Duration {
        let mut child = self.child.take().expect("running");
        let start = Instant::now();
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("running kill");
        assert!(status.success(), "kill -TERM failed");
        loop {
            if let Some(status) = child.try_wait().expect("waiting for the server") {
                if !status.success() {
                    println!("warning: waybill exited with {status} after SIGTERM");
                }
                return start.elapsed();
            }
            if start.elapsed() > STOP_TIMEOUT {
                let _ = child.kill();
                let _ = child.wait();
                panic!("waybill did not exit within {STOP_TIMEOUT:?} of SIGTERM");
            }
            thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[derive(Clone)]
struct Api {
    client: reqwest::Client,
    base: String,
    auth: String,
}

impl Api {
    /// Sends a JSON request; `Err` describes any transport error or non-2xx answer.
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: &Value,
        what: &str,
    ) -> Result<(u16, Value), Failure> {
        let response = self
            .client
            .request(method, format!("{}{path}", self.base))
            .header("authorization", &self.auth)
            .json(body)
            .send()
            .await
            .map_err(|e| Failure::new(format!("{what}: transport error"), e.to_string()))?;
        let status = response.status().as_u16();
        let text = response
            .text()
            .await
            .map_err(|e| Failure::new(format!("{what}: reading body"), e.to_string()))?;
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        if !(200..300).contains(&status) {
            let code = body["code"].as_str().unwrap_or("?");
            return Err(Failure::new(
                format!("{what}: HTTP {status} {code}"),
                body.to_string(),
            ));
        }
        Ok((status, body))
    }

    async fn post(&self, path: &str, body: &Value, what: &str) -> Result<Value, Failure> {
        self.send(reqwest::Method::POST, path, body, what)
            .await
            .map(|(_, body)| body)
    }
}

/// One failed request: a short key for counting and the full detail.
struct Failure {
    what: String,
    detail: String,
}

impl Failure {
    fn new(what: String, detail: String) -> Failure {
        Failure { what, detail }
    }
}

#[derive(Default)]
struct Failures {
    counts: BTreeMap<String, u64>,
    first: Option<String>,
}

impl Failures {
    fn add(&mut self, failure: Failure) {
        *self.counts.entry(failure.what.clone()).or_default() += 1;
        self.first
            .get_or_insert_with(|| format!("{}: {}", failure.what, failure.detail));
    }

    fn merge(&mut self, other: &Failures) {
        for (what, count) in &other.counts {
            *self.counts.entry(what.clone()).or_default() += count;
        }
        if self.first.is_none() {
            self.first.clone_from(&other.first);
        }
    }

    fn total(&self) -> u64 {
        self.counts.values().sum()
    }
}

async fn setup_products(api: &Api) {
    let products = [
        (
            "ebook",
            json!({"name": "Ebook", "kind": "standard",
                   "items": [{"label": "Access code", "value": "X"}]}),
        ),
        (
            "license",
            json!({"name": "License", "kind": "personalized"}),
        ),
    ];
    for (sku, body) in products {
        let result = api
            .send(
                reqwest::Method::PUT,
                &format!("/products/{sku}"),
                &body,
                "put product",
            )
            .await;
        if let Err(failure) = result {
            panic!(
                "creating product {sku}: {} {}",
                failure.what, failure.detail
            );
        }
    }
}

fn order_body(n: u64, sku: &str) -> Value {
    json!({
        "external_id": format!("bench-{sku}-{n}"),
        "buyer": {"email": format!("buyer{n}@example.com"), "name": "Bench Buyer"},
        "lines": [{"sku": sku, "quantity": 1}],
    })
}

/// Creates and pays order `n`; returns the paid order.
async fn create_and_pay(api: &Api, n: u64, sku: &str) -> Result<Value, Failure> {
    let order = api
        .post("/orders", &order_body(n, sku), "create order")
        .await?;
    let id = order["id"]
        .as_str()
        .ok_or_else(|| Failure::new("create order: no id".into(), order.to_string()))?;
    let paid = api
        .post(
            &format!("/orders/{id}/payment"),
            &json!({"reference": format!("P-{n}")}),
            "pay",
        )
        .await?;
    if paid["status"] != "paid" {
        return Err(Failure::new(
            "pay: order not paid".into(),
            paid["status"].to_string(),
        ));
    }
    Ok(paid)
}

#[derive(Clone, Copy)]
enum Until {
    /// For this long after the start.
    Elapsed(Duration),
    /// This many create+pay pairs in all (warm-up included), or this long at most.
    Count(u64, Duration),
}

struct Level {
    elapsed: Duration,
    /// CPU used by the server and by the clients, where measured.
    cpu: Option<(Duration, Duration)>,
    /// Sorted.
    latencies: Vec<Duration>,
    failures: Failures,
}

impl Level {
    fn per_sec(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64()
    }

    /// Server and client CPU as percent of one core, and server CPU µs per
    /// order; empty where not measured.
    fn cpu_text(&self) -> String {
        let Some((server, client)) = self.cpu else {
            return String::new();
        };
        let wall = self.elapsed.as_secs_f64();
        format!(
            "server {:.0}% + clients {:.0}% CPU, {:.0} server CPU µs/order",
            100.0 * server.as_secs_f64() / wall,
            100.0 * client.as_secs_f64() / wall,
            1e6 * server.as_secs_f64() / self.latencies.len().max(1) as f64
        )
    }

    fn p(&self, percent: usize) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let index = (self.latencies.len() * percent / 100).min(self.latencies.len() - 1);
        self.latencies[index]
    }
}

/// `clients` concurrent create+pay loops, each on its own connection. Each
/// client first does one untimed pair (connecting), then all start together.
/// `next` numbers the orders; `paid` counts the paid ones.
async fn paid_orders(
    server: &Server,
    clients: usize,
    until: Until,
    next: &Arc<AtomicU64>,
    paid: &Arc<AtomicU64>,
) -> Level {
    let barrier = Arc::new(Barrier::new(clients));
    let claimed = Arc::new(AtomicU64::new(0));
    let mut tasks = JoinSet::new();
    for _ in 0..clients {
        let api = server.api();
        let barrier = barrier.clone();
        let claimed = claimed.clone();
        let next = next.clone();
        let paid = paid.clone();
        // Whether to start another pair.
        let go = move |start: Instant| match until {
            Until::Elapsed(run_for) => start.elapsed() < run_for,
            Until::Count(total, run_for) => {
                start.elapsed() < run_for && claimed.fetch_add(1, Ordering::Relaxed) < total
            }
        };
        tasks.spawn(async move {
            let mut failures = Failures::default();
            let mut latencies = Vec::new();
            if go(Instant::now()) {
                let n = next.fetch_add(1, Ordering::Relaxed);
                match create_and_pay(&api, n, "ebook").await {
                    Ok(_) => {
                        paid.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(failure) => failures.add(failure),
                }
            }
            barrier.wait().await;
            let start = Instant::now();
            while go(start) {
                let n = next.fetch_add(1, Ordering::Relaxed);
                let began = Instant::now();
                match create_and_pay(&api, n, "ebook").await {
                    Ok(_) => {
                        latencies.push(began.elapsed());
                        paid.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(failure) => failures.add(failure),
                }
            }
            (start, Instant::now(), latencies, failures)
        });
    }
    let mut first_start: Option<Instant> = None;
    let mut last_end: Option<Instant> = None;
    let mut latencies = Vec::new();
    let mut failures = Failures::default();
    while let Some(joined) = tasks.join_next().await {
        let (start, end, mut lat, fail) = joined.expect("client task panicked");
        first_start = Some(first_start.map_or(start, |s| s.min(start)));
        last_end = Some(last_end.map_or(end, |e| e.max(end)));
        latencies.append(&mut lat);
        failures.merge(&fail);
    }
    latencies.sort();
    let elapsed = match (first_start, last_end) {
        (Some(start), Some(end)) => end - start,
        _ => Duration::from_secs(1),
    };
    Level {
        elapsed,
        cpu: None,
        latencies,
        failures,
    }
}

struct Bulk {
    shipments: usize,
    setup_orders_per_sec: f64,
    items_per_sec: f64,
    prepare_time: Duration,
    prepare_status: u16,
    prepared: usize,
    failures: Failures,
}

/// Runs `work(i)` for `i` in `0..count` on `clients` concurrent connections;
/// returns the results in order of `i` and the time taken.
async fn fan_out<T, F, Fut>(
    server: &Server,
    clients: usize,
    count: usize,
    work: F,
) -> (Vec<Option<T>>, Duration, Failures)
where
    T: Send + 'static,
    F: Fn(Api, usize) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Result<T, Failure>> + Send,
{
    let cursor = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut tasks = JoinSet::new();
    for _ in 0..clients {
        let api = server.api();
        let cursor = cursor.clone();
        let work = work.clone();
        tasks.spawn(async move {
            let mut done = Vec::new();
            let mut failures = Failures::default();
            loop {
                let i = cursor.fetch_add(1, Ordering::Relaxed) as usize;
                if i >= count {
                    break;
                }
                match work(api.clone(), i).await {
                    Ok(value) => done.push((i, value)),
                    Err(failure) => failures.add(failure),
                }
            }
            (done, failures)
        });
    }
    let mut results: Vec<Option<T>> = (0..count).map(|_| None).collect();
    let mut failures = Failures::default();
    while let Some(joined) = tasks.join_next().await {
        let (done, fail) = joined.expect("client task panicked");
        for (i, value) in done {
            results[i] = Some(value);
        }
        failures.merge(&fail);
    }
    (results, start.elapsed(), failures)
}

async fn bulk_prepare(server: &Server, count: usize) -> Bulk {
    const CLIENTS: usize = 32;
    let api = server.api();
    let mut failures = Failures::default();
    setup_products(&api).await;

    let (orders, orders_time, fail) = fan_out(server, CLIENTS, count, |api, i| async move {
        let paid = create_and_pay(&api, i as u64, "license").await?;
        let shipment = &paid["shipments"][0];
        if shipment["status"] != "in_preparation" {
            return Err(Failure::new(
                "pay personalized: shipment not in_preparation".into(),
                paid["shipments"].to_string(),
            ));
        }
        Ok(shipment["id"].as_str().unwrap_or_default().to_owned())
    })
    .await;
    failures.merge(&fail);
    let ids: Vec<String> = orders.into_iter().flatten().collect();

    let ids_for_items = Arc::new(ids.clone());
    let (_, items_time, fail) = fan_out(server, CLIENTS, ids.len(), move |api, i| {
        let ids = ids_for_items.clone();
        async move {
            api.post(
                &format!("/shipments/{}/items", ids[i]),
                &json!({"label": "Key", "value": format!("K-{i}")}),
                "add item",
            )
            .await
        }
    })
    .await;
    failures.merge(&fail);

    let body = json!({ "ids": ids });
    let start = Instant::now();
    let answer = api
        .send(
            reqwest::Method::POST,
            "/shipments/prepare",
            &body,
            "bulk prepare",
        )
        .await;
    let prepare_time = start.elapsed();
    let (prepare_status, prepared) = match answer {
        Ok((status, body)) => {
            let results = body["results"].as_array().cloned().unwrap_or_default();
            let mut prepared = 0;
            for result in &results {
                if result["status"] == "prepared" {
                    prepared += 1;
                } else {
                    let code = result["error"]["code"].as_str().unwrap_or("?");
                    failures.add(Failure::new(
                        format!("bulk prepare result: {code}"),
                        result.to_string(),
                    ));
                }
            }
            if results.len() != ids.len() {
                failures.add(Failure::new(
                    "bulk prepare: wrong number of results".into(),
                    format!("{} results for {} ids", results.len(), ids.len()),
                ));
            }
            (status, prepared)
        }
        Err(failure) => {
            failures.add(failure);
            (0, 0)
        }
    };
    Bulk {
        shipments: ids.len(),
        setup_orders_per_sec: ids.len() as f64 / orders_time.as_secs_f64(),
        items_per_sec: ids.len() as f64 / items_time.as_secs_f64(),
        prepare_time,
        prepare_status,
        prepared,
        failures,
    }
}
