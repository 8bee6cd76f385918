//! The database itself: migrations, liveness, and the figures every
//! replica reports alike.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::SqlStore;
use crate::store::backend::Backend;
use crate::store::{AdminStore, Gauges, OutboxStore, StoreError};

#[async_trait]
impl AdminStore for SqlStore {
    async fn migrate(&self) -> Result<(), StoreError> {
        Self::MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    async fn may_migrate(&self) -> Result<bool, StoreError> {
        Ok(<Self as Backend>::may_migrate(&self.pool).await?)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn migrations_applied(&self) -> Result<bool, StoreError> {
        if !Self::migrations_table_exists(&self.pool).await? {
            return Ok(false);
        }
        let applied: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations WHERE success = $1")
                .bind(true)
                .fetch_one(&self.pool)
                .await?;
        Ok(applied as usize >= Self::MIGRATOR.iter().count())
    }

    async fn hold_lease(
        &self,
        name: &str,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        // One statement, so two replicas racing for an expired lease cannot
        // both win: the row's lock (PostgreSQL) or the writer's (SQLite)
        // orders them, and the second sees the first's expiry.
        let held: Option<String> = sqlx::query_scalar(
            "INSERT INTO leases (name, holder, expires_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, \
             expires_at = excluded.expires_at \
             WHERE leases.holder = excluded.holder OR leases.expires_at <= $4 \
             RETURNING holder",
        )
        .bind(name)
        .bind(holder)
        .bind(until)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        Ok(held.is_some())
    }

    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM leases WHERE name = $1 AND holder = $2")
            .bind(name)
            .bind(holder)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn gauges(&self, now: DateTime<Utc>) -> Result<Gauges, StoreError> {
        let open_by_severity: Vec<(String, i64)> = sqlx::query_as(
            "SELECT severity, COUNT(*) FROM incidents WHERE status = 'open' GROUP BY severity",
        )
        .fetch_all(&self.pool)
        .await?;
        let tasks_overdue: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM tasks JOIN incidents ON incidents.id = tasks.incident_id \
             WHERE incidents.status = 'open' AND tasks.status IN ('open', 'acknowledged') \
             AND (tasks.due_at < $1 OR (tasks.status = 'open' AND tasks.ack_due_at < $1))",
        )
        .bind(now)
        .fetch_one(&self.pool)
        .await?;
        let (outbox_depth, oldest_pending): (i64, Option<DateTime<Utc>>) = sqlx::query_as(concat!(
            "SELECT COUNT(*), MIN(created_at) FROM outbox WHERE ",
            waiting_messages!()
        ))
        .fetch_one(&self.pool)
        .await?;
        let oldest_unclaimed_due = self.oldest_unclaimed_due(now).await?;
        Ok(Gauges {
            open_by_severity,
            tasks_overdue,
            outbox_depth,
            oldest_pending,
            oldest_unclaimed_due,
        })
    }
}
