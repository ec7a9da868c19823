//! The plugins shipped inside the binary: `build.rs` builds `plugins/license-key`,
//! `plugins/voucher` and `plugins/pdf-watermark` for wasm32-wasip2 and embeds
//! the components here; the server installs them on first start.

/// `(name, component bytes)` of each bundled plugin.
pub const BUNDLED: &[(&str, &[u8])] = include!(concat!(env!("OUT_DIR"), "/bundled_plugins.rs"));
