//! Host services: randomness seeded per shipment, signing with the shop's
//! key, and the run's log.

use crate::bindings::waybill::plugin::host as wit;
use crate::{Error, HostError};

/// Bytes asked of the host per `random-bytes` call (the contract's limit).
const RANDOM_CHUNK_BYTES: usize = 64 * 1024;

/// The run's random stream, seeded per shipment by the host: a retried run
/// draws the same values. Get one with [`rng`]; all handles share the
/// stream.
#[derive(Debug, Clone, Copy, Default)]
pub struct HostRng {
    _private: (),
}

/// The run's random stream.
pub fn rng() -> HostRng {
    HostRng { _private: () }
}

impl HostRng {
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        wit::random_u64()
    }

    /// Fills `buf` with random bytes.
    pub fn fill_bytes(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(RANDOM_CHUNK_BYTES) {
            let bytes = wit::random_bytes(chunk.len() as u32);
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }

    /// A uniform value in `0..bound` (no modulo bias). `bound` must not be 0.
    pub fn below(&mut self, bound: u64) -> u64 {
        below(bound, || self.next_u64())
    }
}

/// A uniform value in `0..bound` from uniform 64-bit values: the top
/// partial range is rejected so every residue is equally likely.
fn below(bound: u64, mut next: impl FnMut() -> u64) -> u64 {
    assert!(bound > 0, "HostRng::below(0)");
    let zone = u64::MAX - (u64::MAX - bound + 1) % bound;
    loop {
        let v = next();
        if v <= zone {
            return v % bound;
        }
    }
}

/// A detached signature made by the host with the shop's license-signing
/// key.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Signature {
    /// The signature over the exact payload bytes.
    pub bytes: Vec<u8>,
    /// The id of the key that signed; the shop publishes its public key.
    pub key_id: String,
    /// The algorithm, `ed25519` in this version.
    pub algorithm: String,
}

/// Signs `payload` with the shop's license-signing key (which never enters
/// the sandbox). [`HostError::Unavailable`] when the shop has none.
pub fn sign(payload: &[u8]) -> Result<Signature, Error> {
    let signed = wit::sign(payload).map_err(HostError::from_wit)?;
    Ok(Signature {
        bytes: signed.signature,
        key_id: signed.key_id,
        algorithm: signed.algorithm,
    })
}

/// The id of the key [`sign`] would use, or `None` when the shop has no
/// license-signing key.
pub fn public_key_id() -> Option<String> {
    wit::public_key_id()
}

/// Severity of a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Detail for the plugin's author.
    Debug,
    /// Normal progress.
    Info,
    /// Something the seller may want to look at.
    Warn,
    /// Something failed.
    Error,
}

/// Writes a line to the run's log, kept with the shipment for the seller.
pub fn log(level: Level, message: &str) {
    let level = match level {
        Level::Debug => wit::Level::Debug,
        Level::Info => wit::Level::Info,
        Level::Warn => wit::Level::Warn,
        Level::Error => wit::Level::Error,
    };
    wit::log(level, message);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn below_rejects_the_biased_top_range() {
        // bound 3: 2^64 = 3·q + 1, so only u64::MAX is rejected.
        let mut values = [u64::MAX, u64::MAX - 1].into_iter();
        assert_eq!(below(3, || values.next().unwrap()), (u64::MAX - 1) % 3);
        // A power of two rejects nothing.
        let mut values = [u64::MAX].into_iter();
        assert_eq!(below(8, || values.next().unwrap()), 7);
        // bound 1 always gives 0; the full range is one zone.
        assert_eq!(below(1, || 12345), 0);
        // bound 2^63 + 1: everything from 2^63 + 1 up is rejected.
        let bound = (1 << 63) + 1;
        let mut values = [u64::MAX, 1 << 63].into_iter();
        assert_eq!(below(bound, || values.next().unwrap()), 1 << 63);
    }
}
