//! Orders: the buyer, the lines bought, the payment, and how lines become shipments.

use super::{
    FileSource, Notification, Product, ProductKind, ProductTerms, Shipment, ShipmentData,
    ShipmentFile, ShipmentStatus, TextItem, Timestamp,
};

/// Who receives the shipments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Buyer {
    pub email: String,
    pub name: String,
}

/// One line of an order, with the product as it was when the order was placed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderLine {
    pub sku: String,
    pub quantity: u32,
    /// The buyer's options (a dedication, a name to print) as JSON text.
    pub options_json: String,
    /// Snapshot of the product at order time.
    pub product: Product,
}

/// Where an order stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderStatus {
    AwaitingPayment,
    Paid,
}

impl OrderStatus {
    /// The wire and storage name.
    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::AwaitingPayment => "awaiting_payment",
            OrderStatus::Paid => "paid",
        }
    }

    /// Parses the wire and storage name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "awaiting_payment" => Some(OrderStatus::AwaitingPayment),
            "paid" => Some(OrderStatus::Paid),
            _ => None,
        }
    }
}

/// A recorded payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payment {
    pub reference: String,
    pub paid_at: Timestamp,
}

/// An order placed by a shop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    pub id: String,
    pub external_id: String,
    pub buyer: Buyer,
    pub lines: Vec<OrderLine>,
    pub status: OrderStatus,
    pub payment: Option<Payment>,
    pub shipment_ids: Vec<String>,
    /// Fingerprint of the request that placed it, to tell a retry from a conflict.
    pub request_fingerprint: String,
    pub created_at: Timestamp,
}

/// A refused order operation.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum OrderError {
    /// The order was already paid with another payment reference.
    PaidWithOtherReference { reference: String },
}

impl std::fmt::Display for OrderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OrderError::PaidWithOtherReference { reference } => write!(
                f,
                "the order is already paid with payment reference `{reference}`"
            ),
        }
    }
}

impl std::error::Error for OrderError {}

/// What recording a payment did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentOutcome {
    /// The payment was recorded now: shipments must move on.
    Recorded,
    /// The same payment was recorded before: nothing changes.
    AlreadyRecorded,
}

impl Order {
    /// Places an order: the order and its digital shipments, all awaiting payment.
    ///
    /// All standard lines share one shipment; each personalized line gets its
    /// own. `new_shipment_id` is called once per shipment.
    pub fn place(
        id: String,
        external_id: String,
        buyer: Buyer,
        lines: Vec<OrderLine>,
        request_fingerprint: String,
        now: Timestamp,
        mut new_shipment_id: impl FnMut() -> String,
    ) -> (Order, Vec<Shipment>) {
        let mut shipments = Vec::new();
        let standard: Vec<usize> = (0..lines.len())
            .filter(|&i| lines[i].product.kind == ProductKind::Standard)
            .collect();
        if !standard.is_empty() {
            shipments.push(new_shipment(
                &id,
                &buyer,
                &lines,
                standard,
                new_shipment_id(),
                now,
            ));
        }
        for (i, line) in lines.iter().enumerate() {
            if line.product.kind == ProductKind::Personalized {
                shipments.push(new_shipment(
                    &id,
                    &buyer,
                    &lines,
                    vec![i],
                    new_shipment_id(),
                    now,
                ));
            }
        }
        let order = Order {
            id,
            external_id,
            buyer,
            lines,
            status: OrderStatus::AwaitingPayment,
            payment: None,
            shipment_ids: shipments.iter().map(|s| s.data().id.clone()).collect(),
            request_fingerprint,
            created_at: now,
        };
        (order, shipments)
    }

    /// Records the payment. Recording the same reference twice is a no-op;
    /// another reference on a paid order is refused.
    pub fn record_payment(
        &mut self,
        reference: &str,
        now: Timestamp,
    ) -> Result<PaymentOutcome, OrderError> {
        match &self.payment {
            Some(p) if p.reference == reference => Ok(PaymentOutcome::AlreadyRecorded),
            Some(p) => Err(OrderError::PaidWithOtherReference {
                reference: p.reference.clone(),
            }),
            None => {
                self.payment = Some(Payment {
                    reference: reference.to_owned(),
                    paid_at: now,
                });
                self.status = OrderStatus::Paid;
                Ok(PaymentOutcome::Recorded)
            }
        }
    }
}

fn new_shipment(
    order_id: &str,
    buyer: &Buyer,
    lines: &[OrderLine],
    line_indexes: Vec<usize>,
    id: String,
    now: Timestamp,
) -> Shipment {
    let products: Vec<&Product> = line_indexes.iter().map(|&i| &lines[i].product).collect();
    let terms = products
        .iter()
        .map(|p| p.terms)
        .reduce(ProductTerms::combine)
        .expect("a shipment has at least one line");
    let mut items = Vec::new();
    let mut files = Vec::new();
    for product in &products {
        for (label, value) in &product.items {
            items.push(TextItem {
                id: format!("it{}", items.len() + 1),
                label: label.clone(),
                value: value.clone(),
            });
        }
        // A plugin's product files are its sources: the buyer gets only
        // what the plugin made of them, never the original.
        if product.plugin.is_none() {
            files.extend(product.files.iter().map(|file| ShipmentFile {
                file: file.clone(),
                source: FileSource::Product,
            }));
        }
    }
    Shipment::from_data(ShipmentData {
        id,
        order_id: order_id.to_owned(),
        kind: products[0].kind,
        status: ShipmentStatus::AwaitingPayment,
        buyer: buyer.clone(),
        line_indexes: line_indexes.iter().map(|&i| i as u32).collect(),
        product_skus: products.iter().map(|p| p.sku.clone()).collect(),
        terms,
        auto_prepare: products.iter().all(|p| p.auto_prepare),
        files,
        next_item_seq: items.len() as u32 + 1,
        items,
        created_at: now,
        paid_at: None,
        prepared_at: None,
        delivered_at: None,
        cancelled_at: None,
        revoked_at: None,
        waiver_accepted_at: None,
        token: None,
        notification: Notification::default(),
        downloads: Vec::new(),
        personalization: None,
    })
}
