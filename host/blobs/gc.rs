//! Garbage collection and verification: unreferenced blobs leave after a
//! grace period, abandoned uploads are reclaimed, every blob can be re-hashed.

use time::{Duration, OffsetDateTime};

use super::{BlobError, Blobs, ChunkStore, is_blob_id};
use crate::store::{Source, StoreError, TrashRecord};

/// Chunks deleted per store operation while emptying the trash.
const TRASH_CHUNKS_PER_WRITE: u32 = 64;
/// Blob records examined per scan page.
const SCAN_PAGE: usize = 256;

/// What one collection did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct GcReport {
    pub blobs_removed: u64,
    pub chunk_sets_deleted: u64,
}

/// At start-up no upload is in progress: every registered one was cut off
/// by a crash or stop. Moves them all to the trash.
pub async fn recover_abandoned_uploads<C: ChunkStore>(
    blobs: &Blobs<C>,
) -> Result<usize, BlobError> {
    let uploads = blobs.store().read()?.uploads()?;
    let count = uploads.len();
    if count > 0 {
        blobs
            .store()
            .write(move |tx| {
                for (id, _) in &uploads {
                    tx.delete_upload(id);
                    // The exact count died with the process; the ceiling of a
                    // maximal upload covers every chunk it could have written.
                    tx.put_trash(
                        id,
                        &TrashRecord {
                            chunk_count: u32::MAX,
                        },
                    );
                }
                Ok::<_, StoreError>(())
            })
            .await?;
    }
    Ok(count)
}

/// Removes blobs unreferenced for longer than `grace`, then deletes trashed chunks.
pub async fn collect_garbage<C: ChunkStore>(
    blobs: &Blobs<C>,
    now: OffsetDateTime,
    grace: Duration,
) -> Result<GcReport, BlobError> {
    let mut report = GcReport::default();
    let mut after: Option<String> = None;
    loop {
        let page = blobs.store().read()?.blobs(after.as_deref(), SCAN_PAGE)?;
        let Some(last) = page.last() else { break };
        after = Some(last.id.clone());
        let expired: Vec<String> = page
            .iter()
            .filter(|b| b.refs == 0 && b.released_at + grace <= now)
            .map(|b| b.id.clone())
            .collect();
        if !expired.is_empty() {
            report.blobs_removed += blobs
                .store()
                .write(move |tx| {
                    let mut removed = 0;
                    for id in &expired {
                        // Checked again inside the write: a reference may have arrived.
                        if let Some(blob) = tx.blob(id)?
                            && blob.refs == 0
                            && blob.released_at + grace <= now
                        {
                            tx.delete_blob(id);
                            tx.put_trash(
                                &blob.chunks_key,
                                &TrashRecord {
                                    chunk_count: blob.chunk_hashes.len() as u32,
                                },
                            );
                            removed += 1;
                        }
                    }
                    Ok::<_, StoreError>(removed)
                })
                .await?;
        }
        if page.len() < SCAN_PAGE {
            break;
        }
    }
    report.chunk_sets_deleted = empty_trash(blobs).await?;
    Ok(report)
}

async fn empty_trash<C: ChunkStore>(blobs: &Blobs<C>) -> Result<u64, BlobError> {
    let mut sets = 0;
    loop {
        let trash = blobs.store().read()?.trash(16)?;
        if trash.is_empty() {
            return Ok(sets);
        }
        for (key, record) in trash {
            let mut first = 0u32;
            loop {
                let end = first
                    .saturating_add(TRASH_CHUNKS_PER_WRITE)
                    .min(record.chunk_count);
                if first >= end {
                    break;
                }
                // Stop early for sets whose exact length is unknown.
                if record.chunk_count == u32::MAX && blobs.chunks().get(&key, first)?.is_none() {
                    break;
                }
                blobs.chunks().delete(&key, first, end).await?;
                first = end;
            }
            let key2 = key.clone();
            blobs
                .store()
                .write(move |tx| {
                    tx.delete_trash(&key2);
                    Ok::<_, StoreError>(())
                })
                .await?;
            sets += 1;
        }
    }
}

/// One blob that failed verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyProblem {
    pub blob: String,
    pub problem: String,
}

/// Re-reads every blob, checks each chunk against its hash and the whole
/// content against the blob's id. Returns the number checked and the problems.
pub fn verify_all<C: ChunkStore>(blobs: &Blobs<C>) -> Result<(u64, Vec<VerifyProblem>), BlobError> {
    let mut checked = 0;
    let mut problems = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = blobs.store().read()?.blobs(after.as_deref(), SCAN_PAGE)?;
        let Some(last) = page.last() else { break };
        after = Some(last.id.clone());
        for record in &page {
            checked += 1;
            let id = record.id.clone();
            if !is_blob_id(&id) {
                problems.push(VerifyProblem {
                    blob: id,
                    problem: "malformed id".into(),
                });
                continue;
            }
            let reader = super::BlobReader::new(blobs.chunks().clone(), record.clone());
            let mut hasher = blake3::Hasher::new();
            let mut failed = None;
            for index in 0..record.chunk_hashes.len() as u32 {
                match reader.read_chunk_blocking(index) {
                    Ok(data) => {
                        hasher.update(&data);
                    }
                    Err(e) => {
                        failed = Some(e.to_string());
                        break;
                    }
                }
            }
            if failed.is_none() && hasher.finalize().to_hex().as_str() != id {
                failed = Some("content does not match the blob id".into());
            }
            if let Some(problem) = failed {
                problems.push(VerifyProblem { blob: id, problem });
            }
        }
        if page.len() < SCAN_PAGE {
            break;
        }
    }
    Ok((checked, problems))
}
