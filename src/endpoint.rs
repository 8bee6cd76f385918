//! Webhook endpoints as configured: where a notice goes, the shape of its
//! payload, and the secret that signs it. Their URLs and secrets are
//! credentials, so neither is ever printed whole.

use std::fmt;

use base64::Engine as _;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use hmac::{Hmac, Mac};
use reqwest::Url;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::redact::redact_webhook_url;

/// Where a webhook goes and what shape its payload takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WebhookKind {
    Slack,
    Teams,
    Standard,
}

impl WebhookKind {
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookKind::Slack => "slack",
            WebhookKind::Teams => "teams",
            WebhookKind::Standard => "standard",
        }
    }
}

impl fmt::Display for WebhookKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

const SECRET_PREFIX: &str = "whsec_";

/// The spec recommends 24 to 64 byte keys; shorter ones are too easy to guess.
const MIN_KEY_BYTES: usize = 24;

/// Why a webhook secret was refused. Never contains the secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidSecret {
    #[error("webhook secret must start with `whsec_`")]
    MissingPrefix,
    #[error("webhook secret after `whsec_` is not valid base64")]
    NotBase64,
    #[error("webhook secret key is {0} bytes; it must be at least {MIN_KEY_BYTES}")]
    TooShort(usize),
}

/// A Standard Webhooks signing secret (`whsec_` + base64 key), held as a
/// ready-keyed HMAC so signing cannot fail and the key is never printable.
#[derive(Clone)]
pub struct WebhookSecret(Hmac<Sha256>);

/// Standard base64 that takes the key with or without its `=` padding, as
/// the reference libraries do.
const SECRET_BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

impl WebhookSecret {
    pub fn parse(s: &str) -> Result<Self, InvalidSecret> {
        // Secrets often arrive from env files with a trailing newline.
        let encoded = s
            .trim()
            .strip_prefix(SECRET_PREFIX)
            .ok_or(InvalidSecret::MissingPrefix)?;
        let key = SECRET_BASE64
            .decode(encoded)
            .map_err(|_| InvalidSecret::NotBase64)?;
        if key.len() < MIN_KEY_BYTES {
            return Err(InvalidSecret::TooShort(key.len()));
        }
        // HMAC takes keys of any length, so this only fails in theory.
        let mac = Hmac::<Sha256>::new_from_slice(&key).map_err(|_| InvalidSecret::NotBase64)?;
        Ok(WebhookSecret(mac))
    }
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret(..)")
    }
}

impl<'de> Deserialize<'de> for WebhookSecret {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        WebhookSecret::parse(&raw).map_err(serde::de::Error::custom)
    }
}

impl WebhookSecret {
    /// The Standard Webhooks signature of one delivery: `v1,` + base64 of
    /// HMAC-SHA256 over `{id}.{timestamp}.{body}`.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let mut mac = self.0.clone();
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }
}

/// One webhook destination.
#[derive(Clone)]
pub struct Endpoint {
    pub kind: WebhookKind,
    pub url: Url,
    /// Required for `standard`; for `slack` and `teams`, when set, the same
    /// signature headers are sent too.
    pub secret: Option<WebhookSecret>,
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Endpoint")
            .field("kind", &self.kind)
            .field("url", &redact_webhook_url(&self.url))
            .field("secret", &self.secret)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    #[test]
    fn spec_test_vector() {
        let secret = WebhookSecret::parse(SPEC_SECRET).unwrap();
        let sig = secret.sign(
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn secret_without_padding_or_with_newline_is_the_same_key() {
        let plain = WebhookSecret::parse(SPEC_SECRET).unwrap();
        let padded = WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwAA==").unwrap();
        let unpadded = WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwAA").unwrap();
        let spaced = WebhookSecret::parse(&format!("{SPEC_SECRET}\n")).unwrap();
        assert_eq!(padded.sign("m", 1, b"x"), unpadded.sign("m", 1, b"x"));
        assert_eq!(plain.sign("m", 1, b"x"), spaced.sign("m", 1, b"x"));
    }

    #[test]
    fn bad_secrets_are_refused() {
        assert_eq!(
            WebhookSecret::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap_err(),
            InvalidSecret::MissingPrefix
        );
        assert_eq!(
            WebhookSecret::parse("").unwrap_err(),
            InvalidSecret::MissingPrefix
        );
        assert_eq!(
            WebhookSecret::parse("whsec_not base64!!").unwrap_err(),
            InvalidSecret::NotBase64
        );
        // URL-safe alphabet: other libraries would silently drop `-` and `_`.
        assert_eq!(
            WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2La-aS_").unwrap_err(),
            InvalidSecret::NotBase64
        );
        assert_eq!(
            WebhookSecret::parse("whsec_").unwrap_err(),
            InvalidSecret::TooShort(0)
        );
        assert_eq!(
            WebhookSecret::parse("whsec_c2hvcnQ=").unwrap_err(),
            InvalidSecret::TooShort(5)
        );
        let err: Result<WebhookSecret, _> = serde_json::from_str(r#""whsec_c2hvcnQ=""#);
        assert!(err.unwrap_err().to_string().contains("at least 24"));
    }

    #[test]
    fn debug_does_not_leak_the_key() {
        let secret = WebhookSecret::parse(SPEC_SECRET).unwrap();
        assert_eq!(format!("{secret:?}"), "WebhookSecret(..)");
        let endpoint = Endpoint {
            kind: WebhookKind::Slack,
            url: Url::parse("https://hooks.slack.com/services/T000/B000/XXXXsecret").unwrap(),
            secret: Some(secret),
        };
        let printed = format!("{endpoint:?}");
        assert!(!printed.contains("XXXXsecret"), "{printed}");
        assert!(
            !printed.contains("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
            "{printed}"
        );
        assert!(
            printed.contains("https://hooks.slack.com/services/..."),
            "{printed}"
        );
    }

    #[test]
    fn kind_names() {
        let kinds: Vec<WebhookKind> =
            serde_json::from_str(r#"["slack", "teams", "standard"]"#).unwrap();
        assert_eq!(
            kinds,
            [
                WebhookKind::Slack,
                WebhookKind::Teams,
                WebhookKind::Standard
            ]
        );
        assert_eq!(WebhookKind::Teams.to_string(), "teams");
        assert!(serde_json::from_str::<WebhookKind>(r#""Slack""#).is_err());
    }
}
