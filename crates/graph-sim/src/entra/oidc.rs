//! OpenID discovery and keys, instance discovery, logout, the admin-consent endpoint and
//! Graph's OIDC UserInfo — all with absolute URLs on the origin the request came in on.

use super::authorize::{redirect, registered_redirect, with_params};
use super::delegated::pairwise_sub;
use super::errors::{json_response, EntraError};
use super::{resolve_tenant, Form, TenantRef};
use crate::caller::Caller;
use crate::error::{GraphError, GraphResult};
use crate::odata::RequestCtx;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// Discovery errors use `invalid_tenant`, as Entra's discovery documents do.
fn tenant_error(state: &AppState, e: EntraError) -> Response {
    let e = if e.code == 90002 {
        EntraError {
            error: "invalid_tenant",
            ..e
        }
    } else {
        e
    };
    e.render(state, None)
}

/// `GET /{tenant}/v2.0/.well-known/openid-configuration`.
pub async fn openid_configuration(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    ctx: RequestCtx,
) -> Response {
    let which = match resolve_tenant(&state, &tenant) {
        Ok(t) => t,
        Err(e) => return tenant_error(&state, e),
    };
    let tid = state.tenant.read().tenant_id.clone();
    // A specific tenant is published by its id; the aliases keep their name and issuer
    // carries Entra's `{tenantid}` placeholder.
    let (seg, issuer_tid) = match which {
        TenantRef::Ours => (tid.clone(), tid.clone()),
        _ => (tenant.to_ascii_lowercase(), "{tenantid}".to_string()),
    };
    let o = &ctx.origin;
    let host = o.split_once("://").map(|(_, h)| h).unwrap_or(o);
    json_response(
        StatusCode::OK,
        &json!({
            "token_endpoint": format!("{o}/{seg}/oauth2/v2.0/token"),
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "jwks_uri": format!("{o}/{seg}/discovery/v2.0/keys"),
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": format!("{o}/{issuer_tid}/v2.0"),
            "request_uri_parameter_supported": false,
            "userinfo_endpoint": format!("{o}/oidc/userinfo"),
            "authorization_endpoint": format!("{o}/{seg}/oauth2/v2.0/authorize"),
            "device_authorization_endpoint": format!("{o}/{seg}/oauth2/v2.0/devicecode"),
            "http_logout_supported": true,
            "frontchannel_logout_supported": true,
            "end_session_endpoint": format!("{o}/{seg}/oauth2/v2.0/logout"),
            "claims_supported": ["sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name", "msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "nonce", "preferred_username", "name", "tid", "ver", "at_hash", "c_hash", "email"],
            "kerberos_endpoint": format!("{o}/{seg}/kerberos"),
            "tenant_region_scope": "EU",
            "cloud_instance_name": "microsoftonline.com",
            "cloud_graph_host_name": "graph.windows.net",
            "msgraph_host": host,
            "rbac_url": "https://pas.windows.net",
        }),
    )
}

/// `GET /{tenant}/discovery/v2.0/keys`: the emulator's signing key as a JWKS, each key with
/// the `issuer` it signs for (as Entra publishes it).
pub async fn keys(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    ctx: RequestCtx,
) -> Response {
    let which = match resolve_tenant(&state, &tenant) {
        Ok(t) => t,
        Err(e) => return tenant_error(&state, e),
    };
    let tid = match which {
        TenantRef::Ours => state.tenant.read().tenant_id.clone(),
        _ => "{tenantid}".to_string(),
    };
    let mut key = state.signing_key.jwk();
    key["issuer"] = format!("{}/{tid}/v2.0", ctx.origin).into();
    json_response(StatusCode::OK, &json!({ "keys": [key] }))
}

/// `GET /common/discovery/instance`: instance discovery (MSAL calls it unless turned off);
/// the emulator is its own, only, cloud instance.
pub async fn instance_discovery(ctx: RequestCtx) -> Response {
    let o = &ctx.origin;
    let host = o.split_once("://").map(|(_, h)| h).unwrap_or(o).to_string();
    let tenant = ctx
        .param("authorization_endpoint")
        .and_then(|a| a.split_once("://").map(|(_, rest)| rest.to_string()))
        .and_then(|rest| rest.split('/').nth(1).map(str::to_string))
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| "common".to_string());
    json_response(
        StatusCode::OK,
        &json!({
            "tenant_discovery_endpoint": format!("{o}/{tenant}/v2.0/.well-known/openid-configuration"),
            "api-version": "1.1",
            "metadata": [{"preferred_network": host, "preferred_cache": host, "aliases": [host]}],
        }),
    )
}

/// `GET /{tenant}/oauth2/v2.0/logout`: back to `post_logout_redirect_uri`, or a plain page.
pub async fn logout(ctx: RequestCtx) -> Response {
    match ctx.param("post_logout_redirect_uri") {
        Some(uri) if !uri.is_empty() => redirect(uri),
        _ => (StatusCode::OK, "You have signed out of your account.").into_response(),
    }
}

/// `GET /{tenant}/adminconsent?client_id&redirect_uri&state`: the tenant admin grants consent
/// (always, in the emulator) and is sent back with `admin_consent=True&tenant=…&state=…`.
pub async fn admin_consent(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    ctx: RequestCtx,
) -> Response {
    let q = Form(ctx.query.clone());
    if let Err(e) = resolve_tenant(&state, &tenant) {
        return e.render(&state, None);
    }
    let Some(client_id) = q.get("client_id") else {
        return EntraError::missing("client_id").render(&state, None);
    };
    let found = state.tenant.read().apps.get(client_id).cloned();
    let Some(app) = found else {
        let domain = state.tenant.read().domain.clone();
        return EntraError::unknown_app(client_id, &domain).render(&state, None);
    };
    let uri = match registered_redirect(&app, q.get("redirect_uri")) {
        Ok(u) => u,
        Err(e) => return e.render(&state, None),
    };
    let tid = {
        let mut t = state.tenant.write();
        if let Some(a) = t.apps.get_mut(client_id) {
            a.admin_consented = true;
        }
        t.tenant_id.clone()
    };
    let mut params = vec![("admin_consent", "True"), ("tenant", tid.as_str())];
    if let Some(s) = q.get("state") {
        params.push(("state", s));
    }
    redirect(&with_params(&uri, &params, false))
}

/// `GET /oidc/userinfo` (Graph's OIDC UserInfo endpoint): the signed-in user's profile claims,
/// for a delegated token that has the `openid` scope.
pub async fn userinfo(
    State(state): State<AppState>,
    caller: Caller,
    ctx: RequestCtx,
) -> GraphResult<Response> {
    let Some(user_id) = caller.user_id.as_deref() else {
        return Err(GraphError::unauthenticated(
            "The UserInfo endpoint needs a delegated token (a signed-in user).",
        ));
    };
    if !caller.scopes.contains("openid") {
        return Err(GraphError::new(
            StatusCode::FORBIDDEN,
            "Authorization_RequestDenied",
            "The token does not have the 'openid' scope required by the UserInfo endpoint.",
        ));
    }
    let t = state.tenant.read();
    let user = t
        .users
        .get(user_id)
        .ok_or_else(|| GraphError::directory_not_found(user_id))?;
    let mut body = json!({
        "sub": pairwise_sub(user_id, &caller.app_id),
        "name": user.display_name,
        "family_name": user.surname,
        "given_name": user.given_name,
        "picture": format!("{}/v1.0/me/photo/$value", ctx.origin),
    });
    if caller.scopes.contains("email") {
        body["email"] = json!(user.mail);
    }
    Ok(json_response(StatusCode::OK, &body))
}
