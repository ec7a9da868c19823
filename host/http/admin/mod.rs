//! The seller's admin pages under `/admin`: server-rendered HTML (maud,
//! compiled in), a little JavaScript for upload progress, select-all and
//! confirmations, and every action also a plain form POST.
//!
//! Every page and action needs a session ([`session::guard`]); every POST
//! its CSRF token. Pages call the same use cases as the JSON API.

mod forms;
mod layout;
mod orders;
mod personalization;
mod plugins;
mod products;
mod session;
mod settings;
mod shipment;
mod shipments;

use axum::Router;
use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use maud::{Markup, html};

use super::AppState;
use super::error::ApiError;
use super::pages;
use crate::fulfilment::FulfilError;
use crate::store::StoreError;
pub use session::Session;

/// The admin pages, to be nested under `/admin`.
pub fn router(state: AppState) -> Router<AppState> {
    let signed_in = Router::new()
        .route("/", get(|| async { Redirect::to("/admin/orders") }))
        .route("/orders", get(orders::list))
        .route("/orders/{id}", get(orders::show))
        .route("/shipments", get(shipments::list))
        .route("/shipments/bulk", post(shipments::bulk))
        .route("/shipments/{id}", get(shipment::show).post(shipment::save))
        .route("/shipments/{id}/files", post(shipment::upload))
        .route(
            "/shipments/{id}/files/{file_id}/remove",
            post(shipment::remove_file),
        )
        .route(
            "/shipments/{id}/items/{item_id}/remove",
            post(shipment::remove_item),
        )
        .route("/shipments/{id}/{action}", post(shipment::act))
        .route("/products", get(products::list).post(products::save))
        .route("/products/new", get(products::new))
        .route("/products/{sku}/edit", get(products::edit))
        .route("/plugins", get(plugins::list).post(plugins::install))
        .route("/settings", get(settings::show))
        .route("/logout", post(session::logout))
        .route_layer(middleware::from_fn_with_state(state, session::guard));
    Router::new()
        .route("/login", get(session::login_page).post(session::login))
        .route("/assets/{name}", get(asset))
        .merge(signed_in)
        .fallback(not_found)
        .layer(middleware::from_fn(security_headers))
}

/// A signed-in request: the app's state and the seller's session.
pub struct Admin {
    pub state: AppState,
    pub session: Session,
}

impl Admin {
    /// The hidden CSRF field every form carries (first, for multipart forms).
    pub fn csrf_field(&self) -> Markup {
        html! { input type="hidden" name="csrf" value=(self.session.csrf_token); }
    }
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let session = parts.extensions.get::<Session>().cloned().ok_or_else(|| {
            // Only reachable if a route escaped the guard: refuse, never serve.
            session::forbidden(&parts.headers, "You are not signed in.")
        })?;
        Ok(Admin {
            state: state.clone(),
            session,
        })
    }
}

/// Strict headers on every admin response: no framing, no inline script,
/// nothing from other origins, never cached.
async fn security_headers(req: axum::extract::Request, next: Next) -> Response {
    let is_asset = req.uri().path().starts_with("/assets/");
    let mut response = next.run(req).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if !is_asset {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// The embedded stylesheet and script.
async fn asset(Path(name): Path<String>) -> Response {
    let (body, content_type) = match name.as_str() {
        "admin.css" => (pages::ADMIN_CSS, "text/css; charset=utf-8"),
        "admin.js" => (pages::ADMIN_JS, "text/javascript; charset=utf-8"),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, content_type),
            // The URL carries the content's hash: a new build gets a new URL.
            (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
        ],
        body,
    )
        .into_response()
}

async fn not_found() -> Response {
    let page = layout::bare_page(
        "Not found",
        html! {
            div.auth-card {
                h1 { "Page not found" }
                p { "There is no admin page at this address." }
                p { a.btn.btn-primary href="/admin/orders" { "Go to orders" } }
            }
        },
    );
    (StatusCode::NOT_FOUND, page).into_response()
}

/// Whether the caller (our script) wants JSON back.
pub fn wants_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

/// `{"error": "..."}` with a status, for our script.
pub fn json_error(status: StatusCode, message: &str) -> Response {
    let mut response =
        (status, axum::Json(serde_json::json!({ "error": message }))).into_response();
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// An error as JSON for scripts or as a page for people.
pub fn json_or_page_error(headers: &HeaderMap, status: StatusCode, message: &str) -> Response {
    if wants_json(headers) {
        return json_error(status, message);
    }
    let page = layout::bare_page(
        "Error",
        html! {
            div.auth-card {
                h1 { "That did not work" }
                p { (message) }
                p { a.btn.btn-primary href="/admin/orders" { "Back to the admin pages" } }
            }
        },
    );
    (status, page).into_response()
}

/// A storage failure: logged, answered without detail.
pub fn storage_failure(e: StoreError) -> Response {
    tracing::error!(error = %e, "storage failure on an admin page");
    let page = layout::bare_page(
        "Error",
        html! {
            div.auth-card {
                h1 { "Something went wrong" }
                p { "The server could not complete the request; nothing was changed. Try again in a moment." }
            }
        },
    );
    (StatusCode::INTERNAL_SERVER_ERROR, page).into_response()
}

/// A refused request: the status and a sentence for the seller.
#[derive(Debug, Clone)]
pub struct Failure {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl Failure {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Failure {
        Failure {
            status,
            code: "validation_failed",
            message: message.into(),
        }
    }

    pub fn not_found(what: &str) -> Failure {
        Failure {
            status: StatusCode::NOT_FOUND,
            code: "not_found",
            message: format!("There is no {what} with this id."),
        }
    }
}

impl From<FulfilError> for Failure {
    fn from(e: FulfilError) -> Self {
        ApiError::from(e).into()
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        FulfilError::Store(e).into()
    }
}

impl From<ApiError> for Failure {
    fn from(e: ApiError) -> Self {
        Failure {
            status: e.status,
            code: e.code,
            message: sentence(&e.detail),
        }
    }
}

/// An error detail as a sentence: capital first letter, full stop.
pub fn sentence(detail: &str) -> String {
    let mut chars = detail.trim().chars();
    let mut out: String = match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => return String::new(),
    };
    if !out.ends_with(['.', '!', '?']) {
        out.push('.');
    }
    out
}

/// A failure shown in the admin frame (or as JSON to our script).
pub fn failure_page(admin: &Admin, headers: &HeaderMap, nav: layout::Nav, f: Failure) -> Response {
    if wants_json(headers) {
        return json_error(f.status, &f.message);
    }
    let title = if f.status == StatusCode::NOT_FOUND {
        "Not found"
    } else {
        "That did not work"
    };
    let page = layout::page(
        admin,
        nav,
        title,
        Vec::new(),
        Some(layout::Notice::Error(f.message.clone())),
        html! { p { a.btn href="/admin/orders" { "Back to orders" } } },
    );
    (f.status, page).into_response()
}

#[cfg(test)]
mod tests {
    use super::sentence;

    #[test]
    fn details_become_sentences() {
        assert_eq!(
            sentence("the shipment has no files"),
            "The shipment has no files."
        );
        assert_eq!(sentence("Done!"), "Done!");
        assert_eq!(sentence(""), "");
    }
}
