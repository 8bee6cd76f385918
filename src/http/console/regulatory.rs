//! The incident page's regulatory deadlines: each armed clock's countdown,
//! what legal decided and claimed, and legal's forms.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Serialize;

use crate::delivery::render::{relative, when};
use crate::domain::regulatory::{Decision, Fact, Regulatory};
use crate::playbook::Catalog;

/// Closer than this, a running clock is shown as urgent.
const URGENT_WITHIN_HOURS: i64 = 4;

#[derive(Serialize)]
pub struct RegulatoryPage {
    /// Armed steps, soonest deadline first; not yet started ones last.
    clocks: Vec<ClockLine>,
    /// "GDPR Art. 33: not notifiable: no personal data involved (by ..., at ...)".
    decisions: Vec<String>,
    claims: Vec<String>,
    /// Every regime, to arm or to decide not notifiable: the scenario's
    /// candidates first.
    armable: Vec<Choice>,
    /// `regime/step` of steps whose clock runs and that can be filed.
    fileable: Vec<Choice>,
    facts: Vec<Choice>,
}

#[derive(Serialize)]
struct ClockLine {
    regime: String,
    title: String,
    citation: String,
    rule: String,
    status: &'static str,
    due: Option<String>,
    #[serde(skip)]
    due_at: Option<DateTime<Utc>>,
    /// "in 3h 12m" or "2h 5m late", while nothing is filed.
    countdown: Option<String>,
    urgent: bool,
    filed: Vec<String>,
    /// Who was chased towards the deadline, and who is next.
    chased: Vec<String>,
    next_chase: Option<String>,
}

#[derive(Serialize)]
struct Choice {
    value: String,
    label: String,
}

impl RegulatoryPage {
    /// `chase_of` gives the chase lines of a clock (`regime/step`).
    pub fn new(
        regulatory: &Regulatory,
        candidates: &[String],
        catalog: &Catalog,
        chase_of: impl Fn(&str) -> (Vec<String>, Option<String>),
        now: DateTime<Utc>,
    ) -> RegulatoryPage {
        let mut clocks = Vec::new();
        let mut decisions = Vec::new();
        let mut fileable = Vec::new();
        for state in &regulatory.regimes {
            if let Decision::NotNotifiable { reason } = &state.decision {
                decisions.push(format!(
                    "{}: not notifiable: {reason} ({}, {})",
                    state.rule.title,
                    state.decided_by,
                    when(state.decided_at)
                ));
                continue;
            }
            for rule in &state.rule.steps {
                let Some((_, step)) = state.step(&rule.id) else {
                    continue;
                };
                let status = step.status(now);
                let pending = step.is_pending();
                let key = format!("{}/{}", state.rule.id, rule.id);
                let (chased, next_chase) = chase_of(&key);
                if step.due_at.is_some() {
                    fileable.push(Choice {
                        value: key,
                        label: format!("{}: {}", state.rule.title, rule.title),
                    });
                }
                clocks.push(ClockLine {
                    regime: state.rule.title.clone(),
                    title: rule.title.clone(),
                    citation: format!("{}, {}", state.rule.citation, rule.citation),
                    rule: rule.deadline.describe(),
                    status: status.as_str(),
                    due: step.due_at.map(when),
                    due_at: step.due_at,
                    countdown: step
                        .due_at
                        .filter(|_| pending)
                        .map(|due| relative(due, now)),
                    urgent: pending
                        && step.due_at.is_some_and(|due| {
                            due - now < chrono::Duration::hours(URGENT_WITHIN_HOURS)
                        }),
                    filed: step
                        .submissions
                        .iter()
                        .map(|filed| {
                            let what = filed
                                .reference
                                .clone()
                                .or_else(|| {
                                    filed
                                        .document_sha256
                                        .as_ref()
                                        .map(|hash| format!("sha256 {hash}"))
                                })
                                .unwrap_or_default();
                            let late = if filed.late { ", late" } else { "" };
                            format!("filed {} ({what}{late})", when(filed.submitted_at))
                        })
                        .collect(),
                    chased,
                    next_chase,
                });
            }
        }
        // Soonest first; clocks not started, then filed ones, at the end.
        clocks.sort_by_key(|clock| {
            let order = match clock.status {
                "overdue" => 0,
                "running" => 1,
                "not_started" => 2,
                _ => 3,
            };
            (order, clock.due_at)
        });
        let mut armable: Vec<(bool, Choice)> = catalog
            .regimes()
            .iter()
            .map(|regime| {
                let decided = regulatory
                    .regimes
                    .iter()
                    .find(|state| state.rule.id == regime.id)
                    .map(|state| match state.decision {
                        Decision::Armed => " (armed)",
                        Decision::NotNotifiable { .. } => " (not notifiable)",
                    });
                let candidate = candidates.contains(&regime.id);
                let note = match (decided, candidate) {
                    (Some(decided), _) => decided,
                    (None, true) => " (may apply to this scenario)",
                    (None, false) => "",
                };
                let choice = Choice {
                    value: regime.id.clone(),
                    label: format!("{}{note}", regime.title),
                };
                (!candidate, choice)
            })
            .collect();
        armable.sort_by_key(|(other, _)| *other);
        RegulatoryPage {
            clocks,
            decisions,
            claims: regulatory
                .claims
                .iter()
                .map(|claim| {
                    format!(
                        "{} at {} (recorded {} by {})",
                        claim.fact.label(),
                        when(claim.claimed_at),
                        when(claim.recorded_at),
                        claim.recorded_by
                    )
                })
                .collect(),
            armable: armable.into_iter().map(|(_, choice)| choice).collect(),
            fileable,
            facts: Fact::ALL
                .into_iter()
                .map(|fact| Choice {
                    value: fact.as_str().to_owned(),
                    label: fact.label().to_owned(),
                })
                .collect(),
        }
    }
}

/// A time typed in the console: `2027-01-04T07:10` (a browser's
/// date-and-time field, read as UTC, as the form says), or RFC 3339.
pub fn read_time(value: &str) -> Option<DateTime<Utc>> {
    let value = value.trim();
    DateTime::parse_from_rfc3339(value)
        .map(|at| at.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"]
                .into_iter()
                .find_map(|format| NaiveDateTime::parse_from_str(value, format).ok())
                .map(|at| at.and_utc())
        })
}
