//! Secrets handed to people (API tokens, link and session secrets): 256
//! random bits each, of which the database keeps only a SHA-256. With that
//! much randomness a fast hash is enough: there is nothing to brute-force.

use sha2::{Digest, Sha256};

/// A random secret of 256 bits, as 64 lowercase hex digits: safe in any
/// URL, header or cookie.
pub fn random_secret() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(hex::encode(bytes))
}

/// What the database keeps of a secret.
pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Whether a submitted secret is the expected one, in time that does not
/// depend on where they differ.
pub fn same_secret(submitted: &str, expected: &str) -> bool {
    use subtle::ConstantTimeEq;
    submitted.as_bytes().ct_eq(expected.as_bytes()).into()
}

/// A well-formed secret (64 lowercase hex digits), read before any database
/// look-up: anything else is refused without touching the store.
pub fn parse_secret(candidate: &str) -> Option<&str> {
    (candidate.len() == 64
        && candidate
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()))
    .then_some(candidate)
}

/// A freshly minted secret. Deliberately not `Debug` or `Display`, so it
/// cannot slip into a log line by accident.
pub struct Secret(String);

impl Secret {
    pub fn new(secret: String) -> Secret {
        Secret(secret)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_long_random_and_parse() {
        let a = random_secret().unwrap();
        let b = random_secret().unwrap();
        assert_ne!(a, b);
        assert_eq!(parse_secret(&a), Some(a.as_str()));
        assert_eq!(parse_secret(&a[1..]), None);
        assert_eq!(parse_secret(&a.to_uppercase()), None);
        assert_eq!(parse_secret(&format!("{}x", &a[1..])), None);
    }

    #[test]
    fn only_a_digest_is_kept() {
        assert_eq!(
            hash_secret("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
