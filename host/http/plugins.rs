//! The plugin API: install a component under a name, list what is
//! installed, and run a shipment's plugin again.

use std::time::Duration;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;

use super::AppState;
use super::dto::{PluginList, PluginResponse, ShipmentResponse};
use super::error::{ApiError, Problem};
use crate::domain::PersonalizationStatus;
use crate::plugins::{PLUGIN_BYTES_MAX, RegistryError, RunError};

impl From<RegistryError> for ApiError {
    fn from(e: RegistryError) -> Self {
        match e {
            RegistryError::Validation(m) => ApiError::validation(m),
            RegistryError::Refused(RunError::Invalid(m)) => {
                ApiError::validation(format!("the component was refused: {m}"))
            }
            RegistryError::NotInstalled(_) => ApiError::not_found("plugin"),
            RegistryError::Store(e) => crate::fulfilment::FulfilError::Store(e).into(),
            RegistryError::Blob(e) => e.into(),
            RegistryError::Refused(e) => {
                tracing::error!(error = %e, "installing a plugin failed");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal_error",
                    format!("the server could not install the plugin: {e}"),
                )
            }
        }
    }
}

fn response(state: &AppState, record: &crate::store::PluginRecord) -> PluginResponse {
    PluginResponse::new(record, state.fulfilment.registry().is_loaded(&record.hash))
}

#[utoipa::path(put, path = "/api/v1/plugins/{name}", tag = "plugins",
    request_body(content = Vec<u8>, description = "the component (`.wasm` built for wasm32-wasip2)", content_type = "application/wasm"),
    responses((status = 201, body = PluginResponse, description = "installed"),
              (status = 200, body = PluginResponse, description = "a new version replaced the one installed under this name"),
              (status = 413, body = Problem, description = "`payload_too_large`"),
              (status = 422, body = Problem, description = "`validation_failed`: not a component, another world, or imports the host does not offer")))]
pub async fn install(
    State(state): State<AppState>,
    Path(name): Path<String>,
    body: Body,
) -> Result<impl IntoResponse, ApiError> {
    crate::plugins::check_name(&name)?;
    let bytes = axum::body::to_bytes(body, PLUGIN_BYTES_MAX as usize)
        .await
        .map_err(|_| {
            ApiError::from(crate::blobs::BlobError::TooLarge {
                limit_bytes: PLUGIN_BYTES_MAX,
            })
        })?;
    let (record, created) = state
        .fulfilment
        .registry()
        .install(&name, bytes.to_vec(), state.fulfilment.now())
        .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(response(&state, &record))))
}

#[utoipa::path(get, path = "/api/v1/plugins", tag = "plugins",
    responses((status = 200, body = PluginList)))]
pub async fn list(State(state): State<AppState>) -> Result<Json<PluginList>, ApiError> {
    let plugins = state.fulfilment.registry().list()?;
    Ok(Json(PluginList {
        plugins: plugins.iter().map(|p| response(&state, p)).collect(),
    }))
}

#[utoipa::path(get, path = "/api/v1/plugins/{name}", tag = "plugins",
    responses((status = 200, body = PluginResponse), (status = 404, body = Problem)))]
pub async fn get(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<PluginResponse>, ApiError> {
    let record = state
        .fulfilment
        .registry()
        .get(&name)?
        .ok_or_else(|| ApiError::not_found("plugin"))?;
    Ok(Json(response(&state, &record)))
}

/// How long a retry waits for its run beyond the plugin's own wall-time limit.
const PERSONALIZE_WAIT_EXTRA: Duration = Duration::from_secs(60);

#[utoipa::path(post, path = "/api/v1/shipments/{id}/personalize", tag = "shipments",
    responses((status = 200, body = ShipmentResponse, description = "the plugin ran again; its items and files replace the last run's (still `queued` if the queue is long)"),
              (status = 409, body = Problem, description = "`already_prepared` or `invalid_state`"),
              (status = 422, body = Problem, description = "`plugin_failed`: the run failed (the shipment shows why), or `validation_failed`: the product has no plugin")))]
pub async fn personalize(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ShipmentResponse>, ApiError> {
    let mut done = state.personalized.subscribe();
    let (_, ticket) = state.fulfilment.queue_personalization(id.clone()).await?;
    let wait = Duration::from_millis(
        state
            .fulfilment
            .registry()
            .sandbox()
            .limits()
            .wall_time_ms_max,
    ) + PERSONALIZE_WAIT_EXTRA;
    let _ = tokio::time::timeout(wait, async {
        loop {
            match done.recv().await {
                Ok(d) if d.shipment_id == id && d.ticket == ticket => break,
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                    // Lagged: our announcement may be among those missed.
                    if !is_queued(&state, &id, ticket) {
                        break;
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            }
        }
    })
    .await;
    let shipment = state.fulfilment.shipment(&id)?;
    if let Some(p) = &shipment.data().personalization
        && p.status == PersonalizationStatus::Failed
        && let Some(failure) = &p.failure
    {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "plugin_failed",
            format!(
                "plugin `{}` failed [{}]: {}; the shipment stays in preparation",
                p.plugin, failure.code, failure.message
            ),
        ));
    }
    Ok(Json(ShipmentResponse::new(&shipment, |t| {
        state.fulfilment.download_url(t)
    })))
}

/// Whether the job with `ticket` is still waiting or running.
fn is_queued(state: &AppState, id: &str, ticket: u64) -> bool {
    use crate::store::Source as _;
    state
        .store
        .read()
        .and_then(|r| r.job(id))
        .ok()
        .flatten()
        .is_some_and(|job| job.ticket == ticket)
}
