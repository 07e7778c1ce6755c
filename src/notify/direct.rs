//! SMTP over connections Herald opens itself, for `smtp://` URLs.
//!
//! lettre's transport opens its sockets without `TCP_NODELAY`, and writes a mail's
//! body and its final `.` separately: the last bytes then wait on Nagle's algorithm
//! for the server's delayed ACK, about 40 ms a mail (measured by bench/email.sh:
//! 170 mails/s). Here the socket is ours, with `TCP_NODELAY` set, and lettre speaks
//! SMTP over it: EHLO, optional STARTTLS and AUTH, then one mail after another on
//! pooled connections.

use std::time::Duration;

use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::Message;
use tokio::sync::Mutex;

use super::SendError;

pub struct DirectSmtp {
    host: String,
    port: u16,
    starttls: bool,
    credentials: Option<Credentials>,
    hello: ClientId,
    timeout: Duration,
    idle: Mutex<Vec<AsyncSmtpConnection>>,
    max_idle: usize,
}

impl DirectSmtp {
    /// `smtp://[user:pass@]host[:port][?tls=required]`; `None` for other URLs.
    pub fn from_url(
        raw: &str,
        timeout: Duration,
        max_idle: usize,
    ) -> anyhow::Result<Option<DirectSmtp>> {
        let url = url::Url::parse(raw)
            .map_err(|e| anyhow::anyhow!("HERALD_SMTP_URL is not a valid URL: {e}"))?;
        if url.scheme() != "smtp" {
            return Ok(None);
        }
        let host = url
            .host_str()
            .ok_or_else(|| anyhow::anyhow!("HERALD_SMTP_URL names no host"))?
            .trim_matches(['[', ']'])
            .to_owned();
        let starttls = match url
            .query_pairs()
            .find(|(k, _)| k == "tls")
            .map(|(_, v)| v.into_owned())
        {
            None => false,
            Some(v) if v == "required" => true,
            Some(v) if v == "none" => false,
            Some(v) => anyhow::bail!("HERALD_SMTP_URL: tls must be required or none (got {v:?})"),
        };
        let decode = |s: &str| percent_decode(s);
        let credentials = (!url.username().is_empty()).then(|| {
            Credentials::new(
                decode(url.username()),
                decode(url.password().unwrap_or_default()),
            )
        });
        Ok(Some(DirectSmtp {
            port: url.port().unwrap_or(if starttls { 587 } else { 25 }),
            host,
            starttls,
            credentials,
            hello: ClientId::default(),
            timeout,
            idle: Mutex::new(Vec::new()),
            max_idle,
        }))
    }

    async fn connect(&self) -> Result<AsyncSmtpConnection, SendError> {
        let temporary =
            |what: &str, e: &dyn std::fmt::Display| SendError::Temporary(format!("{what}: {e}"));
        let stream = tokio::time::timeout(
            self.timeout,
            tokio::net::TcpStream::connect((self.host.as_str(), self.port)),
        )
        .await
        .map_err(|e| temporary("connecting", &e))?
        .map_err(|e| temporary("connecting", &e))?;
        stream
            .set_nodelay(true)
            .map_err(|e| temporary("TCP_NODELAY", &e))?;
        let mut connection = tokio::time::timeout(
            self.timeout,
            AsyncSmtpConnection::connect_with_transport(Box::new(stream), &self.hello),
        )
        .await
        .map_err(|e| temporary("greeting", &e))?
        .map_err(|e| temporary("greeting", &e))?;
        if self.starttls {
            let tls = TlsParameters::new(self.host.clone()).map_err(|e| temporary("TLS", &e))?;
            connection
                .starttls(tls, &self.hello)
                .await
                .map_err(|e| temporary("STARTTLS", &e))?;
        }
        if let Some(credentials) = &self.credentials {
            connection
                .auth(&[Mechanism::Plain, Mechanism::Login], credentials)
                .await
                .map_err(|e| {
                    if e.is_permanent() {
                        SendError::Permanent(format!("AUTH: {e}"))
                    } else {
                        temporary("AUTH", &e)
                    }
                })?;
        }
        Ok(connection)
    }

    async fn send_on(
        &self,
        connection: &mut AsyncSmtpConnection,
        message: &Message,
    ) -> Result<(), SendError> {
        let bytes = message.formatted();
        match tokio::time::timeout(self.timeout, connection.send(message.envelope(), &bytes)).await
        {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) if e.is_permanent() => Err(SendError::Permanent(e.to_string())),
            Ok(Err(e)) => Err(SendError::Temporary(e.to_string())),
            Err(_) => Err(SendError::Temporary(format!(
                "no answer within {} s",
                self.timeout.as_secs()
            ))),
        }
    }

    pub async fn send(&self, message: Message) -> Result<(), SendError> {
        let pooled = self.idle.lock().await.pop();
        let reused = pooled.is_some();
        let mut connection = match pooled {
            Some(c) => c,
            None => self.connect().await?,
        };
        let mut result = self.send_on(&mut connection, &message).await;
        // A kept connection may have been closed by the server meanwhile: one more try
        // on a fresh one before calling the failure temporary.
        if reused && matches!(result, Err(SendError::Temporary(_))) {
            connection.abort().await;
            connection = self.connect().await?;
            result = self.send_on(&mut connection, &message).await;
        }
        // lettre ends the session on any error, so only a success leaves a connection
        // worth keeping.
        if result.is_ok() && !connection.has_broken() {
            let mut idle = self.idle.lock().await;
            if idle.len() < self.max_idle {
                idle.push(connection);
            } else {
                drop(idle);
                let _ = connection.quit().await;
            }
        } else {
            connection.abort().await;
        }
        result
    }
}

fn percent_decode(s: &str) -> String {
    form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_smtp_urls() {
        let d = DirectSmtp::from_url(
            "smtp://me%40x:p%2Bss@mail.example:2525?tls=required",
            Duration::from_secs(5),
            4,
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            (d.host.as_str(), d.port, d.starttls),
            ("mail.example", 2525, true)
        );
        assert!(d.credentials.is_some());
        let plain = DirectSmtp::from_url("smtp://127.0.0.1", Duration::from_secs(5), 4)
            .unwrap()
            .unwrap();
        assert_eq!((plain.port, plain.starttls), (25, false));
        assert!(
            DirectSmtp::from_url("smtps://mail.example", Duration::from_secs(5), 4)
                .unwrap()
                .is_none()
        );
        assert!(
            DirectSmtp::from_url("smtp://mail.example?tls=maybe", Duration::from_secs(5), 4)
                .is_err()
        );
    }

    #[test]
    fn decodes_credentials() {
        assert_eq!(percent_decode("p%2Bss"), "p+ss");
        assert_eq!(percent_decode("me%40x"), "me@x");
        assert_eq!(percent_decode("a+b"), "a+b");
    }
}
