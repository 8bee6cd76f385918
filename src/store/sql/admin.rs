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
