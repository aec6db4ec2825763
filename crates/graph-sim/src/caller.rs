//! Who is calling Graph: the bearer token, verified against the emulator's key and clock, as
//! the claims Graph authorises by (`roles` for app-only, `scp` for delegated).

use crate::error::GraphError;
use crate::jwt::Jwt;
use crate::state::AppState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use std::collections::BTreeSet;

/// The audience Graph accepts (both the URI and Graph's app id appear in real tokens).
pub const GRAPH_AUDIENCES: &[&str] = &[
    "https://graph.microsoft.com",
    "https://graph.microsoft.com/",
    "00000003-0000-0000-c000-000000000000",
];

/// How many verified tokens are remembered before the cache starts over.
const VERIFIED_TOKEN_CACHE: usize = 10_000;

/// A verified caller.
#[derive(Debug, Clone)]
pub struct Caller {
    /// Client id of the calling application (`appid`).
    pub app_id: String,
    /// Tenant (`tid`).
    pub tenant_id: String,
    /// Application permissions (`roles`), empty without admin consent.
    pub roles: BTreeSet<String>,
    /// Delegated permissions (`scp`).
    pub scopes: BTreeSet<String>,
    /// Signed-in user's object id for delegated tokens (`oid`).
    pub user_id: Option<String>,
}

impl Caller {
    /// Whether the token is delegated (a user signed in).
    pub fn is_delegated(&self) -> bool {
        self.user_id.is_some()
    }

    /// Whether any of `perms` is granted: roles for app-only tokens, scopes for delegated ones.
    pub fn has_any(&self, perms: &[&str]) -> bool {
        let granted = if self.is_delegated() {
            &self.scopes
        } else {
            &self.roles
        };
        perms.iter().any(|p| granted.contains(*p))
    }

    /// `Ok` when any of `perms` is granted, otherwise the given service's 403.
    pub fn require(&self, perms: &[&str], denied: fn() -> GraphError) -> Result<(), GraphError> {
        if self.has_any(perms) {
            Ok(())
        } else {
            Err(denied())
        }
    }

    /// Verifies a bearer token against the emulator's signing key, clock and tenant.
    /// A token whose signature was verified once is remembered (until it expires), as Graph's
    /// front ends cache validated tokens; expiry is still checked on every call.
    pub fn from_token(state: &AppState, token: &str) -> Result<Caller, GraphError> {
        let token = token.trim();
        if token.is_empty() {
            return Err(GraphError::unauthenticated("Access token is empty."));
        }
        if let Some((caller, exp)) = state.verified_tokens.lock().get(token).cloned() {
            if state.clock.unix() >= exp {
                return Err(GraphError::unauthenticated(
                    "Access token has expired or is not yet valid.",
                ));
            }
            return Ok(caller);
        }
        let (caller, exp) = Self::verify(state, token)?;
        let mut cache = state.verified_tokens.lock();
        if cache.len() >= VERIFIED_TOKEN_CACHE {
            cache.clear();
        }
        cache.insert(token.to_string(), (caller.clone(), exp));
        Ok(caller)
    }

    fn verify(state: &AppState, token: &str) -> Result<(Caller, i64), GraphError> {
        let jwt = Jwt::parse(token).map_err(|_| {
            GraphError::unauthenticated("CompactToken parsing failed with error code: 80049217")
        })?;
        jwt.verify(&state.signing_key.public())
            .map_err(|_| GraphError::unauthenticated("Access token validation failure."))?;
        let aud = jwt.claim_str("aud").unwrap_or("");
        if !GRAPH_AUDIENCES.contains(&aud) {
            return Err(GraphError::unauthenticated(
                "Access token validation failure. Invalid audience.",
            ));
        }
        let now = state.clock.unix();
        let exp = jwt.claim_i64("exp").unwrap_or(0);
        let nbf = jwt.claim_i64("nbf").unwrap_or(0);
        if now >= exp || now + 300 < nbf {
            return Err(GraphError::unauthenticated(
                "Access token has expired or is not yet valid.",
            ));
        }
        let tenant_id = jwt.claim_str("tid").unwrap_or("").to_string();
        if tenant_id != state.tenant.read().tenant_id {
            return Err(GraphError::unauthenticated(
                "Access token validation failure. Invalid tenant.",
            ));
        }
        let roles = jwt
            .claims
            .get("roles")
            .and_then(|r| r.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let scopes = jwt
            .claim_str("scp")
            .map(|s| s.split_whitespace().map(str::to_string).collect())
            .unwrap_or_default();
        let delegated = jwt.claim_str("idtyp") == Some("user") || jwt.claims.contains_key("scp");
        let caller = Caller {
            app_id: jwt.claim_str("appid").unwrap_or("").to_string(),
            tenant_id,
            roles,
            scopes,
            user_id: if delegated {
                jwt.claim_str("oid").map(str::to_string)
            } else {
                None
            },
        };
        Ok((caller, exp))
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = GraphError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if let Some(c) = parts.extensions.get::<Caller>() {
            return Ok(c.clone());
        }
        let header = parts
            .headers
            .get(http::header::AUTHORIZATION)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("");
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .unwrap_or(if header.is_empty() { "" } else { header });
        let caller = Caller::from_token(state, token)?;
        parts.extensions.insert(caller.clone());
        Ok(caller)
    }
}
