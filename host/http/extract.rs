//! Request extractors that turn every bad input into a problem document, and the API-key guard.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Query, Request, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::Response;
use serde::de::DeserializeOwned;

use super::AppState;
use super::error::ApiError;

/// A JSON body, parsed whatever its `Content-Type`, with clear errors:
/// syntax → 400, wrong shape → 422, over the limit → 413.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload_too_large",
                    format!(
                        "the JSON body is larger than {} bytes",
                        crate::config::JSON_BODY_BYTES_MAX
                    ),
                )
            } else {
                ApiError::validation(format!("cannot read the request body: {}", e.body_text()))
            }
        })?;
        // Syntax first, so `[1, 2` is "not JSON" (400), not "wrong shape" (422).
        serde_json::from_slice::<serde::de::IgnoredAny>(&bytes).map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "validation_failed",
                format!("the body is not valid JSON: {e}"),
            )
        })?;
        serde_json::from_slice(&bytes)
            .map(ApiJson)
            .map_err(|e| ApiError::validation(format!("invalid request body: {e}")))
    }
}

/// Query parameters with problem-document errors.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(q)| ApiQuery(q))
            .map_err(|e| ApiError::validation(format!("invalid query: {}", e.body_text())))
    }
}

/// Lets a request through only with `Authorization: Bearer <a stored API key>`.
pub async fn require_api_key(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let key = req
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or_else(ApiError::unauthorized)?;
    match crate::auth::is_valid(&state.store, key) {
        Ok(true) => Ok(next.run(req).await),
        Ok(false) => Err(ApiError::unauthorized()),
        Err(e) => Err(crate::fulfilment::FulfilError::Store(e).into()),
    }
}
