//! The one HTTP error type: RFC 9457 problem documents with a stable `code`, no internals.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::blobs::BlobError;
use crate::domain::ShipmentError;
use crate::fulfilment::FulfilError;
use crate::tokens::TokenError;

/// An error answer: status, machine-readable code, and a human sentence.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub detail: String,
}

/// The problem document as sent.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// Always `about:blank`: the `code` says what happened.
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Stable, machine-readable: `unauthorized`, `not_found`, `validation_failed`,
    /// `unknown_sku`, `conflict`, `payload_too_large`, `invalid_state`,
    /// `already_prepared`, `empty_shipment`, `plugin_failed`, `token_invalid`,
    /// `token_expired`, `token_revoked`, `download_limit_reached`.
    pub code: &'static str,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            detail: detail.into(),
        }
    }

    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid API key is required: send `Authorization: Bearer <key>`",
        )
    }

    pub fn validation(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            detail,
        )
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )
    }

    pub fn problem(&self) -> Problem {
        Problem {
            kind: "about:blank",
            title: self.status.canonical_reason().unwrap_or("Error").to_owned(),
            status: self.status.as_u16(),
            detail: self.detail.clone(),
            code: self.code,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.problem())).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if self.status == StatusCode::PAYLOAD_TOO_LARGE {
            // The rest of the body was not read: the connection cannot be reused.
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<ShipmentError> for ApiError {
    fn from(e: ShipmentError) -> Self {
        let (status, code) = match &e {
            ShipmentError::AlreadyPrepared => (StatusCode::CONFLICT, "already_prepared"),
            ShipmentError::Empty => (StatusCode::UNPROCESSABLE_ENTITY, "empty_shipment"),
            ShipmentError::ItemNotFound => (StatusCode::NOT_FOUND, "not_found"),
            ShipmentError::TooManyItems => (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
            ShipmentError::FileNotFound => (StatusCode::NOT_FOUND, "not_found"),
            ShipmentError::FileAlreadyAttached => (StatusCode::CONFLICT, "conflict"),
            ShipmentError::DownloadLimitReached { .. } => {
                (StatusCode::FORBIDDEN, "download_limit_reached")
            }
            _ => (StatusCode::CONFLICT, "invalid_state"),
        };
        ApiError::new(status, code, e.to_string())
    }
}

impl From<BlobError> for ApiError {
    fn from(e: BlobError) -> Self {
        match e {
            BlobError::TooLarge { limit_bytes } => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!(
                    "the file is larger than the limit of {limit_bytes} bytes; nothing was stored"
                ),
            ),
            BlobError::NotFound => ApiError::not_found("file"),
            BlobError::Interrupted(detail) => ApiError::new(
                StatusCode::BAD_REQUEST,
                "validation_failed",
                format!("the upload was interrupted ({detail}); nothing was stored"),
            ),
            e => {
                tracing::error!(error = %e, "blob failure");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal_error",
                    "the server could not read or write the file",
                )
            }
        }
    }
}

impl From<TokenError> for ApiError {
    fn from(e: TokenError) -> Self {
        match e {
            TokenError::Expired { .. } => ApiError::new(
                StatusCode::GONE,
                "token_expired",
                "this download link has expired; ask the shop for a new one",
            ),
            _ => ApiError::new(
                StatusCode::FORBIDDEN,
                "token_invalid",
                "this download link is not valid; check that it was copied completely",
            ),
        }
    }
}

impl From<FulfilError> for ApiError {
    fn from(e: FulfilError) -> Self {
        match e {
            FulfilError::NotFound(what) => ApiError::not_found(what),
            FulfilError::UnknownSku(sku) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "unknown_sku",
                format!("no product has sku `{sku}`"),
            ),
            FulfilError::Validation(detail) => ApiError::validation(detail),
            FulfilError::Conflict(detail) => {
                ApiError::new(StatusCode::CONFLICT, "conflict", detail)
            }
            FulfilError::Order(e) => ApiError::new(StatusCode::CONFLICT, "conflict", e.to_string()),
            FulfilError::Shipment(e) => e.into(),
            FulfilError::Token(e) => e.into(),
            FulfilError::Revoked => ApiError::new(
                StatusCode::GONE,
                "token_revoked",
                "access to this order was withdrawn by the shop; contact the shop if this is unexpected",
            ),
            FulfilError::Superseded => ApiError::new(
                StatusCode::GONE,
                "token_revoked",
                "this link was replaced by a newer one; use the link from the shop's latest e-mail",
            ),
            FulfilError::WaiverRequired => ApiError::new(
                StatusCode::FORBIDDEN,
                "waiver_required",
                "open the link first and confirm the withdrawal-right waiver",
            ),
            FulfilError::Blob(e) => e.into(),
            FulfilError::Store(e) => {
                tracing::error!(error = %e, "storage failure");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal_error",
                    "the server could not complete the request; nothing was changed",
                )
            }
        }
    }
}
