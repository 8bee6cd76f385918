//! Wiring: connect the store, migrate, load playbooks, bind, serve and
//! deliver until told to stop.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::serve::ListenerExt;
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use tokio_rustls::TlsAcceptor;

use crate::clock::{Clock, SystemClock};
use crate::config::Settings;
use crate::delivery::email::{Mailer, MailerError, ReplyKeys};
use crate::delivery::render::Renderer;
use crate::delivery::webhook;
use crate::delivery::worker::{Delivery, RetryPolicy};
use crate::domain::Route;
use crate::engine::{self, Engine};
use crate::http::{AppState, LinkGuard, TrustedProxies, router};
use crate::inbound::{self, intake::Intake};
use crate::metrics::Metrics;
use crate::playbook::{Catalog, Diagnostics};
use crate::redact::redact_url;
use crate::staff::sso::{SingleSignOn, SsoError};
use crate::staff::{SignInMail, Staff};
use crate::store::{self, StoreError};
use crate::timeline::SigningKey;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("the playbooks in {dir} are invalid:\n{diagnostics}")]
    Playbooks {
        dir: String,
        diagnostics: Diagnostics,
    },
    #[error("database {url}: {source}")]
    Store { url: String, source: StoreError },
    #[error(
        "database {url}: the schema is older than this release, and this role may not \
         migrate it: run `tocsin migrate` as the database's owner first"
    )]
    SchemaBehind { url: String },
    #[error(
        "database {url}: this role does not own the schema and may not migrate it: run \
         `tocsin migrate` with the owner's database URL"
    )]
    NotOwner { url: String },
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Mailer(#[from] MailerError),
    #[error("cannot build the HTTP client for webhooks: {0}")]
    Http(#[from] reqwest::Error),
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(
        "another `tocsin serve` is already running on {path}: SQLite is for one server \
         (use PostgreSQL to run several)"
    )]
    AlreadyServing { path: String },
    #[error("cannot take the server lock {path}: {source}")]
    Lock {
        path: String,
        source: std::io::Error,
    },
    #[error("the reply listener's STARTTLS: {0}")]
    InboundTls(#[from] inbound::smtp::TlsError),
    #[error("the timeline signing key: {0}")]
    SigningKey(String),
    #[error("single sign-on: {0}")]
    SingleSignOn(#[from] SsoError),
    #[error("a built-in template is broken: {0}")]
    Templates(#[from] minijinja::Error),
}

pub fn load_playbooks(settings: &Settings) -> Result<Catalog, StartError> {
    Catalog::load(&settings.playbooks).map_err(|diagnostics| StartError::Playbooks {
        dir: settings.playbooks.display().to_string(),
        diagnostics,
    })
}

/// Connects, and applies migrations when the connection's role owns the
/// schema: the one place the schema moves. A role that may not (PostgreSQL's
/// runtime role) only checks that the schema is current, and stops if the
/// owner has not migrated it yet.
pub async fn open_store(settings: &Settings) -> Result<Arc<dyn store::Store>, StartError> {
    let url = || redact_url(&settings.database_url);
    let error = |source| StartError::Store { url: url(), source };
    let store = store::connect(&settings.database_url)
        .await
        .map_err(error)?;
    if store.may_migrate().await.map_err(error)? {
        store.migrate().await.map_err(error)?;
    } else if !store.migrations_applied().await.map_err(error)? {
        return Err(StartError::SchemaBehind { url: url() });
    }
    Ok(store)
}

/// `tocsin migrate`: applies migrations, and says so plainly when the
/// connection's role may not (it is the runtime role, not the owner).
pub async fn migrate(settings: &Settings) -> Result<(), StartError> {
    let url = || redact_url(&settings.database_url);
    let error = |source| StartError::Store { url: url(), source };
    let store = store::connect(&settings.database_url)
        .await
        .map_err(error)?;
    if !store.may_migrate().await.map_err(error)? {
        return Err(StartError::NotOwner { url: url() });
    }
    store.migrate().await.map_err(error)
}

/// SQLite serves one process: a second `tocsin serve` on the same file is
/// refused, while short commands (`token create`, `migrate`) still run
/// beside it. The lock is released when the returned file is dropped, or
/// when the process dies, however it dies.
fn lock_single_server(settings: &Settings) -> Result<Option<std::fs::File>, StartError> {
    let Some(path) = store::sqlite_path(&settings.database_url) else {
        return Ok(None);
    };
    let lock_path = format!("{}.serve-lock", path.display());
    let error = |source| StartError::Lock {
        path: lock_path.clone(),
        source,
    };
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(error)?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => Err(StartError::AlreadyServing {
            path: path.display().to_string(),
        }),
        Err(std::fs::TryLockError::Error(source)) => Err(error(source)),
    }
}

/// The key that signs chain heads: configured, or the one kept in the
/// database, or a new one kept there for every replica to share.
async fn signing_key(
    settings: &Settings,
    store: &dyn store::Store,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<SigningKey, StartError> {
    let invalid = |error: crate::timeline::KeyError| StartError::SigningKey(error.to_string());
    let stored = |source| StartError::Store {
        url: redact_url(&settings.database_url),
        source,
    };
    if let Some(configured) = &settings.signing_key {
        return SigningKey::from_base64(configured).map_err(invalid);
    }
    if let Some(kept) = store.signing_key().await.map_err(stored)? {
        return SigningKey::from_base64(&kept).map_err(invalid);
    }
    let fresh = SigningKey::generate().map_err(invalid)?;
    let kept = store
        .keep_signing_key(&fresh.to_base64(), &fresh.public_key(), now)
        .await
        .map_err(stored)?;
    SigningKey::from_base64(&kept).map_err(invalid)
}

/// What tests (and benchmarks) may tune; production uses the defaults.
pub struct Tuning {
    pub clock: Arc<dyn Clock>,
    pub retry: RetryPolicy,
    /// How often to look for timers that fell due: a reminder is claimed at
    /// most this long after its due time.
    pub timer_poll: Duration,
    /// How the IMAP intake paces its lease, IDLE and reconnections.
    pub imap: inbound::imap::Timing,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            clock: Arc::new(SystemClock),
            retry: RetryPolicy::default(),
            timer_poll: Duration::from_millis(250),
            imap: inbound::imap::Timing::default(),
        }
    }
}

/// How long requests in flight may take to finish once the server is told
/// to stop; well inside the 30 s orchestrators wait before killing.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Bad link tokens one address may try per minute.
const BAD_LINKS_PER_MINUTE: NonZeroU32 = NonZeroU32::new(20).expect("non-zero");

/// Sign-in mails to one address: three at once, then one every five minutes.
const SIGN_IN_MAILS: governor::Quota =
    governor::Quota::per_hour(NonZeroU32::new(12).expect("non-zero"))
        .allow_burst(NonZeroU32::new(3).expect("non-zero"));

/// How mail leaves: by SMTP when configured, else as files in the mail folder.
fn mailer(settings: &Settings) -> Result<Mailer, MailerError> {
    match &settings.smtp_url {
        Some(url) => Mailer::smtp(url),
        None => Mailer::folder(&settings.mail_dir),
    }
}

/// The console's people, for commands that run without a server
/// (`tocsin user add`); links point at the public URL the server would use.
pub fn staff(settings: &Settings, store: Arc<dyn store::Store>) -> Result<Staff, StartError> {
    let mail = SignInMail {
        mailer: Arc::new(mailer(settings)?),
        from: settings.mail_from.clone(),
        public_url: settings.public_url_for(settings.listen)?,
        quota: SIGN_IN_MAILS,
    };
    Ok(Staff::new(store, Arc::new(SystemClock), mail))
}

/// A server ready to run: playbooks valid, database migrated, port bound.
pub struct App {
    listener: TcpListener,
    state: AppState,
    stop: watch::Sender<bool>,
    delivery: Arc<Delivery>,
    workers: usize,
    timer_poll: Duration,
    retention: Option<Duration>,
    wake: Arc<Notify>,
    /// Held while serving, on SQLite.
    single_server: Option<std::fs::File>,
    /// The SMTP listener for replies, if configured.
    inbound: Option<Inbound>,
    /// The IMAP mailbox's poller for replies, if configured.
    imap: Option<inbound::imap::Poller>,
}

/// The SMTP listener for replies, ready to serve.
struct Inbound {
    listener: TcpListener,
    intake: Arc<Intake>,
    tls: Option<TlsAcceptor>,
}

impl App {
    pub async fn build(settings: &Settings) -> Result<App, StartError> {
        Self::build_with(settings, Tuning::default()).await
    }

    pub async fn build_with(settings: &Settings, tuning: Tuning) -> Result<App, StartError> {
        let catalog = Arc::new(load_playbooks(settings)?);
        let single_server = lock_single_server(settings)?;
        let mailer = Arc::new(mailer(settings)?);
        let renderer = Arc::new(Renderer::new()?);
        let store = open_store(settings).await?;
        let listener =
            TcpListener::bind(settings.listen)
                .await
                .map_err(|source| StartError::Bind {
                    addr: settings.listen,
                    source,
                })?;
        let bound = listener.local_addr().map_err(|source| StartError::Bind {
            addr: settings.listen,
            source,
        })?;
        let public_url = settings.public_url_for(bound)?;
        let wake = Arc::new(Notify::new());
        let routes = settings
            .webhooks
            .iter()
            .map(|hook| Route {
                name: hook.name.clone(),
                departments: hook.departments.clone(),
            })
            .collect();
        let signer = Arc::new(signing_key(settings, store.as_ref(), tuning.clock.now()).await?);
        let metrics = Arc::new(Metrics::new());
        let engine = Arc::new(Engine::new(engine::Parts {
            store: Arc::clone(&store),
            catalog: Arc::clone(&catalog),
            clock: Arc::clone(&tuning.clock),
            routes,
            wake: Arc::clone(&wake),
            signer: Arc::clone(&signer),
            metrics: Arc::clone(&metrics),
            link_grace: settings.link_grace,
            out_of_office_escalates: settings.out_of_office_escalates,
        }));
        let staff = Arc::new(Staff::new(
            Arc::clone(&store),
            Arc::clone(&tuning.clock),
            SignInMail {
                mailer: Arc::clone(&mailer),
                from: settings.mail_from.clone(),
                public_url: public_url.clone(),
                quota: SIGN_IN_MAILS,
            },
        ));
        let delivery = Arc::new(Delivery {
            store,
            catalog,
            mailer: Arc::clone(&mailer),
            from: settings.mail_from.clone(),
            webhooks: settings
                .webhooks
                .iter()
                .map(|hook| (hook.name.clone(), hook.endpoint.clone()))
                .collect::<HashMap<_, _>>(),
            http: webhook::client()?,
            renderer: Arc::clone(&renderer),
            clock: tuning.clock,
            public_url: public_url.clone(),
            policy: RetryPolicy {
                lease: settings.delivery_lease,
                heartbeat: settings.delivery_heartbeat,
                ..tuning.retry
            },
            metrics,
            replies: settings
                .reply_address
                .clone()
                .map(|address| ReplyKeys::new(address, &signer.derive_secret("reply-keys"))),
        });
        let sso = settings
            .oidc
            .clone()
            .map(|oidc| SingleSignOn::new(oidc, &public_url).map(Arc::new))
            .transpose()?;
        // Both intakes share one path to the engine.
        let intake = settings
            .reply_address
            .as_ref()
            .map(|address| Arc::new(Intake::new(Arc::clone(&engine), address.clone())));
        let inbound = match (settings.inbound_smtp_listen, &intake) {
            (Some(addr), Some(intake)) => {
                let listener = TcpListener::bind(addr)
                    .await
                    .map_err(|source| StartError::Bind { addr, source })?;
                let tls = settings
                    .inbound_tls
                    .as_ref()
                    .map(|(cert, key)| inbound::smtp::tls_acceptor(cert, key))
                    .transpose()?;
                let intake = Arc::clone(intake);
                Some(Inbound {
                    listener,
                    intake,
                    tls,
                })
            }
            _ => None,
        };
        let imap = match (&settings.imap, &intake) {
            (Some(mailbox), Some(intake)) => Some(inbound::imap::Poller::new(
                Arc::clone(intake),
                Arc::clone(&engine),
                mailbox.clone(),
                tuning.imap,
            )),
            _ => None,
        };
        let timer_poll = tuning.timer_poll;
        let (stop, stopped) = watch::channel(false);
        let state = AppState {
            engine,
            staff,
            renderer,
            link_guard: Arc::new(LinkGuard::new(BAD_LINKS_PER_MINUTE)),
            trusted_proxies: Arc::new(TrustedProxies::new(settings.trusted_proxies.clone())),
            metrics_token: settings.metrics_token.as_deref().map(Arc::from),
            sso,
            https: public_url.scheme() == "https",
            public_url: public_url.clone(),
            shutdown: stopped,
        };
        Ok(App {
            listener,
            state,
            stop,
            delivery,
            workers: settings.delivery_workers,
            timer_poll,
            retention: settings.retention,
            wake,
            single_server,
            inbound,
            imap,
        })
    }

    /// Where the SMTP listener for replies is bound, if it runs.
    pub fn inbound_smtp_addr(&self) -> Option<SocketAddr> {
        self.inbound.as_ref()?.listener.local_addr().ok()
    }

    /// The bound address (tests bind port 0 and ask).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub fn engine(&self) -> &Arc<Engine> {
        &self.state.engine
    }

    pub fn staff(&self) -> &Arc<Staff> {
        &self.state.staff
    }

    /// The delivery worker, for tests that drive it step by step.
    pub fn delivery(&self) -> &Arc<Delivery> {
        &self.delivery
    }

    /// Serves and delivers until `shutdown` completes; then lets in-flight
    /// requests (for up to [`SHUTDOWN_GRACE`]) and deliveries finish.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let (stop, stopped) = (self.stop, self.state.shutdown.clone());
        let mut workers: Vec<_> = (0..self.workers)
            .map(|_| {
                let delivery = Arc::clone(&self.delivery);
                tokio::spawn(delivery.run(Arc::clone(&self.wake), stopped.clone()))
            })
            .collect();
        // A process that delivers also chases and purges; one without workers does neither.
        if self.workers > 0 {
            let engine = Arc::clone(&self.state.engine);
            workers.push(tokio::spawn(
                engine.run_chaser(self.timer_poll, stopped.clone()),
            ));
            if let Some(retention) = self.retention {
                let engine = Arc::clone(&self.state.engine);
                workers.push(tokio::spawn(
                    engine.run_retention(retention, stopped.clone()),
                ));
            }
        }
        if let Some(Inbound {
            listener,
            intake,
            tls,
        }) = self.inbound
        {
            workers.push(tokio::spawn(inbound::smtp::serve(
                listener,
                intake,
                tls,
                stopped.clone(),
            )));
        }
        if let Some(poller) = self.imap {
            workers.push(tokio::spawn(poller.run(stopped.clone())));
        }
        // Everything that runs until stopped hears it at once: workers finish
        // their step, live pages end their streams, requests in flight get
        // the grace period.
        let mut stopping = stopped;
        // Streamed bodies end with a small chunk: with Nagle's algorithm on,
        // it waits for the client's delayed ACK (~40 ms on a kept-alive
        // connection). Every response is written whole by hyper anyway.
        let listener = self.listener.tap_io(|connection| {
            if let Err(error) = connection.set_nodelay(true) {
                tracing::warn!(%error, "cannot set TCP_NODELAY on a connection");
            }
        });
        let server = axum::serve(
            listener,
            router(self.state).into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            shutdown.await;
            let _ = stop.send(true);
        });
        let grace = async {
            let _ = stopping.wait_for(|stopping| *stopping).await;
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        };
        let served = tokio::select! {
            served = server.into_future() => served,
            () = grace => {
                tracing::warn!(grace = ?SHUTDOWN_GRACE, "requests still in flight after the grace period: dropped");
                Ok(())
            }
        };
        for worker in workers {
            if let Err(error) = worker.await {
                tracing::error!(%error, "a delivery worker panicked");
            }
        }
        drop(self.single_server);
        served
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}
