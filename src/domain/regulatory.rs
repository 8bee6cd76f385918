//! Regulatory clocks: the statutory deadlines an incident may start (a
//! personal-data breach notification, an early warning to a CSIRT, a market
//! disclosure), chained from the facts legal records, chased like items.
//!
//! A regime (`playbooks/regimes/<id>.toml`) is a list of steps; each step's
//! deadline runs from a fact (`awareness`, `classified_major`,
//! `materiality_determined`) or from the submission of an earlier step, over
//! a calendar (clock hours, US business days, calendar months). Legal arms
//! the regimes that apply to an incident, or records that one does not,
//! with its reason. Nothing here is legal advice: the rules are the
//! playbooks', and each regime file cites the text it encodes.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::calendar;
use super::{Actor, DomainError, EventData, Incident, Line, Person, Prose};

/// A fact a clock can start from, recorded by legal with the time it is
/// claimed to have happened.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Fact {
    /// The organisation became aware of the incident (GDPR, NIS2, DORA).
    Awareness,
    /// The incident was classified as major (DORA).
    ClassifiedMajor,
    /// The incident was determined to be material (SEC Form 8-K).
    MaterialityDetermined,
}

impl Fact {
    pub const ALL: [Fact; 3] = [
        Fact::Awareness,
        Fact::ClassifiedMajor,
        Fact::MaterialityDetermined,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Fact::Awareness => "awareness",
            Fact::ClassifiedMajor => "classified_major",
            Fact::MaterialityDetermined => "materiality_determined",
        }
    }

    pub fn parse(value: &str) -> Option<Fact> {
        Fact::ALL.into_iter().find(|fact| fact.as_str() == value)
    }

    /// For people: "awareness", "classification as major", ...
    pub fn label(self) -> &'static str {
        match self {
            Fact::Awareness => "awareness",
            Fact::ClassifiedMajor => "classification as major",
            Fact::MaterialityDetermined => "determination of materiality",
        }
    }
}

/// What a step's clock runs from: a fact, or the latest submission of
/// another step of the same regime. Written `awareness` or `submitted:<step>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Start {
    Fact(Fact),
    Submitted(String),
}

impl fmt::Display for Start {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Start::Fact(fact) => f.write_str(fact.as_str()),
            Start::Submitted(step) => write!(f, "submitted:{step}"),
        }
    }
}

impl FromStr for Start {
    type Err = String;

    fn from_str(value: &str) -> Result<Start, String> {
        if let Some(step) = value.strip_prefix("submitted:") {
            return Ok(Start::Submitted(step.to_owned()));
        }
        Fact::parse(value).map(Start::Fact).ok_or_else(|| {
            format!(
                "unknown start `{value}`: expected one of {}, or submitted:<step>",
                Fact::ALL.map(Fact::as_str).join(", ")
            )
        })
    }
}

/// How long a step allows, on its calendar. Written `72h`, `30m`,
/// `4 us-business-days` or `1 month` / `3 months`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    /// Clock time: hours run through nights, weekends and holidays.
    Clock(Duration),
    /// Whole US business days (no weekends, no federal holidays), counted
    /// from the day after the start, ending at the end of the last one in
    /// New York (the SEC's EDGAR cut-off is 17:30 Eastern for most forms, but
    /// the rule counts days; see `calendar`).
    UsBusinessDays(u32),
    /// Calendar months: the same day of the month, or the month's last day.
    Months(u32),
}

impl Period {
    /// The deadline this period sets from `start`; None past the calendar's end.
    pub fn after(self, start: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            Period::Clock(duration) => {
                start.checked_add_signed(chrono::Duration::from_std(duration).ok()?)
            }
            Period::UsBusinessDays(days) => calendar::after_us_business_days(start, days),
            Period::Months(months) => start.checked_add_months(chrono::Months::new(months)),
        }
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // Hours as hours ("72h", not humantime's "3days"): statutes count them so.
            Period::Clock(duration) => match duration.as_secs() {
                secs if secs % 3600 == 0 && duration.subsec_nanos() == 0 => {
                    write!(f, "{}h", secs / 3600)
                }
                secs if secs % 60 == 0 && duration.subsec_nanos() == 0 => {
                    write!(f, "{}m", secs / 60)
                }
                _ => write!(f, "{}", humantime::format_duration(*duration)),
            },
            Period::UsBusinessDays(days) => write!(f, "{days} us-business-days"),
            Period::Months(1) => f.write_str("1 month"),
            Period::Months(months) => write!(f, "{months} months"),
        }
    }
}

impl FromStr for Period {
    type Err = String;

    fn from_str(value: &str) -> Result<Period, String> {
        let value = value.trim();
        let counted = |suffixes: &[&str]| {
            suffixes.iter().find_map(|suffix| {
                value
                    .strip_suffix(suffix)
                    .and_then(|count| count.trim().parse::<u32>().ok())
            })
        };
        if let Some(days) = counted(&["us-business-days", "us-business-day"]) {
            return Ok(Period::UsBusinessDays(days));
        }
        if let Some(months) = counted(&["months", "month"]) {
            return Ok(Period::Months(months));
        }
        humantime::parse_duration(value)
            .map(Period::Clock)
            .map_err(|error| {
                format!(
                    "`{value}` is not a period ({error}): write clock time such as \"72h\", \
                     business days such as \"4 us-business-days\", or months such as \"1 month\""
                )
            })
    }
}

/// A deadline: `within` after `after`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Term {
    #[serde(with = "as_text")]
    pub after: Start,
    #[serde(with = "as_text")]
    pub within: Period,
}

impl Term {
    pub fn describe(&self) -> String {
        match &self.after {
            Start::Fact(fact) => format!("{} after {}", self.within, fact.label()),
            Start::Submitted(step) => format!("{} after `{step}` was submitted", self.within),
        }
    }
}

/// One step of a regime: a report or notification with its deadline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepRule {
    pub id: String,
    pub title: String,
    /// The article (or paragraph) that sets this step.
    pub citation: String,
    pub deadline: Term,
    /// A second, absolute limit (DORA: 4 h from classification "but no later
    /// than" 24 h from awareness). A limit already past when the step's own
    /// clock starts does not apply: the step then has its own period.
    pub no_later_than: Option<Term>,
    /// When legal (and the DPO) are reminded, before the deadline.
    #[serde(with = "durations")]
    pub reminders: Vec<Duration>,
    /// When the deputies are chased, before the deadline. The commander is
    /// chased at the deadline itself, which is then recorded as missed.
    #[serde(with = "duration")]
    pub deputies_before: Duration,
    /// A submission after the deadline must say why it is late.
    pub late_needs_reasons: bool,
}

/// A regime: an authority, the law that obliges, and its steps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Regime {
    /// The file stem of `regimes/<id>.toml`.
    pub id: String,
    pub title: String,
    /// Who is notified: "the competent supervisory authority".
    pub authority: String,
    /// The legal text, e.g. "Regulation (EU) 2016/679, Article 33".
    pub citation: String,
    /// Where the official text is.
    pub source: String,
    /// The department whose head, then deputies, are chased.
    pub department: String,
    /// Whether the organisation's data protection officer is reminded too.
    pub copy_dpo: bool,
    pub steps: Vec<StepRule>,
    /// What the authority asks to be told, pre-filled in the export's dossier.
    pub dossier: Vec<DossierField>,
}

/// One thing an authority asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DossierField {
    pub label: String,
    pub citation: String,
    pub prefill: Prefill,
}

/// Where a dossier field's first draft comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Prefill {
    /// Left for legal to write.
    Nothing,
    /// The incident's title and summary.
    Summary,
    /// The scenario and severity.
    Classification,
    /// The incident commander, as the contact point.
    Contact,
    /// The claimed times of the recorded facts.
    Facts,
    /// When the incident was opened in tocsin.
    OpenedAt,
    /// The departments engaged and what they did.
    Measures,
    /// The public statements published.
    Statements,
}

impl Prefill {
    pub const ALL: [Prefill; 8] = [
        Prefill::Nothing,
        Prefill::Summary,
        Prefill::Classification,
        Prefill::Contact,
        Prefill::Facts,
        Prefill::OpenedAt,
        Prefill::Measures,
        Prefill::Statements,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Prefill::Nothing => "nothing",
            Prefill::Summary => "summary",
            Prefill::Classification => "classification",
            Prefill::Contact => "contact",
            Prefill::Facts => "facts",
            Prefill::OpenedAt => "opened_at",
            Prefill::Measures => "measures",
            Prefill::Statements => "statements",
        }
    }

    pub fn parse(value: &str) -> Option<Prefill> {
        Prefill::ALL.into_iter().find(|p| p.as_str() == value)
    }
}

/// Who a regime's chase reaches, as the playbooks named them when legal
/// armed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChaseContacts {
    pub head: Person,
    pub deputies: Vec<Person>,
    pub dpo: Option<Person>,
}

mod as_text {
    use super::*;

    pub fn serialize<T: fmt::Display, S: Serializer>(value: &T, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(value)
    }

    pub fn deserialize<'de, T, D>(d: D) -> Result<T, D::Error>
    where
        T: FromStr<Err = String>,
        D: Deserializer<'de>,
    {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

mod duration {
    use super::*;

    pub fn serialize<S: Serializer>(value: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&humantime::format_duration(*value))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        humantime::parse_duration(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

mod durations {
    use super::*;

    pub fn serialize<S: Serializer>(values: &[Duration], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(
            values
                .iter()
                .map(|value| humantime::format_duration(*value).to_string()),
        )
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Duration>, D::Error> {
        Vec::<String>::deserialize(d)?
            .iter()
            .map(|text| humantime::parse_duration(text).map_err(serde::de::Error::custom))
            .collect()
    }
}

/// An incident's regulatory record: the facts claimed and the regimes
/// decided, with each armed step's clock and submissions. Every change to it
/// is also an event on the chain; this is what the chain adds up to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Regulatory {
    /// Every claim, in the order recorded; a fact's latest claim counts.
    #[serde(default)]
    pub claims: Vec<Claim>,
    #[serde(default)]
    pub regimes: Vec<RegimeState>,
}

/// Legal's claim that a fact happened at `claimed_at`, recorded at
/// `recorded_at`: both are kept, so a start time moved later shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claim {
    pub fact: Fact,
    pub claimed_at: DateTime<Utc>,
    pub recorded_at: DateTime<Utc>,
    pub recorded_by: String,
}

/// A regime as legal decided it for this incident, with its rules as the
/// playbooks said when it was decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegimeState {
    pub rule: Regime,
    pub contacts: ChaseContacts,
    pub decision: Decision,
    pub decided_at: DateTime<Utc>,
    pub decided_by: String,
    pub steps: Vec<StepState>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Decision {
    /// The regime applies: its clocks run and are chased.
    Armed,
    /// It does not apply, and why (GDPR Art. 33(5): every breach is
    /// documented, notified or not).
    NotNotifiable { reason: String },
}

impl Decision {
    /// `armed` or `not_notifiable`, as the API and the export say it.
    pub fn as_str(&self) -> &'static str {
        match self {
            Decision::Armed => "armed",
            Decision::NotNotifiable { .. } => "not_notifiable",
        }
    }

    /// Why the regime does not apply; None when armed.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Decision::Armed => None,
            Decision::NotNotifiable { reason } => Some(reason),
        }
    }
}

/// One step's clock: when it started, when it is due, what was filed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepState {
    pub id: String,
    pub started_at: Option<DateTime<Utc>>,
    pub due_at: Option<DateTime<Utc>>,
    pub submissions: Vec<Submission>,
}

/// A report filed with the authority.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Submission {
    /// When it was filed, as claimed.
    pub submitted_at: DateTime<Utc>,
    pub recorded_at: DateTime<Utc>,
    pub recorded_by: String,
    /// The authority's reference for the filing.
    pub reference: Option<String>,
    /// The SHA-256 of the filed document, hex.
    pub document_sha256: Option<String>,
    pub late: bool,
    pub delay_reasons: Option<String>,
}

/// What a step's clock says at an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClockStatus {
    /// Its start has not been recorded.
    NotStarted,
    Running,
    /// Past its deadline, nothing filed.
    Overdue,
    Submitted,
    SubmittedLate,
}

impl ClockStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ClockStatus::NotStarted => "not_started",
            ClockStatus::Running => "running",
            ClockStatus::Overdue => "overdue",
            ClockStatus::Submitted => "submitted",
            ClockStatus::SubmittedLate => "submitted_late",
        }
    }
}

impl StepState {
    pub fn status(&self, now: DateTime<Utc>) -> ClockStatus {
        match (self.submissions.first(), self.due_at) {
            (Some(first), _) if first.late => ClockStatus::SubmittedLate,
            (Some(_), _) => ClockStatus::Submitted,
            (None, None) => ClockStatus::NotStarted,
            (None, Some(due)) if due <= now => ClockStatus::Overdue,
            (None, Some(_)) => ClockStatus::Running,
        }
    }

    /// Chased while its clock runs and nothing is filed.
    pub fn is_pending(&self) -> bool {
        self.due_at.is_some() && self.submissions.is_empty()
    }
}

impl RegimeState {
    pub fn is_armed(&self) -> bool {
        self.decision == Decision::Armed
    }

    pub fn step(&self, id: &str) -> Option<(&StepRule, &StepState)> {
        let rule = self.rule.steps.iter().find(|step| step.id == id)?;
        let state = self.steps.iter().find(|step| step.id == id)?;
        Some((rule, state))
    }

    /// The step's clock from what is recorded: its start and deadline.
    fn clock(&self, rule: &StepRule, claims: &[Claim]) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        let start = self.start(&rule.deadline.after, claims)?;
        let mut due = rule.deadline.within.after(start)?;
        if let Some(limit) = &rule.no_later_than
            && let Some(limit_start) = self.start(&limit.after, claims)
            && let Some(cap) = limit.within.after(limit_start)
            && cap >= start
        {
            due = due.min(cap);
        }
        Some((start, due))
    }

    fn start(&self, start: &Start, claims: &[Claim]) -> Option<DateTime<Utc>> {
        match start {
            Start::Fact(fact) => claimed(claims, *fact),
            Start::Submitted(step) => self
                .steps
                .iter()
                .find(|state| &state.id == step)?
                .submissions
                .iter()
                .map(|submission| submission.submitted_at)
                .max(),
        }
    }
}

/// A fact's latest claimed time.
pub fn claimed(claims: &[Claim], fact: Fact) -> Option<DateTime<Utc>> {
    claims
        .iter()
        .rev()
        .find(|claim| claim.fact == fact)
        .map(|claim| claim.claimed_at)
}

/// When a step's chase reaches whom: the head (and DPO) at each reminder,
/// the deputies, then the commander at the deadline. In time order.
pub fn schedule(rule: &StepRule, due: DateTime<Utc>) -> Vec<(DateTime<Utc>, super::chase::Rung)> {
    use super::chase::Rung;
    let before = |offset: Duration| {
        chrono::Duration::from_std(offset)
            .ok()
            .and_then(|offset| due.checked_sub_signed(offset))
    };
    let mut points: Vec<(DateTime<Utc>, Rung)> = rule
        .reminders
        .iter()
        .filter_map(|offset| Some((before(*offset)?, Rung::Head)))
        .collect();
    points.extend(before(rule.deputies_before).map(|at| (at, Rung::Deputies)));
    points.push((due, Rung::Commander));
    points.sort_by_key(|(at, _)| *at);
    points
}

/// A report to record, as legal gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// When it was filed; now when not said.
    pub submitted_at: Option<DateTime<Utc>>,
    pub reference: Option<Line>,
    pub document_sha256: Option<String>,
    pub delay_reasons: Option<Prose>,
}

impl Incident {
    /// Legal decides that `regime` applies: its clocks start from the
    /// facts already recorded, and from those recorded later.
    pub fn arm_regime(
        &mut self,
        regime: &Regime,
        contacts: ChaseContacts,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<Vec<EventData>, DomainError> {
        self.decide_regime(regime, contacts, Decision::Armed, actor, now)
    }

    /// Legal decides that `regime` does not apply, and says why.
    pub fn regime_not_notifiable(
        &mut self,
        regime: &Regime,
        contacts: ChaseContacts,
        reason: Prose,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<Vec<EventData>, DomainError> {
        let decision = Decision::NotNotifiable {
            reason: reason.into_string(),
        };
        self.decide_regime(regime, contacts, decision, actor, now)
    }

    fn decide_regime(
        &mut self,
        regime: &Regime,
        contacts: ChaseContacts,
        decision: Decision,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<Vec<EventData>, DomainError> {
        let existing = self
            .regulatory
            .regimes
            .iter()
            .position(|state| state.rule.id == regime.id);
        if let Some(index) = existing {
            let state = &self.regulatory.regimes[index];
            if state.decision == decision {
                return Err(DomainError::RegimeUnchanged(regime.id.clone()));
            }
        }
        let event = match &decision {
            Decision::Armed => EventData::RegimeArmed {
                regime: regime.id.clone(),
                title: regime.title.clone(),
                citation: regime.citation.clone(),
                steps: regime.steps.iter().map(|step| step.id.clone()).collect(),
            },
            Decision::NotNotifiable { reason } => EventData::RegimeNotNotifiable {
                regime: regime.id.clone(),
                title: regime.title.clone(),
                reason: reason.clone(),
            },
        };
        let state = RegimeState {
            rule: regime.clone(),
            contacts,
            decision,
            decided_at: now,
            decided_by: actor.to_string(),
            steps: regime
                .steps
                .iter()
                .map(|step| StepState {
                    id: step.id.clone(),
                    started_at: None,
                    due_at: None,
                    submissions: Vec::new(),
                })
                .collect(),
        };
        let armed = state.is_armed();
        // A regime decided again keeps what was filed under it before.
        match existing {
            Some(index) => {
                let previous = std::mem::replace(&mut self.regulatory.regimes[index], state);
                for step in &mut self.regulatory.regimes[index].steps {
                    if let Some(old) = previous.steps.iter().find(|old| old.id == step.id) {
                        step.submissions = old.submissions.clone();
                    }
                }
            }
            None => self.regulatory.regimes.push(state),
        }
        self.updated_at = now;
        let mut events = vec![event];
        if armed {
            events.extend(self.restart_clocks());
        }
        Ok(events)
    }

    /// Legal records when a fact happened; an earlier claim of the same
    /// fact stays on the chain, and every clock it starts moves with it.
    pub fn claim_fact(
        &mut self,
        fact: Fact,
        claimed_at: DateTime<Utc>,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<Vec<EventData>, DomainError> {
        if claimed_at > now {
            return Err(DomainError::NeedsField {
                field: "claimed_at",
                message: format!(
                    "{} cannot be claimed for a time still to come ({claimed_at})",
                    fact.label()
                ),
            });
        }
        let previous = claimed(&self.regulatory.claims, fact);
        self.regulatory.claims.push(Claim {
            fact,
            claimed_at,
            recorded_at: now,
            recorded_by: actor.to_string(),
        });
        self.updated_at = now;
        let mut events = vec![EventData::FactClaimed {
            fact,
            claimed_at,
            previous_claimed_at: previous,
        }];
        events.extend(self.restart_clocks());
        Ok(events)
    }

    /// Legal records a report filed under an armed regime. Filing after the
    /// deadline needs the reasons for the delay, where the regime says so.
    pub fn submit_report(
        &mut self,
        regime: &str,
        step: &str,
        report: Report,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<Vec<EventData>, DomainError> {
        let state = self
            .regulatory
            .regimes
            .iter_mut()
            .find(|state| state.rule.id == regime)
            .filter(|state| state.is_armed())
            .ok_or_else(|| DomainError::RegimeNotArmed(regime.to_owned()))?;
        let rule = state
            .rule
            .steps
            .iter()
            .find(|rule| rule.id == step)
            .cloned()
            .ok_or_else(|| DomainError::NoSuchStep(format!("{regime}/{step}")))?;
        let submitted_at = report.submitted_at.unwrap_or(now);
        if submitted_at > now {
            return Err(DomainError::NeedsField {
                field: "submitted_at",
                message: format!("a report cannot be filed in the future ({submitted_at})"),
            });
        }
        let step_state = state
            .steps
            .iter_mut()
            .find(|state| state.id == step)
            .ok_or_else(|| DomainError::NoSuchStep(format!("{regime}/{step}")))?;
        let Some(due_at) = step_state.due_at else {
            return Err(DomainError::ClockNotStarted {
                step: format!("{regime}/{step}"),
                start: rule.deadline.after.to_string(),
            });
        };
        // A later filing of a step answered in time (DORA's updated
        // intermediate report) is an update, not a late report.
        let late = step_state.submissions.is_empty() && submitted_at > due_at;
        let delay_reasons = report.delay_reasons.map(Prose::into_string);
        if late && rule.late_needs_reasons && delay_reasons.is_none() {
            return Err(DomainError::NeedsField {
                field: "delay_reasons",
                message: format!(
                    "this report is late (due {due_at}, filed {submitted_at}): give the reasons \
                     for the delay ({})",
                    rule.citation
                ),
            });
        }
        let reference = report.reference.map(Line::into_string);
        step_state.submissions.push(Submission {
            submitted_at,
            recorded_at: now,
            recorded_by: actor.to_string(),
            reference: reference.clone(),
            document_sha256: report.document_sha256.clone(),
            late,
            delay_reasons: delay_reasons.clone(),
        });
        self.updated_at = now;
        let mut events = vec![EventData::ReportSubmitted {
            regime: regime.to_owned(),
            step: step.to_owned(),
            title: rule.title.clone(),
            due_at,
            submitted_at,
            reference,
            document_sha256: report.document_sha256,
            late,
            delay_reasons,
        }];
        events.extend(self.restart_clocks());
        Ok(events)
    }

    /// Sets every armed step's clock from what is recorded now; a clock
    /// that starts or moves is an event (and gets its chase).
    fn restart_clocks(&mut self) -> Vec<EventData> {
        let claims = &self.regulatory.claims;
        let mut events = Vec::new();
        for state in self.regulatory.regimes.iter_mut().filter(|s| s.is_armed()) {
            for index in 0..state.steps.len() {
                let Some(rule) = state
                    .rule
                    .steps
                    .iter()
                    .find(|r| r.id == state.steps[index].id)
                else {
                    continue;
                };
                let Some((started_at, due_at)) = state.clock(rule, claims) else {
                    continue;
                };
                let step = &mut state.steps[index];
                if step.due_at == Some(due_at) && step.started_at == Some(started_at) {
                    continue;
                }
                events.push(EventData::ClockStarted {
                    regime: state.rule.id.clone(),
                    step: step.id.clone(),
                    title: rule.title.clone(),
                    started_at,
                    due_at,
                    previous_due_at: step.due_at,
                });
                step.started_at = Some(started_at);
                step.due_at = Some(due_at);
            }
        }
        events
    }

    /// The armed regime `regime`, with its step `step`.
    pub fn armed_step(
        &self,
        regime: &str,
        step: &str,
    ) -> Option<(&RegimeState, &StepRule, &StepState)> {
        let state = self
            .regulatory
            .regimes
            .iter()
            .find(|state| state.rule.id == regime && state.is_armed())?;
        let (rule, step) = state.step(step)?;
        Some((state, rule, step))
    }
}

/// An armed step whose clock runs with nothing filed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingClock {
    pub regime: String,
    pub regime_title: String,
    pub step: String,
    pub step_title: String,
    pub due_at: DateTime<Utc>,
}

impl Regulatory {
    /// Every clock still to be answered, soonest deadline first.
    pub fn pending(&self) -> Vec<PendingClock> {
        let mut pending: Vec<PendingClock> = self
            .regimes
            .iter()
            .filter(|state| state.is_armed())
            .flat_map(|state| {
                state.rule.steps.iter().filter_map(move |rule| {
                    let (_, step) = state.step(&rule.id)?;
                    Some(PendingClock {
                        regime: state.rule.id.clone(),
                        regime_title: state.rule.title.clone(),
                        step: rule.id.clone(),
                        step_title: rule.title.clone(),
                        due_at: step.due_at.filter(|_| step.is_pending())?,
                    })
                })
            })
            .collect();
        pending.sort_by_key(|clock| clock.due_at);
        pending
    }

    /// The soonest deadline still to be answered: stored beside the
    /// incident, so that clocks can be found without reading every one.
    pub fn next_deadline(&self) -> Option<DateTime<Utc>> {
        self.pending().first().map(|clock| clock.due_at)
    }
}

/// A running clock, with the incident it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentClock {
    pub incident_id: uuid::Uuid,
    pub reference: String,
    pub title: String,
    pub clock: PendingClock,
}

/// A published statement, as a dossier quotes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    pub at: DateTime<Utc>,
    pub text: String,
    pub channels: Vec<String>,
}

impl Prefill {
    /// A first draft of a dossier field from what the incident recorded,
    /// for legal to complete; empty where tocsin knows nothing useful.
    pub fn draft(
        self,
        incident: &Incident,
        regime: &RegimeState,
        statements: &[Published],
    ) -> String {
        let at = |at: DateTime<Utc>| at.format("%Y-%m-%d %H:%M UTC").to_string();
        match self {
            Prefill::Nothing => String::new(),
            Prefill::Summary => format!("{}: {}", incident.title, incident.summary),
            Prefill::Classification => format!(
                "Scenario {}, severity {}",
                incident.scenario, incident.severity
            ),
            Prefill::Contact => {
                let mut contact = format!(
                    "{} <{}>, incident commander",
                    incident.commander.name, incident.commander.email
                );
                if let Some(dpo) = &regime.contacts.dpo {
                    contact.push_str(&format!(
                        "; data protection officer: {} <{}>",
                        dpo.name, dpo.email
                    ));
                }
                contact
            }
            Prefill::Facts => Fact::ALL
                .into_iter()
                .filter_map(|fact| {
                    let claim = incident
                        .regulatory
                        .claims
                        .iter()
                        .rev()
                        .find(|c| c.fact == fact)?;
                    Some(format!(
                        "{}: {} (recorded {} by {})",
                        fact.label(),
                        at(claim.claimed_at),
                        at(claim.recorded_at),
                        claim.recorded_by
                    ))
                })
                .collect::<Vec<_>>()
                .join("; "),
            Prefill::OpenedAt => format!("Incident opened in tocsin at {}", at(incident.opened_at)),
            Prefill::Measures => incident
                .departments
                .iter()
                .map(|dept| {
                    let done: Vec<&str> = dept
                        .tasks
                        .iter()
                        .filter(|task| task.status == super::TaskStatus::Done)
                        .map(|task| task.title.as_str())
                        .collect();
                    if done.is_empty() {
                        format!("{}: nothing done yet", dept.name)
                    } else {
                        format!("{}: {}", dept.name, done.join(", "))
                    }
                })
                .collect::<Vec<_>>()
                .join("; "),
            Prefill::Statements => statements
                .iter()
                .map(|statement| {
                    format!(
                        "{} ({}): {}",
                        at(statement.at),
                        statement.channels.join(", "),
                        statement.text
                    )
                })
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::domain::chase::Rung;
    use crate::domain::testing::{drill_incident, person};

    fn at(hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2027, 1, 4, hour, 0, 0).unwrap()
    }

    fn hours(n: u64) -> Duration {
        Duration::from_secs(n * 3600)
    }

    /// Two chained steps: a report 72 h after awareness, a follow-up 24 h
    /// after the report's latest filing.
    fn regime() -> Regime {
        let step = |id: &str, after: &str, within: u64| StepRule {
            id: id.to_owned(),
            title: id.to_owned(),
            citation: "Art. 1".to_owned(),
            deadline: Term {
                after: after.parse().unwrap(),
                within: Period::Clock(hours(within)),
            },
            no_later_than: None,
            reminders: vec![hours(24), hours(4)],
            deputies_before: hours(1),
            late_needs_reasons: true,
        };
        Regime {
            id: "test".to_owned(),
            title: "Test regime".to_owned(),
            authority: "The authority".to_owned(),
            citation: "Regulation 1".to_owned(),
            source: "https://example.org".to_owned(),
            department: "legal".to_owned(),
            copy_dpo: false,
            steps: vec![
                step("report", "awareness", 72),
                step("follow-up", "submitted:report", 24),
            ],
            dossier: Vec::new(),
        }
    }

    fn incident() -> Incident {
        let mut incident = drill_incident(at(9));
        let contacts = ChaseContacts {
            head: person("head@example.com"),
            deputies: vec![person("deputy@example.com")],
            dpo: None,
        };
        let legal = Actor::token("legal");
        incident
            .arm_regime(&regime(), contacts, &legal, at(9))
            .unwrap();
        incident
    }

    fn report(reference: &str) -> Report {
        Report {
            submitted_at: None,
            reference: Some(Line::parse(reference).unwrap()),
            document_sha256: None,
            delay_reasons: None,
        }
    }

    #[test]
    fn the_ladder_reminds_then_escalates_then_reaches_the_commander_at_the_deadline() {
        let due = at(12);
        let points = schedule(&regime().steps[0], due);
        let expected = [
            (due - chrono::Duration::hours(24), Rung::Head),
            (due - chrono::Duration::hours(4), Rung::Head),
            (due - chrono::Duration::hours(1), Rung::Deputies),
            (due, Rung::Commander),
        ];
        assert_eq!(points, expected);
    }

    #[test]
    fn a_claim_moved_later_moves_the_deadline_and_keeps_the_first_claim() {
        let mut incident = incident();
        let legal = Actor::token("legal");
        incident
            .claim_fact(Fact::Awareness, at(7), &legal, at(9))
            .unwrap();
        let events = incident
            .claim_fact(Fact::Awareness, at(8), &legal, at(10))
            .unwrap();
        assert!(matches!(
            &events[..],
            [
                EventData::FactClaimed { previous_claimed_at: Some(previous), .. },
                EventData::ClockStarted { previous_due_at: Some(_), .. },
            ] if *previous == at(7)
        ));
        assert_eq!(incident.regulatory.claims.len(), 2);
        let (_, _, step) = incident.armed_step("test", "report").unwrap();
        assert_eq!(step.due_at, Some(at(8) + chrono::Duration::hours(72)));
        let future = incident.claim_fact(Fact::Awareness, at(11), &legal, at(10));
        assert!(matches!(
            future,
            Err(DomainError::NeedsField {
                field: "claimed_at",
                ..
            })
        ));
    }

    #[test]
    fn a_chained_clock_runs_from_the_latest_filing_and_only_a_first_late_one_needs_reasons() {
        let mut incident = incident();
        let legal = Actor::token("legal");
        let not_started = incident.submit_report("test", "report", report("R-1"), &legal, at(9));
        assert!(matches!(
            not_started,
            Err(DomainError::ClockNotStarted { .. })
        ));
        incident
            .claim_fact(Fact::Awareness, at(6), &legal, at(9))
            .unwrap();
        let deadline = at(6) + chrono::Duration::hours(72);
        let late = deadline + chrono::Duration::hours(1);
        let refused = incident.submit_report("test", "report", report("R-1"), &legal, late);
        assert!(matches!(
            refused,
            Err(DomainError::NeedsField {
                field: "delay_reasons",
                ..
            })
        ));
        let with_reasons = Report {
            delay_reasons: Some(Prose::parse("The forensic report came late.").unwrap()),
            ..report("R-1")
        };
        incident
            .submit_report("test", "report", with_reasons, &legal, late)
            .unwrap();
        let (_, _, follow_up) = incident.armed_step("test", "follow-up").unwrap();
        assert_eq!(follow_up.due_at, Some(late + chrono::Duration::hours(24)));

        // An update of a filed report is not late, and moves what runs from it.
        let update = late + chrono::Duration::hours(2);
        incident
            .submit_report("test", "report", report("R-2"), &legal, update)
            .unwrap();
        let (_, _, step) = incident.armed_step("test", "report").unwrap();
        assert!(!step.submissions[1].late);
        let (_, _, follow_up) = incident.armed_step("test", "follow-up").unwrap();
        assert_eq!(follow_up.due_at, Some(update + chrono::Duration::hours(24)));
    }

    #[test]
    fn deciding_a_regime_again_the_same_way_is_refused_and_filings_survive_a_change_of_mind() {
        let mut incident = incident();
        let legal = Actor::token("legal");
        let contacts = incident.regulatory.regimes[0].contacts.clone();
        let again = incident.arm_regime(&regime(), contacts.clone(), &legal, at(9));
        assert!(matches!(again, Err(DomainError::RegimeUnchanged(_))));
        incident
            .claim_fact(Fact::Awareness, at(6), &legal, at(9))
            .unwrap();
        incident
            .submit_report("test", "report", report("R-1"), &legal, at(10))
            .unwrap();
        let reason = Prose::parse("No personal data after all.").unwrap();
        incident
            .regime_not_notifiable(&regime(), contacts.clone(), reason, &legal, at(11))
            .unwrap();
        assert!(incident.armed_step("test", "report").is_none());
        incident
            .arm_regime(&regime(), contacts, &legal, at(12))
            .unwrap();
        let (_, _, step) = incident.armed_step("test", "report").unwrap();
        assert_eq!(step.submissions.len(), 1, "what was filed stays filed");
    }
}
