//! The one implementation of the store, split by aggregate. It is compiled
//! once per backend (`sqlite.rs`, `postgres.rs`), each of which provides
//! `SqlStore` (its pool), `Conn` (its connection type) and its
//! [`Backend`](super::backend::Backend): what differs between the engines.
//! Both engines accept the same SQL, `$1` placeholders included.

use super::{Conn, Db, SqlStore};

/// Rows in one statement at most: SQLite takes up to 32,766 parameters.
///
/// A statement built for a number of rows (`QueryBuilder`) is prepared for
/// one use (`persistent(false)`): cached, every count would be a statement
/// of its own on every connection (7 MiB of a SQLite server's memory after
/// 2,000 acknowledgements, benches/acks.rs). Lists of ids are the backend's
/// to say ([`Backend::push_ids_in`](super::backend::Backend::push_ids_in)).
const ROWS_PER_STATEMENT: usize = 500;

/// The outbox's waiting messages: not yet sent nor given up on, and not
/// held for later (a briefing's reminders, never attempted and due later
/// than they were written). Outbox depth and age count these alone. A macro
/// so that queries stay literals.
macro_rules! waiting_messages {
    () => {
        "status = 'pending' AND (attempts > 0 OR next_attempt_at <= created_at)"
    };
}

#[path = "sql/admin.rs"]
mod admin;
#[path = "sql/effects.rs"]
mod effects;
#[path = "sql/incidents.rs"]
mod incidents;
#[path = "sql/outbox.rs"]
mod outbox;
#[path = "sql/retention.rs"]
mod retention;
#[path = "sql/rows.rs"]
mod rows;
#[path = "sql/signals.rs"]
mod signals;
#[path = "sql/staff.rs"]
mod staff;
#[path = "sql/timeline.rs"]
mod timeline;
#[path = "sql/timers.rs"]
mod timers;
#[path = "sql/writer.rs"]
pub(super) mod writer;
