//! Email notifications: composing mails, sending them (SMTP, or `.eml` files when no
//! SMTP server is configured), and the worker that drains the outbox.

pub mod compose;
pub mod direct;
pub mod links;
pub mod worker;

use std::path::Path;
use std::time::Duration;

use lettre::transport::smtp::PoolConfig;
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

/// How a send failed, which decides what the worker does next.
#[derive(Debug)]
pub enum SendError {
    /// Try again later (connection refused, 4xx, timeout).
    Temporary(String),
    /// The server refused this mail for good (5xx): do not retry.
    Permanent(String),
}

pub enum Transport {
    /// `smtp://`: Herald's own connections with TCP_NODELAY (see `direct`).
    Direct(direct::DirectSmtp),
    /// `smtps://` (TLS from the first byte): lettre's transport.
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    /// No SMTP server configured: each mail becomes a file under the data dir.
    Files(AsyncFileTransport<Tokio1Executor>),
}

impl Transport {
    /// `smtp://host:port` (STARTTLS with `?tls=required`), `smtps://user:pass@host`
    /// (implicit TLS); `None` writes `.eml` files into `outbox_dir`.
    pub fn new(
        smtp_url: Option<&str>,
        outbox_dir: &Path,
        timeout: Duration,
        pool_size: u32,
    ) -> anyhow::Result<Transport> {
        if let Some(direct) = smtp_url
            .map(|u| direct::DirectSmtp::from_url(u, timeout, pool_size as usize))
            .transpose()?
            .flatten()
        {
            return Ok(Transport::Direct(direct));
        }
        match smtp_url {
            Some(url) => Ok(Transport::Smtp(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .map_err(|e| anyhow::anyhow!("HERALD_SMTP_URL is not a valid SMTP URL: {e}"))?
                    .timeout(Some(timeout))
                    .pool_config(PoolConfig::new().max_size(pool_size))
                    .build(),
            )),
            None => {
                std::fs::create_dir_all(outbox_dir)?;
                Ok(Transport::Files(AsyncFileTransport::<Tokio1Executor>::new(
                    outbox_dir,
                )))
            }
        }
    }

    pub async fn send(&self, message: Message) -> Result<(), SendError> {
        match self {
            Transport::Direct(direct) => direct.send(message).await,
            Transport::Smtp(smtp) => smtp.send(message).await.map(|_| ()).map_err(|e| {
                if e.is_permanent() {
                    SendError::Permanent(e.to_string())
                } else {
                    SendError::Temporary(e.to_string())
                }
            }),
            Transport::Files(files) => files
                .send(message)
                .await
                .map(|_| ())
                .map_err(|e| SendError::Temporary(e.to_string())),
        }
    }
}
