//! Words for people: emails and link pages, from templates compiled into
//! the binary (never looked up relative to the working directory).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
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
    ack_due: String,
    due: Option<String>,
    waiting_on: Vec<String>,
    link: Option<&'a str>,
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
    department: Option<DepartmentName<'a>>,
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
                when(submission.at + chrono::Duration::seconds(submission.within_secs))
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
        now: DateTime<Utc>,
    ) -> Option<DeadlineView> {
        let (state, rule, _) = incident.armed_step(regime, step)?;
        let missed = deadline <= now;
        Some(DeadlineView {
            regime: state.rule.title.clone(),
            citation: state.rule.citation.clone(),
            authority: state.rule.authority.clone(),
            step: rule.title.clone(),
            step_citation: rule.citation.clone(),
            due: when(deadline),
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
}

pub fn when(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// `link:ann@example.com` reads as `ann@example.com (by email link)`.
pub fn who(actor: &str) -> String {
    match actor.split_once(':') {
        Some(("link", email)) => format!("{email} (by email link)"),
        Some((_, name)) => name.to_owned(),
        None => actor.to_owned(),
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

fn line<'a>(
    incident: &'a Incident,
    task: &'a Task,
    added: bool,
    link: Option<&'a str>,
) -> TaskLine<'a> {
    TaskLine {
        title: &task.title,
        description: &task.description,
        status: task.status.as_str(),
        required: task.required,
        added,
        ack_due: when(task.ack_due_at),
        due: task.due_at.map(when),
        waiting_on: incident
            .waiting_on(task)
            .map(|dep| dep.title.clone())
            .collect(),
        link,
    }
}

/// "Legal: acknowledged in 4 min, done in 1 h 12 min".
fn scorecard(incident: &Incident) -> Vec<String> {
    let span = |from: DateTime<Utc>, to: Option<DateTime<Utc>>| match to {
        Some(to) => humantime::format_duration(
            (to - from)
                .to_std()
                .map(|d| std::time::Duration::from_secs(d.as_secs()))
                .unwrap_or_default(),
        )
        .to_string(),
        None => "never".to_owned(),
    };
    incident
        .departments
        .iter()
        .map(|dept| {
            format!(
                "{}: acknowledged in {}, done in {}",
                dept.name,
                span(dept.joined_at, dept.acknowledged_at),
                span(dept.joined_at, dept.completed_at())
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
        );
        let tasks: Vec<TaskLine<'_>> = match input.department {
            Some(dept) if checklist => dept
                .tasks
                .iter()
                .map(|task| {
                    let link = input.task_links.get(&task.id).map(String::as_str);
                    line(incident, task, added.contains(&task.id), link)
                })
                .collect(),
            _ => Vec::new(),
        };
        let focus = match input.notice {
            Notice::TaskActionable { task_id }
            | Notice::Chase {
                task_id: Some(task_id),
                ..
            } => incident.task(*task_id).map(|task| {
                line(
                    incident,
                    task,
                    false,
                    input.task_links.get(task_id).map(String::as_str),
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
            } => DeadlineView::of(incident, regime, step, *deadline, input.now),
            _ => None,
        };
        let statement = StatementView::of(
            incident,
            input.notice,
            input.for_department,
            input.answer_link,
        );
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
            // Rendered by `briefing` above.
            (Notice::Briefing { .. } | Notice::BriefingReminder { .. }, _) => String::new(),
        };
        let context = Value::from(Serde(EmailContext {
            subject: &subject,
            incident: &view,
            notice: input.notice,
            department: input.department.map(|d| DepartmentName { name: &d.name }),
            tasks: &tasks,
            focus: focus.as_ref(),
            focus_label: match input.notice {
                Notice::Chase { .. } => "Overdue",
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
