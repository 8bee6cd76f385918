//! The OpenAPI document, generated from the handlers' own annotations.

use axum::Json;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{Object, ObjectBuilder, Schema, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::playbook::Catalog;

#[derive(OpenApi)]
#[openapi(
    info(title = "tocsin", description = "Crisis-response incident coordinator"),
    paths(
        super::healthz,
        super::readyz,
        super::metrics,
        super::catalog::playbooks,
        super::catalog::scenarios,
        super::incidents::trigger,
        super::signals::receive,
        super::incidents::list,
        super::incidents::show,
        super::timeline::export,
        super::timeline::verify,
        super::timeline::public_key,
        super::timeline::correct,
        super::statements::draft,
        super::statements::draft_from_template,
        super::statements::edit,
        super::statements::submit,
        super::statements::approve,
        super::statements::request_changes,
        super::statements::publish,
        super::briefings::brief_statement,
        super::briefings::brief_update,
        super::briefings::progress,
        super::timeline::legal_hold,
        super::timeline::purge_log,
        super::regulatory::claim_fact,
        super::regulatory::arm,
        super::regulatory::not_notifiable,
        super::regulatory::submit,
        super::incidents::acknowledge_department,
        super::incidents::acknowledge_task,
        super::incidents::complete_task,
        super::incidents::skip_task,
        super::incidents::add_note,
        super::incidents::change_severity,
        super::incidents::resolve,
        super::access::tokens,
        super::access::grant_token,
        super::access::revoke_token,
        super::access::users,
        super::access::add_user,
        super::access::change_role,
        super::access::remove_user,
        super::access::audit_log,
        document,
    ),
    components(schemas(
        super::incidents::IncidentView,
        super::error::ErrorBody,
    )),
    modifiers(&BearerAuth),
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "health",
    responses((status = 200, description = "This document")))]
pub async fn document(
    axum::extract::State(state): axum::extract::State<super::AppState>,
) -> Result<Json<serde_json::Value>, super::ApiError> {
    let mut doc = serde_json::to_value(served(state.engine.catalog()))
        .map_err(|error| super::ApiError::internal(&error))?;
    fix_link_names(&mut doc);
    super::regulatory::require_proof(&mut doc);
    Ok(Json(doc))
}

/// utoipa 5.5 writes a Link object's fields in snake case (`operation_id`);
/// OpenAPI names them in camel case, and tools ignore links without an
/// `operationId`.
fn fix_link_names(doc: &mut serde_json::Value) {
    let operations = doc["paths"]
        .as_object_mut()
        .into_iter()
        .flat_map(|paths| paths.values_mut())
        .filter_map(|item| item.as_object_mut())
        .flat_map(|item| item.values_mut());
    let links = operations
        .filter_map(|operation| operation.get_mut("responses")?.as_object_mut())
        .flat_map(|responses| responses.values_mut())
        .filter_map(|response| response.get_mut("links")?.as_object_mut())
        .flat_map(|links| links.values_mut())
        .filter_map(|link| link.as_object_mut());
    for link in links {
        for (snake, camel) in [
            ("operation_id", "operationId"),
            ("operation_ref", "operationRef"),
            ("request_body", "requestBody"),
        ] {
            if let Some(value) = link.remove(snake) {
                link.insert(camel.to_owned(), value);
            }
        }
    }
}

/// The document as this server serves it: the scenario and department ids
/// come from the playbooks it loaded, so a client (or a fuzzer) can tell a
/// trigger the server will take from one it will refuse.
pub fn served(catalog: &Catalog) -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    let scenarios = catalog.scenarios().iter().map(|s| s.id.as_str());
    if let Some(RefOr::T(Schema::Object(trigger))) = doc
        .components
        .as_mut()
        .and_then(|components| components.schemas.get_mut("TriggerBody"))
    {
        trigger.properties.insert(
            "scenario".into(),
            ids(scenarios, "A scenario id from `GET /api/v1/scenarios`.").into(),
        );
    }
    let sources = catalog.signal_sources().iter().map(|s| s.id.as_str());
    if let Some(RefOr::T(Schema::Object(signal))) = doc
        .components
        .as_mut()
        .and_then(|components| components.schemas.get_mut("SignalBody"))
    {
        signal.properties.insert(
            "source".into(),
            ids(
                sources,
                "A signal source: a file `playbooks/signals/<source>.toml`.",
            )
            .into(),
        );
    }
    let departments = catalog.departments().iter().map(|d| d.id.as_str());
    let acknowledge = doc
        .paths
        .paths
        .get_mut("/api/v1/incidents/{id}/departments/{department}/acknowledge")
        .and_then(|item| item.post.as_mut())
        .and_then(|operation| operation.parameters.as_mut());
    for parameter in acknowledge.into_iter().flatten() {
        if parameter.name == "department" {
            parameter.schema = Some(
                ids(
                    departments.clone(),
                    "A department id from `GET /api/v1/playbooks`.",
                )
                .into(),
            );
        }
    }
    doc
}

fn ids<'a>(ids: impl Iterator<Item = &'a str>, description: &str) -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(ids))
        .description(Some(description))
        .build()
}
