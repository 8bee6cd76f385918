//! Ed25519 (RFC 8032) signatures over chain heads, so an export can be
//! checked offline against tocsin's published public key.
//!
//! The signed message is the ASCII string
//! `tocsin-chain-head:v1:{incident_id}:{seq}:{hash}` (hyphenated lowercase
//! uuid, decimal seq, lowercase hex hash). Keys and signatures travel as
//! standard base64 with padding: 32-byte seed, 32-byte public key, 64-byte
//! signature.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::Signer as _;

use super::chain::ChainHead;

/// The key tocsin signs chain heads with. Its `Debug` shows only the public
/// key; store it with [`SigningKey::to_base64`].
#[derive(Clone)]
pub struct SigningKey(ed25519_dalek::SigningKey);

/// Why a signing key could not be made or read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    #[error("no randomness from the operating system: {0}")]
    Random(String),
    #[error("a signing key is the standard base64 of a 32-byte Ed25519 seed")]
    Encoding,
}

/// Why a head's signature was not accepted.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignatureError {
    #[error("public key is not the standard base64 of a 32-byte Ed25519 key")]
    PublicKeyEncoding,
    #[error("public key is not a valid Ed25519 point")]
    PublicKeyInvalid,
    #[error("signature is not the standard base64 of 64 bytes")]
    SignatureEncoding,
    #[error("signature does not match this head and public key")]
    Mismatch,
}

impl SigningKey {
    /// A new key from the operating system's randomness.
    pub fn generate() -> Result<SigningKey, KeyError> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| KeyError::Random(e.to_string()))?;
        // ed25519-dalek zeroizes its own copy on drop; this stack copy is
        // only overwritten best-effort (no zeroize dependency here).
        let key = ed25519_dalek::SigningKey::from_bytes(&seed);
        seed.fill(0);
        Ok(SigningKey(key))
    }

    /// Reads a key stored with [`SigningKey::to_base64`] (surrounding
    /// whitespace, as in a file, is ignored).
    pub fn from_base64(text: &str) -> Result<SigningKey, KeyError> {
        let mut bytes = B64.decode(text.trim()).map_err(|_| KeyError::Encoding)?;
        let seed: Result<[u8; 32], _> = bytes.as_slice().try_into();
        bytes.fill(0);
        let mut seed = seed.map_err(|_| KeyError::Encoding)?;
        let key = ed25519_dalek::SigningKey::from_bytes(&seed);
        seed.fill(0);
        Ok(SigningKey(key))
    }

    /// The secret seed, standard base64: keep it like a password.
    pub fn to_base64(&self) -> String {
        B64.encode(self.0.to_bytes())
    }

    /// Standard base64 of the 32-byte public key, to publish.
    pub fn public_key(&self) -> String {
        B64.encode(self.0.verifying_key().to_bytes())
    }

    /// A secret for another `purpose`, derived from the seed (HMAC-SHA256
    /// keyed with it, over a purpose string no signature ever covers):
    /// one installation secret to keep, each use with a key of its own.
    pub fn derive_secret(&self, purpose: &str) -> [u8; 32] {
        use hmac::{Hmac, Mac};
        let mut seed = self.0.to_bytes();
        #[allow(clippy::expect_used)]
        let mac =
            Hmac::<sha2::Sha256>::new_from_slice(&seed).expect("HMAC takes a key of any length");
        seed.fill(0);
        mac.chain_update(format!("tocsin-derived:v1:{purpose}"))
            .finalize()
            .into_bytes()
            .into()
    }

    /// Standard base64 of the 64-byte signature of [`signed_message`].
    pub fn sign_head(&self, head: &ChainHead) -> String {
        B64.encode(self.0.sign(&signed_message(head)).to_bytes())
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("public_key", &self.public_key())
            .finish_non_exhaustive()
    }
}

/// The exact bytes signed for a head.
pub fn signed_message(head: &ChainHead) -> Vec<u8> {
    format!(
        "tocsin-chain-head:v1:{}:{}:{}",
        head.incident_id.hyphenated(),
        head.seq,
        head.hash
    )
    .into_bytes()
}

/// Checks `signature_b64` over `head` with `public_key_b64`. Strict RFC 8032
/// verification: weak keys and malleable signatures are refused.
pub fn verify_head(
    public_key_b64: &str,
    head: &ChainHead,
    signature_b64: &str,
) -> Result<(), SignatureError> {
    let key_bytes: [u8; 32] = B64
        .decode(public_key_b64.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or(SignatureError::PublicKeyEncoding)?;
    let key = ed25519_dalek::VerifyingKey::from_bytes(&key_bytes)
        .map_err(|_| SignatureError::PublicKeyInvalid)?;
    let sig_bytes: [u8; 64] = B64
        .decode(signature_b64.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or(SignatureError::SignatureEncoding)?;
    let signature = ed25519_dalek::Signature::from_bytes(&sig_bytes);
    key.verify_strict(&signed_message(head), &signature)
        .map_err(|_| SignatureError::Mismatch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn head() -> ChainHead {
        ChainHead {
            incident_id: Uuid::parse_str("0191f3a4-1b2c-7d3e-8f40-a1b2c3d4e5f6").unwrap(),
            seq: 42,
            hash: "ab".repeat(32),
        }
    }

    #[test]
    fn sign_and_verify() {
        let key = SigningKey::generate().unwrap();
        let sig = key.sign_head(&head());
        assert_eq!(verify_head(&key.public_key(), &head(), &sig), Ok(()));
        let mut other = head();
        other.seq = 41;
        assert_eq!(
            verify_head(&key.public_key(), &other, &sig),
            Err(SignatureError::Mismatch)
        );
        let stranger = SigningKey::generate().unwrap();
        assert_eq!(
            verify_head(&stranger.public_key(), &head(), &sig),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_head("not base64!", &head(), &sig),
            Err(SignatureError::PublicKeyEncoding)
        );
        assert_eq!(
            verify_head(&key.public_key(), &head(), "AAAA"),
            Err(SignatureError::SignatureEncoding)
        );
    }

    #[test]
    fn storage_round_trip_and_debug_hides_the_seed() {
        let key = SigningKey::generate().unwrap();
        let stored = key.to_base64();
        let back = SigningKey::from_base64(&format!("{stored}\n")).unwrap();
        assert_eq!(back.public_key(), key.public_key());
        assert_eq!(B64.decode(&stored).unwrap().len(), 32);
        let debug = format!("{key:?}");
        assert!(!debug.contains(&stored), "{debug}");
        assert!(debug.contains(&key.public_key()));
        assert_eq!(
            SigningKey::from_base64("AAAA").unwrap_err(),
            KeyError::Encoding
        );
    }

    #[test]
    fn rfc8032_test_vector_1() {
        // RFC 8032 7.1 TEST 1: the key derivation matches other implementations.
        let seed = hex::decode("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
            .unwrap();
        let key = SigningKey::from_base64(&B64.encode(seed)).unwrap();
        assert_eq!(
            hex::encode(B64.decode(key.public_key()).unwrap()),
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
        );
    }

    #[test]
    fn signed_message_format() {
        assert_eq!(
            String::from_utf8(signed_message(&head())).unwrap(),
            format!(
                "tocsin-chain-head:v1:0191f3a4-1b2c-7d3e-8f40-a1b2c3d4e5f6:42:{}",
                "ab".repeat(32)
            )
        );
    }
}
