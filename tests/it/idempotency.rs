//! Retries are safe: the same order, payment or preparation twice (or at once) counts once.

use std::sync::Arc;
use std::thread;
use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use crate::support::*;

const SETTLE: Duration = Duration::from_millis(1500);
const MAIL_WAIT: Duration = Duration::from_secs(15);
const RACERS: usize = 8;

#[test]
fn same_order_twice_answers_the_same_order() {
    let server = Server::start();
    let sku = personalized(&server);
    let body = order_body(&[&sku, &sku]);
    let first = create_order(&server, &body);
    let (status, second) = server.post("/api/v1/orders", body.clone());
    assert_eq!(status, 200, "{second:#}");
    assert_eq!(second["id"], first["id"]);
    assert_eq!(second["shipments"], first["shipments"]);
    assert_eq!(
        list_all(&server, "").len(),
        2,
        "the retry created shipments"
    );
}

#[test]
fn same_external_id_with_another_body_is_a_conflict() {
    let server = Server::start();
    let sku = personalized(&server);
    let other = personalized(&server);
    let body = order_body(&[&sku]);
    let first = create_order(&server, &body);
    let mut changed = body.clone();
    changed["lines"] = json!([{"sku": other, "quantity": 1}]);
    let r = server.call(Method::POST, "/api/v1/orders", Some(&changed));
    assert_problem(&r, 409, "conflict");
    let stored = get_order(&server, str_of(&first, "id"));
    assert_eq!(stored["lines"], first["lines"]);
    assert_eq!(list_all(&server, "").len(), 1);
}

#[test]
fn the_retry_after_payment_still_answers_the_order() {
    let server = Server::start();
    let sku = personalized(&server);
    let body = order_body(&[&sku]);
    let first = create_order(&server, &body);
    pay(&server, str_of(&first, "id"));
    let (status, again) = server.post("/api/v1/orders", body);
    assert_eq!(status, 200, "{again:#}");
    assert_eq!(again["id"], first["id"]);
    assert_eq!(again["status"], "paid");
}

#[test]
fn concurrent_identical_orders_make_one_order() {
    let server = Arc::new(Server::start());
    let sku = personalized(&server);
    let body = Arc::new(order_body(&[&sku]));
    let answers: Vec<(u16, serde_json::Value)> = (0..RACERS)
        .map(|_| {
            let (server, body) = (Arc::clone(&server), Arc::clone(&body));
            thread::spawn(move || server.post("/api/v1/orders", (*body).clone()))
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|h| h.join().unwrap())
        .collect();
    let created = answers.iter().filter(|(s, _)| *s == 201).count();
    assert_eq!(created, 1, "{answers:#?}");
    assert!(
        answers.iter().all(|(s, _)| *s == 200 || *s == 201),
        "{answers:#?}"
    );
    let id = &answers[0].1["id"];
    assert!(answers.iter().all(|(_, o)| &o["id"] == id), "{answers:#?}");
    assert_eq!(list_all(&server, "").len(), 1);
}

#[test]
fn paying_twice_creates_one_shipment_and_one_message() {
    let sink = SmtpSink::start();
    let server = Server::start_with(ServerOpts {
        smtp_url: Some(sink.url()),
        ..ServerOpts::default()
    });
    let sku = standard(&server, &[("Code", "ONCE-1")]);
    let order = order(&server, &[&sku]);
    let id = str_of(&order, "id");
    let path = format!("/api/v1/orders/{id}/payment");
    let (status, first) = server.post(&path, json!({"reference": "PAY-1"}));
    assert_eq!(status, 200, "{first:#}");
    let (status, second) = server.post(&path, json!({"reference": "PAY-1"}));
    assert_eq!(status, 200, "{second:#}");
    assert_eq!(second["id"], first["id"]);
    assert_eq!(second["payment"], first["payment"]);
    assert_eq!(second["shipments"], first["shipments"]);
    let shipments = list_all(&server, &format!("order_id={}", percent_encode(id)));
    assert_eq!(shipments.len(), 1, "{shipments:#?}");
    assert_eq!(shipments[0]["status"], "prepared");
    sink.wait_for(1, MAIL_WAIT);
    sink.assert_count_stays(1, SETTLE);
}

#[test]
fn paying_twice_keeps_one_personalized_shipment_in_preparation() {
    let server = Server::start();
    let sku = personalized(&server);
    let order = order(&server, &[&sku]);
    let id = str_of(&order, "id");
    let path = format!("/api/v1/orders/{id}/payment");
    for _ in 0..2 {
        let (status, paid) = server.post(&path, json!({"reference": "PAY-9"}));
        assert_eq!(status, 200, "{paid:#}");
    }
    let shipments = list_all(&server, &format!("order_id={}", percent_encode(id)));
    assert_eq!(shipments.len(), 1, "{shipments:#?}");
    assert_eq!(shipments[0]["status"], "in_preparation");
}

#[test]
fn concurrent_payments_notify_once() {
    let sink = SmtpSink::start();
    let server = Arc::new(Server::start_with(ServerOpts {
        smtp_url: Some(sink.url()),
        ..ServerOpts::default()
    }));
    let sku = standard(&server, &[("Code", "RACE-1")]);
    let order = order(&server, &[&sku]);
    let path = Arc::new(format!("/api/v1/orders/{}/payment", str_of(&order, "id")));
    let statuses: Vec<u16> = (0..RACERS)
        .map(|_| {
            let (server, path) = (Arc::clone(&server), Arc::clone(&path));
            thread::spawn(move || server.post(&path, json!({"reference": "PAY-R"})).0)
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|h| h.join().unwrap())
        .collect();
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    assert_eq!(list_all(&server, "").len(), 1);
    sink.wait_for(1, MAIL_WAIT);
    sink.assert_count_stays(1, SETTLE);
}

#[test]
fn concurrent_prepares_prepare_once() {
    let sink = SmtpSink::start();
    let server = Arc::new(Server::start_with(ServerOpts {
        smtp_url: Some(sink.url()),
        ..ServerOpts::default()
    }));
    let id = shipment_in_preparation(&server);
    add_item(&server, &id, "Key", "RACE-2");
    let path = Arc::new(format!("/api/v1/shipments/{id}/prepare"));
    let answers: Vec<Resp> = (0..RACERS)
        .map(|_| {
            let (server, path) = (Arc::clone(&server), Arc::clone(&path));
            thread::spawn(move || server.call(Method::POST, &path, Some(&json!({}))))
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|h| h.join().unwrap())
        .collect();
    let ok: Vec<&Resp> = answers.iter().filter(|r| r.status == 200).collect();
    assert_eq!(ok.len(), 1, "{answers:#?}");
    for r in answers.iter().filter(|r| r.status != 200) {
        assert_problem(r, 409, "already_prepared");
    }
    let s = shipment(&server, &id);
    assert_eq!(s["download_url"], ok[0].json()["download_url"]);
    sink.wait_for(1, MAIL_WAIT);
    sink.assert_count_stays(1, SETTLE);
}
