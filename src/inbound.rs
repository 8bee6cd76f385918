//! Inbound mail: what department heads answer to tocsin's messages.
//!
//! The SMTP listener ([`smtp`]) and the IMAP poller ([`imap`]) hand each
//! raw message to one path
//! ([`intake`]): a pure reader ([`reader`]) tells a person's reply from an
//! auto-reply or a bounce, finds the reply key the message answers, and
//! reads the person's command from their own words ([`command`]); what a
//! key names and what a command may change are the engine's to decide.

pub mod command;
pub mod imap;
pub mod intake;
pub mod reader;
pub mod smtp;

pub use command::{Command, CommandError, own_text, read_command};
pub use reader::{
    AutoSign, Evidence, Inbound, KeyCandidate, KeySource, ReadError, Received, Reply, read_message,
};

/// The words that act, folded, as [`command`]'s documentation lists them:
/// the oracle of the reader's tests and fuzzing, kept apart from its own
/// lists so that a word added there without documentation shows.
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) const DOCUMENTED_COMMAND_WORDS: &[&str] = &[
    "ok",
    "okay",
    "ack",
    "recu",
    "bien recu",
    "done",
    "fait",
    "termine",
    "skip",
    "passer",
    "ignorer",
    "away",
    "absent",
    "absente",
];
