//! A site's dialling rules ([`DiallingPlan`]): any form a person types → E.164 or an internal
//! extension, and E.164 → the form a phone of this site dials and the form a person reads.
//!
//! The signatures here are the contract the index and the front ends use; the rules behind
//! them follow the national numbering plans.

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

/// Which form of a number LDAP and XML phonebooks return.
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
}

impl DiallingPlan {
    /// A plan for `region` with that country's usual prefixes, no area code, no outside-line
    /// prefix, 3-digit extensions and no DID blocks.
    pub fn for_region(region: Region) -> Self {
        let (international_prefix, national_prefix) = match region.as_str() {
            "US" | "CA" => ("011", "1"),
            _ => ("00", "0"),
        };
        Self {
            region,
            area_code: None,
            outside_line_prefix: None,
            international_prefix: international_prefix.to_owned(),
            national_prefix: national_prefix.to_owned(),
            extension_lengths: vec![3],
            did_blocks: Vec::new(),
        }
    }

    /// Reads what a person typed or a phone sent: an E.164 or international form, a national
    /// form, a local number (with the site's area code), a number dialled with the outside-line
    /// prefix, or a short internal extension.
    pub fn parse(&self, input: &str) -> Result<Dialled, NumberInputError> {
        let text = input.trim();
        let digits: String = text.chars().filter(char::is_ascii_digit).collect();
        if digits.is_empty() {
            return if text.chars().any(char::is_alphanumeric) {
                Err(NumberInputError::NotANumber(input.to_owned()))
            } else {
                Err(NumberInputError::Empty)
            };
        }
        if !text.starts_with('+')
            && digits.len() == text.len()
            && self.extension_lengths.contains(&(digits.len() as u8))
        {
            if let Ok(ext) = ExtensionNumber::new(digits.clone()) {
                return Ok(Dialled::Internal(ext));
            }
        }
        let number = crate::number::PhoneNumber::parse(
            text,
            crate::number::PhoneKind::Other,
            Some(self.region),
        );
        number
            .e164
            .map(Dialled::External)
            .ok_or_else(|| NumberInputError::Invalid(input.to_owned()))
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
    /// site, else the outside-line prefix followed by the national form (same country) or the
    /// international prefix and the full number.
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

    /// The form to show a person: national grouping for numbers of the site's country,
    /// international grouping otherwise.
    pub fn display(&self, number: &E164) -> String {
        let Ok(parsed) = phonenumber::parse(None, number.as_str()) else {
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
        let ext: u64 = rest.parse().ok()?;
        (block.first..=block.last)
            .contains(&ext)
            .then(|| ExtensionNumber::from_value(ext).ok())
            .flatten()
            .filter(|e| e.as_str() == rest)
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
