//! Several `tocsin serve` processes on one PostgreSQL database, one of them
//! killed with SIGKILL mid-run: every timer still fires exactly once, and
//! every message is delivered.

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
    // Seconds instead of minutes: the whole ladder climbs in about ten seconds.
    let (_dir, playbooks) = support::drill_playbooks("2s", "4s");
    let workdir = tempfile::tempdir().unwrap();
    let smtp_url = smtp.url();
    let playbooks = playbooks.display().to_string();
    let env = [
        ("TOCSIN_DATABASE_URL", database.url.as_str()),
        ("TOCSIN_SMTP_URL", smtp_url.as_str()),
        ("TOCSIN_PLAYBOOKS", playbooks.as_str()),
        ("TOCSIN_DELIVERY_LEASE", "3s"),
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

    let pool = sqlx::PgPool::connect(&database.url).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
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
            "{pending} timers or messages still pending"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

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

    // Every message went out; a repeat (sent just before the kill, recorded
    // by nobody) carries the same Message-ID for the receiver to drop.
    let outbox: Vec<(uuid::Uuid, String)> = sqlx::query_as("SELECT id, status FROM outbox")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert!(
        outbox.iter().all(|(_, status)| status == "sent"),
        "{outbox:?}"
    );
    let expected: BTreeSet<String> = outbox
        .iter()
        .map(|(id, _)| format!("<{id}@127.0.0.1>"))
        .collect();
    let received = smtp.received();
    let ids: BTreeSet<String> = received
        .iter()
        .map(|m| m.header("Message-ID").unwrap())
        .collect();
    assert_eq!(ids, expected);
    let repeats = received.len() - ids.len();
    assert!(
        repeats <= 8,
        "at most what the killed replica had in flight: {repeats}"
    );
    eprintln!(
        "{} messages, {} timers, {repeats} repeated after the kill",
        ids.len(),
        timers
    );
    second.terminate();
    pool.close().await;
}
