//! What a reply's own words ask for: the first word of the text above the
//! quoted history, in English or French, read case-insensitively and with
//! or without accents (phones drop them):
//!
//! | command | words | after the word |
//! | --- | --- | --- |
//! | acknowledge | `OK`, `OKAY`, `ACK`, `REÇU`, `BIEN REÇU` | free text, kept in the reply |
//! | done | `DONE`, `FAIT`, `TERMINÉ` | an optional note |
//! | skip | `SKIP`, `PASSER`, `IGNORER` | the reason, required |
//! | away | `AWAY`, `ABSENT`, `ABSENTE` | free text; chase the deputies now |
//!
//! Any other text is a note from its sender and changes nothing.
//! `PASSER` ("pass over") and `IGNORER` are the French a department head
//! uses for an item that does not apply; `SAUTER` was left out, as slang.

pub use crate::domain::reply::Command;
pub use crate::domain::text::fold;
use crate::domain::text::is_combining_mark;

/// Why a reply's words are no command; the confirmation mail says so.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    #[error("a skip needs its reason after the word, e.g. \"SKIP no customer data involved\"")]
    SkipWithoutReason,
    #[error("the reply has no text of its own above the quoted message")]
    Empty,
}

/// The documented words, folded (see [`fold`]), for each command.
pub const ACKNOWLEDGE_WORDS: &[&str] = &["ok", "okay", "ack", "recu", "bien recu"];
pub const DONE_WORDS: &[&str] = &["done", "fait", "termine"];
pub const SKIP_WORDS: &[&str] = &["skip", "passer", "ignorer"];
pub const AWAY_WORDS: &[&str] = &["away", "absent", "absente"];

/// Reads the command in `own_text`, the reply's words without quoted
/// history or signature (see [`own_text`]).
pub fn read_command(own_text: &str) -> Result<Command, CommandError> {
    let text = own_text.trim();
    if text.is_empty() {
        return Err(CommandError::Empty);
    }
    let (word, rest) = first_word(text);
    let (word, rest) = match (fold(word).as_str(), first_word(rest)) {
        // Two words: "bien reçu" acknowledges; "bien" alone is prose.
        ("bien", (second, after)) if fold(second) == "recu" => ("bien recu".to_owned(), after),
        (folded, _) => (folded.to_owned(), rest),
    };
    let rest = rest
        .trim_start_matches(|c: char| c.is_whitespace() || is_separator(c))
        .trim_end();
    let word = word.as_str();
    Ok(if ACKNOWLEDGE_WORDS.contains(&word) {
        Command::Acknowledge
    } else if DONE_WORDS.contains(&word) {
        Command::Done {
            note: (!rest.is_empty()).then(|| rest.to_owned()),
        }
    } else if SKIP_WORDS.contains(&word) {
        if rest.is_empty() {
            return Err(CommandError::SkipWithoutReason);
        }
        Command::Skip {
            reason: rest.to_owned(),
        }
    } else if AWAY_WORDS.contains(&word) {
        Command::Away
    } else {
        Command::Note {
            text: text.to_owned(),
        }
    })
}

/// Punctuation that may follow a command word: "OK, on it", "DONE: sent".
fn is_separator(c: char) -> bool {
    matches!(
        c,
        ',' | '.' | ';' | ':' | '!' | '?' | '-' | '–' | '—' | '(' | ')'
    )
}

/// The leading run of letters and digits (combining accents included) after
/// any blank space, and what follows it.
fn first_word(text: &str) -> (&str, &str) {
    let text = text.trim_start();
    let end = text
        .char_indices()
        .find(|(_, c)| !(c.is_alphanumeric() || is_combining_mark(*c)))
        .map_or(text.len(), |(at, _)| at);
    text.split_at(end)
}

/// The reply's own words: the text before the first line of quoted history,
/// signature or client footer, after any history quoted above it (for those
/// who answer below the quote). Recognised: `>` quotes; "On ... wrote:" and
/// "Le ... a écrit :" (also wrapped over two lines); "-----Original
/// Message-----" and its French and forwarding kin; Outlook's header block
/// ("From:"/"De :" then "Sent:"/"Envoyé :"/"Date :") and its underscore
/// rule; the `-- ` signature separator; "Sent from my iPhone",
/// "Envoyé de mon iPhone", "Get Outlook for iOS" and the like.
pub fn own_text(body: &str) -> String {
    let lines: Vec<&str> = body.lines().collect();
    let mut own: Vec<&str> = Vec::new();
    let mut at = 0;
    while let Some(line) = lines.get(at) {
        let ends_history = match stop_at(&lines, at) {
            Some(Stop::Quote) => {
                if own.iter().all(|l| l.trim().is_empty()) {
                    // Quoted history above the answer: skip it.
                    own.clear();
                    at += 1;
                    continue;
                }
                true
            }
            Some(Stop::Attribution(width)) => {
                let quote_follows = lines
                    .get(at + width..)
                    .and_then(|after| after.iter().find(|l| !l.trim().is_empty()))
                    .is_some_and(|l| l.trim_start().starts_with('>'));
                if quote_follows && own.iter().all(|l| l.trim().is_empty()) {
                    own.clear();
                    at += width;
                    continue;
                }
                true
            }
            Some(Stop::History) => true,
            None => false,
        };
        if ends_history {
            break;
        }
        own.push(line);
        at += 1;
    }
    own.join("\n").trim().to_owned()
}

/// What ends a reply's own words.
enum Stop {
    Quote,
    /// An "On ... wrote:" line, over this many lines.
    Attribution(usize),
    /// A history header, a signature or a footer: nothing after is the reply.
    History,
}

fn stop_at(lines: &[&str], at: usize) -> Option<Stop> {
    let line = lines.get(at)?;
    if line.trim_start().starts_with('>') {
        return Some(Stop::Quote);
    }
    let folded = marker_text(line);
    if is_attribution(&folded) {
        return Some(Stop::Attribution(1));
    }
    if let Some(next) = lines.get(at + 1)
        && (folded.starts_with("on ") || folded.starts_with("le "))
        && is_attribution(&format!("{folded} {}", marker_text(next)))
    {
        return Some(Stop::Attribution(2));
    }
    let is_signature = line.trim_end() == "--";
    let is_rule = folded.len() >= 8 && folded.chars().all(|c| c == '_');
    let history = is_signature
        || is_rule
        || is_original_message_rule(&folded)
        || is_footer(&folded)
        || is_outlook_header(&folded, lines.get(at + 1..).unwrap_or_default());
    history.then_some(Stop::History)
}

/// A line folded for the markers: leading space and HTML-bold stars gone.
fn marker_text(line: &str) -> String {
    fold(
        line.trim_start_matches(|c: char| c.is_whitespace() || c == '*')
            .trim_end(),
    )
}

fn is_attribution(folded: &str) -> bool {
    (folded.starts_with("on ") && folded.ends_with("wrote:"))
        || (folded.starts_with("le ")
            && (folded.ends_with("a ecrit :") || folded.ends_with("a ecrit:")))
}

fn is_original_message_rule(folded: &str) -> bool {
    (folded.starts_with("---") || folded.starts_with("___"))
        && [
            "original message",
            "message d'origine",
            "message original",
            "forwarded message",
            "message transfere",
        ]
        .iter()
        .any(|marker| folded.contains(marker))
}

fn is_footer(folded: &str) -> bool {
    [
        "sent from my ",
        "sent from outlook",
        "sent from mail for ",
        "sent from yahoo mail",
        "get outlook for ",
        "envoye de mon ",
        "envoye depuis mon ",
        "envoye a partir de ",
        "obtenir outlook pour ",
        "telecharger outlook pour ",
    ]
    .iter()
    .any(|footer| folded.starts_with(footer))
}

/// Outlook quotes history under a block of headers with no rule above it:
/// "From:" (or "De :") followed closely by "Sent:", "Envoyé :" or "Date:".
fn is_outlook_header(folded: &str, following: &[&str]) -> bool {
    let field = |text: &str, names: &[&str]| {
        names.iter().any(|name| {
            text.strip_prefix(name)
                .is_some_and(|rest| rest.trim_start().starts_with(':'))
        })
    };
    field(folded, &["from", "de"])
        && following
            .iter()
            .take(4)
            .any(|line| field(&marker_text(line), &["sent", "date", "envoye", "envoye le"]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn command(text: &str) -> Result<Command, CommandError> {
        read_command(text)
    }

    #[test]
    fn acknowledgements_in_english_and_french() {
        for text in [
            "OK",
            "ok",
            "Ok.",
            "OK, on it",
            "okay!",
            "ACK",
            "Reçu",
            "REÇU, je m'en occupe",
            "recu",
            "Bien reçu.",
            "Bien  reçu",
            "bien\u{a0}reçu",
            "bien recu, merci",
            // Reçu as an iPhone may type it: c and a combining cedilla.
            "Rec\u{327}u",
            "  \n\n OK",
        ] {
            assert_eq!(command(text), Ok(Command::Acknowledge), "{text:?}");
        }
    }

    #[test]
    fn done_with_or_without_a_note() {
        assert_eq!(command("DONE"), Ok(Command::Done { note: None }));
        assert_eq!(command("Fait."), Ok(Command::Done { note: None }));
        assert_eq!(
            command("DONE: holding statement posted at 14:05"),
            Ok(Command::Done {
                note: Some("holding statement posted at 14:05".into())
            })
        );
        assert_eq!(
            command("Fait - communiqué envoyé à l'AFP\nÀ suivre demain."),
            Ok(Command::Done {
                note: Some("communiqué envoyé à l'AFP\nÀ suivre demain.".into())
            })
        );
        assert_eq!(
            command("terminé, standard prévenu"),
            Ok(Command::Done {
                note: Some("standard prévenu".into())
            })
        );
    }

    #[test]
    fn skip_needs_its_reason() {
        assert_eq!(
            command("SKIP no customer data involved"),
            Ok(Command::Skip {
                reason: "no customer data involved".into()
            })
        );
        assert_eq!(
            command("Passer : pas de données clients"),
            Ok(Command::Skip {
                reason: "pas de données clients".into()
            })
        );
        assert_eq!(
            command("IGNORER\nnous ne sommes pas concernés"),
            Ok(Command::Skip {
                reason: "nous ne sommes pas concernés".into()
            })
        );
        for text in ["SKIP", "skip.", "Passer :", "ignorer  \n  "] {
            assert_eq!(
                command(text),
                Err(CommandError::SkipWithoutReason),
                "{text:?}"
            );
        }
    }

    #[test]
    fn away_in_english_and_french() {
        for text in [
            "AWAY",
            "Away until Monday",
            "ABSENT",
            "absente jusqu'à lundi",
        ] {
            assert_eq!(command(text), Ok(Command::Away), "{text:?}");
        }
    }

    #[test]
    fn anything_else_is_a_note_and_does_not_act() {
        for text in [
            "Thanks, who is the press contact?",
            "OKAYISH",
            "OK2",
            "Bien sûr",
            "Not OK",
            "Skipping lunch, on it",
            "Absolutely",
            "Faites vite",
        ] {
            let read = command(text);
            assert_eq!(read, Ok(Command::Note { text: text.into() }), "{text:?}");
            assert!(!read.is_ok_and(|c| c.acts()));
        }
        assert_eq!(command(" \n "), Err(CommandError::Empty));
    }

    #[test]
    fn quoted_history_below_the_answer_is_dropped() {
        let gmail = "OK, on it\n\nOn Wed, 2 Dec 2026 at 13:05, Tocsin <crisis+k1@reply.example.org> wrote:\n> Incident: Twitter account hijacked\n> Please acknowledge.\n";
        assert_eq!(own_text(gmail), "OK, on it");
        let wrapped = "Done\n\nOn Wed, 2 Dec 2026 at 13:05, Tocsin <\ncrisis+k1@reply.example.org> wrote:\n\n> Incident\n";
        assert_eq!(own_text(wrapped), "Done");
        let apple_fr = "Reçu\n\nEnvoyé de mon iPhone\n\n> Le 2 déc. 2026 à 13:05, Tocsin <t@example.org> a\u{a0}écrit\u{a0}:\n> \n> Incident\n";
        assert_eq!(own_text(apple_fr), "Reçu");
        let gmail_fr =
            "FAIT\n\nLe mer. 2 déc. 2026 à 13:05, Tocsin <t@example.org> a écrit :\n\n> Incident\n";
        assert_eq!(own_text(gmail_fr), "FAIT");
    }

    #[test]
    fn outlook_history_blocks_are_dropped() {
        let french = "Passer : hors périmètre RH\r\n\r\nCordialement\r\nMarie\r\n\r\nDe : Tocsin <crisis@example.org>\r\nEnvoyé : mercredi 2 décembre 2026 13:05\r\nÀ : Marie Durand <marie@example.org>\r\nObjet : [Tocsin] Incident\r\n\r\nIncident...\r\n";
        assert_eq!(
            own_text(french),
            "Passer : hors périmètre RH\n\nCordialement\nMarie"
        );
        let english = "ACK\n\n-----Original Message-----\nFrom: Tocsin\nSent: Wednesday\n";
        assert_eq!(own_text(english), "ACK");
        let mobile = "OK\n\nGet Outlook for iOS\n________________________________\nFrom: Tocsin\n";
        assert_eq!(own_text(mobile), "OK");
        let rule_only = "OK\n________________________________\nDe : Tocsin\nDate : mer.\n";
        assert_eq!(own_text(rule_only), "OK");
        let bold = "Fait\n\n**De :** Tocsin\n**Envoyé :** mercredi\n";
        assert_eq!(own_text(bold), "Fait");
    }

    #[test]
    fn signatures_and_footers_are_dropped() {
        assert_eq!(own_text("AWAY\n-- \nJane Doe\nHead of PR"), "AWAY");
        assert_eq!(own_text("Done\nSent from my iPhone"), "Done");
        assert_eq!(own_text("Fait\n\nEnvoyé depuis mon Galaxy"), "Fait");
    }

    #[test]
    fn an_answer_below_the_quote_is_read() {
        let bottom = "On Wed, 2 Dec 2026, Tocsin wrote:\n> Incident\n> Please acknowledge.\n\nOK\n\n-- \nJane";
        assert_eq!(own_text(bottom), "OK");
        assert_eq!(own_text("> quoted only\n> more\n"), "");
    }

    #[test]
    fn lines_that_merely_look_like_markers_are_kept() {
        // "From" without a header block after it is prose.
        let text = "Note: from: the legal team, we wait\nfor the regulator's call.";
        assert_eq!(own_text(text), text);
        assert_eq!(own_text("On it, wrote the draft"), "On it, wrote the draft");
    }
}
