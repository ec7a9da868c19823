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

/// Uploads `bytes` bytes as a file; the answer's status.
fn upload_status(server: &Server, bytes: usize) -> u16 {
    server
        .send(
            server
                .request(Method::POST, "/api/v1/files?name=x.bin")
                .body(vec![7u8; bytes]),
        )
        .status
}

#[test]
fn a_config_file_sets_what_flags_do_not() {
    let scratch = tempfile::tempdir().unwrap();
    let config = scratch.path().join("waybill.toml");
    std::fs::write(
        &config,
        "# A shop's settings\nshop_name = \"Sklep z pliku\"\nupload_bytes_max = 1000\nplugin_wall_time_ms_max = 777\n",
    )
    .unwrap();
    let config = config.to_str().unwrap().to_owned();

    let server = Server::start_with(ServerOpts {
        extra_args: vec!["--config".into(), config.clone()],
        ..ServerOpts::default()
    });
    assert_eq!(upload_status(&server, 1000), 201);
    assert_eq!(upload_status(&server, 1001), 413, "the file's limit");
    drop(server);

    // A flag wins over the file.
    let server = Server::start_with(ServerOpts {
        extra_args: vec![
            "--config".into(),
            config,
            "--upload-bytes-max".into(),
            "2000".into(),
        ],
        ..ServerOpts::default()
    });
    assert_eq!(upload_status(&server, 1500), 201, "the flag's limit");
}

#[test]
fn a_config_file_with_an_unknown_key_or_a_bad_value_is_refused() {
    let scratch = tempfile::tempdir().unwrap();
    for (text, says) in [
        ("shop_nmae = \"typo\"\n", "unknown field `shop_nmae`"),
        ("upload_bytes_max = \"lots\"\n", "upload_bytes_max"),
        ("listen = \"nowhere\"\n", "listen"),
    ] {
        let config = scratch.path().join("bad.toml");
        std::fs::write(&config, text).unwrap();
        let out = std::process::Command::new(BIN)
            .args(["serve", "--listen", "127.0.0.1:0", "--config"])
            .arg(&config)
            .arg("--data")
            .arg(scratch.path().join("data"))
            .output()
            .expect("running waybill serve");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{text}: started anyway");
        assert!(
            stderr.contains("bad.toml") && stderr.contains(says),
            "{text}: {stderr}"
        );
    }
    let out = std::process::Command::new(BIN)
        .args(["serve", "--config", "/nonexistent/waybill.toml"])
        .output()
        .expect("running waybill serve");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cannot read the config file"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
