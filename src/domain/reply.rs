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
