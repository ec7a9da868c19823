//! State machine tests: a table of every (status, action) pair, and random
//! operation sequences that must never un-prepare a shipment or change its content.

use time::OffsetDateTime;

use super::*;

fn t(secs: i64) -> Timestamp {
    OffsetDateTime::from_unix_timestamp(1_700_000_000 + secs).unwrap()
}

fn link(n: u32) -> DownloadLink {
    DownloadLink {
        token_id: format!("tok{n}"),
        token: format!("v4.public.token{n}"),
        expires_at: t(1_000_000),
    }
}

fn shipment_in(status: ShipmentStatus) -> Shipment {
    let mut s = Shipment::from_data(ShipmentData {
        id: "shp_1".into(),
        order_id: "ord_1".into(),
        kind: ProductKind::Personalized,
        status: ShipmentStatus::AwaitingPayment,
        buyer: Buyer {
            email: "ala@example.com".into(),
            name: "Ala".into(),
        },
        line_indexes: vec![0],
        product_skus: vec!["lic".into()],
        terms: ProductTerms {
            download_limit: Some(5),
            link_ttl_hours: 720,
            requires_withdrawal_waiver: false,
        },
        auto_prepare: false,
        files: Vec::new(),
        items: Vec::new(),
        next_item_seq: 1,
        created_at: t(0),
        paid_at: None,
        prepared_at: None,
        delivered_at: None,
        cancelled_at: None,
        revoked_at: None,
        waiver_accepted_at: None,
        token: None,
        notification: Notification::default(),
        downloads: Vec::new(),
        personalization: None,
    });
    use ShipmentStatus::*;
    let path: &[ShipmentStatus] = match status {
        AwaitingPayment => &[],
        InPreparation => &[InPreparation],
        Prepared => &[InPreparation, Prepared],
        Delivered => &[InPreparation, Prepared, Delivered],
        Cancelled => &[Cancelled],
        Revoked => &[InPreparation, Prepared, Revoked],
    };
    for step in path {
        match step {
            InPreparation => s.start_preparation(t(1)).unwrap(),
            Prepared => {
                s.add_item("Key".into(), "ABC".into()).unwrap();
                s.prepare(t(2), link(0)).unwrap();
            }
            Delivered => assert!(s.mark_delivered(t(3)).unwrap()),
            Cancelled => s.cancel(t(1)).unwrap(),
            Revoked => s.revoke(t(4)).unwrap(),
            AwaitingPayment => unreachable!(),
        }
    }
    assert_eq!(s.status(), status);
    s
}

#[derive(Debug, Clone, Copy)]
enum Action {
    Pay,
    AddItem,
    RemoveItem,
    Prepare,
    Cancel,
    Revoke,
    Resend,
    Deliver,
    AcceptWaiver,
}

const ACTIONS: [Action; 9] = [
    Action::Pay,
    Action::AddItem,
    Action::RemoveItem,
    Action::Prepare,
    Action::Cancel,
    Action::Revoke,
    Action::Resend,
    Action::Deliver,
    Action::AcceptWaiver,
];

/// Applies an action; `Ok` with a short outcome name, or the error.
fn apply(s: &mut Shipment, action: Action, n: u32) -> Result<(), ShipmentError> {
    let now = t(10 + i64::from(n));
    match action {
        Action::Pay => s.start_preparation(now),
        Action::AddItem => s.add_item(format!("L{n}"), format!("V{n}")).map(|_| ()),
        Action::RemoveItem => {
            let id = s
                .data()
                .items
                .first()
                .map_or("it-none".to_owned(), |i| i.id.clone());
            s.remove_item(&id)
        }
        Action::Prepare => s.prepare(now, link(n)),
        Action::Cancel => s.cancel(now),
        Action::Revoke => s.revoke(now),
        Action::Resend => s.resend(),
        Action::Deliver => s.mark_delivered(now).map(|_| ()),
        Action::AcceptWaiver => s.accept_waiver(now),
    }
}

#[test]
fn every_status_and_action() {
    use ShipmentStatus::*;
    // Expected outcome per (status, action): the status after it, or the error code.
    let already = Err("already_prepared");
    let invalid = Err("invalid_state");
    let table: &[(ShipmentStatus, Action, Result<ShipmentStatus, &str>)] = &[
        (AwaitingPayment, Action::Pay, Ok(InPreparation)),
        (AwaitingPayment, Action::AddItem, invalid),
        (AwaitingPayment, Action::Prepare, invalid),
        (AwaitingPayment, Action::Cancel, Ok(Cancelled)),
        (AwaitingPayment, Action::Revoke, invalid),
        (AwaitingPayment, Action::Resend, invalid),
        (AwaitingPayment, Action::Deliver, invalid),
        (InPreparation, Action::Pay, invalid),
        (InPreparation, Action::AddItem, Ok(InPreparation)),
        (InPreparation, Action::RemoveItem, Err("item_not_found")),
        (InPreparation, Action::Prepare, Err("empty")),
        (InPreparation, Action::Cancel, Ok(Cancelled)),
        (InPreparation, Action::Revoke, invalid),
        (InPreparation, Action::Resend, invalid),
        (Prepared, Action::Pay, already),
        (Prepared, Action::AddItem, already),
        (Prepared, Action::RemoveItem, already),
        (Prepared, Action::Prepare, already),
        (Prepared, Action::Cancel, already),
        (Prepared, Action::Revoke, Ok(Revoked)),
        (Prepared, Action::Resend, Ok(Prepared)),
        (Prepared, Action::Deliver, Ok(Delivered)),
        (Delivered, Action::AddItem, already),
        (Delivered, Action::Prepare, already),
        (Delivered, Action::Cancel, already),
        (Delivered, Action::Revoke, Ok(Revoked)),
        (Delivered, Action::Deliver, Ok(Delivered)),
        (Cancelled, Action::Pay, invalid),
        (Cancelled, Action::AddItem, invalid),
        (Cancelled, Action::Prepare, invalid),
        (Cancelled, Action::Cancel, invalid),
        (Cancelled, Action::Revoke, invalid),
        (Revoked, Action::AddItem, already),
        (Revoked, Action::Prepare, already),
        (Revoked, Action::Revoke, Ok(Revoked)),
        (Revoked, Action::Resend, invalid),
        (Revoked, Action::Deliver, invalid),
        (Revoked, Action::AcceptWaiver, invalid),
    ];
    for &(status, action, expected) in table {
        let mut s = shipment_in(status);
        let before = s.clone();
        let got = apply(&mut s, action, 1)
            .map(|()| s.status())
            .map_err(|e| match e {
                ShipmentError::AlreadyPrepared => "already_prepared",
                ShipmentError::InvalidState { .. } => "invalid_state",
                ShipmentError::Empty => "empty",
                ShipmentError::ItemNotFound => "item_not_found",
                ShipmentError::TooManyItems => "too_many_items",
                _ => "other",
            });
        assert_eq!(got, expected, "{status:?} + {action:?}");
        if got.is_err() {
            assert_eq!(
                s, before,
                "a refused {action:?} changed a {status:?} shipment"
            );
        }
    }
}

/// A tiny deterministic generator (xorshift) so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// What must never change once a shipment is prepared.
type Frozen = (
    Vec<ShipmentFile>,
    Vec<TextItem>,
    Option<DownloadLink>,
    Option<Timestamp>,
);

#[test]
fn no_sequence_unprepares_or_changes_prepared_content() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for round in 0..2_000 {
        let mut s = shipment_in(ShipmentStatus::AwaitingPayment);
        let mut frozen: Option<Frozen> = None;
        for n in 0..40 {
            let action = ACTIONS[(rng.next() % ACTIONS.len() as u64) as usize];
            let before = s.clone();
            let result = apply(&mut s, action, n);
            if result.is_err() {
                assert_eq!(
                    s, before,
                    "round {round}: refused {action:?} changed the shipment"
                );
            }
            if let Some((files, items, token, prepared_at)) = &frozen {
                let d = s.data();
                assert!(
                    s.status().is_prepared(),
                    "round {round}: {action:?} un-prepared it"
                );
                assert_eq!(
                    &d.files, files,
                    "round {round}: files changed after prepare"
                );
                assert_eq!(
                    &d.items, items,
                    "round {round}: items changed after prepare"
                );
                assert_eq!(&d.token, token, "round {round}: link changed after prepare");
                assert_eq!(&d.prepared_at, prepared_at);
            } else if s.status().is_prepared() {
                let d = s.data();
                assert!(!d.items.is_empty() || !d.files.is_empty());
                frozen = Some((
                    d.files.clone(),
                    d.items.clone(),
                    d.token.clone(),
                    d.prepared_at,
                ));
            }
        }
    }
}

#[test]
fn placing_an_order_groups_standard_lines_and_splits_personalized() {
    let product = |sku: &str, kind| Product {
        sku: sku.into(),
        name: sku.into(),
        kind,
        files: Vec::new(),
        items: vec![("Code".into(), format!("{sku}-code"))],
        plugin: None,
        auto_prepare: false,
        terms: ProductTerms {
            download_limit: Some(3),
            link_ttl_hours: 24,
            requires_withdrawal_waiver: sku == "b",
        },
        created_at: t(0),
        updated_at: t(0),
    };
    let line = |p: Product| OrderLine {
        sku: p.sku.clone(),
        quantity: 1,
        options_json: "{}".into(),
        product: p,
    };
    let lines = vec![
        line(product("a", ProductKind::Standard)),
        line(product("p1", ProductKind::Personalized)),
        line(product("b", ProductKind::Standard)),
        line(product("p2", ProductKind::Personalized)),
    ];
    let mut n = 0;
    let (order, shipments) = Order::place(
        "ord_1".into(),
        "ext".into(),
        Buyer {
            email: "ala@example.com".into(),
            name: String::new(),
        },
        lines,
        "fp".into(),
        t(0),
        || {
            n += 1;
            format!("shp_{n}")
        },
    );
    assert_eq!(order.shipment_ids, ["shp_1", "shp_2", "shp_3"]);
    let standard = shipments[0].data();
    assert_eq!(standard.product_skus, ["a", "b"]);
    assert_eq!(standard.items.len(), 2);
    assert_eq!(standard.items[1].id, "it2");
    assert!(
        standard.terms.requires_withdrawal_waiver,
        "b needs the waiver"
    );
    assert_eq!(shipments[1].data().product_skus, ["p1"]);
    assert_eq!(shipments[2].data().product_skus, ["p2"]);
    assert!(
        shipments
            .iter()
            .all(|s| s.status() == ShipmentStatus::AwaitingPayment)
    );
}

#[test]
fn payment_is_idempotent_and_refuses_another_reference() {
    let (mut order, _) = Order::place(
        "ord_1".into(),
        "ext".into(),
        Buyer {
            email: "ala@example.com".into(),
            name: String::new(),
        },
        Vec::new(),
        "fp".into(),
        t(0),
        || unreachable!(),
    );
    assert_eq!(
        order.record_payment("P1", t(1)),
        Ok(PaymentOutcome::Recorded)
    );
    assert_eq!(
        order.record_payment("P1", t(2)),
        Ok(PaymentOutcome::AlreadyRecorded)
    );
    assert_eq!(order.payment.as_ref().unwrap().paid_at, t(1));
    assert!(order.record_payment("P2", t(3)).is_err());
    assert_eq!(order.status, OrderStatus::Paid);
}

fn a_file(id: &str) -> ShipmentFile {
    ShipmentFile {
        file: FileRef {
            id: id.into(),
            name: format!("{id}.pdf"),
            size: 10,
            content_type: "application/pdf".into(),
        },
        source: FileSource::Upload,
    }
}

#[test]
fn files_attach_once_detach_before_prepare_and_count_completed_downloads() {
    let mut s = shipment_in(ShipmentStatus::InPreparation);
    s.attach_file(a_file("f1")).unwrap();
    assert_eq!(
        s.attach_file(a_file("f1")),
        Err(ShipmentError::FileAlreadyAttached)
    );
    s.attach_file(a_file("f2")).unwrap();
    assert_eq!(s.detach_file("f2").unwrap().file.id, "f2");
    assert_eq!(s.detach_file("f2"), Err(ShipmentError::FileNotFound));
    assert!(matches!(
        s.check_download("f1"),
        Err(ShipmentError::InvalidState { .. })
    ));
    s.prepare(t(5), link(1)).unwrap();
    assert_eq!(s.detach_file("f1"), Err(ShipmentError::AlreadyPrepared));
    assert_eq!(
        s.attach_file(a_file("f3")),
        Err(ShipmentError::AlreadyPrepared)
    );
    // The product allows 5 completed downloads per file.
    for n in 0..5 {
        assert!(s.check_download("f1").is_ok(), "download {n}");
        s.record_download("f1", t(10 + n)).unwrap();
    }
    assert_eq!(s.status(), ShipmentStatus::Delivered);
    assert_eq!(
        s.data().delivered_at,
        Some(t(10)),
        "the first completion delivers"
    );
    assert_eq!(
        s.check_download("f1").err(),
        Some(ShipmentError::DownloadLimitReached { limit: 5 })
    );
    assert_eq!(
        s.check_download("nope").err(),
        Some(ShipmentError::FileNotFound)
    );
    s.reset_downloads().unwrap();
    assert!(s.check_download("f1").is_ok());
    s.reissue_link(link(2)).unwrap();
    assert_eq!(s.data().token, Some(link(2)));
    s.revoke(t(30)).unwrap();
    assert!(s.check_download("f1").is_err());
    assert!(
        s.reissue_link(link(3)).is_err(),
        "a revoked shipment gets no new link"
    );
    assert_eq!(s.data().files.len(), 1, "content unchanged through it all");
}

fn plugin_file(id: &str) -> FileRef {
    FileRef {
        id: id.repeat(64 / id.len()),
        name: format!("{id}.pdf"),
        size: 10,
        content_type: "application/pdf".into(),
    }
}

fn output(items: &[(&str, &str)], files: &[&str]) -> PluginOutput {
    PluginOutput {
        items: items
            .iter()
            .map(|(l, v)| ((*l).to_owned(), (*v).to_owned()))
            .collect(),
        files: files.iter().map(|f| plugin_file(f)).collect(),
    }
}

#[test]
fn a_new_run_replaces_the_plugins_content_and_keeps_the_sellers() {
    let mut s = shipment_in(ShipmentStatus::InPreparation);
    s.add_item("Note".into(), "by hand".into()).unwrap();
    s.attach_file(ShipmentFile {
        file: plugin_file("b"),
        source: FileSource::Upload,
    })
    .unwrap();
    s.queue_personalization("license-key", t(1)).unwrap();
    assert_eq!(
        s.data().personalization.as_ref().unwrap().status,
        PersonalizationStatus::Queued
    );
    let (removed, skipped) = s
        .apply_personalization(output(&[("Key", "K1")], &["a"]), RunRecord::default(), t(2))
        .unwrap();
    assert!(removed.is_empty() && skipped.is_empty());
    s.queue_personalization("license-key", t(3)).unwrap();
    // The second run names the seller's file too: not attached twice.
    let (removed, skipped) = s
        .apply_personalization(
            output(&[("Key", "K2"), ("Key", "K3")], &["c", "b"]),
            RunRecord::default(),
            t(4),
        )
        .unwrap();
    assert_eq!(removed.len(), 1);
    assert_eq!(removed[0].file, plugin_file("a"));
    assert_eq!(skipped, vec![plugin_file("b")]);
    let values: Vec<_> = s.data().items.iter().map(|i| i.value.as_str()).collect();
    assert_eq!(values, ["by hand", "K2", "K3"]);
    assert!(s.data().items[1].is_from_plugin() && !s.data().items[0].is_from_plugin());
    let files: Vec<_> = s
        .data()
        .files
        .iter()
        .map(|f| (f.file.name.as_str(), f.source))
        .collect();
    assert_eq!(
        files,
        [("b.pdf", FileSource::Upload), ("c.pdf", FileSource::Plugin)]
    );
    let p = s.data().personalization.as_ref().unwrap();
    assert_eq!((p.status, p.runs), (PersonalizationStatus::Succeeded, 2));
}

#[test]
fn a_failed_run_keeps_the_content_and_says_why() {
    let mut s = shipment_in(ShipmentStatus::InPreparation);
    s.queue_personalization("voucher", t(1)).unwrap();
    s.apply_personalization(output(&[("Code", "V1")], &[]), RunRecord::default(), t(2))
        .unwrap();
    s.queue_personalization("voucher", t(3)).unwrap();
    s.fail_personalization(
        RunFailure {
            code: "timeout".into(),
            message: "too slow".into(),
        },
        RunRecord::default(),
        t(4),
    )
    .unwrap();
    assert_eq!(s.data().items.len(), 1);
    let p = s.data().personalization.as_ref().unwrap();
    assert_eq!(p.status, PersonalizationStatus::Failed);
    assert_eq!(p.failure.as_ref().unwrap().code, "timeout");
}

#[test]
fn a_prepared_shipment_takes_no_plugin_output() {
    for status in [
        ShipmentStatus::Prepared,
        ShipmentStatus::Cancelled,
        ShipmentStatus::AwaitingPayment,
    ] {
        let mut s = shipment_in(status);
        assert!(s.queue_personalization("x", t(1)).is_err());
        assert!(
            s.apply_personalization(output(&[("K", "V")], &[]), RunRecord::default(), t(2))
                .is_err()
        );
        assert!(
            s.fail_personalization(
                RunFailure {
                    code: "trap".into(),
                    message: "m".into()
                },
                RunRecord::default(),
                t(2)
            )
            .is_err()
        );
    }
}

#[test]
fn preparing_or_cancelling_drops_a_queued_run() {
    for prepare in [true, false] {
        let mut s = shipment_in(ShipmentStatus::InPreparation);
        s.add_item("Key".into(), "by hand".into()).unwrap();
        s.queue_personalization("license-key", t(1)).unwrap();
        if prepare {
            s.prepare(t(2), link(1)).unwrap();
        } else {
            s.cancel(t(2)).unwrap();
        }
        let p = s.data().personalization.as_ref().unwrap();
        assert_eq!(p.status, PersonalizationStatus::Failed);
        assert_eq!(p.failure.as_ref().unwrap().code, "superseded");
        assert_eq!(p.runs, 0);
    }
}
