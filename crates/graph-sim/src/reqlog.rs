//! The request log: counts per endpoint (ids folded to `{id}`), per mailbox and per status,
//! and the most recent requests, for tests and benchmarks to read through `/_sim/requests`.

use parking_lot::Mutex;
use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};

/// One logged request.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LoggedRequest {
    /// HTTP method.
    pub method: String,
    /// Path and query as requested.
    pub url: String,
    /// Endpoint key (method + path with ids folded).
    pub endpoint: String,
    /// Response status.
    pub status: u16,
    /// Time spent in the emulator, ms.
    pub millis: f64,
    /// Request id sent back.
    pub request_id: String,
}

/// Aggregated counts and a ring of recent requests.
#[derive(Debug, Default)]
pub struct RequestLog {
    inner: Mutex<LogInner>,
}

#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
struct LogInner {
    total: u64,
    by_endpoint: BTreeMap<String, u64>,
    by_mailbox: BTreeMap<String, u64>,
    by_status: BTreeMap<u16, u64>,
    recent: VecDeque<LoggedRequest>,
}

const RECENT: usize = 2_000;

/// Words that are fixed parts of Graph paths (never ids).
const KEYWORDS: &[&str] = &[
    "v1.0",
    "beta",
    "users",
    "groups",
    "contacts",
    "contactFolders",
    "childFolders",
    "delta",
    "members",
    "photo",
    "photos",
    "$value",
    "$count",
    "$batch",
    "presence",
    "presences",
    "communications",
    "getPresencesByUserId",
    "setPresence",
    "clearPresence",
    "setUserPreferredPresence",
    "clearUserPreferredPresence",
    "calendar",
    "getSchedule",
    "mailboxSettings",
    "automaticRepliesSetting",
    "sendMail",
    "subscriptions",
    "reauthorize",
    "oauth2",
    "v2.0",
    "token",
    "devicecode",
    "authorize",
    "adminconsent",
    "discovery",
    "keys",
    ".well-known",
    "openid-configuration",
    "_sim",
    "microsoft.graph.delta",
    "organization",
    "me",
];

/// Folds ids in a path to `{id}` so requests group by endpoint.
pub fn endpoint_key(method: &str, path: &str) -> String {
    let folded: Vec<String> = path
        .split('/')
        .map(|s| {
            if s.is_empty()
                || s.starts_with("_sim")
                || KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(s))
            {
                s.to_string()
            } else {
                "{id}".to_string()
            }
        })
        .collect();
    format!("{method} {}", folded.join("/"))
}

/// The mailbox (user id or UPN) an Outlook path addresses, if it is one.
pub fn mailbox_of(path: &str) -> Option<String> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let i = segs.iter().position(|s| *s == "users")?;
    let user = segs.get(i + 1)?;
    let next = segs.get(i + 2)?;
    let outlook = [
        "contacts",
        "contactFolders",
        "calendar",
        "mailboxSettings",
        "sendMail",
        "photo",
        "photos",
    ];
    outlook
        .iter()
        .any(|k| k.eq_ignore_ascii_case(next))
        .then(|| user.to_ascii_lowercase())
}

impl RequestLog {
    /// Records one answered request.
    pub fn record(&self, r: LoggedRequest, path: &str) {
        let mut g = self.inner.lock();
        g.total += 1;
        *g.by_endpoint.entry(r.endpoint.clone()).or_default() += 1;
        *g.by_status.entry(r.status).or_default() += 1;
        if let Some(mb) = mailbox_of(path) {
            *g.by_mailbox.entry(mb).or_default() += 1;
        }
        if g.recent.len() >= RECENT {
            g.recent.pop_front();
        }
        g.recent.push_back(r);
    }

    /// The log as JSON (`total`, `byEndpoint`, `byMailbox`, `byStatus`, `recent`).
    pub fn snapshot(&self) -> serde_json::Value {
        serde_json::to_value(&*self.inner.lock()).unwrap_or_default()
    }

    /// The counts alone (total and per status), cheap enough to sample every second.
    pub fn totals(&self) -> serde_json::Value {
        let g = self.inner.lock();
        serde_json::json!({"total": g.total, "byStatus": g.by_status})
    }

    /// Clears everything.
    pub fn clear(&self) {
        *self.inner.lock() = LogInner::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_ids() {
        assert_eq!(
            endpoint_key(
                "GET",
                "/v1.0/users/abc-123/contactFolders/AAMk=/contacts/delta"
            ),
            "GET /v1.0/users/{id}/contactFolders/{id}/contacts/delta"
        );
        assert_eq!(
            mailbox_of("/v1.0/users/Ann@x.com/contacts"),
            Some("ann@x.com".into())
        );
        assert_eq!(mailbox_of("/v1.0/users/abc"), None);
    }
}
