//! Digital shipments and their state machine; "prepared" is final.
//!
//! ```text
//! awaiting_payment → in_preparation → prepared → delivered
//!        ↘               ↘                ↘          ↘
//!         cancelled ←─────┘            revoked ←──────┘
//! ```
//!
//! A shipment's content (files, items) can change only while it is
//! `in_preparation`. The fields live in [`ShipmentData`], which the store
//! reads and writes whole, but every change goes through a method on
//! [`Shipment`], and each method checks the state first.

use super::{
    Buyer, ITEMS_PER_SHIPMENT_MAX, PLUGIN_ITEM_PREFIX, Personalization, PersonalizationStatus,
    PluginOutput, ProductKind, ProductTerms, RunFailure, RunRecord, Timestamp,
};

/// Where a shipment stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ShipmentStatus {
    AwaitingPayment,
    InPreparation,
    Prepared,
    Delivered,
    Cancelled,
    Revoked,
}

impl ShipmentStatus {
    /// Every status, in lifecycle order.
    pub const ALL: [ShipmentStatus; 6] = [
        ShipmentStatus::AwaitingPayment,
        ShipmentStatus::InPreparation,
        ShipmentStatus::Prepared,
        ShipmentStatus::Delivered,
        ShipmentStatus::Cancelled,
        ShipmentStatus::Revoked,
    ];

    /// The wire and storage name.
    pub fn as_str(self) -> &'static str {
        match self {
            ShipmentStatus::AwaitingPayment => "awaiting_payment",
            ShipmentStatus::InPreparation => "in_preparation",
            ShipmentStatus::Prepared => "prepared",
            ShipmentStatus::Delivered => "delivered",
            ShipmentStatus::Cancelled => "cancelled",
            ShipmentStatus::Revoked => "revoked",
        }
    }

    /// Parses the wire and storage name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// Whether the shipment has been prepared (and so its content is frozen).
    pub fn is_prepared(self) -> bool {
        matches!(
            self,
            ShipmentStatus::Prepared | ShipmentStatus::Delivered | ShipmentStatus::Revoked
        )
    }
}

/// A file as delivered: content id plus what the buyer sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRef {
    /// BLAKE3 hex of the content.
    pub id: String,
    pub name: String,
    pub size: u64,
    pub content_type: String,
}

/// Where a shipment's file came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileSource {
    /// Attached by the seller or a shop system.
    Upload,
    /// Produced by the product's plugin.
    Plugin,
    /// One of the product's own files.
    Product,
}

impl FileSource {
    /// The wire and storage name.
    pub fn as_str(self) -> &'static str {
        match self {
            FileSource::Upload => "upload",
            FileSource::Plugin => "plugin",
            FileSource::Product => "product",
        }
    }

    /// Parses the wire and storage name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "upload" => Some(FileSource::Upload),
            "plugin" => Some(FileSource::Plugin),
            "product" => Some(FileSource::Product),
            _ => None,
        }
    }
}

/// A file in a shipment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShipmentFile {
    pub file: FileRef,
    pub source: FileSource,
}

/// A text item: a license number, a voucher code, a contract number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextItem {
    /// Unique within the shipment; [`PLUGIN_ITEM_PREFIX`] marks a plugin's items.
    pub id: String,
    pub label: String,
    pub value: String,
}

impl TextItem {
    /// Whether the product's plugin produced this item.
    pub fn is_from_plugin(&self) -> bool {
        self.id.starts_with(PLUGIN_ITEM_PREFIX)
    }
}

/// The buyer's download link as issued when the shipment was prepared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadLink {
    /// The token's own id (its `jti`): only the current link opens the shipment.
    pub token_id: String,
    /// The signed token itself.
    pub token: String,
    pub expires_at: Timestamp,
}

/// Delivery state of the buyer notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NotificationStatus {
    /// Nothing was ever enqueued.
    #[default]
    None,
    /// Enqueued and not yet accepted by the mail server.
    Pending,
    /// Accepted by the mail server (or written to the log).
    Sent,
}

impl NotificationStatus {
    /// The wire and storage name.
    pub fn as_str(self) -> &'static str {
        match self {
            NotificationStatus::None => "none",
            NotificationStatus::Pending => "pending",
            NotificationStatus::Sent => "sent",
        }
    }

    /// Parses the wire and storage name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "none" => Some(NotificationStatus::None),
            "pending" => Some(NotificationStatus::Pending),
            "sent" => Some(NotificationStatus::Sent),
            _ => None,
        }
    }
}

/// What the seller sees of the buyer notification.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Notification {
    pub status: NotificationStatus,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub sent_at: Option<Timestamp>,
}

/// Every field of a shipment, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShipmentData {
    pub id: String,
    pub order_id: String,
    pub kind: ProductKind,
    pub status: ShipmentStatus,
    pub buyer: Buyer,
    /// Which lines of the order this shipment delivers.
    pub line_indexes: Vec<u32>,
    pub product_skus: Vec<String>,
    pub terms: ProductTerms,
    pub auto_prepare: bool,
    pub files: Vec<ShipmentFile>,
    pub items: Vec<TextItem>,
    /// Sequence for the next item id.
    pub next_item_seq: u32,
    pub created_at: Timestamp,
    pub paid_at: Option<Timestamp>,
    pub prepared_at: Option<Timestamp>,
    pub delivered_at: Option<Timestamp>,
    pub cancelled_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
    pub waiver_accepted_at: Option<Timestamp>,
    pub token: Option<DownloadLink>,
    pub notification: Notification,
    /// Completed downloads per file id (not requests: a resumed or aborted
    /// download counts once, when its last byte went out).
    pub downloads: Vec<(String, u32)>,
    /// The product plugin's work on this shipment, once queued.
    pub personalization: Option<Personalization>,
}

/// A refused shipment operation.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ShipmentError {
    /// The shipment is prepared: its content is final.
    AlreadyPrepared,
    /// The operation does not apply in the shipment's current state.
    InvalidState {
        action: &'static str,
        status: ShipmentStatus,
    },
    /// Nothing to deliver: no files and no items.
    Empty,
    /// No item with that id on this shipment.
    ItemNotFound,
    /// The shipment already carries the most items allowed.
    TooManyItems,
    /// No file with that id on this shipment.
    FileNotFound,
    /// That file is attached already.
    FileAlreadyAttached,
    /// The file was downloaded as often as the product allows.
    DownloadLimitReached { limit: u32 },
}

impl std::fmt::Display for ShipmentError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ShipmentError::AlreadyPrepared => f.write_str(
                "the shipment is already prepared; prepared is final and its content can no longer change",
            ),
            ShipmentError::InvalidState { action, status } => write!(
                f,
                "cannot {action} a shipment that is {}",
                status.as_str().replace('_', " ")
            ),
            ShipmentError::Empty => f.write_str(
                "the shipment has no files and no items; attach something before preparing it",
            ),
            ShipmentError::ItemNotFound => f.write_str("the shipment has no item with that id"),
            ShipmentError::TooManyItems => write!(
                f,
                "a shipment carries at most {ITEMS_PER_SHIPMENT_MAX} items"
            ),
            ShipmentError::FileNotFound => f.write_str("the shipment has no file with that id"),
            ShipmentError::FileAlreadyAttached => {
                f.write_str("this file is already attached to the shipment")
            }
            ShipmentError::DownloadLimitReached { limit } => write!(
                f,
                "this file was downloaded {limit} times, the most this link allows; ask the shop to reset the limit"
            ),
        }
    }
}

impl std::error::Error for ShipmentError {}

/// A digital shipment; see the module docs for its states.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shipment(ShipmentData);

impl Shipment {
    /// Rebuilds a shipment from its stored fields.
    pub fn from_data(data: ShipmentData) -> Self {
        Shipment(data)
    }

    /// Read access to every field.
    pub fn data(&self) -> &ShipmentData {
        &self.0
    }

    /// The stored fields, for writing back.
    pub fn into_data(self) -> ShipmentData {
        self.0
    }

    /// The current status.
    pub fn status(&self) -> ShipmentStatus {
        self.0.status
    }

    /// Whether there is anything to deliver.
    pub fn has_content(&self) -> bool {
        !self.0.files.is_empty() || !self.0.items.is_empty()
    }

    fn refuse(&self, action: &'static str) -> ShipmentError {
        if self.0.status.is_prepared() {
            ShipmentError::AlreadyPrepared
        } else {
            ShipmentError::InvalidState {
                action,
                status: self.0.status,
            }
        }
    }

    fn ensure_editable(&self, action: &'static str) -> Result<(), ShipmentError> {
        if self.0.status == ShipmentStatus::InPreparation {
            Ok(())
        } else {
            Err(self.refuse(action))
        }
    }

    /// Checks that files and items can still change.
    pub fn check_editable(&self) -> Result<(), ShipmentError> {
        self.ensure_editable("change the content of")
    }

    /// The order was paid: preparation can start.
    pub fn start_preparation(&mut self, now: Timestamp) -> Result<(), ShipmentError> {
        match self.0.status {
            ShipmentStatus::AwaitingPayment => {
                self.0.status = ShipmentStatus::InPreparation;
                self.0.paid_at = Some(now);
                Ok(())
            }
            _ => Err(self.refuse("start preparing")),
        }
    }

    /// Adds a text item; returns its id.
    pub fn add_item(&mut self, label: String, value: String) -> Result<String, ShipmentError> {
        self.ensure_editable("add an item to")?;
        if self.0.items.len() >= ITEMS_PER_SHIPMENT_MAX {
            return Err(ShipmentError::TooManyItems);
        }
        let id = format!("it{}", self.0.next_item_seq);
        self.0.next_item_seq += 1;
        self.0.items.push(TextItem {
            id: id.clone(),
            label,
            value,
        });
        Ok(id)
    }

    /// Removes a text item.
    pub fn remove_item(&mut self, item_id: &str) -> Result<(), ShipmentError> {
        self.ensure_editable("remove an item from")?;
        let before = self.0.items.len();
        self.0.items.retain(|item| item.id != item_id);
        if self.0.items.len() == before {
            return Err(ShipmentError::ItemNotFound);
        }
        Ok(())
    }

    /// Attaches a file.
    pub fn attach_file(&mut self, file: ShipmentFile) -> Result<(), ShipmentError> {
        self.ensure_editable("attach a file to")?;
        if self.0.files.iter().any(|f| f.file.id == file.file.id) {
            return Err(ShipmentError::FileAlreadyAttached);
        }
        self.0.files.push(file);
        Ok(())
    }

    /// Removes an attached file; returns it so its blob can be released.
    pub fn detach_file(&mut self, file_id: &str) -> Result<ShipmentFile, ShipmentError> {
        self.ensure_editable("remove a file from")?;
        let index = self
            .0
            .files
            .iter()
            .position(|f| f.file.id == file_id)
            .ok_or(ShipmentError::FileNotFound)?;
        Ok(self.0.files.remove(index))
    }

    /// Queues the product's plugin `plugin` to (re)personalize the shipment.
    pub fn queue_personalization(
        &mut self,
        plugin: &str,
        now: Timestamp,
    ) -> Result<(), ShipmentError> {
        self.ensure_editable("personalize")?;
        let previous = self.0.personalization.take();
        self.0.personalization = Some(Personalization {
            plugin: plugin.to_owned(),
            status: PersonalizationStatus::Queued,
            runs: previous.as_ref().map_or(0, |p| p.runs),
            queued_at: now,
            finished_at: None,
            failure: None,
            last_run: previous.and_then(|p| p.last_run),
        });
        Ok(())
    }

    /// Attaches a successful run's output in place of an earlier run's:
    /// plugin items and plugin files are replaced, the seller's stay.
    /// Returns the plugin files it removed (their blobs can be released)
    /// and the output files it did not attach because the shipment has
    /// them already (uploaded by the seller, or named twice).
    pub fn apply_personalization(
        &mut self,
        output: PluginOutput,
        run: RunRecord,
        now: Timestamp,
    ) -> Result<(Vec<ShipmentFile>, Vec<FileRef>), ShipmentError> {
        self.ensure_editable("personalize")?;
        let kept_items = self.0.items.iter().filter(|i| !i.is_from_plugin()).count();
        if kept_items + output.items.len() > ITEMS_PER_SHIPMENT_MAX {
            return Err(ShipmentError::TooManyItems);
        }
        self.0.items.retain(|item| !item.is_from_plugin());
        let (removed, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut self.0.files)
            .into_iter()
            .partition(|f| f.source == FileSource::Plugin);
        self.0.files = kept;
        for (n, (label, value)) in output.items.into_iter().enumerate() {
            self.0.items.push(TextItem {
                id: format!("{PLUGIN_ITEM_PREFIX}{}", n + 1),
                label,
                value,
            });
        }
        let mut skipped = Vec::new();
        for file in output.files {
            if self.0.files.iter().any(|f| f.file.id == file.id) {
                skipped.push(file);
            } else {
                self.0.files.push(ShipmentFile {
                    file,
                    source: FileSource::Plugin,
                });
            }
        }
        self.finish_personalization(PersonalizationStatus::Succeeded, None, run, now);
        Ok((removed, skipped))
    }

    /// Records a failed run; the shipment keeps what it had.
    pub fn fail_personalization(
        &mut self,
        failure: RunFailure,
        run: RunRecord,
        now: Timestamp,
    ) -> Result<(), ShipmentError> {
        self.ensure_editable("personalize")?;
        self.finish_personalization(PersonalizationStatus::Failed, Some(failure), run, now);
        Ok(())
    }

    /// A queued plugin run will not be used: the shipment was `prepared`
    /// by hand or `cancelled` first. Says so instead of "queued" forever.
    fn drop_queued_personalization(&mut self, became: &str, now: Timestamp) {
        if let Some(p) = &mut self.0.personalization
            && p.status == PersonalizationStatus::Queued
        {
            p.status = PersonalizationStatus::Failed;
            p.finished_at = Some(now);
            p.failure = Some(RunFailure {
                code: "superseded".to_owned(),
                message: format!(
                    "the shipment was {became} before the plugin's run finished; that run's result is not used"
                ),
            });
        }
    }

    fn finish_personalization(
        &mut self,
        status: PersonalizationStatus,
        failure: Option<RunFailure>,
        run: RunRecord,
        now: Timestamp,
    ) {
        let p = self
            .0
            .personalization
            .get_or_insert_with(|| Personalization {
                plugin: String::new(),
                status,
                runs: 0,
                queued_at: now,
                finished_at: None,
                failure: None,
                last_run: None,
            });
        p.status = status;
        p.runs += 1;
        p.finished_at = Some(now);
        p.failure = failure;
        p.last_run = Some(run);
    }

    /// Completed downloads of one file.
    pub fn downloads_of(&self, file_id: &str) -> u32 {
        self.0
            .downloads
            .iter()
            .find(|(id, _)| id == file_id)
            .map_or(0, |(_, n)| *n)
    }

    /// Checks that the buyer may download `file_id` now; returns the file.
    pub fn check_download(&self, file_id: &str) -> Result<&ShipmentFile, ShipmentError> {
        match self.0.status {
            ShipmentStatus::Prepared | ShipmentStatus::Delivered => {}
            status => {
                return Err(ShipmentError::InvalidState {
                    action: "download from",
                    status,
                });
            }
        }
        let file = self
            .0
            .files
            .iter()
            .find(|f| f.file.id == file_id)
            .ok_or(ShipmentError::FileNotFound)?;
        if let Some(limit) = self.0.terms.download_limit
            && self.downloads_of(file_id) >= limit
        {
            return Err(ShipmentError::DownloadLimitReached { limit });
        }
        Ok(file)
    }

    /// A download of `file_id` completed: counts it; the first one delivers the shipment.
    pub fn record_download(&mut self, file_id: &str, now: Timestamp) -> Result<(), ShipmentError> {
        if !self.0.files.iter().any(|f| f.file.id == file_id) {
            return Err(ShipmentError::FileNotFound);
        }
        match self.0.status {
            ShipmentStatus::Prepared => {
                self.0.status = ShipmentStatus::Delivered;
                self.0.delivered_at = Some(now);
            }
            ShipmentStatus::Delivered => {}
            status => {
                return Err(ShipmentError::InvalidState {
                    action: "deliver",
                    status,
                });
            }
        }
        match self.0.downloads.iter_mut().find(|(id, _)| id == file_id) {
            Some((_, n)) => *n = n.saturating_add(1),
            None => self.0.downloads.push((file_id.to_owned(), 1)),
        }
        Ok(())
    }

    /// The seller lets the buyer download every file again as often as the product allows.
    pub fn reset_downloads(&mut self) -> Result<(), ShipmentError> {
        match self.0.status {
            ShipmentStatus::Prepared | ShipmentStatus::Delivered => {
                self.0.downloads.clear();
                Ok(())
            }
            status => Err(ShipmentError::InvalidState {
                action: "reset the downloads of",
                status,
            }),
        }
    }

    /// Replaces the buyer's link (lost, expired or leaked): the old one stops
    /// working. Content stays as prepared.
    pub fn reissue_link(&mut self, link: DownloadLink) -> Result<(), ShipmentError> {
        match self.0.status {
            ShipmentStatus::Prepared | ShipmentStatus::Delivered => {
                self.0.token = Some(link);
                self.0.notification.status = NotificationStatus::Pending;
                Ok(())
            }
            status => Err(ShipmentError::InvalidState {
                action: "reissue the link of",
                status,
            }),
        }
    }

    /// Marks the shipment prepared: final. Freezes the content, records the
    /// download link and marks the buyer notification pending (the caller
    /// enqueues it in the same transaction).
    pub fn prepare(&mut self, now: Timestamp, link: DownloadLink) -> Result<(), ShipmentError> {
        self.ensure_editable("prepare")?;
        if !self.has_content() {
            return Err(ShipmentError::Empty);
        }
        self.0.status = ShipmentStatus::Prepared;
        self.0.prepared_at = Some(now);
        self.drop_queued_personalization("prepared", now);
        self.0.token = Some(link);
        self.0.notification = Notification {
            status: NotificationStatus::Pending,
            ..Notification::default()
        };
        Ok(())
    }

    /// Cancels a shipment that was not prepared yet.
    pub fn cancel(&mut self, now: Timestamp) -> Result<(), ShipmentError> {
        match self.0.status {
            ShipmentStatus::AwaitingPayment | ShipmentStatus::InPreparation => {
                self.0.status = ShipmentStatus::Cancelled;
                self.0.cancelled_at = Some(now);
                self.drop_queued_personalization("cancelled", now);
                Ok(())
            }
            _ => Err(self.refuse("cancel")),
        }
    }

    /// Blocks downloads of a prepared shipment (refund, chargeback). Revoking
    /// twice is a no-op. Nothing is un-prepared.
    pub fn revoke(&mut self, now: Timestamp) -> Result<(), ShipmentError> {
        match self.0.status {
            ShipmentStatus::Prepared | ShipmentStatus::Delivered => {
                self.0.status = ShipmentStatus::Revoked;
                self.0.revoked_at = Some(now);
                Ok(())
            }
            ShipmentStatus::Revoked => Ok(()),
            status => Err(ShipmentError::InvalidState {
                action: "revoke",
                status,
            }),
        }
    }

    /// Checks that the buyer notification may be sent again, and marks it pending.
    pub fn resend(&mut self) -> Result<(), ShipmentError> {
        match self.0.status {
            ShipmentStatus::Prepared | ShipmentStatus::Delivered => {
                self.0.notification.status = NotificationStatus::Pending;
                Ok(())
            }
            status => Err(ShipmentError::InvalidState {
                action: "resend the notification of",
                status,
            }),
        }
    }

    /// Whether the buyer must still confirm the withdrawal-right waiver.
    pub fn waiver_pending(&self) -> bool {
        self.0.terms.requires_withdrawal_waiver && self.0.waiver_accepted_at.is_none()
    }

    /// Records the buyer's confirmation of the withdrawal-right waiver (once).
    pub fn accept_waiver(&mut self, now: Timestamp) -> Result<(), ShipmentError> {
        match self.0.status {
            ShipmentStatus::Prepared | ShipmentStatus::Delivered => {
                if self.0.waiver_accepted_at.is_none() {
                    self.0.waiver_accepted_at = Some(now);
                }
                Ok(())
            }
            status => Err(ShipmentError::InvalidState {
                action: "accept the waiver for",
                status,
            }),
        }
    }

    /// The buyer received the content: the first time moves it to delivered.
    /// Returns whether anything changed.
    pub fn mark_delivered(&mut self, now: Timestamp) -> Result<bool, ShipmentError> {
        match self.0.status {
            ShipmentStatus::Prepared => {
                self.0.status = ShipmentStatus::Delivered;
                self.0.delivered_at = Some(now);
                Ok(true)
            }
            ShipmentStatus::Delivered => Ok(false),
            status => Err(ShipmentError::InvalidState {
                action: "deliver",
                status,
            }),
        }
    }

    /// Records the outcome of one notification delivery attempt.
    pub fn record_notification_attempt(&mut self, now: Timestamp, outcome: Result<(), String>) {
        let n = &mut self.0.notification;
        n.attempts += 1;
        match outcome {
            Ok(()) => {
                n.status = NotificationStatus::Sent;
                n.sent_at = Some(now);
                n.last_error = None;
            }
            Err(error) => n.last_error = Some(error),
        }
    }
}
