//! Notification latency and SMTP throughput.
//!
//! (a) Trigger to the last notification accepted by a local SMTP server, for
//!     an incident engaging all five departments (`social-media-storm`,
//!     `critical`, the shipped playbooks): p50 and p99. Target: p50 < 25 ms,
//!     p99 < 100 ms.
//! (b) Fan-out: 1,000 emails through tocsin's `Mailer` (its pool, and the
//!     delivery worker's concurrency), as a ratio to a bare lettre
//!     connection sending the same messages one after another. Target: 0.8+.
//! (c) One connection, one message after another: lettre 0.11's own pooled
//!     transport (no `TCP_NODELAY`) against tocsin's `Mailer`.
//!
//! `cargo bench --bench notify` (`TOCSIN_BENCH_TRIGGERS`, default 50).

mod common;

use std::time::{Duration, Instant};

use common::support::smtp::SmtpServer;
use common::{Backend, Database, median, ms, quantile};
use futures_util::StreamExt;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use tocsin::delivery::email::Mailer;
use tocsin::delivery::worker::RetryPolicy;

const FAN_OUT: usize = 1_000;
const RUNS: usize = 5;

fn main() {
    let runtime = common::runtime();
    runtime.block_on(async {
        println!("# notify (2 shared cores; medians of repeated runs)");
        trigger_to_last_email().await;
        fan_out().await;
        one_connection().await;
    });
}

async fn trigger_to_last_email() {
    let triggers: usize = std::env::var("TOCSIN_BENCH_TRIGGERS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(50);
    let database = Database::create(&Backend::Sqlite).await;
    let app = common::start(database, &common::playbooks_dir(), None).await;
    let mut latencies = Vec::new();
    let mut emails = 0;
    for round in 0..triggers + 5 {
        let before = app.smtp.received().len();
        let started = Instant::now();
        let incident = app.trigger("social-media-storm", "critical").await;
        emails = common::departments(&incident);
        assert_eq!(emails, 5, "social-media-storm engages all five departments");
        app.smtp
            .wait_for(before + emails, Duration::from_secs(30))
            .await;
        let elapsed = started.elapsed();
        app.settle().await;
        // The first few warm the pool, the caches and the database.
        if round >= 5 {
            latencies.push(ms(elapsed));
        }
    }
    assert_eq!(app.smtp.received().len(), (triggers + 5) * emails);
    println!(
        "(a) trigger -> last of {emails} emails accepted, SQLite, {triggers} triggers: \
         p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms (target p50 < 25 ms, p99 < 100 ms)",
        quantile(&latencies, 0.5),
        quantile(&latencies, 0.99),
        quantile(&latencies, 1.0),
    );
    app.stop().await;
}

/// tocsin's way: the `Mailer` with its pool, driven with the delivery
/// worker's concurrency.
async fn through_mailer(mailer: &Mailer, messages: &[Message]) -> Duration {
    let concurrency = RetryPolicy::default().concurrency;
    let started = Instant::now();
    let results: Vec<_> = futures_util::stream::iter(messages.iter().cloned())
        .map(|message| mailer.send(message))
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let elapsed = started.elapsed();
    for result in results {
        result.expect("mailer send");
    }
    elapsed
}

async fn fan_out() {
    let server = SmtpServer::start().await;
    let messages = common::sample_messages(FAN_OUT);
    let mailer = Mailer::smtp(&server.url()).expect("mailer");
    // Warm both paths once.
    common::bare_smtp(&server, &messages[..50]).await;
    through_mailer(&mailer, &messages[..50]).await;
    let (mut bare, mut pooled, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..RUNS {
        let bare_rate = FAN_OUT as f64 / common::bare_smtp(&server, &messages).await.as_secs_f64();
        let pooled_rate = FAN_OUT as f64 / through_mailer(&mailer, &messages).await.as_secs_f64();
        bare.push(bare_rate);
        pooled.push(pooled_rate);
        ratios.push(pooled_rate / bare_rate);
    }
    assert_eq!(server.received().len(), 100 + 2 * RUNS * FAN_OUT);
    println!(
        "(b) fan-out of {FAN_OUT} emails, median of {RUNS}: tocsin Mailer {:.0}/s, \
         bare lettre connection {:.0}/s, ratio {:.2} (target 0.8 or more)",
        median(&pooled),
        median(&bare),
        median(&ratios),
    );
    // Before: lettre 0.11's pooled transport as tocsin configured it.
    let stock = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(server.port())
        .pool_config(lettre::transport::smtp::PoolConfig::new().max_size(8))
        .build();
    let concurrency = RetryPolicy::default().concurrency;
    let started = Instant::now();
    let results: Vec<_> = futures_util::stream::iter(messages.iter().cloned())
        .map(|message| stock.send(message))
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let stock_rate = FAN_OUT as f64 / started.elapsed().as_secs_f64();
    assert!(results.iter().all(Result::is_ok));
    println!(
        "    before, lettre 0.11 pooled transport (max 8 idle, {concurrency} at once): \
         {stock_rate:.0}/s, ratio {:.2}",
        stock_rate / median(&bare),
    );
}

async fn one_connection() {
    let server = SmtpServer::start().await;
    let count = 100;
    let messages = common::sample_messages(count);
    let sequential = |elapsed: Duration| count as f64 / elapsed.as_secs_f64();

    let stock = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(server.port())
        .pool_config(lettre::transport::smtp::PoolConfig::new().max_size(1))
        .build();
    stock.send(messages[0].clone()).await.expect("warm");
    let started = Instant::now();
    for message in &messages {
        stock.send(message.clone()).await.expect("stock send");
    }
    let stock_rate = sequential(started.elapsed());

    let mailer = Mailer::smtp(&server.url()).expect("mailer");
    mailer.send(messages[0].clone()).await.expect("warm");
    let (mut rates, mut bare) = (Vec::new(), Vec::new());
    for _ in 0..RUNS {
        bare.push(sequential(common::bare_smtp(&server, &messages).await));
        let started = Instant::now();
        for message in &messages {
            mailer.send(message.clone()).await.expect("mailer send");
        }
        rates.push(sequential(started.elapsed()));
    }
    println!(
        "(c) one connection, {count} messages one after another: lettre 0.11 pooled \
         transport {stock_rate:.0}/s; tocsin Mailer (TCP_NODELAY) {:.0}/s; bare lettre \
         connection with TCP_NODELAY {:.0}/s",
        median(&rates),
        median(&bare),
    );
}
