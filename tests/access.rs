//! Access that can be taken back: API tokens listed, granted, revoked and
//! expiring; console users added, changed and removed; and the append-only
//! audit log of every such change, read by admins and legal.

mod support;

use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::{Value, json};
use support::database::raw;
use support::{Backend, ManualClock, Options, TestApp, TestDatabase};

/// The entry of `list` named `name`.
fn named<'a>(list: &'a Value, key: &str, name: &str) -> &'a Value {
    list[key]
        .as_array()
        .unwrap()
        .iter()
        .find(|entry| entry["name"] == name || entry["email"] == name)
        .unwrap_or_else(|| panic!("{name} in {list}"))
}

async fn grant(app: &TestApp, body: Value) -> (StatusCode, Value) {
    app.post("/api/v1/tokens", &app.admin, body).await
}

async fn delete(app: &TestApp, path: &str, token: &str) -> (StatusCode, Value) {
    let response = app
        .client
        .delete(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    support::read(response).await
}

on_each_backend! {
    /// A token is granted with its secret shown once, listed with when it
    /// was last used and never its secret, and refused the moment it is
    /// revoked.
    async fn a_granted_token_works_is_listed_and_is_refused_once_revoked(app) {
        let (status, granted) = grant(&app, json!({"name": "status-page", "role": "responder"})).await;
        assert_eq!(status, StatusCode::CREATED, "{granted}");
        let secret = granted["secret"].as_str().unwrap().to_owned();
        assert!(secret.starts_with("tocsin_"), "{granted}");
        assert_eq!(granted["token"]["state"], "live");
        assert_eq!(granted["token"]["last_used_at"], Value::Null);

        let (status, _) = app.get("/api/v1/incidents", &secret).await;
        assert_eq!(status, StatusCode::OK);

        let (status, list) = app.get("/api/v1/tokens", &app.admin).await;
        assert_eq!(status, StatusCode::OK);
        let listed = named(&list, "tokens", "status-page");
        assert_eq!(listed["role"], "responder");
        assert_eq!(listed["state"], "live");
        assert!(listed["last_used_at"].is_string(), "its use is recorded: {listed}");
        assert_eq!(listed["expires_at"], Value::Null);
        let text = list.to_string();
        assert!(!text.contains(&secret), "a secret in the list: {text}");
        assert!(!text.contains("secret"), "a secret's field in the list: {text}");

        let id = listed["id"].as_str().unwrap();
        let (status, revoked) = app
            .post(&format!("/api/v1/tokens/{id}/revoke"), &app.admin, json!({}))
            .await;
        assert_eq!(status, StatusCode::OK, "{revoked}");
        assert_eq!(revoked["state"], "revoked");
        let (status, refused) = app.get("/api/v1/incidents", &secret).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(refused["error"]["message"].as_str().unwrap().contains("revoked"), "{refused}");

        // Revoking again changes nothing; an unknown id is a 404.
        let (status, again) = app
            .post(&format!("/api/v1/tokens/{id}/revoke"), &app.admin, json!({}))
            .await;
        assert_eq!((status, &again["revoked_at"]), (StatusCode::OK, &revoked["revoked_at"]));
        let unknown = uuid::Uuid::now_v7();
        let (status, _) = app
            .post(&format!("/api/v1/tokens/{unknown}/revoke"), &app.admin, json!({}))
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }

    async fn a_grant_is_checked_field_by_field(app) {
        let past = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
        for (body, field) in [
            (json!({"name": " ", "role": "legal"}), "name"),
            (json!({"name": "x", "role": "owner"}), "role"),
            (json!({"name": "x", "role": "legal", "expires_at": past}), "expires_at"),
            (json!({"name": "x", "role": "legal", "secret": "mine"}), "secret"),
        ] {
            let (status, error) = grant(&app, body.clone()).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {error}");
            assert_eq!(error["error"]["field"], field, "{body}: {error}");
        }
        let (_, list) = app.get("/api/v1/tokens", &app.admin).await;
        assert_eq!(list["tokens"].as_array().unwrap().len(), 3, "only the test's own: {list}");
    }

    async fn console_users_are_added_changed_and_removed(app) {
        let (status, added) = app
            .post("/api/v1/users", &app.admin, json!({"email": "Ana@Example.org", "role": "responder"}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{added}");
        assert_eq!(added["email"], "ana@example.org");
        let id = added["id"].as_str().unwrap().to_owned();

        let (status, error) = app
            .post("/api/v1/users", &app.admin, json!({"email": "ana@example.org", "role": "legal"}))
            .await;
        assert_eq!(status, StatusCode::CONFLICT, "{error}");
        let (status, error) = app
            .post("/api/v1/users", &app.admin, json!({"email": "ana at example", "role": "legal"}))
            .await;
        assert_eq!((status, &error["error"]["field"]), (StatusCode::UNPROCESSABLE_ENTITY, &json!("email")));

        let (status, changed) = app
            .post(&format!("/api/v1/users/{id}/role"), &app.admin, json!({"role": "legal"}))
            .await;
        assert_eq!((status, &changed["role"]), (StatusCode::OK, &json!("legal")), "{changed}");
        let (_, list) = app.get("/api/v1/users", &app.admin).await;
        assert_eq!(named(&list, "users", "ana@example.org")["role"], "legal");

        let (status, removed) = delete(&app, &format!("/api/v1/users/{id}"), &app.admin).await;
        assert_eq!((status, &removed["email"]), (StatusCode::OK, &json!("ana@example.org")));
        let (_, list) = app.get("/api/v1/users", &app.admin).await;
        assert_eq!(list["users"], json!([]));
        let (status, _) = delete(&app, &format!("/api/v1/users/{id}"), &app.admin).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _) = app
            .post(&format!("/api/v1/users/{id}/role"), &app.admin, json!({"role": "admin"}))
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }

    /// Least privilege: only admins change access; legal reads its record.
    async fn only_admins_change_access_and_legal_reads_the_audit_log(app) {
        let someone = uuid::Uuid::now_v7();
        for token in [&app.responder, &app.legal] {
            for path in ["/api/v1/tokens", "/api/v1/users"] {
                let (status, body) = app.get(path, token).await;
                assert_eq!(status, StatusCode::FORBIDDEN, "GET {path}: {body}");
            }
            let (status, _) = grant(&app, json!({"name": "x", "role": "admin"})).await;
            assert_eq!(status, StatusCode::CREATED, "the admin may");
            let (status, _) = app.post("/api/v1/tokens", token, json!({"name": "y", "role": "admin"})).await;
            assert_eq!(status, StatusCode::FORBIDDEN);
            let (status, _) = app
                .post("/api/v1/users", token, json!({"email": "z@example.org", "role": "admin"}))
                .await;
            assert_eq!(status, StatusCode::FORBIDDEN);
            let (status, _) = delete(&app, &format!("/api/v1/users/{someone}"), token).await;
            assert_eq!(status, StatusCode::FORBIDDEN);
        }
        let (status, _) = app.get("/api/v1/audit", &app.responder).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, log) = app.get("/api/v1/audit", &app.legal).await;
        assert_eq!(status, StatusCode::OK, "{log}");
        let (status, error) = app.get("/api/v1/audit?limit=0", &app.legal).await;
        assert_eq!((status, &error["error"]["field"]), (StatusCode::BAD_REQUEST, &json!("limit")));
    }

    /// Every grant, revocation and change says who made it and when,
    /// newest first.
    async fn the_audit_log_records_every_change_of_access_and_who_made_it(app) {
        let (_, granted) = grant(&app, json!({"name": "ir-bot", "role": "legal"})).await;
        let token_id = granted["token"]["id"].as_str().unwrap().to_owned();
        app.post(&format!("/api/v1/tokens/{token_id}/revoke"), &app.admin, json!({})).await;
        let (_, user) = app
            .post("/api/v1/users", &app.admin, json!({"email": "bo@example.org", "role": "admin"}))
            .await;
        let user_id = user["id"].as_str().unwrap().to_owned();
        app.post(&format!("/api/v1/users/{user_id}/role"), &app.admin, json!({"role": "responder"})).await;
        delete(&app, &format!("/api/v1/users/{user_id}"), &app.admin).await;

        let (status, log) = app.get("/api/v1/audit?limit=5", &app.legal).await;
        assert_eq!(status, StatusCode::OK);
        let entries = log["entries"].as_array().unwrap();
        let actions: Vec<&str> = entries.iter().map(|e| e["action"].as_str().unwrap()).collect();
        assert_eq!(actions, ["user_removed", "role_changed", "user_added", "token_revoked", "token_created"]);
        for entry in entries {
            assert_eq!(entry["actor"], "token:test-admin", "{entry}");
            assert!(entry["at"].is_string(), "{entry}");
        }
        assert_eq!(entries[1]["subject"], json!({"kind": "user", "id": user_id, "name": "bo@example.org"}));
        assert_eq!((&entries[1]["previous_role"], &entries[1]["role"]), (&json!("admin"), &json!("responder")));
        assert_eq!(entries[4]["subject"]["name"], "ir-bot");
        assert_eq!(entries[4]["role"], "legal");
        // The tokens the test started with were granted too, by the test.
        let (_, log) = app.get("/api/v1/audit", &app.legal).await;
        assert_eq!(log["entries"].as_array().unwrap().len(), 8, "{log}");
    }

    /// Not even the application's own connection can rewrite the record.
    async fn the_audit_log_refuses_updates_and_deletes(app) {
        grant(&app, json!({"name": "to-be-hidden", "role": "admin"})).await;
        for statement in [
            "UPDATE audit_log SET actor = 'token:someone-else'",
            "DELETE FROM audit_log",
        ] {
            let refused = raw(&app.database.url, &[statement]).await;
            assert!(refused.is_err(), "{statement} was allowed");
            assert!(refused.unwrap_err().to_string().contains("append-only"), "{statement}");
        }
        let (_, log) = app.get("/api/v1/audit", &app.legal).await;
        let entry = &log["entries"][0];
        assert_eq!((&entry["actor"], &entry["subject"]["name"]), (&json!("token:test-admin"), &json!("to-be-hidden")));
    }
}

with_each_backend!(a_token_past_its_expiry_is_refused);

async fn a_token_past_its_expiry_is_refused(backend: Backend) {
    let clock = ManualClock::starting_now();
    let options = Options {
        clock: Some(Arc::clone(&clock)),
        ..Options::default()
    };
    let app = TestApp::spawn_with(TestDatabase::create(&backend).await, options).await;
    let now = tocsin::clock::Clock::read(clock.as_ref());
    let expiry = now + chrono::Duration::hours(8);
    let (status, granted) = grant(
        &app,
        json!({"name": "night-shift", "role": "responder", "expires_at": expiry}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{granted}");
    let secret = granted["secret"].as_str().unwrap();
    let (status, _) = app.get("/api/v1/incidents", secret).await;
    assert_eq!(status, StatusCode::OK);

    clock.advance(chrono::Duration::hours(8));
    let (status, refused) = app.get("/api/v1/incidents", secret).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("expired"),
        "{refused}"
    );
    let (_, list) = app.get("/api/v1/tokens", &app.admin).await;
    assert_eq!(named(&list, "tokens", "night-shift")["state"], "expired");
    app.stop().await;
}
