//! The buyer's side: the page behind a download link, the waiver, and the published keys.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Redirect, Response};

use super::AppState;
use super::dto::{BuyerContent, BuyerFile, ItemBody, KeySet, PublicKeyBody};
use super::error::{ApiError, Problem};
use super::pages::{self, buyer::Lang};
use crate::fulfilment::BuyerView;
use crate::store::Source;

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

/// The buyer's language: `?lang=`, then `Accept-Language`, then English.
pub(super) fn language(uri: &Uri, headers: &HeaderMap) -> Lang {
    let query_lang = uri.query().and_then(|q| {
        q.split('&')
            .find_map(|pair| pair.strip_prefix("lang="))
            .filter(|v| v.len() <= 16)
    });
    let accept = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok());
    Lang::choose(query_lang, accept)
}

/// An HTML page the browser must not cache (it is behind a secret link).
fn html_page(status: StatusCode, lang: Option<Lang>, markup: maud::Markup) -> Response {
    let mut response = (status, Html(markup.into_string())).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::HeaderName::from_static("x-frame-options"),
        HeaderValue::from_static("DENY"),
    );
    headers.insert(header::VARY, HeaderValue::from_static("Accept-Language"));
    if let Some(lang) = lang {
        headers.insert(
            header::CONTENT_LANGUAGE,
            HeaderValue::from_static(lang.code()),
        );
    }
    response
}

/// An error for the buyer in the buyer's language.
pub(super) fn error_response_in(e: ApiError, json: bool, lang: Lang, state: &AppState) -> Response {
    if json {
        return e.into_response();
    }
    html_page(
        e.status,
        Some(lang),
        pages::buyer::error_page(lang, Some(&state.shop_name), e.code, None),
    )
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
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let json = wants_json(&headers);
    let lang = language(&uri, &headers);
    let view = match state.fulfilment.open_link(&token).await {
        Ok(view) => view,
        Err(e) => return error_response_in(e.into(), json, lang, &state),
    };
    let link = link_of(&state, &token);
    let content = content(&view, &link);
    if json {
        return Json(content).into_response();
    }
    let markup = if view.waiver_required {
        let action = format!("{link}/waiver?lang={}", lang.code());
        pages::buyer::waiver_page(lang, &state.shop_name, &link, &action)
    } else {
        let d = view.shipment.data();
        let order_number = state
            .store
            .read()
            .ok()
            .and_then(|r| r.order(&d.order_id).ok().flatten())
            .map(|o| o.external_id);
        let files = d
            .files
            .iter()
            .zip(&content.files)
            .map(|(f, shown)| pages::buyer::FileView {
                name: shown.name.clone(),
                size: shown.size,
                url: shown.url.clone(),
                downloads_left: d
                    .terms
                    .download_limit
                    .map(|limit| limit.saturating_sub(view.shipment.downloads_of(&f.file.id))),
            })
            .collect();
        pages::buyer::content_page(
            lang,
            &pages::buyer::ContentView {
                shop: state.shop_name.clone(),
                buyer_name: d.buyer.name.clone(),
                order_number,
                files,
                items: content
                    .items
                    .iter()
                    .map(|i| (i.label.clone(), i.value.clone()))
                    .collect(),
                expires_at: d.token.as_ref().map(|t| t.expires_at),
                link: link.clone(),
            },
        )
    };
    html_page(StatusCode::OK, Some(lang), markup)
}

#[utoipa::path(post, path = "/d/{token}/waiver", tag = "buyer",
    responses((status = 200, body = BuyerContent, description = "with `Accept: application/json`"),
              (status = 303, description = "back to the link, for people"),
              (status = 403, body = Problem), (status = 410, body = Problem)))]
pub async fn accept_waiver(
    State(state): State<AppState>,
    Path(token): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let json = wants_json(&headers);
    let lang = language(&uri, &headers);
    if let Err(e) = state.fulfilment.accept_waiver(&token).await {
        return error_response_in(e.into(), json, lang, &state);
    }
    if json {
        return open_link(State(state), Path(token), uri, headers).await;
    }
    let mut back = link_of(&state, &token);
    let asked = uri
        .query()
        .is_some_and(|q| q.split('&').any(|p| p.starts_with("lang=")));
    if asked {
        back.push_str("?lang=");
        back.push_str(lang.code());
    }
    Redirect::to(&back).into_response()
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
        license_keys: state
            .fulfilment
            .registry()
            .sandbox()
            .signer()
            .map(|signer| PublicKeyBody {
                kid: signer.key_id().to_owned(),
                alg: "Ed25519",
                public_key: base64::Engine::encode(
                    &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                    signer.verifying_key().as_bytes(),
                ),
            })
            .into_iter()
            .collect(),
    })
}

/// Answers 200 once the server serves.
pub async fn healthz() -> (StatusCode, &'static str) {
    (StatusCode::OK, "ok\n")
}
