//! The `tocsin` command.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use serde_json::json;

use crate::app::{self, App, StartError};
use crate::auth::Role;
use crate::config::{ConfigError, Settings, SettingsArgs};
use crate::domain::Severity;
use crate::engine::issue_token;
use crate::playbook::Catalog;

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
    /// Run the server (migrates the database first).
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
            app::open_store(&settings).await?;
            eprintln!("migrations applied");
            Ok(ExitCode::SUCCESS)
        }
        Command::Playbooks(PlaybooksCommand::Check { dir }) => {
            Ok(check_playbooks(&dir.unwrap_or(settings.playbooks)))
        }
        Command::Token(TokenCommand::Create { role, name }) => {
            create_token(&settings, &name, role).await
        }
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
                "{}: ok ({} departments, {} scenarios)",
                dir.display(),
                catalog.departments().len(),
                catalog.scenarios().len()
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

async fn add_user(
    settings: &Settings,
    email: &str,
    role: Role,
    print_link: bool,
) -> Result<ExitCode, CliError> {
    let staff = app::staff(settings, app::open_store(settings).await?)?;
    let failed = |error: crate::staff::StaffError| CliError::Failed(error.to_string());
    let user = staff.add_user(email, role).await.map_err(failed)?;
    eprintln!("added {} as {}", user.email, user.role);
    if print_link {
        println!("{}", staff.sign_in_link(&user).await.map_err(failed)?);
    }
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

async fn create_token(settings: &Settings, name: &str, role: Role) -> Result<ExitCode, CliError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(CliError::Failed("--name must not be empty".into()));
    }
    let store = app::open_store(settings).await?;
    let secret = issue_token(store.as_ref(), name, role, chrono::Utc::now())
        .await
        .map_err(|error| CliError::Failed(error.to_string()))?;
    println!("{}", secret.expose());
    Ok(ExitCode::SUCCESS)
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
