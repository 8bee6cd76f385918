//! Text for people in request bodies, as sent: parsed by the domain's rule
//! ([`crate::domain::text`]), and described to clients by a schema that says
//! that rule.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};

use super::ApiError;
use crate::domain::{LINE_MAX, Line, PROSE_MAX, Prose, Text, TextError};

/// The domain's text rule, as a refusal naming the field.
pub fn invalid(field: &str, error: TextError) -> ApiError {
    ApiError::invalid(field, format!("{field} {error}"))
}

/// Parses a text field of a request.
pub fn read<const MAX: usize>(field: &str, value: &str) -> Result<Text<MAX>, ApiError> {
    Text::parse(value).map_err(|error| invalid(field, error))
}

/// What [`Text::parse`] accepts, as a JSON Schema `pattern`: only allowed
/// characters, at least one of them neither white space nor a control.
/// Written with literal characters rather than escapes (`\s` differs between
/// regex dialects); the white space is Rust's, which `trim` removes.
pub const TEXT_PATTERN: &str = concat!(
    "^[^\u{0}-\u{8}\u{b}\u{c}\u{e}-\u{1f}\u{7f}-\u{9f}]*",
    "[^\u{0}-\u{20}\u{7f}-\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}]",
    "[^\u{0}-\u{8}\u{b}\u{c}\u{e}-\u{1f}\u{7f}-\u{9f}]*$",
);

pub(super) fn schema(max: usize, description: &str) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(max))
        .pattern(Some(TEXT_PATTERN))
        .description(Some(format!(
            "{description}: 1 to {max} characters, not blank, no control \
             characters but line breaks and tabs; stored trimmed."
        )))
        .into()
}

/// A line of text as sent: a title, a name, a channel.
#[derive(Serialize, Deserialize)]
#[serde(transparent)]
pub struct LineInput(String);

impl LineInput {
    pub fn read(&self, field: &str) -> Result<Line, ApiError> {
        read(field, &self.0)
    }

    /// As sent, for a use case that parses it itself.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl utoipa::PartialSchema for LineInput {
    fn schema() -> RefOr<Schema> {
        schema(LINE_MAX, "A line of text")
    }
}

impl utoipa::ToSchema for LineInput {
    fn name() -> Cow<'static, str> {
        "Line".into()
    }
}

/// Text as sent: a summary, a note, a reason, a statement.
#[derive(Serialize, Deserialize)]
#[serde(transparent)]
pub struct ProseInput(String);

impl ProseInput {
    pub fn read(&self, field: &str) -> Result<Prose, ApiError> {
        read(field, &self.0)
    }

    /// As sent, for a use case that parses it itself.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl utoipa::PartialSchema for ProseInput {
    fn schema() -> RefOr<Schema> {
        schema(PROSE_MAX, "Text")
    }
}

impl utoipa::ToSchema for ProseInput {
    fn name() -> Cow<'static, str> {
        "Prose".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Checks that the documented schema and the server agree on a value.
    struct Agree {
        documented: jsonschema::Validator,
    }

    impl Agree {
        fn new() -> Agree {
            let schema = serde_json::to_value(<LineInput as utoipa::PartialSchema>::schema())
                .expect("the schema serialises");
            let documented = jsonschema::validator_for(&schema).expect("the schema compiles");
            Agree { documented }
        }

        fn on(&self, value: &str) {
            let documented = self.documented.is_valid(&json!(value));
            let accepted = Line::parse(value).is_ok();
            assert_eq!(
                documented, accepted,
                "{value:?}: documented {documented}, accepted {accepted}"
            );
        }
    }

    #[test]
    fn the_pattern_says_what_text_accepts_for_every_character() {
        let agree = Agree::new();
        // Every character of the Basic Multilingual Plane and a few beyond,
        // alone, inside a word and at either end of one.
        for code in (0..=0xFFFF_u32).chain([0x1F600, 0x10FFFF]) {
            let Some(c) = char::from_u32(code) else {
                continue;
            };
            for value in [
                format!("{c}"),
                format!("a{c}b"),
                format!("{c}a"),
                format!("a{c}"),
            ] {
                agree.on(&value);
            }
        }
    }

    #[test]
    fn the_length_counts_characters_as_sent() {
        let agree = Agree::new();
        for value in [
            "x".repeat(LINE_MAX),
            "x".repeat(LINE_MAX + 1),
            format!(" {}", "x".repeat(LINE_MAX - 1)),
            format!(" {} ", "x".repeat(LINE_MAX - 1)),
            "é".repeat(LINE_MAX),
            "😀".repeat(LINE_MAX + 1),
            String::new(),
            " \t\n".into(),
        ] {
            agree.on(&value);
        }
        assert!(Line::parse(&" x ".repeat(3)).is_ok_and(|v| v.as_str() == "x  x  x"));
    }
}
