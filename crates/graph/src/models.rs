//! Typed views of what pbx365 reads from Graph: camelCase as on the wire, `Option` where
//! Graph may send null or omit the property, unknown properties ignored.

use serde::{Deserialize, Serialize};

/// A licence assigned to a user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssignedLicense {
    /// The product's SKU id.
    pub sku_id: String,
}

/// An Entra user (the properties telephony needs).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct User {
    /// Object id.
    pub id: String,
    /// Display name.
    pub display_name: Option<String>,
    /// First name.
    pub given_name: Option<String>,
    /// Last name.
    pub surname: Option<String>,
    /// Primary SMTP address.
    pub mail: Option<String>,
    /// Sign-in name.
    pub user_principal_name: Option<String>,
    /// Office numbers (Graph accepts one on write).
    pub business_phones: Option<Vec<String>>,
    /// Mobile number.
    pub mobile_phone: Option<String>,
    /// Fax number.
    pub fax_number: Option<String>,
    /// Department.
    pub department: Option<String>,
    /// Job title.
    pub job_title: Option<String>,
    /// Company.
    pub company_name: Option<String>,
    /// Office.
    pub office_location: Option<String>,
    /// Whether the account can sign in.
    pub account_enabled: Option<bool>,
    /// `Member` or `Guest`.
    pub user_type: Option<String>,
    /// Usage location (ISO country).
    pub usage_location: Option<String>,
    /// Country (free text).
    pub country: Option<String>,
    /// Licences.
    pub assigned_licenses: Option<Vec<AssignedLicense>>,
    /// Synced from on-premises AD.
    pub on_premises_sync_enabled: Option<bool>,
    /// When it was (soft-)deleted.
    pub deleted_date_time: Option<String>,
}

/// A member entry of `members@delta`: added, or removed when `@removed` is present.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemberDelta {
    /// The member's id.
    pub id: String,
    /// `#microsoft.graph.user`, `#microsoft.graph.group`, …
    #[serde(rename = "@odata.type", default)]
    pub odata_type: Option<String>,
    /// Present when the member left.
    #[serde(rename = "@removed", default)]
    pub removed: Option<serde_json::Value>,
}

impl MemberDelta {
    /// Whether this entry removes the member.
    pub fn is_removal(&self) -> bool {
        self.removed.is_some()
    }
}

/// An Entra group.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Group {
    /// Object id.
    pub id: String,
    /// Display name.
    pub display_name: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Mail address.
    pub mail: Option<String>,
    /// Whether it is a security group.
    pub security_enabled: Option<bool>,
    /// Whether it is mail-enabled.
    pub mail_enabled: Option<bool>,
    /// `Unified` for Microsoft 365 groups.
    pub group_types: Option<Vec<String>>,
    /// Membership changes in a delta round (`$select=members`).
    #[serde(rename = "members@delta")]
    pub members_delta: Option<Vec<MemberDelta>>,
}

/// An e-mail address of a contact.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct EmailAddress {
    /// Display name.
    pub name: Option<String>,
    /// The address.
    pub address: Option<String>,
}

/// A personal (Outlook) contact.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Contact {
    /// Item id (immutable when asked for).
    pub id: String,
    /// The folder it lives in.
    pub parent_folder_id: Option<String>,
    /// Display name.
    pub display_name: Option<String>,
    /// First name.
    pub given_name: Option<String>,
    /// Last name.
    pub surname: Option<String>,
    /// Company.
    pub company_name: Option<String>,
    /// Department.
    pub department: Option<String>,
    /// Job title.
    pub job_title: Option<String>,
    /// Business numbers.
    pub business_phones: Option<Vec<String>>,
    /// Home numbers.
    pub home_phones: Option<Vec<String>>,
    /// Mobile number.
    pub mobile_phone: Option<String>,
    /// E-mail addresses.
    pub email_addresses: Option<Vec<EmailAddress>>,
    /// Version stamp; changes on every modification.
    pub change_key: Option<String>,
    /// Last change.
    pub last_modified_date_time: Option<String>,
}

/// A contact folder.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ContactFolder {
    /// Folder id.
    pub id: String,
    /// Name.
    pub display_name: Option<String>,
    /// Parent folder.
    pub parent_folder_id: Option<String>,
}

/// A phone number of an org contact.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Phone {
    /// The number as entered.
    pub number: Option<String>,
    /// `business`, `mobile`, `businessFax`, …
    #[serde(rename = "type")]
    pub kind: Option<String>,
}

/// An Exchange org (mail) contact from `/contacts`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct OrgContact {
    /// Object id.
    pub id: String,
    /// Display name.
    pub display_name: Option<String>,
    /// First name.
    pub given_name: Option<String>,
    /// Last name.
    pub surname: Option<String>,
    /// Company.
    pub company_name: Option<String>,
    /// Department.
    pub department: Option<String>,
    /// Job title.
    pub job_title: Option<String>,
    /// Mail address.
    pub mail: Option<String>,
    /// Numbers.
    pub phones: Option<Vec<Phone>>,
}

/// A profile photo's metadata; its etag tells whether the photo changed.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct PhotoMeta {
    /// Size id (`240x240`).
    pub id: Option<String>,
    /// Width in pixels.
    pub width: Option<u32>,
    /// Height in pixels.
    pub height: Option<u32>,
    /// Content type.
    #[serde(rename = "@odata.mediaContentType")]
    pub media_content_type: Option<String>,
    /// The photo's etag.
    #[serde(rename = "@odata.mediaEtag")]
    pub media_etag: Option<String>,
}

/// A user's Teams presence.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Presence {
    /// The user's id.
    pub id: String,
    /// `Available`, `Busy`, …
    pub availability: Option<String>,
    /// `InACall`, `InAMeeting`, …
    pub activity: Option<String>,
    /// Orders a user's presence changes: lexicographically larger is newer (drops stale or
    /// out-of-order updates).
    pub sequence_number: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_ignored_and_nulls_accepted() {
        let u: User = serde_json::from_str(
            r#"{"id":"1","displayName":"Ann","mobilePhone":null,"businessPhones":["+49 30 1"],"somethingNew":3,"assignedLicenses":[{"skuId":"s","disabledPlans":[]}]}"#,
        )
        .unwrap();
        assert_eq!(u.display_name.as_deref(), Some("Ann"));
        assert_eq!(u.mobile_phone, None);
        assert_eq!(u.assigned_licenses.unwrap()[0].sku_id, "s");
        let p: PhotoMeta =
            serde_json::from_str(r#"{"@odata.mediaEtag":"\"A1\"","id":"240x240"}"#).unwrap();
        assert_eq!(p.media_etag.as_deref(), Some("\"A1\""));
    }
}
