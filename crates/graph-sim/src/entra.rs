//! Entra ID, as Microsoft's identity platform (v2.0 endpoints) answers a single tenant:
//!
//! - [`token`]: `POST /{tenant}/oauth2/v2.0/token` — client authentication (secret in the body
//!   or HTTP Basic, or a certificate [`assertion`]) and the `client_credentials` grant; it hands
//!   the user grants to the modules below;
//! - [`device`]: the device-code flow (`/devicecode`, polling, approval);
//! - [`authorize`]: authorization code with PKCE (`/authorize`, the `authorization_code` grant);
//! - [`delegated`]: what a sign-in yields (scopes, delegated access token, ID token, refresh
//!   token) and the rotating `refresh_token` grant;
//! - [`oidc`]: OpenID discovery, JWKS, instance discovery, logout, admin consent, UserInfo;
//! - [`sim`]: `/_sim` controls for consent, app roles, app registrations, secrets and
//!   certificates, device-code approval, the signed-in user and session revocation;
//! - [`errors`]: Entra's `AADSTS…` error body.
//!
//! Every time is the emulated clock's (`state.clock`), so tests can expire codes and tokens.

pub mod assertion;
pub mod authorize;
pub mod delegated;
pub mod device;
pub mod errors;
pub mod oidc;
pub mod sim;
pub mod token;

use crate::state::{AppState, SimState};
use axum::routing::{get, post};
use errors::{EntraError, EntraResult};
use std::collections::HashMap;

/// Entra-side state: device codes, refresh tokens, authorization codes, used assertion ids.
#[derive(Debug, Default)]
pub struct EntraState {
    /// `client_id` + `jti` of accepted client assertions, with their `exp` (forgotten after it).
    pub used_jtis: HashMap<(String, String), i64>,
    /// Pending and decided device-code sign-ins by `device_code`.
    pub device_codes: HashMap<String, device::DeviceCode>,
    /// Live refresh tokens (rotated on each use).
    pub refresh_tokens: HashMap<String, delegated::RefreshGrant>,
    /// Authorization codes not yet redeemed (or redeemed, to answer a replay).
    pub auth_codes: HashMap<String, authorize::AuthCode>,
    /// The user `/authorize` signs in when the request has no `login_hint`.
    pub default_authorize_user: Option<String>,
}

/// Which tenant a `{tenant}` path segment names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TenantRef {
    /// The emulated tenant, by id or by domain.
    Ours,
    /// `organizations`: any work account (resolved to the emulated tenant).
    Organizations,
    /// `common`: work or personal accounts.
    Common,
    /// `consumers`: personal accounts only.
    Consumers,
}

impl TenantRef {
    /// Whether the segment is one of the multi-tenant aliases.
    pub fn is_alias(self) -> bool {
        self != TenantRef::Ours
    }
}

/// Resolves a `{tenant}` segment: the tenant GUID or domain (case-insensitive), or an alias;
/// anything else is AADSTS90002.
pub fn resolve_tenant(state: &SimState, segment: &str) -> EntraResult<TenantRef> {
    let t = state.tenant.read();
    if segment.eq_ignore_ascii_case(&t.tenant_id) || segment.eq_ignore_ascii_case(&t.domain) {
        return Ok(TenantRef::Ours);
    }
    match segment.to_ascii_lowercase().as_str() {
        "organizations" => Ok(TenantRef::Organizations),
        "common" => Ok(TenantRef::Common),
        "consumers" => Ok(TenantRef::Consumers),
        _ => Err(EntraError::unknown_tenant(segment)),
    }
}

/// A form-urlencoded body (or query string) as Entra reads it: the first non-empty value wins.
#[derive(Debug, Clone, Default)]
pub struct Form(pub Vec<(String, String)>);

impl Form {
    /// Parses `application/x-www-form-urlencoded` bytes; AADSTS9002313 when they are not.
    pub fn parse(bytes: &[u8]) -> EntraResult<Form> {
        serde_urlencoded::from_bytes::<Vec<(String, String)>>(bytes)
            .map(Form)
            .map_err(|_| EntraError::malformed())
    }

    /// A parameter's value, `None` when absent or empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, v)| k == name && !v.trim().is_empty())
            .map(|(_, v)| v.as_str())
    }

    /// A required parameter, AADSTS900144 naming it when absent.
    pub fn require(&self, name: &str) -> EntraResult<&str> {
        self.get(name).ok_or_else(|| EntraError::missing(name))
    }
}

/// Random URL-safe text of `bytes` random bytes (codes, refresh tokens).
pub(crate) fn random_token(bytes: usize) -> String {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    use rand::RngCore;
    let mut b = vec![0u8; bytes];
    rand::thread_rng().fill_bytes(&mut b);
    URL_SAFE_NO_PAD.encode(b)
}

/// Any other method on the POST-only endpoints.
async fn wrong_method(
    axum::extract::State(state): axum::extract::State<AppState>,
    method: http::Method,
) -> axum::response::Response {
    errors::post_only(&method).render(&state, None)
}

/// Entra routes (`/{tenant}/…`) and the Entra `/_sim` controls.
pub fn routes() -> axum::Router<AppState> {
    axum::Router::new()
        .route(
            "/{tenant}/oauth2/v2.0/token",
            post(token::token).fallback(wrong_method),
        )
        .route(
            "/{tenant}/oauth2/v2.0/devicecode",
            post(device::devicecode).fallback(wrong_method),
        )
        .route("/{tenant}/oauth2/v2.0/authorize", get(authorize::authorize))
        .route("/{tenant}/oauth2/v2.0/logout", get(oidc::logout))
        .route(
            "/{tenant}/v2.0/.well-known/openid-configuration",
            get(oidc::openid_configuration),
        )
        .route("/{tenant}/discovery/v2.0/keys", get(oidc::keys))
        .route(
            "/{tenant}/discovery/instance",
            get(oidc::instance_discovery),
        )
        .route("/{tenant}/adminconsent", get(oidc::admin_consent))
        .route("/oidc/userinfo", get(oidc::userinfo))
        .merge(sim::routes())
}
