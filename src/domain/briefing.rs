//! Briefings: a statement, or an internal update, sent to an audience of
//! the playbooks (the board, all staff, key customers, the press).
//!
//! Only an approved statement goes to an external audience. An internal
//! audience may be told something unapproved (staff must hear what not to
//! post before legal has finished), and the chain says so. A briefing may ask
//! each recipient to confirm they have read it; those who have not get one
//! reminder. The incident keeps each briefing's summary; its recipients,
//! thousands for an all-staff briefing, are kept apart (see the store).

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::notice::{Channel, NewMessage, Notice};
use super::statement::StatementStatus;
use super::{Actor, DomainError, EventData, Incident, Severity};

/// One person an audience reaches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub name: String,
    pub email: String,
    /// Their department in the organisation, for the confirmed share per
    /// department; empty when the playbook does not say.
    pub department: String,
}

/// Who a briefing reaches, as the playbooks describe them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Audience {
    pub id: String,
    pub title: String,
    /// Outside the company: only approved statements go to it.
    pub external: bool,
    /// Scenario ids it is for; empty for every scenario.
    pub scenarios: Vec<String>,
    pub min_severity: Severity,
    /// Ask each recipient to confirm they have read it.
    pub confirm: bool,
    /// When those who have not confirmed are reminded, once.
    pub remind_after: Duration,
    pub members: Vec<Member>,
}

impl Audience {
    /// Whether this audience is for an incident of `scenario` at `severity`.
    pub fn serves(&self, scenario: &str, severity: Severity) -> bool {
        severity >= self.min_severity
            && (self.scenarios.is_empty() || self.scenarios.iter().any(|s| s == scenario))
    }
}

/// What a briefing says: a statement of the incident, or words of its own
/// (an internal update).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    Statement(Uuid),
    Update(String),
}

/// A briefing as the incident keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Briefing {
    pub id: Uuid,
    /// 1, 2, ... within the incident.
    pub number: u32,
    pub audience: String,
    pub audience_title: String,
    pub external: bool,
    pub text: String,
    /// The statement's hash (of its words, language and channels) when it
    /// carries one; for an update, the SHA-256 (hex) of its text.
    pub sha256: String,
    /// The statement it carries, by number, if it carries one.
    pub statement: Option<u32>,
    /// Whether what was sent had every approval (or was a pre-approved
    /// template's rendering). Internal updates may go out unapproved.
    pub approved: bool,
    pub confirm: bool,
    /// When non-confirmers are reminded; None without confirmation.
    pub remind_at: Option<DateTime<Utc>>,
    pub recipients: u32,
    pub sent_at: DateTime<Utc>,
    pub sent_by: String,
}

fn sha256(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

impl Incident {
    pub fn briefing(&self, id: Uuid) -> Option<&Briefing> {
        self.briefings.iter().find(|briefing| briefing.id == id)
    }

    /// Sends `message` to `audience`: the briefing, and its event. The
    /// caller writes one recipient row and one message per member.
    pub fn send_briefing(
        &mut self,
        id: Uuid,
        audience: &Audience,
        message: &Message,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<Vec<EventData>, DomainError> {
        if audience.members.is_empty() {
            return Err(DomainError::EmptyAudience(audience.id.clone()));
        }
        if !audience.serves(&self.scenario, self.severity) {
            return Err(DomainError::AudienceNotForIncident(audience.id.clone()));
        }
        let (text, sha256, statement, approved) = match message {
            Message::Update(text) => (text.clone(), sha256(text), None, false),
            Message::Statement(statement_id) => {
                let statement = self
                    .statement(*statement_id)
                    .ok_or(DomainError::StatementNotFound(*statement_id))?;
                let approved = matches!(
                    statement.status,
                    StatementStatus::Approved | StatementStatus::Published
                ) || statement.preapproved_by().is_some();
                (
                    statement.content.text.clone(),
                    statement.sha256.clone(),
                    Some(statement.number),
                    approved,
                )
            }
        };
        if audience.external && !approved {
            return Err(DomainError::UnapprovedToExternal(audience.id.clone()));
        }
        let number = self.briefings.len() as u32 + 1;
        let briefing = Briefing {
            id,
            number,
            audience: audience.id.clone(),
            audience_title: audience.title.clone(),
            external: audience.external,
            sha256,
            text,
            statement,
            approved,
            confirm: audience.confirm,
            remind_at: audience.confirm.then(|| now + audience.remind_after),
            recipients: u32::try_from(audience.members.len()).unwrap_or(u32::MAX),
            sent_at: now,
            sent_by: actor.to_string(),
        };
        let event = EventData::BriefingSent {
            briefing_id: id,
            number,
            audience: briefing.audience.clone(),
            external: briefing.external,
            sha256: briefing.sha256.clone(),
            text: briefing.text.clone(),
            statement,
            approved,
            recipients: briefing.recipients,
            confirm: briefing.confirm,
        };
        self.briefings.push(briefing);
        self.updated_at = now;
        Ok(vec![event])
    }
}

/// A member to record as a briefing's recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRecipient {
    pub briefing_id: Uuid,
    pub member: Member,
}

/// What sending `briefing` writes besides its event: a recipient row and a
/// message per member, and, when it asks for confirmation, a reminder per
/// member held until `remind_at` (not sent to those who confirmed by then).
pub fn deliveries(
    briefing: &Briefing,
    audience: &Audience,
) -> (Vec<NewMessage>, Vec<NewRecipient>) {
    let mut messages = Vec::with_capacity(audience.members.len() * 2);
    let mut recipients = Vec::with_capacity(audience.members.len());
    for member in &audience.members {
        let mut message = NewMessage::new(
            Channel::Email,
            &member.email,
            Some(&audience.id),
            Notice::Briefing {
                briefing_id: briefing.id,
            },
        );
        message.briefing = Some(briefing.id);
        messages.push(message);
        if let Some(remind_at) = briefing.remind_at {
            let mut reminder = NewMessage::new(
                Channel::Email,
                &member.email,
                Some(&audience.id),
                Notice::BriefingReminder {
                    briefing_id: briefing.id,
                },
            );
            reminder.briefing = Some(briefing.id);
            reminder.not_before = Some(remind_at);
            messages.push(reminder);
        }
        recipients.push(NewRecipient {
            briefing_id: briefing.id,
            member: member.clone(),
        });
    }
    (messages, recipients)
}

/// How far a briefing got in one department of the organisation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Share {
    pub department: String,
    pub recipients: i64,
    pub confirmed: i64,
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::domain::statement::{Content, Draft};
    use crate::domain::testing::drill_incident;

    fn at(minute: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 2, 9, minute, 0).unwrap()
    }

    fn incident() -> Incident {
        drill_incident(at(0))
    }

    fn audience(external: bool) -> Audience {
        Audience {
            id: if external { "press" } else { "all-staff" }.into(),
            title: "Audience".into(),
            external,
            scenarios: Vec::new(),
            min_severity: Severity::Low,
            confirm: !external,
            remind_after: Duration::hours(2),
            members: vec![Member {
                name: "Ann".into(),
                email: "ann@example.com".into(),
                department: "Sales".into(),
            }],
        }
    }

    #[test]
    fn only_approved_words_go_outside_and_unapproved_ones_are_marked_inside() {
        let mut incident = incident();
        let draft = Uuid::now_v7();
        incident.draft_statement(
            draft,
            Draft {
                content: Content {
                    text: "Draft words".into(),
                    language: "en".into(),
                    channels: vec!["website".into()],
                },
                template: None,
            },
            &Actor::token("pr"),
            at(1),
        );
        let pr = Actor::token("pr");
        assert_eq!(
            incident.send_briefing(
                Uuid::now_v7(),
                &audience(true),
                &Message::Statement(draft),
                &pr,
                at(2)
            ),
            Err(DomainError::UnapprovedToExternal("press".into()))
        );
        let events = incident
            .send_briefing(
                Uuid::now_v7(),
                &audience(false),
                &Message::Update("Do not post about the incident.".into()),
                &pr,
                at(3),
            )
            .unwrap();
        assert!(matches!(
            &events[..],
            [EventData::BriefingSent {
                approved: false,
                number: 1,
                recipients: 1,
                ..
            }]
        ));
        let briefing = &incident.briefings[0];
        assert_eq!(briefing.remind_at, Some(at(3) + Duration::hours(2)));
        assert!(audience(false).serves("anything", Severity::Critical));
    }
}
