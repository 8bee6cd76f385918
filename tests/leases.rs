//! Delivery that never waits on a dead worker and never doubles a live
//! one: leases are short and renewed while a send is alive, a worker that
//! lost its lease stops and records nothing, a commit made while a worker
//! is busy goes out at once, and a failed attempt's links die when the
//! retry mints new ones.

mod support;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;
use support::smtp::{Received, SmtpServer};
use support::{Backend, Options, TestApp, TestDatabase};
use tocsin::domain::EventData;
use tocsin::store::{Attempt, AttemptOutcome};

const WAIT: Duration = Duration::from_secs(20);
/// A head in every incident these tests open, whose mailbox is made slow.
const SLOW: &str = "legal-head@example.com";

with_each_backend!(
    a_slow_live_send_outlasting_its_lease_is_sent_once,
    a_worker_that_lost_its_lease_mid_send_stops_and_records_nothing,
    a_commit_made_while_the_worker_is_busy_goes_out_at_once,
    a_failed_attempts_links_stop_working_once_the_retry_mints_new_ones,
);

fn heads(incident: &Value) -> Vec<String> {
    let heads = support::heads(incident);
    assert!(heads.iter().any(|head| head == SLOW), "{heads:?}");
    heads
}

fn mail_to<'a>(mails: &'a [Received], address: &str) -> Vec<&'a Received> {
    mails
        .iter()
        .filter(|mail| mail.rcpt_to.iter().any(|to| to == address))
        .collect()
}

fn message_ids(mails: &[Received]) -> Vec<String> {
    mails
        .iter()
        .map(|mail| mail.header("Message-ID").expect("a Message-ID"))
        .collect()
}

/// A server whose lease is a second, renewed four times a second.
fn short_lease(settings: &mut tocsin::config::Settings) {
    settings.delivery_lease = Duration::from_secs(1);
    settings.delivery_heartbeat = Duration::from_millis(250);
}

async fn a_slow_live_send_outlasting_its_lease_is_sent_once(backend: Backend) {
    let smtp = Arc::new(SmtpServer::start().await);
    // Three leases long: without renewal, the other worker takes it twice.
    smtp.set_delay_for(SLOW, Duration::from_secs(3));
    let options = Options {
        smtp: Some(Arc::clone(&smtp)),
        workers: 2,
        adjust: Box::new(short_lease),
        ..Options::default()
    };
    let app = TestApp::spawn_with(TestDatabase::create(&backend).await, options).await;
    // Before the trigger: a worker may begin the slow send before its answer returns.
    let started = Instant::now();
    let incident = app.trigger("share-price-threat", "low").await;
    let id = incident["id"].as_str().expect("id");
    let n = heads(&incident).len();
    smtp.wait_for(n, WAIT).await;
    assert!(
        started.elapsed() >= Duration::from_secs(3),
        "the slow mailbox took its time"
    );
    app.settle().await;
    // Long enough for a second worker's copy to arrive, had one been sent.
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let received = smtp.received();
    let ids: BTreeSet<String> = message_ids(&received).into_iter().collect();
    assert_eq!((received.len(), ids.len()), (n, n), "each message once");
    let (status, body) = app
        .get(&format!("/api/v1/incidents/{id}"), &app.legal)
        .await;
    assert_eq!(status, StatusCode::OK);
    for message in body["messages"].as_array().expect("messages") {
        assert_eq!(message["status"], "sent", "{message}");
        assert_eq!(message["attempts"], 1, "never claimed again: {message}");
    }
    let timeline = app.timeline(id).await;
    let sent = timeline
        .iter()
        .filter(|event| event["kind"] == "message_sent")
        .count();
    assert_eq!(sent, n);
    assert!(
        !timeline
            .iter()
            .any(|event| event["kind"] == "message_failed")
    );
    app.stop().await;
}

async fn a_worker_that_lost_its_lease_mid_send_stops_and_records_nothing(backend: Backend) {
    let smtp = Arc::new(SmtpServer::start().await);
    smtp.set_delay_for(SLOW, Duration::from_secs(4));
    let options = Options {
        smtp: Some(Arc::clone(&smtp)),
        workers: 0,
        adjust: Box::new(short_lease),
        ..Options::default()
    };
    let app = TestApp::spawn_with(TestDatabase::create(&backend).await, options).await;
    let incident = app.trigger("share-price-threat", "low").await;
    let incident_id: uuid::Uuid = incident["id"].as_str().expect("id").parse().expect("uuid");
    let n = heads(&incident).len();
    let delivery = Arc::clone(&app.delivery);
    let started = Instant::now();
    let pass = tokio::spawn(async move { delivery.step().await });
    smtp.wait_for(n - 1, WAIT).await;
    // Every other message recorded: only the slow one is still held.
    let deadline = Instant::now() + WAIT;
    let slow = loop {
        let messages = app.store.messages(incident_id).await.expect("messages");
        if messages.iter().filter(|m| m.status == "sent").count() == n - 1 {
            break messages
                .into_iter()
                .find(|m| m.recipient == SLOW)
                .expect("the slow head's message");
        }
        assert!(Instant::now() < deadline, "{messages:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(slow.status, "pending");

    // Another worker takes it, as one whose clock says the lease ran out
    // would (the database, say, was out of reach of the first).
    let other = uuid::Uuid::now_v7();
    let later = chrono::Utc::now() + chrono::Duration::seconds(30);
    let taken = app
        .store
        .claim_messages(other, later, later + chrono::Duration::seconds(60), 16)
        .await
        .expect("claim");
    let taken: Vec<uuid::Uuid> = taken
        .into_iter()
        .map(|message| message.expect("readable").id)
        .collect();
    assert_eq!(taken, [slow.id]);

    // The first worker hears of it at its next heartbeat and stops, long
    // before the slow mailbox would have answered.
    let step = tokio::time::timeout(Duration::from_secs(2), pass)
        .await
        .expect("the pass stops at the next heartbeat")
        .expect("the pass did not panic")
        .expect("the pass ran");
    assert_eq!((step.claimed, step.sent), (n, n - 1));
    assert!(started.elapsed() < Duration::from_secs(4));
    assert!(
        app.errors
            .lines()
            .iter()
            .any(|line| line.contains("lease lost mid-send") && line.contains(&slow.id.to_string())),
        "{:#?}",
        app.errors.lines()
    );

    // The other worker records its own attempt; nothing of the first one
    // stands in its way or overwrites it.
    let at = chrono::Utc::now();
    let recorded = app
        .store
        .record_attempt(&Attempt {
            message_id: slow.id,
            claim: other,
            incident_id,
            at,
            outcome: AttemptOutcome::Sent {
                receipt: "250 sent by the other worker".into(),
            },
            event: EventData::MessageSent {
                message_id: slow.id,
                channel: "email".into(),
                recipient: SLOW.into(),
                attempt: 2,
                receipt: "250 sent by the other worker".into(),
            },
        })
        .await
        .expect("record");
    assert!(recorded, "the other worker's claim held");

    // Past the slow mailbox's delay: the first worker's copy never went
    // out (it hung up before the server acknowledged it).
    tokio::time::sleep(
        Duration::from_secs(4).saturating_sub(started.elapsed()) + Duration::from_millis(500),
    )
    .await;
    assert_eq!(mail_to(&smtp.received(), SLOW).len(), 0);
    assert_eq!(smtp.received().len(), n - 1);
    let messages = app.store.messages(incident_id).await.expect("messages");
    let after = messages
        .iter()
        .find(|m| m.id == slow.id)
        .expect("the message");
    assert_eq!(after.status, "sent");
    assert_eq!(
        after.receipt.as_deref(),
        Some("250 sent by the other worker")
    );
    assert_eq!(after.last_error, None);
    let timeline = app.timeline(&incident_id.to_string()).await;
    let about_slow: Vec<&Value> = timeline
        .iter()
        .filter(|event| event["data"]["message_id"] == slow.id.to_string())
        .collect();
    assert_eq!(about_slow.len(), 1, "{about_slow:#?}");
    assert_eq!(about_slow[0]["kind"], "message_sent");
    assert_eq!(
        about_slow[0]["data"]["receipt"],
        "250 sent by the other worker"
    );
    app.stop().await;
}

async fn a_commit_made_while_the_worker_is_busy_goes_out_at_once(backend: Backend) {
    let smtp = Arc::new(SmtpServer::start().await);
    smtp.set_delay_for(SLOW, Duration::from_secs(5));
    let options = Options {
        smtp: Some(Arc::clone(&smtp)),
        workers: 1,
        // Only a wake-up can bring the second incident's mail in time.
        retry: tocsin::delivery::worker::RetryPolicy {
            poll: Duration::from_secs(60),
            ..support::fast_retries()
        },
        ..Options::default()
    };
    let app = TestApp::spawn_with(TestDatabase::create(&backend).await, options).await;
    let first = app.trigger("share-price-threat", "low").await;
    let n = heads(&first).len();
    smtp.wait_for(n - 1, WAIT).await;
    // The worker is now sending to the slow mailbox for five seconds.
    let committed = Instant::now();
    let second = app.trigger("account-hijack", "high").await;
    let fast: Vec<String> = heads(&second)
        .into_iter()
        .filter(|head| head != SLOW)
        .collect();
    let deadline = committed + Duration::from_secs(2);
    loop {
        let received = smtp.received();
        let arrived = fast
            .iter()
            .filter(|head| {
                mail_to(&received, head).iter().any(|mail| {
                    mail.text()
                        .is_some_and(|text| text.contains("Test account-hijack"))
                })
            })
            .count();
        if arrived == fast.len() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{arrived} of {} heads heard of the second incident within 2 s",
            fast.len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        mail_to(&smtp.received(), SLOW).is_empty(),
        "the slow send was still in flight"
    );
    eprintln!(
        "second incident's mail delivered {:?} after its commit",
        committed.elapsed()
    );
    app.stop().await;
}

async fn a_failed_attempts_links_stop_working_once_the_retry_mints_new_ones(backend: Backend) {
    let smtp = Arc::new(SmtpServer::start().await);
    smtp.fail_next_for(SLOW, 1, "451 4.3.0 try again later");
    let options = Options {
        smtp: Some(Arc::clone(&smtp)),
        ..Options::default()
    };
    let app = TestApp::spawn_with(TestDatabase::create(&backend).await, options).await;
    let incident = app.trigger("share-price-threat", "low").await;
    let n = heads(&incident).len();
    let received = smtp.wait_for(n, WAIT).await;
    app.settle().await;

    let refused = smtp.refused();
    assert_eq!(refused.len(), 1);
    let retry = mail_to(&received, SLOW);
    assert_eq!(retry.len(), 1);
    assert_eq!(message_ids(&refused), message_ids(&[retry[0].clone()]));
    let old = refused[0].links();
    let new = retry[0].links();
    assert!(!old.is_empty());
    assert_eq!(old.len(), new.len());
    assert!(old.iter().all(|link| !new.contains(link)), "fresh links");

    let client = reqwest::Client::new();
    for link in &old {
        let page = client.get(link).send().await.expect("GET");
        assert_eq!(page.status(), StatusCode::NOT_FOUND, "{link}");
        assert!(
            page.text()
                .await
                .expect("page")
                .contains("This link is not valid")
        );
        let (status, _) = support::press(&client, link, "acknowledge").await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{link}");
    }
    for link in &new {
        let page = client.get(link).send().await.expect("GET");
        assert_eq!(page.status(), StatusCode::OK, "{link}");
    }
    // Others' links were never touched.
    for mail in received
        .iter()
        .filter(|mail| !mail.rcpt_to.iter().any(|to| to == SLOW))
    {
        let page = client.get(&mail.links()[0]).send().await.expect("GET");
        assert_eq!(page.status(), StatusCode::OK);
    }
    // The head acknowledges through the retry's email, as a person would.
    let (status, page) = support::press(&client, &new[0], "acknowledge").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    app.stop().await;
}
