//! File use cases: uploads (stand-alone or attached to a shipment), detaching,
//! and the buyer's downloads with their completion count.

use axum::body::Bytes;
use futures_util::{Stream, StreamExt};

use super::{FulfilError, Fulfilment, check_link};
use crate::blobs::{self, BlobReader, Ingested};
use crate::domain::{FileRef, FileSource, Shipment, ShipmentFile};
use crate::store::{FileMetaRecord, Source, StoreError};

/// What an upload says about its file.
#[derive(Debug, Clone)]
pub struct UploadMeta {
    /// Already sanitized (no path parts, no control characters).
    pub name: String,
    pub content_type: String,
}

/// A download the buyer may start.
pub struct Download {
    pub shipment: Shipment,
    pub file: ShipmentFile,
    pub reader: BlobReader<blobs::RedbChunks>,
    /// Id of the link that opened it: only that link's download is counted.
    pub token_id: String,
}

impl Fulfilment {
    /// Streams `body` into the blob store, refusing it past the upload limit.
    async fn ingest<S, E>(&self, body: S) -> Result<Ingested, FulfilError>
    where
        S: Stream<Item = Result<Bytes, E>> + Send + Unpin,
        E: std::fmt::Display,
    {
        let _slot = self
            .upload_slots
            .acquire()
            .await
            .map_err(|_| blobs::BlobError::Interrupted("the server is stopping".into()))?;
        let mut ingest = self
            .blobs
            .ingest(self.upload_bytes_max, self.clock.now())
            .await?;
        let mut body = body;
        while let Some(piece) = body.next().await {
            let piece = piece.map_err(|e| blobs::BlobError::Interrupted(e.to_string()))?;
            ingest.write(&piece).await?;
        }
        Ok(ingest.finish().await?)
    }

    /// Stores an uploaded file (content-addressed: the same bytes again are
    /// stored once and answer the same id).
    pub async fn upload_file<S, E>(&self, body: S, meta: UploadMeta) -> Result<FileRef, FulfilError>
    where
        S: Stream<Item = Result<Bytes, E>> + Send + Unpin,
        E: std::fmt::Display,
    {
        let ingested = self.ingest(body).await?;
        let now = self.clock.now();
        let record = FileMetaRecord {
            name: meta.name.clone(),
            content_type: meta.content_type.clone(),
            uploaded_at: now,
        };
        let blob = self
            .store
            .write(move |tx| ingested.commit(tx, &record, now))
            .await?;
        Ok(FileRef {
            id: blob.id,
            name: meta.name,
            size: blob.size,
            content_type: meta.content_type,
        })
    }

    /// A stored file's metadata.
    pub fn file(&self, id: &str) -> Result<FileRef, FulfilError> {
        super::stored_file(&self.store.read()?, id)?.ok_or(FulfilError::NotFound("file"))
    }

    /// Streams a file into a shipment in preparation and attaches it.
    pub async fn attach_upload<S, E>(
        &self,
        shipment_id: String,
        body: S,
        meta: UploadMeta,
    ) -> Result<ShipmentFile, FulfilError>
    where
        S: Stream<Item = Result<Bytes, E>> + Send + Unpin,
        E: std::fmt::Display,
    {
        // Refuse before receiving 128 MiB for a shipment that cannot take it.
        self.shipment(&shipment_id)?.check_editable()?;
        let ingested = self.ingest(body).await?;
        let now = self.clock.now();
        let record = FileMetaRecord {
            name: meta.name.clone(),
            content_type: meta.content_type.clone(),
            uploaded_at: now,
        };
        let backup = ingested.clone();
        let attached = self
            .store
            .write(move |tx| {
                let mut shipment = tx
                    .shipment(&shipment_id)?
                    .ok_or(FulfilError::NotFound("shipment"))?;
                let blob = ingested.commit(tx, &record, now)?;
                let file = ShipmentFile {
                    file: FileRef {
                        id: blob.id.clone(),
                        name: meta.name,
                        size: blob.size,
                        content_type: meta.content_type,
                    },
                    source: FileSource::Upload,
                };
                shipment.attach_file(file.clone())?;
                blobs::add_ref(tx, &blob.id)?;
                tx.put_shipment(&shipment)?;
                Ok::<_, FulfilError>(file)
            })
            .await;
        if attached.is_err() {
            // Nothing of the refused operation was written: drop the chunks.
            let _ = self
                .store
                .write(move |tx| {
                    backup.discard(tx);
                    Ok::<_, StoreError>(())
                })
                .await;
        }
        attached
    }

    /// Removes a file from a shipment in preparation.
    pub async fn detach_file(
        &self,
        shipment_id: String,
        file_id: String,
    ) -> Result<(), FulfilError> {
        let now = self.clock.now();
        self.store
            .write(move |tx| {
                let mut shipment = tx
                    .shipment(&shipment_id)?
                    .ok_or(FulfilError::NotFound("shipment"))?;
                let file = shipment.detach_file(&file_id)?;
                blobs::release_ref(tx, &file.file.id, now)?;
                tx.put_shipment(&shipment)?;
                Ok(())
            })
            .await
    }

    /// Checks that the link may download `file_id` now and opens the file.
    pub fn begin_download(&self, token: &str, file_id: &str) -> Result<Download, FulfilError> {
        let shipment = self.check_token(token, self.clock.now())?;
        if shipment.waiver_pending() {
            return Err(FulfilError::WaiverRequired);
        }
        let file = shipment.check_download(file_id)?.clone();
        let reader = self.blobs.open(&file.file.id)?;
        let token_id = shipment
            .data()
            .token
            .as_ref()
            .map(|t| t.token_id.clone())
            .unwrap_or_default();
        Ok(Download {
            shipment,
            file,
            reader,
            token_id,
        })
    }

    /// The last byte of `file_id` went out: counts a completed download.
    pub async fn complete_download(
        &self,
        shipment_id: String,
        token_id: String,
        file_id: String,
    ) -> Result<(), FulfilError> {
        let now = self.clock.now();
        self.store
            .write(move |tx| {
                let mut shipment = tx
                    .shipment(&shipment_id)?
                    .ok_or(FulfilError::NotFound("shipment"))?;
                check_link(&shipment, &token_id)?;
                shipment.record_download(&file_id, now)?;
                tx.put_shipment(&shipment)?;
                Ok(())
            })
            .await
    }
}
