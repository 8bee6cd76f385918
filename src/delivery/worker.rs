//! Delivery: claim due outbox rows, send them (concurrently, so one slow
//! recipient never holds back the others), record each attempt with its
//! timeline event, and retry with exponential backoff up to a limit.
//!
//! Any number of workers, in any number of processes, may run against one
//! database: a claim is a lease, so each message goes to one worker at a
//! time, and a worker that dies loses its claims when the lease ends.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use lettre::message::Mailbox;
use reqwest::Url;
use tokio::sync::{Notify, watch};
use uuid::Uuid;

use super::email::{self, Envelope, Mailer};
use super::render::{EmailInput, Renderer};
use super::webhook;
use crate::clock::Clock;
use crate::domain::chase::{self, Purpose, Rung};
use crate::domain::{Channel, EventData, Incident, LinkToken, Notice};
use crate::endpoint::Endpoint;
use crate::playbook::Catalog;
use crate::secret::random_secret;
use crate::store::{Attempt, AttemptOutcome, ClaimedMessage, Store, StoreError, Unreadable};

#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Wait before the second attempt; doubles each time after.
    pub first_retry: Duration,
    pub max_retry: Duration,
    /// Attempts in all, after which the message is marked failed.
    pub max_attempts: i64,
    /// How long a claim holds; longer than any one send can take (the
    /// `delivery_lease` setting).
    pub lease: Duration,
    pub batch: u32,
    pub concurrency: usize,
    /// How often to look for due messages when nobody says there are some.
    pub poll: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            first_retry: Duration::from_secs(5),
            max_retry: Duration::from_secs(15 * 60),
            max_attempts: 8,
            lease: Duration::from_secs(120),
            batch: 64,
            concurrency: 16,
            poll: Duration::from_millis(500),
        }
    }
}

impl RetryPolicy {
    fn retry_delay(&self, attempts: i64) -> Duration {
        let exponent = u32::try_from(attempts.saturating_sub(1))
            .unwrap_or(u32::MAX)
            .min(20);
        self.first_retry
            .saturating_mul(2u32.saturating_pow(exponent))
            .min(self.max_retry)
    }
}

/// Why a claimed message did not go out.
enum Skip {
    Cancelled(String),
    Failed(Failure),
}

/// Why one attempt failed, and whether trying again may help.
#[derive(Debug, Clone)]
struct Failure {
    retryable: bool,
    reason: String,
}

impl Failure {
    fn permanent(reason: impl Into<String>) -> Failure {
        Failure {
            retryable: false,
            reason: reason.into(),
        }
    }

    fn transient(reason: impl Into<String>) -> Failure {
        Failure {
            retryable: true,
            reason: reason.into(),
        }
    }
}

/// Cheap to clone: a clone shares the store, mailer and renderer (tests and
/// benches clone it with another policy).
#[derive(Clone)]
pub struct Delivery {
    pub store: Arc<dyn Store>,
    pub catalog: Arc<Catalog>,
    pub mailer: Arc<Mailer>,
    pub from: Mailbox,
    pub webhooks: HashMap<String, Endpoint>,
    pub http: reqwest::Client,
    pub renderer: Arc<Renderer>,
    pub clock: Arc<dyn Clock>,
    pub public_url: Url,
    pub policy: RetryPolicy,
    pub metrics: Arc<crate::metrics::Metrics>,
}

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    pub claimed: usize,
    pub sent: usize,
    pub retrying: usize,
    pub failed: usize,
    pub cancelled: usize,
}

impl Delivery {
    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// One pass: claim what is due, deliver it concurrently, record it.
    pub async fn step(&self) -> Result<Step, StoreError> {
        let claim = Uuid::now_v7();
        let now = self.now();
        let lease = chrono::Duration::from_std(self.policy.lease).unwrap_or(chrono::Duration::MAX);
        let batch = self
            .store
            .claim_messages(claim, now, now + lease, self.policy.batch)
            .await?;
        let mut step = Step {
            claimed: batch.len(),
            ..Step::default()
        };
        let outcomes: Vec<Option<AttemptOutcome>> = futures_util::stream::iter(batch)
            .map(|message| async move {
                match message {
                    Ok(message) => self.deliver(claim, message).await,
                    Err(unreadable) => self.quarantine(claim, unreadable).await,
                }
            })
            .buffer_unordered(self.policy.concurrency.max(1))
            .collect()
            .await;
        for outcome in outcomes.into_iter().flatten() {
            match outcome {
                AttemptOutcome::Sent { .. } => step.sent += 1,
                AttemptOutcome::Retry { .. } => step.retrying += 1,
                AttemptOutcome::GaveUp { .. } => step.failed += 1,
                AttemptOutcome::Cancelled { .. } => step.cancelled += 1,
            }
        }
        Ok(step)
    }

    /// A stored message this release cannot read is given up on at once,
    /// with the reason on its incident's timeline, so that it holds back no
    /// other message and stays visible.
    async fn quarantine(&self, claim: Uuid, message: Unreadable) -> Option<AttemptOutcome> {
        let error = format!(
            "this release cannot read the stored message: {}",
            message.reason
        );
        tracing::error!(message = %message.id, %error, "message quarantined");
        let attempt = Attempt {
            message_id: message.id,
            claim,
            incident_id: message.incident_id,
            at: self.now(),
            outcome: AttemptOutcome::GaveUp {
                error: error.clone(),
            },
            event: EventData::MessageFailed {
                message_id: message.id,
                channel: message.channel.clone(),
                recipient: message.recipient,
                attempt: message.attempts,
                error,
                retry_at: None,
            },
        };
        self.record(attempt, &message.channel).await
    }

    /// Delivers one message and records the attempt; None if the record
    /// could not be written (the lease ends and the message is retried).
    async fn deliver(&self, claim: Uuid, message: ClaimedMessage) -> Option<AttemptOutcome> {
        let result = match self.still_wanted(&message).await {
            Err(reason) => Err(Skip::Cancelled(reason)),
            Ok(()) => match message.channel {
                Channel::Email => self.send_email(&message).await,
                Channel::Webhook => self.send_webhook(&message).await,
            }
            .map_err(Skip::Failed),
        };
        let at = self.now();
        let (outcome, event) = match result {
            Err(Skip::Cancelled(reason)) => (
                AttemptOutcome::Cancelled {
                    reason: reason.clone(),
                },
                EventData::MessageCancelled {
                    message_id: message.id,
                    recipient: message.recipient.clone(),
                    reason,
                },
            ),
            Ok(receipt) => (
                AttemptOutcome::Sent {
                    receipt: receipt.clone(),
                },
                EventData::MessageSent {
                    message_id: message.id,
                    channel: message.channel.to_string(),
                    recipient: message.recipient.clone(),
                    attempt: message.attempts,
                    receipt,
                },
            ),
            Err(Skip::Failed(failure)) => {
                let retry_at = (failure.retryable && message.attempts < self.policy.max_attempts)
                    .then(|| {
                        let delay = self.policy.retry_delay(message.attempts);
                        at + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::MAX)
                    });
                if retry_at.is_none() {
                    tracing::warn!(message = %message.id, recipient = %message.recipient,
                        error = %failure.reason, "giving up on a message");
                }
                let outcome = match retry_at {
                    Some(retry) => AttemptOutcome::Retry {
                        error: failure.reason.clone(),
                        at: retry,
                    },
                    None => AttemptOutcome::GaveUp {
                        error: failure.reason.clone(),
                    },
                };
                let event = EventData::MessageFailed {
                    message_id: message.id,
                    channel: message.channel.to_string(),
                    recipient: message.recipient.clone(),
                    attempt: message.attempts,
                    error: failure.reason,
                    retry_at,
                };
                (outcome, event)
            }
        };
        let attempt = Attempt {
            message_id: message.id,
            claim,
            incident_id: message.incident_id,
            at,
            outcome,
            event,
        };
        self.record(attempt, message.channel.as_str()).await
    }

    /// Records an attempt and counts it; None if it could not be recorded.
    async fn record(&self, attempt: Attempt, channel: &str) -> Option<AttemptOutcome> {
        match self.store.record_attempt(&attempt).await {
            Ok(true) => {
                let counted = match &attempt.outcome {
                    AttemptOutcome::Sent { .. } => "sent",
                    AttemptOutcome::Cancelled { .. } => "cancelled",
                    AttemptOutcome::Retry { .. } | AttemptOutcome::GaveUp { .. } => "failed",
                };
                self.metrics.delivery(channel, counted);
                Some(attempt.outcome)
            }
            Ok(false) => {
                tracing::warn!(message = %attempt.message_id, "lease lost before the attempt was recorded");
                None
            }
            Err(error) => {
                tracing::error!(message = %attempt.message_id, %error, "cannot record a delivery attempt");
                None
            }
        }
    }

    /// A chase is checked again at the moment of sending: once the answer
    /// has come, no reminder goes out, even one already queued.
    async fn still_wanted(&self, message: &ClaimedMessage) -> Result<(), String> {
        let Notice::Chase {
            purpose, task_id, ..
        } = &message.notice
        else {
            return Ok(());
        };
        let Some(department) = message.department.as_deref() else {
            return Ok(());
        };
        // If the incident cannot be read now, sending decides (and retries).
        let Ok(incident) = self.incident(message.incident_id).await else {
            return Ok(());
        };
        if chase::answered(&incident, department, *task_id, *purpose) {
            Err("answered before the reminder was sent".to_owned())
        } else {
            Ok(())
        }
    }

    async fn incident(&self, id: Uuid) -> Result<Incident, Failure> {
        match self.store.incident(id).await {
            Ok(Some(incident)) => Ok(incident),
            Ok(None) => Err(Failure::permanent("the incident no longer exists")),
            Err(error) => Err(Failure::transient(format!(
                "cannot load the incident: {error}"
            ))),
        }
    }

    async fn send_email(&self, message: &ClaimedMessage) -> Result<String, Failure> {
        let incident = self.incident(message.incident_id).await?;
        let department = message
            .department
            .as_deref()
            .and_then(|id| incident.departments.iter().find(|dept| dept.id == id));
        let (department_link, task_links) = self.issue_links(&incident, message).await?;
        let scenario = self
            .catalog
            .scenario(&incident.scenario)
            .map(|s| s.title.as_str());
        let rendered = self
            .renderer
            .email(&EmailInput {
                incident: &incident,
                scenario_title: scenario,
                department,
                notice: &message.notice,
                recipient: &message.recipient,
                department_link: department_link.as_deref(),
                task_links: &task_links,
            })
            .map_err(|error| Failure::permanent(format!("cannot render the email: {error}")))?;
        let domain = self.public_url.host_str().unwrap_or("localhost");
        let head = self.store.chain_head(incident.id).await.map_err(|error| {
            Failure::transient(format!("cannot read the timeline head: {error}"))
        })?;
        let chain_head = format!("seq={}; sha256={}", head.seq, head.hash);
        let email = email::build(
            &Envelope {
                from: &self.from,
                to: &message.recipient,
                message_id: message.id,
                incident_id: incident.id,
                domain,
                chain_head: &chain_head,
            },
            &rendered,
        )
        .map_err(|error| Failure::permanent(error.to_string()))?;
        self.mailer.send(email).await.map_err(|failure| Failure {
            retryable: failure.retryable,
            reason: failure.reason,
        })
    }

    /// Fresh links for this sending: secrets go into the email only; the
    /// store keeps their hashes.
    async fn issue_links(
        &self,
        incident: &Incident,
        message: &ClaimedMessage,
    ) -> Result<(Option<String>, HashMap<Uuid, String>), Failure> {
        let Some(department) = message.department.as_deref() else {
            return Ok((None, HashMap::new()));
        };
        let checklist = matches!(
            message.notice,
            Notice::IncidentOpened
                | Notice::SeverityChanged { .. }
                | Notice::Chase {
                    purpose: Purpose::Acknowledge,
                    ..
                }
        );
        let task_ids: Vec<Uuid> = match &message.notice {
            _ if checklist => incident
                .tasks()
                .filter(|task| task.department == department && !task.status.is_closed())
                .map(|task| task.id)
                .collect(),
            Notice::TaskActionable { task_id }
            | Notice::Chase {
                task_id: Some(task_id),
                ..
            } => vec![*task_id],
            _ => Vec::new(),
        };
        let wants_department_link = checklist;
        let now = self.now();
        let mut tokens = Vec::new();
        let mut issue = |task_id: Option<Uuid>| -> Result<String, Failure> {
            let secret = random_secret()
                .map_err(|error| Failure::transient(format!("no randomness: {error}")))?;
            tokens.push(LinkToken::issue(
                &secret,
                incident.id,
                department,
                task_id,
                &message.recipient,
                message.id,
                now,
            ));
            Ok(self.link_url(&secret))
        };
        let department_link = if wants_department_link {
            Some(issue(None)?)
        } else {
            None
        };
        let mut task_links = HashMap::new();
        for task_id in task_ids {
            task_links.insert(task_id, issue(Some(task_id))?);
        }
        if !tokens.is_empty() {
            self.store
                .insert_links(&tokens)
                .await
                .map_err(|error| Failure::transient(format!("cannot store links: {error}")))?;
        }
        Ok((department_link, task_links))
    }

    fn link_url(&self, secret: &str) -> String {
        format!(
            "{}/links/{secret}",
            self.public_url.as_str().trim_end_matches('/')
        )
    }

    async fn send_webhook(&self, message: &ClaimedMessage) -> Result<String, Failure> {
        let endpoint = self.webhooks.get(&message.recipient).ok_or_else(|| {
            Failure::permanent(format!(
                "webhook endpoint {:?} is no longer configured",
                message.recipient
            ))
        })?;
        let incident = self.incident(message.incident_id).await?;
        let notice = self.webhook_notice(&incident, message);
        webhook::deliver(&self.http, endpoint, &notice, self.now())
            .await
            .map(|delivered| format!("HTTP {}", delivered.status))
            .map_err(|error| Failure {
                retryable: error.retryable,
                reason: error.reason,
            })
    }

    fn webhook_notice(&self, incident: &Incident, message: &ClaimedMessage) -> webhook::Notice {
        let reference = &incident.reference;
        let (headline, details) = match &message.notice {
            Notice::IncidentOpened => (
                format!(
                    "{reference} opened: {} ({})",
                    incident.title, incident.severity
                ),
                vec![
                    incident.summary.clone(),
                    format!(
                        "Departments: {}",
                        incident
                            .departments
                            .iter()
                            .map(|d| d.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    format!("Commander: {}", incident.commander.name),
                ],
            ),
            Notice::SeverityChanged {
                from,
                to,
                reason,
                added,
            } => (
                format!("{reference} severity {from} to {to}: {}", incident.title),
                vec![reason.clone(), format!("{} new items", added.len())],
            ),
            Notice::TaskActionable { task_id } => {
                let task = incident.task(*task_id);
                (
                    format!(
                        "{reference}: {} can be done now",
                        task.map(|t| t.title.as_str()).unwrap_or("an item")
                    ),
                    task.map(|t| vec![format!("Department: {}", t.department)])
                        .unwrap_or_default(),
                )
            }
            Notice::IncidentResolved { summary, .. } => (
                format!("{reference} resolved: {}", incident.title),
                summary.iter().cloned().collect(),
            ),
            Notice::Chase {
                purpose,
                task_id,
                stage,
            } => {
                let department = message.department.as_deref().unwrap_or_default();
                let what = match (purpose, task_id.and_then(|id| incident.task(id))) {
                    (Purpose::Complete, Some(task)) => format!("{} is overdue", task.title),
                    _ => format!("{department} has not acknowledged"),
                };
                let rung = Rung::of(*stage).done();
                (
                    format!("{reference}: {what}; {rung}"),
                    vec![incident.title.clone()],
                )
            }
            Notice::ReadyToResolve => (
                format!("{reference} can be resolved: every required item is done"),
                vec![incident.title.clone()],
            ),
        };
        webhook::Notice {
            id: webhook::message_id(message.id),
            event_type: message.notice.event_type().to_owned(),
            occurred_at: self.now(),
            incident: webhook::IncidentRef {
                id: incident.id,
                reference: incident.reference.clone(),
                title: incident.title.clone(),
                severity: incident.severity.to_string(),
                status: incident.status.to_string(),
                url: format!(
                    "{}/api/v1/incidents/{}",
                    self.public_url.as_str().trim_end_matches('/'),
                    incident.id
                ),
            },
            headline,
            details,
            data: serde_json::to_value(&message.notice).unwrap_or_default(),
        }
    }

    /// Delivers until `stop` turns true, waking early when `wake` is
    /// notified (a change just committed messages).
    pub async fn run(self: Arc<Self>, wake: Arc<Notify>, mut stop: watch::Receiver<bool>) {
        loop {
            if *stop.borrow() {
                return;
            }
            let busy = match self.step().await {
                Ok(step) => step.claimed > 0,
                Err(error) => {
                    crate::store::log_failure(&error, "delivery pass failed");
                    false
                }
            };
            if busy {
                continue;
            }
            tokio::select! {
                () = wake.notified() => {}
                () = tokio::time::sleep(self.policy.poll) => {}
                _ = stop.changed() => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_ceiling() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.retry_delay(1), Duration::from_secs(5));
        assert_eq!(policy.retry_delay(2), Duration::from_secs(10));
        assert_eq!(policy.retry_delay(4), Duration::from_secs(40));
        assert_eq!(policy.retry_delay(40), Duration::from_secs(15 * 60));
    }
}
