//! Streaming ingest: bytes in, chunks hashed, compressed where it pays and
//! written in bounded batches; the blob appears only when its record commits.

use time::OffsetDateTime;

use super::{BlobError, CHUNK_BYTES, CHUNKS_PER_WRITE, ChunkStore, chunk};
use crate::ids::new_id;
use crate::store::{
    BlobRecord, FileMetaRecord, Source, Store, StoreError, TrashRecord, Tx, UploadRecord,
};

/// An upload in progress. Dropped unfinished, it schedules its chunks for deletion.
pub struct Ingest<C: ChunkStore> {
    store: Store,
    chunks: C,
    upload_id: String,
    limit_bytes: u64,
    hasher: blake3::Hasher,
    buf: Vec<u8>,
    pending: Vec<Vec<u8>>,
    chunk_hashes: Vec<String>,
    written_chunks: u32,
    size: u64,
    stored_bytes: u64,
    compress: Option<bool>,
    done: bool,
}

/// A fully received upload, ready to commit (see [`Ingested::commit`]).
#[derive(Debug, Clone)]
pub struct Ingested {
    pub id: String,
    pub size: u64,
    upload_id: String,
    chunk_hashes: Vec<String>,
    chunk_count: u32,
    stored_bytes: u64,
}

impl<C: ChunkStore> Ingest<C> {
    pub(super) async fn start(
        store: Store,
        chunks: C,
        limit_bytes: u64,
        now: OffsetDateTime,
    ) -> Result<Self, BlobError> {
        let upload_id = new_id("upl", now);
        let id = upload_id.clone();
        store
            .write(move |tx| {
                tx.put_upload(&id, &UploadRecord { started_at: now });
                Ok::<_, StoreError>(())
            })
            .await?;
        Ok(Ingest {
            store,
            chunks,
            upload_id,
            limit_bytes,
            hasher: blake3::Hasher::new(),
            buf: Vec::with_capacity(CHUNK_BYTES),
            pending: Vec::new(),
            chunk_hashes: Vec::new(),
            written_chunks: 0,
            size: 0,
            stored_bytes: 0,
            compress: None,
            done: false,
        })
    }

    /// Bytes received so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Takes the next piece of the file.
    pub async fn write(&mut self, mut data: &[u8]) -> Result<(), BlobError> {
        if self.size + data.len() as u64 > self.limit_bytes {
            return Err(BlobError::TooLarge {
                limit_bytes: self.limit_bytes,
            });
        }
        self.size += data.len() as u64;
        while !data.is_empty() {
            let take = (CHUNK_BYTES - self.buf.len()).min(data.len());
            self.buf.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.buf.len() == CHUNK_BYTES {
                self.seal_chunk().await?;
            }
        }
        Ok(())
    }

    /// Hashes and encodes the buffered chunk off the async threads.
    async fn seal_chunk(&mut self) -> Result<(), BlobError> {
        let raw = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK_BYTES));
        let mut hasher = std::mem::take(&mut self.hasher);
        let compress = self.compress;
        let (hasher, hash, encoded, compress) = tokio::task::spawn_blocking(move || {
            hasher.update(&raw);
            let compress = compress.unwrap_or_else(|| chunk::compression_pays(&raw));
            let hash = blake3::hash(&raw).to_hex().to_string();
            let encoded = chunk::encode(&raw, compress);
            (hasher, hash, encoded, compress)
        })
        .await
        .map_err(|e| BlobError::Interrupted(format!("hashing task failed: {e}")))?;
        self.hasher = hasher;
        self.compress = Some(compress);
        self.chunk_hashes.push(hash);
        self.stored_bytes += encoded.len() as u64;
        self.pending.push(encoded);
        if self.pending.len() >= CHUNKS_PER_WRITE {
            self.flush().await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), BlobError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let batch = std::mem::take(&mut self.pending);
        let count = batch.len() as u32;
        self.chunks
            .put(&self.upload_id, self.written_chunks, batch)
            .await?;
        self.written_chunks += count;
        Ok(())
    }

    /// The whole file was received: stores the last chunk.
    pub async fn finish(mut self) -> Result<Ingested, BlobError> {
        if !self.buf.is_empty() || self.chunk_hashes.is_empty() {
            self.seal_chunk().await?;
        }
        self.flush().await?;
        self.done = true;
        Ok(Ingested {
            id: self.hasher.finalize().to_hex().to_string(),
            size: self.size,
            upload_id: std::mem::take(&mut self.upload_id),
            chunk_hashes: std::mem::take(&mut self.chunk_hashes),
            chunk_count: self.written_chunks,
            stored_bytes: self.stored_bytes,
        })
    }
}

impl<C: ChunkStore> Drop for Ingest<C> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        // Interrupted (client gone, over the limit, error): trash what was written.
        let store = self.store.clone();
        let upload_id = std::mem::take(&mut self.upload_id);
        let chunk_count = self.written_chunks + self.pending.len() as u32 + 1;
        let trash = move |tx: &mut Tx<'_>| {
            tx.delete_upload(&upload_id);
            tx.put_trash(&upload_id, &TrashRecord { chunk_count });
            Ok::<_, StoreError>(())
        };
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move {
                if let Err(e) = store.write(trash).await {
                    tracing::warn!(error = %e, "could not schedule an interrupted upload for deletion; it is collected at the next start");
                }
            });
        }
    }
}

impl Ingested {
    /// The upload's chunk set (the chunks key of the blob it becomes).
    pub fn upload_id(&self) -> &str {
        &self.upload_id
    }

    /// Makes the blob visible inside `tx`: records it (or, when the same bytes
    /// are stored already, trashes this copy), and remembers the upload's
    /// name and type. Returns the blob's record.
    pub fn commit(
        self,
        tx: &mut Tx<'_>,
        meta: &FileMetaRecord,
        now: OffsetDateTime,
    ) -> Result<BlobRecord, StoreError> {
        tx.delete_upload(&self.upload_id);
        tx.put_file_meta(&self.id, meta);
        if let Some(existing) = tx.blob(&self.id)? {
            tx.put_trash(
                &self.upload_id,
                &TrashRecord {
                    chunk_count: self.chunk_count,
                },
            );
            return Ok(existing);
        }
        let record = BlobRecord {
            id: self.id,
            size: self.size,
            chunk_bytes: CHUNK_BYTES as u32,
            chunks_key: self.upload_id,
            chunk_hashes: self.chunk_hashes,
            stored_bytes: self.stored_bytes,
            refs: 0,
            created_at: now,
            released_at: now,
        };
        tx.put_blob(&record);
        Ok(record)
    }

    /// Gives the upload up (the caller refused it after all): trashes its chunks.
    pub fn discard(self, tx: &mut Tx<'_>) {
        tx.delete_upload(&self.upload_id);
        tx.put_trash(
            &self.upload_id,
            &TrashRecord {
                chunk_count: self.chunk_count,
            },
        );
    }
}
