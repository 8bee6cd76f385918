//! Retention: resolved incidents past the period, not under legal hold, are
//! deleted whole through the one path the timeline's triggers accept (on
//! PostgreSQL, a function the runtime role may call), and logged.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::SqlStore;
use super::rows::PurgeRow;
use crate::domain::PurgeRecord;
use crate::store::backend::Backend;
use crate::store::{RetentionStore, StoreError};

#[async_trait]
impl RetentionStore for SqlStore {
    async fn purge_resolved_before(
        &self,
        cutoff: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Vec<PurgeRecord>, StoreError> {
        let candidates: Vec<Uuid> = sqlx::query_scalar(
            "SELECT id FROM incidents WHERE status = 'resolved' AND resolved_at < $1 \
             AND legal_hold = $2 ORDER BY resolved_at",
        )
        .bind(cutoff)
        .bind(false)
        .fetch_all(&self.pool)
        .await?;
        let mut purged = Vec::new();
        for id in candidates {
            let mut tx = Self::begin_write(&self.pool).await?;
            Self::lock_incidents(&mut tx, &[id]).await?;
            // Checked again under the lock: a hold placed meanwhile wins.
            let Some(incident) = super::incidents::load_incident(&mut tx, id).await? else {
                continue;
            };
            let Some(resolved_at) = incident.resolved_at.filter(|_| !incident.legal_hold) else {
                continue;
            };
            let head = super::timeline::chain_head(&mut tx, id).await?;
            let record = PurgeRecord {
                incident_id: id,
                reference: incident.reference.clone(),
                title: incident.title.clone(),
                resolved_at,
                head_seq: head.seq,
                head_hash: head.hash,
                events: head.seq,
                purged_at: now,
            };
            let logged = Self::purge_incident(&mut tx, &record, cutoff).await?;
            tx.commit().await?;
            purged.push(logged);
        }
        Ok(purged)
    }

    async fn purge_log(&self) -> Result<Vec<PurgeRecord>, StoreError> {
        let rows = sqlx::query_as::<_, PurgeRow>(
            "SELECT incident_id, reference, title, resolved_at, head_seq, head_hash, \
             events, purged_at FROM purge_log ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(PurgeRecord::from).collect())
    }
}
