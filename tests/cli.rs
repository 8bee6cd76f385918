//! The `tocsin` binary as a person runs it.

mod support;

use std::path::Path;
use std::process::{Command, Output};

use support::process::{BIN, Server, wait_for};

fn tocsin(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env_remove("TOCSIN_DATABASE_URL")
        .env("TOCSIN_PLAYBOOKS", support::PLAYBOOKS)
        .output()
        .expect("run tocsin")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn playbooks_check_accepts_the_shipped_playbooks() {
    let dir = tempfile::tempdir().unwrap();
    let out = tocsin(dir.path(), &["playbooks", "check", support::PLAYBOOKS]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains(
        "ok (5 departments, 5 scenarios, 5 regimes, 3 statement templates, 4 audiences, 2 signal sources)"
    ));
}

/// Three problems in two files, all reported at once, each at its place.
#[test]
fn playbooks_check_reports_every_problem_with_file_line_and_column() {
    let (_dir, playbooks) = support::playbooks_copy();
    std::fs::write(
        playbooks.join("departments/it.toml"),
        "name = \"IT\"\ncolour = \"blue\"\n[head]\nname = \"I\"\nemail = \"it＠example.com\"\n",
    )
    .unwrap();
    let org = playbooks.join("organisation.toml");
    let text_before = std::fs::read_to_string(&org).unwrap();
    std::fs::write(
        &org,
        text_before.replacen("\"hr\", \"pr\"", "\"hr\", \"marketing\"", 1),
    )
    .unwrap();

    let out = tocsin(
        playbooks.parent().unwrap(),
        &["playbooks", "check", "playbooks"],
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("playbooks/departments/it.toml:2:1: "),
        "{stderr}"
    );
    assert!(stderr.contains("colour"), "{stderr}");
    assert!(
        stderr.contains("playbooks/departments/it.toml:5:9: "),
        "{stderr}"
    );
    assert!(stderr.contains("marketing"), "{stderr}");
    assert!(stderr.contains("playbooks/organisation.toml:"), "{stderr}");

    // serve refuses to start on them, with the same messages.
    let out = Command::new(BIN)
        .arg("serve")
        .current_dir(playbooks.parent().unwrap())
        .env("TOCSIN_PLAYBOOKS", "playbooks")
        .env("TOCSIN_LISTEN", "127.0.0.1:0")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let serve_err = text(&out.stderr);
    assert!(
        serve_err.contains("playbooks/departments/it.toml:2:1: "),
        "{serve_err}"
    );
    assert!(
        !playbooks.parent().unwrap().join("tocsin.db").exists(),
        "nothing was created"
    );
}

/// Addresses a reader would trust but mail would not reach as meant: a
/// Cyrillic letter in a domain, a domain with no top-level domain, a deputy
/// who is the head.
#[test]
fn playbooks_check_refuses_look_alike_and_unreachable_addresses() {
    let (_dir, playbooks) = support::playbooks_copy();
    let edit = |file: &str, from: &str, to: &str| {
        let path = playbooks.join(file);
        let before = std::fs::read_to_string(&path).unwrap();
        assert!(before.contains(from), "{file} has no {from}");
        std::fs::write(&path, before.replacen(from, to, 1)).unwrap();
    };
    // U+0430 is a Cyrillic letter drawn exactly like the Latin a.
    edit(
        "departments/legal.toml",
        "legal-head@example.com",
        "legal-head@ex\u{430}mple.com",
    );
    edit(
        "departments/hr.toml",
        "hr-head@example.com",
        "hr-head@localhost",
    );
    edit(
        "departments/pr.toml",
        "pr-deputy@example.com",
        "pr-head@example.com",
    );

    let out = tocsin(
        playbooks.parent().unwrap(),
        &["playbooks", "check", "playbooks"],
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    for line in [
        "playbooks/departments/hr.toml:29:9: email address \"hr-head@localhost\" has no \
         top-level domain: write its domain in full, such as \"example.com\", so that mail \
         can reach it from any server",
        "playbooks/departments/legal.toml:29:9: email address \"legal-head@ex\u{430}mple.com\" \
         mixes scripts in \"ex\u{430}mple\": U+0430 (Cyrillic) among Latin letters; a letter \
         from another script can look just like the one meant: retype the address in one script",
        "playbooks/departments/pr.toml:33:9: deputy \"pr-head@example.com\" is the head of this \
         department (line 29): escalation would go back to the same person; name someone else",
    ] {
        assert!(
            stderr.lines().any(|l| l == line),
            "no {line:?} in\n{stderr}"
        );
    }
}

/// A retention of 300,000 years made `tocsin purge` panic (exit 101) and
/// killed the server's retention task silently: now it is refused at load,
/// naming the setting and its range.
#[test]
fn an_out_of_range_duration_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    for (command, variable) in [
        (&["purge"][..], "TOCSIN_RETENTION"),
        (&["serve"][..], "TOCSIN_RETENTION"),
        (&["serve"][..], "TOCSIN_LINK_GRACE"),
    ] {
        let out = Command::new(BIN)
            .args(command)
            .current_dir(dir.path())
            .env_remove("TOCSIN_DATABASE_URL")
            .env("TOCSIN_PLAYBOOKS", support::PLAYBOOKS)
            .env("TOCSIN_LISTEN", "127.0.0.1:0")
            .env(variable, "300000years")
            .output()
            .unwrap();
        let stderr = text(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{command:?} {variable}: {stderr}"
        );
        let setting = variable.trim_start_matches("TOCSIN_").to_lowercase();
        assert!(
            stderr.starts_with(&format!("tocsin: {setting}: 300000years "))
                && stderr.contains("out of range"),
            "{command:?} {variable}: {stderr}"
        );
    }
}

#[test]
fn first_start_prints_an_admin_token_once_and_it_works() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let token = format!("tocsin_{}", wait_for(&server.stdout, "tocsin_").trim());
    assert!(
        dir.path().join("tocsin.db").exists(),
        "sqlite://tocsin.db by default"
    );

    // tocsin trigger, a client of the running server.
    let out = Command::new(BIN)
        .args([
            "trigger",
            "--title",
            "Hijacked account",
            "--scenario",
            "account-hijack",
            "--severity",
            "critical",
            "--summary",
            "Rogue posts",
        ])
        .current_dir(dir.path())
        .env("TOCSIN_SERVER", format!("http://{}", server.addr))
        .env("TOCSIN_TOKEN", &token)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let incident: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(incident["severity"], "critical");
    assert_eq!(incident["status"], "open");

    // A token made by the CLI beside the running server.
    let out = tocsin(
        dir.path(),
        &["token", "create", "--role", "legal", "--name", "counsel"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let legal = text(&out.stdout);
    let lines: Vec<&str> = legal.lines().collect();
    assert_eq!(lines.len(), 1, "the secret alone on stdout: {legal:?}");
    assert!(lines[0].starts_with("tocsin_"));
    let out = Command::new(BIN)
        .args([
            "trigger",
            "--title",
            "t",
            "--scenario",
            "account-hijack",
            "--severity",
            "low",
            "--summary",
            "s",
        ])
        .current_dir(dir.path())
        .env("TOCSIN_SERVER", format!("http://{}", server.addr))
        .env("TOCSIN_TOKEN", lines[0])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "legal may not trigger");
    assert!(text(&out.stderr).contains("403"), "{}", text(&out.stderr));

    // SQLite is one server: a second one on the same file is refused.
    let second = Command::new(BIN)
        .arg("serve")
        .current_dir(dir.path())
        .env_remove("TOCSIN_DATABASE_URL")
        .env("TOCSIN_PLAYBOOKS", support::PLAYBOOKS)
        .env("TOCSIN_LISTEN", "127.0.0.1:0")
        .output()
        .unwrap();
    assert_eq!(second.status.code(), Some(1));
    assert!(
        text(&second.stderr).contains("another `tocsin serve` is already running on tocsin.db"),
        "{}",
        text(&second.stderr)
    );
    server.terminate();

    let again = Server::start(dir.path(), &[]).terminate();
    assert!(
        !again.contains("tocsin_"),
        "no second admin token: {again:?}"
    );
}

#[test]
fn migrate_and_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let out = tocsin(dir.path(), &["migrate"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(dir.path().join("tocsin.db").exists());

    let out = tocsin(
        dir.path(),
        &["token", "create", "--role", "root", "--name", "x"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("responder"),
        "{}",
        text(&out.stderr)
    );

    let out = Command::new(BIN)
        .arg("migrate")
        .current_dir(dir.path())
        .env("TOCSIN_DATABASE_URL", "mysql://localhost/x")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("unsupported database URL"));
}

/// An operator on the server's machine lists tokens and takes one back
/// while the server runs: the server refuses it on its next request. Users
/// are listed, changed and removed the same way.
#[test]
fn tokens_and_users_are_listed_revoked_changed_and_removed() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let run = |args: &[&str]| {
        let out = tocsin(dir.path(), args);
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        (text(&out.stdout), text(&out.stderr))
    };
    let (secret, _) = run(&[
        "token",
        "create",
        "--role",
        "responder",
        "--name",
        "status-page",
        "--expires-in",
        "30d",
    ]);
    let secret = secret.trim().to_owned();
    let trigger = |token: &str| {
        Command::new(BIN)
            .args(["trigger", "--title", "t", "--scenario", "account-hijack"])
            .args(["--severity", "low", "--summary", "s"])
            .env("TOCSIN_SERVER", format!("http://{}", server.addr))
            .env("TOCSIN_TOKEN", token)
            .output()
            .unwrap()
    };
    assert!(trigger(&secret).status.success());

    let (list, _) = run(&["token", "list"]);
    let header = list.lines().next().unwrap();
    assert!(
        header.starts_with("ID") && header.contains("LAST USED") && header.ends_with("STATE"),
        "{list}"
    );
    let row = list
        .lines()
        .find(|line| line.contains("status-page"))
        .unwrap_or_else(|| panic!("{list}"));
    assert!(row.contains("responder") && row.ends_with("live"), "{row}");
    assert!(!row.contains("never"), "used, and expiring: {row}");
    assert!(list.contains("first-admin"), "{list}");
    assert!(!list.contains("tocsin_"), "no secret listed: {list}");

    let (_, said) = run(&["token", "revoke", "status-page"]);
    assert!(said.contains("revoked status-page"), "{said}");
    let refused = trigger(&secret);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        text(&refused.stderr).contains("401"),
        "{}",
        text(&refused.stderr)
    );
    let (list, _) = run(&["token", "list"]);
    assert!(
        list.lines()
            .any(|line| line.contains("status-page") && line.ends_with("revoked")),
        "{list}"
    );
    let out = tocsin(dir.path(), &["token", "revoke", "status-page"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("no live token is named"),
        "{}",
        text(&out.stderr)
    );

    run(&["user", "add", "ana@example.org", "--role", "admin"]);
    let (list, _) = run(&["user", "list"]);
    assert!(
        list.lines()
            .any(|line| line.starts_with("ana@example.org") && line.contains("admin")),
        "{list}"
    );
    let (_, said) = run(&["user", "role", "ana@example.org", "--role", "legal"]);
    assert!(
        said.contains("is now legal (was admin): signed out everywhere"),
        "{said}"
    );
    let (_, said) = run(&["user", "remove", "ana@example.org"]);
    assert!(said.contains("removed ana@example.org"), "{said}");
    let (list, _) = run(&["user", "list"]);
    assert!(!list.contains("ana@example.org"), "{list}");
    let out = tocsin(dir.path(), &["user", "remove", "ana@example.org"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("no console user has the address"),
        "{}",
        text(&out.stderr)
    );
    server.terminate();
}
