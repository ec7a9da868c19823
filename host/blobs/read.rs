//! Reading a blob: any byte range, one verified chunk at a time.

use axum::body::Bytes;
use std::sync::Arc;

use futures_util::{Stream, StreamExt};

use super::{BlobError, ChunkStore, chunk};
use crate::store::BlobRecord;

/// An open blob.
#[derive(Clone)]
pub struct BlobReader<C: ChunkStore> {
    chunks: C,
    record: Arc<BlobRecord>,
}

impl<C: ChunkStore> BlobReader<C> {
    pub(super) fn new(chunks: C, record: BlobRecord) -> Self {
        BlobReader {
            chunks,
            record: Arc::new(record),
        }
    }

    /// The blob's record.
    pub fn record(&self) -> &BlobRecord {
        &self.record
    }

    /// Reads and verifies chunk `index` (blocking).
    pub fn read_chunk_blocking(&self, index: u32) -> Result<Bytes, BlobError> {
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
        chunk::decode(encoded, raw_len, &hash).map_err(|e| corrupt(e.to_string()))
    }

    /// Reads and verifies chunk `index` on a blocking thread, at most
    /// [`read_slots`] of them at once across the server.
    pub async fn read_chunk(&self, index: u32) -> Result<Bytes, BlobError> {
        let _slot = read_slots()
            .acquire()
            .await
            .map_err(|_| BlobError::Interrupted("the server is stopping".into()))?;
        let this = self.clone();
        tokio::task::spawn_blocking(move || this.read_chunk_blocking(index))
            .await
            .map_err(|e| BlobError::Interrupted(format!("read task failed: {e}")))?
    }

    /// Bytes `start..end` as a stream of verified pieces. At most
    /// [`READ_AHEAD_CHUNKS`] chunks are in memory: the next one is read and
    /// verified (on another core) while the current one is being sent.
    pub fn stream(
        self,
        start: u64,
        end: u64,
    ) -> impl Stream<Item = Result<Bytes, BlobError>> + Send {
        let chunk_bytes = u64::from(self.record.chunk_bytes).max(1);
        let indexes = if start < end {
            (start / chunk_bytes)..((end - 1) / chunk_bytes + 1)
        } else {
            0..0
        };
        futures_util::stream::iter(indexes)
            .map(move |index| {
                let reader = self.clone();
                async move {
                    let index = index as u32;
                    let chunk_start = u64::from(index) * chunk_bytes;
                    let data = reader.read_chunk(index).await?;
                    let from = start.saturating_sub(chunk_start) as usize;
                    let to = ((end - chunk_start) as usize).min(data.len());
                    if from >= to {
                        return Err(BlobError::Corrupt {
                            blob: reader.record.id.clone(),
                            chunk: index,
                            reason: "chunk shorter than the recorded size".into(),
                        });
                    }
                    Ok(data.slice(from..to))
                }
            })
            .buffered(READ_AHEAD_CHUNKS)
    }
}

/// Chunks read ahead of the one being sent.
pub const READ_AHEAD_CHUNKS: usize = 2;

/// Chunk reads (read, decompress, verify) running at once, server-wide: one
/// per core keeps the cores busy however many downloads run. More would
/// not be faster, and every extra thread that handles 1 MiB buffers gets
/// its own glibc malloc arena, which keeps freed buffers: with a read per
/// download-ahead, 8 downloads at once held ~95 MiB above idle.
fn read_slots() -> &'static tokio::sync::Semaphore {
    static SLOTS: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    SLOTS.get_or_init(|| {
        tokio::sync::Semaphore::new(std::thread::available_parallelism().map_or(2, |n| n.get()))
    })
}
