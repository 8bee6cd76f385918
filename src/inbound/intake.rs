//! The one path every inbound message takes, whichever intake received it
//! (the SMTP listener, the IMAP poller): read it, and hand what it says to
//! the engine: a reply, which acts once, or an alert to a signal address.

use std::sync::Arc;

use super::reader::{
    AutoSign, Inbound, ReadError, Received, message_sha256, read_alert, read_message,
};
use crate::domain::reply::{Answer, MailEvidence};
use crate::domain::reply_key::ReplyAddress;
use crate::domain::{Actor, LINE_MAX};
use crate::engine::{DEDUP_KEY_MAX, Engine, EngineError, Receipt, SignalInput, SignalOutcome};

/// How a message reached tocsin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivered<'a> {
    /// The envelope recipient (`RCPT TO`), whose sub-address is a key.
    pub recipient: Option<&'a str>,
    /// The sending server's address, or the mailbox read.
    pub peer: &'a str,
    /// `smtp` or `imap`.
    pub intake: &'static str,
}

/// Alerts are mailed to `signals+SOURCE@` the reply domain.
pub const SIGNALS_PREFIX: &str = "signals";

/// Longest alert text kept on the timeline: an alert's gist, not its
/// every chart and footer.
const ALERT_TEXT_MAX: usize = 4000;

/// What became of a message.
#[derive(Debug)]
pub enum Taken {
    Read(Receipt),
    /// An alert to a signal address, and what it raised.
    Signal(Box<SignalOutcome>),
    /// Bytes that are no readable message: nothing was recorded.
    Unreadable(ReadError),
    /// A readable message that cannot be taken, and why.
    Refused(String),
}

pub struct Intake {
    engine: Arc<Engine>,
    address: ReplyAddress,
}

impl Intake {
    pub fn new(engine: Arc<Engine>, address: ReplyAddress) -> Intake {
        Intake { engine, address }
    }

    pub fn address(&self) -> &ReplyAddress {
        &self.address
    }

    /// Whether mail to `recipient` is taken: a sub-address of the reply
    /// address whose key tocsin issued, or the reply address itself (its
    /// key must then be in the headers, or the message is refused at the
    /// end of its data). Anything else is refused before its data is sent.
    pub async fn accepts(&self, recipient: &str) -> Result<bool, EngineError> {
        if let Some(source) = self.signal_source(recipient) {
            return Ok(self.engine.catalog().signal_source(source).is_some());
        }
        match self.address.key_in(recipient) {
            Some(key) => self.engine.knows_reply_key(key).await,
            None => Ok(self.address.is_bare(recipient)),
        }
    }

    /// The source a signal address names: `signals+SOURCE@` the reply
    /// domain.
    fn signal_source<'a>(&self, recipient: &'a str) -> Option<&'a str> {
        let recipient = recipient
            .trim()
            .trim_start_matches('<')
            .trim_end_matches('>');
        let (local, domain) = recipient.rsplit_once('@')?;
        let (prefix, source) = local.split_once('+')?;
        (prefix.eq_ignore_ascii_case(SIGNALS_PREFIX)
            && domain.eq_ignore_ascii_case(self.address.domain()))
        .then_some(source)
    }

    /// Reads one raw message and has the engine act on it: a reply, once;
    /// an alert, as a signal from its source.
    pub async fn take(&self, raw: &[u8], delivered: Delivered<'_>) -> Result<Taken, EngineError> {
        if let Some(source) = delivered.recipient.and_then(|to| self.signal_source(to)) {
            return self.take_alert(raw, source).await;
        }
        let received = match read_message(raw, delivered.recipient) {
            Ok(received) => received,
            Err(error) => {
                tracing::warn!(sha256 = %message_sha256(raw), peer = delivered.peer, %error,
                    "an inbound message could not be read: refused");
                return Ok(Taken::Unreadable(error));
            }
        };
        let Received {
            evidence,
            keys,
            inbound,
        } = received;
        let keys: Vec<&str> = keys
            .iter()
            .map(|candidate| candidate.key.as_str())
            .collect();
        // The same message keeps its id through every path; the bytes
        // differ (each hop adds headers), so they only stand in for an id.
        let dedup_key = match &evidence.message_id {
            Some(id) => format!("message-id:{id}"),
            None => format!("sha256:{}", evidence.sha256),
        };
        let evidence = MailEvidence {
            sha256: evidence.sha256,
            from: evidence.from,
            message_id: evidence.message_id,
            peer: delivered.peer.to_owned(),
            intake: delivered.intake,
        };
        let receipt = self
            .engine
            .receive_reply(&keys, dedup_key, answer(inbound), evidence)
            .await?;
        Ok(Taken::Read(receipt))
    }

    /// An alert becomes a signal: its subject the title, its text the body,
    /// through the door the API's signals take.
    async fn take_alert(&self, raw: &[u8], source: &str) -> Result<Taken, EngineError> {
        let alert = match read_alert(raw) {
            Ok(alert) => alert,
            Err(error) => return Ok(Taken::Unreadable(error)),
        };
        let from = read_message(raw, None)
            .ok()
            .and_then(|received| received.evidence.from)
            .unwrap_or_else(|| source.to_owned());
        let text: String = alert.text.chars().take(ALERT_TEXT_MAX).collect();
        let input = SignalInput {
            source: source.to_owned(),
            dedup_key: alert.dedup_key.chars().take(DEDUP_KEY_MAX).collect(),
            title: alert.subject.chars().take(LINE_MAX).collect(),
            body: (!text.is_empty()).then_some(text),
            link: None,
        };
        match self.engine.receive_signal(input, &Actor::mail(&from)).await {
            Ok(outcome) => Ok(Taken::Signal(Box::new(outcome))),
            Err(EngineError::Invalid { field, message }) => {
                Ok(Taken::Refused(format!("{field}: {message}")))
            }
            Err(error) => Err(error),
        }
    }
}

fn answer(inbound: Inbound) -> Answer {
    match inbound {
        Inbound::Human(reply) => Answer::Words(reply.command.map_err(|error| error.to_string())),
        Inbound::OutOfOffice { .. } => Answer::OutOfOffice,
        Inbound::Bounce {
            failed_recipient, ..
        } => Answer::Bounce { failed_recipient },
        Inbound::Automatic { sign } => Answer::Automatic {
            sign: describe(&sign),
        },
    }
}

/// What gave an automatic message away, as the timeline says it.
fn describe(sign: &AutoSign) -> String {
    match sign {
        AutoSign::AutoSubmitted(value) => format!("Auto-Submitted: {value}"),
        AutoSign::XAutoreply => "X-Autoreply".to_owned(),
        AutoSign::XAutorespond => "X-Autorespond".to_owned(),
        AutoSign::Precedence(value) => format!("Precedence: {value}"),
        AutoSign::NullReturnPath => "an empty return path".to_owned(),
        AutoSign::AutoReplySubject => "an auto-reply's subject".to_owned(),
        AutoSign::DeliveryReport => "a delivery status report".to_owned(),
    }
}
