//! What a contact address must be beyond parsing: the address a reader
//! checks in a playbook is the one mail goes to, and it can go out at all.
//!
//! The look-alike rules follow Unicode Technical Standard #39 through the
//! `unicode-security` crate.

use unicode_security::general_security_profile::IdentifierType;
use unicode_security::mixed_script::AugmentedScriptSet;
use unicode_security::{GeneralSecurityProfile, MixedScript};

/// Every problem with an address that parses, as messages; empty when none.
pub(super) fn problems(address: &lettre::Address) -> Vec<String> {
    let written = address.to_string();
    let mut problems = Vec::new();
    for (what, character) in hidden_characters(&written) {
        problems.push(format!(
            "email address {written:?} has U+{:04X}, {what}: retype the address in plain \
             characters",
            u32::from(character)
        ));
    }
    // A part wholly in one script is fine, whatever the script: internationalised
    // names are real. A part mixing two is where a look-alike letter hides.
    for part in std::iter::once(address.user()).chain(address.domain().split('.')) {
        if !part.is_single_script() {
            problems.push(format!(
                "email address {written:?} mixes scripts in {part:?}: {}; a letter from \
                 another script can look just like the one meant: retype the address in one \
                 script",
                odd_letters(part)
            ));
        }
    }
    if let Some(problem) = top_level_domain(address.domain()) {
        problems.push(format!(
            "email address {written:?} has no top-level domain: {problem}"
        ));
    }
    problems
}

/// Whether two addresses name the same mailbox. Case-insensitively: a local
/// part may in theory tell case apart, but no mail system in use makes
/// `Ann@example.com` and `ann@example.com` two people.
pub(super) fn same(a: &lettre::Address, b: &lettre::Address) -> bool {
    a.to_string().to_lowercase() == b.to_string().to_lowercase()
}

/// The UTS #39 skeleton: two addresses with the same skeleton look alike
/// (`I` and `l`, `rn` and `m`, Cyrillic `а` and Latin `a`).
pub(super) fn skeleton(address: &lettre::Address) -> String {
    unicode_security::skeleton(address.as_ref()).collect()
}

/// Characters no reader sees for what they are: invisible ones (a zero-width
/// space) and compatibility variants (a fullwidth `ａ`), with what they are.
fn hidden_characters(text: &str) -> Vec<(&'static str, char)> {
    let mut found: Vec<(&'static str, char)> = Vec::new();
    for character in text.chars().filter(|c| !c.is_ascii()) {
        let what = match character.identifier_type() {
            Some(IdentifierType::Default_Ignorable) => "an invisible character",
            Some(IdentifierType::Not_NFKC) => "a variant of another character",
            _ => continue,
        };
        if !found.iter().any(|(_, seen)| *seen == character) {
            found.push((what, character));
        }
    }
    found
}

/// Names the letters of a mixed-script part that share no script with the
/// one most of its letters are written in, e.g. `U+0430 (Cyrillic) among
/// Latin letters`.
fn odd_letters(part: &str) -> String {
    let letters: Vec<(char, AugmentedScriptSet)> = part
        .chars()
        .map(|c| (c, AugmentedScriptSet::for_char(c)))
        // Digits, hyphens and combining marks belong to every script.
        .filter(|(_, scripts)| !scripts.is_all())
        .collect();
    let overlap = |a: &AugmentedScriptSet, b: &AugmentedScriptSet| {
        let mut both = *a;
        both.intersect_with(*b);
        !both.is_empty()
    };
    let main = letters.iter().max_by_key(|(_, candidate)| {
        letters
            .iter()
            .filter(|(_, scripts)| overlap(candidate, scripts))
            .count()
    });
    let Some((_, main)) = main else {
        return "its letters share no script".to_owned();
    };
    let mut odd: Vec<String> = Vec::new();
    for (character, scripts) in &letters {
        if overlap(main, scripts) {
            continue;
        }
        let named = format!(
            "U+{:04X} ({})",
            u32::from(*character),
            script_names(scripts)
        );
        if !odd.contains(&named) {
            odd.push(named);
        }
    }
    if odd.is_empty() {
        return "its letters share no script".to_owned();
    }
    format!("{} among {} letters", odd.join(", "), script_names(main))
}

fn script_names(scripts: &AugmentedScriptSet) -> String {
    let names: Vec<&str> = scripts
        .base
        .iter()
        .map(|script| script.full_name())
        .collect();
    names.join("/")
}

/// Mail to a name without a top-level domain (`localhost`, `example`, an
/// intranet host) or to an IP address only reaches someone from inside one
/// network, and not on the day it changes. A top-level domain is taken to be
/// two letters or more, in any script for the internationalised ones, or the
/// ASCII form of one (`xn--p1ai`): none has a digit, so `example.c0m1` is a typo.
fn top_level_domain(domain: &str) -> Option<String> {
    const IN_FULL: &str = "write its domain in full, such as \"example.com\"";
    let labels: Vec<&str> = domain.split('.').collect();
    let last = match labels.as_slice() {
        [_, .., last] if !domain.starts_with('[') => *last,
        _ => {
            return Some(format!(
                "{IN_FULL}, so that mail can reach it from any server"
            ));
        }
    };
    let letters = last.chars().count() >= 2 && last.chars().all(char::is_alphabetic);
    if letters || last.to_ascii_lowercase().starts_with("xn--") {
        return None;
    }
    Some(format!(
        "{last:?} is not one, as top-level domains are two letters or more; {IN_FULL}"
    ))
}
