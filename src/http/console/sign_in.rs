//! Signing in by a one-time link sent by email, and signing out. The link's
//! page only shows a button: mail scanners sign nobody in.

use axum::Form;
use axum::extract::State;
use axum::extract::rejection::FormRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};
use serde::Deserialize;

use super::{SESSION_COOKIE, SignedIn, cookie_name, csrf_refused, internal, page};
use crate::http::AppState;
use crate::http::extract::Path;
use crate::secret::same_secret;

#[derive(Deserialize)]
pub struct SignInForm {
    email: String,
}

pub async fn sign_in_form(State(state): State<AppState>) -> Response {
    sign_in_page(&state, None, None)
}

/// The sign-in page: after a link was asked for (`sent`), or after single
/// sign-on failed (`sso_error`), or neither.
pub(super) fn sign_in_page(
    state: &AppState,
    sent: Option<&str>,
    sso_error: Option<&str>,
) -> Response {
    page(
        state,
        "console/sign_in.html",
        serde_json::json!({ "sent": sent, "sso": state.sso.is_some(), "sso_error": sso_error }),
    )
}

/// Sends a link if the address has an account; says the same either way,
/// so the form does not reveal who has one.
pub async fn request_sign_in(
    State(state): State<AppState>,
    Form(form): Form<SignInForm>,
) -> Response {
    if let Err(error) = state.staff.request_sign_in(&form.email).await {
        return internal(&error);
    }
    sign_in_page(&state, Some(form.email.trim()), None)
}

/// The cookie that binds the sign-in button to the browser showing it.
const BROWSER_COOKIE: &str = "tocsin_sign_in";

/// Shows the button that signs in, and marks this browser as the one that
/// may press it. Signs nobody in.
pub async fn confirm_sign_in(
    State(state): State<AppState>,
    jar: CookieJar,
    Path(token): Path<String>,
) -> Response {
    let usable = state
        .staff
        .sign_in_link_usable(&token)
        .await
        .unwrap_or(false);
    if !usable {
        let response = page(
            &state,
            "console/sign_in_confirm.html",
            serde_json::json!({ "usable": false }),
        );
        return (StatusCode::GONE, response).into_response();
    }
    let browser = match crate::secret::random_secret() {
        Ok(browser) => browser,
        Err(error) => return internal(&error),
    };
    // Strict: a form on another site that posts here does not carry it.
    let cookie = Cookie::build((cookie_name(&state, BROWSER_COOKIE), browser.clone()))
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(state.https)
        .path("/")
        .max_age(time::Duration::minutes(15))
        .build();
    let response = page(
        &state,
        "console/sign_in_confirm.html",
        serde_json::json!({
            "usable": true,
            "action": format!("/sign-in/{token}"),
            "browser": browser,
        }),
    );
    (jar.add(cookie), response).into_response()
}

#[derive(Deserialize)]
pub struct ConfirmForm {
    browser: String,
}

/// Signs in, from the browser that was shown the button: a sign-in link
/// pressed from another site (login CSRF, which would sign the victim
/// into the attacker's account) is refused, and the link stays usable.
pub async fn complete_sign_in(
    State(state): State<AppState>,
    jar: CookieJar,
    Path(token): Path<String>,
    form: Result<Form<ConfirmForm>, FormRejection>,
) -> Response {
    let browser_name = cookie_name(&state, BROWSER_COOKIE);
    let shown_here = match (&form, jar.get(&browser_name)) {
        (Ok(Form(form)), Some(cookie)) => same_secret(&form.browser, cookie.value()),
        _ => false,
    };
    if !shown_here {
        return (
            StatusCode::FORBIDDEN,
            "Open the sign-in link from your email again, and press its button there.",
        )
            .into_response();
    }
    match state.staff.sign_in(&token).await {
        Ok(Some((secret, _))) => {
            let jar = jar
                .remove(Cookie::build(browser_name).path("/"))
                .add(session_cookie(&state, secret));
            (jar, Redirect::to("/")).into_response()
        }
        Ok(None) => {
            let response = page(
                &state,
                "console/sign_in_confirm.html",
                serde_json::json!({ "usable": false }),
            );
            (StatusCode::GONE, response).into_response()
        }
        Err(error) => internal(&error),
    }
}

/// The console's session. Lax, not Strict: a person following a link to an
/// incident from their mail or chat arrives signed in.
pub(super) fn session_cookie(state: &AppState, secret: String) -> Cookie<'static> {
    Cookie::build((cookie_name(state, SESSION_COOKIE), secret))
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(state.https)
        .path("/")
        .build()
}

#[derive(Deserialize)]
pub struct CsrfForm {
    csrf: String,
}

pub async fn sign_out(
    State(state): State<AppState>,
    jar: CookieJar,
    signed_in: SignedIn,
    Form(form): Form<CsrfForm>,
) -> Response {
    if !signed_in.csrf_ok(&form.csrf) {
        return csrf_refused();
    }
    if let Err(error) = state.staff.sign_out(&signed_in.secret).await {
        return internal(&error);
    }
    (
        jar.remove(Cookie::build(cookie_name(&state, SESSION_COOKIE)).path("/")),
        Redirect::to("/sign-in"),
    )
        .into_response()
}
