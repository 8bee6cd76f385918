//! Bad input, missing or wrong credentials: always a clear 4xx with a JSON
//! body naming the problem, never a 500.

mod support;

use reqwest::StatusCode;
use serde_json::{Value, json};

fn trigger_body() -> Value {
    json!({
        "title": "Campaign pulled",
        "scenario": "insensitive-campaign",
        "severity": "high",
        "summary": "The ad ran on a day of mourning.",
    })
}

async fn post_raw(
    app: &support::TestApp,
    path: &str,
    content_type: Option<&str>,
    body: impl Into<reqwest::Body>,
) -> (StatusCode, Value) {
    let mut request = app
        .client
        .post(app.url(path))
        .bearer_auth(&app.responder)
        .body(body);
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    support::read(request.send().await.expect("POST")).await
}

fn assert_error(status: StatusCode, body: &Value, expected: StatusCode, field: Option<&str>) {
    assert_eq!(status, expected, "{body}");
    assert!(body["error"]["code"].is_string(), "{body}");
    assert!(
        !body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .is_empty(),
        "{body}"
    );
    match field {
        Some(field) => assert_eq!(body["error"]["field"], field, "{body}"),
        None => assert!(body["error"].get("field").is_none(), "{body}"),
    }
}

on_each_backend! {
    async fn malformed_json_is_a_400(app) {
        let (status, body) = post_raw(&app, "/api/v1/incidents",
            Some("application/json"), "{\"title\": \"unfinished").await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, None);
        assert!(body["error"]["message"].as_str().unwrap().contains("malformed JSON"));
    }

    async fn each_bad_field_is_named(app) {
        let cases: Vec<(Value, &str)> = vec![
            ({ let mut b = trigger_body(); b.as_object_mut().unwrap().remove("title"); b }, "title"),
            ({ let mut b = trigger_body(); b["title"] = json!(""); b }, "title"),
            ({ let mut b = trigger_body(); b["title"] = json!("x".repeat(201)); b }, "title"),
            ({ let mut b = trigger_body(); b["title"] = json!(42); b }, "title"),
            ({ let mut b = trigger_body(); b["summary"] = json!("bell\u{7}"); b }, "summary"),
            ({ let mut b = trigger_body(); b["severity"] = json!("urgent"); b }, "severity"),
            ({ let mut b = trigger_body(); b["scenario"] = json!("alien-invasion"); b }, "scenario"),
            ({ let mut b = trigger_body(); b["severty"] = json!("high"); b }, "severty"),
            ({ let mut b = trigger_body(); b["commander"] = json!({"name": "Ann"}); b }, "commander.email"),
            // A look-alike address: full-width at sign.
            ({ let mut b = trigger_body(); b["commander"] = json!({"name": "Ann", "email": "ann＠example.com"}); b }, "commander.email"),
        ];
        for (body, field) in cases {
            let (status, answer) = app.post("/api/v1/incidents", &app.responder, body.clone()).await;
            assert_error(status, &answer, StatusCode::UNPROCESSABLE_ENTITY, Some(field));
        }
        let (_, list) = app.get("/api/v1/incidents", &app.legal).await;
        assert_eq!(list["incidents"], json!([]), "nothing was opened by a bad request");
    }

    async fn unknown_scenario_lists_the_known_ones(app) {
        let mut body = trigger_body();
        body["scenario"] = json!("alien-invasion");
        let (_, answer) = app.post("/api/v1/incidents", &app.responder, body).await;
        assert!(answer["error"]["message"].as_str().unwrap().contains("account-hijack"), "{answer}");
    }

    async fn wrong_content_type_and_oversized_bodies(app) {
        let (status, body) = post_raw(&app, "/api/v1/incidents", Some("text/plain"),
            trigger_body().to_string()).await;
        assert_error(status, &body, StatusCode::UNSUPPORTED_MEDIA_TYPE, None);
        let (status, body) = post_raw(&app, "/api/v1/incidents", None,
            trigger_body().to_string()).await;
        assert_error(status, &body, StatusCode::UNSUPPORTED_MEDIA_TYPE, None);

        let mut huge = trigger_body();
        huge["summary"] = json!("x".repeat(tocsin::http::BODY_LIMIT + 1));
        let (status, body) = post_raw(&app, "/api/v1/incidents", Some("application/json"),
            huge.to_string()).await;
        assert_error(status, &body, StatusCode::PAYLOAD_TOO_LARGE, None);
    }

    async fn bad_ids_and_unknown_resources(app) {
        let (status, body) = app.get("/api/v1/incidents/not-a-uuid", &app.legal).await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, Some("id"));
        let missing = uuid::Uuid::new_v4();
        let (status, body) = app.get(&format!("/api/v1/incidents/{missing}"), &app.legal).await;
        assert_error(status, &body, StatusCode::NOT_FOUND, None);
        let (status, body) = app.get(&format!("/api/v1/incidents/{missing}/timeline"), &app.legal).await;
        assert_error(status, &body, StatusCode::NOT_FOUND, None);
        let (status, body) = app.post(&format!("/api/v1/incidents/{missing}/notes"),
            &app.responder, json!({"text": "hello"})).await;
        assert_error(status, &body, StatusCode::NOT_FOUND, None);

        let incident = app.trigger("complaint-surge", "low").await;
        let id = incident["id"].as_str().unwrap();
        let (status, body) = app.post(
            &format!("/api/v1/incidents/{id}/tasks/{missing}/acknowledge"),
            &app.responder, json!({})).await;
        assert_error(status, &body, StatusCode::NOT_FOUND, None);
        let (status, body) = app.post(
            &format!("/api/v1/incidents/{id}/tasks/nope/acknowledge"),
            &app.responder, json!({})).await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, Some("task_id"));

        let (status, body) = app.get("/api/v1/nothing-here", &app.legal).await;
        assert_error(status, &body, StatusCode::NOT_FOUND, None);
        let response = app.client.delete(app.url("/api/v1/incidents")).bearer_auth(&app.admin)
            .send().await.unwrap();
        let (status, body) = support::read(response).await;
        assert_error(status, &body, StatusCode::METHOD_NOT_ALLOWED, None);
    }

    async fn tokens_are_required_and_roles_enforced(app) {
        let response = app.client.get(app.url("/api/v1/incidents")).send().await.unwrap();
        let (status, body) = support::read(response).await;
        assert_error(status, &body, StatusCode::UNAUTHORIZED, None);
        let (status, body) = app.get("/api/v1/incidents", "tocsin_0000").await;
        assert_error(status, &body, StatusCode::UNAUTHORIZED, None);

        // Legal reads everything and changes nothing.
        let (status, body) = app.post("/api/v1/incidents", &app.legal, trigger_body()).await;
        assert_error(status, &body, StatusCode::FORBIDDEN, None);
        let incident = app.trigger("complaint-surge", "low").await;
        let id = incident["id"].as_str().unwrap();
        let task = support::tasks(&incident)[0]["id"].as_str().unwrap().to_owned();
        for (path, body) in [
            (format!("/api/v1/incidents/{id}/tasks/{task}/acknowledge"), json!({})),
            (format!("/api/v1/incidents/{id}/tasks/{task}/complete"), json!({})),
            (format!("/api/v1/incidents/{id}/notes"), json!({"text": "x"})),
            (format!("/api/v1/incidents/{id}/resolve"), json!({"force": true, "reason": "x"})),
        ] {
            let (status, answer) = app.post(&path, &app.legal, body).await;
            assert_error(status, &answer, StatusCode::FORBIDDEN, None);
        }
        for path in [format!("/api/v1/incidents/{id}"), format!("/api/v1/incidents/{id}/timeline"),
                     "/api/v1/playbooks".to_owned(), "/api/v1/scenarios".to_owned()] {
            let (status, _) = app.get(&path, &app.legal).await;
            assert_eq!(status, StatusCode::OK, "{path}");
        }
        assert_eq!(app.changes(id).await.len(), 1, "the refused requests recorded nothing");
    }
}

with_each_backend!(a_database_out_of_reach_answers_503_with_retry_after);

/// The database out of reach is not the request's fault nor a bug: 503
/// with `Retry-After`, and the same request succeeds once it is back.
/// SQLite: another process holds the write lock past the busy timeout.
/// PostgreSQL: a table locked by another session, every pooled connection
/// waiting on it, and the next request finds none free.
async fn a_database_out_of_reach_answers_503_with_retry_after(backend: support::Backend) {
    use sqlx::Connection;
    let app = support::TestApp::spawn(backend).await;
    let url = app.database.url.clone();
    let mut sqlite = None;
    let mut postgres = None;
    let mut waiting = Vec::new();
    if url.starts_with("sqlite:") {
        let mut holder = sqlx::SqliteConnection::connect(&url).await.unwrap();
        sqlx::raw_sql("BEGIN IMMEDIATE")
            .execute(&mut holder)
            .await
            .unwrap();
        sqlite = Some(holder);
    } else {
        let mut holder = sqlx::PgConnection::connect(&url).await.unwrap();
        sqlx::raw_sql("BEGIN; LOCK TABLE incidents IN ACCESS EXCLUSIVE MODE")
            .execute(&mut holder)
            .await
            .unwrap();
        // Every connection of the server's pool (16) waits on the lock.
        waiting = (0..16)
            .map(|_| {
                let request = app
                    .client
                    .get(app.url("/api/v1/incidents"))
                    .bearer_auth(&app.legal);
                tokio::spawn(async move { request.send().await.map(|r| r.status()) })
            })
            .collect();
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        postgres = Some(holder);
    }

    let response = app
        .client
        .post(app.url("/api/v1/incidents"))
        .bearer_auth(&app.responder)
        .json(&trigger_body())
        .send()
        .await
        .unwrap();
    let status = response.status();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let (_, body) = support::read(response).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(retry_after.as_deref(), Some("5"));
    assert_eq!(body["error"]["code"], "unavailable", "{body}");
    assert!(
        !body.to_string().contains("sqlx"),
        "no internals leak: {body}"
    );

    if let Some(mut holder) = sqlite {
        sqlx::raw_sql("ROLLBACK")
            .execute(&mut holder)
            .await
            .unwrap();
    }
    if let Some(mut holder) = postgres {
        sqlx::raw_sql("ROLLBACK")
            .execute(&mut holder)
            .await
            .unwrap();
    }
    for request in waiting {
        assert_eq!(
            request.await.unwrap().unwrap(),
            StatusCode::OK,
            "a waiting read is answered"
        );
    }
    let (status, body) = app
        .post("/api/v1/incidents", &app.responder, trigger_body())
        .await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "back once the database is: {body}"
    );
    app.stop().await;
}
