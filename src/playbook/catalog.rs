//! The validated playbooks, and the plan they yield for a scenario at a severity.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use chrono_tz::Tz;
use serde::{Serialize, Serializer};

use crate::domain::briefing::Audience;
use crate::domain::regulatory::{ChaseContacts, Regime};
use crate::domain::signal::SignalSource;
use crate::domain::statement::{ApprovalPolicy, Approver, Template};
use crate::domain::{Person, Plan, PlannedDepartment, PlannedTask, Severity};

/// Every playbook of the organisation, validated as a whole: each reference
/// resolves, no dependency cycle, every timing parses. Built by [`Catalog::load`].
#[derive(Debug, Clone)]
pub struct Catalog {
    pub(super) organisation: Organisation,
    pub(super) scenarios: Vec<Scenario>,
    pub(super) departments: Vec<Department>,
    /// Sorted by id.
    pub(super) regimes: Vec<Regime>,
    /// Holding statements, in file order.
    pub(super) templates: Vec<Template>,
    /// Sorted by id.
    pub(super) audiences: Vec<Audience>,
    /// Signal sources, sorted by id.
    pub(super) signals: Vec<SignalSource>,
}

/// A person to notify.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Contact {
    pub name: String,
    #[serde(serialize_with = "serialize_address")]
    #[schema(value_type = String, format = Email, example = "pr-head@example.com")]
    pub email: lettre::Address,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Organisation {
    pub name: String,
    /// The default incident commander, who owns the social media strategy.
    pub commander: Contact,
    /// Reminded of the regulatory clocks of regimes that copy them.
    pub data_protection_officer: Option<Contact>,
    /// Where its people are: mails show deadlines in this zone as well as
    /// UTC. None: UTC only.
    #[serde(serialize_with = "serialize_opt_tz")]
    #[schema(value_type = Option<String>, example = "Europe/Paris")]
    pub timezone: Option<Tz>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Scenario {
    pub id: String,
    pub title: String,
    pub description: String,
    /// Engaged department ids, in the order plans list them. A scenario
    /// written as `["*"]` has already been resolved to every department with
    /// items for it, sorted by id.
    pub departments: Vec<String>,
    /// True when written as `["*"]`.
    pub all_departments: bool,
    /// Candidate regime ids (`regimes/<id>.toml`): legal arms those that
    /// apply to an incident, or records why one does not.
    pub regimes: Vec<String>,
    /// Who approves public statements, by severity; lowest `from` first.
    pub approvals: Vec<ApprovalRule>,
}

/// From `from` upwards, every listed department approves a statement
/// before it goes out; each rung of the chase waits `within`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ApprovalRule {
    pub from: Severity,
    pub departments: Vec<String>,
    #[serde(serialize_with = "serialize_duration")]
    #[schema(value_type = String, example = "15m")]
    pub within: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Department {
    /// The file stem of `departments/<id>.toml`.
    pub id: String,
    pub name: String,
    /// The question this department answers in every crisis.
    pub crisis_question: String,
    pub head: Contact,
    /// Escalation goes to them when the head does not answer; never empty.
    pub deputies: Vec<Contact>,
    /// In file order.
    pub items: Vec<Item>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Item {
    pub id: String,
    pub title: String,
    pub description: String,
    /// Scenario ids, or `["*"]` for every scenario that engages the department.
    pub scenarios: Vec<String>,
    pub min_severity: Severity,
    pub required: bool,
    #[serde(serialize_with = "serialize_duration")]
    #[schema(value_type = String, example = "30m")]
    pub ack_within: Duration,
    #[serde(serialize_with = "serialize_duration")]
    #[schema(value_type = String, example = "2h")]
    pub complete_within: Duration,
    /// Fully qualified `dept/item` keys.
    pub depends_on: Vec<String>,
    /// Tighter timings from a severity upwards.
    pub by_severity: BTreeMap<Severity, Timing>,
}

/// A `by_severity` entry; a field left out falls back to a lower severity's
/// entry, then to the item's base value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Timing {
    #[serde(
        serialize_with = "serialize_opt_duration",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>, example = "10m")]
    pub ack_within: Option<Duration>,
    #[serde(
        serialize_with = "serialize_opt_duration",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>, example = "45m")]
    pub complete_within: Option<Duration>,
}

impl Contact {
    /// The person as an incident keeps them.
    pub fn person(&self) -> Person {
        Person {
            name: self.name.clone(),
            email: self.email.to_string(),
        }
    }
}

impl Item {
    pub fn applies_to(&self, scenario: &str) -> bool {
        self.scenarios.iter().any(|id| id == "*" || id == scenario)
    }

    /// The time to acknowledge at `severity`.
    pub fn ack_within_at(&self, severity: Severity) -> Duration {
        effective(&self.by_severity, severity, |timing| timing.ack_within)
            .unwrap_or(self.ack_within)
    }

    /// The time to complete at `severity`.
    pub fn complete_within_at(&self, severity: Severity) -> Duration {
        effective(&self.by_severity, severity, |timing| timing.complete_within)
            .unwrap_or(self.complete_within)
    }
}

/// The value set by the entry for the greatest severity <= `severity` that
/// sets it; each field falls back on its own.
pub(super) fn effective<T, V>(
    by_severity: &BTreeMap<Severity, T>,
    severity: Severity,
    field: impl Fn(&T) -> Option<V>,
) -> Option<V> {
    by_severity
        .range(..=severity)
        .rev()
        .find_map(|(_, timing)| field(timing))
}

impl Catalog {
    pub fn organisation(&self) -> &Organisation {
        &self.organisation
    }

    /// In file order.
    pub fn scenarios(&self) -> &[Scenario] {
        &self.scenarios
    }

    pub fn scenario(&self, id: &str) -> Option<&Scenario> {
        self.scenarios.iter().find(|scenario| scenario.id == id)
    }

    /// Sorted by id.
    pub fn departments(&self) -> &[Department] {
        &self.departments
    }

    pub fn department(&self, id: &str) -> Option<&Department> {
        self.departments
            .binary_search_by(|department| department.id.as_str().cmp(id))
            .ok()
            .and_then(|index| self.departments.get(index))
    }

    /// Sorted by id.
    pub fn regimes(&self) -> &[Regime] {
        &self.regimes
    }

    pub fn regime(&self, id: &str) -> Option<&Regime> {
        self.regimes
            .binary_search_by(|regime| regime.id.as_str().cmp(id))
            .ok()
            .and_then(|index| self.regimes.get(index))
    }

    /// Who `regime`'s clocks chase: its department's head, then deputies,
    /// and the data protection officer when the regime copies them. None
    /// if the department is not in these playbooks.
    pub fn regime_contacts(&self, regime: &Regime) -> Option<ChaseContacts> {
        let department = self.department(&regime.department)?;
        Some(ChaseContacts {
            head: department.head.person(),
            deputies: department.deputies.iter().map(Contact::person).collect(),
            dpo: regime
                .copy_dpo
                .then_some(self.organisation.data_protection_officer.as_ref())
                .flatten()
                .map(Contact::person),
        })
    }

    /// In file order.
    pub fn templates(&self) -> &[Template] {
        &self.templates
    }

    /// Sorted by id.
    pub fn audiences(&self) -> &[Audience] {
        &self.audiences
    }

    pub fn audience(&self, id: &str) -> Option<&Audience> {
        self.audiences.iter().find(|audience| audience.id == id)
    }

    /// Sorted by id.
    pub fn signal_sources(&self) -> &[SignalSource] {
        &self.signals
    }

    pub fn signal_source(&self, id: &str) -> Option<&SignalSource> {
        self.signals.iter().find(|source| source.id == id)
    }

    pub fn template(&self, id: &str) -> Option<&Template> {
        self.templates.iter().find(|template| template.id == id)
    }

    /// Who approves a statement of a `scenario` incident at `severity`, with
    /// their people as the department files name them now; None when the
    /// playbooks name no approver there.
    pub fn approval_policy(&self, scenario: &str, severity: Severity) -> Option<ApprovalPolicy> {
        let rule = self
            .scenario(scenario)?
            .approvals
            .iter()
            .rev()
            .find(|rule| rule.from <= severity)?;
        let approvers = rule
            .departments
            .iter()
            .filter_map(|id| self.department(id))
            .map(|department| Approver {
                department: department.id.clone(),
                name: department.name.clone(),
                head: department.head.person(),
                deputies: department.deputies.iter().map(Contact::person).collect(),
            })
            .collect();
        Some(ApprovalPolicy {
            approvers,
            within: chrono::Duration::from_std(rule.within).ok()?,
        })
    }

    /// The tasks `scenario` calls for at `severity`; None if the scenario is
    /// unknown. Raising the severity only ever adds tasks (and tightens
    /// timings), so the plan at a higher severity contains the lower one's.
    pub fn plan(&self, scenario: &str, severity: Severity) -> Option<Plan> {
        let scenario = self.scenario(scenario)?;
        let mut departments: Vec<PlannedDepartment> = scenario
            .departments
            .iter()
            .filter_map(|id| self.department(id))
            .filter_map(|department| {
                let tasks: Vec<PlannedTask> = department
                    .items
                    .iter()
                    .filter(|item| item.applies_to(&scenario.id) && item.min_severity <= severity)
                    .map(|item| PlannedTask {
                        department: department.id.clone(),
                        item: item.id.clone(),
                        title: item.title.clone(),
                        description: item.description.clone(),
                        required: item.required,
                        ack_within: item.ack_within_at(severity),
                        complete_within: item.complete_within_at(severity),
                        depends_on: item.depends_on.clone(),
                    })
                    .collect();
                (!tasks.is_empty()).then(|| PlannedDepartment {
                    id: department.id.clone(),
                    name: department.name.clone(),
                    head: department.head.person(),
                    deputies: department.deputies.iter().map(Contact::person).collect(),
                    tasks,
                })
            })
            .collect();

        let planned: HashSet<String> = departments
            .iter()
            .flat_map(|department| department.tasks.iter().map(PlannedTask::key))
            .collect();
        for task in departments.iter_mut().flat_map(|d| d.tasks.iter_mut()) {
            task.depends_on.retain(|key| planned.contains(key));
        }

        Some(Plan {
            scenario: scenario.id.clone(),
            severity,
            departments,
        })
    }
}

fn serialize_address<S: Serializer>(address: &lettre::Address, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(address.as_ref())
}

fn serialize_opt_tz<S: Serializer>(tz: &Option<Tz>, s: S) -> Result<S::Ok, S::Error> {
    match tz {
        Some(tz) => s.serialize_str(tz.name()),
        None => s.serialize_none(),
    }
}

fn serialize_duration<S: Serializer>(duration: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&humantime::format_duration(*duration))
}

fn serialize_opt_duration<S: Serializer>(
    duration: &Option<Duration>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match duration {
        Some(duration) => serialize_duration(duration, s),
        None => s.serialize_none(),
    }
}
