//! Change-notification subscriptions (`/subscriptions`): create, renew, reauthorize and delete,
//! as Graph documents them (notes/graph.md §10). Presence subscriptions need a signed-in
//! user's token, so every call here takes the access token to send with.

use crate::auth::Secret;
use crate::error::GraphError;
use crate::http::{GraphClient, Request};
use chrono::{DateTime, SecondsFormat, Utc};
use reqwest::Method;
use serde::Deserialize;

/// What a new subscription asks for.
#[derive(Debug, Clone)]
pub struct NewSubscription {
    /// `changeType`, e.g. `updated`.
    pub change_type: String,
    /// The resource, relative to the Graph root (no base URL).
    pub resource: String,
    /// Where notifications are POSTed (HTTPS at Microsoft).
    pub notification_url: String,
    /// Where lifecycle events are POSTed (only settable at creation).
    pub lifecycle_notification_url: Option<String>,
    /// When it ends (presence: at most 60 minutes ahead).
    pub expiration: DateTime<Utc>,
    /// The secret Graph echoes in every notification (≤ 128 characters).
    pub client_state: Secret,
}

/// A subscription as Graph returns it (the properties pbx365 uses).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionInfo {
    /// Subscription id.
    pub id: String,
    /// The resource subscribed to.
    #[serde(default)]
    pub resource: String,
    /// When it ends.
    pub expiration_date_time: DateTime<Utc>,
    /// Where its notifications go.
    #[serde(default)]
    pub notification_url: String,
}

/// Graph's form of a subscription's `expirationDateTime`.
fn expiration_text(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

impl GraphClient {
    /// `POST /subscriptions` on behalf of the user whose `access_token` is given; Graph
    /// validates the notification URLs before answering 201.
    pub async fn create_subscription(
        &self,
        access_token: &Secret,
        new: &NewSubscription,
    ) -> Result<SubscriptionInfo, GraphError> {
        let mut body = serde_json::json!({
            "changeType": new.change_type,
            "resource": new.resource,
            "notificationUrl": new.notification_url,
            "expirationDateTime": expiration_text(new.expiration),
            "clientState": new.client_state.expose(),
        });
        if let Some(l) = &new.lifecycle_notification_url {
            body["lifecycleNotificationUrl"] = serde_json::Value::String(l.clone());
        }
        let req = Request::post("/subscriptions", body).as_user(access_token);
        self.send_json(req).await
    }

    /// `PATCH /subscriptions/{id}` with a new `expirationDateTime` (renewal); Graph answers
    /// 404 once the subscription is gone.
    pub async fn renew_subscription(
        &self,
        access_token: &Secret,
        id: &str,
        expiration: DateTime<Utc>,
    ) -> Result<SubscriptionInfo, GraphError> {
        let body = serde_json::json!({ "expirationDateTime": expiration_text(expiration) });
        let req = Request::new(Method::PATCH, format!("/subscriptions/{id}"), Some(body))
            .retry_safe()
            .as_user(access_token);
        self.send_json(req).await
    }

    /// `POST /subscriptions/{id}/reauthorize`: answers `reauthorizationRequired` with a fresh
    /// token, without changing the expiry.
    pub async fn reauthorize_subscription(
        &self,
        access_token: &Secret,
        id: &str,
    ) -> Result<(), GraphError> {
        let req = Request::new(
            Method::POST,
            format!("/subscriptions/{id}/reauthorize"),
            None,
        )
        .retry_safe()
        .as_user(access_token);
        self.send(req).await.map(|_| ())
    }

    /// `GET /subscriptions`: the live subscriptions the caller (this app, and the signed-in
    /// user for a delegated token) holds.
    pub async fn list_subscriptions(
        &self,
        access_token: &Secret,
    ) -> Result<Vec<SubscriptionInfo>, GraphError> {
        let page: crate::paging::Page<SubscriptionInfo> = self
            .send_json(Request::get("/subscriptions").as_user(access_token))
            .await?;
        Ok(page.value)
    }

    /// `DELETE /subscriptions/{id}`; `Ok(false)` when it was already gone (404).
    pub async fn delete_subscription(
        &self,
        access_token: &Secret,
        id: &str,
    ) -> Result<bool, GraphError> {
        let req = Request::new(Method::DELETE, format!("/subscriptions/{id}"), None)
            .retry_safe()
            .as_user(access_token);
        let resp = self.execute(req).await?;
        if resp.status == 404 {
            return Ok(false);
        }
        resp.error_for_status().map(|_| true)
    }
}
