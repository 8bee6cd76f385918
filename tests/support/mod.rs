//! The test harness, shared with the benchmarks: a real server on port 0
//! over a real database (a SQLite file, or a fresh PostgreSQL database
//! dropped afterwards), real SMTP, driven over HTTP.
#![allow(dead_code)] // each test binary uses its own part of the harness

pub mod browser;
pub mod database;
pub mod dovecot;
pub mod drill;
pub mod oidc;
pub mod process;
pub mod receiver;
pub mod smtp;

pub use database::{Backend, TestDatabase};

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use tocsin::app::{App, Tuning};
use tocsin::auth::Role;
use tocsin::config::{Settings, SettingsArgs};
use tocsin::delivery::worker::RetryPolicy;
use tocsin::engine::Engine;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const PLAYBOOKS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/playbooks");

/// Runs each test body once per backend: `$name::sqlite` always, and
/// `$name::postgres` when `TOCSIN_TEST_POSTGRES_URL` names a server (when it
/// did not at build time, it is reported as ignored; see `build.rs`).
#[macro_export]
macro_rules! on_each_backend {
    ($($(#[doc = $doc:expr])* async fn $name:ident($app:ident) $body:block)*) => {$(
        $(#[doc = $doc])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[tokio::test]
            async fn sqlite() {
                let $app = support::TestApp::spawn(support::Backend::Sqlite).await;
                $body
                $app.stop().await;
            }

            #[tokio::test]
            #[cfg_attr(not(tocsin_postgres_tests), ignore = "needs TOCSIN_TEST_POSTGRES_URL")]
            async fn postgres() {
                let $app = support::TestApp::spawn(support::Backend::postgres()).await;
                $body
                $app.stop().await;
            }
        }
    )*};
}

impl Backend {
    /// The PostgreSQL server the tests were built for (`build.rs`); tests
    /// that need it are ignored when there is none.
    pub fn postgres() -> Backend {
        match std::env::var("TOCSIN_TEST_POSTGRES_URL") {
            Ok(url) if !url.is_empty() => Backend::Postgres { server_url: url },
            _ => panic!(
                "the tests were built with TOCSIN_TEST_POSTGRES_URL set, and run without it: \
                 set it again, or rebuild without it"
            ),
        }
    }
}

/// Where the test server takes replies: `replies+KEY@reply.example.com`.
pub const REPLY_ADDRESS: &str = "replies@reply.example.com";

pub fn settings(database_url: &str, playbooks: &Path, smtp_url: &str) -> Settings {
    Settings::resolve(&SettingsArgs {
        listen: Some("127.0.0.1:0".parse().expect("addr")),
        database_url: Some(database_url.to_owned()),
        playbooks: Some(playbooks.to_owned()),
        smtp_url: Some(smtp_url.to_owned()),
        mail_from: Some("tocsin <tocsin@example.com>".to_owned()),
        // Replies are read as in production: every mail carries a key.
        reply_address: Some(REPLY_ADDRESS.to_owned()),
        inbound_smtp_listen: Some("127.0.0.1:0".parse().expect("addr")),
        ..SettingsArgs::default()
    })
    .expect("settings")
}

/// Retries in milliseconds, so failure paths run in a test's time.
pub fn fast_retries() -> RetryPolicy {
    RetryPolicy {
        first_retry: Duration::from_millis(20),
        max_retry: Duration::from_millis(200),
        max_attempts: 4,
        poll: Duration::from_millis(20),
        ..RetryPolicy::default()
    }
}

/// A clock the test moves: minutes of deadlines pass in an instant.
pub struct ManualClock(std::sync::Mutex<chrono::DateTime<chrono::Utc>>);

impl ManualClock {
    pub fn starting_now() -> Arc<ManualClock> {
        let now = chrono::SubsecRound::trunc_subsecs(chrono::Utc::now(), 6);
        Arc::new(ManualClock(std::sync::Mutex::new(now)))
    }

    pub fn advance(&self, by: chrono::Duration) {
        let mut now = self.0.lock().expect("clock");
        *now += by;
    }

    pub fn set(&self, at: chrono::DateTime<chrono::Utc>) {
        *self.0.lock().expect("clock") = at;
    }
}

impl tocsin::clock::Clock for ManualClock {
    fn read(&self) -> chrono::DateTime<chrono::Utc> {
        *self.0.lock().expect("clock")
    }
}

/// Collects what the server logs at the production level (info and up):
/// any error-level line fails the test at `stop`, and tests read the rest.
#[derive(Clone, Default)]
pub struct ErrorLog(
    pub Arc<std::sync::Mutex<Vec<String>>>,
    pub Arc<std::sync::Mutex<Vec<String>>>,
    /// Every SQL statement the server ran, as sqlx logs it (at debug level).
    pub Arc<std::sync::Mutex<Vec<String>>>,
);

/// The statement a `sqlx::query` event carries: its whole text when sqlx
/// shortened the summary, else the summary, which is then the whole text.
#[derive(Default)]
struct Statement {
    summary: String,
    whole: String,
}

impl tracing::field::Visit for Statement {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        match field.name() {
            "summary" => self.summary = value.to_owned(),
            "db.statement" => self.whole = value.trim().to_owned(),
            _ => {}
        }
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "summary" {
            self.summary = format!("{value:?}").trim_matches('"').to_owned();
        }
    }
}

struct SpanFields(String);

impl ErrorLog {
    /// Takes the error lines a test provoked on purpose, so they do not fail
    /// it at `stop`; every one must contain `expected`.
    pub fn take_expected(&self, expected: &str) -> Vec<String> {
        let taken: Vec<String> = self
            .0
            .lock()
            .map(|mut lines| lines.drain(..).collect())
            .unwrap_or_default();
        for line in &taken {
            assert!(line.contains(expected), "an unexpected error: {line}");
        }
        taken
    }

    /// Every distinct SQL statement the server ran so far.
    pub fn statements(&self) -> Vec<String> {
        let mut statements = self.2.lock().map(|s| s.clone()).unwrap_or_default();
        statements.sort();
        statements.dedup();
        statements
    }

    /// Every line logged at info or above, with its fields and spans' names.
    pub fn lines(&self) -> Vec<String> {
        self.1.lock().map(|lines| lines.clone()).unwrap_or_default()
    }
}

impl<S> tracing_subscriber::Layer<S> for ErrorLog
where
    S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
{
    /// Keeps each span's field values, so lines show them as a log shipper would.
    fn on_new_span(
        &self,
        attributes: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        context: tracing_subscriber::layer::Context<'_, S>,
    ) {
        let mut fields = String::new();
        attributes.record(
            &mut |field: &tracing::field::Field, value: &dyn std::fmt::Debug| {
                fields.push_str(&format!("{}={value:?} ", field.name()));
            },
        );
        if let Some(span) = context.span(id) {
            span.extensions_mut().insert(SpanFields(fields));
        }
    }

    fn on_event(
        &self,
        event: &tracing::Event<'_>,
        context: tracing_subscriber::layer::Context<'_, S>,
    ) {
        let level = *event.metadata().level();
        if event.metadata().target() == "sqlx::query" {
            let mut statement = Statement::default();
            event.record(&mut statement);
            let text = if statement.whole.is_empty() {
                statement.summary
            } else {
                statement.whole
            };
            if let Ok(mut statements) = self.2.lock() {
                statements.push(text);
            }
            return;
        }
        if level > tracing::Level::INFO {
            return;
        }
        let mut fields = String::new();
        event.record(
            &mut |field: &tracing::field::Field, value: &dyn std::fmt::Debug| {
                fields.push_str(&format!("{}={value:?} ", field.name()));
            },
        );
        if let Some(scope) = context.event_scope(event) {
            for span in scope {
                let values = span
                    .extensions()
                    .get::<SpanFields>()
                    .map(|fields| fields.0.clone())
                    .unwrap_or_default();
                fields.push_str(&format!("[{} {values}] ", span.name()));
            }
        }
        if level == tracing::Level::ERROR
            && let Ok(mut lines) = self.0.lock()
        {
            lines.push(fields.clone());
        }
        if let Ok(mut lines) = self.1.lock() {
            lines.push(fields);
        }
    }
}

/// What a test may change about the server it starts.
pub struct Options {
    pub clock: Option<Arc<ManualClock>>,
    pub playbooks: PathBuf,
    /// Delivery workers; 0 lets the test drive delivery itself.
    pub workers: usize,
    pub smtp: Option<Arc<smtp::SmtpServer>>,
    pub adjust: Box<dyn FnOnce(&mut Settings) + Send>,
    /// Delivery retries: fast by default, so failure paths run in a test's time.
    pub retry: RetryPolicy,
    /// How often to look for due timers: often by default.
    pub timer_poll: Duration,
    /// How long [`TestApp::settle`] waits for the outbox to drain.
    pub settle_within: Duration,
    /// How the IMAP intake, when configured, paces itself.
    pub imap: tocsin::inbound::imap::Timing,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            clock: None,
            playbooks: PathBuf::from(PLAYBOOKS),
            workers: 1,
            smtp: None,
            adjust: Box::new(|_| {}),
            retry: fast_retries(),
            timer_poll: Duration::from_millis(20),
            settle_within: Duration::from_secs(20),
            imap: tocsin::inbound::imap::Timing::default(),
        }
    }
}

pub struct TestApp {
    pub addr: SocketAddr,
    /// tocsin's own SMTP listener, which takes replies.
    pub inbound_smtp: Option<SocketAddr>,
    pub engine: Arc<Engine>,
    pub staff: Arc<tocsin::staff::Staff>,
    /// The test's own connection to the server's database, to look at what
    /// no endpoint shows.
    pub store: Arc<dyn tocsin::store::Store>,
    pub delivery: Arc<tocsin::delivery::worker::Delivery>,
    /// The SMTP server the app sends to.
    pub smtp: Arc<smtp::SmtpServer>,
    pub client: reqwest::Client,
    pub database: TestDatabase,
    /// Tokens of each role.
    pub responder: String,
    pub legal: String,
    pub admin: String,
    pub errors: ErrorLog,
    workers: usize,
    settle_within: Duration,
    _log_guard: tracing::subscriber::DefaultGuard,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<std::io::Result<()>>>,
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> TestApp {
        Self::spawn_with_playbooks(backend, Path::new(PLAYBOOKS)).await
    }

    pub async fn spawn_with_playbooks(backend: Backend, playbooks: &Path) -> TestApp {
        let database = TestDatabase::create(&backend).await;
        Self::spawn_on(database, playbooks).await
    }

    /// A server over an existing database (a restart, say).
    pub async fn spawn_on(database: TestDatabase, playbooks: &Path) -> TestApp {
        let options = Options {
            playbooks: playbooks.to_owned(),
            ..Options::default()
        };
        Self::spawn_with(database, options).await
    }

    pub async fn spawn_with(database: TestDatabase, options: Options) -> TestApp {
        let smtp = match options.smtp {
            Some(smtp) => smtp,
            None => Arc::new(smtp::SmtpServer::start().await),
        };
        let mut settings = settings(&database.url, &options.playbooks, &smtp.url());
        settings.delivery_workers = options.workers;
        (options.adjust)(&mut settings);
        // Tests run on a current-thread runtime: a thread-local subscriber
        // sees everything the server and its workers log.
        let errors = ErrorLog::default();
        let log_guard =
            tracing::subscriber::set_default(tracing_subscriber::layer::SubscriberExt::with(
                tracing_subscriber::registry(),
                errors.clone(),
            ));
        let mut tuning = Tuning {
            retry: options.retry,
            timer_poll: options.timer_poll,
            imap: options.imap,
            ..Tuning::default()
        };
        if let Some(clock) = &options.clock {
            tuning.clock = Arc::clone(clock) as Arc<dyn tocsin::clock::Clock>;
        }
        let app = App::build_with(&settings, tuning)
            .await
            .expect("the server starts");
        let addr = app.local_addr().expect("bound");
        let inbound_smtp = app.inbound_smtp_addr();
        let engine = Arc::clone(app.engine());
        let staff = Arc::clone(app.staff());
        let store = tocsin::store::connect(&database.url)
            .await
            .expect("the test's own database connection");
        let delivery = Arc::clone(app.delivery());
        let token = |role: Role| {
            let engine = Arc::clone(&engine);
            async move {
                let grant = tocsin::engine::TokenGrant {
                    name: format!("test-{role}"),
                    role,
                    expires_at: None,
                };
                let (_, secret) = engine
                    .grant_token(&grant, &tocsin::domain::Actor::system("test"))
                    .await
                    .expect("token");
                secret.expose().to_owned()
            }
        };
        let (responder, legal, admin) = (
            token(Role::Responder).await,
            token(Role::Legal).await,
            token(Role::Admin).await,
        );
        let (shutdown, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(app.run(async {
            let _ = stopped.await;
        }));
        TestApp {
            addr,
            inbound_smtp,
            engine,
            staff,
            store,
            delivery,
            smtp,
            client: reqwest::Client::new(),
            database,
            responder,
            legal,
            admin,
            errors,
            workers: settings.delivery_workers,
            settle_within: options.settle_within,
            _log_guard: log_guard,
            shutdown: Some(shutdown),
            server: Some(server),
        }
    }

    /// Stops the server gracefully and fails the test if it had died, or if
    /// its workers left messages undelivered.
    pub async fn stop(mut self) -> TestDatabase {
        if self.workers > 0 {
            self.settle().await;
        }
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(server) = self.server.take() {
            server
                .await
                .expect("the server task did not panic")
                .expect("the server ran without I/O error");
        }
        let errors = self
            .errors
            .0
            .lock()
            .map(|lines| lines.clone())
            .unwrap_or_default();
        assert!(errors.is_empty(), "the server logged errors: {errors:#?}");
        // Handed back alive, for a test that restarts on it.
        self.database
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        let response = self
            .client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("GET");
        read(response).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        let response = self
            .client
            .post(self.url(path))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .expect("POST");
        read(response).await
    }

    /// Triggers an incident as a responder and returns it.
    pub async fn trigger(&self, scenario: &str, severity: &str) -> Value {
        let (status, body) = self
            .post(
                "/api/v1/incidents",
                &self.responder,
                serde_json::json!({
                    "title": format!("Test {scenario}"),
                    "scenario": scenario,
                    "severity": severity,
                    "summary": "Raised by the test suite.",
                }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }

    /// Waits until every queued message is sent or given up on.
    pub async fn settle(&self) {
        let deadline = std::time::Instant::now() + self.settle_within;
        loop {
            let depth = self.store.outbox_depth().await.expect("outbox depth");
            if depth == 0 {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{depth} message(s) still pending"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// The timeline without the delivery records, which arrive on their own time.
    pub async fn changes(&self, incident_id: &str) -> Vec<Value> {
        self.timeline(incident_id)
            .await
            .into_iter()
            .filter(|event| {
                !event["kind"]
                    .as_str()
                    .unwrap_or_default()
                    .starts_with("message_")
            })
            .collect()
    }

    /// Sends `raw` to tocsin's reply listener over SMTP, as the reply
    /// domain's MX would; the listener's last reply, or its refusal.
    pub async fn mail_in(
        &self,
        from: Option<&str>,
        to: &str,
        raw: &[u8],
    ) -> Result<String, lettre::transport::smtp::Error> {
        use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
        let listener = self.inbound_smtp.expect("the reply listener runs");
        let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
            .port(listener.port())
            .build();
        let envelope = lettre::address::Envelope::new(
            from.map(|from| from.parse::<Address>().expect("a sender")),
            vec![to.parse::<Address>().expect("a recipient")],
        )
        .expect("an envelope");
        let response = transport.send_raw(&envelope, raw).await?;
        Ok(response.message().collect::<Vec<_>>().join(" "))
    }

    pub async fn timeline(&self, incident_id: &str) -> Vec<Value> {
        let (status, body) = self
            .get(
                &format!("/api/v1/incidents/{incident_id}/timeline"),
                &self.legal,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["events"].as_array().expect("events").clone()
    }
}

/// A browser-like client for link pages: no redirects followed, a
/// recognisable user agent.
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .user_agent("Mail-Test/1.0")
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client")
}

/// Opens a page as a browser (or a mail scanner) does.
pub async fn page(
    client: &reqwest::Client,
    url: &str,
) -> (StatusCode, reqwest::header::HeaderMap, String) {
    let response = client.get(url).send().await.expect("open a page");
    let status = response.status();
    let headers = response.headers().clone();
    (status, headers, response.text().await.expect("the page"))
}

/// Sends a link page's form, as its buttons do. Returns the status and the
/// page.
pub async fn submit(
    client: &reqwest::Client,
    url: &str,
    form: &[(&str, &str)],
) -> (StatusCode, String) {
    let response = client
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string(form).expect("a form"))
        .send()
        .await
        .expect("press a link");
    let status = response.status();
    (status, response.text().await.expect("the link page"))
}

/// Presses a button on a link's page: the POST its form sends
/// (`action=acknowledge`, ...). Returns the status and the page.
pub async fn press(client: &reqwest::Client, link: &str, action: &str) -> (StatusCode, String) {
    submit(client, link, &[("action", action)]).await
}

/// Opens a sign-in link and presses its button, as a browser does: the
/// cookie the page set goes back with the form. The answer, unfollowed.
pub async fn press_sign_in(link: &str) -> reqwest::Response {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client");
    let page = client.get(link).send().await.expect("the sign-in page");
    assert_eq!(page.status(), StatusCode::OK, "a usable sign-in link");
    let cookie = page
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find(|value| value.contains("tocsin_sign_in="))
        .and_then(|value| value.split(';').next())
        .expect("the page marks this browser")
        .to_owned();
    let html = page.text().await.expect("the page");
    let browser = form_field(&html, "browser").expect("the form's browser field");
    client
        .post(link)
        .header(reqwest::header::COOKIE, cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("browser={browser}"))
        .send()
        .await
        .expect("press sign in")
}

/// A hidden field's value in a page's form.
pub fn form_field(html: &str, name: &str) -> Option<String> {
    let value = html.split(&format!("name=\"{name}\" value=\"")).nth(1)?;
    Some(value.split('"').next()?.to_owned())
}

pub async fn read(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    let text = response.text().await.expect("body");
    let body = serde_json::from_str(&text)
        .unwrap_or_else(|_| panic!("{status}: body is not JSON: {text:?}"));
    (status, body)
}

/// Text the domain takes, from a literal the test knows is good.
pub fn text<const MAX: usize>(value: &str) -> tocsin::domain::Text<MAX> {
    tocsin::domain::Text::parse(value).expect("good text")
}

/// All tasks of an incident, flattened.
pub fn tasks(incident: &Value) -> Vec<Value> {
    incident["departments"]
        .as_array()
        .expect("departments")
        .iter()
        .flat_map(|dept| dept["tasks"].as_array().expect("tasks").clone())
        .collect()
}

/// The head of each engaged department, as the API gives the incident.
pub fn heads(incident: &Value) -> Vec<String> {
    incident["departments"]
        .as_array()
        .expect("departments")
        .iter()
        .map(|dept| dept["head"]["email"].as_str().expect("a head").to_owned())
        .collect()
}

pub fn task<'a>(incident: &'a Value, key: &str) -> &'a Value {
    incident["departments"]
        .as_array()
        .expect("departments")
        .iter()
        .flat_map(|dept| dept["tasks"].as_array().expect("tasks"))
        .find(|task| task["key"] == key)
        .unwrap_or_else(|| panic!("no task {key} in {incident}"))
}

/// A copy of the shipped playbooks to modify.
pub fn playbooks_copy() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let target = dir.path().join("playbooks");
    copy_dir(Path::new(PLAYBOOKS), &target);
    (dir, target)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        let path = entry.path();
        if path.is_dir() {
            copy_dir(&path, &to.join(entry.file_name()));
        } else {
            std::fs::copy(&path, to.join(entry.file_name())).expect("copy");
        }
    }
}

/// Runs `async fn $name(backend: Backend)` once per backend, for tests that
/// set up their own server (custom playbooks, restarts).
#[macro_export]
macro_rules! with_each_backend {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                super::$name(super::support::Backend::Sqlite).await;
            }

            #[tokio::test]
            #[cfg_attr(not(tocsin_postgres_tests), ignore = "needs TOCSIN_TEST_POSTGRES_URL")]
            async fn postgres() {
                super::$name(super::support::Backend::postgres()).await;
            }
        }
    )*};
}

/// Playbooks for timing tests, in a directory of the test's own.
pub fn drill_playbooks(ack_within: &str, complete_within: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path().join("playbooks");
    drill::write(&root, ack_within, complete_within);
    (dir, root)
}
