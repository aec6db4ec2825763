//! Delegated sign-in for the uses Graph reserves to a user (presence subscriptions, a user's
//! own contacts): the device-code flow and the refresh-token grant, whose rotated refresh
//! token the caller stores.

use super::clock::Clock;
use super::credential::Secret;
use super::provider::post_form;
use super::token::{AccessToken, TokenResponse};
use crate::error::AuthError;
use chrono::Duration;
use serde::Deserialize;
use std::time::Duration as StdDuration;

/// What to show the user: go to `verification_uri` and enter `user_code`.
#[derive(Debug, Clone, Deserialize)]
pub struct DeviceCodePrompt {
    /// The code the user types.
    pub user_code: String,
    /// The code we poll with (not secret-grade, but not for display either).
    pub device_code: Secret,
    /// Where the user signs in.
    pub verification_uri: String,
    /// Seconds the code stays valid.
    pub expires_in: u64,
    /// Seconds to wait between polls.
    #[serde(default = "default_interval")]
    pub interval: u64,
    /// Entra's ready-made instruction text.
    #[serde(default)]
    pub message: String,
}

fn default_interval() -> u64 {
    5
}

/// Tokens of a signed-in user.
#[derive(Debug, Clone)]
pub struct DelegatedTokens {
    /// The access token and its claims.
    pub access: AccessToken,
    /// The refresh token to store (Entra rotates it on every use).
    pub refresh_token: Option<Secret>,
    /// Scopes granted.
    pub scope: String,
}

/// One poll's answer.
#[derive(Debug)]
pub enum DeviceCodePoll {
    /// The user has not finished yet.
    Pending,
    /// Entra asks us to poll less often (add 5 s to the interval).
    SlowDown,
    /// Signed in.
    Done(DelegatedTokens),
}

/// Delegated sign-in for one (public-client) app in one tenant.
#[derive(Debug, Clone)]
pub struct DelegatedAuth {
    http: reqwest::Client,
    base: String,
    client_id: String,
    clock: Clock,
}

impl DelegatedAuth {
    /// Sign-in through `{authority_url}/{tenant_id}/oauth2/v2.0/…` for `client_id`.
    pub fn new(
        http: reqwest::Client,
        authority_url: &str,
        tenant_id: &str,
        client_id: &str,
        clock: Clock,
    ) -> DelegatedAuth {
        DelegatedAuth {
            http,
            base: format!(
                "{}/{}/oauth2/v2.0",
                authority_url.trim_end_matches('/'),
                tenant_id
            ),
            client_id: client_id.to_string(),
            clock,
        }
    }

    /// Starts a device-code sign-in for `scopes` (add `offline_access` for a refresh token).
    pub async fn start_device_code(&self, scopes: &[&str]) -> Result<DeviceCodePrompt, AuthError> {
        let form = [
            ("client_id", self.client_id.clone()),
            ("scope", scopes.join(" ")),
        ];
        let (_, body) = post_form(
            &self.http,
            &format!("{}/devicecode", self.base),
            &form,
            None,
        )
        .await?;
        serde_json::from_slice(&body).map_err(|e| {
            AuthError::local(
                "unexpected_response",
                format!("the device-code answer could not be read: {e}"),
            )
        })
    }

    /// Asks once whether the user has signed in; `authorization_declined`, `expired_token`
    /// and every other refusal come back as the [`AuthError`] Entra sent.
    pub async fn poll_device_code_once(
        &self,
        prompt: &DeviceCodePrompt,
    ) -> Result<DeviceCodePoll, AuthError> {
        let form = [
            (
                "grant_type",
                "urn:ietf:params:oauth:grant-type:device_code".to_string(),
            ),
            ("client_id", self.client_id.clone()),
            ("device_code", prompt.device_code.expose().to_string()),
        ];
        match self.token_request(&form).await {
            Ok(t) => Ok(DeviceCodePoll::Done(t)),
            Err(e) if e.error == "authorization_pending" => Ok(DeviceCodePoll::Pending),
            Err(e) if e.error == "slow_down" => Ok(DeviceCodePoll::SlowDown),
            Err(e) => Err(e),
        }
    }

    /// Polls at the prompt's interval (slowing down when asked) until the user signs in,
    /// declines, or the code expires.
    pub async fn poll_device_code(
        &self,
        prompt: &DeviceCodePrompt,
    ) -> Result<DelegatedTokens, AuthError> {
        let deadline =
            tokio::time::Instant::now() + StdDuration::from_secs(prompt.expires_in.max(1));
        let mut interval = StdDuration::from_secs(prompt.interval);
        loop {
            match self.poll_device_code_once(prompt).await? {
                DeviceCodePoll::Done(t) => return Ok(t),
                DeviceCodePoll::Pending => {}
                DeviceCodePoll::SlowDown => interval += StdDuration::from_secs(5),
            }
            if tokio::time::Instant::now() + interval > deadline {
                return Err(AuthError::local(
                    "expired_token",
                    "the device code expired before the user signed in; start again",
                ));
            }
            tokio::time::sleep(interval).await;
        }
    }

    /// Redeems a refresh token for new tokens; store the returned (rotated) refresh token.
    pub async fn refresh(
        &self,
        refresh_token: &Secret,
        scopes: &[&str],
    ) -> Result<DelegatedTokens, AuthError> {
        let form = [
            ("grant_type", "refresh_token".to_string()),
            ("client_id", self.client_id.clone()),
            ("refresh_token", refresh_token.expose().to_string()),
            ("scope", scopes.join(" ")),
        ];
        self.token_request(&form).await
    }

    async fn token_request(&self, form: &[(&str, String)]) -> Result<DelegatedTokens, AuthError> {
        let (_, body) = post_form(&self.http, &format!("{}/token", self.base), form, None).await?;
        let parsed: TokenResponse = serde_json::from_slice(&body).map_err(|e| {
            AuthError::local(
                "unexpected_response",
                format!("the token answer could not be read: {e}"),
            )
        })?;
        let expires_at = self.clock.now() + Duration::seconds(parsed.expires_in);
        Ok(DelegatedTokens {
            access: AccessToken::parse(parsed.access_token, expires_at),
            refresh_token: parsed.refresh_token.map(Secret::new),
            scope: parsed.scope.unwrap_or_default(),
        })
    }
}
