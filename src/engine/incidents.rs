//! Incidents: trigger one, act on it, read it.

use uuid::Uuid;

use super::{Engine, EngineError, effects_of};
use crate::domain::chase::ChaseBoard;
use crate::domain::{
    Actor, IdempotencyClaim, Incident, IncidentFilter, IncidentSummary, Line, MessageRecord,
    NewIncident, Person, Prose, Severity,
};
use crate::store::Inserted;

/// A trigger, its fields already parsed; the engine checks it against the
/// playbooks.
#[derive(Debug, Clone)]
pub struct Trigger {
    pub title: Line,
    pub scenario: String,
    pub severity: Severity,
    pub summary: Prose,
    pub commander: Option<Person>,
}

/// A page of incidents, and where the next one starts.
#[derive(Debug)]
pub struct Page {
    pub incidents: Vec<IncidentSummary>,
    /// The last incident shown, when more follow: the next page's `before`.
    pub next: Option<Uuid>,
}

/// The incident a trigger produced, and whether this call created it or
/// replayed an earlier call with the same idempotency key.
#[derive(Debug)]
pub struct Opened {
    pub incident: Incident,
    pub created: bool,
}

impl Engine {
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
        let commander = trigger
            .commander
            .unwrap_or_else(|| self.catalog.organisation().commander.person());
        let new = NewIncident {
            title: trigger.title,
            summary: trigger.summary,
            commander,
            opened_by: actor.to_string(),
        };
        let (incident, opened) = Incident::open(new, &plan, self.now());
        let effects = effects_of(&incident, vec![opened], &self.routes);
        match self
            .store
            .insert_incident(&incident, effects, actor, claim.as_ref())
            .await?
        {
            Inserted::Created => {
                self.wake.notify_one();
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

    pub async fn acknowledge_department(
        &self,
        incident_id: Uuid,
        department: &str,
        actor: &Actor,
    ) -> Result<Incident, EngineError> {
        let department = department.to_owned();
        self.update(incident_id, actor, move |incident, actor, now| {
            incident.acknowledge_department(&department, actor, now)
        })
        .await
    }

    pub async fn acknowledge_task(
        &self,
        incident_id: Uuid,
        task_id: Uuid,
        actor: &Actor,
    ) -> Result<Incident, EngineError> {
        self.update(incident_id, actor, move |incident, actor, now| {
            incident.acknowledge_task(task_id, actor, now)
        })
        .await
    }

    pub async fn complete_task(
        &self,
        incident_id: Uuid,
        task_id: Uuid,
        note: Option<Prose>,
        actor: &Actor,
    ) -> Result<Incident, EngineError> {
        self.update(incident_id, actor, move |incident, actor, now| {
            incident.complete_task(task_id, note.clone(), actor, now)
        })
        .await
    }

    pub async fn skip_task(
        &self,
        incident_id: Uuid,
        task_id: Uuid,
        reason: Prose,
        actor: &Actor,
    ) -> Result<Incident, EngineError> {
        self.update(incident_id, actor, move |incident, actor, now| {
            incident.skip_task(task_id, reason.clone(), actor, now)
        })
        .await
    }

    pub async fn add_note(
        &self,
        incident_id: Uuid,
        text: Prose,
        actor: &Actor,
    ) -> Result<Incident, EngineError> {
        self.update(incident_id, actor, move |incident, _, now| {
            Ok(incident.add_note(text.clone(), now))
        })
        .await
    }

    pub async fn change_severity(
        &self,
        incident_id: Uuid,
        to: Severity,
        reason: Prose,
        actor: &Actor,
    ) -> Result<Incident, EngineError> {
        let catalog = std::sync::Arc::clone(&self.catalog);
        self.update(incident_id, actor, move |incident, _, now| {
            let plan = catalog.plan(&incident.scenario, to);
            incident.change_severity(to, reason.clone(), plan.as_ref(), now)
        })
        .await
    }

    pub async fn resolve(
        &self,
        incident_id: Uuid,
        summary: Option<Prose>,
        force_reason: Option<Prose>,
        actor: &Actor,
    ) -> Result<Incident, EngineError> {
        self.update(incident_id, actor, move |incident, _, now| {
            incident.resolve(summary.clone(), force_reason.clone(), now)
        })
        .await
    }

    pub async fn incident(&self, id: Uuid) -> Result<Incident, EngineError> {
        self.store
            .incident(id)
            .await?
            .ok_or(EngineError::NotFound("incident"))
    }

    /// A page of incidents the filter chooses, summarised, in three queries.
    pub async fn incidents(&self, filter: IncidentFilter) -> Result<Page, EngineError> {
        // One more than asked for says whether another page follows.
        let mut incidents = self
            .store
            .incidents(IncidentFilter {
                limit: filter.limit.saturating_add(1),
                ..filter
            })
            .await?;
        let more = incidents.len() > filter.limit as usize;
        incidents.truncate(filter.limit as usize);
        let next = more
            .then(|| incidents.last().map(|incident| incident.id))
            .flatten();
        Ok(Page { incidents, next })
    }

    /// Every message about the incident, with its delivery status.
    pub async fn messages(&self, incident_id: Uuid) -> Result<Vec<MessageRecord>, EngineError> {
        Ok(self.store.messages(incident_id).await?)
    }

    /// Who was chased about what, and what happens next, as of `incident`.
    pub async fn chase_board(&self, incident: &Incident) -> Result<ChaseBoard, EngineError> {
        // Two reads, on two connections at once: a page waits for one.
        let (steps, timers) = tokio::try_join!(
            self.store.events_of_kind(incident.id, "chased"),
            self.store.timers(incident.id),
        )?;
        Ok(ChaseBoard::new(incident, &steps, &timers))
    }
}
