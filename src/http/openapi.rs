//! The OpenAPI document, generated from the handlers' own annotations.

use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

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
        super::incidents::list,
        super::incidents::show,
        super::timeline::export,
        super::timeline::verify,
        super::timeline::public_key,
        super::timeline::correct,
        super::timeline::record_statement,
        super::timeline::legal_hold,
        super::timeline::purge_log,
        super::incidents::acknowledge_department,
        super::incidents::acknowledge_task,
        super::incidents::complete_task,
        super::incidents::skip_task,
        super::incidents::add_note,
        super::incidents::change_severity,
        super::incidents::resolve,
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
pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
