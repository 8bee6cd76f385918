//! Sign-in through the organisation's OpenID provider: the authorization
//! code flow with PKCE, a nonce and a state bound to the browser, by the
//! `openidconnect` crate. Who the person is comes from the ID token the
//! crate has verified (signature, issuer, audience, expiry, nonce); their
//! role from one of its claims, by the configured rules.

use std::collections::HashMap;

use futures_util::future::BoxFuture;
use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreAuthenticationFlow, CoreErrorResponseType,
    CoreGenderClaim, CoreJsonWebKey, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm,
    CoreProviderMetadata, CoreRevocableToken, CoreRevocationErrorResponse,
    CoreTokenIntrospectionResponse, CoreTokenType,
};
use openidconnect::{
    AdditionalClaims, AuthorizationCode, Client, ClientId, ClientSecret, CsrfToken,
    EmptyExtraTokenFields, EndpointMaybeSet, EndpointNotSet, EndpointSet, HttpRequest,
    HttpResponse, IdTokenFields, IssuerUrl, Nonce, PkceCodeChallenge, PkceCodeVerifier,
    RedirectUrl, Scope, StandardErrorResponse, StandardTokenResponse, TokenResponse as _,
};
use reqwest::Url;
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use crate::auth::Role;
use crate::config::OidcSettings;
use crate::secret::same_secret;

/// Where the provider sends the browser back, under the public URL.
pub const CALLBACK_PATH: &str = "/sign-in/sso/callback";

/// The provider's answer is awaited this long, then the person is told.
const PROVIDER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Every claim of the ID token, so the configured role claim can be read
/// whatever its name.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct OtherClaims {
    #[serde(flatten)]
    claims: HashMap<String, serde_json::Value>,
}

impl AdditionalClaims for OtherClaims {}

type IdTokenResponse = StandardTokenResponse<
    IdTokenFields<
        OtherClaims,
        EmptyExtraTokenFields,
        CoreGenderClaim,
        CoreJweContentEncryptionAlgorithm,
        CoreJwsSigningAlgorithm,
    >,
    CoreTokenType,
>;

/// The client as discovery makes it: authorization endpoint known, token
/// and user-info endpoints as the provider's metadata says.
type ProviderClient = Client<
    OtherClaims,
    CoreAuthDisplay,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJsonWebKey,
    CoreAuthPrompt,
    StandardErrorResponse<CoreErrorResponseType>,
    IdTokenResponse,
    CoreTokenIntrospectionResponse,
    CoreRevocableToken,
    CoreRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// Why a sign-in failed. The messages are for the log; people are shown
/// [`SsoError::for_people`], which repeats nothing the URL carried.
#[derive(Debug, thiserror::Error)]
pub enum SsoError {
    #[error("the identity provider cannot be reached or misbehaves: {0}")]
    Provider(String),
    #[error("the answer came to a browser that did not start this sign-in, or too late")]
    NotThisBrowser,
    #[error("the identity provider did not sign them in: {0}")]
    Refused(String),
    #[error("the ID token names no email address")]
    NoEmail,
    #[error("{0} is not verified at the identity provider")]
    Unverified(String),
    #[error("{0} has no role: no rule matches their claim")]
    NoRole(String),
}

impl SsoError {
    pub fn for_people(&self) -> String {
        match self {
            SsoError::Provider(_) => {
                "Your organisation's sign-in service cannot be reached just now. \
                 Use an emailed link instead."
                    .to_owned()
            }
            SsoError::NotThisBrowser => {
                "This sign-in was not started in this browser, or took too long. Try again."
                    .to_owned()
            }
            SsoError::Refused(_) => {
                "Your organisation's sign-in service did not sign you in.".to_owned()
            }
            SsoError::NoEmail => {
                "Your organisation's sign-in service did not say which email address is yours."
                    .to_owned()
            }
            SsoError::Unverified(email) => {
                format!("{email} is not verified at your organisation's sign-in service.")
            }
            SsoError::NoRole(email) => format!(
                "{email} has no role in tocsin: ask an administrator to add you to a group that has one."
            ),
        }
    }
}

/// A sign-in on its way: kept in the browser's cookie between the redirect
/// to the provider and its answer. The verifier proves to the provider that
/// the answer comes back to whoever started it; the state, that the answer
/// is for this browser; the nonce, that the ID token was minted for it.
#[derive(Debug)]
pub struct Pending {
    state: String,
    nonce: String,
    verifier: String,
}

impl Pending {
    /// All three are URL-safe base64, so a dot can join them.
    pub fn to_cookie(&self) -> String {
        format!("{}.{}.{}", self.state, self.nonce, self.verifier)
    }

    pub fn from_cookie(value: &str) -> Option<Pending> {
        let mut parts = value.split('.');
        let pending = Pending {
            state: parts.next()?.to_owned(),
            nonce: parts.next()?.to_owned(),
            verifier: parts.next()?.to_owned(),
        };
        let well_formed = [&pending.state, &pending.nonce, &pending.verifier]
            .iter()
            .all(|part| !part.is_empty());
        (parts.next().is_none() && well_formed).then_some(pending)
    }
}

/// Who signed in, and the role the rules give them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub email: String,
    pub role: Role,
}

pub struct SingleSignOn {
    settings: OidcSettings,
    redirect: RedirectUrl,
    http: reqwest::Client,
    /// Discovered at the first sign-in, not at start: a provider that is
    /// down must not keep tocsin from starting in a crisis.
    metadata: Mutex<Option<CoreProviderMetadata>>,
}

impl SingleSignOn {
    pub fn new(settings: OidcSettings, public_url: &Url) -> Result<SingleSignOn, SsoError> {
        let redirect = format!(
            "{}{CALLBACK_PATH}",
            public_url.as_str().trim_end_matches('/')
        );
        let http = reqwest::Client::builder()
            // The code exchange must not follow a redirect elsewhere (SSRF).
            .redirect(reqwest::redirect::Policy::none())
            .timeout(PROVIDER_TIMEOUT)
            .build()
            .map_err(|error| SsoError::Provider(error.to_string()))?;
        Ok(SingleSignOn {
            redirect: RedirectUrl::new(redirect)
                .map_err(|error| SsoError::Provider(error.to_string()))?,
            settings,
            http,
            metadata: Mutex::new(None),
        })
    }

    async fn client(&self) -> Result<ProviderClient, SsoError> {
        let mut cached = self.metadata.lock().await;
        let metadata = match cached.as_ref() {
            Some(metadata) => metadata.clone(),
            None => {
                let issuer = IssuerUrl::new(
                    self.settings
                        .issuer
                        .as_str()
                        .trim_end_matches('/')
                        .to_owned(),
                )
                .map_err(|error| SsoError::Provider(error.to_string()))?;
                let metadata = CoreProviderMetadata::discover_async(issuer, &self.http_client())
                    .await
                    .map_err(|error| SsoError::Provider(error_chain(&error)))?;
                cached.insert(metadata).clone()
            }
        };
        Ok(ProviderClient::from_provider_metadata(
            metadata,
            ClientId::new(self.settings.client_id.clone()),
            Some(ClientSecret::new(self.settings.client_secret.clone())),
        )
        .set_redirect_uri(self.redirect.clone()))
    }

    fn http_client(
        &self,
    ) -> impl Fn(HttpRequest) -> BoxFuture<'static, Result<HttpResponse, reqwest::Error>> + use<>
    {
        let client = self.http.clone();
        move |request| Box::pin(send(client.clone(), request))
    }

    /// Where to send the browser, and what it must bring back.
    pub async fn start(&self) -> Result<(Url, Pending), SsoError> {
        let client = self.client().await?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state, nonce) = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scopes(self.settings.scopes.iter().cloned().map(Scope::new))
            .set_pkce_challenge(challenge)
            .url();
        let pending = Pending {
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            verifier: verifier.secret().clone(),
        };
        Ok((url, pending))
    }

    /// The provider's answer, checked: who this is and what role they get.
    pub async fn finish(
        &self,
        pending: Pending,
        code: &str,
        state: &str,
    ) -> Result<Identity, SsoError> {
        if !same_secret(state, &pending.state) {
            return Err(SsoError::NotThisBrowser);
        }
        let client = self.client().await?;
        let exchange = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|error| SsoError::Provider(error.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(pending.verifier));
        let response = exchange
            .request_async(&self.http_client())
            .await
            .map_err(|error| SsoError::Refused(error_chain(&error)))?;
        let id_token = response
            .id_token()
            .ok_or_else(|| SsoError::Refused("no ID token in its answer".to_owned()))?;
        let claims = id_token
            .claims(&client.id_token_verifier(), &Nonce::new(pending.nonce))
            .map_err(|error| SsoError::Refused(error_chain(&error)))?;
        let email = claims.email().ok_or(SsoError::NoEmail)?.to_string();
        // Absent is trusted (some providers never say); false is not.
        if claims.email_verified() == Some(false) {
            return Err(SsoError::Unverified(email));
        }
        let claim = claims
            .additional_claims()
            .claims
            .get(&self.settings.role_claim);
        let role = self
            .settings
            .roles
            .role_for(claim)
            .ok_or_else(|| SsoError::NoRole(email.clone()))?;
        Ok(Identity { email, role })
    }
}

/// The crate's requests, sent by reqwest (the one HTTP client tocsin uses).
/// The client is owned, not borrowed: a future holding a borrow would not
/// be `Send` for every lifetime, as axum's handlers must be.
async fn send(
    client: reqwest::Client,
    request: HttpRequest,
) -> Result<HttpResponse, reqwest::Error> {
    let (parts, body) = request.into_parts();
    let response = client
        .request(parts.method, parts.uri.to_string())
        .headers(parts.headers)
        .body(body)
        .send()
        .await?;
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.bytes().await?;
    let mut answer = HttpResponse::new(body.to_vec());
    *answer.status_mut() = status;
    *answer.headers_mut() = headers;
    Ok(answer)
}

/// An error and its causes on one line: the crate's top-level messages
/// ("Failed to parse server response") say little alone.
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}
