//! Settings shared by every command: flags, then `TOCSIN_*` environment
//! variables, then an optional TOML file, then defaults that run with no
//! setup at all.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::{Path, PathBuf};

use reqwest::Url;
use serde::Deserialize;

pub const DEFAULT_LISTEN: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 8080));
pub const DEFAULT_DATABASE_URL: &str = "sqlite://tocsin.db";
pub const DEFAULT_PLAYBOOKS: &str = "playbooks";

/// The settings as given on the command line or in the environment.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct SettingsArgs {
    /// TOML file with any of the settings below (flags and environment win).
    #[arg(long, env = "TOCSIN_CONFIG", global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Address the HTTP server listens on [default: 127.0.0.1:8080].
    #[arg(long, env = "TOCSIN_LISTEN", global = true, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// sqlite://PATH (embedded) or postgres://... [default: sqlite://tocsin.db].
    #[arg(
        long,
        env = "TOCSIN_DATABASE_URL",
        global = true,
        value_name = "URL",
        hide_env_values = true
    )]
    pub database_url: Option<String>,
    /// Directory of playbooks [default: playbooks].
    #[arg(long, env = "TOCSIN_PLAYBOOKS", global = true, value_name = "DIR")]
    pub playbooks: Option<PathBuf>,
    /// Base URL of links sent to people [default: http://<listen>].
    #[arg(long, env = "TOCSIN_PUBLIC_URL", global = true, value_name = "URL")]
    pub public_url: Option<String>,
}

/// The optional file: the same settings, under the same names.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SettingsFile {
    listen: Option<SocketAddr>,
    database_url: Option<String>,
    playbooks: Option<PathBuf>,
    public_url: Option<String>,
}

#[derive(Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    pub database_url: String,
    pub playbooks: PathBuf,
    pub public_url: Url,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("listen", &self.listen)
            .field("database_url", &redact_url(&self.database_url))
            .field("playbooks", &self.playbooks)
            .field("public_url", &self.public_url.as_str())
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{setting}: {message}")]
    Invalid {
        setting: &'static str,
        message: String,
    },
}

impl Settings {
    pub fn resolve(args: &SettingsArgs) -> Result<Settings, ConfigError> {
        let file = match &args.config {
            Some(path) => read_file(path)?,
            None => SettingsFile::default(),
        };
        let listen = args.listen.or(file.listen).unwrap_or(DEFAULT_LISTEN);
        let public_url = match args.public_url.clone().or(file.public_url) {
            Some(url) => parse_public_url(&url)?,
            None => parse_public_url(&format!("http://{listen}"))?,
        };
        Ok(Settings {
            listen,
            database_url: args
                .database_url
                .clone()
                .or(file.database_url)
                .unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned()),
            playbooks: args
                .playbooks
                .clone()
                .or(file.playbooks)
                .unwrap_or_else(|| PathBuf::from(DEFAULT_PLAYBOOKS)),
            public_url,
        })
    }
}

fn read_file(path: &Path) -> Result<SettingsFile, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    toml::from_str(&text).map_err(|error| ConfigError::Parse {
        path: path.to_owned(),
        message: error.to_string(),
    })
}

/// Links in emails are built from this, never from a request's Host header.
fn parse_public_url(value: &str) -> Result<Url, ConfigError> {
    let invalid = |message: String| ConfigError::Invalid {
        setting: "public_url",
        message,
    };
    let url = Url::parse(value).map_err(|error| invalid(format!("{value:?}: {error}")))?;
    if !matches!(url.scheme(), "http" | "https")
        || url.query().is_some()
        || url.fragment().is_some()
    {
        return Err(invalid(format!(
            "{value:?}: expected an http(s) base URL without query or fragment"
        )));
    }
    Ok(url)
}

/// The URL with any password replaced, fit for logs and error messages.
pub fn redact_url(url: &str) -> String {
    match Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            // Only fails for URLs that cannot have a password, which this one has.
            let _ = parsed.set_password(Some("redacted"));
            parsed.to_string()
        }
        Ok(_) => url.to_owned(),
        Err(_) => "<unparseable URL>".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_run_with_no_setup() {
        let settings = Settings::resolve(&SettingsArgs::default()).unwrap();
        assert_eq!(settings.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(settings.database_url, "sqlite://tocsin.db");
        assert_eq!(settings.playbooks, PathBuf::from("playbooks"));
        assert_eq!(settings.public_url.as_str(), "http://127.0.0.1:8080/");
    }

    #[test]
    fn flags_win_over_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tocsin.toml");
        std::fs::write(
            &path,
            "listen = \"0.0.0.0:9000\"\ndatabase_url = \"sqlite://file.db\"\n",
        )
        .unwrap();
        let args = SettingsArgs {
            config: Some(path),
            database_url: Some("sqlite://flag.db".into()),
            ..SettingsArgs::default()
        };
        let settings = Settings::resolve(&args).unwrap();
        assert_eq!(settings.listen.to_string(), "0.0.0.0:9000");
        assert_eq!(settings.database_url, "sqlite://flag.db");
    }

    #[test]
    fn a_typo_in_the_file_is_an_error_with_its_line_and_column() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tocsin.toml");
        std::fs::write(&path, "listen = \"127.0.0.1:1\"\ndatabse_url = \"x\"\n").unwrap();
        let args = SettingsArgs {
            config: Some(path.clone()),
            ..SettingsArgs::default()
        };
        let message = Settings::resolve(&args).unwrap_err().to_string();
        assert!(message.contains(&path.display().to_string()), "{message}");
        assert!(message.contains("line 2, column 1"), "{message}");
        assert!(message.contains("databse_url"), "{message}");
    }

    #[test]
    fn passwords_never_reach_the_logs() {
        let redacted = redact_url("postgres://tocsin:hunter2@db:5432/tocsin");
        assert!(!redacted.contains("hunter2"));
        assert!(redacted.contains("redacted"));
        let settings = Settings::resolve(&SettingsArgs {
            database_url: Some("postgres://tocsin:hunter2@db/tocsin".into()),
            ..SettingsArgs::default()
        })
        .unwrap();
        assert!(!format!("{settings:?}").contains("hunter2"));
    }

    #[test]
    fn public_url_must_be_a_plain_http_base() {
        let args = SettingsArgs {
            public_url: Some("ftp://example.com".into()),
            ..SettingsArgs::default()
        };
        assert!(Settings::resolve(&args).is_err());
    }
}
