//! JSON `$batch`: up to 20 requests per POST, and never more than the client's adaptive
//! concurrency limit allows when it leaves (larger sets are split), inner 429/503 answers
//! retried in a new batch after the longest inner `Retry-After`, answers mapped back by id.

use crate::error::{api_error, GraphError};
use crate::http::{backoff_delay, parse_retry_after, GraphClient, Request};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

/// Graph's limit of requests in one batch.
pub const MAX_BATCH: usize = 20;

/// One request inside a batch.
#[derive(Debug, Clone, Serialize)]
pub struct BatchRequest {
    /// Unique (case-insensitively) within the call.
    pub id: String,
    /// `GET`, `POST`, …
    pub method: String,
    /// Relative to the version root, e.g. `/users/{id}/presence`.
    pub url: String,
    /// Headers (a body gets `Content-Type: application/json` automatically).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// JSON body.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
}

impl BatchRequest {
    /// A `GET` of `url` under `id`.
    pub fn get(id: impl Into<String>, url: impl Into<String>) -> BatchRequest {
        BatchRequest {
            id: id.into(),
            method: "GET".into(),
            url: url.into(),
            headers: BTreeMap::new(),
            body: None,
        }
    }
}

/// One answer inside a batch.
#[derive(Debug, Clone, Deserialize)]
pub struct BatchResponse {
    /// The request's id.
    pub id: String,
    /// Its HTTP status.
    pub status: u16,
    /// Its headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Its body (`Null` when none).
    #[serde(default)]
    pub body: Value,
}

impl BatchResponse {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body as `T` when 2xx, else the inner Graph error.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, GraphError> {
        if !self.is_success() {
            let body = serde_json::to_vec(&self.body).unwrap_or_default();
            return Err(api_error(
                self.status,
                self.header("request-id").map(str::to_string),
                self.header("client-request-id").map(str::to_string),
                self.retry_after(),
                &body,
            ));
        }
        serde_json::from_value(self.body.clone()).map_err(|e| GraphError::Decode {
            url: format!("$batch request {}", self.id),
            message: e.to_string(),
            request_id: self.header("request-id").map(str::to_string),
        })
    }

    fn retry_after(&self) -> Option<Duration> {
        self.header("retry-after")
            .and_then(|v| parse_retry_after(v, chrono::Utc::now()))
    }
}

#[derive(Serialize)]
struct BatchBody<'a> {
    requests: &'a [BatchRequest],
}

#[derive(Deserialize)]
struct BatchAnswer {
    #[serde(default)]
    responses: Vec<BatchResponse>,
}

impl GraphClient {
    /// Sends `requests` in batches of at most 20 — and at most the slots of the adaptive
    /// concurrency limit each batch got, one per inner request — and returns one answer per request, in the
    /// order given. Throttled (429) inner requests, and 503/504 of inner GETs, go again in a
    /// later batch after the longest `Retry-After` among them, up to `max_retries` times.
    pub async fn batch(
        &self,
        mut requests: Vec<BatchRequest>,
    ) -> Result<Vec<BatchResponse>, GraphError> {
        let mut seen = HashSet::new();
        for r in &mut requests {
            if !seen.insert(r.id.to_lowercase()) {
                return Err(GraphError::Invalid(format!(
                    "the batch request id '{}' is used twice",
                    r.id
                )));
            }
            if r.body.is_some()
                && !r
                    .headers
                    .keys()
                    .any(|k| k.eq_ignore_ascii_case("content-type"))
            {
                r.headers
                    .insert("Content-Type".into(), "application/json".into());
            }
        }
        let order: Vec<String> = requests.iter().map(|r| r.id.clone()).collect();
        let mut done: HashMap<String, BatchResponse> = HashMap::new();
        let mut pending = requests;
        let max_retries = self.config().max_retries;
        let mut round: u32 = 0;
        while !pending.is_empty() {
            let mut again = Vec::new();
            let mut wait: Option<Duration> = None;
            let mut rest = pending.as_slice();
            while !rest.is_empty() {
                // Slots first, then the batch sized to them: Graph counts and throttles every
                // inner request, so a batch never carries more than the adaptive limit allows
                // as it is when it leaves (it may have dropped while this one waited).
                let slots = self.acquire_slots(rest.len().min(MAX_BATCH)).await;
                let (chunk, tail) = rest.split_at(slots.slots().min(rest.len()));
                rest = tail;
                let answers = self.send_batch(chunk).await?;
                drop(slots);
                let by_id: HashMap<&str, &BatchRequest> =
                    chunk.iter().map(|r| (r.id.as_str(), r)).collect();
                for answer in answers {
                    let Some(req) = by_id.get(answer.id.as_str()) else {
                        continue;
                    };
                    let retryable = answer.status == 429
                        || (matches!(answer.status, 503 | 504) && req.method == "GET");
                    if answer.status == 429 {
                        self.note_throttled();
                    }
                    if retryable && round < max_retries {
                        wait = wait.max(answer.retry_after());
                        again.push((*req).clone());
                    } else {
                        done.insert(answer.id.clone(), answer);
                    }
                }
            }
            if again.is_empty() {
                break;
            }
            let cfg = self.config();
            let delay =
                wait.unwrap_or_else(|| backoff_delay(round, cfg.backoff_base, cfg.backoff_cap));
            tracing::debug!(
                count = again.len(),
                ?delay,
                "retrying throttled batch requests"
            );
            self.note_retry();
            tokio::time::sleep(delay).await;
            round += 1;
            pending = again;
        }
        order
            .into_iter()
            .map(|id| {
                done.remove(&id).ok_or_else(|| GraphError::Decode {
                    url: "$batch".into(),
                    message: format!("the batch answer has no response for request '{id}'"),
                    request_id: None,
                })
            })
            .collect()
    }

    async fn send_batch(&self, chunk: &[BatchRequest]) -> Result<Vec<BatchResponse>, GraphError> {
        let body = serde_json::to_value(BatchBody { requests: chunk })
            .map_err(|e| GraphError::Invalid(format!("the batch cannot be encoded: {e}")))?;
        // Sent under the slots `batch` holds for it.
        let mut req = Request::post("$batch", body)
            .carrying(chunk.len())
            .slots_held();
        if chunk.iter().all(|r| r.method.eq_ignore_ascii_case("GET")) {
            req = req.retry_safe();
        }
        let answer: BatchAnswer = self.send_json(req).await?;
        Ok(answer.responses)
    }
}
