//! The vendor XML phonebooks, parsed and checked per vendor.

use crate::fake::{ALICE, BEN, JUERGEN, LOBBY, PETE};
use crate::support::{config, start, start_with, texts, xml};
use directory::NumberForm;
use roxmltree::Document;

/// Children texts of each element named `parent`, as (child name, text) lists.
fn records(doc: &Document, parent: &str) -> Vec<Vec<(String, String)>> {
    doc.descendants()
        .filter(|n| n.has_tag_name(parent))
        .map(|n| {
            n.children()
                .filter(|c| c.is_element())
                .map(|c| {
                    (
                        c.tag_name().name().to_owned(),
                        c.text().unwrap_or("").to_owned(),
                    )
                })
                .collect()
        })
        .collect()
}

fn values<'a>(record: &'a [(String, String)], name: &str) -> Vec<&'a str> {
    record
        .iter()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .collect()
}

#[tokio::test]
async fn yealink_directory_escapes_strips_and_hides_personal_contacts() {
    let server = start().await;
    let body = xml(server.alice("/yealink/directory.xml").await).await;
    assert!(body.contains("Ben &amp; Jerry&apos;s &lt;Ice&gt; &quot;Cream&quot;"));
    assert!(!body.contains('\u{1}') && !body.contains('\u{7}') && !body.contains('\u{FFFE}'));
    let doc = Document::parse(&body).unwrap();
    assert_eq!(
        doc.root_element().tag_name().name(),
        "YealinkIPPhoneDirectory"
    );
    let entries = records(&doc, "DirectoryEntry");
    let names: Vec<&str> = entries.iter().map(|r| values(r, "Name")[0]).collect();
    assert_eq!(
        names,
        [
            "Alice Example",
            BEN,
            "Bob Builder",
            "CtrlCharName",
            JUERGEN,
            PETE
        ],
        "No Number Nora has nothing to dial and is left out"
    );
    assert_eq!(values(&entries[0], "Telephone"), ["201", "001701234567"]);
    assert_eq!(
        values(&entries[2], "Telephone"),
        ["202"],
        "the bare extension"
    );

    // The lobby group does not see Alice's personal contact.
    let lobby = server
        .client
        .get(server.url("/yealink/directory.xml"))
        .basic_auth(LOBBY.0, Some(LOBBY.1))
        .send()
        .await
        .unwrap();
    let body = xml(lobby).await;
    assert!(!body.contains(PETE));
    assert!(body.contains("Alice Example"));

    // Search and book selection.
    let body = xml(server.alice("/yealink/directory.xml?q=j%C3%BCrgen").await).await;
    let doc = Document::parse(&body).unwrap();
    assert_eq!(texts(&doc, "Name"), [JUERGEN]);
    let body = xml(server.alice("/yealink/directory.xml?book=personal").await).await;
    let doc = Document::parse(&body).unwrap();
    assert_eq!(texts(&doc, "Name"), [PETE]);
    let bad = server.alice("/yealink/directory.xml?book=nope").await;
    assert_eq!(bad.status(), 400);
    assert!(bad.text().await.unwrap().contains("book=\"nope\""));
    let bad = server.alice("/yealink/directory.xml?page=0").await;
    assert_eq!(bad.status(), 400);
}

#[tokio::test]
async fn number_form_setting_picks_e164_or_both() {
    let server = start_with(pbx365_http::HttpConfig {
        number_form: NumberForm::E164,
        ..config()
    })
    .await;
    let body = xml(server.alice("/yealink/directory.xml?q=alice").await).await;
    let doc = Document::parse(&body).unwrap();
    assert_eq!(
        texts(&doc, "Telephone"),
        ["+4930123456201", "+491701234567"]
    );

    let server = start_with(pbx365_http::HttpConfig {
        number_form: NumberForm::Both,
        ..config()
    })
    .await;
    let body = xml(server.alice("/yealink/directory.xml?q=alice").await).await;
    let doc = Document::parse(&body).unwrap();
    assert_eq!(
        texts(&doc, "Telephone"),
        ["201", "+4930123456201", "001701234567", "+491701234567"]
    );
}

#[tokio::test]
async fn yealink_phonebook_groups_by_phonebook() {
    let server = start().await;
    let body = xml(server.alice("/yealink/phonebook.xml").await).await;
    let doc = Document::parse(&body).unwrap();
    assert_eq!(doc.root_element().tag_name().name(), "YealinkIPPhoneBook");
    let menus: Vec<&str> = doc
        .descendants()
        .filter(|n| n.has_tag_name("Menu"))
        .filter_map(|n| n.attribute("Name"))
        .collect();
    assert_eq!(menus, ["Colleagues", "Company", "Contacts", "Personal"]);
    let alice = doc
        .descendants()
        .find(|n| n.has_tag_name("Unit") && n.attribute("Name") == Some("Alice Example"))
        .expect("Alice's unit");
    assert_eq!(alice.attribute("Phone1"), Some("201"));
    assert_eq!(alice.attribute("Phone2"), Some("001701234567"));
    assert_eq!(alice.attribute("Phone3"), Some(""));
    let ben = doc
        .descendants()
        .find(|n| n.attribute("Name") == Some(BEN))
        .expect("attribute values unescape to the original name");
    assert_eq!(ben.parent().unwrap().attribute("Name"), Some("Company"));
}

#[tokio::test]
async fn snom_minibrowser_directory_has_one_entry_per_number() {
    let server = start().await;
    let body = xml(server.alice("/snom/directory.xml?q=alice").await).await;
    let doc = Document::parse(&body).unwrap();
    assert_eq!(doc.root_element().tag_name().name(), "SnomIPPhoneDirectory");
    let entries = records(&doc, "DirectoryEntry");
    assert_eq!(entries.len(), 2);
    assert_eq!(values(&entries[0], "Name"), ["Alice Example (Work)"]);
    assert_eq!(values(&entries[0], "Telephone"), ["201"]);
    assert_eq!(values(&entries[1], "Name"), ["Alice Example (Mobile)"]);
}

#[tokio::test]
async fn row_pages_read_past_entries_without_numbers() {
    let server = start().await;
    // The three "Aaa Silent" entries sort first and have nothing to dial.
    let body = xml(server
        .anon("/sites/big/snom/directory.xml?per_page=2")
        .await)
    .await;
    let doc = Document::parse(&body).unwrap();
    assert_eq!(texts(&doc, "Name"), ["Person 01", "Person 02"]);
    let body = xml(server
        .anon("/sites/big/polycom/directory.xml?per_page=2&page=20")
        .await)
    .await;
    let doc = Document::parse(&body).unwrap();
    assert_eq!(texts(&doc, "ln"), ["Person 39", "Person 40"]);
}

#[tokio::test]
async fn snom_remote_directory_answers_post_with_a_tbook() {
    let server = start().await;
    let response = server
        .client
        .post(server.url("/snom/remote.xml?token=alice%3Aalice-secret"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("q=J%C3%BCrgen")
        .send()
        .await
        .unwrap();
    let body = xml(response).await;
    let doc = Document::parse(&body).unwrap();
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "tbook");
    assert_eq!(root.attribute("version"), Some("2.0"));
    assert_eq!(root.attribute("e"), Some("2"));
    let contacts: Vec<_> = root
        .children()
        .filter(|n| n.has_tag_name("contact"))
        .collect();
    assert_eq!(contacts.len(), 1);
    assert_eq!(texts(&doc, "first_name"), ["Jürgen"]);
    assert_eq!(texts(&doc, "last_name"), ["Müller"]);
    let numbers: Vec<(&str, &str)> = doc
        .descendants()
        .filter(|n| n.has_tag_name("number"))
        .map(|n| (n.attribute("no").unwrap(), n.attribute("type").unwrap()))
        .collect();
    assert_eq!(numbers, [("0089777000", "home"), ("0089777001", "fax")]);

    // Without a body it lists everything the caller may see; a contact without given or
    // surname gets its display name as last name.
    let response = server
        .client
        .post(server.url("/snom/remote.xml"))
        .basic_auth(ALICE.0, Some(ALICE.1))
        .send()
        .await
        .unwrap();
    let body = xml(response).await;
    let doc = Document::parse(&body).unwrap();
    assert!(texts(&doc, "last_name").contains(&BEN.to_owned()));
    assert!(texts(&doc, "last_name").contains(&"Private".to_owned()));
}

#[tokio::test]
async fn cisco_pages_hold_at_most_32_entries_linked_by_soft_keys() {
    let server = start().await;
    let first = xml(server
        .anon("/sites/big/cisco/directory.xml?per_page=100")
        .await)
    .await;
    let doc = Document::parse(&first).unwrap();
    assert_eq!(
        doc.root_element().tag_name().name(),
        "CiscoIPPhoneDirectory"
    );
    let entries = records(&doc, "DirectoryEntry");
    assert_eq!(entries.len(), 32);
    assert_eq!(values(&entries[0], "Name"), ["Person 01"]);
    assert_eq!(values(&entries[0], "Telephone"), ["030 10000001"]);
    // The batch holding the first 32 rows held all entries (the silent ones were read past).
    assert_eq!(texts(&doc, "Prompt"), ["Records 1 to 32 of 40"]);
    let keys = records(&doc, "SoftKeyItem");
    let names: Vec<&str> = keys.iter().map(|k| values(k, "Name")[0]).collect();
    assert_eq!(names, ["Dial", "Next", "Exit"]);
    let next = values(&keys[1], "URL")[0].to_owned();
    assert!(
        next.starts_with(&format!(
            "http://{}/sites/big/cisco/directory.xml?",
            server.addr
        )),
        "{next}"
    );
    assert!(next.contains("page=2"));

    let second = xml(server
        .anon(&next.replace(&format!("http://{}", server.addr), ""))
        .await)
    .await;
    let doc = Document::parse(&second).unwrap();
    let entries = records(&doc, "DirectoryEntry");
    assert_eq!(entries.len(), 8);
    assert_eq!(values(&entries[7], "Name"), ["Person 40"]);
    assert_eq!(texts(&doc, "Prompt"), ["Records 33 to 40 of 40"]);
    let keys = records(&doc, "SoftKeyItem");
    let names: Vec<&str> = keys.iter().map(|k| values(k, "Name")[0]).collect();
    assert_eq!(names, ["Dial", "Previous", "Exit"]);
    assert!(values(&keys[1], "URL")[0].contains("page=1"));
}

#[tokio::test]
async fn cisco_search_form_submits_to_the_directory_with_the_token() {
    let server = start().await;
    let body = xml(server
        .anon("/cisco/search.xml?token=alice%3Aalice-secret")
        .await)
    .await;
    let doc = Document::parse(&body).unwrap();
    assert_eq!(doc.root_element().tag_name().name(), "CiscoIPPhoneInput");
    assert_eq!(texts(&doc, "QueryStringParam"), ["q"]);
    let url = texts(&doc, "URL").remove(0);
    assert_eq!(
        url,
        format!(
            "http://{}/cisco/directory.xml?token=alice%3Aalice-secret",
            server.addr
        )
    );
    // Behind a TLS-terminating proxy the links say https.
    let proxied = server
        .client
        .get(server.url("/cisco/search.xml?token=alice%3Aalice-secret"))
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .unwrap();
    let body = xml(proxied).await;
    let doc = Document::parse(&body).unwrap();
    assert!(texts(&doc, "URL")[0].starts_with(&format!("https://{}/cisco/", server.addr)));
    // What the phone does with it: append the typed text.
    let found = xml(server
        .client
        .get(format!("{url}&q=pete"))
        .send()
        .await
        .unwrap())
    .await;
    let doc = Document::parse(&found).unwrap();
    let entries = records(&doc, "DirectoryEntry");
    assert_eq!(entries.len(), 1);
    assert_eq!(values(&entries[0], "Name"), [PETE]);
}

#[tokio::test]
async fn cisco_errors_are_phone_text_screens() {
    let server = start().await;
    let response = server.anon("/cisco/directory.xml").await;
    assert_eq!(response.status(), 401);
    assert!(response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Basic "));
    let body = response.text().await.unwrap();
    let doc = Document::parse(&body).unwrap();
    assert_eq!(doc.root_element().tag_name().name(), "CiscoIPPhoneText");
    assert!(texts(&doc, "Text")[0].contains("authentication required"));
}

#[tokio::test]
async fn grandstream_address_book() {
    let server = start().await;
    let body = xml(server.alice("/grandstream/phonebook.xml").await).await;
    let doc = Document::parse(&body).unwrap();
    assert_eq!(doc.root_element().tag_name().name(), "AddressBook");
    let alice = doc
        .descendants()
        .find(|n| {
            n.has_tag_name("Contact")
                && n.children()
                    .any(|c| c.has_tag_name("FirstName") && c.text() == Some("Alice"))
        })
        .expect("Alice");
    let phones: Vec<(&str, &str)> = alice
        .children()
        .filter(|c| c.has_tag_name("Phone"))
        .map(|p| {
            let number = p
                .children()
                .find(|c| c.has_tag_name("phonenumber"))
                .and_then(|c| c.text())
                .unwrap();
            (p.attribute("type").unwrap(), number)
        })
        .collect();
    assert_eq!(phones, [("Work", "201"), ("Cell", "001701234567")]);
    assert!(texts(&doc, "Company").contains(&"Ben & Jerry's, Inc.".to_owned()));
    assert!(texts(&doc, "Job").contains(&"Head of \"Phones\"".to_owned()));
    assert!(texts(&doc, "LastName").contains(&"Müller".to_owned()));
}

#[tokio::test]
async fn fanvil_directory_sorts_numbers_into_its_three_fields() {
    let server = start().await;
    let body = xml(server.alice("/fanvil/directory.xml").await).await;
    let doc = Document::parse(&body).unwrap();
    assert_eq!(
        doc.root_element().tag_name().name(),
        "FanvilIPPhoneDirectory"
    );
    let entries = records(&doc, "DirectoryEntry");
    let alice = entries
        .iter()
        .find(|r| values(r, "Name") == ["Alice Example"])
        .unwrap();
    assert_eq!(values(alice, "Telephone"), ["201"]);
    assert_eq!(values(alice, "Mobile"), ["001701234567"]);
    let juergen = entries
        .iter()
        .find(|r| values(r, "Name") == [JUERGEN])
        .unwrap();
    assert_eq!(values(juergen, "Telephone"), ["0089777000"]);
    assert_eq!(values(juergen, "Other"), ["0089777001"]);
    assert!(values(juergen, "Mobile").is_empty());
}

#[tokio::test]
async fn polycom_directory_items() {
    let server = start().await;
    let body = xml(server.alice("/polycom/directory.xml?q=m%C3%BCller").await).await;
    let doc = Document::parse(&body).unwrap();
    assert_eq!(doc.root_element().tag_name().name(), "directory");
    let items = records(&doc, "item");
    assert_eq!(items.len(), 2);
    assert_eq!(values(&items[0], "fn"), ["Jürgen"]);
    assert_eq!(values(&items[0], "ln"), ["Müller (Home)"]);
    assert_eq!(values(&items[0], "ct"), ["0089777000"]);
    assert_eq!(values(&items[1], "ln"), ["Müller (Fax)"]);
    assert!(doc.descendants().any(|n| n.has_tag_name("item_list")));
}

#[tokio::test]
async fn gigaset_search_reverse_lookup_and_paging() {
    let server = start().await;
    // A Gigaset base sends ISO-8859-1 escapes and '*' for fields not searched.
    let body = xml(
        server
            .anon("/gigaset/phonebook.xml?command=get_list&type=pb&fn=*&ln=M%FCller&hm=*&first=1&count=10&reqid=7&token=alice%3Aalice-secret")
            .await,
    )
    .await;
    let doc = Document::parse(&body).unwrap();
    let list = doc.root_element();
    assert_eq!(list.tag_name().name(), "list");
    assert_eq!(list.attribute("response"), Some("get_list"));
    assert_eq!(list.attribute("reqid"), Some("7"));
    assert_eq!(list.attribute("total"), Some("1"));
    assert_eq!(texts(&doc, "ln"), ["Müller"]);
    assert_eq!(texts(&doc, "fn"), ["Jürgen"]);
    assert_eq!(texts(&doc, "hm"), ["0089777000"]);

    // Reverse lookup of an incoming number.
    let body = xml(server.anon("/gigaset/phonebook.xml?command=get_list&type=pb&hm=0040555000&token=alice%3Aalice-secret").await).await;
    let doc = Document::parse(&body).unwrap();
    assert_eq!(texts(&doc, "ln"), [BEN]);
    assert_eq!(texts(&doc, "nb"), ["0040555000"]);

    // Unknown number: the documented "not found" answer.
    let body = xml(server.anon("/gigaset/phonebook.xml?command=get_list&type=pb&hm=0123456789&token=alice%3Aalice-secret").await).await;
    let doc = Document::parse(&body).unwrap();
    let list = doc.root_element();
    assert_eq!(list.attribute("notfound"), Some("hm"));
    assert_eq!(list.attribute("total"), Some("0"));
    assert!(list.children().all(|c| !c.is_element()));

    // Paging.
    let body = xml(server
        .anon("/sites/big/gigaset/phonebook.xml?command=get_list&type=pb&first=11&count=5")
        .await)
    .await;
    let doc = Document::parse(&body).unwrap();
    let list = doc.root_element();
    assert_eq!(list.attribute("first"), Some("11"));
    assert_eq!(list.attribute("last"), Some("15"));
    assert_eq!(list.attribute("total"), Some("40"));
    assert_eq!(
        texts(&doc, "ln"),
        [
            "Person 11",
            "Person 12",
            "Person 13",
            "Person 14",
            "Person 15"
        ]
    );

    // Errors are Gigaset error documents.
    let response = server.anon("/gigaset/phonebook.xml?command=get_list").await;
    assert_eq!(response.status(), 401);
    let body = response.text().await.unwrap();
    let doc = Document::parse(&body).unwrap();
    assert_eq!(doc.root_element().tag_name().name(), "error");
    assert_eq!(texts(&doc, "errorid"), ["6"]);
    let response = server
        .anon("/sites/big/gigaset/phonebook.xml?command=delete_all")
        .await;
    assert_eq!(response.status(), 400);
}

#[tokio::test]
async fn sites_are_chosen_by_path_prefix() {
    let server = start().await;
    let body = xml(server.anon("/sites/open/yealink/directory.xml").await).await;
    let doc = Document::parse(&body).unwrap();
    assert_eq!(texts(&doc, "Name"), ["Olga Open"]);
    // The default site (main) needs credentials.
    assert_eq!(server.anon("/yealink/directory.xml").await.status(), 401);
    let body = xml(server.alice("/sites/main/yealink/directory.xml").await).await;
    assert!(body.contains("Alice Example") && !body.contains("Olga"));
    assert_eq!(
        server
            .anon("/sites/nope/yealink/directory.xml")
            .await
            .status(),
        404
    );
    assert_eq!(
        server
            .anon("/sites/Bad!/yealink/directory.xml")
            .await
            .status(),
        404
    );
    assert_eq!(server.anon("/nokia/directory.xml").await.status(), 404);

    // Without a default site, bare paths answer 404 and say what to do.
    let server = start_with(pbx365_http::HttpConfig {
        default_site: None,
        ..config()
    })
    .await;
    let response = server.alice("/yealink/directory.xml").await;
    assert_eq!(response.status(), 404);
    assert!(response.text().await.unwrap().contains("/sites/{site}"));
    assert_eq!(
        server
            .alice("/sites/main/yealink/directory.xml")
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn etag_and_if_none_match() {
    let server = start().await;
    let first = server.alice("/yealink/directory.xml").await;
    assert_eq!(first.status(), 200);
    let etag = first.headers()["etag"].to_str().unwrap().to_owned();
    assert!(etag.starts_with('"') && etag.ends_with('"'));
    assert_eq!(first.headers()["cache-control"], "private, no-cache");
    let again = server.alice("/yealink/directory.xml").await;
    assert_eq!(again.headers()["etag"], etag.as_str());
    let head = server
        .client
        .head(server.url("/yealink/directory.xml"))
        .basic_auth(ALICE.0, Some(ALICE.1))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers()["etag"], etag.as_str());
    assert!(head.bytes().await.unwrap().is_empty());

    let cached = server
        .client
        .get(server.url("/yealink/directory.xml"))
        .basic_auth(ALICE.0, Some(ALICE.1))
        .header("if-none-match", format!("\"stale\", {etag}"))
        .send()
        .await
        .unwrap();
    assert_eq!(cached.status(), 304);
    assert_eq!(cached.headers()["etag"], etag.as_str());
    assert!(cached.bytes().await.unwrap().is_empty());

    // A different body (another principal sees other entries) has another tag.
    let lobby = server
        .client
        .get(server.url("/yealink/directory.xml"))
        .basic_auth(LOBBY.0, Some(LOBBY.1))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(lobby.status(), 200);
    assert_ne!(lobby.headers()["etag"], etag.as_str());
}
