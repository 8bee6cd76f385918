//! The webhook channel: tells chat rooms and other systems when an incident
//! moves.
//!
//! Three kinds of endpoint, one [`Notice`]:
//! - [`WebhookKind::Slack`]: a Slack-compatible incoming-webhook message.
//! - [`WebhookKind::Teams`]: a Microsoft Teams message carrying an
//!   Adaptive Card 1.4 (workflows and incoming webhooks both take it).
//! - [`WebhookKind::Standard`]: a generic JSON event signed per the
//!   Standard Webhooks specification (<https://www.standardwebhooks.com>).
//!
//! [`deliver`] makes one attempt and classifies failures as retryable or
//! not; retrying, backoff and the outbox belong to the caller. Retries must
//! reuse the notice's `id`, which receivers use to drop duplicates.
//!
//! Webhook URLs are secrets (Slack's and Teams' carry their credential in the
//! path or query), so nothing here prints one whole: see
//! [`redact_webhook_url`].

use std::borrow::Cow;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use reqwest::Url;
use reqwest::header::{CONTENT_TYPE, HeaderValue};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::endpoint::{Endpoint, WebhookKind};
use crate::redact::redact_webhook_url;

/// The webhook id of an outbox message: `msg_` + its 32 hex digits, the
/// same on every retry so receivers can recognise a repeat.
pub fn message_id(outbox_id: uuid::Uuid) -> String {
    format!("msg_{}", outbox_id.simple())
}

/// The incident a notice is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentRef {
    pub id: uuid::Uuid,
    pub reference: String,
    pub title: String,
    pub severity: String,
    pub status: String,
    pub url: String,
}

/// One thing to tell every endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notice {
    /// Stable per message; retries reuse it (`msg_` + 32 hex).
    pub id: String,
    /// `incident.opened`, `incident.severity_changed`, `task.actionable`, ...
    pub event_type: String,
    pub occurred_at: DateTime<Utc>,
    pub incident: IncidentRef,
    /// One line for people.
    pub headline: String,
    /// Bullet lines for people.
    pub details: Vec<String>,
    /// Machine detail for the standard kind.
    pub data: Value,
}

// Chat services refuse oversized messages outright (Slack: 3000 characters
// per section), which would lose the notice for good; clip instead.
const MAX_DETAILS: usize = 20;
const MAX_LINE_CHARS: usize = 300;
const MAX_SLACK_SECTION_CHARS: usize = 3000;

/// The JSON payload for `kind`.
pub fn body(kind: WebhookKind, notice: &Notice) -> Value {
    match kind {
        WebhookKind::Slack => slack_body(notice),
        WebhookKind::Teams => teams_body(notice),
        WebhookKind::Standard => standard_body(notice),
    }
}

fn slack_body(notice: &Notice) -> Value {
    let incident = &notice.incident;
    let link = if incident.url.is_empty() {
        String::new()
    } else {
        // `|` and `>` would end Slack's <url|label> early.
        let url = incident.url.replace('|', "%7C").replace('>', "%3E");
        let label = slack_escape(&format!("{}: {}", incident.reference, incident.title));
        format!("<{url}|{}>", clip(&label, MAX_LINE_CHARS))
    };

    let mut lines = format!(
        "*{}*",
        slack_escape(&clip(&notice.headline, MAX_LINE_CHARS))
    );
    for detail in shown_details(&notice.details) {
        lines.push_str("\n• ");
        lines.push_str(&slack_escape(&detail));
    }
    // Keep the link whole: it is the way into tocsin.
    let room = MAX_SLACK_SECTION_CHARS.saturating_sub(link.chars().count() + 1);
    let mut text = clip(&lines, room).into_owned();
    if !link.is_empty() {
        text.push('\n');
        text.push_str(&link);
    }

    let context = format!(
        "{} · severity *{}* · status *{}*",
        slack_escape(&incident.reference),
        slack_escape(&incident.severity),
        slack_escape(&incident.status),
    );
    json!({
        // `text` is what notifications and old clients show.
        "text": slack_escape(&clip(&notice.headline, MAX_SLACK_SECTION_CHARS)),
        "blocks": [
            { "type": "section", "text": { "type": "mrkdwn", "text": text } },
            { "type": "context", "elements": [
                { "type": "mrkdwn", "text": clip(&context, MAX_LINE_CHARS) }
            ] }
        ]
    })
}

fn teams_body(notice: &Notice) -> Value {
    let incident = &notice.incident;
    let mut blocks = vec![
        json!({
            "type": "TextBlock",
            "text": clip(&notice.headline, MAX_LINE_CHARS),
            "weight": "Bolder",
            "size": "Medium",
            "wrap": true
        }),
        json!({
            "type": "TextBlock",
            "text": clip(
                &format!(
                    "{} · Severity: {} · Status: {}",
                    incident.reference, incident.severity, incident.status
                ),
                MAX_LINE_CHARS,
            ),
            "isSubtle": true,
            "spacing": "None",
            "wrap": true
        }),
    ];
    // One block per bullet: Adaptive Card list markdown renders unevenly.
    for detail in shown_details(&notice.details) {
        blocks.push(json!({
            "type": "TextBlock",
            "text": format!("• {detail}"),
            "spacing": "Small",
            "wrap": true
        }));
    }
    let mut card = json!({
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": blocks,
        "msteams": { "width": "Full" }
    });
    // An OpenUrl without a url makes Teams reject the whole card.
    if !incident.url.is_empty() {
        card["actions"] = json!([{
            "type": "Action.OpenUrl",
            "title": clip(&format!("Open {}", incident.reference), MAX_LINE_CHARS),
            "url": incident.url
        }]);
    }
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": card
        }]
    })
}

/// `data` is the notice's own, as an object that always names the incident
/// (added under `incident` unless the notice set that key itself).
fn standard_body(notice: &Notice) -> Value {
    let mut data = match &notice.data {
        Value::Object(map) => map.clone(),
        Value::Null => Map::new(),
        other => {
            let mut map = Map::new();
            map.insert("value".to_owned(), other.clone());
            map
        }
    };
    if !data.contains_key("incident") {
        data.insert("incident".to_owned(), json!(notice.incident));
    }
    json!({
        "type": notice.event_type,
        "timestamp": notice.occurred_at.to_rfc3339_opts(SecondsFormat::AutoSi, true),
        "data": data
    })
}

/// The details to show, each clipped, with a last line counting the rest.
fn shown_details(details: &[String]) -> Vec<Cow<'_, str>> {
    let mut shown: Vec<Cow<'_, str>> = details
        .iter()
        .take(MAX_DETAILS)
        .map(|d| clip(d, MAX_LINE_CHARS))
        .collect();
    if details.len() > MAX_DETAILS {
        shown.push(Cow::Owned(format!(
            "…and {} more",
            details.len() - MAX_DETAILS
        )));
    }
    shown
}

/// Slack reads `&`, `<` and `>` as markup.
fn slack_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// At most `max` characters, ending in `…` when cut.
fn clip(s: &str, max: usize) -> Cow<'_, str> {
    if s.chars().count() <= max {
        return Cow::Borrowed(s);
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    Cow::Owned(out)
}

/// A delivery the endpoint accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivered {
    pub status: u16,
}

/// A delivery that failed. `reason` names the endpoint only by [`redact_webhook_url`]
/// URL and never holds a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct DeliveryError {
    /// Worth trying again later (timeouts, connection failures, 408, 429,
    /// 5xx); otherwise the endpoint or notice needs fixing first.
    pub retryable: bool,
    pub reason: String,
}

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// How much of an error answer to quote; enough for Slack's `invalid_blocks`.
const MAX_ERROR_BODY_BYTES: usize = 512;

/// The one client all deliveries share (it pools connections).
///
/// Redirects are not followed: a webhook that moved is a configuration
/// error, and following one would re-send the payload somewhere unchecked.
pub fn client() -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("tocsin/", env!("CARGO_PKG_VERSION"), " (webhooks)"))
        .build()
}

/// Makes one attempt to deliver `notice` to `endpoint`; `now` is the
/// signature timestamp.
pub async fn deliver(
    client: &reqwest::Client,
    endpoint: &Endpoint,
    notice: &Notice,
    now: DateTime<Utc>,
) -> Result<Delivered, DeliveryError> {
    let target = redact_webhook_url(&endpoint.url);
    let permanent = |what: String| DeliveryError {
        retryable: false,
        reason: format!("POST {target}: {what}"),
    };

    // Serialized once: the signature must cover exactly the bytes sent.
    let payload = serde_json::to_vec(&body(endpoint.kind, notice))
        .map_err(|e| permanent(format!("cannot encode payload: {e}")))?;

    let mut request = client
        .post(endpoint.url.clone())
        .header(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    match (&endpoint.secret, endpoint.kind) {
        (Some(secret), _) => {
            if notice.id.is_empty() {
                return Err(permanent("notice has an empty id".to_owned()));
            }
            let id = HeaderValue::from_str(&notice.id)
                .map_err(|_| permanent("notice id is not a valid header value".to_owned()))?;
            let timestamp = now.timestamp();
            let signature = secret.sign(&notice.id, timestamp, &payload);
            let signature = HeaderValue::from_str(&signature)
                .map_err(|_| permanent("signature is not a valid header value".to_owned()))?;
            request = request
                .header("webhook-id", id)
                .header("webhook-timestamp", HeaderValue::from(timestamp))
                .header("webhook-signature", signature);
        }
        (None, WebhookKind::Standard) => {
            return Err(permanent(
                "standard endpoint has no signing secret".to_owned(),
            ));
        }
        (None, _) => {}
    }

    let mut response = match request.body(payload).send().await {
        Ok(response) => response,
        Err(e) => {
            return Err(DeliveryError {
                // Only a request we could not build fails the same way again.
                retryable: !e.is_builder(),
                reason: scrub(
                    &format!("POST {target}: {}", error_chain(&e.without_url())),
                    &endpoint.url,
                ),
            });
        }
    };

    let status = response.status();
    if status.is_success() {
        return Ok(Delivered {
            status: status.as_u16(),
        });
    }
    let code = status.as_u16();
    let retryable = code == 408 || code == 429 || status.is_server_error();
    let mut reason = format!("POST {target}: HTTP {status}");
    if status.is_redirection() {
        reason.push_str(" (redirects are not followed; fix the endpoint URL)");
    }
    let quoted = error_body(&mut response).await;
    if !quoted.is_empty() {
        reason.push_str(": ");
        reason.push_str(&quoted);
    }
    Err(DeliveryError {
        retryable,
        reason: scrub(&reason, &endpoint.url),
    })
}

/// The start of an error answer, on one line; empty if unreadable.
async fn error_body(response: &mut reqwest::Response) -> String {
    let mut bytes = Vec::new();
    // A read error only loses the quote, not the status we already have.
    while bytes.len() < MAX_ERROR_BODY_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
            Ok(None) | Err(_) => break,
        }
    }
    bytes.truncate(MAX_ERROR_BODY_BYTES);
    let text = String::from_utf8_lossy(&bytes);
    let one_line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    one_line.trim().to_owned()
}

/// An error and its causes, `: `-joined (reqwest's own text is only
/// "error sending request"; the cause says refused, timed out, ...).
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// Belt and braces: error texts from below or from the receiver must not
/// carry the URL's secret parts.
fn scrub(text: &str, url: &Url) -> String {
    let mut out = text.replace(url.as_str(), &redact_webhook_url(url));
    let path = url.path();
    if path.len() > 1 {
        out = out.replace(path, "/...");
    }
    if let Some(query) = url.query().filter(|q| !q.is_empty()) {
        out = out.replace(query, "...");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notice() -> Notice {
        Notice {
            id: "msg_0123456789abcdef0123456789abcdef".to_owned(),
            event_type: "incident.opened".to_owned(),
            occurred_at: DateTime::parse_from_rfc3339("2025-03-01T12:34:56Z")
                .unwrap()
                .with_timezone(&Utc),
            incident: IncidentRef {
                id: uuid::Uuid::nil(),
                reference: "INC-7".to_owned(),
                title: "Flooding <east> & wing".to_owned(),
                severity: "sev1".to_owned(),
                status: "open".to_owned(),
                url: "https://tocsin.example/incidents/INC-7".to_owned(),
            },
            headline: "INC-7 opened: Flooding".to_owned(),
            details: vec![
                "Comms: draft holding statement".to_owned(),
                "Ops: <evacuate>".to_owned(),
            ],
            data: json!({ "severity": "sev1" }),
        }
    }

    #[test]
    fn slack_payload() {
        let body = body(WebhookKind::Slack, &notice());
        assert_eq!(body["text"], "INC-7 opened: Flooding");
        let section = &body["blocks"][0];
        assert_eq!(section["type"], "section");
        assert_eq!(section["text"]["type"], "mrkdwn");
        let text = section["text"]["text"].as_str().unwrap();
        assert_eq!(
            text,
            "*INC-7 opened: Flooding*\n• Comms: draft holding statement\n• Ops: &lt;evacuate&gt;\n\
             <https://tocsin.example/incidents/INC-7|INC-7: Flooding &lt;east&gt; &amp; wing>"
        );
        assert_eq!(body["blocks"][1]["type"], "context");
    }

    #[test]
    fn slack_section_stays_within_limits_and_keeps_the_link() {
        let mut n = notice();
        n.details = (0..50)
            .map(|i| format!("{i} {}", "x".repeat(400)))
            .collect();
        let body = body(WebhookKind::Slack, &n);
        let text = body["blocks"][0]["text"]["text"].as_str().unwrap();
        assert!(
            text.chars().count() <= MAX_SLACK_SECTION_CHARS,
            "{}",
            text.len()
        );
        assert!(text.ends_with("|INC-7: Flooding &lt;east&gt; &amp; wing>"));
    }

    #[test]
    fn teams_payload() {
        let body = body(WebhookKind::Teams, &notice());
        assert_eq!(body["type"], "message");
        let attachment = &body["attachments"][0];
        assert_eq!(
            attachment["contentType"],
            "application/vnd.microsoft.card.adaptive"
        );
        let card = &attachment["content"];
        assert_eq!(card["type"], "AdaptiveCard");
        assert_eq!(card["version"], "1.4");
        let blocks = card["body"].as_array().unwrap();
        assert!(blocks.iter().all(|b| b["type"] == "TextBlock"));
        let texts: Vec<&str> = blocks.iter().map(|b| b["text"].as_str().unwrap()).collect();
        assert_eq!(
            texts,
            [
                "INC-7 opened: Flooding",
                "INC-7 · Severity: sev1 · Status: open",
                "• Comms: draft holding statement",
                "• Ops: <evacuate>",
            ]
        );
        let action = &card["actions"][0];
        assert_eq!(action["type"], "Action.OpenUrl");
        assert_eq!(action["url"], "https://tocsin.example/incidents/INC-7");
        assert_eq!(action["title"], "Open INC-7");
    }

    #[test]
    fn teams_card_without_url_has_no_action() {
        let mut n = notice();
        n.incident.url.clear();
        assert!(
            body(WebhookKind::Teams, &n)["attachments"][0]["content"]
                .get("actions")
                .is_none()
        );
    }

    #[test]
    fn standard_payload() {
        let body = body(WebhookKind::Standard, &notice());
        assert_eq!(body["type"], "incident.opened");
        assert_eq!(body["timestamp"], "2025-03-01T12:34:56Z");
        assert_eq!(body["data"]["severity"], "sev1");
        assert_eq!(body["data"]["incident"]["reference"], "INC-7");
        assert_eq!(
            body["data"]["incident"]["id"],
            "00000000-0000-0000-0000-000000000000"
        );

        // A notice's own `incident` wins; a non-object `data` is kept.
        let mut n = notice();
        n.data = json!({ "incident": "mine" });
        assert_eq!(
            super::body(WebhookKind::Standard, &n)["data"]["incident"],
            "mine"
        );
        n.data = json!(42);
        assert_eq!(super::body(WebhookKind::Standard, &n)["data"]["value"], 42);
    }

    #[test]
    fn message_ids_have_the_documented_shape() {
        let outbox_id = uuid::Uuid::now_v7();
        let id = message_id(outbox_id);
        assert_eq!(id.len(), 36);
        assert!(id.starts_with("msg_"));
        assert!(id[4..].chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(id, message_id(outbox_id), "stable across retries");
    }

    #[test]
    fn scrub_removes_url_secrets() {
        let url = Url::parse("https://hooks.slack.com/services/T0/B0/secret?sig=abc").unwrap();
        let text = scrub(
            "failed for https://hooks.slack.com/services/T0/B0/secret?sig=abc, path /services/T0/B0/secret sig=abc",
            &url,
        );
        assert!(!text.contains("secret"), "{text}");
        assert!(!text.contains("abc"), "{text}");
    }
}
