//! Graph endpoints of the outlook service (to be filled in).

use crate::state::AppState;

/// Routes of this service.
pub fn routes() -> axum::Router<AppState> {
    axum::Router::new()
}
