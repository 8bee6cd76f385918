//! Text people write: parsed once, at whichever front door it arrives (the
//! API, the console, a link page), into a type that cannot hold anything
//! else. The rule: at most so many characters as sent, no control characters
//! but line breaks and tabs, not blank; kept trimmed.

use std::fmt;

/// Characters in a [`Line`].
pub const LINE_MAX: usize = 200;
/// Characters in [`Prose`].
pub const PROSE_MAX: usize = 10_000;

/// Why a text was refused; the front door names the field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    #[error("is longer than {0} characters")]
    TooLong(usize),
    #[error("contains control characters")]
    ControlCharacters,
    #[error("must not be empty")]
    Blank,
}

/// Text of at most `MAX` characters: see [`Line`] and [`Prose`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Text<const MAX: usize>(String);

/// A line: a title, a name, a channel.
pub type Line = Text<LINE_MAX>;

/// Prose: a summary, a note, a reason, a statement.
pub type Prose = Text<PROSE_MAX>;

impl<const MAX: usize> Text<MAX> {
    /// Every check reads the text as sent, so that a schema's `maxLength`
    /// and pattern can say the whole rule.
    pub fn parse(value: &str) -> Result<Self, TextError> {
        if value.chars().count() > MAX {
            return Err(TextError::TooLong(MAX));
        }
        if value
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
        {
            return Err(TextError::ControlCharacters);
        }
        let value = value.trim();
        if value.is_empty() {
            return Err(TextError::Blank);
        }
        Ok(Text(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl<const MAX: usize> fmt::Display for Text<MAX> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Combining accents, as a decomposed `é` carries them.
pub fn is_combining_mark(c: char) -> bool {
    matches!(c, '\u{0300}'..='\u{036f}')
}

/// Lower case without French accents, non-breaking spaces as spaces: what
/// reply commands and signal matches are compared in (phones and
/// social-listening tools drop or keep accents at random).
pub fn fold(text: &str) -> String {
    text.chars()
        .filter(|c| !is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .map(|c| match c {
            'à' | 'â' | 'ä' => 'a',
            'ç' => 'c',
            'é' | 'è' | 'ê' | 'ë' => 'e',
            'î' | 'ï' => 'i',
            'ô' | 'ö' => 'o',
            'ù' | 'û' | 'ü' => 'u',
            '\u{a0}' | '\u{202f}' => ' ',
            other => other,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rule_reads_the_text_as_sent_and_keeps_it_trimmed() {
        assert_eq!(Line::parse("  Storm \n").unwrap().as_str(), "Storm");
        assert_eq!(
            Line::parse(&"x".repeat(LINE_MAX)).unwrap().as_str().len(),
            LINE_MAX
        );
        assert_eq!(
            Line::parse(&format!(" {}", "x".repeat(LINE_MAX))),
            Err(TextError::TooLong(LINE_MAX)),
            "the spaces count: they were sent"
        );
        assert_eq!(
            Line::parse(&"é".repeat(LINE_MAX)).map(|l| l.as_str().chars().count()),
            Ok(LINE_MAX)
        );
        assert_eq!(Prose::parse(" \t\n"), Err(TextError::Blank));
        assert_eq!(
            Prose::parse("a\u{1b}[31m"),
            Err(TextError::ControlCharacters)
        );
        assert_eq!(
            Prose::parse("line one\r\n\tline two").unwrap().as_str(),
            "line one\r\n\tline two"
        );
    }
}
