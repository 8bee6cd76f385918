//! Who hears what: the messages a change causes, as a pure function of the
//! incident after the change and the events describing it. The engine calls
//! it inside the store's transaction, so a change and its messages commit
//! together.

use uuid::Uuid;

use super::notice::{Channel, NewMessage, Notice};
use super::{EventData, Incident};

/// A webhook endpoint as routing sees it: its name, and the departments it
/// follows (none: every notice).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub name: String,
    pub departments: Option<Vec<String>>,
}

impl Route {
    fn follows(&self, departments: &[&str]) -> bool {
        match &self.departments {
            None => true,
            Some(followed) => departments
                .iter()
                .any(|dept| followed.iter().any(|f| f == dept)),
        }
    }
}

/// The messages `events` call for: every engaged head by email, and every
/// webhook endpoint following a department concerned.
pub fn messages_for(
    incident: &Incident,
    events: &[EventData],
    routes: &[Route],
) -> Vec<NewMessage> {
    let mut messages = Vec::new();
    let all: Vec<&str> = incident.departments.iter().map(|d| d.id.as_str()).collect();
    let to_heads = |messages: &mut Vec<NewMessage>, departments: &[&str], notice: Notice| {
        for dept in incident
            .departments
            .iter()
            .filter(|d| departments.contains(&d.id.as_str()))
        {
            messages.push(NewMessage::new(
                Channel::Email,
                &dept.head.email,
                Some(&dept.id),
                notice.clone(),
            ));
        }
        for route in routes.iter().filter(|route| route.follows(departments)) {
            messages.push(NewMessage::new(
                Channel::Webhook,
                &route.name,
                None,
                notice.clone(),
            ));
        }
    };
    // The commander hears what every head hears, once.
    let to_commander = |messages: &mut Vec<NewMessage>, notice: Notice| {
        let heads_include_commander = incident
            .departments
            .iter()
            .any(|dept| dept.head.email == incident.commander.email);
        if !heads_include_commander {
            messages.push(NewMessage::new(
                Channel::Email,
                &incident.commander.email,
                None,
                notice,
            ));
        }
    };
    let added: Vec<Uuid> = events
        .iter()
        .filter_map(|event| match event {
            EventData::TasksAdded { tasks } => Some(tasks.iter().map(|task| task.task_id)),
            _ => None,
        })
        .flatten()
        .collect();
    for event in events {
        match event {
            EventData::IncidentOpened { .. } => {
                to_heads(&mut messages, &all, Notice::IncidentOpened);
            }
            EventData::SeverityChanged { from, to, reason } => {
                let notice = Notice::SeverityChanged {
                    from: *from,
                    to: *to,
                    reason: reason.clone(),
                    added: added.clone(),
                };
                to_heads(&mut messages, &all, notice);
            }
            EventData::TaskUnblocked { task_id, .. } => {
                if let Some(task) = incident.task(*task_id) {
                    let notice = Notice::TaskActionable { task_id: *task_id };
                    to_heads(&mut messages, &[task.department.as_str()], notice);
                }
            }
            EventData::IncidentResolved {
                summary,
                forced,
                reason,
                ..
            } => {
                let notice = Notice::IncidentResolved {
                    summary: summary.clone(),
                    forced: *forced,
                    reason: reason.clone(),
                };
                to_heads(&mut messages, &all, notice.clone());
                to_commander(&mut messages, notice);
            }
            EventData::Chased {
                department,
                task_id,
                purpose,
                stage,
                recipients,
                clock,
                statement,
                ..
            } => {
                let notice = match (clock, statement) {
                    (Some(clock), _) => match deadline_notice(incident, clock, *stage) {
                        Some(notice) => notice,
                        None => continue,
                    },
                    (None, Some(asked)) => Notice::Approval {
                        statement_id: asked.id,
                        version: asked.version,
                        stage: Some(*stage),
                    },
                    (None, None) => Notice::Chase {
                        purpose: *purpose,
                        task_id: *task_id,
                        stage: *stage,
                    },
                };
                for recipient in recipients {
                    messages.push(NewMessage::new(
                        Channel::Email,
                        recipient,
                        Some(department),
                        notice.clone(),
                    ));
                }
                // Rooms hear of escalations, not of every reminder.
                if *stage > 0 {
                    for route in routes.iter().filter(|route| route.follows(&[department])) {
                        messages.push(NewMessage::new(
                            Channel::Webhook,
                            &route.name,
                            None,
                            notice.clone(),
                        ));
                    }
                }
            }
            EventData::StatementSubmitted {
                statement_id,
                version,
                ..
            } => {
                // Approver departments need not be engaged: their people
                // come from the submission's snapshot.
                let approvers = incident
                    .statement(*statement_id)
                    .and_then(|statement| statement.submission.as_ref())
                    .map(|submission| submission.approvers.as_slice())
                    .unwrap_or_default();
                for approver in approvers {
                    messages.push(NewMessage::new(
                        Channel::Email,
                        &approver.head.email,
                        Some(&approver.department),
                        Notice::Approval {
                            statement_id: *statement_id,
                            version: *version,
                            stage: None,
                        },
                    ));
                }
            }
            EventData::StatementApproved {
                statement_id,
                number,
                department,
                note,
                ..
            } => messages.push(reviewed(
                incident,
                *statement_id,
                *number,
                department,
                true,
                note,
            )),
            EventData::StatementChangesRequested {
                statement_id,
                number,
                department,
                note,
                ..
            } => {
                let note = Some(note.clone());
                messages.push(reviewed(
                    incident,
                    *statement_id,
                    *number,
                    department,
                    false,
                    &note,
                ));
            }
            EventData::StatementPublished {
                statement_id,
                number,
                sha256,
                text,
                language,
                channels,
                url,
                ..
            } => {
                let notice = Notice::StatementPublished {
                    statement_id: *statement_id,
                    number: *number,
                    sha256: sha256.clone(),
                    text: text.clone(),
                    language: language.clone(),
                    channels: channels.clone(),
                    url: url.clone(),
                };
                to_heads(&mut messages, &all, notice.clone());
                to_commander(&mut messages, notice);
            }
            // A person's reply is answered, threaded under it, to whom its
            // key was sent; mail from machines never is (no loops).
            EventData::ReplyReceived {
                recipient,
                department,
                task_id,
                reply_message_id,
                read_as,
                acted,
                outcome,
                ..
            } if !matches!(read_as.as_str(), "out_of_office" | "bounce" | "automatic") => {
                messages.push(NewMessage::new(
                    Channel::Email,
                    recipient,
                    Some(department),
                    Notice::ReplyAnswered {
                        in_reply_to: reply_message_id.clone(),
                        task_id: *task_id,
                        read_as: read_as.clone(),
                        acted: *acted,
                        outcome: outcome.clone(),
                    },
                ));
            }
            EventData::ReadyToResolve => {
                messages.push(NewMessage::new(
                    Channel::Email,
                    &incident.commander.email,
                    None,
                    Notice::ReadyToResolve,
                ));
            }
            _ => {}
        }
    }
    messages
}

/// To the commander: an approver department answered statement `number`.
fn reviewed(
    incident: &Incident,
    statement_id: Uuid,
    number: u32,
    department: &str,
    approved: bool,
    note: &Option<String>,
) -> NewMessage {
    NewMessage::new(
        Channel::Email,
        &incident.commander.email,
        None,
        Notice::StatementReviewed {
            statement_id,
            number,
            department: department.to_owned(),
            approved,
            note: note.clone(),
        },
    )
}

/// The notice chasing the regulatory step `clock` (`regime/step`), with its
/// deadline as it stands; None if the step is no longer armed.
fn deadline_notice(incident: &Incident, clock: &str, stage: i64) -> Option<Notice> {
    let (regime, step) = clock.split_once('/')?;
    let (_, _, state) = incident.armed_step(regime, step)?;
    Some(Notice::Deadline {
        regime: regime.to_owned(),
        step: step.to_owned(),
        deadline: state.due_at?,
        stage,
    })
}
