//! The query options Outlook supports on contact lists: `$filter` (`emailAddresses/any(a:a/address
//! eq '…')`, `{property} eq '…'`, `startswith({property},'…')`, joined with `and`; compared
//! case-insensitively like Exchange) and `$orderby` keys.

use crate::error::{GraphError, GraphResult};
use crate::model::Contact;
use axum::http::StatusCode;
use serde_json::{Map, Value};

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Clause {
    EmailIs(String),
    Eq(String, String),
    StartsWith(String, String),
}

fn invalid_filter() -> GraphError {
    GraphError::new(
        StatusCode::BAD_REQUEST,
        "ErrorInvalidUrlQueryFilter",
        "The query filter contains one or more invalid nodes.",
    )
}

/// Reads a single-quoted OData string literal at the start of `s`; returns it and the rest.
fn literal(s: &str) -> Option<(String, &str)> {
    let s = s.trim_start().strip_prefix('\'')?;
    let mut out = String::new();
    let mut chars = s.char_indices().peekable();
    while let Some((i, ch)) = chars.next() {
        if ch == '\'' {
            if matches!(chars.peek(), Some((_, '\''))) {
                chars.next();
                out.push('\'');
            } else {
                return Some((out, &s[i + 1..]));
            }
        } else {
            out.push(ch);
        }
    }
    None
}

fn strip_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let s = s.trim_start();
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| s.get(prefix.len()..))
        .flatten()
}

fn ident(s: &str) -> (&str, &str) {
    let s = s.trim_start();
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '/'))
        .unwrap_or(s.len());
    (&s[..end], &s[end..])
}

fn clause(s: &str) -> Option<(Clause, &str)> {
    if let Some(rest) = strip_ci(s, "emailAddresses/any(") {
        let (var, rest) = ident(rest);
        let rest = rest.trim_start().strip_prefix(':')?;
        let (path, rest) = ident(rest);
        if !path.eq_ignore_ascii_case(&format!("{var}/address")) || var.is_empty() {
            return None;
        }
        let rest = strip_ci(rest, "eq")?;
        let (lit, rest) = literal(rest)?;
        let rest = rest.trim_start().strip_prefix(')')?;
        return Some((Clause::EmailIs(lit), rest));
    }
    if let Some(rest) = strip_ci(s, "startswith(") {
        let (prop, rest) = ident(rest);
        let rest = rest.trim_start().strip_prefix(',')?;
        let (lit, rest) = literal(rest)?;
        let rest = rest.trim_start().strip_prefix(')')?;
        return Some((Clause::StartsWith(prop.to_string(), lit), rest));
    }
    let (prop, rest) = ident(s);
    if prop.is_empty() || prop.contains('/') {
        return None;
    }
    let rest = strip_ci(rest, "eq ")?;
    let (lit, rest) = literal(rest)?;
    Some((Clause::Eq(prop.to_string(), lit), rest))
}

pub(crate) fn parse_filter(f: &str) -> GraphResult<Vec<Clause>> {
    let mut out = Vec::new();
    let mut rest = f;
    loop {
        let (c, r) = clause(rest).ok_or_else(invalid_filter)?;
        out.push(c);
        let r = r.trim_start();
        if r.is_empty() {
            return Ok(out);
        }
        rest = strip_ci(r, "and ").ok_or_else(invalid_filter)?;
    }
}

fn string_prop<'a>(obj: &'a Map<String, Value>, prop: &str) -> GraphResult<Option<&'a str>> {
    match obj.iter().find(|(k, _)| k.eq_ignore_ascii_case(prop)) {
        Some((_, Value::String(s))) => Ok(Some(s)),
        Some((_, Value::Null)) => Ok(None),
        _ => Err(invalid_filter()),
    }
}

pub(crate) fn matches(
    c: &Contact,
    obj: &Map<String, Value>,
    clauses: &[Clause],
) -> GraphResult<bool> {
    for cl in clauses {
        let ok = match cl {
            Clause::EmailIs(a) => c.email_addresses.iter().any(|e| {
                e.address
                    .as_deref()
                    .is_some_and(|x| x.eq_ignore_ascii_case(a))
            }),
            Clause::Eq(p, lit) => string_prop(obj, p)?.is_some_and(|v| v.eq_ignore_ascii_case(lit)),
            Clause::StartsWith(p, lit) => string_prop(obj, p)?
                .is_some_and(|v| v.to_lowercase().starts_with(&lit.to_lowercase())),
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

pub(crate) fn order_key(obj: &Map<String, Value>, prop: &str) -> String {
    match obj.iter().find(|(k, _)| k.eq_ignore_ascii_case(prop)) {
        Some((_, Value::String(s))) => s.to_lowercase(),
        Some((_, Value::Null)) | None => String::new(),
        Some((_, v)) => v.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_forms() {
        assert_eq!(
            parse_filter("emailAddresses/any(a:a/address eq 'x@y.com')").unwrap(),
            vec![Clause::EmailIs("x@y.com".into())]
        );
        assert_eq!(
            parse_filter("startswith(displayName,'O''Br') and surname eq 'B'").unwrap(),
            vec![
                Clause::StartsWith("displayName".into(), "O'Br".into()),
                Clause::Eq("surname".into(), "B".into())
            ]
        );
        assert!(parse_filter("emailAddresses/any(a:a/name eq 'x')").is_err());
        assert!(parse_filter("displayName ne 'x'").is_err());
        assert!(parse_filter("éé").is_err());
        assert!(parse_filter("startswith(displayName,'é') and é").is_err());
    }
}
