//! Chasing late answers, on a clock the test moves: every message the
//! scenario expects is received and checked, and further ticks bring none.

mod support;

use std::sync::Arc;
use std::time::Duration;

use chrono::Duration as Span;
use reqwest::StatusCode;
use serde_json::{Value, json};
use support::smtp::Received;
use support::{Backend, ManualClock, Options, TestApp, TestDatabase};

const WAIT: Duration = Duration::from_secs(20);

async fn drill(
    backend: &Backend,
    workers: usize,
) -> (TestApp, Arc<ManualClock>, tempfile::TempDir) {
    // Two departments, one item each: 10 minutes to acknowledge, an hour to finish.
    let (dir, playbooks) = support::drill_playbooks("10m", "1h");
    let clock = ManualClock::starting_now();
    let options = Options {
        clock: Some(Arc::clone(&clock)),
        playbooks,
        workers,
        ..Options::default()
    };
    (
        TestApp::spawn_with(TestDatabase::create(backend).await, options).await,
        clock,
        dir,
    )
}

/// Moves the clock, lets timers fire and mail go out, and returns what arrived.
async fn tick(app: &TestApp, clock: &ManualClock, by: Span, expect: usize) -> Vec<Received> {
    let before = app.smtp.received().len();
    clock.advance(by);
    // Long enough for several timer polls and delivery passes.
    tokio::time::sleep(Duration::from_millis(150)).await;
    let mails = app.smtp.wait_for(before + expect, WAIT).await;
    app.settle().await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let all = app.smtp.received();
    assert_eq!(
        all.len(),
        before + expect,
        "unexpected mail: {:#?}",
        all[before..]
            .iter()
            .map(|m| (m.rcpt_to.clone(), m.subject()))
            .collect::<Vec<_>>()
    );
    mails[before..].to_vec()
}

fn only_to<'a>(mails: &'a [Received], address: &str, subject_part: &str) -> &'a Received {
    assert_eq!(
        mails.len(),
        1,
        "{:?}",
        mails
            .iter()
            .map(|m| (&m.rcpt_to, m.subject()))
            .collect::<Vec<_>>()
    );
    assert_eq!(mails[0].rcpt_to, [address]);
    let subject = mails[0].subject().unwrap();
    assert!(subject.contains(subject_part), "{subject}");
    &mails[0]
}

fn dept<'a>(incident: &'a Value, id: &str) -> &'a Value {
    incident["departments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["department"] == id)
        .unwrap()
}

with_each_backend!(
    the_commander_hears_when_it_can_be_resolved_and_everyone_gets_a_summary,
    the_ladder_climbs_and_stops_when_answered,
    a_queued_reminder_is_not_sent_once_acknowledged,
    after_downtime_each_timer_fires_once_and_says_how_late,
);

async fn the_ladder_climbs_and_stops_when_answered(backend: Backend) {
    let (app, clock, _dir) = drill(&backend, 1).await;
    let incident = app.trigger("drill", "low").await;
    let id = incident["id"].as_str().unwrap().to_owned();
    app.smtp.wait_for(2, WAIT).await;
    app.settle().await;

    // Legal answers at once; PR does not.
    let (status, _) = app
        .post(
            &format!("/api/v1/incidents/{id}/departments/legal/acknowledge"),
            &app.responder,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    tick(&app, &clock, Span::minutes(9), 0).await;
    let reminder = tick(&app, &clock, Span::minutes(1) + Span::seconds(1), 1).await;
    let reminder = only_to(
        &reminder,
        "pr-head@example.com",
        "Reminder: pr department has not acknowledged",
    );
    assert_eq!(
        reminder.links().len(),
        2,
        "fresh links: the item and the department"
    );
    // What was missed, and by how much, first.
    let text = reminder.text().unwrap();
    assert!(
        text.starts_with(
            "Reminder: pr department has not acknowledged this incident: under a minute late, due "
        ),
        "{text}"
    );
    tick(&app, &clock, Span::minutes(9), 0).await;
    let escalation = tick(&app, &clock, Span::minutes(1) + Span::seconds(1), 1).await;
    let escalation = only_to(
        &escalation,
        "pr-deputy@example.com",
        "Escalation: pr department has not acknowledged",
    );
    // Mail travels with CRLF line ends.
    let text = escalation.text().unwrap().replace("\r\n", "\n");
    assert!(
        text.contains("You are a deputy for pr department"),
        "{text}"
    );
    assert!(
        text.contains("has not acknowledged this incident: 10 min late, due "),
        "{text}"
    );
    assert!(
        text.contains("Not answered yet:\n  pr head (head): pr-head@example.com\n"),
        "{text}"
    );

    // The view says who was chased and what comes next.
    let (_, view) = app
        .get(&format!("/api/v1/incidents/{id}"), &app.legal)
        .await;
    let chase = &dept(&view, "pr")["chase"];
    let history: Vec<i64> = chase["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["stage"].as_i64().unwrap())
        .collect();
    assert_eq!(history, [0, 1]);
    assert_eq!(
        chase["history"][1]["recipients"],
        json!(["pr-deputy@example.com"])
    );
    assert_eq!(chase["next"]["action"], "escalate to the commander");

    // The deputy acknowledges through the link: chasing stops.
    let link = escalation.links()[0].clone();
    let response = reqwest::Client::new()
        .post(&link)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("action=acknowledge")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    tick(&app, &clock, Span::minutes(15), 0).await;
    let (_, view) = app
        .get(&format!("/api/v1/incidents/{id}"), &app.legal)
        .await;
    assert_eq!(dept(&view, "pr")["chase"]["next"], Value::Null);
    assert!(
        dept(&view, "pr")["time_to_acknowledge_secs"]
            .as_i64()
            .unwrap()
            >= 20 * 60
    );

    // At the hour both items are overdue: each head is reminded.
    let overdue = tick(&app, &clock, Span::minutes(25), 2).await;
    let mut to: Vec<String> = overdue.iter().flat_map(|m| m.rcpt_to.clone()).collect();
    to.sort();
    assert_eq!(to, ["legal-head@example.com", "pr-head@example.com"]);
    assert!(
        overdue
            .iter()
            .all(|m| m.subject().unwrap().contains("Reminder: Respond for"))
    );

    // Legal finishes; PR's item climbs on to its commander, then stops.
    let legal_task = dept(&view, "legal")["tasks"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _) = app
        .post(
            &format!("/api/v1/incidents/{id}/tasks/{legal_task}/complete"),
            &app.responder,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let deputies = tick(&app, &clock, Span::minutes(10), 1).await;
    only_to(
        &deputies,
        "pr-deputy@example.com",
        "Escalation: Respond for pr is overdue",
    );
    let commander = tick(&app, &clock, Span::minutes(10), 1).await;
    let commander = only_to(
        &commander,
        "commander@example.com",
        "Escalation: Respond for pr is overdue",
    );
    let text = commander.text().unwrap().replace("\r\n", "\n");
    assert!(text.contains("You lead this incident"), "{text}");
    assert!(
        text.starts_with("Escalation: \"Respond for pr\" is not done: "),
        "{text}"
    );
    // Who to call: everyone asked before, with how to reach them.
    assert!(
        text.contains(
            "Not answered yet:\n  pr head (head): pr-head@example.com\n  \
             pr deputy (deputy): pr-deputy@example.com\n"
        ),
        "{text}"
    );

    // A few more ticks: nothing unexpected.
    for _ in 0..3 {
        tick(&app, &clock, Span::hours(2), 0).await;
    }
    let chased: Vec<Value> = app
        .changes(&id)
        .await
        .into_iter()
        .filter(|e| e["kind"] == "chased")
        .collect();
    assert_eq!(chased.len(), 6);
    app.stop().await;
}

async fn a_queued_reminder_is_not_sent_once_acknowledged(backend: Backend) {
    let (app, clock, _dir) = drill(&backend, 0).await;
    let incident = app.trigger("drill", "low").await;
    let id = incident["id"].as_str().unwrap().to_owned();
    app.delivery.step().await.unwrap();
    app.smtp.wait_for(2, WAIT).await;

    clock.advance(Span::minutes(11));
    assert_eq!(
        app.engine.chase(10).await.unwrap(),
        2,
        "both departments are late"
    );
    // The reminders are queued; then both departments answer before they go.
    for dept in ["pr", "legal"] {
        let (status, _) = app
            .post(
                &format!("/api/v1/incidents/{id}/departments/{dept}/acknowledge"),
                &app.responder,
                json!({}),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
    }
    let step = app.delivery.step().await.unwrap();
    assert_eq!((step.claimed, step.cancelled, step.sent), (2, 2, 0));
    assert_eq!(app.smtp.received().len(), 2, "only the opening mail");
    let cancelled: Vec<Value> = app
        .timeline(&id)
        .await
        .into_iter()
        .filter(|e| e["kind"] == "message_cancelled")
        .collect();
    assert_eq!(cancelled.len(), 2);
    let (_, view) = app
        .get(&format!("/api/v1/incidents/{id}"), &app.legal)
        .await;
    let statuses: Vec<&Value> = view["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| &m["status"])
        .collect();
    assert_eq!(statuses.iter().filter(|s| **s == "cancelled").count(), 2);
    app.stop().await;
}

async fn after_downtime_each_timer_fires_once_and_says_how_late(backend: Backend) {
    let (app, clock, _dir) = drill(&backend, 0).await;
    let incident = app.trigger("drill", "low").await;
    let id = incident["id"].as_str().unwrap().to_owned();

    // Down for three hours: every first rung is long past due.
    clock.advance(Span::hours(3));
    assert_eq!(
        app.engine.chase(100).await.unwrap(),
        4,
        "two acknowledgements and two items"
    );
    assert_eq!(
        app.engine.chase(100).await.unwrap(),
        0,
        "each fired once, not once per missed interval"
    );
    let chased: Vec<Value> = app
        .changes(&id)
        .await
        .into_iter()
        .filter(|e| e["kind"] == "chased")
        .collect();
    assert_eq!(chased.len(), 4);
    for event in &chased {
        assert_eq!(event["data"]["stage"], 0);
        let late = event["data"]["late_by_ms"].as_i64().unwrap();
        assert!(
            late >= Span::minutes(119).num_milliseconds(),
            "lateness recorded: {late}"
        );
    }
    // The next rung waits a full interval from now.
    clock.advance(Span::minutes(9));
    assert_eq!(app.engine.chase(100).await.unwrap(), 0);
    clock.advance(Span::minutes(1));
    assert_eq!(app.engine.chase(100).await.unwrap(), 4);
    app.stop().await;
}

async fn the_commander_hears_when_it_can_be_resolved_and_everyone_gets_a_summary(backend: Backend) {
    let (app, clock, _dir) = drill(&backend, 1).await;
    let incident = app.trigger("drill", "low").await;
    let id = incident["id"].as_str().unwrap().to_owned();
    app.smtp.wait_for(2, WAIT).await;
    app.settle().await;
    for (i, dept) in ["pr", "legal"].into_iter().enumerate() {
        clock.advance(Span::minutes(3));
        let task = dept_task(&incident, dept);
        let (status, _) = app
            .post(
                &format!("/api/v1/incidents/{id}/tasks/{task}/complete"),
                &app.responder,
                json!({}),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        app.settle().await;
        // Only the last required item tells the commander.
        assert_eq!(app.smtp.received().len(), 2 + i);
    }
    let mails = app.smtp.received();
    let ready = only_to(&mails[2..], "commander@example.com", "Ready to resolve");
    assert!(ready.text().unwrap().contains("can be resolved"));

    let (status, view) = app
        .post(
            &format!("/api/v1/incidents/{id}/resolve"),
            &app.responder,
            json!({"summary": "Drill complete"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(dept(&view, "pr")["time_to_complete_secs"], 180);
    assert_eq!(dept(&view, "legal")["time_to_complete_secs"], 360);
    assert_eq!(dept(&view, "legal")["time_to_acknowledge_secs"], 360);
    let summaries = app.smtp.wait_for(6, WAIT).await;
    let to_commander = summaries[3..]
        .iter()
        .find(|m| m.rcpt_to == ["commander@example.com"])
        .unwrap();
    let text = to_commander.text().unwrap();
    assert!(text.contains("Drill complete"), "{text}");
    assert!(
        text.contains("legal department: acknowledged in 6m, done in 6m"),
        "{text}"
    );
    // The summary has no links, so nothing about how links behave.
    assert!(to_commander.links().is_empty(), "{text}");
    assert!(!text.contains("Each link opens a page"), "{text}");
    app.stop().await;
}

fn dept_task(incident: &Value, id: &str) -> String {
    dept(incident, id)["tasks"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}
