use crate::{assert_invalid, load, minimal_with, MINIMAL};
use config::ConfigError;

#[test]
fn first_number_must_have_length_digits() {
    assert_invalid(
        load(&minimal_with("first_number = 100", "first_number = 1000")),
        "site[0].extensions.first_number",
        "1000",
        "a number with 3 digits (extensions.length), from 100 to 999",
    );
}

#[test]
fn extension_length_is_2_to_8() {
    assert_invalid(
        load(&minimal_with("length = 3", "length = 9")),
        "site[0].extensions.length",
        "9",
        "a number of digits from 2 to 8",
    );
}

#[test]
fn tenant_id_must_be_a_guid() {
    assert_invalid(
        load(&minimal_with(
            "3fa85f64-5717-4562-b3fc-2c963f66afa6",
            "contoso.com",
        )),
        "site[0].tenant.tenant_id",
        "\"contoso.com\"",
        "a GUID such as 3fa85f64-5717-4562-b3fc-2c963f66afa6",
    );
}

#[test]
fn country_must_be_alpha_2() {
    assert_invalid(
        load(&minimal_with("country = \"de\"", "country = \"DEU\"")),
        "site[0].dialling.country",
        "\"DEU\"",
        "an ISO 3166-1 alpha-2 country code such as \"DE\" or \"US\"",
    );
}

#[test]
fn did_range_must_fit_the_extension_length() {
    let text = format!(
        "{MINIMAL}\n[[site.dialling.did_ranges]]\nbase = \"+49301234\"\nfirst = 100\nlast = 1999\n"
    );
    assert_invalid(
        load(&text),
        "site[0].dialling.did_ranges[0].last",
        "1999",
        "an extension with 3 digits (extensions.length), from 100 to 999",
    );
}

#[test]
fn did_base_must_be_e164() {
    let text = format!(
        "{MINIMAL}\n[[site.dialling.did_ranges]]\nbase = \"030 1234\"\nfirst = 100\nlast = 199\n"
    );
    assert_invalid(
        load(&text),
        "site[0].dialling.did_ranges[0].base",
        "\"030 1234\"",
        "an E.164 prefix: '+', country code, then digits, at most 12 digits so that base + a \
         3-digit extension fits in 15",
    );
}

#[test]
fn exactly_one_credential() {
    let text = minimal_with(
        "client_secret_file = \"secret\"",
        "client_secret_file = \"secret\"\ncertificate_file = \"a.crt\"\nprivate_key_file = \"a.key\"",
    );
    assert_invalid(
        load(&text),
        "site[0].tenant",
        "client_secret_file and certificate_file + private_key_file",
        "exactly one credential: client_secret_file, the client_secret variable, or \
         certificate_file with private_key_file",
    );
    assert_invalid(
        load(&minimal_with("client_secret_file = \"secret\"", "")),
        "site[0].tenant.client_secret_file",
        "(not set)",
        "exactly one credential: client_secret_file, the client_secret variable, or \
         certificate_file with private_key_file",
    );
}

#[test]
fn client_secret_is_not_accepted_in_the_file() {
    let text = minimal_with(
        "client_secret_file = \"secret\"",
        "client_secret = \"hunter2\"",
    );
    let err = load(&text).expect_err("secret in file rejected");
    let shown = err.to_string();
    assert!(!shown.contains("hunter2"), "{shown}");
    assert_invalid(
        Err(err),
        "site[0].tenant.client_secret",
        "[redacted]",
        "no secret in the file: use client_secret_file = \"PATH\" or the variable \
         PBX365_SITE__0__TENANT__CLIENT_SECRET",
    );
}

#[test]
fn group_or_licence_is_required_and_not_both() {
    let none = minimal_with("group_id = \"9b1c2d3e-4f5a-4b6c-8d7e-0f1a2b3c4d5e\"", "");
    assert_invalid(
        load(&none),
        "site[0].users.group_id",
        "(not set)",
        "the id of the group whose members become extensions, or licence_sku_id",
    );
    let both = minimal_with(
        "group_id = \"9b1c2d3e-4f5a-4b6c-8d7e-0f1a2b3c4d5e\"",
        "group_id = \"9b1c2d3e-4f5a-4b6c-8d7e-0f1a2b3c4d5e\"\nlicence_sku_id = \"c42b9cae-ea4f-4ab7-9717-81576235ccac\"",
    );
    assert_invalid(
        load(&both),
        "site[0].users.licence_sku_id",
        "\"c42b9cae-ea4f-4ab7-9717-81576235ccac\"",
        "not set when group_id is set (choose the group or the licence)",
    );
}

#[test]
fn deprovisioning_policy_and_days() {
    assert_invalid(
        load(&format!(
            "{MINIMAL}\n[site.deprovisioning]\npolicy = \"delete\"\n"
        )),
        "site[0].deprovisioning.policy",
        "\"delete\"",
        "\"disable\", \"delete_after_days\" or \"keep\"",
    );
    assert_invalid(
        load(&format!(
            "{MINIMAL}\n[site.deprovisioning]\npolicy = \"delete_after_days\"\n"
        )),
        "site[0].deprovisioning.days",
        "(not set)",
        "the number of days before deletion (policy = \"delete_after_days\")",
    );
}

#[test]
fn mass_deletion_percent_is_1_to_100() {
    assert_invalid(
        load(&format!(
            "{MINIMAL}\n[site.guards]\nmass_deletion_percent = 0\n"
        )),
        "site[0].guards.mass_deletion_percent",
        "0",
        "a percentage from 1 to 100",
    );
}

#[test]
fn upns_are_checked_and_include_exclude_disjoint() {
    assert_invalid(
        load(&minimal_with(
            "group_id = \"9b1c2d3e-4f5a-4b6c-8d7e-0f1a2b3c4d5e\"",
            "group_id = \"9b1c2d3e-4f5a-4b6c-8d7e-0f1a2b3c4d5e\"\ninclude_upns = [\"alice\"]",
        )),
        "site[0].users.include_upns[0]",
        "\"alice\"",
        "a user principal name such as alice@contoso.com",
    );
    let both = minimal_with(
        "group_id = \"9b1c2d3e-4f5a-4b6c-8d7e-0f1a2b3c4d5e\"",
        "group_id = \"9b1c2d3e-4f5a-4b6c-8d7e-0f1a2b3c4d5e\"\ninclude_upns = [\"Bob@contoso.com\"]\nexclude_upns = [\"bob@contoso.com\"]",
    );
    assert_invalid(
        load(&both),
        "site[0].users.exclude_upns",
        "\"bob@contoso.com\"",
        "a UPN that include_upns does not also list",
    );
}

#[test]
fn site_names_are_unique() {
    let text = format!("{MINIMAL}\n{MINIMAL}");
    assert_invalid(
        load(&text),
        "site[1].name",
        "\"hq\"",
        "a name no other site uses",
    );
}

#[test]
fn wrong_type_names_key_value_and_expectation() {
    assert_invalid(
        load(&minimal_with("length = 3", "length = \"three\"")),
        "site[0].extensions.length",
        "\"three\"",
        "a whole number",
    );
}

#[test]
fn wrong_type_for_a_table_and_a_bool() {
    assert_invalid(
        load(&format!("{MINIMAL}\n[site.sources]\nusers = \"yes\"\n")),
        "site[0].sources.users",
        "\"yes\"",
        "true or false",
    );
}

#[test]
fn missing_required_table() {
    assert_invalid(
        load(&minimal_with(
            "[site.extensions]\nfirst_number = 100\nlength = 3\n",
            "",
        )),
        "site[0].extensions",
        "(not set)",
        "a value (required)",
    );
}

#[test]
fn unknown_key_is_rejected_with_its_path() {
    let text = minimal_with("group_id =", "grup_id = \"x\"\ngroup_id =");
    match load(&text) {
        Err(ConfigError::UnknownKey { key, expected }) => {
            assert_eq!(key, "site[0].users.grup_id");
            assert_eq!(
                expected,
                "one of group_id, licence_sku_id, include_upns, exclude_upns, \
                 department_groups, guests, include_shared_mailboxes, include_rooms, \
                 include_equipment, include_resource_accounts, disabled"
            );
        }
        other => panic!("expected UnknownKey, got {other:?}"),
    }
    match load(&format!("{MINIMAL}\n[logging]\nlevel = 1\n")) {
        Err(ConfigError::UnknownKey { key, .. }) => assert_eq!(key, "logging"),
        other => panic!("expected UnknownKey, got {other:?}"),
    }
}

#[test]
fn syntax_error_names_the_file_and_line() {
    let err = load("[store\nurl = 1").expect_err("syntax error");
    match &err {
        ConfigError::Syntax { path, message } => {
            assert!(path.ends_with("config.toml"), "{path:?}");
            assert!(message.contains("line 1"), "{message}");
        }
        other => panic!("expected Syntax, got {other:?}"),
    }
}

#[test]
fn error_messages_read_key_value_expected() {
    let err = load(&minimal_with("length = 3", "length = 9")).expect_err("invalid");
    assert_eq!(
        err.to_string(),
        "site[0].extensions.length = 9: expected a number of digits from 2 to 8"
    );
    assert_eq!(err.key(), Some("site[0].extensions.length"));
}

#[test]
fn store_url_scheme_is_checked() {
    assert_invalid(
        load(&format!("[store]\nurl = \"mysql://x\"\n{MINIMAL}")),
        "store.url",
        "\"mysql://x\"",
        "sqlite://FILE or postgres://USER@HOST/DB",
    );
}

#[test]
fn photo_schedule_is_nightly_off_or_an_interval() {
    let ok = load(&format!("{MINIMAL}\n[site.photos]\nschedule = \"6h\"\n")).expect("loads");
    assert_eq!(
        ok.sites[0].photos.schedule,
        config::PhotoSchedule::Every(std::time::Duration::from_secs(6 * 3600))
    );
    assert_invalid(
        load(&format!("{MINIMAL}\n[site.photos]\nschedule = \"5m\"\n")),
        "site[0].photos.schedule",
        "\"5m\"",
        "\"nightly\", \"off\", or an interval of at least 15 minutes such as \"30m\", \"6h\" \
         or \"2d\"",
    );
}

#[test]
fn graph_url_must_be_http_and_plain_http_off_loopback_warns() {
    let with_url = |url: &str| {
        minimal_with(
            "client_secret_file = \"secret\"",
            &format!("client_secret_file = \"secret\"\ngraph_url = \"{url}\""),
        )
    };
    assert_invalid(
        load(&with_url("graph.microsoft.com/v1.0")),
        "site[0].tenant.graph_url",
        "\"graph.microsoft.com/v1.0\"",
        "an http:// or https:// URL such as https://graph.microsoft.com/v1.0",
    );
    let c = load(&with_url("http://sim.lan:8365/v1.0/")).expect("loads");
    assert_eq!(c.sites[0].tenant.graph_url, "http://sim.lan:8365/v1.0");
    assert_eq!(
        c.warnings(),
        &[
            "site[0].tenant.graph_url uses plain http to sim.lan:8365: tokens would cross the \
           network unencrypted"
                .to_owned()
        ]
    );
}

#[test]
fn department_group_must_be_a_guid() {
    assert_invalid(
        load(&minimal_with(
            "group_id = \"9b1c2d3e-4f5a-4b6c-8d7e-0f1a2b3c4d5e\"",
            "group_id = \"9b1c2d3e-4f5a-4b6c-8d7e-0f1a2b3c4d5e\"\ndepartment_groups = [\"Sales\"]",
        )),
        "site[0].users.department_groups[0]",
        "\"Sales\"",
        "a GUID such as 3fa85f64-5717-4562-b3fc-2c963f66afa6",
    );
}

#[test]
fn did_ranges_must_not_overlap() {
    let text = format!(
        "{MINIMAL}\n[[site.dialling.did_ranges]]\nbase = \"+49301234\"\nfirst = 100\nlast = 199\n\
         [[site.dialling.did_ranges]]\nbase = \"+49305678\"\nfirst = 150\nlast = 250\n"
    );
    assert_invalid(
        load(&text),
        "site[0].dialling.did_ranges[1].first",
        "150",
        "a range that does not overlap site[0].dialling.did_ranges[0]",
    );
}
