//! One incident: per department, the checklist with status, who acted, due
//! times, who was chased and what comes next; the actions the person's role
//! allows; live updates.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Form;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use chrono::{DateTime, Utc};
use futures_util::Stream;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::flash::Flash;
use super::regulatory::{RegulatoryPage, read_time};
use super::statements::{StatementAction, StatementForm, StatementsSection};
use super::{SignedIn, chase_lines, console_page, csrf_refused, internal, not_found, refused};
use crate::auth::Permission;
use crate::delivery::render::when;
use crate::domain::chase::ChaseBoard;
use crate::domain::regulatory::{Fact, Report};
use crate::domain::{Department, Incident, Line, Prose, Severity, Task, TaskStatus};
use crate::engine::EngineError;
use crate::http::AppState;
use crate::http::extract::{Path, Query};

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
    chased: Vec<String>,
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
    /// While nobody has acknowledged the item.
    ack_due: Option<String>,
    ack_late: bool,
    due: String,
    late: bool,
    waiting_on: Vec<String>,
    chased: Vec<String>,
    next_chase: Option<String>,
}

fn task_page(incident: &Incident, task: &Task, board: &ChaseBoard, now: DateTime<Utc>) -> TaskPage {
    let (chased, next_chase) = chase_lines(board.of(&task.department, Some(task.id)));
    TaskPage {
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
        ack_due: (task.status == TaskStatus::Open).then(|| when(task.ack_due_at)),
        ack_late: task.acknowledgement_late(now),
        due: task
            .due_at
            .map(when)
            .unwrap_or_else(|| "when actionable".into()),
        late: task.completion_late(now),
        waiting_on: incident
            .waiting_on(task)
            .map(|dep| dep.title.clone())
            .collect(),
        chased,
        next_chase,
    }
}

fn department_page(
    incident: &Incident,
    dept: &Department,
    board: &ChaseBoard,
    now: DateTime<Utc>,
) -> DepartmentPage {
    let (chased, next_chase) = chase_lines(board.of(&dept.id, None));
    DepartmentPage {
        id: dept.id.clone(),
        name: dept.name.clone(),
        status: dept.status(),
        head: format!("{} <{}>", dept.head.name, dept.head.email),
        acknowledged: dept.acknowledged_at.map(when),
        chased,
        next_chase,
        tasks: dept
            .tasks
            .iter()
            .map(|task| task_page(incident, task, board, now))
            .collect(),
    }
}

pub async fn incident(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<Uuid>,
    jar: CookieJar,
) -> Response {
    let now = state.engine.now();
    let incident = match state.engine.incident(id).await {
        Ok(incident) => incident,
        Err(EngineError::NotFound(_)) => return not_found(),
        Err(error) => return internal(&error),
    };
    let (board, head, messages) = match tokio::join!(
        state.engine.chase_board(&incident),
        state.engine.chain_head(id),
        state.engine.messages(id),
    ) {
        (Ok(board), Ok(head), Ok(messages)) => (board, head, messages),
        (Err(error), _, _) | (_, Err(error), _) | (_, _, Err(error)) => return internal(&error),
    };
    // A bounced mail is a person nobody reached: the commander must know.
    let undelivered: Vec<serde_json::Value> = messages
        .iter()
        .filter_map(|message| {
            let at = message.bounced_at?;
            Some(serde_json::json!({
                "recipient": message.recipient,
                "department": message.department,
                "at": when(at),
            }))
        })
        .collect();
    let view = IncidentPage {
        departments: incident
            .departments
            .iter()
            .map(|dept| department_page(&incident, dept, &board, now))
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
    let candidates = state
        .engine
        .catalog()
        .scenario(&incident.scenario)
        .map(|scenario| scenario.regimes.clone())
        .unwrap_or_default();
    let regulatory = RegulatoryPage::new(
        &incident.regulatory,
        &candidates,
        state.engine.catalog(),
        |clock| chase_lines(board.of_clock(clock)),
        now,
    );
    let mut shares = std::collections::BTreeMap::new();
    for briefing in &incident.briefings {
        match state.engine.briefing_shares(briefing.id).await {
            Ok(share) => shares.insert(briefing.id, share),
            Err(error) => return internal(&error),
        };
    }
    let statements = StatementsSection::new(&incident, &board, state.engine.catalog(), &shares);
    let (jar, flash) = Flash::take(&state, jar, &format!("/incidents/{id}"));
    let page = console_page(
        &state,
        &signed_in,
        "console/incident.html",
        serde_json::json!({
            "incident": view,
            "regulatory": regulatory,
            "statements": statements,
            "open": incident.resolved_at.is_none(),
            "head_seq": head.seq,
            "undelivered": undelivered,
            "message": flash.as_ref().map(|flash| &flash.message),
            "failed": flash.as_ref().is_some_and(|flash| flash.failed),
        }),
    );
    (jar, page).into_response()
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
    /// The resolve form's "although required items are open" box.
    force: Option<String>,
    fact: Option<String>,
    /// When a claimed fact happened, or a report was filed.
    at: Option<String>,
    regime: Option<String>,
    /// `regime/step`.
    clock: Option<String>,
    reference: Option<String>,
    document_sha256: Option<String>,
    /// A form's select sends "" for "none".
    #[serde(default, deserialize_with = "blank_is_none")]
    statement_id: Option<Uuid>,
    language: Option<String>,
    /// A statement's channels, comma-separated.
    channels: Option<String>,
    template: Option<String>,
    /// A template's values, `name: value` per line.
    values: Option<String>,
    /// The approver department answering.
    department: Option<String>,
    /// The hash of the statement version shown.
    sha256: Option<String>,
    /// Who a briefing goes to.
    audience: Option<String>,
}

/// An optional id from a form: a blank choice is none; anything else must
/// be an id.
fn blank_is_none<'de, D: serde::Deserializer<'de>>(de: D) -> Result<Option<Uuid>, D::Error> {
    match Option::<String>::deserialize(de)? {
        Some(text) if !text.trim().is_empty() => text
            .trim()
            .parse()
            .map(Some)
            .map_err(serde::de::Error::custom),
        _ => Ok(None),
    }
}

/// An optional field: left blank, it is absent; filled, it must be good text.
fn optional(label: &str, value: Option<String>) -> Result<Option<Prose>, String> {
    match value {
        Some(value) if !value.trim().is_empty() => Prose::parse(&value)
            .map(Some)
            .map_err(|error| refused(label, error)),
        _ => Ok(None),
    }
}

/// A time typed in a form, which must not be left blank.
fn time(label: &str, value: Option<&str>) -> Result<DateTime<Utc>, String> {
    value
        .and_then(read_time)
        .ok_or_else(|| format!("{label}: give a date and time, such as 2027-01-04T07:10 (UTC)."))
}

/// A field the action needs.
fn required(label: &str, value: Option<String>) -> Result<Prose, String> {
    Prose::parse(value.as_deref().unwrap_or_default()).map_err(|error| refused(label, error))
}

/// What the page's forms ask for, read and checked.
enum Action {
    Acknowledge(Uuid),
    Complete(Uuid, Option<Prose>),
    Skip(Uuid, Prose),
    Note(Prose),
    Severity(Severity, Prose),
    Resolve {
        summary: Option<Prose>,
        force: Option<Prose>,
    },
    Hold(bool, Prose),
    Claim(Fact, DateTime<Utc>),
    Arm(String),
    NotNotifiable(String, Prose),
    File {
        regime: String,
        step: String,
        report: Report,
    },
    Statement(StatementAction),
}

impl Action {
    /// The form as an action, or what to tell the person about it.
    fn read(form: ActForm) -> Result<Action, String> {
        Ok(match (form.action.as_str(), form.task_id) {
            ("acknowledge", Some(task)) => Action::Acknowledge(task),
            ("complete", Some(task)) => Action::Complete(task, optional("The note", form.note)?),
            ("skip", Some(task)) => Action::Skip(task, required("A reason to skip", form.reason)?),
            ("note", _) => Action::Note(required("The note", form.text)?),
            ("severity", _) => {
                let severity = form
                    .severity
                    .as_deref()
                    .and_then(|s| s.parse().ok())
                    .ok_or("Choose a severity.")?;
                Action::Severity(severity, required("The reason", form.reason)?)
            }
            ("resolve", _) => Action::Resolve {
                summary: optional("The summary", form.text)?,
                // Forcing is a decision of its own, ticked; its reason is then owed.
                force: match form.force {
                    Some(_) => Some(required(
                        "A reason to resolve with required items open",
                        form.reason,
                    )?),
                    None => None,
                },
            },
            ("hold", _) => Action::Hold(true, required("A reason", form.reason)?),
            ("release_hold", _) => Action::Hold(false, required("A reason", form.reason)?),
            ("claim", _) => Action::Claim(
                form.fact
                    .as_deref()
                    .and_then(Fact::parse)
                    .ok_or("Choose what happened.")?,
                time("When it happened", form.at.as_deref())?,
            ),
            ("arm", _) => Action::Arm(form.regime.ok_or("Choose a regime.")?),
            ("not_notifiable", _) => Action::NotNotifiable(
                form.regime.ok_or("Choose a regime.")?,
                required("The reason it does not apply", form.reason)?,
            ),
            ("file", _) => {
                let clock = form.clock.ok_or("Choose the report that was filed.")?;
                let (regime, step) = clock
                    .split_once('/')
                    .ok_or("Choose the report that was filed.")?;
                let reference = match form.reference.as_deref().map(str::trim) {
                    Some(reference) if !reference.is_empty() => Some(
                        Line::parse(reference).map_err(|error| refused("The reference", error))?,
                    ),
                    _ => None,
                };
                let document_sha256 = match form.document_sha256.as_deref().map(str::trim) {
                    Some(hash) if !hash.is_empty() => Some(
                        crate::http::regulatory::sha256_hex(hash)
                            .map_err(|_| "The SHA-256 must be 64 hexadecimal digits.".to_owned())?,
                    ),
                    _ => None,
                };
                if reference.is_none() && document_sha256.is_none() {
                    return Err(
                        "Give the authority's reference or the filed document's SHA-256."
                            .to_owned(),
                    );
                }
                let submitted_at = match form.at.as_deref().map(str::trim) {
                    Some(at) if !at.is_empty() => Some(time("When it was filed", Some(at))?),
                    _ => None,
                };
                Action::File {
                    regime: regime.to_owned(),
                    step: step.to_owned(),
                    report: Report {
                        submitted_at,
                        reference,
                        document_sha256,
                        delay_reasons: optional("The reasons for the delay", form.reason)?,
                    },
                }
            }
            (action, _) if action.contains("statement") || action == "request_changes" => {
                Action::Statement(StatementAction::read(StatementForm {
                    action: form.action,
                    statement_id: form.statement_id,
                    text: form.text,
                    language: form.language,
                    channels: form.channels,
                    template: form.template,
                    values: form.values,
                    department: form.department,
                    sha256: form.sha256,
                    note: form.note,
                    audience: form.audience,
                })?)
            }
            _ => return Err("A known action is needed.".to_owned()),
        })
    }
}

/// Every action on the incident page; answers by going back to the page
/// (post, redirect, get), which then says what happened.
pub async fn act(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<Uuid>,
    jar: CookieJar,
    Form(form): Form<ActForm>,
) -> Response {
    if !signed_in.csrf_ok(&form.csrf) {
        return csrf_refused();
    }
    // Holds and regulatory clocks are legal's; everything else is acting.
    let needed = match form.action.as_str() {
        "hold" | "release_hold" => Permission::Hold,
        "claim" | "arm" | "not_notifiable" | "file" => Permission::Regulate,
        "approve_statement" | "request_changes" => Permission::Approve,
        _ => Permission::Act,
    };
    if !signed_in.can(needed) {
        return (StatusCode::FORBIDDEN, "Your role may not do that.").into_response();
    }
    let outcome = match Action::read(form) {
        Ok(action) => match perform(&state, &signed_in, id, action).await {
            Ok(done) => Ok(done),
            Err(EngineError::Refused(refused)) => Err(refused.to_string()),
            Err(EngineError::Invalid { message, .. }) => Err(message),
            Err(EngineError::NotFound(what)) => Err(format!("{what} not found")),
            Err(error) => return internal(&error),
        },
        Err(problem) => Err(problem),
    };
    let page = format!("/incidents/{id}");
    let flash = match outcome {
        Ok(done) => Flash::new(page.clone(), done.to_owned(), false),
        Err(problem) => Flash::new(page.clone(), problem, true),
    };
    (flash.keep(&state, jar), Redirect::to(&page)).into_response()
}

/// Does what the action asks; says so in a few words.
async fn perform(
    state: &AppState,
    signed_in: &SignedIn,
    id: Uuid,
    action: Action,
) -> Result<&'static str, EngineError> {
    let engine = &state.engine;
    let actor = signed_in.actor();
    Ok(match action {
        Action::Acknowledge(task) => {
            engine.acknowledge_task(id, task, &actor).await?;
            "Acknowledged."
        }
        Action::Complete(task, note) => {
            engine.complete_task(id, task, note, &actor).await?;
            "Marked as done."
        }
        Action::Skip(task, reason) => {
            engine.skip_task(id, task, reason, &actor).await?;
            "Skipped."
        }
        Action::Note(text) => {
            engine.add_note(id, text, &actor).await?;
            "Note added."
        }
        Action::Severity(severity, reason) => {
            engine.change_severity(id, severity, reason, &actor).await?;
            "Severity changed."
        }
        Action::Resolve { summary, force } => {
            engine.resolve(id, summary, force, &actor).await?;
            "Resolved."
        }
        Action::Hold(hold, reason) => {
            engine.set_legal_hold(id, hold, reason, &actor).await?;
            "Legal hold updated."
        }
        Action::Claim(fact, at) => {
            engine.claim_fact(id, fact, at, &actor).await?;
            "Recorded; the clocks it starts are set."
        }
        Action::Arm(regime) => {
            engine.arm_regime(id, &regime, &actor).await?;
            "Regime armed."
        }
        Action::NotNotifiable(regime, reason) => {
            engine
                .regime_not_notifiable(id, &regime, reason, &actor)
                .await?;
            "Recorded as not notifiable."
        }
        Action::File {
            regime,
            step,
            report,
        } => {
            engine
                .submit_report(id, &regime, &step, report, &actor)
                .await?;
            "Filing recorded."
        }
        Action::Statement(action) => match action {
            StatementAction::Brief(audience, message) => {
                engine.send_briefing(id, &audience, message, &actor).await?;
                "Briefing sent: each member gets an email."
            }
            StatementAction::Draft(wording) => {
                engine
                    .draft_statement(id, Uuid::now_v7(), wording, &actor)
                    .await?;
                "Statement drafted."
            }
            StatementAction::Edit(statement, content) => {
                engine
                    .edit_statement(id, statement, content, &actor)
                    .await?;
                "Statement edited; any approval of the version before is void."
            }
            StatementAction::Submit(statement) => {
                engine.submit_statement(id, statement, &actor).await?;
                "Sent for approval; the approvers are asked by email."
            }
            StatementAction::Review(statement, answer) => {
                engine
                    .review_statement(id, statement, answer, &actor)
                    .await?;
                "Answer recorded."
            }
            StatementAction::Publish(statement) => {
                engine
                    .publish_statement(id, statement, None, None, &actor)
                    .await?;
                "Published: it is on the public statement page."
            }
        },
    })
}

#[derive(Deserialize)]
pub struct LiveQuery {
    after: Option<i64>,
}

/// Server-sent events: the timeline's head whenever it moves past `after`,
/// until the server shuts down (the browser reconnects by itself) or the
/// session ends: it is read again on every tick, so a removed user or a
/// lowered role stops seeing the incident at once. The stream's last event
/// is then `signed-out`.
pub async fn live(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<Uuid>,
    Query(query): Query<LiveQuery>,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let (engine, staff) = (state.engine.clone(), state.staff.clone());
    let session = Arc::<str>::from(signed_in.secret);
    let start = Some(query.after.unwrap_or(0));
    let stream =
        futures_util::stream::unfold((start, state.shutdown), move |(seen, mut shutdown)| {
            let (engine, staff, session) = (engine.clone(), staff.clone(), session.clone());
            async move {
                // None: the session ended and `signed-out` has been sent.
                let seen = seen?;
                loop {
                    tokio::select! {
                        () = tokio::time::sleep(Duration::from_millis(500)) => {}
                        _ = shutdown.wait_for(|stopping| *stopping) => return None,
                    }
                    // A failed read is not a sign-out: the next tick asks again.
                    if let Ok(None) = staff.session(&session).await {
                        let event = SseEvent::default().event("signed-out").data("");
                        return Some((Ok(event), (None, shutdown)));
                    }
                    if let Ok(head) = engine.chain_head(id).await
                        && head.seq != seen
                    {
                        let event = SseEvent::default().data(head.seq.to_string());
                        return Some((Ok(event), (Some(head.seq), shutdown)));
                    }
                }
            }
        });
    Sse::new(stream).keep_alive(KeepAlive::default())
}
