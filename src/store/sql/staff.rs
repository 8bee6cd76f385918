//! People: API tokens (hashes only), console users, sign-in links and
//! sessions, and the audit log of who changed whose access.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::rows::{AuditRow, SessionRow, TokenRow, UserRow, token_columns};
use super::{Conn, SqlStore};
use crate::auth::audit::AuditEntry;
use crate::auth::{ApiToken, Role, Session, User};
use crate::domain::Actor;
use crate::store::backend::Backend;
use crate::store::{StaffStore, StoreError};

async fn insert_token(conn: &mut Conn, token: &ApiToken) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO api_tokens (id, name, role, secret_hash, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(token.id)
    .bind(&token.name)
    .bind(token.role.as_str())
    .bind(&token.secret_hash)
    .bind(token.created_at)
    .bind(token.expires_at)
    .execute(conn)
    .await?;
    Ok(())
}

async fn load_user(conn: &mut Conn, id: Uuid) -> Result<User, StoreError> {
    find_user(conn, id)
        .await?
        .ok_or_else(|| StoreError::Corrupt(format!("no user {id}")))
}

async fn find_user(conn: &mut Conn, id: Uuid) -> Result<Option<User>, StoreError> {
    let row =
        sqlx::query_as::<_, UserRow>("SELECT id, email, role, created_at FROM users WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?;
    row.map(User::try_from).transpose()
}

/// Ends every session of a user, on every replica: sessions are read from
/// the database on each request, and live streams re-check theirs.
async fn end_sessions_of(conn: &mut Conn, user_id: Uuid) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM sessions WHERE user_id = $1")
        .bind(user_id)
        .execute(conn)
        .await?;
    Ok(())
}

async fn record(conn: &mut Conn, entry: &AuditEntry) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO audit_log (at, actor, action, subject_kind, subject_id, subject_name, \
         role, previous_role, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(entry.at)
    .bind(&entry.actor)
    .bind(entry.action.as_str())
    .bind(entry.subject.kind.as_str())
    .bind(entry.subject.id)
    .bind(&entry.subject.name)
    .bind(entry.role.map(Role::as_str))
    .bind(entry.previous_role.map(Role::as_str))
    .bind(entry.expires_at)
    .execute(conn)
    .await?;
    Ok(())
}

#[async_trait]
impl StaffStore for SqlStore {
    async fn insert_user(&self, user: &User, audit: &AuditEntry) -> Result<(), StoreError> {
        let mut tx = Self::begin_write(&self.pool).await?;
        sqlx::query("INSERT INTO users (id, email, role, created_at) VALUES ($1, $2, $3, $4)")
            .bind(user.id)
            .bind(&user.email)
            .bind(user.role.as_str())
            .bind(user.created_at)
            .execute(&mut *tx)
            .await?;
        record(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn users(&self) -> Result<Vec<User>, StoreError> {
        let rows = sqlx::query_as::<_, UserRow>(
            "SELECT id, email, role, created_at FROM users ORDER BY email",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(User::try_from).collect()
    }

    async fn user(&self, id: Uuid) -> Result<Option<User>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        find_user(&mut conn, id).await
    }

    async fn change_role(
        &self,
        id: Uuid,
        role: Role,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<Option<User>, StoreError> {
        let mut tx = Self::begin_write(&self.pool).await?;
        let Some(before) = find_user(&mut tx, id).await? else {
            return Ok(None);
        };
        if before.role != role {
            sqlx::query("UPDATE users SET role = $2 WHERE id = $1")
                .bind(id)
                .bind(role.as_str())
                .execute(&mut *tx)
                .await?;
            if before.role.loses_by_becoming(role) {
                end_sessions_of(&mut tx, id).await?;
            }
            record(
                &mut tx,
                &AuditEntry::role_changed(actor, &before, role, now),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(Some(before))
    }

    async fn remove_user(
        &self,
        id: Uuid,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<Option<User>, StoreError> {
        let mut tx = Self::begin_write(&self.pool).await?;
        let Some(user) = find_user(&mut tx, id).await? else {
            return Ok(None);
        };
        end_sessions_of(&mut tx, id).await?;
        sqlx::query("DELETE FROM sign_in_links WHERE user_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM users WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        record(&mut tx, &AuditEntry::user_removed(actor, &user, now)).await?;
        tx.commit().await?;
        Ok(Some(user))
    }

    async fn user_by_email(&self, email: &str) -> Result<Option<User>, StoreError> {
        let row = sqlx::query_as::<_, UserRow>(
            "SELECT id, email, role, created_at FROM users WHERE email = $1",
        )
        .bind(email)
        .fetch_optional(&self.pool)
        .await?;
        row.map(User::try_from).transpose()
    }

    async fn insert_sign_in_link(
        &self,
        secret_hash: &str,
        user_id: Uuid,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO sign_in_links (secret_hash, user_id, created_at, expires_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(secret_hash)
        .bind(user_id)
        .bind(now)
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn use_sign_in_link(
        &self,
        secret_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<User>, StoreError> {
        let mut tx = Self::begin_write(&self.pool).await?;
        let user_id: Option<Uuid> = sqlx::query_scalar(
            "UPDATE sign_in_links SET used_at = $2 \
             WHERE secret_hash = $1 AND used_at IS NULL AND expires_at > $2 \
             RETURNING user_id",
        )
        .bind(secret_hash)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(user_id) = user_id else {
            return Ok(None);
        };
        let user = load_user(&mut tx, user_id).await?;
        tx.commit().await?;
        Ok(Some(user))
    }

    async fn sign_in_link_usable(
        &self,
        secret_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let found: Option<String> = sqlx::query_scalar(
            "SELECT secret_hash FROM sign_in_links \
             WHERE secret_hash = $1 AND used_at IS NULL AND expires_at > $2",
        )
        .bind(secret_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        Ok(found.is_some())
    }

    async fn insert_session(
        &self,
        secret_hash: &str,
        user_id: Uuid,
        csrf_token: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO sessions (secret_hash, user_id, csrf_token, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(secret_hash)
        .bind(user_id)
        .bind(csrf_token)
        .bind(now)
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn session(
        &self,
        secret_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Session>, StoreError> {
        // One read, so a user removed meanwhile is simply signed out.
        let found: Option<(String, UserRow)> = sqlx::query_as::<_, SessionRow>(
            "SELECT s.csrf_token, u.id, u.email, u.role, u.created_at \
             FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.secret_hash = $1 AND s.expires_at > $2",
        )
        .bind(secret_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?
        .map(|row| (row.csrf_token, row.user));
        let Some((csrf_token, user)) = found else {
            return Ok(None);
        };
        Ok(Some(Session {
            user: User::try_from(user)?,
            csrf_token,
        }))
    }

    async fn end_session(&self, secret_hash: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM sessions WHERE secret_hash = $1")
            .bind(secret_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn insert_token(&self, token: &ApiToken, audit: &AuditEntry) -> Result<(), StoreError> {
        let mut tx = Self::begin_write(&self.pool).await?;
        insert_token(&mut tx, token).await?;
        record(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn token_by_hash(&self, secret_hash: &str) -> Result<Option<ApiToken>, StoreError> {
        let row = sqlx::query_as::<_, TokenRow>(concat!(
            "SELECT ",
            token_columns!(),
            " FROM api_tokens WHERE secret_hash = $1"
        ))
        .bind(secret_hash)
        .fetch_optional(&self.pool)
        .await?;
        row.map(ApiToken::try_from).transpose()
    }

    async fn tokens(&self) -> Result<Vec<ApiToken>, StoreError> {
        let rows = sqlx::query_as::<_, TokenRow>(concat!(
            "SELECT ",
            token_columns!(),
            " FROM api_tokens ORDER BY created_at, id"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(ApiToken::try_from).collect()
    }

    async fn touch_token(&self, id: Uuid, now: DateTime<Utc>) -> Result<(), StoreError> {
        sqlx::query("UPDATE api_tokens SET last_used_at = $2 WHERE id = $1")
            .bind(id)
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn revoke_token(
        &self,
        id: Uuid,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<Option<ApiToken>, StoreError> {
        let mut tx = Self::begin_write(&self.pool).await?;
        let revoked = sqlx::query_as::<_, TokenRow>(concat!(
            "UPDATE api_tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL \
             RETURNING ",
            token_columns!()
        ))
        .bind(id)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        let token = match revoked {
            Some(row) => {
                let token = ApiToken::try_from(row)?;
                record(&mut tx, &AuditEntry::token_revoked(actor, &token, now)).await?;
                Some(token)
            }
            None => sqlx::query_as::<_, TokenRow>(concat!(
                "SELECT ",
                token_columns!(),
                " FROM api_tokens WHERE id = $1"
            ))
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
            .map(ApiToken::try_from)
            .transpose()?,
        };
        tx.commit().await?;
        Ok(token)
    }

    async fn audit_log(&self, limit: u32) -> Result<Vec<AuditEntry>, StoreError> {
        let rows = sqlx::query_as::<_, AuditRow>(
            "SELECT at, actor, action, subject_kind, subject_id, subject_name, role, \
             previous_role, expires_at FROM audit_log ORDER BY at DESC, id DESC LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(AuditEntry::try_from).collect()
    }

    async fn insert_first_admin(
        &self,
        token: &ApiToken,
        audit: &AuditEntry,
    ) -> Result<bool, StoreError> {
        let mut tx = Self::begin_write(&self.pool).await?;
        // A concurrent first start waits on this row, then finds it taken.
        let claimed = sqlx::query(
            "INSERT INTO installation (id, set_up_at) VALUES (1, $1) \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(token.created_at)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        let tokens: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM api_tokens")
            .fetch_one(&mut *tx)
            .await?;
        if !claimed || tokens > 0 {
            tx.commit().await?;
            return Ok(false);
        }
        insert_token(&mut tx, token).await?;
        record(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(true)
    }
}
