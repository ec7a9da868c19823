//! What a run receives (the order context) and what it returns (items).

use serde::de::DeserializeOwned;

use crate::bindings::waybill::plugin::{host as wit_host, types as wit};
use crate::{Error, SourceFile};

/// Everything a run knows about the shipment it personalizes.
#[derive(Debug)]
#[non_exhaustive]
pub struct Context {
    /// The order's id.
    pub order_id: String,
    /// The shipment being personalized; one run per shipment.
    pub shipment_id: String,
    /// When the shipment was issued, RFC 3339 in UTC (e.g.
    /// `2026-12-03T17:00:00Z`). Use it as "now": it is stable on a retry.
    pub issued_at: String,
    /// The order line.
    pub line: Line,
    /// Who bought.
    pub buyer: Buyer,
    /// The product's plugin config as JSON text; see [`Context::config`].
    pub config_json: String,
    /// The product's source files, in the product's order.
    pub sources: Vec<SourceFile>,
}

/// The order line being personalized.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Line {
    /// The product's SKU.
    pub sku: String,
    /// The product's display name.
    pub product_name: String,
    /// Units bought, at least 1.
    pub quantity: u32,
    /// The buyer's choices as JSON text; see [`Context::options`].
    pub options_json: String,
}

/// Who bought.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Buyer {
    /// The buyer's name.
    pub name: String,
    /// The buyer's e-mail address.
    pub email: String,
}

impl Context {
    /// The product's plugin config parsed as `T`; a parse error is an
    /// [`Error::InvalidConfig`] naming the field.
    pub fn config<T: DeserializeOwned>(&self) -> Result<T, Error> {
        let json = if self.config_json.trim().is_empty() {
            "{}"
        } else {
            &self.config_json
        };
        serde_json::from_str(json).map_err(|e| Error::invalid_config(e.to_string()))
    }

    /// The line's options parsed as `T`; a parse error is an
    /// [`Error::InvalidOptions`].
    pub fn options<T: DeserializeOwned>(&self) -> Result<T, Error> {
        let json = if self.line.options_json.trim().is_empty() {
            "{}"
        } else {
            &self.line.options_json
        };
        serde_json::from_str(json).map_err(|e| Error::invalid_options(e.to_string()))
    }

    /// The first source file, or an [`Error::InvalidSource`] when the
    /// product has none.
    pub fn source(&self) -> Result<&SourceFile, Error> {
        self.sources
            .first()
            .ok_or_else(|| Error::invalid_source("the product has no source file"))
    }

    pub(crate) fn from_wit(ctx: wit::Context, sources: Vec<wit_host::SourceFile>) -> Self {
        Self {
            order_id: ctx.order_id,
            shipment_id: ctx.shipment_id,
            issued_at: ctx.issued_at,
            line: Line {
                sku: ctx.line.sku,
                product_name: ctx.line.product_name,
                quantity: ctx.line.quantity,
                options_json: ctx.line.options_json,
            },
            buyer: Buyer {
                name: ctx.buyer.name,
                email: ctx.buyer.email,
            },
            config_json: ctx.config_json,
            sources: sources.into_iter().map(SourceFile::from_wit).collect(),
        }
    }
}

/// One text item delivered to the buyer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// What it is, e.g. `License key`.
    pub label: String,
    /// The value, e.g. the key itself.
    pub value: String,
}

/// What a successful run returns: the items, in order. Output files are
/// written with [`create_output`](crate::create_output).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Output {
    /// The items to deliver.
    pub items: Vec<Item>,
}

impl Output {
    /// No items.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an item (builder style).
    pub fn item(mut self, label: impl Into<String>, value: impl Into<String>) -> Self {
        self.push(label, value);
        self
    }

    /// Adds an item.
    pub fn push(&mut self, label: impl Into<String>, value: impl Into<String>) {
        self.items.push(Item {
            label: label.into(),
            value: value.into(),
        });
    }

    pub(crate) fn into_wit(self) -> Vec<wit::Item> {
        self.items
            .into_iter()
            .map(|i| wit::Item {
                label: i.label,
                value: i.value,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    fn context(config: &str, options: &str) -> Context {
        Context {
            order_id: "ord_1".into(),
            shipment_id: "shp_1".into(),
            issued_at: "2026-12-03T17:00:00Z".into(),
            line: Line {
                sku: "sku".into(),
                product_name: "Product".into(),
                quantity: 1,
                options_json: options.into(),
            },
            buyer: Buyer {
                name: "Zoë".into(),
                email: "zoe@example.com".into(),
            },
            config_json: config.into(),
            sources: Vec::new(),
        }
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Config {
        #[serde(default)]
        size: u32,
    }

    #[test]
    fn config_and_options_parse_with_the_right_error_kind() {
        let ctx = context(r#"{"size": 3}"#, "");
        assert_eq!(ctx.config::<Config>(), Ok(Config { size: 3 }));
        assert_eq!(
            ctx.options::<Config>(),
            Ok(Config { size: 0 }),
            "empty is {{}}"
        );
        let ctx = context(r#"{"sise": 3}"#, "42");
        assert!(
            matches!(ctx.config::<Config>(), Err(Error::InvalidConfig(m)) if m.contains("sise"))
        );
        assert!(matches!(
            ctx.options::<Config>(),
            Err(Error::InvalidOptions(_))
        ));
        assert!(matches!(ctx.source(), Err(Error::InvalidSource(_))));
    }

    #[test]
    fn outputs_keep_item_order() {
        let mut out = Output::new().item("A", "1");
        out.push("B", String::from("2"));
        let wit = out.into_wit();
        assert_eq!((wit[0].label.as_str(), wit[1].value.as_str()), ("A", "2"));
    }
}
