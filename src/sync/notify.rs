//! Telling someone how an unattended run went: a JSON summary posted to a webhook (its `text`
//! field is what Slack and Teams show), and the same text mailed through SMTP. A small SMTP
//! client of our own: EHLO, STARTTLS whenever the server offers it (rustls, webpki roots),
//! AUTH PLAIN only over TLS or to loopback, one message. Credentials come from the environment
//! or a file, never from argv, and are never printed.

use std::time::Duration;

use anyhow::{bail, Context};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// Whether `url` may receive a summary: https, or http to a loopback address.
fn check_url(url: &reqwest::Url) -> anyhow::Result<()> {
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(url.host_str().unwrap_or("")) => Ok(()),
        _ => bail!("--notify {url}: the webhook must be https (plain http only to loopback)"),
    }
}

fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Posts `summary` (a JSON object with a `text` field) to the webhook `url`.
pub async fn webhook(url: &str, summary: &serde_json::Value) -> anyhow::Result<()> {
    let parsed =
        reqwest::Url::parse(url).with_context(|| format!("--notify {url:?} is not a URL"))?;
    check_url(&parsed)?;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let answer = client
        .post(parsed)
        .json(summary)
        .send()
        .await
        .context("the webhook did not answer")?;
    if !answer.status().is_success() {
        bail!("the webhook answered {}", answer.status());
    }
    Ok(())
}

/// Where and how to mail.
#[derive(Clone, Debug)]
pub struct Mail {
    /// `smtp://HOST:PORT` (port 25 when left out).
    pub server: String,
    pub to: Vec<String>,
    pub from: String,
    /// (user, password), from the environment or a file.
    pub credentials: Option<(String, String)>,
}

impl Mail {
    fn host_port(&self) -> anyhow::Result<(String, u16)> {
        let rest = self
            .server
            .strip_prefix("smtp://")
            .with_context(|| format!("--smtp {:?}: give smtp://HOST:PORT", self.server))?;
        let rest = rest.trim_end_matches('/');
        match rest.rsplit_once(':') {
            Some((h, p)) if !h.is_empty() => Ok((
                h.trim_start_matches('[').trim_end_matches(']').to_string(),
                p.parse()
                    .with_context(|| format!("--smtp {:?}: {p:?} is not a port", self.server))?,
            )),
            _ if !rest.is_empty() => Ok((rest.to_string(), 25)),
            _ => bail!("--smtp {:?}: give smtp://HOST:PORT", self.server),
        }
    }
}

/// Sends one message with `subject` and `body`.
pub async fn mail(m: &Mail, subject: &str, body: &str) -> anyhow::Result<()> {
    let (host, port) = m.host_port()?;
    let tcp = tokio::time::timeout(
        Duration::from_secs(30),
        TcpStream::connect((host.as_str(), port)),
    )
    .await
    .context("the mail server did not answer in 30 s")?
    .with_context(|| format!("cannot connect to the mail server {host}:{port}"))?;
    let mut s = Smtp::new(tcp);
    s.expect(220).await?;
    let ehlo = s.command("EHLO qusers", 250).await?;
    if ehlo
        .lines()
        .any(|l| l.to_ascii_uppercase().contains("STARTTLS"))
    {
        s.command("STARTTLS", 220).await?;
        let tcp = s.into_inner();
        let tls = starttls(tcp, &host).await?;
        let mut s = Smtp::new(tls);
        s.command("EHLO qusers", 250).await?;
        return send(&mut s, m, subject, body, true, &host).await;
    }
    send(&mut s, m, subject, body, false, &host).await
}

async fn starttls(
    tcp: TcpStream,
    host: &str,
) -> anyhow::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    use tokio_rustls::rustls;
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from(host.to_string())
        .with_context(|| format!("{host} is not a name TLS can check"))?;
    tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
        .connect(name, tcp)
        .await
        .context("STARTTLS with the mail server failed")
}

async fn send<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut Smtp<S>,
    m: &Mail,
    subject: &str,
    body: &str,
    tls: bool,
    host: &str,
) -> anyhow::Result<()> {
    if let Some((user, password)) = &m.credentials {
        if !tls && !is_loopback(host) {
            bail!("the mail server {host} does not offer STARTTLS: the password is not sent in the clear");
        }
        let plain = format!("\0{user}\0{password}");
        s.command(&format!("AUTH PLAIN {}", base64(plain.as_bytes())), 235)
            .await
            .context("the mail server refused the credentials")?;
    }
    s.command(&format!("MAIL FROM:<{}>", m.from), 250).await?;
    for to in &m.to {
        s.command(&format!("RCPT TO:<{to}>"), 250).await?;
    }
    s.command("DATA", 354).await?;
    let date = jiff::Timestamp::now().strftime("%a, %d %b %Y %H:%M:%S +0000");
    let mut msg = format!(
        "From: {}\r\nTo: {}\r\nSubject: {}\r\nDate: {date}\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n",
        m.from,
        m.to.join(", "),
        subject.replace(['\r', '\n'], " ")
    );
    for line in body.lines() {
        // Dot-stuffing: a line that starts with a dot would otherwise end the message.
        if line.starts_with('.') {
            msg.push('.');
        }
        msg.push_str(line);
        msg.push_str("\r\n");
    }
    msg.push_str(".\r\n");
    s.write(&msg).await?;
    s.expect(250).await?;
    let _ = s.command("QUIT", 221).await;
    Ok(())
}

/// A line-oriented SMTP conversation.
struct Smtp<S> {
    io: BufReader<S>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Smtp<S> {
    fn new(io: S) -> Self {
        Smtp {
            io: BufReader::new(io),
        }
    }

    fn into_inner(self) -> S {
        self.io.into_inner()
    }

    async fn write(&mut self, text: &str) -> anyhow::Result<()> {
        self.io.get_mut().write_all(text.as_bytes()).await?;
        self.io.get_mut().flush().await?;
        Ok(())
    }

    /// Reads a (multi-line) reply; an error unless its code is `code`.
    async fn expect(&mut self, code: u16) -> anyhow::Result<String> {
        let mut all = String::new();
        loop {
            let mut line = String::new();
            let n = tokio::time::timeout(Duration::from_secs(60), self.io.read_line(&mut line))
                .await
                .context("the mail server stopped answering")??;
            if n == 0 {
                bail!("the mail server closed the connection");
            }
            all.push_str(&line);
            // "250-more" continues, "250 last" ends.
            if line.len() < 4 || line.as_bytes()[3] != b'-' {
                let got: u16 = line.get(..3).and_then(|c| c.parse().ok()).unwrap_or(0);
                if got != code {
                    bail!("the mail server answered {}", all.trim());
                }
                return Ok(all);
            }
        }
    }

    async fn command(&mut self, cmd: &str, code: u16) -> anyhow::Result<String> {
        self.write(&format!("{cmd}\r\n")).await?;
        // The command itself is not in the error: AUTH carries the password.
        let verb = cmd.split(' ').next().unwrap_or(cmd);
        self.expect(code)
            .await
            .with_context(|| format!("SMTP {verb}"))
    }
}

fn base64(bytes: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_and_urls() {
        assert_eq!(base64(b"\0u\0p"), "AHUAcA==");
        assert_eq!(base64(b"abc"), "YWJj");
        assert!(check_url(&reqwest::Url::parse("http://127.0.0.1:9/x").expect("url")).is_ok());
        assert!(
            check_url(&reqwest::Url::parse("http://hooks.example.com/x").expect("url")).is_err()
        );
    }
}
