//! Regulatory clocks over the API: what legal armed and claimed, each
//! step's countdown, and the four things legal does (arm, decide not
//! notifiable, claim a fact, record a filing).

use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::AppState;
use super::error::ApiError;
use super::extract::{Caller, Json, JsonOrEmpty, Path};
use super::incidents::{ActionResponses, Updated, view};
use super::text::{LineInput, ProseInput};
use crate::auth::Permission;
use crate::domain::regulatory::{Fact, Regulatory, Report};

/// What legal recorded of regulatory deadlines, with each armed step's clock.
#[derive(Serialize, ToSchema)]
pub struct RegulatoryView {
    /// Every claim, in the order recorded: a fact claimed again keeps its
    /// earlier claims here and on the timeline.
    claims: Vec<ClaimView>,
    regimes: Vec<RegimeView>,
}

#[derive(Serialize, ToSchema)]
pub struct ClaimView {
    fact: Fact,
    /// When it happened, as claimed.
    claimed_at: DateTime<Utc>,
    /// When the claim was recorded.
    recorded_at: DateTime<Utc>,
    recorded_by: String,
}

#[derive(Serialize, ToSchema)]
pub struct RegimeView {
    /// The regime's id: the file stem of `playbooks/regimes/<id>.toml`.
    id: String,
    title: String,
    citation: String,
    authority: String,
    /// `armed` or `not_notifiable`.
    decision: &'static str,
    /// Why it does not apply, for `not_notifiable`.
    reason: Option<String>,
    decided_at: DateTime<Utc>,
    decided_by: String,
    steps: Vec<StepView>,
}

#[derive(Serialize, ToSchema)]
pub struct StepView {
    id: String,
    title: String,
    citation: String,
    /// The rule, for people: "72h after awareness".
    rule: String,
    /// `not_started`, `running`, `overdue`, `submitted` or `submitted_late`.
    status: &'static str,
    started_at: Option<DateTime<Utc>>,
    due_at: Option<DateTime<Utc>>,
    /// Seconds to the deadline (negative once past) while nothing is filed.
    remaining_secs: Option<i64>,
    submissions: Vec<SubmissionView>,
}

#[derive(Serialize, ToSchema)]
pub struct SubmissionView {
    submitted_at: DateTime<Utc>,
    recorded_at: DateTime<Utc>,
    recorded_by: String,
    reference: Option<String>,
    document_sha256: Option<String>,
    late: bool,
    delay_reasons: Option<String>,
}

impl RegulatoryView {
    pub fn new(regulatory: &Regulatory, now: DateTime<Utc>) -> RegulatoryView {
        RegulatoryView {
            claims: regulatory
                .claims
                .iter()
                .map(|claim| ClaimView {
                    fact: claim.fact,
                    claimed_at: claim.claimed_at,
                    recorded_at: claim.recorded_at,
                    recorded_by: claim.recorded_by.clone(),
                })
                .collect(),
            regimes: regulatory
                .regimes
                .iter()
                .map(|state| RegimeView {
                    id: state.rule.id.clone(),
                    title: state.rule.title.clone(),
                    citation: state.rule.citation.clone(),
                    authority: state.rule.authority.clone(),
                    decision: state.decision.as_str(),
                    reason: state.decision.reason().map(str::to_owned),
                    decided_at: state.decided_at,
                    decided_by: state.decided_by.clone(),
                    steps: state
                        .rule
                        .steps
                        .iter()
                        .filter_map(|rule| {
                            let (_, step) = state.step(&rule.id)?;
                            Some(StepView {
                                id: rule.id.clone(),
                                title: rule.title.clone(),
                                citation: rule.citation.clone(),
                                rule: rule.deadline.describe(),
                                status: step.status(now).as_str(),
                                started_at: step.started_at,
                                due_at: step.due_at,
                                remaining_secs: step
                                    .due_at
                                    .filter(|_| step.submissions.is_empty())
                                    .map(|due| (due - now).num_seconds()),
                                submissions: step
                                    .submissions
                                    .iter()
                                    .map(|submission| SubmissionView {
                                        submitted_at: submission.submitted_at,
                                        recorded_at: submission.recorded_at,
                                        recorded_by: submission.recorded_by.clone(),
                                        reference: submission.reference.clone(),
                                        document_sha256: submission.document_sha256.clone(),
                                        late: submission.late,
                                        delay_reasons: submission.delay_reasons.clone(),
                                    })
                                    .collect(),
                            })
                        })
                        .collect(),
                })
                .collect(),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClaimBody {
    /// `awareness`, `classified_major` or `materiality_determined`.
    fact: Fact,
    /// When it happened; may be earlier than now, never later.
    claimed_at: DateTime<Utc>,
}

#[utoipa::path(post, path = "/api/v1/incidents/{id}/regulatory/claims", tag = "regulatory",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Incident id")),
    request_body = ClaimBody,
    responses(ActionResponses))]
pub async fn claim_fact(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    Json(body): Json<ClaimBody>,
) -> Updated {
    caller.require(Permission::Regulate)?;
    let incident = state
        .engine
        .claim_fact(id, body.fact, body.claimed_at, &caller.actor())
        .await?;
    Ok(axum::Json(view(&state, incident).await?))
}

#[utoipa::path(post, path = "/api/v1/incidents/{id}/regulatory/{regime}/arm", tag = "regulatory",
    security(("bearer" = [])),
    params(
        ("id" = Uuid, Path, description = "Incident id"),
        ("regime" = String, Path, description = "Regime id, e.g. `gdpr-art33`"),
    ),
    responses(ActionResponses))]
pub async fn arm(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, regime)): Path<(Uuid, String)>,
) -> Updated {
    caller.require(Permission::Regulate)?;
    let incident = state
        .engine
        .arm_regime(id, &regime, &caller.actor())
        .await?;
    Ok(axum::Json(view(&state, incident).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NotNotifiableBody {
    /// Why the regime does not apply: kept as the documentation the law
    /// asks for (GDPR Art. 33(5)).
    reason: ProseInput,
}

#[utoipa::path(post, path = "/api/v1/incidents/{id}/regulatory/{regime}/not-notifiable",
    tag = "regulatory", security(("bearer" = [])),
    params(
        ("id" = Uuid, Path, description = "Incident id"),
        ("regime" = String, Path, description = "Regime id, e.g. `gdpr-art33`"),
    ),
    request_body = NotNotifiableBody,
    responses(ActionResponses))]
pub async fn not_notifiable(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, regime)): Path<(Uuid, String)>,
    Json(body): Json<NotNotifiableBody>,
) -> Updated {
    caller.require(Permission::Regulate)?;
    let reason = body.reason.read("reason")?;
    let incident = state
        .engine
        .regime_not_notifiable(id, &regime, reason, &caller.actor())
        .await?;
    Ok(axum::Json(view(&state, incident).await?))
}

#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubmissionBody {
    /// When it was filed; now when left out. Never in the future.
    submitted_at: Option<DateTime<Utc>>,
    /// The authority's reference for the filing. This or `document_sha256`.
    reference: Option<LineInput>,
    /// The SHA-256 of the filed document, 64 hex digits.
    #[schema(pattern = "^[0-9A-Fa-f]{64}$")]
    document_sha256: Option<String>,
    /// Why it is late: required after the deadline where the law asks for it.
    delay_reasons: Option<ProseInput>,
}

#[utoipa::path(post, path = "/api/v1/incidents/{id}/regulatory/{regime}/steps/{step}/submissions",
    tag = "regulatory", security(("bearer" = [])),
    params(
        ("id" = Uuid, Path, description = "Incident id"),
        ("regime" = String, Path, description = "Regime id, e.g. `gdpr-art33`"),
        ("step" = String, Path, description = "Step id, e.g. `notify-authority`"),
    ),
    request_body = SubmissionBody,
    responses(ActionResponses))]
pub async fn submit(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, regime, step)): Path<(Uuid, String, String)>,
    JsonOrEmpty(body): JsonOrEmpty<SubmissionBody>,
) -> Updated {
    caller.require(Permission::Regulate)?;
    let report = report(&body)?;
    let incident = state
        .engine
        .submit_report(id, &regime, &step, report, &caller.actor())
        .await?;
    Ok(axum::Json(view(&state, incident).await?))
}

/// Says in the document what [`report`] requires: a filing names the
/// authority's reference or the document's hash (JSON Schema's `anyOf`,
/// which utoipa's derive cannot write).
pub fn require_proof(doc: &mut serde_json::Value) {
    if let Some(body) = doc
        .pointer_mut("/components/schemas/SubmissionBody")
        .and_then(serde_json::Value::as_object_mut)
    {
        body.insert(
            "anyOf".to_owned(),
            serde_json::json!([
                {
                    "required": ["reference"],
                    "properties": {"reference": {"$ref": "#/components/schemas/LineInput"}},
                },
                {
                    "required": ["document_sha256"],
                    "properties": {
                        "document_sha256": {"type": "string", "pattern": "^[0-9A-Fa-f]{64}$"},
                    },
                },
            ]),
        );
    }
}

/// A filing as the API sends it, read: it must be traceable to what was
/// filed, by the authority's reference or the document's hash.
fn report(body: &SubmissionBody) -> Result<Report, ApiError> {
    let reference = body
        .reference
        .as_ref()
        .map(|reference| reference.read("reference"))
        .transpose()?;
    let document_sha256 = body
        .document_sha256
        .as_deref()
        .map(sha256_hex)
        .transpose()?;
    if reference.is_none() && document_sha256.is_none() {
        return Err(ApiError::invalid(
            "reference",
            "give the authority's reference for the filing, or the SHA-256 of the filed \
             document (document_sha256)",
        ));
    }
    Ok(Report {
        submitted_at: body.submitted_at,
        reference,
        document_sha256,
        delay_reasons: body
            .delay_reasons
            .as_ref()
            .map(|reasons| reasons.read("delay_reasons"))
            .transpose()?,
    })
}

/// 64 hex digits, kept in lower case.
pub fn sha256_hex(value: &str) -> Result<String, ApiError> {
    let value = value.trim();
    if value.len() == 64 && value.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        Ok(value.to_ascii_lowercase())
    } else {
        Err(ApiError::invalid(
            "document_sha256",
            "must be a SHA-256 digest: 64 hexadecimal digits",
        ))
    }
}
