//! The only code that knows HTTP: routes, extractors, problem documents, pages.

pub mod admin;
pub mod api;
pub mod buyer;
pub mod download;
pub mod dto;
pub mod error;
pub mod extract;
pub mod files;
pub mod openapi;
pub mod pages;
pub mod plugins;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use axum::routing::{delete, get, post, put};

use crate::config::JSON_BODY_BYTES_MAX;
use crate::fulfilment::Fulfilment;
use crate::store::Store;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub fulfilment: Fulfilment,
    pub store: Store,
    pub shop_name: String,
    pub upload_bytes_max: u64,
    /// How buyer e-mails leave: `SMTP (host:port)` or `the server log`.
    pub mail_transport: String,
    /// Announces each finished personalization (a retry waits for its own).
    pub personalized: tokio::sync::broadcast::Sender<crate::personalizer::Done>,
}

/// The whole HTTP application.
pub fn app(state: AppState) -> Router {
    let api = Router::new()
        .route(
            "/products/{sku}",
            put(api::put_product).get(api::get_product),
        )
        .route("/orders", post(api::create_order))
        .route("/orders/{id}", get(api::get_order))
        .route("/orders/{id}/payment", post(api::record_payment))
        .route("/shipments", get(api::list_shipments))
        .route("/shipments/prepare", post(api::prepare_many))
        .route("/shipments/{id}", get(api::get_shipment))
        .route("/shipments/{id}/items", post(api::add_item))
        .route("/shipments/{id}/items/{item_id}", delete(api::remove_item))
        .route("/shipments/{id}/prepare", post(api::prepare))
        .route("/shipments/{id}/cancel", post(api::cancel))
        .route("/shipments/{id}/revoke", post(api::revoke))
        .route("/shipments/{id}/resend", post(api::resend))
        .route(
            "/shipments/{id}/downloads/reset",
            post(api::reset_downloads),
        )
        .route("/shipments/{id}/link", post(api::reissue_link))
        .route("/shipments/{id}/personalize", post(plugins::personalize))
        .route("/plugins", get(plugins::list))
        .route(
            "/plugins/{name}",
            get(plugins::get)
                .put(plugins::install)
                .layer(DefaultBodyLimit::max(
                    crate::plugins::PLUGIN_BYTES_MAX as usize,
                )),
        )
        .route("/files/{id}", get(files::get))
        .route("/shipments/{id}/files/{file_id}", delete(files::detach))
        .route(
            "/files",
            post(files::upload).layer(DefaultBodyLimit::disable()),
        )
        .route(
            "/shipments/{id}/files",
            post(files::attach).layer(DefaultBodyLimit::disable()),
        )
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            extract::require_api_key,
        ))
        .route("/openapi.json", get(openapi::serve))
        .fallback(|| async { error::ApiError::not_found("endpoint") });
    Router::new()
        .nest("/api/v1", api)
        .nest("/admin", admin::router(state.clone()))
        .route("/d/{token}", get(buyer::open_link))
        .route("/d/{token}/waiver", post(buyer::accept_waiver))
        .route("/d/{token}/files/{file_id}", get(download::download))
        .route("/.well-known/waybill/keys", get(buyer::public_keys))
        .route("/healthz", get(buyer::healthz))
        .layer(DefaultBodyLimit::max(JSON_BODY_BYTES_MAX))
        .layer(middleware::from_fn(close_after_refused_body))
        .with_state(state)
}

/// A request with a body refused before its body was read (401, 413, a
/// bad name...) leaves unread bytes on the connection: say `Connection:
/// close`, so the client opens a new connection for its next request
/// instead of sending it down one the server is about to drop.
async fn close_after_refused_body(
    request: axum::extract::Request,
    next: middleware::Next,
) -> axum::response::Response {
    let has_body = request
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .is_some_and(|v| v.as_bytes() != b"0")
        || request
            .headers()
            .contains_key(axum::http::header::TRANSFER_ENCODING);
    let mut response = next.run(request).await;
    if has_body && response.status().is_client_error() {
        response.headers_mut().insert(
            axum::http::header::CONNECTION,
            axum::http::HeaderValue::from_static("close"),
        );
    }
    response
}
