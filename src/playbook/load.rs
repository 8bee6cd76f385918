//! Loads a playbook directory: reads every file, checks what spans files
//! (references, engagement, dependency cycles) and builds the [`Catalog`].

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io;
use std::ops::Range;
use std::path::{Path, PathBuf};

use toml::Spanned;

use super::address;
use super::catalog::{ApprovalRule, Catalog, Contact, Department, Item, Organisation, Scenario};
use super::diagnostics::{Diagnostic, Diagnostics, SourceFile};
use super::parse::{
    self, RawAudience, RawDepartment, RawOrganisation, RawRegime, RawSignalAction, RawSignalSource,
    SLUG_RULE, is_slug,
};
use crate::domain::briefing::Audience;
use crate::domain::regulatory::Regime;
use crate::domain::signal::{SignalAction, SignalRule, SignalSource};

const ORGANISATION_FILE: &str = "organisation.toml";
const DEPARTMENTS_DIR: &str = "departments";
const REGIMES_DIR: &str = "regimes";
const AUDIENCES_DIR: &str = "audiences";
const SIGNALS_DIR: &str = "signals";

struct LoadedDepartment {
    id: String,
    source: SourceFile,
    /// None when the file could not be parsed: references to it are then
    /// not checked, rather than reported as dangling.
    raw: Option<RawDepartment>,
}

struct LoadedAudience {
    id: String,
    source: SourceFile,
    raw: Option<RawAudience>,
}

struct LoadedSignalSource {
    id: String,
    source: SourceFile,
    raw: Option<RawSignalSource>,
}

struct LoadedRegime {
    id: String,
    source: SourceFile,
    /// None when the file could not be parsed: scenarios naming it are
    /// still satisfied, rather than reported as dangling.
    raw: Option<RawRegime>,
}

/// One playbook file as read, before any checking: its path (which names the
/// file in diagnostics and, for a department or a regime, gives its id) and
/// its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlaybookFile {
    pub path: PathBuf,
    pub content: Vec<u8>,
}

impl Catalog {
    /// Reads and validates the playbook directory `dir`, reporting every
    /// problem in every file at once.
    pub fn load(dir: &Path) -> Result<Catalog, Diagnostics> {
        let mut diagnostics = Vec::new();
        let organisation = read(&dir.join(ORGANISATION_FILE), &mut diagnostics);
        let departments = read_toml_files(&dir.join(DEPARTMENTS_DIR), true, &mut diagnostics);
        let regimes = read_toml_files(&dir.join(REGIMES_DIR), false, &mut diagnostics);
        let audiences = read_toml_files(&dir.join(AUDIENCES_DIR), false, &mut diagnostics);
        let signals = read_toml_files(&dir.join(SIGNALS_DIR), false, &mut diagnostics);
        check_files(
            dir,
            organisation,
            departments,
            Files {
                regimes,
                audiences,
                signals,
            },
            diagnostics,
        )
    }

    /// Validates playbook files held in memory, exactly as [`Catalog::load`]
    /// does once it has read them: `organisation` is `organisation.toml` and
    /// each department's and regime's id is its file stem. Paths only name
    /// files in diagnostics; nothing is read from disk.
    pub fn from_files(
        organisation: PlaybookFile,
        departments: Vec<PlaybookFile>,
        regimes: Vec<PlaybookFile>,
    ) -> Result<Catalog, Diagnostics> {
        let dir = organisation
            .path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let mut diagnostics = Vec::new();
        if departments.is_empty() {
            diagnostics.push(Diagnostic::at_start(
                &dir.join(DEPARTMENTS_DIR),
                "no department files: add one file departments/<id>.toml per department",
            ));
        }
        let optional = Files {
            regimes,
            audiences: Vec::new(),
            signals: Vec::new(),
        };
        check_files(&dir, Some(organisation), departments, optional, diagnostics)
    }
}

/// The directories a playbook may leave out.
struct Files {
    regimes: Vec<PlaybookFile>,
    audiences: Vec<PlaybookFile>,
    signals: Vec<PlaybookFile>,
}

/// Everything after reading: decoding, parsing, cross-file checks, assembly.
/// `diagnostics` holds what reading already found.
fn check_files(
    dir: &Path,
    organisation: Option<PlaybookFile>,
    departments: Vec<PlaybookFile>,
    optional: Files,
    mut diagnostics: Vec<Diagnostic>,
) -> Result<Catalog, Diagnostics> {
    let organisation_path = dir.join(ORGANISATION_FILE);
    let organisation = organisation
        .and_then(|file| decode(file, &mut diagnostics))
        .map(|source| {
            let raw = parse::organisation(&source, &mut diagnostics);
            (source, raw)
        });
    let departments = parse_departments(departments, &mut diagnostics);
    let regimes = parse_regimes(optional.regimes, &mut diagnostics);
    let audiences = parse_audiences(optional.audiences, &mut diagnostics);
    let signals = parse_signals(optional.signals, &mut diagnostics);

    let organisation = organisation
        .as_ref()
        .and_then(|(source, raw)| Some((source, raw.as_ref()?)));
    let checker = Checker {
        dir,
        organisation,
        departments: &departments,
        regimes: &regimes,
        audiences: &audiences,
        signals: &signals,
    };
    checker.check(&mut diagnostics);

    if !diagnostics.is_empty() {
        return Err(Diagnostics::sorted(diagnostics));
    }
    checker.build().ok_or_else(|| {
        // Unreachable while every gap in the raw values is reported above;
        // kept as a diagnostic rather than a panic all the same.
        Diagnostics(vec![Diagnostic::at_start(
            &organisation_path,
            "internal error: the playbooks passed validation but could not be assembled",
        )])
    })
}

/// The file's bytes; None (reported) when it cannot be read.
fn read(path: &Path, diagnostics: &mut Vec<Diagnostic>) -> Option<PlaybookFile> {
    match fs::read(path) {
        Ok(content) => Some(PlaybookFile {
            path: path.to_path_buf(),
            content,
        }),
        Err(error) if error.kind() == io::ErrorKind::NotFound => {
            diagnostics.push(Diagnostic::at_start(path, "file not found"));
            None
        }
        Err(error) => {
            diagnostics.push(Diagnostic::at_start(
                path,
                format!("cannot read the file: {error}"),
            ));
            None
        }
    }
}

/// The file's text; None (reported where decoding stopped) if it is not UTF-8.
fn decode(file: PlaybookFile, diagnostics: &mut Vec<Diagnostic>) -> Option<SourceFile> {
    match String::from_utf8(file.content) {
        Ok(text) => Some(SourceFile::new(file.path, text)),
        Err(error) => {
            let at = error.utf8_error().valid_up_to();
            let text = String::from_utf8_lossy(error.as_bytes()).into_owned();
            let source = SourceFile::new(file.path, text);
            diagnostics.push(source.diagnostic(&(at..at), "the file is not valid UTF-8"));
            None
        }
    }
}

/// Reads every `*.toml` file of a directory (`departments/` or `regimes/`),
/// sorted by path. Only the departments directory is required: a playbook
/// without regimes simply has none.
fn read_toml_files(
    dir: &Path,
    required: bool,
    diagnostics: &mut Vec<Diagnostic>,
) -> Vec<PlaybookFile> {
    let what = dir
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == io::ErrorKind::NotFound && !required => return Vec::new(),
        Err(error) => {
            let message = if error.kind() == io::ErrorKind::NotFound {
                "missing departments directory: add one file departments/<id>.toml per department"
                    .to_owned()
            } else {
                format!("cannot read the {what} directory: {error}")
            };
            diagnostics.push(Diagnostic::at_start(dir, message));
            return Vec::new();
        }
    };
    let mut paths: Vec<PathBuf> = Vec::new();
    for entry in entries {
        match entry {
            Ok(entry) => paths.push(entry.path()),
            Err(error) => diagnostics.push(Diagnostic::at_start(
                dir,
                format!("cannot read the {what} directory: {error}"),
            )),
        }
    }
    // Other files (a README, an editor's backup) may live alongside.
    paths.retain(|path| {
        path.extension()
            .is_some_and(|extension| extension == "toml")
            && !path
                .file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| name.starts_with('.'))
            && path.is_file()
    });
    paths.sort();
    if paths.is_empty() && required {
        diagnostics.push(Diagnostic::at_start(
            dir,
            "no department files: add one file departments/<id>.toml per department",
        ));
    }
    paths
        .iter()
        .filter_map(|path| read(path, diagnostics))
        .collect()
}

/// Parses each department file on its own; sorted by id.
fn parse_departments(
    files: Vec<PlaybookFile>,
    diagnostics: &mut Vec<Diagnostic>,
) -> Vec<LoadedDepartment> {
    let mut departments = Vec::new();
    let mut seen = HashSet::new();
    for file in files {
        let Some(id) = file_id(&file, "department", &mut seen, diagnostics) else {
            continue;
        };
        let Some(source) = decode(file, diagnostics) else {
            continue;
        };
        let raw = parse::department(&source, diagnostics);
        departments.push(LoadedDepartment { id, source, raw });
    }
    departments.sort_by(|a, b| a.id.cmp(&b.id));
    departments
}

/// The file stem as an id, reported when it is not a slug or is taken.
fn file_id(
    file: &PlaybookFile,
    what: &str,
    seen: &mut HashSet<String>,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<String> {
    let id = file
        .path
        .file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
        .unwrap_or_default();
    if !is_slug(&id) {
        diagnostics.push(Diagnostic::at_start(
            &file.path,
            format!("invalid {what} id {id:?} (the file name): {SLUG_RULE}"),
        ));
    }
    // One directory cannot hold two, but files given in memory can.
    if !seen.insert(id.clone()) {
        diagnostics.push(Diagnostic::at_start(
            &file.path,
            format!("duplicate {what} id `{id}`: another file has the same name"),
        ));
        return None;
    }
    Some(id)
}

/// Parses each regime file on its own; sorted by id.
fn parse_regimes(files: Vec<PlaybookFile>, diagnostics: &mut Vec<Diagnostic>) -> Vec<LoadedRegime> {
    let mut regimes = Vec::new();
    let mut seen = HashSet::new();
    for file in files {
        let Some(id) = file_id(&file, "regime", &mut seen, diagnostics) else {
            continue;
        };
        let Some(source) = decode(file, diagnostics) else {
            continue;
        };
        let raw = parse::regime(&source, diagnostics);
        regimes.push(LoadedRegime { id, source, raw });
    }
    regimes.sort_by(|a, b| a.id.cmp(&b.id));
    regimes
}

/// Parses each audience file on its own; sorted by id.
fn parse_audiences(
    files: Vec<PlaybookFile>,
    diagnostics: &mut Vec<Diagnostic>,
) -> Vec<LoadedAudience> {
    let mut audiences = Vec::new();
    let mut seen = HashSet::new();
    for file in files {
        let Some(id) = file_id(&file, "audience", &mut seen, diagnostics) else {
            continue;
        };
        let Some(source) = decode(file, diagnostics) else {
            continue;
        };
        let raw = parse::audience(&source, diagnostics);
        audiences.push(LoadedAudience { id, source, raw });
    }
    audiences.sort_by(|a, b| a.id.cmp(&b.id));
    audiences
}

/// Parses each signal source file on its own; sorted by id.
fn parse_signals(
    files: Vec<PlaybookFile>,
    diagnostics: &mut Vec<Diagnostic>,
) -> Vec<LoadedSignalSource> {
    let mut signals = Vec::new();
    let mut seen = HashSet::new();
    for file in files {
        let Some(id) = file_id(&file, "signal source", &mut seen, diagnostics) else {
            continue;
        };
        let Some(source) = decode(file, diagnostics) else {
            continue;
        };
        let raw = parse::signal_source(&source, diagnostics);
        signals.push(LoadedSignalSource { id, source, raw });
    }
    signals.sort_by(|a, b| a.id.cmp(&b.id));
    signals
}

struct Checker<'a> {
    /// The playbook directory, which messages name other files relative to.
    dir: &'a Path,
    /// None when organisation.toml is missing or does not parse.
    organisation: Option<(&'a SourceFile, &'a RawOrganisation)>,
    /// Sorted by id.
    departments: &'a [LoadedDepartment],
    /// Sorted by id.
    regimes: &'a [LoadedRegime],
    /// Sorted by id.
    audiences: &'a [LoadedAudience],
    /// Sorted by id.
    signals: &'a [LoadedSignalSource],
}

/// An item, by department index and item index.
type Node = (usize, usize);

impl<'a> Checker<'a> {
    fn department(&self, id: &str) -> Option<&'a LoadedDepartment> {
        self.departments
            .iter()
            .find(|department| department.id == id)
    }

    fn all_parsed(&self) -> bool {
        self.organisation.is_some() && self.departments.iter().all(|d| d.raw.is_some())
    }

    fn check(&self, diagnostics: &mut Vec<Diagnostic>) {
        self.check_scenarios(diagnostics);
        self.check_regimes(diagnostics);
        self.check_audiences(diagnostics);
        self.check_signals(diagnostics);
        self.check_items(diagnostics);
        self.check_cycles(diagnostics);
        self.check_look_alikes(diagnostics);
    }

    /// Two addresses that look the same but are not would have a reader
    /// check the wrong one. The second is reported, naming the first; the
    /// same address in several roles is fine.
    fn check_look_alikes(&self, diagnostics: &mut Vec<Diagnostic>) {
        let mut first: HashMap<String, (&Contact, String)> = HashMap::new();
        for (source, contact) in self.contacts() {
            let email = &contact.get_ref().email;
            let skeleton = address::skeleton(email);
            match first.get(&skeleton) {
                Some((seen, at)) if !address::same(&seen.email, email) => {
                    diagnostics.push(source.diagnostic(
                        &contact.span(),
                        format!(
                            "email address {:?} looks like {:?} ({at}) but is a different \
                             address: if they are one person, write the address the same way \
                             in both places",
                            email.to_string(),
                            seen.email.to_string()
                        ),
                    ));
                }
                Some(_) => {}
                None => {
                    let file = source.path.strip_prefix(self.dir).unwrap_or(&source.path);
                    let at = format!("{}:{}", file.display(), source.line(contact.span().start));
                    first.insert(skeleton, (contact.get_ref(), at));
                }
            }
        }
    }

    /// Every contact in file order: the commander, then each department's
    /// head and deputies, departments by id.
    fn contacts(&self) -> Vec<(&'a SourceFile, &'a Spanned<Contact>)> {
        let mut contacts = Vec::new();
        if let Some((source, organisation)) = self.organisation {
            let people = organisation
                .commander
                .iter()
                .chain(&organisation.data_protection_officer);
            contacts.extend(people.map(|c| (source, c)));
        }
        for department in self.departments {
            let Some(raw) = &department.raw else { continue };
            let people = raw.head.iter().chain(&raw.deputies);
            contacts.extend(people.map(|c| (&department.source, c)));
        }
        contacts
    }

    fn check_scenarios(&self, diagnostics: &mut Vec<Diagnostic>) {
        let Some((source, organisation)) = self.organisation else {
            return;
        };
        for scenario in &organisation.scenarios {
            for department in &scenario.departments {
                let id = department.get_ref();
                if id == "*" {
                    if self.all_parsed()
                        && !self.departments.is_empty()
                        && self.engaged(scenario.id.get_ref(), true).is_empty()
                    {
                        diagnostics.push(source.diagnostic(
                            &department.span(),
                            format!(
                                "scenario `{}` engages every department, but no department has \
                                 items for it",
                                scenario.id.get_ref()
                            ),
                        ));
                    }
                } else if self.department(id).is_none() {
                    diagnostics.push(source.diagnostic(
                        &department.span(),
                        format!(
                            "scenario `{}` names unknown department `{id}`: there is no \
                             {DEPARTMENTS_DIR}/{id}.toml",
                            scenario.id.get_ref()
                        ),
                    ));
                }
            }
            let approvers = scenario.approvals.iter().flat_map(|rule| &rule.departments);
            for department in approvers {
                let id = department.get_ref();
                if self.department(id).is_none() {
                    diagnostics.push(source.diagnostic(
                        &department.span(),
                        format!(
                            "scenario `{}` asks approval of unknown department `{id}`: there \
                             is no {DEPARTMENTS_DIR}/{id}.toml",
                            scenario.id.get_ref()
                        ),
                    ));
                }
            }
            for regime in &scenario.regimes {
                let id = regime.get_ref();
                if !self.regimes.iter().any(|loaded| loaded.id == *id) {
                    diagnostics.push(source.diagnostic(
                        &regime.span(),
                        format!(
                            "scenario `{}` names unknown regime `{id}`: there is no \
                             {REGIMES_DIR}/{id}.toml",
                            scenario.id.get_ref()
                        ),
                    ));
                }
            }
        }
    }

    /// Each audience's scenarios exist.
    fn check_audiences(&self, diagnostics: &mut Vec<Diagnostic>) {
        let Some((_, organisation)) = self.organisation else {
            return;
        };
        for audience in self.audiences {
            let Some(raw) = &audience.raw else { continue };
            for scenario in &raw.scenarios {
                let id = scenario.get_ref();
                if !organisation.scenarios.iter().any(|s| s.id.get_ref() == id) {
                    diagnostics.push(audience.source.diagnostic(
                        &scenario.span(),
                        format!(
                            "audience `{}` names unknown scenario `{id}`: {ORGANISATION_FILE} \
                             has no such [[scenario]]",
                            audience.id
                        ),
                    ));
                }
            }
        }
    }

    /// Each signal rule's scenario exists.
    fn check_signals(&self, diagnostics: &mut Vec<Diagnostic>) {
        let Some((_, organisation)) = self.organisation else {
            return;
        };
        for signal in self.signals {
            let Some(raw) = &signal.raw else { continue };
            let actions = raw
                .rules
                .iter()
                .map(|rule| &rule.action)
                .chain(raw.default.as_ref());
            for action in actions {
                let id = action.scenario.get_ref();
                if !organisation.scenarios.iter().any(|s| s.id.get_ref() == id) {
                    diagnostics.push(signal.source.diagnostic(
                        &action.scenario.span(),
                        format!(
                            "signal source `{}` names unknown scenario `{id}`: \
                             {ORGANISATION_FILE} has no such [[scenario]]",
                            signal.id
                        ),
                    ));
                }
            }
        }
    }

    /// Each regime's department exists, and a regime that copies the data
    /// protection officer has one to copy.
    fn check_regimes(&self, diagnostics: &mut Vec<Diagnostic>) {
        for regime in self.regimes {
            let Some(raw) = &regime.raw else { continue };
            if let Some(department) = &raw.department
                && self.department(department.get_ref()).is_none()
            {
                diagnostics.push(regime.source.diagnostic(
                    &department.span(),
                    format!(
                        "regime `{}` names unknown department `{id}`: there is no \
                         {DEPARTMENTS_DIR}/{id}.toml",
                        regime.id,
                        id = department.get_ref()
                    ),
                ));
            }
            if let (Some(copy_dpo), Some((_, organisation))) = (&raw.copy_dpo, self.organisation)
                && *copy_dpo.get_ref()
                && organisation.data_protection_officer.is_none()
            {
                diagnostics.push(regime.source.diagnostic(
                    &copy_dpo.span(),
                    format!(
                        "regime `{}` copies the data protection officer, but {ORGANISATION_FILE} \
                         names none: add a [data_protection_officer] with name and email there, \
                         or set copy_dpo = false",
                        regime.id
                    ),
                ));
            }
        }
    }

    fn check_items(&self, diagnostics: &mut Vec<Diagnostic>) {
        for department in self.departments {
            let Some(raw) = &department.raw else { continue };
            for item in &raw.items {
                if let Some((_, organisation)) = self.organisation {
                    for scenario_id in &item.scenarios {
                        let id = scenario_id.get_ref();
                        if id == "*" {
                            continue;
                        }
                        let Some(scenario) =
                            organisation.scenarios.iter().find(|s| s.id.get_ref() == id)
                        else {
                            diagnostics.push(department.source.diagnostic(
                                &scenario_id.span(),
                                format!(
                                    "item `{}` names unknown scenario `{id}`: it is not a \
                                     [[scenario]] in {ORGANISATION_FILE}",
                                    item.id.get_ref()
                                ),
                            ));
                            continue;
                        };
                        let engaged = scenario
                            .departments
                            .iter()
                            .any(|d| d.get_ref() == "*" || *d.get_ref() == department.id);
                        if !engaged {
                            diagnostics.push(department.source.diagnostic(
                                &scenario_id.span(),
                                format!(
                                    "item `{}` applies to scenario `{id}`, which does not engage \
                                     department `{dept}`: add \"{dept}\" to the departments of \
                                     scenario `{id}` in {ORGANISATION_FILE}, or drop `{id}` from \
                                     this item",
                                    item.id.get_ref(),
                                    dept = department.id,
                                ),
                            ));
                        }
                    }
                }
                for dependency in &item.depends_on {
                    self.resolve(department, dependency, diagnostics);
                }
            }
        }
    }

    /// The item a dependency names; reports it when it names nothing.
    fn resolve(
        &self,
        from: &LoadedDepartment,
        dependency: &Spanned<String>,
        diagnostics: &mut Vec<Diagnostic>,
    ) -> Option<Node> {
        let (department_id, item_id) = qualify(&from.id, dependency.get_ref());
        let Some(index) = self.departments.iter().position(|d| d.id == department_id) else {
            diagnostics.push(from.source.diagnostic(
                &dependency.span(),
                format!(
                    "dependency `{}` names unknown department `{department_id}`: there is no \
                     {DEPARTMENTS_DIR}/{department_id}.toml",
                    dependency.get_ref()
                ),
            ));
            return None;
        };
        // A department that did not parse has its own errors; do not pile on.
        let raw = self.departments.get(index)?.raw.as_ref()?;
        let Some(item) = raw.items.iter().position(|i| *i.id.get_ref() == item_id) else {
            diagnostics.push(from.source.diagnostic(
                &dependency.span(),
                format!(
                    "dependency `{}` names no item: department `{department_id}` has no item \
                     `{item_id}`",
                    dependency.get_ref()
                ),
            ));
            return None;
        };
        Some((index, item))
    }

    /// Each cycle is reported once, at the dependency that closes it.
    fn check_cycles(&self, diagnostics: &mut Vec<Diagnostic>) {
        let mut edges: HashMap<Node, Vec<(Node, Range<usize>)>> = HashMap::new();
        let mut nodes = Vec::new();
        for (d, department) in self.departments.iter().enumerate() {
            let Some(raw) = &department.raw else { continue };
            for (i, item) in raw.items.iter().enumerate() {
                nodes.push((d, i));
                // Dangling dependencies were reported by check_items.
                let targets = item
                    .depends_on
                    .iter()
                    .filter_map(|dep| {
                        Some((self.resolve(department, dep, &mut Vec::new())?, dep.span()))
                    })
                    .collect();
                edges.insert((d, i), targets);
            }
        }

        let mut done: HashSet<Node> = HashSet::new();
        let mut stack: Vec<Node> = Vec::new();
        for node in nodes {
            self.visit(node, &edges, &mut done, &mut stack, diagnostics);
        }
    }

    fn visit(
        &self,
        node: Node,
        edges: &HashMap<Node, Vec<(Node, Range<usize>)>>,
        done: &mut HashSet<Node>,
        stack: &mut Vec<Node>,
        diagnostics: &mut Vec<Diagnostic>,
    ) {
        if done.contains(&node) {
            return;
        }
        stack.push(node);
        for (target, span) in edges.get(&node).into_iter().flatten() {
            if let Some(start) = stack.iter().position(|n| n == target) {
                // Start the path at the item whose dependency closes the
                // cycle, which is where the problem is reported.
                let mut cycle: Vec<Node> = stack.get(start..).unwrap_or_default().to_vec();
                cycle.rotate_right(1);
                let path: Vec<String> = cycle
                    .iter()
                    .chain(cycle.first())
                    .map(|&n| self.key(n))
                    .collect();
                if let Some(department) = self.departments.get(node.0) {
                    diagnostics.push(
                        department
                            .source
                            .diagnostic(span, format!("dependency cycle: {}", path.join(" -> "))),
                    );
                }
            } else {
                self.visit(*target, edges, done, stack, diagnostics);
            }
        }
        stack.pop();
        done.insert(node);
    }

    fn key(&self, (d, i): Node) -> String {
        let department = self.departments.get(d);
        let item = department
            .and_then(|d| d.raw.as_ref())
            .and_then(|raw| raw.items.get(i))
            .map_or("?", |item| item.id.get_ref().as_str());
        format!("{}/{item}", department.map_or("?", |d| d.id.as_str()))
    }

    /// Ids of the departments a scenario engages, in plan order.
    fn engaged(&self, scenario: &str, all: bool) -> Vec<String> {
        let explicit = self
            .organisation
            .and_then(|(_, organisation)| {
                organisation
                    .scenarios
                    .iter()
                    .find(|s| s.id.get_ref() == scenario)
            })
            .map(|s| s.departments.iter().map(|d| d.get_ref().clone()).collect())
            .unwrap_or_default();
        if !all {
            return explicit;
        }
        self.departments
            .iter()
            .filter(|department| {
                department.raw.as_ref().is_some_and(|raw| {
                    raw.items.iter().any(|item| {
                        item.scenarios
                            .iter()
                            .any(|s| s.get_ref() == "*" || s.get_ref() == scenario)
                    })
                })
            })
            .map(|department| department.id.clone())
            .collect()
    }

    /// Assembles the catalog; only called once validation found nothing.
    fn build(&self) -> Option<Catalog> {
        let (_, organisation) = self.organisation?;
        let scenarios = organisation
            .scenarios
            .iter()
            .map(|scenario| {
                let all = scenario.departments.iter().any(|d| d.get_ref() == "*");
                Scenario {
                    id: scenario.id.get_ref().clone(),
                    title: scenario.title.clone(),
                    description: scenario.description.clone(),
                    departments: self.engaged(scenario.id.get_ref(), all),
                    all_departments: all,
                    regimes: scenario
                        .regimes
                        .iter()
                        .map(|r| r.get_ref().clone())
                        .collect(),
                    approvals: scenario
                        .approvals
                        .iter()
                        .map(|rule| ApprovalRule {
                            from: rule.from,
                            departments: rule
                                .departments
                                .iter()
                                .map(|d| d.get_ref().clone())
                                .collect(),
                            within: rule.within,
                        })
                        .collect(),
                }
            })
            .collect();
        let departments = self
            .departments
            .iter()
            .map(|department| {
                let raw = department.raw.as_ref()?;
                Some(Department {
                    id: department.id.clone(),
                    name: raw.name.clone(),
                    crisis_question: raw.crisis_question.clone(),
                    head: raw.head.as_ref()?.get_ref().clone(),
                    deputies: raw.deputies.iter().map(|d| d.get_ref().clone()).collect(),
                    items: raw
                        .items
                        .iter()
                        .map(|item| Item {
                            id: item.id.get_ref().clone(),
                            title: item.title.clone(),
                            description: item.description.clone(),
                            scenarios: item.scenarios.iter().map(|s| s.get_ref().clone()).collect(),
                            min_severity: item.min_severity,
                            required: item.required,
                            ack_within: item.ack_within,
                            complete_within: item.complete_within,
                            depends_on: item
                                .depends_on
                                .iter()
                                .map(|dep| {
                                    let (d, i) = qualify(&department.id, dep.get_ref());
                                    format!("{d}/{i}")
                                })
                                .collect(),
                            by_severity: item.by_severity.clone(),
                        })
                        .collect(),
                })
            })
            .collect::<Option<Vec<_>>>()?;
        let regimes = self
            .regimes
            .iter()
            .map(|regime| {
                let raw = regime.raw.as_ref()?;
                Some(Regime {
                    id: regime.id.clone(),
                    title: raw.title.clone(),
                    authority: raw.authority.clone(),
                    citation: raw.citation.clone(),
                    source: raw.source.clone(),
                    department: raw.department.as_ref()?.get_ref().clone(),
                    copy_dpo: raw.copy_dpo.as_ref().is_some_and(|flag| *flag.get_ref()),
                    steps: raw.steps.clone(),
                    dossier: raw.dossier.clone(),
                })
            })
            .collect::<Option<Vec<_>>>()?;
        Some(Catalog {
            organisation: Organisation {
                name: organisation.name.clone(),
                commander: organisation.commander.as_ref()?.get_ref().clone(),
                data_protection_officer: organisation
                    .data_protection_officer
                    .as_ref()
                    .map(|dpo| dpo.get_ref().clone()),
                timezone: organisation.timezone,
            },
            scenarios,
            departments,
            regimes,
            templates: organisation.templates.clone(),
            audiences: self
                .audiences
                .iter()
                .map(|audience| {
                    let raw = audience.raw.as_ref()?;
                    Some(Audience {
                        id: audience.id.clone(),
                        title: raw.title.clone(),
                        external: raw.external,
                        scenarios: raw.scenarios.iter().map(|s| s.get_ref().clone()).collect(),
                        min_severity: raw.min_severity,
                        confirm: raw.confirm,
                        remind_after: chrono::Duration::from_std(raw.remind_after).ok()?,
                        members: raw.members.clone(),
                    })
                })
                .collect::<Option<Vec<_>>>()?,
            signals: self
                .signals
                .iter()
                .map(|signal| {
                    let raw = signal.raw.as_ref()?;
                    Some(SignalSource {
                        id: signal.id.clone(),
                        title: raw.title.clone(),
                        rules: raw
                            .rules
                            .iter()
                            .map(|rule| SignalRule {
                                contains_any: rule.contains_any.clone(),
                                action: signal_action(&rule.action),
                            })
                            .collect(),
                        default: signal_action(raw.default.as_ref()?),
                    })
                })
                .collect::<Option<Vec<_>>>()?,
        })
    }
}

fn signal_action(raw: &RawSignalAction) -> SignalAction {
    SignalAction {
        scenario: raw.scenario.get_ref().clone(),
        severity: raw.severity,
        confirm_first: raw.confirm_first,
    }
}

/// `item` is shorthand for an item of the same department.
fn qualify<'d>(department: &'d str, dependency: &'d str) -> (&'d str, &'d str) {
    dependency
        .split_once('/')
        .unwrap_or((department, dependency))
}
