//! The vendor XML phonebooks. Every one takes `?q=` (search text; all entries by name when
//! absent), `?book=` (`all`, `users`, `company`, `directory`, `personal`) and, where the vendor
//! pages, `?page=` / `?per_page=`. Element names follow each vendor's documented format.

use crate::auth::Caller;
use crate::books::{self, book_of, book_title, kind_label, numbers, rows, split_name, Page, Row};
use crate::error::{Failure, HttpError, XML};
use crate::params::Params;
use crate::server::AppState;
use crate::xml::XmlWriter;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use directory::{BookScope, Entry, LookupResult, PhoneKind};

/// Most entries a Cisco `CiscoIPPhoneDirectory` may hold.
pub const CISCO_PAGE: usize = 32;

/// Cisco limits `Name` and `Telephone` to 32 characters.
const CISCO_FIELD: usize = 32;

type Answer = Result<Response, Failure>;

fn xml(body: String) -> Response {
    ([(header::CONTENT_TYPE, XML)], body).into_response()
}

/// Entries for a whole-directory download (one page of `page_size` by default).
async fn listing(state: &AppState, caller: &Caller) -> Result<(Vec<Entry>, bool), Failure> {
    let scope = books::scope(caller).map_err(|e| caller.fail(e))?;
    let page = Page::from_caller(caller, state.config.page_size, state.config.max_entries)
        .map_err(|e| caller.fail(e))?;
    let (entries, more) = books::fetch(
        state,
        caller,
        scope,
        caller.params.get("q"),
        page.offset().saturating_add(page.size),
    )
    .await
    .map_err(|e| caller.fail(e))?;
    let (slice, more_here) = page.slice(&entries);
    Ok((slice.to_vec(), more || more_here))
}

/// One page of rows (an entry per number) for formats that hold one number per item: the
/// rows, whether more follow, and the total when every entry was read. Entries are read in
/// growing batches until the page is full, so early pages stay cheap in a big directory.
async fn row_page(
    state: &AppState,
    caller: &Caller,
    page: Page,
) -> Result<(Vec<Row>, bool, Option<usize>), Failure> {
    let scope = books::scope(caller).map_err(|e| caller.fail(e))?;
    let wanted = page.offset().saturating_add(page.size);
    let mut ask = wanted.saturating_add(1);
    loop {
        let (entries, more) = books::fetch(state, caller, scope, caller.params.get("q"), ask)
            .await
            .map_err(|e| caller.fail(e))?;
        let all = rows(&entries, state.config.number_form);
        if !more || all.len() > wanted || ask >= state.config.max_entries {
            let total = (!more).then_some(all.len());
            let (slice, more_rows) = page.slice(&all);
            return Ok((slice.to_vec(), more_rows || more, total));
        }
        ask = ask.saturating_mul(2).min(state.config.max_entries);
    }
}

/// `GET /yealink/directory.xml`: `YealinkIPPhoneDirectory`, one `DirectoryEntry` per entry with
/// a `Telephone` per number.
pub async fn yealink_directory(State(state): State<AppState>, caller: Caller) -> Answer {
    let (entries, _) = listing(&state, &caller).await?;
    let mut doc = XmlWriter::new();
    doc.open("YealinkIPPhoneDirectory", &[]);
    for entry in &entries {
        let numbers = numbers(entry, state.config.number_form);
        if numbers.is_empty() {
            continue;
        }
        doc.open("DirectoryEntry", &[])
            .leaf("Name", &entry.display_name);
        for (_, number) in &numbers {
            doc.leaf("Telephone", number);
        }
        doc.close("DirectoryEntry");
    }
    doc.close("YealinkIPPhoneDirectory");
    Ok(xml(doc.finish()))
}

/// `GET /yealink/phonebook.xml`: `YealinkIPPhoneBook`, a `Menu` per phonebook holding `Unit`s
/// with up to three numbers (`Phone1`..`Phone3`).
pub async fn yealink_phonebook(State(state): State<AppState>, caller: Caller) -> Answer {
    let (entries, _) = listing(&state, &caller).await?;
    let mut doc = XmlWriter::new();
    doc.open("YealinkIPPhoneBook", &[])
        .leaf("Title", "Directory");
    for book in [
        BookScope::Users,
        BookScope::Company,
        BookScope::Directory,
        BookScope::Personal,
    ] {
        let members: Vec<&Entry> = entries.iter().filter(|e| book_of(e) == book).collect();
        if members.is_empty() {
            continue;
        }
        doc.open("Menu", &[("Name", book_title(book))]);
        for entry in members {
            let numbers = numbers(entry, state.config.number_form);
            let phone = |i: usize| numbers.get(i).map(|(_, n)| n.as_str()).unwrap_or("");
            doc.empty(
                "Unit",
                &[
                    ("Name", &entry.display_name),
                    ("Phone1", phone(0)),
                    ("Phone2", phone(1)),
                    ("Phone3", phone(2)),
                    ("default_photo", "Resource:"),
                ],
            );
        }
        doc.close("Menu");
    }
    doc.close("YealinkIPPhoneBook");
    Ok(xml(doc.finish()))
}

/// `GET /snom/directory.xml`: the minibrowser `SnomIPPhoneDirectory`, one `DirectoryEntry` per
/// number, paged.
pub async fn snom_directory(State(state): State<AppState>, caller: Caller) -> Answer {
    let page = Page::from_caller(&caller, state.config.page_size, state.config.max_entries)
        .map_err(|e| caller.fail(e))?;
    let (rows, _, _) = row_page(&state, &caller, page).await?;
    let mut doc = XmlWriter::new();
    doc.open("SnomIPPhoneDirectory", &[])
        .leaf("Title", "Directory");
    for row in &rows {
        doc.open("DirectoryEntry", &[])
            .leaf("Name", &row.name)
            .leaf("Telephone", &row.number)
            .close("DirectoryEntry");
    }
    doc.close("SnomIPPhoneDirectory");
    Ok(xml(doc.finish()))
}

/// `POST` (or `GET`) `/snom/remote.xml`: Snom's "Remote XML Directory" (firmware ≥ 10.1.178),
/// a `tbook` version 2.0. Snom phones fetch it with POST; form fields in the body (`q`,
/// `book`) count like query parameters. Bodies above the configured limit get 413.
pub async fn snom_remote(State(state): State<AppState>, mut caller: Caller, body: Bytes) -> Answer {
    if let Ok(text) = std::str::from_utf8(&body) {
        if !text.trim_start().starts_with('<') {
            caller.params.merge_missing(Params::parse(text.trim()));
        }
    }
    let (entries, _) = listing(&state, &caller).await?;
    let mut doc = XmlWriter::new();
    doc.open("tbook", &[("e", "2"), ("version", "2.0")]);
    for entry in &entries {
        let numbers = numbers(entry, state.config.number_form);
        if numbers.is_empty() {
            continue;
        }
        let (given, surname) = split_name(entry);
        doc.open(
            "contact",
            &[("fav", "false"), ("vip", "false"), ("blocked", "false")],
        )
        .leaf("first_name", &given)
        .leaf("last_name", &surname)
        .open("numbers", &[]);
        for (kind, number) in &numbers {
            let kind = match kind {
                PhoneKind::Mobile => "mobile",
                PhoneKind::Home => "home",
                PhoneKind::Fax => "fax",
                PhoneKind::Business | PhoneKind::Other => "business",
            };
            doc.empty(
                "number",
                &[("no", number), ("type", kind), ("outgoing_id", "0")],
            );
        }
        doc.close("numbers").close("contact");
    }
    doc.close("tbook");
    Ok(xml(doc.finish()))
}

fn clip(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

/// `GET /cisco/directory.xml`: `CiscoIPPhoneDirectory`, one `DirectoryEntry` per number, at
/// most 32 per page (the phones' limit), with `Previous` / `Next` soft keys linking the
/// neighbouring pages (absolute URLs keeping `q`, `book` and `token`).
pub async fn cisco_directory(State(state): State<AppState>, caller: Caller) -> Answer {
    let page = Page::from_caller(&caller, CISCO_PAGE, CISCO_PAGE).map_err(|e| caller.fail(e))?;
    let (slice, more, total) = row_page(&state, &caller, page).await?;
    let mut doc = XmlWriter::new();
    doc.open("CiscoIPPhoneDirectory", &[])
        .leaf("Title", "Directory");
    let prompt = match (slice.len(), total) {
        (0, Some(0)) => "No entries".to_owned(),
        (0, _) => format!("No entries on page {}", page.number),
        (n, Some(total)) => format!(
            "Records {} to {} of {total}",
            page.offset() + 1,
            page.offset() + n
        ),
        (n, None) => format!("Records {} to {}", page.offset() + 1, page.offset() + n),
    };
    doc.leaf("Prompt", &prompt);
    for row in &slice {
        doc.open("DirectoryEntry", &[])
            .leaf("Name", &clip(&row.name, CISCO_FIELD))
            .leaf("Telephone", &clip(&row.number, CISCO_FIELD))
            .close("DirectoryEntry");
    }
    let mut keys: Vec<(&str, String)> = vec![("Dial", "SoftKey:Dial".into())];
    if page.number > 1 {
        keys.push((
            "Previous",
            caller.link(&[("page", Some((page.number - 1).to_string()))]),
        ));
    }
    if more {
        keys.push((
            "Next",
            caller.link(&[("page", Some((page.number + 1).to_string()))]),
        ));
    }
    keys.push(("Exit", "SoftKey:Exit".into()));
    for (position, (name, url)) in keys.iter().enumerate() {
        doc.open("SoftKeyItem", &[])
            .leaf("Name", name)
            .leaf("URL", url)
            .leaf("Position", &(position + 1).to_string())
            .close("SoftKeyItem");
    }
    doc.close("CiscoIPPhoneDirectory");
    Ok(xml(doc.finish()))
}

/// `GET /cisco/search.xml`: a `CiscoIPPhoneInput` asking for a name, submitting `q` to
/// `cisco/directory.xml` (the token is carried along).
pub async fn cisco_search(caller: Caller) -> Answer {
    let directory = {
        let mut target = caller.clone();
        target.path = caller
            .path
            .replace("/cisco/search.xml", "/cisco/directory.xml");
        target.link(&[("q", None), ("page", None)])
    };
    let mut doc = XmlWriter::new();
    doc.open("CiscoIPPhoneInput", &[])
        .leaf("Title", "Directory search")
        .leaf("Prompt", "Enter a name or number")
        .leaf("URL", &directory)
        .open("InputItem", &[])
        .leaf("DisplayName", "Name or number")
        .leaf("QueryStringParam", "q")
        .leaf("DefaultValue", "")
        .leaf("InputFlags", "A")
        .close("InputItem")
        .close("CiscoIPPhoneInput");
    Ok(xml(doc.finish()))
}

/// `GET /grandstream/phonebook.xml`: Grandstream's `AddressBook` of `Contact`s with typed
/// `Phone` elements (`Work`, `Home`, `Cell`).
pub async fn grandstream(State(state): State<AppState>, caller: Caller) -> Answer {
    let (entries, _) = listing(&state, &caller).await?;
    let mut doc = XmlWriter::new();
    doc.open("AddressBook", &[]);
    for (index, entry) in entries.iter().enumerate() {
        let numbers = numbers(entry, state.config.number_form);
        if numbers.is_empty() {
            continue;
        }
        let (given, surname) = split_name(entry);
        doc.open("Contact", &[])
            .leaf("id", &(index + 1).to_string())
            .leaf("FirstName", &given)
            .leaf("LastName", &surname)
            .leaf("Frequent", "0");
        for (kind, number) in &numbers {
            let kind = match kind {
                PhoneKind::Mobile => "Cell",
                PhoneKind::Home => "Home",
                _ => "Work",
            };
            doc.open("Phone", &[("type", kind)])
                .leaf("phonenumber", number)
                .leaf("accountindex", "0")
                .close("Phone");
        }
        doc.leaf("Primary", "0");
        if let Some(company) = &entry.company {
            doc.leaf("Company", company);
        }
        if let Some(department) = &entry.department {
            doc.leaf("Department", department);
        }
        if let Some(title) = &entry.title {
            doc.leaf("Job", title);
        }
        doc.close("Contact");
    }
    doc.close("AddressBook");
    Ok(xml(doc.finish()))
}

/// `GET /fanvil/directory.xml`: `FanvilIPPhoneDirectory` with one `Telephone`, `Mobile` and
/// `Other` per entry.
pub async fn fanvil(State(state): State<AppState>, caller: Caller) -> Answer {
    let (entries, _) = listing(&state, &caller).await?;
    let mut doc = XmlWriter::new();
    doc.open("FanvilIPPhoneDirectory", &[])
        .leaf("Title", "Directory");
    for entry in &entries {
        let mut numbers = numbers(entry, state.config.number_form);
        if numbers.is_empty() {
            continue;
        }
        let mut take = |pick: &dyn Fn(PhoneKind) -> bool| {
            numbers
                .iter()
                .position(|(k, _)| pick(*k))
                .map(|i| numbers.remove(i).1)
        };
        let mobile = take(&|k| k == PhoneKind::Mobile);
        let telephone = take(&|k| k == PhoneKind::Business).or_else(|| take(&|_| true));
        let other = take(&|_| true);
        doc.open("DirectoryEntry", &[])
            .leaf("Name", &entry.display_name);
        if let Some(n) = &telephone {
            doc.leaf("Telephone", n);
        }
        if let Some(n) = &mobile {
            doc.leaf("Mobile", n);
        }
        if let Some(n) = &other {
            doc.leaf("Other", n);
        }
        doc.close("DirectoryEntry");
    }
    doc.close("FanvilIPPhoneDirectory");
    Ok(xml(doc.finish()))
}

/// `GET /polycom/directory.xml`: Poly's `directory/item_list/item` (`ln`, `fn`, `ct`), one item
/// per number.
pub async fn polycom(State(state): State<AppState>, caller: Caller) -> Answer {
    let page = Page::from_caller(&caller, state.config.page_size, state.config.max_entries)
        .map_err(|e| caller.fail(e))?;
    let (rows, _, _) = row_page(&state, &caller, page).await?;
    let mut doc = XmlWriter::new();
    doc.open("directory", &[]).open("item_list", &[]);
    for row in &rows {
        let surname = if row.several {
            format!("{} ({})", row.surname, kind_label(row.kind))
        } else {
            row.surname.clone()
        };
        doc.open("item", &[])
            .leaf("ln", &surname)
            .leaf("fn", &row.given)
            .leaf("ct", &row.number)
            .close("item");
    }
    doc.close("item_list").close("directory");
    Ok(xml(doc.finish()))
}

/// `GET /gigaset/phonebook.xml`: the Gigaset phonebook-search protocol used by the DECT bases'
/// online directory. `command=get_list`; search fields `ln`, `fn` (name) and `hm` (a number,
/// for caller lookup), `*` meaning "not given"; paging with `first` (1-based) and `count`;
/// `reqid` echoed. Values may arrive ISO-8859-1-encoded. Entries carry `ln`, `fn`, `hm`
/// (home, or the first number), `mb` (mobile), `nb` (office).
pub async fn gigaset(State(state): State<AppState>, caller: Caller) -> Answer {
    let field = |name: &str| {
        caller
            .params
            .get(name)
            .map(|v| v.trim_matches('*').trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    if let Some(command) = caller.params.get("command") {
        if command != "get_list" {
            return Err(caller.fail(HttpError::BadRequest(format!(
                "command={command:?} is not supported: only get_list"
            ))));
        }
    }
    let first = caller
        .params
        .positive("first", 1)
        .map_err(|e| caller.fail(e))?;
    let count = caller
        .params
        .positive("count", state.config.page_size.min(50))
        .map_err(|e| caller.fail(e))?
        .min(state.config.max_entries);
    let (entries, searched) = if let Some(number) = field("hm") {
        let found = match state.service.lookup(&caller.who, &number).await {
            Ok(LookupResult::Entries { entries, .. }) => entries,
            Ok(_) | Err(directory::ServiceError::BadRequest(_)) => Vec::new(),
            Err(other) => return Err(caller.fail(other)),
        };
        (found, "hm")
    } else {
        let text: Vec<String> = ["ln", "fn"].iter().filter_map(|f| field(f)).collect();
        let query = (!text.is_empty()).then(|| text.join(" "));
        let (found, _) = books::fetch(
            &state,
            &caller,
            BookScope::All,
            query.as_deref(),
            usize::MAX,
        )
        .await
        .map_err(|e| caller.fail(e))?;
        (found, "ln")
    };
    let with_numbers: Vec<&Entry> = entries
        .iter()
        .filter(|e| !numbers(e, state.config.number_form).is_empty())
        .collect();
    let total = with_numbers.len();
    let reqid = caller.params.raw("reqid").unwrap_or("").to_owned();
    let mut attrs: Vec<(&str, String)> =
        vec![("response", "get_list".into()), ("type", "pb".into())];
    if !reqid.is_empty() {
        attrs.push(("reqid", reqid));
    }
    let start = (first - 1).min(total);
    let page: Vec<&Entry> = with_numbers.into_iter().skip(start).take(count).collect();
    let mut doc = XmlWriter::new();
    if page.is_empty() {
        attrs.push(("notfound", searched.into()));
        attrs.push(("total", "0".into()));
        let attrs: Vec<(&str, &str)> = attrs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        doc.empty("list", &attrs);
        return Ok(xml(doc.finish()));
    }
    attrs.push(("total", total.to_string()));
    attrs.push(("first", (start + 1).to_string()));
    attrs.push(("last", (start + page.len()).to_string()));
    let attrs: Vec<(&str, &str)> = attrs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    doc.open("list", &attrs);
    for entry in page {
        let numbers = numbers(entry, state.config.number_form);
        let first_of = |kind: PhoneKind| numbers.iter().find(|(k, _)| *k == kind).map(|(_, n)| n);
        let (given, surname) = split_name(entry);
        doc.open("entry", &[]).leaf("ln", &surname);
        if !given.is_empty() {
            doc.leaf("fn", &given);
        }
        if let Some(hm) = first_of(PhoneKind::Home).or_else(|| numbers.first().map(|(_, n)| n)) {
            doc.leaf("hm", hm);
        }
        if let Some(mb) = first_of(PhoneKind::Mobile) {
            doc.leaf("mb", mb);
        }
        if let Some(nb) = first_of(PhoneKind::Business) {
            doc.leaf("nb", nb);
        }
        doc.close("entry");
    }
    doc.close("list");
    Ok(xml(doc.finish()))
}
