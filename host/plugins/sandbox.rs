//! The wasmtime side: one [`Engine`], a [`Linker`] offering only
//! `wasi:cli` + `wasi:io` and our `host` interface, validation at load, and
//! one fresh, limited [`Store`] per run.

use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use ed25519_dalek::Signer as _;
use wasmtime::component::types::ComponentItem;
use wasmtime::component::{Component, HasData, HasSelf, Linker, Resource, ResourceTable};
use wasmtime::{Config, Engine, ResourceLimiter, Store, StoreLimits, StoreLimitsBuilder, Trap};
use wasmtime_wasi::cli::{WasiCli, WasiCliView as _};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::bindings::waybill::plugin::host::{self, Level, Signed};
use super::bindings::waybill::plugin::types::{self, Buyer, Context, HostError, Line, PluginError};
use super::bindings::{Personalizer, PersonalizerPre};
use super::io::{Names, OutputSink, SourceBytes};
use super::rng::RandomStream;
use super::{
    Limits, LogLevel, LogLine, OutputInfo, RunContext, RunError, RunFailed, RunReport, Signer,
};

/// How often the epoch ticks; wall-time limits are rounded up to it.
const EPOCH_TICK: Duration = Duration::from_millis(10);
/// The largest `read` or `write` chunk the host serves (contract: ≥ 64 KiB).
pub const CHUNK_BYTES_MAX: usize = 1 << 20;
/// The largest payload `sign` accepts (contract: ≥ 64 KiB).
pub const SIGN_PAYLOAD_BYTES_MAX: usize = 1 << 16;
/// `sign` calls allowed per run.
pub const SIGN_CALLS_MAX: u32 = 10_000;
/// `random-bytes` per call (contract: more ends the run).
const RANDOM_BYTES_MAX: u32 = 1 << 16;
/// The longest item label, in characters.
const LABEL_CHARS_MAX: usize = 200;
/// The longest output content type, in bytes.
const CONTENT_TYPE_BYTES_MAX: usize = 255;

/// The world this host runs, for messages.
const WORLD: &str = "waybill:plugin/personalizer@0.1.0";

/// The resource behind `source-file`.
pub struct SourceFile {
    bytes: Box<dyn SourceBytes>,
}

/// The resource behind `output-file`: an index into the run's outputs.
pub struct OutputFile {
    index: usize,
}

struct OutputSlot {
    name: String,
    content_type: String,
    size: u64,
    writer: Option<Box<dyn std::io::Write + Send>>,
}

/// Memory limiter: wasmtime's [`StoreLimits`] per memory, plus a total over
/// all memories of the run, the peak, and whether a growth was refused.
struct Limiter {
    inner: StoreLimits,
    total: usize,
    peak: usize,
    total_max: usize,
    hit: bool,
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let growth = desired.saturating_sub(current);
        if self.total.saturating_add(growth) > self.total_max
            || !self.inner.memory_growing(current, desired, maximum)?
        {
            self.hit = true;
            return Ok(false);
        }
        self.total += growth;
        self.peak = self.peak.max(self.total);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.inner.table_growing(current, desired, maximum)
    }

    fn instances(&self) -> usize {
        self.inner.instances()
    }
    fn tables(&self) -> usize {
        self.inner.tables()
    }
    fn memories(&self) -> usize {
        self.inner.memories()
    }
}

/// A host-side limit the plugin ran into; the run fails with it whatever
/// the plugin returns afterwards.
enum HostLimit {
    OutputBytes(u64),
    OutputFiles(usize),
    SignCalls,
}

/// The data of one run's [`Store`].
pub struct State {
    table: ResourceTable,
    wasi: WasiCtx,
    limiter: Limiter,
    limits: Limits,
    random: RandomStream,
    signer: Option<Arc<Signer>>,
    sink: Box<dyn OutputSink>,
    names: Names,
    outputs: Vec<OutputSlot>,
    output_bytes: u64,
    logs: Vec<LogLine>,
    log_bytes: usize,
    logs_dropped: usize,
    sign_calls: u32,
    host_limit: Option<HostLimit>,
    io_error: Option<String>,
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

struct HasTable;
impl HasData for HasTable {
    type Data<'a> = &'a mut ResourceTable;
}

impl types::Host for State {}

impl host::HostSourceFile for State {
    fn name(&mut self, f: Resource<SourceFile>) -> wasmtime::Result<String> {
        Ok(self.table.get(&f)?.bytes.name().to_owned())
    }

    fn size(&mut self, f: Resource<SourceFile>) -> wasmtime::Result<u64> {
        Ok(self.table.get(&f)?.bytes.size())
    }

    fn content_type(&mut self, f: Resource<SourceFile>) -> wasmtime::Result<String> {
        Ok(self.table.get(&f)?.bytes.content_type().to_owned())
    }

    fn read(
        &mut self,
        f: Resource<SourceFile>,
        offset: u64,
        len: u32,
    ) -> wasmtime::Result<Result<Vec<u8>, HostError>> {
        let source = &self.table.get(&f)?.bytes;
        let size = source.size();
        if offset > size {
            return Ok(Err(HostError::OutOfRange(format!(
                "offset {offset} is past the end of {:?} ({size} bytes)",
                source.name()
            ))));
        }
        let len = (len as usize)
            .min(CHUNK_BYTES_MAX)
            .min(usize::try_from(size - offset).unwrap_or(usize::MAX));
        let mut buf = vec![0; len];
        match source.read_at(offset, &mut buf) {
            Ok(n) => {
                buf.truncate(n);
                Ok(Ok(buf))
            }
            Err(e) => {
                let message = format!("reading {:?}: {e}", source.name());
                self.io_error.get_or_insert(message.clone());
                Ok(Err(HostError::Internal(message)))
            }
        }
    }

    fn drop(&mut self, f: Resource<SourceFile>) -> wasmtime::Result<()> {
        self.table.delete(f)?;
        Ok(())
    }
}

impl host::HostOutputFile for State {
    fn write(
        &mut self,
        f: Resource<OutputFile>,
        bytes: Vec<u8>,
    ) -> wasmtime::Result<Result<(), HostError>> {
        let index = self.table.get(&f)?.index;
        if bytes.len() > CHUNK_BYTES_MAX {
            return Ok(Err(HostError::InvalidArgument(format!(
                "write of {} bytes: at most {CHUNK_BYTES_MAX} per call",
                bytes.len()
            ))));
        }
        let max = self.limits.output_bytes_max;
        if self.output_bytes + bytes.len() as u64 > max {
            self.host_limit.get_or_insert(HostLimit::OutputBytes(max));
            return Ok(Err(HostError::LimitExceeded(format!(
                "output bytes: at most {max} per run"
            ))));
        }
        let slot = &mut self.outputs[index];
        let Some(writer) = slot.writer.as_mut() else {
            return Ok(Err(HostError::InvalidArgument(
                "the output is already closed".into(),
            )));
        };
        if let Err(e) = writer.write_all(&bytes) {
            let message = format!("writing {:?}: {e}", slot.name);
            self.io_error.get_or_insert(message.clone());
            return Ok(Err(HostError::Internal(message)));
        }
        slot.size += bytes.len() as u64;
        self.output_bytes += bytes.len() as u64;
        Ok(Ok(()))
    }

    fn drop(&mut self, f: Resource<OutputFile>) -> wasmtime::Result<()> {
        let index = self.table.delete(f)?.index;
        self.close_output(index);
        Ok(())
    }
}

impl State {
    fn close_output(&mut self, index: usize) {
        let slot = &mut self.outputs[index];
        if let Some(mut writer) = slot.writer.take()
            && let Err(e) = writer.flush()
        {
            self.io_error
                .get_or_insert(format!("writing {:?}: {e}", slot.name));
        }
    }
}

impl host::Host for State {
    fn create_output(
        &mut self,
        name: String,
        content_type: String,
    ) -> wasmtime::Result<Result<Resource<OutputFile>, HostError>> {
        if self.outputs.len() >= self.limits.output_files_max {
            let max = self.limits.output_files_max;
            self.host_limit.get_or_insert(HostLimit::OutputFiles(max));
            return Ok(Err(HostError::LimitExceeded(format!(
                "output files: at most {max} per run"
            ))));
        }
        if content_type.len() > CONTENT_TYPE_BYTES_MAX || content_type.chars().any(char::is_control)
        {
            return Ok(Err(HostError::InvalidArgument(format!(
                "content type {content_type:?}: at most {CONTENT_TYPE_BYTES_MAX} bytes, no control characters"
            ))));
        }
        if let Some(why) = self.names.claim(&name) {
            return Ok(Err(HostError::InvalidArgument(why)));
        }
        let writer = match self.sink.create(&name, &content_type) {
            Ok(w) => w,
            Err(e) => {
                let message = format!("creating output {name:?}: {e}");
                self.io_error.get_or_insert(message.clone());
                return Ok(Err(HostError::Internal(message)));
            }
        };
        self.outputs.push(OutputSlot {
            name,
            content_type,
            size: 0,
            writer: Some(writer),
        });
        Ok(Ok(self.table.push(OutputFile {
            index: self.outputs.len() - 1,
        })?))
    }

    fn random_bytes(&mut self, len: u32) -> wasmtime::Result<Vec<u8>> {
        if len > RANDOM_BYTES_MAX {
            wasmtime::bail!(
                "random-bytes asked for {len} bytes; at most {RANDOM_BYTES_MAX} per call"
            );
        }
        let mut buf = vec![0; len as usize];
        self.random.fill(&mut buf);
        Ok(buf)
    }

    fn random_u64(&mut self) -> wasmtime::Result<u64> {
        Ok(self.random.next_u64())
    }

    fn log(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        if self.log_bytes + message.len() > self.limits.log_bytes_max {
            self.logs_dropped += 1;
            return Ok(());
        }
        self.log_bytes += message.len();
        let level = match level {
            Level::Debug => LogLevel::Debug,
            Level::Info => LogLevel::Info,
            Level::Warn => LogLevel::Warn,
            Level::Error => LogLevel::Error,
        };
        self.logs.push(LogLine { level, message });
        Ok(())
    }

    fn sign(&mut self, payload: Vec<u8>) -> wasmtime::Result<Result<Signed, HostError>> {
        let Some(signer) = &self.signer else {
            return Ok(Err(HostError::Unavailable(
                "the shop has no license-signing key".into(),
            )));
        };
        if payload.len() > SIGN_PAYLOAD_BYTES_MAX {
            return Ok(Err(HostError::InvalidArgument(format!(
                "payload of {} bytes: at most {SIGN_PAYLOAD_BYTES_MAX}",
                payload.len()
            ))));
        }
        if self.sign_calls >= SIGN_CALLS_MAX {
            self.host_limit.get_or_insert(HostLimit::SignCalls);
            return Ok(Err(HostError::LimitExceeded(format!(
                "sign calls: at most {SIGN_CALLS_MAX} per run"
            ))));
        }
        self.sign_calls += 1;
        Ok(Ok(Signed {
            signature: signer.key.sign(&payload).to_bytes().to_vec(),
            key_id: signer.key_id.clone(),
            algorithm: "ed25519".into(),
        }))
    }

    fn public_key_id(&mut self) -> wasmtime::Result<Option<String>> {
        Ok(self.signer.as_ref().map(|s| s.key_id.clone()))
    }
}

/// The plugin host: compiles components and runs them, each run in a fresh
/// sandbox with the configured [`Limits`].
pub struct Sandbox {
    engine: Engine,
    linker: Linker<State>,
    limits: Limits,
    signer: Option<Arc<Signer>>,
}

/// A validated, compiled plugin, ready to run many times.
pub struct Plugin {
    component: Component,
    pre: PersonalizerPre<State>,
}

impl Plugin {
    /// The compiled machine code, for [`Sandbox::load_precompiled_trusted`]
    /// to load again without compiling.
    pub fn precompiled(&self) -> Result<Vec<u8>, RunError> {
        self.component
            .serialize()
            .map_err(|e| RunError::Io(format!("serializing the compiled component: {e:#}")))
    }
}

/// Refuses early, with a clear message, what is not a component at all.
fn check_header(bytes: &[u8]) -> Result<(), RunError> {
    match bytes.get(..8) {
        Some([0, b'a', b's', b'm', 1, 0, 0, 0]) => Err(RunError::Invalid(
            "a core WebAssembly module, not a component: build the plugin for wasm32-wasip2 (or wrap the module with `wasm-tools component new`)".into(),
        )),
        Some([0, b'a', b's', b'm', ..]) => Ok(()),
        _ => Err(RunError::Invalid(
            "not a WebAssembly component: the file does not start with the `\\0asm` header"
                .into(),
        )),
    }
}

impl Sandbox {
    /// A host with `limits`; `signer` answers `sign` (none: `unavailable`).
    pub fn new(limits: Limits, signer: Option<Signer>) -> Result<Self, RunError> {
        let mut config = Config::new();
        config
            .wasm_component_model(true)
            .consume_fuel(true)
            .epoch_interruption(true);
        let engine = Engine::new(&config).map_err(|e| RunError::Io(format!("engine: {e:#}")))?;
        let linker = linker(&engine).map_err(|e| RunError::Io(format!("linker: {e:#}")))?;
        // The ticker stops once the last clone of the engine is gone.
        let weak = engine.weak();
        thread::Builder::new()
            .name("plugin-epoch".into())
            .spawn(move || {
                loop {
                    thread::sleep(EPOCH_TICK);
                    match weak.upgrade() {
                        Some(engine) => engine.increment_epoch(),
                        None => break,
                    }
                }
            })
            .map_err(|e| RunError::Io(format!("epoch thread: {e}")))?;
        Ok(Self {
            engine,
            linker,
            limits,
            signer: signer.map(Arc::new),
        })
    }

    /// The license-signing key `sign` uses, if any.
    pub fn signer(&self) -> Option<&Signer> {
        self.signer.as_deref()
    }

    /// The limits every run gets.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Validates and compiles a component. Refuses, with a message saying
    /// what is wrong, anything that is not a WebAssembly component, that
    /// imports something the host does not offer, or that does not export
    /// the world `waybill:plugin/personalizer@0.1.0`.
    pub fn load(&self, bytes: &[u8]) -> Result<Plugin, RunError> {
        check_header(bytes)?;
        check_imports_before_compiling(bytes)?;
        let component = Component::new(&self.engine, bytes)
            .map_err(|e| RunError::Invalid(format!("not a valid WebAssembly component: {e:#}")))?;
        self.check(component)
    }

    /// A plugin from what [`Plugin::precompiled`] wrote, with the same checks
    /// as [`Sandbox::load`]; wasmtime refuses bytes made by an incompatible
    /// engine.
    ///
    /// The bytes must come from [`Plugin::precompiled`] of this build: they
    /// are machine code that runs unchecked (see [`super::cache`], which
    /// verifies a BLAKE3 checksum it wrote next to them before calling this).
    pub(super) fn load_precompiled_trusted(&self, cwasm: &[u8]) -> Result<Plugin, RunError> {
        // SAFETY: `Component::deserialize` is unsafe because it maps the bytes
        // as executable code without validating them. Our one caller, the
        // component cache, hands us only bytes that `Plugin::precompiled`
        // produced (by this engine configuration, keyed by its compatibility
        // hash) and that still match the checksum written with them; wasmtime
        // itself checks its header and the engine's compatibility.
        #[allow(unsafe_code)]
        let component = unsafe { Component::deserialize(&self.engine, cwasm) }
            .map_err(|e| RunError::Invalid(format!("precompiled component refused: {e:#}")))?;
        self.check(component)
    }

    /// A short hex key of everything that makes precompiled code compatible
    /// with this engine (wasmtime version, target, settings).
    pub fn compatibility_key(&self) -> String {
        use std::hash::{Hash as _, Hasher as _};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        self.engine
            .precompile_compatibility_hash()
            .hash(&mut hasher);
        format!("{:016x}", hasher.finish())
    }

    fn check(&self, component: Component) -> Result<Plugin, RunError> {
        let ty = component.component_type();
        // All of them: imports come dependencies first, so the first refused
        // one (say `wasi:clocks`) is rarely the one the author must remove
        // (say `wasi:filesystem`, which needs the clocks).
        let refused: Vec<String> = ty
            .imports(&self.engine)
            .filter(|(name, item)| {
                // Types a world `use`s (e.g. `source-file`) are imported by
                // name; they only alias what the interfaces define.
                let is_type =
                    matches!(item.ty, ComponentItem::Type(_) | ComponentItem::Resource(_));
                !is_type && !import_offered(name)
            })
            .map(|(name, _)| format!("`{name}`"))
            .collect();
        if !refused.is_empty() {
            return Err(refused_imports(&refused));
        }
        if !ty
            .exports(&self.engine)
            .any(|(name, _)| name == "personalize")
        {
            return Err(RunError::Invalid(format!(
                "the component does not export `personalize`: it does not target the world {WORLD}"
            )));
        }
        let pre = self.linker.instantiate_pre(&component).map_err(|e| {
            RunError::Invalid(format!(
                "the component's imports do not match what the host offers: {e:#}"
            ))
        })?;
        let pre = PersonalizerPre::new(pre).map_err(|e| {
            RunError::Invalid(format!(
                "the component does not match the world {WORLD}: {e:#}"
            ))
        })?;
        Ok(Plugin { component, pre })
    }

    /// Runs `plugin` once for `ctx`: `sources` are readable through
    /// `source-file`, outputs stream into `sink` (and are discarded through
    /// [`OutputSink::discard`] when the run fails).
    pub fn run(
        &self,
        plugin: &Plugin,
        ctx: &RunContext,
        sources: Vec<Box<dyn SourceBytes>>,
        sink: Box<dyn OutputSink>,
    ) -> Result<RunReport, Box<RunFailed>> {
        let limits = self.limits.clone();
        let stdout = MemoryOutputPipe::new(limits.log_bytes_max);
        let stderr = MemoryOutputPipe::new(limits.log_bytes_max);
        // No args, no environment, empty stdin, no preopens: only stdio.
        let wasi = WasiCtx::builder()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .build();
        let limiter = Limiter {
            inner: StoreLimitsBuilder::new()
                .memory_size(limits.memory_bytes_max)
                .instances(64)
                .tables(64)
                .memories(16)
                .table_elements(100_000)
                .build(),
            total: 0,
            peak: 0,
            total_max: limits.memory_bytes_max,
            hit: false,
        };
        let mut store = Store::new(
            &self.engine,
            State {
                table: ResourceTable::new(),
                wasi,
                limiter,
                limits: limits.clone(),
                random: RandomStream::for_shipment(&ctx.shipment_id),
                signer: self.signer.clone(),
                sink,
                names: Names::default(),
                outputs: Vec::new(),
                output_bytes: 0,
                logs: Vec::new(),
                log_bytes: 0,
                logs_dropped: 0,
                sign_calls: 0,
                host_limit: None,
                io_error: None,
            },
        );
        store.limiter(|s| &mut s.limiter);
        let ticks = limits
            .wall_time_ms_max
            .div_ceil(EPOCH_TICK.as_millis() as u64)
            + 1;
        store.set_epoch_deadline(ticks);
        let started = Instant::now();
        let outcome = store
            .set_fuel(limits.fuel_max)
            .and_then(|()| call(&mut store, plugin, ctx, sources));
        let wall_time = started.elapsed();
        let fuel_used = limits
            .fuel_max
            .saturating_sub(store.get_fuel().unwrap_or(0));
        let mut state = store.into_data();
        for index in 0..state.outputs.len() {
            state.close_output(index);
        }
        let peak_memory_bytes = state.limiter.peak as u64;
        let memory_hit = state.limiter.hit;
        let result = match outcome {
            Err(err) => Err(classify(&err, memory_hit, &limits)),
            Ok(_) if state.host_limit.is_some() => Err(match state.host_limit.take() {
                Some(HostLimit::OutputBytes(max)) => {
                    RunError::OutputLimit(format!("more than {max} output bytes"))
                }
                Some(HostLimit::OutputFiles(max)) => {
                    RunError::OutputLimit(format!("more than {max} output files"))
                }
                _ => RunError::OutputLimit(format!("more than {SIGN_CALLS_MAX} sign calls")),
            }),
            Ok(_) if state.io_error.is_some() => {
                Err(RunError::Io(state.io_error.take().unwrap_or_default()))
            }
            Ok(Err(e)) => Err(plugin_error(e)),
            Ok(Ok(items)) => check_items(items, &limits),
        };
        let mut logs = state.logs;
        if state.logs_dropped > 0 {
            logs.push(LogLine {
                level: LogLevel::Warn,
                message: format!(
                    "{} log lines dropped: the log is limited to {} bytes",
                    state.logs_dropped, limits.log_bytes_max
                ),
            });
        }
        let stdout = String::from_utf8_lossy(&stdout.contents()).into_owned();
        let stderr = String::from_utf8_lossy(&stderr.contents()).into_owned();
        match result {
            Ok(items) => Ok(RunReport {
                items,
                outputs: state
                    .outputs
                    .into_iter()
                    .map(|o| OutputInfo {
                        name: o.name,
                        content_type: o.content_type,
                        size: o.size,
                    })
                    .collect(),
                fuel_used,
                peak_memory_bytes,
                wall_time,
                stdout,
                stderr,
                logs,
            }),
            Err(error) => {
                // Best effort: a failed run delivers nothing.
                let _ = state.sink.discard();
                Err(Box::new(RunFailed {
                    error,
                    fuel_used,
                    peak_memory_bytes,
                    wall_time,
                    stdout,
                    stderr,
                    logs,
                }))
            }
        }
    }
}

/// Instantiates and calls `personalize`.
fn call(
    store: &mut Store<State>,
    plugin: &Plugin,
    ctx: &RunContext,
    sources: Vec<Box<dyn SourceBytes>>,
) -> wasmtime::Result<Result<Vec<types::Item>, PluginError>> {
    let instance: Personalizer = plugin.pre.instantiate(&mut *store)?;
    let handles = sources
        .into_iter()
        .map(|bytes| store.data_mut().table.push(SourceFile { bytes }))
        .collect::<Result<Vec<_>, _>>()?;
    let context = Context {
        order_id: ctx.order_id.clone(),
        shipment_id: ctx.shipment_id.clone(),
        issued_at: ctx.issued_at.clone(),
        line: Line {
            sku: ctx.sku.clone(),
            product_name: ctx.product_name.clone(),
            quantity: ctx.quantity,
            options_json: ctx.options_json.clone(),
        },
        buyer: Buyer {
            name: ctx.buyer_name.clone(),
            email: ctx.buyer_email.clone(),
        },
        config_json: ctx.config_json.clone(),
    };
    instance.call_personalize(&mut *store, &context, &handles)
}

/// Which limit a failed call ran into.
fn classify(err: &wasmtime::Error, memory_hit: bool, limits: &Limits) -> RunError {
    match err.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => RunError::OutOfFuel {
            fuel_max: limits.fuel_max,
        },
        Some(Trap::Interrupt) => RunError::Timeout {
            wall_time_ms_max: limits.wall_time_ms_max,
        },
        // A refused memory.grow makes a Rust guest abort, which traps.
        _ if memory_hit => RunError::MemoryLimit {
            memory_bytes_max: limits.memory_bytes_max,
        },
        _ => RunError::Trap(format!("{err:?}")),
    }
}

fn plugin_error(e: PluginError) -> RunError {
    let (kind, message) = match e {
        PluginError::InvalidConfig(m) => ("invalid-config", m),
        PluginError::InvalidOptions(m) => ("invalid-options", m),
        PluginError::InvalidSource(m) => ("invalid-source", m),
        PluginError::Failed(m) => ("failed", m),
        PluginError::Host(h) => (
            "host",
            match h {
                HostError::OutOfRange(m) => format!("out-of-range: {m}"),
                HostError::InvalidArgument(m) => format!("invalid-argument: {m}"),
                HostError::LimitExceeded(m) => format!("limit-exceeded: {m}"),
                HostError::Unavailable(m) => format!("unavailable: {m}"),
                HostError::Internal(m) => format!("internal: {m}"),
            },
        ),
    };
    RunError::Plugin { kind, message }
}

fn check_items(
    items: Vec<types::Item>,
    limits: &Limits,
) -> Result<Vec<(String, String)>, RunError> {
    if items.len() > limits.items_max {
        return Err(RunError::TooManyItems {
            count: items.len(),
            items_max: limits.items_max,
        });
    }
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            let label_chars = item.label.chars().count();
            if item.label.trim().is_empty() || label_chars > LABEL_CHARS_MAX {
                return Err(RunError::InvalidOutput(format!(
                    "item {}: the label must be 1-{LABEL_CHARS_MAX} characters, not only spaces",
                    i + 1
                )));
            }
            let value_chars = item.value.chars().count();
            if value_chars > limits.item_value_chars_max {
                return Err(RunError::InvalidOutput(format!(
                    "item {} ({:?}): the value has {value_chars} characters, at most {} allowed",
                    i + 1,
                    item.label,
                    limits.item_value_chars_max
                )));
            }
            Ok((item.label, item.value))
        })
        .collect()
}

/// `wasi:cli/*` and `wasi:io/*` (any 0.2 version the linker serves) and
/// our own interfaces at exactly 0.1.0.
/// Refuses a component importing what the host does not offer before
/// spending a compile on it (seconds for a big one). Only the top-level
/// component's imports count; nested modules and components are wired
/// inside it. Anything the parser cannot read is left to the compiler,
/// whose message is more precise; [`Sandbox::load`] checks the compiled
/// component's imports again either way.
fn check_imports_before_compiling(bytes: &[u8]) -> Result<(), RunError> {
    use wasmparser::{ComponentTypeRef, Parser, Payload};
    let mut depth = 0usize;
    let mut refused = Vec::new();
    for payload in Parser::new(0).parse_all(bytes) {
        let Ok(payload) = payload else { return Ok(()) };
        match payload {
            Payload::Version { .. } => depth += 1,
            Payload::End(_) => depth = depth.saturating_sub(1),
            Payload::ComponentImportSection(reader) if depth == 1 => {
                for import in reader {
                    let Ok(import) = import else { return Ok(()) };
                    let name = import.name.0;
                    if !matches!(import.ty, ComponentTypeRef::Type(_)) && !import_offered(name) {
                        refused.push(format!("`{name}`"));
                    }
                }
            }
            _ => {}
        }
    }
    if refused.is_empty() {
        Ok(())
    } else {
        Err(refused_imports(&refused))
    }
}

fn refused_imports(names: &[String]) -> RunError {
    RunError::Invalid(format!(
        "the component imports {}, which the host does not offer (it offers waybill:plugin/host@0.1.0, waybill:plugin/types@0.1.0, wasi:cli/* and wasi:io/*)",
        names.join(", ")
    ))
}

fn import_offered(name: &str) -> bool {
    name == "waybill:plugin/host@0.1.0"
        || name == "waybill:plugin/types@0.1.0"
        || name.starts_with("wasi:cli/")
        || name.starts_with("wasi:io/")
}

/// cli + io only: no filesystem, sockets, clocks or random from WASI.
fn linker(engine: &Engine) -> wasmtime::Result<Linker<State>> {
    use wasmtime_wasi::p2::bindings::{cli, sync::io};
    let mut l = Linker::new(engine);
    cli::exit::add_to_linker::<State, WasiCli>(&mut l, State::cli)?;
    cli::environment::add_to_linker::<State, WasiCli>(&mut l, State::cli)?;
    cli::stdin::add_to_linker::<State, WasiCli>(&mut l, State::cli)?;
    cli::stdout::add_to_linker::<State, WasiCli>(&mut l, State::cli)?;
    cli::stderr::add_to_linker::<State, WasiCli>(&mut l, State::cli)?;
    cli::terminal_input::add_to_linker::<State, WasiCli>(&mut l, State::cli)?;
    cli::terminal_output::add_to_linker::<State, WasiCli>(&mut l, State::cli)?;
    cli::terminal_stdin::add_to_linker::<State, WasiCli>(&mut l, State::cli)?;
    cli::terminal_stdout::add_to_linker::<State, WasiCli>(&mut l, State::cli)?;
    cli::terminal_stderr::add_to_linker::<State, WasiCli>(&mut l, State::cli)?;
    wasmtime_wasi::p2::bindings::io::error::add_to_linker::<State, HasTable>(&mut l, |t| {
        &mut t.table
    })?;
    io::poll::add_to_linker::<State, HasTable>(&mut l, |t| &mut t.table)?;
    io::streams::add_to_linker::<State, HasTable>(&mut l, |t| &mut t.table)?;
    Personalizer::add_to_linker::<State, HasSelf<State>>(&mut l, |s| s)?;
    Ok(l)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_cli_io_and_our_interfaces_are_offered() {
        for ok in [
            "waybill:plugin/host@0.1.0",
            "waybill:plugin/types@0.1.0",
            "wasi:cli/stdout@0.2.6",
            "wasi:io/streams@0.2.0",
        ] {
            assert!(import_offered(ok), "{ok}");
        }
        for no in [
            "waybill:plugin/host@0.2.0",
            "waybill:plugin/host",
            "wasi:filesystem/types@0.2.0",
            "wasi:sockets/tcp@0.2.0",
            "wasi:random/random@0.2.0",
            "wasi:clocks/wall-clock@0.2.0",
        ] {
            assert!(!import_offered(no), "{no}");
        }
    }
}
