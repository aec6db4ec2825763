//! Single GETs of independent tasks, carried together in JSON `$batch` requests: a request
//! waits at most a short window for others, and up to [`MAX_BATCH`] travel in one round trip.
//! Meant for many small reads at once (a no-change delta round: one quiet page per scope).
//!
//! Each inner request is still throttled on its own, as Graph does: an inner 429 (or 503/504)
//! goes again in a later batch after its `Retry-After` ([`GraphClient::batch`]). A batch that
//! fails as a whole sends its requests again one by one, so a caller sees what the single
//! request would have answered.

use crate::batch::{BatchRequest, BatchResponse, MAX_BATCH};
use crate::error::GraphError;
use crate::http::{GraphClient, Request, Response};
use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// One GET waiting for its batch.
struct Waiting {
    /// Relative to the version root.
    url: String,
    headers: BTreeMap<String, String>,
    reply: oneshot::Sender<Option<BatchResponse>>,
}

/// A handle that sends GETs through `$batch` (cheap to clone; the gathering task ends when
/// the last handle is dropped).
#[derive(Clone)]
pub struct Coalescer {
    client: GraphClient,
    tx: mpsc::UnboundedSender<Waiting>,
}

impl fmt::Debug for Coalescer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Coalescer").finish_non_exhaustive()
    }
}

impl Coalescer {
    /// Starts gathering on the current Tokio runtime: a batch leaves when it holds `most`
    /// requests (at most [`MAX_BATCH`], and at most the client's adaptive concurrency limit
    /// when the batch began) or `window` after its first one came. Graph runs
    /// at most 4 Outlook requests of a batch at once, so a batch of 4 Outlook reads costs
    /// one round trip and one of 20 five.
    pub fn new(client: &GraphClient, window: Duration, most: usize) -> Coalescer {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(gather(client.clone(), rx, window, most.clamp(1, MAX_BATCH)));
        Coalescer {
            client: client.clone(),
            tx,
        }
    }

    /// GETs `url` (relative, or absolute under the client's Graph root) with `headers`,
    /// inside a batch; its answer as if it had been sent alone. A URL elsewhere is sent alone.
    pub async fn get(
        &self,
        url: &str,
        headers: &[(String, String)],
    ) -> Result<Response, GraphError> {
        let absolute = self.client.url(url);
        let alone = || {
            let mut req = Request::get(absolute.clone());
            for (k, v) in headers {
                req = req.header(k, v);
            }
            self.client.execute(req)
        };
        let Some(relative) = self.client.relative_url(&absolute) else {
            return alone().await;
        };
        let (reply, answer) = oneshot::channel();
        let waiting = Waiting {
            url: relative,
            headers: headers.iter().cloned().collect(),
            reply,
        };
        if self.tx.send(waiting).is_err() {
            return alone().await;
        }
        match answer.await {
            Ok(Some(a)) => Ok(into_response(a, absolute)),
            // The batch failed as a whole (or the gatherer is gone): on its own, then.
            _ => alone().await,
        }
    }
}

impl GraphClient {
    /// `url` relative to the version root (`/users/…`), when it lies under this client's
    /// Graph root (a batch carries only such URLs).
    pub(crate) fn relative_url(&self, url: &str) -> Option<String> {
        let root = self.config().graph_url.trim_end_matches('/');
        let rest = url.strip_prefix(root)?;
        rest.starts_with('/').then(|| rest.to_string())
    }
}

/// Collects waiting GETs into batches and sends each batch on its own task.
async fn gather(
    client: GraphClient,
    mut rx: mpsc::UnboundedReceiver<Waiting>,
    window: Duration,
    most: usize,
) {
    while let Some(first) = rx.recv().await {
        let deadline = tokio::time::Instant::now() + window;
        let mut batch = vec![first];
        // No more than the adaptive limit allows now: a batch carrying more would be split
        // when it leaves (`GraphClient::batch` sizes each POST to the slots it gets), its
        // rest a round trip later.
        let most = most.min(client.concurrency_limit()).max(1);
        while batch.len() < most {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(w)) => batch.push(w),
                Ok(None) | Err(_) => break,
            }
        }
        tokio::spawn(send(client.clone(), batch));
    }
}

async fn send(client: GraphClient, batch: Vec<Waiting>) {
    let requests: Vec<BatchRequest> = batch
        .iter()
        .enumerate()
        .map(|(i, w)| BatchRequest {
            id: (i + 1).to_string(),
            method: "GET".into(),
            url: w.url.clone(),
            headers: w.headers.clone(),
            body: None,
        })
        .collect();
    match client.batch(requests).await {
        Ok(answers) => {
            for (w, a) in batch.into_iter().zip(answers) {
                let _ = w.reply.send(Some(a));
            }
        }
        Err(e) => {
            tracing::debug!(error = %e, "a batch failed; its requests go alone");
            for w in batch {
                let _ = w.reply.send(None);
            }
        }
    }
}

/// An inner answer as a response of its own.
fn into_response(a: BatchResponse, url: String) -> Response {
    let mut headers = HeaderMap::new();
    for (k, v) in &a.headers {
        if let (Ok(k), Ok(v)) = (
            HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(v),
        ) {
            headers.insert(k, v);
        }
    }
    let request_id = a
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("request-id"))
        .map(|(_, v)| v.clone());
    let body = if a.body.is_null() {
        Bytes::new()
    } else {
        Bytes::from(serde_json::to_vec(&a.body).unwrap_or_default())
    };
    Response {
        status: a.status,
        headers,
        body,
        request_id,
        url,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_inner_answer_reads_like_a_response_of_its_own() {
        let a = BatchResponse {
            id: "1".into(),
            status: 410,
            headers: [
                ("Location".to_string(), "https://g/v1.0/x".to_string()),
                ("request-id".to_string(), "r1".to_string()),
            ]
            .into_iter()
            .collect(),
            body: json!({"error": {"code": "syncStateNotFound", "message": "gone"}}),
        };
        let r = into_response(a, "https://g/v1.0/y".into());
        assert_eq!(r.status, 410);
        assert_eq!(r.location().as_deref(), Some("https://g/v1.0/x"));
        assert_eq!(r.request_id.as_deref(), Some("r1"));
        assert!(r.error_for_status().is_err());
    }
}
