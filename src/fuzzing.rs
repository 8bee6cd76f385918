//! What the fuzz targets in `fuzz/` check, kept here so that
//! `tests/fuzz_regressions.rs` replays seeds and past crashes through the
//! very same checks on stable Rust. Not part of tocsin's API.
//!
//! Each `check_*` takes the raw fuzz input, runs the code under test and
//! returns how far the input got, or the invariant it broke. A panic inside
//! tocsin is a finding too: libFuzzer reports it as a crash, the test fails.

use std::fmt;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use crate::domain::regulatory::schedule;
use crate::domain::{Incident, Line, NewIncident, Prose, Severity};
use crate::http::{LinkAction, link_action, link_secret};
use crate::inbound::DOCUMENTED_COMMAND_WORDS;
use crate::playbook::{Catalog, Diagnostics, PlaybookFile};
use crate::secret::parse_secret;
use crate::timeline::export::{FORMAT, IncidentSummary};
use crate::timeline::{ChainHead, ChainedEvent, verify_head};
use crate::timeline::{verify_export, verify_export_with_key};

/// An invariant the input broke: the fuzz target panics with it, the
/// regression test fails with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation(pub String);

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Violation {}

fn ensure(condition: bool, message: impl FnOnce() -> String) -> Result<(), Violation> {
    if condition {
        Ok(())
    } else {
        Err(Violation(message()))
    }
}

/// Where an input got to, so the regression test can insist that some
/// seeds reach the deep end of each target rather than bounce off its door.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The code under test accepted the input (catalog built, export
    /// verified, link secret and form both read).
    Accepted,
    /// It refused the input, and said so correctly.
    Refused,
}

// ---------------------------------------------------------------------------
// playbook_loader

/// Byte that separates files in a playbook fuzz input; TOML text never holds
/// a raw NUL, so real files split cleanly.
pub const FILE_SEPARATOR: u8 = 0;
/// More department and regime files than this are ignored: enough for the
/// shipped playbooks and every cross-file rule, few enough to keep
/// executions fast.
pub const MAX_FILES: usize = 12;

/// The files a playbook fuzz input holds: `organisation.toml`, then for
/// each further file a separator, its name, a newline and its content. A
/// name `regimes/<id>` is a regime file; any other names a department.
pub fn split_playbooks(data: &[u8]) -> PlaybookFiles {
    let mut parts = data.split(|byte| *byte == FILE_SEPARATOR);
    let organisation = PlaybookFile {
        path: PathBuf::from("organisation.toml"),
        content: parts.next().unwrap_or_default().to_vec(),
    };
    let mut files = PlaybookFiles {
        organisation,
        departments: Vec::new(),
        regimes: Vec::new(),
    };
    for part in parts.take(MAX_FILES) {
        let (name, content) = match part.iter().position(|byte| *byte == b'\n') {
            Some(at) => (&part[..at], &part[at + 1..]),
            None => (part, &[][..]),
        };
        let name = String::from_utf8_lossy(name);
        let (folder, list) = match name.strip_prefix("regimes/") {
            Some(id) => (
                Path::new("regimes").join(format!("{id}.toml")),
                &mut files.regimes,
            ),
            None => (
                Path::new("departments").join(format!("{name}.toml")),
                &mut files.departments,
            ),
        };
        list.push(PlaybookFile {
            path: folder,
            content: content.to_vec(),
        });
    }
    files
}

/// The playbook files of one fuzz input.
pub struct PlaybookFiles {
    pub organisation: PlaybookFile,
    pub departments: Vec<PlaybookFile>,
    pub regimes: Vec<PlaybookFile>,
}

/// The fuzz input for these files: the inverse of [`split_playbooks`].
pub fn join_playbooks(organisation: &[u8], departments: &[(&str, &[u8])]) -> Vec<u8> {
    let mut data = organisation.to_vec();
    for (id, content) in departments {
        data.push(FILE_SEPARATOR);
        data.extend_from_slice(id.as_bytes());
        data.push(b'\n');
        data.extend_from_slice(content);
    }
    data
}

/// The loader never panics; every problem it reports points inside the file
/// it names; a catalog it accepts can open an incident for every scenario
/// at every severity, with every dependency inside the plan.
pub fn check_playbook_loader(data: &[u8]) -> Result<Outcome, Violation> {
    let PlaybookFiles {
        organisation,
        departments,
        regimes,
    } = split_playbooks(data);
    let files: Vec<PlaybookFile> = std::iter::once(organisation.clone())
        .chain(departments.iter().cloned())
        .chain(regimes.iter().cloned())
        .collect();
    match Catalog::from_files(organisation, departments, regimes) {
        Err(diagnostics) => {
            check_diagnostics(&diagnostics, &files)?;
            Ok(Outcome::Refused)
        }
        Ok(catalog) => {
            check_catalog(&catalog)?;
            Ok(Outcome::Accepted)
        }
    }
}

fn check_diagnostics(diagnostics: &Diagnostics, files: &[PlaybookFile]) -> Result<(), Violation> {
    ensure(!diagnostics.is_empty(), || {
        "the loader refused the files without saying why".to_owned()
    })?;
    for diagnostic in diagnostics {
        ensure(!diagnostic.message.trim().is_empty(), || {
            format!("empty message at {diagnostic}")
        })?;
        let named: Vec<&PlaybookFile> =
            files.iter().filter(|f| f.path == diagnostic.file).collect();
        if named.is_empty() {
            // Only the departments directory is named without being a file.
            ensure(
                diagnostic.file == Path::new("departments")
                    && (diagnostic.line, diagnostic.column) == (1, 1),
                || format!("names no file given: {diagnostic}"),
            )?;
            continue;
        }
        // Files given twice share a path: the spot must be in one of them.
        ensure(
            named
                .iter()
                .any(|file| points_inside(&file.content, diagnostic.line, diagnostic.column)),
            || format!("points outside the file it names: {diagnostic}"),
        )?;
    }
    Ok(())
}

/// Line and column (1-based, columns in characters) name a character of
/// the text, or the spot just after a line's last one.
fn points_inside(content: &[u8], line: usize, column: usize) -> bool {
    let text = String::from_utf8_lossy(content);
    let Some(line) = line
        .checked_sub(1)
        .and_then(|index| text.split('\n').nth(index))
    else {
        return false;
    };
    (1..=line.chars().count() + 1).contains(&column)
}

/// A moment well after today, for opening incidents from a fuzzed catalog.
fn far_future() -> DateTime<Utc> {
    DateTime::from_timestamp(4_102_444_800, 0).unwrap_or_default() // 2100-01-01
}

fn check_catalog(catalog: &Catalog) -> Result<(), Violation> {
    let departments = catalog.departments();
    ensure(!departments.is_empty(), || {
        "a catalog with no department".to_owned()
    })?;
    ensure(
        departments.windows(2).all(|pair| pair[0].id < pair[1].id),
        || "departments are not sorted by id, or an id repeats".to_owned(),
    )?;
    for department in departments {
        ensure(!department.deputies.is_empty(), || {
            format!("department `{}` has no deputy", department.id)
        })?;
        for item in &department.items {
            for key in &item.depends_on {
                let found = key.split_once('/').and_then(|(d, i)| {
                    catalog
                        .department(d)
                        .and_then(|d| d.items.iter().find(|item| item.id == i))
                });
                ensure(found.is_some(), || {
                    format!("{}/{} depends on missing {key}", department.id, item.id)
                })?;
            }
        }
    }
    check_regimes(catalog)?;
    let commander = &catalog.organisation().commander;
    for scenario in catalog.scenarios() {
        for id in &scenario.departments {
            ensure(catalog.department(id).is_some(), || {
                format!("scenario `{}` engages unknown `{id}`", scenario.id)
            })?;
        }
        for severity in Severity::ALL {
            let Some(plan) = catalog.plan(&scenario.id, severity) else {
                return Err(Violation(format!("no plan for scenario `{}`", scenario.id)));
            };
            let keys: Vec<String> = plan
                .departments
                .iter()
                .flat_map(|d| d.tasks.iter().map(|t| t.key()))
                .collect();
            for task in plan.departments.iter().flat_map(|d| &d.tasks) {
                ensure(task.ack_within <= task.complete_within, || {
                    format!("{} is due before it must be acknowledged", task.key())
                })?;
                for key in &task.depends_on {
                    ensure(keys.contains(key), || {
                        format!("{} depends on {key}, not in the plan", task.key())
                    })?;
                }
            }
            // What the engine does on trigger: must not panic, whatever the
            // timings the playbooks allowed.
            let new = NewIncident {
                title: Line::parse("fuzz").map_err(|error| Violation(error.to_string()))?,
                summary: Prose::parse("fuzz").map_err(|error| Violation(error.to_string()))?,
                commander: commander.person(),
                opened_by: "token:fuzz".into(),
            };
            let (incident, _) = Incident::open(new, &plan, far_future());
            ensure(incident.tasks().count() == keys.len(), || {
                format!("an incident for `{}` lost tasks", scenario.id)
            })?;
        }
    }
    Ok(())
}

/// Every regime the loader accepts has a department to chase, and each
/// step's clock, started at the calendar's edges, has a deadline after its
/// start and a chase schedule in time order that ends at the deadline.
fn check_regimes(catalog: &Catalog) -> Result<(), Violation> {
    for regime in catalog.regimes() {
        ensure(catalog.regime_contacts(regime).is_some(), || {
            format!("regime `{}` chases nobody", regime.id)
        })?;
        for step in &regime.steps {
            for start in [far_future(), DateTime::<Utc>::UNIX_EPOCH] {
                let Some(due) = step.deadline.within.after(start) else {
                    continue;
                };
                ensure(due > start, || {
                    format!("{}/{} is due when its clock starts", regime.id, step.id)
                })?;
                let points = schedule(step, due);
                ensure(
                    points.windows(2).all(|pair| pair[0].0 <= pair[1].0)
                        && points.last().map(|(at, _)| *at) == Some(due),
                    || format!("{}/{} chases out of order", regime.id, step.id),
                )?;
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// timeline_verify

/// The public key the committed timeline seeds are signed with: RFC 8032's
/// first test key, as in `docs/timeline-format.md` (never a real key).
pub const SEED_PUBLIC_KEY: &str = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";
/// Its seed, for the generator of the timeline seeds.
pub const SEED_SIGNING_KEY: &str = "nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=";

/// Edits applied at most, in an input that edits a seed.
pub const MAX_EDITS: usize = 4;

/// The export a timeline fuzz input stands for. An input that starts with
/// `{` is an export as it is. Any other picks one of the signed `seeds` (in
/// file-name order) with its first byte and edits it with the rest, four
/// bytes an edit (see [`edit_export`]): most such inputs stay signed
/// exports but for the edits, so every check of the verifier is reached.
pub fn timeline_export(seeds: &[&[u8]], data: &[u8]) -> Vec<u8> {
    match data.split_first() {
        Some((b'{', _)) | None => data.to_vec(),
        Some((pick, edits)) => match seeds.get(usize::from(*pick) % seeds.len().max(1)) {
            Some(seed) => edit_export(seed, edits),
            None => data.to_vec(),
        },
    }
}

/// Applies up to [`MAX_EDITS`] edits of four bytes each: what to do, where
/// (little-endian u16, modulo the length) and a byte. They change, insert
/// or delete a byte, or repeat or drop the object member found from there
/// on: a key given twice, or a missing one, is how a file is doctored
/// without breaking its JSON.
pub fn edit_export(seed: &[u8], edits: &[u8]) -> Vec<u8> {
    let mut text = seed.to_vec();
    for edit in edits.chunks_exact(4).take(MAX_EDITS) {
        let &[what, low, high, byte] = edit else {
            break;
        };
        if text.is_empty() {
            break;
        }
        let at = usize::from(u16::from_le_bytes([low, high])) % text.len();
        match what % 5 {
            0 => {
                if let Some(old) = text.get_mut(at) {
                    *old = byte;
                }
            }
            1 => text.insert(at, byte),
            2 => {
                text.remove(at);
            }
            3 => {
                if let Some(member) = member_from(&text, at) {
                    let mut copy = text.get(member.clone()).unwrap_or_default().to_vec();
                    copy.push(b',');
                    text.splice(member.start..member.start, copy);
                }
            }
            _ => {
                if let Some(member) = member_from(&text, at) {
                    // Take a comma with it, after or else before.
                    let end = if text.get(member.end) == Some(&b',') {
                        member.end + 1
                    } else {
                        member.end
                    };
                    let start = if end == member.end && member.start > 0 {
                        member.start - usize::from(text.get(member.start - 1) == Some(&b','))
                    } else {
                        member.start
                    };
                    text.drain(start..end);
                }
            }
        }
    }
    text
}

/// The first `"key": value` member of an object starting at or after
/// `from`, as a byte range; a rough scan, good enough to doctor a file.
fn member_from(text: &[u8], from: usize) -> Option<std::ops::Range<usize>> {
    let before_is = |at: usize, wanted: &[u8]| {
        text.get(..at)
            .and_then(|head| head.iter().rev().find(|b| !b.is_ascii_whitespace()))
            .is_some_and(|b| wanted.contains(b))
    };
    let string_end = |start: usize| {
        let mut at = start + 1;
        while let Some(byte) = text.get(at) {
            match byte {
                b'\\' => at += 2,
                b'"' => return Some(at + 1),
                _ => at += 1,
            }
        }
        None
    };
    let mut start = from;
    loop {
        start += text.get(start..)?.iter().position(|b| *b == b'"')?;
        let key_end = string_end(start)?;
        let colon = text
            .get(key_end..)?
            .iter()
            .position(|b| !b.is_ascii_whitespace())?;
        if before_is(start, b"{,") && text.get(key_end + colon) == Some(&b':') {
            let mut at = key_end + colon + 1;
            let mut depth = 0usize;
            while let Some(byte) = text.get(at) {
                match byte {
                    b'"' => {
                        at = string_end(at)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' if depth == 0 => return Some(start..at),
                    b'}' | b']' => depth -= 1,
                    b',' if depth == 0 => return Some(start..at),
                    _ => {}
                }
                at += 1;
            }
            return None;
        }
        start += 1;
    }
}

/// [`check_timeline_export`] on the export the input stands for (see
/// [`timeline_export`]).
pub fn check_timeline_verify(seeds: &[&[u8]], data: &[u8]) -> Result<Outcome, Violation> {
    check_timeline_export(&timeline_export(seeds, data))
}

/// The verifier never panics, and says an export verifies exactly when an
/// independent reading of `docs/timeline-format.md` does: every object of
/// the signed part has unique keys (a reader must not be able to see other
/// values than the ones hashed), each event's values are the values hashed,
/// the links hold from genesis to the signed head, and the signature is
/// good (and by [`SEED_PUBLIC_KEY`], when that key is the trusted one).
pub fn check_timeline_export(data: &[u8]) -> Result<Outcome, Violation> {
    let report = verify_export(data);
    let trusted = verify_export_with_key(data, SEED_PUBLIC_KEY);
    let reference = reference_verify(data, None);
    let reference_trusted = reference_verify(data, Some(SEED_PUBLIC_KEY));

    for (report, reference, which) in [
        (&report, &reference, "verify_export"),
        (&trusted, &reference_trusted, "verify_export_with_key"),
    ] {
        match reference {
            Ok(head) if !report.ok => {
                return Err(Violation(format!(
                    "{which} refused an export that checks out to head {} {}: {report}",
                    head.seq, head.hash
                )));
            }
            Err(why) if report.ok => {
                return Err(Violation(format!(
                    "{which} verified an export that does not check out ({why}): {report}"
                )));
            }
            _ => {}
        }
        if report.ok {
            let head = report.head.as_ref();
            ensure(
                report.first_break.is_none()
                    && report.signature == crate::timeline::SignatureStatus::Valid
                    && head.is_some_and(|h| i64::try_from(report.events).ok() == Some(h.seq)),
                || format!("{which} says ok but its report disagrees: {report:?}"),
            )?;
        }
    }
    ensure(!trusted.ok || report.ok, || {
        "verified with a trusted key but not without one".to_owned()
    })?;
    Ok(if report.ok {
        Outcome::Accepted
    } else {
        Outcome::Refused
    })
}

/// A straightforward verifier: the whole export in memory, every step of
/// `docs/timeline-format.md` section 3 in order. Returns the verified head.
fn reference_verify(data: &[u8], trusted_key: Option<&str>) -> Result<ChainHead, String> {
    let export: ReferenceExport = serde_json::from_slice(data).map_err(|e| e.to_string())?;
    let field = |value: Option<Value>, name: &str| value.ok_or(format!("no `{name}`"));
    let format = field(export.format, "format")?;
    if format.as_str() != Some(FORMAT) {
        return Err(format!("format {format}"));
    }
    // Not signed, but a summary of the wrong shape is not an export.
    let incident: IncidentSummary = serde_json::from_value(field(export.incident, "incident")?)
        .map_err(|e| format!("incident: {e}"))?;
    let incident_id = incident.id;
    let head: ChainHead =
        serde_json::from_value(field(export.head, "head")?).map_err(|e| e.to_string())?;
    let text = |value: Option<Value>, name: &str| -> Result<String, String> {
        field(value, name)?
            .as_str()
            .map(str::to_owned)
            .ok_or(format!("`{name}` is not a string"))
    };
    let signature = text(export.signature, "signature")?;
    let public_key = text(export.public_key, "public_key")?;

    verify_head(&public_key, &head, &signature).map_err(|e| e.to_string())?;
    if let Some(trusted) = trusted_key
        && trusted.trim() != public_key.trim()
    {
        return Err("signed by another key".to_owned());
    }
    if head.incident_id != incident_id {
        return Err("head of another incident".to_owned());
    }

    let mut last = ChainHead::genesis(incident_id);
    for (index, value) in field(export.events, "events")?
        .as_array()
        .ok_or("`events` is not an array")?
        .iter()
        .enumerate()
    {
        let event: ChainedEvent =
            serde_json::from_value(value.clone()).map_err(|e| format!("event {index}: {e}"))?;
        // Only whole microseconds are hashed: any finer digit written is
        // a value the hash does not cover.
        if !event.at.timestamp_subsec_nanos().is_multiple_of(1000) {
            return Err(format!("event {index}: `at` finer than the hash covers"));
        }
        let expected_seq = last.seq + 1;
        if event.incident_id != incident_id
            || event.seq != expected_seq
            || event.prev_hash != last.hash
            || event.recompute_hash() != event.hash
        {
            return Err(format!("event {index} does not link"));
        }
        last = ChainHead::from(&event);
    }
    if last != head {
        return Err("events do not end at the signed head".to_owned());
    }
    Ok(head)
}

/// The members of an export the reference looks at, read with unique keys
/// at every depth; the others are skipped.
#[derive(Default)]
struct ReferenceExport {
    format: Option<Value>,
    incident: Option<Value>,
    head: Option<Value>,
    signature: Option<Value>,
    public_key: Option<Value>,
    events: Option<Value>,
}

impl<'de> Deserialize<'de> for ReferenceExport {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(ReferenceExportVisitor)
    }
}

struct ReferenceExportVisitor;

impl<'de> Visitor<'de> for ReferenceExportVisitor {
    type Value = ReferenceExport;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an export object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ReferenceExport, A::Error> {
        let mut export = ReferenceExport::default();
        while let Some(key) = map.next_key::<String>()? {
            let slot = match key.as_str() {
                "format" => &mut export.format,
                "incident" => &mut export.incident,
                "signature" => &mut export.signature,
                "public_key" => &mut export.public_key,
                "head" => &mut export.head,
                "events" => &mut export.events,
                // `departments`, `exported_at`: a summary nobody checks.
                _ => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            if slot.replace(map.next_value::<Unique>()?.0).is_some() {
                return Err(de::Error::custom(format!("duplicate `{key}`")));
            }
        }
        Ok(export)
    }
}

/// Any JSON value, refusing an object that names a key twice (RFC 8785
/// section 3.1 requires I-JSON, which forbids it). Deliberately not
/// `timeline::chain::unique_keys`: the reference must not share the
/// verifier's mistakes.
struct Unique(Value);

impl<'de> Deserialize<'de> for Unique {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(UniqueVisitor).map(Unique)
    }
}

struct UniqueVisitor;

impl<'de> Visitor<'de> for UniqueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        serde_json::Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("not a finite number"))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        Unique::deserialize(deserializer).map(|unique| unique.0)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Unique(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let Unique(value) = map.next_value()?;
            if object.insert(key.clone(), value).is_some() {
                return Err(de::Error::custom(format!("key `{key}` appears twice")));
            }
        }
        Ok(Value::Object(object))
    }
}

// ---------------------------------------------------------------------------
// link_token

/// The link request a fuzz input stands for: the raw path segment after
/// `/links/`, a newline, the Content-Type, a newline, the body.
pub fn split_link_request(data: &[u8]) -> (String, Vec<u8>, Vec<u8>) {
    let mut parts = data.splitn(3, |byte| *byte == b'\n');
    let segment = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    let content_type = parts.next().unwrap_or_default().to_vec();
    let body = parts.next().unwrap_or_default().to_vec();
    (segment, content_type, body)
}

/// The fuzz input for a link request: the inverse of [`split_link_request`].
pub fn join_link_request(segment: &str, content_type: &str, body: &str) -> Vec<u8> {
    format!("{segment}\n{content_type}\n{body}").into_bytes()
}

fn is_secret(text: &str) -> bool {
    text.len() == 64 && text.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f'))
}

/// What the link routes read before any database look-up never panics; a
/// secret comes out only as 64 lowercase hex digits, and always does when
/// that is what the path holds; a form read as an action reads back the
/// same when written out again, with its free text trimmed.
pub fn check_link_token(data: &[u8]) -> Result<Outcome, Violation> {
    let (segment, content_type, body) = split_link_request(data);

    ensure(
        parse_secret(&segment).is_some() == is_secret(&segment),
        || format!("parse_secret disagrees on {segment:?}"),
    )?;
    let secret = link_secret(&segment);
    if let Some(secret) = &secret {
        ensure(is_secret(secret), || {
            format!("accepted secret {secret:?} from {segment:?}")
        })?;
    }
    ensure(
        !is_secret(&segment) || secret.as_deref() == Some(&segment),
        || format!("refused the well-formed secret {segment:?}"),
    )?;

    let header = axum::http::HeaderValue::from_bytes(&content_type).ok();
    let action = link_action(header.as_ref(), &body);
    if let Ok(action) = &action {
        let trimmed =
            |text: &Option<String>| text.as_ref().is_none_or(|t| !t.is_empty() && t.trim() == t);
        let (name, text_key, text, sha256) = match action {
            LinkAction::Acknowledge => ("acknowledge", "note", &None, None),
            LinkAction::Confirm => ("confirm", "note", &None, None),
            LinkAction::Complete { note } => ("complete", "note", note, None),
            LinkAction::Skip { reason } => ("skip", "reason", reason, None),
            LinkAction::Approve { sha256 } => ("approve", "note", &None, Some(sha256)),
            LinkAction::RequestChanges { sha256, note } => {
                ("request_changes", "note", note, Some(sha256))
            }
        };
        ensure(trimmed(text), || format!("untrimmed text in {action:?}"))?;
        ensure(trimmed(&sha256.cloned()), || {
            format!("untrimmed hash in {action:?}")
        })?;
        let mut fields = vec![("action", name)];
        if let Some(text) = text {
            fields.push((text_key, text.as_str()));
        }
        if let Some(sha256) = sha256 {
            fields.push(("sha256", sha256.as_str()));
        }
        let again = serde_urlencoded::to_string(&fields).map_err(|e| Violation(e.to_string()))?;
        let form = axum::http::HeaderValue::from_static("application/x-www-form-urlencoded");
        let reread = link_action(Some(&form), again.as_bytes());
        ensure(reread.as_ref() == Ok(action), || {
            format!("{action:?} written as {again:?} reads back as {reread:?}")
        })?;
    }
    Ok(if secret.is_some() && action.is_ok() {
        Outcome::Accepted
    } else {
        Outcome::Refused
    })
}

// ---------------------------------------------------------------------------
// reply_reader

/// The delivery a reply fuzz input stands for: the envelope recipient (none
/// when empty), a newline, the raw message.
pub fn split_delivery(data: &[u8]) -> (Option<String>, &[u8]) {
    let (recipient, raw) = match data.iter().position(|byte| *byte == b'\n') {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[][..]),
    };
    let recipient = String::from_utf8_lossy(recipient).into_owned();
    ((!recipient.is_empty()).then_some(recipient), raw)
}

/// The fuzz input for a delivery: the inverse of [`split_delivery`].
pub fn join_delivery(recipient: &str, raw: &[u8]) -> Vec<u8> {
    [recipient.as_bytes(), b"\n", raw].concat()
}

/// The one panic mail-parser 0.11 is known for: a `debug_assert!` in its
/// part walk, reached by malformed multiparts when debug assertions are on
/// (as fuzzing builds them). The reply reader catches it and calls the
/// message unwalkable; the fuzz target's panic hook lets this one unwind to
/// that catch rather than abort. Any other panic stays a finding.
pub fn is_known_parser_panic(info: &std::panic::PanicHookInfo<'_>) -> bool {
    let payload = info.payload();
    let message = payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str));
    let in_part_walk = info.location().is_some_and(|at| {
        at.file().contains("mail-parser-0.11") && at.file().ends_with("src/parsers/message.rs")
    });
    in_part_walk && message == Some("Invalid part ID, could not find multipart.")
}

fn is_key(text: &str) -> bool {
    (1..=128).contains(&text.len())
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Text as a command or note carries it: something, trimmed.
fn is_trimmed_text(text: &str) -> bool {
    !text.is_empty() && text.trim() == text
}

/// The reply reader never panics, and reads the same bytes the same way;
/// its evidence hashes exactly the raw bytes; every key is URL-safe, given
/// once, in the documented order of sources, and a sub-address key is in
/// the recipient; a reply's own words hold no quoted line, and only a
/// documented word acts, with its text trimmed and a skip's reason given.
pub fn check_reply_reader(data: &[u8]) -> Result<Outcome, Violation> {
    use sha2::{Digest, Sha256};

    use crate::inbound::command::fold;
    use crate::inbound::{Command, Inbound, KeySource, read_message};

    let (recipient, raw) = split_delivery(data);
    let read = read_message(raw, recipient.as_deref());
    ensure(read == read_message(raw, recipient.as_deref()), || {
        "the same bytes read twice differently".to_owned()
    })?;
    let Ok(received) = read else {
        return Ok(Outcome::Refused);
    };

    let sha256 = hex::encode(Sha256::digest(raw));
    ensure(received.evidence.sha256 == sha256, || {
        format!("evidence hash {} for {sha256}", received.evidence.sha256)
    })?;

    let rank = |source: KeySource| match source {
        KeySource::EnvelopeRecipient => 0,
        KeySource::BouncedMessage => 1,
        KeySource::InReplyTo => 2,
        KeySource::References => 3,
    };
    for (at, candidate) in received.keys.iter().enumerate() {
        ensure(is_key(&candidate.key), || {
            format!("key candidate {:?} is no URL-safe key", candidate.key)
        })?;
        ensure(
            received.keys[..at].iter().all(|k| k.key != candidate.key),
            || format!("key {:?} given twice", candidate.key),
        )?;
        ensure(
            at == 0 || rank(received.keys[at - 1].source) <= rank(candidate.source),
            || format!("keys out of order: {:?}", received.keys),
        )?;
        ensure(
            candidate.source != KeySource::EnvelopeRecipient
                || recipient
                    .as_deref()
                    .is_some_and(|r| r.contains(&format!("+{}@", candidate.key))),
            || format!("key {:?} not in the recipient {recipient:?}", candidate.key),
        )?;
    }

    if let Inbound::Human(reply) = &received.inbound {
        ensure(
            reply
                .text
                .lines()
                .all(|line| !line.trim_start().starts_with('>')),
            || format!("quoted history in the reply's own words {:?}", reply.text),
        )?;
        if let Ok(command) = &reply.command {
            // Words apart by any blank space: "bien  reçu" acknowledges too.
            let folded = fold(&reply.text)
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            ensure(
                !command.acts()
                    || DOCUMENTED_COMMAND_WORDS
                        .iter()
                        .any(|w| folded.starts_with(w)),
                || format!("{command:?} from undocumented words {:?}", reply.text),
            )?;
            let text_ok = match command {
                Command::Acknowledge | Command::Away => true,
                Command::Done { note } => note.as_deref().is_none_or(is_trimmed_text),
                Command::Skip { reason } => is_trimmed_text(reason),
                Command::Note { text } => is_trimmed_text(text),
            };
            ensure(text_ok, || {
                format!("untrimmed or empty text in {command:?}")
            })?;
        }
    }
    Ok(Outcome::Accepted)
}
