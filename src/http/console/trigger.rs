//! Triggering an incident from the console: scenario, severity, title and
//! summary, and a preview of who the choice engages before it is opened.

use axum::Form;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};

use super::{SignedIn, console_page, csrf_refused, internal, refused};
use crate::auth::Permission;
use crate::domain::{Line, Prose, Severity};
use crate::engine::{EngineError, Trigger};
use crate::http::AppState;

#[derive(Deserialize, Serialize, Default)]
pub struct TriggerForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    scenario: String,
    #[serde(default)]
    severity: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    summary: String,
}

#[derive(Serialize)]
struct PreviewDepartment {
    name: String,
    head: String,
    tasks: Vec<String>,
}

fn form_page(
    state: &AppState,
    signed_in: &SignedIn,
    form: &TriggerForm,
    error: Option<String>,
) -> Response {
    let severity: Option<Severity> = form.severity.parse().ok();
    let preview: Option<Vec<PreviewDepartment>> = severity
        .and_then(|severity| state.engine.catalog().plan(&form.scenario, severity))
        .filter(|_| form.action == "preview" || error.is_some())
        .map(|plan| {
            plan.departments
                .iter()
                .map(|dept| PreviewDepartment {
                    name: dept.name.clone(),
                    head: format!("{} <{}>", dept.head.name, dept.head.email),
                    tasks: dept
                        .tasks
                        .iter()
                        .map(|task| {
                            format!(
                                "{}{}",
                                task.title,
                                if task.required { " (required)" } else { "" }
                            )
                        })
                        .collect(),
                })
                .collect()
        });
    console_page(
        state,
        signed_in,
        "console/new_incident.html",
        serde_json::json!({ "scenarios": state.engine.catalog().scenarios(), "form": form, "preview": preview, "error": error }),
    )
}

pub async fn new_incident(State(state): State<AppState>, signed_in: SignedIn) -> Response {
    let form = TriggerForm {
        severity: "high".into(),
        ..TriggerForm::default()
    };
    form_page(&state, &signed_in, &form, None)
}

/// The form as a trigger, or what to tell the person about it.
fn read(form: &TriggerForm) -> Result<Trigger, String> {
    let severity = form
        .severity
        .parse::<Severity>()
        .map_err(|_| "Choose a severity.".to_owned())?;
    Ok(Trigger {
        title: Line::parse(&form.title).map_err(|error| refused("The title", error))?,
        scenario: form.scenario.clone(),
        severity,
        summary: Prose::parse(&form.summary).map_err(|error| refused("The summary", error))?,
        commander: None,
    })
}

pub async fn trigger(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Form(form): Form<TriggerForm>,
) -> Response {
    if !signed_in.csrf_ok(&form.csrf) {
        return csrf_refused();
    }
    if !signed_in.can(Permission::Act) {
        return (
            StatusCode::FORBIDDEN,
            "Your role may not trigger incidents.",
        )
            .into_response();
    }
    if form.action != "open" {
        return form_page(&state, &signed_in, &form, None);
    }
    let trigger = match read(&form) {
        Ok(trigger) => trigger,
        Err(problem) => return form_page(&state, &signed_in, &form, Some(problem)),
    };
    match state.engine.open(trigger, &signed_in.actor(), None).await {
        Ok(opened) => Redirect::to(&format!("/incidents/{}", opened.incident.id)).into_response(),
        Err(EngineError::Invalid { message, .. }) => {
            form_page(&state, &signed_in, &form, Some(message))
        }
        Err(error) => internal(&error),
    }
}
