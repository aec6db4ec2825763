//! [`GraphClient`]: one HTTP client, one token provider, the limits and counters, and the
//! retry loop every request runs through.

use super::limits::{mailbox_of, AdaptiveLimit, LimitPermit, MailboxLimits};
use super::observe::{ObserverSlot, RequestObserver, RequestSummary};
use super::retry::{backoff_delay, parse_retry_after};
use super::stats::{Counters, Stats};
use crate::auth::{DelegatedAuth, TokenInfo, TokenProvider};
use crate::config::ClientConfig;
use crate::error::{api_error, GraphError};
use bytes::Bytes;
use reqwest::header::HeaderMap;
use reqwest::Method;
use serde::de::DeserializeOwned;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One request to Graph. GETs are retried after transient failures; other methods only
/// when marked [`Request::retry_safe`] (e.g. `getPresencesByUserId`) — except after a 429,
/// which Graph answers before doing anything, so every request is retried then.
#[derive(Debug, Clone)]
pub struct Request {
    method: Method,
    url: String,
    headers: Vec<(String, String)>,
    body: Option<serde_json::Value>,
    retry_safe: bool,
    as_user: Option<crate::auth::Secret>,
    /// How many requests Graph sees in this one (a `$batch` carries several): the slots it
    /// takes of the adaptive concurrency limit.
    carries: usize,
    /// The caller already holds this request's slots of the adaptive limit (a `$batch`
    /// sized to the slots it got): it takes none of its own.
    slots_held: bool,
}

impl Request {
    /// `GET url` (absolute, or relative to the Graph base URL).
    pub fn get(url: impl Into<String>) -> Request {
        Request {
            method: Method::GET,
            url: url.into(),
            headers: Vec::new(),
            body: None,
            retry_safe: true,
            as_user: None,
            carries: 1,
            slots_held: false,
        }
    }

    /// `method url` with an optional JSON body; not retried after transient failures unless
    /// marked safe.
    pub fn new(method: Method, url: impl Into<String>, body: Option<serde_json::Value>) -> Request {
        let retry_safe = method == Method::GET || method == Method::HEAD;
        Request {
            method,
            url: url.into(),
            headers: Vec::new(),
            body,
            retry_safe,
            as_user: None,
            carries: 1,
            slots_held: false,
        }
    }

    /// `POST url` with a JSON body.
    pub fn post(url: impl Into<String>, body: serde_json::Value) -> Request {
        Request::new(Method::POST, url, Some(body))
    }

    /// Adds a request header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Request {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Marks the request as safe to repeat (it changes nothing, or repeating it is harmless).
    pub fn retry_safe(mut self) -> Request {
        self.retry_safe = true;
        self
    }

    /// Marks the request as carrying `n` requests for Graph (a `$batch` of `n`): it takes
    /// `n` slots of the adaptive concurrency limit (at most the whole limit), as Graph counts
    /// and throttles each inner request on its own. One slot for a batch let a few batches
    /// put several times the limit's requests in flight, and their inner 429s halved it.
    pub fn carrying(mut self, n: usize) -> Request {
        self.carries = n.max(1);
        self
    }

    /// Marks the request as sent under slots of the adaptive limit its caller holds (see
    /// [`GraphClient::acquire_slots`]): it does not wait for slots of its own.
    pub(crate) fn slots_held(mut self) -> Request {
        self.slots_held = true;
        self
    }

    /// Sends the request with a signed-in user's (delegated) access token instead of the
    /// app-only one — for what Graph allows only on a user's behalf, such as presence
    /// subscriptions. A 401 is then returned as it is (the caller owns that token).
    pub fn as_user(mut self, access_token: &crate::auth::Secret) -> Request {
        self.as_user = Some(access_token.clone());
        self
    }

    /// The URL as given.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The same request at another URL (paging), headers kept.
    pub(crate) fn with_url(&self, url: String) -> Request {
        Request {
            url,
            ..self.clone()
        }
    }
}

/// An answer from Graph, body read in full.
#[derive(Debug, Clone)]
pub struct Response {
    /// HTTP status.
    pub status: u16,
    /// Response headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
    /// Graph's `request-id`.
    pub request_id: Option<String>,
    /// The absolute URL requested.
    pub url: String,
}

impl Response {
    fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }

    /// `Retry-After`, when sent.
    pub fn retry_after(&self) -> Option<Duration> {
        self.header("retry-after")
            .and_then(|v| parse_retry_after(&v, chrono::Utc::now()))
    }

    /// `Location`, when sent (a 410 on delta carries the restart URL there).
    pub fn location(&self) -> Option<String> {
        self.header("location")
    }

    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The response as an error when it is not 2xx.
    pub fn error_for_status(self) -> Result<Response, GraphError> {
        if self.is_success() {
            return Ok(self);
        }
        Err(api_error(
            self.status,
            self.request_id.clone(),
            self.header("client-request-id"),
            self.retry_after(),
            &self.body,
        ))
    }

    /// The body as JSON of type `T`.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, GraphError> {
        serde_json::from_slice(&self.body).map_err(|e| GraphError::Decode {
            url: self.url.clone(),
            message: e.to_string(),
            request_id: self.request_id.clone(),
        })
    }
}

/// How one failed attempt may be retried.
enum Failure {
    /// Nothing was processed (connection refused): any request may go again.
    Always(GraphError),
    /// May have been processed: only requests safe to repeat go again.
    IfSafe(GraphError),
    /// Retrying cannot help.
    Never(GraphError),
}

#[derive(Debug)]
struct Inner {
    http: reqwest::Client,
    config: ClientConfig,
    tokens: TokenProvider,
    limit: AdaptiveLimit,
    mailboxes: MailboxLimits,
    counters: Counters,
}

/// A Microsoft Graph client for one app in one tenant; cheap to clone, meant to be shared.
#[derive(Debug, Clone)]
pub struct GraphClient {
    inner: Arc<Inner>,
    observer: ObserverSlot,
}

impl GraphClient {
    /// Builds the client: HTTP (rustls, time-outs, the extra CA), the token provider
    /// (a certificate is read now) and the limits.
    pub fn new(config: ClientConfig) -> Result<GraphClient, GraphError> {
        let mut builder = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .connect_timeout(config.request_timeout.min(Duration::from_secs(10)))
            .pool_max_idle_per_host(config.max_concurrency.max(1));
        if let Some(pem) = &config.extra_root_ca_pem {
            let ca = reqwest::Certificate::from_pem(pem.as_bytes()).map_err(|e| {
                GraphError::Invalid(format!("the extra root CA is not a PEM certificate: {e}"))
            })?;
            builder = builder.add_root_certificate(ca);
        }
        let http = builder
            .build()
            .map_err(|e| GraphError::Invalid(format!("the HTTP client cannot be built: {e}")))?;
        let tokens = TokenProvider::new(
            http.clone(),
            &config.authority_url,
            &config.tenant_id,
            &config.client_id,
            &config.credential,
            config.clock.clone(),
        )?;
        Ok(GraphClient {
            inner: Arc::new(Inner {
                limit: AdaptiveLimit::new(
                    config.max_concurrency,
                    config.increase_after_successes,
                    config.decrease_gap,
                ),
                mailboxes: MailboxLimits::new(config.per_mailbox_concurrency),
                counters: Counters::default(),
                http,
                tokens,
                config,
            }),
            observer: ObserverSlot::default(),
        })
    }

    /// This client with `observer` seeing a summary of every HTTP exchange it makes (token
    /// requests included) — for diagnostic logs. Tokens, limits and counters stay shared
    /// with `self`; `self` itself is not observed.
    pub fn with_observer(&self, observer: Arc<dyn RequestObserver>) -> GraphClient {
        GraphClient {
            inner: self.inner.clone(),
            observer: ObserverSlot(Some(observer)),
        }
    }

    /// The configuration in use.
    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    /// The app-only token provider.
    pub fn tokens(&self) -> &TokenProvider {
        &self.inner.tokens
    }

    /// What the current app-only token grants (fetching one if needed).
    pub async fn token_info(&self) -> Result<TokenInfo, GraphError> {
        Ok(self
            .inner
            .tokens
            .token_observed(self.observer.get())
            .await?
            .info)
    }

    /// Delegated sign-in (device code, refresh tokens) against the same authority and tenant.
    pub fn delegated(&self, public_client_id: &str) -> DelegatedAuth {
        let c = &self.inner.config;
        DelegatedAuth::new(
            self.inner.http.clone(),
            &c.authority_url,
            &c.tenant_id,
            public_client_id,
            c.clock.clone(),
        )
    }

    /// The counters so far.
    pub fn stats(&self) -> Stats {
        self.inner
            .counters
            .snapshot(self.inner.tokens.requests_sent())
    }

    /// Counts a throttled answer met outside the pipeline (inner `$batch` answers).
    pub(crate) fn note_throttled(&self) {
        Counters::bump(&self.inner.counters.throttled);
        self.inner.limit.on_throttled();
    }

    /// Counts a retry made outside the pipeline (inner `$batch` answers).
    pub(crate) fn note_retry(&self) {
        Counters::bump(&self.inner.counters.retries);
    }

    /// The adaptive concurrency limit now.
    pub fn concurrency_limit(&self) -> usize {
        self.inner.limit.current()
    }

    /// Waits until `n` slots of the adaptive limit are free — at most the whole limit as it
    /// is when they are taken — and holds them: [`LimitPermit::slots`] says how many, which
    /// is how many requests a `$batch` sent under them may carry.
    pub(crate) async fn acquire_slots(&self, n: usize) -> LimitPermit<'_> {
        self.inner.limit.acquire_many(n).await
    }

    /// An absolute URL: `url` itself when absolute, else the Graph base URL joined to it.
    pub fn url(&self, url: &str) -> String {
        if url.starts_with("http://") || url.starts_with("https://") {
            url.to_string()
        } else {
            format!(
                "{}/{}",
                self.inner.config.graph_url.trim_end_matches('/'),
                url.trim_start_matches('/')
            )
        }
    }

    /// Sends `req` and returns its 2xx answer; any other answer becomes a [`GraphError`].
    pub async fn send(&self, req: Request) -> Result<Response, GraphError> {
        self.execute(req).await?.error_for_status()
    }

    /// `GET url` as JSON.
    pub async fn get_json<T: DeserializeOwned>(&self, url: &str) -> Result<T, GraphError> {
        self.send(Request::get(url)).await?.json()
    }

    /// Sends `req` and parses the answer as JSON.
    pub async fn send_json<T: DeserializeOwned>(&self, req: Request) -> Result<T, GraphError> {
        self.send(req).await?.json()
    }

    /// Sends `req` through limits and retries and returns the final answer whatever its
    /// status (except a 429 that outlasted every retry, which is [`GraphError::Throttled`]).
    pub async fn execute(&self, req: Request) -> Result<Response, GraphError> {
        let inner = &self.inner;
        let cfg = &inner.config;
        let url = self.url(&req.url);
        let mailbox = reqwest::Url::parse(&url)
            .ok()
            .and_then(|u| mailbox_of(u.path()));
        let mut attempt: u32 = 0;
        let mut token_renewed = false;
        loop {
            let wait = match self.attempt(&req, &url, mailbox.as_deref()).await {
                Ok(resp) if resp.status == 429 => {
                    Counters::bump(&inner.counters.throttled);
                    inner.limit.on_throttled();
                    if attempt >= cfg.max_retries {
                        return Err(GraphError::Throttled {
                            retries: attempt,
                            retry_after: resp.retry_after(),
                            request_id: resp.request_id,
                        });
                    }
                    resp.retry_after()
                }
                Ok(resp)
                    if matches!(resp.status, 503 | 504)
                        && req.retry_safe
                        && attempt < cfg.max_retries =>
                {
                    resp.retry_after()
                }
                Ok(resp) if resp.status == 401 && !token_renewed && req.as_user.is_none() => {
                    // The token may have been revoked or expired early: fetch one more.
                    token_renewed = true;
                    inner.tokens.invalidate().await;
                    Some(Duration::ZERO)
                }
                Ok(resp) => {
                    if resp.is_success() {
                        inner.limit.on_success();
                    }
                    return Ok(resp);
                }
                Err(Failure::Always(e)) if attempt < cfg.max_retries => {
                    tracing::debug!(error = %e, "retrying after a connection failure");
                    None
                }
                Err(Failure::IfSafe(e)) if req.retry_safe && attempt < cfg.max_retries => {
                    tracing::debug!(error = %e, "retrying after a transient failure");
                    None
                }
                Err(Failure::Always(e) | Failure::IfSafe(e) | Failure::Never(e)) => return Err(e),
            };
            let wait =
                wait.unwrap_or_else(|| backoff_delay(attempt, cfg.backoff_base, cfg.backoff_cap));
            attempt += 1;
            Counters::bump(&inner.counters.retries);
            tokio::time::sleep(wait).await;
        }
    }

    /// One try: slots, token, request, whole body.
    async fn attempt(
        &self,
        req: &Request,
        url: &str,
        mailbox: Option<&str>,
    ) -> Result<Response, Failure> {
        let inner = &self.inner;
        // The token first: a slow token endpoint must not hold request slots.
        let app_token;
        let bearer = match &req.as_user {
            Some(user_token) => user_token.expose(),
            None => {
                app_token = inner
                    .tokens
                    .token_observed(self.observer.get())
                    .await
                    .map_err(|e| Failure::Never(e.into()))?;
                app_token.secret.expose()
            }
        };
        let _mailbox_slot = match mailbox {
            Some(m) => inner.mailboxes.acquire(m).await,
            None => None,
        };
        let _slot = if req.slots_held {
            None
        } else {
            Some(inner.limit.acquire_many(req.carries).await)
        };
        let client_request_id = uuid::Uuid::new_v4().to_string();
        let mut rb = inner
            .http
            .request(req.method.clone(), url)
            .bearer_auth(bearer)
            .header("client-request-id", &client_request_id)
            .header("return-client-request-id", "true");
        for (k, v) in &req.headers {
            rb = rb.header(k.as_str(), v.as_str());
        }
        if let Some(b) = &req.body {
            rb = rb.json(b);
        } else if req.method == Method::POST {
            rb = rb.header("content-length", "0");
        }
        Counters::bump(&inner.counters.requests);
        let started = Instant::now();
        let result = exchange(rb, url).await;
        self.observer.notify(|| {
            let mut s = RequestSummary::new(req.method.as_str(), url, started.elapsed());
            match &result {
                Ok(r) => {
                    s.status = Some(r.status);
                    s.request_id = r.request_id.clone();
                    s.bytes = r.body.len() as u64;
                }
                Err(Failure::Always(e) | Failure::IfSafe(e) | Failure::Never(e)) => {
                    s = s.failed(url, &e.to_string());
                }
            }
            s
        });
        let Response {
            status,
            headers,
            body,
            request_id,
            ..
        } = result?;
        let is_json = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("json"));
        if is_json
            && !body.is_empty()
            && serde_json::from_slice::<serde::de::IgnoredAny>(&body).is_err()
        {
            return Err(Failure::IfSafe(GraphError::Decode {
                url: url.to_string(),
                message: "the JSON body is incomplete or garbled".into(),
                request_id,
            }));
        }
        Ok(Response {
            status,
            headers,
            body,
            request_id,
            url: url.to_string(),
        })
    }
}

/// Sends one request and reads its whole body.
async fn exchange(rb: reqwest::RequestBuilder, url: &str) -> Result<Response, Failure> {
    let resp = rb.send().await.map_err(|e| classify(url, e))?;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let request_id = headers
        .get("request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = resp.bytes().await.map_err(|e| {
        if e.is_timeout() {
            Failure::IfSafe(GraphError::Timeout {
                url: url.to_string(),
            })
        } else {
            Failure::IfSafe(GraphError::Decode {
                url: url.to_string(),
                message: format!("the body was cut off: {e}"),
                request_id: request_id.clone(),
            })
        }
    })?;
    Ok(Response {
        status,
        headers,
        body,
        request_id,
        url: url.to_string(),
    })
}

fn classify(url: &str, e: reqwest::Error) -> Failure {
    let url = url.to_string();
    if e.is_timeout() {
        Failure::IfSafe(GraphError::Timeout { url })
    } else if e.is_connect() {
        Failure::Always(GraphError::Transport {
            url,
            message: e.to_string(),
        })
    } else if e.is_builder() {
        Failure::Never(GraphError::Invalid(format!(
            "the request for {url} is malformed: {e}"
        )))
    } else {
        Failure::IfSafe(GraphError::Transport {
            url,
            message: e.to_string(),
        })
    }
}
