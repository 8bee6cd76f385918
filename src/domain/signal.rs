//! Signals: alerts from monitoring and social-listening tools that open an
//! incident, join the open one with the same deduplication key, or wait for
//! the commander to confirm them. The playbooks say, per source, which words
//! lead where; the store says whether a key's incident is still open.

use serde::Serialize;
use uuid::Uuid;

use chrono::{DateTime, Utc};

use super::text::fold;
use super::{DomainError, EventData, Incident, Line, LinkUse, Prose, Severity};

/// A signal as it arrived, by the API or by mail to `signals+SOURCE@`, its
/// text already parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signal {
    /// A source id: `signals/<id>.toml` in the playbooks.
    pub source: String,
    /// The same key while an incident is open joins it (PagerDuty's
    /// `dedup_key`); keys are per source.
    pub dedup_key: String,
    pub title: Line,
    pub body: Option<Prose>,
    /// Where the tool shows the alert.
    pub link: Option<String>,
}

/// What a source's playbook makes of a signal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct SignalAction {
    pub scenario: String,
    pub severity: Severity,
    /// Ask the commander before anyone else is woken.
    pub confirm_first: bool,
}

/// One rule of a source: if the title or body contains any of the words
/// (case and accents aside), take the action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct SignalRule {
    /// As written in the playbook.
    pub contains_any: Vec<String>,
    pub action: SignalAction,
}

/// A source of signals, from `signals/<id>.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct SignalSource {
    pub id: String,
    pub title: String,
    /// Tried in order; the first that matches decides.
    pub rules: Vec<SignalRule>,
    /// When no rule matches.
    pub default: SignalAction,
}

/// The rule that decided, and its action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Routed<'a> {
    /// The matching rule's position (from 1), none for the default.
    pub rule: Option<usize>,
    pub action: &'a SignalAction,
}

impl SignalSource {
    /// The first rule whose words appear in the title or the body.
    pub fn route(&self, title: &str, body: Option<&str>) -> Routed<'_> {
        let text = fold(&format!("{title}\n{}", body.unwrap_or("")));
        self.rules
            .iter()
            .position(|rule| {
                rule.contains_any
                    .iter()
                    .any(|word| text.contains(&fold(word)))
            })
            .map_or(
                Routed {
                    rule: None,
                    action: &self.default,
                },
                |at| Routed {
                    rule: Some(at + 1),
                    action: &self.rules[at].action,
                },
            )
    }
}

/// What became of a signal, as its event says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// It opened a new incident.
    Opened,
    /// Its key's incident is open: it joined it.
    Attached,
    /// The commander confirmed a signal that waited for them, and it
    /// opened the incident.
    Confirmed,
}

/// A signal with what the playbooks made of it: what its event records,
/// whether it opens an incident, joins one, or was confirmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub source: String,
    pub dedup_key: String,
    pub title: String,
    pub body: Option<String>,
    pub link: Option<String>,
    pub scenario: String,
    pub severity: Severity,
    pub rule: Option<usize>,
    pub received_at: DateTime<Utc>,
    /// Who sent it (`token:monitoring`), as the timeline names actors.
    pub received_by: String,
    /// While it waited for the commander: the repeats of its key.
    pub repeats: Option<i64>,
}

impl Received {
    pub fn new(signal: &Signal, routed: &Routed<'_>, at: DateTime<Utc>, by: String) -> Received {
        Received {
            source: signal.source.clone(),
            dedup_key: signal.dedup_key.clone(),
            title: signal.title.as_str().to_owned(),
            body: signal.body.as_ref().map(|body| body.as_str().to_owned()),
            link: signal.link.clone(),
            scenario: routed.action.scenario.clone(),
            severity: routed.action.severity,
            rule: routed.rule,
            received_at: at,
            received_by: by,
            repeats: None,
        }
    }

    /// A signal the commander was asked about, as it waited.
    pub fn waited(pending: &PendingSignal) -> Received {
        Received {
            source: pending.source.clone(),
            dedup_key: pending.dedup_key.clone(),
            title: pending.title.clone(),
            body: pending.body.clone(),
            link: pending.link.clone(),
            scenario: pending.scenario.clone(),
            severity: pending.severity,
            rule: pending.rule,
            received_at: pending.received_at,
            received_by: pending.received_by.clone(),
            repeats: Some(pending.repeats),
        }
    }

    pub fn event(&self, outcome: Outcome, via: Option<LinkUse>) -> EventData {
        EventData::SignalReceived {
            source: self.source.clone(),
            dedup_key: self.dedup_key.clone(),
            title: self.title.clone(),
            body: self.body.clone(),
            link: self.link.clone(),
            outcome,
            scenario: self.scenario.clone(),
            severity: self.severity,
            rule: self.rule,
            received_at: self.received_at,
            received_by: self.received_by.clone(),
            repeats: self.repeats,
            via,
        }
    }

    /// Waiting for `commander`, as the store keeps it.
    pub fn pending(&self, id: Uuid, commander: String) -> PendingSignal {
        PendingSignal {
            id,
            source: self.source.clone(),
            dedup_key: self.dedup_key.clone(),
            title: self.title.clone(),
            body: self.body.clone(),
            link: self.link.clone(),
            scenario: self.scenario.clone(),
            severity: self.severity,
            rule: self.rule,
            received_at: self.received_at,
            received_by: self.received_by.clone(),
            commander,
            repeats: 0,
            incident_id: None,
            confirmed_at: None,
            confirmed_by: None,
        }
    }
}

/// A signal joins an open incident with its key: on its timeline, and
/// nothing else changes (its scenario and severity stay the commander's
/// call). A resolved incident refuses it: the key is free again.
pub fn attach(
    incident: &mut Incident,
    received: &Received,
    via: Option<LinkUse>,
    now: DateTime<Utc>,
) -> Result<Vec<EventData>, DomainError> {
    if let Some(at) = incident.resolved_at {
        return Err(DomainError::IncidentResolved(at));
    }
    incident.updated_at = now;
    Ok(vec![received.event(Outcome::Attached, via)])
}

/// A signal that waits for the commander's click.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingSignal {
    pub id: Uuid,
    pub source: String,
    pub dedup_key: String,
    pub title: String,
    pub body: Option<String>,
    pub link: Option<String>,
    pub scenario: String,
    pub severity: Severity,
    pub rule: Option<usize>,
    pub received_at: chrono::DateTime<chrono::Utc>,
    pub received_by: String,
    /// Where the confirmation link is mailed.
    pub commander: String,
    /// Later signals with its key while it waited.
    pub repeats: i64,
    /// Set once confirmed: the incident it opened or joined.
    pub incident_id: Option<Uuid>,
    pub confirmed_at: Option<chrono::DateTime<chrono::Utc>>,
    pub confirmed_by: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn action(scenario: &str, confirm_first: bool) -> SignalAction {
        SignalAction {
            scenario: scenario.into(),
            severity: Severity::High,
            confirm_first,
        }
    }

    fn source() -> SignalSource {
        SignalSource {
            id: "brandwatch".into(),
            title: "Brandwatch".into(),
            rules: vec![
                SignalRule {
                    contains_any: vec!["hack".into(), "piraté".into()],
                    action: action("account-hijack", false),
                },
                SignalRule {
                    contains_any: vec!["boycott".into()],
                    action: action("social-media-storm", true),
                },
            ],
            default: action("complaint-surge", true),
        }
    }

    #[test]
    fn the_first_matching_rule_decides_whatever_the_case_and_accents() {
        let source = source();
        let routed = source.route("Compte PIRATE ?", None);
        assert_eq!(routed.rule, Some(1));
        assert_eq!(routed.action.scenario, "account-hijack");
        // A decomposed é in the playbook's word, none in the text.
        let routed = source.route("x", Some("notre compte a été pirate\u{301}"));
        assert_eq!(routed.rule, Some(1));
        let routed = source.route("Boycott and hack", None);
        assert_eq!(routed.rule, Some(1), "rules are tried in order");
        let routed = source.route("Calls to BOYCOTT", Some("trending"));
        assert_eq!(routed.rule, Some(2));
        assert!(routed.action.confirm_first);
    }

    #[test]
    fn a_signal_joins_an_open_incident_and_not_a_resolved_one() {
        let at = chrono::DateTime::parse_from_rfc3339("2026-12-02T09:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        let mut incident = crate::domain::testing::drill_incident(at);
        let source = source();
        let signal = Signal {
            source: "brandwatch".into(),
            dedup_key: "k".into(),
            title: Line::parse("Hacked again").unwrap(),
            body: None,
            link: None,
        };
        let received = Received::new(
            &signal,
            &source.route("Hacked again", None),
            at,
            "token:t".into(),
        );
        let later = at + chrono::Duration::minutes(5);
        let events = attach(&mut incident, &received, None, later).unwrap();
        assert!(matches!(
            &events[..],
            [EventData::SignalReceived {
                outcome: Outcome::Attached,
                rule: Some(1),
                ..
            }]
        ));
        assert_eq!(incident.updated_at, later);
        incident.resolve(None, None, later).unwrap();
        assert!(matches!(
            attach(&mut incident, &received, None, later),
            Err(DomainError::IncidentResolved(_))
        ));
    }

    #[test]
    fn a_signal_no_rule_matches_takes_the_default() {
        let source = source();
        let routed = source.route("Mentions up 40%", Some("nothing special"));
        assert_eq!(routed.rule, None);
        assert_eq!(routed.action.scenario, "complaint-surge");
    }
}
