//! Words for people: emails and link pages, from templates compiled into
//! the binary (never looked up relative to the working directory).

use std::collections::HashMap;
use std::fmt;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use minijinja::value::Serde;
use minijinja::{Environment, Value};
use serde::Serialize;
use uuid::Uuid;

use crate::domain::chase::{Purpose, Rung};
use crate::domain::statement::{Review, Verdict};
use crate::domain::{Department, Incident, Notice, Severity, Task};

pub struct Renderer {
    env: Environment<'static>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedEmail {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// The incident as templates show it.
#[derive(Serialize)]
pub struct IncidentView<'a> {
    pub reference: &'a str,
    pub title: &'a str,
    pub scenario_title: String,
    pub severity: Severity,
    pub severity_colour: &'static str,
    pub summary: &'a str,
    pub status: &'static str,
    pub commander: String,
    pub commander_email: &'a str,
    /// Who opened it, for people; None when not known.
    pub opener: Option<String>,
}

impl<'a> IncidentView<'a> {
    pub fn new(incident: &'a Incident, scenario_title: Option<&str>) -> Self {
        IncidentView {
            reference: &incident.reference,
            title: &incident.title,
            scenario_title: scenario_title.unwrap_or(&incident.scenario).to_owned(),
            severity: incident.severity,
            severity_colour: match incident.severity {
                Severity::Low => "#15803d",
                Severity::Medium => "#b45309",
                Severity::High => "#c2410c",
                Severity::Critical => "#b91c1c",
            },
            summary: &incident.summary,
            status: incident.status.as_str(),
            commander: incident.commander.name.clone(),
            commander_email: &incident.commander.email,
            opener: opener(&incident.opened_by),
        }
    }
}

#[derive(Serialize)]
struct TaskLine<'a> {
    title: &'a str,
    description: &'a str,
    status: &'static str,
    required: bool,
    added: bool,
    /// While nobody has acknowledged it: "in 12 min, by 14:25 CET (13:25 UTC)".
    ack_due: Option<String>,
    /// While it is not closed and its clock runs.
    due: Option<String>,
    waiting_on: Vec<String>,
    link: Option<&'a str>,
}

/// Someone who has not answered, and how to reach them.
#[derive(Serialize)]
struct ContactLine<'a> {
    name: &'a str,
    email: &'a str,
    /// "head" or "deputy".
    role: &'static str,
}

#[derive(Serialize)]
struct DepartmentName<'a> {
    name: &'a str,
}

#[derive(Serialize)]
struct EmailContext<'a> {
    subject: &'a str,
    incident: &'a IncidentView<'a>,
    notice: &'a Notice,
    /// When the incident was opened, for people.
    opened: String,
    department: Option<DepartmentName<'a>>,
    /// What the department is asked to acknowledge by, or missed.
    department_due: Option<String>,
    /// On an escalation: who was asked before and has not answered.
    unanswered: Vec<ContactLine<'a>>,
    /// At resolution: the items still open, "PR: Draft a statement (open)".
    open_items: Vec<String>,
    /// Whether the mail carries a link that acts: only then does it say how
    /// such links behave.
    has_links: bool,
    reply_hint: bool,
    tasks: &'a [TaskLine<'a>],
    focus: Option<&'a TaskLine<'a>>,
    focus_label: &'static str,
    /// At resolution: per department, how long it took to answer and finish.
    scorecard: Vec<String>,
    department_link: Option<&'a str>,
    recipient: &'a str,
    /// For a regulatory deadline's chase: what is due, to whom, by when.
    deadline: Option<DeadlineView>,
    /// For a statement's approval, review or publication: its words.
    statement: Option<StatementView<'a>>,
}

#[derive(Serialize)]
struct StatementView<'a> {
    number: u32,
    version: u32,
    text: &'a str,
    language: &'a str,
    channels: String,
    sha256: &'a str,
    /// The approver department this mail asks, by name.
    approver: Option<&'a str>,
    /// When the answer is due: each rung of the chase waits as long again.
    due: Option<String>,
    link: Option<&'a str>,
}

impl<'a> StatementView<'a> {
    fn of(
        incident: &'a Incident,
        notice: &Notice,
        department: Option<&str>,
        link: Option<&'a str>,
        times: Times,
    ) -> Option<StatementView<'a>> {
        let id = match notice {
            Notice::Approval { statement_id, .. }
            | Notice::StatementReviewed { statement_id, .. }
            | Notice::StatementPublished { statement_id, .. } => *statement_id,
            _ => return None,
        };
        let statement = incident.statement(id)?;
        let submission = statement.submission.as_ref();
        Some(StatementView {
            number: statement.number,
            version: statement.version,
            text: &statement.content.text,
            language: &statement.content.language,
            channels: statement.content.channels.join(", "),
            sha256: &statement.sha256,
            approver: department
                .and_then(|id| statement.approver(id))
                .map(|approver| approver.name.as_str()),
            due: submission.map(|submission| {
                times.deadline(submission.at + chrono::Duration::seconds(submission.within_secs))
            }),
            link,
        })
    }
}

#[derive(Serialize)]
struct DeadlineView {
    regime: String,
    citation: String,
    authority: String,
    step: String,
    step_citation: String,
    due: String,
    /// "in 23 h 59 min", or how late it is.
    remaining: String,
    missed: bool,
}

impl DeadlineView {
    fn of(
        incident: &Incident,
        regime: &str,
        step: &str,
        deadline: DateTime<Utc>,
        times: Times,
    ) -> Option<DeadlineView> {
        let (state, rule, _) = incident.armed_step(regime, step)?;
        let now = times.now;
        let missed = deadline <= now;
        Some(DeadlineView {
            regime: state.rule.title.clone(),
            citation: state.rule.citation.clone(),
            authority: state.rule.authority.clone(),
            step: rule.title.clone(),
            step_citation: rule.citation.clone(),
            due: times.clock(deadline),
            remaining: relative(deadline, now),
            missed,
        })
    }
}

/// One email: who it is for, about what, with which links.
pub struct EmailInput<'a> {
    pub incident: &'a Incident,
    pub scenario_title: Option<&'a str>,
    pub department: Option<&'a Department>,
    /// The department id the message is for, engaged or not (an approver
    /// department may not be).
    pub for_department: Option<&'a str>,
    pub notice: &'a Notice,
    pub recipient: &'a str,
    pub department_link: Option<&'a str>,
    pub task_links: &'a HashMap<Uuid, String>,
    /// To answer what the message asks: a statement's approval, or that a
    /// briefing was read.
    pub answer_link: Option<&'a str>,
    /// The organisation's name, which briefings are signed with.
    pub organisation: &'a str,
    /// When the mail is written: deadlines say how far off they are.
    pub now: DateTime<Utc>,
    /// The organisation's time zone: deadlines are also given in it.
    pub timezone: Option<Tz>,
    /// Whether a reply to the mail acts: it carries a reply key.
    pub replies: bool,
}

pub fn when(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// `link:ann@example.com` reads as `ann@example.com (by email link)`.
pub fn who(actor: &str) -> String {
    match actor.split_once(':') {
        Some(("link", email)) => format!("{email} (by email link)"),
        Some(("reply", email)) => format!("{email} (by replying to a mail)"),
        Some((_, name)) => name.to_owned(),
        None => actor.to_owned(),
    }
}

/// Who opened an incident, for people: `token:ci` reads "the API token ci"
/// (a script opened it, not the commander it fell back to); None when the
/// incident predates keeping it.
pub fn opener(opened_by: &str) -> Option<String> {
    match opened_by.split_once(':') {
        Some(("token", name)) => Some(format!("the API token {name}")),
        Some(("cli", login)) => Some(format!("{login} (at the server's command line)")),
        Some((_, name)) if !name.is_empty() => Some(who(opened_by)),
        _ => None,
    }
}

/// An approver's answer, for people: `legal approved: ann@example.com (by
/// email link) at 2026-12-02 09:14 UTC. “Fine.”`
pub fn review_line(review: &Review) -> String {
    let verdict = match review.verdict {
        Verdict::Approved => "approved",
        Verdict::ChangesRequested => "requested changes",
    };
    let note = review
        .note
        .as_deref()
        .map(|note| format!(" \u{201c}{note}\u{201d}"))
        .unwrap_or_default();
    format!(
        "{} {verdict}: {} at {}.{note}",
        review.department,
        who(&review.by),
        when(review.at)
    )
}

/// How far `at` is from `now`, to the minute: "in 2 d 3 h 5 min", or
/// "2 h 5 min late" once past.
pub fn relative(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let minutes = (at - now).num_minutes().unsigned_abs();
    if minutes == 0 {
        // "0 min late" reads like nothing was missed.
        return if at > now {
            "in under a minute".to_owned()
        } else {
            "under a minute late".to_owned()
        };
    }
    let (days, hours, minutes) = (minutes / 1440, minutes / 60 % 24, minutes % 60);
    let mut parts = Vec::new();
    if days > 0 {
        parts.push(format!("{days} d"));
    }
    if hours > 0 {
        parts.push(format!("{hours} h"));
    }
    if minutes > 0 || parts.is_empty() {
        parts.push(format!("{minutes} min"));
    }
    let span = parts.join(" ");
    if at > now {
        format!("in {span}")
    } else {
        format!("{span} late")
    }
}

/// A moment for people: local time with its zone's abbreviation, then UTC,
/// "14:25 CET (13:25 UTC)"; with the day when it is not today ("Thu
/// 2026-12-03 09:00 CET (08:00 UTC)"). Without a zone, UTC alone.
pub fn clock(at: DateTime<Utc>, now: DateTime<Utc>, tz: Option<Tz>) -> String {
    match tz {
        Some(tz) => {
            let local = at.with_timezone(&tz);
            let today = now.with_timezone(&tz).date_naive();
            // UTC names its day whenever it is not the local one shown.
            format!(
                "{} ({})",
                stamp(&local, today),
                stamp(&at, local.date_naive())
            )
        }
        None => stamp(&at, now.date_naive()),
    }
}

/// `at` in its zone, with as much of the date as `today` leaves unclear.
fn stamp<Z: TimeZone>(at: &DateTime<Z>, today: NaiveDate) -> String
where
    Z::Offset: fmt::Display,
{
    // The date as everywhere else in tocsin, the weekday for people.
    let pattern = if at.date_naive() == today {
        "%H:%M %Z"
    } else {
        "%a %Y-%m-%d %H:%M %Z"
    };
    at.format(pattern).to_string()
}

/// The moment a mail is written, and the zone its reader lives in.
#[derive(Debug, Clone, Copy)]
struct Times {
    now: DateTime<Utc>,
    tz: Option<Tz>,
}

impl Times {
    fn clock(self, at: DateTime<Utc>) -> String {
        clock(at, self.now, self.tz)
    }

    fn deadline(self, at: DateTime<Utc>) -> String {
        deadline(at, self.now, self.tz)
    }
}

/// A deadline for people, how far off first: "in 12 min, by 14:25 CET
/// (13:25 UTC)", or "23 min late, due 14:25 CET (13:25 UTC)".
pub fn deadline(at: DateTime<Utc>, now: DateTime<Utc>, tz: Option<Tz>) -> String {
    let clock = clock(at, now, tz);
    if at > now {
        format!("{}, by {clock}", relative(at, now))
    } else {
        format!("{}, due {clock}", relative(at, now))
    }
}

fn line<'a>(
    incident: &'a Incident,
    task: &'a Task,
    added: bool,
    link: Option<&'a str>,
    times: Times,
) -> TaskLine<'a> {
    let open = !task.status.is_closed();
    // A department's acknowledgement answers for its items' too.
    let unacknowledged = task.acknowledged_at.is_none()
        && incident
            .departments
            .iter()
            .any(|dept| dept.id == task.department && dept.acknowledged_at.is_none());
    TaskLine {
        title: &task.title,
        description: &task.description,
        status: task.status.as_str(),
        required: task.required,
        added,
        ack_due: (open && unacknowledged).then(|| times.deadline(task.ack_due_at)),
        due: task.due_at.filter(|_| open).map(|at| times.deadline(at)),
        waiting_on: incident
            .waiting_on(task)
            .map(|dep| dep.title.clone())
            .collect(),
        link,
    }
}

/// On an escalation, who was asked before and has not answered: the head
/// (and a regulatory clock's DPO) on the deputies' rung; the deputies too
/// on the commander's.
fn unanswered<'a>(incident: &'a Incident, input: &EmailInput<'a>) -> Vec<ContactLine<'a>> {
    let (stage, people) = match input.notice {
        Notice::Chase { stage, .. } => (
            *stage,
            input
                .department
                .map(|dept| (&dept.head, dept.deputies.as_slice(), None)),
        ),
        // A regulatory clock chases the contacts it was armed with.
        Notice::Deadline {
            regime,
            step,
            stage,
            ..
        } => (
            *stage,
            incident.armed_step(regime, step).map(|(state, _, _)| {
                let contacts = &state.contacts;
                (
                    &contacts.head,
                    contacts.deputies.as_slice(),
                    contacts.dpo.as_ref(),
                )
            }),
        ),
        // An approval climbs the approver's people as they were asked.
        Notice::Approval {
            statement_id,
            stage: Some(stage),
            ..
        } => (
            *stage,
            input
                .for_department
                .zip(incident.statement(*statement_id))
                .and_then(|(dept, statement)| statement.approver(dept))
                .map(|approver| (&approver.head, approver.deputies.as_slice(), None)),
        ),
        _ => return Vec::new(),
    };
    let Some((head, deputies, dpo)) = people else {
        return Vec::new();
    };
    let contact = |person: &'a crate::domain::Person, role| ContactLine {
        name: &person.name,
        email: &person.email,
        role,
    };
    let head = std::iter::once(contact(head, "head"))
        .chain(dpo.map(|dpo| contact(dpo, "data protection officer")));
    match Rung::of(stage) {
        Rung::Head => Vec::new(),
        Rung::Deputies => head.collect(),
        Rung::Commander => head
            .chain(deputies.iter().map(|deputy| contact(deputy, "deputy")))
            .collect(),
    }
}

/// At resolution, what is still open, per department: "PR: Draft (open)".
fn open_items(incident: &Incident) -> Vec<String> {
    incident
        .departments
        .iter()
        .flat_map(|dept| {
            dept.tasks
                .iter()
                .filter(|task| !task.status.is_closed())
                .map(move |task| {
                    format!("{}: {} ({})", dept.name, task.title, task.status.as_str())
                })
        })
        .collect()
}

/// "Legal: acknowledged in 4m, done in 1h 12m"; "never acknowledged" and
/// "not done" rather than "acknowledged in never".
fn scorecard(incident: &Incident) -> Vec<String> {
    let span = |verb: &str, from: DateTime<Utc>, to: Option<DateTime<Utc>>, never: &str| match to {
        Some(to) => format!(
            "{verb} in {}",
            humantime::format_duration(
                (to - from)
                    .to_std()
                    .map(|d| std::time::Duration::from_secs(d.as_secs()))
                    .unwrap_or_default(),
            )
        ),
        None => never.to_owned(),
    };
    incident
        .departments
        .iter()
        .map(|dept| {
            format!(
                "{}: {}, {}",
                dept.name,
                span(
                    "acknowledged",
                    dept.joined_at,
                    dept.acknowledged_at,
                    "never acknowledged"
                ),
                span("done", dept.joined_at, dept.completed_at(), "not done")
            )
        })
        .collect()
}

impl Renderer {
    pub fn new() -> Result<Renderer, minijinja::Error> {
        let mut env = Environment::new();
        // Compiled in: the binary never looks for templates on disk.
        macro_rules! templates {
            ($($name:literal),* $(,)?) => {
                [$(($name, include_str!(concat!("../../templates/", $name)))),*]
            };
        }
        for (name, source) in templates![
            "email/body.txt",
            "email/body.html",
            "email/briefing.txt",
            "email/briefing.html",
            "pages/briefing_link.html",
            "pages/layout.html",
            "pages/link.html",
            "pages/statement_link.html",
            "pages/statements.html",
            "pages/problem.html",
            "pages/signal_link.html",
            "console/layout.html",
            "console/sign_in.html",
            "console/sign_in_confirm.html",
            "console/dashboard.html",
            "console/new_incident.html",
            "console/incident.html",
            "console/timeline.html",
            "console/statements.html",
            "console/access.html",
        ] {
            env.add_template(name, source)?;
        }
        // A template referring to a missing value is a bug, not a blank.
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        Ok(Renderer { env })
    }

    pub fn email(&self, input: &EmailInput<'_>) -> Result<RenderedEmail, minijinja::Error> {
        if let Notice::Briefing { briefing_id } | Notice::BriefingReminder { briefing_id } =
            input.notice
        {
            return self.briefing(input, *briefing_id);
        }
        let incident = input.incident;
        let times = Times {
            now: input.now,
            tz: input.timezone,
        };
        let added: &[Uuid] = match input.notice {
            Notice::SeverityChanged { added, .. } => added,
            _ => &[],
        };
        let checklist = matches!(
            input.notice,
            Notice::IncidentOpened
                | Notice::SeverityChanged { .. }
                | Notice::Chase {
                    purpose: Purpose::Acknowledge,
                    ..
                }
                | Notice::ReplyAnswered { task_id: None, .. }
        );
        let tasks: Vec<TaskLine<'_>> = match input.department {
            Some(dept) if checklist => dept
                .tasks
                .iter()
                .map(|task| {
                    let link = input.task_links.get(&task.id).map(String::as_str);
                    line(incident, task, added.contains(&task.id), link, times)
                })
                .collect(),
            _ => Vec::new(),
        };
        let focus = match input.notice {
            Notice::TaskActionable { task_id }
            | Notice::Chase {
                task_id: Some(task_id),
                ..
            }
            | Notice::ReplyAnswered {
                task_id: Some(task_id),
                ..
            } => incident.task(*task_id).map(|task| {
                line(
                    incident,
                    task,
                    false,
                    input.task_links.get(task_id).map(String::as_str),
                    times,
                )
            }),
            _ => None,
        };
        let deadline = match input.notice {
            Notice::Deadline {
                regime,
                step,
                deadline,
                ..
            } => DeadlineView::of(incident, regime, step, *deadline, times),
            _ => None,
        };
        let statement = StatementView::of(
            incident,
            input.notice,
            input.for_department,
            input.answer_link,
            times,
        );
        // Asked to acknowledge: by when, or by how much that was missed.
        let department_due = input
            .department
            .filter(|dept| checklist && dept.acknowledged_at.is_none())
            .and_then(Department::ack_due_at)
            .map(|at| times.deadline(at));
        let has_links = input.department_link.is_some()
            || tasks.iter().any(|task| task.link.is_some())
            || focus.as_ref().is_some_and(|task| task.link.is_some())
            || statement.as_ref().is_some_and(|s| s.link.is_some());
        let view = IncidentView::new(incident, input.scenario_title);
        let sev = incident.severity.as_str().to_uppercase();
        let subject = match (input.notice, &focus) {
            (Notice::IncidentOpened, _) => match input.department {
                Some(dept) => format!(
                    "[{}][{sev}] {}: {} checklist",
                    view.reference, view.title, dept.name
                ),
                None => format!("[{}][{sev}] {}", view.reference, view.title),
            },
            (Notice::SeverityChanged { from, to, .. }, _) => format!(
                "[{}][{sev}] Severity {} to {}: {}",
                view.reference,
                from.as_str(),
                to.as_str(),
                view.title
            ),
            (Notice::TaskActionable { .. }, Some(task)) => {
                format!("[{}][{sev}] Ready for you: {}", view.reference, task.title)
            }
            (Notice::TaskActionable { .. }, None) => {
                format!(
                    "[{}][{sev}] An item is ready: {}",
                    view.reference, view.title
                )
            }
            (Notice::IncidentResolved { .. }, _) => {
                format!("[{}] Resolved: {}", view.reference, view.title)
            }
            (Notice::Chase { stage, .. }, focus) => {
                let kind = Rung::of(*stage).kind();
                let what = match (focus, input.department) {
                    (Some(task), _) => format!("{} is overdue", task.title),
                    (None, Some(dept)) => format!("{} has not acknowledged", dept.name),
                    (None, None) => "an answer is overdue".to_owned(),
                };
                format!("[{}][{sev}] {kind}: {what}", view.reference)
            }
            (Notice::ReadyToResolve, _) => {
                format!("[{}] Ready to resolve: {}", view.reference, view.title)
            }
            (Notice::Deadline { .. }, _) => match &deadline {
                Some(due) if due.missed => format!(
                    "[{}] Deadline missed: {} ({})",
                    view.reference, due.step, due.regime
                ),
                Some(due) => format!(
                    "[{}] Due {}: {} ({})",
                    view.reference, due.remaining, due.step, due.regime
                ),
                None => format!("[{}] A regulatory deadline", view.reference),
            },
            (Notice::Approval { stage, .. }, _) => {
                let number = statement.as_ref().map_or(0, |s| s.number);
                let who = statement
                    .as_ref()
                    .and_then(|s| s.approver)
                    .unwrap_or("your department");
                match stage {
                    None => format!(
                        "[{}][{sev}] Approve statement {number} for {who}",
                        view.reference
                    ),
                    Some(stage) => format!(
                        "[{}][{sev}] {}: statement {number} awaits {who}'s approval",
                        view.reference,
                        Rung::of(*stage).kind()
                    ),
                }
            }
            (
                Notice::StatementReviewed {
                    number,
                    department,
                    approved,
                    ..
                },
                _,
            ) => format!(
                "[{}] Statement {number} {} by {department}",
                view.reference,
                if *approved {
                    "approved"
                } else {
                    "sent back for changes"
                }
            ),
            (Notice::StatementPublished { number, .. }, _) => {
                format!("[{}] Statement {number} published", view.reference)
            }
            (Notice::ReplyAnswered { acted, .. }, _) => format!(
                "[{}] Your reply: {}",
                view.reference,
                if *acted { "done" } else { "nothing changed" }
            ),
            // Rendered by `briefing` above.
            (Notice::Briefing { .. } | Notice::BriefingReminder { .. }, _) => String::new(),
        };
        let context = Value::from(Serde(EmailContext {
            subject: &subject,
            incident: &view,
            notice: input.notice,
            opened: times.clock(incident.opened_at),
            department: input.department.map(|d| DepartmentName { name: &d.name }),
            department_due,
            unanswered: unanswered(incident, input),
            open_items: match input.notice {
                Notice::IncidentResolved { .. } => open_items(incident),
                _ => Vec::new(),
            },
            has_links,
            reply_hint: input.replies,
            tasks: &tasks,
            focus: focus.as_ref(),
            focus_label: match input.notice {
                Notice::Chase { .. } => "Overdue",
                Notice::ReplyAnswered { .. } => "The item",
                _ => "Ready for you",
            },
            scorecard: match input.notice {
                Notice::IncidentResolved { .. } => scorecard(incident),
                _ => Vec::new(),
            },
            department_link: input.department_link,
            recipient: input.recipient,
            deadline,
            statement,
        }));
        Ok(RenderedEmail {
            text: self
                .env
                .get_template("email/body.txt")?
                .render(context.clone())?,
            html: self.env.get_template("email/body.html")?.render(context)?,
            subject,
        })
    }

    /// A briefing to a member of an audience, who may be outside the
    /// company: the words sent and the link to confirm reading them, and
    /// nothing of the incident's internal record.
    fn briefing(
        &self,
        input: &EmailInput<'_>,
        briefing_id: Uuid,
    ) -> Result<RenderedEmail, minijinja::Error> {
        let Some(briefing) = input.incident.briefing(briefing_id) else {
            return Err(minijinja::Error::new(
                minijinja::ErrorKind::UndefinedError,
                "the briefing is not on the incident",
            ));
        };
        let reminder = matches!(input.notice, Notice::BriefingReminder { .. });
        let subject = match (reminder, briefing.approved) {
            (true, _) => format!(
                "Reminder: please confirm you have read briefing {} ({})",
                briefing.number, input.organisation
            ),
            (false, true) => format!("{}: {}", input.organisation, briefing.audience_title),
            (false, false) => format!(
                "{}: {} (internal update, not for publication)",
                input.organisation, briefing.audience_title
            ),
        };
        let context = Value::from(Serde(serde_json::json!({
            "subject": subject,
            "organisation": input.organisation,
            "briefing": briefing,
            "reminder": reminder,
            "link": input.answer_link,
            "recipient": input.recipient,
        })));
        Ok(RenderedEmail {
            text: self
                .env
                .get_template("email/briefing.txt")?
                .render(context.clone())?,
            html: self
                .env
                .get_template("email/briefing.html")?
                .render(context)?,
            subject,
        })
    }

    /// A page of the link flow; HTML-escaped throughout.
    pub fn page(&self, name: &str, context: impl Serialize) -> Result<String, minijinja::Error> {
        self.env
            .get_template(name)?
            .render(Value::from(Serde(context)))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use chrono::TimeZone;
    use chrono_tz::Europe::Paris;

    use super::*;
    use crate::domain::{Line, NewIncident, Person, Plan, PlannedDepartment, PlannedTask, Prose};

    fn at(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 2, h, m, 0).unwrap()
    }

    fn person(name: &str, email: &str) -> Person {
        Person {
            name: name.into(),
            email: email.into(),
        }
    }

    fn planned(item: &str, title: &str) -> PlannedTask {
        PlannedTask {
            department: "pr".into(),
            item: item.into(),
            title: title.into(),
            description: format!("{title}, now."),
            required: true,
            ack_within: Duration::from_secs(15 * 60),
            complete_within: Duration::from_secs(60 * 60),
            depends_on: Vec::new(),
        }
    }

    /// Opened at 13:10 UTC by the API token `ci`; PR must acknowledge by 13:25.
    fn incident() -> Incident {
        let plan = Plan {
            scenario: "storm".into(),
            severity: Severity::High,
            departments: vec![PlannedDepartment {
                id: "pr".into(),
                name: "PR".into(),
                head: person("Hana Head", "pr-head@example.com"),
                deputies: vec![person("Dev Deputy", "pr-deputy@example.com")],
                tasks: vec![planned("assess", "Assess"), planned("draft", "Draft")],
            }],
        };
        let new = NewIncident {
            title: Line::parse("Storm").unwrap(),
            summary: Prose::parse("Hostile posts").unwrap(),
            commander: person("Camille Commander", "commander@example.com"),
            opened_by: "token:ci".into(),
        };
        Incident::open(new, &plan, at(13, 10)).0
    }

    struct Mail<'a> {
        notice: Notice,
        recipient: &'a str,
        department_link: Option<&'a str>,
        task_links: HashMap<Uuid, String>,
        now: DateTime<Utc>,
    }

    impl Mail<'_> {
        fn render(&self, incident: &Incident) -> RenderedEmail {
            Renderer::new()
                .unwrap()
                .email(&EmailInput {
                    incident,
                    scenario_title: None,
                    department: incident.departments.first(),
                    for_department: Some("pr"),
                    notice: &self.notice,
                    recipient: self.recipient,
                    department_link: self.department_link,
                    task_links: &self.task_links,
                    answer_link: None,
                    organisation: "Test Corp",
                    now: self.now,
                    timezone: Some(Paris),
                    replies: false,
                })
                .unwrap()
        }
    }

    fn opening(incident: &Incident) -> Mail<'static> {
        Mail {
            notice: Notice::IncidentOpened,
            recipient: "pr-head@example.com",
            department_link: Some("https://tocsin.test/links/department"),
            task_links: incident
                .tasks()
                .map(|task| (task.id, format!("https://tocsin.test/links/{}", task.key)))
                .collect(),
            now: at(13, 13),
        }
    }

    #[test]
    fn deadlines_read_relative_first_then_local_and_utc() {
        let now = at(13, 13);
        assert_eq!(
            deadline(at(13, 25), now, Some(Paris)),
            "in 12 min, by 14:25 CET (13:25 UTC)"
        );
        assert_eq!(
            deadline(at(12, 50), now, Some(Paris)),
            "23 min late, due 13:50 CET (12:50 UTC)"
        );
        assert_eq!(deadline(at(13, 25), now, None), "in 12 min, by 13:25 UTC");
        assert_eq!(relative(now, now), "under a minute late");
        // Past local midnight the day is named, and UTC names its own.
        assert_eq!(
            clock(at(23, 30), at(22, 0), Some(Paris)),
            "Thu 2026-12-03 00:30 CET (Wed 2026-12-02 23:30 UTC)"
        );
        let summer = Utc.with_ymd_and_hms(2026, 7, 1, 8, 0, 0).unwrap();
        assert_eq!(clock(summer, summer, Some(Paris)), "10:00 CEST (08:00 UTC)");
        assert_eq!(clock(summer, at(9, 0), None), "Wed 2026-07-01 08:00 UTC");
    }

    #[test]
    fn the_opener_is_who_opened_it_not_the_commander() {
        assert_eq!(opener("token:ci").as_deref(), Some("the API token ci"));
        assert_eq!(
            opener("user:ann@example.com").as_deref(),
            Some("ann@example.com")
        );
        assert_eq!(opener(""), None);
    }

    #[test]
    fn the_opening_mail_leads_with_what_is_asked_and_by_when() {
        let incident = incident();
        let mail = opening(&incident).render(&incident);
        let first = mail.text.lines().next().unwrap();
        assert_eq!(
            first,
            "Acknowledge for PR: in 12 min, by 14:25 CET (13:25 UTC)."
        );
        assert!(
            mail.text
                .contains("Opened by the API token ci at 14:10 CET (13:10 UTC)."),
            "{}",
            mail.text
        );
        assert!(!mail.text.contains("Camille Commander has opened"));
        // The acknowledgement comes before the checklist, in both parts.
        let ack = mail.text.find("links/department").unwrap();
        let checklist = mail.text.find("PR CHECKLIST").unwrap();
        assert!(ack < checklist, "{}", mail.text);
        let button = mail.html.find("Acknowledge for PR</a>").unwrap();
        assert!(button < mail.html.find("your checklist").unwrap());
        assert!(mail.text.contains("Each link opens a page"));
        assert!(
            mail.text
                .contains("Acknowledge: in 12 min, by 14:25 CET (13:25 UTC)")
        );
    }

    #[test]
    fn a_reminder_says_what_was_missed_and_by_how_much() {
        let incident = incident();
        let task = incident.tasks().next().unwrap();
        let mail = Mail {
            notice: Notice::Chase {
                purpose: Purpose::Complete,
                task_id: Some(task.id),
                stage: 0,
            },
            now: at(14, 30),
            ..opening(&incident)
        }
        .render(&incident);
        assert!(
            mail.text.starts_with(
                "Reminder: \"Assess\" is not done: 20 min late, due 15:10 CET (14:10 UTC)."
            ),
            "{}",
            mail.text
        );
    }

    #[test]
    fn the_commanders_escalation_names_who_has_not_answered() {
        let incident = incident();
        let mail = Mail {
            notice: Notice::Chase {
                purpose: Purpose::Acknowledge,
                task_id: None,
                stage: 2,
            },
            recipient: "commander@example.com",
            now: at(13, 55),
            ..opening(&incident)
        }
        .render(&incident);
        assert!(
            mail.text.starts_with(
                "Escalation: PR has not acknowledged this incident: 30 min late, due 14:25 CET"
            ),
            "{}",
            mail.text
        );
        assert!(
            mail.text.contains(
                "Not answered yet:\n  Hana Head (head): pr-head@example.com\n  \
                 Dev Deputy (deputy): pr-deputy@example.com\n"
            ),
            "{}",
            mail.text
        );
        assert!(mail.html.contains("mailto:pr-deputy@example.com"));
    }

    #[test]
    fn the_resolution_lists_open_items_apart_from_the_reason_and_has_no_link_footer() {
        let mut incident = incident();
        let reason = Prose::parse("The account is back").unwrap();
        incident.resolve(None, Some(reason), at(15, 0)).unwrap();
        let mail = Mail {
            notice: Notice::IncidentResolved {
                summary: None,
                forced: true,
                reason: Some("The account is back".into()),
            },
            department_link: None,
            task_links: HashMap::new(),
            now: at(15, 0),
            ..opening(&incident)
        }
        .render(&incident);
        assert!(
            mail.text.starts_with(
                "The incident is resolved, with 2 items still open.\n\n\
                 Still open:\n  PR: Assess (open)\n  PR: Draft (open)\n\n\
                 Why it was closed anyway: The account is back\n"
            ),
            "{}",
            mail.text
        );
        assert!(mail.text.contains("PR: never acknowledged, not done"));
        for part in [&mail.text, &mail.html] {
            assert!(!part.contains("Each link opens a page"), "{part}");
        }
    }
}
