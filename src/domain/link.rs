//! Links in emails: a random secret per recipient and per task or
//! department, of which only the hash is stored (links are made when a
//! message is sent, never kept).

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use super::statement::{Answer, Verdict};
use super::{Actor, DomainError, EventData, Incident, Prose};
use crate::secret::hash_secret;

/// What a link may act on, as stored (the secret itself never is).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkToken {
    pub secret_hash: String,
    pub incident_id: Uuid,
    pub department: String,
    /// None: the department as a whole.
    pub task_id: Option<Uuid>,
    pub recipient: String,
    pub message_id: Uuid,
    pub created_at: DateTime<Utc>,
    /// Set on an approval request's link: it answers for `department` on
    /// this statement, and on nothing else.
    pub statement_id: Option<Uuid>,
    /// Set on a briefing's link: it confirms that its recipient read it.
    pub briefing_id: Option<Uuid>,
    pub kind: TokenKind,
}

/// How a secret is used: in a link's URL, or as a reply key in a mail's
/// `Reply-To` and `Message-ID`. Neither opens the other's door: a key
/// travels in headers that get quoted, a link in a body that gets clicked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    Link,
    Reply,
}

impl TokenKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenKind::Link => "link",
            TokenKind::Reply => "reply",
        }
    }

    pub fn parse(value: &str) -> Option<TokenKind> {
        [TokenKind::Link, TokenKind::Reply]
            .into_iter()
            .find(|kind| kind.as_str() == value)
    }
}

/// What a link's page asks for, its text already read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkAct {
    Acknowledge,
    Complete(Option<Prose>),
    /// Links skip optional items only, and say why.
    Skip(Prose),
    /// An approver's answer to the statement version it read.
    Review {
        verdict: Verdict,
        sha256: String,
        note: Option<Prose>,
    },
}

impl Incident {
    /// Links keep working until the incident has been resolved for `grace`.
    pub fn links_expired(&self, grace: Duration, now: DateTime<Utc>) -> bool {
        self.resolved_at.is_some_and(|resolved| {
            resolved
                .checked_add_signed(grace)
                .is_some_and(|end| end < now)
        })
    }

    /// Acts as a link allows: on its item, or for its department as a whole;
    /// until the incident has been resolved for longer than `grace`.
    pub fn act_by_link(
        &mut self,
        link: &LinkToken,
        act: LinkAct,
        actor: &Actor,
        grace: Duration,
        now: DateTime<Utc>,
    ) -> Result<Vec<EventData>, DomainError> {
        if let Some(resolved) = self.resolved_at.filter(|_| self.links_expired(grace, now)) {
            return Err(DomainError::LinkExpired(resolved));
        }
        if let Some(statement_id) = link.statement_id {
            let LinkAct::Review {
                verdict,
                sha256,
                note,
            } = act
            else {
                return Err(DomainError::NotAStatementAct);
            };
            let answer = Answer {
                department: link.department.clone(),
                verdict,
                sha256,
                note: note.map(Prose::into_string),
            };
            return self.review_statement(statement_id, answer, actor, now);
        }
        match (act, link.task_id) {
            (LinkAct::Acknowledge, None) => {
                self.acknowledge_department(&link.department, actor, now)
            }
            (LinkAct::Acknowledge, Some(task)) => self.acknowledge_task(task, actor, now),
            (LinkAct::Complete(note), Some(task)) => self.complete_task(task, note, actor, now),
            (LinkAct::Skip(reason), Some(task)) => {
                match self.task(task) {
                    Some(item) if item.required => {
                        return Err(DomainError::RequiredNotSkippable(item.key.clone()));
                    }
                    _ => {}
                }
                self.skip_task(task, reason, actor, now)
            }
            (LinkAct::Complete(_) | LinkAct::Skip(_), None) => Err(DomainError::NoTaskOnLink),
            (LinkAct::Review { .. }, _) => Err(DomainError::NoStatementOnLink),
        }
    }
}

/// What one link acts on, for its department.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkTarget {
    /// The department's acknowledgement as a whole.
    Department,
    Task(Uuid),
    /// An approval request: the department's answer on this statement.
    Statement(Uuid),
    /// A briefing: its recipient confirms reading it.
    Briefing(Uuid),
}

impl LinkToken {
    pub fn issue(
        secret: &str,
        incident_id: Uuid,
        department: &str,
        target: LinkTarget,
        recipient: &str,
        message_id: Uuid,
        now: DateTime<Utc>,
    ) -> LinkToken {
        let (task_id, statement_id, briefing_id) = match target {
            LinkTarget::Department => (None, None, None),
            LinkTarget::Task(task) => (Some(task), None, None),
            LinkTarget::Statement(statement) => (None, Some(statement), None),
            LinkTarget::Briefing(briefing) => (None, None, Some(briefing)),
        };
        LinkToken {
            secret_hash: hash_secret(secret),
            incident_id,
            department: department.to_owned(),
            task_id,
            recipient: recipient.to_owned(),
            message_id,
            created_at: now,
            statement_id,
            briefing_id,
            kind: TokenKind::Link,
        }
    }
}
