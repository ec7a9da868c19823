//! PASETO `v4.public` tokens (Ed25519 signatures), implemented from the spec.
//!
//! A token is `"v4.public." + base64url(m || sig)`, followed by
//! `"." + base64url(footer)` when the footer is not empty. The signature is
//! Ed25519 over `PAE(["v4.public.", m, footer, implicit_assertion])`; see
//! <https://github.com/paseto-standard/paseto-spec> (`docs/01-Protocol-Versions/Version4.md`
//! and `docs/01-Protocol-Versions/Common.md` for PAE).
//!
//! This module only knows the one version and purpose it implements: the
//! header is checked byte for byte and the caller always picks the key, so a
//! token can never choose its own algorithm. Parsing is strict: unpadded
//! base64url with canonical trailing bits only, at most [`TOKEN_BYTES_MAX`]
//! bytes, and no empty footer part (`sign` never writes one).

use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};

/// The only header this module accepts or writes.
pub const HEADER: &str = "v4.public.";

/// The longest token `verify` and `footer_of` will look at, in bytes.
/// `sign` does not enforce it: keep messages and footers small.
pub const TOKEN_BYTES_MAX: usize = 8192;

const SIGNATURE_BYTES: usize = 64;

/// Unpadded base64url, strict: no padding, no non-canonical trailing bits.
const B64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::RequireNone)
        .with_decode_allow_trailing_bits(false),
);

/// What a verified token carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    /// The signed message (for Waybill, JSON claims).
    pub message: Vec<u8>,
    /// The footer (signed too); empty when the token has none.
    pub footer: Vec<u8>,
}

/// Why a token was rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PasetoError {
    /// Longer than [`TOKEN_BYTES_MAX`]; not looked at further.
    #[error("token is {0} bytes long, more than {TOKEN_BYTES_MAX}")]
    TooLarge(usize),
    /// Anything but a `v4.public.` token.
    #[error("not a v4.public token")]
    WrongHeader,
    /// The right header, but the rest cannot be a token.
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    /// Well formed, but the signature does not verify with the given key,
    /// footer and implicit assertion.
    #[error("token signature does not verify")]
    BadSignature,
}

/// Signs `message` into a `v4.public` token. The footer is signed and sent
/// in the clear; the implicit assertion is signed but not sent, so the
/// verifier must supply the same bytes.
pub fn sign(key: &SigningKey, message: &[u8], footer: &[u8], implicit: &[u8]) -> String {
    let signature = key.sign(&pae(&[HEADER.as_bytes(), message, footer, implicit]));
    let mut body = Vec::with_capacity(message.len() + SIGNATURE_BYTES);
    body.extend_from_slice(message);
    body.extend_from_slice(&signature.to_bytes());

    let mut token = String::from(HEADER);
    B64.encode_string(&body, &mut token);
    if !footer.is_empty() {
        token.push('.');
        B64.encode_string(footer, &mut token);
    }
    token
}

/// Verifies a `v4.public` token with `key` (using Ed25519 `verify_strict`)
/// and the expected implicit assertion; returns the message and footer.
pub fn verify(key: &VerifyingKey, token: &str, implicit: &[u8]) -> Result<Verified, PasetoError> {
    let parts = split(token)?;
    let payload = B64
        .decode(parts.body)
        .map_err(|_| PasetoError::Malformed("payload is not unpadded base64url"))?;
    let Some(message_len) = payload.len().checked_sub(SIGNATURE_BYTES) else {
        return Err(PasetoError::Malformed(
            "payload is shorter than a signature",
        ));
    };
    let (message, signature) = payload.split_at(message_len);
    let signature: [u8; SIGNATURE_BYTES] = signature
        .try_into()
        .map_err(|_| PasetoError::Malformed("payload is shorter than a signature"))?;
    let footer = decode_footer(parts.footer)?;

    let signed = pae(&[HEADER.as_bytes(), message, &footer, implicit]);
    key.verify_strict(&signed, &Signature::from_bytes(&signature))
        .map_err(|_| PasetoError::BadSignature)?;
    Ok(Verified {
        message: message.to_vec(),
        footer,
    })
}

/// Reads a token's footer WITHOUT verifying anything: the bytes are
/// untrusted, attacker-controlled input. Use them only to choose which of
/// your keys to verify with (e.g. by key id), then call [`verify`], which
/// checks the footer as part of the signature.
pub fn footer_of(token: &str) -> Result<Vec<u8>, PasetoError> {
    decode_footer(split(token)?.footer)
}

struct Parts<'a> {
    body: &'a str,
    footer: Option<&'a str>,
}

fn split(token: &str) -> Result<Parts<'_>, PasetoError> {
    if token.len() > TOKEN_BYTES_MAX {
        return Err(PasetoError::TooLarge(token.len()));
    }
    let rest = token.strip_prefix(HEADER).ok_or(PasetoError::WrongHeader)?;
    let mut pieces = rest.split('.');
    let body = pieces.next().unwrap_or_default();
    let footer = pieces.next();
    if pieces.next().is_some() {
        return Err(PasetoError::Malformed("too many parts"));
    }
    if footer == Some("") {
        return Err(PasetoError::Malformed("empty footer part"));
    }
    Ok(Parts { body, footer })
}

fn decode_footer(footer: Option<&str>) -> Result<Vec<u8>, PasetoError> {
    match footer {
        None => Ok(Vec::new()),
        Some(footer) => B64
            .decode(footer)
            .map_err(|_| PasetoError::Malformed("footer is not unpadded base64url")),
    }
}

/// Pre-Authentication Encoding: the piece count, then each piece prefixed
/// by its length, all lengths as 64-bit little-endian with the top bit clear.
fn pae(pieces: &[&[u8]]) -> Vec<u8> {
    let len = 8 + pieces.iter().map(|piece| 8 + piece.len()).sum::<usize>();
    let mut out = Vec::with_capacity(len);
    out.extend_from_slice(&le64(pieces.len()));
    for piece in pieces {
        out.extend_from_slice(&le64(piece.len()));
        out.extend_from_slice(piece);
    }
    out
}

fn le64(n: usize) -> [u8; 8] {
    ((n as u64) & (u64::MAX >> 1)).to_le_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    const VECTORS: &str = include_str!("../../tests/data/paseto-v4-public.json");

    fn unhex<const N: usize>(hex: &str) -> [u8; N] {
        assert_eq!(hex.len(), 2 * N, "hex length of {hex}");
        let mut out = [0u8; N];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap();
        }
        out
    }

    /// The key of the official vectors, so tampering tests start from them.
    fn vector_keys() -> (SigningKey, VerifyingKey) {
        let seed = unhex::<32>("b4cbfb43df4ce210727d953e4a713307fa19bb7d9f85041438d9e11b942a3774");
        let signing = SigningKey::from_bytes(&seed);
        let verifying = signing.verifying_key();
        (signing, verifying)
    }

    fn other_key() -> SigningKey {
        SigningKey::from_bytes(&[7u8; 32])
    }

    /// Vector 4-S-3: a footer and an implicit assertion.
    const TOKEN_4_S_3: &str = "v4.public.eyJkYXRhIjoidGhpcyBpcyBhIHNpZ25lZCBtZXNzYWdlIiwiZXhwIjoiMjAyMi0wMS0wMVQwMDowMDowMCswMDowMCJ9NPWciuD3d0o5eXJXG5pJy-DiVEoyPYWs1YSTwWHNJq6DZD3je5gf-0M4JR9ipdUSJbIovzmBECeaWmaqcaP0DQ.eyJraWQiOiJ6VmhNaVBCUDlmUmYyc25FY1Q3Z0ZUaW9lQTlDT2NOeTlEZmdMMVc2MGhhTiJ9";
    const IMPLICIT_4_S_3: &[u8] = br#"{"test-vector":"4-S-3"}"#;

    fn check_rejected(token: &str, implicit: &[u8], expected: PasetoError) {
        let (_, key) = vector_keys();
        assert_eq!(
            verify(&key, token, implicit),
            Err(expected),
            "token {token:?}"
        );
    }

    #[test]
    fn official_vectors() {
        let file: Value = serde_json::from_str(VECTORS).unwrap();
        let tests = file["tests"].as_array().unwrap();
        assert!(tests.len() >= 3);
        let mut ran = 0;
        for test in tests {
            let name = test["name"].as_str().unwrap();
            let token = test["token"].as_str().unwrap();
            let implicit = test["implicit-assertion"].as_str().unwrap().as_bytes();
            let public = test["public-key"]
                .as_str()
                .and_then(|hex| VerifyingKey::from_bytes(&unhex::<32>(hex)).ok());
            if test["expect-fail"].as_bool().unwrap() {
                let key = public.unwrap_or_else(|| vector_keys().1);
                assert!(verify(&key, token, implicit).is_err(), "{name} verified");
                ran += 1;
                continue;
            }

            let public = public.unwrap();
            let secret = test["secret-key"].as_str().unwrap();
            let signing = SigningKey::from_bytes(&unhex::<32>(&secret[..64]));
            assert_eq!(signing.verifying_key(), public, "{name}: key pair");

            let verified =
                verify(&public, token, implicit).unwrap_or_else(|e| panic!("{name}: {e}"));
            match &test["payload"] {
                // The upstream file stores the payload as the exact JSON text.
                Value::String(text) => assert_eq!(verified.message, text.as_bytes(), "{name}"),
                payload => {
                    let message: Value = serde_json::from_slice(&verified.message).unwrap();
                    assert_eq!(&message, payload, "{name}: payload");
                }
            }
            let footer = test["footer"].as_str().unwrap().as_bytes();
            assert_eq!(verified.footer, footer, "{name}: footer");
            assert_eq!(footer_of(token).unwrap(), footer, "{name}: footer_of");
            // Ed25519 is deterministic, so signing reproduces the token exactly.
            assert_eq!(
                sign(&signing, &verified.message, footer, implicit),
                token,
                "{name}: sign"
            );
            ran += 1;
        }
        assert_eq!(ran, tests.len());
    }

    #[test]
    fn pae_matches_the_spec_examples() {
        assert_eq!(pae(&[]), b"\x00\x00\x00\x00\x00\x00\x00\x00");
        assert_eq!(
            pae(&[b""]),
            b"\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
        );
        assert_eq!(
            pae(&[b"test"]),
            b"\x01\x00\x00\x00\x00\x00\x00\x00\x04\x00\x00\x00\x00\x00\x00\x00test"
        );
        assert_eq!(le64(usize::MAX), (u64::MAX >> 1).to_le_bytes());
    }

    #[test]
    fn round_trip_with_and_without_footer() {
        let (signing, verifying) = vector_keys();
        for (message, footer, implicit) in [
            (&b"hello"[..], &b""[..], &b""[..]),
            (b"hello", b"{\"kid\":\"k\"}", b"ctx"),
            (b"", b"", b""),
            (b"", b"f", b""),
        ] {
            let token = sign(&signing, message, footer, implicit);
            assert!(token.starts_with(HEADER));
            assert_eq!(
                token.matches('.').count(),
                if footer.is_empty() { 2 } else { 3 }
            );
            let verified = verify(&verifying, &token, implicit).unwrap();
            assert_eq!(verified.message, message);
            assert_eq!(verified.footer, footer);
            assert_eq!(footer_of(&token).unwrap(), footer);
        }
    }

    fn body_and_footer(token: &str) -> (Vec<u8>, Option<&str>) {
        let rest = token.strip_prefix(HEADER).unwrap();
        let (body, footer) = match rest.split_once('.') {
            Some((body, footer)) => (body, Some(footer)),
            None => (rest, None),
        };
        (B64.decode(body).unwrap(), footer)
    }

    fn reassemble(body: &[u8], footer: Option<&str>) -> String {
        let mut token = format!("{HEADER}{}", B64.encode(body));
        if let Some(footer) = footer {
            token.push('.');
            token.push_str(footer);
        }
        token
    }

    #[test]
    fn tampered_payload_signature_or_footer_is_rejected() {
        let (body, footer) = body_and_footer(TOKEN_4_S_3);
        for index in [
            0,
            body.len() - SIGNATURE_BYTES - 1,
            body.len() - SIGNATURE_BYTES,
            body.len() - 1,
        ] {
            let mut tampered = body.clone();
            tampered[index] ^= 0x01;
            check_rejected(
                &reassemble(&tampered, footer),
                IMPLICIT_4_S_3,
                PasetoError::BadSignature,
            );
        }

        let mut footer_bytes = B64.decode(footer.unwrap()).unwrap();
        footer_bytes[9] ^= 0x20;
        let token = reassemble(&body, Some(&B64.encode(&footer_bytes)));
        check_rejected(&token, IMPLICIT_4_S_3, PasetoError::BadSignature);
        // Dropping the footer altogether changes what was signed, too.
        check_rejected(
            &reassemble(&body, None),
            IMPLICIT_4_S_3,
            PasetoError::BadSignature,
        );
    }

    #[test]
    fn non_canonical_signature_scalar_is_rejected() {
        // S + L (the group order) verifies under lax checks; verify_strict refuses it.
        const ORDER: [u8; 32] = [
            0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9,
            0xde, 0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
        ];
        let (mut body, footer) = body_and_footer(TOKEN_4_S_3);
        let s_start = body.len() - 32;
        let mut carry = 0u16;
        for (byte, add) in body[s_start..].iter_mut().zip(ORDER) {
            let sum = u16::from(*byte) + u16::from(add) + carry;
            *byte = sum as u8;
            carry = sum >> 8;
        }
        assert_eq!(carry, 0);
        check_rejected(
            &reassemble(&body, footer),
            IMPLICIT_4_S_3,
            PasetoError::BadSignature,
        );
    }

    #[test]
    fn other_versions_and_purposes_are_rejected() {
        let rest = TOKEN_4_S_3.strip_prefix(HEADER).unwrap();
        for header in [
            "v3.public.",
            "v2.public.",
            "v4.local.",
            "V4.PUBLIC.",
            "v4.public",
            "v4.",
            "",
            ".v4.public.",
        ] {
            check_rejected(
                &format!("{header}{rest}"),
                IMPLICIT_4_S_3,
                PasetoError::WrongHeader,
            );
        }
        check_rejected(
            &format!(" {TOKEN_4_S_3}"),
            IMPLICIT_4_S_3,
            PasetoError::WrongHeader,
        );
    }

    #[test]
    fn wrong_implicit_assertion_or_key_is_rejected() {
        check_rejected(TOKEN_4_S_3, b"", PasetoError::BadSignature);
        check_rejected(
            TOKEN_4_S_3,
            b"{\"test-vector\":\"4-S-2\"}",
            PasetoError::BadSignature,
        );

        let token = sign(&other_key(), b"{\"data\":1}", b"", b"");
        check_rejected(&token, b"", PasetoError::BadSignature);
        assert!(verify(&other_key().verifying_key(), &token, b"").is_ok());
    }

    #[test]
    fn truncated_garbage_and_empty_tokens_are_rejected() {
        let (_, key) = vector_keys();
        for len in 0..TOKEN_4_S_3.len() {
            assert!(
                verify(&key, &TOKEN_4_S_3[..len], IMPLICIT_4_S_3).is_err(),
                "prefix of {len} bytes"
            );
        }
        check_rejected("", b"", PasetoError::WrongHeader);
        check_rejected("garbage", b"", PasetoError::WrongHeader);
        check_rejected(
            "v4.public.",
            b"",
            PasetoError::Malformed("payload is shorter than a signature"),
        );
        check_rejected(
            "v4.public.!!!!",
            b"",
            PasetoError::Malformed("payload is not unpadded base64url"),
        );
    }

    #[test]
    fn malformed_structure_is_rejected() {
        check_rejected(
            &format!("{TOKEN_4_S_3}.eyJ9"),
            IMPLICIT_4_S_3,
            PasetoError::Malformed("too many parts"),
        );
        let (signing, _) = vector_keys();
        let token = sign(&signing, b"m", b"", b"");
        check_rejected(
            &format!("{token}."),
            b"",
            PasetoError::Malformed("empty footer part"),
        );

        let short = format!("{HEADER}{}", B64.encode([0u8; SIGNATURE_BYTES - 1]));
        check_rejected(
            &short,
            b"",
            PasetoError::Malformed("payload is shorter than a signature"),
        );
        let bad_footer = format!("{TOKEN_4_S_3}=");
        check_rejected(
            &bad_footer,
            b"",
            PasetoError::Malformed("footer is not unpadded base64url"),
        );
        assert_eq!(
            footer_of(&bad_footer),
            Err(PasetoError::Malformed("footer is not unpadded base64url"))
        );
    }

    #[test]
    fn base64_must_be_strict() {
        let (signing, verifying) = vector_keys();
        // 1 + 64 bytes encode to 87 characters: the last one has unused low bits.
        let token = sign(&signing, b"x", b"", b"");
        assert!(verify(&verifying, &token, b"").is_ok());
        let body = token.strip_prefix(HEADER).unwrap();
        assert_eq!(body.len() % 4, 3);

        let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let last = body.chars().last().unwrap();
        let index = alphabet.find(last).unwrap();
        let sloppy = alphabet.chars().nth(index ^ 1).unwrap();
        let malformed = PasetoError::Malformed("payload is not unpadded base64url");
        let non_canonical = format!("{HEADER}{}{sloppy}", &body[..body.len() - 1]);
        check_rejected(&non_canonical, b"", malformed.clone());
        check_rejected(&format!("{token}="), b"", malformed.clone());

        let standard = format!("{HEADER}{}", body.replace('-', "+").replace('_', "/"));
        if standard != token {
            check_rejected(&standard, b"", malformed.clone());
        }
        let spaced = format!("{HEADER}{} {}", &body[..10], &body[10..]);
        check_rejected(&spaced, b"", malformed);
    }

    #[test]
    fn size_limit_is_exact() {
        let (signing, verifying) = vector_keys();
        let mut largest_ok = 0;
        for message_len in 6000..6200 {
            let message = vec![b'a'; message_len];
            let token = sign(&signing, &message, b"", b"");
            if token.len() <= TOKEN_BYTES_MAX {
                assert_eq!(verify(&verifying, &token, b"").unwrap().message, message);
                largest_ok = largest_ok.max(token.len());
            } else {
                assert_eq!(
                    verify(&verifying, &token, b""),
                    Err(PasetoError::TooLarge(token.len()))
                );
                assert_eq!(footer_of(&token), Err(PasetoError::TooLarge(token.len())));
            }
        }
        assert!(
            largest_ok > TOKEN_BYTES_MAX - 4,
            "largest accepted token {largest_ok}"
        );
        let huge = "a".repeat(1 << 20);
        assert_eq!(
            verify(&verifying, &huge, b""),
            Err(PasetoError::TooLarge(1 << 20))
        );
    }

    /// splitmix64: a tiny deterministic generator, so failures reproduce.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    #[test]
    fn verify_never_panics_and_rejects_arbitrary_input() {
        let (signing, verifying) = vector_keys();
        let valid = sign(
            &signing,
            br#"{"sub":"s","exp":"2030-01-01T00:00:00Z"}"#,
            b"{\"kid\":\"k\"}",
            b"ctx",
        );
        assert!(verify(&verifying, &valid, b"ctx").is_ok());
        let charset: Vec<char> =
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ \nżé\u{0}"
                .chars()
                .collect();
        let mut rng = Rng(0x5eed);

        for round in 0..3000 {
            let candidate = match round % 3 {
                // Arbitrary bytes (lossily made UTF-8, as the HTTP layer would).
                0 => {
                    let bytes: Vec<u8> = (0..rng.below(300)).map(|_| rng.next() as u8).collect();
                    let prefix = if rng.below(2) == 0 { HEADER } else { "" };
                    format!("{prefix}{}", String::from_utf8_lossy(&bytes))
                }
                // The right header and token-ish characters.
                1 => {
                    let text: String = (0..rng.below(400))
                        .map(|_| charset[rng.below(charset.len())])
                        .collect();
                    format!("{HEADER}{text}")
                }
                // One mutation of a valid token: always a different string.
                _ => {
                    let mut chars: Vec<char> = valid.chars().collect();
                    let at = rng.below(chars.len());
                    match rng.below(4) {
                        0 => {
                            let mut replacement = charset[rng.below(charset.len())];
                            while replacement == chars[at] {
                                replacement = charset[rng.below(charset.len())];
                            }
                            chars[at] = replacement;
                        }
                        1 => {
                            chars.remove(at);
                        }
                        2 => chars.insert(at, charset[rng.below(charset.len())]),
                        _ => chars.truncate(at),
                    }
                    chars.into_iter().collect()
                }
            };
            assert_ne!(candidate, valid);
            assert!(
                verify(&verifying, &candidate, b"ctx").is_err(),
                "accepted {candidate:?}"
            );
            let _ = footer_of(&candidate);
        }
    }
}
