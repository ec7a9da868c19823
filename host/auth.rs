//! API keys: random bearer secrets of which only a hash is stored.

use time::OffsetDateTime;

use crate::ids::random_bytes;
use crate::store::{ApiKeyRecord, Source, Store, StoreError};

/// Prefix that makes a Waybill key recognisable (e.g. by secret scanners).
const KEY_PREFIX: &str = "wb_";

/// The stored form of a key: BLAKE3 hex. Keys are 256 random bits, so a fast
/// hash is enough; no key can be recovered from the database.
pub fn hash_key(key: &str) -> String {
    blake3::hash(key.as_bytes()).to_hex().to_string()
}

/// A new random key (not yet stored).
pub fn generate_key() -> String {
    let bytes: [u8; 32] = random_bytes();
    let mut key = String::from(KEY_PREFIX);
    for b in bytes {
        key.push_str(&format!("{b:02x}"));
    }
    key
}

/// Creates and stores a key named `name`; returns the key (shown once).
pub fn create_key_blocking(
    store: &Store,
    name: &str,
    now: OffsetDateTime,
) -> Result<String, StoreError> {
    let key = generate_key();
    let hash = hash_key(&key);
    let record = ApiKeyRecord {
        name: name.to_owned(),
        created_at: now,
    };
    store.write_blocking(move |tx| {
        tx.put_api_key(&hash, &record);
        Ok::<_, StoreError>(())
    })?;
    Ok(key)
}

/// Whether `key` is a stored API key.
pub fn is_valid(store: &Store, key: &str) -> Result<bool, StoreError> {
    if !key.starts_with(KEY_PREFIX) || key.len() > 128 {
        return Ok(false);
    }
    Ok(store.read()?.api_key(&hash_key(key))?.is_some())
}
