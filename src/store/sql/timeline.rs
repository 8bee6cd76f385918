//! The timeline: events sealed into the hash chain under their incident's
//! lock, read back in order; and the key that signs chain heads.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::QueryBuilder;
use sqlx::types::Json;
use uuid::Uuid;

use super::rows::{ChainRow, EventRow};
use super::{Conn, Db, ROWS_PER_STATEMENT, SqlStore};
use crate::domain::Event;
use crate::store::backend::Backend;
use crate::store::{StoreError, TimelineStore};
use crate::timeline::{ChainHead, ChainedEvent};

pub(super) async fn chain_head(
    conn: &mut Conn,
    incident_id: Uuid,
) -> Result<ChainHead, sqlx::Error> {
    let last: Option<(i64, String)> = sqlx::query_as(
        "SELECT seq, hash FROM events WHERE incident_id = $1 ORDER BY seq DESC LIMIT 1",
    )
    .bind(incident_id)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(match last {
        Some((seq, hash)) => ChainHead {
            incident_id,
            seq,
            hash,
        },
        None => ChainHead::genesis(incident_id),
    })
}

/// The chain heads of incidents, in one query; an incident with no event
/// yet is left out.
pub(super) async fn chain_heads(
    conn: &mut Conn,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, ChainHead>, sqlx::Error> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let mut query = QueryBuilder::<Db>::new(
        "SELECT incident_id, seq, hash FROM events WHERE (incident_id, seq) IN \
         (SELECT incident_id, MAX(seq) FROM events WHERE ",
    );
    SqlStore::push_ids_in(&mut query, "incident_id", ids);
    query.push(" GROUP BY incident_id)");
    let heads: Vec<(Uuid, i64, String)> = query
        .build_query_as()
        .persistent(SqlStore::PREPARE_ID_LISTS)
        .fetch_all(&mut *conn)
        .await?;
    Ok(heads
        .into_iter()
        .map(|(incident_id, seq, hash)| {
            let head = ChainHead {
                incident_id,
                seq,
                hash,
            };
            (incident_id, head)
        })
        .collect())
}

/// Inserts sealed events, many to a statement.
pub(super) async fn insert_events(
    conn: &mut Conn,
    events: &[ChainedEvent],
) -> Result<(), sqlx::Error> {
    for chunk in events.chunks(ROWS_PER_STATEMENT) {
        let mut query = QueryBuilder::<Db>::new(
            "INSERT INTO events (incident_id, seq, at, actor, kind, data, prev_hash, hash) ",
        );
        query.push_values(chunk, |mut row, event| {
            row.push_bind(event.incident_id)
                .push_bind(event.seq)
                .push_bind(event.at)
                .push_bind(event.actor.clone())
                .push_bind(event.kind.clone())
                .push_bind(Json(event.data.clone()))
                .push_bind(event.prev_hash.clone())
                .push_bind(event.hash.clone());
        });
        query.build().persistent(false).execute(&mut *conn).await?;
    }
    Ok(())
}

#[async_trait]
impl TimelineStore for SqlStore {
    async fn timeline(&self, incident_id: Uuid) -> Result<Option<Vec<ChainedEvent>>, StoreError> {
        let mut tx = Self::begin_read(&self.pool).await?;
        let exists: Option<Uuid> = sqlx::query_scalar("SELECT id FROM incidents WHERE id = $1")
            .bind(incident_id)
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_none() {
            return Ok(None);
        }
        let rows = sqlx::query_as::<_, ChainRow>(
            "SELECT seq, at, actor, kind, data, prev_hash, hash FROM events \
             WHERE incident_id = $1 ORDER BY seq",
        )
        .bind(incident_id)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(
            rows.into_iter()
                .map(|row| row.into_event(incident_id))
                .collect(),
        ))
    }

    async fn timeline_page(
        &self,
        incident_id: Uuid,
        after_seq: i64,
        up_to_seq: i64,
        limit: u32,
    ) -> Result<Vec<ChainedEvent>, StoreError> {
        let rows = sqlx::query_as::<_, ChainRow>(
            "SELECT seq, at, actor, kind, data, prev_hash, hash FROM events \
             WHERE incident_id = $1 AND seq > $2 AND seq <= $3 ORDER BY seq LIMIT $4",
        )
        .bind(incident_id)
        .bind(after_seq)
        .bind(up_to_seq)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|row| row.into_event(incident_id))
            .collect())
    }

    async fn chain_head(&self, incident_id: Uuid) -> Result<ChainHead, StoreError> {
        let mut conn = self.pool.acquire().await?;
        Ok(chain_head(&mut conn, incident_id).await?)
    }

    async fn events_of_kind(
        &self,
        incident_id: Uuid,
        kind: &str,
    ) -> Result<Vec<Event>, StoreError> {
        let rows = sqlx::query_as::<_, EventRow>(
            "SELECT seq, at, actor, kind, data FROM events \
             WHERE incident_id = $1 AND kind = $2 ORDER BY seq",
        )
        .bind(incident_id)
        .bind(kind)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(Event::from).collect())
    }

    async fn signing_key(&self) -> Result<Option<String>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT private_key FROM signing_keys WHERE id = 1")
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    async fn keep_signing_key(
        &self,
        private_key: &str,
        public_key: &str,
        now: DateTime<Utc>,
    ) -> Result<String, StoreError> {
        sqlx::query(
            "INSERT INTO signing_keys (id, private_key, public_key, created_at) \
             VALUES (1, $1, $2, $3) ON CONFLICT (id) DO NOTHING",
        )
        .bind(private_key)
        .bind(public_key)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(
            sqlx::query_scalar("SELECT private_key FROM signing_keys WHERE id = 1")
                .fetch_one(&self.pool)
                .await?,
        )
    }
}
