//! Reads one playbook file into raw, span-carrying values, checking what can
//! be checked within that file alone.
//!
//! The TOML is walked by hand rather than through serde so that every
//! unknown key, missing key and bad value in a file is reported, not just the
//! first one serde stops at.

use std::collections::{BTreeMap, HashSet};
use std::ops::Range;
use std::time::Duration;

use chrono_tz::Tz;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::address;
use super::catalog::{Contact, Timing, effective};
use super::diagnostics::{Diagnostic, SourceFile};
use crate::domain::Severity;
use crate::domain::briefing::Member;
use crate::domain::regulatory::{DossierField, Period, Prefill, Start, StepRule, Term};
use crate::domain::statement::{self, Template};

type Span = Range<usize>;

pub(super) struct RawOrganisation {
    pub name: String,
    /// Spanned, as every contact here, at its email address.
    pub commander: Option<Spanned<Contact>>,
    /// Optional: reminded of the regimes that set `copy_dpo`.
    pub data_protection_officer: Option<Spanned<Contact>>,
    /// Optional: where deadlines in mails are also shown in local time.
    pub timezone: Option<Tz>,
    pub scenarios: Vec<RawScenario>,
    pub templates: Vec<Template>,
}

pub(super) struct RawScenario {
    pub id: Spanned<String>,
    pub title: String,
    pub description: String,
    /// As written; `*` (alone) means every department.
    pub departments: Vec<Spanned<String>>,
    /// Candidate regime ids, as written (slugs, no duplicates).
    pub regimes: Vec<Spanned<String>>,
    /// Who approves statements from which severity, lowest `from` first.
    pub approvals: Vec<RawApproval>,
}

/// `[[scenario.approval]]`: from `from` upwards, statements need every
/// listed department's approval, each rung of its chase `within` apart.
pub(super) struct RawApproval {
    pub from: Severity,
    /// Department ids, checked against the department files by the loader.
    pub departments: Vec<Spanned<String>>,
    pub within: Duration,
}

pub(super) struct RawDepartment {
    pub name: String,
    pub crisis_question: String,
    /// Spanned at their email addresses, where problems with them are reported.
    pub head: Option<Spanned<Contact>>,
    pub deputies: Vec<Spanned<Contact>>,
    pub items: Vec<RawItem>,
}

pub(super) struct RawItem {
    pub id: Spanned<String>,
    pub title: String,
    pub description: String,
    /// As written; `*` (alone) means every scenario engaging the department.
    pub scenarios: Vec<Spanned<String>>,
    pub min_severity: Severity,
    pub required: bool,
    pub ack_within: Duration,
    pub complete_within: Duration,
    /// As written: `item` or `dept/item`, both already checked to be slugs.
    pub depends_on: Vec<Spanned<String>>,
    pub by_severity: BTreeMap<Severity, Timing>,
}

/// A regime file, checked within itself; its department (and the DPO it
/// copies) are checked against the other files by the loader.
pub(super) struct RawRegime {
    pub title: String,
    pub authority: String,
    pub citation: String,
    pub source: String,
    pub department: Option<Spanned<String>>,
    /// Spanned at the value, where a missing DPO is reported.
    pub copy_dpo: Option<Spanned<bool>>,
    pub steps: Vec<StepRule>,
    pub dossier: Vec<DossierField>,
}

/// An audience file, checked within itself; its scenarios are checked
/// against organisation.toml by the loader.
pub(super) struct RawAudience {
    pub title: String,
    pub external: bool,
    /// As written; empty for every scenario.
    pub scenarios: Vec<Spanned<String>>,
    pub min_severity: Severity,
    pub confirm: bool,
    pub remind_after: Duration,
    pub members: Vec<Member>,
}

const AUDIENCE_KEYS: &[&str] = &[
    "title",
    "external",
    "scenarios",
    "min_severity",
    "confirm",
    "remind_after",
    "member",
];
const MEMBER_KEYS: &[&str] = &["name", "email", "department"];

/// A signal source file, checked within itself; its scenarios are checked
/// against organisation.toml by the loader.
pub(super) struct RawSignalSource {
    pub title: String,
    pub rules: Vec<RawSignalRule>,
    /// None (reported) when missing or unreadable.
    pub default: Option<RawSignalAction>,
}

pub(super) struct RawSignalRule {
    pub contains_any: Vec<String>,
    pub action: RawSignalAction,
}

pub(super) struct RawSignalAction {
    pub scenario: Spanned<String>,
    pub severity: Severity,
    pub confirm_first: bool,
}

const SIGNAL_KEYS: &[&str] = &["title", "rule", "default"];
const SIGNAL_RULE_KEYS: &[&str] = &["contains_any", "scenario", "severity", "confirm_first"];
const SIGNAL_DEFAULT_KEYS: &[&str] = &["scenario", "severity", "confirm_first"];

const ORGANISATION_KEYS: &[&str] = &[
    "name",
    "commander",
    "data_protection_officer",
    "timezone",
    "scenario",
    "template",
];
const CONTACT_KEYS: &[&str] = &["name", "email"];
const SCENARIO_KEYS: &[&str] = &[
    "id",
    "title",
    "description",
    "departments",
    "regimes",
    "approval",
];
const APPROVAL_KEYS: &[&str] = &["from", "departments", "within"];
const TEMPLATE_KEYS: &[&str] = &["id", "title", "language", "text", "approved"];
const TEMPLATE_APPROVAL_KEYS: &[&str] = &["by", "sha256"];
const REGIME_KEYS: &[&str] = &[
    "title",
    "authority",
    "citation",
    "source",
    "department",
    "copy_dpo",
    "step",
    "dossier",
];
const STEP_KEYS: &[&str] = &[
    "id",
    "title",
    "citation",
    "after",
    "within",
    "no_later_than",
    "reminders",
    "deputies_before",
    "late_needs_reasons",
];
const TERM_KEYS: &[&str] = &["after", "within"];
const DOSSIER_KEYS: &[&str] = &["label", "citation", "prefill"];

/// A step's reminders when it names none: those of these that are shorter
/// than the step's period (a 4-hour step is not reminded a day ahead).
const DEFAULT_REMINDERS: [Duration; 2] = [
    Duration::from_secs(24 * 60 * 60),
    Duration::from_secs(4 * 60 * 60),
];
/// When the deputies are chased when a step does not say.
const DEFAULT_DEPUTIES_BEFORE: Duration = Duration::from_secs(60 * 60);
const DEPARTMENT_KEYS: &[&str] = &["name", "crisis_question", "head", "deputies", "item"];
const ITEM_KEYS: &[&str] = &[
    "id",
    "title",
    "description",
    "scenarios",
    "min_severity",
    "required",
    "ack_within",
    "complete_within",
    "depends_on",
    "by_severity",
];
const TIMING_KEYS: &[&str] = &["ack_within", "complete_within"];

/// The longest time an item may allow. Deadlines are dates, so some bound
/// is needed (300000 years overflowed the calendar when an incident was
/// opened), and a crisis checklist item due in more than a year is a typo.
const LONGEST: Duration = Duration::from_secs(366 * 24 * 60 * 60);

/// Parses `organisation.toml`; None when its TOML does not parse, so that
/// other files are not checked against a half-read organisation.
pub(super) fn organisation(
    source: &SourceFile,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<RawOrganisation> {
    read_file(source, diagnostics, ORGANISATION_KEYS, |reader, root| {
        let name = reader.string(root, "name", true);
        let commander = reader
            .table(root, "commander", true, "[commander]")
            .and_then(|table| reader.contact(&table));
        let data_protection_officer = reader
            .table(
                root,
                "data_protection_officer",
                false,
                "[data_protection_officer]",
            )
            .and_then(|table| reader.contact(&table));
        let timezone = reader
            .string(root, "timezone", false)
            .and_then(|name| reader.timezone(&name));

        let mut scenarios: Vec<RawScenario> = Vec::new();
        let tables = reader.tables(root, "scenario", "[[scenario]]");
        let declared = root.entries.get("scenario");
        if tables.is_empty() && declared.is_none_or(|value| value.get_ref().is_array()) {
            reader.error(
                &declared.map_or(root.span.clone(), Spanned::span),
                "no scenarios: add at least one [[scenario]] with id, title and departments",
            );
        }
        let mut seen = HashSet::new();
        for table in tables {
            let Some(scenario) = reader.scenario(&table) else {
                continue;
            };
            if !seen.insert(scenario.id.get_ref().clone()) {
                reader.error(
                    &scenario.id.span(),
                    format!("duplicate scenario id `{}`", scenario.id.get_ref()),
                );
                continue;
            }
            scenarios.push(scenario);
        }

        let mut templates: Vec<Template> = Vec::new();
        for table in reader.tables(root, "template", "[[template]]") {
            let Some((id, template)) = reader.template(&table) else {
                continue;
            };
            if templates.iter().any(|seen| seen.id == template.id) {
                reader.error(
                    &id.span(),
                    format!("duplicate template id `{}`", template.id),
                );
                continue;
            }
            templates.push(template);
        }

        RawOrganisation {
            name: name.map(Spanned::into_inner).unwrap_or_default(),
            commander,
            data_protection_officer,
            timezone,
            scenarios,
            templates,
        }
    })
}

/// Parses `departments/<id>.toml`; None when its TOML does not parse.
pub(super) fn department(
    source: &SourceFile,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<RawDepartment> {
    read_file(source, diagnostics, DEPARTMENT_KEYS, |reader, root| {
        let name = reader.string(root, "name", true);
        let crisis_question = reader.string(root, "crisis_question", false);
        let head = reader
            .table(root, "head", true, "[head]")
            .and_then(|table| reader.contact(&table));

        let deputy_tables = reader.tables(root, "deputies", "[[deputies]]");
        if deputy_tables.is_empty() {
            let span = root
                .entries
                .get("deputies")
                .map_or(root.span.clone(), Spanned::span);
            reader.error(
                &span,
                "the department has no deputies: add at least one [[deputies]] with name and \
             email, so there is someone to escalate to",
            );
        }
        let deputies: Vec<Spanned<Contact>> = deputy_tables
            .iter()
            .filter_map(|table| reader.contact(table))
            .collect();
        reader.check_deputies(head.as_ref(), &deputies);

        let mut items: Vec<RawItem> = Vec::new();
        let mut seen = HashSet::new();
        for table in reader.tables(root, "item", "[[item]]") {
            let Some(item) = reader.item(&table) else {
                continue;
            };
            if !seen.insert(item.id.get_ref().clone()) {
                reader.error(
                    &item.id.span(),
                    format!(
                        "duplicate item id `{}` in this department",
                        item.id.get_ref()
                    ),
                );
                continue;
            }
            items.push(item);
        }

        RawDepartment {
            name: name.map(Spanned::into_inner).unwrap_or_default(),
            crisis_question: crisis_question.map(Spanned::into_inner).unwrap_or_default(),
            head,
            deputies,
            items,
        }
    })
}

/// Parses `audiences/<id>.toml`; None when its TOML does not parse.
pub(super) fn audience(
    source: &SourceFile,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<RawAudience> {
    read_file(source, diagnostics, AUDIENCE_KEYS, |reader, root| {
        let title = reader.string(root, "title", true);
        let external = reader.value(root, "external", true).and_then(|value| {
            let flag = value.get_ref().as_bool();
            if flag.is_none() {
                reader.wrong_type(value, "external", "true or false");
            }
            flag
        });
        let scenarios = reader
            .strings(root, "scenarios", false)
            .map(|list| list.into_inner())
            .unwrap_or_default();
        let min_severity = reader.severity(root);
        let confirm = reader.boolean(root, "confirm").unwrap_or(false);
        let remind_after = reader.duration(root, "remind_after", confirm);
        let mut members: Vec<Member> = Vec::new();
        let tables = reader.tables(root, "member", "[[member]]");
        if tables.is_empty() {
            reader.error(
                &root.span,
                "the audience has no members: add [[member]] entries with name and email",
            );
        }
        for table in tables {
            reader.check_keys(&table, MEMBER_KEYS);
            let department = reader
                .string(&table, "department", false)
                .map(Spanned::into_inner)
                .unwrap_or_default();
            let Some(contact) = reader.member_contact(&table) else {
                continue;
            };
            let email = contact.get_ref().email.to_string();
            if members
                .iter()
                .any(|member| member.email.eq_ignore_ascii_case(&email))
            {
                reader.error(&contact.span(), format!("{email} is listed twice"));
                continue;
            }
            members.push(Member {
                name: contact.get_ref().name.clone(),
                email,
                department,
            });
        }
        RawAudience {
            title: title.map(Spanned::into_inner).unwrap_or_default(),
            external: external.unwrap_or(false),
            scenarios,
            min_severity: min_severity.unwrap_or(Severity::Low),
            confirm,
            remind_after: remind_after.map_or(Duration::ZERO, Spanned::into_inner),
            members,
        }
    })
}

/// Parses `signals/<id>.toml`; None when its TOML does not parse.
pub(super) fn signal_source(
    source: &SourceFile,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<RawSignalSource> {
    read_file(source, diagnostics, SIGNAL_KEYS, |reader, root| {
        let title = reader.string(root, "title", true);
        let mut rules = Vec::new();
        for table in reader.tables(root, "rule", "[[rule]]") {
            reader.check_keys(&table, SIGNAL_RULE_KEYS);
            let words = reader.strings(&table, "contains_any", true);
            let action = reader.signal_action(&table);
            let Some(words) = words else { continue };
            let words: Vec<String> = words
                .into_inner()
                .into_iter()
                .filter_map(|word| {
                    if word.get_ref().trim().is_empty() {
                        // A blank word would match every signal.
                        reader.error(&word.span(), "`contains_any` words must not be blank");
                        None
                    } else {
                        Some(word.into_inner())
                    }
                })
                .collect();
            if words.is_empty() {
                reader.error(
                    &table.span,
                    "the rule matches nothing: give `contains_any` at least one word",
                );
            }
            if let Some(action) = action {
                rules.push(RawSignalRule {
                    contains_any: words,
                    action,
                });
            }
        }
        let default = reader
            .table(root, "default", true, "[default]")
            .and_then(|table| {
                reader.check_keys(&table, SIGNAL_DEFAULT_KEYS);
                reader.signal_action(&table)
            });
        RawSignalSource {
            title: title.map(Spanned::into_inner).unwrap_or_default(),
            rules,
            default,
        }
    })
}

/// Parses `regimes/<id>.toml`; None when its TOML does not parse.
pub(super) fn regime(source: &SourceFile, diagnostics: &mut Vec<Diagnostic>) -> Option<RawRegime> {
    read_file(source, diagnostics, REGIME_KEYS, |reader, root| {
        let title = reader.string(root, "title", true);
        let authority = reader.string(root, "authority", true);
        let citation = reader.string(root, "citation", true);
        let official = reader.string(root, "source", true);
        if let Some(official) = &official
            && !official.get_ref().starts_with("https://")
        {
            reader.error(
                &official.span(),
                format!(
                    "`source` must be the https:// address of the official text, found {:?}",
                    official.get_ref()
                ),
            );
        }
        let department = reader
            .string(root, "department", true)
            .filter(|id| reader.slug(id, "department"));
        let copy_dpo = reader.value(root, "copy_dpo", false).and_then(|value| {
            let flag = value.get_ref().as_bool();
            if flag.is_none() {
                reader.wrong_type(value, "copy_dpo", "true or false");
            }
            Some(Spanned::new(value.span(), flag?))
        });

        let tables = reader.tables(root, "step", "[[step]]");
        let declared = root.entries.get("step");
        if tables.is_empty() && declared.is_none_or(|value| value.get_ref().is_array()) {
            reader.error(
                &declared.map_or(root.span.clone(), Spanned::span),
                "the regime has no steps: add at least one [[step]] with id, title, citation, \
             after and within",
            );
        }
        // Every step's id as written, so that `submitted:` can tell a later
        // step from one that does not exist.
        let ids: Vec<Option<String>> = tables
            .iter()
            .map(
                |table| match table.entries.get("id").map(Spanned::get_ref) {
                    Some(DeValue::String(id)) => Some(id.to_string()),
                    _ => None,
                },
            )
            .collect();
        let mut steps: Vec<StepRule> = Vec::new();
        for (index, table) in tables.iter().enumerate() {
            let earlier = ids.get(..index).unwrap_or_default();
            let later = ids.get(index + 1..).unwrap_or_default();
            let duplicate = ids
                .get(index)
                .and_then(Option::as_ref)
                .filter(|id| earlier.iter().flatten().any(|seen| seen == *id));
            if let (Some(id), Some(value)) = (duplicate, table.entries.get("id")) {
                reader.error(
                    &value.span(),
                    format!("duplicate step id `{id}` in this regime"),
                );
            }
            let step = reader.step(table, earlier, later);
            if let Some(step) = step.filter(|_| duplicate.is_none()) {
                steps.push(step);
            }
        }

        let dossier = reader
            .tables(root, "dossier", "[[dossier]]")
            .iter()
            .filter_map(|table| reader.dossier_field(table))
            .collect();

        RawRegime {
            title: title.map(Spanned::into_inner).unwrap_or_default(),
            authority: authority.map(Spanned::into_inner).unwrap_or_default(),
            citation: citation.map(Spanned::into_inner).unwrap_or_default(),
            source: official.map(Spanned::into_inner).unwrap_or_default(),
            department,
            copy_dpo,
            steps,
            dossier,
        }
    })
}

/// The shortest time `period` can allow, wherever its clock starts: what a
/// reminder must be shorter than to ever be sent after the clock started.
fn shortest(period: Period) -> Duration {
    const HOUR: u64 = 60 * 60;
    const DAY: u64 = 24 * HOUR;
    match period {
        Period::Clock(duration) => duration,
        Period::UsBusinessDays(0) | Period::Months(0) => Duration::ZERO,
        // From a start just before midnight to 17:30 on the last business
        // day, with no weekend in between, less an hour should clocks go
        // forward.
        Period::UsBusinessDays(days) => {
            Duration::from_secs(u64::from(days - 1) * DAY + 16 * HOUR + 30 * 60)
        }
        // February.
        Period::Months(months) => Duration::from_secs(u64::from(months) * 28 * DAY),
    }
}

fn show(duration: Duration) -> String {
    humantime::format_duration(duration).to_string()
}

/// Reads one playbook file's TOML and checks its top-level keys against
/// `keys`, then lets `read` take it from there; None when the TOML does not
/// parse (reported), so that other files are not checked against a half-read one.
fn read_file<'s, T>(
    source: &'s SourceFile,
    diagnostics: &'s mut Vec<Diagnostic>,
    keys: &[&str],
    read: impl FnOnce(&mut Reader<'s>, &Table<'_, 's>) -> T,
) -> Option<T> {
    let mut reader = Reader {
        source,
        diagnostics,
    };
    let document = reader.document()?;
    let root = Table {
        entries: document.get_ref(),
        span: 0..0,
        label: "the top level".to_owned(),
    };
    reader.check_keys(&root, keys);
    Some(read(&mut reader, &root))
}

/// Ids become URL segments and `dept/item` keys, so keep them plain.
pub(super) fn is_slug(id: &str) -> bool {
    id.bytes()
        .next()
        .is_some_and(|first| first.is_ascii_alphanumeric())
        && id
            .bytes()
            .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-')
}

pub(super) const SLUG_RULE: &str =
    "use lowercase ascii letters, digits and hyphens, starting with a letter or digit";

/// A table being read, with what to call it in messages and where to point
/// when one of its keys is missing.
struct Table<'t, 'i> {
    entries: &'t DeTable<'i>,
    span: Span,
    label: String,
}

struct Reader<'s> {
    source: &'s SourceFile,
    diagnostics: &'s mut Vec<Diagnostic>,
}

impl<'s> Reader<'s> {
    fn error(&mut self, span: &Span, message: impl Into<String>) {
        self.diagnostics.push(self.source.diagnostic(span, message));
    }

    fn document(&mut self) -> Option<Spanned<DeTable<'s>>> {
        let (document, errors) = DeTable::parse_recoverable(&self.source.text);
        if errors.is_empty() {
            return Some(document);
        }
        for error in errors {
            let span = error.span().unwrap_or(0..0);
            self.error(&span, format!("invalid TOML: {}", error.message()));
        }
        None
    }

    fn check_keys(&mut self, table: &Table<'_, '_>, allowed: &[&str]) {
        for key in table.entries.keys() {
            if !allowed.contains(&key.get_ref().as_ref()) {
                self.error(
                    &key.span(),
                    format!(
                        "unknown key `{}` in {}; expected one of: {}",
                        key.get_ref(),
                        table.label,
                        allowed.join(", ")
                    ),
                );
            }
        }
    }

    fn value<'t, 'i>(
        &mut self,
        table: &Table<'t, 'i>,
        key: &str,
        required: bool,
    ) -> Option<&'t Spanned<DeValue<'i>>> {
        let value = table.entries.get(key);
        if value.is_none() && required {
            self.error(
                &table.span,
                format!("missing required key `{key}` in {}", table.label),
            );
        }
        value
    }

    fn wrong_type(&mut self, value: &Spanned<DeValue<'_>>, key: &str, expected: &str) {
        self.error(
            &value.span(),
            format!(
                "`{key}` must be {expected}, found {}",
                value.get_ref().type_str()
            ),
        );
    }

    fn string(
        &mut self,
        table: &Table<'_, '_>,
        key: &str,
        required: bool,
    ) -> Option<Spanned<String>> {
        let value = self.value(table, key, required)?;
        match value.get_ref() {
            DeValue::String(text) => Some(Spanned::new(value.span(), text.to_string())),
            _ => {
                self.wrong_type(value, key, "a string");
                None
            }
        }
    }

    fn boolean(&mut self, table: &Table<'_, '_>, key: &str) -> Option<bool> {
        let value = self.value(table, key, false)?;
        let boolean = value.get_ref().as_bool();
        if boolean.is_none() {
            self.wrong_type(value, key, "true or false");
        }
        boolean
    }

    /// A list of strings; None (reported) if it is not one.
    fn strings(
        &mut self,
        table: &Table<'_, '_>,
        key: &str,
        required: bool,
    ) -> Option<Spanned<Vec<Spanned<String>>>> {
        let value = self.value(table, key, required)?;
        let Some(array) = value.get_ref().as_array() else {
            self.wrong_type(value, key, "a list of strings");
            return None;
        };
        let mut strings = Vec::new();
        for element in array.iter() {
            match element.get_ref() {
                DeValue::String(text) => {
                    strings.push(Spanned::new(element.span(), text.to_string()));
                }
                _ => self.wrong_type(element, key, "a list of strings"),
            }
        }
        Some(Spanned::new(value.span(), strings))
    }

    fn table<'t, 'i>(
        &mut self,
        table: &Table<'t, 'i>,
        key: &str,
        required: bool,
        label: &str,
    ) -> Option<Table<'t, 'i>> {
        let value = self.value(table, key, required)?;
        match value.get_ref() {
            DeValue::Table(entries) => Some(Table {
                entries,
                span: value.span(),
                label: label.to_owned(),
            }),
            _ => {
                self.wrong_type(value, key, "a table");
                None
            }
        }
    }

    /// An array of tables (`[[key]]` or `key = [{...}]`); empty if absent.
    fn tables<'t, 'i>(
        &mut self,
        table: &Table<'t, 'i>,
        key: &str,
        label: &str,
    ) -> Vec<Table<'t, 'i>> {
        let Some(value) = self.value(table, key, false) else {
            return Vec::new();
        };
        let Some(array) = value.get_ref().as_array() else {
            self.wrong_type(value, key, &format!("an array of tables ({label})"));
            return Vec::new();
        };
        let mut tables = Vec::new();
        for element in array.iter() {
            match element.get_ref() {
                DeValue::Table(entries) => tables.push(Table {
                    entries,
                    span: element.span(),
                    label: label.to_owned(),
                }),
                _ => self.wrong_type(element, key, &format!("an array of tables ({label})")),
            }
        }
        tables
    }

    fn slug(&mut self, id: &Spanned<String>, what: &str) -> bool {
        let valid = is_slug(id.get_ref());
        if !valid {
            self.error(
                &id.span(),
                format!("invalid {what} id {:?}: {SLUG_RULE}", id.get_ref()),
            );
        }
        valid
    }

    fn duration(
        &mut self,
        table: &Table<'_, '_>,
        key: &str,
        required: bool,
    ) -> Option<Spanned<Duration>> {
        let text = self.string(table, key, required)?;
        self.parse_duration(&text, key)
    }

    /// An IANA time zone name, exactly as the database spells it.
    fn timezone(&mut self, name: &Spanned<String>) -> Option<Tz> {
        let parsed = name.get_ref().parse::<Tz>().ok();
        if parsed.is_none() {
            self.error(
                &name.span(),
                format!(
                    "unknown time zone {:?} in `timezone`: use an IANA name such as \"Europe/Paris\"",
                    name.get_ref()
                ),
            );
        }
        parsed
    }

    /// A duration written as text: longer than zero, at most a year.
    fn parse_duration(&mut self, text: &Spanned<String>, key: &str) -> Option<Spanned<Duration>> {
        match humantime::parse_duration(text.get_ref()) {
            Ok(duration) if duration.is_zero() => {
                self.error(&text.span(), format!("`{key}` must be longer than zero"));
                None
            }
            Ok(duration) if duration > LONGEST => {
                self.error(
                    &text.span(),
                    format!(
                        "`{key}` is {:?}, longer than a year: write at most \"366d\"",
                        text.get_ref()
                    ),
                );
                None
            }
            Ok(duration) => Some(Spanned::new(text.span(), duration)),
            Err(error) => {
                self.error(
                    &text.span(),
                    format!(
                        "invalid duration {:?} for `{key}`: {error} (write e.g. \"30m\", \"2h\", \"1h 30m\")",
                        text.get_ref()
                    ),
                );
                None
            }
        }
    }

    fn contact(&mut self, table: &Table<'_, '_>) -> Option<Spanned<Contact>> {
        self.check_keys(table, CONTACT_KEYS);
        self.member_contact(table)
    }

    /// A name and an address, checked, in a table that may hold more keys.
    fn member_contact(&mut self, table: &Table<'_, '_>) -> Option<Spanned<Contact>> {
        let name = self.string(table, "name", true);
        let email = self.string(table, "email", true)?;
        let address = match email.get_ref().parse::<lettre::Address>() {
            Ok(address) => address,
            Err(error) => {
                self.error(
                    &email.span(),
                    format!("invalid email address {:?}: {error}", email.get_ref()),
                );
                return None;
            }
        };
        for problem in address::problems(&address) {
            self.error(&email.span(), problem);
        }
        let contact = Contact {
            name: name?.into_inner(),
            email: address,
        };
        Some(Spanned::new(email.span(), contact))
    }

    /// Escalation goes from the head to the deputies: a deputy who is the
    /// head, or is listed twice, only looks like one more person to call.
    fn check_deputies(&mut self, head: Option<&Spanned<Contact>>, deputies: &[Spanned<Contact>]) {
        for (index, deputy) in deputies.iter().enumerate() {
            let email = &deputy.get_ref().email;
            let is = |other: &&Spanned<Contact>| address::same(&other.get_ref().email, email);
            if let Some(head) = head.filter(is) {
                let line = self.source.line(head.span().start);
                self.error(
                    &deputy.span(),
                    format!(
                        "deputy {:?} is the head of this department (line {line}): escalation \
                         would go back to the same person; name someone else",
                        email.to_string()
                    ),
                );
            } else if let Some(first) = deputies.get(..index).unwrap_or_default().iter().find(is) {
                let line = self.source.line(first.span().start);
                self.error(
                    &deputy.span(),
                    format!(
                        "deputy {:?} is listed twice (first at line {line}): remove one",
                        email.to_string()
                    ),
                );
            }
        }
    }

    /// The `*`-means-all list shape shared by scenario departments and item
    /// scenarios; reports an empty list, a misplaced `*`, bad ids, duplicates.
    fn id_list(
        &mut self,
        list: &Spanned<Vec<Spanned<String>>>,
        key: &str,
        what: &str,
        empty: &str,
    ) -> Vec<Spanned<String>> {
        let entries = list.get_ref();
        if entries.is_empty() {
            self.error(&list.span(), empty.to_owned());
            return Vec::new();
        }
        let mut kept = Vec::new();
        let mut seen = HashSet::new();
        for entry in entries {
            if entry.get_ref() == "*" {
                if entries.len() > 1 {
                    self.error(
                        &entry.span(),
                        format!("`*` in `{key}` means all {what}s and must stand alone: write `{key} = [\"*\"]`"),
                    );
                    continue;
                }
            } else if !self.slug(entry, what) {
                continue;
            }
            if !seen.insert(entry.get_ref().clone()) {
                self.error(
                    &entry.span(),
                    format!("{what} `{}` is listed twice", entry.get_ref()),
                );
                continue;
            }
            kept.push(entry.clone());
        }
        kept
    }

    fn scenario(&mut self, table: &Table<'_, '_>) -> Option<RawScenario> {
        self.check_keys(table, SCENARIO_KEYS);
        let id = self.string(table, "id", true);
        let title = self.string(table, "title", true);
        let description = self.string(table, "description", false);
        let departments = self
            .strings(table, "departments", true)
            .map(|list| {
                self.id_list(
                    &list,
                    "departments",
                    "department",
                    "the scenario engages no department: list department ids, or [\"*\"] for all",
                )
            })
            .unwrap_or_default();
        let regimes = self.regime_ids(table);
        let approvals = self.approvals(table);
        let id = id?;
        if !self.slug(&id, "scenario") {
            return None;
        }
        Some(RawScenario {
            id,
            title: title.map(Spanned::into_inner).unwrap_or_default(),
            description: description.map(Spanned::into_inner).unwrap_or_default(),
            departments,
            regimes,
            approvals,
        })
    }

    /// A scenario's `[[scenario.approval]]` rules, sorted by `from`, each
    /// severity at most once.
    fn approvals(&mut self, table: &Table<'_, '_>) -> Vec<RawApproval> {
        let mut approvals: Vec<RawApproval> = Vec::new();
        for rule in self.tables(table, "approval", "[[scenario.approval]]") {
            self.check_keys(&rule, APPROVAL_KEYS);
            let from = match self.string(&rule, "from", false) {
                None => Some(Severity::Low),
                Some(text) => match text.get_ref().parse::<Severity>() {
                    Ok(severity) => Some(severity),
                    Err(error) => {
                        self.error(&text.span(), format!("invalid `from`: {error}"));
                        None
                    }
                },
            };
            let departments = self
                .strings(&rule, "departments", true)
                .map(|list| {
                    self.id_list(
                        &list,
                        "departments",
                        "department",
                        "the approval names no department: list who must approve statements",
                    )
                })
                .unwrap_or_default();
            let within = self.duration(&rule, "within", true);
            let (Some(from), Some(within)) = (from, within) else {
                continue;
            };
            if approvals.iter().any(|seen| seen.from == from) {
                self.error(
                    &rule.span,
                    format!("two approval rules start at `{from}`: keep one"),
                );
                continue;
            }
            approvals.push(RawApproval {
                from,
                departments,
                within: within.into_inner(),
            });
        }
        approvals.sort_by_key(|rule| rule.from);
        approvals
    }

    /// A `[[template]]`: a holding statement with `{placeholders}`. When
    /// `approved` is set, its `sha256` must be the text's: a template edited
    /// after legal approved it no longer loads as approved.
    fn template(&mut self, table: &Table<'_, '_>) -> Option<(Spanned<String>, Template)> {
        self.check_keys(table, TEMPLATE_KEYS);
        let id = self.string(table, "id", true);
        let title = self.string(table, "title", true);
        let language = self.string(table, "language", true);
        let text = self.string(table, "text", true);
        let approved = self
            .table(table, "approved", false, "[template.approved]")
            .map(|approval| {
                self.check_keys(&approval, TEMPLATE_APPROVAL_KEYS);
                let by = self.string(&approval, "by", true);
                let sha256 = self.string(&approval, "sha256", true);
                (by, sha256)
            });
        let (id, text) = (id?, text?);
        if !self.slug(&id, "template") {
            return None;
        }
        if statement::has_adjacent_placeholders(text.get_ref()) {
            self.error(
                &text.span(),
                "two placeholders touch: put words or punctuation between them, so a filled-in \
                 text says which value is which",
            );
        }
        let template = Template {
            id: id.get_ref().clone(),
            title: title.map(Spanned::into_inner).unwrap_or_default(),
            language: language.map(Spanned::into_inner).unwrap_or_default(),
            text: text.into_inner(),
            approved_by: None,
        };
        let approved_by = match approved {
            Some((Some(by), Some(sha256))) => {
                let actual = template.sha256();
                if !sha256.get_ref().eq_ignore_ascii_case(&actual) {
                    self.error(
                        &sha256.span(),
                        format!(
                            "the template's text has changed since it was approved (its sha256 \
                             is now {actual}): have it approved again, then write the new hash"
                        ),
                    );
                }
                Some(by.into_inner())
            }
            _ => None,
        };
        Some((
            id,
            Template {
                approved_by,
                ..template
            },
        ))
    }

    fn item(&mut self, table: &Table<'_, '_>) -> Option<RawItem> {
        self.check_keys(table, ITEM_KEYS);
        let id = self.string(table, "id", true);
        let title = self.string(table, "title", true);
        let description = self.string(table, "description", false);
        let scenarios = self
            .strings(table, "scenarios", true)
            .map(|list| {
                self.id_list(
                    &list,
                    "scenarios",
                    "scenario",
                    "the item applies to no scenario: list scenario ids, or [\"*\"] for all",
                )
            })
            .unwrap_or_default();
        let min_severity = self.severity(table);
        let required = self.boolean(table, "required");
        let ack_within = self.duration(table, "ack_within", true);
        let complete_within = self.duration(table, "complete_within", true);
        let depends_on = self.dependencies(table);
        let by_severity = self.by_severity(table);

        if let (Some(ack), Some(complete)) = (&ack_within, &complete_within) {
            self.check_timings(ack, complete, &by_severity);
        }

        let id = id?;
        if !self.slug(&id, "item") {
            return None;
        }
        Some(RawItem {
            id,
            title: title.map(Spanned::into_inner).unwrap_or_default(),
            description: description.map(Spanned::into_inner).unwrap_or_default(),
            scenarios,
            min_severity: min_severity.unwrap_or(Severity::Low),
            required: required.unwrap_or(true),
            ack_within: ack_within.map_or(Duration::ZERO, Spanned::into_inner),
            complete_within: complete_within.map_or(Duration::ZERO, Spanned::into_inner),
            depends_on,
            by_severity: by_severity
                .into_iter()
                .map(|(severity, timing)| {
                    let timing = Timing {
                        ack_within: timing.ack_within.map(Spanned::into_inner),
                        complete_within: timing.complete_within.map(Spanned::into_inner),
                    };
                    (severity, timing)
                })
                .collect(),
        })
    }

    /// A scenario's candidate regimes: slugs, each once. Whether a file
    /// exists for each is checked by the loader.
    fn regime_ids(&mut self, table: &Table<'_, '_>) -> Vec<Spanned<String>> {
        let Some(list) = self.strings(table, "regimes", false) else {
            return Vec::new();
        };
        let mut kept: Vec<Spanned<String>> = Vec::new();
        for id in list.into_inner() {
            if !self.slug(&id, "regime") {
                continue;
            }
            if kept.iter().any(|seen| seen.get_ref() == id.get_ref()) {
                self.error(
                    &id.span(),
                    format!("regime `{}` is listed twice", id.get_ref()),
                );
                continue;
            }
            kept.push(id);
        }
        kept
    }

    /// One `[[step]]`; `earlier` and `later` are the ids written before and
    /// after it, whether or not those steps are valid, so that one bad step
    /// does not make the next one's `submitted:` look dangling.
    fn step(
        &mut self,
        table: &Table<'_, '_>,
        earlier: &[Option<String>],
        later: &[Option<String>],
    ) -> Option<StepRule> {
        self.check_keys(table, STEP_KEYS);
        let id = self.string(table, "id", true);
        let title = self.string(table, "title", true);
        let citation = self.string(table, "citation", true);
        let own = id.as_ref().map(|id| id.get_ref().as_str());
        let deadline = self.term(table, own, earlier, later);
        let no_later_than = self
            .table(table, "no_later_than", false, "`no_later_than`")
            .and_then(|limit| {
                self.check_keys(&limit, TERM_KEYS);
                let term = self.term(&limit, own, earlier, later)?;
                Some((term, limit.span))
            });
        if let (Some(deadline), Some((limit, span))) = (&deadline, &no_later_than)
            && deadline.after.get_ref() == limit.after.get_ref()
        {
            self.error(
                span,
                format!(
                    "`no_later_than` runs from `{}`, as the step itself does: a second limit \
                     from the same start adds nothing; write the shorter period in `within`",
                    limit.after.get_ref()
                ),
            );
        }
        let late_needs_reasons = self.boolean(table, "late_needs_reasons");
        let chase = deadline
            .as_ref()
            .and_then(|deadline| self.chase(table, *deadline.within.get_ref(), &deadline.within));

        let id = id?;
        if !self.slug(&id, "step") {
            return None;
        }
        let (reminders, deputies_before) = chase?;
        Some(StepRule {
            id: id.into_inner(),
            title: title?.into_inner(),
            citation: citation?.into_inner(),
            deadline: deadline?.into_term(),
            no_later_than: no_later_than.map(|(limit, _)| limit.into_term()),
            reminders,
            deputies_before,
            late_needs_reasons: late_needs_reasons.unwrap_or(false),
        })
    }

    /// `after` and `within`, as a step or its `no_later_than` writes them.
    fn term(
        &mut self,
        table: &Table<'_, '_>,
        own: Option<&str>,
        earlier: &[Option<String>],
        later: &[Option<String>],
    ) -> Option<SpannedTerm> {
        let after = self.start(table, own, earlier, later);
        let within = self.period(table);
        Some(SpannedTerm {
            after: after?,
            within: within?,
        })
    }

    fn start(
        &mut self,
        table: &Table<'_, '_>,
        own: Option<&str>,
        earlier: &[Option<String>],
        later: &[Option<String>],
    ) -> Option<Spanned<Start>> {
        let text = self.string(table, "after", true)?;
        let start = match text.get_ref().parse::<Start>() {
            Ok(start) => start,
            Err(error) => {
                self.error(&text.span(), format!("invalid `after`: {error}"));
                return None;
            }
        };
        if let Start::Submitted(step) = &start {
            let problem = if !is_slug(step) {
                Some(format!(
                    "invalid `after`: `submitted:` must be followed by a step id ({SLUG_RULE})"
                ))
            } else if own == Some(step.as_str()) {
                Some(format!(
                    "`after = \"submitted:{step}\"` names this step itself: a step's clock runs \
                     from a fact or from an earlier step's submission"
                ))
            } else if earlier.iter().flatten().any(|id| id == step) {
                None
            } else if later.iter().flatten().any(|id| id == step) {
                Some(format!(
                    "`after = \"submitted:{step}\"` names a later step: a step's clock can only \
                     run from the submission of a step written before it"
                ))
            } else {
                Some(format!(
                    "`after = \"submitted:{step}\"` names no step of this regime"
                ))
            };
            if let Some(problem) = problem {
                self.error(&text.span(), problem);
                return None;
            }
        }
        Some(Spanned::new(text.span(), start))
    }

    /// `within`: longer than zero, at most a year.
    fn period(&mut self, table: &Table<'_, '_>) -> Option<Spanned<Period>> {
        let text = self.string(table, "within", true)?;
        let period = match text.get_ref().parse::<Period>() {
            Ok(period) => period,
            Err(error) => {
                self.error(&text.span(), format!("invalid `within`: {error}"));
                return None;
            }
        };
        // humantime reads "1M" and "1y" as 30.44 and 365.25 days of clock
        // time; a calendar month is written "1 month".
        let calendar_unit = text
            .get_ref()
            .split(|c: char| !c.is_alphabetic())
            .any(|unit| ["M", "y", "year", "years"].contains(&unit));
        if matches!(period, Period::Clock(_)) && calendar_unit {
            self.error(
                &text.span(),
                format!(
                    "invalid `within`: {:?} mixes clock time and calendar units: write calendar \
                     months as \"1 month\", and clock time in hours or days (\"72h\", \"30d\")",
                    text.get_ref()
                ),
            );
            return None;
        }
        // An incident keeps its rules as text (`Period`'s Display): a clock
        // period that would read back as something else ("730h 33m 36s" is
        // displayed "1month") is refused rather than silently changed.
        if period.to_string().parse::<Period>().ok() != Some(period) {
            self.error(
                &text.span(),
                format!(
                    "invalid `within`: {:?} would be stored as {:?}, which reads back \
                     differently: write it in whole hours or days",
                    text.get_ref(),
                    period.to_string()
                ),
            );
            return None;
        }
        let (zero, too_long) = match period {
            Period::Clock(duration) => (duration.is_zero(), duration > LONGEST),
            Period::UsBusinessDays(days) => (days == 0, days > 261),
            Period::Months(months) => (months == 0, months > 12),
        };
        if zero {
            self.error(&text.span(), "`within` must be longer than zero");
            return None;
        }
        if too_long {
            self.error(
                &text.span(),
                format!(
                    "`within` is {:?}, longer than a year: write at most \"366d\", \
                     \"261 us-business-days\" or \"12 months\"",
                    text.get_ref()
                ),
            );
            return None;
        }
        Some(Spanned::new(text.span(), period))
    }

    /// `reminders` and `deputies_before`, checked against the step's period
    /// and each other: the head is reminded, earliest first, before the
    /// deputies are chased, and every reminder falls after the clock starts.
    fn chase(
        &mut self,
        table: &Table<'_, '_>,
        period: Period,
        within: &Spanned<Period>,
    ) -> Option<(Vec<Duration>, Duration)> {
        let longest = shortest(period);
        // As written, for messages: "72h" rather than "3days".
        let period_text = self
            .source
            .text
            .get(within.span())
            .unwrap_or_default()
            .trim_matches(|c| c == '"' || c == '\'')
            .to_owned();
        let mut ok = true;
        let reminders: Vec<Spanned<Duration>> = match self.strings(table, "reminders", false) {
            Some(list) => {
                let mut reminders: Vec<Spanned<Duration>> = Vec::new();
                for text in list.get_ref() {
                    let Some(reminder) = self.parse_duration(text, "reminders") else {
                        ok = false;
                        continue;
                    };
                    if let Some(previous) = reminders.last()
                        && reminder.get_ref() >= previous.get_ref()
                    {
                        self.error(
                            &reminder.span(),
                            format!(
                                "reminders must be strictly decreasing, earliest first: {} is not \
                                 shorter than the {} before it",
                                show(*reminder.get_ref()),
                                show(*previous.get_ref())
                            ),
                        );
                        ok = false;
                    } else if *reminder.get_ref() >= longest {
                        self.error(
                            &reminder.span(),
                            format!(
                                "a reminder {} before the deadline is not shorter than the step's \
                                 period ({period_text}): it would fall before the clock starts",
                                text.get_ref()
                            ),
                        );
                        ok = false;
                    }
                    reminders.push(reminder);
                }
                reminders
            }
            None => DEFAULT_REMINDERS
                .into_iter()
                .filter(|reminder| *reminder < longest)
                .map(|reminder| Spanned::new(within.span(), reminder))
                .collect(),
        };
        let explicit = self.duration(table, "deputies_before", false);
        let deputies_before = match &explicit {
            Some(explicit) => explicit.clone(),
            None if table.entries.contains_key("deputies_before") => return None,
            None => Spanned::new(within.span(), DEFAULT_DEPUTIES_BEFORE),
        };
        let named = if explicit.is_some() {
            "deputies_before"
        } else {
            "the default deputies_before"
        };
        if let Some(last) = reminders
            .last()
            .filter(|last| deputies_before.get_ref() >= last.get_ref())
        {
            self.error(
                &deputies_before.span(),
                format!(
                    "{named} ({}) must be shorter than every reminder, and the last is {}: the \
                     head is reminded before the deputies are chased",
                    show(*deputies_before.get_ref()),
                    show(*last.get_ref())
                ),
            );
            ok = false;
        } else if *deputies_before.get_ref() >= longest {
            self.error(
                &deputies_before.span(),
                format!(
                    "{named} ({}) is not shorter than the step's period ({period_text}): write \
                     a shorter deputies_before",
                    show(*deputies_before.get_ref()),
                ),
            );
            ok = false;
        }
        ok.then(|| {
            (
                reminders.into_iter().map(Spanned::into_inner).collect(),
                deputies_before.into_inner(),
            )
        })
    }

    fn dossier_field(&mut self, table: &Table<'_, '_>) -> Option<DossierField> {
        self.check_keys(table, DOSSIER_KEYS);
        let label = self.string(table, "label", true);
        let citation = self.string(table, "citation", true);
        let prefill = match self.string(table, "prefill", false) {
            None => Some(Prefill::Nothing),
            Some(text) => {
                let prefill = Prefill::parse(text.get_ref());
                if prefill.is_none() {
                    self.error(
                        &text.span(),
                        format!(
                            "unknown prefill {:?}: expected one of {}",
                            text.get_ref(),
                            Prefill::ALL.map(Prefill::as_str).join(", ")
                        ),
                    );
                }
                prefill
            }
        };
        Some(DossierField {
            label: label?.into_inner(),
            citation: citation?.into_inner(),
            prefill: prefill?,
        })
    }

    /// What a signal rule, or a source's default, does.
    fn signal_action(&mut self, table: &Table<'_, '_>) -> Option<RawSignalAction> {
        let scenario = self.string(table, "scenario", true);
        let severity = self.string(table, "severity", true).and_then(|text| {
            match text.get_ref().parse::<Severity>() {
                Ok(severity) => Some(severity),
                Err(error) => {
                    self.error(&text.span(), format!("invalid `severity`: {error}"));
                    None
                }
            }
        });
        let confirm_first = self.boolean(table, "confirm_first").unwrap_or(false);
        Some(RawSignalAction {
            scenario: scenario?,
            severity: severity?,
            confirm_first,
        })
    }

    fn severity(&mut self, table: &Table<'_, '_>) -> Option<Severity> {
        let text = self.string(table, "min_severity", false)?;
        match text.get_ref().parse::<Severity>() {
            Ok(severity) => Some(severity),
            Err(error) => {
                self.error(&text.span(), format!("invalid `min_severity`: {error}"));
                None
            }
        }
    }

    fn dependencies(&mut self, table: &Table<'_, '_>) -> Vec<Spanned<String>> {
        let Some(list) = self.strings(table, "depends_on", false) else {
            return Vec::new();
        };
        let mut kept: Vec<Spanned<String>> = Vec::new();
        for dependency in list.into_inner() {
            let text = dependency.get_ref();
            let parts: Vec<&str> = text.split('/').collect();
            if parts.len() > 2 || !parts.iter().all(|part| is_slug(part)) {
                self.error(
                    &dependency.span(),
                    format!(
                        "invalid dependency {text:?}: write `item` for an item of this department \
                         or `department/item` for another's ({SLUG_RULE})"
                    ),
                );
                continue;
            }
            if kept.iter().any(|seen| seen.get_ref() == text) {
                self.error(
                    &dependency.span(),
                    format!("dependency `{text}` is listed twice"),
                );
                continue;
            }
            kept.push(dependency);
        }
        kept
    }

    fn by_severity(&mut self, table: &Table<'_, '_>) -> BTreeMap<Severity, SpannedTiming> {
        let mut timings = BTreeMap::new();
        let Some(by_severity) = self.table(table, "by_severity", false, "[item.by_severity]")
        else {
            return timings;
        };
        for (key, value) in by_severity.entries.iter() {
            let severity = match key.get_ref().parse::<Severity>() {
                Ok(severity) => severity,
                Err(error) => {
                    self.error(
                        &key.span(),
                        format!("invalid key in `by_severity`: {error}"),
                    );
                    continue;
                }
            };
            let DeValue::Table(entries) = value.get_ref() else {
                self.wrong_type(
                    value,
                    key.get_ref(),
                    "a table with ack_within and/or complete_within",
                );
                continue;
            };
            let entry = Table {
                entries,
                span: value.span(),
                label: format!("[item.by_severity.{severity}]"),
            };
            self.check_keys(&entry, TIMING_KEYS);
            let timing = SpannedTiming {
                ack_within: self.duration(&entry, "ack_within", false),
                complete_within: self.duration(&entry, "complete_within", false),
            };
            if entries.is_empty() {
                self.error(
                    &entry.span,
                    format!(
                        "{} sets neither ack_within nor complete_within",
                        entry.label
                    ),
                );
            }
            timings.insert(severity, timing);
        }
        timings
    }

    /// Deadlines only tighten as severity rises, and an item is acknowledged
    /// before it is complete, at every severity.
    fn check_timings(
        &mut self,
        ack: &Spanned<Duration>,
        complete: &Spanned<Duration>,
        by_severity: &BTreeMap<Severity, SpannedTiming>,
    ) {
        let fields: [(&str, &Spanned<Duration>, TimingField); 2] = [
            ("ack_within", ack, |timing| timing.ack_within.as_ref()),
            ("complete_within", complete, |timing| {
                timing.complete_within.as_ref()
            }),
        ];
        for (name, base, field) in fields {
            let mut previous = (*base.get_ref(), "the base value".to_owned());
            for severity in Severity::ALL {
                let Some(value) = by_severity.get(&severity).and_then(field) else {
                    continue;
                };
                if *value.get_ref() > previous.0 {
                    self.error(
                        &value.span(),
                        format!(
                            "by_severity.{severity}.{name} ({}) is longer than {} ({}): \
                             timings may only tighten as severity rises",
                            humantime::format_duration(*value.get_ref()),
                            previous.1,
                            humantime::format_duration(previous.0),
                        ),
                    );
                }
                previous = (*value.get_ref(), format!("by_severity.{severity}.{name}"));
            }
        }

        for severity in Severity::ALL {
            let ack_at = effective(by_severity, severity, |t| t.ack_within.clone())
                .unwrap_or_else(|| ack.clone());
            let complete_at = effective(by_severity, severity, |t| t.complete_within.clone())
                .unwrap_or_else(|| complete.clone());
            if ack_at.get_ref() > complete_at.get_ref() {
                self.error(
                    &ack_at.span(),
                    format!(
                        "ack_within ({}) is longer than complete_within ({}) at severity {severity}: \
                         an item cannot be completed before it is acknowledged",
                        humantime::format_duration(*ack_at.get_ref()),
                        humantime::format_duration(*complete_at.get_ref()),
                    ),
                );
                break;
            }
        }
    }
}

type TimingField = fn(&SpannedTiming) -> Option<&Spanned<Duration>>;

struct SpannedTiming {
    ack_within: Option<Spanned<Duration>>,
    complete_within: Option<Spanned<Duration>>,
}

/// A term as written, each half at its span.
struct SpannedTerm {
    after: Spanned<Start>,
    within: Spanned<Period>,
}

impl SpannedTerm {
    fn into_term(self) -> Term {
        Term {
            after: self.after.into_inner(),
            within: self.within.into_inner(),
        }
    }
}
