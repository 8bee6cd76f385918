//! Wiring: connect the store, migrate, load playbooks, bind, serve until told to stop.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;

use crate::config::{Settings, redact_url};
use crate::engine::{Clock, Engine, SystemClock};
use crate::http::{AppState, router};
use crate::playbook::{Catalog, Diagnostics};
use crate::store::{self, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("the playbooks in {dir} are invalid:\n{diagnostics}")]
    Playbooks {
        dir: String,
        diagnostics: Diagnostics,
    },
    #[error("database {url}: {source}")]
    Store { url: String, source: StoreError },
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

pub fn load_playbooks(settings: &Settings) -> Result<Catalog, StartError> {
    Catalog::load(&settings.playbooks).map_err(|diagnostics| StartError::Playbooks {
        dir: settings.playbooks.display().to_string(),
        diagnostics,
    })
}

/// Connects and applies migrations: the one place the schema moves.
pub async fn open_store(settings: &Settings) -> Result<Arc<dyn store::Store>, StartError> {
    let error = |source| StartError::Store {
        url: redact_url(&settings.database_url),
        source,
    };
    let store = store::connect(&settings.database_url)
        .await
        .map_err(error)?;
    store.migrate().await.map_err(error)?;
    Ok(store)
}

/// A server ready to run: playbooks valid, database migrated, port bound.
pub struct App {
    listener: TcpListener,
    engine: Arc<Engine>,
}

impl App {
    pub async fn build(settings: &Settings) -> Result<App, StartError> {
        Self::build_with_clock(settings, Arc::new(SystemClock)).await
    }

    pub async fn build_with_clock(
        settings: &Settings,
        clock: Arc<dyn Clock>,
    ) -> Result<App, StartError> {
        let catalog = load_playbooks(settings)?;
        let store = open_store(settings).await?;
        let listener =
            TcpListener::bind(settings.listen)
                .await
                .map_err(|source| StartError::Bind {
                    addr: settings.listen,
                    source,
                })?;
        let engine = Arc::new(Engine::new(store, Arc::new(catalog), clock));
        Ok(App { listener, engine })
    }

    /// The bound address (tests bind port 0 and ask).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    /// Serves until `shutdown` completes, then lets in-flight requests finish.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let state = AppState {
            engine: self.engine,
        };
        axum::serve(self.listener, router(state))
            .with_graceful_shutdown(shutdown)
            .await
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
