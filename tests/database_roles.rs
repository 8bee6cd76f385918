//! The database protects the record even from the application's own
//! credentials (PostgreSQL only: SQLite has no roles). An owner role runs
//! the migrations; the server runs as a login role in `tocsin_runtime`,
//! which reads and writes rows and nothing more. Here a database is set up
//! as deploy/postgres-roles.sql sets one up, migrated by its owner, served
//! by the runtime role, and then the runtime role's credentials try each
//! thing a thief holding them would try.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use support::database::{cleanup_from_drop, raw};
use support::process::BIN;
use support::{Backend, Options, PLAYBOOKS, TestApp, TestDatabase};
use tocsin::app::{App, StartError};

/// Roles belong to the whole cluster, which other test runs share: each run
/// makes its own, and drops them when it ends, however it ends (after the
/// database, declared later, which they own or may use).
struct Roles {
    server_url: String,
    owner: String,
    app: String,
}

impl Roles {
    async fn create(server_url: &str) -> Roles {
        let suffix = uuid::Uuid::new_v4().simple().to_string();
        let roles = Roles {
            server_url: server_url.to_owned(),
            owner: format!("tocsin_owner_{suffix}"),
            app: format!("tocsin_app_{suffix}"),
        };
        // As deploy/postgres-roles.sql does it: the group role first (other
        // databases on this cluster may have made it already, maybe at this
        // very moment), then an owner with no special powers, and the
        // server's login in the group.
        raw(
            server_url,
            &[
                "DO $$ BEGIN \
                   IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tocsin_runtime') THEN \
                     CREATE ROLE tocsin_runtime NOLOGIN; \
                   END IF; \
                 EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; \
                 END $$",
                &format!(
                    "CREATE ROLE {} LOGIN PASSWORD 'owner-secret' NOSUPERUSER NOCREATEROLE",
                    roles.owner
                ),
                &format!(
                    "CREATE ROLE {} LOGIN PASSWORD 'app-secret' NOSUPERUSER IN ROLE tocsin_runtime",
                    roles.app
                ),
            ],
        )
        .await
        .expect("create the roles");
        roles
    }
}

impl Drop for Roles {
    fn drop(&mut self) {
        let server_url = self.server_url.clone();
        let statements = [
            format!("DROP ROLE IF EXISTS {}", self.app),
            format!("DROP ROLE IF EXISTS {}", self.owner),
        ];
        cleanup_from_drop(async move {
            for statement in &statements {
                let _ = raw(&server_url, &[statement]).await;
            }
        });
    }
}

/// `database_url` as the role `name` signs in.
fn as_role(database_url: &str, name: &str, password: &str) -> String {
    let mut url = reqwest::Url::parse(database_url).expect("database URL");
    url.set_username(name).expect("a user name");
    url.set_password(Some(password)).expect("a password");
    url.to_string()
}

fn migrate(url: &str) -> std::process::Output {
    Command::new(BIN)
        .arg("migrate")
        .env("TOCSIN_DATABASE_URL", url)
        .output()
        .expect("run tocsin migrate")
}

#[tokio::test]
#[cfg_attr(not(tocsin_postgres_tests), ignore = "needs TOCSIN_TEST_POSTGRES_URL")]
async fn the_runtime_role_serves_but_cannot_alter_the_record() {
    let backend = Backend::postgres();
    let Backend::Postgres { server_url } = &backend else {
        unreachable!("PostgreSQL")
    };
    let roles = Roles::create(server_url).await;
    let mut database = TestDatabase::create(&backend).await;
    let name = reqwest::Url::parse(&database.url)
        .expect("database URL")
        .path()[1..]
        .to_owned();
    raw(
        &database.url,
        &[
            &format!("ALTER DATABASE {name} OWNER TO {}", roles.owner),
            &format!("ALTER SCHEMA public OWNER TO {}", roles.owner),
            "REVOKE CREATE ON SCHEMA public FROM PUBLIC",
        ],
    )
    .await
    .expect("hand the database to its owner");
    let owner_url = as_role(&database.url, &roles.owner, "owner-secret");
    let runtime_url = as_role(&database.url, &roles.app, "app-secret");

    // Before the owner migrates, the runtime role neither migrates nor serves.
    let settings = support::settings(&runtime_url, Path::new(PLAYBOOKS), "smtp://127.0.0.1:25");
    match App::build(&settings).await {
        Err(error @ StartError::SchemaBehind { .. }) => {
            let message = error.to_string();
            assert!(
                message.contains("run `tocsin migrate` as the database's owner"),
                "{message}"
            );
            assert!(
                !message.contains("app-secret"),
                "the password stays out: {message}"
            );
        }
        Err(error) => panic!("the runtime role on an empty database: {error}"),
        Ok(_) => panic!("the runtime role served an empty database"),
    }
    let refused = migrate(&runtime_url);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        !refused.status.success(),
        "the runtime role migrated: {stderr}"
    );
    assert!(stderr.contains("with the owner's database URL"), "{stderr}");
    assert!(
        !stderr.contains("app-secret"),
        "the password stays out: {stderr}"
    );

    let migrated = migrate(&owner_url);
    assert!(
        migrated.status.success(),
        "the owner migrates: {}",
        String::from_utf8_lossy(&migrated.stderr)
    );

    // The server, as the runtime role: it works, retention included.
    database.url = runtime_url.clone();
    let options = Options {
        adjust: Box::new(|settings| settings.retention = Some(Duration::from_secs(3600))),
        ..Options::default()
    };
    let app = TestApp::spawn_with(database, options).await;
    let [purged, held, open] = [
        app.trigger("complaint-surge", "low").await,
        app.trigger("complaint-surge", "low").await,
        app.trigger("account-hijack", "high").await,
    ]
    .map(|incident| incident["id"].as_str().expect("id").to_owned());
    for id in [&purged, &held] {
        let (status, body) = app
            .post(
                &format!("/api/v1/incidents/{id}/resolve"),
                &app.responder,
                json!({"force": true, "reason": "drill"}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let (status, body) = app
        .post(
            &format!("/api/v1/incidents/{held}/legal-hold"),
            &app.legal,
            json!({"hold": true, "reason": "Regulator inquiry"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    app.settle().await;
    // People: granted, revoked, added, changed, removed.
    let (status, token) = app
        .post(
            "/api/v1/tokens",
            &app.admin,
            json!({"name": "ops-bot", "role": "responder"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{token}");
    let (token_id, secret) = (
        token["token"]["id"].as_str().expect("token id"),
        token["secret"].as_str().expect("secret"),
    );
    let (status, _) = app.get("/api/v1/incidents", secret).await;
    assert_eq!(status, StatusCode::OK, "its use is recorded");
    let (status, body) = app
        .post(
            &format!("/api/v1/tokens/{token_id}/revoke"),
            &app.admin,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = app.get("/api/v1/incidents", secret).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "revoked");
    let (status, user) = app
        .post(
            "/api/v1/users",
            &app.admin,
            json!({"email": "ana@example.org", "role": "admin"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{user}");
    let user_id = user["id"].as_str().expect("user id");
    let (status, body) = app
        .post(
            &format!("/api/v1/users/{user_id}/role"),
            &app.admin,
            json!({"role": "legal"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let removed = app
        .client
        .delete(app.url(&format!("/api/v1/users/{user_id}")))
        .bearer_auth(&app.admin)
        .send()
        .await
        .expect("remove the user");
    assert_eq!(removed.status(), StatusCode::OK);

    let purge = app.engine.purge(Duration::ZERO).await.expect("the purge");
    assert_eq!(
        purge
            .iter()
            .map(|record| record.incident_id.to_string())
            .collect::<Vec<_>>(),
        [purged.as_str()],
        "only the resolved incident without a hold goes"
    );
    assert!(
        app.errors
            .statements()
            .iter()
            .any(|statement| statement.contains("FROM purge_incident(")),
        "the purge went through the function"
    );
    let (status, _) = app
        .get(&format!("/api/v1/incidents/{purged}"), &app.legal)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, log) = app.get("/api/v1/purge-log", &app.legal).await;
    assert_eq!(log["purged"][0]["incident_id"], purged.as_str(), "{log}");
    assert_eq!(log["purged"][0]["events"], purge[0].events, "{log}");
    assert_eq!(
        log["purged"][0]["head_hash"].as_str().map(str::len),
        Some(64),
        "{log}"
    );

    // What the runtime role's credentials cannot do, each with the reason
    // PostgreSQL gives. The purge's setting does not open the timeline to it.
    let later = "now() + interval '1 day'";
    let refusals = [
        (
            "ALTER TABLE events DISABLE TRIGGER events_are_append_only".to_owned(),
            "must be owner of table events",
        ),
        (
            "ALTER TABLE events DISABLE TRIGGER ALL".to_owned(),
            "must be owner of table events",
        ),
        (
            "DROP TABLE events".to_owned(),
            "must be owner of table events",
        ),
        (
            "DROP TABLE incidents CASCADE".to_owned(),
            "must be owner of table incidents",
        ),
        (
            "TRUNCATE events".to_owned(),
            "permission denied for table events",
        ),
        (
            "TRUNCATE incidents CASCADE".to_owned(),
            "permission denied for table incidents",
        ),
        (
            "UPDATE events SET actor = 'someone-else'".to_owned(),
            "permission denied for table events",
        ),
        (
            "DELETE FROM events".to_owned(),
            "permission denied for table events",
        ),
        (
            "SELECT set_config('tocsin.purge', 'on', false); DELETE FROM events".to_owned(),
            "permission denied for table events",
        ),
        (
            "DELETE FROM purge_log".to_owned(),
            "permission denied for table purge_log",
        ),
        (
            "INSERT INTO purge_log (incident_id, reference, title, resolved_at, head_seq, \
             head_hash, events, purged_at) VALUES (gen_random_uuid(), 'INC-X', 'x', now(), 1, \
             'x', 1, now())"
                .to_owned(),
            "permission denied for table purge_log",
        ),
        (
            "UPDATE audit_log SET actor = 'nobody'".to_owned(),
            "permission denied for table audit_log",
        ),
        (
            "DELETE FROM audit_log".to_owned(),
            "permission denied for table audit_log",
        ),
        (
            "UPDATE api_tokens SET role = 'admin'".to_owned(),
            "permission denied for table api_tokens",
        ),
        (
            "CREATE TABLE copy_of_events (x INT)".to_owned(),
            "permission denied for schema public",
        ),
        (
            format!("SELECT purge_incident('{held}', {later})"),
            "is under legal hold: it cannot be purged",
        ),
        (
            format!("SELECT purge_incident('{open}', {later})"),
            "is not resolved: it cannot be purged",
        ),
    ];
    for (statement, reason) in &refusals {
        let statements: Vec<&str> = statement.split("; ").collect();
        match raw(&runtime_url, &statements).await {
            Ok(rows) => panic!("the runtime role may: {statement} ({rows} rows)"),
            Err(error) => assert!(error.to_string().contains(reason), "{statement}: {error}"),
        }
    }
    // What was held and what was open is all there, and still verifies.
    for id in [&held, &open] {
        let (status, report) = app
            .get(
                &format!("/api/v1/incidents/{id}/timeline/verify"),
                &app.legal,
            )
            .await;
        assert_eq!(
            (status, &report["ok"]),
            (StatusCode::OK, &json!(true)),
            "{report}"
        );
    }

    // Every table has the runtime role's grants (a migration that adds a
    // table and forgets them fails here), and the record none that rewrite.
    let privileges: Vec<(String, bool, bool, bool, bool, bool)> = {
        use sqlx::Connection;
        let mut owner = sqlx::PgConnection::connect(&owner_url)
            .await
            .expect("connect as owner");
        let rows = sqlx::query_as(
            "SELECT c.relname::text, \
               has_table_privilege('tocsin_runtime', c.oid, 'SELECT'), \
               has_table_privilege('tocsin_runtime', c.oid, 'INSERT'), \
               has_any_column_privilege('tocsin_runtime', c.oid, 'UPDATE'), \
               has_table_privilege('tocsin_runtime', c.oid, 'DELETE'), \
               has_table_privilege('tocsin_runtime', c.oid, 'TRUNCATE') \
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') ORDER BY 1",
        )
        .fetch_all(&mut owner)
        .await
        .expect("privileges");
        owner.close().await.expect("close");
        rows
    };
    assert!(privileges.len() >= 17, "every table: {privileges:?}");
    for (table, select, insert, update, delete, truncate) in &privileges {
        assert!(
            select,
            "tocsin_runtime cannot read {table}: grant it in its migration"
        );
        assert!(!truncate, "tocsin_runtime may truncate {table}");
        if ["events", "purge_log", "audit_log"].contains(&table.as_str()) {
            assert!(!update && !delete, "tocsin_runtime may rewrite {table}");
        }
        if table != "_sqlx_migrations" && table != "purge_log" {
            assert!(
                insert,
                "tocsin_runtime cannot write {table}: grant it in its migration"
            );
        }
    }
    // ...including the sequences behind what it inserts, and nothing it owns.
    let (unusable, owned): (Vec<String>, Vec<String>) = {
        let rows = raw_query_strings(
            &owner_url,
            "SELECT s.relname::text FROM pg_sequence q \
             JOIN pg_class s ON s.oid = q.seqrelid \
             JOIN pg_depend d ON d.objid = s.oid AND d.deptype = 'a' \
             AND d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass \
             JOIN pg_class t ON t.oid = d.refobjid \
             WHERE has_table_privilege('tocsin_runtime', t.oid, 'INSERT') \
             AND NOT CASE WHEN s.relkind = 'S' \
             THEN has_sequence_privilege('tocsin_runtime', s.oid, 'USAGE') ELSE TRUE END",
        )
        .await;
        let owned = raw_query_strings(
            &owner_url,
            "SELECT c.relname::text FROM pg_class c \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = 'public' \
             AND c.relowner <> (SELECT oid FROM pg_roles WHERE rolname = current_user)",
        )
        .await;
        (rows, owned)
    };
    assert_eq!(
        unusable,
        Vec::<String>::new(),
        "sequences tocsin_runtime cannot use"
    );
    assert_eq!(
        owned,
        Vec::<String>::new(),
        "the schema belongs to its owner alone"
    );

    let database = app.stop().await;
    drop(database);
    drop(roles);
}

/// One text column of a query's rows.
async fn raw_query_strings(url: &str, sql: &'static str) -> Vec<String> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(url).await.expect("connect");
    let rows = sqlx::query_scalar(sql)
        .fetch_all(&mut conn)
        .await
        .expect(sql);
    conn.close().await.expect("close");
    rows
}
