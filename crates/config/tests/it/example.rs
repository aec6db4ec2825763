use crate::{no_env, TempDir};
use config::{
    Config, Credential, Deprovisioning, DisabledUsers, PhotoSchedule, UserScope,
    DEFAULT_AUTHORITY_URL, DEFAULT_GRAPH_URL,
};

#[test]
fn the_example_loads_with_its_secret_file() {
    let dir = TempDir::create();
    dir.write("pbx365-client-secret", "example-secret\n", 0o600);
    let path = dir.write("pbx365.toml", Config::example(), 0o600);
    let config = Config::load(&path, no_env()).expect("example loads");
    assert_eq!(config.warnings(), &[] as &[String]);
    assert_eq!(config.store.url, "sqlite://pbx365.db");
    assert_eq!(config.sites.len(), 1);
    let site = config.site("main").expect("site main");
    assert_eq!(
        site.tenant.tenant_id.to_string(),
        "3fa85f64-5717-4562-b3fc-2c963f66afa6"
    );
    match &site.tenant.credential {
        Credential::ClientSecret(s) => assert_eq!(s.expose(), "example-secret"),
        other => panic!("expected a client secret, got {other:?}"),
    }
    assert_eq!(site.tenant.authority_url, DEFAULT_AUTHORITY_URL);
    assert_eq!(site.tenant.graph_url, DEFAULT_GRAPH_URL);
    assert_eq!(site.dialling.country, "DE");
    assert_eq!(site.dialling.area_code.as_deref(), Some("30"));
    assert_eq!(site.dialling.international_prefix, "00");
    assert_eq!(site.dialling.extension_length, 3);
    assert_eq!(site.dialling.did_ranges[0].base, "+49301234");
    assert_eq!(
        site.dialling.did_ranges[0].company.as_deref(),
        Some("Example GmbH")
    );
    assert_eq!(site.dialling.number_form, config::NumberForm::Dialable);
    let plan = site.dialling.plan();
    assert_eq!(
        plan.to_e164("0 030 9876543").map(String::from),
        Ok("+49309876543".to_owned())
    );
    assert_eq!(
        plan.to_e164("150").map(String::from),
        Ok("+49301234150".to_owned())
    );
    assert_eq!(
        site.users.scope,
        UserScope::Group("9b1c2d3e-4f5a-4b6c-8d7e-0f1a2b3c4d5e".parse().unwrap())
    );
    assert_eq!(site.users.disabled, DisabledUsers::Skip);
    assert_eq!(site.extensions.first_number, 100);
    assert_eq!(site.deprovisioning, Deprovisioning::DeleteAfterDays(30));
    assert_eq!(site.guards.mass_deletion_percent, 10);
    assert_eq!(site.guards.mass_deletion_min, 20);
    assert_eq!(site.shared_mailboxes, vec!["reception@contoso.com"]);
    assert_eq!(site.photos.schedule, PhotoSchedule::Nightly);
}

#[test]
fn defaults_fill_what_the_file_leaves_out() {
    let config = crate::load(crate::MINIMAL).expect("minimal loads");
    let site = &config.sites[0];
    assert_eq!(config.store.url, "sqlite://pbx365.db");
    assert_eq!(site.dialling.country, "DE");
    assert_eq!(site.dialling.national_prefix, "0");
    assert_eq!(site.dialling.outside_line_prefix, None);
    assert_eq!(site.extensions.quarantine_days, 30);
    assert_eq!(site.deprovisioning, Deprovisioning::Disable);
    assert!(!site.users.guests && !site.users.include_rooms && !site.users.include_equipment);
    assert!(site.sources.users && site.sources.org_contacts);
    assert_eq!(site.shared_mailboxes, vec!["reception@contoso.com"]);
}

#[test]
fn secrets_never_show_in_debug_output() {
    let config = crate::load(crate::MINIMAL).expect("minimal loads");
    let debug = format!("{config:?}");
    assert!(!debug.contains("s3cr3t-value"), "{debug}");
    assert!(debug.contains("[redacted]"));
}
