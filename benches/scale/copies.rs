//! The rest of a year's history, copied from incidents the engine worked.
//!
//! Working an incident through the engine (its changes, its emails over
//! SMTP) seeds about ten a second on these machines: 100,000 would take
//! hours. What a read costs depends on how many rows there are, how they
//! are shaped and where they sit in the indexes, not on how they got there;
//! so the engine works the first incidents, and each copy repeats them
//! later in the year, row for row: every table an incident touches, new
//! ids (UUIDv7 at the copy's own time, so the list's order and the indexes'
//! locality are a real year's), every timestamp shifted, every event
//! re-chained under its new incident id (a copy's timeline verifies like
//! the original's), and link tokens with hashes of their own.
//!
//! Rows travel as JSON objects, so one routine serves both engines, each
//! reading and writing them with its own JSON functions.

use std::collections::HashMap;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value};
// Table and column names are this file's own constants and the schema's.
use sqlx::{AssertSqlSafe, PgPool, SqlitePool};
use uuid::{NoContext, Timestamp, Uuid};

/// What an incident leaves, in an order its foreign keys accept.
const TABLES: [&str; 7] = [
    "incidents",
    "incident_departments",
    "tasks",
    "outbox",
    "link_tokens",
    "timers",
    "events",
];

/// Rows per insert statement.
const BATCH: usize = 2_000;

type Row = Map<String, Value>;

pub enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// The templates' rows, table by table, read once.
pub struct Templates {
    pool: Pool,
    /// Per table: its columns, and the templates' rows.
    tables: Vec<(&'static str, Vec<Column>, Vec<Row>)>,
    /// Ids of every row the templates hold, to be replaced in each copy.
    ids: Vec<Uuid>,
    /// Each template incident's opening time.
    opened: HashMap<Uuid, DateTime<Utc>>,
}

impl Templates {
    /// Reads the rows of `incidents` and of everything they left.
    pub async fn read(url: &str, incidents: &[Uuid]) -> Templates {
        let pool = match tocsin::store::sqlite_path(url) {
            Some(_) => Pool::Sqlite(SqlitePool::connect(url).await.expect("connect")),
            None => Pool::Postgres(PgPool::connect(url).await.expect("connect")),
        };
        let wanted: std::collections::HashSet<Uuid> = incidents.iter().copied().collect();
        let mut tables = Vec::new();
        let mut ids = Vec::new();
        let mut opened = HashMap::new();
        for table in TABLES {
            let columns = pool.columns(table).await;
            let rows = pool.rows(table, &columns).await;
            let owner = if table == "incidents" {
                "id"
            } else {
                "incident_id"
            };
            let rows: Vec<Row> = rows
                .into_iter()
                .filter(|row| uuid_of(&row[owner]).is_some_and(|id| wanted.contains(&id)))
                .collect();
            for row in &rows {
                if let Some(id) = row.get("id").and_then(uuid_of) {
                    ids.push(id);
                }
                if table == "incidents" {
                    opened.insert(uuid_of(&row["id"]).expect("id"), time_of(&row["opened_at"]));
                }
            }
            tables.push((table, columns, rows));
        }
        assert_eq!(opened.len(), incidents.len(), "every template read");
        Templates {
            pool,
            tables,
            ids,
            opened,
        }
    }

    /// Writes one copy of the templates, `shift` later, in one transaction;
    /// returns the copies' incident ids in the templates' order.
    pub async fn copy(&self, shift: chrono::Duration, order: &[Uuid]) -> Vec<Uuid> {
        let renamed = self.new_ids(shift);
        let mut written = Vec::new();
        for (table, columns, rows) in &self.tables {
            let mut rows: Vec<Row> = rows
                .iter()
                .map(|row| copy_row(row, &renamed, shift))
                .collect();
            match *table {
                "events" => rechain(&mut rows),
                "link_tokens" => {
                    for row in &mut rows {
                        row.insert("secret_hash".into(), Value::String(random_hex()));
                    }
                }
                _ => {}
            }
            written.push((*table, columns.as_slice(), rows));
        }
        self.pool.insert(&written).await;
        order.iter().map(|id| renamed[id]).collect()
    }

    /// A new id for every row id: each incident's a UUIDv7 at its copy's
    /// opening time, the rows it owns one at the copy's start.
    fn new_ids(&self, shift: chrono::Duration) -> HashMap<Uuid, Uuid> {
        let at = |time: DateTime<Utc>| {
            let time = time + shift;
            let seconds = u64::try_from(time.timestamp()).expect("after 1970");
            Uuid::new_v7(Timestamp::from_unix(
                NoContext,
                seconds,
                time.timestamp_subsec_nanos(),
            ))
        };
        let mut renamed: HashMap<Uuid, Uuid> = self
            .opened
            .iter()
            .map(|(id, opened)| (*id, at(*opened)))
            .collect();
        let earliest = self.opened.values().min().copied().unwrap_or_else(Utc::now);
        for id in &self.ids {
            renamed.entry(*id).or_insert_with(|| at(earliest));
        }
        renamed
    }
}

/// How a column travels as JSON: the expression that reads it into a row
/// object, and the one that writes it back from the row (`value`).
struct Column {
    name: String,
    read: String,
    write: String,
}

impl Pool {
    /// A table's columns, in order: SQLite's uuids are blobs, carried as
    /// hex; PostgreSQL's values are cast back to their types, JSON kept as
    /// JSON (a JSON `null` is a value, not a missing one).
    async fn columns(&self, table: &str) -> Vec<Column> {
        let (sql, extract) = match self {
            Pool::Sqlite(_) => (
                "SELECT name, type FROM pragma_table_info($1) ORDER BY cid",
                "json_extract(value, '$.{name}')",
            ),
            Pool::Postgres(_) => (
                "SELECT column_name::text, data_type::text FROM information_schema.columns \
                 WHERE table_name = $1 AND table_schema = current_schema() \
                 ORDER BY ordinal_position",
                "(value ->> '{name}')",
            ),
        };
        let columns: Vec<(String, String)> = match self {
            Pool::Sqlite(pool) => sqlx::query_as(sql).bind(table).fetch_all(pool).await,
            Pool::Postgres(pool) => sqlx::query_as(sql).bind(table).fetch_all(pool).await,
        }
        .expect("columns");
        columns
            .into_iter()
            .map(|(name, kind)| {
                let extract = extract.replace("{name}", &name);
                let (read, write) = match (self, kind.as_str()) {
                    (Pool::Sqlite(_), "BLOB") => {
                        (format!("lower(hex({name}))"), format!("unhex({extract})"))
                    }
                    (Pool::Sqlite(_), _) => (name.clone(), extract),
                    (Pool::Postgres(_), "jsonb") => (name.clone(), format!("value -> '{name}'")),
                    (Pool::Postgres(_), kind) => (name.clone(), format!("{extract}::{kind}")),
                };
                Column { name, read, write }
            })
            .collect()
    }

    /// All a table's rows, as JSON objects.
    async fn rows(&self, table: &str, columns: &[Column]) -> Vec<Row> {
        let fields: Vec<String> = columns
            .iter()
            .map(|column| format!("'{}', {}", column.name, column.read))
            .collect();
        let (object, as_text) = match self {
            Pool::Sqlite(_) => ("json_object", ""),
            Pool::Postgres(_) => ("json_build_object", "::text"),
        };
        let sql = format!(
            "SELECT {object}({}){as_text} FROM {table}",
            fields.join(", ")
        );
        let texts: Vec<String> = match self {
            Pool::Sqlite(pool) => sqlx::query_scalar(AssertSqlSafe(sql)).fetch_all(pool).await,
            Pool::Postgres(pool) => sqlx::query_scalar(AssertSqlSafe(sql)).fetch_all(pool).await,
        }
        .expect("read templates");
        texts
            .iter()
            .map(|text| serde_json::from_str(text).expect("a row as JSON"))
            .collect()
    }

    /// Inserts every table's rows in one transaction.
    async fn insert(&self, tables: &[(&str, &[Column], Vec<Row>)]) {
        let each = match self {
            Pool::Sqlite(_) => "json_each($1)",
            Pool::Postgres(_) => "jsonb_array_elements($1::jsonb) AS element(value)",
        };
        let statements = tables.iter().flat_map(|(table, columns, rows)| {
            let names: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
            let values: Vec<&str> = columns.iter().map(|c| c.write.as_str()).collect();
            let sql = format!(
                "INSERT INTO {table} ({}) SELECT {} FROM {each}",
                names.join(", "),
                values.join(", ")
            );
            rows.chunks(BATCH)
                .map(move |batch| (sql.clone(), Value::from(batch.to_vec()).to_string()))
        });
        match self {
            Pool::Sqlite(pool) => {
                let mut tx = pool.begin().await.expect("begin");
                for (sql, batch) in statements {
                    let query = sqlx::query(AssertSqlSafe(sql)).bind(batch);
                    query.execute(&mut *tx).await.expect("insert copies");
                }
                tx.commit().await.expect("commit");
            }
            Pool::Postgres(pool) => {
                let mut tx = pool.begin().await.expect("begin");
                for (sql, batch) in statements {
                    let query = sqlx::query(AssertSqlSafe(sql)).bind(batch);
                    query.execute(&mut *tx).await.expect("insert copies");
                }
                tx.commit().await.expect("commit");
            }
        }
    }
}

/// A row with its ids renamed (wherever they appear, JSON columns too) and
/// its timestamps shifted.
fn copy_row(row: &Row, renamed: &HashMap<Uuid, Uuid>, shift: chrono::Duration) -> Row {
    row.iter()
        .map(|(name, value)| {
            let value = match value {
                Value::String(text) if is_time(name) => Value::String(shifted(text, shift)),
                value => rename(value, renamed),
            };
            (name.clone(), value)
        })
        .collect()
}

fn is_time(column: &str) -> bool {
    column == "at" || column.ends_with("_at") || column == "claimed_until"
}

fn shifted(text: &str, shift: chrono::Duration) -> String {
    (time_of(&Value::String(text.to_owned())) + shift).to_rfc3339_opts(SecondsFormat::AutoSi, false)
}

/// Every string that is a renamed id, replaced by its new one in the same
/// spelling (hyphenated, or SQLite's bare hex); JSON kept as text (SQLite's
/// JSON columns) is renamed inside.
fn rename(value: &Value, renamed: &HashMap<Uuid, Uuid>) -> Value {
    match value {
        Value::String(text) => Value::String(rename_text(text, renamed)),
        Value::Array(items) => Value::Array(items.iter().map(|v| rename(v, renamed)).collect()),
        Value::Object(fields) => Value::Object(
            fields
                .iter()
                .map(|(k, v)| (k.clone(), rename(v, renamed)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn rename_text(text: &str, renamed: &HashMap<Uuid, Uuid>) -> String {
    let swap = |word: &str| -> Option<String> {
        let new = renamed.get(&Uuid::parse_str(word).ok()?)?;
        Some(match word.len() {
            32 => new.simple().to_string(),
            _ => new.hyphenated().to_string(),
        })
    };
    if let Some(new) = swap(text) {
        return new;
    }
    if !text.contains('-') || text.len() < 36 {
        return text.to_owned();
    }
    // Ids quoted inside JSON kept as text.
    text.split('"')
        .map(|word| swap(word).unwrap_or_else(|| word.to_owned()))
        .collect::<Vec<_>>()
        .join("\"")
}

/// Seals each incident's copied events again, in order, under its new id.
fn rechain(events: &mut [Row]) {
    events.sort_by_key(|row| {
        (
            uuid_of(&row["incident_id"]).expect("incident_id"),
            row["seq"].as_i64().expect("seq"),
        )
    });
    let mut head: Option<(Uuid, String)> = None;
    for row in events {
        let incident = uuid_of(&row["incident_id"]).expect("incident_id");
        let prev_hash = match &head {
            Some((id, hash)) if *id == incident => hash.clone(),
            _ => tocsin::timeline::genesis_hash(incident),
        };
        // SQLite keeps the data as JSON text; PostgreSQL as JSON.
        let data = match &row["data"] {
            Value::String(text) => serde_json::from_str(text).expect("event data"),
            data => data.clone(),
        };
        let hash = tocsin::timeline::event_hash(
            incident,
            row["seq"].as_i64().expect("seq"),
            time_of(&row["at"]),
            row["actor"].as_str().expect("actor"),
            row["kind"].as_str().expect("kind"),
            &data,
            &prev_hash,
        );
        row.insert("prev_hash".into(), Value::String(prev_hash));
        row.insert("hash".into(), Value::String(hash.clone()));
        head = Some((incident, hash));
    }
}

fn uuid_of(value: &Value) -> Option<Uuid> {
    Uuid::parse_str(value.as_str()?).ok()
}

fn time_of(value: &Value) -> DateTime<Utc> {
    let text = value.as_str().expect("a timestamp");
    DateTime::parse_from_rfc3339(text)
        .map(|time| time.with_timezone(&Utc))
        .expect("an RFC 3339 timestamp")
}

fn random_hex() -> String {
    hex::encode(Uuid::new_v4().as_bytes()) + &hex::encode(Uuid::new_v4().as_bytes())
}
