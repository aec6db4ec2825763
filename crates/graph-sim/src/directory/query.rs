//! A directory collection's query options as Entra applies them: `$select`, `$filter`,
//! `$search`, `$orderby`, `$count`, `$top`, with the advanced-query rules (`ConsistencyLevel:
//! eventual` plus `$count=true`) and Entra's error answers.

use super::filter::{self, Expr};
use super::Kind;
use crate::error::{GraphError, GraphResult};
use crate::odata::RequestCtx;
use serde_json::{Map, Value};

/// Largest `$top` the directory accepts.
pub const MAX_TOP: usize = 999;
/// Page size without `$top`.
pub const DEFAULT_TOP: usize = 100;

/// `$search` as a disjunction of conjunctions of `property:term` clauses.
pub type Search = Vec<Vec<(String, String)>>;

/// The parsed, validated query options of a list request.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    /// `$select` names (empty = default set).
    pub select: Vec<String>,
    /// `$filter`.
    pub filter: Option<Expr>,
    /// `$search`.
    pub search: Option<Search>,
    /// `$orderby` property and whether descending.
    pub orderby: Option<(String, bool)>,
    /// `$count=true` honoured (advanced query).
    pub count: bool,
    /// Page size.
    pub top: usize,
}

/// 400 for an operator that needs an advanced query, in Entra's words.
fn needs_advanced(op: &str, eventual: bool) -> GraphError {
    if eventual {
        GraphError::unsupported_query(format!(
            "Operator '{op}' is not supported because the required parameters might be missing. Try adding $count=true query parameter and ConsistencyLevel:eventual header. Refer to https://aka.ms/graph-docs/advanced-queries for more information"
        ))
    } else {
        GraphError::unsupported_query(format!(
            "Operator '{op}' is not supported because the 'ConsistencyLevel:eventual' header is missing. Refer to https://aka.ms/graph-docs/advanced-queries for more information"
        ))
    }
}

/// Whether `$count=true` was sent.
pub fn count_requested(ctx: &RequestCtx) -> bool {
    ctx.param("$count")
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
}

/// Parses `$search` (`"displayName:ann" AND "mail:x" OR …`).
pub fn parse_search(src: &str, kind: &Kind) -> GraphResult<Search> {
    let bad = || GraphError::bad_request(format!("Invalid $search value: {src}"));
    let mut groups: Search = vec![Vec::new()];
    let chars: Vec<char> = src.chars().collect();
    let mut i = 0;
    let mut expect_clause = true;
    while i < chars.len() {
        match chars[i] {
            ' ' => i += 1,
            '"' if expect_clause => {
                let end = chars[i + 1..]
                    .iter()
                    .position(|c| *c == '"')
                    .ok_or_else(bad)?;
                let clause: String = chars[i + 1..i + 1 + end].iter().collect();
                i += end + 2;
                let (prop, term) = clause.split_once(':').ok_or_else(|| {
                    GraphError::unsupported_query(format!(
                        "Invalid search clause '{clause}': use the form \"property:value\"."
                    ))
                })?;
                let Some((canon, _)) = kind.declared(prop.trim()) else {
                    return Err(GraphError::bad_request(format!(
                        "Could not find a property named '{}' on type '{}'.",
                        prop.trim(),
                        kind.type_name
                    )));
                };
                if !kind.searchable.contains(&canon) {
                    return Err(GraphError::unsupported_query(format!(
                        "Unsupported or invalid search clause specified for property '{canon}'."
                    )));
                }
                if let Some(g) = groups.last_mut() {
                    g.push((canon.to_string(), term.trim().to_string()));
                }
                expect_clause = false;
            }
            _ if !expect_clause => {
                let word: String = chars[i..].iter().take_while(|c| **c != ' ').collect();
                i += word.chars().count();
                match word.as_str() {
                    "AND" => {}
                    "OR" => groups.push(Vec::new()),
                    _ => return Err(bad()),
                }
                expect_clause = true;
            }
            _ => return Err(bad()),
        }
    }
    if expect_clause {
        return Err(bad());
    }
    Ok(groups)
}

fn words(s: &str) -> Vec<String> {
    s.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// Tokenized prefix match: every word of `term` starts some word of `value`.
pub fn search_matches(value: &str, term: &str) -> bool {
    let have = words(value);
    let want = words(term);
    !want.is_empty() && want.iter().all(|w| have.iter().any(|h| h.starts_with(w)))
}

impl ListQuery {
    /// Reads and validates the options of a list request on `kind`.
    pub fn parse(ctx: &RequestCtx, kind: &Kind) -> GraphResult<ListQuery> {
        let advanced = ctx.eventual && count_requested(ctx);
        Self::parse_with(ctx, kind, advanced)
    }

    /// Options of a `/$count` request: the header alone makes it an advanced query.
    pub fn parse_for_count(ctx: &RequestCtx, kind: &Kind) -> GraphResult<ListQuery> {
        Self::parse_with(ctx, kind, ctx.eventual)
    }

    fn parse_with(ctx: &RequestCtx, kind: &Kind, advanced: bool) -> GraphResult<ListQuery> {
        let top = ctx.top(DEFAULT_TOP, MAX_TOP)?;
        if ctx.param("$skip").is_some() {
            return Err(GraphError::directory_bad_request(
                "'$skip' is not supported by the service.",
            ));
        }
        let select = ctx.select();
        kind.check_select(&select, false)?;
        let count = count_requested(ctx);
        let filter = match ctx.param("$filter") {
            None => None,
            Some(src) if src.trim().is_empty() => None,
            Some(src) => {
                let e = filter::parse(src).map_err(|e| e.into_graph())?;
                e.validate(&kind.filter, &|n| kind.declared(n).is_some(), advanced)
                    .map_err(|e| e.into_graph())?;
                if let Some(op) = e.advanced_operator() {
                    if !advanced {
                        return Err(needs_advanced(op, ctx.eventual));
                    }
                }
                Some(e)
            }
        };
        let search = match ctx.param("$search") {
            None => None,
            Some(_) if !ctx.eventual => {
                return Err(GraphError::unsupported_query(
                    "Request with $search query parameter only works through MSGraph with a special request header: 'ConsistencyLevel: eventual'",
                ))
            }
            Some(src) => Some(parse_search(src.trim(), kind)?),
        };
        let orderby = match ctx.param("$orderby") {
            None => None,
            Some(src) => {
                let mut parts = src.split_whitespace();
                let prop = parts.next().unwrap_or("");
                let desc = match parts.next() {
                    None => false,
                    Some(d) if d.eq_ignore_ascii_case("asc") => false,
                    Some(d) if d.eq_ignore_ascii_case("desc") => true,
                    Some(_) => {
                        return Err(GraphError::bad_request(format!(
                            "Syntax error at position {} in '{src}'.",
                            prop.len() + 1
                        )))
                    }
                };
                let Some((canon, _)) = kind.declared(prop) else {
                    return Err(GraphError::bad_request(format!(
                        "Could not find a property named '{prop}' on type '{}'.",
                        kind.type_name
                    )));
                };
                if !advanced && (!kind.orderable.contains(&canon) || filter.is_some()) {
                    return Err(GraphError::unsupported_query(
                        "Sorting not supported for current query.",
                    ));
                }
                Some((canon.to_string(), desc))
            }
        };
        Ok(ListQuery {
            select,
            filter,
            search,
            orderby,
            count: count && ctx.eventual,
            top,
        })
    }

    /// Whether an entity (full JSON) passes `$filter` and `$search`.
    pub fn keeps(&self, obj: &Map<String, Value>) -> bool {
        if let Some(f) = &self.filter {
            if !f.matches(obj) {
                return false;
            }
        }
        if let Some(s) = &self.search {
            let hit = s.iter().any(|conj| {
                conj.iter().all(|(prop, term)| {
                    obj.get(prop)
                        .and_then(Value::as_str)
                        .is_some_and(|v| search_matches(v, term))
                })
            });
            if !hit {
                return false;
            }
        }
        true
    }

    /// Filters and sorts entities (given in id order).
    pub fn apply(&self, items: Vec<Map<String, Value>>) -> Vec<Map<String, Value>> {
        let mut out: Vec<_> = items.into_iter().filter(|o| self.keeps(o)).collect();
        if let Some((prop, desc)) = &self.orderby {
            let key = |o: &Map<String, Value>| -> String {
                match o.get(prop) {
                    Some(Value::String(s)) => s.to_lowercase(),
                    Some(Value::Null) | None => String::new(),
                    Some(v) => v.to_string(),
                }
            };
            out.sort_by_key(key);
            if *desc {
                out.reverse();
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_is_a_tokenized_prefix_match() {
        assert!(search_matches("Ann Lee-Smith", "smi"));
        assert!(search_matches("Ann Lee", "ann le"));
        assert!(!search_matches("Joann Lee", "ann"));
        assert!(search_matches("ann.lee@contoso.com", "contoso"));
    }

    #[test]
    fn search_clauses_parse() {
        let k = super::super::users::KIND;
        let s = parse_search("\"displayName:ann\" OR \"mail:bob\"", &k).unwrap();
        assert_eq!(s.len(), 2);
        assert!(parse_search("\"displayName:ann\" \"mail:x\"", &k).is_err());
        assert!(parse_search("\"nope:ann\"", &k).is_err());
    }
}
