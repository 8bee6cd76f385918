//! The adapters that talk to the world: the worker that claims messages from
//! the outbox and delivers them ([`worker`]) by email ([`email`], with its
//! SMTP pool) and webhooks ([`webhook`]), and the words they carry
//! ([`render`]), also used by the pages people open from those messages.
//! What comes back (replies, auto-replies, bounces) is [`crate::inbound`]'s.

pub mod email;
pub mod render;
pub mod webhook;
pub mod worker;
