//! A digital shipment's details page and its actions: attach files (streamed,
//! with progress), add and remove text items, mark prepared (final, after a
//! confirmation), and, once prepared, resend, revoke, reset downloads, new link.

use axum::body::Body;
use axum::extract::{OriginalUri, Path};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Json};
use maud::{Markup, html};

use super::forms::{Field, FormData, FormError, Multipart};
use super::layout::{self, Crumb, Nav, Notice};
use super::session::{CsrfPending, FORM_BYTES_MAX};
use super::{Admin, Failure, failure_page, wants_json};
use crate::domain::{FileSource, Order, Shipment, ShipmentStatus, TextItem, check_item};
use crate::fulfilment::UploadMeta;
use crate::http::files::sanitize_file_name;
use crate::http::pages::{self, icon, notification_badge, size_binary, status_badge};
use crate::store::Source;

/// What a `?done=` after an action says.
fn done_notice(code: &str) -> Option<Notice> {
    let text = match code {
        "file_attached" => "File attached.",
        "item_added" => "Text item added.",
        "saved" => "Saved: the file is attached and the text item added.",
        "file_removed" => "File removed.",
        "item_removed" => "Text item removed.",
        "prepared" => "Shipment prepared. The buyer's e-mail with the download link is on its way.",
        "resent" => "The notification e-mail was queued again.",
        "revoked" => "Access revoked: the buyer's link no longer opens this shipment.",
        "downloads_reset" => "Download counts reset: the buyer can download every file again.",
        "new_link" => {
            "A new link was issued and e-mailed to the buyer; the previous link no longer works."
        }
        "cancelled" => "Shipment cancelled.",
        "personalize_queued" => {
            "The plugin runs again; its items and files replace those of its last run."
        }
        "nothing" => {
            return Some(Notice::Info(
                "Nothing to save: choose a file or fill in a text item first.".to_owned(),
            ));
        }
        _ => return None,
    };
    Some(Notice::Success(text.to_owned()))
}

/// The exact warning before preparing: final, and the buyer is e-mailed.
fn prepare_warning(email: &str) -> String {
    format!(
        "This is final: the shipment's files and text items can no longer be changed, \
         and {email} is e-mailed the download link right away."
    )
}

/// The confirmation a final or disruptive action asks for: (question, consequence, button).
fn confirmation(action: &str, email: &str) -> Option<(&'static str, String, &'static str)> {
    match action {
        "prepare" => Some((
            "Mark this shipment as prepared?",
            prepare_warning(email),
            "Yes, mark as prepared and e-mail the buyer",
        )),
        "revoke" => Some((
            "Revoke the buyer's access?",
            format!(
                "The download link stops working for good and {email} can no longer open the files. \
                 Revoking cannot be undone."
            ),
            "Yes, revoke access",
        )),
        "new-link" => Some((
            "Issue a new link?",
            format!(
                "The current link stops working, and {email} is e-mailed a new link with a fresh expiry date."
            ),
            "Yes, issue and e-mail a new link",
        )),
        "cancel" => Some((
            "Cancel this shipment?",
            "Its files and text items are dropped and it can no longer be prepared. Cancelling cannot be undone."
                .to_owned(),
            "Yes, cancel the shipment",
        )),
        _ => None,
    }
}

fn details_url(id: &str, done: &str) -> String {
    format!("/admin/shipments/{id}?done={done}")
}

/// Loads a shipment and its order.
fn load(admin: &Admin, id: &str) -> Result<(Shipment, Option<Order>), Failure> {
    let reader = admin.state.store.read()?;
    let shipment = reader
        .shipment(id)?
        .ok_or_else(|| Failure::not_found("digital shipment"))?;
    let order = reader.order(&shipment.data().order_id)?;
    Ok((shipment, order))
}

/// The details page, with a notice, answered with `status`.
fn render_details(
    admin: &Admin,
    headers: &HeaderMap,
    id: &str,
    notice: Option<Notice>,
    status: StatusCode,
) -> Response {
    match load(admin, id) {
        Ok((shipment, order)) => {
            let page = details(admin, &shipment, order.as_ref(), notice);
            (status, page).into_response()
        }
        Err(f) => failure_page(admin, headers, Nav::Shipments, f),
    }
}

/// An action's failure: JSON for our script, else the details page with the reason.
fn refused(admin: &Admin, headers: &HeaderMap, id: &str, f: Failure) -> Response {
    if wants_json(headers) {
        return super::json_error(f.status, &f.message);
    }
    if f.status == StatusCode::NOT_FOUND && f.code == "not_found" && load(admin, id).is_err() {
        return failure_page(admin, headers, Nav::Shipments, f);
    }
    render_details(admin, headers, id, Some(Notice::Error(f.message)), f.status)
}

/// `GET /admin/shipments/{id}`.
pub async fn show(
    admin: Admin,
    Path(id): Path<String>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Response {
    let notice = FormData::query(&uri).get("done").and_then(done_notice);
    render_details(&admin, &headers, &id, notice, StatusCode::OK)
}

fn upload_limit_message(limit: u64) -> String {
    format!(
        "The file is larger than {}, the largest file you can attach. Nothing was attached.",
        size_binary(limit)
    )
}

fn form_failure(e: FormError, limit: u64) -> Failure {
    match e {
        FormError::Csrf => Failure::new(
            StatusCode::FORBIDDEN,
            "The form's security token is missing or out of date. Reload the page and try again.",
        ),
        FormError::TooLarge => {
            Failure::new(StatusCode::PAYLOAD_TOO_LARGE, "The form is too large.")
        }
        FormError::Malformed(detail) if detail.contains("size limit") => {
            Failure::new(StatusCode::PAYLOAD_TOO_LARGE, upload_limit_message(limit))
        }
        FormError::Malformed(_) => Failure::new(
            StatusCode::BAD_REQUEST,
            "The form could not be read; the upload may have been interrupted. Nothing was attached.",
        ),
    }
}

/// A failure of an upload, with the limit spelled out for 413.
fn upload_failure(e: crate::fulfilment::FulfilError, limit: u64) -> Failure {
    let f = Failure::from(e);
    if f.status == StatusCode::PAYLOAD_TOO_LARGE {
        return Failure::new(StatusCode::PAYLOAD_TOO_LARGE, upload_limit_message(limit));
    }
    f
}

/// Checks a text item as typed into the form; `\r\n` from browsers becomes `\n`.
fn item_from_form(label: &str, value: &str) -> Result<Option<(String, String)>, Failure> {
    let label = label.trim().to_owned();
    let value = value.replace("\r\n", "\n").replace('\r', "\n");
    let value = value.trim().to_owned();
    if label.is_empty() && value.is_empty() {
        return Ok(None);
    }
    let unprocessable = |m: &str| Failure::new(StatusCode::UNPROCESSABLE_ENTITY, m);
    if label.is_empty() {
        return Err(unprocessable(
            "Give the text item a label, for example “Contract number”. Nothing was added.",
        ));
    }
    if value.is_empty() {
        return Err(unprocessable(
            "Give the text item a value. Nothing was added.",
        ));
    }
    check_item(&label, &value)
        .map_err(|e| unprocessable(&super::sentence(&e.0.replace('`', ""))))?;
    Ok(Some((label, value)))
}

/// `POST /admin/shipments/{id}`: the Save button. Attaches the chosen file
/// (streamed) and adds the typed text item.
pub async fn save(
    admin: Admin,
    Path(id): Path<String>,
    pending: Option<Extension<CsrfPending>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let limit = admin.state.upload_bytes_max;
    let mut form = FormData::default();
    let mut attached = false;
    if pending.is_some() {
        let mut multipart =
            match Multipart::open(&headers, body, &admin.session, pending.as_deref()).await {
                Ok(m) => m,
                Err(e) => return refused(&admin, &headers, &id, form_failure(e, limit)),
            };
        loop {
            let field = match multipart.next().await {
                Ok(Some(field)) => field,
                Ok(None) => break,
                Err(e) => return refused(&admin, &headers, &id, form_failure(e, limit)),
            };
            match field {
                Field::Text { name, value } => form.push(name, value),
                Field::File(file)
                    if file.name == "file" && !file.file_name.is_empty() && !attached =>
                {
                    let Some(name) = sanitize_file_name(&file.file_name) else {
                        return refused(
                            &admin,
                            &headers,
                            &id,
                            Failure::new(
                                StatusCode::UNPROCESSABLE_ENTITY,
                                "The file's name has no usable characters; rename it and try again.",
                            ),
                        );
                    };
                    let meta = UploadMeta {
                        name,
                        content_type: file.content_type.clone(),
                    };
                    if let Err(e) = admin
                        .state
                        .fulfilment
                        .attach_upload(id.clone(), file.stream(), meta)
                        .await
                    {
                        return refused(&admin, &headers, &id, upload_failure(e, limit));
                    }
                    attached = true;
                }
                Field::File(file) => {
                    if let Err(e) = file.skip().await {
                        return refused(&admin, &headers, &id, form_failure(e, limit));
                    }
                }
            }
        }
    } else {
        match axum::body::to_bytes(body, FORM_BYTES_MAX).await {
            Ok(bytes) => form = FormData::parse(&bytes),
            Err(_) => {
                return refused(
                    &admin,
                    &headers,
                    &id,
                    Failure::new(StatusCode::PAYLOAD_TOO_LARGE, "The form is too large."),
                );
            }
        }
    }
    let item = match item_from_form(
        form.get("item_label").unwrap_or(""),
        form.get("item_value").unwrap_or(""),
    ) {
        Ok(item) => item,
        Err(f) if attached => {
            let f = Failure {
                message: format!(
                    "The file was attached, but the text item was not added: {}",
                    f.message
                ),
                ..f
            };
            return refused(&admin, &headers, &id, f);
        }
        Err(f) => return refused(&admin, &headers, &id, f),
    };
    let added = match item {
        Some((label, value)) => {
            if let Err(e) = admin
                .state
                .fulfilment
                .add_item(id.clone(), label, value)
                .await
            {
                let mut f = Failure::from(e);
                if attached {
                    f.message = format!(
                        "The file was attached, but the text item was not added: {}",
                        f.message
                    );
                }
                return refused(&admin, &headers, &id, f);
            }
            true
        }
        None => false,
    };
    // Our script uploads the file first, then posts the rest with `attached=1`.
    let attached = attached || form.get("attached") == Some("1");
    let done = match (attached, added) {
        (true, true) => "saved",
        (true, false) => "file_attached",
        (false, true) => "item_added",
        (false, false) => "nothing",
    };
    Redirect::to(&details_url(&id, done)).into_response()
}

/// `POST /admin/shipments/{id}/files`: one file, either as the raw body
/// (our script: `?name=`, `X-CSRF-Token`, progress events) or as a
/// multipart form (plain browsers).
pub async fn upload(
    admin: Admin,
    Path(id): Path<String>,
    OriginalUri(uri): OriginalUri,
    pending: Option<Extension<CsrfPending>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if pending.is_some() {
        // A plain form: the same as Save with only a file.
        return save(admin, Path(id), pending, headers, body).await;
    }
    let limit = admin.state.upload_bytes_max;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return super::json_error(StatusCode::PAYLOAD_TOO_LARGE, &upload_limit_message(limit));
    }
    let query = FormData::query(&uri);
    let Some(name) = query.get("name").and_then(sanitize_file_name) else {
        return super::json_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "The file's name is missing or has no usable characters.",
        );
    };
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map_or_else(
            || "application/octet-stream".to_owned(),
            super::forms::media_type_or_default,
        );
    let meta = UploadMeta { name, content_type };
    match admin
        .state
        .fulfilment
        .attach_upload(id.clone(), body.into_data_stream(), meta)
        .await
    {
        Ok(file) => (
            StatusCode::CREATED,
            Json(serde_json::json!({
                "redirect": details_url(&id, "file_attached"),
                "file": {"id": file.file.id, "name": file.file.name, "size": file.file.size},
            })),
        )
            .into_response(),
        Err(e) => {
            let f = upload_failure(e, limit);
            super::json_error(f.status, &f.message)
        }
    }
}

/// `POST /admin/shipments/{id}/files/{file_id}/remove`.
pub async fn remove_file(
    admin: Admin,
    Path((id, file_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    match admin
        .state
        .fulfilment
        .detach_file(id.clone(), file_id)
        .await
    {
        Ok(()) => Redirect::to(&details_url(&id, "file_removed")).into_response(),
        Err(e) => refused(&admin, &headers, &id, e.into()),
    }
}

/// `POST /admin/shipments/{id}/items/{item_id}/remove`.
pub async fn remove_item(
    admin: Admin,
    Path((id, item_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    match admin
        .state
        .fulfilment
        .remove_item(id.clone(), item_id)
        .await
    {
        Ok(()) => Redirect::to(&details_url(&id, "item_removed")).into_response(),
        Err(e) => refused(&admin, &headers, &id, e.into()),
    }
}

/// `POST /admin/shipments/{id}/{action}`: prepare, resend, revoke,
/// reset-downloads, new-link, cancel. Final or disruptive ones need
/// `confirmed=1` (set by the script's confirm(), or by the confirmation page).
pub async fn act(
    admin: Admin,
    Path((id, action)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let form = match axum::body::to_bytes(body, FORM_BYTES_MAX).await {
        Ok(bytes) => FormData::parse(&bytes),
        Err(_) => FormData::default(),
    };
    let (shipment, order) = match load(&admin, &id) {
        Ok(r) => r,
        Err(f) => return failure_page(&admin, &headers, Nav::Shipments, f),
    };
    let email = shipment.data().buyer.email.clone();
    if let Some((question, consequence, button)) = confirmation(&action, &email)
        && form.get("confirmed") != Some("1")
    {
        return confirm_page(
            &admin,
            &shipment,
            order.as_ref(),
            &action,
            question,
            &consequence,
            button,
        );
    }
    let f = &admin.state.fulfilment;
    let (result, done) = match action.as_str() {
        "prepare" => (f.prepare(id.clone()).await.map(drop), "prepared"),
        "resend" => (f.resend(id.clone()).await.map(drop), "resent"),
        "revoke" => (f.revoke(id.clone()).await.map(drop), "revoked"),
        "reset-downloads" => (
            f.reset_downloads(id.clone()).await.map(drop),
            "downloads_reset",
        ),
        "new-link" => (f.reissue_link(id.clone()).await.map(drop), "new_link"),
        "cancel" => (f.cancel(id.clone()).await.map(drop), "cancelled"),
        "personalize" => (
            f.queue_personalization(id.clone()).await.map(drop),
            "personalize_queued",
        ),
        _ => {
            return failure_page(
                &admin,
                &headers,
                Nav::Shipments,
                Failure::not_found("action"),
            );
        }
    };
    match result {
        Ok(()) => Redirect::to(&details_url(&id, done)).into_response(),
        Err(e) => refused(&admin, &headers, &id, e.into()),
    }
}

/// The no-script confirmation of a final or disruptive action.
fn confirm_page(
    admin: &Admin,
    shipment: &Shipment,
    order: Option<&Order>,
    action: &str,
    question: &str,
    consequence: &str,
    button: &str,
) -> Response {
    let id = &shipment.data().id;
    let danger = matches!(action, "revoke" | "cancel");
    let body = html! {
        section.card.confirm-card aria-labelledby="confirm-h" {
            h1 #confirm-h { (question) }
            p.lead { (consequence) }
            div.form-actions {
                form method="post" action={ "/admin/shipments/" (id) "/" (action) } {
                    (admin.csrf_field())
                    input type="hidden" name="confirmed" value="1";
                    button.btn.btn-primary.btn-danger[danger] type="submit" autofocus { (button) }
                }
                a.btn href={ "/admin/shipments/" (id) } { "No, go back" }
            }
        }
    };
    layout::page(
        admin,
        Nav::Shipments,
        question,
        crumbs(shipment, order),
        None,
        body,
    )
    .into_response()
}

fn crumbs(shipment: &Shipment, order: Option<&Order>) -> Vec<Crumb> {
    let mut crumbs = vec![Crumb::link("Orders", "/admin/orders")];
    if let Some(order) = order {
        crumbs.push(Crumb::link(
            format!("Order {}", order.external_id),
            format!("/admin/orders/{}#shipments", order.id),
        ));
    } else {
        crumbs.push(Crumb::link("Digital shipments", "/admin/shipments"));
    }
    crumbs.push(Crumb::here(format!(
        "Shipment {}",
        super::shipments::short_id(&shipment.data().id)
    )));
    crumbs
}

fn source_label(source: FileSource) -> &'static str {
    match source {
        FileSource::Upload => "Uploaded",
        FileSource::Plugin => "Plugin",
        FileSource::Product => "Product file",
    }
}

/// The details page.
fn details(
    admin: &Admin,
    shipment: &Shipment,
    order: Option<&Order>,
    notice: Option<Notice>,
) -> axum::response::Html<String> {
    let d = shipment.data();
    let status = shipment.status();
    let editable = status == ShipmentStatus::InPreparation;
    let limit = admin.state.upload_bytes_max;
    let id = &d.id;
    let product_names: Vec<(String, String)> = match order {
        Some(order) => d
            .line_indexes
            .iter()
            .filter_map(|&i| order.lines.get(i as usize))
            .map(|l| (l.product.name.clone(), l.sku.clone()))
            .collect(),
        None => d
            .product_skus
            .iter()
            .map(|s| (s.clone(), s.clone()))
            .collect(),
    };
    let n = &d.notification;
    let body = html! {
        (layout::heading(
            html! { "Digital shipment " (status_badge(status)) },
            None,
        ))
        p.subtitle.mono.small { (id) }
        div.detail-grid {
            div.detail-main {
                section.card aria-labelledby="content-h" {
                    div.card-head {
                        h2 #content-h { "Content" }
                        @if !editable && status.is_prepared() {
                            span.muted.small { (icon::lock()) " Read-only: prepared " @if let Some(t) = d.prepared_at { (pages::time(t)) } }
                        }
                    }
                    h3 { "Files" }
                    @if d.files.is_empty() {
                        p.muted #no-files { @if editable { "No files yet." } @else { "No files." } }
                    } @else {
                        div.table-wrap {
                            table.table.compact #files {
                                thead { tr {
                                    th scope="col" { "Name" }
                                    th scope="col" .num { "Size" }
                                    th scope="col" { "Source" }
                                    th scope="col" .num { "Downloads" }
                                    @if editable { th scope="col" { span.visually-hidden { "Remove" } } }
                                } }
                                tbody {
                                    @for f in &d.files {
                                        tr {
                                            td { span.file-cell { (icon::file()) span.file-name { (f.file.name) } } }
                                            td.num.nowrap { (size_binary(f.file.size)) }
                                            td.small { (source_label(f.source)) }
                                            td.num.nowrap {
                                                (shipment.downloads_of(&f.file.id))
                                                @if let Some(limit) = d.terms.download_limit { span.muted { " / " (limit) } }
                                            }
                                            @if editable {
                                                td.right {
                                                    form method="post" action={ "/admin/shipments/" (id) "/files/" (f.file.id) "/remove" } {
                                                        (admin.csrf_field())
                                                        button.btn.btn-sm.btn-ghost.btn-danger-text type="submit" aria-label={ "Remove file " (f.file.name) } {
                                                            (icon::trash()) "Remove"
                                                        }
                                                    }
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                    h3 { "Text items" }
                    @if d.items.is_empty() {
                        p.muted #no-items { @if editable { "No text items yet." } @else { "No text items." } }
                    } @else {
                        (items_table(admin, id, &d.items, editable))
                    }
                    @if editable {
                        (edit_form(admin, id, limit))
                    }
                }
                @if let Some(card) = super::personalization::card(admin, shipment) {
                    (card)
                }
                @if editable {
                    (prepare_card(admin, shipment))
                }
                @if matches!(status, ShipmentStatus::Prepared | ShipmentStatus::Delivered) {
                    (access_card(admin, shipment))
                }
                @if status == ShipmentStatus::Revoked {
                    section.card.card-danger aria-labelledby="revoked-h" {
                        h2 #revoked-h { "Access revoked" }
                        p { "The buyer's link no longer opens this shipment"
                            @if let Some(t) = d.revoked_at { " (since " (pages::time(t)) ")" } ". Revoking is permanent." }
                    }
                }
                @if status == ShipmentStatus::AwaitingPayment {
                    section.card aria-labelledby="waiting-h" {
                        h2 #waiting-h { "Waiting for payment" }
                        p.muted { "Content can be attached once the order's payment is recorded." }
                    }
                }
                @if matches!(status, ShipmentStatus::AwaitingPayment | ShipmentStatus::InPreparation) {
                    details.danger-zone {
                        summary { "Cancel this shipment…" }
                        p.muted.small { "Cancelling drops its files and items; it can then no longer be prepared. This cannot be undone." }
                        form method="post" action={ "/admin/shipments/" (id) "/cancel" }
                            data-confirm="Cancel this shipment?\n\nIts files and text items are dropped and it can no longer be prepared. Cancelling cannot be undone." {
                            (admin.csrf_field())
                            input type="hidden" name="confirmed" value="";
                            button.btn.btn-sm.btn-danger type="submit" { "Cancel shipment" }
                        }
                    }
                }
            }
            aside.detail-side {
                section.card aria-labelledby="buyer-h" {
                    h2 #buyer-h { "Buyer" }
                    dl.facts {
                        dt { "Name" } dd { @if d.buyer.name.is_empty() { span.muted { "—" } } @else { (d.buyer.name) } }
                        dt { "E-mail" } dd.break { a href={ "mailto:" (d.buyer.email) } { (d.buyer.email) } }
                    }
                }
                section.card aria-labelledby="order-h" {
                    h2 #order-h { "Order" }
                    dl.facts {
                        @if let Some(order) = order {
                            dt { "Order" } dd { a href={ "/admin/orders/" (order.id) } { (order.external_id) } }
                        }
                        dt { "Products" }
                        dd {
                            @for (name, sku) in &product_names {
                                div { (name) " " span.muted.small.mono { (sku) } }
                            }
                        }
                        dt { "Downloads" } dd {
                            @match d.terms.download_limit { Some(l) => { (l) " per file" }, None => "Unlimited" }
                        }
                        dt { "Link valid" } dd { (pages::duration_hours(d.terms.link_ttl_hours)) }
                        dt { "Waiver" } dd {
                            @if d.terms.requires_withdrawal_waiver {
                                @match d.waiver_accepted_at { Some(t) => { "Confirmed " (pages::time(t)) }, None => "Required before download" }
                            } @else { "Not required" }
                        }
                    }
                }
                section.card aria-labelledby="timeline-h" {
                    h2 #timeline-h { "Timeline" }
                    ol.timeline {
                        (event("Created", Some(d.created_at), true))
                        (event("Paid", d.paid_at, d.paid_at.is_some() || status != ShipmentStatus::Cancelled))
                        @if status != ShipmentStatus::Cancelled || d.prepared_at.is_some() {
                            (event("Prepared", d.prepared_at, true))
                        }
                        @if d.waiver_accepted_at.is_some() { (event("Waiver confirmed", d.waiver_accepted_at, true)) }
                        @if status != ShipmentStatus::Cancelled && status != ShipmentStatus::Revoked || d.delivered_at.is_some() {
                            (event("Delivered (first download)", d.delivered_at, true))
                        }
                        @if let Some(t) = d.cancelled_at { (event("Cancelled", Some(t), true)) }
                        @if let Some(t) = d.revoked_at { (event("Revoked", Some(t), true)) }
                    }
                }
                section.card #notification aria-labelledby="notification-h" {
                    h2 #notification-h { "Buyer notification" }
                    dl.facts {
                        dt { "Status" } dd { (notification_badge(n.status, n.last_error.is_some())) }
                        dt { "Attempts" } dd { (n.attempts) }
                        @if let Some(t) = n.sent_at { dt { "Sent" } dd { (pages::time(t)) } }
                        @if let Some(err) = &n.last_error { dt { "Last error" } dd.error-text { (err) } }
                        @if let Some(link) = &d.token {
                            dt { "Link expires" } dd { (pages::time(link.expires_at)) }
                        }
                    }
                    @if let Some(link) = &d.token {
                        @if status != ShipmentStatus::Revoked {
                            div.field {
                                label for="buyer-link" { "Buyer's link" }
                                div.copy-row {
                                    input #buyer-link .input.mono.small type="text" readonly value=(admin.state.fulfilment.download_url(&link.token));
                                    button.btn.btn-sm type="button" data-copy-from="buyer-link" hidden { (icon::copy()) "Copy" }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    layout::page(
        admin,
        Nav::Shipments,
        &format!("Shipment {}", super::shipments::short_id(id)),
        crumbs(shipment, order),
        notice,
        body,
    )
}

fn event(label: &str, at: Option<time::OffsetDateTime>, show: bool) -> Markup {
    html! {
        @if show {
            li.done[at.is_some()] {
                span.tl-dot aria-hidden="true" {}
                span.tl-label { (label) }
                span.tl-time { @match at { Some(t) => (pages::time(t)), None => span.muted { "not yet" } } }
            }
        }
    }
}

fn items_table(admin: &Admin, id: &str, items: &[TextItem], editable: bool) -> Markup {
    html! {
        div.table-wrap {
            table.table.compact #items {
                thead { tr {
                    th scope="col" { "Label" }
                    th scope="col" { "Value" }
                    @if editable { th scope="col" { span.visually-hidden { "Remove" } } }
                } }
                tbody {
                    @for item in items {
                        tr {
                            td { (item.label) @if item.is_from_plugin() { " " span.flag.plugin-made title="Made by the product's plugin; replaced when it runs again" { "plugin" } } }
                            td { code.value { (item.value) } }
                            @if editable {
                                td.right {
                                    form method="post" action={ "/admin/shipments/" (id) "/items/" (item.id) "/remove" } {
                                        (admin.csrf_field())
                                        button.btn.btn-sm.btn-ghost.btn-danger-text type="submit" aria-label={ "Remove item " (item.label) } {
                                            (icon::trash()) "Remove"
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn edit_form(admin: &Admin, id: &str, limit: u64) -> Markup {
    html! {
        form.edit-form #edit method="post" action={ "/admin/shipments/" (id) } enctype="multipart/form-data"
            data-upload-url={ "/admin/shipments/" (id) "/files" } data-csrf=(admin.session.csrf_token) {
            (admin.csrf_field())
            fieldset {
                legend { "Attach a file" }
                div.field {
                    label for="file" { "File" }
                    input #file .input-file type="file" name="file" data-max-bytes=(limit)
                        aria-describedby="file-hint file-error";
                    p.hint #file-hint { "Up to " (size_binary(limit)) ". The buyer sees the file's name as it is." }
                    p.field-error #file-error role="alert" hidden {}
                    div.upload #upload hidden {
                        progress #upload-progress max="100" value="0" aria-label="Upload progress" {}
                        span.upload-status #upload-status aria-live="polite" {}
                    }
                }
            }
            fieldset {
                legend { "Add a text item" }
                div.field-row {
                    div.field {
                        label for="item-label" { "Label" }
                        input #item-label .input type="text" name="item_label" maxlength="200" placeholder="e.g. Contract number";
                    }
                    div.field.grow {
                        label for="item-value" { "Value" }
                        textarea #item-value .input name="item_value" rows="2" maxlength="10000" placeholder="e.g. UM/2026/0412" {}
                    }
                }
            }
            div.form-actions {
                button.btn.btn-primary type="submit" #save { "Save" }
                span.muted.small { "Saved content stays private until you mark the shipment prepared." }
            }
        }
    }
}

fn prepare_card(admin: &Admin, shipment: &Shipment) -> Markup {
    let d = shipment.data();
    let empty = !shipment.has_content();
    let warning = prepare_warning(&d.buyer.email);
    html! {
        section.card.card-accent #prepare aria-labelledby="prepare-h" {
            h2 #prepare-h { "Ready to deliver?" }
            p { (warning) }
            @if empty {
                p.hint #prepare-empty { "Attach a file or add a text item first: an empty shipment cannot be prepared." }
            }
            form method="post" action={ "/admin/shipments/" (d.id) "/prepare" }
                data-confirm={ "Mark this shipment as prepared?\n\n" (warning) } data-unsaved="edit" {
                (admin.csrf_field())
                input type="hidden" name="confirmed" value="";
                button.btn.btn-primary.btn-lg type="submit" disabled[empty]
                    aria-describedby=[empty.then_some("prepare-empty")] {
                    (icon::check()) "Mark as prepared"
                }
            }
        }
    }
}

fn access_card(admin: &Admin, shipment: &Shipment) -> Markup {
    let d = shipment.data();
    let id = &d.id;
    let email = &d.buyer.email;
    let action = |name: &str, label: &str, hint: &str, confirm: Option<String>, danger: bool| {
        html! {
            div.action-row {
                div {
                    div.strong { (label) }
                    div.muted.small { (hint) }
                }
                form method="post" action={ "/admin/shipments/" (id) "/" (name) } data-confirm=[confirm.clone()] {
                    (admin.csrf_field())
                    @if confirm.is_some() { input type="hidden" name="confirmed" value=""; }
                    button.btn.btn-sm.btn-danger[danger] type="submit" { (label) }
                }
            }
        }
    };
    let new_link = confirmation("new-link", email).map(|(q, c, _)| format!("{q}\n\n{c}"));
    let revoke = confirmation("revoke", email).map(|(q, c, _)| format!("{q}\n\n{c}"));
    html! {
        section.card aria-labelledby="access-h" {
            h2 #access-h { "Buyer access" }
            (action("resend", "Resend notification", "E-mail the same download link again.", None, false))
            (action("reset-downloads", "Reset downloads", "Let the buyer download every file again, up to the limit.", None, false))
            (action("new-link", "New link", "Replace the link (e.g. expired or leaked) and e-mail the new one.", new_link, false))
            (action("revoke", "Revoke access", "Refund or chargeback: block downloads for good.", revoke, true))
        }
    }
}
