//! Public statements: PR drafts and edits, the playbook's approvers answer,
//! PR publishes; and what the public statement pages read.

use std::collections::BTreeMap;

use uuid::Uuid;

use super::{Engine, EngineError};
use crate::domain::statement::{Answer, Content, Draft, IncidentStatements, TemplateUse, fill};
use crate::domain::{Actor, DomainError, Incident};

/// What to draft from: the words themselves, or a playbook template and
/// the values of its placeholders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wording {
    Text(Content),
    Template {
        id: String,
        values: BTreeMap<String, String>,
        channels: Vec<String>,
    },
}

impl Engine {
    /// Drafts statement `id` (chosen by the caller, so that it can be named
    /// in the answer).
    pub async fn draft_statement(
        &self,
        incident_id: Uuid,
        id: Uuid,
        wording: Wording,
        actor: &Actor,
    ) -> Result<Incident, EngineError> {
        let draft = self.draft(wording)?;
        self.update(incident_id, actor, move |incident, actor, now| {
            Ok(incident.draft_statement(id, draft.clone(), actor, now))
        })
        .await
    }

    fn draft(&self, wording: Wording) -> Result<Draft, EngineError> {
        match wording {
            Wording::Text(content) => Ok(Draft {
                content,
                template: None,
            }),
            Wording::Template {
                id,
                values,
                channels,
            } => {
                let template = self
                    .catalog
                    .template(&id)
                    .ok_or(EngineError::NotFound("template"))?;
                let text = fill(&template.text, &values).map_err(DomainError::TemplateValues)?;
                Ok(Draft {
                    content: Content {
                        text,
                        language: template.language.clone(),
                        channels,
                    },
                    template: Some(TemplateUse {
                        id: template.id.clone(),
                        text: template.text.clone(),
                        sha256: template.sha256(),
                        approved_by: template.approved_by.clone(),
                    }),
                })
            }
        }
    }

    pub async fn edit_statement(
        &self,
        incident_id: Uuid,
        statement_id: Uuid,
        content: Content,
        actor: &Actor,
    ) -> Result<Incident, EngineError> {
        self.update(incident_id, actor, move |incident, actor, now| {
            incident.edit_statement(statement_id, content.clone(), actor, now)
        })
        .await
    }

    /// Sends the statement to the approvers the playbooks name for the
    /// incident's scenario and severity, as they stand at submission.
    pub async fn submit_statement(
        &self,
        incident_id: Uuid,
        statement_id: Uuid,
        actor: &Actor,
    ) -> Result<Incident, EngineError> {
        let catalog = self.catalog.clone();
        self.update(incident_id, actor, move |incident, actor, now| {
            let policy = catalog
                .approval_policy(&incident.scenario, incident.severity)
                .ok_or(DomainError::NoApprovers)?;
            incident.submit_statement(statement_id, &policy, actor, now)
        })
        .await
    }

    pub async fn review_statement(
        &self,
        incident_id: Uuid,
        statement_id: Uuid,
        answer: Answer,
        actor: &Actor,
    ) -> Result<Incident, EngineError> {
        self.update(incident_id, actor, move |incident, actor, now| {
            incident.review_statement(statement_id, answer.clone(), actor, now)
        })
        .await
    }

    pub async fn publish_statement(
        &self,
        incident_id: Uuid,
        statement_id: Uuid,
        url: Option<String>,
        supersedes: Option<Uuid>,
        actor: &Actor,
    ) -> Result<Incident, EngineError> {
        self.update(incident_id, actor, move |incident, actor, now| {
            incident.publish_statement(statement_id, url.clone(), supersedes, actor, now)
        })
        .await
    }

    /// The statements of incidents that published one, the latest
    /// publication first: what the organisation's statement page and feed
    /// list.
    pub async fn published_statements(
        &self,
        limit: u32,
    ) -> Result<Vec<IncidentStatements>, EngineError> {
        Ok(self.store.published_statements(limit).await?)
    }
}
