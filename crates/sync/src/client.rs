//! A Graph client for a configured site: the same code for Microsoft and the emulator.

use crate::error::SyncError;
use graph::auth::AssertionAlg;
use graph::{ClientConfig, Credential, GraphClient, Secret};

/// Builds the site's Graph client from its tenant settings (URLs, credential, extra CA).
pub fn client_for_site(site: &config::Site) -> Result<GraphClient, SyncError> {
    let t = &site.tenant;
    let credential = match &t.credential {
        config::Credential::ClientSecret(s) => Credential::Secret(Secret::new(s.expose())),
        config::Credential::Certificate {
            certificate_pem,
            private_key_pem,
        } => Credential::Certificate {
            cert_pem: certificate_pem.clone(),
            key_pem: Secret::new(private_key_pem.expose()),
            alg: AssertionAlg::default(),
        },
        _ => {
            return Err(SyncError::Graph(graph::GraphError::Invalid(
                "this kind of credential is not supported by the sync yet; use a client secret or a certificate".into(),
            )))
        }
    };
    let mut cfg = ClientConfig::new(t.tenant_id.to_string(), t.client_id.to_string(), credential);
    cfg.authority_url = t.authority_url.clone();
    cfg.graph_url = t.graph_url.clone();
    cfg.extra_root_ca_pem = t.ca.as_ref().map(|c| c.pem.clone());
    GraphClient::new(cfg).map_err(SyncError::Graph)
}
