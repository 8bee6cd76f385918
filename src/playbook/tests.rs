use std::fs;
use std::path::Path;
use std::time::Duration;

use super::*;
use crate::domain::{Plan, PlannedTask, Severity};

const SHIPPED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/playbooks");

const ORGANISATION: &str = r#"name = "Test Corp"
[commander]
name = "Commander"
email = "social-lead@example.com"
[[scenario]]
id = "storm"
title = "Storm"
departments = ["*"]
[[scenario]]
id = "hijack"
title = "Hijack"
departments = ["pr", "legal"]
"#;

const PR: &str = r#"name = "PR"
[head]
name = "Head"
email = "pr-head@example.com"
[[deputies]]
name = "Deputy"
email = "pr-deputy@example.com"
[[item]]
id = "assess"
title = "Assess"
scenarios = ["*"]
ack_within = "30m"
complete_within = "2h"
[[item]]
id = "statement"
title = "Statement"
scenarios = ["*"]
min_severity = "medium"
ack_within = "30m"
complete_within = "2h"
depends_on = ["assess", "legal/review"]
[item.by_severity.high]
ack_within = "15m"
[item.by_severity.critical]
complete_within = "45m"
"#;

const LEGAL: &str = r#"name = "Legal"
[head]
name = "Head"
email = "legal-head@example.com"
[[deputies]]
name = "Deputy"
email = "legal-deputy@example.com"
[[item]]
id = "review"
title = "Review"
scenarios = ["storm"]
min_severity = "high"
ack_within = "10m"
complete_within = "1h"
[[item]]
id = "evidence"
title = "Evidence"
scenarios = ["hijack"]
ack_within = "1h"
complete_within = "4h"
"#;

/// A playbook directory with the given files (relative path, contents).
fn playbooks(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in files {
        let path = dir.path().join(path);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }
    dir
}

fn valid(overrides: &[(&str, &str)]) -> tempfile::TempDir {
    let mut files: Vec<(&str, &str)> = vec![
        ("organisation.toml", ORGANISATION),
        ("departments/pr.toml", PR),
        ("departments/legal.toml", LEGAL),
    ];
    for (path, text) in overrides {
        files.retain(|(p, _)| p != path);
        files.push((path, text));
    }
    playbooks(&files)
}

/// Each problem as "relative/file:line:col: message".
fn problems(dir: &Path) -> Vec<String> {
    match Catalog::load(dir) {
        Ok(_) => Vec::new(),
        Err(diagnostics) => diagnostics
            .iter()
            .map(|d| {
                let file = d.file.strip_prefix(dir).unwrap();
                format!("{}:{}:{}: {}", file.display(), d.line, d.column, d.message)
            })
            .collect(),
    }
}

/// Asserts one problem per expected (file:line:col, message fragment), in order.
fn assert_problems(dir: &Path, expected: &[(&str, &str)]) {
    let found = problems(dir);
    assert_eq!(
        found.len(),
        expected.len(),
        "expected {expected:#?}\nfound {found:#?}"
    );
    for (problem, (location, fragment)) in found.iter().zip(expected) {
        assert!(
            problem.starts_with(&format!("{location}: ")) && problem.contains(fragment),
            "expected {location}: …{fragment}…\nfound {problem}\nall: {found:#?}"
        );
    }
}

fn task_keys(plan: &Plan) -> Vec<String> {
    plan.departments
        .iter()
        .flat_map(|d| d.tasks.iter().map(PlannedTask::key))
        .collect()
}

#[test]
fn shipped_playbooks_load_cleanly() {
    let catalog = match Catalog::load(Path::new(SHIPPED)) {
        Ok(catalog) => catalog,
        Err(diagnostics) => panic!("shipped playbooks are invalid:\n{diagnostics}"),
    };
    let departments: Vec<&str> = catalog
        .departments()
        .iter()
        .map(|d| d.id.as_str())
        .collect();
    assert_eq!(departments, ["hr", "legal", "pr", "sales", "support"]);
    let scenarios: Vec<&str> = catalog.scenarios().iter().map(|s| s.id.as_str()).collect();
    assert_eq!(
        scenarios,
        [
            "social-media-storm",
            "account-hijack",
            "insensitive-campaign",
            "complaint-surge",
            "share-price-threat"
        ]
    );
    for department in catalog.departments() {
        assert!(
            (4..=7).contains(&department.items.len()),
            "{}",
            department.id
        );
        assert_eq!(department.head.email.domain(), "example.com");
    }
    assert_eq!(
        catalog.organisation().commander.email.to_string(),
        "social-lead@example.com"
    );

    for scenario in catalog.scenarios() {
        // Raising the severity only ever adds tasks and tightens timings.
        let mut previous: Option<Plan> = None;
        for severity in Severity::ALL {
            let plan = catalog.plan(&scenario.id, severity).unwrap();
            assert!(
                !plan.departments.is_empty(),
                "{} at {severity}",
                scenario.id
            );
            if let Some(previous) = &previous {
                for task in previous.departments.iter().flat_map(|d| &d.tasks) {
                    let now = plan
                        .departments
                        .iter()
                        .flat_map(|d| &d.tasks)
                        .find(|t| t.key() == task.key())
                        .unwrap_or_else(|| panic!("{} lost {}", scenario.id, task.key()));
                    assert!(now.ack_within <= task.ack_within);
                    assert!(now.complete_within <= task.complete_within);
                    assert!(task.depends_on.iter().all(|d| now.depends_on.contains(d)));
                }
            }
            previous = Some(plan);
        }
    }

    let hijack = catalog.plan("account-hijack", Severity::High).unwrap();
    let order: Vec<&str> = hijack.departments.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(order, ["hr", "pr", "legal", "support"]);
    let briefing = hijack.departments[0]
        .tasks
        .iter()
        .find(|t| t.item == "staff-briefing")
        .unwrap();
    assert_eq!(
        briefing.depends_on,
        ["hr/revoke-access", "pr/holding-statement"]
    );

    let json = serde_json::to_value(catalog.departments()).unwrap();
    let pr = &json[2];
    assert_eq!(pr["head"]["email"], "pr-head@example.com");
    assert_eq!(pr["items"][0]["ack_within"], "30m");
    assert_eq!(pr["items"][0]["min_severity"], "low");
    assert_eq!(
        pr["items"][0]["by_severity"]["critical"]["complete_within"],
        "30m"
    );
}

#[test]
fn plan_filters_by_scenario_and_severity_and_tightens_timings() {
    let dir = valid(&[]);
    let catalog = Catalog::load(dir.path()).unwrap();

    let low = catalog.plan("storm", Severity::Low).unwrap();
    assert_eq!(task_keys(&low), ["pr/assess"]);
    let medium = catalog.plan("storm", Severity::Medium).unwrap();
    assert_eq!(task_keys(&medium), ["pr/assess", "pr/statement"]);
    let critical = catalog.plan("storm", Severity::Critical).unwrap();
    // `["*"]` lists departments by id.
    assert_eq!(
        task_keys(&critical),
        ["legal/review", "pr/assess", "pr/statement"]
    );
    let hijack = catalog.plan("hijack", Severity::Critical).unwrap();
    assert_eq!(
        task_keys(&hijack),
        ["pr/assess", "pr/statement", "legal/evidence"]
    );
    assert_eq!(hijack.scenario, "hijack");
    assert_eq!(hijack.severity, Severity::Critical);
    assert_eq!(hijack.departments[0].deputies[0].name, "Deputy");
    assert!(catalog.plan("flood", Severity::Low).is_none());

    let statement = |plan: &Plan| {
        plan.departments
            .iter()
            .flat_map(|d| &d.tasks)
            .find(|t| t.item == "statement")
            .cloned()
            .unwrap()
    };
    let minutes = |m: u64| Duration::from_secs(m * 60);
    let at_medium = statement(&medium);
    assert_eq!(
        (at_medium.ack_within, at_medium.complete_within),
        (minutes(30), minutes(120))
    );
    let at_high = statement(&catalog.plan("storm", Severity::High).unwrap());
    assert_eq!(
        (at_high.ack_within, at_high.complete_within),
        (minutes(15), minutes(120))
    );
    // Critical sets only complete_within; ack_within falls back to high's.
    let at_critical = statement(&critical);
    assert_eq!(
        (at_critical.ack_within, at_critical.complete_within),
        (minutes(15), minutes(45))
    );
}

#[test]
fn dependency_outside_the_plan_is_dropped() {
    let dir = valid(&[]);
    let catalog = Catalog::load(dir.path()).unwrap();
    let item = &catalog.department("pr").unwrap().items[1];
    assert_eq!(item.depends_on, ["pr/assess", "legal/review"]);

    // legal/review applies to storm from high only, and never to hijack.
    let statement_deps = |scenario, severity| {
        let plan = catalog.plan(scenario, severity).unwrap();
        plan.departments
            .iter()
            .flat_map(|d| &d.tasks)
            .find(|t| t.item == "statement")
            .unwrap()
            .depends_on
            .clone()
    };
    assert_eq!(statement_deps("storm", Severity::Medium), ["pr/assess"]);
    assert_eq!(
        statement_deps("storm", Severity::High),
        ["pr/assess", "legal/review"]
    );
    assert_eq!(statement_deps("hijack", Severity::Critical), ["pr/assess"]);
}

#[test]
fn a_new_department_file_joins_scenarios_for_every_department() {
    let dir = valid(&[(
        "departments/it.toml",
        r#"name = "IT"
[head]
name = "Head"
email = "it-head@example.com"
[[deputies]]
name = "Deputy"
email = "it-deputy@example.com"
[[item]]
id = "lock-down"
title = "Lock down accounts"
scenarios = ["*"]
ack_within = "5m"
complete_within = "30m"
"#,
    )]);
    let catalog = Catalog::load(dir.path()).unwrap();
    let storm = catalog.scenario("storm").unwrap();
    assert!(storm.all_departments);
    assert_eq!(storm.departments, ["it", "legal", "pr"]);
    let plan = catalog.plan("storm", Severity::Low).unwrap();
    assert_eq!(task_keys(&plan), ["it/lock-down", "pr/assess"]);
    // hijack lists its departments, so IT is not engaged there... and its
    // `["*"]` item does not ask to be.
    assert_eq!(
        catalog.scenario("hijack").unwrap().departments,
        ["pr", "legal"]
    );
}

#[test]
fn syntax_error_does_not_hide_other_files() {
    let legal = LEGAL.replace("title = \"Review\"", "title = \"Review\"\ntitel = \"typo\"");
    let dir = valid(&[
        ("departments/pr.toml", "name = \"PR\n[head]\n"),
        ("departments/legal.toml", &legal),
    ]);
    assert_problems(
        dir.path(),
        &[
            (
                "departments/legal.toml:11:1",
                "unknown key `titel` in [[item]]",
            ),
            ("departments/pr.toml:1:11", "invalid TOML"),
        ],
    );
}

#[test]
fn every_unknown_key_is_reported() {
    let dir = valid(&[(
        "departments/legal.toml",
        r#"name = "Legal"
colour = "blue"
[head]
name = "Head"
email = "legal-head@example.com"
phone = "555"
[[deputies]]
name = "Deputy"
email = "legal-deputy@example.com"
[[item]]
id = "review"
title = "Review"
scenarios = ["storm"]
severity = "high"
ack_within = "10m"
complete_within = "1h"
[item.by_severity.high]
ack = "5m"
"#,
    )]);
    assert_problems(
        dir.path(),
        &[
            (
                "departments/legal.toml:2:1",
                "unknown key `colour` in the top level",
            ),
            (
                "departments/legal.toml:6:1",
                "unknown key `phone` in [head]",
            ),
            (
                "departments/legal.toml:14:1",
                "unknown key `severity` in [[item]]; expected one of: id, title",
            ),
            (
                "departments/legal.toml:18:1",
                "unknown key `ack` in [item.by_severity.high]",
            ),
        ],
    );
}

#[test]
fn missing_keys_and_duplicate_ids() {
    let dir = valid(&[
        (
            "organisation.toml",
            r#"name = "Test Corp"
[commander]
name = "Commander"
[[scenario]]
id = "storm"
title = "Storm"
departments = ["*"]
[[scenario]]
id = "storm"
title = "Hijack"
departments = ["pr"]
[[scenario]]
id = "Big-Storm"
departments = []
"#,
        ),
        (
            "departments/legal.toml",
            r#"name = "Legal"
[head]
name = "Head"
email = "legal-head@example.com"
[[deputies]]
name = "Deputy"
email = "legal-deputy@example.com"
[[item]]
id = "review"
title = "Review"
scenarios = ["storm"]
ack_within = "10m"
complete_within = "1h"
[[item]]
id = "review"
title = "Review again"
scenarios = ["storm"]
ack_within = "10m"
complete_within = "1h"
[[item]]
  id = "no_title"
  scenarios = ["storm"]
"#,
        ),
    ]);
    assert_problems(
        dir.path(),
        &[
            (
                "departments/legal.toml:15:6",
                "duplicate item id `review` in this department",
            ),
            (
                "departments/legal.toml:20:1",
                "missing required key `title` in [[item]]",
            ),
            (
                "departments/legal.toml:20:1",
                "missing required key `ack_within` in [[item]]",
            ),
            (
                "departments/legal.toml:20:1",
                "missing required key `complete_within` in [[item]]",
            ),
            (
                "departments/legal.toml:21:8",
                "invalid item id \"no_title\"",
            ),
            (
                "organisation.toml:2:1",
                "missing required key `email` in [commander]",
            ),
            ("organisation.toml:9:6", "duplicate scenario id `storm`"),
            (
                "organisation.toml:12:1",
                "missing required key `title` in [[scenario]]",
            ),
            (
                "organisation.toml:13:6",
                "invalid scenario id \"Big-Storm\"",
            ),
            (
                "organisation.toml:14:15",
                "the scenario engages no department",
            ),
        ],
    );
}

#[test]
fn dangling_dependencies_and_cycles() {
    let dir = valid(&[
        (
            "departments/pr.toml",
            r#"name = "PR"
[head]
name = "Head"
email = "pr-head@example.com"
[[deputies]]
name = "Deputy"
email = "pr-deputy@example.com"
[[item]]
id = "a"
title = "A"
scenarios = ["*"]
ack_within = "30m"
complete_within = "2h"
depends_on = ["legal/b", "nowhere", "it/x", "Bad Id"]
[[item]]
id = "self"
title = "Self"
scenarios = ["*"]
ack_within = "30m"
complete_within = "2h"
depends_on = ["self"]
"#,
        ),
        (
            "departments/legal.toml",
            r#"name = "Legal"
[head]
name = "Head"
email = "legal-head@example.com"
[[deputies]]
name = "Deputy"
email = "legal-deputy@example.com"
[[item]]
id = "b"
title = "B"
scenarios = ["storm"]
ack_within = "10m"
complete_within = "1h"
depends_on = ["pr/a"]
"#,
        ),
    ]);
    assert_problems(
        dir.path(),
        &[
            (
                "departments/pr.toml:14:15",
                "dependency cycle: pr/a -> legal/b -> pr/a",
            ),
            (
                "departments/pr.toml:14:26",
                "department `pr` has no item `nowhere`",
            ),
            ("departments/pr.toml:14:37", "unknown department `it`"),
            ("departments/pr.toml:14:45", "invalid dependency \"Bad Id\""),
            (
                "departments/pr.toml:21:15",
                "dependency cycle: pr/self -> pr/self",
            ),
        ],
    );
}

#[test]
fn bad_durations_and_severities() {
    let dir = valid(&[(
        "departments/legal.toml",
        r#"name = "Legal"
[head]
name = "Head"
email = "legal-head@example.com"
[[deputies]]
name = "Deputy"
email = "legal-deputy@example.com"
[[item]]
id = "review"
title = "Review"
scenarios = ["storm"]
min_severity = "severe"
ack_within = "soon"
complete_within = "0s"
[item.by_severity.urgent]
ack_within = "5m"
[[item]]
id = "evidence"
title = "Evidence"
scenarios = ["storm"]
ack_within = "2h"
complete_within = "1h"
required = "yes"
[item.by_severity.critical]
complete_within = "3h"
"#,
    )]);
    assert_problems(
        dir.path(),
        &[
            (
                "departments/legal.toml:12:16",
                "invalid `min_severity`: unknown severity \"severe\"",
            ),
            (
                "departments/legal.toml:13:14",
                "invalid duration \"soon\" for `ack_within`",
            ),
            (
                "departments/legal.toml:14:19",
                "`complete_within` must be longer than zero",
            ),
            (
                "departments/legal.toml:15:19",
                "invalid key in `by_severity`: unknown severity \"urgent\"",
            ),
            (
                "departments/legal.toml:21:14",
                "ack_within (2h) is longer than complete_within (1h) at severity low",
            ),
            (
                "departments/legal.toml:23:12",
                "`required` must be true or false, found string",
            ),
            (
                "departments/legal.toml:25:19",
                "by_severity.critical.complete_within (3h) is longer than the base value (1h)",
            ),
        ],
    );
}

#[test]
fn cross_file_references_are_checked() {
    let organisation = ORGANISATION.replace(r#"["pr", "legal"]"#, r#"["pr", "finance"]"#);
    let pr = PR.replacen(
        r#"scenarios = ["*"]"#,
        r#"scenarios = ["storm", "flood"]"#,
        1,
    );
    let dir = valid(&[
        ("organisation.toml", &organisation),
        ("departments/pr.toml", &pr),
    ]);
    assert_problems(
        dir.path(),
        &[
            // legal's `evidence` item is for hijack, which no longer engages legal.
            (
                "departments/legal.toml:18:14",
                "item `evidence` applies to scenario `hijack`, which does not engage department `legal`: add \"legal\" to the departments of scenario `hijack`",
            ),
            (
                "departments/pr.toml:11:23",
                "item `assess` names unknown scenario `flood`",
            ),
            (
                "organisation.toml:12:22",
                "scenario `hijack` names unknown department `finance`: there is no departments/finance.toml",
            ),
        ],
    );
}

#[test]
fn contacts_need_valid_emails_and_deputies() {
    let organisation = ORGANISATION.replace("social-lead@example.com", "social-lead＠example.com");
    let pr = PR
        .replace(
            "[[deputies]]\nname = \"Deputy\"\nemail = \"pr-deputy@example.com\"\n",
            "",
        )
        .replace("name = \"PR\"\n", "name = \"PR\"\ndeputies = []\n");
    let dir = valid(&[
        ("organisation.toml", &organisation),
        (
            "departments/legal.toml",
            r#"name = "Légal"
head = { name = "Hé", email = "légal head@example.com" }
[[item]]
id = "review"
title = "Review"
scenarios = ["storm"]
ack_within = "10m"
complete_within = "1h"
"#,
        ),
        ("departments/pr.toml", &pr),
    ]);
    assert_problems(
        dir.path(),
        &[
            (
                "departments/legal.toml:1:1",
                "the department has no deputies",
            ),
            // Columns count characters: `é` is two bytes but one column.
            (
                "departments/legal.toml:2:31",
                "invalid email address \"légal head@example.com\"",
            ),
            ("departments/pr.toml:2:12", "the department has no deputies"),
            (
                "organisation.toml:4:9",
                "invalid email address \"social-lead＠example.com\"",
            ),
        ],
    );
}

#[test]
fn missing_files_and_directories() {
    let empty = playbooks(&[]);
    assert_problems(
        empty.path(),
        &[
            ("departments:1:1", "missing departments directory"),
            ("organisation.toml:1:1", "file not found"),
        ],
    );

    let no_departments = playbooks(&[
        ("organisation.toml", ORGANISATION),
        ("departments/README.md", "one file per department"),
    ]);
    assert_problems(
        no_departments.path(),
        &[
            ("departments:1:1", "no department files"),
            ("organisation.toml:12:16", "unknown department `pr`"),
            ("organisation.toml:12:22", "unknown department `legal`"),
        ],
    );

    let badly_named = valid(&[("departments/Bad_Name.toml", PR)]);
    assert_problems(
        badly_named.path(),
        &[(
            "departments/Bad_Name.toml:1:1",
            "invalid department id \"Bad_Name\" (the file name)",
        )],
    );
}

#[test]
fn diagnostics_display_as_path_line_column_message() {
    let dir = valid(&[("departments/pr.toml", "name = 1\n")]);
    let diagnostics = Catalog::load(dir.path()).unwrap_err();
    let text = diagnostics.to_string();
    let expected = format!(
        "{}:1:8: `name` must be a string, found integer",
        dir.path().join("departments/pr.toml").display()
    );
    assert!(text.lines().any(|line| line == expected), "{text}");
    assert_eq!(text.lines().count(), diagnostics.len());
    let error: &dyn std::error::Error = &diagnostics;
    assert!(error.to_string().contains("missing required key `head`"));
}

#[test]
fn an_organisation_needs_scenarios() {
    let dir = valid(&[(
        "organisation.toml",
        "name = \"Test Corp\"\nscenario = []\n[commander]\nname = \"C\"\nemail = \"c@example.com\"\n",
    )]);
    let found = problems(dir.path());
    assert!(
        found.contains(&"organisation.toml:2:12: no scenarios: add at least one [[scenario]] with id, title and departments".to_owned()),
        "{found:#?}"
    );
}

#[test]
fn an_organisation_may_name_its_time_zone() {
    let organisation = ORGANISATION.replace(
        "name = \"Test Corp\"\n",
        "name = \"Test Corp\"\ntimezone = \"Europe/Paris\"\n",
    );
    let dir = valid(&[("organisation.toml", &organisation)]);
    let catalog = Catalog::load(dir.path()).unwrap();
    assert_eq!(
        catalog.organisation().timezone,
        Some(chrono_tz::Europe::Paris)
    );
    // Without one, mails show UTC only.
    let catalog = Catalog::load(valid(&[]).path()).unwrap();
    assert_eq!(catalog.organisation().timezone, None);
}

#[test]
fn an_unknown_time_zone_is_reported_where_it_is_written() {
    for name in ["Europe/Pariss", "europe/paris", "CET+1", ""] {
        let organisation = ORGANISATION.replace(
            "name = \"Test Corp\"\n",
            &format!("name = \"Test Corp\"\ntimezone = \"{name}\"\n"),
        );
        let dir = valid(&[("organisation.toml", &organisation)]);
        assert_problems(
            dir.path(),
            &[(
                "organisation.toml:2:12",
                &format!("unknown time zone \"{name}\" in `timezone`: use an IANA name"),
            )],
        );
    }
}

fn in_memory(path: &str, text: &[u8]) -> PlaybookFile {
    PlaybookFile {
        path: path.into(),
        content: text.to_vec(),
    }
}

#[test]
fn files_in_memory_load_like_the_directory() {
    let dir = Path::new(SHIPPED);
    let from_disk = Catalog::load(dir).unwrap();
    let organisation = in_memory(
        "organisation.toml",
        &fs::read(dir.join("organisation.toml")).unwrap(),
    );
    let departments = ["support", "hr", "pr", "legal", "sales"]
        .iter()
        .map(|id| {
            let path = format!("departments/{id}.toml");
            in_memory(&path, &fs::read(dir.join(&path)).unwrap())
        })
        .collect();
    let regimes = fs::read_dir(dir.join("regimes"))
        .unwrap()
        .map(|entry| {
            let path = entry.unwrap().path();
            let name = format!("regimes/{}", path.file_name().unwrap().to_string_lossy());
            in_memory(&name, &fs::read(&path).unwrap())
        })
        .collect();
    let in_memory = Catalog::from_files(organisation, departments, regimes).unwrap();
    assert_eq!(in_memory.organisation(), from_disk.organisation());
    assert_eq!(in_memory.scenarios(), from_disk.scenarios());
    assert_eq!(in_memory.departments(), from_disk.departments());
    assert_eq!(in_memory.regimes(), from_disk.regimes());
}

#[test]
fn files_in_memory_report_what_a_directory_cannot_hold() {
    let diagnostics = Catalog::from_files(
        in_memory("organisation.toml", ORGANISATION.as_bytes()),
        vec![
            in_memory("departments/pr.toml", PR.as_bytes()),
            in_memory("departments/legal.toml", LEGAL.as_bytes()),
            in_memory("elsewhere/pr.toml", PR.as_bytes()),
            in_memory("departments/hr.toml", b"name = \"HR\xff\"\n"),
        ],
        vec![],
    )
    .unwrap_err();
    let found: Vec<String> = diagnostics.iter().map(ToString::to_string).collect();
    assert_eq!(
        found,
        [
            "departments/hr.toml:1:11: the file is not valid UTF-8",
            "elsewhere/pr.toml:1:1: duplicate department id `pr`: another file has the same name",
        ]
    );

    let none = Catalog::from_files(
        in_memory("organisation.toml", ORGANISATION.as_bytes()),
        vec![],
        vec![],
    )
    .unwrap_err();
    assert!(
        none.iter()
            .any(|d| d.file == Path::new("departments") && d.message.contains("no department")),
        "{none}"
    );
}

#[test]
fn timings_longer_than_a_year_are_refused() {
    let legal = |ack: &str, complete: &str| {
        LEGAL.replacen(
            "ack_within = \"10m\"\ncomplete_within = \"1h\"",
            &format!("ack_within = \"{ack}\"\ncomplete_within = \"{complete}\""),
            1,
        )
    };
    let longest = legal("1y", "366d");
    assert_ne!(longest, LEGAL);
    let dir = valid(&[("departments/legal.toml", &longest)]);
    let catalog = Catalog::load(dir.path()).unwrap();
    let review = &catalog.department("legal").unwrap().items[0];
    assert_eq!(review.complete_within, Duration::from_secs(366 * 86_400));

    // 300000 years passed once, and opening an incident then overflowed.
    let dir = valid(&[("departments/legal.toml", &legal("367d", "300000y"))]);
    assert_problems(
        dir.path(),
        &[
            (
                "departments/legal.toml:13:14",
                "`ack_within` is \"367d\", longer than a year",
            ),
            (
                "departments/legal.toml:14:19",
                "`complete_within` is \"300000y\", longer than a year",
            ),
        ],
    );
}

#[test]
fn addresses_mixing_scripts_are_refused() {
    // U+0430 and U+0435 are Cyrillic letters drawn exactly like Latin a and e.
    let legal = LEGAL
        .replace("legal-head@example.com", "legal-head@ex\u{430}mple.com")
        .replace("legal-deputy@example.com", "l\u{435}gal-deputy@example.com");
    // A zero-width space cannot be seen at all; a fullwidth a is Latin, but
    // not the a that was meant.
    let pr = PR
        .replace("pr-head@example.com", "pr-head@ex\u{ff41}mple.com")
        .replace("pr-deputy@example.com", "pr-dep\u{200b}uty@example.com");
    let dir = valid(&[
        ("departments/legal.toml", &legal),
        ("departments/pr.toml", &pr),
    ]);
    assert_eq!(
        problems(dir.path()),
        [
            "departments/legal.toml:4:9: email address \"legal-head@ex\u{430}mple.com\" mixes \
             scripts in \"ex\u{430}mple\": U+0430 (Cyrillic) among Latin letters; a letter from \
             another script can look just like the one meant: retype the address in one script",
            "departments/legal.toml:7:9: email address \"l\u{435}gal-deputy@example.com\" mixes \
             scripts in \"l\u{435}gal-deputy\": U+0435 (Cyrillic) among Latin letters; a letter \
             from another script can look just like the one meant: retype the address in one \
             script",
            "departments/pr.toml:4:9: email address \"pr-head@ex\u{ff41}mple.com\" has U+FF41, \
             a variant of another character: retype the address in plain characters",
            "departments/pr.toml:7:9: email address \"pr-dep\\u{200b}uty@example.com\" has \
             U+200B, an invisible character: retype the address in plain characters",
        ]
    );
}

#[test]
fn addresses_without_a_top_level_domain_are_refused() {
    let organisation = ORGANISATION.replace("social-lead@example.com", "social-lead@example");
    let pr = PR
        .replace("pr-head@example.com", "pr-head@localhost")
        .replace("pr-deputy@example.com", "pr-deputy@example.c0m1");
    let legal = LEGAL.replace("legal-head@example.com", "legal-head@[192.0.2.1]");
    let dir = valid(&[
        ("organisation.toml", &organisation),
        ("departments/pr.toml", &pr),
        ("departments/legal.toml", &legal),
    ]);
    assert_eq!(
        problems(dir.path()),
        [
            "departments/legal.toml:4:9: email address \"legal-head@[192.0.2.1]\" has no \
             top-level domain: write its domain in full, such as \"example.com\", so that mail \
             can reach it from any server",
            "departments/pr.toml:4:9: email address \"pr-head@localhost\" has no top-level \
             domain: write its domain in full, such as \"example.com\", so that mail can reach \
             it from any server",
            "departments/pr.toml:7:9: email address \"pr-deputy@example.c0m1\" has no top-level \
             domain: \"c0m1\" is not one, as top-level domains are two letters or more; write \
             its domain in full, such as \"example.com\"",
            "organisation.toml:4:9: email address \"social-lead@example\" has no top-level \
             domain: write its domain in full, such as \"example.com\", so that mail can reach \
             it from any server",
        ]
    );
}

#[test]
fn one_script_per_part_and_one_person_in_two_roles_are_allowed() {
    // Internationalised addresses, each part in one script (Han with
    // Hiragana is one: Japanese); the commander doubling as a deputy; an
    // ASCII-encoded top-level domain.
    let legal = LEGAL
        .replace("legal-head@example.com", "юрист@пример.рф")
        .replace("legal-deputy@example.com", "Social-Lead@Example.com");
    let pr = PR
        .replace("pr-head@example.com", "pr-head@example.xn--p1ai")
        .replace(
            "email = \"pr-deputy@example.com\"\n",
            "email = \"広報@例え.jp\"\n[[deputies]]\nname = \"Second\"\nemail = \"müller@straße.de\"\n",
        );
    let dir = valid(&[
        ("departments/legal.toml", &legal),
        ("departments/pr.toml", &pr),
    ]);
    let catalog = match Catalog::load(dir.path()) {
        Ok(catalog) => catalog,
        Err(diagnostics) => panic!("refused:\n{diagnostics}"),
    };
    let legal = catalog.department("legal").unwrap();
    assert_eq!(legal.head.email.to_string(), "юрист@пример.рф");
    let pr = catalog.department("pr").unwrap();
    let deputies: Vec<String> = pr.deputies.iter().map(|d| d.email.to_string()).collect();
    assert_eq!(deputies, ["広報@例え.jp", "müller@straße.de"]);
}

#[test]
fn a_deputy_is_neither_the_head_nor_listed_twice() {
    let legal = LEGAL.replace(
        "[[deputies]]\nname = \"Deputy\"\nemail = \"legal-deputy@example.com\"\n",
        r#"[[deputies]]
name = "Head again"
email = "Legal-Head@Example.com"
[[deputies]]
name = "Deputy"
email = "legal-deputy@example.com"
[[deputies]]
name = "Deputy again"
email = "LEGAL-deputy@example.com"
"#,
    );
    let dir = valid(&[("departments/legal.toml", &legal)]);
    assert_eq!(
        problems(dir.path()),
        [
            "departments/legal.toml:7:9: deputy \"Legal-Head@Example.com\" is the head of this \
             department (line 4): escalation would go back to the same person; name someone else",
            "departments/legal.toml:13:9: deputy \"LEGAL-deputy@example.com\" is listed twice \
             (first at line 10): remove one",
        ]
    );
}

#[test]
fn look_alike_addresses_are_refused_across_files() {
    // A capital I reads as a small l; "rn" reads as "m".
    let legal = LEGAL.replace("legal-deputy@example.com", "sociaI-lead@example.com");
    let pr = PR.replace("pr-deputy@example.com", "pr-head@exarnple.com");
    let dir = valid(&[
        ("departments/legal.toml", &legal),
        ("departments/pr.toml", &pr),
    ]);
    assert_eq!(
        problems(dir.path()),
        [
            "departments/legal.toml:7:9: email address \"sociaI-lead@example.com\" looks like \
             \"social-lead@example.com\" (organisation.toml:4) but is a different address: if \
             they are one person, write the address the same way in both places",
            "departments/pr.toml:7:9: email address \"pr-head@exarnple.com\" looks like \
             \"pr-head@example.com\" (departments/pr.toml:4) but is a different address: if \
             they are one person, write the address the same way in both places",
        ]
    );
}

const REGIME: &str = r#"title = "Test regime"
authority = "The authority"
citation = "Art. 1"
source = "https://example.eu/text"
department = "legal"
[[step]]
id = "first"
title = "First report"
citation = "Art. 1(1)"
after = "awareness"
within = "72h"
[[step]]
id = "second"
title = "Second report"
citation = "Art. 1(2)"
after = "submitted:first"
within = "1 month"
[[dossier]]
label = "What happened"
citation = "Art. 1(3)"
prefill = "summary"
"#;

/// The test playbooks with one regime file, `regimes/test.toml`.
fn with_regime(regime: &str) -> tempfile::TempDir {
    valid(&[("regimes/test.toml", regime)])
}

fn hours(count: u64) -> Duration {
    Duration::from_secs(count * 60 * 60)
}

fn utc(text: &str) -> chrono::DateTime<chrono::Utc> {
    text.parse().unwrap()
}

#[test]
fn shipped_playbooks_have_five_regimes() {
    let catalog = Catalog::load(Path::new(SHIPPED)).unwrap();
    let ids: Vec<&str> = catalog.regimes().iter().map(|r| r.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "dora-art19",
            "gdpr-art33",
            "mar-art17",
            "nis2-art23",
            "sec-8k-item-1-05"
        ]
    );
    for regime in catalog.regimes() {
        assert!(regime.source.starts_with("https://"), "{}", regime.id);
        assert!(!regime.steps.is_empty() && !regime.dossier.is_empty());
        let contacts = catalog.regime_contacts(regime).unwrap();
        assert_eq!(contacts.head.email, "legal-head@example.com");
        assert!(!contacts.deputies.is_empty());
        assert_eq!(contacts.dpo.is_some(), regime.copy_dpo, "{}", regime.id);
    }
    let gdpr = catalog.regime("gdpr-art33").unwrap();
    assert_eq!(
        catalog.regime_contacts(gdpr).unwrap().dpo.unwrap().email,
        "dpo@example.com"
    );
    assert!(gdpr.steps[0].late_needs_reasons);
    assert_eq!(gdpr.steps[0].reminders, [hours(24), hours(4)]);
    assert!(catalog.regime("sec-8k-1.05").is_none());

    let hijack = catalog.scenario("account-hijack").unwrap();
    assert!(hijack.regimes.iter().any(|id| id == "gdpr-art33"));
    for scenario in catalog.scenarios() {
        for id in &scenario.regimes {
            assert!(catalog.regime(id).is_some(), "{} names {id}", scenario.id);
        }
    }
    assert_eq!(
        catalog
            .organisation()
            .data_protection_officer
            .as_ref()
            .unwrap()
            .email
            .to_string(),
        "dpo@example.com"
    );
}

#[test]
fn shipped_regimes_give_the_statutory_deadlines() {
    use crate::domain::regulatory::{Fact, Start};

    let catalog = Catalog::load(Path::new(SHIPPED)).unwrap();
    let step = |regime: &str, step: &str| {
        let regime = catalog.regime(regime).unwrap();
        regime.steps.iter().find(|s| s.id == step).unwrap().clone()
    };
    let due = |regime: &str, id: &str, start: &str| {
        let rule = step(regime, id);
        rule.deadline.within.after(utc(start)).unwrap().to_rfc3339()
    };

    // GDPR: 72 clock hours from awareness, through the weekend.
    let gdpr = step("gdpr-art33", "notify-authority");
    assert_eq!(gdpr.deadline.after, Start::Fact(Fact::Awareness));
    assert_eq!(
        due("gdpr-art33", "notify-authority", "2027-01-04T07:10:00Z"),
        "2027-01-07T07:10:00+00:00"
    );

    // NIS2: early warning and notification from awareness; the final report a
    // month after the notification was submitted, clamped to February's end.
    assert_eq!(
        due("nis2-art23", "early-warning", "2027-01-04T07:10:00Z"),
        "2027-01-05T07:10:00+00:00"
    );
    assert_eq!(
        due("nis2-art23", "notification", "2027-01-04T07:10:00Z"),
        "2027-01-07T07:10:00+00:00"
    );
    let final_report = step("nis2-art23", "final-report");
    assert_eq!(
        final_report.deadline.after,
        Start::Submitted("notification".to_owned())
    );
    assert_eq!(
        due("nis2-art23", "final-report", "2027-01-31T10:00:00Z"),
        "2027-02-28T10:00:00+00:00"
    );

    // DORA: 4 h from classification but no later than 24 h from awareness;
    // a limit already past when classification comes does not apply.
    let initial = step("dora-art19", "initial");
    assert_eq!(initial.deadline.after, Start::Fact(Fact::ClassifiedMajor));
    let limit = initial.no_later_than.clone().unwrap();
    assert_eq!(limit.after, Start::Fact(Fact::Awareness));
    let effective = |aware: &str, classified: &str| {
        let own = initial.deadline.within.after(utc(classified)).unwrap();
        let limit = limit.within.after(utc(aware)).unwrap();
        if limit > utc(classified) {
            own.min(limit)
        } else {
            own
        }
        .to_rfc3339()
    };
    assert_eq!(
        effective("2027-01-04T07:10:00Z", "2027-01-04T09:00:00Z"),
        "2027-01-04T13:00:00+00:00"
    );
    assert_eq!(
        effective("2027-01-04T07:10:00Z", "2027-01-05T05:10:00Z"),
        "2027-01-05T07:10:00+00:00",
        "classified at 22 h: the 24 h limit binds"
    );
    assert_eq!(
        effective("2027-01-04T07:10:00Z", "2027-01-05T09:00:00Z"),
        "2027-01-05T13:00:00+00:00",
        "classified after 24 h: 4 h from classification (Art. 5(2))"
    );
    assert_eq!(
        due("dora-art19", "intermediate", "2027-01-04T12:30:00Z"),
        "2027-01-07T12:30:00+00:00"
    );
    assert_eq!(
        step("dora-art19", "final").deadline.after,
        Start::Submitted("intermediate".to_owned())
    );
    assert_eq!(
        due("dora-art19", "final", "2027-01-07T11:00:00Z"),
        "2027-02-07T11:00:00+00:00"
    );

    // SEC: four business days from the determination, to 17:30 in New York.
    // Friday 15 January 2027 at 15:00 EST; Monday 18 is a federal holiday.
    assert_eq!(
        due("sec-8k-item-1-05", "file-8k", "2027-01-15T20:00:00Z"),
        "2027-01-22T22:30:00+00:00"
    );
    // Form 8-K General Instruction B.1: a determination on a Saturday runs
    // from, and includes, the next business day: Monday to Thursday.
    assert_eq!(
        due("sec-8k-item-1-05", "file-8k", "2027-01-09T15:00:00Z"),
        "2027-01-14T22:30:00+00:00"
    );
}

#[test]
fn a_regime_file_joins_the_catalog() {
    let dir = valid(&[
        ("regimes/test.toml", REGIME),
        ("regimes/README.md", "not a regime"),
    ]);
    let catalog = Catalog::load(dir.path()).unwrap();
    let regime = catalog.regime("test").unwrap();
    assert_eq!(regime.department, "legal");
    assert!(!regime.copy_dpo);
    let ids: Vec<&str> = regime.steps.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["first", "second"]);
    // Defaults: 24 h and 4 h before (those shorter than the period), the
    // deputies an hour before.
    assert_eq!(regime.steps[0].reminders, [hours(24), hours(4)]);
    assert_eq!(regime.steps[0].deputies_before, hours(1));
    assert!(!regime.steps[0].late_needs_reasons);
    assert_eq!(
        regime.dossier[0].prefill,
        crate::domain::regulatory::Prefill::Summary
    );
    let contacts = catalog.regime_contacts(regime).unwrap();
    assert!(contacts.dpo.is_none());

    // A 12-hour step is reminded 4 h before only.
    let short = REGIME.replacen("within = \"72h\"", "within = \"12h\"", 1);
    let catalog = Catalog::load(with_regime(&short).path()).unwrap();
    assert_eq!(catalog.regimes()[0].steps[0].reminders, [hours(4)]);

    // Without a regimes directory there are simply none.
    assert!(
        Catalog::load(valid(&[]).path())
            .unwrap()
            .regimes()
            .is_empty()
    );
}

#[test]
fn regime_problems_are_reported_where_they_are() {
    let unknown_key = REGIME.replacen(
        "within = \"72h\"\n",
        "within = \"72h\"\nwithn = \"1h\"\n",
        1,
    );
    assert_problems(
        with_regime(&unknown_key).path(),
        &[("regimes/test.toml:12:1", "unknown key `withn` in [[step]]")],
    );

    let bad_period = REGIME.replacen("\"72h\"", "\"72 parsecs\"", 1);
    assert_problems(
        with_regime(&bad_period).path(),
        &[(
            "regimes/test.toml:11:10",
            "invalid `within`: `72 parsecs` is not a period",
        )],
    );

    let clock_month = REGIME.replacen("\"1 month\"", "\"1M\"", 1);
    assert_problems(
        with_regime(&clock_month).path(),
        &[(
            "regimes/test.toml:17:10",
            "mixes clock time and calendar units",
        )],
    );

    let ambiguous = REGIME.replacen("\"72h\"", "\"730h 33m 36s\"", 1);
    assert_problems(
        with_regime(&ambiguous).path(),
        &[("regimes/test.toml:11:10", "reads back differently")],
    );

    let later = REGIME.replacen("after = \"awareness\"", "after = \"submitted:second\"", 1);
    assert_problems(
        with_regime(&later).path(),
        &[("regimes/test.toml:10:9", "names a later step")],
    );

    let nowhere = REGIME.replacen("submitted:first", "submitted:third", 1);
    assert_problems(
        with_regime(&nowhere).path(),
        &[("regimes/test.toml:16:9", "names no step of this regime")],
    );

    let bad_start = REGIME.replacen("\"awareness\"", "\"discovery\"", 1);
    assert_problems(
        with_regime(&bad_start).path(),
        &[("regimes/test.toml:10:9", "unknown start `discovery`")],
    );

    let increasing = REGIME.replacen(
        "within = \"72h\"\n",
        "within = \"72h\"\nreminders = [\"4h\", \"24h\"]\n",
        1,
    );
    assert_problems(
        with_regime(&increasing).path(),
        &[(
            "regimes/test.toml:12:20",
            "reminders must be strictly decreasing",
        )],
    );

    let too_early = REGIME.replacen(
        "within = \"72h\"\n",
        "within = \"72h\"\nreminders = [\"3d\", \"4h\"]\ndeputies_before = \"4h\"\n",
        1,
    );
    assert_problems(
        with_regime(&too_early).path(),
        &[
            (
                "regimes/test.toml:12:14",
                "a reminder 3d before the deadline is not shorter than the step's period (72h)",
            ),
            (
                "regimes/test.toml:13:19",
                "must be shorter than every reminder",
            ),
        ],
    );

    let no_department = REGIME.replacen("\"legal\"", "\"compliance\"", 1);
    assert_problems(
        with_regime(&no_department).path(),
        &[(
            "regimes/test.toml:5:14",
            "regime `test` names unknown department `compliance`",
        )],
    );

    let organisation = format!("{ORGANISATION}regimes = [\"test\", \"gdpr\"]\n");
    let dir = valid(&[
        ("organisation.toml", &organisation),
        ("regimes/test.toml", REGIME),
    ]);
    assert_problems(
        dir.path(),
        &[(
            "organisation.toml:13:20",
            "scenario `hijack` names unknown regime `gdpr`: there is no regimes/gdpr.toml",
        )],
    );
}

#[test]
fn every_problem_in_a_regime_is_reported_at_once() {
    let regime = r#"title = "Test regime"
authority = "The authority"
citation = "Art. 1"
source = "http://example.eu/text"
department = "legal"
copy_dpo = true
[[step]]
id = "first"
title = "First report"
after = "awareness"
within = "0h"
[[step]]
id = "first"
title = "Again"
citation = "Art. 1(2)"
after = "submitted:first"
within = "4h"
no_later_than = { after = "submitted:first", within = "24h" }
[[dossier]]
label = "What happened"
citation = "Art. 1(3)"
prefill = "gossip"
"#;
    assert_problems(
        with_regime(regime).path(),
        &[
            (
                "regimes/test.toml:4:10",
                "`source` must be the https:// address",
            ),
            (
                "regimes/test.toml:6:12",
                "copies the data protection officer, but organisation.toml names none",
            ),
            (
                "regimes/test.toml:7:1",
                "missing required key `citation` in [[step]]",
            ),
            (
                "regimes/test.toml:11:10",
                "`within` must be longer than zero",
            ),
            ("regimes/test.toml:13:6", "duplicate step id `first`"),
            ("regimes/test.toml:16:9", "names this step itself"),
            ("regimes/test.toml:18:27", "names this step itself"),
            ("regimes/test.toml:22:11", "unknown prefill \"gossip\""),
        ],
    );

    assert_problems(
        valid(&[("regimes/Test.toml", REGIME)]).path(),
        &[(
            "regimes/Test.toml:1:1",
            "invalid regime id \"Test\" (the file name)",
        )],
    );
}

#[test]
fn approvals_resolve_by_severity_to_the_departments_people() {
    let organisation = format!(
        "{ORGANISATION}[[scenario.approval]]\ndepartments = [\"legal\"]\nwithin = \"15m\"\n\
         [[scenario.approval]]\nfrom = \"high\"\ndepartments = [\"legal\", \"pr\"]\nwithin = \"5m\"\n"
    );
    let dir = valid(&[("organisation.toml", &organisation)]);
    let catalog = Catalog::load(dir.path()).unwrap();
    let low = catalog.approval_policy("hijack", Severity::Medium).unwrap();
    assert_eq!(
        low.approvers
            .iter()
            .map(|a| a.department.as_str())
            .collect::<Vec<_>>(),
        ["legal"]
    );
    assert_eq!(low.within, chrono::Duration::minutes(15));
    assert_eq!(low.approvers[0].head.email, "legal-head@example.com");
    assert_eq!(
        low.approvers[0].deputies[0].email,
        "legal-deputy@example.com"
    );
    let high = catalog
        .approval_policy("hijack", Severity::Critical)
        .unwrap();
    assert_eq!(high.approvers.len(), 2, "both must approve");
    assert_eq!(high.within, chrono::Duration::minutes(5));
    // A scenario naming no approver has no policy: submitting is refused.
    assert!(
        catalog
            .approval_policy("storm", Severity::Critical)
            .is_none()
    );
}

#[test]
fn approvals_and_templates_are_checked_where_they_are_written() {
    let text = "We are aware of {issue}. Update by {time}.";
    let good = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(text.as_bytes()));
    let organisation = format!(
        r#"{ORGANISATION}[[scenario.approval]]
departments = ["legal", "finance"]
within = "15m"
[[scenario.approval]]
from = "urgent"
departments = []
within = "soon"

[[template]]
id = "holding"
title = "Holding"
language = "en"
text = "{text}"
approved = {{ by = "Legal", sha256 = "{good}" }}

[[template]]
id = "edited"
title = "Edited since approval"
language = "en"
text = "We are aware of {{issue}}."
approved = {{ by = "Legal", sha256 = "{good}" }}

[[template]]
id = "ambiguous"
title = "Touching placeholders"
language = "en"
text = "At {{time}}{{date}}."
"#
    );
    let dir = valid(&[("organisation.toml", &organisation)]);
    assert_problems(
        dir.path(),
        &[
            ("organisation.toml:14:25", "unknown department `finance`"),
            ("organisation.toml:17:8", "invalid `from`"),
            ("organisation.toml:18:15", "names no department"),
            ("organisation.toml:19:10", "invalid duration \"soon\""),
            (
                "organisation.toml:33:37",
                "has changed since it was approved",
            ),
            ("organisation.toml:39:8", "two placeholders touch"),
        ],
    );
    let shipped = Catalog::load(Path::new(SHIPPED)).unwrap();
    assert!(
        shipped
            .templates()
            .iter()
            .all(|template| template.approved_by.is_some()),
        "the shipped holding statements are approved, and their hashes match"
    );
}

const SIGNALS: &str = r#"title = "Listening"

[[rule]]
contains_any = ["hack", "piraté"]
scenario = "hijack"
severity = "high"

[[rule]]
contains_any = ["boycott"]
scenario = "storm"
severity = "medium"
confirm_first = true

[default]
scenario = "storm"
severity = "low"
confirm_first = true
"#;

#[test]
fn a_signal_source_file_joins_the_catalog() {
    let dir = valid(&[("signals/listening.toml", SIGNALS)]);
    let catalog = Catalog::load(dir.path()).unwrap();
    let source = catalog.signal_source("listening").unwrap();
    assert_eq!(source.title, "Listening");
    assert_eq!(source.rules.len(), 2);
    assert_eq!(source.rules[0].contains_any, ["hack", "piraté"]);
    assert_eq!(source.rules[0].action.scenario, "hijack");
    assert!(!source.rules[0].action.confirm_first);
    assert!(source.rules[1].action.confirm_first);
    assert_eq!(source.default.severity, Severity::Low);
    // Without a signals directory there are simply none.
    assert!(
        Catalog::load(valid(&[]).path())
            .unwrap()
            .signal_sources()
            .is_empty()
    );
}

#[test]
fn signal_problems_are_reported_where_they_are() {
    let unknown_scenario = SIGNALS.replacen("scenario = \"storm\"", "scenario = \"flood\"", 1);
    assert_problems(
        valid(&[("signals/listening.toml", &unknown_scenario)]).path(),
        &[(
            "signals/listening.toml:10:12",
            "signal source `listening` names unknown scenario `flood`",
        )],
    );
    let bad_severity = SIGNALS.replacen("\"high\"", "\"urgent\"", 1);
    assert_problems(
        valid(&[("signals/listening.toml", &bad_severity)]).path(),
        &[(
            "signals/listening.toml:6:12",
            "invalid `severity`: unknown severity \"urgent\"",
        )],
    );
    let blank_word = SIGNALS.replacen("\"boycott\"", "\" \"", 1);
    assert_problems(
        valid(&[("signals/listening.toml", &blank_word)]).path(),
        &[
            ("signals/listening.toml:8:1", "the rule matches nothing"),
            ("signals/listening.toml:9:17", "must not be blank"),
        ],
    );
    let no_default = SIGNALS.replacen("[default]", "[defaults]", 1);
    let found = problems(valid(&[("signals/listening.toml", &no_default)]).path());
    assert!(
        found.iter().any(|p| p.contains("unknown key `defaults`"))
            && found
                .iter()
                .any(|p| p.contains("missing required key `default`")),
        "{found:#?}"
    );
    assert_problems(
        valid(&[("signals/Bad_Name.toml", SIGNALS)]).path(),
        &[("signals/Bad_Name.toml:1:1", "invalid signal source id")],
    );
}

#[test]
fn shipped_signal_sources_load() {
    let catalog = Catalog::load(Path::new(SHIPPED)).unwrap();
    let ids: Vec<&str> = catalog
        .signal_sources()
        .iter()
        .map(|s| s.id.as_str())
        .collect();
    assert_eq!(ids, ["brandwatch", "monitoring"]);
}
