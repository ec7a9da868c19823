//! Voucher codes with a value, a currency and an expiry: the config, code
//! generation and the items a run returns.
//!
//! Plain Rust with no host calls, so it is unit-tested natively.

use std::collections::BTreeSet;

use serde::Deserialize;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Duration, OffsetDateTime};

/// Code characters: digits and capitals without the look-alikes `0 O 1 I L`.
pub const ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";
/// Random characters per code: 12 of 31 ≈ 59 bits, as `XXXX-XXXX-XXXX`.
pub const CODE_CHARS: usize = 12;
/// Longest validity, in days (ten years and leap days).
pub const VALID_DAYS_MAX: u32 = 3660;
/// Most vouchers one run issues (one per unit).
pub const VOUCHERS_MAX: u32 = 10_000;
/// Longest prefix, in characters.
pub const PREFIX_CHARS_MAX: usize = 16;

/// A source of uniform random numbers (the host's per-shipment stream in
/// the plugin, a seeded generator in tests).
pub trait Random {
    /// A uniform value in `0..bound`; `bound > 0`.
    fn below(&mut self, bound: u64) -> u64;
}

/// The product's plugin config, e.g.
/// `{"value": "50.00", "currency": "PLN", "valid_days": 365, "prefix": "GIFT"}`.
/// `valid_days` absent means the voucher does not expire.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The amount as a decimal string (`"50"`, `"50.00"`): never a float.
    pub value: String,
    /// ISO 4217 code, e.g. `PLN`.
    pub currency: String,
    /// Days from issue to expiry.
    #[serde(default)]
    pub valid_days: Option<u32>,
    /// Put before the code, e.g. `GIFT`.
    #[serde(default)]
    pub prefix: String,
}

impl Config {
    /// Checks the config; the error says what to change.
    pub fn validate(&self) -> Result<(), String> {
        let (whole, fraction) = match self.value.split_once('.') {
            Some((w, f)) => (w, Some(f)),
            None => (self.value.as_str(), None),
        };
        let digits = |s: &str, max: usize| {
            !s.is_empty() && s.len() <= max && s.bytes().all(|b| b.is_ascii_digit())
        };
        if !digits(whole, 12) || fraction.is_some_and(|f| !digits(f, 3)) {
            return Err(format!(
                "value: {:?} is not an amount like \"50\" or \"50.00\"",
                self.value
            ));
        }
        if self.value.bytes().all(|b| b == b'0' || b == b'.') {
            return Err("value: must be above zero".into());
        }
        if self.currency.len() != 3 || !self.currency.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(format!(
                "currency: {:?} is not a three-letter code like \"PLN\"",
                self.currency
            ));
        }
        if self
            .valid_days
            .is_some_and(|d| !(1..=VALID_DAYS_MAX).contains(&d))
        {
            return Err(format!(
                "valid_days: must be 1 to {VALID_DAYS_MAX}, or left out for no expiry"
            ));
        }
        if self.prefix.chars().count() > PREFIX_CHARS_MAX
            || !self
                .prefix
                .chars()
                .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
        {
            return Err(format!(
                "prefix: up to {PREFIX_CHARS_MAX} digits or capital letters"
            ));
        }
        Ok(())
    }
}

/// Why issuing failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IssueError {
    /// The config is not usable; the message says what to change.
    Config(String),
    /// The quantity is outside `1..=VOUCHERS_MAX`.
    Quantity(u32),
    /// The context's `issued-at` is not RFC 3339.
    IssuedAt(String),
}

/// One random code, e.g. `GIFT-7KQX-MN2P-ZR4T`.
pub fn code(prefix: &str, rng: &mut impl Random) -> String {
    let mut code = String::from(prefix);
    for i in 0..CODE_CHARS {
        if i % 4 == 0 && (i > 0 || !prefix.is_empty()) {
            code.push('-');
        }
        code.push(char::from(
            ALPHABET[rng.below(ALPHABET.len() as u64) as usize],
        ));
    }
    code
}

/// The human sentence, e.g. `50.00 PLN, valid until 2027-12-03`.
pub fn terms(config: &Config, issued_at: &str) -> Result<String, IssueError> {
    let issued = OffsetDateTime::parse(issued_at, &Rfc3339)
        .map_err(|e| IssueError::IssuedAt(format!("{issued_at:?}: {e}")))?;
    let Some(days) = config.valid_days else {
        return Ok(format!("{} {}, no expiry", config.value, config.currency));
    };
    let expiry = issued
        .to_offset(time::UtcOffset::UTC)
        .checked_add(Duration::days(i64::from(days)))
        .ok_or_else(|| IssueError::IssuedAt(format!("{issued_at:?} + {days} days overflows")))?;
    let date = expiry
        .date()
        .format(format_description!("[year]-[month]-[day]"))
        .map_err(|e| IssueError::IssuedAt(e.to_string()))?;
    Ok(format!(
        "{} {}, valid until {date}",
        config.value, config.currency
    ))
}

/// Issues `quantity` distinct vouchers as (label, value) items: per unit a
/// `Voucher code` and a `Voucher` sentence, numbered when more than one.
pub fn issue(
    config: &Config,
    issued_at: &str,
    quantity: u32,
    rng: &mut impl Random,
) -> Result<Vec<(String, String)>, IssueError> {
    config.validate().map_err(IssueError::Config)?;
    if !(1..=VOUCHERS_MAX).contains(&quantity) {
        return Err(IssueError::Quantity(quantity));
    }
    let terms = terms(config, issued_at)?;
    let suffix = |i: u32| match quantity {
        1 => String::new(),
        _ => format!(" {}", i + 1),
    };
    let mut seen = BTreeSet::new();
    let mut items = Vec::with_capacity(2 * quantity as usize);
    let mut i = 0;
    while i < quantity {
        let code = code(&config.prefix, rng);
        if !seen.insert(code.clone()) {
            continue;
        }
        items.push((format!("Voucher code{}", suffix(i)), code));
        items.push((format!("Voucher{}", suffix(i)), terms.clone()));
        i += 1;
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// splitmix64: a fixed, seeded stream for tests.
    struct TestRng(u64);

    impl Random for TestRng {
        fn below(&mut self, bound: u64) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            (z ^ (z >> 31)) % bound
        }
    }

    const ISSUED: &str = "2026-12-03T17:00:00Z";

    fn config(json: &str) -> Config {
        serde_json::from_str(json).unwrap()
    }

    fn gift() -> Config {
        config(r#"{"value": "50.00", "currency": "PLN", "valid_days": 365, "prefix": "GIFT"}"#)
    }

    #[test]
    fn one_unit_gives_a_code_and_its_terms() {
        let items = issue(&gift(), ISSUED, 1, &mut TestRng(1)).unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].0, "Voucher code");
        let code = &items[0].1;
        assert_eq!(code.len(), "GIFT-XXXX-XXXX-XXXX".len(), "{code}");
        assert!(code.starts_with("GIFT-"));
        assert!(
            code[5..]
                .bytes()
                .all(|b| b == b'-' || ALPHABET.contains(&b))
        );
        assert_eq!(
            items[1],
            ("Voucher".into(), "50.00 PLN, valid until 2027-12-03".into())
        );
    }

    #[test]
    fn n_units_give_n_distinct_numbered_vouchers() {
        let items = issue(&gift(), ISSUED, 3, &mut TestRng(2)).unwrap();
        let labels: Vec<&str> = items.iter().map(|(l, _)| l.as_str()).collect();
        assert_eq!(
            labels,
            [
                "Voucher code 1",
                "Voucher 1",
                "Voucher code 2",
                "Voucher 2",
                "Voucher code 3",
                "Voucher 3"
            ]
        );
        let codes: BTreeSet<&str> = items.iter().step_by(2).map(|(_, v)| v.as_str()).collect();
        assert_eq!(codes.len(), 3);
    }

    fn check_terms(config_json: &str, issued_at: &str, expected: &str) {
        assert_eq!(terms(&config(config_json), issued_at).unwrap(), expected);
    }

    #[test]
    fn expiry_counts_days_from_issue_in_utc() {
        let pln = r#"{"value": "50.00", "currency": "PLN", "valid_days": 365}"#;
        check_terms(pln, ISSUED, "50.00 PLN, valid until 2027-12-03");
        // 2028 is a leap year: 365 days from March 2027 land on 29 February.
        check_terms(
            pln,
            "2027-03-01T00:00:00Z",
            "50.00 PLN, valid until 2028-02-29",
        );
        // An offset is converted to UTC first: 01:30 at +02:00 is 23:30 UTC
        // the day before.
        let one = r#"{"value": "10", "currency": "EUR", "valid_days": 1}"#;
        check_terms(
            one,
            "2027-01-01T01:30:00+02:00",
            "10 EUR, valid until 2027-01-01",
        );
        check_terms(
            r#"{"value": "5", "currency": "USD"}"#,
            ISSUED,
            "5 USD, no expiry",
        );
    }

    #[test]
    fn bad_configs_are_refused_with_the_field_named() {
        for (json, field) in [
            (r#"{"value": "50,00", "currency": "PLN"}"#, "value"),
            (r#"{"value": "0.00", "currency": "PLN"}"#, "above zero"),
            (r#"{"value": ".5", "currency": "PLN"}"#, "value"),
            (r#"{"value": "5.", "currency": "PLN"}"#, "value"),
            (r#"{"value": "5", "currency": "zł"}"#, "currency"),
            (
                r#"{"value": "5", "currency": "PLN", "valid_days": 0}"#,
                "valid_days",
            ),
            (
                r#"{"value": "5", "currency": "PLN", "prefix": "gift"}"#,
                "prefix",
            ),
        ] {
            let err = issue(&config(json), ISSUED, 1, &mut TestRng(3)).unwrap_err();
            assert!(
                matches!(&err, IssueError::Config(m) if m.contains(field)),
                "{json}: {err:?}"
            );
        }
        let typo: Result<Config, _> =
            serde_json::from_str(r#"{"value": "5", "currency": "PLN", "valid": 3}"#);
        assert!(
            typo.unwrap_err()
                .to_string()
                .contains("unknown field `valid`")
        );
        let float: Result<Config, _> =
            serde_json::from_str(r#"{"value": 50.0, "currency": "PLN"}"#);
        assert!(float.is_err(), "a float amount is refused");
    }

    #[test]
    fn bad_quantities_and_timestamps_are_refused() {
        assert_eq!(
            issue(&gift(), ISSUED, 0, &mut TestRng(4)),
            Err(IssueError::Quantity(0))
        );
        let err = issue(&gift(), "yesterday", 1, &mut TestRng(4)).unwrap_err();
        assert!(matches!(err, IssueError::IssuedAt(m) if m.contains("yesterday")));
    }

    #[test]
    fn codes_without_prefix_have_three_groups() {
        let c = code("", &mut TestRng(5));
        assert_eq!(c.split('-').count(), 3, "{c}");
        assert!(c.split('-').all(|g| g.len() == 4));
    }
}
