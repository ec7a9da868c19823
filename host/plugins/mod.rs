//! The plugin host: runs untrusted personalization plugins (WebAssembly
//! components of the world `waybill:plugin/personalizer@0.1.0`, see
//! `wit/waybill-plugin.wit`) in a sandbox that a buggy or hostile plugin
//! cannot escape, stall or exhaust.
//!
//! - [`Sandbox`] owns the one wasmtime engine; [`Sandbox::load`] validates
//!   and compiles a component into a [`Plugin`]; [`Sandbox::run`] runs it in
//!   a fresh store with the [`Limits`], and answers a [`RunReport`] or a
//!   [`RunFailed`] whose [`RunError`] names the limit that was hit.
//! - Sources are read through [`SourceBytes`], outputs streamed into an
//!   [`OutputSink`] ([`LocalFile`] and [`DirSink`] for local runs).
//! - WIT types stay in this module (`bindings` is private); the rest of the
//!   server sees only the types below.
//!
//! - [`Registry`] keeps the installed plugins (records and components in
//!   the store); [`ComponentCache`] keeps their compiled code on disk, so a
//!   restart loads it instead of compiling. Loading machine code back is the
//!   crate's one `unsafe` block ([`Sandbox`]'s `load_precompiled_trusted`),
//!   behind the cache's checksum.
//! - [`bundled`] holds the plugins built into the binary.

mod bindings;
pub mod bundled;
mod cache;
pub mod cli;
mod io;
mod registry;
mod rng;
mod sandbox;

use std::fmt;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{SigningKey, VerifyingKey};

pub use cache::{CacheOutcome, ComponentCache};
pub use io::{DirSink, LocalFile, NAME_BYTES_MAX, OutputSink, SourceBytes, sanitize_name};
pub use registry::{PLUGIN_BYTES_MAX, PLUGIN_NAME_BYTES_MAX, Registry, RegistryError, check_name};
pub use rng::RandomStream;
pub use sandbox::{CHUNK_BYTES_MAX, Plugin, SIGN_CALLS_MAX, SIGN_PAYLOAD_BYTES_MAX, Sandbox};

/// Per-run limits. A run that passes one fails with the [`RunError`] naming it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Wall time of instantiation plus the call, in milliseconds (checked
    /// every 10 ms through epoch interruption).
    pub wall_time_ms_max: u64,
    /// Wasmtime fuel (roughly one unit per WebAssembly instruction).
    pub fuel_max: u64,
    /// Linear memory, in bytes, summed over the component's memories.
    pub memory_bytes_max: usize,
    /// Bytes over all output files.
    pub output_bytes_max: u64,
    /// Output files.
    pub output_files_max: usize,
    /// Text items returned.
    pub items_max: usize,
    /// Characters of one item's value.
    pub item_value_chars_max: usize,
    /// Bytes of the host log; also the capacity of captured stdout and of
    /// captured stderr, each.
    pub log_bytes_max: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            // A 128 MiB PDF of ~4,500 pages stamps in 0.2-0.3 s and ~0.8e9
            // fuel (benches/README.md); these leave room for 6x that.
            wall_time_ms_max: 5_000,
            fuel_max: 5_000_000_000,
            memory_bytes_max: 128 << 20,
            output_bytes_max: 256 << 20,
            output_files_max: 16,
            items_max: 1_000,
            item_value_chars_max: 10_000,
            log_bytes_max: 64 << 10,
        }
    }
}

/// What a run knows about the order (the WIT `context`, host side).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunContext {
    pub order_id: String,
    /// Also seeds the run's random stream ([`RandomStream`]).
    pub shipment_id: String,
    /// RFC 3339 UTC.
    pub issued_at: String,
    pub sku: String,
    pub product_name: String,
    pub quantity: u32,
    /// A JSON object, `{}` when none.
    pub options_json: String,
    pub buyer_name: String,
    pub buyer_email: String,
    /// A JSON object, `{}` when none.
    pub config_json: String,
}

/// An output file a run wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputInfo {
    pub name: String,
    pub content_type: String,
    pub size: u64,
}

/// Severity of a plugin log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
}

impl fmt::Display for LogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Debug => "debug",
            Self::Info => "info",
            Self::Warn => "warn",
            Self::Error => "error",
        })
    }
}

/// One line of a run's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    pub level: LogLevel,
    pub message: String,
}

/// A successful run.
#[derive(Debug, Clone)]
pub struct RunReport {
    /// `(label, value)`, in the plugin's order.
    pub items: Vec<(String, String)>,
    /// In creation order; their bytes went to the [`OutputSink`].
    pub outputs: Vec<OutputInfo>,
    pub fuel_used: u64,
    /// Peak linear memory over all of the component's memories.
    pub peak_memory_bytes: u64,
    pub wall_time: Duration,
    /// Captured, at most [`Limits::log_bytes_max`] each.
    pub stdout: String,
    pub stderr: String,
    pub logs: Vec<LogLine>,
}

/// Why a run (or a load) failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    #[error("wall-time limit reached: the run took more than {wall_time_ms_max} ms")]
    Timeout { wall_time_ms_max: u64 },
    #[error("fuel limit reached: the run used more than {fuel_max} fuel")]
    OutOfFuel { fuel_max: u64 },
    #[error(
        "memory limit reached: the plugin asked for more than {memory_bytes_max} bytes of memory"
    )]
    MemoryLimit { memory_bytes_max: usize },
    #[error("output limit reached: {0}")]
    OutputLimit(String),
    #[error("too many items: the plugin returned {count}, at most {items_max} allowed")]
    TooManyItems { count: usize, items_max: usize },
    #[error("malformed output: {0}")]
    InvalidOutput(String),
    #[error("the plugin trapped: {0}")]
    Trap(String),
    /// The plugin's own error; `kind` is the WIT case, e.g. `invalid-config`.
    #[error("the plugin failed ({kind}): {message}")]
    Plugin { kind: &'static str, message: String },
    /// The component was refused at load.
    #[error("invalid plugin: {0}")]
    Invalid(String),
    /// The host failed (storage, a source or output file); not the plugin's fault.
    #[error("host I/O error: {0}")]
    Io(String),
}

impl RunError {
    /// A stable code: `timeout`, `out_of_fuel`, `memory_limit`, ...
    pub fn code(&self) -> &'static str {
        match self {
            Self::Timeout { .. } => "timeout",
            Self::OutOfFuel { .. } => "out_of_fuel",
            Self::MemoryLimit { .. } => "memory_limit",
            Self::OutputLimit(_) => "output_limit",
            Self::TooManyItems { .. } => "too_many_items",
            Self::InvalidOutput(_) => "invalid_output",
            Self::Trap(_) => "trap",
            Self::Plugin { .. } => "plugin_error",
            Self::Invalid(_) => "invalid_plugin",
            Self::Io(_) => "host_io",
        }
    }
}

/// A failed run: the error and what was captured until then.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{error}")]
pub struct RunFailed {
    pub error: RunError,
    /// A lower bound after a timeout: wasmtime writes the fuel counter back
    /// at calls and returns, not when the clock interrupts a loop.
    pub fuel_used: u64,
    pub peak_memory_bytes: u64,
    pub wall_time: Duration,
    pub stdout: String,
    pub stderr: String,
    pub logs: Vec<LogLine>,
}

/// The shop's license-signing key, held by the host; plugins reach it only
/// through `sign`.
pub struct Signer {
    key: SigningKey,
    key_id: String,
}

impl Signer {
    /// Signs with `key`; its id is `"lk1." + base64url(blake3(public key)[..16])`.
    pub fn new(key: SigningKey) -> Self {
        let hash = blake3::hash(key.verifying_key().as_bytes());
        let key_id = format!("lk1.{}", URL_SAFE_NO_PAD.encode(&hash.as_bytes()[..16]));
        Self { key, key_id }
    }

    /// A key from its 32-byte secret as 64 hex digits.
    pub fn from_hex(hex: &str) -> Result<Self, String> {
        let hex = hex.trim();
        if hex.len() != 64 || !hex.is_ascii() {
            return Err("a signing key is 64 hex digits (32 bytes)".into());
        }
        let mut secret = [0u8; 32];
        for (i, byte) in secret.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16)
                .map_err(|_| "a signing key is 64 hex digits (32 bytes)".to_owned())?;
        }
        Ok(Self::new(SigningKey::from_bytes(&secret)))
    }

    /// The id plugins put next to signatures.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The public half, to publish.
    pub fn verifying_key(&self) -> VerifyingKey {
        self.key.verifying_key()
    }
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signer_from_hex() {
        let s = Signer::from_hex(&"07".repeat(32)).unwrap();
        assert!(s.key_id().starts_with("lk1."));
        assert_eq!(
            s.key_id(),
            Signer::from_hex(&"07".repeat(32)).unwrap().key_id()
        );
        assert!(Signer::from_hex("abc").is_err());
        assert!(Signer::from_hex(&"zz".repeat(32)).is_err());
        assert!(!format!("{s:?}").contains("07"));
    }
}
