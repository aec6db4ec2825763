//! Contacts and the phonebooks they land in.

use crate::number::PhoneNumber;
use crate::site::SiteId;
use serde::{Deserialize, Serialize};

/// Which phonebook a contact belongs to; it decides who may see it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PhonebookKind {
    /// One user's own phonebook (their Outlook contacts): visible to that user alone.
    Personal {
        /// Graph object id of the owner.
        owner_user_id: String,
    },
    /// The company phonebook (shared-mailbox contacts).
    Company,
    /// The company directory (Exchange org contacts).
    Directory,
}

/// Where a contact came from in Microsoft 365.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ContactSource {
    /// A user's own Outlook contacts.
    PersonalOutlook,
    /// Contacts of a shared mailbox.
    SharedMailbox {
        /// The shared mailbox (its user id or address).
        mailbox: String,
    },
    /// An Exchange organisational (mail) contact.
    OrgContact,
}

/// One contact with every number it has, as stored and served.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactRecord {
    /// The site it belongs to.
    pub site: SiteId,
    /// The phonebook it lands in.
    pub phonebook: PhonebookKind,
    /// Where it came from.
    pub source: ContactSource,
    /// The id of the contact at its source (Graph id).
    pub source_id: String,
    /// The Outlook folder holding it, for folder-scoped contacts.
    pub folder_id: Option<String>,
    /// Display name.
    pub display_name: String,
    /// Given name.
    pub given_name: Option<String>,
    /// Surname.
    pub surname: Option<String>,
    /// Company name.
    pub company: Option<String>,
    /// Department.
    pub department: Option<String>,
    /// Job title.
    pub job_title: Option<String>,
    /// E-mail addresses, in source order.
    pub emails: Vec<String>,
    /// Phone numbers, in source order, each with its original text.
    pub numbers: Vec<PhoneNumber>,
    /// The source's change key (version), to skip unchanged contacts.
    pub change_key: Option<String>,
}
