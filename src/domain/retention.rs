//! Retention: how long a resolved incident is kept before it is purged, and
//! what the purge log keeps of it. The period is the organisation's, agreed
//! with legal (`TOCSIN_RETENTION`); incidents under legal hold are never
//! purged.

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

/// Incidents resolved before this moment may be purged; None when the
/// period reaches back before the calendar begins, so nothing may.
pub fn purge_cutoff(now: DateTime<Utc>, retention: std::time::Duration) -> Option<DateTime<Utc>> {
    let retention = chrono::Duration::from_std(retention).ok()?;
    now.checked_sub_signed(retention)
}

/// One purged incident, as the purge log keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct PurgeRecord {
    pub incident_id: Uuid,
    pub reference: String,
    pub title: String,
    pub resolved_at: DateTime<Utc>,
    /// The chain head when purged: proof of what existed.
    pub head_seq: i64,
    pub head_hash: String,
    pub events: i64,
    pub purged_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_period_longer_than_the_calendar_purges_nothing() {
        let now = Utc::now();
        assert_eq!(
            purge_cutoff(now, Duration::from_secs(3600)),
            Some(now - chrono::Duration::hours(1))
        );
        assert_eq!(purge_cutoff(now, Duration::from_secs(u64::MAX)), None);
        assert_eq!(
            purge_cutoff(now, Duration::from_secs(300_000 * 366 * 86_400)),
            None
        );
    }
}
