//! Telling people: what each change says to whom (planned in the same
//! transaction as the change), and delivering it afterwards by email and
//! webhooks, with retries, from a durable outbox.

pub mod email;
pub mod links;
pub mod message;
pub mod render;
pub mod webhook;
pub mod worker;

pub use message::{Channel, NewMessage, Notice, Route, messages_for};
