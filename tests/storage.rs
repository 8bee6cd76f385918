//! What the database itself guarantees, on both engines: the timeline cannot
//! be rewritten, and a restart loses nothing.

mod support;

use support::{Backend, TestApp, TestDatabase};
use tocsin::auth::Role;

with_each_backend!(
    the_timeline_refuses_updates_and_deletes,
    a_restart_keeps_everything,
    replicas_starting_together_mint_one_first_admin_token,
    tokens_made_before_the_first_start_mean_no_first_admin_token
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
        tocsin::auth::ApiToken::generate("first-admin", Role::Admin, chrono::Utc::now()).unwrap();
    token
}

async fn replicas_starting_together_mint_one_first_admin_token(backend: Backend) {
    let database = TestDatabase::create(&backend).await;
    // Two replicas: two stores with pools of their own, racing.
    let (one, two) = (fresh_store(&database).await, fresh_store(&database).await);
    let (token_one, token_two) = (admin_token(), admin_token());
    let (first, second) = tokio::join!(
        one.insert_first_admin(&token_one),
        two.insert_first_admin(&token_two),
    );
    let minted = [first.unwrap(), second.unwrap()];
    assert_eq!(
        minted.iter().filter(|&&minted| minted).count(),
        1,
        "{minted:?}"
    );
    // A restart later mints none either.
    assert!(!one.insert_first_admin(&admin_token()).await.unwrap());
    let count = count_tokens(&database.url).await;
    assert_eq!(count, 1);
}

async fn tokens_made_before_the_first_start_mean_no_first_admin_token(backend: Backend) {
    let database = TestDatabase::create(&backend).await;
    let store = fresh_store(&database).await;
    tocsin::engine::issue_token(store.as_ref(), "counsel", Role::Legal, chrono::Utc::now())
        .await
        .unwrap();
    assert!(!store.insert_first_admin(&admin_token()).await.unwrap());
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
