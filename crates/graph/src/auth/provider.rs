//! App-only tokens (client credentials grant), cached and renewed five minutes before they
//! run out; concurrent callers share one refresh.

use super::assertion::{AssertionAlg, CertificateKey};
use super::clock::Clock;
use super::credential::{Credential, Secret};
use super::token::{AccessToken, TokenResponse};
use super::GRAPH_DEFAULT_SCOPE;
use crate::error::AuthError;
use crate::http::observe::{RequestObserver, RequestSummary};
use chrono::Duration;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::Mutex;

/// How long before expiry a cached token is replaced.
const RENEW_BEFORE: Duration = Duration::minutes(5);

#[derive(Debug)]
enum Proof {
    Secret(Secret),
    Certificate(Box<CertificateKey>, AssertionAlg),
}

/// Hands out app-only Graph tokens for one app in one tenant.
#[derive(Debug)]
pub struct TokenProvider {
    http: reqwest::Client,
    token_url: String,
    client_id: String,
    scope: String,
    proof: Proof,
    clock: Clock,
    cache: Mutex<Option<AccessToken>>,
    requests: Arc<AtomicU64>,
}

impl TokenProvider {
    /// A provider posting to `{authority_url}/{tenant_id}/oauth2/v2.0/token`; a certificate
    /// credential is parsed here, so a bad PEM fails now rather than at the first call.
    pub fn new(
        http: reqwest::Client,
        authority_url: &str,
        tenant_id: &str,
        client_id: &str,
        credential: &Credential,
        clock: Clock,
    ) -> Result<TokenProvider, AuthError> {
        let proof = match credential {
            Credential::Secret(s) => Proof::Secret(s.clone()),
            Credential::Certificate {
                cert_pem,
                key_pem,
                alg,
            } => Proof::Certificate(
                Box::new(CertificateKey::from_pem(cert_pem, key_pem.expose())?),
                *alg,
            ),
        };
        Ok(TokenProvider {
            http,
            token_url: format!(
                "{}/{}/oauth2/v2.0/token",
                authority_url.trim_end_matches('/'),
                tenant_id
            ),
            client_id: client_id.to_string(),
            scope: GRAPH_DEFAULT_SCOPE.to_string(),
            proof,
            clock,
            cache: Mutex::new(None),
            requests: Arc::new(AtomicU64::new(0)),
        })
    }

    /// A valid token: the cached one while it has more than five minutes left, else a new
    /// one. Callers arriving during a refresh wait for it instead of starting their own.
    pub async fn token(&self) -> Result<AccessToken, AuthError> {
        self.token_observed(None).await
    }

    /// [`TokenProvider::token`], with a token request (if one is needed) shown to `observer`.
    pub(crate) async fn token_observed(
        &self,
        observer: Option<&dyn RequestObserver>,
    ) -> Result<AccessToken, AuthError> {
        let mut cache = self.cache.lock().await;
        if let Some(t) = cache.as_ref() {
            if t.info.expires_at - RENEW_BEFORE > self.clock.now() {
                return Ok(t.clone());
            }
        }
        let fresh = self.request(observer).await?;
        *cache = Some(fresh.clone());
        Ok(fresh)
    }

    /// Forgets the cached token (after Graph refused it), so the next call fetches anew.
    pub async fn invalidate(&self) {
        *self.cache.lock().await = None;
    }

    /// How many token requests were sent to Entra.
    pub fn requests_sent(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    async fn request(
        &self,
        observer: Option<&dyn RequestObserver>,
    ) -> Result<AccessToken, AuthError> {
        let mut form: Vec<(&str, String)> = vec![
            ("grant_type", "client_credentials".into()),
            ("client_id", self.client_id.clone()),
            ("scope", self.scope.clone()),
        ];
        match &self.proof {
            Proof::Secret(s) => form.push(("client_secret", s.expose().to_string())),
            Proof::Certificate(key, alg) => {
                let assertion =
                    key.assertion(*alg, &self.client_id, &self.token_url, self.clock.now())?;
                form.push((
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into(),
                ));
                form.push(("client_assertion", assertion));
            }
        }
        self.requests.fetch_add(1, Ordering::Relaxed);
        let (_, body) = post_form(&self.http, &self.token_url, &form, observer).await?;
        let parsed: TokenResponse = serde_json::from_slice(&body).map_err(|e| {
            AuthError::local(
                "unexpected_response",
                format!("the token answer could not be read: {e}"),
            )
        })?;
        let expires_at = self.clock.now() + Duration::seconds(parsed.expires_in);
        tracing::debug!(client_id = %self.client_id, %expires_at, "app-only token issued");
        Ok(AccessToken::parse(parsed.access_token, expires_at))
    }
}

/// Attempts at an Entra endpoint before giving up on connection failures, 429 and 5xx.
const TOKEN_ATTEMPTS: u32 = 3;

/// Posts a form to an Entra endpoint; a non-2xx answer becomes an [`AuthError`]. Refused
/// connections and 429/5xx answers (nothing was granted) are tried again, briefly. Each
/// attempt is shown to `observer` (URL and sizes only: the form holds the secret).
pub(crate) async fn post_form(
    http: &reqwest::Client,
    url: &str,
    form: &[(&str, String)],
    observer: Option<&dyn RequestObserver>,
) -> Result<(u16, bytes::Bytes), AuthError> {
    let mut attempt = 1;
    loop {
        let pause = std::time::Duration::from_millis(250 * u64::from(attempt));
        let started = std::time::Instant::now();
        let observe = |status: Option<u16>, bytes: usize, error: Option<String>| {
            if let Some(o) = observer {
                let mut s = RequestSummary::new("POST", url, started.elapsed());
                s.status = status;
                s.bytes = bytes as u64;
                if let Some(e) = error {
                    s = s.failed(url, &e);
                }
                o.observe(&s);
            }
        };
        let sent = http.post(url).form(form).send().await;
        if let Err(e) = &sent {
            observe(None, 0, Some(e.to_string()));
        }
        let resp = match sent {
            Ok(r) => r,
            Err(e) if e.is_connect() && attempt < TOKEN_ATTEMPTS => {
                attempt += 1;
                tokio::time::sleep(pause).await;
                continue;
            }
            Err(e) => {
                return Err(AuthError::local(
                    "unreachable",
                    format!("could not reach the token endpoint {url}: {e}"),
                ))
            }
        };
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| crate::http::parse_retry_after(v, chrono::Utc::now()));
        let body = resp.bytes().await;
        match &body {
            Ok(b) => observe(Some(status), b.len(), None),
            Err(e) => observe(Some(status), 0, Some(e.to_string())),
        }
        let body = body.map_err(|e| {
            AuthError::local(
                "unreachable",
                format!("the token endpoint's answer was cut off: {e}"),
            )
        })?;
        if (200..300).contains(&status) {
            return Ok((status, body));
        }
        if (status == 429 || status >= 500) && attempt < TOKEN_ATTEMPTS {
            attempt += 1;
            tokio::time::sleep(retry_after.unwrap_or(pause)).await;
            continue;
        }
        return Err(AuthError::from_body(status, &body));
    }
}
