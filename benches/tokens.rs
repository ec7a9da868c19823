//! Benchmark: download-token verification (`KeyRing::verify`) against raw Ed25519 `verify_strict`.
//!
//! Run with `cargo bench --bench tokens`. Every buyer link is checked by
//! `KeyRing::verify` (PASETO `v4.public`: base64url, PAE, Ed25519, then the
//! JSON claims and their RFC 3339 times). The baseline is what the
//! signature alone costs: `ed25519_dalek::VerifyingKey::verify_strict` on a
//! 200-byte message with a fixed key. Between the two, so a gap can be put
//! where it belongs: `paseto::verify` (token format without the claims) and
//! `verify_strict` on exactly the bytes the token's signature covers, with
//! the ring's key (Ed25519 verification time varies a few percent with the
//! key, message and signature, being variable-time over public data).
//!
//! All are measured in interleaved rounds in one run, each round starting
//! with another contender, and the median round of each is reported; the
//! goal is `KeyRing::verify` ≥ 0.9× raw.

use std::hint::black_box;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use time::OffsetDateTime;
use waybill::tokens::{DOWNLOAD_IMPLICIT_ASSERTION, DownloadClaims, KeyRing, paseto};

#[allow(dead_code)] // each bench uses what it needs
mod support;
use support::load_average;

/// Interleaved rounds per contender; the median is reported.
const ROUNDS: usize = 7;
/// Wall time of one round of one contender.
const ROUND_TIME: Duration = Duration::from_millis(700);
/// Calls between two clock reads.
const BATCH: u32 = 64;
const RAW_MESSAGE_BYTES: usize = 200;

/// Runs `f` in batches for `ROUND_TIME`; returns calls per second.
fn rate(f: &mut dyn FnMut()) -> f64 {
    let start = Instant::now();
    let mut calls = 0u64;
    loop {
        for _ in 0..BATCH {
            f();
        }
        calls += u64::from(BATCH);
        let elapsed = start.elapsed();
        if elapsed >= ROUND_TIME {
            return calls as f64 / elapsed.as_secs_f64();
        }
    }
}

/// PASETO pre-authentication encoding: the bytes a `v4.public` signature covers.
fn pae(pieces: &[&[u8]]) -> Vec<u8> {
    let mut out = (pieces.len() as u64).to_le_bytes().to_vec();
    for piece in pieces {
        out.extend_from_slice(&(piece.len() as u64).to_le_bytes());
        out.extend_from_slice(piece);
    }
    out
}

fn median(mut rates: Vec<f64>) -> f64 {
    rates.sort_by(f64::total_cmp);
    rates[rates.len() / 2]
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` does not: then only smoke-run.
    let smoke = !std::env::args().any(|arg| arg == "--bench");

    let dir = tempfile::tempdir().expect("creating a temp dir");
    let ring = KeyRing::load_or_create(&dir.path().join("keys")).expect("creating the key ring");
    let now = OffsetDateTime::now_utc();
    let claims = DownloadClaims {
        shipment_id: "shp_01J9Z3K4QX7V8M2N5P6R7S8T9V".to_owned(),
        token_id: "tok_01J9Z3K4QX7V8M2N5P6R7S8T9W".to_owned(),
        issued_at: now,
        expires_at: now + time::Duration::hours(720),
    };
    let token = ring.issue(&claims);
    assert_eq!(ring.verify(&token, now).as_ref(), Ok(&claims));

    let public = &ring.public_keys()[0].public_key;
    let public: [u8; 32] = URL_SAFE_NO_PAD
        .decode(public)
        .expect("public key is base64url")
        .try_into()
        .expect("32-byte public key");
    let ring_public = VerifyingKey::from_bytes(&public).expect("valid public key");
    let verified = paseto::verify(&ring_public, &token, DOWNLOAD_IMPLICIT_ASSERTION)
        .expect("token verifies with the published key");

    let signing = SigningKey::from_bytes(&[7u8; 32]);
    let raw_public = signing.verifying_key();
    let message: Vec<u8> = (0..RAW_MESSAGE_BYTES).map(|i| (i % 251) as u8).collect();
    let signature = signing.sign(&message);
    raw_public
        .verify_strict(&message, &signature)
        .expect("raw signature verifies");

    if smoke {
        println!("tokens: smoke run only (use `cargo bench --bench tokens` to measure)");
        return;
    }

    println!(
        "token: {} bytes (claims {} bytes, footer {} bytes); raw message: {RAW_MESSAGE_BYTES} bytes",
        token.len(),
        verified.message.len(),
        verified.footer.len()
    );
    println!(
        "{ROUNDS} interleaved rounds of {} ms each, median reported",
        ROUND_TIME.as_millis()
    );
    let load_start = load_average();

    // The exact bytes the token's signature covers, for verify_strict alone.
    let body = URL_SAFE_NO_PAD
        .decode(
            token
                .strip_prefix(paseto::HEADER)
                .and_then(|rest| rest.split('.').next())
                .expect("token body"),
        )
        .expect("token body is base64url");
    let token_signature =
        Signature::from_slice(&body[body.len() - 64..]).expect("64-byte signature");
    let token_signed = pae(&[
        paseto::HEADER.as_bytes(),
        &verified.message,
        &verified.footer,
        DOWNLOAD_IMPLICIT_ASSERTION,
    ]);
    ring_public
        .verify_strict(&token_signed, &token_signature)
        .expect("the token's signature verifies on its PAE bytes");

    type Contender<'a> = (&'static str, Box<dyn FnMut() + 'a>);
    let mut contenders: Vec<Contender> = vec![
        (
            "KeyRing::verify (buyer link)",
            Box::new(|| {
                let result = ring.verify(black_box(&token), black_box(now));
                assert!(black_box(result).is_ok());
            }),
        ),
        (
            "paseto::verify (format only)",
            Box::new(|| {
                let result = paseto::verify(
                    black_box(&ring_public),
                    black_box(&token),
                    DOWNLOAD_IMPLICIT_ASSERTION,
                );
                assert!(black_box(result).is_ok());
            }),
        ),
        (
            "verify_strict, token's bytes",
            Box::new(|| {
                let result = ring_public
                    .verify_strict(black_box(&token_signed), black_box(&token_signature));
                assert!(black_box(result).is_ok());
            }),
        ),
        (
            "ed25519 verify_strict (raw)",
            Box::new(|| {
                let result = raw_public.verify_strict(black_box(&message), black_box(&signature));
                assert!(black_box(result).is_ok());
            }),
        ),
    ];
    let raw_index = contenders.len() - 1;
    let mut rates: Vec<Vec<f64>> = vec![Vec::with_capacity(ROUNDS); contenders.len()];
    // One untimed round to warm caches and clocks; each round starts with
    // another contender, so none is always first or last.
    for round in 0..=ROUNDS {
        for k in 0..contenders.len() {
            let i = (round + k) % contenders.len();
            let r = rate(&mut contenders[i].1);
            if round > 0 {
                rates[i].push(r);
            }
        }
    }

    println!(
        "load average (1/5/15 min) at start: {load_start}; at end: {} (other work on the machine skews everything)",
        load_average()
    );
    let medians: Vec<f64> = rates.into_iter().map(median).collect();
    let raw = medians[raw_index];
    let rows: Vec<(&str, f64)> = contenders
        .iter()
        .map(|(name, _)| *name)
        .zip(medians.iter().copied())
        .collect();
    println!();
    println!(
        "{:<30} {:>14} {:>12} {:>10}",
        "contender", "verifies/s", "µs/verify", "vs raw"
    );
    for (name, per_sec) in &rows {
        println!(
            "{name:<30} {per_sec:>14.0} {:>12.2} {:>9.3}×",
            1e6 / per_sec,
            per_sec / raw
        );
    }
    let ratio = rows[0].1 / raw;
    let same_bytes = rows[0].1 / rows[2].1;
    println!();
    println!(
        "KeyRing::verify / raw = {ratio:.3}× (goal ≥ 0.9×): {}",
        if ratio >= 0.9 { "met" } else { "NOT met" }
    );
    println!(
        "KeyRing::verify / verify_strict on the token's own bytes = {same_bytes:.3}× (the token path's own overhead)"
    );
}
