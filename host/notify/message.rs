//! The buyer notification: the e-mail's subject, plain text and HTML, rendered when enqueued.

use crate::domain::Shipment;
use crate::store::OutboxMessage;

/// Renders the "your order is ready" message for a prepared shipment.
pub fn shipment_ready(
    shop_name: &str,
    shipment: &Shipment,
    download_url: &str,
    now: time::OffsetDateTime,
) -> OutboxMessage {
    let d = shipment.data();
    let subject = format!("{shop_name}: your order is ready to download");
    let greeting = if d.buyer.name.trim().is_empty() {
        "Hello,".to_owned()
    } else {
        format!("Hello {},", d.buyer.name.trim())
    };
    let mut text = format!(
        "{greeting}\n\nyour order from {shop_name} is ready.\n\nOpen it here:\n{download_url}\n"
    );
    let mut html = format!(
        "<!doctype html><html><body style=\"font-family:sans-serif;line-height:1.5\">\
         <p>{}</p><p>your order from {} is ready.</p>\
         <p><a href=\"{}\" style=\"display:inline-block;padding:10px 16px;background:#1d4ed8;color:#fff;text-decoration:none;border-radius:6px\">Open your order</a></p>\
         <p style=\"font-size:13px;color:#555\">Or copy this link: {}</p>",
        escape(&greeting),
        escape(shop_name),
        escape(download_url),
        escape(download_url)
    );
    if !d.items.is_empty() {
        text.push_str("\nYour items:\n");
        html.push_str("<table style=\"border-collapse:collapse\">");
        for item in &d.items {
            text.push_str(&format!("  {}: {}\n", item.label, item.value));
            html.push_str(&format!(
                "<tr><th style=\"text-align:left;padding:4px 12px 4px 0\">{}</th><td style=\"font-family:monospace\">{}</td></tr>",
                escape(&item.label),
                escape(&item.value)
            ));
        }
        html.push_str("</table>");
    }
    text.push_str(&format!("\nThank you,\n{shop_name}\n"));
    html.push_str(&format!(
        "<p>Thank you,<br>{}</p></body></html>",
        escape(shop_name)
    ));
    OutboxMessage {
        shipment_id: d.id.clone(),
        to_email: d.buyer.email.clone(),
        to_name: d.buyer.name.clone(),
        subject,
        text_body: text,
        html_body: html,
        attempts: 0,
        last_error: None,
        created_at: now,
        next_attempt_at: now,
    }
}

/// Escapes text for HTML element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
