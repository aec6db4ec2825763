//! Request summaries for diagnostics: what was asked, what came back and how long it took —
//! never a secret or a token. A [`RequestObserver`] given to
//! [`crate::GraphClient::with_observer`] sees one [`RequestSummary`] per HTTP exchange (Graph
//! and the token endpoint, retries included).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// One HTTP exchange as a diagnostic log shows it. Headers and bodies are never part of it;
/// the URL is [redacted](redact_url).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestSummary {
    /// `GET`, `POST`, …
    pub method: String,
    /// The absolute URL, secrets in the query replaced by `REDACTED`.
    pub url: String,
    /// The HTTP status, when an answer came.
    pub status: Option<u16>,
    /// Graph's `request-id`, when sent (what Microsoft support asks for).
    pub request_id: Option<String>,
    /// From sending the request to the end of the body.
    pub duration: Duration,
    /// Bytes of the answer's body.
    pub bytes: u64,
    /// Why no (whole) answer came: time-out, connection failure, cut-off body.
    pub error: Option<String>,
}

impl RequestSummary {
    /// A summary of `method url` with the URL redacted and an error text cleaned of the raw
    /// URL (transport errors quote it).
    pub fn new(method: &str, url: &str, duration: Duration) -> RequestSummary {
        RequestSummary {
            method: method.to_string(),
            url: redact_url(url),
            status: None,
            request_id: None,
            duration,
            bytes: 0,
            error: None,
        }
    }

    /// Records a failure; the raw URL inside its text is replaced by the redacted one.
    pub fn failed(mut self, raw_url: &str, error: &str) -> RequestSummary {
        self.error = Some(error.replace(raw_url, &self.url));
        self
    }
}

impl fmt::Display for RequestSummary {
    /// `GET https://graph.microsoft.com/v1.0/users/delta → 200, 1234 bytes, 87 ms, request-id 8c1…`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} → ", self.method, self.url)?;
        match self.status {
            Some(s) => write!(f, "{s}")?,
            None => f.write_str("no answer")?,
        }
        write!(
            f,
            ", {} bytes, {} ms",
            self.bytes,
            self.duration.as_millis()
        )?;
        if let Some(id) = &self.request_id {
            write!(f, ", request-id {id}")?;
        }
        if let Some(e) = &self.error {
            write!(f, ", error: {e}")?;
        }
        Ok(())
    }
}

/// Receives a summary of every HTTP exchange of a client (e.g. to write a job's diagnostic
/// log). Called on the request's task: keep it quick and never block.
pub trait RequestObserver: Send + Sync {
    /// One exchange ended (answered, failed or cut off).
    fn observe(&self, summary: &RequestSummary);
}

/// An optional observer, cloned cheaply with the client.
#[derive(Clone, Default)]
pub(crate) struct ObserverSlot(pub Option<Arc<dyn RequestObserver>>);

impl ObserverSlot {
    /// Hands `summary` to the observer, if any.
    pub fn notify(&self, summary: impl FnOnce() -> RequestSummary) {
        if let Some(o) = &self.0 {
            o.observe(&summary());
        }
    }

    /// The observer as a reference, for code that takes `Option<&dyn RequestObserver>`.
    pub fn get(&self) -> Option<&dyn RequestObserver> {
        self.0.as_deref()
    }
}

impl fmt::Debug for ObserverSlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "Some(observer)"
        } else {
            "None"
        })
    }
}

/// Query parameters whose values are secrets (compared without case). Paging and delta
/// tokens (`$skiptoken`, `$deltatoken`) are not: they are what a diagnosis needs.
const SECRET_PARAMS: &[&str] = &[
    "client_secret",
    "client_assertion",
    "access_token",
    "refresh_token",
    "id_token",
    "assertion",
    "code",
    "password",
    "secret",
    "sig",
    "key",
    "api-key",
    "apikey",
    "token",
];

/// `url` fit for a log: the values of secret query parameters (client secret or assertion,
/// access, refresh and id tokens, authorisation codes, passwords, signatures, keys) and any
/// `user:password@` part become `REDACTED`; everything else stays as it was.
pub fn redact_url(url: &str) -> String {
    let (base, fragment) = match url.split_once('#') {
        Some((b, f)) => (b, Some(f)),
        None => (url, None),
    };
    let (path, query) = match base.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (base, None),
    };
    let mut out = redact_userinfo(path);
    if let Some(q) = query {
        out.push('?');
        let parts: Vec<String> = q.split('&').map(redact_pair).collect();
        out.push_str(&parts.join("&"));
    }
    if let Some(f) = fragment {
        // Implicit-flow answers carry tokens in the fragment: keep only its parameter names.
        out.push('#');
        let parts: Vec<String> = f.split('&').map(redact_pair).collect();
        out.push_str(&parts.join("&"));
    }
    out
}

fn redact_pair(pair: &str) -> String {
    match pair.split_once('=') {
        Some((k, _)) if is_secret(k) => format!("{k}=REDACTED"),
        _ => pair.to_string(),
    }
}

fn is_secret(key: &str) -> bool {
    let decoded = key
        .replace("%5F", "_")
        .replace("%5f", "_")
        .replace("%24", "$");
    let name = decoded.trim_start_matches('$');
    SECRET_PARAMS.iter().any(|s| s.eq_ignore_ascii_case(name))
}

fn redact_userinfo(path: &str) -> String {
    let Some((scheme, rest)) = path.split_once("://") else {
        return path.to_string();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((_, host)) => format!("{scheme}://REDACTED@{host}{tail}"),
        None => path.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_go_and_paging_tokens_stay() {
        assert_eq!(
            redact_url("https://login.example/t/oauth2/v2.0/token?client_secret=s3cr3t&scope=x"),
            "https://login.example/t/oauth2/v2.0/token?client_secret=REDACTED&scope=x"
        );
        assert_eq!(
            redact_url("https://a/cb?code=abc&state=1#access_token=eyJ0&token_type=Bearer"),
            "https://a/cb?code=REDACTED&state=1#access_token=REDACTED&token_type=Bearer"
        );
        assert_eq!(
            redact_url("https://g/v1.0/users/delta?$deltatoken=xyz&$skiptoken=abc"),
            "https://g/v1.0/users/delta?$deltatoken=xyz&$skiptoken=abc"
        );
        assert_eq!(
            redact_url("https://bob:pw@host/x?CLIENT_ASSERTION=jwt&sig=zz&%24top=5"),
            "https://REDACTED@host/x?CLIENT_ASSERTION=REDACTED&sig=REDACTED&%24top=5"
        );
        assert_eq!(redact_url("/users?$top=999"), "/users?$top=999");
    }

    #[test]
    fn a_summary_reads_as_one_line() {
        let mut s = RequestSummary::new(
            "GET",
            "https://g/v1.0/users?access_token=abc",
            Duration::from_millis(87),
        );
        s.status = Some(200);
        s.bytes = 1234;
        s.request_id = Some("r-1".into());
        assert_eq!(
            s.to_string(),
            "GET https://g/v1.0/users?access_token=REDACTED → 200, 1234 bytes, 87 ms, request-id r-1"
        );
        let f = RequestSummary::new("GET", "https://h/x?code=c", Duration::ZERO).failed(
            "https://h/x?code=c",
            "error sending request for url (https://h/x?code=c)",
        );
        assert_eq!(
            f.to_string(),
            "GET https://h/x?code=REDACTED → no answer, 0 bytes, 0 ms, error: error sending request for url (https://h/x?code=REDACTED)"
        );
    }
}
