//! Sends one rendered message: by SMTP (lettre) or, without SMTP configured, to the log.

use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::store::OutboxMessage;

/// How long one SMTP conversation may take.
const SMTP_TIMEOUT_SECS: u64 = 30;

/// Where buyer notifications go.
pub enum Mailer {
    /// Written to the log: the default until SMTP is configured.
    Log { from: Mailbox },
    /// Sent to an SMTP server.
    Smtp {
        from: Mailbox,
        transport: AsyncSmtpTransport<Tokio1Executor>,
    },
}

/// A message the mail server did not take; the text is kept for the seller.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SendError(pub String);

impl Mailer {
    /// A mailer for `smtp_url` (`None`: the log), sending from `from`.
    pub fn new(smtp_url: Option<&str>, from: &str) -> Result<Mailer, SendError> {
        let from: Mailbox = from
            .parse()
            .map_err(|e| SendError(format!("invalid sender address `{from}`: {e}")))?;
        Ok(match smtp_url {
            None => Mailer::Log { from },
            Some(url) => Mailer::Smtp {
                from,
                transport: AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .map_err(|e| SendError(format!("invalid SMTP URL: {e}")))?
                    .timeout(Some(Duration::from_secs(SMTP_TIMEOUT_SECS)))
                    .build(),
            },
        })
    }

    /// Sends one message. `message_id` is stable per outbox entry, so a
    /// receiving system can recognise a repeat.
    pub async fn send(&self, msg: &OutboxMessage, message_id: &str) -> Result<(), SendError> {
        match self {
            Mailer::Log { from } => {
                tracing::info!(
                    target: "waybill::mail",
                    from = %from,
                    to = %msg.to_email,
                    subject = %msg.subject,
                    "mail (no --smtp-url configured, so written here):\n{}",
                    msg.text_body
                );
                Ok(())
            }
            Mailer::Smtp { from, transport } => {
                let email = build(from, msg, message_id)?;
                transport
                    .send(email)
                    .await
                    .map(|_| ())
                    .map_err(|e| SendError(format!("SMTP: {e}")))
            }
        }
    }
}

fn build(from: &Mailbox, msg: &OutboxMessage, message_id: &str) -> Result<Message, SendError> {
    let to = Mailbox::new(
        (!msg.to_name.trim().is_empty()).then(|| msg.to_name.clone()),
        msg.to_email
            .parse()
            .map_err(|e| SendError(format!("invalid recipient `{}`: {e}", msg.to_email)))?,
    );
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(msg.subject.clone())
        .message_id(Some(message_id.to_owned()))
        .multipart(MultiPart::alternative_plain_html(
            msg.text_body.clone(),
            msg.html_body.clone(),
        ))
        .map_err(|e| SendError(format!("cannot build the message: {e}")))
}
