//! What runs before and after every handler: the IP allow-list (403), the per-address rate
//! limit (429), and ETags on successful GETs (`If-None-Match` → 304).

use crate::config::RateLimit;
use crate::error::{Failure, Flavour, HttpError};
use crate::server::AppState;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Buckets kept before idle ones are dropped, so a scan from many addresses cannot grow the
/// table without bound.
const MAX_BUCKETS: usize = 4096;

/// A token bucket per client address.
#[derive(Debug)]
pub struct RateLimiter {
    rate: RateLimit,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

impl RateLimiter {
    /// A limiter allowing `rate` per address.
    pub fn new(rate: RateLimit) -> Self {
        Self {
            rate,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    fn refill(&self, bucket: &Bucket, now: Instant) -> f64 {
        let elapsed = now.saturating_duration_since(bucket.last).as_secs_f64();
        (bucket.tokens + elapsed * f64::from(self.rate.per_second)).min(f64::from(self.rate.burst))
    }

    /// Takes one request from `ip`'s bucket at time `now`; `Err(wait)` when it is empty.
    pub fn check(&self, ip: IpAddr, now: Instant) -> Result<(), Duration> {
        let mut buckets = match self.buckets.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        if buckets.len() >= MAX_BUCKETS && !buckets.contains_key(&ip) {
            let burst = f64::from(self.rate.burst);
            buckets.retain(|_, b| self.refill(b, now) < burst);
        }
        let full = Bucket {
            tokens: f64::from(self.rate.burst),
            last: now,
        };
        let bucket = buckets.entry(ip).or_insert(full);
        let tokens = self.refill(bucket, now);
        if tokens >= 1.0 {
            *bucket = Bucket {
                tokens: tokens - 1.0,
                last: now,
            };
            Ok(())
        } else {
            *bucket = Bucket { tokens, last: now };
            let missing = 1.0 - tokens;
            Err(Duration::from_secs_f64(
                missing / f64::from(self.rate.per_second),
            ))
        }
    }
}

/// Rejects clients outside the allow-list and clients over their rate. Without a known peer
/// address (a router used without connect info) the allow-list denies and the rate limit is
/// skipped.
pub async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let ip = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0.ip());
    let flavour = Flavour::of_path(request.uri().path());
    if !state.config.allow.is_empty() && !ip.is_some_and(|ip| state.config.allows(ip)) {
        return Failure {
            error: HttpError::Forbidden("this address is not in pbx365's HTTP allow-list".into()),
            flavour,
        }
        .into_response();
    }
    if let (Some(limiter), Some(ip)) = (&state.limiter, ip) {
        if let Err(wait) = limiter.check(ip, Instant::now()) {
            return Failure {
                error: HttpError::RateLimited {
                    retry_after: wait.as_secs().max(1),
                },
                flavour,
            }
            .into_response();
        }
    }
    next.run(request).await
}

/// The strong ETag of a body: the first 16 bytes of its SHA-256, quoted.
pub fn etag_of(body: &[u8]) -> String {
    let digest = Sha256::digest(body);
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("\"{hex}\"")
}

/// True when an `If-None-Match` value names `etag` (or is `*`); weak tags compare by value.
pub fn none_match(header: &str, etag: &str) -> bool {
    header.split(',').map(str::trim).any(|candidate| {
        candidate == "*" || candidate.strip_prefix("W/").unwrap_or(candidate) == etag
    })
}

/// A stored entity tag (Graph's `@odata.mediaEtag`) as an ETag header: kept as it is when it
/// is already a quoted (or weak) tag, quoted otherwise; `None` when it cannot be a header.
pub fn entity_tag(stored: &str) -> Option<HeaderValue> {
    let quoted = stored.strip_prefix("W/").unwrap_or(stored);
    let tag = if quoted.len() >= 2 && quoted.starts_with('"') && quoted.ends_with('"') {
        stored.to_owned()
    } else {
        format!("\"{stored}\"")
    };
    let inner = tag.strip_prefix("W/").unwrap_or(&tag);
    let inner = &inner[1..inner.len() - 1];
    // RFC 9110 etagc: no quote, space or control characters inside.
    if inner.bytes().any(|b| b == b'"' || b <= b' ' || b == 0x7f) {
        return None;
    }
    HeaderValue::from_str(&tag).ok()
}

/// Adds an ETag to every 200 answer to GET or HEAD and answers 304 when the client already
/// has that body; a handler that set its own ETag (a photo's mediaEtag) keeps it. Responses
/// are marked private (they depend on the credentials).
pub async fn etag(request: Request, next: Next) -> Response {
    let cacheable = matches!(*request.method(), Method::GET | Method::HEAD);
    let if_none_match = request
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let response = next.run(request).await;
    if !cacheable || response.status() != StatusCode::OK {
        return response;
    }
    let own = response
        .headers()
        .get(header::ETAG)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if let Some(tag) = own {
        let (mut parts, body) = response.into_parts();
        private(&mut parts.headers);
        let tag = tag.strip_prefix("W/").unwrap_or(&tag);
        if if_none_match.is_some_and(|h| none_match(&h, tag)) {
            parts.status = StatusCode::NOT_MODIFIED;
            parts.headers.remove(header::CONTENT_LENGTH);
            return Response::from_parts(parts, Body::empty());
        }
        return Response::from_parts(parts, body);
    }
    let (mut parts, body) = response.into_parts();
    let bytes = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(bytes) => bytes,
        Err(err) => {
            tracing::warn!(error = %err, "response body failed");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    let tag = etag_of(&bytes);
    if let Ok(value) = HeaderValue::from_str(&tag) {
        parts.headers.insert(header::ETAG, value);
    }
    private(&mut parts.headers);
    if if_none_match.is_some_and(|h| none_match(&h, &tag)) {
        parts.status = StatusCode::NOT_MODIFIED;
        parts.headers.remove(header::CONTENT_LENGTH);
        return Response::from_parts(parts, Body::empty());
    }
    Response::from_parts(parts, Body::from(bytes))
}

/// Marks an answer as depending on the credentials.
fn private(headers: &mut axum::http::HeaderMap) {
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-cache"),
    );
    headers.insert(header::VARY, HeaderValue::from_static("Authorization"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_refills_at_the_rate() {
        let limiter = RateLimiter::new(RateLimit {
            per_second: 2,
            burst: 3,
        });
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(limiter.check(ip, t0).is_ok());
        }
        let wait = limiter.check(ip, t0).unwrap_err();
        assert!(wait <= Duration::from_millis(500) && wait > Duration::ZERO);
        assert!(limiter.check(other, t0).is_ok());
        assert!(limiter.check(ip, t0 + Duration::from_millis(500)).is_ok());
        assert!(limiter.check(ip, t0 + Duration::from_millis(500)).is_err());
    }

    #[test]
    fn bucket_table_stays_bounded() {
        let limiter = RateLimiter::new(RateLimit {
            per_second: 1000,
            burst: 1,
        });
        let t0 = Instant::now();
        for i in 0..(MAX_BUCKETS as u32 + 10) {
            let ip = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            let _ = limiter.check(ip, t0 + Duration::from_millis(u64::from(i)));
        }
        assert!(limiter.buckets.lock().unwrap().len() <= MAX_BUCKETS);
    }

    #[test]
    fn etags_match() {
        let tag = etag_of(b"hello");
        assert_eq!(tag.len(), 34);
        assert!(none_match(&tag, &tag));
        assert!(none_match(&format!("\"x\", W/{tag}"), &tag));
        assert!(none_match("*", &tag));
        assert!(!none_match("\"other\"", &tag));
        assert_ne!(tag, etag_of(b"hello!"));
    }

    #[test]
    fn stored_entity_tags() {
        let tag = |s: &str| entity_tag(s).map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(tag("\"abc\"").as_deref(), Some("\"abc\""));
        assert_eq!(tag("W/\"abc\"").as_deref(), Some("W/\"abc\""));
        assert_eq!(tag("abc").as_deref(), Some("\"abc\""));
        assert_eq!(tag("a\"b"), None);
        assert_eq!(tag("a b"), None);
        assert_eq!(tag("\"\n\""), None);
    }
}
