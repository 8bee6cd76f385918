//! Incidents, their departments and tasks: written whole when opened, then
//! only what a change touched; read from one snapshot.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::QueryBuilder;
use sqlx::types::Json;
use uuid::Uuid;

use super::rows::{self, DepartmentRow, IncidentRow, TaskRow};
use super::{Conn, Db, SqlStore};
use crate::domain::{Actor, Department, IdempotencyClaim, Incident, IncidentFilter, Task};
use crate::store::backend::Backend;
use crate::store::{Change, Effects, IncidentStore, Inserted, StoreError, UpdateError, Updated};

/// The columns of an incident, its departments and its tasks, as the rows
/// in `rows.rs` read them.
const INCIDENT_COLUMNS: &str = "id, reference, title, scenario, severity, summary, status, \
    commander_name, commander_email, opened_at, updated_at, resolved_at, legal_hold";
const DEPARTMENT_COLUMNS: &str = "incident_id, department, name, head_name, head_email, \
    deputies, joined_at, acknowledged_at, acknowledged_by";
const TASK_COLUMNS: &str = "incident_id, id, department, key, title, description, required, \
    depends_on, ack_within_ms, complete_within_ms, status, ack_due_at, due_at, \
    acknowledged_at, acknowledged_by, closed_at, closed_by, note";

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

/// `SELECT {columns} FROM {table} WHERE {key} IN ({ids}) ORDER BY {order}`.
fn for_ids(columns: &str, table: &str, key: &str, ids: &[Uuid], order: &str) -> QueryBuilder<Db> {
    let mut query = QueryBuilder::new(format!("SELECT {columns} FROM {table} WHERE {key} IN ("));
    let mut list = query.separated(", ");
    for id in ids {
        list.push_bind(*id);
    }
    query.push(format!(") ORDER BY {order}"));
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
pub(super) async fn load_incidents(conn: &mut Conn, ids: &[Uuid]) -> Result<Vec<Incident>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let [mut incidents, mut departments_query, mut tasks_query] = incident_queries(ids);
    let incidents: Vec<IncidentRow> = incidents.build_query_as().fetch_all(&mut *conn).await?;
    let mut departments: HashMap<Uuid, Vec<DepartmentRow>> = HashMap::new();
    let rows: Vec<DepartmentRow> = departments_query
        .build_query_as()
        .fetch_all(&mut *conn)
        .await?;
    for row in rows {
        departments.entry(row.incident_id).or_default().push(row);
    }
    let mut tasks: HashMap<Uuid, Vec<TaskRow>> = HashMap::new();
    let rows: Vec<TaskRow> = tasks_query.build_query_as().fetch_all(&mut *conn).await?;
    for row in rows {
        tasks.entry(row.incident_id).or_default().push(row);
    }
    let mut by_id: HashMap<Uuid, Incident> = HashMap::new();
    for incident in incidents {
        let id = incident.id;
        let assembled = rows::assemble(
            incident,
            departments.remove(&id).unwrap_or_default(),
            tasks.remove(&id).unwrap_or_default(),
        )?;
        by_id.insert(id, assembled);
    }
    Ok(ids.iter().filter_map(|id| by_id.remove(id)).collect())
}

async fn insert_incident_rows(conn: &mut Conn, incident: &Incident) -> Result<(), sqlx::Error> {
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

async fn insert_department(
    conn: &mut Conn,
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
    conn: &mut Conn,
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
    conn: &mut Conn,
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
async fn update_task(conn: &mut Conn, task: &Task) -> Result<(), sqlx::Error> {
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

pub(super) async fn save_changes(
    conn: &mut Conn,
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
        insert_incident_rows(&mut tx, incident).await?;
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

    async fn incident(&self, id: Uuid) -> Result<Option<Incident>, StoreError> {
        // One snapshot, so the three queries see one state.
        let mut tx = Self::begin_read(&self.pool).await?;
        let incident = load_incident(&mut tx, id).await?;
        tx.commit().await?;
        Ok(incident)
    }

    async fn incidents(&self, filter: IncidentFilter) -> Result<Vec<Incident>, StoreError> {
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
        let incidents = load_incidents(&mut tx, &ids).await?;
        tx.commit().await?;
        Ok(incidents)
    }
}
