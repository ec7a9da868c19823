//! Fresh ids: a type prefix, then 26 Crockford base32 characters of a
//! millisecond timestamp and 80 random bits, so ids sort by creation time.

use time::OffsetDateTime;

const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// Random bytes from the operating system.
///
/// # Panics
/// If the operating system has no randomness to give, which leaves nothing
/// safe to do.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).expect("the operating system provides randomness");
    bytes
}

/// A new time-ordered id such as `shp_01JD...`.
pub fn new_id(prefix: &str, now: OffsetDateTime) -> String {
    let millis = (now.unix_timestamp_nanos() / 1_000_000).clamp(0, (1 << 48) - 1) as u128;
    let random = u128::from_be_bytes({
        let mut b = [0u8; 16];
        b[6..].copy_from_slice(&random_bytes::<10>());
        b
    });
    let value = (millis << 80) | random;
    let mut id = String::with_capacity(prefix.len() + 27);
    id.push_str(prefix);
    id.push('_');
    for i in (0..26).rev() {
        id.push(CROCKFORD[((value >> (i * 5)) & 31) as usize] as char);
    }
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_sort_by_time_and_differ() {
        let t0 = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        let t1 = t0 + time::Duration::milliseconds(1);
        let a = new_id("shp", t0);
        let b = new_id("shp", t0);
        let c = new_id("shp", t1);
        assert_ne!(a, b);
        assert!(a < c && b < c);
        assert_eq!(a.len(), 30);
        assert!(a.starts_with("shp_"));
    }
}
