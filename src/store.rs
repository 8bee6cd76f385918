//! Persistence: one implementation over SQLite (the embedded default) and
//! PostgreSQL (several replicas), chosen by the database URL's scheme.
//!
//! The engine and the delivery worker hold an `Arc<dyn Store>`; neither knows
//! which database is behind it. [`Store`] is the sum of one trait per
//! aggregate ([`IncidentStore`], [`TimelineStore`], [`OutboxStore`],
//! [`TimerStore`], [`StaffStore`], [`RetentionStore`], [`AdminStore`]). Their
//! implementation lives in `store/sql/`, one file per aggregate, compiled once
//! per backend so that each binds and decodes its native column types (both
//! engines accept the same SQL, `$1` placeholders included). What differs
//! between the engines is named in [`backend::Backend`].
//!
//! Locks are taken in one order everywhere: an incident, then its rows
//! (tasks, timers, outbox, events).

mod backend;
mod postgres;
mod sqlite;

use std::collections::HashSet;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::auth::audit::AuditEntry;
use crate::auth::{ApiToken, Role, Session, User};
use crate::domain::briefing::{NewRecipient, Share};
use crate::domain::chase::{DueTimer, NewTimer};
use crate::domain::regulatory::IncidentClock;
use crate::domain::signal::PendingSignal;
use crate::domain::statement::IncidentStatements;
use crate::domain::{
    Actor, Channel, DomainError, Event, EventData, IdempotencyClaim, Incident, IncidentFilter,
    IncidentSummary, LinkToken, MessageRecord, NewMessage, Notice, PurgeRecord, TokenKind,
};
use crate::timeline::{ChainHead, ChainedEvent};

pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("unsupported database URL {0:?}: expected sqlite://PATH or postgres://...")]
    UnsupportedUrl(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("stored data is not valid: {0}")]
    Corrupt(String),
}

/// Why an update did not happen.
#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    #[error("no such incident")]
    NotFound,
    #[error(transparent)]
    Refused(#[from] DomainError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for UpdateError {
    fn from(error: sqlx::Error) -> Self {
        UpdateError::Store(StoreError::Database(error))
    }
}

/// What a change wrote: its events, and the messages and timers they call for.
#[derive(Debug, Default)]
pub struct Effects {
    pub events: Vec<EventData>,
    pub messages: Vec<NewMessage>,
    pub timers: Vec<NewTimer>,
    /// A briefing's recipients, kept apart from the incident.
    pub recipients: Vec<NewRecipient>,
    /// Sent messages a bounce returned: marked so on their outbox rows.
    pub bounced: Vec<Uuid>,
}

/// A domain change applied to an incident inside the store's transaction.
/// Returning no event means nothing changed, and nothing is written. It may
/// run more than once (changes are written in groups, and a group that
/// fails is retried a change at a time), so it must be pure: the same
/// incident in, the same incident and effects out.
pub type Change = Box<dyn Fn(&mut Incident) -> Result<Effects, DomainError> + Send + Sync>;

/// What an update wrote.
#[derive(Debug)]
pub struct Updated {
    pub incident: Incident,
    /// Its events; none when nothing changed.
    pub events: Vec<EventData>,
    /// Whether it queued messages for delivery.
    pub queued_messages: bool,
}

/// What firing a due timer does, decided inside the store's transaction.
pub enum TimerOutcome {
    /// What it chased was answered: the timer stops, nothing is written.
    Cancel,
    /// Write these effects; climb to the next rung at `next_at`, or stop.
    Fire {
        effects: Effects,
        next_at: Option<DateTime<Utc>>,
    },
}

/// The decision for a due timer, given its incident as it is now.
pub type TimerRule<'a> = &'a (dyn Fn(&Incident, &DueTimer) -> TimerOutcome + Send + Sync);

/// A timer the store handled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fired {
    pub timer: DueTimer,
    pub cancelled: bool,
}

/// A message a worker has claimed: it alone may deliver it until its lease ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedMessage {
    pub id: Uuid,
    pub incident_id: Uuid,
    pub channel: Channel,
    pub recipient: String,
    pub department: Option<String>,
    pub notice: Notice,
    /// Including this one.
    pub attempts: i64,
}

/// A claimed message whose stored row this release cannot read (a notice
/// kind or channel written by a newer release, say): it cannot be sent, but
/// it must not hold back the others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable {
    pub id: Uuid,
    pub incident_id: Uuid,
    /// As stored.
    pub channel: String,
    pub recipient: String,
    pub attempts: i64,
    pub reason: String,
}

/// How one delivery attempt went, and the timeline event recording it.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub message_id: Uuid,
    pub claim: Uuid,
    pub incident_id: Uuid,
    pub at: DateTime<Utc>,
    pub outcome: AttemptOutcome,
    pub event: EventData,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptOutcome {
    Sent {
        receipt: String,
    },
    /// Not sent, and never will be: it no longer had a reason to go.
    Cancelled {
        reason: String,
    },
    Retry {
        error: String,
        at: DateTime<Utc>,
    },
    GaveUp {
        error: String,
    },
}

/// What every replica reports alike, read from the database at scrape time.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Gauges {
    pub open_by_severity: Vec<(String, i64)>,
    pub tasks_overdue: i64,
    pub outbox_depth: i64,
    pub oldest_pending: Option<DateTime<Utc>>,
    /// The earliest due time of a message no worker holds: long past, and
    /// nobody is delivering.
    pub oldest_unclaimed_due: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inserted {
    Created,
    /// The key was used before; here is the incident it created.
    Replayed {
        incident_id: Uuid,
        same_request: bool,
    },
}

/// Incidents, their departments and tasks.
#[async_trait]
pub trait IncidentStore: Send + Sync {
    /// Inserts a new incident and its opening effects, unless `claim` names a
    /// key already used, in which case nothing is written.
    async fn insert_incident(
        &self,
        incident: &Incident,
        opened: Effects,
        actor: &Actor,
        claim: Option<&IdempotencyClaim>,
    ) -> Result<Inserted, StoreError>;

    /// Locks the incident, applies `change`, and writes the new state with
    /// its effects in one transaction.
    async fn update_incident(
        &self,
        id: Uuid,
        actor: Actor,
        now: DateTime<Utc>,
        change: Change,
    ) -> Result<Updated, UpdateError>;

    /// As [`IncidentStore::update_incident`], once per `key` (an inbound
    /// message's): None, and nothing written, if a change claimed the key
    /// before, whichever replica or intake wrote it.
    async fn update_incident_once(
        &self,
        id: Uuid,
        key: String,
        actor: Actor,
        now: DateTime<Utc>,
        change: Change,
    ) -> Result<Option<Updated>, UpdateError>;

    /// One incident, read whole from one snapshot.
    async fn incident(&self, id: Uuid) -> Result<Option<Incident>, StoreError>;

    /// Newest first, as lists show them.
    async fn incidents(&self, filter: IncidentFilter) -> Result<Vec<IncidentSummary>, StoreError>;

    /// Every regulatory clock still to be answered, soonest first, open
    /// incident or resolved (the law's deadlines outlive the crisis); at
    /// most `limit` incidents' worth.
    async fn running_clocks(&self, limit: u32) -> Result<Vec<IncidentClock>, StoreError>;

    /// Records that `email` confirmed reading a briefing, with `event`,
    /// unless they already had: false then, and nothing is written.
    async fn confirm_briefing(
        &self,
        incident_id: Uuid,
        briefing_id: Uuid,
        email: &str,
        actor: &Actor,
        at: DateTime<Utc>,
        event: EventData,
    ) -> Result<bool, StoreError>;

    /// When `email` confirmed reading a briefing, if they did.
    async fn briefing_confirmed(
        &self,
        briefing_id: Uuid,
        email: &str,
    ) -> Result<Option<DateTime<Utc>>, StoreError>;

    /// A briefing's recipients and confirmations, per department.
    async fn briefing_shares(&self, briefing_id: Uuid) -> Result<Vec<Share>, StoreError>;

    /// The statements of incidents that published one, the latest
    /// publication first; at most `limit` incidents.
    async fn published_statements(&self, limit: u32)
    -> Result<Vec<IncidentStatements>, StoreError>;
}

/// The key a signal claims with the incident it opens.
#[derive(Debug, Clone)]
pub struct SignalClaim {
    pub source: String,
    pub dedup_key: String,
    /// The waiting signal this opening confirms, and who confirmed it: it
    /// is marked confirmed in the same transaction.
    pub confirms: Option<(Uuid, String)>,
}

/// What claiming a signal's key with a new incident did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claimed {
    /// The incident is stored and holds the key.
    Opened,
    /// The key's incident is open: nothing was written; join this one.
    Held(Uuid),
    /// The waiting signal was confirmed by someone else first: nothing
    /// was written.
    AlreadyConfirmed,
}

/// A confirmation mail a worker claimed: the waiting signal and where to send it.
#[derive(Debug, Clone)]
pub struct SignalMail {
    pub pending: PendingSignal,
    /// Including this one.
    pub attempt: i64,
}

/// Signals: the keys that deduplicate them, and those waiting for the
/// commander.
#[async_trait]
pub trait SignalStore: Send + Sync {
    /// Inserts an incident a signal opens and its opening effects, and
    /// claims the signal's key for it, in one transaction; unless the key's
    /// incident is open (or confirmation came first): then nothing is written.
    async fn open_for_signal(
        &self,
        incident: &Incident,
        opened: Effects,
        actor: &Actor,
        claim: &SignalClaim,
    ) -> Result<Claimed, StoreError>;

    /// The incident a key last opened or joined, if its incident is open.
    async fn open_signal_incident(
        &self,
        source: &str,
        dedup_key: &str,
    ) -> Result<Option<Uuid>, StoreError>;

    /// Stores a signal to confirm, with its mail to its commander due now,
    /// unless one with its key is waiting already: that one counts a repeat
    /// instead. The id of the one waiting, and whether it is this one.
    async fn wait_for_confirmation(
        &self,
        pending: &PendingSignal,
    ) -> Result<(Uuid, bool), StoreError>;

    /// A waiting (or confirmed) signal by its link's secret hash.
    async fn pending_signal(&self, secret_hash: &str) -> Result<Option<PendingSignal>, StoreError>;

    /// Marks a waiting signal confirmed, joining `incident_id`; false if it
    /// was confirmed already.
    async fn confirm_signal(
        &self,
        id: Uuid,
        incident_id: Uuid,
        by: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Claims the earliest confirmation mail due at `now` that no worker
    /// holds, until `lease_until`, and keeps `secret_hash` as its link's
    /// before the mail leaves: a click on arrival finds it (an earlier
    /// attempt's link stops working).
    async fn claim_signal_mail(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        secret_hash: &str,
    ) -> Result<Option<SignalMail>, StoreError>;

    /// Records an attempt to send a confirmation mail: sent (Ok), or failed
    /// with the error and when to retry, if ever; only while the claim that
    /// stored `secret_hash` still holds the row (a worker whose lease ran
    /// out and was taken over records nothing).
    async fn record_signal_mail(
        &self,
        id: Uuid,
        secret_hash: &str,
        outcome: Result<(), (&str, Option<DateTime<Utc>>)>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
}

/// The hash-chained timeline and the key that signs its heads.
#[async_trait]
pub trait TimelineStore: Send + Sync {
    /// The timeline, in sequence order; `None` if the incident does not exist.
    async fn timeline(&self, incident_id: Uuid) -> Result<Option<Vec<ChainedEvent>>, StoreError>;

    /// Up to `limit` events with `after_seq < seq <= up_to_seq`, in order.
    async fn timeline_page(
        &self,
        incident_id: Uuid,
        after_seq: i64,
        up_to_seq: i64,
        limit: u32,
    ) -> Result<Vec<ChainedEvent>, StoreError>;

    /// The incident's last event (or its genesis, before any).
    async fn chain_head(&self, incident_id: Uuid) -> Result<ChainHead, StoreError>;

    /// An incident's events of one kind, in order.
    async fn events_of_kind(&self, incident_id: Uuid, kind: &str)
    -> Result<Vec<Event>, StoreError>;

    /// The stored key that signs chain heads, as base64.
    async fn signing_key(&self) -> Result<Option<String>, StoreError>;

    /// Keeps `private_key` unless a key is stored already (another replica
    /// won the race); returns the key in force.
    async fn keep_signing_key(
        &self,
        private_key: &str,
        public_key: &str,
        now: DateTime<Utc>,
    ) -> Result<String, StoreError>;
}

/// The transactional outbox, and the links its emails carry.
#[async_trait]
pub trait OutboxStore: Send + Sync {
    /// Claims up to `limit` messages due at `now` for `lease_until`; rows
    /// another worker holds are skipped, so no message goes to two workers.
    /// Each row is read on its own: one this release cannot read comes back
    /// as [`Unreadable`], claimed like the rest.
    async fn claim_messages(
        &self,
        claim: Uuid,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Result<ClaimedMessage, Unreadable>>, StoreError>;

    /// Extends to `lease_until` the lease of every message `claim` still
    /// holds (claimed and not yet recorded); returns their ids. A message
    /// missing from them was recorded, or taken by another worker after the
    /// lease ran out.
    async fn renew_claim(
        &self,
        claim: Uuid,
        lease_until: DateTime<Utc>,
    ) -> Result<Vec<Uuid>, StoreError>;

    /// Records an attempt and its timeline event, if `attempt.claim` still
    /// holds the message; false (and nothing written) if it no longer does.
    async fn record_attempt(&self, attempt: &Attempt) -> Result<bool, StoreError>;

    /// Messages waiting: not yet sent nor given up on, and not held for
    /// later (a briefing's reminders wait for their hour, not for a worker).
    async fn outbox_depth(&self) -> Result<i64, StoreError>;

    /// The earliest due time of a message due at `now` that no worker
    /// holds: long past means nobody is delivering.
    async fn oldest_unclaimed_due(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, StoreError>;

    /// Outbox rows of an incident, oldest first.
    async fn messages(&self, incident_id: Uuid) -> Result<Vec<MessageRecord>, StoreError>;

    /// Stores the links minted for attempts to send messages (each with
    /// its message's id), and revokes those of each one's earlier attempts
    /// recorded as failed, all in one transaction, for the messages `claim`
    /// still holds; returns their ids (for the others nothing is written).
    /// Links of an attempt nobody recorded (its worker died) are kept: that
    /// email may well have arrived.
    async fn replace_links(
        &self,
        claim: Uuid,
        links: &[(Uuid, Vec<LinkToken>)],
    ) -> Result<HashSet<Uuid>, StoreError>;

    /// The live token of this kind with this hash: a link, or a reply key.
    async fn link(
        &self,
        secret_hash: &str,
        kind: TokenKind,
    ) -> Result<Option<LinkToken>, StoreError>;
}

/// Reminders and escalations, as rows with a due time and a version.
#[async_trait]
pub trait TimerStore: Send + Sync {
    /// Handles the earliest due timer whose incident no other worker holds,
    /// if any, in one transaction: locks the incident, then the timer (the
    /// order every writer takes), applies `rule`, writes what it decided and
    /// moves the timer on. A timer another worker moved meanwhile is left
    /// alone.
    async fn fire_timer(
        &self,
        now: DateTime<Utc>,
        rule: TimerRule<'_>,
    ) -> Result<Option<Fired>, StoreError>;

    /// Pending timers of an incident: what happens next, and when.
    async fn timers(&self, incident_id: Uuid) -> Result<Vec<DueTimer>, StoreError>;
}

/// People: API tokens, console users, sign-in links and sessions.
#[async_trait]
pub trait StaffStore: Send + Sync {
    /// Adds a console user, and `audit` with it.
    async fn insert_user(&self, user: &User, audit: &AuditEntry) -> Result<(), StoreError>;

    /// Every console user, by email address.
    async fn users(&self) -> Result<Vec<User>, StoreError>;

    async fn user(&self, id: Uuid) -> Result<Option<User>, StoreError>;

    /// Gives a user `role`, recorded as done by `actor`; a role that loses
    /// anything ends the user's sessions in the same transaction. The user
    /// as they were before, or None if there is no such user.
    async fn change_role(
        &self,
        id: Uuid,
        role: Role,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<Option<User>, StoreError>;

    /// Removes a user, their sessions and sign-in links, recorded as done by
    /// `actor`. The user removed, or None if there was none.
    async fn remove_user(
        &self,
        id: Uuid,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<Option<User>, StoreError>;

    async fn user_by_email(&self, email: &str) -> Result<Option<User>, StoreError>;

    async fn insert_sign_in_link(
        &self,
        secret_hash: &str,
        user_id: Uuid,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Uses a sign-in link: its user, once; None if unknown, used or expired.
    async fn use_sign_in_link(
        &self,
        secret_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<User>, StoreError>;

    /// Whether a sign-in link is still usable (for the page that shows its button).
    async fn sign_in_link_usable(
        &self,
        secret_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    async fn insert_session(
        &self,
        secret_hash: &str,
        user_id: Uuid,
        csrf_token: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    async fn session(
        &self,
        secret_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Session>, StoreError>;

    async fn end_session(&self, secret_hash: &str) -> Result<(), StoreError>;

    /// Stores a token, and `audit` with it.
    async fn insert_token(&self, token: &ApiToken, audit: &AuditEntry) -> Result<(), StoreError>;

    /// The token whose secret hashes to `secret_hash`, revoked or expired
    /// ones too: [`ApiToken::valid_at`] decides.
    async fn token_by_hash(&self, secret_hash: &str) -> Result<Option<ApiToken>, StoreError>;

    /// Every token, oldest first, revoked ones too.
    async fn tokens(&self) -> Result<Vec<ApiToken>, StoreError>;

    /// Records that a token was used at `now`.
    async fn touch_token(&self, id: Uuid, now: DateTime<Utc>) -> Result<(), StoreError>;

    /// Revokes a token, recorded as done by `actor` (once: revoking again
    /// changes and records nothing). The token as it is now, or None if
    /// there is no such token.
    async fn revoke_token(
        &self,
        id: Uuid,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<Option<ApiToken>, StoreError>;

    /// Stores `token` as the installation's first admin token, unless the
    /// installation was already set up (by another replica starting at the
    /// same moment, say) or holds tokens made otherwise. True if stored.
    async fn insert_first_admin(
        &self,
        token: &ApiToken,
        audit: &AuditEntry,
    ) -> Result<bool, StoreError>;

    /// The newest `limit` entries of the access audit log, newest first.
    async fn audit_log(&self, limit: u32) -> Result<Vec<AuditEntry>, StoreError>;
}

/// The retention purge and its log.
#[async_trait]
pub trait RetentionStore: Send + Sync {
    /// Deletes resolved incidents resolved before `cutoff` and not under
    /// legal hold, all their rows and timeline included, through the one
    /// deletion path the timeline's triggers accept; logs each in the
    /// append-only purge log.
    async fn purge_resolved_before(
        &self,
        cutoff: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Vec<PurgeRecord>, StoreError>;

    /// The purge log, oldest first.
    async fn purge_log(&self) -> Result<Vec<PurgeRecord>, StoreError>;
}

/// The database itself: its schema, and what operators probe.
#[async_trait]
pub trait AdminStore: Send + Sync {
    /// Applies pending migrations. Run explicitly at start and by `tocsin migrate`.
    async fn migrate(&self) -> Result<(), StoreError>;

    /// Whether this connection's role may change the schema: false for
    /// PostgreSQL's runtime role, which reads and writes rows only.
    async fn may_migrate(&self) -> Result<bool, StoreError>;

    /// Checks the database answers (for readiness probes).
    async fn ping(&self) -> Result<(), StoreError>;

    /// Whether every migration this binary knows has been applied.
    async fn migrations_applied(&self) -> Result<bool, StoreError>;

    /// The shared numbers a metrics scrape reports.
    async fn gauges(&self, now: DateTime<Utc>) -> Result<Gauges, StoreError>;

    /// Takes or renews the lease `name` for `holder` until `until`: true if
    /// `holder` has it now, false while another holder's has not expired.
    async fn hold_lease(
        &self,
        name: &str,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Gives the lease up, if `holder` has it, for another to take at once.
    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError>;
}

/// Everything tocsin keeps.
pub trait Store:
    IncidentStore
    + SignalStore
    + TimelineStore
    + OutboxStore
    + TimerStore
    + StaffStore
    + RetentionStore
    + AdminStore
{
}

impl<T> Store for T where
    T: IncidentStore
        + SignalStore
        + TimelineStore
        + OutboxStore
        + TimerStore
        + StaffStore
        + RetentionStore
        + AdminStore
{
}

/// Connects to the database the URL names, creating a SQLite file if needed.
/// Does not migrate: callers do that explicitly.
pub async fn connect(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::connect(url).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(PostgresStore::connect(url).await?))
    } else {
        Err(StoreError::UnsupportedUrl(crate::redact::redact_url(url)))
    }
}

/// Whether a failure is the database out of reach or overloaded (gone,
/// restarting, out of connections, busy past the timeout, out of disk):
/// worth trying again shortly, and no fault of the request or the code.
/// Looks through the error's causes for the database's own error.
pub fn unavailable(error: &(dyn std::error::Error + 'static)) -> bool {
    std::iter::successors(Some(error), |error| error.source()).any(|error| {
        error
            .downcast_ref::<sqlx::Error>()
            .is_some_and(database_unavailable)
    })
}

/// Logs a failure: a warning while the database is out of reach (the
/// outage is the database's, and passes), an error otherwise. Returns
/// whether it was an outage.
pub fn log_failure(error: &(dyn std::error::Error + 'static), context: &str) -> bool {
    let outage = unavailable(error);
    if outage {
        tracing::warn!(%error, "{context}: the database is unavailable");
    } else {
        tracing::error!(%error, "{context}");
    }
    outage
}

fn database_unavailable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(error) => {
            let Some(code) = error.code() else {
                return false;
            };
            if error
                .try_downcast_ref::<sqlx::sqlite::SqliteError>()
                .is_some()
            {
                // SQLITE_BUSY, _LOCKED, _IOERR, _FULL, _CANTOPEN, with
                // their extended codes (the primary code in the low byte).
                code.parse::<i32>()
                    .is_ok_and(|code| matches!(code & 0xff, 5 | 6 | 10 | 13 | 14))
            } else {
                // PostgreSQL: connection exceptions, the server shutting
                // down or not yet up, too many connections.
                code.starts_with("08") || matches!(&*code, "57P01" | "57P02" | "57P03" | "53300")
            }
        }
        _ => false,
    }
}

/// The file behind a SQLite URL; None for PostgreSQL or an in-memory database.
pub fn sqlite_path(url: &str) -> Option<std::path::PathBuf> {
    if !url.starts_with("sqlite:") {
        return None;
    }
    let options: sqlx::sqlite::SqliteConnectOptions = url.parse().ok()?;
    let path = options.get_filename();
    (!path.as_os_str().is_empty() && path != std::path::Path::new(":memory:"))
        .then(|| path.to_owned())
}

/// Role names are stored as text; anything else in the column is corruption.
fn parse_role(value: &str) -> Result<Role, StoreError> {
    value
        .parse()
        .map_err(|_| StoreError::Corrupt(format!("unknown role {value:?}")))
}
