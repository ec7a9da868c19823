//! The command line: first start, API keys, health check, graceful stop.

use reqwest::Method;

use crate::support::*;

fn last_line(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim()
        .to_owned()
}

#[test]
fn healthz_answers_without_auth() {
    let server = Server::start();
    let r = server.send(server.anon(Method::GET, "/healthz"));
    assert_eq!(r.status, 200, "{}", r.text);
}

#[test]
fn admin_key_is_printed_once_and_works() {
    let mut server = Server::start();
    let key = server
        .printed_key()
        .expect("first start prints a key")
        .to_owned();
    assert!(key.len() >= 16, "a short admin key: {key:?}");
    assert!(
        !server.stderr().contains(&key),
        "the admin key leaked into the log"
    );
    let (status, _) = server.get("/api/v1/shipments");
    assert_eq!(status, 200);

    server.restart();
    assert!(
        server.printed_key().is_none(),
        "a restart printed a key again"
    );
    let (status, _) = server.get("/api/v1/shipments");
    assert_eq!(status, 200, "the admin key stopped working after a restart");
}

#[test]
fn keys_create_makes_a_working_key() {
    let mut server = Server::start();
    server.stop();
    let out = waybill_cli(&["keys", "create", "shop"], server.data_dir());
    assert!(
        out.status.success(),
        "keys create failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let new_key = last_line(&out.stdout);
    assert!(!new_key.is_empty() && !new_key.contains(' '), "{new_key:?}");
    assert_ne!(new_key, server.key());

    let other = waybill_cli(&["keys", "create", "erp"], server.data_dir());
    assert!(other.status.success());
    assert_ne!(last_line(&other.stdout), new_key);

    server.start_again();
    for key in [new_key.as_str(), server.key()] {
        let r = server.send(
            server
                .client()
                .get(server.url("/api/v1/shipments"))
                .bearer_auth(key),
        );
        assert_eq!(r.status, 200, "key {key:?}: {}", r.text);
    }
}

#[test]
fn keys_create_refuses_while_the_server_runs() {
    let server = Server::start();
    let out = waybill_cli(&["keys", "create", "shop"], server.data_dir());
    assert!(
        !out.status.success(),
        "keys create ran beside a live server"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.trim().is_empty(), "no error message");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let (status, _) = server.get("/healthz");
    assert_eq!(status, 200);
}

#[test]
fn stop_is_graceful_and_restart_serves_again() {
    let mut server = Server::start();
    let sku = personalized(&server);
    server.stop();
    assert!(!server.is_running());
    server.start_again();
    let (status, product) = server.get(&format!("/api/v1/products/{sku}"));
    assert_eq!(status, 200, "{product:#}");
    assert!(!server.stderr().contains("panicked"));
}

/// SIGTERM right after the listening line (as a supervisor may send it) is still graceful.
#[test]
fn sigterm_right_after_start_is_graceful() {
    let mut server = Server::start();
    server.stop();
    for _ in 0..10 {
        server.start_again();
        server.stop();
    }
}

/// Each flag also reads `WAYBILL_<FLAG>`: here `WAYBILL_DATA` instead of `--data`.
#[test]
fn data_dir_from_the_environment() {
    let mut server = Server::start();
    server.stop();
    let out = std::process::Command::new(BIN)
        .args(["keys", "create", "from-env"])
        .env("WAYBILL_DATA", server.data_dir())
        .current_dir(server.data_dir())
        .output()
        .expect("running waybill keys create");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key = last_line(&out.stdout);
    server.start_again();
    let r = server.send(
        server
            .anon(Method::GET, "/api/v1/shipments")
            .bearer_auth(&key),
    );
    assert_eq!(r.status, 200, "the key made via WAYBILL_DATA: {}", r.text);
}
