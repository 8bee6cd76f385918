//! Roles, API tokens and console users. A token's secret is shown once, at
//! creation; the database keeps only its SHA-256 (see [`crate::secret`]).
//! Every grant, revocation and removal goes on the [`audit`] log.

pub mod audit;
pub mod role_map;

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::secret::{Secret, hash_secret, random_secret};

/// Prefix of every secret, so leaked tokens are easy to recognise and scan for.
const SECRET_PREFIX: &str = "tocsin_";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Communications staff and department heads: trigger and act.
    Responder,
    /// Reads everything; places legal holds and keeps the regulatory
    /// clocks, and changes nothing else.
    Legal,
    /// Everything.
    Admin,
}

/// What a request needs to be allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    Read,
    Act,
    /// Place or lift a legal hold.
    Hold,
    /// Arm regulatory regimes, claim the facts their clocks run from,
    /// record filings: legal's work on statutory deadlines.
    Regulate,
    /// Approve public statements, or send them back, for an approver
    /// department (heads answer from their email without an account).
    Approve,
    /// Grant and take back access: tokens and console users.
    Administer,
    /// Read who was given and who lost access.
    Audit,
}

impl Permission {
    pub const ALL: [Permission; 7] = [
        Permission::Read,
        Permission::Act,
        Permission::Hold,
        Permission::Regulate,
        Permission::Approve,
        Permission::Administer,
        Permission::Audit,
    ];
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Responder, Role::Legal, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Responder => "responder",
            Role::Legal => "legal",
            Role::Admin => "admin",
        }
    }

    pub fn allows(self, permission: Permission) -> bool {
        match permission {
            Permission::Read => true,
            Permission::Act => matches!(self, Role::Responder | Role::Admin),
            Permission::Hold | Permission::Regulate | Permission::Approve | Permission::Audit => {
                matches!(self, Role::Legal | Role::Admin)
            }
            Permission::Administer => self == Role::Admin,
        }
    }

    /// Whether moving from `self` to `to` takes anything away: a lowered
    /// role's sessions end, so nobody keeps what they lost.
    pub fn loses_by_becoming(self, to: Role) -> bool {
        Permission::ALL
            .into_iter()
            .any(|permission| self.allows(permission) && !to.allows(permission))
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role {0:?}: expected one of responder, legal, admin")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|role| role.as_str() == s)
            .ok_or_else(|| UnknownRole(s.to_owned()))
    }
}

#[derive(Clone, PartialEq, Eq)]
pub struct ApiToken {
    pub id: Uuid,
    pub name: String,
    pub role: Role,
    pub secret_hash: String,
    pub created_at: DateTime<Utc>,
    /// None: valid until revoked.
    pub expires_at: Option<DateTime<Utc>>,
    /// Written at most once a minute, so busy tokens do not write on every request.
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TokenState {
    Live,
    Expired,
    Revoked,
}

impl TokenState {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenState::Live => "live",
            TokenState::Expired => "expired",
            TokenState::Revoked => "revoked",
        }
    }
}

/// Last-used times closer than this are not written again.
pub const LAST_USED_PRECISION: chrono::Duration = chrono::Duration::minutes(1);

impl fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiToken")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("role", &self.role)
            .field("expires_at", &self.expires_at)
            .field("revoked_at", &self.revoked_at)
            .finish_non_exhaustive()
    }
}

/// A person who signs in to the web console.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: Uuid,
    pub email: String,
    pub role: Role,
    pub created_at: DateTime<Utc>,
}

/// A signed-in browser: who, and the token its forms must carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub user: User,
    pub csrf_token: String,
}

impl ApiToken {
    /// A new token and its secret, which is never stored.
    pub fn generate(
        name: &str,
        role: Role,
        now: DateTime<Utc>,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<(ApiToken, Secret), getrandom::Error> {
        let secret = format!("{SECRET_PREFIX}{}", random_secret()?);
        let token = ApiToken {
            id: Uuid::now_v7(),
            name: name.to_owned(),
            role,
            secret_hash: hash_secret(&secret),
            created_at: now,
            expires_at,
            last_used_at: None,
            revoked_at: None,
        };
        Ok((token, Secret::new(secret)))
    }

    /// Whether the token opens the API at `now`.
    pub fn valid_at(&self, now: DateTime<Utc>) -> bool {
        self.state_at(now) == TokenState::Live
    }

    pub fn state_at(&self, now: DateTime<Utc>) -> TokenState {
        if self.revoked_at.is_some() {
            TokenState::Revoked
        } else if self.expires_at.is_some_and(|expiry| now >= expiry) {
            TokenState::Expired
        } else {
            TokenState::Live
        }
    }

    /// Whether a use at `now` is worth writing down.
    pub fn last_use_stale(&self, now: DateTime<Utc>) -> bool {
        self.last_used_at
            .is_none_or(|used| now - used >= LAST_USED_PRECISION)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_hash_of_a_secret_is_kept() {
        let (token, secret) = ApiToken::generate("ci", Role::Legal, Utc::now(), None).unwrap();
        assert!(secret.expose().starts_with("tocsin_"));
        assert_eq!(secret.expose().len(), "tocsin_".len() + 64);
        assert_eq!(token.secret_hash, hash_secret(secret.expose()));
        assert!(!format!("{token:?}").contains(&token.secret_hash));
    }

    #[test]
    fn legal_reads_but_cannot_act() {
        assert!(Role::Legal.allows(Permission::Read));
        assert!(!Role::Legal.allows(Permission::Act));
        assert!(Role::Responder.allows(Permission::Act));
        assert!(Role::Admin.allows(Permission::Act));
        assert!(Role::Legal.allows(Permission::Hold));
        assert!(!Role::Responder.allows(Permission::Hold));
    }

    #[test]
    fn only_admins_administer_and_legal_reads_the_audit_log() {
        assert!(Role::Admin.allows(Permission::Administer));
        assert!(!Role::Legal.allows(Permission::Administer));
        assert!(!Role::Responder.allows(Permission::Administer));
        assert!(Role::Legal.allows(Permission::Audit));
        assert!(Role::Admin.allows(Permission::Audit));
        assert!(!Role::Responder.allows(Permission::Audit));
    }

    #[test]
    fn a_role_change_that_takes_anything_away_is_a_loss() {
        assert!(Role::Admin.loses_by_becoming(Role::Responder));
        assert!(Role::Admin.loses_by_becoming(Role::Legal));
        assert!(Role::Responder.loses_by_becoming(Role::Legal));
        // Legal places holds; a responder may not.
        assert!(Role::Legal.loses_by_becoming(Role::Responder));
        assert!(!Role::Legal.loses_by_becoming(Role::Admin));
        assert!(!Role::Responder.loses_by_becoming(Role::Admin));
        assert!(!Role::Admin.loses_by_becoming(Role::Admin));
    }

    #[test]
    fn a_token_stops_at_its_expiry_or_revocation() {
        let now = Utc::now();
        let expiry = now + chrono::Duration::hours(1);
        let (mut token, _) = ApiToken::generate("ci", Role::Legal, now, Some(expiry)).unwrap();
        assert!(token.valid_at(now));
        assert!(!token.valid_at(expiry));
        token.expires_at = None;
        assert!(token.valid_at(expiry));
        token.revoked_at = Some(now);
        assert!(!token.valid_at(now));
    }

    #[test]
    fn last_use_is_written_at_most_once_a_minute() {
        let now = Utc::now();
        let (mut token, _) = ApiToken::generate("ci", Role::Legal, now, None).unwrap();
        assert!(token.last_use_stale(now));
        token.last_used_at = Some(now);
        assert!(!token.last_use_stale(now + chrono::Duration::seconds(59)));
        assert!(token.last_use_stale(now + LAST_USED_PRECISION));
    }
}
