//! The redb tables and how their keys are laid out.

use redb::TableDefinition;

use crate::domain::ShipmentStatus;

/// Every table Waybill keeps. Keys and values are bytes; the typed layer in
/// `records` and `access` gives them meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    /// Small named values: the schema version, sequence counters.
    Meta,
    /// API keys by the BLAKE3 hash of the key.
    ApiKeys,
    /// Products by SKU.
    Products,
    /// Orders by id.
    Orders,
    /// Order id by the shop's `external_id`.
    OrdersByExternalId,
    /// Shipments by id (ids sort by creation time).
    Shipments,
    /// Index: status code byte ++ shipment id → nothing.
    ShipmentsByStatus,
    /// Buyer notifications not yet delivered, by sequence number (u64 big-endian).
    Outbox,
    /// Blob records (size, chunk hashes, references) by BLAKE3 hex id.
    Blobs,
    /// Blob content: chunks key ++ chunk index (u32 big-endian) → encoded chunk.
    BlobChunks,
    /// Uploads in progress by upload id; leftovers after a crash are garbage.
    Uploads,
    /// Chunk sets to delete (from removed blobs or abandoned uploads), by chunks key.
    Trash,
    /// What the last upload of a blob said about it (name, type), by blob id.
    Files,
    /// Admin sign-in sessions by the BLAKE3 hash of the session cookie.
    Sessions,
    /// Installed plugins by name.
    Plugins,
    /// Shipments waiting for their plugin to run, by shipment id (so oldest first).
    PersonalizeJobs,
}

impl Table {
    /// Every table, for creating them all on first open.
    pub const ALL: [Table; 16] = [
        Table::Meta,
        Table::ApiKeys,
        Table::Products,
        Table::Orders,
        Table::OrdersByExternalId,
        Table::Shipments,
        Table::ShipmentsByStatus,
        Table::Outbox,
        Table::Blobs,
        Table::BlobChunks,
        Table::Uploads,
        Table::Trash,
        Table::Files,
        Table::Sessions,
        Table::Plugins,
        Table::PersonalizeJobs,
    ];

    /// The redb definition.
    pub fn def(self) -> TableDefinition<'static, &'static [u8], &'static [u8]> {
        TableDefinition::new(match self {
            Table::Meta => "meta",
            Table::ApiKeys => "api_keys",
            Table::Products => "products",
            Table::Orders => "orders",
            Table::OrdersByExternalId => "orders_by_external_id",
            Table::Shipments => "shipments",
            Table::ShipmentsByStatus => "shipments_by_status",
            Table::Outbox => "outbox",
            Table::Blobs => "blobs",
            Table::BlobChunks => "blob_chunks",
            Table::Uploads => "uploads",
            Table::Trash => "trash",
            Table::Files => "files",
            Table::Sessions => "sessions",
            Table::Plugins => "plugins",
            Table::PersonalizeJobs => "personalize_jobs",
        })
    }
}

/// The one-byte code of a status in the status index. Stable: stored on disk.
pub fn status_code(status: ShipmentStatus) -> u8 {
    match status {
        ShipmentStatus::AwaitingPayment => 1,
        ShipmentStatus::InPreparation => 2,
        ShipmentStatus::Prepared => 3,
        ShipmentStatus::Delivered => 4,
        ShipmentStatus::Cancelled => 5,
        ShipmentStatus::Revoked => 6,
    }
}

/// Key of a shipment in the status index.
pub fn status_key(status: ShipmentStatus, shipment_id: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(1 + shipment_id.len());
    key.push(status_code(status));
    key.extend_from_slice(shipment_id.as_bytes());
    key
}

/// Key of one chunk of a blob's content.
pub fn chunk_key(chunks_key: &str, index: u32) -> Vec<u8> {
    let mut key = Vec::with_capacity(chunks_key.len() + 4);
    key.extend_from_slice(chunks_key.as_bytes());
    key.extend_from_slice(&index.to_be_bytes());
    key
}
