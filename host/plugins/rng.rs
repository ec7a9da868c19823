//! The per-shipment random stream behind `random-bytes` and `random-u64`.
//!
//! The stream is BLAKE3's extendable output in key-derivation mode:
//! `blake3::Hasher::new_derive_key(CONTEXT)` over the shipment id, read with
//! `finalize_xof()`. That is a seeded, unbounded stream (BLAKE3's XOF is a
//! counter-mode PRF, like a ChaCha keystream keyed by the shipment id): the
//! same shipment always gets the same bytes, so a retried or reproduced run
//! (`waybill plugins run` with the same context) draws the same keys, and
//! different shipments get unrelated streams. `random-u64` is the next 8
//! bytes of the same stream, little-endian, so how a plugin splits its reads
//! between the two calls does not change what it gets.
//!
//! The stream is *reproducible by design*, not secret from someone who knows
//! the shipment id: codes a plugin draws from it are unguessable only as far
//! as shipment ids are. Signed licenses (host `sign`) do not depend on it.

/// The domain-separation context; changing it changes every stream.
const CONTEXT: &str = "waybill 2026-12 plugin random stream v1";

/// A deterministic byte stream seeded by a shipment id.
pub struct RandomStream {
    reader: blake3::OutputReader,
}

impl RandomStream {
    /// The stream of `shipment_id`.
    pub fn for_shipment(shipment_id: &str) -> Self {
        let mut hasher = blake3::Hasher::new_derive_key(CONTEXT);
        hasher.update(shipment_id.as_bytes());
        Self {
            reader: hasher.finalize_xof(),
        }
    }

    /// Fills `buf` with the next bytes of the stream.
    pub fn fill(&mut self, buf: &mut [u8]) {
        self.reader.fill(buf);
    }

    /// The next 8 bytes as a little-endian `u64`.
    pub fn next_u64(&mut self) -> u64 {
        let mut bytes = [0; 8];
        self.fill(&mut bytes);
        u64::from_le_bytes(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::RandomStream;

    #[test]
    fn same_shipment_same_stream() {
        let (mut a, mut b) = (
            RandomStream::for_shipment("shp_1"),
            RandomStream::for_shipment("shp_1"),
        );
        let (mut x, mut y) = ([0; 100], [0; 100]);
        a.fill(&mut x);
        b.fill(&mut y);
        assert_eq!(x, y);
        assert_eq!(a.next_u64(), b.next_u64());
    }

    #[test]
    fn different_shipments_differ() {
        let mut a = RandomStream::for_shipment("shp_1");
        let mut b = RandomStream::for_shipment("shp_2");
        let mut empty = RandomStream::for_shipment("");
        let (x, y, z) = (a.next_u64(), b.next_u64(), empty.next_u64());
        assert!(x != y && y != z && x != z);
    }

    #[test]
    fn chunking_does_not_change_the_stream() {
        let mut whole = [0; 40];
        RandomStream::for_shipment("shp_9").fill(&mut whole);

        let mut pieces = RandomStream::for_shipment("shp_9");
        let mut first = [0; 3];
        pieces.fill(&mut first);
        let n = pieces.next_u64();
        let mut rest = [0; 29];
        pieces.fill(&mut rest);

        assert_eq!(&whole[..3], &first);
        assert_eq!(whole[3..11], n.to_le_bytes());
        assert_eq!(&whole[11..], &rest);
    }

    #[test]
    fn stream_looks_random() {
        // Not a statistical test; catches a stuck or all-zero stream.
        let mut bytes = [0u8; 4096];
        RandomStream::for_shipment("shp_1").fill(&mut bytes);
        let ones: u32 = bytes.iter().map(|b| b.count_ones()).sum();
        let bits = 8 * bytes.len() as u32;
        assert!((bits / 2 - 600..bits / 2 + 600).contains(&ones), "{ones}");
        let mut seen = [false; 256];
        bytes.iter().for_each(|&b| seen[b as usize] = true);
        assert!(seen.iter().all(|&s| s));
    }
}
