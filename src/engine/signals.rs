//! Signals: an alert opens an incident, joins the open one with its
//! deduplication key, or waits for the commander to confirm it. One entry
//! point for the API and for mail to `signals+SOURCE@`.

use uuid::Uuid;

use super::{Engine, EngineError, effects_of};
use crate::domain::signal::{self, Outcome, PendingSignal, Received, Signal};
use crate::domain::{Actor, DomainError, Incident, Line, LinkUse, NewIncident, Prose, Text};
use crate::secret::hash_secret;
use crate::store::{Claimed, SignalClaim};

/// Characters in a deduplication key (PagerDuty's limit).
pub const DEDUP_KEY_MAX: usize = 255;
/// Characters in a signal's link.
pub const SIGNAL_LINK_MAX: usize = 2048;

/// A signal as a front end received it, before any checking: the API's
/// JSON fields, or a mail's `+SOURCE`, subject and text.
#[derive(Debug, Clone, Default)]
pub struct SignalInput {
    pub source: String,
    pub dedup_key: String,
    pub title: String,
    pub body: Option<String>,
    pub link: Option<String>,
}

/// What became of a signal.
#[derive(Debug)]
pub enum SignalOutcome {
    /// It opened this incident.
    Opened(Incident),
    /// Its key's incident was open: it joined it.
    Attached(Incident),
    /// It waits for the commander, who was mailed a link to confirm it.
    /// `repeat`: one with its key was waiting already, and still is.
    AwaitingConfirmation { id: Uuid, repeat: bool },
}

/// What clicking a confirmation link did.
#[derive(Debug)]
pub enum Confirmed {
    /// This click opened the incident, or joined the one its key holds.
    Now(Incident),
    /// Someone confirmed it before: as they left it.
    Already(PendingSignal),
}

/// Tries of open-or-join: each retry follows an incident resolved between
/// finding its key held and joining it, which frees the key.
const TRIES: usize = 3;

impl Engine {
    /// Checks a signal against the playbooks, then opens an incident, joins
    /// the open one with its key, or asks the commander first.
    pub async fn receive_signal(
        &self,
        input: SignalInput,
        actor: &Actor,
    ) -> Result<SignalOutcome, EngineError> {
        let signal = self.parse_signal(input)?;
        let source = self.catalog.signal_source(&signal.source).ok_or_else(|| {
            let known: Vec<&str> = self
                .catalog
                .signal_sources()
                .iter()
                .map(|source| source.id.as_str())
                .collect();
            EngineError::Invalid {
                field: "source",
                message: format!(
                    "unknown source {:?}; known sources: {}",
                    signal.source,
                    known.join(", ")
                ),
            }
        })?;
        let routed = source.route(
            signal.title.as_str(),
            signal.body.as_ref().map(Text::as_str),
        );
        let confirm_first = routed.action.confirm_first;
        let received = Received::new(&signal, &routed, self.now(), actor.to_string());
        if !confirm_first {
            return self.open_or_attach(&received, actor, None).await;
        }
        // Once the commander said yes (or another rule opened it), the
        // key's incident takes its repeats without asking again.
        if let Some(id) = self
            .store
            .open_signal_incident(&received.source, &received.dedup_key)
            .await?
        {
            match self.attach_signal(id, &received, actor).await {
                Ok(incident) => return Ok(SignalOutcome::Attached(incident)),
                Err(error) if key_freed(&error) => {}
                Err(error) => return Err(error),
            }
        }
        let commander = self.catalog.organisation().commander.email.to_string();
        let pending = received.pending(Uuid::now_v7(), commander);
        let (id, new) = self.store.wait_for_confirmation(&pending).await?;
        if new {
            self.wake.notify_one();
        }
        Ok(SignalOutcome::AwaitingConfirmation { id, repeat: !new })
    }

    /// A waiting signal, by its confirmation link's secret (the page shows it).
    pub async fn signal_to_confirm(&self, secret: &str) -> Result<PendingSignal, EngineError> {
        self.store
            .pending_signal(&hash_secret(secret))
            .await?
            .ok_or(EngineError::NotFound("confirmation link"))
    }

    /// The commander's click: opens the waiting signal's incident (or joins
    /// the one its key holds). Idempotent: a second click changes nothing.
    pub async fn confirm_signal(
        &self,
        secret: &str,
        via: LinkUse,
    ) -> Result<Confirmed, EngineError> {
        let pending = self.signal_to_confirm(secret).await?;
        if pending.confirmed_at.is_some() {
            return Ok(Confirmed::Already(pending));
        }
        let actor = Actor::link(via);
        let received = Received::waited(&pending);
        let confirms = Some((pending.id, actor.to_string()));
        match self.open_or_attach(&received, &actor, confirms).await {
            Ok(SignalOutcome::Opened(incident) | SignalOutcome::Attached(incident)) => {
                Ok(Confirmed::Now(incident))
            }
            Ok(SignalOutcome::AwaitingConfirmation { .. }) => {
                Err(EngineError::NotFound("confirmation link"))
            }
            Err(EngineError::Refused(DomainError::SignalConfirmed)) => {
                Ok(Confirmed::Already(self.signal_to_confirm(secret).await?))
            }
            Err(error) => Err(error),
        }
    }

    /// Opens an incident holding the signal's key, or joins the key's open
    /// incident. `confirms`: the waiting signal this answers, and who
    /// confirmed it.
    async fn open_or_attach(
        &self,
        received: &Received,
        actor: &Actor,
        confirms: Option<(Uuid, String)>,
    ) -> Result<SignalOutcome, EngineError> {
        let plan = self
            .catalog
            .plan(&received.scenario, received.severity)
            .ok_or_else(|| EngineError::Invalid {
                field: "source",
                message: format!(
                    "the playbook of source {:?} names unknown scenario {:?}",
                    received.source, received.scenario
                ),
            })?;
        let outcome = if confirms.is_some() {
            Outcome::Confirmed
        } else {
            Outcome::Opened
        };
        let claim = SignalClaim {
            source: received.source.clone(),
            dedup_key: received.dedup_key.clone(),
            confirms: confirms.clone(),
        };
        let mut last = None;
        for _ in 0..TRIES {
            let new = NewIncident {
                title: Line::parse(&received.title).map_err(|error| invalid("title", error))?,
                summary: summary(received)?,
                commander: self.catalog.organisation().commander.person(),
                opened_by: actor.to_string(),
            };
            let (incident, opened) = Incident::open(new, &plan, self.now());
            let events = vec![opened, received.event(outcome, actor.via.clone())];
            let effects = effects_of(&incident, events, &self.routes);
            match self
                .store
                .open_for_signal(&incident, effects, actor, &claim)
                .await?
            {
                Claimed::Opened => {
                    self.wake.notify_one();
                    return Ok(SignalOutcome::Opened(incident));
                }
                Claimed::AlreadyConfirmed => return Err(DomainError::SignalConfirmed.into()),
                Claimed::Held(id) => match self.attach_signal(id, received, actor).await {
                    Ok(incident) => {
                        if let Some((pending, by)) = &confirms {
                            self.store
                                .confirm_signal(*pending, incident.id, by, self.now())
                                .await?;
                        }
                        return Ok(SignalOutcome::Attached(incident));
                    }
                    Err(error) if key_freed(&error) => last = Some(error),
                    Err(error) => return Err(error),
                },
            }
        }
        Err(last.unwrap_or(EngineError::NotFound("incident")))
    }

    async fn attach_signal(
        &self,
        incident_id: Uuid,
        received: &Received,
        actor: &Actor,
    ) -> Result<Incident, EngineError> {
        let received = received.clone();
        self.update(incident_id, actor, move |incident, actor, now| {
            signal::attach(incident, &received, actor.via.clone(), now)
        })
        .await
    }

    /// The signal's fields by the rules every text follows.
    fn parse_signal(&self, input: SignalInput) -> Result<Signal, EngineError> {
        // The rule of every text, longer than a line: what the API's schema says.
        let dedup_key = Text::<DEDUP_KEY_MAX>::parse(&input.dedup_key)
            .map_err(|error| invalid("dedup_key", error))?;
        let link = match input.link.as_deref() {
            None => None,
            Some(link) => Some(parse_link(link)?),
        };
        Ok(Signal {
            source: input.source,
            dedup_key: dedup_key.as_str().to_owned(),
            title: Line::parse(&input.title).map_err(|error| invalid("title", error))?,
            body: input
                .body
                .as_deref()
                .map(Prose::parse)
                .transpose()
                .map_err(|error| invalid("body", error))?,
            link,
        })
    }
}

/// Whether joining failed because the key's incident closed (or went)
/// meanwhile: the key is free again.
fn key_freed(error: &EngineError) -> bool {
    matches!(
        error,
        EngineError::NotFound(_) | EngineError::Refused(DomainError::IncidentResolved(_))
    )
}

fn invalid(field: &'static str, error: crate::domain::TextError) -> EngineError {
    EngineError::Invalid {
        field,
        message: format!("{field} {error}"),
    }
}

/// An http(s) URL of visible ASCII: it becomes a link in mails and pages,
/// so no other scheme (`javascript:`) gets in. Exactly the API schema's
/// pattern, `^https?://[!-~]+$`, and its length.
fn parse_link(link: &str) -> Result<String, EngineError> {
    let rest = link
        .strip_prefix("https://")
        .or_else(|| link.strip_prefix("http://"));
    match rest {
        Some(rest)
            if !rest.is_empty()
                && link.len() <= SIGNAL_LINK_MAX
                && rest.bytes().all(|byte| (b'!'..=b'~').contains(&byte)) =>
        {
            Ok(link.to_owned())
        }
        _ => Err(EngineError::Invalid {
            field: "link",
            message: format!(
                "link must be an http or https URL of visible ASCII characters, \
                 at most {SIGNAL_LINK_MAX}"
            ),
        }),
    }
}

/// The incident's summary: the signal's text, or what sent it.
fn summary(received: &Received) -> Result<Prose, EngineError> {
    let text = match &received.body {
        Some(body) => body.clone(),
        None => format!(
            "Signal from {} ({}): {}",
            received.source, received.dedup_key, received.title
        ),
    };
    // A title and a key of bounded length always fit; cut all the same
    // rather than fail an alert on a rule of ours.
    let text: String = text.chars().take(crate::domain::PROSE_MAX).collect();
    Prose::parse(&text).map_err(|error| invalid("body", error))
}
