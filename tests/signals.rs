//! Signals as monitoring and social-listening tools send them: one opens an
//! incident by the playbook's rules, repeats with its key join it, a burst
//! of one key opens one incident, and a noisy source asks the commander
//! first by mail, whose link page changes nothing until its button is pressed.
//! The playbooks are the repository's own (`playbooks/signals/`).

mod support;

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use support::{TestApp, browser, page, submit};

const WAIT: Duration = Duration::from_secs(20);
const COMMANDER: &str = "social-lead@example.com";

async fn signal(app: &TestApp, body: Value) -> (StatusCode, Value) {
    app.post("/api/v1/signals", &app.responder, body).await
}

fn signals_on(timeline: &[Value]) -> Vec<&Value> {
    timeline
        .iter()
        .filter(|event| event["kind"] == "signal_received")
        .collect()
}

async fn incident(app: &TestApp, id: &str) -> Value {
    let (status, incident) = app
        .get(&format!("/api/v1/incidents/{id}"), &app.legal)
        .await;
    assert_eq!(status, StatusCode::OK, "{incident}");
    incident
}

/// Incidents of a scenario, as the list shows them.
async fn incidents_titled(app: &TestApp, title: &str) -> Vec<Value> {
    let (status, list) = app.get("/api/v1/incidents?limit=200", &app.legal).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    list["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|incident| incident["title"] == title)
        .cloned()
        .collect()
}

on_each_backend! {
    async fn a_signal_opens_the_incident_its_rule_names_and_is_on_its_timeline(app) {
        let (status, receipt) = signal(&app, json!({
            "source": "brandwatch",
            "dedup_key": "bw-alert-1",
            "title": "Our Twitter account was PIRATE",
            "body": "Posts from the corporate account since 09:12.",
            "link": "https://app.brandwatch.example/alerts/1",
        })).await;
        assert_eq!(status, StatusCode::CREATED, "{receipt}");
        assert_eq!(receipt["outcome"], "opened");
        let id = receipt["incident"]["id"].as_str().unwrap();
        let opened = incident(&app, id).await;
        // brandwatch.toml's first rule: "piraté", accents and case aside.
        assert_eq!(opened["scenario"], "account-hijack");
        assert_eq!(opened["severity"], "high");
        assert_eq!(opened["title"], "Our Twitter account was PIRATE");
        assert_eq!(opened["summary"], "Posts from the corporate account since 09:12.");
        assert!(!opened["departments"].as_array().unwrap().is_empty());
        let timeline = app.timeline(id).await;
        assert_eq!(timeline[0]["kind"], "incident_opened");
        let signals = signals_on(&timeline);
        assert_eq!(signals.len(), 1);
        let data = &signals[0]["data"];
        assert_eq!(data["source"], "brandwatch");
        assert_eq!(data["dedup_key"], "bw-alert-1");
        assert_eq!(data["outcome"], "opened");
        assert_eq!(data["rule"], 1);
        assert_eq!(data["link"], "https://app.brandwatch.example/alerts/1");
        assert_eq!(signals[0]["actor"], "token:test-responder");
        // The departments hear of it as of any incident.
        let heads = opened["departments"].as_array().unwrap().len();
        app.smtp.wait_for(heads, WAIT).await;
    }

    async fn the_same_key_while_open_joins_the_incident_and_after_resolution_opens_another(app) {
        let first = json!({
            "source": "monitoring",
            "dedup_key": "tickets-eu",
            "title": "Ticket volume 4x normal",
        });
        let (status, opened) = signal(&app, first.clone()).await;
        assert_eq!(status, StatusCode::CREATED, "{opened}");
        let id = opened["incident"]["id"].as_str().unwrap().to_owned();
        assert_eq!(opened["incident"]["scenario"], "complaint-surge");

        let (status, joined) = signal(&app, json!({
            "source": "monitoring",
            "dedup_key": "tickets-eu",
            "title": "Ticket volume 6x normal",
        })).await;
        assert_eq!(status, StatusCode::OK, "{joined}");
        assert_eq!(joined["outcome"], "attached");
        assert_eq!(joined["incident"]["id"], id.as_str());
        let timeline = app.timeline(&id).await;
        let signals = signals_on(&timeline);
        assert_eq!(signals.len(), 2);
        assert_eq!(signals[1]["data"]["outcome"], "attached");
        assert_eq!(signals[1]["data"]["title"], "Ticket volume 6x normal");
        assert_eq!(incidents_titled(&app, "Ticket volume 4x normal").await.len(), 1);

        // Another source's key of the same name is its own.
        let (status, other) = signal(&app, json!({
            "source": "brandwatch",
            "dedup_key": "tickets-eu",
            "title": "Account hacked",
        })).await;
        assert_eq!(status, StatusCode::CREATED, "{other}");
        assert_ne!(other["incident"]["id"], id.as_str());

        let (status, body) = app.post(
            &format!("/api/v1/incidents/{id}/resolve"),
            &app.responder,
            json!({"force": true, "reason": "Volumes back to normal."}),
        ).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let (status, reopened) = signal(&app, first).await;
        assert_eq!(status, StatusCode::CREATED, "{reopened}");
        assert_ne!(reopened["incident"]["id"], id.as_str());
        assert_eq!(incidents_titled(&app, "Ticket volume 4x normal").await.len(), 2);
        // The resolved incident kept its two signals.
        assert_eq!(signals_on(&app.timeline(&id).await).len(), 2);
    }

    async fn concurrent_posts_with_one_key_open_one_incident(app) {
        const POSTS: usize = 8;
        let posts = (0..POSTS).map(|n| {
            let app = &app;
            async move {
                signal(app, json!({
                    "source": "monitoring",
                    "dedup_key": "burst",
                    "title": "Complaints spiking",
                    "body": format!("alert {n}"),
                })).await
            }
        });
        let answers = futures_util::future::join_all(posts).await;
        let mut opened = 0;
        let mut ids = std::collections::BTreeSet::new();
        for (status, receipt) in &answers {
            match *status {
                StatusCode::CREATED => opened += 1,
                StatusCode::OK => assert_eq!(receipt["outcome"], "attached"),
                other => panic!("{other}: {receipt}"),
            }
            ids.insert(receipt["incident"]["id"].as_str().unwrap().to_owned());
        }
        assert_eq!(opened, 1, "{answers:?}");
        assert_eq!(ids.len(), 1, "every post names the one incident");
        assert_eq!(incidents_titled(&app, "Complaints spiking").await.len(), 1);
        let id = ids.into_iter().next().unwrap();
        let signals = app.timeline(&id).await.into_iter()
            .filter(|event| event["kind"] == "signal_received").count();
        assert_eq!(signals, POSTS, "every signal is on the timeline");
    }

    async fn a_confirm_first_signal_waits_for_the_commanders_click(app) {
        let body = json!({
            "source": "brandwatch",
            "dedup_key": "bw-boycott",
            "title": "Calls to BOYCOTT the spring campaign",
            "body": "Trending in FR since 08:00.",
        });
        let (status, receipt) = signal(&app, body.clone()).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{receipt}");
        assert_eq!(receipt["outcome"], "awaiting_confirmation");
        assert!(receipt["incident"].is_null());
        assert_eq!(receipt["confirmation"]["repeat"], false);
        // A repeat while it waits mails nobody again.
        let (status, repeat) = signal(&app, body).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{repeat}");
        assert_eq!(repeat["confirmation"]["id"], receipt["confirmation"]["id"]);
        assert_eq!(repeat["confirmation"]["repeat"], true);

        let mails = app.smtp.wait_for(1, WAIT).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mails = if app.smtp.received().len() > mails.len() { app.smtp.received() } else { mails };
        assert_eq!(mails.len(), 1, "the commander alone, once");
        let mail = &mails[0];
        assert_eq!(mail.rcpt_to, [COMMANDER]);
        assert!(mail.subject().unwrap().contains("Calls to BOYCOTT the spring campaign"));
        let text = mail.text().unwrap();
        assert!(text.contains("Trending in FR since 08:00."), "{text}");
        let link = mail.links().into_iter()
            .find(|link| link.contains("/signals/confirm/"))
            .expect("a confirmation link");
        assert!(incidents_titled(&app, "Calls to BOYCOTT the spring campaign").await.is_empty());

        // A mail scanner opens the link: the page shows, nothing opens.
        let client = browser();
        for _ in 0..2 {
            let (status, _, html) = page(&client, &link).await;
            assert_eq!(status, StatusCode::OK);
            assert!(html.contains("Calls to BOYCOTT the spring campaign"));
            assert!(html.contains("Confirm and open the incident"));
        }
        assert!(incidents_titled(&app, "Calls to BOYCOTT the spring campaign").await.is_empty());

        let (status, html) = submit(&client, &link, &[("action", "confirm")]).await;
        assert_eq!(status, StatusCode::OK, "{html}");
        assert!(html.contains("Confirmed: incident INC-"), "{html}");
        let opened = incidents_titled(&app, "Calls to BOYCOTT the spring campaign").await;
        assert_eq!(opened.len(), 1);
        let id = opened[0]["id"].as_str().unwrap();
        let incident = incident(&app, id).await;
        assert_eq!(incident["scenario"], "social-media-storm");
        assert_eq!(incident["severity"], "medium");
        let timeline = app.timeline(id).await;
        let signals = signals_on(&timeline);
        assert_eq!(signals.len(), 1);
        assert_eq!(signals[0]["data"]["outcome"], "confirmed");
        assert_eq!(signals[0]["data"]["repeats"], 1, "the repeat that waited with it");
        assert_eq!(signals[0]["data"]["received_by"], "token:test-responder");
        assert_eq!(signals[0]["actor"], format!("link:{COMMANDER}"));
        assert_eq!(signals[0]["data"]["via"]["user_agent"], "Mail-Test/1.0");

        // A second click changes nothing and says who confirmed.
        let (status, html) = submit(&client, &link, &[("action", "confirm")]).await;
        assert_eq!(status, StatusCode::OK);
        assert!(html.contains("Confirmed by"), "{html}");
        assert_eq!(incidents_titled(&app, "Calls to BOYCOTT the spring campaign").await.len(), 1);

        // Now open, the key's incident takes repeats without asking.
        let (status, joined) = signal(&app, json!({
            "source": "brandwatch",
            "dedup_key": "bw-boycott",
            "title": "Boycott still trending",
        })).await;
        assert_eq!(status, StatusCode::OK, "{joined}");
        assert_eq!(joined["incident"]["id"], id);
    }

    /// A tool that can only mail sends its alert to `signals+SOURCE@` the
    /// reply domain: the subject is the title, a repeat of it joins, and an
    /// unknown source is refused before the data.
    async fn an_alert_mailed_to_a_signal_address_opens_then_repeats_join(app) {
        let to = "signals+monitoring@reply.example.com";
        let alert = |subject: &str, id: &str| format!(
            "From: alerts@monitoring.example\r\nTo: {to}\r\nSubject: {subject}\r\n\
             Message-ID: <{id}@monitoring.example>\r\nAuto-Submitted: auto-generated\r\n\
             Precedence: bulk\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
             Ticket volume 5x normal.\r\n\r\n-- \r\nMonitoring\r\n"
        );
        let answer = app.mail_in(Some("alerts@monitoring.example"), to,
            alert("Complaints up", "a1").as_bytes()).await.expect("taken");
        assert!(answer.contains("signal recorded"), "{answer}");
        let opened = incidents_titled(&app, "Complaints up").await;
        assert_eq!(opened.len(), 1);
        assert_eq!(opened[0]["scenario"], "complaint-surge");
        app.mail_in(Some("alerts@monitoring.example"), to,
            alert("RE: Complaints up", "a2").as_bytes()).await.expect("taken");
        assert_eq!(incidents_titled(&app, "Complaints up").await.len(), 1, "the repeat joined");
        let timeline = app.timeline(opened[0]["id"].as_str().unwrap()).await;
        let signals = signals_on(&timeline);
        assert_eq!(signals.len(), 2);
        assert_eq!(signals[0]["actor"], "mail:alerts@monitoring.example");
        assert!(signals[0]["data"]["body"].as_str().unwrap().contains("Ticket volume"));

        let refused = app.mail_in(Some("alerts@monitoring.example"),
            "signals+tiktok@reply.example.com", alert("Hacked", "a3").as_bytes()).await
            .expect_err("an unknown source");
        assert!(refused.is_permanent(), "{refused}");
    }

    async fn bad_signals_are_refused_naming_the_field(app) {
        let (status, body) = signal(&app, json!({
            "source": "tiktok-scraper",
            "dedup_key": "k",
            "title": "Anything",
        })).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["error"]["field"], "source");
        assert!(body["error"]["message"].as_str().unwrap().contains("brandwatch"));
        for (field, body) in [
            ("dedup_key", json!({"source": "monitoring", "dedup_key": " ", "title": "x"})),
            ("title", json!({"source": "monitoring", "dedup_key": "k", "title": "x".repeat(201)})),
            ("link", json!({"source": "monitoring", "dedup_key": "k", "title": "x", "link": "javascript:alert(1)"})),
        ] {
            let (status, answer) = signal(&app, body).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
            assert_eq!(answer["error"]["field"], field, "{answer}");
        }
        // Legal reads, and may not trigger.
        let (status, _) = app.post("/api/v1/signals", &app.legal, json!({
            "source": "monitoring", "dedup_key": "k", "title": "x",
        })).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, list) = app.get("/api/v1/incidents", &app.legal).await;
        assert_eq!(status, StatusCode::OK);
        assert!(list["incidents"].as_array().unwrap().is_empty(), "{list}");
    }
}
