//! Extractors whose every rejection is an [`ApiError`] naming what is wrong,
//! and the bearer-token check.

use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use serde::de::DeserializeOwned;

use super::{ApiError, AppState};
use crate::auth::{ApiToken, Permission};
use crate::domain::Actor;
use crate::engine::TokenRefused;

/// A JSON body. Malformed JSON is a 400; well-formed JSON of the wrong
/// shape is a 422 naming the field; a body over the limit is a 413.
pub struct Json<T>(pub T);

/// Like [`Json`], but an empty body, or JSON `null`, reads as
/// `T::default()`: for actions whose fields are all optional.
pub struct JsonOrEmpty<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (headers, body) = read_body(req, state).await?;
        require_json_content_type(&headers)?;
        parse_json(&body).map(Json)
    }
}

impl<T: DeserializeOwned + Default> FromRequest<AppState> for JsonOrEmpty<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (headers, body) = read_body(req, state).await?;
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(JsonOrEmpty(T::default()));
        }
        require_json_content_type(&headers)?;
        parse_json::<Option<T>>(&body).map(|body| JsonOrEmpty(body.unwrap_or_default()))
    }
}

async fn read_body(req: Request, state: &AppState) -> Result<(HeaderMap, Bytes), ApiError> {
    let headers = req.headers().clone();
    let body = Bytes::from_request(req, state).await.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!("request body is larger than {} bytes", super::BODY_LIMIT),
            )
        } else {
            ApiError::bad_request(None, "the request body could not be read")
        }
    })?;
    Ok((headers, body))
}

fn require_json_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let is_json = headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"));
    if is_json {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "expected a body with Content-Type: application/json",
        ))
    }
}

fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let deserializer = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data => {
                let message = inner.to_string();
                let field = field_of(&path, &message);
                ApiError::invalid(field, strip_position(&message))
            }
            _ => ApiError::bad_request(None, format!("malformed JSON: {inner}")),
        }
    })
}

/// For a missing field, the path is that of the object lacking it and the
/// field is named only in the message: join the two for the full path.
fn field_of(path: &str, message: &str) -> String {
    let named = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next());
    match (path, named) {
        (".", Some(name)) => name.to_owned(),
        (parent, Some(name)) => format!("{parent}.{name}"),
        (path, None) => path.to_owned(),
    }
}

/// "... at line 1 column 42" says nothing the field path does not.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(index) => message[..index].to_owned(),
        None => message.to_owned(),
    }
}

/// Path parameters; a malformed one (a bad UUID, say) is a 400 naming it.
pub struct Path<T>(pub T);

impl<T, S> FromRequestParts<S> for Path<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Path(value)),
            Err(PathRejection::FailedToDeserializePathParams(error)) => {
                let field = match error.kind() {
                    axum::extract::path::ErrorKind::ParseErrorAtKey { key, .. }
                    | axum::extract::path::ErrorKind::DeserializeError { key, .. }
                    | axum::extract::path::ErrorKind::InvalidUtf8InPathParam { key } => {
                        Some(key.clone())
                    }
                    _ => None,
                };
                Err(ApiError::bad_request(field, error.body_text()))
            }
            Err(other) => Err(ApiError::internal(&other)),
        }
    }
}

/// The query string; unknown or malformed parameters are a 400 naming them.
pub struct Query<T>(pub T);

impl<T, S> FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        let deserializer =
            serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(deserializer)
            .map(Query)
            .map_err(|error| {
                let path = error.path().to_string();
                let message = error.into_inner().to_string();
                ApiError::bad_request(Some(field_of(&path, &message)), message)
            })
    }
}

/// The holder of a valid API token.
pub struct Caller {
    pub token: ApiToken,
}

impl Caller {
    pub fn actor(&self) -> Actor {
        Actor::token(&self.token.name)
    }

    pub fn require(&self, permission: Permission) -> Result<(), ApiError> {
        if self.token.role.allows(permission) {
            Ok(())
        } else {
            let role = self.token.role;
            Err(ApiError::forbidden(match permission {
                Permission::Hold => format!("the {role} role may not place legal holds"),
                Permission::Regulate => {
                    format!("the {role} role may not keep regulatory clocks: legal's role does")
                }
                Permission::Administer => {
                    format!("the {role} role may not grant or take back access")
                }
                Permission::Audit => format!("the {role} role may not read the audit log"),
                Permission::Approve => format!(
                    "the {role} role may not approve statements: legal's role does, and \
                     approver departments answer from their email"
                ),
                Permission::Read | Permission::Act => {
                    format!("the {role} role may read but not change incidents")
                }
            }))
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let secret = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or_else(|| {
                ApiError::unauthorized("send an API token: Authorization: Bearer <token>")
            })?;
        match state.engine.authenticate(secret).await? {
            Ok(token) => Ok(Caller { token }),
            Err(TokenRefused::Unknown) => Err(ApiError::unauthorized("unknown API token")),
            Err(TokenRefused::Revoked) => {
                Err(ApiError::unauthorized("this API token has been revoked"))
            }
            Err(TokenRefused::Expired(at)) => Err(ApiError::unauthorized(format!(
                "this API token expired at {}",
                at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_full_path_of_a_missing_or_unknown_field() {
        assert_eq!(field_of(".", "missing field `title`"), "title");
        assert_eq!(
            field_of("commander", "missing field `email`"),
            "commander.email"
        );
        // serde_path_to_error's path already ends with an unknown field.
        assert_eq!(
            field_of(
                "commander.mail",
                "unknown field `mail`, expected `name` or `email`"
            ),
            "commander.mail"
        );
        assert_eq!(field_of("severity", "unknown variant `urgent`"), "severity");
    }

    #[test]
    fn drops_the_position_serde_appends() {
        assert_eq!(
            strip_position("invalid type: integer `1`, expected a string at line 1 column 12"),
            "invalid type: integer `1`, expected a string"
        );
    }
}
