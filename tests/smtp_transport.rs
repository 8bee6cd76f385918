//! tocsin's SMTP transport against the test SMTP server: messages on one
//! connection do not wait on delayed ACKs, concurrent sends share a bounded
//! pool, and asking for TLS never falls back to plain text.

mod support;

use std::time::{Duration, Instant};

use lettre::Message;
use tocsin::delivery::email::Mailer;

use support::smtp::SmtpServer;

fn message(n: usize) -> Message {
    Message::builder()
        .from("tocsin <tocsin@example.com>".parse().expect("from"))
        .to(format!("head-{n}@example.com").parse().expect("to"))
        .subject(format!("Message {n}"))
        .body(format!("Body of message {n}.\r\n"))
        .expect("message")
}

#[tokio::test]
async fn messages_on_one_connection_do_not_wait_for_delayed_acks() {
    let server = SmtpServer::start().await;
    let mailer = Mailer::smtp(&server.url()).expect("mailer");
    mailer.send(message(0)).await.expect("first message");
    // Before TCP_NODELAY each message took ~40 ms (a delayed ACK): 30
    // messages took over 1.2 s. Now they take a few milliseconds in all.
    let count = 30;
    let started = Instant::now();
    for n in 1..=count {
        let receipt = mailer.send(message(n)).await.expect("send");
        assert!(receipt.starts_with("250 "), "{receipt}");
    }
    let elapsed = started.elapsed();
    server.wait_for(count + 1, Duration::from_secs(5)).await;
    assert!(
        elapsed < Duration::from_millis(600),
        "{count} sequential messages took {elapsed:?}"
    );
}

#[tokio::test]
async fn concurrent_sends_all_arrive() {
    let server = SmtpServer::start().await;
    let mailer = Mailer::smtp(&server.url()).expect("mailer");
    let sends = (0..40).map(|n| mailer.send(message(n)));
    for result in futures_util::future::join_all(sends).await {
        result.expect("send");
    }
    let received = server.wait_for(40, Duration::from_secs(5)).await;
    let mut recipients: Vec<String> = received.iter().map(|m| m.rcpt_to.join(",")).collect();
    recipients.sort();
    recipients.dedup();
    assert_eq!(recipients.len(), 40);
}

#[tokio::test]
async fn a_refused_message_does_not_spoil_the_next() {
    let server = SmtpServer::start().await;
    let mailer = Mailer::smtp(&server.url()).expect("mailer");
    server.fail_next(1, "550 5.1.1 no such user");
    let failure = mailer.send(message(1)).await.expect_err("refused");
    assert!(!failure.retryable, "{failure:?}");
    server.fail_next(1, "451 4.3.0 try again later");
    let failure = mailer.send(message(2)).await.expect_err("deferred");
    assert!(failure.retryable, "{failure:?}");
    mailer.send(message(3)).await.expect("accepted");
    assert_eq!(server.received().len(), 1);
}

#[tokio::test]
async fn asking_for_tls_never_falls_back_to_plain_text() {
    let server = SmtpServer::start().await;
    // The test server speaks plain SMTP and offers no STARTTLS.
    for url in [
        format!("smtps://127.0.0.1:{}", server.port()),
        format!("smtp://127.0.0.1:{}?tls=required", server.port()),
        format!("smtps://user:secret@127.0.0.1:{}", server.port()),
    ] {
        let mailer = Mailer::smtp(&url).expect("mailer");
        let failure = tokio::time::timeout(Duration::from_secs(10), mailer.send(message(1)))
            .await
            .expect("fails promptly")
            .expect_err("no TLS, no delivery");
        assert!(failure.retryable, "{url}: {failure:?}");
    }
    assert!(server.received().is_empty());
}

#[test]
fn bad_urls_are_refused_with_the_password_redacted() {
    let error = Mailer::smtp("imap://user:hunter2@mail.example.com")
        .err()
        .expect("refused");
    let text = error.to_string();
    assert!(!text.contains("hunter2"), "{text}");
    assert!(text.contains("unknown scheme"), "{text}");
}
