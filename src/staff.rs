//! People who use the web console: added by an administrator, signed in by
//! a one-time link sent by email (no passwords anywhere), kept signed in by a
//! session cookie. Only hashes of link and session secrets are stored. The
//! console's door to the store, beside the engine.

pub mod sso;

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use lettre::message::Mailbox;
use reqwest::Url;
use uuid::Uuid;

use crate::auth::audit::AuditEntry;
use crate::auth::{Role, Session, User};
use crate::clock::Clock;
use crate::delivery::email::Mailer;
use crate::domain::Actor;
use crate::secret::{hash_secret, random_secret};
use crate::store::{Store, StoreError};
use sso::Identity;

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
    #[error("no such user")]
    NoSuchUser,
    #[error("the system's random number generator failed: {0}")]
    Random(getrandom::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// How sign-in links reach people: straight out, not through the outbox (it
/// changes no incident, and if it is lost the person asks again).
pub struct SignInMail {
    pub mailer: Arc<Mailer>,
    pub from: Mailbox,
    /// Links are built from this, never from a request's Host header.
    pub public_url: Url,
    /// Sign-in mails one address may be sent: a few at once, then one every
    /// few minutes, so the form cannot be used to flood an inbox.
    pub quota: governor::Quota,
}

pub struct Staff {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    mail: SignInMail,
    limiter: governor::DefaultKeyedRateLimiter<String>,
}

/// Addresses are compared as lettre parses and prints them.
fn normalise_email(email: &str) -> Result<String, StaffError> {
    email
        .trim()
        .parse::<lettre::Address>()
        .map(|address| address.to_string().to_lowercase())
        .map_err(|_| StaffError::BadEmail(email.to_owned()))
}

impl Staff {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, mail: SignInMail) -> Staff {
        Staff {
            limiter: governor::RateLimiter::keyed(mail.quota),
            store,
            clock,
            mail,
        }
    }

    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Gives someone console access, recorded on the audit log.
    pub async fn add_user(
        &self,
        email: &str,
        role: Role,
        actor: &Actor,
    ) -> Result<User, StaffError> {
        let email = normalise_email(email)?;
        if self.store.user_by_email(&email).await?.is_some() {
            return Err(StaffError::Exists(email));
        }
        let user = User {
            id: Uuid::now_v7(),
            email,
            role,
            created_at: self.now(),
        };
        self.store
            .insert_user(&user, &AuditEntry::user_added(actor, &user))
            .await?;
        Ok(user)
    }

    pub async fn users(&self) -> Result<Vec<User>, StaffError> {
        Ok(self.store.users().await?)
    }

    pub async fn user_by_email(&self, email: &str) -> Result<Option<User>, StaffError> {
        let email = normalise_email(email)?;
        Ok(self.store.user_by_email(&email).await?)
    }

    /// Gives a user another role. One that takes anything away ends their
    /// sessions and live streams at once; they sign in again to see what is
    /// left. The user as they were before.
    pub async fn change_role(
        &self,
        id: Uuid,
        role: Role,
        actor: &Actor,
    ) -> Result<User, StaffError> {
        self.store
            .change_role(id, role, actor, self.now())
            .await?
            .ok_or(StaffError::NoSuchUser)
    }

    /// Takes someone's console access away, ending their sessions and live
    /// streams at once. The timeline keeps what they did, by address.
    pub async fn remove_user(&self, id: Uuid, actor: &Actor) -> Result<User, StaffError> {
        self.store
            .remove_user(id, actor, self.now())
            .await?
            .ok_or(StaffError::NoSuchUser)
    }

    /// A fresh one-time sign-in link for `user`; only its secret's hash is
    /// stored.
    pub async fn sign_in_link(&self, user: &User) -> Result<String, StaffError> {
        let secret = random_secret().map_err(StaffError::Random)?;
        let now = self.now();
        self.store
            .insert_sign_in_link(&hash_secret(&secret), user.id, now, now + SIGN_IN_VALID)
            .await?;
        Ok(format!(
            "{}/sign-in/{secret}",
            self.mail.public_url.as_str().trim_end_matches('/')
        ))
    }

    /// Mails a sign-in link if the address has an account and has not asked
    /// too often. Says nothing of which: the form must not reveal who has an
    /// account.
    pub async fn request_sign_in(&self, email: &str) -> Result<(), StaffError> {
        let Ok(email) = normalise_email(email) else {
            return Ok(());
        };
        let Some(user) = self.store.user_by_email(&email).await? else {
            return Ok(());
        };
        // Only known addresses are counted: the limiter holds one key per user.
        if self.limiter.check_key(&user.email).is_err() {
            tracing::info!("sign-in mail withheld: asked for too often");
            return Ok(());
        }
        let link = self.sign_in_link(&user).await?;
        self.send_sign_in_mail(&user.email, &link);
        Ok(())
    }

    fn send_sign_in_mail(&self, to: &str, link: &str) {
        let Ok(to) = to.parse() else { return };
        let message = lettre::Message::builder()
            .from(self.mail.from.clone())
            .to(to)
            .subject("Your tocsin sign-in link")
            .body(format!(
                "Open this link to sign in to tocsin. It works once, for 15 minutes:\n\n{link}\n\n\
                 Nothing happens until you press the button on the page it opens.\n\
                 If you did not ask for it, ignore this message.\n"
            ));
        let Ok(message) = message else { return };
        let mailer = Arc::clone(&self.mail.mailer);
        tokio::spawn(async move {
            if let Err(failure) = mailer.send(message).await {
                tracing::warn!(error = %failure, "sign-in mail not sent");
            }
        });
    }

    /// Whether a sign-in link is still usable (for the page that shows its
    /// button, which changes nothing).
    pub async fn sign_in_link_usable(&self, secret: &str) -> Result<bool, StaffError> {
        Ok(self
            .store
            .sign_in_link_usable(&hash_secret(secret), self.now())
            .await?)
    }

    /// Uses a sign-in link and opens a session: its secret (for the cookie)
    /// and what it holds. None if the link is unknown, used or expired.
    pub async fn sign_in(
        &self,
        link_secret: &str,
    ) -> Result<Option<(String, Session)>, StaffError> {
        let Some(user) = self
            .store
            .use_sign_in_link(&hash_secret(link_secret), self.now())
            .await?
        else {
            return Ok(None);
        };
        self.open_session(user).await.map(Some)
    }

    /// Opens a session for someone the identity provider vouched for. The
    /// provider's groups decide the role: a newcomer gets an account, and
    /// an account whose role differs is changed; both go on the audit log.
    pub async fn sign_in_as(&self, who: &Identity) -> Result<(String, Session), StaffError> {
        let actor = Actor::system("single-sign-on");
        let user = match self.user_by_email(&who.email).await? {
            None => self.add_user(&who.email, who.role, &actor).await?,
            Some(user) if user.role != who.role => {
                let before = self.change_role(user.id, who.role, &actor).await?;
                User {
                    role: who.role,
                    ..before
                }
            }
            Some(user) => user,
        };
        self.open_session(user).await
    }

    async fn open_session(&self, user: User) -> Result<(String, Session), StaffError> {
        let now = self.now();
        let session_secret = random_secret().map_err(StaffError::Random)?;
        let csrf_token = random_secret().map_err(StaffError::Random)?;
        self.store
            .insert_session(
                &hash_secret(&session_secret),
                user.id,
                &csrf_token,
                now,
                now + SESSION_VALID,
            )
            .await?;
        Ok((session_secret, Session { user, csrf_token }))
    }

    pub async fn session(&self, secret: &str) -> Result<Option<Session>, StaffError> {
        Ok(self.store.session(&hash_secret(secret), self.now()).await?)
    }

    pub async fn sign_out(&self, secret: &str) -> Result<(), StaffError> {
        Ok(self.store.end_session(&hash_secret(secret)).await?)
    }
}
