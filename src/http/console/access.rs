//! Who has access: admins grant and revoke API tokens and manage console
//! users here; admins and legal read the audit log those changes write.

use axum::Form;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::flash::Flash;
use super::{SignedIn, console_page, csrf_refused, internal, refused};
use crate::auth::audit::{AuditAction, AuditEntry};
use crate::auth::{ApiToken, Permission, Role};
use crate::delivery::render::when;
use crate::domain::Line;
use crate::engine::{EngineError, TokenGrant};
use crate::http::AppState;
use crate::staff::StaffError;

const PAGE: &str = "/access";

/// The latest audit entries the page shows; the API reads further back.
const AUDIT_SHOWN: u32 = 100;

/// The lifetimes a token can be given from the console, in days; none for
/// one that works until revoked.
const LIFETIMES: [(&str, Option<i64>); 5] = [
    ("90 days", Some(90)),
    ("30 days", Some(30)),
    ("7 days", Some(7)),
    ("1 year", Some(365)),
    ("Until revoked", None),
];

#[derive(Serialize)]
struct TokenRow {
    id: Uuid,
    name: String,
    role: &'static str,
    state: &'static str,
    created: String,
    last_used: String,
    expires: String,
}

impl TokenRow {
    fn of(token: &ApiToken, now: DateTime<Utc>) -> TokenRow {
        TokenRow {
            id: token.id,
            name: token.name.clone(),
            role: token.role.as_str(),
            state: token.state_at(now).as_str(),
            created: when(token.created_at),
            last_used: token.last_used_at.map_or_else(|| "never".to_owned(), when),
            expires: token.expires_at.map_or_else(|| "never".to_owned(), when),
        }
    }
}

#[derive(Serialize)]
struct UserRow {
    id: Uuid,
    email: String,
    role: &'static str,
    added: String,
    /// The signed-in admin: their own access is changed by another admin.
    is_you: bool,
}

#[derive(Serialize)]
struct AuditRow {
    at: String,
    actor: String,
    what: String,
}

/// An entry as a sentence: "granted token ops-bot (responder, expires …)".
fn describe(entry: &AuditEntry) -> String {
    let subject = format!("{} {}", entry.subject.kind.as_str(), entry.subject.name);
    let role = entry.role.map_or("", Role::as_str);
    match entry.action {
        AuditAction::TokenCreated => match entry.expires_at {
            Some(expiry) => format!("granted {subject} ({role}, expires {})", when(expiry)),
            None => format!("granted {subject} ({role})"),
        },
        AuditAction::TokenRevoked => format!("revoked {subject}"),
        AuditAction::UserAdded => format!("added {subject} ({role})"),
        AuditAction::RoleChanged => format!(
            "changed {subject} from {} to {role}",
            entry.previous_role.map_or("?", Role::as_str)
        ),
        AuditAction::UserRemoved => format!("removed {subject}"),
    }
}

/// A token just granted: its secret, shown on this one answer.
#[derive(Serialize)]
struct Granted {
    name: String,
    secret: String,
}

async fn render(
    state: &AppState,
    signed_in: &SignedIn,
    granted: Option<Granted>,
    flash: Option<Flash>,
) -> Response {
    let now = state.engine.now();
    let administer = signed_in.can(Permission::Administer);
    let (tokens, users) = if administer {
        let tokens = match state.engine.tokens().await {
            Ok(tokens) => tokens,
            Err(error) => return internal(&error),
        };
        let users = match state.staff.users().await {
            Ok(users) => users,
            Err(error) => return internal(&error),
        };
        (tokens, users)
    } else {
        (Vec::new(), Vec::new())
    };
    let audit = match state.engine.audit_log(AUDIT_SHOWN).await {
        Ok(entries) => entries,
        Err(error) => return internal(&error),
    };
    let you = signed_in.session.user.id;
    console_page(
        state,
        signed_in,
        "console/access.html",
        serde_json::json!({
            "administer": administer,
            "tokens": tokens.iter().map(|token| TokenRow::of(token, now)).collect::<Vec<_>>(),
            "users": users.iter().map(|user| UserRow {
                id: user.id,
                email: user.email.clone(),
                role: user.role.as_str(),
                added: when(user.created_at),
                is_you: user.id == you,
            }).collect::<Vec<_>>(),
            "roles": Role::ALL.map(Role::as_str),
            "lifetimes": LIFETIMES.map(|(label, _)| label),
            "audit": audit.iter().map(|entry| AuditRow {
                at: when(entry.at),
                actor: entry.actor.clone(),
                what: describe(entry),
            }).collect::<Vec<_>>(),
            "granted": granted,
            "message": flash.as_ref().map(|flash| &flash.message),
            "failed": flash.as_ref().is_some_and(|flash| flash.failed),
        }),
    )
}

pub async fn access(
    State(state): State<AppState>,
    signed_in: SignedIn,
    jar: CookieJar,
) -> Response {
    if !signed_in.can(Permission::Audit) {
        return forbidden();
    }
    let (jar, flash) = Flash::take(&state, jar, PAGE);
    (jar, render(&state, &signed_in, None, flash).await).into_response()
}

fn forbidden() -> Response {
    (
        StatusCode::FORBIDDEN,
        "Your role may not see who has access.",
    )
        .into_response()
}

#[derive(Deserialize, Default)]
pub struct AccessForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    lifetime: String,
}

/// What the form asks for, read and checked.
enum Change {
    Grant(TokenGrant),
    Revoke(Uuid),
    AddUser { email: String, role: Role },
    SetRole { id: Uuid, role: Role },
    RemoveUser(Uuid),
}

impl Change {
    fn read(form: &AccessForm, now: DateTime<Utc>) -> Result<Change, String> {
        let role = || {
            form.role
                .parse::<Role>()
                .map_err(|_| "Choose a role.".to_owned())
        };
        let id = || {
            form.id
                .parse::<Uuid>()
                .map_err(|_| "That is not one of the listed entries.".to_owned())
        };
        match form.action.as_str() {
            "grant" => {
                let name = Line::parse(&form.name).map_err(|error| refused("The name", error))?;
                let (_, days) = LIFETIMES
                    .iter()
                    .find(|(label, _)| *label == form.lifetime)
                    .ok_or_else(|| "Choose how long the token works.".to_owned())?;
                Ok(Change::Grant(TokenGrant {
                    name: name.into_string(),
                    role: role()?,
                    expires_at: days.map(|days| now + Duration::days(days)),
                }))
            }
            "revoke" => Ok(Change::Revoke(id()?)),
            "add-user" => Ok(Change::AddUser {
                email: form.email.clone(),
                role: role()?,
            }),
            "change-role" => Ok(Change::SetRole {
                id: id()?,
                role: role()?,
            }),
            "remove-user" => Ok(Change::RemoveUser(id()?)),
            _ => Err("Unknown action.".to_owned()),
        }
    }
}

/// What became of a change: said to the person, or a new token to show.
enum Outcome {
    Done(String),
    Refused(String),
    Granted(Granted),
}

/// Every change on the page. A new token's secret is shown on this answer
/// (never stored, never in a cookie); every other change redirects back
/// with a one-time message.
pub async fn change(
    State(state): State<AppState>,
    signed_in: SignedIn,
    jar: CookieJar,
    Form(form): Form<AccessForm>,
) -> Response {
    if !signed_in.csrf_ok(&form.csrf) {
        return csrf_refused();
    }
    if !signed_in.can(Permission::Administer) {
        return (
            StatusCode::FORBIDDEN,
            "Your role may not grant or take back access.",
        )
            .into_response();
    }
    let outcome = match Change::read(&form, state.engine.now()) {
        Ok(change) => match apply(&state, &signed_in, change).await {
            Ok(outcome) => outcome,
            Err(error) => return internal(error.as_ref()),
        },
        Err(problem) => Outcome::Refused(problem),
    };
    let flash = match outcome {
        Outcome::Granted(granted) => return render(&state, &signed_in, Some(granted), None).await,
        Outcome::Done(done) => Flash::new(PAGE.to_owned(), done, false),
        Outcome::Refused(problem) => Flash::new(PAGE.to_owned(), problem, true),
    };
    (flash.keep(&state, jar), Redirect::to(PAGE)).into_response()
}

/// A failure the person cannot act on: the error page.
type Failed = Box<dyn std::error::Error + Send + Sync>;

async fn apply(state: &AppState, signed_in: &SignedIn, change: Change) -> Result<Outcome, Failed> {
    let actor = signed_in.actor();
    Ok(match change {
        // Another admin does it: an admin cannot lock themselves out.
        Change::SetRole { id, .. } | Change::RemoveUser(id) if id == signed_in.session.user.id => {
            Outcome::Refused("Your own access is changed by another admin.".to_owned())
        }
        Change::Grant(grant) => match state.engine.grant_token(&grant, &actor).await {
            Ok((token, secret)) => Outcome::Granted(Granted {
                name: token.name,
                secret: secret.expose().to_owned(),
            }),
            Err(EngineError::Invalid { message, .. }) => Outcome::Refused(message),
            Err(error) => return Err(error.into()),
        },
        Change::Revoke(id) => match state.engine.revoke_token(id, &actor).await {
            Ok(token) => Outcome::Done(format!(
                "Token {} revoked: it is refused from now on.",
                token.name
            )),
            Err(EngineError::NotFound(_)) => Outcome::Refused("No such token.".to_owned()),
            Err(error) => return Err(error.into()),
        },
        Change::AddUser { email, role } => match state.staff.add_user(&email, role, &actor).await {
            Ok(user) => Outcome::Done(format!(
                "{} added as {role}: they sign in with a link sent to that address.",
                user.email
            )),
            Err(error) => Outcome::Refused(staff_refusal(error)?),
        },
        Change::SetRole { id, role } => match state.staff.change_role(id, role, &actor).await {
            Ok(before) if before.role.loses_by_becoming(role) => Outcome::Done(format!(
                "{} is now {role}; their open sessions have ended.",
                before.email
            )),
            Ok(before) => Outcome::Done(format!("{} is now {role}.", before.email)),
            Err(error) => Outcome::Refused(staff_refusal(error)?),
        },
        Change::RemoveUser(id) => match state.staff.remove_user(id, &actor).await {
            Ok(user) => Outcome::Done(format!(
                "{} removed; their open sessions have ended.",
                user.email
            )),
            Err(error) => Outcome::Refused(staff_refusal(error)?),
        },
    })
}

/// A refusal the person can act on, or the page for a failure they cannot.
fn staff_refusal(error: StaffError) -> Result<String, Failed> {
    match error {
        StaffError::BadEmail(_) | StaffError::Exists(_) => Ok(format!("{error}.")),
        StaffError::NoSuchUser => Ok("No such user.".to_owned()),
        StaffError::Random(_) | StaffError::Store(_) => Err(error.into()),
    }
}
