//! The buyer's downloads: headers, ranges, conditional requests, resuming with curl, limits, links, slow clients, corruption.

use std::io::Read as _;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};
use time::macros::format_description;

use crate::support::*;

/// A prepared personalized shipment (unlimited downloads) carrying `content` as `name`.
fn shipment_with(server: &Server, name: &str, content: &Content) -> Value {
    let sku = personalized_with(server, json!({"download_limit": null}));
    let placed = order(server, &[&sku]);
    let sid = shipment_ids(&placed).remove(0);
    pay(server, str_of(&placed, "id"));
    attach(server, &sid, name, content);
    prepare(server, &sid)
}

/// A buyer-side request for a problem answer (JSON) or the page (HTML).
fn buyer_get(server: &Server, url: &str, accept: &str) -> Resp {
    server.send(server.anon(Method::GET, url).header("accept", accept))
}

/// `prepared_at` as an HTTP date (the `Last-Modified` a download carries).
fn http_date(v: &Value) -> String {
    parse_time(v)
        .format(format_description!(
            "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
        ))
        .expect("formatting an HTTP date")
}

#[test]
fn ranges_and_conditional_requests() {
    let server = Server::start();
    let size = 3 * MIB + 12_345;
    let content = Content::random(501, size);
    let prepared = shipment_with(&server, "noise.bin", &content);
    let sid = str_of(&prepared, "id").to_owned();
    let id = content.hash();
    let url = file_url(&prepared, &id);
    let etag = format!("\"{id}\"");

    let full = fetch(&url, &[]);
    assert_eq!(full.status, 200, "{}", full.text());
    full.assert_content(&content, 0, size);
    assert_eq!(full.header("etag"), etag);
    assert_eq!(full.header("accept-ranges"), "bytes");
    assert_eq!(full.header("content-type"), "application/octet-stream");
    assert_eq!(full.header("x-content-type-options"), "nosniff");
    assert_eq!(
        full.header("content-disposition"),
        "attachment; filename=\"noise.bin\"; filename*=UTF-8''noise.bin"
    );
    assert_eq!(
        full.header("last-modified"),
        http_date(&prepared["prepared_at"]),
        "Last-Modified is not the prepared time"
    );
    assert_eq!(full.header("content-range"), "");
    let mut counted = 1;
    assert_eq!(downloads_of(&server, &sid, &id), counted);

    let c = CHUNK_BYTES;
    let s = size;
    // (Range, first byte, end): 206 with exactly these bytes.
    let partial: Vec<(String, u64, u64)> = vec![
        ("bytes=0-0".into(), 0, 1),
        ("bytes=0-99".into(), 0, 100),
        ("bytes=1048000-1048999".into(), 1_048_000, 1_049_000),
        (format!("bytes={c}-{}", 2 * c - 1), c, 2 * c),
        ("bytes=2000000-".into(), 2_000_000, s),
        ("bytes=-500".into(), s - 500, s),
        (format!("bytes=-{}", s + 100), 0, s),
        (format!("bytes=100-{}", s + 1000), 100, s),
        (format!("bytes={}-{}", s - 1, s - 1), s - 1, s),
    ];
    for (range, start, end) in &partial {
        let got = fetch(&url, &[("range", range)]);
        assert_eq!(got.status, 206, "{range}: {}", got.text());
        got.assert_content(&content, *start, *end);
        assert_eq!(
            got.header("content-range"),
            format!("bytes {start}-{}/{s}", end - 1),
            "{range}"
        );
        assert_eq!(got.header("etag"), etag, "{range}");
        if *end == s {
            counted += 1;
        }
        assert_eq!(
            downloads_of(&server, &sid, &id),
            counted,
            "after {range}: only a response handing out the last byte counts"
        );
    }

    for range in [
        format!("bytes={s}-"),
        format!("bytes={}-{}", s + 5, s + 10),
        "bytes=-0".to_owned(),
    ] {
        let got = fetch(&url, &[("range", &range)]);
        assert_eq!(got.status, 416, "{range}: {}", got.text());
        assert_eq!(
            got.header("content-range"),
            format!("bytes */{s}"),
            "{range}"
        );
        assert!(got.len < 1000, "{range}: a 416 with {} body bytes", got.len);
    }
    assert_eq!(downloads_of(&server, &sid, &id), counted, "416 counted");

    // Several ranges, or a nonsensical one: the whole file.
    for range in ["bytes=0-1,5-9", "bytes=5-1"] {
        let got = fetch(&url, &[("range", range)]);
        assert_eq!(got.status, 200, "{range}: {}", got.text());
        got.assert_content(&content, 0, s);
        counted += 1;
    }
    assert_eq!(downloads_of(&server, &sid, &id), counted);

    let weak = format!("W/{etag}");
    let listed = format!("\"nope\", {etag}");
    for (name, value) in [
        ("if-none-match", etag.as_str()),
        ("if-none-match", weak.as_str()),
        ("if-none-match", listed.as_str()),
    ] {
        let got = fetch(&url, &[(name, value)]);
        assert_eq!(got.status, 304, "{name}: {value}: {}", got.text());
        assert_eq!(got.len, 0, "a 304 with a body");
        assert_eq!(got.header("etag"), etag);
    }
    let got = fetch(&url, &[("if-none-match", &etag), ("range", "bytes=-10")]);
    assert_eq!(got.status, 304, "If-None-Match wins over Range");
    assert_eq!(downloads_of(&server, &sid, &id), counted, "304 counted");

    let got = fetch(&url, &[("if-none-match", "\"other\"")]);
    assert_eq!(got.status, 200);
    got.assert_content(&content, 0, s);
    counted += 1;

    let got = fetch(&url, &[("if-range", &etag), ("range", "bytes=10-19")]);
    assert_eq!(got.status, 206, "If-Range with the ETag: {}", got.text());
    got.assert_content(&content, 10, 20);
    assert_eq!(got.header("content-range"), format!("bytes 10-19/{s}"));
    let got = fetch(&url, &[("if-range", "\"other\""), ("range", "bytes=10-19")]);
    assert_eq!(got.status, 200, "If-Range with another ETag");
    got.assert_content(&content, 0, s);
    counted += 1;
    assert_eq!(downloads_of(&server, &sid, &id), counted);
}

#[test]
fn an_empty_file_has_no_ranges() {
    let server = Server::start();
    let empty = Content::random(0, 0);
    let prepared = shipment_with(&server, "empty.txt", &empty);
    let url = file_url(&prepared, &empty.hash());
    for range in ["bytes=0-", "bytes=-1", "bytes=0-0", "bytes=-0"] {
        let got = fetch(&url, &[("range", range)]);
        assert_eq!(got.status, 416, "{range}: {}", got.text());
        assert_eq!(got.header("content-range"), "bytes */0", "{range}");
    }
    let got = fetch(&url, &[]);
    assert_eq!(got.status, 200, "{}", got.text());
    got.assert_content(&empty, 0, 0);
    assert_eq!(got.header("etag"), format!("\"{}\"", empty.hash()));
    let sid = str_of(&prepared, "id");
    assert_eq!(downloads_of(&server, sid, &empty.hash()), 1);
    assert_eq!(shipment(&server, sid)["status"], "delivered");
}

fn curl(args: &[&str]) {
    let out = Command::new("curl")
        .args(["--silent", "--show-error", "--fail", "--noproxy", "*"])
        .args(args)
        .output()
        .expect("running curl");
    assert!(
        out.status.success(),
        "curl {args:?}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn curl_resumes_a_download_and_it_counts_once() {
    let server = Server::start();
    let content = Content::random(601, 2 * MIB + 999);
    upload(&server, "resume.bin", &content);
    let sku = standard_with_files(&server, &[&content.hash()], json!({}));
    let bought = buy(&server, &sku);
    let sid = str_of(&bought, "id").to_owned();
    let url = file_url(&bought, &content.hash());
    let dir = tempfile::tempdir().expect("temp dir");
    let part = dir.path().join("part");
    let part_s = part.to_str().expect("UTF-8 path");

    curl(&["-r", "0-999999", "-o", part_s, &url]);
    assert_eq!(std::fs::metadata(&part).unwrap().len(), 1_000_000);
    assert_eq!(downloads_of(&server, &sid, &content.hash()), 0);
    assert_eq!(shipment(&server, &sid)["status"], "prepared");

    curl(&["-C", "-", "-o", part_s, &url]);
    assert_eq!(std::fs::metadata(&part).unwrap().len(), content.len());
    assert_eq!(
        hash_file(&part),
        content.hash(),
        "resumed file differs from the source"
    );
    assert_eq!(downloads_of(&server, &sid, &content.hash()), 1);
    let s = shipment(&server, &sid);
    assert_eq!(s["status"], "delivered", "{s:#}");
    parse_time(&s["delivered_at"]);

    let whole = dir.path().join("whole");
    curl(&["-o", whole.to_str().expect("UTF-8 path"), &url]);
    assert_eq!(hash_file(&whole), content.hash());
    assert_eq!(downloads_of(&server, &sid, &content.hash()), 2);
}

#[test]
fn the_download_limit_counts_completed_downloads() {
    let server = Server::start();
    let content = Content::random(701, 2 * MIB + 500);
    let id = content.hash();
    upload(&server, "limited.bin", &content);
    let sku = standard_with_files(&server, &[&id], json!({"download_limit": 2}));
    let bought = buy(&server, &sku);
    let sid = str_of(&bought, "id").to_owned();
    assert!(bought["delivered_at"].is_null());
    let url = file_url(&bought, &id);
    let etag = format!("\"{id}\"");

    // Neither a range short of the end, nor a 304, nor a 416 is a download.
    let got = fetch(&url, &[("range", "bytes=0-99")]);
    assert_eq!(got.status, 206);
    let got = fetch(&url, &[("if-none-match", &etag)]);
    assert_eq!(got.status, 304);
    let got = fetch(&url, &[("range", "bytes=99999999-")]);
    assert_eq!(got.status, 416);
    assert_eq!(downloads_of(&server, &sid, &id), 0);
    let s = shipment(&server, &sid);
    assert_eq!(
        s["status"], "prepared",
        "delivered without a download: {s:#}"
    );

    for n in 1..=2 {
        let got = fetch(&url, &[]);
        assert_eq!(got.status, 200, "download {n}: {}", got.text());
        got.assert_content(&content, 0, content.len());
        assert_eq!(downloads_of(&server, &sid, &id), n);
        let s = shipment(&server, &sid);
        assert_eq!(s["status"], "delivered", "{s:#}");
        parse_time(&s["delivered_at"]);
    }
    let delivered_at = shipment(&server, &sid)["delivered_at"].clone();

    let refused = buyer_get(&server, &url, "application/json");
    assert_problem(&refused, 403, "download_limit_reached");
    let refused = fetch(&url, &[("range", "bytes=0-9")]);
    assert_eq!(
        refused.status,
        403,
        "a range past the limit: {}",
        refused.text()
    );
    let page = buyer_get(&server, &url, "text/html");
    assert_eq!(page.status, 403);
    assert!(
        page.content_type().starts_with("text/html"),
        "{:?}",
        page.headers
    );
    assert_no_leaks(&page.text);
    assert_eq!(
        buyer_get(&server, str_of(&bought, "download_url"), "application/json").status,
        200,
        "the link itself still opens"
    );
    assert_eq!(downloads_of(&server, &sid, &id), 2);

    let (status, after) = server.post(
        &format!("/api/v1/shipments/{sid}/downloads/reset"),
        json!({}),
    );
    assert_eq!(status, 200, "{after:#}");
    assert_eq!(downloads_of(&server, &sid, &id), 0);
    let got = fetch(&url, &[]);
    assert_eq!(got.status, 200, "after the reset: {}", got.text());
    got.assert_content(&content, 0, content.len());
    assert_eq!(downloads_of(&server, &sid, &id), 1);
    assert_eq!(
        shipment(&server, &sid)["delivered_at"],
        delivered_at,
        "delivered_at moved"
    );
}

#[test]
fn a_reissued_link_replaces_the_old_one() {
    let server = Server::start();
    let content = Content::text(1_500_000);
    let prepared = shipment_with(&server, "book.txt", &content);
    let sid = str_of(&prepared, "id");
    let old = str_of(&prepared, "download_url").to_owned();
    let old_file = file_url(&prepared, &content.hash());
    let got = fetch(&old_file, &[]);
    assert_eq!(got.status, 200);

    let (status, renewed) = server.post(&format!("/api/v1/shipments/{sid}/link"), json!({}));
    assert_eq!(status, 200, "{renewed:#}");
    let new = str_of(&renewed, "download_url");
    assert_ne!(new, old, "the same link again");

    assert_problem(&server.buyer_json(&old), 410, "token_revoked");
    assert_problem(
        &buyer_get(&server, &old_file, "application/json"),
        410,
        "token_revoked",
    );
    let page = buyer_get(&server, &old_file, "text/html");
    assert_eq!(page.status, 410);
    assert!(page.content_type().starts_with("text/html"));

    let view = server.buyer_json(new);
    assert_eq!(view.status, 200, "{}", view.text);
    let new_file = format!("{new}/files/{}", content.hash());
    assert_eq!(view.json()["files"][0]["url"], json!(new_file));
    let got = fetch(&new_file, &[]);
    assert_eq!(got.status, 200, "{}", got.text());
    got.assert_content(&content, 0, content.len());
}

#[test]
fn a_waiver_product_needs_the_waiver_before_files() {
    let server = Server::start();
    let content = Content::random(801, 300_000);
    let id = content.hash();
    upload(&server, "voucher.pdf", &content);
    let sku = standard_with_files(&server, &[&id], json!({"requires_withdrawal_waiver": true}));
    let bought = buy(&server, &sku);
    let sid = str_of(&bought, "id");
    let url = file_url(&bought, &id);

    assert_problem(
        &buyer_get(&server, &url, "application/json"),
        403,
        "waiver_required",
    );
    let page = buyer_get(&server, &url, "text/html");
    assert_eq!(page.status, 403);
    assert!(page.content_type().starts_with("text/html"));
    let got = fetch(&url, &[("range", "bytes=0-9")]);
    assert_eq!(got.status, 403, "a range before the waiver: {}", got.text());
    assert_eq!(downloads_of(&server, sid, &id), 0);

    let r = server.send(
        server
            .anon(
                Method::POST,
                &format!("{}/waiver", str_of(&bought, "download_url")),
            )
            .header("accept", "application/json"),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["files"][0]["url"], json!(url));
    let got = fetch(&url, &[]);
    assert_eq!(got.status, 200, "{}", got.text());
    got.assert_content(&content, 0, content.len());
    assert_eq!(downloads_of(&server, sid, &id), 1);
}

#[test]
fn bad_links_and_unknown_files_get_no_bytes() {
    let server = Server::start();
    let content = Content::random(901, 100_000);
    let prepared = shipment_with(&server, "a.bin", &content);
    let sid = str_of(&prepared, "id");
    let link = str_of(&prepared, "download_url");
    let id = content.hash();

    let (base, token) = link.rsplit_once('/').expect("a link with a token");
    let mut tampered = token.to_owned();
    let last = tampered.pop().expect("a token");
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    let tampered_url = format!("{base}/{tampered}/files/{id}");
    assert_problem(
        &buyer_get(&server, &tampered_url, "application/json"),
        403,
        "token_invalid",
    );
    assert_problem(
        &buyer_get(
            &server,
            &format!("{link}/files/{}", "0".repeat(64)),
            "application/json",
        ),
        404,
        "not_found",
    );
    assert_problem(
        &buyer_get(
            &server,
            &format!("{link}/files/nonsense"),
            "application/json",
        ),
        404,
        "not_found",
    );
    let other = Content::random(902, 100);
    upload(&server, "elsewhere.bin", &other);
    assert_problem(
        &buyer_get(
            &server,
            &file_url(&prepared, &other.hash()),
            "application/json",
        ),
        404,
        "not_found",
    );

    let (status, body) = server.post(&format!("/api/v1/shipments/{sid}/revoke"), json!({}));
    assert_eq!(status, 200, "{body:#}");
    let url = file_url(&prepared, &id);
    assert_problem(
        &buyer_get(&server, &url, "application/json"),
        410,
        "token_revoked",
    );
    let page = fetch(&url, &[("range", "bytes=0-")]);
    assert_eq!(page.status, 410);
    assert!(page.header("content-type").starts_with("text/html"));
    assert!(
        !page
            .body
            .windows(64)
            .any(|w| w == &content.slice(0, 64)[..]),
        "file bytes in an error page"
    );
}

/// Opens a raw GET of `url` and reads the response head.
fn raw_get(server: &Server, url: &str) -> (std::net::TcpStream, RawHead) {
    let path = url
        .strip_prefix(server.base())
        .expect("a link to this server");
    let mut stream = raw_connect(server);
    raw_write(
        &mut stream,
        raw_head(server, "GET", path, &[("Connection", "close")]).as_bytes(),
    )
    .expect("sending the request");
    let head = read_head(&mut stream).expect("reading the response head");
    (stream, head)
}

#[test]
fn slow_and_impatient_clients() {
    let server = Server::start();
    let content = Content::random(1001, 30 * MIB + 4321);
    let id = content.hash();
    upload(&server, "big.bin", &content);
    let bought = buy(&server, &standard_with_files(&server, &[&id], json!({})));
    let sid = str_of(&bought, "id").to_owned();
    let url = file_url(&bought, &id);

    // Gone after 2 MiB: not a download.
    let (mut stream, head) = raw_get(&server, &url);
    assert_eq!(head.status, 200);
    let mut got = head.rest.len();
    let mut buf = vec![0u8; 64 * 1024];
    while got < 2 * MIB as usize {
        let n = stream.read(&mut buf).expect("reading");
        assert!(n > 0, "the body ended after {got} bytes");
        got += n;
    }
    drop(stream);
    thread::sleep(Duration::from_millis(500));
    assert_eq!(
        downloads_of(&server, &sid, &id),
        0,
        "an aborted download counted"
    );
    assert_eq!(shipment(&server, &sid)["status"], "prepared");

    // 1 MiB every 50 ms: every byte still arrives, in order.
    let started = Instant::now();
    let (mut stream, head) = raw_get(&server, &url);
    assert_eq!(head.status, 200);
    let length: u64 = head
        .header("content-length")
        .and_then(|v| v.parse().ok())
        .expect("Content-Length");
    assert_eq!(length, content.len());
    let mut hasher = blake3::Hasher::new();
    hasher.update(&head.rest);
    let mut received = head.rest.len() as u64;
    let mut step = vec![0u8; MIB as usize];
    while received < length {
        let want = (length - received).min(MIB) as usize;
        stream
            .read_exact(&mut step[..want])
            .unwrap_or_else(|e| panic!("the slow read broke at {received} of {length}: {e}"));
        hasher.update(&step[..want]);
        received += want as u64;
        thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        hasher.finalize().to_hex().to_string(),
        content.hash(),
        "the slow download differs"
    );
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert_eq!(downloads_of(&server, &sid, &id), 1);
    assert_eq!(shipment(&server, &sid)["status"], "delivered");
}

/// Flips one byte of chunk 1 (the second MiB, stored raw) of `content` in the stopped server's database.
fn corrupt_chunk_one(server: &Server, content: &Content) {
    let at = CHUNK_BYTES + 4096;
    let flipped = flip_byte_everywhere(
        &server.data_dir().join("waybill.redb"),
        &content.slice(at, at + 64),
        32,
    );
    assert!(flipped > 0, "the chunk's bytes are not in waybill.redb");
}

/// Downloads (whole, and from inside the bad chunk) must break, never deliver wrong bytes.
fn assert_fails_loudly(url: &str, content: &Content) {
    let from = CHUNK_BYTES + 10;
    for range in [None, Some(format!("bytes={from}-"))] {
        let headers: Vec<(&str, &str)> = range.iter().map(|r| ("range", r.as_str())).collect();
        let got = match try_fetch(url, &headers) {
            Ok(got) => got,
            // Aborted before the response head: loud enough.
            Err(e) => {
                eprintln!("{range:?}: no response: {e}");
                continue;
            }
        };
        let announced: Option<u64> = got.header("content-length").parse().ok();
        let complete = got.error.is_none() && Some(got.len) == announced;
        assert!(
            !(complete && got.status < 300),
            "{range:?}: a corrupt file was served as complete ({} bytes, status {}, right bytes: {})",
            got.len,
            got.status,
            got.hash == content.hash()
        );
        if got.status < 300 {
            let start = if got.status == 206 { from } else { 0 };
            assert_eq!(
                got.hash,
                content.hash_of(start, start + got.len),
                "{range:?}: the bytes before the failure are wrong"
            );
        }
    }
}

#[test]
fn a_corrupted_chunk_fails_loudly() {
    let mut server = Server::start();
    let content = Content::random(1101, 3 * MIB + 99);
    let id = content.hash();
    let prepared = shipment_with(&server, "fragile.bin", &content);
    let sid = str_of(&prepared, "id").to_owned();
    let url = file_url(&prepared, &id);

    server.stop();
    let v = verify_store(server.data_dir());
    assert_eq!(
        (v.checked, v.corrupt, v.code),
        (1 + BUNDLED_PLUGIN_FILES, 0, 0),
        "intact store: {}",
        v.stdout
    );
    corrupt_chunk_one(&server, &content);

    server.start_again();
    assert_fails_loudly(&url, &content);
    assert_eq!(
        downloads_of(&server, &sid, &id),
        0,
        "a failed download counted"
    );
    let r = server.send(server.anon(Method::GET, "/healthz"));
    assert_eq!(r.status, 200, "the server died of a corrupt chunk");

    server.stop();
    let v = verify_store(server.data_dir());
    assert_eq!(
        (v.checked, v.corrupt, v.code),
        (1 + BUNDLED_PLUGIN_FILES, 1, 1),
        "corrupt store: {}",
        v.stdout
    );
    assert!(
        v.stdout
            .lines()
            .any(|l| l.starts_with(&format!("CORRUPT {id}:"))),
        "no `CORRUPT {id}:` line: {}",
        v.stdout
    );
}

/// `files verify` finding a corrupt file must not keep the server from starting.
#[test]
fn the_server_starts_after_verify_found_corruption() {
    let mut server = Server::start();
    let content = Content::random(1102, 2 * MIB + 5);
    let prepared = shipment_with(&server, "fragile.bin", &content);
    server.stop();
    corrupt_chunk_one(&server, &content);
    let v = verify_store(server.data_dir());
    assert_eq!((v.corrupt, v.code), (1, 1), "{}", v.stdout);

    server.start_again();
    let r = server.send(server.anon(Method::GET, "/healthz"));
    assert_eq!(r.status, 200);
    assert_fails_loudly(&file_url(&prepared, &content.hash()), &content);
}

/// A crash on a store with one rotten chunk must not take the whole store
/// down: the server restarts (redb's quick repair trusts the last durable
/// commit instead of checksumming every page), the file fails loudly, and
/// everything else keeps working.
#[test]
fn a_crash_with_a_rotten_chunk_still_restarts() {
    let mut server = Server::start();
    let content = Content::random(1103, 2 * MIB + 7);
    let prepared = shipment_with(&server, "rotten.bin", &content);
    server.stop();
    corrupt_chunk_one(&server, &content);
    server.start_again();
    server.kill9();
    server.start_again();
    let r = server.send(server.anon(Method::GET, "/healthz"));
    assert_eq!(r.status, 200);
    let (status, _) = server.get("/api/v1/shipments?limit=5");
    assert_eq!(status, 200, "metadata stays readable");
    assert_fails_loudly(&file_url(&prepared, &content.hash()), &content);
    server.stop();
    let v = verify_store(server.data_dir());
    assert_eq!((v.corrupt, v.code), (1, 1), "{}", v.stdout);
}
