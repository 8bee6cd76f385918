//! Briefings: statements and internal updates sent to the playbooks'
//! audiences, and each recipient's confirmation that they read it.

use uuid::Uuid;

use super::{Engine, EngineError};
use crate::domain::briefing::{Message, Share, deliveries};
use crate::domain::{Actor, EventData, Incident, LinkToken, LinkUse};
use crate::store::Effects;

impl Engine {
    /// Sends `message` to the audience `audience_id`: one email per member,
    /// committed with the briefing's event, delivered by the outbox.
    pub async fn send_briefing(
        &self,
        incident_id: Uuid,
        audience_id: &str,
        message: Message,
        actor: &Actor,
    ) -> Result<Incident, EngineError> {
        let audience = self
            .catalog
            .audience(audience_id)
            .cloned()
            .ok_or(EngineError::NotFound("audience"))?;
        let id = Uuid::now_v7();
        self.update_with(incident_id, actor, move |incident, actor, now| {
            let events = incident.send_briefing(id, &audience, &message, actor, now)?;
            let (messages, recipients) = incident
                .briefing(id)
                .map(|briefing| deliveries(briefing, &audience))
                .unwrap_or_default();
            let extra = Effects {
                messages,
                recipients,
                ..Effects::default()
            };
            Ok((events, extra))
        })
        .await
    }

    /// Records that the recipient of `link` read its briefing; true the
    /// first time, false when they had already confirmed. Only the
    /// recipient's row and the event are written: ten thousand staff
    /// confirming at once never rewrite the incident.
    pub async fn confirm_briefing(
        &self,
        link: &LinkToken,
        number: u32,
        ip: String,
        user_agent: Option<String>,
    ) -> Result<bool, EngineError> {
        let Some(briefing_id) = link.briefing_id else {
            return Err(EngineError::NotFound("briefing"));
        };
        let via = LinkUse {
            recipient: link.recipient.clone(),
            ip,
            user_agent,
        };
        let event = EventData::BriefingConfirmed {
            briefing_id,
            number,
            recipient: link.recipient.clone(),
            via: Some(via.clone()),
        };
        Ok(self
            .store
            .confirm_briefing(
                link.incident_id,
                briefing_id,
                &link.recipient,
                &Actor::link(via),
                self.now(),
                event,
            )
            .await?)
    }

    /// When `email` confirmed reading a briefing, if they did.
    pub async fn briefing_confirmed(
        &self,
        briefing_id: Uuid,
        email: &str,
    ) -> Result<Option<chrono::DateTime<chrono::Utc>>, EngineError> {
        Ok(self.store.briefing_confirmed(briefing_id, email).await?)
    }

    /// A briefing's recipients and confirmations, per department.
    pub async fn briefing_shares(&self, briefing_id: Uuid) -> Result<Vec<Share>, EngineError> {
        Ok(self.store.briefing_shares(briefing_id).await?)
    }
}
