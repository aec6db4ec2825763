//! Which Entra users become extensions, given the site's `[site.users]` settings.
//!
//! The base set (group members or licence holders) is read from Graph; these rules then decide
//! per user. Shared, room and equipment mailboxes look like disabled accounts without a licence
//! in the directory (Exchange creates them so); they are left out unless one of the
//! `include_*` flags asks for them.

use config::UserSelection;
use graph::models::User;

/// The `$select` of every user read: exactly the fields the rules and extensions need.
pub const USER_SELECT: &str = "id,displayName,givenName,surname,mail,userPrincipalName,businessPhones,mobilePhone,department,jobTitle,accountEnabled,userType,assignedLicenses,usageLocation";

/// What the rules make of one user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Becomes (or stays) an extension; `enabled: false` for disabled accounts kept disabled.
    Extension {
        /// Whether the extension can register.
        enabled: bool,
    },
    /// Gets no extension.
    Skip(SkipReason),
}

/// Why a user gets no extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    /// Not in the group / without the licence, and not in `include_upns`.
    NotInScope,
    /// In `exclude_upns`.
    Excluded,
    /// A guest, and guests are off.
    Guest,
    /// A shared, room or equipment mailbox account.
    Resource,
    /// Disabled, and disabled users are skipped.
    Disabled,
}

/// True for accounts that look like resource mailboxes: disabled and without a licence.
pub fn is_resource(user: &User) -> bool {
    user.account_enabled == Some(false)
        && user.assigned_licenses.as_ref().is_none_or(|l| l.is_empty())
}

/// The user's UPN, lower case.
pub fn upn(user: &User) -> Option<String> {
    user.user_principal_name.as_ref().map(|u| u.to_lowercase())
}

/// Decides one user; `in_scope` says whether they are in the base set.
pub fn decide(rules: &UserSelection, user: &User, in_scope: bool) -> Decision {
    let upn = upn(user);
    let listed = |list: &[String]| upn.as_ref().is_some_and(|u| list.iter().any(|x| x == u));
    if listed(&rules.exclude_upns) {
        return Decision::Skip(SkipReason::Excluded);
    }
    let included = listed(&rules.include_upns);
    if !in_scope && !included {
        return Decision::Skip(SkipReason::NotInScope);
    }
    let guest = user
        .user_type
        .as_deref()
        .is_some_and(|t| t.eq_ignore_ascii_case("guest"));
    if guest && !rules.guests && !included {
        return Decision::Skip(SkipReason::Guest);
    }
    let resources_wanted = rules.include_shared_mailboxes
        || rules.include_rooms
        || rules.include_equipment
        || rules.include_resource_accounts;
    if is_resource(user) {
        return if resources_wanted || included {
            Decision::Extension { enabled: true }
        } else {
            Decision::Skip(SkipReason::Resource)
        };
    }
    if user.account_enabled == Some(false) {
        return match rules.disabled {
            config::DisabledUsers::Skip => Decision::Skip(SkipReason::Disabled),
            config::DisabledUsers::Disable => Decision::Extension { enabled: false },
        };
    }
    Decision::Extension { enabled: true }
}
