//! Products: what a shop sells and the terms each sale carries into its shipment.

use super::{FileRef, Timestamp};

/// How a product reaches the buyer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProductKind {
    /// Delivered as soon as the payment is recorded (an ebook).
    Standard,
    /// Prepared per order, by a plugin or by the seller, before delivery.
    Personalized,
}

impl ProductKind {
    /// The wire and storage name.
    pub fn as_str(self) -> &'static str {
        match self {
            ProductKind::Standard => "standard",
            ProductKind::Personalized => "personalized",
        }
    }

    /// Parses the wire and storage name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "standard" => Some(ProductKind::Standard),
            "personalized" => Some(ProductKind::Personalized),
            _ => None,
        }
    }
}

/// The plugin that personalizes a product, with its configuration as JSON text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginRef {
    pub name: String,
    pub config_json: String,
}

/// A product in the catalogue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Product {
    pub sku: String,
    pub name: String,
    pub kind: ProductKind,
    /// The files every shipment of this product gets.
    pub files: Vec<FileRef>,
    /// Text every shipment of this product gets (an access code, a link, a
    /// note), as label and value.
    pub items: Vec<(String, String)>,
    pub plugin: Option<PluginRef>,
    pub auto_prepare: bool,
    pub terms: ProductTerms,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// The delivery terms a sale fixes: copied into the order when it is placed,
/// so later catalogue edits never change what a buyer already bought.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProductTerms {
    /// Completed downloads allowed per file; `None` is unlimited.
    pub download_limit: Option<u32>,
    pub link_ttl_hours: u32,
    pub requires_withdrawal_waiver: bool,
}

impl ProductTerms {
    /// Terms of a shipment that delivers several products: the most generous
    /// link lifetime and limit, and the waiver if any product needs it.
    pub fn combine(self, other: ProductTerms) -> ProductTerms {
        ProductTerms {
            download_limit: match (self.download_limit, other.download_limit) {
                (Some(a), Some(b)) => Some(a.max(b)),
                _ => None,
            },
            link_ttl_hours: self.link_ttl_hours.max(other.link_ttl_hours),
            requires_withdrawal_waiver: self.requires_withdrawal_waiver
                || other.requires_withdrawal_waiver,
        }
    }
}

impl Product {
    /// Whether a shipment of this product can be prepared without seller work.
    pub fn has_content(&self) -> bool {
        !self.files.is_empty() || !self.items.is_empty()
    }
}
