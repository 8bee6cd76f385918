//! The fuzz targets' checks on stable Rust: every committed seed under
//! `fuzz/seeds/<target>/` and every input that once broke a target, kept
//! under `fuzz/regressions/<target>/`, goes through the same checks
//! (`tocsin::fuzzing`) the fuzzers run. See `.ci/fuzz` for the fuzzers.
//!
//! The seeds are regenerated, from the shipped playbooks and from exports of
//! a running server, with
//! `cargo test --test fuzz_regressions -- --ignored write_seeds`.

mod support;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use tocsin::fuzzing::{
    Outcome, SEED_PUBLIC_KEY, SEED_SIGNING_KEY, Violation, check_link_token, check_playbook_loader,
    check_reply_reader, check_timeline_export, check_timeline_verify, edit_export, join_delivery,
    join_link_request, join_playbooks, split_delivery, timeline_export,
};

type Check<'a> = &'a dyn Fn(&[u8]) -> Result<Outcome, Violation>;

const FUZZ: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz");

/// Files in `fuzz/<kind>/<target>/`, sorted; none if the directory is absent.
fn inputs(kind: &str, target: &str) -> Vec<PathBuf> {
    let dir = Path::new(FUZZ).join(kind).join(target);
    let mut files: Vec<PathBuf> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries
            .map(|entry| entry.expect("directory entry").path())
            .filter(|path| path.is_file())
            .collect(),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(error) => panic!("{}: {error}", dir.display()),
    };
    files.sort();
    files
}

/// Runs every seed and regression of `target`; fails naming each input that
/// panics or breaks an invariant. Returns the seeds' outcomes.
fn replay(target: &str, check: Check<'_>) -> Vec<Outcome> {
    let seeds = inputs("seeds", target);
    assert!(
        !seeds.is_empty(),
        "no seeds for {target} under {FUZZ}/seeds"
    );
    let mut failures = Vec::new();
    let mut outcomes = Vec::new();
    for (path, is_seed) in seeds
        .iter()
        .map(|p| (p, true))
        .chain(inputs("regressions", target).iter().map(|p| (p, false)))
        .collect::<Vec<_>>()
    {
        let data = std::fs::read(path).expect("read input");
        match catch_unwind(AssertUnwindSafe(|| check(&data))) {
            Ok(Ok(outcome)) => {
                if is_seed {
                    outcomes.push(outcome);
                }
            }
            Ok(Err(violation)) => failures.push(format!("{}: {violation}", path.display())),
            Err(_) => failures.push(format!("{}: panicked (see above)", path.display())),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    outcomes
}

#[test]
fn playbook_loader_seeds_and_regressions() {
    let outcomes = replay("playbook_loader", &check_playbook_loader);
    assert!(
        outcomes.contains(&Outcome::Accepted),
        "no playbook seed loads: the fuzzer would start from errors only"
    );
}

#[test]
fn timeline_verify_seeds_and_regressions() {
    let seeds = timeline_seeds();
    let seeds: Vec<&[u8]> = seeds.iter().map(Vec::as_slice).collect();
    let outcomes = replay("timeline_verify", &|data| {
        check_timeline_verify(&seeds, data)
    });
    assert!(
        outcomes.iter().all(|o| *o == Outcome::Accepted),
        "every timeline seed is a real export, or one unedited, and must verify: {outcomes:?}"
    );
}

/// The signed exports, in file-name order as the fuzz target embeds them.
fn timeline_seeds() -> Vec<Vec<u8>> {
    inputs("seeds", "timeline_verify")
        .iter()
        .map(|path| std::fs::read(path).expect("read seed"))
        .filter(|data| data.first() == Some(&b'{'))
        .collect()
}

/// The edits the fuzzer makes to seeds do what they say.
#[test]
fn edits_to_a_seed_export_doctor_it_as_described() {
    let seed = br#"{"a":1,"b":{"c":[1,{"d":"x,}"}],"e":2},"f":3}"#;
    let edit = |edits: &[u8]| String::from_utf8(edit_export(seed, edits)).expect("UTF-8");
    assert_eq!(edit(&[]), String::from_utf8_lossy(seed));
    // Repeat the member found from offset 8 on (`"c":[...]`).
    assert_eq!(
        edit(&[3, 8, 0, 0]),
        r#"{"a":1,"b":{"c":[1,{"d":"x,}"}],"c":[1,{"d":"x,}"}],"e":2},"f":3}"#
    );
    // Drop the last member of an object, and the comma before it.
    let at = u8::try_from(seed.iter().position(|b| *b == b'e').expect("e")).expect("small");
    assert_eq!(
        edit(&[4, at - 1, 0, 0]),
        r#"{"a":1,"b":{"c":[1,{"d":"x,}"}]},"f":3}"#
    );
    // Change, insert and delete bytes.
    assert_eq!(
        edit(&[0, 5, 0, b'7', 1, 0, 0, b' ', 2, 0, 0, 0]),
        r#"{"a":7,"b":{"c":[1,{"d":"x,}"}],"e":2},"f":3}"#
    );
    // The first byte of a fuzz input picks the seed; `{` means no seed.
    assert_eq!(timeline_export(&[seed], &[7]), seed.to_vec());
    assert_eq!(timeline_export(&[seed], b"{}"), b"{}".to_vec());
}

/// The failure modes the timeline checks exist for: a changed value that
/// still hashes the same must not pass as verified.
#[test]
fn the_timeline_check_catches_what_the_hash_does_not_cover() {
    let seeds = timeline_seeds();
    let seed = seeds.last().expect("a seed");
    let text = std::str::from_utf8(seed).expect("UTF-8");
    // A seventh fractional digit on the first event's time.
    let at = text.find("\"seq\":1,\"at\":\"").expect("event 1");
    let z = at + text[at..].find("Z\"").expect("its time");
    let finer = [&text[..z], "9", &text[z..]].concat();
    // The data's first key given again, with another value, before it.
    let data = text.find("\"data\":{").expect("data") + "\"data\":{".len();
    let twice = [&text[..data], "\"commander\":\"Mallory\",", &text[data..]].concat();
    for doctored in [finer, twice] {
        let report = tocsin::timeline::verify_export(doctored.as_bytes());
        assert!(!report.ok, "{report}\n{doctored}");
        assert_eq!(
            check_timeline_export(doctored.as_bytes()),
            Ok(Outcome::Refused)
        );
    }
}

#[test]
fn link_token_seeds_and_regressions() {
    let outcomes = replay("link_token", &check_link_token);
    assert!(outcomes.contains(&Outcome::Accepted));
    assert!(outcomes.contains(&Outcome::Refused));
}

#[test]
fn reply_reader_seeds_and_regressions() {
    let outcomes = replay("reply_reader", &check_reply_reader);
    assert!(
        outcomes.iter().all(|o| *o == Outcome::Accepted),
        "every reply seed is a real-shaped message: {outcomes:?}"
    );
    assert_eq!(check_reply_reader(b"\n"), Ok(Outcome::Refused));
    let input = join_delivery("crisis+k@d", b"From: a@d\r\n\r\nOK\r\n");
    assert_eq!(
        split_delivery(&input),
        (
            Some("crisis+k@d".to_owned()),
            &b"From: a@d\r\n\r\nOK\r\n"[..]
        )
    );
}

/// A one-byte edit to an event of a real export does not verify, and the
/// check agrees.
#[test]
fn a_changed_byte_in_a_seed_export_does_not_verify() {
    let export = timeline_seeds()
        .into_iter()
        .next()
        .expect("a timeline seed");
    let text = String::from_utf8(export).expect("UTF-8");
    let at = text.find("\"kind\":\"").expect("an event") + "\"kind\":\"".len();
    let mut edited = text.into_bytes();
    edited[at] ^= 0x01;
    assert_eq!(check_timeline_export(&edited), Ok(Outcome::Refused));
    assert!(!tocsin::timeline::verify_export(&edited).ok);
}

// ---------------------------------------------------------------------------
// Seed generation (run by hand; the output is committed).

fn write_seed(target: &str, name: &str, data: &[u8]) {
    let dir = Path::new(FUZZ).join("seeds").join(target);
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(dir.join(name), data).expect("write seed");
}

#[tokio::test]
#[ignore = "writes fuzz/seeds: run by hand, then commit the result"]
async fn write_seeds() {
    write_playbook_seeds();
    write_link_seeds();
    write_reply_seeds();
    write_timeline_seeds().await;
}

fn write_playbook_seeds() {
    let root = Path::new(support::PLAYBOOKS);
    let read = |path: &str| std::fs::read(root.join(path)).expect("read playbook");
    let organisation = read("organisation.toml");
    let ids = ["hr", "legal", "pr", "sales", "support"];
    let departments: Vec<(&str, Vec<u8>)> = ids
        .iter()
        .map(|id| (*id, read(&format!("departments/{id}.toml"))))
        .collect();
    let all: Vec<(&str, &[u8])> = departments.iter().map(|(i, c)| (*i, &c[..])).collect();
    let regimes: Vec<(String, Vec<u8>)> = std::fs::read_dir(root.join("regimes"))
        .expect("the shipped regimes")
        .map(|entry| {
            let path = entry.expect("entry").path();
            let id = path
                .file_stem()
                .expect("a file")
                .to_string_lossy()
                .into_owned();
            (
                format!("regimes/{id}"),
                std::fs::read(&path).expect("read regime"),
            )
        })
        .collect();
    let with_regimes: Vec<(&str, &[u8])> = all
        .iter()
        .copied()
        .chain(
            regimes
                .iter()
                .map(|(name, content)| (name.as_str(), &content[..])),
        )
        .collect();
    write_seed(
        "playbook_loader",
        "shipped",
        &join_playbooks(&organisation, &with_regimes),
    );
    // Two departments only: the other scenarios' references dangle.
    write_seed(
        "playbook_loader",
        "shipped-pr-legal",
        &join_playbooks(&organisation, &all[1..3]),
    );

    let drill = tempfile::tempdir().expect("temp dir");
    support::drill::write(drill.path(), "15m", "1h");
    let read = |path: &str| std::fs::read(drill.path().join(path)).expect("read drill");
    write_seed(
        "playbook_loader",
        "drill",
        &join_playbooks(
            &read("organisation.toml"),
            &[
                ("legal", &read("departments/legal.toml")),
                ("pr", &read("departments/pr.toml")),
            ],
        ),
    );
}

fn write_link_seeds() {
    let secret = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    let form = "application/x-www-form-urlencoded";
    let seeds = [
        ("acknowledge", secret.to_owned(), form, "action=acknowledge"),
        (
            "complete-with-note",
            secret.to_owned(),
            form,
            "action=complete&note=Statement+out%2C+see+%23press",
        ),
        (
            "skip-percent-encoded",
            secret.replacen('a', "%61", 2),
            "application/x-www-form-urlencoded; charset=UTF-8",
            "reason=%20not+needed%20&action=skip",
        ),
        (
            "bad-token-json",
            "%FF%2Fnot-a-token".to_owned(),
            "application/json",
            "{\"action\":\"acknowledge\"}",
        ),
    ];
    for (name, segment, content_type, body) in seeds {
        write_seed(
            "link_token",
            name,
            &join_link_request(&segment, content_type, body),
        );
    }
}

/// The reply reader's test messages, each as delivered to its recipient.
fn write_reply_seeds() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/inbound");
    for (name, recipient) in [
        ("gmail-reply", "crisis+Zx8v2LqP7mN4kR1t@reply.example.org"),
        ("iphone-reply-fr", ""),
        (
            "outlook-fr-skip",
            "crisis+Hr5tYu7iOp9aSd1f@reply.example.org",
        ),
        (
            "gmail-vacation",
            "crisis+Lg9hJk2lZx4cVb6n@reply.example.org",
        ),
        ("m365-reponse-automatique", ""),
        ("postfix-bounce", "bounces@reply.example.org"),
        ("mailing-list", ""),
    ] {
        let raw = std::fs::read(fixtures.join(format!("{name}.eml"))).expect("read fixture");
        write_seed("reply_reader", name, &join_delivery(recipient, &raw));
    }
}

const WAIT: Duration = Duration::from_secs(10);

async fn write_timeline_seeds() {
    let (_dir, playbooks) = support::drill_playbooks("15m", "1h");
    let database = support::TestDatabase::create(&support::Backend::Sqlite).await;
    let options = support::Options {
        playbooks,
        adjust: Box::new(|settings| settings.signing_key = Some(SEED_SIGNING_KEY.to_owned())),
        ..support::Options::default()
    };
    let app = support::TestApp::spawn_with(database, options).await;
    let export = |id: String| {
        let app = &app;
        async move {
            let response = app
                .client
                .get(app.url(&format!("/api/v1/incidents/{id}/timeline")))
                .bearer_auth(&app.legal)
                .send()
                .await
                .expect("export");
            assert_eq!(response.status(), StatusCode::OK);
            response.bytes().await.expect("export body").to_vec()
        }
    };
    let id_of = |incident: &serde_json::Value| incident["id"].as_str().expect("id").to_owned();

    // Opened, nothing else yet.
    let fresh = app.trigger("drill", "low").await;
    app.settle().await;
    let opened = export(id_of(&fresh)).await;

    // A note whose text exercises the canonical form's escapes.
    let noted = app.trigger("drill", "high").await;
    let (status, _) = app
        .post(
            &format!("/api/v1/incidents/{}/notes", id_of(&noted)),
            &app.responder,
            json!({"text": "Line 1\r\n\"quoted\" \\ tab\t — ✓ 😀 </script>"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    app.settle().await;
    let noted = export(id_of(&noted)).await;

    // Acted on by email link, then resolved.
    let acted = app.trigger("drill", "medium").await;
    let id = id_of(&acted);
    let reference = acted["reference"].as_str().expect("reference");
    // Two heads per drill incident, three incidents.
    let mails = app.smtp.wait_for(6, WAIT).await;
    let links = mails
        .iter()
        .find(|mail| {
            mail.rcpt_to.iter().any(|to| to == "pr-head@example.com")
                && mail.text().unwrap_or_default().contains(reference)
        })
        .map(|mail| mail.links())
        .expect("a mail to pr");
    // The department's link acknowledges; the task's link can complete.
    let mut done = false;
    for link in links {
        let response = app
            .client
            .post(link)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("user-agent", "Seed/1.0")
            .body("action=complete&note=Done+by+link")
            .send()
            .await
            .expect("press");
        done |= response
            .text()
            .await
            .expect("page")
            .contains("Marked as done");
    }
    assert!(done, "no link in the pr mail completed its task");
    let legal = support::task(&acted, "legal/respond")["id"]
        .as_str()
        .expect("task id")
        .to_owned();
    let (status, body) = app
        .post(
            &format!("/api/v1/incidents/{id}/tasks/{legal}/complete"),
            &app.responder,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app
        .post(
            &format!("/api/v1/incidents/{id}/resolve"),
            &app.responder,
            json!({"summary": "Drill over."}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    app.settle().await;
    let resolved = export(id).await;

    for (name, export) in [
        ("opened.json", opened),
        ("note.json", noted),
        ("link-and-resolve.json", resolved),
    ] {
        let report = tocsin::timeline::verify_export_with_key(&export, SEED_PUBLIC_KEY);
        assert!(report.ok, "{name}: {report}");
        write_seed("timeline_verify", name, &export);
    }
    // Inputs that pick a seed and edit nothing: where the edit mode starts.
    for pick in 0..3u8 {
        write_seed("timeline_verify", &format!("edit-{pick}"), &[pick]);
    }
    app.stop().await;
}
