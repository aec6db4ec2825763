//! CSV exports, parsed back and checked against the importers' headers.

use crate::fake::BEN;
use crate::support::{ok_body, start};

/// An RFC 4180 reader: quoted fields may hold commas, quotes and line breaks.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\r') => {}
            (false, '\n') => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => field.push(c),
        }
    }
    assert!(
        field.is_empty() && row.is_empty(),
        "CSV must end with a line break"
    );
    rows
}

fn column<'a>(header: &[String], row: &'a [String], name: &str) -> &'a str {
    let i = header
        .iter()
        .position(|h| h == name)
        .unwrap_or_else(|| panic!("no column {name}"));
    &row[i]
}

#[tokio::test]
async fn threecx_export() {
    let server = start().await;
    let response = server.alice("/export/3cx.csv").await;
    assert!(response.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .contains("attachment"));
    let body = ok_body(response, "text/csv; charset=utf-8").await;
    assert!(body.contains("\r\n"));
    let rows = parse_csv(&body);
    let header = &rows[0];
    assert_eq!(
        header.join(","),
        "FirstName,LastName,Company,Mobile,Mobile2,Home,Home2,Business,Business2,Email,Other,BusinessFax,HomeFax,Pager"
    );
    assert!(rows.iter().all(|r| r.len() == header.len()));
    let find = |last: &str| {
        rows.iter()
            .find(|r| column(header, r, "LastName") == last)
            .unwrap()
    };
    let alice = find("Example");
    assert_eq!(column(header, alice, "FirstName"), "Alice");
    assert_eq!(column(header, alice, "Business"), "201");
    assert_eq!(column(header, alice, "Mobile"), "001701234567");
    assert_eq!(column(header, alice, "Email"), "alice@example.com");
    let ben = find(BEN);
    assert_eq!(column(header, ben, "Company"), "Ben & Jerry's, Inc.");
    assert_eq!(column(header, ben, "Business"), "0040555000");
    let juergen = find("Müller");
    assert_eq!(column(header, juergen, "Home"), "0089777000");
    assert_eq!(column(header, juergen, "BusinessFax"), "0089777001");
    // Control characters are gone, the rest of the name kept.
    assert!(rows
        .iter()
        .any(|r| column(header, r, "LastName") == "CtrlCharName"));
    // Seven visible entries (Nora has no number but is still a contact).
    assert_eq!(rows.len(), 1 + 7);
}

#[tokio::test]
async fn freepbx_export() {
    let server = start().await;
    let body = ok_body(
        server.alice("/export/freepbx.csv?book=users").await,
        "text/csv",
    )
    .await;
    let rows = parse_csv(&body);
    let header = &rows[0];
    for required in [
        "groupname",
        "grouptype",
        "displayname",
        "phone_1_number",
        "phone_1_type",
    ] {
        assert!(header.iter().any(|h| h == required), "{required}");
    }
    assert_eq!(rows.len(), 3, "Alice and Bob");
    let bob = &rows[2];
    assert_eq!(column(header, bob, "displayname"), "Bob Builder");
    assert_eq!(column(header, bob, "groupname"), "pbx365 Colleagues");
    assert_eq!(column(header, bob, "grouptype"), "external");
    assert_eq!(column(header, bob, "phone_1_number"), "202");
    assert_eq!(column(header, bob, "phone_1_type"), "work");
    assert_eq!(column(header, bob, "email_1"), "bob@example.com");
    let alice = &rows[1];
    assert_eq!(column(header, alice, "phone_2_type"), "cell");
    assert_eq!(column(header, alice, "title"), "Head of \"Phones\"");

    let all = parse_csv(&ok_body(server.alice("/export/freepbx.csv").await, "text/csv").await);
    assert!(
        all.iter().all(|r| r[2] != "No Number Nora"),
        "phone_1_number is required"
    );
    assert!(all.iter().any(|r| r[0] == "pbx365 Personal"));
}
