//! `tocsin serve` from the release binary on SQLite: time from spawning the
//! process to the first 200 from `/healthz`, and resident memory once idle.
//! Targets: ready in under 200 ms, idle under 30 MiB.
//!
//! The first start on a new file creates the database, runs migrations and
//! generates the signing key; later starts open what is there. Both are
//! reported, as medians over several starts.
//!
//! `cargo bench --bench startup`

mod common;

use std::time::Duration;

use common::{ServerProcess, median, mib, ms, proc_status_kib};

const STARTS: usize = 7;
/// How long the server sits before its memory is read.
const SETTLE: Duration = Duration::from_secs(2);

fn main() {
    println!("# startup (2 shared cores; release binary; medians of {STARTS} starts)");
    let (mut first, mut again, mut idle, mut peak) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..STARTS {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("tocsin.db").display());
        let server = ServerProcess::start(&url, dir.path());
        first.push(ms(server.ready_after));
        server.stop();

        let server = ServerProcess::start(&url, dir.path());
        again.push(ms(server.ready_after));
        std::thread::sleep(SETTLE);
        idle.push(mib(
            proc_status_kib(&server.pid(), "VmRSS").unwrap_or_default()
        ));
        peak.push(mib(
            proc_status_kib(&server.pid(), "VmHWM").unwrap_or_default()
        ));
        server.stop();
    }
    println!(
        "ready: first start (new database, migrations, key) {:.0} ms; restart {:.0} ms \
         (target < 200 ms)",
        median(&first),
        median(&again),
    );
    println!(
        "idle resident memory {:.1} MiB, peak during start {:.1} MiB (target < 30 MiB)",
        median(&idle),
        median(&peak),
    );
}
