//! The server's configuration: parsed once, validated, then passed explicitly.

use std::net::SocketAddr;
use std::path::PathBuf;

/// Largest JSON request body, in bytes.
pub const JSON_BODY_BYTES_MAX: usize = 256 * 1024;
/// Default largest upload: 128 MiB.
pub const UPLOAD_BYTES_MAX_DEFAULT: u64 = 128 * 1024 * 1024;
/// Default time an unreferenced file is kept: a day, time to name it in a product.
pub const BLOB_GRACE_SECS_DEFAULT: u64 = 24 * 3600;
/// Default time between collections of unreferenced files.
pub const GC_INTERVAL_SECS_DEFAULT: u64 = 60;
/// Most shipment ids one bulk prepare may name (one write operation holds
/// all of them, so this bounds its memory and time).
pub const BULK_IDS_MAX: usize = 1000;
/// Uploads streamed at once; more wait their turn. Each holds up to a few
/// MiB of chunks in memory, so this bounds the server's memory.
pub const UPLOADS_CONCURRENT_MAX: usize = 8;

/// Everything `serve` needs, validated.
#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    /// Base of buyer links, without a trailing slash; `None`: `http://<bound address>`.
    pub public_url: Option<String>,
    /// `smtp://host:port` or `smtps://...`; `None`: mail is written to the log.
    pub smtp_url: Option<String>,
    pub mail_from: String,
    pub shop_name: String,
    /// Largest file one upload may carry.
    pub upload_bytes_max: u64,
    /// How long an unreferenced file is kept before collection.
    pub blob_grace_secs: u64,
    /// How often unreferenced files are collected.
    pub gc_interval_secs: u64,
    /// Limits of every plugin run.
    pub plugin_limits: crate::plugins::Limits,
    /// Plugin runs at once; more jobs wait in the queue.
    pub plugin_runs_concurrent_max: usize,
    /// Where precompiled plugins are kept; `None`: `<data dir>/plugin-cache`.
    pub plugin_cache_dir: Option<PathBuf>,
}

/// The settings a `--config` TOML file may hold: the `serve` flags, named
/// with `_` (`smtp_url = "smtp://..."`). A flag or a `WAYBILL_*` variable
/// wins over the file; the file wins over the defaults.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub data: Option<PathBuf>,
    pub listen: Option<SocketAddr>,
    pub public_url: Option<String>,
    pub smtp_url: Option<String>,
    pub mail_from: Option<String>,
    pub shop_name: Option<String>,
    pub upload_bytes_max: Option<u64>,
    pub blob_grace_secs: Option<u64>,
    pub gc_interval_secs: Option<u64>,
    pub plugin_wall_time_ms_max: Option<u64>,
    pub plugin_fuel_max: Option<u64>,
    pub plugin_memory_bytes_max: Option<usize>,
    pub plugin_output_bytes_max: Option<u64>,
    pub plugin_output_files_max: Option<usize>,
    pub plugin_items_max: Option<usize>,
    pub plugin_runs_concurrent_max: Option<usize>,
    pub plugin_cache_dir: Option<PathBuf>,
}

impl FileConfig {
    /// Reads and parses `path`; an unknown key or a wrong type is an error
    /// naming the file, the line and the key.
    pub fn load(path: &std::path::Path) -> Result<FileConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigError(format!(
                "cannot read the config file {}: {e}",
                path.display()
            ))
        })?;
        toml::from_str(&text).map_err(|e| ConfigError(format!("{}: {e}", path.display())))
    }
}

/// A configuration value that cannot work.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(pub String);

impl Config {
    /// Defaults that work with no flags at all.
    pub fn new(data_dir: PathBuf, listen: SocketAddr) -> Config {
        Config {
            data_dir,
            listen,
            public_url: None,
            smtp_url: None,
            mail_from: "Waybill <waybill@localhost>".to_owned(),
            shop_name: "Waybill".to_owned(),
            upload_bytes_max: UPLOAD_BYTES_MAX_DEFAULT,
            blob_grace_secs: BLOB_GRACE_SECS_DEFAULT,
            gc_interval_secs: GC_INTERVAL_SECS_DEFAULT,
            plugin_limits: crate::plugins::Limits::default(),
            plugin_runs_concurrent_max: std::thread::available_parallelism().map_or(2, |n| n.get()),
            plugin_cache_dir: None,
        }
    }

    /// Checks every field; normalizes the public URL.
    pub fn validated(mut self) -> Result<Config, ConfigError> {
        if let Some(url) = &self.public_url {
            let trimmed = url.trim_end_matches('/');
            let rest = trimmed
                .strip_prefix("http://")
                .or_else(|| trimmed.strip_prefix("https://"))
                .ok_or_else(|| {
                    ConfigError(format!(
                        "--public-url `{url}` must start with http:// or https://"
                    ))
                })?;
            if rest.is_empty() || rest.contains(char::is_whitespace) {
                return Err(ConfigError(format!("--public-url `{url}` has no host")));
            }
            self.public_url = Some(trimmed.to_owned());
        }
        if let Some(url) = &self.smtp_url
            && !(url.starts_with("smtp://") || url.starts_with("smtps://"))
        {
            return Err(ConfigError(format!(
                "--smtp-url `{url}` must look like smtp://host:port or smtps://host:port"
            )));
        }
        if self.mail_from.parse::<lettre::message::Mailbox>().is_err() {
            return Err(ConfigError(format!(
                "--mail-from `{}` is not an e-mail address",
                self.mail_from
            )));
        }
        if self.gc_interval_secs == 0 {
            return Err(ConfigError(
                "--gc-interval-secs must be at least 1".to_owned(),
            ));
        }
        if self.upload_bytes_max == 0 {
            return Err(ConfigError(
                "--upload-bytes-max must be at least 1".to_owned(),
            ));
        }
        if self.plugin_runs_concurrent_max == 0 {
            return Err(ConfigError(
                "--plugin-runs-concurrent-max must be at least 1".to_owned(),
            ));
        }
        let limits = &self.plugin_limits;
        if limits.wall_time_ms_max == 0 || limits.fuel_max == 0 || limits.memory_bytes_max == 0 {
            return Err(ConfigError(
                "the plugin wall time, fuel and memory limits must be at least 1".to_owned(),
            ));
        }
        if self.shop_name.trim().is_empty() {
            return Err(ConfigError("--shop-name must not be empty".to_owned()));
        }
        Ok(self)
    }

    /// Directory of precompiled plugins.
    pub fn plugin_cache_dir(&self) -> PathBuf {
        self.plugin_cache_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("plugin-cache"))
    }

    /// Directory of the license-signing key plugins sign with.
    pub fn license_key_dir(&self) -> PathBuf {
        self.data_dir.join("license-key")
    }

    /// Path of the redb metadata file.
    pub fn db_path(&self) -> PathBuf {
        self.data_dir.join("waybill.redb")
    }

    /// Directory of the token signing keys.
    pub fn keys_dir(&self) -> PathBuf {
        self.data_dir.join("keys")
    }
}
