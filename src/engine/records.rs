//! The record legal relies on: the hash-chained timeline and its exports,
//! corrections, legal holds, and retention.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Engine, EngineError};
use crate::domain::retention::purge_cutoff;
use crate::domain::{Actor, Incident, Prose, PurgeRecord};
use crate::store::Store;
use crate::timeline::{
    Break, ChainHead, ChainedEvent, DepartmentSummary, ExportHeader, IncidentSummary, TaskSummary,
};

impl Engine {
    pub async fn timeline(&self, incident_id: Uuid) -> Result<Vec<ChainedEvent>, EngineError> {
        self.store
            .timeline(incident_id)
            .await?
            .ok_or(EngineError::NotFound("incident"))
    }

    /// The incident's last event (or its genesis, before any).
    pub async fn chain_head(&self, incident_id: Uuid) -> Result<ChainHead, EngineError> {
        Ok(self.store.chain_head(incident_id).await?)
    }

    /// What an export carries besides its events, with the head it covers
    /// signed now; the events follow page by page ([`Engine::timeline_page`]),
    /// so a long timeline never sits in memory whole.
    pub async fn export_header(&self, incident_id: Uuid) -> Result<ExportHeader, EngineError> {
        let incident = self.incident(incident_id).await?;
        let head = self.store.chain_head(incident_id).await?;
        let dossiers = self.dossiers(&incident).await?;
        Ok(ExportHeader {
            dossiers,
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
        reason: Prose,
        actor: &Actor,
    ) -> Result<Incident, EngineError> {
        self.update(incident_id, actor, move |incident, _, now| {
            incident.set_legal_hold(hold, reason.clone(), now)
        })
        .await
    }

    pub async fn correct(
        &self,
        incident_id: Uuid,
        corrects_seq: i64,
        text: Prose,
        actor: &Actor,
    ) -> Result<Incident, EngineError> {
        // Read before the change's lock: the chain only grows, so an event
        // that exists now still exists under the lock.
        let last_seq = self.store.chain_head(incident_id).await?.seq;
        self.update(incident_id, actor, move |incident, _, now| {
            incident.correct(corrects_seq, text.clone(), last_seq, now)
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
                Err(error) => {
                    crate::store::log_failure(&error, "retention purge failed");
                }
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
}

/// Purges resolved incidents older than `retention` that are not on legal
/// hold. Needs only the store, so `tocsin purge` runs beside a server.
pub async fn purge(
    store: &dyn Store,
    retention: std::time::Duration,
    now: DateTime<Utc>,
) -> Result<Vec<PurgeRecord>, EngineError> {
    match purge_cutoff(now, retention) {
        Some(cutoff) => Ok(store.purge_resolved_before(cutoff, now).await?),
        None => Ok(Vec::new()),
    }
}
