//! Webhook deliveries against a real local HTTP receiver, and the signature
//! checked by the official Standard Webhooks Python library.
//!
//! `scripts/test` prepares the library (pinned in
//! `tests/support/python-requirements.txt`) and points `TOCSIN_TEST_PYTHON`
//! at its interpreter; without it, the `python3` on PATH is used.

mod support;

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use axum::http::Method;
use chrono::{DateTime, Utc};
use reqwest::Url;
use serde_json::{Value, json};
use support::receiver::{Captured, Receiver};
use tocsin::delivery::webhook::{self, Delivered, DeliveryError, IncidentRef, Notice};
use tocsin::endpoint::{Endpoint, WebhookKind, WebhookSecret};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn notice() -> Notice {
    Notice {
        id: webhook::message_id(uuid::Uuid::now_v7()),
        event_type: "incident.opened".to_owned(),
        occurred_at: Utc::now(),
        incident: IncidentRef {
            id: uuid::Uuid::now_v7(),
            reference: "INC-42".to_owned(),
            title: "Chemical spill, north depot".to_owned(),
            severity: "sev1".to_owned(),
            status: "open".to_owned(),
            url: "https://tocsin.example/incidents/INC-42".to_owned(),
        },
        headline: "INC-42 opened: Chemical spill, north depot".to_owned(),
        details: vec![
            "Comms: publish the holding statement".to_owned(),
            "Safety: cordon the depot".to_owned(),
        ],
        data: json!({ "severity": "sev1", "departments": ["comms", "safety"] }),
    }
}

fn endpoint(kind: WebhookKind, url: Url, secret: Option<&str>) -> Endpoint {
    Endpoint {
        kind,
        url,
        secret: secret.map(|s| WebhookSecret::parse(s).expect("valid secret")),
    }
}

async fn send(endpoint: &Endpoint, notice: &Notice) -> Result<Delivered, DeliveryError> {
    let client = webhook::client().expect("client");
    webhook::deliver(&client, endpoint, notice, Utc::now()).await
}

fn assert_common_headers(seen: &Captured) {
    assert_eq!(seen.method, Method::POST);
    assert_eq!(seen.header("content-type"), Some("application/json"));
    let agent = seen.header("user-agent").unwrap_or_default();
    assert!(agent.starts_with("tocsin/"), "user agent {agent:?}");
}

#[tokio::test]
async fn slack_delivery_arrives_as_a_slack_message() {
    let rx = Receiver::start(200, "ok").await;
    let n = notice();
    let ep = endpoint(WebhookKind::Slack, rx.url("services/T0/B0/s3cr3t"), None);

    assert_eq!(send(&ep, &n).await, Ok(Delivered { status: 200 }));

    let seen = rx.only();
    assert_common_headers(&seen);
    assert_eq!(seen.path, "/services/T0/B0/s3cr3t");
    assert_eq!(
        seen.header("webhook-signature"),
        None,
        "unsigned without a secret"
    );
    let body = seen.json();
    assert_eq!(body["text"], n.headline);
    let section = &body["blocks"][0];
    assert_eq!(section["type"], "section");
    assert_eq!(section["text"]["type"], "mrkdwn");
    let text = section["text"]["text"].as_str().expect("mrkdwn text");
    assert!(
        text.starts_with("*INC-42 opened: Chemical spill, north depot*\n"),
        "{text}"
    );
    assert!(
        text.contains("\n• Comms: publish the holding statement\n• Safety: cordon the depot\n")
    );
    assert!(text.ends_with(
        "<https://tocsin.example/incidents/INC-42|INC-42: Chemical spill, north depot>"
    ));
}

#[tokio::test]
async fn teams_delivery_arrives_as_an_adaptive_card() {
    // Teams workflows answer 202 Accepted.
    let rx = Receiver::start(202, "").await;
    let n = notice();
    let ep = endpoint(
        WebhookKind::Teams,
        rx.url("workflows/abc/triggers/manual/paths/invoke?sig=s3cr3t"),
        None,
    );

    assert_eq!(send(&ep, &n).await, Ok(Delivered { status: 202 }));

    let seen = rx.only();
    assert_common_headers(&seen);
    assert_eq!(
        seen.path,
        "/workflows/abc/triggers/manual/paths/invoke?sig=s3cr3t"
    );
    let body = seen.json();
    assert_eq!(body["type"], "message");
    let attachment = &body["attachments"][0];
    assert_eq!(
        attachment["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    let card = &attachment["content"];
    assert_eq!(card["type"], "AdaptiveCard");
    assert_eq!(card["version"], "1.4");
    assert_eq!(card["body"][0]["type"], "TextBlock");
    assert_eq!(card["body"][0]["text"], n.headline);
    assert_eq!(
        card["body"][2]["text"],
        "• Comms: publish the holding statement"
    );
    assert_eq!(card["actions"][0]["type"], "Action.OpenUrl");
    assert_eq!(card["actions"][0]["url"], n.incident.url);
}

#[tokio::test]
async fn standard_delivery_is_signed_and_verified_by_the_reference_library() {
    let rx = Receiver::start(204, "").await;
    let n = notice();
    let ep = endpoint(WebhookKind::Standard, rx.url("hooks/tocsin"), Some(SECRET));
    let client = webhook::client().expect("client");
    let now = Utc::now();

    let delivered = webhook::deliver(&client, &ep, &n, now).await;
    assert_eq!(delivered, Ok(Delivered { status: 204 }));

    let seen = rx.only();
    assert_common_headers(&seen);
    assert_eq!(seen.header("webhook-id"), Some(n.id.as_str()));
    let timestamp = now.timestamp();
    assert_eq!(
        seen.header("webhook-timestamp"),
        Some(timestamp.to_string().as_str())
    );
    let secret = WebhookSecret::parse(SECRET).expect("secret");
    let expected = secret.sign(&n.id, timestamp, &seen.body);
    assert_eq!(seen.header("webhook-signature"), Some(expected.as_str()));

    let body = seen.json();
    assert_eq!(body["type"], "incident.opened");
    let stamped: DateTime<Utc> = body["timestamp"]
        .as_str()
        .and_then(|t| t.parse().ok())
        .expect("RFC 3339 timestamp");
    assert_eq!(stamped, n.occurred_at);
    assert_eq!(body["data"]["departments"], json!(["comms", "safety"]));
    assert_eq!(body["data"]["incident"]["id"], n.incident.id.to_string());

    // The official library accepts what was actually received...
    let verified = python_verify(SECRET, &seen.body, &seen.headers);
    assert_eq!(verified, Ok(body.clone()));

    // ...and is not a rubber stamp: a changed body or key fails.
    let tampered = String::from_utf8(seen.body.clone())
        .expect("UTF-8 body")
        .replace("incident.opened", "incident.resolved");
    let refused = python_verify(SECRET, tampered.as_bytes(), &seen.headers);
    assert!(refused.is_err(), "tampered body verified: {refused:?}");
    let other_key = "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    assert!(python_verify(other_key, &seen.body, &seen.headers).is_err());

    // A retry keeps the message id but signs its own timestamp.
    let later = now + chrono::Duration::seconds(30);
    assert!(webhook::deliver(&client, &ep, &n, later).await.is_ok());
    let retry = rx.seen().pop().expect("retry arrived");
    assert_eq!(retry.header("webhook-id"), Some(n.id.as_str()));
    assert_eq!(
        retry.header("webhook-timestamp"),
        Some(later.timestamp().to_string().as_str())
    );
    assert_ne!(
        retry.header("webhook-signature"),
        seen.header("webhook-signature")
    );
}

#[tokio::test]
async fn standard_endpoint_without_a_secret_sends_nothing() {
    let rx = Receiver::start(200, "").await;
    let ep = endpoint(WebhookKind::Standard, rx.url("hooks/tocsin"), None);
    let err = send(&ep, &notice()).await.expect_err("refused");
    assert!(!err.retryable);
    assert!(err.reason.contains("no signing secret"), "{err}");
    assert!(rx.seen().is_empty());
}

#[tokio::test]
async fn answers_are_classified() {
    let cases = [
        (500, true),
        (503, true),
        (429, true),
        (408, true),
        (400, false),
        (404, false),
        (410, false),
        (302, false),
    ];
    for (status, retryable) in cases {
        let rx = Receiver::start(status, "invalid_payload").await;
        let ep = endpoint(
            WebhookKind::Slack,
            rx.url("services/T0/B0/s3cr3t?token=t0k3n"),
            None,
        );
        let err = send(&ep, &notice()).await.expect_err("failure status");
        assert_eq!(err.retryable, retryable, "HTTP {status}: {err}");
        assert!(err.reason.contains(&format!("HTTP {status}")), "{err}");
        assert!(
            err.reason.contains("invalid_payload"),
            "quotes the answer: {err}"
        );
        assert!(err.reason.contains("/services/..."), "{err}");
        assert_no_url_secrets(&err);
        assert_eq!(rx.seen().len(), 1, "one attempt, no redirect followed");
    }
}

#[tokio::test]
async fn closed_port_is_retryable() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let url = Url::parse(&format!(
        "http://127.0.0.1:{port}/services/T0/B0/s3cr3t?token=t0k3n"
    ))
    .expect("url");
    let ep = endpoint(WebhookKind::Slack, url, None);
    let err = send(&ep, &notice()).await.expect_err("nothing listens");
    assert!(err.retryable, "{err}");
    assert_no_url_secrets(&err);
}

#[tokio::test]
async fn timeout_is_retryable() {
    let rx = Receiver::start_slow(200, "", Duration::from_secs(5)).await;
    let ep = endpoint(
        WebhookKind::Standard,
        rx.url("services/T0/B0/s3cr3t?token=t0k3n"),
        Some(SECRET),
    );
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .expect("client");
    let err = webhook::deliver(&impatient, &ep, &notice(), Utc::now())
        .await
        .expect_err("times out");
    assert!(err.retryable, "{err}");
    assert_no_url_secrets(&err);
}

fn assert_no_url_secrets(err: &DeliveryError) {
    let text = err.to_string();
    for secret in [
        "s3cr3t",
        "t0k3n",
        "T0/B0",
        "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    ] {
        assert!(
            !text.contains(secret),
            "error text leaks {secret:?}: {text}"
        );
    }
}

const VERIFY_PY: &str = r#"
import json, sys
try:
    from standardwebhooks.webhooks import Webhook
except ImportError as e:
    print(f"cannot import standardwebhooks ({e})", file=sys.stderr)
    sys.exit(3)
secret, body_path, headers_path = sys.argv[1:4]
with open(body_path, "rb") as f:
    body = f.read()
with open(headers_path) as f:
    headers = json.load(f)
try:
    payload = Webhook(secret).verify(body, headers)
except Exception as e:
    print(f"{type(e).__name__}: {e}", file=sys.stderr)
    sys.exit(1)
print(json.dumps(payload))
"#;

/// Runs the official `standardwebhooks` verifier over a delivery as
/// received: the parsed payload, or why it refused. Panics, never passes,
/// when the library is missing.
fn python_verify(
    secret: &str,
    body: &[u8],
    headers: &BTreeMap<String, String>,
) -> Result<Value, String> {
    let dir = tempfile::tempdir().expect("temp dir");
    let body_path = dir.path().join("body");
    let headers_path = dir.path().join("headers.json");
    std::fs::write(&body_path, body).expect("write body");
    std::fs::write(
        &headers_path,
        serde_json::to_vec(headers).expect("headers JSON"),
    )
    .expect("write headers");

    let python = std::env::var("TOCSIN_TEST_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let output = Command::new(&python)
        .arg("-c")
        .arg(VERIFY_PY)
        .arg(secret)
        .arg(&body_path)
        .arg(&headers_path)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run {python} ({e}): install Python 3, then `python3 -m pip install standardwebhooks`")
        });
    let stderr = String::from_utf8_lossy(&output.stderr);
    match output.status.code() {
        Some(0) => Ok(serde_json::from_slice(&output.stdout).expect("verifier prints JSON")),
        Some(3) => panic!(
            "{python} cannot import the Standard Webhooks library: {stderr}\
             run `python3 -m pip install standardwebhooks`"
        ),
        Some(1) => Err(stderr.trim().to_owned()),
        _ => panic!("{python} verifier crashed ({}): {stderr}", output.status),
    }
}
