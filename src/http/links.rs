//! The pages behind links in emails. Mail scanners fetch every link on
//! delivery, so GET (and HEAD) only show a page; only a POST from the page's
//! form acts. Acting twice is harmless: the page says who acted, and when.

use std::net::IpAddr;
use std::num::NonZeroU32;

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::header::{CONTENT_TYPE, USER_AGENT};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{Html, IntoResponse, Response};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde::{Deserialize, Serialize};

use super::client::ClientIp;
use super::error::Failure;
use super::{AppState, private};
use crate::delivery::render::{IncidentView, review_line, when, who};
use crate::domain::statement::Verdict;
use crate::domain::{
    DomainError, Incident, LinkAct, LinkToken, Prose, Task, TaskStatus, TextError,
};
use crate::engine::{EngineError, LinkLookup};
use crate::secret::parse_secret;

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

/// The link page's form, as posted.
#[derive(Debug, Deserialize)]
struct LinkForm {
    action: String,
    #[serde(default)]
    note: Option<String>,
    #[serde(default)]
    reason: Option<String>,
    /// On a statement's page: the hash of the version shown.
    #[serde(default)]
    sha256: Option<String>,
}

/// What a link page's form asks for. Whether it is allowed is for the link
/// and the incident to say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LinkAction {
    Acknowledge,
    /// The note, trimmed; None when blank.
    Complete {
        note: Option<String>,
    },
    /// The reason, trimmed; None when blank (and then refused).
    Skip {
        reason: Option<String>,
    },
    /// Confirm having read a briefing.
    Confirm,
    /// Approve the statement version whose hash the page showed.
    Approve {
        sha256: String,
    },
    /// Send it back; the note (None when blank, then refused) says why.
    RequestChanges {
        sha256: String,
        note: Option<String>,
    },
}

/// Why a link page's form was not understood.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FormProblem {
    /// Not a URL-encoded form, or not one with a single `action`.
    Unreadable,
    UnknownAction,
}

/// The secret in a link's raw (still percent-encoded) path segment, if it is
/// well-formed: anything else is refused before the store is asked.
pub(crate) fn link_secret(raw_segment: &str) -> Option<String> {
    let decoded = percent_encoding::percent_decode_str(raw_segment)
        .decode_utf8()
        .ok()?;
    parse_secret(&decoded).map(str::to_owned)
}

/// Reads a link page's form from its content type and body. Pure, so what
/// an untrusted client sends is checked (and fuzzed) apart from the store.
pub(crate) fn link_action(
    content_type: Option<&HeaderValue>,
    body: &[u8],
) -> Result<LinkAction, FormProblem> {
    let is_form = content_type
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|mime| {
            mime.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !is_form {
        return Err(FormProblem::Unreadable);
    }
    let form: LinkForm = serde_urlencoded::from_bytes(body).map_err(|_| FormProblem::Unreadable)?;
    let text = |value: Option<String>| value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
    match form.action.as_str() {
        "acknowledge" => Ok(LinkAction::Acknowledge),
        "complete" => Ok(LinkAction::Complete {
            note: text(form.note),
        }),
        "skip" => Ok(LinkAction::Skip {
            reason: text(form.reason),
        }),
        "confirm" => Ok(LinkAction::Confirm),
        "approve" => Ok(LinkAction::Approve {
            sha256: text(form.sha256).ok_or(FormProblem::Unreadable)?,
        }),
        "request_changes" => Ok(LinkAction::RequestChanges {
            sha256: text(form.sha256).ok_or(FormProblem::Unreadable)?,
            note: text(form.note),
        }),
        _ => Err(FormProblem::UnknownAction),
    }
}

/// The route's one parameter is its last segment; read it undecoded so a
/// malformed one gets the link page's answer rather than a JSON error.
pub(super) fn raw_token(uri: &Uri) -> &str {
    uri.path().rsplit('/').next().unwrap_or_default()
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

/// Link pages are for one person's eyes, and run no script.
pub(super) fn page(status: StatusCode, body: String) -> Response {
    let mut response = (status, Html(body)).into_response();
    private::protect(response.headers_mut(), private::LINK_PAGE_POLICY);
    response
}

pub(super) fn problem(
    state: &AppState,
    status: StatusCode,
    heading: &str,
    message: &str,
) -> Response {
    match state
        .renderer
        .page("pages/problem.html", Problem { heading, message })
    {
        Ok(body) => page(status, body),
        Err(error) => internal(&error),
    }
}

pub(super) fn unknown_action(state: &AppState) -> Response {
    problem(
        state,
        StatusCode::BAD_REQUEST,
        "Unknown action",
        "Please use the buttons on the page.",
    )
}

pub(super) fn internal(error: &(dyn std::error::Error + 'static)) -> Response {
    let failure = Failure::of(error, "link page failed");
    let message = failure.for_people();
    let mut response = page(
        failure.status(),
        format!("<!doctype html><title>Error</title><p>{message}</p>"),
    );
    if let Some([(name, value)]) = failure.retry_after() {
        response.headers_mut().insert(name, value);
    }
    response
}

/// A usable link and its incident, or the page that says why not.
async fn resolve(
    state: &AppState,
    secret: Option<&str>,
    ip: IpAddr,
) -> Result<(LinkToken, Incident), Response> {
    let lookup = match secret {
        Some(secret) => state
            .engine
            .link(secret)
            .await
            .map_err(|error| internal(&error))?,
        None => LinkLookup::Unknown,
    };
    match lookup {
        LinkLookup::Usable { link, incident } => Ok((link, *incident)),
        LinkLookup::Expired => Err(expired(state)),
        LinkLookup::Unknown => Err(unknown_link(state, ip)),
    }
}

fn expired(state: &AppState) -> Response {
    problem(
        state,
        StatusCode::GONE,
        "This link has expired",
        "The incident was resolved and its links no longer work. Ask the incident commander if something is still open.",
    )
}

/// An unknown link, counted against the address that tried it.
pub(super) fn unknown_link(state: &AppState, ip: IpAddr) -> Response {
    if state.link_guard.over_limit(ip) {
        return problem(
            state,
            StatusCode::TOO_MANY_REQUESTS,
            "Too many attempts",
            "Too many unknown links were tried from your address. Wait a minute and try again.",
        );
    }
    problem(
        state,
        StatusCode::NOT_FOUND,
        "Unknown link",
        "This link is not valid. Check that it was copied whole, or use the latest email about the incident.",
    )
}

/// A note or reason typed on a link page, refused by the domain's rule.
fn not_accepted(state: &AppState, what: &str, error: TextError) -> Response {
    problem(
        state,
        StatusCode::UNPROCESSABLE_ENTITY,
        "Not accepted",
        &format!("The {what} {error}. Go back and correct it."),
    )
}

fn prose(value: Option<String>) -> Result<Option<Prose>, TextError> {
    value.map(|value| Prose::parse(&value)).transpose()
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

fn render(
    state: &AppState,
    token: &str,
    link: &LinkToken,
    incident: &Incident,
    outcome: Option<String>,
    status: StatusCode,
) -> Response {
    if let Some(statement_id) = link.statement_id {
        let page = StatementPage::new(state, token, link, incident, statement_id, outcome);
        return match state.renderer.page("pages/statement_link.html", page) {
            Ok(body) => self::page(status, body),
            Err(error) => internal(&error),
        };
    }
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

/// An approval request's page: the statement in full, what changed since
/// the version before, who has answered, and the two buttons.
#[derive(Serialize)]
struct StatementPage<'a> {
    incident: IncidentView<'a>,
    recipient: &'a str,
    department_name: String,
    outcome: Option<String>,
    number: u32,
    version: u32,
    status: &'static str,
    text: &'a str,
    language: &'a str,
    channels: String,
    sha256: &'a str,
    /// Word by word against the version before: `same`, `removed` or
    /// `added` runs of text. Empty for a first version.
    changes: Vec<Change>,
    previous_channels: Option<String>,
    answers: Vec<String>,
    /// True while this department's answer to this version is awaited.
    can_answer: bool,
    form_action: String,
}

#[derive(Serialize)]
struct Change {
    kind: &'static str,
    text: String,
}

impl<'a> StatementPage<'a> {
    fn new(
        state: &AppState,
        token: &str,
        link: &'a LinkToken,
        incident: &'a Incident,
        statement_id: uuid::Uuid,
        outcome: Option<String>,
    ) -> StatementPage<'a> {
        let scenario = state
            .engine
            .catalog()
            .scenario(&incident.scenario)
            .map(|s| s.title.as_str());
        let statement = incident.statement(statement_id);
        let department_name = statement
            .and_then(|statement| statement.approver(&link.department))
            .map_or_else(|| link.department.clone(), |approver| approver.name.clone());
        let (changes, previous_channels) = statement
            .and_then(|statement| Some((statement, statement.previous.as_ref()?)))
            .map(|(statement, previous)| {
                let changes = diff(&previous.text, &statement.content.text);
                let channels = (previous.channels != statement.content.channels
                    || previous.language != statement.content.language)
                    .then(|| format!("{}; {}", previous.language, previous.channels.join(", ")));
                (changes, channels)
            })
            .unwrap_or_default();
        StatementPage {
            incident: IncidentView::new(incident, scenario),
            recipient: &link.recipient,
            outcome,
            number: statement.map_or(0, |s| s.number),
            version: statement.map_or(0, |s| s.version),
            status: statement.map_or("withdrawn", |s| s.status.as_str()),
            text: statement.map_or("", |s| s.content.text.as_str()),
            language: statement.map_or("", |s| s.content.language.as_str()),
            channels: statement.map_or_else(String::new, |s| s.content.channels.join(", ")),
            sha256: statement.map_or("", |s| s.sha256.as_str()),
            changes,
            previous_channels,
            answers: statement
                .map(|statement| statement.reviews.iter().map(review_line).collect())
                .unwrap_or_default(),
            can_answer: incident.resolved_at.is_none()
                && statement.is_some_and(|s| s.awaits(&link.department, s.version)),
            department_name,
            form_action: format!("/links/{token}"),
        }
    }
}

/// Word by word, what `after` changed of `before`.
fn diff(before: &str, after: &str) -> Vec<Change> {
    similar::TextDiff::from_words(before, after)
        .iter_all_changes()
        .fold(Vec::new(), |mut runs: Vec<Change>, change| {
            let kind = match change.tag() {
                similar::ChangeTag::Equal => "same",
                similar::ChangeTag::Delete => "removed",
                similar::ChangeTag::Insert => "added",
            };
            match runs.last_mut() {
                Some(run) if run.kind == kind => run.text.push_str(change.value()),
                _ => runs.push(Change {
                    kind,
                    text: change.value().to_owned(),
                }),
            }
            runs
        })
}

/// Shows what the link is for and its buttons. Changes nothing.
pub async fn show(State(state): State<AppState>, ClientIp(client): ClientIp, uri: Uri) -> Response {
    let secret = link_secret(raw_token(&uri));
    match resolve(&state, secret.as_deref(), client).await {
        Ok((link, incident)) => {
            let token = secret.unwrap_or_default();
            if link.briefing_id.is_some() {
                return briefing_page(&state, &token, &link, &incident, None).await;
            }
            render(&state, &token, &link, &incident, None, StatusCode::OK)
        }
        Err(response) => response,
    }
}

/// The user agent a click came with, kept short for the timeline.
pub(super) fn user_agent(headers: &HeaderMap) -> Option<String> {
    headers
        .get(USER_AGENT)
        .and_then(|value| value.to_str().ok())
        .map(|ua| ua.chars().take(300).collect())
}

#[derive(Serialize)]
struct BriefingPage<'a> {
    organisation: &'a str,
    briefing: &'a crate::domain::briefing::Briefing,
    recipient: &'a str,
    /// When they confirmed, for people; None while they have not.
    confirmed: Option<String>,
    form_action: String,
}

/// A briefing's page: its words, and the button to confirm reading them, or
/// when that was done. It names nothing of the incident: the recipient may
/// be outside the company.
async fn briefing_page(
    state: &AppState,
    token: &str,
    link: &LinkToken,
    incident: &Incident,
    // What to say when the caller just recorded the confirmation.
    just_now: Option<&str>,
) -> Response {
    let Some(briefing) = link.briefing_id.and_then(|id| incident.briefing(id)) else {
        return unknown_action(state);
    };
    let confirmed = match just_now {
        Some(line) => Some(line.to_owned()),
        None => match state
            .engine
            .briefing_confirmed(briefing.id, &link.recipient)
            .await
        {
            Ok(at) => at.map(|at| format!("You confirmed reading it at {}.", when(at))),
            Err(error) => return internal(&error),
        },
    };
    let view = BriefingPage {
        organisation: &state.engine.catalog().organisation().name,
        briefing,
        recipient: &link.recipient,
        confirmed,
        form_action: format!("/links/{token}"),
    };
    match state.renderer.page("pages/briefing_link.html", view) {
        Ok(body) => page(StatusCode::OK, body),
        Err(error) => internal(&error),
    }
}

/// Records that the link's recipient read its briefing (once: pressing
/// again shows when they did).
async fn confirm(
    state: &AppState,
    token: &str,
    link: &LinkToken,
    client: IpAddr,
    headers: &HeaderMap,
) -> Response {
    let incident = match state.engine.incident(link.incident_id).await {
        Ok(incident) => incident,
        Err(error) => return internal(&error),
    };
    let Some(number) = link
        .briefing_id
        .and_then(|id| incident.briefing(id))
        .map(|briefing| briefing.number)
    else {
        return unknown_action(state);
    };
    match state
        .engine
        .confirm_briefing(link, number, client.to_string(), user_agent(headers))
        .await
    {
        Ok(true) => {
            briefing_page(
                state,
                token,
                link,
                &incident,
                Some("Thank you: your confirmation is recorded."),
            )
            .await
        }
        Ok(false) => briefing_page(state, token, link, &incident, None).await,
        Err(error) => internal(&error),
    }
}

/// Acts, as the person the link was sent to, from wherever the click came.
pub async fn act(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    headers: HeaderMap,
    uri: Uri,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let secret = link_secret(raw_token(&uri));
    let action = match &body {
        Ok(body) => link_action(headers.get(CONTENT_TYPE), body),
        Err(_) => Err(FormProblem::Unreadable),
    };
    // The link is looked up first: a bad link says so whatever the form.
    let found = match &secret {
        Some(secret) => state.engine.link_token(secret).await,
        None => Ok(None),
    };
    let link = match found {
        Ok(Some(link)) => link,
        Ok(None) => return unknown_link(&state, client),
        Err(error) => return internal(&error),
    };
    let token = secret.unwrap_or_default();
    if link.briefing_id.is_some() {
        return match action {
            Ok(LinkAction::Confirm) => confirm(&state, &token, &link, client, &headers).await,
            Ok(_) | Err(FormProblem::UnknownAction) => unknown_action(&state),
            Err(FormProblem::Unreadable) => problem(
                &state,
                StatusCode::BAD_REQUEST,
                "Unreadable form",
                "Please use the button on the page.",
            ),
        };
    }
    let act = match action {
        Ok(LinkAction::Acknowledge) => LinkAct::Acknowledge,
        Ok(LinkAction::Confirm) => return unknown_action(&state),
        Ok(LinkAction::Complete { note }) => match prose(note) {
            Ok(note) => LinkAct::Complete(note),
            Err(error) => return not_accepted(&state, "note", error),
        },
        Ok(LinkAction::Skip { reason }) => match prose(reason) {
            Ok(Some(reason)) => LinkAct::Skip(reason),
            Ok(None) => {
                return problem(
                    &state,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "A reason is needed",
                    "Go back and say why this item is skipped.",
                );
            }
            Err(error) => return not_accepted(&state, "reason", error),
        },
        Ok(LinkAction::Approve { sha256 }) => LinkAct::Review {
            verdict: Verdict::Approved,
            sha256,
            note: None,
        },
        Ok(LinkAction::RequestChanges { sha256, note }) => match prose(note) {
            Ok(Some(note)) => LinkAct::Review {
                verdict: Verdict::ChangesRequested,
                sha256,
                note: Some(note),
            },
            Ok(None) => {
                return problem(
                    &state,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "Say what to change",
                    "Go back and write what PR should change: they read your note.",
                );
            }
            Err(error) => return not_accepted(&state, "note", error),
        },
        Err(FormProblem::Unreadable) => {
            return problem(
                &state,
                StatusCode::BAD_REQUEST,
                "Unreadable form",
                "Please use the buttons on the page.",
            );
        }
        Err(FormProblem::UnknownAction) => return unknown_action(&state),
    };
    let outcome = match act {
        LinkAct::Acknowledge => "Acknowledged. Thank you.",
        LinkAct::Complete(_) => "Marked as done. Thank you.",
        LinkAct::Skip(_) => "Skipped. The reason is on the timeline.",
        LinkAct::Review {
            verdict: Verdict::Approved,
            ..
        } => "Approved. PR may publish once every approver has answered.",
        LinkAct::Review { .. } => "Sent back to PR with your note.",
    };
    let user_agent = user_agent(&headers);
    let engine = &state.engine;
    match engine
        .act_by_link(&link, act, client.to_string(), user_agent)
        .await
    {
        Ok(incident) => render(
            &state,
            &token,
            &link,
            &incident,
            Some(outcome.to_owned()),
            StatusCode::OK,
        ),
        // Already done: the page shows by whom and when.
        Err(EngineError::Refused(DomainError::TaskClosed { .. })) => {
            match engine.incident(link.incident_id).await {
                Ok(incident) => render(&state, &token, &link, &incident, None, StatusCode::OK),
                Err(error) => internal(&error),
            }
        }
        Err(EngineError::Refused(DomainError::LinkExpired(_))) => expired(&state),
        Err(EngineError::Refused(
            DomainError::NoTaskOnLink
            | DomainError::NoStatementOnLink
            | DomainError::NotAStatementAct,
        )) => unknown_action(&state),
        // Answered already, or a newer version exists: the page shows the
        // statement as it stands now, and says so.
        Err(EngineError::Refused(
            refused @ (DomainError::StatementChangedSinceRead(_)
            | DomainError::AlreadyReviewed(_)
            | DomainError::StatementNotAwaitingApproval { .. }),
        )) => match engine.incident(link.incident_id).await {
            Ok(incident) => render(
                &state,
                &token,
                &link,
                &incident,
                Some(format!("Nothing was recorded: {refused}.")),
                StatusCode::CONFLICT,
            ),
            Err(error) => internal(&error),
        },
        Err(EngineError::Refused(refused @ DomainError::OwnStatement(_))) => problem(
            &state,
            StatusCode::FORBIDDEN,
            "Someone else must approve this",
            &refused.to_string(),
        ),
        Err(EngineError::Refused(DomainError::RequiredNotSkippable(_))) => problem(
            &state,
            StatusCode::CONFLICT,
            "This item cannot be skipped here",
            "It is required for resolution; ask the incident commander.",
        ),
        Err(EngineError::Refused(refused)) => problem(
            &state,
            StatusCode::CONFLICT,
            "Not possible right now",
            &refused.to_string(),
        ),
        Err(EngineError::NotFound(_)) => unknown_link(&state, client),
        Err(EngineError::Invalid { message, .. }) => problem(
            &state,
            StatusCode::UNPROCESSABLE_ENTITY,
            "Not accepted",
            &message,
        ),
        Err(error) => internal(&error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn form() -> HeaderValue {
        HeaderValue::from_static("application/x-www-form-urlencoded")
    }

    #[test]
    fn only_a_well_formed_secret_comes_out_of_the_path() {
        assert_eq!(link_secret(SECRET).as_deref(), Some(SECRET));
        // Percent-encoding is undone first, as for any path parameter.
        let encoded = SECRET.replacen('a', "%61", 1);
        assert_eq!(link_secret(&encoded).as_deref(), Some(SECRET));
        for bad in [
            "",
            "not-a-token",
            &SECRET[1..],
            &SECRET.to_uppercase(),
            &format!("{SECRET}0"),
            &SECRET.replacen('a', "%FF", 1),
            &SECRET.replacen('a', "%2", 1),
        ] {
            assert_eq!(link_secret(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_form_says_what_to_do() {
        let read = |body: &str| link_action(Some(&form()), body.as_bytes());
        assert_eq!(read("action=acknowledge"), Ok(LinkAction::Acknowledge));
        assert_eq!(
            read("action=complete&note=+Done%2C+see+ticket+"),
            Ok(LinkAction::Complete {
                note: Some("Done, see ticket".to_owned())
            })
        );
        assert_eq!(
            read("action=skip&reason=++"),
            Ok(LinkAction::Skip { reason: None })
        );
        assert_eq!(read("action=confirm"), Ok(LinkAction::Confirm));
        assert_eq!(
            read("action=approve&sha256=+abc+"),
            Ok(LinkAction::Approve {
                sha256: "abc".to_owned()
            })
        );
        assert_eq!(
            read("action=request_changes&sha256=abc&note=Shorter"),
            Ok(LinkAction::RequestChanges {
                sha256: "abc".to_owned(),
                note: Some("Shorter".to_owned())
            })
        );
        // An answer without the hash of what was read answers nothing.
        assert_eq!(read("action=approve"), Err(FormProblem::Unreadable));
        assert_eq!(read("action=delete"), Err(FormProblem::UnknownAction));
        assert_eq!(read("note=x"), Err(FormProblem::Unreadable));
        assert_eq!(
            read("action=skip&action=acknowledge"),
            Err(FormProblem::Unreadable)
        );
        let charset = HeaderValue::from_static("Application/X-WWW-Form-URLEncoded; charset=UTF-8");
        assert_eq!(
            link_action(Some(&charset), b"action=acknowledge"),
            Ok(LinkAction::Acknowledge)
        );
        let json = HeaderValue::from_static("application/json");
        assert_eq!(
            link_action(Some(&json), b"action=acknowledge"),
            Err(FormProblem::Unreadable)
        );
        assert_eq!(
            link_action(None, b"action=acknowledge"),
            Err(FormProblem::Unreadable)
        );
    }

    #[test]
    fn the_token_is_the_last_raw_segment() {
        let uri: Uri = format!("/links/{SECRET}").parse().unwrap();
        assert_eq!(raw_token(&uri), SECRET);
        let uri: Uri = "/links/ab%2Fcd?x=1".parse().unwrap();
        assert_eq!(raw_token(&uri), "ab%2Fcd");
    }
}
