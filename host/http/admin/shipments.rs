//! The digital shipments list, the seller's queue: filter, search, select,
//! and "Mark as prepared" for all selected at once with a per-shipment report.

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::OriginalUri;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};

use super::forms::{FormData, percent_encode};
use super::layout::{self, Crumb, Nav, Notice};
use super::session::FORM_BYTES_MAX;
use super::{Admin, Failure, failure_page, sentence};
use crate::config::BULK_IDS_MAX;
use crate::domain::{Order, Shipment, ShipmentStatus};
use crate::http::error::ApiError;
use crate::http::pages::{self, icon, status_badge, status_label};
use crate::store::{Reader, Source, StoreError};

/// Shipments per page.
const PAGE_SHIPMENTS: usize = 50;
/// Most shipments one search request looks at before offering to continue.
const SEARCH_SCAN_MAX: usize = 5000;
/// Shipments read from the store at a time while searching.
const SCAN_BATCH: usize = 200;

/// What the list shows.
#[derive(Debug, Clone)]
struct Filter {
    /// `None`: every status.
    status: Option<ShipmentStatus>,
    q: Option<String>,
    oldest_first: bool,
    after: Option<String>,
}

impl Filter {
    fn from_form(form: &FormData) -> Filter {
        let status = match form.text("status") {
            Some("all") => None,
            Some(s) => Some(ShipmentStatus::parse(s).unwrap_or(ShipmentStatus::InPreparation)),
            None => Some(ShipmentStatus::InPreparation),
        };
        let oldest_first = match form.text("sort") {
            Some("oldest") => true,
            Some("newest") => false,
            // The queue is worked oldest first; history is read newest first.
            _ => status == Some(ShipmentStatus::InPreparation),
        };
        Filter {
            status,
            q: form.text("q").map(|q| q.chars().take(200).collect()),
            oldest_first,
            after: form.text("after").map(str::to_owned),
        }
    }

    fn status_value(&self) -> &'static str {
        self.status.map_or("all", ShipmentStatus::as_str)
    }

    fn sort_value(&self) -> &'static str {
        if self.oldest_first {
            "oldest"
        } else {
            "newest"
        }
    }

    /// The list's URL with this filter, continuing after `after`.
    fn href(&self, after: Option<&str>) -> String {
        let mut href = format!(
            "/admin/shipments?status={}&sort={}",
            self.status_value(),
            self.sort_value()
        );
        if let Some(q) = &self.q {
            href.push_str(&format!("&q={}", percent_encode(q)));
        }
        if let Some(after) = after {
            href.push_str(&format!("&after={}", percent_encode(after)));
        }
        href
    }
}

/// A page of shipments with their orders.
struct Listing {
    shipments: Vec<Shipment>,
    orders: HashMap<String, Order>,
    next: Option<String>,
}

fn order_of<'a>(
    reader: &Reader,
    orders: &'a mut HashMap<String, Order>,
    id: &str,
) -> Result<Option<&'a Order>, StoreError> {
    if !orders.contains_key(id)
        && let Some(order) = reader.order(id)?
    {
        orders.insert(id.to_owned(), order);
    }
    Ok(orders.get(id))
}

fn find(reader: &Reader, filter: &Filter) -> Result<Listing, StoreError> {
    let mut orders = HashMap::new();
    let wanted = |s: &Shipment| filter.status.is_none_or(|st| st == s.status());
    let Some(q) = &filter.q else {
        let mut shipments = reader.shipments(
            filter.status,
            filter.after.as_deref(),
            !filter.oldest_first,
            PAGE_SHIPMENTS + 1,
        )?;
        let next = if shipments.len() > PAGE_SHIPMENTS {
            shipments.truncate(PAGE_SHIPMENTS);
            shipments.last().map(|s| s.data().id.clone())
        } else {
            None
        };
        for s in &shipments {
            order_of(reader, &mut orders, &s.data().order_id)?;
        }
        return Ok(Listing {
            shipments,
            orders,
            next,
        });
    };
    if filter.after.is_none() {
        // An exact shipment id, order number or order id finds its shipments anywhere.
        let exact: Option<Vec<String>> = if let Some(s) = reader.shipment(q)? {
            Some(vec![s.data().id.clone()])
        } else {
            let order = match reader.order_id_by_external(q)? {
                Some(id) => reader.order(&id)?,
                None => reader.order(q)?,
            };
            order.map(|o| o.shipment_ids)
        };
        if let Some(ids) = exact {
            let mut shipments = Vec::new();
            for id in ids {
                if let Some(s) = reader.shipment(&id)?
                    && wanted(&s)
                {
                    order_of(reader, &mut orders, &s.data().order_id)?;
                    shipments.push(s);
                }
            }
            return Ok(Listing {
                shipments,
                orders,
                next: None,
            });
        }
    }
    let needle = q.to_lowercase();
    let mut found = Vec::new();
    let mut cursor = filter.after.clone();
    let mut scanned = 0;
    loop {
        let batch = reader.shipments(
            filter.status,
            cursor.as_deref(),
            !filter.oldest_first,
            SCAN_BATCH,
        )?;
        let exhausted = batch.len() < SCAN_BATCH;
        for s in batch {
            scanned += 1;
            cursor = Some(s.data().id.clone());
            let d = s.data();
            let order_number = order_of(reader, &mut orders, &d.order_id)?
                .map(|o| o.external_id.to_lowercase())
                .unwrap_or_default();
            if d.buyer.email.to_lowercase().contains(&needle)
                || d.buyer.name.to_lowercase().contains(&needle)
                || order_number.contains(&needle)
            {
                found.push(s);
                if found.len() == PAGE_SHIPMENTS {
                    return Ok(Listing {
                        shipments: found,
                        orders,
                        next: cursor,
                    });
                }
            }
            if scanned >= SEARCH_SCAN_MAX {
                return Ok(Listing {
                    shipments: found,
                    orders,
                    next: cursor,
                });
            }
        }
        if exhausted {
            return Ok(Listing {
                shipments: found,
                orders,
                next: None,
            });
        }
    }
}

/// One shipment's outcome of a bulk action.
struct Outcome {
    id: String,
    buyer: Option<String>,
    order_number: Option<String>,
    error: Option<Failure>,
}

/// The reason a shipment was not prepared, as the seller reads it.
fn reason(f: &Failure) -> String {
    match f.code {
        "empty_shipment" => {
            "empty: no files and no items. Attach a file or add a text item first.".to_owned()
        }
        "already_prepared" => "already prepared earlier; nothing changed.".to_owned(),
        "not_found" => "no such shipment.".to_owned(),
        _ => {
            let mut s = sentence(&f.message);
            if let Some(first) = s.get(..1) {
                s = first.to_lowercase() + &s[1..];
            }
            s
        }
    }
}

fn render(
    admin: &Admin,
    filter: &Filter,
    listing: &Listing,
    outcomes: Option<&[Outcome]>,
    notice: Option<Notice>,
    status: StatusCode,
) -> Response {
    let editable_view = filter
        .status
        .is_none_or(|s| s == ShipmentStatus::InPreparation);
    let statuses: [(&str, &str); 7] = [
        (
            "in_preparation",
            status_label(ShipmentStatus::InPreparation),
        ),
        (
            "awaiting_payment",
            status_label(ShipmentStatus::AwaitingPayment),
        ),
        ("prepared", status_label(ShipmentStatus::Prepared)),
        ("delivered", status_label(ShipmentStatus::Delivered)),
        ("revoked", status_label(ShipmentStatus::Revoked)),
        ("cancelled", status_label(ShipmentStatus::Cancelled)),
        ("all", "All statuses"),
    ];
    let body = html! {
        (layout::heading(html! { "Digital shipments" }, None))
        @if let Some(outcomes) = outcomes { (report(outcomes)) }
        form.toolbar method="get" action="/admin/shipments" role="search" {
            div.field {
                label for="status" { "Status" }
                select #status .input name="status" data-autosubmit {
                    @for (value, label) in statuses {
                        option value=(value) selected[value == filter.status_value()] { (label) }
                    }
                }
            }
            div.field {
                label for="sort" { "Sort" }
                select #sort .input name="sort" data-autosubmit {
                    option value="oldest" selected[filter.oldest_first] { "Oldest first" }
                    option value="newest" selected[!filter.oldest_first] { "Newest first" }
                }
            }
            div.field.grow {
                label for="q" { "Search" }
                input #q .input type="search" name="q" value=[filter.q.as_deref()]
                    placeholder="Buyer e-mail or order number";
            }
            div.field.field-button {
                button.btn type="submit" { (icon::magnifier()) "Show" }
            }
        }
        @if listing.shipments.is_empty() {
            div.empty {
                @if filter.q.is_some() {
                    p { "No " (filter.status.map_or("", |s| status_label(s)).to_lowercase()) " shipments match “" (filter.q.as_deref().unwrap_or("")) "”." }
                    @if filter.status.is_some() { p { a href={ "/admin/shipments?status=all&q=" (percent_encode(filter.q.as_deref().unwrap_or(""))) } { "Search all statuses" } } }
                } @else if filter.status == Some(ShipmentStatus::InPreparation) && filter.after.is_none() {
                    p.strong { "Nothing to prepare." }
                    p.muted { "Paid personalized orders appear here, oldest first." }
                } @else {
                    p { "No shipments here." }
                }
            }
        } @else {
            form method="post" action="/admin/shipments/bulk" #bulk data-bulk {
                (admin.csrf_field())
                input type="hidden" name="status" value=(filter.status_value());
                input type="hidden" name="sort" value=(filter.sort_value());
                @if let Some(q) = &filter.q { input type="hidden" name="q" value=(q); }
                div.table-wrap {
                    table.table.selectable {
                        thead { tr {
                            th.check-col scope="col" {
                                input type="checkbox" data-select-all hidden aria-label="Select all shipments on this page";
                            }
                            th scope="col" { "Shipment" }
                            th scope="col" { "Order" }
                            th scope="col" { "Buyer" }
                            th scope="col" { "Products" }
                            th scope="col" { "Content" }
                            th scope="col" { "Status" }
                            th scope="col" { "Created (UTC)" }
                        } }
                        tbody {
                            @for s in &listing.shipments {
                                @let d = s.data();
                                @let order = listing.orders.get(&d.order_id);
                                tr {
                                    td.check-col {
                                        input #{ "sel-" (d.id) } type="checkbox" name="ids" value=(d.id)
                                            aria-label={ "Select shipment for " (d.buyer.email) @if let Some(o) = order { ", order " (o.external_id) } };
                                    }
                                    td.nowrap {
                                        a.row-link href={ "/admin/shipments/" (d.id) } title="Open shipment details" {
                                            (icon::magnifier()) span.mono.small { (short_id(&d.id)) }
                                        }
                                    }
                                    td.nowrap { @if let Some(o) = order { a href={ "/admin/orders/" (o.id) } { (o.external_id) } } }
                                    td { div { (d.buyer.name) } div.muted.small { (d.buyer.email) } }
                                    td { (product_names(s, order)) }
                                    td.small.nowrap { (super::orders::content_cell(s)) }
                                    td { (status_badge(s.status())) }
                                    td.nowrap { (pages::time_short(d.created_at)) }
                                }
                            }
                        }
                    }
                }
                div.bulk-bar {
                    label for="bulk-action" { "With selected" }
                    select #bulk-action .input name="action" {
                        option value="prepare" { "Mark as prepared" }
                    }
                    button.btn.btn-primary type="submit"
                        data-confirm-bulk="Mark the selected shipments as prepared?\n\nThis is final: their files and text items can no longer be changed, and each buyer is e-mailed a download link right away." {
                        "Apply"
                    }
                    span.muted.small data-selected-count aria-live="polite" {}
                    @if !editable_view {
                        span.muted.small { "Only shipments in preparation can be prepared." }
                    }
                }
            }
        }
        @if listing.next.is_some() || filter.after.is_some() {
            nav.pager aria-label="Pages" {
                @if filter.after.is_some() { a.btn href=(Filter { after: None, ..filter.clone() }.href(None)) { "← First page" } }
                @if let Some(next) = &listing.next { a.btn href=(filter.href(Some(next))) { "Next page →" } }
            }
        }
    };
    let page = layout::page(
        admin,
        Nav::Shipments,
        "Digital shipments",
        vec![
            Crumb::link("Orders", "/admin/orders"),
            Crumb::here("Digital shipments"),
        ],
        notice,
        body,
    );
    (status, page).into_response()
}

/// The report after a bulk action: which succeeded, and why any did not.
fn report(outcomes: &[Outcome]) -> Markup {
    let ok = outcomes.iter().filter(|o| o.error.is_none()).count();
    let failed = outcomes.len() - ok;
    let tone = if failed == 0 {
        "notice-success"
    } else {
        "notice-warning"
    };
    html! {
        section class={ "notice report " (tone) } role="status" tabindex="-1" data-focus aria-labelledby="report-h" {
            div {
                h2 #report-h {
                    (ok) " of " (outcomes.len()) " selected "
                    (if outcomes.len() == 1 { "shipment" } else { "shipments" }) " prepared"
                    @if failed > 0 { "; " (failed) " not prepared" }
                }
                @if ok > 0 { p.small { "Their buyers are being e-mailed a download link." } }
                ul.report-list {
                    @for o in outcomes {
                        li {
                            @match &o.error {
                                None => { span.badge.badge-success { span.dot {} "Prepared" } }
                                Some(_) => { span.badge.badge-danger { span.dot {} "Not prepared" } }
                            }
                            " "
                            a href={ "/admin/shipments/" (o.id) } {
                                @if let Some(n) = &o.order_number { "Order " (n) } @else { span.mono { (o.id) } }
                            }
                            @if let Some(b) = &o.buyer { span.muted { " · " (b) } }
                            @if let Some(f) = &o.error { span.reason { " — " (reason(f)) } }
                        }
                    }
                }
            }
        }
    }
}

/// The products a shipment delivers, by name where the order knows them.
fn product_names(s: &Shipment, order: Option<&Order>) -> Markup {
    let d = s.data();
    let names: Vec<String> = match order {
        Some(order) => d
            .line_indexes
            .iter()
            .filter_map(|&i| order.lines.get(i as usize))
            .map(|l| l.product.name.clone())
            .collect(),
        None => d.product_skus.clone(),
    };
    html! { (names.join(", ")) }
}

/// The distinctive tail of a time-ordered id.
pub fn short_id(id: &str) -> String {
    match id.split_once('_') {
        Some((prefix, rest)) if rest.len() > 8 => format!("{prefix}_…{}", &rest[rest.len() - 8..]),
        _ => id.to_owned(),
    }
}

/// `GET /admin/shipments`.
pub async fn list(admin: Admin, OriginalUri(uri): OriginalUri, headers: HeaderMap) -> Response {
    let filter = Filter::from_form(&FormData::query(&uri));
    let listing = match admin.state.store.read().and_then(|r| find(&r, &filter)) {
        Ok(l) => l,
        Err(e) => return failure_page(&admin, &headers, Nav::Shipments, e.into()),
    };
    render(&admin, &filter, &listing, None, None, StatusCode::OK)
}

/// `POST /admin/shipments/bulk`: prepares every selected shipment on its own.
pub async fn bulk(admin: Admin, headers: HeaderMap, body: Body) -> Response {
    let Ok(bytes) = axum::body::to_bytes(body, FORM_BYTES_MAX).await else {
        return failure_page(
            &admin,
            &headers,
            Nav::Shipments,
            Failure::new(StatusCode::PAYLOAD_TOO_LARGE, "The form is too large."),
        );
    };
    let form = FormData::parse(&bytes);
    let mut filter = Filter::from_form(&form);
    filter.after = None;
    let mut ids: Vec<String> = Vec::new();
    for id in form.all("ids") {
        if !id.is_empty() && !ids.iter().any(|i| i == id) {
            ids.push(id.to_owned());
        }
    }
    let refuse = |notice: String, status: StatusCode| {
        let listing = admin.state.store.read().and_then(|r| find(&r, &filter));
        match listing {
            Ok(listing) => render(
                &admin,
                &filter,
                &listing,
                None,
                Some(Notice::Error(notice)),
                status,
            ),
            Err(e) => failure_page(&admin, &headers, Nav::Shipments, e.into()),
        }
    };
    if form.get("action") != Some("prepare") {
        return refuse(
            "Choose an action from the menu under the list.".to_owned(),
            StatusCode::UNPROCESSABLE_ENTITY,
        );
    }
    if ids.is_empty() {
        return refuse(
            "Select at least one shipment with its checkbox, then choose the action again."
                .to_owned(),
            StatusCode::UNPROCESSABLE_ENTITY,
        );
    }
    if ids.len() > BULK_IDS_MAX {
        return refuse(
            format!("Select at most {BULK_IDS_MAX} shipments at once."),
            StatusCode::UNPROCESSABLE_ENTITY,
        );
    }
    let results = match admin.state.fulfilment.prepare_many(ids).await {
        Ok(r) => r,
        Err(e) => return failure_page(&admin, &headers, Nav::Shipments, e.into()),
    };
    let reader = admin.state.store.read();
    let outcomes: Vec<Outcome> = results
        .into_iter()
        .map(|(id, result)| {
            let shipment = reader
                .as_ref()
                .ok()
                .and_then(|r| r.shipment(&id).ok().flatten());
            let order_number = shipment.as_ref().and_then(|s| {
                reader
                    .as_ref()
                    .ok()
                    .and_then(|r| r.order(&s.data().order_id).ok().flatten())
                    .map(|o| o.external_id)
            });
            Outcome {
                buyer: shipment.as_ref().map(|s| s.data().buyer.email.clone()),
                order_number,
                id,
                error: result.err().map(|e| Failure::from(ApiError::from(e))),
            }
        })
        .collect();
    let listing = match admin.state.store.read().and_then(|r| find(&r, &filter)) {
        Ok(l) => l,
        Err(e) => return failure_page(&admin, &headers, Nav::Shipments, e.into()),
    };
    render(
        &admin,
        &filter,
        &listing,
        Some(&outcomes),
        None,
        StatusCode::OK,
    )
}
