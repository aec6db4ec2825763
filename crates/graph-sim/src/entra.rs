//! Entra ID endpoints (to be filled in): token, device code, authorize, OIDC discovery, JWKS.

use crate::state::AppState;

/// Entra-side state: device codes, refresh tokens, authorization codes, used assertion ids.
#[derive(Debug, Default)]
pub struct EntraState {}

/// Entra routes.
pub fn routes() -> axum::Router<AppState> {
    axum::Router::new()
}
