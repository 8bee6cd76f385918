//! Inbound mail: what department heads answer to tocsin's messages.
//!
//! The SMTP listener and the IMAP poller will hand each raw message to one
//! pure reader; it reads the person's command from their own words
//! ([`command`]). No I/O here; what a key names and what a command may
//! change are the engine's to decide.

pub mod command;

pub use command::{Command, CommandError, own_text, read_command};
