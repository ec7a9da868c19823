//! Integration tests: the real `waybill` binary driven over HTTP, with a real SMTP server.

mod cli;
mod errors;
mod flow;
mod idempotency;
mod mail;
mod openapi;
mod persistence;
mod support;
mod tokens;
