//! The use cases: open an incident, act on its tasks, note, change severity,
//! resolve. Each loads the incident, applies a domain rule and stores the
//! result with its timeline events in one transaction.

use std::sync::Arc;

use tokio::sync::Notify;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::auth::{ApiToken, Role};
use crate::clock::Clock;
use crate::domain::chase::{self, Decision, DueTimer};
use crate::domain::{
    Actor, DomainError, Event, EventData, Incident, IncidentStatus, NewIncident, Person, Route,
    Severity, messages_for,
};
use crate::metrics::{DepartmentLabel, Metrics};
use crate::playbook::Catalog;
use crate::secret::Secret;
use crate::store::{
    Effects, IdempotencyClaim, IncidentFilter, Inserted, MessageRecord, PurgeRecord, Store,
    StoreError, TimerOutcome, UpdateError,
};
use crate::timeline::{
    Break, ChainHead, ChainedEvent, DepartmentSummary, ExportHeader, IncidentSummary, SigningKey,
    TaskSummary,
};

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

/// A trigger, its fields already well-formed; the engine checks it against
/// the playbooks.
#[derive(Debug, Clone)]
pub struct Trigger {
    pub title: String,
    pub scenario: String,
    pub severity: Severity,
    pub summary: String,
    pub commander: Option<Person>,
}

/// The incident a trigger produced, and whether this call created it or
/// replayed an earlier call with the same idempotency key.
#[derive(Debug)]
pub struct Opened {
    pub incident: Incident,
    pub created: bool,
}

pub struct Engine {
    store: Arc<dyn Store>,
    catalog: Arc<Catalog>,
    clock: Arc<dyn Clock>,
    /// Webhook endpoints, for deciding who hears of what.
    routes: Vec<Route>,
    /// Poked after a commit that queued messages, so delivery starts at once.
    wake: Arc<Notify>,
    /// Signs chain heads in exports.
    signer: Arc<SigningKey>,
    metrics: Arc<Metrics>,
}

impl Engine {
    pub fn new(
        store: Arc<dyn Store>,
        catalog: Arc<Catalog>,
        clock: Arc<dyn Clock>,
        routes: Vec<Route>,
        wake: Arc<Notify>,
        signer: Arc<SigningKey>,
        metrics: Arc<Metrics>,
    ) -> Engine {
        Engine {
            store,
            catalog,
            clock,
            routes,
            wake,
            signer,
            metrics,
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

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub async fn open(
        &self,
        trigger: Trigger,
        actor: &Actor,
        claim: Option<IdempotencyClaim>,
    ) -> Result<Opened, EngineError> {
        let plan = self
            .catalog
            .plan(&trigger.scenario, trigger.severity)
            .ok_or_else(|| EngineError::Invalid {
                field: "scenario",
                message: format!(
                    "unknown scenario {:?}; known scenarios: {}",
                    trigger.scenario,
                    self.scenario_ids()
                ),
            })?;
        let commander = trigger.commander.unwrap_or_else(|| {
            let default = &self.catalog.organisation().commander;
            Person {
                name: default.name.clone(),
                email: default.email.to_string(),
            }
        });
        let new = NewIncident {
            title: trigger.title,
            summary: trigger.summary,
            commander,
        };
        let (incident, opened) = Incident::open(new, &plan, self.now());
        let effects = effects_of(&incident, vec![opened], &self.routes);
        match self
            .store
            .insert_incident(&incident, effects, actor, claim.as_ref())
            .await?
        {
            Inserted::Created => {
                self.wake.notify_waiters();
                Ok(Opened {
                    incident,
                    created: true,
                })
            }
            Inserted::Replayed {
                same_request: false,
                ..
            } => Err(EngineError::IdempotencyKeyReused),
            Inserted::Replayed { incident_id, .. } => Ok(Opened {
                incident: self.incident(incident_id).await?,
                created: false,
            }),
        }
    }

    fn scenario_ids(&self) -> String {
        let ids: Vec<&str> = self
            .catalog
            .scenarios()
            .iter()
            .map(|scenario| scenario.id.as_str())
            .collect();
        ids.join(", ")
    }

    /// Applies `rule` at one instant (the state change and its events share
    /// it) and writes the result with its messages and timers.
    async fn update<'a>(
        &'a self,
        incident_id: Uuid,
        actor: &'a Actor,
        rule: impl FnOnce(&mut Incident, DateTime<Utc>) -> Result<Vec<EventData>, DomainError>
        + Send
        + 'a,
    ) -> Result<Incident, EngineError> {
        let now = self.now();
        let routes = &self.routes;
        // Departments that answered in this change, for the metrics once it commits.
        let answered = std::sync::Mutex::new(Vec::new());
        let incident = self
            .store
            .update_incident(
                incident_id,
                actor,
                now,
                Box::new(|incident| {
                    let events = rule(incident, now)?;
                    for event in &events {
                        if let EventData::DepartmentAcknowledged { department, .. } = event
                            && let Some(dept) =
                                incident.departments.iter().find(|d| &d.id == department)
                            && let Ok(mut answered) = answered.lock()
                        {
                            answered.push((
                                department.clone(),
                                (now - dept.joined_at).num_milliseconds(),
                            ));
                        }
                    }
                    Ok(effects_of(incident, events, routes))
                }),
            )
            .await?;
        self.wake.notify_waiters();
        for (department, millis) in answered.into_inner().unwrap_or_default() {
            self.metrics
                .time_to_acknowledge
                .get_or_create(&DepartmentLabel { department })
                .observe(millis as f64 / 1000.0);
        }
        Ok(incident)
    }

    pub async fn acknowledge_department(
        &self,
        incident_id: Uuid,
        department: &str,
        actor: &Actor,
    ) -> Result<Incident, EngineError> {
        self.update(incident_id, actor, move |incident, now| {
            incident.acknowledge_department(department, actor, now)
        })
        .await
    }

    pub async fn acknowledge_task(
        &self,
        incident_id: Uuid,
        task_id: Uuid,
        actor: &Actor,
    ) -> Result<Incident, EngineError> {
        self.update(incident_id, actor, move |incident, now| {
            incident.acknowledge_task(task_id, actor, now)
        })
        .await
    }

    pub async fn complete_task(
        &self,
        incident_id: Uuid,
        task_id: Uuid,
        note: Option<String>,
        actor: &Actor,
    ) -> Result<Incident, EngineError> {
        self.update(incident_id, actor, move |incident, now| {
            incident.complete_task(task_id, note, actor, now)
        })
        .await
    }

    pub async fn skip_task(
        &self,
        incident_id: Uuid,
        task_id: Uuid,
        reason: String,
        actor: &Actor,
    ) -> Result<Incident, EngineError> {
        self.update(incident_id, actor, move |incident, now| {
            incident.skip_task(task_id, reason, actor, now)
        })
        .await
    }

    pub async fn add_note(
        &self,
        incident_id: Uuid,
        text: String,
        actor: &Actor,
    ) -> Result<Incident, EngineError> {
        self.update(incident_id, actor, move |incident, now| {
            Ok(incident.add_note(text, now))
        })
        .await
    }

    pub async fn change_severity(
        &self,
        incident_id: Uuid,
        to: Severity,
        reason: String,
        actor: &Actor,
    ) -> Result<Incident, EngineError> {
        let catalog = Arc::clone(&self.catalog);
        self.update(incident_id, actor, move |incident, now| {
            let plan = catalog.plan(&incident.scenario, to);
            incident.change_severity(to, reason, plan.as_ref(), now)
        })
        .await
    }

    pub async fn resolve(
        &self,
        incident_id: Uuid,
        summary: Option<String>,
        force_reason: Option<String>,
        actor: &Actor,
    ) -> Result<Incident, EngineError> {
        self.update(incident_id, actor, move |incident, now| {
            incident.resolve(summary, force_reason, now)
        })
        .await
    }

    pub async fn incident(&self, id: Uuid) -> Result<Incident, EngineError> {
        self.store
            .incident(id)
            .await?
            .ok_or(EngineError::NotFound("incident"))
    }

    pub async fn incidents(
        &self,
        status: Option<IncidentStatus>,
        limit: u32,
    ) -> Result<Vec<Incident>, EngineError> {
        Ok(self
            .store
            .incidents(IncidentFilter { status, limit })
            .await?)
    }

    pub async fn messages(&self, incident_id: Uuid) -> Result<Vec<MessageRecord>, EngineError> {
        Ok(self.store.messages(incident_id).await?)
    }

    pub async fn timeline(&self, incident_id: Uuid) -> Result<Vec<ChainedEvent>, EngineError> {
        self.store
            .timeline(incident_id)
            .await?
            .ok_or(EngineError::NotFound("incident"))
    }

    /// What an export carries besides its events, with the head it covers
    /// signed now; the events follow page by page ([`Engine::timeline_page`]),
    /// so a long timeline never sits in memory whole.
    pub async fn export_header(&self, incident_id: Uuid) -> Result<ExportHeader, EngineError> {
        let incident = self.incident(incident_id).await?;
        let head = self.store.chain_head(incident_id).await?;
        Ok(ExportHeader {
            incident: IncidentSummary {
                id: incident.id,
                reference: incident.reference.clone(),
                title: incident.title.clone(),
                scenario: incident.scenario.clone(),
                severity: incident.severity.to_string(),
                status: incident.status.to_string(),
                summary: incident.summary.clone(),
                commander: format!("{} <{}>", incident.commander.name, incident.commander.email),
                opened_at: incident.opened_at,
                resolved_at: incident.resolved_at,
                legal_hold: incident.legal_hold,
            },
            departments: incident
                .departments
                .iter()
                .map(|dept| DepartmentSummary {
                    id: dept.id.clone(),
                    name: dept.name.clone(),
                    acknowledged_at: dept.acknowledged_at,
                    tasks: dept
                        .tasks
                        .iter()
                        .map(|task| TaskSummary {
                            key: task.key.clone(),
                            title: task.title.clone(),
                            status: task.status.to_string(),
                            required: task.required,
                            acknowledged_at: task.acknowledged_at,
                            acknowledged_by: task.acknowledged_by.clone(),
                            closed_at: task.closed_at,
                            closed_by: task.closed_by.clone(),
                            note: task.note.clone(),
                        })
                        .collect(),
                })
                .collect(),
            signature: self.signer.sign_head(&head),
            public_key: self.signer.public_key(),
            head,
            exported_at: self.now(),
        })
    }

    /// Up to `limit` events after `after_seq`, up to `up_to_seq`, in order.
    pub async fn timeline_page(
        &self,
        incident_id: Uuid,
        after_seq: i64,
        up_to_seq: i64,
        limit: u32,
    ) -> Result<Vec<ChainedEvent>, EngineError> {
        Ok(self
            .store
            .timeline_page(incident_id, after_seq, up_to_seq, limit)
            .await?)
    }

    /// Re-hashes the stored chain from the start: where it breaks, if it does.
    pub async fn verify(&self, incident_id: Uuid) -> Result<Result<ChainHead, Break>, EngineError> {
        let events = self.timeline(incident_id).await?;
        Ok(crate::timeline::verify_chain(
            incident_id,
            events.into_iter(),
        ))
    }

    /// The base64 Ed25519 key that verifies chain-head signatures.
    pub fn public_key(&self) -> String {
        self.signer.public_key()
    }

    pub async fn set_legal_hold(
        &self,
        incident_id: Uuid,
        hold: bool,
        reason: String,
        actor: &Actor,
    ) -> Result<Incident, EngineError> {
        self.update(incident_id, actor, move |incident, now| {
            incident.set_legal_hold(hold, reason, now)
        })
        .await
    }

    pub async fn correct(
        &self,
        incident_id: Uuid,
        corrects_seq: i64,
        text: String,
        actor: &Actor,
    ) -> Result<Incident, EngineError> {
        // Read before the change's lock: the chain only grows, so an event
        // that exists now still exists under the lock.
        let last_seq = self.store.chain_head(incident_id).await?.seq;
        self.update(incident_id, actor, move |incident, now| {
            incident.correct(corrects_seq, text, last_seq, now)
        })
        .await
    }

    pub async fn record_statement(
        &self,
        incident_id: Uuid,
        text: String,
        approved_by: String,
        channels: Vec<String>,
        actor: &Actor,
    ) -> Result<Incident, EngineError> {
        self.update(incident_id, actor, move |incident, now| {
            Ok(incident.record_statement(text, approved_by, channels, now))
        })
        .await
    }

    /// Purges resolved incidents older than `retention` that are not on
    /// legal hold.
    pub async fn purge(
        &self,
        retention: std::time::Duration,
    ) -> Result<Vec<PurgeRecord>, EngineError> {
        purge(self.store.as_ref(), retention, self.now()).await
    }

    /// Purges what retention allows now, then once an hour, until `stop`.
    pub async fn run_retention(
        self: Arc<Self>,
        retention: std::time::Duration,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) {
        loop {
            if *stop.borrow() {
                return;
            }
            match self.purge(retention).await {
                Ok(purged) if !purged.is_empty() => {
                    tracing::info!(
                        count = purged.len(),
                        "purged resolved incidents past retention"
                    );
                }
                Ok(_) => {}
                Err(error) => tracing::error!(%error, "retention purge failed"),
            }
            tokio::select! {
                () = tokio::time::sleep(std::time::Duration::from_secs(3600)) => {}
                _ = stop.changed() => {}
            }
        }
    }

    pub async fn purge_log(&self) -> Result<Vec<PurgeRecord>, EngineError> {
        Ok(self.store.purge_log().await?)
    }

    pub async fn create_token(&self, name: &str, role: Role) -> Result<Secret, EngineError> {
        issue_token(self.store.as_ref(), name, role, self.now()).await
    }

    /// On the first start of an installation with no token at all, creates
    /// an admin token so a newcomer can act at once; never a second one.
    pub async fn first_admin_token(&self) -> Result<Option<Secret>, EngineError> {
        let (token, secret) = ApiToken::generate("first-admin", Role::Admin, self.now())
            .map_err(EngineError::Random)?;
        Ok(self
            .store
            .insert_first_admin(&token)
            .await?
            .then_some(secret))
    }

    pub async fn authenticate(&self, secret: &str) -> Result<Option<ApiToken>, EngineError> {
        Ok(self
            .store
            .token_by_hash(&crate::secret::hash_secret(secret))
            .await?)
    }
}

/// An incident's chasing: the `chased` events so far, and pending timers.
#[derive(Debug, Clone, Default)]
pub struct Chasing {
    pub past: Vec<Event>,
    pub next: Vec<DueTimer>,
}

/// What `events` cause besides themselves: messages to send, timers to set.
fn effects_of(incident: &Incident, events: Vec<EventData>, routes: &[Route]) -> Effects {
    Effects {
        messages: messages_for(incident, &events, routes),
        timers: chase::timers_for(incident, &events),
        events,
    }
}

impl Engine {
    /// Fires timers that fell due, up to `limit`; returns how many it handled.
    pub async fn chase(&self, limit: usize) -> Result<usize, EngineError> {
        let routes = &self.routes;
        let mut handled = 0;
        while handled < limit {
            let now = self.now();
            let rule =
                |incident: &Incident, timer: &DueTimer| match chase::decide(incident, timer, now) {
                    Decision::Cancel => TimerOutcome::Cancel,
                    Decision::Chase { event, next_at } => TimerOutcome::Fire {
                        effects: effects_of(incident, vec![event], routes),
                        next_at,
                    },
                };
            match self.store.fire_timer(now, &rule).await? {
                Some(_) => handled += 1,
                None => break,
            }
        }
        if handled > 0 {
            self.wake.notify_waiters();
        }
        Ok(handled)
    }

    /// Chases until `stop` turns true, looking for due timers every `poll`.
    pub async fn run_chaser(
        self: Arc<Self>,
        poll: std::time::Duration,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) {
        loop {
            if *stop.borrow() {
                return;
            }
            let busy = match self.chase(64).await {
                Ok(handled) => handled > 0,
                Err(error) => {
                    tracing::error!(%error, "chasing failed");
                    false
                }
            };
            if busy {
                continue;
            }
            tokio::select! {
                () = tokio::time::sleep(poll) => {}
                _ = stop.changed() => {}
            }
        }
    }

    /// Who was chased about what, and what happens next.
    pub async fn chasing(&self, incident_id: Uuid) -> Result<Chasing, EngineError> {
        Ok(Chasing {
            past: self.store.events_of_kind(incident_id, "chased").await?,
            next: self.store.timers(incident_id).await?,
        })
    }
}

/// Purges resolved incidents older than `retention` that are not on legal
/// hold. Needs only the store, so `tocsin purge` runs beside a server.
pub async fn purge(
    store: &dyn Store,
    retention: std::time::Duration,
    now: DateTime<Utc>,
) -> Result<Vec<PurgeRecord>, EngineError> {
    let cutoff = now - chrono::Duration::from_std(retention).unwrap_or(chrono::Duration::MAX);
    Ok(store.purge_resolved_before(cutoff, now).await?)
}

/// Mints a token; its secret is returned once and never stored. Needs only
/// the store, so `tocsin token create` works without loading playbooks.
pub async fn issue_token(
    store: &dyn Store,
    name: &str,
    role: Role,
    now: DateTime<Utc>,
) -> Result<Secret, EngineError> {
    let (token, secret) = ApiToken::generate(name, role, now).map_err(EngineError::Random)?;
    store.insert_token(&token).await?;
    Ok(secret)
}
