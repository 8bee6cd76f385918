//! The web console for communications staff and legal: server-rendered
//! pages, sign-in by emailed one-time link, session cookies, CSRF tokens on
//! every form, and live updates by server-sent events. One file per page;
//! this one holds what they share.

mod access;
mod dashboard;
mod flash;
mod incident;
mod regulatory;
mod sign_in;
mod sso;
mod statements;
mod timeline;
mod trigger;

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::request::Parts;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use serde::Serialize;

pub use access::{access, change as change_access};
pub use dashboard::dashboard;
pub use incident::{act, incident, live};
pub use sign_in::{complete_sign_in, confirm_sign_in, request_sign_in, sign_in_form, sign_out};
pub use sso::{callback as sso_callback, start as sso_start};
pub use statements::said as statements;
pub use timeline::{export, timeline};
pub use trigger::{new_incident, trigger};

use super::AppState;
use super::error::Failure;
use crate::auth::{Permission, Session};
use crate::delivery::render::when;
use crate::domain::chase::Chase;
use crate::domain::{Actor, TextError};
use crate::secret::same_secret;

const SESSION_COOKIE: &str = "tocsin_session";

/// A cookie's name: behind HTTPS, `__Host-` makes the browser refuse it
/// unless this host set it, `Secure`, for the whole site (no subdomain or
/// plain-HTTP page can plant or shadow it).
fn cookie_name(state: &AppState, name: &str) -> String {
    if state.https {
        format!("__Host-{name}")
    } else {
        name.to_owned()
    }
}

/// The incident page's live reload, served as a file: the console's script
/// policy runs no inline script.
pub async fn live_script() -> Response {
    (
        [
            (CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../assets/live.js"),
    )
        .into_response()
}

/// A signed-in person. Pages that need one send everyone else to sign in.
pub struct SignedIn {
    session: Session,
    secret: String,
}

impl SignedIn {
    fn can(&self, permission: Permission) -> bool {
        self.session.user.role.allows(permission)
    }

    fn actor(&self) -> Actor {
        Actor {
            kind: "user",
            name: self.session.user.email.clone(),
            via: None,
        }
    }

    /// The fields every console page needs.
    fn base(&self) -> Base {
        Base {
            user_email: self.session.user.email.clone(),
            user_role: self.session.user.role.as_str(),
            csrf: self.session.csrf_token.clone(),
            can_act: self.can(Permission::Act),
            can_hold: self.can(Permission::Hold),
            can_regulate: self.can(Permission::Regulate),
            can_approve: self.can(Permission::Approve),
            can_audit: self.can(Permission::Audit),
        }
    }

    /// Forms carry the session's CSRF token; another site's forms cannot.
    fn csrf_ok(&self, token: &str) -> bool {
        same_secret(token, &self.session.csrf_token)
    }
}

fn csrf_refused() -> Response {
    (
        StatusCode::FORBIDDEN,
        "This form has expired: reload the page and try again.",
    )
        .into_response()
}

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let jar = CookieJar::from_headers(&parts.headers);
        let to_sign_in = || Redirect::to("/sign-in").into_response();
        let name = cookie_name(state, SESSION_COOKIE);
        let Some(secret) = jar.get(&name).map(|c| c.value().to_owned()) else {
            return Err(to_sign_in());
        };
        match state.staff.session(&secret).await {
            Ok(Some(session)) => Ok(SignedIn { session, secret }),
            Ok(None) => Err(to_sign_in()),
            Err(error) => Err(internal(&error)),
        }
    }
}

#[derive(Serialize)]
struct Base {
    user_email: String,
    user_role: &'static str,
    csrf: String,
    can_act: bool,
    can_hold: bool,
    can_regulate: bool,
    can_approve: bool,
    can_audit: bool,
}

fn internal(error: &(dyn std::error::Error + 'static)) -> Response {
    let failure = Failure::of(error, "console page failed");
    let message = failure.for_people();
    (failure.status(), failure.retry_after(), message).into_response()
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "No such incident.").into_response()
}

fn page(state: &AppState, name: &str, context: impl Serialize) -> Response {
    match state.renderer.page(name, context) {
        Ok(body) => Html(body).into_response(),
        Err(error) => internal(&error),
    }
}

#[derive(Serialize)]
struct WithBase<T: Serialize> {
    #[serde(flatten)]
    base: Base,
    #[serde(flatten)]
    page: T,
}

fn console_page(
    state: &AppState,
    signed_in: &SignedIn,
    name: &str,
    context: impl Serialize,
) -> Response {
    page(
        state,
        name,
        WithBase {
            base: signed_in.base(),
            page: context,
        },
    )
}

/// A form field the domain refused, as a person reads it: "Title is longer
/// than 200 characters."
fn refused(label: &str, error: TextError) -> String {
    format!("{label} {error}.")
}

/// The chase board's lines for one department, task, clock or approval.
fn chase_lines(chase: Chase<'_>) -> (Vec<String>, Option<String>) {
    let history = chase
        .history
        .iter()
        .map(|step| format!("{}: {}", when(step.at), step.rung().action()))
        .collect();
    let next = chase
        .next
        .map(|next| format!("{} at {}", next.rung().action(), when(next.at)));
    (history, next)
}
