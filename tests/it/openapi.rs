//! The published OpenAPI document: public, OpenAPI 3, and it lists what the server really serves.

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::*;

fn document(server: &Server) -> Value {
    let r = server.send(server.anon(Method::GET, "/api/v1/openapi.json"));
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.content_type().starts_with("application/json"), "{r:?}");
    r.json()
}

#[test]
fn document_is_public_openapi_3() {
    let server = Server::start();
    let doc = document(&server);
    assert!(
        doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")),
        "{:#}",
        doc["openapi"]
    );
    assert!(doc["info"]["title"].is_string());
    assert!(doc["info"]["version"].is_string());
}

#[test]
fn document_lists_the_contract() {
    let server = Server::start();
    let doc = document(&server);
    let paths = doc["paths"].as_object().expect("paths object");
    let expected = [
        ("/api/v1/products/{sku}", "put"),
        ("/api/v1/products/{sku}", "get"),
        ("/api/v1/orders", "post"),
        ("/api/v1/orders/{id}", "get"),
        ("/api/v1/orders/{id}/payment", "post"),
        ("/api/v1/shipments", "get"),
        ("/api/v1/shipments/{id}", "get"),
        ("/api/v1/shipments/{id}/items", "post"),
        ("/api/v1/shipments/{id}/items/{item_id}", "delete"),
        ("/api/v1/shipments/{id}/prepare", "post"),
        ("/api/v1/shipments/prepare", "post"),
        ("/api/v1/shipments/{id}/resend", "post"),
        ("/api/v1/shipments/{id}/revoke", "post"),
        ("/api/v1/shipments/{id}/cancel", "post"),
    ];
    let mut missing = Vec::new();
    for (path, method) in expected {
        if paths.get(path).is_none_or(|p| p.get(method).is_none()) {
            missing.push(format!("{} {path}", method.to_uppercase()));
        }
    }
    assert!(
        missing.is_empty(),
        "missing from the document: {missing:?}\nlisted: {:?}",
        paths.keys().collect::<Vec<_>>()
    );
}

/// Every operation the document lists is routed, and its errors are problem documents.
#[test]
fn every_listed_operation_is_served() {
    let server = Server::start();
    let doc = document(&server);
    let paths = doc["paths"].as_object().expect("paths object");
    let mut checked = 0;
    for (path, ops) in paths {
        if !path.starts_with("/api/v1/") || path.ends_with("openapi.json") {
            continue;
        }
        let concrete: String = path
            .split('/')
            .map(|seg| {
                if seg.starts_with('{') {
                    "no-such-id"
                } else {
                    seg
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        for (method, _) in ops.as_object().expect("path item object") {
            let Ok(method) = method.to_uppercase().parse::<Method>() else {
                continue;
            };
            if !["GET", "POST", "PUT", "DELETE", "PATCH"].contains(&method.as_str()) {
                continue;
            }
            let body = (method != Method::GET && method != Method::DELETE).then(|| json!({}));
            let r = server.call(method.clone(), &concrete, body.as_ref());
            assert!(
                r.status != 404 || r.json()["code"] == "not_found",
                "{method} {concrete}: router 404: {}",
                r.text
            );
            assert_ne!(
                r.status, 405,
                "{method} {concrete} is listed but not routed"
            );
            assert!(
                r.status < 500,
                "{method} {concrete}: {} {}",
                r.status,
                r.text
            );
            if r.status >= 400 {
                assert!(
                    r.content_type().starts_with("application/problem+json"),
                    "{method} {concrete}: {} {:?} {}",
                    r.status,
                    r.content_type(),
                    r.text
                );
                assert_no_leaks(&r.text);
            }
            checked += 1;
        }
    }
    assert!(checked >= 14, "only {checked} operations listed");
}
