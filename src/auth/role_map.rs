//! Which tocsin role a person signing in through the organisation's
//! identity provider gets, from one claim of their ID token (a group list,
//! usually): rules `value=role`, the first whose value the claim holds wins.

use std::fmt;

use serde_json::Value;

use super::Role;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleMap {
    rules: Vec<(String, Role)>,
}

impl RoleMap {
    /// Rules as written in the settings: `tocsin-admins=admin`, in order.
    pub fn parse<'a>(rules: impl IntoIterator<Item = &'a str>) -> Result<RoleMap, String> {
        let rules = rules
            .into_iter()
            .map(str::trim)
            .filter(|rule| !rule.is_empty())
            .map(|rule| {
                let (value, role) = rule
                    .rsplit_once('=')
                    .ok_or_else(|| format!("{rule:?} is not VALUE=ROLE"))?;
                let role = role
                    .trim()
                    .parse::<Role>()
                    .map_err(|error| error.to_string())?;
                let value = value.trim();
                if value.is_empty() {
                    return Err(format!("{rule:?} has no value before '='"));
                }
                Ok((value.to_owned(), role))
            })
            .collect::<Result<Vec<_>, String>>()?;
        if rules.is_empty() {
            return Err("no rule: nobody could sign in".to_owned());
        }
        Ok(RoleMap { rules })
    }

    /// The role the claim earns: a string, or a list of strings (groups).
    /// None: the person has no role in tocsin and is not let in.
    pub fn role_for(&self, claim: Option<&Value>) -> Option<Role> {
        let held: Vec<&str> = match claim? {
            Value::String(value) => vec![value.as_str()],
            Value::Array(values) => values.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        self.rules
            .iter()
            .find(|(value, _)| held.contains(&value.as_str()))
            .map(|&(_, role)| role)
    }
}

impl fmt::Display for RoleMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rules: Vec<String> = self
            .rules
            .iter()
            .map(|(value, role)| format!("{value}={role}"))
            .collect();
        f.write_str(&rules.join(","))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn map() -> RoleMap {
        RoleMap::parse("crisis-admins=admin, legal=legal,comms=responder".split(',')).unwrap()
    }

    #[test]
    fn the_first_rule_whose_value_the_claim_holds_wins() {
        let map = map();
        assert_eq!(
            map.role_for(Some(&json!(["comms", "legal"]))),
            Some(Role::Legal)
        );
        assert_eq!(map.role_for(Some(&json!(["comms"]))), Some(Role::Responder));
        assert_eq!(
            map.role_for(Some(&json!("crisis-admins"))),
            Some(Role::Admin)
        );
    }

    #[test]
    fn no_matching_value_no_claim_or_another_shape_is_no_role() {
        let map = map();
        assert_eq!(map.role_for(Some(&json!(["sales"]))), None);
        assert_eq!(map.role_for(None), None);
        assert_eq!(map.role_for(Some(&json!({"comms": true}))), None);
        assert_eq!(map.role_for(Some(&json!([1, 2]))), None);
        // Values are compared whole, with their case.
        assert_eq!(map.role_for(Some(&json!(["Comms", "comms-x"]))), None);
    }

    #[test]
    fn a_bad_rule_is_named() {
        for (rules, says) in [
            ("comms", "is not VALUE=ROLE"),
            ("comms=owner", "owner"),
            ("=admin", "no value"),
            (" , ", "no rule"),
        ] {
            let error = RoleMap::parse(rules.split(',')).unwrap_err();
            assert!(error.contains(says), "{rules}: {error}");
        }
    }

    #[test]
    fn reads_back_as_written() {
        assert_eq!(
            map().to_string(),
            "crisis-admins=admin,legal=legal,comms=responder"
        );
    }
}
