//! Bundled plugin `license-key`: one license key per unit, with a check
//! character, optionally with a signed license verifiable offline.
//!
//! Config (every field optional): `groups` (5), `group_length` (5),
//! `alphabet` (`23456789ABCDEFGHJKMNPQRSTUVWXYZ`), `separator` (`-`),
//! `prefix` (none), `signed` (false), `label` (`License key`). The logic
//! lives in [`keygen`] and [`license`], plain Rust tested natively; this file
//! only connects it to the host.

pub mod keygen;
pub mod license;

use waybill_plugin_sdk::{
    Context, Error, HostError, HostRng, Output, Plugin, public_key_id, rng, sign,
};

use crate::license::{Config, Facts, IssueError, Signed};

/// The plugin.
pub struct LicenseKey;

impl Plugin for LicenseKey {
    fn personalize(ctx: &Context) -> Result<Output, Error> {
        let config: Config = ctx.config()?;
        let facts = Facts {
            product: &ctx.line.sku,
            order: &ctx.order_id,
            issued: &ctx.issued_at,
            buyer_name: &ctx.buyer.name,
            buyer_email: &ctx.buyer.email,
        };
        let kid = match config.signed {
            true => Some(public_key_id().ok_or_else(|| {
                HostError::Unavailable(
                    "this product issues signed licenses, but the shop has no \
                     license-signing key"
                        .into(),
                )
            })?),
            false => None,
        };
        let mut sign_error = None;
        let mut host_sign = |payload: &[u8]| match sign(payload) {
            Ok(s) => Ok(Signed {
                signature: s.bytes,
                key_id: s.key_id,
            }),
            Err(e) => {
                let message = e.to_string();
                sign_error = Some(e);
                Err(message)
            }
        };
        let signer = kid
            .as_deref()
            .map(|kid| (kid, &mut host_sign as &mut dyn FnMut(&[u8]) -> _));
        let items = license::issue(&config, &facts, ctx.line.quantity, &mut rng(), signer);
        let items = items.map_err(|e| match (e, sign_error.take()) {
            // Keep the host's typed error (e.g. `unavailable`).
            (IssueError::Sign(_), Some(host)) => host,
            (IssueError::Config(m), _) => Error::InvalidConfig(m),
            (IssueError::Quantity(q), _) => Error::InvalidOptions(format!(
                "quantity {q}: one run issues 1 to {} keys",
                keygen::KEYS_MAX
            )),
            (IssueError::Sign(m), None) => Error::Failed(format!("signing the license: {m}")),
        })?;
        let mut output = Output::new();
        for (label, value) in items {
            output.push(label, value);
        }
        Ok(output)
    }
}

impl keygen::Random for HostRng {
    fn below(&mut self, bound: u64) -> u64 {
        HostRng::below(self, bound)
    }
}

#[cfg(target_arch = "wasm32")]
waybill_plugin_sdk::export_plugin!(LicenseKey);
