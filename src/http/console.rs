//! The web console for communications staff and legal: server-rendered
//! pages, sign-in by emailed one-time link, session cookies, CSRF tokens on
//! every form, and live updates by server-sent events.

use std::collections::BTreeSet;
use std::convert::Infallible;
use std::time::Duration;

use axum::Form;
use axum::extract::{FromRequestParts, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};
use chrono::{DateTime, NaiveDateTime, Utc};
use futures_util::Stream;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::AppState;
use super::extract::{Path, Query};
use super::timeline::{ExportParams, export_response, format_of};
use crate::auth::{Permission, Session};
use crate::delivery::render::when;
use crate::domain::{Actor, Incident, IncidentStatus, Severity, TaskStatus};
use crate::engine::{EngineError, Trigger};
use crate::staff;
use crate::timeline::export::summarize;

const SESSION_COOKIE: &str = "tocsin_session";

/// A signed-in person. Pages that need one send everyone else to sign in.
pub struct Staff {
    session: Session,
    secret: String,
}

impl Staff {
    fn can(&self, permission: Permission) -> bool {
        self.session.user.role.allows(permission)
    }

    fn actor(&self) -> Actor {
        Actor {
            kind: "user",
            name: self.session.user.email.clone(),
            via: None,
        }
    }

    /// The fields every console page needs.
    fn base(&self) -> Base {
        Base {
            user_email: self.session.user.email.clone(),
            user_role: self.session.user.role.as_str(),
            csrf: self.session.csrf_token.clone(),
            can_act: self.can(Permission::Act),
            can_hold: self.can(Permission::Hold),
        }
    }

    /// Forms carry the session's CSRF token; another site's forms cannot.
    fn csrf_ok(&self, token: &str) -> bool {
        token == self.session.csrf_token
    }
}

fn csrf_refused() -> Response {
    (
        StatusCode::FORBIDDEN,
        "This form has expired: reload the page and try again.",
    )
        .into_response()
}

impl FromRequestParts<AppState> for Staff {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let jar = CookieJar::from_headers(&parts.headers);
        let to_sign_in = || Redirect::to("/sign-in").into_response();
        let Some(secret) = jar.get(SESSION_COOKIE).map(|c| c.value().to_owned()) else {
            return Err(to_sign_in());
        };
        match staff::session(state.engine.store().as_ref(), &secret, state.engine.now()).await {
            Ok(Some(session)) => Ok(Staff { session, secret }),
            Ok(None) => Err(to_sign_in()),
            Err(error) => Err(internal(&error)),
        }
    }
}

#[derive(Serialize)]
struct Base {
    user_email: String,
    user_role: &'static str,
    csrf: String,
    can_act: bool,
    can_hold: bool,
}

fn internal(error: &dyn std::fmt::Display) -> Response {
    tracing::error!(%error, "console page failed");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong on our side. Please try again.",
    )
        .into_response()
}

fn page(state: &AppState, name: &str, context: impl Serialize) -> Response {
    match state.renderer.page(name, context) {
        Ok(body) => Html(body).into_response(),
        Err(error) => internal(&error),
    }
}

#[derive(Serialize)]
struct WithBase<T: Serialize> {
    #[serde(flatten)]
    base: Base,
    #[serde(flatten)]
    page: T,
}

fn console_page(state: &AppState, staff: &Staff, name: &str, context: impl Serialize) -> Response {
    page(
        state,
        name,
        WithBase {
            base: staff.base(),
            page: context,
        },
    )
}

// ---- signing in -----------------------------------------------------------------

/// Sign-in mail one address may be sent: a few at once, then one every few
/// minutes, so the form cannot be used to flood somebody's inbox.
pub struct SignInGuard {
    limiter: governor::DefaultKeyedRateLimiter<String>,
}

impl SignInGuard {
    pub fn new(quota: governor::Quota) -> SignInGuard {
        SignInGuard {
            limiter: governor::RateLimiter::keyed(quota),
        }
    }

    /// Counts a sign-in mail to `email`; false if it is over its allowance.
    fn allow(&self, email: &str) -> bool {
        self.limiter.check_key(&email.to_owned()).is_ok()
    }
}

#[derive(Deserialize)]
pub struct SignInForm {
    email: String,
}

pub async fn sign_in_form(State(state): State<AppState>) -> Response {
    page(
        &state,
        "console/sign_in.html",
        serde_json::json!({ "sent": null }),
    )
}

/// Sends a link if the address has an account; says the same either way,
/// so the form does not reveal who has one.
pub async fn request_sign_in(
    State(state): State<AppState>,
    Form(form): Form<SignInForm>,
) -> Response {
    let store = state.engine.store();
    let now = state.engine.now();
    if let Ok(email) = staff::normalise_email(&form.email) {
        match store.user_by_email(&email).await {
            // Only known addresses are counted: the limiter holds one key per user.
            Ok(Some(user)) if !state.sign_in_guard.allow(&user.email) => {
                tracing::info!("sign-in mail withheld: asked for too often");
            }
            Ok(Some(user)) => match staff::issue_sign_in(store.as_ref(), &user, now).await {
                Ok(secret) => send_sign_in_mail(&state, &user.email, &secret),
                Err(error) => return internal(&error),
            },
            Ok(None) => {}
            Err(error) => return internal(&error),
        }
    }
    page(
        &state,
        "console/sign_in.html",
        serde_json::json!({ "sent": form.email.trim() }),
    )
}

/// The sign-in mail goes straight out, not through the outbox: it changes no
/// incident, and if it is lost the person asks again.
fn send_sign_in_mail(state: &AppState, to: &str, secret: &str) {
    let link = format!(
        "{}/sign-in/{secret}",
        state.public_url.as_str().trim_end_matches('/')
    );
    let message = lettre::Message::builder()
        .from(state.mail_from.clone())
        .to(match to.parse() {
            Ok(mailbox) => mailbox,
            Err(_) => return,
        })
        .subject("Your tocsin sign-in link")
        .body(format!(
            "Open this link to sign in to tocsin. It works once, for 15 minutes:\n\n{link}\n\n\
             Nothing happens until you press the button on the page it opens.\n\
             If you did not ask for it, ignore this message.\n"
        ));
    let Ok(message) = message else { return };
    let mailer = state.mailer.clone();
    tokio::spawn(async move {
        if let Err(failure) = mailer.send(message).await {
            tracing::warn!(error = %failure, "sign-in mail not sent");
        }
    });
}

pub async fn confirm_sign_in(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    let usable = state
        .engine
        .store()
        .sign_in_link_usable(&crate::secret::hash_secret(&token), state.engine.now())
        .await
        .unwrap_or(false);
    let response = page(
        &state,
        "console/sign_in_confirm.html",
        serde_json::json!({ "usable": usable, "action": format!("/sign-in/{token}") }),
    );
    if usable {
        response
    } else {
        (StatusCode::GONE, response).into_response()
    }
}

pub async fn complete_sign_in(
    State(state): State<AppState>,
    jar: CookieJar,
    Path(token): Path<String>,
) -> Response {
    match staff::sign_in(state.engine.store().as_ref(), &token, state.engine.now()).await {
        Ok(Some((secret, _))) => {
            let cookie = Cookie::build((SESSION_COOKIE, secret))
                .http_only(true)
                .same_site(SameSite::Lax)
                .secure(state.public_url.scheme() == "https")
                .path("/")
                .build();
            (jar.add(cookie), Redirect::to("/")).into_response()
        }
        Ok(None) => {
            let response = page(
                &state,
                "console/sign_in_confirm.html",
                serde_json::json!({ "usable": false }),
            );
            (StatusCode::GONE, response).into_response()
        }
        Err(error) => internal(&error),
    }
}

#[derive(Deserialize)]
pub struct CsrfForm {
    csrf: String,
}

pub async fn sign_out(
    State(state): State<AppState>,
    jar: CookieJar,
    staff: Staff,
    Form(form): Form<CsrfForm>,
) -> Response {
    if !staff.csrf_ok(&form.csrf) {
        return csrf_refused();
    }
    if let Err(error) = staff::sign_out(state.engine.store().as_ref(), &staff.secret).await {
        return internal(&error);
    }
    (
        jar.remove(Cookie::build(SESSION_COOKIE).path("/")),
        Redirect::to("/sign-in"),
    )
        .into_response()
}

// ---- the dashboard -------------------------------------------------------------

#[derive(Serialize)]
struct DashboardIncident {
    id: Uuid,
    reference: String,
    title: String,
    severity: Severity,
    age: String,
    resolved: Option<String>,
    departments: Vec<Progress>,
}

#[derive(Serialize)]
struct Progress {
    name: String,
    acknowledged: bool,
    done: usize,
    total: usize,
    overdue: usize,
}

fn age(since: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let minutes = (now - since).num_minutes().max(0);
    match minutes {
        0..60 => format!("{minutes} min"),
        60..2880 => format!("{} h {} min", minutes / 60, minutes % 60),
        _ => format!("{} days", minutes / 1440),
    }
}

fn overdue(task: &crate::domain::Task, now: DateTime<Utc>) -> bool {
    !task.status.is_closed()
        && (task.due_at.is_some_and(|due| due < now)
            || (task.status == TaskStatus::Open && task.ack_due_at < now))
}

fn dashboard_row(incident: Incident, now: DateTime<Utc>) -> DashboardIncident {
    DashboardIncident {
        departments: incident
            .departments
            .iter()
            .map(|dept| Progress {
                name: dept.name.clone(),
                acknowledged: dept.acknowledged_at.is_some(),
                done: dept.tasks.iter().filter(|t| t.status.is_closed()).count(),
                total: dept.tasks.len(),
                overdue: dept.tasks.iter().filter(|t| overdue(t, now)).count(),
            })
            .collect(),
        id: incident.id,
        reference: incident.reference,
        title: incident.title,
        severity: incident.severity,
        age: age(incident.opened_at, now),
        resolved: incident.resolved_at.map(when),
    }
}

pub async fn dashboard(State(state): State<AppState>, staff: Staff) -> Response {
    let now = state.engine.now();
    let (open, resolved) = match (
        state
            .engine
            .incidents(Some(IncidentStatus::Open), 200)
            .await,
        state
            .engine
            .incidents(Some(IncidentStatus::Resolved), 50)
            .await,
    ) {
        (Ok(open), Ok(resolved)) => (open, resolved),
        (Err(error), _) | (_, Err(error)) => return internal(&error),
    };
    let mut open = open;
    // Most urgent first: severity, then the longest open.
    open.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then(a.opened_at.cmp(&b.opened_at))
    });
    console_page(
        &state,
        &staff,
        "console/dashboard.html",
        serde_json::json!({ "open": open.into_iter().map(|i| dashboard_row(i, now)).collect::<Vec<_>>(), "resolved": resolved.into_iter().map(|i| dashboard_row(i, now)).collect::<Vec<_>>() }),
    )
}

// ---- triggering ----------------------------------------------------------------

#[derive(Deserialize, Serialize, Default)]
pub struct TriggerForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    scenario: String,
    #[serde(default)]
    severity: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    summary: String,
}

#[derive(Serialize)]
struct PreviewDepartment {
    name: String,
    head: String,
    tasks: Vec<String>,
}

fn new_incident_page(
    state: &AppState,
    staff: &Staff,
    form: &TriggerForm,
    error: Option<String>,
) -> Response {
    let severity: Option<Severity> = form.severity.parse().ok();
    let preview: Option<Vec<PreviewDepartment>> = severity
        .and_then(|severity| state.engine.catalog().plan(&form.scenario, severity))
        .filter(|_| form.action == "preview" || error.is_some())
        .map(|plan| {
            plan.departments
                .iter()
                .map(|dept| PreviewDepartment {
                    name: dept.name.clone(),
                    head: format!("{} <{}>", dept.head.name, dept.head.email),
                    tasks: dept
                        .tasks
                        .iter()
                        .map(|task| {
                            format!(
                                "{}{}",
                                task.title,
                                if task.required { " (required)" } else { "" }
                            )
                        })
                        .collect(),
                })
                .collect()
        });
    console_page(
        state,
        staff,
        "console/new_incident.html",
        serde_json::json!({ "scenarios": state.engine.catalog().scenarios(), "form": form, "preview": preview, "error": error }),
    )
}

pub async fn new_incident(State(state): State<AppState>, staff: Staff) -> Response {
    let form = TriggerForm {
        severity: "high".into(),
        ..TriggerForm::default()
    };
    new_incident_page(&state, &staff, &form, None)
}

pub async fn trigger(
    State(state): State<AppState>,
    staff: Staff,
    Form(form): Form<TriggerForm>,
) -> Response {
    if !staff.csrf_ok(&form.csrf) {
        return csrf_refused();
    }
    if !staff.can(Permission::Act) {
        return (
            StatusCode::FORBIDDEN,
            "Your role may not trigger incidents.",
        )
            .into_response();
    }
    if form.action != "open" {
        return new_incident_page(&state, &staff, &form, None);
    }
    let Ok(severity) = form.severity.parse::<Severity>() else {
        return new_incident_page(&state, &staff, &form, Some("Choose a severity.".into()));
    };
    let (title, summary) = (form.title.trim(), form.summary.trim());
    if title.is_empty() || summary.is_empty() {
        return new_incident_page(
            &state,
            &staff,
            &form,
            Some("Give the incident a title and a summary.".into()),
        );
    }
    let trigger = Trigger {
        title: title.to_owned(),
        scenario: form.scenario.clone(),
        severity,
        summary: summary.to_owned(),
        commander: None,
    };
    match state.engine.open(trigger, &staff.actor(), None).await {
        Ok(opened) => Redirect::to(&format!("/incidents/{}", opened.incident.id)).into_response(),
        Err(EngineError::Invalid { message, .. }) => {
            new_incident_page(&state, &staff, &form, Some(message))
        }
        Err(error) => internal(&error),
    }
}

// ---- one incident ----------------------------------------------------------------

#[derive(Serialize)]
struct IncidentPage {
    id: Uuid,
    reference: String,
    title: String,
    severity: Severity,
    scenario: String,
    status: &'static str,
    summary: String,
    commander: String,
    opened: String,
    legal_hold: bool,
    departments: Vec<DepartmentPage>,
}

#[derive(Serialize)]
struct DepartmentPage {
    id: String,
    name: String,
    status: &'static str,
    head: String,
    acknowledged: Option<String>,
    next_chase: Option<String>,
    tasks: Vec<TaskPage>,
}

#[derive(Serialize)]
struct TaskPage {
    id: Uuid,
    key: String,
    title: String,
    required: bool,
    status: &'static str,
    by: Option<String>,
    note: Option<String>,
    due: String,
    overdue: bool,
    waiting_on: Vec<String>,
    chased: Vec<String>,
    next_chase: Option<String>,
}

fn rung(stage: i64) -> &'static str {
    match stage {
        0 => "remind the head",
        1 => "escalate to the deputies",
        _ => "escalate to the commander",
    }
}

#[derive(Deserialize)]
pub struct IncidentQuery {
    message: Option<String>,
    failed: Option<bool>,
}

pub async fn incident(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<Uuid>,
    Query(query): Query<IncidentQuery>,
) -> Response {
    let now = state.engine.now();
    let (incident, chasing, head) = match (
        state.engine.incident(id).await,
        state.engine.chasing(id).await,
        state.engine.store().chain_head(id).await,
    ) {
        (Ok(incident), Ok(chasing), Ok(head)) => (incident, chasing, head),
        (Err(EngineError::NotFound(_)), _, _) => {
            return (StatusCode::NOT_FOUND, "No such incident.").into_response();
        }
        (Err(error), _, _) | (_, Err(error), _) => return internal(&error),
        (_, _, Err(error)) => return internal(&error),
    };
    let chased_lines = |department: &str, task_id: Option<Uuid>| -> Vec<String> {
        let task_value = task_id.map_or(serde_json::Value::Null, |id| id.to_string().into());
        chasing
            .past
            .iter()
            .filter(|e| e.data["department"] == department && e.data["task_id"] == task_value)
            .map(|e| {
                format!(
                    "{}: {}",
                    when(e.at),
                    rung(e.data["stage"].as_i64().unwrap_or_default())
                )
            })
            .collect()
    };
    let next = |department: &str, task_id: Option<Uuid>| {
        chasing
            .next
            .iter()
            .find(|t| t.department == department && t.task_id == task_id)
            .map(|t| format!("{} at {}", rung(t.stage), when(t.due_at)))
    };
    let view = IncidentPage {
        departments: incident
            .departments
            .iter()
            .map(|dept| DepartmentPage {
                id: dept.id.clone(),
                name: dept.name.clone(),
                status: dept.status(),
                head: format!("{} <{}>", dept.head.name, dept.head.email),
                acknowledged: dept.acknowledged_at.map(when),
                next_chase: next(&dept.id, None),
                tasks: dept
                    .tasks
                    .iter()
                    .map(|task| TaskPage {
                        id: task.id,
                        key: task.key.clone(),
                        title: task.title.clone(),
                        required: task.required,
                        status: task.status.as_str(),
                        by: task
                            .closed_by
                            .clone()
                            .or_else(|| task.acknowledged_by.clone()),
                        note: task.note.clone(),
                        due: task
                            .due_at
                            .map(when)
                            .unwrap_or_else(|| "when actionable".into()),
                        overdue: overdue(task, now),
                        waiting_on: incident
                            .waiting_on(task)
                            .map(|dep| dep.title.clone())
                            .collect(),
                        chased: chased_lines(&dept.id, Some(task.id)),
                        next_chase: next(&dept.id, Some(task.id)),
                    })
                    .collect(),
            })
            .collect(),
        id: incident.id,
        reference: incident.reference.clone(),
        title: incident.title.clone(),
        severity: incident.severity,
        scenario: incident.scenario.clone(),
        status: incident.status.as_str(),
        summary: incident.summary.clone(),
        commander: format!("{} <{}>", incident.commander.name, incident.commander.email),
        opened: when(incident.opened_at),
        legal_hold: incident.legal_hold,
    };
    console_page(
        &state,
        &staff,
        "console/incident.html",
        serde_json::json!({ "incident": view, "open": incident.resolved_at.is_none(), "head_seq": head.seq, "message": query.message, "failed": query.failed.unwrap_or(false) }),
    )
}

#[derive(Deserialize)]
pub struct ActForm {
    csrf: String,
    action: String,
    task_id: Option<Uuid>,
    note: Option<String>,
    reason: Option<String>,
    text: Option<String>,
    severity: Option<String>,
}

fn filled(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

/// Every action on the incident page; answers by going back to the page
/// (post, redirect, get) with what happened.
pub async fn act(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<Uuid>,
    Form(form): Form<ActForm>,
) -> Response {
    if !staff.csrf_ok(&form.csrf) {
        return csrf_refused();
    }
    let needed = if matches!(form.action.as_str(), "hold" | "release_hold") {
        Permission::Hold
    } else {
        Permission::Act
    };
    if !staff.can(needed) {
        return (StatusCode::FORBIDDEN, "Your role may not do that.").into_response();
    }
    let engine = &state.engine;
    let actor = staff.actor();
    let missing = |what: &str| {
        Err(EngineError::Invalid {
            field: "form",
            message: format!("{what} is needed"),
        })
    };
    let result = match (form.action.as_str(), form.task_id) {
        ("acknowledge", Some(task)) => engine
            .acknowledge_task(id, task, &actor)
            .await
            .map(|_| "Acknowledged."),
        ("complete", Some(task)) => engine
            .complete_task(id, task, filled(form.note), &actor)
            .await
            .map(|_| "Marked as done."),
        ("skip", Some(task)) => match filled(form.reason) {
            Some(reason) => engine
                .skip_task(id, task, reason, &actor)
                .await
                .map(|_| "Skipped."),
            None => missing("A reason to skip"),
        },
        ("note", _) => match filled(form.text) {
            Some(text) => engine
                .add_note(id, text, &actor)
                .await
                .map(|_| "Note added."),
            None => missing("The note's text"),
        },
        ("severity", _) => match (
            form.severity.as_deref().and_then(|s| s.parse().ok()),
            filled(form.reason),
        ) {
            (Some(severity), Some(reason)) => engine
                .change_severity(id, severity, reason, &actor)
                .await
                .map(|_| "Severity changed."),
            _ => missing("A severity and a reason"),
        },
        ("resolve", _) => engine
            .resolve(id, filled(form.text), filled(form.reason), &actor)
            .await
            .map(|_| "Resolved."),
        ("hold" | "release_hold", _) => match filled(form.reason) {
            Some(reason) => engine
                .set_legal_hold(id, form.action == "hold", reason, &actor)
                .await
                .map(|_| "Legal hold updated."),
            None => missing("A reason"),
        },
        _ => missing("A known action"),
    };
    let (message, failed) = match result {
        Ok(done) => (done.to_owned(), false),
        Err(EngineError::Refused(refused)) => (refused.to_string(), true),
        Err(EngineError::Invalid { message, .. }) => (message, true),
        Err(EngineError::NotFound(what)) => (format!("{what} not found"), true),
        Err(error) => return internal(&error),
    };
    let query = serde_urlencoded::to_string([
        ("message", message.as_str()),
        ("failed", if failed { "true" } else { "false" }),
    ])
    .unwrap_or_default();
    Redirect::to(&format!("/incidents/{id}?{query}")).into_response()
}

#[derive(Deserialize)]
pub struct LiveQuery {
    after: Option<i64>,
}

/// Server-sent events: the timeline's head whenever it moves past `after`.
pub async fn live(
    State(state): State<AppState>,
    _staff: Staff,
    Path(id): Path<Uuid>,
    Query(query): Query<LiveQuery>,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let store = state.engine.store().clone();
    let start = query.after.unwrap_or(0);
    let stream = futures_util::stream::unfold(start, move |seen| {
        let store = store.clone();
        async move {
            loop {
                tokio::time::sleep(Duration::from_millis(500)).await;
                if let Ok(head) = store.chain_head(id).await
                    && head.seq != seen
                {
                    return Some((Ok(SseEvent::default().data(head.seq.to_string())), head.seq));
                }
            }
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}

// ---- the legal view ------------------------------------------------------------

#[derive(Deserialize, Serialize, Default)]
pub struct TimelineFilters {
    #[serde(default)]
    department: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    actor: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
}

fn local_input(value: &str) -> Option<DateTime<Utc>> {
    NaiveDateTime::parse_from_str(value, "%Y-%m-%dT%H:%M")
        .ok()
        .map(|naive| naive.and_utc())
}

#[derive(Serialize)]
struct TimelineRow {
    seq: i64,
    at: String,
    actor: String,
    summary: String,
}

pub async fn timeline(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<Uuid>,
    Query(filters): Query<TimelineFilters>,
) -> Response {
    let (incident, events, verification) = match (
        state.engine.incident(id).await,
        state.engine.timeline(id).await,
        state.engine.verify(id).await,
    ) {
        (Ok(incident), Ok(events), Ok(verification)) => (incident, events, verification),
        (Err(EngineError::NotFound(_)), _, _) => {
            return (StatusCode::NOT_FOUND, "No such incident.").into_response();
        }
        (Err(error), _, _) | (_, Err(error), _) | (_, _, Err(error)) => return internal(&error),
    };
    let kinds: BTreeSet<String> = events.iter().map(|e| e.kind.clone()).collect();
    let departments: Vec<String> = incident.departments.iter().map(|d| d.id.clone()).collect();
    let (from, to) = (local_input(&filters.from), local_input(&filters.to));
    let total = events.len();
    let shown: Vec<TimelineRow> = events
        .iter()
        .filter(|e| filters.kind.is_empty() || e.kind == filters.kind)
        .filter(|e| filters.actor.is_empty() || e.actor.contains(filters.actor.as_str()))
        .filter(|e| from.is_none_or(|from| e.at >= from) && to.is_none_or(|to| e.at <= to))
        .filter(|e| {
            filters.department.is_empty()
                || e.data["department"] == filters.department.as_str()
                || e.data["task"]
                    .as_str()
                    .is_some_and(|key| key.starts_with(&format!("{}/", filters.department)))
        })
        .map(|e| TimelineRow {
            seq: e.seq,
            at: e.at.format("%Y-%m-%d %H:%M:%S").to_string(),
            actor: e.actor.clone(),
            summary: summarize(&e.kind, &e.data),
        })
        .collect();
    let verification = match verification {
        Ok(head) => {
            serde_json::json!({ "ok": true, "count": head.seq, "head": format!("{} sha256:{}", head.seq, head.hash) })
        }
        Err(broken) => {
            serde_json::json!({ "ok": false, "broken_at": broken.seq, "reason": broken.reason })
        }
    };
    console_page(
        &state,
        &staff,
        "console/timeline.html",
        serde_json::json!({ "incident": serde_json::json!({ "id": incident.id, "reference": incident.reference, "title": incident.title }), "verification": verification, "departments": departments, "kinds": kinds, "filters": filters, "events": shown, "total": total }),
    )
}

/// The timeline exports, for a signed-in person.
pub async fn export(
    State(state): State<AppState>,
    _staff: Staff,
    Path(id): Path<Uuid>,
    Query(params): Query<ExportParams>,
    headers: axum::http::HeaderMap,
) -> Response {
    let format = match format_of(&params, &headers) {
        Ok(format) => format,
        Err(error) => return error.into_response(),
    };
    match export_response(&state, id, format, params.tz.as_deref()).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}
