//! Signing in to the console through the organisation's OpenID provider: a
//! real one (panva's `oidc-provider`), driven as a browser does, with its
//! cookies and redirects. The group in the ID token decides the role; a
//! browser that did not start a sign-in cannot finish one.

mod support;

use reqwest::StatusCode;
use reqwest::redirect::Policy;
use serde_json::{Value, json};
use support::oidc::Provider;
use support::{Backend, Options, TestApp, TestDatabase};

const ROLES: &str = "crisis-comms=responder,legal-team=legal,it-admins=admin";

fn person(email: &str, groups: &[&str]) -> Value {
    json!({ "email": email, "email_verified": true, "groups": groups })
}

/// tocsin with single sign-on through `provider`, which then serves it.
async fn spawn(backend: Backend, provider: &mut Provider, accounts: Value) -> TestApp {
    let oidc = provider.settings(ROLES);
    let app = TestApp::spawn_with(
        TestDatabase::create(&backend).await,
        Options {
            adjust: Box::new(move |settings| settings.oidc = Some(oidc)),
            ..Options::default()
        },
    )
    .await;
    provider.serve(&app.url(""), accounts);
    app
}

/// A browser: keeps cookies, follows redirects, except (when `stop_at_callback`)
/// the provider's redirect back to tocsin, so a test can tamper with it.
fn browser(stop_at_callback: bool) -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(Policy::custom(move |attempt| {
            if stop_at_callback && attempt.url().path() == "/sign-in/sso/callback" {
                attempt.stop()
            } else {
                attempt.follow()
            }
        }))
        .build()
        .unwrap()
}

/// Presses "Sign in with your organisation's account" and signs in at the
/// provider as `login`: the last answer, wherever it ends.
async fn sign_in(app: &TestApp, browser: &reqwest::Client, login: &str) -> reqwest::Response {
    let page = browser.get(app.url("/sign-in")).send().await.unwrap();
    let html = page.text().await.unwrap();
    assert!(
        html.contains("action=\"/sign-in/sso\""),
        "the sign-in page offers single sign-on: {html}"
    );
    let provider_page = browser.get(app.url("/sign-in/sso")).send().await.unwrap();
    assert_eq!(provider_page.status(), StatusCode::OK);
    let login_form = provider_page.url().clone();
    assert!(
        login_form.path().starts_with("/interaction/"),
        "at the provider's sign-in page: {login_form}"
    );
    browser
        .post(login_form)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("login={login}"))
        .send()
        .await
        .unwrap()
}

fn user_role(users: &Value, email: &str) -> Option<String> {
    users["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|user| user["email"] == email)
        .map(|user| user["role"].as_str().unwrap().to_owned())
}

/// The console's front page, as that browser sees it.
async fn front_page(app: &TestApp, browser: &reqwest::Client) -> (StatusCode, String) {
    let response = browser.get(app.url("/")).send().await.unwrap();
    let landed = response.url().path().to_owned();
    let status = response.status();
    let html = response.text().await.unwrap();
    (status, format!("{landed}\n{html}"))
}

with_each_backend!(
    a_person_signs_in_with_the_role_their_group_gives,
    a_person_in_no_group_with_a_role_is_refused,
    an_answer_this_browser_did_not_ask_for_signs_nobody_in,
    an_unverified_address_is_refused,
);

/// First sign-in creates the account with the group's role; a later one,
/// after the person moved group, changes it; both are on the audit log as
/// the single sign-on's doing.
async fn a_person_signs_in_with_the_role_their_group_gives(backend: Backend) {
    let mut provider = Provider::start();
    let accounts = json!({ "ana": person("ana@example.org", &["staff", "crisis-comms"]) });
    let app = spawn(backend, &mut provider, accounts).await;

    let ana = browser(false);
    let answer = sign_in(&app, &ana, "ana").await;
    assert_eq!(answer.status(), StatusCode::OK);
    assert_eq!(answer.url().path(), "/", "back on the console");
    let (status, page) = front_page(&app, &ana).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("ana@example.org (responder)"), "{page}");

    let (_, users) = app.get("/api/v1/users", &app.admin).await;
    assert_eq!(
        user_role(&users, "ana@example.org").as_deref(),
        Some("responder")
    );

    provider.set_accounts(json!({ "ana": person("ana@example.org", &["legal-team"]) }));
    let again = browser(false);
    let answer = sign_in(&app, &again, "ana").await;
    assert_eq!(answer.url().path(), "/");
    let (_, page) = front_page(&app, &again).await;
    assert!(page.contains("ana@example.org (legal)"), "{page}");
    let (_, users) = app.get("/api/v1/users", &app.admin).await;
    assert_eq!(
        user_role(&users, "ana@example.org").as_deref(),
        Some("legal")
    );
    // Lowering a role ends the sessions it had: the first browser is out.
    let (_, page) = front_page(&app, &ana).await;
    assert!(page.starts_with("/sign-in\n"), "{page}");

    let (_, log) = app.get("/api/v1/audit", &app.legal).await;
    let entries: Vec<_> = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|entry| entry["subject"]["name"] == "ana@example.org")
        .collect();
    assert_eq!(entries.len(), 2, "{log}");
    assert!(
        entries
            .iter()
            .all(|entry| entry["actor"] == "system:single-sign-on"),
        "{log}"
    );
    assert!(
        entries
            .iter()
            .any(|entry| entry["action"] == "user_added" && entry["role"] == "responder")
    );
    assert!(entries.iter().any(|entry| entry["action"] == "role_changed"
        && entry["previous_role"] == "responder"
        && entry["role"] == "legal"));
    app.stop().await;
}

/// Whoever the rules give no role is told so, and gets neither an account
/// nor a session.
async fn a_person_in_no_group_with_a_role_is_refused(backend: Backend) {
    let mut provider = Provider::start();
    let accounts = json!({ "bo": person("bo@example.org", &["marketing"]) });
    let app = spawn(backend, &mut provider, accounts).await;

    let bo = browser(false);
    let answer = sign_in(&app, &bo, "bo").await;
    assert_eq!(answer.status(), StatusCode::FORBIDDEN);
    let html = answer.text().await.unwrap();
    assert!(
        html.contains("bo@example.org has no role in tocsin"),
        "says why: {html}"
    );
    assert!(
        html.contains("Email me a sign-in link"),
        "offers the other way in"
    );

    let (_, page) = front_page(&app, &bo).await;
    assert!(page.starts_with("/sign-in\n"), "no session: {page}");
    let (_, users) = app.get("/api/v1/users", &app.admin).await;
    assert_eq!(
        user_role(&users, "bo@example.org"),
        None,
        "no account: {users}"
    );
    app.stop().await;
}

/// Login CSRF through the provider: an attacker who signs in at the
/// provider and sends their callback link to a victim signs the victim in
/// to nothing; a callback whose state was altered, or used twice, neither.
async fn an_answer_this_browser_did_not_ask_for_signs_nobody_in(backend: Backend) {
    let mut provider = Provider::start();
    let accounts = json!({ "eve": person("eve@example.org", &["crisis-comms"]) });
    let app = spawn(backend, &mut provider, accounts).await;

    let eve = browser(true);
    let stopped = sign_in(&app, &eve, "eve").await;
    assert_eq!(stopped.status(), StatusCode::SEE_OTHER);
    let callback = stopped.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        callback.contains("code=") && callback.contains("state="),
        "{callback}"
    );

    let victim = browser(false);
    let answer = victim.get(&callback).send().await.unwrap();
    assert_eq!(answer.status(), StatusCode::FORBIDDEN);
    assert!(
        answer
            .text()
            .await
            .unwrap()
            .contains("not started in this browser")
    );
    let (_, page) = front_page(&app, &victim).await;
    assert!(page.starts_with("/sign-in\n"), "{page}");

    // Eve's own browser, with the state altered: refused too.
    let altered = callback.replace("state=", "state=x");
    let answer = eve.get(&altered).send().await.unwrap();
    assert_eq!(answer.status(), StatusCode::FORBIDDEN);
    // The sign-in was used up by that attempt: the genuine answer, after it,
    // signs nobody in either.
    let answer = eve.get(&callback).send().await.unwrap();
    assert_eq!(answer.status(), StatusCode::FORBIDDEN);
    let (_, page) = front_page(&app, &eve).await;
    assert!(page.starts_with("/sign-in\n"), "{page}");
    app.stop().await;
}

/// An address the provider has not verified could be anyone's.
async fn an_unverified_address_is_refused(backend: Backend) {
    let mut provider = Provider::start();
    let accounts = json!({ "cy": {
        "email": "cy@example.org", "email_verified": false, "groups": ["it-admins"]
    }});
    let app = spawn(backend, &mut provider, accounts).await;

    let cy = browser(false);
    let answer = sign_in(&app, &cy, "cy").await;
    assert_eq!(answer.status(), StatusCode::FORBIDDEN);
    assert!(answer.text().await.unwrap().contains("is not verified"));
    let (_, users) = app.get("/api/v1/users", &app.admin).await;
    assert_eq!(user_role(&users, "cy@example.org"), None);
    app.stop().await;
}

/// A provider that cannot be reached is said so, with the emailed link
/// still offered, and tocsin keeps running (it does not need the provider
/// to start).
#[tokio::test]
async fn an_unreachable_provider_is_a_bad_gateway_not_a_failure() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let issuer = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let app = TestApp::spawn_with(
        TestDatabase::create(&Backend::Sqlite).await,
        Options {
            adjust: Box::new(move |settings| {
                settings.oidc = Some(tocsin::config::OidcSettings {
                    issuer: issuer.parse().unwrap(),
                    client_id: "tocsin".into(),
                    client_secret: "secret".into(),
                    role_claim: "groups".into(),
                    roles: tocsin::auth::role_map::RoleMap::parse(["x=responder"]).unwrap(),
                    scopes: vec!["email".into()],
                })
            }),
            ..Options::default()
        },
    )
    .await;
    let response = browser(false)
        .get(app.url("/sign-in/sso"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    let html = response.text().await.unwrap();
    assert!(html.contains("cannot be reached just now"), "{html}");
    assert!(html.contains("Email me a sign-in link"), "{html}");
    app.stop().await;
}

/// Without single sign-on set up, the page offers only the emailed link
/// and the single sign-on paths do not exist.
#[tokio::test]
async fn without_a_provider_only_the_emailed_link_is_offered() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let html = app
        .client
        .get(app.url("/sign-in"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("Email me a sign-in link"));
    assert!(!html.contains("/sign-in/sso"), "{html}");
    let response = app
        .client
        .get(app.url("/sign-in/sso"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    app.stop().await;
}
