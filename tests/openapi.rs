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
        let (r, l) = (app.responder.clone(), app.legal.clone());
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
                Some(json!({"corrects_seq": 9999, "text": "x"})), StatusCode::UNPROCESSABLE_ENTITY),
            call(Method::POST, "/api/v1/incidents/{id}/statements", format!("/api/v1/incidents/{id}/statements"), &r,
                Some(json!({"text": "We have regained control of our account.", "approved_by": "Dominique Bernard, legal",
                            "channels": ["twitter", "website"]})), StatusCode::OK),
            call(Method::POST, "/api/v1/incidents/{id}/legal-hold", format!("/api/v1/incidents/{id}/legal-hold"), &r,
                Some(json!({"hold": true, "reason": "x"})), StatusCode::FORBIDDEN),
            call(Method::POST, "/api/v1/incidents/{id}/legal-hold", format!("/api/v1/incidents/{id}/legal-hold"), &l,
                Some(json!({"hold": true, "reason": "Regulator inquiry"})), StatusCode::OK),
            call(Method::GET, "/api/v1/purge-log", "/api/v1/purge-log".into(), &l, None, StatusCode::OK),
            call(Method::POST, "/api/v1/incidents/{id}/resolve", format!("/api/v1/incidents/{id}/resolve"), &r,
                Some(json!({"force": true, "reason": "test over"})), StatusCode::OK),
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
