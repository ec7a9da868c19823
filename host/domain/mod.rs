//! The fulfilment domain: products, orders, digital shipments and their rules.
//!
//! Pure by design: no I/O, no clock reads, no randomness, no serde. Callers
//! pass in the current time and fresh ids; every refused transition is a
//! typed error. Persistence and HTTP convert to and from these types at
//! their own boundaries.

mod order;
mod personalization;
mod product;
mod shipment;
mod validate;

pub use order::{Buyer, Order, OrderError, OrderLine, OrderStatus, Payment, PaymentOutcome};
pub use personalization::{
    PLUGIN_ITEM_PREFIX, Personalization, PersonalizationStatus, PluginOutput, RunFailure, RunRecord,
};
pub use product::{PluginRef, Product, ProductKind, ProductTerms};
pub use shipment::{
    DownloadLink, FileRef, FileSource, Notification, NotificationStatus, Shipment, ShipmentData,
    ShipmentError, ShipmentFile, ShipmentStatus, TextItem,
};
pub use validate::{
    ITEM_LABEL_CHARS_MAX, ITEM_VALUE_CHARS_MAX, ITEMS_PER_SHIPMENT_MAX, LINES_PER_ORDER_MAX,
    QUANTITY_MAX, ValidationError, check_email, check_item, check_text,
};

/// A point in time, always UTC.
pub type Timestamp = time::OffsetDateTime;

#[cfg(test)]
mod tests;
