//! Reading admin forms: URL-encoded bodies and queries, and multipart bodies
//! streamed field by field (files go straight to the blob store).

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, header};
use futures_util::Stream;

use super::session::{CsrfPending, Session, constant_time_eq};

/// Longest text field of a multipart form, in bytes.
const TEXT_FIELD_BYTES_MAX: usize = 64 * 1024;
/// Most fields one multipart form may carry.
const FIELDS_MAX: usize = 400;

/// The fields of a URL-encoded form or query string, in order.
#[derive(Debug, Default, Clone)]
pub struct FormData(Vec<(String, String)>);

impl FormData {
    /// Parses `a=1&b=x+y&c=%C5%BC` (lenient: malformed escapes stay as typed).
    pub fn parse(bytes: &[u8]) -> FormData {
        FormData(
            bytes
                .split(|b| *b == b'&')
                .filter(|pair| !pair.is_empty())
                .take(FIELDS_MAX)
                .map(|pair| {
                    let mut kv = pair.splitn(2, |b| *b == b'=');
                    let k = decode(kv.next().unwrap_or(b""));
                    let v = decode(kv.next().unwrap_or(b""));
                    (k, v)
                })
                .collect(),
        )
    }

    /// Parses a request's query string.
    pub fn query(uri: &axum::http::Uri) -> FormData {
        FormData::parse(uri.query().unwrap_or("").as_bytes())
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first value of `name`, trimmed, if not empty.
    pub fn text(&self, name: &str) -> Option<&str> {
        self.get(name).map(str::trim).filter(|v| !v.is_empty())
    }

    /// Every value of `name`, in order.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// Adds a field (for multipart text fields).
    pub fn push(&mut self, name: String, value: String) {
        self.0.push((name, value));
    }
}

fn decode(bytes: &[u8]) -> String {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = |b: u8| (b as char).to_digit(16);
                match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Encodes a query value (everything but unreserved characters and `/`).
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Why a multipart form could not be read.
#[derive(Debug)]
pub enum FormError {
    /// The CSRF token is missing (not the first field) or wrong.
    Csrf,
    /// Not a multipart body, or a malformed one.
    Malformed(String),
    /// A text field over [`TEXT_FIELD_BYTES_MAX`], or too many fields.
    TooLarge,
}

/// A multipart body whose CSRF token was checked; yields fields in order.
pub struct Multipart {
    inner: multer::Multipart<'static>,
    fields: usize,
}

/// One field of a multipart form.
pub enum Field {
    /// A text field, read whole (bounded).
    Text { name: String, value: String },
    /// A file field, to be streamed with [`FileField::stream`] (boxed: it
    /// holds the parser's state).
    File(Box<FileField>),
}

/// A file field whose bytes have not been read yet.
pub struct FileField {
    pub name: String,
    /// The file's name as the browser sent it (not yet sanitized).
    pub file_name: String,
    pub content_type: String,
    field: multer::Field<'static>,
}

impl FileField {
    /// The file's bytes as a stream.
    pub fn stream(
        self: Box<Self>,
    ) -> impl Stream<Item = Result<Bytes, multer::Error>> + Send + Unpin {
        self.field
    }

    /// Reads and drops the rest of the field.
    pub async fn skip(mut self: Box<Self>) -> Result<(), FormError> {
        while let Some(chunk) = self.field.chunk().await.map_err(malformed)? {
            drop(chunk);
        }
        Ok(())
    }
}

fn malformed(e: multer::Error) -> FormError {
    FormError::Malformed(e.to_string())
}

impl Multipart {
    /// Opens a multipart body: its first field must be `csrf` with the
    /// session's token, so nothing else is read from a forged form.
    pub async fn open(
        headers: &HeaderMap,
        body: Body,
        session: &Session,
        pending: Option<&CsrfPending>,
    ) -> Result<Multipart, FormError> {
        if pending.is_none() {
            return Err(FormError::Malformed("not a multipart form".into()));
        }
        let boundary = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|ct| multer::parse_boundary(ct).ok())
            .ok_or_else(|| FormError::Malformed("not a multipart form".into()))?;
        let mut form = Multipart {
            inner: multer::Multipart::new(body.into_data_stream(), boundary),
            fields: 0,
        };
        match form.next().await? {
            Some(Field::Text { name, value })
                if name == "csrf" && constant_time_eq(&value, &session.csrf_token) =>
            {
                Ok(form)
            }
            _ => Err(FormError::Csrf),
        }
    }

    /// The next field, if any.
    pub async fn next(&mut self) -> Result<Option<Field>, FormError> {
        let Some(mut field) = self.inner.next_field().await.map_err(malformed)? else {
            return Ok(None);
        };
        self.fields += 1;
        if self.fields > FIELDS_MAX {
            return Err(FormError::TooLarge);
        }
        let name = field.name().unwrap_or("").to_owned();
        if let Some(file_name) = field.file_name() {
            let file_name = file_name.to_owned();
            let content_type = field
                .content_type()
                .map_or_else(|| "application/octet-stream".to_owned(), |m| m.to_string());
            return Ok(Some(Field::File(Box::new(FileField {
                name,
                file_name,
                content_type: media_type_or_default(&content_type),
                field,
            }))));
        }
        let mut value = Vec::new();
        while let Some(chunk) = field.chunk().await.map_err(malformed)? {
            if value.len() + chunk.len() > TEXT_FIELD_BYTES_MAX {
                return Err(FormError::TooLarge);
            }
            value.extend_from_slice(&chunk);
        }
        let value = String::from_utf8_lossy(&value).into_owned();
        Ok(Some(Field::Text { name, value }))
    }
}

/// A well-formed media type (lower-cased), or `application/octet-stream`.
pub fn media_type_or_default(value: &str) -> String {
    let value = value.trim();
    let essence = value.split(';').next().unwrap_or("").trim();
    let token = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&^_.+-".contains(&b))
    };
    match essence.split_once('/') {
        Some((t, sub)) if token(t) && token(sub) && essence.len() <= 255 => {
            essence.to_ascii_lowercase()
        }
        _ => "application/octet-stream".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urlencoded() {
        let f = FormData::parse(b"csrf=a%2Bb&ids=1&ids=2&q=ala+ma+kota&x=%C5%BC&bad=%zz&empty=");
        assert_eq!(f.get("csrf"), Some("a+b"));
        assert_eq!(f.all("ids"), vec!["1", "2"]);
        assert_eq!(f.get("q"), Some("ala ma kota"));
        assert_eq!(f.get("x"), Some("ż"));
        assert_eq!(f.get("bad"), Some("%zz"));
        assert_eq!(f.text("empty"), None);
        assert_eq!(f.get("missing"), None);
        assert_eq!(FormData::parse(b"a=%4").get("a"), Some("%4"));
        assert_eq!(FormData::parse(b"a=%").get("a"), Some("%"));
    }

    #[test]
    fn encoding_round_trips() {
        let raw = "/admin/shipments?status=prepared&q=ala@example.com ż";
        let encoded = percent_encode(raw);
        assert!(!encoded.contains(['?', '&', ' ', '@']), "{encoded}");
        assert_eq!(
            FormData::parse(format!("n={encoded}").as_bytes()).get("n"),
            Some(raw)
        );
    }

    #[test]
    fn media_types() {
        assert_eq!(media_type_or_default("application/PDF"), "application/pdf");
        assert_eq!(
            media_type_or_default("text/plain; charset=utf-8"),
            "text/plain"
        );
        assert_eq!(
            media_type_or_default("nonsense"),
            "application/octet-stream"
        );
        assert_eq!(media_type_or_default(""), "application/octet-stream");
    }
}
