//! Email over SMTP (a pool of lettre connections with `TCP_NODELAY`, see
//! `smtp`), or, with no SMTP configured, `.eml` files in a local folder so a
//! newcomer sees exactly what would be sent.

mod smtp;

use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::{AsyncFileTransport, AsyncTransport, Message, Tokio1Executor};
use sha2::Sha256;
use uuid::Uuid;

use super::render::RenderedEmail;
use crate::domain::reply_key::{ReplyAddress, reply_message_id};
use crate::redact::redact_url;

pub enum Mailer {
    Smtp(smtp::SmtpTransport),
    Folder {
        transport: AsyncFileTransport<Tokio1Executor>,
        dir: PathBuf,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum MailerError {
    #[error("SMTP URL {url}: {reason}")]
    Url { url: String, reason: String },
    #[error("cannot create the mail folder {dir}: {source}")]
    Folder {
        dir: PathBuf,
        source: std::io::Error,
    },
}

/// A failed send; `retryable` unless the server refused for good.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct SendFailure {
    pub retryable: bool,
    pub reason: String,
}

impl Mailer {
    /// `smtp://host:port` (plain), `smtp://...?tls=required` (STARTTLS),
    /// `smtps://` (implicit TLS), with `user:password@` for credentials.
    pub fn smtp(url: &str) -> Result<Mailer, MailerError> {
        let transport = smtp::SmtpTransport::from_url(url).map_err(|reason| MailerError::Url {
            url: redact_url(url),
            reason,
        })?;
        Ok(Mailer::Smtp(transport))
    }

    pub fn folder(dir: &Path) -> Result<Mailer, MailerError> {
        std::fs::create_dir_all(dir).map_err(|source| MailerError::Folder {
            dir: dir.to_owned(),
            source,
        })?;
        Ok(Mailer::Folder {
            transport: AsyncFileTransport::<Tokio1Executor>::new(dir),
            dir: dir.to_owned(),
        })
    }

    /// Sends and returns the receipt: the SMTP server's reply, or the file written.
    pub async fn send(&self, message: Message) -> Result<String, SendFailure> {
        match self {
            Mailer::Smtp(transport) => {
                let response = transport.send(&message).await?;
                let text: Vec<&str> = response.message().collect();
                Ok(format!("{} {}", response.code(), text.join(" ")))
            }
            Mailer::Folder { transport, dir } => {
                let id = transport.send(message).await.map_err(|error| SendFailure {
                    retryable: true,
                    reason: error.to_string(),
                })?;
                let path = dir.join(format!("{id}.eml"));
                tracing::info!(path = %path.display(), "no SMTP configured: message written to the mail folder");
                Ok(format!("written to {}", path.display()))
            }
        }
    }
}

/// Everything about one incident threads together in mail clients: each
/// message refers to the same (virtual) root message of the incident.
pub struct Envelope<'a> {
    pub from: &'a Mailbox,
    pub to: &'a str,
    pub message_id: Uuid,
    pub incident_id: Uuid,
    /// The domain of message ids: the public URL's host.
    pub domain: &'a str,
    /// The incident's timeline head at sending time, `seq=N; sha256=HEX`:
    /// copies in mailboxes witness history, which a rewrite cannot match.
    pub chain_head: &'a str,
    /// The `Reply-To` address and the key it carries, which the message id
    /// carries too (clients that drop sub-addresses keep `In-Reply-To`).
    pub reply: Option<(String, &'a str)>,
    /// The message this one answers (a reply's confirmation), without
    /// brackets; the incident's root is referenced as well.
    pub in_reply_to: Option<&'a str>,
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("recipient {0:?} is not a valid address")]
    Recipient(String),
    #[error("cannot build the message: {0}")]
    Message(#[from] lettre::error::Error),
}

pub fn build(envelope: &Envelope<'_>, rendered: &RenderedEmail) -> Result<Message, BuildError> {
    let to: Mailbox = envelope
        .to
        .parse()
        .map_err(|_| BuildError::Recipient(envelope.to.to_owned()))?;
    let root = format!("<incident-{}@{}>", envelope.incident_id, envelope.domain);
    let message_id = match &envelope.reply {
        Some((_, key)) => reply_message_id(key, &envelope.message_id.to_string(), envelope.domain),
        None => format!("<{}@{}>", envelope.message_id, envelope.domain),
    };
    let (in_reply_to, references) = match envelope.in_reply_to {
        Some(answered) => (format!("<{answered}>"), format!("{root} <{answered}>")),
        None => (root.clone(), root),
    };
    let mut builder = Message::builder()
        .from(envelope.from.clone())
        .to(to)
        .subject(&rendered.subject)
        .message_id(Some(message_id))
        .in_reply_to(in_reply_to)
        .references(references);
    if let Some((address, _)) = &envelope.reply {
        let reply_to: Mailbox = address
            .parse()
            .map_err(|_| BuildError::Recipient(address.clone()))?;
        builder = builder.reply_to(reply_to);
    }
    let message = builder
        .header(AutoSubmitted)
        .header(ChainHeadHeader(envelope.chain_head.to_owned()))
        .multipart(
            MultiPart::alternative()
                .singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_PLAIN)
                        .body(rendered.text.clone()),
                )
                .singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_HTML)
                        .body(rendered.html.clone()),
                ),
        )?;
    Ok(message)
}

/// A plain-text mail about no incident (yet): a signal that waits for the
/// commander's confirmation.
pub fn build_plain(
    from: &Mailbox,
    to: &str,
    message_id: Uuid,
    domain: &str,
    subject: &str,
    text: String,
) -> Result<Message, BuildError> {
    let to: Mailbox = to
        .parse()
        .map_err(|_| BuildError::Recipient(to.to_owned()))?;
    Ok(Message::builder()
        .from(from.clone())
        .to(to)
        .subject(subject)
        .message_id(Some(format!("<{message_id}@{domain}>")))
        .header(AutoSubmitted)
        .singlepart(
            SinglePart::builder()
                .header(ContentType::TEXT_PLAIN)
                .body(text),
        )?)
}

/// RFC 3834: tells auto-responders (out-of-office replies) not to answer.
#[derive(Clone)]
struct AutoSubmitted;

impl lettre::message::header::Header for AutoSubmitted {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("Auto-Submitted")
    }

    fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(AutoSubmitted)
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), "auto-generated".to_owned())
    }
}

/// `Tocsin-Chain-Head: seq=42; sha256=...`.
#[derive(Clone)]
struct ChainHeadHeader(String);

impl lettre::message::header::Header for ChainHeadHeader {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("Tocsin-Chain-Head")
    }

    fn parse(value: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(ChainHeadHeader(value.to_owned()))
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), self.0.clone())
    }
}

/// Reply keys for outgoing mail: where replies go, and the secret each
/// message's key is derived from. A message's key is the same on every
/// attempt, so its `Message-ID` is too (receivers drop a duplicate by it),
/// yet unguessable without the installation's secret; the store keeps
/// only its hash, like a link's.
#[derive(Clone)]
pub struct ReplyKeys {
    pub address: ReplyAddress,
    secret: Hmac<Sha256>,
}

impl ReplyKeys {
    pub fn new(address: ReplyAddress, secret: &[u8; 32]) -> ReplyKeys {
        #[allow(clippy::expect_used)]
        let secret =
            Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes a key of any length");
        ReplyKeys { address, secret }
    }

    /// The key of message `id`: URL-safe base64 of 256 bits.
    pub fn key(&self, id: Uuid) -> String {
        let mac = self.secret.clone().chain_update(id.as_bytes()).finalize();
        URL_SAFE_NO_PAD.encode(mac.into_bytes())
    }
}

impl std::fmt::Debug for ReplyKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplyKeys")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}
