//! Links in emails: a random secret per recipient and per task or
//! department, of which only the hash is stored (links are made when a
//! message is sent, never kept).

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::secret::hash_secret;

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
