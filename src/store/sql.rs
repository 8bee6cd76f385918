//! The SQL both backends share. SQLite accepts PostgreSQL's `$1` placeholders,
//! so one text serves both; the macro instantiates the same code once per
//! backend so that each binds and decodes its native column types.
//!
//! A backend type invoking [`sql_store!`] provides:
//! - `self.pool`, its connection pool;
//! - `async fn begin_write(&self) -> Result<Transaction, sqlx::Error>`;
//! - `const LOCK_INCIDENT: &str`, selecting an incident's id by `$1` and
//!   holding it against concurrent writers until commit.

macro_rules! sql_store {
    ($store:ty, $db:ty) => {
        use async_trait::async_trait;
        use chrono::{DateTime, Utc};
        use sqlx::types::Json;
        use uuid::Uuid;

        use super::rows::{
            self, ChainRow, ClaimRow, DepartmentRow, EventRow, IncidentRow, LinkRow,
            TaskRow, TimerRow, TokenRow, UserRow,
        };
        use super::{
            Attempt, AttemptOutcome, Change, ClaimedMessage, Effects, Fired, Gauges, IdempotencyClaim,
            IncidentFilter, Inserted, MessageRecord, PurgeRecord, Store, StoreError, TimerOutcome,
            TimerRule, UpdateError,
        };
        use crate::domain::chase::{DueTimer, NewTimer};
        use crate::auth::{ApiToken, Session, User};
        use crate::domain::{Actor, Department, Event, EventData, Incident, Task};
        use crate::domain::{LinkToken, NewMessage};
        use crate::timeline::{ChainHead, ChainedEvent};

        type Connection = <$db as sqlx::Database>::Connection;

        async fn insert_token(conn: &mut Connection, token: &ApiToken) -> Result<(), StoreError> {
            sqlx::query(
                "INSERT INTO api_tokens (id, name, role, secret_hash, created_at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(token.id)
            .bind(&token.name)
            .bind(token.role.as_str())
            .bind(&token.secret_hash)
            .bind(token.created_at)
            .execute(conn)
            .await?;
            Ok(())
        }

        async fn load_incident(
            conn: &mut Connection,
            id: Uuid,
        ) -> Result<Option<Incident>, StoreError> {
            let Some(incident) = sqlx::query_as::<_, IncidentRow>(
                "SELECT id, reference, title, scenario, severity, summary, status, \
                 commander_name, commander_email, opened_at, updated_at, resolved_at, legal_hold \
                 FROM incidents WHERE id = $1",
            )
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?
            else {
                return Ok(None);
            };
            let departments = sqlx::query_as::<_, DepartmentRow>(
                "SELECT department, name, head_name, head_email, deputies, joined_at, \
                 acknowledged_at, acknowledged_by \
                 FROM incident_departments WHERE incident_id = $1 ORDER BY position",
            )
            .bind(id)
            .fetch_all(&mut *conn)
            .await?;
            let tasks = sqlx::query_as::<_, TaskRow>(
                "SELECT id, department, key, title, description, required, depends_on, \
                 ack_within_ms, complete_within_ms, status, ack_due_at, due_at, \
                 acknowledged_at, acknowledged_by, closed_at, closed_by, note \
                 FROM tasks WHERE incident_id = $1 ORDER BY position",
            )
            .bind(id)
            .fetch_all(&mut *conn)
            .await?;
            rows::assemble(incident, departments, tasks).map(Some)
        }

        async fn insert_department(
            conn: &mut Connection,
            incident_id: Uuid,
            position: usize,
            dept: &Department,
        ) -> Result<(), sqlx::Error> {
            sqlx::query(
                "INSERT INTO incident_departments (incident_id, department, position, name, \
                 head_name, head_email, deputies, joined_at, acknowledged_at, acknowledged_by) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(incident_id)
            .bind(&dept.id)
            .bind(position as i64)
            .bind(&dept.name)
            .bind(&dept.head.name)
            .bind(&dept.head.email)
            .bind(Json(&dept.deputies))
            .bind(dept.joined_at)
            .bind(dept.acknowledged_at)
            .bind(&dept.acknowledged_by)
            .execute(&mut *conn)
            .await?;
            Ok(())
        }

        async fn update_department(
            conn: &mut Connection,
            incident_id: Uuid,
            dept: &Department,
        ) -> Result<(), sqlx::Error> {
            sqlx::query(
                "UPDATE incident_departments SET acknowledged_at = $3, acknowledged_by = $4 \
                 WHERE incident_id = $1 AND department = $2",
            )
            .bind(incident_id)
            .bind(&dept.id)
            .bind(dept.acknowledged_at)
            .bind(&dept.acknowledged_by)
            .execute(&mut *conn)
            .await?;
            Ok(())
        }

        async fn insert_task(
            conn: &mut Connection,
            incident_id: Uuid,
            position: usize,
            task: &Task,
        ) -> Result<(), sqlx::Error> {
            sqlx::query(
                "INSERT INTO tasks (id, incident_id, department, position, key, title, \
                 description, required, depends_on, ack_within_ms, complete_within_ms, status, \
                 ack_due_at, due_at, acknowledged_at, acknowledged_by, closed_at, closed_by, note) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, \
                 $16, $17, $18, $19)",
            )
            .bind(task.id)
            .bind(incident_id)
            .bind(&task.department)
            .bind(position as i64)
            .bind(&task.key)
            .bind(&task.title)
            .bind(&task.description)
            .bind(task.required)
            .bind(Json(&task.depends_on))
            .bind(task.ack_within.num_milliseconds())
            .bind(task.complete_within.num_milliseconds())
            .bind(task.status.as_str())
            .bind(task.ack_due_at)
            .bind(task.due_at)
            .bind(task.acknowledged_at)
            .bind(&task.acknowledged_by)
            .bind(task.closed_at)
            .bind(&task.closed_by)
            .bind(&task.note)
            .execute(&mut *conn)
            .await?;
            Ok(())
        }

        /// Only progress changes; what the task asks for is a snapshot.
        async fn update_task(conn: &mut Connection, task: &Task) -> Result<(), sqlx::Error> {
            sqlx::query(
                "UPDATE tasks SET status = $2, due_at = $3, acknowledged_at = $4, \
                 acknowledged_by = $5, closed_at = $6, closed_by = $7, note = $8 WHERE id = $1",
            )
            .bind(task.id)
            .bind(task.status.as_str())
            .bind(task.due_at)
            .bind(task.acknowledged_at)
            .bind(&task.acknowledged_by)
            .bind(task.closed_at)
            .bind(&task.closed_by)
            .bind(&task.note)
            .execute(&mut *conn)
            .await?;
            Ok(())
        }

        async fn insert_incident_rows(
            conn: &mut Connection,
            incident: &Incident,
        ) -> Result<(), sqlx::Error> {
            sqlx::query(
                "INSERT INTO incidents (id, reference, title, scenario, severity, summary, \
                 status, commander_name, commander_email, opened_at, updated_at, resolved_at, \
                 legal_hold) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
            )
            .bind(incident.id)
            .bind(&incident.reference)
            .bind(&incident.title)
            .bind(&incident.scenario)
            .bind(incident.severity.as_str())
            .bind(&incident.summary)
            .bind(incident.status.as_str())
            .bind(&incident.commander.name)
            .bind(&incident.commander.email)
            .bind(incident.opened_at)
            .bind(incident.updated_at)
            .bind(incident.resolved_at)
            .bind(incident.legal_hold)
            .execute(&mut *conn)
            .await?;
            let mut task_position = 0;
            for (position, dept) in incident.departments.iter().enumerate() {
                insert_department(conn, incident.id, position, dept).await?;
                for task in &dept.tasks {
                    insert_task(conn, incident.id, task_position, task).await?;
                    task_position += 1;
                }
            }
            Ok(())
        }

        async fn save_changes(
            conn: &mut Connection,
            before: &Incident,
            after: &Incident,
        ) -> Result<(), sqlx::Error> {
            sqlx::query(
                "UPDATE incidents SET severity = $2, status = $3, updated_at = $4, \
                 resolved_at = $5, legal_hold = $6 WHERE id = $1",
            )
            .bind(after.id)
            .bind(after.severity.as_str())
            .bind(after.status.as_str())
            .bind(after.updated_at)
            .bind(after.resolved_at)
            .bind(after.legal_hold)
            .execute(&mut *conn)
            .await?;
            let diff = rows::diff(before, after);
            for (position, dept) in diff.new_departments {
                insert_department(conn, after.id, position, dept).await?;
            }
            for dept in diff.changed_departments {
                update_department(conn, after.id, dept).await?;
            }
            for (position, task) in diff.new_tasks {
                insert_task(conn, after.id, position, task).await?;
            }
            for task in diff.changed_tasks {
                update_task(conn, task).await?;
            }
            Ok(())
        }

        async fn chain_head(conn: &mut Connection, incident_id: Uuid) -> Result<ChainHead, sqlx::Error> {
            let last: Option<(i64, String)> = sqlx::query_as(
                "SELECT seq, hash FROM events WHERE incident_id = $1 ORDER BY seq DESC LIMIT 1",
            )
            .bind(incident_id)
            .fetch_optional(&mut *conn)
            .await?;
            Ok(match last {
                Some((seq, hash)) => ChainHead { incident_id, seq, hash },
                None => ChainHead::genesis(incident_id),
            })
        }

        /// Appends after the incident's last event, each sealed with the
        /// hash of the one before. Callers hold the incident's lock, so the
        /// chain stays gapless and single.
        async fn append_events(
            conn: &mut Connection,
            incident_id: Uuid,
            actor: &Actor,
            at: DateTime<Utc>,
            events: Vec<EventData>,
        ) -> Result<(), sqlx::Error> {
            let mut head = chain_head(conn, incident_id).await?;
            let actor = actor.to_string();
            for event in events {
                let (kind, data) = event.into_parts();
                let sealed = head.seal_next(at, actor.as_str(), kind, data);
                sqlx::query(
                    "INSERT INTO events (incident_id, seq, at, actor, kind, data, prev_hash, hash) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(incident_id)
                .bind(sealed.seq)
                .bind(sealed.at)
                .bind(&sealed.actor)
                .bind(&sealed.kind)
                .bind(Json(&sealed.data))
                .bind(&sealed.prev_hash)
                .bind(&sealed.hash)
                .execute(&mut *conn)
                .await?;
                head = ChainHead::from(&sealed);
            }
            Ok(())
        }

        async fn insert_messages(
            conn: &mut Connection,
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
            conn: &mut Connection,
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

        /// Writes a change's events, messages and timers after its state.
        async fn append_effects(
            conn: &mut Connection,
            incident_id: Uuid,
            actor: &Actor,
            at: DateTime<Utc>,
            effects: Effects,
        ) -> Result<(), sqlx::Error> {
            insert_messages(conn, incident_id, at, &effects.messages).await?;
            insert_timers(conn, incident_id, at, &effects.timers).await?;
            append_events(conn, incident_id, actor, at, effects.events).await
        }

        async fn load_user(conn: &mut Connection, id: Uuid) -> Result<User, StoreError> {
            let row = sqlx::query_as::<_, UserRow>(
                "SELECT id, email, role, created_at FROM users WHERE id = $1",
            )
            .bind(id)
            .fetch_one(&mut *conn)
            .await?;
            User::try_from(row)
        }

        async fn find_claim(
            conn: &mut Connection,
            claim: &IdempotencyClaim,
        ) -> Result<Option<Inserted>, sqlx::Error> {
            let found: Option<(String, Uuid)> = sqlx::query_as(
                "SELECT fingerprint, incident_id FROM idempotency_keys \
                 WHERE token_id = $1 AND key = $2",
            )
            .bind(claim.token_id)
            .bind(&claim.key)
            .fetch_optional(&mut *conn)
            .await?;
            Ok(found.map(|(fingerprint, incident_id)| Inserted::Replayed {
                incident_id,
                same_request: fingerprint == claim.fingerprint,
            }))
        }

        #[async_trait]
        impl Store for $store {
            async fn migrate(&self) -> Result<(), StoreError> {
                Self::MIGRATOR.run(&self.pool).await?;
                Ok(())
            }

            async fn ping(&self) -> Result<(), StoreError> {
                sqlx::query("SELECT 1").execute(&self.pool).await?;
                Ok(())
            }

            async fn insert_incident(
                &self,
                incident: &Incident,
                opened: Effects,
                actor: &Actor,
                claim: Option<&IdempotencyClaim>,
            ) -> Result<Inserted, StoreError> {
                let mut tx = self.begin_write().await?;
                if let Some(claim) = claim {
                    if let Some(earlier) = find_claim(&mut tx, claim).await? {
                        return Ok(earlier);
                    }
                    let claimed = sqlx::query(
                        "INSERT INTO idempotency_keys (token_id, key, fingerprint, incident_id, \
                         created_at) VALUES ($1, $2, $3, $4, $5)",
                    )
                    .bind(claim.token_id)
                    .bind(&claim.key)
                    .bind(&claim.fingerprint)
                    .bind(incident.id)
                    .bind(incident.opened_at)
                    .execute(&mut *tx)
                    .await;
                    match claimed {
                        Ok(_) => {}
                        // A concurrent retry committed the same key first
                        // (PostgreSQL waits for it, then refuses ours).
                        Err(sqlx::Error::Database(error)) if error.is_unique_violation() => {
                            drop(tx);
                            let mut conn = self.pool.acquire().await?;
                            return find_claim(&mut conn, claim).await?.ok_or_else(|| {
                                StoreError::Corrupt("idempotency key vanished".into())
                            });
                        }
                        Err(error) => return Err(error.into()),
                    }
                }
                insert_incident_rows(&mut tx, incident).await?;
                append_effects(&mut tx, incident.id, actor, incident.opened_at, opened).await?;
                tx.commit().await?;
                Ok(Inserted::Created)
            }

            async fn update_incident(
                &self,
                id: Uuid,
                actor: &Actor,
                now: DateTime<Utc>,
                change: Change<'_>,
            ) -> Result<Incident, UpdateError> {
                let mut tx = self.begin_write().await?;
                let locked: Option<Uuid> = sqlx::query_scalar(Self::LOCK_INCIDENT)
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?;
                if locked.is_none() {
                    return Err(UpdateError::NotFound);
                }
                let before = load_incident(&mut tx, id).await?.ok_or(UpdateError::NotFound)?;
                let mut after = before.clone();
                let effects = change(&mut after)?;
                if effects.events.is_empty() {
                    return Ok(before);
                }
                save_changes(&mut tx, &before, &after).await?;
                append_effects(&mut tx, id, actor, now, effects).await?;
                tx.commit().await?;
                Ok(after)
            }

            async fn incident(&self, id: Uuid) -> Result<Option<Incident>, StoreError> {
                // One read transaction, so the three queries see one state.
                let mut tx = self.pool.begin().await?;
                let incident = load_incident(&mut tx, id).await?;
                tx.commit().await?;
                Ok(incident)
            }

            async fn incidents(
                &self,
                filter: IncidentFilter,
            ) -> Result<Vec<Incident>, StoreError> {
                let mut tx = self.pool.begin().await?;
                // Ids are UUIDv7: ordering by id is ordering by opening time.
                let ids: Vec<Uuid> = sqlx::query_scalar(
                    "SELECT id FROM incidents WHERE ($1 IS NULL OR status = $1) \
                     ORDER BY id DESC LIMIT $2",
                )
                .bind(filter.status.map(|status| status.as_str()))
                .bind(i64::from(filter.limit))
                .fetch_all(&mut *tx)
                .await?;
                let mut incidents = Vec::with_capacity(ids.len());
                for id in ids {
                    if let Some(incident) = load_incident(&mut tx, id).await? {
                        incidents.push(incident);
                    }
                }
                tx.commit().await?;
                Ok(incidents)
            }

            async fn timeline(
                &self,
                incident_id: Uuid,
            ) -> Result<Option<Vec<ChainedEvent>>, StoreError> {
                let mut tx = self.pool.begin().await?;
                let exists: Option<Uuid> =
                    sqlx::query_scalar("SELECT id FROM incidents WHERE id = $1")
                        .bind(incident_id)
                        .fetch_optional(&mut *tx)
                        .await?;
                if exists.is_none() {
                    return Ok(None);
                }
                let rows = sqlx::query_as::<_, ChainRow>(
                    "SELECT seq, at, actor, kind, data, prev_hash, hash FROM events \
                     WHERE incident_id = $1 ORDER BY seq",
                )
                .bind(incident_id)
                .fetch_all(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(Some(rows.into_iter().map(|row| row.into_event(incident_id)).collect()))
            }

            async fn timeline_page(
                &self,
                incident_id: Uuid,
                after_seq: i64,
                up_to_seq: i64,
                limit: u32,
            ) -> Result<Vec<ChainedEvent>, StoreError> {
                let rows = sqlx::query_as::<_, ChainRow>(
                    "SELECT seq, at, actor, kind, data, prev_hash, hash FROM events \
                     WHERE incident_id = $1 AND seq > $2 AND seq <= $3 ORDER BY seq LIMIT $4",
                )
                .bind(incident_id)
                .bind(after_seq)
                .bind(up_to_seq)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.into_iter().map(|row| row.into_event(incident_id)).collect())
            }

            async fn chain_head(&self, incident_id: Uuid) -> Result<ChainHead, StoreError> {
                let mut conn = self.pool.acquire().await?;
                Ok(chain_head(&mut conn, incident_id).await?)
            }

            async fn signing_key(&self) -> Result<Option<String>, StoreError> {
                Ok(sqlx::query_scalar("SELECT private_key FROM signing_keys WHERE id = 1")
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn keep_signing_key(
                &self,
                private_key: &str,
                public_key: &str,
                now: DateTime<Utc>,
            ) -> Result<String, StoreError> {
                sqlx::query(
                    "INSERT INTO signing_keys (id, private_key, public_key, created_at) \
                     VALUES (1, $1, $2, $3) ON CONFLICT (id) DO NOTHING",
                )
                .bind(private_key)
                .bind(public_key)
                .bind(now)
                .execute(&self.pool)
                .await?;
                Ok(sqlx::query_scalar("SELECT private_key FROM signing_keys WHERE id = 1")
                    .fetch_one(&self.pool)
                    .await?)
            }

            async fn purge_resolved_before(
                &self,
                cutoff: DateTime<Utc>,
                now: DateTime<Utc>,
            ) -> Result<Vec<PurgeRecord>, StoreError> {
                let candidates: Vec<Uuid> = sqlx::query_scalar(
                    "SELECT id FROM incidents WHERE status = 'resolved' AND resolved_at < $1 \
                     AND legal_hold = $2 ORDER BY id",
                )
                .bind(cutoff)
                .bind(false)
                .fetch_all(&self.pool)
                .await?;
                let mut purged = Vec::new();
                for id in candidates {
                    let mut tx = self.begin_write().await?;
                    sqlx::query_scalar::<_, Uuid>(Self::LOCK_INCIDENT)
                        .bind(id)
                        .fetch_optional(&mut *tx)
                        .await?;
                    // Checked again under the lock: a hold placed meanwhile wins.
                    let Some(incident) = load_incident(&mut tx, id).await? else {
                        continue;
                    };
                    let Some(resolved_at) = incident.resolved_at.filter(|_| !incident.legal_hold) else {
                        continue;
                    };
                    let head = chain_head(&mut tx, id).await?;
                    let record = PurgeRecord {
                        incident_id: id,
                        reference: incident.reference.clone(),
                        title: incident.title.clone(),
                        resolved_at,
                        head_seq: head.seq,
                        head_hash: head.hash,
                        events: head.seq,
                        purged_at: now,
                    };
                    sqlx::query(
                        "INSERT INTO purge_log (incident_id, reference, title, resolved_at, \
                         head_seq, head_hash, events, purged_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                    )
                    .bind(record.incident_id)
                    .bind(&record.reference)
                    .bind(&record.title)
                    .bind(record.resolved_at)
                    .bind(record.head_seq)
                    .bind(&record.head_hash)
                    .bind(record.events)
                    .bind(record.purged_at)
                    .execute(&mut *tx)
                    .await?;
                    sqlx::query(Self::GRANT_PURGE).bind(id).execute(&mut *tx).await?;
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
                        sqlx::query(statement).bind(id).execute(&mut *tx).await?;
                    }
                    sqlx::query(Self::END_PURGE).bind(id).execute(&mut *tx).await?;
                    tx.commit().await?;
                    purged.push(record);
                }
                Ok(purged)
            }

            async fn purge_log(&self) -> Result<Vec<PurgeRecord>, StoreError> {
                Ok(sqlx::query_as::<_, PurgeRecord>(
                    "SELECT incident_id, reference, title, resolved_at, head_seq, head_hash, \
                     events, purged_at FROM purge_log ORDER BY id",
                )
                .fetch_all(&self.pool)
                .await?)
            }

            async fn claim_messages(
                &self,
                claim: Uuid,
                now: DateTime<Utc>,
                lease_until: DateTime<Utc>,
                limit: u32,
            ) -> Result<Vec<ClaimedMessage>, StoreError> {
                let mut tx = self.begin_write().await?;
                let rows = sqlx::query_as::<_, ClaimRow>(Self::CLAIM_MESSAGES)
                    .bind(claim)
                    .bind(lease_until)
                    .bind(now)
                    .bind(i64::from(limit))
                    .fetch_all(&mut *tx)
                    .await?;
                tx.commit().await?;
                rows.into_iter().map(ClaimedMessage::try_from).collect()
            }

            async fn record_attempt(&self, attempt: &Attempt) -> Result<bool, StoreError> {
                let mut tx = self.begin_write().await?;
                // The event needs the incident's next sequence number.
                sqlx::query_scalar::<_, Uuid>(Self::LOCK_INCIDENT)
                    .bind(attempt.incident_id)
                    .fetch_optional(&mut *tx)
                    .await?;
                let (status, next_at, error, receipt, sent_at) = match &attempt.outcome {
                    AttemptOutcome::Sent { receipt } => {
                        ("sent", None, None, Some(receipt.as_str()), Some(attempt.at))
                    }
                    AttemptOutcome::Retry { error, at } => {
                        ("pending", Some(*at), Some(error.as_str()), None, None)
                    }
                    AttemptOutcome::GaveUp { error } => {
                        ("failed", None, Some(error.as_str()), None, None)
                    }
                    AttemptOutcome::Cancelled { reason } => {
                        ("cancelled", None, Some(reason.as_str()), None, None)
                    }
                };
                let updated = sqlx::query(
                    "UPDATE outbox SET status = $3, \
                     next_attempt_at = COALESCE($4, next_attempt_at), last_error = $5, \
                     receipt = COALESCE($6, receipt), sent_at = $7, \
                     claim_id = NULL, claimed_until = NULL \
                     WHERE id = $1 AND claim_id = $2 AND status = 'pending'",
                )
                .bind(attempt.message_id)
                .bind(attempt.claim)
                .bind(status)
                .bind(next_at)
                .bind(error)
                .bind(receipt)
                .bind(sent_at)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if updated == 0 {
                    return Ok(false);
                }
                let actor = Actor::system("delivery");
                append_events(
                    &mut tx,
                    attempt.incident_id,
                    &actor,
                    attempt.at,
                    vec![attempt.event.clone()],
                )
                .await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn fire_timer(
                &self,
                now: DateTime<Utc>,
                rule: TimerRule<'_>,
            ) -> Result<Option<Fired>, StoreError> {
                let mut tx = self.begin_write().await?;
                let Some(row) = sqlx::query_as::<_, TimerRow>(Self::NEXT_DUE_TIMER)
                    .bind(now)
                    .fetch_optional(&mut *tx)
                    .await?
                else {
                    return Ok(None);
                };
                let timer = DueTimer::try_from(row)?;
                sqlx::query_scalar::<_, Uuid>(Self::LOCK_INCIDENT)
                    .bind(timer.incident_id)
                    .fetch_optional(&mut *tx)
                    .await?;
                let incident = load_incident(&mut tx, timer.incident_id)
                    .await?
                    .ok_or_else(|| StoreError::Corrupt("a timer's incident is missing".into()))?;
                let (status, stage, due_at, cancelled) = match rule(&incident, &timer) {
                    TimerOutcome::Cancel => ("cancelled", timer.stage, timer.due_at, true),
                    TimerOutcome::Fire { effects, next_at } => {
                        let actor = Actor::system("chaser");
                        append_effects(&mut tx, incident.id, &actor, now, effects).await?;
                        match next_at {
                            Some(next) => ("pending", timer.stage + 1, next, false),
                            None => ("done", timer.stage, timer.due_at, false),
                        }
                    }
                };
                let moved = sqlx::query(
                    "UPDATE timers SET status = $3, stage = $4, due_at = $5, \
                     version = version + 1, updated_at = $6 WHERE id = $1 AND version = $2",
                )
                .bind(timer.id)
                .bind(timer.version)
                .bind(status)
                .bind(stage)
                .bind(due_at)
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if moved == 0 {
                    // Another worker moved it first: ours is stale; write nothing.
                    return Ok(None);
                }
                tx.commit().await?;
                Ok(Some(Fired { timer, cancelled }))
            }

            async fn events_of_kind(
                &self,
                incident_id: Uuid,
                kind: &str,
            ) -> Result<Vec<Event>, StoreError> {
                let rows = sqlx::query_as::<_, EventRow>(
                    "SELECT seq, at, actor, kind, data FROM events \
                     WHERE incident_id = $1 AND kind = $2 ORDER BY seq",
                )
                .bind(incident_id)
                .bind(kind)
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.into_iter().map(Event::from).collect())
            }

            async fn timers(&self, incident_id: Uuid) -> Result<Vec<DueTimer>, StoreError> {
                let rows = sqlx::query_as::<_, TimerRow>(
                    "SELECT id, incident_id, department, task_id, purpose, stage, due_at, version \
                     FROM timers WHERE incident_id = $1 AND status = 'pending' ORDER BY due_at",
                )
                .bind(incident_id)
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter().map(DueTimer::try_from).collect()
            }

            async fn gauges(&self, now: DateTime<Utc>) -> Result<Gauges, StoreError> {
                let open_by_severity: Vec<(String, i64)> = sqlx::query_as(
                    "SELECT severity, COUNT(*) FROM incidents WHERE status = 'open' GROUP BY severity",
                )
                .fetch_all(&self.pool)
                .await?;
                let tasks_overdue: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM tasks JOIN incidents ON incidents.id = tasks.incident_id \
                     WHERE incidents.status = 'open' AND tasks.status IN ('open', 'acknowledged') \
                     AND (tasks.due_at < $1 OR (tasks.status = 'open' AND tasks.ack_due_at < $1))",
                )
                .bind(now)
                .fetch_one(&self.pool)
                .await?;
                let (outbox_depth, oldest_pending): (i64, Option<DateTime<Utc>>) = sqlx::query_as(
                    "SELECT COUNT(*), MIN(created_at) FROM outbox WHERE status = 'pending'",
                )
                .fetch_one(&self.pool)
                .await?;
                Ok(Gauges {
                    open_by_severity,
                    tasks_overdue,
                    outbox_depth,
                    oldest_pending,
                })
            }

            async fn migrations_applied(&self) -> Result<bool, StoreError> {
                let applied: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM _sqlx_migrations WHERE success = $1",
                )
                .bind(true)
                .fetch_one(&self.pool)
                .await?;
                Ok(applied as usize >= Self::MIGRATOR.iter().count())
            }

            async fn outbox_depth(&self) -> Result<i64, StoreError> {
                Ok(
                    sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE status = 'pending'")
                        .fetch_one(&self.pool)
                        .await?,
                )
            }

            async fn messages(&self, incident_id: Uuid) -> Result<Vec<MessageRecord>, StoreError> {
                Ok(sqlx::query_as::<_, MessageRecord>(
                    "SELECT id, channel, recipient, department, status, attempts, last_error, \
                     receipt, created_at, sent_at, next_attempt_at \
                     FROM outbox WHERE incident_id = $1 ORDER BY id",
                )
                .bind(incident_id)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn insert_links(&self, links: &[LinkToken]) -> Result<(), StoreError> {
                let mut tx = self.pool.begin().await?;
                for link in links {
                    sqlx::query(
                        "INSERT INTO link_tokens (secret_hash, incident_id, department, task_id, \
                         recipient, message_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    )
                    .bind(&link.secret_hash)
                    .bind(link.incident_id)
                    .bind(&link.department)
                    .bind(link.task_id)
                    .bind(&link.recipient)
                    .bind(link.message_id)
                    .bind(link.created_at)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn link(&self, secret_hash: &str) -> Result<Option<LinkToken>, StoreError> {
                let row = sqlx::query_as::<_, LinkRow>(
                    "SELECT secret_hash, incident_id, department, task_id, recipient, message_id, \
                     created_at FROM link_tokens WHERE secret_hash = $1",
                )
                .bind(secret_hash)
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.map(LinkToken::from))
            }

            async fn insert_user(&self, user: &User) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO users (id, email, role, created_at) VALUES ($1, $2, $3, $4)",
                )
                .bind(user.id)
                .bind(&user.email)
                .bind(user.role.as_str())
                .bind(user.created_at)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn user_by_email(&self, email: &str) -> Result<Option<User>, StoreError> {
                let row = sqlx::query_as::<_, UserRow>(
                    "SELECT id, email, role, created_at FROM users WHERE email = $1",
                )
                .bind(email)
                .fetch_optional(&self.pool)
                .await?;
                row.map(User::try_from).transpose()
            }

            async fn insert_sign_in_link(
                &self,
                secret_hash: &str,
                user_id: Uuid,
                now: DateTime<Utc>,
                expires_at: DateTime<Utc>,
            ) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO sign_in_links (secret_hash, user_id, created_at, expires_at) \
                     VALUES ($1, $2, $3, $4)",
                )
                .bind(secret_hash)
                .bind(user_id)
                .bind(now)
                .bind(expires_at)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn use_sign_in_link(
                &self,
                secret_hash: &str,
                now: DateTime<Utc>,
            ) -> Result<Option<User>, StoreError> {
                let mut tx = self.begin_write().await?;
                let user_id: Option<Uuid> = sqlx::query_scalar(
                    "UPDATE sign_in_links SET used_at = $2 \
                     WHERE secret_hash = $1 AND used_at IS NULL AND expires_at > $2 \
                     RETURNING user_id",
                )
                .bind(secret_hash)
                .bind(now)
                .fetch_optional(&mut *tx)
                .await?;
                let Some(user_id) = user_id else {
                    return Ok(None);
                };
                let user = load_user(&mut tx, user_id).await?;
                tx.commit().await?;
                Ok(Some(user))
            }

            async fn sign_in_link_usable(
                &self,
                secret_hash: &str,
                now: DateTime<Utc>,
            ) -> Result<bool, StoreError> {
                let found: Option<String> = sqlx::query_scalar(
                    "SELECT secret_hash FROM sign_in_links \
                     WHERE secret_hash = $1 AND used_at IS NULL AND expires_at > $2",
                )
                .bind(secret_hash)
                .bind(now)
                .fetch_optional(&self.pool)
                .await?;
                Ok(found.is_some())
            }

            async fn insert_session(
                &self,
                secret_hash: &str,
                user_id: Uuid,
                csrf_token: &str,
                now: DateTime<Utc>,
                expires_at: DateTime<Utc>,
            ) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO sessions (secret_hash, user_id, csrf_token, created_at, expires_at) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(secret_hash)
                .bind(user_id)
                .bind(csrf_token)
                .bind(now)
                .bind(expires_at)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn session(
                &self,
                secret_hash: &str,
                now: DateTime<Utc>,
            ) -> Result<Option<Session>, StoreError> {
                let found: Option<(String, Uuid)> = sqlx::query_as(
                    "SELECT csrf_token, user_id FROM sessions \
                     WHERE secret_hash = $1 AND expires_at > $2",
                )
                .bind(secret_hash)
                .bind(now)
                .fetch_optional(&self.pool)
                .await?;
                let Some((csrf_token, user_id)) = found else {
                    return Ok(None);
                };
                let mut conn = self.pool.acquire().await?;
                Ok(Some(Session {
                    user: load_user(&mut conn, user_id).await?,
                    csrf_token,
                }))
            }

            async fn end_session(&self, secret_hash: &str) -> Result<(), StoreError> {
                sqlx::query("DELETE FROM sessions WHERE secret_hash = $1")
                    .bind(secret_hash)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn insert_token(&self, token: &ApiToken) -> Result<(), StoreError> {
                let mut conn = self.pool.acquire().await?;
                insert_token(&mut conn, token).await
            }

            async fn token_by_hash(
                &self,
                secret_hash: &str,
            ) -> Result<Option<ApiToken>, StoreError> {
                let row = sqlx::query_as::<_, TokenRow>(
                    "SELECT id, name, role, secret_hash, created_at FROM api_tokens \
                     WHERE secret_hash = $1 AND revoked_at IS NULL",
                )
                .bind(secret_hash)
                .fetch_optional(&self.pool)
                .await?;
                row.map(ApiToken::try_from).transpose()
            }

            async fn insert_first_admin(&self, token: &ApiToken) -> Result<bool, StoreError> {
                let mut tx = self.begin_write().await?;
                // A concurrent first start waits on this row, then finds it taken.
                let claimed = sqlx::query(
                    "INSERT INTO installation (id, set_up_at) VALUES (1, $1) \
                     ON CONFLICT (id) DO NOTHING",
                )
                .bind(token.created_at)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                    == 1;
                let tokens: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM api_tokens")
                    .fetch_one(&mut *tx)
                    .await?;
                if !claimed || tokens > 0 {
                    tx.commit().await?;
                    return Ok(false);
                }
                insert_token(&mut tx, token).await?;
                tx.commit().await?;
                Ok(true)
            }
        }
    };
}

pub(super) use sql_store;
