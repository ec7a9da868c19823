//! The buyer's side: the page behind a download link, the waiver, and the published keys.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};

use super::AppState;
use super::dto::{BuyerContent, BuyerFile, ItemBody, KeySet, PublicKeyBody};
use super::error::{ApiError, Problem};
use crate::fulfilment::BuyerView;
use crate::notify::message::escape;

pub(super) fn wants_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"))
}

fn content(view: &BuyerView, link: &str) -> BuyerContent {
    if view.waiver_required {
        return BuyerContent {
            files: Vec::new(),
            items: Vec::new(),
            waiver_required: true,
            waiver_url: Some(format!("{link}/waiver")),
        };
    }
    let d = view.shipment.data();
    BuyerContent {
        files: d
            .files
            .iter()
            .map(|f| BuyerFile {
                name: f.file.name.clone(),
                size: f.file.size,
                url: format!("{link}/files/{}", f.file.id),
            })
            .collect(),
        items: d
            .items
            .iter()
            .map(|i| ItemBody {
                label: i.label.clone(),
                value: i.value.clone(),
            })
            .collect(),
        waiver_required: false,
        waiver_url: None,
    }
}

fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<meta name=\"referrer\" content=\"no-referrer\"><meta name=\"robots\" content=\"noindex\">\
<title>{}</title><style>\
body{{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem;color:#1f2937;line-height:1.5}}\
h1{{font-size:1.5rem}}dl{{display:grid;grid-template-columns:max-content 1fr;gap:.5rem 1rem}}\
dd{{margin:0;font-family:ui-monospace,monospace;word-break:break-all}}\
button{{font:inherit;padding:.6rem 1.2rem;border:0;border-radius:.4rem;background:#1d4ed8;color:#fff;cursor:pointer}}\
.note{{color:#4b5563}}</style></head><body>{}</body></html>",
        escape(title),
        body
    )
}

pub(super) fn error_response(e: ApiError, json: bool) -> Response {
    if json {
        return e.into_response();
    }
    let (title, what) = match e.code {
        "token_expired" => (
            "This link has expired",
            "Ask the shop to send you a new link.",
        ),
        "token_revoked" => (
            "This link no longer works",
            "The shop withdrew access to this order, or sent you a newer link. Contact the shop if this is unexpected.",
        ),
        "token_invalid" => (
            "This link is not valid",
            "Check that you copied the whole link from the e-mail.",
        ),
        "download_limit_reached" => (
            "Download limit reached",
            "This file was downloaded as many times as the shop allows. Ask the shop to reset the limit.",
        ),
        "waiver_required" => (
            "Please confirm first",
            "Open the link from your e-mail and confirm the waiver before downloading.",
        ),
        "not_found" => ("Not found", "This order has no such file."),
        _ => ("Something went wrong", "Please try again in a moment."),
    };
    let body = format!(
        "<h1>{}</h1><p>{}</p><p class=\"note\">{}</p>",
        escape(title),
        escape(what),
        escape(&e.detail)
    );
    (e.status, Html(page(title, &body))).into_response()
}

fn link_of(state: &AppState, token: &str) -> String {
    state.fulfilment.download_url(token)
}

#[utoipa::path(get, path = "/d/{token}", tag = "buyer",
    responses((status = 200, body = BuyerContent, description = "HTML for people, JSON for `Accept: application/json`"),
              (status = 403, body = Problem, description = "`token_invalid`"),
              (status = 410, body = Problem, description = "`token_expired` or `token_revoked`")))]
pub async fn open_link(
    State(state): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> Response {
    let json = wants_json(&headers);
    let view = match state.fulfilment.open_link(&token).await {
        Ok(view) => view,
        Err(e) => return error_response(e.into(), json),
    };
    let link = link_of(&state, &token);
    let content = content(&view, &link);
    if json {
        return Json(content).into_response();
    }
    let shop = escape(&state.shop_name);
    let body = if view.waiver_required {
        format!(
            "<h1>Your order from {shop}</h1>\
<p>This order contains digital content. Before you can open it, please confirm:</p>\
<form method=\"post\" action=\"{}/waiver\">\
<p><label><input type=\"checkbox\" name=\"consent\" required> I ask for the digital content to be delivered now, \
and I acknowledge that I thereby lose my right of withdrawal.</label></p>\
<button type=\"submit\">Confirm and open my order</button></form>",
            escape(&link)
        )
    } else {
        let mut files = String::new();
        for file in &content.files {
            files.push_str(&format!(
                "<li><a href=\"{}\" download>{}</a> <span class=\"note\">({})</span></li>",
                escape(&file.url),
                escape(&file.name),
                human_size(file.size)
            ));
        }
        if !files.is_empty() {
            files = format!("<h2>Files</h2><ul>{files}</ul>");
        }
        let mut items = String::new();
        for item in &content.items {
            items.push_str(&format!(
                "<dt>{}</dt><dd>{}</dd>",
                escape(&item.label),
                escape(&item.value)
            ));
        }
        format!("<h1>Your order from {shop}</h1>{files}<dl>{items}</dl>")
    };
    let mut response =
        Html(page(&format!("Your order from {}", state.shop_name), &body)).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        "no-store".parse().expect("static header"),
    );
    response
}

#[utoipa::path(post, path = "/d/{token}/waiver", tag = "buyer",
    responses((status = 200, body = BuyerContent, description = "with `Accept: application/json`"),
              (status = 303, description = "back to the link, for people"),
              (status = 403, body = Problem), (status = 410, body = Problem)))]
pub async fn accept_waiver(
    State(state): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> Response {
    let json = wants_json(&headers);
    if let Err(e) = state.fulfilment.accept_waiver(&token).await {
        return error_response(e.into(), json);
    }
    if json {
        return open_link(State(state), Path(token), headers).await;
    }
    Redirect::to(&link_of(&state, &token)).into_response()
}

#[utoipa::path(get, path = "/.well-known/waybill/keys", tag = "buyer",
    responses((status = 200, body = KeySet, description = "the keys that verify download tokens (PASETO v4.public)")))]
pub async fn public_keys(State(state): State<AppState>) -> Json<KeySet> {
    Json(KeySet {
        keys: state
            .fulfilment
            .keys()
            .public_keys()
            .into_iter()
            .map(|k| PublicKeyBody {
                kid: k.kid,
                alg: "Ed25519",
                public_key: k.public_key,
            })
            .collect(),
    })
}

/// Answers 200 once the server serves.
pub async fn healthz() -> (StatusCode, &'static str) {
    (StatusCode::OK, "ok\n")
}

/// A size as people read it: 1.5 MB, 820 kB, 12 bytes.
fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["kB", "MB", "GB", "TB"];
    if bytes < 1000 {
        return format!("{bytes} bytes");
    }
    let mut value = bytes as f64 / 1000.0;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}
