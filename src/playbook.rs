//! Crisis playbooks: what each department does, by scenario and severity.
//!
//! A playbook directory holds `organisation.toml` (the organisation, its
//! default incident commander, its data protection officer and its
//! scenarios), one `departments/<id>.toml` per department (head, deputies,
//! checklist items) and, optionally, one `regimes/<id>.toml` per regulatory
//! regime (the statutory deadlines legal may arm on an incident).
//! [`Catalog::load`] reads and validates all of it at once ([`Catalog::from_files`]
//! does the same for files held in memory), reporting every
//! problem with its file, line and column; [`Catalog::plan`] then says which
//! tasks a scenario at a severity calls for. Adding a department is adding a
//! file: no code changes.

mod address;
mod catalog;
mod diagnostics;
mod load;
mod parse;
#[cfg(test)]
mod tests;

pub use catalog::{Catalog, Contact, Department, Item, Organisation, Scenario, Timing};
pub use diagnostics::{Diagnostic, Diagnostics};
pub use load::PlaybookFile;
