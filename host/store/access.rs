//! Typed reads and writes of records, shared by read snapshots and write operations.

use std::ops::Bound;

use redb::{ReadOnlyTable, ReadTransaction, ReadableTable, WriteTransaction};

use super::records::{self, OrderRecord, ProductRecord, ShipmentRecord};
use super::tables::{Table, chunk_key, status_key};
use super::{
    ApiKeyRecord, BlobRecord, FileMetaRecord, JobRecord, OutboxMessage, PluginRecord,
    SessionRecord, StoreError, TrashRecord, UploadRecord,
};
use crate::domain::{Order, Product, Shipment, ShipmentStatus};

/// Anything records can be read from: a snapshot or a write operation.
pub trait Source {
    /// The raw value under `key`, if any.
    fn get_raw(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;

    /// A product by SKU.
    fn product(&self, sku: &str) -> Result<Option<Product>, StoreError> {
        self.get_raw(Table::Products, sku.as_bytes())?
            .map(|v| records::decode::<ProductRecord>("product", &v)?.try_into())
            .transpose()
    }

    /// An order by id.
    fn order(&self, id: &str) -> Result<Option<Order>, StoreError> {
        self.get_raw(Table::Orders, id.as_bytes())?
            .map(|v| records::decode::<OrderRecord>("order", &v)?.try_into())
            .transpose()
    }

    /// The id of the order placed with this `external_id`.
    fn order_id_by_external(&self, external_id: &str) -> Result<Option<String>, StoreError> {
        self.get_raw(Table::OrdersByExternalId, external_id.as_bytes())?
            .map(|v| String::from_utf8(v).map_err(|_| StoreError::Corrupt("order index".into())))
            .transpose()
    }

    /// A shipment by id.
    fn shipment(&self, id: &str) -> Result<Option<Shipment>, StoreError> {
        self.get_raw(Table::Shipments, id.as_bytes())?
            .map(|v| records::decode::<ShipmentRecord>("shipment", &v)?.try_into())
            .transpose()
    }

    /// An API key by the hash of the key.
    fn api_key(&self, key_hash: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
        self.get_raw(Table::ApiKeys, key_hash.as_bytes())?
            .map(|v| records::decode("api key", &v))
            .transpose()
    }

    /// A blob record by id.
    fn blob(&self, id: &str) -> Result<Option<BlobRecord>, StoreError> {
        self.get_raw(Table::Blobs, id.as_bytes())?
            .map(|v| records::decode("blob", &v))
            .transpose()
    }

    /// One encoded chunk of a blob.
    fn blob_chunk(&self, chunks_key: &str, index: u32) -> Result<Option<Vec<u8>>, StoreError> {
        self.get_raw(Table::BlobChunks, &chunk_key(chunks_key, index))
    }

    /// What the last upload said about a blob.
    fn file_meta(&self, id: &str) -> Result<Option<FileMetaRecord>, StoreError> {
        self.get_raw(Table::Files, id.as_bytes())?
            .map(|v| records::decode("file", &v))
            .transpose()
    }

    /// An admin session by the hash of its cookie.
    fn session(&self, token_hash: &str) -> Result<Option<SessionRecord>, StoreError> {
        self.get_raw(Table::Sessions, token_hash.as_bytes())?
            .map(|v| records::decode("session", &v))
            .transpose()
    }

    /// An outbox message by sequence number.
    /// An installed plugin by name.
    fn plugin(&self, name: &str) -> Result<Option<PluginRecord>, StoreError> {
        self.get_raw(Table::Plugins, name.as_bytes())?
            .map(|v| records::decode("plugin", &v))
            .transpose()
    }

    /// The personalization job of a shipment, if queued.
    fn job(&self, shipment_id: &str) -> Result<Option<JobRecord>, StoreError> {
        self.get_raw(Table::PersonalizeJobs, shipment_id.as_bytes())?
            .map(|v| records::decode("job", &v))
            .transpose()
    }

    fn outbox_message(&self, seq: u64) -> Result<Option<OutboxMessage>, StoreError> {
        self.get_raw(Table::Outbox, &seq.to_be_bytes())?
            .map(|v| records::decode("outbox message", &v))
            .transpose()
    }
}

/// A consistent read-only snapshot of the store.
pub struct Reader {
    txn: ReadTransaction,
}

impl Reader {
    pub(super) fn new(txn: ReadTransaction) -> Self {
        Reader { txn }
    }

    fn table(
        &self,
        table: Table,
    ) -> Result<ReadOnlyTable<&'static [u8], &'static [u8]>, StoreError> {
        Ok(self.txn.open_table(table.def())?)
    }

    /// Keys of `table` within `lower..upper`, in key order or reversed, at most `limit`.
    fn page_keys(
        &self,
        table: Table,
        lower: Bound<&[u8]>,
        upper: Bound<&[u8]>,
        newest_first: bool,
        limit: usize,
    ) -> Result<Vec<Vec<u8>>, StoreError> {
        let table = self.table(table)?;
        let range = table.range((lower, upper))?;
        let entries: Vec<_> = if newest_first {
            range.rev().take(limit).collect()
        } else {
            range.take(limit).collect()
        };
        entries
            .into_iter()
            .map(|entry| Ok(entry?.0.value().to_vec()))
            .collect()
    }

    /// Shipments, optionally only those in `status`, newest or oldest first,
    /// continuing after the shipment id `after` (the previous page's last id).
    pub fn shipments(
        &self,
        status: Option<ShipmentStatus>,
        after: Option<&str>,
        newest_first: bool,
        limit: usize,
    ) -> Result<Vec<Shipment>, StoreError> {
        let ids: Vec<String> = match status {
            Some(status) => {
                let start = status_key(status, "");
                let mut end = start.clone();
                end[0] += 1;
                let cursor = after.map(|a| status_key(status, a));
                let (lower, upper) = match (&cursor, newest_first) {
                    (Some(c), true) => (
                        Bound::Included(start.as_slice()),
                        Bound::Excluded(c.as_slice()),
                    ),
                    (Some(c), false) => (
                        Bound::Excluded(c.as_slice()),
                        Bound::Excluded(end.as_slice()),
                    ),
                    (None, _) => (
                        Bound::Included(start.as_slice()),
                        Bound::Excluded(end.as_slice()),
                    ),
                };
                self.page_keys(Table::ShipmentsByStatus, lower, upper, newest_first, limit)?
                    .into_iter()
                    .map(|key| {
                        String::from_utf8(key[1..].to_vec())
                            .map_err(|_| StoreError::Corrupt("status index".into()))
                    })
                    .collect::<Result<_, _>>()?
            }
            None => {
                let (lower, upper) = match (after, newest_first) {
                    (Some(a), true) => (Bound::Unbounded, Bound::Excluded(a.as_bytes())),
                    (Some(a), false) => (Bound::Excluded(a.as_bytes()), Bound::Unbounded),
                    (None, _) => (Bound::Unbounded, Bound::Unbounded),
                };
                self.page_keys(Table::Shipments, lower, upper, newest_first, limit)?
                    .into_iter()
                    .map(|key| {
                        String::from_utf8(key)
                            .map_err(|_| StoreError::Corrupt("shipment key".into()))
                    })
                    .collect::<Result<_, _>>()?
            }
        };
        ids.iter()
            .map(|id| {
                self.shipment(id)?.ok_or_else(|| {
                    StoreError::Corrupt(format!("index names missing shipment {id}"))
                })
            })
            .collect()
    }

    /// Orders newest first, continuing after the order id `after`.
    pub fn orders(&self, after: Option<&str>, limit: usize) -> Result<Vec<Order>, StoreError> {
        let upper = after.map_or(Bound::Unbounded, |a| Bound::Excluded(a.as_bytes()));
        self.page_keys(Table::Orders, Bound::Unbounded, upper, true, limit)?
            .into_iter()
            .map(|key| {
                let id =
                    String::from_utf8(key).map_err(|_| StoreError::Corrupt("order key".into()))?;
                self.order(&id)?
                    .ok_or_else(|| StoreError::Corrupt(format!("order {id} vanished")))
            })
            .collect()
    }

    /// Products in SKU order.
    pub fn products(&self) -> Result<Vec<Product>, StoreError> {
        self.table(Table::Products)?
            .iter()?
            .map(|entry| records::decode::<ProductRecord>("product", entry?.1.value())?.try_into())
            .collect()
    }

    /// Outbox messages in order, oldest first, at most `limit`.
    pub fn outbox(&self, limit: usize) -> Result<Vec<(u64, OutboxMessage)>, StoreError> {
        let table = self.table(Table::Outbox)?;
        table
            .iter()?
            .take(limit)
            .map(|entry| {
                let (key, value) = entry?;
                let seq = u64::from_be_bytes(
                    key.value()
                        .try_into()
                        .map_err(|_| StoreError::Corrupt("outbox key".into()))?,
                );
                Ok((seq, records::decode("outbox message", value.value())?))
            })
            .collect()
    }

    /// Every blob record, in id order, starting after `after`, at most `limit`.
    pub fn blobs(&self, after: Option<&str>, limit: usize) -> Result<Vec<BlobRecord>, StoreError> {
        let table = self.table(Table::Blobs)?;
        let range = match after {
            Some(after) => table.range((
                std::ops::Bound::Excluded(after.as_bytes()),
                std::ops::Bound::Unbounded,
            ))?,
            None => table.iter()?,
        };
        range
            .take(limit)
            .map(|entry| records::decode("blob", entry?.1.value()))
            .collect()
    }

    /// Uploads in progress (or abandoned by a crash).
    pub fn uploads(&self) -> Result<Vec<(String, UploadRecord)>, StoreError> {
        self.table(Table::Uploads)?
            .iter()?
            .map(|entry| {
                let (k, v) = entry?;
                let id = String::from_utf8(k.value().to_vec())
                    .map_err(|_| StoreError::Corrupt("upload key".into()))?;
                Ok((id, records::decode("upload", v.value())?))
            })
            .collect()
    }

    /// Chunk sets waiting for deletion, at most `limit`.
    pub fn trash(&self, limit: usize) -> Result<Vec<(String, TrashRecord)>, StoreError> {
        self.table(Table::Trash)?
            .iter()?
            .take(limit)
            .map(|entry| {
                let (k, v) = entry?;
                let key = String::from_utf8(k.value().to_vec())
                    .map_err(|_| StoreError::Corrupt("trash key".into()))?;
                Ok((key, records::decode("trash", v.value())?))
            })
            .collect()
    }

    /// Hashes of admin sessions that ended before `now`, at most `limit`.
    pub fn expired_sessions(
        &self,
        now: time::OffsetDateTime,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        let mut expired = Vec::new();
        for entry in self.table(Table::Sessions)?.iter()? {
            let (key, value) = entry?;
            let record: SessionRecord = records::decode("session", value.value())?;
            if record.expires_at <= now {
                expired.push(
                    String::from_utf8(key.value().to_vec())
                        .map_err(|_| StoreError::Corrupt("session key".into()))?,
                );
                if expired.len() == limit {
                    break;
                }
            }
        }
        Ok(expired)
    }

    /// One stored chunk, shared with redb's page instead of copied out of it.
    /// The read transaction stays open while the bytes are alive.
    pub fn blob_chunk_shared(
        &self,
        chunks_key: &str,
        index: u32,
    ) -> Result<Option<axum::body::Bytes>, StoreError> {
        let table = self.table(Table::BlobChunks)?;
        Ok(table
            .get_owned(chunk_key(chunks_key, index).as_slice())?
            .map(|guard| axum::body::Bytes::from_owner(SharedValue(guard))))
    }

    /// Every installed plugin, by name.
    pub fn plugins(&self) -> Result<Vec<PluginRecord>, StoreError> {
        self.table(Table::Plugins)?
            .iter()?
            .map(|entry| records::decode("plugin", entry?.1.value()))
            .collect()
    }

    /// Queued personalization jobs, oldest shipment first, skipping
    /// `skip` (those already running), at most `limit`.
    pub fn jobs(
        &self,
        skip: &dyn Fn(&str) -> bool,
        limit: usize,
    ) -> Result<Vec<(String, JobRecord)>, StoreError> {
        let mut jobs = Vec::new();
        for entry in self.table(Table::PersonalizeJobs)?.iter()? {
            let (key, value) = entry?;
            let id = std::str::from_utf8(key.value())
                .map_err(|_| StoreError::Corrupt("job key".into()))?;
            if skip(id) {
                continue;
            }
            jobs.push((id.to_owned(), records::decode("job", value.value())?));
            if jobs.len() == limit {
                break;
            }
        }
        Ok(jobs)
    }

    /// Whether any API key exists.
    pub fn has_api_keys(&self) -> Result<bool, StoreError> {
        Ok(self.table(Table::ApiKeys)?.first()?.is_some())
    }
}

impl Source for Reader {
    fn get_raw(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.table(table)?.get(key)?.map(|v| v.value().to_vec()))
    }
}

/// A stored value kept alive by its read transaction, lent to `Bytes`.
struct SharedValue(redb::OwnedAccessGuard<&'static [u8]>);

impl AsRef<[u8]> for SharedValue {
    fn as_ref(&self) -> &[u8] {
        self.0.value()
    }
}

/// One write operation's view of the batch transaction. Reads see everything
/// committed plus earlier operations of the batch plus this operation's own
/// staged writes; writes are staged until the operation succeeds.
pub struct Tx<'a> {
    txn: &'a WriteTransaction,
    staged: Staged,
}

/// Writes an operation made, applied only if it succeeds.
#[derive(Default)]
pub(super) struct Staged(Vec<(Table, Vec<u8>, Option<Vec<u8>>)>);

impl Staged {
    pub(super) fn apply(self, txn: &WriteTransaction) -> Result<(), StoreError> {
        for (table, key, value) in self.0 {
            let mut t = txn.open_table(table.def())?;
            match value {
                Some(value) => {
                    t.insert(key.as_slice(), value.as_slice())?;
                }
                None => {
                    t.remove(key.as_slice())?;
                }
            }
        }
        Ok(())
    }
}

impl<'a> Tx<'a> {
    pub(super) fn new(txn: &'a WriteTransaction) -> Self {
        Tx {
            txn,
            staged: Staged::default(),
        }
    }

    pub(super) fn into_staged(self) -> Staged {
        self.staged
    }

    fn put(&mut self, table: Table, key: Vec<u8>, value: Vec<u8>) {
        self.staged.0.push((table, key, Some(value)));
    }

    fn delete(&mut self, table: Table, key: Vec<u8>) {
        self.staged.0.push((table, key, None));
    }

    /// Creates or replaces a product.
    pub fn put_product(&mut self, product: &Product) {
        let record = ProductRecord::from(product);
        self.put(
            Table::Products,
            product.sku.clone().into_bytes(),
            records::encode(&record),
        );
    }

    /// Creates or replaces an order, keeping the `external_id` index.
    pub fn put_order(&mut self, order: &Order) {
        let record = OrderRecord::from(order);
        self.put(
            Table::Orders,
            order.id.clone().into_bytes(),
            records::encode(&record),
        );
        self.put(
            Table::OrdersByExternalId,
            order.external_id.clone().into_bytes(),
            order.id.clone().into_bytes(),
        );
    }

    /// Creates or replaces a shipment, keeping the status index.
    pub fn put_shipment(&mut self, shipment: &Shipment) -> Result<(), StoreError> {
        let id = &shipment.data().id;
        if let Some(previous) = self.shipment(id)?
            && previous.status() != shipment.status()
        {
            self.delete(Table::ShipmentsByStatus, status_key(previous.status(), id));
        }
        self.put(
            Table::ShipmentsByStatus,
            status_key(shipment.status(), id),
            Vec::new(),
        );
        let record = ShipmentRecord::from(shipment);
        self.put(
            Table::Shipments,
            id.clone().into_bytes(),
            records::encode(&record),
        );
        Ok(())
    }

    /// Stores an API key's record under the key's hash.
    pub fn put_api_key(&mut self, key_hash: &str, record: &ApiKeyRecord) {
        self.put(
            Table::ApiKeys,
            key_hash.as_bytes().to_vec(),
            records::encode(record),
        );
    }

    /// Adds a message to the outbox; returns its sequence number.
    pub fn enqueue(&mut self, message: &OutboxMessage) -> Result<u64, StoreError> {
        let seq = self.next_sequence(b"outbox_seq")?;
        self.put(
            Table::Outbox,
            seq.to_be_bytes().to_vec(),
            records::encode(message),
        );
        Ok(seq)
    }

    /// Replaces a message in the outbox (after a failed attempt).
    pub fn update_outbox(&mut self, seq: u64, message: &OutboxMessage) {
        self.put(
            Table::Outbox,
            seq.to_be_bytes().to_vec(),
            records::encode(message),
        );
    }

    /// Removes a delivered message from the outbox.
    pub fn remove_outbox(&mut self, seq: u64) {
        self.delete(Table::Outbox, seq.to_be_bytes().to_vec());
    }

    /// Stores one encoded chunk.
    pub fn put_blob_chunk(&mut self, chunks_key: &str, index: u32, encoded: Vec<u8>) {
        self.put(Table::BlobChunks, chunk_key(chunks_key, index), encoded);
    }

    /// Deletes one chunk.
    pub fn delete_blob_chunk(&mut self, chunks_key: &str, index: u32) {
        self.delete(Table::BlobChunks, chunk_key(chunks_key, index));
    }

    /// Creates or replaces a blob record.
    pub fn put_blob(&mut self, blob: &BlobRecord) {
        self.put(
            Table::Blobs,
            blob.id.as_bytes().to_vec(),
            records::encode(blob),
        );
    }

    /// Removes a blob record and its file metadata (its chunks go to the trash separately).
    pub fn delete_blob(&mut self, id: &str) {
        self.delete(Table::Blobs, id.as_bytes().to_vec());
        self.delete(Table::Files, id.as_bytes().to_vec());
    }

    /// Records what an upload said about a blob.
    pub fn put_file_meta(&mut self, id: &str, meta: &FileMetaRecord) {
        self.put(Table::Files, id.as_bytes().to_vec(), records::encode(meta));
    }

    /// Registers an upload in progress.
    pub fn put_upload(&mut self, upload_id: &str, record: &UploadRecord) {
        self.put(
            Table::Uploads,
            upload_id.as_bytes().to_vec(),
            records::encode(record),
        );
    }

    /// Forgets an upload (finished or moved to the trash).
    pub fn delete_upload(&mut self, upload_id: &str) {
        self.delete(Table::Uploads, upload_id.as_bytes().to_vec());
    }

    /// Schedules a chunk set for deletion.
    pub fn put_trash(&mut self, chunks_key: &str, record: &TrashRecord) {
        self.put(
            Table::Trash,
            chunks_key.as_bytes().to_vec(),
            records::encode(record),
        );
    }

    /// Removes a processed trash entry.
    pub fn delete_trash(&mut self, chunks_key: &str) {
        self.delete(Table::Trash, chunks_key.as_bytes().to_vec());
    }

    /// Stores an admin session under the hash of its cookie.
    pub fn put_session(&mut self, token_hash: &str, record: &SessionRecord) {
        self.put(
            Table::Sessions,
            token_hash.as_bytes().to_vec(),
            records::encode(record),
        );
    }

    /// Ends an admin session.
    pub fn delete_session(&mut self, token_hash: &str) {
        self.delete(Table::Sessions, token_hash.as_bytes().to_vec());
    }

    /// Installs (or replaces) a plugin record.
    pub fn put_plugin(&mut self, record: &PluginRecord) {
        self.put(
            Table::Plugins,
            record.name.as_bytes().to_vec(),
            records::encode(record),
        );
    }

    /// Queues (or re-queues) a shipment's personalization; returns the
    /// job's fresh ticket.
    pub fn queue_job(
        &mut self,
        shipment_id: &str,
        plugin: &str,
        now: time::OffsetDateTime,
    ) -> Result<u64, StoreError> {
        let ticket = self.next_sequence(b"job_ticket")?;
        let record = JobRecord {
            plugin: plugin.to_owned(),
            queued_at: now,
            ticket,
        };
        self.put(
            Table::PersonalizeJobs,
            shipment_id.as_bytes().to_vec(),
            records::encode(&record),
        );
        Ok(ticket)
    }

    /// Removes a shipment's personalization job.
    pub fn delete_job(&mut self, shipment_id: &str) {
        self.delete(Table::PersonalizeJobs, shipment_id.as_bytes().to_vec());
    }

    fn next_sequence(&mut self, name: &[u8]) -> Result<u64, StoreError> {
        let current = match self.get_raw(Table::Meta, name)? {
            Some(v) => u64::from_be_bytes(
                v.as_slice()
                    .try_into()
                    .map_err(|_| StoreError::Corrupt("sequence counter".into()))?,
            ),
            None => 0,
        };
        let next = current + 1;
        self.put(Table::Meta, name.to_vec(), next.to_be_bytes().to_vec());
        Ok(next)
    }
}

impl Source for Tx<'_> {
    fn get_raw(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        if let Some((_, _, value)) = self
            .staged
            .0
            .iter()
            .rev()
            .find(|(t, k, _)| *t == table && k.as_slice() == key)
        {
            return Ok(value.clone());
        }
        let t = self.txn.open_table(table.def())?;
        let value = t.get(key)?.map(|v| v.value().to_vec());
        Ok(value)
    }
}
