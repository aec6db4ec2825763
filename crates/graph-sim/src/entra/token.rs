//! `POST /{tenant}/oauth2/v2.0/token`: client authentication (secret in the body or HTTP
//! Basic, or a certificate assertion) and the grants — `client_credentials` here, the delegated
//! ones in [`super::delegated`].

use super::errors::{json_response, EntraError, EntraResult};
use super::{assertion, authorize, delegated, device, resolve_tenant, Form, TenantRef};
use crate::model::App;
use crate::odata::RequestCtx;
use crate::state::{AppState, SimState};
use crate::tokens::GRAPH_APP_ID;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use bytes::Bytes;
use serde_json::json;

/// The identifiers Entra accepts for Microsoft Graph as a resource.
pub const GRAPH_RESOURCES: &[&str] = &[
    "https://graph.microsoft.com",
    "https://graph.microsoft.com/",
    GRAPH_APP_ID,
];

/// How the client proved who it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// Nothing (a public client).
    None,
    /// A client secret (form field or HTTP Basic).
    Secret(String),
    /// A JWT client assertion and its declared type.
    Assertion {
        /// `client_assertion_type` as sent.
        kind: Option<String>,
        /// The JWT.
        jwt: String,
    },
}

/// Everything a grant needs to know about the request.
pub struct TokenRequest<'a> {
    /// The emulator.
    pub state: &'a SimState,
    /// Which tenant the path named.
    pub tenant: TenantRef,
    /// The `{tenant}` segment as sent.
    pub tenant_segment: &'a str,
    /// `scheme://host:port` the request came in on.
    pub origin: &'a str,
    /// The form body.
    pub form: &'a Form,
    /// `client_id` from the form or the Basic header.
    pub client_id: Option<String>,
    /// The client's credential.
    pub credential: Credential,
}

fn percent_decode_form(s: &str) -> String {
    let spaced = s.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8_lossy()
        .into_owned()
}

/// Reads `client_id` and the credential from the form and the `Authorization: Basic` header.
fn client_credential(
    form: &Form,
    headers: &HeaderMap,
) -> EntraResult<(Option<String>, Credential)> {
    let basic = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| {
            h.strip_prefix("Basic ")
                .or_else(|| h.strip_prefix("basic "))
        })
        .map(|b64| -> EntraResult<(String, String)> {
            let raw = STANDARD
                .decode(b64.trim())
                .map_err(|_| EntraError::malformed())?;
            let text = String::from_utf8(raw).map_err(|_| EntraError::malformed())?;
            let (id, secret) = text.split_once(':').ok_or_else(EntraError::malformed)?;
            Ok((percent_decode_form(id), percent_decode_form(secret)))
        })
        .transpose()?;
    let mut client_id = form.get("client_id").map(str::to_string);
    let mut secret = form.get("client_secret").map(str::to_string);
    if let Some((id, s)) = basic {
        match &client_id {
            Some(body_id) if !body_id.eq_ignore_ascii_case(&id) => {
                return Err(EntraError::bad(
                    "invalid_request",
                    90023,
                    "The client_id in the Authorization header does not match the client_id in the request body.",
                ))
            }
            _ => client_id = Some(id),
        }
        if secret.is_none() {
            secret = Some(s);
        }
    }
    let assertion = form.get("client_assertion");
    let credential =
        match (secret, assertion) {
            (Some(_), Some(_)) => return Err(EntraError::bad(
                "invalid_request",
                90023,
                "The request must contain either 'client_secret' or 'client_assertion', not both.",
            )),
            (Some(s), None) => Credential::Secret(s),
            (None, Some(a)) => Credential::Assertion {
                kind: form.get("client_assertion_type").map(str::to_string),
                jwt: a.to_string(),
            },
            (None, None) => Credential::None,
        };
    Ok((client_id, credential))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn expired(end: &str, now: chrono::DateTime<chrono::Utc>) -> bool {
    chrono::DateTime::parse_from_rfc3339(end)
        .map(|t| t < now)
        .or_else(|_| {
            chrono::NaiveDateTime::parse_from_str(end, "%Y-%m-%dT%H:%M:%S%.f")
                .map(|t| t.and_utc() < now)
        })
        .unwrap_or(false)
}

impl TokenRequest<'_> {
    /// The tenant's name as Entra prints it in messages.
    pub fn tenant_name(&self) -> String {
        let t = self.state.tenant.read();
        if t.display_name.is_empty() {
            t.domain.clone()
        } else {
            t.display_name.clone()
        }
    }

    /// The `client_id` (AADSTS900144 when missing) and its app (AADSTS700016 when unknown).
    pub fn app(&self) -> EntraResult<App> {
        let id = self
            .client_id
            .as_deref()
            .ok_or_else(|| EntraError::missing("client_id"))?;
        let found = self.state.tenant.read().apps.get(id).cloned();
        found.ok_or_else(|| EntraError::unknown_app(id, &self.tenant_name()))
    }

    /// Audiences a client assertion may name: this tenant's token endpoint on the emulator's
    /// origins (and on login.microsoftonline.com), by tenant id, domain or the path segment.
    pub fn assertion_audiences(&self) -> Vec<String> {
        let (tid, domain) = {
            let t = self.state.tenant.read();
            (t.tenant_id.clone(), t.domain.clone())
        };
        let mut origins = vec![
            self.origin.to_string(),
            "https://login.microsoftonline.com".to_string(),
        ];
        if let Some(e) = self.state.endpoints.get() {
            origins.push(e.http.clone());
            origins.extend(e.https.clone());
        }
        let mut out = Vec::new();
        for o in &origins {
            for t in [&tid, &domain, &self.tenant_segment.to_string()] {
                out.push(format!("{o}/{t}/oauth2/v2.0/token"));
            }
        }
        out
    }

    /// Checks the client's credential against `app`. A public client may send none when
    /// `public_ok`; a confidential one must (AADSTS7000218).
    pub fn authenticate(&self, app: &App, public_ok: bool) -> EntraResult<()> {
        match &self.credential {
            Credential::None if public_ok && app.allow_public_client => Ok(()),
            Credential::None => Err(EntraError::no_credential()),
            Credential::Secret(s) => {
                let now = self.state.clock.now();
                match app
                    .secrets
                    .iter()
                    .find(|k| constant_time_eq(k.value.as_bytes(), s.as_bytes()))
                {
                    Some(k) if expired(&k.end_date_time, now) => Err(EntraError::invalid_client(
                        7000222,
                        format!(
                            "The provided client secret keys for app '{}' are expired. Visit the Azure portal to create new keys for your app: https://aka.ms/NewClientSecret, or consider using certificate credentials for added security: https://aka.ms/certCreds.",
                            app.client_id
                        ),
                    )),
                    Some(_) => Ok(()),
                    None => Err(EntraError::invalid_client(
                        7000215,
                        format!(
                            "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{}'.",
                            app.client_id
                        ),
                    )),
                }
            }
            Credential::Assertion { kind, jwt } => {
                match kind.as_deref() {
                    None => return Err(EntraError::missing("client_assertion_type")),
                    Some(assertion::JWT_BEARER) => {}
                    Some(other) => {
                        return Err(EntraError::bad(
                            "invalid_request",
                            90014,
                            format!(
                                "The client_assertion_type '{other}' is not supported. Use '{}'.",
                                assertion::JWT_BEARER
                            ),
                        ))
                    }
                }
                assertion::verify(self.state, app, jwt, &self.assertion_audiences())
            }
        }
    }
}

/// Checks a client-credentials `scope`: exactly one resource, `/.default`, and that resource
/// is Microsoft Graph.
fn check_app_scope(scope: &str, tenant_name: &str) -> EntraResult<()> {
    let items: Vec<&str> = scope.split_whitespace().collect();
    let mut resources: Vec<&str> = Vec::new();
    for item in &items {
        let Some(resource) = item.strip_suffix("/.default") else {
            return Err(EntraError::bad(
                "invalid_scope",
                70011,
                format!("The provided value for the input parameter 'scope' is not valid. The scope {scope} is not valid."),
            ));
        };
        let resource = resource.trim_end_matches('/');
        if !resources.iter().any(|r| r.eq_ignore_ascii_case(resource)) {
            resources.push(resource);
        }
    }
    if resources.len() > 1 {
        return Err(EntraError::bad(
            "invalid_scope",
            700022,
            format!("The provided value for the input parameter scope is not valid because it contains more than one resource. Scope {scope} is not valid."),
        ));
    }
    match resources.first() {
        Some(r) if GRAPH_RESOURCES.iter().any(|g| g.trim_end_matches('/').eq_ignore_ascii_case(r)) => Ok(()),
        Some(r) => Err(EntraError::bad(
            "invalid_resource",
            500011,
            format!("The resource principal named {r} was not found in the tenant named {tenant_name}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant."),
        )),
        None => Err(EntraError::missing("scope")),
    }
}

fn client_credentials(req: &TokenRequest<'_>) -> EntraResult<Response> {
    match req.tenant {
        TenantRef::Ours => {}
        TenantRef::Organizations => {
            // ⚠ What Entra answers for client credentials on /organizations is not documented.
            return Err(EntraError::bad(
                "invalid_request",
                50059,
                "No tenant-identifying information found in either the request or implied by any provided credentials.",
            ));
        }
        TenantRef::Common | TenantRef::Consumers => {
            return Err(EntraError::bad(
                "invalid_request",
                9001023,
                "The grant type is not supported over the /common or /consumers endpoints. Please use the /organizations or tenant-specific endpoint.",
            ))
        }
    }
    if req.client_id.is_none() {
        return Err(EntraError::missing("client_id"));
    }
    let scope = req.form.require("scope")?;
    let app = req.app()?;
    check_app_scope(scope, &req.tenant_name())?;
    req.authenticate(&app, false)?;
    let issued = req
        .state
        .issue_app_token(&app.client_id)
        .ok_or_else(|| EntraError::unknown_app(&app.client_id, &req.tenant_name()))?;
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "token_type": "Bearer",
            "expires_in": issued.expires_in,
            "ext_expires_in": issued.expires_in,
            "access_token": issued.access_token,
        }),
    ))
}

fn dispatch(
    state: &SimState,
    tenant_segment: &str,
    origin: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> EntraResult<Response> {
    let tenant = resolve_tenant(state, tenant_segment)?;
    let form = Form::parse(body)?;
    let grant = form.require("grant_type")?.to_string();
    let (client_id, credential) = client_credential(&form, headers)?;
    let req = TokenRequest {
        state,
        tenant,
        tenant_segment,
        origin,
        form: &form,
        client_id,
        credential,
    };
    match grant.as_str() {
        "client_credentials" => client_credentials(&req),
        device::DEVICE_CODE_GRANT | "device_code" => device::device_code_grant(&req),
        "refresh_token" => delegated::refresh_grant(&req),
        "authorization_code" => authorize::authorization_code_grant(&req),
        other => Err(EntraError::bad(
            "unsupported_grant_type",
            70003,
            format!("The app requested an unsupported grant type '{other}'."),
        )),
    }
}

/// `POST /{tenant}/oauth2/v2.0/token`.
pub async fn token(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    ctx: RequestCtx,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let correlation = headers
        .get("client-request-id")
        .and_then(|h| h.to_str().ok())
        .map(str::to_string);
    match dispatch(&state, &tenant, &ctx.origin, &headers, &body) {
        Ok(r) => r,
        Err(e) => e.render(&state, correlation.as_deref()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_scope_rules() {
        assert_eq!(
            check_app_scope("https://graph.microsoft.com/.default", "t"),
            Ok(())
        );
        assert_eq!(
            check_app_scope("00000003-0000-0000-c000-000000000000/.default", "t"),
            Ok(())
        );
        assert_eq!(check_app_scope("User.Read", "t").unwrap_err().code, 70011);
        assert_eq!(
            check_app_scope(
                "https://graph.microsoft.com/.default https://vault.azure.net/.default",
                "t"
            )
            .unwrap_err()
            .code,
            700022
        );
        let e = check_app_scope("https://vault.azure.net/.default", "t").unwrap_err();
        assert_eq!((e.error, e.code), ("invalid_resource", 500011));
    }

    #[test]
    fn secret_expiry_parses_rfc3339() {
        let now = chrono::Utc::now();
        assert!(expired("2001-01-01T00:00:00Z", now));
        assert!(!expired("2999-01-01T00:00:00Z", now));
        assert!(expired("2001-01-01T00:00:00", now));
    }
}
