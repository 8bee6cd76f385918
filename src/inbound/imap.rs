//! Replies read from one IMAP mailbox, for organisations whose mail is
//! hosted: the protocol is `async-imap`'s; this is the loop around it.
//!
//! One replica at a time polls (a lease in the database, renewed between
//! rounds); should two overlap all the same, the engine acts on a message
//! once per Message-ID. A message is marked `\Seen` only once recorded, so
//! a crash or a database error leaves it for the next round; one that is no
//! readable message, or answers no key of ours, is also `\Flagged` for a
//! person to look at, and never retried.

use std::fmt::Debug;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_imap::{Client, Session};
use futures_util::TryStreamExt;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::watch;

use super::intake::{Delivered, Intake, Taken};
use super::smtp::MESSAGE_MAX;
use crate::config::ImapMailbox;
use crate::engine::{Engine, EngineError, Receipt};

/// The lease's name: one mailbox per installation.
pub const LEASE: &str = "imap-intake";

/// How the poller paces itself; tests shorten it.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// How long the lease lasts unless renewed: a replica that died is
    /// replaced after this long.
    pub lease: Duration,
    /// How often the holder renews it (during IDLE too), and how often a
    /// replica without it looks whether it expired.
    pub renew: Duration,
    /// Between rounds, for a server without IDLE.
    pub poll: Duration,
    /// The longest wait before reconnecting after errors.
    pub backoff_max: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            lease: Duration::from_secs(60),
            renew: Duration::from_secs(20),
            poll: Duration::from_secs(30),
            backoff_max: Duration::from_secs(300),
        }
    }
}

/// Connecting, and each command outside IDLE, may take this long at most:
/// a server that stops answering must not hold the lease forever.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// How long one IDLE lasts before it is issued again: RFC 2177 has
/// servers log idle clients off after 30 minutes at the earliest.
const IDLE_MAX: Duration = Duration::from_secs(25 * 60);

/// How a wait between rounds ended.
enum Waited {
    /// New mail, or the poll interval passed: another round.
    Woken,
    Stopped,
    LeaseLost,
}

#[derive(Debug, thiserror::Error)]
pub enum ImapError {
    #[error("cannot connect: {0}")]
    Connect(std::io::Error),
    #[error("TLS: {0}")]
    Tls(String),
    #[error("IMAP: {0}")]
    Protocol(#[from] async_imap::error::Error),
    #[error("the server closed the connection")]
    Closed,
    #[error("the server did not answer in time")]
    Timeout,
    #[error("cannot record a message: {0}")]
    Engine(#[from] EngineError),
    #[error("another replica holds the mailbox's lease")]
    LeaseLost,
}

pub struct Poller {
    intake: Arc<Intake>,
    engine: Arc<Engine>,
    mailbox: ImapMailbox,
    /// This process, as the lease names it.
    holder: String,
    timing: Timing,
}

impl Poller {
    pub fn new(
        intake: Arc<Intake>,
        engine: Arc<Engine>,
        mailbox: ImapMailbox,
        timing: Timing,
    ) -> Poller {
        Poller {
            intake,
            engine,
            mailbox,
            holder: uuid::Uuid::new_v4().to_string(),
            timing,
        }
    }

    /// Where replies are read, as the timeline's `peer` names it.
    fn peer(&self) -> String {
        format!("imap:{}/{}", self.mailbox.host, self.mailbox.mailbox)
    }

    /// Polls while this replica holds the lease, until `stop` turns true;
    /// then gives the lease up for another replica to take at once.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let first = Duration::from_secs(1);
        let mut backoff = first;
        loop {
            if *stop.borrow() {
                break;
            }
            match self
                .engine
                .hold_lease(LEASE, &self.holder, self.timing.lease)
                .await
            {
                Ok(true) => {}
                Ok(false) => {
                    if pause(self.timing.renew, &mut stop).await {
                        break;
                    }
                    continue;
                }
                Err(error) => {
                    tracing::error!(%error, "IMAP intake: cannot take the mailbox's lease");
                    if pause(backoff, &mut stop).await {
                        break;
                    }
                    backoff = (backoff * 2).min(self.timing.backoff_max);
                    continue;
                }
            }
            let mut connected = false;
            match self.connect(&mut stop, &mut connected).await {
                Ok(()) => break,
                Err(ImapError::LeaseLost) => {
                    tracing::info!("IMAP intake: another replica polls the mailbox now");
                    backoff = first;
                    continue;
                }
                Err(error) => {
                    if connected {
                        backoff = first;
                    }
                    tracing::warn!(peer = %self.peer(), %error, retry_in = ?backoff,
                        "IMAP intake: the session ended");
                    if pause(backoff, &mut stop).await {
                        break;
                    }
                    backoff = (backoff * 2).min(self.timing.backoff_max);
                }
            }
        }
        if let Err(error) = self.engine.release_lease(LEASE, &self.holder).await {
            tracing::warn!(%error, "IMAP intake: cannot give the lease up: it expires instead");
        }
    }

    /// One connection, until stopped (`Ok`) or an error.
    async fn connect(
        &self,
        stop: &mut watch::Receiver<bool>,
        connected: &mut bool,
    ) -> Result<(), ImapError> {
        let address = (self.mailbox.host.as_str(), self.mailbox.port);
        let tcp = timed(TcpStream::connect(address))
            .await?
            .map_err(ImapError::Connect)?;
        if !self.mailbox.tls {
            return self.serve(Client::new(tcp), stop, connected).await;
        }
        let tls = timed(tls_connect(&self.mailbox.host, tcp)).await??;
        self.serve(Client::new(tls), stop, connected).await
    }

    async fn serve<T>(
        &self,
        mut client: Client<T>,
        stop: &mut watch::Receiver<bool>,
        connected: &mut bool,
    ) -> Result<(), ImapError>
    where
        T: AsyncRead + AsyncWrite + Unpin + Debug + Send,
    {
        timed(client.read_response())
            .await?
            .map_err(|error| ImapError::Protocol(error.into()))?
            .ok_or(ImapError::Closed)?;
        let mut session = timed(client.login(&self.mailbox.user, &self.mailbox.password))
            .await?
            .map_err(|(error, _)| error)?;
        timed(session.select(&self.mailbox.mailbox)).await??;
        let idle = timed(session.capabilities()).await??.has_str("IDLE");
        *connected = true;
        tracing::info!(peer = %self.peer(), idle, "IMAP intake: reading replies");
        loop {
            if !self
                .engine
                .hold_lease(LEASE, &self.holder, self.timing.lease)
                .await?
            {
                let _ = timed(session.logout()).await;
                return Err(ImapError::LeaseLost);
            }
            self.take_unseen(&mut session).await?;
            let waited = if idle {
                let mut handle = session.idle();
                timed(handle.init()).await??;
                let waited = {
                    // Dropping `_interrupt` would end the IDLE at once.
                    let (wait, _interrupt) = handle.wait_with_timeout(IDLE_MAX);
                    let wait = async { wait.await.map(drop).map_err(ImapError::from) };
                    self.hold_while(wait, stop).await?
                };
                session = timed(handle.done()).await??;
                waited
            } else {
                let poll = self.timing.poll;
                let wait = async move {
                    tokio::time::sleep(poll).await;
                    Ok(())
                };
                self.hold_while(wait, stop).await?
            };
            match waited {
                Waited::Woken => {}
                Waited::Stopped => {
                    let _ = timed(session.logout()).await;
                    return Ok(());
                }
                Waited::LeaseLost => {
                    let _ = timed(session.logout()).await;
                    return Err(ImapError::LeaseLost);
                }
            }
        }
    }

    /// Waits for `wait` (new mail, or the poll interval), renewing the
    /// lease meanwhile, until it ends, the lease is lost or `stop` turns true.
    async fn hold_while(
        &self,
        wait: impl Future<Output = Result<(), ImapError>>,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<Waited, ImapError> {
        tokio::pin!(wait);
        let every = self.timing.renew.max(Duration::from_millis(10));
        let mut renew = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        loop {
            // No await inside the arms: the stop branch's guard is not Send.
            let renewing = tokio::select! {
                waited = &mut wait => {
                    waited?;
                    return Ok(Waited::Woken);
                }
                _ = renew.tick() => true,
                _ = stop.wait_for(|stop| *stop) => false,
            };
            if !renewing {
                return Ok(Waited::Stopped);
            }
            if !self
                .engine
                .hold_lease(LEASE, &self.holder, self.timing.lease)
                .await?
            {
                return Ok(Waited::LeaseLost);
            }
        }
    }

    /// Takes every unseen message, one at a time (a mailbox left to fill
    /// while tocsin was down is not read into memory at once).
    async fn take_unseen<T>(&self, session: &mut Session<T>) -> Result<(), ImapError>
    where
        T: AsyncRead + AsyncWrite + Unpin + Debug + Send,
    {
        let mut unseen: Vec<u32> = timed(session.uid_search("UNSEEN"))
            .await??
            .into_iter()
            .collect();
        unseen.sort_unstable();
        let peer = self.peer();
        for uid in unseen {
            // The SMTP listener's bound, asked before the bytes are fetched.
            let sized: Vec<_> = timed(async {
                session
                    .uid_fetch(uid.to_string(), "(UID RFC822.SIZE)")
                    .await?
                    .try_collect()
                    .await
            })
            .await??;
            let size = sized
                .iter()
                .find(|fetch| fetch.uid == Some(uid))
                .and_then(|fetch| fetch.size);
            if size.is_some_and(|size| size as usize > MESSAGE_MAX) {
                tracing::warn!(%peer, uid, size, "IMAP intake: a message too big to read: flagged");
                mark(session, uid, "(\\Seen \\Flagged)").await?;
                continue;
            }
            let fetched: Vec<_> = timed(async {
                session
                    .uid_fetch(uid.to_string(), "(UID BODY.PEEK[])")
                    .await?
                    .try_collect()
                    .await
            })
            .await??;
            // Gone meanwhile (moved or deleted by a person): nothing to take.
            let Some(raw) = fetched
                .iter()
                .find(|fetch| fetch.uid == Some(uid))
                .and_then(|fetch| fetch.body())
            else {
                continue;
            };
            let recipient = delivered_to(raw);
            let delivered = Delivered {
                recipient: recipient.as_deref(),
                peer: &peer,
                intake: "imap",
            };
            let flags = match self.intake.take(raw, delivered).await? {
                Taken::Read(Receipt::Recorded { .. } | Receipt::Duplicate { .. })
                | Taken::Signal(_) => "(\\Seen)",
                // Not a reply to tocsin, no message at all, or an alert that
                // cannot be taken: a person may want to see it; tocsin will
                // not read it again.
                Taken::Read(Receipt::UnknownKey) | Taken::Unreadable(_) | Taken::Refused(_) => {
                    "(\\Seen \\Flagged)"
                }
            };
            mark(session, uid, flags).await?;
        }
        Ok(())
    }
}

/// Adds `flags` to message `uid`.
async fn mark<T>(session: &mut Session<T>, uid: u32, flags: &str) -> Result<(), ImapError>
where
    T: AsyncRead + AsyncWrite + Unpin + Debug + Send,
{
    timed(async {
        session
            .uid_store(uid.to_string(), format!("+FLAGS.SILENT {flags}"))
            .await?
            .try_collect::<Vec<_>>()
            .await
    })
    .await??;
    Ok(())
}

/// The envelope recipient, as the delivering server kept it: its
/// sub-address is a key, when the mailbox receives sub-addresses.
fn delivered_to(raw: &[u8]) -> Option<String> {
    let headers = mail_parser::MessageParser::new().parse_headers(raw)?;
    ["Delivered-To", "X-Original-To"]
        .into_iter()
        .find_map(|name| {
            headers
                .header_raw(name)
                .map(|value| value.trim().to_owned())
                .filter(|value| !value.is_empty())
        })
}

/// TLS from the first byte (`imaps`), checked against the platform's roots
/// as outgoing SMTP is.
async fn tls_connect(
    host: &str,
    tcp: TcpStream,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, ImapError> {
    use rustls_platform_verifier::BuilderVerifierExt;
    use tokio_rustls::rustls::{ClientConfig, crypto::aws_lc_rs, pki_types::ServerName};

    let tls = |error: &dyn std::fmt::Display| ImapError::Tls(error.to_string());
    let config = ClientConfig::builder_with_provider(Arc::new(aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|error| tls(&error))?
        .with_platform_verifier()
        .map_err(|error| tls(&error))?
        .with_no_client_auth();
    let name = ServerName::try_from(host.to_owned()).map_err(|error| tls(&error))?;
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .map_err(ImapError::Connect)
}

async fn timed<F: std::future::IntoFuture>(future: F) -> Result<F::Output, ImapError> {
    tokio::time::timeout(COMMAND_TIMEOUT, future)
        .await
        .map_err(|_| ImapError::Timeout)
}

/// Waits `wait`; true if told to stop meanwhile.
async fn pause(wait: Duration, stop: &mut watch::Receiver<bool>) -> bool {
    let stopped = tokio::select! {
        () = tokio::time::sleep(wait) => false,
        _ = stop.wait_for(|stop| *stop) => true,
    };
    stopped || *stop.borrow()
}
