//! Signals: the key each claims with the incident it opens, and those that
//! wait for the commander, with the mail that asks them.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Conn, SqlStore};
use crate::domain::signal::PendingSignal;
use crate::domain::{Actor, Incident};
use crate::store::backend::Backend;
use crate::store::{Claimed, Effects, SignalClaim, SignalMail, SignalStore, StoreError};

/// The columns a [`PendingRow`] reads; a macro so that queries stay literals.
macro_rules! pending_columns {
    () => {
        "id, source, dedup_key, title, body, link, scenario, severity, rule, received_at, \
         received_by, commander, repeats, incident_id, confirmed_at, confirmed_by"
    };
}

#[derive(sqlx::FromRow)]
struct PendingRow {
    id: Uuid,
    source: String,
    dedup_key: String,
    title: String,
    body: Option<String>,
    link: Option<String>,
    scenario: String,
    severity: String,
    rule: Option<i64>,
    received_at: DateTime<Utc>,
    received_by: String,
    commander: String,
    repeats: i64,
    incident_id: Option<Uuid>,
    confirmed_at: Option<DateTime<Utc>>,
    confirmed_by: Option<String>,
}

impl PendingRow {
    fn into_pending(self) -> Result<PendingSignal, StoreError> {
        Ok(PendingSignal {
            id: self.id,
            source: self.source,
            dedup_key: self.dedup_key,
            title: self.title,
            body: self.body,
            link: self.link,
            scenario: self.scenario,
            severity: self
                .severity
                .parse()
                .map_err(|_| StoreError::Corrupt(format!("severity {:?}", self.severity)))?,
            rule: self.rule.and_then(|rule| usize::try_from(rule).ok()),
            received_at: self.received_at,
            received_by: self.received_by,
            commander: self.commander,
            repeats: self.repeats,
            incident_id: self.incident_id,
            confirmed_at: self.confirmed_at,
            confirmed_by: self.confirmed_by,
        })
    }
}

/// The incident holding a key, open or not.
async fn key_holder(
    conn: &mut Conn,
    source: &str,
    dedup_key: &str,
) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar("SELECT incident_id FROM signal_keys WHERE source = $1 AND dedup_key = $2")
        .bind(source)
        .bind(dedup_key)
        .fetch_optional(&mut *conn)
        .await
}

#[async_trait]
impl SignalStore for SqlStore {
    async fn open_for_signal(
        &self,
        incident: &Incident,
        opened: Effects,
        actor: &Actor,
        claim: &SignalClaim,
    ) -> Result<Claimed, StoreError> {
        let mut tx = Self::begin_write(&self.pool).await?;
        if let Some((id, by)) = &claim.confirms {
            let confirmed = sqlx::query(
                "UPDATE signal_confirmations SET confirmed_at = $2, confirmed_by = $3 \
                 WHERE id = $1 AND confirmed_at IS NULL",
            )
            .bind(id)
            .bind(incident.opened_at)
            .bind(by)
            .execute(&mut *tx)
            .await?;
            if confirmed.rows_affected() == 0 {
                return Ok(Claimed::AlreadyConfirmed);
            }
        }
        // The incident first: the key refers to it.
        super::incidents::write_incidents(&mut tx, &[(None, incident)]).await?;
        // Takes the key over only from a resolved incident. On PostgreSQL a
        // concurrent claim waits for ours to commit, then finds the key
        // held by an incident its snapshot does not show as resolved, and
        // returns nothing: it joins ours.
        let claimed: Option<Uuid> = sqlx::query_scalar(
            "INSERT INTO signal_keys (source, dedup_key, incident_id, claimed_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (source, dedup_key) DO UPDATE \
             SET incident_id = excluded.incident_id, claimed_at = excluded.claimed_at \
             WHERE EXISTS (SELECT 1 FROM incidents WHERE incidents.id = signal_keys.incident_id \
             AND incidents.status = 'resolved') \
             RETURNING incident_id",
        )
        .bind(&claim.source)
        .bind(&claim.dedup_key)
        .bind(incident.id)
        .bind(incident.opened_at)
        .fetch_optional(&mut *tx)
        .await?;
        if claimed.is_none() {
            let holder = key_holder(&mut tx, &claim.source, &claim.dedup_key).await?;
            drop(tx);
            return holder
                .map(Claimed::Held)
                .ok_or_else(|| StoreError::Corrupt("a held signal key vanished".into()));
        }
        if let Some((id, _)) = &claim.confirms {
            sqlx::query("UPDATE signal_confirmations SET incident_id = $2 WHERE id = $1")
                .bind(id)
                .bind(incident.id)
                .execute(&mut *tx)
                .await?;
        }
        super::effects::append_effects(&mut tx, incident.id, actor, incident.opened_at, opened)
            .await?;
        tx.commit().await?;
        Ok(Claimed::Opened)
    }

    async fn open_signal_incident(
        &self,
        source: &str,
        dedup_key: &str,
    ) -> Result<Option<Uuid>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT k.incident_id FROM signal_keys k JOIN incidents i ON i.id = k.incident_id \
             WHERE k.source = $1 AND k.dedup_key = $2 AND i.status = 'open'",
        )
        .bind(source)
        .bind(dedup_key)
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn wait_for_confirmation(
        &self,
        pending: &PendingSignal,
    ) -> Result<(Uuid, bool), StoreError> {
        let mut tx = Self::begin_write(&self.pool).await?;
        let rule = pending.rule.and_then(|rule| i64::try_from(rule).ok());
        let waiting: Uuid = sqlx::query_scalar(
            "INSERT INTO signal_confirmations (id, source, dedup_key, title, body, link, \
             scenario, severity, rule, commander, received_at, received_by, mail_due_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $11) \
             ON CONFLICT (source, dedup_key) WHERE confirmed_at IS NULL DO UPDATE \
             SET repeats = signal_confirmations.repeats + 1 RETURNING id",
        )
        .bind(pending.id)
        .bind(&pending.source)
        .bind(&pending.dedup_key)
        .bind(&pending.title)
        .bind(&pending.body)
        .bind(&pending.link)
        .bind(&pending.scenario)
        .bind(pending.severity.as_str())
        .bind(rule)
        .bind(&pending.commander)
        .bind(pending.received_at)
        .bind(&pending.received_by)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok((waiting, waiting == pending.id))
    }

    async fn pending_signal(&self, secret_hash: &str) -> Result<Option<PendingSignal>, StoreError> {
        let row: Option<PendingRow> = sqlx::query_as(concat!(
            "SELECT ",
            pending_columns!(),
            " FROM signal_confirmations WHERE secret_hash = $1"
        ))
        .bind(secret_hash)
        .fetch_optional(&self.pool)
        .await?;
        row.map(PendingRow::into_pending).transpose()
    }

    async fn confirm_signal(
        &self,
        id: Uuid,
        incident_id: Uuid,
        by: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let confirmed = sqlx::query(
            "UPDATE signal_confirmations SET confirmed_at = $2, confirmed_by = $3, \
             incident_id = $4 WHERE id = $1 AND confirmed_at IS NULL",
        )
        .bind(id)
        .bind(at)
        .bind(by)
        .bind(incident_id)
        .execute(&self.pool)
        .await?;
        Ok(confirmed.rows_affected() == 1)
    }

    async fn claim_signal_mail(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        secret_hash: &str,
    ) -> Result<Option<SignalMail>, StoreError> {
        let mut tx = Self::begin_write(&self.pool).await?;
        // A row held by a dead worker comes back once its lease ends. The
        // outer conditions repeat the inner ones: a PostgreSQL worker that
        // waited for another's claim of the same row re-checks them against
        // the row as that claim left it, and takes nothing.
        let claimed: Option<(Uuid, i64)> = sqlx::query_as(
            "UPDATE signal_confirmations SET mail_claimed_until = $2, \
             mail_attempts = mail_attempts + 1, secret_hash = $3 \
             WHERE id = (SELECT id FROM signal_confirmations \
             WHERE mail_due_at IS NOT NULL AND mail_due_at <= $1 \
             AND (mail_claimed_until IS NULL OR mail_claimed_until <= $1) \
             ORDER BY mail_due_at LIMIT 1) \
             AND mail_due_at IS NOT NULL AND mail_due_at <= $1 \
             AND (mail_claimed_until IS NULL OR mail_claimed_until <= $1) \
             RETURNING id, mail_attempts",
        )
        .bind(now)
        .bind(lease_until)
        .bind(secret_hash)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((id, attempt)) = claimed else {
            tx.commit().await?;
            return Ok(None);
        };
        let row: PendingRow = sqlx::query_as(concat!(
            "SELECT ",
            pending_columns!(),
            " FROM signal_confirmations WHERE id = $1"
        ))
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(SignalMail {
            pending: row.into_pending()?,
            attempt,
        }))
    }

    async fn record_signal_mail(
        &self,
        id: Uuid,
        secret_hash: &str,
        outcome: Result<(), (&str, Option<DateTime<Utc>>)>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let query = match outcome {
            Ok(()) => sqlx::query(
                "UPDATE signal_confirmations SET mail_due_at = NULL, mail_claimed_until = NULL, \
                 mailed_at = $2, mail_error = NULL WHERE id = $1 AND secret_hash = $3",
            )
            .bind(id)
            .bind(now)
            .bind(secret_hash),
            Err((error, retry_at)) => sqlx::query(
                "UPDATE signal_confirmations SET mail_due_at = $2, mail_claimed_until = NULL, \
                 mail_error = $3 WHERE id = $1 AND secret_hash = $4",
            )
            .bind(id)
            .bind(retry_at)
            .bind(error)
            .bind(secret_hash),
        };
        query.execute(&self.pool).await?;
        Ok(())
    }
}
