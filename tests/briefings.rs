//! Briefings as their audiences live them: real mail to each member, a
//! link whose GET shows and whose POST confirms, the confirmed share per
//! department, one reminder to those who did not confirm, and nothing but
//! approved words for people outside the company.

mod support;

use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use support::smtp::Received;
use support::{Backend, ManualClock, Options, TestApp, TestDatabase, browser, page, submit};

const WAIT: Duration = Duration::from_secs(20);
const STAFF: [&str; 4] = [
    "alex.moreau@example.com",
    "bea.laurent@example.com",
    "chris.dubois@example.com",
    "dana.roux@example.com",
];
const UPDATE: &str = "Do not comment on the hijacked account online. Refer every question to PR.";

/// The mails each address received whose subject contains `subject`.
fn received(app: &TestApp, subject: &str) -> Vec<Received> {
    app.smtp
        .received()
        .into_iter()
        .filter(|mail| mail.subject().is_some_and(|s| s.contains(subject)))
        .collect()
}

async fn wait_for(app: &TestApp, subject: &str, count: usize) -> Vec<Received> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let mails = received(app, subject);
        if mails.len() >= count {
            return mails;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} of {count} mails about {subject:?}",
            mails.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn to<'a>(mails: &'a [Received], address: &str) -> &'a Received {
    mails
        .iter()
        .find(|mail| mail.rcpt_to == [address])
        .unwrap_or_else(|| panic!("no mail to {address}"))
}

async fn brief_staff(app: &TestApp, id: &str) -> Value {
    let (status, after) = app
        .post(
            &format!("/api/v1/incidents/{id}/briefings"),
            &app.responder,
            json!({"audience": "all-staff", "text": UPDATE}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{after}");
    after["briefings"][0].clone()
}

async fn progress(app: &TestApp, id: &str, briefing: &str) -> Value {
    let (status, progress) = app
        .get(
            &format!("/api/v1/incidents/{id}/briefings/{briefing}"),
            &app.legal,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{progress}");
    progress
}

on_each_backend! {
    async fn staff_are_briefed_and_each_confirmation_is_evidence(app) {
        let incident = app.trigger("account-hijack", "high").await;
        let id = incident["id"].as_str().unwrap();
        let briefing = brief_staff(&app, id).await;
        assert_eq!(briefing["approved"], false);
        assert_eq!(briefing["recipients"], 4);
        let briefing_id = briefing["id"].as_str().unwrap();
        let sent: Vec<Value> = app.timeline(id).await.into_iter()
            .filter(|e| e["kind"] == "briefing_sent").collect();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0]["data"]["approved"], false, "the chain marks it unapproved");
        assert_eq!(sent[0]["data"]["text"], UPDATE);

        let mails = wait_for(&app, "not for publication", 4).await;
        let mut addressed: Vec<&str> = mails.iter().map(|m| m.rcpt_to[0].as_str()).collect();
        addressed.sort_unstable();
        assert_eq!(addressed, STAFF);
        let mail = to(&mails, "bea.laurent@example.com");
        let text = mail.text().unwrap();
        assert!(text.contains(UPDATE), "{text}");
        assert!(text.contains("NOT APPROVED FOR PUBLICATION"), "{text}");
        assert!(!text.contains(incident["title"].as_str().unwrap()), "no internal record in a briefing");
        // The incident's own message list is not flooded by a briefing.
        let (_, view) = app.get(&format!("/api/v1/incidents/{id}"), &app.legal).await;
        assert!(view["messages"].as_array().unwrap().iter().all(|m| !STAFF.contains(&m["recipient"].as_str().unwrap())));

        let link = mail.links()[0].clone();
        let browser = browser();
        for _ in 0..2 {
            let (status, _, html) = page(&browser, &link).await;
            assert_eq!(status, StatusCode::OK);
            assert!(html.contains("Do not comment on the hijacked account online."), "{html}");
            assert!(html.contains("value=\"confirm\""));
        }
        assert_eq!(progress(&app, id, briefing_id).await["confirmed"], 0, "GET confirms nothing");

        let (status, html) = submit(&browser, &link, &[("action", "confirm")]).await;
        assert_eq!(status, StatusCode::OK, "{html}");
        assert!(html.contains("your confirmation is recorded"), "{html}");
        let (status, html) = submit(&browser, &link, &[("action", "confirm")]).await;
        assert_eq!(status, StatusCode::OK);
        assert!(html.contains("You confirmed reading it at"), "{html}");
        let (status, _) = submit(&browser, &link, &[("action", "acknowledge")]).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "a briefing's link only confirms");

        // A double click: two presses at once record one confirmation.
        let dana = to(&mails, "dana.roux@example.com").links()[0].clone();
        let (first, second) = tokio::join!(
            submit(&browser, &dana, &[("action", "confirm")]),
            submit(&browser, &dana, &[("action", "confirm")]),
        );
        assert_eq!((first.0, second.0), (StatusCode::OK, StatusCode::OK));

        let shown = progress(&app, id, briefing_id).await;
        assert_eq!(shown["recipients"], 4);
        assert_eq!(shown["confirmed"], 2);
        let sales = shown["departments"].as_array().unwrap().iter()
            .find(|share| share["department"] == "Sales").unwrap();
        assert_eq!((sales["recipients"].as_i64(), sales["confirmed"].as_i64()), (Some(2), Some(1)));
        let confirmations: Vec<Value> = app.timeline(id).await.into_iter()
            .filter(|e| e["kind"] == "briefing_confirmed").collect();
        assert_eq!(confirmations.len(), 2, "one event per person, however often they press");
        assert_eq!(confirmations[0]["data"]["recipient"], "bea.laurent@example.com");
        assert_eq!(confirmations[0]["data"]["via"]["user_agent"], "Mail-Test/1.0");
        let (_, verified) = app.get(&format!("/api/v1/incidents/{id}/timeline/verify"), &app.legal).await;
        assert_eq!(verified["ok"], true);
    }

    async fn only_approved_words_go_outside(app) {
        let incident = app.trigger("account-hijack", "medium").await;
        let id = incident["id"].as_str().unwrap();
        let statements = format!("/api/v1/incidents/{id}/statements");
        let (_, drafted) = app.post(&statements, &app.responder,
            json!({"text": "We are looking into it.", "language": "en", "channels": ["email"]})).await;
        let draft = drafted["statements"][0]["id"].as_str().unwrap().to_owned();
        let (status, body) = app.post(&format!("{statements}/{draft}/briefings"), &app.responder,
            json!({"audience": "press"})).await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        assert!(body["error"]["message"].as_str().unwrap().contains("only an approved statement"), "{body}");
        let (status, _) = app.post(&format!("/api/v1/incidents/{id}/briefings"), &app.responder,
            json!({"audience": "press", "text": "Off the record..."})).await;
        assert_eq!(status, StatusCode::CONFLICT, "no unapproved words to the press either");

        // A filled-in pre-approved template may go out at once.
        let (_, drafted) = app.post(&format!("{statements}/from-template"), &app.responder, json!({
            "template": "account-compromised", "channels": ["email"],
            "values": {"channel": "Twitter", "date": "1 December 2026"}})).await;
        let holding = drafted["statements"][1]["id"].as_str().unwrap().to_owned();
        let (status, after) = app.post(&format!("{statements}/{holding}/briefings"), &app.responder,
            json!({"audience": "press"})).await;
        assert_eq!(status, StatusCode::OK, "{after}");
        assert_eq!(after["briefings"][0]["approved"], true);
        assert_eq!(after["briefings"][0]["statement"], 2);
        let mails = wait_for(&app, "Example Corp: Press", 1).await;
        let mail = to(&mails, "newsdesk@daily.example");
        assert!(mail.text().unwrap().contains("Our Twitter account was accessed"));
        assert!(mail.links().is_empty(), "the press is not asked to confirm");

        // Audiences are for the scenarios and severities their file says.
        for (audience, status) in [("board", StatusCode::CONFLICT), ("nobody", StatusCode::NOT_FOUND)] {
            let (got, body) = app.post(&format!("{statements}/{holding}/briefings"), &app.responder,
                json!({"audience": audience})).await;
            assert_eq!(got, status, "{audience}: {body}");
        }
        let campaign = app.trigger("insensitive-campaign", "low").await;
        let (status, _) = app.post(&format!("/api/v1/incidents/{}/briefings", campaign["id"].as_str().unwrap()),
            &app.responder, json!({"audience": "key-customers", "text": "x"})).await;
        assert_eq!(status, StatusCode::CONFLICT);
        let (status, _) = app.post(&format!("/api/v1/incidents/{id}/briefings"), &app.legal,
            json!({"audience": "all-staff", "text": "x"})).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "legal reads; responders brief");
    }
}

with_each_backend! {
    those_who_did_not_confirm_get_one_reminder,
}

async fn those_who_did_not_confirm_get_one_reminder(backend: Backend) {
    let clock = ManualClock::starting_now();
    let options = Options {
        clock: Some(Arc::clone(&clock)),
        ..Options::default()
    };
    let app = TestApp::spawn_with(TestDatabase::create(&backend).await, options).await;
    let incident = app.trigger("complaint-surge", "low").await;
    let id = incident["id"].as_str().unwrap();
    brief_staff(&app, id).await;
    let mails = wait_for(&app, "not for publication", 4).await;
    let link = to(&mails, "alex.moreau@example.com").links()[0].clone();
    let (status, _) = submit(&browser(), &link, &[("action", "confirm")]).await;
    assert_eq!(status, StatusCode::OK);
    app.settle().await;
    assert!(
        received(&app, "Reminder: please confirm").is_empty(),
        "not yet"
    );

    clock.advance(chrono::Duration::hours(2));
    let reminders = wait_for(&app, "Reminder: please confirm", 3).await;
    app.settle().await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let reminders_now = received(&app, "Reminder: please confirm");
    assert_eq!(
        reminders_now.len(),
        3,
        "one each to those who did not confirm"
    );
    assert!(
        reminders
            .iter()
            .all(|m| m.rcpt_to != ["alex.moreau@example.com"])
    );
    assert_eq!(
        reminders[0].links().len(),
        1,
        "the reminder carries its own link"
    );

    // Confirming from the reminder works; no second reminder ever comes.
    let (status, html) = submit(
        &browser(),
        &reminders[0].links()[0],
        &[("action", "confirm")],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{html}");
    clock.advance(chrono::Duration::hours(24));
    tokio::time::sleep(Duration::from_millis(300)).await;
    app.settle().await;
    assert_eq!(received(&app, "Reminder: please confirm").len(), 3);
    let (_, view) = app
        .get(&format!("/api/v1/incidents/{id}"), &app.legal)
        .await;
    let briefing = view["briefings"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(progress(&app, id, &briefing).await["confirmed"], 2);
    app.stop().await;
}
