//! Fixtures: sites, people and contacts with numbers written by hand.

use directory::{
    ContactRecord, ContactSource, Extension, ExtensionNumber, PhoneKind, PhoneNumber,
    PhonebookKind, Region, SiteId, E164,
};
use store::{AllocationRule, Site};

pub fn site_id(s: &str) -> SiteId {
    SiteId::new(s).expect("site id")
}

pub fn site(id: &str) -> Site {
    Site {
        id: site_id(id),
        name: format!("Site {id}"),
        settings: serde_json::json!({"country": "DE", "extensions": {"first": 100, "length": 3}}),
    }
}

pub fn rule(first: u64, length: u8, quarantine_hours: i64) -> AllocationRule {
    AllocationRule {
        first_number: first,
        length,
        quarantine: chrono::Duration::hours(quarantine_hours),
    }
}

pub fn ext_no(s: &str) -> ExtensionNumber {
    ExtensionNumber::new(s).expect("extension number")
}

pub fn e164(s: &str) -> E164 {
    E164::new(s).expect("e164")
}

pub fn de(raw: &str, kind: PhoneKind) -> PhoneNumber {
    PhoneNumber::parse(raw, kind, Region::new("DE").ok())
}

pub fn extension(site: &SiteId, user: &str, number: &ExtensionNumber, name: &str) -> Extension {
    Extension {
        site: site.clone(),
        user_id: user.into(),
        number: number.clone(),
        display_name: name.into(),
        given_name: name.split(' ').next().map(str::to_owned),
        surname: name.split(' ').nth(1).map(str::to_owned),
        email: Some(format!("{}@contoso.example", user)),
        department: Some("Sales".into()),
        job_title: None,
        outbound_caller_id: Some(e164("+493012345100")),
        mobile: Some(de("0171 2345678", PhoneKind::Mobile)),
        enabled: true,
        photo_etag: Some("W/\"1\"".into()),
    }
}

pub fn personal(
    site: &SiteId,
    owner: &str,
    id: &str,
    name: &str,
    numbers: Vec<PhoneNumber>,
) -> ContactRecord {
    ContactRecord {
        site: site.clone(),
        phonebook: PhonebookKind::Personal {
            owner_user_id: owner.into(),
        },
        source: ContactSource::PersonalOutlook,
        source_id: id.into(),
        folder_id: Some("f1".into()),
        display_name: name.into(),
        given_name: name.split(' ').next().map(str::to_owned),
        surname: name.split(' ').nth(1).map(str::to_owned),
        company: Some("Fabrikam".into()),
        department: None,
        job_title: None,
        emails: vec![
            format!("{id}@fabrikam.example"),
            format!("{id}@home.example"),
        ],
        numbers,
        change_key: Some(format!("ck-{id}")),
    }
}

pub fn shared(
    site: &SiteId,
    mailbox: &str,
    id: &str,
    name: &str,
    numbers: Vec<PhoneNumber>,
) -> ContactRecord {
    ContactRecord {
        phonebook: PhonebookKind::Company,
        source: ContactSource::SharedMailbox {
            mailbox: mailbox.into(),
        },
        folder_id: None,
        ..personal(site, "x", id, name, numbers)
    }
}

pub fn org(site: &SiteId, id: &str, name: &str, numbers: Vec<PhoneNumber>) -> ContactRecord {
    ContactRecord {
        phonebook: PhonebookKind::Directory,
        source: ContactSource::OrgContact,
        folder_id: None,
        emails: vec![],
        change_key: None,
        ..personal(site, "x", id, name, numbers)
    }
}
