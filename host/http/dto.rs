//! The JSON shapes of the API, and their conversion from and to domain types.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::ToSchema;

use crate::domain::{FileRef, Order, Personalization, Product, Shipment, ShipmentFile, TextItem};

/// RFC 3339, UTC.
pub fn rfc3339(t: OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .format(&Rfc3339)
        .expect("timestamps in range format")
}

fn opt_time(t: Option<OffsetDateTime>) -> Option<String> {
    t.map(rfc3339)
}

/// `PUT /api/v1/products/{sku}` body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductRequest {
    pub name: String,
    /// `standard` or `personalized`.
    pub kind: String,
    #[serde(default)]
    pub files: Vec<String>,
    /// Static text every shipment of the product gets.
    #[serde(default)]
    pub items: Vec<ItemRequest>,
    #[serde(default)]
    pub plugin: Option<PluginBody>,
    #[serde(default)]
    pub auto_prepare: bool,
    /// Completed downloads allowed per file; `null` for unlimited. Default 5.
    #[serde(default = "default_download_limit")]
    pub download_limit: Option<u32>,
    #[serde(default = "default_link_ttl_hours")]
    pub link_ttl_hours: u32,
    #[serde(default)]
    pub requires_withdrawal_waiver: bool,
}

fn default_download_limit() -> Option<u32> {
    Some(5)
}

fn default_link_ttl_hours() -> u32 {
    720
}

/// A product's plugin and its configuration.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PluginBody {
    pub name: String,
    #[serde(default = "empty_object")]
    #[schema(value_type = Object)]
    pub config: Value,
}

fn empty_object() -> Value {
    Value::Object(Default::default())
}

/// A product as answered.
#[derive(Serialize, ToSchema)]
pub struct ProductResponse {
    pub sku: String,
    pub name: String,
    pub kind: &'static str,
    pub files: Vec<String>,
    pub items: Vec<ItemBody>,
    pub plugin: Option<PluginBody>,
    pub auto_prepare: bool,
    pub download_limit: Option<u32>,
    pub link_ttl_hours: u32,
    pub requires_withdrawal_waiver: bool,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&Product> for ProductResponse {
    fn from(p: &Product) -> Self {
        ProductResponse {
            sku: p.sku.clone(),
            name: p.name.clone(),
            kind: p.kind.as_str(),
            files: p.files.iter().map(|f| f.id.clone()).collect(),
            items: p
                .items
                .iter()
                .map(|(label, value)| ItemBody {
                    label: label.clone(),
                    value: value.clone(),
                })
                .collect(),
            plugin: p.plugin.as_ref().map(|pl| PluginBody {
                name: pl.name.clone(),
                config: serde_json::from_str(&pl.config_json).unwrap_or_else(|_| empty_object()),
            }),
            auto_prepare: p.auto_prepare,
            download_limit: p.terms.download_limit,
            link_ttl_hours: p.terms.link_ttl_hours,
            requires_withdrawal_waiver: p.terms.requires_withdrawal_waiver,
            created_at: rfc3339(p.created_at),
            updated_at: rfc3339(p.updated_at),
        }
    }
}

/// A text item as submitted.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ItemRequest {
    pub label: String,
    pub value: String,
}

/// A text item without id (product items, buyer view).
#[derive(Serialize, ToSchema)]
pub struct ItemBody {
    pub label: String,
    pub value: String,
}

/// A shipment's text item.
#[derive(Serialize, ToSchema)]
pub struct ItemResponse {
    pub id: String,
    pub label: String,
    pub value: String,
    /// Made by the product's plugin (replaced when it runs again).
    pub from_plugin: bool,
}

impl From<&TextItem> for ItemResponse {
    fn from(i: &TextItem) -> Self {
        ItemResponse {
            id: i.id.clone(),
            label: i.label.clone(),
            value: i.value.clone(),
            from_plugin: i.is_from_plugin(),
        }
    }
}

/// Why a plugin run failed.
#[derive(Serialize, ToSchema)]
pub struct RunFailureResponse {
    /// `timeout`, `out_of_fuel`, `memory_limit`, `output_limit`,
    /// `too_many_items`, `invalid_output`, `trap`, `plugin_error`,
    /// `invalid_plugin`, `host_io`; `superseded` when the shipment was
    /// prepared by hand or cancelled before the run finished.
    pub code: String,
    pub message: String,
}

/// The last finished run of a shipment's plugin.
#[derive(Serialize, ToSchema)]
pub struct RunResponse {
    /// BLAKE3 of the component that ran.
    pub plugin_version: String,
    pub fuel_used: u64,
    pub wall_time_ms: u64,
    /// What the plugin wrote to stdout (bounded).
    pub stdout: String,
    /// What the plugin wrote to stderr (bounded).
    pub stderr: String,
    /// The plugin's log lines (bounded).
    pub log: String,
}

/// A shipment's personalization by its product's plugin.
#[derive(Serialize, ToSchema)]
pub struct PersonalizationResponse {
    pub plugin: String,
    /// `queued`, `succeeded` or `failed`.
    pub status: &'static str,
    pub runs: u32,
    pub queued_at: String,
    pub finished_at: Option<String>,
    pub error: Option<RunFailureResponse>,
    pub last_run: Option<RunResponse>,
}

impl From<&Personalization> for PersonalizationResponse {
    fn from(p: &Personalization) -> Self {
        PersonalizationResponse {
            plugin: p.plugin.clone(),
            status: p.status.as_str(),
            runs: p.runs,
            queued_at: rfc3339(p.queued_at),
            finished_at: opt_time(p.finished_at),
            error: p.failure.as_ref().map(|f| RunFailureResponse {
                code: f.code.clone(),
                message: f.message.clone(),
            }),
            last_run: p.last_run.as_ref().map(|r| RunResponse {
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

/// An installed plugin.
#[derive(Serialize, ToSchema)]
pub struct PluginResponse {
    pub name: String,
    /// BLAKE3 of the component.
    pub version: String,
    pub size: u64,
    /// Shipped inside the server binary.
    pub bundled: bool,
    pub installed_at: String,
    /// Compiled and in memory (else compiled on first use).
    pub loaded: bool,
}

impl PluginResponse {
    pub fn new(r: &crate::store::PluginRecord, loaded: bool) -> Self {
        PluginResponse {
            name: r.name.clone(),
            version: r.hash.clone(),
            size: r.size,
            bundled: r.bundled,
            installed_at: rfc3339(r.installed_at),
            loaded,
        }
    }
}

/// `GET /api/v1/plugins`.
#[derive(Serialize, ToSchema)]
pub struct PluginList {
    pub plugins: Vec<PluginResponse>,
}

/// The buyer of an order.
#[derive(Deserialize, Serialize, ToSchema, Clone)]
#[serde(deny_unknown_fields)]
pub struct BuyerBody {
    pub email: String,
    #[serde(default)]
    pub name: String,
}

/// `POST /api/v1/orders` body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderRequest {
    pub external_id: String,
    pub buyer: BuyerBody,
    pub lines: Vec<LineRequest>,
}

/// One order line as submitted.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LineRequest {
    pub sku: String,
    pub quantity: u32,
    /// The buyer's options (a dedication, a name to print).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub options: Option<serde_json::Map<String, Value>>,
}

/// `POST /api/v1/orders/{id}/payment` body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentRequest {
    pub reference: String,
}

/// An order line as answered.
#[derive(Serialize, ToSchema)]
pub struct LineResponse {
    pub sku: String,
    pub quantity: u32,
    #[schema(value_type = Object)]
    pub options: Value,
    pub kind: &'static str,
    pub name: String,
}

/// A recorded payment.
#[derive(Serialize, ToSchema)]
pub struct PaymentResponse {
    pub reference: String,
    pub paid_at: String,
}

/// A shipment in a list or an order.
#[derive(Serialize, ToSchema)]
pub struct ShipmentSummary {
    pub id: String,
    pub order_id: String,
    pub status: &'static str,
    pub buyer: BuyerBody,
    pub product_skus: Vec<String>,
    pub created_at: String,
}

impl From<&Shipment> for ShipmentSummary {
    fn from(s: &Shipment) -> Self {
        let d = s.data();
        ShipmentSummary {
            id: d.id.clone(),
            order_id: d.order_id.clone(),
            status: d.status.as_str(),
            buyer: BuyerBody {
                email: d.buyer.email.clone(),
                name: d.buyer.name.clone(),
            },
            product_skus: d.product_skus.clone(),
            created_at: rfc3339(d.created_at),
        }
    }
}

/// An order as answered.
#[derive(Serialize, ToSchema)]
pub struct OrderResponse {
    pub id: String,
    pub external_id: String,
    pub status: &'static str,
    pub buyer: BuyerBody,
    pub lines: Vec<LineResponse>,
    pub payment: Option<PaymentResponse>,
    pub shipments: Vec<ShipmentSummary>,
    pub created_at: String,
}

impl OrderResponse {
    pub fn new(order: &Order, shipments: &[Shipment]) -> Self {
        OrderResponse {
            id: order.id.clone(),
            external_id: order.external_id.clone(),
            status: order.status.as_str(),
            buyer: BuyerBody {
                email: order.buyer.email.clone(),
                name: order.buyer.name.clone(),
            },
            lines: order
                .lines
                .iter()
                .map(|l| LineResponse {
                    sku: l.sku.clone(),
                    quantity: l.quantity,
                    options: serde_json::from_str(&l.options_json).unwrap_or(Value::Null),
                    kind: l.product.kind.as_str(),
                    name: l.product.name.clone(),
                })
                .collect(),
            payment: order.payment.as_ref().map(|p| PaymentResponse {
                reference: p.reference.clone(),
                paid_at: rfc3339(p.paid_at),
            }),
            shipments: shipments.iter().map(ShipmentSummary::from).collect(),
            created_at: rfc3339(order.created_at),
        }
    }
}

/// A stored file.
#[derive(Serialize, ToSchema)]
pub struct FileResponse {
    /// BLAKE3 hex of the content.
    pub id: String,
    pub name: String,
    pub size: u64,
    pub content_type: String,
}

impl From<&FileRef> for FileResponse {
    fn from(f: &FileRef) -> Self {
        FileResponse {
            id: f.id.clone(),
            name: f.name.clone(),
            size: f.size,
            content_type: f.content_type.clone(),
        }
    }
}

/// A file in a shipment.
#[derive(Serialize, ToSchema)]
pub struct ShipmentFileResponse {
    pub id: String,
    pub name: String,
    pub size: u64,
    pub content_type: String,
    /// `upload`, `plugin` or `product`.
    pub source: &'static str,
    /// Completed downloads by the buyer.
    pub downloads: u32,
}

impl ShipmentFileResponse {
    pub fn new(f: &ShipmentFile, downloads: u32) -> Self {
        ShipmentFileResponse {
            id: f.file.id.clone(),
            name: f.file.name.clone(),
            size: f.file.size,
            content_type: f.file.content_type.clone(),
            source: f.source.as_str(),
            downloads,
        }
    }
}

/// Delivery of the buyer notification.
#[derive(Serialize, ToSchema)]
pub struct NotificationResponse {
    /// `none`, `pending` or `sent`.
    pub status: &'static str,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub sent_at: Option<String>,
}

/// A shipment in full.
#[derive(Serialize, ToSchema)]
pub struct ShipmentResponse {
    pub id: String,
    pub order_id: String,
    pub status: &'static str,
    pub buyer: BuyerBody,
    pub product_skus: Vec<String>,
    pub files: Vec<ShipmentFileResponse>,
    pub items: Vec<ItemResponse>,
    pub created_at: String,
    pub paid_at: Option<String>,
    pub prepared_at: Option<String>,
    pub delivered_at: Option<String>,
    pub cancelled_at: Option<String>,
    pub revoked_at: Option<String>,
    pub waiver_accepted_at: Option<String>,
    pub requires_withdrawal_waiver: bool,
    pub download_url: Option<String>,
    pub link_expires_at: Option<String>,
    pub notification: NotificationResponse,
    /// The product plugin's work, once payment queued it.
    pub personalization: Option<PersonalizationResponse>,
}

impl ShipmentResponse {
    pub fn new(s: &Shipment, download_url: impl Fn(&str) -> String) -> Self {
        let d = s.data();
        ShipmentResponse {
            id: d.id.clone(),
            order_id: d.order_id.clone(),
            status: d.status.as_str(),
            buyer: BuyerBody {
                email: d.buyer.email.clone(),
                name: d.buyer.name.clone(),
            },
            product_skus: d.product_skus.clone(),
            files: d
                .files
                .iter()
                .map(|f| ShipmentFileResponse::new(f, s.downloads_of(&f.file.id)))
                .collect(),
            items: d.items.iter().map(ItemResponse::from).collect(),
            created_at: rfc3339(d.created_at),
            paid_at: opt_time(d.paid_at),
            prepared_at: opt_time(d.prepared_at),
            delivered_at: opt_time(d.delivered_at),
            cancelled_at: opt_time(d.cancelled_at),
            revoked_at: opt_time(d.revoked_at),
            waiver_accepted_at: opt_time(d.waiver_accepted_at),
            requires_withdrawal_waiver: d.terms.requires_withdrawal_waiver,
            download_url: d.token.as_ref().map(|t| download_url(&t.token)),
            link_expires_at: d.token.as_ref().map(|t| rfc3339(t.expires_at)),
            notification: NotificationResponse {
                status: d.notification.status.as_str(),
                attempts: d.notification.attempts,
                last_error: d.notification.last_error.clone(),
                sent_at: opt_time(d.notification.sent_at),
            },
            personalization: d.personalization.as_ref().map(Into::into),
        }
    }
}

/// A page of shipments.
#[derive(Serialize, ToSchema)]
pub struct ShipmentList {
    pub shipments: Vec<ShipmentSummary>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// `POST /api/v1/shipments/prepare` body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkPrepareRequest {
    pub ids: Vec<String>,
}

/// One shipment's outcome in a bulk prepare.
#[derive(Serialize, ToSchema)]
pub struct BulkResult {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<BulkError>,
}

/// Why one shipment of a bulk prepare was not prepared.
#[derive(Serialize, ToSchema)]
pub struct BulkError {
    pub code: &'static str,
    pub detail: String,
}

/// `POST /api/v1/shipments/prepare` answer.
#[derive(Serialize, ToSchema)]
pub struct BulkPrepareResponse {
    pub results: Vec<BulkResult>,
}

/// The buyer's view of a shipment.
#[derive(Serialize, ToSchema)]
pub struct BuyerContent {
    pub files: Vec<BuyerFile>,
    pub items: Vec<ItemBody>,
    pub waiver_required: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waiver_url: Option<String>,
}

/// A file on the buyer's page.
#[derive(Serialize, ToSchema)]
pub struct BuyerFile {
    pub name: String,
    pub size: u64,
    pub url: String,
}

/// One published token verification key.
#[derive(Serialize, ToSchema)]
pub struct PublicKeyBody {
    pub kid: String,
    /// Always `Ed25519`.
    pub alg: &'static str,
    /// The 32-byte public key, base64url without padding.
    pub public_key: String,
}

/// `GET /.well-known/waybill/keys`.
#[derive(Serialize, ToSchema)]
pub struct KeySet {
    pub keys: Vec<PublicKeyBody>,
    /// The keys that verify licenses plugins signed through the host's
    /// `sign` (`kid` is the id plugins put next to their signatures).
    pub license_keys: Vec<PublicKeyBody>,
}
