//! Mail that comes back: a reply key's answer, read by the inbound intake,
//! acted on once under its incident's lock.

use uuid::Uuid;

use super::{Engine, EngineError};
use crate::domain::reply::{Answer, MailEvidence, ReplyPolicy};
use crate::domain::{Actor, EventData, TokenKind};
use crate::secret::hash_secret;
use crate::store::Effects;

/// What became of an inbound message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Receipt {
    /// Recorded on its incident's timeline; `acted` if it changed more.
    Recorded { incident_id: Uuid, acted: bool },
    /// The same message was taken before: nothing was done again.
    Duplicate { incident_id: Uuid },
    /// None of its keys is one tocsin issued.
    UnknownKey,
}

impl Engine {
    /// Takes or renews the lease `name` for `holder` for `lasting` from now:
    /// whether `holder` has it (work one replica at a time may do).
    pub async fn hold_lease(
        &self,
        name: &str,
        holder: &str,
        lasting: std::time::Duration,
    ) -> Result<bool, EngineError> {
        let now = self.now();
        let until = chrono::Duration::from_std(lasting)
            .ok()
            .and_then(|lasting| now.checked_add_signed(lasting))
            .unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC);
        Ok(self.store.hold_lease(name, holder, now, until).await?)
    }

    /// Gives the lease up, for another replica to take without waiting.
    pub async fn release_lease(&self, name: &str, holder: &str) -> Result<(), EngineError> {
        Ok(self.store.release_lease(name, holder).await?)
    }

    /// Whether `key` is a reply key tocsin issued (expired or not: a late
    /// reply is taken, to be told the incident is closed).
    pub async fn knows_reply_key(&self, key: &str) -> Result<bool, EngineError> {
        Ok(self
            .store
            .link(&hash_secret(key), TokenKind::Reply)
            .await?
            .is_some())
    }

    /// Takes an inbound message answering the first of `keys` that tocsin
    /// issued, once per `dedup_key` whichever intake brings it: records
    /// it with its evidence, and does what it asks if it may.
    pub async fn receive_reply(
        &self,
        keys: &[&str],
        dedup_key: String,
        answer: Answer,
        evidence: MailEvidence,
    ) -> Result<Receipt, EngineError> {
        let mut found = None;
        for key in keys {
            found = self.store.link(&hash_secret(key), TokenKind::Reply).await?;
            if found.is_some() {
                break;
            }
        }
        let Some(key) = found else {
            return Ok(Receipt::UnknownKey);
        };
        let actor = Actor::reply(evidence.from.as_deref().unwrap_or(&key.recipient));
        let policy = ReplyPolicy {
            grace: self.link_grace,
            out_of_office_escalates: self.out_of_office_escalates,
        };
        let incident_id = key.incident_id;
        let written = self
            .write(
                incident_id,
                &actor,
                Some(dedup_key),
                move |incident, actor, now| {
                    let events =
                        incident.receive_reply(&key, &answer, &evidence, policy, actor, now);
                    Ok((events, Effects::default()))
                },
            )
            .await?;
        let Some(updated) = written else {
            return Ok(Receipt::Duplicate { incident_id });
        };
        let acted = matches!(
            updated.events.first(),
            Some(EventData::ReplyReceived { acted: true, .. })
        );
        Ok(Receipt::Recorded { incident_id, acted })
    }
}
