//! One chunk's stored form: a flag byte, then the bytes raw or zstd-compressed.
//! Every decoded chunk is checked against its BLAKE3 hash before use.

use axum::body::Bytes;

/// Flag of a chunk stored as is.
const RAW: u8 = 0;
/// Flag of a zstd-compressed chunk.
const ZSTD: u8 = 1;
/// zstd level for stored chunks: fast, and most of the gain.
const ZSTD_LEVEL: i32 = 1;
/// Compression must save at least this share to be worth a decompression per read.
const WORTHWHILE_RATIO: f64 = 0.9;

/// A chunk that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChunkError {
    #[error("unknown chunk encoding {0}")]
    UnknownEncoding(u8),
    #[error("chunk does not decompress: {0}")]
    Decompress(String),
    #[error("chunk has {found} bytes, expected {expected}")]
    Length { found: usize, expected: usize },
    #[error("chunk content does not match its hash")]
    HashMismatch,
}

/// Whether compressing this blob pays, judged by a trial on its first chunk
/// (zip, JPEG and random data come out at ≈ 1.0×; text at 5× and more).
pub fn compression_pays(first_chunk: &[u8]) -> bool {
    if first_chunk.len() < 64 {
        return false;
    }
    match zstd::bulk::compress(first_chunk, ZSTD_LEVEL) {
        Ok(c) => (c.len() as f64) < first_chunk.len() as f64 * WORTHWHILE_RATIO,
        Err(_) => false,
    }
}

/// A buffer for one chunk's content, with room for the flag byte in front so
/// that a chunk stored raw needs no copy.
pub fn new_buffer(capacity: usize) -> Vec<u8> {
    let mut buf = Vec::with_capacity(capacity + 1);
    buf.push(RAW);
    buf
}

/// Encodes a chunk held in a [`new_buffer`] (content from index 1):
/// compressed if asked and if it actually shrinks, else raw in place.
pub fn encode(buf: Vec<u8>, compress: bool) -> Vec<u8> {
    let compressed = if compress {
        compressed(&buf[1..])
    } else {
        None
    };
    compressed.unwrap_or_else(|| raw(buf))
}

/// The stored form of `content` compressed, if that makes it smaller.
pub fn compressed(content: &[u8]) -> Option<Vec<u8>> {
    let c = zstd::bulk::compress(content, ZSTD_LEVEL).ok()?;
    (c.len() < content.len()).then(|| {
        let mut out = Vec::with_capacity(c.len() + 1);
        out.push(ZSTD);
        out.extend_from_slice(&c);
        out
    })
}

/// The stored form of a chunk kept as is: its [`new_buffer`], flag set in place.
pub fn raw(mut buf: Vec<u8>) -> Vec<u8> {
    buf[0] = RAW;
    buf
}

/// Decodes a chunk of `raw_len` bytes and checks it against `hash`. A raw
/// chunk is returned without copying.
pub fn decode(encoded: Bytes, raw_len: usize, hash: &[u8; 32]) -> Result<Bytes, ChunkError> {
    let Some(&flag) = encoded.first() else {
        return Err(ChunkError::Length {
            found: 0,
            expected: raw_len,
        });
    };
    let raw = match flag {
        RAW => encoded.slice(1..),
        ZSTD => Bytes::from(
            zstd::bulk::decompress(&encoded[1..], raw_len)
                .map_err(|e| ChunkError::Decompress(e.to_string()))?,
        ),
        other => return Err(ChunkError::UnknownEncoding(other)),
    };
    if raw.len() != raw_len {
        return Err(ChunkError::Length {
            found: raw.len(),
            expected: raw_len,
        });
    }
    if blake3::hash(&raw).as_bytes() != hash {
        return Err(ChunkError::HashMismatch);
    }
    Ok(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pseudo_random(n: usize) -> Vec<u8> {
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    #[test]
    fn text_compresses_random_does_not() {
        let text = "Zażółć gęślą jaźń. The quick brown fox. ".repeat(5000);
        assert!(compression_pays(text.as_bytes()));
        assert!(!compression_pays(&pseudo_random(100_000)));
        assert!(!compression_pays(b"tiny"));
    }

    #[test]
    fn round_trip_and_every_corruption_is_caught() {
        for (raw, compress) in [
            ("hello ".repeat(10_000).into_bytes(), true),
            (pseudo_random(50_000), true),
            (pseudo_random(50_000), false),
            (Vec::new(), false),
        ] {
            let hash = *blake3::hash(&raw).as_bytes();
            let mut buf = new_buffer(raw.len());
            buf.extend_from_slice(&raw);
            let encoded = encode(buf, compress);
            assert_eq!(
                decode(Bytes::from(encoded.clone()), raw.len(), &hash).unwrap(),
                raw
            );
            // Flip each of a spread of bytes: never the wrong bytes back.
            for i in (0..encoded.len()).step_by(encoded.len().max(7) / 7) {
                let mut bad = encoded.clone();
                bad[i] ^= 0x40;
                assert!(
                    decode(Bytes::from(bad), raw.len(), &hash).is_err(),
                    "flip at {i}"
                );
            }
            let cut = encoded[..encoded.len().saturating_sub(1)].to_vec();
            assert!(decode(Bytes::from(cut), raw.len(), &hash).is_err() || encoded.len() == 1);
        }
    }
}
