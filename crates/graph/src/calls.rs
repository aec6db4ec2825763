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
