//! Uploads: sizes around the chunk size and the limit, dedup, names, types, attachments, cut-off bodies, `files add`.

use std::thread;
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::*;

/// A problem answer's `code`, for bodies read by hand.
fn code_of(v: &Value) -> &str {
    v["code"].as_str().unwrap_or("")
}

/// GET /api/v1/files/{id}: 404 `not_found`.
fn assert_no_file(server: &Server, id: &str, what: &str) {
    let r = server.call(Method::GET, &format!("/api/v1/files/{id}"), None);
    assert_eq!(r.status, 404, "{what}: file {id} exists: {}", r.text);
    assert_problem(&r, 404, "not_found");
}

#[test]
fn every_size_is_stored_and_delivered_byte_for_byte() {
    let server = Server::start();
    let contents = [
        ("empty.bin", Content::random(1, 0)),
        ("one.bin", Content::random(2, 1)),
        ("one-chunk.bin", Content::random(3, CHUNK_BYTES)),
        ("chunk-and-one.bin", Content::random(4, CHUNK_BYTES + 1)),
        ("book.txt", Content::text(5 * MIB + 321)),
        ("noise.bin", Content::random(5, 3 * MIB + 7)),
    ];
    let mut ids = Vec::new();
    for (name, content) in &contents {
        let file = upload(&server, name, content);
        assert_eq!(file["name"], json!(name), "{file:#}");
        assert_eq!(
            file["content_type"],
            json!("application/octet-stream"),
            "{file:#}"
        );
        let id = str_of(&file, "id").to_owned();
        let (status, meta) = server.get(&format!("/api/v1/files/{id}"));
        assert_eq!(status, 200, "{meta:#}");
        assert_eq!(
            meta, file,
            "GET /files/{{id}} differs from the upload answer"
        );
        ids.push(id);
    }

    let id_refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let sku = standard_with_files(&server, &id_refs, json!({"download_limit": null}));
    let bought = buy(&server, &sku);
    assert_eq!(bought["status"], "prepared", "{bought:#}");
    let shipment_id = str_of(&bought, "id").to_owned();
    let listed = bought["files"].as_array().expect("files").clone();
    assert_eq!(listed.len(), contents.len(), "{bought:#}");
    for ((name, content), id) in contents.iter().zip(&ids) {
        let entry = listed
            .iter()
            .find(|f| f["id"] == json!(id))
            .unwrap_or_else(|| panic!("{name} missing from the shipment: {bought:#}"));
        assert_eq!(entry["source"], "product", "{entry:#}");
        assert_eq!(entry["name"], json!(name), "{entry:#}");
        assert_eq!(entry["size"], json!(content.len()), "{entry:#}");
        assert_eq!(entry["downloads"], 0, "{entry:#}");
    }

    let url = str_of(&bought, "download_url");
    let view = server.buyer_json(url);
    assert_eq!(view.status, 200, "{}", view.text);
    let view = view.json();
    let buyer_files = view["files"].as_array().expect("buyer files").clone();
    assert_eq!(buyer_files.len(), contents.len(), "{view:#}");
    for ((name, content), id) in contents.iter().zip(&ids) {
        let expected_url = format!("{url}/files/{id}");
        let entry = buyer_files
            .iter()
            .find(|f| f["url"] == json!(expected_url))
            .unwrap_or_else(|| panic!("no buyer entry with url {expected_url}: {view:#}"));
        assert_eq!(entry["name"], json!(name), "{entry:#}");
        assert_eq!(entry["size"], json!(content.len()), "{entry:#}");

        let got = fetch(&expected_url, &[]);
        assert_eq!(got.status, 200, "{name}: {}", got.text());
        got.assert_content(content, 0, content.len());
        assert_eq!(got.header("etag"), format!("\"{id}\""), "{name}");
        assert_eq!(
            got.header("content-type"),
            "application/octet-stream",
            "{name}"
        );
        assert_eq!(downloads_of(&server, &shipment_id, id), 1, "{name}");
    }
    let after = shipment(&server, &shipment_id);
    assert_eq!(after["status"], "delivered", "{after:#}");
    parse_time(&after["delivered_at"]);
}

#[test]
fn the_same_bytes_twice_are_one_file() {
    let server = Server::start();
    for content in [Content::random(11, 2 * MIB + 5), Content::text(3 * MIB)] {
        let first = upload(&server, "first.bin", &content);
        let again = post_content(
            &server,
            &upload_path(None, "second.bin"),
            &content,
            None,
            Framing::Chunked,
        );
        assert_eq!(again.status, 201, "{}", again.text);
        assert_eq!(again.json()["id"], first["id"], "same bytes, another id");
        assert_eq!(again.json()["size"], first["size"]);
    }
    let other = upload(&server, "other.bin", &Content::random(12, 2 * MIB + 5));
    assert_ne!(other["id"], json!(Content::random(11, 2 * MIB + 5).hash()));

    let mut server = server;
    server.stop();
    let v = verify_store(server.data_dir());
    assert_eq!(
        (v.checked, v.corrupt),
        (3 + BUNDLED_PLUGIN_FILES, 0),
        "five uploads of three contents: {}",
        v.stdout
    );
}

#[test]
fn the_upload_limit_is_exact() {
    let server = Server::start();
    let exact = Content::random(21, UPLOAD_BYTES_MAX);
    let file = upload(&server, "exact.bin", &exact);
    assert_eq!(file["size"], json!(UPLOAD_BYTES_MAX));

    let over = Content::random(22, UPLOAD_BYTES_MAX + 1);
    // Announced by Content-Length: refused at once, before any of the body is sent.
    let (answer, body) = announce(&server, &upload_path(None, "over.bin"), over.len());
    assert_eq!(answer.status, 413, "{answer:?}");
    assert_eq!(answer.header("connection"), Some("close"), "{answer:?}");
    assert_eq!(code_of(&body), "payload_too_large", "{body:#}");

    // Chunked: found out while streaming.
    let r = try_send(upload_request(
        &server,
        &upload_path(None, "over-chunked.bin"),
        over.reader(),
        over.len(),
        Framing::Chunked,
    ))
    .unwrap_or_else(|e| panic!("413 expected, the chunked request failed instead: {e}"));
    assert_problem(&r, 413, "payload_too_large");
    assert_eq!(r.header("connection"), "close", "{:?}", r.headers);

    let (over_prefix, over_whole) = over.hash_with_prefix(UPLOAD_BYTES_MAX);
    assert_no_file(&server, &over_whole, "the refused upload");
    assert_no_file(&server, &over_prefix, "the refused upload's first 128 MiB");
    // The server still takes uploads.
    upload(&server, "after.bin", &Content::random(23, 1000));

    let mut server = server;
    server.stop();
    let v = verify_store(server.data_dir());
    assert_eq!(
        (v.checked, v.corrupt),
        (2 + BUNDLED_PLUGIN_FILES, 0),
        "only the two accepted uploads are stored: {}",
        v.stdout
    );
}

/// Sends the head of an upload announcing `length` bytes and reads the answer, sending no body.
fn announce(server: &Server, path: &str, length: u64) -> (RawHead, Value) {
    let mut stream = raw_connect(server);
    let auth = format!("Bearer {}", server.key());
    let length = length.to_string();
    let head = raw_head(
        server,
        "POST",
        path,
        &[("Authorization", &auth), ("Content-Length", &length)],
    );
    raw_write(&mut stream, head.as_bytes()).expect("sending the head");
    let answer = read_head(&mut stream)
        .unwrap_or_else(|e| panic!("no answer to an announced body of {length} bytes: {e}"));
    let body = read_body(&mut stream, &answer);
    (answer, body)
}

#[test]
fn a_configured_limit_applies_to_attachments_too() {
    let limit = 1_000_000;
    let server = Server::start_with(ServerOpts {
        extra_args: vec!["--upload-bytes-max".into(), limit.to_string()],
        ..ServerOpts::default()
    });
    let sid = shipment_in_preparation(&server);
    let exact = Content::random(31, limit);
    let over = Content::random(32, limit + 1);
    attach(&server, &sid, "exact.bin", &exact);

    let (head, body) = announce(&server, &upload_path(Some(&sid), "over.bin"), limit + 1);
    assert_eq!(
        (head.status, code_of(&body)),
        (413, "payload_too_large"),
        "{body:#}"
    );
    for path in [
        upload_path(Some(&sid), "over.bin"),
        upload_path(None, "over.bin"),
    ] {
        let r = post_content(&server, &path, &over, None, Framing::Chunked);
        assert_problem(&r, 413, "payload_too_large");
    }
    assert_no_file(&server, &over.hash(), "a refused upload");
    let s = shipment(&server, &sid);
    let names: Vec<&str> = s["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|f| str_of(f, "name"))
        .collect();
    assert_eq!(names, ["exact.bin"], "{s:#}");
}

/// Checks `Content-Disposition: attachment; filename="..."; filename*=UTF-8''...` against `name`.
fn assert_disposition(disposition: &str, name: &str) {
    assert!(
        disposition.starts_with("attachment;"),
        "not an attachment: {disposition:?}"
    );
    assert!(
        !disposition.contains(['\r', '\n']),
        "control characters in {disposition:?}"
    );
    let (_, encoded) = disposition
        .split_once("filename*=UTF-8''")
        .unwrap_or_else(|| panic!("no filename* in {disposition:?}"));
    let encoded = encoded.split(';').next().unwrap_or("").trim();
    assert!(
        encoded
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"%!#$&+-.^_`|~".contains(&b)),
        "filename* not RFC 8187 encoded: {encoded:?}"
    );
    assert_eq!(
        String::from_utf8(percent_decode(encoded)).expect("filename* is UTF-8"),
        name,
        "filename* of {disposition:?}"
    );
    let (_, rest) = disposition
        .split_once("filename=\"")
        .unwrap_or_else(|| panic!("no quoted filename in {disposition:?}"));
    let (fallback, after) = rest
        .split_once('"')
        .unwrap_or_else(|| panic!("unterminated filename in {disposition:?}"));
    assert!(
        after.trim_start().starts_with(';'),
        "the quoted filename ends early (a quote in the name?): {disposition:?}"
    );
    assert!(
        !fallback.is_empty()
            && fallback
                .chars()
                .all(|c| c == ' ' || (c.is_ascii_graphic() && c != '"' && c != '\\')),
        "fallback filename is not plain ASCII: {fallback:?}"
    );
}

#[test]
fn names_stay_faithful_and_become_safe() {
    let server = Server::start();
    let long = "ż".repeat(300);
    let cases: Vec<(String, String)> = vec![
        (
            "Tłumaczenie umowy — wersja 2.pdf".into(),
            "Tłumaczenie umowy — wersja 2.pdf".into(),
        ),
        ("../../etc/passwd".into(), "passwd".into()),
        ("C:\\x\\y.txt".into(), "y.txt".into()),
        (
            "evil\r\nSet-Cookie: session=1.txt".into(),
            "evilSet-Cookie: session=1.txt".into(),
        ),
        (
            "say \"hi\"; filename=x.exe".into(),
            "say \"hi\"; filename=x.exe".into(),
        ),
        (".hidden".into(), "hidden".into()),
        ("100% real\\..\\report.pdf".into(), "report.pdf".into()),
        (long.clone(), "ż".repeat(255)),
    ];
    let mut ids = Vec::new();
    for (i, (raw, expected)) in cases.iter().enumerate() {
        let content = Content::random(100 + i as u64, 1000 + i as u64);
        let file = upload(&server, raw, &content);
        assert_eq!(file["name"], json!(expected), "uploaded as {raw:?}");
        let (_, meta) = server.get(&format!("/api/v1/files/{}", str_of(&file, "id")));
        assert_eq!(meta["name"], json!(expected), "stored name of {raw:?}");
        ids.push(str_of(&file, "id").to_owned());
    }

    for raw in ["..", "   ", "/", "a/", "\r\n", "../..", ""] {
        let r = post_content(
            &server,
            &upload_path(None, raw),
            &Content::random(99, 10),
            None,
            Framing::Sized,
        );
        assert_problem(&r, 422, "validation_failed");
    }
    let r = post_content(
        &server,
        "/api/v1/files",
        &Content::random(99, 10),
        None,
        Framing::Sized,
    );
    assert_problem(&r, 422, "validation_failed");

    let id_refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let bought = buy(
        &server,
        &standard_with_files(&server, &id_refs, json!({"download_limit": null})),
    );
    let view = server.buyer_json(str_of(&bought, "download_url")).json();
    for ((raw, expected), id) in cases.iter().zip(&ids) {
        let entry = view["files"]
            .as_array()
            .and_then(|fs| fs.iter().find(|f| str_of(f, "url").ends_with(id.as_str())))
            .unwrap_or_else(|| panic!("no buyer entry for {raw:?}: {view:#}"));
        assert_eq!(entry["name"], json!(expected), "buyer sees {raw:?} as");
        let got = fetch(&file_url(&bought, id), &[]);
        assert_eq!(got.status, 200, "{}", got.text());
        assert!(
            got.headers.get("set-cookie").is_none(),
            "a file name set a cookie: {:?}",
            got.headers
        );
        assert_eq!(got.headers.get_all("content-disposition").iter().count(), 1);
        assert_disposition(got.header("content-disposition"), expected);
    }
}

#[test]
fn content_types_are_kept_or_defaulted() {
    let server = Server::start();
    let sid = shipment_in_preparation(&server);
    let cases = [
        (Some("application/pdf"), "application/pdf"),
        (
            Some("text/plain; charset=utf-8"),
            "text/plain; charset=utf-8",
        ),
        (Some("this is not a type"), "application/octet-stream"),
        (Some("pdf"), "application/octet-stream"),
        (Some("text/"), "application/octet-stream"),
        (None, "application/octet-stream"),
    ];
    for (i, (sent, kept)) in cases.iter().enumerate() {
        let content = Content::random(200 + i as u64, 500);
        let r = post_content(
            &server,
            &upload_path(Some(&sid), &format!("f{i}.bin")),
            &content,
            *sent,
            Framing::Sized,
        );
        assert_eq!(r.status, 201, "{sent:?}: {}", r.text);
        assert_eq!(r.json()["content_type"], json!(kept), "sent {sent:?}");
    }
    let prepared = prepare(&server, &sid);
    for (i, (sent, kept)) in cases.iter().enumerate() {
        let id = Content::random(200 + i as u64, 500).hash();
        let got = fetch(&file_url(&prepared, &id), &[]);
        assert_eq!(got.status, 200, "{}", got.text());
        assert_eq!(got.header("content-type"), *kept, "sent {sent:?}");
        assert_eq!(got.header("x-content-type-options"), "nosniff");
    }
}

#[test]
fn attachments_follow_the_shipment_rules() {
    let server = Server::start();
    let sid = shipment_in_preparation(&server);
    let a = Content::random(301, 1_500_000);
    let b = Content::text(700_000);

    let fa = attach(&server, &sid, "a.bin", &a);
    assert_eq!(fa["source"], "upload", "{fa:#}");
    assert_eq!(fa["downloads"], 0, "{fa:#}");
    assert_eq!(fa["name"], "a.bin", "{fa:#}");
    let id_a = str_of(&fa, "id").to_owned();
    let again = post_content(
        &server,
        &upload_path(Some(&sid), "a-again.bin"),
        &a,
        None,
        Framing::Sized,
    );
    assert_problem(&again, 409, "conflict");
    let fb = attach(&server, &sid, "b.txt", &b);
    let id_b = str_of(&fb, "id").to_owned();

    let s = shipment(&server, &sid);
    let listed: Vec<&str> = s["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|f| str_of(f, "id"))
        .collect();
    assert_eq!(listed, [id_a.as_str(), id_b.as_str()], "{s:#}");

    let (status, body) = server.delete(&format!("/api/v1/shipments/{sid}/files/{id_a}"));
    assert_eq!(status, 204, "{body:#}");
    assert_eq!(
        shipment(&server, &sid)["files"].as_array().unwrap().len(),
        1
    );
    let r = server.call(
        Method::DELETE,
        &format!("/api/v1/shipments/{sid}/files/{id_a}"),
        None,
    );
    assert_problem(&r, 404, "not_found");
    let r = server.call(
        Method::DELETE,
        &format!("/api/v1/shipments/{sid}/files/{}", "0".repeat(64)),
        None,
    );
    assert_problem(&r, 404, "not_found");
    let r = post_content(
        &server,
        &upload_path(Some("shp-does-not-exist"), "x.bin"),
        &a,
        None,
        Framing::Sized,
    );
    assert_problem(&r, 404, "not_found");

    let prepared = prepare(&server, &sid);
    let r = post_content(
        &server,
        &upload_path(Some(&sid), "late.bin"),
        &a,
        None,
        Framing::Sized,
    );
    assert_problem(&r, 409, "already_prepared");
    let r = server.call(
        Method::DELETE,
        &format!("/api/v1/shipments/{sid}/files/{id_b}"),
        None,
    );
    assert_problem(&r, 409, "already_prepared");

    let view = server.buyer_json(str_of(&prepared, "download_url")).json();
    assert_eq!(view["files"].as_array().map(Vec::len), Some(1), "{view:#}");
    assert_eq!(view["files"][0]["name"], "b.txt");
    let got = fetch(&file_url(&prepared, &id_b), &[]);
    assert_eq!(got.status, 200);
    got.assert_content(&b, 0, b.len());
    let gone = fetch(&file_url(&prepared, &id_a), &[]);
    assert_eq!(
        gone.status,
        404,
        "a detached file is served: {}",
        gone.text()
    );
}

/// Sends only the head of an attach with a big announced body; the answer must come without it.
fn attach_refused_early(server: &Server, shipment_id: &str) -> (u16, Value) {
    let mut stream = raw_connect(server);
    let head = raw_head(
        server,
        "POST",
        &upload_path(Some(shipment_id), "early.bin"),
        &[
            ("Authorization", &format!("Bearer {}", server.key())),
            ("Content-Type", "application/octet-stream"),
            ("Content-Length", "100000000"),
        ],
    );
    raw_write(&mut stream, head.as_bytes()).expect("sending the head");
    let head = read_head(&mut stream)
        .unwrap_or_else(|e| panic!("no answer before the body was sent: {e}"));
    (head.status, read_body(&mut stream, &head))
}

#[test]
fn attaching_is_refused_before_the_body_unless_in_preparation() {
    let server = Server::start();
    let sku = personalized(&server);
    let unpaid = order(&server, &[&sku]);
    let unpaid_sid = shipment_ids(&unpaid).remove(0);
    let (status, body) = attach_refused_early(&server, &unpaid_sid);
    assert_eq!(
        (status, code_of(&body)),
        (409, "invalid_state"),
        "awaiting payment: {body:#}"
    );

    let cancelled_sid = shipment_in_preparation(&server);
    let (status, body) = server.post(
        &format!("/api/v1/shipments/{cancelled_sid}/cancel"),
        json!({}),
    );
    assert_eq!(status, 200, "cancel: {body:#}");
    let (status, body) = attach_refused_early(&server, &cancelled_sid);
    assert_eq!(
        (status, code_of(&body)),
        (409, "invalid_state"),
        "cancelled: {body:#}"
    );

    let prepared = prepared_shipment(&server, &[("Key", "K-1")]);
    let (status, body) = attach_refused_early(&server, str_of(&prepared, "id"));
    assert_eq!(
        (status, code_of(&body)),
        (409, "already_prepared"),
        "prepared: {body:#}"
    );

    for sid in [&unpaid_sid, &cancelled_sid] {
        let s = shipment(&server, sid);
        assert_eq!(s["files"], json!([]), "{s:#}");
    }
}

#[test]
fn products_must_name_stored_files() {
    let server = Server::start();
    for files in [
        json!(["0".repeat(64)]),
        json!(["not-a-file-id"]),
        json!(["../../etc/passwd"]),
    ] {
        let sku = unique("bad-files");
        let r = server.call(
            Method::PUT,
            &format!("/api/v1/products/{sku}"),
            Some(&json!({"name": "Ebook", "kind": "standard", "files": files})),
        );
        assert_problem(&r, 422, "validation_failed");
        let (status, _) = server.get(&format!("/api/v1/products/{sku}"));
        assert_eq!(status, 404, "a refused product was stored");
    }
    for id in ["0".repeat(64), "ABC".to_owned(), "A".repeat(64)] {
        assert_no_file(&server, &id, "an unknown id");
    }
}

#[test]
fn a_cut_off_upload_leaves_nothing() {
    let server = Server::start();
    let sid = shipment_in_preparation(&server);
    let whole = Content::random(401, 6 * MIB);
    let sent_bytes = 3 * MIB + 1000;
    for (target, chunked) in [
        (upload_path(None, "cut.bin"), false),
        (upload_path(None, "cut-chunked.bin"), true),
        (upload_path(Some(&sid), "cut-attached.bin"), false),
    ] {
        let mut stream = raw_connect(&server);
        let auth = format!("Bearer {}", server.key());
        let length = whole.len().to_string();
        let mut headers = vec![("Authorization", auth.as_str())];
        if chunked {
            headers.push(("Transfer-Encoding", "chunked"));
        } else {
            headers.push(("Content-Length", length.as_str()));
        }
        raw_write(
            &mut stream,
            raw_head(&server, "POST", &target, &headers).as_bytes(),
        )
        .expect("sending the head");
        let mut pos = 0;
        while pos < sent_bytes {
            let n = (sent_bytes - pos).min(256 * 1024);
            let piece = whole.slice(pos, pos + n);
            let framed = if chunked {
                let mut f = format!("{n:x}\r\n").into_bytes();
                f.extend_from_slice(&piece);
                f.extend_from_slice(b"\r\n");
                f
            } else {
                piece
            };
            raw_write(&mut stream, &framed).expect("sending half the body");
            pos += n;
        }
        // Let the server take what came, then go away mid-body.
        thread::sleep(Duration::from_millis(300));
        drop(stream);

        let r = server.send(server.anon(Method::GET, "/healthz"));
        assert_eq!(
            r.status, 200,
            "the server stopped serving after a cut-off upload"
        );
        assert_no_file(&server, &whole.hash(), "the cut-off upload");
        assert_no_file(
            &server,
            &whole.hash_of(0, sent_bytes),
            "the cut-off upload's received part",
        );
    }
    let s = shipment(&server, &sid);
    assert_eq!(
        s["files"],
        json!([]),
        "a cut-off attachment appeared: {s:#}"
    );

    // The same file, sent whole, is stored and delivered intact.
    attach(&server, &sid, "whole.bin", &whole);
    let prepared = prepare(&server, &sid);
    let got = fetch(&file_url(&prepared, &whole.hash()), &[]);
    assert_eq!(got.status, 200, "{}", got.text());
    got.assert_content(&whole, 0, whole.len());
}

#[test]
fn files_add_stores_a_file_for_products() {
    let mut server = Server::start();
    server.stop();
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("source.txt");
    let content = Content::text(2 * MIB + 17);
    write_file(&path, &content);
    let out = waybill_cli(
        &[
            "files",
            "add",
            path.to_str().expect("UTF-8 temp path"),
            "--name",
            "Umowa — kopia.txt",
            "--content-type",
            "text/plain; charset=utf-8",
        ],
        server.data_dir(),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "files add failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let id = stdout
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim();
    assert_eq!(id, content.hash(), "last line of: {stdout}");

    server.start_again();
    let (status, meta) = server.get(&format!("/api/v1/files/{id}"));
    assert_eq!(status, 200, "{meta:#}");
    assert_eq!(
        meta,
        json!({"id": id, "name": "Umowa — kopia.txt", "size": content.len(),
               "content_type": "text/plain; charset=utf-8"})
    );
    let bought = buy(&server, &standard_with_files(&server, &[id], json!({})));
    let got = fetch(&file_url(&bought, id), &[]);
    assert_eq!(got.status, 200, "{}", got.text());
    got.assert_content(&content, 0, content.len());
    assert_eq!(got.header("content-type"), "text/plain; charset=utf-8");
}
