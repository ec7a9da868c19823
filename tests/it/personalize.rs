//! Personalization through the running server: products naming a plugin,
//! the background runs that payment queues, their results on the shipment,
//! in the buyer's link and e-mail, failures and retries, the plugin
//! registry over HTTP and on the command line, hostile plugins, restarts
//! in the middle of the work, and the precompiled-component cache.
//!
//! The plugin components come from `plugins/build.sh` (see `plugins.rs`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signature, Verifier as _, VerifyingKey};
use reqwest::Method;
use reqwest::blocking::RequestBuilder;
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::plugins::{assert_qpdf_check, component, have, small_pdf};
use crate::support::*;

/// A plugin run after payment: loading from the shared cache and running
/// takes well under a second; a loaded 2-core machine is slower.
const RUN_WAIT: Duration = Duration::from_secs(60);
const MAIL_WAIT: Duration = Duration::from_secs(20);
/// Long enough for a second, wrong e-mail to have arrived.
const SETTLE: Duration = Duration::from_millis(1500);
/// More fuel than any run here burns before its wall-time limit, so that
/// the clock is what stops a spinning plugin.
const ENDLESS_FUEL: &str = "1000000000000000";
/// The default license key format: 5 groups of 5 from this alphabet, `-`.
const KEY_ALPHABET: &str = "23456789ABCDEFGHJKMNPQRSTUVWXYZ";

// ---------------------------------------------------------------------------
// Helpers

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

/// A server with these extra `serve` flags, mailing through `smtp` if given.
fn server_with(smtp: Option<&SmtpSink>, extra: &[&str]) -> Server {
    Server::start_with(ServerOpts {
        smtp_url: smtp.map(SmtpSink::url),
        mail_from: smtp.map(|_| "shop@example.org".to_owned()),
        extra_args: args(extra),
        ..ServerOpts::default()
    })
}

/// A personalized product run by `plugin` with `config`; returns its sku.
fn plugin_product(
    server: &Server,
    plugin: &str,
    config: Value,
    auto_prepare: bool,
    files: &[&str],
) -> String {
    let sku = unique(&format!("by-{plugin}"));
    put_product(
        server,
        &sku,
        json!({"name": format!("Made by {plugin}"), "kind": "personalized",
               "plugin": {"name": plugin, "config": config},
               "auto_prepare": auto_prepare, "files": files}),
    );
    sku
}

/// An order of `quantity` units of `sku` for a fresh buyer, not yet paid:
/// the order and its one shipment's id.
fn order_units(server: &Server, sku: &str, quantity: u32) -> (Value, String) {
    let body = json!({"external_id": unique("shop"), "buyer": buyer(),
                      "lines": [{"sku": sku, "quantity": quantity}]});
    let order = create_order(server, &body);
    let ids = shipment_ids(&order);
    assert_eq!(ids.len(), 1, "{order:#}");
    (order, ids[0].clone())
}

/// Orders and pays `quantity` units of `sku`: the order and the shipment id.
fn buy_units(server: &Server, sku: &str, quantity: u32) -> (Value, String) {
    let (order, id) = order_units(server, sku, quantity);
    pay(server, str_of(&order, "id"));
    (order, id)
}

fn email_of(v: &Value) -> String {
    str_of(&v["buyer"], "email").to_owned()
}

/// The shipment once its queued plugin run has finished (succeeded or failed).
fn wait_run(server: &Server, id: &str) -> Value {
    wait_until(
        RUN_WAIT,
        &format!("the plugin run of shipment {id}"),
        || {
            let s = shipment(server, id);
            match s["personalization"]["status"].as_str() {
                Some("succeeded" | "failed") => Some(s),
                Some("queued") => None,
                other => panic!("personalization status {other:?}: {s:#}"),
            }
        },
    )
}

/// Asserts a successful run (the `runs`-th) and answers the plugin's items.
fn assert_succeeded(s: &Value, plugin: &str, runs: u64) -> Vec<(String, String)> {
    let p = &s["personalization"];
    assert_eq!(p["status"], "succeeded", "{s:#}");
    assert_eq!(p["plugin"], plugin, "{s:#}");
    assert!(p["error"].is_null(), "{s:#}");
    assert_eq!(p["runs"], runs, "{s:#}");
    parse_time(&p["finished_at"]);
    assert!(p["last_run"]["plugin_version"].is_string(), "{s:#}");
    plugin_items(s)
}

/// Asserts a failed run with `code`; the shipment stays in preparation with
/// nothing from the plugin and no link. Answers the failure's message.
fn assert_failed(s: &Value, code: &str) -> String {
    let p = &s["personalization"];
    assert_eq!(p["status"], "failed", "{s:#}");
    assert_eq!(p["error"]["code"], code, "{s:#}");
    assert_eq!(s["status"], "in_preparation", "{s:#}");
    assert!(s["download_url"].is_null(), "{s:#}");
    assert!(plugin_items(s).is_empty(), "{s:#}");
    assert!(
        s["files"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["source"] != "plugin"),
        "{s:#}"
    );
    assert!(p["last_run"].is_object(), "{s:#}");
    str_of(&p["error"], "message").to_owned()
}

/// The items a plugin made, in order; their ids are `pl1`, `pl2`, ...
fn plugin_items(s: &Value) -> Vec<(String, String)> {
    let items: Vec<&Value> = s["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items array: {s:#}"))
        .iter()
        .filter(|i| i["from_plugin"] == true)
        .collect();
    for (n, item) in items.iter().enumerate() {
        assert_eq!(item["id"], format!("pl{}", n + 1), "{s:#}");
    }
    items
        .iter()
        .map(|i| (str_of(i, "label").to_owned(), str_of(i, "value").to_owned()))
        .collect()
}

/// Values of the items whose label starts with `prefix`.
fn values(items: &[(String, String)], prefix: &str) -> Vec<String> {
    items
        .iter()
        .filter(|(l, _)| l.starts_with(prefix))
        .map(|(_, v)| v.clone())
        .collect()
}

/// Whether `key` has the default license key format and a right Damm check
/// character (`plugins/license-key/src/keygen.rs`).
fn is_license_key(key: &str, prefix: &str) -> bool {
    let body = if prefix.is_empty() {
        Some(key)
    } else {
        key.strip_prefix(prefix).and_then(|b| b.strip_prefix('-'))
    };
    let Some(body) = body else {
        return false;
    };
    let groups: Vec<&str> = body.split('-').collect();
    if groups.len() != 5 || groups.iter().any(|g| g.len() != 5) {
        return false;
    }
    let n = KEY_ALPHABET.len();
    let mut interim = 0;
    for c in body.chars().filter(|&c| c != '-') {
        let Some(digit) = KEY_ALPHABET.find(c) else {
            return false;
        };
        interim = (2 * interim + n - digit) % n;
    }
    interim == 0
}

fn assert_distinct(values: &[String]) {
    let mut sorted = values.to_vec();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), values.len(), "values repeat: {values:?}");
}

/// The messages sent to `email`.
fn mails_to(sink: &SmtpSink, email: &str) -> Vec<Mail> {
    sink.messages()
        .into_iter()
        .filter(|m| m.rcpt_tos() == vec![email.to_owned()])
        .collect()
}

/// A PUT of a plugin component, with the long timeout of big bodies (a
/// debug build compiles a component it has not cached for many seconds).
fn put_plugin_request(server: &Server, name: &str, bytes: Vec<u8>) -> RequestBuilder {
    files_client()
        .request(Method::PUT, server.url(&format!("/api/v1/plugins/{name}")))
        .bearer_auth(server.key())
        .header("content-type", "application/wasm")
        .body(bytes)
}

fn put_plugin(server: &Server, name: &str, bytes: Vec<u8>) -> Resp {
    try_send(put_plugin_request(server, name, bytes))
        .unwrap_or_else(|e| panic!("PUT /api/v1/plugins/{name}: {e}"))
}

fn read_component(file: &str) -> Vec<u8> {
    std::fs::read(component(file)).unwrap()
}

/// Installs `plugins/hostile` as `hostile`.
fn install_hostile(server: &Server) {
    let r = put_plugin(server, "hostile", read_component("hostile"));
    assert_eq!(r.status, 201, "installing hostile: {}", r.text);
}

/// A POST .../personalize.
fn personalize(server: &Server, id: &str) -> Resp {
    server.call(
        Method::POST,
        &format!("/api/v1/shipments/{id}/personalize"),
        None,
    )
}

fn blake3_hex(bytes: &[u8]) -> String {
    blake3::hash(bytes).to_hex().to_string()
}

/// The plugins as `GET /api/v1/plugins` lists them, by name.
fn plugins_by_name(server: &Server) -> Vec<(String, Value)> {
    let (status, body) = server.get("/api/v1/plugins");
    assert_eq!(status, 200, "{body:#}");
    body["plugins"]
        .as_array()
        .unwrap_or_else(|| panic!("no plugins array: {body:#}"))
        .iter()
        .map(|p| (str_of(p, "name").to_owned(), p.clone()))
        .collect()
}

fn names(plugins: &[(String, Value)]) -> Vec<&str> {
    plugins.iter().map(|(n, _)| n.as_str()).collect()
}

// ---------------------------------------------------------------------------
// 1-3: the bundled plugins

#[test]
fn license_key_issues_signed_keys_and_mails_the_link_once() {
    let sink = SmtpSink::start();
    let server = server_with(Some(&sink), &[]);
    let sku = plugin_product(&server, "license-key", json!({"signed": true}), true, &[]);
    let (order, id) = order_units(&server, &sku, 3);
    let unpaid = shipment(&server, &id);
    assert!(unpaid["personalization"].is_null(), "{unpaid:#}");

    pay(&server, str_of(&order, "id"));
    let s = wait_run(&server, &id);
    let items = assert_succeeded(&s, "license-key", 1);
    assert_eq!(s["status"], "prepared", "auto_prepare: {s:#}");
    assert!(s["files"].as_array().unwrap().is_empty(), "{s:#}");
    let (_, plugin) = server.get("/api/v1/plugins/license-key");
    assert_eq!(
        s["personalization"]["last_run"]["plugin_version"], plugin["version"],
        "{s:#}"
    );
    assert!(
        s["personalization"]["last_run"]["fuel_used"].as_u64() > Some(0),
        "{s:#}"
    );

    // Three keys, each followed by its signed license.
    let labels: Vec<&str> = items.iter().map(|(l, _)| l.as_str()).collect();
    assert_eq!(
        labels,
        [
            "License key 1",
            "Signed license 1",
            "License key 2",
            "Signed license 2",
            "License key 3",
            "Signed license 3"
        ],
        "{s:#}"
    );
    let keys = values(&items, "License key");
    assert_distinct(&keys);
    for key in &keys {
        assert!(is_license_key(key, ""), "not a license key: {key:?}");
    }
    // (The check character catches a changed character.)
    let first = keys[0].chars().next().unwrap();
    let other = if first == '2' { "3" } else { "2" };
    assert!(!is_license_key(&format!("{other}{}", &keys[0][1..]), ""));

    // Each license verifies with the key the server publishes, and states
    // this key, buyer, order and product.
    let r = server.send(server.anon(Method::GET, "/.well-known/waybill/keys"));
    assert_eq!(r.status, 200, "{}", r.text);
    let keyset = r.json();
    let published = keyset["license_keys"].as_array().unwrap();
    assert_eq!(published.len(), 1, "{keyset:#}");
    assert_eq!(published[0]["alg"], "Ed25519", "{keyset:#}");
    let kid = str_of(&published[0], "kid");
    let public = URL_SAFE_NO_PAD
        .decode(str_of(&published[0], "public_key"))
        .unwrap();
    let public = VerifyingKey::from_bytes(&public.try_into().expect("32 bytes")).unwrap();
    let licenses = values(&items, "Signed license");
    assert_eq!(licenses.len(), 3);
    for (n, (key, license)) in keys.iter().zip(&licenses).enumerate() {
        let (payload, signature) = license.split_once('.').unwrap();
        let payload = URL_SAFE_NO_PAD.decode(payload).unwrap();
        let signature = Signature::from_slice(&URL_SAFE_NO_PAD.decode(signature).unwrap())
            .expect("a 64-byte signature");
        public
            .verify(&payload, &signature)
            .expect("the published license key verifies the license");
        let facts: Value = serde_json::from_slice(&payload).unwrap();
        assert_eq!(facts["key"], key.as_str(), "{facts:#}");
        assert_eq!(facts["kid"], kid, "{facts:#}");
        assert_eq!(facts["buyer"]["email"], email_of(&s), "{facts:#}");
        assert_eq!(facts["order"], order["id"], "{facts:#}");
        assert_eq!(facts["product"], sku.as_str(), "{facts:#}");
        assert_eq!(parse_time(&facts["issued"]), parse_time(&s["paid_at"]));
        // Anything changed in the payload breaks the signature.
        let forged = String::from_utf8(payload)
            .unwrap()
            .replace(key.as_str(), &keys[(n + 1) % keys.len()]);
        assert!(public.verify(forged.as_bytes(), &signature).is_err());
    }

    // The buyer's link lists the keys.
    let url = str_of(&s, "download_url");
    let view = server.buyer_json(url);
    assert_eq!(view.status, 200, "{}", view.text);
    assert_eq!(items_of(&view.json()), items, "{}", view.text);
    assert!(view.json()["files"].as_array().unwrap().is_empty());

    // Exactly one e-mail, with the link and the keys.
    let mails = sink.wait_for(1, MAIL_WAIT);
    assert_eq!(mails[0].rcpt_tos(), vec![email_of(&s)], "{}", mails[0].raw);
    let text = mails[0].part("text/plain");
    assert!(text.contains(url), "{text}");
    for key in &keys {
        assert!(text.contains(key.as_str()), "{text}");
    }
    sink.assert_count_stays(1, SETTLE);
}

#[test]
fn voucher_items_carry_value_currency_and_expiry() {
    let server = Server::start();
    let config = json!({"value": "50.00", "currency": "PLN", "valid_days": 365, "prefix": "GIFT"});
    let sku = plugin_product(&server, "voucher", config, false, &[]);
    let (_, id) = buy_units(&server, &sku, 2);
    let s = wait_run(&server, &id);
    let items = assert_succeeded(&s, "voucher", 1);
    assert_eq!(s["status"], "in_preparation", "no auto_prepare: {s:#}");

    // "Now" is the payment: 365 days later, as a date.
    let expiry = (parse_time(&s["paid_at"]) + time::Duration::days(365)).date();
    let terms = format!(
        "50.00 PLN, valid until {:04}-{:02}-{:02}",
        expiry.year(),
        u8::from(expiry.month()),
        expiry.day()
    );
    let labels: Vec<&str> = items.iter().map(|(l, _)| l.as_str()).collect();
    assert_eq!(
        labels,
        ["Voucher code 1", "Voucher 1", "Voucher code 2", "Voucher 2"],
        "{s:#}"
    );
    let codes = values(&items, "Voucher code");
    assert_distinct(&codes);
    for code in &codes {
        assert!(
            code.len() == "GIFT-XXXX-XXXX-XXXX".len()
                && code.starts_with("GIFT-")
                && code[5..]
                    .chars()
                    .all(|c| c == '-' || KEY_ALPHABET.contains(c)),
            "{code:?}"
        );
    }
    for label in ["Voucher 1", "Voucher 2"] {
        let value = &items.iter().find(|(l, _)| l == label).unwrap().1;
        assert_eq!(value, &terms, "{s:#}");
    }

    // The seller prepares; the buyer sees the same items.
    let prepared = prepare(&server, &id);
    let view = server.buyer_json(str_of(&prepared, "download_url"));
    assert_eq!(items_of(&view.json()), items, "{}", view.text);
}

#[test]
fn pdf_watermark_delivers_only_the_stamped_pdf() {
    let server = Server::start();
    let original = small_pdf();
    let r = server.send(
        server
            .request(Method::POST, &upload_path(None, "handbook.pdf"))
            .header("content-type", "application/pdf")
            .body(original.clone()),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let original_id = str_of(&r.json(), "id").to_owned();
    assert_eq!(original_id, blake3_hex(&original));

    let sku = plugin_product(
        &server,
        "pdf-watermark",
        json!({"position": "bottom", "opacity": 0.5}),
        false,
        &[&original_id],
    );
    let (order, id) = order_units(&server, &sku, 1);
    let unpaid = shipment(&server, &id);
    assert!(
        unpaid["files"].as_array().unwrap().is_empty(),
        "the plugin's source is in the shipment: {unpaid:#}"
    );
    pay(&server, str_of(&order, "id"));
    let s = wait_run(&server, &id);
    assert_succeeded(&s, "pdf-watermark", 1);
    assert_eq!(s["status"], "in_preparation", "no auto_prepare: {s:#}");
    let files = s["files"].as_array().unwrap();
    assert_eq!(files.len(), 1, "{s:#}");
    let stamped = &files[0];
    assert_eq!(stamped["source"], "plugin", "{s:#}");
    assert_eq!(stamped["name"], "handbook.pdf", "{s:#}");
    assert_eq!(stamped["content_type"], "application/pdf", "{s:#}");
    assert_ne!(
        stamped["id"],
        original_id.as_str(),
        "the original was delivered"
    );
    let stamped_id = str_of(stamped, "id").to_owned();

    let prepared = prepare(&server, &id);
    assert_eq!(
        prepared["files"].as_array().unwrap().len(),
        1,
        "{prepared:#}"
    );
    let view = server.buyer_json(str_of(&prepared, "download_url"));
    assert_eq!(view.status, 200, "{}", view.text);
    let buyer_files = view.json()["files"].as_array().unwrap().clone();
    assert_eq!(buyer_files.len(), 1, "{}", view.text);
    let url = str_of(&buyer_files[0], "url");
    assert!(!url.contains(&original_id), "{url}");
    let got = fetch(url, &[]);
    assert_eq!(got.status, 200, "{}", got.text());
    assert!(got.error.is_none(), "{:?}", got.error);
    assert_eq!(got.hash, stamped_id, "the download is not the stamped file");
    assert!(got.body.starts_with(b"%PDF-"), "not a PDF");
    assert_ne!(got.body, original);
    // The original is not reachable through the link either.
    let original_url = file_url(&prepared, &original_id);
    let denied = fetch(&original_url, &[]);
    assert!(
        denied.status >= 400 && !denied.body.starts_with(b"%PDF"),
        "the original through the buyer link: HTTP {}",
        denied.status
    );

    let work = tempfile::tempdir().unwrap();
    let path = work.path().join("stamped.pdf");
    std::fs::write(&path, &got.body).unwrap();
    let email = email_of(&s);
    if have("qpdf") {
        assert_qpdf_check(&path);
        // Both pages are still there (the e-mail is checked on each below).
        let pages = Command::new("qpdf")
            .arg("--show-npages")
            .arg(&path)
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&pages.stdout).trim(), "2");
    }
    if have("pdftotext") {
        for page in ["1", "2"] {
            let text = Command::new("pdftotext")
                .args(["-f", page, "-l", page])
                .arg(&path)
                .arg("-")
                .output()
                .unwrap();
            assert!(text.status.success(), "pdftotext page {page}");
            let text = String::from_utf8_lossy(&text.stdout);
            assert!(text.contains(&email), "page {page} lacks {email}: {text}");
        }
    }
}

// ---------------------------------------------------------------------------
// 4: failure and retry

#[test]
fn a_failed_run_is_retried_after_the_config_is_fixed() {
    let sink = SmtpSink::start();
    let server = server_with(Some(&sink), &[]);
    // The license-key plugin refuses an alphabet with look-alikes and an even size.
    let sku = plugin_product(
        &server,
        "license-key",
        json!({"alphabet": "0123"}),
        true,
        &[],
    );
    let (_, id) = buy_units(&server, &sku, 2);
    let s = wait_run(&server, &id);
    let message = assert_failed(&s, "plugin_error");
    assert!(
        message.contains("invalid-config") && message.contains("alphabet"),
        "{message}"
    );
    assert_eq!(s["personalization"]["runs"], 1, "{s:#}");
    assert_eq!(s["notification"]["status"], "none", "{s:#}");

    // A retry with the same config fails the same way, naming the cause.
    let r = personalize(&server, &id);
    assert_problem(&r, 422, "plugin_failed");
    let detail = str_of(&r.json(), "detail").to_owned();
    assert!(
        detail.contains("license-key") && detail.contains("plugin_error"),
        "{detail}"
    );
    let s = shipment(&server, &id);
    assert_failed(&s, "plugin_error");
    assert_eq!(s["personalization"]["runs"], 2, "{s:#}");

    // The seller's own item stays through runs.
    add_item(&server, &id, "Note", "Thank you");
    sink.assert_count_stays(0, SETTLE);

    put_product(
        &server,
        &sku,
        json!({"name": "Made by license-key", "kind": "personalized",
               "plugin": {"name": "license-key", "config": {"prefix": "WB"}},
               "auto_prepare": true}),
    );
    let r = personalize(&server, &id);
    assert_eq!(r.status, 200, "{}", r.text);
    let s = r.json();
    let items = assert_succeeded(&s, "license-key", 3);
    assert_eq!(
        s["status"], "prepared",
        "auto_prepare after the retry: {s:#}"
    );
    let keys = values(&items, "License key");
    assert_eq!(keys.len(), 2, "{s:#}");
    assert_distinct(&keys);
    for key in &keys {
        assert!(is_license_key(key, "WB"), "{key:?}");
    }
    assert!(
        s["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["label"] == "Note" && i["from_plugin"] == false),
        "{s:#}"
    );
    assert_eq!(shipment(&server, &id)["status"], "prepared");

    let mails = sink.wait_for(1, MAIL_WAIT);
    assert_eq!(mails[0].rcpt_tos(), vec![email_of(&s)]);
    // Prepared is final: no more runs, no second e-mail.
    assert_problem(&personalize(&server, &id), 409, "already_prepared");
    sink.assert_count_stays(1, SETTLE);
}

// ---------------------------------------------------------------------------
// 5: the registry over HTTP

#[test]
fn the_registry_refuses_what_it_cannot_run_and_installs_components() {
    let server = Server::start();
    let bundled = ["license-key", "pdf-watermark", "voucher"];

    for (bytes, what) in [
        (
            b"MZ\x90\0 definitely not wasm".to_vec(),
            "not a WebAssembly component",
        ),
        (Vec::new(), "not a WebAssembly component"),
        (
            b"\0asm\x01\0\0\0".to_vec(),
            "a core WebAssembly module, not a component",
        ),
    ] {
        let r = put_plugin(&server, "junk", bytes);
        assert_problem(&r, 422, "validation_failed");
        assert!(
            r.json()["detail"].as_str().unwrap().contains(what),
            "{}",
            r.text
        );
    }
    let r = put_plugin(&server, "junk", read_component("hostile_fs"));
    assert_problem(&r, 422, "validation_failed");
    let detail = r.json()["detail"].as_str().unwrap().to_owned();
    assert!(
        detail.contains("imports `wasi:")
            && detail.contains("`wasi:filesystem/types@")
            && detail.contains("which the host does not offer"),
        "{detail}"
    );
    let r = put_plugin(&server, "junk", read_component("hostile_net"));
    assert_problem(&r, 422, "validation_failed");
    assert!(r.text.contains("`wasi:sockets/"), "{}", r.text);
    // A name that is not one.
    let r = put_plugin(&server, "Gift%20Cards", read_component("voucher"));
    assert_problem(&r, 422, "validation_failed");
    assert_eq!(server.get("/api/v1/plugins/junk").0, 404);
    assert_eq!(names(&plugins_by_name(&server)), bundled);

    // A component under a new name, then the same again.
    let voucher = read_component("voucher");
    let r = put_plugin(&server, "gift-cards", voucher.clone());
    assert_eq!(r.status, 201, "{}", r.text);
    let installed = r.json();
    assert_eq!(installed["name"], "gift-cards");
    assert_eq!(installed["version"], blake3_hex(&voucher));
    assert_eq!(installed["size"], voucher.len());
    assert_eq!(installed["bundled"], false);
    assert_eq!(
        installed["loaded"], true,
        "installing compiles: {installed:#}"
    );
    let r = put_plugin(&server, "gift-cards", voucher.clone());
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["version"], installed["version"]);
    assert_eq!(r.json()["installed_at"], installed["installed_at"]);
    let listed = plugins_by_name(&server);
    assert_eq!(
        names(&listed),
        ["gift-cards", "license-key", "pdf-watermark", "voucher"]
    );
    for (name, p) in &listed {
        assert_eq!(p["bundled"], name != "gift-cards", "{p:#}");
    }
    let (status, one) = server.get("/api/v1/plugins/gift-cards");
    assert_eq!((status, &one["version"]), (200, &installed["version"]));

    // It runs.
    let sku = plugin_product(
        &server,
        "gift-cards",
        json!({"value": "20", "currency": "EUR"}),
        false,
        &[],
    );
    let (_, id) = buy_units(&server, &sku, 1);
    let items = assert_succeeded(&wait_run(&server, &id), "gift-cards", 1);
    assert_eq!(items.len(), 2, "{items:?}");
    assert_eq!(items[0].0, "Voucher code");
    assert_eq!(
        items[1],
        ("Voucher".to_owned(), "20 EUR, no expiry".to_owned())
    );

    // Another component under that name replaces its version.
    let keys = read_component("license_key");
    let r = put_plugin(&server, "gift-cards", keys.clone());
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["version"], blake3_hex(&keys));
    let (_, one) = server.get("/api/v1/plugins/gift-cards");
    assert_eq!(one["version"], blake3_hex(&keys));

    // Products: an unknown plugin, a plugin on a standard product.
    let (status, body) = server.put(
        "/api/v1/products/ghost",
        json!({"name": "Ghost", "kind": "personalized",
               "plugin": {"name": "not-installed", "config": {}}}),
    );
    assert_eq!(status, 422, "{body:#}");
    assert_eq!(body["code"], "validation_failed", "{body:#}");
    assert!(
        body["detail"].as_str().unwrap().contains("not-installed"),
        "{body:#}"
    );
    let (status, body) = server.put(
        "/api/v1/products/std-plugin",
        json!({"name": "Ebook", "kind": "standard", "items": [{"label": "Code", "value": "X"}],
               "plugin": {"name": "license-key", "config": {}}}),
    );
    assert_eq!(status, 422, "{body:#}");
    assert_eq!(body["code"], "validation_failed", "{body:#}");
    assert_eq!(server.get("/api/v1/products/ghost").0, 404);
    assert_eq!(server.get("/api/v1/products/std-plugin").0, 404);

    // Without a key (or with a wrong one), nothing. A refused PUT body is
    // not read: each goes on a client of its own, so a dropped connection
    // cannot disturb the next request (that bug has its own test below).
    let refused_put = |key: Option<&str>| {
        let mut rb = http_client()
            .put(server.url("/api/v1/plugins/sneaky"))
            .body(voucher.clone());
        if let Some(key) = key {
            rb = rb.bearer_auth(key);
        }
        server.send(rb)
    };
    assert_problem(&refused_put(None), 401, "unauthorized");
    assert_problem(&refused_put(Some("wb_not_a_key")), 401, "unauthorized");
    for (method, path) in [
        (Method::GET, "/api/v1/plugins".to_owned()),
        (Method::GET, "/api/v1/plugins/license-key".to_owned()),
        (Method::POST, format!("/api/v1/shipments/{id}/personalize")),
    ] {
        assert_problem(
            &server.send(server.anon(method, &path)),
            401,
            "unauthorized",
        );
    }
    assert_eq!(server.get("/api/v1/plugins/sneaky").0, 404);
}

// ---------------------------------------------------------------------------
// 6: hostile plugins through HTTP

const PANIC_MESSAGE: &str = "hostile plugin gives up: ⚠ on purpose";

#[test]
fn hostile_runs_fail_naming_the_limit_they_hit() {
    let mut server = server_with(
        None,
        &[
            "--plugin-wall-time-ms-max",
            "1000",
            "--plugin-fuel-max",
            ENDLESS_FUEL,
            "--plugin-memory-bytes-max",
            "33554432",
            "--plugin-output-bytes-max",
            "8388608",
            "--plugin-runs-concurrent-max",
            "2",
        ],
    );
    install_hostile(&server);
    // (config, code, what the message says)
    let cases = [
        (
            json!({"mode": "loop"}),
            "timeout",
            "wall-time limit reached: the run took more than 1000 ms",
        ),
        (
            json!({"mode": "busy-wait"}),
            "timeout",
            "wall-time limit reached: the run took more than 1000 ms",
        ),
        (
            json!({"mode": "memory-bomb"}),
            "memory_limit",
            "memory limit reached: the plugin asked for more than 33554432 bytes",
        ),
        (
            json!({"mode": "big-output", "bytes": 33554432}),
            "output_limit",
            "output limit reached: more than 8388608 output bytes",
        ),
        (
            json!({"mode": "panic", "message": PANIC_MESSAGE}),
            "trap",
            "the plugin trapped",
        ),
        (
            json!({"mode": "many-items"}),
            "too_many_items",
            "the plugin returned 100000, at most 1000 allowed",
        ),
        (
            json!({"mode": "bad-output-name"}),
            "plugin_error",
            "output name \"../../etc/passwd\": want a plain file name",
        ),
    ];
    // auto_prepare: a failed run must not prepare anything.
    let ids: Vec<String> = cases
        .iter()
        .map(|(config, _, _)| {
            let sku = plugin_product(&server, "hostile", config.clone(), true, &[]);
            buy_units(&server, &sku, 1).1
        })
        .collect();
    for ((config, code, what), id) in cases.iter().zip(&ids) {
        let s = wait_run(&server, id);
        let message = assert_failed(&s, code);
        assert!(message.contains(what), "{config}: {message}");
        assert!(s["files"].as_array().unwrap().is_empty(), "{config}: {s:#}");
        assert_eq!(s["notification"]["status"], "none", "{config}: {s:#}");
        let run = &s["personalization"]["last_run"];
        let stderr = run["stderr"].as_str().unwrap();
        assert!(
            stderr.len() <= 64 << 10,
            "{config}: {} bytes of stderr",
            stderr.len()
        );
        match config["mode"].as_str().unwrap() {
            "loop" | "busy-wait" => {
                let ms = run["wall_time_ms"].as_u64().unwrap();
                assert!((1000..4000).contains(&ms), "{config}: wall time {ms} ms");
            }
            "memory-bomb" => assert!(stderr.contains("memory allocation of"), "{s:#}"),
            "panic" => assert!(
                stderr.contains("panicked at") && stderr.contains(PANIC_MESSAGE),
                "{s:#}"
            ),
            _ => {}
        }
    }

    // Nothing a failed run wrote stayed in the store: the files are the
    // bundled components and the hostile one.
    server.stop();
    let verified = verify_store(server.data_dir());
    assert_eq!(
        (verified.checked, verified.corrupt),
        (BUNDLED_PLUGIN_FILES + 1, 0),
        "{}",
        verified.stdout
    );
}

/// A shipment carries at most 1000 items: a plugin allowed more by
/// `--plugin-items-max` fails the run with `too_many_items` (and its job is
/// done, not retried forever).
#[test]
fn more_items_than_a_shipment_carries_fail_the_run() {
    let server = server_with(None, &["--plugin-items-max", "5000"]);
    install_hostile(&server);
    let sku = plugin_product(
        &server,
        "hostile",
        json!({"mode": "many-items", "count": 1200}),
        true,
        &[],
    );
    let (order, id) = order_units(&server, &sku, 1);
    pay(&server, str_of(&order, "id"));
    let s = wait_run(&server, &id);
    let message = assert_failed(&s, "too_many_items");
    assert!(message.contains("at most 1000 items"), "{message}");
    assert_eq!(s["status"], "in_preparation");
    assert!(s["items"].as_array().unwrap().is_empty(), "{s:#}");
    // The job is gone: a retry queues a new run, which fails the same way.
    let again = personalize(&server, &id);
    assert_eq!(again.status, 422, "{}", again.text);
    let s = shipment(&server, &id);
    assert_eq!(s["personalization"]["runs"], 2, "{s:#}");
}

/// 64-bit FNV-1a, as `plugins/hostile` computes it.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[test]
fn a_fuel_burner_runs_out_of_fuel() {
    let server = server_with(
        None,
        &[
            "--plugin-fuel-max",
            "100000000",
            "--plugin-wall-time-ms-max",
            "30000",
        ],
    );
    install_hostile(&server);
    // A short burn completes, with the digest a native one gives.
    let short = plugin_product(
        &server,
        "hostile",
        json!({"mode": "fuel-burner", "rounds": 1000}),
        false,
        &[],
    );
    let long = plugin_product(
        &server,
        "hostile",
        json!({"mode": "fuel-burner"}),
        false,
        &[],
    );
    let (_, short) = buy_units(&server, &short, 1);
    let (_, long) = buy_units(&server, &long, 1);

    let items = assert_succeeded(&wait_run(&server, &short), "hostile", 1);
    let rounds: Vec<u8> = (0..1000_u64).flat_map(u64::to_le_bytes).collect();
    assert_eq!(
        items,
        pairs(&[("Digest", &format!("{:016x}", fnv1a(&rounds)))])
    );

    // The default burn needs ~10^12 fuel; 30 s of wall time: fuel stops it.
    let s = wait_run(&server, &long);
    let message = assert_failed(&s, "out_of_fuel");
    assert!(
        message.contains("fuel limit reached: the run used more than 100000000 fuel"),
        "{message}"
    );
    let run = &s["personalization"]["last_run"];
    assert_eq!(run["fuel_used"], 100_000_000, "{s:#}");
    assert!(run["wall_time_ms"].as_u64() < Some(10_000), "{s:#}");
}

/// Any answer while plugins spin; "well under a second".
const LATENCY_MAX: Duration = Duration::from_millis(500);

#[test]
fn the_server_stays_responsive_while_hostile_plugins_spin() {
    const WALL_MS: u64 = 3000;
    let sink = SmtpSink::start();
    let server = server_with(
        Some(&sink),
        &[
            "--plugin-wall-time-ms-max",
            "3000",
            "--plugin-fuel-max",
            ENDLESS_FUEL,
            "--plugin-runs-concurrent-max",
            "3",
        ],
    );
    install_hostile(&server);
    let spinners: Vec<(Value, String)> = ["loop", "busy-wait"]
        .iter()
        .map(|mode| {
            let sku = plugin_product(&server, "hostile", json!({"mode": mode}), false, &[]);
            order_units(&server, &sku, 1)
        })
        .collect();
    let keys_sku = plugin_product(&server, "license-key", json!({}), true, &[]);
    let (keys_order, keys_id) = order_units(&server, &keys_sku, 3);
    for (order, _) in &spinners {
        pay(&server, str_of(order, "id"));
    }
    pay(&server, str_of(&keys_order, "id"));

    // Probe until both spinners are done: (sent at, answered after).
    let mut probes: Vec<(SystemTime, Duration, String)> = Vec::new();
    let mut probe = |path: &str, auth: bool| {
        let at = SystemTime::now();
        let started = Instant::now();
        let rb = if auth {
            server.request(Method::GET, path)
        } else {
            server.anon(Method::GET, path)
        };
        let r = server.send(rb);
        probes.push((at, started.elapsed(), path.to_owned()));
        assert_eq!(r.status, 200, "{path}: {}", r.text);
        r.json()
    };
    let deadline = Instant::now() + RUN_WAIT;
    let finished = loop {
        probe("/healthz", false);
        probe("/api/v1/plugins", true);
        probe(&format!("/api/v1/shipments/{keys_id}"), true);
        let states: Vec<Value> = spinners
            .iter()
            .map(|(_, id)| probe(&format!("/api/v1/shipments/{id}"), true))
            .collect();
        if states
            .iter()
            .all(|s| s["personalization"]["status"] != "queued")
        {
            break states;
        }
        assert!(Instant::now() < deadline, "the spinners did not end");
        std::thread::sleep(Duration::from_millis(20));
    };

    // Both spinners hit the clock; their runs overlapped.
    let mut windows = Vec::new();
    for s in &finished {
        assert_failed(s, "timeout");
        let end = time_of(&s["personalization"]["finished_at"]);
        let ms = s["personalization"]["last_run"]["wall_time_ms"]
            .as_u64()
            .unwrap();
        assert!(ms >= WALL_MS, "{s:#}");
        windows.push((end - Duration::from_millis(ms), end));
    }
    let both_from = windows.iter().map(|w| w.0).max().unwrap();
    let both_until = windows.iter().map(|w| w.1).min().unwrap();
    assert!(both_from < both_until, "the spinners did not run at once");

    // Every answer came quickly, and many came while both spun.
    let slowest = probes.iter().max_by_key(|p| p.1).unwrap();
    let during = probes
        .iter()
        .filter(|(at, took, _)| *at >= both_from && *at + *took <= both_until)
        .count();
    eprintln!(
        "{} probes, {during} while both spinners ran; slowest {:?} ({})",
        probes.len(),
        slowest.1,
        slowest.2
    );
    assert!(
        slowest.1 < LATENCY_MAX,
        "{} took {:?} while plugins spun",
        slowest.2,
        slowest.1
    );
    assert!(during >= 10, "only {during} probes while both spinners ran");

    // The license keys, paid with them, did not wait for a spinner to end:
    // a third slot ran them while both spun.
    let keys = shipment(&server, &keys_id);
    let items = assert_succeeded(&keys, "license-key", 1);
    assert_eq!(values(&items, "License key").len(), 3, "{keys:#}");
    assert_eq!(keys["status"], "prepared", "{keys:#}");
    let keys_done = time_of(&keys["personalization"]["finished_at"]);
    assert!(
        keys_done < both_until,
        "the license keys finished at {keys_done:?}, after a spinner ended at {both_until:?}"
    );
    sink.wait_for(1, MAIL_WAIT);
    sink.assert_count_stays(1, SETTLE);
}

fn time_of(v: &Value) -> SystemTime {
    let t = parse_time(v);
    SystemTime::UNIX_EPOCH
        + Duration::from_nanos((t - OffsetDateTime::UNIX_EPOCH).whole_nanoseconds() as u64)
}

// ---------------------------------------------------------------------------
// 7: restarts

#[test]
fn queued_runs_survive_a_stop_and_a_crash_and_complete_once() {
    const WALL_MS: u64 = 3000;
    let sink = SmtpSink::start();
    // One run at a time: a spinning blocker holds the only slot for
    // WALL_MS, so the license-key runs paid after it cannot have started
    // when the server goes down.
    let mut server = server_with(
        Some(&sink),
        &[
            "--plugin-runs-concurrent-max",
            "1",
            "--plugin-wall-time-ms-max",
            "3000",
            "--plugin-fuel-max",
            ENDLESS_FUEL,
        ],
    );
    install_hostile(&server);
    let blocker_sku = plugin_product(&server, "hostile", json!({"mode": "loop"}), false, &[]);
    let keys_sku = plugin_product(&server, "license-key", json!({}), true, &[]);
    let mut mails = 0;
    for crash in [false, true] {
        let (blocker_order, blocker) = order_units(&server, &blocker_sku, 1);
        let orders: Vec<(Value, String)> =
            (0..4).map(|_| order_units(&server, &keys_sku, 2)).collect();
        for (_, id) in &orders {
            // Jobs are taken in shipment id (creation) order: the blocker first.
            assert!(blocker < *id, "blocker {blocker} sorts after {id}");
        }
        pay(&server, str_of(&blocker_order, "id"));
        let paid = Instant::now();
        for (order, _) in &orders {
            pay(&server, str_of(order, "id"));
        }
        // Checked last, the blocker still holds the slot: none of these ran.
        for id in orders.iter().map(|(_, id)| id).chain([&blocker]) {
            let s = shipment(&server, id);
            assert_eq!(s["personalization"]["status"], "queued", "{s:#}");
            assert!(plugin_items(&s).is_empty(), "{s:#}");
        }
        assert!(
            paid.elapsed() < Duration::from_millis(WALL_MS - 1000),
            "paying took {:?}: the blocker may have ended and let a run start",
            paid.elapsed()
        );
        if crash {
            server.kill9();
        } else {
            server.stop();
        }
        server.start_again();

        for (_, id) in &orders {
            let s = wait_run(&server, id);
            let items = assert_succeeded(&s, "license-key", 1);
            assert_eq!(s["status"], "prepared", "{s:#}");
            let keys = values(&items, "License key");
            assert_eq!(keys.len(), 2, "{s:#}");
            assert_distinct(&keys);
        }
        assert_failed(&wait_run(&server, &blocker), "timeout");
        mails += orders.len();
        sink.wait_for(mails, MAIL_WAIT);
        for (order, _) in &orders {
            let email = email_of(order);
            assert_eq!(mails_to(&sink, &email).len(), 1, "mails to {email}");
        }
    }
    sink.assert_count_stays(mails, SETTLE);
}

/// CPU time the process `pid` used so far, in clock ticks (1/100 s).
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 1..]
        .split_whitespace()
        .collect();
    // After the command: state (3), ..., utime (14), stime (15).
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

/// Waits until every installed plugin is compiled and in memory; answers
/// (name, version) of each.
fn wait_all_loaded(server: &Server, timeout: Duration) -> Vec<(String, String)> {
    wait_until(timeout, "every plugin loaded", || {
        let plugins = plugins_by_name(server);
        plugins.iter().all(|(_, p)| p["loaded"] == true).then(|| {
            plugins
                .iter()
                .map(|(n, p)| (n.clone(), str_of(p, "version").to_owned()))
                .collect()
        })
    })
}

#[test]
fn a_run_cut_off_by_a_crash_or_a_stop_completes_once_after_restart() {
    let sink = SmtpSink::start();
    let mut server = server_with(
        Some(&sink),
        &[
            "--plugin-fuel-max",
            ENDLESS_FUEL,
            "--plugin-wall-time-ms-max",
            "60000",
        ],
    );
    install_hostile(&server);
    // About 2 s of one core (10^7 rounds take ~90 ms).
    let sku = plugin_product(
        &server,
        "hostile",
        json!({"mode": "fuel-burner", "rounds": 200_000_000_u64}),
        true,
        &[],
    );
    let mut digests = Vec::new();
    for crash in [true, false] {
        wait_all_loaded(&server, RUN_WAIT);
        let (order, id) = order_units(&server, &sku, 1);
        let pid = server.pid().unwrap();
        let idle = cpu_ticks(pid);
        pay(&server, str_of(&order, "id"));
        // The plugin runs once the server burns CPU (an idle one does not).
        wait_until(RUN_WAIT, "the plugin burning CPU", || {
            (cpu_ticks(pid) >= idle + 30).then_some(())
        });
        let s = shipment(&server, &id);
        assert_eq!(s["personalization"]["status"], "queued", "{s:#}");
        let cut = SystemTime::now();
        if crash {
            server.kill9();
        } else {
            server.stop();
        }
        server.start_again();

        let s = wait_run(&server, &id);
        let items = assert_succeeded(&s, "hostile", 1);
        assert_eq!(s["status"], "prepared", "{s:#}");
        assert_eq!(items.len(), 1, "{s:#}");
        assert_eq!(items[0].0, "Digest");
        assert!(
            items[0].1.len() == 16 && items[0].1.chars().all(|c| c.is_ascii_hexdigit()),
            "{s:#}"
        );
        digests.push(items[0].1.clone());
        if crash {
            assert!(
                time_of(&s["personalization"]["finished_at"]) > cut,
                "the cut-off run was recorded: {s:#}"
            );
        }
        let email = email_of(&s);
        wait_until(MAIL_WAIT, "the buyer's e-mail", || {
            (!mails_to(&sink, &email).is_empty()).then_some(())
        });
    }
    assert_eq!(digests[0], digests[1], "the same burn, another digest");
    sink.assert_count_stays(2, SETTLE);
}

// ---------------------------------------------------------------------------
// 8: the precompiled cache

/// Compiling the three bundled components in a debug build, on a busy machine.
const COMPILE_WAIT: Duration = Duration::from_secs(300);

/// The cache dir's entries: (file name, size, modified).
fn cache_entries(dir: &Path) -> Vec<(String, u64, SystemTime)> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| {
            let e = e.unwrap();
            let meta = e.metadata().unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                meta.len(),
                meta.modified().unwrap(),
            )
        })
        .collect();
    entries.sort();
    entries
}

/// The cache file of component `version`; checks its checksum header.
fn cache_file(dir: &Path, version: &str) -> PathBuf {
    let names: Vec<String> = cache_entries(dir)
        .into_iter()
        .map(|e| e.0)
        .filter(|n| n.starts_with(&format!("{version}-")) && n.ends_with(".cwasm"))
        .collect();
    assert_eq!(names.len(), 1, "cache files of {version}: {names:?}");
    let path = dir.join(&names[0]);
    let bytes = std::fs::read(&path).unwrap();
    assert!(
        bytes.len() > 32 && blake3::hash(&bytes[32..]).as_bytes()[..] == bytes[..32],
        "{} fails its checksum",
        path.display()
    );
    path
}

#[test]
fn compiled_plugins_are_cached_and_a_damaged_cache_file_is_replaced() {
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path().join("plugin-cache");
    let mut server = server_with(None, &["--plugin-cache-dir", dir.to_str().unwrap()]);
    let plugins = wait_all_loaded(&server, COMPILE_WAIT);
    assert_eq!(plugins.len(), 3, "{plugins:?}");
    let entries = cache_entries(&dir);
    assert_eq!(entries.len(), plugins.len(), "{entries:?}");
    let paths: Vec<PathBuf> = plugins
        .iter()
        .map(|(_, version)| cache_file(&dir, version))
        .collect();

    // A restart loads them from the cache: nothing is written.
    server.restart();
    assert_eq!(wait_all_loaded(&server, COMPILE_WAIT), plugins);
    assert_eq!(cache_entries(&dir), entries, "the cache changed on restart");

    // A damaged file is not loaded: compiled again, and replaced.
    let index = plugins
        .iter()
        .position(|(n, _)| n == "license-key")
        .unwrap();
    let damaged = &paths[index];
    let mut bytes = std::fs::read(damaged).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(damaged, &bytes).unwrap();
    server.restart();
    assert_eq!(wait_all_loaded(&server, COMPILE_WAIT), plugins);
    let after = cache_entries(&dir);
    assert_eq!(after.len(), entries.len(), "{after:?}");
    assert_ne!(
        std::fs::read(damaged).unwrap(),
        bytes,
        "the damaged file stayed"
    );
    assert_eq!(cache_file(&dir, &plugins[index].1), *damaged);
    for (before, now) in entries.iter().zip(&after) {
        assert_eq!(before.0, now.0);
        if dir.join(&now.0) != *damaged {
            assert_eq!(before, now, "an intact cache file was rewritten");
        }
    }

    // And the recompiled plugin runs.
    let sku = plugin_product(&server, "license-key", json!({}), false, &[]);
    let (_, id) = buy_units(&server, &sku, 1);
    assert_succeeded(&wait_run(&server, &id), "license-key", 1);
}

// ---------------------------------------------------------------------------
// 9: `waybill plugins add`

#[test]
fn plugins_add_installs_into_a_stopped_server() {
    let mut server = Server::start();
    let voucher = component("voucher");
    let version = blake3_hex(&std::fs::read(&voucher).unwrap());
    let data_dir = server.data_dir().to_owned();
    let add = |path: &Path, name: &str| {
        waybill_cli(
            &["plugins", "add", path.to_str().unwrap(), "--name", name],
            &data_dir,
        )
    };
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();

    // While the server holds the data dir, the command says to stop it.
    let out = add(&voucher, "gift-cards");
    assert!(!out.status.success(), "{}", text(&out.stdout));
    assert!(
        text(&out.stderr).contains("stop the server"),
        "{}",
        text(&out.stderr)
    );

    server.stop();
    let out = add(&voucher, "gift-cards");
    assert!(
        out.status.success(),
        "plugins add: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(
        text(&out.stdout).contains(&format!("installed plugin `gift-cards` version {version}")),
        "{}",
        text(&out.stdout)
    );

    let work = tempfile::tempdir().unwrap();
    let garbage = work.path().join("junk.wasm");
    std::fs::write(&garbage, b"MZ\x90\0 definitely not wasm").unwrap();
    let out = add(&garbage, "junk");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("not a WebAssembly component"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");

    let out = waybill_cli(&["plugins", "list"], server.data_dir());
    assert!(out.status.success());
    let listed = text(&out.stdout);
    assert!(
        listed.contains(&format!("gift-cards\t{version}\t")),
        "{listed}"
    );
    assert!(!listed.contains("junk"), "{listed}");

    server.start_again();
    let (status, p) = server.get("/api/v1/plugins/gift-cards");
    assert_eq!(status, 200, "{p:#}");
    assert_eq!(
        (p["version"].as_str(), &p["bundled"]),
        (Some(version.as_str()), &json!(false))
    );
    assert_eq!(server.get("/api/v1/plugins/junk").0, 404);
    let sku = plugin_product(
        &server,
        "gift-cards",
        json!({"value": "10", "currency": "PLN"}),
        false,
        &[],
    );
    let (_, id) = buy_units(&server, &sku, 1);
    assert_succeeded(&wait_run(&server, &id), "gift-cards", 1);
}

/// A refusal sent before the request body was read (401 from the API-key
/// guard, 422 for a bad plugin name) must say `Connection: close`, as the
/// 413 answers do (`errors.rs`): the server drains at most what already
/// arrived and otherwise drops the connection, so a keep-alive client
/// (reqwest, as a shop would use) may send its next request on a dead one.
#[test]
fn a_refused_plugin_upload_leaves_the_connection_usable() {
    let server = Server::start();
    let voucher = read_component("voucher");
    let (mut unannounced, mut broken) = (Vec::new(), Vec::new());
    // The failure is a race on a kept-alive connection: try many times.
    for round in 0..200 {
        for (path, key, status) in [
            ("/api/v1/plugins/sneaky", None, 401),
            ("/api/v1/plugins/Bad%20Name", Some(server.key()), 422),
        ] {
            let client = http_client();
            let mut rb = client.put(server.url(path)).body(voucher.clone());
            if let Some(key) = key {
                rb = rb.bearer_auth(key);
            }
            let r = server.send(rb);
            assert_eq!(r.status, status, "{}", r.text);
            if r.header("connection") != "close" {
                unannounced.push(format!("{status} to PUT {path}"));
            }
            let next = client
                .get(server.url("/api/v1/plugins"))
                .bearer_auth(server.key())
                .send();
            if let Err(e) = next {
                broken.push(format!(
                    "round {round}: after the {status} to PUT {path}: {e}"
                ));
            }
        }
    }
    unannounced.sort();
    unannounced.dedup();
    assert!(
        unannounced.is_empty() && broken.is_empty(),
        "refusals without `Connection: close`: {unannounced:?}; requests that failed after one: {broken:#?}"
    );
}
