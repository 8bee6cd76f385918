//! Regulatory clocks: legal arms the regimes that apply (or records why
//! one does not), claims the facts their clocks run from, and records what
//! was filed. The rules are in `domain::regulatory`; the playbooks say
//! which regimes exist and who is chased.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Engine, EngineError};
use crate::domain::regulatory::{
    ChaseContacts, Fact, IncidentClock, Prefill, Published, Regime, RegimeState, Report,
};
use crate::domain::{Actor, Incident, Prose};
use crate::timeline::{Dossier, DossierField, DossierStep};

impl Engine {
    pub async fn arm_regime(
        &self,
        incident_id: Uuid,
        regime: &str,
        actor: &Actor,
    ) -> Result<Incident, EngineError> {
        let (regime, contacts) = self.regime(regime)?;
        self.update(incident_id, actor, move |incident, actor, now| {
            incident.arm_regime(&regime, contacts.clone(), actor, now)
        })
        .await
    }

    pub async fn regime_not_notifiable(
        &self,
        incident_id: Uuid,
        regime: &str,
        reason: Prose,
        actor: &Actor,
    ) -> Result<Incident, EngineError> {
        let (regime, contacts) = self.regime(regime)?;
        self.update(incident_id, actor, move |incident, actor, now| {
            incident.regime_not_notifiable(&regime, contacts.clone(), reason.clone(), actor, now)
        })
        .await
    }

    pub async fn claim_fact(
        &self,
        incident_id: Uuid,
        fact: Fact,
        claimed_at: DateTime<Utc>,
        actor: &Actor,
    ) -> Result<Incident, EngineError> {
        self.update(incident_id, actor, move |incident, actor, now| {
            incident.claim_fact(fact, claimed_at, actor, now)
        })
        .await
    }

    pub async fn submit_report(
        &self,
        incident_id: Uuid,
        regime: &str,
        step: &str,
        report: Report,
        actor: &Actor,
    ) -> Result<Incident, EngineError> {
        let (regime, step) = (regime.to_owned(), step.to_owned());
        self.update(incident_id, actor, move |incident, actor, now| {
            incident.submit_report(&regime, &step, report.clone(), actor, now)
        })
        .await
    }

    /// Regulatory clocks still to be answered, soonest first, across
    /// incidents open or resolved.
    pub async fn running_clocks(&self, limit: u32) -> Result<Vec<IncidentClock>, EngineError> {
        Ok(self.store.running_clocks(limit).await?)
    }

    /// The export's dossiers, one per regime decided for `incident`.
    pub(super) async fn dossiers(&self, incident: &Incident) -> Result<Vec<Dossier>, EngineError> {
        let quotes_statements = incident.regulatory.regimes.iter().any(|state| {
            state
                .rule
                .dossier
                .iter()
                .any(|field| field.prefill == Prefill::Statements)
        });
        let statements = if quotes_statements {
            self.quoted_statements(incident.id).await?
        } else {
            Vec::new()
        };
        let now = self.now();
        Ok(incident
            .regulatory
            .regimes
            .iter()
            .map(|state| dossier(incident, state, &statements, now))
            .collect())
    }

    async fn quoted_statements(&self, incident_id: Uuid) -> Result<Vec<Published>, EngineError> {
        Ok(self
            .timeline(incident_id)
            .await?
            .into_iter()
            .filter(|event| event.kind == "statement_published")
            .map(|event| Published {
                at: event.at,
                text: event.data["text"].as_str().unwrap_or_default().to_owned(),
                channels: event.data["channels"]
                    .as_array()
                    .map(|channels| {
                        channels
                            .iter()
                            .filter_map(|channel| channel.as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default(),
            })
            .collect())
    }

    /// A regime of the playbooks, and who its chase reaches.
    fn regime(&self, id: &str) -> Result<(Regime, ChaseContacts), EngineError> {
        let regime = self
            .catalog
            .regime(id)
            .ok_or(EngineError::NotFound("regime"))?;
        let contacts = self
            .catalog
            .regime_contacts(regime)
            .ok_or(EngineError::NotFound("regime's department"))?;
        Ok((regime.clone(), contacts))
    }
}

fn dossier(
    incident: &Incident,
    state: &RegimeState,
    statements: &[Published],
    now: DateTime<Utc>,
) -> Dossier {
    let at = |at: DateTime<Utc>| at.format("%Y-%m-%d %H:%M UTC").to_string();
    Dossier {
        regime: state.rule.id.clone(),
        title: state.rule.title.clone(),
        citation: state.rule.citation.clone(),
        authority: state.rule.authority.clone(),
        source: state.rule.source.clone(),
        decision: state.decision.as_str().to_owned(),
        reason: state.decision.reason().map(str::to_owned),
        decided_at: state.decided_at,
        decided_by: state.decided_by.clone(),
        steps: state
            .rule
            .steps
            .iter()
            .filter_map(|rule| {
                let (_, step) = state.step(&rule.id)?;
                Some(DossierStep {
                    id: rule.id.clone(),
                    title: rule.title.clone(),
                    citation: rule.citation.clone(),
                    rule: rule.deadline.describe(),
                    status: step.status(now).as_str().to_owned(),
                    started_at: step.started_at,
                    due_at: step.due_at,
                    filings: step
                        .submissions
                        .iter()
                        .map(|filed| {
                            let mut line =
                                format!("{} by {}", at(filed.submitted_at), filed.recorded_by);
                            if let Some(reference) = &filed.reference {
                                line.push_str(&format!(", reference {reference}"));
                            }
                            if let Some(hash) = &filed.document_sha256 {
                                line.push_str(&format!(", document sha256 {hash}"));
                            }
                            if filed.late {
                                line.push_str(", late");
                            }
                            if let Some(reasons) = &filed.delay_reasons {
                                line.push_str(&format!(" (reasons for the delay: {reasons})"));
                            }
                            line
                        })
                        .collect(),
                })
            })
            .collect(),
        fields: state
            .rule
            .dossier
            .iter()
            .map(|field| DossierField {
                label: field.label.clone(),
                citation: field.citation.clone(),
                draft: field.prefill.draft(incident, state, statements),
            })
            .collect(),
    }
}
