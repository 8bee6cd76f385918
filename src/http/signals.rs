//! Signals: `POST /api/v1/signals` for monitoring and social-listening
//! tools, and the page behind the commander's link to confirm a signal the
//! playbooks say to ask about first. As every link page, GET only shows;
//! only the page's button (a POST) acts.

use std::borrow::Cow;

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::header::{CONTENT_TYPE, LOCATION};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::Schema;
use uuid::Uuid;

use super::client::ClientIp;
use super::error::ErrorBody;
use super::extract::{Caller, Json};
use super::links::{LinkAction, link_action, link_secret};
use super::links::{internal, page, problem, raw_token, unknown_action, unknown_link, user_agent};
use super::text::{LineInput, ProseInput};
use super::{ApiError, AppState};
use crate::auth::Permission;
use crate::delivery::render::{when, who};
use crate::domain::signal::PendingSignal;
use crate::domain::{Incident, IncidentStatus, LinkUse, Severity};
use crate::engine::{Confirmed, DEDUP_KEY_MAX, EngineError, SignalInput, SignalOutcome};

/// A signal, as a tool posts it.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignalBody {
    /// A source id: a file `playbooks/signals/<source>.toml`.
    source: String,
    /// The same key while its incident is open joins that incident rather
    /// than opening another (PagerDuty's `dedup_key`); per source.
    dedup_key: DedupKeyInput,
    /// The alert's headline; matched, with `body`, against the source's rules.
    title: LineInput,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    body: Option<ProseInput>,
    /// Where the tool shows the alert.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 2048, pattern = "^https?://[!-~]+$")]
    link: Option<String>,
}

/// A deduplication key as sent: text by the rule of every text, longer
/// than a line.
#[derive(Serialize, Deserialize)]
#[serde(transparent)]
pub struct DedupKeyInput(String);

impl utoipa::PartialSchema for DedupKeyInput {
    fn schema() -> RefOr<Schema> {
        super::text::schema(DEDUP_KEY_MAX, "A deduplication key")
    }
}

impl utoipa::ToSchema for DedupKeyInput {
    fn name() -> Cow<'static, str> {
        "DedupKey".into()
    }
}

/// What became of a signal.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReceiptOutcome {
    Opened,
    Attached,
    AwaitingConfirmation,
}

/// The answer to a signal: the incident it opened or joined, or the
/// confirmation it waits for.
#[derive(Serialize, ToSchema)]
pub struct SignalReceipt {
    outcome: ReceiptOutcome,
    /// The incident opened or joined; none while awaiting confirmation.
    incident: Option<IncidentRef>,
    /// The signal waiting for the commander; none otherwise.
    confirmation: Option<ConfirmationRef>,
}

#[derive(Serialize, ToSchema)]
pub struct IncidentRef {
    id: Uuid,
    /// Short, for people: `INC-7F3A2C`.
    reference: String,
    title: String,
    scenario: String,
    severity: Severity,
    status: IncidentStatus,
}

#[derive(Serialize, ToSchema)]
pub struct ConfirmationRef {
    id: Uuid,
    /// A signal with this key was already waiting: it still is, and the
    /// commander is not mailed again.
    repeat: bool,
}

impl IncidentRef {
    fn of(incident: &Incident) -> IncidentRef {
        IncidentRef {
            id: incident.id,
            reference: incident.reference.clone(),
            title: incident.title.clone(),
            scenario: incident.scenario.clone(),
            severity: incident.severity,
            status: incident.status,
        }
    }
}

#[utoipa::path(post, path = "/api/v1/signals", tag = "signals",
    security(("bearer" = [])),
    request_body = SignalBody,
    responses(
        (status = 201, description = "The signal opened an incident (`Location` names it)", body = SignalReceipt),
        (status = 200, description = "An incident with this `dedup_key` is open: the signal joined it", body = SignalReceipt),
        (status = 202, description = "The playbook says to ask the commander first: they were mailed a link to confirm", body = SignalReceipt),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "The token's role may not trigger incidents", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
        (status = 422, description = "A field is invalid, an unknown `source` included (named in `field`)", body = ErrorBody),
    ))]
pub async fn receive(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<SignalBody>,
) -> Result<Response, ApiError> {
    caller.require(Permission::Act)?;
    let input = SignalInput {
        source: body.source,
        dedup_key: body.dedup_key.0,
        title: body.title.as_str().to_owned(),
        body: body.body.map(|body| body.as_str().to_owned()),
        link: body.link,
    };
    let outcome = state.engine.receive_signal(input, &caller.actor()).await?;
    let (status, receipt) = match outcome {
        SignalOutcome::Opened(incident) => (
            StatusCode::CREATED,
            SignalReceipt {
                outcome: ReceiptOutcome::Opened,
                incident: Some(IncidentRef::of(&incident)),
                confirmation: None,
            },
        ),
        SignalOutcome::Attached(incident) => (
            StatusCode::OK,
            SignalReceipt {
                outcome: ReceiptOutcome::Attached,
                incident: Some(IncidentRef::of(&incident)),
                confirmation: None,
            },
        ),
        SignalOutcome::AwaitingConfirmation { id, repeat } => (
            StatusCode::ACCEPTED,
            SignalReceipt {
                outcome: ReceiptOutcome::AwaitingConfirmation,
                incident: None,
                confirmation: Some(ConfirmationRef { id, repeat }),
            },
        ),
    };
    let location = receipt
        .incident
        .as_ref()
        .filter(|_| status == StatusCode::CREATED)
        .and_then(|incident| {
            HeaderValue::from_str(&format!("/api/v1/incidents/{}", incident.id)).ok()
        });
    let mut response = (status, axum::Json(receipt)).into_response();
    if let Some(location) = location {
        response.headers_mut().insert(LOCATION, location);
    }
    Ok(response)
}

/// The commander's page for a waiting signal.
#[derive(Serialize)]
struct ConfirmPage<'a> {
    organisation: &'a str,
    source: &'a str,
    scenario: &'a str,
    pending: PendingView<'a>,
    received: String,
    /// Who confirmed, and when, once someone has; with what it opened.
    confirmed: Option<String>,
    form_action: String,
}

#[derive(Serialize)]
struct PendingView<'a> {
    title: &'a str,
    body: Option<&'a str>,
    link: Option<&'a str>,
    dedup_key: &'a str,
    severity: Severity,
    commander: &'a str,
}

fn confirm_page(
    state: &AppState,
    token: &str,
    pending: &PendingSignal,
    confirmed: Option<String>,
) -> Response {
    let catalog = state.engine.catalog();
    let confirmed = confirmed.or_else(|| {
        let (at, by) = pending.confirmed_at.zip(pending.confirmed_by.as_ref())?;
        Some(format!("Confirmed by {} at {}.", who(by), when(at)))
    });
    let view = ConfirmPage {
        organisation: &catalog.organisation().name,
        source: catalog
            .signal_source(&pending.source)
            .map_or(pending.source.as_str(), |source| source.title.as_str()),
        scenario: catalog
            .scenario(&pending.scenario)
            .map_or(pending.scenario.as_str(), |scenario| {
                scenario.title.as_str()
            }),
        pending: PendingView {
            title: &pending.title,
            body: pending.body.as_deref(),
            link: pending.link.as_deref(),
            dedup_key: &pending.dedup_key,
            severity: pending.severity,
            commander: &pending.commander,
        },
        received: format!(
            "Received at {} from {}.",
            when(pending.received_at),
            who(&pending.received_by)
        ),
        confirmed,
        form_action: format!("/signals/confirm/{token}"),
    };
    match state.renderer.page("pages/signal_link.html", view) {
        Ok(body) => page(StatusCode::OK, body),
        Err(error) => internal(&error),
    }
}

/// Shows the waiting signal and the button that confirms it. Changes nothing.
pub async fn show(State(state): State<AppState>, ClientIp(client): ClientIp, uri: Uri) -> Response {
    let Some(secret) = link_secret(raw_token(&uri)) else {
        return unknown_link(&state, client);
    };
    match state.engine.signal_to_confirm(&secret).await {
        Ok(pending) => confirm_page(&state, &secret, &pending, None),
        Err(EngineError::NotFound(_)) => unknown_link(&state, client),
        Err(error) => internal(&error),
    }
}

/// The button: opens the incident (or joins the open one with the key).
pub async fn confirm(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    headers: HeaderMap,
    uri: Uri,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let Some(secret) = link_secret(raw_token(&uri)) else {
        return unknown_link(&state, client);
    };
    let pending = match state.engine.signal_to_confirm(&secret).await {
        Ok(pending) => pending,
        Err(EngineError::NotFound(_)) => return unknown_link(&state, client),
        Err(error) => return internal(&error),
    };
    let action = match &body {
        Ok(body) => link_action(headers.get(CONTENT_TYPE), body),
        Err(_) => return unknown_action(&state),
    };
    if !matches!(action, Ok(LinkAction::Confirm)) {
        return unknown_action(&state);
    }
    let via = LinkUse {
        recipient: pending.commander.clone(),
        ip: client.to_string(),
        user_agent: user_agent(&headers),
    };
    match state.engine.confirm_signal(&secret, via).await {
        Ok(Confirmed::Now(incident)) => {
            let said = format!(
                "Confirmed: incident {} is open and its departments are being notified.",
                incident.reference
            );
            confirm_page(&state, &secret, &pending, Some(said))
        }
        Ok(Confirmed::Already(pending)) => confirm_page(&state, &secret, &pending, None),
        Err(EngineError::NotFound(_)) => unknown_link(&state, client),
        Err(error @ EngineError::Invalid { .. }) => problem(
            &state,
            StatusCode::UNPROCESSABLE_ENTITY,
            "Not accepted",
            &error.to_string(),
        ),
        Err(error) => internal(&error),
    }
}
