//! `waybill files add` and `waybill files verify`: the blob store from the
//! command line, on a stopped server's data directory.

use std::io::{IsTerminal as _, Read as _, Write as _};
use std::path::Path;

use time::OffsetDateTime;

use crate::blobs::{self, Blobs};
use crate::store::{FileMetaRecord, Store};

/// Bytes read from disk per step.
const READ_BYTES: usize = 1024 * 1024;

/// A media type guessed from a file name's extension.
pub fn guess_content_type(name: &str) -> &'static str {
    let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    match ext.as_deref() {
        Some("pdf") => "application/pdf",
        Some("epub") => "application/epub+zip",
        Some("zip") => "application/zip",
        Some("txt") => "text/plain; charset=utf-8",
        Some("md") => "text/markdown; charset=utf-8",
        Some("html" | "htm") => "text/html; charset=utf-8",
        Some("json") => "application/json",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("svg") => "image/svg+xml",
        Some("mp3") => "audio/mpeg",
        Some("mp4") => "video/mp4",
        Some("docx") => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        _ => "application/octet-stream",
    }
}

/// Streams `path` into the store; prints progress to stderr on a terminal.
/// Returns the blob id.
pub fn add(
    store: &Store,
    path: &Path,
    name: &str,
    content_type: &str,
    upload_bytes_max: u64,
) -> anyhow::Result<String> {
    let mut file = std::fs::File::open(path)
        .map_err(|e| anyhow::anyhow!("cannot open {}: {e}", path.display()))?;
    let total = file.metadata().map(|m| m.len()).unwrap_or(0);
    let progress = std::io::stderr().is_terminal();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let blobs = Blobs::in_redb(store.clone());
    let meta = FileMetaRecord {
        name: name.to_owned(),
        content_type: content_type.to_owned(),
        uploaded_at: OffsetDateTime::now_utc(),
    };
    let id = runtime.block_on(async {
        let mut ingest = blobs
            .ingest(upload_bytes_max, OffsetDateTime::now_utc())
            .await?;
        let mut buf = vec![0u8; READ_BYTES];
        loop {
            let n = file.read(&mut buf)?;
            if n == 0 {
                break;
            }
            ingest.write(&buf[..n]).await?;
            if progress && total > 0 {
                let done = ingest.size();
                let width = 40;
                let filled = (done * width / total).min(width) as usize;
                eprint!(
                    "\r[{}{}] {:>3}% {} / {} MB",
                    "#".repeat(filled),
                    " ".repeat(width as usize - filled),
                    done * 100 / total,
                    done / 1_000_000,
                    total / 1_000_000
                );
                let _ = std::io::stderr().flush();
            }
        }
        if progress {
            eprintln!();
        }
        let ingested = ingest.finish().await?;
        let now = OffsetDateTime::now_utc();
        let record = store
            .write(move |tx| ingested.commit(tx, &meta, now))
            .await?;
        anyhow::Ok(record.id)
    })?;
    Ok(id)
}

/// Re-hashes every blob; returns how many were checked and the problems found.
pub fn verify(store: &Store) -> anyhow::Result<(u64, Vec<blobs::VerifyProblem>)> {
    Ok(blobs::verify_all(&Blobs::in_redb(store.clone()))?)
}
