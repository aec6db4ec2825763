//! Selection fingerprints: a stable hash of the settings that a source's delta tokens depend on,
//! so that changing them invalidates exactly those tokens.

use crate::model::{Site, Source, UserScope};
use sha2::{Digest, Sha256};

impl Site {
    /// A stable hash (64 hex digits) of the settings baked into `source`'s delta tokens. Store it
    /// beside the tokens; when it differs at the next run, drop that source's tokens and re-read
    /// it from scratch. Every source includes the tenant and Graph URL (a token is only valid
    /// there); on top of that:
    /// - users: group or licence, include/exclude UPNs, guests, the shared-mailbox / room /
    ///   equipment / resource-account flags, department groups;
    /// - shared mailboxes: the mailbox list;
    /// - personal contacts and org contacts: nothing else (each mailbox or the tenant has its own
    ///   token, which no setting filters).
    ///
    /// Lists are compared as sets: reordering them changes nothing.
    pub fn selection_fingerprint(&self, source: Source) -> String {
        let mut canon = format!(
            "pbx365-selection-v1\nsource={}\ntenant={}\ngraph={}\n",
            source.key(),
            self.tenant.tenant_id,
            self.tenant.graph_url
        );
        match source {
            Source::Users => {
                let u = &self.users;
                let scope = match u.scope {
                    UserScope::Group(g) => format!("group:{g}"),
                    UserScope::Licence(l) => format!("licence:{l}"),
                };
                let groups: Vec<String> =
                    u.department_groups.iter().map(|g| g.to_string()).collect();
                canon.push_str(&format!(
                    "scope={scope}\ninclude={}\nexclude={}\nguests={}\nshared={}\nrooms={}\n\
                     equipment={}\nresource={}\ndepartments={}\n",
                    u.include_upns.join(","),
                    u.exclude_upns.join(","),
                    u.guests,
                    u.include_shared_mailboxes,
                    u.include_rooms,
                    u.include_equipment,
                    u.include_resource_accounts,
                    groups.join(","),
                ));
            }
            Source::SharedMailboxes => {
                canon.push_str(&format!("mailboxes={}\n", self.shared_mailboxes.join(",")));
            }
            Source::PersonalContacts | Source::OrgContacts => {}
        }
        let digest = Sha256::digest(canon.as_bytes());
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }
}
