//! The reply reader: one raw message in, what it is and what it asks out.
//!
//! Auto-replies never act. A message is automatic when it says so
//! (`Auto-Submitted` other than `no`, `X-Autoreply`, `X-Autorespond`,
//! `Precedence: bulk|junk|list|auto_reply`), when its return path is empty
//! (`Return-Path: <>`: the listener records the envelope sender there, as a
//! delivering server does), when its subject is an auto-reply's ("Automatic
//! reply:", "Réponse automatique :"...), or when it is a delivery status
//! notification (`multipart/report; report-type=delivery-status`).

use mail_parser::decoders::html::html_to_text;
use mail_parser::{HeaderValue, Message, MessageParser, MimeHeaders, PartType};
use sha2::{Digest, Sha256};

use super::command::{Command, CommandError, fold, own_text, read_command};
use crate::domain::reply_key::{key_from_address, key_from_message_id};

/// A message read: the evidence the timeline keeps, the keys it may answer
/// and what it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub evidence: Evidence,
    /// Best first; none may name anything: the store decides.
    pub keys: Vec<KeyCandidate>,
    pub inbound: Inbound,
}

/// What the timeline records of a message, to prove later what was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evidence {
    /// SHA-256 of the raw bytes, lowercase hex.
    pub sha256: String,
    /// The first `From` address, as written.
    pub from: Option<String>,
    /// Without its angle brackets.
    pub message_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inbound {
    /// A person's answer.
    Human(Reply),
    /// An auto-reply that says its sender is away.
    OutOfOffice {
        sign: AutoSign,
        subject: Option<String>,
    },
    /// A delivery failure report.
    Bounce {
        /// The `Message-ID` of the message that failed, without brackets.
        original_message_id: Option<String>,
        failed_recipient: Option<String>,
    },
    /// Any other automatic message: it changes nothing.
    Automatic { sign: AutoSign },
}

/// A person's reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// Their own words: no quoted history, signature or client footer.
    pub text: String,
    pub command: Result<Command, CommandError>,
}

/// Why a message was taken for an automatic one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AutoSign {
    /// `Auto-Submitted` with this value (lower case), other than `no`.
    AutoSubmitted(String),
    XAutoreply,
    XAutorespond,
    /// `Precedence` with this value (lower case).
    Precedence(String),
    /// `Return-Path: <>`.
    NullReturnPath,
    /// A subject such as "Automatic reply:" or "Réponse automatique :".
    AutoReplySubject,
    /// A delivery status notification that reports no failure (a delay).
    DeliveryReport,
}

/// Where a key candidate was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySource {
    /// The `+KEY` sub-address the message was delivered to.
    EnvelopeRecipient,
    /// The `Message-ID` of the message a bounce returns.
    BouncedMessage,
    InReplyTo,
    References,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyCandidate {
    pub key: String,
    pub source: KeySource,
}

/// Why bytes could not be read as a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    #[error("not an email message: no header could be read")]
    NotAMessage,
    #[error("the message's MIME structure is too broken to read")]
    Unwalkable,
}

/// SHA-256 of a raw message, lowercase hex: the evidence kept even for
/// bytes that are no message.
pub fn message_sha256(raw: &[u8]) -> String {
    hex::encode(Sha256::digest(raw))
}

/// Reads one raw message, as delivered to `envelope_recipient` (the SMTP
/// `RCPT TO`, or the delivered-to address an IMAP poller knows). Never
/// panics, whatever the bytes.
pub fn read_message(raw: &[u8], envelope_recipient: Option<&str>) -> Result<Received, ReadError> {
    let message = parse(raw)?;
    let evidence = Evidence {
        sha256: message_sha256(raw),
        from: message
            .from()
            .and_then(|from| from.first())
            .and_then(|first| first.address())
            .map(str::to_owned),
        message_id: message.message_id().map(str::to_owned),
    };
    let mut keys = Vec::new();
    if let Some(key) = envelope_recipient.and_then(key_from_address) {
        push_key(&mut keys, key, KeySource::EnvelopeRecipient);
    }
    let inbound = if is_delivery_report(&message) {
        bounce(&message)
    } else if let Some(sign) = auto_sign(&message) {
        if says_out_of_office(&message) {
            Inbound::OutOfOffice {
                sign,
                subject: message.subject().map(str::to_owned),
            }
        } else {
            Inbound::Automatic { sign }
        }
    } else {
        let text = own_text(&body_text(&message));
        let command = read_command(&text);
        Inbound::Human(Reply { text, command })
    };
    if let Inbound::Bounce {
        original_message_id: Some(original),
        ..
    } = &inbound
        && let Some(key) = key_from_message_id(original)
    {
        push_key(&mut keys, key, KeySource::BouncedMessage);
    }
    for id in ids(message.in_reply_to()) {
        if let Some(key) = key_from_message_id(id) {
            push_key(&mut keys, key, KeySource::InReplyTo);
        }
    }
    // The message replied to is the last one referenced.
    for id in ids(message.references()).iter().rev() {
        if let Some(key) = key_from_message_id(id) {
            push_key(&mut keys, key, KeySource::References);
        }
    }
    Ok(Received {
        evidence,
        keys,
        inbound,
    })
}

/// Adds a candidate unless an earlier source gave the same key.
fn parse(raw: &[u8]) -> Result<Message<'_>, ReadError> {
    // mail-parser 0.11 promises never to panic, but a malformed multipart
    // reaches a `debug_assert!` in its part walk (debug builds; fixed in 1.0,
    // which needs a newer Rust). Hostile bytes must not stop the listener:
    // a message the parser cannot walk is unreadable, nothing more.
    match std::panic::catch_unwind(|| MessageParser::new().parse(raw)) {
        Ok(Some(message)) => Ok(message),
        Ok(None) => Err(ReadError::NotAMessage),
        Err(_) => Err(ReadError::Unwalkable),
    }
}

/// An alert mailed by a monitoring or social-listening tool to
/// `signals+SOURCE@`: its words, for the signal it raises.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    pub subject: String,
    /// The text body (an HTML-only alert as text), trimmed.
    pub text: String,
    /// `X-Tocsin-Dedup-Key`, for tools that can set a header; else the
    /// subject without its `Re:` and `Fwd:`, so repeats of one alert join.
    pub dedup_key: String,
}

/// Reads an alert. Unlike a reply, an alert is automatic by nature: its
/// `Auto-Submitted` and `Precedence` are expected, not refused.
pub fn read_alert(raw: &[u8]) -> Result<Alert, ReadError> {
    let message = parse(raw)?;
    let subject = message.subject().unwrap_or_default().trim().to_owned();
    let dedup_key = header_values(&message, "X-Tocsin-Dedup-Key")
        .into_iter()
        .map(|key| key.trim().to_owned())
        .find(|key| !key.is_empty())
        .unwrap_or_else(|| without_reply_prefixes(&subject).to_owned());
    Ok(Alert {
        text: body_text(&message).trim().to_owned(),
        subject,
        dedup_key,
    })
}

/// A subject without the `Re:`, `Fwd:`, `TR:` ... that replies and
/// forwards put before it.
fn without_reply_prefixes(subject: &str) -> &str {
    let mut rest = subject.trim();
    loop {
        let Some((prefix, after)) = rest.split_once(':') else {
            return rest;
        };
        if ["re", "fw", "fwd", "tr", "aw", "wg"]
            .contains(&prefix.trim().to_ascii_lowercase().as_str())
        {
            rest = after.trim_start();
        } else {
            return rest;
        }
    }
}

fn push_key(keys: &mut Vec<KeyCandidate>, key: &str, source: KeySource) {
    if !keys.iter().any(|candidate| candidate.key == key) {
        keys.push(KeyCandidate {
            key: key.to_owned(),
            source,
        });
    }
}

/// The message ids a header holds, in order.
fn ids<'a>(value: &'a HeaderValue<'_>) -> Vec<&'a str> {
    match value {
        HeaderValue::Text(id) => vec![id.as_ref()],
        HeaderValue::TextList(ids) => ids.iter().map(|id| id.as_ref()).collect(),
        _ => Vec::new(),
    }
}

/// The first sign, in the documented order, that nobody wrote the message.
/// Any header of a name counts, not only the last: a server prepends its
/// `Return-Path`, and a sign must never be hidden by a second copy.
fn auto_sign(message: &Message<'_>) -> Option<AutoSign> {
    if let Some(value) = header_values(message, "Auto-Submitted")
        .into_iter()
        .find(|value| !value.is_empty() && value != "no")
    {
        return Some(AutoSign::AutoSubmitted(value));
    }
    if !header_values(message, "X-Autoreply").is_empty() {
        return Some(AutoSign::XAutoreply);
    }
    if !header_values(message, "X-Autorespond").is_empty() {
        return Some(AutoSign::XAutorespond);
    }
    if let Some(value) = header_values(message, "Precedence")
        .into_iter()
        .find(|value| matches!(value.as_str(), "bulk" | "junk" | "list" | "auto_reply"))
    {
        return Some(AutoSign::Precedence(value));
    }
    let null_path = header_values(message, "Return-Path")
        .iter()
        .any(|path| path.chars().filter(|c| !c.is_whitespace()).eq("<>".chars()));
    if null_path {
        return Some(AutoSign::NullReturnPath);
    }
    let subject = fold(message.subject().unwrap_or_default().trim_start());
    let auto_subject = [
        "automatic reply",
        "auto-reply",
        "autoreply",
        "out of office",
        "reponse automatique",
        "absent du bureau",
        "absence du bureau",
    ]
    .iter()
    .any(|prefix| subject.starts_with(prefix));
    auto_subject.then_some(AutoSign::AutoReplySubject)
}

/// The raw value of every top-level header named `name`, up to any `;`
/// comment, trimmed and in lower case.
fn header_values(message: &Message<'_>, name: &str) -> Vec<String> {
    let raw = message.raw_message();
    message
        .headers()
        .iter()
        .filter(|header| header.name().eq_ignore_ascii_case(name))
        .filter_map(|header| raw.get(header.offset_start() as usize..header.offset_end() as usize))
        .map(|value| {
            let value = String::from_utf8_lossy(value);
            let value = value.split(';').next().unwrap_or_default();
            value.trim().to_ascii_lowercase()
        })
        .collect()
}

/// Whether an auto-reply's subject or opening says its sender is away.
fn says_out_of_office(message: &Message<'_>) -> bool {
    let subject = fold(message.subject().unwrap_or_default());
    let body = body_text(message);
    // The opening is enough, and keeps a long message cheap.
    let opening = fold(&body.chars().take(600).collect::<String>());
    [
        "out of office",
        "out of the office",
        "automatic reply",
        "auto-reply",
        "autoreply",
        "vacation",
        "on leave",
        "away from",
        "absence",
        "absent",
        "reponse automatique",
        "en conge",
    ]
    .iter()
    .any(|phrase| subject.contains(phrase) || opening.contains(phrase))
}

/// The first text body, as lines of text. An HTML-only body gets a line
/// break at each block first (the parser's own conversion breaks at `<br>`
/// and `</p>` only), and its quotes and rules become the `>` lines and
/// underscore rules of a plain-text reply.
fn body_text(message: &Message<'_>) -> String {
    match message.text_part(0).map(|part| &part.body) {
        Some(PartType::Text(text)) => text.to_string(),
        Some(PartType::Html(html)) => html_to_text(&html_with_line_breaks(html)),
        _ => String::new(),
    }
}

fn html_with_line_breaks(html: &str) -> String {
    let mut out = String::with_capacity(html.len() + html.len() / 8);
    let mut rest = html;
    while let Some(at) = rest.find('<') {
        let (before, tag) = rest.split_at(at);
        out.push_str(before);
        // `<` is one byte: the tag follows it.
        let tag = &tag[1..];
        let closing = tag.starts_with('/');
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(char::is_ascii_alphanumeric)
            .map(|c| c.to_ascii_lowercase())
            .collect();
        match name.as_str() {
            "blockquote" if !closing => out.push_str("<br>&gt; "),
            "hr" => out.push_str("<br>________________<br>"),
            "div" | "p" | "blockquote" | "tr" | "li" | "table" | "h1" | "h2" | "h3" | "h4"
            | "h5" | "h6" => out.push_str("<br>"),
            _ => {}
        }
        out.push('<');
        rest = tag;
    }
    out.push_str(rest);
    out
}

fn is_delivery_report(message: &Message<'_>) -> bool {
    message.content_type().is_some_and(|content_type| {
        content_type.ctype().eq_ignore_ascii_case("multipart")
            && content_type
                .subtype()
                .is_some_and(|sub| sub.eq_ignore_ascii_case("report"))
            && content_type
                .attribute("report-type")
                .is_some_and(|report| report.eq_ignore_ascii_case("delivery-status"))
    })
}

/// A delivery status notification: a bounce when a recipient failed (or
/// none is readable), otherwise a report that changes nothing.
fn bounce(message: &Message<'_>) -> Inbound {
    let mut original_message_id = None;
    let mut status = None;
    for part in &message.parts {
        let Some(content_type) = part.content_type() else {
            continue;
        };
        let kind = format!(
            "{}/{}",
            content_type.ctype(),
            content_type.subtype().unwrap_or_default()
        )
        .to_ascii_lowercase();
        match (kind.as_str(), &part.body) {
            (_, PartType::Message(returned)) if original_message_id.is_none() => {
                original_message_id = returned.message_id().map(str::to_owned);
            }
            ("text/rfc822-headers" | "message/global-headers", _)
                if original_message_id.is_none() =>
            {
                original_message_id = MessageParser::new()
                    .parse_headers(part.contents())
                    .and_then(|headers| headers.message_id().map(str::to_owned));
            }
            ("message/delivery-status" | "message/global-delivery-status", _)
                if status.is_none() =>
            {
                status = Some(delivery_status(&String::from_utf8_lossy(part.contents())));
            }
            _ => {}
        }
    }
    match status {
        Some(status) if status.reports_actions && !status.reports_failure => Inbound::Automatic {
            sign: AutoSign::DeliveryReport,
        },
        status => Inbound::Bounce {
            original_message_id,
            failed_recipient: status.and_then(|s| s.failed_recipient),
        },
    }
}

#[derive(Default)]
struct DeliveryStatus {
    /// Whether any recipient has an `Action` at all.
    reports_actions: bool,
    /// Whether any recipient's `Action` is `failed`.
    reports_failure: bool,
    /// The first failed recipient's address.
    failed_recipient: Option<String>,
}

/// Reads a `message/delivery-status` body (RFC 3464): a group of fields per
/// message, then one per recipient, separated by blank lines.
fn delivery_status(report: &str) -> DeliveryStatus {
    let mut found = DeliveryStatus::default();
    for group in report.replace("\r\n", "\n").split("\n\n") {
        let mut final_recipient = None;
        let mut original_recipient = None;
        let mut failed = false;
        for line in group.lines() {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            // "rfc822; jane@example.org": the address after the type.
            let address = || {
                let address = value.split_once(';').map_or(value, |(_, a)| a).trim();
                let address = address.trim_start_matches('<').trim_end_matches('>');
                (!address.is_empty()).then(|| address.to_owned())
            };
            match name.trim().to_ascii_lowercase().as_str() {
                "final-recipient" => final_recipient = address(),
                "original-recipient" => original_recipient = address(),
                "action" => {
                    found.reports_actions = true;
                    failed = value.trim().eq_ignore_ascii_case("failed");
                }
                _ => {}
            }
        }
        if failed {
            found.reports_failure = true;
            if found.failed_recipient.is_none() {
                found.failed_recipient = final_recipient.or(original_recipient);
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    #[test]
    fn an_alert_keys_on_its_header_or_its_subject_without_reply_prefixes() {
        let alert = |headers: &str| {
            read_alert(format!("From: a@b\r\n{headers}\r\nHigh volume\r\n").as_bytes()).unwrap()
        };
        let repeat = alert("Subject: Fwd: RE: Complaints up\r\n");
        assert_eq!(repeat.dedup_key, "Complaints up");
        assert_eq!(repeat.subject, "Fwd: RE: Complaints up");
        assert_eq!(repeat.text, "High volume");
        let keyed = alert("Subject: Complaints up\r\nX-Tocsin-Dedup-Key: alarm-7\r\n");
        assert_eq!(keyed.dedup_key, "alarm-7");
        // A colon inside a subject is not a prefix.
        assert_eq!(
            alert("Subject: Alert: share price\r\n").dedup_key,
            "Alert: share price"
        );
    }

    use super::*;
    use crate::inbound::DOCUMENTED_COMMAND_WORDS;

    macro_rules! fixture {
        ($name:literal) => {
            include_bytes!(concat!("../../tests/fixtures/inbound/", $name)).as_slice()
        };
    }

    fn read(raw: &[u8], envelope_recipient: Option<&str>) -> Received {
        read_message(raw, envelope_recipient).expect("a message")
    }

    fn key(key: &str, source: KeySource) -> KeyCandidate {
        KeyCandidate {
            key: key.into(),
            source,
        }
    }

    fn human(received: &Received) -> &Reply {
        match &received.inbound {
            Inbound::Human(reply) => reply,
            other => panic!("not a person's reply: {other:?}"),
        }
    }

    #[test]
    fn a_gmail_reply_acknowledges_and_keeps_its_evidence() {
        let raw = fixture!("gmail-reply.eml");
        let received = read(raw, Some("crisis+Zx8v2LqP7mN4kR1t@reply.example.org"));
        let reply = human(&received);
        assert_eq!(reply.command, Ok(Command::Acknowledge));
        assert_eq!(reply.text, "OK, on it. Drafting the holding statement now.");
        assert_eq!(
            received.evidence,
            Evidence {
                sha256: hex::encode(Sha256::digest(raw)),
                from: Some("jane.doe@example.com".into()),
                message_id: Some(
                    "CAKx9w3nR5uT+q=8sYhQ0aB1cD2eF3gH4iJ5kL6mN7oP8@mail.gmail.com".into()
                ),
            }
        );
        assert_eq!(received.evidence.sha256.len(), 64);
        // The same key in In-Reply-To is not offered twice.
        assert_eq!(
            received.keys,
            [key("Zx8v2LqP7mN4kR1t", KeySource::EnvelopeRecipient)]
        );
        let without_envelope = read(raw, None);
        assert_eq!(
            without_envelope.keys,
            [key("Zx8v2LqP7mN4kR1t", KeySource::InReplyTo)]
        );
    }

    #[test]
    fn an_iphone_reply_in_french_is_done_with_its_note() {
        let received = read(fixture!("iphone-reply-fr.eml"), None);
        let reply = human(&received);
        assert_eq!(
            reply.command,
            Ok(Command::Done {
                note: Some("plainte déposée auprès de la plateforme à 14h08.".into())
            })
        );
        assert_eq!(
            received.evidence.message_id.as_deref(),
            Some("8F0C2D6E-4B1A-4C3D-9E2F-7A6B5C4D3E2F@example.fr")
        );
        // In-Reply-To first, then References from the last one back.
        assert_eq!(
            received.keys,
            [
                key("Qw3e4RtY5uI6oP7a", KeySource::InReplyTo),
                key("Zx8v2LqP7mN4kR1t", KeySource::References),
            ]
        );
    }

    #[test]
    fn an_outlook_reply_in_french_skips_with_its_reason() {
        let received = read(
            fixture!("outlook-fr-skip.eml"),
            Some("crisis+Hr5tYu7iOp9aSd1f@reply.example.org"),
        );
        let reply = human(&received);
        // A sign-off without "-- " cannot be told from the reason.
        assert_eq!(
            reply.command,
            Ok(Command::Skip {
                reason: "aucune donnée de salarié n'est concernée.\n\nMarie Durand\n\
                         Directrice des ressources humaines"
                    .into()
            })
        );
        assert_eq!(
            received.evidence.from.as_deref(),
            Some("marie.durand@example.fr")
        );
        assert_eq!(
            received.keys,
            [key("Hr5tYu7iOp9aSd1f", KeySource::EnvelopeRecipient)]
        );
    }

    #[test]
    fn a_gmail_vacation_responder_is_out_of_office_though_it_says_ok() {
        let received = read(fixture!("gmail-vacation.eml"), None);
        assert_eq!(
            received.inbound,
            Inbound::OutOfOffice {
                sign: AutoSign::AutoSubmitted("auto-replied".into()),
                subject: Some("Out of office until Monday 7 December".into()),
            }
        );
        assert_eq!(
            received.keys,
            [key("Lg9hJk2lZx4cVb6n", KeySource::InReplyTo)]
        );
    }

    #[test]
    fn a_microsoft_365_reponse_automatique_is_out_of_office() {
        let received = read(fixture!("m365-reponse-automatique.eml"), None);
        let Inbound::OutOfOffice { sign, subject } = &received.inbound else {
            panic!("{:?}", received.inbound);
        };
        assert_eq!(*sign, AutoSign::AutoSubmitted("auto-generated".into()));
        assert!(
            subject
                .as_deref()
                .is_some_and(|s| s.starts_with("Réponse automatique\u{a0}: [Tocsin] ÉLEVÉE")),
            "{subject:?}"
        );
        // Without its headers, the subject alone gives it away.
        let raw = String::from_utf8_lossy(fixture!("m365-reponse-automatique.eml"))
            .replace("Auto-Submitted: auto-generated\r\n", "");
        assert!(matches!(
            read(raw.as_bytes(), None).inbound,
            Inbound::OutOfOffice {
                sign: AutoSign::AutoReplySubject,
                ..
            }
        ));
    }

    #[test]
    fn a_postfix_bounce_names_the_failed_message_and_recipient() {
        let raw = fixture!("postfix-bounce.eml");
        let received = read(raw, Some("bounces@reply.example.org"));
        assert_eq!(
            received.inbound,
            Inbound::Bounce {
                original_message_id: Some(
                    "Cs3dFg5hJk7lQw9e.0193a1b2c3d9@tocsin.example.org".into()
                ),
                failed_recipient: Some("j.martin@example.com".into()),
            }
        );
        assert_eq!(
            received.keys,
            [key("Cs3dFg5hJk7lQw9e", KeySource::BouncedMessage)]
        );
        // Returned as headers only, the message still names itself.
        let headers_only = String::from_utf8_lossy(raw).replace(
            "Content-Type: message/rfc822",
            "Content-Type: text/rfc822-headers",
        );
        let received = read(headers_only.as_bytes(), None);
        assert!(
            matches!(&received.inbound, Inbound::Bounce { original_message_id: Some(id), .. }
                if id == "Cs3dFg5hJk7lQw9e.0193a1b2c3d9@tocsin.example.org"),
            "{:?}",
            received.inbound
        );
    }

    #[test]
    fn a_delay_notice_is_no_bounce() {
        let raw = String::from_utf8_lossy(fixture!("postfix-bounce.eml"))
            .replace("Action: failed", "Action: delayed")
            .replace("Status: 5.1.1", "Status: 4.4.1");
        assert_eq!(
            read(raw.as_bytes(), None).inbound,
            Inbound::Automatic {
                sign: AutoSign::DeliveryReport
            }
        );
    }

    #[test]
    fn a_mailing_list_copy_never_acts() {
        let received = read(fixture!("mailing-list.eml"), None);
        assert_eq!(
            received.inbound,
            Inbound::Automatic {
                sign: AutoSign::Precedence("list".into())
            }
        );
    }

    fn with_header(header: &str) -> String {
        format!(
            "From: a@example.org\r\n{header}\r\nSubject: Re: incident\r\n\
             In-Reply-To: <k1.u@tocsin.example.org>\r\n\r\nOK\r\n"
        )
    }

    #[test]
    fn every_documented_sign_of_an_auto_reply_is_recognised() {
        for (header, sign) in [
            (
                "Auto-Submitted: auto-generated",
                AutoSign::AutoSubmitted("auto-generated".into()),
            ),
            (
                "Auto-Submitted: Auto-Replied; owner-email=\"a@example.org\"",
                AutoSign::AutoSubmitted("auto-replied".into()),
            ),
            ("X-Autoreply: yes", AutoSign::XAutoreply),
            ("X-Autorespond: Out of office", AutoSign::XAutorespond),
            ("Precedence: bulk", AutoSign::Precedence("bulk".into())),
            ("Precedence: junk", AutoSign::Precedence("junk".into())),
            ("Precedence: list", AutoSign::Precedence("list".into())),
            (
                "Precedence: auto_reply",
                AutoSign::Precedence("auto_reply".into()),
            ),
            ("Return-Path: <>", AutoSign::NullReturnPath),
            ("Return-Path: < >", AutoSign::NullReturnPath),
            // Header names in any case; a second copy hides no sign.
            (
                "auto-submitted: Auto-Replied",
                AutoSign::AutoSubmitted("auto-replied".into()),
            ),
            ("X-AutoReply: yes", AutoSign::XAutoreply),
            ("PRECEDENCE: BULK", AutoSign::Precedence("bulk".into())),
            (
                "Return-Path: <>\r\nReturn-Path: <jane@example.org>",
                AutoSign::NullReturnPath,
            ),
            (
                "Auto-Submitted: no\r\nAuto-Submitted: auto-generated",
                AutoSign::AutoSubmitted("auto-generated".into()),
            ),
        ] {
            let received = read(with_header(header).as_bytes(), None);
            assert_eq!(received.inbound, Inbound::Automatic { sign }, "{header:?}");
            assert_eq!(received.keys, [key("k1", KeySource::InReplyTo)]);
        }
        let auto_subject =
            "From: a@example.org\r\nSubject: Automatic reply: incident\r\n\r\nOK\r\n";
        assert!(matches!(
            read(auto_subject.as_bytes(), None).inbound,
            Inbound::OutOfOffice {
                sign: AutoSign::AutoReplySubject,
                ..
            }
        ));
    }

    #[test]
    fn headers_that_are_no_sign_leave_a_person_s_reply() {
        for header in [
            "Auto-Submitted: no",
            "Auto-Submitted: No ; comment",
            "Precedence: first-class",
            "Return-Path: <jane@example.org>",
            "X-Auto-Response-Suppress: All",
        ] {
            let received = read(with_header(header).as_bytes(), None);
            assert_eq!(
                human(&received).command,
                Ok(Command::Acknowledge),
                "{header:?}"
            );
        }
    }

    #[test]
    fn an_html_only_reply_is_read_from_its_text() {
        let raw = "From: a@example.org\r\nContent-Type: text/html; charset=utf-8\r\n\r\n\
                   <div>ACK</div><div>On Wed, 2 Dec 2026, Tocsin wrote:</div>\
                   <blockquote>Incident</blockquote>\r\n";
        assert_eq!(
            human(&read(raw.as_bytes(), None)).command,
            Ok(Command::Acknowledge)
        );
    }

    #[test]
    fn an_outlook_web_html_reply_stops_at_its_rule() {
        let raw = "From: a@example.org\r\nContent-Type: text/html; charset=utf-8\r\n\r\n\
                   <html><body><div dir=\"ltr\">Fait : standard pr&eacute;venu</div>\
                   <div>Marie</div><hr style=\"display:inline-block\">\
                   <div id=\"divRplyFwdMsg\"><b>De :</b> Tocsin<br><b>Envoy&eacute; :</b> \
                   mercredi<br></div><div>Incident</div></body></html>\r\n";
        assert_eq!(
            human(&read(raw.as_bytes(), None)).command,
            Ok(Command::Done {
                note: Some("standard prévenu\n\nMarie".into())
            })
        );
    }

    #[test]
    fn a_reply_with_nothing_of_its_own_is_an_error_not_a_note() {
        let raw = "From: a@example.org\r\n\r\n> quoted\r\n";
        assert_eq!(
            human(&read(raw.as_bytes(), None)).command,
            Err(CommandError::Empty)
        );
        let skip = "From: a@example.org\r\n\r\nSKIP\r\n\r\nSent from my iPhone\r\n";
        assert_eq!(
            human(&read(skip.as_bytes(), None)).command,
            Err(CommandError::SkipWithoutReason)
        );
    }

    #[test]
    fn bytes_that_are_no_message_are_refused_or_read_without_panic() {
        assert_eq!(read_message(b"", None), Err(ReadError::NotAMessage));
        for raw in [
            b"\xff\xfe\x00".as_slice(),
            b"Content-Type: multipart/report; report-type=delivery-status; boundary=x\r\n\r\n--x\r\nContent-Type: message/rfc822\r\n\r\n--x--",
            b"Content-Type: multipart/report; report-type=delivery-status; boundary=x\r\n\r\n--x\r\nContent-Type: message/delivery-status\r\n\r\nAction: failed\r\n--x",
            b"In-Reply-To: <>\r\nReferences: < >\r\n\r\n",
        ] {
            let _ = read_message(raw, Some("+@"));
        }
        assert_eq!(message_sha256(b"").len(), 64);
    }

    #[test]
    fn a_multipart_that_trips_the_parser_is_unwalkable_not_a_crash() {
        // Found by the reply_reader fuzz target within seconds.
        let input =
            include_bytes!("../../fuzz/regressions/reply_reader/mail-parser-0.11-invalid-part-id");
        let raw = input
            .splitn(2, |byte| *byte == b'\n')
            .nth(1)
            .expect("a message after the recipient line");
        let read = read_message(raw, None);
        // Debug builds reach the parser's assertion; release builds do not.
        assert!(
            read.is_ok() || read == Err(ReadError::Unwalkable),
            "{read:?}"
        );
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(raw in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let _ = read_message(&raw, None);
        }

        #[test]
        fn arbitrary_messages_never_panic(
            headers in proptest::collection::vec(
                ("(Content-Type|In-Reply-To|References|Auto-Submitted|Precedence|Return-Path|From|Subject)",
                 "[ -~]{0,60}"), 0..8),
            body in "(?s).{0,400}",
            recipient in proptest::option::of("[ -~]{0,40}"),
        ) {
            let head: String = headers.iter().map(|(n, v)| format!("{n}: {v}\r\n")).collect();
            let raw = format!("{head}\r\n{body}");
            let _ = read_message(raw.as_bytes(), recipient.as_deref());
        }

        #[test]
        fn only_documented_words_act(
            body in "(?s)(([Bb]ien|OK|ok|Fait|Skip|absent)[ \t\n\u{a0}]{0,3})?.{0,200}"
        ) {
            let text = own_text(&body);
            if let Ok(command) = read_command(&text) {
                let folded = fold(&text).split_whitespace().collect::<Vec<_>>().join(" ");
                prop_assert!(
                    !command.acts() || DOCUMENTED_COMMAND_WORDS.iter().any(|w| folded.starts_with(w)),
                    "{command:?} from {text:?}"
                );
            }
        }

        #[test]
        fn documented_words_act(
            word in proptest::sample::select(DOCUMENTED_COMMAND_WORDS),
            shout in any::<bool>(),
            rest in "[a-z ]{0,30}",
        ) {
            let word = if shout { word.to_uppercase() } else { word.to_owned() };
            let read = read_command(&format!("{word}: {rest}"));
            prop_assert!(
                read.as_ref().is_ok_and(Command::acts)
                    || read == Err(CommandError::SkipWithoutReason),
                "{word:?} {rest:?}: {read:?}"
            );
        }

        #[test]
        fn an_auto_reply_never_acts(
            header in proptest::sample::select(&[
                "Auto-Submitted: auto-replied",
                "X-Autoreply: yes",
                "X-Autorespond: yes",
                "Precedence: bulk",
                "Precedence: list",
                "Return-Path: <>",
            ][..]),
            word in proptest::sample::select(DOCUMENTED_COMMAND_WORDS),
            rest in "[ -~]{0,40}",
        ) {
            let raw = format!("From: a@example.org\r\n{header}\r\n\r\n{word} {rest}\r\n");
            let received = read_message(raw.as_bytes(), None);
            prop_assert!(
                !matches!(received, Ok(Received { inbound: Inbound::Human(_), .. })),
                "{raw:?}"
            );
        }
    }
}
