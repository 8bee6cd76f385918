//! Incidents, their departments and tasks: written whole when opened, then
//! only what a change touched; read from one snapshot.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::QueryBuilder;
use sqlx::types::Json;
use uuid::Uuid;

use super::rows::{self, DepartmentRow, DepartmentSummaryRow, IncidentRow, TaskClockRow, TaskRow};
use super::{Conn, Db, ROWS_PER_STATEMENT, SqlStore};
use crate::domain::EventData;
use crate::domain::briefing::Share;
use crate::domain::regulatory::{IncidentClock, Regulatory};
use crate::domain::statement::{IncidentStatements, Statement};
use crate::domain::{Actor, IdempotencyClaim, Incident, IncidentFilter, IncidentSummary};
use crate::store::backend::Backend;
use crate::store::{Change, Effects, IncidentStore, Inserted, StoreError, UpdateError, Updated};

/// The columns of an incident, its departments and its tasks, as the rows
/// in `rows.rs` read them.
const INCIDENT_COLUMNS: &str = "id, reference, title, scenario, severity, summary, status, \
    commander_name, commander_email, opened_by, opened_at, updated_at, resolved_at, legal_hold, \
    regulatory, statements, briefings";
const DEPARTMENT_COLUMNS: &str = "incident_id, department, name, head_name, head_email, \
    deputies, joined_at, acknowledged_at, acknowledged_by";
const TASK_COLUMNS: &str = "incident_id, id, department, key, title, description, required, \
    depends_on, ack_within_ms, complete_within_ms, status, ack_due_at, due_at, \
    acknowledged_at, acknowledged_by, closed_at, closed_by, note";

/// What a list reads of departments and tasks: how far each has got.
const DEPARTMENT_SUMMARY_COLUMNS: &str = "incident_id, department, name, acknowledged_at";
const TASK_CLOCK_COLUMNS: &str = "incident_id, department, status, required, ack_due_at, due_at";

/// A page of incidents, newest first (ids are UUIDv7: by opening time),
/// before a cursor; one text per filter, so that each finds its index.
pub(super) const PAGE_ALL: &str = "SELECT id FROM incidents WHERE id < $1 \
    ORDER BY id DESC LIMIT $2";
pub(super) const PAGE_BY_STATUS: &str = "SELECT id FROM incidents WHERE status = $3 \
    AND id < $1 ORDER BY id DESC LIMIT $2";
pub(super) const PAGE_BY_SEVERITY: &str = "SELECT id FROM incidents WHERE severity = $3 \
    AND id < $1 ORDER BY id DESC LIMIT $2";
pub(super) const PAGE_BY_STATUS_AND_SEVERITY: &str = "SELECT id FROM incidents \
    WHERE status = $3 AND severity = $4 AND id < $1 ORDER BY id DESC LIMIT $2";

pub(super) async fn load_incident(
    conn: &mut Conn,
    id: Uuid,
) -> Result<Option<Incident>, StoreError> {
    Ok(load_incidents(conn, &[id]).await?.pop())
}

/// `SELECT {columns} FROM {table} WHERE {key} IN {ids} ORDER BY {order}`.
fn for_ids(columns: &str, table: &str, key: &str, ids: &[Uuid], order: &str) -> QueryBuilder<Db> {
    let mut query = QueryBuilder::new(format!("SELECT {columns} FROM {table} WHERE "));
    SqlStore::push_ids_in(&mut query, key, ids);
    query.push(format!(" ORDER BY {order}"));
    query
}

/// The three queries that read incidents whole: their rows, their
/// departments, their tasks.
pub(super) fn incident_queries(ids: &[Uuid]) -> [QueryBuilder<Db>; 3] {
    [
        for_ids(INCIDENT_COLUMNS, "incidents", "id", ids, "id"),
        for_ids(
            DEPARTMENT_COLUMNS,
            "incident_departments",
            "incident_id",
            ids,
            "incident_id, position",
        ),
        for_ids(
            TASK_COLUMNS,
            "tasks",
            "incident_id",
            ids,
            "incident_id, position",
        ),
    ]
}

/// Incidents by id, in that order, in three queries however many they are.
pub(super) async fn load_incidents(
    conn: &mut Conn,
    ids: &[Uuid],
) -> Result<Vec<Incident>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let [incidents, departments, tasks] = incident_queries(ids);
    let incidents: Vec<IncidentRow> = fetch(conn, incidents).await?;
    let mut departments = grouped(fetch(conn, departments).await?, |row: &DepartmentRow| {
        row.incident_id
    });
    let mut tasks = grouped(fetch(conn, tasks).await?, |row: &TaskRow| row.incident_id);
    in_order(ids, incidents, |incident| {
        let id = incident.id;
        rows::assemble(
            incident,
            departments.remove(&id).unwrap_or_default(),
            tasks.remove(&id).unwrap_or_default(),
        )
    })
}

/// What a list shows of incidents, by id, in that order: the same three
/// queries, reading of departments and tasks only what progress needs.
async fn load_summaries(conn: &mut Conn, ids: &[Uuid]) -> Result<Vec<IncidentSummary>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let incidents: Vec<IncidentRow> = fetch(
        conn,
        for_ids(INCIDENT_COLUMNS, "incidents", "id", ids, "id"),
    )
    .await?;
    let departments = for_ids(
        DEPARTMENT_SUMMARY_COLUMNS,
        "incident_departments",
        "incident_id",
        ids,
        "incident_id, position",
    );
    let mut departments = grouped(
        fetch(conn, departments).await?,
        |row: &DepartmentSummaryRow| row.incident_id,
    );
    let tasks = for_ids(
        TASK_CLOCK_COLUMNS,
        "tasks",
        "incident_id",
        ids,
        "incident_id, position",
    );
    let mut tasks = grouped(fetch(conn, tasks).await?, |row: &TaskClockRow| {
        row.incident_id
    });
    in_order(ids, incidents, |incident| {
        let id = incident.id;
        rows::summarise(
            incident,
            departments.remove(&id).unwrap_or_default(),
            tasks.remove(&id).unwrap_or_default(),
        )
    })
}

/// The rows of a query for a list of ids.
async fn fetch<R>(conn: &mut Conn, mut query: QueryBuilder<Db>) -> Result<Vec<R>, StoreError>
where
    R: for<'r> sqlx::FromRow<'r, <Db as sqlx::Database>::Row> + Send + Unpin,
{
    Ok(query
        .build_query_as()
        .persistent(SqlStore::PREPARE_ID_LISTS)
        .fetch_all(&mut *conn)
        .await?)
}

fn grouped<R>(rows: Vec<R>, incident_id: impl Fn(&R) -> Uuid) -> HashMap<Uuid, Vec<R>> {
    let mut by_incident: HashMap<Uuid, Vec<R>> = HashMap::new();
    for row in rows {
        by_incident.entry(incident_id(&row)).or_default().push(row);
    }
    by_incident
}

/// Builds each incident from its row, in the order of `ids`.
fn in_order<T>(
    ids: &[Uuid],
    incidents: Vec<IncidentRow>,
    mut build: impl FnMut(IncidentRow) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    let mut by_id: HashMap<Uuid, T> = HashMap::new();
    for incident in incidents {
        by_id.insert(incident.id, build(incident)?);
    }
    Ok(ids.iter().filter_map(|id| by_id.remove(id)).collect())
}

/// Writes incidents as they now are, with their departments and tasks that
/// are new or changed since `before` (None: all of them are new), in one
/// statement per table for all of them: new rows are inserted, and the
/// progress of existing ones updated (what an item asks for is a snapshot,
/// never rewritten).
pub(super) async fn write_incidents(
    conn: &mut Conn,
    changes: &[(Option<&Incident>, &Incident)],
) -> Result<(), sqlx::Error> {
    let incidents: Vec<&Incident> = changes.iter().map(|(_, after)| *after).collect();
    let mut departments = Vec::new();
    let mut tasks = Vec::new();
    for (before, after) in changes {
        let rows = rows::diff(*before, after);
        departments.extend(
            rows.departments
                .into_iter()
                .map(|(position, dept)| (after.id, position, dept)),
        );
        tasks.extend(
            rows.tasks
                .into_iter()
                .map(|(position, task)| (after.id, position, task)),
        );
    }
    for chunk in incidents.chunks(ROWS_PER_STATEMENT) {
        let mut query = QueryBuilder::<Db>::new(
            "INSERT INTO incidents (id, reference, title, scenario, severity, summary, status, \
             commander_name, commander_email, opened_by, opened_at, updated_at, resolved_at, \
             legal_hold, regulatory, next_deadline_at, statements, last_published_at, \
             briefings) ",
        );
        query.push_values(chunk, |mut row, incident| {
            row.push_bind(incident.id)
                .push_bind(incident.reference.clone())
                .push_bind(incident.title.clone())
                .push_bind(incident.scenario.clone())
                .push_bind(incident.severity.as_str())
                .push_bind(incident.summary.clone())
                .push_bind(incident.status.as_str())
                .push_bind(incident.commander.name.clone())
                .push_bind(incident.commander.email.clone())
                .push_bind(incident.opened_by.clone())
                .push_bind(incident.opened_at)
                .push_bind(incident.updated_at)
                .push_bind(incident.resolved_at)
                .push_bind(incident.legal_hold)
                .push_bind(Json(&incident.regulatory))
                .push_bind(incident.regulatory.next_deadline())
                .push_bind(Json(&incident.statements))
                .push_bind(incident.last_published_at())
                .push_bind(Json(&incident.briefings));
        });
        query.push(
            " ON CONFLICT (id) DO UPDATE SET severity = excluded.severity, \
             status = excluded.status, updated_at = excluded.updated_at, \
             resolved_at = excluded.resolved_at, legal_hold = excluded.legal_hold, \
             regulatory = excluded.regulatory, next_deadline_at = excluded.next_deadline_at, \
             statements = excluded.statements, last_published_at = excluded.last_published_at, \
             briefings = excluded.briefings",
        );
        query.build().persistent(false).execute(&mut *conn).await?;
    }
    for chunk in departments.chunks(ROWS_PER_STATEMENT) {
        let mut query = QueryBuilder::<Db>::new(
            "INSERT INTO incident_departments (incident_id, department, position, name, \
             head_name, head_email, deputies, joined_at, acknowledged_at, acknowledged_by) ",
        );
        query.push_values(chunk, |mut row, (incident_id, position, dept)| {
            row.push_bind(*incident_id)
                .push_bind(dept.id.clone())
                .push_bind(*position as i64)
                .push_bind(dept.name.clone())
                .push_bind(dept.head.name.clone())
                .push_bind(dept.head.email.clone())
                .push_bind(Json(dept.deputies.clone()))
                .push_bind(dept.joined_at)
                .push_bind(dept.acknowledged_at)
                .push_bind(dept.acknowledged_by.clone());
        });
        query.push(
            " ON CONFLICT (incident_id, department) DO UPDATE SET \
             acknowledged_at = excluded.acknowledged_at, acknowledged_by = excluded.acknowledged_by",
        );
        query.build().persistent(false).execute(&mut *conn).await?;
    }
    for chunk in tasks.chunks(ROWS_PER_STATEMENT) {
        let mut query = QueryBuilder::<Db>::new(
            "INSERT INTO tasks (id, incident_id, department, position, key, title, description, \
             required, depends_on, ack_within_ms, complete_within_ms, status, ack_due_at, due_at, \
             acknowledged_at, acknowledged_by, closed_at, closed_by, note) ",
        );
        query.push_values(chunk, |mut row, (incident_id, position, task)| {
            row.push_bind(task.id)
                .push_bind(*incident_id)
                .push_bind(task.department.clone())
                .push_bind(*position as i64)
                .push_bind(task.key.clone())
                .push_bind(task.title.clone())
                .push_bind(task.description.clone())
                .push_bind(task.required)
                .push_bind(Json(task.depends_on.clone()))
                .push_bind(task.ack_within.num_milliseconds())
                .push_bind(task.complete_within.num_milliseconds())
                .push_bind(task.status.as_str())
                .push_bind(task.ack_due_at)
                .push_bind(task.due_at)
                .push_bind(task.acknowledged_at)
                .push_bind(task.acknowledged_by.clone())
                .push_bind(task.closed_at)
                .push_bind(task.closed_by.clone())
                .push_bind(task.note.clone());
        });
        query.push(
            " ON CONFLICT (id) DO UPDATE SET status = excluded.status, due_at = excluded.due_at, \
             acknowledged_at = excluded.acknowledged_at, acknowledged_by = excluded.acknowledged_by, \
             closed_at = excluded.closed_at, closed_by = excluded.closed_by, note = excluded.note",
        );
        query.build().persistent(false).execute(&mut *conn).await?;
    }
    Ok(())
}

async fn find_claim(
    conn: &mut Conn,
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
impl IncidentStore for SqlStore {
    async fn insert_incident(
        &self,
        incident: &Incident,
        opened: Effects,
        actor: &Actor,
        claim: Option<&IdempotencyClaim>,
    ) -> Result<Inserted, StoreError> {
        let mut tx = Self::begin_write(&self.pool).await?;
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
                    return find_claim(&mut conn, claim)
                        .await?
                        .ok_or_else(|| StoreError::Corrupt("idempotency key vanished".into()));
                }
                Err(error) => return Err(error.into()),
            }
        }
        write_incidents(&mut tx, &[(None, incident)]).await?;
        super::effects::append_effects(&mut tx, incident.id, actor, incident.opened_at, opened)
            .await?;
        tx.commit().await?;
        Ok(Inserted::Created)
    }

    async fn update_incident(
        &self,
        id: Uuid,
        actor: Actor,
        now: DateTime<Utc>,
        change: Change,
    ) -> Result<Updated, UpdateError> {
        self.writers.write(id, actor, now, change).await
    }

    async fn update_incident_once(
        &self,
        id: Uuid,
        key: String,
        actor: Actor,
        now: DateTime<Utc>,
        change: Change,
    ) -> Result<Option<Updated>, UpdateError> {
        self.writers.write_once(id, key, actor, now, change).await
    }

    async fn incident(&self, id: Uuid) -> Result<Option<Incident>, StoreError> {
        // One snapshot, so the three queries see one state.
        let mut tx = Self::begin_read(&self.pool).await?;
        let incident = load_incident(&mut tx, id).await?;
        tx.commit().await?;
        Ok(incident)
    }

    async fn incidents(&self, filter: IncidentFilter) -> Result<Vec<IncidentSummary>, StoreError> {
        let mut tx = Self::begin_read(&self.pool).await?;
        let before = filter.before.unwrap_or(Uuid::max());
        let status = filter.status.map(|status| status.as_str());
        let severity = filter.severity.map(|severity| severity.as_str());
        let query = match (status, severity) {
            (None, None) => sqlx::query_scalar(PAGE_ALL),
            (Some(_), None) => sqlx::query_scalar(PAGE_BY_STATUS),
            (None, Some(_)) => sqlx::query_scalar(PAGE_BY_SEVERITY),
            (Some(_), Some(_)) => sqlx::query_scalar(PAGE_BY_STATUS_AND_SEVERITY),
        };
        let mut query = query.bind(before).bind(i64::from(filter.limit));
        for value in status.into_iter().chain(severity) {
            query = query.bind(value);
        }
        let ids: Vec<Uuid> = query.fetch_all(&mut *tx).await?;
        let incidents = load_summaries(&mut tx, &ids).await?;
        tx.commit().await?;
        Ok(incidents)
    }

    async fn running_clocks(&self, limit: u32) -> Result<Vec<IncidentClock>, StoreError> {
        let rows: Vec<(Uuid, String, String, Json<Regulatory>)> = sqlx::query_as(
            "SELECT id, reference, title, regulatory FROM incidents \
             WHERE next_deadline_at IS NOT NULL ORDER BY next_deadline_at LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        let mut clocks: Vec<IncidentClock> = rows
            .into_iter()
            .flat_map(|(incident_id, reference, title, regulatory)| {
                regulatory
                    .0
                    .pending()
                    .into_iter()
                    .map(move |clock| IncidentClock {
                        incident_id,
                        reference: reference.clone(),
                        title: title.clone(),
                        clock,
                    })
            })
            .collect();
        clocks.sort_by_key(|clock| clock.clock.due_at);
        Ok(clocks)
    }

    async fn confirm_briefing(
        &self,
        incident_id: Uuid,
        briefing_id: Uuid,
        email: &str,
        actor: &Actor,
        at: DateTime<Utc>,
        event: EventData,
    ) -> Result<bool, StoreError> {
        self.writers
            .confirm(incident_id, actor.clone(), at, (briefing_id, email), event)
            .await
            .map_err(|error| match error {
                UpdateError::Store(error) => error,
                other => StoreError::Corrupt(format!("a confirmation was refused: {other:?}")),
            })
    }

    async fn briefing_confirmed(
        &self,
        briefing_id: Uuid,
        email: &str,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        let confirmed: Option<Option<DateTime<Utc>>> = sqlx::query_scalar(
            "SELECT confirmed_at FROM briefing_recipients WHERE briefing_id = $1 AND email = $2",
        )
        .bind(briefing_id)
        .bind(email)
        .fetch_optional(&self.pool)
        .await?;
        Ok(confirmed.flatten())
    }

    async fn briefing_shares(&self, briefing_id: Uuid) -> Result<Vec<Share>, StoreError> {
        let rows: Vec<(String, i64, i64)> = sqlx::query_as(
            "SELECT department, COUNT(*), COUNT(confirmed_at) FROM briefing_recipients \
             WHERE briefing_id = $1 GROUP BY department ORDER BY department",
        )
        .bind(briefing_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(department, recipients, confirmed)| Share {
                department,
                recipients,
                confirmed,
            })
            .collect())
    }

    async fn published_statements(
        &self,
        limit: u32,
    ) -> Result<Vec<IncidentStatements>, StoreError> {
        let rows: Vec<(Uuid, Json<Vec<Statement>>)> = sqlx::query_as(
            "SELECT id, statements FROM incidents WHERE last_published_at IS NOT NULL \
             ORDER BY last_published_at DESC LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(incident_id, statements)| IncidentStatements {
                incident_id,
                statements: statements.0,
            })
            .collect())
    }
}
