//! Personalization use cases: queueing a shipment for its product's plugin,
//! what a run needs to know, and taking a finished run's result, exactly
//! once, in one write (with `auto_prepare`, that same write prepares the
//! shipment and enqueues the buyer's e-mail).
//!
//! The job table is the source of truth: a job is queued in the write that
//! records the payment (or a retry), and deleted in the write that takes its
//! result. A run whose job was re-queued or deleted meanwhile (a retry, a
//! cancel, a restart that ran it again) is stale, and its output is dropped.

use super::{FulfilError, Fulfilment, Preparer};
use crate::blobs::{self, Ingested};
use crate::domain::{
    FileRef, Order, PluginOutput, PluginRef, Product, RunFailure, RunRecord, Shipment,
    ShipmentError, ShipmentStatus,
};
use crate::plugins::{RegistryError, RunContext};
use crate::store::{FileMetaRecord, Source, StoreError, Tx};

/// Everything one run of a queued job needs.
#[derive(Debug, Clone)]
pub struct JobPlan {
    pub shipment_id: String,
    /// The job's ticket when planned; the result is taken only if it still matches.
    pub ticket: u64,
    /// The plugin's registry name.
    pub plugin: String,
    pub context: RunContext,
    /// The product's files, read by the plugin as its sources.
    pub sources: Vec<FileRef>,
}

/// One output file, stored as an upload not yet committed.
pub struct StoredOutput {
    pub ingested: Ingested,
    pub name: String,
    pub content_type: String,
}

/// How a run ended.
pub enum RunOutcome {
    Succeeded {
        items: Vec<(String, String)>,
        outputs: Vec<StoredOutput>,
        run: RunRecord,
    },
    Failed {
        failure: RunFailure,
        run: RunRecord,
        /// Outputs stored before the failure: discarded.
        outputs: Vec<StoredOutput>,
    },
}

/// What taking a run's result did.
#[derive(Debug)]
pub enum Finished {
    /// The result is on the shipment (succeeded or failed).
    Recorded(Box<Shipment>),
    /// The job was re-queued, cancelled or finished by another run: nothing changed.
    Stale,
}

/// The plugin a product runs, if it is personalized by one.
fn plugin_of(product: &Product) -> Option<&PluginRef> {
    product.plugin.as_ref()
}

/// Queues `shipment`'s personalization by `plugin` inside `tx`.
fn queue(
    tx: &mut Tx<'_>,
    shipment: &mut Shipment,
    plugin: &str,
    now: time::OffsetDateTime,
) -> Result<u64, FulfilError> {
    shipment.queue_personalization(plugin, now)?;
    tx.put_shipment(shipment)?;
    Ok(tx.queue_job(&shipment.data().id, plugin, now)?)
}

impl Preparer {
    /// After payment: queues a personalized shipment whose product has a
    /// plugin. Answers whether it did.
    pub(super) fn queue_if_plugin(
        &self,
        tx: &mut Tx<'_>,
        order: &Order,
        shipment: &mut Shipment,
        now: time::OffsetDateTime,
    ) -> Result<bool, FulfilError> {
        let Some(line) = shipment
            .data()
            .line_indexes
            .first()
            .and_then(|&i| order.lines.get(i as usize))
        else {
            return Ok(false);
        };
        let product = tx
            .product(&line.sku)?
            .unwrap_or_else(|| line.product.clone());
        match plugin_of(&product).or(plugin_of(&line.product)) {
            Some(plugin) if shipment.data().kind == crate::domain::ProductKind::Personalized => {
                queue(tx, shipment, &plugin.name, now)?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}

impl Fulfilment {
    /// Runs the product's plugin again (`POST /shipments/{id}/personalize`):
    /// queues the shipment and answers it with the job's ticket.
    pub async fn queue_personalization(&self, id: String) -> Result<(Shipment, u64), FulfilError> {
        let now = self.clock.now();
        let result = self
            .store
            .write(move |tx| {
                let mut shipment = tx.shipment(&id)?.ok_or(FulfilError::NotFound("shipment"))?;
                shipment.check_editable()?;
                let (product, _) = product_and_line(tx, &shipment)?;
                let plugin = plugin_of(&product).ok_or_else(|| {
                    FulfilError::Validation(
                        "this shipment's product has no plugin: attach its content by hand".into(),
                    )
                })?;
                let ticket = queue(tx, &mut shipment, &plugin.name, now)?;
                Ok::<_, FulfilError>((shipment, ticket))
            })
            .await?;
        self.jobs_wake.notify_one();
        Ok(result)
    }

    /// What the run of `shipment_id`'s queued job needs; `None` when no job
    /// is queued for it.
    pub fn plan_personalization(&self, shipment_id: &str) -> Result<Option<JobPlan>, FulfilError> {
        let reader = self.store.read()?;
        let Some(job) = reader.job(shipment_id)? else {
            return Ok(None);
        };
        let shipment = reader.shipment(shipment_id)?.ok_or_else(|| {
            StoreError::Corrupt(format!("a job names missing shipment {shipment_id}"))
        })?;
        let (product, line) = product_and_line(&reader, &shipment)?;
        let d = shipment.data();
        let issued_at = d.paid_at.unwrap_or(d.created_at);
        let config_json = plugin_of(&product)
            .filter(|p| p.name == job.plugin)
            .map_or_else(|| "{}".to_owned(), |p| p.config_json.clone());
        Ok(Some(JobPlan {
            shipment_id: shipment_id.to_owned(),
            ticket: job.ticket,
            plugin: job.plugin,
            context: RunContext {
                order_id: d.order_id.clone(),
                shipment_id: d.id.clone(),
                issued_at: issued_at
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default(),
                sku: line.sku.clone(),
                product_name: product.name.clone(),
                quantity: line.quantity,
                options_json: line.options_json.clone(),
                buyer_name: d.buyer.name.clone(),
                buyer_email: d.buyer.email.clone(),
                config_json,
            },
            sources: product.files.clone(),
        }))
    }

    /// Takes a finished run's result, if its job (with `ticket`) is still
    /// the queued one: attaches the output (and prepares the shipment when
    /// its product says `auto_prepare`) or records the failure. Exactly once:
    /// the job is deleted in the same write.
    pub async fn finish_personalization(
        &self,
        shipment_id: String,
        ticket: u64,
        outcome: RunOutcome,
    ) -> Result<Finished, FulfilError> {
        let now = self.clock.now();
        let preparer = self.preparer.clone();
        let finished = self
            .store
            .write(move |tx| {
                let current = tx
                    .job(&shipment_id)?
                    .is_some_and(|job| job.ticket == ticket);
                let shipment = tx.shipment(&shipment_id)?;
                let (Some(mut shipment), true) = (shipment, current) else {
                    discard(tx, outcome);
                    return Ok(Finished::Stale);
                };
                tx.delete_job(&shipment_id);
                if shipment.status() != ShipmentStatus::InPreparation {
                    // Cancelled (or prepared by hand) while queued: the job
                    // should be gone already; nothing to attach either way.
                    discard(tx, outcome);
                    return Ok(Finished::Stale);
                }
                match outcome {
                    RunOutcome::Succeeded {
                        items,
                        outputs,
                        run,
                    } => {
                        let files: Vec<FileRef> = outputs
                            .iter()
                            .map(|o| FileRef {
                                id: o.ingested.id.clone(),
                                name: o.name.clone(),
                                size: o.ingested.size,
                                content_type: o.content_type.clone(),
                            })
                            .collect();
                        let output = PluginOutput {
                            items,
                            files: files.clone(),
                        };
                        let (removed, skipped) =
                            match shipment.apply_personalization(output, run.clone(), now) {
                                Ok(changes) => changes,
                                // More items than a shipment carries (the seller's
                                // plus the plugin's): a failed run, not a stuck job.
                                Err(ShipmentError::TooManyItems) => {
                                    for output in outputs {
                                        output.ingested.discard(tx);
                                    }
                                    shipment.fail_personalization(
                                        RunFailure {
                                            code: "too_many_items".to_owned(),
                                            message: ShipmentError::TooManyItems.to_string(),
                                        },
                                        run,
                                        now,
                                    )?;
                                    tx.put_shipment(&shipment)?;
                                    return Ok(Finished::Recorded(Box::new(shipment)));
                                }
                                Err(e) => return Err(e.into()),
                            };
                        for output in outputs {
                            let meta = FileMetaRecord {
                                name: output.name,
                                content_type: output.content_type,
                                uploaded_at: now,
                            };
                            output.ingested.commit(tx, &meta, now)?;
                        }
                        for file in files.iter().filter(|f| !skipped.contains(f)) {
                            blobs::add_ref(tx, &file.id)?;
                        }
                        for file in &removed {
                            blobs::release_ref(tx, &file.file.id, now)?;
                        }
                        if shipment.data().auto_prepare && shipment.has_content() {
                            preparer.prepare(tx, &mut shipment, now)?;
                        } else {
                            tx.put_shipment(&shipment)?;
                        }
                    }
                    RunOutcome::Failed {
                        failure,
                        run,
                        outputs,
                    } => {
                        for output in outputs {
                            output.ingested.discard(tx);
                        }
                        shipment.fail_personalization(failure, run, now)?;
                        tx.put_shipment(&shipment)?;
                    }
                }
                Ok::<_, FulfilError>(Finished::Recorded(Box::new(shipment)))
            })
            .await?;
        self.outbox_wake.notify_one();
        Ok(finished)
    }

    /// Whether plugin `name` is installed.
    pub(super) fn check_plugin_installed(&self, name: &str) -> Result<(), FulfilError> {
        match self.registry.get(name) {
            Ok(Some(_)) => Ok(()),
            Ok(None) => Err(FulfilError::Validation(format!(
                "plugin `{name}` is not installed; install it with PUT /api/v1/plugins/{name} or `waybill plugins add`"
            ))),
            Err(RegistryError::Store(e)) => Err(e.into()),
            Err(e) => Err(FulfilError::Validation(e.to_string())),
        }
    }
}

/// The current product of a personalized shipment (its order-time snapshot
/// if it no longer exists) and the order line it delivers.
fn product_and_line(
    src: &impl Source,
    shipment: &Shipment,
) -> Result<(Product, crate::domain::OrderLine), FulfilError> {
    let d = shipment.data();
    let order = src.order(&d.order_id)?.ok_or_else(|| {
        StoreError::Corrupt(format!("shipment names missing order {}", d.order_id))
    })?;
    let line = d
        .line_indexes
        .first()
        .and_then(|&i| order.lines.get(i as usize))
        .cloned()
        .ok_or_else(|| StoreError::Corrupt(format!("shipment {} names no order line", d.id)))?;
    let product = src
        .product(&line.sku)?
        .unwrap_or_else(|| line.product.clone());
    Ok((product, line))
}

/// Drops a run's stored outputs.
fn discard(tx: &mut Tx<'_>, outcome: RunOutcome) {
    let outputs = match outcome {
        RunOutcome::Succeeded { outputs, .. } | RunOutcome::Failed { outputs, .. } => outputs,
    };
    for output in outputs {
        output.ingested.discard(tx);
    }
}
