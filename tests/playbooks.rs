//! Playbooks drive incidents: a new department is one file, and editing the
//! files later never rewrites an incident already opened.

mod support;

use reqwest::StatusCode;
use support::{Backend, TestApp, TestDatabase, playbooks_copy, tasks};

const IT_DEPARTMENT: &str = r#"
name = "Information technology"
crisis_question = "Are our systems and accounts under our control?"

[head]
name = "Ines Moreau"
email = "it-head@example.com"

[[deputies]]
name = "Theo Garnier"
email = "it-deputy@example.com"

[[item]]
id = "audit-access"
title = "Audit who can post from brand accounts"
description = "List every person and tool with publishing rights."
scenarios = ["social-media-storm"]
min_severity = "low"
required = true
ack_within = "15m"
complete_within = "1h"
depends_on = ["pr/assess-brand-impact"]
"#;

with_each_backend!(
    a_sixth_department_is_one_file,
    editing_playbooks_never_rewrites_an_incident
);

async fn a_sixth_department_is_one_file(backend: Backend) {
    let (_dir, playbooks) = playbooks_copy();
    std::fs::write(playbooks.join("departments/it.toml"), IT_DEPARTMENT).unwrap();
    let app = TestApp::spawn_with_playbooks(backend, &playbooks).await;

    let incident = app.trigger("social-media-storm", "low").await;
    let it = incident["departments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|dept| dept["department"] == "it")
        .expect("IT is engaged in a storm");
    assert_eq!(it["head"]["email"], "it-head@example.com");
    let audit = support::task(&incident, "it/audit-access");
    let assess = support::task(&incident, "pr/assess-brand-impact");
    assert_eq!(audit["depends_on"], serde_json::json!([assess["id"]]));

    let (status, playbooks) = app.get("/api/v1/playbooks", &app.legal).await;
    assert_eq!(status, StatusCode::OK);
    let ids: Vec<&str> = playbooks["departments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|dept| dept["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&"it"), "{ids:?}");
    app.stop().await;
}

async fn editing_playbooks_never_rewrites_an_incident(backend: Backend) {
    let (_dir, playbooks) = playbooks_copy();
    let database = TestDatabase::create(&backend).await;
    let app = TestApp::spawn_on(database, &playbooks).await;
    let opened = app.trigger("account-hijack", "high").await;
    let id = opened["id"].as_str().unwrap().to_owned();
    app.settle().await;
    let (_, before) = app
        .get(&format!("/api/v1/incidents/{id}"), &app.legal)
        .await;
    let database = app.stop().await;

    // Rename every item and change every head in the files.
    let pr = playbooks.join("departments/pr.toml");
    let edited = std::fs::read_to_string(&pr)
        .unwrap()
        .replace("title = \"", "title = \"EDITED ")
        .replace("pr-head@example.com", "new-pr-head@example.com");
    std::fs::write(&pr, edited).unwrap();

    let app = TestApp::spawn_on(database, &playbooks).await;
    let (status, after) = app
        .get(&format!("/api/v1/incidents/{id}"), &app.legal)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(after, before, "the stored incident is exactly as opened");
    assert!(
        tasks(&after)
            .iter()
            .all(|t| !t["title"].as_str().unwrap().starts_with("EDITED"))
    );

    // A new incident uses the edited files.
    let fresh = app.trigger("account-hijack", "high").await;
    assert!(
        support::task(&fresh, "pr/holding-statement")["title"]
            .as_str()
            .unwrap()
            .starts_with("EDITED")
    );
    app.stop().await;
}
