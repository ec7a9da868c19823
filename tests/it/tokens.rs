//! Download tokens: PASETO v4.public verified offline with the published keys, tampering, rotation.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use reqwest::Method;
use serde_json::{Value, json};
use time::{Duration, OffsetDateTime};

use crate::support::*;

const HEADER: &str = "v4.public.";
const IMPLICIT: &[u8] = b"waybill-download-v1";

/// PASETO pre-authentication encoding.
fn pae(pieces: &[&[u8]]) -> Vec<u8> {
    let le64 = |n: usize| (n as u64 & (u64::MAX >> 1)).to_le_bytes();
    let mut out = le64(pieces.len()).to_vec();
    for piece in pieces {
        out.extend_from_slice(&le64(piece.len()));
        out.extend_from_slice(piece);
    }
    out
}

fn b64(s: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD
        .decode(s.trim_end_matches('='))
        .unwrap_or_else(|e| panic!("bad base64url {s:?}: {e}"))
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// A parsed (not yet verified) v4.public token.
struct Token {
    message: Vec<u8>,
    signature: [u8; 64],
    footer: Vec<u8>,
}

fn parse(token: &str) -> Token {
    let body = token
        .strip_prefix(HEADER)
        .unwrap_or_else(|| panic!("not a v4.public token: {token}"));
    let (payload, footer) = match body.split_once('.') {
        Some((p, f)) => (p, b64(f)),
        None => (body, Vec::new()),
    };
    let mut payload = b64(payload);
    assert!(payload.len() > 64, "token payload too short");
    let signature = payload.split_off(payload.len() - 64);
    Token {
        message: payload,
        signature: signature.try_into().unwrap(),
        footer,
    }
}

/// Verifies a token offline; returns its claims.
fn verify(token: &str, public_key: &[u8], implicit: &[u8]) -> Result<Vec<u8>, String> {
    let t = parse(token);
    let key: [u8; 32] = public_key
        .try_into()
        .map_err(|_| format!("public key of {} bytes", public_key.len()))?;
    let key = VerifyingKey::from_bytes(&key).map_err(|e| e.to_string())?;
    let m2 = pae(&[HEADER.as_bytes(), &t.message, &t.footer, implicit]);
    key.verify_strict(&m2, &Signature::from_bytes(&t.signature))
        .map_err(|e| e.to_string())?;
    Ok(t.message)
}

/// Signs claims and footer like a v4.public token (to forge tokens with a foreign key).
fn sign(key: &SigningKey, message: &[u8], footer: &[u8]) -> String {
    let m2 = pae(&[HEADER.as_bytes(), message, footer, IMPLICIT]);
    let mut body = message.to_vec();
    body.extend_from_slice(&key.sign(&m2).to_bytes());
    format!(
        "{HEADER}{}.{}",
        URL_SAFE_NO_PAD.encode(body),
        URL_SAFE_NO_PAD.encode(footer)
    )
}

fn published_keys(server: &Server) -> Vec<Value> {
    let r = server.send(server.anon(Method::GET, "/.well-known/waybill/keys"));
    assert_eq!(r.status, 200, "{}", r.text);
    let body = r.json();
    let keys = body["keys"].as_array().cloned().unwrap_or_default();
    for k in &keys {
        assert_eq!(k["alg"], "Ed25519", "{k:#}");
        assert!(!str_of(k, "kid").is_empty(), "{k:#}");
        assert_eq!(b64(str_of(k, "public_key")).len(), 32, "{k:#}");
    }
    keys
}

fn kid_of(token: &str) -> String {
    let footer: Value = serde_json::from_slice(&parse(token).footer).expect("footer is JSON");
    str_of(&footer, "kid").to_owned()
}

/// Verifies a download URL's token with the published key its footer names; returns the claims.
fn verify_offline(server: &Server, download_url: &str) -> Value {
    let token = token_of(download_url);
    let kid = kid_of(token);
    let keys = published_keys(server);
    let key = keys
        .iter()
        .find(|k| k["kid"] == kid.as_str())
        .unwrap_or_else(|| panic!("kid {kid} is not published: {keys:#?}"));
    let claims = verify(token, &b64(str_of(key, "public_key")), IMPLICIT)
        .unwrap_or_else(|e| panic!("token does not verify offline: {e}"));
    serde_json::from_slice(&claims).expect("claims are JSON")
}

#[test]
fn offline_verifier_agrees_with_the_official_vector() {
    // paseto-standard/test-vectors v4.json, case 4-S-3 (footer and implicit assertion).
    let public_key = hex("1eb9dbbbbc047c03fd70604e0071f0987e16b28b757225c11f00415d0e20b1a2");
    let token = "v4.public.eyJkYXRhIjoidGhpcyBpcyBhIHNpZ25lZCBtZXNzYWdlIiwiZXhwIjoiMjAyMi0wMS0wMVQwMDowMDowMCswMDowMCJ9NPWciuD3d0o5eXJXG5pJy-DiVEoyPYWs1YSTwWHNJq6DZD3je5gf-0M4JR9ipdUSJbIovzmBECeaWmaqcaP0DQ.eyJraWQiOiJ6VmhNaVBCUDlmUmYyc25FY1Q3Z0ZUaW9lQTlDT2NOeTlEZmdMMVc2MGhhTiJ9";
    let implicit = br#"{"test-vector":"4-S-3"}"#;
    let claims = verify(token, &public_key, implicit).expect("the official vector verifies");
    assert_eq!(
        claims,
        br#"{"data":"this is a signed message","exp":"2022-01-01T00:00:00+00:00"}"#
    );
    assert!(verify(token, &public_key, b"").is_err());
    assert_eq!(
        kid_of(token),
        "zVhMiPBP9fRf2snEcT7gFTioeA9COcNy9DfgL1W60haN"
    );
}

#[test]
fn keys_are_published_without_auth() {
    let server = Server::start();
    let keys = published_keys(&server);
    assert_eq!(keys.len(), 1, "{keys:#?}");
}

#[test]
fn download_token_verifies_offline() {
    let server = Server::start();
    let prepared = prepared_shipment(&server, &[("Key", "OFFLINE-1")]);
    let claims = verify_offline(&server, str_of(&prepared, "download_url"));
    let exp = parse_time(&claims["exp"]);
    let now = OffsetDateTime::now_utc();
    let ttl = Duration::hours(720);
    assert!(
        exp > now + ttl - Duration::minutes(10) && exp < now + ttl + Duration::minutes(10),
        "exp {exp} is not about 720 h from now: {claims:#}"
    );
}

#[test]
fn link_ttl_sets_the_expiry() {
    let server = Server::start();
    let sku = personalized_with(&server, json!({"link_ttl_hours": 2}));
    let order = order(&server, &[&sku]);
    let id = shipment_ids(&order).remove(0);
    pay(&server, str_of(&order, "id"));
    add_item(&server, &id, "Key", "TTL");
    let prepared = prepare(&server, &id);
    let claims = verify_offline(&server, str_of(&prepared, "download_url"));
    let exp = parse_time(&claims["exp"]);
    let want = OffsetDateTime::now_utc() + Duration::hours(2);
    assert!(
        (exp - want).abs() < Duration::minutes(10),
        "exp {exp}, expected about {want}"
    );
}

#[test]
fn tokens_differ_per_shipment() {
    let server = Server::start();
    let a = prepared_shipment(&server, &[("Key", "A")]);
    let b = prepared_shipment(&server, &[("Key", "A")]);
    assert_ne!(a["download_url"], b["download_url"]);
    assert_ne!(
        verify_offline(&server, str_of(&a, "download_url")),
        verify_offline(&server, str_of(&b, "download_url"))
    );
}

#[test]
fn tampered_and_forged_tokens_are_refused() {
    let server = Server::start();
    let prepared = prepared_shipment(&server, &[("Key", "TAMPER-1")]);
    let token = token_of(str_of(&prepared, "download_url")).to_owned();
    let t = parse(&token);
    let link = |t: &str| format!("{}/d/{t}", server.base());

    // A valid signature over the same claims, made with a key that is not the shop's.
    let forger = SigningKey::from_bytes(&[7u8; 32]);
    let forged = sign(&forger, &t.message, &t.footer);
    // The shop's claims with one byte of the signature changed.
    let mut bad_sig = t.message.clone();
    let mut sig = t.signature;
    sig[10] ^= 1;
    bad_sig.extend_from_slice(&sig);
    let bad_sig = format!(
        "{HEADER}{}.{}",
        URL_SAFE_NO_PAD.encode(&bad_sig),
        URL_SAFE_NO_PAD.encode(&t.footer)
    );
    // Other claims under the shop's signature.
    let mut other_claims = t.message.clone();
    other_claims[2] ^= 1;
    other_claims.extend_from_slice(&t.signature);
    let other_claims = format!(
        "{HEADER}{}.{}",
        URL_SAFE_NO_PAD.encode(&other_claims),
        URL_SAFE_NO_PAD.encode(&t.footer)
    );
    // Another kid in the footer.
    let other_kid = format!(
        "{}.{}",
        token.rsplit_once('.').unwrap().0,
        URL_SAFE_NO_PAD.encode(br#"{"kid":"nope"}"#)
    );
    // No footer at all.
    let no_footer = token.rsplit_once('.').unwrap().0.to_owned();

    for bad in [&forged, &bad_sig, &other_claims, &other_kid, &no_footer] {
        let r = server.buyer_json(&link(bad));
        assert_problem(&r, 403, "token_invalid");
        assert!(!r.text.contains("TAMPER-1"));
    }
    assert_eq!(server.buyer_json(&link(&token)).status, 200);
}

#[test]
fn rotation_keeps_old_links_working() {
    let mut server = Server::start();
    let old = prepared_shipment(&server, &[("Key", "ROTATE-OLD")]);
    let old_url = str_of(&old, "download_url").to_owned();
    let old_kid = kid_of(token_of(&old_url));

    server.stop();
    let out = waybill_cli(&["keys", "rotate-signing"], server.data_dir());
    assert!(
        out.status.success(),
        "rotate-signing failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    server.start_again();
    assert!(
        server.printed_key().is_none(),
        "a restart printed an admin key"
    );

    let keys = published_keys(&server);
    assert_eq!(keys.len(), 2, "{keys:#?}");
    assert!(keys.iter().any(|k| k["kid"] == old_kid.as_str()));
    let view = server.buyer_json(&old_url);
    assert_eq!(view.status, 200, "{}", view.text);
    assert_eq!(items_of(&view.json()), pairs(&[("Key", "ROTATE-OLD")]));
    verify_offline(&server, &old_url);

    let new = prepared_shipment(&server, &[("Key", "ROTATE-NEW")]);
    let new_url = str_of(&new, "download_url");
    let new_kid = kid_of(token_of(new_url));
    assert_ne!(new_kid, old_kid, "new links must use the new key");
    verify_offline(&server, new_url);
    assert_eq!(server.buyer_json(new_url).status, 200);
}

#[test]
fn rotation_refuses_while_the_server_runs() {
    let server = Server::start();
    let out = waybill_cli(&["keys", "rotate-signing"], server.data_dir());
    assert!(
        !out.status.success(),
        "rotate-signing ran beside a live server"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.trim().is_empty(), "no error message");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(published_keys(&server).len(), 1);
}
