//! What differs between the two engines, named in one place. The shared
//! implementation (`store/sql/`) runs the same SQL on both and asks its
//! backend for each of these; every difference has a test on its engine
//! (`tests/storage.rs`).

use chrono::{DateTime, Utc};
use sqlx::{Database, Pool, QueryBuilder, Transaction};
use uuid::Uuid;

use crate::domain::PurgeRecord;

pub(super) trait Backend {
    type Db: Database;

    /// Writer tasks that group changes into transactions (`sql/writer.rs`).
    const WRITERS: usize;

    /// A read-only transaction whose queries all see one snapshot, so an
    /// incident read in several queries is never torn by a concurrent write.
    async fn begin_read(
        pool: &Pool<Self::Db>,
    ) -> Result<Transaction<'static, Self::Db>, sqlx::Error>;

    /// A transaction that writes: it may wait for other writers, never fail
    /// for having read before another writer committed.
    async fn begin_write(
        pool: &Pool<Self::Db>,
    ) -> Result<Transaction<'static, Self::Db>, sqlx::Error>;

    /// Holds incidents against other writers until the transaction ends,
    /// taken in ascending id order (the order every writer takes). Whether
    /// each exists is for the caller to read.
    async fn lock_incidents(
        conn: &mut <Self::Db as Database>::Connection,
        ids: &[Uuid],
    ) -> Result<(), sqlx::Error>;

    /// Adds `{column} IN` the ids to a query, as the engine takes a list
    /// best; the statement is kept prepared if [`Backend::PREPARE_ID_LISTS`].
    fn push_ids_in(query: &mut QueryBuilder<Self::Db>, column: &str, ids: &[Uuid]);

    /// Whether a statement that [`Backend::push_ids_in`] built is worth
    /// keeping prepared on its connection.
    const PREPARE_ID_LISTS: bool;

    /// Marks up to `$4` due messages (`$3`: now) as claimed by `$1` until
    /// `$2`, passing over rows another worker is claiming; returns them.
    const CLAIM_MESSAGES: &'static str;

    /// Whether this connection may change the schema. On PostgreSQL the
    /// runtime role may not: it only checks that the schema is current.
    async fn may_migrate(pool: &Pool<Self::Db>) -> Result<bool, sqlx::Error>;

    /// Whether the table of applied migrations exists yet.
    async fn migrations_table_exists(pool: &Pool<Self::Db>) -> Result<bool, sqlx::Error>;

    /// Purges one incident the caller has locked and found resolved before
    /// `cutoff` and not under legal hold: logs `record` in the purge log and
    /// deletes the incident's rows and timeline, past the triggers that
    /// refuse every other deletion. Returns what the purge log holds.
    async fn purge_incident(
        conn: &mut <Self::Db as Database>::Connection,
        record: &PurgeRecord,
        cutoff: DateTime<Utc>,
    ) -> Result<PurgeRecord, sqlx::Error>;
}
