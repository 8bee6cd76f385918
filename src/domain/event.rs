//! Timeline events: what happened, who did it, when.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::Severity;

/// Who caused an event. Rendered as `kind:name` in the timeline and in the
/// `*_by` fields of tasks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub kind: &'static str,
    pub name: String,
    /// Set when the action came through an emailed link.
    pub via: Option<LinkUse>,
}

/// A link acts for whoever clicks it (links get forwarded), so the timeline
/// keeps who it was sent to and where the click came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LinkUse {
    pub recipient: String,
    pub ip: String,
    pub user_agent: Option<String>,
}

impl Actor {
    /// A holder of an API token, named after the token.
    pub fn token(name: &str) -> Actor {
        Actor {
            kind: "token",
            name: name.to_owned(),
            via: None,
        }
    }

    /// Whoever clicked a link sent to `use.recipient`.
    pub fn link(via: LinkUse) -> Actor {
        Actor {
            kind: "link",
            name: via.recipient.clone(),
            via: Some(via),
        }
    }

    /// Whoever wrote a reply to a mail: its `From` (a reply's event keeps
    /// whom the key was sent to).
    pub fn reply(from: &str) -> Actor {
        Actor {
            kind: "reply",
            name: from.to_owned(),
            via: None,
        }
    }

    /// Whoever mailed an alert to a signal address: its `From`.
    pub fn mail(from: &str) -> Actor {
        Actor {
            kind: "mail",
            name: from.to_owned(),
            via: None,
        }
    }

    /// Someone at the server's command line, by their login name.
    pub fn operator(login: &str) -> Actor {
        Actor {
            kind: "cli",
            name: login.to_owned(),
            via: None,
        }
    }

    /// tocsin itself: delivery, timers.
    pub fn system(name: &str) -> Actor {
        Actor {
            kind: "system",
            name: name.to_owned(),
            via: None,
        }
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind, self.name)
    }
}

/// A recorded event, as read back from the timeline.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Event {
    /// Gapless, starting at 1, per incident.
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub kind: String,
    pub data: serde_json::Value,
}

/// What a use case records. Serialised as `{"kind": ..., "data": {...}}`; the
/// store keeps the kind in its own column so the timeline can be filtered.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", content = "data", rename_all = "snake_case")]
pub enum EventData {
    IncidentOpened {
        title: String,
        scenario: String,
        severity: Severity,
        summary: String,
        commander: String,
        /// The playbook items the incident was opened with, as they were.
        tasks: Vec<TaskSnapshot>,
    },
    DepartmentAcknowledged {
        department: String,

        #[serde(skip_serializing_if = "Option::is_none")]
        via: Option<LinkUse>,
    },
    TaskAcknowledged {
        task_id: Uuid,
        task: String,

        #[serde(skip_serializing_if = "Option::is_none")]
        via: Option<LinkUse>,
    },
    TaskCompleted {
        task_id: Uuid,
        task: String,
        note: Option<String>,

        #[serde(skip_serializing_if = "Option::is_none")]
        via: Option<LinkUse>,
    },
    TaskSkipped {
        task_id: Uuid,
        task: String,
        reason: String,

        #[serde(skip_serializing_if = "Option::is_none")]
        via: Option<LinkUse>,
    },
    /// Its last dependency closed: the task can now be done, and its
    /// completion clock starts.
    TaskUnblocked {
        task_id: Uuid,
        task: String,
        due_at: DateTime<Utc>,
    },
    NoteAdded {
        text: String,
    },
    SeverityChanged {
        from: Severity,
        to: Severity,
        reason: String,
    },
    /// Items that apply from the new severity upwards, taken from the
    /// playbooks as they are at that moment.
    TasksAdded {
        tasks: Vec<TaskSnapshot>,
    },
    IncidentResolved {
        summary: Option<String>,
        forced: bool,
        reason: Option<String>,
        open_required: Vec<String>,
    },
    LegalHoldPlaced {
        reason: String,
    },
    LegalHoldReleased {
        reason: String,
    },
    /// Says what was wrong in event `corrects_seq`, which stays as it was.
    Correction {
        corrects_seq: i64,
        text: String,
    },
    /// PR wrote a statement's first version.
    StatementDrafted {
        statement_id: Uuid,
        number: u32,
        version: u32,
        sha256: String,
        text: String,
        language: String,
        channels: Vec<String>,
        template: Option<String>,
    },
    /// A new version; approvals of the one before are void.
    StatementEdited {
        statement_id: Uuid,
        number: u32,
        version: u32,
        sha256: String,
        previous_sha256: String,
        text: String,
        language: String,
        channels: Vec<String>,
        voided_approvals: Vec<String>,
    },
    StatementSubmitted {
        statement_id: Uuid,
        number: u32,
        version: u32,
        sha256: String,
        approvers: Vec<String>,
        due_at: DateTime<Utc>,
    },
    StatementApproved {
        statement_id: Uuid,
        number: u32,
        version: u32,
        sha256: String,
        department: String,
        /// Every approver has now approved this version.
        complete: bool,
        note: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        via: Option<LinkUse>,
    },
    StatementChangesRequested {
        statement_id: Uuid,
        number: u32,
        version: u32,
        sha256: String,
        department: String,
        note: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        via: Option<LinkUse>,
    },
    /// A public statement went out. Events recorded before statements had
    /// a lifecycle carry only `text`, `approved_by` and `channels`.
    StatementPublished {
        statement_id: Uuid,
        number: u32,
        version: u32,
        sha256: String,
        text: String,
        language: String,
        channels: Vec<String>,
        approved_by: String,
        preapproved_template: Option<String>,
        url: Option<String>,
        supersedes: Option<Uuid>,
    },
    StatementSuperseded {
        statement_id: Uuid,
        number: u32,
        superseded_by: Uuid,
        superseded_by_number: u32,
    },
    /// A statement or an internal update went to an audience. `approved`
    /// false marks words that went out without every approval (internal
    /// audiences only).
    BriefingSent {
        briefing_id: Uuid,
        number: u32,
        audience: String,
        external: bool,
        sha256: String,
        text: String,
        statement: Option<u32>,
        approved: bool,
        recipients: u32,
        confirm: bool,
    },
    /// One recipient confirmed they have read a briefing: per-person
    /// evidence.
    BriefingConfirmed {
        briefing_id: Uuid,
        number: u32,
        recipient: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        via: Option<LinkUse>,
    },
    /// Legal decided that a regulatory regime applies: its clocks run.
    RegimeArmed {
        regime: String,
        title: String,
        citation: String,
        steps: Vec<String>,
    },
    /// Legal decided that a regime does not apply, and why.
    RegimeNotNotifiable {
        regime: String,
        title: String,
        reason: String,
    },
    /// Legal claims a fact happened at `claimed_at` (the event's own time is
    /// when it was recorded); `previous_claimed_at` is the claim it replaces.
    FactClaimed {
        fact: super::regulatory::Fact,
        claimed_at: DateTime<Utc>,
        previous_claimed_at: Option<DateTime<Utc>>,
    },
    /// A regulatory step's clock started, or moved with a new claim.
    ClockStarted {
        regime: String,
        step: String,
        title: String,
        started_at: DateTime<Utc>,
        due_at: DateTime<Utc>,
        previous_due_at: Option<DateTime<Utc>>,
    },
    /// A regulatory deadline passed with nothing filed.
    DeadlineMissed {
        regime: String,
        step: String,
        due_at: DateTime<Utc>,
    },
    /// A report was filed with the authority.
    ReportSubmitted {
        regime: String,
        step: String,
        title: String,
        due_at: DateTime<Utc>,
        submitted_at: DateTime<Utc>,
        reference: Option<String>,
        document_sha256: Option<String>,
        late: bool,
        delay_reasons: Option<String>,
    },
    /// Every required task is done or skipped: the commander may resolve.
    ReadyToResolve,
    /// Someone was chased: a reminder to the head (stage 0), or an
    /// escalation to the deputies (1) or the commander (2). `late_by_ms`
    /// says how long after its due time the timer fired (after downtime, say).
    Chased {
        department: String,
        task_id: Option<Uuid>,
        task: Option<String>,
        purpose: super::chase::Purpose,
        stage: i64,
        recipients: Vec<String>,
        due_at: DateTime<Utc>,
        late_by_ms: i64,
        next_at: Option<DateTime<Utc>>,
        /// `regime/step` when a regulatory deadline is chased.
        #[serde(skip_serializing_if = "Option::is_none")]
        clock: Option<String>,
        /// The statement version whose approval is chased.
        #[serde(skip_serializing_if = "Option::is_none")]
        statement: Option<super::chase::StatementRef>,
    },
    /// A mail answered a reply key (see `domain::reply`): the evidence of
    /// what was read, who the key was sent to and who wrote, and what
    /// tocsin did. The events of what it did follow it.
    ReplyReceived {
        /// Whom the key was sent to.
        recipient: String,
        /// The reply's `From`, and whether it is the recipient (a forward
        /// acts, as a link would, but shows here).
        from: Option<String>,
        from_matches: bool,
        department: String,
        task_id: Option<Uuid>,
        statement_id: Option<Uuid>,
        /// The outbox message the key rode on.
        message_id: Uuid,
        /// On a bounce: the address that could not be reached.
        bounced: Option<String>,
        /// SHA-256 of the raw message, as received.
        sha256: String,
        reply_message_id: Option<String>,
        /// The sending server (SMTP) or the mailbox read (IMAP).
        peer: String,
        intake: String,
        /// `acknowledge`, `done`, `skip`, `away`, `note`, `unreadable`,
        /// `out_of_office`, `bounce` or `automatic`.
        read_as: String,
        acted: bool,
        /// What tocsin did, as the confirmation mail says it.
        outcome: String,
    },
    /// A signal from a monitoring or social-listening tool opened the
    /// incident, joined it (same `dedup_key` while open), or opened it once
    /// the commander confirmed it (`received_by` sent it, the event's actor
    /// confirmed). `rule` is the source's matching rule, from 1; none for
    /// its default.
    SignalReceived {
        source: String,
        dedup_key: String,
        title: String,
        body: Option<String>,
        link: Option<String>,
        outcome: super::signal::Outcome,
        scenario: String,
        severity: Severity,
        rule: Option<usize>,
        received_at: DateTime<Utc>,
        received_by: String,
        /// Signals with the same key that arrived while this one waited
        /// for the commander, counted rather than mailed again.
        #[serde(skip_serializing_if = "Option::is_none")]
        repeats: Option<i64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        via: Option<LinkUse>,
    },
    /// A queued message was not sent: what it chased was answered first.
    MessageCancelled {
        message_id: Uuid,
        recipient: String,
        reason: String,
    },
    /// A message left: the receiving server's own reply is kept.
    MessageSent {
        message_id: Uuid,
        channel: String,
        recipient: String,
        attempt: i64,
        receipt: String,
    },
    /// A delivery attempt failed; `retry_at` is when the next one is due,
    /// or none when tocsin has given up on this message.
    MessageFailed {
        message_id: Uuid,
        channel: String,
        recipient: String,
        attempt: i64,
        error: String,
        retry_at: Option<DateTime<Utc>>,
    },
}

impl EventData {
    /// The kind column and the data column, as stored.
    pub fn into_parts(self) -> (String, serde_json::Value) {
        match serde_json::to_value(self) {
            Ok(serde_json::Value::Object(mut map)) => {
                let kind = match map.remove("kind") {
                    Some(serde_json::Value::String(kind)) => kind,
                    _ => String::new(),
                };
                let data = map.remove("data").unwrap_or(serde_json::Value::Null);
                (kind, data)
            }
            // Serialising plain data with string keys cannot fail or yield a non-object.
            _ => (String::new(), serde_json::Value::Null),
        }
    }
}

/// A task as it was when it entered the incident.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskSnapshot {
    pub task_id: Uuid,
    pub key: String,
    pub title: String,
    pub description: String,
    pub required: bool,
    pub depends_on: Vec<Uuid>,
    pub ack_due_at: DateTime<Utc>,
    pub due_at: Option<DateTime<Utc>>,
}

impl From<&super::Task> for TaskSnapshot {
    fn from(task: &super::Task) -> Self {
        TaskSnapshot {
            task_id: task.id,
            key: task.key.clone(),
            title: task.title.clone(),
            description: task.description.clone(),
            required: task.required,
            depends_on: task.depends_on.clone(),
            ack_due_at: task.ack_due_at,
            due_at: task.due_at,
        }
    }
}
