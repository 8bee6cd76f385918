//! Reads that cost the same in a year as on the first day: every statement
//! the server runs while people and workers use it (captured from sqlx's
//! own log, not listed by hand) is planned by the database itself, and none
//! may read a whole table that grows with history. Each statement must find
//! its rows through an index; a list of everything (the purge log) is
//! bounded by what it returns, and said so below.

mod support;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use support::{Backend, ErrorLog, ManualClock, Options, TestApp, TestDatabase};

/// Tables that grow with every incident, message, chase and sign-in.
const GROWING: &[&str] = &[
    "incidents",
    "incident_departments",
    "tasks",
    "events",
    "outbox",
    "timers",
    "link_tokens",
    "inbound_messages",
    "idempotency_keys",
    "sessions",
    "sign_in_links",
    "signal_keys",
    "signal_confirmations",
];

with_each_backend!(no_request_reads_a_whole_growing_table);

/// SQLite runs each connection on a thread of its own, which the test's
/// thread-local log does not hear: a process-wide one catches its
/// statements, and the tests take turns so that each reads only its own.
fn worker_threads_log() -> &'static ErrorLog {
    static LOG: OnceLock<ErrorLog> = OnceLock::new();
    LOG.get_or_init(|| {
        let log = ErrorLog::default();
        let subscriber = tracing_subscriber::layer::SubscriberExt::with(
            tracing_subscriber::registry(),
            log.clone(),
        );
        tracing::subscriber::set_global_default(subscriber).expect("the only global subscriber");
        log
    })
}

async fn no_request_reads_a_whole_growing_table(backend: Backend) {
    static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let _turn = ONE_AT_A_TIME.lock().await;
    let threads = worker_threads_log();
    threads.2.lock().unwrap().clear();
    // Seconds-long deadlines: the chaser climbs while the test runs.
    let (_dir, playbooks) = support::drill_playbooks("1m", "2m");
    std::fs::create_dir_all(playbooks.join("signals")).unwrap();
    std::fs::write(
        playbooks.join("signals/alarms.toml"),
        "title = \"Alarms\"\n[[rule]]\ncontains_any = [\"down\"]\nscenario = \"drill\"\n\
         severity = \"high\"\n[default]\nscenario = \"drill\"\nseverity = \"low\"\n\
         confirm_first = true\n",
    )
    .unwrap();
    let clock = ManualClock::starting_now();
    let options = Options {
        clock: Some(Arc::clone(&clock)),
        playbooks,
        ..Options::default()
    };
    let app = TestApp::spawn_with(TestDatabase::create(&backend).await, options).await;
    use_it_as_people_do(&app, &clock).await;

    let mut statements = app.errors.statements();
    statements.extend(threads.statements());
    statements.retain(|statement| is_a_query(statement) && touches_growing_table(statement));
    statements.sort();
    statements.dedup();
    assert!(
        statements.len() > 40,
        "too few statements captured: {statements:#?}"
    );
    let mut reads_everything = Vec::new();
    for statement in &statements {
        let plan = plan(&app.database.url, statement).await;
        let scanned: Vec<&&str> = GROWING
            .iter()
            .filter(|table| scans(&app.database.url, statement, &plan, table))
            .collect();
        if std::env::var("TOCSIN_SHOW_PLANS").is_ok() {
            eprintln!("{statement}\n{plan}\n");
        }
        if !scanned.is_empty() {
            reads_everything.push(format!("{statement}\n  scans {scanned:?}:\n{plan}"));
        }
    }
    assert!(
        reads_everything.is_empty(),
        "statements that read a whole growing table:\n\n{}",
        reads_everything.join("\n\n")
    );
    app.stop().await;
}

/// A day of use: incidents triggered, read, listed and paged, answered by
/// link and by API, chased, resolved, exported, purged; the console used;
/// the probes scraped.
async fn use_it_as_people_do(app: &TestApp, clock: &ManualClock) {
    let mut ids = Vec::new();
    for n in 0..12 {
        let incident = app
            .trigger("drill", ["low", "high", "critical"][n % 3])
            .await;
        ids.push(incident["id"].as_str().unwrap().to_owned());
    }
    app.settle().await;
    // Links from the mails: a page shown, an item acknowledged.
    let link = app.smtp.received()[0].links()[1].clone();
    app.client.get(&link).send().await.unwrap();
    let (status, page) = support::press(&app.client, &link, "acknowledge").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    // A head answers by replying to a mail, and a bounce comes back.
    let mail = app.smtp.received()[1].clone();
    let original = mail.header("Message-ID").unwrap();
    let to = mail.header("Reply-To").unwrap();
    let to = to.trim_matches(['<', '>', ' ']);
    let reply = format!(
        "From: {}\r\nTo: {to}\r\nSubject: Re\r\nMessage-ID: <r1@phone.example>\r\n\
         In-Reply-To: {original}\r\n\r\nOK\r\n",
        mail.rcpt_to[0]
    );
    app.mail_in(Some(&mail.rcpt_to[0]), to, reply.as_bytes())
        .await
        .expect("a reply is taken");
    let bounce = format!(
        "From: MAILER-DAEMON@mx.example\r\nTo: {to}\r\nSubject: Undelivered\r\n\
         Message-ID: <b1@mx.example>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\r\n\r\n\
         --b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example\r\n\r\n\
         Final-Recipient: rfc822; {}\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n\
         --b\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: {original}\r\n\r\n--b--\r\n",
        mail.rcpt_to[0]
    );
    app.mail_in(None, to, bounce.as_bytes())
        .await
        .expect("a bounce is taken");
    // The API: reads, lists and pages, actions.
    let first = &ids[0];
    for path in [
        format!("/api/v1/incidents/{first}"),
        "/api/v1/incidents?limit=5".to_owned(),
        "/api/v1/incidents?status=open&severity=high".to_owned(),
        "/api/v1/incidents?severity=critical".to_owned(),
        format!("/api/v1/incidents/{first}/timeline"),
        format!("/api/v1/incidents/{first}/timeline/verify"),
        "/api/v1/purge-log".to_owned(),
    ] {
        let (status, body) = app.get(&path, &app.legal).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
    }
    let csv = app
        .client
        .get(app.url(&format!("/api/v1/incidents/{first}/timeline?format=csv")))
        .bearer_auth(&app.legal)
        .send()
        .await
        .unwrap();
    assert_eq!(csv.status(), StatusCode::OK);
    let (_, page) = app.get("/api/v1/incidents?limit=5", &app.legal).await;
    let next = page["next"].as_str().unwrap();
    let (status, _) = app
        .get(
            &format!("/api/v1/incidents?limit=5&cursor={next}"),
            &app.legal,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let second = &ids[1];
    for (path, body) in [
        (
            format!("/api/v1/incidents/{second}/notes"),
            json!({"text": "Press called"}),
        ),
        (
            format!("/api/v1/incidents/{second}/departments/pr/acknowledge"),
            json!({}),
        ),
        (
            format!("/api/v1/incidents/{second}/severity"),
            json!({"severity": "critical", "reason": "Spreading"}),
        ),
        (
            format!("/api/v1/incidents/{second}/resolve"),
            json!({"force": true, "reason": "Contained"}),
        ),
    ] {
        let (status, answer) = app.post(&path, &app.responder, body).await;
        assert_eq!(status, StatusCode::OK, "{path}: {answer}");
    }
    let (status, _) = app
        .client
        .post(app.url("/api/v1/incidents"))
        .bearer_auth(&app.responder)
        .header("idempotency-key", "plans-1")
        .json(&json!({"title": "Again", "scenario": "drill", "severity": "low", "summary": "x"}))
        .send()
        .await
        .map(|r| (r.status(), ()))
        .unwrap();
    assert_eq!(status, StatusCode::CREATED);
    // Signals: one opens, its repeat joins, one waits for the commander,
    // who opens the mailed link and confirms; the first is resolved, and
    // purged below with its key.
    let signal =
        |key: &str, title: &str| json!({"source": "alarms", "dedup_key": key, "title": title});
    let (status, opened) = app
        .post(
            "/api/v1/signals",
            &app.responder,
            signal("site", "Site down"),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{opened}");
    let (status, _) = app
        .post(
            "/api/v1/signals",
            &app.responder,
            signal("site", "Site down"),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app
        .post(
            "/api/v1/signals",
            &app.responder,
            signal("noise", "Mentions"),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let confirm = loop {
        let found = app
            .smtp
            .received()
            .iter()
            .flat_map(|mail| mail.links())
            .find(|link| link.contains("/signals/confirm/"));
        if let Some(link) = found {
            break link;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    app.client.get(&confirm).send().await.unwrap();
    let (status, page) = support::press(&app.client, &confirm, "confirm").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let opened = opened["incident"]["id"].as_str().unwrap();
    let (status, answer) = app
        .post(
            &format!("/api/v1/incidents/{opened}/resolve"),
            &app.responder,
            json!({"force": true, "reason": "Back up"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    // The chaser climbs, the deliveries go, the resolved incident is purged.
    for _ in 0..3 {
        clock.advance(chrono::Duration::minutes(2));
        tokio::time::sleep(Duration::from_millis(150)).await;
        app.settle().await;
    }
    clock.advance(chrono::Duration::hours(2));
    app.engine
        .purge(Duration::from_secs(3600))
        .await
        .expect("purge");
    // The console and the probes.
    let user = app
        .staff
        .add_user(
            "ops@example.com",
            tocsin::auth::Role::Admin,
            &tocsin::domain::Actor::operator("test"),
        )
        .await
        .unwrap();
    let sign_in = app.staff.sign_in_link(&user).await.unwrap();
    let secret = sign_in.rsplit('/').next().unwrap();
    let (session, _) = app.staff.sign_in(secret).await.unwrap().unwrap();
    let cookie = format!("tocsin_session={session}");
    for path in [
        "/".to_owned(),
        format!("/incidents/{first}"),
        format!("/incidents/{first}/timeline"),
        "/readyz".to_owned(),
        "/metrics".to_owned(),
    ] {
        let response = app
            .client
            .get(app.url(&path))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "{path}: {}",
            response.status()
        );
    }
}

/// Reads and writes of rows; not the schema's migrations, nor transactions.
fn is_a_query(statement: &str) -> bool {
    let first = statement
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_uppercase();
    ["SELECT", "UPDATE", "DELETE", "INSERT", "WITH"].contains(&first.as_str())
}

fn touches_growing_table(statement: &str) -> bool {
    let words: Vec<String> = statement
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .map(str::to_lowercase)
        .collect();
    GROWING.iter().any(|table| words.iter().any(|w| w == table))
}

/// The database's plan for a statement, as text: SQLite's `EXPLAIN QUERY
/// PLAN`; PostgreSQL's generic plan (the one for any parameters), with
/// sequential scans discouraged so that an index is used wherever one can
/// be: tables this small would otherwise be scanned whatever the indexes.
async fn plan(url: &str, statement: &str) -> String {
    use sqlx::Connection;
    if url.starts_with("sqlite:") {
        let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
        let rows: Vec<(i64, i64, i64, String)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "EXPLAIN QUERY PLAN {statement}"
        )))
        .fetch_all(&mut conn)
        .await
        .unwrap_or_else(|error| panic!("{statement}: {error}"));
        rows.into_iter()
            .map(|(_, _, _, detail)| detail)
            .collect::<Vec<_>>()
            .join("\n")
    } else {
        let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
        // Multi-row statements bind hundreds of parameters.
        let parameters = (1..)
            .take_while(|n| statement.contains(&format!("${n}")))
            .map(|_| "NULL")
            .collect::<Vec<_>>()
            .join(", ");
        for setup in [
            "SET enable_seqscan = off".to_owned(),
            "SET plan_cache_mode = force_generic_plan".to_owned(),
            format!("PREPARE planned AS {statement}"),
        ] {
            sqlx::raw_sql(sqlx::AssertSqlSafe(setup))
                .execute(&mut conn)
                .await
                .unwrap_or_else(|error| panic!("{statement}: {error}"));
        }
        let explain = if parameters.is_empty() {
            "EXPLAIN EXECUTE planned".to_owned()
        } else {
            format!("EXPLAIN EXECUTE planned({parameters})")
        };
        let rows: Vec<(String,)> = sqlx::query_as(sqlx::AssertSqlSafe(explain))
            .fetch_all(&mut conn)
            .await
            .unwrap_or_else(|error| panic!("{statement}: {error}"));
        rows.into_iter()
            .map(|(line,)| line)
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Whether the plan reads `table` whole, or all its rows of one status:
/// that is bounded by history too, unless the status is work in flight
/// (messages pending, incidents open).
fn scans(url: &str, statement: &str, plan: &str, table: &str) -> bool {
    let in_flight = match table {
        "outbox" => statement.contains("status = 'pending'"),
        "incidents" => statement.contains("status = 'open'"),
        _ => false,
    };
    plan.lines().any(|line| {
        let line = line.trim_start_matches([' ', '-', '>']);
        if url.starts_with("sqlite:") {
            // `SCAN t` reads every row; `SEARCH t USING INDEX i (x=?)` the
            // rows where x is given.
            let scan =
                line == format!("SCAN {table}") || line.starts_with(&format!("SCAN {table} "));
            let by_status_alone =
                line.starts_with(&format!("SEARCH {table} ")) && line.ends_with("(status=?)");
            scan || (by_status_alone && !in_flight)
        } else {
            line.starts_with(&format!("Seq Scan on {table} "))
                || line == format!("Seq Scan on {table}")
        }
    })
}
