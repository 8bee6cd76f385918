//! Signing in by a one-time link sent by email, and signing out. The link's
//! page only shows a button: mail scanners sign nobody in.

use axum::Form;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};
use serde::Deserialize;

use super::{SESSION_COOKIE, SignedIn, csrf_refused, internal, page};
use crate::http::AppState;
use crate::http::extract::Path;

#[derive(Deserialize)]
pub struct SignInForm {
    email: String,
}

pub async fn sign_in_form(State(state): State<AppState>) -> Response {
    page(
        &state,
        "console/sign_in.html",
        serde_json::json!({ "sent": null }),
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
    page(
        &state,
        "console/sign_in.html",
        serde_json::json!({ "sent": form.email.trim() }),
    )
}

pub async fn confirm_sign_in(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    let usable = state
        .staff
        .sign_in_link_usable(&token)
        .await
        .unwrap_or(false);
    let response = page(
        &state,
        "console/sign_in_confirm.html",
        serde_json::json!({ "usable": usable, "action": format!("/sign-in/{token}") }),
    );
    if usable {
        response
    } else {
        (StatusCode::GONE, response).into_response()
    }
}

pub async fn complete_sign_in(
    State(state): State<AppState>,
    jar: CookieJar,
    Path(token): Path<String>,
) -> Response {
    match state.staff.sign_in(&token).await {
        Ok(Some((secret, _))) => {
            let cookie = Cookie::build((SESSION_COOKIE, secret))
                .http_only(true)
                .same_site(SameSite::Lax)
                .secure(state.https)
                .path("/")
                .build();
            (jar.add(cookie), Redirect::to("/")).into_response()
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
        jar.remove(Cookie::build(SESSION_COOKIE).path("/")),
        Redirect::to("/sign-in"),
    )
        .into_response()
}
