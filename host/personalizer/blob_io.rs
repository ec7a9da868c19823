//! A plugin run's files in the blob store: product files read as sources
//! ([`BlobSource`], one verified chunk at a time) and outputs streamed into
//! new blobs as the plugin writes them ([`BlobSink`]). Neither ever holds a
//! whole file in memory.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use time::OffsetDateTime;
use tokio::runtime::Handle;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::blobs::{BlobError, BlobReader, Blobs, Ingested, RedbChunks};
use crate::domain::FileRef;
use crate::fulfilment::StoredOutput;
use crate::plugins::{OutputSink, SourceBytes};

/// A stored file as a plugin source.
pub struct BlobSource {
    reader: BlobReader<RedbChunks>,
    name: String,
    content_type: String,
    /// The chunks read last, the newest at the back: plugins read in pieces
    /// smaller than a chunk, often going back and forth between a few places
    /// (a PDF's page objects and their content streams).
    recent: Mutex<VecDeque<(u32, Bytes)>>,
}

/// Verified chunks a source keeps (1 MiB each by default).
const RECENT_CHUNKS: usize = 4;

impl BlobSource {
    /// Opens the stored file `file`.
    pub fn open(blobs: &Blobs, file: &FileRef) -> Result<Self, BlobError> {
        Ok(Self {
            reader: blobs.open(&file.id)?,
            name: file.name.clone(),
            content_type: file.content_type.clone(),
            recent: Mutex::new(VecDeque::with_capacity(RECENT_CHUNKS)),
        })
    }

    fn chunk(&self, index: u32) -> io::Result<Bytes> {
        let mut recent = self.recent.lock().expect("lock");
        if let Some(at) = recent.iter().position(|(i, _)| *i == index) {
            let hit = recent.remove(at).expect("found above");
            let bytes = hit.1.clone();
            recent.push_back(hit);
            return Ok(bytes);
        }
        let bytes = self
            .reader
            .read_chunk_blocking(index)
            .map_err(io::Error::other)?;
        if recent.len() == RECENT_CHUNKS {
            recent.pop_front();
        }
        recent.push_back((index, bytes.clone()));
        Ok(bytes)
    }
}

impl SourceBytes for BlobSource {
    fn name(&self) -> &str {
        &self.name
    }
    fn content_type(&self) -> &str {
        &self.content_type
    }
    fn size(&self) -> u64 {
        self.reader.record().size
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        let chunk_bytes = u64::from(self.reader.record().chunk_bytes);
        let size = self.size();
        let mut done = 0;
        while done < buf.len() {
            let at = offset + done as u64;
            if at >= size {
                break;
            }
            let index = u32::try_from(at / chunk_bytes)
                .map_err(|_| io::Error::other("offset beyond the file"))?;
            let chunk = self.chunk(index)?;
            let start = (at % chunk_bytes) as usize;
            let n = (chunk.len().saturating_sub(start)).min(buf.len() - done);
            if n == 0 {
                break;
            }
            buf[done..done + n].copy_from_slice(&chunk[start..start + n]);
            done += n;
        }
        Ok(done)
    }
}

/// One output being stored.
struct PendingOutput {
    name: String,
    content_type: String,
    task: JoinHandle<Result<Ingested, BlobError>>,
}

/// Streams a run's outputs into the blob store. The sandbox writes from a
/// blocking thread; each output is ingested by a task on the runtime, fed
/// through a small bounded channel.
pub struct BlobSink {
    blobs: Blobs,
    runtime: Handle,
    limit_bytes: u64,
    now: OffsetDateTime,
    pending: Arc<Mutex<Vec<PendingOutput>>>,
}

/// Handle to a sink's outputs, kept by the caller while the sandbox owns the sink.
#[derive(Clone)]
pub struct SinkOutputs(Arc<Mutex<Vec<PendingOutput>>>);

/// Bytes handed to the ingest task at once.
const PIECE_BYTES: usize = 1 << 20;

impl BlobSink {
    /// A sink storing outputs of at most `limit_bytes` each; answers it and
    /// the handle to collect its outputs with after the run.
    pub fn new(
        blobs: Blobs,
        runtime: Handle,
        limit_bytes: u64,
        now: OffsetDateTime,
    ) -> (Self, SinkOutputs) {
        let pending = Arc::new(Mutex::new(Vec::new()));
        (
            Self {
                blobs,
                runtime,
                limit_bytes,
                now,
                pending: pending.clone(),
            },
            SinkOutputs(pending),
        )
    }
}

impl OutputSink for BlobSink {
    fn create(&mut self, name: &str, content_type: &str) -> io::Result<Box<dyn Write + Send>> {
        let (sender, mut receiver) = mpsc::channel::<Vec<u8>>(2);
        let (blobs, limit, now) = (self.blobs.clone(), self.limit_bytes, self.now);
        let task = self.runtime.spawn(async move {
            let mut ingest = blobs.ingest(limit, now).await?;
            while let Some(piece) = receiver.recv().await {
                ingest.write(&piece).await?;
            }
            ingest.finish().await
        });
        self.pending.lock().expect("lock").push(PendingOutput {
            name: name.to_owned(),
            content_type: content_type.to_owned(),
            task,
        });
        Ok(Box::new(ChannelWriter {
            sender,
            buf: Vec::with_capacity(PIECE_BYTES),
        }))
    }
}

impl SinkOutputs {
    /// Waits for every output to be stored. All of them, even after one
    /// failed, so none is left half-written; answers the stored ones and
    /// the first error.
    pub async fn collect(self) -> (Vec<StoredOutput>, Option<BlobError>) {
        let pending = std::mem::take(&mut *self.0.lock().expect("lock"));
        let mut stored = Vec::with_capacity(pending.len());
        let mut error = None;
        for output in pending {
            match output.task.await {
                Ok(Ok(ingested)) => stored.push(StoredOutput {
                    name: output.name,
                    content_type: output.content_type,
                    ingested,
                }),
                Ok(Err(e)) => {
                    error.get_or_insert(e);
                }
                Err(e) => {
                    error.get_or_insert(BlobError::Interrupted(format!("output task: {e}")));
                }
            }
        }
        (stored, error)
    }
}

/// The writer the sandbox sees: buffers up to a piece, then hands it over
/// (blocking the plugin while the store catches up, which bounds memory).
struct ChannelWriter {
    sender: mpsc::Sender<Vec<u8>>,
    buf: Vec<u8>,
}

impl ChannelWriter {
    fn send_buffered(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let piece = std::mem::replace(&mut self.buf, Vec::with_capacity(PIECE_BYTES));
        self.sender
            .blocking_send(piece)
            .map_err(|_| io::Error::other("the file store stopped taking this output"))
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = data.len().min(PIECE_BYTES - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == PIECE_BYTES {
            self.send_buffered()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send_buffered()
    }
}

impl Drop for ChannelWriter {
    fn drop(&mut self) {
        // Normally empty: the sandbox flushes before closing an output.
        let _ = self.send_buffered();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blobs::CHUNK_BYTES;
    use crate::store::{FileMetaRecord, Store};

    #[tokio::test]
    async fn reads_jumping_between_more_chunks_than_are_kept_get_the_right_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("waybill.redb")).unwrap();
        let blobs = Blobs::in_redb(store.clone());
        let now = OffsetDateTime::now_utc();
        let chunk = CHUNK_BYTES as u64;
        let data: Vec<u8> = (0..6 * CHUNK_BYTES as u32 + 123)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        let mut ingest = blobs.ingest(u64::MAX, now).await.unwrap();
        ingest.write(&data).await.unwrap();
        let ingested = ingest.finish().await.unwrap();
        let meta = FileMetaRecord {
            name: "f.bin".into(),
            content_type: "application/octet-stream".into(),
            uploaded_at: now,
        };
        let blob = store
            .write(move |tx| ingested.commit(tx, &meta, now))
            .await
            .unwrap();
        let file = FileRef {
            id: blob.id,
            name: "f.bin".into(),
            size: blob.size,
            content_type: "application/octet-stream".into(),
        };
        let source = BlobSource::open(&blobs, &file).unwrap();
        // Back and forth over 7 chunks (4 are kept), across chunk edges, to the end.
        let offsets = [
            0,
            5 * chunk + 7,
            chunk - 3,
            3 * chunk,
            5 * chunk + 9,
            0,
            2 * chunk - 1,
            4 * chunk,
            6 * chunk + 100,
            chunk - 3,
            6 * chunk + 123,
        ];
        for offset in offsets {
            let mut buf = vec![0u8; 4096];
            let n = source.read_at(offset, &mut buf).unwrap();
            let end = (offset as usize + buf.len()).min(data.len());
            assert_eq!(n, end - offset as usize, "length at {offset}");
            assert!(buf[..n] == data[offset as usize..end], "bytes at {offset}");
        }
    }
}
