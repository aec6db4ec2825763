//! What a user sign-in yields, whichever flow it came through (device code in [`super::device`],
//! authorization code in [`super::authorize`]): the scopes granted, the delegated access token,
//! the ID token and a refresh token; and the `refresh_token` grant, which rotates it.

use super::errors::{json_response, EntraError, EntraResult};
use super::token::TokenRequest;
use super::token::GRAPH_RESOURCES;
use super::{random_token, TenantRef};
use crate::model::App;
use crate::state::SimState;
use axum::http::StatusCode;
use axum::response::Response;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::json;
use sha2::{Digest, Sha256};

/// A refresh token unused for this long (seconds; 90 days) has expired.
pub const REFRESH_INACTIVITY: i64 = 90 * 24 * 3600;
/// ID token lifetime (seconds).
pub const ID_TOKEN_LIFETIME: i64 = 3600;

/// A live refresh token.
#[derive(Debug, Clone)]
pub struct RefreshGrant {
    /// The app it was issued to.
    pub client_id: String,
    /// The signed-in user's object id.
    pub user_id: String,
    /// `scope` of the sign-in (space-separated).
    pub scope: String,
    /// When the user originally signed in (emulated unix time).
    pub issued_at: i64,
    /// When this token was issued (inactivity counts from here).
    pub last_used: i64,
    /// Set when the user's sessions were revoked (emulated unix time).
    pub revoked_at: Option<i64>,
}

const OIDC_SCOPES: &[&str] = &["openid", "profile", "email"];

/// The scopes a sign-in yields: Graph scopes the app registered, OIDC scopes, offline access.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Granted {
    /// Graph delegated permissions (app's casing).
    pub graph: Vec<String>,
    /// `openid`, `profile`, `email` as requested.
    pub oidc: Vec<String>,
    /// `offline_access` requested (a refresh token is issued).
    pub offline: bool,
}

impl Granted {
    /// Reduces a requested `scope` to what `app` may get: Graph scopes (bare, prefixed with
    /// Graph's URI or app id, or `/.default` for all) that the app registered.
    pub fn for_app(app: &App, requested: &str) -> Granted {
        let mut g = Granted::default();
        let add = |g: &mut Granted, s: &str| {
            if let Some(known) = app
                .delegated_scopes
                .iter()
                .find(|k| k.eq_ignore_ascii_case(s))
            {
                if !g.graph.contains(known) {
                    g.graph.push(known.clone());
                }
            }
        };
        for item in requested.split_whitespace() {
            let lower = item.to_ascii_lowercase();
            if OIDC_SCOPES.contains(&lower.as_str()) {
                if !g.oidc.contains(&lower) {
                    g.oidc.push(lower);
                }
                continue;
            }
            if lower == "offline_access" {
                g.offline = true;
                continue;
            }
            let graph_name = match item.rsplit_once('/') {
                Some((res, name)) => GRAPH_RESOURCES
                    .iter()
                    .any(|r| {
                        r.trim_end_matches('/')
                            .eq_ignore_ascii_case(res.trim_end_matches('/'))
                    })
                    .then_some(name),
                None if !item.contains(':') => Some(item),
                None => None,
            };
            match graph_name {
                Some(".default") => {
                    for s in &app.delegated_scopes {
                        add(&mut g, s);
                    }
                }
                Some(name) => add(&mut g, name),
                None => {}
            }
        }
        g
    }

    /// The `scp` claim's scopes.
    pub fn scp(&self) -> Vec<String> {
        self.graph.iter().chain(&self.oidc).cloned().collect()
    }

    /// The response's `scope`.
    pub fn scope_text(&self) -> String {
        let mut v = self.scp();
        if self.offline {
            v.push("offline_access".into());
        }
        v.join(" ")
    }
}

/// Refuses delegated flows on `/consumers`, and on `/common` for this single-tenant app.
pub(crate) fn check_delegated_tenant(tenant: TenantRef, app: &App) -> EntraResult<()> {
    match tenant {
        TenantRef::Ours | TenantRef::Organizations => Ok(()),
        TenantRef::Common => Err(EntraError::bad(
            "invalid_request",
            50194,
            format!(
                "Application '{}'({}) is not configured as a multi-tenant application. Usage of the /common endpoint is not supported for such applications created after '10/15/2018'. Use a tenant-specific endpoint or configure the application to be multi-tenant.",
                app.client_id, app.display_name
            ),
        )),
        TenantRef::Consumers => Err(EntraError::bad(
            "invalid_request",
            9002332,
            format!(
                "Application '{}'({}) is configured for use by Azure Active Directory users only. Please do not use the /consumers endpoint to serve this request.",
                app.client_id, app.display_name
            ),
        )),
    }
}

/// The delegated tokens of a completed sign-in, as Entra's token response.
pub(crate) fn issue_user_tokens(
    req: &TokenRequest<'_>,
    app: &App,
    user_id: &str,
    scope: &str,
    nonce: Option<&str>,
    signed_in_at: i64,
) -> EntraResult<Response> {
    let state = req.state;
    let granted = Granted::for_app(app, scope);
    let enabled = state
        .tenant
        .read()
        .users
        .get(user_id)
        .map(|u| u.account_enabled != Some(false));
    if enabled == Some(false) {
        return Err(EntraError::bad(
            "invalid_grant",
            50057,
            "The user account is disabled.",
        ));
    }
    let access = state
        .issue_delegated_token(&app.client_id, user_id, &granted.scp())
        .ok_or_else(|| {
            EntraError::bad(
                "invalid_grant",
                50034,
                format!("The user account {user_id} does not exist in the directory. To sign into this application, the account must be added to the directory."),
            )
        })?;
    let (tid, upn, name, mail) = {
        let t = state.tenant.read();
        let u = t.users.get(user_id);
        (
            t.tenant_id.clone(),
            u.and_then(|u| u.user_principal_name.clone())
                .unwrap_or_default(),
            u.and_then(|u| u.display_name.clone()).unwrap_or_default(),
            u.and_then(|u| u.mail.clone()),
        )
    };
    let now = state.clock.unix();
    let mut body = json!({
        "token_type": "Bearer",
        "scope": granted.scope_text(),
        "expires_in": access.expires_in,
        "ext_expires_in": access.expires_in,
        "access_token": access.access_token,
    });
    if granted.oidc.iter().any(|s| s == "openid") {
        let sub = pairwise_sub(user_id, &app.client_id);
        let mut claims = json!({
            "aud": app.client_id,
            "iss": format!("{}/{tid}/v2.0", req.origin),
            "iat": now,
            "nbf": now,
            "exp": now + ID_TOKEN_LIFETIME,
            "auth_time": signed_in_at,
            "name": name,
            "oid": user_id,
            "preferred_username": upn,
            "sub": sub,
            "tid": tid,
            "ver": "2.0",
            "uti": uuid::Uuid::new_v4().simple().to_string(),
        });
        if let Some(n) = nonce {
            claims["nonce"] = n.into();
        }
        if let (Some(m), true) = (mail, granted.oidc.iter().any(|s| s == "email")) {
            claims["email"] = m.into();
        }
        body["id_token"] = state.signing_key.sign(&claims).into();
    }
    if granted.offline {
        let token = random_token(64);
        state.entra.lock().refresh_tokens.insert(
            token.clone(),
            RefreshGrant {
                client_id: app.client_id.clone(),
                user_id: user_id.to_string(),
                scope: scope.to_string(),
                issued_at: signed_in_at,
                last_used: now,
                revoked_at: None,
            },
        );
        body["refresh_token"] = token.into();
    }
    if req.form.get("client_info") == Some("1") {
        let info = json!({"uid": user_id, "utid": tid}).to_string();
        body["client_info"] = URL_SAFE_NO_PAD.encode(info).into();
    }
    Ok(json_response(StatusCode::OK, &body))
}

/// The ID token's `sub`: stable per user and app, different across apps (Entra's pairwise id).
pub fn pairwise_sub(user_id: &str, client_id: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(format!("{user_id}:{client_id}")))
}

fn entra_date(unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0)
        .map(|t| t.format("%m/%d/%Y %H:%M:%S").to_string())
        .unwrap_or_default()
}

/// `grant_type=refresh_token`: redeems and rotates a refresh token.
pub fn refresh_grant(req: &TokenRequest<'_>) -> EntraResult<Response> {
    let token = req.form.require("refresh_token")?.to_string();
    let app = req.app()?;
    check_delegated_tenant(req.tenant, &app)?;
    req.authenticate(&app, true)?;
    let now = req.state.clock.unix();
    let grant = {
        let mut entra = req.state.entra.lock();
        let invalid = || {
            EntraError::bad(
                "invalid_grant",
                70000,
                "Provided grant is invalid or malformed. The refresh token is not valid or has already been used.",
            )
        };
        let grant = entra.refresh_tokens.remove(&token).ok_or_else(invalid)?;
        if grant.client_id != app.client_id {
            entra.refresh_tokens.insert(token, grant);
            return Err(invalid());
        }
        if let Some(revoked) = grant.revoked_at {
            let issued = grant.issued_at;
            entra.refresh_tokens.insert(token, grant);
            return Err(EntraError::bad(
                "invalid_grant",
                50173,
                format!(
                    "The provided grant has expired due to it being revoked, a fresh auth token is needed. The user might have changed or reset their password. The grant was issued on '{}' and the TokensValidFrom date (before which tokens are not valid) for this user is '{}'.",
                    entra_date(issued),
                    entra_date(revoked)
                ),
            ));
        }
        if now - grant.last_used > REFRESH_INACTIVITY {
            return Err(EntraError::bad(
                "invalid_grant",
                700082,
                format!(
                    "The refresh token has expired due to inactivity. The token was issued on {} and was inactive for 90.00:00:00.",
                    chrono::DateTime::from_timestamp(grant.last_used, 0)
                        .map(|t| t.format("%Y-%m-%dT%H:%M:%S.0000000Z").to_string())
                        .unwrap_or_default()
                ),
            ));
        }
        grant
    };
    let mut scope = req.form.get("scope").unwrap_or(&grant.scope).to_string();
    if !scope
        .split_whitespace()
        .any(|s| s.eq_ignore_ascii_case("offline_access"))
    {
        scope.push_str(" offline_access");
    }
    issue_user_tokens(req, &app, &grant.user_id, &scope, None, grant.issued_at)
}

/// Marks all of a user's refresh tokens revoked (a password change); returns how many.
pub fn revoke_sessions(state: &SimState, user_id: &str) -> usize {
    let now = state.clock.unix();
    let mut entra = state.entra.lock();
    let mut n = 0;
    for g in entra.refresh_tokens.values_mut() {
        if g.user_id == user_id && g.revoked_at.is_none() {
            g.revoked_at = Some(now);
            n += 1;
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app() -> App {
        App {
            client_id: "c".into(),
            delegated_scopes: ["User.Read".to_string(), "Contacts.Read".to_string()]
                .into_iter()
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn granted_scopes_keep_registered_graph_scopes_only() {
        let g = Granted::for_app(
            &app(),
            "openid profile offline_access https://graph.microsoft.com/user.read Mail.Send api://x/y",
        );
        assert_eq!(g.graph, vec!["User.Read".to_string()]);
        assert_eq!(g.oidc, vec!["openid".to_string(), "profile".to_string()]);
        assert!(g.offline);
        let d = Granted::for_app(&app(), "https://graph.microsoft.com/.default");
        assert_eq!(d.graph.len(), 2);
        assert!(!d.offline);
    }
}
