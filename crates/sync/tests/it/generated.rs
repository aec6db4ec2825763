//! A generated 300-user tenant, checked against an oracle computed from the emulator's own
//! tenant snapshot; and the mass-deletion guard.

use crate::support::Env;
use graph_sim::tenant_file::TenantFile;
use reqwest::Method;
use std::collections::{BTreeMap, BTreeSet};
use sync::SyncOptions;

/// The expected extensions, straight from the tenant: transitive user members of "Phone
/// Users" that are enabled members with a licence (no guests, no resource mailboxes).
pub(crate) fn oracle(t: &TenantFile) -> (String, BTreeMap<String, String>) {
    let group = t
        .groups
        .iter()
        .find(|g| g.group.display_name.as_deref() == Some("Phone Users"))
        .expect("Phone Users group");
    let groups: BTreeMap<&str, &Vec<String>> = t
        .groups
        .iter()
        .map(|g| (g.group.id.as_str(), &g.members))
        .collect();
    let mut seen = BTreeSet::new();
    let mut queue = vec![group.group.id.clone()];
    while let Some(g) = queue.pop() {
        for m in groups
            .get(g.as_str())
            .map(|v| v.as_slice())
            .unwrap_or_default()
        {
            if seen.insert(m.clone()) && groups.contains_key(m.as_str()) {
                queue.push(m.clone());
            }
        }
    }
    let want = t
        .users
        .iter()
        .map(|r| &r.user.user)
        .filter(|u| seen.contains(&u.id))
        .filter(|u| u.user_type.as_deref() != Some("Guest"))
        .filter(|u| u.account_enabled != Some(false))
        .map(|u| (u.id.clone(), u.display_name.clone().unwrap_or_default()))
        .collect();
    (group.group.id.clone(), want)
}

const REST: &str = "[site.extensions]\nfirst_number = 1000\nlength = 4\n\n[site.deprovisioning]\npolicy = \"disable\"\n\n[site.guards]\nmass_deletion_percent = 10\nmass_deletion_min = 20\n";

#[tokio::test]
async fn generated_tenant_matches_oracle_and_guard_holds() {
    let sim = crate::support::sim(None, 300).await;
    let snapshot = graph_sim::control::snapshot(&sim.state);
    let (group, want) = oracle(&snapshot);
    assert!(want.len() > 200, "{}", want.len());
    let env = Env::new(sim, &format!("group_id = \"{group}\""), REST, false).await;

    let r = env.run(SyncOptions::default()).await;
    assert!(r.succeeded, "{:?}", r.error);
    assert_eq!(r.counts.created as usize, want.len());
    let exts = env.extensions().await;
    let got: BTreeMap<String, String> = exts
        .iter()
        .map(|e| (e.user_id.clone(), e.display_name.clone()))
        .collect();
    assert_eq!(got, want);
    let numbers: BTreeSet<u64> = exts.iter().map(|e| e.number.value()).collect();
    let expected_numbers: BTreeSet<u64> = (1000..1000 + want.len() as u64).collect();
    assert_eq!(numbers, expected_numbers);
    let before: BTreeMap<String, String> = exts
        .iter()
        .map(|e| (e.user_id.clone(), e.number.as_str().to_string()))
        .collect();

    // Empty the group: far beyond the guard.
    env.grant("Group.ReadWrite.All").await;
    for id in want.keys() {
        let s = env
            .call(
                Method::DELETE,
                &format!("/v1.0/groups/{group}/members/{id}/$ref"),
                None,
                false,
            )
            .await;
        assert_eq!(s, 204, "{id}");
    }
    let r = env.run(SyncOptions::default()).await;
    assert!(!r.succeeded);
    let err = r.error.clone().expect("error");
    assert!(
        err.contains(&format!(
            "would remove {} of {} extensions",
            want.len(),
            want.len()
        )),
        "{err}"
    );
    assert!(err.contains("--allow-mass-delete"), "{err}");
    assert_eq!(r.plan.len(), want.len());
    let exts = env.extensions().await;
    assert_eq!(exts.len(), want.len());
    assert!(exts.iter().all(|e| e.enabled));
    let site = directory::SiteId::new("main").expect("id");
    assert!(env
        .store
        .list_pending(&site)
        .await
        .expect("pending")
        .is_empty());

    // Approved: applied, numbers kept on the disabled extensions.
    let r = env
        .run(SyncOptions {
            allow_mass_delete: true,
            ..SyncOptions::default()
        })
        .await;
    assert!(r.succeeded, "{:?}", r.error);
    assert_eq!(r.counts.disabled as usize, want.len());
    let exts = env.extensions().await;
    assert!(exts.iter().all(|e| !e.enabled));
    let after: BTreeMap<String, String> = exts
        .iter()
        .map(|e| (e.user_id.clone(), e.number.as_str().to_string()))
        .collect();
    assert_eq!(after, before);
}
