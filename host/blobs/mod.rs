//! Content-addressed file storage: BLAKE3 ids, fixed-size chunks compressed
//! where it pays, streamed in and out with bounded memory, verified on every
//! read, shared by every product and shipment that names the same bytes,
//! and garbage-collected when nothing references them.
//!
//! Blob *records* (size, chunk hashes, reference counts) always live in the
//! metadata store. Chunk *bytes* go through [`ChunkStore`], a small trait:
//! today redb ([`RedbChunks`]); an object store can follow without touching
//! callers.

pub mod chunk;
mod gc;
mod ingest;
mod read;

use std::future::Future;

use axum::body::Bytes;

use time::OffsetDateTime;

pub use gc::{GcReport, VerifyProblem, collect_garbage, recover_abandoned_uploads, verify_all};
pub use ingest::{Ingest, Ingested};
pub use read::BlobReader;

use crate::store::{BlobRecord, Source, Store, StoreError, Tx};

/// Uncompressed bytes per chunk: just under 1 MiB, so that one stored chunk
/// (plus its flag byte) fits redb's 1 MiB allocation class (1.03× on disk).
pub const CHUNK_BYTES: usize = 1024 * 1024 - 256;
/// Chunks written per store operation while ingesting: bounds memory per upload.
pub const CHUNKS_PER_WRITE: usize = 4;

/// A blob operation that failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BlobError {
    #[error("the file is larger than the limit of {limit_bytes} bytes")]
    TooLarge { limit_bytes: u64 },
    #[error("no such file")]
    NotFound,
    #[error("stored file {blob} is corrupt at chunk {chunk}: {reason}")]
    Corrupt {
        blob: String,
        chunk: u32,
        reason: String,
    },
    #[error("the upload was interrupted: {0}")]
    Interrupted(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Where chunk bytes live. Keys are a chunk set (one per upload) plus an index.
pub trait ChunkStore: Clone + Send + Sync + 'static {
    /// Stores `chunks` at indexes `first..`; need not be durable until the
    /// blob's record is committed durably.
    fn put(
        &self,
        chunks_key: &str,
        first: u32,
        chunks: Vec<Vec<u8>>,
    ) -> impl Future<Output = Result<(), BlobError>> + Send;

    /// Reads one stored chunk (blocking; call from a blocking thread).
    fn get(&self, chunks_key: &str, index: u32) -> Result<Option<Bytes>, BlobError>;

    /// Deletes chunks `first..end` of a chunk set.
    fn delete(
        &self,
        chunks_key: &str,
        first: u32,
        end: u32,
    ) -> impl Future<Output = Result<(), BlobError>> + Send;
}

/// Chunks stored in the redb metadata file.
#[derive(Clone)]
pub struct RedbChunks {
    store: Store,
}

impl RedbChunks {
    pub fn new(store: Store) -> Self {
        RedbChunks { store }
    }
}

impl ChunkStore for RedbChunks {
    async fn put(
        &self,
        chunks_key: &str,
        first: u32,
        chunks: Vec<Vec<u8>>,
    ) -> Result<(), BlobError> {
        let key = chunks_key.to_owned();
        self.store
            .write_relaxed(move |tx| {
                for (i, encoded) in chunks.into_iter().enumerate() {
                    tx.put_blob_chunk(&key, first + i as u32, encoded);
                }
                Ok::<_, StoreError>(())
            })
            .await?;
        Ok(())
    }

    fn get(&self, chunks_key: &str, index: u32) -> Result<Option<Bytes>, BlobError> {
        Ok(self.store.read()?.blob_chunk_shared(chunks_key, index)?)
    }

    async fn delete(&self, chunks_key: &str, first: u32, end: u32) -> Result<(), BlobError> {
        let key = chunks_key.to_owned();
        self.store
            .write_relaxed(move |tx| {
                for index in first..end {
                    tx.delete_blob_chunk(&key, index);
                }
                Ok::<_, StoreError>(())
            })
            .await?;
        Ok(())
    }
}

/// The blob store: records in the metadata store, bytes in a [`ChunkStore`].
#[derive(Clone)]
pub struct Blobs<C: ChunkStore = RedbChunks> {
    store: Store,
    chunks: C,
}

impl Blobs<RedbChunks> {
    /// Blobs kept entirely in the redb file.
    pub fn in_redb(store: Store) -> Self {
        Blobs {
            chunks: RedbChunks::new(store.clone()),
            store,
        }
    }
}

impl<C: ChunkStore> Blobs<C> {
    /// Starts an upload of at most `limit_bytes`.
    pub async fn ingest(
        &self,
        limit_bytes: u64,
        now: OffsetDateTime,
    ) -> Result<Ingest<C>, BlobError> {
        Ingest::start(self.store.clone(), self.chunks.clone(), limit_bytes, now).await
    }

    /// Opens a blob for reading.
    pub fn open(&self, id: &str) -> Result<BlobReader<C>, BlobError> {
        let record = self.store.read()?.blob(id)?.ok_or(BlobError::NotFound)?;
        Ok(BlobReader::new(self.chunks.clone(), record))
    }

    /// The record of a blob, if stored.
    pub fn record(&self, id: &str) -> Result<Option<BlobRecord>, BlobError> {
        Ok(self.store.read()?.blob(id)?)
    }

    pub(crate) fn store(&self) -> &Store {
        &self.store
    }

    pub(crate) fn chunks(&self) -> &C {
        &self.chunks
    }
}

/// Counts one more reference to a blob (a product or shipment names it).
pub fn add_ref(tx: &mut Tx<'_>, id: &str) -> Result<BlobRecord, BlobError> {
    let mut blob = tx.blob(id)?.ok_or(BlobError::NotFound)?;
    blob.refs += 1;
    tx.put_blob(&blob);
    Ok(blob)
}

/// Drops one reference; at zero the grace period before collection starts.
pub fn release_ref(tx: &mut Tx<'_>, id: &str, now: OffsetDateTime) -> Result<(), BlobError> {
    if let Some(mut blob) = tx.blob(id)? {
        blob.refs = blob.refs.saturating_sub(1);
        if blob.refs == 0 {
            blob.released_at = now;
        }
        tx.put_blob(&blob);
    }
    Ok(())
}

/// A blob id must be 64 lowercase hex digits.
pub fn is_blob_id(id: &str) -> bool {
    id.len() == 64
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}
