//! What the database itself guarantees, on both engines: the timeline cannot
//! be rewritten, and a restart loses nothing.

mod support;

use support::{Backend, TestApp, TestDatabase};

with_each_backend!(
    the_timeline_refuses_updates_and_deletes,
    a_restart_keeps_everything
);

/// Runs one statement straight against the database, past tocsin.
async fn raw(url: &str, sql: &str) -> Result<u64, sqlx::Error> {
    let statement = sqlx::AssertSqlSafe(sql.to_owned());
    if url.starts_with("sqlite:") {
        let pool = sqlx::SqlitePool::connect(url).await?;
        let result = sqlx::query(statement)
            .execute(&pool)
            .await
            .map(|r| r.rows_affected());
        pool.close().await;
        result
    } else {
        let pool = sqlx::PgPool::connect(url).await?;
        let result = sqlx::query(statement)
            .execute(&pool)
            .await
            .map(|r| r.rows_affected());
        pool.close().await;
        result
    }
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
        let error = raw(&url, statement).await.expect_err(statement);
        assert!(
            error.to_string().contains("append-only"),
            "{statement}: {error}"
        );
    }
    if url.starts_with("postgres") {
        let error = raw(&url, "TRUNCATE events CASCADE")
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
