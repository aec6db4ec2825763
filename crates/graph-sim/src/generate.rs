//! The deterministic tenant generator (to be filled in).

use crate::model::{App, AppSecret, MailboxData};
use crate::tenant_file::TenantFile;

/// Generator options.
#[derive(Debug, Clone)]
pub struct GenerateOptions {
    /// People.
    pub users: usize,
    /// Seed.
    pub seed: u64,
    /// Total personal contacts.
    pub contacts: Option<usize>,
}

/// Generates a tenant.
pub fn generate(opts: &GenerateOptions) -> TenantFile {
    let _ = opts;
    TenantFile {
        tenant_id: uuid::Uuid::new_v4().to_string(),
        domain: "contoso.onmicrosoft.com".into(),
        ..Default::default()
    }
}

/// An empty mailbox for a user.
pub fn empty_mailbox(user_id: &str) -> MailboxData {
    MailboxData {
        default_folder_id: format!("contacts-{user_id}"),
        root_folder_id: format!("root-{user_id}"),
        ..Default::default()
    }
}

/// The default fully consented app with a fresh secret.
pub fn default_app(rng: &mut impl rand::Rng) -> App {
    let _ = rng;
    App {
        client_id: uuid::Uuid::new_v4().to_string(),
        display_name: "pbx365".into(),
        secrets: vec![AppSecret {
            key_id: uuid::Uuid::new_v4().to_string(),
            value: uuid::Uuid::new_v4().simple().to_string(),
            end_date_time: "2099-12-31T00:00:00Z".into(),
        }],
        admin_consented: true,
        ..Default::default()
    }
}
