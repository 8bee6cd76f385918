//! Roles, API tokens and console users. A token's secret is shown once, at
//! creation; the database keeps only its SHA-256 (see [`crate::secret`]).

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
    /// Reads everything, changes nothing.
    Legal,
    /// Everything.
    Admin,
}

/// What a request needs to be allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    Read,
    Act,
    /// Place or lift a legal hold: legal's one change.
    Hold,
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
            Permission::Hold => matches!(self, Role::Legal | Role::Admin),
        }
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
}

impl fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiToken")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("role", &self.role)
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
    ) -> Result<(ApiToken, Secret), getrandom::Error> {
        let secret = format!("{SECRET_PREFIX}{}", random_secret()?);
        let token = ApiToken {
            id: Uuid::now_v7(),
            name: name.to_owned(),
            role,
            secret_hash: hash_secret(&secret),
            created_at: now,
        };
        Ok((token, Secret::new(secret)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_hash_of_a_secret_is_kept() {
        let (token, secret) = ApiToken::generate("ci", Role::Legal, Utc::now()).unwrap();
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
}
