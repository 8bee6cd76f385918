//! Schema migrations, on both engines: each applies on an empty database,
//! and on a database holding what the previous release wrote, which comes
//! out of the migration with nothing lost or altered and still serves.

mod support;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::migrate::Migrator;
use sqlx::{PgPool, SqlitePool};
use support::process::BIN;
use support::{Backend, PLAYBOOKS, TestApp, TestDatabase};

/// The last release, and the schema version it shipped with.
const PREVIOUS_RELEASE: &str = "0.1.0";
const PREVIOUS_SCHEMA: i64 = 5;

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/postgres");

/// What the previous release left in a database: a dump of data only, made
/// by `record_release_fixture` when that release was current.
fn fixture_path(backend: &Backend) -> PathBuf {
    let engine = match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres { .. } => "postgres",
    };
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(format!("release-{PREVIOUS_RELEASE}"))
        .join(format!("{engine}.sql"))
}

/// A table's rows, each as the INSERT statement that recreates it, sorted.
type Snapshot = BTreeMap<String, Table>;

#[derive(Debug, PartialEq)]
struct Table {
    columns: Vec<String>,
    rows: Vec<String>,
}

/// Raw access to a database, past tocsin, in the engine's own SQL.
enum Database {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

impl Database {
    async fn connect(url: &str) -> Database {
        if url.starts_with("sqlite:") {
            let options = url
                .parse::<sqlx::sqlite::SqliteConnectOptions>()
                .expect("SQLite URL")
                .create_if_missing(true)
                .foreign_keys(true);
            Database::Sqlite(SqlitePool::connect_with(options).await.expect("open"))
        } else {
            Database::Postgres(PgPool::connect(url).await.expect("connect"))
        }
    }

    async fn close(self) {
        match self {
            Database::Sqlite(pool) => pool.close().await,
            Database::Postgres(pool) => pool.close().await,
        }
    }

    fn migrator(&self) -> &'static Migrator {
        match self {
            Database::Sqlite(_) => &SQLITE_MIGRATIONS,
            Database::Postgres(_) => &POSTGRES_MIGRATIONS,
        }
    }

    async fn migrate_to(&self, version: i64) -> Result<(), sqlx::migrate::MigrateError> {
        match self {
            Database::Sqlite(pool) => self.migrator().run_to(version, pool).await,
            Database::Postgres(pool) => self.migrator().run_to(version, pool).await,
        }
    }

    async fn applied_versions(&self) -> Vec<i64> {
        let sql = "SELECT version FROM _sqlx_migrations WHERE success ORDER BY version";
        match self {
            Database::Sqlite(pool) => sqlx::query_scalar(sql).fetch_all(pool).await,
            Database::Postgres(pool) => sqlx::query_scalar(sql).fetch_all(pool).await,
        }
        .expect("applied migrations")
    }

    /// Runs a script of many statements, as one transaction.
    async fn run_script(&self, script: &str) {
        let script = format!("BEGIN;\n{script}\nCOMMIT;");
        match self {
            Database::Sqlite(pool) => sqlx::raw_sql(sqlx::AssertSqlSafe(script))
                .execute(pool)
                .await
                .map(drop),
            Database::Postgres(pool) => sqlx::raw_sql(sqlx::AssertSqlSafe(script))
                .execute(pool)
                .await
                .map(drop),
        }
        .expect("the fixture loads");
    }

    /// Every table of ours with its columns, in the order they were created
    /// (so that rows can be inserted before the rows that refer to them).
    async fn tables(&self) -> Vec<(String, Vec<String>)> {
        let names: Vec<String> = match self {
            Database::Sqlite(pool) => {
                sqlx::query_scalar(
                    "SELECT name FROM sqlite_master WHERE type = 'table' \
                 AND name NOT LIKE 'sqlite_%' AND name <> '_sqlx_migrations' ORDER BY rowid",
                )
                .fetch_all(pool)
                .await
            }
            Database::Postgres(pool) => {
                sqlx::query_scalar(
                    "SELECT c.relname::text FROM pg_class c \
                 JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname = 'public' AND c.relkind = 'r' \
                 AND c.relname <> '_sqlx_migrations' ORDER BY c.oid",
                )
                .fetch_all(pool)
                .await
            }
        }
        .expect("tables");
        let mut tables = Vec::new();
        for name in names {
            let columns = self.columns(&name).await;
            tables.push((name, columns));
        }
        tables
    }

    async fn columns(&self, table: &str) -> Vec<String> {
        match self {
            Database::Sqlite(pool) => {
                sqlx::query_scalar("SELECT name FROM pragma_table_info($1) ORDER BY cid")
                    .bind(table)
                    .fetch_all(pool)
                    .await
            }
            Database::Postgres(pool) => {
                sqlx::query_scalar(
                    "SELECT column_name::text FROM information_schema.columns \
                 WHERE table_schema = 'public' AND table_name = $1 ORDER BY ordinal_position",
                )
                .bind(table)
                .fetch_all(pool)
                .await
            }
        }
        .expect("columns")
    }

    /// The rows of `table`, restricted to `columns`, as INSERT statements
    /// in the engine's own literal syntax, sorted.
    async fn rows(&self, table: &str, columns: &[String]) -> Vec<String> {
        let quote = match self {
            Database::Sqlite(_) => "quote",
            Database::Postgres(_) => "quote_nullable",
        };
        let values = columns
            .iter()
            .map(|column| format!("{quote}(\"{column}\")"))
            .collect::<Vec<_>>()
            .join(" || ', ' || ");
        let sql = format!(
            "SELECT 'INSERT INTO {table} ({}) VALUES (' || {values} || ');' FROM \"{table}\"",
            columns.join(", "),
        );
        let mut rows: Vec<String> = match self {
            Database::Sqlite(pool) => {
                sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                    .fetch_all(pool)
                    .await
            }
            Database::Postgres(pool) => {
                sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                    .fetch_all(pool)
                    .await
            }
        }
        .expect("rows");
        rows.sort();
        rows
    }

    async fn snapshot(&self) -> Snapshot {
        let mut snapshot = Snapshot::new();
        for (name, columns) in self.tables().await {
            let rows = self.rows(&name, &columns).await;
            snapshot.insert(name, Table { columns, rows });
        }
        snapshot
    }

    /// The same tables and columns as `earlier`, read now: a migration may
    /// add columns and tables, but must keep what was there.
    async fn snapshot_like(&self, earlier: &Snapshot) -> Snapshot {
        let mut snapshot = Snapshot::new();
        for (name, table) in earlier {
            let rows = self.rows(name, &table.columns).await;
            let columns = table.columns.clone();
            snapshot.insert(name.clone(), Table { columns, rows });
        }
        snapshot
    }
}

with_each_backend!(
    each_migration_applies_in_turn_on_an_empty_database,
    data_from_the_previous_release_survives_migration_and_serves
);

async fn each_migration_applies_in_turn_on_an_empty_database(backend: Backend) {
    let database = TestDatabase::create(&backend).await;
    let raw = Database::connect(&database.url).await;
    let versions: Vec<i64> = raw.migrator().iter().map(|m| m.version).collect();
    assert!(
        versions.len() > PREVIOUS_SCHEMA as usize - 1,
        "{versions:?}"
    );
    for (applied, version) in versions.iter().enumerate() {
        raw.migrate_to(*version)
            .await
            .unwrap_or_else(|error| panic!("{backend:?}: migration {version}: {error}"));
        assert_eq!(raw.applied_versions().await, versions[..=applied]);
    }
    raw.close().await;

    // The schema they build is the one the server runs on.
    let app = TestApp::spawn_on(database, std::path::Path::new(PLAYBOOKS)).await;
    let incident = app.trigger("account-hijack", "critical").await;
    assert_chain_verifies(&app, incident["id"].as_str().expect("id")).await;
    app.stop().await;
}

async fn data_from_the_previous_release_survives_migration_and_serves(backend: Backend) {
    let database = TestDatabase::create(&backend).await;
    let raw = Database::connect(&database.url).await;
    raw.migrate_to(PREVIOUS_SCHEMA)
        .await
        .expect("previous schema");
    let fixture = fixture_path(&backend);
    let script = std::fs::read_to_string(&fixture)
        .unwrap_or_else(|error| panic!("{}: {error}", fixture.display()));
    raw.run_script(&script).await;
    let before = raw.snapshot().await;
    for (table, at_least) in [
        ("incidents", 2),
        ("events", 20),
        ("outbox", 10),
        ("users", 1),
    ] {
        let rows = before[table].rows.len();
        assert!(rows >= at_least, "the fixture holds only {rows} {table}");
    }

    // As an operator upgrades: the new binary's `migrate`.
    let migrated = Command::new(BIN)
        .arg("migrate")
        .env("TOCSIN_DATABASE_URL", &database.url)
        .output()
        .expect("run tocsin migrate");
    assert!(
        migrated.status.success(),
        "{}",
        String::from_utf8_lossy(&migrated.stderr)
    );
    let latest = raw.migrator().iter().map(|m| m.version).max();
    assert_eq!(raw.applied_versions().await.last().copied(), latest);

    let after = raw.snapshot_like(&before).await;
    for (table, earlier) in &before {
        let now = &after[table].rows;
        let lost: Vec<_> = earlier
            .rows
            .iter()
            .filter(|row| !now.contains(row))
            .collect();
        let new: Vec<_> = now
            .iter()
            .filter(|row| !earlier.rows.contains(row))
            .collect();
        assert!(
            lost.is_empty() && new.is_empty(),
            "{backend:?}: migrating changed table {table}:\nbefore: {lost:#?}\nafter: {new:#?}"
        );
    }
    raw.close().await;

    serves_what_the_release_recorded(database).await;
}

/// The migrated data through the new server: every incident readable, every
/// chain verifying under the key the release generated, and no second
/// first-admin token minted on an installation that already had tokens.
async fn serves_what_the_release_recorded(database: TestDatabase) {
    let app = TestApp::spawn_on(database, std::path::Path::new(PLAYBOOKS)).await;
    assert!(
        app.engine
            .first_admin_token()
            .await
            .expect("first admin")
            .is_none(),
        "an upgraded installation got a new first-admin token"
    );
    let (status, list) = app.get("/api/v1/incidents", &app.responder).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let incidents = list["incidents"].as_array().expect("incidents");
    assert_eq!(incidents.len(), 2, "{list}");
    for incident in incidents {
        assert_chain_verifies(&app, incident["id"].as_str().expect("id")).await;
    }
    let (status, log) = app.get("/api/v1/purge-log", &app.legal).await;
    assert_eq!(status, StatusCode::OK, "{log}");
    assert_eq!(log["purged"].as_array().map(Vec::len), Some(1), "{log}");
    app.stop().await;
}

async fn assert_chain_verifies(app: &TestApp, id: &str) {
    let path = format!("/api/v1/incidents/{id}/timeline/verify");
    let (status, report) = app.get(&path, &app.legal).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["ok"], true, "{report}");
}

/// Records the fixture for the release being cut: run it on the release's
/// commit, once per engine, and commit what it writes.
///
/// `cargo test --test migrations -- --ignored record_release_fixture`
#[tokio::test]
#[ignore = "writes tests/fixtures; run by hand when cutting a release"]
async fn record_release_fixture() {
    // Both engines: the recorder needs PostgreSQL too.
    for backend in [Backend::Sqlite, Backend::postgres()] {
        let app = TestApp::spawn(backend.clone()).await;
        drive_a_release_day(&app).await;
        let database = app.stop().await;
        let raw = Database::connect(&database.url).await;
        let mut dump = format!(
            "-- Data written by tocsin {PREVIOUS_RELEASE} (schema {PREVIOUS_SCHEMA}), \
             recorded by tests/migrations.rs.\n\
             -- Test data only: its keys and hashes guard nothing.\n"
        );
        for (name, columns) in raw.tables().await {
            for row in raw.rows(&name, &columns).await {
                dump.push_str(&row);
                dump.push('\n');
            }
        }
        raw.close().await;
        let path = fixture_path(&backend);
        std::fs::create_dir_all(path.parent().expect("folder")).expect("fixture folder");
        std::fs::write(&path, dump).expect("write fixture");
        eprintln!("wrote {}", path.display());
    }
}

/// What a release's database holds after a real day: an incident worked and
/// resolved under legal hold, one still open with its chasers, one resolved
/// and purged, console users with sessions, idempotency keys.
async fn drive_a_release_day(app: &TestApp) {
    let (status, worked) = post_with_key(app, "fixture-worked").await;
    assert_eq!(status, StatusCode::CREATED, "{worked}");
    let id = worked["id"].as_str().expect("id").to_owned();
    let incident = format!("/api/v1/incidents/{id}");
    let tasks = support::tasks(&worked);
    let free = tasks
        .iter()
        .find(|task| task["depends_on"].as_array().is_some_and(Vec::is_empty))
        .expect("a task without dependencies");
    let free_id = free["id"].as_str().expect("task id");
    let department = free["key"]
        .as_str()
        .and_then(|key| key.split('/').next())
        .expect("department");
    let optional = tasks
        .iter()
        .find(|task| task["required"] == false)
        .expect("an optional task");
    for (path, token, body) in [
        (
            format!("{incident}/notes"),
            &app.responder,
            json!({"text": "Volumes doubled on every channel"}),
        ),
        (
            format!("{incident}/departments/{department}/acknowledge"),
            &app.responder,
            json!({}),
        ),
        (
            format!("{incident}/tasks/{free_id}/acknowledge"),
            &app.responder,
            json!({}),
        ),
        (
            format!("{incident}/tasks/{free_id}/complete"),
            &app.responder,
            json!({"note": "Holding statement out"}),
        ),
        (
            format!(
                "{incident}/tasks/{}/skip",
                optional["id"].as_str().expect("id")
            ),
            &app.responder,
            json!({"reason": "Not needed at this size"}),
        ),
        (
            format!("{incident}/severity"),
            &app.responder,
            json!({"severity": "critical", "reason": "Press picked it up"}),
        ),
        (
            format!("{incident}/corrections"),
            &app.responder,
            json!({"corrects_seq": 2, "text": "The note meant the phone channel"}),
        ),
        (
            format!("{incident}/statements"),
            &app.responder,
            json!({"text": "We are aware and are responding.", "language": "en", "channels": ["website"]}),
        ),
        (
            format!("{incident}/resolve"),
            &app.responder,
            json!({"force": true, "reason": "Storm over"}),
        ),
        (
            format!("{incident}/legal-hold"),
            &app.legal,
            json!({"hold": true, "reason": "Regulator inquiry"}),
        ),
    ] {
        let (status, body) = app.post(&path, token, body).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
    }

    // Still open: chasers pending, links out.
    let (status, open) = post_with_key(app, "fixture-open").await;
    assert_eq!(status, StatusCode::CREATED, "{open}");

    // Resolved, then purged by retention.
    let purged = app.trigger("complaint-surge", "low").await;
    let purged_id = purged["id"].as_str().expect("id");
    let (status, body) = app
        .post(
            &format!("/api/v1/incidents/{purged_id}/resolve"),
            &app.responder,
            json!({"force": true, "reason": "False alarm"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    app.settle().await;
    tokio::time::sleep(Duration::from_millis(10)).await;
    let removed = tocsin::engine::purge(app.store.as_ref(), Duration::ZERO, chrono::Utc::now())
        .await
        .expect("purge");
    assert_eq!(removed.len(), 1, "only the unheld resolved incident goes");

    for email in ["comms-oncall@example.com", "legal-counsel@example.com"] {
        let user = app
            .staff
            .add_user(
                email,
                tocsin::auth::Role::Responder,
                &tocsin::domain::Actor::operator("test"),
            )
            .await
            .expect("user");
        let link = app.staff.sign_in_link(&user).await.expect("sign-in link");
        let secret = link.rsplit('/').next().expect("a secret");
        app.staff
            .sign_in(secret)
            .await
            .expect("session")
            .expect("link valid");
    }
    app.settle().await;
}

async fn post_with_key(app: &TestApp, key: &str) -> (StatusCode, Value) {
    let response = app
        .client
        .post(app.url("/api/v1/incidents"))
        .bearer_auth(&app.responder)
        .header("Idempotency-Key", key)
        .json(&json!({
            "title": "Complaints about the new billing system",
            "scenario": "complaint-surge",
            "severity": "high",
            "summary": "Support queues tripled since the 9:00 release.",
        }))
        .send()
        .await
        .expect("POST");
    support::read(response).await
}
