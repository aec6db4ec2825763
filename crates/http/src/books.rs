//! What every listing shares: which phonebook (`?book=`), what search text (`?q=`), which page
//! (`?page=`, `?per_page=`), and the numbers of an entry in the configured form.

use crate::auth::Caller;
use crate::error::HttpError;
use crate::server::AppState;
use directory::{
    BookScope, Entry, EntrySource, Filter, NumberForm, PhoneKind, PhonebookKind, TextQuery,
};

/// Reads `?book=` (`all`, `users`, `company`, `directory`, `personal`; default `all`).
pub fn scope(caller: &Caller) -> Result<BookScope, HttpError> {
    match caller.params.get("book") {
        None => Ok(BookScope::All),
        Some(name) => parse_scope(name).ok_or_else(|| {
            HttpError::BadRequest(format!(
                "book={name:?} is not a phonebook: use all, users, company, directory or personal"
            ))
        }),
    }
}

/// A phonebook name as the URLs spell it.
pub fn parse_scope(name: &str) -> Option<BookScope> {
    Some(match name {
        "all" => BookScope::All,
        "users" => BookScope::Users,
        "company" => BookScope::Company,
        "directory" => BookScope::Directory,
        "personal" => BookScope::Personal,
        _ => return None,
    })
}

/// The URL name of a phonebook.
pub fn scope_name(scope: BookScope) -> &'static str {
    match scope {
        BookScope::All => "all",
        BookScope::Users => "users",
        BookScope::Company => "company",
        BookScope::Directory => "directory",
        BookScope::Personal => "personal",
    }
}

/// The phonebook an entry belongs to (users first, then its highest-priority source).
pub fn book_of(entry: &Entry) -> BookScope {
    if entry.is_user() {
        return BookScope::Users;
    }
    match entry.sources.first() {
        Some(EntrySource::User { .. }) => return BookScope::Users,
        Some(EntrySource::Contact { phonebook, .. }) => {
            return match phonebook {
                PhonebookKind::Personal { .. } => BookScope::Personal,
                PhonebookKind::Company => BookScope::Company,
                PhonebookKind::Directory => BookScope::Directory,
            }
        }
        None => {}
    }
    if entry.personal_owner.is_some() {
        BookScope::Personal
    } else {
        BookScope::Company
    }
}

/// A phonebook's title as phones show it.
pub fn book_title(scope: BookScope) -> &'static str {
    match scope {
        BookScope::All => "Directory",
        BookScope::Users => "Colleagues",
        BookScope::Company => "Company",
        BookScope::Directory => "Contacts",
        BookScope::Personal => "Personal",
    }
}

/// Entries in `scope` that the caller may see: matching `q` (ranked) when given, all of them
/// by name otherwise; at most `limit` (capped at the configured maximum), and whether more
/// were there.
pub async fn fetch(
    state: &AppState,
    caller: &Caller,
    scope: BookScope,
    q: Option<&str>,
    limit: usize,
) -> Result<(Vec<Entry>, bool), HttpError> {
    let limit = limit.min(state.config.max_entries);
    let ask = limit + 1;
    let mut entries = match q.map(str::trim).filter(|q| !q.is_empty()) {
        Some(text) => state
            .service
            .search(
                &caller.who,
                &TextQuery {
                    text: text.to_owned(),
                    scope,
                    limit: ask,
                },
            )
            .await?
            .into_iter()
            .map(|hit| hit.entry)
            .collect(),
        None => {
            state
                .service
                .filter(&caller.who, scope, &Filter::And(Vec::new()), ask)
                .await?
        }
    };
    let more = entries.len() > limit;
    entries.truncate(limit);
    Ok((entries, more))
}

/// One page of a listing, 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// Page number, from 1.
    pub number: usize,
    /// Items per page.
    pub size: usize,
}

impl Page {
    /// Reads `?page=` and `?per_page=`; `default_size` when absent, never above `max_size`.
    pub fn from_caller(
        caller: &Caller,
        default_size: usize,
        max_size: usize,
    ) -> Result<Self, HttpError> {
        let number = caller.params.positive("page", 1)?;
        let size = caller
            .params
            .positive("per_page", default_size)?
            .min(max_size);
        Ok(Self { number, size })
    }

    /// Index of the first item.
    pub fn offset(&self) -> usize {
        (self.number - 1).saturating_mul(self.size)
    }

    /// The page's slice of `items`, and whether items follow it.
    pub fn slice<'a, T>(&self, items: &'a [T]) -> (&'a [T], bool) {
        let start = self.offset().min(items.len());
        let end = start.saturating_add(self.size).min(items.len());
        (&items[start..end], end < items.len())
    }
}

/// The numbers an entry shows, in the configured form: the extension first (when no number
/// already dials as it), then every number in source order, duplicates dropped.
pub fn numbers(entry: &Entry, form: NumberForm) -> Vec<(PhoneKind, String)> {
    let mut out: Vec<(PhoneKind, String)> = Vec::new();
    let mut push = |kind: PhoneKind, value: &str| {
        let value = value.trim();
        if !value.is_empty() && !out.iter().any(|(_, v)| v == value) {
            out.push((kind, value.to_owned()));
        }
    };
    if let Some(ext) = &entry.extension {
        if !entry.numbers.iter().any(|n| &n.dial == ext) {
            push(PhoneKind::Business, ext);
        }
    }
    for number in &entry.numbers {
        match form {
            NumberForm::Dialable => push(number.kind, &number.dial),
            NumberForm::E164 => match &number.e164 {
                Some(e164) => push(number.kind, e164.as_str()),
                None => push(number.kind, &number.dial),
            },
            NumberForm::Both => {
                push(number.kind, &number.dial);
                if let Some(e164) = &number.e164 {
                    push(number.kind, e164.as_str());
                }
            }
        }
    }
    out
}

/// A number kind as phones label it.
pub fn kind_label(kind: PhoneKind) -> &'static str {
    match kind {
        PhoneKind::Business => "Work",
        PhoneKind::Mobile => "Mobile",
        PhoneKind::Home => "Home",
        PhoneKind::Fax => "Fax",
        PhoneKind::Other => "Other",
    }
}

/// Given name and surname for formats that split them: the entry's own, or the display name
/// as the surname when the source has neither.
pub fn split_name(entry: &Entry) -> (String, String) {
    let given = entry.given_name.clone().unwrap_or_default();
    let surname = entry.surname.clone().unwrap_or_default();
    if given.trim().is_empty() && surname.trim().is_empty() {
        (String::new(), entry.display_name.clone())
    } else {
        (given, surname)
    }
}

/// One line of a phone's list: an entry with one of its numbers (for formats that hold one
/// number per item). The name carries the number's kind when the entry has several.
#[derive(Debug, Clone)]
pub struct Row {
    /// The name to show.
    pub name: String,
    /// The number to dial.
    pub number: String,
    /// Its kind.
    pub kind: PhoneKind,
    /// Given name of the entry.
    pub given: String,
    /// Surname of the entry (or its display name).
    pub surname: String,
    /// True when the entry has more than this one number.
    pub several: bool,
}

/// Every entry's numbers as rows; entries without a number are left out (a phone cannot dial
/// them).
pub fn rows(entries: &[Entry], form: NumberForm) -> Vec<Row> {
    let mut rows = Vec::new();
    for entry in entries {
        let numbers = numbers(entry, form);
        let several = numbers.len() > 1;
        let (given, surname) = split_name(entry);
        for (kind, number) in numbers {
            let name = if several {
                format!("{} ({})", entry.display_name, kind_label(kind))
            } else {
                entry.display_name.clone()
            };
            rows.push(Row {
                name,
                number,
                kind,
                given: given.clone(),
                surname: surname.clone(),
                several,
            });
        }
    }
    rows
}
