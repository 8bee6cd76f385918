//! The JSON API under `/api/v1`, with health and OpenAPI endpoints.

mod catalog;
mod console;
mod error;
mod extract;
mod incidents;
mod links;
mod openapi;
mod timeline;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};

pub use error::ApiError;
pub use links::LinkGuard;
pub use openapi::ApiDoc;

use crate::engine::Engine;
use crate::notify::render::Renderer;

/// Triggers and notes are text for people; nothing legitimate comes near this.
pub const BODY_LIMIT: usize = 64 * 1024;

#[derive(Clone)]
pub struct AppState {
    pub engine: Arc<Engine>,
    pub renderer: Arc<Renderer>,
    pub link_guard: Arc<LinkGuard>,
    /// How long links keep working after their incident is resolved.
    pub link_grace: chrono::Duration,
    /// For sign-in mail, which goes straight out.
    pub mailer: Arc<crate::notify::email::Mailer>,
    pub mail_from: lettre::message::Mailbox,
    pub public_url: reqwest::Url,
}

pub fn router(state: AppState) -> Router {
    let incident = "/api/v1/incidents/{id}";
    let task = "/api/v1/incidents/{id}/tasks/{task_id}";
    Router::new()
        .route("/healthz", get(healthz))
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
        .route(
            &format!("{incident}/statements"),
            post(timeline::record_statement),
        )
        .route(
            &format!("{incident}/legal-hold"),
            post(timeline::legal_hold),
        )
        .route("/api/v1/timeline/public-key", get(timeline::public_key))
        .route("/api/v1/purge-log", get(timeline::purge_log))
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
        .route("/", get(console::dashboard))
        .route(
            "/sign-in",
            get(console::sign_in_form).post(console::request_sign_in),
        )
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
        .route("/incidents/{id}/export", get(console::export))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state)
}

/// The process is up. It says nothing about the database: see readiness.
#[utoipa::path(get, path = "/healthz", tag = "health",
    responses((status = 200, description = "The server is alive", body = String)))]
pub async fn healthz() -> &'static str {
    "ok"
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
