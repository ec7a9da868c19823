//! License key format and generation: groups of characters from an alphabet
//! without look-alikes, the last character a Damm check character.
//!
//! Damm's algorithm needs a totally anti-symmetric quasigroup over the
//! alphabet; `x ∘ y = 2x − y (mod n)` is one for every odd `n`, so the
//! alphabet has an odd size (the default has 31). It catches every single
//! wrong character and every swap of two neighbours, which Luhn mod N does
//! not guarantee for odd `n`.
//!
//! Plain Rust with no host calls, so it is unit-tested natively.

use std::collections::BTreeSet;

/// The default alphabet: digits and capitals without `0 O 1 I L`
/// (31 characters, ~4.95 bits each).
pub const DEFAULT_ALPHABET: &str = "23456789ABCDEFGHJKMNPQRSTUVWXYZ";
/// Characters a reader confuses with one another; refused in an alphabet.
pub const LOOK_ALIKES: &str = "0O1IL";
/// A key must carry at least this much randomness (check character aside).
pub const KEY_BITS_MIN: f64 = 40.0;
/// Upper bounds on the format, to keep keys typeable.
pub const GROUPS_MAX: usize = 16;
/// Longest group.
pub const GROUP_LENGTH_MAX: usize = 16;
/// Longest prefix, in characters.
pub const PREFIX_CHARS_MAX: usize = 16;
/// Most keys one run issues (one per unit).
pub const KEYS_MAX: u32 = 10_000;

/// A source of uniform random numbers (the host's per-shipment stream in
/// the plugin, a seeded generator in tests).
pub trait Random {
    /// A uniform value in `0..bound`; `bound > 0`.
    fn below(&mut self, bound: u64) -> u64;
}

/// A validated key format, e.g. 5 groups of 5 from [`DEFAULT_ALPHABET`]
/// separated by `-`: `7KQXM-N2PZR-...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Format {
    alphabet: Vec<u8>,
    groups: usize,
    group_length: usize,
    separator: String,
    prefix: String,
}

impl Format {
    /// Checks a format; the error says what to change.
    pub fn new(
        alphabet: &str,
        groups: usize,
        group_length: usize,
        separator: &str,
        prefix: &str,
    ) -> Result<Self, String> {
        let mut seen = BTreeSet::new();
        for c in alphabet.chars() {
            if !(c.is_ascii_digit() || c.is_ascii_uppercase()) {
                return Err(format!(
                    "alphabet: {c:?} is not a digit or a capital letter A-Z"
                ));
            }
            if LOOK_ALIKES.contains(c) {
                return Err(format!(
                    "alphabet: {c:?} is easily confused; leave out {LOOK_ALIKES}"
                ));
            }
            if !seen.insert(c) {
                return Err(format!("alphabet: {c:?} appears twice"));
            }
        }
        if seen.len() < 3 || seen.len() % 2 == 0 {
            return Err(format!(
                "alphabet: has {} characters; the check character needs an odd \
                 number, at least 3: add or drop one",
                seen.len()
            ));
        }
        if !(1..=GROUPS_MAX).contains(&groups) {
            return Err(format!("groups: must be 1 to {GROUPS_MAX}"));
        }
        if !(1..=GROUP_LENGTH_MAX).contains(&group_length) {
            return Err(format!("group_length: must be 1 to {GROUP_LENGTH_MAX}"));
        }
        if separator.chars().count() > 1
            || separator
                .chars()
                .any(|c| seen.contains(&c) || c.is_control())
        {
            return Err("separator: must be empty or one character outside the alphabet".into());
        }
        if prefix.chars().count() > PREFIX_CHARS_MAX
            || !prefix
                .chars()
                .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
        {
            return Err(format!(
                "prefix: up to {PREFIX_CHARS_MAX} digits or capital letters"
            ));
        }
        let random_chars = groups * group_length - 1;
        let bits = random_chars as f64 * (seen.len() as f64).log2();
        if bits < KEY_BITS_MIN {
            return Err(format!(
                "a key carries {bits:.0} random bits, below {KEY_BITS_MIN:.0}: \
                 add groups or lengthen them"
            ));
        }
        Ok(Self {
            alphabet: alphabet.bytes().collect(),
            groups,
            group_length,
            separator: separator.to_owned(),
            prefix: prefix.to_owned(),
        })
    }

    /// The default format: 5 groups of 5 from [`DEFAULT_ALPHABET`], `-`.
    pub fn standard() -> Self {
        Self::new(DEFAULT_ALPHABET, 5, 5, "-", "").expect("the default format is valid")
    }

    /// One random key.
    pub fn generate(&self, rng: &mut impl Random) -> String {
        let n = self.alphabet.len() as u64;
        let len = self.groups * self.group_length;
        let mut digits: Vec<usize> = (0..len - 1).map(|_| rng.below(n) as usize).collect();
        digits.push(damm_check_digit(&digits, self.alphabet.len()));
        self.render(&digits)
    }

    /// `count` pairwise distinct keys.
    pub fn generate_distinct(&self, count: u32, rng: &mut impl Random) -> Vec<String> {
        let mut seen = BTreeSet::new();
        let mut keys = Vec::with_capacity(count as usize);
        while keys.len() < count as usize {
            let key = self.generate(rng);
            if seen.insert(key.clone()) {
                keys.push(key);
            }
        }
        keys
    }

    /// Whether `key` has this format and a correct check character. Case,
    /// the separator and surrounding spaces are forgiven, as a person typing
    /// the key would expect.
    pub fn is_valid(&self, key: &str) -> bool {
        let key = key.trim().to_ascii_uppercase();
        let Some(body) = key.strip_prefix(&self.prefix) else {
            return false;
        };
        let mut digits = Vec::with_capacity(self.groups * self.group_length);
        for c in body.chars() {
            if self.separator.contains(c) {
                continue;
            }
            match self.alphabet.iter().position(|&a| char::from(a) == c) {
                Some(d) => digits.push(d),
                None => return false,
            }
        }
        digits.len() == self.groups * self.group_length
            && damm_is_valid(&digits, self.alphabet.len())
    }

    fn render(&self, digits: &[usize]) -> String {
        let mut key = self.prefix.clone();
        for (i, group) in digits.chunks(self.group_length).enumerate() {
            if i > 0 || !self.prefix.is_empty() {
                key.push_str(&self.separator);
            }
            key.extend(group.iter().map(|&d| char::from(self.alphabet[d])));
        }
        key
    }
}

/// The Damm check digit for `payload` (digits in `0..n`, `n` odd): the
/// digit that brings the interim value to 0.
pub fn damm_check_digit(payload: &[usize], n: usize) -> usize {
    2 * damm_interim(payload, n) % n
}

/// Whether the last digit of `digits` is the Damm check digit of the others.
pub fn damm_is_valid(digits: &[usize], n: usize) -> bool {
    damm_interim(digits, n) == 0
}

/// Folds the digits through the quasigroup `x ∘ y = 2x − y (mod n)`.
fn damm_interim(digits: &[usize], n: usize) -> usize {
    digits.iter().fold(0, |x, &y| (2 * x + n - y) % n)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// splitmix64: a fixed, seeded stream for tests.
    pub(crate) struct TestRng(pub u64);

    impl Random for TestRng {
        fn below(&mut self, bound: u64) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            (z ^ (z >> 31)) % bound
        }
    }

    fn check_format(
        alphabet: &str,
        groups: usize,
        len: usize,
        sep: &str,
        prefix: &str,
        error: Option<&str>,
    ) {
        match (Format::new(alphabet, groups, len, sep, prefix), error) {
            (Ok(_), None) => {}
            (Err(e), Some(want)) => assert!(e.contains(want), "{e:?} lacks {want:?}"),
            (got, want) => panic!("{alphabet} {groups}x{len}: got {got:?}, want error {want:?}"),
        }
    }

    #[test]
    fn formats_are_validated() {
        check_format(DEFAULT_ALPHABET, 5, 5, "-", "", None);
        check_format(DEFAULT_ALPHABET, 4, 4, "", "WB", None);
        check_format("2345678", 3, 6, " ", "", None);
        check_format("0123456789", 4, 4, "-", "", Some("'0' is easily confused"));
        check_format("ABCDEFGHIJK", 4, 4, "-", "", Some("'I'"));
        check_format("ABCa", 8, 8, "-", "", Some("'a' is not"));
        check_format("AABC", 8, 8, "-", "", Some("appears twice"));
        check_format("AB", 8, 8, "-", "", Some("odd number"));
        check_format("ABCD", 8, 8, "-", "", Some("odd number"));
        check_format(DEFAULT_ALPHABET, 0, 5, "-", "", Some("groups"));
        check_format(DEFAULT_ALPHABET, 17, 5, "-", "", Some("groups"));
        check_format(DEFAULT_ALPHABET, 5, 17, "-", "", Some("group_length"));
        check_format(DEFAULT_ALPHABET, 5, 5, "A", "", Some("separator"));
        check_format(DEFAULT_ALPHABET, 5, 5, "--", "", Some("separator"));
        check_format(DEFAULT_ALPHABET, 5, 5, "-", "wb", Some("prefix"));
        // 8 random characters of 31 ≈ 39.6 bits: too few.
        check_format(DEFAULT_ALPHABET, 3, 3, "-", "", Some("random bits"));
    }

    #[test]
    fn standard_keys_look_right() {
        let format = Format::standard();
        let key = format.generate(&mut TestRng(1));
        assert_eq!(key.len(), 29, "{key}");
        let groups: Vec<&str> = key.split('-').collect();
        assert_eq!(groups.len(), 5);
        assert!(groups.iter().all(|g| g.len() == 5));
        assert!(
            key.chars()
                .all(|c| c == '-' || DEFAULT_ALPHABET.contains(c))
        );
        assert!(format.is_valid(&key));
        assert!(format.is_valid(&key.to_lowercase().replace('-', "")));
    }

    #[test]
    fn prefix_and_separator_are_rendered() {
        let format = Format::new("2345678", 3, 6, ".", "WB").unwrap();
        let key = format.generate(&mut TestRng(2));
        assert!(key.starts_with("WB."), "{key}");
        assert_eq!(key.split('.').count(), 4, "{key}");
        assert!(format.is_valid(&key));
    }

    #[test]
    fn every_single_character_error_is_caught() {
        let format = Format::standard();
        let mut rng = TestRng(3);
        for _ in 0..50 {
            let key = format.generate(&mut rng);
            for (i, original) in key.char_indices().filter(|&(_, c)| c != '-') {
                for replacement in DEFAULT_ALPHABET.chars().filter(|&c| c != original) {
                    let mut typo = key.clone();
                    typo.replace_range(i..i + 1, &replacement.to_string());
                    assert!(!format.is_valid(&typo), "{typo} accepted (from {key})");
                }
            }
        }
    }

    #[test]
    fn every_adjacent_swap_is_caught() {
        let format = Format::standard();
        let mut rng = TestRng(4);
        let (mut swaps, mut caught) = (0, 0);
        for _ in 0..200 {
            let key: Vec<char> = format
                .generate(&mut rng)
                .chars()
                .filter(|&c| c != '-')
                .collect();
            for i in 0..key.len() - 1 {
                if key[i] == key[i + 1] {
                    continue;
                }
                let mut swapped = key.clone();
                swapped.swap(i, i + 1);
                swaps += 1;
                caught += usize::from(!format.is_valid(&swapped.iter().collect::<String>()));
            }
        }
        assert!(swaps > 4000);
        assert_eq!(caught, swaps);
    }

    #[test]
    fn damm_check_digits_by_hand() {
        // n = 5: 0∘3 = 2, 2∘1 = 3, 3∘4 = 2; check = 2·2 mod 5 = 4, 2∘4 = 0.
        assert_eq!(damm_check_digit(&[3, 1, 4], 5), 4);
        assert!(damm_is_valid(&[3, 1, 4, 4], 5));
        assert!(!damm_is_valid(&[3, 1, 4, 3], 5));
        assert!(!damm_is_valid(&[1, 3, 4, 4], 5));
        assert_eq!(damm_check_digit(&[], 31), 0);
    }

    #[test]
    fn distinct_keys_even_when_the_stream_repeats() {
        /// Yields the same key twice, then moves on.
        struct Stutter(TestRng, u32, u64);
        impl Random for Stutter {
            fn below(&mut self, bound: u64) -> u64 {
                self.1 += 1;
                if self.1 == 25 {
                    // Second key: replay the first key's stream.
                    self.0 = TestRng(self.2);
                }
                self.0.below(bound)
            }
        }
        let format = Format::standard();
        let keys = format.generate_distinct(3, &mut Stutter(TestRng(5), 0, 5));
        assert_eq!(keys.len(), 3);
        assert!(keys[0] != keys[1] && keys[1] != keys[2] && keys[0] != keys[2]);
        let many = format.generate_distinct(1000, &mut TestRng(6));
        assert_eq!(many.iter().collect::<BTreeSet<_>>().len(), 1000);
    }

    #[test]
    fn the_same_seed_gives_the_same_keys() {
        let format = Format::standard();
        let a = format.generate_distinct(5, &mut TestRng(7));
        let b = format.generate_distinct(5, &mut TestRng(7));
        let c = format.generate_distinct(5, &mut TestRng(8));
        assert_eq!(a, b);
        assert_ne!(a, c);
    }
}
