//! File uploads over the API: raw streamed bodies, names sanitized, limits enforced early.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use serde::Deserialize;

use super::AppState;
use super::dto::{FileResponse, ShipmentFileResponse};
use super::error::{ApiError, Problem};
use super::extract::ApiQuery;
use crate::fulfilment::UploadMeta;

/// Longest file name kept, in characters.
const FILE_NAME_CHARS_MAX: usize = 255;
/// Longest content type accepted.
const CONTENT_TYPE_BYTES_MAX: usize = 255;

/// `?name=` of an upload.
#[derive(Deserialize, utoipa::IntoParams)]
pub struct UploadParams {
    /// The file's name as the buyer will see it (path parts are dropped).
    name: Option<String>,
}

/// Keeps a file name faithful in Unicode but safe everywhere it goes: no
/// path parts, no control characters, no leading dots, bounded length.
pub fn sanitize_file_name(raw: &str) -> Option<String> {
    let last = raw.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = last
        .chars()
        .filter(|c| !c.is_control())
        .collect::<String>()
        .trim()
        .trim_start_matches('.')
        .trim()
        .chars()
        .take(FILE_NAME_CHARS_MAX)
        .collect();
    (!cleaned.is_empty()).then_some(cleaned)
}

/// A media type as sent, or `application/octet-stream` when missing or malformed.
fn content_type(headers: &HeaderMap) -> String {
    let fallback = "application/octet-stream".to_owned();
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return fallback;
    };
    let value = value.trim();
    let essence = value.split(';').next().unwrap_or("").trim();
    let token = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&^_.+-".contains(&b))
    };
    match essence.split_once('/') {
        Some((t, sub)) if token(t) && token(sub) && value.len() <= CONTENT_TYPE_BYTES_MAX => {
            value.to_ascii_lowercase()
        }
        _ => fallback,
    }
}

/// Checks name, declared length and type before a byte is stored.
fn upload_meta(
    state: &AppState,
    params: UploadParams,
    headers: &HeaderMap,
) -> Result<UploadMeta, ApiError> {
    if let Some(length) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        && length > state.upload_bytes_max
    {
        return Err(crate::blobs::BlobError::TooLarge {
            limit_bytes: state.upload_bytes_max,
        }
        .into());
    }
    let raw = params
        .name
        .ok_or_else(|| ApiError::validation("the `name` query parameter is required"))?;
    let name = sanitize_file_name(&raw)
        .ok_or_else(|| ApiError::validation("`name` has no usable characters"))?;
    Ok(UploadMeta {
        name,
        content_type: content_type(headers),
    })
}

#[utoipa::path(post, path = "/api/v1/files", tag = "files", params(UploadParams),
    request_body(content = Vec<u8>, description = "the raw file bytes", content_type = "application/octet-stream"),
    responses((status = 201, body = FileResponse, description = "stored (or stored before: same bytes, same id)"),
              (status = 413, body = Problem, description = "`payload_too_large`: nothing was stored")))]
pub async fn upload(
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<UploadParams>,
    headers: HeaderMap,
    body: Body,
) -> Result<impl IntoResponse, ApiError> {
    let meta = upload_meta(&state, params, &headers)?;
    let file = state
        .fulfilment
        .upload_file(body.into_data_stream(), meta)
        .await?;
    Ok((StatusCode::CREATED, Json(FileResponse::from(&file))))
}

#[utoipa::path(get, path = "/api/v1/files/{id}", tag = "files",
    responses((status = 200, body = FileResponse), (status = 404, body = Problem)))]
pub async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<FileResponse>, ApiError> {
    Ok(Json(FileResponse::from(&state.fulfilment.file(&id)?)))
}

#[utoipa::path(post, path = "/api/v1/shipments/{id}/files", tag = "shipments", params(UploadParams),
    request_body(content = Vec<u8>, description = "the raw file bytes", content_type = "application/octet-stream"),
    responses((status = 201, body = ShipmentFileResponse),
              (status = 409, body = Problem, description = "`already_prepared` or `invalid_state`"),
              (status = 413, body = Problem, description = "`payload_too_large`: nothing was stored")))]
pub async fn attach(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiQuery(params): ApiQuery<UploadParams>,
    headers: HeaderMap,
    body: Body,
) -> Result<impl IntoResponse, ApiError> {
    let meta = upload_meta(&state, params, &headers)?;
    let file = state
        .fulfilment
        .attach_upload(id, body.into_data_stream(), meta)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(ShipmentFileResponse::new(&file, 0)),
    ))
}

#[utoipa::path(delete, path = "/api/v1/shipments/{id}/files/{file_id}", tag = "shipments",
    responses((status = 204), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn detach(
    State(state): State<AppState>,
    Path((id, file_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    state.fulfilment.detach_file(id, file_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::sanitize_file_name;

    fn check(raw: &str, expected: Option<&str>) {
        assert_eq!(sanitize_file_name(raw).as_deref(), expected, "{raw:?}");
    }

    #[test]
    fn names() {
        check("umowa.pdf", Some("umowa.pdf"));
        check(
            "Tłumaczenie — wersja 2.docx",
            Some("Tłumaczenie — wersja 2.docx"),
        );
        check("../../etc/passwd", Some("passwd"));
        check("C:\\Users\\ala\\secret.txt", Some("secret.txt"));
        check("a\r\nSet-Cookie: x.txt", Some("aSet-Cookie: x.txt"));
        check("..", None);
        check("   ", None);
        check(".hidden", Some("hidden"));
        check("quote\".txt", Some("quote\".txt"));
        check(&"ż".repeat(300), Some(&"ż".repeat(255)));
    }
}
