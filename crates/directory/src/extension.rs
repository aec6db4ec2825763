//! An Entra user as a PBX extension.

use crate::number::{ExtensionNumber, PhoneNumber, E164};
use crate::site::SiteId;
use serde::{Deserialize, Serialize};

/// A user of the tenant as the phone system sees them. `user_id` (the Graph object id) is the
/// identity: names and mail change, the extension number stays.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Extension {
    /// The site the user belongs to.
    pub site: SiteId,
    /// The Graph (Entra) object id of the user.
    pub user_id: String,
    /// The allocated extension number.
    pub number: ExtensionNumber,
    /// Display name as shown on phones.
    pub display_name: String,
    /// Given name.
    pub given_name: Option<String>,
    /// Surname.
    pub surname: Option<String>,
    /// Primary e-mail address.
    pub email: Option<String>,
    /// Department.
    pub department: Option<String>,
    /// Job title.
    pub job_title: Option<String>,
    /// The number shown to people called from this extension (from the office phone).
    pub outbound_caller_id: Option<E164>,
    /// The user's mobile number.
    pub mobile: Option<PhoneNumber>,
    /// False when the account is disabled in Entra.
    pub enabled: bool,
    /// ETag of the user's photo, to fetch it again only when it changed.
    pub photo_etag: Option<String>,
}
