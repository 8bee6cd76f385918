//! What operators see: readiness, Prometheus metrics, request ids, and logs
//! that never carry a secret.

mod support;

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use support::smtp::Received;

on_each_backend! {
    async fn ready_and_measured(app) {
        let (status, body) = app.get("/readyz", &app.legal).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, json!({"status": "ready", "checks": {"database": true, "migrations": true, "playbooks": true, "outbox_flowing": true}}));

        let incident = app.trigger("share-price-threat", "high").await;
        let heads = incident["departments"].as_array().unwrap().len();
        app.smtp.wait_for(heads, Duration::from_secs(20)).await;
        app.settle().await;
        let id = incident["id"].as_str().unwrap();
        let (status, _) = app.post(&format!("/api/v1/incidents/{id}/departments/legal/acknowledge"),
            &app.responder, json!({})).await;
        assert_eq!(status, StatusCode::OK);

        let response = app.client.get(app.url("/metrics")).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert!(response.headers()["content-type"].to_str().unwrap().starts_with("application/openmetrics-text"));
        let text = response.text().await.unwrap();
        for expected in [
            "tocsin_incidents_open{severity=\"high\"} 1".to_owned(),
            format!("tocsin_deliveries_total{{channel=\"email\",outcome=\"sent\"}} {heads}"),
            "tocsin_outbox_depth 0".to_owned(),
            "tocsin_time_to_acknowledge_seconds_count{department=\"legal\"} 1".to_owned(),
            "tocsin_http_request_duration_seconds_count{method=\"POST\",route=\"/api/v1/incidents\",status=\"201\"} 1".to_owned(),
            "tocsin_tasks_overdue 0".to_owned(),
        ] {
            assert!(text.contains(&expected), "missing {expected:?} in\n{text}");
        }
    }

    async fn every_answer_carries_a_request_id(app) {
        let response = app.client.get(app.url("/healthz")).send().await.unwrap();
        let id = response.headers()["x-request-id"].to_str().unwrap().to_owned();
        assert_eq!(id.len(), 36, "a fresh UUID: {id}");
        let response = app.client.get(app.url("/healthz")).header("x-request-id", "edge-7f3a.1").send().await.unwrap();
        assert_eq!(response.headers()["x-request-id"], "edge-7f3a.1", "the caller's id is kept");
        let response = app.client.get(app.url("/healthz")).header("x-request-id", "<script>").send().await.unwrap();
        assert_ne!(response.headers()["x-request-id"], "<script>", "a strange one is replaced");
        let lines = app.errors.lines();
        assert!(lines.iter().any(|line| line.contains("edge-7f3a.1") && line.contains("route=/healthz")),
            "the request's line carries its id and route: {lines:?}");
    }

    async fn no_secret_reaches_a_log_line(app) {
        // Everything that handles secrets: API tokens, link clicks, sign-in, a session.
        let incident = app.trigger("account-hijack", "high").await;
        let heads = incident["departments"].as_array().unwrap().len();
        let mails = app.smtp.wait_for(heads, Duration::from_secs(20)).await;
        let links: Vec<String> = mails.iter().flat_map(Received::links).collect();
        let client = reqwest::Client::new();
        for link in links.iter().take(3) {
            client.get(link).send().await.unwrap();
            client.post(link).header("content-type", "application/x-www-form-urlencoded")
                .body("action=acknowledge").send().await.unwrap();
        }
        client.get(app.url(&format!("/links/{}", "f".repeat(64)))).send().await.unwrap();
        app.staff.add_user("ops@example.com", tocsin::auth::Role::Admin, &tocsin::domain::Actor::operator("test")).await.unwrap();
        client.post(app.url("/sign-in")).header("content-type", "application/x-www-form-urlencoded")
            .body("email=ops%40example.com").send().await.unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        let sign_in = loop {
            if let Some(mail) = app.smtp.received().into_iter().find(|m| m.rcpt_to == ["ops@example.com"]) {
                break mail.links().into_iter().find(|l| l.contains("/sign-in/")).unwrap();
            }
            assert!(std::time::Instant::now() < deadline, "no sign-in mail");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let no_redirect = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let response = support::press_sign_in(&sign_in).await;
        let cookie = response.headers().get_all("set-cookie").iter()
            .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
            .find(|pair| pair.starts_with("tocsin_session=")).expect("a session");
        no_redirect.get(app.url("/")).header("cookie", &cookie).send().await.unwrap();
        app.settle().await;

        let mut secrets: Vec<String> = vec![app.responder.clone(), app.legal.clone(), app.admin.clone(),
            cookie.trim_start_matches("tocsin_session=").to_owned()];
        secrets.extend(links.iter().chain([&sign_in]).map(|l| l.rsplit('/').next().unwrap().to_owned()));
        let lines = app.errors.lines();
        assert!(lines.iter().any(|line| line.contains("route=/links/{token}")),
            "the link requests were logged, by route: {lines:?}");
        for secret in &secrets {
            assert!(secret.len() >= 64, "a whole secret: {secret}");
            let leaked: Vec<&String> = lines.iter().filter(|line| line.contains(secret.as_str())).collect();
            assert!(leaked.is_empty(), "a secret reached the log: {leaked:?}");
        }
    }
}

/// With a metrics token set, `/metrics` answers only the scraper that
/// carries it: open incidents by severity are not for whoever reaches the
/// proxy.
#[tokio::test]
async fn a_metrics_token_keeps_metrics_to_the_scraper() {
    let token = "scrape-me-0123456789abcdef";
    let options = support::Options {
        adjust: Box::new(move |settings| settings.metrics_token = Some(token.to_owned())),
        ..support::Options::default()
    };
    let app = support::TestApp::spawn_with(
        support::TestDatabase::create(&support::Backend::Sqlite).await,
        options,
    )
    .await;
    app.trigger("account-hijack", "critical").await;
    let scrape = |bearer: Option<&str>| {
        let mut request = app.client.get(app.url("/metrics"));
        if let Some(bearer) = bearer {
            request = request.bearer_auth(bearer);
        }
        request.send()
    };
    for wrong in [
        None,
        Some("scrape-me-0123456789abcdeX"),
        Some(app.admin.as_str()),
    ] {
        let response = scrape(wrong).await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{wrong:?}");
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
        let body = response.text().await.unwrap();
        assert!(!body.contains("tocsin_incidents_open"), "{body}");
    }
    let response = scrape(Some(token)).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body = response.text().await.unwrap();
    assert!(
        body.contains("tocsin_incidents_open{severity=\"critical\"} 1"),
        "{body}"
    );
    // Health stays open: the load balancer carries no token.
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    app.stop().await;
}
