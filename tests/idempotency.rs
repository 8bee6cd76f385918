//! A retried trigger never opens a second incident, even when the retries race.

mod support;

use reqwest::StatusCode;
use serde_json::json;

fn body(title: &str) -> serde_json::Value {
    json!({
        "title": title,
        "scenario": "account-hijack",
        "severity": "critical",
        "summary": "Rogue posts from the corporate account.",
    })
}

async fn trigger_with_key(
    app: &support::TestApp,
    token: &str,
    key: &str,
    body: &serde_json::Value,
) -> (StatusCode, Option<String>, serde_json::Value) {
    let response = app
        .client
        .post(app.url("/api/v1/incidents"))
        .bearer_auth(token)
        .header("Idempotency-Key", key)
        .json(body)
        .send()
        .await
        .expect("POST");
    let replayed = response
        .headers()
        .get("idempotent-replayed")
        .map(|value| value.to_str().unwrap_or_default().to_owned());
    let (status, body) = support::read(response).await;
    (status, replayed, body)
}

on_each_backend! {
    async fn a_retry_returns_the_same_incident(app) {
        let (status, replayed, first) = trigger_with_key(&app, &app.responder, "retry-1", &body("Hijack")).await;
        assert_eq!(status, StatusCode::CREATED, "{first}");
        assert_eq!(replayed, None);
        let (status, replayed, second) = trigger_with_key(&app, &app.responder, "retry-1", &body("Hijack")).await;
        assert_eq!(status, StatusCode::CREATED);
        assert_eq!(replayed.as_deref(), Some("true"));
        assert_eq!(first["id"], second["id"]);

        let (_, list) = app.get("/api/v1/incidents", &app.legal).await;
        assert_eq!(list["incidents"].as_array().unwrap().len(), 1);
    }

    async fn concurrent_retries_open_one_incident(app) {
        let race = body("Race");
        let calls: Vec<_> = (0..8)
            .map(|_| trigger_with_key(&app, &app.responder, "storm-42", &race))
            .collect();
        let answers = futures_util::future::join_all(calls).await;
        let ids: std::collections::BTreeSet<String> = answers.iter().map(|(status, _, body)| {
            assert_eq!(*status, StatusCode::CREATED, "{body}");
            body["id"].as_str().unwrap().to_owned()
        }).collect();
        assert_eq!(ids.len(), 1, "one incident for eight racing retries");
        let created = answers.iter().filter(|(_, replayed, _)| replayed.is_none()).count();
        assert_eq!(created, 1);
        let (_, list) = app.get("/api/v1/incidents", &app.legal).await;
        assert_eq!(list["incidents"].as_array().unwrap().len(), 1);
    }

    async fn the_same_key_with_another_request_is_refused(app) {
        let (status, _, _) = trigger_with_key(&app, &app.responder, "k", &body("First")).await;
        assert_eq!(status, StatusCode::CREATED);
        let (status, _, answer) = trigger_with_key(&app, &app.responder, "k", &body("Second")).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
        assert_eq!(answer["error"]["field"], "Idempotency-Key");
    }

    async fn keys_belong_to_their_token(app) {
        let (_, _, mine) = trigger_with_key(&app, &app.responder, "shared", &body("A")).await;
        let (_, _, theirs) = trigger_with_key(&app, &app.admin, "shared", &body("A")).await;
        assert_ne!(mine["id"], theirs["id"]);
    }

    async fn a_malformed_key_is_refused(app) {
        let (status, _, answer) = trigger_with_key(&app, &app.responder, &"k".repeat(300), &body("A")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
        assert_eq!(answer["error"]["field"], "Idempotency-Key");
    }
}
