//! Exports of an incident timeline: JSON (verifiable, see
//! `docs/timeline-format.md`), CSV (for spreadsheets) and HTML (a printable
//! report). Each writes events as the iterator yields them, so a timeline of
//! any length streams in constant memory.

use std::borrow::Cow;
use std::io::{self, BufWriter, Write};

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::chain::{ChainHead, ChainedEvent, format_timestamp};

/// The `format` value of a JSON export.
pub const FORMAT: &str = "tocsin-timeline/1";

/// What an export says about the incident besides its events. Only the
/// events and the signed head are tamper-evident; the summaries are a
/// convenience view of the same facts.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportHeader {
    pub incident: IncidentSummary,
    pub departments: Vec<DepartmentSummary>,
    /// Per regulatory regime decided for the incident, what to file.
    pub dossiers: Vec<Dossier>,
    pub head: ChainHead,
    /// [`super::sign::SigningKey::sign_head`] of `head`.
    pub signature: String,
    /// [`super::sign::SigningKey::public_key`] of the signer.
    pub public_key: String,
    pub exported_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct IncidentSummary {
    pub id: Uuid,
    pub reference: String,
    pub title: String,
    pub scenario: String,
    pub severity: String,
    pub status: String,
    pub summary: String,
    pub commander: String,
    pub opened_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub legal_hold: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DepartmentSummary {
    pub id: String,
    pub name: String,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub tasks: Vec<TaskSummary>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TaskSummary {
    pub key: String,
    pub title: String,
    pub status: String,
    pub required: bool,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub acknowledged_by: Option<String>,
    pub closed_at: Option<DateTime<Utc>>,
    pub closed_by: Option<String>,
    pub note: Option<String>,
}

/// A regulatory regime's dossier: what legal decided, each step's clock
/// and filings, and the facts the authority asks for, drafted from the
/// incident for legal to complete and file. Like the other summaries it is
/// a view: the events it is drawn from are the evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Dossier {
    pub regime: String,
    pub title: String,
    pub citation: String,
    pub authority: String,
    /// Where the legal text is.
    pub source: String,
    /// `armed` or `not_notifiable`.
    pub decision: String,
    pub reason: Option<String>,
    pub decided_at: DateTime<Utc>,
    pub decided_by: String,
    pub steps: Vec<DossierStep>,
    pub fields: Vec<DossierField>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DossierStep {
    pub id: String,
    pub title: String,
    pub citation: String,
    pub rule: String,
    pub status: String,
    pub started_at: Option<DateTime<Utc>>,
    pub due_at: Option<DateTime<Utc>>,
    /// One line per filing: when, the reference or hash, late and why.
    pub filings: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DossierField {
    pub label: String,
    pub citation: String,
    /// tocsin's first draft; empty where legal writes it all.
    pub draft: String,
}

/// A time zone name that is not in the IANA database.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown time zone {0:?}: use an IANA name such as Europe/Paris")]
pub struct UnknownTimeZone(pub String);

/// An IANA time zone by name, e.g. `Europe/Paris` or `UTC`.
pub fn parse_tz(name: &str) -> Result<Tz, UnknownTimeZone> {
    // Exactly the names the OpenAPI document lists: no trimming, no case folding.
    name.parse::<Tz>()
        .map_err(|_| UnknownTimeZone(name.to_owned()))
}

/// The JSON export: one object with the keys `format`, `incident`,
/// `departments`, `regulatory` (the dossiers), `events` (one event per
/// line), `head`, `signature`, `public_key`, `exported_at`, in that order.
pub fn write_json<W: Write>(
    out: W,
    header: &ExportHeader,
    events: impl Iterator<Item = ChainedEvent>,
) -> io::Result<()> {
    let mut out = BufWriter::new(out);
    out.write_all(b"{\"format\":")?;
    serde_json::to_writer(&mut out, FORMAT)?;
    out.write_all(b",\n\"incident\":")?;
    serde_json::to_writer(&mut out, &header.incident)?;
    out.write_all(b",\n\"departments\":")?;
    serde_json::to_writer(&mut out, &header.departments)?;
    out.write_all(b",\n\"regulatory\":")?;
    serde_json::to_writer(&mut out, &header.dossiers)?;
    out.write_all(b",\n\"events\":[")?;
    for (i, event) in events.enumerate() {
        out.write_all(if i == 0 { b"\n" } else { b",\n" })?;
        serde_json::to_writer(&mut out, &event)?;
    }
    out.write_all(b"\n],\n\"head\":")?;
    serde_json::to_writer(&mut out, &header.head)?;
    out.write_all(b",\n\"signature\":")?;
    serde_json::to_writer(&mut out, &header.signature)?;
    out.write_all(b",\n\"public_key\":")?;
    serde_json::to_writer(&mut out, &header.public_key)?;
    out.write_all(b",\n\"exported_at\":")?;
    serde_json::to_writer(&mut out, &format_timestamp(header.exported_at))?;
    out.write_all(b"}\n")?;
    out.flush()
}

/// The CSV export: UTF-8 with a byte-order mark (so spreadsheets detect the
/// encoding), CRLF line ends, columns `seq, at_utc, [at_local,] actor, kind,
/// summary, data, prev_hash, hash` (`at_local` only with `tz`). Cells that a
/// spreadsheet would run as a formula get a leading `'`.
pub fn write_csv<W: Write>(
    out: W,
    tz: Option<Tz>,
    events: impl Iterator<Item = ChainedEvent>,
) -> io::Result<()> {
    let mut out = BufWriter::new(out);
    out.write_all("\u{feff}".as_bytes())?;
    {
        let mut csv = csv::WriterBuilder::new()
            .terminator(csv::Terminator::CRLF)
            .from_writer(&mut out);
        let mut columns = vec!["seq", "at_utc"];
        if tz.is_some() {
            columns.push("at_local");
        }
        columns.extend(["actor", "kind", "summary", "data", "prev_hash", "hash"]);
        csv.write_record(&columns)?;
        for event in events {
            let mut row: Vec<String> = vec![event.seq.to_string(), format_timestamp(event.at)];
            if let Some(tz) = tz {
                row.push(
                    event
                        .at
                        .with_timezone(&tz)
                        .format("%Y-%m-%dT%H:%M:%S%.6f%:z")
                        .to_string(),
                );
            }
            row.push(event.actor.clone());
            row.push(event.kind.clone());
            row.push(summarize(&event.kind, &event.data));
            row.push(serde_json::to_string(&event.data)?);
            row.push(event.prev_hash);
            row.push(event.hash);
            csv.write_record(row.iter().map(|cell| defuse_formula(cell).into_owned()))?;
        }
        csv.flush()?;
    }
    out.flush()
}

/// The printable report's regulatory section: per regime, the decision,
/// the clocks and the drafted facts.
fn write_dossiers<W: Write>(out: &mut W, dossiers: &[Dossier], tz: Option<Tz>) -> io::Result<()> {
    if dossiers.is_empty() {
        return Ok(());
    }
    out.write_all(b"<section>\n<h2>Regulatory dossiers</h2>\n")?;
    for dossier in dossiers {
        write!(
            out,
            "<div class=\"dept\">\n<h3>{}</h3>\n<p>{}; to: {}; source: <span class=\"mono\">{}</span></p>\n\
             <p>Decision: {}{} ({}, {})</p>\n",
            esc(&dossier.title),
            esc(&dossier.citation),
            esc(&dossier.authority),
            esc(&dossier.source),
            esc(&dossier.decision.replace('_', " ")),
            dossier
                .reason
                .as_deref()
                .map(|reason| format!(": {}", esc(reason)))
                .unwrap_or_default(),
            esc(&dossier.decided_by),
            when(Some(dossier.decided_at), tz),
        )?;
        if !dossier.steps.is_empty() {
            out.write_all(
                b"<table class=\"tasks\">\n<thead><tr><th>Step</th><th>Rule</th><th>Status</th>\
                  <th>Due</th><th>Filed</th></tr></thead>\n<tbody>\n",
            )?;
            for step in &dossier.steps {
                writeln!(
                    out,
                    "<tr><td>{}<br><span class=\"muted\">{}</span></td><td>{}</td><td>{}</td>\
                     <td>{}</td><td>{}</td></tr>",
                    esc(&step.title),
                    esc(&step.citation),
                    esc(&step.rule),
                    esc(&step.status.replace('_', " ")),
                    when(step.due_at, tz),
                    step.filings
                        .iter()
                        .map(|line| esc(line).into_owned())
                        .collect::<Vec<_>>()
                        .join("<br>"),
                )?;
            }
            out.write_all(b"</tbody>\n</table>\n")?;
        }
        if !dossier.fields.is_empty() {
            out.write_all(b"<table class=\"meta\">\n")?;
            for field in &dossier.fields {
                writeln!(
                    out,
                    "<tr><th>{} <span class=\"muted\">({})</span></th><td class=\"summary\">{}</td></tr>",
                    esc(&field.label),
                    esc(&field.citation),
                    if field.draft.is_empty() {
                        "<em>to complete</em>".to_owned()
                    } else {
                        esc(&field.draft).into_owned()
                    },
                )?;
            }
            out.write_all(b"</table>\n")?;
        }
        out.write_all(b"</div>\n")?;
    }
    out.write_all(b"</section>\n")
}

/// OWASP CSV-injection guard: a cell a spreadsheet would evaluate (leading
/// `=`, `+`, `-`, `@`, tab or CR) is prefixed with `'` so it shows as text.
pub fn defuse_formula(cell: &str) -> Cow<'_, str> {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => Cow::Owned(format!("'{cell}")),
        _ => Cow::Borrowed(cell),
    }
}

/// The printable HTML report: self-contained (inline CSS, no scripts, no
/// external resources), everything escaped. Times are UTC, with local time
/// alongside when `tz` is given.
pub fn write_html<W: Write>(
    out: W,
    header: &ExportHeader,
    tz: Option<Tz>,
    events: impl Iterator<Item = ChainedEvent>,
) -> io::Result<()> {
    let mut out = BufWriter::new(out);
    let inc = &header.incident;
    write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{} — {}</title>\n<style>{}</style>\n</head>\n<body>\n",
        esc(&inc.reference),
        esc(&inc.title),
        CSS
    )?;

    write!(
        out,
        "<header>\n<p class=\"kicker\">Incident timeline report</p>\n<h1>{}: {}</h1>\n",
        esc(&inc.reference),
        esc(&inc.title)
    )?;
    if inc.legal_hold {
        out.write_all(b"<p class=\"hold\">LEGAL HOLD</p>\n")?;
    }
    out.write_all(b"<table class=\"meta\">\n")?;
    let meta_rows: [(&str, String); 10] = [
        ("Status", esc(&inc.status).into_owned()),
        ("Severity", esc(&inc.severity).into_owned()),
        ("Scenario", esc(&inc.scenario).into_owned()),
        ("Commander", esc(&inc.commander).into_owned()),
        ("Opened", when(Some(inc.opened_at), tz)),
        ("Resolved", when(inc.resolved_at, tz)),
        (
            "Legal hold",
            if inc.legal_hold { "yes" } else { "no" }.to_owned(),
        ),
        (
            "Incident id",
            format!("<span class=\"mono\">{}</span>", inc.id),
        ),
        ("Exported", when(Some(header.exported_at), tz)),
        (
            "Time zone",
            match tz {
                Some(tz) => format!("UTC, with local time in {}", esc(tz.name())),
                None => "UTC".to_owned(),
            },
        ),
    ];
    for (label, value) in meta_rows {
        writeln!(out, "<tr><th>{label}</th><td>{value}</td></tr>")?;
    }
    out.write_all(b"</table>\n")?;
    if !inc.summary.is_empty() {
        writeln!(out, "<p class=\"summary\">{}</p>", esc(&inc.summary))?;
    }
    out.write_all(b"</header>\n")?;

    out.write_all(b"<section>\n<h2>Departments</h2>\n")?;
    if header.departments.is_empty() {
        out.write_all(b"<p>No departments engaged.</p>\n")?;
    }
    for dept in &header.departments {
        write!(
            out,
            "<div class=\"dept\">\n<h3>{} <span class=\"muted\">({})</span></h3>\n\
             <p>Acknowledged: {}</p>\n",
            esc(&dept.name),
            esc(&dept.id),
            match dept.acknowledged_at {
                Some(_) => when(dept.acknowledged_at, tz),
                None => "<strong>not acknowledged</strong>".to_owned(),
            }
        )?;
        out.write_all(
            b"<table class=\"tasks\">\n<thead><tr><th>Task</th><th>Status</th>\
              <th>Required</th><th>Acknowledged</th><th>Closed</th><th>Note</th></tr></thead>\n<tbody>\n",
        )?;
        for task in &dept.tasks {
            writeln!(
                out,
                "<tr><td>{}<br><span class=\"mono muted\">{}</span></td><td>{}</td><td>{}</td>\
                 <td>{}{}</td><td>{}{}</td><td>{}</td></tr>",
                esc(&task.title),
                esc(&task.key),
                esc(&task.status),
                if task.required { "yes" } else { "no" },
                when(task.acknowledged_at, tz),
                by(task.acknowledged_by.as_deref()),
                when(task.closed_at, tz),
                by(task.closed_by.as_deref()),
                esc(task.note.as_deref().unwrap_or("")),
            )?;
        }
        out.write_all(b"</tbody>\n</table>\n</div>\n")?;
    }
    out.write_all(b"</section>\n")?;
    write_dossiers(&mut out, &header.dossiers, tz)?;

    out.write_all(b"<section>\n<h2>Timeline</h2>\n<table class=\"timeline\">\n<thead><tr><th>Seq</th><th>Time (UTC)</th>")?;
    if let Some(tz) = tz {
        write!(out, "<th>Local ({})</th>", esc(tz.name()))?;
    }
    out.write_all(b"<th>Actor</th><th>Kind</th><th>Summary</th></tr></thead>\n<tbody>\n")?;
    let mut count: u64 = 0;
    for event in events {
        count += 1;
        write!(
            out,
            "<tr id=\"seq-{seq}\"><td class=\"num\">{seq}</td><td class=\"time\">{date}<br>{time}</td>",
            seq = event.seq,
            date = event.at.format("%Y-%m-%d"),
            time = event.at.format("%H:%M:%S"),
        )?;
        if let Some(tz) = tz {
            // Date over time keeps the column narrow for the summary.
            let local = event.at.with_timezone(&tz);
            write!(
                out,
                "<td class=\"time\">{}<br>{}</td>",
                local.format("%Y-%m-%d"),
                esc(&local.format("%H:%M:%S %Z (%:z)").to_string())
            )?;
        }
        let data = serde_json::to_string(&event.data)?;
        writeln!(
            out,
            "<td class=\"who\">{}</td><td class=\"who\">{}</td><td>{}<span class=\"data mono\">{}</span>\
             <span class=\"hash mono\">hash {}</span></td></tr>",
            esc(&event.actor),
            esc(&event.kind),
            esc(&summarize(&event.kind, &event.data)),
            esc(&shorten(&data, 400)),
            esc(&event.hash),
        )?;
    }
    if count == 0 {
        out.write_all(b"<tr><td colspan=\"6\">No events.</td></tr>\n")?;
    }
    out.write_all(b"</tbody>\n</table>\n</section>\n")?;

    write!(
        out,
        "<section class=\"integrity\">\n<h2>Integrity</h2>\n\
         <p>{count} events in this report. Each event's hash covers its content and the \
         previous event's hash; the head below is signed with Ed25519. Verify the JSON \
         export (format {FORMAT}) rather than this printout.</p>\n<table class=\"meta\">\n\
         <tr><th>Head seq</th><td>{}</td></tr>\n\
         <tr><th>Head hash</th><td class=\"mono\">sha256:{}</td></tr>\n\
         <tr><th>Signature</th><td class=\"mono\">{}</td></tr>\n\
         <tr><th>Public key</th><td class=\"mono\">{}</td></tr>\n\
         </table>\n</section>\n</body>\n</html>\n",
        header.head.seq,
        esc(&header.head.hash),
        esc(&header.signature),
        esc(&header.public_key),
    )?;
    out.flush()
}

const CSS: &str = "
:root{color-scheme:light}
body{font:10.5pt/1.4 system-ui,-apple-system,'Segoe UI',Roboto,'Helvetica Neue',Arial,sans-serif;color:#111;background:#fff;max-width:1100px;margin:1.5em auto;padding:0 1em}
h1{font-size:18pt;margin:.1em 0 .4em}
h2{font-size:13pt;border-bottom:2px solid #333;margin:1.4em 0 .5em;padding-bottom:.1em}
h3{font-size:11pt;margin:1em 0 .2em}
.kicker{text-transform:uppercase;letter-spacing:.08em;font-size:8.5pt;color:#555;margin:0}
.hold{display:inline-block;border:2px solid #a00;color:#a00;font-weight:bold;padding:.1em .5em;margin:0 0 .5em}
.summary{white-space:pre-wrap}
table{border-collapse:collapse;width:100%;margin:.3em 0 .8em}
th,td{border:1px solid #bbb;padding:.2em .4em;text-align:left;vertical-align:top}
th{background:#eee}
table.meta th{width:11em}
.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:8.5pt;overflow-wrap:anywhere}
.muted{color:#666;font-weight:normal}
.num{text-align:right;white-space:nowrap}
.time{white-space:nowrap;width:1%}
table.timeline{font-size:.95em}
table.timeline td.who{width:14%;overflow-wrap:anywhere}
.data,.hash{display:block;color:#555;margin-top:.15em}
tr{break-inside:avoid;page-break-inside:avoid}
thead{display:table-header-group}
@media print{
@page{size:A4;margin:14mm 12mm}
body{max-width:none;margin:0;padding:0;font-size:9pt}
h2,h3{break-after:avoid;page-break-after:avoid}
th{-webkit-print-color-adjust:exact;print-color-adjust:exact}
.integrity{break-inside:avoid;page-break-inside:avoid}
}
";

/// `2026-11-26 09:10:00 UTC`, and the local time on a second line.
fn when(at: Option<DateTime<Utc>>, tz: Option<Tz>) -> String {
    let Some(at) = at else {
        return "—".to_owned();
    };
    let utc = at.format("%Y-%m-%d %H:%M:%S UTC").to_string();
    match tz {
        Some(tz) => format!(
            "{utc}<br><span class=\"muted\">{}</span>",
            local_time(at, tz)
        ),
        None => utc,
    }
}

/// `2026-11-26 10:10:00 CET (+01:00)`; escaped, zone abbreviations are data.
fn local_time(at: DateTime<Utc>, tz: Tz) -> String {
    esc(&at
        .with_timezone(&tz)
        .format("%Y-%m-%d %H:%M:%S %Z (%:z)")
        .to_string())
    .into_owned()
}

fn by(who: Option<&str>) -> String {
    match who {
        Some(who) => format!("<br><span class=\"muted\">by {}</span>", esc(who)),
        None => String::new(),
    }
}

/// HTML-escapes text for element content and quoted attributes.
pub fn esc(text: &str) -> Cow<'_, str> {
    if !text.contains(['&', '<', '>', '"', '\'']) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// At most `max` characters, on one line: a summary is not the record.
fn shorten(text: &str, max: usize) -> String {
    let one_line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    match one_line.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &one_line[..cut]),
        None => one_line,
    }
}

/// A short human line for an event, e.g.
/// `task_completed: legal/preserve-evidence (note: done)`; unknown kinds
/// (or data missing the expected fields) get a generic `kind: key=value` line.
pub fn summarize(kind: &str, data: &Value) -> String {
    let line = known_summary(kind, data).unwrap_or_else(|| generic_summary(kind, data));
    shorten(&line, 240)
}

fn text<'a>(data: &'a Value, key: &str) -> Option<&'a str> {
    data.get(key).and_then(Value::as_str)
}

fn via(data: &Value) -> String {
    match data.get("via") {
        Some(via) => format!(
            " (via link to {} from {})",
            text(via, "recipient").unwrap_or("?"),
            text(via, "ip").unwrap_or("?")
        ),
        None => String::new(),
    }
}

fn known_summary(kind: &str, data: &Value) -> Option<String> {
    let line = match kind {
        "incident_opened" => format!(
            "incident_opened: {} (severity {}, commander {}, {} tasks)",
            text(data, "title")?,
            text(data, "severity").unwrap_or("?"),
            text(data, "commander").unwrap_or("?"),
            data.get("tasks")
                .and_then(Value::as_array)
                .map_or(0, Vec::len)
        ),
        "department_acknowledged" => format!(
            "department_acknowledged: {}{}",
            text(data, "department")?,
            via(data)
        ),
        "task_acknowledged" => format!("task_acknowledged: {}{}", text(data, "task")?, via(data)),
        "task_completed" => {
            let note = match text(data, "note") {
                Some(note) if !note.is_empty() => format!(" (note: {note})"),
                _ => String::new(),
            };
            format!("task_completed: {}{note}{}", text(data, "task")?, via(data))
        }
        "task_skipped" => format!(
            "task_skipped: {} (reason: {}){}",
            text(data, "task")?,
            text(data, "reason").unwrap_or(""),
            via(data)
        ),
        "task_unblocked" => format!(
            "task_unblocked: {}, due {}",
            text(data, "task")?,
            text(data, "due_at").unwrap_or("?")
        ),
        "note_added" => format!("note_added: {}", text(data, "text")?),
        "severity_changed" => format!(
            "severity_changed: {} -> {} (reason: {})",
            text(data, "from")?,
            text(data, "to")?,
            text(data, "reason").unwrap_or("")
        ),
        "tasks_added" => {
            let tasks = data.get("tasks")?.as_array()?;
            let keys: Vec<&str> = tasks.iter().filter_map(|t| text(t, "key")).collect();
            format!("tasks_added: {} tasks: {}", tasks.len(), keys.join(", "))
        }
        "incident_resolved" => {
            let mut line = "incident_resolved".to_owned();
            if data.get("forced").and_then(Value::as_bool) == Some(true) {
                line.push_str(" (forced");
                if let Some(reason) = text(data, "reason") {
                    line.push_str(&format!(": {reason}"));
                }
                line.push(')');
            }
            if let Some(summary) = text(data, "summary") {
                line.push_str(&format!(": {summary}"));
            }
            let open: Vec<&str> = data
                .get("open_required")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            if !open.is_empty() {
                line.push_str(&format!("; required still open: {}", open.join(", ")));
            }
            line
        }
        "ready_to_resolve" => "ready_to_resolve: every required task is closed".to_owned(),
        "chased" => {
            let recipients: Vec<&str> = data
                .get("recipients")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let target = match (text(data, "clock"), text(data, "task")) {
                (Some(clock), _) => format!("deadline {clock}"),
                (None, Some(task)) => task.to_owned(),
                (None, None) => text(data, "department")?.to_owned(),
            };
            format!(
                "chased: {target} to {}, stage {} ({})",
                recipients.join(", "),
                data.get("stage").and_then(Value::as_i64).unwrap_or(0),
                text(data, "purpose").unwrap_or("?")
            )
        }
        "regime_armed" => format!(
            "regime_armed: {} ({})",
            text(data, "title")?,
            text(data, "citation").unwrap_or("?")
        ),
        "regime_not_notifiable" => format!(
            "regime_not_notifiable: {} (reason: {})",
            text(data, "title")?,
            text(data, "reason").unwrap_or("")
        ),
        "fact_claimed" => {
            let previous = match text(data, "previous_claimed_at") {
                Some(previous) => format!(", replacing the claim of {previous}"),
                None => String::new(),
            };
            format!(
                "fact_claimed: {} at {}{previous}",
                text(data, "fact")?,
                text(data, "claimed_at")?
            )
        }
        "clock_started" => format!(
            "clock_started: {}/{} ({}), due {}",
            text(data, "regime")?,
            text(data, "step")?,
            text(data, "title").unwrap_or("?"),
            text(data, "due_at").unwrap_or("?")
        ),
        "deadline_missed" => format!(
            "deadline_missed: {}/{}, due {}",
            text(data, "regime")?,
            text(data, "step")?,
            text(data, "due_at").unwrap_or("?")
        ),
        "report_submitted" => {
            let what = text(data, "reference")
                .map(|reference| format!("reference {reference}"))
                .or_else(|| text(data, "document_sha256").map(|hash| format!("sha256 {hash}")))
                .unwrap_or_default();
            let late = match (
                data.get("late").and_then(Value::as_bool),
                text(data, "delay_reasons"),
            ) {
                (Some(true), Some(reasons)) => format!(", late: {reasons}"),
                (Some(true), None) => ", late".to_owned(),
                _ => String::new(),
            };
            format!(
                "report_submitted: {}/{} at {} ({what}{late})",
                text(data, "regime")?,
                text(data, "step")?,
                text(data, "submitted_at").unwrap_or("?")
            )
        }
        "signal_received" => format!(
            "signal_received: {} from {} (key {}), {}",
            text(data, "title")?,
            text(data, "source")?,
            text(data, "dedup_key").unwrap_or("?"),
            text(data, "outcome").unwrap_or("?")
        ),
        "reply_received" => {
            let from = text(data, "from").unwrap_or("?");
            let forwarded = match (
                data.get("from_matches").and_then(Value::as_bool),
                text(data, "recipient"),
            ) {
                (Some(false), Some(recipient)) => format!(" (sent to {recipient})"),
                _ => String::new(),
            };
            format!(
                "reply_received: from {from}{forwarded} over {} from {}, read as {}: {} (sha256 {})",
                text(data, "intake").unwrap_or("?"),
                text(data, "peer").unwrap_or("?"),
                text(data, "read_as")?,
                text(data, "outcome").unwrap_or(""),
                text(data, "sha256").unwrap_or("?")
            )
        }
        "message_cancelled" => format!(
            "message_cancelled: to {} ({})",
            text(data, "recipient")?,
            text(data, "reason").unwrap_or("")
        ),
        "message_sent" => format!(
            "message_sent: {} to {}, attempt {}",
            text(data, "channel").unwrap_or("?"),
            text(data, "recipient")?,
            data.get("attempt").and_then(Value::as_i64).unwrap_or(0)
        ),
        "message_failed" => format!(
            "message_failed: {} to {}, attempt {}: {}; {}",
            text(data, "channel").unwrap_or("?"),
            text(data, "recipient")?,
            data.get("attempt").and_then(Value::as_i64).unwrap_or(0),
            text(data, "error").unwrap_or(""),
            match text(data, "retry_at") {
                Some(at) => format!("retry at {at}"),
                None => "gave up".to_owned(),
            }
        ),
        _ => return None,
    };
    Some(line)
}

fn generic_summary(kind: &str, data: &Value) -> String {
    match data {
        Value::Null => kind.to_owned(),
        Value::Object(map) if map.is_empty() => kind.to_owned(),
        Value::Object(map) => {
            let pairs: Vec<String> = map
                .iter()
                .take(6)
                .map(|(k, v)| match v {
                    Value::String(s) => format!("{k}={s}"),
                    other => format!("{k}={other}"),
                })
                .collect();
            format!("{kind}: {}", pairs.join(", "))
        }
        other => format!("{kind}: {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timeline::sign::SigningKey;
    use crate::timeline::verify::verify_export;
    use serde_json::json;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn incident_id() -> Uuid {
        Uuid::parse_str("0191f3a4-1b2c-7d3e-8f40-a1b2c3d4e5f6").unwrap()
    }

    fn events() -> Vec<ChainedEvent> {
        let mut head = ChainHead::genesis(incident_id());
        let specs = [
            (
                "user:ana",
                "note_added",
                json!({"text": "<script>alert(1)</script> & more"}),
            ),
            (
                "link:bob@example.org",
                "task_completed",
                json!({"task_id": Uuid::nil(), "task": "legal/preserve-evidence", "note": "=HYPERLINK(\"http://x\")"}),
            ),
            ("@evil", "-custom", json!({"formula": "+1+1", "n": -3})),
        ];
        let mut out = Vec::new();
        for (i, (actor, kind, data)) in specs.into_iter().enumerate() {
            let event = head.seal_next(
                at("2026-11-26T09:10:00.123456Z") + chrono::Duration::minutes(i as i64),
                actor,
                kind,
                data,
            );
            head = ChainHead::from(&event);
            out.push(event);
        }
        out
    }

    fn header(events: &[ChainedEvent], key: &SigningKey) -> ExportHeader {
        let head = events
            .last()
            .map(ChainHead::from)
            .unwrap_or_else(|| ChainHead::genesis(incident_id()));
        ExportHeader {
            incident: IncidentSummary {
                id: incident_id(),
                reference: "INC-2026-0042".into(),
                title: "Data breach <b>\"bold\"</b>".into(),
                scenario: "data_breach".into(),
                severity: "high".into(),
                status: "open".into(),
                summary: "Customer records exposed & <img src=x>".into(),
                commander: "ana".into(),
                opened_at: at("2026-11-26T09:00:00Z"),
                resolved_at: None,
                legal_hold: true,
            },
            departments: vec![DepartmentSummary {
                id: "legal".into(),
                name: "Legal & Compliance".into(),
                acknowledged_at: Some(at("2026-11-26T09:05:00Z")),
                tasks: vec![TaskSummary {
                    key: "legal/preserve-evidence".into(),
                    title: "Preserve <evidence>".into(),
                    status: "done".into(),
                    required: true,
                    acknowledged_at: Some(at("2026-11-26T09:06:00Z")),
                    acknowledged_by: Some("link:bob@example.org".into()),
                    closed_at: Some(at("2026-11-26T09:11:00Z")),
                    closed_by: Some("link:bob@example.org".into()),
                    note: Some("<script>x</script>".into()),
                }],
            }],
            dossiers: vec![Dossier {
                regime: "gdpr-art33".into(),
                title: "GDPR Art. 33".into(),
                citation: "Regulation (EU) 2016/679, Article 33".into(),
                authority: "The supervisory authority".into(),
                source: "https://eur-lex.europa.eu/eli/reg/2016/679/oj".into(),
                decision: "armed".into(),
                reason: None,
                decided_at: at("2026-11-26T09:20:00Z"),
                decided_by: "user:counsel@example.org".into(),
                steps: vec![DossierStep {
                    id: "notify-authority".into(),
                    title: "Notify the supervisory authority".into(),
                    citation: "Art. 33(1)".into(),
                    rule: "72h after awareness".into(),
                    status: "submitted_late".into(),
                    started_at: Some(at("2026-11-26T07:10:00Z")),
                    due_at: Some(at("2026-11-29T07:10:00Z")),
                    filings: vec!["2026-11-29 09:00 UTC, reference <CNIL-1>, late".into()],
                }],
                fields: vec![
                    DossierField {
                        label: "The nature of the breach".into(),
                        citation: "Art. 33(3)(a)".into(),
                        draft: "Records exposed <script>x</script>".into(),
                    },
                    DossierField {
                        label: "The likely consequences".into(),
                        citation: "Art. 33(3)(c)".into(),
                        draft: String::new(),
                    },
                ],
            }],
            signature: key.sign_head(&head),
            public_key: key.public_key(),
            head,
            exported_at: at("2026-11-27T08:00:00Z"),
        }
    }

    #[test]
    fn json_round_trip_verifies() {
        let key = SigningKey::generate().unwrap();
        let events = events();
        let mut out = Vec::new();
        write_json(&mut out, &header(&events, &key), events.clone().into_iter()).unwrap();
        let report = verify_export(&out);
        assert!(report.ok, "{report}");
        assert_eq!(report.events, 3);
        let value: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(value["format"], FORMAT);
        let back: Vec<ChainedEvent> = serde_json::from_value(value["events"].clone()).unwrap();
        assert_eq!(back, events);
        assert_eq!(value["incident"]["reference"], "INC-2026-0042");
        assert_eq!(
            value["departments"][0]["tasks"][0]["key"],
            "legal/preserve-evidence"
        );
        assert_eq!(value["exported_at"], "2026-11-27T08:00:00.000000Z");
        assert_eq!(
            value["regulatory"][0]["fields"][1]["citation"],
            "Art. 33(3)(c)"
        );
        let keys: Vec<&str> = value
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys.len(), 9);
    }

    #[test]
    fn empty_timeline_exports_and_verifies() {
        let key = SigningKey::generate().unwrap();
        let mut out = Vec::new();
        write_json(&mut out, &header(&[], &key), std::iter::empty()).unwrap();
        let report = verify_export(&out);
        assert!(report.ok, "{report}");
        assert_eq!(report.events, 0);
    }

    #[test]
    fn json_streams_100k_events() {
        // A generator: nothing is collected on either side.
        let key = SigningKey::generate().unwrap();
        let mut head = ChainHead::genesis(incident_id());
        let start = at("2026-11-26T09:00:00Z");
        let generated = (0..100_000i64).map(move |i| {
            let event = head.seal_next(
                start + chrono::Duration::seconds(i),
                "system:load",
                "note_added",
                json!({"text": "tick", "i": i}),
            );
            head = ChainHead::from(&event);
            event
        });
        let header = header(&[], &key);
        write_json(io::sink(), &header, generated).unwrap();
    }

    #[test]
    fn csv_has_bom_columns_and_defused_formulas() {
        let mut out = Vec::new();
        write_csv(&mut out, None, events().into_iter()).unwrap();
        assert!(out.starts_with("\u{feff}".as_bytes()));
        let text = String::from_utf8(out[3..].to_vec()).unwrap();
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let headers: Vec<String> = reader
            .headers()
            .unwrap()
            .iter()
            .map(str::to_owned)
            .collect();
        assert_eq!(
            headers,
            [
                "seq",
                "at_utc",
                "actor",
                "kind",
                "summary",
                "data",
                "prev_hash",
                "hash"
            ]
        );
        let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(rows.len(), 3);
        assert_eq!(&rows[0][0], "1");
        assert_eq!(&rows[0][1], "2026-11-26T09:10:00.123456Z");
        assert_eq!(
            &rows[1][4],
            "task_completed: legal/preserve-evidence (note: =HYPERLINK(\"http://x\"))"
        );
        // Leading =, +, -, @ are defused; nothing else changes.
        assert_eq!(&rows[2][2], "'@evil");
        assert_eq!(&rows[2][3], "'-custom");
        assert!(rows[2][4].starts_with("'-custom: "), "{}", &rows[2][4]);
        for row in &rows {
            for cell in row.iter() {
                assert!(
                    !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
                    "{cell}"
                );
            }
        }
        assert!(text.contains("\r\n"));
        assert_eq!(defuse_formula("=1+2"), "'=1+2");
        assert_eq!(defuse_formula("+1"), "'+1");
        assert_eq!(defuse_formula("\tx"), "'\tx");
        assert_eq!(defuse_formula("\rx"), "'\rx");
        assert_eq!(defuse_formula("a=b"), "a=b");
    }

    #[test]
    fn csv_local_time_column() {
        let tz = parse_tz("Europe/Paris").unwrap();
        let mut out = Vec::new();
        write_csv(&mut out, Some(tz), events().into_iter()).unwrap();
        let text = String::from_utf8(out).unwrap();
        let mut lines = text.lines();
        assert_eq!(
            lines.next().unwrap(),
            "\u{feff}seq,at_utc,at_local,actor,kind,summary,data,prev_hash,hash"
        );
        assert!(
            lines
                .next()
                .unwrap()
                .starts_with("1,2026-11-26T09:10:00.123456Z,2026-11-26T10:10:00.123456+01:00,")
        );
    }

    #[test]
    fn parse_tz_names() {
        assert_eq!(parse_tz("Europe/Paris").unwrap(), chrono_tz::Europe::Paris);
        assert_eq!(parse_tz("UTC").unwrap(), chrono_tz::UTC);
        assert_eq!(
            parse_tz("Mars/Olympus").unwrap_err(),
            UnknownTimeZone("Mars/Olympus".into())
        );
    }

    fn html(tz: Option<Tz>) -> String {
        let key = SigningKey::generate().unwrap();
        let events = events();
        let header = header(&events, &key);
        let mut out = Vec::new();
        write_html(&mut out, &header, tz, events.into_iter()).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn html_is_escaped_and_self_contained() {
        let page = html(None);
        assert!(!page.to_lowercase().contains("<script"), "{page}");
        assert!(!page.contains("<img"));
        assert!(!page.contains("<b>"));
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; more"));
        assert!(page.contains("Data breach &lt;b&gt;&quot;bold&quot;&lt;/b&gt;"));
        assert!(page.contains("Legal &amp; Compliance"));
        assert!(page.contains("<h2>Regulatory dossiers</h2>"));
        assert!(page.contains("reference &lt;CNIL-1&gt;, late"));
        assert!(page.contains("Records exposed &lt;script&gt;"));
        assert!(page.contains("<em>to complete</em>"));
        assert!(page.contains("@media print"));
        assert!(page.contains("break-inside:avoid"));
        for external in [
            "src=\"", "href=", "<link", "<iframe", "url(", "@import", "<object",
        ] {
            assert!(!page.contains(external), "{external}");
        }
        let events = events();
        let last = events.last().unwrap();
        assert!(page.contains(&format!("sha256:{}", last.hash)));
        assert!(page.contains("LEGAL HOLD"));
        assert!(page.contains("<tr id=\"seq-3\">"));
        assert!(page.contains("<td class=\"time\">2026-11-26<br>09:10:00</td>"));
        assert!(!page.contains("Local ("));
    }

    #[test]
    fn html_shows_local_time() {
        let page = html(Some(parse_tz("Europe/Paris").unwrap()));
        assert!(page.contains("<th>Local (Europe/Paris)</th>"));
        // Paris is UTC+1 in November.
        assert!(page.contains("2026-11-26 10:00:00 CET (+01:00)"), "{page}");
        assert!(page.contains("<td class=\"time\">2026-11-26<br>10:10:00 CET (+01:00)</td>"));
        assert!(page.contains("<td class=\"time\">2026-11-26<br>09:10:00</td>"));
    }

    #[test]
    fn summaries() {
        assert_eq!(
            summarize(
                "task_completed",
                &json!({"task": "legal/preserve-evidence", "note": "kept"})
            ),
            "task_completed: legal/preserve-evidence (note: kept)"
        );
        assert_eq!(
            summarize("task_completed", &json!({"task": "a/b", "note": null})),
            "task_completed: a/b"
        );
        assert_eq!(
            summarize(
                "severity_changed",
                &json!({"from": "low", "to": "high", "reason": "spread"})
            ),
            "severity_changed: low -> high (reason: spread)"
        );
        assert_eq!(
            summarize("something_new", &json!({"a": 1, "b": "x"})),
            "something_new: a=1, b=x"
        );
        // A known kind with unexpected data falls back instead of failing.
        assert_eq!(
            summarize("note_added", &json!({"body": "x"})),
            "note_added: body=x"
        );
        assert_eq!(
            summarize(
                "reply_received",
                &json!({"from": "aide@example.com", "from_matches": false,
                    "recipient": "pr-head@example.com", "intake": "smtp", "peer": "192.0.2.1",
                    "read_as": "acknowledge", "outcome": "Acknowledged.", "sha256": "ab12"})
            ),
            "reply_received: from aide@example.com (sent to pr-head@example.com) over smtp \
             from 192.0.2.1, read as acknowledge: Acknowledged. (sha256 ab12)"
        );
        assert_eq!(
            summarize("ready_to_resolve", &Value::Null),
            "ready_to_resolve: every required task is closed"
        );
        assert_eq!(
            summarize(
                "signal_received",
                &json!({"source": "brandwatch", "dedup_key": "bw-1", "title": "Hacked",
                        "outcome": "attached"})
            ),
            "signal_received: Hacked from brandwatch (key bw-1), attached"
        );
        let long = "x".repeat(1000);
        assert!(
            summarize("note_added", &json!({"text": long}))
                .chars()
                .count()
                <= 241
        );
        assert_eq!(
            summarize("note_added", &json!({"text": "two\nlines"})),
            "note_added: two lines"
        );
    }
}
