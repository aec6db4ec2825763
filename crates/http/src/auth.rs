//! Who is asking: the site from the path, the credentials from the request, the
//! [`Principal`] from the directory service.
//!
//! Credentials are the ones pbx365 issued (`username` + `secret`), sent either as HTTP basic
//! auth or — for phones that cannot send headers — as `?token=username:secret` in the URL
//! (percent-encode a `:` or `&` inside the secret). Basic auth wins when both are present.
//! Without either, the request runs as the site's anonymous principal when the site allows
//! anonymous access, and gets 401 with a `WWW-Authenticate: Basic` challenge otherwise.

use crate::error::{Failure, Flavour, HttpError};
use crate::params::Params;
use crate::server::AppState;
use axum::extract::{FromRequestParts, OriginalUri, Path};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use base64::Engine;
use directory::{Principal, ServiceError, SiteId};
use std::collections::HashMap;

/// Username and secret as sent by the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The issued username.
    pub username: String,
    /// The issued secret.
    pub secret: String,
}

/// Reads credentials from a basic `Authorization` header or a `token` parameter; `Ok(None)`
/// when there are none, `Unauthorized` when they are malformed.
pub fn credentials(headers: &HeaderMap, params: &Params) -> Result<Option<Credentials>, HttpError> {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let value = value.to_str().map_err(|_| HttpError::Unauthorized)?;
        let (scheme, data) = value
            .trim()
            .split_once(' ')
            .ok_or(HttpError::Unauthorized)?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return Err(HttpError::Unauthorized);
        }
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(data.trim())
            .map_err(|_| HttpError::Unauthorized)?;
        let text = String::from_utf8(bytes).map_err(|_| HttpError::Unauthorized)?;
        return split(&text).map(Some);
    }
    match params.raw("token") {
        Some(token) => split(token).map(Some),
        None => Ok(None),
    }
}

fn split(text: &str) -> Result<Credentials, HttpError> {
    let (username, secret) = text.split_once(':').ok_or(HttpError::Unauthorized)?;
    if username.is_empty() {
        return Err(HttpError::Unauthorized);
    }
    Ok(Credentials {
        username: username.to_owned(),
        secret: secret.to_owned(),
    })
}

/// A resolved request: who asks, about which site, with which parameters, and how errors are
/// told. Handlers take it as an extractor.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The principal every service call runs as.
    pub who: Principal,
    /// How errors are reported on this route.
    pub flavour: Flavour,
    /// The query-string parameters.
    pub params: Params,
    /// The request path as the client sent it (with any `/sites/{site}` prefix), for links.
    pub path: String,
    /// The `Host` header, for absolute links (Cisco phones need them).
    pub host: Option<String>,
    /// True when a proxy in front said the client used HTTPS (`X-Forwarded-Proto: https`).
    pub https: bool,
}

impl Caller {
    /// Binds an error to this route's flavour.
    pub fn fail(&self, error: impl Into<HttpError>) -> Failure {
        Failure {
            error: error.into(),
            flavour: self.flavour,
        }
    }

    /// An absolute URL to this same path with the given parameters replaced (or removed when
    /// `None`), everything else — search text, token — kept.
    pub fn link(&self, changes: &[(&str, Option<String>)]) -> String {
        let mut query = Vec::new();
        for (key, value) in self.params.pairs() {
            if changes.iter().any(|(k, _)| *k == key) {
                continue;
            }
            query.push(format!(
                "{}={}",
                crate::params::encode(key),
                crate::params::encode(value)
            ));
        }
        for (key, value) in changes {
            if let Some(value) = value {
                query.push(format!(
                    "{}={}",
                    crate::params::encode(key),
                    crate::params::encode(value)
                ));
            }
        }
        let host = self.host.as_deref().unwrap_or("localhost");
        let scheme = if self.https { "https" } else { "http" };
        let mut url = format!("{scheme}://{host}{}", self.path);
        if !query.is_empty() {
            url.push('?');
            url.push_str(&query.join("&"));
        }
        url
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = Failure;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Failure> {
        let path = parts
            .extensions
            .get::<OriginalUri>()
            .map(|uri| uri.0.path().to_owned())
            .unwrap_or_else(|| parts.uri.path().to_owned());
        let flavour = Flavour::of_path(&path);
        let fail = |error| Failure { error, flavour };
        let params = Params::parse(parts.uri.query().unwrap_or(""));
        let path_params = Path::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map(|Path(map)| map)
            .unwrap_or_default();
        let site = match path_params.get("site") {
            Some(site) => SiteId::new(site.as_str())
                .map_err(|err| fail(HttpError::NotFound(err.to_string())))?,
            None => state.config.default_site.clone().ok_or_else(|| {
                fail(HttpError::NotFound(
                    "no default site is configured: use /sites/{site}/...".into(),
                ))
            })?,
        };
        let who = match credentials(&parts.headers, &params).map_err(fail)? {
            Some(creds) => state
                .service
                .authenticate(&site, &creds.username, &creds.secret)
                .await
                .map_err(|e| fail(e.into()))?,
            None => match state.service.anonymous(&site).await {
                Ok(who) => who,
                Err(ServiceError::Forbidden(_)) => return Err(fail(HttpError::Unauthorized)),
                Err(other) => return Err(fail(other.into())),
            },
        };
        let host = parts
            .headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_graphic()))
            .map(str::to_owned);
        let https = parts
            .headers
            .get("x-forwarded-proto")
            .and_then(|h| h.to_str().ok())
            .is_some_and(|p| p.trim().eq_ignore_ascii_case("https"));
        Ok(Self {
            who,
            flavour,
            params,
            path,
            host,
            https,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn basic(text: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        let value = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(text)
        );
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&value).unwrap(),
        );
        headers
    }

    #[test]
    fn reads_basic_auth_and_tokens() {
        let none = Params::default();
        let creds = credentials(&basic("alice:pa:ss"), &none).unwrap().unwrap();
        assert_eq!(
            (creds.username.as_str(), creds.secret.as_str()),
            ("alice", "pa:ss")
        );
        let token = Params::parse("token=bob%3Asecret");
        let creds = credentials(&HeaderMap::new(), &token).unwrap().unwrap();
        assert_eq!(
            (creds.username.as_str(), creds.secret.as_str()),
            ("bob", "secret")
        );
        assert_eq!(credentials(&HeaderMap::new(), &none).unwrap(), None);
    }

    #[test]
    fn malformed_credentials_are_unauthorized() {
        assert!(credentials(&basic("nocolon"), &Params::default()).is_err());
        assert!(credentials(&basic(":secret"), &Params::default()).is_err());
        let mut bearer = HeaderMap::new();
        bearer.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer x"));
        assert!(credentials(&bearer, &Params::default()).is_err());
        let mut junk = HeaderMap::new();
        junk.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic !!!"));
        assert!(credentials(&junk, &Params::default()).is_err());
        assert!(credentials(&HeaderMap::new(), &Params::parse("token=x")).is_err());
    }
}
