//! What a change writes besides its own rows: its timeline events, the
//! messages and the timers they call for, in the change's transaction.

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use uuid::Uuid;

use super::Conn;
use crate::domain::chase::NewTimer;
use crate::domain::{Actor, NewMessage};
use crate::store::Effects;
use crate::timeline::ChainHead;

/// Writes a change's events, messages and timers after its state.
pub(super) async fn append_effects(
    conn: &mut Conn,
    incident_id: Uuid,
    actor: &Actor,
    at: DateTime<Utc>,
    effects: Effects,
) -> Result<(), sqlx::Error> {
    let mut head = super::timeline::chain_head(conn, incident_id).await?;
    append_effects_after(conn, &mut head, actor, at, effects).await
}

/// The same, after a chain head already read (and moved on to the last
/// event written).
pub(super) async fn append_effects_after(
    conn: &mut Conn,
    head: &mut ChainHead,
    actor: &Actor,
    at: DateTime<Utc>,
    effects: Effects,
) -> Result<(), sqlx::Error> {
    insert_messages(conn, head.incident_id, at, &effects.messages).await?;
    insert_timers(conn, head.incident_id, at, &effects.timers).await?;
    super::timeline::append_events_after(conn, head, actor, at, effects.events).await
}

async fn insert_messages(
    conn: &mut Conn,
    incident_id: Uuid,
    at: DateTime<Utc>,
    messages: &[NewMessage],
) -> Result<(), sqlx::Error> {
    for message in messages {
        sqlx::query(
            "INSERT INTO outbox (id, incident_id, channel, recipient, department, notice, \
             status, attempts, next_attempt_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, 'pending', 0, $7, $7)",
        )
        .bind(message.id)
        .bind(incident_id)
        .bind(message.channel.as_str())
        .bind(&message.recipient)
        .bind(&message.department)
        .bind(Json(&message.notice))
        .bind(at)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

async fn insert_timers(
    conn: &mut Conn,
    incident_id: Uuid,
    at: DateTime<Utc>,
    timers: &[NewTimer],
) -> Result<(), sqlx::Error> {
    for timer in timers {
        sqlx::query(
            "INSERT INTO timers (id, incident_id, department, task_id, purpose, stage, \
             due_at, status, version, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, 0, $6, 'pending', 0, $7, $7)",
        )
        .bind(timer.id)
        .bind(incident_id)
        .bind(&timer.department)
        .bind(timer.task_id)
        .bind(timer.purpose.as_str())
        .bind(timer.due_at)
        .bind(at)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}
