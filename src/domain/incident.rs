//! The incident aggregate and the rules for changing it.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::event::TaskSnapshot;
use super::plan::{Plan, PlannedDepartment};
use super::task::TaskClock;
use super::{Actor, DomainError, EventData, Line, Prose, Severity, Task, TaskStatus};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum IncidentStatus {
    Open,
    Resolved,
}

impl IncidentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            IncidentStatus::Open => "open",
            IncidentStatus::Resolved => "resolved",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [Self::Open, Self::Resolved]
            .into_iter()
            .find(|status| status.as_str() == value)
    }
}

impl fmt::Display for IncidentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Person {
    pub name: String,
    pub email: String,
}

/// Who leads the response: named at trigger time, or the organisation's default.
pub type Commander = Person;

/// A department engaged in an incident, with its people as they were when
/// it joined (later playbook edits do not rewrite who was asked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Department {
    pub id: String,
    pub name: String,
    pub head: Person,
    pub deputies: Vec<Person>,
    /// When the department was asked: at opening, or when severity rose.
    pub joined_at: DateTime<Utc>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub acknowledged_by: Option<String>,
    pub tasks: Vec<Task>,
}

impl Department {
    fn from_plan(planned: &PlannedDepartment, now: DateTime<Utc>) -> Department {
        Department {
            joined_at: now,
            id: planned.id.clone(),
            name: planned.name.clone(),
            head: planned.head.clone(),
            deputies: planned.deputies.clone(),
            acknowledged_at: None,
            acknowledged_by: None,
            tasks: Vec::new(),
        }
    }

    /// When its last task closed, if all have.
    pub fn completed_at(&self) -> Option<DateTime<Utc>> {
        if self.tasks.iter().all(|task| task.status.is_closed()) {
            self.tasks.iter().filter_map(|task| task.closed_at).max()
        } else {
            None
        }
    }

    /// The department's answer is due by its earliest item's deadline.
    pub fn ack_due_at(&self) -> Option<DateTime<Utc>> {
        self.tasks.iter().map(|task| task.ack_due_at).min()
    }

    pub fn progress(&self, now: DateTime<Utc>) -> Progress {
        Progress::of(self.tasks.iter().map(Task::clock), now)
    }

    pub fn status(&self) -> &'static str {
        department_status(self.tasks.iter().map(Task::clock), self.acknowledged_at)
    }
}

/// `done` once every task is closed, `acknowledged` once the department
/// answered, `open` until then.
pub fn department_status(
    mut tasks: impl Iterator<Item = TaskClock>,
    acknowledged_at: Option<DateTime<Utc>>,
) -> &'static str {
    if tasks.all(|task| task.status.is_closed()) {
        "done"
    } else if acknowledged_at.is_some() {
        "acknowledged"
    } else {
        "open"
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incident {
    pub id: Uuid,
    /// Short and human: what people say on the phone and see in subjects.
    pub reference: String,
    pub title: String,
    pub scenario: String,
    pub severity: Severity,
    pub summary: String,
    pub status: IncidentStatus,
    pub commander: Commander,
    /// Who opened it, as the timeline names actors (`token:ci`,
    /// `user:ann@example.com`): not necessarily the commander. Empty for
    /// incidents opened before it was kept.
    pub opened_by: String,
    pub opened_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
    /// Held for legal reasons: never purged by retention while held.
    pub legal_hold: bool,
    pub departments: Vec<Department>,
    /// Statutory deadlines legal armed, and the facts they run from.
    pub regulatory: super::regulatory::Regulatory,
    /// Public statements, drafted to published, in the order drafted.
    pub statements: Vec<super::statement::Statement>,
    /// Statements and updates sent to audiences, in the order sent.
    pub briefings: Vec<super::briefing::Briefing>,
}

/// Which incidents a list shows: newest first, `limit` of them opened
/// before the incident `before` (a page's last), of a status, a severity.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IncidentFilter {
    pub status: Option<IncidentStatus>,
    pub severity: Option<Severity>,
    pub before: Option<Uuid>,
    pub limit: u32,
}

/// How far a department has got, for lists and dashboards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    pub tasks: usize,
    /// Done or skipped.
    pub closed: usize,
    /// Late to be acknowledged or done.
    pub late: usize,
}

impl Progress {
    pub fn of(tasks: impl Iterator<Item = TaskClock>, now: DateTime<Utc>) -> Progress {
        tasks.fold(
            Progress {
                tasks: 0,
                closed: 0,
                late: 0,
            },
            |progress, task| Progress {
                tasks: progress.tasks + 1,
                closed: progress.closed + usize::from(task.status.is_closed()),
                late: progress.late + usize::from(task.late(now)),
            },
        )
    }
}

/// What a list shows of an incident: its own fields and how far each
/// department has got, read without the checklists' text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentSummary {
    pub id: Uuid,
    pub reference: String,
    pub title: String,
    pub scenario: String,
    pub severity: Severity,
    pub status: IncidentStatus,
    pub commander: Commander,
    pub opened_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub legal_hold: bool,
    pub departments: Vec<DepartmentSummary>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DepartmentSummary {
    pub id: String,
    pub name: String,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub tasks: Vec<TaskClock>,
}

impl DepartmentSummary {
    pub fn progress(&self, now: DateTime<Utc>) -> Progress {
        Progress::of(self.tasks.iter().copied(), now)
    }

    pub fn status(&self) -> &'static str {
        department_status(self.tasks.iter().copied(), self.acknowledged_at)
    }
}

impl IncidentSummary {
    /// How many required tasks are neither done nor skipped.
    pub fn open_required(&self) -> usize {
        self.departments
            .iter()
            .flat_map(|dept| &dept.tasks)
            .filter(|task| task.required && !task.status.is_closed())
            .count()
    }
}

/// What the trigger asked for, already validated; the scenario and severity
/// come with the plan the playbooks gave for them.
#[derive(Debug, Clone)]
pub struct NewIncident {
    pub title: Line,
    pub summary: Prose,
    pub commander: Commander,
    /// Who triggered it, as the timeline names actors.
    pub opened_by: String,
}

/// A client's promise that a retried trigger is the same request.
#[derive(Debug, Clone)]
pub struct IdempotencyClaim {
    pub token_id: Uuid,
    pub key: String,
    /// A digest of the request body: the same key with another body is a
    /// client bug, not a retry.
    pub fingerprint: String,
}

impl Incident {
    /// Opens an incident with the checklist the playbooks give for its
    /// scenario and severity.
    pub fn open(new: NewIncident, plan: &Plan, now: DateTime<Utc>) -> (Incident, EventData) {
        let id = Uuid::now_v7();
        let mut incident = Incident {
            id,
            reference: reference_for(id),
            title: new.title.into_string(),
            scenario: plan.scenario.clone(),
            severity: plan.severity,
            summary: new.summary.into_string(),
            status: IncidentStatus::Open,
            commander: new.commander,
            opened_by: new.opened_by,
            opened_at: now,
            updated_at: now,
            resolved_at: None,
            legal_hold: false,
            regulatory: Default::default(),
            departments: Vec::new(),
            statements: Vec::new(),
            briefings: Vec::new(),
        };
        let tasks = incident.add_planned_tasks(plan, now);
        let event = EventData::IncidentOpened {
            title: incident.title.clone(),
            scenario: incident.scenario.clone(),
            severity: incident.severity,
            summary: incident.summary.clone(),
            commander: format!("{} <{}>", incident.commander.name, incident.commander.email),
            tasks,
        };
        (incident, event)
    }

    pub fn tasks(&self) -> impl Iterator<Item = &Task> {
        self.departments.iter().flat_map(|dept| dept.tasks.iter())
    }

    pub fn task(&self, id: Uuid) -> Option<&Task> {
        self.tasks().find(|task| task.id == id)
    }

    fn task_mut(&mut self, id: Uuid) -> Result<&mut Task, DomainError> {
        self.departments
            .iter_mut()
            .flat_map(|dept| dept.tasks.iter_mut())
            .find(|task| task.id == id)
            .ok_or(DomainError::TaskNotFound(id))
    }

    fn department_mut(&mut self, id: &str) -> Result<&mut Department, DomainError> {
        self.departments
            .iter_mut()
            .find(|dept| dept.id == id)
            .ok_or_else(|| DomainError::DepartmentNotFound(id.to_owned()))
    }

    fn ensure_open(&self) -> Result<(), DomainError> {
        match self.resolved_at {
            Some(at) => Err(DomainError::IncidentResolved(at)),
            None => Ok(()),
        }
    }

    /// The tasks `task` waits on that are not closed yet.
    pub fn waiting_on<'a>(&'a self, task: &'a Task) -> impl Iterator<Item = &'a Task> + 'a {
        task.depends_on
            .iter()
            .filter_map(|id| self.task(*id))
            .filter(|dep| !dep.status.is_closed())
    }

    /// Keys of the tasks `task` waits on that are not closed yet.
    fn open_dependencies(&self, task: &Task) -> Vec<String> {
        self.waiting_on(task).map(|dep| dep.key.clone()).collect()
    }

    /// A department answering as a whole: we know its head has seen the incident.
    pub fn acknowledge_department(
        &mut self,
        department: &str,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<Vec<EventData>, DomainError> {
        self.ensure_open()?;
        let dept = self.department_mut(department)?;
        if dept.acknowledged_at.is_some() {
            return Ok(Vec::new());
        }
        dept.acknowledged_at = Some(now);
        dept.acknowledged_by = Some(actor.to_string());
        self.updated_at = now;
        Ok(vec![EventData::DepartmentAcknowledged {
            department: department.to_owned(),
            via: actor.via.clone(),
        }])
    }

    /// Acknowledging is idempotent: a second acknowledgement changes nothing
    /// and records nothing, so a retried request is harmless. It also
    /// acknowledges the task's department if nobody had yet.
    pub fn acknowledge_task(
        &mut self,
        task_id: Uuid,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<Vec<EventData>, DomainError> {
        self.ensure_open()?;
        let task = self.task_mut(task_id)?;
        if task.status != TaskStatus::Open {
            return Ok(Vec::new());
        }
        task.status = TaskStatus::Acknowledged;
        task.acknowledged_at = Some(now);
        task.acknowledged_by = Some(actor.to_string());
        let (key, department) = (task.key.clone(), task.department.clone());
        let mut events = self.acknowledge_department(&department, actor, now)?;
        events.insert(
            0,
            EventData::TaskAcknowledged {
                task_id,
                task: key,
                via: actor.via.clone(),
            },
        );
        self.updated_at = now;
        Ok(events)
    }

    pub fn complete_task(
        &mut self,
        task_id: Uuid,
        note: Option<Prose>,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<Vec<EventData>, DomainError> {
        self.ensure_open()?;
        let note = note.map(Prose::into_string);
        let task = self
            .task(task_id)
            .ok_or(DomainError::TaskNotFound(task_id))?;
        if task.status.is_closed() {
            return Err(DomainError::TaskClosed {
                task: task.key.clone(),
                status: task.status,
            });
        }
        let waiting_on = self.open_dependencies(task);
        if !waiting_on.is_empty() {
            return Err(DomainError::DependenciesOpen {
                task: task.key.clone(),
                waiting_on,
            });
        }
        let task = self.task_mut(task_id)?;
        if task.acknowledged_at.is_none() {
            // Finishing an item implies having seen it.
            task.acknowledged_at = Some(now);
            task.acknowledged_by = Some(actor.to_string());
        }
        let event = EventData::TaskCompleted {
            task_id,
            task: task.key.clone(),
            note: note.clone(),
            via: actor.via.clone(),
        };
        self.close_task(task_id, TaskStatus::Done, note, actor, now, event)
    }

    /// Skipping needs a reason, required task or not: the timeline must say
    /// why something was not done.
    pub fn skip_task(
        &mut self,
        task_id: Uuid,
        reason: Prose,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<Vec<EventData>, DomainError> {
        self.ensure_open()?;
        let reason = reason.into_string();
        let task = self
            .task(task_id)
            .ok_or(DomainError::TaskNotFound(task_id))?;
        if task.status.is_closed() {
            return Err(DomainError::TaskClosed {
                task: task.key.clone(),
                status: task.status,
            });
        }
        let event = EventData::TaskSkipped {
            task_id,
            task: task.key.clone(),
            reason: reason.clone(),
            via: actor.via.clone(),
        };
        self.close_task(
            task_id,
            TaskStatus::Skipped,
            Some(reason),
            actor,
            now,
            event,
        )
    }

    fn close_task(
        &mut self,
        task_id: Uuid,
        status: TaskStatus,
        note: Option<String>,
        actor: &Actor,
        now: DateTime<Utc>,
        event: EventData,
    ) -> Result<Vec<EventData>, DomainError> {
        let required_were_open = !self.open_required_tasks().is_empty();
        let task = self.task_mut(task_id)?;
        task.status = status;
        task.closed_at = Some(now);
        task.closed_by = Some(actor.to_string());
        task.note = note;
        let department = task.department.clone();
        self.updated_at = now;
        let mut events = vec![event];
        // Closing an item answers for its department too: stop chasing it.
        events.extend(self.acknowledge_department(&department, actor, now)?);
        events.extend(self.start_unblocked_clocks(now));
        if required_were_open && self.open_required_tasks().is_empty() {
            // The commander hears once: everything required is done.
            events.push(EventData::ReadyToResolve);
        }
        Ok(events)
    }

    /// Starts the completion clock of every waiting task whose dependencies
    /// are now all closed.
    fn start_unblocked_clocks(&mut self, now: DateTime<Utc>) -> Vec<EventData> {
        let ready: Vec<Uuid> = self
            .tasks()
            .filter(|task| task.due_at.is_none() && !task.status.is_closed())
            .filter(|task| self.open_dependencies(task).is_empty())
            .map(|task| task.id)
            .collect();
        let mut events = Vec::new();
        for id in ready {
            if let Ok(task) = self.task_mut(id) {
                let due_at = super::task::deadline(now, task.complete_within);
                task.due_at = Some(due_at);
                events.push(EventData::TaskUnblocked {
                    task_id: id,
                    task: task.key.clone(),
                    due_at,
                });
            }
        }
        events
    }

    pub fn add_note(&mut self, text: Prose, now: DateTime<Utc>) -> Vec<EventData> {
        self.updated_at = now;
        vec![EventData::NoteAdded {
            text: text.into_string(),
        }]
    }

    /// Raising severity engages the items that apply from the new level up
    /// (from `plan`, the playbooks at the new severity; none if the scenario
    /// has since left the playbooks). Lowering it keeps every task: work
    /// already asked for is never silently withdrawn.
    pub fn change_severity(
        &mut self,
        to: Severity,
        reason: Prose,
        plan: Option<&Plan>,
        now: DateTime<Utc>,
    ) -> Result<Vec<EventData>, DomainError> {
        self.ensure_open()?;
        if to == self.severity {
            return Err(DomainError::SeverityUnchanged(to));
        }
        let from = std::mem::replace(&mut self.severity, to);
        self.updated_at = now;
        let mut events = vec![EventData::SeverityChanged {
            from,
            to,
            reason: reason.into_string(),
        }];
        if let Some(plan) = plan.filter(|_| to > from) {
            let added = self.add_planned_tasks(plan, now);
            if !added.is_empty() {
                events.push(EventData::TasksAdded { tasks: added });
            }
        }
        Ok(events)
    }

    /// Adds every task of `plan` the incident does not have yet, resolving
    /// dependencies by key against all of the incident's tasks.
    fn add_planned_tasks(&mut self, plan: &Plan, now: DateTime<Utc>) -> Vec<TaskSnapshot> {
        let mut ids: std::collections::HashMap<String, Uuid> = self
            .tasks()
            .map(|task| (task.key.clone(), task.id))
            .collect();
        let new_tasks: Vec<_> = plan
            .departments
            .iter()
            .flat_map(|dept| dept.tasks.iter().map(move |task| (dept, task)))
            .filter(|(_, task)| !ids.contains_key(&task.key()))
            .collect();
        for (_, task) in &new_tasks {
            ids.insert(task.key(), Uuid::now_v7());
        }
        let mut added = Vec::new();
        for (planned_dept, planned) in new_tasks {
            let depends_on: Vec<Uuid> = planned
                .depends_on
                .iter()
                .filter_map(|key| ids.get(key).copied())
                .collect();
            let waiting = planned
                .depends_on
                .iter()
                .any(|key| self.is_open_or_new(key, &ids));
            let mut task = Task::from_plan(planned, depends_on, now, waiting);
            task.id = ids[&planned.key()];
            added.push(TaskSnapshot::from(&task));
            match self
                .departments
                .iter_mut()
                .find(|d| d.id == planned_dept.id)
            {
                Some(dept) => dept.tasks.push(task),
                None => {
                    let mut dept = Department::from_plan(planned_dept, now);
                    dept.tasks.push(task);
                    self.departments.push(dept);
                }
            }
        }
        added
    }

    /// A dependency blocks unless it is an existing, closed task.
    fn is_open_or_new(&self, key: &str, ids: &std::collections::HashMap<String, Uuid>) -> bool {
        match ids.get(key).and_then(|id| self.task(*id)) {
            Some(existing) => !existing.status.is_closed(),
            None => ids.contains_key(key),
        }
    }

    /// Legal places or lifts a hold, resolved incident or not.
    pub fn set_legal_hold(
        &mut self,
        hold: bool,
        reason: Prose,
        now: DateTime<Utc>,
    ) -> Result<Vec<EventData>, DomainError> {
        if self.legal_hold == hold {
            return Err(DomainError::LegalHoldUnchanged(hold));
        }
        let reason = reason.into_string();
        self.legal_hold = hold;
        self.updated_at = now;
        Ok(vec![if hold {
            EventData::LegalHoldPlaced { reason }
        } else {
            EventData::LegalHoldReleased { reason }
        }])
    }

    /// A correction never edits: it is a new event pointing at the old one.
    /// `last_seq` is the timeline's current length.
    pub fn correct(
        &mut self,
        corrects_seq: i64,
        text: Prose,
        last_seq: i64,
        now: DateTime<Utc>,
    ) -> Result<Vec<EventData>, DomainError> {
        if !(1..=last_seq).contains(&corrects_seq) {
            return Err(DomainError::NoSuchEvent(corrects_seq));
        }
        self.updated_at = now;
        Ok(vec![EventData::Correction {
            corrects_seq,
            text: text.into_string(),
        }])
    }

    /// Keys of required tasks neither done nor skipped.
    pub fn open_required_tasks(&self) -> Vec<String> {
        self.tasks()
            .filter(|task| task.required && !task.status.is_closed())
            .map(|task| task.key.clone())
            .collect()
    }

    /// Resolution waits for every required task, unless forced with a
    /// reason, in which case the open ones are named on the timeline. With
    /// nothing required open there is nothing to force: the resolution is a
    /// plain one, whatever the caller offered.
    pub fn resolve(
        &mut self,
        summary: Option<Prose>,
        force_reason: Option<Prose>,
        now: DateTime<Utc>,
    ) -> Result<Vec<EventData>, DomainError> {
        self.ensure_open()?;
        let open = self.open_required_tasks();
        let reason = match (open.is_empty(), force_reason) {
            (true, _) => None,
            (false, Some(reason)) => Some(reason.into_string()),
            (false, None) => return Err(DomainError::RequiredTasksOpen { open }),
        };
        self.status = IncidentStatus::Resolved;
        self.resolved_at = Some(now);
        self.updated_at = now;
        Ok(vec![EventData::IncidentResolved {
            summary: summary.map(Prose::into_string),
            forced: reason.is_some(),
            reason,
            open_required: open,
        }])
    }
}

/// `INC-` and six hex digits from the random part of the id: enough to tell
/// incidents apart in conversation; the id stays the real key.
fn reference_for(id: Uuid) -> String {
    let hex = id.simple().to_string().to_uppercase();
    format!("INC-{}", &hex[hex.len() - 6..])
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use chrono::TimeZone;

    use super::*;
    use crate::domain::PlannedTask;

    fn contact(email: &str) -> Person {
        Person {
            name: email.to_owned(),
            email: email.to_owned(),
        }
    }

    fn planned(key: &str, required: bool, depends_on: &[&str]) -> PlannedTask {
        let (department, item) = key.split_once('/').unwrap();
        PlannedTask {
            department: department.to_owned(),
            item: item.to_owned(),
            title: item.to_owned(),
            description: String::new(),
            required,
            ack_within: Duration::from_secs(600),
            complete_within: Duration::from_secs(3600),
            depends_on: depends_on.iter().map(|key| (*key).to_owned()).collect(),
        }
    }

    /// PR drafts, legal reviews the draft, PR publishes what legal approved.
    fn plan(tasks: Vec<PlannedTask>) -> Plan {
        let mut departments: Vec<PlannedDepartment> = Vec::new();
        for task in tasks {
            match departments.iter_mut().find(|d| d.id == task.department) {
                Some(dept) => dept.tasks.push(task),
                None => departments.push(PlannedDepartment {
                    id: task.department.clone(),
                    name: task.department.clone(),
                    head: contact(&format!("{}-head@example.com", task.department)),
                    deputies: vec![contact(&format!("{}-deputy@example.com", task.department))],
                    tasks: vec![task],
                }),
            }
        }
        Plan {
            scenario: "storm".into(),
            severity: Severity::Medium,
            departments,
        }
    }

    fn statement_plan() -> Plan {
        plan(vec![
            planned("pr/draft", true, &[]),
            planned("pr/publish", true, &["pr/draft", "legal/review"]),
            planned("legal/review", true, &["pr/draft"]),
            planned("pr/monitor", false, &[]),
        ])
    }

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 26, 9, 0, 0).unwrap()
    }

    fn open(plan: &Plan) -> Incident {
        let new = NewIncident {
            title: text("Storm"),
            summary: text("Hostile posts"),
            commander: Person {
                name: "Camille".into(),
                email: "social-lead@example.com".into(),
            },
            opened_by: "token:test".into(),
        };
        Incident::open(new, plan, t0()).0
    }

    fn id(incident: &Incident, key: &str) -> Uuid {
        incident.tasks().find(|t| t.key == key).unwrap().id
    }

    fn actor() -> Actor {
        Actor::token("pr-head")
    }

    fn text<const MAX: usize>(value: &str) -> crate::domain::Text<MAX> {
        crate::domain::Text::parse(value).unwrap()
    }

    #[test]
    fn clocks_start_at_opening_except_for_waiting_tasks() {
        let incident = open(&statement_plan());
        let draft = incident.task(id(&incident, "pr/draft")).unwrap();
        assert_eq!(draft.ack_due_at, t0() + chrono::Duration::minutes(10));
        assert_eq!(draft.due_at, Some(t0() + chrono::Duration::hours(1)));
        let publish = incident.task(id(&incident, "pr/publish")).unwrap();
        assert_eq!(publish.due_at, None);
        assert_eq!(
            publish.depends_on,
            vec![id(&incident, "pr/draft"), id(&incident, "legal/review")]
        );
    }

    #[test]
    fn a_task_is_completed_only_after_its_dependencies() {
        let mut incident = open(&statement_plan());
        let publish = id(&incident, "pr/publish");
        let refused = incident.complete_task(publish, None, &actor(), t0());
        assert_eq!(
            refused,
            Err(DomainError::DependenciesOpen {
                task: "pr/publish".into(),
                waiting_on: vec!["pr/draft".into(), "legal/review".into()],
            })
        );

        let later = t0() + chrono::Duration::minutes(30);
        let events = incident
            .complete_task(id(&incident, "pr/draft"), None, &actor(), later)
            .unwrap();
        // Review can start now; publishing still waits on the review.
        assert!(matches!(&events[0], EventData::TaskCompleted { task, .. } if task == "pr/draft"));
        assert!(
            matches!(&events[1], EventData::DepartmentAcknowledged { department, .. } if department == "pr"),
            "closing an item answers for its department"
        );
        assert!(
            matches!(&events[2], EventData::TaskUnblocked { task, due_at, .. }
            if task == "legal/review" && *due_at == later + chrono::Duration::hours(1))
        );
        assert_eq!(events.len(), 3);

        let review = id(&incident, "legal/review");
        incident
            .skip_task(review, text("reviewed by phone"), &actor(), later)
            .unwrap();
        assert!(
            incident.task(publish).unwrap().due_at.is_some(),
            "a skip unblocks too"
        );
        incident
            .complete_task(publish, None, &actor(), later)
            .unwrap();
        assert_eq!(incident.task(publish).unwrap().status, TaskStatus::Done);
    }

    #[test]
    fn a_second_acknowledgement_changes_nothing() {
        let mut incident = open(&statement_plan());
        let draft = id(&incident, "pr/draft");
        let first = incident.acknowledge_task(draft, &actor(), t0()).unwrap();
        assert_eq!(first.len(), 2, "the task, and its department with it");
        let before = incident.clone();
        let second = incident
            .acknowledge_task(
                draft,
                &Actor::token("someone-else"),
                t0() + chrono::Duration::minutes(1),
            )
            .unwrap();
        assert!(second.is_empty());
        assert_eq!(incident, before);
    }

    #[test]
    fn closed_tasks_stay_closed() {
        let mut incident = open(&statement_plan());
        let draft = id(&incident, "pr/draft");
        incident
            .complete_task(draft, Some(text("v1")), &actor(), t0())
            .unwrap();
        assert!(matches!(
            incident.skip_task(draft, text("why"), &actor(), t0()),
            Err(DomainError::TaskClosed {
                status: TaskStatus::Done,
                ..
            })
        ));
        assert!(incident.complete_task(draft, None, &actor(), t0()).is_err());
        assert_eq!(incident.task(draft).unwrap().note.as_deref(), Some("v1"));
    }

    #[test]
    fn resolution_waits_for_required_tasks_only() {
        let mut incident = open(&statement_plan());
        assert!(matches!(
            incident.resolve(None, None, t0()),
            Err(DomainError::RequiredTasksOpen { .. })
        ));
        for key in ["pr/draft", "legal/review", "pr/publish"] {
            let task = id(&incident, key);
            incident.complete_task(task, None, &actor(), t0()).unwrap();
        }
        // pr/monitor is optional and still open.
        incident.resolve(Some(text("Over")), None, t0()).unwrap();
        assert_eq!(incident.status, IncidentStatus::Resolved);
        assert_eq!(
            incident.add_note(text("late"), t0()).len(),
            1,
            "notes are still welcome"
        );
        assert!(matches!(
            incident.acknowledge_task(id(&incident, "pr/monitor"), &actor(), t0()),
            Err(DomainError::IncidentResolved(_))
        ));
    }

    #[test]
    fn with_nothing_required_open_there_is_nothing_to_force() {
        let mut incident = open(&plan(vec![planned("pr/draft", true, &[])]));
        let draft = id(&incident, "pr/draft");
        incident.complete_task(draft, None, &actor(), t0()).unwrap();
        let events = incident.resolve(None, Some(text("habit")), t0()).unwrap();
        assert!(
            matches!(&events[0], EventData::IncidentResolved { forced: false, reason: None, open_required, .. }
            if open_required.is_empty()),
            "{events:?}"
        );
    }

    #[test]
    fn forcing_resolution_names_what_was_left_open() {
        let mut incident = open(&statement_plan());
        let events = incident
            .resolve(None, Some(text("false alarm")), t0())
            .unwrap();
        assert!(
            matches!(&events[0], EventData::IncidentResolved { forced: true, open_required, .. }
            if open_required == &["pr/draft", "pr/publish", "legal/review"])
        );
    }

    #[test]
    fn raising_severity_adds_new_items_wired_to_existing_ones() {
        let mut incident = open(&plan(vec![planned("pr/draft", true, &[])]));
        let draft = id(&incident, "pr/draft");
        incident.complete_task(draft, None, &actor(), t0()).unwrap();

        let critical = plan(vec![
            planned("pr/draft", true, &[]),
            planned("hr/brief-staff", true, &["pr/draft"]),
            planned("hr/lock-accounts", true, &["hr/brief-staff"]),
        ]);
        let later = t0() + chrono::Duration::hours(2);
        let events = incident
            .change_severity(Severity::Critical, text("press"), Some(&critical), later)
            .unwrap();
        assert!(matches!(&events[1], EventData::TasksAdded { tasks } if tasks.len() == 2));
        assert_eq!(incident.departments.len(), 2);
        let brief = incident.task(id(&incident, "hr/brief-staff")).unwrap();
        assert_eq!(brief.depends_on, vec![draft]);
        assert_eq!(
            brief.due_at,
            Some(later + chrono::Duration::hours(1)),
            "its dependency is done"
        );
        let lock = incident.task(id(&incident, "hr/lock-accounts")).unwrap();
        assert_eq!(lock.due_at, None, "waits on a task added with it");
        assert_eq!(
            incident.task(draft).unwrap().status,
            TaskStatus::Done,
            "untouched"
        );

        let events = incident
            .change_severity(Severity::Low, text("calmer"), Some(&critical), later)
            .unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(incident.tasks().count(), 3, "lowering withdraws nothing");
        assert_eq!(
            incident.change_severity(Severity::Low, text("again"), None, later),
            Err(DomainError::SeverityUnchanged(Severity::Low))
        );
    }

    #[test]
    fn progress_counts_closed_and_late_items_and_a_summary_agrees() {
        let opened = Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap();
        let at = |minutes| opened + chrono::Duration::minutes(minutes);
        let clock = |status, required, ack_due, due: Option<i64>| TaskClock {
            status,
            required,
            ack_due_at: at(ack_due),
            due_at: due.map(at),
        };
        let tasks = [
            // Unanswered past its ten minutes.
            clock(TaskStatus::Open, true, 10, Some(60)),
            // Answered, past its hour.
            clock(TaskStatus::Acknowledged, true, 10, Some(30)),
            // Done late: closed, not late.
            clock(TaskStatus::Done, true, 10, Some(30)),
            // Waiting on another: no completion clock yet, answered.
            clock(TaskStatus::Acknowledged, false, 10, None),
            clock(TaskStatus::Skipped, false, 10, Some(60)),
        ];
        let now = at(45);
        assert_eq!(
            Progress::of(tasks.into_iter(), now),
            Progress {
                tasks: 5,
                closed: 2,
                late: 2
            }
        );
        let summary = DepartmentSummary {
            id: "pr".into(),
            name: "PR".into(),
            acknowledged_at: Some(at(5)),
            tasks: tasks.to_vec(),
        };
        assert_eq!(summary.progress(now), Progress::of(tasks.into_iter(), now));
        assert_eq!(summary.status(), "acknowledged");
        let done = DepartmentSummary {
            tasks: tasks[2..3].to_vec(),
            acknowledged_at: None,
            ..summary
        };
        assert_eq!(done.status(), "done");
    }
}
