//! Incidents: trigger, read, act on tasks, note, change severity, resolve.

use super::regulatory::RegulatoryView;
use crate::domain::briefing::Briefing;
use crate::domain::statement::Statement;
use std::str::FromStr;

use axum::extract::State;
use axum::http::header::LOCATION;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::error::ErrorBody;
use super::extract::{Caller, Json, JsonOrEmpty, Path, Query};
use super::text::{LineInput, ProseInput};
use super::{ApiError, AppState};
use crate::auth::Permission;
use crate::domain::chase::ChaseBoard;
use crate::domain::{
    Department, IdempotencyClaim, Incident, IncidentFilter, IncidentStatus, IncidentSummary,
    MessageRecord, Person, Severity, Task, TaskStatus,
};
use crate::engine::Trigger;

const IDEMPOTENCY_KEY_MAX: usize = 255;
/// RFC 5321's limit on a forward path, less its angle brackets.
const EMAIL_MAX: usize = 254;

// ---- what the API answers -------------------------------------------------

#[derive(Serialize, ToSchema)]
pub struct IncidentView {
    id: Uuid,
    /// Short, for people: `INC-7F3A2C`.
    reference: String,
    title: String,
    scenario: String,
    severity: Severity,
    summary: String,
    status: IncidentStatus,
    commander: Person,
    opened_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    resolved_at: Option<DateTime<Utc>>,
    /// Keys of required tasks neither done nor skipped: resolution waits on these.
    open_required: Vec<String>,
    departments: Vec<DepartmentView>,
    /// Every email and webhook message about the incident, with its delivery status.
    messages: Vec<MessageRecord>,
    /// Statutory deadlines: what legal armed and claimed, and each clock.
    regulatory: RegulatoryView,
    /// Public statements, in the order drafted, each with its current
    /// version, the approvals asked and given, and where it went.
    statements: Vec<Statement>,
    /// Statements and updates sent to audiences; each one's confirmations
    /// are at `GET .../briefings/{briefing_id}`.
    briefings: Vec<Briefing>,
}

#[derive(Serialize, ToSchema)]
pub struct DepartmentView {
    /// The department's id in the playbooks (`pr`, `legal`, ...).
    department: String,
    name: String,
    /// `open`, `acknowledged` or `done`.
    status: String,
    head: Person,
    deputies: Vec<Person>,
    /// When the department was asked.
    joined_at: DateTime<Utc>,
    acknowledged_at: Option<DateTime<Utc>>,
    acknowledged_by: Option<String>,
    /// When its last task closed, once all have.
    completed_at: Option<DateTime<Utc>>,
    /// Seconds from being asked to acknowledging.
    time_to_acknowledge_secs: Option<i64>,
    /// Seconds from being asked to its last task closing.
    time_to_complete_secs: Option<i64>,
    /// Chasing of the department's acknowledgement.
    chase: ChaseView,
    tasks: Vec<TaskView>,
}

/// Who has been chased, when, and what happens next.
#[derive(Serialize, ToSchema, Default)]
pub struct ChaseView {
    history: Vec<ChaseRecord>,
    next: Option<NextChase>,
}

#[derive(Serialize, ToSchema)]
pub struct ChaseRecord {
    at: DateTime<Utc>,
    /// 0: reminder to the head; 1: escalation to the deputies; 2: to the commander.
    stage: i64,
    recipients: Vec<String>,
    /// How long after its due time the chase went out.
    late_by_ms: i64,
}

#[derive(Serialize, ToSchema)]
pub struct NextChase {
    at: DateTime<Utc>,
    stage: i64,
    /// `remind the head`, `escalate to the deputies`, `escalate to the commander`.
    action: &'static str,
}

#[derive(Serialize, ToSchema)]
pub struct TaskView {
    id: Uuid,
    /// `department/item`, as in the playbooks.
    key: String,
    title: String,
    description: String,
    status: TaskStatus,
    required: bool,
    /// Ids of the tasks (possibly another department's) that must be done or
    /// skipped before this one can be completed.
    depends_on: Vec<Uuid>,
    ack_due_at: DateTime<Utc>,
    /// Null while the task waits on its dependencies: its clock starts then.
    due_at: Option<DateTime<Utc>>,
    acknowledged_at: Option<DateTime<Utc>>,
    acknowledged_by: Option<String>,
    closed_at: Option<DateTime<Utc>>,
    closed_by: Option<String>,
    /// The completion note, or why the task was skipped.
    note: Option<String>,
    /// Chasing of the task's completion.
    chase: ChaseView,
}

impl IncidentView {
    fn new(
        incident: Incident,
        messages: Vec<MessageRecord>,
        chasing: &ChaseBoard,
        now: DateTime<Utc>,
    ) -> Self {
        IncidentView {
            messages,
            regulatory: RegulatoryView::new(&incident.regulatory, now),
            statements: incident.statements.clone(),
            briefings: incident.briefings.clone(),
            open_required: incident.open_required_tasks(),
            id: incident.id,
            reference: incident.reference,
            title: incident.title,
            scenario: incident.scenario,
            severity: incident.severity,
            summary: incident.summary,
            status: incident.status,
            commander: incident.commander,
            opened_at: incident.opened_at,
            updated_at: incident.updated_at,
            resolved_at: incident.resolved_at,
            departments: incident
                .departments
                .into_iter()
                .map(|dept| DepartmentView::new(dept, chasing))
                .collect(),
        }
    }
}

impl ChaseView {
    fn of(board: &ChaseBoard, department: &str, task_id: Option<Uuid>) -> ChaseView {
        let chase = board.of(department, task_id);
        ChaseView {
            history: chase
                .history
                .into_iter()
                .map(|step| ChaseRecord {
                    at: step.at,
                    stage: step.stage,
                    recipients: step.recipients.clone(),
                    late_by_ms: step.late_by_ms,
                })
                .collect(),
            next: chase.next.map(|next| NextChase {
                at: next.at,
                stage: next.stage,
                action: next.rung().action(),
            }),
        }
    }
}

impl DepartmentView {
    fn new(dept: Department, chasing: &ChaseBoard) -> Self {
        let completed_at = dept.completed_at();
        let joined_at = dept.joined_at;
        let since_joined = |at: Option<DateTime<Utc>>| at.map(|at| (at - joined_at).num_seconds());
        DepartmentView {
            status: dept.status().to_owned(),
            chase: ChaseView::of(chasing, &dept.id, None),
            time_to_acknowledge_secs: since_joined(dept.acknowledged_at),
            time_to_complete_secs: since_joined(completed_at),
            completed_at,
            joined_at,
            tasks: dept
                .tasks
                .into_iter()
                .map(|task| TaskView::new(task, chasing))
                .collect(),
            department: dept.id,
            name: dept.name,
            head: dept.head,
            deputies: dept.deputies,
            acknowledged_at: dept.acknowledged_at,
            acknowledged_by: dept.acknowledged_by,
        }
    }
}

impl TaskView {
    fn new(task: Task, chasing: &ChaseBoard) -> Self {
        TaskView {
            chase: ChaseView::of(chasing, &task.department, Some(task.id)),
            id: task.id,
            key: task.key,
            title: task.title,
            description: task.description,
            status: task.status,
            required: task.required,
            depends_on: task.depends_on,
            ack_due_at: task.ack_due_at,
            due_at: task.due_at,
            acknowledged_at: task.acknowledged_at,
            acknowledged_by: task.acknowledged_by,
            closed_at: task.closed_at,
            closed_by: task.closed_by,
            note: task.note,
        }
    }
}

/// One incident in a list: what it is and how far each department has got,
/// without its task lists (`GET /api/v1/incidents/{id}` has them).
#[derive(Serialize, ToSchema)]
pub struct IncidentListItem {
    id: Uuid,
    reference: String,
    title: String,
    scenario: String,
    severity: Severity,
    status: IncidentStatus,
    commander: Person,
    opened_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    resolved_at: Option<DateTime<Utc>>,
    legal_hold: bool,
    /// How many required tasks are neither done nor skipped.
    open_required: usize,
    departments: Vec<DepartmentProgress>,
}

#[derive(Serialize, ToSchema)]
pub struct DepartmentProgress {
    department: String,
    name: String,
    /// `open`, `acknowledged` or `done`.
    status: String,
    acknowledged_at: Option<DateTime<Utc>>,
    tasks: usize,
    /// Done or skipped.
    closed: usize,
    /// Late to be acknowledged or done.
    late: usize,
}

impl IncidentListItem {
    fn new(incident: IncidentSummary, now: DateTime<Utc>) -> Self {
        IncidentListItem {
            open_required: incident.open_required(),
            departments: incident
                .departments
                .iter()
                .map(|dept| {
                    let progress = dept.progress(now);
                    DepartmentProgress {
                        department: dept.id.clone(),
                        name: dept.name.clone(),
                        status: dept.status().to_owned(),
                        acknowledged_at: dept.acknowledged_at,
                        tasks: progress.tasks,
                        closed: progress.closed,
                        late: progress.late,
                    }
                })
                .collect(),
            id: incident.id,
            reference: incident.reference,
            title: incident.title,
            scenario: incident.scenario,
            severity: incident.severity,
            status: incident.status,
            commander: incident.commander,
            opened_at: incident.opened_at,
            updated_at: incident.updated_at,
            resolved_at: incident.resolved_at,
            legal_hold: incident.legal_hold,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct IncidentList {
    incidents: Vec<IncidentListItem>,
    /// Pass it as `cursor` for the next page; null on the last one.
    next: Option<String>,
}

/// A page's end, as clients see it: opaque (the last incident's id, in
/// URL-safe base64), so that its form can change.
///
/// Sixteen bytes fill 21 characters and two bits of a 22nd, whose four
/// padding bits must be zero: only `A`, `Q`, `g` and `w` can end one, as
/// the documented pattern says.
fn cursor(last: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(last.as_bytes())
}

fn read_cursor(cursor: &str) -> Result<Uuid, ApiError> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| Uuid::from_slice(&bytes).ok())
        .ok_or_else(|| {
            ApiError::bad_request(
                Some("cursor".into()),
                "not a cursor this server gave: pass the `next` of the previous page",
            )
        })
}

// ---- what the API accepts ---------------------------------------------------

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TriggerBody {
    /// What happened, in a line.
    title: LineInput,
    /// A scenario id from `GET /api/v1/scenarios`.
    scenario: String,
    severity: Severity,
    /// What is known so far.
    summary: ProseInput,
    /// Who leads the response; the organisation's default commander if absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    commander: Option<PersonBody>,
}

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PersonBody {
    name: LineInput,
    #[schema(format = Email, max_length = 254)]
    email: String,
}

#[derive(Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompleteBody {
    #[serde(default)]
    note: Option<ProseInput>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SkipBody {
    /// Why the task is not being done.
    reason: ProseInput,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteBody {
    text: ProseInput,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SeverityBody {
    severity: Severity,
    reason: ProseInput,
}

/// Its schema is written by hand below: derive cannot say that `reason`
/// goes with `force` and only with it.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResolveBody {
    #[serde(default)]
    summary: Option<ProseInput>,
    #[serde(default)]
    force: bool,
    #[serde(default)]
    reason: Option<ProseInput>,
}

impl utoipa::PartialSchema for ResolveBody {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, OneOfBuilder, Type};
        use utoipa::openapi::{Ref, RefOr};
        let nullable = |schema: RefOr<_>, description: &str| {
            OneOfBuilder::new()
                .item(ObjectBuilder::new().schema_type(Type::Null))
                .item(schema)
                .description(Some(description))
        };
        let summary = || {
            nullable(
                Ref::from_schema_name("Prose").into(),
                "How it ended, for everyone.",
            )
        };
        let force = |value: bool| {
            ObjectBuilder::new()
                .schema_type(Type::Boolean)
                .enum_values(Some([value]))
        };
        let closed = || Some(AdditionalProperties::FreeForm(false));
        let plain = ObjectBuilder::new()
            .schema_type(Type::Object)
            .title(Some("Resolve"))
            .property("summary", summary())
            .property("force", force(false))
            .property("reason", ObjectBuilder::new().schema_type(Type::Null))
            .additional_properties(closed());
        let forced = ObjectBuilder::new()
            .schema_type(Type::Object)
            .title(Some("Force"))
            .property("summary", summary())
            .property(
                "force",
                force(true).description(Some("Resolve although required tasks are open.")),
            )
            .property(
                "reason",
                utoipa::openapi::schema::RefBuilder::new()
                    .ref_location_from_schema_name("Prose")
                    .description(Some("Why, when forcing.")),
            )
            .required("force")
            .required("reason")
            .additional_properties(closed());
        OneOfBuilder::new()
            .item(plain)
            .item(forced)
            .description(Some(
                "Resolve when every required task is done or skipped; or set `force` \
                 and give a `reason` to resolve although some are open.",
            ))
            .into()
    }
}

impl ToSchema for ResolveBody {
    fn schemas(
        schemas: &mut Vec<(
            String,
            utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
        )>,
    ) {
        schemas.push((
            <ProseInput as ToSchema>::name().into_owned(),
            <ProseInput as utoipa::PartialSchema>::schema(),
        ));
    }
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Only incidents with this status.
    status: Option<IncidentStatus>,
    /// Only incidents of this severity.
    severity: Option<Severity>,
    /// At most this many, newest first (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
    /// Where the page starts: the `next` of the previous page.
    #[param(pattern = "^[A-Za-z0-9_-]{21}[AQgw]$")]
    cursor: Option<String>,
}

impl TriggerBody {
    fn parse(&self) -> Result<Trigger, ApiError> {
        let commander = match &self.commander {
            Some(person) => {
                if person.email.len() > EMAIL_MAX {
                    return Err(ApiError::invalid(
                        "commander.email",
                        format!("an email address has at most {EMAIL_MAX} characters"),
                    ));
                }
                // Not trimmed: " ann@example.com" is no email address, as
                // the document's `format: email` says.
                let email = lettre::Address::from_str(&person.email).map_err(|error| {
                    ApiError::invalid("commander.email", format!("not an email address: {error}"))
                })?;
                Some(Person {
                    name: person.name.read("commander.name")?.into_string(),
                    email: email.to_string(),
                })
            }
            None => None,
        };
        Ok(Trigger {
            title: self.title.read("title")?,
            scenario: super::text::read::<{ crate::domain::LINE_MAX }>("scenario", &self.scenario)?
                .into_string(),
            severity: self.severity,
            summary: self.summary.read("summary")?,
            commander,
        })
    }
}

fn idempotency_claim(
    headers: &HeaderMap,
    caller: &Caller,
    body: &TriggerBody,
) -> Result<Option<IdempotencyClaim>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = value
        .to_str()
        .ok()
        .filter(|key| {
            (1..=IDEMPOTENCY_KEY_MAX).contains(&key.len())
                && key.bytes().all(|b| b.is_ascii_graphic())
        })
        .ok_or_else(|| {
            ApiError::bad_request(
                Some("Idempotency-Key".into()),
                format!(
                    "Idempotency-Key must be 1 to {IDEMPOTENCY_KEY_MAX} visible ASCII characters"
                ),
            )
        })?;
    // The parsed body, re-serialised: the same request with other whitespace
    // or key order is still the same request.
    let canonical = serde_json::to_vec(body).map_err(|error| ApiError::internal(&error))?;
    Ok(Some(IdempotencyClaim {
        token_id: caller.token.id,
        key: key.to_owned(),
        fingerprint: hex::encode(Sha256::digest(&canonical)),
    }))
}

// ---- handlers -----------------------------------------------------------------

#[utoipa::path(post, path = "/api/v1/incidents", tag = "incidents",
    security(("bearer" = [])),
    request_body = TriggerBody,
    params(("Idempotency-Key" = Option<String>, Header, nullable = false,
        min_length = 1, max_length = 255, pattern = "^[!-~]+$",
        description = "Makes a retried trigger return the incident the first call created")),
    responses(
        (status = 201, description = "The incident, opened (or replayed for a known Idempotency-Key)", body = IncidentView,
            // Where a client goes next: its first department and task.
            links(
                ("AcknowledgeDepartment" = (operation_id = "acknowledge_department", parameters(
                    ("id" = "$response.body#/id"),
                    ("department" = "$response.body#/departments/0/department")))),
                ("AcknowledgeTask" = (operation_id = "acknowledge_task", parameters(
                    ("id" = "$response.body#/id"),
                    ("task_id" = "$response.body#/departments/0/tasks/0/id")))),
                ("CompleteTask" = (operation_id = "complete_task", parameters(
                    ("id" = "$response.body#/id"),
                    ("task_id" = "$response.body#/departments/0/tasks/0/id")))),
                ("SkipTask" = (operation_id = "skip_task", parameters(
                    ("id" = "$response.body#/id"),
                    ("task_id" = "$response.body#/departments/0/tasks/0/id")))),
            )),
        (status = 400, description = "Malformed JSON or header", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "The token's role may not trigger", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
        (status = 422, description = "A field is invalid (named in `field`)", body = ErrorBody),
    ))]
pub async fn trigger(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Json(body): Json<TriggerBody>,
) -> Result<Response, ApiError> {
    caller.require(Permission::Act)?;
    let trigger = body.parse()?;
    let claim = idempotency_claim(&headers, &caller, &body)?;
    let opened = state.engine.open(trigger, &caller.actor(), claim).await?;
    let location = format!("/api/v1/incidents/{}", opened.incident.id);
    let mut response = (
        StatusCode::CREATED,
        axum::Json(view(&state, opened.incident).await?),
    )
        .into_response();
    let headers = response.headers_mut();
    if let Ok(location) = HeaderValue::from_str(&location) {
        headers.insert(LOCATION, location);
    }
    if !opened.created {
        headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(response)
}

#[utoipa::path(get, path = "/api/v1/incidents", tag = "incidents",
    security(("bearer" = [])),
    params(ListParams),
    responses(
        (status = 200, description = "Incidents, newest first, a page at a time", body = IncidentList),
        (status = 400, description = "A bad query parameter", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
    ))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(params): Query<ListParams>,
) -> Result<axum::Json<IncidentList>, ApiError> {
    caller.require(Permission::Read)?;
    let limit = params.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::bad_request(
            Some("limit".into()),
            "limit must be between 1 and 200",
        ));
    }
    let before = params.cursor.as_deref().map(read_cursor).transpose()?;
    let page = state
        .engine
        .incidents(IncidentFilter {
            status: params.status,
            severity: params.severity,
            before,
            limit,
        })
        .await?;
    let now = state.engine.now();
    Ok(axum::Json(IncidentList {
        incidents: page
            .incidents
            .into_iter()
            .map(|incident| IncidentListItem::new(incident, now))
            .collect(),
        next: page.next.map(cursor),
    }))
}

#[utoipa::path(get, path = "/api/v1/incidents/{id}", tag = "incidents",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Incident id")),
    responses(
        (status = 200, description = "The incident", body = IncidentView),
        (status = 400, description = "Malformed id", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such incident", body = ErrorBody),
    ))]
pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> Result<axum::Json<IncidentView>, ApiError> {
    caller.require(Permission::Read)?;
    let incident = state.engine.incident(id).await?;
    Ok(axum::Json(view(&state, incident).await?))
}

/// The answers every state change shares.
pub(super) struct ActionResponses;

impl utoipa::IntoResponses for ActionResponses {
    fn responses() -> std::collections::BTreeMap<
        String,
        utoipa::openapi::RefOr<utoipa::openapi::response::Response>,
    > {
        use utoipa::openapi::response::ResponseBuilder;
        use utoipa::openapi::{ContentBuilder, Ref};
        let json = |description: &str, schema: &str| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name(schema)))
                        .build(),
                )
                .build()
                .into()
        };
        [
            ("200", "The incident after the change", "IncidentView"),
            ("400", "Malformed id or JSON", "ErrorBody"),
            ("401", "No valid token", "ErrorBody"),
            (
                "403",
                "The token's role may not change incidents",
                "ErrorBody",
            ),
            ("404", "No such incident, task or department", "ErrorBody"),
            (
                "409",
                "Not allowed in the incident's current state",
                "ErrorBody",
            ),
            ("413", "Body too large", "ErrorBody"),
            ("415", "Body is not JSON", "ErrorBody"),
            ("422", "A field is invalid (named in `field`)", "ErrorBody"),
        ]
        .into_iter()
        .map(|(status, description, schema)| (status.to_owned(), json(description, schema)))
        .collect()
    }
}

pub(super) type Updated = Result<axum::Json<IncidentView>, ApiError>;

/// The incident with its messages and chasing, as every answer about one shows it.
pub(super) async fn view(state: &AppState, incident: Incident) -> Result<IncidentView, ApiError> {
    // Independent reads, at once.
    let (messages, chasing) = tokio::try_join!(
        state.engine.messages(incident.id),
        state.engine.chase_board(&incident),
    )?;
    Ok(IncidentView::new(
        incident,
        messages,
        &chasing,
        state.engine.now(),
    ))
}

#[utoipa::path(post, path = "/api/v1/incidents/{id}/departments/{department}/acknowledge",
    tag = "incidents", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Incident id"),
           ("department" = String, Path, description = "Department id")),
    responses(ActionResponses))]
pub async fn acknowledge_department(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, department)): Path<(Uuid, String)>,
) -> Updated {
    caller.require(Permission::Act)?;
    let incident = state
        .engine
        .acknowledge_department(id, &department, &caller.actor())
        .await?;
    Ok(axum::Json(view(&state, incident).await?))
}

#[utoipa::path(post, path = "/api/v1/incidents/{id}/tasks/{task_id}/acknowledge",
    tag = "incidents", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Incident id"),
           ("task_id" = Uuid, Path, description = "Task id")),
    responses(ActionResponses))]
pub async fn acknowledge_task(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, task_id)): Path<(Uuid, Uuid)>,
) -> Updated {
    caller.require(Permission::Act)?;
    let incident = state
        .engine
        .acknowledge_task(id, task_id, &caller.actor())
        .await?;
    Ok(axum::Json(view(&state, incident).await?))
}

#[utoipa::path(post, path = "/api/v1/incidents/{id}/tasks/{task_id}/complete",
    tag = "incidents", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Incident id"),
           ("task_id" = Uuid, Path, description = "Task id")),
    request_body(content = Option<CompleteBody>, description = "Optional; an empty body is fine"),
    responses(ActionResponses))]
pub async fn complete_task(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, task_id)): Path<(Uuid, Uuid)>,
    JsonOrEmpty(body): JsonOrEmpty<CompleteBody>,
) -> Updated {
    caller.require(Permission::Act)?;
    let note = body.note.map(|note| note.read("note")).transpose()?;
    let incident = state
        .engine
        .complete_task(id, task_id, note, &caller.actor())
        .await?;
    Ok(axum::Json(view(&state, incident).await?))
}

#[utoipa::path(post, path = "/api/v1/incidents/{id}/tasks/{task_id}/skip",
    tag = "incidents", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Incident id"),
           ("task_id" = Uuid, Path, description = "Task id")),
    request_body = SkipBody,
    responses(ActionResponses))]
pub async fn skip_task(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, task_id)): Path<(Uuid, Uuid)>,
    Json(body): Json<SkipBody>,
) -> Updated {
    caller.require(Permission::Act)?;
    let reason = body.reason.read("reason")?;
    let incident = state
        .engine
        .skip_task(id, task_id, reason, &caller.actor())
        .await?;
    Ok(axum::Json(view(&state, incident).await?))
}

#[utoipa::path(post, path = "/api/v1/incidents/{id}/notes",
    tag = "incidents", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Incident id")),
    request_body = NoteBody,
    responses(ActionResponses))]
pub async fn add_note(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    Json(body): Json<NoteBody>,
) -> Updated {
    caller.require(Permission::Act)?;
    let text = body.text.read("text")?;
    let incident = state.engine.add_note(id, text, &caller.actor()).await?;
    Ok(axum::Json(view(&state, incident).await?))
}

#[utoipa::path(post, path = "/api/v1/incidents/{id}/severity",
    tag = "incidents", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Incident id")),
    request_body = SeverityBody,
    responses(ActionResponses))]
pub async fn change_severity(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    Json(body): Json<SeverityBody>,
) -> Updated {
    caller.require(Permission::Act)?;
    let reason = body.reason.read("reason")?;
    let incident = state
        .engine
        .change_severity(id, body.severity, reason, &caller.actor())
        .await?;
    Ok(axum::Json(view(&state, incident).await?))
}

#[utoipa::path(post, path = "/api/v1/incidents/{id}/resolve",
    tag = "incidents", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Incident id")),
    request_body(content = Option<ResolveBody>, description = "Optional unless forcing"),
    responses(ActionResponses))]
pub async fn resolve(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    JsonOrEmpty(body): JsonOrEmpty<ResolveBody>,
) -> Updated {
    caller.require(Permission::Act)?;
    let summary = body
        .summary
        .map(|summary| summary.read("summary"))
        .transpose()?;
    let force_reason = match (body.force, body.reason) {
        (true, None) => {
            return Err(ApiError::invalid(
                "reason",
                "forcing resolution needs a reason",
            ));
        }
        (true, Some(reason)) => Some(reason.read("reason")?),
        (false, Some(_)) => {
            return Err(ApiError::invalid(
                "reason",
                "a reason is only for forcing resolution; set force to true",
            ));
        }
        (false, None) => None,
    };
    let incident = state
        .engine
        .resolve(id, summary, force_reason, &caller.actor())
        .await?;
    Ok(axum::Json(view(&state, incident).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    use utoipa::OpenApi;

    const BASE64URL: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

    /// Clients (and schema fuzzers) build cursors from the documented
    /// pattern: every string it admits must read, and no other last
    /// character may.
    #[test]
    fn the_documented_cursor_pattern_admits_exactly_what_reads() {
        let spec = serde_json::to_value(crate::http::openapi::ApiDoc::openapi())
            .expect("the spec serialises");
        let parameters = spec["paths"]["/api/v1/incidents"]["get"]["parameters"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let pattern = parameters
            .iter()
            .find(|parameter| parameter["name"] == "cursor")
            .and_then(|parameter| parameter["schema"]["pattern"].as_str())
            .expect("the cursor's pattern is documented")
            .to_owned();
        let allowed_last = pattern
            .strip_prefix("^[A-Za-z0-9_-]{21}[")
            .and_then(|rest| rest.strip_suffix("]$"))
            .expect("21 base64url characters, then a class for the last");
        for prefix in ["A".repeat(21), "0".repeat(21), "_".repeat(21)] {
            for last in BASE64URL.chars() {
                let candidate = format!("{prefix}{last}");
                assert_eq!(
                    read_cursor(&candidate).is_ok(),
                    allowed_last.contains(last),
                    "{candidate}"
                );
            }
        }
        let id = Uuid::now_v7();
        assert_eq!(read_cursor(&cursor(id)).ok(), Some(id));
        assert!(allowed_last.contains(cursor(id).chars().last().unwrap_or(' ')));
    }
}
