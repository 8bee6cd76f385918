//! The timeline legal relies on: hash-chained, signed, exported, verified
//! offline and in place, tamper caught at the right event, held or purged.

mod support;

use std::process::Command;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use support::database::raw;
use support::process::BIN;
use support::{Backend, Options, TestApp, TestDatabase};

async fn export(app: &TestApp, id: &str, query: &str) -> (StatusCode, String, String) {
    let response = app
        .client
        .get(app.url(&format!("/api/v1/incidents/{id}/timeline{query}")))
        .bearer_auth(&app.legal)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    (status, content_type, response.text().await.unwrap())
}

fn verify_file(path: &std::path::Path, key: Option<&str>) -> (bool, String) {
    let mut command = Command::new(BIN);
    command.args(["timeline", "verify"]).arg(path);
    if let Some(key) = key {
        command.args(["--public-key", key]);
    }
    let out = command.output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

async fn busy_incident(app: &TestApp) -> String {
    let incident = app.trigger("complaint-surge", "medium").await;
    let id = incident["id"].as_str().unwrap().to_owned();
    for text in [
        "Volumes doubled on every channel",
        "=HYPERLINK(\"http://evil.example\",\"click\")",
        "<script>alert(1)</script> seen in a reply",
    ] {
        let (status, _) = app
            .post(
                &format!("/api/v1/incidents/{id}/notes"),
                &app.responder,
                json!({"text": text}),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
    }
    app.settle().await;
    id
}

on_each_backend! {
    async fn an_export_verifies_offline_and_an_edit_is_caught_at_its_event(app) {
        let id = busy_incident(&app).await;
        let (status, content_type, body) = export(&app, &id, "").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(content_type, "application/json");
        let doc: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(doc["format"], "tocsin-timeline/1");
        let events = doc["events"].as_array().unwrap();
        assert_eq!(doc["head"]["seq"], events.len());
        assert_eq!(doc["head"]["hash"], events.last().unwrap()["hash"]);
        for pair in events.windows(2) {
            assert_eq!(pair[1]["prev_hash"], pair[0]["hash"], "each event links to the one before");
        }
        let (_, key) = app.get("/api/v1/timeline/public-key", &app.legal).await;
        let key = key["public_key"].as_str().unwrap().to_owned();
        assert_eq!(doc["public_key"], key.as_str());

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("timeline.json");
        std::fs::write(&file, &body).unwrap();
        let (ok, report) = verify_file(&file, Some(&key));
        assert!(ok, "{report}");
        assert!(report.contains("OK"), "{report}");

        // Someone rewrites the second note in the file.
        let mut tampered: Value = doc.clone();
        let target = tampered["events"].as_array().unwrap().iter()
            .position(|e| e["kind"] == "note_added").unwrap() + 1;
        tampered["events"][target]["data"]["text"] = json!("Volumes normal");
        std::fs::write(&file, serde_json::to_vec(&tampered).unwrap()).unwrap();
        let (ok, report) = verify_file(&file, Some(&key));
        assert!(!ok);
        let seq = tampered["events"][target]["seq"].as_i64().unwrap();
        assert!(report.contains(&format!("BROKEN at seq {seq}")), "{report}");

        // Or drops the last events: the signed head no longer matches.
        let mut truncated = doc.clone();
        truncated["events"].as_array_mut().unwrap().truncate(events.len() - 2);
        std::fs::write(&file, serde_json::to_vec(&truncated).unwrap()).unwrap();
        let (ok, report) = verify_file(&file, Some(&key));
        assert!(!ok, "{report}");
        assert!(report.contains(&format!("BROKEN at seq {}", events.len() - 1)), "{report}");
    }

    async fn csv_and_html_exports_open_cleanly_and_safely(app) {
        let id = busy_incident(&app).await;
        let (status, content_type, csv) = export(&app, &id, "?format=csv&tz=Europe/Paris").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(content_type, "text/csv; charset=utf-8");
        assert!(csv.starts_with('\u{feff}'), "a BOM so spreadsheets read UTF-8");
        let header = csv.trim_start_matches('\u{feff}').lines().next().unwrap().to_owned();
        assert_eq!(header, "seq,at_utc,at_local,actor,kind,summary,data,prev_hash,hash");
        // A spreadsheet runs a cell that starts with = + - @ as a formula: none does.
        let mut reader = csv::Reader::from_reader(csv.trim_start_matches('\u{feff}').as_bytes());
        let mut rows = 0;
        for record in reader.records() {
            for field in record.unwrap().iter() {
                assert!(!field.starts_with(['=', '+', '-', '@', '\t', '\r']), "{field}");
            }
            rows += 1;
        }
        assert_eq!(rows, app.timeline(&id).await.len(), "one row per event");
        assert!(csv.contains("=HYPERLINK"), "the note is there, as text");
        // Accept negotiation gives the same.
        let response = app.client.get(app.url(&format!("/api/v1/incidents/{id}/timeline")))
            .bearer_auth(&app.legal).header("accept", "text/csv").send().await.unwrap();
        assert_eq!(response.headers()["content-type"], "text/csv; charset=utf-8");
        assert!(response.headers()["content-disposition"].to_str().unwrap().contains("-timeline.csv"));

        let (status, content_type, html) = export(&app, &id, "?format=html").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(content_type, "text/html; charset=utf-8");
        assert!(!html.contains("<script>alert"), "escaped, never run");
        assert!(html.contains("&lt;script&gt;"));
        assert!(html.contains("Test complaint-surge"));
        let (_, _, json) = export(&app, &id, "").await;
        let head: Value = serde_json::from_str::<Value>(&json).unwrap()["head"].clone();
        assert!(html.contains(head["hash"].as_str().unwrap()), "the head hash is printed");

        let (status, _, _) = export(&app, &id, "?tz=Mars/Olympus").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }

    async fn concurrent_writers_still_make_one_gapless_chain(app) {
        let incident = app.trigger("account-hijack", "low").await;
        let id = incident["id"].as_str().unwrap().to_owned();
        let path = format!("/api/v1/incidents/{id}/notes");
        let notes: Vec<_> = (0..20).map(|i| app.post(&path, &app.responder,
            json!({"text": format!("note {i}")}))).collect();
        for (status, _) in futures_util::future::join_all(notes).await {
            assert_eq!(status, StatusCode::OK);
        }
        app.settle().await;
        let (_, verification) = app.get(&format!("/api/v1/incidents/{id}/timeline/verify"), &app.legal).await;
        assert_eq!(verification["ok"], true, "{verification}");
        let events = app.timeline(&id).await;
        let seqs: Vec<i64> = events.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
        assert_eq!(seqs, (1..=events.len() as i64).collect::<Vec<_>>());
    }

    /// Concurrent changes are written in groups: each still answers for
    /// itself. Every item ready to be done is completed twice at once,
    /// across three incidents: one of each pair is accepted, the other
    /// refused, and no refusal costs another change or a chain its order.
    async fn a_refused_change_in_a_burst_refuses_only_itself(app) {
        let mut requests = Vec::new();
        let mut ids = Vec::new();
        for _ in 0..3 {
            let incident = app.trigger("social-media-storm", "critical").await;
            let id = incident["id"].as_str().unwrap().to_owned();
            for task in support::tasks(&incident) {
                if task["depends_on"].as_array().unwrap().is_empty() {
                    let path = format!("/api/v1/incidents/{id}/tasks/{}/complete", task["id"].as_str().unwrap());
                    requests.push(path.clone());
                    requests.push(path);
                }
            }
            ids.push(id);
        }
        let answers = futures_util::future::join_all(
            requests.iter().map(|path| app.post(path, &app.responder, json!({})))).await;
        let accepted = answers.iter().filter(|(status, _)| *status == StatusCode::OK).count();
        let refused: Vec<&Value> = answers.iter()
            .filter(|(status, _)| *status == StatusCode::CONFLICT).map(|(_, body)| body).collect();
        assert_eq!(accepted, requests.len() / 2, "{answers:?}");
        assert_eq!(refused.len(), requests.len() / 2, "{answers:?}");
        app.settle().await;
        let mut completed = 0;
        for id in &ids {
            let (_, verification) = app.get(&format!("/api/v1/incidents/{id}/timeline/verify"), &app.legal).await;
            assert_eq!(verification["ok"], true, "{verification}");
            let events = app.timeline(id).await;
            let seqs: Vec<i64> = events.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
            assert_eq!(seqs, (1..=events.len() as i64).collect::<Vec<_>>(), "gapless");
            completed += events.iter().filter(|e| e["kind"] == "task_completed").count();
        }
        assert_eq!(completed, requests.len() / 2, "one completion per item");
    }

    async fn every_email_carries_the_chain_head_it_was_sent_with(app) {
        let incident = app.trigger("share-price-threat", "low").await;
        let id = incident["id"].as_str().unwrap().to_owned();
        let mails = app.smtp.wait_for(incident["departments"].as_array().unwrap().len(), Duration::from_secs(20)).await;
        app.settle().await;
        let events = app.timeline(&id).await;
        for mail in mails {
            let header = mail.header("Tocsin-Chain-Head").expect("the header");
            let (seq, hash) = header.split_once("; sha256=").unwrap();
            let seq: usize = seq.trim_start_matches("seq=").parse().unwrap();
            assert_eq!(events[seq - 1]["hash"], hash, "the mailbox copy witnesses event {seq}");
        }
    }

    async fn corrections_and_statements_append_and_never_edit(app) {
        let id = busy_incident(&app).await;
        let before = app.timeline(&id).await;
        let (status, _) = app.post(&format!("/api/v1/incidents/{id}/corrections"), &app.responder,
            json!({"corrects_seq": 2, "text": "It was triple, not double"})).await;
        assert_eq!(status, StatusCode::OK);
        let (status, body) = app.post(&format!("/api/v1/incidents/{id}/corrections"), &app.responder,
            json!({"corrects_seq": 0, "text": "x"})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(body["error"]["field"], "corrects_seq");
        // Well-formed, but past the end of the timeline as it stands.
        let (status, body) = app.post(&format!("/api/v1/incidents/{id}/corrections"), &app.responder,
            json!({"corrects_seq": 9999, "text": "x"})).await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        assert_eq!(body["error"]["field"], "corrects_seq");
        let (status, _) = app.post(&format!("/api/v1/incidents/{id}/statements"), &app.responder,
            json!({"text": "We are aware and on it.", "language": "en", "channels": ["twitter"]})).await;
        assert_eq!(status, StatusCode::OK);
        let after = app.timeline(&id).await;
        assert_eq!(&after[..before.len()], &before[..], "nothing before changed");
        let added: Vec<&str> = after[before.len()..].iter().map(|e| e["kind"].as_str().unwrap()).collect();
        assert_eq!(added, ["correction", "statement_drafted"]);
        assert_eq!(after[before.len()]["data"]["corrects_seq"], 2);
        assert_eq!(after[before.len() + 1]["data"]["text"], "We are aware and on it.");
    }
}

on_each_backend! {
    async fn a_long_timeline_streams_out_whole_and_verifies(app) {
        let incident = app.trigger("complaint-surge", "low").await;
        let id: uuid::Uuid = incident["id"].as_str().unwrap().parse().unwrap();
        let actor = tocsin::domain::Actor::token("bulk");
        // More events than one page of the export.
        for i in 0..1100 {
            app.engine.add_note(id, support::text(&format!("note {i}")), &actor).await.unwrap();
        }
        app.settle().await;
        let (status, _, body) = export(&app, &id.to_string(), "").await;
        assert_eq!(status, StatusCode::OK);
        let doc: Value = serde_json::from_str(&body).unwrap();
        let events = doc["events"].as_array().unwrap();
        assert!(events.len() > 1100);
        assert_eq!(events.len() as i64, doc["head"]["seq"].as_i64().unwrap());
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("long.json");
        std::fs::write(&file, &body).unwrap();
        let (ok, report) = verify_file(&file, None);
        assert!(ok, "{report}");
        let (_, _, csv) = export(&app, &id.to_string(), "?format=csv").await;
        assert_eq!(csv.lines().count(), events.len() + 1, "a header and a row per event");
    }
}

with_each_backend!(
    tampering_in_the_database_is_caught_at_its_event,
    retention_purges_only_what_it_may
);

async fn tampering_in_the_database_is_caught_at_its_event(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = busy_incident(&app).await;
    let (_, verification) = app
        .get(
            &format!("/api/v1/incidents/{id}/timeline/verify"),
            &app.legal,
        )
        .await;
    assert_eq!(verification["ok"], true);
    let url = app.database.url.clone();
    // The triggers refuse; a superuser goes past them.
    let (disable, enable) = if url.starts_with("sqlite:") {
        ("DROP TRIGGER events_are_append_only_update", "SELECT 1")
    } else {
        (
            "ALTER TABLE events DISABLE TRIGGER events_are_append_only",
            "ALTER TABLE events ENABLE TRIGGER events_are_append_only",
        )
    };
    // Delivery records interleave with the notes: find the first note's place.
    let target = app
        .timeline(&id)
        .await
        .into_iter()
        .find(|e| e["kind"] == "note_added")
        .and_then(|e| e["seq"].as_i64())
        .unwrap();
    let edit = format!("UPDATE events SET actor = 'token:someone-else' WHERE seq = {target}");
    let edit = edit.as_str();
    let refused = raw(&url, &[edit])
        .await
        .expect_err("the triggers refuse a plain UPDATE");
    assert!(
        refused
            .to_string()
            .contains("timeline events are append-only"),
        "{refused}"
    );
    raw(&url, &[disable, edit, enable]).await.unwrap();
    let (_, verification) = app
        .get(
            &format!("/api/v1/incidents/{id}/timeline/verify"),
            &app.legal,
        )
        .await;
    assert_eq!(verification["ok"], false, "{verification}");
    assert_eq!(verification["broken_at"], target, "{verification}");
    assert!(
        verification["reason"].as_str().unwrap().contains("hash"),
        "{verification}"
    );
    app.stop().await;
}

async fn retention_purges_only_what_it_may(backend: Backend) {
    let options = Options {
        adjust: Box::new(|settings| settings.retention = Some(Duration::from_secs(3600))),
        ..Options::default()
    };
    let app = TestApp::spawn_with(TestDatabase::create(&backend).await, options).await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        let incident = app.trigger("complaint-surge", "low").await;
        ids.push(incident["id"].as_str().unwrap().to_owned());
    }
    for id in &ids[..2] {
        let (status, _) = app
            .post(
                &format!("/api/v1/incidents/{id}/resolve"),
                &app.responder,
                json!({"force": true, "reason": "drill"}),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
    }
    let (status, _) = app
        .post(
            &format!("/api/v1/incidents/{}/legal-hold", ids[1]),
            &app.legal,
            json!({"hold": true, "reason": "Regulator inquiry"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    app.settle().await;

    // Nothing is old enough yet.
    assert!(
        app.engine
            .purge(Duration::from_secs(3600))
            .await
            .unwrap()
            .is_empty()
    );
    // With no retention left, only the resolved incident without a hold goes.
    let purged = app.engine.purge(Duration::ZERO).await.unwrap();
    assert_eq!(purged.len(), 1);
    assert_eq!(purged[0].incident_id.to_string(), ids[0]);
    let (status, _) = app
        .get(&format!("/api/v1/incidents/{}", ids[0]), &app.legal)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    for id in &ids[1..] {
        let (status, _) = app
            .get(&format!("/api/v1/incidents/{id}"), &app.legal)
            .await;
        assert_eq!(status, StatusCode::OK, "held or still open: kept");
    }
    let (_, log) = app.get("/api/v1/purge-log", &app.legal).await;
    assert_eq!(log["purged"].as_array().unwrap().len(), 1);
    assert_eq!(log["purged"][0]["incident_id"], ids[0]);
    assert!(log["purged"][0]["head_hash"].as_str().unwrap().len() == 64);
    // The purge log and the other timelines stay beyond reach.
    let url = app.database.url.clone();
    for (statement, refusal) in [
        ("DELETE FROM purge_log", "the purge log is append-only"),
        (
            "UPDATE purge_log SET title = 'x'",
            "the purge log is append-only",
        ),
        // The purge's grant ended with its transaction.
        ("DELETE FROM events", "timeline events are append-only"),
    ] {
        let refused = raw(&url, &[statement]).await.expect_err(statement);
        assert!(
            refused.to_string().contains(refusal),
            "{statement}: {refused}"
        );
    }
    app.stop().await;
}

with_each_backend!(a_kept_alive_connection_reads_an_export_as_fast_as_a_fresh_one);

/// A streamed export used to cost a constant ~40 ms more on a kept-alive
/// connection than on a fresh one: Nagle's algorithm held the last chunk
/// back until the client's delayed ACK. The medians of a few reads each way
/// must stay within 20 ms of each other.
async fn a_kept_alive_connection_reads_an_export_as_fast_as_a_fresh_one(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = busy_incident(&app).await;
    let url = app.url(&format!("/api/v1/incidents/{id}/timeline"));
    let read = |client: reqwest::Client| {
        let (url, token) = (url.clone(), app.legal.clone());
        async move {
            let started = std::time::Instant::now();
            let response = client.get(&url).bearer_auth(token).send().await.unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            response.bytes().await.unwrap();
            started.elapsed()
        }
    };
    let median = |mut times: Vec<Duration>| {
        times.sort();
        times[times.len() / 2]
    };
    let kept_alive = reqwest::Client::new();
    read(kept_alive.clone()).await;
    let mut fresh = Vec::new();
    let mut again = Vec::new();
    for _ in 0..7 {
        fresh.push(read(reqwest::Client::new()).await);
        again.push(read(kept_alive.clone()).await);
    }
    let (fresh, again) = (median(fresh), median(again));
    assert!(
        again < fresh + Duration::from_millis(20),
        "kept alive {again:?}, fresh {fresh:?}"
    );
    app.stop().await;
}
