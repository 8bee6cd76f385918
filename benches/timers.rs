//! How late after its due time a reminder or escalation is claimed, on the
//! real clock with the default `timer_poll`: p50 and p99 of the
//! `late_by_ms` of `chased` events. Target: under 1 s.
//!
//! Playbooks with second-long deadlines: scenario `drill` engages two
//! departments with one item each (acknowledge within 1 s, complete within
//! 2 s), so each incident climbs the ladder (head, deputies, commander)
//! within seconds.
//!
//! `cargo bench --bench timers`

mod common;

use std::time::Duration;

use common::{Backend, Database, ms, quantile};

const INCIDENTS: usize = 30;
/// Triggers are spread so due times fall anywhere within the poll interval.
const SPACING: Duration = Duration::from_millis(97);
/// Long enough for every incident to climb its ladders.
const WATCH: Duration = Duration::from_secs(8);

fn main() {
    let runtime = common::runtime();
    runtime.block_on(async {
        println!("# timers (2 shared cores, real clock, default timer_poll)");
        let dir = tempfile::tempdir().expect("temp dir");
        // Second-long deadlines: the ladder climbs in seconds of real time.
        common::support::drill::write(dir.path(), "1s", "2s");
        let database = Database::create(&Backend::Sqlite).await;
        let app = common::start(database, dir.path(), None).await;
        let mut ids = Vec::new();
        for _ in 0..INCIDENTS {
            let incident = app.trigger("drill", "high").await;
            ids.push(incident["id"].as_str().expect("id").to_owned());
            tokio::time::sleep(SPACING).await;
        }
        tokio::time::sleep(WATCH).await;
        let mut lateness = Vec::new();
        let mut by_stage = [0usize; 3];
        for id in &ids {
            for event in app.timeline(id).await {
                if event["kind"] == "chased" {
                    lateness.push(event["data"]["late_by_ms"].as_f64().expect("late_by_ms"));
                    let stage = event["data"]["stage"].as_u64().unwrap_or(0).min(2) as usize;
                    by_stage[stage] += 1;
                }
            }
        }
        app.stop().await;
        assert!(!lateness.is_empty(), "no chased events");
        println!(
            "{} chased events ({} reminders, {} to deputies, {} to the commander) over \
             {INCIDENTS} incidents: lateness p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms \
             (default timer_poll {:.0} ms; target under 1 s)",
            lateness.len(),
            by_stage[0],
            by_stage[1],
            by_stage[2],
            quantile(&lateness, 0.5),
            quantile(&lateness, 0.99),
            quantile(&lateness, 1.0),
            ms(tocsin::app::Tuning::default().timer_poll),
        );
    });
}
