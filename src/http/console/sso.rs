//! Signing in through the organisation's OpenID provider. The browser goes
//! there with a fresh state, nonce and PKCE challenge, and comes back to the
//! callback with a code; what it must bring back travels in a short-lived
//! cookie of its own, so any replica can finish the sign-in.
//!
//! The callback is a GET that opens a session: the protocol sends the
//! browser back by a redirect, so it cannot be a POST. It is safe because it
//! acts only with the state this browser was given and the code the
//! provider minted for it (a link crafted elsewhere carries neither).

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};
use serde::Deserialize;

use super::sign_in::{session_cookie, sign_in_page};
use super::{cookie_name, internal};
use crate::http::AppState;
use crate::staff::sso::{Pending, SsoError};

const PENDING_COOKIE: &str = "tocsin_sso";

/// Long enough to type a password and answer a second factor.
const PENDING_FOR: time::Duration = time::Duration::minutes(10);

/// Sends the browser to the provider. Changes nothing here: the only
/// trace is the cookie this browser keeps.
pub async fn start(State(state): State<AppState>, jar: CookieJar) -> Response {
    let Some(sso) = state.sso.clone() else {
        return (StatusCode::NOT_FOUND, "Single sign-on is not set up here.").into_response();
    };
    match sso.start().await {
        Ok((url, pending)) => {
            // Lax: the provider's redirect back is a top-level GET from its
            // site, which a Strict cookie would not accompany.
            let cookie = Cookie::build((cookie_name(&state, PENDING_COOKIE), pending.to_cookie()))
                .http_only(true)
                .same_site(SameSite::Lax)
                .secure(state.https)
                .path("/")
                .max_age(PENDING_FOR)
                .build();
            (jar.add(cookie), Redirect::to(url.as_str())).into_response()
        }
        Err(error) => refused(&state, &error),
    }
}

/// What the provider sends back: a code and the state, or an error.
#[derive(Deserialize)]
pub struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

pub async fn callback(
    State(state): State<AppState>,
    jar: CookieJar,
    Query(answer): Query<Callback>,
) -> Response {
    let Some(sso) = state.sso.clone() else {
        return (StatusCode::NOT_FOUND, "Single sign-on is not set up here.").into_response();
    };
    let pending_name = cookie_name(&state, PENDING_COOKIE);
    let pending = jar
        .get(&pending_name)
        .and_then(|cookie| Pending::from_cookie(cookie.value()));
    // One use, whatever happens next.
    let jar = jar.remove(Cookie::build(pending_name).path("/"));
    let identity = match (pending, answer) {
        (None, _) => Err(SsoError::NotThisBrowser),
        (
            Some(_),
            Callback {
                error: Some(error),
                error_description,
                ..
            },
        ) => Err(SsoError::Refused(format!(
            "{error}: {}",
            error_description.unwrap_or_default()
        ))),
        (
            Some(pending),
            Callback {
                code: Some(code),
                state: Some(returned),
                ..
            },
        ) => sso.finish(pending, &code, &returned).await,
        (Some(_), _) => Err(SsoError::Refused("neither a code nor an error".to_owned())),
    };
    let identity = match identity {
        Ok(identity) => identity,
        Err(error) => return (jar, refused(&state, &error)).into_response(),
    };
    match state.staff.sign_in_as(&identity).await {
        Ok((secret, _)) => {
            (jar.add(session_cookie(&state, secret)), Redirect::to("/")).into_response()
        }
        Err(error) => internal(&error),
    }
}

/// The sign-in page again, saying why, with the emailed link still offered.
fn refused(state: &AppState, error: &SsoError) -> Response {
    let status = match error {
        SsoError::Provider(_) => StatusCode::BAD_GATEWAY,
        _ => StatusCode::FORBIDDEN,
    };
    if status == StatusCode::BAD_GATEWAY {
        tracing::warn!(error = %error, "single sign-on failed at the provider");
    } else {
        tracing::info!(error = %error, "single sign-on refused");
    }
    let response = sign_in_page(state, None, Some(&error.for_people()));
    (status, response).into_response()
}
