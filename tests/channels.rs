//! The channels behind the outbox, end to end: webhooks configured for the
//! deployment, and the mail folder of the embedded default.

mod support;

use support::receiver::Receiver;
use support::{Backend, Options, TestApp, TestDatabase};
use tocsin::config::WebhookSettings;
use tocsin::endpoint::{Endpoint, WebhookKind, WebhookSecret};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

with_each_backend!(
    webhooks_hear_what_their_departments_follow,
    without_smtp_mail_lands_in_the_mail_folder,
);

async fn webhooks_hear_what_their_departments_follow(backend: Backend) {
    let everything = Receiver::start(204, "").await;
    let hr_only = Receiver::start(200, "ok").await;
    let (all_url, hr_url) = (everything.url("/hooks/all"), hr_only.url("/hooks/hr"));
    let options = Options {
        adjust: Box::new(move |settings| {
            settings.webhooks = vec![
                WebhookSettings {
                    name: "ops-room".into(),
                    endpoint: Endpoint {
                        kind: WebhookKind::Standard,
                        url: all_url,
                        secret: Some(WebhookSecret::parse(SECRET).unwrap()),
                    },
                    departments: None,
                },
                WebhookSettings {
                    name: "hr-channel".into(),
                    endpoint: Endpoint {
                        kind: WebhookKind::Slack,
                        url: hr_url,
                        secret: None,
                    },
                    departments: Some(vec!["hr".into()]),
                },
            ];
        }),
        ..Options::default()
    };
    let app = TestApp::spawn_with(TestDatabase::create(&backend).await, options).await;

    // A campaign crisis does not engage HR; a hijack does.
    let campaign = app.trigger("insensitive-campaign", "medium").await;
    let hijack = app.trigger("account-hijack", "medium").await;
    app.settle().await;

    let seen = everything.seen();
    assert_eq!(seen.len(), 2, "{seen:#?}");
    // Both incidents' notices, in whichever order the workers sent them.
    let mut ids: Vec<String> = seen
        .iter()
        .map(|request| request.json()["data"]["incident"]["id"].to_string())
        .collect();
    ids.sort();
    let mut expected = vec![campaign["id"].to_string(), hijack["id"].to_string()];
    expected.sort();
    assert_eq!(ids, expected);
    for request in &seen {
        let body = request.json();
        assert_eq!(body["type"], "incident.opened");
        let id = request.header("webhook-id").unwrap();
        let timestamp: i64 = request
            .header("webhook-timestamp")
            .unwrap()
            .parse()
            .unwrap();
        let expected = WebhookSecret::parse(SECRET)
            .unwrap()
            .sign(id, timestamp, &request.body);
        assert_eq!(request.header("webhook-signature"), Some(expected.as_str()));
    }
    let hr = hr_only.seen();
    assert_eq!(hr.len(), 1, "only the incident engaging HR");
    let text = hr[0].json()["text"].as_str().unwrap().to_owned();
    assert!(
        text.contains(hijack["reference"].as_str().unwrap()),
        "{text}"
    );

    let id = hijack["id"].as_str().unwrap();
    let (_, incident) = app
        .get(&format!("/api/v1/incidents/{id}"), &app.legal)
        .await;
    let hooks: Vec<&serde_json::Value> = incident["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["channel"] == "webhook")
        .collect();
    assert_eq!(hooks.len(), 2);
    assert!(hooks.iter().all(|m| m["status"] == "sent"));
    let receipts: Vec<&str> = hooks
        .iter()
        .map(|m| m["receipt"].as_str().unwrap())
        .collect();
    assert!(
        receipts.contains(&"HTTP 204") && receipts.contains(&"HTTP 200"),
        "{receipts:?}"
    );
    app.stop().await;
}

async fn without_smtp_mail_lands_in_the_mail_folder(backend: Backend) {
    let folder = tempfile::tempdir().unwrap();
    let dir = folder.path().join("mail");
    let mail_dir = dir.clone();
    let options = Options {
        adjust: Box::new(move |settings| {
            settings.smtp_url = None;
            settings.mail_dir = mail_dir;
        }),
        ..Options::default()
    };
    // The mailer is chosen at build time, from the adjusted settings.
    let app = TestApp::spawn_with(TestDatabase::create(&backend).await, options).await;
    let incident = app.trigger("complaint-surge", "medium").await;
    app.settle().await;
    let files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| std::fs::read_to_string(entry.unwrap().path()).unwrap())
        .collect();
    let heads = incident["departments"].as_array().unwrap().len();
    assert_eq!(files.len(), heads);
    assert!(
        files
            .iter()
            .all(|eml| eml.contains(incident["reference"].as_str().unwrap()))
    );
    assert!(app.smtp.received().is_empty());
    let (_, after) = app
        .get(
            &format!("/api/v1/incidents/{}", incident["id"].as_str().unwrap()),
            &app.legal,
        )
        .await;
    for message in after["messages"].as_array().unwrap() {
        assert!(
            message["receipt"]
                .as_str()
                .unwrap()
                .starts_with("written to "),
            "{message}"
        );
    }
    app.stop().await;
}
