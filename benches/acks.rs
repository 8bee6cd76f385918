//! Acknowledgements through the link page, sized for a 10,000-person staff
//! briefing with read confirmations: the release server runs as its own
//! process, incidents are triggered until their emails hold 10,000 task
//! links, and every link's "acknowledge" is pressed in one burst, 64 at
//! once. Printed beside their targets:
//!
//! - acknowledgements a second, and as a ratio to the raw sqlx loop of the
//!   same database in the same run (single-row insert, each its own commit);
//! - p50 and p99 latency of a press, from request to the whole page;
//! - the server's CPU time per acknowledgement (user and system, every
//!   thread, from /proc);
//! - that every acknowledgement was recorded: the database holds 10,000
//!   acknowledged items afterwards;
//! - resident memory of a fresh server idling after 100 incidents and 2,000
//!   acknowledgements.
//!
//! `cargo bench --bench acks`; with `TOCSIN_BENCH_POSTGRES_URL` (a server
//! URL; a fresh database is created and dropped) PostgreSQL too.

mod common;

use std::time::{Duration, Instant};

use common::support::press;
use common::support::smtp::SmtpServer;
use common::{Backend, Database, ServerProcess, median, mib, ms, proc_status_kib, quantile};
use futures_util::StreamExt;

/// Confirmations in the burst.
const BURST: usize = 10_000;
/// Presses in flight at once, like many people clicking together.
const CLIENTS: usize = 64;
const RAW_INSERTS: usize = 2_000;
const RUNS: usize = 3;
/// The memory figure's history.
const MEMORY_INCIDENTS: usize = 100;
const MEMORY_ACKS: usize = 2_000;
/// How long the server idles before its memory is read.
const IDLE: Duration = Duration::from_secs(5);

struct Targets {
    rate: f64,
    ratio: f64,
}

fn targets(backend: &Backend) -> Targets {
    match backend {
        Backend::Sqlite => Targets {
            rate: 4_000.0,
            ratio: 0.5,
        },
        // PostgreSQL's target is a rate alone: its commits wait on a server.
        Backend::Postgres { .. } => Targets {
            rate: 2_500.0,
            ratio: 0.0,
        },
    }
}
const CPU_MS_PER_ACK: f64 = 0.3;
const P99_MS: f64 = 250.0;
const IDLE_MIB: f64 = 30.0;

/// One burst's figures.
struct Burst {
    rate: f64,
    p50: f64,
    p99: f64,
    cpu_ms_per_ack: f64,
    raw: f64,
}

fn main() {
    let runtime = common::runtime();
    runtime.block_on(async {
        println!(
            "# acks: {BURST} link acknowledgements in a burst, {CLIENTS} at once, release server \
             in its own process (2 shared cores; medians of {RUNS} runs)"
        );
        for backend in Backend::all() {
            let mut runs = Vec::new();
            for _ in 0..RUNS {
                let database = Database::create(&backend).await;
                let mut burst = burst(&database).await;
                burst.raw = common::raw_commit_rate(&backend, &database, RAW_INSERTS).await;
                runs.push(burst);
            }
            report(&backend, &runs);
            let (fresh, after) = idle_memory(&backend).await;
            println!(
                "{}: resident memory idling fresh {fresh:.1} MiB; after {MEMORY_INCIDENTS} \
                 incidents and {MEMORY_ACKS} acknowledgements {after:.1} MiB (target under \
                 {IDLE_MIB:.0})",
                backend.name()
            );
        }
    });
}

fn report(backend: &Backend, runs: &[Burst]) {
    let figure = |f: fn(&Burst) -> f64| median(&runs.iter().map(f).collect::<Vec<_>>());
    let target = targets(backend);
    let (rate, raw) = (figure(|b| b.rate), figure(|b| b.raw));
    let ratio = figure(|b| b.rate / b.raw);
    let ratio_target = if target.ratio > 0.0 {
        format!(" (target {:.1})", target.ratio)
    } else {
        String::new()
    };
    println!(
        "{}: {rate:.0} acknowledgements/s (target {:.0}); raw sqlx insert+commit {raw:.0}/s, \
         ratio {ratio:.2}{ratio_target}",
        backend.name(),
        target.rate,
    );
    println!(
        "{}: latency p50 {:.1} ms, p99 {:.1} ms (target under {P99_MS:.0}); server CPU \
         {:.3} ms per acknowledgement (target {CPU_MS_PER_ACK}); all {BURST} recorded",
        backend.name(),
        figure(|b| b.p50),
        figure(|b| b.p99),
        figure(|b| b.cpu_ms_per_ack),
    );
}

/// A release server over `database`, mailing an in-process SMTP server.
struct Server {
    process: ServerProcess,
    smtp: SmtpServer,
    token: String,
    client: reqwest::Client,
}

impl Server {
    async fn start(database: &Database) -> Server {
        let smtp = SmtpServer::start().await;
        let token = common::cli_token(&database.url, "responder");
        let process = ServerProcess::start_with(
            &database.url,
            database.dir.path(),
            &[("TOCSIN_SMTP_URL", &smtp.url())],
        );
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(CLIENTS)
            .build()
            .expect("client");
        Server {
            process,
            smtp,
            token,
            client,
        }
    }

    /// Triggers `social-media-storm`/`critical` incidents (five departments,
    /// every item mailed to its head) until their opening emails hold at
    /// least `wanted` task links; returns those links, once the outbox has
    /// drained so delivery does not compete with what is measured.
    async fn task_links(&self, database: &Database, wanted: usize) -> Vec<String> {
        let first = self.trigger().await;
        let per_incident = first["departments"]
            .as_array()
            .expect("departments")
            .iter()
            .map(|department| department["tasks"].as_array().expect("tasks").len())
            .sum::<usize>();
        let departments = common::departments(&first);
        let incidents = wanted.div_ceil(per_incident);
        futures_util::stream::iter(1..incidents)
            .map(|_| self.trigger())
            .buffer_unordered(8)
            .collect::<Vec<_>>()
            .await;
        let mails = self
            .smtp
            .wait_for(incidents * departments, Duration::from_secs(300))
            .await;
        common::wait_for_drained_outbox(&database.url).await;
        // Each opening email: the department's link, then one per item.
        let mut links: Vec<String> = mails
            .iter()
            .flat_map(|mail| mail.links().into_iter().skip(1))
            .collect();
        assert!(links.len() >= wanted, "{} task links", links.len());
        links.truncate(wanted);
        links
    }

    async fn trigger(&self) -> serde_json::Value {
        let (base, token) = (&self.process.base, &self.token);
        common::trigger(&self.client, base, token, "social-media-storm", "critical").await
    }

    /// Presses "acknowledge" on every link, `CLIENTS` at once; returns each
    /// press's latency and the whole burst's wall time.
    async fn acknowledge(&self, links: Vec<String>) -> (Vec<f64>, Duration) {
        let started = Instant::now();
        let latencies = futures_util::stream::iter(links)
            .map(|link| async move {
                let sent = Instant::now();
                let (status, page) = press(&self.client, &link, "acknowledge").await;
                let latency = ms(sent.elapsed());
                assert_eq!(status, reqwest::StatusCode::OK, "{page}");
                assert!(page.contains("Acknowledged"), "{page}");
                latency
            })
            .buffer_unordered(CLIENTS)
            .collect()
            .await;
        (latencies, started.elapsed())
    }

    fn stop(self) {
        self.process.stop();
    }
}

async fn burst(database: &Database) -> Burst {
    let server = Server::start(database).await;
    let links = server.task_links(database, BURST).await;
    let pid = server.process.pid();
    let cpu_before = common::cpu_time(&pid);
    let (latencies, elapsed) = server.acknowledge(links).await;
    let cpu = common::cpu_time(&pid) - cpu_before;
    server.stop();
    let recorded = common::count(
        &database.url,
        "SELECT COUNT(*) FROM tasks WHERE status = 'acknowledged'",
    )
    .await;
    assert_eq!(recorded, BURST as i64, "acknowledged items in the database");
    Burst {
        rate: BURST as f64 / elapsed.as_secs_f64(),
        p50: quantile(&latencies, 0.5),
        p99: quantile(&latencies, 0.99),
        cpu_ms_per_ack: ms(cpu) / BURST as f64,
        raw: f64::NAN,
    }
}

/// Resident memory (MiB) of a fresh server, then after `MEMORY_INCIDENTS`
/// incidents and `MEMORY_ACKS` acknowledgements, each once it has idled
/// for a few seconds.
async fn idle_memory(backend: &Backend) -> (f64, f64) {
    let database = Database::create(backend).await;
    let server = Server::start(&database).await;
    let resident = || {
        let kib = proc_status_kib(&server.process.pid(), "VmRSS").expect("the server is alive");
        mib(kib)
    };
    tokio::time::sleep(IDLE).await;
    let fresh = resident();
    let mut links = server.task_links(&database, MEMORY_ACKS).await;
    let incidents = common::count(&database.url, "SELECT COUNT(*) FROM incidents").await;
    for _ in incidents as usize..MEMORY_INCIDENTS {
        server.trigger().await;
    }
    common::wait_for_drained_outbox(&database.url).await;
    links.truncate(MEMORY_ACKS);
    server.acknowledge(links).await;
    tokio::time::sleep(IDLE).await;
    let after = resident();
    server.stop();
    (fresh, after)
}
