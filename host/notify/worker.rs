//! The outbox worker: delivers queued notifications in order, retrying with
//! backoff; a message leaves the outbox only once the mail server took it.
//!
//! At most once per enqueued message as far as this process can tell: the
//! only window for a repeat is a crash between the server's "250 OK" and the
//! durable removal, and then the repeat carries the same `Message-ID`.

use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;
use tokio::sync::{Notify, watch};

use super::mailer::Mailer;
use crate::clock::Clock;
use crate::store::{OutboxMessage, Source, Store, StoreError};

/// First retry delay; doubles per failed attempt.
const RETRY_DELAY_SECS_MIN: i64 = 1;
/// Longest retry delay.
const RETRY_DELAY_SECS_MAX: i64 = 300;
/// Longest sleep between outbox scans when nothing wakes the worker.
const IDLE_POLL_SECS: u64 = 30;
/// Messages read per scan.
const SCAN_MESSAGES_MAX: usize = 64;

/// Delay before the next attempt after `attempts` failures.
pub fn retry_delay_secs(attempts: u32) -> i64 {
    let exp = attempts.saturating_sub(1).min(20);
    (RETRY_DELAY_SECS_MIN << exp).min(RETRY_DELAY_SECS_MAX)
}

/// Runs until `shutdown` turns true.
pub async fn run(
    store: Store,
    mailer: Mailer,
    host_id: String,
    clock: Arc<dyn Clock>,
    wake: Arc<Notify>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        if *shutdown.borrow() {
            return;
        }
        let sleep = match deliver_due(&store, &mailer, &host_id, clock.as_ref(), &shutdown).await {
            Ok(next) => next,
            Err(e) => {
                tracing::error!(error = %e, "outbox scan failed; retrying");
                Duration::from_secs(RETRY_DELAY_SECS_MIN as u64)
            }
        };
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(sleep) => {}
            _ = shutdown.changed() => {}
        }
    }
}

/// Sends every due message; returns how long to sleep until the next is due.
async fn deliver_due(
    store: &Store,
    mailer: &Mailer,
    host_id: &str,
    clock: &dyn Clock,
    shutdown: &watch::Receiver<bool>,
) -> Result<Duration, StoreError> {
    let messages = store.read()?.outbox(SCAN_MESSAGES_MAX)?;
    let mut next_due: Option<OffsetDateTime> = None;
    let full_scan = messages.len() == SCAN_MESSAGES_MAX;
    for (seq, msg) in messages {
        if *shutdown.borrow() {
            break;
        }
        let now = clock.now();
        if msg.next_attempt_at > now {
            next_due = Some(next_due.map_or(msg.next_attempt_at, |d| d.min(msg.next_attempt_at)));
            continue;
        }
        let message_id = format!("<waybill.{seq}.{}@{host_id}>", msg.shipment_id);
        let outcome = mailer.send(&msg, &message_id).await.map_err(|e| e.0);
        if let Err(error) = &outcome {
            tracing::warn!(seq, to = %msg.to_email, error = %error, "notification not delivered; will retry");
        }
        let done = clock.now();
        let retry_at = record_attempt(store, seq, msg, outcome, done).await?;
        if let Some(at) = retry_at {
            next_due = Some(next_due.map_or(at, |d| d.min(at)));
        }
    }
    if full_scan {
        return Ok(Duration::ZERO);
    }
    let now = clock.now();
    Ok(match next_due {
        Some(at) if at <= now => Duration::ZERO,
        Some(at) => Duration::from_secs_f64((at - now).as_seconds_f64())
            .min(Duration::from_secs(IDLE_POLL_SECS)),
        None => Duration::from_secs(IDLE_POLL_SECS),
    })
}

/// Durably records one attempt: removes the message on success, or schedules
/// the retry; mirrors the outcome on the shipment for the seller.
async fn record_attempt(
    store: &Store,
    seq: u64,
    mut msg: OutboxMessage,
    outcome: Result<(), String>,
    now: OffsetDateTime,
) -> Result<Option<OffsetDateTime>, StoreError> {
    store
        .write(move |tx| {
            if tx.outbox_message(seq)?.is_none() {
                return Ok(None);
            }
            if let Some(mut shipment) = tx.shipment(&msg.shipment_id)? {
                shipment.record_notification_attempt(now, outcome.clone());
                tx.put_shipment(&shipment)?;
            }
            match outcome {
                Ok(()) => {
                    tx.remove_outbox(seq);
                    Ok(None)
                }
                Err(error) => {
                    msg.attempts += 1;
                    msg.last_error = Some(error);
                    msg.next_attempt_at =
                        now + time::Duration::seconds(retry_delay_secs(msg.attempts));
                    let at = msg.next_attempt_at;
                    tx.update_outbox(seq, &msg);
                    Ok::<_, StoreError>(Some(at))
                }
            }
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::retry_delay_secs;

    #[test]
    fn backoff_doubles_and_caps() {
        let delays: Vec<i64> = (1..=12).map(retry_delay_secs).collect();
        assert_eq!(&delays[..5], &[1, 2, 4, 8, 16]);
        assert_eq!(delays[11], 300);
        assert_eq!(retry_delay_secs(u32::MAX), 300);
    }
}
