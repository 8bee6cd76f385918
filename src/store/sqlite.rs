//! The embedded default: one SQLite file in WAL mode. SQLite has one writer
//! at a time: a write transaction takes the database's write lock up front
//! (`BEGIN IMMEDIATE`), so locks on single rows are never needed.

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use sqlx::{QueryBuilder, Sqlite, Transaction};
use uuid::Uuid;

use super::backend::Backend;
use crate::domain::PurgeRecord;

type Conn = SqliteConnection;
type Db = Sqlite;

pub struct SqlStore {
    pool: SqlitePool,
    /// Where changes queue to be written in groups.
    writers: sql::writer::Writers,
}

pub type SqliteStore = SqlStore;

impl SqlStore {
    const MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

    pub async fn connect(url: &str) -> Result<Self, sqlx::Error> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // Safe with WAL: a power cut may lose the last commits, never corrupt.
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5))
            // The WAL is checkpointed as it passes 1,000 pages (SQLite's
            // default, said here so it is a decision), and a WAL file a long
            // reader let grow past 64 MiB is cut back at the next checkpoint
            // (https://www.sqlite.org/pragma.html#pragma_journal_size_limit).
            .pragma("wal_autocheckpoint", "1000")
            .pragma("journal_size_limit", (64 * 1024 * 1024).to_string());
        // Each connection is a thread with its own page cache: four serve
        // two cores as fast as eight did (benches/acks.rs), in 3 MiB less.
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        let writers = sql::writer::Writers::spawn(&pool);
        Ok(SqlStore { pool, writers })
    }
}

impl Backend for SqlStore {
    type Db = Sqlite;

    /// SQLite has one writer at a time: more writer tasks would only queue.
    const WRITERS: usize = 1;

    /// In WAL mode a deferred transaction reads from the snapshot its first
    /// read takes, whatever commits meanwhile.
    async fn begin_read(pool: &SqlitePool) -> Result<Transaction<'static, Sqlite>, sqlx::Error> {
        pool.begin().await
    }

    /// A deferred transaction that reads then writes fails with "database is
    /// locked" when another writer got in between; taking the write lock up
    /// front makes writers queue on the busy timeout instead.
    async fn begin_write(pool: &SqlitePool) -> Result<Transaction<'static, Sqlite>, sqlx::Error> {
        pool.begin_with("BEGIN IMMEDIATE").await
    }

    /// The write transaction already holds the whole database.
    async fn lock_incidents(_: &mut SqliteConnection, _: &[Uuid]) -> Result<(), sqlx::Error> {
        Ok(())
    }

    /// A parameter per id (SQLite has no arrays). Each number of ids is a
    /// statement of its own, so none is kept: preparing costs no round trip
    /// here, and cached, every count would hold memory on every connection
    /// (7 MiB of a server's after 2,000 acknowledgements, benches/acks.rs).
    fn push_ids_in(query: &mut QueryBuilder<Sqlite>, column: &str, ids: &[Uuid]) {
        query.push(format!("{column} IN ("));
        let mut list = query.separated(", ");
        for id in ids {
            list.push_bind(*id);
        }
        query.push(")");
    }

    const PREPARE_ID_LISTS: bool = false;

    /// Inside the immediate transaction no other writer runs, so a plain
    /// subquery picks rows nobody else can be claiming.
    const CLAIM_MESSAGES: &'static str = "UPDATE outbox SET claim_id = $1, claimed_until = $2, \
        attempts = attempts + 1 WHERE id IN (SELECT id FROM outbox WHERE status = 'pending' \
        AND next_attempt_at <= $3 AND (claimed_until IS NULL OR claimed_until <= $3) \
        ORDER BY next_attempt_at LIMIT $4) \
        RETURNING id, incident_id, channel, recipient, department, notice, attempts";

    /// SQLite has no roles: whoever opens the file may change it.
    async fn may_migrate(_: &SqlitePool) -> Result<bool, sqlx::Error> {
        Ok(true)
    }

    async fn migrations_table_exists(pool: &SqlitePool) -> Result<bool, sqlx::Error> {
        sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master \
             WHERE type = 'table' AND name = '_sqlx_migrations')",
        )
        .fetch_one(pool)
        .await
    }

    /// A row in `purge_grants` is what the delete trigger looks for; it goes
    /// in and out within the purge's transaction. (SQLite has no roles:
    /// whoever opens the file may do anything to it.)
    async fn purge_incident(
        conn: &mut SqliteConnection,
        record: &PurgeRecord,
        _cutoff: DateTime<Utc>,
    ) -> Result<PurgeRecord, sqlx::Error> {
        let id = record.incident_id;
        sqlx::query(
            "INSERT INTO purge_log (incident_id, reference, title, resolved_at, \
             head_seq, head_hash, events, purged_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(id)
        .bind(&record.reference)
        .bind(&record.title)
        .bind(record.resolved_at)
        .bind(record.head_seq)
        .bind(&record.head_hash)
        .bind(record.events)
        .bind(record.purged_at)
        .execute(&mut *conn)
        .await?;
        sqlx::query("INSERT INTO purge_grants (incident_id) VALUES ($1)")
            .bind(id)
            .execute(&mut *conn)
            .await?;
        for statement in [
            "DELETE FROM link_tokens WHERE incident_id = $1",
            "DELETE FROM outbox WHERE incident_id = $1",
            "DELETE FROM timers WHERE incident_id = $1",
            "DELETE FROM tasks WHERE incident_id = $1",
            "DELETE FROM incident_departments WHERE incident_id = $1",
            "DELETE FROM idempotency_keys WHERE incident_id = $1",
            "DELETE FROM events WHERE incident_id = $1",
            "DELETE FROM incidents WHERE id = $1",
        ] {
            sqlx::query(statement).bind(id).execute(&mut *conn).await?;
        }
        sqlx::query("DELETE FROM purge_grants WHERE incident_id = $1")
            .bind(id)
            .execute(&mut *conn)
            .await?;
        Ok(record.clone())
    }
}

// The one implementation (`sql.rs` and `sql/`), compiled here for SQLite:
// the same source is compiled for the other backend too, so that each binds
// and decodes its own column types.
#[allow(clippy::duplicate_mod)]
#[path = "sql.rs"]
mod sql;
