//! Benchmark: the plugin host running the bundled `license-key` plugin,
//! against the same key generator compiled natively.
//!
//! Run with `cargo bench --bench plugins`. The component is the one the
//! server embeds (`waybill::plugins::bundled::BUNDLED`, built by `build.rs`
//! for wasm32-wasip2 in release); it is compiled once with
//! [`Sandbox::load`], then every order gets a fresh [`RunContext`]
//! (quantity 1, its own order and shipment id) and one [`Sandbox::run`]:
//! a fresh store, instantiation from the `InstancePre`, the call, the
//! checks on what it returned.
//!
//! The native contender is the plugin crate itself (`license-key` is a
//! workspace member with an `rlib`; a dev-dependency here), called the way
//! its `personalize` calls it: the config parsed from the same JSON with
//! serde, then `license::issue` with the host's own per-shipment
//! [`RandomStream`] (drawn through the SDK's rejection sampling, copied
//! below) and, for signed licenses, the same ed25519 key. So both sides
//! produce the *same* keys and licenses for the same order, which is
//! checked before timing.
//!
//! Contenders run in interleaved rounds (each round starting with another
//! one); every call is timed on its own, p50/p99 are over all calls of all
//! rounds, and runs/s is the median round's calls divided by the time spent
//! in the calls (building the `RunContext` is left out on both sides).
//!
//! To show where the host's time goes, two more rows: the wall time the
//! sandbox reports for instantiation plus the call (`RunReport::wall_time`,
//! so the rest is the store, WASI context, limits and the checks around
//! it), and instantiation alone in a bare wasmtime store (same engine
//! settings: fuel and epochs on; every import a trap, no call).

use std::hint::black_box;
use std::time::{Duration, Instant};

use ed25519_dalek::{Signer as _, SigningKey};
use license_key::keygen::Random;
use license_key::license::{self, Config, Facts, Signed};
use waybill::plugins::bundled::BUNDLED;
use waybill::plugins::{Limits, OutputSink, Plugin, RandomStream, RunContext, Sandbox, Signer};

#[allow(dead_code)] // each bench uses what it needs
mod support;
use support::load_average;

/// Interleaved rounds per contender.
const ROUNDS: usize = 5;
/// Wall time of one round of one contender.
const ROUND_TIME: Duration = Duration::from_millis(1_000);
/// The shop's license-signing key in this bench.
const SIGNING_KEY: [u8; 32] = [7; 32];
const UNSIGNED: &str = "{}";
const HOST: &str = "host: Sandbox::run";
const NATIVE: &str = "native: license::issue";
const HOST_SIGNED: &str = "host: Sandbox::run, signed";
const NATIVE_SIGNED: &str = "native: license::issue, signed";
const BARE: &str = "bare wasmtime instantiate only";
const SIGNED: &str = r#"{"signed": true}"#;

/// The order of run `n`: quantity 1, its own order and shipment ids.
fn order(n: u64, config_json: &str) -> RunContext {
    RunContext {
        order_id: format!("ord_{n:08}"),
        shipment_id: format!("shp_{n:08}"),
        issued_at: "2026-12-03T17:00:00Z".to_owned(),
        sku: "rust-hb".to_owned(),
        product_name: "Rust Handbook".to_owned(),
        quantity: 1,
        options_json: "{}".to_owned(),
        buyer_name: "Zoë Kowalska".to_owned(),
        buyer_email: "zoe.kowalska@example.com".to_owned(),
        config_json: config_json.to_owned(),
    }
}

/// The host's random stream, drawn like the SDK's `HostRng::below`
/// (`plugins/sdk/src/host.rs`): the top partial range is rejected.
struct NativeRng(RandomStream);

impl Random for NativeRng {
    fn below(&mut self, bound: u64) -> u64 {
        let zone = u64::MAX - (u64::MAX - bound + 1) % bound;
        loop {
            let v = self.0.next_u64();
            if v <= zone {
                return v % bound;
            }
        }
    }
}

/// What the plugin's `personalize` does, natively: `kid` and `key` sign
/// when the config asks for signed licenses.
fn native_personalize(ctx: &RunContext, kid: &str, key: &SigningKey) -> Vec<(String, String)> {
    let config: Config = serde_json::from_str(&ctx.config_json).expect("a valid config");
    let facts = Facts {
        product: &ctx.sku,
        order: &ctx.order_id,
        issued: &ctx.issued_at,
        buyer_name: &ctx.buyer_name,
        buyer_email: &ctx.buyer_email,
    };
    let mut rng = NativeRng(RandomStream::for_shipment(&ctx.shipment_id));
    let mut sign = |payload: &[u8]| {
        Ok(Signed {
            signature: key.sign(payload).to_bytes().to_vec(),
            key_id: kid.to_owned(),
        })
    };
    let signer = config.signed.then_some((
        kid,
        &mut sign as &mut dyn FnMut(&[u8]) -> Result<Signed, String>,
    ));
    license::issue(&config, &facts, ctx.quantity, &mut rng, signer).expect("keys are issued")
}

/// The license-key plugin never writes a file; any output is a bug here.
struct NoOutputs;

impl OutputSink for NoOutputs {
    fn create(
        &mut self,
        name: &str,
        _content_type: &str,
    ) -> std::io::Result<Box<dyn std::io::Write + Send>> {
        panic!("license-key created an output {name:?}")
    }
}

/// One sandbox run; the items, and the wall time the sandbox measured.
fn host_run(
    sandbox: &Sandbox,
    plugin: &Plugin,
    ctx: &RunContext,
) -> (Vec<(String, String)>, Duration) {
    match sandbox.run(plugin, ctx, Vec::new(), Box::new(NoOutputs)) {
        Ok(report) => (report.items, report.wall_time),
        Err(failed) => panic!("the run failed: {failed} (logs: {:?})", failed.logs),
    }
}

/// Instantiation alone: the same component in a bare wasmtime engine with
/// the sandbox's settings, every import a trap, nothing called.
struct BareInstantiate {
    engine: wasmtime::Engine,
    pre: wasmtime::component::InstancePre<()>,
}

impl BareInstantiate {
    fn new(bytes: &[u8]) -> wasmtime::Result<Self> {
        let mut config = wasmtime::Config::new();
        config
            .wasm_component_model(true)
            .consume_fuel(true)
            .epoch_interruption(true);
        let engine = wasmtime::Engine::new(&config)?;
        let component = wasmtime::component::Component::new(&engine, bytes)?;
        let mut linker = wasmtime::component::Linker::new(&engine);
        linker.define_unknown_imports_as_traps(&component)?;
        let pre = linker.instantiate_pre(&component)?;
        Ok(Self { engine, pre })
    }

    fn instantiate(&self) -> wasmtime::Result<()> {
        let mut store = wasmtime::Store::new(&self.engine, ());
        store.set_fuel(u64::MAX)?;
        store.set_epoch_deadline(1);
        black_box(self.pre.instantiate(&mut store)?);
        Ok(())
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[index]
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// One call of a contender, answering the sandbox's own wall time when
/// there is one.
type Call<'a> = Box<dyn FnMut(&RunContext) -> Option<Duration> + 'a>;

/// A contender: its config (for `order`) and its call.
struct Contender<'a> {
    name: &'static str,
    config_json: &'static str,
    call: Call<'a>,
    /// Calls per round, per-call latencies and `RunReport::wall_time`s.
    rates: Vec<f64>,
    latencies: Vec<Duration>,
    inner: Vec<Duration>,
}

impl<'a> Contender<'a> {
    fn new(
        name: &'static str,
        config_json: &'static str,
        call: impl FnMut(&RunContext) -> Option<Duration> + 'a,
    ) -> Self {
        Self {
            name,
            config_json,
            call: Box::new(call),
            rates: Vec::new(),
            latencies: Vec::new(),
            inner: Vec::new(),
        }
    }

    /// Calls for `ROUND_TIME`, orders numbered from `*next`.
    fn round(&mut self, next: &mut u64, keep: bool) {
        let start = Instant::now();
        let (mut calls, mut busy) = (0u64, Duration::ZERO);
        while start.elapsed() < ROUND_TIME {
            let ctx = order(*next, self.config_json);
            *next += 1;
            let t = Instant::now();
            let inner = (self.call)(black_box(&ctx));
            let took = t.elapsed();
            calls += 1;
            busy += took;
            if keep {
                self.latencies.push(took);
                self.inner.extend(inner);
            }
        }
        if keep {
            self.rates.push(calls as f64 / busy.as_secs_f64());
        }
    }
}

struct Row {
    name: &'static str,
    per_sec: f64,
    p50: Duration,
    p99: Duration,
    inner_p50: Option<Duration>,
    calls: usize,
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` does not: then only smoke-run.
    let smoke = !std::env::args().any(|arg| arg == "--bench");

    let (_, wasm) = BUNDLED
        .iter()
        .find(|(name, _)| *name == "license-key")
        .expect("license-key is bundled");
    let key = SigningKey::from_bytes(&SIGNING_KEY);
    let signer = Signer::new(key.clone());
    let kid = signer.key_id().to_owned();
    let sandbox = Sandbox::new(Limits::default(), Some(signer)).expect("a sandbox");
    let started = Instant::now();
    let plugin = sandbox.load(wasm).expect("license-key loads");
    let compile = started.elapsed();
    let bare = BareInstantiate::new(wasm).expect("the component compiles in a bare engine");

    // Same order, same keys: the host's stream and the native one agree,
    // signed licenses included (ed25519 signatures are deterministic).
    for (n, config) in [(1, UNSIGNED), (2, UNSIGNED), (3, SIGNED), (4, SIGNED)] {
        let ctx = order(n, config);
        let (items, _) = host_run(&sandbox, &plugin, &ctx);
        assert_eq!(items, native_personalize(&ctx, &kid, &key), "order {n}");
        assert_eq!(items.len(), if config == SIGNED { 2 } else { 1 });
    }
    bare.instantiate()
        .expect("instantiates with trapping imports");
    let report = sandbox
        .run(&plugin, &order(5, SIGNED), Vec::new(), Box::new(NoOutputs))
        .expect("a signed run");

    if smoke {
        println!("plugins: smoke run only (use `cargo bench --bench plugins` to measure)");
        return;
    }

    println!(
        "license-key component: {} bytes, compiled by Sandbox::load in {:.0} ms",
        wasm.len(),
        compile.as_secs_f64() * 1e3
    );
    println!(
        "one signed run: {} fuel, {} bytes of linear memory at peak",
        report.fuel_used, report.peak_memory_bytes
    );
    let unsigned = sandbox
        .run(
            &plugin,
            &order(6, UNSIGNED),
            Vec::new(),
            Box::new(NoOutputs),
        )
        .expect("an unsigned run");
    println!(
        "one unsigned run: {} fuel, {} bytes of linear memory at peak",
        unsigned.fuel_used, unsigned.peak_memory_bytes
    );
    println!(
        "{ROUNDS} interleaved rounds of {} ms per contender; quantity 1, a fresh RunContext per run",
        ROUND_TIME.as_millis()
    );
    let load_start = load_average();

    let mut contenders: Vec<Contender> = vec![
        Contender::new(HOST, UNSIGNED, |ctx| {
            let (items, wall) = host_run(&sandbox, &plugin, ctx);
            black_box(items);
            Some(wall)
        }),
        Contender::new(NATIVE, UNSIGNED, |ctx| {
            black_box(native_personalize(ctx, &kid, &key));
            None
        }),
        Contender::new(HOST_SIGNED, SIGNED, |ctx| {
            let (items, wall) = host_run(&sandbox, &plugin, ctx);
            black_box(items);
            Some(wall)
        }),
        Contender::new(NATIVE_SIGNED, SIGNED, |ctx| {
            black_box(native_personalize(ctx, &kid, &key));
            None
        }),
        Contender::new(BARE, UNSIGNED, |_| {
            bare.instantiate().expect("instantiates");
            None
        }),
    ];
    // `cargo bench --bench plugins -- host` runs only the contenders whose
    // name contains `host` (e.g. under `perf record`).
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|arg| !arg.starts_with("--"))
        .collect();
    contenders.retain(|c| filters.is_empty() || filters.iter().any(|f| c.name.contains(f)));
    let mut next = 1_000u64;
    // One untimed round to warm up; each round starts with another contender.
    for round in 0..=ROUNDS {
        for k in 0..contenders.len() {
            let i = (round + k) % contenders.len();
            contenders[i].round(&mut next, round > 0);
        }
    }
    println!(
        "load average (1/5/15 min) at start: {load_start}; at end: {} (other work on the machine skews everything)",
        load_average()
    );

    let rows: Vec<Row> = contenders
        .iter_mut()
        .map(|c| {
            c.latencies.sort();
            c.inner.sort();
            c.rates.sort_by(f64::total_cmp);
            Row {
                name: c.name,
                per_sec: c.rates[c.rates.len() / 2],
                p50: percentile(&c.latencies, 0.50),
                p99: percentile(&c.latencies, 0.99),
                inner_p50: (!c.inner.is_empty()).then(|| percentile(&c.inner, 0.50)),
                calls: c.latencies.len(),
            }
        })
        .collect();

    println!();
    println!(
        "{:<34} {:>10} {:>10} {:>10} {:>18} {:>9}",
        "contender", "runs/s", "p50 µs", "p99 µs", "p50 inside run µs", "calls"
    );
    for row in &rows {
        println!(
            "{:<34} {:>10.0} {:>10.1} {:>10.1} {:>18} {:>9}",
            row.name,
            row.per_sec,
            micros(row.p50),
            micros(row.p99),
            row.inner_p50
                .map(|d| format!("{:.1}", micros(d)))
                .unwrap_or_default(),
            row.calls
        );
    }
    let row = |name: &str| rows.iter().find(|r| r.name == name);
    println!();
    for (host, native) in [(HOST, NATIVE), (HOST_SIGNED, NATIVE_SIGNED)] {
        let (Some(host), Some(native)) = (row(host), row(native)) else {
            continue;
        };
        println!(
            "{} vs {}: {:.1}× slower at p50 ({:.3}× the runs/s); fixed overhead per run (host p50 − native p50) = {:.1} µs",
            host.name,
            native.name,
            host.p50.as_secs_f64() / native.p50.as_secs_f64(),
            host.per_sec / native.per_sec,
            micros(host.p50.saturating_sub(native.p50))
        );
    }
    if let (Some(host), Some(bare)) = (row(HOST), row(BARE)) {
        let inner = host.inner_p50.unwrap_or_default();
        println!(
            "{}: p50 {:.1} µs = {:.1} µs instantiate + call (sandbox wall time) + {:.1} µs store, WASI context and checks; bare instantiation p50 {:.1} µs",
            host.name,
            micros(host.p50),
            micros(inner),
            micros(host.p50.saturating_sub(inner)),
            micros(bare.p50)
        );
    }
    if let (Some(unsigned), Some(signed)) = (row(HOST), row(HOST_SIGNED)) {
        println!(
            "host p50 including instantiation: {:.1} µs unsigned, {:.1} µs signed (goal < 1 ms): {}",
            micros(unsigned.p50),
            micros(signed.p50),
            if unsigned.p50.max(signed.p50) < Duration::from_millis(1) {
                "met"
            } else {
                "NOT met"
            }
        );
    }
}
