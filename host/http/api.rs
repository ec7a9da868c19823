//! The JSON API under `/api/v1`: products, orders, payments, shipments.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::Value;

use super::AppState;
use super::dto::*;
use super::error::{ApiError, Problem};
use super::extract::{ApiJson, ApiQuery};
use crate::config::BULK_IDS_MAX;
use crate::domain::{
    self, Buyer, LINES_PER_ORDER_MAX, PluginRef, ProductKind, ProductTerms, QUANTITY_MAX,
    ShipmentStatus, check_email, check_item, check_text,
};
use crate::fulfilment::{FulfilError, LineInput, OrderInput, ProductInput};

/// Most static items one product may carry.
const PRODUCT_ITEMS_MAX: usize = 100;
/// Longest link lifetime: ten years.
const LINK_TTL_HOURS_MAX: u32 = 24 * 365 * 10;
/// Default and largest page of the shipment list.
const LIST_LIMIT_DEFAULT: usize = 50;
const LIST_LIMIT_MAX: usize = 500;

fn invalid(e: domain::ValidationError) -> ApiError {
    ApiError::validation(e.0)
}

fn check_sku(sku: &str) -> Result<(), ApiError> {
    if sku.is_empty()
        || sku.len() > 100
        || !sku
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        return Err(ApiError::validation(format!(
            "sku `{sku}` must be 1 to 100 characters of A-Z, a-z, 0-9, `-`, `_`, `.`"
        )));
    }
    Ok(())
}

/// JSON with object keys in sorted order, whatever the map type's order.
pub(crate) fn canonical_json(v: &Value) -> String {
    fn sort(v: &Value) -> Value {
        match v {
            Value::Object(map) => {
                let mut entries: Vec<_> = map.iter().collect();
                entries.sort_by(|a, b| a.0.cmp(b.0));
                Value::Object(
                    entries
                        .into_iter()
                        .map(|(k, v)| (k.clone(), sort(v)))
                        .collect(),
                )
            }
            Value::Array(items) => Value::Array(items.iter().map(sort).collect()),
            v => v.clone(),
        }
    }
    sort(v).to_string()
}

#[utoipa::path(put, path = "/api/v1/products/{sku}", tag = "products",
    request_body = ProductRequest,
    responses((status = 201, body = ProductResponse, description = "created"),
              (status = 200, body = ProductResponse, description = "replaced"),
              (status = 422, body = Problem)))]
pub async fn put_product(
    State(state): State<AppState>,
    Path(sku): Path<String>,
    ApiJson(req): ApiJson<ProductRequest>,
) -> Result<impl IntoResponse, ApiError> {
    check_sku(&sku)?;
    check_text("name", &req.name, 200).map_err(invalid)?;
    let kind = ProductKind::parse(&req.kind)
        .ok_or_else(|| ApiError::validation("`kind` must be `standard` or `personalized`"))?;
    if req.items.len() > PRODUCT_ITEMS_MAX {
        return Err(ApiError::validation(format!(
            "a product carries at most {PRODUCT_ITEMS_MAX} items"
        )));
    }
    for item in &req.items {
        check_item(&item.label, &item.value).map_err(invalid)?;
    }
    if req.download_limit == Some(0) {
        return Err(ApiError::validation(
            "`download_limit` must be at least 1, or null for unlimited",
        ));
    }
    if req.link_ttl_hours == 0 || req.link_ttl_hours > LINK_TTL_HOURS_MAX {
        return Err(ApiError::validation(format!(
            "`link_ttl_hours` must be between 1 and {LINK_TTL_HOURS_MAX}"
        )));
    }
    let plugin = match req.plugin {
        Some(p) => {
            check_text("plugin.name", &p.name, 100).map_err(invalid)?;
            if !p.config.is_object() {
                return Err(ApiError::validation(
                    "`plugin.config` must be a JSON object",
                ));
            }
            Some(PluginRef {
                name: p.name,
                config_json: canonical_json(&p.config),
            })
        }
        None => None,
    };
    let input = ProductInput {
        name: req.name,
        kind,
        files: req.files,
        items: req.items.into_iter().map(|i| (i.label, i.value)).collect(),
        plugin,
        auto_prepare: req.auto_prepare,
        terms: ProductTerms {
            download_limit: req.download_limit,
            link_ttl_hours: req.link_ttl_hours,
            requires_withdrawal_waiver: req.requires_withdrawal_waiver,
        },
    };
    let (product, created) = state.fulfilment.put_product(sku, input).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(ProductResponse::from(&product))))
}

#[utoipa::path(get, path = "/api/v1/products/{sku}", tag = "products",
    responses((status = 200, body = ProductResponse), (status = 404, body = Problem)))]
pub async fn get_product(
    State(state): State<AppState>,
    Path(sku): Path<String>,
) -> Result<Json<ProductResponse>, ApiError> {
    Ok(Json(ProductResponse::from(
        &state.fulfilment.product(&sku)?,
    )))
}

fn order_response(state: &AppState, order: &domain::Order) -> Result<OrderResponse, FulfilError> {
    let shipments = order
        .shipment_ids
        .iter()
        .map(|id| state.fulfilment.shipment(id))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(OrderResponse::new(order, &shipments))
}

#[utoipa::path(post, path = "/api/v1/orders", tag = "orders",
    request_body = OrderRequest,
    responses((status = 201, body = OrderResponse, description = "placed"),
              (status = 200, body = OrderResponse, description = "the same order was placed before"),
              (status = 409, body = Problem, description = "`external_id` used with different content"),
              (status = 422, body = Problem)))]
pub async fn create_order(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<OrderRequest>,
) -> Result<impl IntoResponse, ApiError> {
    check_text("external_id", &req.external_id, 200).map_err(invalid)?;
    check_email("buyer.email", &req.buyer.email).map_err(invalid)?;
    if !req.buyer.name.is_empty() {
        check_text("buyer.name", &req.buyer.name, 200).map_err(invalid)?;
    }
    if req.lines.is_empty() || req.lines.len() > LINES_PER_ORDER_MAX {
        return Err(ApiError::validation(format!(
            "an order has 1 to {LINES_PER_ORDER_MAX} lines"
        )));
    }
    let mut lines = Vec::with_capacity(req.lines.len());
    for (i, line) in req.lines.into_iter().enumerate() {
        check_sku(&line.sku)?;
        if line.quantity == 0 || line.quantity > QUANTITY_MAX {
            return Err(ApiError::validation(format!(
                "lines[{i}].quantity must be between 1 and {QUANTITY_MAX}"
            )));
        }
        let options = Value::Object(line.options.unwrap_or_default());
        lines.push(LineInput {
            sku: line.sku,
            quantity: line.quantity,
            options_json: canonical_json(&options),
        });
    }
    let input = OrderInput {
        external_id: req.external_id,
        buyer: Buyer {
            email: req.buyer.email,
            name: req.buyer.name,
        },
        lines,
    };
    let (order, created) = state.fulfilment.place_order(input).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(order_response(&state, &order)?)))
}

#[utoipa::path(get, path = "/api/v1/orders/{id}", tag = "orders",
    responses((status = 200, body = OrderResponse), (status = 404, body = Problem)))]
pub async fn get_order(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<OrderResponse>, ApiError> {
    let order = state.fulfilment.order(&id)?;
    Ok(Json(order_response(&state, &order)?))
}

#[utoipa::path(post, path = "/api/v1/orders/{id}/payment", tag = "orders",
    request_body = PaymentRequest,
    responses((status = 200, body = OrderResponse, description = "recorded (or recorded before)"),
              (status = 409, body = Problem, description = "paid with another reference"),
              (status = 404, body = Problem)))]
pub async fn record_payment(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<PaymentRequest>,
) -> Result<Json<OrderResponse>, ApiError> {
    check_text("reference", &req.reference, 200).map_err(invalid)?;
    let order = state.fulfilment.record_payment(id, req.reference).await?;
    Ok(Json(order_response(&state, &order)?))
}

/// Filters and paging of the shipment list.
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    /// Only shipments in this status.
    status: Option<String>,
    /// Only shipments of this order.
    order_id: Option<String>,
    /// Page size, 1 to 500 (default 50).
    limit: Option<usize>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/shipments", tag = "shipments", params(ListParams),
    responses((status = 200, body = ShipmentList), (status = 422, body = Problem)))]
pub async fn list_shipments(
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Json<ShipmentList>, ApiError> {
    let status = params
        .status
        .as_deref()
        .map(|s| {
            ShipmentStatus::parse(s).ok_or_else(|| {
                ApiError::validation(format!(
                    "`status` must be one of: {}",
                    ShipmentStatus::ALL.map(|s| s.as_str()).join(", ")
                ))
            })
        })
        .transpose()?;
    let limit = params.limit.unwrap_or(LIST_LIMIT_DEFAULT);
    if limit == 0 || limit > LIST_LIMIT_MAX {
        return Err(ApiError::validation(format!(
            "`limit` must be between 1 and {LIST_LIMIT_MAX}"
        )));
    }
    let (page, next_cursor) = state.fulfilment.list_shipments(
        status,
        params.order_id.as_deref(),
        params.cursor.as_deref(),
        limit,
    )?;
    Ok(Json(ShipmentList {
        shipments: page.iter().map(ShipmentSummary::from).collect(),
        next_cursor,
    }))
}

fn shipment_response(state: &AppState, s: &domain::Shipment) -> Json<ShipmentResponse> {
    Json(ShipmentResponse::new(s, |t| {
        state.fulfilment.download_url(t)
    }))
}

#[utoipa::path(get, path = "/api/v1/shipments/{id}", tag = "shipments",
    responses((status = 200, body = ShipmentResponse), (status = 404, body = Problem)))]
pub async fn get_shipment(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ShipmentResponse>, ApiError> {
    Ok(shipment_response(&state, &state.fulfilment.shipment(&id)?))
}

#[utoipa::path(post, path = "/api/v1/shipments/{id}/items", tag = "shipments",
    request_body = ItemRequest,
    responses((status = 201, body = ItemResponse),
              (status = 409, body = Problem, description = "`already_prepared` or `invalid_state`")))]
pub async fn add_item(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<ItemRequest>,
) -> Result<impl IntoResponse, ApiError> {
    check_item(&req.label, &req.value).map_err(invalid)?;
    let item = state.fulfilment.add_item(id, req.label, req.value).await?;
    Ok((StatusCode::CREATED, Json(ItemResponse::from(&item))))
}

#[utoipa::path(delete, path = "/api/v1/shipments/{id}/items/{item_id}", tag = "shipments",
    responses((status = 204), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn remove_item(
    State(state): State<AppState>,
    Path((id, item_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    state.fulfilment.remove_item(id, item_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/shipments/{id}/prepare", tag = "shipments",
    responses((status = 200, body = ShipmentResponse, description = "prepared: final; the buyer is notified"),
              (status = 409, body = Problem, description = "`already_prepared` or `invalid_state`"),
              (status = 422, body = Problem, description = "`empty_shipment`")))]
pub async fn prepare(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ShipmentResponse>, ApiError> {
    let shipment = state.fulfilment.prepare(id).await?;
    Ok(shipment_response(&state, &shipment))
}

#[utoipa::path(post, path = "/api/v1/shipments/prepare", tag = "shipments",
    request_body = BulkPrepareRequest,
    responses((status = 200, body = BulkPrepareResponse, description = "each shipment's own outcome")))]
pub async fn prepare_many(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<BulkPrepareRequest>,
) -> Result<Json<BulkPrepareResponse>, ApiError> {
    if req.ids.is_empty() || req.ids.len() > BULK_IDS_MAX {
        return Err(ApiError::validation(format!(
            "`ids` must name 1 to {BULK_IDS_MAX} shipments"
        )));
    }
    let results = state.fulfilment.prepare_many(req.ids).await?;
    Ok(Json(BulkPrepareResponse {
        results: results
            .into_iter()
            .map(|(id, result)| match result {
                Ok(s) => BulkResult {
                    id,
                    status: Some(s.status().as_str()),
                    error: None,
                },
                Err(e) => {
                    let e = ApiError::from(e);
                    BulkResult {
                        id,
                        status: None,
                        error: Some(BulkError {
                            code: e.code,
                            detail: e.detail,
                        }),
                    }
                }
            })
            .collect(),
    }))
}

#[utoipa::path(post, path = "/api/v1/shipments/{id}/cancel", tag = "shipments",
    responses((status = 200, body = ShipmentResponse), (status = 409, body = Problem)))]
pub async fn cancel(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ShipmentResponse>, ApiError> {
    let shipment = state.fulfilment.cancel(id).await?;
    Ok(shipment_response(&state, &shipment))
}

#[utoipa::path(post, path = "/api/v1/shipments/{id}/revoke", tag = "shipments",
    responses((status = 200, body = ShipmentResponse, description = "downloads blocked"),
              (status = 409, body = Problem, description = "not prepared")))]
pub async fn revoke(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ShipmentResponse>, ApiError> {
    let shipment = state.fulfilment.revoke(id).await?;
    Ok(shipment_response(&state, &shipment))
}

#[utoipa::path(post, path = "/api/v1/shipments/{id}/resend", tag = "shipments",
    responses((status = 200, body = ShipmentResponse, description = "a new notification is enqueued"),
              (status = 409, body = Problem, description = "not prepared")))]
pub async fn resend(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ShipmentResponse>, ApiError> {
    let shipment = state.fulfilment.resend(id).await?;
    Ok(shipment_response(&state, &shipment))
}

#[utoipa::path(post, path = "/api/v1/shipments/{id}/downloads/reset", tag = "shipments",
    responses((status = 200, body = ShipmentResponse, description = "download counts back to zero"),
              (status = 409, body = Problem, description = "not prepared")))]
pub async fn reset_downloads(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ShipmentResponse>, ApiError> {
    let shipment = state.fulfilment.reset_downloads(id).await?;
    Ok(shipment_response(&state, &shipment))
}

#[utoipa::path(post, path = "/api/v1/shipments/{id}/link", tag = "shipments",
    responses((status = 200, body = ShipmentResponse, description = "a new link (new expiry) is issued and e-mailed; the old one stops working"),
              (status = 409, body = Problem, description = "not prepared, or revoked")))]
pub async fn reissue_link(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ShipmentResponse>, ApiError> {
    let shipment = state.fulfilment.reissue_link(id).await?;
    Ok(shipment_response(&state, &shipment))
}
