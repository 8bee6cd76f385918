//! Replies by mail: what an answer to a reply key does to its incident.
//!
//! A reply key is a link's twin (same scope, same expiry), so a reply acts
//! as a click on that link would, and the chain shows who answered: the key
//! was sent to one person, the reply may come from another (a forward), and
//! the event keeps both. Automatic mail never acts; a person's words that
//! are no command, or that the incident refuses, still leave their trace
//! and get an answer saying so.

use super::chase::{self, Purpose, Rung, StatementRef};
use super::link::{LinkAct, LinkToken};
use super::{Actor, DomainError, EventData, Incident, Prose};
use chrono::{DateTime, Duration, Utc};

/// What a reply's own words ask, as the inbound reader understood them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Acknowledge,
    Done {
        note: Option<String>,
    },
    Skip {
        reason: String,
    },
    /// The sender cannot act: chase the deputies now.
    Away,
    /// Anything else: words from the recipient, which change nothing.
    Note {
        text: String,
    },
}

impl Command {
    /// Whether the command changes a task or a department (a note does not).
    pub fn acts(&self) -> bool {
        !matches!(self, Command::Note { .. })
    }
}

/// What came back to a reply key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// A person's words: a command, or why they are none.
    Words(Result<Command, String>),
    /// An auto-reply saying its sender is away.
    OutOfOffice,
    /// The message the key rode on could not be delivered.
    Bounce { failed_recipient: Option<String> },
    /// Any other automatic mail, and what gave it away.
    Automatic { sign: String },
}

/// What the timeline keeps of an inbound message, to prove what was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailEvidence {
    /// SHA-256 of the raw bytes, lowercase hex.
    pub sha256: String,
    /// The first `From` address, as written.
    pub from: Option<String>,
    pub message_id: Option<String>,
    /// The sending server's address (the SMTP listener), or the mailbox
    /// read (the IMAP poller).
    pub peer: String,
    /// `smtp` or `imap`.
    pub intake: &'static str,
}

/// How replies are taken, from the settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplyPolicy {
    /// How long keys work after the incident is resolved: as its links.
    pub grace: Duration,
    /// Whether an out-of-office reply chases the deputies at once.
    pub out_of_office_escalates: bool,
}

impl Incident {
    /// Takes an answer to `key`: records it with its evidence and, for a
    /// person's command that the incident accepts, acts as the key's link
    /// would. Never refuses: what could not be done is recorded and said.
    pub fn receive_reply(
        &mut self,
        key: &LinkToken,
        answer: &Answer,
        evidence: &MailEvidence,
        policy: ReplyPolicy,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Vec<EventData> {
        let (read_as, (acted, outcome, mut events)) = match answer {
            Answer::Words(Err(why)) => ("unreadable", (false, why.clone(), Vec::new())),
            Answer::Words(Ok(command)) => (
                command_name(command),
                match self
                    .resolved_at
                    .filter(|_| self.links_expired(policy.grace, now))
                {
                    Some(resolved) => (
                        false,
                        format!(
                            "The incident was closed at {}; your reply changed nothing.",
                            resolved.format("%Y-%m-%d %H:%M UTC")
                        ),
                        Vec::new(),
                    ),
                    None => self.obey(key, command, actor, now),
                },
            ),
            Answer::OutOfOffice if policy.out_of_office_escalates => (
                "out_of_office",
                match away(self, key, now) {
                    Some(chased) => (true, "chased the deputies".to_owned(), vec![chased]),
                    None => (false, "recorded".to_owned(), Vec::new()),
                },
            ),
            Answer::OutOfOffice => ("out_of_office", (false, "recorded".to_owned(), Vec::new())),
            Answer::Bounce { .. } => (
                "bounce",
                (true, "marked the message bounced".to_owned(), Vec::new()),
            ),
            Answer::Automatic { sign } => (
                "automatic",
                (false, format!("ignored ({sign})"), Vec::new()),
            ),
        };
        let received = EventData::ReplyReceived {
            recipient: key.recipient.clone(),
            from: evidence.from.clone(),
            from_matches: evidence
                .from
                .as_deref()
                .is_some_and(|from| from.eq_ignore_ascii_case(&key.recipient)),
            department: key.department.clone(),
            task_id: key.task_id,
            statement_id: key.statement_id,
            message_id: key.message_id,
            bounced: match answer {
                Answer::Bounce { failed_recipient } => Some(
                    failed_recipient
                        .clone()
                        .unwrap_or_else(|| key.recipient.clone()),
                ),
                _ => None,
            },
            sha256: evidence.sha256.clone(),
            reply_message_id: evidence.message_id.clone(),
            peer: evidence.peer.clone(),
            intake: evidence.intake.to_owned(),
            read_as: read_as.to_owned(),
            acted,
            outcome,
        };
        events.insert(0, received);
        events
    }

    /// A person's command, acted on as the key's link would act; what the
    /// incident refuses is said, not raised.
    fn obey(
        &mut self,
        key: &LinkToken,
        command: &Command,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> (bool, String, Vec<EventData>) {
        let act =
            match command {
                Command::Note { text } => {
                    return match Prose::parse(text) {
                    Ok(text) => (
                        false,
                        "Your words were added to the incident as a note; nothing else changed."
                            .to_owned(),
                        self.add_note(text, now),
                    ),
                    Err(error) => (false, format!("Your note was not kept: {error}."), Vec::new()),
                };
                }
                Command::Away => {
                    return match away(self, key, now) {
                        Some(chased) => (
                            true,
                            "Your deputies are being asked to take over now.".to_owned(),
                            vec![chased],
                        ),
                        None => (
                            false,
                            "Nothing is waiting on you here: nobody was chased.".to_owned(),
                            Vec::new(),
                        ),
                    };
                }
                _ if key.statement_id.is_some() => {
                    return (
                        false,
                        "An approval binds the exact text you read: approve or request changes \
                     with the link in the request."
                            .to_owned(),
                        Vec::new(),
                    );
                }
                Command::Acknowledge => LinkAct::Acknowledge,
                Command::Done { note } => match note.as_deref().map(Prose::parse).transpose() {
                    Ok(note) => LinkAct::Complete(note),
                    Err(error) => {
                        return (false, format!("Your note is not usable: {error}."), vec![]);
                    }
                },
                Command::Skip { reason } => match Prose::parse(reason) {
                    Ok(reason) => LinkAct::Skip(reason),
                    Err(error) => {
                        return (
                            false,
                            format!("Your reason is not usable: {error}."),
                            vec![],
                        );
                    }
                },
            };
        // Keys expire with links: checked above, so none is given here.
        match self.act_by_link(key, act, actor, Duration::MAX, now) {
            Ok(events) => {
                let said = match command {
                    Command::Acknowledge if key.task_id.is_none() => {
                        "Acknowledged for your department."
                    }
                    Command::Acknowledge => "Acknowledged the item.",
                    Command::Done { .. } => "Marked the item done.",
                    _ => "Skipped the item.",
                };
                (true, said.to_owned(), events)
            }
            Err(DomainError::NoTaskOnLink) => (
                false,
                "This mail is about your department as a whole: to complete or skip an item, \
                 reply to that item's own mail, or use its link."
                    .to_owned(),
                Vec::new(),
            ),
            Err(refused) => (false, format!("Nothing changed: {refused}."), Vec::new()),
        }
    }
}

/// The `chased` event that sends the key's chase to the deputies now, if
/// what the key is about still waits for an answer.
fn away(incident: &Incident, key: &LinkToken, now: DateTime<Utc>) -> Option<EventData> {
    let statement = key.statement_id.and_then(|id| {
        let statement = incident.statement(id)?;
        Some(StatementRef {
            id,
            version: statement.version,
        })
    });
    let acknowledged = incident
        .departments
        .iter()
        .find(|dept| dept.id == key.department)
        .is_some_and(|dept| dept.acknowledged_at.is_some());
    let purpose = match (statement, key.task_id) {
        (Some(_), _) => Purpose::Approve,
        (None, Some(_)) if acknowledged => Purpose::Complete,
        _ => Purpose::Acknowledge,
    };
    let task_id = key.task_id.filter(|_| purpose == Purpose::Complete);
    if chase::answered(incident, &key.department, task_id, purpose, None, statement) {
        return None;
    }
    let stage = Rung::Deputies as i64;
    let recipients = chase::rung_recipients(incident, &key.department, statement, stage);
    if recipients.is_empty() {
        return None;
    }
    Some(EventData::Chased {
        department: key.department.clone(),
        task_id,
        task: task_id
            .and_then(|id| incident.task(id))
            .map(|task| task.key.clone()),
        purpose,
        stage,
        recipients,
        due_at: now,
        late_by_ms: 0,
        next_at: None,
        clock: None,
        statement,
    })
}

/// How the timeline names what a reply was read as.
fn command_name(command: &Command) -> &'static str {
    match command {
        Command::Acknowledge => "acknowledge",
        Command::Done { .. } => "done",
        Command::Skip { .. } => "skip",
        Command::Away => "away",
        Command::Note { .. } => "note",
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration as StdDuration;

    use chrono::TimeZone;
    use uuid::Uuid;

    use super::*;
    use crate::domain::testing::person;
    use crate::domain::{
        Line, LinkTarget, NewIncident, Plan, PlannedDepartment, PlannedTask, Severity,
    };

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 2, 21, 0, 0).unwrap()
    }

    fn planned(item: &str, required: bool) -> PlannedTask {
        PlannedTask {
            department: "pr".into(),
            item: item.into(),
            title: item.into(),
            description: String::new(),
            required,
            ack_within: StdDuration::from_secs(600),
            complete_within: StdDuration::from_secs(3600),
            depends_on: Vec::new(),
        }
    }

    /// PR, with a required item and an optional one, and a deputy.
    fn incident() -> Incident {
        let plan = Plan {
            scenario: "storm".into(),
            severity: Severity::High,
            departments: vec![PlannedDepartment {
                id: "pr".into(),
                name: "PR".into(),
                head: person("pr-head@example.com"),
                deputies: vec![person("pr-deputy@example.com")],
                tasks: vec![planned("draft", true), planned("monitor", false)],
            }],
        };
        let new = NewIncident {
            title: Line::parse("Storm").unwrap(),
            summary: Prose::parse("Hostile posts").unwrap(),
            commander: person("commander@example.com"),
            opened_by: "token:test".into(),
        };
        Incident::open(new, &plan, t0()).0
    }

    fn key(incident: &Incident, target: LinkTarget) -> LinkToken {
        LinkToken::issue(
            "secret",
            incident.id,
            "pr",
            target,
            "pr-head@example.com",
            Uuid::now_v7(),
            t0(),
        )
    }

    fn item(incident: &Incident, name: &str) -> Uuid {
        incident
            .tasks()
            .find(|task| task.key == format!("pr/{name}"))
            .unwrap()
            .id
    }

    fn evidence(from: &str) -> MailEvidence {
        MailEvidence {
            sha256: "0".repeat(64),
            from: Some(from.into()),
            message_id: Some("r1@phone.example".into()),
            peer: "192.0.2.1".into(),
            intake: "smtp",
        }
    }

    const POLICY: ReplyPolicy = ReplyPolicy {
        grace: Duration::hours(24),
        out_of_office_escalates: false,
    };

    fn receive(
        incident: &mut Incident,
        key: &LinkToken,
        answer: Answer,
        policy: ReplyPolicy,
    ) -> Vec<EventData> {
        let actor = Actor::reply("pr-head@example.com");
        incident.receive_reply(
            key,
            &answer,
            &evidence("pr-head@example.com"),
            policy,
            &actor,
            t0(),
        )
    }

    /// The reply's own event: (read as, acted, outcome).
    fn received(events: &[EventData]) -> (&str, bool, &str) {
        match &events[0] {
            EventData::ReplyReceived {
                read_as,
                acted,
                outcome,
                ..
            } => (read_as, *acted, outcome),
            other => panic!("the reply's event comes first: {other:?}"),
        }
    }

    #[test]
    fn ok_to_a_department_key_acknowledges_the_department() {
        let mut incident = incident();
        let key = key(&incident, LinkTarget::Department);
        let events = receive(
            &mut incident,
            &key,
            Answer::Words(Ok(Command::Acknowledge)),
            POLICY,
        );
        assert_eq!(
            received(&events),
            ("acknowledge", true, "Acknowledged for your department.")
        );
        assert!(matches!(
            events[1],
            EventData::DepartmentAcknowledged { .. }
        ));
        assert!(incident.departments[0].acknowledged_at.is_some());
    }

    #[test]
    fn what_the_incident_refuses_is_said_and_nothing_changes() {
        let mut incident = incident();
        let draft = key(&incident, LinkTarget::Task(item(&incident, "draft")));
        let skip = Answer::Words(Ok(Command::Skip {
            reason: "n/a".into(),
        }));
        let events = receive(&mut incident, &draft, skip, POLICY);
        let (_, acted, outcome) = received(&events);
        assert!(!acted && outcome.contains("required"), "{outcome}");
        assert_eq!(events.len(), 1);

        let department = key(&incident, LinkTarget::Department);
        let done = Answer::Words(Ok(Command::Done { note: None }));
        let events = receive(&mut incident, &department, done, POLICY);
        let (_, acted, outcome) = received(&events);
        assert!(
            !acted && outcome.contains("that item's own mail"),
            "{outcome}"
        );
    }

    #[test]
    fn an_approval_is_never_given_by_reply() {
        let mut incident = incident();
        let statement = key(&incident, LinkTarget::Statement(Uuid::now_v7()));
        let events = receive(
            &mut incident,
            &statement,
            Answer::Words(Ok(Command::Acknowledge)),
            POLICY,
        );
        let (_, acted, outcome) = received(&events);
        assert!(!acted && outcome.contains("exact text"), "{outcome}");
        assert_eq!(events.len(), 1);
    }

    #[test]
    fn machines_never_act_and_out_of_office_escalates_only_by_setting() {
        let mut incident = incident();
        let key = key(&incident, LinkTarget::Department);
        let automatic = Answer::Automatic {
            sign: "Precedence: bulk".into(),
        };
        let events = receive(&mut incident, &key, automatic, POLICY);
        assert!(!received(&events).1);
        assert_eq!(events.len(), 1);

        let events = receive(&mut incident, &key, Answer::OutOfOffice, POLICY);
        assert_eq!((received(&events).1, events.len()), (false, 1));
        let escalating = ReplyPolicy {
            out_of_office_escalates: true,
            ..POLICY
        };
        let events = receive(&mut incident, &key, Answer::OutOfOffice, escalating);
        assert!(received(&events).1);
        match &events[1] {
            EventData::Chased {
                stage,
                recipients,
                purpose,
                ..
            } => {
                assert_eq!(
                    (*stage, recipients.as_slice(), *purpose),
                    (
                        1,
                        ["pr-deputy@example.com".to_owned()].as_slice(),
                        Purpose::Acknowledge
                    )
                );
            }
            other => panic!("a chase to the deputies: {other:?}"),
        }
        assert!(incident.departments[0].acknowledged_at.is_none());
    }

    #[test]
    fn after_the_grace_a_reply_changes_nothing_and_says_the_incident_closed() {
        let mut incident = incident();
        let key = key(&incident, LinkTarget::Department);
        incident.resolved_at = Some(t0() - Duration::hours(48));
        let events = receive(
            &mut incident,
            &key,
            Answer::Words(Ok(Command::Acknowledge)),
            POLICY,
        );
        let (_, acted, outcome) = received(&events);
        assert!(!acted && outcome.contains("was closed"), "{outcome}");
        assert!(incident.departments[0].acknowledged_at.is_none());
    }
}
