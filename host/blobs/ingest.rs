//! Streaming ingest: bytes in, chunks hashed, compressed where it pays and
//! written in bounded batches; the blob appears only when its record commits.

use std::collections::VecDeque;
use time::OffsetDateTime;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::{BlobError, CHUNK_BYTES, CHUNKS_PER_WRITE, ChunkStore, chunk};
use crate::ids::new_id;
use crate::store::{
    BlobRecord, FileMetaRecord, Source, Store, StoreError, TrashRecord, Tx, UploadRecord,
};

/// An upload in progress. Dropped unfinished, it schedules its chunks for deletion.
///
/// A pipeline over the cores: while the network delivers chunk n+1, chunk n
/// is hashed (the file hash and the chunk's own hash on two threads) and
/// compressed, and earlier chunks are being written.
pub struct Ingest<C: ChunkStore> {
    store: Store,
    chunks: C,
    upload_id: String,
    limit_bytes: u64,
    /// The file hasher, when no sealing task holds it...
    hasher: Option<blake3::Hasher>,
    /// ...else where the last sealing task will hand it over.
    hasher_after: Option<oneshot::Receiver<blake3::Hasher>>,
    /// The chunk being received, behind its flag byte (see [`chunk::new_buffer`]).
    buf: Vec<u8>,
    /// Chunks being sealed, in order (at most [`SEALS_IN_FLIGHT_MAX`]).
    sealing: VecDeque<JoinHandle<Result<Sealed, BlobError>>>,
    pending: Vec<Vec<u8>>,
    writing: Option<JoinHandle<Result<(), BlobError>>>,
    chunk_hashes: Vec<String>,
    /// Chunks handed to writes (done or in flight).
    scheduled_chunks: u32,
    size: u64,
    stored_bytes: u64,
    compress: Option<bool>,
    done: bool,
}

/// Chunks hashed and compressed at once: with the file hash handed from one
/// to the next, two keep both cores busy (zstd is the slowest step).
const SEALS_IN_FLIGHT_MAX: usize = 2;

/// A chunk after hashing and encoding.
struct Sealed {
    hash: String,
    encoded: Vec<u8>,
    compress: bool,
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

fn task_failed(e: tokio::task::JoinError) -> BlobError {
    BlobError::Interrupted(format!("a background task of the upload failed: {e}"))
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
            hasher: Some(blake3::Hasher::new()),
            hasher_after: None,
            buf: chunk::new_buffer(CHUNK_BYTES),
            sealing: VecDeque::new(),
            pending: Vec::new(),
            writing: None,
            chunk_hashes: Vec::new(),
            scheduled_chunks: 0,
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
            let take = (CHUNK_BYTES + 1 - self.buf.len()).min(data.len());
            self.buf.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.buf.len() == CHUNK_BYTES + 1 {
                self.seal_chunk().await?;
            }
        }
        Ok(())
    }

    /// Collects the oldest chunk being sealed, if any, and queues it for writing.
    async fn collect_sealed(&mut self) -> Result<(), BlobError> {
        let Some(task) = self.sealing.pop_front() else {
            return Ok(());
        };
        let sealed = task.await.map_err(task_failed)??;
        self.compress = Some(sealed.compress);
        self.chunk_hashes.push(sealed.hash);
        self.stored_bytes += sealed.encoded.len() as u64;
        self.pending.push(sealed.encoded);
        if self.pending.len() >= CHUNKS_PER_WRITE {
            self.flush().await?;
        }
        Ok(())
    }

    /// Starts hashing and encoding the buffered chunk on a blocking thread.
    /// The chunk's own hash and compression run in parallel with the
    /// previous chunk's; the file hash is taken over in order.
    async fn seal_chunk(&mut self) -> Result<(), BlobError> {
        // The first chunk decides compression for the blob: wait for it.
        while self.sealing.len() >= SEALS_IN_FLIGHT_MAX
            || (self.compress.is_none() && !self.sealing.is_empty())
        {
            self.collect_sealed().await?;
        }
        let buf = std::mem::replace(&mut self.buf, chunk::new_buffer(CHUNK_BYTES));
        let previous = match self.hasher.take() {
            Some(hasher) => Ok(hasher),
            None => Err(self
                .hasher_after
                .take()
                .expect("a sealing task holds the hasher")),
        };
        let (hand_over, next) = oneshot::channel();
        self.hasher_after = Some(next);
        let compress = self.compress;
        self.sealing.push_back(tokio::task::spawn_blocking(move || {
            let content = &buf[1..];
            let hash = blake3::hash(content).to_hex().to_string();
            let compress = compress.unwrap_or_else(|| chunk::compression_pays(content));
            let compressed = if compress {
                chunk::compressed(content)
            } else {
                None
            };
            let mut hasher = match previous {
                Ok(hasher) => hasher,
                Err(waiting) => waiting.blocking_recv().map_err(|_| {
                    BlobError::Interrupted("the previous chunk's hashing failed".into())
                })?,
            };
            hasher.update(content);
            let _ = hand_over.send(hasher);
            Ok(Sealed {
                hash,
                encoded: compressed.unwrap_or_else(|| chunk::raw(buf)),
                compress,
            })
        }));
        Ok(())
    }

    /// Waits for the previous write, then starts writing the pending chunks.
    async fn flush(&mut self) -> Result<(), BlobError> {
        if let Some(previous) = self.writing.take() {
            previous.await.map_err(task_failed)??;
        }
        if self.pending.is_empty() {
            return Ok(());
        }
        let batch = std::mem::take(&mut self.pending);
        let first = self.scheduled_chunks;
        self.scheduled_chunks += batch.len() as u32;
        let chunks = self.chunks.clone();
        let key = self.upload_id.clone();
        self.writing = Some(tokio::spawn(
            async move { chunks.put(&key, first, batch).await },
        ));
        Ok(())
    }

    /// The whole file was received: stores the last chunk and waits for every write.
    pub async fn finish(mut self) -> Result<Ingested, BlobError> {
        if self.buf.len() > 1 || self.chunk_hashes.len() + self.sealing.len() == 0 {
            self.seal_chunk().await?;
        }
        while !self.sealing.is_empty() {
            self.collect_sealed().await?;
        }
        self.flush().await?;
        if let Some(last) = self.writing.take() {
            last.await.map_err(task_failed)??;
        }
        self.done = true;
        let hasher = match self.hasher.take() {
            Some(hasher) => hasher,
            None => self
                .hasher_after
                .take()
                .expect("the last sealing task holds the hasher")
                .await
                .map_err(|_| BlobError::Interrupted("hashing failed".into()))?,
        };
        Ok(Ingested {
            id: hasher.finalize().to_hex().to_string(),
            size: self.size,
            upload_id: std::mem::take(&mut self.upload_id),
            chunk_hashes: std::mem::take(&mut self.chunk_hashes),
            chunk_count: self.scheduled_chunks,
            stored_bytes: self.stored_bytes,
        })
    }
}

impl<C: ChunkStore> Drop for Ingest<C> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        // Interrupted (client gone, over the limit, error): once the write in
        // flight has landed, trash everything this upload wrote.
        let store = self.store.clone();
        let upload_id = std::mem::take(&mut self.upload_id);
        let chunk_count = self.scheduled_chunks + 1;
        let writing = self.writing.take();
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move {
                if let Some(writing) = writing {
                    let _ = writing.await;
                }
                let trash = move |tx: &mut Tx<'_>| {
                    tx.delete_upload(&upload_id);
                    tx.put_trash(&upload_id, &TrashRecord { chunk_count });
                    Ok::<_, StoreError>(())
                };
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
