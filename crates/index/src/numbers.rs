//! Numbers as the index keeps them: every form a person may type (E.164, national, what the
//! site dials, the original text), and number-aware matching of filter values against them, so
//! that `030 1234567`, `0301234*` and `*1234567` all find `+49301234567`.

use crate::text::digits;
use directory::{Dialled, DiallingPlan, EntryNumber, PhoneKind, PhoneNumber, E164};

/// An [`EntryNumber`] built from a stored number with the site's plan: dialable and display
/// forms from its E.164, or its cleaned text when it has none.
pub fn entry_number(plan: &DiallingPlan, number: &PhoneNumber) -> EntryNumber {
    match &number.e164 {
        Some(e) => EntryNumber {
            kind: number.kind,
            raw: number.raw.clone(),
            e164: Some(e.clone()),
            dial: plan.dialable(e),
            display: plan.display(e),
        },
        None => {
            let cleaned: String = number
                .raw
                .chars()
                .filter(|c| c.is_ascii_digit() || matches!(c, '+' | '*' | '#'))
                .collect();
            EntryNumber {
                kind: number.kind,
                raw: number.raw.clone(),
                e164: None,
                dial: cleaned.clone(),
                display: cleaned,
            }
        }
    }
}

/// An [`EntryNumber`] for an E.164 number pbx365 knows (a caller ID, a DID).
pub fn entry_number_of(plan: &DiallingPlan, e164: &E164, kind: PhoneKind) -> EntryNumber {
    entry_number(
        plan,
        &PhoneNumber {
            raw: e164.as_str().to_owned(),
            e164: Some(e164.clone()),
            kind,
        },
    )
}

/// The digit strings a number can be written as: E.164 without `+`, national (or international)
/// form, the dialable form, and the digits of its original text.
pub fn digit_forms(plan: &DiallingPlan, number: &EntryNumber) -> Vec<String> {
    digit_forms_of(
        plan,
        number.e164.as_ref().map(E164::as_str),
        &number.dial,
        &number.raw,
    )
}

/// [`digit_forms`] of a number given as its E.164 form (with `+`), dialable form and text.
pub(crate) fn digit_forms_of(
    plan: &DiallingPlan,
    e164: Option<&str>,
    dial: &str,
    raw: &str,
) -> Vec<String> {
    let mut forms = Vec::with_capacity(5);
    if let Some(e) = e164 {
        let all = &e[1..];
        forms.push(all.to_owned());
        let cc = plan.region.calling_code().to_string();
        match all.strip_prefix(cc.as_str()) {
            Some(national) => forms.push(format!("{}{national}", plan.national_prefix)),
            None => forms.push(format!("{}{all}", plan.international_prefix)),
        }
        if let Some(rest) = plan
            .area_code
            .as_deref()
            .and_then(|area| all.strip_prefix(cc.as_str())?.strip_prefix(area))
        {
            // The local form, as someone in the site's area writes it.
            forms.push(rest.to_owned());
        }
    }
    forms.push(digits(dial));
    forms.push(digits(raw));
    forms.retain(|f| !f.is_empty());
    forms.sort();
    forms.dedup();
    forms
}

/// A filter value read as a number: what it normalises to with the site's plan (when it does)
/// and its digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NumberValue {
    /// The value as dialled: E.164 or an internal extension; `None` when it is not a valid
    /// number of the plan.
    pub dialled: Option<Dialled>,
    /// The value's digits.
    pub digits: String,
}

impl NumberValue {
    /// Reads `value` with `plan`; `None` when it holds no digit or a letter (no number matches).
    pub fn parse(plan: &DiallingPlan, value: &str) -> Option<Self> {
        if value.chars().any(char::is_alphabetic) {
            return None;
        }
        let digits = digits(value);
        if digits.is_empty() {
            return None;
        }
        Some(Self {
            dialled: plan.parse(value).ok(),
            digits,
        })
    }

    /// The E.164 form the value stands for (an extension's DID for an internal extension).
    pub fn e164(&self, plan: &DiallingPlan) -> Option<E164> {
        match &self.dialled {
            Some(Dialled::External(e)) => Some(e.clone()),
            Some(Dialled::Internal(x)) => plan.did_of(x),
            None => None,
        }
    }
}

/// The digits a `>=` / `<=` bound on a phone attribute is compared with, against the digits
/// of each number's E.164 form: written with `+`, the bound's own digits (it need not be a
/// whole number, so `+49301234` bounds a block); otherwise the E.164 digits of the number it
/// normalises to with `plan`. `None` for a bound that is neither (no number matches it).
pub fn ordering_key(plan: &DiallingPlan, bound: &str) -> Option<String> {
    if bound.chars().any(char::is_alphabetic) {
        return None;
    }
    if bound.trim_start().starts_with('+') {
        let d = digits(bound);
        return (!d.is_empty()).then_some(d);
    }
    let value = NumberValue::parse(plan, bound)?;
    value.e164(plan).map(|e| e.as_str()[1..].to_owned())
}

/// Compares two digit strings as whole numbers (`99` < `100`), leading zeros ignored.
pub fn cmp_digit_numbers(a: &str, b: &str) -> std::cmp::Ordering {
    let (a, b) = (a.trim_start_matches('0'), b.trim_start_matches('0'));
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// A substring pattern over digits: prefix, inner parts in order, suffix; `initial_plus` when
/// the prefix was written with `+` (then it must start the E.164 form).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigitPattern {
    /// Digits the value starts with.
    pub initial: String,
    /// True when the prefix began with `+`.
    pub initial_plus: bool,
    /// Digits found in order inside.
    pub any: Vec<String>,
    /// Digits the value ends with.
    pub last: String,
}

impl DigitPattern {
    /// The pattern of a filter's parts; `None` when a part holds a letter (no number matches).
    pub fn new(initial: Option<&str>, any: &[String], last: Option<&str>) -> Option<Self> {
        let part = |s: &str| (!s.chars().any(char::is_alphabetic)).then(|| digits(s));
        Some(Self {
            initial: part(initial.unwrap_or(""))?,
            initial_plus: initial.is_some_and(|s| s.trim_start().starts_with('+')),
            any: any.iter().map(|a| part(a)).collect::<Option<Vec<_>>>()?,
            last: part(last.unwrap_or(""))?,
        })
    }

    /// True when `form` (digits) matches the pattern.
    pub fn matches(&self, form: &str) -> bool {
        let Some(mut rest) = form.strip_prefix(self.initial.as_str()) else {
            return false;
        };
        for part in &self.any {
            match rest.find(part.as_str()) {
                Some(at) => rest = &rest[at + part.len()..],
                None => return false,
            }
        }
        rest.len() >= self.last.len() && rest.ends_with(self.last.as_str())
    }

    /// True when some form of `number` matches (a `+` prefix only against the E.164 form).
    pub fn matches_number(&self, plan: &DiallingPlan, number: &EntryNumber) -> bool {
        if self.initial_plus {
            return number
                .e164
                .as_ref()
                .is_some_and(|e| self.matches(&e.as_str()[1..]));
        }
        digit_forms(plan, number).iter().any(|f| self.matches(f))
    }
}

/// The last four digits of a digit string (all of it when shorter): the key of the index's
/// suffix buckets.
pub fn suffix_key(digits: &str) -> &str {
    &digits[digits.len().saturating_sub(4)..]
}

#[cfg(test)]
mod tests {
    use super::*;
    use directory::{DidBlock, Region};

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

    fn num(plan: &DiallingPlan, raw: &str) -> EntryNumber {
        entry_number(
            plan,
            &PhoneNumber::parse(raw, PhoneKind::Business, Some(plan.region)),
        )
    }

    #[test]
    fn forms_cover_what_people_type() {
        let plan = berlin();
        let n = num(&plan, "+49 30 9876543");
        let forms = digit_forms(&plan, &n);
        for f in ["49309876543", "0309876543", "9876543", "00309876543"] {
            assert!(forms.contains(&f.to_string()), "{f} in {forms:?}");
        }
        let foreign = num(&plan, "+44 20 7946 0958");
        assert!(digit_forms(&plan, &foreign).contains(&"00442079460958".to_string()));
        let bad = num(&plan, "call 12-34 ext");
        assert_eq!(bad.e164, None);
        assert_eq!(digit_forms(&plan, &bad), ["1234"]);
    }

    #[test]
    fn patterns_match_initial_any_final() {
        let plan = berlin();
        let n = num(&plan, "030 1234567");
        let p = |i: Option<&str>, any: &[&str], l: Option<&str>| {
            let any: Vec<String> = any.iter().map(|s| s.to_string()).collect();
            DigitPattern::new(i, &any, l)
                .unwrap()
                .matches_number(&plan, &n)
        };
        assert!(p(Some("0301234"), &[], None));
        assert!(p(None, &[], Some("1234567")));
        assert!(p(Some("+49 30"), &[], None));
        assert!(!p(Some("+030"), &[], None), "a + prefix is E.164 only");
        assert!(p(Some("030"), &["12", "45"], Some("67")));
        assert!(!p(Some("030"), &["45", "12"], None), "inner parts in order");
        assert!(!p(None, &[], Some("1234568")));
        assert!(
            !p(Some("0301234567"), &[], Some("4567")),
            "prefix and suffix may not overlap"
        );
        assert!(DigitPattern::new(Some("abc"), &[], None).is_none());
    }

    #[test]
    fn values_normalise_with_the_plan() {
        let plan = berlin();
        let v = NumberValue::parse(&plan, "030 1234567").unwrap();
        assert_eq!(v.e164(&plan).unwrap().as_str(), "+49301234567");
        let x = NumberValue::parse(&plan, "123").unwrap();
        assert_eq!(x.e164(&plan).unwrap().as_str(), "+49301234123");
        assert!(NumberValue::parse(&plan, "Meier").is_none());
        assert!(NumberValue::parse(&plan, "--").is_none());
        assert_eq!(suffix_key("49301234567"), "4567");
        assert_eq!(suffix_key("12"), "12");
    }
}
