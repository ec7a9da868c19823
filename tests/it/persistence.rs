//! Durability: a graceful restart keeps everything; `kill -9` mid-write loses no answered write.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use reqwest::blocking::Client;
use serde_json::{Value, json};

use crate::support::*;

const CRASH_ROUNDS: u64 = 5;

/// Everything a shop could read back, minus the mail worker's progress.
fn snapshot(server: &Server, order_id: &str) -> Value {
    let order = get_order(server, order_id);
    let shipments: Vec<Value> = shipment_ids(&order)
        .iter()
        .map(|id| {
            let mut s = shipment(server, id);
            if let Some(o) = s.as_object_mut() {
                o.remove("notification");
            }
            s
        })
        .collect();
    json!({"order": order, "shipments": shipments})
}

#[test]
fn graceful_restart_keeps_everything() {
    let mut server = Server::start();
    let perso = personalized(&server);
    let std_sku = standard(&server, &[("Code", "KEEP-STD")]);
    let order = order(&server, &[&perso, &perso, &std_sku]);
    let order_id = str_of(&order, "id").to_owned();
    pay(&server, &order_id);
    let mut in_prep: Vec<String> = list_all(&server, "status=in_preparation")
        .iter()
        .map(|s| str_of(s, "id").to_owned())
        .collect();
    assert_eq!(in_prep.len(), 2);
    let prepared_id = in_prep.pop().unwrap();
    let drafted_id = in_prep.pop().unwrap();
    add_item(&server, &drafted_id, "Draft", "KEEP-DRAFT");
    add_item(&server, &prepared_id, "Key", "KEEP-PREP");
    let prepared = prepare(&server, &prepared_id);
    let unpaid = order_body(&[&perso]);
    let unpaid = create_order(&server, &unpaid);

    let before = snapshot(&server, &order_id);
    let unpaid_before = snapshot(&server, str_of(&unpaid, "id"));
    let list_before = list_all(&server, "limit=2");
    let (_, product_before) = server.get(&format!("/api/v1/products/{std_sku}"));
    let key = server.key().to_owned();

    server.restart();
    assert!(
        server.printed_key().is_none(),
        "a restart printed a new admin key"
    );
    assert_eq!(server.key(), key);
    assert_eq!(snapshot(&server, &order_id), before);
    assert_eq!(snapshot(&server, str_of(&unpaid, "id")), unpaid_before);
    assert_eq!(list_all(&server, "limit=2"), list_before);
    let (status, product_after) = server.get(&format!("/api/v1/products/{std_sku}"));
    assert_eq!(status, 200);
    assert_eq!(product_after, product_before);
    let view = server.buyer_json(str_of(&prepared, "download_url"));
    assert_eq!(view.status, 200, "{}", view.text);
    assert_eq!(items_of(&view.json()), pairs(&[("Key", "KEEP-PREP")]));

    // The work goes on where it stopped.
    assert_eq!(
        items_of(&prepare(&server, &drafted_id)),
        pairs(&[("Draft", "KEEP-DRAFT")])
    );
    assert_eq!(list_all(&server, "status=in_preparation").len(), 0);
}

/// What the API confirmed before the crash.
#[derive(Debug, Default, Clone)]
struct Confirmed {
    /// Shipment id → items the API confirmed (201) on it.
    items: BTreeMap<String, Vec<(String, String)>>,
    /// Shipment id → the item whose POST got no answer (it may or may not have landed).
    unanswered_item: BTreeMap<String, (String, String)>,
    /// Shipment id → download_url the API answered "prepared" with.
    prepared: BTreeMap<String, String>,
    /// Order id → its shipment ids, as answered at creation.
    orders: BTreeMap<String, Vec<String>>,
}

/// POSTs as the shop; `None` when the server went away, a panic when it refused the write.
fn post(client: &Client, server_base: &str, key: &str, path: &str, body: Value) -> Option<Value> {
    let resp = client
        .post(format!("{server_base}{path}"))
        .bearer_auth(key)
        .json(&body)
        .send()
        .ok()?;
    let status = resp.status().as_u16();
    let text = resp.text().ok()?;
    assert!(status < 300, "POST {path} refused: {status} {text}");
    serde_json::from_str(&text).ok()
}

/// Creates, pays, fills and prepares shipments until the server goes away.
fn shop_until_crash(
    base: String,
    key: String,
    sku: String,
    round: u64,
    confirmed: Arc<Mutex<Confirmed>>,
    started: Arc<AtomicBool>,
) {
    let client = Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    for n in 0.. {
        let body = json!({"external_id": format!("crash-{round}-{n}"), "buyer": buyer(),
                          "lines": [{"sku": sku, "quantity": 1}]});
        let Some(order) = post(&client, &base, &key, "/api/v1/orders", body) else {
            return;
        };
        let order_id = str_of(&order, "id").to_owned();
        let ids = shipment_ids(&order);
        let id = ids[0].clone();
        confirmed
            .lock()
            .unwrap()
            .orders
            .insert(order_id.clone(), ids);
        let pay = json!({"reference": format!("PAY-{round}-{n}")});
        if post(
            &client,
            &base,
            &key,
            &format!("/api/v1/orders/{order_id}/payment"),
            pay,
        )
        .is_none()
        {
            return;
        }
        for k in 0..2 {
            let (label, value) = (format!("Key {k}"), format!("VALUE-{round}-{n}-{k}"));
            let item = json!({"label": label, "value": value});
            confirmed
                .lock()
                .unwrap()
                .unanswered_item
                .insert(id.clone(), (label.clone(), value.clone()));
            if post(
                &client,
                &base,
                &key,
                &format!("/api/v1/shipments/{id}/items"),
                item,
            )
            .is_none()
            {
                return;
            }
            let mut c = confirmed.lock().unwrap();
            c.unanswered_item.remove(&id);
            c.items.entry(id.clone()).or_default().push((label, value));
        }
        let path = format!("/api/v1/shipments/{id}/prepare");
        let Some(prepared) = post(&client, &base, &key, &path, json!({})) else {
            return;
        };
        let url = str_of(&prepared, "download_url").to_owned();
        confirmed.lock().unwrap().prepared.insert(id, url);
        started.store(true, Ordering::SeqCst);
    }
}

fn check_invariants(server: &Server, confirmed: &Confirmed) {
    for (order_id, ids) in &confirmed.orders {
        let order = get_order(server, order_id);
        assert_eq!(&shipment_ids(&order), ids, "order {order_id} changed");
    }
    for (id, items) in &confirmed.items {
        let s = shipment(server, id);
        let status = str_of(&s, "status");
        assert!(
            ["in_preparation", "prepared"].contains(&status),
            "shipment {id} is {status}"
        );
        let mut with_unanswered = items.clone();
        with_unanswered.extend(confirmed.unanswered_item.get(id).cloned());
        let found = items_of(&s);
        assert!(
            &found == items || found == with_unanswered,
            "items of {id} after the crash: {found:?}, answered: {items:?}"
        );
        match confirmed.prepared.get(id) {
            Some(url) => {
                assert_eq!(status, "prepared", "answered prepared, now {s:#}");
                assert_eq!(s["download_url"], json!(url));
                parse_time(&s["prepared_at"]);
            }
            None if status == "prepared" => {
                // Prepared just before the crash, unanswered: it must be whole.
                assert!(s["download_url"].is_string() && s["prepared_at"].is_string());
            }
            None => assert!(s["download_url"].is_null(), "{s:#}"),
        }
    }
}

#[test]
fn kill_9_mid_write_loses_nothing_answered() {
    let mut server = Server::start();
    let sku = personalized(&server);
    let mut all = Confirmed::default();
    for round in 0..CRASH_ROUNDS {
        let confirmed = Arc::new(Mutex::new(Confirmed::default()));
        let started = Arc::new(AtomicBool::new(false));
        let shop = {
            let (base, key, sku) = (
                server.base().to_owned(),
                server.key().to_owned(),
                sku.clone(),
            );
            let (confirmed, started) = (Arc::clone(&confirmed), Arc::clone(&started));
            thread::spawn(move || shop_until_crash(base, key, sku, round, confirmed, started))
        };
        // Let at least one shipment be prepared, then a little more, varying per round.
        wait_until(Duration::from_secs(20), "a first prepared shipment", || {
            started.load(Ordering::SeqCst).then_some(())
        });
        thread::sleep(Duration::from_millis(40 + 70 * round));
        server.kill9();
        shop.join().expect("the shop thread panicked");

        server.start_again();
        assert!(server.is_running());
        let (status, _) = server.get("/healthz");
        assert_eq!(status, 200);

        let confirmed = confirmed.lock().unwrap().clone();
        assert!(!confirmed.prepared.is_empty());
        eprintln!(
            "round {round}: {} orders, {} prepared answered before kill -9",
            confirmed.orders.len(),
            confirmed.prepared.len()
        );
        all.orders.extend(confirmed.orders);
        all.items.extend(confirmed.items);
        all.prepared.extend(confirmed.prepared);
        all.unanswered_item.extend(confirmed.unanswered_item);
        check_invariants(&server, &all);
    }
    // The links of every answered preparation still work after all the crashes.
    let (id, url) = all.prepared.iter().next().unwrap();
    let view = server.buyer_json(url);
    assert_eq!(view.status, 200, "{}", view.text);
    assert_eq!(&items_of(&view.json()), &all.items[id]);
    assert!(!server.stderr().contains("panicked"), "{}", server.stderr());
}
