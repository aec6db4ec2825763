//! Delta rounds: from an initial URL or a stored deltaLink, follow nextLinks (through empty
//! pages) to the new deltaLink, turning `@removed` entries into removals, keeping the last
//! occurrence of each id; and when Graph says the token is gone (410, `syncStateNotFound`,
//! `resyncRequired`), tell the caller to read the scope whole again.

use crate::error::GraphError;
use crate::http::{GraphClient, Request};
use crate::paging::MAX_PAGES;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;
use std::collections::HashMap;

/// Why an object left the scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum RemovedReason {
    /// Soft-deleted (restorable) or moved out of the scope.
    Changed,
    /// Permanently deleted.
    Deleted,
}

/// One change of a delta round.
#[derive(Debug, Clone, PartialEq)]
pub enum DeltaChange<T> {
    /// Created or changed (with `return=minimal`, only the changed properties are set).
    Upsert(T),
    /// Gone from the scope.
    Removed {
        /// The object's id.
        id: String,
        /// Why.
        reason: RemovedReason,
    },
}

impl<T> DeltaChange<T> {
    /// The removed id, for removals.
    pub fn removed_id(&self) -> Option<&str> {
        match self {
            DeltaChange::Removed { id, .. } => Some(id),
            DeltaChange::Upsert(_) => None,
        }
    }
}

/// How a round ended.
#[derive(Debug, Clone, PartialEq)]
pub enum DeltaOutcome<T> {
    /// The round's changes (one per id, last occurrence wins) and the link for the next round.
    Complete {
        /// Changes in the order their last occurrence arrived.
        changes: Vec<DeltaChange<T>>,
        /// Store this; the next round starts from it.
        delta_link: String,
    },
    /// The stored state is gone: read the scope whole again from `restart_url`.
    Reset {
        /// Where the new initial round starts.
        restart_url: String,
    },
}

/// Request options of a round.
#[derive(Debug, Clone, Default)]
pub struct DeltaOptions {
    /// Outlook items: ask for immutable ids (`Prefer: IdType="ImmutableId"`).
    pub immutable_ids: bool,
    /// `Prefer: odata.maxpagesize=N`.
    pub max_page_size: Option<u32>,
    /// `Prefer: return=minimal` (only changed properties on later rounds).
    pub return_minimal: bool,
}

impl DeltaOptions {
    /// Options for Outlook delta (contacts, contact folders): immutable ids.
    pub fn outlook() -> DeltaOptions {
        DeltaOptions {
            immutable_ids: true,
            ..DeltaOptions::default()
        }
    }

    fn prefer(&self) -> Option<String> {
        let mut parts = Vec::new();
        if self.immutable_ids {
            parts.push("IdType=\"ImmutableId\"".to_string());
        }
        if let Some(n) = self.max_page_size {
            parts.push(format!("odata.maxpagesize={n}"));
        }
        if self.return_minimal {
            parts.push("return=minimal".to_string());
        }
        (!parts.is_empty()).then(|| parts.join(", "))
    }
}

/// One page's entries, each with its object id, as they came (not de-duplicated).
#[derive(Debug)]
pub enum DeltaPage<T> {
    /// More pages follow (the changes may be empty).
    More(Vec<(String, DeltaChange<T>)>),
    /// The last page of the round.
    Last {
        /// Its changes.
        changes: Vec<(String, DeltaChange<T>)>,
        /// The link for the next round.
        delta_link: String,
    },
    /// The stored state is gone; start over from here.
    Reset {
        /// Where the new initial round starts.
        restart_url: String,
    },
}

#[derive(Deserialize)]
struct RawPage {
    #[serde(default)]
    value: Vec<Value>,
    #[serde(rename = "@odata.nextLink", default)]
    next_link: Option<String>,
    #[serde(rename = "@odata.deltaLink", default)]
    delta_link: Option<String>,
}

/// A delta round in progress.
#[derive(Debug)]
pub struct DeltaRound<T> {
    client: GraphClient,
    initial_url: String,
    next: Option<String>,
    options: DeltaOptions,
    pages: usize,
    _item: std::marker::PhantomData<fn() -> T>,
}

impl<T: DeserializeOwned> DeltaRound<T> {
    /// A round over the scope `initial_url` (e.g. `/users/delta?$select=…`), resuming from
    /// `delta_link` when one was stored.
    pub fn new(
        client: &GraphClient,
        initial_url: &str,
        delta_link: Option<&str>,
        options: DeltaOptions,
    ) -> DeltaRound<T> {
        DeltaRound {
            client: client.clone(),
            initial_url: client.url(initial_url),
            next: Some(client.url(delta_link.unwrap_or(initial_url))),
            options,
            pages: 0,
            _item: std::marker::PhantomData,
        }
    }

    /// Fetches the next page; `None` once the round has ended.
    pub async fn next_page(&mut self) -> Result<Option<DeltaPage<T>>, GraphError> {
        let Some(url) = self.next.take() else {
            return Ok(None);
        };
        self.pages += 1;
        if self.pages > MAX_PAGES {
            return Err(GraphError::Invalid(format!(
                "the delta round of {} did not end after {MAX_PAGES} pages",
                self.initial_url
            )));
        }
        let mut req = Request::get(url);
        if let Some(p) = self.options.prefer() {
            req = req.header("Prefer", p);
        }
        let resp = self.client.execute(req).await?;
        if resp.status == 410 {
            return Ok(Some(DeltaPage::Reset {
                restart_url: resp.location().unwrap_or_else(|| self.initial_url.clone()),
            }));
        }
        let resp = match resp.error_for_status() {
            Ok(r) => r,
            Err(GraphError::Api { code, .. })
                if code.eq_ignore_ascii_case("syncStateNotFound")
                    || code.eq_ignore_ascii_case("resyncRequired") =>
            {
                return Ok(Some(DeltaPage::Reset {
                    restart_url: self.initial_url.clone(),
                }));
            }
            Err(e) => return Err(e),
        };
        let page: RawPage = resp.json()?;
        let mut changes = Vec::with_capacity(page.value.len());
        for item in page.value {
            changes.push(to_change(item).map_err(|message| GraphError::Decode {
                url: resp.url.clone(),
                message,
                request_id: resp.request_id.clone(),
            })?);
        }
        match (page.next_link, page.delta_link) {
            (Some(next), _) => {
                self.next = Some(next);
                Ok(Some(DeltaPage::More(changes)))
            }
            (None, Some(delta_link)) => Ok(Some(DeltaPage::Last {
                changes,
                delta_link,
            })),
            (None, None) => Err(GraphError::Decode {
                url: resp.url.clone(),
                message: "a delta page carried neither a nextLink nor a deltaLink".into(),
                request_id: resp.request_id.clone(),
            }),
        }
    }

    /// Runs the round to its end: one change per id (the last seen), in arrival order.
    pub async fn run(mut self) -> Result<DeltaOutcome<T>, GraphError> {
        let mut by_id: HashMap<String, (usize, DeltaChange<T>)> = HashMap::new();
        let mut seq = 0usize;
        let mut keep = |changes: Vec<(String, DeltaChange<T>)>, by_id: &mut HashMap<_, _>| {
            for (id, change) in changes {
                seq += 1;
                by_id.insert(id, (seq, change));
            }
        };
        loop {
            match self.next_page().await? {
                Some(DeltaPage::More(changes)) => keep(changes, &mut by_id),
                Some(DeltaPage::Last {
                    changes,
                    delta_link,
                }) => {
                    keep(changes, &mut by_id);
                    let mut ordered: Vec<_> = by_id.into_values().collect();
                    ordered.sort_by_key(|(s, _)| *s);
                    return Ok(DeltaOutcome::Complete {
                        changes: ordered.into_iter().map(|(_, c)| c).collect(),
                        delta_link,
                    });
                }
                Some(DeltaPage::Reset { restart_url }) => {
                    return Ok(DeltaOutcome::Reset { restart_url })
                }
                None => {
                    return Err(GraphError::Invalid(
                        "the delta round was already finished".into(),
                    ))
                }
            }
        }
    }
}

fn to_change<T: DeserializeOwned>(item: Value) -> Result<(String, DeltaChange<T>), String> {
    let id = item
        .get("id")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or("a delta entry has no id")?;
    if let Some(removed) = item.get("@removed") {
        let reason = removed
            .get("reason")
            .and_then(|r| serde_json::from_value(r.clone()).ok())
            .unwrap_or(RemovedReason::Deleted);
        return Ok((id.clone(), DeltaChange::Removed { id, reason }));
    }
    serde_json::from_value(item)
        .map(|t| (id, DeltaChange::Upsert(t)))
        .map_err(|e| format!("a delta entry could not be read: {e}"))
}
