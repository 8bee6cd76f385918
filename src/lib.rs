//! tocsin: a crisis-response incident coordinator.
//!
//! Communications staff trigger an incident; tocsin opens it with every
//! engaged department's checklist from the playbooks, and tracks each item
//! to resolution on an append-only timeline.
//!
//! - [`playbook`]: the departments' crisis playbooks, loaded and validated.
//! - [`domain`]: incidents, tasks and the rules for changing them.
//! - [`engine`]: the use cases, over a [`store::Store`].
//! - [`timeline`]: the hash chain, signatures, exports and verification.
//! - [`http`]: the JSON API; [`cli`]: the `tocsin` command.
//! - [`inbound`]: mail that comes back (replies, auto-replies, bounces),
//!   read and acted on through the engine.

pub mod app;
pub mod auth;
pub mod cli;
pub mod clock;
pub mod config;
pub mod delivery;
pub mod domain;
pub mod endpoint;
pub mod engine;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub mod http;
pub mod inbound;
pub mod metrics;
pub mod playbook;
pub mod redact;
pub mod secret;
pub mod staff;
pub mod store;
pub mod timeline;
