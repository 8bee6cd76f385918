//! Access for admins: API tokens (list, grant, revoke), console users (list,
//! add, change role, remove), and the audit log those changes write, which
//! legal reads too.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::error::ErrorBody;
use super::extract::{Caller, Json, Path, Query};
use super::text::LineInput;
use super::{ApiError, AppState};
use crate::auth::audit::AuditEntry;
use crate::auth::{ApiToken, Permission, Role, TokenState, User};
use crate::engine::{AUDIT_LOG_MAX, TokenGrant};
use crate::staff::StaffError;

/// A token as admins see it: never its secret, nor the secret's hash.
#[derive(Serialize, ToSchema)]
pub struct TokenView {
    id: Uuid,
    name: String,
    role: Role,
    created_at: DateTime<Utc>,
    /// Null until first used; written at most once a minute.
    last_used_at: Option<DateTime<Utc>>,
    /// Null: valid until revoked.
    expires_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
    /// What the token is now: `live`, `expired` or `revoked`.
    state: TokenState,
}

impl TokenView {
    fn of(token: ApiToken, now: DateTime<Utc>) -> TokenView {
        TokenView {
            state: token.state_at(now),
            id: token.id,
            name: token.name,
            role: token.role,
            created_at: token.created_at,
            last_used_at: token.last_used_at,
            expires_at: token.expires_at,
            revoked_at: token.revoked_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct TokenList {
    tokens: Vec<TokenView>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantBody {
    /// Who or what will hold the token; the timeline names its actions by it.
    name: LineInput,
    role: Role,
    /// When the token stops working; omitted, it works until revoked.
    #[serde(default)]
    expires_at: Option<DateTime<Utc>>,
}

/// A new token with its secret: shown this once, never stored.
#[derive(Serialize, ToSchema)]
pub struct GrantedToken {
    token: TokenView,
    /// Send as `Authorization: Bearer <secret>`. Not retrievable later.
    secret: String,
}

type Answer<T> = Result<axum::Json<T>, ApiError>;

#[utoipa::path(get, path = "/api/v1/tokens", tag = "access",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Every API token, revoked and expired ones too", body = TokenList),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Only admins manage access", body = ErrorBody),
    ))]
pub async fn tokens(State(state): State<AppState>, caller: Caller) -> Answer<TokenList> {
    caller.require(Permission::Administer)?;
    let now = state.engine.now();
    let tokens = state.engine.tokens().await?;
    Ok(axum::Json(TokenList {
        tokens: tokens
            .into_iter()
            .map(|token| TokenView::of(token, now))
            .collect(),
    }))
}

#[utoipa::path(post, path = "/api/v1/tokens", tag = "access",
    security(("bearer" = [])),
    request_body = GrantBody,
    responses(
        (status = 201, description = "Granted; the secret is in this answer only", body = GrantedToken),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Only admins manage access", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
        (status = 422, description = "A field is invalid (an expiry in the past, say)", body = ErrorBody),
    ))]
pub async fn grant_token(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<GrantBody>,
) -> Result<(StatusCode, axum::Json<GrantedToken>), ApiError> {
    caller.require(Permission::Administer)?;
    let grant = TokenGrant {
        name: body.name.read("name")?.into_string(),
        role: body.role,
        expires_at: body.expires_at,
    };
    let (token, secret) = state.engine.grant_token(&grant, &caller.actor()).await?;
    let token = TokenView::of(token, state.engine.now());
    Ok((
        StatusCode::CREATED,
        axum::Json(GrantedToken {
            token,
            secret: secret.expose().to_owned(),
        }),
    ))
}

#[utoipa::path(post, path = "/api/v1/tokens/{id}/revoke", tag = "access",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The token's id")),
    responses(
        (status = 200, description = "Revoked (or already was): refused from now on, on every replica", body = TokenView),
        (status = 400, description = "Malformed id", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Only admins manage access", body = ErrorBody),
        (status = 404, description = "No such token", body = ErrorBody),
    ))]
pub async fn revoke_token(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> Answer<TokenView> {
    caller.require(Permission::Administer)?;
    let token = state.engine.revoke_token(id, &caller.actor()).await?;
    Ok(axum::Json(TokenView::of(token, state.engine.now())))
}

#[derive(Serialize, ToSchema)]
pub struct UserView {
    id: Uuid,
    email: String,
    role: Role,
    created_at: DateTime<Utc>,
}

impl From<User> for UserView {
    fn from(user: User) -> UserView {
        UserView {
            id: user.id,
            email: user.email,
            role: user.role,
            created_at: user.created_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct UserList {
    users: Vec<UserView>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddUserBody {
    /// They sign in with links sent here.
    email: LineInput,
    role: Role,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleBody {
    role: Role,
}

impl From<StaffError> for ApiError {
    fn from(error: StaffError) -> Self {
        match error {
            StaffError::BadEmail(_) => ApiError::invalid("email", error.to_string()),
            StaffError::Exists(_) => ApiError::conflict(error.to_string()),
            StaffError::NoSuchUser => ApiError::not_found(error.to_string()),
            StaffError::Random(_) | StaffError::Store(_) => ApiError::internal(&error),
        }
    }
}

#[utoipa::path(get, path = "/api/v1/users", tag = "access",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Everyone who may sign in to the console", body = UserList),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Only admins manage access", body = ErrorBody),
    ))]
pub async fn users(State(state): State<AppState>, caller: Caller) -> Answer<UserList> {
    caller.require(Permission::Administer)?;
    let users = state.staff.users().await?;
    Ok(axum::Json(UserList {
        users: users.into_iter().map(UserView::from).collect(),
    }))
}

#[utoipa::path(post, path = "/api/v1/users", tag = "access",
    security(("bearer" = [])),
    request_body = AddUserBody,
    responses(
        (status = 201, description = "Added; they sign in with an emailed link", body = UserView),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Only admins manage access", body = ErrorBody),
        (status = 409, description = "That address already has an account", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
        (status = 422, description = "Not an email address", body = ErrorBody),
    ))]
pub async fn add_user(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<AddUserBody>,
) -> Result<(StatusCode, axum::Json<UserView>), ApiError> {
    caller.require(Permission::Administer)?;
    let email = body.email.read("email")?;
    let user = state
        .staff
        .add_user(email.as_str(), body.role, &caller.actor())
        .await?;
    Ok((StatusCode::CREATED, axum::Json(user.into())))
}

#[utoipa::path(post, path = "/api/v1/users/{id}/role", tag = "access",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The user's id")),
    request_body = RoleBody,
    responses(
        (status = 200, description = "Changed; a role that loses anything ends the user's sessions", body = UserView),
        (status = 400, description = "Malformed id or JSON", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Only admins manage access", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
        (status = 422, description = "Not a role", body = ErrorBody),
    ))]
pub async fn change_role(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    Json(body): Json<RoleBody>,
) -> Answer<UserView> {
    caller.require(Permission::Administer)?;
    let before = state
        .staff
        .change_role(id, body.role, &caller.actor())
        .await?;
    Ok(axum::Json(UserView {
        role: body.role,
        ..before.into()
    }))
}

#[utoipa::path(delete, path = "/api/v1/users/{id}", tag = "access",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The user's id")),
    responses(
        (status = 200, description = "Removed, their sessions ended; the user as they were", body = UserView),
        (status = 400, description = "Malformed id", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Only admins manage access", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
    ))]
pub async fn remove_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> Answer<UserView> {
    caller.require(Permission::Administer)?;
    let user = state.staff.remove_user(id, &caller.actor()).await?;
    Ok(axum::Json(user.into()))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// The most recent entries to return, newest first (at most 1000; 100
    /// when omitted).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
}

#[derive(Serialize, ToSchema)]
pub struct AuditLog {
    /// Newest first.
    entries: Vec<AuditEntry>,
}

#[utoipa::path(get, path = "/api/v1/audit", tag = "access",
    security(("bearer" = [])),
    params(AuditParams),
    responses(
        (status = 200, description = "Who granted, revoked or changed whose access, and when", body = AuditLog),
        (status = 400, description = "A bad limit", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Only admins and legal read the audit log", body = ErrorBody),
    ))]
pub async fn audit_log(
    State(state): State<AppState>,
    caller: Caller,
    Query(params): Query<AuditParams>,
) -> Answer<AuditLog> {
    caller.require(Permission::Audit)?;
    let limit = params.limit.unwrap_or(100);
    if !(1..=AUDIT_LOG_MAX).contains(&limit) {
        return Err(ApiError::bad_request(
            Some("limit".to_owned()),
            format!("limit must be between 1 and {AUDIT_LOG_MAX}"),
        ));
    }
    Ok(axum::Json(AuditLog {
        entries: state.engine.audit_log(limit).await?,
    }))
}
