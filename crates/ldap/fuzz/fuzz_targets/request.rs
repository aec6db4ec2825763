//! Fuzzes the LDAP request path: decoding and translation on their own, then a whole
//! connection over an in-memory stream against the integration tests' fixed directory.
//! Neither may panic, hang or answer with anything but valid LDAP.
#![no_main]

#[allow(dead_code)]
#[path = "../../tests/it/fake.rs"]
mod fake;

use libfuzzer_sys::fuzz_target;
use pbx365_ldap::{fuzzing, LdapConfig, Limits};
use std::sync::{Arc, OnceLock};

struct World {
    rt: tokio::runtime::Runtime,
    service: Arc<dyn directory::DirectoryService>,
    config: LdapConfig,
}

fn world() -> &'static World {
    static W: OnceLock<World> = OnceLock::new();
    W.get_or_init(|| World {
        rt: tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime"),
        service: Arc::new(fake::Fake::new()),
        config: LdapConfig::default(),
    })
}

fuzz_target!(|data: &[u8]| {
    fuzzing::request_path(data, &Limits::default());
    let w = world();
    w.rt.block_on(fuzzing::session(data, &w.config, w.service.clone()));
});
