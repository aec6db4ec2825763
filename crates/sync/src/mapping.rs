//! Graph's contacts → stored contact records: names, e-mails and every number, normalised to
//! E.164 in the owner's country with the original text kept (a number that cannot be
//! normalised stays raw and flagged, never dropped).

use directory::{
    ContactRecord, ContactSource, PhoneKind, PhoneNumber, PhonebookKind, Region, SiteId,
};
use graph::models::{Contact, OrgContact};

/// The `$select` of personal and shared-mailbox contact reads: what a phonebook shows.
pub const CONTACT_SELECT: &str = "id,parentFolderId,displayName,givenName,surname,companyName,department,jobTitle,businessPhones,homePhones,mobilePhone,emailAddresses,changeKey";

/// The `$select` of org contact reads.
pub const ORG_CONTACT_SELECT: &str =
    "id,displayName,givenName,surname,companyName,department,jobTitle,mail,phones";

/// Where a contact lands and whose country reads its national numbers.
#[derive(Debug, Clone)]
pub struct Target {
    /// The site.
    pub site: SiteId,
    /// The phonebook.
    pub phonebook: PhonebookKind,
    /// Where it came from.
    pub source: ContactSource,
    /// The default region of its numbers (the owner's `usageLocation`, else the site's country).
    pub region: Option<Region>,
}

/// `Some(text)` unless the text is empty or blank.
fn text(s: &Option<String>) -> Option<String> {
    s.as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
}

/// A display name that is never empty: the given one, else the names, else the first e-mail.
fn display_name(
    name: &Option<String>,
    given: &Option<String>,
    surname: &Option<String>,
    emails: &[String],
) -> String {
    if let Some(n) = text(name) {
        return n;
    }
    let joined: Vec<String> = [text(given), text(surname)].into_iter().flatten().collect();
    if !joined.is_empty() {
        return joined.join(" ");
    }
    emails
        .first()
        .cloned()
        .unwrap_or_else(|| "(no name)".to_owned())
}

fn number(raw: &str, kind: PhoneKind, region: Option<Region>) -> Option<PhoneNumber> {
    (!raw.trim().is_empty()).then(|| PhoneNumber::parse(raw, kind, region))
}

/// An Outlook contact (personal or shared mailbox) found in `folder`.
pub fn contact_record(c: &Contact, folder: &str, target: &Target) -> ContactRecord {
    let emails: Vec<String> = c
        .email_addresses
        .iter()
        .flatten()
        .filter_map(|e| text(&e.address))
        .collect();
    let mut numbers = Vec::new();
    for raw in c.business_phones.iter().flatten() {
        numbers.extend(number(raw, PhoneKind::Business, target.region));
    }
    if let Some(raw) = &c.mobile_phone {
        numbers.extend(number(raw, PhoneKind::Mobile, target.region));
    }
    for raw in c.home_phones.iter().flatten() {
        numbers.extend(number(raw, PhoneKind::Home, target.region));
    }
    ContactRecord {
        site: target.site.clone(),
        phonebook: target.phonebook.clone(),
        source: target.source.clone(),
        source_id: c.id.clone(),
        folder_id: Some(folder.to_owned()),
        display_name: display_name(&c.display_name, &c.given_name, &c.surname, &emails),
        given_name: text(&c.given_name),
        surname: text(&c.surname),
        company: text(&c.company_name),
        department: text(&c.department),
        job_title: text(&c.job_title),
        emails,
        numbers,
        change_key: text(&c.change_key),
    }
}

/// What an org contact's phone `type` means for a phonebook.
fn org_phone_kind(kind: Option<&str>) -> PhoneKind {
    match kind.map(str::to_ascii_lowercase).as_deref() {
        Some("business") => PhoneKind::Business,
        Some("mobile") => PhoneKind::Mobile,
        Some("home") => PhoneKind::Home,
        Some("businessfax" | "homefax" | "otherfax") => PhoneKind::Fax,
        _ => PhoneKind::Other,
    }
}

/// An Exchange org contact (company directory).
pub fn org_record(c: &OrgContact, target: &Target) -> ContactRecord {
    let emails: Vec<String> = text(&c.mail).into_iter().collect();
    let numbers = c
        .phones
        .iter()
        .flatten()
        .filter_map(|p| {
            let raw = p.number.as_deref()?;
            number(raw, org_phone_kind(p.kind.as_deref()), target.region)
        })
        .collect();
    ContactRecord {
        site: target.site.clone(),
        phonebook: target.phonebook.clone(),
        source: target.source.clone(),
        source_id: c.id.clone(),
        folder_id: None,
        display_name: display_name(&c.display_name, &c.given_name, &c.surname, &emails),
        given_name: text(&c.given_name),
        surname: text(&c.surname),
        company: text(&c.company_name),
        department: text(&c.department),
        job_title: text(&c.job_title),
        emails,
        numbers,
        change_key: None,
    }
}

/// One plan line for a contact: `create personal:ann Bob Berg +441632960001, 0800 CALL-ME (invalid)`.
pub fn line(verb: &str, book: &str, r: &ContactRecord) -> String {
    let numbers: Vec<String> = r
        .numbers
        .iter()
        .map(|n| match &n.e164 {
            Some(e) => e.as_str().to_owned(),
            None => format!("{} (invalid)", n.raw),
        })
        .collect();
    if numbers.is_empty() {
        format!("{verb} {book} {}", r.display_name)
    } else {
        format!("{verb} {book} {} {}", r.display_name, numbers.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use graph::models::{EmailAddress, Phone};

    fn target(region: &str) -> Target {
        Target {
            site: SiteId::new("s").expect("site id"),
            phonebook: PhonebookKind::Company,
            source: ContactSource::OrgContact,
            region: Region::new(region).ok(),
        }
    }

    #[test]
    fn national_numbers_read_in_the_owners_country_and_junk_kept_raw() {
        let c = Contact {
            id: "c1".into(),
            given_name: Some("Bob".into()),
            surname: Some(" Berg ".into()),
            business_phones: Some(vec!["020 7946 0958".into(), "".into()]),
            mobile_phone: Some("call reception".into()),
            home_phones: Some(vec!["+49 30 1234567".into()]),
            email_addresses: Some(vec![EmailAddress {
                name: None,
                address: Some("bob@x.example".into()),
            }]),
            ..Contact::default()
        };
        let r = contact_record(&c, "f1", &target("GB"));
        assert_eq!(r.display_name, "Bob Berg");
        assert_eq!(r.folder_id.as_deref(), Some("f1"));
        let got: Vec<(&str, Option<&str>, PhoneKind)> = r
            .numbers
            .iter()
            .map(|n| (n.raw.as_str(), n.e164.as_ref().map(|e| e.as_str()), n.kind))
            .collect();
        assert_eq!(
            got,
            vec![
                ("020 7946 0958", Some("+442079460958"), PhoneKind::Business),
                ("call reception", None, PhoneKind::Mobile),
                ("+49 30 1234567", Some("+49301234567"), PhoneKind::Home),
            ]
        );
        // The same national number in Germany is another number altogether.
        let de = contact_record(&c, "f1", &target("DE"));
        assert_ne!(de.numbers[0].e164, r.numbers[0].e164);
    }

    #[test]
    fn org_contact_phone_types_and_name_fallback() {
        let c = OrgContact {
            id: "o1".into(),
            mail: Some("supplier@x.example".into()),
            phones: Some(vec![
                Phone {
                    number: Some("+44 20 7946 0958".into()),
                    kind: Some("business".into()),
                },
                Phone {
                    number: Some("+44 20 7946 0959".into()),
                    kind: Some("businessFax".into()),
                },
                Phone {
                    number: None,
                    kind: Some("mobile".into()),
                },
            ]),
            ..OrgContact::default()
        };
        let r = org_record(&c, &target("DE"));
        assert_eq!(r.display_name, "supplier@x.example");
        assert_eq!(r.numbers.len(), 2);
        assert_eq!(r.numbers[1].kind, PhoneKind::Fax);
        assert_eq!(
            line("create", "directory", &r),
            "create directory supplier@x.example +442079460958, +442079460959"
        );
    }
}
