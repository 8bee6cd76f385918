//! Several `tocsin serve` processes on one PostgreSQL database, one of them
//! killed with SIGKILL mid-run, with the default delivery lease and
//! heartbeat: every timer still fires exactly once, and every message is
//! delivered, within 20 seconds of the kill, and none twice.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::json;
use support::process::{BIN, Server};
use support::smtp::SmtpServer;
use support::{Backend, TestDatabase};

fn run(env: &[(&str, &str)], args: &[&str]) -> String {
    let out = Command::new(BIN)
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("run tocsin");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(tocsin_postgres_tests), ignore = "needs TOCSIN_TEST_POSTGRES_URL")]
async fn two_replicas_one_killed_every_timer_once_every_message_delivered() {
    let backend = Backend::postgres();
    let database = TestDatabase::create(&backend).await;
    let smtp = SmtpServer::start().await;
    // Each message takes a second to be taken, so that the replica killed
    // is killed mid-send, holding messages.
    smtp.set_delay(Duration::from_secs(1));
    // Seconds instead of minutes: the whole ladder climbs in about ten seconds.
    let (_dir, playbooks) = support::drill_playbooks("2s", "4s");
    let workdir = tempfile::tempdir().unwrap();
    let smtp_url = smtp.url();
    let playbooks = playbooks.display().to_string();
    let env = [
        ("TOCSIN_DATABASE_URL", database.url.as_str()),
        ("TOCSIN_SMTP_URL", smtp_url.as_str()),
        ("TOCSIN_PLAYBOOKS", playbooks.as_str()),
    ];
    run(&env, &["migrate"]);
    let token = run(
        &env,
        &[
            "token",
            "create",
            "--role",
            "responder",
            "--name",
            "drill-bot",
        ],
    );
    let first = Server::start(workdir.path(), &env);
    let second = Server::start(workdir.path(), &env);

    let client = reqwest::Client::new();
    let mut incidents = Vec::new();
    for i in 0..6 {
        let addr = if i % 2 == 0 {
            &first.addr
        } else {
            &second.addr
        };
        let response = client.post(format!("http://{addr}/api/v1/incidents"))
            .bearer_auth(&token)
            .json(&json!({"title": format!("Drill {i}"), "scenario": "drill", "severity": "low", "summary": "s"}))
            .send().await.unwrap();
        assert_eq!(response.status(), 201);
        let body: serde_json::Value = response.json().await.unwrap();
        incidents.push(body["id"].as_str().unwrap().to_owned());
    }
    // Kill one replica while reminders are falling due and mail is in flight.
    tokio::time::sleep(Duration::from_millis(2300)).await;
    first.kill();
    let killed = Instant::now();

    let pool = sqlx::PgPool::connect(&database.url).await.unwrap();
    let deadline = killed + Duration::from_secs(20);
    loop {
        let pending: i64 = sqlx::query_scalar(
            "SELECT (SELECT COUNT(*) FROM timers WHERE status = 'pending') \
             + (SELECT COUNT(*) FROM outbox WHERE status = 'pending')",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        if pending == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{pending} timers or messages still pending 20 s after the kill"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let drained = killed.elapsed();

    // Every rung of every ladder fired exactly once.
    let chased: Vec<(uuid::Uuid, serde_json::Value)> =
        sqlx::query_as("SELECT incident_id, data FROM events WHERE kind = 'chased'")
            .fetch_all(&pool)
            .await
            .unwrap();
    let mut rungs: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for (incident, data) in &chased {
        let key = format!(
            "{incident}/{}/{}/{}",
            data["department"], data["task_id"], data["purpose"]
        );
        rungs
            .entry(key)
            .or_default()
            .push(data["stage"].as_i64().unwrap());
    }
    assert_eq!(
        rungs.len(),
        incidents.len() * 4,
        "two departments, each chased to acknowledge and to finish"
    );
    for (ladder, mut stages) in rungs {
        stages.sort();
        assert_eq!(stages, [0, 1, 2], "{ladder}");
    }
    let timers: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM timers WHERE status = 'done'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(timers, incidents.len() as i64 * 4);

    // Every message went out, once. The only copy that may come twice is
    // one the killed replica had sent and not yet recorded: its first copy
    // arrived before the kill (a send cut off by the kill never arrives,
    // its sender having hung up), and the repeat carries the same
    // Message-ID for the receiver to drop.
    let outbox: Vec<(uuid::Uuid, String, i64)> =
        sqlx::query_as("SELECT id, status, attempts FROM outbox")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert!(
        outbox.iter().all(|(_, status, _)| status == "sent"),
        "{outbox:?}"
    );
    let expected: BTreeSet<String> = outbox
        .iter()
        .map(|(id, _, _)| format!("<{id}@127.0.0.1>"))
        .collect();
    let received = smtp.received();
    let mut copies: BTreeMap<String, Vec<Instant>> = BTreeMap::new();
    for mail in &received {
        copies
            .entry(mail.header("Message-ID").unwrap())
            .or_default()
            .push(mail.arrived);
    }
    assert_eq!(copies.keys().cloned().collect::<BTreeSet<_>>(), expected);
    // The kill is seen by the SMTP server a moment after the process is gone.
    let before_kill = killed + Duration::from_millis(100);
    let mut repeats = 0;
    for (id, arrived) in &copies {
        if arrived.len() > 1 {
            assert_eq!(arrived.len(), 2, "{id} sent {} times", arrived.len());
            assert!(
                arrived[0] < before_kill,
                "{id} sent twice, by live replicas"
            );
            repeats += 1;
        }
    }
    // The kill caught the replica holding messages, so the lease was what
    // let them go: claimed again by the survivor.
    let reclaimed = outbox
        .iter()
        .filter(|(_, _, attempts)| *attempts > 1)
        .count();
    assert!(
        reclaimed > 0,
        "the killed replica held no message: {outbox:?}"
    );
    let last = received.iter().map(|mail| mail.arrived).max().unwrap();
    let delivered = last.saturating_duration_since(killed);
    assert!(delivered < Duration::from_secs(20), "{delivered:?}");
    eprintln!(
        "{} messages, {} timers; {reclaimed} held by the killed replica and sent by the other; \
         the last delivered {delivered:.1?} after the kill (all recorded after {drained:.1?}); \
         {repeats} sent before the kill and again after it",
        copies.len(),
        timers
    );
    second.terminate();
    pool.close().await;
}
