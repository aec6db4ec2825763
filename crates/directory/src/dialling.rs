//! A site's dialling rules ([`DiallingPlan`]): any form a person types → E.164 or an internal
//! extension, and E.164 → the form a phone of this site dials and the form a person reads.
//!
//! The signatures here are the contract the index and the front ends use; the rules behind
//! them follow the national numbering plans.
//!
//! # How typed text is read ([`DiallingPlan::parse`])
//! 1. Cleaning: a `tel:` scheme, a label (`Tel.:`, `Phone:`, `Fax`, `Mobil`), bracketed
//!    notes holding letters (`(Zentrale)`) and a trailing extension (`ext. 12`, `ext 12`, `extn 12`, `x12`, `;ext=12`) are removed — the extension
//!    never becomes part of the E.164 form. Left are digits, one leading `+`, and the
//!    separators people use: spaces, `-` (and Unicode dashes), `.`, `/`, `(` `)`.
//!    Nothing left → [`NumberInputError::Empty`]; any other symbol (`*`, `#`, emoji, full-width
//!    digits, …) or letters → [`NumberInputError::NotANumber`].
//! 2. Letters are keypad letters only in NANP numbers (country code 1: a US/Canadian site, or
//!    a number written `+1`/international prefix + `1`), and only after at least three digits
//!    (`1-800-FLOWERS` → `+18003569377`). The result must then be a whole valid NANP number;
//!    elsewhere (and for `tbd`, `n/a`, `555-CALL-ME-NOW`) letters make the text
//!    [`NumberInputError::NotANumber`].
//! 3. `+…` is international. After the country code a written trunk prefix is dropped when
//!    the number is only valid without it (`+49 (0)30 …`, `+44 (0)20 …`); Italy keeps its
//!    leading `0`, which is part of the number there.
//! 4. Otherwise the digits are read as this site dials them: the international prefix
//!    (`00`, `011`, `0011`, …) starts an international number; a length of
//!    [`DiallingPlan::extension_lengths`] (inside [`DiallingPlan::extension_ranges`] when any
//!    are set) is an internal extension; the national prefix starts a national number; in NANP
//!    countries and countries without a national prefix (Italy, Spain, Poland, …) the digits
//!    may be the national number itself; a local number of up to 9 digits gets the site's
//!    area code (`1234567` in Berlin → `+49301234567`; exactly 7 digits in NANP); as a last
//!    resort the digits may start with the site's own country code typed without `+`
//!    (`49 30 1234567`).
//! 5. The outside-line prefix is removed when the number makes no sense with it (`0030…` in
//!    Germany with prefix `0` is not a Greek number), and first when it is typed as its own
//!    group in front of a full number (`0 030 1234567`, `9 1 202 555 0123`, `0-0044 …`).
//!    A number read after the outside-line prefix is never an internal extension.
//!
//! Every candidate must be a valid number of its country's plan (the bundled libphonenumber
//! metadata of the `phonenumber` crate), so junk and 40-digit strings are
//! [`NumberInputError::Invalid`].
//!
//! Where an extension length clashes with a local number length, the extension wins (an
//! admin who needs both configures [`DiallingPlan::extension_ranges`]).

use crate::number::{ExtensionNumber, Region, E164};
use serde::{Deserialize, Serialize};

/// A block of the company's direct-dial numbers: the DID of extension `n` (first ≤ n ≤ last) is
/// `base` followed by `n`'s digits, and `base` alone (or with the main suffix) is the switchboard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DidBlock {
    /// The E.164 prefix of the block, digits only after the `+` (`+49301234`).
    pub base: String,
    /// First extension of the block.
    pub first: u64,
    /// Last extension of the block (inclusive).
    pub last: u64,
    /// The company the block belongs to (shown for a number in the block that matches no one).
    pub company: Option<String>,
}

/// A range of internal extension numbers (inclusive), used to tell extensions from other short
/// numbers when the lengths alone are not enough.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ExtensionRange {
    /// First extension of the range.
    pub first: u64,
    /// Last extension of the range (inclusive).
    pub last: u64,
}

impl ExtensionRange {
    /// Whether `value` lies in the range.
    pub fn contains(&self, value: u64) -> bool {
        (self.first..=self.last).contains(&value)
    }
}

/// Which form of a number LDAP and XML phonebooks return. It is a per-site setting that lives
/// next to the plan (the configuration's `number_form`) and is passed to
/// [`DiallingPlan::forms`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NumberForm {
    /// What a phone of this site dials (the default).
    #[default]
    Dialable,
    /// E.164 (`+4930123456`).
    E164,
    /// Both, as separate values (dialable first).
    Both,
}

impl NumberForm {
    /// The configuration name of the form (`dialable`, `e164`, `both`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Dialable => "dialable",
            Self::E164 => "e164",
            Self::Both => "both",
        }
    }

    /// Reads a configuration name back (`dialable`, `e164`, `both`; any case).
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "dialable" => Some(Self::Dialable),
            "e164" => Some(Self::E164),
            "both" => Some(Self::Both),
            _ => None,
        }
    }
}

/// What a typed number turned out to be.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "number", rename_all = "snake_case")]
pub enum Dialled {
    /// A number outside the site (or a DID of the site), in E.164.
    External(E164),
    /// A short internal extension of the site.
    Internal(ExtensionNumber),
}

/// Why a typed text is not a number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NumberInputError {
    /// Nothing (or only spaces and punctuation) was given.
    #[error("the number is empty")]
    Empty,
    /// Letters or symbols that no phone number holds.
    #[error("{0:?} is not a phone number (only digits, spaces, + - . / ( ) and an extension are allowed)")]
    NotANumber(String),
    /// Digits, but not a valid number of any plan the site knows.
    #[error("{0:?} is not a valid phone number for this site's dialling rules")]
    Invalid(String),
}

/// A site's dialling rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiallingPlan {
    /// The site's country: the region national forms are read in.
    pub region: Region,
    /// The local area code without the national prefix (`30`), when the site dials locally.
    pub area_code: Option<String>,
    /// The digit(s) for an outside line (`0` in Germany, `9` in the US), if the PBX needs one.
    pub outside_line_prefix: Option<String>,
    /// International call prefix (`00`, `011` in NANP countries).
    pub international_prefix: String,
    /// National trunk prefix (`0`; empty where there is none, e.g. NANP uses `1`).
    pub national_prefix: String,
    /// The lengths internal extensions have (`[3]`, `[3, 4]`).
    pub extension_lengths: Vec<u8>,
    /// The company's DID blocks.
    pub did_blocks: Vec<DidBlock>,
    /// The ranges internal extensions lie in; empty means any number of an allowed length.
    #[serde(default)]
    pub extension_ranges: Vec<ExtensionRange>,
}

/// Longest digit string worth looking at: E.164 has 15 digits, plus prefixes.
const MAX_DIGITS: usize = 24;

/// Longest local number (subscriber number and a direct-dial suffix) that gets the site's
/// area code; longer digit strings are not local (NANP: exactly 7 digits).
const MAX_LOCAL_DIGITS: usize = 9;

impl DiallingPlan {
    /// A plan for `region` with that country's usual prefixes (from the numbering plan:
    /// `00`/`0` in most of Europe, `011`/`1` in NANP, `0011`/`0` in Australia, `010`/`0` in
    /// Japan, no national prefix in Italy, Spain or Poland), no area code, no outside-line
    /// prefix, 3-digit extensions and no DID blocks.
    pub fn for_region(region: Region) -> Self {
        let meta = crate::number::numbering().by_id(region.as_str());
        let international_prefix = meta
            .map(international_prefix_of)
            .unwrap_or_else(|| "00".to_owned());
        let national_prefix = meta
            .and_then(|m| m.national_prefix())
            .filter(|p| p.bytes().all(|b| b.is_ascii_digit()))
            .unwrap_or("")
            .to_owned();
        Self {
            region,
            area_code: None,
            outside_line_prefix: None,
            international_prefix,
            national_prefix,
            extension_lengths: vec![3],
            did_blocks: Vec::new(),
            extension_ranges: Vec::new(),
        }
    }

    /// Reads what a person typed or a phone sent: an E.164 or international form, a national
    /// form, a local number (with the site's area code), a number dialled with the outside-line
    /// prefix, or a short internal extension. The rules are in the [module docs](self).
    pub fn parse(&self, input: &str) -> Result<Dialled, NumberInputError> {
        let typed = Typed::read(input, self)?;
        let result = self.classify(&typed);
        match result {
            Some(Dialled::External(e)) => Ok(Dialled::External(e)),
            Some(Dialled::Internal(_)) | None if typed.vanity => {
                Err(NumberInputError::NotANumber(input.to_owned()))
            }
            Some(internal) => Ok(internal),
            None => Err(NumberInputError::Invalid(input.to_owned())),
        }
    }

    fn classify(&self, typed: &Typed) -> Option<Dialled> {
        let digits = typed.digits.as_str();
        if digits.len() > MAX_DIGITS {
            return None;
        }
        if typed.plus {
            return international(digits).map(Dialled::External);
        }
        let outside = self
            .outside_line_prefix
            .as_deref()
            .filter(|p| !p.is_empty() && digits.len() > p.len());
        if let Some(p) = outside {
            if typed.first_group == p {
                let rest = &digits[p.len()..];
                if self.is_full_number(rest) {
                    if let Some(e) = self.external(rest) {
                        return Some(Dialled::External(e));
                    }
                }
            }
        }
        if let Some(ext) = self.internal(digits) {
            return Some(Dialled::Internal(ext));
        }
        if let Some(e) = self.external(digits) {
            return Some(Dialled::External(e));
        }
        let rest = digits.strip_prefix(outside?)?;
        self.external(rest).map(Dialled::External)
    }

    /// Whether `digits` starts the way a complete external number does from this site (with
    /// the international or national prefix, as a 10-digit NANP number, or anyhow in a
    /// country without a national prefix, where every number is dialled in full).
    fn is_full_number(&self, digits: &str) -> bool {
        self.national_prefix.is_empty()
            || (!self.international_prefix.is_empty()
                && digits.starts_with(&self.international_prefix))
            || digits.starts_with(&self.national_prefix)
            || (self.region.calling_code() == 1 && digits.len() == 10)
    }

    /// The digits as an internal extension, when their length (and range) says so.
    fn internal(&self, digits: &str) -> Option<ExtensionNumber> {
        let len = u8::try_from(digits.len()).ok()?;
        if !self.extension_lengths.contains(&len) {
            return None;
        }
        let ext = ExtensionNumber::new(digits).ok()?;
        let in_range = self.extension_ranges.is_empty()
            || self
                .extension_ranges
                .iter()
                .any(|r| r.contains(ext.value()));
        in_range.then_some(ext)
    }

    /// The digits (no `+`) read as an external number dialled from this site, without the
    /// outside-line prefix.
    fn external(&self, digits: &str) -> Option<E164> {
        let intl = self.international_prefix.as_str();
        if !intl.is_empty() {
            if let Some(rest) = digits.strip_prefix(intl) {
                return international(rest);
            }
        }
        let cc = self.region.calling_code();
        let national = self.national_prefix.as_str();
        if !national.is_empty() {
            if let Some(nsn) = digits.strip_prefix(national) {
                return valid_parts(cc, nsn);
            }
        }
        // Without the national prefix: the national number itself where a country dials it so
        // (no national prefix at all, or NANP's 10 digits), else a local number.
        if national.is_empty() || cc == 1 {
            if let Some(e) = valid_parts(cc, digits) {
                return Some(e);
            }
        }
        if national.is_empty() {
            return None;
        }
        let local_max = if cc == 1 { 7 } else { MAX_LOCAL_DIGITS };
        let area = self.area_code.as_deref().filter(|a| !a.is_empty());
        if let Some(area) = area.filter(|_| digits.len() <= local_max) {
            if let Some(e) = valid_parts(cc, &format!("{area}{digits}")) {
                return Some(e);
            }
        }
        // Last resort: the country code typed without `+` or international prefix.
        let cc_text = cc.to_string();
        digits
            .strip_prefix(cc_text.as_str())
            .filter(|_| cc != 1)
            .and_then(|nsn| valid_parts(cc, nsn))
    }

    /// E.164 of what was typed; an internal extension becomes its DID when it has one.
    pub fn to_e164(&self, input: &str) -> Result<E164, NumberInputError> {
        match self.parse(input)? {
            Dialled::External(e) => Ok(e),
            Dialled::Internal(ext) => self
                .did_of(&ext)
                .ok_or_else(|| NumberInputError::Invalid(input.to_owned())),
        }
    }

    /// What a phone of this site dials to reach `number`: the bare extension for a DID of the
    /// site, else the outside-line prefix followed by the national form (same country code;
    /// Italy's leading 0 is part of it, NANP's is `1` + 10 digits) or the international prefix
    /// and the full number.
    pub fn dialable(&self, number: &E164) -> String {
        if let Some(ext) = self.extension_of(number) {
            return ext.as_str().to_owned();
        }
        let outside = self.outside_line_prefix.as_deref().unwrap_or("");
        let digits = &number.as_str()[1..];
        let cc = self.region.calling_code().to_string();
        match digits.strip_prefix(cc.as_str()) {
            Some(national) => format!("{outside}{}{national}", self.national_prefix),
            None => format!("{outside}{}{digits}", self.international_prefix),
        }
    }

    /// The form to show a person: national grouping for numbers of the site's country code
    /// (`030 1234567`, `(202) 555-0123`), international grouping otherwise
    /// (`+44 20 7946 0958`).
    pub fn display(&self, number: &E164) -> String {
        let Ok(parsed) = phonenumber::parse_with(crate::number::numbering(), None, number.as_str())
        else {
            return number.as_str().to_owned();
        };
        let mode = if parsed.code().value() == self.region.calling_code() {
            phonenumber::Mode::National
        } else {
            phonenumber::Mode::International
        };
        parsed.format().mode(mode).to_string()
    }

    /// The site's extension whose DID `number` is, if it lies in a DID block.
    pub fn extension_of(&self, number: &E164) -> Option<ExtensionNumber> {
        let block = self.block_of(number)?;
        let rest = &number.as_str()[block.base.len()..];
        let ext = ExtensionNumber::new(rest).ok()?;
        (block.first..=block.last)
            .contains(&ext.value())
            .then_some(ext)
    }

    /// The DID of an internal extension, when a block covers it.
    pub fn did_of(&self, extension: &ExtensionNumber) -> Option<E164> {
        let v = extension.value();
        self.did_blocks
            .iter()
            .find(|b| (b.first..=b.last).contains(&v))
            .and_then(|b| E164::new(format!("{}{}", b.base, extension.as_str())).ok())
    }

    /// The DID block `number` falls in (the switchboard and any DID of it), if any.
    pub fn block_of(&self, number: &E164) -> Option<&DidBlock> {
        self.did_blocks
            .iter()
            .filter(|b| number.as_str().starts_with(b.base.as_str()))
            .max_by_key(|b| b.base.len())
    }

    /// The values LDAP and XML return for `number` under `form`.
    pub fn forms(&self, number: &E164, form: NumberForm) -> Vec<String> {
        match form {
            NumberForm::Dialable => vec![self.dialable(number)],
            NumberForm::E164 => vec![number.as_str().to_owned()],
            NumberForm::Both => vec![self.dialable(number), number.as_str().to_owned()],
        }
    }
}

/// The international prefix a phone of the region dials: the plan's preferred one (without
/// the "wait for tone" `~`), else the plain one, else `00`.
fn international_prefix_of(meta: &phonenumber::metadata::Metadata) -> String {
    if let Some(p) = meta.preferred_international_prefix() {
        let p: String = p.chars().filter(char::is_ascii_digit).collect();
        if !p.is_empty() {
            return p;
        }
    }
    let Some(re) = meta.international_prefix() else {
        return "00".to_owned();
    };
    ["00", "011", "010", "0011", "001", "000", "810", "8"]
        .into_iter()
        .find(|c| {
            re.find(c)
                .is_some_and(|m| m.start() == 0 && m.end() == c.len())
        })
        .unwrap_or("00")
        .to_owned()
}

/// `+cc nsn` as E.164, when valid in its country's plan.
fn valid_parts(cc: u16, nsn: &str) -> Option<E164> {
    valid(&format!("+{cc}{nsn}"))
}

/// `text` (`+` and digits) as E.164 when it is a valid number and exactly these digits.
fn valid(text: &str) -> Option<E164> {
    let e = E164::new(text).ok()?;
    let parsed = phonenumber::parse_with(crate::number::numbering(), None, text).ok()?;
    if !parsed.is_valid() {
        return None;
    }
    let back = parsed.format().mode(phonenumber::Mode::E164).to_string();
    (back == text).then_some(e)
}

/// Country code and national number (no `+`, no prefix) as E.164; a trunk prefix written after
/// the country code (`49 0 30…`, the `(0)` habit) is dropped when only the number without it
/// is valid.
fn international(digits: &str) -> Option<E164> {
    if let Some(e) = valid(&format!("+{digits}")) {
        return Some(e);
    }
    (1..=3).filter(|&n| n < digits.len()).find_map(|n| {
        let (cc, nsn) = digits.split_at(n);
        let code: u16 = cc.parse().ok()?;
        let metas = crate::number::numbering().by_code(&code)?;
        let trunk = metas
            .iter()
            .find_map(|m| m.national_prefix())
            .filter(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))?;
        valid_parts(code, nsn.strip_prefix(trunk)?)
    })
}

/// Typed text, cleaned: the digits, whether it started with `+`, and the first group of
/// digits as written (to spot an outside-line prefix typed on its own).
struct Typed {
    plus: bool,
    digits: String,
    first_group: String,
    vanity: bool,
}

impl Typed {
    fn read(input: &str, plan: &DiallingPlan) -> Result<Self, NumberInputError> {
        let not_a_number = || NumberInputError::NotANumber(input.to_owned());
        let mut text = input.trim();
        if text
            .get(..4)
            .is_some_and(|s| s.eq_ignore_ascii_case("tel:"))
        {
            text = text[4..].trim_start();
        }
        let text = without_label(text);
        let text = without_notes(text);
        let text = without_extension(&text).trim();
        let first_group: String = text
            .trim_start_matches(|c: char| c == '(' || c.is_whitespace())
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        let mut plus = false;
        let mut digits = String::new();
        // Letters and what follows the first letter (the vanity part of a NANP number).
        let mut letters = String::new();
        let mut digits_before_letters = 0;
        for c in text.chars() {
            match c {
                '0'..='9' if letters.is_empty() => digits.push(c),
                '0'..='9' => letters.push(c),
                '+' if digits.is_empty() && !plus && letters.is_empty() => plus = true,
                'a'..='z' | 'A'..='Z' => {
                    if letters.is_empty() {
                        digits_before_letters = digits.len();
                    }
                    letters.push(c);
                }
                '-' | '.' | '/' | '(' | ')' | '\u{2010}'..='\u{2015}' | '\u{2212}' => {}
                c if c.is_whitespace() => {}
                _ => return Err(not_a_number()),
            }
        }
        let vanity = !letters.is_empty();
        if vanity {
            let nanp_site = plan.region.calling_code() == 1 && !plus;
            let nanp_written = (plus && digits.starts_with('1'))
                || (!plan.international_prefix.is_empty()
                    && digits
                        .strip_prefix(plan.international_prefix.as_str())
                        .is_some_and(|r| r.starts_with('1')));
            if digits_before_letters < 3 || !(nanp_site || nanp_written) {
                return Err(not_a_number());
            }
            digits.extend(letters.chars().map(keypad));
        }
        if digits.is_empty() {
            return Err(NumberInputError::Empty);
        }
        Ok(Self {
            plus,
            digits,
            first_group,
            vanity,
        })
    }
}

/// The text without a leading label such as `Tel.`, `Tel.:`, `Phone:` or `Fax`.
fn without_label(text: &str) -> &str {
    const LABELS: [&str; 9] = [
        "telephone",
        "telefon",
        "phone",
        "mobile",
        "mobil",
        "handy",
        "cell",
        "fax",
        "tel",
    ];
    for label in LABELS {
        let Some(head) = text.get(..label.len()) else {
            continue;
        };
        let rest = &text[label.len()..];
        if head.eq_ignore_ascii_case(label) && rest.starts_with(['.', ':', ' ']) {
            return rest.trim_start_matches(['.', ':', ' ']);
        }
    }
    text
}

/// The digit a keypad letter (or digit) is on.
fn keypad(c: char) -> char {
    match c.to_ascii_uppercase() {
        'A'..='C' => '2',
        'D'..='F' => '3',
        'G'..='I' => '4',
        'J'..='L' => '5',
        'M'..='O' => '6',
        'P'..='S' => '7',
        'T'..='V' => '8',
        'W'..='Z' => '9',
        d => d,
    }
}

/// The text without bracketed notes that hold a letter (`(Zentrale)`, `(home)`); brackets of
/// digits such as `(0)` or `(030)` stay.
fn without_notes(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('(') {
        let Some(len) = rest[open..].find(')') else {
            break;
        };
        let close = open + len;
        if rest[open + 1..close].chars().any(char::is_alphabetic) {
            out.push_str(&rest[..open]);
            out.push(' ');
        } else {
            out.push_str(&rest[..=close]);
        }
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    out
}

/// The text without a trailing extension (`ext. 12`, `ext 12`, `extn 12`, `extension 12`,
/// `x12`, `;ext=12`): the marker must follow a digit (or space after one) and be followed
/// by digits only.
fn without_extension(text: &str) -> &str {
    let lower = text.to_ascii_lowercase();
    let markers = [";ext=", "extension", "extn.", "extn", "ext.", "ext", "x"];
    let mut best: Option<usize> = None;
    for m in markers {
        let Some(at) = lower.rfind(m) else { continue };
        let tail = lower[at + m.len()..].trim();
        if tail.is_empty() || !tail.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let head = lower[..at].trim_end();
        let after_number = head.ends_with(|c: char| c.is_ascii_digit() || c == ')');
        if after_number
            && (m != "x" || lower[..at].ends_with(|c: char| c.is_ascii_digit() || c == ' '))
        {
            best = Some(best.map_or(at, |b: usize| b.min(at)));
        }
    }
    match best {
        Some(at) => &text[..at],
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn berlin() -> DiallingPlan {
        let mut plan = DiallingPlan::for_region(Region::new("DE").unwrap());
        plan.area_code = Some("30".into());
        plan.outside_line_prefix = Some("0".into());
        plan.did_blocks.push(DidBlock {
            base: "+49301234".into(),
            first: 100,
            last: 299,
            company: Some("Example GmbH".into()),
        });
        plan
    }

    fn e(s: &str) -> E164 {
        E164::new(s).unwrap()
    }

    #[test]
    fn contract_basics() {
        let plan = berlin();
        assert_eq!(plan.to_e164("030 9876543").unwrap(), e("+49309876543"));
        assert_eq!(
            plan.parse("123").unwrap(),
            Dialled::Internal(ExtensionNumber::new("123").unwrap())
        );
        assert_eq!(plan.to_e164("123").unwrap(), e("+49301234123"));
        assert_eq!(plan.dialable(&e("+49301234123")), "123");
        assert_eq!(plan.dialable(&e("+49309876543")), "00309876543");
        assert_eq!(plan.dialable(&e("+442079460000")), "000442079460000");
        assert_eq!(
            plan.extension_of(&e("+49301234123")).unwrap().as_str(),
            "123"
        );
        assert!(plan.extension_of(&e("+49301234999")).is_none());
        assert_eq!(
            plan.block_of(&e("+49301234999"))
                .unwrap()
                .company
                .as_deref(),
            Some("Example GmbH")
        );
        assert_eq!(plan.parse(""), Err(NumberInputError::Empty));
        assert!(matches!(
            plan.parse("hello"),
            Err(NumberInputError::NotANumber(_))
        ));
    }
}
