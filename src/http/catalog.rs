//! What the playbooks offer: departments with their items, and scenarios.

use axum::Json;
use serde::Serialize;

use super::extract::Caller;
use super::{ApiError, AppState};
use crate::auth::Permission;
use crate::domain::regulatory::Regime;
use crate::playbook::{Department, Organisation, Scenario};

#[derive(Serialize, utoipa::ToSchema)]
pub struct PlaybooksView {
    organisation: Organisation,
    departments: Vec<Department>,
    /// The statutory deadline regimes legal can arm on an incident.
    regimes: Vec<RegimeSummary>,
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
