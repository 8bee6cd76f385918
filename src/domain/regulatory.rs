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

use super::Person;
use super::calendar;

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
            Period::Clock(duration) => write!(f, "{}", humantime::format_duration(*duration)),
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
