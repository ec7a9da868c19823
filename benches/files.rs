//! Benchmark: file downloads vs nginx, upload ingest vs `b3sum` + `zstd -1` and `dd conv=fsync`, the server's RSS, and the redb file's size and space reuse, end to end against the release binary.
//!
//! Run with `benches/files.sh` (installs nginx-light, b3sum, zstd and curl
//! from Debian's packages where missing, then runs `cargo bench --bench
//! files`). It writes two 128 MiB files once (one from a PRNG, one text
//! that zstd -1 shrinks about 5×) under `target/tmp`, spawns the real
//! `waybill serve` (the binary cargo builds for this bench) on port 0 with
//! fresh data dirs there, and measures in interleaved rounds (each round
//! starting with another contender), reporting medians and the median of
//! the per-round ratios:
//!
//! 1. **downloads** over loopback with curl as the client, one at a time
//!    and 8 at once: the buyer URL (`/d/{token}/files/{id}`) against nginx
//!    (`sendfile on`, as Debian installs it) serving the same files from disk;
//! 2. **upload ingest**: `POST /api/v1/files` with curl (hash, compress,
//!    store, durable) against `b3sum FILE` + `zstd -1 -c FILE`, the same
//!    two tools limited to one thread, and `dd bs=1M conv=fsync`;
//! 3. **RSS**: the server's VmHWM (and sampled VmRSS) above its idle RSS,
//!    with a restart between the upload and the download phases;
//! 4. **space**: `waybill.redb` after 8 × 128 MiB of distinct mixed files
//!    against the bytes the server stores for them (per 1 MiB chunk, zstd
//!    -1 where it pays), then after half of them (unreferenced, 1 s grace)
//!    were collected and as much was uploaded again.
//!
//! Every non-2xx answer, wrong size or wrong hash is counted and printed,
//! never hidden. `cargo test --benches` (no `--bench` flag) runs a tiny
//! smoke version instead, skipping the tools that are not installed.

use std::fs::{self, File, Permissions};
use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use waybill::blobs::{CHUNK_BYTES, chunk};

#[allow(dead_code)] // each bench uses what it needs
mod support;
use support::{cpu_time, load_average};

/// The release binary cargo builds for this bench target.
const BIN: &str = env!("CARGO_BIN_EXE_waybill");
/// `target/tmp`: on the project's disk, unlike a `/tmp` that may be tmpfs.
const TARGET_TMPDIR: &str = env!("CARGO_TARGET_TMPDIR");

const START_TIMEOUT: Duration = Duration::from_secs(30);
const STOP_TIMEOUT: Duration = Duration::from_secs(60);
const HTTP_TIMEOUT: Duration = Duration::from_secs(300);
const MIB: u64 = 1024 * 1024;

/// The sizes of a full run; `cargo test --benches` uses [`Plan::SMOKE`].
struct Plan {
    /// Size of the random and the text file.
    file_bytes: u64,
    upload_rounds: usize,
    download_rounds: usize,
    /// Downloads at once in the concurrent measurement.
    concurrent: usize,
    /// Distinct files uploaded for the space measurement (half are collected).
    mixed_files: usize,
    mixed_bytes: u64,
    /// Collect-and-upload-again cycles after the first wave.
    reuse_cycles: usize,
    /// Longest wait for the collection of the unreferenced half.
    gc_wait_max: Duration,
}

impl Plan {
    const FULL: Plan = Plan {
        file_bytes: 128 * MIB,
        upload_rounds: 9,
        download_rounds: 9,
        concurrent: 8,
        mixed_files: 8,
        mixed_bytes: 128 * MIB,
        reuse_cycles: 3,
        gc_wait_max: Duration::from_secs(120),
    };
    const SMOKE: Plan = Plan {
        file_bytes: 3 * MIB + 4321,
        upload_rounds: 1,
        download_rounds: 1,
        concurrent: 2,
        mixed_files: 4,
        mixed_bytes: 2 * MIB + 99,
        reuse_cycles: 2,
        gc_wait_max: Duration::from_secs(30),
    };
}

fn main() {
    let smoke = !std::env::args().any(|arg| arg == "--bench");
    let plan = if smoke { &Plan::SMOKE } else { &Plan::FULL };
    let tools = Tools::find(smoke);
    fs::create_dir_all(TARGET_TMPDIR).expect("creating target/tmp");
    let scratch = tempfile::Builder::new()
        .prefix("waybill-files-bench-")
        .tempdir_in(TARGET_TMPDIR)
        .expect("creating a temp dir");
    // nginx's workers run as `nobody` when started by root: they must read the inputs.
    fs::set_permissions(scratch.path(), Permissions::from_mode(0o755))
        .expect("opening the scratch dir to nginx");
    let scratch = scratch.path();
    println!("waybill files benchmark: {BIN}");
    println!("scratch: {}", scratch.display());
    let load_start = load_average();
    let started = Instant::now();
    let mut failures = Failures::default();

    let inputs_dir = scratch.join("inputs");
    fs::create_dir(&inputs_dir).expect("creating the inputs dir");
    fs::set_permissions(&inputs_dir, Permissions::from_mode(0o755)).expect("chmod inputs");
    let inputs = [
        Input::write(
            &inputs_dir,
            "random.bin",
            "application/octet-stream",
            random_bytes(1, plan.file_bytes),
        ),
        Input::write(
            &inputs_dir,
            "text.txt",
            "text/plain",
            text_bytes(1, plan.file_bytes),
        ),
    ];
    for input in &inputs {
        println!(
            "input {}: {} bytes, stored as {} bytes by the server's chunk encoding ({:.2}× smaller)",
            input.name,
            input.size,
            input.stored,
            input.size as f64 / input.stored as f64
        );
    }

    let shop = setup_shop(scratch, &tools, &inputs, &mut failures);
    let uploads = upload_phase(plan, scratch, &tools, &inputs, &mut failures);
    let downloads = download_phase(
        plan,
        scratch,
        &tools,
        &inputs_dir,
        &inputs,
        &shop,
        &mut failures,
    );
    let space = space_phase(plan, scratch, &mut failures);

    let load_end = load_average();
    println!();
    println!(
        "== Summary ({} cores, {:.0} s in all) ==",
        available_cores(),
        started.elapsed().as_secs_f64()
    );
    println!(
        "load average (1/5/15 min) at start: {load_start}; at end: {load_end} (other work on the machine skews everything)"
    );
    println!("MB = 10^6 bytes; ratios are medians of the per-round ratios");
    downloads.print(plan);
    uploads.print(&inputs);
    print_rss(&uploads.rss, &downloads.rss, &space.rss, plan.concurrent);
    space.print();
    println!();
    failures.print();
    let mut logs: Vec<PathBuf> = fs::read_dir(scratch)
        .map(|dir| dir.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    logs.retain(|p| p.to_string_lossy().ends_with(".stderr.log"));
    logs.sort();
    for path in logs {
        let log = path
            .file_name()
            .map(|n| n.to_string_lossy().replace(".stderr.log", ""))
            .unwrap_or_default();
        let (lines, warnings) = log_summary(&path);
        println!(
            "server log ({log}): {lines} lines, {} WARN/ERROR lines",
            warnings.len()
        );
        for line in warnings.iter().take(3) {
            println!("  {line}");
        }
    }
    if smoke {
        assert_eq!(failures.total(), 0, "smoke run saw failures");
    }
}

/// The command-line tools the benchmark runs.
struct Tools {
    curl: PathBuf,
    nginx: Option<PathBuf>,
    b3sum: Option<PathBuf>,
    zstd: Option<PathBuf>,
    dd: Option<PathBuf>,
}

impl Tools {
    /// A full run needs all of them; a smoke run skips what is missing.
    fn find(smoke: bool) -> Tools {
        let hint = "run benches/files.sh, which installs what is missing (apt-get install -y nginx-light b3sum zstd curl)";
        let curl = which("curl").unwrap_or_else(|| panic!("curl not found: {hint}"));
        let optional = |name: &str| {
            let found = which(name);
            if found.is_none() {
                if smoke {
                    println!("{name} not found: skipped in this smoke run");
                } else {
                    panic!("{name} not found: {hint}");
                }
            }
            found
        };
        Tools {
            curl,
            nginx: optional("nginx"),
            b3sum: optional("b3sum"),
            zstd: optional("zstd"),
            dd: optional("dd"),
        }
    }
}

/// A program on `PATH` or in the sbin directories (where Debian puts nginx).
fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/local/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// One input file, written to disk once and synced.
struct Input {
    path: PathBuf,
    name: &'static str,
    content_type: &'static str,
    size: u64,
    /// The bytes the server stores for it (flag byte + raw or zstd -1, per chunk).
    stored: u64,
    /// BLAKE3 of the content: the id the server must give it.
    hash: String,
}

impl Input {
    fn write(dir: &Path, name: &'static str, content_type: &'static str, bytes: Vec<u8>) -> Input {
        let path = dir.join(name);
        let mut file = File::create(&path).expect("creating an input file");
        file.write_all(&bytes).expect("writing an input file");
        // Synced, so no later `conv=fsync` or commit pays for writing it back.
        file.sync_all().expect("syncing an input file");
        fs::set_permissions(&path, Permissions::from_mode(0o644)).expect("chmod input");
        Input {
            path,
            name,
            content_type,
            size: bytes.len() as u64,
            stored: stored_bytes(&bytes),
            hash: blake3::hash(&bytes).to_hex().to_string(),
        }
    }
}

/// What the server stores for `data`: per chunk a flag byte plus the bytes,
/// zstd -1 compressed when a trial on the first chunk says it pays (the
/// server's own encoder, so this is exact).
fn stored_bytes(data: &[u8]) -> u64 {
    if data.is_empty() {
        return 1;
    }
    let compress = chunk::compression_pays(&data[..CHUNK_BYTES.min(data.len())]);
    data.chunks(CHUNK_BYTES)
        .map(|piece| {
            let mut buf = chunk::new_buffer(piece.len());
            buf.extend_from_slice(piece);
            chunk::encode(buf, compress).len() as u64
        })
        .sum()
}

/// SplitMix64: fast, deterministic, good enough to defeat any compressor.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<'a>(&mut self, list: &[&'a str]) -> &'a str {
        list[self.below(list.len() as u64) as usize]
    }
}

/// `len` bytes from the PRNG seeded with `seed`: incompressible.
fn random_bytes(seed: u64, len: u64) -> Vec<u8> {
    let mut rng = Rng(seed);
    let mut out = Vec::with_capacity(len as usize + 8);
    while (out.len() as u64) < len {
        out.extend_from_slice(&rng.next().to_le_bytes());
    }
    out.truncate(len as usize);
    out
}

const WORDS: &[&str] = &[
    "the",
    "order",
    "buyer",
    "file",
    "download",
    "shipment",
    "seller",
    "product",
    "license",
    "key",
    "translation",
    "contract",
    "design",
    "page",
    "chapter",
    "invoice",
    "payment",
    "receipt",
    "archive",
    "link",
    "river",
    "mountain",
    "garden",
    "window",
    "letter",
    "story",
    "people",
    "market",
    "station",
    "morning",
    "evening",
    "quiet",
    "bright",
    "careful",
    "gentle",
    "quick",
    "slow",
    "early",
    "late",
    "always",
    "never",
    "often",
    "because",
    "although",
    "while",
    "after",
    "before",
    "through",
    "between",
    "under",
    "over",
    "with",
    "without",
    "about",
    "during",
    "every",
    "another",
    "certain",
    "simple",
    "strange",
    "ordinary",
    "several",
    "whole",
    "small",
    "large",
    "little",
    "great",
    "good",
    "new",
    "old",
    "first",
    "last",
    "long",
    "short",
    "open",
    "closed",
    "ready",
    "prepared",
    "delivered",
    "paid",
    "written",
    "kept",
    "found",
    "given",
    "taken",
    "made",
    "seen",
    "known",
    "thought",
    "said",
    "told",
    "asked",
    "answered",
    "waited",
    "walked",
    "worked",
    "lived",
    "moved",
    "turned",
    "started",
    "stopped",
    "finished",
    "a",
    "of",
    "and",
    "to",
    "in",
    "it",
    "was",
    "she",
    "he",
    "they",
    "we",
    "not",
    "but",
    "at",
    "from",
    "by",
    "on",
    "as",
];
const LEVELS: &[&str] = &["INFO ", "INFO ", "INFO ", "DEBUG", "WARN "];
const MODULES: &[&str] = &[
    "waybill::http::api",
    "waybill::fulfilment",
    "waybill::notify::worker",
    "waybill::blobs::gc",
    "waybill::store::writer",
];
const ACTIONS: &[&str] = &[
    "order created",
    "payment recorded",
    "shipment prepared",
    "mail sent",
    "download completed",
    "link reissued",
    "file uploaded",
];
const SKUS: &[&str] = &["ebook", "license", "course", "font-pack", "voucher"];
const PRICES: &[&str] = &["19.00", "49.00", "129.00", "24.50", "10.00"];

/// `len` bytes of text from seed `seed`: log lines mixed with prose, which
/// zstd -1 shrinks about 5× (like logs, exports and documents sellers ship).
fn text_bytes(seed: u64, len: u64) -> Vec<u8> {
    let mut rng = Rng(seed);
    let mut out = Vec::with_capacity(len as usize + 4096);
    let mut clock_ms: u64 = 0;
    let mut order: u64 = 0x10_0000;
    while (out.len() as u64) < len {
        if rng.below(10) < 8 {
            clock_ms += rng.below(300);
            order += rng.below(16);
            let s = clock_ms / 1000;
            let product = rng.below(SKUS.len() as u64) as usize;
            let _ = writeln!(
                out,
                "2026-12-{:02}T{:02}:{:02}:{:02}.{:03}Z {} {}: {} order=ord_{:06x} sku={} qty={} amount={} EUR buyer=buyer{}@example.com took={}ms",
                1 + (s / 86_400) % 28,
                (s / 3600) % 24,
                (s / 60) % 60,
                s % 60,
                clock_ms % 1000,
                rng.pick(LEVELS),
                rng.pick(MODULES),
                rng.pick(ACTIONS),
                order,
                SKUS[product],
                if rng.below(8) == 0 { 2 } else { 1 },
                PRICES[product],
                rng.below(2000),
                rng.below(250),
            );
        } else {
            for _ in 0..2 + rng.below(5) {
                let words = 6 + rng.below(13);
                for w in 0..words {
                    let word = rng.pick(WORDS);
                    if w == 0 {
                        let mut chars = word.chars();
                        if let Some(first) = chars.next() {
                            out.extend(first.to_uppercase().to_string().bytes());
                            out.extend(chars.as_str().bytes());
                        }
                    } else {
                        out.push(b' ');
                        out.extend(word.bytes());
                    }
                }
                out.extend_from_slice(if rng.below(4) == 0 { b"; " } else { b". " });
            }
            out.push(b'\n');
        }
    }
    out.truncate(len as usize);
    out
}

/// One `waybill serve` process; killed on drop if not stopped.
struct Server {
    child: Option<Child>,
    base: String,
    key: String,
    client: reqwest::blocking::Client,
}

impl Server {
    /// Starts on `data`; `key` is the admin key of an existing data dir
    /// (printed on the first start only).
    fn start(data: &Path, stderr_path: &Path, extra: &[&str], key: Option<&str>) -> Server {
        let started = support::spawn_serve(BIN, data, stderr_path, extra, START_TIMEOUT);
        let server = Server {
            child: Some(started.child),
            base: started.base,
            key: started.key.or(key.map(str::to_owned)).unwrap_or_default(),
            client: reqwest::blocking::Client::builder()
                .no_proxy()
                .timeout(HTTP_TIMEOUT)
                .build()
                .expect("building the HTTP client"),
        };
        assert!(!server.key.is_empty(), "no admin API key");
        server
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// An API call; `Err` describes a transport error or non-2xx answer.
    fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Value), String> {
        let mut request = self
            .client
            .request(method.clone(), format!("{}/api/v1{path}", self.base))
            .header("authorization", format!("Bearer {}", self.key));
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .map_err(|e| format!("{method} {path}: {e}"))?;
        let status = response.status().as_u16();
        let text = response
            .text()
            .map_err(|e| format!("{method} {path}: reading: {e}"))?;
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        if (200..300).contains(&status) {
            Ok((status, value))
        } else {
            Err(format!("{method} {path}: HTTP {status} {value}"))
        }
    }

    /// An API call that must succeed (setup steps).
    fn must(&self, method: reqwest::Method, path: &str, body: Option<&Value>) -> Value {
        self.call(method, path, body)
            .unwrap_or_else(|e| panic!("{e}"))
            .1
    }

    /// The HTTP status of `GET /api/v1{path}`.
    fn status_of(&self, path: &str) -> u16 {
        self.client
            .get(format!("{}/api/v1{path}", self.base))
            .header("authorization", format!("Bearer {}", self.key))
            .send()
            .map_or(0, |r| r.status().as_u16())
    }

    /// `POST /api/v1/files` of a disk file, streamed by curl.
    fn upload_command(&self, curl: &Path, input: &Input) -> Command {
        let mut cmd = Command::new(curl);
        cmd.args(["-sS", "-X", "POST", "-T"])
            .arg(&input.path)
            // No `Expect: 100-continue` round trip.
            .args(["-H", "Expect:", "-H"])
            .arg(format!("Authorization: Bearer {}", self.key))
            .arg("-H")
            .arg(format!("Content-Type: {}", input.content_type))
            .args(["-w", "\n%{http_code}"])
            .arg(format!("{}/api/v1/files?name={}", self.base, input.name));
        cmd
    }

    /// Uploads bytes from memory; returns the new file's id.
    fn upload_bytes(&self, name: &str, bytes: Vec<u8>) -> Result<String, String> {
        let response = self
            .client
            .post(format!("{}/api/v1/files?name={name}", self.base))
            .header("authorization", format!("Bearer {}", self.key))
            .header("content-type", "application/octet-stream")
            .body(bytes)
            .send()
            .map_err(|e| format!("upload {name}: {e}"))?;
        let status = response.status().as_u16();
        let text = response.text().unwrap_or_default();
        let value: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        if status != 201 {
            return Err(format!("upload {name}: HTTP {status} {value}"));
        }
        Ok(value["id"].as_str().unwrap_or_default().to_owned())
    }

    /// Waits until the server has used no CPU for a while (start-up GC,
    /// outbox, commits done), at most 30 s.
    fn settle(&self) {
        let pid = self.pid().to_string();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let before = cpu_time(&pid);
            thread::sleep(Duration::from_millis(400));
            if cpu_time(&pid).saturating_sub(before) <= Duration::from_millis(10)
                || Instant::now() > deadline
            {
                return;
            }
        }
    }

    /// SIGTERM, then waits for the exit.
    fn stop(mut self) {
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
                return;
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

/// nginx serving a directory on a free loopback port, in the foreground.
struct Nginx {
    child: Option<Child>,
    base: String,
}

impl Nginx {
    fn start(bin: &Path, root: &Path, dir: &Path) -> Nginx {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("finding a free port")
            .port();
        let prefix = dir.join("nginx");
        fs::create_dir_all(&prefix).expect("creating the nginx dir");
        let p = prefix.display();
        // Like Debian's default nginx.conf where it matters (sendfile,
        // tcp_nopush, workers = cores), minus logging and everything else.
        let conf = format!(
            "# nginx for the files benchmark: the inputs, from disk, on loopback.
daemon off;
worker_processes auto;
pid {p}/nginx.pid;
error_log {p}/error.log warn;
events {{ worker_connections 256; }}
http {{
    sendfile on;
    tcp_nopush on;
    access_log off;
    types {{ text/plain txt; application/octet-stream bin; }}
    default_type application/octet-stream;
    client_body_temp_path {p}/body;
    proxy_temp_path {p}/proxy;
    fastcgi_temp_path {p}/fastcgi;
    uwsgi_temp_path {p}/uwsgi;
    scgi_temp_path {p}/scgi;
    server {{
        listen 127.0.0.1:{port};
        root {root};
        location / {{ }}
    }}
}}
",
            root = root.display()
        );
        let conf_path = prefix.join("nginx.conf");
        fs::write(&conf_path, conf).expect("writing nginx.conf");
        let error_log = prefix.join("error.log");
        let child = Command::new(bin)
            .arg("-p")
            .arg(&prefix)
            .arg("-c")
            .arg(&conf_path)
            .arg("-e")
            .arg(&error_log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("spawning {}: {e}", bin.display()));
        let mut nginx = Nginx {
            child: Some(child),
            base: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + START_TIMEOUT;
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            let exited = nginx
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten());
            if exited.is_some() || Instant::now() > deadline {
                panic!(
                    "nginx did not start ({exited:?}): {}",
                    fs::read_to_string(&error_log).unwrap_or_default()
                );
            }
            thread::sleep(Duration::from_millis(20));
        }
        nginx
    }

    /// SIGTERM (fast shutdown), then waits for the master to exit.
    fn stop(mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let start = Instant::now();
        while child.try_wait().ok().flatten().is_none() {
            if start.elapsed() > STOP_TIMEOUT {
                let _ = child.kill();
                let _ = child.wait();
                return;
            }
            thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let _ = child.wait();
        }
    }
}

#[derive(Default)]
struct Failures {
    items: Vec<String>,
}

impl Failures {
    fn add(&mut self, what: String) {
        println!("FAILURE: {what}");
        self.items.push(what);
    }

    fn total(&self) -> usize {
        self.items.len()
    }

    fn print(&self) {
        if self.items.is_empty() {
            println!(
                "failures: none (every answer as expected, every size and hash right, every collection done)"
            );
        } else {
            println!("failures: {}", self.items.len());
            for item in self.items.iter().take(10) {
                println!("  {item}");
            }
        }
    }
}

/// The shop the download phase uses: both inputs on one product, one paid
/// order whose shipment was prepared with them.
struct Shop {
    key: String,
    shipment_id: String,
    file_ids: Vec<String>,
}

fn setup_shop(scratch: &Path, tools: &Tools, inputs: &[Input], failures: &mut Failures) -> Shop {
    let server = Server::start(
        &scratch.join("data-d"),
        &scratch.join("d0.stderr.log"),
        &[],
        None,
    );
    let mut file_ids = Vec::new();
    for input in inputs {
        let (status, body, _) = run_upload(&server, tools, input);
        if status != 201 || body["id"] != input.hash.as_str() {
            failures.add(format!(
                "setup upload of {}: HTTP {status}, {body}, expected id {}",
                input.name, input.hash
            ));
        }
        file_ids.push(input.hash.clone());
    }
    server.must(
        reqwest::Method::PUT,
        "/products/ebook",
        Some(&json!({"name": "Ebook", "kind": "standard", "files": file_ids, "download_limit": null})),
    );
    let order = server.must(
        reqwest::Method::POST,
        "/orders",
        Some(&json!({"external_id": "bench-files-1",
                     "buyer": {"email": "a@example.com", "name": "A"},
                     "lines": [{"sku": "ebook", "quantity": 1}]})),
    );
    let order_id = order["id"].as_str().expect("order id").to_owned();
    let paid = server.must(
        reqwest::Method::POST,
        &format!("/orders/{order_id}/payment"),
        Some(&json!({"reference": "P"})),
    );
    let shipment_id = paid["shipments"][0]["id"]
        .as_str()
        .expect("shipment id")
        .to_owned();
    let key = server.key.clone();
    server.stop();
    Shop {
        key,
        shipment_id,
        file_ids,
    }
}

/// Runs one curl upload; (HTTP status, body, wall time).
fn run_upload(server: &Server, tools: &Tools, input: &Input) -> (u16, Value, Duration) {
    let mut cmd = server.upload_command(&tools.curl, input);
    let start = Instant::now();
    let output = cmd.output().expect("running curl");
    let elapsed = start.elapsed();
    let text = String::from_utf8_lossy(&output.stdout);
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    let status = code.trim().parse().unwrap_or(0);
    let body = serde_json::from_str(body).unwrap_or_else(|_| {
        Value::String(format!(
            "{body} {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    });
    (status, body, elapsed)
}

/// Runs a command to completion; its wall time, or what went wrong.
fn timed(cmd: &mut Command) -> Result<(Duration, Vec<u8>), String> {
    let start = Instant::now();
    let output = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{cmd:?}: {e}"))?;
    let elapsed = start.elapsed();
    if !output.status.success() {
        return Err(format!(
            "{cmd:?}: {}: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    Ok((elapsed, output.stdout))
}

/// Peak-memory observations of one phase, in KiB.
#[derive(Default, Clone, Copy)]
struct Rss {
    idle: u64,
    /// VmHWM at the end of the phase (the whole process's peak).
    hwm: u64,
    /// The largest VmRSS sampled every 5 ms during the phase.
    sampled: u64,
}

/// A `kB` field of `/proc/<pid>/status`.
fn status_kib(pid: u32, field: &str) -> u64 {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// Samples a process's VmRSS in the background.
struct RssSampler {
    stop: Arc<AtomicBool>,
    handle: thread::JoinHandle<u64>,
}

impl RssSampler {
    fn start(pid: u32) -> RssSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = thread::spawn(move || {
            let mut max = 0;
            while !flag.load(Ordering::Relaxed) {
                max = max.max(status_kib(pid, "VmRSS:"));
                thread::sleep(Duration::from_millis(5));
            }
            max
        });
        RssSampler { stop, handle }
    }

    fn finish(self, pid: u32, idle: u64) -> Rss {
        self.stop.store(true, Ordering::Relaxed);
        let sampled = self.handle.join().unwrap_or(0);
        Rss {
            idle,
            hwm: status_kib(pid, "VmHWM:"),
            sampled,
        }
    }
}

// ---------------------------------------------------------------- uploads

#[derive(Clone, Copy, PartialEq, Eq)]
enum Up {
    Waybill,
    Tools,
    ToolsOneThread,
    Dd,
}

const UPS: [Up; 4] = [Up::Waybill, Up::Tools, Up::ToolsOneThread, Up::Dd];

impl Up {
    fn label(self) -> &'static str {
        match self {
            Up::Waybill => "Waybill `POST /api/v1/files` (curl -T)",
            Up::Tools => "`b3sum` + `zstd -1 -c` (their defaults)",
            Up::ToolsOneThread => "`b3sum --num-threads 1` + `zstd -1 -T1`",
            Up::Dd => "`dd bs=1M conv=fsync`",
        }
    }
}

struct Uploads {
    /// Seconds per [input][contender], one entry per round; empty where skipped.
    secs: Vec<[Vec<f64>; 4]>,
    /// Server CPU seconds over all Waybill uploads of each input.
    server_cpu: Vec<f64>,
    rss: Rss,
}

fn upload_phase(
    plan: &Plan,
    scratch: &Path,
    tools: &Tools,
    inputs: &[Input],
    failures: &mut Failures,
) -> Uploads {
    println!();
    println!("== upload ingest ==");
    let data = scratch.join("data-u");
    // GC held off: no collection runs during the measurement.
    let server = Server::start(
        &data,
        &scratch.join("u.stderr.log"),
        &["--gc-interval-secs", "86400"],
        None,
    );
    let pid = server.pid();
    let _ = server.status_of("/products/none");
    server.settle();
    let idle = status_kib(pid, "VmRSS:");
    let sampler = RssSampler::start(pid);
    let mut secs: Vec<[Vec<f64>; 4]> = inputs.iter().map(|_| Default::default()).collect();
    let mut server_cpu = vec![0.0; inputs.len()];
    let out = scratch.join("dd.out");
    for round in 0..plan.upload_rounds {
        for (i, input) in inputs.iter().enumerate() {
            for k in 0..UPS.len() {
                let up = UPS[(round + i + k) % UPS.len()];
                let result = match up {
                    Up::Waybill => {
                        let cpu = cpu_time(&pid.to_string());
                        let (status, body, elapsed) = run_upload(&server, tools, input);
                        server_cpu[i] +=
                            cpu_time(&pid.to_string()).saturating_sub(cpu).as_secs_f64();
                        if status == 201 && body["id"] == input.hash.as_str() {
                            Ok(elapsed)
                        } else {
                            Err(format!("upload {}: HTTP {status} {body}", input.name))
                        }
                    }
                    Up::Tools | Up::ToolsOneThread => {
                        hash_and_compress(tools, input, up == Up::ToolsOneThread)
                    }
                    Up::Dd => match &tools.dd {
                        None => continue,
                        Some(dd) => {
                            let result = timed(
                                Command::new(dd)
                                    .arg(format!("if={}", input.path.display()))
                                    .arg(format!("of={}", out.display()))
                                    .args(["bs=1M", "conv=fsync", "status=none"]),
                            )
                            .map(|(elapsed, _)| elapsed);
                            let _ = fs::remove_file(&out);
                            result
                        }
                    },
                };
                match result {
                    Ok(elapsed) => secs[i][up as usize].push(elapsed.as_secs_f64()),
                    Err(e) if e.is_empty() => {}
                    Err(e) => failures.add(e),
                }
            }
            let line: Vec<String> = UPS
                .iter()
                .filter_map(|&up| {
                    secs[i][up as usize]
                        .last()
                        .map(|s| format!("{:.0}", input.size as f64 / s / 1e6))
                })
                .collect();
            println!(
                "round {} {:<10} MB/s (waybill, tools, tools 1 thread, dd): {}",
                round + 1,
                input.name,
                line.join(", ")
            );
        }
    }
    let rss = sampler.finish(pid, idle);
    server.stop();
    // Every upload after the first of a file was a duplicate whose chunks
    // wait in the trash (GC held off): nothing to measure here.
    let _ = fs::remove_dir_all(&data);
    Uploads {
        secs,
        server_cpu,
        rss,
    }
}

/// `b3sum FILE` (checked against the expected id) then `zstd -1 -c FILE >
/// /dev/null`: the sum of both times. `Err("")` when a tool is missing.
fn hash_and_compress(tools: &Tools, input: &Input, one_thread: bool) -> Result<Duration, String> {
    let (Some(b3sum), Some(zstd)) = (&tools.b3sum, &tools.zstd) else {
        return Err(String::new());
    };
    let mut hash = Command::new(b3sum);
    if one_thread {
        hash.args(["--num-threads", "1"]);
    }
    hash.arg("--no-names").arg(&input.path);
    let (hash_time, stdout) = timed(&mut hash)?;
    let printed = String::from_utf8_lossy(&stdout).trim().to_owned();
    if printed != input.hash {
        return Err(format!(
            "b3sum {} printed {printed}, the server's id is {}",
            input.name, input.hash
        ));
    }
    let mut compress = Command::new(zstd);
    compress.args(["-1", "-c", "-q"]);
    if one_thread {
        compress.arg("-T1");
    }
    compress.arg(&input.path).stdout(Stdio::null());
    let start = Instant::now();
    let status = compress
        .stdin(Stdio::null())
        .status()
        .map_err(|e| e.to_string())?;
    let compress_time = start.elapsed();
    if !status.success() {
        return Err(format!("zstd {}: {status}", input.name));
    }
    Ok(hash_time + compress_time)
}

impl Uploads {
    fn print(&self, inputs: &[Input]) {
        println!();
        println!(
            "upload ingest, {} each (goal: Waybill ≥ 0.5× dd; last column: Waybill's MB/s over this row's)",
            mib(inputs.first().map_or(0, |i| i.size))
        );
        println!("| file | contender | MB/s | Waybill / this |");
        println!("| --- | --- | ---: | ---: |");
        for (i, input) in inputs.iter().enumerate() {
            let waybill = &self.secs[i][Up::Waybill as usize];
            for up in UPS {
                let secs = &self.secs[i][up as usize];
                if secs.is_empty() {
                    continue;
                }
                let mbps: Vec<f64> = secs.iter().map(|s| input.size as f64 / s / 1e6).collect();
                let ratios: Vec<f64> = waybill.iter().zip(secs).map(|(w, s)| s / w).collect();
                println!(
                    "| {} | {} | {:.0} | {:.2}× |",
                    input.name,
                    up.label(),
                    median(&mbps),
                    median(&ratios)
                );
            }
        }
        for (i, input) in inputs.iter().enumerate() {
            let bytes = input.size as f64 * self.secs[i][Up::Waybill as usize].len() as f64;
            if bytes == 0.0 {
                continue;
            }
            println!(
                "server CPU while ingesting {}: {:.2} CPU-s per GiB ({:.0}% of a core at the median rate)",
                input.name,
                self.server_cpu[i] / bytes * (1u64 << 30) as f64,
                100.0 * self.server_cpu[i] / self.secs[i][Up::Waybill as usize].iter().sum::<f64>()
            );
        }
    }
}

// -------------------------------------------------------------- downloads

struct Downloads {
    /// MB/s per [clients 1, concurrent][input][0 waybill, 1 nginx], one per round.
    rates: [Vec<[Vec<f64>; 2]>; 2],
    /// Server CPU seconds and bytes sent, per [clients 1, concurrent].
    server_cpu: [f64; 2],
    server_bytes: [u64; 2],
    /// Per [clients 1, concurrent]: the server is restarted between the two.
    rss: [Rss; 2],
}

fn download_phase(
    plan: &Plan,
    scratch: &Path,
    tools: &Tools,
    inputs_dir: &Path,
    inputs: &[Input],
    shop: &Shop,
    failures: &mut Failures,
) -> Downloads {
    println!();
    println!("== downloads ==");
    let nginx = tools
        .nginx
        .as_ref()
        .map(|bin| Nginx::start(bin, inputs_dir, scratch));
    let mut downloads = Downloads {
        rates: [
            inputs.iter().map(|_| Default::default()).collect(),
            inputs.iter().map(|_| Default::default()).collect(),
        ],
        server_cpu: [0.0; 2],
        server_bytes: [0; 2],
        rss: [Rss::default(); 2],
    };
    for (sub, clients) in [(0, 1), (1, plan.concurrent)] {
        // A fresh process per sub-phase, so each has its own VmHWM.
        let server = Server::start(
            &scratch.join("data-d"),
            &scratch.join(format!("d{clients}.stderr.log")),
            &[],
            Some(&shop.key),
        );
        let pid = server.pid();
        let shipment = server.must(
            reqwest::Method::GET,
            &format!("/shipments/{}", shop.shipment_id),
            None,
        );
        // `delivered` once the first sub-phase completed a download.
        if shipment["status"] != "prepared" && shipment["status"] != "delivered" {
            failures.add(format!(
                "shipment not prepared: {}",
                shipment["status"].as_str().unwrap_or("?")
            ));
        }
        let link = shipment["download_url"]
            .as_str()
            .expect("a download link")
            .to_owned();
        // [input][0 waybill, 1 nginx]
        let urls: Vec<[Option<String>; 2]> = inputs
            .iter()
            .zip(&shop.file_ids)
            .map(|(input, id)| {
                [
                    Some(format!("{link}/files/{id}")),
                    nginx.as_ref().map(|n| format!("{}/{}", n.base, input.name)),
                ]
            })
            .collect();
        server.settle();
        let idle = status_kib(pid, "VmRSS:");
        let sampler = RssSampler::start(pid);
        let combos: Vec<(usize, usize)> =
            (0..inputs.len()).flat_map(|i| [(i, 0), (i, 1)]).collect();
        let rates = &mut downloads.rates[sub];
        for round in 0..plan.download_rounds {
            for k in 0..combos.len() {
                let (i, who) = combos[(round + k) % combos.len()];
                let Some(url) = &urls[i][who] else { continue };
                let cpu = cpu_time(&pid.to_string());
                let result = curl_downloads(&tools.curl, url, clients, inputs[i].size);
                if who == 0 {
                    downloads.server_cpu[sub] +=
                        cpu_time(&pid.to_string()).saturating_sub(cpu).as_secs_f64();
                    downloads.server_bytes[sub] += inputs[i].size * clients as u64;
                }
                match result {
                    Ok(mbps) => rates[i][who].push(mbps),
                    Err(e) => failures.add(e),
                }
            }
            let last: Vec<String> = rates
                .iter()
                .flat_map(|pair| pair.iter().filter_map(|v| v.last()))
                .map(|v| format!("{v:.0}"))
                .collect();
            println!(
                "round {} with {clients} at once: MB/s (waybill random, nginx random, waybill text, nginx text): {}",
                round + 1,
                last.join(", ")
            );
        }
        downloads.rss[sub] = sampler.finish(pid, idle);
        if sub == 0 {
            // Once, after the measurement: both send exactly the input's bytes.
            for (input, urls) in inputs.iter().zip(&urls) {
                for url in urls.iter().flatten() {
                    match curl_hash(&tools.curl, url) {
                        Ok(hash) if hash == input.hash => {}
                        Ok(hash) => failures.add(format!("{url}: content hashes to {hash}")),
                        Err(e) => failures.add(e),
                    }
                }
            }
        }
        server.stop();
    }
    if let Some(nginx) = nginx {
        nginx.stop();
    }
    downloads
}

/// `clients` curl downloads of `url` at once to /dev/null; the aggregate MB/s
/// (one client: curl's own transfer time; several: wall time of them all).
fn curl_downloads(curl: &Path, url: &str, clients: usize, size: u64) -> Result<f64, String> {
    let start = Instant::now();
    let children: Vec<Child> = (0..clients)
        .map(|_| {
            Command::new(curl)
                .args([
                    "-sS",
                    "-o",
                    "/dev/null",
                    "-w",
                    "%{http_code} %{size_download} %{time_total}",
                ])
                .arg(url)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawning curl")
        })
        .collect();
    let mut outcomes = Vec::new();
    for child in children {
        let output = child.wait_with_output().expect("waiting for curl");
        outcomes.push(output);
    }
    let wall = start.elapsed().as_secs_f64();
    let mut curl_time = 0.0;
    for output in &outcomes {
        let text = String::from_utf8_lossy(&output.stdout);
        let fields: Vec<&str> = text.split_whitespace().collect();
        let (status, got, time) = match fields.as_slice() {
            [status, got, time] => (
                status.parse::<u16>().unwrap_or(0),
                got.parse::<u64>().unwrap_or(0),
                time.parse::<f64>().unwrap_or(0.0),
            ),
            _ => (0, 0, 0.0),
        };
        if status != 200 || got != size {
            return Err(format!(
                "GET {url}: HTTP {status}, {got} of {size} bytes {}",
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
        curl_time = time;
    }
    if clients == 1 {
        Ok(size as f64 / curl_time.max(1e-9) / 1e6)
    } else {
        Ok(size as f64 * clients as f64 / wall / 1e6)
    }
}

/// Downloads `url` with curl into this process and hashes it (BLAKE3 hex).
fn curl_hash(curl: &Path, url: &str) -> Result<String, String> {
    let mut child = Command::new(curl)
        .args(["-sS", "-f"])
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning curl");
    let mut stdout = child.stdout.take().expect("piped stdout");
    let mut hasher = blake3::Hasher::new();
    let mut buf = vec![0u8; 1 << 20];
    let read = loop {
        match stdout.read(&mut buf) {
            Ok(0) => break Ok(()),
            Ok(n) => {
                hasher.update(&buf[..n]);
            }
            Err(e) => break Err(format!("GET {url}: {e}")),
        }
    };
    drop(stdout);
    let output = child.wait_with_output().expect("waiting for curl");
    if !output.status.success() {
        return Err(format!(
            "GET {url}: curl {}: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    read?;
    Ok(hasher.finalize().to_hex().to_string())
}

impl Downloads {
    fn print(&self, plan: &Plan) {
        println!();
        println!("downloads over loopback, curl to /dev/null (goal: Waybill ≥ 0.8× nginx)");
        println!(
            "| file | clients | Waybill MB/s | nginx MB/s | Waybill / nginx | server CPU-s per GiB |"
        );
        println!("| --- | ---: | ---: | ---: | ---: | ---: |");
        for (sub, clients) in [(0, 1), (1, plan.concurrent)] {
            for (pair, name) in self.rates[sub].iter().zip(["random", "text"]) {
                let ratios: Vec<f64> = pair[0].iter().zip(&pair[1]).map(|(w, n)| w / n).collect();
                let nginx = if pair[1].is_empty() {
                    "-".to_owned()
                } else {
                    format!("{:.0}", median(&pair[1]))
                };
                let ratio = if ratios.is_empty() {
                    "-".to_owned()
                } else {
                    format!("{:.2}×", median(&ratios))
                };
                println!(
                    "| {name} | {clients} | {:.0} | {nginx} | {ratio} | {:.2} (both files) |",
                    median(&pair[0]),
                    self.server_cpu[sub] / self.server_bytes[sub].max(1) as f64
                        * (1u64 << 30) as f64
                );
            }
        }
    }
}

// ------------------------------------------------------------------ space

/// `waybill.redb` at one step of the space measurement.
struct SpaceStep {
    what: String,
    /// What the server stores for the files alive at this step.
    live: u64,
    /// The file's length.
    file: u64,
    /// redb's own accounting, read with the server stopped.
    stats: Option<RedbStats>,
}

struct Space {
    steps: Vec<SpaceStep>,
    /// Stored bytes uploaded after each collection, in all.
    reuploaded: u64,
    /// Seconds from each restart with a 1 s grace until the unreferenced were gone.
    gc_secs: Vec<f64>,
    rss: Rss,
}

/// What redb says of its file: allocated pages, the bytes of keys and
/// values in them, and free or wasted space (free pages included).
struct RedbStats {
    allocated: u64,
    stored: u64,
    fragmented: u64,
}

/// Opens the (stopped) server's database and reads its statistics.
fn redb_stats(data: &Path) -> Option<RedbStats> {
    let db = redb::Database::open(data.join("waybill.redb")).ok()?;
    let tx = db.begin_write().ok()?;
    let stats = tx.stats().ok()?;
    tx.abort().ok()?;
    Some(RedbStats {
        allocated: stats.allocated_pages() * stats.page_size() as u64,
        stored: stats.stored_bytes(),
        fragmented: stats.fragmented_bytes(),
    })
}

/// Mixed file `i` of a wave: even ones random, odd ones text, distinct by `seed`.
fn mixed_file(i: usize, seed: u64, size: u64) -> (String, Vec<u8>) {
    if i.is_multiple_of(2) {
        (format!("mixed-{seed}.bin"), random_bytes(seed, size))
    } else {
        (format!("mixed-{seed}.txt"), text_bytes(seed, size))
    }
}

/// Uploads mixed files `indexes` with seeds `seed + i`; their ids and stored bytes.
fn upload_mixed(
    server: &Server,
    indexes: &[usize],
    seed: u64,
    size: u64,
    failures: &mut Failures,
) -> (Vec<String>, Vec<u64>) {
    let mut ids = Vec::new();
    let mut stored = Vec::new();
    for &i in indexes {
        let (name, bytes) = mixed_file(i, seed + i as u64, size);
        stored.push(stored_bytes(&bytes));
        let hash = blake3::hash(&bytes).to_hex().to_string();
        match server.upload_bytes(&name, bytes) {
            Ok(id) if id == hash => {}
            Ok(id) => failures.add(format!("upload {name}: id {id}, content hash {hash}")),
            Err(e) => failures.add(e),
        }
        ids.push(hash);
    }
    (ids, stored)
}

fn space_phase(plan: &Plan, scratch: &Path, failures: &mut Failures) -> Space {
    println!();
    println!("== space ==");
    let data = scratch.join("data-s");
    let mut steps = Vec::new();
    let mut step = |what: String, live: u64| {
        let file = db_size(&data);
        let stats = redb_stats(&data);
        if db_size(&data) != file {
            println!("warning: reading redb's statistics changed the file's length");
        }
        println!(
            "{what}: stored {} → waybill.redb {}, redb allocated {}",
            mib(live),
            mib(file),
            stats.as_ref().map_or("?".to_owned(), |s| mib(s.allocated))
        );
        steps.push(SpaceStep {
            what,
            live,
            file,
            stats,
        });
    };

    let server = Server::start(&data, &scratch.join("s1.stderr.log"), &[], None);
    let pid = server.pid();
    let key = server.key.clone();
    let _ = server.status_of("/products/none");
    server.settle();
    let idle = status_kib(pid, "VmRSS:");
    let sampler = RssSampler::start(pid);
    // Keep 0, 3, 4, 7, …: the collected half (1, 2, 5, 6, …) lies between
    // kept files, so reuse cannot come from merely truncating the file's end.
    let all: Vec<usize> = (0..plan.mixed_files).collect();
    let (ids, stored) = upload_mixed(&server, &all, 100, plan.mixed_bytes, failures);
    let rss = sampler.finish(pid, idle);
    let kept: Vec<usize> = all
        .iter()
        .copied()
        .filter(|i| i % 4 == 0 || i % 4 == 3)
        .collect();
    let dropped: Vec<usize> = all.iter().copied().filter(|i| !kept.contains(i)).collect();
    let kept_ids: Vec<&String> = kept.iter().map(|&i| &ids[i]).collect();
    server.must(
        reqwest::Method::PUT,
        "/products/kept",
        Some(
            &json!({"name": "Kept", "kind": "standard", "files": kept_ids, "download_limit": null}),
        ),
    );
    // The unreferenced half: what each collection removes.
    let mut unreferenced: Vec<String> = dropped.iter().map(|&i| ids[i].clone()).collect();
    let mut unreferenced_stored: u64 = dropped.iter().map(|&i| stored[i]).sum();
    server.stop();
    let mut live: u64 = stored.iter().sum();
    step(
        format!(
            "{} distinct files of {} (half random, half text), {} referenced",
            plan.mixed_files,
            mib(plan.mixed_bytes),
            kept.len()
        ),
        live,
    );

    let mut gc_secs = Vec::new();
    let mut reuploaded = 0;
    for cycle in 0..plan.reuse_cycles {
        // Collection: a restart with 1 s grace and GC every second.
        let log = scratch.join(format!("s2-{cycle}.stderr.log"));
        let server = Server::start(
            &data,
            &log,
            &["--blob-grace-secs", "1", "--gc-interval-secs", "1"],
            Some(&key),
        );
        let start = Instant::now();
        loop {
            let gone = unreferenced
                .iter()
                .all(|id| server.status_of(&format!("/files/{id}")) == 404);
            if gone {
                break;
            }
            if start.elapsed() > plan.gc_wait_max {
                failures.add(format!(
                    "unreferenced files still there after {:?}",
                    plan.gc_wait_max
                ));
                break;
            }
            thread::sleep(Duration::from_millis(100));
        }
        gc_secs.push(start.elapsed().as_secs_f64());
        for id in &kept_ids {
            let status = server.status_of(&format!("/files/{id}"));
            if status != 200 {
                failures.add(format!("kept file {id}: HTTP {status} after collection"));
            }
        }
        // The chunks go after the records, in the same pass: wait for quiet,
        // then two more passes.
        server.settle();
        thread::sleep(Duration::from_millis(2500));
        server.settle();
        server.stop();
        live -= unreferenced_stored;
        step(
            format!(
                "cycle {}: the {} unreferenced collected",
                cycle + 1,
                unreferenced.len()
            ),
            live,
        );

        // As much again: distinct content, the same kinds, unreferenced
        // (the default grace of a day keeps them until the next cycle).
        let log = scratch.join(format!("s3-{cycle}.stderr.log"));
        let server = Server::start(&data, &log, &[], Some(&key));
        let seed = 1000 * (cycle as u64 + 2);
        let (ids, stored) = upload_mixed(&server, &dropped, seed, plan.mixed_bytes, failures);
        server.stop();
        let stored: u64 = stored.iter().sum();
        unreferenced = ids;
        unreferenced_stored = stored;
        reuploaded += stored;
        live += stored;
        step(
            format!(
                "cycle {}: {} distinct files uploaded again",
                cycle + 1,
                dropped.len()
            ),
            live,
        );
    }
    let _ = fs::remove_dir_all(&data);
    Space {
        steps,
        reuploaded,
        gc_secs,
        rss,
    }
}

impl Space {
    fn print(&self) {
        println!();
        println!(
            "space: `waybill.redb` against the bytes the server stores for the live files (goal ≤ 1.15×; then reuse)"
        );
        println!(
            "| step | stored | file | file / stored | redb allocated | allocated / stored | redb's free + fragmented |"
        );
        println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
        for step in &self.steps {
            let (allocated, ratio, fragmented) = match &step.stats {
                Some(s) => (
                    mib(s.allocated),
                    format!("{:.3}×", s.allocated as f64 / step.live as f64),
                    mib(s.fragmented),
                ),
                None => ("?".into(), "?".into(), "?".into()),
            };
            println!(
                "| {} | {} | {} | {:.3}× | {allocated} | {ratio} | {fragmented} |",
                step.what,
                mib(step.live),
                mib(step.file),
                step.file as f64 / step.live as f64,
            );
        }
        if let (Some(first), Some(last)) = (self.steps.first(), self.steps.last()) {
            let first_used = first.stats.as_ref().map_or(first.file, |s| s.allocated);
            println!(
                "after the first wave the file was {} ({} allocated); {} cycles then uploaded {} again after collections, and the file ended at {} (without reuse it would have needed at least {})",
                mib(first.file),
                mib(first_used),
                self.gc_secs.len(),
                mib(self.reuploaded),
                mib(last.file),
                mib(first_used + self.reuploaded)
            );
        }
        if let Some(s) = self.steps.first().and_then(|s| s.stats.as_ref()) {
            println!(
                "redb counts {} of keys and values in the first step's {} allocated",
                mib(s.stored),
                mib(s.allocated)
            );
        }
        println!(
            "collection after a restart with 1 s grace took {} s",
            self.gc_secs
                .iter()
                .map(|s| format!("{s:.1}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
}

fn print_rss(upload: &Rss, download: &[Rss; 2], space: &Rss, concurrent: usize) {
    println!();
    println!("server memory (goal: peak under 64 MiB above idle)");
    println!("| phase | idle RSS | peak (VmHWM) | above idle | max sampled VmRSS above idle |");
    println!("| --- | ---: | ---: | ---: | ---: |");
    for (what, rss) in [
        (
            "uploading the two files, one upload at a time".to_owned(),
            upload,
        ),
        (
            "serving them, one download at a time".to_owned(),
            &download[0],
        ),
        (
            format!("serving them, {concurrent} downloads at once"),
            &download[1],
        ),
        (
            "uploading the distinct files of the space measurement".to_owned(),
            space,
        ),
    ] {
        let kib = |k: u64| format!("{:.1} MiB", k as f64 / 1024.0);
        println!(
            "| {what} | {} | {} | {} | {} |",
            kib(rss.idle),
            kib(rss.hwm),
            kib(rss.hwm.saturating_sub(rss.idle)),
            kib(rss.sampled.saturating_sub(rss.idle))
        );
    }
}

// ---------------------------------------------------------------- helpers

fn median(values: &[f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    if sorted.len().is_multiple_of(2) {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    } else {
        sorted[mid]
    }
}

fn db_size(data: &Path) -> u64 {
    fs::metadata(data.join("waybill.redb"))
        .expect("waybill.redb exists after a run")
        .len()
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / MIB as f64)
}

fn available_cores() -> usize {
    thread::available_parallelism().map_or(1, |n| n.get())
}

/// The log's line count and its WARN/ERROR lines.
fn log_summary(path: &Path) -> (usize, Vec<String>) {
    let text = fs::read_to_string(path).unwrap_or_default();
    let warnings = text
        .lines()
        .filter(|line| line.contains("WARN") || line.contains("ERROR"))
        .map(str::to_owned)
        .collect();
    (text.lines().count(), warnings)
}
