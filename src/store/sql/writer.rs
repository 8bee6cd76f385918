//! Group commit. Changes to incidents (and briefing confirmations and
//! delivery attempts, which append to their chains, and changes made by
//! inbound mail, once per message) wait in a queue; a
//! writer task takes
//! every change waiting (up to [`BATCH`]), locks their incidents in one
//! statement (ascending ids, the order every writer takes), reads them and
//! their chain heads in one go, applies each change in queue order, writes
//! them all in one transaction and answers each caller after the commit.
//!
//! The guarantees of a single change hold for each in the group: it is
//! written with its events, messages and timers or not at all, the chain
//! stays gapless (a second change to one incident continues after the
//! first), and a change refused by the domain writes nothing. If the group's
//! transaction fails, each change is retried in a transaction of its own,
//! so that one bad change cannot fail the others.
//!
//! On PostgreSQL several writers run ([`Backend::WRITERS`]); an incident's
//! changes always go to the same one, so they stay in order.

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};

use chrono::{DateTime, Utc};
use sqlx::Pool;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use super::effects::Appended;
use super::{Db, SqlStore};
use crate::domain::{Actor, EventData, Incident};
use crate::store::backend::Backend;
use crate::store::{Attempt, Change, Effects, StoreError, UpdateError, Updated};
use crate::timeline::ChainHead;

/// Changes written in one transaction at most.
const BATCH: usize = 64;

/// Changes that may wait for a writer before callers wait to queue theirs.
const QUEUED: usize = 1024;

/// What a job writes to its incident.
enum Work {
    /// A domain change, with its effects.
    Change(Change),
    /// A change made by an inbound message: written only if no change
    /// claimed its key before (the same mail, arriving again).
    Once { key: String, change: Change },
    /// A briefing's recipient read it: their row, and the event, unless
    /// they had already confirmed. Grouped like changes, so that a whole
    /// staff confirming at once shares commits.
    Confirm {
        briefing_id: Uuid,
        email: String,
        event: Box<EventData>,
    },
    /// A delivery attempt: its outbox row and its event, if its claim still
    /// holds the message. Grouped so that a briefing to the whole staff
    /// records its sends as fast as the mail server takes them.
    Attempt(Box<Attempt>),
}

/// What a job wrote.
enum Done {
    Updated(Box<Updated>),
    /// A change whose key was already claimed: nothing was written.
    Duplicate,
    /// Whether the confirmation was new.
    Confirmed(bool),
    /// Whether the attempt's claim still held its message.
    Recorded(bool),
}

/// One job waiting to be written, and who waits for it.
pub(super) struct Job {
    id: Uuid,
    actor: Actor,
    now: DateTime<Utc>,
    work: Work,
    reply: oneshot::Sender<Result<Done, UpdateError>>,
}

/// The queues of the writer tasks.
pub(in crate::store) struct Writers(Vec<mpsc::Sender<Job>>);

impl Writers {
    /// Starts the writers over `pool`; they stop when the store is dropped.
    pub(in crate::store) fn spawn(pool: &Pool<Db>) -> Writers {
        Writers(
            (0..SqlStore::WRITERS.max(1))
                .map(|_| {
                    let (queue, jobs) = mpsc::channel(QUEUED);
                    tokio::spawn(run(pool.clone(), jobs));
                    queue
                })
                .collect(),
        )
    }

    /// Queues a change and waits until it is written (or refused).
    pub async fn write(
        &self,
        id: Uuid,
        actor: Actor,
        now: DateTime<Utc>,
        change: Change,
    ) -> Result<Updated, UpdateError> {
        match self.queue(id, actor, now, Work::Change(change)).await? {
            Done::Updated(updated) => Ok(*updated),
            _ => Err(stopped()),
        }
    }

    /// As [`Writers::write`], once per `key`: None if a change with this
    /// key was written before.
    pub async fn write_once(
        &self,
        id: Uuid,
        key: String,
        actor: Actor,
        now: DateTime<Utc>,
        change: Change,
    ) -> Result<Option<Updated>, UpdateError> {
        match self
            .queue(id, actor, now, Work::Once { key, change })
            .await?
        {
            Done::Updated(updated) => Ok(Some(*updated)),
            Done::Duplicate => Ok(None),
            _ => Err(stopped()),
        }
    }

    /// Queues a briefing confirmation; true once it is written, false if
    /// the recipient had already confirmed.
    pub async fn confirm(
        &self,
        id: Uuid,
        actor: Actor,
        now: DateTime<Utc>,
        (briefing_id, email): (Uuid, &str),
        event: EventData,
    ) -> Result<bool, UpdateError> {
        let work = Work::Confirm {
            briefing_id,
            email: email.to_owned(),
            event: Box::new(event),
        };
        match self.queue(id, actor, now, work).await? {
            Done::Confirmed(confirmed) => Ok(confirmed),
            _ => Err(stopped()),
        }
    }

    /// Queues a delivery attempt; true once it is written, false if its
    /// claim no longer held the message (or its incident is gone).
    pub async fn record(&self, attempt: Attempt) -> Result<bool, UpdateError> {
        let (id, at) = (attempt.incident_id, attempt.at);
        let work = Work::Attempt(Box::new(attempt));
        match self.queue(id, Actor::system("delivery"), at, work).await {
            Ok(Done::Recorded(recorded)) => Ok(recorded),
            Err(UpdateError::NotFound) => Ok(false),
            Ok(_) => Err(stopped()),
            Err(error) => Err(error),
        }
    }

    async fn queue(
        &self,
        id: Uuid,
        actor: Actor,
        now: DateTime<Utc>,
        work: Work,
    ) -> Result<Done, UpdateError> {
        let (reply, answer) = oneshot::channel();
        let job = Job {
            id,
            actor,
            now,
            work,
            reply,
        };
        // One writer per incident keeps its changes in order.
        let writer = &self.0[(id.as_u128() % self.0.len() as u128) as usize];
        writer.send(job).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

fn stopped() -> UpdateError {
    UpdateError::Store(StoreError::Corrupt("the store's writer stopped".to_owned()))
}

async fn run(pool: Pool<Db>, mut jobs: mpsc::Receiver<Job>) {
    while let Some(first) = jobs.recv().await {
        let mut batch = vec![first];
        while batch.len() < BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        match write_group(&pool, &batch).await {
            Ok(results) => {
                for (job, result) in batch.into_iter().zip(results) {
                    let _ = job.reply.send(result);
                }
            }
            Err(error) if batch.len() == 1 => {
                if let Some(job) = batch.pop() {
                    let _ = job.reply.send(Err(error.into()));
                }
            }
            Err(error) => {
                tracing::warn!(%error, changes = batch.len(), "a group of changes failed: writing them one by one");
                for job in batch {
                    let result = match write_group(&pool, std::slice::from_ref(&job)).await {
                        Ok(mut results) => results.pop().unwrap_or_else(|| Err(stopped())),
                        Err(error) => Err(error.into()),
                    };
                    let _ = job.reply.send(result);
                }
            }
        }
    }
}

/// Applies `jobs` in order in one transaction; the outer error means the
/// transaction failed and nothing was written.
async fn write_group(
    pool: &Pool<Db>,
    jobs: &[Job],
) -> Result<Vec<Result<Done, UpdateError>>, StoreError> {
    let mut tx = SqlStore::begin_write(pool).await?;
    let mut ids: Vec<Uuid> = jobs.iter().map(|job| job.id).collect();
    ids.sort();
    ids.dedup();
    SqlStore::lock_incidents(&mut tx, &ids).await?;
    // Confirmations and attempts only append to the chain: their incidents
    // are not read, and exist if they have a head.
    let mut changed_ids: Vec<Uuid> = jobs
        .iter()
        .filter(|job| matches!(job.work, Work::Change(_) | Work::Once { .. }))
        .map(|job| job.id)
        .collect();
    changed_ids.sort();
    changed_ids.dedup();
    let mut incidents: HashMap<Uuid, Incident> =
        super::incidents::load_incidents(&mut tx, &changed_ids)
            .await?
            .into_iter()
            .map(|incident| (incident.id, incident))
            .collect();
    let mut heads = super::timeline::chain_heads(&mut tx, &ids).await?;
    // Each change applies to the incident as the changes before it left it;
    // the rows are written once, for all of them, from where they started.
    let loaded = incidents.clone();
    let mut appended = Appended::default();
    let mut results = Vec::with_capacity(jobs.len());
    for job in jobs {
        if !heads.contains_key(&job.id) {
            results.push(Err(UpdateError::NotFound));
            continue;
        }
        let change = match &job.work {
            Work::Change(change) => change,
            Work::Once { key, change } => {
                let claimed = sqlx::query(
                    "INSERT INTO inbound_messages (dedup_key, incident_id, received_at) \
                     VALUES ($1, $2, $3) ON CONFLICT (dedup_key) DO NOTHING",
                )
                .bind(key)
                .bind(job.id)
                .bind(job.now)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                    == 1;
                if !claimed {
                    results.push(Ok(Done::Duplicate));
                    continue;
                }
                change
            }
            Work::Confirm {
                briefing_id,
                email,
                event,
            } => {
                let confirmed = sqlx::query(
                    "UPDATE briefing_recipients SET confirmed_at = $3 \
                     WHERE briefing_id = $1 AND email = $2 AND confirmed_at IS NULL",
                )
                .bind(briefing_id)
                .bind(email)
                .bind(job.now)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                    == 1;
                if confirmed {
                    append_event(&mut heads, &mut appended, job, event)?;
                }
                results.push(Ok(Done::Confirmed(confirmed)));
                continue;
            }
            Work::Attempt(attempt) => {
                let recorded = super::outbox::mark_attempt(&mut tx, attempt).await?;
                if recorded {
                    append_event(&mut heads, &mut appended, job, &attempt.event)?;
                }
                results.push(Ok(Done::Recorded(recorded)));
                continue;
            }
        };
        let Some(before) = incidents.get(&job.id) else {
            results.push(Err(UpdateError::NotFound));
            continue;
        };
        let mut after = before.clone();
        // Domain code does not panic; if it ever did, only its caller fails.
        let applied = catch_unwind(AssertUnwindSafe(|| change(&mut after)));
        let effects = match applied {
            Ok(Ok(effects)) => effects,
            Ok(Err(refused)) => {
                results.push(Err(UpdateError::Refused(refused)));
                continue;
            }
            Err(_) => {
                tracing::error!(incident = %job.id, "a change panicked; nothing of it was written");
                results.push(Err(stopped()));
                continue;
            }
        };
        if effects.events.is_empty() {
            results.push(Ok(Done::Updated(Box::new(Updated {
                incident: before.clone(),
                events: Vec::new(),
                queued_messages: false,
            }))));
            continue;
        }
        let events = effects.events.clone();
        let queued_messages = !effects.messages.is_empty();
        appended.add(head_of(&mut heads, job.id)?, &job.actor, job.now, effects);
        incidents.insert(job.id, after.clone());
        results.push(Ok(Done::Updated(Box::new(Updated {
            incident: after,
            events,
            queued_messages,
        }))));
    }
    let changed: Vec<(Option<&Incident>, &Incident)> = ids
        .iter()
        .filter_map(|id| {
            let (before, after) = (loaded.get(id)?, incidents.get(id)?);
            (before != after).then_some((Some(before), after))
        })
        .collect();
    super::incidents::write_incidents(&mut tx, &changed).await?;
    appended.write(&mut tx).await?;
    tx.commit().await?;
    Ok(results)
}

fn head_of(heads: &mut HashMap<Uuid, ChainHead>, id: Uuid) -> Result<&mut ChainHead, StoreError> {
    heads
        .get_mut(&id)
        .ok_or_else(|| StoreError::Corrupt("an incident without its opening event".into()))
}

/// Seals one event of `job` after its incident's head.
fn append_event(
    heads: &mut HashMap<Uuid, ChainHead>,
    appended: &mut Appended,
    job: &Job,
    event: &EventData,
) -> Result<(), StoreError> {
    let effects = Effects {
        events: vec![event.clone()],
        ..Effects::default()
    };
    appended.add(head_of(heads, job.id)?, &job.actor, job.now, effects);
    Ok(())
}
