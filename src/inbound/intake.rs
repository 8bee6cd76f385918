//! The one path every inbound message takes, whichever intake received it
//! (the SMTP listener, the IMAP poller): read it, and hand what it says to
//! the engine, which acts on it once.

use std::sync::Arc;

use super::reader::{AutoSign, Inbound, ReadError, Received, message_sha256, read_message};
use crate::domain::reply::{Answer, MailEvidence};
use crate::domain::reply_key::ReplyAddress;
use crate::engine::{Engine, EngineError, Receipt};

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

/// What became of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Taken {
    Read(Receipt),
    /// Bytes that are no readable message: nothing was recorded.
    Unreadable(ReadError),
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
        match self.address.key_in(recipient) {
            Some(key) => self.engine.knows_reply_key(key).await,
            None => Ok(self.address.is_bare(recipient)),
        }
    }

    /// Reads one raw message and has the engine act on it, once.
    pub async fn take(&self, raw: &[u8], delivered: Delivered<'_>) -> Result<Taken, EngineError> {
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
