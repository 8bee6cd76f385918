//! Regulatory clocks on a clock the test sets to exact instants: legal
//! arms the shipped regimes, claims facts (some earlier than recorded), is
//! chased up the ladder towards each deadline, files, and exports a dossier
//! that verifies offline.

mod support;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};
use support::browser::Browser;
use support::smtp::Received;
use support::{Backend, ManualClock, Options, TestApp, TestDatabase};
use tocsin::auth::Role;
use tocsin::domain::Actor;

const WAIT: Duration = Duration::from_secs(20);

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .expect("a test instant")
        .with_timezone(&Utc)
}

/// The drill playbooks (pr and legal, one item each) with the shipped
/// regimes, every scenario's candidates, and a data protection officer.
async fn app_at(backend: &Backend, start: &str) -> (TestApp, Arc<ManualClock>, tempfile::TempDir) {
    let (dir, playbooks) = support::drill_playbooks("10m", "1h");
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("playbooks/regimes");
    std::fs::create_dir_all(playbooks.join("regimes")).unwrap();
    for entry in std::fs::read_dir(&shipped).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(
            &path,
            playbooks.join("regimes").join(path.file_name().unwrap()),
        )
        .unwrap();
    }
    let organisation = playbooks.join("organisation.toml");
    let text = std::fs::read_to_string(&organisation).unwrap();
    let text = text.replace(
        "departments = [\"pr\", \"legal\"]",
        "departments = [\"pr\", \"legal\"]\nregimes = [\"gdpr-art33\", \"nis2-art23\", \"dora-art19\"]",
    );
    let text = text.replace(
        "[[scenario]]",
        "[data_protection_officer]\nname = \"Dana DPO\"\nemail = \"dpo@example.com\"\n\n[[scenario]]",
    );
    std::fs::write(&organisation, text).unwrap();
    let clock = ManualClock::starting_now();
    clock.set(at(start));
    let options = Options {
        clock: Some(Arc::clone(&clock)),
        playbooks,
        ..Options::default()
    };
    let app = TestApp::spawn_with(TestDatabase::create(backend).await, options).await;
    (app, clock, dir)
}

/// Opens a drill incident and answers everything on its checklist, then
/// resolves it: what remains to chase is the law's, which outlives the crisis.
async fn quiet_incident(app: &TestApp) -> String {
    let incident = app.trigger("drill", "low").await;
    let id = incident["id"].as_str().unwrap().to_owned();
    for task in support::tasks(&incident) {
        let task_id = task["id"].as_str().unwrap();
        let (status, body) = app
            .post(
                &format!("/api/v1/incidents/{id}/tasks/{task_id}/complete"),
                &app.responder,
                json!({}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let (status, body) = app
        .post(
            &format!("/api/v1/incidents/{id}/resolve"),
            &app.responder,
            json!({"summary": "Contained."}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Opened (2 heads), ready to resolve and resolved (2 heads, commander).
    app.smtp.wait_for(6, WAIT).await;
    app.settle().await;
    id
}

async fn act(app: &TestApp, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
    app.post(&format!("/api/v1/incidents/{path}"), token, body)
        .await
}

async fn claim(app: &TestApp, id: &str, fact: &str, claimed_at: &str) -> Value {
    let (status, body) = act(
        app,
        &format!("{id}/regulatory/claims"),
        &app.legal,
        json!({"fact": fact, "claimed_at": claimed_at}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn arm(app: &TestApp, id: &str, regime: &str) -> Value {
    let (status, body) = act(
        app,
        &format!("{id}/regulatory/{regime}/arm"),
        &app.legal,
        json!({}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn file(app: &TestApp, id: &str, clock: &str, body: Value) -> (StatusCode, Value) {
    let (regime, step) = clock.split_once('/').unwrap();
    act(
        app,
        &format!("{id}/regulatory/{regime}/steps/{step}/submissions"),
        &app.legal,
        body,
    )
    .await
}

fn step<'a>(incident: &'a Value, clock: &str) -> &'a Value {
    let (regime, step) = clock.split_once('/').unwrap();
    incident["regulatory"]["regimes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == regime)
        .unwrap_or_else(|| panic!("no regime {regime} in {}", incident["regulatory"]))["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == step)
        .unwrap_or_else(|| panic!("no step {clock}"))
}

fn due(incident: &Value, clock: &str) -> Option<DateTime<Utc>> {
    step(incident, clock)["due_at"].as_str().map(at)
}

/// Sets the clock, lets timers fire and mail go out; returns what arrived,
/// which must be exactly `expect` messages.
async fn tick_to(
    app: &TestApp,
    clock: &ManualClock,
    instant: DateTime<Utc>,
    expect: usize,
) -> Vec<Received> {
    let before = app.smtp.received().len();
    clock.set(instant);
    tokio::time::sleep(Duration::from_millis(150)).await;
    let mails = app.smtp.wait_for(before + expect, WAIT).await;
    app.settle().await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let all = app.smtp.received();
    assert_eq!(
        all.len(),
        before + expect,
        "unexpected mail at {instant}: {:#?}",
        all[before..]
            .iter()
            .map(|m| (m.rcpt_to.clone(), m.subject()))
            .collect::<Vec<_>>()
    );
    mails[before..].to_vec()
}

fn recipients(mails: &[Received]) -> Vec<String> {
    let mut to: Vec<String> = mails.iter().flat_map(|m| m.rcpt_to.clone()).collect();
    to.sort();
    to
}

with_each_backend!(
    gdpr_is_chased_to_its_deadline_and_a_late_filing_must_say_why,
    dora_deadlines_chain_from_the_right_events,
    nis2_final_report_runs_a_month_from_the_notification,
    sec_business_days_skip_a_federal_holiday,
    a_regime_is_decided_by_legal_and_not_notifiable_needs_a_reason,
);

async fn gdpr_is_chased_to_its_deadline_and_a_late_filing_must_say_why(backend: Backend) {
    let (app, clock, _dir) = app_at(&backend, "2027-01-04T09:00:00Z").await;
    let id = quiet_incident(&app).await;
    const CLOCK: &str = "gdpr-art33/notify-authority";

    // Awareness came at 07:10; legal records it at 09:00.
    claim(&app, &id, "awareness", "2027-01-04T07:10:00Z").await;
    let view = arm(&app, &id, "gdpr-art33").await;
    assert_eq!(due(&view, CLOCK), Some(at("2027-01-07T07:10:00Z")));
    assert_eq!(step(&view, CLOCK)["status"], "running");
    assert_eq!(step(&view, CLOCK)["remaining_secs"], 70 * 3600 + 10 * 60);
    let claimed = app
        .changes(&id)
        .await
        .into_iter()
        .find(|event| event["kind"] == "fact_claimed")
        .expect("the claim is on the chain");
    assert_eq!(claimed["at"], "2027-01-04T09:00:00.000000Z", "{claimed}");
    assert_eq!(claimed["data"]["claimed_at"], "2027-01-04T07:10:00Z");

    // Monitoring sees the same countdown.
    let reference = view["reference"].as_str().unwrap();
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let gauge = format!(
        "tocsin_regulatory_deadline_remaining_seconds{{incident=\"{reference}\",\
         regime=\"gdpr-art33\",step=\"notify-authority\"}} {}",
        70 * 3600 + 10 * 60
    );
    assert!(metrics.contains(&gauge), "{gauge} in {metrics}");

    // Nothing until 24 hours before the deadline: 48 hours after awareness.
    tick_to(&app, &clock, at("2027-01-06T07:09:00Z"), 0).await;
    let reminder = tick_to(&app, &clock, at("2027-01-06T07:10:01Z"), 2).await;
    assert_eq!(
        recipients(&reminder),
        ["dpo@example.com", "legal-head@example.com"]
    );
    let subject = reminder[0].subject().unwrap();
    assert!(subject.contains("Due in 23 h 59 min"), "{subject}");
    let text = reminder[0].text().unwrap();
    assert!(text.contains("2027-01-07 07:10 UTC"), "{text}");
    assert!(
        !text.contains("Links are for"),
        "no links, no link warning: {text}"
    );

    // 4 hours before: the head and the DPO again; 1 hour before: the deputies.
    let again = tick_to(&app, &clock, at("2027-01-07T03:10:01Z"), 2).await;
    assert_eq!(
        recipients(&again),
        ["dpo@example.com", "legal-head@example.com"]
    );
    let deputies = tick_to(&app, &clock, at("2027-01-07T06:10:01Z"), 1).await;
    assert_eq!(recipients(&deputies), ["legal-deputy@example.com"]);
    assert!(deputies[0].subject().unwrap().contains("Due in 59 min"));

    // At the deadline: the commander, and the miss is on the chain.
    let missed = tick_to(&app, &clock, at("2027-01-07T07:10:01Z"), 1).await;
    assert_eq!(recipients(&missed), ["commander@example.com"]);
    assert!(missed[0].subject().unwrap().contains("Deadline missed"));
    // Who to call: everyone the clock chased, with their addresses.
    let text = missed[0].text().unwrap();
    for (role, email) in [
        ("head", "legal-head@example.com"),
        ("data protection officer", "dpo@example.com"),
        ("deputy", "legal-deputy@example.com"),
    ] {
        assert!(text.contains(&format!(" ({role}): {email}")), "{text}");
    }
    let miss = app
        .changes(&id)
        .await
        .into_iter()
        .find(|event| event["kind"] == "deadline_missed")
        .expect("the missed deadline is an event");
    assert_eq!(miss["data"]["due_at"], "2027-01-07T07:10:00Z");
    let (_, view) = app
        .get(&format!("/api/v1/incidents/{id}"), &app.legal)
        .await;
    assert_eq!(step(&view, CLOCK)["status"], "overdue");

    // A late filing without the reasons for the delay is refused.
    let (status, body) = file(&app, &id, CLOCK, json!({"reference": "CNIL-2027-0042"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["field"], "delay_reasons", "{body}");
    let (status, body) = file(
        &app,
        &id,
        CLOCK,
        json!({
            "reference": "CNIL-2027-0042",
            "delay_reasons": "The forensic report establishing the breach arrived late.",
        }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(step(&body, CLOCK)["status"], "submitted_late");
    assert_eq!(step(&body, CLOCK)["submissions"][0]["late"], true);

    // Filed: nothing more is sent.
    tick_to(&app, &clock, at("2027-01-09T00:00:00Z"), 0).await;

    // The export verifies offline and carries the dossier.
    let response = app
        .client
        .get(app.url(&format!("/api/v1/incidents/{id}/timeline")))
        .bearer_auth(&app.legal)
        .send()
        .await
        .unwrap();
    let bytes = response.bytes().await.unwrap();
    let report = tocsin::timeline::verify_export(&bytes);
    assert!(report.ok, "{report:?}");
    let export: Value = serde_json::from_slice(&bytes).unwrap();
    let dossier = &export["regulatory"][0];
    assert_eq!(dossier["regime"], "gdpr-art33");
    assert_eq!(dossier["decision"], "armed");
    let filing = dossier["steps"][0]["filings"][0].as_str().unwrap();
    assert!(
        filing.contains("CNIL-2027-0042") && filing.contains("late"),
        "{filing}"
    );
    let fields = dossier["fields"].as_array().unwrap();
    assert!(fields.len() >= 4, "Art. 33(3) (a) to (d): {fields:?}");
    assert!(
        fields
            .iter()
            .any(|field| field["draft"].as_str().unwrap().contains("dpo@example.com")),
        "the DPO as contact point: {fields:?}"
    );
}

async fn dora_deadlines_chain_from_the_right_events(backend: Backend) {
    let (app, clock, _dir) = app_at(&backend, "2027-03-01T08:00:00Z").await;
    const INITIAL: &str = "dora-art19/initial";
    const INTERMEDIATE: &str = "dora-art19/intermediate";
    const FINAL: &str = "dora-art19/final";

    // Classified major two hours after awareness: 4 hours from classification.
    let id = quiet_incident(&app).await;
    arm(&app, &id, "dora-art19").await;
    let view = claim(&app, &id, "awareness", "2027-03-01T06:00:00Z").await;
    assert_eq!(step(&view, INITIAL)["status"], "not_started");
    let view = claim(&app, &id, "classified_major", "2027-03-01T08:00:00Z").await;
    assert_eq!(due(&view, INITIAL), Some(at("2027-03-01T12:00:00Z")));

    // Classified 22 hours after awareness: still no later than 24 hours after it.
    let late = quiet_incident(&app).await;
    arm(&app, &late, "dora-art19").await;
    claim(&app, &late, "awareness", "2027-02-28T10:00:00Z").await;
    let view = claim(&app, &late, "classified_major", "2027-03-01T08:00:00Z").await;
    assert_eq!(due(&view, INITIAL), Some(at("2027-03-01T10:00:00Z")));

    // Classified two days after awareness: the 24-hour limit had passed
    // before the clock started, so the initial notification has its 4 hours.
    let later = quiet_incident(&app).await;
    arm(&app, &later, "dora-art19").await;
    claim(&app, &later, "awareness", "2027-02-27T06:00:00Z").await;
    let view = claim(&app, &later, "classified_major", "2027-03-01T08:00:00Z").await;
    assert_eq!(due(&view, INITIAL), Some(at("2027-03-01T12:00:00Z")));

    // The intermediate report runs 72 hours from the initial notification's
    // submission, the final report a month from the latest intermediate one.
    clock.set(at("2027-03-01T11:00:00Z"));
    let (status, view) = file(&app, &id, INITIAL, json!({"reference": "DORA-INIT-1"})).await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(step(&view, INITIAL)["status"], "submitted");
    assert_eq!(due(&view, INTERMEDIATE), Some(at("2027-03-04T11:00:00Z")));
    assert_eq!(due(&view, FINAL), None);

    clock.set(at("2027-03-03T10:00:00Z"));
    let (status, view) = file(&app, &id, INTERMEDIATE, json!({"reference": "DORA-INT-1"})).await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(due(&view, FINAL), Some(at("2027-04-03T10:00:00Z")));

    clock.set(at("2027-03-10T10:00:00Z"));
    let hash = "ab".repeat(32);
    let (status, view) = file(&app, &id, INTERMEDIATE, json!({"document_sha256": hash})).await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(due(&view, FINAL), Some(at("2027-04-10T10:00:00Z")));
    let moved = app
        .changes(&id)
        .await
        .into_iter()
        .rev()
        .find(|event| event["kind"] == "clock_started" && event["data"]["step"] == "final")
        .unwrap();
    assert_eq!(moved["data"]["previous_due_at"], "2027-04-03T10:00:00Z");

    // A filing needs the authority's reference or the document's hash.
    let (status, body) = file(&app, &id, FINAL, json!({})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["field"], "reference");
    let (status, body) = file(&app, &id, FINAL, json!({"document_sha256": "not a hash"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["field"], "document_sha256");
}

async fn nis2_final_report_runs_a_month_from_the_notification(backend: Backend) {
    let (app, clock, _dir) = app_at(&backend, "2027-01-29T12:00:00Z").await;
    let id = quiet_incident(&app).await;
    arm(&app, &id, "nis2-art23").await;
    let view = claim(&app, &id, "awareness", "2027-01-29T10:00:00Z").await;
    assert_eq!(
        due(&view, "nis2-art23/early-warning"),
        Some(at("2027-01-30T10:00:00Z"))
    );
    assert_eq!(
        due(&view, "nis2-art23/notification"),
        Some(at("2027-02-01T10:00:00Z"))
    );
    assert_eq!(due(&view, "nis2-art23/final-report"), None);

    clock.set(at("2027-01-31T10:00:00Z"));
    let (status, view) = file(
        &app,
        &id,
        "nis2-art23/notification",
        json!({"reference": "CSIRT-2027-7"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{view}");
    // One calendar month, to the last day of a shorter month.
    assert_eq!(
        due(&view, "nis2-art23/final-report"),
        Some(at("2027-02-28T10:00:00Z"))
    );

    // A filing cannot be dated in the future, nor a fact claimed there.
    let (status, body) = file(
        &app,
        &id,
        "nis2-art23/early-warning",
        json!({"reference": "CSIRT-2027-6", "submitted_at": "2027-02-01T00:00:00Z"}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["field"], "submitted_at");
    let (status, body) = act(
        &app,
        &format!("{id}/regulatory/claims"),
        &app.legal,
        json!({"fact": "awareness", "claimed_at": "2027-02-01T00:00:00Z"}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["field"], "claimed_at");
}

async fn sec_business_days_skip_a_federal_holiday(backend: Backend) {
    // Friday 15 January 2027, 15:00 in New York; Monday is Martin Luther King Day.
    let (app, _clock, _dir) = app_at(&backend, "2027-01-15T21:00:00Z").await;
    let id = quiet_incident(&app).await;
    arm(&app, &id, "sec-8k-item-1-05").await;
    let view = claim(&app, &id, "materiality_determined", "2027-01-15T20:00:00Z").await;
    // Tuesday, Wednesday, Thursday, Friday: 17:30 in New York.
    assert_eq!(
        due(&view, "sec-8k-item-1-05/file-8k"),
        Some(at("2027-01-22T22:30:00Z"))
    );
}

async fn a_regime_is_decided_by_legal_and_not_notifiable_needs_a_reason(backend: Backend) {
    let (app, _clock, _dir) = app_at(&backend, "2027-01-04T09:00:00Z").await;
    let id = quiet_incident(&app).await;

    // Least privilege: responders act on checklists, legal keeps the clocks.
    let (status, body) = act(
        &app,
        &format!("{id}/regulatory/gdpr-art33/arm"),
        &app.responder,
        json!({}),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, body) = act(
        &app,
        &format!("{id}/regulatory/no-such-regime/arm"),
        &app.legal,
        json!({}),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");

    let path = format!("{id}/regulatory/gdpr-art33/not-notifiable");
    let (status, body) = act(&app, &path, &app.legal, json!({"reason": "  "})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["field"], "reason");
    let (status, body) = act(&app, &path, &app.legal, json!({})).await;
    assert!(status.is_client_error(), "{status} {body}");
    let reason = "The hijacked account held no personal data: public posts only.";
    let (status, view) = act(&app, &path, &app.legal, json!({"reason": reason})).await;
    assert_eq!(status, StatusCode::OK, "{view}");
    let regime = &view["regulatory"]["regimes"][0];
    assert_eq!(regime["decision"], "not_notifiable");
    assert_eq!(regime["reason"], reason);

    // Not notifiable: awareness starts no clock, and nothing can be filed.
    let view = claim(&app, &id, "awareness", "2027-01-04T08:00:00Z").await;
    assert_eq!(due(&view, "gdpr-art33/notify-authority"), None);
    let (status, body) = file(
        &app,
        &id,
        "gdpr-art33/notify-authority",
        json!({"reference": "X"}),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");

    // Both decisions stay on the chain.
    let view = arm(&app, &id, "gdpr-art33").await;
    assert_eq!(
        due(&view, "gdpr-art33/notify-authority"),
        Some(at("2027-01-07T08:00:00Z"))
    );
    let kinds: Vec<String> = app
        .changes(&id)
        .await
        .iter()
        .map(|event| event["kind"].as_str().unwrap().to_owned())
        .filter(|kind| kind.starts_with("regime_"))
        .collect();
    assert_eq!(kinds, ["regime_not_notifiable", "regime_armed"]);
}

/// Legal in the browser: the countdowns on the incident page and the
/// dashboard, arming a regime and recording a filing from the page, at
/// desktop and phone width. Screenshots land in target/screenshots/.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legal_keeps_the_clocks_in_the_browser() {
    let (app, _clock, _dir) = app_at(&Backend::Sqlite, "2027-01-04T09:00:00Z").await;
    let id = quiet_incident(&app).await;
    claim(&app, &id, "awareness", "2027-01-04T07:10:00Z").await;
    arm(&app, &id, "nis2-art23").await;
    app.staff
        .add_user("counsel@example.com", Role::Legal, &Actor::operator("test"))
        .await
        .unwrap();
    let browser = Browser::start().await;
    browser.goto(&app.url("/")).await;
    browser.fill("#email", "counsel@example.com").await;
    browser.click("button[type=submit]").await;
    let deadline = std::time::Instant::now() + WAIT;
    let link = loop {
        let mail = app
            .smtp
            .received()
            .into_iter()
            .find(|m| m.rcpt_to == ["counsel@example.com"]);
        if let Some(mail) = mail {
            break mail
                .links()
                .into_iter()
                .find(|l| l.contains("/sign-in/"))
                .unwrap();
        }
        assert!(std::time::Instant::now() < deadline, "no sign-in mail");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    browser.goto(&link).await;
    browser.click("#sign-in").await;
    browser.wait_for_text("h1", "Incidents", WAIT).await;

    // The dashboard leads with the deadlines, soonest first.
    browser
        .wait_for_text("#deadlines", "in 22 h 10 min", WAIT)
        .await;
    browser.screenshot("regulatory-dashboard").await;

    // Arm GDPR from the incident page: its clock appears with its countdown.
    browser.goto(&app.url(&format!("/incidents/{id}"))).await;
    browser.click("#regulatory summary").await;
    browser.select("#arm-regime", "gdpr-art33").await;
    browser.click("#regulatory button[value=arm]").await;
    browser.wait_for_text("main", "Regime armed.", WAIT).await;
    let clocks = browser.text("#regulatory ul.clocks").await;
    assert!(clocks.contains("in 2 d 22 h 10 min"), "{clocks}");
    assert!(clocks.contains("due 2027-01-07 07:10 UTC"), "{clocks}");
    assert!(
        clocks.contains("next: remind the head at 2027-01-06 07:10 UTC"),
        "who is chased next, and when: {clocks}"
    );
    browser.screenshot("regulatory-incident").await;

    // Record the NIS2 early warning with the authority's reference.
    browser.click("#regulatory summary").await;
    browser
        .select("#file-clock", "nis2-art23/early-warning")
        .await;
    browser.fill("#file-reference", "CSIRT-2027-0001").await;
    browser.click("#regulatory button[value=file]").await;
    browser
        .wait_for_text("main", "Filing recorded.", WAIT)
        .await;
    let clocks = browser.text("#regulatory ul.clocks").await;
    assert!(clocks.contains("CSIRT-2027-0001"), "{clocks}");

    // On a phone nothing is cut off and nothing scrolls sideways.
    browser.client().set_window_size(360, 800).await.unwrap();
    browser.goto(&app.url(&format!("/incidents/{id}"))).await;
    browser
        .wait_for_text("#regulatory", "Regulatory deadlines", WAIT)
        .await;
    let overflow = browser
        .client()
        .execute(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(overflow, json!(0), "the page scrolls sideways at 360 px");
    browser.screenshot("regulatory-incident-phone").await;
    browser.goto(&app.url("/")).await;
    browser
        .wait_for_text("#deadlines", "Regulatory deadlines", WAIT)
        .await;
    browser.screenshot("regulatory-dashboard-phone").await;
    browser.close().await;
    app.stop().await;
}
