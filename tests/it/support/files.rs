//! Files for the suite: deterministic content made on the fly, streamed uploads, downloads checked by BLAKE3, raw HTTP for clients that misbehave.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use reqwest::Method;
use reqwest::blocking::{Body, Client, RequestBuilder};
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

use super::server::{Resp, Server, waybill_cli};
use super::shop::{
    order, pay, percent_encode, put_product, shipment, shipment_ids, str_of, unique,
};

/// Content bytes per stored chunk.
pub const CHUNK_BYTES: u64 = 1_048_320;
pub const MIB: u64 = 1024 * 1024;
/// The default upload limit (`--upload-bytes-max`).
pub const UPLOAD_BYTES_MAX: u64 = 128 * MIB;
/// Big uploads and slow downloads take longer than the harness client allows.
const FILES_TIMEOUT: Duration = Duration::from_secs(300);
/// A download keeps at most this many body bytes in memory (the rest is only hashed).
const KEEP_BYTES: usize = 8 * 1024 * 1024;
const STEP_BYTES: usize = 256 * 1024;
/// Sized uploads up to this size are sent from memory.
const IN_MEMORY_BYTES: u64 = 16 * 1024 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pattern {
    /// Incompressible: stored raw, so its bytes appear verbatim in the database.
    Random(u64),
    /// Compressible UTF-8 text.
    Text,
}

/// Deterministic file content of any size, generated on demand from any offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Content {
    pattern: Pattern,
    len: u64,
}

fn splitmix(seed: u64, word: u64) -> u64 {
    let mut z = seed.wrapping_add(word.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn text_line(n: u64) -> String {
    format!("{n:010} Zażółć gęślą jaźń — the quick brown fox jumps over the lazy dog.\n")
}

impl Content {
    /// Pseudo-random bytes; different seeds give different files.
    pub fn random(seed: u64, len: u64) -> Content {
        Content {
            pattern: Pattern::Random(seed),
            len,
        }
    }

    /// Numbered lines of Polish and English text (compresses well).
    pub fn text(len: u64) -> Content {
        Content {
            pattern: Pattern::Text,
            len,
        }
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    /// Bytes `pos..pos + buf.len()`.
    pub fn fill(&self, mut pos: u64, buf: &mut [u8]) {
        assert!(pos + buf.len() as u64 <= self.len, "past the end");
        let mut i = 0;
        match self.pattern {
            Pattern::Random(seed) => {
                // Up to a word boundary, whole words, then the tail.
                while i < buf.len() && (!pos.is_multiple_of(8) || buf.len() - i < 8) {
                    let off = (pos % 8) as usize;
                    let word = splitmix(seed, pos / 8).to_le_bytes();
                    let n = (8 - off).min(buf.len() - i);
                    buf[i..i + n].copy_from_slice(&word[off..off + n]);
                    i += n;
                    pos += n as u64;
                }
                let whole = (buf.len() - i) / 8 * 8;
                for (word, out) in (pos / 8..).zip(buf[i..i + whole].chunks_exact_mut(8)) {
                    out.copy_from_slice(&splitmix(seed, word).to_le_bytes());
                }
                i += whole;
                pos += whole as u64;
                while i < buf.len() {
                    let off = (pos % 8) as usize;
                    let word = splitmix(seed, pos / 8).to_le_bytes();
                    let n = (8 - off).min(buf.len() - i);
                    buf[i..i + n].copy_from_slice(&word[off..off + n]);
                    i += n;
                    pos += n as u64;
                }
            }
            Pattern::Text => {
                let line_len = text_line(0).len() as u64;
                while i < buf.len() {
                    let line = text_line(pos / line_len);
                    let off = (pos % line_len) as usize;
                    let n = (line.len() - off).min(buf.len() - i);
                    buf[i..i + n].copy_from_slice(&line.as_bytes()[off..off + n]);
                    i += n;
                    pos += n as u64;
                }
            }
        }
    }

    /// Bytes `start..end` in memory (for small pieces).
    pub fn slice(&self, start: u64, end: u64) -> Vec<u8> {
        let mut buf = vec![0; (end - start) as usize];
        self.fill(start, &mut buf);
        buf
    }

    /// A reader of bytes `start..end`.
    pub fn reader_of(&self, start: u64, end: u64) -> ContentReader {
        assert!(start <= end && end <= self.len);
        ContentReader {
            content: *self,
            pos: start,
            end,
        }
    }

    pub fn reader(&self) -> ContentReader {
        self.reader_of(0, self.len)
    }

    /// BLAKE3 hex of bytes `start..end`, computed in pieces.
    pub fn hash_of(&self, start: u64, end: u64) -> String {
        let mut hasher = blake3::Hasher::new();
        let mut buf = vec![0; STEP_BYTES * 4];
        let mut pos = start;
        while pos < end {
            let n = ((end - pos) as usize).min(buf.len());
            self.fill(pos, &mut buf[..n]);
            hasher.update(&buf[..n]);
            pos += n as u64;
        }
        hasher.finalize().to_hex().to_string()
    }

    /// BLAKE3 hex of the first `cut` bytes and of the whole content, in one pass.
    pub fn hash_with_prefix(&self, cut: u64) -> (String, String) {
        let mut hasher = blake3::Hasher::new();
        hasher
            .update_reader(self.reader_of(0, cut))
            .expect("hashing generated content");
        let prefix = hasher.finalize().to_hex().to_string();
        hasher
            .update_reader(self.reader_of(cut, self.len))
            .expect("hashing generated content");
        (prefix, hasher.finalize().to_hex().to_string())
    }

    /// BLAKE3 hex of the whole content: the id the server must give it.
    pub fn hash(&self) -> String {
        self.hash_of(0, self.len)
    }
}

/// Streams a piece of [`Content`] without holding it.
pub struct ContentReader {
    content: Content,
    pos: u64,
    end: u64,
}

impl ContentReader {
    /// Bytes handed out so far, counted from the start of the content.
    pub fn pos(&self) -> u64 {
        self.pos
    }
}

impl Read for ContentReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = ((self.end - self.pos) as usize)
            .min(buf.len())
            .min(STEP_BYTES);
        self.content.fill(self.pos, &mut buf[..n]);
        self.pos += n as u64;
        Ok(n)
    }
}

/// A client for big bodies: long timeout, no proxy, no redirects.
pub fn files_client() -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(FILES_TIMEOUT)
        .build()
        .expect("building the files client")
}

/// `/api/v1/files?name=...` (or below a shipment when `shipment_id` is given).
pub fn upload_path(shipment_id: Option<&str>, name: &str) -> String {
    let base = match shipment_id {
        Some(id) => format!("/api/v1/shipments/{id}/files"),
        None => "/api/v1/files".to_owned(),
    };
    format!("{base}?name={}", percent_encode(name))
}

/// How an upload body goes over the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// With `Content-Length`.
    Sized,
    /// `Transfer-Encoding: chunked`, no length announced.
    Chunked,
}

/// An authenticated POST of `body` to `path`.
pub fn upload_request(
    server: &Server,
    path: &str,
    body: impl Read + Send + 'static,
    len: u64,
    framing: Framing,
) -> RequestBuilder {
    let body = match framing {
        Framing::Sized => Body::sized(body, len),
        Framing::Chunked => Body::new(body),
    };
    files_client()
        .request(Method::POST, server.url(path))
        .bearer_auth(server.key())
        .body(body)
}

/// Sends a request and reads the whole answer; `Err` on transport errors.
pub fn try_send(rb: RequestBuilder) -> Result<Resp, String> {
    let resp = rb.send().map_err(|e| format!("{e:?}"))?;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp
        .text()
        .map_err(|e| format!("reading the body: {e:?}"))?;
    Ok(Resp {
        status,
        headers,
        text,
    })
}

/// Posts `content` to `path` (streamed when big or chunked); panics on transport errors.
pub fn post_content(
    server: &Server,
    path: &str,
    content: &Content,
    content_type: Option<&str>,
    framing: Framing,
) -> Resp {
    let mut rb = if framing == Framing::Sized && content.len() <= IN_MEMORY_BYTES {
        // Sent from memory: the client then reads an answer that comes before the whole
        // body went out (a streamed blocking body reports the cut-off send instead).
        files_client()
            .request(Method::POST, server.url(path))
            .bearer_auth(server.key())
            .body(content.slice(0, content.len()))
    } else {
        upload_request(server, path, content.reader(), content.len(), framing)
    };
    if let Some(ct) = content_type {
        rb = rb.header("content-type", ct);
    }
    try_send(rb).unwrap_or_else(|e| panic!("upload to {path} failed: {e}"))
}

fn expect_file(what: &str, r: &Resp, content: &Content) -> Value {
    assert_eq!(r.status, 201, "{what}: {}", r.text);
    let file = r.json();
    assert_eq!(file["id"], json!(content.hash()), "{what}: {file:#}");
    assert_eq!(file["size"], json!(content.len()), "{what}: {file:#}");
    file
}

/// Uploads a stand-alone file (201 expected, id = BLAKE3 of the content); returns the answer.
pub fn upload(server: &Server, name: &str, content: &Content) -> Value {
    let r = post_content(
        server,
        &upload_path(None, name),
        content,
        None,
        Framing::Sized,
    );
    expect_file(&format!("upload {name:?}"), &r, content)
}

/// Uploads a file into a shipment in preparation (201 expected); returns the file entry.
pub fn attach(server: &Server, shipment_id: &str, name: &str, content: &Content) -> Value {
    let r = post_content(
        server,
        &upload_path(Some(shipment_id), name),
        content,
        None,
        Framing::Sized,
    );
    expect_file(&format!("attach {name:?} to {shipment_id}"), &r, content)
}

/// A standard product delivering these files, merged with `extra` fields; returns its sku.
pub fn standard_with_files(server: &Server, file_ids: &[&str], extra: Value) -> String {
    let sku = unique("std-files");
    let mut body = json!({"name": "Ebook", "kind": "standard", "files": file_ids});
    if let (Some(body), Value::Object(extra)) = (body.as_object_mut(), extra) {
        body.extend(extra);
    }
    put_product(server, &sku, body);
    sku
}

/// Orders and pays one unit of `sku`; returns its (standard: prepared) shipment.
pub fn buy(server: &Server, sku: &str) -> Value {
    let placed = order(server, &[sku]);
    let id = shipment_ids(&placed).remove(0);
    pay(server, str_of(&placed, "id"));
    shipment(server, &id)
}

/// The buyer's URL of one file of a prepared shipment.
pub fn file_url(shipment: &Value, file_id: &str) -> String {
    format!("{}/files/{file_id}", str_of(shipment, "download_url"))
}

/// Completed downloads of one file, as the shop sees them.
pub fn downloads_of(server: &Server, shipment_id: &str, file_id: &str) -> u64 {
    let s = shipment(server, shipment_id);
    let files = s["files"]
        .as_array()
        .unwrap_or_else(|| panic!("shipment without files: {s:#}"));
    let file = files
        .iter()
        .find(|f| f["id"] == json!(file_id))
        .unwrap_or_else(|| panic!("shipment without file {file_id}: {s:#}"));
    file["downloads"]
        .as_u64()
        .unwrap_or_else(|| panic!("file without a downloads count: {file:#}"))
}

/// A download as the client saw it: status, headers, how many body bytes came and their hash.
#[derive(Debug)]
pub struct Fetched {
    pub status: u16,
    pub headers: HeaderMap,
    /// Body bytes received before the end or an error.
    pub len: u64,
    /// BLAKE3 hex of the bytes received.
    pub hash: String,
    /// The first bytes received (all of them for small bodies).
    pub body: Vec<u8>,
    /// Why reading the body stopped early, if it did.
    pub error: Option<String>,
}

impl Fetched {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Asserts a complete, error-free body equal to bytes `start..end` of `content`.
    pub fn assert_content(&self, content: &Content, start: u64, end: u64) {
        assert!(
            self.error.is_none(),
            "download broke after {} bytes: {:?}",
            self.len,
            self.error
        );
        assert_eq!(
            self.len,
            end - start,
            "body length, expected bytes {start}..{end}"
        );
        assert_eq!(
            self.header("content-length"),
            (end - start).to_string(),
            "Content-Length"
        );
        if end - start <= 4096 {
            assert_eq!(self.body, content.slice(start, end), "bytes {start}..{end}");
        } else {
            assert_eq!(
                self.hash,
                content.hash_of(start, end),
                "bytes {start}..{end} differ"
            );
        }
    }
}

/// GETs `url` with these headers and streams the body through BLAKE3; panics when no answer comes.
pub fn fetch(url: &str, headers: &[(&str, &str)]) -> Fetched {
    try_fetch(url, headers).unwrap_or_else(|e| panic!("GET {url} failed: {e}"))
}

/// Like [`fetch`], but a connection that breaks before the response head is an `Err`.
pub fn try_fetch(url: &str, headers: &[(&str, &str)]) -> Result<Fetched, String> {
    let mut rb = files_client().get(url);
    for (name, value) in headers {
        rb = rb.header(*name, *value);
    }
    let mut resp = rb.send().map_err(|e| format!("{e:?}"))?;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let mut hasher = blake3::Hasher::new();
    let mut body = Vec::new();
    let mut buf = vec![0u8; STEP_BYTES];
    let mut len = 0u64;
    let mut error = None;
    loop {
        match resp.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                hasher.update(&buf[..n]);
                len += n as u64;
                let keep = n.min(KEEP_BYTES.saturating_sub(body.len()));
                body.extend_from_slice(&buf[..keep]);
            }
            Err(e) => {
                error = Some(format!("{e:?}"));
                break;
            }
        }
    }
    Ok(Fetched {
        status,
        headers,
        len,
        hash: hasher.finalize().to_hex().to_string(),
        body,
        error,
    })
}

/// BLAKE3 hex of a file on disk.
pub fn hash_file(path: &Path) -> String {
    let mut file =
        std::fs::File::open(path).unwrap_or_else(|e| panic!("opening {}: {e}", path.display()));
    let mut hasher = blake3::Hasher::new();
    hasher
        .update_reader(&mut file)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    hasher.finalize().to_hex().to_string()
}

/// Writes `content` to a file on disk, in pieces.
pub fn write_file(path: &Path, content: &Content) {
    let mut file =
        std::fs::File::create(path).unwrap_or_else(|e| panic!("creating {}: {e}", path.display()));
    io::copy(&mut content.reader(), &mut file)
        .unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
}

/// A plain TCP connection to the server, for requests no well-behaved client would send.
pub fn raw_connect(server: &Server) -> TcpStream {
    let addr = server
        .base()
        .strip_prefix("http://")
        .expect("an http:// base URL");
    let stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connecting {addr}: {e}"));
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("setting a read timeout");
    stream
}

/// The request line and headers of a raw HTTP/1.1 request (ending in the blank line).
pub fn raw_head(server: &Server, method: &str, target: &str, headers: &[(&str, &str)]) -> String {
    let host = server.base().strip_prefix("http://").unwrap_or("localhost");
    let mut head = format!("{method} {target} HTTP/1.1\r\nHost: {host}\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    head
}

/// A response's status line and headers read from a raw connection, plus body bytes read with them.
#[derive(Debug)]
pub struct RawHead {
    pub status: u16,
    /// Header names in lowercase.
    pub headers: Vec<(String, String)>,
    pub rest: Vec<u8>,
}

impl RawHead {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Reads up to the end of the response head.
pub fn read_head(stream: &mut TcpStream) -> io::Result<RawHead> {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    let end = loop {
        if let Some(i) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        if data.len() > 64 * 1024 {
            return Err(io::Error::other("response head over 64 KiB"));
        }
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "connection closed in the response head: {:?}",
                    String::from_utf8_lossy(&data)
                ),
            ));
        }
        data.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&data[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| io::Error::other(format!("bad status line {status_line:?}")))?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Ok(RawHead {
        status,
        headers,
        rest: data[end + 4..].to_vec(),
    })
}

/// Reads the (Content-Length delimited) body after `head`, as JSON (`Null` if it is not JSON).
pub fn read_body(stream: &mut TcpStream, head: &RawHead) -> Value {
    let len: usize = head
        .header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = head.rest.clone();
    let mut buf = [0u8; 4096];
    while body.len() < len {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => body.extend_from_slice(&buf[..n]),
        }
    }
    serde_json::from_slice(&body).unwrap_or(Value::Null)
}

/// Writes all of `bytes`.
pub fn raw_write(stream: &mut TcpStream, bytes: &[u8]) -> io::Result<()> {
    stream.write_all(bytes)?;
    stream.flush()
}

/// Flips one bit of `pattern`'s byte at `at` wherever the pattern occurs in the file; returns how many places changed.
pub fn flip_byte_everywhere(path: &Path, pattern: &[u8], at: usize) -> usize {
    assert!(at < pattern.len() && pattern.len() >= 16);
    let mut data =
        std::fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(i) = data[from..].iter().position(|&b| b == pattern[0]) {
        let i = from + i;
        if data.len() - i < pattern.len() {
            break;
        }
        if &data[i..i + pattern.len()] == pattern {
            found.push(i);
        }
        from = i + 1;
    }
    for i in &found {
        data[i + at] ^= 0x01;
    }
    if !found.is_empty() {
        std::fs::write(path, &data).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    }
    found.len()
}

/// Decodes RFC 3986 percent-encoding (as in `filename*=UTF-8''...`).
pub fn percent_decode(s: &str) -> Vec<u8> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(hex) = std::str::from_utf8(&bytes[i + 1..i + 3])
            && let Ok(b) = u8::from_str_radix(hex, 16)
        {
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

/// What `waybill files verify` said.
#[derive(Debug)]
pub struct Verified {
    /// N of `checked N files: K corrupt`.
    pub checked: u64,
    /// K of `checked N files: K corrupt`.
    pub corrupt: u64,
    pub stdout: String,
    pub code: i32,
}

/// Runs `waybill files verify` on a stopped server's data dir.
/// Files every data dir holds from its first start: the bundled plugins' components.
pub const BUNDLED_PLUGIN_FILES: u64 = 3;

pub fn verify_store(data_dir: &Path) -> Verified {
    let out = waybill_cli(&["files", "verify"], data_dir);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let summary = stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("checked "))
        .unwrap_or_else(|| {
            panic!(
                "no `checked N files: K corrupt` line in: {stdout}\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    let numbers: Vec<u64> = summary
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|w| w.parse().ok())
        .collect();
    assert_eq!(numbers.len(), 2, "summary {summary:?}");
    Verified {
        checked: numbers[0],
        corrupt: numbers[1],
        code: out.status.code().unwrap_or(-1),
        stdout,
    }
}
