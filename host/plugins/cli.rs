//! `waybill plugins run`: runs a plugin locally exactly as the server would
//! (same sandbox, same limits) and prints what it produced and what it cost,
//! in the spirit of Shopify's `function-runner`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context as _;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::{DirSink, Limits, LocalFile, RunContext, RunFailed, Sandbox, Signer, SourceBytes};

/// What `waybill plugins run` was asked to do.
#[derive(Debug, Clone)]
pub struct RunArgs {
    pub wasm: PathBuf,
    pub context: PathBuf,
    pub files: Vec<PathBuf>,
    pub out: PathBuf,
    pub signing_key_hex: Option<String>,
    pub limits: Limits,
    /// Load and keep the compiled component here, as the server does
    /// (`None`: compile every time).
    pub cache_dir: Option<PathBuf>,
}

/// The `--context` file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ContextFile {
    order_id: String,
    shipment_id: String,
    issued_at: String,
    line: LineFile,
    buyer: BuyerFile,
    #[serde(default)]
    config: Option<Map<String, Value>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LineFile {
    sku: String,
    product_name: String,
    quantity: u32,
    #[serde(default)]
    options: Option<Map<String, Value>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BuyerFile {
    name: String,
    email: String,
}

/// Parses a context file's JSON.
pub fn parse_context(json: &str) -> anyhow::Result<RunContext> {
    let file: ContextFile = serde_json::from_str(json)?;
    anyhow::ensure!(file.line.quantity >= 1, "line.quantity: must be at least 1");
    Ok(RunContext {
        order_id: file.order_id,
        shipment_id: file.shipment_id,
        issued_at: file.issued_at,
        sku: file.line.sku,
        product_name: file.line.product_name,
        quantity: file.line.quantity,
        options_json: Value::Object(file.line.options.unwrap_or_default()).to_string(),
        buyer_name: file.buyer.name,
        buyer_email: file.buyer.email,
        config_json: Value::Object(file.config.unwrap_or_default()).to_string(),
    })
}

/// Runs the command; exit status 1 when the plugin is refused or its run fails.
pub fn run(args: &RunArgs) -> anyhow::Result<ExitCode> {
    let ctx_json = std::fs::read_to_string(&args.context)
        .with_context(|| format!("cannot read {}", args.context.display()))?;
    let ctx = parse_context(&ctx_json)
        .with_context(|| format!("{}: not a valid context", args.context.display()))?;
    let signer = args
        .signing_key_hex
        .as_deref()
        .map(Signer::from_hex)
        .transpose()
        .map_err(|e| anyhow::anyhow!("--signing-key-hex: {e}"))?;
    let mut sources: Vec<Box<dyn SourceBytes>> = Vec::new();
    for path in &args.files {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let content_type = crate::files_cli::guess_content_type(&name);
        let file = LocalFile::open(path, &name, content_type)
            .with_context(|| format!("cannot open {}", path.display()))?;
        sources.push(Box::new(file));
    }
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let bytes = std::fs::read(&args.wasm)
        .with_context(|| format!("cannot read {}", args.wasm.display()))?;

    let sandbox = Sandbox::new(args.limits.clone(), signer)?;
    if let Some(signer) = sandbox_signer_note(&args.signing_key_hex) {
        println!("{signer}");
    }
    let started = Instant::now();
    let loaded = match &args.cache_dir {
        Some(dir) => {
            let hash = blake3::hash(&bytes).to_hex().to_string();
            super::ComponentCache::new(dir).load(&sandbox, &hash, || Ok(bytes.clone()))
        }
        None => sandbox
            .load(&bytes)
            .map(|p| (p, super::CacheOutcome::Compiled)),
    };
    let plugin = match loaded {
        Ok((p, outcome)) => {
            println!(
                "{}: {} in {} ms",
                args.wasm.display(),
                match outcome {
                    super::CacheOutcome::Hit => "loaded precompiled",
                    super::CacheOutcome::Compiled => "compiled",
                },
                started.elapsed().as_millis()
            );
            p
        }
        Err(e) => {
            eprintln!("{}: {e}", args.wasm.display());
            return Ok(ExitCode::FAILURE);
        }
    };
    match sandbox.run(&plugin, &ctx, sources, Box::new(DirSink::new(&args.out))) {
        Ok(report) => {
            println!("items: {}", report.items.len());
            for (label, value) in &report.items {
                println!("  {label}: {value}");
            }
            println!("outputs: {}", report.outputs.len());
            for o in &report.outputs {
                println!(
                    "  {} ({}, {} bytes) -> {}",
                    o.name,
                    o.content_type,
                    o.size,
                    args.out.join(&o.name).display()
                );
            }
            print_captured(&report.logs, &report.stdout, &report.stderr);
            print_costs(report.fuel_used, report.peak_memory_bytes, report.wall_time);
            Ok(ExitCode::SUCCESS)
        }
        Err(failed) => {
            let RunFailed {
                error,
                fuel_used,
                peak_memory_bytes,
                wall_time,
                stdout,
                stderr,
                logs,
            } = *failed;
            print_captured(&logs, &stdout, &stderr);
            print_costs(fuel_used, peak_memory_bytes, wall_time);
            eprintln!("run failed [{}]: {error}", error.code());
            Ok(ExitCode::FAILURE)
        }
    }
}

fn sandbox_signer_note(hex: &Option<String>) -> Option<String> {
    let signer = Signer::from_hex(hex.as_deref()?).ok()?;
    let public = signer.verifying_key();
    Some(format!(
        "license-signing key {} (ed25519 public key, hex: {})",
        signer.key_id(),
        public
            .as_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    ))
}

fn print_captured(logs: &[super::LogLine], stdout: &str, stderr: &str) {
    if !logs.is_empty() {
        println!("log:");
        for line in logs {
            println!("  {}: {}", line.level, line.message);
        }
    }
    for (name, text) in [("stdout", stdout), ("stderr", stderr)] {
        if !text.is_empty() {
            println!("{name}:");
            for line in text.lines() {
                println!("  {line}");
            }
        }
    }
}

fn print_costs(fuel: u64, memory: u64, wall: std::time::Duration) {
    println!("fuel used: {fuel}");
    println!(
        "peak memory: {memory} bytes ({:.1} MiB)",
        memory as f64 / (1u64 << 20) as f64
    );
    println!("wall time: {:.3} ms", wall.as_secs_f64() * 1000.0);
}

#[cfg(test)]
mod tests {
    use super::parse_context;

    #[test]
    fn context_file_parses_with_defaults() {
        let ctx = parse_context(
            r#"{"order_id":"o","shipment_id":"s","issued_at":"2026-12-03T17:00:00Z",
                "line":{"sku":"k","product_name":"P","quantity":2},
                "buyer":{"name":"Zoë","email":"z@example.com"}}"#,
        )
        .unwrap();
        assert_eq!(ctx.options_json, "{}");
        assert_eq!(ctx.config_json, "{}");
        assert_eq!(ctx.quantity, 2);
        assert!(parse_context(r#"{"order_id":"o"}"#).is_err());
        let bad = r#"{"order_id":"o","shipment_id":"s","issued_at":"t",
            "line":{"sku":"k","product_name":"P","quantity":1,"options":[1]},
            "buyer":{"name":"Z","email":"z"}}"#;
        assert!(parse_context(bad).is_err(), "options must be an object");
    }
}
