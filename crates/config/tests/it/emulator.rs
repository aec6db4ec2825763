//! A site pointed at the tenant emulator: its HTTPS endpoints, its CA, its app credentials (the
//! secret from the environment) — the configuration a trial run of pbx365 uses.

use crate::TempDir;
use config::{Config, Credential};

#[tokio::test]
async fn a_site_pointed_at_the_emulator_loads() {
    let sim = graph_sim::start(graph_sim::SimConfig::loopback(3, 7))
        .await
        .expect("emulator starts");
    let https = sim.https_url().expect("https listener");
    let dir = TempDir::create();
    let text = format!(
        r#"
[store]
url = "sqlite://{db}"

[[site]]
name = "sim"

[site.tenant]
tenant_id = "{tenant}"
client_id = "{client}"
authority_url = "{https}/"
graph_url = "{https}/v1.0"
ca_file = "{ca}"

[site.dialling]
country = "GB"

[site.users]
licence_sku_id = "c42b9cae-ea4f-4ab7-9717-81576235ccac"

[site.extensions]
first_number = 2000
length = 4
"#,
        db = dir.path().join("pbx365.db").display(),
        tenant = sim.credentials.tenant_id,
        client = sim.credentials.client_id,
        ca = sim.ca_file.display(),
    );
    let path = dir.write("pbx365.toml", &text, 0o600);
    let env = [(
        "PBX365_SITE__0__TENANT__CLIENT_SECRET".to_owned(),
        sim.credentials.client_secret.clone(),
    )];
    let config = Config::load(&path, env).expect("loads");
    let tenant = &config.sites[0].tenant;
    assert_eq!(tenant.tenant_id.to_string(), sim.credentials.tenant_id);
    assert_eq!(tenant.client_id.to_string(), sim.credentials.client_id);
    assert_eq!(tenant.authority_url, https);
    assert_eq!(tenant.graph_url, format!("{https}/v1.0"));
    let ca = tenant.ca.as_ref().expect("ca");
    assert_eq!(ca.path, sim.ca_file);
    assert_eq!(
        ca.pem.trim_end(),
        std::fs::read_to_string(&sim.ca_file)
            .expect("ca")
            .trim_end()
    );
    match &tenant.credential {
        Credential::ClientSecret(s) => assert_eq!(s.expose(), sim.credentials.client_secret),
        other => panic!("expected client secret, got {other:?}"),
    }
    // Loopback https is not worth a warning; the example's shared-mailbox warning applies.
    assert_eq!(
        config.warnings(),
        &[
            "site[0].sources.shared_mailboxes is on but site[0].shared_mailboxes lists no \
           mailbox; the company phonebook gets no shared-mailbox contacts"
                .to_owned()
        ]
    );
}
