//! What a change writes besides its incident's rows: its timeline events,
//! sealed into the chain, and the messages and timers they call for; many
//! changes' to a statement.

use chrono::{DateTime, Utc};
use sqlx::QueryBuilder;
use sqlx::types::Json;
use uuid::Uuid;

use super::{Conn, Db, ROWS_PER_STATEMENT};
use crate::domain::briefing::NewRecipient;
use crate::domain::chase::{ClockRef, NewTimer};
use crate::domain::{Actor, NewMessage};
use crate::store::Effects;
use crate::timeline::{ChainHead, ChainedEvent};

/// The rows changes add, gathered to be written together.
#[derive(Default)]
pub(super) struct Appended {
    events: Vec<ChainedEvent>,
    messages: Vec<(Uuid, DateTime<Utc>, NewMessage)>,
    timers: Vec<(Uuid, DateTime<Utc>, NewTimer)>,
    recipients: Vec<(Uuid, NewRecipient)>,
    bounced: Vec<(DateTime<Utc>, Uuid)>,
}

impl Appended {
    /// Seals a change's events after `head`, moving it to the last of them
    /// (callers hold the incident's lock, so the chain stays gapless and
    /// single), and keeps its messages and timers.
    pub fn add(
        &mut self,
        head: &mut ChainHead,
        actor: &Actor,
        at: DateTime<Utc>,
        effects: Effects,
    ) {
        let actor = actor.to_string();
        for event in effects.events {
            let (kind, data) = event.into_parts();
            let sealed = head.seal_next(at, actor.as_str(), kind, data);
            *head = ChainHead::from(&sealed);
            self.events.push(sealed);
        }
        let incident = head.incident_id;
        self.messages.extend(
            effects
                .messages
                .into_iter()
                .map(|message| (incident, at, message)),
        );
        self.timers.extend(
            effects
                .timers
                .into_iter()
                .map(|timer| (incident, at, timer)),
        );
        self.recipients.extend(
            effects
                .recipients
                .into_iter()
                .map(|recipient| (incident, recipient)),
        );
        self.bounced
            .extend(effects.bounced.into_iter().map(|message| (at, message)));
    }

    /// Writes them: a statement per table.
    pub async fn write(self, conn: &mut Conn) -> Result<(), sqlx::Error> {
        for chunk in self.messages.chunks(ROWS_PER_STATEMENT) {
            let mut query = QueryBuilder::<Db>::new(
                "INSERT INTO outbox (id, incident_id, channel, recipient, department, notice, \
                 status, attempts, next_attempt_at, created_at, briefing_id) ",
            );
            query.push_values(chunk, |mut row, (incident, at, message)| {
                row.push_bind(message.id)
                    .push_bind(*incident)
                    .push_bind(message.channel.as_str())
                    .push_bind(message.recipient.clone())
                    .push_bind(message.department.clone())
                    .push_bind(Json(message.notice.clone()))
                    .push_bind("pending")
                    .push_bind(0_i64)
                    .push_bind(message.not_before.unwrap_or(*at))
                    .push_bind(*at)
                    .push_bind(message.briefing);
            });
            query.build().persistent(false).execute(&mut *conn).await?;
        }
        for chunk in self.timers.chunks(ROWS_PER_STATEMENT) {
            let mut query = QueryBuilder::<Db>::new(
                "INSERT INTO timers (id, incident_id, department, task_id, purpose, stage, \
                 due_at, status, version, created_at, updated_at, clock, deadline_at, \
                 statement_id, statement_version) ",
            );
            query.push_values(chunk, |mut row, (incident, at, timer)| {
                row.push_bind(timer.id)
                    .push_bind(*incident)
                    .push_bind(timer.department.clone())
                    .push_bind(timer.task_id)
                    .push_bind(timer.purpose.as_str())
                    .push_bind(0_i64)
                    .push_bind(timer.due_at)
                    .push_bind("pending")
                    .push_bind(0_i64)
                    .push_bind(*at)
                    .push_bind(*at)
                    .push_bind(timer.clock.as_ref().map(ClockRef::key))
                    .push_bind(timer.clock.as_ref().map(|clock| clock.deadline))
                    .push_bind(timer.statement.map(|asked| asked.id))
                    .push_bind(timer.statement.map(|asked| i64::from(asked.version)));
            });
            query.build().persistent(false).execute(&mut *conn).await?;
        }
        for chunk in self.recipients.chunks(ROWS_PER_STATEMENT) {
            let mut query = QueryBuilder::<Db>::new(
                "INSERT INTO briefing_recipients (briefing_id, email, incident_id, name, \
                 department) ",
            );
            query.push_values(chunk, |mut row, (incident, recipient)| {
                row.push_bind(recipient.briefing_id)
                    .push_bind(recipient.member.email.clone())
                    .push_bind(*incident)
                    .push_bind(recipient.member.name.clone())
                    .push_bind(recipient.member.department.clone());
            });
            query.build().persistent(false).execute(&mut *conn).await?;
        }
        // Rare (a bounce is one message): a statement each.
        for (at, message) in &self.bounced {
            sqlx::query("UPDATE outbox SET bounced_at = $2 WHERE id = $1 AND bounced_at IS NULL")
                .bind(message)
                .bind(at)
                .execute(&mut *conn)
                .await?;
        }
        super::timeline::insert_events(conn, &self.events).await
    }
}

/// Writes one change's events, messages and timers after its state.
pub(super) async fn append_effects(
    conn: &mut Conn,
    incident_id: Uuid,
    actor: &Actor,
    at: DateTime<Utc>,
    effects: Effects,
) -> Result<(), sqlx::Error> {
    let mut head = super::timeline::chain_head(conn, incident_id).await?;
    let mut appended = Appended::default();
    appended.add(&mut head, actor, at, effects);
    appended.write(conn).await
}
