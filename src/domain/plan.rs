//! What a scenario at a severity asks of each department: the playbooks'
//! answer, which an incident turns into its checklist.

use std::time::Duration;

use super::{Person, Severity};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The scenario's id in the playbooks.
    pub scenario: String,
    pub severity: Severity,
    /// Only departments with at least one task, in the scenario's order.
    pub departments: Vec<PlannedDepartment>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedDepartment {
    pub id: String,
    pub name: String,
    pub head: Person,
    pub deputies: Vec<Person>,
    pub tasks: Vec<PlannedTask>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedTask {
    pub department: String,
    pub item: String,
    pub title: String,
    pub description: String,
    pub required: bool,
    /// Effective for the plan's severity.
    pub ack_within: Duration,
    pub complete_within: Duration,
    /// `dept/item` keys of tasks in the same plan; dependencies that do not
    /// apply at this scenario and severity are left out.
    pub depends_on: Vec<String>,
}

impl PlannedTask {
    /// `dept/item`, the key other tasks use in `depends_on`.
    pub fn key(&self) -> String {
        format!("{}/{}", self.department, self.item)
    }
}
