//! Timers: reminders and escalations as rows with a due time and a
//! version, fired in the transaction that records what they did.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::SqlStore;
use super::rows::TimerRow;
use crate::domain::Actor;
use crate::domain::chase::DueTimer;
use crate::store::backend::Backend;
use crate::store::{Fired, StoreError, TimerOutcome, TimerRule, TimerStore};

/// What the store reads of a timer; a macro so that queries stay literals.
macro_rules! timer_columns {
    () => {
        "id, incident_id, department, task_id, purpose, stage, due_at, version, clock, deadline_at, \
         statement_id, statement_version"
    };
}

/// Due timers looked at per firing: when workers fire at once, the one that
/// waited for another's incident moves on to the next.
const CANDIDATES: i64 = 16;

#[async_trait]
impl TimerStore for SqlStore {
    async fn fire_timer(
        &self,
        now: DateTime<Utc>,
        rule: TimerRule<'_>,
    ) -> Result<Option<Fired>, StoreError> {
        // Candidates are read without a lock; each is then taken in the order
        // every writer takes: its incident first, then the timer, read again
        // under that lock (a worker that fired it first has moved it on).
        let candidates = sqlx::query_as::<_, TimerRow>(concat!(
            "SELECT ",
            timer_columns!(),
            " \
             FROM timers WHERE status = 'pending' AND due_at <= $1 ORDER BY due_at LIMIT $2"
        ))
        .bind(now)
        .bind(CANDIDATES)
        .fetch_all(&self.pool)
        .await?;
        for candidate in candidates {
            let candidate = DueTimer::try_from(candidate)?;
            let mut tx = Self::begin_write(&self.pool).await?;
            Self::lock_incidents(&mut tx, &[candidate.incident_id]).await?;
            let Some(current) = sqlx::query_as::<_, TimerRow>(concat!(
                "SELECT ",
                timer_columns!(),
                " \
                 FROM timers WHERE id = $1 AND version = $2 AND status = 'pending'"
            ))
            .bind(candidate.id)
            .bind(candidate.version)
            .fetch_optional(&mut *tx)
            .await?
            else {
                // Another worker moved it since the candidates were read.
                continue;
            };
            let timer = DueTimer::try_from(current)?;
            let incident = super::incidents::load_incident(&mut tx, timer.incident_id)
                .await?
                .ok_or_else(|| StoreError::Corrupt("a timer's incident is missing".into()))?;
            let (status, stage, due_at, cancelled) = match rule(&incident, &timer) {
                TimerOutcome::Cancel => ("cancelled", timer.stage, timer.due_at, true),
                TimerOutcome::Fire { effects, next_at } => {
                    let actor = Actor::system("chaser");
                    super::effects::append_effects(&mut tx, incident.id, &actor, now, effects)
                        .await?;
                    match next_at {
                        Some(next) => ("pending", timer.stage + 1, next, false),
                        None => ("done", timer.stage, timer.due_at, false),
                    }
                }
            };
            sqlx::query(
                "UPDATE timers SET status = $3, stage = $4, due_at = $5, \
                 version = version + 1, updated_at = $6 WHERE id = $1 AND version = $2",
            )
            .bind(timer.id)
            .bind(timer.version)
            .bind(status)
            .bind(stage)
            .bind(due_at)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            return Ok(Some(Fired { timer, cancelled }));
        }
        Ok(None)
    }

    async fn timers(&self, incident_id: Uuid) -> Result<Vec<DueTimer>, StoreError> {
        let rows = sqlx::query_as::<_, TimerRow>(concat!(
            "SELECT ",
            timer_columns!(),
            " \
             FROM timers WHERE incident_id = $1 AND status = 'pending' ORDER BY due_at"
        ))
        .bind(incident_id)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(DueTimer::try_from).collect()
    }
}
