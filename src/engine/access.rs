//! Who may act, and how the service is doing: API tokens and their audit
//! log, the links in emails, and what operators probe (readiness, metrics).

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Engine, EngineError};
use crate::auth::audit::AuditEntry;
use crate::auth::{ApiToken, Role, TokenState};
use crate::domain::{Actor, Incident, LinkAct, LinkToken, LinkUse, TokenKind};
use crate::metrics::{ClockLabels, SeverityLabel};
use crate::secret::{Secret, hash_secret};
use crate::store::Store;

/// Incidents whose running regulatory clocks a scrape reports, at most.
const CLOCKS_SCRAPED: u32 = 1000;
/// What a link's secret opens.
#[derive(Debug)]
pub enum LinkLookup {
    /// No link has this secret (never issued, or its incident was purged).
    Unknown,
    /// Its incident was resolved longer ago than links stay valid.
    Expired,
    Usable {
        link: LinkToken,
        incident: Box<Incident>,
    },
}

/// A message due this long and held by no worker means nobody delivers:
/// healthy workers claim due messages within a second.
pub const STALLED_AFTER: chrono::Duration = chrono::Duration::minutes(2);

/// What `/readyz` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Readiness {
    pub database: bool,
    pub migrations: bool,
    /// No message has waited past [`STALLED_AFTER`] for a worker.
    pub outbox_flowing: bool,
}

impl Readiness {
    /// Able to serve requests. A stalled outbox does not take this replica
    /// out of service: people must still reach the incident and its links.
    pub fn ready(&self) -> bool {
        self.database && self.migrations
    }
}

fn stalled(oldest_unclaimed_due: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    oldest_unclaimed_due.is_some_and(|due| now - due > STALLED_AFTER)
}

/// What a new API token is for.
#[derive(Debug, Clone)]
pub struct TokenGrant {
    /// Who or what holds it; the timeline's actor for what it does.
    pub name: String,
    pub role: Role,
    pub expires_at: Option<DateTime<Utc>>,
}

/// Why a presented API token opens nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenRefused {
    Unknown,
    Revoked,
    Expired(DateTime<Utc>),
}

/// The most audit entries one read returns: access changes are rare, so
/// this covers years of them.
pub const AUDIT_LOG_MAX: u32 = 1000;

impl Engine {
    pub async fn grant_token(
        &self,
        grant: &TokenGrant,
        actor: &Actor,
    ) -> Result<(ApiToken, Secret), EngineError> {
        issue_token(self.store.as_ref(), grant, actor, self.now()).await
    }

    /// Every token, revoked and expired ones too; never their secrets.
    pub async fn tokens(&self) -> Result<Vec<ApiToken>, EngineError> {
        Ok(self.store.tokens().await?)
    }

    /// Revokes a token at once, on every replica: each request reads its
    /// token from the database.
    pub async fn revoke_token(&self, id: Uuid, actor: &Actor) -> Result<ApiToken, EngineError> {
        self.store
            .revoke_token(id, actor, self.now())
            .await?
            .ok_or(EngineError::NotFound("token"))
    }

    pub async fn audit_log(&self, limit: u32) -> Result<Vec<AuditEntry>, EngineError> {
        Ok(self.store.audit_log(limit.min(AUDIT_LOG_MAX)).await?)
    }

    /// On the first start of an installation with no token at all, creates
    /// an admin token so a newcomer can act at once; never a second one.
    pub async fn first_admin_token(&self) -> Result<Option<Secret>, EngineError> {
        let (token, secret) = ApiToken::generate("first-admin", Role::Admin, self.now(), None)
            .map_err(EngineError::Random)?;
        let audit = AuditEntry::token_created(&Actor::system("first-start"), &token);
        Ok(self
            .store
            .insert_first_admin(&token, &audit)
            .await?
            .then_some(secret))
    }

    /// The token a secret names, if it opens the API now. Its last use is
    /// written down, at most once a minute.
    pub async fn authenticate(
        &self,
        secret: &str,
    ) -> Result<Result<ApiToken, TokenRefused>, EngineError> {
        let Some(token) = self.store.token_by_hash(&hash_secret(secret)).await? else {
            return Ok(Err(TokenRefused::Unknown));
        };
        let now = self.now();
        match (token.state_at(now), token.expires_at) {
            (TokenState::Revoked, _) => return Ok(Err(TokenRefused::Revoked)),
            (TokenState::Expired, Some(expiry)) => return Ok(Err(TokenRefused::Expired(expiry))),
            _ => {}
        }
        if token.last_use_stale(now)
            && let Err(error) = self.store.touch_token(token.id, now).await
        {
            // The request goes on: a missed "last used" harms nobody.
            tracing::warn!(%error, token = %token.name, "cannot record the token's last use");
        }
        Ok(Ok(token))
    }

    /// The link a secret from an email names, without its incident.
    pub async fn link_token(&self, secret: &str) -> Result<Option<LinkToken>, EngineError> {
        Ok(self
            .store
            .link(&hash_secret(secret), TokenKind::Link)
            .await?)
    }

    /// Acts through a link, for whoever clicked it (links get forwarded: the
    /// timeline keeps who it was sent to, and where the click came from).
    /// The incident is read once, under its lock, and the link's expiry
    /// checked there.
    pub async fn act_by_link(
        &self,
        link: &LinkToken,
        act: LinkAct,
        ip: String,
        user_agent: Option<String>,
    ) -> Result<Incident, EngineError> {
        let actor = Actor::link(LinkUse {
            recipient: link.recipient.clone(),
            ip,
            user_agent,
        });
        let (link, grace) = (link.clone(), self.link_grace);
        self.update(link.incident_id, &actor, move |incident, actor, now| {
            incident.act_by_link(&link, act.clone(), actor, grace, now)
        })
        .await
    }

    /// The link a secret from an email opens, with its incident as it is now.
    pub async fn link(&self, secret: &str) -> Result<LinkLookup, EngineError> {
        let Some(link) = self
            .store
            .link(&hash_secret(secret), TokenKind::Link)
            .await?
        else {
            return Ok(LinkLookup::Unknown);
        };
        let incident = self.incident(link.incident_id).await?;
        if incident.links_expired(self.link_grace, self.now()) {
            return Ok(LinkLookup::Expired);
        }
        Ok(LinkLookup::Usable {
            link,
            incident: Box::new(incident),
        })
    }

    /// Whether this replica can serve: the database answers and every
    /// migration this binary knows is applied (the playbooks loaded, or it
    /// would not have started).
    pub async fn readiness(&self) -> Readiness {
        let database = self.store.ping().await.is_ok();
        let migrations = database && self.store.migrations_applied().await.unwrap_or(false);
        let now = self.now();
        let outbox_flowing = database
            && self
                .store
                .oldest_unclaimed_due(now)
                .await
                .is_ok_and(|due| !stalled(due, now));
        Readiness {
            database,
            migrations,
            outbox_flowing,
        }
    }

    /// The metrics in the OpenMetrics text format, with the gauges every
    /// replica shares read from the database now.
    pub async fn scrape_metrics(&self) -> Result<String, std::fmt::Error> {
        let now = self.now();
        match self.store.gauges(now).await {
            Ok(gauges) => {
                let metrics = &self.metrics;
                metrics.incidents_open.clear();
                for (severity, count) in gauges.open_by_severity {
                    metrics
                        .incidents_open
                        .get_or_create(&SeverityLabel { severity })
                        .set(count);
                }
                metrics.tasks_overdue.set(gauges.tasks_overdue);
                metrics.outbox_depth.set(gauges.outbox_depth);
                let oldest = gauges
                    .oldest_pending
                    .map(|at| (now - at).num_milliseconds().max(0) as f64 / 1000.0)
                    .unwrap_or(0.0);
                metrics.outbox_oldest_age_seconds.set(oldest);
                metrics
                    .outbox_stalled
                    .set(i64::from(stalled(gauges.oldest_unclaimed_due, now)));
            }
            // The process's own figures are still worth a scrape.
            Err(error) => tracing::warn!(%error, "metrics: cannot read the database gauges"),
        }
        match self.store.running_clocks(CLOCKS_SCRAPED).await {
            Ok(clocks) => {
                let family = &self.metrics.regulatory_remaining;
                family.clear();
                for running in clocks {
                    let labels = ClockLabels {
                        incident: running.reference,
                        regime: running.clock.regime,
                        step: running.clock.step,
                    };
                    family
                        .get_or_create(&labels)
                        .set((running.clock.due_at - now).num_seconds());
                }
            }
            Err(error) => tracing::warn!(%error, "metrics: cannot read the regulatory clocks"),
        }
        self.metrics.encode()
    }
}

/// Mints a token, recorded on the audit log as granted by `actor`; its
/// secret is returned once and never stored. Needs only the store, so
/// `tocsin token create` works without loading playbooks.
pub async fn issue_token(
    store: &dyn Store,
    grant: &TokenGrant,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<(ApiToken, Secret), EngineError> {
    if grant.expires_at.is_some_and(|expiry| expiry <= now) {
        return Err(EngineError::Invalid {
            field: "expires_at",
            message: "a token's expiry must be in the future".to_owned(),
        });
    }
    let (token, secret) = ApiToken::generate(&grant.name, grant.role, now, grant.expires_at)
        .map_err(EngineError::Random)?;
    store
        .insert_token(&token, &AuditEntry::token_created(actor, &token))
        .await?;
    Ok((token, secret))
}
