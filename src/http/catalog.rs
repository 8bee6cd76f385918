//! What the playbooks offer: departments with their items, and scenarios.

use axum::Json;
use serde::Serialize;

use super::extract::Caller;
use super::{ApiError, AppState};
use crate::auth::Permission;
use crate::playbook::{Department, Organisation, Scenario};

#[derive(Serialize, utoipa::ToSchema)]
pub struct PlaybooksView {
    organisation: Organisation,
    departments: Vec<Department>,
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
