//! What the domain's unit tests share: a person, and a drill incident with
//! no checklist, opened with commander@example.com in command.

use chrono::{DateTime, Utc};

use super::{Incident, Line, NewIncident, Person, Plan, Prose, Severity};

pub fn person(email: &str) -> Person {
    Person {
        name: email.to_owned(),
        email: email.to_owned(),
    }
}

pub fn drill_incident(opened_at: DateTime<Utc>) -> Incident {
    let plan = Plan {
        scenario: "drill".into(),
        severity: Severity::Low,
        departments: Vec::new(),
    };
    let new = NewIncident {
        title: Line::parse("Drill").expect("a title"),
        summary: Prose::parse("Drill").expect("a summary"),
        commander: person("commander@example.com"),
        opened_by: "token:drill".into(),
    };
    Incident::open(new, &plan, opened_at).0
}
