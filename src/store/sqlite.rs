//! The embedded default: one SQLite file in WAL mode.

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Sqlite, Transaction};

pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    const MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

    /// SQLite already serialises writers; the immediate transaction holds
    /// the write lock, so selecting the row is enough.
    const LOCK_INCIDENT: &'static str = "SELECT id FROM incidents WHERE id = $1";

    /// Inside the immediate transaction no other writer runs, so a plain
    /// subquery picks rows nobody else can be claiming.
    const CLAIM_MESSAGES: &'static str = "UPDATE outbox SET claim_id = $1, claimed_until = $2, \
        attempts = attempts + 1 WHERE id IN (SELECT id FROM outbox WHERE status = 'pending' \
        AND next_attempt_at <= $3 AND (claimed_until IS NULL OR claimed_until <= $3) \
        ORDER BY next_attempt_at LIMIT $4) \
        RETURNING id, incident_id, channel, recipient, department, notice, attempts";

    const NEXT_DUE_TIMER: &'static str = "SELECT id, incident_id, department, task_id, \
        purpose, stage, due_at, version FROM timers WHERE status = 'pending' AND due_at <= $1 \
        ORDER BY due_at LIMIT 1";

    /// The retention purge's pass past the timeline's triggers, for one
    /// incident, within its transaction only; and its end.
    const GRANT_PURGE: &'static str = "INSERT INTO purge_grants (incident_id) VALUES ($1)";
    const END_PURGE: &'static str = "DELETE FROM purge_grants WHERE incident_id = $1";

    pub async fn connect(url: &str) -> Result<Self, sqlx::Error> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // Safe with WAL: a power cut may lose the last commits, never corrupt.
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await?;
        Ok(SqliteStore { pool })
    }

    /// A deferred transaction that reads then writes fails with "database is
    /// locked" when another writer got in between; taking the write lock up
    /// front makes writers queue on the busy timeout instead.
    async fn begin_write(&self) -> Result<Transaction<'static, Sqlite>, sqlx::Error> {
        self.pool.begin_with("BEGIN IMMEDIATE").await
    }
}

super::sql::sql_store!(SqliteStore, sqlx::Sqlite);
