//! Reading a blob: any byte range, one verified chunk at a time.

use axum::body::Bytes;
use futures_util::Stream;

use super::{BlobError, ChunkStore, chunk};
use crate::store::BlobRecord;

/// An open blob.
#[derive(Clone)]
pub struct BlobReader<C: ChunkStore> {
    chunks: C,
    record: BlobRecord,
}

impl<C: ChunkStore> BlobReader<C> {
    pub(super) fn new(chunks: C, record: BlobRecord) -> Self {
        BlobReader { chunks, record }
    }

    /// The blob's record.
    pub fn record(&self) -> &BlobRecord {
        &self.record
    }

    /// Reads and verifies chunk `index` (blocking).
    pub fn read_chunk_blocking(&self, index: u32) -> Result<Vec<u8>, BlobError> {
        let corrupt = |reason: String| BlobError::Corrupt {
            blob: self.record.id.clone(),
            chunk: index,
            reason,
        };
        let hash_hex = self
            .record
            .chunk_hashes
            .get(index as usize)
            .ok_or_else(|| corrupt("no hash recorded for this chunk".into()))?;
        let mut hash = [0u8; 32];
        for (i, byte) in hash.iter_mut().enumerate() {
            *byte = u8::from_str_radix(hash_hex.get(2 * i..2 * i + 2).unwrap_or("zz"), 16)
                .map_err(|_| corrupt("malformed chunk hash".into()))?;
        }
        let chunk_bytes = u64::from(self.record.chunk_bytes);
        let start = u64::from(index) * chunk_bytes;
        let raw_len = self.record.size.saturating_sub(start).min(chunk_bytes) as usize;
        let encoded = self
            .chunks
            .get(&self.record.chunks_key, index)?
            .ok_or_else(|| corrupt("chunk missing".into()))?;
        chunk::decode(&encoded, raw_len, &hash).map_err(|e| corrupt(e.to_string()))
    }

    /// Reads and verifies chunk `index` on a blocking thread.
    pub async fn read_chunk(&self, index: u32) -> Result<Vec<u8>, BlobError> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || this.read_chunk_blocking(index))
            .await
            .map_err(|e| BlobError::Interrupted(format!("read task failed: {e}")))?
    }

    /// Bytes `start..end` as a stream of verified pieces, one chunk in memory
    /// at a time: the next chunk is read only when the consumer asks for it.
    pub fn stream(
        self,
        start: u64,
        end: u64,
    ) -> impl Stream<Item = Result<Bytes, BlobError>> + Send {
        let chunk_bytes = u64::from(self.record.chunk_bytes).max(1);
        futures_util::stream::try_unfold((self, start), move |(reader, pos)| async move {
            if pos >= end {
                return Ok(None);
            }
            let index = (pos / chunk_bytes) as u32;
            let chunk_start = u64::from(index) * chunk_bytes;
            let data = reader.read_chunk(index).await?;
            let from = (pos - chunk_start) as usize;
            let to = ((end - chunk_start) as usize).min(data.len());
            if from >= to {
                return Err(BlobError::Corrupt {
                    blob: reader.record.id.clone(),
                    chunk: index,
                    reason: "chunk shorter than the recorded size".into(),
                });
            }
            let piece = Bytes::from(data).slice(from..to);
            let next = chunk_start + to as u64;
            Ok(Some((piece, (reader, next))))
        })
    }
}
