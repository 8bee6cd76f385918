//! A bounded soak of the release binary, loopback only: incidents are
//! triggered at a steady pace and worked to resolution through the links in
//! their emails, while one department is left to be chased. It checks what
//! an operator would after a long night:
//!
//! - memory stays flat: resident memory at the end against after warm-up;
//! - the outbox drains: nothing pending or failed once the load stops;
//! - no email is lost or doubled: every message the outbox marked sent
//!   arrived exactly once (by Message-ID), and nothing else arrived.
//!
//! `cargo bench --bench soak` runs 60 s; `TOCSIN_SOAK_SECONDS=3600` an hour.
//! CI runs it on the debug build (`--profile dev`), for its checks alone.
//! `TOCSIN_SOAK_RATE` sets incidents a second (default 2).

mod common;

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use common::support::smtp::{Received, SmtpServer};
use common::{Backend, Database, ServerProcess, median, mib, proc_status_kib};
use serde_json::json;

/// The drill's items: acknowledge within 2 s, so the chaser works during
/// the soak; complete within a minute.
const ACK_WITHIN: &str = "2s";
const COMPLETE_WITHIN: &str = "60s";
/// PR answers at once; legal only after being chased for a while.
const PR_ANSWERS_AFTER: Duration = Duration::from_millis(200);
const LEGAL_ANSWERS_AFTER: Duration = Duration::from_secs(5);
/// Memory is compared between the end and this far into the run.
const WARM_UP_SHARE: f64 = 0.2;
/// Flat: the end within this factor of after warm-up.
const FLAT: f64 = 1.25;

fn main() {
    let seconds = env_number("TOCSIN_SOAK_SECONDS", 60.0);
    let rate = env_number("TOCSIN_SOAK_RATE", 2.0);
    let runtime = common::runtime();
    for backend in Backend::all() {
        let build = if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        };
        println!(
            "# soak on {} ({seconds:.0} s at {rate} incidents/s; 2 shared cores; {build} build)",
            backend.name()
        );
        runtime.block_on(soak(&backend, Duration::from_secs_f64(seconds), rate));
    }
}

fn env_number(name: &str, default: f64) -> f64 {
    match std::env::var(name) {
        Ok(value) => value
            .parse()
            .unwrap_or_else(|_| panic!("{name}={value:?} is not a number")),
        Err(_) => default,
    }
}

/// One incident as the soak works it.
#[derive(Default)]
struct Incident {
    /// Task links still to press, and when.
    to_press: Vec<(Instant, String)>,
    completed: usize,
    resolved: bool,
}

async fn soak(backend: &Backend, duration: Duration, rate: f64) {
    let database = Database::create(backend).await;
    let playbooks = database.dir.path().join("playbooks");
    common::support::drill::write(&playbooks, ACK_WITHIN, COMPLETE_WITHIN);
    let smtp = SmtpServer::start().await;
    let token = common::cli_token(&database.url, "responder");
    let server = ServerProcess::start_with(
        &database.url,
        database.dir.path(),
        &[
            ("TOCSIN_SMTP_URL", &smtp.url()),
            ("TOCSIN_PLAYBOOKS", &playbooks.display().to_string()),
        ],
    );
    let pid = server.pid();
    let client = reqwest::Client::new();

    let mut incidents: HashMap<String, Incident> = HashMap::new();
    let mut arrived: HashMap<String, usize> = HashMap::new();
    let mut opened: HashSet<(String, String)> = HashSet::new();
    let mut memory: Vec<(Duration, f64)> = Vec::new();
    let mut clicks = 0usize;
    let started = Instant::now();
    let interval = Duration::from_secs_f64(1.0 / rate);
    let mut next_trigger = started;
    let mut next_sample = started;

    loop {
        let now = Instant::now();
        let loading = now < started + duration;
        if !loading && incidents.values().all(|incident| incident.resolved) {
            break;
        }
        assert!(
            now < started + duration + Duration::from_secs(120),
            "incidents still open two minutes after the load stopped"
        );
        if loading && now >= next_trigger {
            let incident = common::trigger(&client, &server.base, &token, "drill", "high").await;
            let id = incident["id"].as_str().expect("id").to_owned();
            incidents.insert(id, Incident::default());
            next_trigger += interval;
        }
        if now >= next_sample {
            let rss = proc_status_kib(&pid, "VmRSS").expect("the server is alive");
            memory.push((now - started, mib(rss)));
            next_sample += Duration::from_secs(1);
        }
        for mail in smtp.take() {
            read_mail(&mail, &mut arrived, &mut opened, &mut incidents);
        }
        for (id, incident) in incidents.iter_mut() {
            let due: Vec<String> = incident
                .to_press
                .extract_if(.., |(at, _)| *at <= now)
                .map(|(_, link)| link)
                .collect();
            for link in due {
                for action in ["acknowledge", "complete"] {
                    press(&client, &link, action).await;
                    clicks += 1;
                }
                incident.completed += 1;
            }
            // The drill engages two departments with one item each.
            if incident.completed == 2 && !incident.resolved {
                resolve(&client, &server.base, &token, id).await;
                incident.resolved = true;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let worked = started.elapsed();

    let drained = common::wait_for_drained_outbox(&database.url).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    for mail in smtp.take() {
        read_mail(&mail, &mut arrived, &mut opened, &mut incidents);
    }
    let sent = sent_message_ids(&database.url).await;
    server.stop();

    let doubled: Vec<_> = arrived.iter().filter(|(_, n)| **n > 1).collect();
    let lost: Vec<_> = sent
        .iter()
        .filter(|id| !arrived.contains_key(*id))
        .collect();
    let unknown: Vec<_> = arrived.keys().filter(|id| !sent.contains(*id)).collect();
    let warm = window(&memory, WARM_UP_SHARE, WARM_UP_SHARE + 0.1);
    let end = window(&memory, 0.9, 1.0);
    let peak = memory.iter().map(|(_, rss)| *rss).fold(0.0, f64::max);
    println!(
        "worked {} incidents to resolution in {:.0} s: {clicks} link presses, {} emails \
         (each exactly once: {} doubled, {} lost, {} unexpected)",
        incidents.len(),
        worked.as_secs_f64(),
        arrived.len(),
        doubled.len(),
        lost.len(),
        unknown.len(),
    );
    println!(
        "outbox drained {:.1} s after the last resolution; resident memory after warm-up \
         {warm:.1} MiB, at the end {end:.1} MiB (x{:.2}), peak {peak:.1} MiB",
        drained.as_secs_f64(),
        end / warm,
    );
    assert!(doubled.is_empty(), "doubled: {doubled:?}");
    assert!(lost.is_empty(), "sent but never arrived: {lost:?}");
    assert!(
        unknown.is_empty(),
        "arrived but not recorded as sent: {unknown:?}"
    );
    assert!(
        end <= warm * FLAT,
        "resident memory grew from {warm:.1} to {end:.1} MiB"
    );
}

/// Counts the message, and schedules the task link of each department
/// head's first email: PR presses it at once, legal after being chased.
fn read_mail(
    mail: &Received,
    arrived: &mut HashMap<String, usize>,
    opened: &mut HashSet<(String, String)>,
    incidents: &mut HashMap<String, Incident>,
) {
    let message_id = mail.header("Message-ID").expect("Message-ID");
    *arrived.entry(message_id_key(&message_id)).or_default() += 1;
    let to = mail.rcpt_to.join(",");
    let delay = match to.as_str() {
        "pr-head@example.com" => PR_ANSWERS_AFTER,
        "legal-head@example.com" => LEGAL_ANSWERS_AFTER,
        _ => return, // deputies and the commander, being chased
    };
    let incident_id = mail
        .header("In-Reply-To")
        .and_then(|root| {
            let id = root.strip_prefix("<incident-")?.split('@').next()?;
            Some(id.to_owned())
        })
        .expect("In-Reply-To names the incident");
    if !opened.insert((incident_id.clone(), to)) {
        return; // a reminder: the first email's link is the one pressed
    }
    // The first link is the department's; the next, the first item's.
    let link = mail.links().into_iter().nth(1).expect("a task link");
    incidents
        .get_mut(&incident_id)
        .expect("an incident the soak triggered")
        .to_press
        .push((Instant::now() + delay, link));
}

/// `<uuid@domain>` to the outbox id it carries.
fn message_id_key(header: &str) -> String {
    header
        .trim_start_matches('<')
        .split('@')
        .next()
        .unwrap_or_default()
        .to_owned()
}

async fn press(client: &reqwest::Client, link: &str, action: &str) {
    let (status, page) = common::support::press(client, link, action).await;
    assert_eq!(status, reqwest::StatusCode::OK, "{action}: {page}");
}

async fn resolve(client: &reqwest::Client, base: &str, token: &str, id: &str) {
    let response = client
        .post(format!("{base}/api/v1/incidents/{id}/resolve"))
        .bearer_auth(token)
        .json(&json!({}))
        .send()
        .await
        .expect("resolve");
    let status = response.status();
    assert_eq!(
        status,
        reqwest::StatusCode::OK,
        "{}",
        response.text().await.unwrap_or_default()
    );
}

/// The ids of the emails the outbox recorded as sent.
async fn sent_message_ids(url: &str) -> HashSet<String> {
    let sql = "SELECT id FROM outbox WHERE channel = 'email' AND status = 'sent'";
    let ids: Vec<uuid::Uuid> = if url.starts_with("sqlite:") {
        let pool = sqlx::SqlitePool::connect(url).await.expect("open");
        sqlx::query_scalar(sql).fetch_all(&pool).await.expect("ids")
    } else {
        let pool = sqlx::PgPool::connect(url).await.expect("connect");
        sqlx::query_scalar(sql).fetch_all(&pool).await.expect("ids")
    };
    ids.into_iter().map(|id| id.to_string()).collect()
}

/// Median resident memory between two shares of the run.
fn window(samples: &[(Duration, f64)], from: f64, to: f64) -> f64 {
    let n = samples.len() as f64;
    let slice: Vec<f64> = samples
        .iter()
        .enumerate()
        .filter(|(i, _)| (*i as f64) >= from * n && (*i as f64) < to * n)
        .map(|(_, (_, rss))| *rss)
        .collect();
    median(&slice)
}
