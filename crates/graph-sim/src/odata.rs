//! The request as Graph sees it: absolute base URL (for nextLink/deltaLink), query options,
//! and the headers that change Graph's answer (`ConsistencyLevel`, `Prefer`).

use crate::error::{GraphError, GraphResult};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};

/// Scheme the request arrived on (set by the listener).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// Plain HTTP.
    Http,
    /// HTTPS.
    Https,
}

/// What a handler needs to know about the request beyond its path parameters.
#[derive(Debug, Clone)]
pub struct RequestCtx {
    /// `scheme://host:port` the client used.
    pub origin: String,
    /// Path as requested (e.g. `/v1.0/users/delta`).
    pub path: String,
    /// Decoded query pairs in their original order.
    pub query: Vec<(String, String)>,
    /// `ConsistencyLevel: eventual` present.
    pub eventual: bool,
    /// `Prefer` header values, split on commas.
    pub prefer: Vec<String>,
}

const QUERY_VALUE: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'&')
    .add(b'+')
    .add(b'<')
    .add(b'>')
    .add(b'=')
    .add(b'\'')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}');

impl RequestCtx {
    /// Parses a path-and-query plus headers into a context.
    pub fn from_parts(parts: &Parts) -> RequestCtx {
        let scheme = parts
            .extensions
            .get::<Scheme>()
            .copied()
            .unwrap_or(Scheme::Http);
        let host = parts
            .headers
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("127.0.0.1");
        let origin = format!(
            "{}://{}",
            if scheme == Scheme::Https {
                "https"
            } else {
                "http"
            },
            host
        );
        let query = parts
            .uri
            .query()
            .map(|q| {
                serde_urlencoded::from_str::<Vec<(String, String)>>(q).unwrap_or_else(|_| {
                    // Fall back to a lenient split so a bad escape is reported by the handler.
                    q.split('&')
                        .map(|kv| {
                            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                            (k.to_string(), v.to_string())
                        })
                        .collect()
                })
            })
            .unwrap_or_default();
        let eventual = parts
            .headers
            .get("consistencylevel")
            .and_then(|h| h.to_str().ok())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("eventual"));
        let prefer = parts
            .headers
            .get_all("prefer")
            .iter()
            .filter_map(|h| h.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        RequestCtx {
            origin,
            path: parts.uri.path().to_string(),
            query,
            eventual,
            prefer,
        }
    }

    /// A query option by name; `$top` also matches `top` and case is ignored, as Graph does.
    pub fn param(&self, name: &str) -> Option<&str> {
        let bare = name.trim_start_matches('$');
        self.query
            .iter()
            .find(|(k, _)| {
                let kb = k.trim_start_matches('$');
                kb.eq_ignore_ascii_case(bare)
            })
            .map(|(_, v)| v.as_str())
    }

    /// Whether `Prefer` asks for `token` (e.g. `return=minimal`); compares case-insensitively.
    pub fn prefers(&self, token: &str) -> bool {
        self.prefer.iter().any(|p| {
            p.replace(' ', "")
                .eq_ignore_ascii_case(&token.replace(' ', ""))
        })
    }

    /// `Prefer: odata.maxpagesize=N`, if sent.
    pub fn max_page_size(&self) -> Option<usize> {
        self.prefer.iter().find_map(|p| {
            let (k, v) = p.split_once('=')?;
            if k.trim().eq_ignore_ascii_case("odata.maxpagesize") {
                v.trim().parse().ok()
            } else {
                None
            }
        })
    }

    /// `Prefer: IdType="ImmutableId"` sent.
    pub fn immutable_ids(&self) -> bool {
        self.prefer.iter().any(|p| {
            p.replace(' ', "")
                .eq_ignore_ascii_case("IdType=\"ImmutableId\"")
        })
    }

    /// `$top` parsed and bounded to `1..=max`, with the directory's error text when out of range.
    pub fn top(&self, default: usize, max: usize) -> GraphResult<usize> {
        match self.param("$top") {
            None => Ok(default),
            Some(v) => match v.trim().parse::<i64>() {
                Ok(n) if n >= 1 && (n as usize) <= max => Ok(n as usize),
                _ => Err(GraphError::unsupported_query(format!(
                    "Invalid page size specified: '{v}'. Must be between 1 and {max} inclusive."
                ))),
            },
        }
    }

    /// `$select` as a list of property names (empty when absent).
    pub fn select(&self) -> Vec<String> {
        self.param("$select")
            .map(|s| {
                s.split(',')
                    .map(|p| p.trim().to_string())
                    .filter(|p| !p.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The absolute URL of this request with some query options replaced or removed.
    /// `set` entries with an empty value are removed instead of set.
    pub fn link_with(&self, set: &[(&str, &str)]) -> String {
        let mut pairs: Vec<(String, String)> = self
            .query
            .iter()
            .filter(|(k, _)| {
                !set.iter().any(|(s, _)| {
                    k.trim_start_matches('$')
                        .eq_ignore_ascii_case(s.trim_start_matches('$'))
                })
            })
            .cloned()
            .collect();
        for (k, v) in set {
            if !v.is_empty() {
                pairs.push((k.to_string(), v.to_string()));
            }
        }
        let mut url = format!("{}{}", self.origin, self.path);
        for (i, (k, v)) in pairs.iter().enumerate() {
            url.push(if i == 0 { '?' } else { '&' });
            url.push_str(&k.replace(' ', "%20"));
            url.push('=');
            url.push_str(&utf8_percent_encode(v, QUERY_VALUE).to_string());
        }
        url
    }

    /// Absolute URL for another path on the same origin.
    pub fn url_for(&self, path: &str) -> String {
        format!("{}{}", self.origin, path)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for RequestCtx {
    type Rejection = GraphError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(RequestCtx::from_parts(parts))
    }
}

/// Keeps only the `select`ed properties of a JSON object (plus `@odata.*` annotations), in
/// the order given. Unknown names are refused with Graph's message for `type_name`.
pub fn project(
    obj: &serde_json::Map<String, serde_json::Value>,
    select: &[impl AsRef<str>],
    type_name: &str,
) -> GraphResult<serde_json::Map<String, serde_json::Value>> {
    let mut out = serde_json::Map::new();
    for (k, v) in obj {
        if k.starts_with('@') {
            out.insert(k.clone(), v.clone());
        }
    }
    for name in select {
        let name = name.as_ref();
        match obj.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)) {
            Some((k, v)) => {
                out.insert(k.clone(), v.clone());
            }
            None => {
                return Err(GraphError::bad_request(format!(
                    "Could not find a property named '{name}' on type '{type_name}'."
                )))
            }
        }
    }
    Ok(out)
}
