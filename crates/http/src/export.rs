//! CSV exports in the import layouts of 3CX (phonebook) and FreePBX Contact Manager (Bulk
//! Handler, type "contacts"). Both take `?book=` and `?q=` like the phonebooks, and hold at
//! most the configured maximum of entries. RFC 4180 quoting, CRLF line ends, UTF-8.

use crate::auth::Caller;
use crate::books::{self, book_of, book_title, numbers, split_name};
use crate::error::Failure;
use crate::server::AppState;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use directory::{Entry, PhoneKind};

/// The 3CX phonebook import header.
pub const THREECX_HEADER: [&str; 14] = [
    "FirstName",
    "LastName",
    "Company",
    "Mobile",
    "Mobile2",
    "Home",
    "Home2",
    "Business",
    "Business2",
    "Email",
    "Other",
    "BusinessFax",
    "HomeFax",
    "Pager",
];

/// The FreePBX Contact Manager bulk-import header (up to three numbers and e-mails).
pub const FREEPBX_HEADER: [&str; 17] = [
    "groupname",
    "grouptype",
    "displayname",
    "fname",
    "lname",
    "title",
    "company",
    "phone_1_number",
    "phone_1_type",
    "phone_2_number",
    "phone_2_type",
    "phone_3_number",
    "phone_3_type",
    "email_1",
    "email_2",
    "email_3",
    "userman_username",
];

/// One CSV field, quoted when it holds a separator, quote or line break; other control
/// characters and non-characters are dropped.
pub fn field(text: &str) -> String {
    let text: String = text
        .chars()
        .filter(|&c| {
            matches!(c, '\n' | '\r' | '\t') || (!c.is_control() && crate::xml::is_xml_char(c))
        })
        .collect();
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

fn line(out: &mut String, fields: &[String]) {
    let fields: Vec<String> = fields.iter().map(|f| field(f)).collect();
    out.push_str(&fields.join(","));
    out.push_str("\r\n");
}

async fn entries(state: &AppState, caller: &Caller) -> Result<Vec<Entry>, Failure> {
    let scope = books::scope(caller).map_err(|e| caller.fail(e))?;
    let (entries, more) = books::fetch(state, caller, scope, caller.params.get("q"), usize::MAX)
        .await
        .map_err(|e| caller.fail(e))?;
    if more {
        tracing::warn!(
            max = state.config.max_entries,
            "CSV export cut at the configured maximum of entries"
        );
    }
    Ok(entries)
}

fn csv(body: String, filename: &str) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{filename}\""),
            ),
        ],
        body,
    )
        .into_response()
}

/// `GET /export/3cx.csv`: the 3CX phonebook layout; two numbers per kind, the rest in `Other`.
pub async fn threecx(State(state): State<AppState>, caller: Caller) -> Result<Response, Failure> {
    let entries = entries(&state, &caller).await?;
    let mut out = String::new();
    line(&mut out, &THREECX_HEADER.map(String::from));
    for entry in &entries {
        let mut row = vec![String::new(); THREECX_HEADER.len()];
        let (given, surname) = split_name(entry);
        row[0] = given;
        row[1] = surname;
        row[2] = entry.company.clone().unwrap_or_default();
        row[9] = entry.emails.first().cloned().unwrap_or_default();
        for (kind, number) in numbers(entry, state.config.number_form) {
            let slots: &[usize] = match kind {
                PhoneKind::Mobile => &[3, 4, 10],
                PhoneKind::Home => &[5, 6, 10],
                PhoneKind::Business => &[7, 8, 10],
                PhoneKind::Fax => &[11, 12, 10],
                PhoneKind::Other => &[10, 13],
            };
            if let Some(&slot) = slots.iter().find(|&&i| row[i].is_empty()) {
                row[slot] = number;
            }
        }
        line(&mut out, &row);
    }
    Ok(csv(out, "3cx-phonebook.csv"))
}

/// `GET /export/freepbx.csv`: FreePBX Contact Manager bulk-import contacts, one group per
/// phonebook, all of type `external` (FreePBX's `internal` means its own user manager users);
/// entries without a number are left out (the importer requires `phone_1_number`).
pub async fn freepbx(State(state): State<AppState>, caller: Caller) -> Result<Response, Failure> {
    let entries = entries(&state, &caller).await?;
    let mut out = String::new();
    line(&mut out, &FREEPBX_HEADER.map(String::from));
    for entry in &entries {
        let numbers = numbers(entry, state.config.number_form);
        if numbers.is_empty() {
            // phone_1_number is required by the importer.
            continue;
        }
        let (given, surname) = split_name(entry);
        let book = book_of(entry);
        let mut row = vec![
            format!("pbx365 {}", book_title(book)),
            "external".to_owned(),
            entry.display_name.clone(),
            given,
            surname,
            entry.title.clone().unwrap_or_default(),
            entry.company.clone().unwrap_or_default(),
        ];
        for i in 0..3 {
            match numbers.get(i) {
                Some((kind, number)) => {
                    row.push(number.clone());
                    row.push(
                        match kind {
                            PhoneKind::Business => "work",
                            PhoneKind::Home => "home",
                            PhoneKind::Mobile => "cell",
                            PhoneKind::Fax | PhoneKind::Other => "other",
                        }
                        .to_owned(),
                    );
                }
                None => {
                    row.push(String::new());
                    row.push(String::new());
                }
            }
        }
        for i in 0..3 {
            row.push(entry.emails.get(i).cloned().unwrap_or_default());
        }
        row.push(String::new());
        debug_assert_eq!(row.len(), FREEPBX_HEADER.len());
        line(&mut out, &row);
    }
    Ok(csv(out, "freepbx-contacts.csv"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_fields() {
        assert_eq!(field("plain"), "plain");
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(field("x\u{0}y\u{FFFE}"), "xy");
        assert_eq!(field("two\nlines"), "\"two\nlines\"");
    }
}
