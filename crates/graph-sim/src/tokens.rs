//! Access tokens as Entra issues them for Graph: RS256 JWTs with `aud`, `iss`, `tid`, `appid`,
//! `oid`, `exp`, and `roles` (app-only; absent without admin consent) or `scp` (delegated).

use crate::state::SimState;
use serde_json::{json, Value};

/// Graph's resource app id.
pub const GRAPH_APP_ID: &str = "00000003-0000-0000-c000-000000000000";

/// A freshly issued access token and its lifetime.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    /// The JWT.
    pub access_token: String,
    /// Seconds until it expires.
    pub expires_in: i64,
}

impl SimState {
    fn base_claims(
        &self,
        client_id: &str,
        app_name: &str,
    ) -> (serde_json::Map<String, Value>, i64) {
        let now = self.clock.unix();
        let lifetime = self.behaviour.read().token_lifetime_secs;
        let tid = self.tenant.read().tenant_id.clone();
        let Value::Object(m) = json!({
            "aud": "https://graph.microsoft.com",
            "iss": format!("https://sts.windows.net/{tid}/"),
            "iat": now,
            "nbf": now,
            "exp": now + lifetime,
            "appid": client_id,
            "app_displayname": app_name,
            "appidacr": "1",
            "tid": tid,
            "ver": "1.0",
            "uti": uuid::Uuid::new_v4().simple().to_string(),
        }) else {
            unreachable!("json! object literal")
        };
        (m, lifetime)
    }

    /// Issues an app-only token for `client_id` carrying the app's consented roles (none when
    /// the app has no admin consent, as Entra does). `None` for an unknown app.
    pub fn issue_app_token(&self, client_id: &str) -> Option<IssuedToken> {
        let (name, roles) = {
            let t = self.tenant.read();
            let app = t.apps.get(client_id)?;
            let roles: Vec<String> = if app.admin_consented {
                app.app_roles.iter().cloned().collect()
            } else {
                Vec::new()
            };
            (app.display_name.clone(), roles)
        };
        let (mut claims, lifetime) = self.base_claims(client_id, &name);
        claims.insert("idtyp".into(), "app".into());
        claims.insert("oid".into(), service_principal_id(client_id).into());
        claims.insert("sub".into(), service_principal_id(client_id).into());
        if !roles.is_empty() {
            claims.insert("roles".into(), json!(roles));
        }
        Some(IssuedToken {
            access_token: self.signing_key.sign(&Value::Object(claims)),
            expires_in: lifetime,
        })
    }

    /// Issues a delegated token for `user_id` signed in to `client_id` with `scopes`
    /// (already reduced to what was consented).
    pub fn issue_delegated_token(
        &self,
        client_id: &str,
        user_id: &str,
        scopes: &[String],
    ) -> Option<IssuedToken> {
        let (name, upn, display) = {
            let t = self.tenant.read();
            let app = t.apps.get(client_id)?;
            let user = t.users.get(user_id)?;
            (
                app.display_name.clone(),
                user.user_principal_name.clone().unwrap_or_default(),
                user.display_name.clone().unwrap_or_default(),
            )
        };
        let (mut claims, lifetime) = self.base_claims(client_id, &name);
        claims.insert("idtyp".into(), "user".into());
        claims.insert("oid".into(), user_id.into());
        claims.insert("sub".into(), user_id.into());
        claims.insert("upn".into(), upn.into());
        claims.insert("name".into(), display.into());
        claims.insert("scp".into(), scopes.join(" ").into());
        Some(IssuedToken {
            access_token: self.signing_key.sign(&Value::Object(claims)),
            expires_in: lifetime,
        })
    }
}

/// A stable service-principal object id for an app (derived, so tokens agree across calls).
pub fn service_principal_id(client_id: &str) -> String {
    use sha2::{Digest, Sha256};
    let d = Sha256::digest(format!("sp:{client_id}").as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    uuid::Builder::from_random_bytes(b).into_uuid().to_string()
}
