//! User sign-in: the device-code flow (`/devicecode` + token polling), authorization code with
//! PKCE (`/authorize` + `authorization_code` grant), refresh-token rotation, and the tokens a
//! sign-in yields (delegated access token, ID token, refresh token).

use super::errors::{json_response, EntraError, EntraResult};
use super::token::{TokenRequest, GRAPH_RESOURCES};
use super::{random_token, resolve_tenant, Form, TenantRef};
use crate::model::App;
use crate::odata::RequestCtx;
use crate::state::{AppState, SimState};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use bytes::Bytes;
use serde_json::json;
use sha2::{Digest, Sha256};

/// `grant_type` of the device-code flow.
pub const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
/// Device codes live this long (seconds), as Entra's do.
pub const DEVICE_CODE_LIFETIME: i64 = 900;
/// Polling interval Entra asks for (seconds).
pub const DEVICE_CODE_INTERVAL: i64 = 5;
/// Where the user goes to enter the code.
pub const VERIFICATION_URI: &str = "https://microsoft.com/devicelogin";
/// Authorization codes live this long (seconds).
pub const AUTH_CODE_LIFETIME: i64 = 600;
/// A refresh token unused for this long (seconds; 90 days) has expired.
pub const REFRESH_INACTIVITY: i64 = 90 * 24 * 3600;
/// ID token lifetime (seconds).
pub const ID_TOKEN_LIFETIME: i64 = 3600;

/// What the user did with a device code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Not yet acted on.
    Pending,
    /// Approved by the user with this object id.
    Approved(String),
    /// Declined.
    Declined,
}

/// A device-code sign-in in progress.
#[derive(Debug, Clone)]
pub struct DeviceCode {
    /// The app that asked.
    pub client_id: String,
    /// `scope` as requested.
    pub scope: String,
    /// The code the user types.
    pub user_code: String,
    /// Emulated unix time it expires.
    pub expires_at: i64,
    /// The user's decision so far.
    pub decision: Decision,
}

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
fn check_delegated_tenant(tenant: TenantRef, app: &App) -> EntraResult<()> {
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
fn issue_user_tokens(
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

/// `grant_type=urn:ietf:params:oauth:grant-type:device_code`: polls a device code.
pub fn device_code_grant(req: &TokenRequest<'_>) -> EntraResult<Response> {
    let code = req.form.require("device_code")?.to_string();
    let app = req.app()?;
    check_delegated_tenant(req.tenant, &app)?;
    req.authenticate(&app, true)?;
    let now = req.state.clock.unix();
    let (user_id, scope) = {
        let mut entra = req.state.entra.lock();
        let Some(dc) = entra
            .device_codes
            .get(&code)
            .filter(|d| d.client_id == app.client_id)
            .cloned()
        else {
            return Err(EntraError::bad(
                "bad_verification_code",
                70018,
                "The provided value for the input parameter 'device_code' is not valid.",
            ));
        };
        if now >= dc.expires_at {
            return Err(EntraError::bad(
                "expired_token",
                70019,
                "Verification code expired.",
            ));
        }
        match dc.decision {
            Decision::Pending => {
                return Err(EntraError::bad(
                    "authorization_pending",
                    70016,
                    "OAuth 2.0 device flow error. Authorization is pending. Continue polling.",
                ))
            }
            Decision::Declined => {
                return Err(EntraError::bad(
                    "authorization_declined",
                    70000,
                    "The user declined the authorization request.",
                ))
            }
            Decision::Approved(user) => {
                entra.device_codes.remove(&code);
                (user, dc.scope)
            }
        }
    };
    issue_user_tokens(req, &app, &user_id, &scope, None, now)
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

const USER_CODE_ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";

fn user_code() -> String {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    (0..9)
        .map(|_| USER_CODE_ALPHABET[rng.gen_range(0..USER_CODE_ALPHABET.len())] as char)
        .collect()
}

fn start_device_code(state: &SimState, tenant: &str, body: &[u8]) -> EntraResult<Response> {
    let tenant = resolve_tenant(state, tenant)?;
    let form = Form::parse(body)?;
    let client_id = form.require("client_id")?;
    let app = state.tenant.read().apps.get(client_id).cloned();
    let app = app.ok_or_else(|| {
        let t = state.tenant.read();
        EntraError::unknown_app(client_id, &t.domain)
    })?;
    check_delegated_tenant(tenant, &app)?;
    let scope = form.require("scope")?.to_string();
    let device_code = random_token(48);
    let code = user_code();
    let now = state.clock.unix();
    {
        let mut entra = state.entra.lock();
        entra.device_codes.retain(|_, d| d.expires_at > now);
        entra.device_codes.insert(
            device_code.clone(),
            DeviceCode {
                client_id: app.client_id.clone(),
                scope,
                user_code: code.clone(),
                expires_at: now + DEVICE_CODE_LIFETIME,
                decision: Decision::Pending,
            },
        );
    }
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "user_code": code,
            "device_code": device_code,
            "verification_uri": VERIFICATION_URI,
            "expires_in": DEVICE_CODE_LIFETIME,
            "interval": DEVICE_CODE_INTERVAL,
            "message": format!("To sign in, use a web browser to open the page {VERIFICATION_URI} and enter the code {code} to authenticate."),
        }),
    ))
}

/// `POST /{tenant}/oauth2/v2.0/devicecode`: starts a device-code sign-in.
pub async fn devicecode(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match start_device_code(&state, &tenant, &body) {
        Ok(r) => r,
        Err(e) => e.render(&state, correlation(&headers).as_deref()),
    }
}

fn correlation(headers: &HeaderMap) -> Option<String> {
    headers
        .get("client-request-id")
        .and_then(|h| h.to_str().ok())
        .map(str::to_string)
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

/// The approval state a `/_sim` call can move a device code to.
pub fn decide_device_code(
    state: &SimState,
    user_code: &str,
    decision: Decision,
) -> Result<(), DecideError> {
    let wanted: String = user_code
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_ascii_uppercase();
    let now = state.clock.unix();
    let mut entra = state.entra.lock();
    let dc = entra
        .device_codes
        .values_mut()
        .find(|d| d.user_code == wanted)
        .ok_or(DecideError::Unknown)?;
    if now >= dc.expires_at {
        return Err(DecideError::Expired);
    }
    if dc.decision != Decision::Pending {
        return Err(DecideError::AlreadyDecided);
    }
    dc.decision = decision;
    Ok(())
}

/// Why a device code could not be approved or declined.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecideError {
    /// No device code with that user code.
    #[error("no device-code sign-in has that user code")]
    Unknown,
    /// It expired.
    #[error("the device code has expired")]
    Expired,
    /// It was already approved or declined.
    #[error("the device code was already approved or declined")]
    AlreadyDecided,
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
