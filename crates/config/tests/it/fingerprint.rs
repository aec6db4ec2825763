use crate::{load, minimal_with, MINIMAL};
use config::Source;

const GROUP: &str = "group_id = \"9b1c2d3e-4f5a-4b6c-8d7e-0f1a2b3c4d5e\"";

/// The four fingerprints of the single site in `text`.
fn prints(text: &str) -> [String; 4] {
    let c = load(text).expect("loads");
    Source::ALL.map(|s| c.sites[0].selection_fingerprint(s))
}

/// Which sources' fingerprints differ between `a` and `b`.
fn changed(a: &str, b: &str) -> Vec<Source> {
    let (pa, pb) = (prints(a), prints(b));
    Source::ALL
        .into_iter()
        .zip(pa.iter().zip(pb.iter()))
        .filter(|(_, (x, y))| x != y)
        .map(|(s, _)| s)
        .collect()
}

fn with_user_key(line: &str) -> String {
    minimal_with(GROUP, &format!("{GROUP}\n{line}"))
}

#[test]
fn fingerprint_is_stable_and_hex() {
    let a = prints(MINIMAL);
    let b = prints(MINIMAL);
    assert_eq!(a, b);
    assert!(a
        .iter()
        .all(|p| p.len() == 64 && p.bytes().all(|c| c.is_ascii_hexdigit())));
    // Every source has its own fingerprint.
    let mut distinct = a.to_vec();
    distinct.dedup();
    assert_eq!(distinct.len(), 4);
}

#[test]
fn user_selection_keys_change_only_the_users_fingerprint() {
    for line in [
        "guests = true",
        "include_rooms = true",
        "include_equipment = true",
        "include_shared_mailboxes = true",
        "include_resource_accounts = true",
        "include_upns = [\"a@contoso.com\"]",
        "exclude_upns = [\"b@contoso.com\"]",
        "department_groups = [\"11111111-2222-3333-4444-555555555555\"]",
    ] {
        assert_eq!(
            changed(MINIMAL, &with_user_key(line)),
            vec![Source::Users],
            "{line}"
        );
    }
    let licence = minimal_with(
        GROUP,
        "licence_sku_id = \"c42b9cae-ea4f-4ab7-9717-81576235ccac\"",
    );
    assert_eq!(changed(MINIMAL, &licence), vec![Source::Users]);
}

#[test]
fn settings_not_baked_into_tokens_change_nothing() {
    for text in [
        with_user_key("disabled = \"disable\""),
        minimal_with("first_number = 100", "first_number = 200"),
        format!("{MINIMAL}\n[site.guards]\nmass_deletion_min = 5\n"),
        format!("{MINIMAL}\n[site.sources]\norg_contacts = false\n"),
    ] {
        assert_eq!(changed(MINIMAL, &text), vec![], "{text}");
    }
}

#[test]
fn shared_mailbox_list_changes_only_the_shared_fingerprint() {
    let more = minimal_with(
        "shared_mailboxes = [\"Reception@Contoso.com\"]",
        "shared_mailboxes = [\"reception@contoso.com\", \"sales@contoso.com\"]",
    );
    assert_eq!(changed(MINIMAL, &more), vec![Source::SharedMailboxes]);
}

#[test]
fn list_order_and_case_do_not_matter() {
    let a = with_user_key("include_upns = [\"a@contoso.com\", \"b@contoso.com\"]");
    let b = with_user_key("include_upns = [\"B@contoso.com\", \"a@contoso.com\"]");
    assert_eq!(changed(&a, &b), vec![]);
}

#[test]
fn tenant_or_graph_url_change_invalidates_every_source() {
    let other_graph = minimal_with(
        "client_secret_file = \"secret\"",
        "client_secret_file = \"secret\"\ngraph_url = \"http://127.0.0.1:9000/v1.0\"",
    );
    assert_eq!(changed(MINIMAL, &other_graph), Source::ALL.to_vec());
}
