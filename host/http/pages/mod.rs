//! What the admin and buyer pages share: embedded styles and script, icons, and formatting.
//!
//! Everything here is compiled into the binary (`include_str!`); the pages
//! load nothing from outside the server.

pub mod buyer;

use maud::{Markup, PreEscaped, html};
use time::OffsetDateTime;
use time::macros::format_description;

use crate::domain::{NotificationStatus, ShipmentStatus};

/// The admin pages' stylesheet, served at [`ADMIN_CSS_PATH`].
pub const ADMIN_CSS: &str = include_str!("admin.css");
/// The admin pages' script (upload progress, select-all, confirmations).
pub const ADMIN_JS: &str = include_str!("admin.js");
/// The buyer page's stylesheet, inlined into each buyer page.
pub const BUYER_CSS: &str = include_str!("buyer.css");
/// The buyer page's script (copy buttons), inlined.
pub const BUYER_JS: &str = include_str!("buyer.js");

/// Where the admin stylesheet is served; the query changes with the content.
pub fn admin_css_url() -> String {
    format!("/admin/assets/admin.css?v={}", version_of(ADMIN_CSS))
}

/// Where the admin script is served; the query changes with the content.
pub fn admin_js_url() -> String {
    format!("/admin/assets/admin.js?v={}", version_of(ADMIN_JS))
}

/// A short fingerprint of an asset, so browsers may cache it forever.
fn version_of(content: &str) -> String {
    blake3::hash(content.as_bytes()).to_hex()[..12].to_owned()
}

/// A time as sellers read it: `2026-11-01 14:03 UTC`, in a `<time>` element.
pub fn time(ts: OffsetDateTime) -> Markup {
    let iso = ts
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    html! { time datetime=(iso) { (format_time(ts)) } }
}

/// A time for a table column whose header says UTC: `2026-11-01 14:03`.
pub fn time_short(ts: OffsetDateTime) -> Markup {
    let iso = ts
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let full = format_time(ts);
    let short = full.trim_end_matches(" UTC").to_owned();
    html! { time datetime=(iso) title=(full) { (short) } }
}

/// `2026-11-01 14:03 UTC`.
pub fn format_time(ts: OffsetDateTime) -> String {
    let fmt = format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    ts.to_offset(time::UtcOffset::UTC)
        .format(&fmt)
        .unwrap_or_default()
}

/// A size in binary units, as the upload limit is set: `820 bytes`, `1.5 KiB`, `128 MiB`.
pub fn size_binary(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return if bytes == 1 {
            "1 byte".to_owned()
        } else {
            format!("{bytes} bytes")
        };
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if value.fract() < 0.05 || value >= 100.0 {
        format!("{value:.0} {}", UNITS[unit])
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// A duration given in hours, as people say it: `30 days`, `36 hours`, `1 hour`.
pub fn duration_hours(hours: u32) -> String {
    match hours {
        1 => "1 hour".to_owned(),
        24 => "1 day".to_owned(),
        h if h % 24 == 0 => format!("{} days", h / 24),
        h => format!("{h} hours"),
    }
}

/// A tiny icon for the browser tab, inline so no request is made.
pub const FAVICON: &str = "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 32 32'%3E%3Crect width='32' height='32' rx='8' fill='%234338ca'/%3E%3Cpath d='M7 10l4 12 5-9 5 9 4-12' fill='none' stroke='%23fff' stroke-width='2.6' stroke-linecap='round' stroke-linejoin='round'/%3E%3C/svg%3E";

/// Human name of a shipment status.
pub fn status_label(status: ShipmentStatus) -> &'static str {
    match status {
        ShipmentStatus::AwaitingPayment => "Awaiting payment",
        ShipmentStatus::InPreparation => "In preparation",
        ShipmentStatus::Prepared => "Prepared",
        ShipmentStatus::Delivered => "Delivered",
        ShipmentStatus::Cancelled => "Cancelled",
        ShipmentStatus::Revoked => "Revoked",
    }
}

/// A coloured badge for a shipment status.
pub fn status_badge(status: ShipmentStatus) -> Markup {
    let tone = match status {
        ShipmentStatus::AwaitingPayment => "neutral",
        ShipmentStatus::InPreparation => "warning",
        ShipmentStatus::Prepared => "info",
        ShipmentStatus::Delivered => "success",
        ShipmentStatus::Cancelled => "muted",
        ShipmentStatus::Revoked => "danger",
    };
    badge(tone, status_label(status))
}

/// A coloured badge for the buyer notification.
pub fn notification_badge(status: NotificationStatus, failing: bool) -> Markup {
    match status {
        NotificationStatus::None => badge("muted", "Not sent"),
        NotificationStatus::Pending if failing => badge("danger", "Retrying"),
        NotificationStatus::Pending => badge("warning", "Queued"),
        NotificationStatus::Sent => badge("success", "Sent"),
    }
}

/// A badge of a tone: `neutral`, `info`, `success`, `warning`, `danger`, `muted`.
pub fn badge(tone: &str, label: &str) -> Markup {
    html! { span class={ "badge badge-" (tone) } { span.dot aria-hidden="true" {} (label) } }
}

/// Inline SVG icons (stroke icons, 20×20, `currentColor`).
pub mod icon {
    use maud::{Markup, PreEscaped};

    fn svg(paths: &str) -> Markup {
        PreEscaped(format!(
            "<svg class=\"icon\" viewBox=\"0 0 24 24\" width=\"20\" height=\"20\" fill=\"none\" \
             stroke=\"currentColor\" stroke-width=\"2\" stroke-linecap=\"round\" \
             stroke-linejoin=\"round\" aria-hidden=\"true\" focusable=\"false\">{paths}</svg>"
        ))
    }

    pub fn magnifier() -> Markup {
        svg("<circle cx=\"11\" cy=\"11\" r=\"7\"/><path d=\"m20 20-3.5-3.5\"/>")
    }
    pub fn orders() -> Markup {
        svg(
            "<path d=\"M6 2 3 6v14a2 2 0 0 0 2 2h14a2 2 0 0 0 2-2V6l-3-4z\"/><path d=\"M3 6h18\"/><path d=\"M16 10a4 4 0 0 1-8 0\"/>",
        )
    }
    pub fn shipments() -> Markup {
        svg("<path d=\"M21 8v13H3V8\"/><path d=\"M1 3h22v5H1z\"/><path d=\"M10 12h4\"/>")
    }
    pub fn products() -> Markup {
        svg(
            "<path d=\"M20.6 13.4 13.4 20.6a2 2 0 0 1-2.8 0L2 12V2h10l8.6 8.6a2 2 0 0 1 0 2.8z\"/><circle cx=\"7\" cy=\"7\" r=\"1.5\"/>",
        )
    }
    pub fn plugins() -> Markup {
        svg(
            "<path d=\"M9 2v6M15 2v6\"/><path d=\"M6 8h12v4a6 6 0 0 1-12 0z\"/><path d=\"M12 18v4\"/>",
        )
    }
    pub fn settings() -> Markup {
        svg(
            "<circle cx=\"12\" cy=\"12\" r=\"3\"/><path d=\"M19.4 15a1.7 1.7 0 0 0 .3 1.8l.1.1a2 2 0 1 1-2.8 2.8l-.1-.1a1.7 1.7 0 0 0-1.8-.3 1.7 1.7 0 0 0-1 1.5V21a2 2 0 1 1-4 0v-.1a1.7 1.7 0 0 0-1.1-1.5 1.7 1.7 0 0 0-1.8.3l-.1.1a2 2 0 1 1-2.8-2.8l.1-.1a1.7 1.7 0 0 0 .3-1.8 1.7 1.7 0 0 0-1.5-1H3a2 2 0 1 1 0-4h.1a1.7 1.7 0 0 0 1.5-1.1 1.7 1.7 0 0 0-.3-1.8l-.1-.1a2 2 0 1 1 2.8-2.8l.1.1a1.7 1.7 0 0 0 1.8.3H9a1.7 1.7 0 0 0 1-1.5V3a2 2 0 1 1 4 0v.1a1.7 1.7 0 0 0 1 1.5 1.7 1.7 0 0 0 1.8-.3l.1-.1a2 2 0 1 1 2.8 2.8l-.1.1a1.7 1.7 0 0 0-.3 1.8V9a1.7 1.7 0 0 0 1.5 1H21a2 2 0 1 1 0 4h-.1a1.7 1.7 0 0 0-1.5 1z\"/>",
        )
    }
    pub fn file() -> Markup {
        svg(
            "<path d=\"M14 2H6a2 2 0 0 0-2 2v16a2 2 0 0 0 2 2h12a2 2 0 0 0 2-2V8z\"/><path d=\"M14 2v6h6\"/>",
        )
    }
    pub fn download() -> Markup {
        svg(
            "<path d=\"M21 15v4a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2v-4\"/><path d=\"m7 10 5 5 5-5\"/><path d=\"M12 15V3\"/>",
        )
    }
    pub fn copy() -> Markup {
        svg(
            "<rect x=\"9\" y=\"9\" width=\"13\" height=\"13\" rx=\"2\"/><path d=\"M5 15H4a2 2 0 0 1-2-2V4a2 2 0 0 1 2-2h9a2 2 0 0 1 2 2v1\"/>",
        )
    }
    pub fn check() -> Markup {
        svg("<path d=\"M20 6 9 17l-5-5\"/>")
    }
    pub fn alert() -> Markup {
        svg("<circle cx=\"12\" cy=\"12\" r=\"10\"/><path d=\"M12 8v4\"/><path d=\"M12 16h.01\"/>")
    }
    pub fn lock() -> Markup {
        svg(
            "<rect x=\"3\" y=\"11\" width=\"18\" height=\"11\" rx=\"2\"/><path d=\"M7 11V7a5 5 0 0 1 10 0v4\"/>",
        )
    }
    pub fn trash() -> Markup {
        svg(
            "<path d=\"M3 6h18\"/><path d=\"M19 6v14a2 2 0 0 1-2 2H7a2 2 0 0 1-2-2V6\"/><path d=\"M8 6V4a2 2 0 0 1 2-2h4a2 2 0 0 1 2 2v2\"/>",
        )
    }
    pub fn logo() -> Markup {
        PreEscaped(
            "<svg class=\"logo\" viewBox=\"0 0 32 32\" width=\"32\" height=\"32\" aria-hidden=\"true\" focusable=\"false\">\
             <rect width=\"32\" height=\"32\" rx=\"8\" fill=\"#4338ca\"/>\
             <path d=\"M7 10l4 12 5-9 5 9 4-12\" fill=\"none\" stroke=\"#fff\" stroke-width=\"2.6\" stroke-linecap=\"round\" stroke-linejoin=\"round\"/></svg>"
                .to_owned(),
        )
    }
}

/// Raw text for a `<script>` or `<style>` element (our own constants only).
pub fn raw(s: &'static str) -> PreEscaped<&'static str> {
    PreEscaped(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_sizes() {
        let check =
            |bytes: u64, expected: &str| assert_eq!(size_binary(bytes), expected, "{bytes}");
        check(0, "0 bytes");
        check(1, "1 byte");
        check(1023, "1023 bytes");
        check(1536, "1.5 KiB");
        check(128 * 1024 * 1024, "128 MiB");
        check(128 * 1024 * 1024 + 1, "128 MiB");
        check(3 * 1024 * 1024 + 400 * 1024, "3.4 MiB");
    }

    #[test]
    fn durations() {
        assert_eq!(duration_hours(1), "1 hour");
        assert_eq!(duration_hours(24), "1 day");
        assert_eq!(duration_hours(720), "30 days");
        assert_eq!(duration_hours(36), "36 hours");
    }

    #[test]
    fn times_read_as_utc() {
        let ts = OffsetDateTime::from_unix_timestamp(1_790_000_000).unwrap();
        assert_eq!(format_time(ts), "2026-09-21 14:13 UTC");
    }
}
