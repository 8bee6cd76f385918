//! The web console as staff use it: signing in by emailed link, forms that
//! need their session's CSRF token, roles, and pages that change nothing on
//! GET. The browser test drives it all in headless Chromium.

mod support;

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use support::browser::Browser;
use support::{Backend, TestApp};
use tocsin::auth::Role;

const WAIT: Duration = Duration::from_secs(20);

/// A client that shows redirects instead of following them.
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn form(pairs: &[(&str, &str)]) -> String {
    serde_urlencoded::to_string(pairs).unwrap()
}

async fn post_form(
    app: &TestApp,
    path: &str,
    cookie: Option<&str>,
    pairs: &[(&str, &str)],
) -> reqwest::Response {
    let mut request = client()
        .post(app.url(path))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(pairs));
    if let Some(cookie) = cookie {
        request = request.header(COOKIE, cookie);
    }
    request.send().await.unwrap()
}

async fn get(
    app: &TestApp,
    path: &str,
    cookie: Option<&str>,
) -> (StatusCode, String, Option<String>) {
    let mut request = client().get(app.url(path));
    if let Some(cookie) = cookie {
        request = request.header(COOKIE, cookie);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let location = response
        .headers()
        .get(LOCATION)
        .map(|v| v.to_str().unwrap().to_owned());
    (status, response.text().await.unwrap(), location)
}

/// The session cookie an answer sets, as `name=value`.
fn session_cookie(response: &reqwest::Response) -> Option<String> {
    set_cookie(response, "tocsin_session")
}

/// The cookie named `name` (with or without a `__Host-` prefix) that an
/// answer sets, as `name=value`.
fn set_cookie(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .map(|value| value.split(';').next().unwrap_or_default())
        .find(|pair| {
            pair.trim_start_matches("__Host-")
                .starts_with(&format!("{name}="))
        })
        .map(str::to_owned)
}

/// Posts an incident page's form and follows its redirect as a browser
/// does, with the cookie the answer set; returns the page shown next.
async fn act_and_see(app: &TestApp, id: &str, cookie: &str, fields: &[(&str, &str)]) -> String {
    let response = post_form(app, &format!("/incidents/{id}/act"), Some(cookie), fields).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let location = response.headers()[LOCATION].to_str().unwrap().to_owned();
    assert_eq!(
        location,
        format!("/incidents/{id}"),
        "nothing said in the address"
    );
    let flash = set_cookie(&response, "tocsin_flash").expect("what happened, for the next page");
    let (status, page, _) = get(app, &location, Some(&format!("{cookie}; {flash}"))).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page
}

/// Adds a person, signs them in through the emailed link, and returns their
/// session cookie and the CSRF token their pages carry.
async fn signed_in(app: &TestApp, email: &str, role: Role) -> (String, String) {
    app.staff
        .add_user(email, role, &tocsin::domain::Actor::operator("test"))
        .await
        .unwrap();
    let response = post_form(app, "/sign-in", None, &[("email", email)]).await;
    assert_eq!(response.status(), StatusCode::OK);
    // Incident mail may arrive meanwhile: wait for the one to this person.
    let deadline = std::time::Instant::now() + WAIT;
    let mail = loop {
        if let Some(mail) = app
            .smtp
            .received()
            .into_iter()
            .find(|m| m.rcpt_to == [email])
        {
            break mail;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no sign-in mail to {email}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let link = mail
        .links()
        .into_iter()
        .find(|l| l.contains("/sign-in/"))
        .expect("a sign-in link");
    let response = support::press_sign_in(&link).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let cookie = session_cookie(&response).expect("a session");
    let (_, page, _) = get(app, "/", Some(&cookie)).await;
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    (cookie, csrf)
}

on_each_backend! {
    async fn signing_in_takes_an_emailed_link_and_a_button_press(app) {
        app.staff.add_user("ann@example.com", Role::Responder, &tocsin::domain::Actor::operator("test")).await.unwrap();
        let (status, page, location) = get(&app, "/", None).await;
        assert_eq!((status, location.as_deref()), (StatusCode::SEE_OTHER, Some("/sign-in")), "{page}");

        let response = post_form(&app, "/sign-in", None, &[("email", "Ann@Example.com")]).await;
        assert!(response.text().await.unwrap().contains("a sign-in link is on its way"));
        let mail = app.smtp.wait_for(1, WAIT).await.remove(0);
        assert_eq!(mail.rcpt_to, ["ann@example.com"]);
        let link = mail.links().into_iter().find(|l| l.contains("/sign-in/")).unwrap();

        // A scanner opening the link signs nobody in.
        for _ in 0..3 {
            let response = client().get(&link).send().await.unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            assert_eq!(session_cookie(&response), None);
            assert!(response.text().await.unwrap().contains("id=\"sign-in\""));
        }
        // Another site's form posting the link (login CSRF: the victim
        // would be signed in as the attacker) is refused: it carries
        // neither the page's cookie nor the field that matches it.
        let (_, page, _) = get(&app, &link.replacen(&app.url(""), "", 1), None).await;
        let field = support::form_field(&page, "browser").unwrap();
        for body in ["", &format!("browser={field}")] {
            let response = client().post(&link)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body.to_owned()).send().await.unwrap();
            assert_eq!(response.status(), StatusCode::FORBIDDEN);
            assert_eq!(session_cookie(&response), None);
        }
        let response = support::press_sign_in(&link).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        let set = response.headers().get_all(SET_COOKIE).iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .find(|v| v.starts_with("tocsin_session=")).unwrap();
        assert!(set.contains("HttpOnly") && set.contains("SameSite=Lax"), "{set}");
        let cookie = session_cookie(&response).unwrap();
        let (status, page, _) = get(&app, "/", Some(&cookie)).await;
        assert_eq!(status, StatusCode::OK);
        assert!(page.contains("ann@example.com (responder)"));

        // The link works once.
        let response = client().get(&link).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::GONE);

        // An address without an account gets the same answer, and no mail.
        let response = post_form(&app, "/sign-in", None, &[("email", "nobody@example.com")]).await;
        assert!(response.text().await.unwrap().contains("a sign-in link is on its way"));
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(app.smtp.received().len(), 1);

        // Signing out ends the session.
        let csrf = page.split("name=\"csrf\" value=\"").nth(1).unwrap().split('"').next().unwrap();
        let response = post_form(&app, "/sign-out", Some(&cookie), &[("csrf", csrf)]).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        let (status, _, _) = get(&app, "/", Some(&cookie)).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
    }

    async fn the_sign_in_form_cannot_flood_an_inbox(app) {
        for email in ["ann@example.com", "bob@example.com"] {
            app.staff.add_user(email, Role::Responder, &tocsin::domain::Actor::operator("test")).await.unwrap();
        }
        for _ in 0..6 {
            let response = post_form(&app, "/sign-in", None, &[("email", "ann@example.com")]).await;
            // The same answer every time: the page tells nothing of the limit.
            assert!(response.text().await.unwrap().contains("a sign-in link is on its way"));
        }
        let response = post_form(&app, "/sign-in", None, &[("email", "bob@example.com")]).await;
        assert_eq!(response.status(), StatusCode::OK);
        app.smtp.wait_for(4, WAIT).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        let to = |email: &str| app.smtp.received().iter().filter(|m| m.rcpt_to == [email]).count();
        assert_eq!(to("ann@example.com"), 3, "three at once, then one every few minutes");
        assert_eq!(to("bob@example.com"), 1, "another person is not held back");
    }

    async fn forms_need_the_session_token_and_the_right_role(app) {
        let (cookie, csrf) = signed_in(&app, "ops@example.com", Role::Responder).await;
        let trigger = [("action", "open"), ("scenario", "complaint-surge"), ("severity", "high"),
                       ("title", "Surge"), ("summary", "Queues up")];
        for token in ["", "0000"] {
            let mut fields = trigger.to_vec();
            fields.push(("csrf", token));
            let response = post_form(&app, "/incidents/new", Some(&cookie), &fields).await;
            assert_eq!(response.status(), StatusCode::FORBIDDEN);
        }
        let (_, list) = app.get("/api/v1/incidents", &app.legal).await;
        assert_eq!(list["incidents"], serde_json::json!([]), "a forged form opens nothing");

        let mut fields = trigger.to_vec();
        fields.push(("csrf", &csrf));
        let response = post_form(&app, "/incidents/new", Some(&cookie), &fields).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        let location = response.headers()[LOCATION].to_str().unwrap().to_owned();
        let id = location.trim_start_matches("/incidents/").to_owned();

        // The console acts as the signed-in person.
        let (_, incident) = app.get(&format!("/api/v1/incidents/{id}"), &app.legal).await;
        let task = support::tasks(&incident)[0]["id"].as_str().unwrap().to_owned();
        let page = act_and_see(&app, &id, &cookie,
            &[("csrf", &csrf), ("action", "acknowledge"), ("task_id", &task)]).await;
        assert!(page.contains("Acknowledged"), "{page}");
        let (_, incident) = app.get(&format!("/api/v1/incidents/{id}"), &app.legal).await;
        assert_eq!(support::tasks(&incident)[0]["acknowledged_by"], "user:ops@example.com");

        // Legal reads and may hold, but not trigger or act.
        let (legal_cookie, legal_csrf) = signed_in(&app, "counsel@example.com", Role::Legal).await;
        let mut fields = trigger.to_vec();
        fields.push(("csrf", &legal_csrf));
        let response = post_form(&app, "/incidents/new", Some(&legal_cookie), &fields).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        let response = post_form(&app, &format!("/incidents/{id}/act"), Some(&legal_cookie),
            &[("csrf", &legal_csrf), ("action", "note"), ("text", "x")]).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        let response = post_form(&app, &format!("/incidents/{id}/act"), Some(&legal_cookie),
            &[("csrf", &legal_csrf), ("action", "hold"), ("reason", "Litigation expected")]).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        let (_, incident) = app.get(&format!("/api/v1/incidents/{id}"), &app.legal).await;
        let changes = app.changes(&id).await;
        assert!(changes.iter().any(|e| e["kind"] == "legal_hold_placed" && e["actor"] == "user:counsel@example.com"));
        assert_eq!(incident["status"], "open");
    }

    async fn console_pages_are_private_and_run_only_their_own_scripts(app) {
        let (cookie, _) = signed_in(&app, "ops@example.com", Role::Responder).await;
        let incident = app.trigger("account-hijack", "high").await;
        let id = incident["id"].as_str().unwrap().to_owned();
        for (path, cookie) in [("/".to_owned(), Some(&cookie)), (format!("/incidents/{id}"), Some(&cookie)),
                               (format!("/incidents/{id}/timeline"), Some(&cookie)),
                               ("/access".to_owned(), Some(&cookie)),
                               ("/sign-in".to_owned(), None), ("/".to_owned(), None)] {
            let mut request = client().get(app.url(&path));
            if let Some(cookie) = cookie {
                request = request.header(COOKIE, cookie);
            }
            let response = request.send().await.unwrap();
            let header = |name: &str| response.headers().get(name)
                .map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
            assert_eq!(header("cache-control"), "no-store", "{path}");
            assert_eq!(header("referrer-policy"), "no-referrer", "{path}");
            let policy = header("content-security-policy");
            for directive in ["script-src 'self'", "frame-ancestors 'none'", "default-src 'none'"] {
                assert!(policy.contains(directive), "{path}: {policy}");
            }
            assert!(!policy.contains("'unsafe-inline'; script") && !policy.contains("script-src 'self' 'unsafe"),
                "{path}: {policy}");
            // No inline script: every <script> names its file.
            let page = response.text().await.unwrap();
            for script in page.split("<script").skip(1) {
                assert!(script.starts_with(" src=\"/assets/"), "{path}: inline script <script{script}");
            }
        }
        let response = client().get(app.url("/assets/live.js")).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/javascript"));
        assert!(response.text().await.unwrap().contains("EventSource"));
    }

    async fn console_pages_change_nothing_on_get(app) {
        let (cookie, _) = signed_in(&app, "ops@example.com", Role::Admin).await;
        let incident = app.trigger("account-hijack", "high").await;
        let id = incident["id"].as_str().unwrap().to_owned();
        app.settle().await;
        let before = app.timeline(&id).await;
        for path in ["/".to_owned(), "/incidents/new".to_owned(), "/access".to_owned(), format!("/incidents/{id}"),
                     format!("/incidents/{id}/timeline?kind=note_added&department=pr"),
                     format!("/incidents/{id}/export?format=csv"), format!("/incidents/{id}/export?format=html")] {
            for _ in 0..2 {
                let (status, body, _) = get(&app, &path, Some(&cookie)).await;
                assert_eq!(status, StatusCode::OK, "{path}: {body}");
            }
        }
        let (_, page, _) = get(&app, &format!("/incidents/{id}/timeline"), Some(&cookie)).await;
        assert!(page.contains("Chain verified"), "{page}");
        assert_eq!(app.timeline(&id).await, before);
    }
}

/// The walk-through in a real browser: sign in, trigger, watch an
/// acknowledgement made through an emailed link appear live, export.
/// Screenshots land in target/screenshots/.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_communications_officer_runs_an_incident_in_the_browser() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    app.staff
        .add_user(
            "officer@example.com",
            Role::Responder,
            &tocsin::domain::Actor::operator("test"),
        )
        .await
        .unwrap();
    let browser = Browser::start().await;

    browser.goto(&app.url("/")).await;
    browser.fill("#email", "officer@example.com").await;
    browser.click("button[type=submit]").await;
    browser.wait_for_text("main", "on its way", WAIT).await;
    let mail = app.smtp.wait_for(1, WAIT).await.remove(0);
    let link = mail
        .links()
        .into_iter()
        .find(|l| l.contains("/sign-in/"))
        .unwrap();
    browser.goto(&link).await;
    browser.screenshot("sign-in").await;
    browser.click("#sign-in").await;
    browser.wait_for_text("h1", "Incidents", WAIT).await;
    browser.screenshot("dashboard-empty").await;

    browser.goto(&app.url("/incidents/new")).await;
    browser.select("#scenario", "account-hijack").await;
    browser.select("#severity", "high").await;
    browser
        .fill("#title", "Corporate Twitter account hijacked")
        .await;
    browser
        .fill("#summary", "Rogue posts since 09:10; passwords changed.")
        .await;
    browser.click("#preview").await;
    browser.wait_for_text("main", "This engages", WAIT).await;
    browser.screenshot("trigger-preview").await;
    browser.click("#open").await;
    browser
        .wait_for_text("h1", "Corporate Twitter account hijacked", WAIT)
        .await;
    browser.screenshot("incident").await;

    // The legal head acknowledges from the email; the open page updates by itself.
    let mails = app.smtp.wait_for(5, WAIT).await;
    let legal = mails
        .iter()
        .find(|m| m.rcpt_to == ["legal-head@example.com"])
        .unwrap();
    // After the department's link, the first item's.
    let task_link = legal.links()[1].clone();
    let response = reqwest::Client::new()
        .post(&task_link)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("action=acknowledge")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    browser
        .wait_for_text(
            "#task-legal-preserve-evidence .status",
            "acknowledged",
            WAIT,
        )
        .await;
    browser
        .wait_for_text("#dept-legal h2", "acknowledged", WAIT)
        .await;
    browser.screenshot("incident-live-update").await;

    browser.click("main a[href$='/timeline']").await;
    browser
        .wait_for_text("#verification", "Chain verified", WAIT)
        .await;
    browser.screenshot("timeline").await;
    browser.click("#export-html").await;
    browser
        .wait_for_text("body", "Corporate Twitter account hijacked", WAIT)
        .await;
    let report = browser.page_text().await;
    assert!(
        report.to_lowercase().contains("sha256") || report.contains("head"),
        "{report}"
    );
    browser.screenshot("timeline-report").await;

    browser.goto(&app.url("/")).await;
    browser
        .wait_for_text("main", "Corporate Twitter account hijacked", WAIT)
        .await;
    browser.screenshot("dashboard").await;
    browser.close().await;
    app.stop().await;
}

on_each_backend! {
    async fn the_console_refuses_what_the_api_refuses(app) {
        let (cookie, csrf) = signed_in(&app, "ops@example.com", Role::Responder).await;
        let title = format!("{}\u{1b}[31m", "x".repeat(5_000));
        let response = post_form(&app, "/incidents/new", Some(&cookie), &[
            ("csrf", &csrf), ("action", "open"), ("scenario", "account-hijack"),
            ("severity", "high"), ("title", &title), ("summary", "Rogue posts"),
        ]).await;
        assert_eq!(response.status(), StatusCode::OK, "the form again, not a redirect");
        let page = response.text().await.unwrap();
        assert!(page.contains("The title is longer than 200 characters."), "{page}");
        let blank = post_form(&app, "/incidents/new", Some(&cookie), &[
            ("csrf", &csrf), ("action", "open"), ("scenario", "account-hijack"),
            ("severity", "high"), ("title", "Hijack"), ("summary", " \t "),
        ]).await;
        assert!(blank.text().await.unwrap().contains("The summary must not be empty."));
        let (_, list) = app.get("/api/v1/incidents", &app.legal).await;
        assert_eq!(list["incidents"].as_array().unwrap().len(), 0, "nothing was opened: {list}");
        let (status, body) = app.post("/api/v1/incidents", &app.responder, serde_json::json!({
            "title": title, "scenario": "account-hijack", "severity": "high", "summary": "Rogue posts",
        })).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["error"]["field"], "title");
    }

    async fn pr_drafts_legal_approves_and_pr_publishes_from_the_console(app) {
        let incident = app.trigger("account-hijack", "high").await;
        let id = incident["id"].as_str().unwrap();
        let (pr, pr_csrf) = signed_in(&app, "pr-writer@example.com", Role::Responder).await;
        let (legal, legal_csrf) = signed_in(&app, "counsel@example.com", Role::Legal).await;
        let page = act_and_see(&app, id, &pr, &[
            ("csrf", &pr_csrf), ("action", "draft_statement"), ("template", "holding"),
            ("text", "Also my words"), ("channels", "twitter"),
        ]).await;
        assert!(page.contains("Choose a template or write your own words, not both."), "{page}");
        let page = act_and_see(&app, id, &pr, &[
            ("csrf", &pr_csrf), ("action", "draft_statement"), ("text", "We know, and we are on it."),
            ("language", "en"), ("channels", "twitter, website"),
        ]).await;
        assert!(page.contains("Statement drafted."), "{page}");
        let (_, view) = app.get(&format!("/api/v1/incidents/{id}"), &app.legal).await;
        let statement = &view["statements"][0];
        let statement_id = statement["id"].as_str().unwrap();
        assert_eq!(statement["content"]["channels"], serde_json::json!(["twitter", "website"]));
        let page = act_and_see(&app, id, &pr, &[
            ("csrf", &pr_csrf), ("action", "submit_statement"), ("statement_id", statement_id),
        ]).await;
        assert!(page.contains("Sent for approval"), "{page}");
        assert!(page.contains("Awaiting Legal and financial"), "{page}");
        assert!(!page.contains("value=\"approve_statement\""), "responders do not approve");

        // Legal sees the form, and answers for legal with the hash shown.
        let (_, page, _) = get(&app, &format!("/incidents/{id}"), Some(&legal)).await;
        let hash = support::form_field(&page, "sha256").expect("the hash shown, in the form");
        let page = act_and_see(&app, id, &legal, &[
            ("csrf", &legal_csrf), ("action", "request_changes"), ("statement_id", statement_id),
            ("department", "legal"), ("sha256", &hash), ("note", " "),
        ]).await;
        assert!(page.contains("Say what to change"), "{page}");
        let page = act_and_see(&app, id, &legal, &[
            ("csrf", &legal_csrf), ("action", "approve_statement"), ("statement_id", statement_id),
            ("department", "legal"), ("sha256", &hash),
        ]).await;
        assert!(page.contains("Answer recorded."), "{page}");
        assert!(page.contains("legal approved: counsel@example.com at"), "{page}");
        // Legal may not publish: that is PR's act.
        let response = post_form(&app, &format!("/incidents/{id}/act"), Some(&legal), &[
            ("csrf", &legal_csrf), ("action", "publish_statement"), ("statement_id", statement_id),
        ]).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        let page = act_and_see(&app, id, &pr, &[
            ("csrf", &pr_csrf), ("action", "publish_statement"), ("statement_id", statement_id),
        ]).await;
        assert!(page.contains("Published: it is on the public statement page."), "{page}");
        let (status, public, _) = get(&app, &format!("/public/incidents/{id}/statements"), None).await;
        assert_eq!(status, StatusCode::OK);
        assert!(public.contains("We know, and we are on it."));

        // Staff are told, and the page counts who confirmed, per department.
        let page = act_and_see(&app, id, &pr, &[
            ("csrf", &pr_csrf), ("action", "brief_statement"), ("audience", "all-staff"),
            ("statement_id", ""), ("text", "Say nothing online; refer questions to PR."),
        ]).await;
        assert!(page.contains("Briefing sent"), "{page}");
        assert!(page.contains("Briefing 1 to All staff"), "{page}");
        assert!(page.contains("unapproved internal update"), "{page}");
        assert!(page.contains("0/4 confirmed"), "{page}");
        assert!(page.contains("Sales 0/2"), "{page}");
        let page = act_and_see(&app, id, &pr, &[
            ("csrf", &pr_csrf), ("action", "brief_statement"), ("audience", "press"),
            ("statement_id", statement_id),
        ]).await;
        assert!(page.contains("Briefing 2 to Press"), "{page}");
        // The internal page lists both, the update marked; the public one
        // only the statement.
        let (status, said, _) = get(&app, &format!("/incidents/{id}/statements"), Some(&legal)).await;
        assert_eq!(status, StatusCode::OK);
        assert!(said.contains("Update to All staff"), "{said}");
        assert!(said.contains("unapproved internal update"), "{said}");
        assert!(said.contains("Statement 1 to Press"), "{said}");
        let (_, public, _) = get(&app, &format!("/public/incidents/{id}/statements"), None).await;
        assert!(!public.contains("Say nothing online"), "{public}");
        let (status, _, location) = get(&app, &format!("/incidents/{id}/statements"), None).await;
        assert_eq!((status, location.as_deref()), (StatusCode::SEE_OTHER, Some("/sign-in")));
    }

    async fn forcing_a_resolution_takes_a_tick_and_a_reason(app) {
        let (cookie, csrf) = signed_in(&app, "ops@example.com", Role::Responder).await;
        let incident = app.trigger("account-hijack", "high").await;
        let id = incident["id"].as_str().unwrap().to_owned();
        let act = format!("/incidents/{id}/act");
        // Words in the address are not tocsin's to show.
        let crafted = format!("/incidents/{id}?message=Call+0800+SCAM+now&failed=false");
        let (_, page, _) = get(&app, &crafted, Some(&cookie)).await;
        // "SCAM", not "0800": the page's hex tokens may hold any digits.
        assert!(!page.contains("SCAM"), "{page}");
        // A reason alone is not a decision to force.
        let page = act_and_see(&app, &id, &cookie, &[
            ("csrf", &csrf), ("action", "resolve"), ("reason", "Recovered"),
        ]).await;
        assert!(page.contains("class=\"box error\""), "shown as a failure: {page}");
        assert!(page.contains("required tasks are still open"), "{page}");
        // Shown once: reloaded, the page no longer says it.
        let (_, again, _) = get(&app, &format!("/incidents/{id}"), Some(&cookie)).await;
        assert!(!again.contains("required tasks are still open"), "{again}");
        let (_, after) = app.get(&format!("/api/v1/incidents/{id}"), &app.legal).await;
        assert_eq!(after["status"], "open");
        // Ticked without a reason: refused, with what is missing.
        let page = act_and_see(&app, &id, &cookie, &[
            ("csrf", &csrf), ("action", "resolve"), ("force", "on"), ("reason", "  "),
        ]).await;
        assert!(page.contains("A reason to resolve with required items open must not be empty."), "{page}");
        // Ticked, with a reason: forced, and the open items named.
        post_form(&app, &act, Some(&cookie), &[
            ("csrf", &csrf), ("action", "resolve"), ("force", "on"), ("reason", "Recovered"),
        ]).await;
        let resolved = app.changes(&id).await.into_iter()
            .find(|e| e["kind"] == "incident_resolved").expect("resolved");
        assert_eq!(resolved["data"]["forced"], true, "{resolved}");
        assert_eq!(resolved["data"]["reason"], "Recovered");
        assert!(!resolved["data"]["open_required"].as_array().unwrap().is_empty());
    }
}

with_each_backend!(an_open_live_page_does_not_hold_up_shutdown);

/// An open console tab keeps a live stream: stopping the server ends it,
/// and the server exits.
async fn an_open_live_page_does_not_hold_up_shutdown(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (cookie, _) = signed_in(&app, "ops@example.com", Role::Responder).await;
    let incident = app.trigger("account-hijack", "high").await;
    let id = incident["id"].as_str().unwrap().to_owned();
    app.settle().await;
    let response = client()
        .get(app.url(&format!("/incidents/{id}/live?after=0")))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let mut response = response;
    let first = tokio::time::timeout(WAIT, response.chunk())
        .await
        .expect("the head arrives")
        .unwrap()
        .expect("an event");
    assert!(
        String::from_utf8_lossy(&first).contains("data:"),
        "{first:?}"
    );
    let reader = tokio::spawn(async move { while let Ok(Some(_)) = response.chunk().await {} });
    tokio::time::timeout(Duration::from_secs(10), app.stop())
        .await
        .expect("the server stops with a live page open");
    tokio::time::timeout(Duration::from_secs(5), reader)
        .await
        .expect("the live stream ended")
        .unwrap();
}

with_each_backend!(the_incident_page_shows_chasing_as_it_stands);

/// The page says what the API says: no next step for what was answered or
/// once resolved, the department's own escalations, and "overdue" only next
/// to a deadline that has passed.
async fn the_incident_page_shows_chasing_as_it_stands(backend: Backend) {
    // PR and legal, one item each: 10 minutes to acknowledge, an hour to finish.
    let (_dir, playbooks) = support::drill_playbooks("10m", "1h");
    let clock = support::ManualClock::starting_now();
    let options = support::Options {
        clock: Some(std::sync::Arc::clone(&clock)),
        playbooks,
        ..support::Options::default()
    };
    let app = TestApp::spawn_with(support::TestDatabase::create(&backend).await, options).await;
    let (cookie, _) = signed_in(&app, "ops@example.com", Role::Responder).await;
    let incident = app.trigger("drill", "high").await;
    let id = incident["id"].as_str().unwrap().to_owned();
    let (status, _) = app
        .post(
            &format!("/api/v1/incidents/{id}/departments/pr/acknowledge"),
            &app.responder,
            serde_json::json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let section = |page: &str, department: &str| -> String {
        let start = page
            .find(&format!("id=\"dept-{department}\""))
            .expect("the department's section");
        page[start..].split("</section>").next().unwrap().to_owned()
    };

    clock.advance(chrono::Duration::minutes(1));
    let (_, page, _) = get(&app, &format!("/incidents/{id}"), Some(&cookie)).await;
    // Above each department's checklist: the chasing of its answer.
    let answer = |page: &str, department: &str| -> String {
        section(page, department)
            .split("<table>")
            .next()
            .unwrap()
            .to_owned()
    };
    let pr = answer(&page, "pr");
    assert!(
        !pr.contains("next:"),
        "PR answered: nobody will be chased for its answer\n{pr}"
    );
    assert!(
        answer(&page, "legal").contains("next: remind the head"),
        "{page}"
    );

    // Legal does not answer: its head is reminded, then its deputies.
    for _ in 0..2 {
        clock.advance(chrono::Duration::minutes(10));
        tokio::time::sleep(Duration::from_millis(200)).await;
        app.settle().await;
    }
    let (_, api) = app
        .get(&format!("/api/v1/incidents/{id}"), &app.legal)
        .await;
    let legal_api = api["departments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["department"] == "legal")
        .unwrap()
        .clone();
    assert_eq!(
        legal_api["chase"]["history"].as_array().unwrap().len(),
        2,
        "{legal_api}"
    );
    let (_, page, _) = get(&app, &format!("/incidents/{id}"), Some(&cookie)).await;
    let legal = answer(&page, "legal");
    assert!(
        legal.contains("remind the head") && legal.contains("escalate to the deputies"),
        "the department's escalations, as the API has them\n{legal}"
    );
    let legal = section(&page, "legal");
    // Its item is late to be acknowledged; its completion is due in 40 minutes.
    assert!(legal.contains("tag overdue\">late"), "{legal}");
    assert!(
        !legal.contains(">overdue<"),
        "the completion deadline has not passed\n{legal}"
    );

    let (status, _) = app
        .post(
            &format!("/api/v1/incidents/{id}/resolve"),
            &app.responder,
            serde_json::json!({"force": true, "reason": "Drill over"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, page, _) = get(&app, &format!("/incidents/{id}"), Some(&cookie)).await;
    assert!(
        !page.contains("next:"),
        "resolved: nothing comes next\n{page}"
    );
    app.stop().await;
}

/// Behind HTTPS the console's cookies are `__Host-` cookies: `Secure`, for
/// the whole site, and refused by the browser unless this host set them.
#[tokio::test]
async fn behind_https_the_cookies_are_bound_to_the_host() {
    let options = support::Options {
        adjust: Box::new(|settings| {
            settings.public_url = Some("https://tocsin.example".parse().unwrap());
        }),
        ..support::Options::default()
    };
    let app = TestApp::spawn_with(
        support::TestDatabase::create(&Backend::Sqlite).await,
        options,
    )
    .await;
    app.staff
        .add_user(
            "ops@example.com",
            Role::Responder,
            &tocsin::domain::Actor::operator("test"),
        )
        .await
        .unwrap();
    post_form(&app, "/sign-in", None, &[("email", "ops@example.com")]).await;
    let mail = app.smtp.wait_for(1, WAIT).await.remove(0);
    let sent = mail
        .links()
        .into_iter()
        .find(|l| l.contains("/sign-in/"))
        .unwrap();
    assert!(sent.starts_with("https://tocsin.example/"), "{sent}");
    let link = sent.replacen("https://tocsin.example", &app.url(""), 1);

    let response = support::press_sign_in(&link).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let set = response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|v| v.contains("tocsin_session="))
        .unwrap();
    assert!(set.starts_with("__Host-tocsin_session="), "{set}");
    assert!(
        set.contains("Secure") && set.contains("Path=/") && !set.contains("Domain"),
        "{set}"
    );
    // The unprefixed name is not taken for the session.
    let value = set
        .split(';')
        .next()
        .unwrap()
        .trim_start_matches("__Host-tocsin_session=");
    let (status, _, _) = get(&app, "/", Some(&format!("tocsin_session={value}"))).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, page, _) = get(&app, "/", Some(&format!("__Host-tocsin_session={value}"))).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    app.stop().await;
}

/// Posts the access page's form and follows its redirect with the flash it
/// set; returns the page shown next.
async fn change_access(app: &TestApp, cookie: &str, fields: &[(&str, &str)]) -> String {
    let response = post_form(app, "/access", Some(cookie), fields).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "{fields:?}");
    assert_eq!(response.headers()[LOCATION], "/access");
    let flash = set_cookie(&response, "tocsin_flash").expect("what happened, for the next page");
    let (status, page, _) = get(app, "/access", Some(&format!("{cookie}; {flash}"))).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page
}

/// The id of the form on `page` whose box names `name`.
fn id_near(page: &str, name: &str) -> String {
    let from = page.find(&format!("<strong>{name}</strong>")).expect(name);
    support::form_field(&page[from..], "id").expect("its form")
}

/// Opens an incident's live stream and returns it, past its first event.
async fn live_stream(app: &TestApp, cookie: &str, id: &str) -> reqwest::Response {
    let mut response = client()
        .get(app.url(&format!("/incidents/{id}/live?after=0")))
        .header(COOKIE, cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    tokio::time::timeout(WAIT, response.chunk())
        .await
        .expect("the head arrives")
        .unwrap()
        .expect("an event");
    response
}

/// The stream's remaining text, up to its end; fails if it does not end.
async fn rest_of(mut stream: reqwest::Response) -> String {
    let mut text = String::new();
    tokio::time::timeout(WAIT, async {
        while let Some(chunk) = stream.chunk().await.unwrap() {
            text.push_str(&String::from_utf8_lossy(&chunk));
        }
    })
    .await
    .unwrap_or_else(|_| panic!("the stream did not end: {text:?}"));
    text
}

on_each_backend! {
    /// An admin grants a token (its secret shown once), revokes it, adds a
    /// user, changes a role and removes a user, and the page's audit log
    /// says who did each.
    async fn admins_manage_access_from_the_console(app) {
        let (cookie, csrf) = signed_in(&app, "ops@example.com", Role::Admin).await;
        let (status, page, _) = get(&app, "/", Some(&cookie)).await;
        assert_eq!(status, StatusCode::OK);
        assert!(page.contains("href=\"/access\""), "the nav links to it: {page}");

        let response = post_form(&app, "/access", Some(&cookie), &[("csrf", &csrf), ("action", "grant"),
            ("name", "status-page"), ("role", "responder"), ("lifetime", "30 days")]).await;
        assert_eq!(response.status(), StatusCode::OK);
        let page = response.text().await.unwrap();
        let secret = page.split("<code class=\"secret\">").nth(1).unwrap().split('<').next().unwrap().to_owned();
        let (status, _) = app.get("/api/v1/incidents", &secret).await;
        assert_eq!(status, StatusCode::OK, "the secret shown works");
        let (_, page, _) = get(&app, "/access", Some(&cookie)).await;
        assert!(!page.contains(&secret), "the secret is shown once");
        assert!(page.contains("granted token status-page (responder, expires"), "{page}");

        let token = id_near(&page, "status-page");
        let page = change_access(&app, &cookie, &[("csrf", &csrf), ("action", "revoke"), ("id", &token)]).await;
        assert!(page.contains("Token status-page revoked"), "{page}");
        let (status, _) = app.get("/api/v1/incidents", &secret).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);

        let page = change_access(&app, &cookie, &[("csrf", &csrf), ("action", "add-user"),
            ("email", "ana@example.org"), ("role", "legal")]).await;
        assert!(page.contains("ana@example.org added as legal"), "{page}");
        let ana = id_near(&page, "ana@example.org");
        let page = change_access(&app, &cookie, &[("csrf", &csrf), ("action", "change-role"),
            ("id", &ana), ("role", "responder")]).await;
        assert!(page.contains("ana@example.org is now responder"), "{page}");
        let page = change_access(&app, &cookie, &[("csrf", &csrf), ("action", "add-user"),
            ("email", "ana@example.org"), ("role", "legal")]).await;
        assert!(page.contains("already has an account"), "{page}");
        let page = change_access(&app, &cookie, &[("csrf", &csrf), ("action", "remove-user"), ("id", &ana)]).await;
        assert!(page.contains("ana@example.org removed"), "{page}");
        // An admin cannot lock themselves out.
        let me = app.staff.user_by_email("ops@example.com").await.unwrap().unwrap().id.to_string();
        let page = change_access(&app, &cookie, &[("csrf", &csrf), ("action", "remove-user"), ("id", &me)]).await;
        assert!(page.contains("changed by another admin"), "{page}");

        for line in ["revoked token status-page", "added user ana@example.org (legal)",
                     "changed user ana@example.org from legal to responder", "removed user ana@example.org"] {
            assert!(page.contains(line), "{line}: {page}");
        }
        assert!(page.contains("user:ops@example.com"), "the actor: {page}");

        // Without the session's CSRF token, nothing changes.
        let response = post_form(&app, "/access", Some(&cookie), &[("csrf", "forged"), ("action", "grant"),
            ("name", "evil"), ("role", "admin"), ("lifetime", "1 year")]).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        let (_, tokens) = app.get("/api/v1/tokens", &app.admin).await;
        assert!(!tokens.to_string().contains("evil"));
    }

    /// Legal reads the audit log and nothing else there; a responder sees
    /// neither.
    async fn legal_reads_the_audit_log_and_responders_see_no_access_page(app) {
        let (cookie, csrf) = signed_in(&app, "counsel@example.com", Role::Legal).await;
        let (status, page, _) = get(&app, "/access", Some(&cookie)).await;
        assert_eq!(status, StatusCode::OK);
        assert!(page.contains("Audit log") && page.contains("added user counsel@example.com (legal)"), "{page}");
        assert!(!page.contains("API tokens") && !page.contains("test-admin</strong>"), "{page}");
        let response = post_form(&app, "/access", Some(&cookie), &[("csrf", &csrf), ("action", "grant"),
            ("name", "mine"), ("role", "admin"), ("lifetime", "1 year")]).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN);

        let (cookie, _) = signed_in(&app, "ann@example.com", Role::Responder).await;
        let (status, _, _) = get(&app, "/access", Some(&cookie)).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (_, page, _) = get(&app, "/", Some(&cookie)).await;
        assert!(!page.contains("href=\"/access\""), "{page}");
    }

    /// Taking access away takes effect at once: the person's next page is
    /// the sign-in form, and their open live stream ends.
    async fn lowering_a_role_or_removing_a_user_ends_their_sessions_and_streams(app) {
        let incident = app.trigger("account-hijack", "high").await;
        let id = incident["id"].as_str().unwrap().to_owned();
        app.settle().await;
        let actor = tocsin::domain::Actor::operator("test");
        for (email, take_away) in [("bo@example.org", "lower"), ("cy@example.org", "remove")] {
            let (cookie, _) = signed_in(&app, email, Role::Responder).await;
            let stream = live_stream(&app, &cookie, &id).await;
            let user = app.staff.user_by_email(email).await.unwrap().unwrap();
            if take_away == "lower" {
                app.staff.change_role(user.id, Role::Legal, &actor).await.unwrap();
            } else {
                app.staff.remove_user(user.id, &actor).await.unwrap();
            }
            let rest = rest_of(stream).await;
            assert!(rest.contains("event: signed-out"), "{email}: {rest:?}");
            let (status, _, location) = get(&app, &format!("/incidents/{id}"), Some(&cookie)).await;
            assert_eq!((status, location.as_deref()), (StatusCode::SEE_OTHER, Some("/sign-in")), "{email}");
        }
        // Raising a role takes nothing away: the session goes on.
        let (cookie, _) = signed_in(&app, "di@example.org", Role::Legal).await;
        let user = app.staff.user_by_email("di@example.org").await.unwrap().unwrap();
        app.staff.change_role(user.id, Role::Admin, &actor).await.unwrap();
        let (status, page, _) = get(&app, "/", Some(&cookie)).await;
        assert_eq!(status, StatusCode::OK);
        assert!(page.contains("di@example.org (admin)"), "{page}");
    }
}
