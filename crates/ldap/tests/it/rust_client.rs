//! The `ldap3` Rust client crate (crates.io) against the server: bind, vendor-style searches,
//! paged streaming search, "who am I", and a refused bind.

use crate::start;
use ldap3::adapters::{Adapter, EntriesOnly, PagedResults};
use ldap3::{LdapConnAsync, Scope, SearchEntry};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_ldap3_client() {
    let server = start(|_| {}).await;
    let (conn, mut ldap) = LdapConnAsync::new(&format!("ldap://{}", server.plain))
        .await
        .expect("connect");
    ldap3::drive!(conn);

    // Wrong password first: rc 49, and the connection stays usable.
    let res = ldap
        .simple_bind("cn=201,o=acme,dc=pbx365", "nope")
        .await
        .unwrap();
    assert_eq!(res.rc, 49);
    ldap.simple_bind("cn=201,o=acme,dc=pbx365", "secret201")
        .await
        .unwrap()
        .success()
        .expect("bind as extension 201");

    let (entries, _) = ldap
        .search(
            "o=acme,dc=pbx365",
            Scope::Subtree,
            "(|(cn=Car*)(sn=Car*))",
            vec!["cn", "telephoneNumber", "facsimileTelephoneNumber"],
        )
        .await
        .unwrap()
        .success()
        .unwrap();
    let entries: Vec<SearchEntry> = entries.into_iter().map(SearchEntry::construct).collect();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].dn, "uid=c-carla,ou=company,o=acme,dc=pbx365");
    assert_eq!(entries[0].attrs["telephoneNumber"], vec!["0040555123"]);
    assert_eq!(
        entries[0].attrs["facsimileTelephoneNumber"],
        vec!["0040555124"]
    );
    assert_eq!(entries[0].attrs.len(), 3, "{:?}", entries[0].attrs);

    // Paged streaming search, 5 at a time.
    let adapters: Vec<Box<dyn Adapter<_, _>>> =
        vec![Box::new(EntriesOnly::new()), Box::new(PagedResults::new(5))];
    let mut stream = ldap
        .streaming_search_with(
            adapters,
            "o=acme,dc=pbx365",
            Scope::Subtree,
            "(cn=Filler*)",
            vec!["cn"],
        )
        .await
        .unwrap();
    let mut names = Vec::new();
    while let Some(e) = stream.next().await.unwrap() {
        names.push(SearchEntry::construct(e).attrs["cn"][0].clone());
    }
    assert_eq!(stream.finish().await.rc, 0);
    assert_eq!(
        names,
        (1..=12)
            .map(|i| format!("Filler {i:02}"))
            .collect::<Vec<_>>()
    );

    let who = ldap
        .extended(ldap3::exop::WhoAmI)
        .await
        .unwrap()
        .success()
        .unwrap();
    let (exop, _) = who;
    assert_eq!(
        exop.val.as_deref(),
        Some(&b"dn:cn=201,o=acme,dc=pbx365"[..])
    );
    // Alice's extension sees her personal contact...
    let (found, _) = ldap
        .search(
            "o=acme,dc=pbx365",
            Scope::Subtree,
            "(cn=Paula*)",
            vec!["cn"],
        )
        .await
        .unwrap()
        .success()
        .unwrap();
    assert_eq!(found.len(), 1);
    ldap.unbind().await.unwrap();

    // ...a phone group does not.
    let (conn, mut group) = LdapConnAsync::new(&format!("ldap://{}", server.plain))
        .await
        .unwrap();
    ldap3::drive!(conn);
    group
        .simple_bind("cn=lobby,o=acme,dc=pbx365", "lobbypw")
        .await
        .unwrap()
        .success()
        .unwrap();
    let (found, _) = group
        .search(
            "o=acme,dc=pbx365",
            Scope::Subtree,
            "(cn=Paula*)",
            vec!["cn"],
        )
        .await
        .unwrap()
        .success()
        .unwrap();
    assert!(found.is_empty());
    group.unbind().await.unwrap();

    // Anonymous access off: the anonymous bind and an unbound search are both refused.
    server
        .fake
        .anonymous
        .store(false, std::sync::atomic::Ordering::SeqCst);
    let (conn, mut anon) = LdapConnAsync::new(&format!("ldap://{}", server.plain))
        .await
        .unwrap();
    ldap3::drive!(conn);
    let r = anon
        .search("o=acme,dc=pbx365", Scope::Subtree, "(cn=*)", vec!["cn"])
        .await
        .unwrap();
    assert_eq!(r.1.rc, 50, "insufficientAccessRights");
    assert!(r.0.is_empty());
    assert_eq!(
        anon.simple_bind("", "").await.unwrap().rc,
        48,
        "inappropriateAuthentication"
    );
    server
        .fake
        .anonymous
        .store(true, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(anon.simple_bind("", "").await.unwrap().rc, 0);
    let (found, _) = anon
        .search(
            "o=acme,dc=pbx365",
            Scope::Subtree,
            "(cn=Paula*)",
            vec!["cn"],
        )
        .await
        .unwrap()
        .success()
        .unwrap();
    assert!(found.is_empty(), "anonymous sees no personal contact");
    server.stop().await;
}
