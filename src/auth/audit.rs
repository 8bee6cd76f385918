//! The access audit log: who granted, took back or changed whose access, and
//! when. Append-only in the database (triggers refuse updates and deletes),
//! written in the same transaction as the change it records.

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::{ApiToken, Role, User};
use crate::domain::Actor;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuditAction {
    TokenCreated,
    TokenRevoked,
    UserAdded,
    RoleChanged,
    UserRemoved,
}

impl AuditAction {
    pub const ALL: [AuditAction; 5] = [
        AuditAction::TokenCreated,
        AuditAction::TokenRevoked,
        AuditAction::UserAdded,
        AuditAction::RoleChanged,
        AuditAction::UserRemoved,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::TokenCreated => "token_created",
            AuditAction::TokenRevoked => "token_revoked",
            AuditAction::UserAdded => "user_added",
            AuditAction::RoleChanged => "role_changed",
            AuditAction::UserRemoved => "user_removed",
        }
    }

    pub fn parse(text: &str) -> Option<AuditAction> {
        AuditAction::ALL
            .into_iter()
            .find(|action| action.as_str() == text)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SubjectKind {
    Token,
    User,
}

impl SubjectKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SubjectKind::Token => "token",
            SubjectKind::User => "user",
        }
    }

    pub fn parse(text: &str) -> Option<SubjectKind> {
        [SubjectKind::Token, SubjectKind::User]
            .into_iter()
            .find(|kind| kind.as_str() == text)
    }
}

/// Whose access changed: kept by name too, as the token or user may be gone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Subject {
    pub kind: SubjectKind,
    pub id: Uuid,
    /// A token's name or a user's email address.
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct AuditEntry {
    pub at: DateTime<Utc>,
    /// `kind:name`, as on the timeline: `token:ops-bot`, `user:ana@example.org`,
    /// `cli:root`.
    pub actor: String,
    pub action: AuditAction,
    pub subject: Subject,
    /// The role granted, or the new one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    /// The role before a change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_role: Option<Role>,
    /// A new token's expiry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
}

impl AuditEntry {
    fn about(actor: &Actor, action: AuditAction, subject: Subject, at: DateTime<Utc>) -> Self {
        AuditEntry {
            at,
            actor: actor.to_string(),
            action,
            subject,
            role: None,
            previous_role: None,
            expires_at: None,
        }
    }

    fn token(token: &ApiToken) -> Subject {
        Subject {
            kind: SubjectKind::Token,
            id: token.id,
            name: token.name.clone(),
        }
    }

    fn user(user: &User) -> Subject {
        Subject {
            kind: SubjectKind::User,
            id: user.id,
            name: user.email.clone(),
        }
    }

    pub fn token_created(actor: &Actor, token: &ApiToken) -> Self {
        AuditEntry {
            role: Some(token.role),
            expires_at: token.expires_at,
            ..Self::about(
                actor,
                AuditAction::TokenCreated,
                Self::token(token),
                token.created_at,
            )
        }
    }

    pub fn token_revoked(actor: &Actor, token: &ApiToken, at: DateTime<Utc>) -> Self {
        AuditEntry {
            role: Some(token.role),
            ..Self::about(actor, AuditAction::TokenRevoked, Self::token(token), at)
        }
    }

    pub fn user_added(actor: &Actor, user: &User) -> Self {
        AuditEntry {
            role: Some(user.role),
            ..Self::about(
                actor,
                AuditAction::UserAdded,
                Self::user(user),
                user.created_at,
            )
        }
    }

    /// `user` as it was before, now given `role`.
    pub fn role_changed(actor: &Actor, user: &User, role: Role, at: DateTime<Utc>) -> Self {
        AuditEntry {
            role: Some(role),
            previous_role: Some(user.role),
            ..Self::about(actor, AuditAction::RoleChanged, Self::user(user), at)
        }
    }

    pub fn user_removed(actor: &Actor, user: &User, at: DateTime<Utc>) -> Self {
        AuditEntry {
            previous_role: Some(user.role),
            ..Self::about(actor, AuditAction::UserRemoved, Self::user(user), at)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_read_back_as_written() {
        for action in AuditAction::ALL {
            assert_eq!(AuditAction::parse(action.as_str()), Some(action));
            let json = serde_json::to_value(action).unwrap();
            assert_eq!(json, action.as_str());
        }
        assert_eq!(AuditAction::parse("token_stolen"), None);
    }

    #[test]
    fn a_role_change_keeps_both_roles_and_the_subject_by_name() {
        let at = Utc::now();
        let user = User {
            id: Uuid::now_v7(),
            email: "ana@example.org".into(),
            role: Role::Admin,
            created_at: at,
        };
        let entry = AuditEntry::role_changed(&Actor::token("ops"), &user, Role::Legal, at);
        assert_eq!(entry.actor, "token:ops");
        assert_eq!(entry.subject.name, "ana@example.org");
        assert_eq!(
            (entry.previous_role, entry.role),
            (Some(Role::Admin), Some(Role::Legal))
        );
    }
}
