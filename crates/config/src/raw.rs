//! The file's shape as serde sees it: every table rejects unknown keys. Values are kept loose
//! (strings, i64) so that validation can say exactly what is wrong with them.

use serde::{Deserialize, Deserializer};
use std::path::PathBuf;

/// A string that may also be written as a bare integer (`area_code = 30` or `"030"`): digit
/// strings coming from environment variables parse as TOML integers.
#[derive(Debug, Clone)]
pub(crate) struct Text(pub String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Text;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string of digits")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Text, E> {
                Ok(Text(v.to_owned()))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawConfig {
    #[serde(default)]
    pub store: RawStore,
    #[serde(default)]
    pub site: Vec<RawSite>,
    #[serde(default)]
    pub http: crate::serve::RawHttp,
    #[serde(default)]
    pub ldap: crate::serve::RawLdap,
    #[serde(default)]
    pub directory: crate::serve::RawDirectoryService,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawStore {
    pub url: Option<String>,
    pub key_file: Option<std::path::PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSite {
    pub name: String,
    #[serde(default)]
    pub shared_mailboxes: Vec<String>,
    pub tenant: RawTenant,
    pub dialling: RawDialling,
    pub users: RawUsers,
    pub extensions: RawExtensions,
    #[serde(default)]
    pub deprovisioning: RawDeprovisioning,
    #[serde(default)]
    pub guards: RawGuards,
    #[serde(default)]
    pub sources: RawSources,
    #[serde(default)]
    pub photos: RawPhotos,
    #[serde(default)]
    pub directory: crate::serve::RawSiteDirectory,
    pub presence: Option<crate::presence_bridge::RawPresence>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTenant {
    pub tenant_id: String,
    pub client_id: String,
    pub client_secret_file: Option<PathBuf>,
    pub client_secret: Option<String>,
    pub certificate_file: Option<PathBuf>,
    pub private_key_file: Option<PathBuf>,
    pub authority_url: Option<String>,
    pub graph_url: Option<String>,
    pub ca_file: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDialling {
    pub country: String,
    pub area_code: Option<Text>,
    pub outside_line_prefix: Option<Text>,
    pub international_prefix: Option<Text>,
    pub national_prefix: Option<Text>,
    pub extension_lengths: Option<Vec<i64>>,
    #[serde(default)]
    pub extension_ranges: Vec<RawExtensionRange>,
    pub number_form: Option<String>,
    #[serde(default)]
    pub did_ranges: Vec<RawDidRange>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawExtensionRange {
    pub first: i64,
    pub last: i64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDidRange {
    pub base: Text,
    pub first: i64,
    pub last: i64,
    pub company: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawUsers {
    pub group_id: Option<String>,
    pub licence_sku_id: Option<String>,
    #[serde(default)]
    pub include_upns: Vec<String>,
    #[serde(default)]
    pub exclude_upns: Vec<String>,
    #[serde(default)]
    pub department_groups: Vec<String>,
    #[serde(default)]
    pub guests: bool,
    #[serde(default)]
    pub include_shared_mailboxes: bool,
    #[serde(default)]
    pub include_rooms: bool,
    #[serde(default)]
    pub include_equipment: bool,
    #[serde(default)]
    pub include_resource_accounts: bool,
    pub disabled: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawExtensions {
    pub first_number: i64,
    pub length: i64,
    pub quarantine_days: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDeprovisioning {
    pub policy: Option<String>,
    pub days: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawGuards {
    pub mass_deletion_percent: Option<i64>,
    pub mass_deletion_min: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSources {
    pub users: Option<bool>,
    pub personal_contacts: Option<bool>,
    pub shared_mailboxes: Option<bool>,
    pub org_contacts: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPhotos {
    pub schedule: Option<String>,
}
