//! Rows as the backend reads them, and their conversion to the domain.
//! Column types decode natively on each engine (uuid, timestamptz and jsonb
//! on PostgreSQL; blob, text and text on SQLite).

use chrono::{DateTime, Duration, Utc};
use sqlx::types::Json;
use uuid::Uuid;

use crate::auth::audit::{AuditAction, AuditEntry, Subject, SubjectKind};
use crate::auth::{ApiToken, User};
use crate::domain::briefing::Briefing;
use crate::domain::chase::{ClockRef, DueTimer, Purpose, StatementRef};
use crate::domain::regulatory::Regulatory;
use crate::domain::statement::Statement;
use crate::domain::{
    Channel, Department, DepartmentSummary, Event, Incident, IncidentStatus, IncidentSummary,
    LinkToken, MessageRecord, Notice, Person, PurgeRecord, Severity, Task, TaskClock, TaskStatus,
    TokenKind,
};
use crate::store::{ClaimedMessage, StoreError, Unreadable, parse_role};
use crate::timeline::ChainedEvent;

#[derive(sqlx::FromRow)]
pub(super) struct IncidentRow {
    pub id: Uuid,
    pub reference: String,
    pub title: String,
    pub scenario: String,
    pub severity: String,
    pub summary: String,
    pub status: String,
    pub commander_name: String,
    pub commander_email: String,
    pub opened_by: String,
    pub opened_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub legal_hold: bool,
    pub regulatory: Json<Regulatory>,
    pub statements: Json<Vec<Statement>>,
    pub briefings: Json<Vec<Briefing>>,
}

#[derive(sqlx::FromRow)]
pub(super) struct DepartmentRow {
    pub incident_id: Uuid,
    pub department: String,
    pub name: String,
    pub head_name: String,
    pub head_email: String,
    pub deputies: Json<Vec<Person>>,
    pub joined_at: DateTime<Utc>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub acknowledged_by: Option<String>,
}

#[derive(sqlx::FromRow)]
pub(super) struct TaskRow {
    pub incident_id: Uuid,
    pub id: Uuid,
    pub department: String,
    pub key: String,
    pub title: String,
    pub description: String,
    pub required: bool,
    pub depends_on: Json<Vec<Uuid>>,
    pub ack_within_ms: i64,
    pub complete_within_ms: i64,
    pub status: String,
    pub ack_due_at: DateTime<Utc>,
    pub due_at: Option<DateTime<Utc>>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub acknowledged_by: Option<String>,
    pub closed_at: Option<DateTime<Utc>>,
    pub closed_by: Option<String>,
    pub note: Option<String>,
}

/// What a list reads of a department.
#[derive(sqlx::FromRow)]
pub(super) struct DepartmentSummaryRow {
    pub incident_id: Uuid,
    pub department: String,
    pub name: String,
    pub acknowledged_at: Option<DateTime<Utc>>,
}

/// What a list reads of a task: its state and deadlines.
#[derive(sqlx::FromRow)]
pub(super) struct TaskClockRow {
    pub incident_id: Uuid,
    pub department: String,
    pub status: String,
    pub required: bool,
    pub ack_due_at: DateTime<Utc>,
    pub due_at: Option<DateTime<Utc>>,
}

#[derive(sqlx::FromRow)]
pub(super) struct EventRow {
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub kind: String,
    pub data: Json<serde_json::Value>,
}

#[derive(sqlx::FromRow)]
pub(super) struct ChainRow {
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub kind: String,
    pub data: Json<serde_json::Value>,
    pub prev_hash: String,
    pub hash: String,
}

impl ChainRow {
    pub fn into_event(self, incident_id: Uuid) -> ChainedEvent {
        ChainedEvent {
            incident_id,
            seq: self.seq,
            at: self.at,
            actor: self.actor,
            kind: self.kind,
            data: self.data.0,
            prev_hash: self.prev_hash,
            hash: self.hash,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct UserRow {
    pub id: Uuid,
    pub email: String,
    pub role: String,
    pub created_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
pub(super) struct SessionRow {
    pub csrf_token: String,
    #[sqlx(flatten)]
    pub user: UserRow,
}

impl TryFrom<UserRow> for User {
    type Error = StoreError;

    fn try_from(row: UserRow) -> Result<Self, Self::Error> {
        Ok(User {
            id: row.id,
            email: row.email,
            role: parse_role(&row.role)?,
            created_at: row.created_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct TokenRow {
    pub id: Uuid,
    pub name: String,
    pub role: String,
    pub secret_hash: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// The columns of [`TokenRow`], for `concat!` (queries stay literals).
macro_rules! token_columns {
    () => {
        "id, name, role, secret_hash, created_at, expires_at, last_used_at, revoked_at"
    };
}
pub(super) use token_columns;

#[derive(sqlx::FromRow)]
pub(super) struct AuditRow {
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub subject_kind: String,
    pub subject_id: Uuid,
    pub subject_name: String,
    pub role: Option<String>,
    pub previous_role: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
}

impl TryFrom<AuditRow> for AuditEntry {
    type Error = StoreError;

    fn try_from(row: AuditRow) -> Result<Self, Self::Error> {
        let corrupt =
            |what: &str, value: &str| StoreError::Corrupt(format!("unknown {what} {value:?}"));
        Ok(AuditEntry {
            at: row.at,
            actor: row.actor,
            action: AuditAction::parse(&row.action)
                .ok_or_else(|| corrupt("audit action", &row.action))?,
            subject: Subject {
                kind: SubjectKind::parse(&row.subject_kind)
                    .ok_or_else(|| corrupt("audit subject", &row.subject_kind))?,
                id: row.subject_id,
                name: row.subject_name,
            },
            role: row.role.as_deref().map(parse_role).transpose()?,
            previous_role: row.previous_role.as_deref().map(parse_role).transpose()?,
            expires_at: row.expires_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct ClaimRow {
    pub id: Uuid,
    pub incident_id: Uuid,
    pub channel: String,
    pub recipient: String,
    pub department: Option<String>,
    /// Read as plain JSON, then as a notice: row by row, so that one this
    /// release cannot read holds back no other.
    pub notice: Json<serde_json::Value>,
    pub attempts: i64,
}

#[derive(sqlx::FromRow)]
pub(super) struct TimerRow {
    pub id: Uuid,
    pub incident_id: Uuid,
    pub department: String,
    pub task_id: Option<Uuid>,
    pub purpose: String,
    pub stage: i64,
    pub due_at: DateTime<Utc>,
    pub version: i64,
    pub clock: Option<String>,
    pub deadline_at: Option<DateTime<Utc>>,
    pub statement_id: Option<Uuid>,
    pub statement_version: Option<i64>,
}

impl TryFrom<TimerRow> for DueTimer {
    type Error = StoreError;

    fn try_from(row: TimerRow) -> Result<Self, Self::Error> {
        Ok(DueTimer {
            id: row.id,
            incident_id: row.incident_id,
            purpose: Purpose::parse(&row.purpose)
                .ok_or_else(|| corrupt("purpose", &row.purpose))?,
            department: row.department,
            task_id: row.task_id,
            stage: row.stage,
            due_at: row.due_at,
            version: row.version,
            clock: match (row.clock, row.deadline_at) {
                (Some(key), Some(deadline)) => {
                    Some(ClockRef::parse(&key, deadline).ok_or_else(|| corrupt("clock", &key))?)
                }
                _ => None,
            },
            statement: match (row.statement_id, row.statement_version) {
                (Some(id), Some(version)) => Some(StatementRef {
                    id,
                    version: u32::try_from(version)
                        .map_err(|_| corrupt("statement version", &version.to_string()))?,
                }),
                _ => None,
            },
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct LinkRow {
    pub secret_hash: String,
    pub incident_id: Uuid,
    pub department: String,
    pub task_id: Option<Uuid>,
    pub recipient: String,
    pub message_id: Uuid,
    pub created_at: DateTime<Utc>,
    pub statement_id: Option<Uuid>,
    pub briefing_id: Option<Uuid>,
    pub kind: String,
}

impl ClaimRow {
    pub fn read(self) -> Result<ClaimedMessage, Unreadable> {
        let channel = Channel::parse(&self.channel)
            .ok_or_else(|| format!("unknown channel {:?}", self.channel));
        let notice = serde_json::from_value::<Notice>(self.notice.0)
            .map_err(|error| format!("unknown notice: {error}"));
        match (channel, notice) {
            (Ok(channel), Ok(notice)) => Ok(ClaimedMessage {
                id: self.id,
                incident_id: self.incident_id,
                channel,
                recipient: self.recipient,
                department: self.department,
                notice,
                attempts: self.attempts,
            }),
            (Err(reason), _) | (_, Err(reason)) => Err(Unreadable {
                id: self.id,
                incident_id: self.incident_id,
                channel: self.channel,
                recipient: self.recipient,
                attempts: self.attempts,
                reason,
            }),
        }
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct MessageRow {
    pub id: Uuid,
    pub channel: String,
    pub recipient: String,
    pub department: Option<String>,
    pub status: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub receipt: Option<String>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    pub next_attempt_at: DateTime<Utc>,
    pub bounced_at: Option<DateTime<Utc>>,
}

impl From<MessageRow> for MessageRecord {
    fn from(row: MessageRow) -> Self {
        MessageRecord {
            id: row.id,
            channel: row.channel,
            recipient: row.recipient,
            department: row.department,
            status: row.status,
            attempts: row.attempts,
            last_error: row.last_error,
            receipt: row.receipt,
            created_at: row.created_at,
            sent_at: row.sent_at,
            next_attempt_at: row.next_attempt_at,
            bounced_at: row.bounced_at,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct PurgeRow {
    pub incident_id: Uuid,
    pub reference: String,
    pub title: String,
    pub resolved_at: DateTime<Utc>,
    pub head_seq: i64,
    pub head_hash: String,
    pub events: i64,
    pub purged_at: DateTime<Utc>,
}

impl From<PurgeRow> for PurgeRecord {
    fn from(row: PurgeRow) -> Self {
        PurgeRecord {
            incident_id: row.incident_id,
            reference: row.reference,
            title: row.title,
            resolved_at: row.resolved_at,
            head_seq: row.head_seq,
            head_hash: row.head_hash,
            events: row.events,
            purged_at: row.purged_at,
        }
    }
}

impl TryFrom<LinkRow> for LinkToken {
    type Error = StoreError;

    fn try_from(row: LinkRow) -> Result<Self, StoreError> {
        Ok(LinkToken {
            kind: TokenKind::parse(&row.kind).ok_or_else(|| corrupt("token kind", &row.kind))?,
            secret_hash: row.secret_hash,
            incident_id: row.incident_id,
            department: row.department,
            task_id: row.task_id,
            recipient: row.recipient,
            message_id: row.message_id,
            created_at: row.created_at,
            statement_id: row.statement_id,
            briefing_id: row.briefing_id,
        })
    }
}

fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::Corrupt(format!("unknown {what} {value:?}"))
}

/// Builds the aggregate from its rows; tasks are grouped under their
/// department in the order given.
pub(super) fn assemble(
    incident: IncidentRow,
    departments: Vec<DepartmentRow>,
    tasks: Vec<TaskRow>,
) -> Result<Incident, StoreError> {
    let mut departments: Vec<Department> = departments
        .into_iter()
        .map(|row| Department {
            id: row.department,
            name: row.name,
            head: Person {
                name: row.head_name,
                email: row.head_email,
            },
            deputies: row.deputies.0,
            joined_at: row.joined_at,
            acknowledged_at: row.acknowledged_at,
            acknowledged_by: row.acknowledged_by,
            tasks: Vec::new(),
        })
        .collect();
    for row in tasks {
        let task = Task {
            id: row.id,
            status: TaskStatus::parse(&row.status)
                .ok_or_else(|| corrupt("task status", &row.status))?,
            key: row.key,
            department: row.department,
            title: row.title,
            description: row.description,
            required: row.required,
            depends_on: row.depends_on.0,
            ack_within: Duration::milliseconds(row.ack_within_ms),
            complete_within: Duration::milliseconds(row.complete_within_ms),
            ack_due_at: row.ack_due_at,
            due_at: row.due_at,
            acknowledged_at: row.acknowledged_at,
            acknowledged_by: row.acknowledged_by,
            closed_at: row.closed_at,
            closed_by: row.closed_by,
            note: row.note,
        };
        let department = departments
            .iter_mut()
            .find(|dept| dept.id == task.department)
            .ok_or_else(|| corrupt("department of a task", &task.department))?;
        department.tasks.push(task);
    }
    let header = Header::read(&incident)?;
    Ok(Incident {
        id: incident.id,
        reference: incident.reference,
        title: incident.title,
        scenario: incident.scenario,
        severity: header.severity,
        summary: incident.summary,
        status: header.status,
        commander: Person {
            name: incident.commander_name,
            email: incident.commander_email,
        },
        opened_by: incident.opened_by,
        opened_at: incident.opened_at,
        updated_at: incident.updated_at,
        resolved_at: incident.resolved_at,
        legal_hold: incident.legal_hold,
        regulatory: incident.regulatory.0,
        statements: incident.statements.0,
        briefings: incident.briefings.0,
        departments,
    })
}

/// Builds a list's summary from its rows; task clocks are grouped under
/// their department in the order given.
pub(super) fn summarise(
    incident: IncidentRow,
    departments: Vec<DepartmentSummaryRow>,
    tasks: Vec<TaskClockRow>,
) -> Result<IncidentSummary, StoreError> {
    let mut departments: Vec<DepartmentSummary> = departments
        .into_iter()
        .map(|row| DepartmentSummary {
            id: row.department,
            name: row.name,
            acknowledged_at: row.acknowledged_at,
            tasks: Vec::new(),
        })
        .collect();
    for row in tasks {
        let clock = TaskClock {
            status: TaskStatus::parse(&row.status)
                .ok_or_else(|| corrupt("task status", &row.status))?,
            required: row.required,
            ack_due_at: row.ack_due_at,
            due_at: row.due_at,
        };
        departments
            .iter_mut()
            .find(|dept| dept.id == row.department)
            .ok_or_else(|| corrupt("department of a task", &row.department))?
            .tasks
            .push(clock);
    }
    let header = Header::read(&incident)?;
    Ok(IncidentSummary {
        id: incident.id,
        reference: incident.reference,
        title: incident.title,
        scenario: incident.scenario,
        severity: header.severity,
        status: header.status,
        commander: Person {
            name: incident.commander_name,
            email: incident.commander_email,
        },
        opened_at: incident.opened_at,
        updated_at: incident.updated_at,
        resolved_at: incident.resolved_at,
        legal_hold: incident.legal_hold,
        departments,
    })
}

/// An incident row's coded columns, read.
struct Header {
    severity: Severity,
    status: IncidentStatus,
}

impl Header {
    fn read(row: &IncidentRow) -> Result<Header, StoreError> {
        Ok(Header {
            severity: row
                .severity
                .parse()
                .map_err(|_| corrupt("severity", &row.severity))?,
            status: IncidentStatus::parse(&row.status)
                .ok_or_else(|| corrupt("incident status", &row.status))?,
        })
    }
}

impl From<EventRow> for Event {
    fn from(row: EventRow) -> Self {
        Event {
            seq: row.seq,
            at: row.at,
            actor: row.actor,
            kind: row.kind,
            data: row.data.0,
        }
    }
}

impl TryFrom<TokenRow> for ApiToken {
    type Error = StoreError;

    fn try_from(row: TokenRow) -> Result<Self, Self::Error> {
        Ok(ApiToken {
            id: row.id,
            name: row.name,
            role: parse_role(&row.role)?,
            secret_hash: row.secret_hash,
            created_at: row.created_at,
            expires_at: row.expires_at,
            last_used_at: row.last_used_at,
            revoked_at: row.revoked_at,
        })
    }
}

/// The departments and tasks to write after a change: new ones, and those
/// whose progress changed, with their positions (an existing row keeps its
/// own: the position only counts for a new one).
pub(super) struct Rows<'a> {
    pub departments: Vec<(usize, &'a Department)>,
    pub tasks: Vec<(usize, &'a Task)>,
}

/// Rows of `after` that are new or changed since `before` (None: all).
pub(super) fn diff<'a>(before: Option<&Incident>, after: &'a Incident) -> Rows<'a> {
    let mut rows = Rows {
        departments: Vec::new(),
        tasks: Vec::new(),
    };
    let mut new_position = before.map_or(0, |before| before.tasks().count());
    for (position, dept) in after.departments.iter().enumerate() {
        let old = before.and_then(|before| before.departments.iter().find(|old| old.id == dept.id));
        let changed = old.is_none_or(|old| {
            (old.acknowledged_at, &old.acknowledged_by)
                != (dept.acknowledged_at, &dept.acknowledged_by)
        });
        if changed {
            rows.departments.push((position, dept));
        }
        for task in &dept.tasks {
            match before.and_then(|before| before.task(task.id)) {
                None => {
                    rows.tasks.push((new_position, task));
                    new_position += 1;
                }
                Some(old) if old != task => rows.tasks.push((new_position, task)),
                Some(_) => {}
            }
        }
    }
    rows
}
