//! The dashboard: open incidents, most urgent first, with each department's
//! progress; resolved ones below.

use axum::extract::State;
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::{SignedIn, console_page, internal};
use crate::delivery::render::{relative, when};
use crate::domain::{IncidentFilter, IncidentStatus, IncidentSummary, Severity};
use crate::http::AppState;

/// Open incidents on the dashboard: more at once would be a crisis of its own.
const OPEN_SHOWN: u32 = 200;
/// The latest resolved ones.
const RESOLVED_SHOWN: u32 = 50;
/// Incidents whose running regulatory clocks are listed.
const CLOCKS_SHOWN: u32 = 100;

#[derive(Serialize)]
struct DeadlineLine {
    incident_id: Uuid,
    reference: String,
    title: String,
    what: String,
    due: String,
    countdown: String,
    missed: bool,
}

#[derive(Serialize)]
struct DashboardIncident {
    id: Uuid,
    reference: String,
    title: String,
    severity: Severity,
    age: String,
    resolved: Option<String>,
    departments: Vec<Progress>,
}

#[derive(Serialize)]
struct Progress {
    name: String,
    acknowledged: bool,
    done: usize,
    total: usize,
    overdue: usize,
}

fn age(since: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let minutes = (now - since).num_minutes().max(0);
    match minutes {
        0..60 => format!("{minutes} min"),
        60..2880 => format!("{} h {} min", minutes / 60, minutes % 60),
        _ => format!("{} days", minutes / 1440),
    }
}

fn row(incident: IncidentSummary, now: DateTime<Utc>) -> DashboardIncident {
    DashboardIncident {
        departments: incident
            .departments
            .iter()
            .map(|dept| {
                let progress = dept.progress(now);
                Progress {
                    name: dept.name.clone(),
                    acknowledged: dept.acknowledged_at.is_some(),
                    done: progress.closed,
                    total: progress.tasks,
                    overdue: progress.late,
                }
            })
            .collect(),
        id: incident.id,
        reference: incident.reference,
        title: incident.title,
        severity: incident.severity,
        age: age(incident.opened_at, now),
        resolved: incident.resolved_at.map(when),
    }
}

pub async fn dashboard(State(state): State<AppState>, signed_in: SignedIn) -> Response {
    let now = state.engine.now();
    let listing = |status, limit| IncidentFilter {
        status: Some(status),
        limit,
        ..IncidentFilter::default()
    };
    let (mut open, resolved, clocks) = match tokio::join!(
        state
            .engine
            .incidents(listing(IncidentStatus::Open, OPEN_SHOWN)),
        state
            .engine
            .incidents(listing(IncidentStatus::Resolved, RESOLVED_SHOWN)),
        state.engine.running_clocks(CLOCKS_SHOWN),
    ) {
        (Ok(open), Ok(resolved), Ok(clocks)) => (open.incidents, resolved.incidents, clocks),
        (Err(error), _, _) | (_, Err(error), _) | (_, _, Err(error)) => return internal(&error),
    };
    let deadlines: Vec<DeadlineLine> = clocks
        .into_iter()
        .map(|running| DeadlineLine {
            incident_id: running.incident_id,
            reference: running.reference,
            title: running.title,
            what: format!(
                "{}: {}",
                running.clock.regime_title, running.clock.step_title
            ),
            due: when(running.clock.due_at),
            countdown: relative(running.clock.due_at, now),
            missed: running.clock.due_at <= now,
        })
        .collect();
    // Most urgent first: severity, then the longest open.
    open.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then(a.opened_at.cmp(&b.opened_at))
    });
    let rows = |incidents: Vec<IncidentSummary>| -> Vec<DashboardIncident> {
        incidents.into_iter().map(|i| row(i, now)).collect()
    };
    console_page(
        &state,
        &signed_in,
        "console/dashboard.html",
        serde_json::json!({
            "open": rows(open),
            "resolved": rows(resolved),
            "deadlines": deadlines,
        }),
    )
}
