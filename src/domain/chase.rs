//! Chasing: who is reminded, then escalated to, when an answer is late.
//!
//! A department that has not acknowledged by its earliest item's deadline
//! is chased, and so is every item not done by its due time. Each chase
//! climbs a ladder, one step per interval: the head is reminded, then the
//! deputies, then the incident's commander. Chasing stops the moment the
//! answer comes.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::regulatory::schedule;
use super::{Event, EventData, Incident};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    /// The department has not acknowledged the incident.
    Acknowledge,
    /// The task is not done.
    Complete,
    /// A regulatory report is not filed.
    Report,
    /// A statement awaits the department's approval.
    Approve,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Acknowledge => "acknowledge",
            Purpose::Complete => "complete",
            Purpose::Report => "report",
            Purpose::Approve => "approve",
        }
    }

    pub fn parse(value: &str) -> Option<Purpose> {
        [
            Purpose::Acknowledge,
            Purpose::Complete,
            Purpose::Report,
            Purpose::Approve,
        ]
        .into_iter()
        .find(|purpose| purpose.as_str() == value)
    }
}

/// A rung of the ladder. Stored and sent as its stage number (0, 1, 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rung {
    Head,
    Deputies,
    Commander,
}

impl Rung {
    /// Stages past the last rung are the last rung.
    pub fn of(stage: i64) -> Rung {
        match stage {
            ..=0 => Rung::Head,
            1 => Rung::Deputies,
            _ => Rung::Commander,
        }
    }

    /// What reaching this rung does, for people.
    pub fn action(self) -> &'static str {
        match self {
            Rung::Head => "remind the head",
            Rung::Deputies => "escalate to the deputies",
            Rung::Commander => "escalate to the commander",
        }
    }

    /// The same, done.
    pub fn done(self) -> &'static str {
        match self {
            Rung::Head => "reminded the head",
            Rung::Deputies => "escalated to the deputies",
            Rung::Commander => "escalated to the commander",
        }
    }

    /// What the message reaching this rung is.
    pub fn kind(self) -> &'static str {
        match self {
            Rung::Head => "Reminder",
            Rung::Deputies | Rung::Commander => "Escalation",
        }
    }
}

/// The last rung: the commander.
pub const LAST_STAGE: i64 = 2;

/// A timer to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTimer {
    pub id: Uuid,
    pub department: String,
    pub task_id: Option<Uuid>,
    pub purpose: Purpose,
    pub due_at: DateTime<Utc>,
    pub clock: Option<ClockRef>,
    pub statement: Option<StatementRef>,
}

/// The statement version an approval timer chases: an edit and a new
/// submission make another version, chased by other timers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatementRef {
    pub id: Uuid,
    pub version: u32,
}

/// The regulatory deadline a timer chases: `regime/step`, and the deadline
/// as it was when the timer was set (a later claim that moves it stops this
/// timer and sets another).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClockRef {
    pub regime: String,
    pub step: String,
    pub deadline: DateTime<Utc>,
}

impl ClockRef {
    /// `regime/step`, as stored and shown.
    pub fn key(&self) -> String {
        format!("{}/{}", self.regime, self.step)
    }

    /// From its stored key and deadline.
    pub fn parse(key: &str, deadline: DateTime<Utc>) -> Option<ClockRef> {
        let (regime, step) = key.split_once('/')?;
        Some(ClockRef {
            regime: regime.to_owned(),
            step: step.to_owned(),
            deadline,
        })
    }
}

/// A timer that fell due, as the store hands it over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueTimer {
    pub id: Uuid,
    pub incident_id: Uuid,
    pub department: String,
    pub task_id: Option<Uuid>,
    pub purpose: Purpose,
    pub stage: i64,
    pub due_at: DateTime<Utc>,
    pub version: i64,
    pub clock: Option<ClockRef>,
    pub statement: Option<StatementRef>,
}

/// What to do with a timer that fell due.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// The answer came (or the incident closed): stop chasing.
    Cancel,
    /// Record `events` (a chase, and a missed deadline with the last one);
    /// climb to the next step at `next_at`, if any.
    Chase {
        events: Vec<EventData>,
        next_at: Option<DateTime<Utc>>,
    },
}

fn timer(
    department: &str,
    task_id: Option<Uuid>,
    purpose: Purpose,
    due_at: DateTime<Utc>,
) -> NewTimer {
    NewTimer {
        id: Uuid::now_v7(),
        department: department.to_owned(),
        task_id,
        purpose,
        due_at,
        clock: None,
        statement: None,
    }
}

/// The timers `events` call for: a department joining gets an
/// acknowledgement timer, a task whose clock starts gets a completion timer.
pub fn timers_for(incident: &Incident, events: &[EventData]) -> Vec<NewTimer> {
    let mut timers = Vec::new();
    for event in events {
        match event {
            EventData::IncidentOpened { tasks, .. } | EventData::TasksAdded { tasks } => {
                let ids: Vec<Uuid> = tasks.iter().map(|task| task.task_id).collect();
                timers.extend(joined(incident, &ids));
            }
            EventData::ClockStarted {
                regime,
                step,
                due_at,
                ..
            } => timers.extend(clock_timer(incident, regime, step, *due_at)),
            EventData::StatementSubmitted {
                statement_id,
                version,
                approvers,
                due_at,
                ..
            } => timers.extend(approvers.iter().map(|department| NewTimer {
                statement: Some(StatementRef {
                    id: *statement_id,
                    version: *version,
                }),
                ..timer(department, None, Purpose::Approve, *due_at)
            })),
            EventData::TaskUnblocked {
                task_id, due_at, ..
            } => {
                if let Some(task) = incident.task(*task_id) {
                    timers.push(timer(
                        &task.department,
                        Some(*task_id),
                        Purpose::Complete,
                        *due_at,
                    ));
                }
            }
            _ => {}
        }
    }
    timers
}

/// Timers for tasks that just entered the incident, and for departments
/// that entered with them.
fn joined(incident: &Incident, task_ids: &[Uuid]) -> Vec<NewTimer> {
    let mut timers = Vec::new();
    for dept in &incident.departments {
        let joined_now = dept.tasks.iter().all(|task| task_ids.contains(&task.id));
        if joined_now && let Some(due) = dept.ack_due_at() {
            timers.push(timer(&dept.id, None, Purpose::Acknowledge, due));
        }
        for task in dept.tasks.iter().filter(|task| task_ids.contains(&task.id)) {
            if let Some(due) = task.due_at {
                timers.push(timer(&dept.id, Some(task.id), Purpose::Complete, due));
            }
        }
    }
    timers
}

/// The timer chasing a regulatory step whose deadline is now `due_at`:
/// from the step's first chase, which may already be past (it then fires at
/// once, as one catch-up message).
fn clock_timer(
    incident: &Incident,
    regime: &str,
    step: &str,
    due_at: DateTime<Utc>,
) -> Option<NewTimer> {
    let (state, rule, step_state) = incident.armed_step(regime, step)?;
    if !step_state.is_pending() {
        return None;
    }
    let (first, _) = *schedule(rule, due_at).first()?;
    Some(NewTimer {
        id: Uuid::now_v7(),
        department: state.rule.department.clone(),
        task_id: None,
        purpose: Purpose::Report,
        due_at: first,
        clock: Some(ClockRef {
            regime: regime.to_owned(),
            step: step.to_owned(),
            deadline: due_at,
        }),
        statement: None,
    })
}

/// Whether what a timer chases has been answered. A regulatory step is
/// answered once filed, when its regime is no longer armed, or when its
/// deadline moved (another timer chases the new one); resolving the
/// incident does not answer it: the law's clock does not stop there. Nor
/// does it answer an approval request: a statement may still go out after.
pub fn answered(
    incident: &Incident,
    department: &str,
    task_id: Option<Uuid>,
    purpose: Purpose,
    clock: Option<&ClockRef>,
    statement: Option<StatementRef>,
) -> bool {
    if let Some(asked) = statement {
        return incident
            .statement(asked.id)
            .is_none_or(|statement| !statement.awaits(department, asked.version));
    }
    if let Some(clock) = clock {
        return incident
            .armed_step(&clock.regime, &clock.step)
            .is_none_or(|(_, _, step)| !step.is_pending() || step.due_at != Some(clock.deadline));
    }
    if incident.resolved_at.is_some() {
        return true;
    }
    match (purpose, task_id) {
        (Purpose::Complete, Some(task_id)) => incident
            .task(task_id)
            .is_none_or(|task| task.status.is_closed()),
        _ => incident
            .departments
            .iter()
            .find(|dept| dept.id == department)
            .is_none_or(|dept| dept.acknowledged_at.is_some()),
    }
}

/// The rung `stage` reaches: the head, the deputies, the commander.
pub fn recipients(incident: &Incident, department: &str, stage: i64) -> Vec<String> {
    rung_recipients(incident, department, None, stage)
}

/// The rung `stage` reaches for a timer: an approval climbs the approver
/// department's people as they were when the statement was submitted.
pub fn rung_recipients(
    incident: &Incident,
    department: &str,
    statement: Option<StatementRef>,
    stage: i64,
) -> Vec<String> {
    if let Some(approver) = statement
        .and_then(|asked| incident.statement(asked.id))
        .and_then(|statement| statement.approver(department))
    {
        return match Rung::of(stage) {
            Rung::Head => vec![approver.head.email.clone()],
            Rung::Deputies => approver.deputies.iter().map(|p| p.email.clone()).collect(),
            Rung::Commander => vec![incident.commander.email.clone()],
        };
    }
    let Some(dept) = incident
        .departments
        .iter()
        .find(|dept| dept.id == department)
    else {
        return Vec::new();
    };
    match Rung::of(stage) {
        Rung::Head => vec![dept.head.email.clone()],
        Rung::Deputies => dept
            .deputies
            .iter()
            .map(|deputy| deputy.email.clone())
            .collect(),
        Rung::Commander => vec![incident.commander.email.clone()],
    }
}

/// One rung's wait: the time the playbook allows to answer, so a 15-minute
/// item climbs in 15-minute steps.
fn interval(incident: &Incident, timer: &DueTimer) -> Duration {
    if let Some(submission) = timer
        .statement
        .and_then(|asked| incident.statement(asked.id))
        .and_then(|statement| statement.submission.as_ref())
    {
        return Duration::seconds(submission.within_secs.max(1));
    }
    let tasks = incident
        .tasks()
        .filter(|task| task.department == timer.department);
    let step = match timer.task_id {
        Some(id) => incident.task(id).map(|task| task.ack_within),
        None => tasks.map(|task| task.ack_within).min(),
    };
    step.unwrap_or(Duration::minutes(15))
        .max(Duration::seconds(1))
}

/// Decides what a due timer does now. After downtime a timer fires once,
/// late (and says by how much), and the next rung waits a full interval
/// from now: people are not sent a burst of catch-up escalations.
pub fn decide(incident: &Incident, timer: &DueTimer, now: DateTime<Utc>) -> Decision {
    if answered(
        incident,
        &timer.department,
        timer.task_id,
        timer.purpose,
        timer.clock.as_ref(),
        timer.statement,
    ) {
        return Decision::Cancel;
    }
    if let Some(clock) = &timer.clock {
        return decide_clock(incident, timer, clock, now);
    }
    // A rung beyond the calendar is never reached.
    let next_at = (timer.stage < LAST_STAGE)
        .then(|| now.checked_add_signed(interval(incident, timer)))
        .flatten();
    Decision::Chase {
        events: vec![EventData::Chased {
            department: timer.department.clone(),
            task_id: timer.task_id,
            task: timer
                .task_id
                .and_then(|id| incident.task(id))
                .map(|task| task.key.clone()),
            purpose: timer.purpose,
            stage: timer.stage,
            recipients: rung_recipients(incident, &timer.department, timer.statement, timer.stage),
            due_at: timer.due_at,
            late_by_ms: (now - timer.due_at).num_milliseconds().max(0),
            next_at,
            clock: None,
            statement: timer.statement,
        }],
        next_at,
    }
}

/// A regulatory step's chase: the latest point of its schedule that is due
/// (after downtime, the points missed meanwhile are not each sent), and at
/// the deadline, the commander and a missed deadline on the chain.
fn decide_clock(
    incident: &Incident,
    timer: &DueTimer,
    clock: &ClockRef,
    now: DateTime<Utc>,
) -> Decision {
    let Some((state, rule, _)) = incident.armed_step(&clock.regime, &clock.step) else {
        return Decision::Cancel;
    };
    let points = schedule(rule, clock.deadline);
    let from = usize::try_from(timer.stage).unwrap_or(0);
    let Some(index) = (from..points.len())
        .take_while(|index| index == &from || points[*index].0 <= now)
        .last()
    else {
        return Decision::Cancel;
    };
    let (due_at, rung) = points[index];
    let contacts = &state.contacts;
    let mut recipients: Vec<String> = match rung {
        Rung::Head => std::iter::once(&contacts.head)
            .chain(contacts.dpo.as_ref())
            .map(|person| person.email.clone())
            .collect(),
        Rung::Deputies => contacts.deputies.iter().map(|p| p.email.clone()).collect(),
        Rung::Commander => vec![incident.commander.email.clone()],
    };
    recipients.dedup();
    let next_at = points.get(index + 1).map(|(at, _)| *at);
    let mut events = vec![EventData::Chased {
        department: state.rule.department.clone(),
        task_id: None,
        task: None,
        purpose: Purpose::Report,
        stage: rung as i64,
        recipients,
        due_at,
        late_by_ms: (now - due_at).num_milliseconds().max(0),
        next_at,
        clock: Some(clock.key()),
        statement: None,
    }];
    if rung == Rung::Commander {
        events.push(EventData::DeadlineMissed {
            regime: clock.regime.clone(),
            step: clock.step.clone(),
            due_at: clock.deadline,
        });
    }
    Decision::Chase { events, next_at }
}

/// One rung reached, as a `chased` event recorded it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ChaseStep {
    #[serde(skip)]
    pub at: DateTime<Utc>,
    pub department: String,
    pub task_id: Option<Uuid>,
    pub stage: i64,
    pub recipients: Vec<String>,
    /// How long after its due time the step went out.
    pub late_by_ms: i64,
    /// `regime/step` for a regulatory deadline's chase.
    #[serde(default)]
    pub clock: Option<String>,
    /// The statement version whose approval was chased.
    #[serde(default)]
    pub statement: Option<StatementRef>,
}

impl ChaseStep {
    /// The step a `chased` event records; None for any other event, or one
    /// whose data does not read as a chase.
    pub fn from_event(event: &Event) -> Option<ChaseStep> {
        if event.kind != "chased" {
            return None;
        }
        let step: ChaseStep = serde_json::from_value(event.data.clone()).ok()?;
        Some(ChaseStep {
            at: event.at,
            ..step
        })
    }

    pub fn rung(&self) -> Rung {
        Rung::of(self.stage)
    }
}

/// The next rung a pending timer will reach, and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NextStep {
    pub at: DateTime<Utc>,
    pub stage: i64,
}

impl NextStep {
    pub fn rung(&self) -> Rung {
        Rung::of(self.stage)
    }
}

/// An incident's chasing as people read it, for a department's answer or a
/// task: who was chased so far, and what comes next while it is unanswered.
/// The one read model behind the API's `chase` and the console's lines.
#[derive(Debug, Clone, Default)]
pub struct ChaseBoard {
    steps: Vec<ChaseStep>,
    next: Vec<(Target, NextStep)>,
}

/// What a pending timer chases: a department's answer, a task, or a
/// regulatory step (`regime/step`).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Target {
    department: String,
    task_id: Option<Uuid>,
    clock: Option<String>,
    statement: Option<Uuid>,
}

/// What a chase step or a pending timer is about, as board queries see it.
#[derive(Clone, Copy)]
struct Key<'a> {
    department: &'a str,
    task_id: Option<Uuid>,
    clock: Option<&'a str>,
    statement: Option<Uuid>,
}

/// What the board says of one department or task.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Chase<'a> {
    pub history: Vec<&'a ChaseStep>,
    /// None once answered (or resolved): a timer still pending then stops
    /// when it falls due, and nobody is chased.
    pub next: Option<NextStep>,
}

impl ChaseBoard {
    /// From the incident's `chased` events and its pending timers.
    pub fn new(incident: &Incident, events: &[Event], timers: &[DueTimer]) -> ChaseBoard {
        ChaseBoard {
            steps: events.iter().filter_map(ChaseStep::from_event).collect(),
            next: timers
                .iter()
                .filter_map(|timer| {
                    let clock = timer.clock.as_ref();
                    if answered(
                        incident,
                        &timer.department,
                        timer.task_id,
                        timer.purpose,
                        clock,
                        timer.statement,
                    ) {
                        return None;
                    }
                    // A clock's timer counts points of its schedule; people
                    // read the rung the next point reaches.
                    let stage = match clock {
                        Some(clock) => {
                            let (_, rule, _) = incident.armed_step(&clock.regime, &clock.step)?;
                            let points = schedule(rule, clock.deadline);
                            let (_, rung) = points.get(usize::try_from(timer.stage).ok()?)?;
                            *rung as i64
                        }
                        None => timer.stage,
                    };
                    let target = Target {
                        department: timer.department.clone(),
                        task_id: timer.task_id,
                        clock: clock.map(ClockRef::key),
                        statement: timer.statement.map(|asked| asked.id),
                    };
                    Some((
                        target,
                        NextStep {
                            at: timer.due_at,
                            stage,
                        },
                    ))
                })
                .collect(),
        }
    }

    /// The chasing of `department`'s answer (`task_id` None) or of a task.
    pub fn of(&self, department: &str, task_id: Option<Uuid>) -> Chase<'_> {
        self.matching(|key| {
            key.department == department
                && key.task_id == task_id
                && key.clock.is_none()
                && key.statement.is_none()
        })
    }

    /// The chasing of the regulatory step `clock` (`regime/step`).
    pub fn of_clock(&self, clock: &str) -> Chase<'_> {
        self.matching(|key| key.clock == Some(clock))
    }

    /// The chasing of `department`'s approval of a statement (any version).
    pub fn of_statement(&self, statement_id: Uuid, department: &str) -> Chase<'_> {
        self.matching(|key| key.department == department && key.statement == Some(statement_id))
    }

    fn matching(&self, wanted: impl Fn(Key<'_>) -> bool) -> Chase<'_> {
        Chase {
            history: self
                .steps
                .iter()
                .filter(|step| {
                    wanted(Key {
                        department: &step.department,
                        task_id: step.task_id,
                        clock: step.clock.as_deref(),
                        statement: step.statement.map(|asked| asked.id),
                    })
                })
                .collect(),
            next: self
                .next
                .iter()
                .filter(|(target, _)| {
                    wanted(Key {
                        department: &target.department,
                        task_id: target.task_id,
                        clock: target.clock.as_deref(),
                        statement: target.statement,
                    })
                })
                .map(|(_, next)| *next)
                .min_by_key(|next| next.at),
        }
    }
}
