//! Firing due timers: each climbs its rung of the ladder in the transaction
//! that records it, or stops if its answer came.

use std::sync::Arc;

use super::{Engine, EngineError, effects_of};
use crate::domain::Incident;
use crate::domain::chase::{self, Decision, DueTimer};
use crate::store::TimerOutcome;

impl Engine {
    /// Fires timers that fell due, up to `limit`; returns how many it handled.
    pub async fn chase(&self, limit: usize) -> Result<usize, EngineError> {
        let routes = &self.routes;
        let mut handled = 0;
        while handled < limit {
            let now = self.now();
            let rule =
                |incident: &Incident, timer: &DueTimer| match chase::decide(incident, timer, now) {
                    Decision::Cancel => TimerOutcome::Cancel,
                    Decision::Chase { events, next_at } => TimerOutcome::Fire {
                        effects: effects_of(incident, events, routes),
                        next_at,
                    },
                };
            match self.store.fire_timer(now, &rule).await? {
                Some(_) => handled += 1,
                None => break,
            }
        }
        if handled > 0 {
            self.wake.notify_one();
        }
        Ok(handled)
    }

    /// Chases until `stop` turns true, looking for due timers every `poll`.
    pub async fn run_chaser(
        self: Arc<Self>,
        poll: std::time::Duration,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) {
        loop {
            if *stop.borrow() {
                return;
            }
            let busy = match self.chase(64).await {
                Ok(handled) => handled > 0,
                Err(error) => {
                    crate::store::log_failure(&error, "chasing failed");
                    false
                }
            };
            if busy {
                continue;
            }
            tokio::select! {
                () = tokio::time::sleep(poll) => {}
                _ = stop.changed() => {}
            }
        }
    }
}
