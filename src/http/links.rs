//! The pages behind links in emails. Mail scanners fetch every link on
//! delivery, so GET (and HEAD) only show a page; only a POST from the page's
//! form acts. Acting twice is harmless: the page says who acted, and when.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;

use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::extract::{ConnectInfo, State};
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, REFERRER_POLICY, USER_AGENT, X_CONTENT_TYPE_OPTIONS,
    X_FRAME_OPTIONS,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use chrono::{DateTime, Utc};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::extract::Path;
use crate::auth::hash_secret;
use crate::domain::{Actor, DomainError, Incident, LinkUse, Task, TaskStatus};
use crate::engine::EngineError;
use crate::notify::links::{LinkToken, parse_secret};
use crate::notify::render::{IncidentView, when};

/// Throttles guessing: bad tokens from one address beyond this answer 429.
pub struct LinkGuard {
    limiter: DefaultKeyedRateLimiter<IpAddr>,
}

impl LinkGuard {
    pub fn new(bad_tokens_per_minute: NonZeroU32) -> LinkGuard {
        LinkGuard {
            limiter: RateLimiter::keyed(Quota::per_minute(bad_tokens_per_minute)),
        }
    }

    /// Counts a bad token; true if the address is over its allowance.
    fn over_limit(&self, ip: IpAddr) -> bool {
        self.limiter.check_key(&ip).is_err()
    }
}

#[derive(Debug, Deserialize)]
pub struct LinkForm {
    action: String,
    #[serde(default)]
    note: Option<String>,
    #[serde(default)]
    reason: Option<String>,
}

#[derive(Serialize)]
struct LinkPage<'a> {
    incident: IncidentView<'a>,
    subject_title: String,
    subject_description: Option<String>,
    recipient: &'a str,
    department_name: String,
    outcome: Option<String>,
    history: Vec<String>,
    waiting_on: Vec<String>,
    actions: Vec<&'static str>,
    form_action: String,
}

#[derive(Serialize)]
struct Problem<'a> {
    heading: &'a str,
    message: &'a str,
}

/// Link pages are for one person's eyes: no referrer to leak the token, no
/// caching, no framing, no scripts.
fn page(status: StatusCode, body: String) -> Response {
    let mut response = (status, Html(body)).into_response();
    let headers = response.headers_mut();
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(
        CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
        ),
    );
    response
}

fn problem(state: &AppState, status: StatusCode, heading: &str, message: &str) -> Response {
    match state
        .renderer
        .page("pages/problem.html", Problem { heading, message })
    {
        Ok(body) => page(status, body),
        Err(error) => internal(&error),
    }
}

fn internal(error: &dyn std::fmt::Display) -> Response {
    tracing::error!(%error, "link page failed");
    page(
        StatusCode::INTERNAL_SERVER_ERROR,
        "<!doctype html><title>Error</title><p>Something went wrong on our side. Please try again.</p>"
            .to_owned(),
    )
}

/// A usable link and its incident, or the page that says why not.
async fn resolve(
    state: &AppState,
    token: &str,
    ip: IpAddr,
) -> Result<(LinkToken, Incident), Response> {
    let found = match parse_secret(token) {
        Some(secret) => state
            .engine
            .store()
            .link(&hash_secret(secret))
            .await
            .map_err(|error| internal(&error))?,
        None => None,
    };
    let Some(link) = found else {
        if state.link_guard.over_limit(ip) {
            return Err(problem(
                state,
                StatusCode::TOO_MANY_REQUESTS,
                "Too many attempts",
                "Too many unknown links were tried from your address. Wait a minute and try again.",
            ));
        }
        return Err(problem(
            state,
            StatusCode::NOT_FOUND,
            "Unknown link",
            "This link is not valid. Check that it was copied whole, or use the latest email about the incident.",
        ));
    };
    let incident = state
        .engine
        .incident(link.incident_id)
        .await
        .map_err(|error| internal(&error))?;
    if expired(&incident, state.link_grace, state.engine.now()) {
        return Err(problem(
            state,
            StatusCode::GONE,
            "This link has expired",
            "The incident was resolved and its links no longer work. Ask the incident commander if something is still open.",
        ));
    }
    Ok((link, incident))
}

fn expired(incident: &Incident, grace: chrono::Duration, now: DateTime<Utc>) -> bool {
    incident
        .resolved_at
        .is_some_and(|resolved| resolved + grace < now)
}

fn history(task: &Task) -> Vec<String> {
    let mut lines = Vec::new();
    if let (Some(at), Some(by)) = (task.acknowledged_at, &task.acknowledged_by) {
        lines.push(format!("Acknowledged by {} at {}.", who(by), when(at)));
    }
    if let (Some(at), Some(by)) = (task.closed_at, &task.closed_by) {
        let verb = if task.status == TaskStatus::Skipped {
            "Skipped"
        } else {
            "Done"
        };
        let note = task
            .note
            .as_deref()
            .map(|n| format!(" \u{201c}{n}\u{201d}"))
            .unwrap_or_default();
        lines.push(format!("{verb} by {} at {}.{note}", who(by), when(at)));
    }
    lines
}

/// `link:ann@example.com` reads as `ann@example.com (by email link)`.
fn who(actor: &str) -> String {
    match actor.split_once(':') {
        Some(("link", email)) => format!("{email} (by email link)"),
        Some((_, name)) => name.to_owned(),
        None => actor.to_owned(),
    }
}

fn render(
    state: &AppState,
    token: &str,
    link: &LinkToken,
    incident: &Incident,
    outcome: Option<String>,
    status: StatusCode,
) -> Response {
    let department = incident
        .departments
        .iter()
        .find(|d| d.id == link.department);
    let department_name = department
        .map(|d| d.name.clone())
        .unwrap_or_else(|| link.department.clone());
    let scenario = state
        .engine
        .catalog()
        .scenario(&incident.scenario)
        .map(|s| s.title.as_str());
    let open = incident.resolved_at.is_none();
    let (subject_title, subject_description, history, waiting_on, actions) = match link.task_id {
        Some(task_id) => match incident.task(task_id) {
            Some(task) => {
                let waiting_on: Vec<String> = incident
                    .waiting_on(task)
                    .map(|dep| dep.title.clone())
                    .collect();
                let mut actions = Vec::new();
                if open && task.status == TaskStatus::Open {
                    actions.push("acknowledge");
                }
                if open && !task.status.is_closed() && waiting_on.is_empty() {
                    actions.push("complete");
                }
                if open && !task.status.is_closed() && !task.required {
                    actions.push("skip");
                }
                (
                    task.title.clone(),
                    Some(task.description.clone()),
                    history(task),
                    waiting_on,
                    actions,
                )
            }
            None => (
                link.department.clone(),
                None,
                Vec::new(),
                Vec::new(),
                Vec::new(),
            ),
        },
        None => {
            let mut lines = Vec::new();
            let mut actions = Vec::new();
            match department.and_then(|d| d.acknowledged_at.zip(d.acknowledged_by.as_ref())) {
                Some((at, by)) => lines.push(format!(
                    "{department_name} was acknowledged by {} at {}.",
                    who(by),
                    when(at)
                )),
                None if open => actions.push("acknowledge"),
                None => {}
            }
            (
                format!("{department_name}: acknowledge the incident"),
                None,
                lines,
                Vec::new(),
                actions,
            )
        }
    };
    let view = LinkPage {
        incident: IncidentView::new(incident, scenario),
        subject_title,
        subject_description,
        recipient: &link.recipient,
        department_name,
        outcome,
        history,
        waiting_on,
        actions,
        form_action: format!("/links/{token}"),
    };
    match state.renderer.page("pages/link.html", view) {
        Ok(body) => page(status, body),
        Err(error) => internal(&error),
    }
}

/// Shows what the link is for and its buttons. Changes nothing.
pub async fn show(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(token): Path<String>,
) -> Response {
    match resolve(&state, &token, peer.ip()).await {
        Ok((link, incident)) => render(&state, &token, &link, &incident, None, StatusCode::OK),
        Err(response) => response,
    }
}

/// Acts, as the person the link was sent to, from wherever the click came.
pub async fn act(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(token): Path<String>,
    form: Result<Form<LinkForm>, FormRejection>,
) -> Response {
    let (link, incident) = match resolve(&state, &token, peer.ip()).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let Ok(Form(form)) = form else {
        return problem(
            &state,
            StatusCode::BAD_REQUEST,
            "Unreadable form",
            "Please use the buttons on the page.",
        );
    };
    let actor = Actor::link(LinkUse {
        recipient: link.recipient.clone(),
        ip: peer.ip().to_string(),
        user_agent: headers
            .get(USER_AGENT)
            .and_then(|value| value.to_str().ok())
            .map(|ua| ua.chars().take(300).collect()),
    });
    let text = |value: Option<String>| value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
    let engine = &state.engine;
    let id = link.incident_id;
    let result = match (form.action.as_str(), link.task_id) {
        ("acknowledge", None) => engine
            .acknowledge_department(id, &link.department, &actor)
            .await
            .map(|i| (i, "Acknowledged. Thank you.")),
        ("acknowledge", Some(task)) => engine
            .acknowledge_task(id, task, &actor)
            .await
            .map(|i| (i, "Acknowledged. Thank you.")),
        ("complete", Some(task)) => engine
            .complete_task(id, task, text(form.note), &actor)
            .await
            .map(|i| (i, "Marked as done. Thank you.")),
        ("skip", Some(task)) => match text(form.reason) {
            Some(_) if incident.task(task).is_none_or(|t| t.required) => {
                return problem(
                    &state,
                    StatusCode::CONFLICT,
                    "This item cannot be skipped here",
                    "It is required for resolution; ask the incident commander.",
                );
            }
            Some(reason) => engine
                .skip_task(id, task, reason, &actor)
                .await
                .map(|i| (i, "Skipped. The reason is on the timeline.")),
            None => {
                return problem(
                    &state,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "A reason is needed",
                    "Go back and say why this item is skipped.",
                );
            }
        },
        _ => {
            return problem(
                &state,
                StatusCode::BAD_REQUEST,
                "Unknown action",
                "Please use the buttons on the page.",
            );
        }
    };
    match result {
        Ok((incident, outcome)) => render(
            &state,
            &token,
            &link,
            &incident,
            Some(outcome.to_owned()),
            StatusCode::OK,
        ),
        // Already done: the page shows by whom and when.
        Err(EngineError::Refused(DomainError::TaskClosed { .. })) => {
            match engine.incident(id).await {
                Ok(incident) => render(&state, &token, &link, &incident, None, StatusCode::OK),
                Err(error) => internal(&error),
            }
        }
        Err(EngineError::Refused(refused)) => problem(
            &state,
            StatusCode::CONFLICT,
            "Not possible right now",
            &refused.to_string(),
        ),
        Err(EngineError::Invalid { message, .. }) => problem(
            &state,
            StatusCode::UNPROCESSABLE_ENTITY,
            "Not accepted",
            &message,
        ),
        Err(error) => internal(&error),
    }
}
