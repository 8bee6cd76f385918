//! Public statements as PR, legal and the public live them: drafted over the
//! API, approved from a real email's link (GET shows, POST acts), refused
//! when unapproved or self-approved, voided by an edit, chased up the ladder
//! on the test clock, published to a signed webhook and to the public page
//! whose hashes match legal's verified export.

mod support;

use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use support::receiver::Receiver;
use support::smtp::Received;
use support::{Backend, ManualClock, Options, TestApp, TestDatabase, browser, submit as press};
use tocsin::config::WebhookSettings;
use tocsin::endpoint::{Endpoint, WebhookKind, WebhookSecret};

const WAIT: Duration = Duration::from_secs(20);
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

async fn put(app: &TestApp, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
    let response = app
        .client
        .put(app.url(path))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    support::read(response).await
}

/// The incident's statement `number`, as the API shows it.
fn statement(incident: &Value, number: u64) -> &Value {
    incident["statements"]
        .as_array()
        .unwrap()
        .iter()
        .find(|statement| statement["number"] == number)
        .unwrap_or_else(|| panic!("no statement {number}: {incident}"))
}

/// Drafts a statement by `token`, and returns its id.
async fn draft(app: &TestApp, incident: &str, token: &str, body: Value) -> String {
    let (status, after) = app
        .post(
            &format!("/api/v1/incidents/{incident}/statements"),
            token,
            body,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{after}");
    let last = after["statements"].as_array().unwrap().last().unwrap();
    last["id"].as_str().unwrap().to_owned()
}

/// Drafts a statement from a playbook template, and returns its id.
async fn from_template(app: &TestApp, incident: &str, body: Value) -> String {
    let (status, after) = app
        .post(
            &format!("/api/v1/incidents/{incident}/statements/from-template"),
            &app.responder,
            body,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{after}");
    let last = after["statements"].as_array().unwrap().last().unwrap();
    last["id"].as_str().unwrap().to_owned()
}

fn text(words: &str) -> Value {
    json!({"text": words, "language": "en", "channels": ["twitter", "website"]})
}

/// What the statement says it is, computed as a reader would: SHA-256 of
/// the canonical `{"text","language","channels"}` JSON.
fn content_hash(text: &str, language: &str, channels: &[&str]) -> String {
    let canonical = format!(
        "{{\"text\":{},\"language\":{},\"channels\":{}}}",
        json!(text),
        json!(language),
        json!(channels)
    );
    hex::encode(Sha256::digest(canonical.as_bytes()))
}

fn mails_to<'a>(mails: &'a [Received], address: &str) -> Vec<&'a Received> {
    mails
        .iter()
        .filter(|mail| mail.rcpt_to.iter().any(|to| to == address))
        .collect()
}

/// Waits until `address` has received a mail whose subject contains
/// `subject`, and returns it.
async fn mail_for(app: &TestApp, address: &str, subject: &str) -> Received {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let mails = app.smtp.received();
        if let Some(mail) = mails_to(&mails, address)
            .into_iter()
            .find(|mail| mail.subject().is_some_and(|s| s.contains(subject)))
        {
            return mail.clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no mail to {address} about {subject:?}: {:?}",
            mails
                .iter()
                .map(|m| (&m.rcpt_to, m.subject()))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

on_each_backend! {
    async fn legal_approves_from_the_email_and_the_public_page_matches_the_export(app) {
        let incident = app.trigger("account-hijack", "high").await;
        let id = incident["id"].as_str().unwrap();
        let words = "Our Twitter account was taken over last night. We have it back.";
        let statement_id = draft(&app, id, &app.responder, text(words)).await;
        let path = format!("/api/v1/incidents/{id}/statements/{statement_id}");

        // Not approved yet: publishing is refused, whoever asks.
        let (status, body) = app.post(&format!("{path}/publish"), &app.responder, json!({})).await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        assert!(body["error"]["message"].as_str().unwrap().contains("needs every approval"), "{body}");

        let (status, after) = app.post(&format!("{path}/submit"), &app.responder, json!({})).await;
        assert_eq!(status, StatusCode::OK, "{after}");
        let submitted = statement(&after, 1);
        assert_eq!(submitted["status"], "submitted");
        let hash = submitted["sha256"].as_str().unwrap().to_owned();
        assert_eq!(hash, content_hash(words, "en", &["twitter", "website"]));

        // The approval request reaches legal's head, with the words and a link.
        let mail = mail_for(&app, "legal-head@example.com", "Approve statement 1").await;
        let body = mail.text().unwrap();
        assert!(body.contains(words), "{body}");
        assert!(body.contains(&hash), "{body}");
        let links = mail.links();
        assert_eq!(links.len(), 1, "{links:?}");
        let link = &links[0];

        // Fetching the link, as a mail scanner does, shows and changes nothing.
        let browser = browser();
        for _ in 0..2 {
            let (status, _, html) = support::page(&browser, link).await;
            assert_eq!(status, StatusCode::OK);
            assert!(html.contains("Our Twitter account was taken over last night."), "{html}");
            assert!(html.contains(&hash));
            assert!(html.contains("value=\"approve\""));
            assert!(!html.contains("<script"));
        }
        let (_, now) = app.get(&format!("/api/v1/incidents/{id}"), &app.legal).await;
        assert_eq!(statement(&now, 1)["status"], "submitted");
        assert!(statement(&now, 1)["reviews"].as_array().unwrap().is_empty());

        // A form with another version's hash answers nothing.
        let (status, html) = press(&browser, link, &[("action", "approve"), ("sha256", &"0".repeat(64))]).await;
        assert_eq!(status, StatusCode::CONFLICT, "{html}");
        assert!(html.contains("Nothing was recorded"), "{html}");

        let (status, html) = press(&browser, link, &[("action", "approve"), ("sha256", &hash)]).await;
        assert_eq!(status, StatusCode::OK, "{html}");
        assert!(html.contains("Approved."), "{html}");
        assert!(html.contains("legal approved: legal-head@example.com (by email link)"), "{html}");
        let (_, now) = app.get(&format!("/api/v1/incidents/{id}"), &app.legal).await;
        assert_eq!(statement(&now, 1)["status"], "approved");

        // The commander hears of the answer.
        mail_for(&app, "social-lead@example.com", "Statement 1 approved by legal").await;

        let (status, after) = app
            .post(&format!("{path}/publish"), &app.responder, json!({"url": "https://x.example/status/1"}))
            .await;
        assert_eq!(status, StatusCode::OK, "{after}");
        assert_eq!(statement(&after, 1)["status"], "published");

        app.settle().await;
        // The public page: no sign-in, no script, cacheable, and the words
        // with the hash the approver saw.
        let public = browser.get(app.url(&format!("/public/incidents/{id}/statements"))).send().await.unwrap();
        assert_eq!(public.status(), StatusCode::OK);
        assert_eq!(public.headers()["cache-control"], "public, max-age=60");
        assert!(public.headers()["content-security-policy"].to_str().unwrap().starts_with("default-src 'none'"));
        let html = public.text().await.unwrap();
        assert!(html.contains(words), "{html}");
        assert!(html.contains(&hash));
        assert!(!html.contains("<script"));
        assert!(!html.contains(incident["title"].as_str().unwrap()), "internal titles stay internal");
        let (_, verified) = app.get(&format!("/api/v1/incidents/{id}/timeline/verify"), &app.legal).await;
        assert_eq!(verified["ok"], true, "{verified}");
        let head = format!("event {}, SHA-256 {}", verified["head"]["seq"], verified["head"]["hash"].as_str().unwrap());
        assert!(html.contains(&head), "the page names the chain head {head}: {html}");
        let timeline = app.timeline(id).await;
        let published: Vec<&Value> = timeline.iter().filter(|e| e["kind"] == "statement_published").collect();
        assert_eq!(published.len(), 1);
        assert_eq!(published[0]["data"]["sha256"], hash.as_str());
        assert_eq!(published[0]["data"]["text"], words);
        assert_eq!(published[0]["data"]["approved_by"], "legal (link:legal-head@example.com)");

        // The organisation's page and both feeds carry it too.
        let (status, _, html) = support::page(&browser, &app.url("/public/statements")).await;
        assert_eq!(status, StatusCode::OK);
        assert!(html.contains(words));
        for feed in ["/public/statements.atom", &format!("/public/incidents/{id}/statements.atom")] {
            let response = browser.get(app.url(feed)).send().await.unwrap();
            assert_eq!(response.status(), StatusCode::OK, "{feed}");
            assert_eq!(response.headers()["content-type"], "application/atom+xml");
            let xml = response.text().await.unwrap();
            let parsed: atom_syndication::Feed = xml.parse().unwrap();
            assert_eq!(parsed.entries().len(), 1, "{xml}");
            assert_eq!(parsed.entries()[0].content().unwrap().value(), Some(words));
        }

        // An incident with nothing published has no public page.
        let quiet = app.trigger("complaint-surge", "low").await;
        let (status, _, _) = support::page(&browser, &app.url(&format!("/public/incidents/{}/statements", quiet["id"].as_str().unwrap()))).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }

    async fn nobody_approves_their_own_words_and_an_edit_voids_an_approval(app) {
        let incident = app.trigger("insensitive-campaign", "low").await;
        let id = incident["id"].as_str().unwrap();
        // The admin role may both write and approve, but not the same text.
        let statement_id = draft(&app, id, &app.admin, text("We have paused the campaign.")).await;
        let path = format!("/api/v1/incidents/{id}/statements/{statement_id}");
        let (status, after) = app.post(&format!("{path}/submit"), &app.admin, json!({})).await;
        assert_eq!(status, StatusCode::OK, "{after}");
        // Each request is delivered before it is answered (one answered
        // first is never sent: nobody is asked what is already answered).
        app.settle().await;
        let hash = statement(&after, 1)["sha256"].as_str().unwrap().to_owned();
        let approve = json!({"department": "legal", "sha256": hash});
        let (status, body) = app.post(&format!("{path}/approve"), &app.admin, approve.clone()).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        assert!(body["error"]["message"].as_str().unwrap().contains("someone else must approve it"), "{body}");
        // Responders write statements; they do not approve them.
        let (status, _) = app.post(&format!("{path}/approve"), &app.responder, approve.clone()).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        // Legal asks for changes, with a note; without one it is refused.
        let (status, body) = app.post(&format!("{path}/request-changes"), &app.legal,
            json!({"department": "legal", "sha256": hash, "note": " "})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(body["error"]["field"], "note");
        let (status, after) = app.post(&format!("{path}/request-changes"), &app.legal,
            json!({"department": "legal", "sha256": hash, "note": "Apologise first."})).await;
        assert_eq!(status, StatusCode::OK, "{after}");
        assert_eq!(statement(&after, 1)["status"], "changes_requested");

        // Version 2, approved, then edited again: the approval is void.
        let (status, after) = put(&app, &path, &app.admin,
            text("We are sorry. We have paused the campaign.")).await;
        assert_eq!(status, StatusCode::OK, "{after}");
        assert_eq!(statement(&after, 1)["version"], 2);
        app.post(&format!("{path}/submit"), &app.admin, json!({})).await;
        app.settle().await;
        let (_, now) = app.get(&format!("/api/v1/incidents/{id}"), &app.legal).await;
        let hash = statement(&now, 1)["sha256"].as_str().unwrap().to_owned();
        let (status, after) = app.post(&format!("{path}/approve"), &app.legal,
            json!({"department": "legal", "sha256": hash})).await;
        assert_eq!(status, StatusCode::OK, "{after}");
        assert_eq!(statement(&after, 1)["status"], "approved");
        let (status, after) = put(&app, &path, &app.admin,
            text("We are truly sorry. We have paused the campaign.")).await;
        assert_eq!(status, StatusCode::OK, "{after}");
        assert_eq!(statement(&after, 1)["status"], "draft");
        let (status, _) = app.post(&format!("{path}/publish"), &app.admin, json!({})).await;
        assert_eq!(status, StatusCode::CONFLICT);
        let edits: Vec<Value> = app.timeline(id).await.into_iter()
            .filter(|e| e["kind"] == "statement_edited").collect();
        assert_eq!(edits.len(), 2);
        assert_eq!(edits[0]["data"]["voided_approvals"], json!([]));
        assert_eq!(edits[1]["data"]["voided_approvals"], json!(["legal"]), "the voided approval is on the chain");
        assert_eq!(edits[1]["data"]["previous_sha256"], hash.as_str());

        // Resubmitted: the new request's page shows what changed.
        app.post(&format!("{path}/submit"), &app.admin, json!({})).await;
        app.settle().await;
        let mails = app.smtp.received();
        let requests = mails_to(&mails, "legal-head@example.com").into_iter()
            .filter(|m| m.subject().unwrap().contains("Approve statement 1")).count();
        assert_eq!(requests, 3, "one request per submission");
        let last = mails_to(&mails, "legal-head@example.com").into_iter()
            .rfind(|m| m.subject().unwrap().contains("Approve statement 1")).unwrap().clone();
        let (status, _, html) = support::page(&browser(), &last.links()[0]).await;
        assert_eq!(status, StatusCode::OK);
        assert!(html.contains("What changed since version 2"), "{html}");
        assert!(html.contains("<ins><span class=\"visually-hidden\">added: </span>truly </ins>"), "{html}");
    }

    async fn a_filled_in_approved_template_goes_out_without_a_new_approval(app) {
        let incident = app.trigger("account-hijack", "medium").await;
        let id = incident["id"].as_str().unwrap();
        let values = json!({"channel": "Twitter", "date": "1 December 2026"});
        let statement_id = from_template(&app, id, json!({"template": "account-compromised", "values": values, "channels": ["twitter"]})).await;
        let (status, after) = app.post(&format!("/api/v1/incidents/{id}/statements/{statement_id}/publish"),
            &app.responder, json!({})).await;
        assert_eq!(status, StatusCode::OK, "{after}");
        let published = statement(&after, 1);
        assert_eq!(published["publication"]["preapproved_template"], "account-compromised");
        assert!(published["content"]["text"].as_str().unwrap().starts_with("Our Twitter account was accessed"));
        let events = app.timeline(id).await;
        let event = events.iter().find(|e| e["kind"] == "statement_published").unwrap();
        assert_eq!(event["data"]["preapproved_template"], "account-compromised");
        assert!(event["data"]["approved_by"].as_str().unwrap().contains("Dominique Bernard"), "{event}");

        // Reworded beyond its placeholders, it needs an approval.
        let other = from_template(&app, id, json!({"template": "account-compromised", "values": values, "channels": ["twitter"]})).await;
        let path = format!("/api/v1/incidents/{id}/statements/{other}");
        let (status, _) = put(&app, &path, &app.responder,
            json!({"text": "Our Twitter account was fine all along.", "language": "en", "channels": ["twitter"]})).await;
        assert_eq!(status, StatusCode::OK);
        let (status, body) = app.post(&format!("{path}/publish"), &app.responder, json!({})).await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");

        // Bad drafts name their field.
        let templated = format!("/api/v1/incidents/{id}/statements/from-template");
        let own_words = format!("/api/v1/incidents/{id}/statements");
        for (path, body, status, field) in [
            (&templated, json!({"template": "nope", "channels": ["x"]}), StatusCode::NOT_FOUND, None),
            (&templated, json!({"template": "holding", "values": {"issue": "posts"}, "channels": ["x"]}),
                StatusCode::CONFLICT, Some("values")),
            (&templated, json!({"template": "holding", "values": {"issue": "a", "time": "b", "extra": "c"}, "channels": ["x"]}),
                StatusCode::CONFLICT, Some("values")),
            (&own_words, json!({"text": "Hi", "channels": ["x"]}), StatusCode::UNPROCESSABLE_ENTITY, Some("language")),
            (&own_words, json!({"text": "Hi", "language": "not a tag", "channels": ["x"]}),
                StatusCode::UNPROCESSABLE_ENTITY, Some("language")),
            (&own_words, json!({"text": "Hi", "language": "en", "channels": []}), StatusCode::UNPROCESSABLE_ENTITY, Some("channels")),
            (&own_words, json!({"language": "en", "channels": ["x"]}), StatusCode::UNPROCESSABLE_ENTITY, Some("text")),
        ] {
            let (got, refused) = app.post(path, &app.responder, body.clone()).await;
            assert_eq!(got, status, "{body}: {refused}");
            if let Some(field) = field {
                assert_eq!(refused["error"]["field"], field, "{body}: {refused}");
            }
        }
    }
}

/// Moves the clock one rung and returns the one mail that rung sends.
async fn chased(app: &TestApp, clock: &ManualClock, to: &str, subject: &str) -> Received {
    let before = app.smtp.received().len();
    clock.advance(chrono::Duration::minutes(15));
    let mail = mail_for(app, to, subject).await;
    app.settle().await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let after = app.smtp.received();
    let new: Vec<_> = after[before..]
        .iter()
        .map(|m| (m.rcpt_to.clone(), m.subject()))
        .collect();
    assert_eq!(new.len(), 1, "one mail per rung: {new:?}");
    mail
}

with_each_backend! {
    an_unanswered_approval_climbs_the_ladder_and_publication_reaches_the_scheduler,
}

/// On the test clock: legal's head is asked, reminded, the deputy and then
/// the commander are chased; the answer stops the chase; publication
/// reaches a signed webhook with the words.
async fn an_unanswered_approval_climbs_the_ladder_and_publication_reaches_the_scheduler(
    backend: Backend,
) {
    // Items that take hours, so that only the approval is chased here.
    let (_dir, playbooks) = support::drill_playbooks("10h", "20h");
    let organisation = playbooks.join("organisation.toml");
    let mut toml = std::fs::read_to_string(&organisation).unwrap();
    toml.push_str("[[scenario.approval]]\ndepartments = [\"legal\"]\nwithin = \"15m\"\n");
    std::fs::write(&organisation, toml).unwrap();
    let scheduler = Receiver::start(204, "").await;
    let url = scheduler.url("/hooks/scheduler");
    let clock = ManualClock::starting_now();
    let options = Options {
        clock: Some(Arc::clone(&clock)),
        playbooks,
        adjust: Box::new(move |settings| {
            settings.webhooks = vec![WebhookSettings {
                name: "scheduler".into(),
                endpoint: Endpoint {
                    kind: WebhookKind::Standard,
                    url,
                    secret: Some(WebhookSecret::parse(SECRET).unwrap()),
                },
                departments: None,
            }];
        }),
        ..Options::default()
    };
    let app = TestApp::spawn_with(TestDatabase::create(&backend).await, options).await;
    let incident = app.trigger("drill", "low").await;
    let id = incident["id"].as_str().unwrap();
    app.settle().await;
    let statement_id = draft(&app, id, &app.responder, text("We are looking into it.")).await;
    let path = format!("/api/v1/incidents/{id}/statements/{statement_id}");
    app.post(&format!("{path}/submit"), &app.responder, json!({}))
        .await;
    mail_for(&app, "legal-head@example.com", "Approve statement 1").await;

    let reminder = chased(
        &app,
        &clock,
        "legal-head@example.com",
        "Reminder: statement 1 awaits",
    )
    .await;
    assert_eq!(reminder.links().len(), 1, "the reminder can be answered");
    let escalation = chased(
        &app,
        &clock,
        "legal-deputy@example.com",
        "Escalation: statement 1 awaits",
    )
    .await;
    assert_eq!(
        escalation.links().len(),
        1,
        "the deputy can answer for legal"
    );
    let commander = chased(
        &app,
        &clock,
        "commander@example.com",
        "Escalation: statement 1 awaits",
    )
    .await;
    assert!(
        commander.links().is_empty(),
        "the commander chases; legal answers"
    );
    let (_, now) = app
        .get(&format!("/api/v1/incidents/{id}"), &app.legal)
        .await;
    let hash = statement(&now, 1)["sha256"].as_str().unwrap().to_owned();

    // The deputy answers from the escalation: the chase stops there.
    let (status, html) = press(
        &browser(),
        &escalation.links()[0],
        &[("action", "approve"), ("sha256", &hash)],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{html}");
    app.settle().await;
    let before = app.smtp.received().len();
    clock.advance(chrono::Duration::hours(2));
    tokio::time::sleep(Duration::from_millis(300)).await;
    app.settle().await;
    let after = app.smtp.received();
    assert!(
        after[before..]
            .iter()
            .all(|m| !m.subject().unwrap().contains("awaits")),
        "nobody is chased once legal answered: {:?}",
        after[before..]
            .iter()
            .map(|m| m.subject())
            .collect::<Vec<_>>()
    );
    let steps: Vec<Value> = app
        .timeline(id)
        .await
        .into_iter()
        .filter(|e| e["kind"] == "chased")
        .collect();
    assert_eq!(steps.len(), 3, "{steps:#?}");
    assert!(
        steps
            .iter()
            .all(|s| s["data"]["statement"]["id"] == statement_id.as_str())
    );

    let (status, _) = app
        .post(&format!("{path}/publish"), &app.responder, json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    app.settle().await;
    let published: Vec<_> = scheduler
        .seen()
        .into_iter()
        .filter(|request| request.json()["type"] == "statement.published")
        .collect();
    assert_eq!(published.len(), 1);
    let request = &published[0];
    let body = request.json();
    assert_eq!(body["data"]["text"], "We are looking into it.");
    assert_eq!(body["data"]["sha256"], hash.as_str());
    let webhook_id = request.header("webhook-id").unwrap();
    let timestamp: i64 = request
        .header("webhook-timestamp")
        .unwrap()
        .parse()
        .unwrap();
    let signature =
        WebhookSecret::parse(SECRET)
            .unwrap()
            .sign(webhook_id, timestamp, &request.body);
    assert_eq!(
        request.header("webhook-signature"),
        Some(signature.as_str())
    );
    app.stop().await;
}

/// Drafting in the console, the approval page with its diff, approving,
/// and the public page, at phone and desktop width: each page fits a phone
/// without sideways scrolling. Screenshots land in target/screenshots/.
#[tokio::test]
async fn a_statement_walks_from_draft_to_public_page_in_the_browser() {
    use support::browser::Browser;
    let app = TestApp::spawn(Backend::Sqlite).await;
    app.staff
        .add_user(
            "pr-writer@example.com",
            tocsin::auth::Role::Responder,
            &tocsin::domain::Actor::operator("test"),
        )
        .await
        .unwrap();
    let incident = app.trigger("account-hijack", "high").await;
    let id = incident["id"].as_str().unwrap().to_owned();
    let browser = Browser::start().await;

    // Sign in as PR, by the emailed link.
    browser.goto(&app.url("/")).await;
    browser.fill("#email", "pr-writer@example.com").await;
    browser.click("button[type=submit]").await;
    let sign_in = mail_for(&app, "pr-writer@example.com", "").await;
    let link = sign_in
        .links()
        .into_iter()
        .find(|l| l.contains("/sign-in/"))
        .unwrap();
    browser.goto(&link).await;
    browser.click("#sign-in").await;
    browser.wait_for_text("h1", "Incidents", WAIT).await;

    // Draft, then a second version, then submit.
    browser.goto(&app.url(&format!("/incidents/{id}"))).await;
    browser
        .fill(
            "#draft-text",
            "Our Twitter account was taken over. We are on it.",
        )
        .await;
    browser.fill("#draft-channels", "twitter, website").await;
    browser.click("button[value=draft_statement]").await;
    browser
        .wait_for_text("#statements", "Statement 1", WAIT)
        .await;
    browser.click("#statement-1 details summary").await;
    browser
        .fill(
            "#edit-text-1",
            "Our Twitter account was taken over last night. We have it back.",
        )
        .await;
    browser.click("button[value=edit_statement]").await;
    browser
        .wait_for_text("#statement-1", "version 2", WAIT)
        .await;
    browser.click("button[value=submit_statement]").await;
    browser
        .wait_for_text("#statement-1", "Awaiting Legal and financial", WAIT)
        .await;
    for (width, height, name) in [(1280, 900, "desktop"), (390, 844, "phone")] {
        browser.resize(width, height).await;
        assert_eq!(
            browser.overflow_x().await,
            0,
            "the incident page fits a {name}"
        );
        browser
            .screenshot(&format!("statement-console-{name}"))
            .await;
    }

    // Legal's head opens the request on a phone: the diff, then approves.
    let request = mail_for(&app, "legal-head@example.com", "Approve statement 1").await;
    browser.goto(&request.links()[0]).await;
    browser
        .wait_for_text("details", "What changed since version 1", WAIT)
        .await;
    let diff = browser.text("p.diff").await;
    assert!(
        diff.contains("removed:") && diff.contains("added:"),
        "{diff}"
    );
    assert!(
        diff.contains("last night") && diff.contains("have"),
        "{diff}"
    );
    assert_eq!(
        browser.overflow_x().await,
        0,
        "the approval page fits a phone"
    );
    browser.screenshot("statement-approval-phone").await;
    browser.resize(1280, 900).await;
    browser.screenshot("statement-approval-desktop").await;
    browser.click("button[value=approve]").await;
    browser.wait_for_text("main", "Approved.", WAIT).await;
    browser.screenshot("statement-approved").await;

    // PR publishes; the public page reads well on both.
    browser.goto(&app.url(&format!("/incidents/{id}"))).await;
    browser.click("button[value=publish_statement]").await;
    browser
        .wait_for_text("#statement-1", "published", WAIT)
        .await;
    browser
        .goto(&app.url(&format!("/public/incidents/{id}/statements")))
        .await;
    browser
        .wait_for_text("main", "We have it back.", WAIT)
        .await;
    for (width, height, name) in [(1280, 900, "desktop"), (390, 844, "phone")] {
        browser.resize(width, height).await;
        assert_eq!(
            browser.overflow_x().await,
            0,
            "the public page fits a {name}"
        );
        browser
            .screenshot(&format!("statement-public-{name}"))
            .await;
    }
    browser.close().await;
    app.stop().await;
}
