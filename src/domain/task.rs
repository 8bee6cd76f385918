//! One checklist item of one department in one incident: a snapshot of the
//! playbook item it came from, plus its progress.

use std::fmt;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::plan::PlannedTask;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    Open,
    Acknowledged,
    Done,
    Skipped,
}

impl TaskStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Open => "open",
            TaskStatus::Acknowledged => "acknowledged",
            TaskStatus::Done => "done",
            TaskStatus::Skipped => "skipped",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [Self::Open, Self::Acknowledged, Self::Done, Self::Skipped]
            .into_iter()
            .find(|status| status.as_str() == value)
    }

    /// Done or skipped: nothing more will happen to the task, and tasks that
    /// depend on it may proceed.
    pub fn is_closed(self) -> bool {
        matches!(self, TaskStatus::Done | TaskStatus::Skipped)
    }
}

impl fmt::Display for TaskStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    pub id: Uuid,
    /// `department/item`, stable across incidents; ids are per incident.
    pub key: String,
    pub department: String,
    pub title: String,
    pub description: String,
    pub required: bool,
    pub depends_on: Vec<Uuid>,
    pub ack_within: Duration,
    pub complete_within: Duration,
    pub status: TaskStatus,
    pub ack_due_at: DateTime<Utc>,
    /// None while the task waits on dependencies: its completion clock only
    /// starts once it can actually be done.
    pub due_at: Option<DateTime<Utc>>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub acknowledged_by: Option<String>,
    pub closed_at: Option<DateTime<Utc>>,
    pub closed_by: Option<String>,
    /// The completion note, or the reason the task was skipped.
    pub note: Option<String>,
}

impl Task {
    /// A task from a playbook item. `depends_on` must already be resolved to
    /// the ids of tasks in the same incident.
    pub fn from_plan(
        planned: &PlannedTask,
        depends_on: Vec<Uuid>,
        now: DateTime<Utc>,
        waiting: bool,
    ) -> Task {
        let ack_within = to_chrono(planned.ack_within);
        let complete_within = to_chrono(planned.complete_within);
        Task {
            id: Uuid::now_v7(),
            key: planned.key(),
            department: planned.department.clone(),
            title: planned.title.clone(),
            description: planned.description.clone(),
            required: planned.required,
            depends_on,
            ack_within,
            complete_within,
            status: TaskStatus::Open,
            ack_due_at: deadline(now, ack_within),
            due_at: (!waiting).then(|| deadline(now, complete_within)),
            acknowledged_at: None,
            acknowledged_by: None,
            closed_at: None,
            closed_by: None,
            note: None,
        }
    }
}

/// A task's state and deadlines: all that its progress and lateness depend
/// on, and all a list reads of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskClock {
    pub status: TaskStatus,
    pub required: bool,
    pub ack_due_at: DateTime<Utc>,
    pub due_at: Option<DateTime<Utc>>,
}

impl TaskClock {
    /// Not acknowledged, and past the time allowed to acknowledge.
    pub fn acknowledgement_late(&self, now: DateTime<Utc>) -> bool {
        self.status == TaskStatus::Open && self.ack_due_at < now
    }

    /// Not closed, and past its due time.
    pub fn completion_late(&self, now: DateTime<Utc>) -> bool {
        !self.status.is_closed() && self.due_at.is_some_and(|due| due < now)
    }

    /// Late for either deadline.
    pub fn late(&self, now: DateTime<Utc>) -> bool {
        self.acknowledgement_late(now) || self.completion_late(now)
    }
}

impl Task {
    pub fn clock(&self) -> TaskClock {
        TaskClock {
            status: self.status,
            required: self.required,
            ack_due_at: self.ack_due_at,
            due_at: self.due_at,
        }
    }

    pub fn acknowledgement_late(&self, now: DateTime<Utc>) -> bool {
        self.clock().acknowledgement_late(now)
    }

    pub fn completion_late(&self, now: DateTime<Utc>) -> bool {
        self.clock().completion_late(now)
    }

    pub fn late(&self, now: DateTime<Utc>) -> bool {
        self.clock().late(now)
    }
}

/// Playbook durations are validated at load to be small enough for any
/// calendar; saturate rather than panic if one somehow is not.
fn to_chrono(duration: std::time::Duration) -> Duration {
    Duration::from_std(duration).unwrap_or(Duration::MAX)
}

/// A deadline `within` from `now`; one beyond the calendar is never reached.
pub fn deadline(now: DateTime<Utc>, within: Duration) -> DateTime<Utc> {
    now.checked_add_signed(within)
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}
