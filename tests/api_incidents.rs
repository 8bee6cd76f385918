//! Triggering incidents and moving their tasks to resolution, over HTTP.

mod support;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tocsin::domain::Severity;
use tocsin::playbook::Catalog;

use support::{task, tasks};

fn catalog() -> Catalog {
    Catalog::load(std::path::Path::new(support::PLAYBOOKS)).expect("shipped playbooks load")
}

fn task_path(incident: &Value, key: &str, action: &str) -> String {
    format!(
        "/api/v1/incidents/{}/tasks/{}/{action}",
        incident["id"].as_str().expect("id"),
        task(incident, key)["id"].as_str().expect("task id")
    )
}

on_each_backend! {
    async fn trigger_opens_the_checklist_the_playbooks_give(app) {
        let incident = app.trigger("account-hijack", "high").await;
        assert_eq!(incident["status"], "open");
        assert_eq!(incident["severity"], "high");
        assert!(incident["reference"].as_str().unwrap().starts_with("INC-"));

        let plan = catalog().plan("account-hijack", Severity::High).unwrap();
        let departments: Vec<&str> = incident["departments"].as_array().unwrap()
            .iter().map(|dept| dept["department"].as_str().unwrap()).collect();
        let planned: Vec<&str> = plan.departments.iter().map(|dept| dept.id.as_str()).collect();
        assert_eq!(departments, planned);

        let keys: Vec<String> = tasks(&incident).iter()
            .map(|task| task["key"].as_str().unwrap().to_owned()).collect();
        let planned_keys: Vec<String> = plan.departments.iter()
            .flat_map(|dept| dept.tasks.iter().map(|task| task.key())).collect();
        assert_eq!(keys, planned_keys);

        for task in tasks(&incident) {
            assert_eq!(task["status"], "open");
            for field in ["id", "title", "required", "depends_on", "ack_due_at", "due_at"] {
                assert!(task.get(field).is_some(), "task lacks {field}: {task}");
            }
        }
        // The default commander, named by the organisation's playbook.
        assert_eq!(incident["commander"]["email"], "social-lead@example.com");

        let (status, fetched) = app.get(
            &format!("/api/v1/incidents/{}", incident["id"].as_str().unwrap()), &app.legal).await;
        assert_eq!(status, StatusCode::OK);
        let without_messages = |mut value: Value| {
            value.as_object_mut().unwrap().remove("messages");
            value
        };
        assert_eq!(without_messages(fetched.clone()), without_messages(incident.clone()));

        // One email per engaged department head, queued with the incident.
        let heads: Vec<&Value> = incident["departments"].as_array().unwrap().iter()
            .map(|dept| &dept["head"]["email"]).collect();
        let recipients: Vec<&Value> = incident["messages"].as_array().unwrap().iter()
            .map(|message| &message["recipient"]).collect();
        assert_eq!(recipients, heads);
        assert!(incident["messages"].as_array().unwrap().iter().all(|m| m["channel"] == "email"));
    }

    async fn a_task_waiting_on_another_department_cannot_be_completed(app) {
        let incident = app.trigger("account-hijack", "high").await;
        let publish = task(&incident, "pr/publish-statement");
        let review = task(&incident, "legal/review-statements");
        assert!(publish["depends_on"].as_array().unwrap().contains(&review["id"]));
        assert_eq!(publish["due_at"], Value::Null, "its clock waits on its dependencies");

        let (status, body) = app.post(&task_path(&incident, "pr/publish-statement", "complete"),
            &app.responder, json!({})).await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains("legal/review-statements"), "{message}");

        // Acknowledging it is fine: the head has seen it.
        let (status, _) = app.post(&task_path(&incident, "pr/publish-statement", "acknowledge"),
            &app.responder, json!({})).await;
        assert_eq!(status, StatusCode::OK);

        // Close every dependency; then it can be done, and its clock started.
        let mut current = incident.clone();
        for dep in publish["depends_on"].as_array().unwrap() {
            let key = tasks(&current).into_iter().find(|t| &t["id"] == dep).unwrap()["key"]
                .as_str().unwrap().to_owned();
            close_with_dependencies(&app, &mut current, &key).await;
        }
        let publish_now = task(&current, "pr/publish-statement");
        assert!(publish_now["due_at"].is_string(), "clock started: {publish_now}");
        let (status, done) = app.post(&task_path(&current, "pr/publish-statement", "complete"),
            &app.responder, json!({"note": "Published on every channel at 10:42"})).await;
        assert_eq!(status, StatusCode::OK, "{done}");
        let publish = task(&done, "pr/publish-statement");
        assert_eq!(publish["status"], "done");
        assert_eq!(publish["note"], "Published on every channel at 10:42");
        assert_eq!(publish["closed_by"], "token:test-responder");

        let kinds: Vec<String> = app.timeline(incident["id"].as_str().unwrap()).await.iter()
            .map(|event| event["kind"].as_str().unwrap().to_owned()).collect();
        assert!(kinds.contains(&"task_unblocked".to_owned()), "{kinds:?}");
    }

    async fn acknowledging_is_idempotent_and_engages_the_department(app) {
        let incident = app.trigger("complaint-surge", "medium").await;
        let key = tasks(&incident)[0]["key"].as_str().unwrap().to_owned();
        let path = task_path(&incident, &key, "acknowledge");
        let (status, first) = app.post(&path, &app.responder, json!({})).await;
        assert_eq!(status, StatusCode::OK);
        let (status, second) = app.post(&path, &app.admin, json!({})).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(task(&second, &key)["acknowledged_by"], "token:test-responder");
        assert_eq!(task(&first, &key)["acknowledged_at"], task(&second, &key)["acknowledged_at"]);
        let department = key.split('/').next().unwrap();
        let dept = second["departments"].as_array().unwrap().iter()
            .find(|d| d["department"] == department).unwrap();
        assert_eq!(dept["status"], "acknowledged");

        let events = app.timeline(incident["id"].as_str().unwrap()).await;
        let acks = events.iter().filter(|e| e["kind"] == "task_acknowledged").count();
        assert_eq!(acks, 1, "the second acknowledgement recorded nothing");
    }

    async fn skipping_needs_a_reason_and_closes_the_task(app) {
        let incident = app.trigger("complaint-surge", "medium").await;
        let key = tasks(&incident)[0]["key"].as_str().unwrap().to_owned();
        let path = task_path(&incident, &key, "skip");

        let (status, body) = app.post(&path, &app.responder, json!({})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(body["error"]["field"], "reason");
        let (status, body) = app.post(&path, &app.responder, json!({"reason": "   "})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(body["error"]["field"], "reason");

        let (status, body) = app.post(&path, &app.responder,
            json!({"reason": "Handled by the regional team"})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(task(&body, &key)["status"], "skipped");
        assert_eq!(task(&body, &key)["note"], "Handled by the regional team");

        let (status, body) = app.post(&path, &app.responder, json!({"reason": "again"})).await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        let (status, _) = app.post(&task_path(&incident, &key, "complete"),
            &app.responder, json!({})).await;
        assert_eq!(status, StatusCode::CONFLICT);
    }

    async fn resolution_waits_for_required_tasks_unless_forced(app) {
        let incident = app.trigger("share-price-threat", "low").await;
        let id = incident["id"].as_str().unwrap().to_owned();
        let resolve = format!("/api/v1/incidents/{id}/resolve");

        let (status, body) = app.post(&resolve, &app.responder, json!({})).await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        assert!(body["error"]["message"].as_str().unwrap().contains("required tasks are still open"));

        let (status, body) = app.post(&resolve, &app.responder, json!({"force": true})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(body["error"]["field"], "reason");

        let (status, body) = app.post(&resolve, &app.responder,
            json!({"force": true, "reason": "Rumour denied by the exchange", "summary": "False alarm"})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["status"], "resolved");
        assert!(body["resolved_at"].is_string());

        // A resolved incident no longer changes.
        let key = tasks(&incident)[0]["key"].as_str().unwrap().to_owned();
        for action in ["acknowledge", "complete"] {
            let (status, body) = app.post(&task_path(&incident, &key, action),
                &app.responder, json!({})).await;
            assert_eq!(status, StatusCode::CONFLICT, "{action}: {body}");
            assert!(body["error"]["message"].as_str().unwrap().contains("resolved"));
        }
        let (status, _) = app.post(&format!("/api/v1/incidents/{id}/severity"), &app.responder,
            json!({"severity": "critical", "reason": "late"})).await;
        assert_eq!(status, StatusCode::CONFLICT);
        let (status, _) = app.post(&resolve, &app.responder, json!({})).await;
        assert_eq!(status, StatusCode::CONFLICT);

        let events = app.timeline(&id).await;
        let resolved = events.iter().find(|e| e["kind"] == "incident_resolved").unwrap();
        assert_eq!(resolved["data"]["forced"], true);
        assert_eq!(resolved["data"]["reason"], "Rumour denied by the exchange");
        assert!(!resolved["data"]["open_required"].as_array().unwrap().is_empty());
    }

    async fn resolving_after_every_required_task_is_closed(app) {
        let mut incident = app.trigger("complaint-surge", "low").await;
        let required: Vec<String> = tasks(&incident).iter()
            .filter(|t| t["required"] == true)
            .map(|t| t["key"].as_str().unwrap().to_owned()).collect();
        assert!(!required.is_empty());
        for key in &required {
            close_with_dependencies(&app, &mut incident, key).await;
        }
        assert_eq!(incident["open_required"], json!([]));
        // Forcing out of habit, with nothing required open, forces nothing.
        let id = incident["id"].as_str().unwrap().to_owned();
        let (status, body) = app.post(&format!("/api/v1/incidents/{id}/resolve"),
            &app.responder, json!({"summary": "Volumes back to normal", "force": true,
                                   "reason": "Closing it"})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["status"], "resolved");
        let resolved = app.changes(&id).await.into_iter()
            .find(|e| e["kind"] == "incident_resolved").unwrap();
        assert_eq!(resolved["data"]["forced"], false, "{resolved}");
        assert_eq!(resolved["data"]["reason"], Value::Null, "{resolved}");
        app.settle().await;
        let mails = app.smtp.received();
        let resolution = mails.iter().find(|m| m.subject().unwrap().contains("Resolved:")).unwrap();
        let text = resolution.text().unwrap();
        assert!(!text.contains("items still open"), "{text}");
        for dept in body["departments"].as_array().unwrap() {
            let all_closed = dept["tasks"].as_array().unwrap().iter()
                .all(|t| t["status"] == "done" || t["status"] == "skipped");
            assert_eq!(dept["status"] == "done", all_closed, "{dept}");
        }
    }

    async fn raising_severity_engages_the_items_of_the_new_level(app) {
        let incident = app.trigger("social-media-storm", "low").await;
        let id = incident["id"].as_str().unwrap().to_owned();
        let path = format!("/api/v1/incidents/{id}/severity");

        let (status, body) = app.post(&path, &app.responder,
            json!({"severity": "low", "reason": "no change"})).await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        let (status, body) = app.post(&path, &app.responder, json!({"severity": "critical"})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(body["error"]["field"], "reason");

        let (status, raised) = app.post(&path, &app.responder,
            json!({"severity": "critical", "reason": "Picked up by national press"})).await;
        assert_eq!(status, StatusCode::OK, "{raised}");
        assert_eq!(raised["severity"], "critical");
        let critical = catalog().plan("social-media-storm", Severity::Critical).unwrap();
        let mut expected: Vec<String> = critical.departments.iter()
            .flat_map(|d| d.tasks.iter().map(|t| t.key())).collect();
        let mut keys: Vec<String> = tasks(&raised).iter()
            .map(|t| t["key"].as_str().unwrap().to_owned()).collect();
        expected.sort();
        keys.sort();
        assert_eq!(keys, expected);
        // Tasks already there kept their ids.
        for old in tasks(&incident) {
            assert_eq!(task(&raised, old["key"].as_str().unwrap())["id"], old["id"]);
        }

        // Lowering keeps every task.
        let (status, lowered) = app.post(&path, &app.responder,
            json!({"severity": "medium", "reason": "Calmer"})).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(tasks(&lowered).len(), tasks(&raised).len());

        let kinds: Vec<String> = app.changes(&id).await.iter()
            .map(|e| e["kind"].as_str().unwrap().to_owned()).collect();
        assert_eq!(kinds, ["incident_opened", "severity_changed", "tasks_added", "severity_changed"]);
    }

    async fn the_timeline_records_each_change_in_order(app) {
        let incident = app.trigger("insensitive-campaign", "medium").await;
        let id = incident["id"].as_str().unwrap().to_owned();
        let (status, _) = app.post(&format!("/api/v1/incidents/{id}/notes"), &app.responder,
            json!({"text": "Campaign paused on all networks at 11:02"})).await;
        assert_eq!(status, StatusCode::OK);
        let department = incident["departments"][0]["department"].as_str().unwrap().to_owned();
        let (status, _) = app.post(
            &format!("/api/v1/incidents/{id}/departments/{department}/acknowledge"),
            &app.responder, json!({})).await;
        assert_eq!(status, StatusCode::OK);
        let (status, _) = app.post(
            &format!("/api/v1/incidents/{id}/departments/it/acknowledge"),
            &app.responder, json!({})).await;
        assert_eq!(status, StatusCode::NOT_FOUND);

        app.settle().await;
        let all = app.timeline(&id).await;
        let seqs: Vec<i64> = all.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
        let gapless: Vec<i64> = (1..=all.len() as i64).collect();
        assert_eq!(seqs, gapless, "delivery records share the one gapless sequence");
        let events = app.changes(&id).await;
        assert_eq!(events.len(), 3);
        assert_eq!(events[0]["kind"], "incident_opened");
        assert_eq!(events[0]["actor"], "token:test-responder");
        let opened_tasks = events[0]["data"]["tasks"].as_array().unwrap();
        assert_eq!(opened_tasks.len(), tasks(&incident).len(), "the opening snapshot");
        assert_eq!(events[1]["kind"], "note_added");
        assert_eq!(events[1]["data"]["text"], "Campaign paused on all networks at 11:02");
        assert_eq!(events[2]["kind"], "department_acknowledged");
        for event in &events {
            let at = event["at"].as_str().unwrap();
            assert!(at.ends_with('Z'), "UTC timestamps: {at}");
        }
    }

    async fn listing_filters_by_status_newest_first(app) {
        let first = app.trigger("complaint-surge", "low").await;
        let second = app.trigger("account-hijack", "low").await;
        let third = app.trigger("account-hijack", "critical").await;
        let (status, body) = app.post(
            &format!("/api/v1/incidents/{}/resolve", first["id"].as_str().unwrap()),
            &app.responder, json!({"force": true, "reason": "test"})).await;
        assert_eq!(status, StatusCode::OK, "{body}");

        let ids = |body: &Value| -> Vec<Value> {
            body["incidents"].as_array().unwrap().iter().map(|i| i["id"].clone()).collect()
        };
        let (_, all) = app.get("/api/v1/incidents", &app.legal).await;
        assert_eq!(ids(&all), [third["id"].clone(), second["id"].clone(), first["id"].clone()]);
        assert_eq!(all["next"], Value::Null, "one page");
        let (_, open) = app.get("/api/v1/incidents?status=open", &app.legal).await;
        assert_eq!(ids(&open), [third["id"].clone(), second["id"].clone()]);
        let (_, resolved) = app.get("/api/v1/incidents?status=resolved", &app.legal).await;
        assert_eq!(ids(&resolved), [first["id"].clone()]);
        let (_, critical) = app.get("/api/v1/incidents?severity=critical&status=open", &app.legal).await;
        assert_eq!(ids(&critical), [third["id"].clone()]);
        let (_, low) = app.get("/api/v1/incidents?severity=low", &app.legal).await;
        assert_eq!(ids(&low), [second["id"].clone(), first["id"].clone()]);

        // A page at a time, each saying where the next starts.
        let mut seen = Vec::new();
        let mut path = "/api/v1/incidents?limit=1".to_owned();
        loop {
            let (status, page) = app.get(&path, &app.legal).await;
            assert_eq!(status, StatusCode::OK, "{page}");
            seen.extend(ids(&page));
            match page["next"].as_str() {
                Some(next) => path = format!("/api/v1/incidents?limit=1&cursor={next}"),
                None => break,
            }
        }
        assert_eq!(seen, ids(&all));

        // Summaries: who has answered and how far each department got, no
        // task lists; the same progress the full incident shows.
        let ready = third["departments"].as_array().unwrap().iter()
            .flat_map(|dept| dept["tasks"].as_array().unwrap())
            .find(|task| task["depends_on"] == json!([]) && task["required"] == true)
            .expect("a required item that waits on nothing");
        let (status, third) = app.post(&task_path(&third, ready["key"].as_str().unwrap(), "complete"),
            &app.responder, json!({})).await;
        assert_eq!(status, StatusCode::OK, "{third}");
        let (_, all) = app.get("/api/v1/incidents", &app.legal).await;
        let listed = &all["incidents"][0];
        assert!(listed.get("messages").is_none() && listed["departments"][0].get("tasks_list").is_none());
        let departments = listed["departments"].as_array().unwrap();
        assert_eq!(departments.len(), third["departments"].as_array().unwrap().len());
        let mut closed_in_all = 0;
        for (listed, full) in departments.iter().zip(third["departments"].as_array().unwrap()) {
            let tasks = full["tasks"].as_array().unwrap();
            let closed = tasks.iter().filter(|task| task["status"] == "done").count();
            closed_in_all += closed;
            assert_eq!(listed["department"], full["department"]);
            assert_eq!(listed["status"], full["status"]);
            assert_eq!(listed["tasks"], tasks.len());
            assert_eq!((listed["closed"].as_u64(), listed["late"].as_u64()), (Some(closed as u64), Some(0)));
        }
        assert_eq!(closed_in_all, 1, "the completed item is counted once");
        assert_eq!(listed["open_required"], third["open_required"].as_array().unwrap().len());

        for (query, field) in [("status=closed", "status"), ("limit=0", "limit"),
                               ("severity=urgent", "severity"), ("cursor=not-a-cursor", "cursor")] {
            let (status, body) = app.get(&format!("/api/v1/incidents?{query}"), &app.legal).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
            assert_eq!(body["error"]["field"], field, "{query}: {body}");
        }
    }

    async fn a_named_commander_replaces_the_default(app) {
        let (status, body) = app.post("/api/v1/incidents", &app.responder, json!({
            "title": "Share price falling on a rumour",
            "scenario": "share-price-threat",
            "severity": "critical",
            "summary": "A fake press release is circulating.",
            "commander": {"name": "Dana CEO", "email": "ceo@example.com"},
        })).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(body["commander"], json!({"name": "Dana CEO", "email": "ceo@example.com"}));
    }
}

/// Completes `key` after completing whatever it waits on, updating `incident`.
async fn close_with_dependencies(app: &support::TestApp, incident: &mut Value, key: &str) {
    let current = task(incident, key).clone();
    if current["status"] == "done" || current["status"] == "skipped" {
        return;
    }
    for dep in current["depends_on"].as_array().unwrap() {
        let dep_key = tasks(incident)
            .into_iter()
            .find(|t| &t["id"] == dep)
            .unwrap()["key"]
            .as_str()
            .unwrap()
            .to_owned();
        Box::pin(close_with_dependencies(app, incident, &dep_key)).await;
    }
    let (status, body) = app
        .post(
            &task_path(incident, key, "complete"),
            &app.responder,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "completing {key}: {body}");
    *incident = body;
}
