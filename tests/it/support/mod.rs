//! Test harness: the server process, the SMTP sink, shop helpers and problem assertions.

pub mod files;
pub mod server;
pub mod shop;
pub mod smtp;

pub use files::*;
pub use server::{BIN, Resp, Server, ServerOpts, http_client, wait_until, waybill_cli};
pub use shop::*;
pub use smtp::{Mail, SmtpSink, free_port, smtp_url};

/// Text that must never reach a client: panics, source locations, internal paths.
const LEAKS: &[&str] = &[
    "panicked",
    "RUST_BACKTRACE",
    ".rs:",
    "/tmp/",
    "/root/",
    "/home/",
    "/work/",
    "/var/",
    "waybill-it-",
];

/// Asserts an RFC 9457 problem answer with this status and code that leaks nothing internal.
pub fn assert_problem(resp: &Resp, status: u16, code: &str) {
    let body = resp.json();
    assert_eq!(
        (resp.status, body["code"].as_str()),
        (status, Some(code)),
        "expected HTTP {status} with code {code:?}, got {}: {}",
        resp.status,
        resp.text
    );
    assert!(
        resp.content_type().starts_with("application/problem+json"),
        "problem answer with content-type {:?}: {}",
        resp.content_type(),
        resp.text
    );
    assert_eq!(
        body["status"].as_u64(),
        Some(u64::from(status)),
        "problem `status` differs from the HTTP status: {}",
        resp.text
    );
    assert!(
        body["title"].is_string() && body["detail"].is_string(),
        "problem without title/detail strings: {}",
        resp.text
    );
    assert_no_leaks(&resp.text);
}

/// Asserts that a body shows no panic messages, source locations or file-system paths.
pub fn assert_no_leaks(text: &str) {
    for leak in LEAKS {
        assert!(
            !text.contains(leak),
            "response leaks internals ({leak:?}): {text}"
        );
    }
}
