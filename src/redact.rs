//! Secrets in settings never reach a log line or an error message whole.

use reqwest::Url;

/// The URL with any password replaced, fit for logs and error messages.
pub fn redact_url(url: &str) -> String {
    match Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            // Only fails for URLs that cannot have a password, which this one has.
            let _ = parsed.set_password(Some("redacted"));
            parsed.to_string()
        }
        Ok(_) => url.to_owned(),
        Err(_) => "<unparseable URL>".to_owned(),
    }
}

/// A URL safe to log: `scheme://host[:port]/first-segment/...`, without
/// credentials, the rest of the path, the query or the fragment (Slack and
/// Teams URLs carry their secret there).
pub fn redact_webhook_url(url: &Url) -> String {
    let Some(host) = url.host_str() else {
        return format!("{}:...", url.scheme());
    };
    let mut out = format!("{}://{host}", url.scheme());
    if let Some(port) = url.port() {
        out.push_str(&format!(":{port}"));
    }
    let segments: Vec<&str> = url
        .path_segments()
        .map(|s| s.filter(|s| !s.is_empty()).collect())
        .unwrap_or_default();
    match segments.as_slice() {
        [] => out.push('/'),
        // A lone segment may itself be the token.
        [_] => out.push_str("/..."),
        [first, ..] => {
            out.push('/');
            out.push_str(first);
            out.push_str("/...");
        }
    }
    if url.query().is_some() || url.fragment().is_some() {
        out.push_str("?...");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_replaced() {
        let redacted = redact_url("postgres://tocsin:hunter2@db:5432/tocsin");
        assert!(!redacted.contains("hunter2"));
        assert_eq!(redacted, "postgres://tocsin:redacted@db:5432/tocsin");
        assert_eq!(redact_url("sqlite://tocsin.db"), "sqlite://tocsin.db");
        assert_eq!(redact_url("not a url"), "<unparseable URL>");
    }

    #[test]
    fn redaction_keeps_only_scheme_host_and_path_prefix() {
        let cases = [
            (
                "https://hooks.slack.com/services/T0/B0/secret",
                "https://hooks.slack.com/services/...",
            ),
            (
                "https://prod-1.westus.logic.azure.com:443/workflows/abc/triggers/manual/paths/invoke?api-version=1&sig=secret",
                "https://prod-1.westus.logic.azure.com/workflows/...?...",
            ),
            (
                "http://user:pw@127.0.0.1:8080/hook",
                "http://127.0.0.1:8080/...",
            ),
            ("https://example.com", "https://example.com/"),
            (
                "https://example.com/?token=secret",
                "https://example.com/?...",
            ),
        ];
        for (url, want) in cases {
            assert_eq!(redact_webhook_url(&Url::parse(url).unwrap()), want, "{url}");
        }
    }
}
