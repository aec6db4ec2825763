//! The device-code flow: `POST /{tenant}/oauth2/v2.0/devicecode` starts a sign-in, the user
//! approves or declines it (through `/_sim/devicecode/…`), the app polls the token endpoint.

use super::delegated::{check_delegated_tenant, issue_user_tokens};
use super::errors::{json_response, EntraError, EntraResult};
use super::token::TokenRequest;
use super::{random_token, resolve_tenant, Form};
use crate::state::{AppState, SimState};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use serde_json::json;

/// `grant_type` of the device-code flow.
pub const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
/// Device codes live this long (seconds), as Entra's do.
pub const DEVICE_CODE_LIFETIME: i64 = 900;
/// Polling interval Entra asks for (seconds).
pub const DEVICE_CODE_INTERVAL: i64 = 5;
/// Where the user goes to enter the code.
pub const VERIFICATION_URI: &str = "https://microsoft.com/devicelogin";

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

/// Records the user's decision on the pending device code with `user_code` (case and dashes
/// ignored), for `/_sim/devicecode/approve` and `/decline`.
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
