//! PostgreSQL, for several replicas behind a load balancer: writers to one
//! incident queue on its row, workers pass over rows other workers hold.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::postgres::{PgConnection, PgPool, PgPoolOptions};
use sqlx::{Postgres, QueryBuilder, Transaction};
use uuid::Uuid;

use super::backend::Backend;
use crate::domain::PurgeRecord;

type Conn = PgConnection;
type Db = Postgres;

pub struct SqlStore {
    pool: PgPool,
    /// Where changes queue to be written in groups.
    writers: sql::writer::Writers,
}

pub type PostgresStore = SqlStore;

impl SqlStore {
    const MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

    pub async fn connect(url: &str) -> Result<Self, sqlx::Error> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(10))
            .connect(url)
            .await?;
        let writers = sql::writer::Writers::spawn(&pool);
        Ok(SqlStore { pool, writers })
    }
}

impl Backend for SqlStore {
    type Db = Postgres;

    /// Writers on different incidents proceed in parallel; each incident's
    /// changes go to one of them, in order.
    const WRITERS: usize = 4;

    /// READ COMMITTED, PostgreSQL's default, takes a new snapshot per
    /// statement: an incident read in three queries could see a department's
    /// task without the department. One snapshot for the whole transaction
    /// cannot; read-only, it never has to be retried.
    async fn begin_read(pool: &PgPool) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
        pool.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .await
    }

    /// READ COMMITTED: writers serialise on the rows they lock.
    async fn begin_write(pool: &PgPool) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
        pool.begin().await
    }

    /// Writers to one incident queue on its row; other incidents proceed.
    /// The rows are locked as the sort returns them: in ascending id order.
    async fn lock_incidents(conn: &mut PgConnection, ids: &[Uuid]) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT id FROM incidents WHERE id = ANY($1) ORDER BY id FOR UPDATE")
            .bind(ids)
            .execute(conn)
            .await?;
        Ok(())
    }

    /// One array: the statement's text is the same whatever the number of
    /// ids, so it is prepared once per connection. An unprepared statement
    /// costs PostgreSQL a second round trip (to describe its columns).
    fn push_ids_in(query: &mut QueryBuilder<Postgres>, column: &str, ids: &[Uuid]) {
        query.push(format!("{column} = ANY("));
        query.push_bind(ids.to_vec());
        query.push(")");
    }

    const PREPARE_ID_LISTS: bool = true;

    /// `SKIP LOCKED` in the subquery: rows another worker is claiming are
    /// passed over, and a row claimed meanwhile fails the re-checked WHERE.
    const CLAIM_MESSAGES: &'static str = "UPDATE outbox SET claim_id = $1, claimed_until = $2, \
        attempts = attempts + 1 WHERE id IN (SELECT id FROM outbox WHERE status = 'pending' \
        AND next_attempt_at <= $3 AND (claimed_until IS NULL OR claimed_until <= $3) \
        ORDER BY next_attempt_at LIMIT $4 FOR UPDATE SKIP LOCKED) \
        RETURNING id, incident_id, channel, recipient, department, notice, attempts";

    /// Whoever owns the migrations table (or is a member of its owner)
    /// owns the schema; on an empty database, whoever may create tables in
    /// it. The runtime role is neither (deploy/postgres-roles.sql).
    async fn may_migrate(pool: &PgPool) -> Result<bool, sqlx::Error> {
        sqlx::query_scalar(
            "SELECT COALESCE(CASE WHEN to_regclass('_sqlx_migrations') IS NULL \
             THEN has_schema_privilege(current_schema(), 'CREATE') \
             ELSE pg_has_role((SELECT relowner FROM pg_class \
             WHERE oid = to_regclass('_sqlx_migrations')), 'USAGE') END, FALSE)",
        )
        .fetch_one(pool)
        .await
    }

    async fn migrations_table_exists(pool: &PgPool) -> Result<bool, sqlx::Error> {
        sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
            .fetch_one(pool)
            .await
    }

    /// The runtime role holds no DELETE on the record: the purge is the
    /// `purge_incident` function (migration 0009), which runs as the schema's
    /// owner, checks the incident again, and logs what it removed itself.
    async fn purge_incident(
        conn: &mut PgConnection,
        record: &PurgeRecord,
        cutoff: DateTime<Utc>,
    ) -> Result<PurgeRecord, sqlx::Error> {
        let logged: PurgedRow = sqlx::query_as(
            "SELECT incident_id, reference, title, resolved_at, head_seq, head_hash, events, \
             purged_at FROM purge_incident($1, $2, $3)",
        )
        .bind(record.incident_id)
        .bind(cutoff)
        .bind(record.purged_at)
        .fetch_one(conn)
        .await?;
        let (incident_id, reference, title, resolved_at, head_seq, head_hash, events, purged_at) =
            logged;
        Ok(PurgeRecord {
            incident_id,
            reference,
            title,
            resolved_at,
            head_seq,
            head_hash,
            events,
            purged_at,
        })
    }
}

/// A purge log row, as `purge_incident` returns it.
type PurgedRow = (
    Uuid,
    String,
    String,
    DateTime<Utc>,
    i64,
    String,
    i64,
    DateTime<Utc>,
);

// The one implementation (`sql.rs` and `sql/`), compiled here for PostgreSQL:
// the same source is compiled for the other backend too, so that each binds
// and decodes its own column types.
#[allow(clippy::duplicate_mod)]
#[path = "sql.rs"]
mod sql;
