//! Buyer notifications: rendered into the outbox in the preparing transaction,
//! delivered by a worker over SMTP (or to the log), retried until accepted.

pub mod mailer;
pub mod message;
pub mod worker;
