//! Waybill: a self-hosted server that fulfils orders for personalized digital products.
//!
//! See `ARCHITECTURE.md` for the codemap. The binary (`main.rs`) only parses
//! the command line and calls into this library; tests start the real
//! server through [`run`] or the binary.

pub mod domain;
pub mod store;
pub mod tokens;

pub mod auth;
pub mod cli;
pub mod clock;
pub mod config;
pub mod fulfilment;
pub mod http;
pub mod ids;
pub mod notify;
pub mod personalizer;
pub mod plugins;
pub mod server;

pub use http::app;
pub use server::run;
pub mod blobs;
pub mod files_cli;
