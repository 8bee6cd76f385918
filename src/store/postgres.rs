//! PostgreSQL, for several replicas behind a load balancer.

use std::time::Duration;

use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::{Postgres, Transaction};

pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    const MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

    /// Writers to one incident queue on its row; other incidents proceed.
    const LOCK_INCIDENT: &'static str = "SELECT id FROM incidents WHERE id = $1 FOR UPDATE";

    /// `SKIP LOCKED` in the subquery: rows another worker is claiming are
    /// passed over, and a row claimed meanwhile fails the re-checked WHERE.
    const CLAIM_MESSAGES: &'static str = "UPDATE outbox SET claim_id = $1, claimed_until = $2, \
        attempts = attempts + 1 WHERE id IN (SELECT id FROM outbox WHERE status = 'pending' \
        AND next_attempt_at <= $3 AND (claimed_until IS NULL OR claimed_until <= $3) \
        ORDER BY next_attempt_at LIMIT $4 FOR UPDATE SKIP LOCKED) \
        RETURNING id, incident_id, channel, recipient, department, notice, attempts";

    const NEXT_DUE_TIMER: &'static str = "SELECT id, incident_id, department, task_id, \
        purpose, stage, due_at, version FROM timers WHERE status = 'pending' AND due_at <= $1 \
        ORDER BY due_at LIMIT 1 FOR UPDATE SKIP LOCKED";

    /// The retention purge's pass past the timeline's triggers, for one
    /// incident, within its transaction only; and its end.
    const GRANT_PURGE: &'static str = "SELECT set_config('tocsin.purge', 'on', true), $1::uuid";
    const END_PURGE: &'static str = "SELECT set_config('tocsin.purge', 'off', true), $1::uuid";

    pub async fn connect(url: &str) -> Result<Self, sqlx::Error> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(10))
            .connect(url)
            .await?;
        Ok(PostgresStore { pool })
    }

    async fn begin_write(&self) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
        self.pool.begin().await
    }
}

super::sql::sql_store!(PostgresStore, sqlx::Postgres);
