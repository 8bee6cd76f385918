//! The incident page's public statements: each with its status, words,
//! hash, who is awaited and who was chased; PR's forms to draft, edit,
//! submit and publish, and legal's to approve or send back.

use std::collections::BTreeMap;

use axum::response::IntoResponse;
use serde::Serialize;
use uuid::Uuid;

use super::chase_lines;
use crate::delivery::render::{review_line, when};
use crate::domain::briefing::{Message, Share};
use crate::domain::chase::ChaseBoard;
use crate::domain::statement::{Answer, Content, Statement, Verdict};
use crate::domain::{Incident, Line, Prose};
use crate::engine::Wording;
use crate::playbook::Catalog;

#[derive(Serialize)]
pub(super) struct StatementsSection {
    statements: Vec<StatementCard>,
    templates: Vec<TemplateChoice>,
    briefings: Vec<BriefingCard>,
    /// The audiences the playbooks brief for this incident.
    audiences: Vec<AudienceChoice>,
}

#[derive(Serialize)]
struct BriefingCard {
    number: u32,
    audience: String,
    external: bool,
    approved: bool,
    statement: Option<u32>,
    text: String,
    sent: String,
    recipients: u32,
    confirm: bool,
    confirmed: i64,
    /// Per department of the organisation.
    shares: Vec<ShareLine>,
}

#[derive(Serialize)]
struct ShareLine {
    name: String,
    confirmed: i64,
    recipients: i64,
}

#[derive(Serialize)]
struct AudienceChoice {
    id: String,
    title: String,
    external: bool,
    members: usize,
}

#[derive(Serialize)]
struct StatementCard {
    id: Uuid,
    number: u32,
    version: u32,
    status: &'static str,
    text: String,
    language: String,
    channels: String,
    sha256: String,
    editable: bool,
    submittable: bool,
    publishable: bool,
    /// Approver departments yet to answer, each with its chase.
    awaiting: Vec<Awaited>,
    answers: Vec<String>,
    published: Option<String>,
}

#[derive(Serialize)]
struct Awaited {
    department: String,
    name: String,
    chased: Vec<String>,
    next_chase: Option<String>,
}

#[derive(Serialize)]
struct TemplateChoice {
    id: String,
    title: String,
    placeholders: String,
    approved: bool,
}

impl StatementsSection {
    /// `shares` holds each briefing's confirmations per department, by id.
    pub(super) fn new(
        incident: &Incident,
        board: &ChaseBoard,
        catalog: &Catalog,
        shares: &BTreeMap<Uuid, Vec<Share>>,
    ) -> Self {
        StatementsSection {
            briefings: incident
                .briefings
                .iter()
                .map(|briefing| {
                    let shares = shares
                        .get(&briefing.id)
                        .map(Vec::as_slice)
                        .unwrap_or_default();
                    BriefingCard {
                        number: briefing.number,
                        audience: briefing.audience_title.clone(),
                        external: briefing.external,
                        approved: briefing.approved,
                        statement: briefing.statement,
                        text: briefing.text.clone(),
                        sent: format!("{} by {}", when(briefing.sent_at), briefing.sent_by),
                        recipients: briefing.recipients,
                        confirm: briefing.confirm,
                        confirmed: shares.iter().map(|share| share.confirmed).sum(),
                        shares: shares
                            .iter()
                            .map(|share| ShareLine {
                                name: if share.department.is_empty() {
                                    "No department".to_owned()
                                } else {
                                    share.department.clone()
                                },
                                confirmed: share.confirmed,
                                recipients: share.recipients,
                            })
                            .collect(),
                    }
                })
                .collect(),
            audiences: catalog
                .audiences()
                .iter()
                .filter(|audience| audience.serves(&incident.scenario, incident.severity))
                .map(|audience| AudienceChoice {
                    id: audience.id.clone(),
                    title: audience.title.clone(),
                    external: audience.external,
                    members: audience.members.len(),
                })
                .collect(),
            statements: incident
                .statements
                .iter()
                .map(|statement| card(statement, board))
                .collect(),
            templates: catalog
                .templates()
                .iter()
                .map(|template| TemplateChoice {
                    id: template.id.clone(),
                    title: template.title.clone(),
                    placeholders: crate::domain::statement::placeholders(&template.text).join(", "),
                    approved: template.approved_by.is_some(),
                })
                .collect(),
        }
    }
}

fn card(statement: &Statement, board: &ChaseBoard) -> StatementCard {
    use crate::domain::statement::StatementStatus as S;
    StatementCard {
        id: statement.id,
        number: statement.number,
        version: statement.version,
        status: statement.status.as_str(),
        text: statement.content.text.clone(),
        language: statement.content.language.clone(),
        channels: statement.content.channels.join(", "),
        sha256: statement.sha256.clone(),
        editable: !statement.status.is_public(),
        submittable: matches!(statement.status, S::Draft | S::ChangesRequested),
        publishable: statement.status == S::Approved
            || (!statement.status.is_public() && statement.preapproved_by().is_some()),
        awaiting: statement
            .awaiting()
            .into_iter()
            .map(|approver| {
                let (chased, next_chase) =
                    chase_lines(board.of_statement(statement.id, &approver.department));
                Awaited {
                    department: approver.department.clone(),
                    name: approver.name.clone(),
                    chased,
                    next_chase,
                }
            })
            .collect(),
        answers: statement.reviews.iter().map(review_line).collect(),
        published: statement.publication.as_ref().map(|publication| {
            let how = match &publication.preapproved_template {
                Some(template) => format!(", pre-approved template {template}"),
                None => String::new(),
            };
            format!("{} by {}{how}", when(publication.at), publication.by)
        }),
    }
}

/// The internal statement page: what went out in public and what staff
/// were told, in one list, newest first; behind sign-in.
#[derive(Serialize)]
struct SaidEntry {
    at: String,
    #[serde(skip)]
    sort: chrono::DateTime<chrono::Utc>,
    /// `statement` (published) or `update` (a briefing of words that are
    /// not a published statement).
    kind: &'static str,
    title: String,
    text: String,
    sha256: String,
    approved: bool,
    detail: String,
}

pub async fn said(
    axum::extract::State(state): axum::extract::State<crate::http::AppState>,
    signed_in: super::SignedIn,
    crate::http::extract::Path(id): crate::http::extract::Path<Uuid>,
) -> axum::response::Response {
    let incident = match state.engine.incident(id).await {
        Ok(incident) => incident,
        Err(crate::engine::EngineError::NotFound(_)) => return super::not_found(),
        Err(error) => return super::internal(&error),
    };
    let mut entries: Vec<SaidEntry> = incident
        .statements
        .iter()
        .filter_map(|statement| {
            let publication = statement.publication.as_ref()?;
            Some(SaidEntry {
                at: when(publication.at),
                sort: publication.at,
                kind: "statement",
                title: format!("Statement {}", statement.number),
                text: statement.content.text.clone(),
                sha256: statement.sha256.clone(),
                approved: true,
                detail: format!(
                    "published by {}; {}",
                    publication.by,
                    statement.content.channels.join(", ")
                ),
            })
        })
        .collect();
    entries.extend(incident.briefings.iter().map(|briefing| SaidEntry {
        at: when(briefing.sent_at),
        sort: briefing.sent_at,
        kind: if briefing.statement.is_some() {
            "briefing"
        } else {
            "update"
        },
        title: match briefing.statement {
            Some(number) => format!("Statement {number} to {}", briefing.audience_title),
            None => format!("Update to {}", briefing.audience_title),
        },
        text: briefing.text.clone(),
        sha256: briefing.sha256.clone(),
        approved: briefing.approved,
        detail: format!(
            "{} recipients; sent by {}",
            briefing.recipients, briefing.sent_by
        ),
    }));
    entries.sort_by_key(|entry| std::cmp::Reverse(entry.sort));
    let page = super::console_page(
        &state,
        &signed_in,
        "console/statements.html",
        serde_json::json!({
            "incident": {
                "id": incident.id,
                "reference": incident.reference,
                "title": incident.title,
            },
            "entries": entries,
        }),
    );
    page.into_response()
}

/// What a statement form asks for.
pub(super) enum StatementAction {
    Brief(String, Message),
    Draft(Wording),
    Edit(Uuid, Content),
    Submit(Uuid),
    Review(Uuid, Answer),
    Publish(Uuid),
}

/// The statement fields of the incident page's form.
pub(super) struct StatementForm {
    pub action: String,
    pub statement_id: Option<Uuid>,
    pub text: Option<String>,
    pub language: Option<String>,
    pub channels: Option<String>,
    pub template: Option<String>,
    /// `name: value`, one per line.
    pub values: Option<String>,
    pub department: Option<String>,
    pub sha256: Option<String>,
    pub note: Option<String>,
    pub audience: Option<String>,
}

impl StatementAction {
    pub(super) fn read(form: StatementForm) -> Result<StatementAction, String> {
        let statement = || form.statement_id.ok_or("Choose a statement.".to_owned());
        Ok(match form.action.as_str() {
            "brief_statement" => {
                let audience = form.audience.ok_or("Choose an audience.")?;
                // A statement chosen, or words of the update's own.
                match form.statement_id {
                    Some(statement) => {
                        StatementAction::Brief(audience, Message::Statement(statement))
                    }
                    None => {
                        let text = Prose::parse(form.text.as_deref().unwrap_or_default())
                            .map_err(|error| super::refused("The update", error))?;
                        StatementAction::Brief(audience, Message::Update(text.into_string()))
                    }
                }
            }
            "draft_statement" => {
                let channels = channels(form.channels.as_deref())?;
                let own_words = form.text.as_deref().is_some_and(|t| !t.trim().is_empty());
                match form.template.as_deref().filter(|t| !t.is_empty()) {
                    Some(_) if own_words => {
                        return Err(
                            "Choose a template or write your own words, not both.".to_owned()
                        );
                    }
                    Some(template) => StatementAction::Draft(Wording::Template {
                        id: template.to_owned(),
                        values: values(form.values.as_deref().unwrap_or_default())?,
                        channels,
                    }),
                    None => StatementAction::Draft(Wording::Text(content(
                        form.text.as_deref(),
                        form.language.as_deref(),
                        channels,
                    )?)),
                }
            }
            "edit_statement" => StatementAction::Edit(
                statement()?,
                content(
                    form.text.as_deref(),
                    form.language.as_deref(),
                    channels(form.channels.as_deref())?,
                )?,
            ),
            "submit_statement" => StatementAction::Submit(statement()?),
            "publish_statement" => StatementAction::Publish(statement()?),
            "approve_statement" | "request_changes" => {
                let verdict = if form.action == "approve_statement" {
                    Verdict::Approved
                } else {
                    Verdict::ChangesRequested
                };
                let note = match form.note.as_deref().map(str::trim) {
                    Some(note) if !note.is_empty() => Some(
                        Prose::parse(note)
                            .map_err(|error| super::refused("The note", error))?
                            .into_string(),
                    ),
                    _ if verdict == Verdict::ChangesRequested => {
                        return Err("Say what to change: PR reads the note.".to_owned());
                    }
                    _ => None,
                };
                StatementAction::Review(
                    statement()?,
                    Answer {
                        department: form.department.ok_or("Choose the department answering.")?,
                        verdict,
                        sha256: form.sha256.unwrap_or_default(),
                        note,
                    },
                )
            }
            _ => return Err("A known action is needed.".to_owned()),
        })
    }
}

fn content(
    text: Option<&str>,
    language: Option<&str>,
    channels: Vec<String>,
) -> Result<Content, String> {
    let text = Prose::parse(text.unwrap_or_default())
        .map_err(|error| super::refused("The statement", error))?;
    let language = Line::parse(language.unwrap_or("en"))
        .map_err(|error| super::refused("The language", error))?;
    Ok(Content {
        text: text.into_string(),
        language: language.into_string(),
        channels,
    })
}

/// Channels typed as a comma-separated list.
fn channels(typed: Option<&str>) -> Result<Vec<String>, String> {
    let channels: Vec<String> = typed
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|channel| !channel.is_empty())
        .map(|channel| {
            Line::parse(channel)
                .map(Line::into_string)
                .map_err(|error| super::refused("A channel", error))
        })
        .collect::<Result<_, _>>()?;
    if channels.is_empty() {
        return Err("Say where the statement will go: twitter, website, ...".to_owned());
    }
    Ok(channels)
}

/// A template's values typed one per line, `name: value`.
fn values(typed: &str) -> Result<BTreeMap<String, String>, String> {
    typed
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(|line| {
            let (name, value) = line
                .split_once(':')
                .ok_or_else(|| format!("Write each value as `name: value`, not {line:?}."))?;
            Ok((name.trim().to_owned(), value.trim().to_owned()))
        })
        .collect()
}
