//! The buyer's file downloads: streamed, resumable (Range, If-Range), cacheable
//! (ETag, 304), counted only when the last byte went out.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use time::format_description::well_known::Rfc2822;

use super::AppState;
use super::buyer::{error_response_in, language, wants_json};
use super::error::ApiError;

/// A byte range to send, `start..end` (end exclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    pub start: u64,
    pub end: u64,
}

/// What a `Range` header asks of a file of `size` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeRequest {
    /// No usable range: send everything (also for several ranges at once,
    /// which we do not serve, so no request can make us send a file many times over).
    Full,
    Partial(ByteRange),
    Unsatisfiable,
}

/// Parses `Range: bytes=a-b | a- | -n` (RFC 9110 §14).
pub fn parse_range(header: Option<&str>, size: u64) -> RangeRequest {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return RangeRequest::Full;
    };
    if spec.contains(',') {
        return RangeRequest::Full;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return RangeRequest::Full;
    };
    let number = |s: &str| -> Option<u64> {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    match (first.trim(), last.trim()) {
        ("", suffix) => match number(suffix) {
            Some(0) => RangeRequest::Unsatisfiable,
            Some(_) if size == 0 => RangeRequest::Unsatisfiable,
            Some(n) => RangeRequest::Partial(ByteRange {
                start: size.saturating_sub(n),
                end: size,
            }),
            None => RangeRequest::Full,
        },
        (start, "") => match number(start) {
            Some(s) if s < size => RangeRequest::Partial(ByteRange {
                start: s,
                end: size,
            }),
            Some(_) => RangeRequest::Unsatisfiable,
            None => RangeRequest::Full,
        },
        (start, end) => match (number(start), number(end)) {
            (Some(s), Some(e)) if s > e => RangeRequest::Full,
            (Some(s), Some(_)) if s >= size => RangeRequest::Unsatisfiable,
            (Some(s), Some(e)) => RangeRequest::Partial(ByteRange {
                start: s,
                end: e.saturating_add(1).min(size),
            }),
            _ => RangeRequest::Full,
        },
    }
}

/// `Content-Disposition: attachment` with an ASCII fallback and the exact
/// Unicode name (RFC 6266, RFC 8187).
pub fn content_disposition(name: &str) -> String {
    let fallback: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' && c != '%' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut encoded = String::new();
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            encoded.push(b as char);
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    format!("attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}")
}

/// Whether an `If-None-Match` / `If-Range` value names this entity tag.
fn etag_matches(header: Option<&str>, etag: &str) -> bool {
    header.is_some_and(|h| {
        h.split(',')
            .map(str::trim)
            .any(|t| t == "*" || t == etag || t.strip_prefix("W/") == Some(etag))
    })
}

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

#[utoipa::path(get, path = "/d/{token}/files/{file_id}", tag = "buyer",
    responses((status = 200, description = "the whole file"), (status = 206, description = "the requested range"),
              (status = 304, description = "`If-None-Match` matched"), (status = 416, description = "range not satisfiable"),
              (status = 403, description = "`token_invalid`, `download_limit_reached` or `waiver_required`"),
              (status = 410, description = "`token_expired` or `token_revoked`")))]
pub async fn download(
    State(state): State<AppState>,
    Path((token, file_id)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let json = wants_json(&headers);
    let download = match state.fulfilment.begin_download(&token, &file_id) {
        Ok(d) => d,
        Err(e) => {
            let lang = language(&uri, &headers);
            return error_response_in(e.into(), json, lang, &state);
        }
    };
    let size = download.reader.record().size;
    let etag = format!("\"{}\"", download.reader.record().id);
    let last_modified = download
        .shipment
        .data()
        .prepared_at
        .and_then(|t| t.format(&Rfc2822).ok())
        .map(|s| s.replace("+0000", "GMT"));

    let mut base = Response::builder()
        .header(header::ETAG, &etag)
        .header(header::ACCEPT_RANGES, "bytes")
        .header(header::CACHE_CONTROL, "private, no-transform")
        .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
        .header(
            header::CONTENT_SECURITY_POLICY,
            "sandbox; default-src 'none'",
        );
    if let Some(lm) = &last_modified {
        base = base.header(header::LAST_MODIFIED, lm);
    }
    if etag_matches(header_str(&headers, header::IF_NONE_MATCH), &etag) {
        return base
            .status(StatusCode::NOT_MODIFIED)
            .body(Body::empty())
            .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response());
    }
    let if_range_ok = match header_str(&headers, header::IF_RANGE) {
        None => true,
        Some(v) if v.trim().starts_with('"') || v.trim().starts_with("W/") => v.trim() == etag,
        Some(v) => last_modified.as_deref() == Some(v.trim()),
    };
    let range = if if_range_ok {
        parse_range(header_str(&headers, header::RANGE), size)
    } else {
        RangeRequest::Full
    };
    let (status, range) = match range {
        RangeRequest::Full => (
            StatusCode::OK,
            ByteRange {
                start: 0,
                end: size,
            },
        ),
        RangeRequest::Partial(r) => (StatusCode::PARTIAL_CONTENT, r),
        RangeRequest::Unsatisfiable => {
            return base
                .status(StatusCode::RANGE_NOT_SATISFIABLE)
                .header(header::CONTENT_RANGE, format!("bytes */{size}"))
                .body(Body::empty())
                .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response());
        }
    };
    let mut builder = base
        .status(status)
        .header(header::CONTENT_LENGTH, range.end - range.start)
        .header(
            header::CONTENT_TYPE,
            HeaderValue::from_str(&download.file.file.content_type)
                .unwrap_or(HeaderValue::from_static("application/octet-stream")),
        )
        .header(
            header::CONTENT_DISPOSITION,
            HeaderValue::from_str(&content_disposition(&download.file.file.name))
                .unwrap_or(HeaderValue::from_static("attachment")),
        );
    if status == StatusCode::PARTIAL_CONTENT {
        builder = builder.header(
            header::CONTENT_RANGE,
            format!(
                "bytes {}-{}/{size}",
                range.start,
                range.end.saturating_sub(1)
            ),
        );
    }
    // Count the download when the file's last byte is handed to the
    // connection (hyper stops polling a body once Content-Length is reached,
    // so this cannot wait for the end of the stream).
    let reaches_end = range.end == size;
    let total = range.end - range.start;
    let fulfilment = state.fulfilment.clone();
    let completion = (
        download.shipment.data().id.clone(),
        download.token_id.clone(),
        file_id.clone(),
    );
    if total == 0 {
        // An empty file has no last byte: serving it is the whole download.
        let (shipment_id, token_id, file_id) = completion.clone();
        if let Err(e) = fulfilment
            .complete_download(shipment_id, token_id, file_id)
            .await
        {
            tracing::warn!(error = ?ApiError::from(e), "could not count a completed download");
        }
    }
    let pieces = download.reader.stream(range.start, range.end);
    let body = futures_util::stream::unfold(
        (Box::pin(pieces), 0u64, Some(completion)),
        move |(mut pieces, sent, mut completion)| {
            let fulfilment = fulfilment.clone();
            async move {
                let piece = match pieces.next().await? {
                    Ok(piece) => piece,
                    Err(e) => {
                        tracing::error!(error = %e, "download stopped: stored file unreadable");
                        let error = std::io::Error::other("stored file unreadable");
                        return Some((Err(error), (pieces, total, None)));
                    }
                };
                let sent = sent + piece.len() as u64;
                if reaches_end
                    && sent >= total
                    && let Some((shipment_id, token_id, file_id)) = completion.take()
                    && let Err(e) = fulfilment
                        .complete_download(shipment_id, token_id, file_id)
                        .await
                {
                    tracing::warn!(error = ?ApiError::from(e), "could not count a completed download");
                }
                Some((Ok::<_, std::io::Error>(piece), (pieces, sent, completion)))
            }
        },
    );
    builder
        .body(Body::from_stream(body))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(header: &str, size: u64, expected: RangeRequest) {
        assert_eq!(
            parse_range(Some(header), size),
            expected,
            "{header} of {size}"
        );
    }

    fn part(start: u64, end: u64) -> RangeRequest {
        RangeRequest::Partial(ByteRange { start, end })
    }

    #[test]
    fn ranges() {
        check("bytes=0-99", 1000, part(0, 100));
        check("bytes=100-", 1000, part(100, 1000));
        check("bytes=-100", 1000, part(900, 1000));
        check("bytes=-5000", 1000, part(0, 1000));
        check("bytes=990-5000", 1000, part(990, 1000));
        check("bytes=999-999", 1000, part(999, 1000));
        check("bytes=1000-", 1000, RangeRequest::Unsatisfiable);
        check("bytes=1000-2000", 1000, RangeRequest::Unsatisfiable);
        check("bytes=-0", 1000, RangeRequest::Unsatisfiable);
        check("bytes=0-", 0, RangeRequest::Unsatisfiable);
        check("bytes=-1", 0, RangeRequest::Unsatisfiable);
        check("bytes=5-1", 1000, RangeRequest::Full);
        check("bytes=0-1,5-9", 1000, RangeRequest::Full);
        check("bytes=0-0,0-0,0-0", 1000, RangeRequest::Full);
        check("items=0-1", 1000, RangeRequest::Full);
        check("bytes=a-b", 1000, RangeRequest::Full);
        check("bytes=+1-2", 1000, RangeRequest::Full);
        check(
            "bytes=18446744073709551615-",
            1000,
            RangeRequest::Unsatisfiable,
        );
        check("bytes=0-18446744073709551615", 1000, part(0, 1000));
    }

    /// Arbitrary headers never panic, and every partial range lies inside the file.
    #[test]
    fn any_range_header_is_safe() {
        let mut x: u64 = 0x1234_5678_9ABC_DEF1;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let pieces = [
            "bytes=",
            "-",
            ",",
            "0",
            "1",
            "99",
            "18446744073709551616",
            " ",
            "a",
            "=",
            "999",
        ];
        for _ in 0..20_000 {
            let header: String = (0..(next() % 6))
                .map(|_| pieces[(next() % pieces.len() as u64) as usize])
                .collect();
            let size = next() % 2000;
            if let RangeRequest::Partial(r) = parse_range(Some(&header), size) {
                assert!(
                    r.start < r.end && r.end <= size,
                    "{header:?} of {size}: {r:?}"
                );
            }
        }
    }

    #[test]
    fn dispositions() {
        assert_eq!(
            content_disposition("umowa.pdf"),
            "attachment; filename=\"umowa.pdf\"; filename*=UTF-8''umowa.pdf"
        );
        assert_eq!(
            content_disposition("Zażółć \"x\".txt"),
            "attachment; filename=\"Za____ _x_.txt\"; filename*=UTF-8''Za%C5%BC%C3%B3%C5%82%C4%87%20%22x%22.txt"
        );
    }
}
