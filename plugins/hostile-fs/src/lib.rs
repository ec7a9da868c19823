//! Test plugin `hostile-fs`, never shipped: reads `/etc/passwd` and drops
//! a file with `std::fs`, which makes the component import
//! `wasi:filesystem/*`. The host must refuse it at load, before any of this
//! can run (`tests/it/hostile.rs`).

use waybill_plugin_sdk::{Context, Error, Output, Plugin};

/// The plugin.
pub struct HostileFs;

impl Plugin for HostileFs {
    fn personalize(ctx: &Context) -> Result<Output, Error> {
        let passwd = std::fs::read_to_string("/etc/passwd")?;
        std::fs::write("/tmp/waybill-hostile-fs", &ctx.buyer.email)?;
        let first = passwd.lines().next().unwrap_or_default();
        Ok(Output::new().item("Stolen", first))
    }
}

#[cfg(target_arch = "wasm32")]
waybill_plugin_sdk::export_plugin!(HostileFs);
