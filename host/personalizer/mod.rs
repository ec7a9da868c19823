//! The personalization worker: takes queued jobs from the store's job table,
//! runs each shipment's plugin in the sandbox (at most
//! `plugin_runs_concurrent_max` at once, each on a blocking thread, so
//! requests keep being served), and hands the result to
//! [`Fulfilment::finish_personalization`].
//!
//! Jobs survive restarts: a run cut off by a stop is simply run again on the
//! next start (same shipment, same seeded randomness, same result), and the
//! write that takes a result also deletes the job, so each queueing is
//! applied exactly once.

mod blob_io;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Semaphore, broadcast, watch};

pub use blob_io::{BlobSink, BlobSource, SinkOutputs};

use crate::domain::{RunFailure, RunRecord};
use crate::fulfilment::{Finished, Fulfilment, JobPlan, RunOutcome};
use crate::plugins::{LogLine, RunError, RunFailed, RunReport, SourceBytes};

/// How long the worker sleeps when idle before looking at the table again
/// (it is woken at once when a job is queued).
const IDLE_RECHECK: Duration = Duration::from_secs(30);
/// Pause before a job whose run could not even be recorded is tried again.
const RETRY_AFTER_HOST_ERROR: Duration = Duration::from_secs(5);

/// A finished personalization, announced to whoever waits for it.
#[derive(Debug, Clone)]
pub struct Done {
    pub shipment_id: String,
    pub ticket: u64,
}

/// Runs the worker until `stop` turns true. `done` announces each job
/// whose result was recorded.
pub async fn run(
    fulfilment: Fulfilment,
    runs_max: usize,
    done: broadcast::Sender<Done>,
    mut stop: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(runs_max));
    let running: Arc<Mutex<HashSet<String>>> = Arc::default();
    let wake = fulfilment.jobs_wake().clone();
    loop {
        if *stop.borrow() {
            break;
        }
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
            _ = stop.changed() => break,
        };
        let next = {
            let running = running.lock().expect("lock").clone();
            fulfilment
                .store()
                .read()
                .and_then(|r| r.jobs(&|id| running.contains(id), 1))
        };
        match next {
            Ok(mut jobs) if !jobs.is_empty() => {
                let (shipment_id, _) = jobs.remove(0);
                running.lock().expect("lock").insert(shipment_id.clone());
                let (fulfilment, running, done) =
                    (fulfilment.clone(), running.clone(), done.clone());
                tokio::spawn(async move {
                    let recorded = run_job(&fulfilment, &shipment_id).await;
                    match recorded {
                        Ok(Some(finished)) => {
                            let _ = done.send(finished);
                        }
                        Ok(None) => {}
                        Err(e) => {
                            tracing::error!(shipment = shipment_id, "personalization: {e}");
                            tokio::time::sleep(RETRY_AFTER_HOST_ERROR).await;
                        }
                    }
                    running.lock().expect("lock").remove(&shipment_id);
                    drop(slot);
                    fulfilment.jobs_wake().notify_one();
                });
            }
            Ok(_) => {
                drop(slot);
                tokio::select! {
                    _ = wake.notified() => {}
                    _ = tokio::time::sleep(IDLE_RECHECK) => {}
                    _ = stop.changed() => break,
                }
            }
            Err(e) => {
                drop(slot);
                tracing::error!("reading personalization jobs: {e}");
                tokio::select! {
                    _ = tokio::time::sleep(RETRY_AFTER_HOST_ERROR) => {}
                    _ = stop.changed() => break,
                }
            }
        }
    }
}

/// Runs one job and records its result; `None` if there was nothing to do
/// or the result was stale.
async fn run_job(fulfilment: &Fulfilment, shipment_id: &str) -> Result<Option<Done>, String> {
    let Some(plan) = fulfilment
        .plan_personalization(shipment_id)
        .map_err(|e| e.to_string())?
    else {
        return Ok(None);
    };
    let (ticket, plugin_name) = (plan.ticket, plan.plugin.clone());
    let outcome = execute(fulfilment, plan).await;
    if let RunOutcome::Failed { failure, .. } = &outcome {
        tracing::warn!(
            shipment = shipment_id,
            plugin = plugin_name,
            code = failure.code,
            "personalization failed: {}",
            failure.message
        );
    }
    match fulfilment
        .finish_personalization(shipment_id.to_owned(), ticket, outcome)
        .await
        .map_err(|e| e.to_string())?
    {
        Finished::Recorded(shipment) => {
            tracing::info!(
                shipment = shipment_id,
                plugin = plugin_name,
                status = shipment.status().as_str(),
                "personalization finished"
            );
            Ok(Some(Done {
                shipment_id: shipment_id.to_owned(),
                ticket,
            }))
        }
        Finished::Stale => Ok(None),
    }
}

/// Loads the plugin, opens the sources, runs, and stores the outputs.
async fn execute(fulfilment: &Fulfilment, plan: JobPlan) -> RunOutcome {
    let registry = fulfilment.registry().clone();
    let failed = |error: RunError| RunOutcome::Failed {
        failure: failure_of(&error),
        run: RunRecord::default(),
        outputs: Vec::new(),
    };
    let record = match registry.get(&plan.plugin) {
        Ok(Some(record)) => record,
        Ok(None) => {
            return failed(RunError::Invalid(format!(
                "plugin `{}` is not installed",
                plan.plugin
            )));
        }
        Err(e) => return failed(RunError::Io(e.to_string())),
    };
    let mut sources: Vec<Box<dyn SourceBytes>> = Vec::with_capacity(plan.sources.len());
    for file in &plan.sources {
        match BlobSource::open(fulfilment.blobs(), file) {
            Ok(source) => sources.push(Box::new(source)),
            Err(e) => {
                return failed(RunError::Io(format!(
                    "the product file {:?} ({}) cannot be read: {e}",
                    file.name, file.id
                )));
            }
        }
    }
    let (sink, outputs) = BlobSink::new(
        fulfilment.blobs().clone(),
        tokio::runtime::Handle::current(),
        registry.sandbox().limits().output_bytes_max,
        fulfilment.now(),
    );
    let context = plan.context;
    let version = record.hash.clone();
    let result = tokio::task::spawn_blocking(move || {
        let plugin = registry.load(&record).map_err(|error| {
            Box::new(RunFailed {
                error,
                fuel_used: 0,
                peak_memory_bytes: 0,
                wall_time: Duration::ZERO,
                stdout: String::new(),
                stderr: String::new(),
                logs: Vec::new(),
            })
        })?;
        registry
            .sandbox()
            .run(&plugin, &context, sources, Box::new(sink))
    })
    .await;
    let (stored, store_error) = outputs.collect().await;
    match result {
        Ok(Ok(report)) => match store_error {
            None => RunOutcome::Succeeded {
                run: run_record(&version, &report),
                items: report.items,
                outputs: stored,
            },
            Some(e) => RunOutcome::Failed {
                failure: failure_of(&RunError::Io(format!("storing an output: {e}"))),
                run: run_record(&version, &report),
                outputs: stored,
            },
        },
        Ok(Err(failed)) => RunOutcome::Failed {
            failure: failure_of(&failed.error),
            run: failed_record(&version, &failed),
            outputs: stored,
        },
        Err(e) => RunOutcome::Failed {
            failure: failure_of(&RunError::Io(format!("the run's thread failed: {e}"))),
            run: RunRecord::default(),
            outputs: stored,
        },
    }
}

fn failure_of(error: &RunError) -> RunFailure {
    RunFailure {
        code: error.code().to_owned(),
        message: error.to_string(),
    }
}

fn log_text(logs: &[LogLine]) -> String {
    logs.iter()
        .map(|l| format!("{}: {}\n", l.level, l.message))
        .collect()
}

fn run_record(version: &str, report: &RunReport) -> RunRecord {
    record(
        version,
        report.fuel_used,
        report.wall_time,
        [&report.stdout, &report.stderr],
        &report.logs,
    )
}

fn failed_record(version: &str, failed: &RunFailed) -> RunRecord {
    record(
        version,
        failed.fuel_used,
        failed.wall_time,
        [&failed.stdout, &failed.stderr],
        &failed.logs,
    )
}

fn record(
    version: &str,
    fuel_used: u64,
    wall_time: Duration,
    [stdout, stderr]: [&str; 2],
    logs: &[LogLine],
) -> RunRecord {
    RunRecord {
        plugin_version: version.to_owned(),
        fuel_used,
        wall_time_ms: wall_time.as_millis() as u64,
        stdout: stdout.to_owned(),
        stderr: stderr.to_owned(),
        log: log_text(logs),
    }
}
