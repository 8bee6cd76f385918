//! The outbox's vocabulary: what a message is about ([`Notice`]), by which
//! [`Channel`], to whom. Stored with each message; the words are rendered at
//! sending time.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::Severity;
use super::chase::Purpose;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Email,
    Webhook,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Webhook => "webhook",
        }
    }

    pub fn parse(value: &str) -> Option<Channel> {
        [Channel::Email, Channel::Webhook]
            .into_iter()
            .find(|channel| channel.as_str() == value)
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a message is about. Stored with the message; the words are rendered
/// at sending time, with fresh links, from this and the incident's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Notice {
    /// The incident opened: here is your department's checklist.
    IncidentOpened,
    /// Severity moved; `added` are tasks that joined with the new level.
    SeverityChanged {
        from: Severity,
        to: Severity,
        reason: String,
        added: Vec<Uuid>,
    },
    /// What `task_id` waited on is closed: it can be done now.
    TaskActionable { task_id: Uuid },
    IncidentResolved {
        summary: Option<String>,
        forced: bool,
        reason: Option<String>,
    },
    /// Chasing a late answer: a reminder to the head (stage 0), an
    /// escalation to the deputies (1) or to the commander (2).
    Chase {
        purpose: Purpose,
        task_id: Option<Uuid>,
        stage: i64,
    },
    /// To the commander: every required item is done or skipped.
    ReadyToResolve,
    /// Chasing a regulatory filing due at `deadline`: a reminder to the
    /// department's head and the DPO (stage 0), the deputies (1), and at
    /// the deadline, missed, the commander (2).
    Deadline {
        regime: String,
        step: String,
        deadline: DateTime<Utc>,
        stage: i64,
    },
    /// To an approver department: a statement version awaits its answer.
    /// `stage` None is the request itself; then the chase's rungs, as for
    /// an item: the head (0), the deputies (1), the commander (2).
    Approval {
        statement_id: Uuid,
        version: u32,
        stage: Option<i64>,
    },
    /// To the commander: an approver department answered.
    StatementReviewed {
        statement_id: Uuid,
        number: u32,
        department: String,
        approved: bool,
        note: Option<String>,
    },
    /// To every head and every webhook: a statement went out. Carries its
    /// words, so that a scheduler posting it needs nothing else.
    StatementPublished {
        statement_id: Uuid,
        number: u32,
        sha256: String,
        text: String,
        language: String,
        channels: Vec<String>,
        url: Option<String>,
    },
    /// To one member of an audience: a briefing, with a link to confirm
    /// reading it when the briefing asks.
    Briefing { briefing_id: Uuid },
    /// The one reminder to a member who has not confirmed; not sent once
    /// they have.
    BriefingReminder { briefing_id: Uuid },
    /// To whom a reply key was sent: what tocsin understood of the reply
    /// and what it did, threaded under that reply.
    ReplyAnswered {
        /// The reply's `Message-ID`, without brackets.
        in_reply_to: Option<String>,
        /// The item the key was for, whose links this answer carries.
        task_id: Option<Uuid>,
        read_as: String,
        acted: bool,
        outcome: String,
    },
}

impl Notice {
    /// For webhook receivers: `incident.opened`, `task.actionable`, ...
    pub fn event_type(&self) -> &'static str {
        match self {
            Notice::IncidentOpened => "incident.opened",
            Notice::SeverityChanged { .. } => "incident.severity_changed",
            Notice::TaskActionable { .. } => "task.actionable",
            Notice::IncidentResolved { .. } => "incident.resolved",
            Notice::Chase { stage: 0, .. } => "chase.reminder",
            Notice::Chase { .. } => "chase.escalation",
            Notice::ReadyToResolve => "incident.ready_to_resolve",
            Notice::Deadline { stage: 0, .. } => "deadline.reminder",
            Notice::Deadline { stage: 1, .. } => "deadline.escalation",
            Notice::Deadline { .. } => "deadline.missed",
            Notice::Approval { stage: None, .. } => "statement.approval_requested",
            Notice::Approval { stage: Some(0), .. } => "statement.approval_reminder",
            Notice::Approval { .. } => "statement.approval_escalation",
            Notice::StatementReviewed { .. } => "statement.reviewed",
            Notice::StatementPublished { .. } => "statement.published",
            Notice::Briefing { .. } => "briefing.sent",
            Notice::BriefingReminder { .. } => "briefing.reminder",
            Notice::ReplyAnswered { .. } => "reply.answered",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    pub id: Uuid,
    pub channel: Channel,
    /// An email address, or a webhook endpoint's name.
    pub recipient: String,
    /// The department whose head this is for (and whose links it carries);
    /// for a briefing, the audience.
    pub department: Option<String>,
    pub notice: Notice,
    /// Not sent before then (a briefing's reminder); None: at once.
    pub not_before: Option<DateTime<Utc>>,
    /// Set on a briefing's messages: counted with it, not listed with the
    /// incident's own.
    pub briefing: Option<Uuid>,
}

impl NewMessage {
    pub(super) fn new(
        channel: Channel,
        recipient: &str,
        department: Option<&str>,
        notice: Notice,
    ) -> Self {
        NewMessage {
            id: Uuid::now_v7(),
            channel,
            recipient: recipient.to_owned(),
            department: department.map(str::to_owned),
            notice,
            not_before: None,
            briefing: None,
        }
    }
}

/// A message as the incident view shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct MessageRecord {
    pub id: Uuid,
    /// `email` or `webhook`.
    pub channel: String,
    pub recipient: String,
    pub department: Option<String>,
    /// `pending`, `sent`, or `failed` (tocsin gave up after its retries).
    pub status: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    /// The receiving server's reply.
    pub receipt: Option<String>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    pub next_attempt_at: DateTime<Utc>,
    /// When a bounce came back for it: sent, but never delivered.
    pub bounced_at: Option<DateTime<Utc>>,
}
