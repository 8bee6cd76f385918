//! What the database itself guarantees, on both engines: the timeline cannot
//! be rewritten, and a restart loses nothing.

mod support;

use support::database::raw;
use support::{Backend, TestApp, TestDatabase};
use tocsin::auth::Role;
use tocsin::auth::audit::AuditEntry;
use tocsin::domain::Actor;

with_each_backend!(
    writers_to_one_incident_queue_and_make_one_chain,
    the_timeline_refuses_updates_and_deletes,
    a_restart_keeps_everything,
    replicas_starting_together_mint_one_first_admin_token,
    tokens_made_before_the_first_start_mean_no_first_admin_token,
    a_lease_has_one_holder_until_it_expires_or_is_given_up
);

/// Many writers to one incident at once: each waits for the incident's lock
/// (`lock_incident`, `begin_write`), none fails, and the chain stays one.
async fn writers_to_one_incident_queue_and_make_one_chain(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let incident = app.trigger("complaint-surge", "low").await;
    let id = incident["id"].as_str().unwrap().to_owned();
    let notes = (0..20).map(|n| {
        let (app, id) = (&app, &id);
        async move {
            app.post(
                &format!("/api/v1/incidents/{id}/notes"),
                &app.responder,
                serde_json::json!({ "text": format!("note {n}") }),
            )
            .await
        }
    });
    for (status, body) in futures_util::future::join_all(notes).await {
        assert_eq!(status, reqwest::StatusCode::OK, "{body}");
    }
    let notes = app
        .changes(&id)
        .await
        .into_iter()
        .filter(|e| e["kind"] == "note_added")
        .count();
    assert_eq!(notes, 20);
    let (_, verified) = app
        .get(
            &format!("/api/v1/incidents/{id}/timeline/verify"),
            &app.legal,
        )
        .await;
    assert_eq!(verified["ok"], true, "{verified}");
    app.stop().await;
}

/// PostgreSQL reads an incident in several queries: under READ COMMITTED a
/// department committed between them left a task without its department
/// (HTTP 500). `begin_read` takes one snapshot for them all. Reproduced
/// step by step: the read waits on the tasks table while a writer adds a
/// department and its task, then commits.
#[tokio::test]
#[cfg_attr(not(tocsin_postgres_tests), ignore = "needs TOCSIN_TEST_POSTGRES_URL")]
async fn postgres_reads_an_incident_from_one_snapshot() {
    let backend = Backend::postgres();
    use sqlx::Connection;
    let app = TestApp::spawn(backend).await;
    let incident = app.trigger("account-hijack", "low").await;
    let id = incident["id"].as_str().unwrap().to_owned();
    app.settle().await;
    let mut writer = sqlx::PgConnection::connect(&app.database.url)
        .await
        .unwrap();
    for statement in [
        "BEGIN".to_owned(),
        "LOCK TABLE tasks IN ACCESS EXCLUSIVE MODE".to_owned(),
        format!(
            "INSERT INTO incident_departments (incident_id, department, position, name, \
             head_name, head_email, deputies, joined_at) VALUES ('{id}', 'it', 99, 'IT', \
             'Ines', 'it-head@example.com', '[]', now())"
        ),
        format!(
            "INSERT INTO tasks (id, incident_id, department, position, key, title, description, \
             required, depends_on, ack_within_ms, complete_within_ms, status, ack_due_at, due_at) \
             VALUES (gen_random_uuid(), '{id}', 'it', 99, 'it/audit', 'Audit access', '', true, \
             '[]', 60000, 600000, 'open', now(), now())"
        ),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(statement))
            .execute(&mut writer)
            .await
            .unwrap();
    }
    let reader = {
        let (client, url, token) = (
            app.client.clone(),
            app.url(&format!("/api/v1/incidents/{id}")),
            app.legal.clone(),
        );
        tokio::spawn(async move {
            support::read(client.get(url).bearer_auth(token).send().await.unwrap()).await
        })
    };
    // The read has taken the incident and its departments, and waits on the tasks.
    let waiting =
        "SELECT COUNT(*) FROM pg_locks WHERE NOT granted AND relation = 'tasks'::regclass";
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while sqlx::query_scalar::<_, i64>(waiting)
        .fetch_one(&mut writer)
        .await
        .unwrap()
        == 0
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the read never reached the tasks"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    sqlx::query("COMMIT").execute(&mut writer).await.unwrap();
    let (status, body) = reader.await.unwrap();
    assert_eq!(status, reqwest::StatusCode::OK, "{body}");
    let departments: Vec<&str> = body["departments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["department"].as_str().unwrap())
        .collect();
    assert!(
        !departments.contains(&"it"),
        "the snapshot from before the write: {departments:?}"
    );
    let (_, now) = app
        .get(&format!("/api/v1/incidents/{id}"), &app.legal)
        .await;
    assert_eq!(
        support::task(&now, "it/audit")["title"],
        "Audit access",
        "and the next read sees it"
    );
    app.stop().await;
}

/// Every writer locks an incident before its rows. The purge does (incident,
/// then its timers); a timer used to be locked before its incident, so a
/// purge and the chaser meeting on one incident deadlocked. Here a purge's
/// first two steps run by hand around the chaser firing that incident's due
/// timer: the chaser waits for the incident, and both finish.
#[tokio::test]
#[cfg_attr(not(tocsin_postgres_tests), ignore = "needs TOCSIN_TEST_POSTGRES_URL")]
async fn postgres_takes_an_incident_before_its_timers() {
    use sqlx::Connection;
    let clock = support::ManualClock::starting_now();
    let options = support::Options {
        clock: Some(std::sync::Arc::clone(&clock)),
        workers: 0,
        ..support::Options::default()
    };
    let app = TestApp::spawn_with(TestDatabase::create(&Backend::postgres()).await, options).await;
    let incident = app.trigger("account-hijack", "high").await;
    let id = incident["id"].as_str().unwrap().to_owned();
    clock.advance(chrono::Duration::hours(6));

    let mut purge = sqlx::PgConnection::connect(&app.database.url)
        .await
        .unwrap();
    sqlx::query("BEGIN").execute(&mut purge).await.unwrap();
    let lock = format!("SELECT id FROM incidents WHERE id = '{id}' FOR UPDATE");
    sqlx::query(sqlx::AssertSqlSafe(lock))
        .execute(&mut purge)
        .await
        .unwrap();
    let chaser = {
        let engine = std::sync::Arc::clone(&app.engine);
        tokio::spawn(async move { engine.chase(1_000).await })
    };
    // A row lock is waited for on its holder's transaction.
    let waiting = "SELECT COUNT(*) FROM pg_locks WHERE NOT granted AND locktype = 'transactionid'";
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while sqlx::query_scalar::<_, i64>(waiting)
        .fetch_one(&mut purge)
        .await
        .unwrap()
        == 0
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the chaser never reached the incident"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let delete = format!("DELETE FROM timers WHERE incident_id = '{id}'");
    let deleted = sqlx::query(sqlx::AssertSqlSafe(delete))
        .execute(&mut purge)
        .await;
    assert!(deleted.is_ok(), "the purge's second step: {deleted:?}");
    sqlx::query("COMMIT").execute(&mut purge).await.unwrap();
    let fired = chaser.await.unwrap();
    assert!(fired.is_ok(), "the chaser: {fired:?}");
    app.stop().await;
}

async fn the_timeline_refuses_updates_and_deletes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let incident = app.trigger("complaint-surge", "low").await;
    let id = incident["id"].as_str().unwrap().to_owned();
    let url = app.database.url.clone();

    for statement in [
        "UPDATE events SET actor = 'someone-else'",
        "UPDATE events SET at = at",
        "DELETE FROM events",
    ] {
        let error = raw(&url, &[statement]).await.expect_err(statement);
        assert!(
            error.to_string().contains("append-only"),
            "{statement}: {error}"
        );
    }
    if url.starts_with("postgres") {
        let error = raw(&url, &["TRUNCATE events CASCADE"])
            .await
            .expect_err("truncate");
        assert!(error.to_string().contains("append-only"), "{error}");
    }
    let events = app.changes(&id).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["actor"], "token:test-responder");
    app.stop().await;
}

async fn a_restart_keeps_everything(backend: Backend) {
    let database = TestDatabase::create(&backend).await;
    let playbooks = std::path::Path::new(support::PLAYBOOKS);
    let app = TestApp::spawn_on(database, playbooks).await;
    let incident = app.trigger("share-price-threat", "medium").await;
    let id = incident["id"].as_str().unwrap().to_owned();
    app.post(
        &format!("/api/v1/incidents/{id}/notes"),
        &app.responder,
        serde_json::json!({"text": "Exchange notified"}),
    )
    .await;
    app.settle().await;
    let (_, noted) = app
        .get(&format!("/api/v1/incidents/{id}"), &app.legal)
        .await;
    let timeline = app.timeline(&id).await;
    let database = app.stop().await;

    let app = TestApp::spawn_on(database, playbooks).await;
    let (_, after) = app
        .get(&format!("/api/v1/incidents/{id}"), &app.legal)
        .await;
    assert_eq!(after, noted);
    assert_eq!(app.timeline(&id).await, timeline);
    app.stop().await;
}

async fn count_tokens(url: &str) -> i64 {
    let sql = "SELECT COUNT(*) FROM api_tokens";
    if url.starts_with("sqlite:") {
        let pool = sqlx::SqlitePool::connect(url).await.unwrap();
        sqlx::query_scalar(sql).fetch_one(&pool).await.unwrap()
    } else {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        sqlx::query_scalar(sql).fetch_one(&pool).await.unwrap()
    }
}

async fn fresh_store(database: &TestDatabase) -> std::sync::Arc<dyn tocsin::store::Store> {
    let store = tocsin::store::connect(&database.url).await.unwrap();
    store.migrate().await.unwrap();
    store
}

fn admin_token() -> tocsin::auth::ApiToken {
    let (token, _secret) =
        tocsin::auth::ApiToken::generate("first-admin", Role::Admin, chrono::Utc::now(), None)
            .unwrap();
    token
}

fn first_admin_audit(token: &tocsin::auth::ApiToken) -> AuditEntry {
    AuditEntry::token_created(&Actor::system("first-start"), token)
}

async fn replicas_starting_together_mint_one_first_admin_token(backend: Backend) {
    let database = TestDatabase::create(&backend).await;
    // Two replicas: two stores with pools of their own, racing.
    let (one, two) = (fresh_store(&database).await, fresh_store(&database).await);
    let (token_one, token_two) = (admin_token(), admin_token());
    let (audit_one, audit_two) = (first_admin_audit(&token_one), first_admin_audit(&token_two));
    let (first, second) = tokio::join!(
        one.insert_first_admin(&token_one, &audit_one),
        two.insert_first_admin(&token_two, &audit_two),
    );
    let minted = [first.unwrap(), second.unwrap()];
    assert_eq!(
        minted.iter().filter(|&&minted| minted).count(),
        1,
        "{minted:?}"
    );
    // A restart later mints none either.
    let late = admin_token();
    assert!(
        !one.insert_first_admin(&late, &first_admin_audit(&late))
            .await
            .unwrap()
    );
    let count = count_tokens(&database.url).await;
    assert_eq!(count, 1);
}

async fn tokens_made_before_the_first_start_mean_no_first_admin_token(backend: Backend) {
    let database = TestDatabase::create(&backend).await;
    let store = fresh_store(&database).await;
    let grant = tocsin::engine::TokenGrant {
        name: "counsel".to_owned(),
        role: Role::Legal,
        expires_at: None,
    };
    tocsin::engine::issue_token(
        store.as_ref(),
        &grant,
        &Actor::operator("ops"),
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    let late = admin_token();
    assert!(
        !store
            .insert_first_admin(&late, &first_admin_audit(&late))
            .await
            .unwrap()
    );
    let count = count_tokens(&database.url).await;
    assert_eq!(count, 1, "only the token made by hand");
}

/// The harness itself: an error-level log line from the server's side is caught.
#[tokio::test]
async fn error_logs_are_caught_by_the_harness() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    tracing::error!(what = "a deliberate error", "boom");
    let caught = app.errors.0.lock().unwrap().clone();
    assert_eq!(caught.len(), 1, "{caught:?}");
    assert!(caught[0].contains("a deliberate error"));
    app.errors.0.lock().unwrap().clear();
    app.stop().await;
}

/// The lease that lets one replica at a time read the IMAP mailbox: two
/// replicas racing for it get one holder; the holder renews it; another
/// takes it once it expired, or at once when given up.
async fn a_lease_has_one_holder_until_it_expires_or_is_given_up(backend: Backend) {
    let database = TestDatabase::create(&backend).await;
    let (one, two) = (fresh_store(&database).await, fresh_store(&database).await);
    let now = chrono::SubsecRound::trunc_subsecs(chrono::Utc::now(), 6);
    let minute = chrono::Duration::minutes(1);
    let (first, second) = tokio::join!(
        one.hold_lease("imap-intake", "one", now, now + minute),
        two.hold_lease("imap-intake", "two", now, now + minute),
    );
    let (first, second) = (first.unwrap(), second.unwrap());
    assert!(first ^ second, "one holder: {first} {second}");
    let (holder, other, other_name) = if first {
        (&one, &two, "two")
    } else {
        (&two, &one, "one")
    };
    let holder_name = if first { "one" } else { "two" };
    // Renewed by its holder, refused to the other while it runs.
    let later = now + chrono::Duration::seconds(30);
    assert!(
        holder
            .hold_lease("imap-intake", holder_name, later, later + minute)
            .await
            .unwrap()
    );
    let expired = now + minute + chrono::Duration::seconds(1);
    assert!(
        !other
            .hold_lease("imap-intake", other_name, expired, expired + minute)
            .await
            .unwrap()
    );
    // Taken over once the renewal ran out; other leases are their own.
    let after = later + minute;
    assert!(
        other
            .hold_lease("imap-intake", other_name, after, after + minute)
            .await
            .unwrap()
    );
    assert!(
        !holder
            .hold_lease("imap-intake", holder_name, after, after + minute)
            .await
            .unwrap()
    );
    assert!(
        holder
            .hold_lease("other-work", holder_name, after, after + minute)
            .await
            .unwrap()
    );
    // Given up: the other takes it at once. Giving up one not held changes nothing.
    holder
        .release_lease("imap-intake", holder_name)
        .await
        .unwrap();
    assert!(
        !holder
            .hold_lease("imap-intake", holder_name, after, after + minute)
            .await
            .unwrap()
    );
    other
        .release_lease("imap-intake", other_name)
        .await
        .unwrap();
    assert!(
        holder
            .hold_lease("imap-intake", holder_name, after, after + minute)
            .await
            .unwrap()
    );
}
