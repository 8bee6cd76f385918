//! Public statements over the API: PR drafts, edits, submits and publishes;
//! legal (or an approver department, from its email) approves or sends
//! back. Every answer is the incident, its statements included.

use std::collections::BTreeMap;

use axum::extract::State;
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::AppState;
use super::error::ApiError;
use super::extract::{Caller, Json, JsonOrEmpty, Path};
use super::incidents::{ActionResponses, Updated, view};
use super::text::{LineInput, ProseInput};
use crate::auth::Permission;
use crate::domain::statement::{Answer, Content, Verdict};
use crate::engine::Wording;

/// A bound, so that no statement the document allows outgrows the body limit.
const CHANNELS_MAX: usize = 20;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DraftBody {
    /// The words. Leave out to fill in `template` instead.
    text: Option<ProseInput>,
    /// A language tag such as `en` or `fr`; a template brings its own.
    #[schema(example = "en")]
    language: Option<LineInput>,
    /// Where it will go: `twitter`, `press release`, `website`, ...
    #[schema(min_items = 1, max_items = 20)]
    channels: Vec<LineInput>,
    /// A holding statement of the playbooks (`GET /api/v1/playbooks`
    /// lists them). Drafted from a legal-approved template and changed only
    /// in its placeholders, the statement may go out without a new approval.
    template: Option<String>,
    /// The template's placeholders, by name: `{"product": "the app"}`.
    #[serde(default)]
    values: BTreeMap<String, String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContentBody {
    text: ProseInput,
    #[schema(example = "en")]
    language: LineInput,
    #[schema(min_items = 1, max_items = 20)]
    channels: Vec<LineInput>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewBody {
    /// The approver department answering (`legal`, ...).
    department: String,
    verdict: Verdict,
    /// The SHA-256 of the version read, as the incident shows it: an
    /// answer to an older version is refused.
    #[schema(pattern = "^[0-9a-f]{64}$")]
    sha256: String,
    /// Required when requesting changes: what to change.
    note: Option<ProseInput>,
}

#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PublishBody {
    /// Where it can be read, if somewhere besides tocsin's statement page.
    #[schema(example = "https://example.com/news/statement")]
    url: Option<String>,
    /// A published statement of this incident that this one replaces.
    supersedes: Option<Uuid>,
}

fn channels(channels: &[LineInput]) -> Result<Vec<String>, ApiError> {
    if channels.is_empty() {
        return Err(ApiError::invalid(
            "channels",
            "say where the statement will go",
        ));
    }
    if channels.len() > CHANNELS_MAX {
        return Err(ApiError::invalid(
            "channels",
            format!("at most {CHANNELS_MAX} channels"),
        ));
    }
    channels
        .iter()
        .enumerate()
        .map(|(i, channel)| Ok(channel.read(&format!("channels[{i}]"))?.into_string()))
        .collect()
}

fn language(language: &LineInput) -> Result<String, ApiError> {
    let tag = language.read("language")?.into_string();
    let valid = tag.len() <= 35
        && tag.split('-').all(|part| {
            (1..=8).contains(&part.len()) && part.chars().all(|c| c.is_ascii_alphanumeric())
        });
    if valid {
        Ok(tag)
    } else {
        Err(ApiError::invalid(
            "language",
            format!("{tag:?} is not a language tag: write e.g. \"en\", \"fr\" or \"pt-BR\""),
        ))
    }
}

impl ContentBody {
    fn read(&self) -> Result<Content, ApiError> {
        Ok(Content {
            text: self.text.read("text")?.into_string(),
            language: language(&self.language)?,
            channels: channels(&self.channels)?,
        })
    }
}

impl DraftBody {
    fn read(self) -> Result<Wording, ApiError> {
        let channels = channels(&self.channels)?;
        match (self.text, self.template) {
            (Some(text), None) => {
                if !self.values.is_empty() {
                    return Err(ApiError::invalid(
                        "values",
                        "values fill in a template: name one, or leave values out",
                    ));
                }
                let tag = self.language.as_ref().ok_or_else(|| {
                    ApiError::invalid("language", "say which language the statement is in")
                })?;
                Ok(Wording::Text(Content {
                    text: text.read("text")?.into_string(),
                    language: language(tag)?,
                    channels,
                }))
            }
            (None, Some(id)) => {
                if self.language.is_some() {
                    return Err(ApiError::invalid(
                        "language",
                        "a template is in its own language: leave language out",
                    ));
                }
                Ok(Wording::Template {
                    id,
                    values: self.values,
                    channels,
                })
            }
            (Some(_), Some(_)) => Err(ApiError::invalid(
                "template",
                "give the words or a template, not both",
            )),
            (None, None) => Err(ApiError::invalid(
                "text",
                "give the statement's words, or a template to fill in",
            )),
        }
    }
}

#[utoipa::path(post, path = "/api/v1/incidents/{id}/statements", tag = "statements",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Incident id")),
    request_body = DraftBody,
    responses(ActionResponses))]
pub async fn draft(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    Json(body): Json<DraftBody>,
) -> Updated {
    caller.require(Permission::Act)?;
    let wording = body.read()?;
    let incident = state
        .engine
        .draft_statement(id, Uuid::now_v7(), wording, &caller.actor())
        .await?;
    Ok(axum::Json(view(&state, incident).await?))
}

#[utoipa::path(put, path = "/api/v1/incidents/{id}/statements/{statement_id}", tag = "statements",
    security(("bearer" = [])),
    params(
        ("id" = Uuid, Path, description = "Incident id"),
        ("statement_id" = Uuid, Path, description = "Statement id"),
    ),
    request_body = ContentBody,
    responses(ActionResponses))]
pub async fn edit(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, statement_id)): Path<(Uuid, Uuid)>,
    Json(body): Json<ContentBody>,
) -> Updated {
    caller.require(Permission::Act)?;
    let content = body.read()?;
    let incident = state
        .engine
        .edit_statement(id, statement_id, content, &caller.actor())
        .await?;
    Ok(axum::Json(view(&state, incident).await?))
}

#[utoipa::path(post, path = "/api/v1/incidents/{id}/statements/{statement_id}/submit",
    tag = "statements", security(("bearer" = [])),
    params(
        ("id" = Uuid, Path, description = "Incident id"),
        ("statement_id" = Uuid, Path, description = "Statement id"),
    ),
    responses(ActionResponses))]
pub async fn submit(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, statement_id)): Path<(Uuid, Uuid)>,
) -> Updated {
    caller.require(Permission::Act)?;
    let incident = state
        .engine
        .submit_statement(id, statement_id, &caller.actor())
        .await?;
    Ok(axum::Json(view(&state, incident).await?))
}

#[utoipa::path(post, path = "/api/v1/incidents/{id}/statements/{statement_id}/review",
    tag = "statements", security(("bearer" = [])),
    params(
        ("id" = Uuid, Path, description = "Incident id"),
        ("statement_id" = Uuid, Path, description = "Statement id"),
    ),
    request_body = ReviewBody,
    responses(ActionResponses))]
pub async fn review(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, statement_id)): Path<(Uuid, Uuid)>,
    Json(body): Json<ReviewBody>,
) -> Updated {
    caller.require(Permission::Approve)?;
    let answer = answer(body.department, body.verdict, body.sha256, body.note)?;
    let incident = state
        .engine
        .review_statement(id, statement_id, answer, &caller.actor())
        .await?;
    Ok(axum::Json(view(&state, incident).await?))
}

/// An approver's answer, read the same way from the API and the link page.
pub(super) fn answer(
    department: String,
    verdict: Verdict,
    sha256: String,
    note: Option<ProseInput>,
) -> Result<Answer, ApiError> {
    let note = note
        .map(|note| note.read("note"))
        .transpose()?
        .map(|note| note.into_string());
    if verdict == Verdict::ChangesRequested && note.is_none() {
        return Err(ApiError::invalid(
            "note",
            "say what to change: PR reads the note",
        ));
    }
    if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiError::invalid(
            "sha256",
            "the SHA-256 of the version read: 64 hex digits, as the incident shows it",
        ));
    }
    Ok(Answer {
        department,
        verdict,
        sha256: sha256.to_ascii_lowercase(),
        note,
    })
}

#[utoipa::path(post, path = "/api/v1/incidents/{id}/statements/{statement_id}/publish",
    tag = "statements", security(("bearer" = [])),
    params(
        ("id" = Uuid, Path, description = "Incident id"),
        ("statement_id" = Uuid, Path, description = "Statement id"),
    ),
    request_body(content = PublishBody, description = "Optional"),
    responses(ActionResponses))]
pub async fn publish(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, statement_id)): Path<(Uuid, Uuid)>,
    JsonOrEmpty(body): JsonOrEmpty<PublishBody>,
) -> Updated {
    caller.require(Permission::Act)?;
    let url = body.url.map(|url| read_url(&url)).transpose()?;
    let incident = state
        .engine
        .publish_statement(id, statement_id, url, body.supersedes, &caller.actor())
        .await?;
    Ok(axum::Json(view(&state, incident).await?))
}

/// Where a statement went out: an http(s) address, printed on the public
/// page as a link.
fn read_url(url: &str) -> Result<String, ApiError> {
    match reqwest::Url::parse(url) {
        Ok(parsed) if matches!(parsed.scheme(), "http" | "https") && url.len() <= 2048 => {
            Ok(parsed.to_string())
        }
        _ => Err(ApiError::invalid(
            "url",
            "an http or https address of at most 2048 characters",
        )),
    }
}
