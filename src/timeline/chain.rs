//! The hash chain: each event's SHA-256 covers its content and the previous
//! event's hash, so editing, removing, inserting or reordering an event
//! breaks every later link.
//!
//! The byte string hashed is the RFC 8785 (JSON Canonicalization Scheme)
//! form of one object, described in `docs/timeline-format.md` so anyone can
//! re-implement it.

use chrono::{DateTime, SubsecRound, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// Version of the canonical form, hashed as `"v": 1`.
pub const CANONICAL_VERSION: u32 = 1;

/// One timeline event with its place in the chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
// Fields outside the hash must not ride along unnoticed in an export.
#[serde(deny_unknown_fields)]
pub struct ChainedEvent {
    pub incident_id: Uuid,
    /// 1, 2, 3, ... without gaps, per incident.
    pub seq: i64,
    /// Serialised exactly as it is hashed: `2026-11-26T09:10:00.123456Z`.
    #[serde(with = "timestamp")]
    pub at: DateTime<Utc>,
    pub actor: String,
    pub kind: String,
    /// Read with every object's keys unique (see [`unique_keys`]).
    #[serde(deserialize_with = "unique_keys::deserialize")]
    pub data: serde_json::Value,
    /// The previous event's `hash`, or [`genesis_hash`] for seq 1.
    pub prev_hash: String,
    /// Lowercase hex SHA-256 of [`canonical_bytes`].
    pub hash: String,
}

/// Where a chain ends: what a signature covers. An empty chain's head is
/// seq 0 with the genesis hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ChainHead {
    pub incident_id: Uuid,
    pub seq: i64,
    pub hash: String,
}

impl ChainHead {
    /// The head of an incident with no events yet.
    pub fn genesis(incident_id: Uuid) -> ChainHead {
        ChainHead {
            incident_id,
            seq: 0,
            hash: genesis_hash(incident_id),
        }
    }

    /// Seals the event that follows this head (seq + 1, linked to its hash).
    pub fn seal_next(
        &self,
        at: DateTime<Utc>,
        actor: impl Into<String>,
        kind: impl Into<String>,
        data: serde_json::Value,
    ) -> ChainedEvent {
        ChainedEvent::seal(
            self.incident_id,
            self.seq + 1,
            at,
            actor,
            kind,
            data,
            self.hash.clone(),
        )
    }
}

impl From<&ChainedEvent> for ChainHead {
    fn from(event: &ChainedEvent) -> Self {
        ChainHead {
            incident_id: event.incident_id,
            seq: event.seq,
            hash: event.hash.clone(),
        }
    }
}

impl ChainedEvent {
    /// Builds an event and computes its hash. `at` is truncated to whole
    /// microseconds, the precision that is hashed and stored.
    pub fn seal(
        incident_id: Uuid,
        seq: i64,
        at: DateTime<Utc>,
        actor: impl Into<String>,
        kind: impl Into<String>,
        data: serde_json::Value,
        prev_hash: impl Into<String>,
    ) -> ChainedEvent {
        let at = at.trunc_subsecs(6);
        let actor = actor.into();
        let kind = kind.into();
        let prev_hash = prev_hash.into();
        let hash = event_hash(incident_id, seq, at, &actor, &kind, &data, &prev_hash);
        ChainedEvent {
            incident_id,
            seq,
            at,
            actor,
            kind,
            data,
            prev_hash,
            hash,
        }
    }

    /// The hash this event's content calls for; differs from `self.hash`
    /// when the event was edited.
    pub fn recompute_hash(&self) -> String {
        event_hash(
            self.incident_id,
            self.seq,
            self.at,
            &self.actor,
            &self.kind,
            &self.data,
            &self.prev_hash,
        )
    }
}

/// The `prev_hash` of seq 1: lowercase hex SHA-256 of the ASCII string
/// `tocsin-genesis:v1:{incident_id}` (hyphenated lowercase uuid), so the
/// chain is bound to its incident from the first link.
pub fn genesis_hash(incident_id: Uuid) -> String {
    sha256_hex(format!("tocsin-genesis:v1:{}", incident_id.hyphenated()).as_bytes())
}

/// The timestamp as hashed: RFC 3339 UTC, exactly 6 fractional digits, `Z`.
pub fn format_timestamp(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// The RFC 8785 canonical JSON of
/// `{"actor","at","data","incident_id","kind","prev_hash","seq","v":1}`.
pub fn canonical_bytes(
    incident_id: Uuid,
    seq: i64,
    at: DateTime<Utc>,
    actor: &str,
    kind: &str,
    data: &serde_json::Value,
    prev_hash: &str,
) -> Vec<u8> {
    // Written field by field, already in RFC 8785 key order (the keys are
    // ASCII, so UTF-16 order is byte order), to avoid cloning `data`; a test
    // checks this against the generic canonicaliser.
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(b"{\"actor\":");
    write_string(&mut out, actor);
    out.extend_from_slice(b",\"at\":");
    write_string(&mut out, &format_timestamp(at));
    out.extend_from_slice(b",\"data\":");
    write_canonical(&mut out, data);
    out.extend_from_slice(b",\"incident_id\":");
    write_string(&mut out, &incident_id.hyphenated().to_string());
    out.extend_from_slice(b",\"kind\":");
    write_string(&mut out, kind);
    out.extend_from_slice(b",\"prev_hash\":");
    write_string(&mut out, prev_hash);
    out.extend_from_slice(b",\"seq\":");
    // i64 goes through f64 like any JCS number; real seqs are far below 2^53.
    write_number(&mut out, seq as f64);
    out.extend_from_slice(b",\"v\":");
    write_number(&mut out, f64::from(CANONICAL_VERSION));
    out.push(b'}');
    out
}

/// Lowercase hex SHA-256 of [`canonical_bytes`].
pub fn event_hash(
    incident_id: Uuid,
    seq: i64,
    at: DateTime<Utc>,
    actor: &str,
    kind: &str,
    data: &serde_json::Value,
    prev_hash: &str,
) -> String {
    sha256_hex(&canonical_bytes(
        incident_id,
        seq,
        at,
        actor,
        kind,
        data,
        prev_hash,
    ))
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

// RFC 8785 is implemented here rather than taken from a crate: the two
// candidates (serde_json_canonicalizer, serde_jcs) are small single-maintainer
// crates, and the hashed bytes must never change under a dependency upgrade
// for as long as timelines are kept. The scheme is short, serde_json's Ryu
// gives the shortest round-trip digits it needs, and the tests run the RFC's
// own examples.

/// The RFC 8785 canonical form of any JSON value. Numbers are IEEE-754
/// doubles as the RFC requires: integers beyond ±2^53 lose precision, so
/// such values belong in strings.
pub fn canonical_json(value: &serde_json::Value) -> Vec<u8> {
    let mut out = Vec::new();
    write_canonical(&mut out, value);
    out
}

fn write_canonical(out: &mut Vec<u8>, value: &serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => match n.as_f64() {
            Some(f) => write_number(out, f),
            // Unreachable without serde_json's arbitrary_precision; keep the text.
            None => out.extend_from_slice(n.to_string().as_bytes()),
        },
        Value::String(s) => write_string(out, s),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(out, item);
            }
            out.push(b']');
        }
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            // RFC 8785 3.2.3: compare keys as UTF-16 code units, not bytes.
            entries.sort_by(|(a, _), (b, _)| a.encode_utf16().cmp(b.encode_utf16()));
            out.push(b'{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_string(out, key);
                out.push(b':');
                write_canonical(out, item);
            }
            out.push(b'}');
        }
    }
}

/// RFC 8785 3.2.2.2: `"` and `\` escaped, U+0008/9/A/C/D as `\b \t \n \f \r`,
/// other controls below U+0020 as `\u00xx` (lowercase hex), all else as is.
fn write_string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    for c in s.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\u{8}' => out.extend_from_slice(b"\\b"),
            '\t' => out.extend_from_slice(b"\\t"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\u{c}' => out.extend_from_slice(b"\\f"),
            '\r' => out.extend_from_slice(b"\\r"),
            c if (c as u32) < 0x20 => {
                out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes());
            }
            c => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    out.push(b'"');
}

/// ECMAScript `Number.prototype.toString()` for finite doubles (RFC 8785
/// 3.2.2.3): shortest round-trip digits, plain notation for exponents in
/// [-6, 21), otherwise `d.ddde±n`; -0 prints as 0.
fn write_number(out: &mut Vec<u8>, value: f64) {
    if value == 0.0 || !value.is_finite() {
        // serde_json values are always finite; zero covers -0.
        out.push(b'0');
        return;
    }
    if value < 0.0 {
        out.push(b'-');
    }
    let (digits, n) = shortest_digits(value.abs());
    let k = digits.len() as i32;
    if k <= n && n <= 21 {
        out.extend_from_slice(&digits);
        out.extend(std::iter::repeat_n(b'0', (n - k) as usize));
    } else if 0 < n && n <= 21 {
        out.extend_from_slice(&digits[..n as usize]);
        out.push(b'.');
        out.extend_from_slice(&digits[n as usize..]);
    } else if -6 < n && n <= 0 {
        out.extend_from_slice(b"0.");
        out.extend(std::iter::repeat_n(b'0', (-n) as usize));
        out.extend_from_slice(&digits);
    } else {
        let (first, rest) = digits.split_first().unwrap_or((&b'0', &[]));
        out.push(*first);
        if !rest.is_empty() {
            out.push(b'.');
            out.extend_from_slice(rest);
        }
        out.push(b'e');
        out.push(if n > 0 { b'+' } else { b'-' });
        out.extend_from_slice((n - 1).abs().to_string().as_bytes());
    }
}

/// The shortest digits `d1..dk` that read back as `value` (> 0), closest
/// to it, ties to even, and ECMAScript's `n`: value = 0.d1..dk × 10^n.
///
/// serde_json prints doubles with Ryu, which makes exactly this choice
/// (std's `{:e}` does not round ties to even: RFC 8785's 1424953923781206.2
/// test catches that); its layout varies, so the text is re-read here.
fn shortest_digits(value: f64) -> (Vec<u8>, i32) {
    let text =
        serde_json::Number::from_f64(value).map_or_else(|| "0".to_owned(), |n| n.to_string());
    let (mantissa, exponent) = match text.split_once(['e', 'E']) {
        Some((m, e)) => (m, e.parse::<i32>().unwrap_or(0)),
        None => (text.as_str(), 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let mut n = int.len() as i32 + exponent;
    let mut digits: Vec<u8> = int.bytes().chain(frac.bytes()).collect();
    let leading = digits.iter().take_while(|d| **d == b'0').count();
    digits.drain(..leading);
    n -= leading as i32;
    while digits.len() > 1 && digits.last() == Some(&b'0') {
        digits.pop();
    }
    if digits.is_empty() {
        digits.push(b'0');
    }
    (digits, n)
}

/// Reads event data refusing any object that names a key twice. A plain
/// `Value` keeps the last one, which is what gets hashed, while another
/// reader of the same file may show the first: `{"text":"forged",
/// "text":"original"}` would verify as the original yet read as forged.
/// RFC 8785 only canonicalises I-JSON, which forbids duplicate keys.
pub(crate) mod unique_keys {
    use std::fmt;

    use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
    use serde_json::{Map, Value};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Value, D::Error> {
        d.deserialize_any(UniqueKeys)
    }

    struct UniqueKeys;

    /// One value, for the recursion into arrays and objects.
    struct Nested(Value);

    impl<'de> de::Deserialize<'de> for Nested {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_any(UniqueKeys).map(Nested)
        }
    }

    impl<'de> Visitor<'de> for UniqueKeys {
        type Value = Value;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("any JSON value, with no key twice in an object")
        }

        fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
            Ok(Value::Bool(v))
        }

        fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
            Ok(Value::from(v))
        }

        fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
            Ok(Value::from(v))
        }

        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
            serde_json::Number::from_f64(v)
                .map(Value::Number)
                .ok_or_else(|| E::custom("a number must be finite"))
        }

        fn visit_str<E>(self, v: &str) -> Result<Value, E> {
            Ok(Value::String(v.to_owned()))
        }

        fn visit_string<E>(self, v: String) -> Result<Value, E> {
            Ok(Value::String(v))
        }

        fn visit_unit<E>(self) -> Result<Value, E> {
            Ok(Value::Null)
        }

        fn visit_none<E>(self) -> Result<Value, E> {
            Ok(Value::Null)
        }

        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
            d.deserialize_any(UniqueKeys)
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
            let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
            while let Some(Nested(item)) = seq.next_element()? {
                items.push(item);
            }
            Ok(Value::Array(items))
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
            let mut object = Map::new();
            while let Some(key) = map.next_key::<String>()? {
                let Nested(value) = map.next_value()?;
                if object.contains_key(&key) {
                    return Err(de::Error::custom(format_args!(
                        "key `{key}` appears twice in one object"
                    )));
                }
                object.insert(key, value);
            }
            Ok(Value::Object(object))
        }
    }
}

/// Serde for event timestamps in the hashed format; reads any RFC 3339
/// time that is a whole number of microseconds.
pub(crate) mod timestamp {
    use chrono::{DateTime, Timelike, Utc};
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(at: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format_timestamp(*at))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        let at = DateTime::parse_from_rfc3339(&text)
            .map(|at| at.with_timezone(&Utc))
            .map_err(D::Error::custom)?;
        // Only microseconds are hashed: a finer time would be shown as the
        // event's yet be covered by no hash.
        if !at.nanosecond().is_multiple_of(1000) {
            return Err(D::Error::custom(format_args!(
                "time {text:?} is finer than the microseconds that are hashed"
            )));
        }
        Ok(at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn canon(text: &str) -> String {
        let value: Value = serde_json::from_str(text).unwrap();
        String::from_utf8(canonical_json(&value)).unwrap()
    }

    fn num(bits: u64) -> String {
        let mut out = Vec::new();
        write_number(&mut out, f64::from_bits(bits));
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn rfc8785_number_examples() {
        // RFC 8785 appendix B, IEEE-754 bit patterns and their serialisation.
        let cases: &[(u64, &str)] = &[
            (0x0000000000000000, "0"),
            (0x8000000000000000, "0"),
            (0x0000000000000001, "5e-324"),
            (0x8000000000000001, "-5e-324"),
            (0x7fefffffffffffff, "1.7976931348623157e+308"),
            (0xffefffffffffffff, "-1.7976931348623157e+308"),
            (0x4340000000000000, "9007199254740992"),
            (0xc340000000000000, "-9007199254740992"),
            (0x4430000000000000, "295147905179352830000"),
            (0x44b52d02c7e14af5, "9.999999999999997e+22"),
            (0x44b52d02c7e14af6, "1e+23"),
            (0x44b52d02c7e14af7, "1.0000000000000001e+23"),
            (0x444b1ae4d6e2ef4e, "999999999999999700000"),
            (0x444b1ae4d6e2ef4f, "999999999999999900000"),
            (0x444b1ae4d6e2ef50, "1e+21"),
            (0x3eb0c6f7a0b5ed8c, "9.999999999999997e-7"),
            (0x3eb0c6f7a0b5ed8d, "0.000001"),
            (0x41b3de4355555553, "333333333.3333332"),
            (0x41b3de4355555554, "333333333.33333325"),
            (0x41b3de4355555555, "333333333.3333333"),
            (0x41b3de4355555556, "333333333.3333334"),
            (0x41b3de4355555557, "333333333.33333343"),
            (0xbecbf647612f3696, "-0.0000033333333333333333"),
            (0x43143ff3c1cb0959, "1424953923781206.2"),
        ];
        for (bits, expected) in cases {
            assert_eq!(num(*bits), *expected, "bits {bits:#018x}");
        }
    }

    #[test]
    fn numbers_from_json_text() {
        assert_eq!(
            canon("[1e21, 1e20, 0.000001, 1e-7, -0, -0.0, 4.50, 2e-3, 1E30, 100, -5]"),
            "[1e+21,100000000000000000000,0.000001,1e-7,0,0,4.5,0.002,1e+30,100,-5]"
        );
        // Integers go through doubles, as in ECMAScript.
        assert_eq!(canon("[9007199254740993]"), "[9007199254740992]");
        assert_eq!(canon("[18446744073709551615]"), "[18446744073709552000]");
    }

    #[test]
    fn rfc8785_values_example() {
        // RFC 8785 section 3.2.2 / cyberphone testdata values.json.
        let input = r#"{
          "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
          "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
          "literals": [null, true, false]
        }"#;
        let expected = r#"{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}"#;
        assert_eq!(canon(input), expected);
        // The RFC also gives the UTF-8 bytes in hex.
        let hex_bytes = "\
            7b 22 6c 69 74 65 72 61 6c 73 22 3a 5b 6e 75 6c 6c 2c 74 72 \
            75 65 2c 66 61 6c 73 65 5d 2c 22 6e 75 6d 62 65 72 73 22 3a \
            5b 33 33 33 33 33 33 33 33 33 2e 33 33 33 33 33 33 33 2c 31 \
            65 2b 33 30 2c 34 2e 35 2c 30 2e 30 30 32 2c 31 65 2d 32 37 \
            5d 2c 22 73 74 72 69 6e 67 22 3a 22 e2 82 ac 24 5c 75 30 30 \
            30 66 5c 6e 41 27 42 5c 22 5c 5c 5c 5c 5c 22 2f 22 7d"
            .replace(' ', "");
        assert_eq!(hex::encode(canon(input).as_bytes()), hex_bytes);
    }

    #[test]
    fn rfc8785_sorting_example() {
        // RFC 8785 section 3.2.3: keys ordered by UTF-16 code units, so the
        // emoji (a surrogate pair, 0xD83D...) sorts before U+FB33.
        let input = r#"{
          "\u20ac": "Euro Sign",
          "\r": "Carriage Return",
          "\ufb33": "Hebrew Letter Dalet With Dagesh",
          "1": "One",
          "\ud83d\ude00": "Emoji: Grinning Face",
          "\u0080": "Control",
          "\u00f6": "Latin Small Letter O With Diaeresis"
        }"#;
        let out = canon(input);
        let order = [
            "Carriage Return",
            "One",
            "Control",
            "Latin Small Letter O With Diaeresis",
            "Euro Sign",
            "Emoji: Grinning Face",
            "Hebrew Letter Dalet With Dagesh",
        ];
        let positions: Vec<usize> = order.iter().map(|v| out.find(v).unwrap()).collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{out}");
        assert!(out.starts_with("{\"\\r\":\"Carriage Return\",\"1\":\"One\""));
    }

    #[test]
    fn cyberphone_weird_example() {
        // cyberphone/json-canonicalization testdata weird.json, non-ASCII
        // keys and a raw DEL character kept as is.
        let input = r#"{
          "\u20ac": "Euro Sign",
          "1": "One",
          "\u0080": "Control\u007f",
          "\ud83d\ude02": "Smiley",
          "\u00f6": "Latin Small Letter O With Diaeresis",
          "\ufb33": "Hebrew Letter Dalet With Dagesh",
          "</script>": "Browser Challenge"
        }"#;
        let expected = "{\"1\":\"One\",\"</script>\":\"Browser Challenge\",\"\u{80}\":\"Control\u{7f}\",\"ö\":\"Latin Small Letter O With Diaeresis\",\"€\":\"Euro Sign\",\"😂\":\"Smiley\",\"\u{fb33}\":\"Hebrew Letter Dalet With Dagesh\"}";
        assert_eq!(canon(input), expected);
    }

    #[test]
    fn french_example_ignores_locale() {
        let input = r#"{"peach":"This sorting order","péché":"is wrong according to French","pêche":"but canonicalization MUST","sin":"ingnore locale"}"#;
        assert_eq!(canon(input), input);
    }

    #[test]
    fn control_characters_are_escaped_minimally() {
        assert_eq!(
            canon(r#"["\u0000\u001f\b\f\n\r\t\u007f\u2028/é"]"#),
            "[\"\\u0000\\u001f\\b\\f\\n\\r\\t\u{7f}\u{2028}/é\"]"
        );
    }

    fn at() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-26T09:10:00.123456Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn canonical_bytes_match_generic_canonicaliser() {
        let id = Uuid::parse_str("0191f3a4-1b2c-7d3e-8f40-a1b2c3d4e5f6").unwrap();
        let data = json!({"z": [1, 2.5, "é"], "a": {"b": null}, "n": "line\nbreak"});
        let object = json!({
            "incident_id": id.to_string(),
            "seq": 7,
            "at": "2026-11-26T09:10:00.123456Z",
            "actor": "user:ana",
            "kind": "note_added",
            "data": data,
            "prev_hash": "ab",
            "v": 1,
        });
        assert_eq!(
            canonical_bytes(id, 7, at(), "user:ana", "note_added", &data, "ab"),
            canonical_json(&object)
        );
    }

    #[test]
    fn timestamp_has_six_digits() {
        assert_eq!(format_timestamp(at()), "2026-11-26T09:10:00.123456Z");
        let whole = DateTime::parse_from_rfc3339("2026-11-26T09:10:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(format_timestamp(whole), "2026-11-26T09:10:00.000000Z");
    }

    #[test]
    fn seal_links_and_truncates_to_microseconds() {
        let id = Uuid::new_v4();
        let head = ChainHead::genesis(id);
        assert_eq!(head.hash, genesis_hash(id));
        assert_eq!(head.hash.len(), 64);
        let nanos = at() + chrono::Duration::nanoseconds(789);
        let first = head.seal_next(nanos, "user:ana", "note_added", json!({"text": "hi"}));
        assert_eq!(first.seq, 1);
        assert_eq!(first.at, at());
        assert_eq!(first.prev_hash, genesis_hash(id));
        assert_eq!(first.hash, first.recompute_hash());
        let second = ChainHead::from(&first).seal_next(at(), "system:timer", "x", json!(null));
        assert_eq!(second.seq, 2);
        assert_eq!(second.prev_hash, first.hash);
        // The incident id is covered: the same content elsewhere hashes differently.
        assert_ne!(genesis_hash(id), genesis_hash(Uuid::new_v4()));
    }

    #[test]
    fn floats_survive_a_json_round_trip() {
        // Needs serde_json's `float_roundtrip` feature: without it some
        // doubles parse back one ulp off and honest events look edited.
        let mut s: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..20_000 {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            let f = f64::from_bits(s);
            if !f.is_finite() {
                continue;
            }
            let text = serde_json::to_string(&f).unwrap();
            let back: f64 = serde_json::from_str(&text).unwrap();
            assert_eq!(back.to_bits(), f.to_bits(), "{text}");
        }
    }

    #[test]
    fn serde_round_trip_keeps_the_hash() {
        let id = Uuid::new_v4();
        let event = ChainHead::genesis(id).seal_next(
            at(),
            "user:ana",
            "note_added",
            json!({"text": "été <b>", "lat": 48.856614000000016, "n": -0.0}),
        );
        let text = serde_json::to_string(&event).unwrap();
        assert!(text.contains("\"at\":\"2026-11-26T09:10:00.123456Z\""));
        let back: ChainedEvent = serde_json::from_str(&text).unwrap();
        assert_eq!(back.recompute_hash(), event.hash);
        let extra = text.replacen('{', "{\"approved\":true,", 1);
        assert!(serde_json::from_str::<ChainedEvent>(&extra).is_err());
    }

    #[test]
    fn data_that_names_a_key_twice_is_refused() {
        let event = ChainHead::genesis(Uuid::new_v4()).seal_next(
            at(),
            "user:ana",
            "note_added",
            json!({"text": "original", "nested": [{"a": 1}]}),
        );
        let text = serde_json::to_string(&event).unwrap();
        let back: ChainedEvent = serde_json::from_str(&text).unwrap();
        assert_eq!(back, event);
        // Last wins in a plain Value: this would hash as the original.
        for doctored in [
            text.replacen("{\"nested\"", "{\"text\":\"forged\",\"nested\"", 1),
            text.replacen("{\"a\":1}", "{\"a\":2,\"a\":1}", 1),
        ] {
            assert_ne!(doctored, text);
            let error = serde_json::from_str::<ChainedEvent>(&doctored).unwrap_err();
            assert!(error.to_string().contains("appears twice"), "{error}");
        }
    }

    #[test]
    fn a_time_finer_than_the_hash_is_refused() {
        let event = ChainHead::genesis(Uuid::new_v4()).seal_next(
            at(),
            "user:ana",
            "note_added",
            json!({"text": "original"}),
        );
        let text = serde_json::to_string(&event).unwrap();
        let canonical = "\"at\":\"2026-11-26T09:10:00.123456Z\"";
        assert!(text.contains(canonical), "{text}");
        // Another offset or fewer digits name the same instant: still fine.
        for same in [
            "2026-11-26T10:10:00.123456+01:00",
            "2026-11-26T09:10:00.1234560Z",
        ] {
            let edited = text.replace(canonical, &format!("\"at\":\"{same}\""));
            let back: ChainedEvent = serde_json::from_str(&edited).unwrap();
            assert_eq!(back.recompute_hash(), event.hash, "{same}");
        }
        // A seventh digit would be shown, but hashes as if it were not there.
        let finer = text.replace(canonical, "\"at\":\"2026-11-26T09:10:00.1234569Z\"");
        let error = serde_json::from_str::<ChainedEvent>(&finer).unwrap_err();
        assert!(error.to_string().contains("finer than"), "{error}");
    }
}
