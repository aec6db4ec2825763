//! Which resources a subscription may watch, what each allows (change types, lifetime,
//! permissions, lifecycle events, quotas) and whether a [`Change`] concerns it.

use super::{Change, ChangeType};
use std::collections::BTreeSet;

/// A resource a subscription watches, parsed from its `resource` string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `/users`
    Users,
    /// `/users/{id}`
    User(String),
    /// `/groups`
    Groups,
    /// `/groups/{id}`
    Group(String),
    /// `/groups/{id}/members`
    GroupMembers(String),
    /// `/users/{id}/contacts` (the default Contacts folder)
    Contacts(String),
    /// `/users/{id}/contactFolders/{folder}/contacts`
    FolderContacts(String, String),
    /// `/communications/presences/{id}` or `?$filter=id in ('a','b')`
    Presence(BTreeSet<String>),
}

/// The families of resources, which share rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// Users (directory).
    Users,
    /// Groups (directory).
    Groups,
    /// Outlook personal contacts.
    Contacts,
    /// Teams presence.
    Presence,
}

/// Most ids a presence subscription's `$filter` may list.
pub const MAX_PRESENCE_IDS: usize = 650;

impl Target {
    /// The family of this target.
    pub fn family(&self) -> Family {
        match self {
            Target::Users | Target::User(_) => Family::Users,
            Target::Groups | Target::Group(_) | Target::GroupMembers(_) => Family::Groups,
            Target::Contacts(_) | Target::FolderContacts(..) => Family::Contacts,
            Target::Presence(_) => Family::Presence,
        }
    }

    /// Whether `change` is about this target.
    pub fn matches(&self, change: &Change) -> bool {
        let segs: Vec<String> = change
            .resource
            .trim_start_matches('/')
            .split('/')
            .map(|s| s.to_ascii_lowercase())
            .collect();
        let seg = |i: usize| segs.get(i).map(String::as_str).unwrap_or("");
        let eq = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
        match self {
            Target::Users => seg(0) == "users" && segs.len() == 2,
            Target::User(id) => seg(0) == "users" && segs.len() == 2 && eq(seg(1), id),
            Target::Groups => seg(0) == "groups" && segs.len() == 2,
            Target::Group(id) => seg(0) == "groups" && segs.len() == 2 && eq(seg(1), id),
            // Membership changes reach Graph's members subscriptions as changes of the group.
            Target::GroupMembers(id) => seg(0) == "groups" && segs.len() >= 2 && eq(seg(1), id),
            Target::Contacts(user) => {
                seg(0) == "users" && eq(seg(1), user) && seg(2) == "contacts" && segs.len() == 4
            }
            Target::FolderContacts(user, folder) => {
                seg(0) == "users"
                    && eq(seg(1), user)
                    && seg(2) == "contactfolders"
                    && eq(seg(3), folder)
                    && seg(4) == "contacts"
            }
            Target::Presence(ids) => {
                seg(0) == "communications"
                    && seg(1) == "presences"
                    && ids.iter().any(|id| eq(id, seg(2)))
            }
        }
    }
}

impl Family {
    /// Change types a subscription of this family may ask for.
    pub fn allowed_change_types(self) -> &'static [&'static str] {
        match self {
            Family::Users | Family::Groups => &["updated", "deleted"],
            Family::Contacts => &["created", "updated", "deleted"],
            Family::Presence => &["updated"],
        }
    }

    /// Longest lifetime in minutes (DC change-notifications-subscription-lifetime.md).
    pub fn max_minutes(self) -> i64 {
        match self {
            Family::Users | Family::Groups => 41_760,
            Family::Contacts => 10_080,
            Family::Presence => 60,
        }
    }

    /// Permissions that allow subscribing (application, delegated). Write permissions are not
    /// accepted in place of read ones.
    pub fn permissions(self) -> (&'static [&'static str], &'static [&'static str]) {
        match self {
            Family::Users => (
                &["User.Read.All", "Directory.Read.All"],
                &["User.Read.All", "Directory.Read.All"],
            ),
            Family::Groups => (
                &["Group.Read.All", "Directory.Read.All"],
                &["Group.Read.All", "Directory.Read.All"],
            ),
            Family::Contacts => (&["Contacts.Read"], &["Contacts.Read"]),
            Family::Presence => (&[], &["Presence.Read.All"]),
        }
    }

    /// Lifecycle events Graph sends for this family (DC change-notifications-lifecycle-events.md).
    pub fn lifecycle_events(self) -> &'static [&'static str] {
        match self {
            Family::Contacts => &["reauthorizationRequired", "subscriptionRemoved", "missed"],
            _ => &["reauthorizationRequired"],
        }
    }
}

/// `changeType` as Graph spells it.
pub fn change_type_name(c: ChangeType) -> &'static str {
    match c {
        ChangeType::Created => "created",
        ChangeType::Updated => "updated",
        ChangeType::Deleted => "deleted",
    }
}

/// Why a `resource` string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResourceError {
    /// Not a resource that supports change notifications.
    #[error("Resource '{0}' is not supported for change notifications.")]
    Unsupported(String),
    /// A presence filter that is not `id in (…)` or lists too many ids.
    #[error("{0}")]
    BadFilter(String),
}

/// Parses a subscription `resource` (relative, with or without the leading `/`).
pub fn parse(resource: &str) -> Result<Target, ResourceError> {
    let unsupported = || ResourceError::Unsupported(resource.to_string());
    let trimmed = resource.trim().trim_start_matches('/');
    let (path, query) = match trimmed.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (trimmed, None),
    };
    let segs: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    let lower: Vec<String> = segs.iter().map(|s| s.to_ascii_lowercase()).collect();
    let l: Vec<&str> = lower.iter().map(String::as_str).collect();
    if query.is_some() && l != ["communications", "presences"] {
        return Err(unsupported());
    }
    let nonempty = |s: &str| !s.is_empty();
    Ok(match l.as_slice() {
        ["users"] => Target::Users,
        ["users", _] if nonempty(segs[1]) => Target::User(segs[1].to_string()),
        ["groups"] => Target::Groups,
        ["groups", _] if nonempty(segs[1]) => Target::Group(segs[1].to_string()),
        ["groups", _, "members"] => Target::GroupMembers(segs[1].to_string()),
        ["users", _, "contacts"] | ["me", "contacts"] => {
            Target::Contacts(segs[segs.len() - 2].to_string())
        }
        ["users", _, "contactfolders", _, "contacts"] => {
            Target::FolderContacts(segs[1].to_string(), segs[3].to_string())
        }
        ["me", "contactfolders", _, "contacts"] => {
            Target::FolderContacts("me".into(), segs[2].to_string())
        }
        ["communications", "presences", id] if nonempty(id) => {
            Target::Presence([segs[2].to_string()].into_iter().collect())
        }
        ["communications", "presences"] => Target::Presence(presence_filter(query)?),
        _ => return Err(unsupported()),
    })
}

/// Parses `$filter=id in ('a','b')` (URL-encoded or not).
fn presence_filter(query: Option<&str>) -> Result<BTreeSet<String>, ResourceError> {
    let bad = |m: &str| ResourceError::BadFilter(m.to_string());
    let query = query
        .ok_or_else(|| bad("A presence subscription needs a user id or $filter=id in ('…')."))?;
    let decoded = percent_encoding::percent_decode_str(&query.replace('+', " "))
        .decode_utf8_lossy()
        .to_string();
    let filter = decoded
        .split('&')
        .find_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            (k.trim_start_matches('$').eq_ignore_ascii_case("filter")).then_some(v.trim())
        })
        .ok_or_else(|| bad("A presence subscription needs $filter=id in ('…')."))?;
    let rest = filter
        .strip_prefix("id")
        .map(str::trim_start)
        .and_then(|r| r.strip_prefix("in"))
        .map(str::trim)
        .and_then(|r| r.strip_prefix('('))
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(|| bad("Only $filter=id in ('…') is supported for presence subscriptions."))?;
    let ids: BTreeSet<String> = rest
        .split(',')
        .map(|s| s.trim().trim_matches('\'').trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    if ids.is_empty() {
        return Err(bad("The presence $filter lists no ids."));
    }
    if ids.len() > MAX_PRESENCE_IDS {
        return Err(bad(&format!(
            "The presence $filter lists {} ids; at most {MAX_PRESENCE_IDS} are allowed.",
            ids.len()
        )));
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(resource: &str) -> Change {
        Change {
            resource: resource.into(),
            id: String::new(),
            user_id: None,
            folder_id: None,
            odata_type: String::new(),
            change_type: ChangeType::Updated,
        }
    }

    #[test]
    fn parses_supported_resources() {
        assert_eq!(parse("/users").unwrap(), Target::Users);
        assert_eq!(parse("users/abc").unwrap(), Target::User("abc".into()));
        assert_eq!(
            parse("/groups/g/members").unwrap(),
            Target::GroupMembers("g".into())
        );
        assert_eq!(
            parse("/users/u/contacts").unwrap(),
            Target::Contacts("u".into())
        );
        assert_eq!(
            parse("/users/u/contactFolders/f/contacts").unwrap(),
            Target::FolderContacts("u".into(), "f".into())
        );
        let Target::Presence(ids) =
            parse("/communications/presences?$filter=id in ('a','b')").unwrap()
        else {
            panic!("presence")
        };
        assert_eq!(ids.len(), 2);
        assert!(parse("/contacts").is_err());
        assert!(parse("/users?$filter=x").is_err());
    }

    #[test]
    fn matches_changes() {
        assert!(Target::Users.matches(&change("Users/abc")));
        assert!(!Target::Users.matches(&change("Users/abc/Contacts/c")));
        assert!(Target::Contacts("U".into()).matches(&change("Users/u/Contacts/c")));
        assert!(
            !Target::Contacts("u".into()).matches(&change("Users/u/ContactFolders/f/Contacts/c"))
        );
        assert!(Target::FolderContacts("u".into(), "f".into())
            .matches(&change("Users/u/ContactFolders/f/Contacts/c")));
        assert!(Target::Presence(["p".to_string()].into_iter().collect())
            .matches(&change("communications/presences/p")));
    }
}
