//! The incident lifecycle as a state machine (issue #8): random sequences of
//! triggers, acknowledgements, completions, skips, severity changes, clock
//! ticks that run the chaser, mail deliveries and resolutions are run against
//! the real engine over a real database, and against a small reference model
//! that predicts what each step must do. After every step, for every incident:
//! the store agrees with the model (state, timeline, pending timers), and
//! invariants read from the store alone hold: no task done before its
//! dependencies, no chase after its answer, exactly one timeline event per
//! state change, a chain that verifies, and no resolution with required tasks
//! open unless forced with a reason.
//!
//! One run is one server over one database (a SQLite file; a PostgreSQL
//! database too when `TOCSIN_TEST_POSTGRES_URL` is set); each case starts
//! from a reset that purges every incident the previous case left, so a
//! shrunk case replays from the same empty start. `PROPTEST_CASES` and
//! `TOCSIN_LIFECYCLE_STEPS` ask for more cases and longer ones.

mod support;

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::marker::PhantomData;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use chrono::{DateTime, Utc};
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence, TestRunner};
use proptest_state_machine::{ReferenceStateMachine, StateMachineTest};
use serde_json::Value;
use support::{Backend, ManualClock, Options, TestApp, TestDatabase};
use tocsin::delivery::worker::{Delivery, RetryPolicy};
use tocsin::domain::chase::Purpose;
use tocsin::domain::{
    Actor, DomainError, Incident, IncidentFilter, IncidentStatus, Severity, TaskStatus,
};
use tocsin::engine::{EngineError, Trigger};
use tocsin::timeline::{ChainHead, ChainedEvent};
use uuid::Uuid;

/// Cases run per backend unless `PROPTEST_CASES` says otherwise.
const CASES: u32 = 64;
/// Longest sequence of steps unless `TOCSIN_LIFECYCLE_STEPS` says otherwise.
const STEPS: usize = 30;
/// Incidents a case may open; several are open at once.
const MAX_INCIDENTS: usize = 3;
const COMMANDER: &str = "commander@example.com";

// ---------------------------------------------------------------------------
// The playbooks: one table, written out as TOML for the engine and read
// directly by the model.

struct Dept {
    id: &'static str,
    name: &'static str,
    deputies: &'static [&'static str],
}

const DEPTS: &[Dept] = &[
    Dept {
        id: "ops",
        name: "Operations",
        deputies: &["ops-deputy@example.com"],
    },
    Dept {
        id: "pr",
        name: "Press office",
        deputies: &["pr-deputy@example.com", "pr-second@example.com"],
    },
    Dept {
        id: "legal",
        name: "Legal",
        deputies: &["legal-deputy@example.com"],
    },
];

/// Scenario ids and the departments they engage, in plan order.
const SCENARIOS: &[(&str, &[&str])] = &[
    ("outage", &["ops", "pr", "legal"]),
    ("leak", &["pr", "legal"]),
];

struct Item {
    key: &'static str,
    title: &'static str,
    /// `*`: every scenario engaging the department.
    scenarios: &'static [&'static str],
    min: Severity,
    required: bool,
    /// Minutes to acknowledge and to complete.
    within: (i64, i64),
    /// Tighter minutes from `high` up.
    from_high: Option<(i64, i64)>,
    depends_on: &'static [&'static str],
}

impl Item {
    fn dept(&self) -> &'static str {
        self.key.split_once('/').map_or(self.key, |(dept, _)| dept)
    }

    fn applies(&self, scenario: &str, severity: Severity) -> bool {
        (self.scenarios == ["*"] || self.scenarios.contains(&scenario)) && self.min <= severity
    }

    /// Seconds to acknowledge and to complete at `severity`.
    fn timing(&self, severity: Severity) -> (i64, i64) {
        let (ack, complete) = match self.from_high {
            Some(tighter) if severity >= Severity::High => tighter,
            _ => self.within,
        };
        (ack * 60, complete * 60)
    }
}

/// Cross-department dependencies, optional items, items that join only at
/// higher severities (one of them bringing a department that was not engaged
/// before), dependencies that apply only at some severities, and one timing
/// that tightens with severity.
const ITEMS: &[Item] = &[
    Item {
        key: "ops/contain",
        title: "Contain the outage",
        scenarios: &["*"],
        min: Severity::Low,
        required: true,
        within: (10, 30),
        from_high: Some((5, 20)),
        depends_on: &[],
    },
    Item {
        key: "ops/postmortem",
        title: "Write the postmortem",
        scenarios: &["*"],
        min: Severity::Low,
        required: false,
        within: (30, 120),
        from_high: None,
        depends_on: &["ops/contain"],
    },
    Item {
        key: "pr/draft",
        title: "Draft the statement",
        scenarios: &["*"],
        min: Severity::Low,
        required: true,
        within: (10, 45),
        from_high: None,
        depends_on: &[],
    },
    Item {
        key: "pr/publish",
        title: "Publish the statement",
        scenarios: &["*"],
        min: Severity::Low,
        required: true,
        within: (15, 60),
        from_high: None,
        depends_on: &["pr/draft", "legal/review"],
    },
    Item {
        key: "pr/monitor",
        title: "Monitor the press",
        scenarios: &["leak"],
        min: Severity::Medium,
        required: false,
        within: (20, 90),
        from_high: None,
        depends_on: &[],
    },
    Item {
        key: "legal/review",
        title: "Review the statement",
        scenarios: &["*"],
        min: Severity::Medium,
        required: true,
        within: (15, 60),
        from_high: None,
        depends_on: &["pr/draft"],
    },
    Item {
        key: "legal/regulator",
        title: "Notify the regulator",
        scenarios: &["*"],
        min: Severity::High,
        required: true,
        within: (5, 30),
        from_high: None,
        depends_on: &["ops/contain", "legal/review"],
    },
];

fn item(key: &str) -> &'static Item {
    ITEMS
        .iter()
        .find(|item| item.key == key)
        .unwrap_or_else(|| panic!("no item {key}"))
}

fn dept(id: &str) -> &'static Dept {
    DEPTS
        .iter()
        .find(|dept| dept.id == id)
        .unwrap_or_else(|| panic!("no department {id}"))
}

fn head(dept: &str) -> String {
    format!("{dept}-head@example.com")
}

fn write_playbooks(root: &Path) {
    std::fs::create_dir_all(root.join("departments")).expect("mkdir");
    let mut organisation = format!(
        "name = \"Lifecycle Corp\"\n[commander]\nname = \"Camille Commander\"\nemail = \"{COMMANDER}\"\n"
    );
    for (id, depts) in SCENARIOS {
        let depts: Vec<String> = depts.iter().map(|d| format!("{d:?}")).collect();
        let _ = write!(
            organisation,
            "[[scenario]]\nid = \"{id}\"\ntitle = \"{id}\"\ndepartments = [{}]\n",
            depts.join(", ")
        );
    }
    std::fs::write(root.join("organisation.toml"), organisation).expect("write organisation");
    for dept in DEPTS {
        let mut file = format!(
            "name = \"{}\"\n[head]\nname = \"{} head\"\nemail = \"{}\"\n",
            dept.name,
            dept.id,
            head(dept.id)
        );
        for (n, deputy) in dept.deputies.iter().enumerate() {
            let _ = write!(
                file,
                "[[deputies]]\nname = \"{} deputy {n}\"\nemail = \"{deputy}\"\n",
                dept.id
            );
        }
        for item in ITEMS.iter().filter(|item| item.dept() == dept.id) {
            let scenarios: Vec<String> = item.scenarios.iter().map(|s| format!("{s:?}")).collect();
            let depends_on: Vec<String> = item
                .depends_on
                .iter()
                .map(|key| match key.split_once('/') {
                    Some((d, i)) if d == dept.id => format!("{i:?}"),
                    _ => format!("{key:?}"),
                })
                .collect();
            let _ = write!(
                file,
                "[[item]]\nid = \"{}\"\ntitle = \"{}\"\nscenarios = [{}]\nmin_severity = \"{}\"\n\
                 required = {}\nack_within = \"{}m\"\ncomplete_within = \"{}m\"\ndepends_on = [{}]\n",
                item.key.split_once('/').map_or(item.key, |(_, id)| id),
                item.title,
                scenarios.join(", "),
                item.min.as_str(),
                item.required,
                item.within.0,
                item.within.1,
                depends_on.join(", "),
            );
            if let Some((ack, complete)) = item.from_high {
                let _ = write!(
                    file,
                    "[item.by_severity.high]\nack_within = \"{ack}m\"\ncomplete_within = \"{complete}m\"\n"
                );
            }
        }
        std::fs::write(root.join(format!("departments/{}.toml", dept.id)), file)
            .expect("write department");
    }
}

// ---------------------------------------------------------------------------
// The reference model. Times are seconds since the case's start.

#[derive(Debug, Clone)]
enum Step {
    Trigger {
        scenario: &'static str,
        severity: Severity,
    },
    AckTask {
        incident: usize,
        task: &'static str,
    },
    AckDept {
        incident: usize,
        dept: &'static str,
    },
    Complete {
        incident: usize,
        task: &'static str,
    },
    Skip {
        incident: usize,
        task: &'static str,
    },
    /// Completing another incident's task through this one.
    CompleteElsewhere {
        incident: usize,
        owner: usize,
        task: &'static str,
    },
    ChangeSeverity {
        incident: usize,
        to: Severity,
    },
    Resolve {
        incident: usize,
        force: bool,
    },
    /// The clock moves on and the chaser fires what fell due.
    Tick {
        minutes: i64,
    },
    /// The outbox is delivered.
    Deliver,
}

/// What the step must do.
#[derive(Debug, Clone, PartialEq)]
enum Expect {
    Accepted,
    Refused(Refusal),
    /// Timers handled by the chaser: fired or cancelled.
    Handled(usize),
    /// Reminders and escalations that must arrive (`recipient subject`), and
    /// how many queued ones must be cancelled because they were answered.
    Delivered {
        chases: Vec<String>,
        cancelled: usize,
    },
}

#[derive(Debug, Clone, PartialEq)]
enum Refusal {
    Resolved {
        at: i64,
    },
    DepartmentNotFound(&'static str),
    TaskNotFound {
        owner: usize,
        task: &'static str,
    },
    TaskClosed {
        task: &'static str,
        status: TaskStatus,
    },
    DependenciesOpen {
        task: &'static str,
        waiting_on: Vec<&'static str>,
    },
    RequiredTasksOpen(Vec<&'static str>),
    SeverityUnchanged(Severity),
}

impl Refusal {
    fn to_domain(&self, sut: &Sut) -> DomainError {
        match self {
            Refusal::Resolved { at } => DomainError::IncidentResolved(sut.t0 + secs(*at)),
            Refusal::TaskNotFound { owner, task } => {
                DomainError::TaskNotFound(sut.task_id(*owner, task).1)
            }
            Refusal::DepartmentNotFound(dept) => DomainError::DepartmentNotFound((*dept).into()),
            Refusal::TaskClosed { task, status } => DomainError::TaskClosed {
                task: (*task).into(),
                status: *status,
            },
            Refusal::DependenciesOpen { task, waiting_on } => DomainError::DependenciesOpen {
                task: (*task).into(),
                waiting_on: waiting_on.iter().map(|key| (*key).into()).collect(),
            },
            Refusal::RequiredTasksOpen(open) => DomainError::RequiredTasksOpen {
                open: open.iter().map(|key| (*key).into()).collect(),
            },
            Refusal::SeverityUnchanged(severity) => DomainError::SeverityUnchanged(*severity),
        }
    }
}

fn secs(seconds: i64) -> chrono::Duration {
    chrono::Duration::seconds(seconds)
}

#[derive(Debug, Clone)]
struct Model {
    now: i64,
    incidents: Vec<MIncident>,
    expect: Expect,
}

#[derive(Debug, Clone)]
struct MIncident {
    scenario: &'static str,
    severity: Severity,
    resolved_at: Option<i64>,
    departments: Vec<MDept>,
    timers: Vec<MTimer>,
    /// Reminders and escalations queued and not yet delivered.
    outbox: Vec<MChase>,
    /// The timeline, but for delivery records, as [`describe`] writes it.
    events: Vec<String>,
}

#[derive(Debug, Clone)]
struct MDept {
    id: &'static str,
    acknowledged_at: Option<i64>,
    tasks: Vec<MTask>,
}

#[derive(Debug, Clone)]
struct MTask {
    key: &'static str,
    required: bool,
    depends_on: Vec<&'static str>,
    ack_within: i64,
    complete_within: i64,
    status: TaskStatus,
    ack_due: i64,
    due: Option<i64>,
    acknowledged_at: Option<i64>,
    closed_at: Option<i64>,
}

/// What a timer chases: a department's acknowledgement, or a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Target {
    dept: &'static str,
    task: Option<&'static str>,
}

#[derive(Debug, Clone)]
struct MTimer {
    target: Target,
    stage: i64,
    due: i64,
}

#[derive(Debug, Clone)]
struct MChase {
    target: Target,
    stage: i64,
    recipient: String,
}

fn purpose(target: Target) -> Purpose {
    if target.task.is_some() {
        Purpose::Complete
    } else {
        Purpose::Acknowledge
    }
}

fn at(offset: i64) -> String {
    format!("@{offset}")
}

fn opt_at(offset: Option<i64>) -> String {
    offset.map_or_else(|| "@-".into(), at)
}

/// One task as an opening or a severity change lists it.
fn snapshot(key: &str, required: bool, deps: &[&str], ack_due: i64, due: Option<i64>) -> String {
    format!(
        "{key} required={required} after=[{}] ack{} due{}",
        deps.join(","),
        at(ack_due),
        opt_at(due)
    )
}

fn chased(
    now: i64,
    target: Target,
    stage: i64,
    recipients: &[String],
    due: i64,
    late_ms: i64,
    next: Option<i64>,
) -> String {
    format!(
        "{} system:chaser chased {} {} {} stage={stage} to=[{}] due{} late={late_ms}ms next{}",
        at(now),
        target.dept,
        target.task.unwrap_or("-"),
        purpose(target).as_str(),
        recipients.join(","),
        at(due),
        opt_at(next)
    )
}

impl MIncident {
    fn tasks(&self) -> impl Iterator<Item = &MTask> {
        self.departments.iter().flat_map(|dept| dept.tasks.iter())
    }

    fn task(&self, key: &str) -> Option<&MTask> {
        self.tasks().find(|task| task.key == key)
    }

    fn task_mut(&mut self, key: &str) -> &mut MTask {
        self.departments
            .iter_mut()
            .flat_map(|dept| dept.tasks.iter_mut())
            .find(|task| task.key == key)
            .unwrap_or_else(|| panic!("no task {key}"))
    }

    fn is_closed(&self, key: &str) -> bool {
        self.task(key).is_some_and(|task| is_closed(task.status))
    }

    fn open_required(&self) -> Vec<&'static str> {
        self.tasks()
            .filter(|task| task.required && !is_closed(task.status))
            .map(|task| task.key)
            .collect()
    }

    fn record(&mut self, now: i64, what: String) {
        self.events
            .push(format!("{} token:lifecycle {what}", at(now)));
    }

    fn answered(&self, target: Target) -> bool {
        if self.resolved_at.is_some() {
            return true;
        }
        match target.task {
            Some(task) => self.is_closed(task),
            None => self
                .departments
                .iter()
                .find(|dept| dept.id == target.dept)
                .is_none_or(|dept| dept.acknowledged_at.is_some()),
        }
    }

    /// A rung's wait: the task's time to acknowledge, or the department's shortest.
    fn interval(&self, target: Target) -> i64 {
        let step = match target.task {
            Some(key) => self.task(key).map(|task| task.ack_within),
            None => self
                .tasks()
                .filter(|task| item(task.key).dept() == target.dept)
                .map(|task| task.ack_within)
                .min(),
        };
        step.unwrap_or(15 * 60).max(1)
    }

    fn recipients(dept_id: &str, stage: i64) -> Vec<String> {
        match stage {
            0 => vec![head(dept_id)],
            1 => dept(dept_id)
                .deputies
                .iter()
                .map(|d| (*d).to_owned())
                .collect(),
            _ => vec![COMMANDER.to_owned()],
        }
    }

    /// Adds what the playbooks plan at `severity` and the incident lacks;
    /// returns the added tasks as the timeline lists them, and sets timers.
    fn add_planned(&mut self, severity: Severity, now: i64) -> Vec<String> {
        let scenario = self.scenario;
        let engaged = SCENARIOS
            .iter()
            .find(|(id, _)| *id == scenario)
            .map_or(&[][..], |(_, depts)| *depts);
        let planned: Vec<&'static Item> = engaged
            .iter()
            .flat_map(|dept| ITEMS.iter().filter(move |item| item.dept() == *dept))
            .filter(|item| item.applies(scenario, severity))
            .collect();
        let new: Vec<&'static Item> = planned
            .iter()
            .copied()
            .filter(|item| self.task(item.key).is_none())
            .collect();
        let mut snapshots = Vec::new();
        let mut added = Vec::new();
        // As the engine does: the new tasks are wired to existing ones, but
        // existing tasks keep the dependencies they were created with.
        for item in &new {
            // Dependencies the plan does not hold are dropped.
            let depends_on: Vec<&'static str> = item
                .depends_on
                .iter()
                .copied()
                .filter(|dep| planned.iter().any(|p| p.key == *dep))
                .collect();
            let waiting = depends_on
                .iter()
                .any(|dep| new.iter().any(|n| n.key == *dep) || !self.is_closed(dep));
            let (ack_within, complete_within) = item.timing(severity);
            let task = MTask {
                key: item.key,
                required: item.required,
                depends_on,
                ack_within,
                complete_within,
                status: TaskStatus::Open,
                ack_due: now + ack_within,
                due: (!waiting).then_some(now + complete_within),
                acknowledged_at: None,
                closed_at: None,
            };
            snapshots.push(snapshot(
                task.key,
                task.required,
                &task.depends_on,
                task.ack_due,
                task.due,
            ));
            added.push(task.key);
            match self.departments.iter_mut().find(|d| d.id == item.dept()) {
                Some(dept) => dept.tasks.push(task),
                None => self.departments.push(MDept {
                    id: item.dept(),
                    acknowledged_at: None,
                    tasks: vec![task],
                }),
            }
        }
        // A department whose tasks all just joined is asked to acknowledge;
        // every joined task whose clock runs is chased when late.
        for dept in &self.departments {
            if dept.tasks.iter().all(|task| added.contains(&task.key))
                && let Some(due) = dept.tasks.iter().map(|task| task.ack_due).min()
            {
                self.timers.push(MTimer {
                    target: Target {
                        dept: dept.id,
                        task: None,
                    },
                    stage: 0,
                    due,
                });
            }
            for task in dept.tasks.iter().filter(|task| added.contains(&task.key)) {
                if let Some(due) = task.due {
                    self.timers.push(MTimer {
                        target: Target {
                            dept: dept.id,
                            task: Some(task.key),
                        },
                        stage: 0,
                        due,
                    });
                }
            }
        }
        snapshots
    }

    fn ensure_open(&self) -> Result<(), Refusal> {
        match self.resolved_at {
            Some(at) => Err(Refusal::Resolved { at }),
            None => Ok(()),
        }
    }

    fn acknowledge_dept(&mut self, id: &'static str, now: i64) -> Result<(), Refusal> {
        self.ensure_open()?;
        let Some(dept) = self.departments.iter_mut().find(|d| d.id == id) else {
            return Err(Refusal::DepartmentNotFound(id));
        };
        if dept.acknowledged_at.is_none() {
            dept.acknowledged_at = Some(now);
            self.record(now, format!("department_acknowledged {id}"));
        }
        Ok(())
    }

    fn acknowledge_task(&mut self, key: &'static str, now: i64) -> Result<(), Refusal> {
        self.ensure_open()?;
        let task = self.task_mut(key);
        if task.status != TaskStatus::Open {
            return Ok(());
        }
        task.status = TaskStatus::Acknowledged;
        task.acknowledged_at = Some(now);
        self.record(now, format!("task_acknowledged {key}"));
        self.acknowledge_dept(item(key).dept(), now)
    }

    fn refuse_closed(&self, key: &'static str) -> Result<(), Refusal> {
        self.ensure_open()?;
        match self.task(key).map(|task| task.status) {
            Some(status) if is_closed(status) => Err(Refusal::TaskClosed { task: key, status }),
            _ => Ok(()),
        }
    }

    fn complete(&mut self, key: &'static str, now: i64) -> Result<(), Refusal> {
        self.refuse_closed(key)?;
        let waiting_on: Vec<&'static str> = self
            .task(key)
            .map(|task| task.depends_on.clone())
            .unwrap_or_default()
            .into_iter()
            .filter(|dep| !self.is_closed(dep))
            .collect();
        if !waiting_on.is_empty() {
            return Err(Refusal::DependenciesOpen {
                task: key,
                waiting_on,
            });
        }
        let task = self.task_mut(key);
        task.acknowledged_at.get_or_insert(now);
        self.close(key, TaskStatus::Done, "task_completed", now);
        Ok(())
    }

    fn skip(&mut self, key: &'static str, now: i64) -> Result<(), Refusal> {
        self.refuse_closed(key)?;
        self.close(key, TaskStatus::Skipped, "task_skipped", now);
        Ok(())
    }

    fn close(&mut self, key: &'static str, status: TaskStatus, kind: &str, now: i64) {
        let required_were_open = !self.open_required().is_empty();
        let task = self.task_mut(key);
        task.status = status;
        task.closed_at = Some(now);
        self.record(now, format!("{kind} {key}"));
        // Closing answers for the department; it cannot fail on an open incident.
        let _ = self.acknowledge_dept(item(key).dept(), now);
        let ready: Vec<&'static str> = self
            .tasks()
            .filter(|task| task.due.is_none() && !is_closed(task.status))
            .filter(|task| task.depends_on.iter().all(|dep| self.is_closed(dep)))
            .map(|task| task.key)
            .collect();
        for key in ready {
            let task = self.task_mut(key);
            let due = now + task.complete_within;
            task.due = Some(due);
            self.record(now, format!("task_unblocked {key} due{}", at(due)));
            self.timers.push(MTimer {
                target: Target {
                    dept: item(key).dept(),
                    task: Some(key),
                },
                stage: 0,
                due,
            });
        }
        if required_were_open && self.open_required().is_empty() {
            self.record(now, "ready_to_resolve".into());
        }
    }

    fn change_severity(&mut self, to: Severity, now: i64) -> Result<(), Refusal> {
        self.ensure_open()?;
        if to == self.severity {
            return Err(Refusal::SeverityUnchanged(to));
        }
        let from = std::mem::replace(&mut self.severity, to);
        self.record(now, format!("severity_changed {from}->{to}"));
        if to > from {
            let added = self.add_planned(to, now);
            if !added.is_empty() {
                self.record(now, format!("tasks_added [{}]", added.join("; ")));
            }
        }
        Ok(())
    }

    fn resolve(&mut self, force: bool, now: i64) -> Result<(), Refusal> {
        self.ensure_open()?;
        let open = self.open_required();
        if !open.is_empty() && !force {
            return Err(Refusal::RequiredTasksOpen(open));
        }
        self.resolved_at = Some(now);
        // Forcing only ever overrides something: with nothing open it is a
        // plain resolution.
        let forced = force && !open.is_empty();
        self.record(
            now,
            format!(
                "incident_resolved forced={forced} open=[{}]",
                open.join(",")
            ),
        );
        Ok(())
    }

    /// The state as [`state_of`] writes the stored incident.
    fn state(&self) -> Vec<String> {
        let mut lines = vec![format!(
            "{} {} resolved{}",
            self.scenario,
            self.severity,
            opt_at(self.resolved_at)
        )];
        for dept in &self.departments {
            lines.push(format!(
                "{} acknowledged{}",
                dept.id,
                opt_at(dept.acknowledged_at)
            ));
            for task in &dept.tasks {
                lines.push(format!(
                    "  {} {} ack{} due{} acknowledged{} closed{}",
                    task.key,
                    task.status,
                    at(task.ack_due),
                    opt_at(task.due),
                    opt_at(task.acknowledged_at),
                    opt_at(task.closed_at)
                ));
            }
        }
        lines
    }

    fn timer_lines(&self) -> Vec<String> {
        let mut lines: Vec<String> = self
            .timers
            .iter()
            .map(|timer| timer_line(timer.target.dept, timer.target.task, timer.stage, timer.due))
            .collect();
        lines.sort();
        lines
    }
}

fn timer_line(dept: &str, task: Option<&str>, stage: i64, due: i64) -> String {
    format!(
        "{dept} {} stage={stage} due{}",
        task.unwrap_or("-"),
        at(due)
    )
}

fn is_closed(status: TaskStatus) -> bool {
    matches!(status, TaskStatus::Done | TaskStatus::Skipped)
}

impl Model {
    fn target_ok(&self, incident: usize, task: Option<&str>) -> bool {
        self.incidents
            .get(incident)
            .is_some_and(|i| task.is_none_or(|key| i.task(key).is_some()))
    }

    fn apply(&mut self, step: &Step) -> Expect {
        let now = self.now;
        let done = |result: Result<(), Refusal>| match result {
            Ok(()) => Expect::Accepted,
            Err(refusal) => Expect::Refused(refusal),
        };
        match *step {
            Step::Trigger { scenario, severity } => {
                let mut incident = MIncident {
                    scenario,
                    severity,
                    resolved_at: None,
                    departments: Vec::new(),
                    timers: Vec::new(),
                    outbox: Vec::new(),
                    events: Vec::new(),
                };
                let tasks = incident.add_planned(severity, now);
                incident.record(
                    now,
                    format!("incident_opened {severity} [{}]", tasks.join("; ")),
                );
                self.incidents.push(incident);
                Expect::Accepted
            }
            Step::AckTask { incident, task } => {
                done(self.incidents[incident].acknowledge_task(task, now))
            }
            Step::AckDept { incident, dept } => {
                done(self.incidents[incident].acknowledge_dept(dept, now))
            }
            Step::Complete { incident, task } => done(self.incidents[incident].complete(task, now)),
            Step::Skip { incident, task } => done(self.incidents[incident].skip(task, now)),
            Step::CompleteElsewhere {
                incident,
                owner,
                task,
            } => done(
                self.incidents[incident]
                    .ensure_open()
                    .and(Err(Refusal::TaskNotFound { owner, task })),
            ),
            Step::ChangeSeverity { incident, to } => {
                done(self.incidents[incident].change_severity(to, now))
            }
            Step::Resolve { incident, force } => done(self.incidents[incident].resolve(force, now)),
            Step::Tick { minutes } => {
                self.now += minutes * 60;
                Expect::Handled(self.fire_timers())
            }
            Step::Deliver => self.deliver(),
        }
    }

    /// Every timer due fires once: cancelled if answered, else a chase and
    /// the next rung a full interval from now.
    fn fire_timers(&mut self) -> usize {
        let now = self.now;
        let mut handled = 0;
        for incident in &mut self.incidents {
            let mut pending = Vec::new();
            for timer in std::mem::take(&mut incident.timers) {
                if timer.due > now {
                    pending.push(timer);
                    continue;
                }
                handled += 1;
                if incident.answered(timer.target) {
                    continue;
                }
                let next = (timer.stage < 2).then(|| now + incident.interval(timer.target));
                let recipients = MIncident::recipients(timer.target.dept, timer.stage);
                incident.events.push(chased(
                    now,
                    timer.target,
                    timer.stage,
                    &recipients,
                    timer.due,
                    (now - timer.due) * 1000,
                    next,
                ));
                incident
                    .outbox
                    .extend(recipients.into_iter().map(|recipient| MChase {
                        target: timer.target,
                        stage: timer.stage,
                        recipient,
                    }));
                if let Some(due) = next {
                    pending.push(MTimer {
                        stage: timer.stage + 1,
                        due,
                        ..timer
                    });
                }
            }
            incident.timers = pending;
        }
        handled
    }

    /// Queued chases go out unless answered meanwhile. Subjects name the
    /// incident by its reference, which only the engine knows: `{ref}`.
    fn deliver(&mut self) -> Expect {
        let mut chases = Vec::new();
        let mut cancelled = 0;
        for (n, incident) in self.incidents.iter_mut().enumerate() {
            for chase in std::mem::take(&mut incident.outbox) {
                if incident.answered(chase.target) {
                    cancelled += 1;
                    continue;
                }
                let kind = if chase.stage == 0 {
                    "Reminder"
                } else {
                    "Escalation"
                };
                let what = match chase.target.task {
                    Some(key) => format!("{} is overdue", item(key).title),
                    None => format!("{} has not acknowledged", dept(chase.target.dept).name),
                };
                chases.push(format!(
                    "{} [{{ref{n}}}][{}] {kind}: {what}",
                    chase.recipient,
                    incident.severity.as_str().to_uppercase()
                ));
            }
        }
        chases.sort();
        Expect::Delivered { chases, cancelled }
    }
}

struct Reference;

impl ReferenceStateMachine for Reference {
    type State = Model;
    type Transition = Step;

    fn init_state() -> BoxedStrategy<Model> {
        Just(Model {
            now: 0,
            incidents: Vec::new(),
            expect: Expect::Accepted,
        })
        .boxed()
    }

    fn transitions(state: &Model) -> BoxedStrategy<Step> {
        let severity = || prop::sample::select(Severity::ALL.to_vec());
        let trigger = (
            prop::sample::select(SCENARIOS.iter().map(|(id, _)| *id).collect::<Vec<_>>()),
            severity(),
        )
            .prop_map(|(scenario, severity)| Step::Trigger { scenario, severity });
        let tick = (1..=40i64).prop_map(|minutes| Step::Tick { minutes });
        let mut choices: Vec<(u32, BoxedStrategy<Step>)> = Vec::new();
        if state.incidents.len() < MAX_INCIDENTS {
            let weight = if state.incidents.is_empty() { 12 } else { 1 };
            choices.push((weight, trigger.boxed()));
        }
        choices.push((4, tick.boxed()));
        choices.push((1, Just(Step::Deliver).boxed()));
        if !state.incidents.is_empty() {
            // Open incidents are where things happen: they count four times.
            let weight = |i: &MIncident| if i.resolved_at.is_none() { 4 } else { 1 };
            let incidents: Vec<usize> = state
                .incidents
                .iter()
                .enumerate()
                .flat_map(|(n, i)| std::iter::repeat_n(n, weight(i)))
                .collect();
            let tasks: Vec<(usize, &'static str)> = state
                .incidents
                .iter()
                .enumerate()
                .flat_map(|(n, i)| {
                    i.tasks()
                        .map(move |task| (n, task.key))
                        .flat_map(move |pair| std::iter::repeat_n(pair, weight(i)))
                })
                .collect();
            let task = || prop::sample::select(tasks.clone());
            let incident = || prop::sample::select(incidents.clone());
            let depts = DEPTS.iter().map(|d| d.id).collect::<Vec<_>>();
            choices.extend([
                (
                    3,
                    task()
                        .prop_map(|(incident, task)| Step::AckTask { incident, task })
                        .boxed(),
                ),
                (
                    2,
                    (incident(), prop::sample::select(depts))
                        .prop_map(|(incident, dept)| Step::AckDept { incident, dept })
                        .boxed(),
                ),
                (
                    6,
                    task()
                        .prop_map(|(incident, task)| Step::Complete { incident, task })
                        .boxed(),
                ),
                (
                    2,
                    task()
                        .prop_map(|(incident, task)| Step::Skip { incident, task })
                        .boxed(),
                ),
                (
                    2,
                    (incident(), severity())
                        .prop_map(|(incident, to)| Step::ChangeSeverity { incident, to })
                        .boxed(),
                ),
                (
                    2,
                    (incident(), prop::bool::weighted(0.3))
                        .prop_map(|(incident, force)| Step::Resolve { incident, force })
                        .boxed(),
                ),
            ]);
            if state.incidents.len() > 1 {
                let elsewhere = (incident(), task())
                    .prop_filter("another incident's task", |(incident, (owner, _))| {
                        incident != owner
                    })
                    .prop_map(|(incident, (owner, task))| Step::CompleteElsewhere {
                        incident,
                        owner,
                        task,
                    });
                choices.push((1, elsewhere.boxed()));
            }
        }
        prop::strategy::Union::new_weighted(choices).boxed()
    }

    /// Shrinking drops steps: what a step names must still exist.
    fn preconditions(state: &Model, step: &Step) -> bool {
        match *step {
            Step::Trigger { .. } => state.incidents.len() < MAX_INCIDENTS,
            Step::AckTask { incident, task }
            | Step::Complete { incident, task }
            | Step::Skip { incident, task } => state.target_ok(incident, Some(task)),
            Step::CompleteElsewhere {
                incident,
                owner,
                task,
            } => {
                incident != owner
                    && state.target_ok(incident, None)
                    && state.target_ok(owner, Some(task))
            }
            Step::AckDept { incident, .. }
            | Step::ChangeSeverity { incident, .. }
            | Step::Resolve { incident, .. } => state.target_ok(incident, None),
            Step::Tick { .. } | Step::Deliver => true,
        }
    }

    fn apply(mut state: Model, step: &Step) -> Model {
        state.expect = state.apply(step);
        state
    }
}

// ---------------------------------------------------------------------------
// The system under test: a server over a real database, on a clock the test
// moves, with no background workers (the test runs the chaser and delivery).

/// Which database a run uses, and what its cases counted.
trait Db: 'static {
    fn backend() -> Backend;
    fn run() -> &'static Run;
}

/// What a run counted.
struct Run {
    steps: AtomicUsize,
    /// Steps by kind and outcome, timers fired, mails delivered: what the
    /// cases exercised.
    tally: Mutex<BTreeMap<String, usize>>,
}

impl Run {
    const fn new() -> Run {
        Run {
            steps: AtomicUsize::new(0),
            tally: Mutex::new(BTreeMap::new()),
        }
    }

    fn count(&self, what: String, n: usize) {
        if let Ok(mut tally) = self.tally.lock() {
            *tally.entry(what).or_default() += n;
        }
    }
}

struct Sqlite;
struct Postgres;

impl Db for Sqlite {
    fn backend() -> Backend {
        Backend::Sqlite
    }
    fn run() -> &'static Run {
        static RUN: Run = Run::new();
        &RUN
    }
}

impl Db for Postgres {
    fn backend() -> Backend {
        Backend::postgres()
    }
    fn run() -> &'static Run {
        static RUN: Run = Run::new();
        &RUN
    }
}

struct Opened {
    id: Uuid,
    reference: String,
    tasks: HashMap<String, Uuid>,
}

/// One server over one database for a whole run, on the run's thread.
/// Cases do not start their own: on PostgreSQL a fresh database and server
/// cost about half a second (creating and migrating the database, and a
/// SCRAM handshake per connection, slow in a debug build), more than a whole
/// case's steps. Each case starts instead from a reset that purges
/// everything the previous one left: no incident, timer or message.
struct Server {
    app: TestApp,
    /// The app's delivery, one message at a time: each connection a
    /// concurrent pass would add costs a handshake too.
    delivery: Delivery,
    clock: Arc<ManualClock>,
    runtime: tokio::runtime::Runtime,
}

thread_local! {
    static SERVER: RefCell<Option<Server>> = const { RefCell::new(None) };
}

fn with_server<T>(act: impl FnOnce(&Server) -> T) -> T {
    SERVER.with(|server| {
        let server = server.borrow();
        act(server.as_ref().expect("the run started a server"))
    })
}

impl Server {
    fn start(backend: &Backend) -> Server {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let clock = ManualClock::starting_now();
        let app = runtime.block_on(async {
            let database = TestDatabase::create(backend).await;
            let playbooks = database.dir.path().join("playbooks");
            write_playbooks(&playbooks);
            let options = Options {
                clock: Some(Arc::clone(&clock)),
                playbooks,
                workers: 0,
                ..Options::default()
            };
            TestApp::spawn_with(database, options).await
        });
        Server {
            delivery: one_at_a_time(&app.delivery),
            app,
            clock,
            runtime,
        }
    }

    /// Resolves and purges what earlier cases left, through the engine's
    /// own retention, and starts a day later; returns the case's start
    /// and how many mails arrived before it.
    async fn reset(&self) -> (DateTime<Utc>, usize) {
        let engine = &self.app.engine;
        // A failed case never reached its teardown: its errors are its own.
        self.errors();
        let open = engine
            .incidents(IncidentFilter {
                status: Some(IncidentStatus::Open),
                limit: 200,
                ..IncidentFilter::default()
            })
            .await
            .expect("list open incidents");
        for incident in open.incidents {
            engine
                .resolve(
                    incident.id,
                    None,
                    Some(support::text("the case ended")),
                    &actor(),
                )
                .await
                .expect("resolve the last case's incident");
        }
        self.clock.advance(chrono::Duration::days(1));
        engine
            .purge(std::time::Duration::ZERO)
            .await
            .expect("purge the last case");
        let left = engine
            .incidents(IncidentFilter {
                limit: 1,
                ..IncidentFilter::default()
            })
            .await
            .expect("list incidents");
        assert!(
            left.incidents.is_empty(),
            "the last case's incidents are purged"
        );
        let pending = self.app.store.outbox_depth().await.expect("outbox");
        assert_eq!(pending, 0, "the last case's messages are purged");
        (engine.now(), self.app.smtp.received().len())
    }

    /// Errors the server logged since last asked.
    fn errors(&self) -> Vec<String> {
        self.app
            .errors
            .0
            .lock()
            .map(|mut errors| std::mem::take(&mut *errors))
            .unwrap_or_default()
    }

    /// Stops the server and drops its database; returns what it logged as
    /// errors since last asked.
    fn stop(self) -> Vec<String> {
        let errors = self.errors();
        drop(self.runtime.block_on(self.app.stop()));
        errors
    }
}

/// What a case knows of the server: its start, its incidents, the mails
/// that arrived before it.
struct Sut {
    t0: DateTime<Utc>,
    incidents: Vec<Opened>,
    mails_seen: usize,
    /// The incident the last step's engine call answered with.
    answer: Option<Incident>,
}

impl Sut {
    fn offset(&self, instant: DateTime<Utc>) -> String {
        let ms = (instant - self.t0).num_milliseconds();
        if ms % 1000 == 0 {
            at(ms / 1000)
        } else {
            format!("@{ms}ms")
        }
    }

    fn opt_offset(&self, instant: Option<DateTime<Utc>>) -> String {
        instant.map_or_else(|| "@-".into(), |instant| self.offset(instant))
    }

    fn json_offset(&self, value: &Value) -> String {
        match serde_json::from_value::<Option<DateTime<Utc>>>(value.clone()) {
            Ok(instant) => self.opt_offset(instant),
            Err(_) => format!("not-a-time:{value}"),
        }
    }

    fn task_id(&self, incident: usize, key: &str) -> (Uuid, Uuid) {
        let opened = &self.incidents[incident];
        (opened.id, opened.tasks[key])
    }
}

fn one_at_a_time(delivery: &Delivery) -> Delivery {
    Delivery {
        policy: RetryPolicy {
            concurrency: 1,
            ..delivery.policy.clone()
        },
        ..delivery.clone()
    }
}

struct Lifecycle<B>(PhantomData<B>);

fn actor() -> Actor {
    Actor::token("lifecycle")
}

impl<B: Db> StateMachineTest for Lifecycle<B> {
    type SystemUnderTest = Sut;
    type Reference = Reference;

    fn init_test(_: &Model) -> Sut {
        let (t0, mails_seen) = with_server(|server| server.runtime.block_on(server.reset()));
        Sut {
            t0,
            incidents: Vec::new(),
            mails_seen,
            answer: None,
        }
    }

    fn apply(mut sut: Sut, model: &Model, step: Step) -> Sut {
        B::run().steps.fetch_add(1, Ordering::Relaxed);
        tally(B::run(), &step, &model.expect);
        with_server(|server| {
            server
                .runtime
                .block_on(apply_step(&mut sut, server, model, &step));
        });
        sut
    }

    fn check_invariants(sut: &Sut, model: &Model) {
        with_server(|server| server.runtime.block_on(check(sut, server, model)));
    }

    fn teardown(_: Sut, _: Model) {
        let errors = with_server(Server::errors);
        assert!(errors.is_empty(), "the server logged errors: {errors:#?}");
    }
}

/// Counts a step by kind and by what the model says it must do.
fn tally(run: &Run, step: &Step, expect: &Expect) {
    let kind = format!("{step:?}");
    let kind = kind.split([' ', '{']).next().unwrap_or_default().to_owned();
    match expect {
        Expect::Accepted => run.count(format!("{kind}: accepted"), 1),
        Expect::Refused(refusal) => {
            let why = format!("{refusal:?}");
            let why = why.split([' ', '{', '(']).next().unwrap_or_default();
            run.count(format!("{kind}: refused, {why}"), 1);
        }
        Expect::Handled(timers) => {
            run.count(kind, 1);
            run.count("timers handled by the chaser".into(), *timers);
        }
        Expect::Delivered { chases, cancelled } => {
            run.count(kind, 1);
            run.count("chase mails delivered".into(), chases.len());
            run.count("chase mails cancelled as answered".into(), *cancelled);
        }
    }
}

/// Runs one step on the engine and checks its answer against the model's.
async fn apply_step(sut: &mut Sut, server: &Server, model: &Model, step: &Step) {
    let expect = &model.expect;
    let actor = actor();
    let engine = &server.app.engine;
    sut.answer = None;
    let result = match *step {
        Step::Trigger { scenario, severity } => {
            let trigger = Trigger {
                title: support::text(&format!("{scenario} drill")),
                scenario: scenario.into(),
                severity,
                summary: support::text("Raised by the lifecycle property test."),
                commander: None,
            };
            let opened = engine.open(trigger, &actor, None).await;
            let incident = opened.map(|opened| opened.incident);
            if let Ok(incident) = &incident {
                sut.incidents.push(Opened {
                    id: incident.id,
                    reference: incident.reference.clone(),
                    tasks: HashMap::new(),
                });
            }
            incident
        }
        Step::AckTask { incident, task } => {
            let (id, task) = sut.task_id(incident, task);
            engine.acknowledge_task(id, task, &actor).await
        }
        Step::AckDept { incident, dept } => {
            let id = sut.incidents[incident].id;
            engine.acknowledge_department(id, dept, &actor).await
        }
        Step::Complete { incident, task } => {
            let (id, task) = sut.task_id(incident, task);
            engine
                .complete_task(id, task, Some(support::text("done")), &actor)
                .await
        }
        Step::CompleteElsewhere {
            incident,
            owner,
            task,
        } => {
            let (id, (_, task)) = (sut.incidents[incident].id, sut.task_id(owner, task));
            engine.complete_task(id, task, None, &actor).await
        }
        Step::Skip { incident, task } => {
            let (id, task) = sut.task_id(incident, task);
            engine
                .skip_task(id, task, support::text("not needed this time"), &actor)
                .await
        }
        Step::ChangeSeverity { incident, to } => {
            let id = sut.incidents[incident].id;
            engine
                .change_severity(id, to, support::text("the situation moved"), &actor)
                .await
        }
        Step::Resolve { incident, force } => {
            let id = sut.incidents[incident].id;
            let reason = force.then(|| support::text("the commander ends it"));
            engine
                .resolve(id, Some(support::text("over")), reason, &actor)
                .await
        }
        Step::Tick { minutes } => {
            server.clock.advance(secs(minutes * 60));
            let handled = engine.chase(10_000).await.expect("the chaser runs");
            assert_eq!(
                Expect::Handled(handled),
                *expect,
                "{step:?}: timers handled"
            );
            return;
        }
        Step::Deliver => {
            deliver(sut, server, expect).await;
            return;
        }
    };
    match (result, expect) {
        (Ok(incident), Expect::Accepted) => {
            let n = sut
                .incidents
                .iter()
                .position(|opened| opened.id == incident.id)
                .expect("a known incident");
            sut.incidents[n].tasks = incident
                .tasks()
                .map(|task| (task.key.clone(), task.id))
                .collect();
            sut.answer = Some(incident);
        }
        (Err(EngineError::Refused(refusal)), Expect::Refused(expected)) => {
            assert_eq!(refusal, expected.to_domain(sut), "{step:?}: the refusal");
        }
        (result, expect) => {
            let answer = match result {
                Ok(_) => "accepted".to_owned(),
                Err(error) => format!("{error:?}"),
            };
            panic!("{step:?}: expected {expect:?}, the engine answered {answer}");
        }
    }
}

/// Delivers the whole outbox and checks which reminders and escalations
/// arrived: only those still unanswered at sending time.
async fn deliver(sut: &mut Sut, server: &Server, expect: &Expect) {
    let app = &server.app;
    let (mut sent, mut cancelled) = (0, 0);
    loop {
        let step = server.delivery.step().await.expect("delivery runs");
        assert_eq!(
            (step.failed, step.retrying),
            (0, 0),
            "delivery failed: {step:?}"
        );
        if step.claimed == 0 {
            break;
        }
        sent += step.sent;
        cancelled += step.cancelled;
    }
    assert_eq!(app.store.outbox_depth().await.expect("depth"), 0);
    let mails = app.smtp.received();
    assert_eq!(
        mails.len(),
        sut.mails_seen + sent,
        "every sent mail arrived"
    );
    let mut chases: Vec<String> = Vec::new();
    for mail in &mails[sut.mails_seen..] {
        let subject = mail.subject().expect("a subject");
        if !(subject.contains("] Reminder: ") || subject.contains("] Escalation: ")) {
            continue;
        }
        let [recipient] = mail.rcpt_to.as_slice() else {
            panic!("one recipient per mail: {:?}", mail.rcpt_to);
        };
        // Straight from the store: what a chase is about is still unanswered.
        let opened = sut
            .incidents
            .iter()
            .find(|opened| subject.starts_with(&format!("[{}]", opened.reference)))
            .unwrap_or_else(|| panic!("a chase for no known incident: {subject}"));
        let incident = app.engine.incident(opened.id).await.expect("incident");
        assert!(
            incident.resolved_at.is_none(),
            "chased after resolution: {subject}"
        );
        for dept in &incident.departments {
            if subject.ends_with(&format!("{} has not acknowledged", dept.name)) {
                assert!(
                    dept.acknowledged_at.is_none(),
                    "chased after acknowledgement: {subject}"
                );
            }
            for task in &dept.tasks {
                if subject.ends_with(&format!("{} is overdue", task.title)) {
                    assert!(!task.status.is_closed(), "chased after closing: {subject}");
                }
            }
        }
        chases.push(format!("{recipient} {subject}"));
    }
    chases.sort();
    sut.mails_seen = mails.len();
    let Expect::Delivered {
        chases: expected,
        cancelled: expected_cancelled,
    } = expect
    else {
        panic!("delivery expected {expect:?}");
    };
    let mut expected: Vec<String> = expected
        .iter()
        .map(|line| {
            sut.incidents
                .iter()
                .enumerate()
                .fold(line.clone(), |line, (n, opened)| {
                    line.replace(&format!("{{ref{n}}}"), &opened.reference)
                })
        })
        .collect();
    expected.sort();
    same(&chases, &expected, "reminders and escalations delivered");
    assert_eq!(
        cancelled, *expected_cancelled,
        "answered chases cancelled at sending"
    );
}

// ---------------------------------------------------------------------------
// After every step, for every incident.

async fn check(sut: &Sut, server: &Server, model: &Model) {
    assert_eq!(
        sut.incidents.len(),
        model.incidents.len(),
        "incidents opened"
    );
    let engine = &server.app.engine;
    for (n, (opened, expected)) in sut.incidents.iter().zip(&model.incidents).enumerate() {
        let incident = engine.incident(opened.id).await.expect("incident");
        let timeline = engine.timeline(opened.id).await.expect("timeline");
        let timers = server.app.store.timers(opened.id).await.expect("timers");
        let context = format!("incident {n} ({})", incident.reference);
        if let Some(answer) = sut.answer.as_ref().filter(|answer| answer.id == opened.id) {
            assert_eq!(
                &incident, answer,
                "{context}: the store kept what the engine answered"
            );
        }

        // The chain verifies (as `Engine::verify` does it, on the events
        // read here), up to the head the store reports.
        let head = tocsin::timeline::verify_chain(opened.id, timeline.iter().cloned());
        let stored_head = server.app.store.chain_head(opened.id).await.expect("head");
        let last = timeline.last().map(ChainHead::from);
        assert_eq!(
            head.as_ref().ok(),
            last.as_ref(),
            "{context}: chain verifies: {head:?}"
        );
        assert_eq!(Some(stored_head), last, "{context}: chain head");

        // The store agrees with the model.
        same(
            &state_of(sut, &incident),
            &expected.state(),
            &format!("{context}: state"),
        );
        let events: Vec<String> = timeline
            .iter()
            .filter(|event| !event.kind.starts_with("message_"))
            .map(|event| describe(sut, &incident, event))
            .collect();
        same(
            &canonical(events),
            &canonical(expected.events.clone()),
            &format!("{context}: timeline"),
        );
        let key = |id: Option<Uuid>| id.and_then(|id| incident.task(id)).map(|t| t.key.as_str());
        let mut timers: Vec<String> = timers
            .iter()
            .map(|timer| {
                let due = (timer.due_at - sut.t0).num_seconds();
                timer_line(&timer.department, key(timer.task_id), timer.stage, due)
            })
            .collect();
        timers.sort();
        same(
            &timers,
            &expected.timer_lines(),
            &format!("{context}: pending timers"),
        );

        // And the invariants hold on what the store says alone.
        invariants(&incident, &timeline, &context);
    }
}

/// Fails with both lists side by side, one entry a line, if they differ.
fn same(engine: &[String], model: &[String], what: &str) {
    if engine == model {
        return;
    }
    let mut report = format!("{what}: the engine and the model disagree\n");
    for n in 0..engine.len().max(model.len()) {
        match (engine.get(n), model.get(n)) {
            (Some(line), Some(expected)) if line == expected => {
                let _ = writeln!(report, "          {line}");
            }
            (line, expected) => {
                if let Some(expected) = expected {
                    let _ = writeln!(report, "  model:  {expected}");
                }
                if let Some(line) = line {
                    let _ = writeln!(report, "  engine: {line}");
                }
            }
        }
    }
    panic!("{report}");
}

/// Runs of chases are written in the order timers were picked, which ties
/// on equal due times leave open: compare those runs as sets.
fn canonical(mut events: Vec<String>) -> Vec<String> {
    let chase = |e: &String| e.contains(" chased ");
    let mut start = 0;
    while start < events.len() {
        let end = start + events[start..].iter().take_while(|e| chase(e)).count();
        events[start..end].sort();
        start = end + 1;
    }
    events
}

fn state_of(sut: &Sut, incident: &Incident) -> Vec<String> {
    let mut lines = vec![format!(
        "{} {} resolved{}",
        incident.scenario,
        incident.severity,
        sut.opt_offset(incident.resolved_at)
    )];
    assert_eq!(
        incident.status == IncidentStatus::Resolved,
        incident.resolved_at.is_some(),
        "status and resolution time agree"
    );
    for dept in &incident.departments {
        lines.push(format!(
            "{} acknowledged{}",
            dept.id,
            sut.opt_offset(dept.acknowledged_at)
        ));
        for task in &dept.tasks {
            lines.push(format!(
                "  {} {} ack{} due{} acknowledged{} closed{}",
                task.key,
                task.status,
                sut.offset(task.ack_due_at),
                sut.opt_offset(task.due_at),
                sut.opt_offset(task.acknowledged_at),
                sut.opt_offset(task.closed_at)
            ));
        }
    }
    lines
}

/// A stored event as the model writes it.
fn describe(sut: &Sut, incident: &Incident, event: &ChainedEvent) -> String {
    let data = &event.data;
    let text = |field: &str| data[field].as_str().unwrap_or("?").to_owned();
    let keys = |ids: &Value| -> String {
        let ids: Vec<String> = ids
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .map(|id| {
                id.as_str()
                    .and_then(|id| id.parse().ok())
                    .and_then(|id| incident.task(id))
                    .map_or_else(|| format!("?{id}"), |task| task.key.clone())
            })
            .collect();
        ids.join(",")
    };
    let snapshots = |tasks: &Value| -> String {
        let lines: Vec<String> = tasks
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .map(|task| {
                format!(
                    "{} required={} after=[{}] ack{} due{}",
                    task["key"].as_str().unwrap_or("?"),
                    task["required"],
                    keys(&task["depends_on"]),
                    sut.json_offset(&task["ack_due_at"]),
                    sut.json_offset(&task["due_at"])
                )
            })
            .collect();
        lines.join("; ")
    };
    let what = match event.kind.as_str() {
        "incident_opened" => format!(
            "incident_opened {} [{}]",
            text("severity"),
            snapshots(&data["tasks"])
        ),
        "department_acknowledged" => format!("department_acknowledged {}", text("department")),
        "task_acknowledged" | "task_completed" | "task_skipped" => {
            format!("{} {}", event.kind, text("task"))
        }
        "task_unblocked" => format!(
            "task_unblocked {} due{}",
            text("task"),
            sut.json_offset(&data["due_at"])
        ),
        "ready_to_resolve" => "ready_to_resolve".into(),
        "severity_changed" => format!("severity_changed {}->{}", text("from"), text("to")),
        "tasks_added" => format!("tasks_added [{}]", snapshots(&data["tasks"])),
        "incident_resolved" => {
            let open: Vec<&str> = strings(&data["open_required"]);
            format!(
                "incident_resolved forced={} open=[{}]",
                data["forced"],
                open.join(",")
            )
        }
        "chased" => {
            let recipients: Vec<&str> = strings(&data["recipients"]);
            format!(
                "chased {} {} {} stage={} to=[{}] due{} late={}ms next{}",
                text("department"),
                data["task"].as_str().unwrap_or("-"),
                text("purpose"),
                data["stage"],
                recipients.join(","),
                sut.json_offset(&data["due_at"]),
                data["late_by_ms"],
                sut.json_offset(&data["next_at"])
            )
        }
        other => format!("{other} {data}"),
    };
    format!("{} {} {what}", sut.offset(event.at), event.actor)
}

/// What must hold whatever the steps were, read from the store alone.
/// The strings of a JSON array; none for anything else.
fn strings(value: &Value) -> Vec<&str> {
    value
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter_map(Value::as_str)
        .collect()
}

fn invariants(incident: &Incident, timeline: &[ChainedEvent], context: &str) {
    let of_kind = |kind: &'static str| timeline.iter().filter(move |e| e.kind == kind);
    let about_task = |kind: &'static str, id: Uuid| -> Vec<&ChainedEvent> {
        let id = id.to_string();
        of_kind(kind)
            .filter(|e| e.data["task_id"].as_str() == Some(id.as_str()))
            .collect()
    };
    let closing = |id: Uuid| -> Option<&ChainedEvent> {
        let mut closing = about_task("task_completed", id);
        closing.extend(about_task("task_skipped", id));
        closing.first().copied()
    };
    let dept_ack = |dept: &str| -> Vec<&ChainedEvent> {
        of_kind("department_acknowledged")
            .filter(|e| e.data["department"].as_str() == Some(dept))
            .collect()
    };

    assert_eq!(
        timeline.first().map(|e| e.kind.as_str()),
        Some("incident_opened"),
        "{context}: the timeline starts with the opening"
    );
    assert_eq!(
        of_kind("incident_opened").count(),
        1,
        "{context}: opened once"
    );
    let resolutions: Vec<&ChainedEvent> = of_kind("incident_resolved").collect();
    assert_eq!(
        resolutions.iter().map(|e| e.at).collect::<Vec<_>>(),
        Vec::from_iter(incident.resolved_at),
        "{context}: one resolution event exactly when resolved"
    );

    // Severity: each change is one event, from the level the last one left.
    let mut severity = timeline[0].data["severity"].clone();
    for change in of_kind("severity_changed") {
        assert_eq!(change.data["from"], severity, "{context}: severity chain");
        assert_ne!(
            change.data["from"], change.data["to"],
            "{context}: a real change"
        );
        severity = change.data["to"].clone();
    }
    assert_eq!(
        severity.as_str(),
        Some(incident.severity.as_str()),
        "{context}: severity as the timeline says"
    );

    // Every task entered once, on the opening or a severity change.
    let snapshots: Vec<&Value> = of_kind("incident_opened")
        .chain(of_kind("tasks_added"))
        .flat_map(|e| {
            e.data["tasks"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
        })
        .collect();

    for dept in &incident.departments {
        let acks = dept_ack(&dept.id);
        assert_eq!(
            acks.iter().map(|e| e.at).collect::<Vec<_>>(),
            Vec::from_iter(dept.acknowledged_at),
            "{context}: one acknowledgement event exactly when {} acknowledged",
            dept.id
        );
    }

    for task in incident.tasks() {
        let key = &task.key;
        let id = task.id.to_string();
        let entered: Vec<&&Value> = snapshots
            .iter()
            .filter(|s| s["task_id"].as_str() == Some(id.as_str()))
            .collect();
        assert_eq!(entered.len(), 1, "{context}: {key} entered once");
        // Its clock started once: when it entered, or when unblocked.
        let time = |value: &Value| serde_json::from_value::<DateTime<Utc>>(value.clone()).ok();
        let mut started: Vec<Option<DateTime<Utc>>> = entered
            .iter()
            .filter(|s| !s["due_at"].is_null())
            .map(|s| time(&s["due_at"]))
            .collect();
        started.extend(
            about_task("task_unblocked", task.id)
                .iter()
                .map(|e| time(&e.data["due_at"])),
        );
        assert_eq!(
            started,
            Vec::from_iter(task.due_at.map(Some)),
            "{context}: {key}'s clock started once, as stored"
        );

        let completed = about_task("task_completed", task.id);
        let skipped = about_task("task_skipped", task.id);
        let acknowledged = about_task("task_acknowledged", task.id);
        assert_eq!(
            (completed.len(), skipped.len()),
            (
                usize::from(task.status == TaskStatus::Done),
                usize::from(task.status == TaskStatus::Skipped)
            ),
            "{context}: one closing event exactly when {key} is {}",
            task.status
        );
        assert_eq!(
            closing(task.id).map(|e| e.at),
            task.closed_at,
            "{context}: {key} closed then"
        );
        assert!(
            acknowledged.len() <= 1,
            "{context}: {key} acknowledged once at most"
        );
        if task.status == TaskStatus::Acknowledged {
            assert_eq!(
                acknowledged.len(),
                1,
                "{context}: {key}'s acknowledgement recorded"
            );
        }
        if let Some(ack) = acknowledged.first() {
            assert_eq!(
                Some(ack.at),
                task.acknowledged_at,
                "{context}: {key} acknowledged then"
            );
        }

        // No task done before its dependencies.
        if let Some(done) = completed.first() {
            for dep in &task.depends_on {
                let dep = incident
                    .task(*dep)
                    .expect("dependencies are tasks of the incident");
                let dep_closed = closing(dep.id)
                    .unwrap_or_else(|| panic!("{context}: {key} done while {} is open", dep.key));
                assert!(
                    dep_closed.seq < done.seq,
                    "{context}: {key} done before {} closed",
                    dep.key
                );
            }
        }
    }

    // No chase after its answer: it comes later in the chain than the chase.
    let resolved_seq = resolutions.first().map(|e| e.seq);
    for chase in of_kind("chased") {
        let answer = match chase.data["task_id"].as_str() {
            Some(id) => id.parse().ok().and_then(&closing).map(|e| e.seq),
            None => dept_ack(chase.data["department"].as_str().unwrap_or_default())
                .first()
                .map(|e| e.seq),
        };
        for answered in [answer, resolved_seq].into_iter().flatten() {
            assert!(
                answered > chase.seq,
                "{context}: chased after the answer: {}",
                chase.data
            );
        }
    }

    // Required tasks open means not resolved, unless forced with a reason.
    if let Some(resolution) = resolutions.first() {
        let open: Vec<&str> = incident
            .tasks()
            .filter(|task| task.required && !task.status.is_closed())
            .map(|task| task.key.as_str())
            .collect();
        let named: Vec<&str> = resolution.data["open_required"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert_eq!(
            named, open,
            "{context}: the resolution names what was left open"
        );
        assert_eq!(
            resolution.data["forced"],
            !open.is_empty(),
            "{context}: forced exactly when something required was open"
        );
        if !open.is_empty() {
            assert!(
                resolution.data["reason"]
                    .as_str()
                    .is_some_and(|reason| !reason.trim().is_empty()),
                "{context}: forced without a reason"
            );
        }
    }
}

// ---------------------------------------------------------------------------

fn config() -> Config {
    let mut config = Config {
        source_file: Some(file!()),
        ..Config::default()
    };
    if config.failure_persistence.is_some() {
        // Failing seeds go to tests/lifecycle.proptest-regressions, replayed first.
        config.failure_persistence = Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        )));
    }
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = CASES;
    }
    if std::env::var_os("PROPTEST_MAX_SHRINK_ITERS").is_none() {
        // Each iteration replays a whole case against the server.
        config.max_shrink_iters = 512;
    }
    config
}

fn max_steps() -> usize {
    std::env::var("TOCSIN_LIFECYCLE_STEPS")
        .ok()
        .and_then(|steps| steps.parse().ok())
        .unwrap_or(STEPS)
}

fn run<B: Db>(name: &str) {
    let config = config();
    let started = Instant::now();
    let server = Server::start(&B::backend());
    SERVER.with(|slot| *slot.borrow_mut() = Some(server));
    let cases = AtomicUsize::new(0);
    let mut runner = TestRunner::new(config.clone());
    let result = runner.run(
        &Reference::sequential_strategy(1..=max_steps()),
        |(initial, steps, seen)| {
            cases.fetch_add(1, Ordering::Relaxed);
            Lifecycle::<B>::test_sequential(config.clone(), initial, steps, seen);
            Ok(())
        },
    );
    let errors = SERVER
        .with(|slot| slot.borrow_mut().take())
        .map(Server::stop)
        .unwrap_or_default();
    eprintln!(
        "lifecycle on {name}: {} cases, {} steps, {:.1?}",
        cases.load(Ordering::Relaxed),
        B::run().steps.load(Ordering::Relaxed),
        started.elapsed()
    );
    if let Ok(tally) = B::run().tally.lock() {
        for (what, n) in tally.iter() {
            eprintln!("  {what}: {n}");
        }
    }
    if let Err(failure) = result {
        panic!("{failure}\n{runner}");
    }
    assert!(errors.is_empty(), "the server logged errors: {errors:#?}");
}

/// The same property on each backend, named as `on_each_backend!` names tests.
mod random_lifecycles {
    use super::*;

    #[test]
    fn sqlite() {
        run::<Sqlite>("SQLite");
    }

    #[test]
    #[cfg_attr(not(tocsin_postgres_tests), ignore = "needs TOCSIN_TEST_POSTGRES_URL")]
    fn postgres() {
        run::<Postgres>("PostgreSQL");
    }
}
