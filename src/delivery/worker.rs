//! Delivery: claim due outbox rows, send them (concurrently, so one slow
//! recipient never holds back the others), record each attempt with its
//! timeline event, and retry with exponential backoff up to a limit.
//!
//! Any number of workers, in any number of processes, may run against one
//! database: a claim is a lease, so each message goes to one worker at a
//! time. The lease is short and renewed by a heartbeat while its send is
//! alive: a worker that dies loses its claims within one lease, and a slow
//! but live send keeps them however long it takes. A worker that finds its
//! lease lost stops sending and records nothing: the message is another's.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use lettre::message::Mailbox;
use reqwest::Url;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, oneshot, watch};
use tokio::task::JoinSet;
use uuid::Uuid;

use super::email::{self, Envelope, Mailer, ReplyKeys};
use super::render::{self, EmailInput, Renderer};
use super::webhook;
use crate::clock::Clock;
use crate::domain::chase::{self, ClockRef, Purpose, Rung, StatementRef};
use crate::domain::{Channel, EventData, Incident, LinkTarget, LinkToken, Notice, TokenKind};
use crate::endpoint::Endpoint;
use crate::playbook::Catalog;
use crate::secret::{hash_secret, random_secret};
use crate::store::{
    Attempt, AttemptOutcome, ClaimedMessage, SignalMail, Store, StoreError, Unreadable,
};

#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Wait before the second attempt; doubles each time after.
    pub first_retry: Duration,
    pub max_retry: Duration,
    /// Attempts in all, after which the message is marked failed.
    pub max_attempts: i64,
    /// How long a claim holds unless renewed: how long a dead worker's
    /// messages wait (the `delivery_lease` setting).
    pub lease: Duration,
    /// How often a live send renews its lease; at most a third of it (the
    /// `delivery_heartbeat` setting).
    pub heartbeat: Duration,
    /// Messages claimed at once; a worker holds two batches at most, so
    /// that the next is claimed and readied while the last is sending.
    pub batch: u32,
    /// Sends at once, in each batch.
    pub concurrency: usize,
    /// How often to look for due messages when nobody says there are some.
    pub poll: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            first_retry: Duration::from_secs(5),
            max_retry: Duration::from_secs(15 * 60),
            max_attempts: 8,
            lease: Duration::from_secs(15),
            heartbeat: Duration::from_secs(5),
            batch: 64,
            concurrency: 16,
            poll: Duration::from_millis(500),
        }
    }
}

impl RetryPolicy {
    fn retry_delay(&self, attempts: i64) -> Duration {
        let exponent = u32::try_from(attempts.saturating_sub(1))
            .unwrap_or(u32::MAX)
            .min(20);
        self.first_retry
            .saturating_mul(2u32.saturating_pow(exponent))
            .min(self.max_retry)
    }
}

/// What the heartbeat last learned of one claim's lease.
#[derive(Debug, Default)]
struct Lease {
    /// The messages the claim still held at the last renewal; None before.
    held: Option<HashSet<Uuid>>,
    /// Renewals failed until the lease could run out: nothing is held.
    expired: bool,
}

impl Lease {
    /// Whether `id`, still being sent, may now be another worker's: its row
    /// holds the claim until its attempt is recorded, so missing from a
    /// renewal means it was taken.
    fn lost(&self, id: Uuid) -> bool {
        self.expired || self.held.as_ref().is_some_and(|held| !held.contains(&id))
    }
}

/// Why a claimed message did not go out.
enum Skip {
    Cancelled(String),
    Failed(Failure),
}

/// Why one attempt failed, and whether trying again may help.
#[derive(Debug, Clone)]
struct Failure {
    retryable: bool,
    reason: String,
}

impl Failure {
    fn permanent(reason: impl Into<String>) -> Failure {
        Failure {
            retryable: false,
            reason: reason.into(),
        }
    }

    fn transient(reason: impl Into<String>) -> Failure {
        Failure {
            retryable: true,
            reason: reason.into(),
        }
    }
}

/// Cheap to clone: a clone shares the store, mailer and renderer (tests and
/// benches clone it with another policy).
#[derive(Clone)]
pub struct Delivery {
    pub store: Arc<dyn Store>,
    pub catalog: Arc<Catalog>,
    pub mailer: Arc<Mailer>,
    pub from: Mailbox,
    pub webhooks: HashMap<String, Endpoint>,
    pub http: reqwest::Client,
    pub renderer: Arc<Renderer>,
    pub clock: Arc<dyn Clock>,
    pub public_url: Url,
    pub policy: RetryPolicy,
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Where replies come back, and their keys; None: mails carry none.
    pub replies: Option<ReplyKeys>,
}

/// The links one email carries, each minted for this sending.
#[derive(Debug, Default)]
struct Links {
    /// Acknowledge for the department as a whole.
    department: Option<String>,
    /// Acknowledge, complete or skip one item.
    tasks: HashMap<Uuid, String>,
    /// Answer what the message asks: approve a statement, or confirm
    /// reading a briefing.
    answer: Option<String>,
    /// The secret a reply to the email answers with (see `reply_key`).
    reply_key: Option<String>,
}

/// An incident as a batch read it once for all its messages.
#[derive(Clone)]
struct Snapshot {
    incident: Arc<Incident>,
    /// The chain head as the emails' header gives it.
    chain_head: Arc<str>,
}

/// A claimed message, readied for its send.
enum Ready {
    /// Not to be sent: recorded as this.
    Skip(Skip),
    /// With the links stored for this sending.
    Email(Snapshot, Links),
    Webhook(Snapshot),
}

/// How long a worker holds a signal's confirmation mail: longer than an
/// SMTP connection and send may take (30 s and 60 s at most), since this
/// lease is not renewed; a dead worker's mail waits that long.
const SIGNAL_MAIL_LEASE: chrono::Duration = chrono::Duration::minutes(2);

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    pub claimed: usize,
    pub sent: usize,
    pub retrying: usize,
    pub failed: usize,
    pub cancelled: usize,
}

impl Delivery {
    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    fn lease(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.policy.lease).unwrap_or(chrono::Duration::MAX)
    }

    /// One pass: claim what is due, deliver it concurrently, record it.
    pub async fn step(&self) -> Result<Step, StoreError> {
        let (claim, batch) = self.claim(self.policy.batch).await?;
        let mut step = self.deliver_batch(claim, batch, Vec::new()).await;
        let signals = self.signal_mails().await?;
        step.claimed += signals.claimed;
        step.sent += signals.sent;
        step.retrying += signals.retrying;
        step.failed += signals.failed;
        Ok(step)
    }

    /// Sends the confirmation mails of signals waiting for the commander,
    /// one at a time: there is one per noisy alert at most, not a flood.
    async fn signal_mails(&self) -> Result<Step, StoreError> {
        let mut step = Step::default();
        for _ in 0..self.policy.batch.max(1) {
            let now = self.now();
            // The mail waits for the next pass rather than go without a link.
            let secret = match random_secret() {
                Ok(secret) => secret,
                Err(error) => {
                    tracing::error!(%error, "no random secret for a signal confirmation link");
                    break;
                }
            };
            let secret_hash = hash_secret(&secret);
            let Some(mail) = self
                .store
                .claim_signal_mail(now, now + SIGNAL_MAIL_LEASE, &secret_hash)
                .await?
            else {
                break;
            };
            step.claimed += 1;
            let id = mail.pending.id;
            let outcome = match self.send_signal_mail(&mail, &secret).await {
                Ok(()) => {
                    step.sent += 1;
                    self.store
                        .record_signal_mail(id, &secret_hash, Ok(()), self.now())
                        .await
                }
                Err(failure) => {
                    let retry_at = (failure.retryable && mail.attempt < self.policy.max_attempts)
                        .then(|| {
                            self.now()
                                + chrono::Duration::from_std(self.policy.retry_delay(mail.attempt))
                                    .unwrap_or(chrono::Duration::MAX)
                        });
                    if retry_at.is_some() {
                        step.retrying += 1;
                    } else {
                        step.failed += 1;
                    }
                    tracing::warn!(signal = %id, error = %failure.reason, "signal confirmation mail failed");
                    self.store
                        .record_signal_mail(
                            id,
                            &secret_hash,
                            Err((&failure.reason, retry_at)),
                            self.now(),
                        )
                        .await
                }
            };
            outcome?;
        }
        Ok(step)
    }

    /// Mails the commander the link (whose secret the claim stored hashed)
    /// to confirm a waiting signal.
    async fn send_signal_mail(&self, mail: &SignalMail, secret: &str) -> Result<(), Failure> {
        let pending = &mail.pending;
        let url = format!(
            "{}/signals/confirm/{secret}",
            self.public_url.as_str().trim_end_matches('/')
        );
        let source = self
            .catalog
            .signal_source(&pending.source)
            .map_or(pending.source.as_str(), |source| source.title.as_str());
        let scenario = self
            .catalog
            .scenario(&pending.scenario)
            .map_or(pending.scenario.as_str(), |scenario| {
                scenario.title.as_str()
            });
        let mut text = format!(
            "{source} sent a signal that the playbooks say to confirm before anyone else is woken:\n\n\
             {}\n",
            pending.title
        );
        if let Some(body) = &pending.body {
            text.push_str(&format!("\n{body}\n"));
        }
        if let Some(link) = &pending.link {
            text.push_str(&format!("\nIn {source}: {link}\n"));
        }
        text.push_str(&format!(
            "\nConfirming opens an incident \"{scenario}\" at severity {} and notifies its \
             departments. Open this link to see it and confirm (opening it changes nothing):\n\n\
             {url}\n\nDeduplication key: {}. Received {} from {}.\n",
            pending.severity,
            pending.dedup_key,
            render::when(pending.received_at),
            pending.received_by
        ));
        let domain = self.public_url.host_str().unwrap_or("localhost");
        let email = email::build_plain(
            &self.from,
            &pending.commander,
            pending.id,
            domain,
            &format!(
                "[{}] Confirm? {}",
                self.catalog.organisation().name,
                pending.title
            ),
            text,
        )
        .map_err(|error| Failure::permanent(error.to_string()))?;
        self.mailer.send(email).await.map_err(|failure| Failure {
            retryable: failure.retryable,
            reason: failure.reason,
        })?;
        Ok(())
    }

    async fn claim(
        &self,
        limit: u32,
    ) -> Result<(Uuid, Vec<Result<ClaimedMessage, Unreadable>>), StoreError> {
        let claim = Uuid::now_v7();
        let now = self.now();
        let batch = self
            .store
            .claim_messages(claim, now, now + self.lease(), limit)
            .await?;
        Ok((claim, batch))
    }

    /// Delivers a claimed batch concurrently and records each attempt,
    /// renewing the claim's lease every heartbeat until the last is done.
    /// Each message gives back one of `slots` (if any) as soon as it is done.
    async fn deliver_batch(
        &self,
        claim: Uuid,
        batch: Vec<Result<ClaimedMessage, Unreadable>>,
        mut slots: Vec<OwnedSemaphorePermit>,
    ) -> Step {
        let mut step = Step {
            claimed: batch.len(),
            ..Step::default()
        };
        if batch.is_empty() {
            return step;
        }
        let (lease, watched) = watch::channel(Lease::default());
        let (done, finished) = oneshot::channel::<()>();
        let sending = async {
            let batch: Vec<_> = self
                .prepare(claim, batch)
                .await
                .into_iter()
                .map(|message| (message, slots.pop(), watched.clone()))
                .collect();
            let outcomes: Vec<Option<AttemptOutcome>> = futures_util::stream::iter(batch)
                .map(|(message, slot, lease)| async move {
                    let outcome = match message {
                        Ok((message, ready)) => self.deliver(claim, message, ready, lease).await,
                        Err(unreadable) => self.quarantine(claim, unreadable).await,
                    };
                    drop(slot);
                    outcome
                })
                .buffer_unordered(self.policy.concurrency.max(1))
                .collect()
                .await;
            let _ = done.send(());
            outcomes
        };
        let (outcomes, ()) = tokio::join!(sending, self.heartbeat(claim, &lease, finished));
        for outcome in outcomes.into_iter().flatten() {
            match outcome {
                AttemptOutcome::Sent { .. } => step.sent += 1,
                AttemptOutcome::Retry { .. } => step.retrying += 1,
                AttemptOutcome::GaveUp { .. } => step.failed += 1,
                AttemptOutcome::Cancelled { .. } => step.cancelled += 1,
            }
        }
        step
    }

    /// Renews the claim's lease every heartbeat until `finished`, telling
    /// the sends through `lease` which messages it no longer holds.
    async fn heartbeat(
        &self,
        claim: Uuid,
        lease: &watch::Sender<Lease>,
        mut finished: oneshot::Receiver<()>,
    ) {
        let every = self.policy.heartbeat.max(Duration::from_millis(1));
        let mut beat = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Measured from before the claim's last write: never later than the
        // lease the database holds.
        let mut held_until = tokio::time::Instant::now() + self.policy.lease;
        loop {
            tokio::select! {
                _ = &mut finished => return,
                _ = beat.tick() => {}
            }
            let asked = tokio::time::Instant::now();
            match self
                .store
                .renew_claim(claim, self.now() + self.lease())
                .await
            {
                Ok(held) => {
                    held_until = asked + self.policy.lease;
                    lease.send_modify(|lease| lease.held = Some(held.into_iter().collect()));
                }
                Err(error) => {
                    crate::store::log_failure(&error, "cannot renew a delivery lease");
                    // The next renewal could land after the lease ran out
                    // and another worker took the messages.
                    if tokio::time::Instant::now() + every >= held_until {
                        lease.send_modify(|lease| lease.expired = true);
                    }
                }
            }
        }
    }

    /// A stored message this release cannot read is given up on at once,
    /// with the reason on its incident's timeline, so that it holds back no
    /// other message and stays visible.
    async fn quarantine(&self, claim: Uuid, message: Unreadable) -> Option<AttemptOutcome> {
        let error = format!(
            "this release cannot read the stored message: {}",
            message.reason
        );
        tracing::error!(message = %message.id, %error, "message quarantined");
        let attempt = Attempt {
            message_id: message.id,
            claim,
            incident_id: message.incident_id,
            at: self.now(),
            outcome: AttemptOutcome::GaveUp {
                error: error.clone(),
            },
            event: EventData::MessageFailed {
                message_id: message.id,
                channel: message.channel.clone(),
                recipient: message.recipient,
                attempt: message.attempts,
                error,
                retry_at: None,
            },
        };
        self.record(attempt, &message.channel).await
    }

    /// Readies a claimed batch for sending with a few reads and one write
    /// for all of it, rather than for each message: reads each incident
    /// and its chain head once, checks every message is still wanted, and
    /// stores the links of every email in one transaction.
    async fn prepare(
        &self,
        claim: Uuid,
        batch: Vec<Result<ClaimedMessage, Unreadable>>,
    ) -> Vec<Result<(ClaimedMessage, Ready), Unreadable>> {
        let mut incidents: HashMap<Uuid, Result<Snapshot, Failure>> = HashMap::new();
        for message in batch.iter().flatten() {
            if let Entry::Vacant(slot) = incidents.entry(message.incident_id) {
                slot.insert(self.snapshot(message.incident_id).await);
            }
        }
        let mut prepared = Vec::with_capacity(batch.len());
        let mut minted = Vec::new();
        for message in batch {
            let message = match message {
                Ok(message) => message,
                Err(unreadable) => {
                    prepared.push(Err(unreadable));
                    continue;
                }
            };
            let ready = match &incidents[&message.incident_id] {
                Err(failure) => Ready::Skip(Skip::Failed(failure.clone())),
                Ok(snapshot) => match self.still_wanted(&message, &snapshot.incident).await {
                    Err(reason) => Ready::Skip(Skip::Cancelled(reason)),
                    Ok(()) => match message.channel {
                        Channel::Webhook => Ready::Webhook(snapshot.clone()),
                        Channel::Email => match self.mint_links(&snapshot.incident, &message) {
                            Err(failure) => Ready::Skip(Skip::Failed(failure)),
                            Ok((links, tokens)) => {
                                if !tokens.is_empty() {
                                    minted.push((message.id, tokens));
                                }
                                Ready::Email(snapshot.clone(), links)
                            }
                        },
                    },
                },
            };
            prepared.push(Ok((message, ready)));
        }
        if minted.is_empty() {
            return prepared;
        }
        // An email whose links are not stored must not go out: they would
        // not work.
        let unstored: HashMap<Uuid, Failure> = match self.store.replace_links(claim, &minted).await
        {
            Ok(held) => minted
                .iter()
                .filter(|(id, _)| !held.contains(id))
                // Not recorded either: the claim that would record it is gone.
                .map(|(id, _)| (*id, Failure::transient("the lease on the message was lost")))
                .collect(),
            Err(error) => {
                let failure = Failure::transient(format!("cannot store links: {error}"));
                minted
                    .iter()
                    .map(|(id, _)| (*id, failure.clone()))
                    .collect()
            }
        };
        for (message, ready) in prepared.iter_mut().flatten() {
            if let Some(failure) = unstored.get(&message.id) {
                *ready = Ready::Skip(Skip::Failed(failure.clone()));
            }
        }
        prepared
    }

    /// Delivers one readied message and records the attempt; None if the
    /// record could not be written (the lease ends and the message is
    /// retried), or if the lease was lost mid-send (the send stops: another
    /// worker holds the message, and it is theirs to send and record).
    async fn deliver(
        &self,
        claim: Uuid,
        message: ClaimedMessage,
        ready: Ready,
        mut lease: watch::Receiver<Lease>,
    ) -> Option<AttemptOutcome> {
        let sending = async {
            match ready {
                Ready::Skip(skip) => Err(skip),
                Ready::Email(snapshot, links) => self
                    .send_email(&message, &snapshot, &links)
                    .await
                    .map_err(Skip::Failed),
                Ready::Webhook(snapshot) => self
                    .send_webhook(&message, &snapshot.incident)
                    .await
                    .map_err(Skip::Failed),
            }
        };
        let result = tokio::select! {
            result = sending => result,
            _ = lease.wait_for(|lease| lease.lost(message.id)) => {
                tracing::warn!(message = %message.id, channel = %message.channel,
                    "lease lost mid-send: stopped, left to the worker that holds it now");
                return None;
            }
        };
        let at = self.now();
        let (outcome, event) = match result {
            Err(Skip::Cancelled(reason)) => (
                AttemptOutcome::Cancelled {
                    reason: reason.clone(),
                },
                EventData::MessageCancelled {
                    message_id: message.id,
                    recipient: message.recipient.clone(),
                    reason,
                },
            ),
            Ok(receipt) => (
                AttemptOutcome::Sent {
                    receipt: receipt.clone(),
                },
                EventData::MessageSent {
                    message_id: message.id,
                    channel: message.channel.to_string(),
                    recipient: message.recipient.clone(),
                    attempt: message.attempts,
                    receipt,
                },
            ),
            Err(Skip::Failed(failure)) => {
                let retry_at = (failure.retryable && message.attempts < self.policy.max_attempts)
                    .then(|| {
                        let delay = self.policy.retry_delay(message.attempts);
                        at + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::MAX)
                    });
                if retry_at.is_none() {
                    tracing::warn!(message = %message.id, recipient = %message.recipient,
                        error = %failure.reason, "giving up on a message");
                }
                let outcome = match retry_at {
                    Some(retry) => AttemptOutcome::Retry {
                        error: failure.reason.clone(),
                        at: retry,
                    },
                    None => AttemptOutcome::GaveUp {
                        error: failure.reason.clone(),
                    },
                };
                let event = EventData::MessageFailed {
                    message_id: message.id,
                    channel: message.channel.to_string(),
                    recipient: message.recipient.clone(),
                    attempt: message.attempts,
                    error: failure.reason,
                    retry_at,
                };
                (outcome, event)
            }
        };
        let attempt = Attempt {
            message_id: message.id,
            claim,
            incident_id: message.incident_id,
            at,
            outcome,
            event,
        };
        self.record(attempt, message.channel.as_str()).await
    }

    /// Records an attempt and counts it; None if it could not be recorded.
    async fn record(&self, attempt: Attempt, channel: &str) -> Option<AttemptOutcome> {
        match self.store.record_attempt(&attempt).await {
            Ok(true) => {
                let counted = match &attempt.outcome {
                    AttemptOutcome::Sent { .. } => "sent",
                    AttemptOutcome::Cancelled { .. } => "cancelled",
                    AttemptOutcome::Retry { .. } | AttemptOutcome::GaveUp { .. } => "failed",
                };
                self.metrics.delivery(channel, counted);
                Some(attempt.outcome)
            }
            Ok(false) => {
                tracing::warn!(message = %attempt.message_id, "lease lost before the attempt was recorded");
                None
            }
            Err(error) => {
                tracing::error!(message = %attempt.message_id, %error, "cannot record a delivery attempt");
                None
            }
        }
    }

    /// A chase is checked again at the moment of sending: once the answer
    /// has come, no reminder goes out, even one already queued.
    async fn still_wanted(
        &self,
        message: &ClaimedMessage,
        incident: &Incident,
    ) -> Result<(), String> {
        if let Notice::BriefingReminder { briefing_id } = &message.notice {
            // If it cannot be read now, sending decides (and retries).
            return match self
                .store
                .briefing_confirmed(*briefing_id, &message.recipient)
                .await
            {
                Ok(Some(_)) => Err("confirmed before the reminder was sent".to_owned()),
                _ => Ok(()),
            };
        }
        let (purpose, task_id, clock, statement) = match &message.notice {
            Notice::Chase {
                purpose, task_id, ..
            } => (*purpose, *task_id, None, None),
            Notice::Approval {
                statement_id,
                version,
                ..
            } => {
                let asked = StatementRef {
                    id: *statement_id,
                    version: *version,
                };
                (Purpose::Approve, None, None, Some(asked))
            }
            Notice::Deadline {
                regime,
                step,
                deadline,
                ..
            } => {
                let clock = ClockRef {
                    regime: regime.clone(),
                    step: step.clone(),
                    deadline: *deadline,
                };
                (Purpose::Report, None, Some(clock), None)
            }
            _ => return Ok(()),
        };
        let Some(department) = message.department.as_deref() else {
            return Ok(());
        };
        if chase::answered(
            incident,
            department,
            task_id,
            purpose,
            clock.as_ref(),
            statement,
        ) {
            Err("answered before the reminder was sent".to_owned())
        } else {
            Ok(())
        }
    }

    async fn snapshot(&self, id: Uuid) -> Result<Snapshot, Failure> {
        let incident = match self.store.incident(id).await {
            Ok(Some(incident)) => incident,
            Ok(None) => return Err(Failure::permanent("the incident no longer exists")),
            Err(error) => {
                return Err(Failure::transient(format!(
                    "cannot load the incident: {error}"
                )));
            }
        };
        let head = self.store.chain_head(id).await.map_err(|error| {
            Failure::transient(format!("cannot read the timeline head: {error}"))
        })?;
        Ok(Snapshot {
            incident: Arc::new(incident),
            chain_head: format!("seq={}; sha256={}", head.seq, head.hash).into(),
        })
    }

    async fn send_email(
        &self,
        message: &ClaimedMessage,
        Snapshot {
            incident,
            chain_head,
        }: &Snapshot,
        links: &Links,
    ) -> Result<String, Failure> {
        let department = message
            .department
            .as_deref()
            .and_then(|id| incident.departments.iter().find(|dept| dept.id == id));
        let scenario = self
            .catalog
            .scenario(&incident.scenario)
            .map(|s| s.title.as_str());
        let rendered = self
            .renderer
            .email(&EmailInput {
                incident,
                scenario_title: scenario,
                department,
                for_department: message.department.as_deref(),
                notice: &message.notice,
                recipient: &message.recipient,
                department_link: links.department.as_deref(),
                task_links: &links.tasks,
                answer_link: links.answer.as_deref(),
                organisation: &self.catalog.organisation().name,
                now: self.now(),
                timezone: self.catalog.organisation().timezone,
                replies: links.reply_key.is_some(),
            })
            .map_err(|error| Failure::permanent(format!("cannot render the email: {error}")))?;
        let domain = self.public_url.host_str().unwrap_or("localhost");
        let email = email::build(
            &Envelope {
                from: &self.from,
                to: &message.recipient,
                message_id: message.id,
                incident_id: incident.id,
                domain,
                chain_head,
                reply: self
                    .replies
                    .as_ref()
                    .zip(links.reply_key.as_deref())
                    .map(|(replies, key)| (replies.address.with_key(key), key)),
                in_reply_to: match &message.notice {
                    Notice::ReplyAnswered { in_reply_to, .. } => in_reply_to.as_deref(),
                    _ => None,
                },
            },
            &rendered,
        )
        .map_err(|error| Failure::permanent(error.to_string()))?;
        self.mailer.send(email).await.map_err(|failure| Failure {
            retryable: failure.retryable,
            reason: failure.reason,
        })
    }

    /// Fresh links for this sending, and the tokens to store: secrets go
    /// into the email only; the store keeps their hashes, and revokes those
    /// of an earlier attempt that failed (an email that never arrived must
    /// not leave live links).
    fn mint_links(
        &self,
        incident: &Incident,
        message: &ClaimedMessage,
    ) -> Result<(Links, Vec<LinkToken>), Failure> {
        let Some(department) = message.department.as_deref() else {
            return Ok((Links::default(), Vec::new()));
        };
        let checklist = matches!(
            message.notice,
            Notice::IncidentOpened
                | Notice::SeverityChanged { .. }
                | Notice::Chase {
                    purpose: Purpose::Acknowledge,
                    ..
                }
                | Notice::ReplyAnswered { task_id: None, .. }
        );
        let focus = match &message.notice {
            Notice::TaskActionable { task_id }
            | Notice::Chase {
                task_id: Some(task_id),
                ..
            }
            | Notice::ReplyAnswered {
                task_id: Some(task_id),
                ..
            } => Some(*task_id),
            _ => None,
        };
        let task_ids: Vec<Uuid> = match &message.notice {
            _ if checklist => incident
                .tasks()
                .filter(|task| task.department == department && !task.status.is_closed())
                .map(|task| task.id)
                .collect(),
            _ => focus.into_iter().collect(),
        };
        let wants_department_link = checklist;
        // The commander's rung reads about the request; only the approver
        // department's people answer it.
        let answer = match message.notice {
            Notice::Approval {
                statement_id,
                stage,
                ..
            } if stage.is_none_or(|stage| Rung::of(stage) != Rung::Commander) => {
                Some(LinkTarget::Statement(statement_id))
            }
            Notice::Briefing { briefing_id } | Notice::BriefingReminder { briefing_id }
                if incident.briefing(briefing_id).is_some_and(|b| b.confirm) =>
            {
                Some(LinkTarget::Briefing(briefing_id))
            }
            _ => None,
        };
        // A reply answers for what the mail is about, as its main link
        // would; an approval only through its approver's request (the
        // commander's rung reads about it), a briefing through its link.
        let reply_target = match (&message.notice, answer) {
            (Notice::Briefing { .. } | Notice::BriefingReminder { .. }, _) => None,
            (_, Some(target @ LinkTarget::Statement(_))) => Some(target),
            (Notice::Approval { .. }, _) => None,
            _ => Some(focus.map_or(LinkTarget::Department, LinkTarget::Task)),
        }
        .filter(|_| self.replies.is_some());
        let now = self.now();
        let mut tokens = Vec::new();
        let mut issue = |target: LinkTarget, kind: TokenKind| -> Result<String, Failure> {
            let secret = match (kind, &self.replies) {
                (TokenKind::Reply, Some(replies)) => replies.key(message.id),
                _ => random_secret()
                    .map_err(|error| Failure::transient(format!("no randomness: {error}")))?,
            };
            let token = LinkToken::issue(
                &secret,
                incident.id,
                department,
                target,
                &message.recipient,
                message.id,
                now,
            );
            tokens.push(LinkToken { kind, ..token });
            Ok(secret)
        };
        let mut links = Links::default();
        if wants_department_link {
            links.department =
                Some(self.link_url(&issue(LinkTarget::Department, TokenKind::Link)?));
        }
        if let Some(target) = answer {
            links.answer = Some(self.link_url(&issue(target, TokenKind::Link)?));
        }
        for task_id in task_ids {
            let url = self.link_url(&issue(LinkTarget::Task(task_id), TokenKind::Link)?);
            links.tasks.insert(task_id, url);
        }
        if let Some(target) = reply_target {
            links.reply_key = Some(issue(target, TokenKind::Reply)?);
        }
        Ok((links, tokens))
    }

    fn link_url(&self, secret: &str) -> String {
        format!(
            "{}/links/{secret}",
            self.public_url.as_str().trim_end_matches('/')
        )
    }

    async fn send_webhook(
        &self,
        message: &ClaimedMessage,
        incident: &Incident,
    ) -> Result<String, Failure> {
        let endpoint = self.webhooks.get(&message.recipient).ok_or_else(|| {
            Failure::permanent(format!(
                "webhook endpoint {:?} is no longer configured",
                message.recipient
            ))
        })?;
        let notice = self.webhook_notice(incident, message);
        webhook::deliver(&self.http, endpoint, &notice, self.now())
            .await
            .map(|delivered| format!("HTTP {}", delivered.status))
            .map_err(|error| Failure {
                retryable: error.retryable,
                reason: error.reason,
            })
    }

    fn webhook_notice(&self, incident: &Incident, message: &ClaimedMessage) -> webhook::Notice {
        let reference = &incident.reference;
        let (headline, details) = match &message.notice {
            Notice::IncidentOpened => (
                format!(
                    "{reference} opened: {} ({})",
                    incident.title, incident.severity
                ),
                vec![
                    incident.summary.clone(),
                    format!(
                        "Departments: {}",
                        incident
                            .departments
                            .iter()
                            .map(|d| d.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    format!("Commander: {}", incident.commander.name),
                ],
            ),
            Notice::SeverityChanged {
                from,
                to,
                reason,
                added,
            } => (
                format!("{reference} severity {from} to {to}: {}", incident.title),
                vec![reason.clone(), format!("{} new items", added.len())],
            ),
            Notice::TaskActionable { task_id } => {
                let task = incident.task(*task_id);
                (
                    format!(
                        "{reference}: {} can be done now",
                        task.map(|t| t.title.as_str()).unwrap_or("an item")
                    ),
                    task.map(|t| vec![format!("Department: {}", t.department)])
                        .unwrap_or_default(),
                )
            }
            Notice::IncidentResolved { summary, .. } => (
                format!("{reference} resolved: {}", incident.title),
                summary.iter().cloned().collect(),
            ),
            Notice::Chase {
                purpose,
                task_id,
                stage,
            } => {
                let department = message.department.as_deref().unwrap_or_default();
                let what = match (purpose, task_id.and_then(|id| incident.task(id))) {
                    (Purpose::Complete, Some(task)) => format!("{} is overdue", task.title),
                    _ => format!("{department} has not acknowledged"),
                };
                let rung = Rung::of(*stage).done();
                (
                    format!("{reference}: {what}; {rung}"),
                    vec![incident.title.clone()],
                )
            }
            Notice::ReadyToResolve => (
                format!("{reference} can be resolved: every required item is done"),
                vec![incident.title.clone()],
            ),
            Notice::Deadline {
                regime,
                step,
                deadline,
                stage,
            } => {
                let title = incident.armed_step(regime, step).map_or_else(
                    || format!("{regime}/{step}"),
                    |(state, rule, _)| format!("{}: {}", state.rule.title, rule.title),
                );
                let state = if *stage >= 2 { "missed" } else { "due" };
                (
                    format!("{reference}: {title} {state} {}", render::when(*deadline)),
                    vec![incident.title.clone()],
                )
            }
            Notice::Approval {
                statement_id,
                stage,
                ..
            } => {
                let statement = incident.statement(*statement_id);
                let number = statement.map_or(0, |statement| statement.number);
                let department = message.department.as_deref().unwrap_or_default();
                let state = match stage {
                    None => "awaits approval".to_owned(),
                    Some(stage) => format!("awaits approval; {}", Rung::of(*stage).done()),
                };
                (
                    format!("{reference}: statement {number} {state} by {department}"),
                    vec![incident.title.clone()],
                )
            }
            Notice::StatementReviewed {
                number,
                department,
                approved,
                note,
                ..
            } => {
                let verdict = if *approved {
                    "approved"
                } else {
                    "sent back for changes"
                };
                (
                    format!("{reference}: statement {number} {verdict} by {department}"),
                    note.iter().cloned().collect(),
                )
            }
            Notice::Briefing { briefing_id } | Notice::BriefingReminder { briefing_id } => {
                let briefing = incident.briefing(*briefing_id);
                (
                    format!(
                        "{reference}: briefing {} to {}",
                        briefing.map_or(0, |b| b.number),
                        briefing.map_or("an audience", |b| b.audience_title.as_str())
                    ),
                    Vec::new(),
                )
            }
            Notice::StatementPublished {
                number, text, url, ..
            } => (
                format!("{reference}: statement {number} published"),
                std::iter::once(text.clone()).chain(url.clone()).collect(),
            ),
            // Sent by email only, to whom the reply key was sent.
            Notice::ReplyAnswered { outcome, .. } => (
                format!("{reference}: a reply was answered"),
                vec![outcome.clone()],
            ),
        };
        webhook::Notice {
            id: webhook::message_id(message.id),
            event_type: message.notice.event_type().to_owned(),
            occurred_at: self.now(),
            incident: webhook::IncidentRef {
                id: incident.id,
                reference: incident.reference.clone(),
                title: incident.title.clone(),
                severity: incident.severity.to_string(),
                status: incident.status.to_string(),
                url: format!(
                    "{}/api/v1/incidents/{}",
                    self.public_url.as_str().trim_end_matches('/'),
                    incident.id
                ),
            },
            headline,
            details,
            data: serde_json::to_value(&message.notice).unwrap_or_default(),
        }
    }

    /// Delivers until `stop` turns true, waking early when `wake` is
    /// notified (a change just committed messages). Batches are sent in
    /// tasks of their own, so a slow send never keeps the worker from
    /// claiming what was committed meanwhile; at most `concurrency` messages
    /// are in flight. On stop, sends in flight finish and are recorded.
    pub async fn run(self: Arc<Self>, wake: Arc<Notify>, mut stop: watch::Receiver<bool>) {
        let in_flight = usize::try_from(self.policy.batch.max(1)).unwrap_or(usize::MAX);
        let slots = Arc::new(Semaphore::new(in_flight.saturating_mul(2)));
        let mut sending = JoinSet::new();
        loop {
            if *stop.borrow() {
                break;
            }
            let limit = u32::try_from(slots.available_permits())
                .unwrap_or(u32::MAX)
                .min(self.policy.batch);
            let full = limit > 0
                && match self.claim(limit).await {
                    Ok((claim, batch)) => {
                        let claimed = batch.len();
                        // Only this loop takes slots: as many are free as it saw.
                        let taken: Vec<_> = (0..claimed)
                            .filter_map(|_| Arc::clone(&slots).try_acquire_owned().ok())
                            .collect();
                        if claimed > 0 {
                            let delivery = Arc::clone(&self);
                            sending.spawn(async move {
                                delivery.deliver_batch(claim, batch, taken).await;
                            });
                        }
                        // A full batch may have left more behind.
                        u32::try_from(claimed).is_ok_and(|claimed| claimed == limit)
                    }
                    Err(error) => {
                        crate::store::log_failure(&error, "delivery pass failed");
                        false
                    }
                };
            if let Err(error) = self.signal_mails().await {
                crate::store::log_failure(&error, "signal confirmation mails failed");
            }
            if full {
                continue;
            }
            tokio::select! {
                () = wake.notified() => {}
                () = tokio::time::sleep(self.policy.poll) => {}
                _ = stop.changed() => {}
                Some(done) = sending.join_next(), if !sending.is_empty() => report(done),
            }
        }
        while let Some(done) = sending.join_next().await {
            report(done);
        }
    }
}

fn report(done: Result<(), tokio::task::JoinError>) {
    if let Err(error) = done {
        tracing::error!(%error, "a delivery batch panicked");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_ceiling() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.retry_delay(1), Duration::from_secs(5));
        assert_eq!(policy.retry_delay(2), Duration::from_secs(10));
        assert_eq!(policy.retry_delay(4), Duration::from_secs(40));
        assert_eq!(policy.retry_delay(40), Duration::from_secs(15 * 60));
    }
}
