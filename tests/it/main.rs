//! Integration tests: the real `waybill` binary driven over HTTP, with a real SMTP server.

mod cli;
mod downloads;
mod errors;
mod files;
mod flow;
mod gc;
mod hostile;
mod idempotency;
mod mail;
mod openapi;
mod persistence;
mod personalize;
mod plugins;
mod support;
mod tokens;
