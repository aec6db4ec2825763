//! Access tokens and what they say about themselves.

use super::credential::Secret;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use serde::Deserialize;

/// What an access token says, read without verifying it (Graph verifies; we only look):
/// the permissions granted and when it runs out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    /// Application permissions (`roles`); empty when admin consent is missing.
    pub roles: Vec<String>,
    /// Delegated scopes (`scp`), space-separated in the token, split here.
    pub scopes: Vec<String>,
    /// When the token expires (by the provider's clock).
    pub expires_at: DateTime<Utc>,
    /// The tenant (`tid`) that issued it.
    pub tenant_id: Option<String>,
}

impl TokenInfo {
    /// Whether the token carries this application permission.
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r.eq_ignore_ascii_case(role))
    }

    /// The application permissions of `needed` this token lacks (all of them when admin
    /// consent is missing, as such tokens carry no roles).
    pub fn missing_roles<'a>(&self, needed: &[&'a str]) -> Vec<&'a str> {
        needed
            .iter()
            .copied()
            .filter(|r| !self.has_role(r))
            .collect()
    }
}

/// A bearer token and what it says.
#[derive(Debug, Clone)]
pub struct AccessToken {
    /// The token itself.
    pub secret: Secret,
    /// Its claims of interest.
    pub info: TokenInfo,
}

#[derive(Deserialize, Default)]
struct Claims {
    #[serde(default)]
    roles: Vec<String>,
    #[serde(default)]
    scp: Option<String>,
    #[serde(default)]
    tid: Option<String>,
}

impl AccessToken {
    /// Reads the claims of `token` (a JWT); a token that is not a readable JWT gives empty
    /// roles rather than an error, as Graph alone judges it.
    pub fn parse(token: String, expires_at: DateTime<Utc>) -> AccessToken {
        let claims = token
            .split('.')
            .nth(1)
            .and_then(|p| URL_SAFE_NO_PAD.decode(p.trim_end_matches('=')).ok())
            .and_then(|b| serde_json::from_slice::<Claims>(&b).ok())
            .unwrap_or_default();
        AccessToken {
            secret: Secret::new(token),
            info: TokenInfo {
                roles: claims.roles,
                scopes: claims
                    .scp
                    .map(|s| s.split_whitespace().map(str::to_string).collect())
                    .unwrap_or_default(),
                expires_at,
                tenant_id: claims.tid,
            },
        }
    }
}

/// Entra's successful token answer.
#[derive(Deserialize)]
pub(crate) struct TokenResponse {
    pub access_token: String,
    pub expires_in: i64,
    #[serde(default)]
    pub refresh_token: Option<String>,
    #[serde(default)]
    pub scope: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_roles_without_verifying() {
        let payload = URL_SAFE_NO_PAD.encode(r#"{"roles":["User.Read.All"],"tid":"t"}"#);
        let t = AccessToken::parse(format!("h.{payload}.sig"), Utc::now());
        assert_eq!(t.info.roles, vec!["User.Read.All".to_string()]);
        assert_eq!(t.info.tenant_id.as_deref(), Some("t"));
        assert_eq!(format!("{:?}", t.secret), "[redacted]");
    }
}
