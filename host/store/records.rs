//! The stored form of each record (serde, JSON) and its conversion to and from the domain.
//!
//! Records are their own types so that domain types carry no serde and the
//! on-disk layout changes only on purpose (bump `SCHEMA_VERSION`).

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::StoreError;
use crate::domain::{
    Buyer, DownloadLink, FileRef, FileSource, Notification, NotificationStatus, Order, OrderLine,
    OrderStatus, Payment, Personalization, PersonalizationStatus, PluginRef, Product, ProductKind,
    ProductTerms, RunFailure, RunRecord, Shipment, ShipmentData, ShipmentFile, ShipmentStatus,
    TextItem,
};

type Ts = OffsetDateTime;

#[derive(Serialize, Deserialize)]
pub(super) struct ProductRecord {
    sku: String,
    name: String,
    kind: String,
    files: Vec<FileRecord>,
    items: Vec<(String, String)>,
    plugin: Option<(String, String)>,
    auto_prepare: bool,
    terms: TermsRecord,
    #[serde(with = "time::serde::rfc3339")]
    created_at: Ts,
    #[serde(with = "time::serde::rfc3339")]
    updated_at: Ts,
}

#[derive(Serialize, Deserialize)]
struct TermsRecord {
    download_limit: Option<u32>,
    link_ttl_hours: u32,
    requires_withdrawal_waiver: bool,
}

#[derive(Serialize, Deserialize)]
struct FileRecord {
    id: String,
    name: String,
    size: u64,
    content_type: String,
}

#[derive(Serialize, Deserialize)]
pub(super) struct OrderRecord {
    id: String,
    external_id: String,
    buyer: (String, String),
    lines: Vec<LineRecord>,
    status: String,
    payment: Option<PaymentRecord>,
    shipment_ids: Vec<String>,
    request_fingerprint: String,
    #[serde(with = "time::serde::rfc3339")]
    created_at: Ts,
}

#[derive(Serialize, Deserialize)]
struct LineRecord {
    sku: String,
    quantity: u32,
    options_json: String,
    product: ProductRecord,
}

#[derive(Serialize, Deserialize)]
struct PaymentRecord {
    reference: String,
    #[serde(with = "time::serde::rfc3339")]
    paid_at: Ts,
}

#[derive(Serialize, Deserialize)]
pub(super) struct ShipmentRecord {
    id: String,
    order_id: String,
    kind: String,
    status: String,
    buyer: (String, String),
    line_indexes: Vec<u32>,
    product_skus: Vec<String>,
    terms: TermsRecord,
    auto_prepare: bool,
    files: Vec<(FileRecord, String)>,
    items: Vec<(String, String, String)>,
    next_item_seq: u32,
    #[serde(with = "time::serde::rfc3339")]
    created_at: Ts,
    #[serde(with = "time::serde::rfc3339::option")]
    paid_at: Option<Ts>,
    #[serde(with = "time::serde::rfc3339::option")]
    prepared_at: Option<Ts>,
    #[serde(with = "time::serde::rfc3339::option")]
    delivered_at: Option<Ts>,
    #[serde(with = "time::serde::rfc3339::option")]
    cancelled_at: Option<Ts>,
    #[serde(with = "time::serde::rfc3339::option")]
    revoked_at: Option<Ts>,
    #[serde(with = "time::serde::rfc3339::option")]
    waiver_accepted_at: Option<Ts>,
    token: Option<LinkRecord>,
    notification: NotificationRecord,
    #[serde(default)]
    downloads: Vec<(String, u32)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    personalization: Option<PersonalizationRecord>,
}

#[derive(Serialize, Deserialize)]
struct PersonalizationRecord {
    plugin: String,
    status: String,
    runs: u32,
    #[serde(with = "time::serde::rfc3339")]
    queued_at: Ts,
    #[serde(with = "time::serde::rfc3339::option")]
    finished_at: Option<Ts>,
    /// `(code, message)`.
    failure: Option<(String, String)>,
    last_run: Option<RunRecordRecord>,
}

#[derive(Serialize, Deserialize)]
struct RunRecordRecord {
    plugin_version: String,
    fuel_used: u64,
    wall_time_ms: u64,
    #[serde(default)]
    stdout: String,
    stderr: String,
    log: String,
}

impl From<&Personalization> for PersonalizationRecord {
    fn from(p: &Personalization) -> Self {
        PersonalizationRecord {
            plugin: p.plugin.clone(),
            status: p.status.as_str().to_owned(),
            runs: p.runs,
            queued_at: p.queued_at,
            finished_at: p.finished_at,
            failure: p
                .failure
                .as_ref()
                .map(|f| (f.code.clone(), f.message.clone())),
            last_run: p.last_run.as_ref().map(|r| RunRecordRecord {
                plugin_version: r.plugin_version.clone(),
                fuel_used: r.fuel_used,
                wall_time_ms: r.wall_time_ms,
                stdout: r.stdout.clone(),
                stderr: r.stderr.clone(),
                log: r.log.clone(),
            }),
        }
    }
}

impl TryFrom<PersonalizationRecord> for Personalization {
    type Error = StoreError;
    fn try_from(r: PersonalizationRecord) -> Result<Self, StoreError> {
        Ok(Personalization {
            status: PersonalizationStatus::parse(&r.status)
                .ok_or_else(|| corrupt("personalization status", &r.status))?,
            plugin: r.plugin,
            runs: r.runs,
            queued_at: r.queued_at,
            finished_at: r.finished_at,
            failure: r
                .failure
                .map(|(code, message)| RunFailure { code, message }),
            last_run: r.last_run.map(|r| RunRecord {
                plugin_version: r.plugin_version,
                fuel_used: r.fuel_used,
                wall_time_ms: r.wall_time_ms,
                stdout: r.stdout,
                stderr: r.stderr,
                log: r.log,
            }),
        })
    }
}

#[derive(Serialize, Deserialize)]
struct LinkRecord {
    token_id: String,
    token: String,
    #[serde(with = "time::serde::rfc3339")]
    expires_at: Ts,
}

#[derive(Serialize, Deserialize)]
struct NotificationRecord {
    status: String,
    attempts: u32,
    last_error: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    sent_at: Option<Ts>,
}

/// An API key as stored: never the key itself, only its hash (the table key).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ApiKeyRecord {
    pub name: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: Ts,
}

/// A buyer notification waiting in the outbox, rendered when it was enqueued.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct OutboxMessage {
    pub shipment_id: String,
    pub to_email: String,
    pub to_name: String,
    pub subject: String,
    pub text_body: String,
    pub html_body: String,
    pub attempts: u32,
    pub last_error: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: Ts,
    #[serde(with = "time::serde::rfc3339")]
    pub next_attempt_at: Ts,
}

fn corrupt(what: &str, detail: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {detail}"))
}

impl From<&ProductTerms> for TermsRecord {
    fn from(t: &ProductTerms) -> Self {
        TermsRecord {
            download_limit: t.download_limit,
            link_ttl_hours: t.link_ttl_hours,
            requires_withdrawal_waiver: t.requires_withdrawal_waiver,
        }
    }
}

impl From<TermsRecord> for ProductTerms {
    fn from(t: TermsRecord) -> Self {
        ProductTerms {
            download_limit: t.download_limit,
            link_ttl_hours: t.link_ttl_hours,
            requires_withdrawal_waiver: t.requires_withdrawal_waiver,
        }
    }
}

impl From<&FileRef> for FileRecord {
    fn from(f: &FileRef) -> Self {
        FileRecord {
            id: f.id.clone(),
            name: f.name.clone(),
            size: f.size,
            content_type: f.content_type.clone(),
        }
    }
}

impl From<FileRecord> for FileRef {
    fn from(f: FileRecord) -> Self {
        FileRef {
            id: f.id,
            name: f.name,
            size: f.size,
            content_type: f.content_type,
        }
    }
}

impl From<&Product> for ProductRecord {
    fn from(p: &Product) -> Self {
        ProductRecord {
            sku: p.sku.clone(),
            name: p.name.clone(),
            kind: p.kind.as_str().to_owned(),
            files: p.files.iter().map(FileRecord::from).collect(),
            items: p.items.clone(),
            plugin: p
                .plugin
                .as_ref()
                .map(|pl| (pl.name.clone(), pl.config_json.clone())),
            auto_prepare: p.auto_prepare,
            terms: (&p.terms).into(),
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

impl TryFrom<ProductRecord> for Product {
    type Error = StoreError;
    fn try_from(r: ProductRecord) -> Result<Self, StoreError> {
        Ok(Product {
            kind: ProductKind::parse(&r.kind).ok_or_else(|| corrupt("product kind", &r.kind))?,
            sku: r.sku,
            name: r.name,
            files: r.files.into_iter().map(FileRef::from).collect(),
            items: r.items,
            plugin: r
                .plugin
                .map(|(name, config_json)| PluginRef { name, config_json }),
            auto_prepare: r.auto_prepare,
            terms: r.terms.into(),
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

impl From<&Order> for OrderRecord {
    fn from(o: &Order) -> Self {
        OrderRecord {
            id: o.id.clone(),
            external_id: o.external_id.clone(),
            buyer: (o.buyer.email.clone(), o.buyer.name.clone()),
            lines: o
                .lines
                .iter()
                .map(|l| LineRecord {
                    sku: l.sku.clone(),
                    quantity: l.quantity,
                    options_json: l.options_json.clone(),
                    product: (&l.product).into(),
                })
                .collect(),
            status: o.status.as_str().to_owned(),
            payment: o.payment.as_ref().map(|p| PaymentRecord {
                reference: p.reference.clone(),
                paid_at: p.paid_at,
            }),
            shipment_ids: o.shipment_ids.clone(),
            request_fingerprint: o.request_fingerprint.clone(),
            created_at: o.created_at,
        }
    }
}

impl TryFrom<OrderRecord> for Order {
    type Error = StoreError;
    fn try_from(r: OrderRecord) -> Result<Self, StoreError> {
        let lines = r
            .lines
            .into_iter()
            .map(|l| {
                Ok(OrderLine {
                    sku: l.sku,
                    quantity: l.quantity,
                    options_json: l.options_json,
                    product: l.product.try_into()?,
                })
            })
            .collect::<Result<_, StoreError>>()?;
        Ok(Order {
            status: OrderStatus::parse(&r.status)
                .ok_or_else(|| corrupt("order status", &r.status))?,
            id: r.id,
            external_id: r.external_id,
            buyer: Buyer {
                email: r.buyer.0,
                name: r.buyer.1,
            },
            lines,
            payment: r.payment.map(|p| Payment {
                reference: p.reference,
                paid_at: p.paid_at,
            }),
            shipment_ids: r.shipment_ids,
            request_fingerprint: r.request_fingerprint,
            created_at: r.created_at,
        })
    }
}

impl From<&Shipment> for ShipmentRecord {
    fn from(s: &Shipment) -> Self {
        let d = s.data();
        ShipmentRecord {
            id: d.id.clone(),
            order_id: d.order_id.clone(),
            kind: d.kind.as_str().to_owned(),
            status: d.status.as_str().to_owned(),
            buyer: (d.buyer.email.clone(), d.buyer.name.clone()),
            line_indexes: d.line_indexes.clone(),
            product_skus: d.product_skus.clone(),
            terms: (&d.terms).into(),
            auto_prepare: d.auto_prepare,
            files: d
                .files
                .iter()
                .map(|f| ((&f.file).into(), f.source.as_str().to_owned()))
                .collect(),
            items: d
                .items
                .iter()
                .map(|i| (i.id.clone(), i.label.clone(), i.value.clone()))
                .collect(),
            next_item_seq: d.next_item_seq,
            created_at: d.created_at,
            paid_at: d.paid_at,
            prepared_at: d.prepared_at,
            delivered_at: d.delivered_at,
            cancelled_at: d.cancelled_at,
            revoked_at: d.revoked_at,
            waiver_accepted_at: d.waiver_accepted_at,
            token: d.token.as_ref().map(|t| LinkRecord {
                token_id: t.token_id.clone(),
                token: t.token.clone(),
                expires_at: t.expires_at,
            }),
            notification: NotificationRecord {
                status: d.notification.status.as_str().to_owned(),
                attempts: d.notification.attempts,
                last_error: d.notification.last_error.clone(),
                sent_at: d.notification.sent_at,
            },
            downloads: d.downloads.clone(),
            personalization: d.personalization.as_ref().map(Into::into),
        }
    }
}

impl TryFrom<ShipmentRecord> for Shipment {
    type Error = StoreError;
    fn try_from(r: ShipmentRecord) -> Result<Self, StoreError> {
        let files = r
            .files
            .into_iter()
            .map(|(file, source)| {
                Ok(ShipmentFile {
                    source: FileSource::parse(&source)
                        .ok_or_else(|| corrupt("file source", &source))?,
                    file: file.into(),
                })
            })
            .collect::<Result<_, StoreError>>()?;
        Ok(Shipment::from_data(ShipmentData {
            kind: ProductKind::parse(&r.kind).ok_or_else(|| corrupt("shipment kind", &r.kind))?,
            status: ShipmentStatus::parse(&r.status)
                .ok_or_else(|| corrupt("shipment status", &r.status))?,
            notification: Notification {
                status: NotificationStatus::parse(&r.notification.status)
                    .ok_or_else(|| corrupt("notification status", &r.notification.status))?,
                attempts: r.notification.attempts,
                last_error: r.notification.last_error,
                sent_at: r.notification.sent_at,
            },
            id: r.id,
            order_id: r.order_id,
            buyer: Buyer {
                email: r.buyer.0,
                name: r.buyer.1,
            },
            line_indexes: r.line_indexes,
            product_skus: r.product_skus,
            terms: r.terms.into(),
            auto_prepare: r.auto_prepare,
            files,
            items: r
                .items
                .into_iter()
                .map(|(id, label, value)| TextItem { id, label, value })
                .collect(),
            next_item_seq: r.next_item_seq,
            created_at: r.created_at,
            paid_at: r.paid_at,
            prepared_at: r.prepared_at,
            delivered_at: r.delivered_at,
            cancelled_at: r.cancelled_at,
            revoked_at: r.revoked_at,
            waiver_accepted_at: r.waiver_accepted_at,
            token: r.token.map(|t| DownloadLink {
                token_id: t.token_id,
                token: t.token,
                expires_at: t.expires_at,
            }),
            downloads: r.downloads,
            personalization: r.personalization.map(TryInto::try_into).transpose()?,
        }))
    }
}

/// Encodes a record.
pub(super) fn encode<R: Serialize>(record: &R) -> Vec<u8> {
    serde_json::to_vec(record).expect("records always serialize")
}

/// Decodes a record, naming what was corrupt.
pub(super) fn decode<'a, R: Deserialize<'a>>(what: &str, bytes: &'a [u8]) -> Result<R, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| corrupt(what, e))
}

/// A stored blob: content-addressed, chunked, verified on read.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct BlobRecord {
    /// BLAKE3 hex of the whole content.
    pub id: String,
    pub size: u64,
    /// Uncompressed bytes per chunk (the last chunk may be shorter).
    pub chunk_bytes: u32,
    /// Prefix of this blob's keys in the chunk table.
    pub chunks_key: String,
    /// BLAKE3 hex of each uncompressed chunk, in order.
    pub chunk_hashes: Vec<String>,
    /// Stored bytes of all chunks (after compression).
    pub stored_bytes: u64,
    /// Products and shipments that reference the blob.
    pub refs: u32,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: Ts,
    /// When `refs` last fell to zero (or creation): the grace period runs from here.
    #[serde(with = "time::serde::rfc3339")]
    pub released_at: Ts,
}

/// What an upload said about a blob.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct FileMetaRecord {
    pub name: String,
    pub content_type: String,
    #[serde(with = "time::serde::rfc3339")]
    pub uploaded_at: Ts,
}

/// An upload in progress.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct UploadRecord {
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: Ts,
}

/// Chunks waiting to be deleted.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct TrashRecord {
    /// Chunk indexes `0..chunk_count` (an upper bound for abandoned uploads).
    pub chunk_count: u32,
}

/// An admin session: who signed in, the form token, and when it ends.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SessionRecord {
    /// Name of the API key used to sign in.
    pub key_name: String,
    /// The CSRF token every form of this session must carry.
    pub csrf_token: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: Ts,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: Ts,
}

/// An installed plugin (the registry). Its component is a blob, referenced by `hash`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PluginRecord {
    pub name: String,
    /// BLAKE3 hex of the component: its blob id and its version.
    pub hash: String,
    pub size: u64,
    /// Installed from the binary's bundled plugins (then upgraded with it).
    pub bundled: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub installed_at: Ts,
}

/// A shipment waiting for its plugin to run (the job table).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct JobRecord {
    pub plugin: String,
    #[serde(with = "time::serde::rfc3339")]
    pub queued_at: Ts,
    /// Changes on every (re)queue, so a finished run of an older queueing is
    /// not taken for the current one.
    pub ticket: u64,
}
