//! The command line: `serve`, `keys create`, `keys rotate-signing`, `files`, `plugins run`.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::Config;

/// Waybill fulfils orders for personalized digital products.
#[derive(Debug, Parser)]
#[command(name = "waybill", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// What to do.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server.
    Serve(ServeArgs),
    /// Manage API keys and token signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Add and check stored files (the server must be stopped).
    #[command(subcommand)]
    Files(FilesCommand),
    /// Develop and check personalization plugins.
    #[command(subcommand)]
    Plugins(PluginsCommand),
}

/// Plugin tooling.
#[derive(Debug, Subcommand)]
pub enum PluginsCommand {
    /// Run a plugin locally exactly as the server would; prints its items,
    /// outputs, fuel used, peak memory and wall time (exit status 1 if the
    /// plugin is refused or its run fails).
    Run {
        /// The plugin component (`.wasm`, built for wasm32-wasip2).
        wasm: PathBuf,
        /// The order context as JSON: {"order_id", "shipment_id", "issued_at",
        /// "line": {"sku", "product_name", "quantity", "options"},
        /// "buyer": {"name", "email"}, "config"}.
        #[arg(long)]
        context: PathBuf,
        /// A source file handed to the plugin (repeatable, in order).
        #[arg(long = "file")]
        files: Vec<PathBuf>,
        /// Directory the output files are written to (created if missing).
        #[arg(long)]
        out: PathBuf,
        /// The license-signing key `sign` uses: its 32-byte ed25519 secret
        /// as 64 hex digits (default: none, `sign` is unavailable).
        #[arg(long, env = "WAYBILL_PLUGIN_SIGNING_KEY_HEX", hide_env_values = true)]
        signing_key_hex: Option<String>,
        #[command(flatten)]
        limits: PluginLimitArgs,
        /// Keep the compiled component in this directory and load it from
        /// there next time, as the server does (default: compile every run).
        #[arg(long)]
        cache_dir: Option<PathBuf>,
    },
    /// Install a plugin component under a name (the server must be stopped;
    /// while it runs, use `PUT /api/v1/plugins/{name}`). Installing under a
    /// taken name replaces that plugin's version.
    Add {
        /// The plugin component (`.wasm`, built for wasm32-wasip2).
        wasm: PathBuf,
        /// The name products use (default: the file name without `.wasm`,
        /// `_` turned into `-`).
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        data: DataArg,
    },
    /// List the installed plugins (the server must be stopped; while it
    /// runs, use `GET /api/v1/plugins`).
    List {
        #[command(flatten)]
        data: DataArg,
    },
}

/// File management.
#[derive(Debug, Subcommand)]
pub enum FilesCommand {
    /// Store a file; prints its id as the last line.
    Add {
        /// The file to store.
        path: PathBuf,
        /// Name buyers see (default: the file's name).
        #[arg(long)]
        name: Option<String>,
        /// Media type (default: guessed from the extension).
        #[arg(long)]
        content_type: Option<String>,
        #[command(flatten)]
        data: DataArg,
    },
    /// Re-hash every stored file and report any corruption (exit status 1 if any).
    Verify {
        #[command(flatten)]
        data: DataArg,
    },
}

/// Flags of `serve`; each also reads `WAYBILL_<FLAG>`, then the `--config`
/// file's `<flag>` (with `_` for `-`), then the default.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// A TOML file with any of these settings, e.g. `shop_name = "My shop"`.
    #[arg(long, env = "WAYBILL_CONFIG")]
    pub config: Option<PathBuf>,
    /// Directory of the database and keys (default ./waybill-data).
    #[arg(long = "data", env = "WAYBILL_DATA")]
    pub data: Option<PathBuf>,
    /// Address to listen on (default 127.0.0.1:8080).
    #[arg(long, env = "WAYBILL_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Base URL of buyer links (default: http://<listen address>).
    #[arg(long, env = "WAYBILL_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// SMTP server for buyer e-mails, e.g. smtp://127.0.0.1:25 (default: write mail to the log).
    #[arg(long, env = "WAYBILL_SMTP_URL")]
    pub smtp_url: Option<String>,
    /// Sender of buyer e-mails.
    #[arg(long, env = "WAYBILL_MAIL_FROM")]
    pub mail_from: Option<String>,
    /// The shop's name, shown to buyers.
    #[arg(long, env = "WAYBILL_SHOP_NAME")]
    pub shop_name: Option<String>,
    /// Largest file one upload may carry, in bytes (default 128 MiB).
    #[arg(long, env = "WAYBILL_UPLOAD_BYTES_MAX")]
    pub upload_bytes_max: Option<u64>,
    /// Seconds an unreferenced file is kept before it is deleted (default 86400).
    #[arg(long, env = "WAYBILL_BLOB_GRACE_SECS")]
    pub blob_grace_secs: Option<u64>,
    /// Seconds between collections of unreferenced files (default 60).
    #[arg(long, env = "WAYBILL_GC_INTERVAL_SECS")]
    pub gc_interval_secs: Option<u64>,
    /// Wall time of one plugin run, in milliseconds (default 5000).
    #[arg(long, env = "WAYBILL_PLUGIN_WALL_TIME_MS_MAX")]
    pub plugin_wall_time_ms_max: Option<u64>,
    /// Fuel of one plugin run, about one unit per instruction (default 5000000000).
    #[arg(long, env = "WAYBILL_PLUGIN_FUEL_MAX")]
    pub plugin_fuel_max: Option<u64>,
    /// Linear memory of one plugin run, in bytes (default 128 MiB).
    #[arg(long, env = "WAYBILL_PLUGIN_MEMORY_BYTES_MAX")]
    pub plugin_memory_bytes_max: Option<usize>,
    /// Bytes all output files of one plugin run may hold (default 256 MiB).
    #[arg(long, env = "WAYBILL_PLUGIN_OUTPUT_BYTES_MAX")]
    pub plugin_output_bytes_max: Option<u64>,
    /// Output files one plugin run may create (default 16).
    #[arg(long, env = "WAYBILL_PLUGIN_OUTPUT_FILES_MAX")]
    pub plugin_output_files_max: Option<usize>,
    /// Text items one plugin run may return (default 1000).
    #[arg(long, env = "WAYBILL_PLUGIN_ITEMS_MAX")]
    pub plugin_items_max: Option<usize>,
    /// Plugin runs at once (default: the number of cores).
    #[arg(long, env = "WAYBILL_PLUGIN_RUNS_CONCURRENT_MAX")]
    pub plugin_runs_concurrent_max: Option<usize>,
    /// Directory of precompiled plugins (default: <data>/plugin-cache); may be shared.
    #[arg(long, env = "WAYBILL_PLUGIN_CACHE_DIR")]
    pub plugin_cache_dir: Option<PathBuf>,
}

/// Overrides of the per-run plugin limits (default: the server's).
#[derive(Debug, Args)]
pub struct PluginLimitArgs {
    /// Wall time of a run, in milliseconds (default 5000).
    #[arg(long)]
    pub wall_time_ms_max: Option<u64>,
    /// Fuel of a run (default 5000000000).
    #[arg(long)]
    pub fuel_max: Option<u64>,
    /// Linear memory of a run, in bytes (default 128 MiB).
    #[arg(long)]
    pub memory_bytes_max: Option<usize>,
    /// Output bytes of a run (default 256 MiB).
    #[arg(long)]
    pub output_bytes_max: Option<u64>,
    /// Output files of a run (default 16).
    #[arg(long)]
    pub output_files_max: Option<usize>,
    /// Items of a run (default 1000).
    #[arg(long)]
    pub items_max: Option<usize>,
}

impl PluginLimitArgs {
    /// The default limits with these overrides.
    pub fn limits(&self) -> crate::plugins::Limits {
        let mut limits = crate::plugins::Limits::default();
        if let Some(v) = self.wall_time_ms_max {
            limits.wall_time_ms_max = v;
        }
        if let Some(v) = self.fuel_max {
            limits.fuel_max = v;
        }
        if let Some(v) = self.memory_bytes_max {
            limits.memory_bytes_max = v;
        }
        if let Some(v) = self.output_bytes_max {
            limits.output_bytes_max = v;
        }
        if let Some(v) = self.output_files_max {
            limits.output_files_max = v;
        }
        if let Some(v) = self.items_max {
            limits.items_max = v;
        }
        limits
    }
}

/// Where the data lives when nothing says otherwise.
pub const DATA_DIR_DEFAULT: &str = "./waybill-data";
/// Where `serve` listens when nothing says otherwise.
pub const LISTEN_DEFAULT: &str = "127.0.0.1:8080";

/// The data directory flag shared by the other commands.
#[derive(Debug, Args)]
pub struct DataArg {
    /// Directory of the database and keys.
    #[arg(long = "data", env = "WAYBILL_DATA", default_value = DATA_DIR_DEFAULT)]
    pub dir: PathBuf,
}

/// Key management.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create an API key; prints it as the last line (the server must be stopped).
    Create {
        /// A name to recognise the key by.
        name: String,
        #[command(flatten)]
        data: DataArg,
    },
    /// Make a new token signing key active; links already sent stay valid.
    RotateSigning {
        #[command(flatten)]
        data: DataArg,
    },
}

impl ServeArgs {
    /// The configuration these flags (and the `--config` file) describe,
    /// not yet validated.
    pub fn config(&self) -> Result<Config, crate::config::ConfigError> {
        let file = match &self.config {
            Some(path) => crate::config::FileConfig::load(path)?,
            None => crate::config::FileConfig::default(),
        };
        let data = self
            .data
            .clone()
            .or(file.data)
            .unwrap_or_else(|| PathBuf::from(DATA_DIR_DEFAULT));
        let listen = self
            .listen
            .or(file.listen)
            .unwrap_or_else(|| LISTEN_DEFAULT.parse().expect("a valid address"));
        let mut config = Config::new(data, listen);
        config.public_url = self.public_url.clone().or(file.public_url);
        config.smtp_url = self.smtp_url.clone().or(file.smtp_url);
        if let Some(from) = self.mail_from.clone().or(file.mail_from) {
            config.mail_from = from;
        }
        if let Some(name) = self.shop_name.clone().or(file.shop_name) {
            config.shop_name = name;
        }
        if let Some(bytes) = self.upload_bytes_max.or(file.upload_bytes_max) {
            config.upload_bytes_max = bytes;
        }
        if let Some(secs) = self.blob_grace_secs.or(file.blob_grace_secs) {
            config.blob_grace_secs = secs;
        }
        if let Some(secs) = self.gc_interval_secs.or(file.gc_interval_secs) {
            config.gc_interval_secs = secs;
        }
        let limits = &mut config.plugin_limits;
        if let Some(v) = self
            .plugin_wall_time_ms_max
            .or(file.plugin_wall_time_ms_max)
        {
            limits.wall_time_ms_max = v;
        }
        if let Some(v) = self.plugin_fuel_max.or(file.plugin_fuel_max) {
            limits.fuel_max = v;
        }
        if let Some(v) = self
            .plugin_memory_bytes_max
            .or(file.plugin_memory_bytes_max)
        {
            limits.memory_bytes_max = v;
        }
        if let Some(v) = self
            .plugin_output_bytes_max
            .or(file.plugin_output_bytes_max)
        {
            limits.output_bytes_max = v;
        }
        if let Some(v) = self
            .plugin_output_files_max
            .or(file.plugin_output_files_max)
        {
            limits.output_files_max = v;
        }
        if let Some(v) = self.plugin_items_max.or(file.plugin_items_max) {
            limits.items_max = v;
        }
        if let Some(n) = self
            .plugin_runs_concurrent_max
            .or(file.plugin_runs_concurrent_max)
        {
            config.plugin_runs_concurrent_max = n;
        }
        config.plugin_cache_dir = self.plugin_cache_dir.clone().or(file.plugin_cache_dir);
        Ok(config)
    }
}
