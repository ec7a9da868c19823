//! The fulfilment flow end to end: orders, payments, preparation, the buyer's link, transitions.

use std::collections::HashSet;
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::*;

const SETTLE: Duration = Duration::from_millis(1500);
const MAIL_WAIT: Duration = Duration::from_secs(15);

#[test]
fn personalized_happy_path() {
    let server = Server::start();
    let sku = personalized(&server);
    let body = order_body(&[&sku]);
    let order = create_order(&server, &body);
    assert_eq!(order["status"], "awaiting_payment");
    assert_eq!(order["external_id"], body["external_id"]);
    assert_eq!(order["buyer"]["email"], body["buyer"]["email"]);
    assert!(order["payment"].is_null(), "{order:#}");
    assert_eq!(
        order["lines"].as_array().map(Vec::len),
        Some(1),
        "{order:#}"
    );
    let ids = shipment_ids(&order);
    assert_eq!(ids.len(), 1, "{order:#}");
    assert_eq!(order["shipments"][0]["status"], "awaiting_payment");
    let id = &ids[0];
    let order_id = str_of(&order, "id");

    let before = shipment(&server, id);
    assert_eq!(before["status"], "awaiting_payment");
    assert_eq!(before["order_id"], order_id);
    assert_eq!(before["product_skus"], json!([sku]));
    assert!(before["download_url"].is_null() && before["prepared_at"].is_null());
    parse_time(&before["created_at"]);

    let (status, paid) = server.post(
        &format!("/api/v1/orders/{order_id}/payment"),
        json!({"reference": "PAY-77"}),
    );
    assert_eq!(status, 200, "{paid:#}");
    assert_eq!(paid["status"], "paid");
    assert_eq!(paid["payment"]["reference"], "PAY-77");
    parse_time(&paid["payment"]["paid_at"]);
    assert_eq!(paid["shipments"][0]["status"], "in_preparation");

    let s = shipment(&server, id);
    assert_eq!(s["status"], "in_preparation");
    assert_eq!(s["notification"]["status"], "none", "{s:#}");

    let item = add_item(&server, id, "Translation", "Dla Ani, z miłością");
    assert_eq!(item["label"], "Translation");
    assert_eq!(item["value"], "Dla Ani, z miłością");
    assert!(item["id"].is_string(), "{item:#}");
    add_item(&server, id, "License key", "ABCD-EFGH-1234");
    let items = [
        ("Translation", "Dla Ani, z miłością"),
        ("License key", "ABCD-EFGH-1234"),
    ];
    assert_eq!(items_of(&shipment(&server, id)), pairs(&items));

    let prepared = prepare(&server, id);
    assert_eq!(prepared["status"], "prepared");
    let prepared_at = parse_time(&prepared["prepared_at"]);
    assert!(prepared_at >= parse_time(&prepared["created_at"]));
    assert!(prepared["delivered_at"].is_null());
    let url = str_of(&prepared, "download_url");
    assert!(
        url.starts_with(&format!("{}/d/", server.base())),
        "download_url {url} is not under {}",
        server.base()
    );
    assert_eq!(items_of(&prepared), pairs(&items));
    assert_eq!(
        get_order(&server, order_id)["shipments"][0]["status"],
        "prepared"
    );

    let view = server.buyer_json(url);
    assert_eq!(view.status, 200, "{}", view.text);
    let view = view.json();
    assert_eq!(items_of(&view), pairs(&items));
    assert_eq!(view["files"], json!([]));
    assert_eq!(view["waiver_required"], false);

    let delivered = shipment(&server, id);
    assert_eq!(delivered["status"], "delivered");
    let delivered_at = parse_time(&delivered["delivered_at"]);
    assert!(delivered_at >= prepared_at);
    assert_eq!(delivered["download_url"], prepared["download_url"]);
    assert_eq!(delivered["prepared_at"], prepared["prepared_at"]);

    // Viewing again keeps the first delivery time.
    assert_eq!(server.buyer_json(url).status, 200);
    assert_eq!(
        shipment(&server, id)["delivered_at"],
        delivered["delivered_at"]
    );
    assert_eq!(
        get_order(&server, order_id)["shipments"][0]["status"],
        "delivered"
    );
}

#[test]
fn standard_product_is_prepared_at_payment() {
    let server = Server::start();
    let items = [("Download code", "EBOOK-42")];
    let sku = standard(&server, &items);
    let order = order(&server, &[&sku]);
    let id = shipment_ids(&order).remove(0);
    assert_eq!(shipment(&server, &id)["status"], "awaiting_payment");

    let paid = pay(&server, str_of(&order, "id"));
    assert_eq!(paid["shipments"][0]["status"], "prepared", "{paid:#}");
    let s = shipment(&server, &id);
    assert_eq!(s["status"], "prepared");
    parse_time(&s["prepared_at"]);
    assert_eq!(items_of(&s), pairs(&items));
    assert_ne!(s["notification"]["status"], "none", "{s:#}");

    let view = server.buyer_json(str_of(&s, "download_url"));
    assert_eq!(view.status, 200, "{}", view.text);
    assert_eq!(items_of(&view.json()), pairs(&items));
}

#[test]
fn product_defaults_and_replace() {
    let server = Server::start();
    let (status, created) = server.put(
        "/api/v1/products/translation",
        json!({"name": "Translation", "kind": "personalized"}),
    );
    assert_eq!(status, 201, "{created:#}");
    assert_eq!(created["download_limit"], 5);
    assert_eq!(created["link_ttl_hours"], 720);
    assert_eq!(created["auto_prepare"], false);
    assert_eq!(created["requires_withdrawal_waiver"], false);

    let (status, replaced) = server.put(
        "/api/v1/products/translation",
        json!({"name": "Sworn translation", "kind": "personalized", "download_limit": 3}),
    );
    assert_eq!(status, 200, "{replaced:#}");
    let (status, read) = server.get("/api/v1/products/translation");
    assert_eq!(status, 200);
    assert_eq!(read["name"], "Sworn translation");
    assert_eq!(read["download_limit"], 3);
}

#[test]
fn two_personalized_lines_and_a_standard_line_make_three_shipments() {
    let server = Server::start();
    let p1 = personalized(&server);
    let p2 = personalized(&server);
    let std_sku = standard(&server, &[("Code", "STD-1")]);
    let order = order(&server, &[&p1, &std_sku, &p2]);
    let ids = shipment_ids(&order);
    assert_eq!(ids.len(), 3, "{order:#}");
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 3);

    pay(&server, str_of(&order, "id"));
    let mut by_sku = std::collections::BTreeMap::new();
    for id in &ids {
        let s = shipment(&server, id);
        let skus: Vec<String> = serde_json::from_value(s["product_skus"].clone()).unwrap();
        assert_eq!(skus.len(), 1, "{s:#}");
        by_sku.insert(skus[0].clone(), s["status"].as_str().unwrap().to_owned());
    }
    assert_eq!(by_sku[&p1], "in_preparation");
    assert_eq!(by_sku[&p2], "in_preparation");
    assert_eq!(by_sku[&std_sku], "prepared");
}

#[test]
fn standard_lines_share_one_shipment() {
    let server = Server::start();
    let a = standard(&server, &[("Code A", "A-1")]);
    let b = standard(&server, &[("Code B", "B-1")]);
    let order = order(&server, &[&a, &b]);
    let ids = shipment_ids(&order);
    assert_eq!(ids.len(), 1, "{order:#}");
    pay(&server, str_of(&order, "id"));
    let s = shipment(&server, &ids[0]);
    assert_eq!(s["status"], "prepared");
    let mut skus: Vec<String> = serde_json::from_value(s["product_skus"].clone()).unwrap();
    skus.sort();
    let mut want = vec![a, b];
    want.sort();
    assert_eq!(skus, want);
    let mut items = items_of(&s);
    items.sort();
    assert_eq!(items, pairs(&[("Code A", "A-1"), ("Code B", "B-1")]));
}

#[test]
fn list_filters_by_status_and_order_id() {
    let server = Server::start();
    let sku = personalized(&server);
    let unpaid = order(&server, &[&sku, &sku]);
    let paid = order(&server, &[&sku]);
    pay(&server, str_of(&paid, "id"));
    let paid_ids = shipment_ids(&paid);
    let unpaid_ids = shipment_ids(&unpaid);
    assert_eq!(unpaid_ids.len(), 2);

    let ids = |list: &[Value]| -> HashSet<String> {
        list.iter().map(|s| str_of(s, "id").to_owned()).collect()
    };
    let in_prep = list_all(&server, "status=in_preparation");
    assert_eq!(ids(&in_prep), paid_ids.iter().cloned().collect());
    let awaiting = list_all(&server, "status=awaiting_payment");
    assert_eq!(ids(&awaiting), unpaid_ids.iter().cloned().collect());
    assert!(list_all(&server, "status=prepared").is_empty());

    let of_unpaid = list_all(
        &server,
        &format!("order_id={}", percent_encode(str_of(&unpaid, "id"))),
    );
    assert_eq!(ids(&of_unpaid), unpaid_ids.iter().cloned().collect());
    let both = list_all(
        &server,
        &format!(
            "order_id={}&status=awaiting_payment",
            percent_encode(str_of(&paid, "id"))
        ),
    );
    assert!(both.is_empty(), "{both:#?}");

    for s in list_all(&server, "limit=500") {
        for field in ["id", "order_id", "status", "created_at"] {
            assert!(s[field].is_string(), "list entry without {field}: {s:#}");
        }
        assert!(s["buyer"]["email"].is_string(), "{s:#}");
    }
}

#[test]
fn cursor_pagination_has_no_duplicates_or_gaps() {
    let server = Server::start();
    let sku = personalized(&server);
    let mut created = Vec::new();
    for _ in 0..7 {
        created.extend(shipment_ids(&order(&server, &[&sku])));
    }

    // Page by 3, and create one more shipment between the first and second page.
    let (status, first) = server.get("/api/v1/shipments?limit=3");
    assert_eq!(status, 200, "{first:#}");
    let mut seen: Vec<String> = first["shipments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| str_of(s, "id").to_owned())
        .collect();
    assert_eq!(seen.len(), 3);
    let late = shipment_ids(&order(&server, &[&sku]));
    let mut cursor = first["next_cursor"].as_str().map(str::to_owned);
    let mut pages = 1;
    while let Some(c) = cursor {
        let (status, page) = server.get(&format!(
            "/api/v1/shipments?limit=3&cursor={}",
            percent_encode(&c)
        ));
        assert_eq!(status, 200, "{page:#}");
        let list = page["shipments"].as_array().unwrap();
        assert!(list.len() <= 3);
        seen.extend(list.iter().map(|s| str_of(s, "id").to_owned()));
        cursor = page["next_cursor"].as_str().map(str::to_owned);
        pages += 1;
        assert!(pages < 20, "pagination does not end");
    }
    assert_eq!(pages, 3, "7 shipments by 3 make 3 pages");
    let newest_first: Vec<String> = created.iter().rev().cloned().collect();
    assert_eq!(seen, newest_first, "pages skipped, repeated or reordered");
    assert!(
        !seen.contains(&late[0]),
        "a shipment newer than the cursor leaked in"
    );

    // A fresh listing starts with the newest one.
    let all = list_all(&server, "limit=2");
    let all: Vec<String> = all.iter().map(|s| str_of(s, "id").to_owned()).collect();
    assert_eq!(all.len(), 8);
    assert_eq!(all[0], late[0]);
    assert_eq!(all[1..], newest_first[..]);
}

#[test]
fn bulk_prepare_reports_each_shipment_on_its_own() {
    let sink = SmtpSink::start();
    let server = Server::start_with(ServerOpts {
        smtp_url: Some(sink.url()),
        ..ServerOpts::default()
    });
    let good = shipment_in_preparation(&server);
    add_item(&server, &good, "Key", "GOOD-1");
    let empty = shipment_in_preparation(&server);
    let done = prepared_shipment(&server, &[("Key", "DONE-1")]);
    let done = str_of(&done, "id").to_owned();
    let sku = personalized(&server);
    let unpaid = shipment_ids(&order(&server, &[&sku])).remove(0);
    let unknown = "no-such-shipment".to_owned();
    sink.wait_for(1, MAIL_WAIT);

    let ids = [&good, &empty, &done, &unknown, &unpaid, &good];
    let (status, body) = server.post("/api/v1/shipments/prepare", json!({"ids": ids}));
    assert_eq!(status, 200, "{body:#}");
    let results = body["results"].as_array().expect("results array");
    assert_eq!(results.len(), ids.len(), "one result per id: {body:#}");
    for (r, id) in results.iter().zip(ids) {
        assert_eq!(r["id"], json!(id), "results in request order: {body:#}");
    }
    let error_code = |r: &Value| r["error"]["code"].as_str().map(str::to_owned);
    assert_eq!(results[0]["status"], "prepared", "{body:#}");
    assert_eq!(error_code(&results[1]).as_deref(), Some("empty_shipment"));
    assert_eq!(error_code(&results[2]).as_deref(), Some("already_prepared"));
    assert_eq!(error_code(&results[3]).as_deref(), Some("not_found"));
    assert_eq!(error_code(&results[4]).as_deref(), Some("invalid_state"));
    for r in &results[1..5] {
        assert!(r["error"]["detail"].is_string(), "{r:#}");
    }
    // The repeated id is either reported prepared again or refused as already prepared;
    // either way it is prepared once.
    let dup = &results[5];
    assert!(
        dup["status"] == "prepared" || error_code(dup).as_deref() == Some("already_prepared"),
        "{dup:#}"
    );

    assert_eq!(shipment(&server, &good)["status"], "prepared");
    assert_eq!(shipment(&server, &empty)["status"], "in_preparation");
    assert_eq!(shipment(&server, &unpaid)["status"], "awaiting_payment");
    let good_email = shipment(&server, &good)["buyer"]["email"].clone();
    let mails = sink.assert_count_stays(2, SETTLE);
    let to_good = mails
        .iter()
        .filter(|m| m.rcpt_tos() == vec![good_email.as_str().unwrap().to_owned()])
        .count();
    assert_eq!(to_good, 1, "one message for the bulk-prepared shipment");
}

#[test]
fn bulk_prepare_refuses_a_malformed_request() {
    let server = Server::start();
    let id = shipment_in_preparation(&server);
    add_item(&server, &id, "Key", "K");
    for body in [json!({}), json!({"ids": "x"}), json!({"ids": [1]})] {
        let r = server.call(Method::POST, "/api/v1/shipments/prepare", Some(&body));
        assert_problem(&r, 422, "validation_failed");
    }
    assert_eq!(shipment(&server, &id)["status"], "in_preparation");
}

#[test]
fn items_can_be_removed_while_in_preparation() {
    let server = Server::start();
    let id = shipment_in_preparation(&server);
    let keep = add_item(&server, &id, "Keep", "1");
    let drop = add_item(&server, &id, "Drop", "2");
    assert_ne!(keep["id"], drop["id"]);
    let (status, body) = server.delete(&format!(
        "/api/v1/shipments/{id}/items/{}",
        str_of(&drop, "id")
    ));
    assert_eq!(status, 204, "{body:#}");
    assert_eq!(items_of(&shipment(&server, &id)), pairs(&[("Keep", "1")]));
    let r = server.call(
        Method::DELETE,
        &format!("/api/v1/shipments/{id}/items/{}", str_of(&drop, "id")),
        None,
    );
    assert_problem(&r, 404, "not_found");
}

#[test]
fn prepared_is_final() {
    let sink = SmtpSink::start();
    let server = Server::start_with(ServerOpts {
        smtp_url: Some(sink.url()),
        ..ServerOpts::default()
    });
    let id = shipment_in_preparation(&server);
    let item = add_item(&server, &id, "Key", "FINAL-1");
    let prepared = prepare(&server, &id);

    let r = server.call(
        Method::POST,
        &format!("/api/v1/shipments/{id}/items"),
        Some(&json!({"label": "Late", "value": "x"})),
    );
    assert_problem(&r, 409, "already_prepared");
    let r = server.call(
        Method::DELETE,
        &format!("/api/v1/shipments/{id}/items/{}", str_of(&item, "id")),
        None,
    );
    assert_problem(&r, 409, "already_prepared");
    let r = server.call(
        Method::POST,
        &format!("/api/v1/shipments/{id}/prepare"),
        Some(&json!({})),
    );
    assert_problem(&r, 409, "already_prepared");

    let after = shipment(&server, &id);
    assert_eq!(after["status"], "prepared");
    assert_eq!(items_of(&after), pairs(&[("Key", "FINAL-1")]));
    assert_eq!(after["download_url"], prepared["download_url"]);
    assert_eq!(after["prepared_at"], prepared["prepared_at"]);
    sink.wait_for(1, MAIL_WAIT);
    sink.assert_count_stays(1, SETTLE);
}

#[test]
fn changes_before_payment_are_refused() {
    let server = Server::start();
    let sku = personalized(&server);
    let id = shipment_ids(&order(&server, &[&sku])).remove(0);
    let r = server.call(
        Method::POST,
        &format!("/api/v1/shipments/{id}/items"),
        Some(&json!({"label": "Early", "value": "x"})),
    );
    assert_problem(&r, 409, "invalid_state");
    let r = server.call(
        Method::POST,
        &format!("/api/v1/shipments/{id}/prepare"),
        Some(&json!({})),
    );
    assert_problem(&r, 409, "invalid_state");
    let s = shipment(&server, &id);
    assert_eq!(s["status"], "awaiting_payment");
    assert_eq!(s["items"], json!([]));
}

#[test]
fn cancel_only_before_prepared() {
    let server = Server::start();
    let sku = personalized(&server);
    let unpaid = shipment_ids(&order(&server, &[&sku])).remove(0);
    let in_prep = shipment_in_preparation(&server);
    add_item(&server, &in_prep, "Key", "C-1");

    for id in [&unpaid, &in_prep] {
        let (status, s) = server.post(&format!("/api/v1/shipments/{id}/cancel"), json!({}));
        assert_eq!(status, 200, "{s:#}");
        assert_eq!(s["status"], "cancelled");
        assert_eq!(shipment(&server, id)["status"], "cancelled");
        let r = server.call(
            Method::POST,
            &format!("/api/v1/shipments/{id}/prepare"),
            Some(&json!({})),
        );
        assert_problem(&r, 409, "invalid_state");
        let r = server.call(
            Method::POST,
            &format!("/api/v1/shipments/{id}/items"),
            Some(&json!({"label": "Late", "value": "x"})),
        );
        assert_problem(&r, 409, "invalid_state");
        let r = server.call(
            Method::POST,
            &format!("/api/v1/shipments/{id}/revoke"),
            Some(&json!({})),
        );
        assert_problem(&r, 409, "invalid_state");
        assert_eq!(shipment(&server, id)["status"], "cancelled");
    }

    let prepared = str_of(&prepared_shipment(&server, &[("Key", "P")]), "id").to_owned();
    let delivered = prepared_shipment(&server, &[("Key", "D")]);
    assert_eq!(
        server.buyer_json(str_of(&delivered, "download_url")).status,
        200
    );
    let delivered = str_of(&delivered, "id").to_owned();
    let revoked = str_of(&prepared_shipment(&server, &[("Key", "R")]), "id").to_owned();
    let (status, _) = server.post(&format!("/api/v1/shipments/{revoked}/revoke"), json!({}));
    assert_eq!(status, 200);
    for (id, state) in [
        (&prepared, "prepared"),
        (&delivered, "delivered"),
        (&revoked, "revoked"),
    ] {
        let r = server.call(
            Method::POST,
            &format!("/api/v1/shipments/{id}/cancel"),
            Some(&json!({})),
        );
        assert_problem(&r, 409, "already_prepared");
        assert_eq!(shipment(&server, id)["status"], state);
    }
}

#[test]
fn resend_only_when_prepared() {
    let server = Server::start();
    let id = shipment_in_preparation(&server);
    add_item(&server, &id, "Key", "RS-1");
    let r = server.call(
        Method::POST,
        &format!("/api/v1/shipments/{id}/resend"),
        Some(&json!({})),
    );
    assert_problem(&r, 409, "invalid_state");
    let prepared = prepare(&server, &id);
    let (status, s) = server.post(&format!("/api/v1/shipments/{id}/resend"), json!({}));
    assert_eq!(status, 200, "{s:#}");
    assert_eq!(s["id"], json!(id));
    assert_eq!(s["status"], "prepared");
    assert_eq!(s["download_url"], prepared["download_url"]);
}

#[test]
fn revoke_blocks_the_link_and_is_idempotent() {
    let server = Server::start();
    let not_yet = shipment_in_preparation(&server);
    add_item(&server, &not_yet, "Key", "NY");
    let r = server.call(
        Method::POST,
        &format!("/api/v1/shipments/{not_yet}/revoke"),
        Some(&json!({})),
    );
    assert_problem(&r, 409, "invalid_state");
    assert_eq!(shipment(&server, &not_yet)["status"], "in_preparation");

    let prepared = prepared_shipment(&server, &[("Key", "REVOKE-ME")]);
    let id = str_of(&prepared, "id");
    let url = str_of(&prepared, "download_url");
    let (status, revoked) = server.post(&format!("/api/v1/shipments/{id}/revoke"), json!({}));
    assert_eq!(status, 200, "{revoked:#}");
    assert_eq!(revoked["status"], "revoked");
    let revoked_at = parse_time(&revoked["revoked_at"]);
    assert!(revoked_at >= parse_time(&prepared["prepared_at"]));

    let (status, again) = server.post(&format!("/api/v1/shipments/{id}/revoke"), json!({}));
    assert_eq!(status, 200, "{again:#}");
    assert_eq!(again["status"], "revoked");
    assert_eq!(again["revoked_at"], revoked["revoked_at"]);

    let view = server.buyer_json(url);
    assert_problem(&view, 410, "token_revoked");
    assert!(!view.text.contains("REVOKE-ME"));
    let page = server.buyer_html(url);
    assert_eq!(page.status, 410);
    assert!(page.content_type().starts_with("text/html"), "{page:?}");
    assert!(!page.text.contains("REVOKE-ME"));
    let s = shipment(&server, id);
    assert_eq!(s["status"], "revoked");
    assert!(s["delivered_at"].is_null());
    assert_eq!(items_of(&s), pairs(&[("Key", "REVOKE-ME")]));
}

#[test]
fn buyer_page_is_html_with_the_items() {
    let server = Server::start();
    let script = "<script>alert(1)</script>";
    let prepared = prepared_shipment(
        &server,
        &[("License key", "LIC-9876-XYZ"), ("Note", script)],
    );
    let page = server.buyer_html(str_of(&prepared, "download_url"));
    assert_eq!(page.status, 200, "{}", page.text);
    assert!(
        page.content_type().starts_with("text/html"),
        "{:?}",
        page.content_type()
    );
    assert!(page.text.contains("LIC-9876-XYZ"), "{}", page.text);
    assert!(page.text.contains("License key"), "{}", page.text);
    assert!(
        !page.text.contains(script),
        "item values must be HTML-escaped: {}",
        page.text
    );
    assert_eq!(
        shipment(&server, str_of(&prepared, "id"))["status"],
        "delivered"
    );
}

fn waiver_shipment(server: &Server) -> Value {
    let sku = personalized_with(server, json!({"requires_withdrawal_waiver": true}));
    let order = order(server, &[&sku]);
    let id = shipment_ids(&order).remove(0);
    pay(server, str_of(&order, "id"));
    add_item(server, &id, "Voucher", "WAIVE-55");
    prepare(server, &id)
}

#[test]
fn waiver_is_required_before_the_content_json() {
    let server = Server::start();
    let prepared = waiver_shipment(&server);
    let id = str_of(&prepared, "id");
    let url = str_of(&prepared, "download_url");

    let gate = server.buyer_json(url);
    assert_eq!(gate.status, 200, "{}", gate.text);
    let gate = gate.json();
    assert_eq!(gate["waiver_required"], true, "{gate:#}");
    assert_eq!(gate["items"], json!([]));
    assert_eq!(gate["files"], json!([]));
    assert_eq!(gate["waiver_url"], json!(format!("{url}/waiver")));
    let s = shipment(&server, id);
    assert_eq!(s["status"], "prepared", "the gate is not a delivery");
    assert!(s["waiver_accepted_at"].is_null());

    let r = server.send(
        server
            .anon(Method::POST, &format!("{url}/waiver"))
            .header("accept", "application/json"),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(items_of(&r.json()), pairs(&[("Voucher", "WAIVE-55")]));
    parse_time(&shipment(&server, id)["waiver_accepted_at"]);

    let view = server.buyer_json(url).json();
    assert_eq!(view["waiver_required"], false, "{view:#}");
    assert_eq!(items_of(&view), pairs(&[("Voucher", "WAIVE-55")]));
    let s = shipment(&server, id);
    assert_eq!(s["status"], "delivered");
    parse_time(&s["delivered_at"]);
}

#[test]
fn waiver_form_redirects_back_to_the_link() {
    let server = Server::start();
    let prepared = waiver_shipment(&server);
    let url = str_of(&prepared, "download_url");
    let page = server.buyer_html(url);
    assert_eq!(page.status, 200);
    assert!(
        !page.text.contains("WAIVE-55"),
        "content shown before the waiver"
    );

    let r = server.send(
        server
            .anon(Method::POST, &format!("{url}/waiver"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("accept=1"),
    );
    assert_eq!(r.status, 303, "{}", r.text);
    let location = r.header("location");
    assert!(
        url.ends_with(location) || location == url,
        "redirect to {location:?}, expected the link {url}"
    );
    let page = server.buyer_html(url);
    assert_eq!(page.status, 200);
    assert!(page.text.contains("WAIVE-55"), "{}", page.text);
    assert_eq!(
        shipment(&server, str_of(&prepared, "id"))["status"],
        "delivered"
    );
}

#[test]
fn bulk_prepare_names_at_most_a_thousand_shipments() {
    let server = Server::start();
    let ids: Vec<String> = (0..1001).map(|n| format!("shp_{n}")).collect();
    let (status, body) = server.post("/api/v1/shipments/prepare", json!({ "ids": ids }));
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["code"], "validation_failed");
    let (status, body) = server.post("/api/v1/shipments/prepare", json!({ "ids": &ids[..1000] }));
    assert_eq!(status, 200, "{body}");
    let results = body["results"].as_array().unwrap();
    assert_eq!(results.len(), 1000);
    assert!(results.iter().all(|r| r["error"]["code"] == "not_found"));
}
