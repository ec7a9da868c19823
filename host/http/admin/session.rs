//! Admin sign-in: an API key buys a 12-hour session cookie; every admin request
//! needs the session, and every admin POST its CSRF token.
//!
//! The cookie holds 32 random bytes; the store keeps only their BLAKE3 hash,
//! next to the key's name and the session's CSRF token. Forms carry the token
//! in a hidden `csrf` field (the first field of multipart forms, so it is
//! checked before a byte of a file is stored); scripts send `X-CSRF-Token`.

use axum::body::{Body, Bytes};
use axum::extract::{OriginalUri, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use maud::html;
use time::{Duration, OffsetDateTime};

use super::forms::{FormData, percent_encode};
use super::layout::{self, bare_page};
use crate::clock::{Clock, SystemClock};
use crate::http::AppState;
use crate::ids::random_bytes;
use crate::store::{SessionRecord, Source, StoreError};

/// The session cookie's name.
pub const COOKIE: &str = "waybill_session";
/// How long a session lasts after sign-in.
pub const SESSION_SECS: i64 = 12 * 3600;
/// Largest URL-encoded admin form, in bytes (item values are at most 10 000 characters).
pub const FORM_BYTES_MAX: usize = 256 * 1024;
/// The header scripts send the CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// A signed-in seller, as the guard found them.
#[derive(Debug, Clone)]
pub struct Session {
    pub key_name: String,
    pub csrf_token: String,
    pub token_hash: String,
    pub expires_at: OffsetDateTime,
}

/// The CSRF token of a POST with a multipart body: checked by the handler
/// against the first field (see [`super::forms::Multipart::open`]).
#[derive(Debug, Clone)]
pub struct CsrfPending;

/// The current time for sessions (an HTTP concern, so the system clock).
pub fn now() -> OffsetDateTime {
    SystemClock.now()
}

fn hash_token(token: &str) -> String {
    blake3::hash(token.as_bytes()).to_hex().to_string()
}

fn random_token() -> String {
    URL_SAFE_NO_PAD.encode(random_bytes::<32>())
}

/// Equal without telling, through timing, how much of it was equal.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The session cookie's value, if the request carries one.
fn cookie_value(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            (name == COOKIE && !value.is_empty() && value.len() <= 128).then(|| value.to_owned())
        })
}

/// Whether the browser reached us over HTTPS (directly or via a proxy), or
/// links say the shop is served over HTTPS.
fn is_https(state: &AppState, headers: &HeaderMap) -> bool {
    let forwarded = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').next().unwrap_or("").trim() == "https");
    forwarded || state.fulfilment.download_url("").starts_with("https://")
}

fn set_cookie(value: &str, max_age_secs: i64, secure: bool) -> HeaderValue {
    let mut cookie =
        format!("{COOKIE}={value}; Path=/admin; HttpOnly; SameSite=Strict; Max-Age={max_age_secs}");
    if secure {
        cookie.push_str("; Secure");
    }
    HeaderValue::from_str(&cookie).expect("the cookie is ASCII")
}

/// The session behind the request's cookie, if it is valid now.
async fn find_session(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<Session>, StoreError> {
    let Some(token) = cookie_value(headers) else {
        return Ok(None);
    };
    let hash = hash_token(&token);
    let Some(record) = state.store.read()?.session(&hash)? else {
        return Ok(None);
    };
    if record.expires_at <= now() {
        let stale = hash.clone();
        state
            .store
            .write(move |tx| {
                tx.delete_session(&stale);
                Ok::<_, StoreError>(())
            })
            .await?;
        return Ok(None);
    }
    Ok(Some(Session {
        key_name: record.key_name,
        csrf_token: record.csrf_token,
        token_hash: hash,
        expires_at: record.expires_at,
    }))
}

/// Refuses a request a browser sent on behalf of another site.
fn cross_site(headers: &HeaderMap) -> bool {
    headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("cross-site"))
}

/// A 403 that says why, as a page or (for scripts) as JSON.
pub fn forbidden(headers: &HeaderMap, why: &str) -> Response {
    if super::wants_json(headers) {
        return super::json_error(StatusCode::FORBIDDEN, why);
    }
    let page = bare_page(
        "Not allowed",
        html! {
            div.auth-card {
                h1 { "This action was refused" }
                p { (why) }
                p { a.btn.btn-primary href="/admin/orders" { "Back to the admin pages" } }
            }
        },
    );
    (StatusCode::FORBIDDEN, page).into_response()
}

/// Lets through only requests with a valid session, and POSTs only with
/// their CSRF token; puts the [`Session`] in the request's extensions.
pub async fn guard(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let session = match find_session(&state, req.headers()).await {
        Ok(session) => session,
        Err(e) => return super::storage_failure(e),
    };
    let is_read = matches!(*req.method(), Method::GET | Method::HEAD);
    let Some(session) = session else {
        if is_read {
            let path = req
                .extensions()
                .get::<OriginalUri>()
                .map_or_else(|| req.uri().to_string(), |u| u.0.to_string());
            return Redirect::to(&format!("/admin/login?next={}", percent_encode(&path)))
                .into_response();
        }
        return forbidden(
            req.headers(),
            "You are not signed in, or your session has ended. Sign in again and repeat the action.",
        );
    };
    if is_read {
        let mut req = req;
        req.extensions_mut().insert(session);
        return next.run(req).await;
    }
    if cross_site(req.headers()) {
        return forbidden(req.headers(), "The request came from another site.");
    }
    let (mut parts, body) = req.into_parts();
    let from_header = parts
        .headers
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let missing =
        "The form's security token is missing or out of date. Reload the page and try again.";
    let body = if let Some(token) = from_header {
        if !constant_time_eq(&token, &session.csrf_token) {
            return forbidden(&parts.headers, missing);
        }
        body
    } else if content_type.starts_with("application/x-www-form-urlencoded") {
        let bytes: Bytes = match axum::body::to_bytes(body, FORM_BYTES_MAX).await {
            Ok(bytes) => bytes,
            Err(_) => {
                return super::json_or_page_error(
                    &parts.headers,
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "The form is too large.",
                );
            }
        };
        let form = FormData::parse(&bytes);
        if !form
            .get("csrf")
            .is_some_and(|t| constant_time_eq(t, &session.csrf_token))
        {
            return forbidden(&parts.headers, missing);
        }
        Body::from(bytes)
    } else if content_type.starts_with("multipart/form-data") && accepts_multipart(parts.uri.path())
    {
        parts.extensions.insert(CsrfPending);
        body
    } else {
        return forbidden(&parts.headers, missing);
    };
    parts.extensions.insert(session);
    next.run(Request::from_parts(parts, body)).await
}

/// Whether the route at `path` (below `/admin`) reads multipart forms, and
/// so checks their CSRF field itself; every other route gets none.
fn accepts_multipart(path: &str) -> bool {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    matches!(
        segments.as_slice(),
        ["products"] | ["plugins"] | ["shipments", _] | ["shipments", _, "files"]
    ) && segments.iter().all(|s| !s.is_empty())
}

/// Where to go after signing in: only a path of ours.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with("/admin")
                && !n.starts_with("/admin/login")
                && !n.contains("//")
                && !n.contains('\\')
                && n.chars().all(|c| c.is_ascii_graphic()) =>
        {
            n.to_owned()
        }
        _ => "/admin/orders".to_owned(),
    }
}

/// `GET /admin/login`.
pub async fn login_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Response {
    if let Ok(Some(_)) = find_session(&state, &headers).await {
        return Redirect::to("/admin/orders").into_response();
    }
    let query = FormData::parse(uri.query().unwrap_or("").as_bytes());
    let next = safe_next(query.get("next"));
    let info = query
        .get("signed_out")
        .map(|_| "You signed out. Sign in again to continue.");
    login_form(&state, &next, None, info, StatusCode::OK)
}

fn login_form(
    state: &AppState,
    next: &str,
    error: Option<&str>,
    info: Option<&str>,
    status: StatusCode,
) -> Response {
    let page = layout::auth_page(
        &state.shop_name,
        "Sign in",
        html! {
            div.auth-card {
                h1 { "Sign in" }
                p.muted { "Use an API key of this shop: the admin key printed when the server first started, or one made with " code { "waybill keys create NAME" } "." }
                @if let Some(error) = error {
                    div.notice.notice-error role="alert" tabindex="-1" data-focus { (error) }
                }
                @if let Some(info) = info {
                    div.notice.notice-success role="status" { (info) }
                }
                form method="post" action="/admin/login" {
                    input type="hidden" name="next" value=(next);
                    div.field {
                        label for="key" { "API key" }
                        input #key .input.mono type="password" name="key" required autocomplete="current-password"
                            spellcheck="false" autocapitalize="off" placeholder="wb_…"
                            autofocus[error.is_none()] aria-invalid=[error.map(|_| "true")];
                    }
                    button.btn.btn-primary.btn-block type="submit" { "Sign in" }
                }
                p.muted.small { "You stay signed in for 12 hours on this browser, or until you sign out." }
            }
        },
    );
    (status, page).into_response()
}

/// `POST /admin/login`: checks the key, starts a session.
pub async fn login(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    if cross_site(&headers) {
        return forbidden(&headers, "The request came from another site.");
    }
    let Ok(bytes) = axum::body::to_bytes(body, FORM_BYTES_MAX).await else {
        return login_form(
            &state,
            "/admin/orders",
            Some("The form is too large."),
            None,
            StatusCode::PAYLOAD_TOO_LARGE,
        );
    };
    let form = FormData::parse(&bytes);
    let next = safe_next(form.get("next"));
    let key = form.get("key").unwrap_or("").trim().to_owned();
    let record = match crate::auth::is_valid(&state.store, &key) {
        Ok(true) => state
            .store
            .read()
            .and_then(|r| r.api_key(&crate::auth::hash_key(&key))),
        Ok(false) => Ok(None),
        Err(e) => Err(e),
    };
    let key_record = match record {
        Ok(Some(record)) => record,
        Ok(None) => {
            return login_form(
                &state,
                &next,
                Some(
                    "That key is not valid for this shop. Check that you pasted the whole key, starting with wb_.",
                ),
                None,
                StatusCode::UNAUTHORIZED,
            );
        }
        Err(e) => return super::storage_failure(e),
    };
    let token = random_token();
    let hash = hash_token(&token);
    let created_at = now();
    let record = SessionRecord {
        key_name: key_record.name,
        csrf_token: random_token(),
        created_at,
        expires_at: created_at + Duration::seconds(SESSION_SECS),
    };
    if let Err(e) = state
        .store
        .write(move |tx| {
            tx.put_session(&hash, &record);
            Ok::<_, StoreError>(())
        })
        .await
    {
        return super::storage_failure(e);
    }
    let mut response = Redirect::to(&next).into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        set_cookie(&token, SESSION_SECS, is_https(&state, &headers)),
    );
    response
}

/// `POST /admin/logout`: ends the session (CSRF-checked by the guard).
pub async fn logout(
    State(state): State<AppState>,
    axum::Extension(session): axum::Extension<Session>,
    headers: HeaderMap,
) -> Response {
    let hash = session.token_hash.clone();
    if let Err(e) = state
        .store
        .write(move |tx| {
            tx.delete_session(&hash);
            Ok::<_, StoreError>(())
        })
        .await
    {
        return super::storage_failure(e);
    }
    let mut response = Redirect::to("/admin/login?signed_out=1").into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        set_cookie("", 0, is_https(&state, &headers)),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_stays_on_our_admin_pages() {
        let check = |next: Option<&str>, expected: &str| assert_eq!(safe_next(next), expected);
        check(None, "/admin/orders");
        check(
            Some("/admin/shipments?status=prepared"),
            "/admin/shipments?status=prepared",
        );
        check(Some("https://evil.example/admin"), "/admin/orders");
        check(Some("//evil.example/admin"), "/admin/orders");
        check(Some("/admin//evil.example"), "/admin/orders");
        check(Some("/admin\\@evil"), "/admin/orders");
        check(Some("/admin/login"), "/admin/orders");
        check(Some("/api/v1/orders"), "/admin/orders");
    }

    #[test]
    fn only_upload_routes_take_multipart() {
        assert!(accepts_multipart("/products"));
        assert!(accepts_multipart("/plugins"));
        assert!(!accepts_multipart("/plugins/x"));
        assert!(accepts_multipart("/shipments/shp_1"));
        assert!(accepts_multipart("/shipments/shp_1/files"));
        assert!(!accepts_multipart("/shipments/shp_1/prepare"));
        assert!(!accepts_multipart("/shipments/bulk/x"));
        assert!(!accepts_multipart("/shipments//files"));
        assert!(!accepts_multipart("/logout"));
    }

    #[test]
    fn cookies_and_tokens() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; waybill_session=abc; b=2"),
        );
        assert_eq!(cookie_value(&headers).as_deref(), Some("abc"));
        assert!(constant_time_eq("abc", "abc"));
        assert!(!constant_time_eq("abc", "abd"));
        assert!(!constant_time_eq("abc", "abcd"));
        assert_ne!(random_token(), random_token());
        assert_eq!(random_token().len(), 43);
    }
}
