//! Orders: the list (newest first, searchable) and an order's details with its shipments.

use std::collections::HashMap;

use axum::extract::{OriginalUri, Path};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};

use super::forms::{FormData, percent_encode};
use super::layout::{self, Crumb, Nav};
use super::{Admin, Failure, failure_page};
use crate::domain::{Order, OrderStatus, Shipment, ShipmentStatus};
use crate::http::pages::{self, badge, icon, status_badge};
use crate::store::{Reader, Source, StoreError};

/// Orders per page.
const PAGE_ORDERS: usize = 25;
/// Most orders one search request looks at before offering to continue.
const SEARCH_SCAN_MAX: usize = 5000;
/// Orders read from the store at a time while searching.
const SCAN_BATCH: usize = 200;

/// A badge for an order's status.
pub fn order_badge(status: OrderStatus) -> Markup {
    match status {
        OrderStatus::Paid => badge("success", "Paid"),
        OrderStatus::AwaitingPayment => badge("neutral", "Awaiting payment"),
    }
}

/// Whether an order matches a search: order number, id, buyer e-mail or name.
fn matches(order: &Order, needle: &str) -> bool {
    order.id.eq_ignore_ascii_case(needle)
        || order.external_id.to_lowercase().contains(needle)
        || order.buyer.email.to_lowercase().contains(needle)
        || order.buyer.name.to_lowercase().contains(needle)
}

/// One page of orders (newest first) matching `q`, and where the next page starts.
fn find_orders(
    reader: &Reader,
    q: Option<&str>,
    after: Option<&str>,
) -> Result<(Vec<Order>, Option<String>), StoreError> {
    let Some(q) = q else {
        let mut page = reader.orders(after, PAGE_ORDERS + 1)?;
        let next = (page.len() > PAGE_ORDERS).then(|| {
            page.truncate(PAGE_ORDERS);
            page.last().map(|o| o.id.clone())
        });
        return Ok((page, next.flatten()));
    };
    let needle = q.to_lowercase();
    if after.is_none() {
        // An exact order number or id finds its order wherever it is.
        let exact = match reader.order_id_by_external(q)? {
            Some(id) => reader.order(&id)?,
            None => reader.order(q)?,
        };
        if let Some(order) = exact {
            return Ok((vec![order], None));
        }
    }
    let mut found = Vec::new();
    let mut cursor = after.map(str::to_owned);
    let mut scanned = 0;
    loop {
        let batch = reader.orders(cursor.as_deref(), SCAN_BATCH)?;
        let exhausted = batch.len() < SCAN_BATCH;
        for order in batch {
            scanned += 1;
            cursor = Some(order.id.clone());
            if matches(&order, &needle) {
                found.push(order);
                if found.len() == PAGE_ORDERS {
                    return Ok((found, cursor));
                }
            }
            if scanned >= SEARCH_SCAN_MAX {
                return Ok((found, cursor));
            }
        }
        if exhausted {
            return Ok((found, None));
        }
    }
}

/// A short summary of an order's shipments: `1 in preparation, 2 delivered`.
fn shipments_summary(shipments: &[Shipment]) -> Markup {
    let mut counts: Vec<(ShipmentStatus, usize)> = Vec::new();
    for s in shipments {
        match counts.iter_mut().find(|(st, _)| *st == s.status()) {
            Some((_, n)) => *n += 1,
            None => counts.push((s.status(), 1)),
        }
    }
    counts.sort_by_key(|(st, _)| ShipmentStatus::ALL.iter().position(|s| s == st));
    html! {
        span.stack {
            @for (status, n) in counts {
                span.badge-count {
                    @if n > 1 { span.count { (n) "×" } }
                    (status_badge(status))
                }
            }
        }
    }
}

/// `GET /admin/orders`.
pub async fn list(admin: Admin, OriginalUri(uri): OriginalUri, headers: HeaderMap) -> Response {
    let query = FormData::query(&uri);
    let q = query
        .text("q")
        .map(|q| q.chars().take(200).collect::<String>());
    let after = query.text("after");
    let result = (|| {
        let reader = admin.state.store.read()?;
        let (orders, next) = find_orders(&reader, q.as_deref(), after)?;
        let mut shipments: HashMap<String, Vec<Shipment>> = HashMap::new();
        for order in &orders {
            let list = order
                .shipment_ids
                .iter()
                .filter_map(|id| reader.shipment(id).transpose())
                .collect::<Result<Vec<_>, _>>()?;
            shipments.insert(order.id.clone(), list);
        }
        Ok::<_, StoreError>((orders, next, shipments))
    })();
    let (orders, next, shipments) = match result {
        Ok(r) => r,
        Err(e) => return failure_page(&admin, &headers, Nav::Orders, e.into()),
    };
    let next_href = next.map(|n| {
        let mut href = format!("/admin/orders?after={}", percent_encode(&n));
        if let Some(q) = &q {
            href.push_str(&format!("&q={}", percent_encode(q)));
        }
        href
    });
    let body = html! {
        (layout::heading(html! { "Orders" }, None))
        form.toolbar method="get" action="/admin/orders" role="search" {
            div.field.grow {
                label.visually-hidden for="q" { "Search orders" }
                input #q .input type="search" name="q" value=[q.as_deref()]
                    placeholder="Search by buyer e-mail, name or order number";
            }
            button.btn type="submit" { (icon::magnifier()) "Search" }
            @if q.is_some() { a.btn.btn-ghost href="/admin/orders" { "Clear" } }
        }
        @if orders.is_empty() {
            div.empty {
                @if let Some(q) = &q {
                    p { "No orders match “" (q) "”." }
                    p.muted { "Search looks at order numbers, order ids, buyer e-mails and names." }
                } @else if after.is_some() {
                    p { "No more orders." }
                } @else {
                    p { "No orders yet." }
                    p.muted { "Orders arrive from your shop through the API (" code { "POST /api/v1/orders" } ")." }
                }
            }
        } @else {
            div.table-wrap {
                table.table {
                    thead { tr {
                        th scope="col" { "Order" }
                        th scope="col" { "Buyer" }
                        th scope="col" { "Products" }
                        th scope="col" { "Payment" }
                        th scope="col" { "Digital shipments" }
                        th scope="col" { "Placed (UTC)" }
                    } }
                    tbody {
                        @for order in &orders {
                            tr {
                                td { a.strong href={ "/admin/orders/" (order.id) } { (order.external_id) } }
                                td { div { (order.buyer.name) } div.muted.small { (order.buyer.email) } }
                                td {
                                    @for line in &order.lines {
                                        div { (line.product.name) @if line.quantity > 1 { span.muted { " × " (line.quantity) } } }
                                    }
                                }
                                td { (order_badge(order.status)) }
                                td { (shipments_summary(shipments.get(&order.id).map_or(&[][..], Vec::as_slice))) }
                                td.nowrap { (pages::time_short(order.created_at)) }
                            }
                        }
                    }
                }
            }
        }
        @if let Some(href) = &next_href {
            nav.pager aria-label="Pages" {
                @if after.is_some() { a.btn href={ "/admin/orders" @if let Some(q) = &q { "?q=" (percent_encode(q)) } } { "First page" } }
                a.btn href=(href) { @if q.is_some() { "Search further" } @else { "Older orders" } " →" }
            }
        } @else if after.is_some() {
            nav.pager aria-label="Pages" {
                a.btn href={ "/admin/orders" @if let Some(q) = &q { "?q=" (percent_encode(q)) } } { "← First page" }
            }
        }
    };
    layout::page(
        &admin,
        Nav::Orders,
        "Orders",
        vec![Crumb::here("Orders")],
        None,
        body,
    )
    .into_response()
}

/// `GET /admin/orders/{id}`.
pub async fn show(admin: Admin, Path(id): Path<String>, headers: HeaderMap) -> Response {
    let result = (|| {
        let reader = admin.state.store.read()?;
        let order = reader
            .order(&id)?
            .ok_or_else(|| Failure::not_found("order"))?;
        let shipments = order
            .shipment_ids
            .iter()
            .filter_map(|id| reader.shipment(id).transpose())
            .collect::<Result<Vec<_>, _>>()?;
        Ok::<_, Failure>((order, shipments))
    })();
    let (order, shipments) = match result {
        Ok(r) => r,
        Err(f) => return failure_page(&admin, &headers, Nav::Orders, f),
    };
    let title = format!("Order {}", order.external_id);
    let body = html! {
        (layout::heading(html! { "Order " span.mono { (order.external_id) } " " (order_badge(order.status)) }, None))
        div.grid-2 {
            section.card aria-labelledby="buyer-h" {
                h2 #buyer-h { "Buyer" }
                dl.facts {
                    dt { "Name" } dd { @if order.buyer.name.is_empty() { span.muted { "—" } } @else { (order.buyer.name) } }
                    dt { "E-mail" } dd { a href={ "mailto:" (order.buyer.email) } { (order.buyer.email) } }
                }
            }
            section.card aria-labelledby="order-h" {
                h2 #order-h { "Order" }
                dl.facts {
                    dt { "Order number" } dd.mono { (order.external_id) }
                    dt { "Waybill id" } dd.mono.small { (order.id) }
                    dt { "Placed" } dd { (pages::time(order.created_at)) }
                    dt { "Payment" } dd {
                        @match &order.payment {
                            Some(p) => { (pages::time(p.paid_at)) " · ref " span.mono { (p.reference) } },
                            None => span.muted { "Not paid yet" },
                        }
                    }
                }
            }
        }
        section.card aria-labelledby="lines-h" {
            h2 #lines-h { "Products" }
            div.table-wrap {
                table.table {
                    thead { tr { th scope="col" { "Product" } th scope="col" { "SKU" } th scope="col" { "Kind" } th scope="col" .num { "Quantity" } th scope="col" { "Buyer's options" } } }
                    tbody {
                        @for line in &order.lines {
                            tr {
                                td { (line.product.name) }
                                td.mono { (line.sku) }
                                td { (kind_label(line.product.kind)) }
                                td.num { (line.quantity) }
                                td { (options(&line.options_json)) }
                            }
                        }
                    }
                }
            }
        }
        section.card #shipments aria-labelledby="shipments-h" {
            h2 #shipments-h { "Shipments" }
            @if shipments.is_empty() {
                p.muted { "This order has no digital shipments." }
            } @else {
                div.table-wrap {
                    table.table {
                        thead { tr {
                            th scope="col" { "Digital shipment" }
                            th scope="col" { "Products" }
                            th scope="col" { "Status" }
                            th scope="col" { "Content" }
                            th scope="col" { "Prepared" }
                            th scope="col" { span.visually-hidden { "Open" } }
                        } }
                        tbody {
                            @for s in &shipments {
                                @let d = s.data();
                                tr {
                                    td.mono.small { (d.id) }
                                    td { (d.product_skus.join(", ")) }
                                    td { (status_badge(s.status())) }
                                    td.small.nowrap { (content_cell(s)) }
                                    td.nowrap { @match d.prepared_at { Some(t) => (pages::time(t)), None => span.muted { "—" } } }
                                    td.right {
                                        a.icon-btn href={ "/admin/shipments/" (d.id) }
                                            aria-label={ "Open shipment " (d.id) } title="Open shipment details" {
                                            (icon::magnifier())
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    layout::page(
        &admin,
        Nav::Orders,
        &title,
        vec![
            Crumb::link("Orders", "/admin/orders"),
            Crumb::here(title.clone()),
        ],
        None,
        body,
    )
    .into_response()
}

/// `Standard` / `Personalized`.
pub fn kind_label(kind: crate::domain::ProductKind) -> &'static str {
    match kind {
        crate::domain::ProductKind::Standard => "Standard",
        crate::domain::ProductKind::Personalized => "Personalized",
    }
}

/// `2 files, 1 item`.
pub fn content_summary(s: &Shipment) -> String {
    let d = s.data();
    let files = match d.files.len() {
        0 => "no files".to_owned(),
        1 => "1 file".to_owned(),
        n => format!("{n} files"),
    };
    let items = match d.items.len() {
        0 => "no items".to_owned(),
        1 => "1 item".to_owned(),
        n => format!("{n} items"),
    };
    format!("{files}, {items}")
}

/// The content summary, with empty shipments flagged (they cannot be prepared).
pub fn content_cell(s: &Shipment) -> Markup {
    use crate::domain::PersonalizationStatus;
    let plugin = s
        .data()
        .personalization
        .as_ref()
        .and_then(|p| match p.status {
            _ if s.status() != crate::domain::ShipmentStatus::InPreparation => None,
            PersonalizationStatus::Queued => Some(("plugin-running", "Plugin running")),
            PersonalizationStatus::Failed => Some(("plugin-failed", "Plugin failed")),
            PersonalizationStatus::Succeeded => None,
        });
    html! {
        @if s.has_content() { (content_summary(s)) } @else { span.empty-flag { "Empty" } }
        @if let Some((class, label)) = plugin { " " span class={ "flag " (class) } { (label) } }
    }
}

/// The buyer's options (a JSON object) as a list.
fn options(json: &str) -> Markup {
    let Ok(serde_json::Value::Object(map)) = serde_json::from_str::<serde_json::Value>(json) else {
        return html! { span.muted { "—" } };
    };
    if map.is_empty() {
        return html! { span.muted { "—" } };
    }
    html! {
        dl.options {
            @for (k, v) in &map {
                dt { (k) }
                dd { @match v { serde_json::Value::String(s) => (s), v => (v.to_string()) } }
            }
        }
    }
}
