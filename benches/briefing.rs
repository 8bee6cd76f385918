//! A staff briefing sized for a real company: 10,000 recipients, each asked
//! to confirm they have read it. The release server runs as its own
//! process over playbooks whose `all-staff` audience has 10,000 members.
//! Printed, with same-run baselines:
//!
//! (a) sending: from the API call to the SMTP server accepting the last of
//!     the 10,000 emails, a rate a second, as a ratio to a bare lettre
//!     connection sending 1,000 messages of the same size one after
//!     another (the SMTP server's own pace). Target: 0.8 or more.
//! (b) confirming: every recipient's link pressed in one burst, 64 at
//!     once; confirmations a second, as a ratio to the raw sqlx loop of the
//!     same database (single-row insert, each its own commit), and that all
//!     10,000 are recorded (rows and timeline events). Target: 0.5 or more
//!     on SQLite.
//!
//! `cargo bench --bench briefing` (`TOCSIN_BENCH_RECIPIENTS`, default
//! 10,000); with `TOCSIN_BENCH_POSTGRES_URL` PostgreSQL too.

mod common;

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use common::support::smtp::SmtpServer;
use common::support::submit;
use common::{Backend, Database, ServerProcess, median};
use futures_util::StreamExt;

const CLIENTS: usize = 64;
const BASELINE_MESSAGES: usize = 1_000;
const RAW_INSERTS: usize = 2_000;
const RUNS: usize = 3;
const DEPARTMENTS: [&str; 8] = [
    "Sales",
    "Marketing",
    "Customer support",
    "Engineering",
    "Finance",
    "Legal",
    "Operations",
    "People",
];

struct Run {
    send_rate: f64,
    bare_rate: f64,
    confirm_rate: f64,
    raw_rate: f64,
}

fn main() {
    let recipients: usize = std::env::var("TOCSIN_BENCH_RECIPIENTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(10_000);
    let runtime = common::runtime();
    runtime.block_on(async {
        println!(
            "# briefing: {recipients} recipients, confirmations {CLIENTS} at once, release \
             server in its own process (2 shared cores; medians of {RUNS} runs)"
        );
        let playbooks = tempfile::tempdir().expect("temp dir");
        write_playbooks(playbooks.path(), recipients);
        for backend in Backend::all() {
            let mut runs = Vec::new();
            for _ in 0..RUNS {
                runs.push(run(&backend, playbooks.path(), recipients).await);
            }
            let figure = |f: fn(&Run) -> f64| median(&runs.iter().map(f).collect::<Vec<_>>());
            println!(
                "{}: (a) sent {:.0} emails/s; bare lettre connection {:.0}/s; ratio {:.2} \
                 (target 0.8)",
                backend.name(),
                figure(|r| r.send_rate),
                figure(|r| r.bare_rate),
                figure(|r| r.send_rate / r.bare_rate),
            );
            println!(
                "{}: (b) {:.0} confirmations/s; raw sqlx insert+commit {:.0}/s; ratio {:.2} \
                 (target 0.5 on SQLite); all {recipients} recorded",
                backend.name(),
                figure(|r| r.confirm_rate),
                figure(|r| r.raw_rate),
                figure(|r| r.confirm_rate / r.raw_rate),
            );
        }
    });
}

/// The shipped playbooks, with an `all-staff` audience of `recipients`
/// members spread over eight departments.
fn write_playbooks(dir: &Path, recipients: usize) {
    let copy = |from: &Path, to: &Path| {
        std::fs::create_dir_all(to).expect("mkdir");
        for entry in std::fs::read_dir(from).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.is_file() {
                std::fs::copy(&path, to.join(path.file_name().expect("name"))).expect("copy");
            }
        }
    };
    let shipped = common::playbooks_dir();
    copy(&shipped, dir);
    for sub in ["departments", "regimes"] {
        copy(&shipped.join(sub), &dir.join(sub));
    }
    let mut audience = String::from(
        "title = \"All staff\"\nexternal = false\nconfirm = true\nremind_after = \"2h\"\n",
    );
    for n in 0..recipients {
        let department = DEPARTMENTS[n % DEPARTMENTS.len()];
        let _ = write!(
            audience,
            "[[member]]\nname = \"Staff {n}\"\nemail = \"staff{n}@example.com\"\n\
             department = \"{department}\"\n"
        );
    }
    std::fs::create_dir_all(dir.join("audiences")).expect("mkdir");
    std::fs::write(dir.join("audiences/all-staff.toml"), audience).expect("audience");
}

async fn run(backend: &Backend, playbooks: &Path, recipients: usize) -> Run {
    let database = Database::create(backend).await;
    let smtp = SmtpServer::start().await;
    let token = common::cli_token(&database.url, "responder");
    let process = ServerProcess::start_with(
        &database.url,
        database.dir.path(),
        &[
            ("TOCSIN_SMTP_URL", &smtp.url()),
            ("TOCSIN_PLAYBOOKS", &playbooks.display().to_string()),
        ],
    );
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(CLIENTS)
        .build()
        .expect("client");
    let incident = common::trigger(&client, &process.base, &token, "complaint-surge", "low").await;
    let id = incident["id"].as_str().expect("id");
    let opening = common::departments(&incident);
    smtp.wait_for(opening, Duration::from_secs(60)).await;
    common::wait_for_drained_outbox(&database.url).await;

    // (a) The API call, to the last email accepted.
    let started = Instant::now();
    let response = client
        .post(format!("{}/api/v1/incidents/{id}/briefings", process.base))
        .bearer_auth(&token)
        .json(&serde_json::json!({
            "audience": "all-staff",
            "text": "Do not comment on the complaints online; refer every question to PR.",
        }))
        .send()
        .await
        .expect("brief");
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    let mails = smtp
        .wait_for(opening + recipients, Duration::from_secs(600))
        .await;
    let send_rate = recipients as f64 / started.elapsed().as_secs_f64();
    let links: Vec<String> = mails[opening..]
        .iter()
        .map(|mail| mail.links().pop().expect("a confirmation link"))
        .collect();
    assert_eq!(links.len(), recipients);
    common::wait_for_drained_outbox(&database.url).await;

    // (b) Every recipient confirms, 64 at once.
    let started = Instant::now();
    futures_util::stream::iter(links)
        .map(|link| {
            let client = client.clone();
            async move {
                let (status, page) = submit(&client, &link, &[("action", "confirm")]).await;
                assert_eq!(status, reqwest::StatusCode::OK, "{page}");
            }
        })
        .buffer_unordered(CLIENTS)
        .collect::<Vec<()>>()
        .await;
    let confirm_rate = recipients as f64 / started.elapsed().as_secs_f64();
    process.stop();
    let confirmed = common::count(
        &database.url,
        "SELECT COUNT(*) FROM briefing_recipients WHERE confirmed_at IS NOT NULL",
    )
    .await;
    let events = common::count(
        &database.url,
        "SELECT COUNT(*) FROM events WHERE kind = 'briefing_confirmed'",
    )
    .await;
    assert_eq!(
        (confirmed, events),
        (recipients as i64, recipients as i64),
        "every confirmation recorded, once"
    );

    let samples = common::sample_messages(BASELINE_MESSAGES);
    let bare = common::bare_smtp(&smtp, &samples).await;
    Run {
        send_rate,
        bare_rate: BASELINE_MESSAGES as f64 / bare.as_secs_f64(),
        confirm_rate,
        raw_rate: common::raw_commit_rate(backend, &database, RAW_INSERTS).await,
    }
}
