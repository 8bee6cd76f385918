//! The incident domain: pure types and rules, no HTTP and no SQL.
//!
//! Every use case mutates an [`Incident`] in memory and returns the
//! [`EventData`] describing what changed; the store writes both in one
//! transaction, so state and timeline never disagree.

pub mod audience;
pub mod briefing;
pub mod calendar;
pub mod chase;
pub mod event;
pub mod incident;
pub mod link;
pub mod notice;
pub mod plan;
pub mod regulatory;
pub mod reply;
pub mod reply_key;
pub mod retention;
pub mod severity;
pub mod signal;
pub mod statement;
pub mod task;
#[cfg(test)]
mod testing;
pub mod text;

pub use audience::{Route, messages_for};
pub use event::{Actor, Event, EventData, LinkUse};
pub use incident::{
    Commander, Department, DepartmentSummary, IdempotencyClaim, Incident, IncidentFilter,
    IncidentStatus, IncidentSummary, NewIncident, Person, Progress,
};
pub use link::{LinkAct, LinkTarget, LinkToken, TokenKind};
pub use notice::{Channel, MessageRecord, NewMessage, Notice};
pub use plan::{Plan, PlannedDepartment, PlannedTask};
pub use retention::PurgeRecord;
pub use severity::Severity;
pub use task::{Task, TaskClock, TaskStatus};
pub use text::{LINE_MAX, Line, PROSE_MAX, Prose, Text, TextError};

/// Why a use case refused to act. Each variant is a conflict with the
/// incident's current state, not a malformed request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    #[error("no task {0} in this incident")]
    TaskNotFound(uuid::Uuid),
    #[error("department {0:?} is not engaged in this incident")]
    DepartmentNotFound(String),
    #[error("the incident was resolved at {0}; it can no longer change")]
    IncidentResolved(chrono::DateTime<chrono::Utc>),
    #[error("task {task} is already {status}")]
    TaskClosed { task: String, status: TaskStatus },
    #[error("task {task} waits on open tasks: {}", waiting_on.join(", "))]
    DependenciesOpen {
        task: String,
        waiting_on: Vec<String>,
    },
    #[error("required tasks are still open: {}; resolve with force and a reason to override", open.join(", "))]
    RequiredTasksOpen { open: Vec<String> },
    #[error("the incident is already {0}")]
    SeverityUnchanged(Severity),
    #[error("{}", if *.0 { "the incident is already under legal hold" } else { "the incident is not under legal hold" })]
    LegalHoldUnchanged(bool),
    #[error("the timeline has no event {0}")]
    NoSuchEvent(i64),
    #[error("the incident was resolved at {0}; its links no longer work")]
    LinkExpired(chrono::DateTime<chrono::Utc>),
    #[error("task {0} is required for resolution: only the commander may skip it")]
    RequiredNotSkippable(String),
    #[error("completing or skipping needs an item; this link is for the department")]
    NoTaskOnLink,
    #[error("approving or requesting changes needs a statement; this link is for an item")]
    NoStatementOnLink,
    #[error("this link answers an approval request: approve, or request changes")]
    NotAStatementAct,
    /// A request that must say more, given the incident's state.
    #[error("{message}")]
    NeedsField {
        field: &'static str,
        message: String,
    },
    #[error("the regime {0} is already decided that way for this incident")]
    RegimeUnchanged(String),
    #[error("the regime {0} is not armed for this incident")]
    RegimeNotArmed(String),
    #[error("no step {0}")]
    NoSuchStep(String),
    #[error("the playbooks do not brief the audience {0:?} for this scenario and severity")]
    AudienceNotForIncident(String),
    #[error("the audience {0:?} has no members in the playbooks")]
    EmptyAudience(String),
    #[error("{0:?} is outside the company: only an approved statement goes to it")]
    UnapprovedToExternal(String),
    /// The values given do not fill in the playbook's template.
    #[error(transparent)]
    TemplateValues(statement::FillError),
    #[error("no statement {0} in this incident")]
    StatementNotFound(uuid::Uuid),
    #[error("statement {0} was published; publish a new statement that supersedes it instead")]
    StatementPublished(u32),
    #[error("statement {0} already says exactly that")]
    StatementUnchanged(u32),
    #[error("statement {0} is already submitted for approval")]
    StatementAlreadySubmitted(u32),
    #[error("the playbook names no approver for this scenario and severity")]
    NoApprovers,
    #[error("statement {number} is {status}, not awaiting approval")]
    StatementNotAwaitingApproval { number: u32, status: &'static str },
    #[error("statement {0} changed since it was read: read the current version, then answer")]
    StatementChangedSinceRead(u32),
    #[error("department {0:?} is not asked to approve this statement")]
    NotAnApprover(String),
    #[error("you wrote statement {0}: someone else must approve it")]
    OwnStatement(u32),
    #[error("department {0:?} has already answered this version")]
    AlreadyReviewed(String),
    #[error("statement {number} is {status}: it needs every approval before it is published")]
    StatementNotApproved { number: u32, status: &'static str },
    #[error("statement {0} is not a published statement that can be superseded")]
    NotSupersedable(u32),
    #[error("this signal was confirmed already")]
    SignalConfirmed,
    #[error("the clock of {step} has not started: it runs from {start}, not yet recorded")]
    ClockNotStarted { step: String, start: String },
}
