//! People: API tokens (hashes only), console users, sign-in links and
//! sessions.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::rows::{TokenRow, UserRow};
use super::{Conn, SqlStore};
use crate::auth::{ApiToken, Session, User};
use crate::store::backend::Backend;
use crate::store::{StaffStore, StoreError};

async fn insert_token(conn: &mut Conn, token: &ApiToken) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO api_tokens (id, name, role, secret_hash, created_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(token.id)
    .bind(&token.name)
    .bind(token.role.as_str())
    .bind(&token.secret_hash)
    .bind(token.created_at)
    .execute(conn)
    .await?;
    Ok(())
}

async fn load_user(conn: &mut Conn, id: Uuid) -> Result<User, StoreError> {
    let row =
        sqlx::query_as::<_, UserRow>("SELECT id, email, role, created_at FROM users WHERE id = $1")
            .bind(id)
            .fetch_one(&mut *conn)
            .await?;
    User::try_from(row)
}

#[async_trait]
impl StaffStore for SqlStore {
    async fn insert_user(&self, user: &User) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO users (id, email, role, created_at) VALUES ($1, $2, $3, $4)")
            .bind(user.id)
            .bind(&user.email)
            .bind(user.role.as_str())
            .bind(user.created_at)
            .execute(&self.pool)
            .await?;
        Ok(())
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
        let found: Option<(String, Uuid)> = sqlx::query_as(
            "SELECT csrf_token, user_id FROM sessions \
             WHERE secret_hash = $1 AND expires_at > $2",
        )
        .bind(secret_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        let Some((csrf_token, user_id)) = found else {
            return Ok(None);
        };
        let mut conn = self.pool.acquire().await?;
        Ok(Some(Session {
            user: load_user(&mut conn, user_id).await?,
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

    async fn insert_token(&self, token: &ApiToken) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await?;
        insert_token(&mut conn, token).await
    }

    async fn token_by_hash(&self, secret_hash: &str) -> Result<Option<ApiToken>, StoreError> {
        let row = sqlx::query_as::<_, TokenRow>(
            "SELECT id, name, role, secret_hash, created_at FROM api_tokens \
             WHERE secret_hash = $1 AND revoked_at IS NULL",
        )
        .bind(secret_hash)
        .fetch_optional(&self.pool)
        .await?;
        row.map(ApiToken::try_from).transpose()
    }

    async fn insert_first_admin(&self, token: &ApiToken) -> Result<bool, StoreError> {
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
        tx.commit().await?;
        Ok(true)
    }
}
