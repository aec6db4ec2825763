//! The DN layout pbx365 serves, and parsing of the DNs clients send.
//!
//! ```text
//! dc=pbx365                                  root: every site the client may see
//! └─ o=<site>,dc=pbx365                      one site: everything visible to the client
//!    ├─ ou=users,o=<site>,dc=pbx365          the tenant's users (extensions)
//!    ├─ ou=company,o=<site>,dc=pbx365        the company phonebook
//!    ├─ ou=directory,o=<site>,dc=pbx365      the company directory (org contacts)
//!    └─ ou=personal,o=<site>,dc=pbx365       the bound user's own personal contacts
//!       └─ uid=<entry id>,ou=…               one person or company
//! ```
//!
//! An empty base DN in a subtree or one-level search means the root, since some phones leave
//! the base blank. Bind DNs: `cn=<username>,o=<site>,dc=pbx365`, `uid=<username>,…` (any `ou`
//! in between is ignored), `cn=<username>,dc=pbx365` and a bare `<username>` (both at the
//! default site).

use directory::{BookScope, SiteId};

/// The root of pbx365's tree.
pub const ROOT_DN: &str = "dc=pbx365";

/// What a DN names in the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `dc=pbx365` (or an empty base).
    Root,
    /// `o=<site>,dc=pbx365`, or a phonebook or entry under it.
    Site {
        /// The site.
        site: SiteId,
        /// The phonebook, when the DN names one (`None` for the site itself).
        book: Option<BookScope>,
        /// The entry id, when the DN names one entry.
        entry: Option<String>,
    },
}

/// Why a DN could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DnError {
    /// Not DN syntax at all (an RDN without `=`, a dangling escape).
    #[error("{0:?} is not a valid DN: {1}")]
    Syntax(String, &'static str),
    /// Well-formed, but nothing of pbx365's tree (see the crate docs for the layout).
    #[error("{0:?} is not in pbx365's tree (dc=pbx365, o=<site>, ou=users|company|directory|personal, uid=<id>)")]
    NoSuchObject(String),
}

/// Splits a DN into (lower-case attribute, unescaped value) pairs, leftmost first.
pub fn parse_dn(dn: &str) -> Result<Vec<(String, String)>, DnError> {
    let syntax = |why| DnError::Syntax(dn.to_owned(), why);
    let mut rdns = Vec::new();
    if dn.trim().is_empty() {
        return Ok(rdns);
    }
    let mut attr = String::new();
    let mut value: Vec<u8> = Vec::new();
    let mut in_value = false;
    // Length of the value up to its last escaped byte: trailing spaces before it are kept.
    let mut kept = 0usize;
    let bytes = dn.as_bytes();
    let mut i = 0;
    let mut push = |attr: &mut String, value: &mut Vec<u8>, in_value: &mut bool, kept: usize| {
        if !*in_value {
            return Err(syntax("an RDN has no '='"));
        }
        let a = attr.trim().to_ascii_lowercase();
        if a.is_empty() {
            return Err(syntax("an RDN has no attribute name"));
        }
        while value.len() > kept && value.last() == Some(&b' ') {
            value.pop();
        }
        let v =
            String::from_utf8(std::mem::take(value)).map_err(|_| syntax("a value is not UTF-8"))?;
        rdns.push((a, v));
        attr.clear();
        *in_value = false;
        Ok(())
    };
    while i < bytes.len() {
        let b = bytes[i];
        if !in_value {
            match b {
                b'=' => in_value = true,
                b',' | b'+' | b'\\' => return Err(syntax("an RDN has no '='")),
                _ => attr.push(b as char),
            }
            i += 1;
            continue;
        }
        match b {
            b'\\' => {
                let next = *bytes.get(i + 1).ok_or_else(|| syntax("dangling '\\'"))?;
                let hex = |c: u8| (c as char).to_digit(16);
                match (hex(next), bytes.get(i + 2).and_then(|c| hex(*c))) {
                    (Some(h), Some(l)) => {
                        value.push((h * 16 + l) as u8);
                        i += 3;
                    }
                    _ => {
                        value.push(next);
                        i += 2;
                    }
                }
                kept = value.len();
            }
            b',' | b';' => {
                push(&mut attr, &mut value, &mut in_value, kept)?;
                kept = 0;
                i += 1;
            }
            b' ' if value.is_empty() => i += 1,
            b'+' => return Err(syntax("multi-valued RDNs are not supported")),
            _ => {
                value.push(b);
                i += 1;
            }
        }
    }
    push(&mut attr, &mut value, &mut in_value, kept)?;
    if !attr.trim().is_empty() {
        return Err(syntax("trailing text"));
    }
    Ok(rdns)
}

/// Escapes a value for use in an RDN (RFC 4514 §2.4).
pub fn escape_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        match c {
            ',' | '+' | '"' | '\\' | '<' | '>' | ';' | '=' => {
                out.push('\\');
                out.push(c);
            }
            '#' if i == 0 => out.push_str("\\#"),
            ' ' if i == 0 || i == last => out.push_str("\\ "),
            '\0' => out.push_str("\\00"),
            _ => out.push(c),
        }
    }
    out
}

fn book_name(name: &str) -> Option<BookScope> {
    match name.to_ascii_lowercase().as_str() {
        "users" => Some(BookScope::Users),
        "company" => Some(BookScope::Company),
        "directory" => Some(BookScope::Directory),
        "personal" => Some(BookScope::Personal),
        _ => None,
    }
}

/// The `ou` name of a phonebook.
pub fn book_ou(book: BookScope) -> Option<&'static str> {
    match book {
        BookScope::Users => Some("users"),
        BookScope::Company => Some("company"),
        BookScope::Directory => Some("directory"),
        BookScope::Personal => Some("personal"),
        BookScope::All => None,
    }
}

/// The DN of a site.
pub fn site_dn(site: &SiteId) -> String {
    format!("o={},{ROOT_DN}", escape_value(site.as_str()))
}

/// The DN of a phonebook of a site.
pub fn book_dn(site: &SiteId, book: BookScope) -> String {
    match book_ou(book) {
        Some(ou) => format!("ou={ou},{}", site_dn(site)),
        None => site_dn(site),
    }
}

/// The DN of an entry.
pub fn entry_dn(site: &SiteId, book: BookScope, id: &str) -> String {
    format!("uid={},{}", escape_value(id), book_dn(site, book))
}

fn is_root(rdn: &(String, String)) -> bool {
    rdn.0 == "dc" && rdn.1.eq_ignore_ascii_case("pbx365")
}

fn site_of(dn: &str, value: &str) -> Result<SiteId, DnError> {
    SiteId::new(value.to_ascii_lowercase()).map_err(|_| DnError::NoSuchObject(dn.to_owned()))
}

/// What a search base names.
pub fn parse_target(dn: &str) -> Result<Target, DnError> {
    let rdns = parse_dn(dn)?;
    let nso = || DnError::NoSuchObject(dn.to_owned());
    let mut it = rdns.iter().rev();
    match it.next() {
        None => return Ok(Target::Root),
        Some(r) if is_root(r) => {}
        Some(_) => return Err(nso()),
    }
    let site = match it.next() {
        None => return Ok(Target::Root),
        Some((a, v)) if a == "o" => site_of(dn, v)?,
        Some(_) => return Err(nso()),
    };
    let book = match it.next() {
        None => {
            return Ok(Target::Site {
                site,
                book: None,
                entry: None,
            })
        }
        Some((a, v)) if a == "ou" => book_name(v).ok_or_else(nso)?,
        Some(_) => return Err(nso()),
    };
    let entry = match it.next() {
        None => None,
        Some((a, v)) if a == "uid" => Some(v.clone()),
        Some(_) => return Err(nso()),
    };
    if it.next().is_some() {
        return Err(nso());
    }
    Ok(Target::Site {
        site,
        book: Some(book),
        entry,
    })
}

/// Who a bind DN names: the site (when the DN has one) and the username.
pub fn parse_bind_dn(dn: &str) -> Result<(Option<SiteId>, String), DnError> {
    if !dn.contains('=') {
        return Ok((None, dn.trim().to_owned()));
    }
    let rdns = parse_dn(dn)?;
    let nso = || DnError::NoSuchObject(dn.to_owned());
    let (first, rest) = rdns.split_first().ok_or_else(nso)?;
    if first.0 != "cn" && first.0 != "uid" {
        return Err(nso());
    }
    let mut site = None;
    let mut saw_root = false;
    for (a, v) in rest {
        match a.as_str() {
            "ou" => {}
            "o" if site.is_none() => site = Some(site_of(dn, v)?),
            "dc" if v.eq_ignore_ascii_case("pbx365") => saw_root = true,
            _ => return Err(nso()),
        }
    }
    if !saw_root && !rest.is_empty() {
        return Err(nso());
    }
    Ok((site, first.1.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site(s: &str) -> SiteId {
        SiteId::new(s).unwrap()
    }

    #[test]
    fn targets() {
        assert_eq!(parse_target("").unwrap(), Target::Root);
        assert_eq!(parse_target("DC=PBX365").unwrap(), Target::Root);
        assert_eq!(
            parse_target("ou=Company, o=acme,dc=pbx365").unwrap(),
            Target::Site {
                site: site("acme"),
                book: Some(BookScope::Company),
                entry: None
            }
        );
        assert_eq!(
            parse_target("uid=a\\2cb,ou=users,o=acme,dc=pbx365").unwrap(),
            Target::Site {
                site: site("acme"),
                book: Some(BookScope::Users),
                entry: Some("a,b".into())
            }
        );
        assert!(matches!(
            parse_target("dc=example,dc=com"),
            Err(DnError::NoSuchObject(_))
        ));
        assert!(matches!(
            parse_target("ou=nope,o=acme,dc=pbx365"),
            Err(DnError::NoSuchObject(_))
        ));
        assert!(matches!(parse_target("garbage"), Err(DnError::Syntax(..))));
        assert!(matches!(parse_target("o=a\\"), Err(DnError::Syntax(..))));
    }

    #[test]
    fn bind_dns() {
        assert_eq!(parse_bind_dn("201").unwrap(), (None, "201".into()));
        assert_eq!(
            parse_bind_dn("cn=lobby,o=acme,dc=pbx365").unwrap(),
            (Some(site("acme")), "lobby".into())
        );
        assert_eq!(
            parse_bind_dn("uid=201,dc=pbx365").unwrap(),
            (None, "201".into())
        );
        assert!(parse_bind_dn("cn=x,dc=example").is_err());
    }

    #[test]
    fn escaping_round_trips() {
        for v in ["a,b", " lead", "trail ", "#x", "a+b=c\\d", "plain"] {
            let dn = format!("uid={},ou=users,o=acme,dc=pbx365", escape_value(v));
            assert_eq!(parse_dn(&dn).unwrap()[0].1, v, "{dn}");
        }
    }
}
