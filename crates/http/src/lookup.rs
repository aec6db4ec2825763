//! Caller-ID lookup. `GET /lookup?number=` answers `text/plain` with the caller's name and
//! nothing else — what Asterisk `CURL()`, FreeSWITCH `mod_cidlookup` and FreePBX CID
//! Superfecta read — so no match, a withheld number and text that is no number all answer 200
//! with an empty body (an error text would show up on the phone as the caller's name).
//! `GET /api/v1/lookup?number=` answers JSON with the matches, and 400 for junk.

use crate::auth::Caller;
use crate::error::{Failure, HttpError};
use crate::server::AppState;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use directory::{LookupResult, ServiceError};
use serde_json::json;

/// Caller numbers PBXs pass when the caller withheld theirs (compared ignoring case).
const WITHHELD: &[&str] = &[
    "anonymous",
    "restricted",
    "private",
    "withheld",
    "unknown",
    "unavailable",
    "blocked",
    "p",
    "o",
];

/// True when `number` says the caller withheld their number (or none was sent).
pub fn is_withheld(number: &str) -> bool {
    let number = number.trim();
    number.is_empty() || WITHHELD.iter().any(|w| number.eq_ignore_ascii_case(w))
}

/// The name to show for a lookup result, if any.
pub fn name_of(result: &LookupResult) -> Option<String> {
    match result {
        LookupResult::Entries { entries, .. } => entries.first().map(|e| e.display_name.clone()),
        LookupResult::Company { name, .. } => Some(name.clone()),
        LookupResult::NotFound { .. } => None,
    }
}

/// A name made safe for a caller-ID field: one line, no control characters or
/// non-characters.
fn one_line(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .filter(|&c| crate::xml::is_xml_char(c))
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    cleaned.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The number to look up: the `number` parameter (or `num`, `thenumber`, `callerid`), with
/// a `sip:`, `sips:` or `tel:` URI reduced to its user part.
fn number_param(caller: &Caller) -> String {
    let raw = ["number", "num", "thenumber", "callerid"]
        .iter()
        .find_map(|name| caller.params.raw(name))
        .unwrap_or("");
    user_part(raw).to_owned()
}

/// `sip:+4930123@pbx;user=phone` → `+4930123`; anything else unchanged (trimmed).
pub fn user_part(raw: &str) -> &str {
    let text = raw.trim();
    let lower = text.to_ascii_lowercase();
    let rest = ["sips:", "sip:", "tel:"]
        .iter()
        .find(|scheme| lower.starts_with(*scheme))
        .map(|scheme| &text[scheme.len()..]);
    match rest {
        Some(rest) => rest.split(['@', ';']).next().unwrap_or("").trim(),
        None => text,
    }
}

/// `GET /lookup?number=`: the caller's name as `text/plain` (UTF-8, no trailing newline), or
/// an empty body.
pub async fn text(State(state): State<AppState>, caller: Caller) -> Result<Response, Failure> {
    let number = number_param(&caller);
    let number = number.as_str();
    let name = if is_withheld(number) {
        None
    } else {
        match state.service.lookup(&caller.who, number).await {
            Ok(result) => name_of(&result),
            Err(ServiceError::BadRequest(_)) => None,
            Err(other) => return Err(caller.fail(other)),
        }
    };
    Ok((
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        name.map(|n| one_line(&n)).unwrap_or_default(),
    )
        .into_response())
}

/// `GET /api/v1/lookup?number=`: `{"status": "found" | "company" | "not_found" | "withheld",
/// "number", "name", "entries"}`; 400 with a JSON error for text that is no number.
pub async fn api(State(state): State<AppState>, caller: Caller) -> Result<Response, Failure> {
    let number = number_param(&caller);
    let number = number.as_str();
    if is_withheld(number) {
        return Ok(Json(json!({
            "status": "withheld", "number": null, "name": null, "entries": []
        }))
        .into_response());
    }
    let result = state
        .service
        .lookup(&caller.who, number)
        .await
        .map_err(|err| match err {
            ServiceError::BadRequest(why) => caller.fail(HttpError::BadRequest(format!(
                "number={number:?} is not a phone number: {why}"
            ))),
            other => caller.fail(other),
        })?;
    let name = name_of(&result);
    let body = match result {
        LookupResult::Entries { number, entries } => json!({
            "status": "found", "number": number, "name": name, "entries": entries
        }),
        LookupResult::Company { number, name } => json!({
            "status": "company", "number": number, "name": name, "entries": []
        }),
        LookupResult::NotFound { number } => json!({
            "status": "not_found", "number": number, "name": null, "entries": []
        }),
    };
    Ok(Json(body).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn withheld_markers() {
        for w in [
            "",
            " ",
            "anonymous",
            "Anonymous",
            "RESTRICTED",
            "unknown",
            "P",
        ] {
            assert!(is_withheld(w), "{w:?}");
        }
        for n in ["+4930123456", "201", "anon"] {
            assert!(!is_withheld(n), "{n:?}");
        }
    }

    #[test]
    fn uris_reduce_to_their_user_part() {
        assert_eq!(
            user_part(" sip:+4930123@pbx.example;user=phone"),
            "+4930123"
        );
        assert_eq!(user_part("SIPS:201@pbx"), "201");
        assert_eq!(user_part("tel:+4930123;phone-context=x"), "+4930123");
        assert_eq!(user_part("sip:anonymous@anonymous.invalid"), "anonymous");
        assert_eq!(user_part("030 123"), "030 123");
    }

    #[test]
    fn names_are_one_line() {
        assert_eq!(one_line("Ann\r\nLee\u{0}  Jr\t"), "Ann Lee Jr");
    }
}
