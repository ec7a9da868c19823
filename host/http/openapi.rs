//! The OpenAPI document, generated from the handlers' annotations.

use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{api, buyer, download, files, plugins};

#[derive(OpenApi)]
#[openapi(
    info(title = "Waybill", description = "Fulfilment of personalized digital products. Every `/api/v1` call needs `Authorization: Bearer <api key>`; errors are RFC 9457 problem documents."),
    paths(
        api::put_product, api::get_product,
        api::create_order, api::get_order, api::record_payment,
        api::list_shipments, api::get_shipment, api::add_item, api::remove_item,
        api::prepare, api::prepare_many, api::cancel, api::revoke, api::resend,
        api::reset_downloads, api::reissue_link,
        plugins::install, plugins::list, plugins::get, plugins::personalize,
        files::upload, files::get, files::attach, files::detach,
        buyer::open_link, buyer::accept_waiver, buyer::public_keys, download::download,
    ),
    modifiers(&BearerAuth),
    security(("api_key" = []))
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The document as a value.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// `GET /api/v1/openapi.json`.
pub async fn serve() -> Json<utoipa::openapi::OpenApi> {
    Json(document())
}
