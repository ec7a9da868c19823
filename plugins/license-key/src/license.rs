//! What a run issues: the config, one key per unit, and optionally a signed
//! license per key that anyone can verify offline with the shop's public
//! key.
//!
//! The signed license is `base64url(payload) "." base64url(signature)`
//! (no padding), where `payload` is canonical JSON — keys sorted, no
//! whitespace — of `{buyer: {email, name}, issued, key, kid, order,
//! product}` and the signature is the shop's ed25519 signature over those
//! exact payload bytes. `kid` names the key, so a verifier picks the right
//! public key from those the shop publishes.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use crate::keygen::{DEFAULT_ALPHABET, Format, KEYS_MAX, Random};

/// The product's plugin config, e.g.
/// `{"groups": 4, "group_length": 5, "prefix": "WB", "signed": true}`.
/// Every field is optional; unknown fields are refused (catching typos).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Groups per key.
    pub groups: usize,
    /// Characters per group (the last group's last one is the check
    /// character).
    pub group_length: usize,
    /// The characters keys are made of; no look-alikes (`0 O 1 I L`).
    pub alphabet: String,
    /// Between groups: empty or one character.
    pub separator: String,
    /// Put before the first group, e.g. `WB`.
    pub prefix: String,
    /// Whether to add a signed license per key (needs the shop's
    /// license-signing key).
    pub signed: bool,
    /// The key item's label.
    pub label: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            groups: 5,
            group_length: 5,
            alphabet: DEFAULT_ALPHABET.into(),
            separator: "-".into(),
            prefix: String::new(),
            signed: false,
            label: "License key".into(),
        }
    }
}

impl Config {
    /// The key format this config describes.
    pub fn format(&self) -> Result<Format, String> {
        if self.label.trim().is_empty() {
            return Err("label: must not be empty".into());
        }
        Format::new(
            &self.alphabet,
            self.groups,
            self.group_length,
            &self.separator,
            &self.prefix,
        )
    }
}

/// The facts a signed license states.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts<'a> {
    /// The product's SKU.
    pub product: &'a str,
    /// The order id.
    pub order: &'a str,
    /// When it was issued, RFC 3339.
    pub issued: &'a str,
    /// The buyer's name.
    pub buyer_name: &'a str,
    /// The buyer's e-mail.
    pub buyer_email: &'a str,
}

/// A signature from the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    /// The signature bytes.
    pub signature: Vec<u8>,
    /// The key that made it.
    pub key_id: String,
}

/// Why issuing failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IssueError {
    /// The config is not usable; the message says what to change.
    Config(String),
    /// The quantity is outside `1..=KEYS_MAX`.
    Quantity(u32),
    /// The signer failed, or signed with another key than announced.
    Sign(String),
}

/// The canonical JSON payload: field order here is the sorted key order.
#[derive(Serialize)]
struct Payload<'a> {
    buyer: Buyer<'a>,
    issued: &'a str,
    key: &'a str,
    kid: &'a str,
    order: &'a str,
    product: &'a str,
}

#[derive(Serialize)]
struct Buyer<'a> {
    email: &'a str,
    name: &'a str,
}

/// The exact bytes a license signature covers.
pub fn canonical_payload(facts: &Facts<'_>, key: &str, kid: &str) -> Vec<u8> {
    let payload = Payload {
        buyer: Buyer {
            email: facts.buyer_email,
            name: facts.buyer_name,
        },
        issued: facts.issued,
        key,
        kid,
        order: facts.order,
        product: facts.product,
    };
    serde_json::to_vec(&payload).expect("a struct of strings serializes")
}

/// `base64url(payload).base64url(signature)`.
pub fn license_token(payload: &[u8], signature: &[u8]) -> String {
    format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(payload),
        URL_SAFE_NO_PAD.encode(signature)
    )
}

/// The key id `issue` must sign with, and the signer (the host's `sign`).
pub type Signer<'a> = (&'a str, &'a mut dyn FnMut(&[u8]) -> Result<Signed, String>);

/// Issues `quantity` distinct keys as (label, value) items: `License key`
/// for one unit, `License key 1..N` for more. With `config.signed`, each key
/// is followed by its `Signed license` item; `signer` is given the key id
/// it must sign with and the payload.
pub fn issue(
    config: &Config,
    facts: &Facts<'_>,
    quantity: u32,
    rng: &mut impl Random,
    mut signer: Option<Signer<'_>>,
) -> Result<Vec<(String, String)>, IssueError> {
    let format = config.format().map_err(IssueError::Config)?;
    if !(1..=KEYS_MAX).contains(&quantity) {
        return Err(IssueError::Quantity(quantity));
    }
    if config.signed && signer.is_none() {
        return Err(IssueError::Sign("no signer for a signed license".into()));
    }
    let label = config.label.trim();
    let numbered = |label: &str, i: usize| {
        if quantity == 1 {
            label.to_owned()
        } else {
            format!("{label} {}", i + 1)
        }
    };
    let mut items = Vec::new();
    for (i, key) in format
        .generate_distinct(quantity, rng)
        .into_iter()
        .enumerate()
    {
        let license = match (&mut signer, config.signed) {
            (Some((kid, sign)), true) => {
                let payload = canonical_payload(facts, &key, kid);
                let signed = sign(&payload).map_err(IssueError::Sign)?;
                if signed.key_id != *kid {
                    return Err(IssueError::Sign(format!(
                        "signed with key {} instead of {kid}: the key was rotated during the run; retry",
                        signed.key_id
                    )));
                }
                Some(license_token(&payload, &signed.signature))
            }
            _ => None,
        };
        items.push((numbered(label, i), key));
        if let Some(license) = license {
            items.push((numbered("Signed license", i), license));
        }
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::{Signer, SigningKey, Verifier, VerifyingKey};

    use super::*;
    use crate::keygen::tests::TestRng;

    const FACTS: Facts<'static> = Facts {
        product: "ebook-rust",
        order: "ord_1",
        issued: "2026-12-03T17:00:00Z",
        buyer_name: "Zoë \"Z\" Kowalska",
        buyer_email: "zoe@example.com",
    };

    fn config(json: &str) -> Config {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn one_unit_gives_one_labelled_key() {
        let items = issue(&config("{}"), &FACTS, 1, &mut TestRng(1), None).unwrap();
        assert_eq!(items.len(), 1);
        assert_eq!(items[0].0, "License key");
        assert!(Format::standard().is_valid(&items[0].1));
    }

    #[test]
    fn n_units_give_n_distinct_numbered_keys() {
        let cfg = config(r#"{"groups": 4, "group_length": 4, "prefix": "WB", "label": "Serial"}"#);
        let items = issue(&cfg, &FACTS, 3, &mut TestRng(2), None).unwrap();
        let labels: Vec<&str> = items.iter().map(|(l, _)| l.as_str()).collect();
        assert_eq!(labels, ["Serial 1", "Serial 2", "Serial 3"]);
        let format = cfg.format().unwrap();
        for (_, key) in &items {
            assert!(key.starts_with("WB-") && format.is_valid(key), "{key}");
        }
        assert!(items[0].1 != items[1].1 && items[1].1 != items[2].1 && items[0].1 != items[2].1);
    }

    #[test]
    fn bad_configs_and_quantities_are_refused() {
        let bad: Result<Config, _> = serde_json::from_str(r#"{"group": 4}"#);
        assert!(
            bad.unwrap_err()
                .to_string()
                .contains("unknown field `group`")
        );
        let err = issue(
            &config(r#"{"alphabet": "ABC0"}"#),
            &FACTS,
            1,
            &mut TestRng(3),
            None,
        );
        assert!(matches!(err, Err(IssueError::Config(m)) if m.contains("'0'")));
        let err = issue(&config("{}"), &FACTS, 0, &mut TestRng(3), None);
        assert_eq!(err, Err(IssueError::Quantity(0)));
        let err = issue(&config("{}"), &FACTS, KEYS_MAX + 1, &mut TestRng(3), None);
        assert_eq!(err, Err(IssueError::Quantity(KEYS_MAX + 1)));
        let err = issue(
            &config(r#"{"signed": true}"#),
            &FACTS,
            1,
            &mut TestRng(3),
            None,
        );
        assert!(matches!(err, Err(IssueError::Sign(_))));
    }

    #[test]
    fn the_payload_is_canonical_json() {
        let payload = canonical_payload(&FACTS, "AAAA-BBBB", "k4.abc");
        assert_eq!(
            String::from_utf8(payload).unwrap(),
            r#"{"buyer":{"email":"zoe@example.com","name":"Zoë \"Z\" Kowalska"},"issued":"2026-12-03T17:00:00Z","key":"AAAA-BBBB","kid":"k4.abc","order":"ord_1","product":"ebook-rust"}"#
        );
    }

    /// The whole point: a license verifies offline with only the public key.
    #[test]
    fn signed_licenses_verify_offline() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let public: VerifyingKey = key.verifying_key();
        let mut sign = |payload: &[u8]| {
            Ok(Signed {
                signature: key.sign(payload).to_bytes().to_vec(),
                key_id: "k4.test".into(),
            })
        };
        let items = issue(
            &config(r#"{"signed": true}"#),
            &FACTS,
            2,
            &mut TestRng(4),
            Some(("k4.test", &mut sign)),
        )
        .unwrap();
        let labels: Vec<&str> = items.iter().map(|(l, _)| l.as_str()).collect();
        assert_eq!(
            labels,
            [
                "License key 1",
                "Signed license 1",
                "License key 2",
                "Signed license 2"
            ]
        );
        for pair in items.chunks(2) {
            let (key_value, token) = (&pair[0].1, &pair[1].1);
            let (payload_b64, sig_b64) = token.split_once('.').unwrap();
            let payload = URL_SAFE_NO_PAD.decode(payload_b64).unwrap();
            let sig: [u8; 64] = URL_SAFE_NO_PAD.decode(sig_b64).unwrap().try_into().unwrap();
            public
                .verify(&payload, &ed25519_dalek::Signature::from_bytes(&sig))
                .expect("verifies with the public key alone");
            let json: serde_json::Value = serde_json::from_slice(&payload).unwrap();
            assert_eq!(json["key"], key_value.as_str());
            assert_eq!(json["kid"], "k4.test");
            assert_eq!(json["buyer"]["email"], "zoe@example.com");
            assert_eq!(json["order"], "ord_1");
            // A tampered payload does not verify.
            let mut forged = payload.clone();
            forged[10] ^= 1;
            assert!(
                public
                    .verify(&forged, &ed25519_dalek::Signature::from_bytes(&sig))
                    .is_err()
            );
        }
    }

    #[test]
    fn a_key_rotated_mid_run_is_refused() {
        let mut sign = |_: &[u8]| {
            Ok(Signed {
                signature: vec![0; 64],
                key_id: "k4.new".into(),
            })
        };
        let err = issue(
            &config(r#"{"signed": true}"#),
            &FACTS,
            1,
            &mut TestRng(5),
            Some(("k4.old", &mut sign)),
        );
        assert!(matches!(err, Err(IssueError::Sign(m)) if m.contains("rotated")));
    }
}
