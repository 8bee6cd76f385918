//! Exporting a 100,000-event timeline as JSON and as CSV: time to the last
//! byte and the server's peak memory. Target: under 1 s and under 64 MiB
//! each.
//!
//! The incident is opened through the API; its timeline is then extended to
//! 100,000 events by the store's own update path, thousands of `note_added`
//! events per transaction (one note per request would take minutes). The
//! export is then served by the release binary (`tocsin serve`) in its own
//! process, a fresh one per format, so its `VmHWM` (peak resident set) is
//! the export's alone.
//!
//! `cargo bench --bench export` (`TOCSIN_BENCH_EVENTS`, default 100000).

mod common;

use std::time::{Duration, Instant};

use common::{Backend, Database, ServerProcess, median, mib, ms, proc_status_kib};
use tocsin::domain::{Actor, EventData};
use tocsin::store::Effects;

const BATCH: usize = 5_000;
const RUNS: usize = 5;

fn main() {
    let events: usize = std::env::var("TOCSIN_BENCH_EVENTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(100_000);
    let runtime = common::runtime();
    runtime.block_on(async {
        println!("# export (2 shared cores; median of {RUNS} exports per format)");
        let database = Database::create(&Backend::Sqlite).await;
        let (database, incident_id, legal) = prepare(database, events).await;
        for format in ["json", "csv"] {
            measure(&database, &incident_id, &legal, format, events).await;
        }
        drop(database);
    });
}

/// An incident with `events` timeline events; returns its id and a legal token.
async fn prepare(database: Database, events: usize) -> (Database, String, String) {
    let app = common::start(database, &common::playbooks_dir(), None).await;
    let incident = app.trigger("social-media-storm", "critical").await;
    let id = incident["id"].as_str().expect("id").to_owned();
    app.smtp
        .wait_for(common::departments(&incident), Duration::from_secs(30))
        .await;
    app.settle().await;
    let legal = app.legal.clone();
    let store = std::sync::Arc::clone(&app.store);
    let database = app.stop().await;

    let started = Instant::now();
    let incident_id = uuid::Uuid::parse_str(&id).expect("uuid");
    let actor = Actor::token("bench-responder");
    let mut seq = store.chain_head(incident_id).await.expect("head").seq as usize;
    while seq < events {
        let batch = BATCH.min(events - seq);
        let notes: Vec<EventData> = (seq + 1..=seq + batch)
            .map(|n| EventData::NoteAdded {
                text: format!(
                    "Note {n}: press enquiry logged, holding statement sent, monitoring continues."
                ),
            })
            .collect();
        store
            .update_incident(
                incident_id,
                actor.clone(),
                chrono::Utc::now(),
                Box::new(move |_| {
                    Ok(Effects {
                        events: notes.clone(),
                        ..Effects::default()
                    })
                }),
            )
            .await
            .expect("append notes");
        seq += batch;
    }
    println!(
        "prepared a timeline of {seq} events in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    (database, id, legal)
}

async fn measure(database: &Database, id: &str, legal: &str, format: &str, events: usize) {
    let server = ServerProcess::start(&database.url, database.dir.path());
    let pid = server.pid();
    let idle = proc_status_kib(&pid, "VmRSS").unwrap_or_default();
    let client = reqwest::Client::new();
    let url = format!(
        "{}/api/v1/incidents/{id}/timeline?format={format}",
        server.base
    );
    let mut times = Vec::new();
    let mut size = 0;
    for run in 0..RUNS {
        let started = Instant::now();
        let response = client
            .get(&url)
            .bearer_auth(legal)
            .send()
            .await
            .expect("GET export");
        assert!(response.status().is_success(), "{}", response.status());
        let body = response.bytes().await.expect("export body");
        times.push(ms(started.elapsed()));
        size = body.len();
        if run == 0 {
            check(format, &body, events);
        }
    }
    let peak = proc_status_kib(&pid, "VmHWM").unwrap_or_default();
    server.stop();
    println!(
        "{format}: {events} events, {:.1} MiB body: {:.0} ms to the last byte (target < 1000 ms); \
         server peak RSS {:.1} MiB, {:.1} MiB idle before (target < 64 MiB)",
        size as f64 / (1024.0 * 1024.0),
        median(&times),
        mib(peak),
        mib(idle),
    );
}

fn check(format: &str, body: &[u8], events: usize) {
    match format {
        "json" => {
            let value: serde_json::Value = serde_json::from_slice(body).expect("JSON export");
            let count = value["events"].as_array().map(Vec::len).unwrap_or(0);
            assert_eq!(count, events, "every event exported");
        }
        _ => {
            // A header line, then one line per event (no newlines in these notes).
            let lines = body
                .split(|&b| b == b'\n')
                .filter(|l| !l.is_empty())
                .count();
            assert!(lines > events, "every event exported ({lines} lines)");
        }
    }
}
