//! The server's configuration: parsed once, validated, then passed explicitly.

use std::net::SocketAddr;
use std::path::PathBuf;

/// Largest JSON request body, in bytes.
pub const JSON_BODY_BYTES_MAX: usize = 256 * 1024;
/// Most shipment ids one bulk prepare may name.
pub const BULK_IDS_MAX: usize = 10_000;

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
        if self.shop_name.trim().is_empty() {
            return Err(ConfigError("--shop-name must not be empty".to_owned()));
        }
        Ok(self)
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
