//! The legal view of an incident's timeline: filters by department, kind,
//! actor and time range, the chain's verification, and the exports.

use std::collections::BTreeSet;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{SignedIn, console_page, internal, not_found};
use crate::engine::EngineError;
use crate::http::AppState;
use crate::http::extract::{Path, Query};
use crate::http::timeline::{ExportParams, export_response, format_of};
use crate::timeline::export::summarize;
#[derive(Deserialize, Serialize, Default)]
pub struct TimelineFilters {
    #[serde(default)]
    department: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    actor: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
}

fn local_input(value: &str) -> Option<DateTime<Utc>> {
    NaiveDateTime::parse_from_str(value, "%Y-%m-%dT%H:%M")
        .ok()
        .map(|naive| naive.and_utc())
}

#[derive(Serialize)]
struct TimelineRow {
    seq: i64,
    at: String,
    actor: String,
    summary: String,
}

pub async fn timeline(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<Uuid>,
    Query(filters): Query<TimelineFilters>,
) -> Response {
    let (incident, events, verification) = match (
        state.engine.incident(id).await,
        state.engine.timeline(id).await,
        state.engine.verify(id).await,
    ) {
        (Ok(incident), Ok(events), Ok(verification)) => (incident, events, verification),
        (Err(EngineError::NotFound(_)), _, _) => return not_found(),
        (Err(error), _, _) | (_, Err(error), _) | (_, _, Err(error)) => return internal(&error),
    };
    let kinds: BTreeSet<String> = events.iter().map(|e| e.kind.clone()).collect();
    let departments: Vec<String> = incident.departments.iter().map(|d| d.id.clone()).collect();
    let (from, to) = (local_input(&filters.from), local_input(&filters.to));
    let total = events.len();
    let shown: Vec<TimelineRow> = events
        .iter()
        .filter(|e| filters.kind.is_empty() || e.kind == filters.kind)
        .filter(|e| filters.actor.is_empty() || e.actor.contains(filters.actor.as_str()))
        .filter(|e| from.is_none_or(|from| e.at >= from) && to.is_none_or(|to| e.at <= to))
        .filter(|e| {
            filters.department.is_empty()
                || e.data["department"] == filters.department.as_str()
                || e.data["task"]
                    .as_str()
                    .is_some_and(|key| key.starts_with(&format!("{}/", filters.department)))
        })
        .map(|e| TimelineRow {
            seq: e.seq,
            at: e.at.format("%Y-%m-%d %H:%M:%S").to_string(),
            actor: e.actor.clone(),
            summary: summarize(&e.kind, &e.data),
        })
        .collect();
    let verification = match verification {
        Ok(head) => {
            serde_json::json!({ "ok": true, "count": head.seq, "head": format!("{} sha256:{}", head.seq, head.hash) })
        }
        Err(broken) => {
            serde_json::json!({ "ok": false, "broken_at": broken.seq, "reason": broken.reason })
        }
    };
    console_page(
        &state,
        &signed_in,
        "console/timeline.html",
        serde_json::json!({ "incident": serde_json::json!({ "id": incident.id, "reference": incident.reference, "title": incident.title }), "verification": verification, "departments": departments, "kinds": kinds, "filters": filters, "events": shown, "total": total }),
    )
}

/// The timeline exports, for a signed-in person.
pub async fn export(
    State(state): State<AppState>,
    _signed_in: SignedIn,
    Path(id): Path<Uuid>,
    Query(params): Query<ExportParams>,
    headers: axum::http::HeaderMap,
) -> Response {
    let format = match format_of(&params, &headers) {
        Ok(format) => format,
        Err(error) => return error.into_response(),
    };
    match export_response(&state, id, format, params.tz.as_deref()).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}
