use crate::{assert_invalid, load_with, MINIMAL};
use config::{ConfigError, Credential, Deprovisioning};

fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn string_override_replaces_a_file_value() {
    let c = load_with(
        MINIMAL,
        vars(&[("PBX365_STORE__URL", "postgres://root@127.0.0.1:5432/test")]),
    )
    .expect("loads");
    assert_eq!(c.store.url, "postgres://root@127.0.0.1:5432/test");
}

#[test]
fn number_override_is_typed() {
    let c = load_with(
        MINIMAL,
        vars(&[
            ("PBX365_SITE__0__EXTENSIONS__FIRST_NUMBER", "2000"),
            ("PBX365_SITE__0__EXTENSIONS__LENGTH", "4"),
        ]),
    )
    .expect("loads");
    assert_eq!(c.sites[0].extensions.first_number, 2000);
    assert_eq!(c.sites[0].extensions.length, 4);
    assert_eq!(c.sites[0].dialling.extension_length, 4);
}

#[test]
fn bool_override_adds_a_key_and_its_table() {
    let c = load_with(
        MINIMAL,
        vars(&[
            ("PBX365_SITE__0__USERS__GUESTS", "true"),
            ("PBX365_SITE__0__SOURCES__PERSONAL_CONTACTS", "false"),
        ]),
    )
    .expect("loads");
    assert!(c.sites[0].users.guests);
    assert!(!c.sites[0].sources.personal_contacts);
    assert!(c.sites[0].sources.users);
}

#[test]
fn array_override() {
    let c = load_with(
        MINIMAL,
        vars(&[(
            "PBX365_SITE__0__USERS__EXCLUDE_UPNS",
            r#"["Carol@contoso.com", "dave@contoso.com"]"#,
        )]),
    )
    .expect("loads");
    assert_eq!(
        c.sites[0].users.exclude_upns,
        vec!["carol@contoso.com", "dave@contoso.com"]
    );
}

#[test]
fn nested_override_into_a_list_of_tables_and_digit_strings() {
    let text = format!(
        "{MINIMAL}\n[[site.dialling.did_ranges]]\nbase = \"+49301234\"\nfirst = 100\nlast = 199\n"
    );
    let c = load_with(
        &text,
        vars(&[
            ("PBX365_SITE__0__DIALLING__DID_RANGES__0__BASE", "+4940555"),
            ("PBX365_SITE__0__DIALLING__AREA_CODE", "40"),
            (
                "PBX365_SITE__0__DEPROVISIONING__POLICY",
                "delete_after_days",
            ),
            ("PBX365_SITE__0__DEPROVISIONING__DAYS", "7"),
        ]),
    )
    .expect("loads");
    let d = &c.sites[0].dialling;
    assert_eq!(d.did_ranges[0].base, "+4940555");
    assert_eq!(d.area_code.as_deref(), Some("40"));
    assert_eq!(
        c.sites[0].deprovisioning,
        Deprovisioning::DeleteAfterDays(7)
    );
}

#[test]
fn client_secret_from_env_is_verbatim() {
    let text = MINIMAL.replace("client_secret_file = \"secret\"\n", "");
    let c = load_with(
        &text,
        vars(&[("PBX365_SITE__0__TENANT__CLIENT_SECRET", "12345")]),
    )
    .expect("loads");
    match &c.sites[0].tenant.credential {
        Credential::ClientSecret(s) => assert_eq!(s.expose(), "12345"),
        other => panic!("expected client secret, got {other:?}"),
    }
}

#[test]
fn site_index_out_of_range_is_an_error() {
    let err = load_with(MINIMAL, vars(&[("PBX365_SITE__1__TENANT__CLIENT_ID", "x")]))
        .expect_err("out of range");
    match err {
        ConfigError::Env { var, key, message } => {
            assert_eq!(var, "PBX365_SITE__1__TENANT__CLIENT_ID");
            assert_eq!(key, "site[1].tenant.client_id");
            assert_eq!(
                message,
                "index 1 is out of range: site has 1 entry in the file"
            );
        }
        other => panic!("expected Env, got {other:?}"),
    }
}

#[test]
fn override_value_is_validated_like_the_file() {
    assert_invalid(
        load_with(
            MINIMAL,
            vars(&[("PBX365_SITE__0__TENANT__CLIENT_ID", "not-a-guid")]),
        ),
        "site[0].tenant.client_id",
        "\"not-a-guid\"",
        "a GUID such as 3fa85f64-5717-4562-b3fc-2c963f66afa6",
    );
}

#[test]
fn unknown_key_from_env_is_rejected() {
    match load_with(MINIMAL, vars(&[("PBX365_SITE__0__USERS__GUEST", "true")])) {
        Err(ConfigError::UnknownKey { key, .. }) => assert_eq!(key, "site[0].users.guest"),
        other => panic!("expected UnknownKey, got {other:?}"),
    }
}

#[test]
fn non_config_variables_are_ignored() {
    let c = load_with(
        MINIMAL,
        vars(&[
            ("PBX365_LOG", "debug"),
            ("PBX365_CONFIG", "/etc/pbx365.toml"),
            ("HOME", "/root"),
        ]),
    )
    .expect("loads");
    assert_eq!(c.sites.len(), 1);
}
