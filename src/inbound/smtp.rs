//! The built-in SMTP listener for replies: the reply domain's MX, or a
//! relay's transport, delivers here, with STARTTLS when a certificate is
//! configured. The protocol is `mailin`'s state
//! machine; this is the tokio loop around it, which checks each recipient
//! against the keys tocsin issued (unknown ones are refused at `RCPT`,
//! before any data), bounds what a client may send, and answers the end of
//! the data only once the message is recorded, so a sender that sees an
//! error sends again and the same message still acts once.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use mailin::{Action, Response, Session, SessionBuilder};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;

use super::intake::{Delivered, Intake, Taken};
use crate::engine::Receipt;

/// Largest message taken: replies are a few lines, but phones attach
/// signatures and pictures of what they answer.
pub const MESSAGE_MAX: usize = 10 * 1024 * 1024;
/// Recipients per message: a reply has one.
const RECIPIENTS_MAX: usize = 10;
/// Longest line: far above SMTP's 1,000 octets, for lenient senders.
const LINE_MAX: u64 = 64 * 1024;
/// Connections served at once; more wait for a free slot.
const CONNECTIONS_MAX: usize = 64;
/// How long a client may stay silent (RFC 5321 section 4.5.3.2 asks for
/// minutes; a reply is short).
const IDLE: Duration = Duration::from_secs(120);

/// Why STARTTLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: {message}")]
    Read { path: String, message: String },
    #[error("the certificate and key do not make a TLS server: {0}")]
    Config(#[from] tokio_rustls::rustls::Error),
}

/// The STARTTLS side of the listener, from PEM files: a certificate chain
/// and its private key.
pub fn tls_acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, TlsError> {
    let unreadable = |path: &Path| {
        let path = path.display().to_string();
        move |error: rustls_pki_types::pem::Error| TlsError::Read {
            path,
            message: error.to_string(),
        }
    };
    let chain = CertificateDer::pem_file_iter(cert)
        .map_err(unreadable(cert))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(unreadable(cert))?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(unreadable(key))?;
    let config = ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Serves SMTP on `listener` until `stop` turns true; offers STARTTLS
/// with `tls`.
pub async fn serve(
    listener: TcpListener,
    intake: Arc<Intake>,
    tls: Option<TlsAcceptor>,
    mut stop: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(CONNECTIONS_MAX));
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.wait_for(|stop| *stop) => return,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::warn!(%error, "inbound SMTP: cannot accept a connection");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
            return;
        };
        let (intake, tls) = (Arc::clone(&intake), tls.clone());
        tokio::spawn(async move {
            if let Err(error) = connection(stream, peer, &intake, tls).await {
                tracing::debug!(%peer, %error, "inbound SMTP: connection ended");
            }
            drop(slot);
        });
    }
}

/// One client's connection: plain, then (if it asks and TLS is set up)
/// the rest of the session over TLS.
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    intake: &Intake,
    tls: Option<TlsAcceptor>,
) -> std::io::Result<()> {
    let transaction = Arc::new(Mutex::new(Transaction::default()));
    let mut builder = SessionBuilder::new(intake.address().domain());
    if tls.is_some() {
        builder.enable_start_tls();
    }
    let mut smtp = builder.build(peer.ip(), Handler(Arc::clone(&transaction)));
    let mut stream = BufReader::new(stream);
    send(&mut stream, &smtp.greeting()).await?;
    let plain = match session(&mut stream, &mut smtp, &transaction, peer, intake).await? {
        Ended::Closed => return Ok(()),
        Ended::StartTls => stream,
    };
    let (Some(tls), true) = (tls, plain.buffer().is_empty()) else {
        // A client that sent more after STARTTLS, before the handshake,
        // could have it read as if it came encrypted (CVE-2011-0411).
        return Ok(());
    };
    let mut secure = BufReader::new(tls.accept(plain.into_inner()).await?);
    smtp.tls_active();
    session(&mut secure, &mut smtp, &transaction, peer, intake).await?;
    Ok(())
}

/// How a session stopped.
enum Ended {
    Closed,
    /// The client asked for TLS and was told to go ahead.
    StartTls,
}

/// Serves commands until the client quits, errs, falls silent, or starts TLS.
async fn session<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut BufReader<S>,
    smtp: &mut Session<Handler>,
    transaction: &Mutex<Transaction>,
    peer: SocketAddr,
    intake: &Intake,
) -> std::io::Result<Ended> {
    let mut line = Vec::new();
    loop {
        line.clear();
        let mut limited = (&mut *stream).take(LINE_MAX);
        match tokio::time::timeout(IDLE, limited.read_until(b'\n', &mut line)).await {
            Err(_) => {
                let timeout = Response::custom(421, "4.4.2 idle too long: closing".to_owned());
                send(stream, &timeout).await?;
                return Ok(Ended::Closed);
            }
            Ok(Err(error)) => return Err(error),
            Ok(Ok(0)) => return Ok(Ended::Closed),
            Ok(Ok(_)) if !line.ends_with(b"\n") => {
                let long = Response::custom(500, "5.5.2 line too long: closing".to_owned());
                send(stream, &long).await?;
                return Ok(Ended::Closed);
            }
            Ok(Ok(_)) => {}
        }
        let mut response = smtp.process(&null_sender_shim(&line));
        let step = lock(transaction).next_step();
        match step {
            Step::None => {}
            Step::CheckRecipient(recipient) => {
                response = match intake.accepts(&recipient).await {
                    Ok(true) => {
                        lock(transaction).recipients.push(recipient);
                        response
                    }
                    Ok(false) => {
                        Response::custom(550, "5.1.1 no such reply address here".to_owned())
                    }
                    Err(error) => {
                        tracing::error!(%error, "inbound SMTP: cannot check a recipient");
                        Response::custom(451, "4.3.0 cannot check the address now".to_owned())
                    }
                }
            }
            Step::Take(message) => response = take(intake, message, peer).await,
            Step::TooBig => {
                response = Response::custom(552, "5.3.4 message too big".to_owned());
            }
        }
        send(stream, &response).await?;
        match response.action {
            Action::Close => return Ok(Ended::Closed),
            Action::UpgradeTls => return Ok(Ended::StartTls),
            Action::Reply | Action::NoReply => {}
        }
    }
}

/// mailin 0.6 refuses the null reverse path, `MAIL FROM:<>`, that every
/// bounce is sent with (RFC 5321 section 4.5.5): it gets a placeholder,
/// which the handler turns back into an empty return path.
const NULL_SENDER: &str = "null-reverse-path";

fn null_sender_shim(line: &[u8]) -> Cow<'_, [u8]> {
    const NULL: &[u8] = b"mail from:<>";
    match line.get(..NULL.len()) {
        Some(start) if start.eq_ignore_ascii_case(NULL) => {
            let mut shimmed = format!("MAIL FROM:<{NULL_SENDER}>").into_bytes();
            shimmed.extend_from_slice(&line[NULL.len()..]);
            Cow::Owned(shimmed)
        }
        _ => Cow::Borrowed(line),
    }
}

/// Records a whole message; the reply to the end of its data says whether
/// it was (a 4xx makes the sender try again later).
async fn take(intake: &Intake, message: Message, peer: SocketAddr) -> Response {
    let peer = peer.ip().to_string();
    let delivered = Delivered {
        recipient: message.recipients.first().map(String::as_str),
        peer: &peer,
        intake: "smtp",
    };
    match intake.take(&message.raw, delivered).await {
        Ok(Taken::Read(Receipt::Recorded { .. })) => {
            Response::custom(250, "2.0.0 recorded".to_owned())
        }
        Ok(Taken::Read(Receipt::Duplicate { .. })) => {
            Response::custom(250, "2.0.0 already recorded".to_owned())
        }
        // Sent to the bare reply address without a key in its headers, or
        // its key was revoked between RCPT and now.
        Ok(Taken::Read(Receipt::UnknownKey)) => Response::custom(
            550,
            "5.7.1 this message answers no mail tocsin sent".to_owned(),
        ),
        Ok(Taken::Signal(_)) => Response::custom(250, "2.0.0 signal recorded".to_owned()),
        Ok(Taken::Unreadable(error)) => Response::custom(554, format!("5.6.0 {error}")),
        Ok(Taken::Refused(why)) => Response::custom(554, format!("5.6.0 {why}")),
        Err(error) => {
            tracing::error!(%error, "inbound SMTP: cannot record a message");
            Response::custom(451, "4.3.0 cannot record the message now".to_owned())
        }
    }
}

async fn send<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut BufReader<S>,
    response: &Response,
) -> std::io::Result<()> {
    if response.action == Action::NoReply {
        return Ok(());
    }
    let stream = stream.get_mut();
    stream.write_all(&response.buffer()?).await?;
    stream.flush().await
}

fn lock(transaction: &Mutex<Transaction>) -> std::sync::MutexGuard<'_, Transaction> {
    transaction.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A whole message, as received.
struct Message {
    recipients: Vec<String>,
    /// With a `Return-Path` from the envelope sender on top, as a
    /// delivering server writes it: an empty one marks automatic mail.
    raw: Vec<u8>,
}

/// What the state machine's handler saw of the current transaction, for
/// the loop to finish what needs the engine (the handler cannot wait).
#[derive(Default)]
struct Transaction {
    return_path: String,
    /// Accepted by the state machine, to be checked against the keys.
    unchecked: Option<String>,
    /// Checked: tocsin issued their keys.
    recipients: Vec<String>,
    data: Vec<u8>,
    oversized: bool,
    complete: bool,
}

enum Step {
    None,
    CheckRecipient(String),
    Take(Message),
    TooBig,
}

impl Transaction {
    fn next_step(&mut self) -> Step {
        if let Some(recipient) = self.unchecked.take() {
            return Step::CheckRecipient(recipient);
        }
        if std::mem::take(&mut self.complete) {
            if self.oversized {
                *self = Transaction::default();
                return Step::TooBig;
            }
            let mut raw = format!("Return-Path: <{}>\r\n", self.return_path).into_bytes();
            raw.append(&mut self.data);
            return Step::Take(Message {
                recipients: std::mem::take(&mut self.recipients),
                raw,
            });
        }
        Step::None
    }
}

struct Handler(Arc<Mutex<Transaction>>);

impl mailin::Handler for Handler {
    fn mail(&mut self, _ip: std::net::IpAddr, _domain: &str, from: &str) -> Response {
        let from = if from == NULL_SENDER { "" } else { from };
        *lock(&self.0) = Transaction {
            return_path: from.to_owned(),
            ..Transaction::default()
        };
        mailin::response::OK
    }

    fn rcpt(&mut self, to: &str) -> Response {
        let mut transaction = lock(&self.0);
        if transaction.recipients.len() >= RECIPIENTS_MAX {
            return Response::custom(452, "4.5.3 too many recipients".to_owned());
        }
        transaction.unchecked = Some(to.to_owned());
        mailin::response::OK
    }

    fn data_start(
        &mut self,
        _domain: &str,
        _from: &str,
        _is8bit: bool,
        _to: &[String],
    ) -> Response {
        let mut transaction = lock(&self.0);
        if transaction.recipients.is_empty() {
            return Response::custom(554, "5.5.1 no valid recipients".to_owned());
        }
        transaction.data.clear();
        transaction.oversized = false;
        mailin::response::OK
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        let mut transaction = lock(&self.0);
        if transaction.data.len() + buf.len() > MESSAGE_MAX {
            transaction.oversized = true;
            transaction.data = Vec::new();
        } else if !transaction.oversized {
            transaction.data.extend_from_slice(buf);
        }
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        lock(&self.0).complete = true;
        // Replaced by the loop once the message is recorded or refused (an
        // error here would keep the state machine reading data).
        mailin::response::OK
    }
}
