//! Links in emails: a random secret per recipient and per task or
//! department, of which only the hash is stored.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::auth::hash_secret;

/// What a link may act on, as stored (the secret itself never is).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkToken {
    pub secret_hash: String,
    pub incident_id: Uuid,
    pub department: String,
    /// None: the department as a whole.
    pub task_id: Option<Uuid>,
    pub recipient: String,
    pub message_id: Uuid,
    pub created_at: DateTime<Utc>,
}

/// 256 random bits, hex: far beyond guessing, and safe in any URL.
pub fn new_secret() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(hex::encode(bytes))
}

/// A well-formed secret, before any database look-up: anything else is
/// refused without touching the store.
pub fn parse_secret(candidate: &str) -> Option<&str> {
    (candidate.len() == 64
        && candidate
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()))
    .then_some(candidate)
}

impl LinkToken {
    pub fn issue(
        secret: &str,
        incident_id: Uuid,
        department: &str,
        task_id: Option<Uuid>,
        recipient: &str,
        message_id: Uuid,
        now: DateTime<Utc>,
    ) -> LinkToken {
        LinkToken {
            secret_hash: hash_secret(secret),
            incident_id,
            department: department.to_owned(),
            task_id,
            recipient: recipient.to_owned(),
            message_id,
            created_at: now,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_long_random_and_parse() {
        let a = new_secret().unwrap();
        let b = new_secret().unwrap();
        assert_ne!(a, b);
        assert_eq!(parse_secret(&a), Some(a.as_str()));
        assert_eq!(parse_secret(&a[1..]), None);
        assert_eq!(parse_secret(&a.to_uppercase()), None);
        assert_eq!(parse_secret(&format!("{}x", &a[1..])), None);
    }
}
