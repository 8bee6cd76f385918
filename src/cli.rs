//! The `tocsin` command.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use serde_json::json;

use crate::app::{self, App, StartError};
use crate::auth::{ApiToken, Role, User};
use crate::config::{ConfigError, Settings, SettingsArgs};
use crate::delivery::render::when;
use crate::domain::{Actor, Severity};
use crate::engine::{EngineError, TokenGrant, issue_token};
use crate::playbook::Catalog;
use crate::staff::{Staff, StaffError};

#[derive(Debug, Parser)]
#[command(
    name = "tocsin",
    version,
    about = "Crisis-response incident coordinator"
)]
pub struct Cli {
    #[command(flatten)]
    pub settings: SettingsArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (migrates the database first, unless its role may not:
    /// then it checks that the schema is current).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Work with playbooks.
    #[command(subcommand)]
    Playbooks(PlaybooksCommand),
    /// Work with API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Open an incident on a running server (token from TOCSIN_TOKEN).
    Trigger(TriggerArgs),
    /// Work with the web console's people.
    #[command(subcommand)]
    User(UserCommand),
    /// Work with exported timelines.
    #[command(subcommand)]
    Timeline(TimelineCommand),
    /// Purge resolved incidents past the retention period now (not those under legal hold).
    Purge,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Give someone access to the web console; they sign in by emailed link.
    Add {
        email: String,
        #[arg(long)]
        role: Role,
        /// Print a one-time sign-in link (for the first administrator, before mail works).
        #[arg(long)]
        print_link: bool,
    },
    /// List the console's users and their roles.
    List,
    /// Give a user another role; one that takes anything away signs them out.
    Role {
        email: String,
        #[arg(long)]
        role: Role,
    },
    /// Take someone's console access away and sign them out everywhere.
    Remove { email: String },
}

#[derive(Debug, Subcommand)]
pub enum TimelineCommand {
    /// Check an exported JSON timeline offline: every hash, every link, the
    /// signed head. Exit 0 only when it holds.
    Verify {
        file: PathBuf,
        /// The server's public key (GET /api/v1/timeline/public-key); without
        /// it, the key inside the file is used, which proves integrity but
        /// not origin.
        #[arg(long)]
        public_key: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum PlaybooksCommand {
    /// Validate a playbook directory; report every problem with file:line:column.
    Check {
        /// Directory to check [default: the playbooks setting].
        dir: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token and print its secret, alone, on stdout. It is shown only once.
    Create {
        #[arg(long)]
        role: Role,
        /// Who or what holds it; appears on the timeline as the actor.
        #[arg(long)]
        name: String,
        /// Stop working after this long (for example 90d); default: until revoked.
        #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
        expires_in: Option<std::time::Duration>,
    },
    /// List tokens: name, role, created, last used, expiry; never their secrets.
    List,
    /// Revoke a token at once, on every replica.
    Revoke {
        /// The token's id, or its name when only one live token has it.
        token: String,
    },
}

#[derive(Debug, clap::Args)]
pub struct TriggerArgs {
    #[arg(long)]
    pub title: String,
    #[arg(long)]
    pub scenario: String,
    #[arg(long)]
    pub severity: Severity,
    #[arg(long)]
    pub summary: String,
    /// Commander's name (with --commander-email; default: the organisation's).
    #[arg(long, requires = "commander_email")]
    pub commander_name: Option<String>,
    #[arg(long, requires = "commander_name")]
    pub commander_email: Option<String>,
    /// A retried trigger with the same key returns the same incident.
    #[arg(long)]
    pub idempotency_key: Option<String>,
    /// Server base URL [default: the public URL setting].
    #[arg(long, env = "TOCSIN_SERVER")]
    pub server: Option<String>,
    #[arg(long, env = "TOCSIN_TOKEN", hide_env_values = true, hide = true)]
    pub token: Option<String>,
}

impl clap::ValueEnum for Severity {
    fn value_variants<'a>() -> &'a [Self] {
        &Severity::ALL
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.as_str()))
    }
}

impl clap::ValueEnum for Role {
    fn value_variants<'a>() -> &'a [Self] {
        &Role::ALL
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.as_str()))
    }
}

#[derive(Debug, thiserror::Error)]
enum CliError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Start(#[from] StartError),
    #[error("{0}")]
    Failed(String),
}

pub async fn run(cli: Cli) -> ExitCode {
    let outcome = match Settings::resolve(&cli.settings) {
        Ok(settings) => dispatch(cli.command, settings).await,
        Err(error) => Err(error.into()),
    };
    match outcome {
        Ok(code) => code,
        Err(error) => {
            eprintln!("tocsin: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn dispatch(command: Command, settings: Settings) -> Result<ExitCode, CliError> {
    match command {
        Command::Serve => serve(settings).await,
        Command::Migrate => {
            app::migrate(&settings).await?;
            eprintln!("migrations applied");
            Ok(ExitCode::SUCCESS)
        }
        Command::Playbooks(PlaybooksCommand::Check { dir }) => {
            Ok(check_playbooks(&dir.unwrap_or(settings.playbooks)))
        }
        Command::Token(TokenCommand::Create {
            role,
            name,
            expires_in,
        }) => create_token(&settings, &name, role, expires_in).await,
        Command::Token(TokenCommand::List) => list_tokens(&settings).await,
        Command::Token(TokenCommand::Revoke { token }) => revoke_token(&settings, &token).await,
        Command::Trigger(args) => trigger(&settings, args).await,
        Command::Timeline(TimelineCommand::Verify { file, public_key }) => {
            verify_timeline(&file, public_key.as_deref())
        }
        Command::Purge => purge(&settings).await,
        Command::User(UserCommand::Add {
            email,
            role,
            print_link,
        }) => add_user(&settings, &email, role, print_link).await,
        Command::User(UserCommand::List) => list_users(&settings).await,
        Command::User(UserCommand::Role { email, role }) => {
            change_role(&settings, &email, role).await
        }
        Command::User(UserCommand::Remove { email }) => remove_user(&settings, &email).await,
    }
}

async fn serve(settings: Settings) -> Result<ExitCode, CliError> {
    let app = App::build(&settings).await?;
    if let Some(secret) = app
        .engine()
        .first_admin_token()
        .await
        .map_err(|error| CliError::Failed(error.to_string()))?
    {
        // Straight to the terminal, not the log: logs are kept and shipped.
        println!(
            "\nFirst start: created an admin API token. It is shown only this once:\n\n    {}\n",
            secret.expose()
        );
    }
    let addr = app
        .local_addr()
        .map_err(|error| CliError::Failed(error.to_string()))?;
    tracing::info!(%addr, "tocsin is listening");
    app.run(app::shutdown_signal())
        .await
        .map_err(|error| CliError::Failed(format!("server failed: {error}")))?;
    Ok(ExitCode::SUCCESS)
}

fn check_playbooks(dir: &std::path::Path) -> ExitCode {
    match Catalog::load(dir) {
        Ok(catalog) => {
            println!(
                "{}: ok ({} departments, {} scenarios, {} regimes, {} statement templates, \
                 {} audiences, {} signal sources)",
                dir.display(),
                catalog.departments().len(),
                catalog.scenarios().len(),
                catalog.regimes().len(),
                catalog.templates().len(),
                catalog.audiences().len(),
                catalog.signal_sources().len()
            );
            ExitCode::SUCCESS
        }
        Err(diagnostics) => {
            eprintln!("{diagnostics}");
            eprintln!("{}: {} problem(s)", dir.display(), diagnostics.len());
            ExitCode::FAILURE
        }
    }
}

fn verify_timeline(file: &std::path::Path, public_key: Option<&str>) -> Result<ExitCode, CliError> {
    let bytes = std::fs::read(file)
        .map_err(|error| CliError::Failed(format!("{}: {error}", file.display())))?;
    let report = match public_key {
        Some(key) => crate::timeline::verify_export_with_key(&bytes, key),
        None => crate::timeline::verify_export(&bytes),
    };
    println!("{}: {report}", file.display());
    Ok(if report.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Whoever runs the command, for the audit log: the login name the shell
/// gives, as `who` would show it.
fn operator() -> Actor {
    let login = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".to_owned());
    Actor::operator(&login)
}

fn staff_failed(error: StaffError) -> CliError {
    CliError::Failed(error.to_string())
}

fn engine_failed(error: EngineError) -> CliError {
    CliError::Failed(error.to_string())
}

async fn add_user(
    settings: &Settings,
    email: &str,
    role: Role,
    print_link: bool,
) -> Result<ExitCode, CliError> {
    let staff = app::staff(settings, app::open_store(settings).await?)?;
    let user = staff
        .add_user(email, role, &operator())
        .await
        .map_err(staff_failed)?;
    eprintln!("added {} as {}", user.email, user.role);
    if print_link {
        println!("{}", staff.sign_in_link(&user).await.map_err(staff_failed)?);
    }
    Ok(ExitCode::SUCCESS)
}

async fn list_users(settings: &Settings) -> Result<ExitCode, CliError> {
    let staff = app::staff(settings, app::open_store(settings).await?)?;
    let users = staff.users().await.map_err(staff_failed)?;
    let mut table = Table::new(["EMAIL", "ROLE", "ADDED"]);
    for user in &users {
        table.row([
            user.email.clone(),
            user.role.to_string(),
            when(user.created_at),
        ]);
    }
    print!("{table}");
    Ok(ExitCode::SUCCESS)
}

/// The user with this address, or a message naming it.
async fn existing_user(staff: &Staff, email: &str) -> Result<User, CliError> {
    staff
        .user_by_email(email)
        .await
        .map_err(staff_failed)?
        .ok_or_else(|| CliError::Failed(format!("no console user has the address {email:?}")))
}

async fn change_role(settings: &Settings, email: &str, role: Role) -> Result<ExitCode, CliError> {
    let staff = app::staff(settings, app::open_store(settings).await?)?;
    let user = existing_user(&staff, email).await?;
    let before = staff
        .change_role(user.id, role, &operator())
        .await
        .map_err(staff_failed)?;
    if before.role == role {
        eprintln!("{} already is {role}", before.email);
    } else if before.role.loses_by_becoming(role) {
        eprintln!(
            "{} is now {role} (was {}): signed out everywhere",
            before.email, before.role
        );
    } else {
        eprintln!("{} is now {role} (was {})", before.email, before.role);
    }
    Ok(ExitCode::SUCCESS)
}

async fn remove_user(settings: &Settings, email: &str) -> Result<ExitCode, CliError> {
    let staff = app::staff(settings, app::open_store(settings).await?)?;
    let user = existing_user(&staff, email).await?;
    let removed = staff
        .remove_user(user.id, &operator())
        .await
        .map_err(staff_failed)?;
    eprintln!("removed {}: signed out everywhere", removed.email);
    Ok(ExitCode::SUCCESS)
}

async fn purge(settings: &Settings) -> Result<ExitCode, CliError> {
    let Some(retention) = settings.retention else {
        return Err(CliError::Failed(
            "no retention period is set (TOCSIN_RETENTION): nothing is ever purged".into(),
        ));
    };
    let store = app::open_store(settings).await?;
    let purged = crate::engine::purge(store.as_ref(), retention, chrono::Utc::now())
        .await
        .map_err(|error| CliError::Failed(error.to_string()))?;
    for record in &purged {
        println!(
            "purged {} ({}), resolved {}",
            record.reference, record.title, record.resolved_at
        );
    }
    println!("{} incident(s) purged", purged.len());
    Ok(ExitCode::SUCCESS)
}

async fn create_token(
    settings: &Settings,
    name: &str,
    role: Role,
    expires_in: Option<std::time::Duration>,
) -> Result<ExitCode, CliError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(CliError::Failed("--name must not be empty".into()));
    }
    let now = chrono::Utc::now();
    let expires_at = expires_in
        .map(|after| {
            chrono::Duration::from_std(after)
                .ok()
                .and_then(|after| now.checked_add_signed(after))
                .ok_or_else(|| CliError::Failed("--expires-in is too far in the future".into()))
        })
        .transpose()?;
    let store = app::open_store(settings).await?;
    let grant = TokenGrant {
        name: name.to_owned(),
        role,
        expires_at,
    };
    let (_, secret) = issue_token(store.as_ref(), &grant, &operator(), now)
        .await
        .map_err(engine_failed)?;
    println!("{}", secret.expose());
    Ok(ExitCode::SUCCESS)
}

async fn list_tokens(settings: &Settings) -> Result<ExitCode, CliError> {
    let store = app::open_store(settings).await?;
    let tokens = store
        .tokens()
        .await
        .map_err(|error| CliError::Failed(error.to_string()))?;
    let now = chrono::Utc::now();
    let mut table = Table::new([
        "ID",
        "NAME",
        "ROLE",
        "CREATED",
        "LAST USED",
        "EXPIRES",
        "STATE",
    ]);
    for token in &tokens {
        table.row([
            token.id.to_string(),
            token.name.clone(),
            token.role.to_string(),
            when(token.created_at),
            token.last_used_at.map_or_else(|| "never".to_owned(), when),
            token.expires_at.map_or_else(|| "never".to_owned(), when),
            token.state_at(now).as_str().to_owned(),
        ]);
    }
    print!("{table}");
    Ok(ExitCode::SUCCESS)
}

/// The one token `given` names: its id, or the name of exactly one live token.
fn pick_token<'a>(tokens: &'a [ApiToken], given: &str) -> Result<&'a ApiToken, CliError> {
    if let Ok(id) = given.parse::<uuid::Uuid>() {
        return tokens
            .iter()
            .find(|token| token.id == id)
            .ok_or_else(|| CliError::Failed(format!("no token has the id {id}")));
    }
    let now = chrono::Utc::now();
    let named: Vec<&ApiToken> = tokens
        .iter()
        .filter(|token| token.name == given && token.valid_at(now))
        .collect();
    match named.as_slice() {
        [one] => Ok(one),
        [] => Err(CliError::Failed(format!(
            "no live token is named {given:?} (see `tocsin token list`)"
        ))),
        several => Err(CliError::Failed(format!(
            "{} live tokens are named {given:?}: give the id of one ({})",
            several.len(),
            several
                .iter()
                .map(|token| token.id.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

async fn revoke_token(settings: &Settings, given: &str) -> Result<ExitCode, CliError> {
    let store = app::open_store(settings).await?;
    let tokens = store
        .tokens()
        .await
        .map_err(|error| CliError::Failed(error.to_string()))?;
    let token = pick_token(&tokens, given)?;
    if token.revoked_at.is_some() {
        eprintln!("{} ({}) was already revoked", token.name, token.id);
        return Ok(ExitCode::SUCCESS);
    }
    store
        .revoke_token(token.id, &operator(), chrono::Utc::now())
        .await
        .map_err(|error| CliError::Failed(error.to_string()))?;
    eprintln!(
        "revoked {} ({}): refused from now on, on every replica",
        token.name, token.id
    );
    Ok(ExitCode::SUCCESS)
}

/// Columns padded to their widest cell, for a terminal.
struct Table<const N: usize> {
    rows: Vec<[String; N]>,
}

impl<const N: usize> Table<N> {
    fn new(header: [&str; N]) -> Self {
        Table {
            rows: vec![header.map(str::to_owned)],
        }
    }

    fn row(&mut self, cells: [String; N]) {
        self.rows.push(cells);
    }
}

impl<const N: usize> std::fmt::Display for Table<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut widths = [0; N];
        for row in &self.rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        for row in &self.rows {
            let line: Vec<String> = row
                .iter()
                .zip(widths)
                .map(|(cell, width)| format!("{cell:width$}"))
                .collect();
            writeln!(f, "{}", line.join("  ").trim_end())?;
        }
        Ok(())
    }
}

async fn trigger(settings: &Settings, args: TriggerArgs) -> Result<ExitCode, CliError> {
    let token = args
        .token
        .ok_or_else(|| CliError::Failed("set TOCSIN_TOKEN to an API token".into()))?;
    let base = match args.server {
        Some(server) => server,
        None => settings.public_url_for(settings.listen)?.to_string(),
    };
    let url = format!("{}/api/v1/incidents", base.trim_end_matches('/'));
    let mut body = json!({
        "title": args.title,
        "scenario": args.scenario,
        "severity": args.severity,
        "summary": args.summary,
    });
    if let (Some(name), Some(email)) = (args.commander_name, args.commander_email) {
        body["commander"] = json!({ "name": name, "email": email });
    }
    let mut request = reqwest::Client::new()
        .post(&url)
        .bearer_auth(token)
        .json(&body);
    if let Some(key) = args.idempotency_key {
        request = request.header("Idempotency-Key", key);
    }
    let failed = |error: reqwest::Error| CliError::Failed(format!("{url}: {error}"));
    let response = request.send().await.map_err(failed)?;
    let status = response.status();
    let answer: serde_json::Value = response.json().await.map_err(failed)?;
    let pretty = serde_json::to_string_pretty(&answer).unwrap_or_else(|_| answer.to_string());
    if status.is_success() {
        println!("{pretty}");
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("{pretty}");
        Err(CliError::Failed(format!(
            "the server refused the trigger ({status})"
        )))
    }
}
