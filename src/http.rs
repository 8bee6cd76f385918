//! The JSON API under `/api/v1`, with health and OpenAPI endpoints.

mod access;
mod briefings;
mod catalog;
mod client;
mod console;
mod error;
mod extract;
mod incidents;
mod links;
mod openapi;
mod private;
mod public;
mod regulatory;
mod signals;
mod statements;
mod text;
mod timeline;

use std::sync::Arc;

use std::time::Instant;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::HeaderValue;
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use tracing::Instrument;

pub use client::TrustedProxies;
pub use error::ApiError;
use error::ErrorBody;
pub use links::LinkGuard;
#[cfg(feature = "fuzzing")]
pub(crate) use links::{LinkAction, link_action, link_secret};
pub use openapi::ApiDoc;

use crate::delivery::render::Renderer;
use crate::engine::Engine;
use crate::staff::Staff;
use crate::staff::sso::{CALLBACK_PATH, SingleSignOn};

/// Above the largest body the document allows: two texts of 10,000
/// characters (resolve's summary and reason), each character possibly sent
/// as a 12-byte `\uD83D\uDE00` escape, is 240,000 bytes. Below that, a
/// long summary in Japanese or emoji would be refused although valid.
pub const BODY_LIMIT: usize = 256 * 1024;

#[derive(Clone)]
pub struct AppState {
    pub engine: Arc<Engine>,
    pub staff: Arc<Staff>,
    pub renderer: Arc<Renderer>,
    pub link_guard: Arc<LinkGuard>,
    /// Whose forwarding headers name the client.
    pub trusted_proxies: Arc<TrustedProxies>,
    /// The bearer token `/metrics` requires, if any.
    pub metrics_token: Option<Arc<str>>,
    /// Sign-in through the organisation's OpenID provider, if set up.
    pub sso: Option<Arc<SingleSignOn>>,
    /// Served behind HTTPS: the console's cookie is then `Secure`.
    pub https: bool,
    /// Where tocsin is reached: feeds name their entries by it.
    pub public_url: reqwest::Url,
    /// Turns true when the server starts shutting down: responses that
    /// would otherwise never end (live updates) end then.
    pub shutdown: tokio::sync::watch::Receiver<bool>,
}

pub fn router(state: AppState) -> Router {
    let incident = "/api/v1/incidents/{id}";
    let task = "/api/v1/incidents/{id}/tasks/{task_id}";
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/api/v1/openapi.json", get(openapi::document))
        .route("/api/v1/playbooks", get(catalog::playbooks))
        .route("/api/v1/scenarios", get(catalog::scenarios))
        .route(
            "/api/v1/incidents",
            get(incidents::list).post(incidents::trigger),
        )
        .route(incident, get(incidents::show))
        .route(&format!("{incident}/timeline"), get(timeline::export))
        .route(
            &format!("{incident}/timeline/verify"),
            get(timeline::verify),
        )
        .route(&format!("{incident}/corrections"), post(timeline::correct))
        .route(&format!("{incident}/statements"), post(statements::draft))
        .route(
            &format!("{incident}/statements/from-template"),
            post(statements::draft_from_template),
        )
        .route(
            &format!("{incident}/statements/{{statement_id}}"),
            put(statements::edit),
        )
        .route(
            &format!("{incident}/statements/{{statement_id}}/submit"),
            post(statements::submit),
        )
        .route(
            &format!("{incident}/statements/{{statement_id}}/approve"),
            post(statements::approve),
        )
        .route(
            &format!("{incident}/statements/{{statement_id}}/request-changes"),
            post(statements::request_changes),
        )
        .route(
            &format!("{incident}/statements/{{statement_id}}/publish"),
            post(statements::publish),
        )
        .route(
            &format!("{incident}/statements/{{statement_id}}/briefings"),
            post(briefings::brief_statement),
        )
        .route(
            &format!("{incident}/briefings"),
            post(briefings::brief_update),
        )
        .route(
            &format!("{incident}/briefings/{{briefing_id}}"),
            get(briefings::progress),
        )
        .route(
            &format!("{incident}/legal-hold"),
            post(timeline::legal_hold),
        )
        .route(
            &format!("{incident}/regulatory/claims"),
            post(regulatory::claim_fact),
        )
        .route(
            &format!("{incident}/regulatory/{{regime}}/arm"),
            post(regulatory::arm),
        )
        .route(
            &format!("{incident}/regulatory/{{regime}}/not-notifiable"),
            post(regulatory::not_notifiable),
        )
        .route(
            &format!("{incident}/regulatory/{{regime}}/steps/{{step}}/submissions"),
            post(regulatory::submit),
        )
        .route("/api/v1/timeline/public-key", get(timeline::public_key))
        .route("/public/statements", get(public::organisation))
        .route("/public/statements.atom", get(public::organisation_feed))
        .route("/public/incidents/{id}/statements", get(public::incident))
        .route(
            "/public/incidents/{id}/statements.atom",
            get(public::incident_feed),
        )
        .route("/api/v1/purge-log", get(timeline::purge_log))
        .route(
            "/api/v1/tokens",
            get(access::tokens).post(access::grant_token),
        )
        .route("/api/v1/tokens/{id}/revoke", post(access::revoke_token))
        .route("/api/v1/users", get(access::users).post(access::add_user))
        .route("/api/v1/users/{id}/role", post(access::change_role))
        .route("/api/v1/users/{id}", delete(access::remove_user))
        .route("/api/v1/audit", get(access::audit_log))
        .route(&format!("{incident}/notes"), post(incidents::add_note))
        .route(
            &format!("{incident}/severity"),
            post(incidents::change_severity),
        )
        .route(&format!("{incident}/resolve"), post(incidents::resolve))
        .route(
            &format!("{incident}/departments/{{department}}/acknowledge"),
            post(incidents::acknowledge_department),
        )
        .route(
            &format!("{task}/acknowledge"),
            post(incidents::acknowledge_task),
        )
        .route(&format!("{task}/complete"), post(incidents::complete_task))
        .route(&format!("{task}/skip"), post(incidents::skip_task))
        .route("/links/{token}", get(links::show).post(links::act))
        .route("/api/v1/signals", post(signals::receive))
        .route(
            "/signals/confirm/{token}",
            get(signals::show).post(signals::confirm),
        )
        .route("/assets/live.js", get(console::live_script))
        .merge(console_routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

/// The console's pages, each a private page (see `private.rs`).
fn console_routes() -> Router<AppState> {
    Router::new()
        .route("/", get(console::dashboard))
        .route(
            "/sign-in",
            get(console::sign_in_form).post(console::request_sign_in),
        )
        .route("/sign-in/sso", get(console::sso_start))
        .route(CALLBACK_PATH, get(console::sso_callback))
        .route(
            "/sign-in/{token}",
            get(console::confirm_sign_in).post(console::complete_sign_in),
        )
        .route("/sign-out", post(console::sign_out))
        .route(
            "/incidents/new",
            get(console::new_incident).post(console::trigger),
        )
        .route("/incidents/{id}", get(console::incident))
        .route("/incidents/{id}/act", post(console::act))
        .route("/incidents/{id}/live", get(console::live))
        .route("/incidents/{id}/timeline", get(console::timeline))
        .route("/incidents/{id}/statements", get(console::statements))
        .route("/incidents/{id}/export", get(console::export))
        .route("/access", get(console::access).post(console::change_access))
        .route_layer(axum::middleware::map_response(private::console))
}

/// The process is up. It says nothing about the database: see readiness.
#[utoipa::path(get, path = "/healthz", tag = "health",
    responses((status = 200, description = "The server is alive", body = String)))]
pub async fn healthz() -> &'static str {
    "ok"
}

/// Ready to serve: the database answers, every migration is applied, and
/// the playbooks loaded (they did, or the server would not have started);
/// and whether messages are being delivered.
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses(
        (status = 200, description = "Ready", body = Readiness),
        (status = 503, description = "Not ready; `checks` says what fails", body = Readiness),
    ))]
pub async fn readyz(State(state): State<AppState>) -> Response {
    let readiness = state.engine.readiness().await;
    let ready = readiness.ready();
    let body = Readiness {
        status: match (ready, readiness.outbox_flowing) {
            (false, _) => "not ready",
            (true, false) => "degraded",
            (true, true) => "ready",
        },
        checks: ReadinessChecks {
            database: readiness.database,
            migrations: readiness.migrations,
            playbooks: true,
            outbox_flowing: readiness.outbox_flowing,
        },
    };
    let status = if ready {
        axum::http::StatusCode::OK
    } else {
        axum::http::StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(body)).into_response()
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Readiness {
    /// `ready`; `degraded` when serving but the outbox has stalled (an
    /// alert, not a reason to stop serving: people must still reach the
    /// incident and its links); `not ready`.
    status: &'static str,
    checks: ReadinessChecks,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ReadinessChecks {
    database: bool,
    migrations: bool,
    playbooks: bool,
    /// False when a due message has waited two minutes for a worker.
    outbox_flowing: bool,
}

/// Prometheus metrics, in the OpenMetrics text format; with the bearer
/// token `TOCSIN_METRICS_TOKEN` names, when it is set.
#[utoipa::path(get, path = "/metrics", tag = "health",
    responses(
        (status = 200, description = "Metrics", content_type = "application/openmetrics-text", body = String),
        (status = 401, description = "A metrics token is set, and the request does not carry it", body = ErrorBody),
    ))]
pub async fn metrics(State(state): State<AppState>, headers: axum::http::HeaderMap) -> Response {
    if let Some(expected) = &state.metrics_token {
        let given = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .unwrap_or_default();
        if !crate::secret::same_secret(given, expected) {
            let mut response =
                ApiError::unauthorized("metrics need the metrics bearer token").into_response();
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer"),
            );
            return response;
        }
    }
    match state.engine.scrape_metrics().await {
        Ok(text) => (
            [(
                axum::http::header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(error) => ApiError::internal(&error).into_response(),
    }
}

/// Gives every request an id (the caller's `X-Request-Id` if sane), a span
/// carrying it, a log line and a duration. Routes are logged by template:
/// paths and queries can carry link secrets, and never reach a log.
async fn observe(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|value| value.to_str().ok())
        .filter(|id| {
            !id.is_empty()
                && id.len() <= 64
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        })
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let method = request.method().to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let span = tracing::info_span!("request", id = %request_id, method = %method, route = %route);
    let mut response = next.run(request).instrument(span.clone()).await;
    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    state
        .engine
        .metrics()
        .http_requests
        .get_or_create(&crate::metrics::HttpLabels {
            method,
            route,
            status,
        })
        .observe(elapsed.as_secs_f64());
    span.in_scope(|| tracing::info!(status, ms = elapsed.as_secs_f64() * 1000.0, "request"));
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-request-id", value);
    }
    response
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such endpoint")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this endpoint does not accept that method",
    )
}
