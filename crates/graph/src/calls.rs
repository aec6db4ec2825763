//! Typed calls pbx365 makes often, with Graph's limits built in.

use crate::error::GraphError;
use crate::http::{GraphClient, Request};
use crate::models::{PhotoMeta, Presence};
use crate::paging::Page;

/// Graph's limit of ids per `getPresencesByUserId`.
pub const MAX_PRESENCE_IDS: usize = 650;

impl GraphClient {
    /// Presence of every user in `ids`, 650 per request; the POST reads only, so it is
    /// retried like a GET.
    pub async fn presences_by_user_id(&self, ids: &[String]) -> Result<Vec<Presence>, GraphError> {
        let mut all = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(MAX_PRESENCE_IDS) {
            let req = Request::post(
                "/communications/getPresencesByUserId",
                serde_json::json!({ "ids": chunk }),
            )
            .retry_safe();
            let page: Page<Presence> = self.send_json(req).await?;
            all.extend(page.value);
        }
        Ok(all)
    }

    /// One user's presence (`GET /communications/presences/{id}`): what a change notification
    /// without resource data asks the receiver to read.
    pub async fn presence_of(&self, user: &str) -> Result<Presence, GraphError> {
        self.get_json(&format!("/communications/presences/{user}"))
            .await
    }

    /// Sets the application's presence session `session_id` (the app's client id) for `user`
    /// to `availability`/`activity` for `expiration` (Graph accepts 5 minutes to 4 hours;
    /// shorter or longer is clamped into that range). Only the pairs Graph documents are
    /// accepted; the server refuses others with 400.
    pub async fn set_presence(
        &self,
        user: &str,
        session_id: &str,
        availability: &str,
        activity: &str,
        expiration: std::time::Duration,
    ) -> Result<(), GraphError> {
        let minutes = (expiration.as_secs() / 60).clamp(5, 240);
        let req = Request::post(
            format!("/users/{user}/presence/setPresence"),
            serde_json::json!({
                "sessionId": session_id,
                "availability": availability,
                "activity": activity,
                "expirationDuration": format!("PT{minutes}M"),
            }),
        )
        .retry_safe();
        self.send(req).await.map(|_| ())
    }

    /// Clears the application's presence session for `user`; `Ok(false)` when there was none
    /// (404: expired or already cleared), which is not an error for the caller.
    pub async fn clear_presence(&self, user: &str, session_id: &str) -> Result<bool, GraphError> {
        let req = Request::post(
            format!("/users/{user}/presence/clearPresence"),
            serde_json::json!({ "sessionId": session_id }),
        )
        .retry_safe();
        match self.send(req).await {
            Ok(_) => Ok(true),
            Err(GraphError::Api { status: 404, .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// A user's photo metadata (its `@odata.mediaEtag` tells whether it changed), or `None`
    /// when the user has no photo or no mailbox.
    pub async fn photo_meta(&self, user: &str) -> Result<Option<PhotoMeta>, GraphError> {
        match self.get_json(&format!("/users/{user}/photo")).await {
            Ok(meta) => Ok(Some(meta)),
            Err(GraphError::Api { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// A user's photo bytes, or `None` when there is none.
    pub async fn photo_bytes(&self, user: &str) -> Result<Option<bytes::Bytes>, GraphError> {
        match self
            .send(Request::get(format!("/users/{user}/photo/$value")))
            .await
        {
            Ok(resp) => Ok(Some(resp.body)),
            Err(GraphError::Api { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }
}
