//! Notifications as their recipients live them: real mail arrives at a real
//! SMTP server, people follow its links (GET the page, POST its form), and
//! machines that fetch every link change nothing.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use support::smtp::Received;
use support::submit as press;
use support::{Backend, Options, TestApp, TestDatabase, browser, heads, page, task};

const WAIT: Duration = Duration::from_secs(20);

fn mail_to<'a>(mails: &'a [Received], address: &str) -> Vec<&'a Received> {
    mails
        .iter()
        .filter(|mail| mail.rcpt_to.iter().any(|to| to == address))
        .collect()
}

async fn incident_of(app: &TestApp, id: &str) -> Value {
    let (status, incident) = app
        .get(&format!("/api/v1/incidents/{id}"), &app.legal)
        .await;
    assert_eq!(status, StatusCode::OK);
    incident
}

on_each_backend! {
    async fn every_engaged_head_gets_one_email_with_a_link_per_item(app) {
        let incident = app.trigger("account-hijack", "high").await;
        let id = incident["id"].as_str().unwrap();
        let reference = incident["reference"].as_str().unwrap();
        let heads = heads(&incident);
        let mails = app.smtp.wait_for(heads.len(), WAIT).await;
        app.settle().await;
        assert_eq!(mails.len(), heads.len());
        for (dept, head) in incident["departments"].as_array().unwrap().iter().zip(&heads) {
            let to_head = mail_to(&mails, head);
            assert_eq!(to_head.len(), 1, "one email for {head}");
            let mail = to_head[0];
            let subject = mail.subject().unwrap();
            assert!(subject.contains(reference) && subject.contains("[HIGH]"), "{subject}");
            assert_eq!(mail.mail_from, "tocsin@example.com");
            let text = mail.text().unwrap();
            assert!(text.contains("Test account-hijack") && text.contains("Raised by the test suite."));
            let html = mail.html().unwrap();
            assert!(html.contains("Open this item"));
            let open_tasks = dept["tasks"].as_array().unwrap().len();
            assert_eq!(mail.links().len(), open_tasks + 1, "a link per item and one for the department");
            for title in dept["tasks"].as_array().unwrap().iter().map(|t| t["title"].as_str().unwrap()) {
                assert!(text.contains(title), "{title} missing from the email");
            }
            // Threads with every other mail about the incident.
            let root = format!("<incident-{id}@127.0.0.1>");
            assert_eq!(mail.header("In-Reply-To").unwrap(), root);
            assert_eq!(mail.header("References").unwrap(), root);
            assert!(mail.header("Message-ID").unwrap().ends_with("@127.0.0.1>"));
            assert_eq!(mail.header("Auto-Submitted").as_deref(), Some("auto-generated"));
        }
        // Each sending is on the timeline with the SMTP server's own reply.
        let sent: Vec<Value> = app.timeline(id).await.into_iter()
            .filter(|event| event["kind"] == "message_sent").collect();
        assert_eq!(sent.len(), heads.len());
        for event in &sent {
            assert!(event["data"]["receipt"].as_str().unwrap().starts_with("250 2.0.0 Ok: queued as"));
            assert_eq!(event["actor"], "system:delivery");
        }
        let after = incident_of(&app, id).await;
        assert!(after["messages"].as_array().unwrap().iter().all(|m| m["status"] == "sent"));
    }

    async fn the_heads_mail_leads_with_what_is_asked_and_names_who_opened_it(app) {
        let incident = app.trigger("account-hijack", "high").await;
        let mails = app.smtp.wait_for(heads(&incident).len(), WAIT).await;
        let mail = mail_to(&mails, "legal-head@example.com")[0];
        let text = mail.text().unwrap();
        // First what is asked, and by when.
        let first = text.lines().next().unwrap();
        assert!(first.starts_with("Acknowledge for Legal and financial: in "), "{text}");
        assert!(first.contains(", by ") && first.ends_with(" UTC."), "{first}");
        // The API token opened it, not the default commander it falls back to.
        assert!(text.contains("Opened by the API token test-responder at "), "{text}");
        assert!(text.contains("Incident commander: Camille Martin"), "{text}");
        assert!(!text.contains("Camille Martin, Head of Social Media has opened"), "{text}");
        // The acknowledgement comes before the checklist, in both parts.
        let links = mail.links();
        let acknowledge = text.find(&links[0]).unwrap();
        let checklist = text.find("CHECKLIST").unwrap();
        assert!(text[..acknowledge].ends_with("Acknowledge for Legal and financial: "), "{text}");
        assert!(acknowledge < checklist && checklist < text.find(&links[1]).unwrap(), "{text}");
        let html = mail.html().unwrap();
        let button = html.find(">Acknowledge for Legal and financial</a>").unwrap();
        assert!(button < html.find("your checklist").unwrap(), "{html}");
        assert!(html.contains("Each link opens a page where you confirm"));
    }

    async fn the_resolution_mail_lists_open_items_apart_from_the_reason(app) {
        let incident = app.trigger("share-price-threat", "low").await;
        let id = incident["id"].as_str().unwrap();
        let opening = app.smtp.wait_for(heads(&incident).len(), WAIT).await.len();
        let (status, body) = app.post(&format!("/api/v1/incidents/{id}/resolve"), &app.responder,
            json!({"force": true, "reason": "Rumour denied by the exchange"})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let everyone = heads(&incident).len() + 1;
        let mails = app.smtp.wait_for(opening + everyone, WAIT).await;
        let open: Vec<String> = incident["departments"].as_array().unwrap().iter()
            .flat_map(|dept| dept["tasks"].as_array().unwrap().iter().map(move |task| {
                format!("  {}: {} (open)", dept["name"].as_str().unwrap(), task["title"].as_str().unwrap())
            }))
            .collect();
        for mail in &mails[opening..] {
            let text = mail.text().unwrap();
            let mut lines = text.lines();
            assert_eq!(lines.next(), Some(format!("The incident is resolved, with {} items still open.", open.len()).as_str()));
            assert_eq!(lines.next(), Some(""));
            assert_eq!(lines.next(), Some("Still open:"));
            let listed: Vec<&str> = lines.by_ref().take(open.len()).collect();
            assert_eq!(listed, open);
            assert_eq!(lines.next(), Some(""));
            assert_eq!(lines.next(), Some("Why it was closed anyway: Rumour denied by the exchange"));
            // Nothing to click: nothing to say about links.
            assert!(mail.links().is_empty(), "{text}");
            assert!(!text.contains("Each link opens a page"), "{text}");
            assert!(!mail.html().unwrap().contains("Each link opens a page"));
        }
    }

    async fn a_head_acknowledges_through_the_link_as_a_person_would(app) {
        let incident = app.trigger("share-price-threat", "medium").await;
        let id = incident["id"].as_str().unwrap();
        let mails = app.smtp.wait_for(heads(&incident).len(), WAIT).await;
        let mail = mail_to(&mails, "legal-head@example.com")[0];
        let first_task = &incident["departments"].as_array().unwrap().iter()
            .find(|d| d["department"] == "legal").unwrap()["tasks"][0];
        // The department's link leads; the items' follow.
        let link = &mail.links()[1];
        let browser = browser();

        let (status, headers, body) = page(&browser, link).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers["referrer-policy"], "no-referrer");
        assert_eq!(headers["cache-control"], "no-store");
        assert!(body.contains(first_task["title"].as_str().unwrap()), "{body}");
        assert!(body.contains("legal-head@example.com"));
        assert!(body.contains("method=\"post\""));
        assert!(!body.contains("<script"), "no script, so nothing submits by itself");
        assert_eq!(task(&incident_of(&app, id).await, first_task["key"].as_str().unwrap())["status"], "open");

        let (status, body) = press(&browser, link, &[("action", "acknowledge")]).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(body.contains("Acknowledged. Thank you."));
        let after = incident_of(&app, id).await;
        let acked = task(&after, first_task["key"].as_str().unwrap());
        assert_eq!(acked["status"], "acknowledged");
        assert_eq!(acked["acknowledged_by"], "link:legal-head@example.com");

        // A second click changes nothing and says who already acted, and when.
        let (status, body) = press(&browser, link, &[("action", "acknowledge")]).await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains("Acknowledged by legal-head@example.com (by email link) at"), "{body}");
        let acks: Vec<Value> = app.changes(id).await.into_iter()
            .filter(|e| e["kind"] == "task_acknowledged").collect();
        assert_eq!(acks.len(), 1);
        let via = &acks[0]["data"]["via"];
        assert_eq!(via["recipient"], "legal-head@example.com");
        assert_eq!(via["ip"], "127.0.0.1");
        assert_eq!(via["user_agent"], "Mail-Test/1.0");

        // Completing, with a note, through the same link.
        let (status, body) = press(&browser, link, &[("action", "complete"), ("note", "Evidence archived")]).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let done = task(&incident_of(&app, id).await, first_task["key"].as_str().unwrap()).clone();
        assert_eq!(done["status"], "done");
        assert_eq!(done["note"], "Evidence archived");
        let (_, body) = press(&browser, link, &[("action", "complete")]).await;
        assert!(body.contains("Done by legal-head@example.com (by email link) at"), "{body}");
        assert!(body.contains("Evidence archived"));

        // The department link acknowledges the department as a whole.
        let department_link = mail.links()[0].clone();
        let (status, body) = press(&browser, &department_link, &[("action", "acknowledge")]).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(body.contains("was acknowledged by"), "{body}");
    }

    async fn scanners_fetching_every_link_change_nothing(app) {
        let incident = app.trigger("social-media-storm", "critical").await;
        let id = incident["id"].as_str().unwrap();
        let mails = app.smtp.wait_for(heads(&incident).len(), WAIT).await;
        app.settle().await;
        let before = incident_of(&app, id).await;
        let timeline = app.timeline(id).await;
        let scanner = browser();
        let links: Vec<String> = mails.iter().flat_map(Received::links).collect();
        assert!(links.len() > 10, "{links:?}");
        for _ in 0..3 {
            for link in &links {
                let get = scanner.get(link).send().await.unwrap();
                assert_eq!(get.status(), StatusCode::OK);
                let head = scanner.head(link).send().await.unwrap();
                assert_eq!(head.status(), StatusCode::OK);
            }
        }
        assert_eq!(incident_of(&app, id).await, before);
        assert_eq!(app.timeline(id).await, timeline);
    }

    async fn a_task_waiting_on_another_department_cannot_be_done_by_link(app) {
        let incident = app.trigger("account-hijack", "medium").await;
        let mails = app.smtp.wait_for(heads(&incident).len(), WAIT).await;
        let mail = mail_to(&mails, "legal-head@example.com")[0];
        // legal/review-statements waits on PR's holding statement.
        let legal = incident["departments"].as_array().unwrap().iter()
            .find(|d| d["department"] == "legal").unwrap();
        let index = legal["tasks"].as_array().unwrap().iter()
            .position(|t| t["key"] == "legal/review-statements").unwrap();
        let link = &mail.links()[index + 1];
        let browser = browser();
        let (_, _, body) = page(&browser, link).await;
        assert!(body.contains("This item waits on"), "{body}");
        assert!(!body.contains("value=\"complete\""), "no button for what cannot be done");
        let (status, body) = press(&browser, link, &[("action", "complete")]).await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        assert!(body.contains("waits on open tasks"));
    }

    async fn unknown_tampered_and_guessed_links_get_a_clear_page(app) {
        let incident = app.trigger("complaint-surge", "low").await;
        let mails = app.smtp.wait_for(heads(&incident).len(), WAIT).await;
        let real = mails[0].links()[0].clone();
        let mut tampered = real.clone();
        let last = tampered.pop().unwrap();
        tampered.push(if last == '0' { '1' } else { '0' });
        let browser = browser();
        for url in [tampered.clone(), app.url("/links/not-a-token"), app.url(&format!("/links/{}", "a".repeat(64)))] {
            let (status, headers, body) = page(&browser, &url).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{url}");
            assert_eq!(headers["content-type"], "text/html; charset=utf-8");
            assert!(body.contains("Unknown link"));
        }
        let (status, _) = press(&browser, &tampered, &[("action", "acknowledge")]).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        // Guessing is throttled per address.
        let mut throttled = false;
        for _ in 0..30 {
            let (status, _, _) = page(&browser, &tampered).await;
            throttled |= status == StatusCode::TOO_MANY_REQUESTS;
        }
        assert!(throttled, "repeated bad tokens are rate limited");
        let (status, _, _) = page(&browser, &real).await;
        assert_eq!(status, StatusCode::OK, "a real link still works");
    }

    async fn a_link_that_is_not_even_text_gets_the_same_clear_page(app) {
        // `%FF` does not decode to UTF-8: still a link page, not an API error.
        let browser = browser();
        let (status, headers, body) = page(&browser, &app.url("/links/%FF%FE")).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(headers["content-type"], "text/html; charset=utf-8");
        assert!(body.contains("Unknown link"), "{body}");
        let (status, body) = press(&browser, &app.url("/links/%FF"), &[("action", "acknowledge")]).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(body.contains("Unknown link"), "{body}");
    }

    async fn status_mail_goes_to_every_head_and_waiting_departments_hear_when_they_can_act(app) {
        let incident = app.trigger("account-hijack", "medium").await;
        let id = incident["id"].as_str().unwrap().to_owned();
        let heads = heads(&incident);
        let mut expected = heads.len();
        app.smtp.wait_for(expected, WAIT).await;

        // PR finishes its assessment: its holding statement becomes actionable.
        let (status, _) = app.post(
            &format!("/api/v1/incidents/{id}/tasks/{}/complete",
                task(&incident, "pr/assess-brand-impact")["id"].as_str().unwrap()),
            &app.responder, json!({})).await;
        assert_eq!(status, StatusCode::OK);
        expected += 1;
        let mails = app.smtp.wait_for(expected, WAIT).await;
        let ready = mails.last().unwrap();
        assert_eq!(ready.rcpt_to, ["pr-head@example.com"]);
        assert!(ready.subject().unwrap().contains("Ready for you: Draft a holding statement"),
            "{:?}", ready.subject());
        assert_eq!(ready.links().len(), 1);

        let (status, _) = app.post(&format!("/api/v1/incidents/{id}/severity"), &app.responder,
            json!({"severity": "critical", "reason": "National press"})).await;
        assert_eq!(status, StatusCode::OK);
        expected += heads.len();
        let mails = app.smtp.wait_for(expected, WAIT).await;
        let severity: Vec<&Received> = mails.iter()
            .filter(|m| m.subject().unwrap().contains("Severity medium to critical")).collect();
        assert_eq!(severity.len(), heads.len());
        assert!(severity[0].text().unwrap().contains("National press"));

        let (status, _) = app.post(&format!("/api/v1/incidents/{id}/resolve"), &app.responder,
            json!({"force": true, "reason": "Account recovered", "summary": "All clear"})).await;
        assert_eq!(status, StatusCode::OK);
        expected += heads.len() + 1; // and the commander
        let mails = app.smtp.wait_for(expected, WAIT).await;
        let resolved: Vec<&Received> = mails.iter()
            .filter(|m| m.subject().unwrap().contains("Resolved:")).collect();
        let mut to: Vec<String> = resolved.iter().flat_map(|m| m.rcpt_to.clone()).collect();
        to.sort();
        let mut everyone = heads.clone();
        everyone.push("social-lead@example.com".into());
        everyone.sort();
        assert_eq!(to, everyone);
        assert!(resolved[0].text().unwrap().contains("All clear"));
        app.settle().await;
        assert_eq!(app.smtp.received().len(), expected, "nothing more than that");
    }

    async fn transient_failures_are_retried_and_delivered_once(app) {
        app.smtp.fail_next(2, "451 4.3.0 try again later");
        let incident = app.trigger("share-price-threat", "low").await;
        let id = incident["id"].as_str().unwrap();
        let n = heads(&incident).len();
        let mails = app.smtp.wait_for(n, WAIT).await;
        app.settle().await;
        let ids: BTreeSet<String> = app.smtp.received().iter()
            .map(|m| m.header("Message-ID").unwrap()).collect();
        assert_eq!(ids.len(), n, "each message once: {mails:?}");
        assert_eq!(app.smtp.received().len(), n);
        let timeline = app.timeline(id).await;
        let failed: Vec<&Value> = timeline.iter().filter(|e| e["kind"] == "message_failed").collect();
        assert_eq!(failed.len(), 2);
        for event in &failed {
            assert!(event["data"]["error"].as_str().unwrap().contains("451"));
            assert!(event["data"]["retry_at"].is_string());
        }
        assert_eq!(timeline.iter().filter(|e| e["kind"] == "message_sent").count(), n);
    }

    async fn permanent_failures_are_marked_failed_not_dropped(app) {
        app.smtp.fail_next(1, "550 5.1.1 no such user");
        let incident = app.trigger("share-price-threat", "low").await;
        let id = incident["id"].as_str().unwrap();
        let n = heads(&incident).len();
        app.smtp.wait_for(n - 1, WAIT).await;
        app.settle().await;
        let after = incident_of(&app, id).await;
        let failed: Vec<&Value> = after["messages"].as_array().unwrap().iter()
            .filter(|m| m["status"] == "failed").collect();
        assert_eq!(failed.len(), 1);
        assert!(failed[0]["last_error"].as_str().unwrap().contains("550"));
        assert_eq!(failed[0]["attempts"], 1, "a permanent refusal is not retried");
        let gave_up: Vec<Value> = app.timeline(id).await.into_iter()
            .filter(|e| e["kind"] == "message_failed").collect();
        assert_eq!(gave_up.len(), 1);
        assert_eq!(gave_up[0]["data"]["retry_at"], Value::Null);
        assert_eq!(app.smtp.received().len(), n - 1);
    }
}

with_each_backend!(
    deadlines_are_also_in_the_organisations_time_zone,
    a_restart_between_commit_and_send_loses_nothing,
    eight_workers_deliver_each_message_exactly_once,
    links_expire_after_resolution_and_grace,
);

async fn deadlines_are_also_in_the_organisations_time_zone(backend: Backend) {
    let (_dir, playbooks) = support::playbooks_copy();
    let path = playbooks.join("organisation.toml");
    let organisation = std::fs::read_to_string(&path).unwrap().replacen(
        "name = \"Example Corp\"\n",
        "name = \"Example Corp\"\ntimezone = \"Asia/Tokyo\"\n",
        1,
    );
    std::fs::write(&path, organisation).unwrap();
    let app = TestApp::spawn_on(TestDatabase::create(&backend).await, &playbooks).await;
    let incident = app.trigger("account-hijack", "high").await;
    let mails = app.smtp.wait_for(heads(&incident).len(), WAIT).await;
    let legal = incident["departments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["department"] == "legal")
        .unwrap();
    let due = legal["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|task| {
            task["ack_due_at"]
                .as_str()
                .unwrap()
                .parse::<chrono::DateTime<chrono::Utc>>()
                .unwrap()
        })
        .min()
        .unwrap();
    let text = mail_to(&mails, "legal-head@example.com")[0].text().unwrap();
    let first = text.lines().next().unwrap();
    // Tokyo has no summer time: JST all year.
    let local = due
        .with_timezone(&chrono_tz::Asia::Tokyo)
        .format("%H:%M JST")
        .to_string();
    let utc = due.format("%H:%M UTC").to_string();
    assert!(
        first.contains(&local) && first.contains(&utc),
        "{local}, {utc}: {first}"
    );
    app.stop().await;
}

async fn a_restart_between_commit_and_send_loses_nothing(backend: Backend) {
    let database = TestDatabase::create(&backend).await;
    let app = TestApp::spawn_with(
        database,
        Options {
            workers: 0,
            ..Options::default()
        },
    )
    .await;
    let smtp = std::sync::Arc::clone(&app.smtp);
    let incident = app.trigger("complaint-surge", "high").await;
    let n = heads(&incident).len();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(smtp.received().is_empty(), "committed, not yet sent");
    let database = app.stop().await;

    let app = TestApp::spawn_with(
        database,
        Options {
            smtp: Some(smtp),
            ..Options::default()
        },
    )
    .await;
    let mails = app.smtp.wait_for(n, WAIT).await;
    app.settle().await;
    let ids: BTreeSet<String> = app
        .smtp
        .received()
        .iter()
        .map(|m| m.header("Message-ID").unwrap())
        .collect();
    assert_eq!((ids.len(), app.smtp.received().len()), (n, n), "{mails:?}");
    app.stop().await;
}

async fn eight_workers_deliver_each_message_exactly_once(backend: Backend) {
    let database = TestDatabase::create(&backend).await;
    let app = TestApp::spawn_with(
        database,
        Options {
            workers: 0,
            ..Options::default()
        },
    )
    .await;
    let mut total = 0;
    for _ in 0..80 {
        total += heads(&app.trigger("complaint-surge", "low").await).len();
    }
    assert!(total >= 200, "{total} messages");
    let workers: Vec<_> = (0..8)
        .map(|_| {
            let delivery = std::sync::Arc::clone(&app.delivery);
            let store = std::sync::Arc::clone(&app.store);
            tokio::spawn(async move {
                let mut delivered = 0;
                while store.outbox_depth().await.unwrap() > 0 {
                    delivered += delivery.step().await.unwrap().sent;
                }
                delivered
            })
        })
        .collect();
    let mut delivered = 0;
    for worker in workers {
        delivered += worker.await.unwrap();
    }
    assert_eq!(delivered, total);
    let received = app.smtp.received();
    let ids: BTreeSet<String> = received
        .iter()
        .map(|m| m.header("Message-ID").unwrap())
        .collect();
    assert_eq!(
        (received.len(), ids.len()),
        (total, total),
        "every message exactly once"
    );
    app.stop().await;
}

async fn links_expire_after_resolution_and_grace(backend: Backend) {
    let database = TestDatabase::create(&backend).await;
    let options = Options {
        adjust: Box::new(|settings| settings.link_grace = chrono::Duration::zero()),
        ..Options::default()
    };
    let app = TestApp::spawn_with(database, options).await;
    let incident = app.trigger("complaint-surge", "low").await;
    let mails = app.smtp.wait_for(heads(&incident).len(), WAIT).await;
    let link = mails[0].links()[0].clone();
    let (status, _, _) = page(&browser(), &link).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app
        .post(
            &format!(
                "/api/v1/incidents/{}/resolve",
                incident["id"].as_str().unwrap()
            ),
            &app.responder,
            json!({"force": true, "reason": "done"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, body) = page(&browser(), &link).await;
    assert_eq!(status, StatusCode::GONE);
    assert!(body.contains("expired"));
    app.stop().await;
}

/// A message row this release cannot read (a notice kind written by a newer
/// release, as during a rolling upgrade or after a rollback) for incident
/// `id`, due at once.
async fn unreadable_message(app: &TestApp, id: &str) -> uuid::Uuid {
    let message = uuid::Uuid::now_v7();
    let url = &app.database.url;
    let (message_literal, incident_literal, notice) = if url.starts_with("sqlite:") {
        let blob = |id: uuid::Uuid| format!("X'{}'", id.simple());
        (
            blob(message),
            blob(id.parse().unwrap()),
            "'{\"kind\":\"statement_approval_requested\"}'".to_owned(),
        )
    } else {
        (
            format!("'{message}'::uuid"),
            format!("'{id}'::uuid"),
            "'{\"kind\":\"statement_approval_requested\"}'::jsonb".to_owned(),
        )
    };
    let insert = format!(
        "INSERT INTO outbox (id, incident_id, channel, recipient, department, notice, status, \
         attempts, next_attempt_at, created_at) SELECT {message_literal}, incident_id, channel, \
         recipient, department, {notice}, 'pending', 0, created_at, created_at FROM outbox \
         WHERE incident_id = {incident_literal} LIMIT 1"
    );
    assert_eq!(support::database::raw(url, &[&insert]).await.unwrap(), 1);
    message
}

on_each_backend! {
    async fn an_unreadable_message_holds_back_no_other(app) {
        let first = app.trigger("account-hijack", "high").await;
        let first_id = first["id"].as_str().unwrap().to_owned();
        let mut expected = heads(&first).len();
        app.smtp.wait_for(expected, WAIT).await;
        app.settle().await;
        let bad = unreadable_message(&app, &first_id).await;

        let second = app.trigger("complaint-surge", "low").await;
        expected += heads(&second).len();
        app.smtp.wait_for(expected, WAIT).await;
        app.settle().await;
        assert_eq!(app.smtp.received().len(), expected, "every readable message went out");

        let (_, incident) = app.get(&format!("/api/v1/incidents/{first_id}"), &app.legal).await;
        let message = incident["messages"].as_array().unwrap().iter()
            .find(|m| m["id"] == bad.to_string()).expect("the unreadable message is listed");
        assert_eq!(message["status"], "failed", "{message}");
        let failed = app.timeline(&first_id).await.into_iter()
            .find(|e| e["kind"] == "message_failed" && e["data"]["message_id"] == bad.to_string())
            .expect("its failure is on the timeline");
        let reason = failed["data"]["error"].as_str().unwrap();
        assert!(reason.contains("cannot read the stored message") && reason.contains("statement_approval_requested"), "{reason}");
        assert_eq!(failed["data"]["retry_at"], Value::Null);
        let logged = app.errors.take_expected("message quarantined");
        assert_eq!(logged.len(), 1, "{logged:?}");
        let (status, ready) = app.get("/readyz", &app.legal).await;
        assert_eq!((status, &ready["status"]), (StatusCode::OK, &json!("ready")), "{ready}");
    }
}

with_each_backend!(a_stalled_outbox_is_reported);

/// Nobody delivers (no worker runs anywhere): once a due message has waited
/// two minutes, readiness says so (still serving) and so does a metric.
async fn a_stalled_outbox_is_reported(backend: Backend) {
    let clock = support::ManualClock::starting_now();
    let options = Options {
        clock: Some(std::sync::Arc::clone(&clock)),
        workers: 0,
        ..Options::default()
    };
    let app = TestApp::spawn_with(TestDatabase::create(&backend).await, options).await;
    app.trigger("account-hijack", "high").await;
    let stalled_metric = || async {
        let text = app
            .client
            .get(app.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .find(|l| l.starts_with("tocsin_outbox_stalled "))
            .map(str::to_owned)
    };
    let (_, ready) = app.get("/readyz", &app.legal).await;
    assert_eq!(ready["status"], "ready", "just queued: {ready}");
    assert_eq!(
        stalled_metric().await.as_deref(),
        Some("tocsin_outbox_stalled 0")
    );

    clock.advance(chrono::Duration::minutes(3));
    let (status, ready) = app.get("/readyz", &app.legal).await;
    assert_eq!(status, StatusCode::OK, "still serving: {ready}");
    assert_eq!(ready["status"], "degraded", "{ready}");
    assert_eq!(ready["checks"]["outbox_flowing"], false, "{ready}");
    assert_eq!(
        stalled_metric().await.as_deref(),
        Some("tocsin_outbox_stalled 1")
    );

    while app.delivery.step().await.unwrap().claimed > 0 {}
    let (_, ready) = app.get("/readyz", &app.legal).await;
    assert_eq!(ready["status"], "ready", "delivered: {ready}");
    assert_eq!(
        stalled_metric().await.as_deref(),
        Some("tocsin_outbox_stalled 0")
    );
    app.stop().await;
}

/// Behind a proxy the operator trusts, the timeline records the client's
/// address and guessing is throttled per client; from any other peer, a
/// forwarding header is only a claim, and ignored.
#[tokio::test]
async fn behind_a_trusted_proxy_the_client_address_is_the_forwarded_one() {
    for trusted in [None, Some("127.0.0.0/8")] {
        let options = Options {
            adjust: Box::new(move |settings| {
                settings.trusted_proxies = trusted
                    .map(|net| vec![net.parse().unwrap()])
                    .unwrap_or_default();
            }),
            ..Options::default()
        };
        let app = TestApp::spawn_with(TestDatabase::create(&Backend::Sqlite).await, options).await;
        let incident = app.trigger("account-hijack", "high").await;
        let id = incident["id"].as_str().unwrap();
        let mails = app.smtp.wait_for(heads(&incident).len(), WAIT).await;
        let link = mail_to(&mails, "legal-head@example.com")[0].links()[1].clone();

        // The client wrote a hop of its own first; the proxy appended the real one.
        let response = browser()
            .post(&link)
            .header("x-forwarded-for", "198.51.100.1, 203.0.113.7")
            .header("content-type", "application/x-www-form-urlencoded")
            .body("action=acknowledge")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let ack = app
            .changes(id)
            .await
            .into_iter()
            .find(|e| e["kind"] == "task_acknowledged")
            .expect("acknowledged");
        let expected = if trusted.is_some() {
            "203.0.113.7"
        } else {
            "127.0.0.1"
        };
        assert_eq!(ack["data"]["via"]["ip"], expected, "trusting {trusted:?}");

        // Bad tokens: one client is throttled; behind the proxy, another is not.
        let bad = app.url(&format!("/links/{}", "b".repeat(64)));
        let from =
            |client: &'static str| browser().get(&bad).header("x-forwarded-for", client).send();
        let mut throttled = false;
        for _ in 0..30 {
            throttled |=
                from("203.0.113.50").await.unwrap().status() == StatusCode::TOO_MANY_REQUESTS;
        }
        assert!(throttled, "guessing is throttled");
        let other = from("203.0.113.51").await.unwrap().status();
        match trusted {
            Some(_) => assert_eq!(
                other,
                StatusCode::NOT_FOUND,
                "another client has its own allowance"
            ),
            None => assert_eq!(
                other,
                StatusCode::TOO_MANY_REQUESTS,
                "a header does not buy a new allowance"
            ),
        }
        app.stop().await;
    }
}
