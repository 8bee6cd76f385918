//! Pages for one person's eyes (the pages behind emailed links, and the
//! console): not cached, not framed, no referrer leaking a token, and a
//! script policy that runs only tocsin's own scripts.

use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS,
    X_FRAME_OPTIONS,
};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::Response;

/// Link pages run no script at all.
pub const LINK_PAGE_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; \
    form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Console pages run tocsin's own scripts (`/assets/`) and open its live
/// stream; nothing inline, nothing from elsewhere.
pub const CONSOLE_POLICY: &str = "default-src 'none'; script-src 'self'; connect-src 'self'; \
    style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; \
    frame-ancestors 'none'; base-uri 'none'";

/// Sets the headers every private page carries, with its script policy.
pub fn protect(headers: &mut HeaderMap, policy: &'static str) {
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(policy));
}

/// The console's responses, pages, redirects and errors alike.
pub async fn console(mut response: Response) -> Response {
    protect(response.headers_mut(), CONSOLE_POLICY);
    response
}
