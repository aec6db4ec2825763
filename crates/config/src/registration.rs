//! What the Entra app registration needs: the Graph application permissions, and the
//! admin-consent URL that grants them.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Microsoft Graph's own application id (the resource the permissions belong to).
pub const GRAPH_APP_ID: &str = "00000003-0000-0000-c000-000000000000";

/// One Graph application permission (app role) pbx365 asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Permission {
    /// The permission's name, as the portal shows it.
    pub name: &'static str,
    /// The app role id (the same in every tenant).
    pub id: &'static str,
    /// What pbx365 uses it for.
    pub why: &'static str,
    /// Needed only when an optional feature is on.
    pub optional: bool,
}

/// The application permissions pbx365 uses. Ids are from the Microsoft Graph permissions
/// reference (application column).
pub const PERMISSIONS: &[Permission] = &[
    Permission {
        name: "User.Read.All",
        id: "df021288-bdef-4463-88db-98f22de89214",
        why: "read users (names, numbers, department, photo) to build extensions",
        optional: false,
    },
    Permission {
        name: "Group.Read.All",
        id: "5b567255-7703-4780-807c-7be8301ae99b",
        why: "read the selection group's members and the department groups",
        optional: false,
    },
    Permission {
        name: "Contacts.Read",
        id: "089fe4d0-434a-44c5-8827-41ba8a0b17f5",
        why: "read personal and shared-mailbox Outlook contacts for the phonebooks",
        optional: false,
    },
    Permission {
        name: "OrgContact.Read.All",
        id: "e1a88a34-94c4-4418-be12-c87b00e26bea",
        why: "read Exchange organisational contacts for the company directory",
        optional: false,
    },
    Permission {
        name: "Presence.ReadWrite.All",
        id: "83cded22-8297-4ff6-a7fa-e97e9545a259",
        why: "read Teams presence and set it from the phone system",
        optional: false,
    },
    Permission {
        name: "Calendars.Read",
        id: "798ee544-9d2d-430c-a058-570e29e34338",
        why: "turn meetings into a busy status on the phone system",
        optional: false,
    },
    Permission {
        name: "MailboxSettings.Read",
        id: "40f97065-369a-49f4-947c-6a255697ae91",
        why: "read out-of-office settings and tell mailbox types (shared, room, equipment) apart",
        optional: false,
    },
    Permission {
        name: "Mail.Send",
        id: "b633e1c5-b582-4048-a93e-9f11b44c7e96",
        why: "send alert e-mails through Microsoft 365",
        optional: false,
    },
    Permission {
        name: "User.ReadWrite.All",
        id: "741f803b-c850-494e-b5df-cde7c675a1ca",
        why:
            "only for writing PBX numbers back to users (number write-back); leave it out otherwise",
        optional: true,
    },
];

/// Characters left as they are in a query value (RFC 3986 unreserved).
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The admin-consent URL for `client_id` in `tenant` (a tenant id or domain, or
/// `organizations` to let the admin's own tenant be used). `authority_url` is normally
/// `https://login.microsoftonline.com`. `redirect_uri` must be registered on the app.
pub fn admin_consent_url(
    authority_url: &str,
    tenant: &str,
    client_id: &str,
    redirect_uri: &str,
) -> String {
    format!(
        "{}/{}/adminconsent?client_id={}&redirect_uri={}",
        authority_url.trim_end_matches('/'),
        utf8_percent_encode(tenant, QUERY_VALUE),
        utf8_percent_encode(client_id, QUERY_VALUE),
        utf8_percent_encode(redirect_uri, QUERY_VALUE),
    )
}
