//! What a shop does through the API, as one-line helpers that assert the happy answer.

use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::server::Server;

static NEXT: AtomicU64 = AtomicU64::new(1);

/// A name no other call in this test process returns (external ids, skus, e-mails).
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// A buyer with an address no other order in this test process uses.
pub fn buyer() -> Value {
    let who = unique("buyer");
    json!({"email": format!("{who}@example.com"), "name": "Ala Kowalska"})
}

pub fn parse_time(v: &Value) -> OffsetDateTime {
    let s = v
        .as_str()
        .unwrap_or_else(|| panic!("expected an RFC 3339 time, got {v}"));
    OffsetDateTime::parse(s, &Rfc3339).unwrap_or_else(|e| panic!("bad RFC 3339 time {s:?}: {e}"))
}

pub fn str_of<'a>(v: &'a Value, field: &str) -> &'a str {
    v[field]
        .as_str()
        .unwrap_or_else(|| panic!("expected a string field {field:?} in {v:#}"))
}

fn expect(what: &str, status: u16, body: Value, want: &[u16]) -> Value {
    assert!(
        want.contains(&status),
        "{what}: expected HTTP {want:?}, got {status}: {body:#}"
    );
    body
}

/// PUT a product; `fields` is the request body.
pub fn put_product(server: &Server, sku: &str, fields: Value) -> Value {
    let (status, body) = server.put(&format!("/api/v1/products/{sku}"), fields);
    expect(&format!("PUT product {sku}"), status, body, &[200, 201])
}

/// A personalized product without plugin (prepared by hand), merged with `extra` fields.
pub fn personalized_with(server: &Server, extra: Value) -> String {
    let sku = unique("perso");
    let mut body = json!({"name": "Hand-made translation", "kind": "personalized"});
    merge(&mut body, extra);
    put_product(server, &sku, body);
    sku
}

pub fn personalized(server: &Server) -> String {
    personalized_with(server, json!({}))
}

/// A standard product whose shipments carry these static text items.
pub fn standard(server: &Server, items: &[(&str, &str)]) -> String {
    let sku = unique("std");
    let items: Vec<Value> = items
        .iter()
        .map(|(label, value)| json!({"label": label, "value": value}))
        .collect();
    put_product(
        server,
        &sku,
        json!({"name": "Ebook", "kind": "standard", "items": items}),
    );
    sku
}

fn merge(into: &mut Value, extra: Value) {
    if let (Some(into), Value::Object(extra)) = (into.as_object_mut(), extra) {
        into.extend(extra);
    }
}

/// The JSON body of an order with one line per sku (quantity 1).
pub fn order_body(skus: &[&str]) -> Value {
    let lines: Vec<Value> = skus
        .iter()
        .map(|sku| json!({"sku": sku, "quantity": 1}))
        .collect();
    json!({"external_id": unique("shop"), "buyer": buyer(), "lines": lines})
}

/// POST an order (201) and return it.
pub fn create_order(server: &Server, body: &Value) -> Value {
    let (status, order) = server.post("/api/v1/orders", body.clone());
    expect("POST order", status, order, &[201])
}

pub fn order(server: &Server, skus: &[&str]) -> Value {
    create_order(server, &order_body(skus))
}

/// Records a payment with a fresh reference and returns the order.
pub fn pay(server: &Server, order_id: &str) -> Value {
    let (status, order) = server.post(
        &format!("/api/v1/orders/{order_id}/payment"),
        json!({"reference": unique("PAY")}),
    );
    expect("POST payment", status, order, &[200])
}

pub fn get_order(server: &Server, id: &str) -> Value {
    let (status, order) = server.get(&format!("/api/v1/orders/{id}"));
    expect("GET order", status, order, &[200])
}

pub fn shipment(server: &Server, id: &str) -> Value {
    let (status, shipment) = server.get(&format!("/api/v1/shipments/{id}"));
    expect("GET shipment", status, shipment, &[200])
}

/// The ids of an order's shipments, in the order the server lists them.
pub fn shipment_ids(order: &Value) -> Vec<String> {
    order["shipments"]
        .as_array()
        .unwrap_or_else(|| panic!("order without a shipments array: {order:#}"))
        .iter()
        .map(|s| str_of(s, "id").to_owned())
        .collect()
}

pub fn add_item(server: &Server, shipment_id: &str, label: &str, value: &str) -> Value {
    let (status, item) = server.post(
        &format!("/api/v1/shipments/{shipment_id}/items"),
        json!({"label": label, "value": value}),
    );
    expect("POST item", status, item, &[201])
}

pub fn prepare(server: &Server, shipment_id: &str) -> Value {
    let (status, shipment) = server.post(
        &format!("/api/v1/shipments/{shipment_id}/prepare"),
        json!({}),
    );
    expect("POST prepare", status, shipment, &[200])
}

/// A paid order of one personalized product: its shipment id, `in_preparation`.
pub fn shipment_in_preparation(server: &Server) -> String {
    let sku = personalized(server);
    let order = order(server, &[&sku]);
    let id = shipment_ids(&order).remove(0);
    pay(server, str_of(&order, "id"));
    id
}

/// A personalized shipment with these items, prepared; returns the prepared shipment.
pub fn prepared_shipment(server: &Server, items: &[(&str, &str)]) -> Value {
    let id = shipment_in_preparation(server);
    for (label, value) in items {
        add_item(server, &id, label, value);
    }
    prepare(server, &id)
}

/// The `items` of a shipment or buyer view as (label, value) pairs.
pub fn items_of(v: &Value) -> Vec<(String, String)> {
    v["items"]
        .as_array()
        .unwrap_or_else(|| panic!("expected an items array in {v:#}"))
        .iter()
        .map(|i| (str_of(i, "label").to_owned(), str_of(i, "value").to_owned()))
        .collect()
}

pub fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(l, v)| (l.to_string(), v.to_string()))
        .collect()
}

/// All shipments the list endpoint returns for this query, following cursors.
pub fn list_all(server: &Server, query: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..1000 {
        let mut path = format!("/api/v1/shipments?{query}");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={}", percent_encode(c)));
        }
        let (status, page) = server.get(&path);
        let page = expect("GET shipments", status, page, &[200]);
        out.extend(page["shipments"].as_array().cloned().unwrap_or_default());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return out,
        }
    }
    panic!("shipment list did not end after 1000 pages");
}

/// Percent-encodes everything but RFC 3986 unreserved characters (for query values).
pub fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The token part of a download URL (`.../d/<token>`).
pub fn token_of(download_url: &str) -> &str {
    download_url
        .rsplit_once("/d/")
        .unwrap_or_else(|| panic!("download_url without /d/: {download_url}"))
        .1
}
