//! What the playbooks offer: departments with their items, and scenarios.

use axum::Json;
use serde::Serialize;

use super::extract::Caller;
use super::{ApiError, AppState};
use crate::auth::Permission;
use crate::domain::regulatory::Regime;
use crate::domain::signal::SignalSource;
use crate::domain::statement::placeholders;
use crate::playbook::{Department, Organisation, Scenario};

#[derive(Serialize, utoipa::ToSchema)]
pub struct PlaybooksView {
    organisation: Organisation,
    departments: Vec<Department>,
    /// The statutory deadline regimes legal can arm on an incident.
    regimes: Vec<RegimeSummary>,
    /// Holding statements to draft from (`POST .../statements/from-template`).
    templates: Vec<TemplateSummary>,
    /// Who briefings go to; members are counted, not listed.
    audiences: Vec<AudienceSummary>,
    /// Where `POST /api/v1/signals` takes alerts from, and what each opens.
    signals: Vec<SignalSource>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct TemplateSummary {
    id: String,
    title: String,
    language: String,
    text: String,
    /// The names to give `values`.
    placeholders: Vec<String>,
    /// Who approved the wording; null when it needs approval like any text.
    approved_by: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct AudienceSummary {
    id: String,
    title: String,
    /// Outside the company: only approved statements go to it.
    external: bool,
    /// Recipients are asked to confirm they have read a briefing.
    confirm: bool,
    members: usize,
}

/// A regime of `playbooks/regimes/`, as people read it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct RegimeSummary {
    id: String,
    title: String,
    authority: String,
    citation: String,
    source: String,
    /// The department whose head, then deputies, are chased.
    department: String,
    steps: Vec<RegimeStepSummary>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct RegimeStepSummary {
    id: String,
    title: String,
    citation: String,
    /// "72h after awareness", with any second limit.
    rule: String,
}

impl From<&Regime> for RegimeSummary {
    fn from(regime: &Regime) -> Self {
        RegimeSummary {
            id: regime.id.clone(),
            title: regime.title.clone(),
            authority: regime.authority.clone(),
            citation: regime.citation.clone(),
            source: regime.source.clone(),
            department: regime.department.clone(),
            steps: regime
                .steps
                .iter()
                .map(|step| RegimeStepSummary {
                    id: step.id.clone(),
                    title: step.title.clone(),
                    citation: step.citation.clone(),
                    rule: match &step.no_later_than {
                        Some(limit) => format!(
                            "{}, no later than {}",
                            step.deadline.describe(),
                            limit.describe()
                        ),
                        None => step.deadline.describe(),
                    },
                })
                .collect(),
        }
    }
}

#[utoipa::path(get, path = "/api/v1/playbooks", tag = "playbooks",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The loaded playbooks", body = PlaybooksView),
        (status = 401, description = "No valid token", body = super::error::ErrorBody),
    ))]
pub async fn playbooks(
    axum::extract::State(state): axum::extract::State<AppState>,
    caller: Caller,
) -> Result<Json<PlaybooksView>, ApiError> {
    caller.require(Permission::Read)?;
    let catalog = state.engine.catalog();
    Ok(Json(PlaybooksView {
        organisation: catalog.organisation().clone(),
        departments: catalog.departments().to_vec(),
        regimes: catalog.regimes().iter().map(RegimeSummary::from).collect(),
        templates: catalog
            .templates()
            .iter()
            .map(|template| TemplateSummary {
                id: template.id.clone(),
                title: template.title.clone(),
                language: template.language.clone(),
                placeholders: placeholders(&template.text)
                    .into_iter()
                    .map(str::to_owned)
                    .collect(),
                text: template.text.clone(),
                approved_by: template.approved_by.clone(),
            })
            .collect(),
        audiences: catalog
            .audiences()
            .iter()
            .map(|audience| AudienceSummary {
                id: audience.id.clone(),
                title: audience.title.clone(),
                external: audience.external,
                confirm: audience.confirm,
                members: audience.members.len(),
            })
            .collect(),
        signals: catalog.signal_sources().to_vec(),
    }))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ScenariosView {
    scenarios: Vec<Scenario>,
}

#[utoipa::path(get, path = "/api/v1/scenarios", tag = "playbooks",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The scenarios the organisation recognises", body = ScenariosView),
        (status = 401, description = "No valid token", body = super::error::ErrorBody),
    ))]
pub async fn scenarios(
    axum::extract::State(state): axum::extract::State<AppState>,
    caller: Caller,
) -> Result<Json<ScenariosView>, ApiError> {
    caller.require(Permission::Read)?;
    Ok(Json(ScenariosView {
        scenarios: state.engine.catalog().scenarios().to_vec(),
    }))
}
