//! Delta rounds: from an initial URL or a stored deltaLink, follow nextLinks (through empty
//! pages) to the new deltaLink, turning `@removed` entries into removals, keeping the last
//! occurrence of each id; and when Graph says the token is gone (410, `syncStateNotFound`,
//! `resyncRequired`), tell the caller to read the scope whole again.

use crate::coalesce::Coalescer;
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
    /// Send a round's first request, when it resumes from a stored link, inside a `$batch`
    /// with other tasks' requests: on a quiet scope that page is the whole round.
    pub batch: Option<Coalescer>,
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
    /// Whether the round started from a stored delta link.
    resumed: bool,
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
            resumed: delta_link.is_some(),
            _item: std::marker::PhantomData,
        }
    }

    /// Fetches the next page, its entries typed and in arrival order (not de-duplicated);
    /// `None` once the round has ended.
    pub async fn next_page(&mut self) -> Result<Option<DeltaPage<T>>, GraphError> {
        let typed = |raw: Vec<Value>, ctx: &Ctx| -> Result<Vec<_>, GraphError> {
            raw.into_iter()
                .map(|v| to_change(v).map_err(|m| ctx.decode(m)))
                .collect()
        };
        Ok(match self.fetch().await? {
            None => None,
            Some(RawStep::More(raw, ctx)) => Some(DeltaPage::More(typed(raw, &ctx)?)),
            Some(RawStep::Last(raw, ctx, delta_link)) => Some(DeltaPage::Last {
                changes: typed(raw, &ctx)?,
                delta_link,
            }),
            Some(RawStep::Reset(restart_url)) => Some(DeltaPage::Reset { restart_url }),
        })
    }

    /// Runs the round to its end: one change per id, in the order of each id's last
    /// occurrence. Repeated entries of an object merge, later properties winning and
    /// `…@delta` lists (group members) accumulating, since Graph may spread one object's
    /// changes over several entries; a removal replaces whatever came before it.
    pub async fn run(mut self) -> Result<DeltaOutcome<T>, GraphError> {
        let mut by_id: HashMap<String, (usize, Value)> = HashMap::new();
        let mut seq = 0usize;
        loop {
            let (raw, ctx, delta_link) = match self.fetch().await? {
                Some(RawStep::More(raw, ctx)) => (raw, ctx, None),
                Some(RawStep::Last(raw, ctx, link)) => (raw, ctx, Some(link)),
                Some(RawStep::Reset(restart_url)) => {
                    return Ok(DeltaOutcome::Reset { restart_url })
                }
                None => {
                    return Err(GraphError::Invalid(
                        "the delta round was already finished".into(),
                    ))
                }
            };
            for item in raw {
                let id = item
                    .get("id")
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .ok_or_else(|| ctx.decode("a delta entry has no id".into()))?;
                seq += 1;
                match by_id.get_mut(&id) {
                    Some((at, earlier)) => {
                        *at = seq;
                        merge(earlier, item);
                    }
                    None => {
                        by_id.insert(id, (seq, item));
                    }
                }
            }
            if let Some(delta_link) = delta_link {
                let mut ordered: Vec<_> = by_id.into_values().collect();
                ordered.sort_by_key(|(s, _)| *s);
                let changes = ordered
                    .into_iter()
                    .map(|(_, v)| to_change(v).map(|(_, c)| c).map_err(|m| ctx.decode(m)))
                    .collect::<Result<_, _>>()?;
                return Ok(DeltaOutcome::Complete {
                    changes,
                    delta_link,
                });
            }
        }
    }

    async fn fetch(&mut self) -> Result<Option<RawStep>, GraphError> {
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
        let prefer = self.options.prefer();
        let resp = match &self.options.batch {
            Some(batch) if self.resumed && self.pages == 1 => {
                let headers: Vec<(String, String)> = prefer
                    .map(|p| ("Prefer".to_string(), p))
                    .into_iter()
                    .collect();
                batch.get(&url, &headers).await?
            }
            _ => {
                let mut req = Request::get(url);
                if let Some(p) = prefer {
                    req = req.header("Prefer", p);
                }
                self.client.execute(req).await?
            }
        };
        if resp.status == 410 {
            let restart_url = resp
                .location()
                .map(|l| self.client.url(&l))
                .unwrap_or_else(|| self.initial_url.clone());
            return Ok(Some(RawStep::Reset(restart_url)));
        }
        let resp = match resp.error_for_status() {
            Ok(r) => r,
            Err(GraphError::Api { code, .. })
                if code.eq_ignore_ascii_case("syncStateNotFound")
                    || code.eq_ignore_ascii_case("resyncRequired") =>
            {
                return Ok(Some(RawStep::Reset(self.initial_url.clone())));
            }
            Err(e) => return Err(e),
        };
        let page: RawPage = resp.json()?;
        let ctx = Ctx {
            url: resp.url.clone(),
            request_id: resp.request_id.clone(),
        };
        match (page.next_link, page.delta_link) {
            (Some(next), _) => {
                self.next = Some(next);
                Ok(Some(RawStep::More(page.value, ctx)))
            }
            (None, Some(link)) => Ok(Some(RawStep::Last(page.value, ctx, link))),
            (None, None) => {
                Err(ctx.decode("a delta page carried neither a nextLink nor a deltaLink".into()))
            }
        }
    }
}

/// Where a page came from, for errors about its content.
struct Ctx {
    url: String,
    request_id: Option<String>,
}

impl Ctx {
    fn decode(&self, message: String) -> GraphError {
        GraphError::Decode {
            url: self.url.clone(),
            message,
            request_id: self.request_id.clone(),
        }
    }
}

/// One fetched page, untyped.
enum RawStep {
    More(Vec<Value>, Ctx),
    Last(Vec<Value>, Ctx, String),
    Reset(String),
}

/// Folds a later entry of the same object into an earlier one.
fn merge(earlier: &mut Value, later: Value) {
    let removal = later.get("@removed").is_some() || earlier.get("@removed").is_some();
    match (earlier, later) {
        (Value::Object(old), Value::Object(new)) if !removal => {
            for (k, v) in new {
                match (old.get_mut(&k), v) {
                    (Some(Value::Array(list)), Value::Array(more)) if k.ends_with("@delta") => {
                        list.extend(more)
                    }
                    (_, v) => {
                        old.insert(k, v);
                    }
                }
            }
        }
        (slot, later) => *slot = later,
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn repeated_entries_merge_and_removals_replace() {
        let mut g = json!({"id": "g", "displayName": "Old", "members@delta": [{"id": "a"}]});
        merge(
            &mut g,
            json!({"id": "g", "displayName": "New", "members@delta": [{"id": "b"}]}),
        );
        assert_eq!(
            g,
            json!({"id": "g", "displayName": "New", "members@delta": [{"id": "a"}, {"id": "b"}]})
        );
        merge(
            &mut g,
            json!({"id": "g", "@removed": {"reason": "deleted"}}),
        );
        assert_eq!(g, json!({"id": "g", "@removed": {"reason": "deleted"}}));
        merge(&mut g, json!({"id": "g", "displayName": "Back"}));
        assert_eq!(g, json!({"id": "g", "displayName": "Back"}));
    }
}
