//! Between LDAP and the directory's request model: filters and attribute names in, entries out.

use directory::{Attribute, BookScope, Entry, EntrySource, Filter, NumberForm, PhoneKind};
use ldap3_proto::proto::{
    LdapFilter, LdapMatchingRuleAssertion, LdapPartialAttribute, LdapSearchResultEntry,
};

use crate::dn;

/// The object classes every served entry has.
pub const OBJECT_CLASSES: [&str; 4] = ["top", "person", "organizationalPerson", "inetOrgPerson"];

/// The attributes served for each entry, in the spelling they are returned with.
pub const USER_ATTRIBUTES: [&str; 18] = [
    "objectClass",
    "uid",
    "cn",
    "displayName",
    "sn",
    "givenName",
    "o",
    "ou",
    "title",
    "mail",
    "telephoneNumber",
    "mobile",
    "homePhone",
    "ipPhone",
    "facsimileTelephoneNumber",
    "otherTelephone",
    "company",
    "department",
];

/// Why a filter was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    /// Nested deeper than the server allows.
    #[error("filter nests deeper than {0} levels")]
    TooDeep(usize),
    /// More elements than the server allows.
    #[error("filter has more than {0} elements")]
    TooLarge(usize),
}

/// The canonical spelling of a served attribute, given any case or alias a client used.
pub fn canonical_attribute(name: &str) -> Option<&'static str> {
    let lower = name.to_ascii_lowercase();
    let canon = match lower.as_str() {
        "objectclass" => "objectClass",
        "uid" | "userid" => "uid",
        "cn" | "commonname" => "cn",
        "displayname" => "displayName",
        "sn" | "surname" => "sn",
        "givenname" | "gn" => "givenName",
        "o" | "organizationname" => "o",
        "company" => "company",
        "ou" | "organizationalunitname" => "ou",
        "department" => "department",
        "title" => "title",
        "mail" | "email" | "rfc822mailbox" => "mail",
        "telephonenumber" => "telephoneNumber",
        "mobile" | "mobiletelephonenumber" => "mobile",
        "homephone" | "hometelephonenumber" => "homePhone",
        "ipphone" => "ipPhone",
        "facsimiletelephonenumber" | "fax" => "facsimileTelephoneNumber",
        "othertelephone" | "other" => "otherTelephone",
        _ => return None,
    };
    Some(canon)
}

/// The directory attribute an LDAP attribute name stands for. `otherTelephone` (Fanvil's
/// `other`) becomes [`Attribute::AnyPhone`], since the directory keeps no "other" kind apart.
pub fn directory_attribute(name: &str) -> Attribute {
    match canonical_attribute(name) {
        Some("objectClass") => Attribute::ObjectClass,
        Some("cn") => Attribute::CommonName,
        Some("displayName") => Attribute::DisplayName,
        Some("sn") => Attribute::Surname,
        Some("givenName") => Attribute::GivenName,
        Some("o") | Some("company") => Attribute::Company,
        Some("ou") | Some("department") => Attribute::Department,
        Some("title") => Attribute::Title,
        Some("mail") => Attribute::Mail,
        Some("telephoneNumber") => Attribute::BusinessPhone,
        Some("mobile") => Attribute::Mobile,
        Some("homePhone") => Attribute::HomePhone,
        Some("ipPhone") => Attribute::Extension,
        Some("facsimileTelephoneNumber") => Attribute::Fax,
        Some("otherTelephone") => Attribute::AnyPhone,
        _ => Attribute::Unknown(name.to_owned()),
    }
}

/// Turns an LDAP filter into the directory's, refusing ones deeper or larger than allowed.
///
/// LDAP filters have three truth values (RFC 4511 §4.5.1.7): a component the server cannot
/// evaluate — an ordering on an attribute without an ordering (`objectClass`, an unknown
/// attribute), an extensible match with a matching rule pbx365 does not implement or with
/// `dnAttributes` set — is Undefined, and so is `!` of Undefined; an entry matches only when
/// the whole filter is TRUE. The directory's filters are two-valued, so the result is the
/// filter that is TRUE exactly where the LDAP filter is TRUE (negations over an Undefined
/// part are pushed down to the leaves). A filter without Undefined parts keeps its shape.
pub fn filter(
    f: &LdapFilter,
    max_depth: usize,
    max_elements: usize,
) -> Result<Filter, FilterError> {
    let mut budget = max_elements;
    let node = convert(f, 0, max_depth, max_elements, &mut budget)?;
    Ok(node.truth())
}

/// An LDAP filter with its Undefined parts marked, before they are resolved.
enum Node {
    And(Vec<Node>),
    Or(Vec<Node>),
    Not(Box<Node>),
    Leaf(Filter),
    Undefined,
}

impl Node {
    fn defined(&self) -> bool {
        match self {
            Self::And(xs) | Self::Or(xs) => xs.iter().all(Node::defined),
            Self::Not(x) => x.defined(),
            Self::Leaf(_) => true,
            Self::Undefined => false,
        }
    }

    /// The filter matching where this node is TRUE.
    fn truth(self) -> Filter {
        match self {
            Self::And(xs) => Filter::And(xs.into_iter().map(Node::truth).collect()),
            Self::Or(xs) => Filter::Or(xs.into_iter().map(Node::truth).collect()),
            Self::Not(x) => x.falsity(),
            Self::Leaf(f) => f,
            Self::Undefined => Filter::Or(Vec::new()),
        }
    }

    /// The filter matching where this node is FALSE (neither TRUE nor Undefined).
    fn falsity(self) -> Filter {
        if self.defined() {
            return Filter::Not(Box::new(self.truth()));
        }
        match self {
            Self::And(xs) => Filter::Or(xs.into_iter().map(Node::falsity).collect()),
            Self::Or(xs) => Filter::And(xs.into_iter().map(Node::falsity).collect()),
            Self::Not(x) => x.truth(),
            Self::Leaf(f) => Filter::Not(Box::new(f)),
            Self::Undefined => Filter::Or(Vec::new()),
        }
    }
}

/// The equality matching rules an extensible match may name, by OID or name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rule {
    /// caseIgnoreMatch (2.5.13.2) or caseIgnoreIA5Match: the text attributes' equality.
    TextEquality,
    /// telephoneNumberMatch (2.5.13.20): the phone attributes' equality (number-aware).
    PhoneEquality,
}

fn rule(name: &str) -> Option<Rule> {
    match name.to_ascii_lowercase().as_str() {
        "2.5.13.2" | "caseignorematch" | "1.3.6.1.4.1.1466.109.114.2" | "caseignoreia5match" => {
            Some(Rule::TextEquality)
        }
        "2.5.13.20" | "telephonenumbermatch" => Some(Rule::PhoneEquality),
        _ => None,
    }
}

/// The text attributes a rule without an attribute type is applied to.
const TEXT_ATTRIBUTES: [Attribute; 8] = [
    Attribute::CommonName,
    Attribute::DisplayName,
    Attribute::GivenName,
    Attribute::Surname,
    Attribute::Company,
    Attribute::Department,
    Attribute::Title,
    Attribute::Mail,
];

fn is_text(a: &Attribute) -> bool {
    TEXT_ATTRIBUTES.contains(a)
}

/// An extensible match (RFC 4511 §4.5.1.7.7): without a rule, the attribute's own equality;
/// with caseIgnoreMatch / caseIgnoreIA5Match on a text attribute or telephoneNumberMatch on a
/// phone attribute, that equality (without a type: over every attribute the rule applies
/// to). Any other rule, a rule that does not apply to the attribute, and `dnAttributes`
/// (DN components are not matched) are Undefined.
fn extensible(m: &LdapMatchingRuleAssertion) -> Node {
    if m.dn_attributes {
        return Node::Undefined;
    }
    let value = m.match_value.clone();
    let attribute = m.type_.as_deref().map(directory_attribute);
    let rule = match m.matching_rule.as_deref() {
        None => {
            return match attribute {
                Some(a) => Node::Leaf(Filter::Equals(a, value)),
                None => Node::Undefined,
            }
        }
        Some(r) => match rule(r) {
            Some(r) => r,
            None => return Node::Undefined,
        },
    };
    match (rule, attribute) {
        (Rule::TextEquality, Some(a)) if is_text(&a) => Node::Leaf(Filter::Equals(a, value)),
        (Rule::PhoneEquality, Some(a)) if a.is_phone() => Node::Leaf(Filter::Equals(a, value)),
        (Rule::TextEquality, None) => Node::Leaf(Filter::Or(
            TEXT_ATTRIBUTES
                .iter()
                .map(|a| Filter::Equals(a.clone(), value.clone()))
                .collect(),
        )),
        (Rule::PhoneEquality, None) => Node::Leaf(Filter::Equals(Attribute::AnyPhone, value)),
        _ => Node::Undefined,
    }
}

/// An ordering match: Undefined for attributes without an ordering.
fn ordering(a: &str, v: &str, make: fn(Attribute, String) -> Filter) -> Node {
    match directory_attribute(a) {
        Attribute::ObjectClass | Attribute::Unknown(_) => Node::Undefined,
        a => Node::Leaf(make(a, v.to_owned())),
    }
}

fn convert(
    f: &LdapFilter,
    depth: usize,
    max_depth: usize,
    max_elements: usize,
    budget: &mut usize,
) -> Result<Node, FilterError> {
    if depth > max_depth {
        return Err(FilterError::TooDeep(max_depth));
    }
    *budget = budget
        .checked_sub(1)
        .ok_or(FilterError::TooLarge(max_elements))?;
    let list = |fs: &[LdapFilter], budget: &mut usize| {
        fs.iter()
            .map(|f| convert(f, depth + 1, max_depth, max_elements, budget))
            .collect::<Result<Vec<_>, _>>()
    };
    Ok(match f {
        LdapFilter::And(fs) => Node::And(list(fs, budget)?),
        LdapFilter::Or(fs) => Node::Or(list(fs, budget)?),
        LdapFilter::Not(inner) => Node::Not(Box::new(convert(
            inner,
            depth + 1,
            max_depth,
            max_elements,
            budget,
        )?)),
        LdapFilter::Equality(a, v) => Node::Leaf(Filter::Equals(directory_attribute(a), v.clone())),
        LdapFilter::Substring(a, s) => Node::Leaf(Filter::Substring {
            attribute: directory_attribute(a),
            initial: s.initial.clone().filter(|v| !v.is_empty()),
            any: s.any.iter().filter(|v| !v.is_empty()).cloned().collect(),
            last: s.final_.clone().filter(|v| !v.is_empty()),
        }),
        LdapFilter::Present(a) => Node::Leaf(Filter::Present(directory_attribute(a))),
        LdapFilter::Approx(a, v) => Node::Leaf(Filter::Approx(directory_attribute(a), v.clone())),
        LdapFilter::GreaterOrEqual(a, v) => ordering(a, v, Filter::GreaterOrEqual),
        LdapFilter::LessOrEqual(a, v) => ordering(a, v, Filter::LessOrEqual),
        LdapFilter::Extensible(m) => extensible(m),
    })
}

/// Which attributes a search asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    all: bool,
    names: Vec<&'static str>,
}

impl Selection {
    /// From a search request's attribute list: empty or `*` means all, `1.1` means none,
    /// `+` (operational attributes) adds nothing since entries have none.
    pub fn new(attrs: &[String]) -> Self {
        let all = attrs.is_empty() || attrs.iter().any(|a| a == "*");
        let mut names = Vec::new();
        for a in attrs {
            if let Some(c) = canonical_attribute(a) {
                if !names.contains(&c) {
                    names.push(c);
                }
            }
        }
        Self { all, names }
    }

    /// True when `name` (canonical) is wanted.
    pub fn wants(&self, name: &str) -> bool {
        self.all || self.names.contains(&name)
    }
}

/// The phonebook an entry lives in, for its DN.
pub fn entry_book(entry: &Entry) -> BookScope {
    match entry.sources.first() {
        Some(EntrySource::User { .. }) => BookScope::Users,
        Some(EntrySource::Contact { phonebook, .. }) => match phonebook {
            directory::PhonebookKind::Company => BookScope::Company,
            directory::PhonebookKind::Directory => BookScope::Directory,
            directory::PhonebookKind::Personal { .. } => BookScope::Personal,
        },
        None if entry.personal_owner.is_some() => BookScope::Personal,
        None if entry.is_user() => BookScope::Users,
        None => BookScope::Company,
    }
}

/// The values of one attribute of an entry, numbers written in `form`.
pub fn values(entry: &Entry, name: &str, form: NumberForm) -> Vec<String> {
    let one = |v: &Option<String>| v.iter().filter(|s| !s.is_empty()).cloned().collect();
    let numbers = |kind: PhoneKind| {
        let mut out: Vec<String> = Vec::new();
        for n in entry.numbers.iter().filter(|n| n.kind == kind) {
            let e164 = n.e164.as_ref().map(|e| e.as_str().to_owned());
            let forms = match form {
                NumberForm::Dialable => vec![n.dial.clone()],
                NumberForm::E164 => vec![e164.unwrap_or_else(|| n.dial.clone())],
                NumberForm::Both => {
                    let mut v = vec![n.dial.clone()];
                    v.extend(e164);
                    v
                }
            };
            for f in forms {
                if !f.is_empty() && !out.contains(&f) {
                    out.push(f);
                }
            }
        }
        out
    };
    match name {
        "objectClass" => OBJECT_CLASSES.iter().map(|s| s.to_string()).collect(),
        "uid" => vec![entry.id.clone()],
        "cn" | "displayName" => vec![entry.display_name.clone()],
        "sn" => match &entry.surname {
            Some(s) if !s.is_empty() => vec![s.clone()],
            // `sn` is mandatory for a person: fall back to the display name.
            _ => vec![entry.display_name.clone()],
        },
        "givenName" => one(&entry.given_name),
        "o" | "company" => one(&entry.company),
        "ou" | "department" => one(&entry.department),
        "title" => one(&entry.title),
        "mail" => entry.emails.clone(),
        "telephoneNumber" => numbers(PhoneKind::Business),
        "mobile" => numbers(PhoneKind::Mobile),
        "homePhone" => numbers(PhoneKind::Home),
        "facsimileTelephoneNumber" => numbers(PhoneKind::Fax),
        "otherTelephone" => numbers(PhoneKind::Other),
        "ipPhone" => one(&entry.extension),
        _ => Vec::new(),
    }
}

/// An entry as an LDAP search result, with the selected attributes (no values when
/// `types_only`).
pub fn entry(
    e: &Entry,
    selection: &Selection,
    form: NumberForm,
    types_only: bool,
) -> LdapSearchResultEntry {
    let attributes = USER_ATTRIBUTES
        .iter()
        .filter(|name| selection.wants(name))
        .filter_map(|name| {
            let vals = values(e, name, form);
            if vals.is_empty() {
                return None;
            }
            Some(LdapPartialAttribute {
                atype: name.to_string(),
                vals: if types_only {
                    Vec::new()
                } else {
                    vals.into_iter().map(String::into_bytes).collect()
                },
            })
        })
        .collect();
    LdapSearchResultEntry {
        dn: dn::entry_dn(&e.site, entry_book(e), &e.id),
        attributes,
    }
}

/// What [`sort`] orders an entry by: the first value of the canonical attribute `name`,
/// lower-cased (`None` when it has none).
pub fn sort_key(entry: &Entry, name: &str, form: NumberForm) -> Option<String> {
    values(entry, name, form).first().map(|v| v.to_lowercase())
}

/// Sorts entries by the first value of `attribute` (case-insensitively; entries without one
/// last), keeping the directory's order among equals. `false` when the attribute is not one
/// pbx365 serves.
pub fn sort(entries: &mut [Entry], attribute: &str, reverse: bool, form: NumberForm) -> bool {
    let Some(name) = canonical_attribute(attribute) else {
        return false;
    };
    let key = |e: &Entry| sort_key(e, name, form);
    entries.sort_by(|a, b| {
        let (ka, kb) = (key(a), key(b));
        let ord = match (&ka, &kb) {
            (Some(x), Some(y)) => x.cmp(y),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => std::cmp::Ordering::Equal,
        };
        if reverse && ka.is_some() && kb.is_some() {
            ord.reverse()
        } else {
            ord
        }
    });
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use ldap3_proto::proto::LdapSubstringFilter;

    #[test]
    fn filters_translate() {
        let f = ldap3_proto::parse_ldap_filter_str("(|(cn=Ann*)(!(telephoneNumber=*))(mail~=x))")
            .unwrap();
        assert_eq!(
            filter(&f, 10, 64).unwrap(),
            Filter::Or(vec![
                Filter::Substring {
                    attribute: Attribute::CommonName,
                    initial: Some("Ann".into()),
                    any: vec![],
                    last: None
                },
                Filter::Not(Box::new(Filter::Present(Attribute::BusinessPhone))),
                Filter::Approx(Attribute::Mail, "x".into()),
            ])
        );
    }

    fn tr(s: &str) -> Filter {
        filter(&ldap3_proto::parse_ldap_filter_str(s).unwrap(), 10, 64).unwrap()
    }

    #[test]
    fn ordering_and_extensible_matches_translate() {
        assert_eq!(
            tr("(sn>=M)"),
            Filter::GreaterOrEqual(Attribute::Surname, "M".into())
        );
        assert_eq!(
            tr("(telephoneNumber<=+4930)"),
            Filter::LessOrEqual(Attribute::BusinessPhone, "+4930".into())
        );
        let nothing = Filter::Or(vec![]);
        // No ordering on objectClass or unknown attributes: Undefined.
        assert_eq!(tr("(objectClass>=a)"), nothing);
        assert_eq!(tr("(bogus<=a)"), nothing);
        // Extensible: the attribute's equality, the rules pbx365 implements, Undefined else.
        assert_eq!(
            tr("(sn:=Meier)"),
            Filter::Equals(Attribute::Surname, "Meier".into())
        );
        assert_eq!(
            tr("(sn:caseIgnoreMatch:=Meier)"),
            Filter::Equals(Attribute::Surname, "Meier".into())
        );
        assert_eq!(
            tr("(mobile:2.5.13.20:=01511)"),
            Filter::Equals(Attribute::Mobile, "01511".into())
        );
        assert_eq!(
            tr("(:telephoneNumberMatch:=0301)"),
            Filter::Equals(Attribute::AnyPhone, "0301".into())
        );
        assert!(matches!(tr("(:caseIgnoreMatch:=x)"), Filter::Or(v) if v.len() == 8));
        assert_eq!(tr("(sn:caseExactMatch:=Meier)"), nothing);
        assert_eq!(tr("(telephoneNumber:caseIgnoreMatch:=1)"), nothing);
        assert_eq!(tr("(sn:dn:=Meier)"), nothing);
    }

    #[test]
    fn undefined_stays_undefined_under_not() {
        let nothing = Filter::Or(vec![]);
        // !Undefined is Undefined: still no match.
        assert_eq!(tr("(!(sn:caseExactMatch:=x))"), nothing);
        // !(a & Undefined) is TRUE exactly where a is FALSE.
        assert_eq!(
            tr("(!(&(sn=A)(objectClass>=x)))"),
            Filter::Or(vec![
                Filter::Not(Box::new(Filter::Equals(Attribute::Surname, "A".into()))),
                nothing.clone()
            ])
        );
        // !(a | Undefined) is never TRUE.
        assert_eq!(
            tr("(!(|(sn=A)(objectClass>=x)))"),
            Filter::And(vec![
                Filter::Not(Box::new(Filter::Equals(Attribute::Surname, "A".into()))),
                nothing.clone()
            ])
        );
        // Double negation of Undefined: Undefined.
        assert_eq!(tr("(!(!(bogus>=1)))"), nothing);
        // Without Undefined parts the shape is kept.
        assert_eq!(
            tr("(!(&(sn=A)(cn=B)))"),
            Filter::Not(Box::new(Filter::And(vec![
                Filter::Equals(Attribute::Surname, "A".into()),
                Filter::Equals(Attribute::CommonName, "B".into())
            ])))
        );
    }

    #[test]
    fn limits_are_enforced() {
        let mut f = LdapFilter::Present("cn".into());
        for _ in 0..5 {
            f = LdapFilter::Not(Box::new(f));
        }
        assert_eq!(filter(&f, 4, 64), Err(FilterError::TooDeep(4)));
        assert!(filter(&f, 5, 64).is_ok());
        let wide = LdapFilter::Or(vec![
            LdapFilter::Substring(
                "sn".into(),
                LdapSubstringFilter::default()
            );
            10
        ]);
        assert_eq!(filter(&wide, 4, 10), Err(FilterError::TooLarge(10)));
        assert!(filter(&wide, 4, 11).is_ok());
    }

    fn entry_with_numbers() -> Entry {
        let n = |kind, e164: Option<&str>, dial: &str| directory::EntryNumber {
            kind,
            raw: dial.into(),
            e164: e164.map(|e| directory::E164::new(e).unwrap()),
            dial: dial.into(),
            display: dial.into(),
        };
        Entry {
            id: "x".into(),
            site: directory::SiteId::new("acme").unwrap(),
            sources: vec![],
            personal_owner: None,
            display_name: "X".into(),
            given_name: None,
            surname: None,
            company: Some(String::new()),
            department: None,
            title: None,
            emails: vec![],
            extension: None,
            numbers: vec![
                n(PhoneKind::Business, Some("+49301234201"), "201"),
                n(PhoneKind::Business, None, "*55"),
                n(PhoneKind::Other, Some("+4940555123"), "0040555123"),
            ],
        }
    }

    #[test]
    fn number_forms() {
        let e = entry_with_numbers();
        assert_eq!(
            values(&e, "telephoneNumber", NumberForm::Dialable),
            ["201", "*55"]
        );
        // A number without E.164 keeps its dialable form.
        assert_eq!(
            values(&e, "telephoneNumber", NumberForm::E164),
            ["+49301234201", "*55"]
        );
        assert_eq!(
            values(&e, "telephoneNumber", NumberForm::Both),
            ["201", "+49301234201", "*55"]
        );
        assert_eq!(
            values(&e, "otherTelephone", NumberForm::Dialable),
            ["0040555123"]
        );
        // sn falls back to the display name; empty values are left out.
        assert_eq!(values(&e, "sn", NumberForm::Dialable), ["X"]);
        assert!(values(&e, "o", NumberForm::Dialable).is_empty());
        // No source: a company contact.
        assert_eq!(entry_book(&e), BookScope::Company);
        let ldap = entry(
            &e,
            &Selection::new(&["sn".into()]),
            NumberForm::Dialable,
            true,
        );
        assert_eq!(ldap.dn, "uid=x,ou=company,o=acme,dc=pbx365");
        assert_eq!(ldap.attributes.len(), 1);
        assert!(ldap.attributes[0].vals.is_empty());
    }

    #[test]
    fn selection() {
        let s = Selection::new(&["CN".into(), "TelephoneNumber".into(), "bogus".into()]);
        assert!(s.wants("cn") && s.wants("telephoneNumber") && !s.wants("mail"));
        assert!(Selection::new(&[]).wants("mail"));
        assert!(!Selection::new(&["1.1".into()]).wants("cn"));
    }
}
