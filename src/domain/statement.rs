//! The public voice: statements drafted by PR, approved by the departments
//! the playbook names (legal, at least), published, and superseded.
//!
//! A statement's approval is bound to the SHA-256 of its exact content
//! (text, language, channels): an edit voids it, visibly on the chain, and
//! an approver who read one version cannot approve another by accident.
//! Whoever wrote a version can never approve it (four eyes). A statement
//! drafted from a holding-statement template that legal approved once in
//! the playbooks may go out without a new approval, as long as its text
//! differs from the template only in the template's placeholders.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{Actor, DomainError, EventData, Incident, Person};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StatementStatus {
    Draft,
    Submitted,
    Approved,
    ChangesRequested,
    Published,
    Superseded,
}

impl StatementStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            StatementStatus::Draft => "draft",
            StatementStatus::Submitted => "submitted",
            StatementStatus::Approved => "approved",
            StatementStatus::ChangesRequested => "changes_requested",
            StatementStatus::Published => "published",
            StatementStatus::Superseded => "superseded",
        }
    }

    /// Whether the statement went out (and may still be read publicly).
    pub fn is_public(self) -> bool {
        matches!(
            self,
            StatementStatus::Published | StatementStatus::Superseded
        )
    }
}

/// What an approval covers: the words, their language, where they go.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Content {
    pub text: String,
    /// A language tag such as `en` or `fr`.
    pub language: String,
    pub channels: Vec<String>,
}

impl Content {
    /// SHA-256 of the canonical JSON `{"text":..,"language":..,"channels":[..]}`
    /// (fields in that order, serde_json's escaping), in hex: what approvers
    /// approve and the public page prints.
    pub fn sha256(&self) -> String {
        use serde_json::Value;
        let canonical = format!(
            "{{\"text\":{},\"language\":{},\"channels\":{}}}",
            Value::from(self.text.as_str()),
            Value::from(self.language.as_str()),
            Value::from(self.channels.clone()),
        );
        hex::encode(Sha256::digest(canonical.as_bytes()))
    }
}

/// A holding statement prepared in the playbooks: wording with named
/// `{placeholders}`, approved once by legal when `approved` is set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Template {
    pub id: String,
    pub title: String,
    pub language: String,
    pub text: String,
    /// Who approved this wording, if anyone did; the playbook also names the
    /// hash they approved, and refuses to load if the text no longer has it.
    pub approved_by: Option<String>,
}

impl Template {
    /// SHA-256 (hex) of the template's text as written, placeholders and all.
    pub fn sha256(&self) -> String {
        hex::encode(Sha256::digest(self.text.as_bytes()))
    }
}

/// A template's text as literal pieces and placeholders.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece<'a> {
    Literal(&'a str),
    Placeholder(&'a str),
}

/// Placeholders are `{name}` with a name of lowercase letters, digits and
/// underscores; any other brace is text.
fn pieces(text: &str) -> Vec<Piece<'_>> {
    let mut pieces = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let name_len = after
            .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
            .unwrap_or(after.len());
        if name_len > 0 && after[name_len..].starts_with('}') {
            if open > 0 {
                pieces.push(Piece::Literal(&rest[..open]));
            }
            pieces.push(Piece::Placeholder(&after[..name_len]));
            rest = &after[name_len + 1..];
        } else {
            pieces.push(Piece::Literal(&rest[..=open]));
            rest = after;
        }
    }
    if !rest.is_empty() {
        pieces.push(Piece::Literal(rest));
    }
    pieces
}

/// The most a placeholder's value may hold: a time, a product, a channel;
/// never a paragraph that would turn a holding statement into another one.
pub const PLACEHOLDER_MAX: usize = 120;

/// The placeholder names of a template's text, in order, each once.
pub fn placeholders(text: &str) -> Vec<&str> {
    let mut names: Vec<&str> = Vec::new();
    for piece in pieces(text) {
        if let Piece::Placeholder(name) = piece
            && !names.contains(&name)
        {
            names.push(name);
        }
    }
    names
}

/// Why a template could not be filled in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FillError {
    #[error("the template needs a value for {{{0}}}")]
    Missing(String),
    #[error("the template has no placeholder {{{0}}}")]
    Unknown(String),
    #[error("the value for {{{0}}} must be one line of at most {PLACEHOLDER_MAX} characters")]
    TooLong(String),
}

/// The template's text with each placeholder replaced by its value.
pub fn fill(text: &str, values: &BTreeMap<String, String>) -> Result<String, FillError> {
    let names = placeholders(text);
    if let Some(unknown) = values.keys().find(|key| !names.contains(&key.as_str())) {
        return Err(FillError::Unknown(unknown.clone()));
    }
    let mut filled = String::with_capacity(text.len());
    for piece in pieces(text) {
        match piece {
            Piece::Literal(literal) => filled.push_str(literal),
            Piece::Placeholder(name) => {
                let value = values
                    .get(name)
                    .filter(|value| !value.trim().is_empty())
                    .ok_or_else(|| FillError::Missing(name.to_owned()))?;
                if !fits_placeholder(value) {
                    return Err(FillError::TooLong(name.to_owned()));
                }
                filled.push_str(value);
            }
        }
    }
    Ok(filled)
}

fn fits_placeholder(value: &str) -> bool {
    !value.is_empty() && value.chars().count() <= PLACEHOLDER_MAX && !value.contains(['\n', '\r'])
}

/// Whether `text` is `template` with some one-line value in each
/// placeholder: the wording legal approved, with only the blanks filled.
pub fn matches_template(template: &str, text: &str) -> bool {
    let pieces = pieces(template);
    match_from(&pieces, text, &mut BTreeMap::new())
}

/// Backtracks over where each placeholder's value ends; values are short
/// single lines, so each placeholder tries at most a line's worth of ends.
fn match_from<'p, 't>(
    pieces: &[Piece<'p>],
    text: &'t str,
    values: &mut BTreeMap<&'p str, &'t str>,
) -> bool {
    let Some((first, rest)) = pieces.split_first() else {
        return text.is_empty();
    };
    match *first {
        Piece::Literal(literal) => text
            .strip_prefix(literal)
            .is_some_and(|after| match_from(rest, after, values)),
        Piece::Placeholder(name) => {
            // A placeholder used twice must hold the same value twice.
            if let Some(value) = values.get(name).copied() {
                return text
                    .strip_prefix(value)
                    .is_some_and(|after| match_from(rest, after, values));
            }
            let line_end = text.find(['\n', '\r']).unwrap_or(text.len());
            let ends = text[..line_end]
                .char_indices()
                .map(|(i, c)| i + c.len_utf8())
                .take(PLACEHOLDER_MAX);
            for end in ends {
                values.insert(name, &text[..end]);
                if match_from(rest, &text[end..], values) {
                    return true;
                }
                values.remove(name);
            }
            false
        }
    }
}

/// Whether `text` has two placeholders with nothing between them, which
/// would make a filled-in text ambiguous to check.
pub fn has_adjacent_placeholders(text: &str) -> bool {
    pieces(text)
        .windows(2)
        .any(|pair| matches!(pair, [Piece::Placeholder(_), Piece::Placeholder(_)]))
}

/// A department whose approval a statement needs, with its people as they
/// were when the statement was submitted: they are asked, then chased.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Approver {
    pub department: String,
    pub name: String,
    pub head: Person,
    pub deputies: Vec<Person>,
}

impl Approver {
    /// Whether `email` is this department's head or one of its deputies.
    pub fn includes(&self, email: &str) -> bool {
        std::iter::once(&self.head)
            .chain(&self.deputies)
            .any(|person| person.email.eq_ignore_ascii_case(email))
    }
}

/// What the playbook asks of a statement at the incident's scenario and
/// severity: who approves, and how long each rung of the chase waits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalPolicy {
    pub approvers: Vec<Approver>,
    pub within: Duration,
}

/// A version sent for approval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Submission {
    pub version: u32,
    pub sha256: String,
    pub at: DateTime<Utc>,
    pub by: String,
    pub approvers: Vec<Approver>,
    /// When the first answer is due; each chase step waits as long again.
    #[schema(value_type = i64)]
    pub within_secs: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Approved,
    ChangesRequested,
}

/// One approver department's answer to one version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Review {
    pub department: String,
    pub verdict: Verdict,
    /// The content hash the reviewer saw and answered.
    pub sha256: String,
    pub by: String,
    pub at: DateTime<Utc>,
    pub note: Option<String>,
}

/// Where and when a statement went out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Publication {
    pub at: DateTime<Utc>,
    pub by: String,
    /// Where it can be read, if somewhere besides tocsin's statement page.
    pub url: Option<String>,
    /// Published without a new approval: a rendering of this legal-approved
    /// template.
    pub preapproved_template: Option<String>,
}

/// The template a statement was drafted from, as it was then: the incident
/// keeps the wording and hash legal approved, whatever the playbook says
/// later.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TemplateUse {
    pub id: String,
    pub text: String,
    pub sha256: String,
    pub approved_by: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Statement {
    pub id: Uuid,
    /// 1, 2, ... within the incident: what people call it.
    pub number: u32,
    pub status: StatementStatus,
    pub content: Content,
    /// 1 when drafted, one more per edit.
    pub version: u32,
    pub sha256: String,
    /// The version before this one, for reviewers' diff.
    pub previous: Option<Content>,
    pub template: Option<TemplateUse>,
    /// Everyone who wrote a version: none of them may approve it.
    pub authors: Vec<String>,
    pub drafted_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub submission: Option<Submission>,
    /// Answers to the current submission.
    pub reviews: Vec<Review>,
    pub publication: Option<Publication>,
    pub superseded_by: Option<Uuid>,
}

impl Statement {
    /// Approver departments of the current submission yet to answer it.
    pub fn awaiting(&self) -> Vec<&Approver> {
        if self.status != StatementStatus::Submitted {
            return Vec::new();
        }
        self.submission
            .iter()
            .flat_map(|submission| &submission.approvers)
            .filter(|approver| {
                !self
                    .reviews
                    .iter()
                    .any(|review| review.department == approver.department)
            })
            .collect()
    }

    /// Whether `department`'s approval of version `version` is still
    /// awaited: what a chase timer asks before each step.
    pub fn awaits(&self, department: &str, version: u32) -> bool {
        self.version == version
            && self
                .awaiting()
                .iter()
                .any(|approver| approver.department == department)
    }

    pub fn approver(&self, department: &str) -> Option<&Approver> {
        self.submission
            .as_ref()?
            .approvers
            .iter()
            .find(|approver| approver.department == department)
    }

    /// The legal-approved template this text is a filled-in copy of, if any.
    pub fn preapproved_by(&self) -> Option<&TemplateUse> {
        self.template.as_ref().filter(|template| {
            template.approved_by.is_some() && matches_template(&template.text, &self.content.text)
        })
    }

    /// Who approved the current version, for people: `legal (Dominique
    /// Bernard)`, or the template legal approved.
    pub fn approved_by(&self) -> String {
        if let Some(template) = self.preapproved_by().filter(|_| self.reviews.is_empty()) {
            return format!(
                "pre-approved template {} ({})",
                template.id,
                template.approved_by.as_deref().unwrap_or_default()
            );
        }
        self.reviews
            .iter()
            .filter(|review| review.verdict == Verdict::Approved)
            .map(|review| format!("{} ({})", review.department, review.by))
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn authored_by(&self, actor: &Actor) -> bool {
        self.authors
            .iter()
            .any(|author| author.eq_ignore_ascii_case(&actor.name))
    }
}

/// One incident's statements, as the public pages read them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentStatements {
    pub incident_id: Uuid,
    pub statements: Vec<Statement>,
}

/// A new statement, as the API or the console hands it over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Draft {
    pub content: Content,
    pub template: Option<TemplateUse>,
}

/// Whose approval the reviewer gives: a link knows its department; a
/// signed-in reviewer names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub department: String,
    pub verdict: Verdict,
    /// The hash of the content the reviewer read.
    pub sha256: String,
    pub note: Option<String>,
}

impl Incident {
    /// When a statement last went out: the organisation's statement page
    /// finds incidents by it.
    pub fn last_published_at(&self) -> Option<DateTime<Utc>> {
        self.statements
            .iter()
            .filter_map(|statement| statement.publication.as_ref())
            .map(|publication| publication.at)
            .max()
    }

    pub fn statement(&self, id: Uuid) -> Option<&Statement> {
        self.statements.iter().find(|statement| statement.id == id)
    }

    fn statement_mut(&mut self, id: Uuid) -> Result<&mut Statement, DomainError> {
        self.statements
            .iter_mut()
            .find(|statement| statement.id == id)
            .ok_or(DomainError::StatementNotFound(id))
    }

    pub fn draft_statement(
        &mut self,
        id: Uuid,
        draft: Draft,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Vec<EventData> {
        let number = self
            .statements
            .iter()
            .map(|statement| statement.number)
            .max()
            .unwrap_or(0)
            + 1;
        let sha256 = draft.content.sha256();
        let statement = Statement {
            id,
            number,
            status: StatementStatus::Draft,
            version: 1,
            sha256: sha256.clone(),
            previous: None,
            template: draft.template,
            authors: vec![actor.name.clone()],
            drafted_at: now,
            updated_at: now,
            submission: None,
            reviews: Vec::new(),
            publication: None,
            superseded_by: None,
            content: draft.content,
        };
        let event = EventData::StatementDrafted {
            statement_id: id,
            number,
            version: 1,
            sha256,
            text: statement.content.text.clone(),
            language: statement.content.language.clone(),
            channels: statement.content.channels.clone(),
            template: statement.template.as_ref().map(|t| t.id.clone()),
        };
        self.statements.push(statement);
        self.updated_at = now;
        vec![event]
    }

    /// A new version. Any approval or request for changes given to the
    /// version before is void: the statement is a draft again.
    pub fn edit_statement(
        &mut self,
        id: Uuid,
        content: Content,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<Vec<EventData>, DomainError> {
        let statement = self.statement_mut(id)?;
        if statement.status.is_public() {
            return Err(DomainError::StatementPublished(statement.number));
        }
        if content == statement.content {
            return Err(DomainError::StatementUnchanged(statement.number));
        }
        let voided: Vec<String> = statement
            .reviews
            .iter()
            .filter(|review| review.verdict == Verdict::Approved)
            .map(|review| review.department.clone())
            .collect();
        let previous_sha256 = std::mem::take(&mut statement.sha256);
        statement.previous = Some(std::mem::replace(&mut statement.content, content));
        statement.version += 1;
        statement.sha256 = statement.content.sha256();
        statement.status = StatementStatus::Draft;
        statement.reviews.clear();
        if !statement.authored_by(actor) {
            statement.authors.push(actor.name.clone());
        }
        statement.updated_at = now;
        let event = EventData::StatementEdited {
            statement_id: id,
            number: statement.number,
            version: statement.version,
            sha256: statement.sha256.clone(),
            previous_sha256,
            text: statement.content.text.clone(),
            language: statement.content.language.clone(),
            channels: statement.content.channels.clone(),
            voided_approvals: voided,
        };
        self.updated_at = now;
        Ok(vec![event])
    }

    /// Sends the current version to the policy's approvers.
    pub fn submit_statement(
        &mut self,
        id: Uuid,
        policy: &ApprovalPolicy,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<Vec<EventData>, DomainError> {
        let statement = self.statement_mut(id)?;
        match statement.status {
            StatementStatus::Draft | StatementStatus::ChangesRequested => {}
            StatementStatus::Submitted | StatementStatus::Approved => {
                return Err(DomainError::StatementAlreadySubmitted(statement.number));
            }
            StatementStatus::Published | StatementStatus::Superseded => {
                return Err(DomainError::StatementPublished(statement.number));
            }
        }
        if policy.approvers.is_empty() {
            return Err(DomainError::NoApprovers);
        }
        statement.status = StatementStatus::Submitted;
        statement.reviews.clear();
        statement.submission = Some(Submission {
            version: statement.version,
            sha256: statement.sha256.clone(),
            at: now,
            by: actor.to_string(),
            approvers: policy.approvers.clone(),
            within_secs: policy.within.num_seconds().max(1),
        });
        statement.updated_at = now;
        let event = EventData::StatementSubmitted {
            statement_id: id,
            number: statement.number,
            version: statement.version,
            sha256: statement.sha256.clone(),
            approvers: policy
                .approvers
                .iter()
                .map(|approver| approver.department.clone())
                .collect(),
            due_at: now + policy.within.max(Duration::seconds(1)),
        };
        self.updated_at = now;
        Ok(vec![event])
    }

    /// An approver department's answer to the version it read. The answer
    /// must name the hash of what is current: a reviewer who read an older
    /// version answers nothing.
    pub fn review_statement(
        &mut self,
        id: Uuid,
        answer: Answer,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<Vec<EventData>, DomainError> {
        let statement = self.statement_mut(id)?;
        if statement.status != StatementStatus::Submitted {
            return Err(DomainError::StatementNotAwaitingApproval {
                number: statement.number,
                status: statement.status.as_str(),
            });
        }
        if answer.sha256 != statement.sha256 {
            return Err(DomainError::StatementChangedSinceRead(statement.number));
        }
        if statement.approver(&answer.department).is_none() {
            return Err(DomainError::NotAnApprover(answer.department));
        }
        if statement.authored_by(actor) {
            return Err(DomainError::OwnStatement(statement.number));
        }
        if statement
            .reviews
            .iter()
            .any(|review| review.department == answer.department)
        {
            return Err(DomainError::AlreadyReviewed(answer.department));
        }
        statement.reviews.push(Review {
            department: answer.department.clone(),
            verdict: answer.verdict,
            sha256: answer.sha256.clone(),
            by: actor.to_string(),
            at: now,
            note: answer.note.clone(),
        });
        statement.updated_at = now;
        let via = actor.via.clone();
        let event = match answer.verdict {
            Verdict::ChangesRequested => {
                statement.status = StatementStatus::ChangesRequested;
                EventData::StatementChangesRequested {
                    statement_id: id,
                    number: statement.number,
                    version: statement.version,
                    sha256: answer.sha256,
                    department: answer.department,
                    note: answer.note.unwrap_or_default(),
                    via,
                }
            }
            Verdict::Approved => {
                let complete = statement.awaiting().is_empty();
                if complete {
                    statement.status = StatementStatus::Approved;
                }
                EventData::StatementApproved {
                    statement_id: id,
                    number: statement.number,
                    version: statement.version,
                    sha256: answer.sha256,
                    department: answer.department,
                    complete,
                    note: answer.note,
                    via,
                }
            }
        };
        self.updated_at = now;
        Ok(vec![event])
    }

    /// Puts an approved statement (or a filled-in pre-approved template)
    /// out, superseding `supersedes` if named.
    pub fn publish_statement(
        &mut self,
        id: Uuid,
        url: Option<String>,
        supersedes: Option<Uuid>,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<Vec<EventData>, DomainError> {
        let replaced = match supersedes {
            Some(old) => {
                let old = self
                    .statement(old)
                    .ok_or(DomainError::StatementNotFound(old))?;
                if old.status != StatementStatus::Published || old.id == id {
                    return Err(DomainError::NotSupersedable(old.number));
                }
                Some(old.id)
            }
            None => None,
        };
        let statement = self.statement_mut(id)?;
        if statement.status.is_public() {
            return Err(DomainError::StatementPublished(statement.number));
        }
        let preapproved = match statement.status {
            StatementStatus::Approved => None,
            _ => match statement.preapproved_by() {
                Some(template) => Some(template.id.clone()),
                None => {
                    return Err(DomainError::StatementNotApproved {
                        number: statement.number,
                        status: statement.status.as_str(),
                    });
                }
            },
        };
        let approved_by = statement.approved_by();
        statement.status = StatementStatus::Published;
        statement.publication = Some(Publication {
            at: now,
            by: actor.to_string(),
            url: url.clone(),
            preapproved_template: preapproved.clone(),
        });
        statement.updated_at = now;
        let published = EventData::StatementPublished {
            statement_id: id,
            number: statement.number,
            version: statement.version,
            sha256: statement.sha256.clone(),
            text: statement.content.text.clone(),
            language: statement.content.language.clone(),
            channels: statement.content.channels.clone(),
            approved_by,
            preapproved_template: preapproved,
            url,
            supersedes: replaced,
        };
        let number = statement.number;
        let mut events = vec![published];
        if let Some(old) = replaced
            && let Ok(old) = self.statement_mut(old)
        {
            old.status = StatementStatus::Superseded;
            old.superseded_by = Some(id);
            old.updated_at = now;
            events.push(EventData::StatementSuperseded {
                statement_id: old.id,
                number: old.number,
                superseded_by: id,
                superseded_by_number: number,
            });
        }
        self.updated_at = now;
        Ok(events)
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::domain::chase::{self, Decision, DueTimer, Purpose, StatementRef};
    use crate::domain::testing::{drill_incident, person};

    fn at(minute: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 2, 9, minute, 0).unwrap()
    }

    fn incident() -> Incident {
        drill_incident(at(0))
    }

    fn content(text: &str) -> Content {
        Content {
            text: text.to_owned(),
            language: "en".to_owned(),
            channels: vec!["website".to_owned()],
        }
    }

    fn policy(departments: &[&str]) -> ApprovalPolicy {
        ApprovalPolicy {
            approvers: departments
                .iter()
                .map(|id| Approver {
                    department: (*id).to_owned(),
                    name: id.to_uppercase(),
                    head: person(&format!("{id}-head@example.com")),
                    deputies: vec![person(&format!("{id}-deputy@example.com"))],
                })
                .collect(),
            within: Duration::minutes(15),
        }
    }

    fn pr() -> Actor {
        Actor::token("pr-writer")
    }

    fn legal() -> Actor {
        Actor::token("legal-reviewer")
    }

    fn approve(department: &str, sha256: &str) -> Answer {
        Answer {
            department: department.to_owned(),
            verdict: Verdict::Approved,
            sha256: sha256.to_owned(),
            note: None,
        }
    }

    /// An incident with statement 1 drafted and submitted to `departments`.
    fn submitted(departments: &[&str]) -> (Incident, Uuid) {
        let mut incident = incident();
        let id = Uuid::now_v7();
        let draft = Draft {
            content: content("We are aware and looking into it."),
            template: None,
        };
        incident.draft_statement(id, draft, &pr(), at(1));
        incident
            .submit_statement(id, &policy(departments), &pr(), at(2))
            .unwrap();
        (incident, id)
    }

    fn sha(incident: &Incident, id: Uuid) -> String {
        incident.statement(id).unwrap().sha256.clone()
    }

    #[test]
    fn the_hash_covers_text_language_and_channels() {
        let base = content("Hello");
        let hashes = [
            base.sha256(),
            Content {
                text: "Hello.".into(),
                ..base.clone()
            }
            .sha256(),
            Content {
                language: "fr".into(),
                ..base.clone()
            }
            .sha256(),
            Content {
                channels: vec!["twitter".into()],
                ..base.clone()
            }
            .sha256(),
        ];
        let distinct: std::collections::HashSet<_> = hashes.iter().collect();
        assert_eq!(distinct.len(), 4);
        // The canonical form is documented: anyone can recompute it.
        let canonical = r#"{"text":"Hello","language":"en","channels":["website"]}"#;
        assert_eq!(base.sha256(), hex::encode(Sha256::digest(canonical)));
        // Escapes as docs/timeline-format.md says: quotes, backslashes and
        // control characters escaped, non-ASCII as itself.
        let tricky = Content {
            text: "Ça \"va\" \\ ok\n\tbye".into(),
            ..base
        };
        let canonical = "{\"text\":\"Ça \\\"va\\\" \\\\ ok\\n\\tbye\",\"language\":\"en\",\"channels\":[\"website\"]}";
        assert_eq!(tricky.sha256(), hex::encode(Sha256::digest(canonical)));
    }

    #[test]
    fn a_template_is_filled_and_recognised_only_with_its_wording() {
        let template = "Our {channel} account was misused on {date}. Sorry about {channel}.";
        let values = BTreeMap::from([
            ("channel".to_owned(), "Twitter".to_owned()),
            ("date".to_owned(), "1 December".to_owned()),
        ]);
        let filled = fill(template, &values).unwrap();
        assert_eq!(
            filled,
            "Our Twitter account was misused on 1 December. Sorry about Twitter."
        );
        assert!(matches_template(template, &filled));
        // A placeholder used twice holds one value.
        assert!(!matches_template(
            template,
            "Our Twitter account was misused on 1 December. Sorry about Facebook."
        ));
        // Other words are not the approved wording.
        assert!(!matches_template(
            template,
            "Our Twitter account was hacked on 1 December. Sorry about Twitter."
        ));
        // A value cannot smuggle in a paragraph.
        assert!(!matches_template(
            template,
            "Our Twitter account was misused on 1 December.\nWe blame the intern. Sorry about Twitter."
        ));
        assert_eq!(
            fill(template, &BTreeMap::new()),
            Err(FillError::Missing("channel".into()))
        );
        let mut extra = values.clone();
        extra.insert("product".into(), "x".into());
        assert_eq!(
            fill(template, &extra),
            Err(FillError::Unknown("product".into()))
        );
        let mut long = values;
        long.insert("date".into(), "x".repeat(PLACEHOLDER_MAX + 1));
        assert_eq!(
            fill(template, &long),
            Err(FillError::TooLong("date".into()))
        );
        assert!(has_adjacent_placeholders("At {time}{date}."));
        assert!(!has_adjacent_placeholders(
            "At {time} on {date}; {not a placeholder}"
        ));
    }

    #[test]
    fn every_approver_must_approve_the_exact_version_before_publication() {
        let (mut incident, id) = submitted(&["legal", "sales"]);
        let refused = incident.publish_statement(id, None, None, &pr(), at(3));
        assert!(matches!(
            refused,
            Err(DomainError::StatementNotApproved { number: 1, .. })
        ));
        let stale = approve("legal", &content("Something else").sha256());
        assert_eq!(
            incident.review_statement(id, stale, &legal(), at(3)),
            Err(DomainError::StatementChangedSinceRead(1))
        );
        let hash = sha(&incident, id);
        incident
            .review_statement(id, approve("legal", &hash), &legal(), at(4))
            .unwrap();
        assert_eq!(
            incident.statement(id).unwrap().status,
            StatementStatus::Submitted,
            "sales has not answered"
        );
        assert_eq!(
            incident.review_statement(id, approve("legal", &hash), &legal(), at(4)),
            Err(DomainError::AlreadyReviewed("legal".into()))
        );
        assert_eq!(
            incident.review_statement(id, approve("hr", &hash), &legal(), at(4)),
            Err(DomainError::NotAnApprover("hr".into()))
        );
        incident
            .review_statement(
                id,
                approve("sales", &hash),
                &Actor::token("sales-head"),
                at(5),
            )
            .unwrap();
        assert_eq!(
            incident.statement(id).unwrap().status,
            StatementStatus::Approved
        );
        let events = incident
            .publish_statement(id, None, None, &pr(), at(6))
            .unwrap();
        assert!(matches!(
            &events[..],
            [EventData::StatementPublished { approved_by, preapproved_template: None, .. }]
                if approved_by == "legal (token:legal-reviewer), sales (token:sales-head)"
        ));
    }

    #[test]
    fn nobody_who_wrote_a_version_approves_it() {
        let (mut incident, id) = submitted(&["legal"]);
        let hash = sha(&incident, id);
        assert_eq!(
            incident.review_statement(id, approve("legal", &hash), &pr(), at(3)),
            Err(DomainError::OwnStatement(1))
        );
        // A co-author who edited it is an author too.
        incident
            .edit_statement(id, content("Edited by legal"), &legal(), at(4))
            .unwrap();
        incident
            .submit_statement(id, &policy(&["legal"]), &pr(), at(5))
            .unwrap();
        let hash = sha(&incident, id);
        assert_eq!(
            incident.review_statement(id, approve("legal", &hash), &legal(), at(6)),
            Err(DomainError::OwnStatement(1))
        );
    }

    #[test]
    fn an_edit_after_approval_voids_it_on_the_chain() {
        let (mut incident, id) = submitted(&["legal"]);
        let hash = sha(&incident, id);
        incident
            .review_statement(id, approve("legal", &hash), &legal(), at(3))
            .unwrap();
        let events = incident
            .edit_statement(id, content("We are aware."), &pr(), at(4))
            .unwrap();
        assert!(matches!(
            &events[..],
            [EventData::StatementEdited { version: 2, voided_approvals, previous_sha256, .. }]
                if voided_approvals == &["legal"] && previous_sha256 == &hash
        ));
        let statement = incident.statement(id).unwrap();
        assert_eq!(statement.status, StatementStatus::Draft);
        assert_eq!(
            statement.previous.as_ref().map(|c| c.text.as_str()),
            Some("We are aware and looking into it.")
        );
        assert!(
            incident
                .publish_statement(id, None, None, &pr(), at(5))
                .is_err()
        );
        assert_eq!(
            incident.edit_statement(id, content("We are aware."), &pr(), at(5)),
            Err(DomainError::StatementUnchanged(1))
        );
    }

    #[test]
    fn a_filled_in_approved_template_goes_out_pre_approved_and_an_altered_one_does_not() {
        let template = Template {
            id: "holding".into(),
            title: "Holding".into(),
            language: "en".into(),
            text: "We are aware of {issue}. Update by {time}.".into(),
            approved_by: Some("Dominique Bernard".into()),
        };
        let from_template = |text: &str| Draft {
            content: content(text),
            template: Some(TemplateUse {
                id: template.id.clone(),
                text: template.text.clone(),
                sha256: template.sha256(),
                approved_by: template.approved_by.clone(),
            }),
        };
        let mut incident = incident();
        let filled = Uuid::now_v7();
        incident.draft_statement(
            filled,
            from_template("We are aware of posts about us. Update by 18:00."),
            &pr(),
            at(1),
        );
        let events = incident
            .publish_statement(filled, None, None, &pr(), at(2))
            .unwrap();
        assert!(matches!(
            &events[..],
            [EventData::StatementPublished { preapproved_template: Some(id), approved_by, .. }]
                if id == "holding" && approved_by.contains("Dominique Bernard")
        ));
        // Edited beyond its placeholders: it needs an approval like any other.
        let altered = Uuid::now_v7();
        incident.draft_statement(
            altered,
            from_template("We are aware of posts about us. Update by 18:00."),
            &pr(),
            at(3),
        );
        incident
            .edit_statement(
                altered,
                content("We are aware of posts about us. No update planned."),
                &pr(),
                at(4),
            )
            .unwrap();
        assert!(matches!(
            incident.publish_statement(altered, None, None, &pr(), at(5)),
            Err(DomainError::StatementNotApproved { number: 2, .. })
        ));
    }

    #[test]
    fn publishing_a_successor_supersedes_the_statement_it_names() {
        let (mut incident, first) = submitted(&["legal"]);
        let hash = sha(&incident, first);
        incident
            .review_statement(first, approve("legal", &hash), &legal(), at(3))
            .unwrap();
        incident
            .publish_statement(first, None, None, &pr(), at(4))
            .unwrap();
        let second = Uuid::now_v7();
        incident.draft_statement(
            second,
            Draft {
                content: content("Update: resolved."),
                template: None,
            },
            &pr(),
            at(5),
        );
        incident
            .submit_statement(second, &policy(&["legal"]), &pr(), at(6))
            .unwrap();
        let hash = sha(&incident, second);
        incident
            .review_statement(second, approve("legal", &hash), &legal(), at(7))
            .unwrap();
        let events = incident
            .publish_statement(
                second,
                Some("https://example.com/news".into()),
                Some(first),
                &pr(),
                at(8),
            )
            .unwrap();
        assert_eq!(events.len(), 2);
        assert_eq!(
            incident.statement(first).unwrap().status,
            StatementStatus::Superseded
        );
        assert_eq!(incident.last_published_at(), Some(at(8)));
        assert_eq!(
            incident.edit_statement(first, content("x"), &pr(), at(9)),
            Err(DomainError::StatementPublished(1))
        );
    }

    #[test]
    fn an_unanswered_approval_climbs_the_ladder_and_stops_when_answered() {
        let (mut incident, id) = submitted(&["legal"]);
        let events = vec![EventData::StatementSubmitted {
            statement_id: id,
            number: 1,
            version: 1,
            sha256: sha(&incident, id),
            approvers: vec!["legal".into()],
            due_at: at(17),
        }];
        let timers = chase::timers_for(&incident, &events);
        assert_eq!(timers.len(), 1);
        assert_eq!(timers[0].purpose, Purpose::Approve);
        let incident_id = incident.id;
        let timer = |stage: i64| DueTimer {
            id: timers[0].id,
            incident_id,
            department: "legal".into(),
            task_id: None,
            purpose: Purpose::Approve,
            stage,
            due_at: at(17),
            version: 0,
            clock: None,
            statement: Some(StatementRef { id, version: 1 }),
        };
        let recipients = |decision: Decision| match decision {
            Decision::Chase { events, .. } => match &events[..] {
                [EventData::Chased { recipients, .. }] => recipients.clone(),
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        };
        assert_eq!(
            recipients(chase::decide(&incident, &timer(0), at(17))),
            ["legal-head@example.com"]
        );
        assert_eq!(
            recipients(chase::decide(&incident, &timer(1), at(32))),
            ["legal-deputy@example.com"]
        );
        assert_eq!(
            recipients(chase::decide(&incident, &timer(2), at(47))),
            ["commander@example.com"]
        );
        let hash = sha(&incident, id);
        incident
            .review_statement(id, approve("legal", &hash), &legal(), at(48))
            .unwrap();
        assert_eq!(
            chase::decide(&incident, &timer(2), at(48)),
            Decision::Cancel
        );
    }
}
