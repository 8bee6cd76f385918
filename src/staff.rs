//! People who use the web console: added by an administrator, signed in by
//! a one-time link sent by email (no passwords anywhere), kept signed in by a
//! session cookie. Only hashes of link and session secrets are stored.

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use crate::auth::{Role, Session, User};
use crate::secret::{hash_secret, random_secret};
use crate::store::{Store, StoreError};

/// A sign-in link works once, for this long.
pub const SIGN_IN_VALID: Duration = Duration::minutes(15);
/// A session lasts a working day, then the person signs in again.
pub const SESSION_VALID: Duration = Duration::hours(12);

#[derive(Debug, thiserror::Error)]
pub enum StaffError {
    #[error("{0:?} is not a valid email address")]
    BadEmail(String),
    #[error("{0} already has an account")]
    Exists(String),
    #[error("the system's random number generator failed: {0}")]
    Random(getrandom::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Addresses are compared as lettre parses and prints them.
pub fn normalise_email(email: &str) -> Result<String, StaffError> {
    email
        .trim()
        .parse::<lettre::Address>()
        .map(|address| address.to_string().to_lowercase())
        .map_err(|_| StaffError::BadEmail(email.to_owned()))
}

pub async fn add_user(
    store: &dyn Store,
    email: &str,
    role: Role,
    now: DateTime<Utc>,
) -> Result<User, StaffError> {
    let email = normalise_email(email)?;
    if store.user_by_email(&email).await?.is_some() {
        return Err(StaffError::Exists(email));
    }
    let user = User {
        id: Uuid::now_v7(),
        email,
        role,
        created_at: now,
    };
    store.insert_user(&user).await?;
    Ok(user)
}

/// A fresh one-time sign-in secret for `user`; only its hash is stored.
pub async fn issue_sign_in(
    store: &dyn Store,
    user: &User,
    now: DateTime<Utc>,
) -> Result<String, StaffError> {
    let secret = random_secret().map_err(StaffError::Random)?;
    store
        .insert_sign_in_link(&hash_secret(&secret), user.id, now, now + SIGN_IN_VALID)
        .await?;
    Ok(secret)
}

/// Uses a sign-in link and opens a session: its secret (for the cookie) and
/// what it holds.
pub async fn sign_in(
    store: &dyn Store,
    link_secret: &str,
    now: DateTime<Utc>,
) -> Result<Option<(String, Session)>, StaffError> {
    let Some(user) = store
        .use_sign_in_link(&hash_secret(link_secret), now)
        .await?
    else {
        return Ok(None);
    };
    let session_secret = random_secret().map_err(StaffError::Random)?;
    let csrf_token = random_secret().map_err(StaffError::Random)?;
    store
        .insert_session(
            &hash_secret(&session_secret),
            user.id,
            &csrf_token,
            now,
            now + SESSION_VALID,
        )
        .await?;
    Ok(Some((session_secret, Session { user, csrf_token })))
}

pub async fn session(
    store: &dyn Store,
    secret: &str,
    now: DateTime<Utc>,
) -> Result<Option<Session>, StaffError> {
    Ok(store.session(&hash_secret(secret), now).await?)
}

pub async fn sign_out(store: &dyn Store, secret: &str) -> Result<(), StaffError> {
    Ok(store.end_session(&hash_secret(secret)).await?)
}
