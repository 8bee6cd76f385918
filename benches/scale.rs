//! What a request costs as the record grows: a year of history is seeded
//! through tocsin's own engine, then the release server, in its own
//! process, is measured over it at 1,000 and at 100,000 incidents.
//!
//! Seeding works the first 1,000 incidents as people would, in waves of
//! 200 a simulated day or so apart, on a manual clock, with the real
//! delivery worker sending every email (with its links) to an SMTP server
//! that discards them. Each
//! incident is opened (scenarios and severities in turn), its opening
//! emails go out, most departments acknowledge within minutes while one in
//! three incidents leaves a department to be chased (reminders, deputies,
//! the commander), required items are completed in dependency order and
//! optional ones mostly skipped, and the incident is resolved with its
//! status emails. Every event is chained and every link token stored. The
//! rest of the year is copies of those 1,000, row for row, each later in
//! the year (see `scale/copies.rs`): minutes instead of hours.
//!
//! Measured one request at a time on one kept-alive connection, p50 and p99:
//! reading one incident of the history, the first page of the list, pages
//! deep in it (following `next`), open incidents only, a link page, an
//! acknowledgement through it, one incident's timeline export, and how late
//! reminders are claimed (`late_by_ms` of drill items due within 2 s).
//! Then the database's size per incident and the SQLite WAL's largest size
//! during seeding. Targets: the 100,000 figures within 1.5x of the 1,000
//! ones; reading one incident p50 under 5 ms; a page under 20 ms.
//!
//! `cargo bench --bench scale`; `TOCSIN_SCALE_INCIDENTS` (default 100000,
//! in whole thousands) is the larger size; `TOCSIN_BENCH_POSTGRES_URL` adds
//! PostgreSQL.

mod common;
#[path = "scale/copies.rs"]
mod copies;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use common::support::smtp::SmtpServer;
use common::support::{ManualClock, playbooks_copy};
use common::{Backend, Database, ServerProcess, mib, ms, quantile};
use futures_util::StreamExt;
use serde_json::{Value, json};
use tocsin::app::{App, Tuning};
use tocsin::delivery::worker::{Delivery, RetryPolicy};
use tocsin::domain::{Actor, Incident, Severity};
use tocsin::engine::{Engine, Trigger};
use uuid::Uuid;

const SMALL: usize = 1_000;
/// Incidents worked together, a simulated day or so apart.
const WAVE: usize = 200;
/// Changes in flight at once while seeding: enough to fill the writer's groups.
const IN_FLIGHT: usize = 64;
/// Requests per figure.
const SAMPLES: usize = 200;
/// Exports per figure: each reads a whole timeline.
const EXPORTS: usize = 50;
/// Fresh incidents whose links are pressed.
const FRESH: usize = 12;
/// Drill incidents whose reminders are timed.
const DRILLS: usize = 20;

fn main() {
    let large = std::env::var("TOCSIN_SCALE_INCIDENTS")
        .ok()
        .map(|n| {
            n.parse::<usize>()
                .expect("TOCSIN_SCALE_INCIDENTS is a number")
        })
        .unwrap_or(100_000)
        // Whole copies of the first thousand.
        .div_ceil(SMALL)
        * SMALL;
    let runtime = common::runtime();
    runtime.block_on(async {
        println!(
            "# scale: the same requests over {SMALL} and {large} incidents of history \
             (2 shared cores; release server in its own process; p50 / p99 of {SAMPLES} \
             requests, {EXPORTS} exports)"
        );
        for backend in Backend::all() {
            scale(&backend, large).await;
        }
    });
}

async fn scale(backend: &Backend, large: usize) {
    let database = Database::create(backend).await;
    let (_playbooks_dir, playbooks) = playbooks_with_drill();
    let mut history = History::new(&database, &playbooks, large).await;
    let mut rows = Vec::new();
    for size in [SMALL, large] {
        let started = Instant::now();
        history.seed_until(size).await;
        let seeded = started.elapsed();
        let stats = Stats::of(&database).await;
        println!(
            "{}: seeded to {size} incidents in {:.0} s ({stats})",
            backend.name(),
            seeded.as_secs_f64()
        );
        rows.push((
            size,
            measure(&database, &playbooks, &history.ids).await,
            stats,
        ));
    }
    report(backend, &rows, history.largest_wal);
}

/// A year of incidents, seeded wave by wave through the engine.
struct History {
    url: String,
    playbooks: PathBuf,
    clock: Arc<ManualClock>,
    /// Receives the seeded emails and forgets them.
    smtp: SmtpServer,
    /// Every seeded incident, oldest first.
    ids: Vec<Uuid>,
    /// The first wave's day, and the days between waves.
    start: DateTime<Utc>,
    spacing: chrono::Duration,
    /// SQLite's write-ahead log (None on PostgreSQL).
    wal: Option<PathBuf>,
    largest_wal: u64,
    /// The incidents the engine worked, read once for copying.
    templates: Option<copies::Templates>,
}

impl History {
    async fn new(database: &Database, playbooks: &Path, largest: usize) -> History {
        let year = chrono::Duration::days(365);
        let waves = largest.div_ceil(WAVE) as i32;
        let start = Utc::now() - year;
        History {
            url: database.url.clone(),
            playbooks: playbooks.to_owned(),
            clock: ManualClock::starting_now(),
            smtp: SmtpServer::start().await,
            ids: Vec::new(),
            start,
            spacing: year / waves,
            wal: tocsin::store::sqlite_path(&database.url)
                .map(|path| PathBuf::from(format!("{}-wal", path.display()))),
            largest_wal: 0,
            templates: None,
        }
    }

    /// Seeds until `total` incidents are stored: the engine works the first
    /// `SMALL`, then whole copies of them follow, each later in the year.
    async fn seed_until(&mut self, total: usize) {
        if self.ids.len() < SMALL {
            self.work_until(total.min(SMALL)).await;
        }
        while self.ids.len() < total {
            let worked = &self.ids[..SMALL];
            if self.templates.is_none() {
                self.templates = Some(copies::Templates::read(&self.url, worked).await);
            }
            // Each copy starts where the worked span (or the copy before) ends.
            let copy = i32::try_from(self.ids.len() / SMALL).expect("copies");
            let span = self.spacing * i32::try_from(SMALL / WAVE).expect("waves");
            let templates = self.templates.as_ref().expect("read above");
            let copied = templates.copy(span * copy, worked).await;
            self.ids.extend(copied);
        }
        match &self.wal {
            // The copies' large transactions leave a large log behind; the
            // server's own writes never do (see `largest_wal`).
            Some(_) => {
                let pool = sqlx::SqlitePool::connect(&self.url).await.expect("connect");
                sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                    .execute(&pool)
                    .await
                    .expect("checkpoint");
                pool.close().await;
            }
            // What autovacuum does after a bulk load (this machine's server
            // runs without it): the planner learns the tables grew.
            None => {
                let pool = sqlx::PgPool::connect(&self.url).await.expect("connect");
                sqlx::query("ANALYZE")
                    .execute(&pool)
                    .await
                    .expect("ANALYZE");
                pool.close().await;
            }
        }
    }

    /// Works incidents through the engine, wave by wave, until `total` are
    /// stored; the WAL's size is watched meanwhile.
    async fn work_until(&mut self, total: usize) {
        let settings = common::support::settings(&self.url, &self.playbooks, &self.smtp.url());
        let tuning = Tuning {
            clock: Arc::clone(&self.clock) as Arc<dyn tocsin::clock::Clock>,
            ..Tuning::default()
        };
        // Built, never run: no listener serves, no worker runs on its own.
        let app = App::build_with(&settings, tuning)
            .await
            .expect("the seeding engine");
        let engine = Arc::clone(app.engine());
        let delivery = bulk(app.delivery());
        while self.ids.len() < total {
            let wave = self.ids.len() / WAVE;
            self.clock
                .set(self.start + self.spacing * i32::try_from(wave).expect("waves"));
            let count = WAVE.min(total - self.ids.len());
            let ids = self.wave(&engine, &delivery, count).await;
            self.ids.extend(ids);
            if let Some(size) = self
                .wal
                .as_ref()
                .and_then(|wal| std::fs::metadata(wal).ok())
            {
                self.largest_wal = self.largest_wal.max(size.len());
            }
        }
    }

    /// Works `count` incidents from trigger to resolution; returns their ids.
    async fn wave(&self, engine: &Engine, delivery: &Delivery, count: usize) -> Vec<Uuid> {
        let actor = Actor::token("bench-responder");
        let first = self.ids.len();
        let catalog = engine.catalog();
        let scenarios: Vec<String> = catalog
            .scenarios()
            .iter()
            .map(|scenario| scenario.id.clone())
            .filter(|id| id != "drill")
            .collect();
        let incidents: Vec<Incident> = in_flight((first..first + count).map(|n| {
            let trigger = Trigger {
                title: common::support::text("Seeded incident"),
                scenario: scenarios[n % scenarios.len()].clone(),
                severity: Severity::ALL[mix(n) as usize % Severity::ALL.len()],
                summary: common::support::text("Part of the scale bench's history."),
                commander: None,
            };
            let actor = &actor;
            async move {
                let opened = engine.open(trigger, actor, None).await;
                opened.expect("open").incident
            }
        }))
        .await;
        self.deliver(delivery).await;

        // Most departments answer within minutes; one in three incidents
        // leaves its last department to be chased.
        self.clock.advance(chrono::Duration::minutes(10));
        let mut late = Vec::new();
        let mut prompt = Vec::new();
        for (n, incident) in (first..).zip(&incidents) {
            for (position, department) in incident.departments.iter().enumerate() {
                let answer = (incident.id, department.id.clone());
                if mix(n).is_multiple_of(3) && position + 1 == incident.departments.len() {
                    late.push(answer);
                } else {
                    prompt.push(answer);
                }
            }
        }
        self.acknowledge(engine, &actor, prompt).await;
        self.deliver(delivery).await;
        self.clock.advance(chrono::Duration::minutes(30));
        while engine.chase(1_000).await.expect("chase") > 0 {}
        self.deliver(delivery).await;
        self.acknowledge(engine, &actor, late).await;

        // Items in dependency order: required ones completed, two in three
        // optional ones skipped.
        self.clock.advance(chrono::Duration::minutes(30));
        let mut open: Vec<Incident> = incidents;
        loop {
            let ready: Vec<(Uuid, Uuid, bool)> = open
                .iter()
                .flat_map(|incident| {
                    let closed = |id: &Uuid| {
                        incident
                            .tasks()
                            .any(|task| task.id == *id && task.status.is_closed())
                    };
                    incident
                        .tasks()
                        .filter(|task| !task.status.is_closed())
                        .filter(move |task| task.depends_on.iter().all(closed))
                        .map(move |task| (incident.id, task.id, task.required))
                })
                .collect();
            if ready.is_empty() {
                break;
            }
            in_flight(
                ready
                    .into_iter()
                    .enumerate()
                    .map(|(n, (incident, task, required))| {
                        let actor = &actor;
                        async move {
                            let changed = if required || mix(n).is_multiple_of(3) {
                                engine.complete_task(incident, task, None, actor).await
                            } else {
                                let reason = common::support::text("Not needed this time.");
                                engine.skip_task(incident, task, reason, actor).await
                            };
                            changed.expect("close an item")
                        }
                    }),
            )
            .await;
            // Read back: what one pass closed may make others ready.
            open = in_flight(open.iter().map(|incident| async move {
                engine.incident(incident.id).await.expect("read back")
            }))
            .await;
        }
        self.deliver(delivery).await;

        self.clock.advance(chrono::Duration::hours(4));
        let ids: Vec<Uuid> = open.iter().map(|incident| incident.id).collect();
        in_flight(ids.iter().map(|id| {
            let actor = &actor;
            async move {
                let summary = common::support::text("Handled; nothing left open.");
                engine
                    .resolve(*id, Some(summary), None, actor)
                    .await
                    .expect("resolve")
            }
        }))
        .await;
        self.deliver(delivery).await;
        ids
    }

    async fn acknowledge(&self, engine: &Engine, actor: &Actor, answers: Vec<(Uuid, String)>) {
        in_flight(
            answers
                .into_iter()
                .map(|(incident, department)| async move {
                    engine
                        .acknowledge_department(incident, &department, actor)
                        .await
                        .expect("acknowledge")
                }),
        )
        .await;
    }

    /// Sends everything due, forgetting the emails as they arrive.
    async fn deliver(&self, delivery: &Delivery) {
        loop {
            let step = delivery.step().await.expect("a delivery pass");
            self.smtp.take();
            assert_eq!(step.claimed, step.sent + step.cancelled, "{step:?}");
            if step.claimed == 0 {
                return;
            }
        }
    }
}

/// The server's delivery worker with larger passes: seeding sends in bulk.
fn bulk(delivery: &Delivery) -> Delivery {
    Delivery {
        policy: RetryPolicy {
            batch: 512,
            concurrency: 64,
            ..delivery.policy.clone()
        },
        ..delivery.clone()
    }
}

/// Runs `work`, `IN_FLIGHT` at once; the results in any order.
async fn in_flight<T>(work: impl IntoIterator<Item = impl Future<Output = T>>) -> Vec<T> {
    futures_util::stream::iter(work)
        .buffer_unordered(IN_FLIGHT)
        .collect()
        .await
}

/// A well-mixed number from `n` (SplitMix64): varied, and the same every run.
fn mix(n: usize) -> u64 {
    let mut z = (n as u64).wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The shipped playbooks, and a `drill` scenario whose PR item must be
/// acknowledged within 2 s: its reminders are what lateness is measured on.
fn playbooks_with_drill() -> (tempfile::TempDir, PathBuf) {
    let (dir, root) = playbooks_copy();
    let append = |file: &str, text: &str| {
        let path = root.join(file);
        let mut content = std::fs::read_to_string(&path).expect("read a playbook");
        content.push_str(text);
        std::fs::write(&path, content).expect("write a playbook");
    };
    append(
        "organisation.toml",
        "\n[[scenario]]\nid = \"drill\"\ntitle = \"Drill\"\ndepartments = [\"pr\"]\n",
    );
    append(
        "departments/pr.toml",
        "\n[[item]]\nid = \"drill-respond\"\ntitle = \"Answer the drill\"\n\
         scenarios = [\"drill\"]\nack_within = \"2s\"\ncomplete_within = \"60s\"\n",
    );
    (dir, root)
}

/// p50 and p99, in ms.
#[derive(Clone, Copy)]
struct Latency {
    p50: f64,
    p99: f64,
}

impl Latency {
    fn of(samples: &[f64]) -> Latency {
        assert!(!samples.is_empty(), "no samples");
        Latency {
            p50: quantile(samples, 0.5),
            p99: quantile(samples, 0.99),
        }
    }
}

/// One size's figures, in the order they are printed.
struct Figures {
    read: Latency,
    first_page: Latency,
    deep_page: Latency,
    open_page: Latency,
    link_page: Latency,
    acknowledge: Latency,
    export: Latency,
    lateness: Latency,
}

impl Figures {
    fn rows(&self) -> [(&'static str, Latency, Option<f64>); 8] {
        [
            ("read one incident", self.read, Some(5.0)),
            ("list, first page of 50", self.first_page, Some(20.0)),
            ("list, pages deep (next)", self.deep_page, Some(20.0)),
            ("list, open only", self.open_page, Some(20.0)),
            ("link page GET", self.link_page, None),
            ("acknowledge by link", self.acknowledge, None),
            ("timeline export, one incident", self.export, None),
            ("reminder lateness", self.lateness, None),
        ]
    }
}

/// Sizes of what the history holds.
struct Stats {
    events: i64,
    messages: i64,
    links: i64,
    timers: i64,
    bytes: u64,
}

impl Stats {
    async fn of(database: &Database) -> Stats {
        let url = &database.url;
        let bytes = match tocsin::store::sqlite_path(url) {
            Some(path) => ["", "-wal"]
                .iter()
                .filter_map(|suffix| std::fs::metadata(format!("{}{suffix}", path.display())).ok())
                .map(|meta| meta.len())
                .sum(),
            None => common::count(url, "SELECT pg_database_size(current_database())").await as u64,
        };
        Stats {
            events: common::count(url, "SELECT COUNT(*) FROM events").await,
            messages: common::count(url, "SELECT COUNT(*) FROM outbox").await,
            links: common::count(url, "SELECT COUNT(*) FROM link_tokens").await,
            timers: common::count(url, "SELECT COUNT(*) FROM timers").await,
            bytes,
        }
    }
}

impl std::fmt::Display for Stats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} events, {} messages, {} link tokens, {} timers; database {:.0} MiB",
            self.events,
            self.messages,
            self.links,
            self.timers,
            mib(self.bytes / 1024)
        )
    }
}

/// The release server over the history, measured from outside.
async fn measure(database: &Database, playbooks: &Path, history: &[Uuid]) -> Figures {
    let smtp = SmtpServer::start().await;
    let responder = common::cli_token(&database.url, "responder");
    let legal = common::cli_token(&database.url, "legal");
    let server = ServerProcess::start_with(
        &database.url,
        database.dir.path(),
        &[
            ("TOCSIN_SMTP_URL", &smtp.url()),
            ("TOCSIN_PLAYBOOKS", &playbooks.display().to_string()),
        ],
    );
    let base = server.base.clone();
    let api = Api {
        client: reqwest::Client::new(),
        base: base.clone(),
    };
    // Spread over the whole history, the same ones each run.
    let sample: Vec<Uuid> = (0..SAMPLES)
        .map(|n| history[mix(n) as usize % history.len()])
        .collect();

    // Fresh incidents, whose emails hold the links pressed below.
    let mut fresh = 0;
    let mut triggered = Vec::new();
    for _ in 0..FRESH {
        let incident = api
            .trigger(&responder, "social-media-storm", "critical")
            .await;
        fresh += common::departments(&incident);
        triggered.push(incident["id"].as_str().expect("id").to_owned());
    }
    let links: Vec<String> = smtp
        .wait_for(fresh, Duration::from_secs(60))
        .await
        .iter()
        // The first is the department's; the others are items'.
        .flat_map(|mail| mail.links().into_iter().skip(1))
        .take(SAMPLES)
        .collect();
    assert_eq!(links.len(), SAMPLES, "task links in the fresh emails");

    let read = api
        .time(sample.iter(), |id| {
            api.get(format!("/api/v1/incidents/{id}"), &responder)
        })
        .await;
    let first_page = api
        .time(0..SAMPLES, |_| {
            api.get("/api/v1/incidents?limit=50".to_owned(), &responder)
        })
        .await;
    let mut deep = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..SAMPLES {
        let path = match &cursor {
            Some(next) => format!("/api/v1/incidents?limit=50&cursor={next}"),
            None => "/api/v1/incidents?limit=50".to_owned(),
        };
        let started = Instant::now();
        let page = api.get(path, &responder).await;
        deep.push(ms(started.elapsed()));
        cursor = page["next"].as_str().map(str::to_owned);
    }
    let open_page = api
        .time(0..SAMPLES, |_| {
            api.get(
                "/api/v1/incidents?limit=50&status=open".to_owned(),
                &responder,
            )
        })
        .await;
    let link_page = api.time(links.iter(), |link| api.page(link, None)).await;
    let acknowledge = api
        .time(links.iter(), |link| api.page(link, Some("acknowledge")))
        .await;
    let export = api
        .time(sample[..EXPORTS].iter(), |id| {
            api.get_text(format!("/api/v1/incidents/{id}/timeline"), &legal)
        })
        .await;
    // The history is sound: every exported timeline verifies, copies too.
    for id in &sample[..EXPORTS] {
        let verified = api
            .get(format!("/api/v1/incidents/{id}/timeline/verify"), &legal)
            .await;
        assert_eq!(verified["ok"], true, "{id}: {verified}");
    }
    let (lateness, drills) = api.reminder_lateness(&responder, &legal).await;
    // Resolved, so the next size's open list holds the same few.
    for id in triggered.iter().chain(&drills) {
        api.force_resolve(&responder, id).await;
    }
    common::wait_for_drained_outbox(&database.url).await;
    server.stop();
    Figures {
        read,
        first_page,
        deep_page: Latency::of(&deep),
        open_page,
        link_page,
        acknowledge,
        export,
        lateness,
    }
}

/// Requests to the server, one at a time on one kept-alive connection.
struct Api {
    client: reqwest::Client,
    base: String,
}

impl Api {
    /// Each request's time, from sending to the whole body.
    async fn time<I, F, O>(&self, inputs: impl IntoIterator<Item = I>, request: F) -> Latency
    where
        F: Fn(I) -> O,
        O: Future,
    {
        let mut samples = Vec::new();
        for input in inputs {
            let started = Instant::now();
            request(input).await;
            samples.push(ms(started.elapsed()));
        }
        Latency::of(&samples)
    }

    async fn get(&self, path: String, token: &str) -> Value {
        serde_json::from_str(&self.get_text(path, token).await).expect("JSON")
    }

    async fn get_text(&self, path: String, token: &str) -> String {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .expect("GET");
        let status = response.status();
        let body = response.text().await.expect("body");
        assert_eq!(status, reqwest::StatusCode::OK, "{path}: {body}");
        body
    }

    /// A link's page: shown (GET), or a button on it pressed.
    async fn page(&self, link: &str, press: Option<&str>) {
        let (status, page) = match press {
            Some(action) => common::support::press(&self.client, link, action).await,
            None => {
                let response = self.client.get(link).send().await.expect("link");
                (response.status(), response.text().await.expect("page"))
            }
        };
        assert_eq!(status, reqwest::StatusCode::OK, "{page}");
    }

    async fn trigger(&self, token: &str, scenario: &str, severity: &str) -> Value {
        common::trigger(&self.client, &self.base, token, scenario, severity).await
    }

    /// `late_by_ms` of the reminders of drill incidents, triggered a little
    /// apart so their due times fall anywhere in the chaser's poll.
    async fn reminder_lateness(&self, responder: &str, legal: &str) -> (Latency, Vec<String>) {
        let mut ids = Vec::new();
        for _ in 0..DRILLS {
            let incident = self.trigger(responder, "drill", "high").await;
            ids.push(incident["id"].as_str().expect("id").to_owned());
            tokio::time::sleep(Duration::from_millis(97)).await;
        }
        // Due 2 s after each trigger; the first rung and some later ones.
        tokio::time::sleep(Duration::from_secs(6)).await;
        let mut lateness = Vec::new();
        for id in &ids {
            let events = self
                .get(format!("/api/v1/incidents/{id}/timeline"), legal)
                .await;
            for event in events["events"].as_array().expect("events") {
                if event["kind"] == "chased" {
                    lateness.push(event["data"]["late_by_ms"].as_f64().expect("late_by_ms"));
                }
            }
        }
        (Latency::of(&lateness), ids)
    }

    async fn force_resolve(&self, token: &str, id: &str) {
        let response = self
            .client
            .post(format!("{}/api/v1/incidents/{id}/resolve", self.base))
            .bearer_auth(token)
            .json(&json!({"force": true, "reason": "Measured; nothing more to do."}))
            .send()
            .await
            .expect("resolve");
        assert_eq!(response.status(), reqwest::StatusCode::OK);
    }
}

fn report(backend: &Backend, rows: &[(usize, Figures, Stats)], largest_wal: u64) {
    let [
        (small, at_small, small_stats),
        (large, at_large, large_stats),
    ] = rows
    else {
        unreachable!("two sizes");
    };
    println!(
        "{}: p50 / p99 ms at {small} and at {large} incidents; ratio of p50s (target 1.5 at most)",
        backend.name()
    );
    for ((what, s, target), (_, l, _)) in at_small.rows().iter().zip(at_large.rows()) {
        let target = target.map_or(String::new(), |t| format!("; p50 target under {t:.0} ms"));
        println!(
            "  {what:<32} {:>7.2} / {:>7.2}   {:>7.2} / {:>7.2}   x{:.2}{target}",
            s.p50,
            s.p99,
            l.p50,
            l.p99,
            l.p50 / s.p50
        );
    }
    let per_incident =
        (large_stats.bytes as f64 - small_stats.bytes as f64) / (*large as f64 - *small as f64);
    print!(
        "  database growth {:.1} KiB per incident ({:.0} events each)",
        per_incident / 1024.0,
        (large_stats.events - small_stats.events) as f64 / (*large as f64 - *small as f64)
    );
    match backend {
        Backend::Sqlite => println!(
            "; largest WAL while the engine seeded {:.1} MiB",
            mib(largest_wal / 1024)
        ),
        Backend::Postgres { .. } => println!(),
    }
}
