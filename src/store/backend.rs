//! What differs between the two engines, named in one place. The shared
//! implementation (`store/sql/`) runs the same SQL on both and asks its
//! backend for each of these; every difference has a test on its engine
//! (`tests/storage.rs`).

use sqlx::{Database, Pool, QueryBuilder, Transaction};
use uuid::Uuid;

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

    /// Lets the retention purge delete one incident's timeline (`$1`), past
    /// the triggers that refuse every other deletion, for the rest of the
    /// transaction only.
    async fn grant_purge(
        conn: &mut <Self::Db as Database>::Connection,
        incident_id: Uuid,
    ) -> Result<(), sqlx::Error>;

    /// Ends [`Backend::grant_purge`] before the transaction does.
    async fn end_purge(
        conn: &mut <Self::Db as Database>::Connection,
        incident_id: Uuid,
    ) -> Result<(), sqlx::Error>;
}
