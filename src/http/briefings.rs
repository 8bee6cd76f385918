//! Briefings over the API: a statement, or an internal update, sent to an
//! audience of the playbooks; and how many of each department confirmed.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::AppState;
use super::error::ApiError;
use super::extract::{Caller, Json, Path};
use super::incidents::{ActionResponses, Updated, view};
use super::text::ProseInput;
use crate::auth::Permission;
use crate::domain::briefing::{Briefing, Message, Share};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatementBriefingBody {
    /// An audience of the playbooks (`GET /api/v1/playbooks` lists them).
    /// An external one takes only an approved statement (409 otherwise).
    audience: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateBriefingBody {
    /// An internal audience of the playbooks.
    audience: String,
    /// What staff must know (what not to post, whom to refer questions to).
    /// It goes out unapproved, and the timeline says so.
    text: ProseInput,
}

#[utoipa::path(post, path = "/api/v1/incidents/{id}/statements/{statement_id}/briefings",
    tag = "briefings", security(("bearer" = [])),
    params(
        ("id" = Uuid, Path, description = "Incident id"),
        ("statement_id" = Uuid, Path, description = "Statement id"),
    ),
    request_body = StatementBriefingBody,
    responses(ActionResponses))]
pub async fn brief_statement(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, statement_id)): Path<(Uuid, Uuid)>,
    Json(body): Json<StatementBriefingBody>,
) -> Updated {
    caller.require(Permission::Act)?;
    let message = Message::Statement(statement_id);
    let incident = state
        .engine
        .send_briefing(id, &body.audience, message, &caller.actor())
        .await?;
    Ok(axum::Json(view(&state, incident).await?))
}

#[utoipa::path(post, path = "/api/v1/incidents/{id}/briefings", tag = "briefings",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Incident id")),
    request_body = UpdateBriefingBody,
    responses(ActionResponses))]
pub async fn brief_update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    Json(body): Json<UpdateBriefingBody>,
) -> Updated {
    caller.require(Permission::Act)?;
    let message = Message::Update(body.text.read("text")?.into_string());
    let incident = state
        .engine
        .send_briefing(id, &body.audience, message, &caller.actor())
        .await?;
    Ok(axum::Json(view(&state, incident).await?))
}

/// A briefing and who has confirmed reading it.
#[derive(Serialize, ToSchema)]
pub struct BriefingProgress {
    briefing: Briefing,
    recipients: i64,
    confirmed: i64,
    /// Per department of the organisation, by name.
    departments: Vec<Share>,
}

#[utoipa::path(get, path = "/api/v1/incidents/{id}/briefings/{briefing_id}", tag = "briefings",
    security(("bearer" = [])),
    params(
        ("id" = Uuid, Path, description = "Incident id"),
        ("briefing_id" = Uuid, Path, description = "Briefing id"),
    ),
    responses(
        (status = 200, description = "The briefing and its confirmations", body = BriefingProgress),
        (status = 400, description = "Malformed id", body = super::error::ErrorBody),
        (status = 401, description = "No valid token", body = super::error::ErrorBody),
        (status = 404, description = "No such incident or briefing", body = super::error::ErrorBody),
    ))]
pub async fn progress(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, briefing_id)): Path<(Uuid, Uuid)>,
) -> Result<axum::Json<BriefingProgress>, ApiError> {
    caller.require(Permission::Read)?;
    let incident = state.engine.incident(id).await?;
    let briefing = incident
        .briefing(briefing_id)
        .cloned()
        .ok_or_else(|| ApiError::not_found("no such briefing in this incident"))?;
    let departments = state.engine.briefing_shares(briefing_id).await?;
    Ok(axum::Json(BriefingProgress {
        briefing,
        recipients: departments.iter().map(|share| share.recipients).sum(),
        confirmed: departments.iter().map(|share| share.confirmed).sum(),
        departments,
    }))
}
