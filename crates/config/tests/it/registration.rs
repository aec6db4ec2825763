use config::registration::{admin_consent_url, PERMISSIONS};

#[test]
fn consent_url_is_encoded() {
    assert_eq!(
        admin_consent_url(
            "https://login.microsoftonline.com/",
            "organizations",
            "6e2b8a4f-1c3d-4e5f-8a9b-0c1d2e3f4a5b",
            "https://pbx.example.com:8443/consent?x=1",
        ),
        "https://login.microsoftonline.com/organizations/adminconsent?client_id=\
         6e2b8a4f-1c3d-4e5f-8a9b-0c1d2e3f4a5b&redirect_uri=https%3A%2F%2Fpbx.example.com%3A8443%2Fconsent%3Fx%3D1"
    );
}

#[test]
fn permissions_have_unique_guid_ids() {
    let mut ids: Vec<&str> = PERMISSIONS.iter().map(|p| p.id).collect();
    assert!(ids.iter().all(|id| config::Uuid::try_parse(id).is_ok()));
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), PERMISSIONS.len());
    let names: Vec<&str> = PERMISSIONS.iter().map(|p| p.name).collect();
    assert_eq!(
        names,
        [
            "User.Read.All",
            "Group.Read.All",
            "Contacts.Read",
            "OrgContact.Read.All",
            "Presence.ReadWrite.All",
            "Calendars.Read",
            "MailboxSettings.Read",
            "Mail.Send",
            "User.ReadWrite.All"
        ]
    );
}
