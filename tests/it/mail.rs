//! Buyer notifications through a real SMTP server: content, count, retries and restarts.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::*;

const SETTLE: Duration = Duration::from_millis(1500);
const MAIL_WAIT: Duration = Duration::from_secs(15);
/// Retries back off (1 s, doubling, capped): recovering after an outage may take a while.
const RECOVERY_WAIT: Duration = Duration::from_secs(30);
const MAIL_FROM: &str = "shop@example.org";

fn server_with_mail(smtp_url: String) -> Server {
    Server::start_with(ServerOpts {
        smtp_url: Some(smtp_url),
        mail_from: Some(MAIL_FROM.to_owned()),
        ..ServerOpts::default()
    })
}

/// Checks one notification: addressed to the buyer, multipart text + HTML, link and items in both.
fn assert_notification(mail: &Mail, shipment: &Value, items: &[(&str, &str)]) {
    let email = str_of(&shipment["buyer"], "email");
    let url = str_of(shipment, "download_url");
    assert_eq!(mail.rcpt_tos(), vec![email.to_owned()], "{}", mail.raw);
    assert!(mail.header("to").contains(email), "{}", mail.raw);
    assert!(mail.header("from").contains(MAIL_FROM), "{}", mail.raw);
    assert!(!mail.header("subject").trim().is_empty(), "{}", mail.raw);
    assert!(
        mail.content_type().starts_with("multipart/"),
        "not multipart: {}",
        mail.raw
    );
    let text = mail.part("text/plain");
    let html = mail.part("text/html");
    assert!(text.contains(url), "text part without {url}:\n{text}");
    assert!(html.contains(url), "HTML part without {url}:\n{html}");
    for (label, value) in items {
        assert!(text.contains(label) && text.contains(value), "{text}");
        assert!(html.contains(value), "{html}");
    }
}

#[test]
fn one_message_per_prepare() {
    let sink = SmtpSink::start();
    let server = server_with_mail(sink.url());
    let items = [("License key", "MAIL-1234-ABCD"), ("Dedication", "Dla Ani")];
    let prepared = prepared_shipment(&server, &items);
    let mails = sink.wait_for(1, MAIL_WAIT);
    assert_notification(&mails[0], &prepared, &items);
    sink.assert_count_stays(1, SETTLE);

    let id = str_of(&prepared, "id");
    let sent = wait_until(MAIL_WAIT, "notification status sent", || {
        let s = shipment(&server, id);
        (s["notification"]["status"] == "sent").then_some(s)
    });
    parse_time(&sent["notification"]["sent_at"]);
    assert!(
        sent["notification"]["attempts"].as_u64() >= Some(1),
        "{sent:#}"
    );
}

#[test]
fn payment_of_a_standard_product_sends_the_link() {
    let sink = SmtpSink::start();
    let server = server_with_mail(sink.url());
    let items = [("Download code", "STD-MAIL-77")];
    let sku = standard(&server, &items);
    let order = order(&server, &[&sku]);
    pay(&server, str_of(&order, "id"));
    let s = shipment(&server, &shipment_ids(&order)[0]);
    let mails = sink.wait_for(1, MAIL_WAIT);
    assert_notification(&mails[0], &s, &items);
    sink.assert_count_stays(1, SETTLE);
}

#[test]
fn nothing_is_sent_before_prepare() {
    let sink = SmtpSink::start();
    let server = server_with_mail(sink.url());
    let id = shipment_in_preparation(&server);
    add_item(&server, &id, "Key", "NOT-YET");
    sink.assert_count_stays(0, SETTLE);
    assert_eq!(shipment(&server, &id)["notification"]["status"], "none");
}

#[test]
fn resend_sends_a_second_message() {
    let sink = SmtpSink::start();
    let server = server_with_mail(sink.url());
    let items = [("Key", "RESEND-1")];
    let prepared = prepared_shipment(&server, &items);
    sink.wait_for(1, MAIL_WAIT);
    let id = str_of(&prepared, "id");
    let (status, s) = server.post(&format!("/api/v1/shipments/{id}/resend"), json!({}));
    assert_eq!(status, 200, "{s:#}");
    let mails = sink.wait_for(2, MAIL_WAIT);
    assert_notification(&mails[1], &s, &items);
    sink.assert_count_stays(2, SETTLE);
}

#[test]
fn bulk_prepare_sends_one_message_per_shipment() {
    let sink = SmtpSink::start();
    let server = server_with_mail(sink.url());
    let ids: Vec<String> = (0..3)
        .map(|n| {
            let id = shipment_in_preparation(&server);
            add_item(&server, &id, "Key", &format!("BULK-{n}"));
            id
        })
        .collect();
    let (status, body) = server.post("/api/v1/shipments/prepare", json!({"ids": ids}));
    assert_eq!(status, 200, "{body:#}");
    let mails = sink.wait_for(3, MAIL_WAIT);
    for (n, id) in ids.iter().enumerate() {
        let s = shipment(&server, id);
        let email = str_of(&s["buyer"], "email");
        let mine: Vec<&Mail> = mails
            .iter()
            .filter(|m| m.rcpt_tos() == vec![email.to_owned()])
            .collect();
        assert_eq!(mine.len(), 1, "messages to {email}");
        assert_notification(mine[0], &s, &[("Key", &format!("BULK-{n}"))]);
    }
    sink.assert_count_stays(3, SETTLE);
}

#[test]
fn delivery_is_retried_until_smtp_is_back() {
    let port = free_port();
    let server = server_with_mail(smtp_url(port));
    let items = [("Key", "RETRY-1")];
    let prepared = prepared_shipment(&server, &items);
    let id = str_of(&prepared, "id");
    let failing = wait_until(MAIL_WAIT, "a failed delivery attempt", || {
        let s = shipment(&server, id);
        s["notification"]["last_error"].is_string().then_some(s)
    });
    assert_eq!(failing["notification"]["status"], "pending", "{failing:#}");
    assert!(failing["notification"]["sent_at"].is_null());

    let sink = SmtpSink::start_on(port);
    let mails = sink.wait_for(1, RECOVERY_WAIT);
    assert_notification(&mails[0], &prepared, &items);
    wait_until(MAIL_WAIT, "notification status sent", || {
        (shipment(&server, id)["notification"]["status"] == "sent").then_some(())
    });
    sink.assert_count_stays(1, SETTLE);
}

#[test]
fn pending_mail_survives_a_restart_and_is_sent_once() {
    let port = free_port();
    let mut server = server_with_mail(smtp_url(port));
    let items = [("Key", "RESTART-1")];
    let prepared = prepared_shipment(&server, &items);
    let id = str_of(&prepared, "id").to_owned();
    wait_until(MAIL_WAIT, "a failed delivery attempt", || {
        shipment(&server, &id)["notification"]["last_error"]
            .is_string()
            .then_some(())
    });

    server.restart();
    assert_eq!(shipment(&server, &id)["notification"]["status"], "pending");
    let mut sink = SmtpSink::start_on(port);
    let mails = sink.wait_for(1, RECOVERY_WAIT);
    assert_notification(&mails[0], &prepared, &items);
    wait_until(MAIL_WAIT, "notification status sent", || {
        (shipment(&server, &id)["notification"]["status"] == "sent").then_some(())
    });

    // Once sent, neither a restart of Waybill nor of the SMTP server sends it again.
    server.restart();
    sink.stop();
    sink.start_again_same_port();
    sink.assert_count_stays(1, Duration::from_secs(3));
}

#[test]
fn pending_mail_survives_a_crash() {
    let port = free_port();
    let mut server = server_with_mail(smtp_url(port));
    let items = [("Key", "CRASH-1")];
    let prepared = prepared_shipment(&server, &items);
    server.crash_and_restart();
    let sink = SmtpSink::start_on(port);
    let mails = sink.wait_for(1, RECOVERY_WAIT);
    assert_notification(&mails[0], &prepared, &items);
    sink.assert_count_stays(1, SETTLE);
}
