//! The incident domain: pure types and rules, no HTTP and no SQL.
//!
//! Every use case mutates an [`Incident`] in memory and returns the
//! [`EventData`] describing what changed; the store writes both in one
//! transaction, so state and timeline never disagree.

pub mod audience;
pub mod calendar;
pub mod chase;
pub mod event;
pub mod incident;
pub mod link;
pub mod notice;
pub mod plan;
pub mod regulatory;
pub mod retention;
pub mod severity;
pub mod task;
pub mod text;

pub use audience::{Route, messages_for};
pub use event::{Actor, Event, EventData, LinkUse};
pub use incident::{
    Commander, Department, DepartmentSummary, IdempotencyClaim, Incident, IncidentFilter,
    IncidentStatus, IncidentSummary, NewIncident, Person, Progress,
};
pub use link::{LinkAct, LinkToken};
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
}
