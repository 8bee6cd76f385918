//! The transactional outbox: messages written with the change that causes
//! them, claimed by workers with a lease, each attempt recorded with its
//! timeline event; and the links the emails carry.

use std::collections::HashSet;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::QueryBuilder;
use uuid::Uuid;

use super::rows::{ClaimRow, LinkRow, MessageRow};
use super::{Conn, Db, ROWS_PER_STATEMENT, SqlStore};
use crate::domain::{LinkToken, MessageRecord, TokenKind};
use crate::store::backend::Backend;
use crate::store::{
    Attempt, AttemptOutcome, ClaimedMessage, OutboxStore, StoreError, Unreadable, UpdateError,
};

#[async_trait]
impl OutboxStore for SqlStore {
    async fn claim_messages(
        &self,
        claim: Uuid,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Result<ClaimedMessage, Unreadable>>, StoreError> {
        let mut tx = Self::begin_write(&self.pool).await?;
        let rows = sqlx::query_as::<_, ClaimRow>(Self::CLAIM_MESSAGES)
            .bind(claim)
            .bind(lease_until)
            .bind(now)
            .bind(i64::from(limit))
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(rows.into_iter().map(ClaimRow::read).collect())
    }

    async fn renew_claim(
        &self,
        claim: Uuid,
        lease_until: DateTime<Utc>,
    ) -> Result<Vec<Uuid>, StoreError> {
        let mut tx = Self::begin_write(&self.pool).await?;
        // Recording an attempt clears its claim: what still holds it is
        // what the worker is still sending.
        let held = sqlx::query_scalar(
            "UPDATE outbox SET claimed_until = $2 \
             WHERE status = 'pending' AND claim_id = $1 RETURNING id",
        )
        .bind(claim)
        .bind(lease_until)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(held)
    }

    async fn record_attempt(&self, attempt: &Attempt) -> Result<bool, StoreError> {
        self.writers
            .record(attempt.clone())
            .await
            .map_err(|error| match error {
                UpdateError::Store(error) => error,
                other => StoreError::Corrupt(format!("an attempt was refused: {other:?}")),
            })
    }

    async fn outbox_depth(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(concat!(
            "SELECT COUNT(*) FROM outbox WHERE ",
            waiting_messages!()
        ))
        .fetch_one(&self.pool)
        .await?)
    }

    async fn oldest_unclaimed_due(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT MIN(next_attempt_at) FROM outbox WHERE status = 'pending' \
             AND next_attempt_at <= $1 AND (claimed_until IS NULL OR claimed_until <= $1)",
        )
        .bind(now)
        .fetch_one(&self.pool)
        .await?)
    }

    async fn messages(&self, incident_id: Uuid) -> Result<Vec<MessageRecord>, StoreError> {
        let rows = sqlx::query_as::<_, MessageRow>(
            "SELECT id, channel, recipient, department, status, attempts, last_error, \
             receipt, created_at, sent_at, next_attempt_at, bounced_at \
             FROM outbox WHERE incident_id = $1 AND briefing_id IS NULL ORDER BY id",
        )
        .bind(incident_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(MessageRecord::from).collect())
    }

    async fn replace_links(
        &self,
        claim: Uuid,
        links: &[(Uuid, Vec<LinkToken>)],
    ) -> Result<HashSet<Uuid>, StoreError> {
        let mut tx = Self::begin_write(&self.pool).await?;
        let mut held = HashSet::with_capacity(links.len());
        for chunk in links.chunks(ROWS_PER_STATEMENT) {
            // Locks the messages' rows (on PostgreSQL; SQLite's write
            // transaction holds the whole database) so that no claim can
            // move before the links are in.
            let mut query = QueryBuilder::<Db>::new(
                "UPDATE outbox SET claimed_until = claimed_until \
                 WHERE status = 'pending' AND claim_id = ",
            );
            query.push_bind(claim).push(" AND id IN (");
            let mut ids = query.separated(", ");
            for (message_id, _) in chunk {
                ids.push_bind(*message_id);
            }
            query.push(") RETURNING id");
            let rows: Vec<Uuid> = query
                .build_query_scalar()
                .persistent(false)
                .fetch_all(&mut *tx)
                .await?;
            held.extend(rows);
        }
        let held_ids: Vec<Uuid> = held.iter().copied().collect();
        for chunk in held_ids.chunks(ROWS_PER_STATEMENT) {
            // A failure recorded moves a message's due time past the links
            // its attempt minted; an attempt nobody recorded leaves it, and
            // so keeps its links.
            let mut query = QueryBuilder::<Db>::new(
                "DELETE FROM link_tokens WHERE created_at < \
                 (SELECT next_attempt_at FROM outbox WHERE outbox.id = link_tokens.message_id) \
                 AND message_id IN (",
            );
            let mut ids = query.separated(", ");
            for message_id in chunk {
                ids.push_bind(*message_id);
            }
            query.push(")");
            query.build().persistent(false).execute(&mut *tx).await?;
        }
        let minted: Vec<&LinkToken> = links
            .iter()
            .filter(|(message_id, _)| held.contains(message_id))
            .flat_map(|(_, tokens)| tokens)
            .collect();
        for chunk in minted.chunks(ROWS_PER_STATEMENT) {
            let mut query = QueryBuilder::<Db>::new(
                "INSERT INTO link_tokens (secret_hash, incident_id, department, task_id, \
                 recipient, message_id, created_at, statement_id, briefing_id, kind) ",
            );
            query.push_values(chunk, |mut row, link| {
                row.push_bind(&link.secret_hash)
                    .push_bind(link.incident_id)
                    .push_bind(&link.department)
                    .push_bind(link.task_id)
                    .push_bind(&link.recipient)
                    .push_bind(link.message_id)
                    .push_bind(link.created_at)
                    .push_bind(link.statement_id)
                    .push_bind(link.briefing_id)
                    .push_bind(link.kind.as_str());
            });
            // A reply key is the same on every attempt at its message: an
            // attempt that was never recorded left it in place.
            query.push(" ON CONFLICT (secret_hash) DO NOTHING");
            query.build().persistent(false).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(held)
    }

    async fn link(
        &self,
        secret_hash: &str,
        kind: TokenKind,
    ) -> Result<Option<LinkToken>, StoreError> {
        let row = sqlx::query_as::<_, LinkRow>(
            "SELECT secret_hash, incident_id, department, task_id, recipient, message_id, \
             created_at, statement_id, briefing_id, kind FROM link_tokens \
             WHERE secret_hash = $1 AND kind = $2",
        )
        .bind(secret_hash)
        .bind(kind.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.map(LinkToken::try_from).transpose()
    }
}

/// Writes an attempt's outcome to its outbox row and lets go of the claim,
/// if the claim still holds the message (the caller holds its incident's
/// lock, and appends the attempt's event if this says true).
pub(super) async fn mark_attempt(conn: &mut Conn, attempt: &Attempt) -> Result<bool, sqlx::Error> {
    let (status, next_at, error, receipt, sent_at) = match &attempt.outcome {
        AttemptOutcome::Sent { receipt } => {
            ("sent", None, None, Some(receipt.as_str()), Some(attempt.at))
        }
        AttemptOutcome::Retry { error, at } => {
            ("pending", Some(*at), Some(error.as_str()), None, None)
        }
        AttemptOutcome::GaveUp { error } => ("failed", None, Some(error.as_str()), None, None),
        AttemptOutcome::Cancelled { reason } => {
            ("cancelled", None, Some(reason.as_str()), None, None)
        }
    };
    let updated = sqlx::query(
        "UPDATE outbox SET status = $3, \
         next_attempt_at = COALESCE($4, next_attempt_at), last_error = $5, \
         receipt = COALESCE($6, receipt), sent_at = $7, \
         claim_id = NULL, claimed_until = NULL \
         WHERE id = $1 AND claim_id = $2 AND status = 'pending'",
    )
    .bind(attempt.message_id)
    .bind(attempt.claim)
    .bind(status)
    .bind(next_at)
    .bind(error)
    .bind(receipt)
    .bind(sent_at)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    Ok(updated == 1)
}
