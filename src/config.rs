//! Settings shared by every command: flags, then `TOCSIN_*` environment
//! variables, then an optional TOML file, then defaults that run with no
//! setup at all.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::{Path, PathBuf};

use ipnet::IpNet;
use lettre::message::Mailbox;
use reqwest::Url;
use serde::Deserialize;

use crate::auth::role_map::RoleMap;
use crate::domain::reply_key::ReplyAddress;
use crate::endpoint::{Endpoint, WebhookKind, WebhookSecret};
use crate::redact::redact_url;

pub const DEFAULT_LISTEN: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 8080));
pub const DEFAULT_DATABASE_URL: &str = "sqlite://tocsin.db";
pub const DEFAULT_PLAYBOOKS: &str = "playbooks";
pub const DEFAULT_MAIL_FROM: &str = "tocsin <tocsin@localhost>";
pub const DEFAULT_MAIL_DIR: &str = "mail";
/// Short, because a replica killed mid-send holds its messages this long:
/// a live send keeps its lease by heartbeat, however slow it is.
pub const DEFAULT_DELIVERY_LEASE: std::time::Duration = std::time::Duration::from_secs(15);
pub const DEFAULT_LINK_GRACE: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

const HOUR: u64 = 3600;
const DAY: u64 = 24 * HOUR;

/// What each duration setting may be, and why; anything else is refused at
/// load, so no deadline computed from one can overflow.
struct Range {
    setting: &'static str,
    min: std::time::Duration,
    max: std::time::Duration,
    why: &'static str,
}

/// Renewed while a send is alive, a lease only bounds how long a dead
/// worker's messages wait; longer than a day, they wait a day.
const DELIVERY_LEASE: Range = Range {
    setting: "delivery_lease",
    min: std::time::Duration::from_secs(1),
    max: std::time::Duration::from_secs(DAY),
    why: "a claimed message waits this long if its worker dies",
};

/// Faster than a tenth of a second only loads the database; a lease longer
/// than a day needs no renewal more often than a third of it.
const DELIVERY_HEARTBEAT: Range = Range {
    setting: "delivery_heartbeat",
    min: std::time::Duration::from_millis(100),
    max: std::time::Duration::from_secs(8 * HOUR),
    why: "how often a live send renews the lease on its messages",
};

/// Heartbeats per lease, at least: a lease survives two renewals lost in a
/// row (a slow database, a busy process) before a live send loses it.
const HEARTBEATS_PER_LEASE: u32 = 3;

/// Links are for the incident and its aftermath, not an account.
const LINK_GRACE: Range = Range {
    setting: "link_grace",
    min: std::time::Duration::ZERO,
    max: std::time::Duration::from_secs(366 * DAY),
    why: "links are for the incident and its aftermath",
};

/// Records kept longer than a century are kept forever: leave it unset.
const RETENTION: Range = Range {
    setting: "retention",
    min: std::time::Duration::from_secs(HOUR),
    max: std::time::Duration::from_secs(36_525 * DAY),
    why: "leave it unset to keep resolved incidents forever",
};

impl Range {
    fn check(&self, value: std::time::Duration) -> Result<std::time::Duration, ConfigError> {
        if (self.min..=self.max).contains(&value) {
            return Ok(value);
        }
        let shown = |d: std::time::Duration| humantime::format_duration(d).to_string();
        Err(ConfigError::Invalid {
            setting: self.setting,
            message: format!(
                "{} is out of range: it must be between {} and {} ({})",
                shown(value),
                shown(self.min),
                shown(self.max),
                self.why
            ),
        })
    }
}

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
    /// smtp://host:port, smtp://...?tls=required (STARTTLS), smtps://... (TLS),
    /// with user:password@ [default: none: mail goes to the mail folder].
    #[arg(
        long,
        env = "TOCSIN_SMTP_URL",
        global = true,
        value_name = "URL",
        hide_env_values = true
    )]
    pub smtp_url: Option<String>,
    /// From address of every email [default: tocsin <tocsin@localhost>].
    #[arg(long, env = "TOCSIN_MAIL_FROM", global = true, value_name = "MAILBOX")]
    pub mail_from: Option<String>,
    /// Where messages are written as .eml files when no SMTP is set [default: mail].
    #[arg(long, env = "TOCSIN_MAIL_DIR", global = true, value_name = "DIR")]
    pub mail_dir: Option<PathBuf>,
    /// How long email links keep working after their incident is resolved [default: 24h].
    #[arg(long, env = "TOCSIN_LINK_GRACE", global = true, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub link_grace: Option<std::time::Duration>,
    /// Base64 Ed25519 seed that signs timeline heads [default: generated on first start and kept in the database].
    #[arg(
        long,
        env = "TOCSIN_SIGNING_KEY",
        global = true,
        value_name = "BASE64",
        hide_env_values = true
    )]
    pub signing_key: Option<String>,
    /// Purge resolved incidents this long after resolution, unless under legal hold [default: keep forever].
    #[arg(long, env = "TOCSIN_RETENTION", global = true, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub retention: Option<std::time::Duration>,
    /// How long a claimed message stays with a worker that stops renewing it (one that died)
    /// before another may take it [default: 15s].
    #[arg(long, env = "TOCSIN_DELIVERY_LEASE", global = true, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub delivery_lease: Option<std::time::Duration>,
    /// How often a worker renews the lease of the messages it is sending; at most a third of
    /// the lease [default: a third of the lease].
    #[arg(long, env = "TOCSIN_DELIVERY_HEARTBEAT", global = true, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub delivery_heartbeat: Option<std::time::Duration>,
    /// Delivery workers in this process; 0 leaves delivery to other replicas [default: 1].
    #[arg(long, env = "TOCSIN_DELIVERY_WORKERS", global = true, value_name = "N")]
    pub delivery_workers: Option<usize>,
    /// A bearer token that GET /metrics then requires [default: none: metrics are open].
    #[arg(
        long,
        env = "TOCSIN_METRICS_TOKEN",
        global = true,
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub metrics_token: Option<String>,
    /// Proxies whose Forwarded / X-Forwarded-For headers are believed: addresses or CIDR
    /// ranges, comma-separated [default: none].
    #[arg(
        long,
        env = "TOCSIN_TRUSTED_PROXIES",
        global = true,
        value_name = "ADDRESSES"
    )]
    pub trusted_proxies: Option<String>,
    /// Where replies to tocsin's mail come back, prefix@domain: each mail
    /// then says Reply-To prefix+KEY@domain, and a reply acts [default: none:
    /// replies are not read].
    #[arg(
        long,
        env = "TOCSIN_REPLY_ADDRESS",
        global = true,
        value_name = "ADDRESS"
    )]
    pub reply_address: Option<String>,
    /// Address of the built-in SMTP listener that takes replies (for the reply
    /// domain's MX or a relay's transport) [default: none].
    #[arg(
        long,
        env = "TOCSIN_INBOUND_SMTP_LISTEN",
        global = true,
        value_name = "ADDR"
    )]
    pub inbound_smtp_listen: Option<SocketAddr>,
    /// PEM certificate chain the reply listener offers with STARTTLS [default:
    /// none: plain SMTP only].
    #[arg(
        long,
        env = "TOCSIN_INBOUND_TLS_CERT",
        global = true,
        value_name = "FILE"
    )]
    pub inbound_tls_cert: Option<PathBuf>,
    /// Its PEM private key.
    #[arg(
        long,
        env = "TOCSIN_INBOUND_TLS_KEY",
        global = true,
        value_name = "FILE"
    )]
    pub inbound_tls_key: Option<PathBuf>,
    /// One mailbox that replies land in, read by IMAP (IDLE) by one replica
    /// at a time: imaps://user:password@host[:993]/INBOX, or imap:// without
    /// TLS (loopback only) [default: none].
    #[arg(
        long,
        env = "TOCSIN_IMAP_URL",
        global = true,
        value_name = "URL",
        hide_env_values = true
    )]
    pub imap_url: Option<String>,
    /// Whether an out-of-office reply sends the chase to the deputies at once
    /// [default: false: it is recorded only].
    #[arg(
        long,
        env = "TOCSIN_OUT_OF_OFFICE_ESCALATES",
        global = true,
        value_name = "BOOL"
    )]
    pub out_of_office_escalates: Option<bool>,
    /// Issuer URL of the organisation's OpenID provider: the console then
    /// offers to sign in through it [default: none: emailed links only].
    #[arg(long, env = "TOCSIN_OIDC_ISSUER", global = true, value_name = "URL")]
    pub oidc_issuer: Option<String>,
    /// The client id tocsin is registered with at the provider.
    #[arg(long, env = "TOCSIN_OIDC_CLIENT_ID", global = true, value_name = "ID")]
    pub oidc_client_id: Option<String>,
    /// The client secret that goes with it.
    #[arg(
        long,
        env = "TOCSIN_OIDC_CLIENT_SECRET",
        global = true,
        value_name = "SECRET",
        hide_env_values = true
    )]
    pub oidc_client_secret: Option<String>,
    /// The ID token claim that decides a person's role [default: groups].
    #[arg(
        long,
        env = "TOCSIN_OIDC_ROLE_CLAIM",
        global = true,
        value_name = "CLAIM"
    )]
    pub oidc_role_claim: Option<String>,
    /// VALUE=ROLE rules, comma-separated; the first whose value the claim
    /// holds gives the role, and nobody else is let in.
    #[arg(long, env = "TOCSIN_OIDC_ROLES", global = true, value_name = "RULES")]
    pub oidc_roles: Option<String>,
    /// Scopes asked for besides openid, comma-separated: those that put the
    /// email address and the role claim in the ID token [default: email].
    #[arg(long, env = "TOCSIN_OIDC_SCOPES", global = true, value_name = "SCOPES")]
    pub oidc_scopes: Option<String>,
}

/// The optional file: the same settings, under the same names.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SettingsFile {
    listen: Option<SocketAddr>,
    database_url: Option<String>,
    playbooks: Option<PathBuf>,
    public_url: Option<String>,
    smtp_url: Option<String>,
    mail_from: Option<String>,
    mail_dir: Option<PathBuf>,
    delivery_workers: Option<usize>,
    #[serde(default, with = "humantime_serde_option")]
    link_grace: Option<std::time::Duration>,
    #[serde(default, with = "humantime_serde_option")]
    delivery_lease: Option<std::time::Duration>,
    #[serde(default, with = "humantime_serde_option")]
    delivery_heartbeat: Option<std::time::Duration>,
    signing_key: Option<String>,
    #[serde(default, with = "humantime_serde_option")]
    retention: Option<std::time::Duration>,
    trusted_proxies: Option<Vec<String>>,
    metrics_token: Option<String>,
    reply_address: Option<String>,
    inbound_smtp_listen: Option<SocketAddr>,
    inbound_tls_cert: Option<PathBuf>,
    inbound_tls_key: Option<PathBuf>,
    imap_url: Option<String>,
    out_of_office_escalates: Option<bool>,
    oidc_issuer: Option<String>,
    oidc_client_id: Option<String>,
    oidc_client_secret: Option<String>,
    oidc_role_claim: Option<String>,
    oidc_roles: Option<Vec<String>>,
    oidc_scopes: Option<Vec<String>>,
    #[serde(default)]
    webhooks: Vec<WebhookFile>,
}

/// Durations in the file read as in flags: "24h", "90m".
mod humantime_serde_option {
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<std::time::Duration>, D::Error> {
        Option::<String>::deserialize(deserializer)?
            .map(|text| humantime::parse_duration(&text).map_err(serde::de::Error::custom))
            .transpose()
    }
}

/// A webhook endpoint, in the config file only: its URL or secret is a
/// credential, so it belongs with the deployment, not in the playbooks.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WebhookFile {
    name: String,
    kind: WebhookKind,
    url: String,
    secret: Option<String>,
    /// Only notices about these departments; all notices when absent.
    departments: Option<Vec<String>>,
}

#[derive(Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    pub database_url: String,
    pub playbooks: PathBuf,
    /// None: `http://` and the address the server is bound to.
    pub public_url: Option<Url>,
    pub smtp_url: Option<String>,
    pub mail_from: Mailbox,
    pub mail_dir: PathBuf,
    pub delivery_workers: usize,
    pub delivery_lease: std::time::Duration,
    /// How often a live send renews its lease; at most a third of it.
    pub delivery_heartbeat: std::time::Duration,
    pub link_grace: chrono::Duration,
    pub signing_key: Option<String>,
    pub retention: Option<std::time::Duration>,
    /// Peers whose forwarding headers name the client.
    pub trusted_proxies: Vec<IpNet>,
    /// What `/metrics` requires as a bearer token, if anything.
    pub metrics_token: Option<String>,
    /// Where replies come back, if they are read.
    pub reply_address: Option<ReplyAddress>,
    pub inbound_smtp_listen: Option<SocketAddr>,
    /// Certificate chain and key files for the listener's STARTTLS.
    pub inbound_tls: Option<(PathBuf, PathBuf)>,
    /// The mailbox replies are read from by IMAP, if any.
    pub imap: Option<ImapMailbox>,
    pub out_of_office_escalates: bool,
    /// Sign-in through the organisation's OpenID provider, if set up.
    pub oidc: Option<OidcSettings>,
    pub webhooks: Vec<WebhookSettings>,
}

#[derive(Clone)]
pub struct OidcSettings {
    pub issuer: Url,
    pub client_id: String,
    pub client_secret: String,
    pub role_claim: String,
    pub roles: RoleMap,
    /// Asked for besides `openid`.
    pub scopes: Vec<String>,
}

impl fmt::Debug for OidcSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OidcSettings")
            .field("issuer", &self.issuer.as_str())
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("role_claim", &self.role_claim)
            .field("roles", &self.roles.to_string())
            .field("scopes", &self.scopes)
            .finish()
    }
}

/// The claim most providers put a person's groups in.
pub const DEFAULT_OIDC_ROLE_CLAIM: &str = "groups";

#[derive(Clone, Debug)]
pub struct WebhookSettings {
    pub name: String,
    pub endpoint: Endpoint,
    pub departments: Option<Vec<String>>,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("listen", &self.listen)
            .field("database_url", &redact_url(&self.database_url))
            .field("playbooks", &self.playbooks)
            .field("public_url", &self.public_url.as_ref().map(Url::as_str))
            .field("smtp_url", &self.smtp_url.as_deref().map(redact_url))
            .field("mail_from", &self.mail_from.to_string())
            .field("mail_dir", &self.mail_dir)
            .field("delivery_workers", &self.delivery_workers)
            .field("delivery_lease", &self.delivery_lease)
            .field("delivery_heartbeat", &self.delivery_heartbeat)
            .field("link_grace", &self.link_grace)
            .field(
                "signing_key",
                &self.signing_key.as_ref().map(|_| "<redacted>"),
            )
            .field("retention", &self.retention)
            .field("trusted_proxies", &self.trusted_proxies)
            .field(
                "metrics_token",
                &self.metrics_token.as_ref().map(|_| "<redacted>"),
            )
            .field(
                "reply_address",
                &self.reply_address.as_ref().map(ToString::to_string),
            )
            .field("inbound_smtp_listen", &self.inbound_smtp_listen)
            .field("inbound_tls", &self.inbound_tls)
            .field("imap", &self.imap)
            .field("out_of_office_escalates", &self.out_of_office_escalates)
            .field("oidc", &self.oidc)
            .field("webhooks", &self.webhooks)
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
        let oidc = OidcSettings::resolve(args, &file)?;
        let listen = args.listen.or(file.listen).unwrap_or(DEFAULT_LISTEN);
        let public_url = args
            .public_url
            .clone()
            .or(file.public_url)
            .map(|url| parse_public_url(&url))
            .transpose()?;
        let (delivery_lease, delivery_heartbeat) = delivery_timing(
            args.delivery_lease.or(file.delivery_lease),
            args.delivery_heartbeat.or(file.delivery_heartbeat),
        )?;
        let settings = Settings {
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
            smtp_url: args.smtp_url.clone().or(file.smtp_url),
            mail_from: parse_mailbox(
                args.mail_from
                    .as_deref()
                    .or(file.mail_from.as_deref())
                    .unwrap_or(DEFAULT_MAIL_FROM),
            )?,
            mail_dir: args
                .mail_dir
                .clone()
                .or(file.mail_dir)
                .unwrap_or_else(|| PathBuf::from(DEFAULT_MAIL_DIR)),
            delivery_workers: args.delivery_workers.or(file.delivery_workers).unwrap_or(1),
            delivery_lease,
            delivery_heartbeat,
            link_grace: LINK_GRACE
                .check(
                    args.link_grace
                        .or(file.link_grace)
                        .unwrap_or(DEFAULT_LINK_GRACE),
                )
                .map(|grace| chrono::Duration::from_std(grace).unwrap_or(chrono::Duration::MAX))?,
            signing_key: args.signing_key.clone().or(file.signing_key),
            retention: args
                .retention
                .or(file.retention)
                .map(|retention| RETENTION.check(retention))
                .transpose()?,
            trusted_proxies: match args.trusted_proxies.as_deref() {
                Some(list) => {
                    parse_proxies(list.split(',').filter(|item| !item.trim().is_empty()))?
                }
                None => parse_proxies(file.trusted_proxies.iter().flatten().map(String::as_str))?,
            },
            metrics_token: args
                .metrics_token
                .clone()
                .or(file.metrics_token)
                .map(|token| {
                    if token.len() >= 16 && token.bytes().all(|b| b.is_ascii_graphic()) {
                        Ok(token)
                    } else {
                        Err(ConfigError::Invalid {
                            setting: "metrics_token",
                            message: "must be at least 16 visible ASCII characters".into(),
                        })
                    }
                })
                .transpose()?,
            reply_address: args
                .reply_address
                .clone()
                .or(file.reply_address)
                .map(|address| {
                    ReplyAddress::parse(&address).map_err(|message| ConfigError::Invalid {
                        setting: "reply_address",
                        message,
                    })
                })
                .transpose()?,
            inbound_smtp_listen: args.inbound_smtp_listen.or(file.inbound_smtp_listen),
            inbound_tls: match (
                args.inbound_tls_cert.clone().or(file.inbound_tls_cert),
                args.inbound_tls_key.clone().or(file.inbound_tls_key),
            ) {
                (Some(cert), Some(key)) => Some((cert, key)),
                (None, None) => None,
                _ => {
                    return Err(ConfigError::Invalid {
                        setting: "inbound_tls_cert",
                        message: "set both inbound_tls_cert and inbound_tls_key, or neither".into(),
                    });
                }
            },
            imap: args
                .imap_url
                .clone()
                .or(file.imap_url)
                .map(|url| ImapMailbox::parse(&url))
                .transpose()?,
            out_of_office_escalates: args
                .out_of_office_escalates
                .or(file.out_of_office_escalates)
                .unwrap_or(false),
            oidc,
            webhooks: file
                .webhooks
                .into_iter()
                .map(WebhookSettings::parse)
                .collect::<Result<_, _>>()?,
        };
        if settings.inbound_tls.is_some() && settings.inbound_smtp_listen.is_none() {
            return Err(ConfigError::Invalid {
                setting: "inbound_tls_cert",
                message: "is for the reply listener: set inbound_smtp_listen too".into(),
            });
        }
        if settings.inbound_smtp_listen.is_some() && settings.reply_address.is_none() {
            return Err(ConfigError::Invalid {
                setting: "inbound_smtp_listen",
                message: "needs reply_address: it takes mail for that address's sub-addresses"
                    .into(),
            });
        }
        if settings.imap.is_some() && settings.reply_address.is_none() {
            return Err(ConfigError::Invalid {
                setting: "imap_url",
                message: "needs reply_address: the replies it reads answer mail that says \
                          Reply-To that address"
                    .into(),
            });
        }
        Ok(settings)
    }
}

/// The IMAP mailbox replies land in, from `imap_url`.
#[derive(Clone, PartialEq, Eq)]
pub struct ImapMailbox {
    /// `imaps`: TLS from the first byte (port 993). `imap`: none, for a
    /// server on loopback (no STARTTLS: a hosted server offers 993).
    pub tls: bool,
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: String,
    pub mailbox: String,
}

impl ImapMailbox {
    /// Reads `imap_url`; an error names the URL with its password redacted.
    pub fn parse(value: &str) -> Result<ImapMailbox, ConfigError> {
        // The URL holds a password: errors name it redacted.
        let invalid = |message: &str| ConfigError::Invalid {
            setting: "imap_url",
            message: format!("{}: {message}", redact_url(value)),
        };
        let url = Url::parse(value).map_err(|error| invalid(&error.to_string()))?;
        let tls = match url.scheme() {
            "imaps" => true,
            "imap" => false,
            _ => return Err(invalid("expected imaps://user:password@host/MAILBOX")),
        };
        let decode = |text: &str| {
            percent_encoding::percent_decode_str(text)
                .decode_utf8()
                .map(|text| text.into_owned())
                .map_err(|_| invalid("the user, password and mailbox must be UTF-8"))
        };
        let host = url
            .host_str()
            .filter(|host| !host.is_empty())
            .ok_or_else(|| invalid("no host"))?;
        // Without TLS the password crosses the network in clear: loopback only.
        if !tls && !matches!(host, "127.0.0.1" | "[::1]" | "localhost") {
            return Err(invalid(
                "imap:// (no TLS) is for a server on loopback: use imaps://",
            ));
        }
        let user = decode(url.username())?;
        let password = decode(url.password().unwrap_or_default())?;
        if user.is_empty() || password.is_empty() {
            return Err(invalid("needs user:password@"));
        }
        let mailbox = decode(url.path().trim_start_matches('/'))?;
        if url.query().is_some() || url.fragment().is_some() {
            return Err(invalid("expected no query or fragment"));
        }
        Ok(ImapMailbox {
            tls,
            // Brackets off an IPv6 literal, for the socket address.
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
            port: url.port().unwrap_or(if tls { 993 } else { 143 }),
            user,
            password,
            mailbox: if mailbox.is_empty() {
                "INBOX".to_owned()
            } else {
                mailbox
            },
        })
    }
}

impl fmt::Debug for ImapMailbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImapMailbox")
            .field("tls", &self.tls)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .field("mailbox", &self.mailbox)
            .finish()
    }
}

impl OidcSettings {
    /// None unless an issuer is set; then every other setting it needs must
    /// be there too, or tocsin does not start.
    fn resolve(
        args: &SettingsArgs,
        file: &SettingsFile,
    ) -> Result<Option<OidcSettings>, ConfigError> {
        let pick =
            |arg: &Option<String>, file: &Option<String>| arg.clone().or_else(|| file.clone());
        let Some(issuer) = pick(&args.oidc_issuer, &file.oidc_issuer) else {
            return Ok(None);
        };
        let required = |setting: &'static str, value: Option<String>| {
            value
                .filter(|value| !value.trim().is_empty())
                .ok_or_else(|| ConfigError::Invalid {
                    setting,
                    message: "required when oidc_issuer is set".into(),
                })
        };
        // Plain HTTP only to this machine: anywhere else the provider's
        // keys and tokens could be swapped on the way.
        let issuer = Url::parse(&issuer)
            .ok()
            .filter(|url| {
                url.query().is_none()
                    && (url.scheme() == "https"
                        || url.scheme() == "http"
                            && matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]")))
            })
            .ok_or_else(|| ConfigError::Invalid {
                setting: "oidc_issuer",
                message: format!(
                    "{issuer:?}: expected the provider's https issuer URL (http only for localhost)"
                ),
            })?;
        let roles = match (&args.oidc_roles, &file.oidc_roles) {
            (Some(rules), _) => RoleMap::parse(rules.split(',')),
            (None, Some(rules)) => RoleMap::parse(rules.iter().map(String::as_str)),
            (None, None) => Err("required when oidc_issuer is set: VALUE=ROLE rules".to_owned()),
        }
        .map_err(|message| ConfigError::Invalid {
            setting: "oidc_roles",
            message,
        })?;
        Ok(Some(OidcSettings {
            issuer,
            client_id: required(
                "oidc_client_id",
                pick(&args.oidc_client_id, &file.oidc_client_id),
            )?,
            client_secret: required(
                "oidc_client_secret",
                pick(&args.oidc_client_secret, &file.oidc_client_secret),
            )?,
            role_claim: pick(&args.oidc_role_claim, &file.oidc_role_claim)
                .unwrap_or_else(|| DEFAULT_OIDC_ROLE_CLAIM.to_owned()),
            roles,
            scopes: match (&args.oidc_scopes, &file.oidc_scopes) {
                (Some(scopes), _) => scopes.split(',').map(str::to_owned).collect(),
                (None, Some(scopes)) => scopes.clone(),
                (None, None) => vec!["email".to_owned()],
            }
            .into_iter()
            .map(|scope| scope.trim().to_owned())
            .filter(|scope| !scope.is_empty() && scope != "openid")
            .collect(),
        }))
    }
}

/// The lease and its heartbeat, checked together: a heartbeat slower than a
/// third of the lease would let a live send lose its messages to another
/// worker, which would send them again.
fn delivery_timing(
    lease: Option<std::time::Duration>,
    heartbeat: Option<std::time::Duration>,
) -> Result<(std::time::Duration, std::time::Duration), ConfigError> {
    let lease = DELIVERY_LEASE.check(lease.unwrap_or(DEFAULT_DELIVERY_LEASE))?;
    let most = lease / HEARTBEATS_PER_LEASE;
    let heartbeat = DELIVERY_HEARTBEAT.check(heartbeat.unwrap_or(most))?;
    if heartbeat > most {
        let shown = |d: std::time::Duration| humantime::format_duration(d).to_string();
        return Err(ConfigError::Invalid {
            setting: "delivery_heartbeat",
            message: format!(
                "{} is too slow for a delivery_lease of {}: it must be at most a third of \
                 the lease ({}), or a live send could lose its messages to another worker \
                 and be sent twice",
                shown(heartbeat),
                shown(lease),
                shown(most)
            ),
        });
    }
    Ok((lease, heartbeat))
}

/// Addresses (`192.0.2.1`, `2001:db8::1`) or ranges (`10.0.0.0/8`).
fn parse_proxies<'a>(items: impl Iterator<Item = &'a str>) -> Result<Vec<IpNet>, ConfigError> {
    items
        .map(|item| {
            let item = item.trim();
            item.parse::<IpNet>()
                .or_else(|_| item.parse::<std::net::IpAddr>().map(IpNet::from))
                .map_err(|_| ConfigError::Invalid {
                    setting: "trusted_proxies",
                    message: format!("{item:?} is neither an IP address nor a CIDR range"),
                })
        })
        .collect()
}

fn parse_mailbox(value: &str) -> Result<Mailbox, ConfigError> {
    value.parse().map_err(|error| ConfigError::Invalid {
        setting: "mail_from",
        message: format!("{value:?}: {error}"),
    })
}

impl WebhookSettings {
    fn parse(file: WebhookFile) -> Result<WebhookSettings, ConfigError> {
        let invalid = |message: String| ConfigError::Invalid {
            setting: "webhooks",
            message: format!("{}: {message}", file.name),
        };
        let url = Url::parse(&file.url).map_err(|error| invalid(format!("url: {error}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(invalid("url: expected http(s)".into()));
        }
        let secret = file
            .secret
            .as_deref()
            .map(WebhookSecret::parse)
            .transpose()
            .map_err(|error| invalid(format!("secret: {error}")))?;
        if file.kind == WebhookKind::Standard && secret.is_none() {
            return Err(invalid("a standard webhook needs a whsec_ secret".into()));
        }
        Ok(WebhookSettings {
            name: file.name,
            endpoint: Endpoint {
                kind: file.kind,
                url,
                secret,
            },
            departments: file.departments,
        })
    }
}

impl Settings {
    /// The base of links: the configured public URL, or the bound address
    /// (known only once bound: the listen port may be 0).
    pub fn public_url_for(&self, bound: SocketAddr) -> Result<Url, ConfigError> {
        match &self.public_url {
            Some(url) => Ok(url.clone()),
            None => parse_public_url(&format!("http://{bound}")),
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_run_with_no_setup() {
        let settings = Settings::resolve(&SettingsArgs::default()).unwrap();
        assert_eq!(settings.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(settings.database_url, "sqlite://tocsin.db");
        assert_eq!(settings.playbooks, PathBuf::from("playbooks"));
        assert_eq!(settings.public_url, None);
        assert_eq!(
            settings.public_url_for(settings.listen).unwrap().as_str(),
            "http://127.0.0.1:8080/"
        );
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
    fn trusted_proxies_are_addresses_or_ranges_from_a_flag_or_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tocsin.toml");
        std::fs::write(&path, "trusted_proxies = [\"10.0.0.0/8\", \"::1\"]\n").unwrap();
        let from_file = SettingsArgs {
            config: Some(path),
            ..SettingsArgs::default()
        };
        let settings = Settings::resolve(&from_file).unwrap();
        let shown: Vec<String> = settings
            .trusted_proxies
            .iter()
            .map(|n| n.to_string())
            .collect();
        assert_eq!(shown, ["10.0.0.0/8", "::1/128"]);
        let flag = SettingsArgs {
            trusted_proxies: Some("192.0.2.1, 198.51.100.0/24".into()),
            ..from_file
        };
        let shown: Vec<String> = Settings::resolve(&flag)
            .unwrap()
            .trusted_proxies
            .iter()
            .map(|n| n.to_string())
            .collect();
        assert_eq!(shown, ["192.0.2.1/32", "198.51.100.0/24"], "the flag wins");
        assert!(
            Settings::resolve(&SettingsArgs::default())
                .unwrap()
                .trusted_proxies
                .is_empty()
        );
        let wrong = SettingsArgs {
            trusted_proxies: Some("10.0.0.0/8,proxy.internal".into()),
            ..SettingsArgs::default()
        };
        let error = Settings::resolve(&wrong).unwrap_err().to_string();
        assert_eq!(
            error,
            "trusted_proxies: \"proxy.internal\" is neither an IP address nor a CIDR range"
        );
    }

    #[test]
    fn a_metrics_token_is_long_enough_to_guard_and_never_shown() {
        let short = SettingsArgs {
            metrics_token: Some("secret".into()),
            ..SettingsArgs::default()
        };
        let error = Settings::resolve(&short).unwrap_err().to_string();
        assert_eq!(
            error,
            "metrics_token: must be at least 16 visible ASCII characters"
        );
        assert!(!error.contains("secret"));
        let good = SettingsArgs {
            metrics_token: Some("a-long-scrape-token-0123".into()),
            ..SettingsArgs::default()
        };
        let settings = Settings::resolve(&good).unwrap();
        assert!(!format!("{settings:?}").contains("a-long-scrape-token-0123"));
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
        let settings = Settings::resolve(&SettingsArgs {
            database_url: Some("postgres://tocsin:hunter2@db/tocsin".into()),
            ..SettingsArgs::default()
        })
        .unwrap();
        assert!(!format!("{settings:?}").contains("hunter2"));
    }

    #[test]
    fn an_imap_mailbox_needs_the_reply_address_and_never_shows_its_password() {
        let url = "imaps://replies%40example.com:hunter%2F2@imap.example.com/Replies";
        let alone = Settings::resolve(&SettingsArgs {
            imap_url: Some(url.into()),
            ..SettingsArgs::default()
        })
        .unwrap_err()
        .to_string();
        assert!(
            alone.contains("imap_url") && alone.contains("reply_address"),
            "{alone}"
        );
        let settings = Settings::resolve(&SettingsArgs {
            imap_url: Some(url.into()),
            reply_address: Some("replies@example.com".into()),
            ..SettingsArgs::default()
        })
        .unwrap();
        let imap = settings.imap.as_ref().unwrap();
        assert_eq!(
            (imap.tls, imap.host.as_str(), imap.port, imap.user.as_str()),
            (true, "imap.example.com", 993, "replies@example.com")
        );
        assert_eq!(
            (imap.password.as_str(), imap.mailbox.as_str()),
            ("hunter/2", "Replies")
        );
        assert!(!format!("{settings:?}").contains("hunter"));
        for bad in [
            "pop3://u:hunter2@host/",
            "imap://host/INBOX",
            "imaps://u:hunter2@/INBOX",
            "imap://u:hunter2@imap.example.com/INBOX",
        ] {
            let error = Settings::resolve(&SettingsArgs {
                imap_url: Some(bad.into()),
                reply_address: Some("replies@example.com".into()),
                ..SettingsArgs::default()
            })
            .unwrap_err()
            .to_string();
            assert!(
                error.starts_with("imap_url:") && !error.contains("hunter2"),
                "{error}"
            );
        }
    }

    #[test]
    fn durations_out_of_range_are_refused_by_name() {
        let huge = humantime::parse_duration("300000years").unwrap();
        let cases = [
            SettingsArgs {
                retention: Some(huge),
                ..SettingsArgs::default()
            },
            SettingsArgs {
                link_grace: Some(huge),
                ..SettingsArgs::default()
            },
            SettingsArgs {
                delivery_lease: Some(std::time::Duration::from_millis(10)),
                ..SettingsArgs::default()
            },
        ];
        for (args, setting) in cases
            .iter()
            .zip(["retention", "link_grace", "delivery_lease"])
        {
            let message = Settings::resolve(args).unwrap_err().to_string();
            assert!(message.starts_with(&format!("{setting}: ")), "{message}");
            assert!(message.contains("out of range"), "{message}");
        }
        let kept = Settings::resolve(&SettingsArgs {
            retention: Some(humantime::parse_duration("7years").unwrap()),
            ..SettingsArgs::default()
        })
        .unwrap();
        assert!(kept.retention.is_some());
    }

    #[test]
    fn a_dead_workers_messages_wait_seconds_and_a_live_send_renews_thrice_a_lease() {
        let settings = Settings::resolve(&SettingsArgs::default()).unwrap();
        assert_eq!(settings.delivery_lease, std::time::Duration::from_secs(15));
        assert_eq!(
            settings.delivery_heartbeat,
            std::time::Duration::from_secs(5)
        );
        // The heartbeat follows a lease that was set alone.
        let longer = Settings::resolve(&SettingsArgs {
            delivery_lease: Some(std::time::Duration::from_secs(60)),
            ..SettingsArgs::default()
        })
        .unwrap();
        assert_eq!(
            longer.delivery_heartbeat,
            std::time::Duration::from_secs(20)
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tocsin.toml");
        std::fs::write(
            &path,
            "delivery_lease = \"30s\"\ndelivery_heartbeat = \"2s\"\n",
        )
        .unwrap();
        let from_file = Settings::resolve(&SettingsArgs {
            config: Some(path),
            ..SettingsArgs::default()
        })
        .unwrap();
        assert_eq!(from_file.delivery_lease, std::time::Duration::from_secs(30));
        assert_eq!(
            from_file.delivery_heartbeat,
            std::time::Duration::from_secs(2)
        );
    }

    #[test]
    fn a_heartbeat_a_live_send_could_outlast_is_refused_at_start() {
        let slow = |lease: u64, heartbeat_ms: u64| SettingsArgs {
            delivery_lease: Some(std::time::Duration::from_secs(lease)),
            delivery_heartbeat: Some(std::time::Duration::from_millis(heartbeat_ms)),
            ..SettingsArgs::default()
        };
        let message = Settings::resolve(&slow(15, 6000)).unwrap_err().to_string();
        assert!(
            message.starts_with("delivery_heartbeat: 6s is too slow"),
            "{message}"
        );
        assert!(
            message.contains("at most a third of the lease (5s)"),
            "{message}"
        );
        // A lease set shorter than a few default heartbeats is refused too.
        let short_lease = SettingsArgs {
            delivery_lease: Some(std::time::Duration::from_secs(4)),
            delivery_heartbeat: Some(std::time::Duration::from_secs(5)),
            ..SettingsArgs::default()
        };
        let message = Settings::resolve(&short_lease).unwrap_err().to_string();
        assert!(message.starts_with("delivery_heartbeat: "), "{message}");
        // Exactly a third is enough.
        let settings = Settings::resolve(&slow(15, 5000)).unwrap();
        assert_eq!(
            settings.delivery_heartbeat,
            std::time::Duration::from_secs(5)
        );
    }

    #[test]
    fn a_heartbeat_out_of_range_is_refused_by_name() {
        for heartbeat in [
            std::time::Duration::from_millis(10),
            std::time::Duration::from_secs(9 * HOUR),
        ] {
            let args = SettingsArgs {
                delivery_lease: Some(std::time::Duration::from_secs(DAY)),
                delivery_heartbeat: Some(heartbeat),
                ..SettingsArgs::default()
            };
            let message = Settings::resolve(&args).unwrap_err().to_string();
            assert!(message.starts_with("delivery_heartbeat: "), "{message}");
            assert!(message.contains("out of range"), "{message}");
        }
        let fastest = Settings::resolve(&SettingsArgs {
            delivery_heartbeat: Some(std::time::Duration::from_millis(100)),
            ..SettingsArgs::default()
        })
        .unwrap();
        assert_eq!(
            fastest.delivery_heartbeat,
            std::time::Duration::from_millis(100)
        );
    }

    #[test]
    fn public_url_must_be_a_plain_http_base() {
        let args = SettingsArgs {
            public_url: Some("ftp://example.com".into()),
            ..SettingsArgs::default()
        };
        assert!(Settings::resolve(&args).is_err());
    }

    fn oidc_args() -> SettingsArgs {
        SettingsArgs {
            oidc_issuer: Some("https://id.example.org/realms/staff".into()),
            oidc_client_id: Some("tocsin".into()),
            oidc_client_secret: Some("s3cret-from-the-provider".into()),
            oidc_roles: Some("crisis-comms=responder, legal=legal".into()),
            ..SettingsArgs::default()
        }
    }

    #[test]
    fn single_sign_on_is_off_unless_an_issuer_is_set() {
        let settings = Settings::resolve(&SettingsArgs::default()).unwrap();
        assert!(settings.oidc.is_none());
        let oidc = Settings::resolve(&oidc_args()).unwrap().oidc.unwrap();
        assert_eq!(oidc.role_claim, DEFAULT_OIDC_ROLE_CLAIM);
        assert_eq!(oidc.scopes, ["email"]);
        assert_eq!(
            oidc.roles.role_for(Some(&serde_json::json!(["legal"]))),
            Some(crate::auth::Role::Legal)
        );
        let shown = format!("{:?}", Settings::resolve(&oidc_args()).unwrap());
        assert!(
            !shown.contains("s3cret"),
            "the secret is never shown: {shown}"
        );
    }

    #[test]
    fn single_sign_on_names_each_missing_or_bad_setting() {
        let cases = [
            (
                SettingsArgs {
                    oidc_client_id: None,
                    ..oidc_args()
                },
                "oidc_client_id",
            ),
            (
                SettingsArgs {
                    oidc_client_secret: Some(" ".into()),
                    ..oidc_args()
                },
                "oidc_client_secret",
            ),
            (
                SettingsArgs {
                    oidc_roles: None,
                    ..oidc_args()
                },
                "oidc_roles",
            ),
            (
                SettingsArgs {
                    oidc_roles: Some("crisis-comms=owner".into()),
                    ..oidc_args()
                },
                "oidc_roles",
            ),
            // Tokens from a provider reached in the clear could be swapped.
            (
                SettingsArgs {
                    oidc_issuer: Some("http://id.example.org".into()),
                    ..oidc_args()
                },
                "oidc_issuer",
            ),
        ];
        for (args, setting) in cases {
            let message = Settings::resolve(&args).unwrap_err().to_string();
            assert!(message.starts_with(&format!("{setting}: ")), "{message}");
        }
        let local = SettingsArgs {
            oidc_issuer: Some("http://127.0.0.1:9000".into()),
            ..oidc_args()
        };
        assert!(Settings::resolve(&local).unwrap().oidc.is_some());
    }

    #[test]
    fn single_sign_on_reads_lists_from_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tocsin.toml");
        std::fs::write(
            &path,
            "oidc_issuer = \"https://id.example.org\"\noidc_client_id = \"tocsin\"\n\
             oidc_client_secret = \"x\"\noidc_role_claim = \"roles\"\n\
             oidc_roles = [\"tocsin-admin=admin\"]\noidc_scopes = [\"openid\", \"email\", \"roles\"]\n",
        )
        .unwrap();
        let args = SettingsArgs {
            config: Some(path),
            ..SettingsArgs::default()
        };
        let oidc = Settings::resolve(&args).unwrap().oidc.unwrap();
        assert_eq!(oidc.role_claim, "roles");
        assert_eq!(
            oidc.scopes,
            ["email", "roles"],
            "openid is always asked for"
        );
        assert_eq!(
            oidc.roles
                .role_for(Some(&serde_json::json!("tocsin-admin"))),
            Some(crate::auth::Role::Admin)
        );
    }
}
