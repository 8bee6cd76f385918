//! The tamper-evident incident timeline, for legal review long after the
//! fact.
//!
//! - [`chain`]: each event's SHA-256 over an RFC 8785 canonical form that
//!   includes the previous event's hash; the first links to a genesis value
//!   derived from the incident id.
//! - [`sign`]: Ed25519 signatures of chain heads.
//! - [`export`]: JSON (verifiable), CSV and printable HTML, streamed.
//! - [`verify`]: offline checks of a stored chain or an exported file.
//!
//! The byte-level format is specified in `docs/timeline-format.md`.

pub mod chain;
pub mod export;
pub mod sign;
pub mod verify;

pub use chain::{ChainHead, ChainedEvent, canonical_bytes, event_hash, genesis_hash};
pub use export::{
    DepartmentSummary, Dossier, DossierField, DossierStep, ExportHeader, IncidentSummary,
    TaskSummary, UnknownTimeZone, parse_tz, write_csv, write_html, write_json,
};
pub use sign::{KeyError, SignatureError, SigningKey, verify_head};
pub use verify::{
    Break, SignatureStatus, VerifyReport, verify_chain, verify_export, verify_export_with_key,
};
