//! The Waybill plugin SDK: write a personalization plugin in ordinary Rust.
//!
//! A plugin is a type implementing [`Plugin`], exported with
//! [`export_plugin!`] from a `cdylib` crate built for `wasm32-wasip2`:
//!
//! ```ignore
//! use waybill_plugin_sdk::{Context, Error, Output, Plugin, export_plugin};
//!
//! struct Hello;
//!
//! impl Plugin for Hello {
//!     fn personalize(ctx: &Context) -> Result<Output, Error> {
//!         Ok(Output::new().item("Greeting", format!("Hello, {}!", ctx.buyer.name)))
//!     }
//! }
//!
//! export_plugin!(Hello);
//! ```
//!
//! The host gives the plugin a [`Context`] (the order, the buyer, the
//! product's config and its source files as [`SourceFile`]s read in chunks)
//! and a few services: [`rng`] (randomness seeded per shipment), [`sign`]
//! (the shop's license-signing key), [`log`] and [`create_output`] (output
//! files written through [`OutputFile`], an [`std::io::Write`]). The WIT
//! contract in `wit/` stays behind this crate: plugin code never sees the
//! generated types.
//!
//! Calls into the host work only inside a running component; on a native
//! target they panic, so keep the logic you unit-test natively free of them
//! (take an RNG as a parameter, write to any `std::io::Write`).

mod context;
mod error;
mod files;
mod host;

pub use context::{Buyer, Context, Item, Line, Output};
pub use error::{Error, HostError};
pub use files::{OutputFile, SourceFile, SourceReader, create_output};
pub use host::{HostRng, Level, Signature, log, public_key_id, rng, sign};

/// A personalization plugin: turns one shipment's context into items and
/// output files.
pub trait Plugin {
    /// Personalizes one shipment. Output files are those created with
    /// [`create_output`] during the call; on `Err` the host discards them.
    fn personalize(ctx: &Context) -> Result<Output, Error>;
}

/// The code generated from `wit/` by `wit-bindgen`. Only
/// [`export_plugin!`] reaches in here.
#[doc(hidden)]
#[allow(unsafe_code, missing_docs, clippy::all)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "personalizer",
        path: "../../wit",
        export_macro_name: "__export_personalizer",
        pub_export_macro: true,
    });
}

/// Bridges a [`Plugin`] to the generated `Guest` trait. Used by
/// [`export_plugin!`]; not part of the API.
#[doc(hidden)]
pub struct Adapter<P>(std::marker::PhantomData<P>);

impl<P: Plugin> bindings::Guest for Adapter<P> {
    fn personalize(
        ctx: bindings::waybill::plugin::types::Context,
        sources: Vec<bindings::waybill::plugin::host::SourceFile>,
    ) -> Result<
        Vec<bindings::waybill::plugin::types::Item>,
        bindings::waybill::plugin::types::PluginError,
    > {
        let ctx = Context::from_wit(ctx, sources);
        match P::personalize(&ctx) {
            Ok(output) => Ok(output.into_wit()),
            Err(error) => Err(error.into_wit()),
        }
    }
}

/// Exports a [`Plugin`] as the component's `personalize` function. Invoke
/// it once, at the root of the plugin crate.
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty) => {
        #[allow(unsafe_code)]
        const _: () = {
            type __WaybillPlugin = $crate::Adapter<$plugin>;
            $crate::bindings::__export_personalizer!(
                __WaybillPlugin with_types_in $crate::bindings
            );
        };
    };
}
