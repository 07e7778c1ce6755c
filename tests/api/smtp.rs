//! A small but real SMTP server on tokio TCP, for the email tests: Herald's worker
//! (lettre, `smtp://127.0.0.1:PORT`, no TLS) talks to it like to any mail server.
//!
//! It records what it accepted (and the transactions it refused), can refuse on
//! purpose (451 temporary, 550 permanent; at RCPT or after DATA; for the next N
//! messages or for one recipient), and can be stopped and started again on the same
//! port, dropping every open connection, to play "the mail server was down".

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

/// Where a scripted refusal answers: the RCPT command, or the end of DATA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Rcpt,
    Data,
}

/// One mail transaction as the server saw it.
#[derive(Debug, Clone, Default)]
pub struct Received {
    /// The envelope sender (MAIL FROM).
    pub from: String,
    /// The envelope recipients (RCPT TO) the server accepted or, for a refused
    /// transaction, was offered.
    pub to: Vec<String>,
    /// The message as sent, dot-stuffing undone (empty when refused before DATA).
    pub data: String,
    /// The reply code of a refusal; 250 for accepted mail.
    pub code: u16,
}

#[derive(Default)]
struct Script {
    /// Refusals for the next messages, one each.
    next: VecDeque<(u16, Stage)>,
    /// Refusals for every message to one recipient (lower case).
    recipients: Vec<(String, u16, Stage)>,
}

#[derive(Default)]
struct Shared {
    received: Vec<Received>,
    refused: Vec<Received>,
    connections: usize,
    script: Script,
}

pub struct SmtpServer {
    port: u16,
    shared: Arc<Mutex<Shared>>,
    running: Mutex<Option<(watch::Sender<bool>, JoinHandle<()>)>>,
}

impl SmtpServer {
    /// Listens on 127.0.0.1 on a free port.
    pub async fn start() -> SmtpServer {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind test SMTP server");
        let port = listener.local_addr().expect("local addr").port();
        let server = SmtpServer {
            port,
            shared: Arc::default(),
            running: Mutex::new(None),
        };
        server.run(listener);
        server
    }

    fn run(&self, listener: TcpListener) {
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(accept_loop(listener, self.shared.clone(), stopped));
        *self.running.lock().expect("lock") = Some((stop, task));
    }

    fn shared(&self) -> MutexGuard<'_, Shared> {
        self.shared.lock().expect("SMTP server state")
    }

    /// The URL for `HERALD_SMTP_URL`.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Stops listening and closes every open connection: connecting fails until
    /// [`SmtpServer::restart`].
    pub async fn stop(&self) {
        let running = self.running.lock().expect("lock").take();
        if let Some((stop, task)) = running {
            let _ = stop.send(true);
            let _ = task.await;
        }
    }

    /// Listens again on the same port.
    pub async fn restart(&self) {
        self.stop().await;
        let mut tries = 0;
        let listener = loop {
            match TcpListener::bind(("127.0.0.1", self.port)).await {
                Ok(listener) => break listener,
                Err(e) if tries < 50 => {
                    tries += 1;
                    eprintln!("rebinding port {}: {e}", self.port);
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(e) => panic!("could not listen on port {} again: {e}", self.port),
            }
        };
        self.run(listener);
    }

    /// Refuses the next `n` messages with `code` at `stage`.
    pub fn fail_next(&self, n: usize, code: u16, stage: Stage) {
        let mut shared = self.shared();
        for _ in 0..n {
            shared.script.next.push_back((code, stage));
        }
    }

    /// Refuses every message to `recipient` with `code` at `stage`, until cleared.
    pub fn fail_recipient(&self, recipient: &str, code: u16, stage: Stage) {
        self.shared()
            .script
            .recipients
            .push((recipient.to_lowercase(), code, stage));
    }

    pub fn clear_failures(&self) {
        self.shared().script = Script::default();
    }

    /// The mails accepted so far, in order.
    pub fn received(&self) -> Vec<Received> {
        self.shared().received.clone()
    }

    /// The transactions refused so far (by the script), in order.
    pub fn refused(&self) -> Vec<Received> {
        self.shared().refused.clone()
    }

    /// The mails accepted for `recipient`.
    pub fn received_by(&self, recipient: &str) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|m| m.to.iter().any(|t| t.eq_ignore_ascii_case(recipient)))
            .collect()
    }

    /// How many connections were accepted since the start.
    pub fn connections(&self) -> usize {
        self.shared().connections
    }

    /// Waits (polling, at most 10 s) until `n` mails have arrived; all of them.
    pub async fn wait_for(&self, n: usize) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let received = self.received();
            if received.len() >= n {
                return received;
            }
            if tokio::time::Instant::now() > deadline {
                panic!(
                    "waited 10 s for {n} mails, got {}: {:#?}",
                    received.len(),
                    received
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Mutex<Shared>>,
    mut stopped: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                if let Ok((stream, _)) = accepted {
                    shared.lock().expect("lock").connections += 1;
                    connections.spawn(serve(stream, shared.clone()));
                }
            }
            _ = stopped.changed() => break,
        }
        while connections.try_join_next().is_some() {}
    }
    drop(listener);
    // Dropping a connection's task closes its socket.
    connections.abort_all();
    while connections.join_next().await.is_some() {}
}

/// The transaction under way on a connection.
#[derive(Default)]
struct Transaction {
    from: Option<String>,
    to: Vec<String>,
    /// A refusal scripted for this message.
    failure: Option<(u16, Stage)>,
}

fn refusal(code: u16) -> String {
    match code {
        400..=499 => format!("{code} 4.3.0 Try again later (scripted)\r\n"),
        _ => format!("{code} 5.1.1 Refused (scripted)\r\n"),
    }
}

/// The address inside `<...>` after a `MAIL FROM:` or `RCPT TO:`.
fn path_of(argument: &str) -> Option<String> {
    let start = argument.find('<')?;
    let end = argument[start..].find('>')? + start;
    Some(argument[start + 1..end].to_owned())
}

async fn serve(stream: TcpStream, shared: Arc<Mutex<Shared>>) -> std::io::Result<()> {
    let (reader, mut writer) = stream.into_split();
    let mut reader = BufReader::new(reader);
    writer.write_all(b"220 herald-test ESMTP ready\r\n").await?;
    let mut tx = Transaction::default();
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line).await? == 0 {
            return Ok(());
        }
        let command = String::from_utf8_lossy(&line)
            .trim_end_matches(['\r', '\n'])
            .to_owned();
        let verb = command
            .split([' ', ':'])
            .next()
            .unwrap_or_default()
            .to_ascii_uppercase();
        let reply: String = match verb.as_str() {
            "EHLO" => "250-herald-test greets you\r\n250-PIPELINING\r\n250 8BITMIME\r\n".to_owned(),
            "HELO" => "250 herald-test\r\n".to_owned(),
            "NOOP" => "250 2.0.0 Ok\r\n".to_owned(),
            "RSET" => {
                tx = Transaction::default();
                "250 2.0.0 Ok\r\n".to_owned()
            }
            "QUIT" => {
                writer.write_all(b"221 2.0.0 Bye\r\n").await?;
                return Ok(());
            }
            "MAIL" => match path_of(&command) {
                Some(from) => {
                    tx = Transaction {
                        from: Some(from),
                        to: Vec::new(),
                        failure: shared.lock().expect("lock").script.next.pop_front(),
                    };
                    "250 2.1.0 Ok\r\n".to_owned()
                }
                None => "501 5.5.4 Syntax: MAIL FROM:<address>\r\n".to_owned(),
            },
            "RCPT" => match (&tx.from, path_of(&command)) {
                (None, _) => "503 5.5.1 MAIL first\r\n".to_owned(),
                (_, None) => "501 5.5.4 Syntax: RCPT TO:<address>\r\n".to_owned(),
                (Some(from), Some(to)) => {
                    let mut shared = shared.lock().expect("lock");
                    let for_recipient = shared
                        .script
                        .recipients
                        .iter()
                        .find(|(r, _, _)| *r == to.to_lowercase())
                        .map(|(_, code, stage)| (*code, *stage));
                    if let Some(failure) = for_recipient {
                        tx.failure = Some(failure);
                    }
                    match tx.failure {
                        Some((code, Stage::Rcpt)) => {
                            shared.refused.push(Received {
                                from: from.clone(),
                                to: vec![to],
                                data: String::new(),
                                code,
                            });
                            refusal(code)
                        }
                        _ => {
                            tx.to.push(to);
                            "250 2.1.5 Ok\r\n".to_owned()
                        }
                    }
                }
            },
            "DATA" if tx.to.is_empty() => "503 5.5.1 No valid recipients\r\n".to_owned(),
            "DATA" => {
                writer
                    .write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                    .await?;
                let mut data = String::new();
                loop {
                    line.clear();
                    if reader.read_until(b'\n', &mut line).await? == 0 {
                        return Ok(());
                    }
                    let text = String::from_utf8_lossy(&line);
                    if text == ".\r\n" || text == ".\n" {
                        break;
                    }
                    // Dot-stuffing: a line that starts with a dot got one more.
                    data.push_str(text.strip_prefix('.').unwrap_or(&text));
                }
                let mail = Received {
                    from: tx.from.clone().unwrap_or_default(),
                    to: std::mem::take(&mut tx.to),
                    data,
                    code: 250,
                };
                let failure = tx.failure.take();
                tx = Transaction::default();
                let mut shared = shared.lock().expect("lock");
                match failure {
                    Some((code, _)) => {
                        shared.refused.push(Received { code, ..mail });
                        refusal(code)
                    }
                    None => {
                        shared.received.push(mail);
                        "250 2.0.0 Ok: queued\r\n".to_owned()
                    }
                }
            }
            "VRFY" => "252 2.1.5 Cannot verify\r\n".to_owned(),
            _ => "502 5.5.2 Command not implemented\r\n".to_owned(),
        };
        writer.write_all(reply.as_bytes()).await?;
    }
}

// --- reading what arrived ---------------------------------------------------------------------

impl Received {
    /// The top-level headers, continuation lines unfolded.
    pub fn headers(&self) -> Vec<(String, String)> {
        parse_headers(split_message(&self.data).0)
    }

    /// The first header called `name` (any case), RFC 2047 encoded words decoded.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers()
            .into_iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| decode_words(&v))
    }

    /// How many headers are called `name`.
    pub fn header_count(&self, name: &str) -> usize {
        self.headers()
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .count()
    }

    /// A header that must be there.
    #[track_caller]
    pub fn expect_header(&self, name: &str) -> String {
        self.header(name)
            .unwrap_or_else(|| panic!("no {name} header in:\n{}", self.data))
    }

    /// The decoded text of the first part of this MIME type (`text/plain`,
    /// `text/html`), looking inside multiparts.
    pub fn part(&self, mime: &str) -> Option<String> {
        find_part(&self.data, mime)
    }

    #[track_caller]
    pub fn text(&self) -> String {
        self.part("text/plain")
            .unwrap_or_else(|| panic!("no text/plain part in:\n{}", self.data))
    }

    #[track_caller]
    pub fn html(&self) -> String {
        self.part("text/html")
            .unwrap_or_else(|| panic!("no text/html part in:\n{}", self.data))
    }
}

/// Head and body of a message or a MIME part.
fn split_message(raw: &str) -> (&str, &str) {
    match raw.find("\r\n\r\n") {
        Some(i) => (&raw[..i], &raw[i + 4..]),
        None => match raw.find("\n\n") {
            Some(i) => (&raw[..i], &raw[i + 2..]),
            None => (raw, ""),
        },
    }
}

pub fn parse_headers(head: &str) -> Vec<(String, String)> {
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in head.lines() {
        let line = line.trim_end_matches('\r');
        if line.starts_with([' ', '\t']) {
            // Unfolding: a continuation line joins the previous header, CRLF removed.
            if let Some((_, value)) = headers.last_mut() {
                value.push_str(line);
            }
        } else if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_owned(), value.to_owned()));
        }
    }
    headers
        .into_iter()
        .map(|(n, v)| (n, v.trim().to_owned()))
        .collect()
}

/// A parameter of a structured header value: `boundary` of a Content-Type.
fn parameter(value: &str, name: &str) -> Option<String> {
    value.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().trim_matches('"').to_owned())
    })
}

fn find_part(raw: &str, mime: &str) -> Option<String> {
    let (head, body) = split_message(raw);
    let headers = parse_headers(head);
    let get = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    let content_type = get("Content-Type").unwrap_or_else(|| "text/plain".to_owned());
    if content_type.to_ascii_lowercase().starts_with("multipart/") {
        let boundary = parameter(&content_type, "boundary")?;
        let delimiter = format!("--{boundary}");
        return body
            .split(delimiter.as_str())
            .skip(1)
            .take_while(|part| !part.starts_with("--"))
            .find_map(|part| find_part(part.trim_start_matches(['\r', '\n']), mime));
    }
    if !content_type.to_ascii_lowercase().starts_with(mime) {
        return None;
    }
    let encoding = get("Content-Transfer-Encoding")
        .unwrap_or_default()
        .to_ascii_lowercase();
    let bytes = match encoding.as_str() {
        "quoted-printable" => decode_quoted_printable(body),
        "base64" => decode_base64(body),
        _ => body.as_bytes().to_vec(),
    };
    Some(
        String::from_utf8_lossy(&bytes)
            .replace("\r\n", "\n")
            .trim_end()
            .to_owned(),
    )
}

pub fn decode_quoted_printable(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'=' if bytes[i + 1..].starts_with(b"\r\n") => i += 3,
            b'=' if bytes[i + 1..].starts_with(b"\n") => i += 2,
            b'=' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                    }
                    None => {
                        out.push(b'=');
                        i += 1;
                    }
                }
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

pub fn decode_base64(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let (mut buffer, mut bits) = (0u32, 0u32);
    for c in text.bytes() {
        let Some(value) = ALPHABET.iter().position(|&a| a == c) else {
            continue;
        };
        buffer = (buffer << 6) | value as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    out
}

/// Decodes RFC 2047 encoded words (`=?utf-8?b?...?=`, `=?utf-8?q?...?=`); the
/// whitespace between two encoded words goes.
pub fn decode_words(value: &str) -> String {
    let mut out = String::new();
    let mut rest = value;
    let mut last_was_word = false;
    while let Some(start) = rest.find("=?") {
        let Some(word) = parse_word(&rest[start..]) else {
            out.push_str(&rest[..start + 2]);
            rest = &rest[start + 2..];
            last_was_word = false;
            continue;
        };
        let between = &rest[..start];
        if !(last_was_word && between.trim().is_empty()) {
            out.push_str(between);
        }
        out.push_str(&word.0);
        rest = &rest[start + word.1..];
        last_was_word = true;
    }
    out.push_str(rest);
    out
}

/// One encoded word at the start of `text`: its text and its length.
fn parse_word(text: &str) -> Option<(String, usize)> {
    let inner = text.strip_prefix("=?")?;
    let (_charset, rest) = inner.split_once('?')?;
    let (encoding, rest) = rest.split_once('?')?;
    let end = rest.find("?=")?;
    let payload = &rest[..end];
    let bytes = match encoding {
        "b" | "B" => decode_base64(payload),
        "q" | "Q" => decode_quoted_printable(&payload.replace('_', " ")),
        _ => return None,
    };
    let length = text.len() - rest.len() + end + 2;
    Some((String::from_utf8_lossy(&bytes).into_owned(), length))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_headers_parts_and_encodings() {
        let raw = "Subject: =?utf-8?b?Q2Fmw6k=?= =?utf-8?q?_ok?=\r\nX-Long: one\r\n two\r\nContent-Type: multipart/alternative; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nCaf=C3=A9 is a very long=\r\n line\r\n--b1\r\nContent-Type: text/html\r\nContent-Transfer-Encoding: base64\r\n\r\nPHA+aGk8L3A+\r\n--b1--\r\n";
        let mail = Received {
            data: raw.to_owned(),
            ..Received::default()
        };
        assert_eq!(mail.header("subject").unwrap(), "Café ok");
        assert_eq!(mail.header("X-Long").unwrap(), "one two");
        assert_eq!(mail.text(), "Café is a very long line");
        assert_eq!(mail.html(), "<p>hi</p>");
        assert_eq!(mail.part("image/png"), None);
    }
}
