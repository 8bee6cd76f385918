//! Where time comes from, so tests can run hours of deadlines in an instant.

use chrono::{DateTime, SubsecRound, Utc};

pub trait Clock: Send + Sync {
    /// The time as the source tells it.
    fn read(&self) -> DateTime<Utc>;

    /// To the microsecond, the precision both databases keep: what a
    /// response says and what is read back later must be the same instant.
    fn now(&self) -> DateTime<Utc> {
        self.read().trunc_subsecs(6)
    }
}

/// The wall clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn read(&self) -> DateTime<Utc> {
        Utc::now()
    }
}
