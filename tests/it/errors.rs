//! Every error code the API can give today: status, problem+json shape, and nothing written.

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::*;

/// The ids of all shipments, newest first: a cheap fingerprint of what orders exist.
fn shipment_fingerprint(server: &Server) -> Vec<String> {
    list_all(server, "limit=500")
        .iter()
        .map(|s| str_of(s, "id").to_owned())
        .collect()
}

/// Posts an order that must be refused, then proves nothing was stored under its external id.
fn assert_order_refused(server: &Server, body: &Value, status: u16, code: &str) {
    let before = shipment_fingerprint(server);
    let r = server.call(Method::POST, "/api/v1/orders", Some(body));
    assert_problem(&r, status, code);
    assert_eq!(
        shipment_fingerprint(server),
        before,
        "a refused order left shipments"
    );
    if let Some(external_id) = body["external_id"].as_str() {
        let sku = personalized(server);
        let valid = json!({"external_id": external_id, "buyer": buyer(),
                           "lines": [{"sku": sku, "quantity": 1}]});
        let (status, order) = server.post("/api/v1/orders", valid);
        assert_eq!(
            status, 201,
            "a refused order left its external id behind: {order:#}"
        );
    }
}

fn valid_order(server: &Server) -> Value {
    order_body(&[&personalized(server)])
}

#[test]
fn unauthorized_without_a_key() {
    let server = Server::start();
    let r = server.send(server.anon(Method::GET, "/api/v1/shipments"));
    assert_problem(&r, 401, "unauthorized");

    let body = valid_order(&server);
    let r = server.send(server.anon(Method::POST, "/api/v1/orders").json(&body));
    assert_problem(&r, 401, "unauthorized");
    assert!(
        shipment_fingerprint(&server).is_empty(),
        "order written without auth"
    );
}

#[test]
fn unauthorized_with_a_wrong_or_malformed_header() {
    let server = Server::start();
    let key = server.key().to_owned();
    let headers = [
        format!("Bearer {key}x"),
        "Bearer wrong".to_owned(),
        "Bearer".to_owned(),
        "Bearer ".to_owned(),
        format!("Basic {key}"),
        key.clone(),
        format!("bearer{key}"),
        format!("Bearer {key} {key}"),
        "Bearer \u{e9}".to_owned(),
    ];
    for header in headers {
        let r = server.send(
            server
                .anon(Method::GET, "/api/v1/shipments")
                .header("authorization", header.as_bytes()),
        );
        assert_problem(&r, 401, "unauthorized");
        assert!(!r.text.contains(&key), "the 401 reveals the key");
    }
}

#[test]
fn unauthorized_everywhere_before_anything_else() {
    let server = Server::start();
    let checks = [
        (Method::GET, "/api/v1/orders/nope"),
        (Method::POST, "/api/v1/orders"),
        (Method::POST, "/api/v1/orders/nope/payment"),
        (Method::PUT, "/api/v1/products/nope"),
        (Method::GET, "/api/v1/products/nope"),
        (Method::GET, "/api/v1/shipments"),
        (Method::GET, "/api/v1/shipments/nope"),
        (Method::POST, "/api/v1/shipments/nope/items"),
        (Method::DELETE, "/api/v1/shipments/nope/items/nope"),
        (Method::POST, "/api/v1/shipments/nope/prepare"),
        (Method::POST, "/api/v1/shipments/prepare"),
        (Method::POST, "/api/v1/shipments/nope/resend"),
        (Method::POST, "/api/v1/shipments/nope/revoke"),
        (Method::POST, "/api/v1/shipments/nope/cancel"),
    ];
    for (method, path) in checks {
        let r = server.send(
            server
                .anon(method.clone(), path)
                .bearer_auth("not-a-key")
                .json(&json!({"bogus": true})),
        );
        assert_eq!(r.status, 401, "{method} {path}: {}", r.text);
        assert_problem(&r, 401, "unauthorized");
    }
}

#[test]
fn not_found_for_unknown_ids() {
    let server = Server::start();
    let id = shipment_in_preparation(&server);
    let item = json!({"label": "Key", "value": "V"});
    let none = "/api/v1/shipments/no-such-shipment";
    let checks = [
        (Method::GET, "/api/v1/orders/no-such-order".to_owned(), None),
        (
            Method::POST,
            "/api/v1/orders/no-such-order/payment".to_owned(),
            Some(json!({"reference": "PAY-1"})),
        ),
        (Method::GET, "/api/v1/products/no-such-sku".to_owned(), None),
        (Method::GET, none.to_owned(), None),
        (Method::POST, format!("{none}/items"), Some(item)),
        (Method::POST, format!("{none}/prepare"), Some(json!({}))),
        (Method::POST, format!("{none}/resend"), Some(json!({}))),
        (Method::POST, format!("{none}/revoke"), Some(json!({}))),
        (Method::POST, format!("{none}/cancel"), Some(json!({}))),
        (Method::DELETE, format!("{none}/items/no-such-item"), None),
        (
            Method::DELETE,
            format!("/api/v1/shipments/{id}/items/no-such-item"),
            None,
        ),
    ];
    for (method, path, body) in checks {
        let r = server.call(method.clone(), &path, body.as_ref());
        assert_eq!(r.status, 404, "{method} {path}: {}", r.text);
        assert_problem(&r, 404, "not_found");
    }
    assert_eq!(shipment(&server, &id)["status"], "in_preparation");
}

#[test]
fn not_found_for_unknown_api_routes() {
    let server = Server::start();
    let r = server.call(Method::GET, "/api/v1/no-such-thing", None);
    assert_problem(&r, 404, "not_found");
}

#[test]
fn malformed_json_is_400() {
    let server = Server::start();
    let before = shipment_fingerprint(&server);
    for raw in [
        "{",
        "{\"external_id\": }",
        "not json",
        "[1, 2",
        "{\"external_id\": \"x\",}",
    ] {
        let r = server.send(
            server
                .request(Method::POST, "/api/v1/orders")
                .header("content-type", "application/json")
                .body(raw),
        );
        assert_problem(&r, 400, "validation_failed");
    }
    let r = server.send(
        server
            .request(Method::PUT, "/api/v1/products/broken")
            .header("content-type", "application/json")
            .body("{\"name\": \"x\","),
    );
    assert_problem(&r, 400, "validation_failed");
    assert_eq!(shipment_fingerprint(&server), before);
    let (status, _) = server.get("/api/v1/products/broken");
    assert_eq!(status, 404);
}

#[test]
fn invalid_orders_are_422_and_write_nothing() {
    let server = Server::start();
    let sku = personalized(&server);
    let line = json!({"sku": sku, "quantity": 1});
    let many_lines: Vec<Value> = (0..101).map(|_| line.clone()).collect();
    let bodies = [
        // wrong types
        json!({"external_id": 5, "buyer": buyer(), "lines": [line]}),
        json!({"external_id": unique("e"), "buyer": "ala", "lines": [line]}),
        json!({"external_id": unique("e"), "buyer": buyer(), "lines": {"sku": sku}}),
        json!({"external_id": unique("e"), "buyer": buyer(),
               "lines": [{"sku": sku, "quantity": "1"}]}),
        // unknown fields
        json!({"external_id": unique("e"), "buyer": buyer(), "lines": [line], "coupon": "X"}),
        json!({"external_id": unique("e"), "buyer": {"email": "a@example.com", "age": 3},
               "lines": [line]}),
        json!({"external_id": unique("e"), "buyer": buyer(),
               "lines": [{"sku": sku, "quantity": 1, "price": 9}]}),
        // missing fields
        json!({"external_id": unique("e"), "lines": [line]}),
        json!({"external_id": unique("e"), "buyer": buyer()}),
        // invalid e-mail addresses
        json!({"external_id": unique("e"), "buyer": {"email": "not-an-address", "name": "A"},
               "lines": [line]}),
        json!({"external_id": unique("e"), "buyer": {"email": "", "name": "A"},
               "lines": [line]}),
        json!({"external_id": unique("e"), "buyer": {"email": "a@b@example.com", "name": "A"},
               "lines": [line]}),
        json!({"external_id": unique("e"),
               "buyer": {"email": "a@example.com\r\nBcc: x@example.com", "name": "A"},
               "lines": [line]}),
        // quantities and line counts
        json!({"external_id": unique("e"), "buyer": buyer(),
               "lines": [{"sku": sku, "quantity": 0}]}),
        json!({"external_id": unique("e"), "buyer": buyer(),
               "lines": [{"sku": sku, "quantity": 1001}]}),
        json!({"external_id": unique("e"), "buyer": buyer(),
               "lines": [{"sku": sku, "quantity": 1_000_000}]}),
        json!({"external_id": unique("e"), "buyer": buyer(),
               "lines": [{"sku": sku, "quantity": -1}]}),
        json!({"external_id": unique("e"), "buyer": buyer(), "lines": []}),
        json!({"external_id": unique("e"), "buyer": buyer(), "lines": many_lines}),
    ];
    for body in &bodies {
        assert_order_refused(&server, body, 422, "validation_failed");
    }
}

#[test]
fn order_limits_are_inclusive() {
    let server = Server::start();
    let sku = personalized(&server);
    let hundred: Vec<Value> = (0..100)
        .map(|_| json!({"sku": sku, "quantity": 1}))
        .collect();
    create_order(
        &server,
        &json!({"external_id": unique("e"), "buyer": buyer(), "lines": hundred}),
    );
    create_order(
        &server,
        &json!({"external_id": unique("e"), "buyer": buyer(),
                "lines": [{"sku": sku, "quantity": 1000}]}),
    );
}

#[test]
fn invalid_products_are_422_and_write_nothing() {
    let server = Server::start();
    let bodies = [
        json!({"kind": "personalized"}),
        json!({"name": 5, "kind": "personalized"}),
        json!({"name": "X", "kind": "physical"}),
        json!({"name": "X", "kind": "personalized", "colour": "red"}),
        json!({"name": "X", "kind": "personalized", "download_limit": "five"}),
        json!({"name": "X", "kind": "personalized", "download_limit": -1}),
        json!({"name": "X", "kind": "personalized", "plugin": {"name": "not-installed", "config": {}}}),
        json!({"name": "X", "kind": "standard"}),
        json!({"name": "X", "kind": "standard", "items": []}),
        json!({"name": "X", "kind": "standard", "files": [], "items": []}),
        json!({"name": "X", "kind": "standard", "items": [{"label": "A", "value": "B"}],
               "files": ["0000000000000000000000000000000000000000000000000000000000000000"]}),
        json!({"name": "X", "kind": "standard", "items": [{"label": "A"}]}),
    ];
    for body in &bodies {
        let r = server.call(Method::PUT, "/api/v1/products/refused", Some(body));
        assert_problem(&r, 422, "validation_failed");
        let (status, read) = server.get("/api/v1/products/refused");
        assert_eq!(status, 404, "a refused product was stored: {read:#}");
    }
}

#[test]
fn refused_replace_keeps_the_old_product() {
    let server = Server::start();
    let items = [("Code", "KEEP")];
    let sku = standard(&server, &items);
    let path = format!("/api/v1/products/{sku}");
    let (_, before) = server.get(&path);
    let r = server.call(
        Method::PUT,
        &path,
        Some(&json!({"name": "Broken", "kind": "standard"})),
    );
    assert_problem(&r, 422, "validation_failed");
    let (status, after) = server.get(&path);
    assert_eq!(status, 200);
    assert_eq!(after, before);
}

#[test]
fn invalid_payment_items_and_list_queries_are_422() {
    let server = Server::start();
    let sku = personalized(&server);
    let order = order(&server, &[&sku]);
    let order_id = str_of(&order, "id");
    let id = shipment_ids(&order).remove(0);
    for body in [
        json!({}),
        json!({"reference": 7}),
        json!({"reference": "P", "amount": 3}),
    ] {
        let r = server.call(
            Method::POST,
            &format!("/api/v1/orders/{order_id}/payment"),
            Some(&body),
        );
        assert_problem(&r, 422, "validation_failed");
    }
    assert_eq!(get_order(&server, order_id)["status"], "awaiting_payment");
    assert!(get_order(&server, order_id)["payment"].is_null());

    pay(&server, order_id);
    for body in [
        json!({"label": "Key"}),
        json!({"value": "V"}),
        json!({"label": 1, "value": "V"}),
        json!({"label": "Key", "value": "V", "secret": true}),
    ] {
        let r = server.call(
            Method::POST,
            &format!("/api/v1/shipments/{id}/items"),
            Some(&body),
        );
        assert_problem(&r, 422, "validation_failed");
    }
    assert_eq!(shipment(&server, &id)["items"], json!([]));

    let r = server.call(Method::GET, "/api/v1/shipments?limit=501", None);
    assert_problem(&r, 422, "validation_failed");
    let (status, page) = server.get("/api/v1/shipments?limit=500");
    assert_eq!(status, 200, "{page:#}");
}

fn oversized_order(sku: &str, external_id: &str) -> Value {
    json!({"external_id": external_id,
        "buyer": {"email": "big@example.com", "name": "x".repeat(2 * 1024 * 1024)},
        "lines": [{"sku": sku, "quantity": 1}]})
}

#[test]
fn oversized_body_is_refused_and_writes_nothing() {
    let server = Server::start();
    let sku = personalized(&server);
    let external_id = unique("big");
    let before = shipment_fingerprint(&server);
    // A client of its own, so a connection the server drops cannot disturb the checks after
    // (that is tested on its own below).
    let r = server.send(
        http_client()
            .post(server.url("/api/v1/orders"))
            .bearer_auth(server.key())
            .json(&oversized_order(&sku, &external_id)),
    );
    match r.status {
        413 => assert_problem(&r, 413, "payload_too_large"),
        _ => assert_problem(&r, 422, "validation_failed"),
    }
    assert_eq!(shipment_fingerprint(&server), before);
    let valid = json!({"external_id": external_id, "buyer": buyer(),
                       "lines": [{"sku": sku, "quantity": 1}]});
    let (status, _) = server.post("/api/v1/orders", valid);
    assert_eq!(
        status, 201,
        "the oversized order left its external id behind"
    );
}

/// A server that refuses a body without reading it must say it closes the connection, or a
/// keep-alive client (here reqwest, as a shop would use) fails its next request.
#[test]
fn oversized_body_leaves_the_connection_usable() {
    let server = Server::start();
    let sku = personalized(&server);
    let client = http_client();
    // The failure is a race on a kept-alive connection: try several times.
    for _ in 0..10 {
        let r = server.send(
            client
                .post(server.url("/api/v1/orders"))
                .bearer_auth(server.key())
                .json(&oversized_order(&sku, &unique("big"))),
        );
        assert!(r.status == 413 || r.status == 422, "{}", r.text);
        let next = client
            .get(server.url("/api/v1/shipments"))
            .bearer_auth(server.key())
            .send();
        assert!(
            next.is_ok(),
            "the request after the refused body failed ({}); the {} answer's headers: {:?}",
            next.as_ref()
                .err()
                .map(ToString::to_string)
                .unwrap_or_default(),
            r.status,
            r.headers
        );
    }
}

#[test]
fn unknown_sku_refuses_the_whole_order() {
    let server = Server::start();
    let sku = personalized(&server);
    let body = json!({"external_id": unique("e"), "buyer": buyer(),
        "lines": [{"sku": sku, "quantity": 1}, {"sku": "no-such-sku", "quantity": 1}]});
    assert_order_refused(&server, &body, 422, "unknown_sku");
}

#[test]
fn conflicts_are_409() {
    let server = Server::start();
    let body = valid_order(&server);
    let order = create_order(&server, &body);
    let mut changed = body.clone();
    changed["buyer"]["name"] = json!("Someone Else");
    let r = server.call(Method::POST, "/api/v1/orders", Some(&changed));
    assert_problem(&r, 409, "conflict");
    let order_id = str_of(&order, "id");
    assert_eq!(get_order(&server, order_id)["buyer"], body["buyer"]);

    let (status, _) = server.post(
        &format!("/api/v1/orders/{order_id}/payment"),
        json!({"reference": "PAY-1"}),
    );
    assert_eq!(status, 200);
    let r = server.call(
        Method::POST,
        &format!("/api/v1/orders/{order_id}/payment"),
        Some(&json!({"reference": "PAY-2"})),
    );
    assert_problem(&r, 409, "conflict");
    assert_eq!(
        get_order(&server, order_id)["payment"]["reference"],
        "PAY-1"
    );
}

#[test]
fn state_errors_are_409_and_422() {
    let server = Server::start();
    let sku = personalized(&server);
    let unpaid = shipment_ids(&order(&server, &[&sku])).remove(0);
    let r = server.call(
        Method::POST,
        &format!("/api/v1/shipments/{unpaid}/prepare"),
        Some(&json!({})),
    );
    assert_problem(&r, 409, "invalid_state");

    let empty = shipment_in_preparation(&server);
    let r = server.call(
        Method::POST,
        &format!("/api/v1/shipments/{empty}/prepare"),
        Some(&json!({})),
    );
    assert_problem(&r, 422, "empty_shipment");
    let s = shipment(&server, &empty);
    assert_eq!(s["status"], "in_preparation");
    assert!(s["download_url"].is_null());
    assert_eq!(s["notification"]["status"], "none");

    let done = str_of(&prepared_shipment(&server, &[("K", "V")]), "id").to_owned();
    let r = server.call(
        Method::POST,
        &format!("/api/v1/shipments/{done}/prepare"),
        Some(&json!({})),
    );
    assert_problem(&r, 409, "already_prepared");
}

#[test]
fn bad_tokens_are_403() {
    let server = Server::start();
    let prepared = prepared_shipment(&server, &[("Key", "SECRET-TOKEN-TEST")]);
    let url = str_of(&prepared, "download_url");
    let token = token_of(url);
    let mut flipped: Vec<char> = token.chars().collect();
    let at = token.len() / 2;
    flipped[at] = if flipped[at] == 'A' { 'B' } else { 'A' };
    let flipped: String = flipped.into_iter().collect();
    let bad = [
        "garbage".to_owned(),
        "v4.public.".to_owned(),
        flipped,
        token[..token.len() - 4].to_owned(),
        token.replacen("v4.public.", "v4.local.", 1),
        token.replacen("v4.public.", "v3.public.", 1),
        format!("{token}x"),
    ];
    for t in &bad {
        let link = format!("{}/d/{t}", server.base());
        let r = server.buyer_json(&link);
        assert_problem(&r, 403, "token_invalid");
        assert!(!r.text.contains("SECRET-TOKEN-TEST"));
        let page = server.buyer_html(&link);
        assert_eq!(page.status, 403, "{t}: {}", page.text);
        assert!(page.content_type().starts_with("text/html"), "{page:?}");
        assert!(!page.text.contains("SECRET-TOKEN-TEST"));
        assert_no_leaks(&page.text);
    }
    assert_eq!(
        shipment(&server, str_of(&prepared, "id"))["status"],
        "prepared"
    );
}

#[test]
fn revoked_token_is_410() {
    let server = Server::start();
    let prepared = prepared_shipment(&server, &[("Key", "K")]);
    let id = str_of(&prepared, "id");
    let (status, _) = server.post(&format!("/api/v1/shipments/{id}/revoke"), json!({}));
    assert_eq!(status, 200);
    let r = server.buyer_json(str_of(&prepared, "download_url"));
    assert_problem(&r, 410, "token_revoked");
}
