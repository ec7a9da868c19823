//! The use cases: each request becomes domain decisions and one durable store write.
//!
//! This is where "prepared is final" meets the outside world: preparing a
//! shipment, issuing its signed link and enqueueing the buyer notification
//! happen in one write operation, so either all of it is durable or none.

use std::sync::Arc;

use time::{Duration, OffsetDateTime};
use tokio::sync::{Notify, Semaphore};

mod files;
mod personalize;

pub use files::{Download, UploadMeta};
pub use personalize::{Finished, JobPlan, RunOutcome, StoredOutput};

use crate::blobs::{self, BlobError, Blobs};
use crate::clock::Clock;
use crate::config::UPLOADS_CONCURRENT_MAX;
use crate::domain::{
    Buyer, DownloadLink, FileRef, Order, OrderError, OrderLine, PaymentOutcome, PluginRef, Product,
    ProductKind, ProductTerms, Shipment, ShipmentError, ShipmentStatus, TextItem,
};
use crate::ids::new_id;
use crate::notify::message;
use crate::plugins::Registry;
use crate::store::{Source, Store, StoreError, Tx};
use crate::tokens::{DownloadClaims, KeyRing, TokenError};

/// A request the use cases refuse, or a storage failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FulfilError {
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("unknown sku `{0}`")]
    UnknownSku(String),
    #[error("{0}")]
    Validation(String),
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Shipment(#[from] ShipmentError),
    #[error(transparent)]
    Order(#[from] OrderError),
    #[error(transparent)]
    Token(#[from] TokenError),
    #[error("the link was revoked")]
    Revoked,
    #[error("the link was replaced by a newer one")]
    Superseded,
    #[error("the buyer must first confirm the withdrawal-right waiver")]
    WaiverRequired,
    #[error(transparent)]
    Blob(#[from] BlobError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A product as submitted (create or replace).
#[derive(Debug, Clone)]
pub struct ProductInput {
    pub name: String,
    pub kind: ProductKind,
    pub files: Vec<String>,
    pub items: Vec<(String, String)>,
    pub plugin: Option<PluginRef>,
    pub auto_prepare: bool,
    pub terms: ProductTerms,
}

/// An order as submitted.
#[derive(Debug, Clone)]
pub struct OrderInput {
    pub external_id: String,
    pub buyer: Buyer,
    pub lines: Vec<LineInput>,
}

/// One order line as submitted.
#[derive(Debug, Clone)]
pub struct LineInput {
    pub sku: String,
    pub quantity: u32,
    /// Canonical JSON of the buyer's options (object keys sorted).
    pub options_json: String,
}

/// What the buyer sees behind a link.
#[derive(Debug, Clone)]
pub struct BuyerView {
    pub shipment: Shipment,
    /// The buyer must confirm the withdrawal-right waiver before seeing content.
    pub waiver_required: bool,
}

/// Everything preparing a shipment needs besides the store.
struct Preparer {
    keys: Arc<KeyRing>,
    shop_name: String,
    public_url: String,
}

impl Preparer {
    fn download_url(&self, token: &str) -> String {
        format!("{}/d/{token}", self.public_url)
    }

    /// Prepares `shipment` inside `tx`: domain transition, signed link,
    /// stored shipment and enqueued notification, all in the one operation.
    fn prepare(
        &self,
        tx: &mut Tx<'_>,
        shipment: &mut Shipment,
        now: OffsetDateTime,
    ) -> Result<(), FulfilError> {
        let link = self.issue_link(shipment, now);
        shipment.prepare(now, link)?;
        self.enqueue_notification(tx, shipment, now)?;
        Ok(())
    }

    fn issue_link(&self, shipment: &Shipment, now: OffsetDateTime) -> DownloadLink {
        let ttl_hours = i64::from(shipment.data().terms.link_ttl_hours);
        let claims = DownloadClaims {
            shipment_id: shipment.data().id.clone(),
            token_id: new_id("tok", now),
            issued_at: now,
            expires_at: now + Duration::hours(ttl_hours),
        };
        DownloadLink {
            token: self.keys.issue(&claims),
            token_id: claims.token_id,
            expires_at: claims.expires_at,
        }
    }

    fn enqueue_notification(
        &self,
        tx: &mut Tx<'_>,
        shipment: &Shipment,
        now: OffsetDateTime,
    ) -> Result<(), FulfilError> {
        let token = &shipment
            .data()
            .token
            .as_ref()
            .expect("a prepared shipment has a link")
            .token;
        let msg =
            message::shipment_ready(&self.shop_name, shipment, &self.download_url(token), now);
        tx.put_shipment(shipment)?;
        tx.enqueue(&msg)?;
        Ok(())
    }
}

/// The fulfilment use cases over one store.
#[derive(Clone)]
pub struct Fulfilment {
    store: Store,
    blobs: Blobs,
    upload_bytes_max: u64,
    upload_slots: Arc<Semaphore>,
    clock: Arc<dyn Clock>,
    preparer: Arc<Preparer>,
    outbox_wake: Arc<Notify>,
    registry: Arc<Registry>,
    /// Wakes the personalization worker when a job is queued.
    jobs_wake: Arc<Notify>,
}

/// How the use cases are set up.
pub struct Settings {
    pub shop_name: String,
    /// Base of buyer links, without a trailing slash.
    pub public_url: String,
    pub upload_bytes_max: u64,
}

impl Fulfilment {
    /// Use cases over `store`, signing links with `keys`.
    pub fn new(
        store: Store,
        keys: Arc<KeyRing>,
        clock: Arc<dyn Clock>,
        settings: Settings,
        outbox_wake: Arc<Notify>,
        registry: Arc<Registry>,
    ) -> Self {
        Fulfilment {
            blobs: Blobs::in_redb(store.clone()),
            store,
            upload_bytes_max: settings.upload_bytes_max,
            upload_slots: Arc::new(Semaphore::new(UPLOADS_CONCURRENT_MAX)),
            clock,
            preparer: Arc::new(Preparer {
                keys,
                shop_name: settings.shop_name,
                public_url: settings.public_url,
            }),
            outbox_wake,
            registry,
            jobs_wake: Arc::new(Notify::new()),
        }
    }

    /// The metadata store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The current time.
    pub fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    /// The plugin registry.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// Notified whenever a personalization job is queued.
    pub fn jobs_wake(&self) -> &Arc<Notify> {
        &self.jobs_wake
    }

    /// The blob store.
    pub fn blobs(&self) -> &Blobs {
        &self.blobs
    }

    /// The buyer link for a token.
    pub fn download_url(&self, token: &str) -> String {
        self.preparer.download_url(token)
    }

    /// The signing keys (for publishing the public ones).
    pub fn keys(&self) -> &KeyRing {
        &self.preparer.keys
    }

    /// Creates or replaces a product; `true` when it was created.
    pub async fn put_product(
        &self,
        sku: String,
        input: ProductInput,
    ) -> Result<(Product, bool), FulfilError> {
        if let Some(plugin) = &input.plugin {
            if input.kind != ProductKind::Personalized {
                return Err(FulfilError::Validation(
                    "only a personalized product runs a plugin; set `kind` to `personalized`"
                        .to_owned(),
                ));
            }
            self.check_plugin_installed(&plugin.name)?;
        }
        let now = self.clock.now();
        self.store
            .write(move |tx| {
                let existing = tx.product(&sku)?;
                let mut files = Vec::with_capacity(input.files.len());
                for id in &input.files {
                    if files.iter().any(|f: &FileRef| &f.id == id) {
                        return Err(FulfilError::Validation(format!(
                            "file `{id}` is listed twice"
                        )));
                    }
                    files.push(file_ref(tx, id)?);
                }
                let product = Product {
                    created_at: existing.as_ref().map_or(now, |p| p.created_at),
                    updated_at: now,
                    sku,
                    name: input.name,
                    kind: input.kind,
                    files,
                    items: input.items,
                    plugin: input.plugin,
                    auto_prepare: input.auto_prepare,
                    terms: input.terms,
                };
                if product.kind == ProductKind::Standard && !product.has_content() {
                    return Err(FulfilError::Validation(
                        "a standard product needs at least one file or item to deliver".to_owned(),
                    ));
                }
                for file in &product.files {
                    blobs::add_ref(tx, &file.id)?;
                }
                if let Some(old) = &existing {
                    for file in &old.files {
                        blobs::release_ref(tx, &file.id, now)?;
                    }
                }
                tx.put_product(&product);
                Ok((product, existing.is_none()))
            })
            .await
    }

    /// A product by SKU.
    pub fn product(&self, sku: &str) -> Result<Product, FulfilError> {
        self.store
            .read()?
            .product(sku)?
            .ok_or(FulfilError::NotFound("product"))
    }

    /// Places an order (idempotent by `external_id`); `true` when it was created.
    pub async fn place_order(&self, input: OrderInput) -> Result<(Order, bool), FulfilError> {
        let now = self.clock.now();
        let fingerprint = fingerprint(&input);
        self.store
            .write(move |tx| {
                if let Some(id) = tx.order_id_by_external(&input.external_id)? {
                    let order = tx
                        .order(&id)?
                        .ok_or_else(|| StoreError::Corrupt(format!("order index names {id}")))?;
                    if order.request_fingerprint == fingerprint {
                        return Ok((order, false));
                    }
                    return Err(FulfilError::Conflict(format!(
                        "an order with external_id `{}` exists with different content",
                        input.external_id
                    )));
                }
                let mut lines = Vec::with_capacity(input.lines.len());
                for line in input.lines {
                    let product = tx
                        .product(&line.sku)?
                        .ok_or_else(|| FulfilError::UnknownSku(line.sku.clone()))?;
                    lines.push(OrderLine {
                        sku: line.sku,
                        quantity: line.quantity,
                        options_json: line.options_json,
                        product,
                    });
                }
                let (order, shipments) = Order::place(
                    new_id("ord", now),
                    input.external_id,
                    input.buyer,
                    lines,
                    fingerprint,
                    now,
                    || new_id("shp", now),
                );
                tx.put_order(&order);
                for shipment in &shipments {
                    for file in &shipment.data().files {
                        blobs::add_ref(tx, &file.file.id)?;
                    }
                    tx.put_shipment(shipment)?;
                }
                Ok((order, true))
            })
            .await
    }

    /// An order by id.
    pub fn order(&self, id: &str) -> Result<Order, FulfilError> {
        self.store
            .read()?
            .order(id)?
            .ok_or(FulfilError::NotFound("order"))
    }

    /// Records the payment (idempotent) and moves the order's shipments on:
    /// standard ones are prepared at once, personalized ones start preparation.
    pub async fn record_payment(
        &self,
        order_id: String,
        reference: String,
    ) -> Result<Order, FulfilError> {
        let now = self.clock.now();
        let preparer = self.preparer.clone();
        let order = self
            .store
            .write(move |tx| {
                let mut order = tx.order(&order_id)?.ok_or(FulfilError::NotFound("order"))?;
                if order.record_payment(&reference, now)? == PaymentOutcome::AlreadyRecorded {
                    return Ok::<_, FulfilError>(order);
                }
                for id in &order.shipment_ids {
                    let mut shipment = tx.shipment(id)?.ok_or_else(|| {
                        StoreError::Corrupt(format!("order names missing shipment {id}"))
                    })?;
                    if shipment.status() != ShipmentStatus::AwaitingPayment {
                        continue; // cancelled before payment
                    }
                    shipment.start_preparation(now)?;
                    if shipment.data().kind == ProductKind::Standard && shipment.has_content() {
                        preparer.prepare(tx, &mut shipment, now)?;
                    } else if !preparer.queue_if_plugin(tx, &order, &mut shipment, now)? {
                        tx.put_shipment(&shipment)?;
                    }
                }
                tx.put_order(&order);
                Ok(order)
            })
            .await?;
        self.outbox_wake.notify_one();
        self.jobs_wake.notify_one();
        Ok(order)
    }

    /// A shipment by id.
    pub fn shipment(&self, id: &str) -> Result<Shipment, FulfilError> {
        self.store
            .read()?
            .shipment(id)?
            .ok_or(FulfilError::NotFound("shipment"))
    }

    /// A page of shipments, newest first, and the cursor of the next page.
    pub fn list_shipments(
        &self,
        status: Option<ShipmentStatus>,
        order_id: Option<&str>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<Shipment>, Option<String>), FulfilError> {
        let reader = self.store.read()?;
        let page: Vec<Shipment> = match order_id {
            Some(order_id) => {
                let order = reader
                    .order(order_id)?
                    .ok_or(FulfilError::NotFound("order"))?;
                let mut ids = order.shipment_ids;
                ids.sort_unstable_by(|a, b| b.cmp(a));
                let mut page = Vec::new();
                for id in ids
                    .iter()
                    .filter(|id| after.is_none_or(|after| id.as_str() < after))
                {
                    let shipment = reader.shipment(id)?.ok_or_else(|| {
                        StoreError::Corrupt(format!("order names missing shipment {id}"))
                    })?;
                    if status.is_none_or(|s| s == shipment.status()) {
                        page.push(shipment);
                        if page.len() == limit + 1 {
                            break;
                        }
                    }
                }
                page
            }
            None => reader.shipments(status, after, true, limit + 1)?,
        };
        let mut page = page;
        let next = if page.len() > limit {
            page.truncate(limit);
            page.last().map(|s| s.data().id.clone())
        } else {
            None
        };
        Ok((page, next))
    }

    /// Adds a text item to a shipment in preparation.
    pub async fn add_item(
        &self,
        id: String,
        label: String,
        value: String,
    ) -> Result<TextItem, FulfilError> {
        self.store
            .write(move |tx| {
                let mut shipment = tx.shipment(&id)?.ok_or(FulfilError::NotFound("shipment"))?;
                let item_id = shipment.add_item(label, value)?;
                tx.put_shipment(&shipment)?;
                Ok(shipment
                    .data()
                    .items
                    .iter()
                    .find(|i| i.id == item_id)
                    .cloned()
                    .expect("the item was just added"))
            })
            .await
    }

    /// Removes a text item from a shipment in preparation.
    pub async fn remove_item(&self, id: String, item_id: String) -> Result<(), FulfilError> {
        self.store
            .write(move |tx| {
                let mut shipment = tx.shipment(&id)?.ok_or(FulfilError::NotFound("shipment"))?;
                shipment.remove_item(&item_id).map_err(|e| match e {
                    ShipmentError::ItemNotFound => FulfilError::NotFound("item"),
                    e => e.into(),
                })?;
                tx.put_shipment(&shipment)?;
                Ok(())
            })
            .await
    }

    /// Marks a shipment prepared: final; issues the link, notifies the buyer.
    pub async fn prepare(&self, id: String) -> Result<Shipment, FulfilError> {
        let mut results = self.prepare_many(vec![id]).await?;
        results.pop().expect("one id, one result").1
    }

    /// Prepares each shipment on its own, in one durable write; one failure
    /// does not stop the others.
    pub async fn prepare_many(
        &self,
        ids: Vec<String>,
    ) -> Result<Vec<(String, Result<Shipment, FulfilError>)>, FulfilError> {
        let now = self.clock.now();
        let preparer = self.preparer.clone();
        let results = self
            .store
            .write(move |tx| {
                let mut results = Vec::with_capacity(ids.len());
                for id in ids {
                    let result = (|| {
                        let mut shipment =
                            tx.shipment(&id)?.ok_or(FulfilError::NotFound("shipment"))?;
                        preparer.prepare(tx, &mut shipment, now)?;
                        Ok(shipment)
                    })();
                    if let Err(FulfilError::Store(e)) = result {
                        return Err(FulfilError::Store(e));
                    }
                    results.push((id, result));
                }
                Ok::<_, FulfilError>(results)
            })
            .await?;
        self.outbox_wake.notify_one();
        Ok(results)
    }

    /// Cancels a shipment that was not prepared yet; its files are released.
    pub async fn cancel(&self, id: String) -> Result<Shipment, FulfilError> {
        let now = self.clock.now();
        self.store
            .write(move |tx| {
                let mut shipment = tx.shipment(&id)?.ok_or(FulfilError::NotFound("shipment"))?;
                shipment.cancel(now)?;
                tx.delete_job(&id);
                for file in &shipment.data().files {
                    blobs::release_ref(tx, &file.file.id, now)?;
                }
                tx.put_shipment(&shipment)?;
                Ok(shipment)
            })
            .await
    }

    /// Lets the buyer download every file again as often as the product allows.
    pub async fn reset_downloads(&self, id: String) -> Result<Shipment, FulfilError> {
        self.update_shipment(id, |s| s.reset_downloads()).await
    }

    /// Replaces the buyer's link with a new one (new expiry) and e-mails it;
    /// the old link stops working.
    pub async fn reissue_link(&self, id: String) -> Result<Shipment, FulfilError> {
        let now = self.clock.now();
        let preparer = self.preparer.clone();
        let shipment = self
            .store
            .write(move |tx| {
                let mut shipment = tx.shipment(&id)?.ok_or(FulfilError::NotFound("shipment"))?;
                let link = preparer.issue_link(&shipment, now);
                shipment.reissue_link(link)?;
                preparer.enqueue_notification(tx, &shipment, now)?;
                Ok::<_, FulfilError>(shipment)
            })
            .await?;
        self.outbox_wake.notify_one();
        Ok(shipment)
    }

    /// Blocks the buyer's downloads of a prepared shipment.
    pub async fn revoke(&self, id: String) -> Result<Shipment, FulfilError> {
        let now = self.clock.now();
        self.update_shipment(id, move |s| s.revoke(now)).await
    }

    /// Enqueues the buyer notification again.
    pub async fn resend(&self, id: String) -> Result<Shipment, FulfilError> {
        let now = self.clock.now();
        let preparer = self.preparer.clone();
        let shipment = self
            .store
            .write(move |tx| {
                let mut shipment = tx.shipment(&id)?.ok_or(FulfilError::NotFound("shipment"))?;
                shipment.resend()?;
                preparer.enqueue_notification(tx, &shipment, now)?;
                Ok::<_, FulfilError>(shipment)
            })
            .await?;
        self.outbox_wake.notify_one();
        Ok(shipment)
    }

    async fn update_shipment(
        &self,
        id: String,
        change: impl FnOnce(&mut Shipment) -> Result<(), ShipmentError> + Send + 'static,
    ) -> Result<Shipment, FulfilError> {
        self.store
            .write(move |tx| {
                let mut shipment = tx.shipment(&id)?.ok_or(FulfilError::NotFound("shipment"))?;
                change(&mut shipment)?;
                tx.put_shipment(&shipment)?;
                Ok(shipment)
            })
            .await
    }

    /// Checks a buyer token and finds its shipment, without changing anything.
    pub(crate) fn check_token(
        &self,
        token: &str,
        now: OffsetDateTime,
    ) -> Result<Shipment, FulfilError> {
        let claims = self.preparer.keys.verify(token, now)?;
        let shipment =
            self.store
                .read()?
                .shipment(&claims.shipment_id)?
                .ok_or(FulfilError::Token(TokenError::Invalid(
                    "unknown shipment".into(),
                )))?;
        check_link(&shipment, &claims.token_id)?;
        Ok(shipment)
    }

    /// Opens a buyer link: checks the token, and shows the content unless the
    /// waiver must be confirmed first. Showing the content of a shipment
    /// without files is its delivery (with files, a completed download is).
    pub async fn open_link(&self, token: &str) -> Result<BuyerView, FulfilError> {
        let now = self.clock.now();
        let shipment = self.check_token(token, now)?;
        if shipment.waiver_pending() {
            return Ok(BuyerView {
                shipment,
                waiver_required: true,
            });
        }
        if shipment.status() == ShipmentStatus::Prepared && shipment.data().files.is_empty() {
            let token_id = shipment.data().token.as_ref().map(|t| t.token_id.clone());
            let id = shipment.data().id.clone();
            let shipment = self
                .store
                .write(move |tx| {
                    let mut shipment =
                        tx.shipment(&id)?.ok_or(FulfilError::NotFound("shipment"))?;
                    check_link(&shipment, token_id.as_deref().unwrap_or_default())?;
                    if shipment.mark_delivered(now)? {
                        tx.put_shipment(&shipment)?;
                    }
                    Ok::<_, FulfilError>(shipment)
                })
                .await?;
            return Ok(BuyerView {
                shipment,
                waiver_required: false,
            });
        }
        Ok(BuyerView {
            shipment,
            waiver_required: false,
        })
    }

    /// Records the buyer's confirmation of the withdrawal-right waiver.
    pub async fn accept_waiver(&self, token: &str) -> Result<(), FulfilError> {
        let now = self.clock.now();
        let shipment = self.check_token(token, now)?;
        let token_id = shipment.data().token.as_ref().map(|t| t.token_id.clone());
        let id = shipment.data().id.clone();
        self.store
            .write(move |tx| {
                let mut shipment = tx.shipment(&id)?.ok_or(FulfilError::NotFound("shipment"))?;
                check_link(&shipment, token_id.as_deref().unwrap_or_default())?;
                shipment.accept_waiver(now)?;
                tx.put_shipment(&shipment)?;
                Ok(())
            })
            .await
    }
}

/// A file as products and shipments name it: the blob plus its upload's
/// name and type; `None` when no such file is stored.
fn stored_file(src: &impl Source, id: &str) -> Result<Option<FileRef>, FulfilError> {
    if !blobs::is_blob_id(id) {
        return Ok(None);
    }
    let Some(blob) = src.blob(id)? else {
        return Ok(None);
    };
    let meta = src.file_meta(id)?;
    Ok(Some(FileRef {
        id: blob.id,
        name: meta
            .as_ref()
            .map_or_else(|| "file".to_owned(), |m| m.name.clone()),
        size: blob.size,
        content_type: meta
            .map_or_else(|| "application/octet-stream".to_owned(), |m| m.content_type),
    }))
}

/// A file a product names, which must be stored.
fn file_ref(tx: &Tx<'_>, id: &str) -> Result<FileRef, FulfilError> {
    stored_file(tx, id)?.ok_or_else(|| {
        FulfilError::Validation(format!("file `{id}` does not exist; upload it first"))
    })
}

/// Whether a verified token still opens this shipment.
fn check_link(shipment: &Shipment, token_id: &str) -> Result<(), FulfilError> {
    if shipment.status() == ShipmentStatus::Revoked {
        return Err(FulfilError::Revoked);
    }
    match &shipment.data().token {
        Some(link) if link.token_id == token_id => Ok(()),
        Some(_) => Err(FulfilError::Superseded),
        None => Err(FulfilError::Token(TokenError::Invalid(
            "no link issued".into(),
        ))),
    }
}

/// A stable fingerprint of an order request, to tell a retry from a conflict.
fn fingerprint(input: &OrderInput) -> String {
    let mut h = blake3::Hasher::new();
    let mut field = |s: &str| {
        h.update(&(s.len() as u64).to_le_bytes());
        h.update(s.as_bytes());
    };
    field(&input.external_id);
    field(&input.buyer.email);
    field(&input.buyer.name);
    for line in &input.lines {
        field(&line.sku);
        field(&line.quantity.to_string());
        field(&line.options_json);
    }
    h.finalize().to_hex().to_string()
}
