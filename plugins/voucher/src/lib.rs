//! Bundled plugin `voucher`: one voucher code per unit with its value,
//! currency and expiry, e.g. `GIFT-7KQX-MN2P-ZR4T` and
//! `50.00 PLN, valid until 2027-12-03`.
//!
//! Config: `{"value": "50.00", "currency": "PLN", "valid_days": 365,
//! "prefix": "GIFT"}` (`valid_days` and `prefix` optional). "Now" is the
//! context's `issued_at`, so a retried run states the same expiry. The
//! logic lives in [`voucher`], plain Rust tested natively; this file only
//! connects it to the host.

pub mod voucher;

use waybill_plugin_sdk::{Context, Error, HostRng, Output, Plugin, rng};

use crate::voucher::{Config, IssueError};

/// The plugin.
pub struct Voucher;

impl Plugin for Voucher {
    fn personalize(ctx: &Context) -> Result<Output, Error> {
        let config: Config = ctx.config()?;
        let items = voucher::issue(&config, &ctx.issued_at, ctx.line.quantity, &mut rng())
            .map_err(|e| match e {
                IssueError::Config(m) => Error::InvalidConfig(m),
                IssueError::Quantity(q) => Error::InvalidOptions(format!(
                    "quantity {q}: one run issues 1 to {} vouchers",
                    voucher::VOUCHERS_MAX
                )),
                IssueError::IssuedAt(m) => Error::Failed(format!("issued-at: {m}")),
            })?;
        let mut output = Output::new();
        for (label, value) in items {
            output.push(label, value);
        }
        Ok(output)
    }
}

impl voucher::Random for HostRng {
    fn below(&mut self, bound: u64) -> u64 {
        HostRng::below(self, bound)
    }
}

#[cfg(target_arch = "wasm32")]
waybill_plugin_sdk::export_plugin!(Voucher);
