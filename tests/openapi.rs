//! The OpenAPI document says what the server really answers: every
//! documented operation is exercised, and each answer's status and body
//! match what the document declares for it.

mod support;

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// The documented operation a concrete request hits: `(method, template)`.
struct Call {
    method: Method,
    template: &'static str,
    path: String,
    token: String,
    body: Option<Value>,
    expect: StatusCode,
}

fn validate(doc: &Value, call: &Call, status: StatusCode, content_type: &str, body: &Value) {
    let errors = mismatches(doc, &call.method, call.template, status, content_type, body);
    assert!(
        errors.is_empty(),
        "{} {} {status}: body does not match the document: {errors:?}\n{body}",
        call.method,
        call.template
    );
}

/// How `body` departs from what the document declares for this answer.
fn mismatches(
    doc: &Value,
    method: &Method,
    template: &str,
    status: StatusCode,
    content_type: &str,
    body: &Value,
) -> Vec<String> {
    let operation = &doc["paths"][template][method.as_str().to_lowercase()];
    assert!(
        operation.is_object(),
        "{method} {template} is not documented"
    );
    let response = &operation["responses"][status.as_str()];
    assert!(
        response.is_object(),
        "{method} {template} answered {status}, which is not documented: {body}"
    );
    let Some(content) = response.get("content") else {
        return Vec::new();
    };
    let Some(schema) = content[content_type].get("schema") else {
        return vec![format!(
            "{content_type} is not a documented content type: {content}"
        )];
    };
    // Resolve `#/components/...` against the document itself.
    let mut root = schema.clone();
    if let Some(object) = root.as_object_mut() {
        object.insert("components".into(), doc["components"].clone());
    } else {
        panic!("schema is not an object: {schema}");
    }
    let validator = jsonschema::validator_for(&root).expect("the documented schema compiles");
    validator
        .iter_errors(body)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect()
}

on_each_backend! {
    async fn every_documented_operation_answers_as_documented(app) {
        let response = app.client.get(app.url("/api/v1/openapi.json")).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let doc: Value = response.json().await.unwrap();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));

        let incident = app.trigger("account-hijack", "medium").await;
        let id = incident["id"].as_str().unwrap().to_owned();
        let first = &support::tasks(&incident)[0];
        let task = first["id"].as_str().unwrap().to_owned();
        let blocked = support::task(&incident, "pr/publish-statement")["id"].as_str().unwrap().to_owned();
        let dept = incident["departments"][0]["department"].as_str().unwrap().to_owned();
        let (r, l, a) = (app.responder.clone(), app.legal.clone(), app.admin.clone());
        let (_, granted) = app.post("/api/v1/tokens", &a, json!({"name": "doomed", "role": "legal"})).await;
        let token_id = granted["token"]["id"].as_str().unwrap().to_owned();
        let (_, user) = app.post("/api/v1/users", &a, json!({"email": "bo@example.org", "role": "legal"})).await;
        let user_id = user["id"].as_str().unwrap().to_owned();
        let nobody = uuid::Uuid::new_v4();
        // Two statements: the first awaits approval, the second is a draft.
        let statements = format!("/api/v1/incidents/{id}/statements");
        let words = json!({"text": "We are aware.", "language": "en", "channels": ["website"]});
        let (_, drafted) = app.post(&statements, &r, words.clone()).await;
        let submitted = drafted["statements"][0]["id"].as_str().unwrap().to_owned();
        let (_, view) = app.post(&format!("{statements}/{submitted}/submit"), &r, json!({})).await;
        let hash = view["statements"][0]["sha256"].as_str().unwrap().to_owned();
        let (_, drafted) = app.post(&statements, &r, words.clone()).await;
        let draft = drafted["statements"][1]["id"].as_str().unwrap().to_owned();
        let approve = json!({"department": "legal", "sha256": hash});
        let call = |method: Method, template: &'static str, path: String, token: &str,
                    body: Option<Value>, expect: StatusCode| Call {
            method, template, path, token: token.to_owned(), body, expect,
        };
        let inc = "/api/v1/incidents/{id}";
        let calls = vec![
            call(Method::GET, "/healthz", "/healthz".into(), &l, None, StatusCode::OK),
            call(Method::GET, "/readyz", "/readyz".into(), &l, None, StatusCode::OK),
            call(Method::GET, "/metrics", "/metrics".into(), &l, None, StatusCode::OK),
            call(Method::GET, "/api/v1/openapi.json", "/api/v1/openapi.json".into(), &l, None, StatusCode::OK),
            call(Method::GET, "/api/v1/playbooks", "/api/v1/playbooks".into(), &l, None, StatusCode::OK),
            call(Method::GET, "/api/v1/playbooks", "/api/v1/playbooks".into(), "bad", None, StatusCode::UNAUTHORIZED),
            call(Method::GET, "/api/v1/scenarios", "/api/v1/scenarios".into(), &l, None, StatusCode::OK),
            call(Method::POST, "/api/v1/incidents", "/api/v1/incidents".into(), &r, Some(json!({
                "title": "Storm", "scenario": "social-media-storm", "severity": "high", "summary": "s",
                "commander": {"name": "Ann", "email": "ann@example.com"}})), StatusCode::CREATED),
            call(Method::POST, "/api/v1/incidents", "/api/v1/incidents".into(), &r,
                Some(json!({"title": "x"})), StatusCode::UNPROCESSABLE_ENTITY),
            call(Method::POST, "/api/v1/incidents", "/api/v1/incidents".into(), &l, Some(json!({
                "title": "Storm", "scenario": "social-media-storm", "severity": "high", "summary": "s"})),
                StatusCode::FORBIDDEN),
            call(Method::POST, "/api/v1/signals", "/api/v1/signals".into(), &r, Some(json!({
                "source": "monitoring", "dedup_key": "openapi", "title": "Ticket volume up",
                "body": "x", "link": "https://monitoring.example/a/1"})), StatusCode::CREATED),
            call(Method::POST, "/api/v1/signals", "/api/v1/signals".into(), &r, Some(json!({
                "source": "monitoring", "dedup_key": "openapi", "title": "Ticket volume up again"})),
                StatusCode::OK),
            call(Method::POST, "/api/v1/signals", "/api/v1/signals".into(), &r, Some(json!({
                "source": "brandwatch", "dedup_key": "openapi", "title": "Mentions up"})),
                StatusCode::ACCEPTED),
            call(Method::POST, "/api/v1/signals", "/api/v1/signals".into(), &r, Some(json!({
                "source": "nowhere", "dedup_key": "k", "title": "t"})), StatusCode::UNPROCESSABLE_ENTITY),
            call(Method::POST, "/api/v1/signals", "/api/v1/signals".into(), &l, Some(json!({
                "source": "monitoring", "dedup_key": "k", "title": "t"})), StatusCode::FORBIDDEN),
            call(Method::GET, "/api/v1/incidents", "/api/v1/incidents?status=open".into(), &l, None, StatusCode::OK),
            call(Method::GET, "/api/v1/incidents", "/api/v1/incidents?limit=900".into(), &l, None, StatusCode::BAD_REQUEST),
            call(Method::GET, inc, format!("/api/v1/incidents/{id}"), &l, None, StatusCode::OK),
            call(Method::GET, inc, "/api/v1/incidents/x".into(), &l, None, StatusCode::BAD_REQUEST),
            call(Method::GET, inc, format!("/api/v1/incidents/{}", uuid::Uuid::new_v4()), &l, None, StatusCode::NOT_FOUND),
            call(Method::GET, "/api/v1/incidents/{id}/timeline", format!("/api/v1/incidents/{id}/timeline"), &l, None, StatusCode::OK),
            call(Method::POST, "/api/v1/incidents/{id}/departments/{department}/acknowledge",
                format!("/api/v1/incidents/{id}/departments/{dept}/acknowledge"), &r, None, StatusCode::OK),
            call(Method::POST, "/api/v1/incidents/{id}/tasks/{task_id}/acknowledge",
                format!("/api/v1/incidents/{id}/tasks/{task}/acknowledge"), &r, None, StatusCode::OK),
            call(Method::POST, "/api/v1/incidents/{id}/tasks/{task_id}/complete",
                format!("/api/v1/incidents/{id}/tasks/{blocked}/complete"), &r, None, StatusCode::CONFLICT),
            call(Method::POST, "/api/v1/incidents/{id}/tasks/{task_id}/complete",
                format!("/api/v1/incidents/{id}/tasks/{task}/complete"), &r, Some(json!({"note": "done"})), StatusCode::OK),
            call(Method::POST, "/api/v1/incidents/{id}/tasks/{task_id}/skip",
                format!("/api/v1/incidents/{id}/tasks/{blocked}/skip"), &r, Some(json!({"reason": "n/a"})), StatusCode::OK),
            call(Method::POST, "/api/v1/incidents/{id}/notes", format!("/api/v1/incidents/{id}/notes"), &r,
                Some(json!({"text": "note"})), StatusCode::OK),
            call(Method::POST, "/api/v1/incidents/{id}/severity", format!("/api/v1/incidents/{id}/severity"), &r,
                Some(json!({"severity": "critical", "reason": "worse"})), StatusCode::OK),
            call(Method::POST, "/api/v1/incidents/{id}/regulatory/claims", format!("/api/v1/incidents/{id}/regulatory/claims"), &l,
                Some(json!({"fact": "awareness", "claimed_at": "2020-01-01T07:10:00Z"})), StatusCode::OK),
            call(Method::POST, "/api/v1/incidents/{id}/regulatory/claims", format!("/api/v1/incidents/{id}/regulatory/claims"), &r,
                Some(json!({"fact": "awareness", "claimed_at": "2020-01-01T07:10:00Z"})), StatusCode::FORBIDDEN),
            call(Method::POST, "/api/v1/incidents/{id}/regulatory/{regime}/arm", format!("/api/v1/incidents/{id}/regulatory/gdpr-art33/arm"), &l,
                None, StatusCode::OK),
            call(Method::POST, "/api/v1/incidents/{id}/regulatory/{regime}/arm", format!("/api/v1/incidents/{id}/regulatory/gdpr-art33/arm"), &l,
                None, StatusCode::CONFLICT),
            call(Method::POST, "/api/v1/incidents/{id}/regulatory/{regime}/arm", format!("/api/v1/incidents/{id}/regulatory/eu-ai-act/arm"), &l,
                None, StatusCode::NOT_FOUND),
            call(Method::POST, "/api/v1/incidents/{id}/regulatory/{regime}/not-notifiable",
                format!("/api/v1/incidents/{id}/regulatory/nis2-art23/not-notifiable"), &l,
                Some(json!({"reason": "Not an essential or important entity"})), StatusCode::OK),
            call(Method::POST, "/api/v1/incidents/{id}/regulatory/{regime}/steps/{step}/submissions",
                format!("/api/v1/incidents/{id}/regulatory/gdpr-art33/steps/notify-authority/submissions"), &l,
                Some(json!({"reference": "CNIL-1"})), StatusCode::UNPROCESSABLE_ENTITY),
            call(Method::POST, "/api/v1/incidents/{id}/regulatory/{regime}/steps/{step}/submissions",
                format!("/api/v1/incidents/{id}/regulatory/gdpr-art33/steps/notify-authority/submissions"), &l,
                Some(json!({"reference": "CNIL-1", "delay_reasons": "Found late"})), StatusCode::OK),
            call(Method::GET, "/api/v1/incidents/{id}/timeline", format!("/api/v1/incidents/{id}/timeline"), &l, None, StatusCode::OK),
            call(Method::GET, "/api/v1/incidents/{id}/timeline",
                format!("/api/v1/incidents/{id}/timeline?format=csv&tz=Europe/Paris"), &l, None, StatusCode::OK),
            call(Method::GET, "/api/v1/incidents/{id}/timeline",
                format!("/api/v1/incidents/{id}/timeline?format=html"), &l, None, StatusCode::OK),
            call(Method::GET, "/api/v1/incidents/{id}/timeline",
                format!("/api/v1/incidents/{id}/timeline?format=pdf"), &l, None, StatusCode::BAD_REQUEST),
            call(Method::GET, "/api/v1/incidents/{id}/timeline/verify",
                format!("/api/v1/incidents/{id}/timeline/verify"), &l, None, StatusCode::OK),
            call(Method::GET, "/api/v1/timeline/public-key", "/api/v1/timeline/public-key".into(), &l, None, StatusCode::OK),
            call(Method::POST, "/api/v1/incidents/{id}/corrections", format!("/api/v1/incidents/{id}/corrections"), &r,
                Some(json!({"corrects_seq": 1, "text": "The summary named the wrong account"})), StatusCode::OK),
            call(Method::POST, "/api/v1/incidents/{id}/corrections", format!("/api/v1/incidents/{id}/corrections"), &r,
                Some(json!({"corrects_seq": 9999, "text": "x"})), StatusCode::CONFLICT),
            call(Method::POST, "/api/v1/incidents/{id}/corrections", format!("/api/v1/incidents/{id}/corrections"), &r,
                Some(json!({"corrects_seq": 0, "text": "x"})), StatusCode::UNPROCESSABLE_ENTITY),
            call(Method::POST, "/api/v1/incidents/{id}/statements/from-template", format!("{statements}/from-template"), &r,
                Some(json!({"template": "holding", "values": {"issue": "posts", "time": "18:00"}, "channels": ["twitter"]})),
                StatusCode::OK),
            call(Method::POST, "/api/v1/incidents/{id}/statements/from-template", format!("{statements}/from-template"), &r,
                Some(json!({"template": "holding", "values": {"issue": "posts"}, "channels": ["twitter"]})),
                StatusCode::CONFLICT),
            call(Method::POST, "/api/v1/incidents/{id}/statements/from-template", format!("{statements}/from-template"), &r,
                Some(json!({"template": "nope", "channels": ["twitter"]})), StatusCode::NOT_FOUND),
            call(Method::POST, "/api/v1/incidents/{id}/statements", statements.clone(), &r,
                Some(words.clone()), StatusCode::OK),
            call(Method::POST, "/api/v1/incidents/{id}/statements", statements.clone(), &r,
                Some(json!({"text": "x", "language": "en", "channels": []})), StatusCode::UNPROCESSABLE_ENTITY),
            call(Method::POST, "/api/v1/incidents/{id}/statements", statements.clone(), &l,
                Some(words.clone()), StatusCode::FORBIDDEN),
            call(Method::PUT, "/api/v1/incidents/{id}/statements/{statement_id}", format!("{statements}/{draft}"), &r,
                Some(json!({"text": "We are aware and on it.", "language": "en", "channels": ["website"]})), StatusCode::OK),
            call(Method::PUT, "/api/v1/incidents/{id}/statements/{statement_id}", format!("{statements}/{nobody}"), &r,
                Some(words.clone()), StatusCode::NOT_FOUND),
            call(Method::POST, "/api/v1/incidents/{id}/statements/{statement_id}/submit",
                format!("{statements}/{draft}/submit"), &r, None, StatusCode::OK),
            call(Method::POST, "/api/v1/incidents/{id}/statements/{statement_id}/submit",
                format!("{statements}/{draft}/submit"), &r, None, StatusCode::CONFLICT),
            call(Method::POST, "/api/v1/incidents/{id}/statements/{statement_id}/approve",
                format!("{statements}/{submitted}/approve"), &r, Some(approve.clone()), StatusCode::FORBIDDEN),
            call(Method::POST, "/api/v1/incidents/{id}/statements/{statement_id}/approve",
                format!("{statements}/{submitted}/approve"), &l,
                Some(json!({"department": "hr", "sha256": hash})), StatusCode::UNPROCESSABLE_ENTITY),
            call(Method::POST, "/api/v1/incidents/{id}/statements/{statement_id}/request-changes",
                format!("{statements}/{draft}/request-changes"), &l,
                Some(json!({"department": "legal", "sha256": hash, "note": "Shorter"})), StatusCode::CONFLICT),
            call(Method::POST, "/api/v1/incidents/{id}/statements/{statement_id}/approve",
                format!("{statements}/{submitted}/approve"), &l, Some(approve.clone()), StatusCode::OK),
            call(Method::POST, "/api/v1/incidents/{id}/statements/{statement_id}/publish",
                format!("{statements}/{draft}/publish"), &r, None, StatusCode::CONFLICT),
            call(Method::POST, "/api/v1/incidents/{id}/statements/{statement_id}/publish",
                format!("{statements}/{submitted}/publish"), &r,
                Some(json!({"url": "https://example.com/news/1"})), StatusCode::OK),
            call(Method::POST, "/api/v1/incidents/{id}/statements/{statement_id}/briefings",
                format!("{statements}/{submitted}/briefings"), &r, Some(json!({"audience": "press"})), StatusCode::OK),
            call(Method::POST, "/api/v1/incidents/{id}/statements/{statement_id}/briefings",
                format!("{statements}/{draft}/briefings"), &r, Some(json!({"audience": "press"})), StatusCode::CONFLICT),
            call(Method::POST, "/api/v1/incidents/{id}/briefings", format!("/api/v1/incidents/{id}/briefings"), &r,
                Some(json!({"audience": "all-staff", "text": "Say nothing online."})), StatusCode::OK),
            call(Method::POST, "/api/v1/incidents/{id}/briefings", format!("/api/v1/incidents/{id}/briefings"), &r,
                Some(json!({"audience": "nobody", "text": "x"})), StatusCode::NOT_FOUND),
            call(Method::GET, "/api/v1/incidents/{id}/briefings/{briefing_id}",
                format!("/api/v1/incidents/{id}/briefings/{nobody}"), &l, None, StatusCode::NOT_FOUND),
            call(Method::POST, "/api/v1/incidents/{id}/legal-hold", format!("/api/v1/incidents/{id}/legal-hold"), &r,
                Some(json!({"hold": true, "reason": "x"})), StatusCode::FORBIDDEN),
            call(Method::POST, "/api/v1/incidents/{id}/legal-hold", format!("/api/v1/incidents/{id}/legal-hold"), &l,
                Some(json!({"hold": true, "reason": "Regulator inquiry"})), StatusCode::OK),
            call(Method::GET, "/api/v1/purge-log", "/api/v1/purge-log".into(), &l, None, StatusCode::OK),
            call(Method::POST, "/api/v1/incidents/{id}/resolve", format!("/api/v1/incidents/{id}/resolve"), &r,
                Some(json!({"force": true, "reason": "test over"})), StatusCode::OK),
            call(Method::GET, "/api/v1/tokens", "/api/v1/tokens".into(), &a, None, StatusCode::OK),
            call(Method::GET, "/api/v1/tokens", "/api/v1/tokens".into(), &l, None, StatusCode::FORBIDDEN),
            call(Method::POST, "/api/v1/tokens", "/api/v1/tokens".into(), &a,
                Some(json!({"name": "bot", "role": "responder", "expires_at": "2999-01-01T00:00:00Z"})), StatusCode::CREATED),
            call(Method::POST, "/api/v1/tokens", "/api/v1/tokens".into(), &a,
                Some(json!({"name": "bot", "role": "root"})), StatusCode::UNPROCESSABLE_ENTITY),
            call(Method::POST, "/api/v1/tokens/{id}/revoke", format!("/api/v1/tokens/{token_id}/revoke"), &a, None, StatusCode::OK),
            call(Method::POST, "/api/v1/tokens/{id}/revoke", format!("/api/v1/tokens/{nobody}/revoke"), &a, None, StatusCode::NOT_FOUND),
            call(Method::GET, "/api/v1/users", "/api/v1/users".into(), &a, None, StatusCode::OK),
            call(Method::POST, "/api/v1/users", "/api/v1/users".into(), &a,
                Some(json!({"email": "cy@example.org", "role": "responder"})), StatusCode::CREATED),
            call(Method::POST, "/api/v1/users", "/api/v1/users".into(), &a,
                Some(json!({"email": "cy@example.org", "role": "responder"})), StatusCode::CONFLICT),
            call(Method::POST, "/api/v1/users/{id}/role", format!("/api/v1/users/{user_id}/role"), &a,
                Some(json!({"role": "admin"})), StatusCode::OK),
            call(Method::POST, "/api/v1/users/{id}/role", format!("/api/v1/users/{nobody}/role"), &a,
                Some(json!({"role": "admin"})), StatusCode::NOT_FOUND),
            call(Method::DELETE, "/api/v1/users/{id}", format!("/api/v1/users/{user_id}"), &a, None, StatusCode::OK),
            call(Method::DELETE, "/api/v1/users/{id}", format!("/api/v1/users/{user_id}"), &a, None, StatusCode::NOT_FOUND),
            call(Method::GET, "/api/v1/audit", "/api/v1/audit".into(), &l, None, StatusCode::OK),
            call(Method::GET, "/api/v1/audit", "/api/v1/audit?limit=0".into(), &l, None, StatusCode::BAD_REQUEST),
            call(Method::GET, "/api/v1/audit", "/api/v1/audit".into(), &r, None, StatusCode::FORBIDDEN),
        ];

        let mut exercised = BTreeSet::new();
        for call in &calls {
            let mut request = app.client.request(call.method.clone(), app.url(&call.path))
                .bearer_auth(&call.token);
            if let Some(body) = &call.body {
                request = request.json(body);
            }
            let response = request.send().await.unwrap();
            let status = response.status();
            let content_type = response.headers().get("content-type")
                .map(|value| value.to_str().unwrap().split(';').next().unwrap().trim().to_owned())
                .unwrap_or_default();
            let text = response.text().await.unwrap();
            let body: Value = if content_type == "application/json" {
                serde_json::from_str(&text).unwrap()
            } else {
                Value::String(text)
            };
            assert_eq!(status, call.expect, "{} {}: {body}", call.method, call.path);
            validate(&doc, call, status, &content_type, &body);
            exercised.insert((call.method.as_str().to_lowercase(), call.template.to_owned()));
        }

        // A briefing sent above, read back.
        let (_, view) = app.get(&format!("/api/v1/incidents/{id}"), &l).await;
        let briefing = view["briefings"][0]["id"].as_str().unwrap().to_owned();
        let read = call(Method::GET, "/api/v1/incidents/{id}/briefings/{briefing_id}",
            format!("/api/v1/incidents/{id}/briefings/{briefing}"), &l, None, StatusCode::OK);
        let (status, body) = app.get(&read.path, &l).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        validate(&doc, &read, status, "application/json", &body);

        // The check has teeth: a body of the wrong shape is caught.
        let wrong = json!({"id": 5, "departments": "none"});
        let inc_template = "/api/v1/incidents/{id}";
        assert!(!mismatches(&doc, &Method::GET, inc_template, StatusCode::OK, "application/json", &wrong).is_empty());

        let mut documented = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                documented.insert((method.clone(), path.clone()));
            }
        }
        assert_eq!(documented, exercised, "every documented operation is exercised");
    }
}

/// A validator for one schema of the document, `#/components/...` resolved.
fn component(doc: &Value, name: &str) -> jsonschema::Validator {
    let root = json!({
        "$ref": format!("#/components/schemas/{name}"),
        "components": doc["components"].clone(),
    });
    jsonschema::validator_for(&root).expect("the documented schema compiles")
}

async fn document(app: &support::TestApp) -> Value {
    let (status, doc) = app.get("/api/v1/openapi.json", &app.legal).await;
    assert_eq!(status, StatusCode::OK);
    doc
}

on_each_backend! {
    async fn text_is_refused_exactly_where_the_document_says(app) {
        let doc = document(&app).await;
        let note = component(&doc, "NoteBody");
        let id = app.trigger("account-hijack", "low").await["id"].as_str().unwrap().to_owned();
        let samples = [
            "Call the bank".to_owned(), "  padded  ".to_owned(), "line\nbreak\tand tab".to_owned(),
            String::new(), " \t\r\n ".to_owned(), "\u{3000}\u{a0}".to_owned(),
            "bell\u{7}".to_owned(), "\u{85}end".to_owned(), "nul\u{0}".to_owned(), "\u{1f}".to_owned(),
            "x".repeat(10_000), "x".repeat(10_001), format!(" {}", "x".repeat(10_000)),
            "日本語".repeat(3_333), "😀".repeat(10_000),
        ];
        for text in samples {
            let body = json!({ "text": text });
            let documented = note.is_valid(&body);
            let (status, answer) = app.post(&format!("/api/v1/incidents/{id}/notes"), &app.responder, body).await;
            let expected = if documented { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
            assert_eq!(status, expected, "{:?}: documented valid {documented}: {answer}",
                text.chars().take(20).collect::<String>());
        }
    }

    async fn signals_are_refused_exactly_where_the_document_says(app) {
        let doc = document(&app).await;
        let schema = component(&doc, "SignalBody");
        let long_key = "k".repeat(255);
        let too_long_key = "k".repeat(256);
        let long_link = format!("https://x.example/{}", "a".repeat(2048 - 18));
        let too_long_link = format!("{long_link}a");
        let samples = [
            json!({"source": "monitoring", "dedup_key": "a", "title": "t"}),
            json!({"source": "monitoring", "dedup_key": " tab\tkey ", "title": "t", "body": null}),
            json!({"source": "monitoring", "dedup_key": long_key, "title": "t"}),
            json!({"source": "monitoring", "dedup_key": too_long_key, "title": "t"}),
            json!({"source": "monitoring", "dedup_key": " \n", "title": "t"}),
            json!({"source": "monitoring", "dedup_key": "bell\u{7}", "title": "t"}),
            json!({"source": "monitoring", "dedup_key": "k", "title": "t", "link": "http://%"}),
            json!({"source": "monitoring", "dedup_key": "k", "title": "t", "link": long_link}),
            json!({"source": "monitoring", "dedup_key": "k", "title": "t", "link": too_long_link}),
            json!({"source": "monitoring", "dedup_key": "k", "title": "t", "link": "HTTP://x"}),
            json!({"source": "monitoring", "dedup_key": "k", "title": "t", "link": "https://"}),
            json!({"source": "monitoring", "dedup_key": "k", "title": "t", "link": "https://a b"}),
            json!({"source": "monitoring", "dedup_key": "k", "title": "t", "link": "javascript:alert(1)"}),
            json!({"source": "Monitoring", "dedup_key": "k", "title": "t"}),
            json!({"source": "monitoring", "dedup_key": "k", "title": "t", "extra": 1}),
        ];
        for body in samples {
            let documented = schema.is_valid(&body);
            let (status, answer) = app.post("/api/v1/signals", &app.responder, body.clone()).await;
            assert_eq!(status.is_success(), documented, "{body}: documented valid {documented}: {status} {answer}");
            if !documented {
                assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {answer}");
            }
        }
    }

    async fn the_largest_body_the_document_allows_is_accepted(app) {
        let doc = document(&app).await;
        let id = app.trigger("account-hijack", "low").await["id"].as_str().unwrap().to_owned();
        // Resolve's two texts at their longest, every character sent as a
        // 12-byte surrogate-pair escape, as many JSON encoders write them.
        let emoji = "\\ud83d\\ude00".repeat(10_000);
        let raw = format!(r#"{{"summary":"{emoji}","force":true,"reason":"{emoji}"}}"#);
        let body: Value = serde_json::from_str(&raw).unwrap();
        assert!(component(&doc, "ResolveBody").is_valid(&body));
        assert!(raw.len() > 200 * 1024, "{}", raw.len());
        let response = app.client.post(app.url(&format!("/api/v1/incidents/{id}/resolve")))
            .bearer_auth(&app.responder).header("content-type", "application/json")
            .body(raw).send().await.unwrap();
        let (status, answer) = support::read(response).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_eq!(answer["status"], "resolved");
    }

    async fn what_json_schema_allows_the_server_takes(app) {
        let doc = document(&app).await;
        let incident = app.trigger("account-hijack", "low").await;
        let id = incident["id"].as_str().unwrap().to_owned();
        let task = support::tasks(&incident)[0]["id"].as_str().unwrap().to_owned();

        // `integer` includes 1.0; 1.5 is no integer.
        let correction = component(&doc, "CorrectionBody");
        for (seq, expected) in [(json!(1.0), StatusCode::OK), (json!(1.5), StatusCode::UNPROCESSABLE_ENTITY)] {
            let body = json!({"corrects_seq": seq, "text": "wrong figure"});
            assert_eq!(correction.is_valid(&body), expected == StatusCode::OK);
            let (status, answer) = app.post(&format!("/api/v1/incidents/{id}/corrections"), &app.responder, body).await;
            assert_eq!(status, expected, "{seq}: {answer}");
        }

        // An optional body may be JSON null, which the document allows.
        let (status, answer) = app.post(&format!("/api/v1/incidents/{id}/tasks/{task}/complete"), &app.responder, Value::Null).await;
        assert_eq!(status, StatusCode::OK, "{answer}");

        // Resolve: `reason` with `force` and only with it.
        let resolve = component(&doc, "ResolveBody");
        for (body, valid) in [
            (json!({"force": false, "reason": "why"}), false),
            (json!({"force": true}), false),
            (json!({"reason": "why"}), false),
            (json!({"force": true, "reason": "drill over", "summary": null}), true),
        ] {
            assert_eq!(resolve.is_valid(&body), valid, "{body}");
            let (status, answer) = app.post(&format!("/api/v1/incidents/{id}/resolve"), &app.responder, body.clone()).await;
            let expected = if valid { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
            assert_eq!(status, expected, "{body}: {answer}");
        }
    }

    async fn the_document_names_what_this_server_loaded(app) {
        let doc = document(&app).await;
        let (_, scenarios) = app.get("/api/v1/scenarios", &app.legal).await;
        let loaded: BTreeSet<&str> = scenarios["scenarios"].as_array().unwrap().iter()
            .map(|s| s["id"].as_str().unwrap()).collect();
        let listed: BTreeSet<&str> = doc["components"]["schemas"]["TriggerBody"]["properties"]["scenario"]["enum"]
            .as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect();
        assert_eq!(listed, loaded);

        let (_, playbooks) = app.get("/api/v1/playbooks", &app.legal).await;
        let loaded: BTreeSet<&str> = playbooks["departments"].as_array().unwrap().iter()
            .map(|d| d["id"].as_str().unwrap()).collect();
        let parameters = doc["paths"]["/api/v1/incidents/{id}/departments/{department}/acknowledge"]["post"]["parameters"]
            .as_array().unwrap();
        let department = parameters.iter().find(|p| p["name"] == "department").unwrap();
        let listed: BTreeSet<&str> = department["schema"]["enum"].as_array().unwrap().iter()
            .map(|d| d.as_str().unwrap()).collect();
        assert_eq!(listed, loaded);

        let listed: BTreeSet<&str> = doc["components"]["schemas"]["SignalBody"]["properties"]["source"]["enum"]
            .as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect();
        assert_eq!(listed, BTreeSet::from(["brandwatch", "monitoring"]));

        // An unknown scenario is refused, as the enum says.
        let (status, _) = app.post("/api/v1/incidents", &app.responder, json!({
            "title": "t", "scenario": "alien-invasion", "severity": "low", "summary": "s"})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    }

    async fn links_lead_to_real_operations_with_real_values(app) {
        let doc = document(&app).await;
        let created = &doc["paths"]["/api/v1/incidents"]["post"]["responses"]["201"];
        let links = created["links"].as_object().expect("the trigger's answer has links");
        assert!(!links.is_empty());
        let incident = app.trigger("account-hijack", "low").await;
        for (name, link) in links {
            let operation_id = link["operationId"].as_str()
                .unwrap_or_else(|| panic!("{name} names no operationId: {link}"));
            let target = doc["paths"].as_object().unwrap().values()
                .flat_map(|item| item.as_object().unwrap().values())
                .find(|operation| operation["operationId"] == operation_id)
                .unwrap_or_else(|| panic!("{name}: no operation {operation_id}"));
            let declared: BTreeSet<&str> = target["parameters"].as_array().unwrap().iter()
                .map(|p| p["name"].as_str().unwrap()).collect();
            for (parameter, expression) in link["parameters"].as_object().unwrap() {
                assert!(declared.contains(parameter.as_str()), "{name}: {operation_id} has no {parameter}");
                let pointer = expression.as_str().unwrap().strip_prefix("$response.body#").unwrap();
                assert!(incident.pointer(pointer).is_some_and(Value::is_string),
                    "{name}: {pointer} is not in a trigger's answer");
            }
        }
    }

    async fn malformed_keys_and_zones_are_refused_as_documented(app) {
        let doc = document(&app).await;
        let trigger = &doc["paths"]["/api/v1/incidents"]["post"]["parameters"][0];
        assert_eq!(trigger["name"], "Idempotency-Key");
        let key = jsonschema::validator_for(&trigger["schema"]).unwrap();
        let body = json!({"title": "t", "scenario": "account-hijack", "severity": "low", "summary": "s"});
        for (value, valid) in [("retry-1", true), ("with space", false), ("tab\tin", false)] {
            assert_eq!(key.is_valid(&json!(value)), valid, "{value:?}");
            let response = app.client.post(app.url("/api/v1/incidents")).bearer_auth(&app.responder)
                .header("Idempotency-Key", value).json(&body).send().await.unwrap();
            let expected = if valid { StatusCode::CREATED } else { StatusCode::BAD_REQUEST };
            assert_eq!(response.status(), expected, "{value:?}");
        }

        let id = app.trigger("account-hijack", "low").await["id"].as_str().unwrap().to_owned();
        let timeline = &doc["paths"]["/api/v1/incidents/{id}/timeline"]["get"]["parameters"];
        let tz = timeline.as_array().unwrap().iter().find(|p| p["name"] == "tz").unwrap();
        let zones = jsonschema::validator_for(&tz["schema"]).unwrap();
        for (zone, valid) in [("Europe/Paris", true), ("UTC", true), ("Mars/Olympus", false),
                              ("%20UTC", false), ("europe/paris", false)] {
            let decoded = zone.replace("%20", " ");
            assert_eq!(zones.is_valid(&json!(decoded)), valid, "{zone:?}");
            let response = app.client.get(app.url(&format!("/api/v1/incidents/{id}/timeline?format=csv&tz={zone}")))
                .bearer_auth(&app.legal).send().await.unwrap();
            let expected = if valid { StatusCode::OK } else { StatusCode::BAD_REQUEST };
            assert_eq!(response.status(), expected, "{zone:?}");
        }
    }
}
