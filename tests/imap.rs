//! Replies read from a hosted mailbox by IMAP: a real dovecot on loopback
//! holds the mailbox, the head's mail is read from the test SMTP server, and
//! the reply, threaded by `In-Reply-To` alone (as Exchange delivers it, with
//! no sub-address), is appended to the mailbox as a mail server would.

mod support;

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;
use support::dovecot::Dovecot;
use support::smtp::Received;
use support::{Backend, Options, TestApp, TestDatabase};
use tocsin::config::ImapMailbox;
use tocsin::inbound::imap::{LEASE, Timing};

const WAIT: Duration = Duration::from_secs(20);

/// Dovecot, or `None` when it is not installed outside CI (the test then
/// says so and passes); in CI its absence fails the test.
fn dovecot() -> Option<Dovecot> {
    if Dovecot::installed() {
        return Some(Dovecot::start());
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "dovecot is not installed: .ci/run installs dovecot-imapd"
    );
    eprintln!("SKIPPED: dovecot is not installed (apt-get install dovecot-imapd)");
    None
}

fn options(dovecot: &Dovecot, timing: Timing) -> Options {
    let mailbox = ImapMailbox::parse(&dovecot.url()).expect("the IMAP URL");
    Options {
        adjust: Box::new(move |settings| settings.imap = Some(mailbox)),
        imap: timing,
        ..Options::default()
    }
}

fn pr_head_mail(mails: &[Received]) -> &Received {
    mails
        .iter()
        .find(|mail| mail.rcpt_to.iter().any(|to| to == "pr-head@example.com"))
        .expect("a mail to the PR head")
}

/// A reply to `mail` that names its key only in `In-Reply-To` and
/// `References`: sent to the bare reply address, no `Delivered-To`.
fn exchange_reply(mail: &Received, text: &str) -> Vec<u8> {
    let original = mail.header("Message-ID").expect("a Message-ID");
    let id = format!("{}@exchange.example.net", uuid::Uuid::new_v4());
    format!(
        "From: pr-head@example.com\r\nTo: replies@reply.example.com\r\nSubject: RE: crisis\r\n\
         Message-ID: <{id}>\r\nIn-Reply-To: {original}\r\nReferences: {original}\r\n\
         Date: Wed, 02 Dec 2026 21:04:00 +0100\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n"
    )
    .into_bytes()
}

async fn reply_events(app: &TestApp, id: &str) -> Vec<Value> {
    app.timeline(id)
        .await
        .into_iter()
        .filter(|event| event["kind"] == "reply_received")
        .collect()
}

/// Waits until the incident's PR department is acknowledged.
async fn acknowledged(app: &TestApp, id: &str) -> Value {
    department_acknowledged(app, id, "pr").await
}

async fn department_acknowledged(app: &TestApp, id: &str, department: &str) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let (status, incident) = app
            .get(&format!("/api/v1/incidents/{id}"), &app.legal)
            .await;
        assert_eq!(status, StatusCode::OK);
        let pr = incident["departments"]
            .as_array()
            .unwrap()
            .iter()
            .find(|dept| dept["department"] == department)
            .unwrap()
            .clone();
        if pr["acknowledged_at"].is_string() {
            return pr;
        }
        assert!(
            Instant::now() < deadline,
            "{department} never acknowledged: {pr}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until every message in the mailbox is `\Seen`, and returns their flags.
async fn all_seen(dovecot: &Dovecot, count: usize) -> Vec<Vec<String>> {
    let deadline = Instant::now() + WAIT;
    loop {
        let flags = dovecot.flags().await;
        if flags.len() == count && flags.iter().all(|flags| flags.iter().any(|f| f == "Seen")) {
            return flags;
        }
        assert!(Instant::now() < deadline, "not all seen: {flags:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn a_reply_in_the_mailbox_acknowledges_once_however_often_it_arrives(backend: Backend) {
    let Some(dovecot) = dovecot() else { return };
    let database = TestDatabase::create(&backend).await;
    // A short lease, renewed often: the end shows IDLE renews it.
    let timing = Timing {
        lease: Duration::from_secs(1),
        renew: Duration::from_millis(200),
        ..Timing::default()
    };
    let app = TestApp::spawn_with(database, options(&dovecot, timing)).await;
    let incident = app.trigger("account-hijack", "high").await;
    let id = incident["id"].as_str().unwrap().to_owned();
    let heads = incident["departments"].as_array().unwrap().len();
    let mails = app.smtp.wait_for(heads, WAIT).await;
    let reply = exchange_reply(pr_head_mail(&mails), "OK, on it");

    dovecot.append(&reply).await;
    let pr = acknowledged(&app, &id).await;
    assert_eq!(pr["acknowledged_by"], "reply:pr-head@example.com");
    let events = reply_events(&app, &id).await;
    assert_eq!(events.len(), 1, "{events:#?}");
    let data = &events[0]["data"];
    assert_eq!(data["intake"], "imap");
    assert_eq!(data["peer"], "imap:127.0.0.1/INBOX");
    assert_eq!(data["acted"], true);
    assert_eq!(data["read_as"], "acknowledge");
    let flags = all_seen(&dovecot, 1).await;
    assert!(!flags[0].iter().any(|f| f == "Flagged"), "{flags:?}");

    // The same message again (a second copy, as a redelivery leaves it):
    // read, marked, and nothing more recorded. Mail answering no key is
    // marked too, and flagged for a person, so that neither comes back.
    dovecot.append(&reply).await;
    dovecot
        .append(
            b"From: someone@example.net\r\nTo: replies@reply.example.com\r\n\
              Subject: hello\r\nMessage-ID: <stray@example.net>\r\n\r\nAnyone there?\r\n",
        )
        .await;
    let flags = all_seen(&dovecot, 3).await;
    assert!(!flags[1].iter().any(|f| f == "Flagged"), "{flags:?}");
    assert!(flags[2].iter().any(|f| f == "Flagged"), "{flags:?}");
    assert_eq!(reply_events(&app, &id).await.len(), 1);

    // A mailbox that keeps sub-addresses says where the mail went in
    // Delivered-To: that key acts, with no threading headers at all.
    let (department, head) = incident["departments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|dept| {
            (
                dept["department"].as_str().unwrap().to_owned(),
                dept["head"]["email"].as_str().unwrap().to_owned(),
            )
        })
        .find(|(department, _)| department != "pr")
        .expect("a second department");
    let mail = mails
        .iter()
        .find(|mail| mail.rcpt_to.contains(&head))
        .expect("the second head's mail");
    let keyed = mail.header("Reply-To").expect("a Reply-To");
    let keyed = keyed.trim().trim_start_matches('<').trim_end_matches('>');
    dovecot
        .append(
            format!(
                "Delivered-To: {keyed}\r\nFrom: {head}\r\nTo: replies@reply.example.com\r\nSubject: ack\r\n\
                 Message-ID: <{}@phone.example.net>\r\n\r\nack\r\n",
                uuid::Uuid::new_v4()
            )
            .as_bytes(),
        )
        .await;
    department_acknowledged(&app, &id, &department).await;
    // Bigger than the SMTP listener takes: never fetched, flagged.
    let mut big = b"From: someone@example.net\r\nSubject: pictures\r\n\r\n".to_vec();
    big.resize(big.len() + 10 * 1024 * 1024 + 1, b'a');
    dovecot.append(&big).await;
    let flags = all_seen(&dovecot, 5).await;
    assert!(!flags[3].iter().any(|f| f == "Flagged"), "{flags:?}");
    assert!(flags[4].iter().any(|f| f == "Flagged"), "{flags:?}");
    assert_eq!(reply_events(&app, &id).await.len(), 2);

    // The poller, idle on the mailbox for longer than its lease lasts,
    // still holds it: no other replica may poll.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let now = chrono::Utc::now();
    let taken = app
        .store
        .hold_lease(
            LEASE,
            "another-replica",
            now,
            now + chrono::Duration::minutes(1),
        )
        .await
        .unwrap();
    assert!(!taken, "the running poller holds the lease");
    app.stop().await;
}

with_each_backend!(a_reply_in_the_mailbox_acknowledges_once_however_often_it_arrives);

/// Two replicas on one database read one mailbox. A lease that expires at
/// once lets both poll side by side, the overlap the lease exists to
/// avoid: both see the message, and still one event is recorded.
#[tokio::test]
#[cfg_attr(not(tocsin_postgres_tests), ignore = "needs TOCSIN_TEST_POSTGRES_URL")]
async fn two_replicas_racing_for_one_mailbox_record_one_event() {
    let Some(dovecot) = dovecot() else { return };
    let backend = Backend::postgres();
    let database = TestDatabase::create(&backend).await;
    let shared = database.share();
    let overlapping = Timing {
        lease: Duration::ZERO,
        renew: Duration::from_millis(200),
        poll: Duration::from_millis(200),
        backoff_max: Duration::from_secs(1),
    };
    let smtp = std::sync::Arc::new(support::smtp::SmtpServer::start().await);
    let replica = |smtp: &std::sync::Arc<support::smtp::SmtpServer>| Options {
        smtp: Some(std::sync::Arc::clone(smtp)),
        ..options(&dovecot, overlapping)
    };
    let first = TestApp::spawn_with(database, replica(&smtp)).await;
    let second = TestApp::spawn_with(shared, replica(&smtp)).await;
    let incident = first.trigger("account-hijack", "high").await;
    let id = incident["id"].as_str().unwrap().to_owned();
    let heads = incident["departments"].as_array().unwrap().len();
    let mails = smtp.wait_for(heads, WAIT).await;
    // Both replicas are polling (each has taken the lease at least once).
    tokio::time::sleep(Duration::from_millis(500)).await;

    dovecot
        .append(&exchange_reply(pr_head_mail(&mails), "OK"))
        .await;
    acknowledged(&first, &id).await;
    all_seen(&dovecot, 1).await;
    // Give the slower replica time to have taken it too.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let events = reply_events(&first, &id).await;
    assert_eq!(events.len(), 1, "{events:#?}");
    assert_eq!(events[0]["data"]["intake"], "imap");
    second.stop().await;
    first.stop().await;
}
