//! Store tests: staging, group commit isolation, schema version, locking, status index.

use time::OffsetDateTime;

use super::*;
use crate::domain::{Buyer, Order, OrderLine, Product, ProductKind, ProductTerms, ShipmentStatus};

fn now() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap()
}

fn product(sku: &str) -> Product {
    Product {
        sku: sku.into(),
        name: "Thing".into(),
        kind: ProductKind::Personalized,
        files: Vec::new(),
        items: Vec::new(),
        plugin: None,
        auto_prepare: false,
        terms: ProductTerms {
            download_limit: None,
            link_ttl_hours: 1,
            requires_withdrawal_waiver: false,
        },
        created_at: now(),
        updated_at: now(),
    }
}

#[derive(Debug, thiserror::Error)]
enum TestError {
    #[error("refused")]
    Refused,
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn open() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("db.redb")).unwrap();
    (dir, store)
}

#[tokio::test]
async fn a_refused_operation_leaves_nothing_even_in_a_shared_batch() {
    let (_dir, store) = open();
    let mut tasks = Vec::new();
    for i in 0..200 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .write(move |tx| {
                    tx.put_product(&product(&format!("p{i}")));
                    if i % 2 == 1 {
                        return Err(TestError::Refused);
                    }
                    Ok(())
                })
                .await
        }));
    }
    for (i, task) in tasks.into_iter().enumerate() {
        let result = task.await.unwrap();
        assert_eq!(result.is_ok(), i % 2 == 0, "operation {i}");
    }
    let reader = store.read().unwrap();
    for i in 0..200 {
        assert_eq!(
            reader.product(&format!("p{i}")).unwrap().is_some(),
            i % 2 == 0,
            "p{i}"
        );
    }
}

#[tokio::test]
async fn an_operation_reads_its_own_staged_writes_and_earlier_ones() {
    let (_dir, store) = open();
    let seqs: Vec<u64> = {
        let mut tasks = Vec::new();
        for _ in 0..50 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                store
                    .write(|tx| {
                        let msg = OutboxMessage {
                            shipment_id: "s".into(),
                            to_email: "a@b.cd".into(),
                            to_name: String::new(),
                            subject: "s".into(),
                            text_body: "t".into(),
                            html_body: "h".into(),
                            attempts: 0,
                            last_error: None,
                            created_at: now(),
                            next_attempt_at: now(),
                        };
                        let a = tx.enqueue(&msg)?;
                        let b = tx.enqueue(&msg)?;
                        assert_eq!(b, a + 1);
                        Ok::<_, StoreError>(a)
                    })
                    .await
                    .unwrap()
            }));
        }
        let mut seqs = Vec::new();
        for t in tasks {
            seqs.push(t.await.unwrap());
        }
        seqs
    };
    let mut sorted = seqs.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(
        sorted.len(),
        50,
        "sequence numbers are unique across a batch"
    );
    assert_eq!(store.read().unwrap().outbox(1000).unwrap().len(), 100);
}

#[test]
fn status_index_follows_the_shipment_and_lists_newest_first() {
    let (_dir, store) = open();
    let lines = vec![OrderLine {
        sku: "p".into(),
        quantity: 1,
        options_json: "{}".into(),
        product: product("p"),
    }];
    let mut ids = Vec::new();
    for n in 0..5 {
        let (order, shipments) = Order::place(
            format!("ord_{n}"),
            format!("ext{n}"),
            Buyer {
                email: "a@b.cd".into(),
                name: String::new(),
            },
            lines.clone(),
            "fp".into(),
            now(),
            || format!("shp_{n}"),
        );
        ids.push(shipments[0].data().id.clone());
        store
            .write_blocking(move |tx| {
                tx.put_order(&order);
                let mut s = shipments.into_iter().next().unwrap();
                tx.put_shipment(&s)?;
                if n % 2 == 0 {
                    s.start_preparation(now()).unwrap();
                    tx.put_shipment(&s)?;
                }
                Ok::<_, StoreError>(())
            })
            .unwrap();
    }
    let r = store.read().unwrap();
    let listed = |status, after: Option<&str>, limit| -> Vec<String> {
        r.shipments(status, after, true, limit)
            .unwrap()
            .into_iter()
            .map(|s| s.data().id.clone())
            .collect()
    };
    assert_eq!(
        listed(Some(ShipmentStatus::InPreparation), None, 10),
        ["shp_4", "shp_2", "shp_0"]
    );
    assert_eq!(
        listed(Some(ShipmentStatus::AwaitingPayment), None, 10),
        ["shp_3", "shp_1"]
    );
    assert_eq!(listed(None, None, 2), ["shp_4", "shp_3"]);
    assert_eq!(listed(None, Some("shp_3"), 2), ["shp_2", "shp_1"]);
    assert_eq!(
        listed(Some(ShipmentStatus::InPreparation), Some("shp_2"), 10),
        ["shp_0"]
    );
    assert_eq!(
        r.order_id_by_external("ext3").unwrap().as_deref(),
        Some("ord_3")
    );
}

#[test]
fn data_survives_reopen_and_a_second_process_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.redb");
    {
        let store = Store::open(&path).unwrap();
        store
            .write_blocking(|tx| {
                tx.put_product(&product("kept"));
                Ok::<_, StoreError>(())
            })
            .unwrap();
        assert!(matches!(Store::open(&path), Err(StoreError::Locked)));
    }
    let store = Store::open(&path).unwrap();
    assert!(store.read().unwrap().product("kept").unwrap().is_some());
}

#[test]
fn another_schema_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.redb");
    {
        let db = redb::Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut meta = txn.open_table(tables::Table::Meta.def()).unwrap();
            meta.insert(&b"schema_version"[..], &99u32.to_be_bytes()[..])
                .unwrap();
        }
        txn.commit().unwrap();
    }
    match Store::open(&path) {
        Err(StoreError::SchemaMismatch {
            found: 99,
            expected,
        }) => {
            assert_eq!(expected, SCHEMA_VERSION)
        }
        other => panic!("expected a schema mismatch, got {:?}", other.err()),
    }
}

#[test]
fn ended_sessions_are_listed_for_sweeping() {
    let (_dir, store) = open();
    let at = |secs: i64| now() + time::Duration::seconds(secs);
    store
        .write_blocking(move |tx| {
            for (hash, ends) in [("a", -10), ("b", 0), ("c", 10)] {
                tx.put_session(
                    hash,
                    &SessionRecord {
                        key_name: "admin".into(),
                        csrf_token: "t".into(),
                        created_at: at(-100),
                        expires_at: at(ends),
                    },
                );
            }
            Ok::<_, StoreError>(())
        })
        .unwrap();
    let r = store.read().unwrap();
    assert_eq!(r.expired_sessions(at(0), 10).unwrap(), ["a", "b"]);
    assert_eq!(r.expired_sessions(at(0), 1).unwrap(), ["a"]);
    assert!(r.expired_sessions(at(-20), 10).unwrap().is_empty());
}
