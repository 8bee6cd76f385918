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
            }
            EventData::Chased {
                department,
                task_id,
                purpose,
                stage,
                recipients,
                clock,
                ..
            } => {
                let notice = match clock {
                    Some(clock) => match deadline_notice(incident, clock, *stage) {
                        Some(notice) => notice,
                        None => continue,
                    },
                    None => Notice::Chase {
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
