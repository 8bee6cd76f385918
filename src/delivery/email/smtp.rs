//! SMTP delivery over a small pool of our own, built on lettre's
//! `AsyncSmtpConnection` over sockets we open ourselves.
//!
//! Why not lettre's `AsyncSmtpTransport`: lettre 0.11 never sets
//! `TCP_NODELAY`, and it writes a message and its terminating `.` line in
//! two writes, so the second waits for the server's delayed ACK: about 40 ms
//! a message, 23 messages a second per connection. Here every socket has
//! `TCP_NODELAY` set before the greeting; everything else (EHLO, STARTTLS,
//! implicit TLS, AUTH, the SMTP dialogue itself) is lettre's own code with
//! lettre's own `TlsParameters`, so certificate and hostname checks are
//! exactly what they were.
//!
//! The pool bounds open connections, keeps idle ones for reuse (most
//! recently used first), checks one with `NOOP` before reusing it once it
//! has been idle a while, drops any connection that saw an error or a
//! timeout, and closes connections left idle too long.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use lettre::Message;
use lettre::transport::smtp::authentication::{Credentials, DEFAULT_MECHANISMS};
use lettre::transport::smtp::client::{AsyncSmtpConnection, AsyncTokioStream, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::transport::smtp::response::Response;
use lettre::transport::smtp::{SMTP_PORT, SUBMISSION_PORT, SUBMISSIONS_PORT};
use reqwest::Url;
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

use super::SendFailure;

/// Connections open at once (sending or idle), as lettre's pool had idle.
const MAX_CONNECTIONS: usize = 8;
/// TCP connect, TLS, greeting, EHLO, STARTTLS and AUTH together.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// One message, from `MAIL FROM` to the reply to its final `.`. A live send
/// keeps its lease by heartbeat however long it takes: this bounds how long
/// a stalled server holds a message and one of the worker's slots.
const SEND_TIMEOUT: Duration = Duration::from_secs(60);
/// A connection idle at least this long is checked with `NOOP` first; one
/// used more recently than that just answered, and is reused as it is.
const VERIFY_AFTER: Duration = Duration::from_secs(1);
const NOOP_TIMEOUT: Duration = Duration::from_secs(10);
/// Idle connections are closed (`QUIT`) after this long, like lettre's pool.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
const QUIT_TIMEOUT: Duration = Duration::from_secs(5);

/// How the connection is protected; the same choices as lettre's URLs.
#[derive(Clone)]
enum Security {
    /// `smtp://host` with no `tls` parameter: plain text.
    None,
    /// `smtp://host?tls=opportunistic`: STARTTLS when the server offers it.
    Opportunistic(TlsParameters),
    /// `smtp://host?tls=required`: STARTTLS, or no delivery at all.
    Required(TlsParameters),
    /// `smtps://host`: TLS from the first byte.
    Wrapper(TlsParameters),
}

impl fmt::Debug for Security {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Security::None => "none",
            Security::Opportunistic(_) => "opportunistic STARTTLS",
            Security::Required(_) => "STARTTLS required",
            Security::Wrapper(_) => "implicit TLS",
        })
    }
}

/// Where and how to connect, parsed from the SMTP URL.
#[derive(Clone)]
struct Target {
    host: String,
    port: u16,
    security: Security,
    hello: ClientId,
    credentials: Option<Credentials>,
}

impl Target {
    /// The URL forms lettre's `AsyncSmtpTransport::from_url` accepts, with
    /// the same default ports, EHLO name (the URL's path) and credentials.
    fn parse(url: &str) -> Result<Target, String> {
        let url = Url::parse(url).map_err(|error| error.to_string())?;
        let host = url
            .host_str()
            .filter(|host| !host.is_empty())
            .ok_or("smtp host undefined")?
            .to_owned();
        let tls = url
            .query_pairs()
            .find(|(key, _)| key == "tls")
            .map(|(_, value)| value.into_owned());
        let tls_parameters = || TlsParameters::new(host.clone()).map_err(|error| error.to_string());
        let (port, security) = match (url.scheme(), tls.as_deref()) {
            ("smtp", None) => (SMTP_PORT, Security::None),
            ("smtp", Some("required")) => (SUBMISSION_PORT, Security::Required(tls_parameters()?)),
            ("smtp", Some("opportunistic")) => {
                (SUBMISSION_PORT, Security::Opportunistic(tls_parameters()?))
            }
            ("smtps", _) => (SUBMISSIONS_PORT, Security::Wrapper(tls_parameters()?)),
            (scheme, tls) => {
                return Err(format!(
                    "unknown scheme {scheme:?} or tls parameter {tls:?} (use smtp://, \
                     smtp://...?tls=required or smtps://)"
                ));
            }
        };
        let hello = match url.path().trim_matches('/') {
            "" => ClientId::default(),
            name => ClientId::Domain(name.to_owned()),
        };
        let credentials = match url.password() {
            Some(password) => Some(Credentials::new(
                percent_decode(url.username())?,
                percent_decode(password)?,
            )),
            None => None,
        };
        Ok(Target {
            host,
            port: url.port().unwrap_or(port),
            security,
            hello,
            credentials,
        })
    }

    /// Every address the host resolves to, tried in order.
    async fn tcp(&self) -> io::Result<TcpStream> {
        // An IPv6 literal comes bracketed from the URL; the resolver wants it bare.
        let host = self.host.trim_start_matches('[').trim_end_matches(']');
        let mut last_error = None;
        for addr in tokio::net::lookup_host((host, self.port)).await? {
            match TcpStream::connect(addr).await {
                Ok(stream) => {
                    // The point of this module: no waiting on delayed ACKs.
                    stream.set_nodelay(true)?;
                    return Ok(stream);
                }
                Err(error) => last_error = Some(error),
            }
        }
        Err(last_error.unwrap_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("{} resolves to no address", self.host),
            )
        }))
    }

    /// A connection ready for `MAIL FROM`: greeted, encrypted as asked,
    /// authenticated when credentials were given.
    async fn connect(&self) -> Result<AsyncSmtpConnection, SendFailure> {
        let tcp = self.tcp().await.map_err(|error| {
            SendFailure::transient(format!(
                "cannot connect to the SMTP server {}:{}: {error}",
                self.host, self.port
            ))
        })?;
        let mut connection = match &self.security {
            Security::Wrapper(parameters) => {
                let tls = implicit_tls(tcp, parameters.clone())
                    .await
                    .map_err(SendFailure::from)?;
                AsyncSmtpConnection::connect_with_transport(Box::new(tls), &self.hello).await
            }
            _ => AsyncSmtpConnection::connect_with_transport(Box::new(tcp), &self.hello).await,
        }
        .map_err(SendFailure::from)?;
        match &self.security {
            Security::Required(parameters) => {
                connection
                    .starttls(parameters.clone(), &self.hello)
                    .await
                    .map_err(SendFailure::from)?;
            }
            Security::Opportunistic(parameters) if connection.can_starttls() => {
                connection
                    .starttls(parameters.clone(), &self.hello)
                    .await
                    .map_err(SendFailure::from)?;
            }
            Security::None | Security::Opportunistic(_) | Security::Wrapper(_) => {}
        }
        if let Some(credentials) = &self.credentials {
            connection
                .auth(DEFAULT_MECHANISMS, credentials)
                .await
                .map_err(SendFailure::from)?;
        }
        Ok(connection)
    }
}

fn percent_decode(text: &str) -> Result<String, String> {
    percent_encoding::percent_decode_str(text)
        .decode_utf8()
        .map(|decoded| decoded.into_owned())
        .map_err(|error| format!("credentials are not UTF-8: {error}"))
}

/// Implicit TLS (`smtps://`) by lettre's own TLS code and parameters: the
/// handshake happens on our socket (with `TCP_NODELAY`) before the SMTP
/// greeting, and the encrypted stream is handed to `AsyncSmtpConnection`.
#[allow(deprecated)] // `AsyncNetworkStream` is public but deprecated in 0.11.
async fn implicit_tls(
    tcp: TcpStream,
    parameters: TlsParameters,
) -> Result<TlsStream, lettre::transport::smtp::Error> {
    use lettre::transport::smtp::client::AsyncNetworkStream;
    let mut stream = AsyncNetworkStream::use_existing_tokio1(Box::new(tcp));
    stream.upgrade_tls(parameters).await?;
    Ok(TlsStream(stream))
}

/// lettre's TLS stream (futures-io) seen as a tokio stream, so that
/// `AsyncSmtpConnection::connect_with_transport` accepts it.
#[allow(deprecated)]
#[derive(Debug)]
struct TlsStream(lettre::transport::smtp::client::AsyncNetworkStream);

impl tokio::io::AsyncRead for TlsStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let unfilled = buf.initialize_unfilled();
        match futures_util::io::AsyncRead::poll_read(Pin::new(&mut self.0), cx, unfilled) {
            Poll::Ready(Ok(read)) => {
                buf.advance(read);
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(error)) => Poll::Ready(Err(error)),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl tokio::io::AsyncWrite for TlsStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        futures_util::io::AsyncWrite::poll_write(Pin::new(&mut self.0), cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        futures_util::io::AsyncWrite::poll_flush(Pin::new(&mut self.0), cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        futures_util::io::AsyncWrite::poll_close(Pin::new(&mut self.0), cx)
    }
}

impl AsyncTokioStream for TlsStream {
    fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.0.peer_addr()
    }
}

impl From<lettre::transport::smtp::Error> for SendFailure {
    fn from(error: lettre::transport::smtp::Error) -> Self {
        SendFailure {
            retryable: !error.is_permanent(),
            reason: error.to_string(),
        }
    }
}

impl SendFailure {
    fn transient(reason: String) -> SendFailure {
        SendFailure {
            retryable: true,
            reason,
        }
    }
}

struct Idle {
    connection: AsyncSmtpConnection,
    since: Instant,
}

struct Pool {
    target: Target,
    idle: Mutex<Vec<Idle>>,
    /// One permit per open connection.
    open: Semaphore,
}

impl Pool {
    fn idle(&self) -> MutexGuard<'_, Vec<Idle>> {
        // Plain data; a panic elsewhere leaves it consistent.
        self.idle
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A connection known to be usable: an idle one (checked if it sat a
    /// while), or a new one.
    async fn checkout(&self) -> Result<AsyncSmtpConnection, SendFailure> {
        loop {
            let parked = self.idle().pop();
            let Some(Idle {
                mut connection,
                since,
            }) = parked
            else {
                return tokio::time::timeout(CONNECT_TIMEOUT, self.target.connect())
                    .await
                    .unwrap_or_else(|_| {
                        Err(SendFailure::transient(format!(
                            "the SMTP server {}:{} did not get ready within {CONNECT_TIMEOUT:?}",
                            self.target.host, self.target.port
                        )))
                    });
            };
            let idle = since.elapsed();
            if idle >= IDLE_TIMEOUT {
                quit(connection).await;
                continue;
            }
            if idle < VERIFY_AFTER {
                return Ok(connection);
            }
            let alive = tokio::time::timeout(NOOP_TIMEOUT, connection.test_connected()).await;
            if alive == Ok(true) {
                return Ok(connection);
            }
            // Closed by the server, or gone quiet: never reused.
            drop(connection);
        }
    }

    fn park(&self, connection: AsyncSmtpConnection) {
        if !connection.has_broken() {
            self.idle().push(Idle {
                connection,
                since: Instant::now(),
            });
        }
    }

    async fn send(&self, message: &Message) -> Result<Response, SendFailure> {
        let permit = self
            .open
            .acquire()
            .await
            .map_err(|_| SendFailure::transient("the SMTP pool is shut down".to_owned()))?;
        let mut connection = self.checkout().await?;
        let body = message.formatted();
        let sent =
            tokio::time::timeout(SEND_TIMEOUT, connection.send(message.envelope(), &body)).await;
        let result = match sent {
            Ok(result) => {
                // lettre marks the connection broken after any failed
                // command; one that refused only locally stays usable.
                self.park(connection);
                result.map_err(SendFailure::from)
            }
            // Mid-dialogue, in an unknown state: closed, never reused.
            Err(_) => Err(SendFailure::transient(format!(
                "the SMTP server {}:{} did not answer within {SEND_TIMEOUT:?}",
                self.target.host, self.target.port
            ))),
        };
        drop(permit);
        result
    }

    /// Idle connections past their time, removed from the pool.
    fn expired(&self) -> Vec<AsyncSmtpConnection> {
        let mut idle = self.idle();
        let (expired, kept) = std::mem::take(&mut *idle)
            .into_iter()
            .partition(|parked: &Idle| parked.since.elapsed() >= IDLE_TIMEOUT);
        *idle = kept;
        expired
            .into_iter()
            .map(|parked| parked.connection)
            .collect()
    }
}

/// A polite goodbye, bounded in time; the socket closes either way.
async fn quit(mut connection: AsyncSmtpConnection) {
    let _ = tokio::time::timeout(QUIT_TIMEOUT, connection.quit()).await;
}

/// Closes idle connections that sat past `IDLE_TIMEOUT`, until the pool is
/// dropped.
async fn reap(pool: Weak<Pool>) {
    loop {
        tokio::time::sleep(IDLE_TIMEOUT / 2).await;
        let Some(pool) = pool.upgrade() else { return };
        let expired = pool.expired();
        drop(pool);
        for connection in expired {
            quit(connection).await;
        }
    }
}

/// The pooled SMTP transport `Mailer::smtp` builds.
pub struct SmtpTransport {
    pool: Arc<Pool>,
}

impl SmtpTransport {
    pub fn from_url(url: &str) -> Result<SmtpTransport, String> {
        let target = Target::parse(url)?;
        let pool = Arc::new(Pool {
            target,
            idle: Mutex::new(Vec::new()),
            open: Semaphore::new(MAX_CONNECTIONS),
        });
        // Without a runtime (a synchronous caller), idle connections are
        // still closed when next found expired.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(reap(Arc::downgrade(&pool)));
        }
        Ok(SmtpTransport { pool })
    }

    pub async fn send(&self, message: &Message) -> Result<Response, SendFailure> {
        self.pool.send(message).await
    }
}

impl fmt::Debug for SmtpTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpTransport")
            .field("host", &self.pool.target.host)
            .field("port", &self.pool.target.port)
            .field("security", &self.pool.target.security)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(url: &str) -> Target {
        Target::parse(url).unwrap_or_else(|error| panic!("{url}: {error}"))
    }

    #[test]
    fn url_forms_match_lettre() {
        let plain = parse("smtp://mail.example.com");
        assert_eq!(plain.port, 25);
        assert!(matches!(plain.security, Security::None));
        assert!(plain.credentials.is_none());

        let starttls = parse("smtp://mail.example.com:2525?tls=required");
        assert_eq!(starttls.port, 2525);
        assert!(matches!(starttls.security, Security::Required(_)));
        assert_eq!(parse("smtp://mail.example.com?tls=required").port, 587);
        assert!(matches!(
            parse("smtp://mail.example.com?tls=opportunistic").security,
            Security::Opportunistic(_)
        ));

        let implicit = parse("smtps://us%40er:p%40ss@mail.example.com/client.example.com");
        assert_eq!(implicit.port, 465);
        assert!(matches!(implicit.security, Security::Wrapper(_)));
        assert_eq!(
            implicit.hello,
            ClientId::Domain("client.example.com".into())
        );
        assert_eq!(
            implicit.credentials,
            Some(Credentials::new("us@er".into(), "p@ss".into()))
        );

        assert!(Target::parse("http://mail.example.com").is_err());
        assert!(Target::parse("smtp://mail.example.com?tls=maybe").is_err());
        assert!(Target::parse("smtp:///nohost").is_err());
    }
}
