//! Reply keys: how a mail from tocsin names what a reply to it answers.
//!
//! Every message carries its key twice, because clients keep one or the
//! other: in `Reply-To: prefix+KEY@inbound-domain` (the sub-address comes
//! back as the envelope recipient) and in its `Message-ID`,
//! `<KEY.UNIQUE@domain>` (replies quote it in `In-Reply-To` and
//! `References`). The format is defined here only: the builders for the
//! sending side, the readers for the inbound one. A key read back is only a
//! candidate; the store decides whether it names anything.

/// Longest key accepted back: far above any key tocsin issues, short enough
/// that a hostile header cannot make a look-up expensive.
pub const KEY_MAX: usize = 128;

/// Keys are opaque URL-safe strings (RFC 4648 section 5 without padding):
/// no `.`, `+` or `@`, so both formats split back unambiguously.
pub fn is_reply_key(candidate: &str) -> bool {
    !candidate.is_empty()
        && candidate.len() <= KEY_MAX
        && candidate
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The `Message-ID` of a message whose replies answer `key`, angle brackets
/// included. `unique` tells apart the messages sharing a key (a reminder
/// and its first notice); it must itself be free of `@`, `<` and `>`.
pub fn reply_message_id(key: &str, unique: &str, domain: &str) -> String {
    format!("<{key}.{unique}@{domain}>")
}

/// The key in a message id made by [`reply_message_id`], with or without
/// its angle brackets; None for any other id.
pub fn key_from_message_id(message_id: &str) -> Option<&str> {
    let (local, domain) = unbracketed(message_id).rsplit_once('@')?;
    let (key, unique) = local.split_once('.')?;
    (is_reply_key(key) && !unique.is_empty() && !domain.is_empty()).then_some(key)
}

/// `text` trimmed, without the angle brackets around it if it has both.
fn unbracketed(text: &str) -> &str {
    let text = text.trim();
    text.strip_prefix('<')
        .and_then(|inner| inner.strip_suffix('>'))
        .unwrap_or(text)
}

/// The `Reply-To` address whose replies answer `key`: `prefix+key@domain`.
pub fn reply_address(prefix: &str, key: &str, domain: &str) -> String {
    format!("{prefix}+{key}@{domain}")
}

/// The key in the sub-address of an address made by [`reply_address`]
/// (what follows the last `+` of the local part); None without one.
/// Which prefix and domain are tocsin's is the listener's business.
pub fn key_from_address(address: &str) -> Option<&str> {
    let (local, domain) = unbracketed(address).rsplit_once('@')?;
    let (prefix, key) = local.rsplit_once('+')?;
    (is_reply_key(key) && !prefix.is_empty() && !domain.is_empty()).then_some(key)
}

/// Where replies come back: `prefix@domain`, whose sub-addresses
/// `prefix+KEY@domain` carry the keys (the setting `reply_address`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyAddress {
    prefix: String,
    domain: String,
}

impl ReplyAddress {
    /// Reads `prefix@domain`; the prefix may not itself hold a key.
    pub fn parse(address: &str) -> Result<ReplyAddress, String> {
        let (prefix, domain) = address
            .trim()
            .rsplit_once('@')
            .ok_or_else(|| format!("{address:?} is not an address (prefix@domain)"))?;
        let plain = |part: &str| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        };
        if !plain(prefix) || !plain(domain) {
            return Err(format!(
                "{address:?}: use letters, digits, '-', '_' and '.' only, without a '+': \
                 tocsin adds the '+KEY' itself"
            ));
        }
        Ok(ReplyAddress {
            prefix: prefix.to_owned(),
            domain: domain.to_ascii_lowercase(),
        })
    }

    /// The domain replies go to: the listener's name for itself.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The `Reply-To` of a message carrying `key`.
    pub fn with_key(&self, key: &str) -> String {
        reply_address(&self.prefix, key, &self.domain)
    }

    /// Whether `recipient` is the reply address itself, without a key (a
    /// relay or a mailbox that drops sub-addresses delivers so; the key is
    /// then in the reply's `In-Reply-To` or `References`).
    pub fn is_bare(&self, recipient: &str) -> bool {
        unbracketed(recipient)
            .rsplit_once('@')
            .is_some_and(|(local, domain)| {
                local.eq_ignore_ascii_case(&self.prefix)
                    && domain.eq_ignore_ascii_case(&self.domain)
            })
    }

    /// The key an envelope recipient carries, if it is one of ours; None
    /// for any other address (the listener refuses it).
    pub fn key_in<'a>(&self, recipient: &'a str) -> Option<&'a str> {
        let (local, domain) = unbracketed(recipient).rsplit_once('@')?;
        let (prefix, _) = local.rsplit_once('+')?;
        (prefix.eq_ignore_ascii_case(&self.prefix) && domain.eq_ignore_ascii_case(&self.domain))
            .then(|| key_from_address(recipient))
            .flatten()
    }
}

impl std::fmt::Display for ReplyAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{}", self.prefix, self.domain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "q7Kd-2_xZ0";

    #[test]
    fn a_built_message_id_reads_back_its_key() {
        let id = reply_message_id(KEY, "0193a1b2-reminder", "tocsin.example.org");
        assert_eq!(id, "<q7Kd-2_xZ0.0193a1b2-reminder@tocsin.example.org>");
        assert_eq!(key_from_message_id(&id), Some(KEY));
        // Mail parsers hand ids over without their brackets.
        assert_eq!(key_from_message_id(&id[1..id.len() - 1]), Some(KEY));
    }

    #[test]
    fn a_built_reply_address_reads_back_its_key() {
        let address = reply_address("crisis", KEY, "reply.example.org");
        assert_eq!(address, "crisis+q7Kd-2_xZ0@reply.example.org");
        assert_eq!(key_from_address(&address), Some(KEY));
        assert_eq!(key_from_address(&format!("<{address}>")), Some(KEY));
        // A prefix may hold a `+` of its own: the key follows the last one.
        assert_eq!(key_from_address("a+b+KEY@d"), Some("KEY"));
    }

    #[test]
    fn a_reply_address_knows_its_own_sub_addresses_only() {
        let ours = ReplyAddress::parse("crisis@Reply.Example.org").unwrap();
        let address = ours.with_key(KEY);
        assert_eq!(address, "crisis+q7Kd-2_xZ0@reply.example.org");
        assert_eq!(ours.key_in(&address), Some(KEY));
        assert_eq!(
            ours.key_in("<CRISIS+q7Kd-2_xZ0@REPLY.example.org>"),
            Some(KEY)
        );
        assert_eq!(ours.key_in("other+q7Kd-2_xZ0@reply.example.org"), None);
        assert_eq!(ours.key_in("crisis+q7Kd-2_xZ0@elsewhere.example"), None);
        assert_eq!(ours.key_in("crisis@reply.example.org"), None);
        assert!(ours.is_bare("<Crisis@reply.example.org>"));
        assert!(!ours.is_bare(&address) && !ours.is_bare("crisis@elsewhere.example"));
        for bad in ["crisis", "cri+sis@d", "@d", "crisis@", "cri sis@d"] {
            assert!(ReplyAddress::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn other_ids_and_addresses_give_no_key() {
        for id in [
            "",
            "<>",
            "<CAKx9w3nR5@mail.gmail.com>",
            "<.unique@d>",
            "<key.@d>",
            "<key.unique@>",
            "<ke y.unique@d>",
            "<ké.unique@d>",
            "no-at-sign.at.all",
        ] {
            assert_eq!(key_from_message_id(id), None, "{id:?}");
        }
        for address in [
            "crisis@d",
            "+KEY@d",
            "crisis+@d",
            "crisis+KEY",
            "crisis+K.Y@d",
        ] {
            assert_eq!(key_from_address(address), None, "{address:?}");
        }
        let long = "k".repeat(KEY_MAX + 1);
        assert_eq!(key_from_message_id(&format!("<{long}.u@d>")), None);
        assert!(is_reply_key(&long[1..]));
    }
}
