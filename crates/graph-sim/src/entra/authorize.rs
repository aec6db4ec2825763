//! Authorization code with PKCE: `GET /{tenant}/oauth2/v2.0/authorize` signs a user in without
//! a page and answers the client (query, fragment or form post); the `authorization_code`
//! grant redeems the code once, checking the redirect URI and the PKCE verifier.

use super::delegated::{check_delegated_tenant, issue_user_tokens};
use super::errors::{EntraError, EntraResult};
use super::token::TokenRequest;
use super::{random_token, resolve_tenant, Form};
use crate::model::App;
use crate::odata::RequestCtx;
use crate::state::{AppState, SimState};
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};

/// Authorization codes live this long (seconds).
pub const AUTH_CODE_LIFETIME: i64 = 600;

/// An authorization code handed out by `/authorize`.
#[derive(Debug, Clone)]
pub struct AuthCode {
    /// The app it was issued to.
    pub client_id: String,
    /// The signed-in user's object id.
    pub user_id: String,
    /// `scope` as requested.
    pub scope: String,
    /// `redirect_uri` it was sent to (must be repeated at the token endpoint).
    pub redirect_uri: String,
    /// PKCE `(method, challenge)`.
    pub challenge: Option<(String, String)>,
    /// OIDC `nonce`, echoed in the ID token.
    pub nonce: Option<String>,
    /// Emulated unix time it expires.
    pub expires_at: i64,
    /// Already exchanged for tokens.
    pub redeemed: bool,
}

/// Whether `verifier` answers the PKCE `(method, challenge)`.
pub fn pkce_matches(method: &str, challenge: &str, verifier: &str) -> bool {
    if method.eq_ignore_ascii_case("S256") {
        URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) == challenge
    } else {
        verifier == challenge
    }
}

/// `grant_type=authorization_code`: redeems a code from `/authorize` (PKCE checked).
pub fn authorization_code_grant(req: &TokenRequest<'_>) -> EntraResult<Response> {
    let code = req.form.require("code")?.to_string();
    let app = req.app()?;
    check_delegated_tenant(req.tenant, &app)?;
    let redirect_uri = req.form.require("redirect_uri")?.to_string();
    req.authenticate(&app, true)?;
    let now = req.state.clock.unix();
    let ac = {
        let mut entra = req.state.entra.lock();
        entra
            .auth_codes
            .retain(|_, c| c.expires_at + AUTH_CODE_LIFETIME > now);
        let Some(ac) = entra
            .auth_codes
            .get_mut(&code)
            .filter(|c| c.client_id == app.client_id)
        else {
            return Err(EntraError::bad(
                "invalid_grant",
                70000,
                "The provided value for the 'code' parameter is not valid.",
            ));
        };
        if ac.redeemed {
            return Err(EntraError::bad(
                "invalid_grant",
                54005,
                "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.",
            ));
        }
        if now >= ac.expires_at {
            return Err(EntraError::bad(
                "invalid_grant",
                70008,
                "The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.",
            ));
        }
        if ac.redirect_uri != redirect_uri {
            return Err(EntraError::bad(
                "invalid_grant",
                500112,
                format!(
                    "The reply address '{redirect_uri}' does not match the reply address '{}' provided when requesting Authorization code.",
                    ac.redirect_uri
                ),
            ));
        }
        if let Some((method, challenge)) = &ac.challenge {
            let verifier = req
                .form
                .get("code_verifier")
                .ok_or_else(|| EntraError::missing("code_verifier"))?;
            if !pkce_matches(method, challenge, verifier) {
                return Err(EntraError::bad(
                    "invalid_grant",
                    501481,
                    "The Code_Verifier does not match the code_challenge supplied in the authorization request.",
                ));
            }
        }
        ac.redeemed = true;
        ac.clone()
    };
    issue_user_tokens(req, &app, &ac.user_id, &ac.scope, ac.nonce.as_deref(), now)
}

/// Appends query (or fragment) parameters to a redirect URI.
pub fn with_params(uri: &str, params: &[(&str, &str)], fragment: bool) -> String {
    let encoded = serde_urlencoded::to_string(params).unwrap_or_default();
    let sep = if fragment {
        '#'
    } else if uri.contains('?') {
        '&'
    } else {
        '?'
    };
    format!("{uri}{sep}{encoded}")
}

/// A 302 to `location`.
pub fn redirect(location: &str) -> Response {
    let mut r = StatusCode::FOUND.into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        r.headers_mut().insert(http::header::LOCATION, v);
    }
    r.headers_mut().insert(
        http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-store, no-cache"),
    );
    r
}

/// Checks `redirect_uri` against the app's registered ones (AADSTS50011); a missing one
/// defaults to the only registered URI (AADSTS900971 when there is none or several).
pub fn registered_redirect(app: &App, given: Option<&str>) -> EntraResult<String> {
    match given {
        Some(uri) if app.redirect_uris.iter().any(|r| r == uri) => Ok(uri.to_string()),
        Some(uri) => Err(EntraError::bad(
            "invalid_request",
            50011,
            format!(
                "The redirect URI '{uri}' specified in the request does not match the redirect URIs configured for the application '{}'. Make sure the redirect URI sent in the request matches one added to your application in the Azure portal. Navigate to https://aka.ms/redirectUriMismatchError to learn more about how to fix this.",
                app.client_id
            ),
        )),
        None if app.redirect_uris.len() == 1 => Ok(app.redirect_uris[0].clone()),
        None => Err(EntraError::bad(
            "invalid_request",
            900971,
            "No reply address provided.",
        )),
    }
}

/// What `/authorize` does: either an error page (JSON) or a redirect to the client.
enum AuthorizeOutcome {
    Page(EntraError),
    Respond {
        to: String,
        params: Vec<(&'static str, String)>,
        mode: ResponseMode,
    },
}

/// How `/authorize` hands its answer back (`response_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseMode {
    /// Query string of a 302 (the default for `code`).
    Query,
    /// Fragment of a 302.
    Fragment,
    /// An auto-submitting HTML form that POSTs to the redirect URI.
    FormPost,
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// Delivers `/authorize`'s parameters to the client the way `mode` asks.
fn respond(to: &str, params: &[(&'static str, String)], mode: ResponseMode) -> Response {
    match mode {
        ResponseMode::FormPost => {
            let inputs: String = params
                .iter()
                .map(|(k, v)| {
                    format!(
                        "<input type=\"hidden\" name=\"{k}\" value=\"{}\" />",
                        html_escape(v)
                    )
                })
                .collect();
            let html = format!(
                "<html><head><title>Working...</title></head><body><form method=\"POST\" name=\"hiddenform\" action=\"{}\">{inputs}<noscript><p>Script is disabled. Click Submit to continue.</p><input type=\"submit\" value=\"Submit\" /></noscript></form><script language=\"javascript\">document.forms[0].submit();</script></body></html>",
                html_escape(to)
            );
            let mut r = (StatusCode::OK, html).into_response();
            r.headers_mut().insert(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            r
        }
        mode => {
            let refs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
            redirect(&with_params(to, &refs, mode == ResponseMode::Fragment))
        }
    }
}

fn authorize_inner(state: &SimState, tenant: &str, ctx: &RequestCtx) -> AuthorizeOutcome {
    use AuthorizeOutcome::{Page, Respond};
    let q = Form(ctx.query.clone());
    let tenant = match resolve_tenant(state, tenant) {
        Ok(t) => t,
        Err(e) => return Page(e),
    };
    let Some(client_id) = q.get("client_id") else {
        return Page(EntraError::missing("client_id"));
    };
    let found = state.tenant.read().apps.get(client_id).cloned();
    let Some(app) = found else {
        let domain = state.tenant.read().domain.clone();
        return Page(EntraError::unknown_app(client_id, &domain));
    };
    if let Err(e) = check_delegated_tenant(tenant, &app) {
        return Page(e);
    }
    let redirect_uri = match registered_redirect(&app, q.get("redirect_uri")) {
        Ok(r) => r,
        Err(e) => return Page(e),
    };
    let mode = match q.get("response_mode") {
        None | Some("query") => ResponseMode::Query,
        Some("fragment") => ResponseMode::Fragment,
        Some("form_post") => ResponseMode::FormPost,
        Some(other) => {
            return Page(EntraError::bad(
                "invalid_request",
                70007,
                format!("The application requested an unsupported response_mode '{other}'."),
            ))
        }
    };
    let client_state = q.get("state");
    let fail = |e: EntraError| {
        let body = e.body(state, None);
        let mut params = vec![
            ("error", e.error.to_string()),
            (
                "error_description",
                body["error_description"].as_str().unwrap_or("").to_string(),
            ),
            (
                "error_uri",
                body["error_uri"].as_str().unwrap_or("").to_string(),
            ),
        ];
        if let Some(s) = client_state {
            params.push(("state", s.to_string()));
        }
        Respond {
            to: redirect_uri.clone(),
            params,
            mode,
        }
    };
    if q.get("response_type") != Some("code") {
        return fail(EntraError::bad(
            "unsupported_response_type",
            70005,
            "The application requested an unsupported response type: only 'code' is enabled for this application.",
        ));
    }
    let Some(scope) = q.get("scope") else {
        return fail(EntraError::missing("scope"));
    };
    let challenge = match (q.get("code_challenge"), q.get("code_challenge_method")) {
        (None, None) => None,
        (None, Some(_)) => return fail(EntraError::missing("code_challenge")),
        (Some(c), m) => {
            let method = m.unwrap_or("plain");
            if !method.eq_ignore_ascii_case("S256") && method != "plain" {
                return fail(EntraError::bad(
                    "invalid_request",
                    50147,
                    format!("The code_challenge_method '{method}' is not supported; use 'S256' or 'plain'."),
                ));
            }
            if !(43..=128).contains(&c.len()) {
                return fail(EntraError::bad(
                    "invalid_request",
                    501491,
                    "Invalid size of Code_Challenge parameter.",
                ));
            }
            Some((method.to_string(), c.to_string()))
        }
    };
    let hint = q
        .get("login_hint")
        .map(str::to_string)
        .or_else(|| state.entra.lock().default_authorize_user.clone());
    let Some(hint) = hint else {
        return fail(EntraError::bad(
            "login_required",
            50058,
            "A silent sign-in request was sent but no user is signed in. Pass login_hint or set the emulator's signed-in user with POST /_sim/authorize/user.",
        ));
    };
    let user = {
        let t = state.tenant.read();
        t.find_user(&hint)
            .map(|u| (u.id.clone(), u.account_enabled != Some(false)))
    };
    let user_id = match user {
        None => {
            let tid = state.tenant.read().tenant_id.clone();
            return fail(EntraError::bad(
                "invalid_request",
                50034,
                format!("The user account {hint} does not exist in the {tid} directory. To sign into this application, the account must be added to the directory."),
            ));
        }
        Some((_, false)) => {
            return fail(EntraError::bad(
                "access_denied",
                50057,
                "The user account is disabled.",
            ))
        }
        Some((id, true)) => id,
    };
    let code = random_token(96);
    let now = state.clock.unix();
    state.entra.lock().auth_codes.insert(
        code.clone(),
        AuthCode {
            client_id: app.client_id.clone(),
            user_id,
            scope: scope.to_string(),
            redirect_uri: redirect_uri.clone(),
            challenge,
            nonce: q.get("nonce").map(str::to_string),
            expires_at: now + AUTH_CODE_LIFETIME,
            redeemed: false,
        },
    );
    let mut params = vec![("code", code)];
    if let Some(s) = client_state {
        params.push(("state", s.to_string()));
    }
    params.push(("session_state", uuid::Uuid::new_v4().to_string()));
    Respond {
        to: redirect_uri,
        params,
        mode,
    }
}

/// `GET /{tenant}/oauth2/v2.0/authorize`: signs in the `login_hint` user (or the default set
/// through `/_sim/authorize/user`) without a page, and redirects back with a code.
pub async fn authorize(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    ctx: RequestCtx,
) -> Response {
    match authorize_inner(&state, &tenant, &ctx) {
        AuthorizeOutcome::Respond { to, params, mode } => respond(&to, &params, mode),
        AuthorizeOutcome::Page(e) => e.render(&state, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_s256_and_plain() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        assert!(pkce_matches(
            "S256",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            verifier
        ));
        assert!(!pkce_matches(
            "S256",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cX",
            verifier
        ));
        assert!(pkce_matches("plain", verifier, verifier));
    }
}
