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

/// A statement drafted from a holding statement of the playbooks.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateDraftBody {
    /// The template's id (`GET /api/v1/playbooks` lists them). Drafted from
    /// a legal-approved template and changed only in its placeholders, the
    /// statement may go out without a new approval.
    template: String,
    /// The template's placeholders, by name: `{"product": "the app"}`; one
    /// line each. A missing or unknown name is refused (409, `values`).
    #[serde(default)]
    #[schema(value_type = BTreeMap<String, String>)]
    values: BTreeMap<String, String>,
    #[schema(min_items = 1, max_items = 20)]
    channels: Vec<LineInput>,
}

/// A statement's words, their language, and where they will go.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContentBody {
    text: ProseInput,
    language: LanguageInput,
    /// `twitter`, `press release`, `website`, ...
    #[schema(min_items = 1, max_items = 20)]
    channels: Vec<LineInput>,
}

/// A language tag such as `en`, `fr` or `pt-BR`.
#[derive(Deserialize)]
#[serde(transparent)]
pub struct LanguageInput(String);

const LANGUAGE_PATTERN: &str = "^[A-Za-z0-9]{1,8}(-[A-Za-z0-9]{1,8})*$";
const LANGUAGE_MAX: usize = 35;

impl LanguageInput {
    fn read(&self) -> Result<String, ApiError> {
        let tag = &self.0;
        let valid = tag.len() <= LANGUAGE_MAX
            && tag.split('-').all(|part| {
                (1..=8).contains(&part.len()) && part.chars().all(|c| c.is_ascii_alphanumeric())
            });
        if valid {
            Ok(tag.clone())
        } else {
            Err(ApiError::invalid(
                "language",
                "not a language tag: write e.g. \"en\", \"fr\" or \"pt-BR\"",
            ))
        }
    }
}

impl utoipa::PartialSchema for LanguageInput {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some(LANGUAGE_PATTERN))
            .max_length(Some(LANGUAGE_MAX))
            .examples(["en"])
            .description(Some("A language tag such as `en`, `fr` or `pt-BR`."))
            .into()
    }
}

impl ToSchema for LanguageInput {
    fn name() -> std::borrow::Cow<'static, str> {
        "Language".into()
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApproveBody {
    /// The approver department answering (`legal`, ...).
    department: String,
    /// The SHA-256 of the version read, as the incident shows it: an
    /// answer to an older version is refused (409).
    #[schema(pattern = "^[0-9a-f]{64}$")]
    sha256: String,
    note: Option<ProseInput>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestChangesBody {
    /// The approver department answering (`legal`, ...).
    department: String,
    /// The SHA-256 of the version read, as the incident shows it.
    #[schema(pattern = "^[0-9a-f]{64}$")]
    sha256: String,
    /// What to change: PR reads it.
    note: ProseInput,
}

#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PublishBody {
    /// Where it can be read, if somewhere besides tocsin's statement page.
    url: Option<UrlInput>,
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

impl ContentBody {
    fn read(&self) -> Result<Content, ApiError> {
        Ok(Content {
            text: self.text.read("text")?.into_string(),
            language: self.language.read()?,
            channels: channels(&self.channels)?,
        })
    }
}

#[utoipa::path(post, path = "/api/v1/incidents/{id}/statements", tag = "statements",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Incident id")),
    request_body = ContentBody,
    responses(ActionResponses))]
pub async fn draft(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    Json(body): Json<ContentBody>,
) -> Updated {
    caller.require(Permission::Act)?;
    let wording = Wording::Text(body.read()?);
    drafted(&state, &caller, id, wording).await
}

#[utoipa::path(post, path = "/api/v1/incidents/{id}/statements/from-template", tag = "statements",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Incident id")),
    request_body = TemplateDraftBody,
    responses(ActionResponses))]
pub async fn draft_from_template(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    Json(body): Json<TemplateDraftBody>,
) -> Updated {
    caller.require(Permission::Act)?;
    let wording = Wording::Template {
        id: body.template,
        values: body.values,
        channels: channels(&body.channels)?,
    };
    drafted(&state, &caller, id, wording).await
}

async fn drafted(state: &AppState, caller: &Caller, id: Uuid, wording: Wording) -> Updated {
    let incident = state
        .engine
        .draft_statement(id, Uuid::now_v7(), wording, &caller.actor())
        .await?;
    Ok(axum::Json(view(state, incident).await?))
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

#[utoipa::path(post, path = "/api/v1/incidents/{id}/statements/{statement_id}/approve",
    tag = "statements", security(("bearer" = [])),
    params(
        ("id" = Uuid, Path, description = "Incident id"),
        ("statement_id" = Uuid, Path, description = "Statement id"),
    ),
    request_body = ApproveBody,
    responses(ActionResponses))]
pub async fn approve(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, statement_id)): Path<(Uuid, Uuid)>,
    Json(body): Json<ApproveBody>,
) -> Updated {
    caller.require(Permission::Approve)?;
    let note = body.note.map(|note| note.read("note")).transpose()?;
    let answer = answer(body.department, Verdict::Approved, body.sha256, note)?;
    reviewed(&state, &caller, id, statement_id, answer).await
}

#[utoipa::path(post, path = "/api/v1/incidents/{id}/statements/{statement_id}/request-changes",
    tag = "statements", security(("bearer" = [])),
    params(
        ("id" = Uuid, Path, description = "Incident id"),
        ("statement_id" = Uuid, Path, description = "Statement id"),
    ),
    request_body = RequestChangesBody,
    responses(ActionResponses))]
pub async fn request_changes(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, statement_id)): Path<(Uuid, Uuid)>,
    Json(body): Json<RequestChangesBody>,
) -> Updated {
    caller.require(Permission::Approve)?;
    let note = Some(body.note.read("note")?);
    let answer = answer(
        body.department,
        Verdict::ChangesRequested,
        body.sha256,
        note,
    )?;
    reviewed(&state, &caller, id, statement_id, answer).await
}

async fn reviewed(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
    statement_id: Uuid,
    answer: Answer,
) -> Updated {
    let incident = state
        .engine
        .review_statement(id, statement_id, answer, &caller.actor())
        .await?;
    Ok(axum::Json(view(state, incident).await?))
}

/// An approver's answer, as the API sends it.
fn answer(
    department: String,
    verdict: Verdict,
    sha256: String,
    note: Option<crate::domain::Prose>,
) -> Result<Answer, ApiError> {
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
        note: note.map(crate::domain::Prose::into_string),
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
    let url = body.url.map(|url| url.read()).transpose()?;
    let incident = state
        .engine
        .publish_statement(id, statement_id, url, body.supersedes, &caller.actor())
        .await?;
    Ok(axum::Json(view(&state, incident).await?))
}

/// Where a statement went out: an http(s) address of plain URL characters,
/// printed on the public page as a link. Checked exactly as the schema's
/// pattern says.
#[derive(Deserialize)]
#[serde(transparent)]
pub struct UrlInput(String);

const URL_PATTERN: &str = "^https?://[A-Za-z0-9._~%!$&'()*+,;=:@/?#\\[\\]-]+$";
const URL_MAX: usize = 2048;

impl UrlInput {
    fn read(&self) -> Result<String, ApiError> {
        let url = &self.0;
        let rest = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"));
        let valid = url.len() <= URL_MAX
            && rest.is_some_and(|rest| {
                !rest.is_empty()
                    && rest
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "._~%!$&'()*+,;=:@/?#[]-".contains(c))
            });
        if valid {
            Ok(url.clone())
        } else {
            Err(ApiError::invalid(
                "url",
                "an http or https address of at most 2048 characters",
            ))
        }
    }
}

impl utoipa::PartialSchema for UrlInput {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some(URL_PATTERN))
            .max_length(Some(URL_MAX))
            .examples(["https://example.com/news/statement"])
            .description(Some("An http or https address."))
            .into()
    }
}

impl ToSchema for UrlInput {
    fn name() -> std::borrow::Cow<'static, str> {
        "Url".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The documented patterns and the server agree on every sample.
    #[test]
    fn the_schema_says_what_is_accepted() {
        let url = jsonschema::validator_for(&serde_json::json!({
            "type": "string", "pattern": URL_PATTERN, "maxLength": URL_MAX,
        }))
        .unwrap();
        for sample in [
            "https://example.com/news/1?x=y#top",
            "http://a",
            "https://",
            "ftp://example.com",
            "javascript:alert(1)",
            "https://exa mple.com",
            "https://example.com/\"><script>",
            "https://example.com/é",
            &format!("https://{}", "a".repeat(URL_MAX)),
        ] {
            assert_eq!(
                url.is_valid(&serde_json::json!(sample)),
                UrlInput(sample.to_owned()).read().is_ok(),
                "{sample:?}"
            );
        }
        let language = jsonschema::validator_for(&serde_json::json!({
            "type": "string", "pattern": LANGUAGE_PATTERN, "maxLength": LANGUAGE_MAX,
        }))
        .unwrap();
        for sample in [
            "en",
            "pt-BR",
            "zh-Hant-TW",
            "",
            "en-",
            "-en",
            "not a tag",
            "abcdefghi",
            &"ab-".repeat(12),
        ] {
            assert_eq!(
                language.is_valid(&serde_json::json!(sample)),
                LanguageInput(sample.to_owned()).read().is_ok(),
                "{sample:?}"
            );
        }
    }
}
