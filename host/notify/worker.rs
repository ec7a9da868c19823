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
/// Messages sent at once (separate SMTP connections from lettre's pool).
const SEND_CONCURRENCY: usize = 8;

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
    let full_scan = messages.len() == SCAN_MESSAGES_MAX;
    let now = clock.now();
    let mut next_due: Option<OffsetDateTime> = None;
    let mut due = Vec::new();
    for (seq, msg) in messages {
        if msg.next_attempt_at > now {
            next_due = Some(next_due.map_or(msg.next_attempt_at, |d| d.min(msg.next_attempt_at)));
        } else {
            due.push((seq, msg));
        }
    }
    for group in due.chunks(SEND_CONCURRENCY) {
        if *shutdown.borrow() {
            break;
        }
        let sends = group.iter().map(|(seq, msg)| async move {
            let message_id = format!("<waybill.{seq}.{}@{host_id}>", msg.shipment_id);
            let outcome = mailer.send(msg, &message_id).await.map_err(|e| e.0);
            if let Err(error) = &outcome {
                tracing::warn!(seq, to = %msg.to_email, error = %error, "notification not delivered; will retry");
            }
            outcome
        });
        let outcomes = futures_util::future::join_all(sends).await;
        let attempts: Vec<Attempt> = group
            .iter()
            .cloned()
            .zip(outcomes)
            .map(|((seq, msg), outcome)| Attempt { seq, msg, outcome })
            .collect();
        for at in record_attempts(store, attempts, clock.now()).await? {
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

/// One delivery attempt and how it went.
struct Attempt {
    seq: u64,
    msg: OutboxMessage,
    outcome: Result<(), String>,
}

/// Durably records a group of attempts in one write: removes the delivered
/// messages, schedules retries, and mirrors each outcome on its shipment for
/// the seller. Returns the retry times.
async fn record_attempts(
    store: &Store,
    attempts: Vec<Attempt>,
    now: OffsetDateTime,
) -> Result<Vec<OffsetDateTime>, StoreError> {
    store
        .write(move |tx| {
            let mut retries = Vec::new();
            for Attempt {
                seq,
                mut msg,
                outcome,
            } in attempts
            {
                if tx.outbox_message(seq)?.is_none() {
                    continue;
                }
                if let Some(mut shipment) = tx.shipment(&msg.shipment_id)? {
                    shipment.record_notification_attempt(now, outcome.clone());
                    tx.put_shipment(&shipment)?;
                }
                match outcome {
                    Ok(()) => tx.remove_outbox(seq),
                    Err(error) => {
                        msg.attempts += 1;
                        msg.last_error = Some(error);
                        msg.next_attempt_at =
                            now + time::Duration::seconds(retry_delay_secs(msg.attempts));
                        retries.push(msg.next_attempt_at);
                        tx.update_outbox(seq, &msg);
                    }
                }
            }
            Ok::<_, StoreError>(retries)
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
