//! Which messages a change causes: a pure function of the incident after
//! the change and the events describing it. The engine calls it inside the
//! store's transaction, so a change and its messages commit together.

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::chase::Purpose;
use crate::domain::{EventData, Incident, Severity};

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
        }
    }
}

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

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    pub id: Uuid,
    pub channel: Channel,
    /// An email address, or a webhook endpoint's name.
    pub recipient: String,
    /// The department whose head this is for (and whose links it carries).
    pub department: Option<String>,
    pub notice: Notice,
}

impl NewMessage {
    fn new(channel: Channel, recipient: &str, department: Option<&str>, notice: Notice) -> Self {
        NewMessage {
            id: Uuid::now_v7(),
            channel,
            recipient: recipient.to_owned(),
            department: department.map(str::to_owned),
            notice,
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
                ..
            } => {
                let notice = Notice::Chase {
                    purpose: *purpose,
                    task_id: *task_id,
                    stage: *stage,
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
