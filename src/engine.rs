//! The use cases, and the one door to the store for every front end (the
//! API, the console, the link pages): each loads what it needs, applies a
//! domain rule, and stores the result with its timeline events, messages
//! and timers in one transaction.
//!
//! - [`incidents`]: trigger, act, read.
//! - [`chasing`]: firing due timers, and the chase board people read.
//! - [`records`]: the timeline for legal, corrections, statements, holds,
//!   retention.
//! - [`regulatory`]: statutory deadlines legal arms, claims and files.
//! - [`replies`]: mail answering a reply key, taken once.
//! - [`access`]: API tokens and the access audit log, email links, and what
//!   operators probe.

mod access;
mod briefings;
mod chasing;
mod incidents;
mod records;
mod regulatory;
mod replies;
mod signals;
mod statements;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::Notify;
use uuid::Uuid;

use crate::clock::Clock;
use crate::domain::Actor;
use crate::domain::chase;
use crate::domain::{DomainError, EventData, Incident, Route, messages_for};
use crate::metrics::{DepartmentLabel, Metrics};
use crate::playbook::Catalog;
use crate::store::{Change, Effects, Store, StoreError, UpdateError, Updated};
use crate::timeline::SigningKey;

pub use access::{
    AUDIT_LOG_MAX, LinkLookup, Readiness, STALLED_AFTER, TokenGrant, TokenRefused, issue_token,
};
pub use incidents::{Opened, Page, Trigger};
pub use records::purge;
pub use replies::Receipt;
pub use signals::{Confirmed, DEDUP_KEY_MAX, SIGNAL_LINK_MAX, SignalInput, SignalOutcome};
pub use statements::Wording;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error(transparent)]
    Refused(#[from] DomainError),
    #[error("this Idempotency-Key was already used for a different request")]
    IdempotencyKeyReused,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the system's random number generator failed: {0}")]
    Random(getrandom::Error),
}

impl From<UpdateError> for EngineError {
    fn from(error: UpdateError) -> Self {
        match error {
            UpdateError::NotFound => EngineError::NotFound("incident"),
            UpdateError::Refused(error) => EngineError::Refused(error),
            UpdateError::Store(error) => EngineError::Store(error),
        }
    }
}

/// A domain rule a change applies: the incident, who acts and when in; its
/// events and any effects they do not imply out. It may run more than once
/// (see [`Change`]), so it must be pure.
trait Rule:
    Fn(&mut Incident, &Actor, DateTime<Utc>) -> Result<(Vec<EventData>, Effects), DomainError>
    + Send
    + Sync
    + 'static
{
}

impl<F> Rule for F where
    F: Fn(&mut Incident, &Actor, DateTime<Utc>) -> Result<(Vec<EventData>, Effects), DomainError>
        + Send
        + Sync
        + 'static
{
}

/// What the engine is built from.
pub struct Parts {
    pub store: Arc<dyn Store>,
    pub catalog: Arc<Catalog>,
    pub clock: Arc<dyn Clock>,
    /// Webhook endpoints, for deciding who hears of what.
    pub routes: Arc<[Route]>,
    /// Poked after a commit that queued messages, so delivery starts at
    /// once: with `notify_one`, which keeps the wake-up for a worker busy
    /// claiming (`notify_waiters` would drop it, and the messages would
    /// wait for the next poll).
    pub wake: Arc<Notify>,
    /// Signs chain heads in exports.
    pub signer: Arc<SigningKey>,
    pub metrics: Arc<Metrics>,
    /// How long email links keep working after their incident is resolved.
    pub link_grace: chrono::Duration,
    /// Whether an out-of-office reply chases the deputies at once.
    pub out_of_office_escalates: bool,
}

pub struct Engine {
    store: Arc<dyn Store>,
    catalog: Arc<Catalog>,
    clock: Arc<dyn Clock>,
    routes: Arc<[Route]>,
    wake: Arc<Notify>,
    signer: Arc<SigningKey>,
    metrics: Arc<Metrics>,
    link_grace: chrono::Duration,
    out_of_office_escalates: bool,
}

impl Engine {
    pub fn new(parts: Parts) -> Engine {
        Engine {
            store: parts.store,
            catalog: parts.catalog,
            clock: parts.clock,
            routes: parts.routes,
            wake: parts.wake,
            signer: parts.signer,
            metrics: parts.metrics,
            link_grace: parts.link_grace,
            out_of_office_escalates: parts.out_of_office_escalates,
        }
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// Applies `rule` at one instant (the state change and its events share
    /// it) and writes the result with its messages and timers. The rule may
    /// run more than once (see [`Change`]): it must be pure.
    async fn update(
        &self,
        incident_id: Uuid,
        actor: &Actor,
        rule: impl Fn(&mut Incident, &Actor, DateTime<Utc>) -> Result<Vec<EventData>, DomainError>
        + Send
        + Sync
        + 'static,
    ) -> Result<Incident, EngineError> {
        self.update_with(incident_id, actor, move |incident, actor, now| {
            Ok((rule(incident, actor, now)?, Effects::default()))
        })
        .await
    }

    /// As [`Engine::update`], for a rule whose change writes more than its
    /// events call for (a briefing's recipients and their messages).
    async fn update_with(
        &self,
        incident_id: Uuid,
        actor: &Actor,
        rule: impl Rule,
    ) -> Result<Incident, EngineError> {
        match self.write(incident_id, actor, None, rule).await? {
            Some(updated) => Ok(updated.incident),
            // Only a change with a key of its own is ever skipped.
            None => Err(EngineError::NotFound("incident")),
        }
    }

    /// Applies `rule` and writes the result; with `once`, only if no
    /// change claimed that key before (None then).
    async fn write(
        &self,
        incident_id: Uuid,
        actor: &Actor,
        once: Option<String>,
        rule: impl Rule,
    ) -> Result<Option<Updated>, EngineError> {
        let now = self.now();
        let routes = Arc::clone(&self.routes);
        let acting = actor.clone();
        let change: Change = Box::new(move |incident| {
            let (events, extra) = rule(incident, &acting, now)?;
            let mut effects = effects_of(incident, events, &routes);
            effects.messages.extend(extra.messages);
            effects.timers.extend(extra.timers);
            effects.recipients.extend(extra.recipients);
            effects.bounced.extend(extra.bounced);
            Ok(effects)
        });
        let updated = match once {
            None => Some(
                self.store
                    .update_incident(incident_id, actor.clone(), now, change)
                    .await?,
            ),
            Some(key) => {
                self.store
                    .update_incident_once(incident_id, key, actor.clone(), now, change)
                    .await?
            }
        };
        if let Some(updated) = &updated {
            if updated.queued_messages {
                self.wake.notify_one();
            }
            self.observe_answers(&updated.incident, &updated.events, now);
        }
        Ok(updated)
    }

    /// Time to acknowledge, for each department that answered in `events`.
    fn observe_answers(&self, incident: &Incident, events: &[EventData], now: DateTime<Utc>) {
        for event in events {
            if let EventData::DepartmentAcknowledged { department, .. } = event
                && let Some(dept) = incident.departments.iter().find(|d| &d.id == department)
            {
                self.metrics
                    .time_to_acknowledge
                    .get_or_create(&DepartmentLabel {
                        department: department.clone(),
                    })
                    .observe((now - dept.joined_at).num_milliseconds() as f64 / 1000.0);
            }
        }
    }
}

/// What `events` cause besides themselves: messages to send, timers to set.
fn effects_of(incident: &Incident, events: Vec<EventData>, routes: &[Route]) -> Effects {
    Effects {
        messages: messages_for(incident, &events, routes),
        timers: chase::timers_for(incident, &events),
        bounced: events
            .iter()
            .filter_map(|event| match event {
                EventData::ReplyReceived {
                    message_id,
                    bounced: Some(_),
                    ..
                } => Some(*message_id),
                _ => None,
            })
            .collect(),
        events,
        recipients: Vec::new(),
    }
}
