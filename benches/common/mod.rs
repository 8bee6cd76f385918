//! What the benchmarks share: the tests' own harness (`tests/support`: a
//! real server on port 0 over a fresh database, the in-process SMTP server),
//! the release binary for process-level figures, and small statistics
//! helpers.
//!
//! Benchmarks print figures; they assert only that the system did what was
//! asked (every message arrived, every acknowledgement was accepted).
#![allow(dead_code)] // each bench uses its own part

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::str::FromStr;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use lettre::Message;
use lettre::message::header::ContentType;
use lettre::message::{MultiPart, SinglePart};
use lettre::transport::smtp::client::AsyncSmtpConnection;
use lettre::transport::smtp::extension::ClientId;
use support::smtp::SmtpServer;

use tocsin::app::Tuning;
use tocsin::delivery::worker::RetryPolicy;

#[path = "../../tests/support/mod.rs"]
pub mod support;

pub use support::{Backend, Options, TestApp, TestDatabase as Database};

pub const PLAYBOOKS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/playbooks");
/// The release binary cargo built for this bench.
pub const TOCSIN_BIN: &str = env!("CARGO_BIN_EXE_tocsin");

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

impl Backend {
    pub fn name(&self) -> &'static str {
        match self {
            Backend::Sqlite => "SQLite",
            Backend::Postgres { .. } => "PostgreSQL",
        }
    }

    /// SQLite, and PostgreSQL when `TOCSIN_BENCH_POSTGRES_URL` is set;
    /// `TOCSIN_BENCH_ONLY=sqlite` or `=postgres` keeps one (long benches run
    /// one per process).
    pub fn all() -> Vec<Backend> {
        let mut backends = vec![Backend::Sqlite];
        match std::env::var("TOCSIN_BENCH_POSTGRES_URL") {
            Ok(url) if !url.is_empty() => backends.push(Backend::Postgres { server_url: url }),
            _ => println!("TOCSIN_BENCH_POSTGRES_URL is not set: PostgreSQL not measured"),
        }
        match std::env::var("TOCSIN_BENCH_ONLY").as_deref() {
            Ok("sqlite") => backends.retain(|backend| matches!(backend, Backend::Sqlite)),
            Ok("postgres") => {
                backends.retain(|backend| matches!(backend, Backend::Postgres { .. }))
            }
            Ok(other) => panic!("TOCSIN_BENCH_ONLY={other:?}: sqlite or postgres"),
            Err(_) => {}
        }
        backends
    }
}

/// A real server in this process, tuned as in production (retries, timer
/// poll) unless `timer_poll` says otherwise; mail to the in-process SMTP
/// server, HTTP through reqwest.
pub async fn start(database: Database, playbooks: &Path, timer_poll: Option<Duration>) -> TestApp {
    let production = Tuning::default();
    let options = Options {
        playbooks: playbooks.to_owned(),
        retry: RetryPolicy {
            poll: Duration::from_millis(20),
            ..RetryPolicy::default()
        },
        timer_poll: timer_poll.unwrap_or(production.timer_poll),
        settle_within: Duration::from_secs(120),
        ..Options::default()
    };
    TestApp::spawn_with(database, options).await
}

/// Departments an incident engaged: one opening email to each head.
pub fn departments(incident: &serde_json::Value) -> usize {
    incident["departments"]
        .as_array()
        .expect("departments")
        .len()
}

/// The value at quantile `q` (0..=1) of `samples`, nearest rank.
pub fn quantile(samples: &[f64], q: f64) -> f64 {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub fn median(samples: &[f64]) -> f64 {
    quantile(samples, 0.5)
}

pub fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// `VmHWM` (peak resident set) or another `Vm*` line of /proc/PID/status, in KiB.
pub fn proc_status_kib(pid: &str, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}

pub fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// A free port on 127.0.0.1 (bound and released; the server binds it next).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

/// `tocsin serve` from the release binary, as a separate process.
pub struct ServerProcess {
    pub child: Child,
    pub base: String,
    /// From spawning the process to the first 200 from `/healthz`.
    pub ready_after: Duration,
}

impl ServerProcess {
    /// Mail goes to files in `dir`, playbooks are the shipped ones.
    pub fn start(database_url: &str, dir: &Path) -> ServerProcess {
        Self::start_with(database_url, dir, &[])
    }

    /// [`ServerProcess::start`], with `env` (`TOCSIN_SMTP_URL`, say) on top.
    pub fn start_with(database_url: &str, dir: &Path, env: &[(&str, &str)]) -> ServerProcess {
        let port = free_port();
        let started = Instant::now();
        let mut child = Command::new(TOCSIN_BIN)
            .arg("serve")
            .env("TOCSIN_LISTEN", format!("127.0.0.1:{port}"))
            .env("TOCSIN_DATABASE_URL", database_url)
            .env("TOCSIN_PLAYBOOKS", PLAYBOOKS)
            .env("TOCSIN_MAIL_DIR", dir.join("mail"))
            .env("TOCSIN_LOG", "warn")
            .env_remove("TOCSIN_CONFIG")
            .env_remove("TOCSIN_SMTP_URL")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start tocsin serve");
        let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
        let deadline = started + Duration::from_secs(30);
        loop {
            if healthy(addr) {
                break;
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!("tocsin serve exited early: {status}");
            }
            assert!(Instant::now() < deadline, "tocsin serve never got ready");
            std::thread::sleep(Duration::from_millis(1));
        }
        ServerProcess {
            ready_after: started.elapsed(),
            child,
            base: format!("http://{addr}"),
        }
    }

    pub fn pid(&self) -> String {
        self.child.id().to_string()
    }

    /// SIGTERM, then waits for the graceful exit (after 10 s, drop kills).
    pub fn stop(mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.pid()]).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// A bench that fails leaves no server behind (it would hold the bench's
/// output open).
impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A plain HTTP/1.1 `GET /healthz`, blocking, answered 200.
fn healthy(addr: std::net::SocketAddr) -> bool {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(100))
    else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    if stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.1 200")
}

pub fn playbooks_dir() -> PathBuf {
    PathBuf::from(PLAYBOOKS)
}

/// Triggers an incident through the API of the server at `base`; returns it.
pub async fn trigger(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    scenario: &str,
    severity: &str,
) -> serde_json::Value {
    let response = client
        .post(format!("{base}/api/v1/incidents"))
        .bearer_auth(token)
        .json(&serde_json::json!({
            "title": format!("Bench {scenario}"),
            "scenario": scenario,
            "severity": severity,
            "summary": "Triggered by a benchmark.",
        }))
        .send()
        .await
        .expect("trigger");
    let status = response.status();
    let body = response.text().await.expect("the answer");
    assert_eq!(status, reqwest::StatusCode::CREATED, "{body}");
    serde_json::from_str(&body).expect("the incident")
}

/// A token for `role`, made with the CLI as an operator would; never printed.
pub fn cli_token(database_url: &str, role: &str) -> String {
    let out = Command::new(TOCSIN_BIN)
        .args(["token", "create", "--role", role, "--name", "bench"])
        .env("TOCSIN_DATABASE_URL", database_url)
        .env_remove("TOCSIN_CONFIG")
        .output()
        .expect("tocsin token create");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("token")
        .trim()
        .to_owned()
}

/// The one number `sql` selects, over a connection of its own.
pub async fn count(url: &str, sql: &'static str) -> i64 {
    if url.starts_with("sqlite:") {
        let pool = sqlx::SqlitePool::connect(url).await.expect("open");
        let n = sqlx::query_scalar(sql)
            .fetch_one(&pool)
            .await
            .expect("count");
        pool.close().await;
        n
    } else {
        let pool = sqlx::PgPool::connect(url).await.expect("connect");
        let n = sqlx::query_scalar(sql)
            .fetch_one(&pool)
            .await
            .expect("count");
        pool.close().await;
        n
    }
}

/// Waits for no message pending in the outbox; fails on any given up on
/// (a reminder cancelled because its answer came first is no failure).
pub async fn wait_for_drained_outbox(url: &str) -> Duration {
    let started = Instant::now();
    loop {
        // Held messages (a briefing's reminders, due later) are not pending work.
        let pending = count(
            url,
            "SELECT COUNT(*) FROM outbox WHERE status = 'pending' \
             AND (attempts > 0 OR next_attempt_at <= created_at)",
        )
        .await;
        if pending == 0 {
            let failed = count(url, "SELECT COUNT(*) FROM outbox WHERE status = 'failed'").await;
            assert_eq!(failed, 0, "messages given up on");
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "{pending} message(s) still pending two minutes after the load"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// CPU time (user and system, every thread) process `pid` has used so far.
pub fn cpu_time(pid: &str) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc/PID/stat");
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .expect("(comm)")
        .1
        .split_whitespace()
        .collect();
    // utime and stime are fields 14 and 15 of stat(5), in USER_HZ ticks
    // (100 a second on Linux whatever the kernel's own tick).
    let ticks: u64 =
        fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
    Duration::from_millis(ticks * 10)
}

/// Messages shaped like tocsin's: text and HTML alternatives, ~4 KB.
pub fn sample_messages(count: usize) -> Vec<Message> {
    let text = "Please acknowledge the item below.\n".repeat(40);
    let html = format!(
        "<p>{}</p>",
        "Please acknowledge the item below. ".repeat(60)
    );
    (0..count)
        .map(|n| {
            Message::builder()
                .from("tocsin <tocsin@example.com>".parse().expect("from"))
                .to(format!("head-{}@example.com", n % 5).parse().expect("to"))
                .subject(format!("[INC-BENCH][CRITICAL] Message {n}"))
                .multipart(
                    MultiPart::alternative()
                        .singlepart(
                            SinglePart::builder()
                                .header(ContentType::TEXT_PLAIN)
                                .body(text.clone()),
                        )
                        .singlepart(
                            SinglePart::builder()
                                .header(ContentType::TEXT_HTML)
                                .body(html.clone()),
                        ),
                )
                .expect("message")
        })
        .collect()
}

/// The bare baseline: one lettre connection on a socket with `TCP_NODELAY`,
/// each message sent when the previous one was accepted.
pub async fn bare_smtp(server: &SmtpServer, messages: &[Message]) -> Duration {
    let tcp = tokio::net::TcpStream::connect(server.addr())
        .await
        .expect("connect");
    tcp.set_nodelay(true).expect("TCP_NODELAY");
    let mut connection =
        AsyncSmtpConnection::connect_with_transport(Box::new(tcp), &ClientId::default())
            .await
            .expect("greeting and EHLO");
    let started = Instant::now();
    for message in messages {
        connection
            .send(message.envelope(), &message.formatted())
            .await
            .expect("bare send");
    }
    let elapsed = started.elapsed();
    let _ = connection.quit().await;
    elapsed
}

/// The database's own pace: `inserts` single-row INSERTs, each its own
/// commit (eight at once on PostgreSQL, whose commits wait on a server).
pub async fn raw_commit_rate(backend: &Backend, database: &Database, inserts: usize) -> f64 {
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
            for id in 0..inserts {
                sqlx::query(INSERT)
                    .bind(id as i64)
                    .bind(chrono::Utc::now().to_rfc3339())
                    .bind(&payload)
                    .execute(&pool)
                    .await
                    .expect("insert");
            }
            let rate = inserts as f64 / started.elapsed().as_secs_f64();
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
            futures_util::stream::iter(0..inserts)
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
            let rate = inserts as f64 / started.elapsed().as_secs_f64();
            pool.close().await;
            rate
        }
    }
}
