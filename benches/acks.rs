//! Acknowledgements per second through the link page's POST
//! (`POST /links/{token}`, `action=acknowledge`), with tokens taken from
//! delivered emails, many distinct tasks across many incidents; as a ratio
//! to the raw single-row insert-and-commit rate of the same database in the
//! same run (SQLite in WAL mode on one connection; PostgreSQL with 8
//! connections). Target: 0.7.
//!
//! `cargo bench --bench acks`; with `TOCSIN_BENCH_POSTGRES_URL` (a server
//! URL; a fresh database is created and dropped) PostgreSQL too.

mod common;

use std::str::FromStr;
use std::time::{Duration, Instant};

use common::{Backend, Database, median};
use futures_util::StreamExt;

/// Incidents triggered per run; each `social-media-storm`/`critical` one
/// mails every task link of five departments.
const INCIDENTS: usize = 30;
/// Link clicks in flight at once, like many people clicking together.
const CLIENTS: usize = 8;
const RAW_INSERTS: usize = 2_000;
const RUNS: usize = 3;

fn main() {
    let runtime = common::runtime();
    runtime.block_on(async {
        println!("# acks (2 shared cores; medians of {RUNS} runs)");
        for backend in Backend::all() {
            let (mut acks, mut raws, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
            let mut count = 0;
            for _ in 0..RUNS {
                let database = Database::create(&backend).await;
                let (rate, n, database) = acknowledgements(database).await;
                let raw = raw_inserts(&backend, &database).await;
                drop(database);
                count = n;
                acks.push(rate);
                raws.push(raw);
                ratios.push(rate / raw);
            }
            println!(
                "{}: {count} link acknowledgements, {CLIENTS} at once: {:.0}/s; raw single-row \
                 insert+commit {:.0}/s; ratio {:.2} (target 0.7)",
                backend.name(),
                median(&acks),
                median(&raws),
                median(&ratios),
            );
        }
    });
}

/// Triggers incidents, gathers every task link from the emails, then
/// presses "acknowledge" on each once; returns (acks per second, count).
async fn acknowledgements(database: Database) -> (f64, usize, Database) {
    let app = common::start(database, &common::playbooks_dir(), None).await;
    let mut expected = 0;
    for _ in 0..INCIDENTS {
        let incident = app.trigger("social-media-storm", "critical").await;
        expected += common::departments(&incident);
    }
    let mails = app.smtp.wait_for(expected, Duration::from_secs(120)).await;
    app.settle().await;
    // Each opening email: a link per item, then one for the department.
    let links: Vec<String> = mails
        .iter()
        .flat_map(|mail| {
            let mut links = mail.links();
            links.pop();
            links
        })
        .collect();
    let count = links.len();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(CLIENTS)
        .build()
        .expect("client");
    let started = Instant::now();
    let answers: Vec<(reqwest::StatusCode, String)> = futures_util::stream::iter(links)
        .map(|link| {
            let client = client.clone();
            async move {
                let response = client
                    .post(&link)
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body("action=acknowledge")
                    .send()
                    .await
                    .expect("POST link");
                let status = response.status();
                (status, response.text().await.expect("link page"))
            }
        })
        .buffer_unordered(CLIENTS)
        .collect()
        .await;
    let elapsed = started.elapsed();
    for (status, body) in &answers {
        assert_eq!(*status, reqwest::StatusCode::OK, "{body}");
        assert!(body.contains("Acknowledged"), "{body}");
    }
    app.settle().await;
    let database = app.stop().await;
    (count as f64 / elapsed.as_secs_f64(), count, database)
}

/// The database's own pace: single-row INSERTs, each its own commit.
async fn raw_inserts(backend: &Backend, database: &Database) -> f64 {
    const CREATE: &str =
        "CREATE TABLE bench_raw (id BIGINT PRIMARY KEY, at TEXT NOT NULL, payload TEXT NOT NULL)";
    const INSERT: &str = "INSERT INTO bench_raw (id, at, payload) VALUES ($1, $2, $3)";
    let payload = "x".repeat(200);
    match backend {
        Backend::Sqlite => {
            // The same settings as tocsin's SQLite store.
            let path = database.dir.path().join("raw.db");
            let options = sqlx::sqlite::SqliteConnectOptions::from_str(&format!(
                "sqlite://{}",
                path.display()
            ))
            .expect("options")
            .create_if_missing(true)
            .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
            .synchronous(sqlx::sqlite::SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5));
            let pool = sqlx::sqlite::SqlitePoolOptions::new()
                .max_connections(1)
                .connect_with(options)
                .await
                .expect("raw SQLite");
            sqlx::query(CREATE).execute(&pool).await.expect("create");
            let started = Instant::now();
            for id in 0..RAW_INSERTS {
                sqlx::query(INSERT)
                    .bind(id as i64)
                    .bind(chrono::Utc::now().to_rfc3339())
                    .bind(&payload)
                    .execute(&pool)
                    .await
                    .expect("insert");
            }
            let rate = RAW_INSERTS as f64 / started.elapsed().as_secs_f64();
            pool.close().await;
            rate
        }
        Backend::Postgres { .. } => {
            let pool = sqlx::postgres::PgPoolOptions::new()
                .max_connections(8)
                .min_connections(8)
                .connect(&database.url)
                .await
                .expect("raw PostgreSQL");
            sqlx::query(CREATE).execute(&pool).await.expect("create");
            let started = Instant::now();
            futures_util::stream::iter(0..RAW_INSERTS)
                .map(|id| {
                    let pool = pool.clone();
                    let payload = payload.clone();
                    async move {
                        sqlx::query(INSERT)
                            .bind(id as i64)
                            .bind(chrono::Utc::now().to_rfc3339())
                            .bind(payload)
                            .execute(&pool)
                            .await
                            .expect("insert");
                    }
                })
                .buffer_unordered(8)
                .collect::<Vec<()>>()
                .await;
            let rate = RAW_INSERTS as f64 / started.elapsed().as_secs_f64();
            pool.close().await;
            rate
        }
    }
}
