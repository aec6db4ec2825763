//! Phone numbers: the E.164 form every lookup uses, and the text a person typed, kept so that
//! every number can be recomputed when the rules (or the owner's country) change.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A number in E.164 form: `+`, then 8–15 digits, the first one 1–9. Only valid values exist.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct E164(String);

/// Why a text is not an [`E164`] number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an E.164 number ('+' then 8-15 digits, the first one 1-9)")]
pub struct E164Error(pub String);

impl E164 {
    /// Checks and wraps an E.164 text such as `+4930123456`.
    pub fn new(s: impl Into<String>) -> Result<Self, E164Error> {
        let s = s.into();
        let ok = match s.strip_prefix('+') {
            Some(digits) => {
                (8..=15).contains(&digits.len())
                    && digits.bytes().all(|b| b.is_ascii_digit())
                    && !digits.starts_with('0')
            }
            None => false,
        };
        if ok {
            Ok(Self(s))
        } else {
            Err(E164Error(s))
        }
    }

    /// The number as text, with its leading `+`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for E164 {
    type Error = E164Error;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::new(s)
    }
}

impl FromStr for E164 {
    type Err = E164Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl From<E164> for String {
    fn from(e: E164) -> String {
        e.0
    }
}

impl fmt::Display for E164 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A country as ISO 3166-1 alpha-2 (`DE`, `US`, `GB`), one the numbering plan knows; it is the
/// default region for numbers written in national form (Graph's `usageLocation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Region(phonenumber::country::Id);

/// Why a text is not a [`Region`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0:?} is not an ISO 3166 alpha-2 country code with a known numbering plan (e.g. DE, US, GB)"
)]
pub struct RegionError(pub String);

impl Region {
    /// Checks a two-letter country code (either case).
    pub fn new(s: &str) -> Result<Self, RegionError> {
        let up = s.trim().to_ascii_uppercase();
        if up.len() != 2 || !up.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(RegionError(s.to_owned()));
        }
        phonenumber::country::Id::from_str(&up)
            .map(Self)
            .map_err(|_| RegionError(s.to_owned()))
    }

    /// The two-letter code, upper case.
    pub fn as_str(&self) -> &str {
        self.0.as_ref()
    }

    /// The country calling code (`49` for DE, `1` for US).
    pub fn calling_code(&self) -> u16 {
        phonenumber::metadata::DATABASE
            .by_id(self.as_str())
            .map(|m| m.country_code())
            .unwrap_or(0)
    }
}

impl FromStr for Region {
    type Err = RegionError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl TryFrom<String> for Region {
    type Error = RegionError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::new(&s)
    }
}

impl From<Region> for String {
    fn from(r: Region) -> String {
        r.as_str().to_owned()
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a number is for, as Graph and phonebooks label it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PhoneKind {
    /// Office / business phone.
    Business,
    /// Mobile phone.
    Mobile,
    /// Home phone.
    Home,
    /// Fax.
    Fax,
    /// Anything else (assistant, pager, other).
    Other,
}

impl PhoneKind {
    /// The stored name of the kind.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Business => "business",
            Self::Mobile => "mobile",
            Self::Home => "home",
            Self::Fax => "fax",
            Self::Other => "other",
        }
    }

    /// Reads a stored name back.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "business" => Self::Business,
            "mobile" => Self::Mobile,
            "home" => Self::Home,
            "fax" => Self::Fax,
            "other" => Self::Other,
            _ => return None,
        })
    }
}

/// A number as typed (`raw`), and its E.164 form when it can be normalised. A number that
/// cannot be normalised keeps `e164: None`: it is flagged and counted, never dropped.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PhoneNumber {
    /// The text exactly as the source had it (extension and all).
    pub raw: String,
    /// The E.164 form without any extension, or `None` when `raw` is not a valid number.
    pub e164: Option<E164>,
    /// What the number is for.
    pub kind: PhoneKind,
}

impl PhoneNumber {
    /// Normalises `raw`, reading national forms in `default_region` (the owner's country).
    /// An extension (`ext. 12`, `x12`) stays in `raw` and is left out of the E.164 form.
    pub fn parse(raw: &str, kind: PhoneKind, default_region: Option<Region>) -> Self {
        Self {
            raw: raw.to_owned(),
            e164: normalise(raw, default_region),
            kind,
        }
    }

    /// Normalises `raw` with a site's full dialling rules ([`DiallingPlan::to_e164`]): local
    /// numbers get the area code, an outside-line prefix is removed and a short extension
    /// becomes its DID (or stays invalid when it has none).
    ///
    /// [`DiallingPlan::to_e164`]: crate::DiallingPlan::to_e164
    pub fn parse_for_site(raw: &str, kind: PhoneKind, plan: &crate::DiallingPlan) -> Self {
        Self {
            raw: raw.to_owned(),
            e164: plan.to_e164(raw).ok(),
            kind,
        }
    }

    /// Recomputes the E.164 form from `raw` (after a change of rules or region).
    pub fn renormalised(&self, default_region: Option<Region>) -> Self {
        Self::parse(&self.raw, self.kind, default_region)
    }

    /// True when the number could not be normalised.
    pub fn is_invalid(&self) -> bool {
        self.e164.is_none()
    }
}

fn normalise(raw: &str, region: Option<Region>) -> Option<E164> {
    let text = raw.trim();
    if text.is_empty() {
        return None;
    }
    parse_valid(text, region)
        .or_else(|| without_notes(text).and_then(|t| parse_valid(t.trim(), region)))
}

fn parse_valid(text: &str, region: Option<Region>) -> Option<E164> {
    let parsed = phonenumber::parse_with(numbering(), region.map(|r| r.0), text).ok()?;
    if !parsed.is_valid() {
        return None;
    }
    E164::new(parsed.format().mode(phonenumber::Mode::E164).to_string()).ok()
}

/// The text without bracketed notes such as "(Zentrale)" or "(home)" — brackets holding a
/// letter; `None` when there are none. Brackets of digits, like "(0)30", stay.
fn without_notes(text: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut changed = false;
    while let Some(open) = rest.find('(') {
        let Some(len) = rest[open..].find(')') else {
            break;
        };
        let close = open + len;
        if rest[open + 1..close].chars().any(char::is_alphabetic) {
            out.push_str(&rest[..open]);
            changed = true;
        } else {
            out.push_str(&rest[..=close]);
        }
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    changed.then_some(out)
}

/// An extension number: 1–15 digits, not starting with 0 so that numeric order and text order
/// agree within one length.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ExtensionNumber(String);

/// Why a text is not an [`ExtensionNumber`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an extension number (1-15 digits, not starting with 0)")]
pub struct ExtensionNumberError(pub String);

impl ExtensionNumber {
    /// Checks and wraps the digits.
    pub fn new(s: impl Into<String>) -> Result<Self, ExtensionNumberError> {
        let s = s.into();
        let ok = (1..=15).contains(&s.len())
            && s.bytes().all(|b| b.is_ascii_digit())
            && !s.starts_with('0');
        if ok {
            Ok(Self(s))
        } else {
            Err(ExtensionNumberError(s))
        }
    }

    /// Builds the number from its value (always valid for values ≥ 1).
    pub fn from_value(v: u64) -> Result<Self, ExtensionNumberError> {
        Self::new(v.to_string())
    }

    /// The digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The numeric value (fits: at most 15 digits).
    pub fn value(&self) -> u64 {
        self.0.parse().unwrap_or(0)
    }

    /// How many digits.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Never true: an extension number has at least one digit (here for clippy's sake).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl TryFrom<String> for ExtensionNumber {
    type Error = ExtensionNumberError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::new(s)
    }
}

impl From<ExtensionNumber> for String {
    fn from(e: ExtensionNumber) -> String {
        e.0
    }
}

impl fmt::Display for ExtensionNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Regular expressions libphonenumber's metadata may keep compiled: more than the whole
/// metadata holds, so none is ever compiled twice.
const REGEX_CACHE_CAPACITY: usize = 20_000;

/// The lazy DFA cache each metadata pattern may fill, in bytes. The `regex` crate's default
/// (2 MiB per pattern) let a sync's hundreds of patterns grow with every new number shape
/// (most of a 10,000-mailbox sync's 1.4 GB peak); phone numbers are a few dozen bytes, so
/// a pattern that needs more simply runs on a slower engine.
const REGEX_DFA_BYTES: usize = 64 * 1024;

/// libphonenumber's metadata, made ready for bulk use. The `phonenumber` crate keeps its
/// compiled patterns in an LRU cache of only 100 entries; numbers from a few countries
/// already need more, so every parse recompiled patterns (most of a sync's CPU time at
/// 10,000 contacts). The first call enlarges the cache once; every parse and format in this
/// crate goes through here first. Patterns the crate compiled since the last call are
/// compiled again with a bounded lazy DFA cache ([`REGEX_DFA_BYTES`]).
pub(crate) fn numbering() -> &'static phonenumber::metadata::Database {
    static READY: std::sync::Once = std::sync::Once::new();
    static TUNED: std::sync::Mutex<Option<std::collections::HashSet<String>>> =
        std::sync::Mutex::new(None);
    READY.call_once(|| {
        if let Ok(mut cache) = phonenumber::metadata::DATABASE.cache().lock() {
            cache.set_capacity(REGEX_CACHE_CAPACITY);
        }
    });
    if let (Ok(mut tuned), Ok(mut cache)) =
        (TUNED.lock(), phonenumber::metadata::DATABASE.cache().lock())
    {
        let tuned = tuned.get_or_insert_with(Default::default);
        if tuned.len() > cache.len() {
            // Patterns were evicted (the cache is sized never to): forget them too.
            *tuned = cache.iter().map(|(s, _)| s.clone()).collect();
        }
        if tuned.len() != cache.len() {
            for (source, re) in cache.iter_mut() {
                if tuned.contains(source) {
                    continue;
                }
                // The crate compiles its metadata patterns ignoring whitespace (its only
                // other pattern, `00[39]`, has none): the same here, but for the cache size.
                // A pattern that would not compile keeps its own.
                if let Ok(bounded) = regex::RegexBuilder::new(source)
                    .ignore_whitespace(true)
                    .dfa_size_limit(REGEX_DFA_BYTES)
                    .build()
                {
                    *re = bounded;
                }
                tuned.insert(source.clone());
            }
        }
    }
    &phonenumber::metadata::DATABASE
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(s: &str) -> Option<E164> {
        Some(E164::new(s).unwrap())
    }

    fn parse(raw: &str, region: Option<&str>) -> Option<E164> {
        let r = region.map(|r| Region::new(r).unwrap());
        let n = PhoneNumber::parse(raw, PhoneKind::Business, r);
        assert_eq!(n.raw, raw, "raw text is kept as typed");
        n.e164
    }

    #[test]
    fn e164_validity() {
        assert_eq!(E164::new("+4930123456").unwrap().to_string(), "+4930123456");
        assert!(E164::new("+12025550123").is_ok());
        assert!(E164::new("+12345678").is_ok(), "8 digits is the shortest");
        assert!(
            E164::new("+123456789012345").is_ok(),
            "15 digits is the longest"
        );
        assert!(E164::new("+1234567").is_err(), "7 digits");
        assert!(E164::new("+1234567890123456").is_err(), "16 digits");
        assert!(E164::new("4930123456").is_err(), "no plus");
        assert!(E164::new("+0930123456").is_err(), "leading zero");
        assert!(E164::new("+49 30 123456").is_err(), "spaces");
        assert!(E164::new("+49-30123456").is_err(), "dash");
        assert!(E164::new("").is_err());
        assert!(E164::new("+").is_err());
    }

    #[test]
    fn e164_serde_is_a_string() {
        let n = E164::new("+4930123456").unwrap();
        assert_eq!(serde_json::to_string(&n).unwrap(), "\"+4930123456\"");
        assert_eq!(serde_json::from_str::<E164>("\"+4930123456\"").unwrap(), n);
        assert!(serde_json::from_str::<E164>("\"030123456\"").is_err());
    }

    #[test]
    fn regions() {
        assert_eq!(Region::new("de").unwrap().as_str(), "DE");
        assert_eq!(Region::new("GB").unwrap().to_string(), "GB");
        assert!(Region::new("XX").is_err());
        assert!(Region::new("DEU").is_err());
        assert!(Region::new("").is_err());
    }

    #[test]
    fn german_numbers() {
        assert_eq!(parse("030 12345678", Some("DE")), e("+493012345678"));
        assert_eq!(parse("+49 30 12345678", Some("DE")), e("+493012345678"));
        assert_eq!(parse("0049 30 12345678", Some("DE")), e("+493012345678"));
        assert_eq!(parse("+49 (0)30 12345678", None), e("+493012345678"));
        assert_eq!(parse("0171 2345678", Some("DE")), e("+491712345678"));
        assert_eq!(parse("tel:+493012345678", None), e("+493012345678"));
    }

    #[test]
    fn us_numbers() {
        assert_eq!(parse("(202) 555-0123", Some("US")), e("+12025550123"));
        assert_eq!(parse("+1 202-555-0123", None), e("+12025550123"));
        assert_eq!(parse("1-202-555-0123", Some("US")), e("+12025550123"));
    }

    #[test]
    fn gb_numbers() {
        assert_eq!(parse("020 7946 0958", Some("GB")), e("+442079460958"));
        assert_eq!(parse("+44 20 7946 0958", Some("DE")), e("+442079460958"));
        assert_eq!(parse("07911 123456", Some("GB")), e("+447911123456"));
    }

    #[test]
    fn a_foreign_number_in_national_form_needs_its_region() {
        // Read as German, a British national number is not a German number.
        assert_eq!(parse("020 7946 0958", Some("DE")), None);
        assert_eq!(
            parse("030 12345678", None),
            None,
            "national form without a region"
        );
    }

    #[test]
    fn extensions_stay_in_raw() {
        assert_eq!(parse("+49 30 12345678 ext. 12", None), e("+493012345678"));
        assert_eq!(parse("(202) 555-0123 x12", Some("US")), e("+12025550123"));
    }

    #[test]
    fn junk_is_kept_and_flagged() {
        for junk in [
            "n/a",
            "",
            "   ",
            "call reception",
            "12",
            "+1 800 MY-APPLE-PIE-NOW",
        ] {
            let n = PhoneNumber::parse(junk, PhoneKind::Other, Region::new("DE").ok());
            assert_eq!(n.raw, junk);
            assert_eq!(n.e164, None, "{junk:?}");
            assert!(n.is_invalid());
        }
    }

    #[test]
    fn what_people_type_into_phone_fields() {
        // The emulator's tenants carry these; the expected values are worked out by hand.
        assert_eq!(
            parse("+49 (0) 30 / 1234 - 567 (Zentrale)", Some("DE")),
            e("+49301234567")
        );
        assert_eq!(
            parse("  +44 20 7946 0958  ", Some("DE")),
            e("+442079460958")
        );
        assert_eq!(parse("(030) 1234567-89", Some("DE")), e("+4930123456789"));
        // Letters on the keypad: F-L-O-W-E-R-S is 3-5-6-9-3-7-7.
        assert_eq!(parse("1-800-FLOWERS", Some("US")), e("+18003569377"));
        // Two numbers in one field are not one number.
        assert_eq!(parse("030 12345678 oder 0151 2345678", Some("DE")), None);
        assert_eq!(
            parse("(home) 030 1234567 (Zentrale)", Some("DE")),
            e("+49301234567")
        );
        assert_eq!(parse("ext 23", Some("DE")), None);
        assert_eq!(
            parse("4711", Some("DE")),
            None,
            "an extension alone is no E.164 number"
        );
    }

    #[test]
    fn renormalising_uses_the_new_region() {
        let n = PhoneNumber::parse("020 7946 0958", PhoneKind::Mobile, Region::new("DE").ok());
        assert_eq!(n.e164, None);
        let n = n.renormalised(Region::new("GB").ok());
        assert_eq!(n.e164, e("+442079460958"));
        assert_eq!(n.kind, PhoneKind::Mobile);
    }

    #[test]
    fn extension_numbers() {
        assert_eq!(ExtensionNumber::new("100").unwrap().value(), 100);
        assert_eq!(ExtensionNumber::from_value(4711).unwrap().as_str(), "4711");
        assert!(ExtensionNumber::new("0100").is_err());
        assert!(ExtensionNumber::new("").is_err());
        assert!(ExtensionNumber::new("12a").is_err());
    }
}
