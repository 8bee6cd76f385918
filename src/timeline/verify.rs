//! Offline verification of a chain or of a JSON export: finds the first
//! broken link by sequence number and checks the head's signature.

use std::fmt;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use uuid::Uuid;

use super::chain::{ChainHead, ChainedEvent, genesis_hash};
use super::export::{FORMAT, IncidentSummary};
use super::sign::verify_head;

/// The first place a chain stops being trustworthy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Break {
    /// The sequence number where the chain breaks (0: the file itself).
    pub seq: i64,
    pub reason: String,
}

impl fmt::Display for Break {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "seq {}: {}", self.seq, self.reason)
    }
}

impl std::error::Error for Break {}

/// The outcome of checking the head's signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", content = "reason", rename_all = "snake_case")]
pub enum SignatureStatus {
    Valid,
    Invalid(String),
    /// The export could not be read far enough to check it.
    NotChecked(String),
}

impl fmt::Display for SignatureStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SignatureStatus::Valid => f.write_str("signature valid"),
            SignatureStatus::Invalid(why) => write!(f, "signature INVALID ({why})"),
            SignatureStatus::NotChecked(why) => write!(f, "signature not checked ({why})"),
        }
    }
}

/// What [`verify_export`] found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyReport {
    /// Every link holds, the events end at the signed head, and the
    /// signature is valid.
    pub ok: bool,
    /// Events read from the export.
    pub events: usize,
    /// The signed head the export declares, when it could be read.
    pub head: Option<ChainHead>,
    pub first_break: Option<Break>,
    pub signature: SignatureStatus,
    /// The key the export says signed it. A valid signature only means
    /// something if this is tocsin's published key: compare it, or use
    /// [`verify_export_with_key`].
    pub public_key: Option<String>,
}

impl fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.first_break, self.ok) {
            (Some(b), _) => write!(
                f,
                "BROKEN at seq {}: {}; {}",
                b.seq, b.reason, self.signature
            )?,
            (None, ok) => {
                f.write_str(if ok { "OK: " } else { "BROKEN: " })?;
                write!(f, "{} events", self.events)?;
                if let Some(head) = &self.head {
                    write!(f, ", head {} sha256:{}", head.seq, head.hash)?;
                }
                write!(f, ", {}", self.signature)?;
            }
        }
        if let Some(key) = &self.public_key {
            write!(f, " (public key {key})")?;
        }
        Ok(())
    }
}

/// Walks a stored chain and returns its head, or the first break. An empty
/// chain's head is seq 0 with the genesis hash.
pub fn verify_chain(
    incident_id: Uuid,
    events: impl Iterator<Item = ChainedEvent>,
) -> Result<ChainHead, Break> {
    let mut walker = Walker::new(incident_id, None);
    for event in events {
        walker.push(event);
    }
    walker.finish()
}

/// Verifies a JSON export (see `docs/timeline-format.md`): every link, the
/// events ending exactly at the signed head, and the signature with the key
/// the export names. The events are parsed one at a time, never collected.
pub fn verify_export(json: &[u8]) -> VerifyReport {
    check_export(json, None)
}

/// [`verify_export`], and the signature must be by `trusted_public_key`
/// (standard base64), not merely by the key the file names.
pub fn verify_export_with_key(json: &[u8], trusted_public_key: &str) -> VerifyReport {
    check_export(json, Some(trusted_public_key))
}

/// The parts of an export besides its events; serde skips `events` here.
#[derive(Deserialize)]
struct Envelope {
    format: String,
    incident: IncidentSummary,
    head: ChainHead,
    signature: String,
    public_key: String,
}

fn check_export(json: &[u8], trusted_key: Option<&str>) -> VerifyReport {
    // A key given twice in what is checked (events, head, the incident the
    // head names) lets two readers see two different files: no export says that.
    let mut scan = serde_json::Deserializer::from_slice(json);
    if let Err(e) = scan.deserialize_map(CheckedMembers) {
        return unreadable(format!("not a readable tocsin export: {e}"));
    }
    // Pass 1 reads the envelope (head, signature) and skips the events, so
    // pass 2 can check each event against the head as it is parsed.
    let envelope: Envelope = match serde_json::from_slice(json) {
        Ok(envelope) => envelope,
        Err(e) => return unreadable(format!("not a readable tocsin export: {e}")),
    };
    if envelope.format != FORMAT {
        return unreadable(format!(
            "format is {:?}, this verifier reads {FORMAT:?}",
            envelope.format
        ));
    }

    let signature = match verify_head(&envelope.public_key, &envelope.head, &envelope.signature) {
        Err(e) => SignatureStatus::Invalid(e.to_string()),
        Ok(()) => match trusted_key {
            Some(trusted) if trusted.trim() != envelope.public_key.trim() => {
                SignatureStatus::Invalid(format!(
                    "signed by {}, not by the trusted key {}",
                    envelope.public_key,
                    trusted.trim()
                ))
            }
            _ => SignatureStatus::Valid,
        },
    };

    let incident_id = envelope.incident.id;
    let mut walker = Walker::new(incident_id, Some(envelope.head.clone()));
    if envelope.head.incident_id != incident_id {
        walker.break_at(
            envelope.head.seq,
            format!(
                "the signed head is for incident {}, not {incident_id}",
                envelope.head.incident_id
            ),
        );
    }
    let mut deserializer = serde_json::Deserializer::from_slice(json);
    if let Err(e) = ExportSeed(&mut walker).deserialize(&mut deserializer) {
        let seq = walker.expected_seq();
        walker.break_at(
            seq,
            format!("event after seq {} could not be read: {e}", seq - 1),
        );
    }
    let events = walker.count;
    let first_break = walker.finish().err();
    VerifyReport {
        ok: first_break.is_none() && signature == SignatureStatus::Valid,
        events,
        head: Some(envelope.head),
        first_break,
        signature,
        public_key: Some(envelope.public_key),
    }
}

/// The members of an export that verification reads, each given once and
/// with no key twice at any depth; the rest (`departments`, `exported_at`)
/// is a summary nobody checks, skipped unread.
struct CheckedMembers;

impl<'de> Visitor<'de> for CheckedMembers {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an export object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = std::collections::HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !matches!(
                key.as_str(),
                "format" | "incident" | "head" | "signature" | "public_key" | "events"
            ) {
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            if seen.contains(&key) {
                return Err(de::Error::custom(format!("key `{key}` appears twice")));
            }
            map.next_value_seed(UniqueKeysEverywhere)?;
            seen.insert(key);
        }
        Ok(())
    }
}

/// Reads a JSON value, keeping nothing but the keys of the object being
/// read, and fails on the first object that names a key twice.
struct UniqueKeysEverywhere;

impl<'de> DeserializeSeed<'de> for UniqueKeysEverywhere {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for UniqueKeysEverywhere {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("JSON with no key twice in an object")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(UniqueKeysEverywhere)?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = std::collections::HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if seen.contains(&key) {
                return Err(de::Error::custom(format!("key `{key}` appears twice")));
            }
            map.next_value_seed(UniqueKeysEverywhere)?;
            seen.insert(key);
        }
        Ok(())
    }
}

fn unreadable(reason: String) -> VerifyReport {
    VerifyReport {
        ok: false,
        events: 0,
        head: None,
        first_break: Some(Break { seq: 0, reason }),
        signature: SignatureStatus::NotChecked("export unreadable".to_owned()),
        public_key: None,
    }
}

/// Checks events one by one in file order, in constant memory.
struct Walker {
    incident_id: Uuid,
    /// The head the events must end at (exports), if any.
    target: Option<ChainHead>,
    /// Last event accepted in an unbroken chain.
    last: ChainHead,
    count: usize,
    first_break: Option<Break>,
    /// After a gap, the first missing seq: if it turns up later, the events
    /// were reordered rather than removed.
    missing: Option<i64>,
    /// The highest seq seen, to word a "reordered" finding.
    max_seq: i64,
}

impl Walker {
    fn new(incident_id: Uuid, target: Option<ChainHead>) -> Walker {
        Walker {
            incident_id,
            target,
            last: ChainHead::genesis(incident_id),
            count: 0,
            first_break: None,
            missing: None,
            max_seq: 0,
        }
    }

    fn expected_seq(&self) -> i64 {
        self.last.seq + 1
    }

    fn break_at(&mut self, seq: i64, reason: String) {
        if self.first_break.is_none() {
            self.first_break = Some(Break { seq, reason });
        }
    }

    fn push(&mut self, event: ChainedEvent) {
        self.count += 1;
        let seen_max = self.max_seq;
        self.max_seq = self.max_seq.max(event.seq);
        if self.first_break.is_some() {
            if self.missing == Some(event.seq) {
                self.missing = None;
                if let Some(b) = &mut self.first_break {
                    b.reason = format!(
                        "events out of order: seq {} comes after seq {seen_max} (reordered)",
                        event.seq
                    );
                }
            }
            return;
        }
        if let Some(reason) = self.check(&event) {
            let seq = if event.seq > self.expected_seq() {
                self.missing = Some(self.expected_seq());
                self.expected_seq()
            } else {
                event.seq
            };
            self.break_at(seq, reason);
            return;
        }
        self.last = ChainHead::from(&event);
        if let Some(target) = &self.target
            && event.seq == target.seq
            && event.hash != target.hash
        {
            let reason = format!(
                "hash {} does not match the signed head's {} (events rewritten or head altered)",
                event.hash, target.hash
            );
            self.break_at(event.seq, reason);
        }
    }

    /// What is wrong with `event` as the next link, if anything.
    fn check(&self, event: &ChainedEvent) -> Option<String> {
        let expected = self.expected_seq();
        if event.incident_id != self.incident_id {
            return Some(format!(
                "event belongs to incident {}, not {} (inserted from elsewhere)",
                event.incident_id, self.incident_id
            ));
        }
        if event.seq > expected {
            return Some(if event.seq == expected + 1 {
                format!(
                    "event {expected} is missing: seq jumps from {} to {} (removed, or reordered)",
                    expected - 1,
                    event.seq
                )
            } else {
                format!(
                    "events {expected} to {} are missing: seq jumps from {} to {} (removed, or reordered)",
                    event.seq - 1,
                    expected - 1,
                    event.seq
                )
            });
        }
        if event.seq == expected - 1 && expected > 1 {
            return Some(format!(
                "a second event claims seq {} (an event was inserted)",
                event.seq
            ));
        }
        if event.seq < expected {
            return Some(format!(
                "seq {} comes after seq {} (events reordered or duplicated)",
                event.seq,
                expected - 1
            ));
        }
        if event.recompute_hash() != event.hash {
            return Some(
                "content does not match its hash (the event was edited after it was recorded)"
                    .to_owned(),
            );
        }
        if event.prev_hash != self.last.hash {
            return Some(if event.seq == 1 {
                format!(
                    "prev_hash is not the genesis value {} for incident {}",
                    genesis_hash(self.incident_id),
                    self.incident_id
                )
            } else {
                format!(
                    "prev_hash does not match the hash of seq {} (that event was replaced, \
                     or this one was inserted)",
                    event.seq - 1
                )
            });
        }
        None
    }

    fn finish(self) -> Result<ChainHead, Break> {
        if let Some(b) = self.first_break {
            return Err(b);
        }
        if let Some(target) = &self.target {
            if self.last.seq < target.seq {
                return Err(Break {
                    seq: self.last.seq + 1,
                    reason: format!(
                        "events end at seq {} but the signed head is seq {} (tail truncated)",
                        self.last.seq, target.seq
                    ),
                });
            }
            if self.last.seq > target.seq {
                return Err(Break {
                    seq: target.seq + 1,
                    reason: format!(
                        "events go on to seq {} past the signed head seq {} (appended after signing)",
                        self.last.seq, target.seq
                    ),
                });
            }
            if self.last.hash != target.hash {
                // Only an empty chain reaches here: pushes compare the rest.
                return Err(Break {
                    seq: target.seq,
                    reason: format!(
                        "hash {} does not match the signed head's {}",
                        self.last.hash, target.hash
                    ),
                });
            }
        }
        Ok(self.last)
    }
}

/// Visits the top-level export object, feeding `events` to the walker.
struct ExportSeed<'a>(&'a mut Walker);

impl<'de> DeserializeSeed<'de> for ExportSeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ExportSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a tocsin timeline export object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen_events = false;
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if key == "events" {
                if seen_events {
                    return Err(de::Error::duplicate_field("events"));
                }
                seen_events = true;
                map.next_value_seed(EventsSeed(&mut *self.0))?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        if !seen_events {
            return Err(de::Error::missing_field("events"));
        }
        Ok(())
    }
}

struct EventsSeed<'a>(&'a mut Walker);

impl<'de> DeserializeSeed<'de> for EventsSeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for EventsSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of timeline events")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(event) = seq.next_element::<ChainedEvent>()? {
            self.0.push(event);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timeline::export::{ExportHeader, write_json};
    use crate::timeline::sign::SigningKey;
    use chrono::{DateTime, Utc};
    use serde_json::{Value, json};

    fn id() -> Uuid {
        Uuid::parse_str("0191f3a4-1b2c-7d3e-8f40-a1b2c3d4e5f6").unwrap()
    }

    fn chain(n: i64) -> Vec<ChainedEvent> {
        let start: DateTime<Utc> = DateTime::parse_from_rfc3339("2026-11-26T09:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let mut head = ChainHead::genesis(id());
        (1..=n)
            .map(|i| {
                let event = head.seal_next(
                    start + chrono::Duration::minutes(i),
                    "user:ana",
                    "note_added",
                    json!({"text": format!("note {i}")}),
                );
                head = ChainHead::from(&event);
                event
            })
            .collect()
    }

    fn export(events: &[ChainedEvent], head: &ChainHead, key: &SigningKey) -> Vec<u8> {
        let header = ExportHeader {
            incident: crate::timeline::export::IncidentSummary {
                id: id(),
                reference: "INC-1".into(),
                title: "t".into(),
                scenario: "s".into(),
                severity: "high".into(),
                status: "open".into(),
                summary: String::new(),
                commander: "ana".into(),
                opened_at: Utc::now(),
                resolved_at: None,
                legal_hold: false,
            },
            departments: vec![],
            dossiers: vec![],
            head: head.clone(),
            signature: key.sign_head(head),
            public_key: key.public_key(),
            exported_at: Utc::now(),
        };
        let mut out = Vec::new();
        write_json(&mut out, &header, events.iter().cloned()).unwrap();
        out
    }

    fn broken(events: Vec<ChainedEvent>) -> Break {
        verify_chain(id(), events.into_iter()).unwrap_err()
    }

    #[test]
    fn clean_chain_verifies() {
        let events = chain(5);
        let head = verify_chain(id(), events.clone().into_iter()).unwrap();
        assert_eq!(head, ChainHead::from(&events[4]));
        assert_eq!(
            verify_chain(id(), std::iter::empty()).unwrap(),
            ChainHead::genesis(id())
        );
    }

    #[test]
    fn edited_event() {
        let mut events = chain(5);
        events[2].data = json!({"text": "rewritten"});
        let b = broken(events);
        assert_eq!(b.seq, 3);
        assert!(b.reason.contains("edited"), "{b}");
    }

    #[test]
    fn edited_and_rehashed_event_breaks_the_next_link() {
        let mut events = chain(5);
        events[2].data = json!({"text": "rewritten"});
        events[2].hash = events[2].recompute_hash();
        let b = broken(events);
        assert_eq!(b.seq, 4);
        assert!(
            b.reason
                .contains("prev_hash does not match the hash of seq 3"),
            "{b}"
        );
    }

    #[test]
    fn removed_event() {
        let mut events = chain(5);
        events.remove(2);
        let b = broken(events);
        assert_eq!(b.seq, 3);
        assert!(b.reason.contains("event 3 is missing"), "{b}");
    }

    #[test]
    fn removed_event_renumbered() {
        let mut events = chain(5);
        events.remove(2);
        for e in &mut events[2..] {
            e.seq -= 1;
        }
        let b = broken(events);
        assert_eq!(b.seq, 3);
        assert!(b.reason.contains("edited"), "{b}");
    }

    #[test]
    fn swapped_events() {
        let mut events = chain(5);
        events.swap(1, 2);
        let b = broken(events);
        assert_eq!(b.seq, 2);
        assert!(b.reason.contains("reordered"), "{b}");
        assert!(b.reason.contains("seq 2 comes after seq 3"), "{b}");
    }

    #[test]
    fn inserted_event() {
        let mut events = chain(5);
        let forged = ChainHead::from(&events[1]).seal_next(
            events[1].at,
            "user:mallory",
            "note_added",
            json!({"text": "I warned everyone"}),
        );
        events.insert(2, forged);
        let b = broken(events);
        assert_eq!(b.seq, 3);
        assert!(b.reason.contains("inserted"), "{b}");
    }

    #[test]
    fn event_from_another_incident() {
        let mut events = chain(3);
        events[1].incident_id = Uuid::new_v4();
        events[1].hash = events[1].recompute_hash();
        let b = broken(events);
        assert_eq!(b.seq, 2);
        assert!(b.reason.contains("belongs to incident"), "{b}");
    }

    #[test]
    fn chain_of_another_incident_fails_genesis() {
        let events = chain(2);
        let b = verify_chain(Uuid::new_v4(), events.into_iter()).unwrap_err();
        assert_eq!(b.seq, 1);
    }

    #[test]
    fn clean_export_verifies() {
        let key = SigningKey::generate().unwrap();
        let events = chain(5);
        let head = ChainHead::from(&events[4]);
        let report = verify_export(&export(&events, &head, &key));
        assert!(report.ok, "{report}");
        assert_eq!(report.events, 5);
        assert_eq!(report.head, Some(head.clone()));
        assert_eq!(
            report.to_string(),
            format!(
                "OK: 5 events, head 5 sha256:{}, signature valid (public key {})",
                head.hash,
                key.public_key()
            )
        );
        let trusted = verify_export_with_key(&export(&events, &head, &key), &key.public_key());
        assert!(trusted.ok);
    }

    #[test]
    fn export_signed_by_another_key_is_refused_with_a_trusted_key() {
        let key = SigningKey::generate().unwrap();
        let trusted = SigningKey::generate().unwrap();
        let events = chain(2);
        let head = ChainHead::from(&events[1]);
        let report = verify_export_with_key(&export(&events, &head, &key), &trusted.public_key());
        assert!(!report.ok);
        assert!(matches!(report.signature, SignatureStatus::Invalid(_)));
        assert_eq!(report.first_break, None);
    }

    #[test]
    fn export_with_edited_event() {
        let key = SigningKey::generate().unwrap();
        let events = chain(5);
        let head = ChainHead::from(&events[4]);
        let json = export(&events, &head, &key);
        let text = String::from_utf8(json).unwrap().replace("note 4", "note X");
        let report = verify_export(text.as_bytes());
        assert!(!report.ok);
        assert_eq!(report.first_break.as_ref().unwrap().seq, 4);
        assert_eq!(report.signature, SignatureStatus::Valid);
        assert!(
            report
                .to_string()
                .starts_with("BROKEN at seq 4: content does not match"),
            "{report}"
        );
    }

    #[test]
    fn export_with_truncated_tail() {
        let key = SigningKey::generate().unwrap();
        let events = chain(5);
        let head = ChainHead::from(&events[4]);
        let report = verify_export(&export(&events[..3], &head, &key));
        assert!(!report.ok);
        let b = report.first_break.unwrap();
        assert_eq!(b.seq, 4);
        assert!(b.reason.contains("truncated"), "{b}");
        assert_eq!(report.events, 3);
    }

    #[test]
    fn export_with_events_past_the_head() {
        let key = SigningKey::generate().unwrap();
        let events = chain(5);
        let head = ChainHead::from(&events[2]);
        let report = verify_export(&export(&events, &head, &key));
        let b = report.first_break.unwrap();
        assert_eq!(b.seq, 4);
        assert!(b.reason.contains("past the signed head"), "{b}");
    }

    #[test]
    fn export_rewritten_after_signing() {
        // Insert an event and re-seal everything after it: every link holds,
        // but the old signed head no longer matches.
        let key = SigningKey::generate().unwrap();
        let original = chain(4);
        let head = ChainHead::from(&original[3]);
        let mut rewritten = original[..2].to_vec();
        let mut h = ChainHead::from(&original[1]);
        for (actor, data) in [("user:mallory", json!({"text": "forged"}))]
            .into_iter()
            .chain(
                original[2..]
                    .iter()
                    .map(|e| (e.actor.as_str(), e.data.clone())),
            )
        {
            let e = h.seal_next(original[1].at, actor, "note_added", data);
            h = ChainHead::from(&e);
            rewritten.push(e);
        }
        let report = verify_export(&export(&rewritten, &head, &key));
        let b = report.first_break.unwrap();
        assert_eq!(b.seq, 4);
        assert!(b.reason.contains("does not match the signed head"), "{b}");
    }

    #[test]
    fn export_with_bad_signature_or_head() {
        let key = SigningKey::generate().unwrap();
        let events = chain(3);
        let head = ChainHead::from(&events[2]);
        let json = export(&events, &head, &key);
        let mut value: Value = serde_json::from_slice(&json).unwrap();

        let mut bad_sig = value.clone();
        let other = key.sign_head(&ChainHead::genesis(id()));
        bad_sig["signature"] = json!(other);
        let report = verify_export(&serde_json::to_vec(&bad_sig).unwrap());
        assert!(!report.ok);
        assert_eq!(report.first_break, None);
        assert!(matches!(report.signature, SignatureStatus::Invalid(_)));
        assert!(
            report.to_string().starts_with("BROKEN: 3 events"),
            "{report}"
        );

        value["head"]["hash"] = json!("00".repeat(32));
        let report = verify_export(&serde_json::to_vec(&value).unwrap());
        assert!(!report.ok);
        assert!(matches!(report.signature, SignatureStatus::Invalid(_)));
        let b = report.first_break.unwrap();
        assert_eq!(b.seq, 3);
        assert!(b.reason.contains("signed head"), "{b}");
    }

    #[test]
    fn export_swapped_and_removed() {
        let key = SigningKey::generate().unwrap();
        let events = chain(5);
        let head = ChainHead::from(&events[4]);
        let mut swapped = events.clone();
        swapped.swap(2, 3);
        let b = verify_export(&export(&swapped, &head, &key))
            .first_break
            .unwrap();
        assert_eq!(b.seq, 3);
        assert!(b.reason.contains("reordered"), "{b}");
        let mut removed = events.clone();
        removed.remove(1);
        let b = verify_export(&export(&removed, &head, &key))
            .first_break
            .unwrap();
        assert_eq!(b.seq, 2);
        assert!(b.reason.contains("missing"), "{b}");
    }

    #[test]
    fn worked_example_in_docs() {
        // docs/timeline-format.md section 4 quotes these values.
        use base64::Engine as _;
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let genesis = ChainHead::genesis(id());
        assert_eq!(
            genesis.hash,
            "1bb05613f985fcf3d25812c7993f884a6126648563b20d259d7710056596396c"
        );
        let e1 = genesis.seal_next(
            at("2026-11-26T09:10:00.123456Z"),
            "token:comms-desk",
            "incident_opened",
            json!({"title": "Data breach — CRM", "scenario": "data_breach", "severity": "high",
                   "summary": "", "commander": "ana", "tasks": []}),
        );
        assert_eq!(
            e1.hash,
            "9c58fe79ff02109d32a2543d9c30fe346c2746cb35626e7b66e468e2ea78b1f0"
        );
        let e2 = ChainHead::from(&e1).seal_next(
            at("2026-11-26T09:12:30Z"),
            "link:dpo@example.org",
            "task_completed",
            json!({"task_id": "6f1c2d3e-0000-4000-8000-000000000001",
                   "task": "legal/preserve-evidence", "note": "Snapshots taken\n\"as is\"",
                   "via": {"recipient": "dpo@example.org", "ip": "192.0.2.7", "user_agent": null}}),
        );
        assert_eq!(
            e2.hash,
            "85ec9f564ba909bcb7bd00a128c2d7f23fdf000fbdbc659bc49c2d53164d7fc6"
        );
        let seed = hex::decode("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
            .unwrap();
        let b64 = base64::engine::general_purpose::STANDARD;
        let key = SigningKey::from_base64(&b64.encode(seed)).unwrap();
        let head = ChainHead::from(&e2);
        assert_eq!(
            key.public_key(),
            "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="
        );
        assert_eq!(
            key.sign_head(&head),
            "rLKTTFpvHVOd9lnq4QDTUHLP9cO3icI6nzLr6d3Nlg+2nAcXtMa4LCDxkCV1xqTaxgo6UR77uUuyZCRch+/JDQ=="
        );
        assert!(verify_export(&export(&[e1, e2], &head, &key)).ok);
    }

    #[test]
    fn unreadable_exports() {
        let report = verify_export(b"not json");
        assert!(!report.ok);
        assert_eq!(report.first_break.as_ref().unwrap().seq, 0);
        assert!(matches!(report.signature, SignatureStatus::NotChecked(_)));

        let key = SigningKey::generate().unwrap();
        let events = chain(3);
        let head = ChainHead::from(&events[2]);
        let mut value: Value = serde_json::from_slice(&export(&events, &head, &key)).unwrap();
        value["events"][1]["extra"] = json!("not covered by the hash");
        let report = verify_export(&serde_json::to_vec(&value).unwrap());
        let b = report.first_break.unwrap();
        assert_eq!(b.seq, 2);
        assert!(b.reason.contains("could not be read"), "{b}");

        value["format"] = json!("something/2");
        let report = verify_export(&serde_json::to_vec(&value).unwrap());
        assert!(report.first_break.unwrap().reason.contains("format"));
    }
}
